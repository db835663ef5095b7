//! The master cleans up: once the clients have left (or the leave deadline passed) it
//! makes sure every result is read, records the outcome in `summary` (so that a master
//! taking over reports the same), deletes the session's znodes in batches and the rest in a
//! final multi, then reports the summary and exits. With `--keep` (the default) the final
//! multi leaves the session's znode with one child, `outcome`, for `zkrsync status` and
//! for late clients of the same run; without, it deletes the session's znode too.

use super::MasterPhase;
use std::collections::BTreeSet;

use crate::protocol::itemized::{Itemized, SESSION_ITEMS};
use crate::protocol::layout::Dir;
use crate::protocol::records::{FailedRecord, OutcomeRecord, SummaryRecord};
use crate::protocol::source::session::cleaned_dirs;
use crate::protocol::source::view::ViewWhy;
use crate::protocol::source::{Source, Why};
use crate::protocol::{
    exit_code, CreateMode, FailedChunk, Level, MultiOp, Output, Summary, ZkError, ZkOp, ZkReply,
};

/// Cleanup rounds before the master gives up and reports znodes left behind.
const CLEAN_ROUNDS: u32 = 3;
/// Deletes in one multi during cleanup.
const CLEAN_BATCH: usize = 500;

/// The requests of the cleanup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::protocol::source) enum CleanupWhy {
    /// Listing a directory to clean.
    CleanList,
    /// Deleting a batch of znodes.
    CleanBatch,
    /// The final multi that deletes the session.
    CleanFinal,
    /// Deleting a standing-by source's election node.
    CleanStandby,
    /// Reading the outcome an earlier master recorded.
    SummaryRead,
    /// Recording the outcome.
    SummaryWrite,
    /// Reading the outcome of the run this one retries (`retried`), if it is a retry.
    RetriedRead,
}

