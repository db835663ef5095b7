//! A destination: registers its rsync daemon in `dests/<id>` (ephemeral), pauses while its
//! tree is missing, and leaves when the session stops.

use std::time::{Duration, Instant};

use super::layout::{Layout, DIRS};
use super::records::{DestRecord, PlanRecord, StopRecord};
use super::requests::Requests;
use super::Timer;
use super::{
    exit_code, CreateMode, Exit, Input, Level, Output, SessionEvent, TreeState, WatchKind, ZkError,
    ZkOp, ZkReply,
};

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    Setup,
    Register,
    OldRegistration,
    Update,
    StopExists,
    StopRead,
}

/// The state machine of one destination process.
#[derive(Debug)]
pub struct Dest {
    cfg: DestConfig,
    reqs: Requests<Why>,
    exited: bool,
    registered: bool,
    tree: Option<TreeState>,
    stop_armed: bool,
    connected: bool,
    joined: bool,
    watching_tree: bool,
    rejoining: bool,
    now: Option<Instant>,
    waiting_for_old: bool,
}

impl Dest {
    /// A destination that has not connected yet; feed it `Session(Connected)` first.
    pub fn new(cfg: DestConfig) -> Dest {
        Dest {
            cfg,
            reqs: Requests::new(),
            exited: false,
            registered: false,
            tree: None,
            stop_armed: false,
            connected: false,
            joined: false,
            watching_tree: false,
            rejoining: false,
            now: None,
            waiting_for_old: false,
        }
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.reqs.pop()
    }

    /// Whether the machine has exited.
    pub fn has_exited(&self) -> bool {
        self.exited
    }

    /// Whether the destination is registered and taking work.
    pub fn is_active(&self) -> bool {
        self.registered && self.tree == Some(TreeState::Present)
    }

    /// Feeds one input.
    pub fn handle(&mut self, now: Instant, input: Input) {
        if self.exited {
            return;
        }
        self.now = Some(now);
        match input {
            Input::Session(SessionEvent::Connected { new_session }) => {
                self.connected = true;
                if new_session || !self.joined {
                    self.registered = false;
                    self.stop_armed = false;
                    self.setup();
                }
            }
            Input::Session(SessionEvent::Disconnected) => self.connected = false,
            Input::Session(SessionEvent::Expired) => self
                .restart("ZooKeeper session expired: registering again with a new session".into()),
            Input::Reply { id, result } => {
                if let Some((why, op)) = self.reqs.take(id) {
                    self.on_reply(why, op, result);
                }
            }
            Input::Watch { path, kind } => {
                if path == self.cfg.layout.stop() && kind != WatchKind::Deleted {
                    self.stop_armed = false;
                    self.watch_stop();
                } else if path == self.cfg.layout.child("dests", &self.cfg.id)
                    && kind == WatchKind::Deleted
                    && self.waiting_for_old
                {
                    self.waiting_for_old = false;
                    self.register();
                }
            }
            Input::Timer(Timer::RegisterDeadline) if self.waiting_for_old => self.exit(
                exit_code::CONFIG,
                Some(format!(
                    "another destination with id {} is in session {}: give each destination its own --id",
                    self.cfg.id,
                    self.cfg.layout.session()
                )),
            ),
            Input::Tree(state) => self.on_tree(state),
            Input::Interrupt => self.exit(exit_code::INTERRUPTED, Some("interrupted".into())),
            Input::Walked(_) | Input::RsyncDone { .. } | Input::Timer(_) => {}
        }
    }

    fn setup(&mut self) {
        self.joined = true;
        let l = self.cfg.layout.clone();
        if self.rejoining {
            // Never recreate a session that ended while this destination was away.
            self.watch_stop();
            self.register();
            return;
        }
        self.rejoining = true;
        let create = |path: String, data: Vec<u8>, reqs: &mut Requests<Why>| {
            reqs.send(
                ZkOp::Create {
                    path,
                    data,
                    mode: CreateMode::Persistent,
                },
                Why::Setup,
            );
        };
        for path in l.base_ancestors() {
            create(path, Vec::new(), &mut self.reqs);
        }
        create(l.root().to_owned(), Vec::new(), &mut self.reqs);
        for dir in DIRS {
            let data = if dir == "plan" {
                PlanRecord::building().encode()
            } else {
                Vec::new()
            };
            create(l.at(dir), data, &mut self.reqs);
        }
        self.watch_stop();
        if !self.watching_tree {
            self.watching_tree = true;
            self.reqs.push(Output::WatchTree);
        }
        self.register();
    }

