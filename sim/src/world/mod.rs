//! The simulated world: clients driving the core's machines, a ZooKeeper model, the source
//! and destination trees and rsync, as one discrete-event loop on madsim's clock and
//! random generator. Every event is scheduled at a simulated instant; the loop sleeps
//! (in simulated time) until the next one, so a seed always replays the same run.

mod client;
mod faults;
mod rsync_exec;
mod zk_link;

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

use madsim::rand::{GlobalRng, Rng};
use zkrsync_core::protocol::layout::Layout;
use zkrsync_core::protocol::records::DestRecord;
use zkrsync_core::protocol::{
    source_tree, Dest, DestConfig, Input, JobId, Machine, Output, ProbeDone, ProbeOp, ReqId,
    SessionEvent, SessionParams, Source, SourceConfig, Summary, WalkFailed, Walked, ZkOp,
};

use crate::config::SimConfig;
use crate::fs_model::Tree;
use crate::invariants::{cleanup, nothing_lost, progress, Check, Violation};
use crate::zk_model::{SessionId, ZkModel};

use client::Partition;
pub use client::{Client, Kind};

/// Where every simulated source has its tree.
pub(crate) const SRC_ROOT: &str = "/sim/src";

/// Something that happens at an instant.
#[derive(Debug, Clone)]
enum Event {
    /// A request reaches the server (`queued`: it waited its turn at a busy server).
    Arrive {
        c: usize,
        inc: u32,
        session: SessionId,
        id: ReqId,
        op: ZkOp,
        queued: bool,
    },
    /// A reply or watch notification reaches the client.
    Deliver {
        c: usize,
        inc: u32,
        session: SessionId,
        input: Input,
    },
    /// An input from the client's own process (walk, tree check, session state).
    Local { c: usize, inc: u32, input: Input },
    /// The client connects with a new session.
    OpenSession { c: usize, inc: u32 },
    /// The client's machine asked to be woken at `at` (its `poll_timeout`).
    Wake { c: usize, inc: u32, at: Instant },
    /// An rsync job ends.
    RsyncEnd { c: usize, inc: u32, id: JobId },
    /// The client notices its partition.
    Detect { c: usize, generation: u64 },
    /// The client gives its session up on its own (no reply for long).
    ClientExpire { c: usize, generation: u64 },
    /// A partition heals.
    Heal { c: usize, generation: u64 },
    /// The server expires a session it has not heard from.
    ServerExpire { session: SessionId, at: Instant },
    /// A crashed or exited client starts again.
    Restart { c: usize },
    /// The next fault.
    Fault,
    /// Faults stop; the session must complete.
    Liveness,
}

/// An event and when.
#[derive(Debug)]
struct Scheduled {
    at: Instant,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// How a run went, for reports.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Simulated time until every client exited.
    pub simulated: Duration,
    /// Chunks in the plan, done and failed, from the master's summary.
    pub chunks: u64,
    /// Chunks failed for good.
    pub failed: u64,
    /// rsync runs started.
    pub rsyncs: u64,
    /// ZooKeeper requests applied.
    pub zk_ops: u64,
    /// Faults injected.
    pub faults: u64,
    /// Events handled.
    pub events: u64,
    /// Time the ZooKeeper server was busy (scaling experiment).
    pub zk_busy: Duration,
    /// Longest wait of a request for the server (scaling experiment).
    pub zk_max_wait: Duration,
    /// Simulated time from the start until the master's summary.
    pub session_time: Duration,
}

/// The world of one seed.
pub struct World {
    cfg: SimConfig,
    rng: GlobalRng,
    start: Instant,
    now: Instant,
    zk: ZkModel,
    layout: Layout,
    /// The source tree (what every mounted source sees).
    src: Tree,
    /// The destination tree (shared by every destination, as on a parallel file system).
    dst: Tree,
    dst_before: Tree,
    clients: Vec<Client>,
    events: BinaryHeap<Reverse<Scheduled>>,
    seq: u64,
    /// Sessions the server is about to expire, and when.
    expiring: std::collections::HashMap<SessionId, Instant>,
    liveness_since: Option<Instant>,
    partition_generation: u64,
    summary: Option<Summary>,
    /// The outcome the master recorded in ZooKeeper before deleting results.
    recorded: Option<zkrsync_core::protocol::records::SummaryRecord>,
    /// The session's znodes were deleted by a cleanup: the session is over.
    ended: bool,
    /// Chunks done before every client crashed (they must not be copied again).
    done_before_crash: BTreeSet<String>,
    master_crashed_publishing: bool,
    master_crashed_cleaning: bool,
    trace: VecDeque<String>,
    report: Report,
    /// When the (single) ZooKeeper server is free again (scaling experiment).
    server_free: Instant,
    /// The probe files in the root of the destination tree (one tree: every destination
    /// reads what another wrote).
    probes: std::collections::BTreeMap<String, Vec<u8>>,
}

