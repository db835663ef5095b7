//! A destination: proves that its tree is the session's destination tree, registers its
//! rsync daemon in `dests/<id>` (ephemeral), pauses while its tree is missing, and leaves
//! when the session stops.
//!
//! **One tree per session.** Destinations of a session must write into one tree (seen
//! from their hosts, maybe under other paths), and a tree belongs to one session. Before
//! it registers, a destination proves both with probe files in its tree's root
//! ([`proof`]):
//!
//! 1. It lists the root's probe files (`.zkrsync-*`). One of another session whose znode
//!    exists in this ZooKeeper means the tree is in use: refused. One of a session that is
//!    gone is stale: removed, with a warning.
//! 2. It reads `desttree`. When there is none, it is the first: it writes its probe
//!    `.zkrsync-<session>-<id>` holding a random token (durably, before anything names it)
//!    and then creates `desttree` with its id and token. Otherwise (or when another
//!    destination created `desttree` first) it reads the probe `desttree` names back from
//!    its own path: the same token means the same tree; anything else is refused.
//!
//! A refused destination exits with [`exit_code::CONFIG`] and a one-line message, having
//! registered nothing. When the session ends (done, aborted or gone), a destination that
//! proved the tree removes the probe. Every rsync run protects `/.zkrsync-*` at the root
//! from `--delete` and never copies it ([`super::rsync_job`]).

mod proof;

use std::time::{Duration, Instant};

use super::layout::{Dir, Layout};
use super::records::{DestRecord, StopRecord};
use super::session::{created, creates, Created, Finished, SessionCore};
use super::Timer;
use super::{
    exit_code, CreateMode, Input, Level, Output, SessionEvent, TreeState, WatchKind, ZkError, ZkOp,
    ZkReply,
};

pub use proof::{probe_name, ProbeRecord, PROBE_MAX_BYTES, PROBE_PREFIX};

/// What a destination is told at start.
#[derive(Debug, Clone)]
pub struct DestConfig {
    /// Where the session lives.
    pub layout: Layout,
    /// This destination's id (letters, digits, '.', '_', '-'; unique in the session).
    pub id: String,
    /// Its record, as registered while active.
    pub record: DestRecord,
    /// The ZooKeeper session timeout (an earlier registration under the same id, from a
    /// process that died, is waited for this long, twice).
    pub session_timeout: Duration,
    /// The tree's path on this host, for messages.
    pub path: String,
    /// A random token (from the driver's randomness), written into the probe file when
    /// this destination is the session's first.
    pub token: String,
    /// The run this destination is part of (`--run`): a destination of the same run that
    /// comes to the session after it finished leaves instead of starting it anew.
    pub run: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    /// Reading the outcome of a finished session (the first request of the first join).
    OutcomeRead,
    /// Waiting for an earlier run's outcome to go (a source of the new run removes it).
    OutcomeWait,
    Setup,
    Register,
    OldRegistration,
    Update,
    StopExists,
    StopRead,
    /// Does the session of another session's probe file exist?
    OtherSession,
    /// Reading `desttree`.
    TreeRead,
    /// Creating `desttree` (the first destination).
    TreeCreate,
}

/// The state machine of one destination process.
#[derive(Debug)]
pub struct Dest {
    cfg: DestConfig,
    core: SessionCore<Why>,
    registered: bool,
    tree: Option<TreeState>,
    stop_armed: bool,
    /// `stop` was looked up with the current ZooKeeper session and is not there.
    stop_absent: bool,
    watching_tree: bool,
    waiting_for_old: bool,
    proof: proof::Proof,
}

impl Dest {
    /// A destination that has not connected yet; feed it `Session(Connected)` first.
    pub fn new(cfg: DestConfig) -> Dest {
        Dest {
            core: SessionCore::new(cfg.layout.clone(), cfg.run.clone()),
            cfg,
            registered: false,
            tree: None,
            stop_armed: false,
            stop_absent: false,
            watching_tree: false,
            waiting_for_old: false,
            proof: proof::Proof::default(),
        }
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.core.reqs.pop()
    }

