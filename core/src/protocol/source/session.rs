//! A source's life in its ZooKeeper session: joining (creating the layout, checking the
//! parameters), session events, giving the session up, and leaving.

use std::time::Instant;

use super::election::{ElectionWhy, Role};
use super::master::{Master, MasterPhase};
use super::view::View;
use super::worker::lease;
use super::{Source, Why};
use crate::protocol::layout::Dir;
use crate::protocol::params::SessionParams;
use crate::protocol::session::{created, creates, Created, Finished};
use crate::protocol::{
    exit_code, CreateMode, Level, Output, SessionEvent, Timer, ZkError, ZkOp, ZkReply,
};

/// The requests of joining a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SessionWhy {
    /// Reading the outcome of a finished session (the first request of the first join).
    OutcomeRead,
    /// Creating the base path, the session's znode or a directory.
    Setup,
    /// Creating the session's config (the first source).
    ConfigCreate,
    /// Reading the session's config.
    ConfigRead,
}

impl Source {
    pub(super) fn on_session(&mut self, now: Instant, event: SessionEvent) {
        match event {
            SessionEvent::Connected {
                new_session,
                timeout,
            } => {
                self.on_granted(timeout);
                self.core.connected = true;
                self.worker.disconnected_at = None;
                if new_session || !self.core.joined {
                    self.reset_session_state();
                    self.setup();
                } else if self.worker.killed_job_waiting() {
                    // The lease ran out while disconnected: the job was stopped; its claim is
                    // still ours, so release it for anyone (us included) to redo.
                    self.release_current(None);
                }
            }
            SessionEvent::Disconnected => {
                self.core.connected = false;
                self.worker.disconnected_at = Some(now);
                if self.worker.job().is_some() {
                    self.core.timers.set(Timer::Lease, now + self.lease());
                }
            }
            SessionEvent::Expired => {
                self.core.reqs.log(
                    Level::Warn,
                    "ZooKeeper session expired: stopping rsync, joining again with a new session",
                );
                self.restart_session();
            }
        }
    }

    /// How long rsync may run while disconnected: from the timeout the server granted, which
    /// may be less than the one asked for.
    pub(super) fn lease(&self) -> std::time::Duration {
        lease(self.core.granted.unwrap_or(self.cfg.session_timeout))
    }

    fn on_granted(&mut self, timeout: std::time::Duration) {
        if self.core.granted != Some(timeout) && timeout < self.cfg.session_timeout {
            self.core.reqs.log(
                Level::Warn,
                format!(
                    "ZooKeeper granted a session timeout of {:.1} s, less than the {:.1} s asked for (its maxSessionTimeout): rsync is stopped {:.1} s into a disconnection",
                    timeout.as_secs_f64(),
                    self.cfg.session_timeout.as_secs_f64(),
                    lease(timeout).as_secs_f64()
                ),
            );
        }
        self.core.granted = Some(timeout);
    }

    /// Gives up the session: kills rsync, forgets everything, asks for a new session.
    pub(super) fn restart_session(&mut self) {
        if self.role == Role::Master
            && matches!(self.master.phase, MasterPhase::Cleaning { .. })
            && self.master.summary_written
        {
            // Our cleanup may have gone through before the session was lost: if the
            // session turns out to be gone, this is its outcome to report.
            self.unreported = Some(self.final_summary(false));
        }
        self.kill_job();
        self.worker.forget_job();
        self.reset_session_state();
        self.core.new_session();
    }

    fn reset_session_state(&mut self) {
        self.reset_live();
        self.watches.clear();
        self.me = None;
        self.role = Role::Unknown;
        self.seen_running = false;
        self.standing_by = false;
        self.view = View::default();
        self.worker.reset_phase();
        self.master = Master::default();
    }

    /// Every join reads the outcome first: rejoining, an outcome means the session is over
    /// (it may keep its config, for --retry-failed), and so does a missing config.
    fn setup(&mut self) {
        self.core.joined = true;
        self.core
            .read_outcome(Why::Session(SessionWhy::OutcomeRead));
    }

    /// The first join, once no outcome is in the way: creates what is missing of the
    /// session (an outcome that appears meanwhile makes every create fail) and reads the
    /// config.
    pub(super) fn setup_fresh(&mut self) {
        let l = self.cfg.layout.clone();
        self.core.rejoining = true;
        self.core.create_layout(|| Why::Session(SessionWhy::Setup));
        let op = self
            .core
            .guarded_create(l.config(), self.cfg.params.encode());
        self.core
            .reqs
            .send(op, Why::Session(SessionWhy::ConfigCreate));
        self.read_config();
    }

    pub(super) fn read_config(&mut self) {
        let op = ZkOp::GetData {
            path: self.cfg.layout.config(),
            watch: false,
        };
        self.core
            .reqs
            .send(op, Why::Session(SessionWhy::ConfigRead));
    }

    /// The session finished between the outcome's read and the setup: start the first
    /// join over, with a new ZooKeeper session (what is in flight is forgotten).
    pub(super) fn finished_while_joining(&mut self) {
        self.core.reqs.log(
            Level::Info,
            format!(
                "session {} finished while this source was joining it: looking again",
                self.cfg.layout.session()
            ),
        );
        self.core.rejoining = false;
        self.restart_session();
    }