/// A request in a trace line: its kind and paths, not its data.
fn describe(op: &ZkOp) -> String {
    use zkrsync_core::protocol::MultiOp;
    match op {
        ZkOp::Create { path, mode, .. } => format!("create {path} {mode:?}"),
        ZkOp::Delete { path } => format!("delete {path}"),
        ZkOp::SetData { path, .. } => format!("set {path}"),
        ZkOp::GetData { path, watch } => {
            format!("get {path}{}", if *watch { " (watch)" } else { "" })
        }
        ZkOp::GetChildren { path, watch } => {
            format!("children {path}{}", if *watch { " (watch)" } else { "" })
        }
        ZkOp::Exists { path, watch } => {
            format!("exists {path}{}", if *watch { " (watch)" } else { "" })
        }
        ZkOp::Multi(ops) => {
            let parts: Vec<String> = ops
                .iter()
                .map(|o| match o {
                    MultiOp::Create { path, .. } => format!("create {path}"),
                    MultiOp::Delete { path } => format!("delete {path}"),
                    MultiOp::SetData { path, .. } => format!("set {path}"),
                })
                .collect();
            format!("multi [{}]", parts.join(", "))
        }
    }
}

thread_local! {
    /// The walk's thread pool: one thread, the current one, since the simulation must not
    /// start system threads. Built once per thread: a thread can join only one pool.
    static WALK_POOL: rayon::ThreadPool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .use_current_thread()
        .build()
        .expect("a one-thread pool on the current thread");
}

/// Lines of trace kept for a failure report.
const TRACE_LINES: usize = 1500;

impl World {
    /// A world for `cfg`, its trees generated from `rng`.
    pub fn new(cfg: SimConfig, mut rng: GlobalRng) -> World {
        let now = Instant::now();
        let src = if cfg.scale.is_some() {
            Tree::balanced(cfg.dirs, 3, 1)
        } else {
            Tree::generate(cfg.dirs, |n| rng.gen_range(0..n.max(1)))
        };
        let dst = if cfg.prefilled {
            let mut old = src.clone();
            old.mutate(100, |n| rng.gen_range(0..n.max(1)));
            old
        } else {
            Tree::new()
        };
        let layout = Layout::new("/zkrsync", "sim").expect("a valid layout");
        let mut world = World {
            rng,
            start: now,
            now,
            zk: ZkModel::new(),
            layout,
            dst_before: dst.clone(),
            src,
            dst,
            clients: Vec::new(),
            events: BinaryHeap::new(),
            seq: 0,
            expiring: Default::default(),
            liveness_since: None,
            partition_generation: 0,
            summary: None,
            recorded: None,
            ended: false,
            done_before_crash: BTreeSet::new(),
            master_crashed_publishing: false,
            master_crashed_cleaning: false,
            trace: VecDeque::new(),
            report: Report::default(),
            server_free: now,
            probes: Default::default(),
            cfg,
        };
        for d in 0..world.cfg.dests {
            world.add_client(format!("d{d}"), Kind::Dest);
        }
        for s in 0..=world.cfg.workers {
            world.add_client(format!("s{s}"), Kind::Source);
        }
        world
    }

