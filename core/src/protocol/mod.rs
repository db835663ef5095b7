//! The coordination protocol: state machines for a source ([`Source`]: master or worker)
//! and a destination ([`Dest`]) that never do I/O.
//!
//! ZooKeeper replies, watch events, session events, walk and rsync results and timers come
//! in as [`Input`]s through `handle(now, input)`; ZooKeeper requests, walks, rsync
//! spawns and kills, timers, progress and the exit come out as [`Output`]s through
//! `poll_output()`. The real agent (tokio, zookeeper-client, rsync) and the simulator drive
//! the same machines with thin loops.
//!
//! The ZooKeeper layout of a session is in [`layout`]; what every znode holds is in
//! [`records`]; the session parameters that every client must agree on are in [`params`].

pub mod delete_budget;
pub mod dest;
pub mod exit_code;
pub mod itemized;
pub mod layout;
pub mod params;
pub mod records;
mod requests;
pub mod rsync_job;
pub mod run_counts;
mod session;
pub mod source;
pub mod source_tree;
mod timers;
mod zk;
pub use zk::{CreateMode, MultiOp, ZkError, ZkOp, ZkReply};
pub mod tree_id;

use std::time::{Duration, Instant};

use crate::rsync_stats::RsyncStats;
use crate::unit::Unit;

pub use dest::{Dest, DestConfig};
pub use layout::Layout;
pub use params::SessionParams;
pub use rsync_job::RsyncJob;
pub use source::{Source, SourceConfig};
pub use source_tree::WalkFailed;

/// Identifies a request, so that its reply can be matched to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReqId(pub u64);

/// Identifies an rsync job of a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub u64);

/// What a one-shot watch reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchKind {
    /// The znode was created.
    Created,
    /// The znode was deleted.
    Deleted,
    /// The znode's data changed.
    DataChanged,
    /// The znode's children changed.
    ChildrenChanged,
}

/// The state of the client's ZooKeeper session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEvent {
    /// Connected: a new session (after [`Output::NewSession`] or at start) or the same session
    /// again after a disconnection.
    Connected {
        /// True when this is a session the machine has not seen before.
        new_session: bool,
        /// The session timeout the server granted (it may clamp the one asked for): what
        /// the worker's lease is computed from.
        timeout: Duration,
    },
    /// The connection is lost; the session may still be alive on the server.
    Disconnected,
    /// The session has expired: its ephemeral znodes and watches are gone.
    Expired,
}

/// What the driver found when it walked the source tree for the master.
#[derive(Debug, Clone)]
pub struct Walked {
    /// The units, in the walk's order.
    pub units: Vec<Unit>,
    /// Whether the root had any entry (a source that is empty later is then suspect).
    pub root_nonempty: bool,
    /// A sample of the root's directory names (see [`source_tree::top_sample`]).
    pub top_dirs: Vec<Vec<u8>>,
    /// Directories read.
    pub dirs_read: u64,
    /// Directories that could not be read.
    pub errors: u64,
}

/// How one rsync job ended, as reported by the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RsyncOutcome {
    /// rsync ran to its end.
    Exited {
        /// Its exit code, the worst of the job's invocations (None: killed by a signal).
        code: Option<i32>,
        /// Its `--stats`, summed over the job's invocations.
        stats: RsyncStats,
        /// The last lines of its error output.
        stderr_tail: String,
        /// Deletions rsync held back at the job's `--max-delete` limit, summed over the
        /// invocations ([`crate::rsync_exit::deletions_skipped`]).
        deletions_skipped: u64,
        /// With `--itemize`: the job's itemized changes ([`itemized`]).
        items: itemized::Itemized,
    },
    /// The driver did not start rsync because the source tree must not be copied from
    /// ([`source_tree::Refusal::Tree`]): the source leaves the session.
    SourceMissing(String),
    /// The driver did not start rsync because the source and the destination tree overlap
    /// on this host ([`source_tree::overlap`]): the source leaves the session with this
    /// message.
    Overlap(String),
    /// The driver did not start rsync because one of the chunk's unit directories is gone
    /// or not a directory now ([`source_tree::Refusal::Unit`]): a failed try of the chunk.
    UnitChanged(String),
    /// The driver did not start rsync because the delete guard refused a directory's
    /// `--delete` ([`source_tree::Refusal::Deletes`]): the chunk fails for good.
    DeleteRefused(String),
    /// rsync could not be started at all.
    SpawnFailed(String),
}

/// Identifies a destination's request about its probe files ([`Output::Probe`]), so that its
/// result can be matched to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProbeId(pub u64);

