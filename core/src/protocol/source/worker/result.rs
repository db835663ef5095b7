//! How a worker's rsync ended and what it records: done (with the claim's release, in one
//! multi), a failed try, a failure for good after `--attempts`, or only the release (the
//! destination failed, the job was killed, the source tree is gone).

use std::time::Instant;

use super::{Job, WorkerPhase, WorkerWhy};
use crate::protocol::itemized::{Itemized, CHUNK_ITEM_BYTES};
use crate::protocol::layout::{self, Dir};
use crate::protocol::records::{DoneRecord, FailedRecord};
use crate::protocol::source::{Source, Why};
use crate::protocol::{
    CreateMode, JobId, Level, MultiOp, Output, RsyncOutcome, Timer, ZkError, ZkOp, ZkReply,
};
use crate::rsync_exit::RsyncExit;

/// Hand-backs of one chunk (destinations that could not be reached) before it fails for
/// good: a destination that dies is gone from `dests/` within a session timeout, so only a
/// chunk that no destination can take (a name the destination cannot store, …) gets here.
pub(in crate::protocol::source) const MAX_HANDBACKS: usize = 10;

/// What a record of a chunk's result says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::protocol::source) enum RecordKind {
    /// Copied.
    Done,
    /// Failed for good.
    Failed,
    /// A failed attempt; the chunk may be tried again.
    Try,
}

impl Source {
    pub(in crate::protocol::source) fn on_rsync_done(&mut self, id: JobId, outcome: RsyncOutcome) {
        let WorkerPhase::Copying(job) = &mut self.worker.phase else {
            return;
        };
        if job.id != id {
            return;
        }
        if job.killed {
            job.ended = true;
            if self.core.connected && self.core.joined {
                self.release_current(None);
            }
            return;
        }
        match outcome {
            RsyncOutcome::Exited { code, stats, .. }
                if job.rerun.as_ref().is_some_and(|r| r.counting)
                    && RsyncExit::of(code).is_done() =>
            {
                self.reserve_deletions(stats)
            }
            RsyncOutcome::Exited {
                code: Some(25),
                stats,
                deletions_skipped,
                items,
                ..
            } if deletions_skipped > 0 && job.rerun.is_some() => self.count_deletions(stats, items),
            RsyncOutcome::Exited {
                code,
                stats,
                stderr_tail,
                items,
                ..
            } => match RsyncExit::of(code) {
                exit @ (RsyncExit::Success | RsyncExit::Vanished) => {
                    if exit == RsyncExit::Vanished {
                        let message = format!(
                            "chunk {}: some files vanished during the transfer (rsync exit 24)",
                            job.chunk
                        );
                        self.core.reqs.log(Level::Warn, message);
                    }
                    self.record_done(code.unwrap_or(0), stats, items);
                }
                RsyncExit::DestUnreachable(code) => self.dest_failed(code, &stderr_tail),
                RsyncExit::DeleteLimit => {
                    let error = format!(
                        "rsync stopped deleting at the --max-delete limit (exit 25): {}",
                        last_line(&stderr_tail)
                    );
                    self.record_failure(code, error, true);
                }
                RsyncExit::Failed(c) => {
                    let error = format!("rsync exited with {c}: {}", last_line(&stderr_tail));
                    self.record_failure(code, error, false);
                }
                RsyncExit::Killed => {
                    let error =
                        format!("rsync was killed by a signal: {}", last_line(&stderr_tail));
                    self.record_failure(code, error, false);
                }
            },
            RsyncOutcome::Overlap(reason) => {
                self.worker.source_gone = true;
                self.release_current(Some(format!("{reason}: no rsync was run")));
            }
            RsyncOutcome::SourceMissing(reason) => {
                self.worker.source_gone = true;
                let message = format!("source tree {reason}: no rsync was run, so nothing can be deleted on its account; mount or restore it and start this source again");
                self.release_current(Some(message));
            }
            RsyncOutcome::SpawnFailed(error) | RsyncOutcome::UnitChanged(error) => {
                self.record_failure(None, error, false)
            }
            RsyncOutcome::DeleteRefused(error) => self.record_failure(None, error, true),
        }
    }