    fn add_client(&mut self, name: String, kind: Kind) {
        let latency = Duration::from_nanos(
            self.rng
                .gen_range(50_000..=self.cfg.max_latency.as_nanos().max(50_001) as u64),
        );
        self.clients.push(Client {
            dest_id: name.clone(),
            name,
            kind,
            incarnation: 0,
            machine: None,
            exit_code: None,
            session: None,
            wants_session: false,
            disconnected: false,
            partition: None,
            inflight: BTreeSet::new(),
            queued: Vec::new(),
            missed: Vec::new(),
            latency,
            last_arrival: self.now,
            last_delivery: self.now,
            jobs: Default::default(),
            wake_at: None,
            tree_present: true,
            watches_tree: false,
            restart_pending: false,
        });
    }

    /// Runs the seed to its end and checks the end state.
    pub async fn run(mut self) -> Result<Report, (Violation, String)> {
        match self.run_inner().await {
            Ok(()) => Ok(self.report),
            Err(v) => {
                let trace: Vec<String> = self.trace.iter().cloned().collect();
                Err((v, trace.join("\n")))
            }
        }
    }

    async fn run_inner(&mut self) -> Check {
        // Destinations first, then sources a little later, in the order of their names.
        let n = self.clients.len();
        for c in 0..n {
            let at = self.now + Duration::from_millis(c as u64 * 3 + self.rng.gen_range(0..5));
            self.start_client(c, at);
        }
        if self.cfg.faults {
            let first = self.fault_gap();
            self.schedule(first, Event::Fault);
        }
        let safety = self.cfg.safety;
        self.schedule(safety, Event::Liveness);
        // Without faults, give up after this long in the liveness phase.
        let bound = if self.cfg.scale.is_some() {
            Duration::from_secs(30 * 24 * 3600)
        } else {
            Duration::from_secs(600) + self.cfg.session_timeout * 40
        };
        loop {
            let Some(Reverse(next)) = self.events.pop() else {
                return self.finish(true);
            };
            if next.at > self.now {
                madsim::time::sleep_until(next.at).await;
                self.now = next.at;
            }
            self.report.events += 1;
            self.handle(next.event)?;
            if self.all_done() {
                return self.finish(false);
            }
            if let Some(since) = self.liveness_since {
                if self.now.duration_since(since) > bound {
                    return self.finish(false);
                }
            }
        }
    }

    /// Every client has exited for good.
    fn all_done(&self) -> bool {
        self.liveness_since.is_some()
            && self
                .clients
                .iter()
                .all(|c| !c.alive() && !c.restart_pending)
    }

    fn finish(&mut self, idle: bool) -> Check {
        let waited = self
            .liveness_since
            .map_or(Duration::ZERO, |s| self.now.duration_since(s));
        let running: Vec<String> = self
            .clients
            .iter()
            .filter(|c| c.alive() || c.restart_pending)
            .map(|c| c.name.clone())
            .collect();
        progress::check_all_exited(&running, waited, idle)?;
        let codes: Vec<(String, i32)> = self
            .clients
            .iter()
            .map(|c| (c.name.clone(), c.exit_code.unwrap_or(-1)))
            .collect();
        progress::check_exit_codes(&codes)?;
        let summary = match (self.summary.clone(), &self.recorded) {
            (Some(s), _) => s,
            // The master died right after its cleanup went through: nobody printed the
            // outcome, but it was recorded before the results were deleted.
            (None, Some(r)) if self.ended => Summary {
                progress: zkrsync_core::protocol::Progress {
                    chunks: r.chunks,
                    plan_ready: true,
                    units: r.units,
                    done: r.done,
                    failed: r.failed.len() as u64,
                    ..Default::default()
                },
                failed: r
                    .failed
                    .iter()
                    .map(|(chunk, error)| zkrsync_core::protocol::FailedChunk {
                        chunk: chunk.clone(),
                        record: zkrsync_core::protocol::records::FailedRecord {
                            error: error.clone(),
                            ..Default::default()
                        },
                    })
                    .collect(),
                left_behind: false,
            },
            (None, _) => return Err(Violation::new(
                "progress",
                "every client exited but the session is not over and no master printed a summary",
            )),
        };
        nothing_lost::check_end(
            &summary,
            self.cfg.dry_run,
            self.cfg.delete,
            &self.src,
            &self.dst,
            &self.dst_before,
        )?;
        let mut left = self.zk.descendants(self.layout.root());
        if self.zk.stat(self.layout.root()).is_some() {
            left.push(self.layout.root().to_owned());
        }
        cleanup::check_end(&left)?;
        self.report.simulated = self.now.duration_since(self.start);
        self.report.chunks = summary.progress.chunks;
        self.report.failed = summary.progress.failed;
        Ok(())
    }

