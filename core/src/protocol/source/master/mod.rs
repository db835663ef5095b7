//! The master: the lowest source of the election. It makes the plan ([`plan`]: cover what a
//! previous master published, walk, publish), follows the results until every chunk is
//! done or failed ([`tracking`]), signals stop, waits for the clients to leave, records the
//! outcome and removes the session's znodes ([`cleanup`]).
//!
//! ```text
//! Start ─plan ready─▶ Tracking ─all finished─▶ Stopping ─all left / deadline─▶ Cleaning ─▶ Finished
//!   └─plan building─▶ Covering ─▶ Walking ─▶ Publishing ─▶ Tracking
//! ```

mod cleanup;
mod plan;
mod tracking;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::time::Instant;

use super::election::Role;
use super::{Source, Why};
use crate::protocol::records::{FailedRecord, OutcomeRecord, PlanRecord, SummaryRecord};
use crate::protocol::{Level, Output, Progress, Timer, ZkError, ZkOp, ZkReply};
use crate::rsync_stats::RsyncStats;
use crate::unit::RelPath;

use cleanup::CleanupWhy;
use plan::PlanWhy;
pub use plan::{MIN_CHUNK_WEIGHT, TARGET_CHUNKS};
use tracking::TrackingWhy;

/// The requests of the master, by the part that handles their replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum MasterWhy {
    /// Making the plan.
    Plan(PlanWhy),
    /// Following the results.
    Tracking(TrackingWhy),
    /// Cleaning up.
    Cleanup(CleanupWhy),
}

/// Where the master is.
#[derive(Debug, Default)]
pub(super) enum MasterPhase {
    /// Not the master.
    #[default]
    Idle,
    /// Waiting for the plan record.
    Start,
    /// Reading the chunks a previous master published.
    Covering { pending: usize },
    /// The driver walks the tree.
    Walking,
    /// Creating the chunks, a window at a time.
    Publishing {
        queue: VecDeque<(String, Vec<u8>)>,
        in_flight: usize,
        record: PlanRecord,
    },
    /// Following the results.
    Tracking,
    /// `stop` is created: waiting for the clients to leave.
    Stopping,
    /// Removing the session's znodes: `lists` and `batches` in flight.
    Cleaning { lists: usize, batches: usize },
    /// Done: the summary is out.
    Finished,
}

/// The master's state.
#[derive(Debug, Default)]
pub(super) struct Master {
    pub(super) phase: MasterPhase,
    /// Units a previous master published already.
    covered: HashSet<RelPath>,
    /// The index of the next chunk to publish.
    next_index: u64,
    done_stats: BTreeMap<String, RsyncStats>,
    /// The itemized changes of the chunks done, with `--itemize`.
    done_items: BTreeMap<String, crate::protocol::itemized::Itemized>,
    failed: BTreeMap<String, FailedRecord>,
    /// Results being read.
    reading: HashSet<String>,
    /// Znodes listed for deletion.
    to_delete: Vec<String>,
    /// The final counts, taken before the last multi.
    summary: Option<Progress>,
    /// While stopping: the highest election number of the sources it waits for. Sources
    /// that joined after the session stopped stand by to take over; nobody waits for them.
    stop_limit: Option<u64>,
    /// The session's outcome as an earlier master recorded it before deleting results.
    recorded: Option<SummaryRecord>,
    /// In a retry (`--retry-failed`): the outcome of the run it retries.
    retried: Option<OutcomeRecord>,
    /// The `retried` znode exists (the final multi deletes it).
    retried_exists: bool,
    /// The outcome is in ZooKeeper (`summary`): results may be deleted now.
    pub(super) summary_written: bool,
    /// Cleanup rounds that found the session changed under them.
    clean_rounds: u32,
    /// Why the session was stalled at the last progress report, if it was.
    stalled: Option<&'static str>,
}

impl Source {
    pub(super) fn become_master(&mut self) {
        self.role = Role::Master;
        self.core.reqs.log(
            Level::Info,
            format!(
                "source {} is the master of session {}",
                self.cfg.client_id,
                self.cfg.layout.session()
            ),
        );
        self.master.phase = MasterPhase::Start;
        self.core
            .set_timer(Timer::Progress, self.cfg.progress_every);
        // Election watches matter to the master only while it waits for clients to leave.
        if self.view.stop.is_some() {
            return self.on_stop();
        }
        self.master_on_view();
    }

    pub(super) fn master_on_view(&mut self) {
        if self.view.stop.is_some() {
            return self.on_stop();
        }
        match self.master.phase {
            MasterPhase::Start => self.master_start(),
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

    /// The election changed; it matters while the master waits for clients to leave.
    pub(super) fn master_on_election(&mut self, names: &[String]) {
        if matches!(self.master.phase, MasterPhase::Stopping) {
            if self.master.stop_limit.is_none() {
                self.master.stop_limit = names
                    .iter()
                    .filter_map(|n| crate::protocol::layout::election_seq(n))
                    .max();
            }
            self.master_check_left();
        }
    }

    pub(super) fn master_on_stop(&mut self) {
        match self.master.phase {
            MasterPhase::Stopping => self.master_check_left(),
            MasterPhase::Cleaning { .. } | MasterPhase::Finished => {}
            _ => self.master_stopping(),
        }
    }

    pub(super) fn on_master_reply(
        &mut self,
        why: MasterWhy,
        op: ZkOp,
        result: Result<ZkReply, ZkError>,
    ) {
        match why {
            MasterWhy::Plan(why) => self.on_plan_reply(why, result),
            MasterWhy::Tracking(why) => self.on_tracking_reply(why, result),
            MasterWhy::Cleanup(why) => self.on_cleanup_reply(why, op, result),
        }
    }

    /// Periodic progress of the master.
    pub(super) fn on_progress_timer(&mut self, now: Instant) {
        if self.role == Role::Master && !matches!(self.master.phase, MasterPhase::Finished) {
            let progress = self.progress();
            if let Some(why) = progress.stalled() {
                if self.master.stalled != Some(why) {
                    self.core
                        .reqs
                        .log(Level::Warn, format!("the session is stalled: {why}"));
                }
            }
            self.master.stalled = progress.stalled();
            self.core.reqs.push(Output::Progress(progress));
            self.read_live();
            // The master follows the election only while stopping: a look now and then
            // keeps the count of sources (and the stalled line) true.
            if !matches!(self.master.phase, MasterPhase::Stopping) {
                self.list_election();
            }
            self.core
                .timers
                .set(Timer::Progress, now + self.cfg.progress_every);
        }
    }

    /// The master stops waiting for clients to leave.
    pub(super) fn on_leave_deadline(&mut self) {
        if self.role == Role::Master && matches!(self.master.phase, MasterPhase::Stopping) {
            self.core.reqs.log(
                Level::Warn,
                "some clients did not leave in time: cleaning up anyway",
            );
            self.master_clean_start();
        }
    }
}

impl From<PlanWhy> for Why {
    fn from(why: PlanWhy) -> Why {
        Why::Master(MasterWhy::Plan(why))
    }
}

impl From<TrackingWhy> for Why {
    fn from(why: TrackingWhy) -> Why {
        Why::Master(MasterWhy::Tracking(why))
    }
}

impl From<CleanupWhy> for Why {
    fn from(why: CleanupWhy) -> Why {
        Why::Master(MasterWhy::Cleanup(why))
    }
}