    pub(super) fn record_done(
        &mut self,
        code: i32,
        stats: crate::rsync_stats::RsyncStats,
        items: Itemized,
    ) {
        let Some(job) = self.worker.take_job() else {
            return;
        };
        let earlier = job.rerun.as_ref().map(|r| r.stats).unwrap_or_default();
        let mut all_items = job
            .rerun
            .as_ref()
            .map(|r| r.items.clone())
            .unwrap_or_default();
        all_items.extend_bounded(items, CHUNK_ITEM_BYTES);
        let record = DoneRecord {
            worker: self.cfg.client_id.clone(),
            dest: job.dest.clone(),
            stats: earlier.then(stats),
            code,
            items: all_items,
        };
        let done = MultiOp::Create {
            path: self.cfg.layout.entry(Dir::Done, &job.chunk),
            data: record.encode(),
            mode: CreateMode::Persistent,
        };
        self.record(job, done, RecordKind::Done);
    }

    /// The destination could not be reached or went away mid-transfer: not the chunk's
    /// fault. Gives the chunk back with a hand-back record (the chunk fails for good after
    /// [`MAX_HANDBACKS`], with the reason), and leaves that destination alone for a session
    /// timeout (a dead one is gone from dests/ by then).
    fn dest_failed(&mut self, code: i32, stderr_tail: &str) {
        let Some(job) = self.worker.job() else { return };
        let dest = job.dest.clone();
        let chunk = job.chunk.clone();
        let handbacks = self.view.handbacks.get(&chunk).map_or(0, Vec::len) + 1;
        let error = format!("rsync exit {code}: {}", last_line(stderr_tail));
        if handbacks >= MAX_HANDBACKS {
            let error = format!("handed back {handbacks} times, no destination could take it (last: destination {dest}, {error})");
            return self.record_failure(Some(code), error, true);
        }
        let message = format!(
            "destination {dest} failed ({error}): giving chunk {chunk} back ({handbacks} of {MAX_HANDBACKS}), not using {dest} for {} s",
            self.cfg.session_timeout.as_secs()
        );
        self.core.reqs.log(Level::Warn, message);
        if let Some(now) = self.core.now {
            let until = now + self.cfg.session_timeout;
            self.worker.suspect.insert(dest.clone(), until);
            self.core.timers.set(Timer::Suspect, until);
        }
        let Some(job) = self.worker.take_job() else {
            return;
        };
        let record = FailedRecord {
            worker: self.cfg.client_id.clone(),
            dest: dest.clone(),
            code: Some(code),
            error,
            paths: job.paths.clone(),
        };
        let back = MultiOp::Create {
            path: self
                .cfg
                .layout
                .entry(Dir::Tries, &layout::handback_prefix(&chunk, &dest)),
            data: record.encode(),
            mode: CreateMode::PersistentSequential,
        };
        self.record(job, back, RecordKind::Try);
    }

