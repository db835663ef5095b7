//! A worker: claims a chunk and a destination slot in one multi, makes sure the chunk has no
//! result yet, reads it and runs rsync; then records the result and releases the claim in
//! one multi ([`result`]). Which chunk and destination it tries is [`pick`]'s choice.
//!
//! The worker's phases, one at a time:
//!
//! ```text
//! Idle ──claim──▶ Claiming ──claimed──▶ Reading ──chunk read──▶ Copying ──rsync ended──▶ Recording ──▶ Idle
//!   ▲                │ taken                │ finished already / dest gone / unreadable         │
//!   └────────────────┘                      └──────────────────────────────▶ Recording ─────────┘
//! ```

mod budget;
mod pick;
mod result;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::election::Role;
use super::session::show;
use super::{Source, Why};
use crate::plan::Chunk;
use crate::protocol::layout::Dir;
use crate::protocol::records::PlanRecord;
use crate::protocol::rsync_job::RsyncJob;
use crate::protocol::{CreateMode, JobId, Level, MultiOp, Output, ZkError, ZkOp, ZkReply};
pub(super) use result::RecordKind;

/// Paths of a chunk kept in a failure record.
const FAILED_PATHS_KEPT: usize = 5;

/// How long a worker cut off from ZooKeeper lets its rsync run. A client notices a silent
/// connection loss only after hearing nothing for up to 2/3 of the session timeout, and the
/// server may expire the session 1/3 later; so the rsync must stop within that third, or
/// another worker could claim the chunk while it still runs (the simulator found this with
/// the 2/3 used before, seed 1911).
pub(super) fn lease(session_timeout: Duration) -> Duration {
    session_timeout / 4
}

/// The requests of a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum WorkerWhy {
    /// The multi that claims a chunk and a destination slot.
    Claim { chunk: String, dest: String },
    /// Whether the claimed chunk has a result already.
    FinalCheck,
    /// The claimed chunk's units.
    ChunkRead { chunk: String, dest: String },
    /// The multi that records a result and releases the claim.
    Record { chunk: String, kind: RecordKind },
    /// The multi that releases the claim without a result (then exits, with a message).
    Release { then_exit: Option<String> },
    /// The reservation of `need` deletions of the `--max-delete` budget for the claimed
    /// chunk ([`budget`]).
    Reserve { chunk: String, need: u64 },
    /// Every reservation, to decide `mine`.
    Reservations {
        chunk: String,
        mine: String,
        need: u64,
    },
    /// The claim of the chunk, read to make sure it is still this worker's before `job`
    /// starts ([`Source::start_rsync`]).
    Confirm { id: JobId, job: Box<RsyncJob> },
}

/// An rsync job of the worker, for the chunk it claimed.
#[derive(Debug)]
pub(super) struct Job {
    pub(super) id: JobId,
    pub(super) chunk: String,
    pub(super) dest: String,
    /// A few of the chunk's paths, for a failure record.
    pub(super) paths: Vec<Vec<u8>>,
    /// Killed: its result does not count.
    pub(super) killed: bool,
    /// rsync has ended (reported by the driver), or never started.
    pub(super) ended: bool,
    /// Under the session's `--max-delete` budget: what another run of the chunk needs.
    pub(super) rerun: Option<Box<budget::Rerun>>,
}

/// Where the worker is in copying one chunk.
#[derive(Debug, Default)]
pub(super) enum WorkerPhase {
    /// Looking for work.
    #[default]
    Idle,
    /// The claim multi is in flight.
    Claiming,
    /// Claimed: checking that the chunk has no result and reading it; `finished` once it
    /// turned out to have one.
    Reading { finished: bool },
    /// rsync runs (or was killed and waits to be released).
    Copying(Job),
    /// The multi that records the result or releases the claim is in flight.
    Recording(Job),
}

/// A worker's state.
#[derive(Debug, Default)]
pub(super) struct Worker {
    pub(super) phase: WorkerPhase,
    /// Destinations this worker could not reach, and until when it leaves them alone.
    pub(super) suspect: BTreeMap<String, Instant>,
    /// The source tree is gone: it claims nothing more.
    pub(super) source_gone: bool,
    /// Since when it is disconnected from ZooKeeper.
    pub(super) disconnected_at: Option<Instant>,
}

impl Worker {
    /// The job of the claimed chunk, while rsync runs or its result is recorded.
    pub(super) fn job(&self) -> Option<&Job> {
        match &self.phase {
            WorkerPhase::Copying(job) | WorkerPhase::Recording(job) => Some(job),
            _ => None,
        }
    }

    fn job_mut(&mut self) -> Option<&mut Job> {
        match &mut self.phase {
            WorkerPhase::Copying(job) | WorkerPhase::Recording(job) => Some(job),
            _ => None,
        }
    }

    /// A killed job that has ended and whose claim is still to be released.
    pub(super) fn killed_job_waiting(&self) -> bool {
        matches!(&self.phase, WorkerPhase::Copying(job) if job.killed && job.ended)
    }