    // ------------------------------------------------------------------ scheduling

    fn schedule(&mut self, after: Duration, event: Event) {
        self.schedule_at(self.now + after, event);
    }

    fn schedule_at(&mut self, at: Instant, event: Event) {
        self.seq += 1;
        self.events.push(Reverse(Scheduled {
            at: at.max(self.now),
            seq: self.seq,
            event,
        }));
    }

    fn note(&mut self, line: impl AsRef<str>) {
        let t = self.now.duration_since(self.start).as_secs_f64();
        if self.trace.len() == TRACE_LINES {
            self.trace.pop_front();
        }
        self.trace.push_back(format!("[{t:9.4}] {}", line.as_ref()));
    }

    fn handle(&mut self, event: Event) -> Check {
        match event {
            Event::Arrive {
                c,
                inc,
                session,
                id,
                op,
                queued,
            } => self.on_arrive(c, inc, session, id, op, queued),
            Event::Deliver {
                c,
                inc,
                session,
                input,
            } => self.on_deliver(c, inc, session, input),
            Event::Local { c, inc, input } => {
                if self.clients[c].incarnation == inc {
                    self.feed(c, input)?;
                }
                Ok(())
            }
            Event::OpenSession { c, inc } => self.on_open_session(c, inc),
            Event::Wake { c, inc, at } => {
                let cl = &mut self.clients[c];
                if cl.incarnation == inc && cl.wake_at == Some(at) {
                    cl.wake_at = None;
                    self.feed(c, Input::Timeout)?;
                }
                Ok(())
            }
            Event::RsyncEnd { c, inc, id } => self.on_rsync_end(c, inc, id),
            Event::Detect { c, generation } => self.on_detect(c, generation),
            Event::ClientExpire { c, generation } => self.on_client_expire(c, generation),
            Event::Heal { c, generation } => self.on_heal(c, generation),
            Event::ServerExpire { session, at } => {
                if self.expiring.get(&session) == Some(&at) {
                    self.expiring.remove(&session);
                    self.note(format!("server expires session {:#x}", session.0));
                    self.zk.expire(session);
                    self.route_notifications();
                }
                Ok(())
            }
            Event::Restart { c } => {
                self.clients[c].restart_pending = false;
                // An operator starts a crashed client again while the session is not over,
                // but not while a live master is finishing it (a source that arrives after
                // the end would make a new session).
                let stopping = self.zk.stat(&self.layout.stop()).is_some();
                let master_alive = self
                    .clients
                    .iter()
                    .any(|cl| cl.machine.as_ref().is_some_and(|m| m.is_master()));
                let exists = self.zk.stat(self.layout.root()).is_some();
                if self.summary.is_none() && !self.ended && (!stopping || (exists && !master_alive))
                {
                    self.start_client(c, self.now);
                } else {
                    // The session is over: whoever would start it again has nothing to do.
                    let name = self.clients[c].name.clone();
                    self.note(format!("{name}: not started again, the session is over"));
                    self.clients[c].exit_code = Some(0);
                }
                Ok(())
            }
            Event::Fault => self.on_fault(),
            Event::Liveness => self.on_liveness(),
        }
    }

    // ------------------------------------------------------------------ clients

    fn params(&self) -> SessionParams {
        SessionParams {
            depth: self.cfg.depth,
            delete: self.cfg.delete,
            dry_run: self.cfg.dry_run,
            attempts: self.cfg.attempts,
            ..SessionParams::default()
        }
    }

