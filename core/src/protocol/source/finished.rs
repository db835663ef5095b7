//! What a source does when its first join finds a finished session's kept outcome of
//! another run (see [`crate::protocol::session`]; one of its own run has left already).
//!
//! - Without `--retry-failed` it removes what is kept — the outcome and, when chunks failed,
//!   the config, the plan record and the failed chunks — in one multi, and starts the
//!   session anew.
//! - With `--retry-failed` it turns the finished session into one whose plan is its failed
//!   chunks: after checking that its parameters are the session's, one multi deletes the
//!   outcome, keeps it as `retried` (merged into the new outcome at the end) and marks the
//!   plan ready with those chunks; then it joins, and the master tracks the plan as it
//!   would resume one. Without an outcome, it joins the session if there is one (a retry
//!   under way) and is refused if there is none.
//!
//! Either multi fails when another source got there first: the source looks again.

use super::{Source, Why};
use crate::protocol::layout;
use crate::protocol::records::{OutcomeRecord, PlanRecord};
use crate::protocol::session::outcome_words;
use crate::protocol::{exit_code, CreateMode, Level, MultiOp, ZkError, ZkOp, ZkReply};

/// The requests of handling a kept outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FinishedWhy {
    /// Listing the kept chunks, to remove them (a new run).
    KeptList,
    /// The multi that removes what is kept.
    KeptRemove,
    /// `--retry-failed`: reading the config (the parameters must be the session's).
    RetryConfig,
    /// Reading the plan record.
    RetryPlan,
    /// Listing the kept chunks.
    RetryList,
    /// The multi that turns the finished session into its retry.
    RetryConvert,
}

/// What a source keeps between the steps of a retry's conversion.
#[derive(Debug, Default)]
pub(super) struct Kept {
    outcome: Option<OutcomeRecord>,
    plan: Option<PlanRecord>,
}

impl Source {
    /// No outcome: set the session up; with `--retry-failed`, only join one that exists.
    pub(super) fn no_outcome(&mut self) {
        if !self.cfg.retry_failed {
            return self.setup_fresh();
        }
        self.core.rejoining = true;
        self.retry_join = true;
        self.read_config();
    }

    pub(super) fn on_earlier_outcome(&mut self, outcome: Option<OutcomeRecord>) {
        let session = self.cfg.layout.session().to_owned();
        if !self.cfg.retry_failed {
            self.core.say_starting_anew(outcome.as_ref());
            return self.send(
                ZkOp::GetChildren {
                    path: self.cfg.layout.plan(),
                    watch: false,
                },
                FinishedWhy::KeptList,
            );
        }
        match outcome {
            None => self.fail_config(format!(
                "session {session}'s outcome is unreadable: nothing to retry (zkrsync forget --session {session} removes it)"
            )),
            Some(o) if o.summary.failed.is_empty() => {
                self.core.reqs.log(
                    Level::Info,
                    format!(
                        "session {session} finished with no failed chunk ({}): nothing to retry",
                        outcome_words(&o)
                    ),
                );
                self.core.exit(exit_code::OK, None);
            }
            Some(o) => {
                self.kept.outcome = Some(o);
                self.send(
                    ZkOp::GetData {
                        path: self.cfg.layout.config(),
                        watch: false,
                    },
                    FinishedWhy::RetryConfig,
                );
            }
        }
    }

    fn send(&mut self, op: ZkOp, why: FinishedWhy) {
        self.core.reqs.send(op, Why::Finished(why));
    }

    fn nothing_kept(&mut self) {
        let session = self.cfg.layout.session().to_owned();
        self.fail_config(format!(
            "session {session} kept no failed chunks to retry (its master ran with --keep 0 or an older version): run without --retry-failed"
        ));
    }

    pub(super) fn on_finished_reply(&mut self, why: FinishedWhy, result: Result<ZkReply, ZkError>) {
        let l = self.cfg.layout.clone();
        match (why, result) {
            (FinishedWhy::KeptList, result) => {
                let mut ops: Vec<MultiOp> = Vec::new();
                if let Ok(ZkReply::Children(names)) = result {
                    ops.extend(names.iter().map(|n| MultiOp::Delete {
                        path: format!("{}/{n}", l.plan()),
                    }));
                    ops.push(MultiOp::Delete { path: l.plan() });
                    ops.push(MultiOp::Delete { path: l.config() });
                }
                ops.push(MultiOp::Delete { path: l.outcome() });
                self.send(ZkOp::Multi(ops), FinishedWhy::KeptRemove);
            }
            (FinishedWhy::KeptRemove | FinishedWhy::RetryConvert, Ok(_)) => self.setup_fresh(),
            (FinishedWhy::KeptRemove | FinishedWhy::RetryConvert, Err(_)) => {
                self.finished_while_joining()
            }
            (FinishedWhy::RetryConfig, Ok(ZkReply::Data(data))) => match self.check_config(&data) {
                Ok(()) => self.send(
                    ZkOp::GetData {
                        path: l.plan(),
                        watch: false,
                    },
                    FinishedWhy::RetryPlan,
                ),
                Err(message) => self.fail_config(format!(
                    "{message} (a retry runs with the session's parameters)"
                )),
            },
            (FinishedWhy::RetryPlan, Ok(ZkReply::Data(data))) => match PlanRecord::decode(&data) {
                Ok(plan) => {
                    self.kept.plan = Some(plan);
                    self.send(
                        ZkOp::GetChildren {
                            path: l.plan(),
                            watch: false,
                        },
                        FinishedWhy::RetryList,
                    );
                }
                Err(e) => self.fail_config(format!(
                    "session {}'s plan record is unreadable ({e}): nothing to retry",
                    l.session()
                )),
            },
            (FinishedWhy::RetryList, Ok(ZkReply::Children(names))) => {
                let chunks = names
                    .iter()
                    .filter(|n| layout::chunk_index(n).is_some())
                    .count() as u64;
                let (Some(outcome), Some(plan)) = (self.kept.outcome.take(), self.kept.plan.take())
                else {
                    return self.nothing_kept();
                };
                if chunks == 0 {
                    return self.nothing_kept();
                }
                self.core.reqs.log(
                    Level::Info,
                    format!(
                        "retrying the {chunks} failed chunks of session {} ({})",
                        l.session(),
                        outcome_words(&outcome)
                    ),
                );
                let plan = PlanRecord {
                    ready: true,
                    chunks,
                    units: 0,
                    entries: 0,
                    ..plan
                };
                let ops = vec![
                    MultiOp::Delete { path: l.outcome() },
                    MultiOp::Create {
                        path: l.retried(),
                        data: outcome.encode(),
                        mode: CreateMode::Persistent,
                    },
                    MultiOp::SetData {
                        path: l.plan(),
                        data: plan.encode(),
                    },
                ];
                self.send(ZkOp::Multi(ops), FinishedWhy::RetryConvert);
            }
            // The config, the plan or its chunks are gone: nothing was kept to retry.
            (FinishedWhy::RetryConfig | FinishedWhy::RetryPlan | FinishedWhy::RetryList, _) => {
                self.nothing_kept()
            }
        }
    }
}