/// What a destination asks its driver to do with the probe files in the root of the tree
/// it serves (`.zkrsync-*`, see [`dest`]): names are file names in that root, never paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOp {
    /// List the root's entries whose name starts with [`dest::PROBE_PREFIX`], with their
    /// contents (at most [`dest::PROBE_MAX_BYTES`] of each; an entry that is not a regular
    /// file has an empty content); replies [`ProbeDone::Listed`].
    List,
    /// Write `content` to `name` durably: to a temporary name, fsync, rename over `name`,
    /// fsync the root; replies [`ProbeDone::Written`].
    Write {
        /// The file's name.
        name: String,
        /// What it holds.
        content: Vec<u8>,
    },
    /// Read `name` (at most [`dest::PROBE_MAX_BYTES`]); replies [`ProbeDone::Read`], with
    /// None when there is no such file.
    Read {
        /// The file's name.
        name: String,
    },
    /// Remove `name` (a missing file is not an error); replies [`ProbeDone::Removed`].
    Remove {
        /// The file's name.
        name: String,
    },
}

/// What the driver did for a [`ProbeOp`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeDone {
    /// The probe files found, by name, with their contents.
    Listed(Vec<(String, Vec<u8>)>),
    /// Written and renamed into place.
    Written,
    /// The file's contents, None when it does not exist.
    Read(Option<Vec<u8>>),
    /// Removed, or there was no such file.
    Removed,
}

/// The driver's view of a tree (a destination's or a source's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeState {
    /// The tree is there.
    Present,
    /// The tree is missing, with the reason.
    Missing(String),
}

/// A kind of timer a machine keeps (at most one deadline each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// Periodic progress report of the master.
    Progress,
    /// The master stops waiting for clients to leave.
    LeaveDeadline,
    /// A disconnected worker stops its rsync before its session could expire on the server.
    Lease,
    /// A worker may try destinations it could not reach again.
    Suspect,
    /// A destination stops waiting for an earlier registration under its id to expire.
    RegisterDeadline,
    /// A destination reads the session's probe file again (a file another host has just
    /// written may show late on a shared file system).
    ProbeRetry,
}

impl Timer {
    /// Every kind of timer.
    pub const ALL: [Timer; 6] = [
        Timer::Progress,
        Timer::LeaveDeadline,
        Timer::Lease,
        Timer::Suspect,
        Timer::RegisterDeadline,
        Timer::ProbeRetry,
    ];
}

/// An input to a machine.
#[derive(Debug, Clone)]
pub enum Input {
    /// The ZooKeeper session changed state.
    Session(SessionEvent),
    /// The reply to a request.
    Reply {
        /// The request.
        id: ReqId,
        /// Its result.
        result: Result<ZkReply, ZkError>,
    },
    /// A one-shot watch fired.
    Watch {
        /// The znode.
        path: String,
        /// What happened.
        kind: WatchKind,
    },
    /// The walk asked for by [`Output::Walk`] finished (or could not start).
    Walked(Result<Walked, WalkFailed>),
    /// How far a running rsync job is (its runs' `--info=progress2` counters, summed), at
    /// most about once a second.
    RsyncProgress {
        /// The job.
        id: JobId,
        /// Bytes of file data done so far.
        bytes: u64,
        /// Files checked so far.
        files: u64,
    },
    /// An rsync job ended.
    RsyncDone {
        /// The job.
        id: JobId,
        /// How.
        outcome: RsyncOutcome,
    },
    /// The time [`Machine::poll_timeout`] asked to be woken at has come: the machine fires
    /// every timer that is due.
    Timeout,
    /// The driver checked the machine's tree.
    Tree(TreeState),
    /// The driver carried out [`Output::Probe`] (destinations); the error is one line.
    Probe {
        /// The request.
        id: ProbeId,
        /// What it did, or why it could not.
        result: Result<ProbeDone, String>,
    },
    /// The user asked the process to stop (SIGINT, SIGTERM).
    Interrupt,
}

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Something is wrong.
    Error,
    /// Something may be wrong.
    Warn,
    /// Progress of the session.
    Info,
    /// Detail.
    Debug,
}

/// Counts of the session's chunks and what the copied data amounts to so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Chunks in the plan.
    pub chunks: u64,
    /// Whether the plan is complete (false while the master is still publishing).
    pub plan_ready: bool,
    /// Units in the plan.
    pub units: u64,
    /// Chunks done.
    pub done: u64,
    /// Chunks failed for good.
    pub failed: u64,
    /// Chunks being copied.
    pub running: u64,
    /// Sources in the session (master included).
    pub sources: u64,
    /// Destinations in the session.
    pub dests: u64,
    /// Destinations taking work (registered, their tree there).
    pub active_dests: u64,
    /// Stats of the chunks done so far.
    pub stats: RsyncStats,
    /// Bytes of file data the running chunks have done so far (workers' live progress).
    pub live_bytes: u64,
    /// Files the running chunks have checked so far.
    pub live_files: u64,
    /// Directory entries in the plan, when known (0: unknown): what the file count goes to.
    pub entries: u64,
}