    /// Starts (or starts again) client `c` at `at`.
    fn start_client(&mut self, c: usize, at: Instant) {
        let timeout = self.cfg.session_timeout;
        let layout = self.layout.clone();
        let params = self.params();
        let chunk_entries = self.cfg.chunk_entries;
        let cl = &mut self.clients[c];
        cl.incarnation += 1;
        cl.exit_code = None;
        cl.session = None;
        cl.wants_session = true;
        cl.disconnected = false;
        cl.partition = None;
        cl.inflight.clear();
        cl.queued.clear();
        cl.missed.clear();
        cl.jobs.clear();
        cl.wake_at = None;
        cl.watches_tree = false;
        let machine: Box<dyn Machine> = match cl.kind {
            Kind::Source => Box::new(Source::new(SourceConfig {
                layout,
                params,
                client_id: format!("{}-{}", cl.name, cl.incarnation),
                session_timeout: timeout,
                progress_every: Duration::from_secs(10),
                leave_timeout: zkrsync_core::protocol::source::leave_timeout(timeout),
                min_chunk_weight: chunk_entries,
                open_acls: false,
            })),
            Kind::Dest => Box::new(Dest::new(DestConfig {
                layout,
                id: cl.dest_id.clone(),
                record: DestRecord {
                    address: format!("127.0.0.{}", c + 1),
                    port: 8730,
                    module: format!("zkrsync-sim-{}", cl.dest_id),
                    active: true,
                    host: cl.name.clone(),
                    auth: None,
                    tree: None,
                    extra: Vec::new(),
                },
                session_timeout: timeout,
                path: "/dst".into(),
                token: format!("{}-{}", cl.name, cl.incarnation),
            })),
        };
        cl.machine = Some(machine);
        let inc = cl.incarnation;
        let name = cl.name.clone();
        self.note(format!("{name}: starts (incarnation {inc})"));
        self.schedule_at(at, Event::OpenSession { c, inc });
    }

    /// Feeds an input to client `c`'s machine and carries out what comes out.
    fn feed(&mut self, c: usize, input: Input) -> Check {
        let now = self.now;
        let Some(machine) = self.clients[c].machine.as_mut() else {
            return Ok(());
        };
        machine.handle(now, input);
        self.drive(c)
    }

    fn drive(&mut self, c: usize) -> Check {
        loop {
            let Some(machine) = self.clients[c].machine.as_mut() else {
                return Ok(());
            };
            let Some(output) = machine.poll_output() else {
                break;
            };
            self.on_output(c, output)?;
        }
        // Sleep until the machine's next timeout, as the real driver does.
        let cl = &mut self.clients[c];
        let next = cl.machine.as_ref().and_then(|m| m.poll_timeout());
        if let Some(at) = next.filter(|at| cl.wake_at != Some(*at)) {
            cl.wake_at = Some(at);
            let inc = cl.incarnation;
            self.schedule_at(at, Event::Wake { c, inc, at });
        }
        Ok(())
    }

    fn on_output(&mut self, c: usize, output: Output) -> Check {
        let inc = self.clients[c].incarnation;
        match output {
            Output::Zk { id, op } => {
                let name = &self.clients[c].name;
                let line = format!("{name}: request {}: {}", id.0, describe(&op));
                self.note(line);
                self.faults_on_request(c, &op);
                if self.clients[c].alive() {
                    self.send(c, id, op);
                }
            }
            Output::NewSession => {
                let cl = &mut self.clients[c];
                cl.session = None;
                cl.wants_session = true;
                cl.inflight.clear();
                cl.queued.clear();
                cl.missed.clear();
                let lat = cl.latency;
                self.schedule(lat * 2, Event::OpenSession { c, inc });
            }
            Output::Walk => {
                let walked = self.walk(c);
                let took = Duration::from_micros(200 + 20 * self.cfg.dirs as u64);
                self.schedule(
                    took,
                    Event::Local {
                        c,
                        inc,
                        input: Input::Walked(walked),
                    },
                );
            }
            Output::Spawn { id, job } => self.spawn_rsync(c, id, job)?,
            Output::Kill { id } => self.kill_rsync(c, id),
            Output::WatchTree => {
                self.clients[c].watches_tree = true;
                let input = Input::Tree(self.tree_state(c));
                self.schedule(Duration::from_micros(100), Event::Local { c, inc, input });
            }
            Output::Probe { id, op } => {
                let input = Input::Probe {
                    id,
                    result: Ok(self.probe(op)),
                };
                self.schedule(Duration::from_micros(100), Event::Local { c, inc, input });
            }
            Output::Log { level, message } => {
                let name = self.clients[c].name.clone();
                self.note(format!("{name}: {level:?}: {message}"));
            }
            Output::Progress(_) => {}
            Output::Summary(summary) => {
                let name = self.clients[c].name.clone();
                self.note(format!(
                    "{name}: summary: {} chunks, {} done, {} failed",
                    summary.progress.chunks, summary.progress.done, summary.progress.failed
                ));
                self.summary = Some(summary);
                self.report.session_time = self.now.duration_since(self.start);
            }
            Output::Exit(exit) => {
                let name = self.clients[c].name.clone();
                self.note(format!(
                    "{name}: exits with {} ({:?})",
                    exit.code, exit.message
                ));
                self.end_process(c, Some(exit.code), true);
                if exit.code == 2 && self.liveness_since.is_some() {
                    // It stopped on a fault (its tree was gone): started again, as the
                    // liveness phase does for every client a fault stopped.
                    self.clients[c].restart_pending = true;
                    self.schedule(Duration::from_millis(10), Event::Restart { c });
                }
            }
        }
        Ok(())
    }

