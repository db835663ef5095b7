//! A simulated client process: a source or a destination machine of the core, and what
//! its thin driver keeps (its ZooKeeper session, requests in flight, rsync jobs, the next
//! wake-up).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use zkrsync_core::protocol::rsync_job::RsyncJob;
use zkrsync_core::protocol::{Input, JobId, Machine, ReqId, ZkOp};

use crate::zk_model::SessionId;

/// Which kind of process a client is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `zkrsync source`.
    Source,
    /// `zkrsync dest`.
    Dest,
}

/// A network partition between the client and ZooKeeper.
#[derive(Debug, Clone, Copy)]
pub struct Partition {
    /// Identifies it (later events of an earlier partition are ignored).
    pub generation: u64,
    /// When it heals.
    pub until: Instant,
    /// Whether the client noticed (Disconnected was reported).
    pub detected: bool,
}

/// An rsync job of a worker.
#[derive(Debug, Clone)]
pub struct RunningJob {
    /// What runs.
    pub job: RsyncJob,
    /// Killed (by the machine or by the client's death).
    pub killed: bool,
    /// The destination died under it: the exit code it gets.
    pub forced_code: Option<i32>,
    /// Whether the source tree was there when rsync started: rsync reads the source's
    /// file list first, so that is the tree it copies (and deletes on the basis of).
    pub source_mounted: bool,
    /// The run sees a snapshot of the mounts taken when it started (the real driver pins
    /// them for a run with sub-mounts in its reach: `launcher/src/agent/mount_pin.rs`).
    pub pinned: bool,
    /// The source's sub-mounts that this run saw unmounted: those unmounted when it
    /// started and, unless pinned, any unmounted while it ran (rsync reads the tree as it
    /// goes, and an unmounted file system lists as an empty directory).
    pub unmounted_seen: BTreeSet<Vec<u8>>,
}

/// One client process.
#[derive(Debug)]
pub struct Client {
    /// Name in traces: `s0` (the first source), `s1`…, `d0`….
    pub name: String,
    /// Source or destination.
    pub kind: Kind,
    /// Bumped when the process dies; events of an earlier incarnation are dropped.
    pub incarnation: u32,
    /// The machine, while the process runs.
    pub machine: Option<Box<dyn Machine>>,
    /// Its last exit code.
    pub exit_code: Option<i32>,
    /// The ZooKeeper session it uses (None: waiting for one).
    pub session: Option<SessionId>,
    /// The client wants a (new) session.
    pub wants_session: bool,
    /// The client knows it is disconnected.
    pub disconnected: bool,
    /// A partition in effect.
    pub partition: Option<Partition>,
    /// Requests sent and not answered.
    pub inflight: BTreeSet<ReqId>,
    /// Requests made while disconnected, sent on reconnection.
    pub queued: Vec<(ReqId, ZkOp)>,
    /// Watch notifications that could not be delivered while partitioned.
    pub missed: Vec<Input>,
    /// Latency between this client and ZooKeeper, one way.
    pub latency: std::time::Duration,
    /// When its last request reaches the server (requests arrive in order).
    pub last_arrival: Instant,
    /// When its last reply or notification reaches it (they arrive in order).
    pub last_delivery: Instant,
    /// Its rsync jobs.
    pub jobs: BTreeMap<JobId, RunningJob>,
    /// When the driver wakes the machine next (its `poll_timeout`, as last scheduled).
    pub wake_at: Option<Instant>,
    /// A source: whether its tree is mounted. A destination: whether its tree is there.
    pub tree_present: bool,
    /// A destination asked to hear about its tree.
    pub watches_tree: bool,
    /// A destination's id.
    pub dest_id: String,
    /// The process is waiting to be started again.
    pub restart_pending: bool,
    /// The agent is frozen (SIGSTOP of the agent alone) until then: its machine hears
    /// nothing, its rsync runs on until its watchdog stops it.
    pub frozen_until: Option<Instant>,
    /// A source: the sub-mounts of its tree that are not mounted now (an automount that
    /// failed, a file set unlinked on this host).
    pub unmounted: BTreeSet<Vec<u8>>,
    /// What the machine will hear when it thaws, in order, with the session it came on.
    pub deferred: Vec<(Option<SessionId>, Input)>,
}

impl Client {
    /// Whether the process is running.
    pub fn alive(&self) -> bool {
        self.machine.is_some()
    }

    /// Chunks of its rsyncs that run and were not killed.
    pub fn live_chunks(&self) -> Vec<String> {
        self.jobs
            .values()
            .filter(|j| !j.killed)
            .map(|j| j.job.chunk.clone())
            .collect()
    }

    /// Whether it is partitioned from ZooKeeper now.
    pub fn partitioned(&self) -> bool {
        self.partition.is_some()
    }
}