    /// Drops the job (its session is gone, and its claim with it).
    pub(super) fn forget_job(&mut self) {
        self.phase = WorkerPhase::Idle;
    }

    /// Back to looking for work, with a new session.
    pub(super) fn reset_phase(&mut self) {
        self.phase = WorkerPhase::Idle;
    }

    /// The job, taken out of the phase (which becomes idle).
    fn take_job(&mut self) -> Option<Job> {
        match std::mem::take(&mut self.phase) {
            WorkerPhase::Copying(job) | WorkerPhase::Recording(job) => Some(job),
            other => {
                self.phase = other;
                None
            }
        }
    }
}

impl Source {
    pub(super) fn on_worker_reply(&mut self, why: WorkerWhy, result: Result<ZkReply, ZkError>) {
        match why {
            WorkerWhy::Claim { chunk, dest } => self.on_claim(chunk, dest, result),
            WorkerWhy::FinalCheck => {
                if let (Ok(ZkReply::Exists(true)), WorkerPhase::Reading { finished }) =
                    (&result, &mut self.worker.phase)
                {
                    *finished = true;
                }
            }
            WorkerWhy::ChunkRead { chunk, dest } => {
                if matches!(self.worker.phase, WorkerPhase::Reading { finished: true }) {
                    self.core.reqs.log(
                        Level::Debug,
                        format!("chunk {chunk} is already finished: released"),
                    );
                    let id = self.core.reqs.job_id();
                    self.release(Job::not_run(id, chunk, dest, true), None);
                } else {
                    self.on_chunk_read(chunk, dest, result)
                }
            }
            WorkerWhy::Record { chunk, kind } => self.on_recorded(chunk, kind, result),
            WorkerWhy::Release { then_exit } => self.on_released(then_exit, result),
            WorkerWhy::Reserve { chunk, need } => self.on_reserved(chunk, need, result),
            WorkerWhy::Reservations { chunk, mine, need } => {
                self.on_reservations(chunk, mine, need, result)
            }
            WorkerWhy::Confirm { id, job } => self.on_confirmed(id, *job, result),
        }
    }

    /// Claims a chunk and a slot, if this worker is free and there is work it can do.
    pub(super) fn try_claim(&mut self) {
        if self.view.stop.is_some() {
            return self.on_stop();
        }
        if self.role != Role::Worker
            || !self.core.connected
            || !matches!(self.worker.phase, WorkerPhase::Idle)
            || self.worker.source_gone
            || self.view.plan.is_none()
        {
            return;
        }
        let spread = pick::spread(self.me.as_deref().unwrap_or(&self.cfg.client_id));
        let Some((chunk, dest)) =
            pick::pick(&self.view, &self.worker.suspect, self.core.now, spread)
        else {
            return;
        };
        let l = &self.cfg.layout;
        let ops = vec![
            MultiOp::Create {
                path: l.entry(Dir::Claims, &chunk),
                data: self.cfg.client_id.as_bytes().to_vec(),
                mode: CreateMode::Ephemeral,
            },
            MultiOp::Create {
                path: l.entry(Dir::Slots, &dest),
                data: chunk.as_bytes().to_vec(),
                mode: CreateMode::Ephemeral,
            },
        ];
        self.worker.phase = WorkerPhase::Claiming;
        self.core.reqs.send(
            ZkOp::Multi(ops),
            Why::Worker(WorkerWhy::Claim { chunk, dest }),
        );
    }

    fn on_claim(&mut self, chunk: String, dest: String, result: Result<ZkReply, ZkError>) {
        self.worker.phase = WorkerPhase::Idle;
        match result {
            Ok(_) => {
                self.view.claims.insert(chunk.clone());
                self.view.slots.insert(dest.clone());
                // Our view of done/ and failed/ may lag behind that of claims/ (a worker that
                // just finished this chunk released its claim in the same multi): look again,
                // after the claim, before copying. Replies come in order, so these are known
                // when the chunk's data arrives.
                self.worker.phase = WorkerPhase::Reading { finished: false };
                for dir in [Dir::Done, Dir::Failed] {
                    let path = self.cfg.layout.entry(dir, &chunk);
                    self.core.reqs.send(
                        ZkOp::Exists { path, watch: false },
                        Why::Worker(WorkerWhy::FinalCheck),
                    );
                }
                let path = self.cfg.layout.entry(Dir::Plan, &chunk);
                self.core.reqs.send(
                    ZkOp::GetData { path, watch: false },
                    Why::Worker(WorkerWhy::ChunkRead { chunk, dest }),
                );
            }
            Err(ZkError::MultiFailed { index, error }) if *error == ZkError::NodeExists => {
                if index == 0 {
                    self.view.claims.insert(chunk);
                } else {
                    self.view.slots.insert(dest);
                }
                self.try_claim();
            }
            Err(e) => {
                // NoNode: the session is being cleaned up; the stop watch will tell.
                self.core
                    .reqs
                    .log(Level::Debug, format!("claim of chunk {chunk} failed: {e}"));
            }
        }
    }

