//! The simulated world: clients driving the core's machines, a ZooKeeper model, the source
//! and destination trees and rsync, as one discrete-event loop on madsim's clock and
//! random generator. Every event is scheduled at a simulated instant; the loop sleeps
//! (in simulated time) until the next one, so a seed always replays the same run.

mod client;
mod driver;
mod faults;
mod rsync_exec;
mod zk_link;

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

use madsim::rand::{GlobalRng, Rng};
use zkrsync_core::protocol::layout::{Dir, Layout};
use zkrsync_core::protocol::{Input, JobId, ReqId, Summary, ZkOp};

use crate::config::SimConfig;
use crate::fs_model::Tree;
use crate::invariants::{cleanup, counts, nothing_lost, progress, Check, Violation};
use crate::zk_model::{SessionId, ZkModel};

use client::Partition;
pub use client::{Client, Kind};

/// Where every simulated source has its tree.
pub(crate) const SRC_ROOT: &str = "/sim/src";
/// The run every client of a world is part of (`--run`).
pub(crate) const RUN: &str = "sim-run";
/// How long the session keeps its outcome after it finished (`--keep`).
pub(crate) const KEEP: Duration = Duration::from_secs(86400);

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
    /// A frozen agent's watchdog sees no lease renewal for a whole lease.
    WatchdogFires { c: usize, inc: u32 },
    /// A frozen agent runs again.
    Thaw { c: usize, inc: u32 },
    /// A source's sub-mount goes away for a while (a fault).
    Unmount { c: usize, mount: Vec<u8> },
    /// A source's sub-mount is mounted again.
    Remount { c: usize, mount: Vec<u8> },
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
    /// Entries deleted at the destination, by every run.
    pub deleted: u64,
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
    /// Directories of the source tree that are file systems of their own (sub-mounts).
    src_mounts: Vec<Vec<u8>>,
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
    /// Some run that ended well read a source with a sub-mount gone: what it counted is
    /// what it saw ([`counts`]).
    partial_views: bool,
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
    /// The session is over: its znode is gone, or it keeps only its outcome.
    pub(super) fn session_finished(&self) -> bool {
        self.zk.stat(self.layout.root()).is_none() || self.zk.stat(&self.layout.outcome()).is_some()
    }

    /// A world for `cfg`, its trees generated from `rng`.
    pub fn new(cfg: SimConfig, mut rng: GlobalRng) -> World {
        let now = Instant::now();
        let src = if cfg.scale.is_some() {
            Tree::balanced(cfg.dirs, 3, 1)
        } else {
            let mut tree = Tree::generate(cfg.dirs, |n| rng.gen_range(0..n.max(1)));
            if cfg.flat_files > 0 {
                tree.add_flat(cfg.flat_files, |n| rng.gen_range(0..n.max(1)));
            }
            tree
        };
        let dst = if cfg.prefilled {
            let mut old = src.clone();
            old.mutate(100, |n| rng.gen_range(0..n.max(1)));
            old
        } else {
            Tree::new()
        };
        let layout = Layout::new("/zkrsync", "sim").expect("a valid layout");
        // Up to two directories below the root are sub-mounts (none in the scaling runs).
        let dirs: Vec<Vec<u8>> = src
            .entries()
            .filter(|(p, n)| !p.is_empty() && **n == crate::fs_model::Node::Dir)
            .map(|(p, _)| p.clone())
            .collect();
        let src_mounts: Vec<Vec<u8>> = if cfg.scale.is_some() || dirs.is_empty() {
            Vec::new()
        } else {
            (0..rng.gen_range(0..=2))
                .map(|_| dirs[rng.gen_range(0..dirs.len())].clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        };
        let mut world = World {
            rng,
            start: now,
            now,
            zk: ZkModel::new(),
            layout,
            dst_before: dst.clone(),
            src,
            src_mounts,
            dst,
            clients: Vec::new(),
            events: BinaryHeap::new(),
            seq: 0,
            expiring: Default::default(),
            liveness_since: None,
            partition_generation: 0,
            summary: None,
            partial_views: false,
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
            frozen_until: None,
            unmounted: BTreeSet::new(),
            deferred: Vec::new(),
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
                    stats: r.stats,
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
                items: Default::default(),
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
        counts::check_end(
            &summary,
            self.cfg.dry_run,
            &self.src,
            &self.dst_before,
            self.partial_views,
        )?;
        // What the outcome keeps: itself, and for --retry-failed the config, the plan
        // record and the failed chunks.
        let l = &self.layout;
        let mut kept = vec![l.outcome()];
        if !summary.failed.is_empty() {
            kept.extend([l.config(), l.plan()]);
            kept.extend(summary.failed.iter().map(|f| l.entry(Dir::Plan, &f.chunk)));
        }
        let outcome = l.outcome();
        let left: Vec<String> = self
            .zk
            .descendants(l.root())
            .into_iter()
            .filter(|p| !kept.contains(p))
            .collect();
        for path in &kept {
            if self.zk.stat(path).is_none() {
                return Err(Violation::new(
                    "cleanup-and-resume",
                    format!("{path} is not kept after the session ended with failed chunks"),
                ));
            }
        }
        let kept = self.zk.data(&outcome).map(<[u8]>::to_vec);
        cleanup::check_end(&left, kept.as_deref(), &summary)?;
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
            Event::WatchdogFires { c, inc } => {
                self.on_watchdog(c, inc);
                Ok(())
            }
            Event::Thaw { c, inc } => self.on_thaw(c, inc),
            Event::Unmount { c, mount } => {
                self.unmount(c, mount);
                Ok(())
            }
            Event::Remount { c, mount } => {
                self.remount(c, &mount);
                Ok(())
            }
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
                // An operator starts a crashed client again, also after the end: it finds
                // the session's outcome and leaves, as with a late start.
                self.clients[c].restart_pending = false;
                self.start_client(c, self.now);
                Ok(())
            }
            Event::Fault => self.on_fault(),
            Event::Liveness => self.on_liveness(),
        }
    }
}
