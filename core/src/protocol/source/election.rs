//! Who is master: every source has an ephemeral sequential node in `election/`; the lowest
//! is the master, every other watches its predecessor and takes over when it goes. And the
//! `stop` signal, which ends every source's part.

use super::master::MasterPhase;
use super::session::show;
use super::{Source, Why};
use crate::protocol::layout::{self, Dir};
use crate::protocol::records::StopRecord;
use crate::protocol::{Level, ZkError, ZkOp, ZkReply};

/// A source's part in the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// Election not decided yet.
    Unknown,
    /// Claims chunks and runs rsync.
    Worker,
    /// Plans, tracks and ends the session.
    Master,
}

/// The requests of the election and the stop signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ElectionWhy {
    /// Creating this source's election node.
    ElectionCreate,
    /// Listing the election.
    ElectionList,
    /// Watching the predecessor's node.
    Predecessor,
    /// Watching for `stop`.
    StopExists,
    /// Reading `stop`.
    StopRead,
}

impl Source {
    pub(super) fn on_election_reply(&mut self, why: ElectionWhy, result: Result<ZkReply, ZkError>) {
        match why {
            ElectionWhy::ElectionCreate => match result {
                Err(ZkError::NoNode) => self.session_gone(),
                Ok(ZkReply::Created(path)) => {
                    let name = path.rsplit('/').next().unwrap_or(&path).to_owned();
                    self.me = Some(name);
                    self.list_election();
                }
                other => self.fail_config(format!("cannot join the election: {}", show(&other))),
            },
            ElectionWhy::ElectionList => match result {
                Ok(ZkReply::Children(names)) => self.on_election(names),
                // The session's znodes were deleted (its master cleaned it up).
                Err(ZkError::NoNode) => self.session_gone(),
                other => self.fail_config(format!("cannot list the election: {}", show(&other))),
            },
            ElectionWhy::Predecessor => match result {
                Ok(ZkReply::Exists(false)) => self.list_election(),
                Ok(_) => {}
                other => self.fail_config(format!("cannot watch the election: {}", show(&other))),
            },
            ElectionWhy::StopExists => match result {
                Ok(ZkReply::Exists(false)) => self.seen_running = true,
                Ok(ZkReply::Exists(true)) => {
                    let op = ZkOp::GetData {
                        path: self.cfg.layout.stop(),
                        watch: false,
                    };
                    self.core
                        .reqs
                        .send(op, Why::Election(ElectionWhy::StopRead));
                }
                _ => {}
            },
            ElectionWhy::StopRead => {
                if let Ok(ZkReply::Data(data)) = result {
                    self.view.stop = Some(StopRecord::decode(&data));
                    self.on_stop();
                }
            }
        }
    }

    /// Lists the election; the master follows it only while it waits for clients to leave.
    pub(super) fn list_election(&mut self) {
        let watch = self.role == Role::Master && matches!(self.master.phase, MasterPhase::Stopping);
        let op = self
            .watches
            .get_children_if(self.cfg.layout.election(), watch);
        self.core
            .reqs
            .send(op, Why::Election(ElectionWhy::ElectionList));
    }

    /// Watches for the stop signal.
    pub(super) fn watch_stop(&mut self) {
        let op = self.watches.exists(self.cfg.layout.stop());
        self.core
            .reqs
            .send(op, Why::Election(ElectionWhy::StopExists));
    }

    fn on_election(&mut self, mut names: Vec<String>) {
        names.sort_by_key(|n| layout::election_seq(n).unwrap_or(u64::MAX));
        self.view.election = names.clone();
        let Some(me) = self.me.clone() else { return };
        let Some(pos) = names.iter().position(|n| *n == me) else {
            if self.standing_by {
                // Stood by a finishing session and its master's cleanup removed this
                // node with the rest: the session is over, not lost. Joining again would
                // create a new, empty session with no destination.
                return self.core.leave_complete();
            }
            self.core.reqs.log(
                Level::Warn,
                "this source's election node is gone: joining again with a new session",
            );
            return self.restart_session();
        };
        if self.role == Role::Master {
            self.master_on_election(&names);
        } else if pos == 0 {
            self.become_master();
        } else {
            if self.role == Role::Unknown {
                self.role = Role::Worker;
                self.core.reqs.log(
                    Level::Info,
                    format!(
                        "worker {} joined session {}",
                        self.cfg.client_id,
                        self.cfg.layout.session()
                    ),
                );
            }
            let pred = self.cfg.layout.entry(Dir::Election, &names[pos - 1]);
            let op = self.watches.exists(pred);
            self.core
                .reqs
                .send(op, Why::Election(ElectionWhy::Predecessor));
            self.on_view_changed();
        }
    }

    /// The stop signal was read (or is known): every role ends its part.
    pub(super) fn on_stop(&mut self) {
        match self.view.stop {
            None => {}
            Some(StopRecord::Abort) => {
                self.kill_job();
                self.core.leave_aborted();
            }
            Some(StopRecord::Done) => match self.role {
                Role::Unknown => {}
                Role::Worker => self.worker_on_stop(),
                Role::Master => self.master_on_stop(),
            },
        }
    }

    fn worker_on_stop(&mut self) {
        if self.worker.job().is_some() {
            return;
        }
        if self.seen_running {
            self.core.leave_complete();
        } else if !self.standing_by {
            // Joined a stopped session: its master may have died while cleaning up. Stand
            // by: take over if it goes, leave when the session is gone.
            self.standing_by = true;
            self.core.reqs.log(
                Level::Info,
                "the session is finishing: standing by in case its master needs replacing",
            );
        }
    }
}
