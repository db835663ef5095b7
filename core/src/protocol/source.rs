//! A source: every source joins the election; the lowest is the master, which walks the
//! tree, publishes the plan, and ends the session; the others are workers, which claim
//! chunks and destination slots and run rsync.
//!
//! Everything a source knows about the session comes from watched reads; it never sleeps
//! or polls. A request that fails in a way whose outcome is unknown (connection lost while
//! it was in flight) makes the source give up its session ([`Output::NewSession`]): closing
//! it releases every claim, and the new session starts over from what ZooKeeper holds.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::time::{Duration, Instant};

use super::layout::{self, Layout, DIRS};
use super::params::SessionParams;
use super::records::{DestRecord, DoneRecord, FailedRecord, PlanRecord, StopRecord, SummaryRecord};
use super::requests::Requests;
use super::rsync_job::RsyncJob;
use super::{
    exit_code, CreateMode, Exit, FailedChunk, Input, JobId, Level, MultiOp, Output, Progress,
    RsyncOutcome, SessionEvent, Summary, Timer, Walked, WatchKind, ZkError, ZkOp, ZkReply,
};
use crate::plan::{Chunk, PackLimits, Packer};
use crate::rsync_stats::RsyncStats;
use crate::unit::RelPath;

/// How many chunks the master aims to cut a plan into, at most.
pub const TARGET_CHUNKS: u64 = 256;
/// The default lightest chunk the master makes, about 4,000 directory entries: every chunk costs an
/// rsync start and a daemon connection (50-100 ms measured here, the time to copy a few
/// hundred small files or to compare a few thousand unchanged ones), so a small tree is not
/// cut into many tiny rsyncs.
pub const MIN_CHUNK_WEIGHT: u64 = 4096;
/// Chunk creates the master keeps in flight while publishing.
const PUBLISH_WINDOW: usize = 16;
/// How long a worker cut off from ZooKeeper lets its rsync run. A client notices a silent
/// connection loss only after hearing nothing for up to 2/3 of the session timeout, and the
/// server may expire the session 1/3 later; so the rsync must stop within that third, or
/// another worker could claim the chunk while it still runs (the simulator found this with
/// the 2/3 used before, seed 1911).
fn lease(session_timeout: Duration) -> Duration {
    session_timeout / 4
}

/// Cleanup rounds before the master gives up and reports znodes left behind.
const CLEAN_ROUNDS: u32 = 3;
/// Deletes in one multi during cleanup.
const CLEAN_BATCH: usize = 500;
/// Paths of a chunk kept in a failure record.
const FAILED_PATHS_KEPT: usize = 5;