impl Progress {
    /// Why nothing can move, when nothing can: the line a user sees instead of silence.
    pub fn stalled(&self) -> Option<&'static str> {
        let left = self.chunks.saturating_sub(self.done + self.failed);
        if !self.plan_ready || left == 0 || self.running > 0 {
            return None;
        }
        if self.sources <= 1 {
            Some("no worker: the master does not copy; start another zkrsync source for this session")
        } else if self.dests == 0 {
            Some("no destination: start a zkrsync dest for this session")
        } else if self.active_dests == 0 {
            Some("every destination is paused (its tree is missing): mount or restore it")
        } else {
            None
        }
    }
}

/// A chunk that failed for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedChunk {
    /// The chunk's name.
    pub chunk: String,
    /// Its record (error and a few of its paths).
    pub record: records::FailedRecord,
}

/// The master's summary at the end of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Final counts and stats.
    pub progress: Progress,
    /// The chunks that failed for good.
    pub failed: Vec<FailedChunk>,
    /// Znodes of the session that could not be deleted (clients still connected).
    pub left_behind: bool,
    /// With `--itemize`: the chunks' itemized changes, sorted by path and bounded
    /// ([`itemized::SESSION_ITEMS`]).
    pub items: itemized::Itemized,
}

/// How a machine ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// Process exit code (see [`exit_code`]).
    pub code: i32,
    /// A one-line explanation when the code is not 0.
    pub message: Option<String>,
}

/// An output of a machine, for its driver to carry out.
#[derive(Debug, Clone)]
pub enum Output {
    /// Send a ZooKeeper request; reply with [`Input::Reply`] and the same id.
    Zk {
        /// The request's id.
        id: ReqId,
        /// The request.
        op: ZkOp,
    },
    /// Drop the expired session and connect with a new one; report
    /// `Input::Session(SessionEvent::Connected { new_session: true, .. })`.
    NewSession,
    /// Walk the source tree (master); reply with [`Input::Walked`].
    Walk,
    /// Run an rsync job; reply with [`Input::RsyncDone`].
    Spawn {
        /// The job's id.
        id: JobId,
        /// What to run.
        job: RsyncJob,
    },
    /// Kill an rsync job at once (its result no longer counts); it still ends with
    /// [`Input::RsyncDone`].
    Kill {
        /// The job.
        id: JobId,
    },
    /// Check the tree and report [`Input::Tree`] now and whenever it changes.
    WatchTree,
    /// Work on the probe files in the root of the destination's tree (destinations); reply
    /// with [`Input::Probe`] and the same id. Before the machine's [`Output::Exit`], the
    /// driver finishes every probe request it has been given.
    Probe {
        /// The request's id.
        id: ProbeId,
        /// What to do.
        op: ProbeOp,
    },
    /// A log line.
    Log {
        /// Severity.
        level: Level,
        /// The line.
        message: String,
    },
    /// Where the session stands (master).
    Progress(Progress),
    /// The session is over (master): the summary to print and to write to the done-file.
    Summary(Summary),
    /// The machine is finished; the driver closes the session and exits with this.
    Exit(Exit),
}

/// What the drivers need of a machine: inputs in, outputs out.
pub trait Machine: std::fmt::Debug {
    /// Feeds one input, at time `now`.
    fn handle(&mut self, now: Instant, input: Input);
    /// The next output, if any.
    fn poll_output(&mut self) -> Option<Output>;
    /// When to feed [`Input::Timeout`] next: the earliest of the machine's timers.
    fn poll_timeout(&self) -> Option<Instant>;
    /// When `timer` fires, if it is set (for tests and traces).
    fn timer(&self, timer: Timer) -> Option<Instant>;
    /// Whether the machine is a session's master now (only a source can be).
    fn is_master(&self) -> bool {
        false
    }
}

impl Machine for Source {
    fn handle(&mut self, now: Instant, input: Input) {
        Source::handle(self, now, input)
    }
    fn poll_output(&mut self) -> Option<Output> {
        Source::poll_output(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Source::poll_timeout(self)
    }
    fn timer(&self, timer: Timer) -> Option<Instant> {
        Source::timer(self, timer)
    }
    fn is_master(&self) -> bool {
        Source::is_master(self)
    }
}

impl Machine for Dest {
    fn handle(&mut self, now: Instant, input: Input) {
        Dest::handle(self, now, input)
    }
    fn poll_output(&mut self) -> Option<Output> {
        Dest::poll_output(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Dest::poll_timeout(self)
    }
    fn timer(&self, timer: Timer) -> Option<Instant> {
        Dest::timer(self, timer)
    }
}