    /// When to feed [`Input::Timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.core.timers.next()
    }

    /// When `timer` fires, if it is set.
    pub fn timer(&self, timer: super::Timer) -> Option<Instant> {
        self.core.timers.get(timer)
    }

    /// Whether the machine has exited.
    pub fn has_exited(&self) -> bool {
        self.core.exited
    }

    /// Whether the destination is registered and taking work.
    pub fn is_active(&self) -> bool {
        self.registered && self.tree == Some(TreeState::Present)
    }

    /// Feeds one input.
    pub fn handle(&mut self, now: Instant, input: Input) {
        if self.core.exited {
            return;
        }
        self.core.now = Some(now);
        match input {
            Input::Session(SessionEvent::Connected {
                new_session,
                timeout,
            }) => {
                self.core.granted = Some(timeout);
                self.core.connected = true;
                if new_session || !self.core.joined {
                    self.registered = false;
                    self.stop_armed = false;
                    self.stop_absent = false;
                    self.setup();
                }
            }
            Input::Session(SessionEvent::Disconnected) => self.core.connected = false,
            Input::Session(SessionEvent::Expired) => self
                .restart("ZooKeeper session expired: registering again with a new session".into()),
            Input::Reply { id, result } => {
                if let Some((why, op)) = self.core.reqs.take(id) {
                    self.on_reply(why, op, result);
                }
            }
            Input::Watch { path, kind } => {
                if path == self.cfg.layout.outcome() && !self.core.rejoining {
                    // The earlier run's outcome went (or changed): look again.
                    self.setup();
                } else if path == self.cfg.layout.stop() && kind == WatchKind::Deleted {
                    // Deleted only by the final cleanup (or abort): the session is over,
                    // whatever became of this destination's registration.
                    self.leave(Leave::Ended);
                } else if path == self.cfg.layout.stop() {
                    self.stop_armed = false;
                    self.watch_stop();
                } else if path == self.own_path()
                    && kind == WatchKind::Deleted
                    && self.waiting_for_old
                {
                    self.waiting_for_old = false;
                    self.register();
                }
            }
            Input::Timeout => self.on_timeout(now),
            Input::Tree(state) => self.on_tree(state),
            Input::Probe { id, result } => self.on_probe(id, result),
            Input::Interrupt => self.exit(exit_code::INTERRUPTED, Some("interrupted".into())),
            Input::Walked(_) | Input::RsyncDone { .. } | Input::RsyncProgress { .. } => {}
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        for timer in self.core.timers.expired(now) {
            if timer == Timer::ProbeRetry {
                self.read_back_again();
            } else if timer == Timer::RegisterDeadline && self.waiting_for_old {
                // An earlier registration under this id did not go away in time.
                self.exit(
                    exit_code::CONFIG,
                    Some(format!(
                        "another destination with id {} is in session {}: give each destination its own --id",
                        self.cfg.id,
                        self.cfg.layout.session()
                    )),
                );
            }
        }
    }

    fn setup(&mut self) {
        self.core.joined = true;
        if self.core.rejoining {
            // Never recreate a session that ended while this destination was away.
            self.watch_stop();
            self.register();
            return;
        }
        self.core.read_outcome(Why::OutcomeRead);
    }

    /// The first join, once no outcome is in the way.
    fn setup_fresh(&mut self) {
        self.core.rejoining = true;
        self.core.create_layout(|| Why::Setup);
        self.watch_stop();
        if !self.watching_tree {
            self.watching_tree = true;
            self.core.reqs.push(Output::WatchTree);
        }
        self.register();
    }

    fn watch_stop(&mut self) {
        let watch = !self.stop_armed;
        self.stop_armed = true;
        self.core.reqs.send(
            ZkOp::Exists {
                path: self.cfg.layout.stop(),
                watch,
            },
            Why::StopExists,
        );
    }

    fn record(&self) -> DestRecord {
        let mut record = self.cfg.record.clone();
        record.active = self.tree == Some(TreeState::Present);
        record
    }

    fn register(&mut self) {
        if self.registered || self.tree.is_none() || !self.core.joined || !self.proof.proven() {
            return;
        }
        let path = self.own_path();
        let data = self.record().encode();
        self.registered = true;
        self.core.reqs.send(
            ZkOp::Create {
                path,
                data,
                mode: CreateMode::Ephemeral,
            },
            Why::Register,
        );
    }

    fn on_tree(&mut self, state: TreeState) {
        if self.tree.as_ref() == Some(&state) {
            return;
        }
        match &state {
            TreeState::Present if self.tree.is_some() => self
                .core
                .reqs
                .log(Level::Info, "destination tree is back: taking work again"),
            TreeState::Present => {}
            TreeState::Missing(reason) => self.core.reqs.log(
                Level::Warn,
                format!("destination tree {reason}: paused, no work is sent here until it is back"),
            ),
        }
        self.tree = Some(state);
        if self.registered {
            let path = self.own_path();
            let data = self.record().encode();
            self.core
                .reqs
                .send(ZkOp::SetData { path, data }, Why::Update);
        } else {
            self.prove();
            self.register();
        }
    }

    fn on_reply(&mut self, why: Why, op: ZkOp, result: Result<ZkReply, ZkError>) {
        match (why, result) {
            (_, Err(ZkError::NoAuth)) => {
                let message = self.core.not_authorized(op.path(), "");
                self.exit(exit_code::CONFIG, Some(message));
            }
            (_, Err(ZkError::SessionExpired)) => self
                .restart("ZooKeeper session expired: registering again with a new session".into()),
            (Why::OutcomeRead, result) => match self.core.on_outcome(result) {
                Ok(Finished::No) => self.setup_fresh(),
                Ok(Finished::OwnRun) => {}
                Ok(Finished::Earlier(_)) => {
                    // Sources start the session anew (or retry it); a destination waits.
                    self.core.reqs.log(
                        Level::Info,
                        format!(
                            "session {} finished earlier: waiting for a source to start it again",
                            self.cfg.layout.session()
                        ),
                    );
                    let op = ZkOp::Exists {
                        path: self.cfg.layout.outcome(),
                        watch: true,
                    };
                    self.core.reqs.send(op, Why::OutcomeWait);
                }
                Err(message) => self.restart(format!("{message}: trying again with a new session")),
            },
            (Why::OutcomeWait, Ok(ZkReply::Exists(false))) => self.setup(),
            (Why::OutcomeWait, Ok(_)) => {}
            (Why::Setup, result) => match created(result) {
                Created::Made | Created::Existed => {}
                Created::Finished => {
                    self.core.rejoining = false;
                    self.restart(format!(
                        "session {} finished while this destination was joining it: looking again",
                        self.cfg.layout.session()
                    ));
                }
                Created::Failed(ZkError::NoAuth) => {
                    let message = self.core.not_authorized(op.path(), "");
                    self.exit(exit_code::CONFIG, Some(message));
                }
                Created::Failed(e) => self.restart(format!(
                    "cannot create {} ({e}): registering again with a new session",
                    creates(&op)
                )),
            },
            (Why::OtherSession | Why::TreeRead | Why::TreeCreate, result) => {
                self.on_proof_reply(why, op, result)
            }
            (Why::Register, Ok(_)) => self.core.reqs.log(
                Level::Info,
                format!(
                    "destination {} registered at {}",
                    self.cfg.id,
                    self.cfg.record.url()
                ),
            ),
            (Why::Register, Err(ZkError::NoNode)) => self.leave(Leave::Ended),
            (Why::Register, Err(ZkError::NodeExists)) => {
                // Most likely this destination's own registration from a process that was
                // killed: it goes when that session expires.
                self.registered = false;
                if !self.waiting_for_old {
                    self.waiting_for_old = true;
                    self.core.reqs.log(
                        Level::Info,
                        format!("destination id {} is still registered (a previous process?): waiting for it to expire", self.cfg.id),
                    );
                    self.core
                        .set_timer(Timer::RegisterDeadline, self.cfg.session_timeout * 2);
                }
                let path = self.own_path();
                self.core
                    .reqs
                    .send(ZkOp::Exists { path, watch: true }, Why::OldRegistration);
            }
            (Why::OldRegistration, Ok(ZkReply::Exists(false))) => {
                self.waiting_for_old = false;
                self.register();
            }
            (Why::OldRegistration, Ok(_)) => {}
            (Why::StopExists, Ok(ZkReply::Exists(true))) => {
                self.core.reqs.send(
                    ZkOp::GetData {
                        path: self.cfg.layout.stop(),
                        watch: false,
                    },
                    Why::StopRead,
                );
            }
            (Why::StopExists, Ok(_)) => {
                self.stop_absent = true;
                self.prove();
            }
            (Why::StopRead, Ok(ZkReply::Data(data))) => match StopRecord::decode(&data) {
                StopRecord::Done => self.leave(Leave::Complete),
                StopRecord::Abort => self.leave(Leave::Aborted),
            },
            // `stop` goes only with the session's final cleanup (or abort): it is over.
            (Why::StopRead, Err(ZkError::NoNode)) => self.leave(Leave::Ended),
            (Why::StopRead, _) => {}
            (Why::Update, Ok(_)) => {}
            (why, Err(e)) => {
                // Connection lost with a request in flight, or anything unexpected: start
                // over with a new session (closing this one removes the registration).
                self.restart(format!("ZooKeeper request ({why:?}) failed ({e}): registering again with a new session"));
            }
        }
    }

    /// The session is over: the probe goes (nothing will copy into the tree for this
    /// session again), then the machine leaves.
    fn leave(&mut self, how: Leave) {
        self.remove_probe();
        match how {
            Leave::Complete => self.core.leave_complete(),
            Leave::Aborted => self.core.leave_aborted(),
            Leave::Ended => self.core.leave_ended(),
        }
    }

    fn restart(&mut self, message: String) {
        self.core.reqs.log(Level::Warn, message);
        self.registered = false;
        self.stop_absent = false;
        self.proof.forget_unfinished();
        self.core.new_session();
    }

    fn exit(&mut self, code: i32, message: Option<String>) {
        self.core.exit(code, message);
    }

    fn own_path(&self) -> String {
        self.cfg.layout.entry(Dir::Dests, &self.cfg.id)
    }
}

/// How a destination leaves a session that is over.
#[derive(Debug, Clone, Copy)]
enum Leave {
    /// `stop` says done.
    Complete,
    /// `stop` says abort.
    Aborted,
    /// The session's znodes are gone.
    Ended,
}