/// What a source is told at start.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// Where the session lives.
    pub layout: Layout,
    /// This client's parameters.
    pub params: SessionParams,
    /// A name for this client in records and logs (host and pid).
    pub client_id: String,
    /// The ZooKeeper session timeout.
    pub session_timeout: Duration,
    /// How often the master reports progress.
    pub progress_every: Duration,
    /// How long the master waits for clients to leave after signalling stop.
    pub leave_timeout: Duration,
    /// The lightest chunk the master makes, in directory entries (see [`MIN_CHUNK_WEIGHT`]).
    pub min_chunk_weight: u64,
    /// Whether the session's znodes are created open to anyone (no credentials): the source
    /// that creates the session says so, once.
    pub open_acls: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum WatchClass {
    Data,
    Child,
    Exist,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Why {
    Setup,
    ConfigCreate,
    ConfigRead,
    ElectionCreate,
    ElectionList,
    Predecessor,
    StopExists,
    StopRead,
    PlanRead,
    Children(&'static str),
    DestRead(String),
    Claim { chunk: String, dest: String },
    FinalCheck,
    ChunkRead { chunk: String, dest: String },
    Record { chunk: String, kind: RecordKind },
    Release { then_exit: Option<String> },
    CleanStandby,
    SummaryRead,
    SummaryWrite,
    // master
    CoverList,
    CoverRead,
    ChunkCreate,
    PlanReady,
    DoneRead(String),
    FailedRead(String),
    StopCreate,
    CleanList,
    CleanBatch,
    CleanFinal,
}

/// What a record of a chunk's result says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecordKind {
    /// Copied.
    Done,
    /// Failed for good.
    Failed,
    /// A failed attempt; the chunk may be tried again.
    Try,
}

#[derive(Debug)]
struct Job {
    id: JobId,
    chunk: String,
    dest: String,
    paths: Vec<Vec<u8>>,
    /// Killed: its result does not count.
    killed: bool,
    /// rsync has ended (reported by the driver).
    ended: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Election not decided yet.
    Unknown,
    Worker,
    Master,
}

#[derive(Debug, Default)]
enum MasterPhase {
    #[default]
    Idle,
    /// Waiting for the plan record.
    Start,
    /// Reading the chunks a previous master published.
    Covering {
        pending: usize,
    },
    Walking,
    Publishing {
        queue: VecDeque<(String, Vec<u8>)>,
        in_flight: usize,
        record: PlanRecord,
    },
    Tracking,
    Stopping,
    Cleaning {
        lists: usize,
        batches: usize,
    },
    Finished,
}

#[derive(Debug, Default)]
struct Master {
    phase: MasterPhase,
    covered: HashSet<RelPath>,
    next_index: u64,
    done_stats: BTreeMap<String, RsyncStats>,
    failed: BTreeMap<String, FailedRecord>,
    reading: HashSet<String>,
    to_delete: Vec<String>,
    summary: Option<Progress>,
    /// While stopping: the highest election number of the sources it waits for. Sources
    /// that joined after the session stopped stand by to take over; nobody waits for them.
    stop_limit: Option<u64>,
    /// The session's outcome as an earlier master recorded it before deleting results.
    recorded: Option<SummaryRecord>,
    /// The outcome is in ZooKeeper (`summary`): results may be deleted now.
    summary_written: bool,
    /// Cleanup rounds that found the session changed under them.
    clean_rounds: u32,
}

/// The state machine of one source process.
#[derive(Debug)]
pub struct Source {
    cfg: SourceConfig,
    reqs: Requests<Why>,
    exited: bool,
    connected: bool,
    disconnected_at: Option<Instant>,
    now: Option<Instant>,
    armed: HashSet<(String, WatchClass)>,
    joined: bool,
    me: Option<String>,
    role: Role,
    stop: Option<StopRecord>,
    /// This session saw the session running (no stop yet): it has a part to play in it and
    /// leaves when it stops. A source that joins a stopped session stands by instead, to
    /// finish the cleanup should the master die first.
    seen_running: bool,
    /// Standing by in a stopped session (see `seen_running`).
    standing_by: bool,
    /// The outcome of a session this source was cleaning up as master when its ZooKeeper
    /// session was lost, reported if the session is found gone.
    unreported: Option<(Summary, i32, Option<String>)>,
    plan: Option<PlanRecord>,
    chunks: BTreeSet<String>,
    done: BTreeSet<String>,
    failed: BTreeSet<String>,
    claims: BTreeSet<String>,
    slots: BTreeSet<String>,
    tries: BTreeMap<String, Vec<String>>,
    dests: BTreeMap<String, Option<DestRecord>>,
    election: Vec<String>,
    job: Option<Job>,
    claiming: bool,
    /// Destinations this worker could not reach, and until when it leaves them alone.
    suspect: BTreeMap<String, Instant>,
    claimed_final: bool,
    /// Joined the session before (with an earlier ZooKeeper session).
    rejoining: bool,
    recording: bool,
    source_gone: bool,
    master: Master,
}

impl Source {
    /// A source that has not connected yet; feed it `Session(Connected)` first.
    pub fn new(cfg: SourceConfig) -> Source {
        Source {
            cfg,
            reqs: Requests::new(),
            exited: false,
            connected: false,
            disconnected_at: None,
            now: None,
            armed: HashSet::new(),
            joined: false,
            me: None,
            role: Role::Unknown,
            stop: None,
            seen_running: false,
            standing_by: false,
            unreported: None,
            plan: None,
            chunks: BTreeSet::new(),
            done: BTreeSet::new(),
            failed: BTreeSet::new(),
            claims: BTreeSet::new(),
            slots: BTreeSet::new(),
            tries: BTreeMap::new(),
            dests: BTreeMap::new(),
            election: Vec::new(),
            job: None,
            claiming: false,
            suspect: BTreeMap::new(),
            claimed_final: false,
            rejoining: false,
            recording: false,
            source_gone: false,
            master: Master::default(),
        }
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.reqs.pop()
    }

    /// Whether this source is the master now.
    pub fn is_master(&self) -> bool {
        self.role == Role::Master
    }

    /// Whether the machine has exited.
    pub fn has_exited(&self) -> bool {
        self.exited
    }

    /// Feeds one input.
    pub fn handle(&mut self, now: Instant, input: Input) {
        if self.exited {
            return;
        }
        self.now = Some(now);
        match input {
            Input::Session(event) => self.on_session(now, event),
            Input::Reply { id, result } => {
                if let Some((why, op)) = self.reqs.take(id) {
                    self.on_reply(why, op, result);
                }
            }
            Input::Watch { path, kind } => self.on_watch(path, kind),
            Input::Walked(result) => self.on_walked(result),
            Input::RsyncDone { id, outcome } => self.on_rsync_done(id, outcome),
            Input::Timer(timer) => self.on_timer(now, timer),
            Input::Tree(_) => {}
            Input::Interrupt => {
                self.kill_job();
                self.exit(
                    exit_code::INTERRUPTED,
                    Some(
                        "interrupted: the session stays and resumes when sources run again".into(),
                    ),
                );
            }
        }
    }

    // ---------------------------------------------------------------- session

    fn on_session(&mut self, now: Instant, event: SessionEvent) {
        match event {
            SessionEvent::Connected { new_session } => {
                self.connected = true;
                self.disconnected_at = None;
                if new_session || !self.joined {
                    self.reset_session_state();
                    self.setup();
                } else if self.job.as_ref().is_some_and(|j| j.killed && j.ended) && !self.recording
                {
                    // The lease ran out while disconnected: the job was stopped; its claim is
                    // still ours, so release it for anyone (us included) to redo.
                    self.release_current(None);
                }
            }
            SessionEvent::Disconnected => {
                self.connected = false;
                self.disconnected_at = Some(now);
                if self.job.is_some() {
                    let lease = lease(self.cfg.session_timeout);
                    self.reqs.push(Output::SetTimer {
                        timer: Timer::Lease,
                        at: now + lease,
                    });
                }
            }
            SessionEvent::Expired => {
                self.reqs.log(
                    Level::Warn,
                    "ZooKeeper session expired: stopping rsync, joining again with a new session",
                );
                self.restart_session();
            }
        }
    }

    /// Gives up the session: kills rsync, forgets everything, asks for a new session.
    fn restart_session(&mut self) {
        if self.role == Role::Master
            && matches!(self.master.phase, MasterPhase::Cleaning { .. })
            && self.master.summary_written
        {
            // Our cleanup may have gone through before the session was lost: if the
            // session turns out to be gone, this is its outcome to report.
            self.unreported = Some(self.final_summary(false));
        }
        self.kill_job();
        self.job = None;
        self.reqs.forget_all();
        self.reset_session_state();
        self.joined = false;
        self.connected = false;
        self.reqs.push(Output::NewSession);
    }

    fn reset_session_state(&mut self) {
        self.armed.clear();
        self.me = None;
        self.role = Role::Unknown;
        self.stop = None;
        self.seen_running = false;
        self.standing_by = false;
        self.plan = None;
        self.chunks.clear();
        self.done.clear();
        self.failed.clear();
        self.claims.clear();
        self.slots.clear();
        self.tries.clear();
        self.dests.clear();
        self.election.clear();
        self.claiming = false;
        self.recording = false;
        self.master = Master::default();
    }

    fn setup(&mut self) {
        let l = self.cfg.layout.clone();
        if self.rejoining {
            // Never recreate a session that ended while this source was away: read the
            // config; NoNode means the session is over.
            self.joined = true;
            self.reqs.send(
                ZkOp::GetData {
                    path: l.config(),
                    watch: false,
                },
                Why::ConfigRead,
            );
            return;
        }
        self.joined = true;
        self.rejoining = true;
        for path in l.base_ancestors() {
            self.create(path, Vec::new(), CreateMode::Persistent, Why::Setup);
        }
        self.create(
            l.root().to_owned(),
            Vec::new(),
            CreateMode::Persistent,
            Why::Setup,
        );
        for dir in DIRS {
            let data = if dir == "plan" {
                PlanRecord::building().encode()
            } else {
                Vec::new()
            };
            self.create(l.at(dir), data, CreateMode::Persistent, Why::Setup);
        }
        self.create(
            l.config(),
            self.cfg.params.encode(),
            CreateMode::Persistent,
            Why::ConfigCreate,
        );
        self.reqs.send(
            ZkOp::GetData {
                path: l.config(),
                watch: false,
            },
            Why::ConfigRead,
        );
    }

    fn join(&mut self) {
        let l = self.cfg.layout.clone();
        self.create(
            format!("{}/s-", l.election()),
            self.cfg.client_id.as_bytes().to_vec(),
            CreateMode::EphemeralSequential,
            Why::ElectionCreate,
        );
        self.exists_watch(l.stop(), Why::StopExists);
        self.get_data_watch(l.plan(), Why::PlanRead);
        for dir in [
            "plan", "done", "failed", "claims", "slots", "tries", "dests",
        ] {
            self.children_watch(dir);
        }
    }

    // ---------------------------------------------------------------- requests

    fn create(&mut self, path: String, data: Vec<u8>, mode: CreateMode, why: Why) {
        self.reqs.send(ZkOp::Create { path, data, mode }, why);
    }

    fn get_data_watch(&mut self, path: String, why: Why) {
        let watch = self.armed.insert((path.clone(), WatchClass::Data));
        self.reqs.send(ZkOp::GetData { path, watch }, why);
    }

    fn exists_watch(&mut self, path: String, why: Why) {
        let watch = self.armed.insert((path.clone(), WatchClass::Exist));
        self.reqs.send(ZkOp::Exists { path, watch }, why);
    }

    fn children_watch(&mut self, dir: &'static str) {
        let path = self.cfg.layout.at(dir);
        let watch = self.armed.insert((path.clone(), WatchClass::Child));
        self.reqs
            .send(ZkOp::GetChildren { path, watch }, Why::Children(dir));
    }

    fn exit(&mut self, code: i32, message: Option<String>) {
        if !self.exited {
            self.exited = true;
            self.reqs.push(Output::Exit(Exit { code, message }));
        }
    }

    fn fail_config(&mut self, message: String) {
        self.kill_job();
        self.exit(exit_code::CONFIG, Some(message));
    }

    // ---------------------------------------------------------------- replies

    fn on_reply(&mut self, why: Why, op: ZkOp, result: Result<ZkReply, ZkError>) {
        let result = match result {
            Err(ZkError::NoAuth) => {
                let path = op_path(&op);
                return self.fail_config(format!(
                    "session {}: ZooKeeper refused access to {path} (not authorized: it is locked to other credentials, or yours are wrong): give the session's credentials with --auth, or use another --session",
                    self.cfg.layout.session()
                ));
            }
            Err(ZkError::SessionExpired) => {
                self.reqs.log(
                    Level::Warn,
                    "ZooKeeper session expired: joining again with a new session",
                );
                return self.restart_session();
            }
            Err(ZkError::ConnectionLoss) | Err(ZkError::Other(_)) if !is_read(&op) => {
                let e = result.unwrap_err();
                self.reqs.log(
                    Level::Warn,
                    format!("ZooKeeper request on {} ended in doubt ({e}): starting over with a new session", op_path(&op)),
                );
                return self.restart_session();
            }
            Err(ZkError::ConnectionLoss) | Err(ZkError::Other(_)) => {
                // A read: just ask again (the client queues it until it reconnects).
                if let ZkOp::GetData { watch: true, path }
                | ZkOp::Exists { watch: true, path }
                | ZkOp::GetChildren { watch: true, path } = &op
                {
                    self.armed.retain(|(p, _)| p != path);
                }
                let op = match op {
                    ZkOp::GetData { path, .. } => {
                        let watch = self.armed.insert((path.clone(), WatchClass::Data));
                        ZkOp::GetData { path, watch }
                    }
                    ZkOp::Exists { path, .. } => {
                        let watch = self.armed.insert((path.clone(), WatchClass::Exist));
                        ZkOp::Exists { path, watch }
                    }
                    ZkOp::GetChildren { path, .. } => {
                        let watch = self.armed.insert((path.clone(), WatchClass::Child));
                        ZkOp::GetChildren { path, watch }
                    }
                    other => other,
                };
                self.reqs.send(op, why);
                return;
            }
            other => other,
        };
        // A watched read of a missing node leaves no watch.
        if matches!(result, Err(ZkError::NoNode)) {
            match &op {
                ZkOp::GetData { path, watch: true } => {
                    self.armed.remove(&(path.clone(), WatchClass::Data));
                }
                ZkOp::GetChildren { path, watch: true } => {
                    self.armed.remove(&(path.clone(), WatchClass::Child));
                }
                _ => {}
            }
        }
        match why {
            Why::Setup => match result {
                Ok(_) | Err(ZkError::NodeExists) => {}
                Err(e) => self.fail_config(format!("cannot create {}: {e}", op_path(&op))),
            },
            Why::ConfigCreate => match result {
                Ok(_) => {
                    let session = self.cfg.layout.session().to_owned();
                    self.reqs
                        .log(Level::Info, format!("session {session} created"));
                    if self.cfg.open_acls {
                        self.reqs.log(
                            Level::Warn,
                            format!("session {session} has open ACLs: anyone who reaches this ZooKeeper can read its plan and the destinations' daemon secrets, and change them; give --auth-file or ZKRSYNC_AUTH to lock a session down"),
                        );
                    }
                }
                Err(ZkError::NodeExists) => {}
                Err(e) => self.fail_config(format!("cannot create {}: {e}", op_path(&op))),
            },
            Why::ConfigRead => match result {
                Ok(ZkReply::Data(data)) => self.on_config(&data),
                Err(ZkError::NoNode) if self.rejoining => self.session_gone(),
                other => self.fail_config(format!(
                    "cannot read the session's config: {}",
                    show(&other)
                )),
            },
            Why::ElectionCreate => match result {
                Err(ZkError::NoNode) => self.session_gone(),
                Ok(ZkReply::Created(path)) => {
                    let name = path.rsplit('/').next().unwrap_or(&path).to_owned();
                    self.me = Some(name);
                    self.list_election();
                }
                other => self.fail_config(format!("cannot join the election: {}", show(&other))),
            },
            // Gone already or deleted: either way it is not in the way of the cleanup.
            Why::CleanStandby => {}
            Why::SummaryRead => {
                if let MasterPhase::Cleaning { lists, .. } = &mut self.master.phase {
                    *lists -= 1;
                }
                if let Ok(ZkReply::Data(data)) = result {
                    match SummaryRecord::decode(&data) {
                        Ok(r) => {
                            self.master.recorded = Some(r);
                            self.master.summary_written = true;
                        }
                        Err(e) => self.reqs.log(
                            Level::Warn,
                            format!("the recorded summary is unreadable ({e}): counting again"),
                        ),
                    }
                }
                self.master_clean_more();
            }
            Why::SummaryWrite => {
                if let MasterPhase::Cleaning { lists, .. } = &mut self.master.phase {
                    *lists -= 1;
                }
                if let Err(e) = &result {
                    if *e != ZkError::NodeExists {
                        self.reqs.log(
                            Level::Warn,
                            format!(
                                "cannot record the session's summary ({e}): cleaning up anyway"
                            ),
                        );
                    }
                }
                self.master.summary_written = true;
                self.master_clean_more();
            }
            Why::ElectionList => match result {
                Ok(ZkReply::Children(names)) => self.on_election(names),
                // The session's znodes were deleted (its master cleaned it up).
                Err(ZkError::NoNode) => self.session_gone(),
                other => self.fail_config(format!("cannot list the election: {}", show(&other))),
            },
            Why::Predecessor => match result {
                Ok(ZkReply::Exists(false)) => self.list_election(),
                Ok(_) => {}
                other => self.fail_config(format!("cannot watch the election: {}", show(&other))),
            },
            Why::StopExists => {
                if let Ok(ZkReply::Exists(false)) = result {
                    self.seen_running = true;
                }
                if let Ok(ZkReply::Exists(true)) = result {
                    self.reqs.send(
                        ZkOp::GetData {
                            path: self.cfg.layout.stop(),
                            watch: false,
                        },
                        Why::StopRead,
                    );
                }
            }
            Why::StopRead => {
                if let Ok(ZkReply::Data(data)) = result {
                    self.stop = Some(StopRecord::decode(&data));
                    self.on_stop();
                }
            }
            Why::PlanRead => match result {
                Ok(ZkReply::Data(data)) => match PlanRecord::decode(&data) {
                    Ok(plan) => {
                        self.plan = Some(plan);
                        self.on_view_changed();
                    }
                    Err(e) => self.fail_config(format!(
                        "{e}: the session's znodes are damaged; run zkrsync abort on it"
                    )),
                },
                Ok(_) => {}
                Err(_) => {} // gone: the session is being cleaned up
            },
            Why::Children(dir) => {
                if let Ok(ZkReply::Children(names)) = result {
                    self.on_children(dir, names);
                }
            }
            Why::DestRead(id) => match result {
                Ok(ZkReply::Data(data)) => {
                    match DestRecord::decode(&data) {
                        Ok(record) => {
                            if self.dests.contains_key(&id) {
                                self.dests.insert(id, Some(record));
                            }
                        }
                        Err(e) => self
                            .reqs
                            .log(Level::Warn, format!("destination {id} ignored: {e}")),
                    }
                    self.on_view_changed();
                }
                _ => {
                    self.dests.remove(&id);
                }
            },
            Why::Claim { chunk, dest } => self.on_claim(chunk, dest, result),
            Why::FinalCheck => {
                if let Ok(ZkReply::Exists(true)) = result {
                    self.claimed_final = true;
                }
            }
            Why::ChunkRead { chunk, dest } => {
                if self.claimed_final {
                    self.claiming = false;
                    let id = self.reqs.job_id();
                    self.reqs.log(
                        Level::Debug,
                        format!("chunk {chunk} is already finished: released"),
                    );
                    self.job = Some(Job {
                        id,
                        chunk,
                        dest,
                        paths: Vec::new(),
                        killed: true,
                        ended: true,
                    });
                    self.release_current(None);
                } else {
                    self.on_chunk_read(chunk, dest, result)
                }
            }
            Why::Record { chunk, kind } => {
                self.recording = false;
                match result {
                    Ok(_) => {
                        // A fact now, whatever the (maybe older) view of done/ says: do not
                        // claim this chunk again.
                        match kind {
                            RecordKind::Done => {
                                self.done.insert(chunk);
                            }
                            RecordKind::Failed => {
                                self.failed.insert(chunk);
                            }
                            RecordKind::Try => {}
                        }
                        self.job = None;
                        self.on_view_changed();
                    }
                    Err(e) => {
                        self.reqs.log(Level::Warn, format!("cannot record the result of chunk {chunk} ({e}): starting over with a new session"));
                        self.restart_session();
                    }
                }
            }
            Why::Release { then_exit } => {
                self.recording = false;
                self.job = None;
                match (result, then_exit) {
                    (_, Some(message)) => self.fail_config(message),
                    (Ok(_), None) => self.on_view_changed(),
                    (Err(e), None) => {
                        self.reqs.log(
                            Level::Warn,
                            format!(
                                "cannot release a claim ({e}): starting over with a new session"
                            ),
                        );
                        self.restart_session();
                    }
                }
            }
            Why::CoverList => match result {
                Ok(ZkReply::Children(names)) => self.master_cover(names),
                other => self.fail_config(format!("cannot list the plan: {}", show(&other))),
            },
            Why::CoverRead => self.master_covered(result),
            Why::ChunkCreate => match result {
                Ok(_) => {
                    if let MasterPhase::Publishing { in_flight, .. } = &mut self.master.phase {
                        *in_flight -= 1;
                    }
                    self.master_publish_more()
                }
                Err(e) => {
                    self.reqs.log(
                        Level::Warn,
                        format!("cannot publish a chunk ({e}): starting over with a new session"),
                    );
                    self.restart_session();
                }
            },
            Why::PlanReady => {
                match result {
                    Ok(_) => {
                        self.master.phase = MasterPhase::Tracking;
                        self.reqs.log(Level::Info, "plan published");
                        self.master_check_complete();
                    }
                    Err(e) => {
                        self.reqs.log(Level::Warn, format!("cannot mark the plan ready ({e}): starting over with a new session"));
                        self.restart_session();
                    }
                }
            }
            Why::DoneRead(chunk) => {
                self.master.reading.remove(&chunk);
                if let Ok(ZkReply::Data(data)) = result {
                    let stats = DoneRecord::decode(&data)
                        .map(|r| r.stats)
                        .unwrap_or_default();
                    self.master.done_stats.insert(chunk, stats);
                }
                self.master_after_read();
            }
            Why::FailedRead(chunk) => {
                self.master.reading.remove(&chunk);
                if let Ok(ZkReply::Data(data)) = result {
                    let record = FailedRecord::decode(&data).unwrap_or_else(|e| FailedRecord {
                        error: e.to_string(),
                        ..Default::default()
                    });
                    self.master.failed.insert(chunk, record);
                }
                self.master_after_read();
            }
            Why::StopCreate => match result {
                Ok(_) | Err(ZkError::NodeExists) => self.master_stopping(),
                Err(e) => self.fail_config(format!("cannot create the stop signal: {e}")),
            },
            Why::CleanList => {
                if let MasterPhase::Cleaning { lists, .. } = &mut self.master.phase {
                    *lists -= 1;
                }
                if let (Ok(ZkReply::Children(names)), ZkOp::GetChildren { path, .. }) =
                    (result, &op)
                {
                    for name in names {
                        self.master.to_delete.push(format!("{path}/{name}"));
                    }
                }
                self.master_clean_more();
            }
            Why::CleanBatch => {
                if let MasterPhase::Cleaning { batches, .. } = &mut self.master.phase {
                    *batches -= 1;
                }
                if let (Err(_), ZkOp::Multi(ops)) = (&result, &op) {
                    // Some znode went meanwhile (a client released a claim): delete the
                    // batch one by one instead, whatever is still there.
                    for o in ops {
                        if let MultiOp::Delete { path } = o {
                            if let MasterPhase::Cleaning { batches, .. } = &mut self.master.phase {
                                *batches += 1;
                            }
                            self.reqs
                                .send(ZkOp::Delete { path: path.clone() }, Why::CleanBatch);
                        }
                    }
                }
                self.master_clean_more();
            }
            Why::CleanFinal => {
                if result.is_err() && self.master.clean_rounds < CLEAN_ROUNDS {
                    // Something appeared meanwhile (a late claim, a standby): look again.
                    self.master.clean_rounds += 1;
                    self.master.phase = MasterPhase::Stopping;
                    return self.master_clean_start();
                }
                let left_behind = result.is_err();
                if let Err(e) = &result {
                    self.reqs.log(
                        Level::Warn,
                        format!("znodes of session {} left behind ({e}): a client is still connected; run zkrsync abort after it has gone", self.cfg.layout.session()),
                    );
                }
                self.master_finish(left_behind);
            }
        }
    }

    /// The session's znodes are gone: it ended (or was aborted) meanwhile.
    fn session_gone(&mut self) {
        self.kill_job();
        if let Some((summary, code, message)) = self.unreported.take() {
            // We were cleaning it up when our ZooKeeper session was lost: it got done.
            self.reqs.push(Output::Summary(summary));
            return self.exit(code, message);
        }
        self.reqs.log(
            Level::Info,
            format!("session {} has ended: leaving", self.cfg.layout.session()),
        );
        self.exit(exit_code::OK, None);
    }

    fn on_config(&mut self, data: &[u8]) {
        let session = match SessionParams::decode(data) {
            Ok(p) => p,
            Err(e) => return self.fail_config(format!("{e}: the session's config is damaged; run zkrsync abort on it or use another --session")),
        };
        if let Some(m) = self.cfg.params.mismatch(&session) {
            return self.fail_config(format!(
                "{} differs from session {}'s: the session has {}, this source has {}; give the same options as the session's sources, or another --session",
                m.option,
                self.cfg.layout.session(),
                m.session,
                m.client
            ));
        }
        self.join();
    }

    // ---------------------------------------------------------------- election

    fn list_election(&mut self) {
        let watch = self.role == Role::Master && matches!(self.master.phase, MasterPhase::Stopping);
        let path = self.cfg.layout.election();
        let watch = watch && self.armed.insert((path.clone(), WatchClass::Child));
        self.reqs
            .send(ZkOp::GetChildren { path, watch }, Why::ElectionList);
    }

    fn on_election(&mut self, mut names: Vec<String>) {
        names.sort_by_key(|n| layout::election_seq(n).unwrap_or(u64::MAX));
        self.election = names.clone();
        let Some(me) = self.me.clone() else { return };
        let Some(pos) = names.iter().position(|n| *n == me) else {
            self.reqs.log(
                Level::Warn,
                "this source's election node is gone: joining again with a new session",
            );
            return self.restart_session();
        };
        if self.role == Role::Master {
            if matches!(self.master.phase, MasterPhase::Stopping) {
                if self.master.stop_limit.is_none() {
                    self.master.stop_limit =
                        names.iter().filter_map(|n| layout::election_seq(n)).max();
                }
                self.master_check_left();
            }
            return;
        }
        if pos == 0 {
            self.become_master();
        } else {
            if self.role == Role::Unknown {
                self.role = Role::Worker;
                self.reqs.log(
                    Level::Info,
                    format!(
                        "worker {} joined session {}",
                        self.cfg.client_id,
                        self.cfg.layout.session()
                    ),
                );
            }
            let pred = self.cfg.layout.child("election", &names[pos - 1]);
            self.exists_watch(pred, Why::Predecessor);
            self.on_view_changed();
        }
    }

    fn on_watch(&mut self, path: String, kind: WatchKind) {
        match kind {
            WatchKind::ChildrenChanged => {
                self.armed.remove(&(path.clone(), WatchClass::Child));
            }
            WatchKind::DataChanged | WatchKind::Created => {
                self.armed.remove(&(path.clone(), WatchClass::Data));
                self.armed.remove(&(path.clone(), WatchClass::Exist));
            }
            WatchKind::Deleted => {
                self.armed.retain(|(p, _)| *p != path);
            }
        }
        if !self.joined {
            return;
        }
        let l = self.cfg.layout.clone();
        if path == l.stop() {
            if kind != WatchKind::Deleted {
                self.exists_watch(l.stop(), Why::StopExists);
            }
        } else if path == l.plan() && kind != WatchKind::ChildrenChanged {
            self.get_data_watch(l.plan(), Why::PlanRead);
        } else if path == l.election() {
            self.list_election();
        } else if let Some(name) = path.strip_prefix(&format!("{}/", l.election())) {
            let _ = name;
            self.list_election();
        } else if let Some(id) = path.strip_prefix(&format!("{}/", l.dests())) {
            if kind == WatchKind::Deleted {
                self.dests.remove(id);
                self.on_view_changed();
            } else if self.dests.contains_key(id) {
                let id = id.to_owned();
                self.get_data_watch(path, Why::DestRead(id));
            }
        } else if kind == WatchKind::ChildrenChanged {
            if let Some(dir) = DIRS.iter().find(|d| l.at(d) == path) {
                self.children_watch(dir);
            }
        }
    }

    fn on_children(&mut self, dir: &'static str, names: Vec<String>) {
        let set: BTreeSet<String> = names.into_iter().collect();
        match dir {
            "plan" => {
                self.chunks = set
                    .into_iter()
                    .filter(|n| layout::chunk_index(n).is_some())
                    .collect()
            }
            "done" => self.done = set,
            "failed" => self.failed = set,
            "claims" => self.claims = set,
            "slots" => self.slots = set,
            "tries" => {
                let mut tries: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for name in &set {
                    if let Some((chunk, dest)) = layout::parse_try(name) {
                        tries
                            .entry(chunk.to_owned())
                            .or_default()
                            .push(dest.to_owned());
                    }
                }
                self.tries = tries;
            }
            "dests" => {
                self.dests.retain(|id, _| set.contains(id));
                for id in set {
                    if !self.dests.contains_key(&id) {
                        self.dests.insert(id.clone(), None);
                        let path = self.cfg.layout.child("dests", &id);
                        self.get_data_watch(path, Why::DestRead(id));
                    }
                }
            }
            _ => {}
        }
        self.on_view_changed();
    }

    fn on_view_changed(&mut self) {
        match self.role {
            Role::Worker => self.try_claim(),
            Role::Master => self.master_on_view(),
            Role::Unknown => {}
        }
    }

    fn on_stop(&mut self) {
        match self.stop {
            None => {}
            Some(StopRecord::Abort) => {
                self.kill_job();
                self.exit(
                    exit_code::PARTIAL,
                    Some(format!(
                        "session {} was aborted (zkrsync abort)",
                        self.cfg.layout.session()
                    )),
                );
            }
            Some(StopRecord::Done) => match self.role {
                Role::Unknown => {}
                Role::Worker => {
                    if self.job.is_none() && self.seen_running {
                        self.reqs
                            .log(Level::Info, "the session is complete: leaving");
                        self.exit(exit_code::OK, None);
                    } else if self.job.is_none() && !self.standing_by {
                        // Joined a stopped session: its master may have died while
                        // cleaning up. Stand by: take over if it goes, leave when the
                        // session is gone.
                        self.standing_by = true;
                        self.reqs.log(
                            Level::Info,
                            "the session is finishing: standing by in case its master needs replacing",
                        );
                    }
                }
                Role::Master => match self.master.phase {
                    MasterPhase::Stopping => self.master_check_left(),
                    MasterPhase::Cleaning { .. } | MasterPhase::Finished => {}
                    _ => self.master_stopping(),
                },
            },
        }
    }

    // ---------------------------------------------------------------- worker

    fn try_claim(&mut self) {
        if self.stop.is_some() {
            return self.on_stop();
        }
        if self.role != Role::Worker
            || !self.connected
            || self.job.is_some()
            || self.claiming
            || self.recording
            || self.source_gone
        {
            return;
        }
        if self.plan.is_none() {
            return;
        }
        let candidates: Vec<&String> = self
            .chunks
            .iter()
            .filter(|c| {
                !self.done.contains(*c) && !self.failed.contains(*c) && !self.claims.contains(*c)
            })
            .collect();
        if candidates.is_empty() {
            return;
        }
        let now = self.now;
        let active: Vec<&String> = self
            .dests
            .iter()
            .filter(|(id, r)| {
                r.as_ref().is_some_and(|r| r.active)
                    && self
                        .suspect
                        .get(*id)
                        .is_none_or(|until| now.is_none_or(|n| n >= *until))
            })
            .map(|(id, _)| id)
            .collect();
        // Spread workers over the chunks and destinations by their names.
        let spread = fnv(self.me.as_deref().unwrap_or(&self.cfg.client_id)) as usize;
        let mut pick = None;
        for k in 0..candidates.len() {
            let chunk = candidates[(spread + k) % candidates.len()];
            let tried = self.tries.get(chunk).map(Vec::as_slice).unwrap_or(&[]);
            let untried: Vec<&&String> = active.iter().filter(|d| !tried.contains(d)).collect();
            // A chunk that failed on a destination goes to another one when there is one,
            // even if that means waiting for it to be free.
            let choices: Vec<&String> = if untried.is_empty() {
                active
                    .iter()
                    .copied()
                    .filter(|d| !self.slots.contains(*d))
                    .collect()
            } else {
                untried
                    .into_iter()
                    .copied()
                    .filter(|d| !self.slots.contains(*d))
                    .collect()
            };
            if !choices.is_empty() {
                pick = Some((chunk.clone(), choices[spread % choices.len()].clone()));
                break;
            }
        }
        let Some((chunk, dest)) = pick else { return };
        let l = &self.cfg.layout;
        let ops = vec![
            MultiOp::Create {
                path: l.child("claims", &chunk),
                data: self.cfg.client_id.as_bytes().to_vec(),
                mode: CreateMode::Ephemeral,
            },
            MultiOp::Create {
                path: l.child("slots", &dest),
                data: chunk.as_bytes().to_vec(),
                mode: CreateMode::Ephemeral,
            },
        ];
        self.claiming = true;
        self.reqs.send(ZkOp::Multi(ops), Why::Claim { chunk, dest });
    }

    fn on_claim(&mut self, chunk: String, dest: String, result: Result<ZkReply, ZkError>) {
        self.claiming = false;
        match result {
            Ok(_) => {
                self.claims.insert(chunk.clone());
                self.slots.insert(dest.clone());
                self.claiming = true;
                // Our view of done/ and failed/ may lag behind that of claims/ (a worker that
                // just finished this chunk released its claim in the same multi): look again,
                // after the claim, before copying. Replies come in order, so these are known
                // when the chunk's data arrives.
                self.claimed_final = false;
                for dir in ["done", "failed"] {
                    let path = self.cfg.layout.child(dir, &chunk);
                    self.reqs
                        .send(ZkOp::Exists { path, watch: false }, Why::FinalCheck);
                }
                let path = self.cfg.layout.child("plan", &chunk);
                self.reqs.send(
                    ZkOp::GetData { path, watch: false },
                    Why::ChunkRead { chunk, dest },
                );
            }
            Err(ZkError::MultiFailed { index, error }) if *error == ZkError::NodeExists => {
                if index == 0 {
                    self.claims.insert(chunk);
                } else {
                    self.slots.insert(dest);
                }
                self.try_claim();
            }
            Err(e) => {
                // NoNode: the session is being cleaned up; the stop watch will tell.
                self.reqs
                    .log(Level::Debug, format!("claim of chunk {chunk} failed: {e}"));
            }
        }
    }

    fn on_chunk_read(&mut self, chunk: String, dest: String, result: Result<ZkReply, ZkError>) {
        self.claiming = false;
        let id = self.reqs.job_id();
        let decoded = match result {
            Ok(ZkReply::Data(data)) => {
                Chunk::decode(&data).map_err(|e| format!("chunk {chunk} is unreadable: {e}"))
            }
            other => Err(format!("cannot read chunk {chunk}: {}", show(&other))),
        };
        let record = self.dests.get(&dest).cloned().flatten();
        let plan_nonempty = self.plan.as_ref().is_some_and(|p| p.root_nonempty);
        match (decoded, record) {
            (Ok(c), Some(record)) => {
                let job = RsyncJob::build(
                    &chunk,
                    &c,
                    &dest,
                    &record.url(),
                    record.auth.as_ref().map(|a| a.secret.clone()),
                    &self.cfg.params,
                    plan_nonempty,
                );
                let paths = c
                    .units
                    .iter()
                    .take(FAILED_PATHS_KEPT)
                    .map(|u| u.path.as_bytes().to_vec())
                    .collect();
                self.reqs.log(
                    Level::Debug,
                    format!("chunk {chunk}: {} units to {}", c.units.len(), record.url()),
                );
                self.job = Some(Job {
                    id,
                    chunk,
                    dest,
                    paths,
                    killed: false,
                    ended: false,
                });
                self.reqs.push(Output::Spawn { id, job });
            }
            (Ok(_), None) => {
                // The destination left between the claim and now.
                self.job = Some(Job {
                    id,
                    chunk,
                    dest,
                    paths: Vec::new(),
                    killed: true,
                    ended: true,
                });
                self.release_current(None);
            }
            (Err(message), _) => {
                self.job = Some(Job {
                    id,
                    chunk,
                    dest,
                    paths: Vec::new(),
                    killed: false,
                    ended: true,
                });
                self.record_failure(None, message, true);
            }
        }
    }

    fn on_rsync_done(&mut self, id: JobId, outcome: RsyncOutcome) {
        let Some(job) = self.job.as_ref() else { return };
        if job.id != id {
            return;
        }
        if job.killed {
            if let Some(job) = self.job.as_mut() {
                job.ended = true;
            }
            if self.connected && self.joined {
                self.release_current(None);
            }
            return;
        }
        match outcome {
            RsyncOutcome::Exited {
                code: Some(code @ (0 | 24)),
                stats,
                ..
            } => {
                if code == 24 {
                    self.reqs.log(
                        Level::Warn,
                        format!(
                            "chunk {}: some files vanished during the transfer (rsync exit 24)",
                            job.chunk
                        ),
                    );
                }
                let record = DoneRecord {
                    worker: self.cfg.client_id.clone(),
                    dest: job.dest.clone(),
                    stats,
                    code,
                };
                let chunk = job.chunk.clone();
                let l = &self.cfg.layout;
                let ops = vec![
                    MultiOp::Delete {
                        path: l.child("claims", &chunk),
                    },
                    MultiOp::Delete {
                        path: l.child("slots", &job.dest),
                    },
                    MultiOp::Create {
                        path: l.child("done", &chunk),
                        data: record.encode(),
                        mode: CreateMode::Persistent,
                    },
                ];
                self.recording = true;
                self.reqs.send(
                    ZkOp::Multi(ops),
                    Why::Record {
                        chunk,
                        kind: RecordKind::Done,
                    },
                );
            }
            RsyncOutcome::SourceMissing(reason) => {
                self.source_gone = true;
                let message = format!("source tree {reason}: no rsync was run, so nothing can be deleted on its account; mount or restore it and start this source again");
                self.release_current(Some(message));
            }
            RsyncOutcome::Exited {
                code, stderr_tail, ..
            } => {
                if matches!(code, Some(5 | 10 | 35)) {
                    // The destination could not be reached or went away mid-transfer: not
                    // the chunk's fault. Give the chunk back, leave that destination alone
                    // for a session timeout (a dead one is gone from dests/ by then).
                    let dest = job.dest.clone();
                    self.reqs.log(
                        Level::Warn,
                        format!("destination {dest} failed (rsync exit {}: {}): giving chunk {} back, not using {dest} for {} s", code.unwrap_or(0), last_line(&stderr_tail), job.chunk, self.cfg.session_timeout.as_secs()),
                    );
                    if let Some(now) = self.now {
                        let until = now + self.cfg.session_timeout;
                        self.suspect.insert(dest, until);
                        self.reqs.push(Output::SetTimer {
                            timer: Timer::Suspect,
                            at: until,
                        });
                    }
                    return self.release_current(None);
                }
                let error = match code {
                    Some(c) => format!("rsync exited with {c}: {}", last_line(&stderr_tail)),
                    None => format!("rsync was killed by a signal: {}", last_line(&stderr_tail)),
                };
                self.record_failure(code, error, false);
            }
            RsyncOutcome::SpawnFailed(error) => self.record_failure(None, error, false),
        }
    }

    /// Records a failed attempt of the current job: a try, or the final failure.
    fn record_failure(&mut self, code: Option<i32>, error: String, final_now: bool) {
        let Some(job) = self.job.as_ref() else { return };
        let attempts = self.tries.get(&job.chunk).map_or(0, Vec::len) as u32 + 1;
        let last = final_now || attempts >= self.cfg.params.attempts.max(1);
        self.reqs.log(
            Level::Warn,
            format!(
                "chunk {} to {}: {error} (attempt {attempts} of {})",
                job.chunk, job.dest, self.cfg.params.attempts
            ),
        );
        let record = FailedRecord {
            worker: self.cfg.client_id.clone(),
            dest: job.dest.clone(),
            code,
            error,
            paths: job.paths.clone(),
        };
        let l = &self.cfg.layout;
        let chunk = job.chunk.clone();
        let kind = if last {
            RecordKind::Failed
        } else {
            RecordKind::Try
        };
        let result = if last {
            MultiOp::Create {
                path: l.child("failed", &chunk),
                data: record.encode(),
                mode: CreateMode::Persistent,
            }
        } else {
            MultiOp::Create {
                path: l.child("tries", &layout::try_prefix(&chunk, &job.dest)),
                data: record.encode(),
                mode: CreateMode::PersistentSequential,
            }
        };
        let ops = vec![
            MultiOp::Delete {
                path: l.child("claims", &chunk),
            },
            MultiOp::Delete {
                path: l.child("slots", &job.dest),
            },
            result,
        ];
        self.recording = true;
        self.reqs
            .send(ZkOp::Multi(ops), Why::Record { chunk, kind });
    }

    /// Gives the current job's chunk and slot back without a result.
    fn release_current(&mut self, then_exit: Option<String>) {
        let Some(job) = self.job.as_ref() else { return };
        let l = &self.cfg.layout;
        let ops = vec![
            MultiOp::Delete {
                path: l.child("claims", &job.chunk),
            },
            MultiOp::Delete {
                path: l.child("slots", &job.dest),
            },
        ];
        self.recording = true;
        self.reqs.send(ZkOp::Multi(ops), Why::Release { then_exit });
    }

    fn kill_job(&mut self) {
        if let Some(job) = self.job.as_mut() {
            if !job.killed {
                job.killed = true;
                let id = job.id;
                self.reqs.push(Output::Kill { id });
            }
        }
    }

    fn on_timer(&mut self, now: Instant, timer: Timer) {
        match timer {
            Timer::Lease => {
                if let Some(since) = self.disconnected_at {
                    if now.duration_since(since) >= lease(self.cfg.session_timeout)
                        && self.job.as_ref().is_some_and(|j| !j.killed)
                    {
                        self.reqs.log(
                            Level::Warn,
                            "disconnected from ZooKeeper for a quarter of the session timeout: stopping rsync before the session can expire",
                        );
                        self.kill_job();
                    }
                }
            }
            Timer::Progress => {
                if self.role == Role::Master && !matches!(self.master.phase, MasterPhase::Finished)
                {
                    let progress = self.progress();
                    self.reqs.push(Output::Progress(progress));
                    self.reqs.push(Output::SetTimer {
                        timer: Timer::Progress,
                        at: now + self.cfg.progress_every,
                    });
                }
            }
            Timer::RegisterDeadline => {}
            Timer::Suspect => {
                self.suspect.retain(|_, until| *until > now);
                self.try_claim();
            }
            Timer::LeaveDeadline => {
                if self.role == Role::Master && matches!(self.master.phase, MasterPhase::Stopping) {
                    self.reqs.log(
                        Level::Warn,
                        "some clients did not leave in time: cleaning up anyway",
                    );
                    self.master_clean_start();
                }
            }
        }
    }

    // ---------------------------------------------------------------- master

    fn become_master(&mut self) {
        self.role = Role::Master;
        self.reqs.log(
            Level::Info,
            format!(
                "source {} is the master of session {}",
                self.cfg.client_id,
                self.cfg.layout.session()
            ),
        );
        self.master.phase = MasterPhase::Start;
        if let Some(now) = self.now {
            self.reqs.push(Output::SetTimer {
                timer: Timer::Progress,
                at: now + self.cfg.progress_every,
            });
        }
        // Election watches matter to the master only while it waits for clients to leave.
        if self.stop.is_some() {
            return self.on_stop();
        }
        self.master_on_view();
    }

    fn master_on_view(&mut self) {
        if self.stop.is_some() {
            return self.on_stop();
        }
        match self.master.phase {
            MasterPhase::Start => {
                let Some(plan) = self.plan.clone() else {
                    return;
                };
                if plan.ready {
                    self.master.phase = MasterPhase::Tracking;
                    self.reqs.log(
                        Level::Info,
                        format!(
                            "resuming the published plan: {} chunks, {} units",
                            plan.chunks, plan.units
                        ),
                    );
                    self.master_on_view();
                } else {
                    self.master.phase = MasterPhase::Covering { pending: 0 };
                    self.reqs.send(
                        ZkOp::GetChildren {
                            path: self.cfg.layout.plan(),
                            watch: false,
                        },
                        Why::CoverList,
                    );
                }
            }
            MasterPhase::Tracking => {
                self.master_read_results();
                self.master_check_complete();
            }
            MasterPhase::Stopping => {
                self.master_read_results();
                self.master_check_left();
            }
            _ => self.master_read_results(),
        }
    }

    fn master_cover(&mut self, names: Vec<String>) {
        let chunks: Vec<String> = names
            .into_iter()
            .filter(|n| layout::chunk_index(n).is_some())
            .collect();
        self.master.next_index = chunks
            .iter()
            .filter_map(|n| layout::chunk_index(n))
            .max()
            .map_or(0, |i| i + 1);
        if chunks.is_empty() {
            self.master.phase = MasterPhase::Walking;
            self.reqs.log(Level::Info, "walking the source tree");
            return self.reqs.push(Output::Walk);
        }
        self.reqs.log(
            Level::Info,
            format!(
                "a previous master published {} chunks: reading them before walking again",
                chunks.len()
            ),
        );
        self.master.phase = MasterPhase::Covering {
            pending: chunks.len(),
        };
        for chunk in chunks {
            let path = self.cfg.layout.child("plan", &chunk);
            self.reqs
                .send(ZkOp::GetData { path, watch: false }, Why::CoverRead);
        }
    }

    fn master_covered(&mut self, result: Result<ZkReply, ZkError>) {
        if let Ok(ZkReply::Data(data)) = result {
            match Chunk::decode(&data) {
                Ok(chunk) => self
                    .master
                    .covered
                    .extend(chunk.units.into_iter().map(|u| u.path)),
                Err(e) => self.reqs.log(
                    Level::Warn,
                    format!("a published chunk is unreadable ({e}); its units are published again"),
                ),
            }
        }
        if let MasterPhase::Covering { pending } = &mut self.master.phase {
            *pending = pending.saturating_sub(1);
            if *pending == 0 {
                self.master.phase = MasterPhase::Walking;
                self.reqs.log(Level::Info, "walking the source tree");
                self.reqs.push(Output::Walk);
            }
        }
    }

    fn on_walked(&mut self, result: Result<Walked, String>) {
        if !matches!(self.master.phase, MasterPhase::Walking) {
            return;
        }
        let walked = match result {
            Ok(w) => w,
            Err(message) => return self.fail_config(message),
        };
        if walked.errors > 0 {
            self.reqs.log(
                Level::Warn,
                format!(
                    "{} directories could not be listed: they are copied without --delete",
                    walked.errors
                ),
            );
        }
        let covered = std::mem::take(&mut self.master.covered);
        let already = covered.len() as u64;
        let units: Vec<_> = walked
            .units
            .into_iter()
            .filter(|u| !covered.contains(&u.path))
            .collect();
        let total_weight: u64 = units.iter().map(|u| u.weight).sum();
        let mut packer = Packer::new(PackLimits::balanced(
            total_weight,
            TARGET_CHUNKS,
            self.cfg.min_chunk_weight.max(1),
        ));
        let mut queue = VecDeque::new();
        let new_units = units.len() as u64;
        let push = |chunk: Chunk, index: &mut u64, queue: &mut VecDeque<(String, Vec<u8>)>| {
            queue.push_back((layout::chunk_name(*index), chunk.encode()));
            *index += 1;
        };
        let mut index = self.master.next_index;
        for unit in units {
            if let Some(chunk) = packer.push(unit) {
                push(chunk, &mut index, &mut queue);
            }
        }
        for chunk in packer.finish() {
            push(chunk, &mut index, &mut queue);
        }
        let record = PlanRecord {
            ready: true,
            chunks: index,
            units: already + new_units,
            root_nonempty: walked.root_nonempty,
        };
        self.reqs.log(
            Level::Info,
            format!(
                "plan: {} units in {} chunks ({} directories read, {} unreadable); publishing",
                record.units, record.chunks, walked.dirs_read, walked.errors
            ),
        );
        self.master.next_index = index;
        self.master.phase = MasterPhase::Publishing {
            queue,
            in_flight: 0,
            record,
        };
        self.master_publish_more();
    }

    fn master_publish_more(&mut self) {
        let MasterPhase::Publishing {
            queue,
            in_flight,
            record,
        } = &mut self.master.phase
        else {
            return;
        };
        let mut sends = Vec::new();
        while *in_flight < PUBLISH_WINDOW {
            let Some((name, data)) = queue.pop_front() else {
                break;
            };
            *in_flight += 1;
            sends.push((name, data));
        }
        let finished = queue.is_empty() && *in_flight == 0;
        let record = record.clone();
        for (name, data) in sends {
            let path = self.cfg.layout.child("plan", &name);
            self.create(path, data, CreateMode::Persistent, Why::ChunkCreate);
        }
        if finished {
            self.reqs.send(
                ZkOp::SetData {
                    path: self.cfg.layout.plan(),
                    data: record.encode(),
                },
                Why::PlanReady,
            );
        }
    }

    fn master_read_results(&mut self) {
        let new_done: Vec<String> = self
            .done
            .iter()
            .filter(|c| {
                !self.master.done_stats.contains_key(*c) && !self.master.reading.contains(*c)
            })
            .cloned()
            .collect();
        for chunk in new_done {
            self.master.reading.insert(chunk.clone());
            let path = self.cfg.layout.child("done", &chunk);
            self.reqs
                .send(ZkOp::GetData { path, watch: false }, Why::DoneRead(chunk));
        }
        let new_failed: Vec<String> = self
            .failed
            .iter()
            .filter(|c| !self.master.failed.contains_key(*c) && !self.master.reading.contains(*c))
            .cloned()
            .collect();
        for chunk in new_failed {
            self.master.reading.insert(chunk.clone());
            let path = self.cfg.layout.child("failed", &chunk);
            self.reqs
                .send(ZkOp::GetData { path, watch: false }, Why::FailedRead(chunk));
        }
    }

    fn master_after_read(&mut self) {
        if let MasterPhase::Cleaning { .. } = self.master.phase {
            self.master_clean_more();
        }
    }

    fn master_check_complete(&mut self) {
        if !matches!(self.master.phase, MasterPhase::Tracking) {
            return;
        }
        let Some(plan) = self.plan.as_ref() else {
            return;
        };
        if !plan.ready || (self.chunks.len() as u64) < plan.chunks {
            return;
        }
        if self
            .chunks
            .iter()
            .all(|c| self.done.contains(c) || self.failed.contains(c))
        {
            self.reqs.log(
                Level::Info,
                "every chunk is done or failed: telling every client to stop",
            );
            self.master.phase = MasterPhase::Stopping;
            self.create(
                self.cfg.layout.stop(),
                StopRecord::Done.encode(),
                CreateMode::Persistent,
                Why::StopCreate,
            );
        }
    }

    fn master_stopping(&mut self) {
        self.master.phase = MasterPhase::Stopping;
        if let Some(now) = self.now {
            self.reqs.push(Output::SetTimer {
                timer: Timer::LeaveDeadline,
                at: now + self.cfg.leave_timeout,
            });
        }
        self.list_election();
        self.children_watch("dests");
        self.master_read_results();
    }

    fn master_check_left(&mut self) {
        // Who is waited for is known once the election was listed after stopping (the
        // master does not follow the election before).
        let Some(limit) = self.master.stop_limit else {
            return;
        };
        let others = self
            .election
            .iter()
            .filter(|n| Some(*n) != self.me.as_ref())
            .filter(|n| layout::election_seq(n).is_some_and(|seq| seq <= limit))
            .count();
        if others == 0 && self.dests.is_empty() {
            self.master_clean_start();
        }
    }

    fn master_clean_start(&mut self) {
        if !matches!(self.master.phase, MasterPhase::Stopping) {
            return;
        }
        self.master.phase = MasterPhase::Cleaning {
            lists: 0,
            batches: 0,
        };
        // Make sure every result is read before the records go.
        let done_dir = self.cfg.layout.done();
        let failed_dir = self.cfg.layout.failed();
        self.reqs.send(
            ZkOp::GetChildren {
                path: done_dir,
                watch: false,
            },
            Why::Children("done"),
        );
        self.reqs.send(
            ZkOp::GetChildren {
                path: failed_dir,
                watch: false,
            },
            Why::Children("failed"),
        );
        // An earlier master may have recorded the outcome and deleted results already.
        self.reqs.send(
            ZkOp::GetData {
                path: self.cfg.layout.summary(),
                watch: false,
            },
            Why::SummaryRead,
        );
        let mut lists = 1;
        for dir in DIRS {
            if dir == "election" {
                continue;
            }
            lists += 1;
            self.reqs.send(
                ZkOp::GetChildren {
                    path: self.cfg.layout.at(dir),
                    watch: false,
                },
                Why::CleanList,
            );
        }
        self.master.phase = MasterPhase::Cleaning { lists, batches: 0 };
    }

    fn master_clean_more(&mut self) {
        let MasterPhase::Cleaning { lists, batches } = self.master.phase else {
            return;
        };
        if lists > 0 || !self.master.reading.is_empty() {
            return;
        }
        // Results are all read now (the children lists were re-read first).
        let unread = self
            .done
            .iter()
            .any(|c| !self.master.done_stats.contains_key(c))
            || self
                .failed
                .iter()
                .any(|c| !self.master.failed.contains_key(c));
        if unread {
            return self.master_read_results();
        }
        if !self.master.summary_written {
            // Record the outcome before any result goes, for a master that takes over.
            let p = self.progress();
            let record = SummaryRecord {
                chunks: p.chunks,
                units: p.units,
                done: p.done,
                stats: p.stats,
                failed: self
                    .master
                    .failed
                    .iter()
                    .map(|(c, r)| (c.clone(), r.error.clone()))
                    .collect(),
            };
            self.master.summary_written = true;
            self.master.phase = MasterPhase::Cleaning { lists: 1, batches };
            self.reqs.send(
                ZkOp::Create {
                    path: self.cfg.layout.summary(),
                    data: record.encode(),
                    mode: CreateMode::Persistent,
                },
                Why::SummaryWrite,
            );
            return;
        }
        if !self.master.to_delete.is_empty() {
            let mut sent = 0;
            while !self.master.to_delete.is_empty() {
                let n = self.master.to_delete.len().min(CLEAN_BATCH);
                let ops = self
                    .master
                    .to_delete
                    .drain(..n)
                    .map(|path| MultiOp::Delete { path })
                    .collect();
                self.reqs.send(ZkOp::Multi(ops), Why::CleanBatch);
                sent += 1;
            }
            self.master.phase = MasterPhase::Cleaning {
                lists: 0,
                batches: batches + sent,
            };
            return;
        }
        if batches > 0 {
            return;
        }
        let l = self.cfg.layout.clone();
        let mut ops: Vec<MultiOp> = DIRS
            .iter()
            .filter(|d| **d != "election")
            .map(|d| MultiOp::Delete { path: l.at(d) })
            .collect();
        ops.push(MultiOp::Delete { path: l.config() });
        ops.push(MultiOp::Delete { path: l.stop() });
        ops.push(MultiOp::Delete { path: l.summary() });
        // Sources standing by (they see their node go and leave): one by one, as some may
        // be gone already; then our own node, in the final multi.
        for name in self.election.clone() {
            if Some(&name) != self.me.as_ref() {
                self.reqs.send(
                    ZkOp::Delete {
                        path: l.child("election", &name),
                    },
                    Why::CleanStandby,
                );
            }
        }
        if let Some(me) = &self.me {
            ops.push(MultiOp::Delete {
                path: l.child("election", me),
            });
        }
        ops.push(MultiOp::Delete { path: l.election() });
        ops.push(MultiOp::Delete {
            path: l.root().to_owned(),
        });
        self.master.summary = Some(self.progress());
        self.master.phase = MasterPhase::Cleaning {
            lists: 0,
            batches: usize::MAX,
        };
        self.reqs.send(ZkOp::Multi(ops), Why::CleanFinal);
    }

    fn master_finish(&mut self, left_behind: bool) {
        self.master.phase = MasterPhase::Finished;
        let (summary, code, message) = self.final_summary(left_behind);
        self.reqs.push(Output::Summary(summary));
        self.exit(code, message);
    }

    /// The master's summary, its exit code and message.
    fn final_summary(&mut self, left_behind: bool) -> (Summary, i32, Option<String>) {
        let mut progress = self
            .master
            .summary
            .take()
            .unwrap_or_else(|| self.progress());
        let mut failed: Vec<FailedChunk> = self
            .master
            .failed
            .iter()
            .map(|(chunk, record)| FailedChunk {
                chunk: chunk.clone(),
                record: record.clone(),
            })
            .collect();
        if let Some(r) = self.master.recorded.take() {
            // An earlier master counted before it deleted results: its counts stand.
            progress.chunks = r.chunks;
            progress.units = r.units;
            progress.done = r.done;
            progress.failed = r.failed.len() as u64;
            progress.stats = r.stats;
            progress.plan_ready = true;
            failed = r
                .failed
                .into_iter()
                .map(|(chunk, error)| FailedChunk {
                    chunk,
                    record: FailedRecord {
                        error,
                        ..FailedRecord::default()
                    },
                })
                .collect();
        }
        let code = if failed.is_empty() {
            exit_code::OK
        } else {
            exit_code::PARTIAL
        };
        let message = (!failed.is_empty()).then(|| {
            format!(
                "{} chunks failed after {} attempts (listed above)",
                failed.len(),
                self.cfg.params.attempts
            )
        });
        (
            Summary {
                progress,
                failed,
                left_behind,
            },
            code,
            message,
        )
    }

    fn progress(&self) -> Progress {
        let stats: RsyncStats = self.master.done_stats.values().sum();
        Progress {
            chunks: self
                .plan
                .as_ref()
                .filter(|p| p.ready)
                .map_or(self.chunks.len() as u64, |p| p.chunks),
            plan_ready: self.plan.as_ref().is_some_and(|p| p.ready),
            units: self.plan.as_ref().map_or(0, |p| p.units),
            done: self.done.len().max(self.master.done_stats.len()) as u64,
            failed: self.failed.len().max(self.master.failed.len()) as u64,
            running: self.claims.len() as u64,
            sources: self.election.len() as u64,
            dests: self.dests.len() as u64,
            stats,
        }
    }
}

fn op_path(op: &ZkOp) -> String {
    op.path().to_owned()
}

fn is_read(op: &ZkOp) -> bool {
    matches!(
        op,
        ZkOp::GetData { .. } | ZkOp::GetChildren { .. } | ZkOp::Exists { .. }
    )
}

fn show(result: &Result<ZkReply, ZkError>) -> String {
    match result {
        Ok(reply) => format!("unexpected reply {reply:?}"),
        Err(e) => e.to_string(),
    }
}

fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(no error output)")
        .trim()
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}