    pub(super) fn on_session_reply(
        &mut self,
        why: SessionWhy,
        op: &ZkOp,
        result: Result<ZkReply, ZkError>,
    ) {
        match why {
            SessionWhy::OutcomeRead if self.core.rejoining => match result {
                Ok(_) => self.session_gone(),
                // Rejoining, the session is never created again: NoNode means it is over.
                Err(ZkError::NoNode) => self.read_config(),
                Err(e) => self.fail_config(format!(
                    "cannot read session {}'s outcome: {e}",
                    self.cfg.layout.session()
                )),
            },
            SessionWhy::OutcomeRead => match self.core.on_outcome(result) {
                Ok(Finished::No) => self.no_outcome(),
                Ok(Finished::OwnRun) => {}
                Ok(Finished::Earlier(outcome)) => self.on_earlier_outcome(outcome),
                Err(message) => self.fail_config(message),
            },
            SessionWhy::Setup | SessionWhy::ConfigCreate => match created(result) {
                Created::Made if why == SessionWhy::ConfigCreate => self.say_created(),
                Created::Made | Created::Existed => {}
                Created::Finished => self.finished_while_joining(),
                Created::Failed(ZkError::NoAuth) => {
                    let message = self
                        .core
                        .not_authorized(op.path(), ", or use another --session");
                    self.fail_config(message)
                }
                Created::Failed(e) => {
                    self.fail_config(format!("cannot create {}: {e}", creates(op)))
                }
            },
            SessionWhy::ConfigRead => match result {
                Ok(ZkReply::Data(data)) => self.on_config(&data),
                Err(ZkError::NoNode) if self.retry_join => self.fail_config(format!(
                    "there is no finished session {} to retry: none has kept its outcome here (it never ran, or was forgotten, or its --keep passed); run without --retry-failed to copy everything",
                    self.cfg.layout.session()
                )),
                Err(ZkError::NoNode) if self.core.rejoining => self.session_gone(),
                other => self.fail_config(format!(
                    "cannot read the session's config: {}",
                    show(&other)
                )),
            },
        }
    }

    fn say_created(&mut self) {
        let session = self.cfg.layout.session().to_owned();
        self.core
            .reqs
            .log(Level::Info, format!("session {session} created"));
        if self.cfg.open_acls {
            self.core.reqs.log(
                Level::Warn,
                format!("session {session} has open ACLs: anyone who reaches this ZooKeeper can read its plan and the destinations' daemon secrets, and change them; give --auth-file or ZKRSYNC_AUTH to lock a session down"),
            );
        }
    }

    fn on_config(&mut self, data: &[u8]) {
        self.retry_join = false;
        match self.check_config(data) {
            Ok(()) => self.join(),
            Err(message) => self.fail_config(message),
        }
    }

    /// Whether the session's config (its parameters) is this source's; the refusal if not.
    pub(super) fn check_config(&self, data: &[u8]) -> Result<(), String> {
        let session = match SessionParams::decode(data) {
            Ok(p) => p,
            Err(e) => return Err(format!("{e}: the session's config is damaged; run zkrsync abort on it or use another --session")),
        };
        match self.cfg.params.mismatch(&session) {
            None => Ok(()),
            Some(m) => Err(format!(
                "{} differs from session {}'s: the session has {}, this source has {}; give the same options as the session's sources, or another --session",
                m.option,
                self.cfg.layout.session(),
                m.session,
                m.client
            )),
        }
    }

    /// Joins the election and follows the session.
    fn join(&mut self) {
        let l = self.cfg.layout.clone();
        let op = ZkOp::Create {
            path: format!("{}/s-", l.election()),
            data: self.cfg.client_id.as_bytes().to_vec(),
            mode: CreateMode::EphemeralSequential,
        };
        self.core
            .reqs
            .send(op, Why::Election(ElectionWhy::ElectionCreate));
        self.watch_stop();
        self.read_plan();
        for dir in Self::FOLLOWED {
            self.children_watch(dir);
        }
    }

    /// The session's znodes are gone: it ended (or was aborted) meanwhile.
    pub(super) fn session_gone(&mut self) {
        self.kill_job();
        if let Some((summary, code, message)) = self.unreported.take() {
            // We were cleaning it up when our ZooKeeper session was lost: it got done.
            self.core.reqs.push(Output::Summary(summary));
            return self.core.exit(code, message);
        }
        self.core.leave_ended();
    }

    /// Ends the source on a usage or configuration error.
    pub(super) fn fail_config(&mut self, message: String) {
        self.kill_job();
        self.core.exit(exit_code::CONFIG, Some(message));
    }
}

/// A reply that was not what the request expects, for an error message.
pub(super) fn show(result: &Result<ZkReply, ZkError>) -> String {
    match result {
        Ok(reply) => format!("unexpected reply {reply:?}"),
        Err(e) => e.to_string(),
    }
}

/// The directories a master lists before it cleans up (the election is left for last).
pub(super) fn cleaned_dirs() -> impl Iterator<Item = Dir> {
    Dir::ALL.into_iter().filter(|d| *d != Dir::Election)
}