    fn watch_stop(&mut self) {
        let watch = !self.stop_armed;
        self.stop_armed = true;
        self.reqs.send(
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
        if self.registered || self.tree.is_none() || !self.joined {
            return;
        }
        let path = self.cfg.layout.child("dests", &self.cfg.id);
        let data = self.record().encode();
        self.registered = true;
        self.reqs.send(
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
                .reqs
                .log(Level::Info, "destination tree is back: taking work again"),
            TreeState::Present => {}
            TreeState::Missing(reason) => self.reqs.log(
                Level::Warn,
                format!("destination tree {reason}: paused, no work is sent here until it is back"),
            ),
        }
        self.tree = Some(state);
        if self.registered {
            let path = self.cfg.layout.child("dests", &self.cfg.id);
            let data = self.record().encode();
            self.reqs.send(ZkOp::SetData { path, data }, Why::Update);
        } else {
            self.register();
        }
    }

    fn on_reply(&mut self, why: Why, op: ZkOp, result: Result<ZkReply, ZkError>) {
        match (why, result) {
            (_, Err(ZkError::NoAuth)) => {
                let path = match &op {
                    ZkOp::Create { path, .. }
                    | ZkOp::Exists { path, .. }
                    | ZkOp::SetData { path, .. } => path.clone(),
                    _ => String::new(),
                };
                self.exit(
                    exit_code::CONFIG,
                    Some(format!("session {}: ZooKeeper refused access to {path} (not authorized: it is locked to other credentials, or yours are wrong): give the session's credentials with --auth", self.cfg.layout.session())),
                );
            }
            (_, Err(ZkError::SessionExpired)) => self
                .restart("ZooKeeper session expired: registering again with a new session".into()),
            (Why::Setup, Ok(_) | Err(ZkError::NodeExists)) => {}
            (Why::Register, Ok(_)) => self.reqs.log(
                Level::Info,
                format!(
                    "destination {} registered at {}",
                    self.cfg.id,
                    self.cfg.record.url()
                ),
            ),
            (Why::Register, Err(ZkError::NoNode)) => {
                self.reqs.log(
                    Level::Info,
                    format!("session {} has ended: leaving", self.cfg.layout.session()),
                );
                self.exit(exit_code::OK, None);
            }
            (Why::Register, Err(ZkError::NodeExists)) => {
                // Most likely this destination's own registration from a process that was
                // killed: it goes when that session expires.
                self.registered = false;
                if !self.waiting_for_old {
                    self.waiting_for_old = true;
                    self.reqs.log(
                        Level::Info,
                        format!("destination id {} is still registered (a previous process?): waiting for it to expire", self.cfg.id),
                    );
                    if let Some(now) = self.now {
                        let at = now + self.cfg.session_timeout * 2;
                        self.reqs.push(Output::SetTimer {
                            timer: Timer::RegisterDeadline,
                            at,
                        });
                    }
                }
                let path = self.cfg.layout.child("dests", &self.cfg.id);
                self.reqs
                    .send(ZkOp::Exists { path, watch: true }, Why::OldRegistration);
            }
            (Why::OldRegistration, Ok(ZkReply::Exists(false))) => {
                self.waiting_for_old = false;
                self.register();
            }
            (Why::OldRegistration, Ok(_)) => {}
            (Why::StopExists, Ok(ZkReply::Exists(true))) => {
                self.reqs.send(
                    ZkOp::GetData {
                        path: self.cfg.layout.stop(),
                        watch: false,
                    },
                    Why::StopRead,
                );
            }
            (Why::StopExists, Ok(_)) => {}
            (Why::StopRead, Ok(ZkReply::Data(data))) => match StopRecord::decode(&data) {
                StopRecord::Done => {
                    self.reqs
                        .log(Level::Info, "the session is complete: leaving");
                    self.exit(exit_code::OK, None);
                }
                StopRecord::Abort => self.exit(
                    exit_code::PARTIAL,
                    Some(format!(
                        "session {} was aborted (zkrsync abort)",
                        self.cfg.layout.session()
                    )),
                ),
            },
            (Why::StopRead, _) => {}
            (Why::Update, Ok(_)) => {}
            (why, Err(e)) => {
                // Connection lost with a request in flight, or anything unexpected: start
                // over with a new session (closing this one removes the registration).
                self.restart(format!("ZooKeeper request ({why:?}) failed ({e}): registering again with a new session"));
            }
        }
    }

    fn restart(&mut self, message: String) {
        self.reqs.log(Level::Warn, message);
        self.reqs.forget_all();
        self.joined = false;
        self.connected = false;
        self.registered = false;
        self.reqs.push(Output::NewSession);
    }

    fn exit(&mut self, code: i32, message: Option<String>) {
        if !self.exited {
            self.exited = true;
            self.reqs.push(Output::Exit(Exit { code, message }));
        }
    }
}