    /// Records a failed attempt of the current job: a try, or the final failure.
    pub(in crate::protocol::source) fn record_failure(
        &mut self,
        code: Option<i32>,
        error: String,
        final_now: bool,
    ) {
        let Some(job) = self.worker.take_job() else {
            return;
        };
        let attempts = self.view.tries.get(&job.chunk).map_or(0, Vec::len) as u32 + 1;
        let last = final_now || attempts >= self.cfg.params.attempts.max(1);
        self.core.reqs.log(
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
        let (result, kind) = if last {
            let op = MultiOp::Create {
                path: l.entry(Dir::Failed, &job.chunk),
                data: record.encode(),
                mode: CreateMode::Persistent,
            };
            (op, RecordKind::Failed)
        } else {
            let op = MultiOp::Create {
                path: l.entry(Dir::Tries, &layout::try_prefix(&job.chunk, &job.dest)),
                data: record.encode(),
                mode: CreateMode::PersistentSequential,
            };
            (op, RecordKind::Try)
        };
        self.record(job, result, kind);
    }

    /// Releases the job's claim and slot and creates its result, in one multi.
    fn record(&mut self, job: Job, result: MultiOp, kind: RecordKind) {
        let mut ops = self.release_ops(&job);
        ops.push(result);
        let chunk = job.chunk.clone();
        self.worker.phase = WorkerPhase::Recording(job);
        self.core.reqs.send(
            ZkOp::Multi(ops),
            Why::Worker(WorkerWhy::Record { chunk, kind }),
        );
    }

    fn release_ops(&self, job: &Job) -> Vec<MultiOp> {
        let l = &self.cfg.layout;
        vec![
            MultiOp::Delete {
                path: l.entry(Dir::Claims, &job.chunk),
            },
            MultiOp::Delete {
                path: l.entry(Dir::Slots, &job.dest),
            },
        ]
    }

    /// Gives the current job's chunk and slot back without a result.
    pub(in crate::protocol::source) fn release_current(&mut self, then_exit: Option<String>) {
        if let Some(job) = self.worker.take_job() {
            self.release(job, then_exit);
        }
    }

    /// Gives `job`'s chunk and slot back without a result.
    pub(super) fn release(&mut self, job: Job, then_exit: Option<String>) {
        let ops = self.release_ops(&job);
        self.worker.phase = WorkerPhase::Recording(job);
        self.core.reqs.send(
            ZkOp::Multi(ops),
            Why::Worker(WorkerWhy::Release { then_exit }),
        );
    }

    pub(super) fn on_recorded(
        &mut self,
        chunk: String,
        kind: RecordKind,
        result: Result<ZkReply, ZkError>,
    ) {
        match result {
            Ok(_) => {
                // A fact now, whatever the (maybe older) view of done/ says: do not claim
                // this chunk again.
                match kind {
                    RecordKind::Done => {
                        self.view.done.insert(chunk);
                    }
                    RecordKind::Failed => {
                        self.view.failed.insert(chunk);
                    }
                    RecordKind::Try => {}
                }
                self.worker.phase = WorkerPhase::Idle;
                self.on_view_changed();
            }
            Err(e) => {
                self.core.reqs.log(Level::Warn, format!("cannot record the result of chunk {chunk} ({e}): starting over with a new session"));
                self.restart_session();
            }
        }
    }

    pub(super) fn on_released(
        &mut self,
        then_exit: Option<String>,
        result: Result<ZkReply, ZkError>,
    ) {
        self.worker.phase = WorkerPhase::Idle;
        match (result, then_exit) {
            (_, Some(message)) => self.fail_config(message),
            (Ok(_), None) => self.on_view_changed(),
            (Err(e), None) => {
                self.core.reqs.log(
                    Level::Warn,
                    format!("cannot release a claim ({e}): starting over with a new session"),
                );
                self.restart_session();
            }
        }
    }

    /// Kills the job's rsync (its result no longer counts).
    pub(in crate::protocol::source) fn kill_job(&mut self) {
        if let Some(job) = self.worker.job_mut() {
            if !job.killed {
                job.killed = true;
                let id = job.id;
                self.core.reqs.push(Output::Kill { id });
            }
        }
    }

    /// The lease timer: a worker disconnected for a quarter of the session timeout stops
    /// its rsync before the server could expire the session and give the chunk to another.
    pub(in crate::protocol::source) fn on_lease_timer(&mut self, now: Instant) {
        let Some(since) = self.worker.disconnected_at else {
            return;
        };
        if now.duration_since(since) >= self.lease() && self.worker.job().is_some_and(|j| !j.killed)
        {
            self.core.reqs.log(
                Level::Warn,
                "disconnected from ZooKeeper for a quarter of the session timeout: stopping rsync before the session can expire",
            );
            self.kill_job();
        }
    }

    /// Destinations found unreachable may be tried again.
    pub(in crate::protocol::source) fn on_suspect_timer(&mut self, now: Instant) {
        self.worker.suspect.retain(|_, until| *until > now);
        self.try_claim();
    }
}

fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(no error output)")
        .trim()
}
