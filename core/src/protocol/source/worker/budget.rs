//! A chunk's deletions under the session's `--max-delete` budget
//! ([`crate::protocol::delete_budget`]): a run that stopped at its limit (at first, 0) is
//! followed by a dry run of its deleting invocations that counts what is left to delete;
//! the worker reserves that many and runs again with that allowance once the reservation
//! is granted; a reservation the budget cannot take fails the chunk for good, with the
//! numbers.

use super::{Job, WorkerPhase, WorkerWhy};
use crate::protocol::delete_budget::{self, reservation_prefix};
use crate::protocol::itemized::{Itemized, CHUNK_ITEM_BYTES};
use crate::protocol::layout::Dir;
use crate::protocol::rsync_job::RsyncJob;
use crate::protocol::source::{Source, Why};
use crate::protocol::{CreateMode, Level, ZkError, ZkOp, ZkReply};
use crate::rsync_stats::RsyncStats;

/// rsync runs of one chunk in one claim under the budget, counting runs included: the first,
/// a count, a run with the reserved allowance, and again only when the source changed in
/// between.
pub(super) const MAX_DELETE_RUNS: u32 = 7;

/// What a job under a budget keeps between its runs.
#[derive(Debug)]
pub(in crate::protocol::source) struct Rerun {
    /// The job as built, to run again with another allowance.
    pub(super) rsync: RsyncJob,
    /// Runs so far.
    pub(super) runs: u32,
    /// The run under way is the dry run that counts the deletions to reserve.
    pub(super) counting: bool,
    /// The stats of the runs so far.
    pub(super) stats: RsyncStats,
    /// Their itemized changes, with `--itemize`.
    pub(super) items: Itemized,
}

impl Rerun {
    pub(super) fn new(rsync: RsyncJob) -> Box<Rerun> {
        Box::new(Rerun {
            rsync,
            runs: 1,
            counting: false,
            stats: RsyncStats::default(),
            items: Itemized::default(),
        })
    }
}

impl Source {
    /// The job's rsync stopped at its allowance, holding deletions back: counts them with a
    /// dry run of the job's deleting invocations (rsync's own count of what it held back
    /// leaves out what the directories it did not delete hold).
    pub(super) fn count_deletions(&mut self, stats: RsyncStats, items: Itemized) {
        let id = self.core.reqs.job_id();
        let WorkerPhase::Copying(job) = &mut self.worker.phase else {
            return;
        };
        let Some(rerun) = job.rerun.as_mut() else {
            return;
        };
        rerun.stats = rerun.stats.then(stats);
        rerun.items.extend_bounded(items, CHUNK_ITEM_BYTES);
        if rerun.runs >= MAX_DELETE_RUNS {
            let error = format!("rsync still held back deletions after {MAX_DELETE_RUNS} runs under the --max-delete budget");
            return self.record_failure(Some(25), error, true);
        }
        rerun.runs += 1;
        rerun.counting = true;
        let mut count = rerun.rsync.clone();
        count.invocations.retain(|inv| inv.deletes());
        for inv in &mut count.invocations {
            inv.args.push("--dry-run".to_owned());
        }
        count.max_delete = None;
        job.id = id;
        self.start_rsync(id, count);
    }

    /// The dry run counted `stats.deleted_files` deletions to go: reserves them.
    pub(super) fn reserve_deletions(&mut self, stats: RsyncStats) {
        let WorkerPhase::Copying(job) = &mut self.worker.phase else {
            return;
        };
        let Some(rerun) = job.rerun.as_mut() else {
            return;
        };
        rerun.counting = false;
        job.ended = true;
        let need = stats.deleted_files;
        if need == 0 {
            // The source has changed since: nothing is left to delete.
            return self.record_done(0, RsyncStats::default(), Itemized::default());
        }
        let chunk = job.chunk.clone();
        let path = self
            .cfg
            .layout
            .entry(Dir::Deletes, &reservation_prefix(&chunk, need));
        self.core.reqs.send(
            ZkOp::Create {
                path,
                data: Vec::new(),
                mode: CreateMode::PersistentSequential,
            },
            Why::Worker(WorkerWhy::Reserve { chunk, need }),
        );
    }

    /// The reservation is made: every reservation is read to decide it.
    pub(super) fn on_reserved(
        &mut self,
        chunk: String,
        need: u64,
        result: Result<ZkReply, ZkError>,
    ) {
        if !self.reserving(&chunk) {
            return;
        }
        let mine = match result {
            Ok(ZkReply::Created(path)) => path.rsplit('/').next().unwrap_or_default().to_owned(),
            other => {
                let message = format!(
                    "chunk {chunk}: cannot reserve deletions ({}): giving it back",
                    super::show(&other)
                );
                self.core.reqs.log(Level::Warn, message);
                return self.release_current(None);
            }
        };
        let path = self.cfg.layout.dir(Dir::Deletes);
        self.core.reqs.send(
            ZkOp::GetChildren { path, watch: false },
            Why::Worker(WorkerWhy::Reservations { chunk, mine, need }),
        );
    }

    /// Every reservation is known: runs the job again with `need` more deletions when the
    /// budget grants them, or fails the chunk for good.
    pub(super) fn on_reservations(
        &mut self,
        chunk: String,
        mine: String,
        need: u64,
        result: Result<ZkReply, ZkError>,
    ) {
        if !self.reserving(&chunk) {
            return;
        }
        let budget = self.cfg.params.delete_budget().unwrap_or(0);
        let decision = match &result {
            Ok(ZkReply::Children(names)) => delete_budget::decide(names, budget, &mine),
            _ => None,
        };
        let Some(decision) = decision else {
            let message = format!(
                "chunk {chunk}: cannot read the --max-delete reservations ({}): giving it back",
                super::show(&result)
            );
            self.core.reqs.log(Level::Warn, message);
            return self.release_current(None);
        };
        if !decision.granted {
            let error = format!(
                "the session's --max-delete budget of {budget} would be exceeded: this chunk needs {need} more deletions and {} are spent or held; nothing more was deleted (raise --max-delete to allow more)",
                decision.held_before
            );
            return self.record_failure(Some(25), error, true);
        }
        if !self.core.connected {
            self.core.reqs.log(
                Level::Warn,
                format!("chunk {chunk}: disconnected from ZooKeeper before rsync started: giving it back"),
            );
            return self.release_current(None);
        }
        let id = self.core.reqs.job_id();
        let WorkerPhase::Copying(job) = &mut self.worker.phase else {
            return;
        };
        let Some(rerun) = job.rerun.as_mut() else {
            return;
        };
        rerun.runs += 1;
        let mut rsync = rerun.rsync.clone();
        rsync.max_delete = Some(need);
        job.id = id;
        job.ended = false;
        let message = format!("chunk {chunk}: {need} deletions granted by the --max-delete budget ({} held before): running rsync again", decision.held_before);
        self.core.reqs.log(Level::Info, message);
        self.start_rsync(id, rsync);
    }

    /// Whether the worker still waits on the budget for `chunk`'s job (not killed since).
    fn reserving(&mut self, chunk: &str) -> bool {
        let job: Option<&Job> = match &self.worker.phase {
            WorkerPhase::Copying(job) if job.chunk == chunk && job.ended => Some(job),
            _ => None,
        };
        match job {
            Some(job) if job.killed => {
                // The lease ran out meanwhile: the claim is given back once connected.
                if self.core.connected && self.core.joined {
                    self.release_current(None);
                }
                false
            }
            Some(_) => true,
            None => false,
        }
    }
}