    /// The process of client `c` ends: by exiting (`clean`: its session is closed) or by
    /// dying (its session lives on until the server expires it).
    fn end_process(&mut self, c: usize, code: Option<i32>, clean: bool) {
        let jobs: Vec<JobId> = self.clients[c].jobs.keys().copied().collect();
        for id in jobs {
            // The rsync child dies with its parent (PR_SET_PDEATHSIG).
            self.kill_rsync(c, id);
        }
        let cl = &mut self.clients[c];
        cl.machine = None;
        cl.exit_code = code;
        cl.incarnation += 1;
        cl.jobs.clear();
        cl.partition = None;
        cl.wants_session = false;
        let session = cl.session.take();
        let kind = cl.kind;
        let dest_id = cl.dest_id.clone();
        if let Some(s) = session {
            if clean {
                self.zk.close(s);
                self.route_notifications();
            } else if self.zk.is_alive(s) {
                let at = self.now + self.cfg.granted_timeout();
                self.expiring.insert(s, at);
                self.schedule_at(at, Event::ServerExpire { session: s, at });
            }
        }
        if kind == Kind::Dest {
            self.dest_gone(&dest_id);
        }
    }

    /// A destination's work on the probe files of the destination tree.
    fn probe(&mut self, op: ProbeOp) -> ProbeDone {
        match op {
            ProbeOp::List => ProbeDone::Listed(self.probes.clone().into_iter().collect()),
            ProbeOp::Write { name, content } => {
                self.probes.insert(name, content);
                ProbeDone::Written
            }
            ProbeOp::Read { name } => ProbeDone::Read(self.probes.get(&name).cloned()),
            ProbeOp::Remove { name } => {
                self.probes.remove(&name);
                ProbeDone::Removed
            }
        }
    }

    fn tree_state(&self, c: usize) -> zkrsync_core::protocol::TreeState {
        if self.clients[c].tree_present {
            zkrsync_core::protocol::TreeState::Present
        } else {
            zkrsync_core::protocol::TreeState::Missing("the tree is not mounted".into())
        }
    }

    /// The master's walk of its view of the source tree, with the core's walk, reported
    /// as the real driver reports it.
    fn walk(&mut self, c: usize) -> Result<Walked, WalkFailed> {
        let root = std::path::Path::new(SRC_ROOT);
        let mem = self.source_view(c).mem_tree(root);
        let spec = zkrsync_core::walk::WalkSpec::with_depth(self.cfg.depth);
        let walk =
            WALK_POOL.with(|pool| pool.install(|| zkrsync_core::walk::walk(&mem, root, &spec)))?;
        Ok(source_tree::walked(&mem, root, walk))
    }

    /// The source tree as client `c` sees it: empty when it is not mounted.
    fn source_view(&self, c: usize) -> Tree {
        if self.clients[c].tree_present {
            self.src.clone()
        } else {
            Tree::new()
        }
    }

    /// The session timeout the server granted, as the client reports it to the machine.
    pub(super) fn negotiated_timeout(&self) -> Duration {
        self.cfg.granted_timeout()
    }

    /// Session events go to the machine as local inputs.
    fn session_event(&mut self, c: usize, event: SessionEvent) -> Check {
        let name = self.clients[c].name.clone();
        self.note(format!("{name}: session {event:?}"));
        self.feed(c, Input::Session(event))
    }
}