    fn on_chunk_read(&mut self, chunk: String, dest: String, result: Result<ZkReply, ZkError>) {
        self.worker.phase = WorkerPhase::Idle;
        let id = self.core.reqs.job_id();
        let decoded = match result {
            Ok(ZkReply::Data(data)) => {
                Chunk::decode(&data).map_err(|e| format!("chunk {chunk} is unreadable: {e}"))
            }
            other => Err(format!("cannot read chunk {chunk}: {}", show(&other))),
        };
        let record = self.view.dests.get(&dest).cloned().flatten();
        let plan = self.view.plan.clone().unwrap_or_else(PlanRecord::building);
        match (decoded, record) {
            (Ok(_), Some(_)) if !self.core.connected => {
                // The reply came after the connection was lost: an rsync started now would
                // have no lease behind it. Give the chunk back (the release is sent once
                // connected; if the session expires meanwhile, the claim goes with it).
                self.core.reqs.log(
                    Level::Warn,
                    format!("chunk {chunk}: disconnected from ZooKeeper before rsync started: giving it back"),
                );
                self.release(Job::not_run(id, chunk, dest, true), None);
            }
            (Ok(c), Some(record)) => {
                let mut job = RsyncJob::build(
                    &chunk,
                    &c,
                    &dest,
                    &record.url(),
                    record.auth.as_ref().map(|a| a.secret.clone()),
                    &self.cfg.params,
                    &plan,
                );
                job.dest_tree = record.tree.clone();
                let paths = c
                    .units
                    .iter()
                    .take(FAILED_PATHS_KEPT)
                    .map(|u| u.path.as_bytes().to_vec())
                    .collect();
                self.core.reqs.log(
                    Level::Debug,
                    format!("chunk {chunk}: {} units to {}", c.units.len(), record.url()),
                );
                let rerun = self
                    .cfg
                    .params
                    .delete_budget()
                    .map(|_| budget::Rerun::new(job.clone()));
                self.worker.phase = WorkerPhase::Copying(Job {
                    id,
                    chunk,
                    dest,
                    paths,
                    killed: false,
                    ended: false,
                    rerun,
                });
                self.start_rsync(id, job);
            }
            // The destination left between the claim and now.
            (Ok(_), None) => self.release(Job::not_run(id, chunk, dest, true), None),
            (Err(message), _) => {
                self.worker.phase = WorkerPhase::Copying(Job::not_run(id, chunk, dest, false));
                self.record_failure(None, message, true);
            }
        }
    }
}

impl Source {
    /// Starts `job`'s rsync for the claimed chunk, at once when the machine has been
    /// hearing from the world; after a silence of more than a lease (the agent may have
    /// been frozen, with what it is handling now queued since before), only once a read of
    /// the claim, sent now, shows it is still this worker's: a session that expired
    /// meanwhile answers with its expiry, and another worker's claim with its name.
    pub(super) fn start_rsync(&mut self, id: JobId, job: RsyncJob) {
        let silent = match (self.core.before, self.core.now) {
            (Some(before), Some(now)) => now.duration_since(before) > self.lease(),
            _ => false,
        };
        if !silent {
            return self.core.reqs.push(Output::Spawn { id, job });
        }
        let path = self.cfg.layout.entry(Dir::Claims, &job.chunk);
        self.core.reqs.send(
            ZkOp::GetData { path, watch: false },
            Why::Worker(WorkerWhy::Confirm {
                id,
                job: Box::new(job),
            }),
        );
    }

    fn on_confirmed(&mut self, id: JobId, job: RsyncJob, result: Result<ZkReply, ZkError>) {
        let WorkerPhase::Copying(waiting) = &mut self.worker.phase else {
            return;
        };
        if waiting.id != id {
            return;
        }
        if waiting.killed {
            // Its lease ran out meanwhile: no rsync was started, the claim is given back.
            waiting.ended = true;
            if self.core.connected && self.core.joined {
                self.release_current(None);
            }
            return;
        }
        match result {
            Ok(ZkReply::Data(owner)) if owner == self.cfg.client_id.as_bytes() => {
                self.start_rsync(id, job)
            }
            other => {
                let message = format!(
                    "chunk {}: its claim is no longer this worker's ({}): not copied",
                    job.chunk,
                    show(&other)
                );
                self.core.reqs.log(Level::Warn, message);
                self.worker.forget_job();
                self.on_view_changed();
            }
        }
    }
}

impl Job {
    /// A job for a claimed chunk that runs no rsync.
    fn not_run(id: JobId, chunk: String, dest: String, killed: bool) -> Job {
        Job {
            id,
            chunk,
            dest,
            paths: Vec::new(),
            killed,
            ended: true,
            rerun: None,
        }
    }
}