impl Source {
    pub(super) fn on_cleanup_reply(
        &mut self,
        why: CleanupWhy,
        op: ZkOp,
        result: Result<ZkReply, ZkError>,
    ) {
        match why {
            // Gone already or deleted: either way it is not in the way of the cleanup.
            CleanupWhy::CleanStandby => {}
            CleanupWhy::SummaryRead => {
                self.list_answered();
                if let Ok(ZkReply::Data(data)) = result {
                    match SummaryRecord::decode(&data) {
                        Ok(r) => {
                            self.master.recorded = Some(r);
                            self.master.summary_written = true;
                        }
                        Err(e) => self.core.reqs.log(
                            Level::Warn,
                            format!("the recorded summary is unreadable ({e}): counting again"),
                        ),
                    }
                }
                self.master_clean_more();
            }
            CleanupWhy::RetriedRead => {
                self.list_answered();
                if let Ok(ZkReply::Data(data)) = result {
                    match OutcomeRecord::decode(&data) {
                        Ok(r) => self.master.retried = Some(r),
                        Err(e) => self.core.reqs.log(
                            Level::Warn,
                            format!("the outcome of the retried run is unreadable ({e}): this run's outcome counts only its own chunks"),
                        ),
                    }
                    self.master.retried_exists = true;
                }
                self.master_clean_more();
            }
            CleanupWhy::SummaryWrite => {
                self.list_answered();
                if let Err(e) = &result {
                    if *e != ZkError::NodeExists {
                        self.core.reqs.log(
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
            CleanupWhy::CleanList => {
                self.list_answered();
                if let (Ok(ZkReply::Children(names)), ZkOp::GetChildren { path, .. }) =
                    (result, &op)
                {
                    for name in names {
                        self.master.to_delete.push(format!("{path}/{name}"));
                    }
                }
                self.master_clean_more();
            }
            CleanupWhy::CleanBatch => self.on_batch_deleted(op, result),
            CleanupWhy::CleanFinal => self.on_final_deleted(result),
        }
    }

    fn list_answered(&mut self) {
        if let MasterPhase::Cleaning { lists, .. } = &mut self.master.phase {
            *lists -= 1;
        }
    }

    fn on_batch_deleted(&mut self, op: ZkOp, result: Result<ZkReply, ZkError>) {
        if let MasterPhase::Cleaning { batches, .. } = &mut self.master.phase {
            *batches -= 1;
        }
        if let (Err(_), ZkOp::Multi(ops)) = (&result, &op) {
            // Some znode went meanwhile (a client released a claim): delete the batch one
            // by one instead, whatever is still there.
            for o in ops {
                if let MultiOp::Delete { path } = o {
                    if let MasterPhase::Cleaning { batches, .. } = &mut self.master.phase {
                        *batches += 1;
                    }
                    self.core.reqs.send(
                        ZkOp::Delete { path: path.clone() },
                        Why::from(CleanupWhy::CleanBatch),
                    );
                }
            }
        }
        self.master_clean_more();
    }

    fn on_final_deleted(&mut self, result: Result<ZkReply, ZkError>) {
        if result.is_err() && self.master.clean_rounds < CLEAN_ROUNDS {
            // Something appeared meanwhile (a late claim, a standby): look again.
            self.master.clean_rounds += 1;
            self.master.phase = MasterPhase::Stopping;
            return self.master_clean_start();
        }
        let left_behind = result.is_err();
        if let Err(e) = &result {
            self.core.reqs.log(
                Level::Warn,
                format!("znodes of session {} left behind ({e}): a client is still connected; run zkrsync abort after it has gone", self.cfg.layout.session()),
            );
        }
        self.master_finish(left_behind);
    }

    /// Starts the cleanup: re-reads the results, the recorded outcome, and every directory.
    pub(super) fn master_clean_start(&mut self) {
        if !matches!(self.master.phase, MasterPhase::Stopping) {
            return;
        }
        // Make sure every result is read before the records go.
        for dir in [Dir::Done, Dir::Failed] {
            let op = ZkOp::GetChildren {
                path: self.cfg.layout.dir(dir),
                watch: false,
            };
            self.core.reqs.send(op, Why::View(ViewWhy::Children(dir)));
        }
        // An earlier master may have recorded the outcome and deleted results already.
        let op = ZkOp::GetData {
            path: self.cfg.layout.summary(),
            watch: false,
        };
        self.core.reqs.send(op, Why::from(CleanupWhy::SummaryRead));
        let op = ZkOp::GetData {
            path: self.cfg.layout.retried(),
            watch: false,
        };
        self.core.reqs.send(op, Why::from(CleanupWhy::RetriedRead));
        let mut lists = 2;
        for dir in cleaned_dirs() {
            lists += 1;
            let op = ZkOp::GetChildren {
                path: self.cfg.layout.dir(dir),
                watch: false,
            };
            self.core.reqs.send(op, Why::from(CleanupWhy::CleanList));
        }
        self.master.phase = MasterPhase::Cleaning { lists, batches: 0 };
    }

    /// The next step of the cleanup, once the answers it waits for are in.
    pub(super) fn master_clean_more(&mut self) {
        let MasterPhase::Cleaning { lists, batches } = self.master.phase else {
            return;
        };
        if lists > 0 || !self.master.reading.is_empty() {
            return;
        }
        // Results are all read now (the children lists were re-read first).
        let unread = self
            .view
            .done
            .iter()
            .any(|c| !self.master.done_stats.contains_key(c))
            || self
                .view
                .failed
                .iter()
                .any(|c| !self.master.failed.contains_key(c));
        if unread {
            return self.master_read_results();
        }
        if !self.master.summary_written {
            return self.write_summary(batches);
        }
        let kept: BTreeSet<String> = self
            .kept_chunks()
            .iter()
            .map(|c| self.cfg.layout.entry(Dir::Plan, c))
            .collect();
        self.master.to_delete.retain(|p| !kept.contains(p));
        if !self.master.to_delete.is_empty() {
            return self.delete_batches(batches);
        }
        if batches == 0 {
            self.delete_session();
        }
    }

    /// What the summary record says: the earlier master's, when one recorded it.
    fn summary_record(&self) -> SummaryRecord {
        if let Some(r) = &self.master.recorded {
            return r.clone();
        }
        let p = self.progress();
        SummaryRecord {
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
        }
    }

    /// The summary the outcome keeps: this run's, after the outcome of the run it retries.
    fn outcome_summary(&self) -> SummaryRecord {
        let this = self.summary_record();
        match &self.master.retried {
            Some(prev) => prev.summary.then(this),
            None => this,
        }
    }

    /// Records the outcome before any result goes, for a master that takes over.
    fn write_summary(&mut self, batches: usize) {
        let record = self.summary_record();
        self.master.summary_written = true;
        self.master.phase = MasterPhase::Cleaning { lists: 1, batches };
        let op = ZkOp::Create {
            path: self.cfg.layout.summary(),
            data: record.encode(),
            mode: CreateMode::Persistent,
        };
        self.core.reqs.send(op, Why::from(CleanupWhy::SummaryWrite));
    }

    /// The chunks the outcome keeps for `--retry-failed`: the failed ones, when it is kept.
    fn kept_chunks(&self) -> BTreeSet<String> {
        if self.cfg.keep.is_zero() {
            return BTreeSet::new();
        }
        match &self.master.recorded {
            Some(r) => r.failed.iter().map(|(c, _)| c.clone()).collect(),
            None => self.master.failed.keys().cloned().collect(),
        }
    }

    fn delete_batches(&mut self, batches: usize) {
        let mut sent = 0;
        while !self.master.to_delete.is_empty() {
            let n = self.master.to_delete.len().min(CLEAN_BATCH);
            let ops = self
                .master
                .to_delete
                .drain(..n)
                .map(|path| MultiOp::Delete { path })
                .collect();
            self.core
                .reqs
                .send(ZkOp::Multi(ops), Why::from(CleanupWhy::CleanBatch));
            sent += 1;
        }
        self.master.phase = MasterPhase::Cleaning {
            lists: 0,
            batches: batches + sent,
        };
    }

    /// The final multi: the directories, config, stop, summary, our election node, the
    /// election, and the session's znode or (`--keep`) the creation of its outcome. Sources standing by are deleted one by one before
    /// (they see their node go and leave; some may be gone already).
    fn delete_session(&mut self) {
        let l = self.cfg.layout.clone();
        // With failed chunks kept for --retry-failed, their plan and the config stay too.
        let retry = !self.kept_chunks().is_empty();
        let mut ops: Vec<MultiOp> = cleaned_dirs()
            .filter(|d| !(retry && *d == Dir::Plan))
            .map(|d| MultiOp::Delete { path: l.dir(d) })
            .collect();
        if !retry {
            ops.push(MultiOp::Delete { path: l.config() });
        }
        for path in [l.stop(), l.summary()] {
            ops.push(MultiOp::Delete { path });
        }
        if self.master.retried_exists {
            ops.push(MultiOp::Delete { path: l.retried() });
        }
        // Before the multi, alone: a session no destination joined has none.
        self.core.reqs.send(
            ZkOp::Delete { path: l.desttree() },
            Why::from(CleanupWhy::CleanStandby),
        );
        for name in self.view.election.clone() {
            if Some(&name) != self.me.as_ref() {
                let op = ZkOp::Delete {
                    path: l.entry(Dir::Election, &name),
                };
                self.core.reqs.send(op, Why::from(CleanupWhy::CleanStandby));
            }
        }
        if let Some(me) = &self.me {
            ops.push(MultiOp::Delete {
                path: l.entry(Dir::Election, me),
            });
        }
        ops.push(MultiOp::Delete { path: l.election() });
        if self.cfg.keep.is_zero() {
            ops.push(MultiOp::Delete {
                path: l.root().to_owned(),
            });
        } else {
            let outcome = OutcomeRecord {
                run: self.cfg.run.clone(),
                keep_secs: self.cfg.keep.as_secs().max(1),
                dry_run: self.cfg.params.dry_run,
                summary: self.outcome_summary(),
            };
            ops.push(MultiOp::Create {
                path: l.outcome(),
                data: outcome.encode(),
                mode: CreateMode::Persistent,
            });
        }
        self.master.summary = Some(self.progress());
        self.master.phase = MasterPhase::Cleaning {
            lists: 0,
            batches: usize::MAX,
        };
        self.core
            .reqs
            .send(ZkOp::Multi(ops), Why::from(CleanupWhy::CleanFinal));
    }

    fn master_finish(&mut self, left_behind: bool) {
        self.master.phase = MasterPhase::Finished;
        let (summary, code, message) = self.final_summary(left_behind);
        // A last report with every result counted: progress streams end at the totals.
        self.core
            .reqs
            .push(Output::Progress(summary.progress.clone()));
        self.core.reqs.push(Output::Summary(summary));
        self.core.exit(code, message);
    }

    /// The master's summary, its exit code and message.
    pub(in crate::protocol::source) fn final_summary(
        &mut self,
        left_behind: bool,
    ) -> (Summary, i32, Option<String>) {
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
            // The record keeps only each failed chunk's error; what this master read of a
            // chunk's failure record (its worker, code, paths) is kept, also when the
            // record is its own from an earlier round of its cleanup.
            failed = r
                .failed
                .into_iter()
                .map(|(chunk, error)| {
                    let record = match self.master.failed.get(&chunk) {
                        Some(read) if read.error == error => read.clone(),
                        _ => FailedRecord {
                            error,
                            ..FailedRecord::default()
                        },
                    };
                    FailedChunk { chunk, record }
                })
                .collect();
        }
        if let Some(prev) = &self.master.retried {
            // A retry: the counts are the whole session's, its failures this run's.
            let p = &prev.summary;
            progress.chunks = p.chunks;
            progress.units = p.units;
            progress.done += p.done;
            progress.stats = p.stats + progress.stats;
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
        let items = Itemized::merged(self.master.done_items.values(), SESSION_ITEMS);
        let summary = Summary {
            progress,
            failed,
            left_behind,
            items,
        };
        (summary, code, message)
    }
}
