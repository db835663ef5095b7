//! The master follows the results: it reads every new done and failed record, signals
//! stop when every chunk of the ready plan has one, and waits for the clients to leave.

use super::MasterPhase;
use crate::protocol::layout::{self, Dir};
use crate::protocol::records::{DoneRecord, FailedRecord, StopRecord};
use crate::protocol::source::{Source, Why};
use crate::protocol::{CreateMode, Level, Progress, Timer, ZkError, ZkOp, ZkReply};
use crate::rsync_stats::RsyncStats;

/// The requests of tracking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::protocol::source) enum TrackingWhy {
    /// Reading a chunk's done record.
    DoneRead(String),
    /// Reading a chunk's failed record.
    FailedRead(String),
    /// Creating `stop`.
    StopCreate,
}

impl Source {
    pub(super) fn on_tracking_reply(&mut self, why: TrackingWhy, result: Result<ZkReply, ZkError>) {
        match why {
            TrackingWhy::DoneRead(chunk) => {
                self.master.reading.remove(&chunk);
                if let Ok(ZkReply::Data(data)) = result {
                    let record = DoneRecord::decode(&data).unwrap_or_default();
                    if !record.items.lines.is_empty() || record.items.omitted > 0 {
                        self.master.done_items.insert(chunk.clone(), record.items);
                    }
                    self.master.done_stats.insert(chunk, record.stats);
                }
                self.master_after_read();
            }
            TrackingWhy::FailedRead(chunk) => {
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
            TrackingWhy::StopCreate => match result {
                Ok(_) | Err(ZkError::NodeExists) => self.master_stopping(),
                Err(e) => self.fail_config(format!("cannot create the stop signal: {e}")),
            },
        }
    }

    /// Reads the records of results not read yet.
    pub(super) fn master_read_results(&mut self) {
        let m = &self.master;
        let new_done: Vec<String> = self
            .view
            .done
            .iter()
            .filter(|c| !m.done_stats.contains_key(*c) && !m.reading.contains(*c))
            .cloned()
            .collect();
        for chunk in new_done {
            self.read_result(Dir::Done, chunk);
        }
        let m = &self.master;
        let new_failed: Vec<String> = self
            .view
            .failed
            .iter()
            .filter(|c| !m.failed.contains_key(*c) && !m.reading.contains(*c))
            .cloned()
            .collect();
        for chunk in new_failed {
            self.read_result(Dir::Failed, chunk);
        }
    }

    fn read_result(&mut self, dir: Dir, chunk: String) {
        self.master.reading.insert(chunk.clone());
        let path = self.cfg.layout.entry(dir, &chunk);
        let why = if dir == Dir::Done {
            TrackingWhy::DoneRead(chunk)
        } else {
            TrackingWhy::FailedRead(chunk)
        };
        self.core
            .reqs
            .send(ZkOp::GetData { path, watch: false }, Why::from(why));
    }

    fn master_after_read(&mut self) {
        if let MasterPhase::Cleaning { .. } = self.master.phase {
            self.master_clean_more();
        }
    }

    /// Signals stop once every chunk of the ready plan is done or failed.
    pub(super) fn master_check_complete(&mut self) {
        if !matches!(self.master.phase, MasterPhase::Tracking) {
            return;
        }
        let Some(plan) = self.view.plan.as_ref() else {
            return;
        };
        if !plan.ready || (self.view.chunks.len() as u64) < plan.chunks {
            return;
        }
        if self.view.chunks.iter().all(|c| self.view.finished(c)) {
            self.core.reqs.log(
                Level::Info,
                "every chunk is done or failed: telling every client to stop",
            );
            self.master.phase = MasterPhase::Stopping;
            let op = ZkOp::Create {
                path: self.cfg.layout.stop(),
                data: StopRecord::Done.encode(),
                mode: CreateMode::Persistent,
            };
            self.core.reqs.send(op, Why::from(TrackingWhy::StopCreate));
        }
    }

    /// `stop` is there: wait (until the leave deadline) for the clients to leave.
    pub(super) fn master_stopping(&mut self) {
        self.master.phase = MasterPhase::Stopping;
        self.core
            .set_timer(Timer::LeaveDeadline, self.cfg.leave_timeout);
        self.list_election();
        self.children_watch(Dir::Dests);
        self.master_read_results();
    }

    /// Cleans up once the sources waited for and every destination have left.
    pub(super) fn master_check_left(&mut self) {
        // Who is waited for is known once the election was listed after stopping (the
        // master does not follow the election before).
        let Some(limit) = self.master.stop_limit else {
            return;
        };
        let others = self
            .view
            .election
            .iter()
            .filter(|n| Some(*n) != self.me.as_ref())
            .filter(|n| layout::election_seq(n).is_some_and(|seq| seq <= limit))
            .count();
        if others == 0 && self.view.dests.is_empty() {
            self.master_clean_start();
        }
    }

    /// Where the session stands.
    pub(in crate::protocol::source) fn progress(&self) -> Progress {
        let stats: RsyncStats = self.master.done_stats.values().sum();
        let v = &self.view;
        let (live_bytes, live_files) = self.live_totals();
        Progress {
            chunks: v
                .plan
                .as_ref()
                .filter(|p| p.ready)
                .map_or(v.chunks.len() as u64, |p| p.chunks),
            plan_ready: v.plan.as_ref().is_some_and(|p| p.ready),
            units: v.plan.as_ref().map_or(0, |p| p.units),
            done: v.done.len().max(self.master.done_stats.len()) as u64,
            failed: v.failed.len().max(self.master.failed.len()) as u64,
            running: v.claims.len() as u64,
            sources: v.election.len() as u64,
            dests: v.dests.len() as u64,
            active_dests: v
                .dests
                .values()
                .filter(|r| r.as_ref().is_some_and(|r| r.active))
                .count() as u64,
            stats,
            live_bytes,
            live_files,
            entries: v.plan.as_ref().map_or(0, |p| p.entries),
        }
    }
}
