//! The skeleton both machines share: the requests and outputs of their ZooKeeper session,
//! whether they have joined it, creating the session's layout, and the ways they leave.

use std::time::Instant;

use super::exit_code;
use super::layout::{Dir, Layout};
use super::records::PlanRecord;
use super::requests::Requests;
use super::timers::Timers;
use super::{CreateMode, Exit, Level, Output, ZkOp};

/// What every machine keeps of its life in a session; `W` says what a request was for.
#[derive(Debug)]
pub(crate) struct SessionCore<W> {
    /// Where the session lives.
    pub(crate) layout: Layout,
    /// Requests in flight and outputs.
    pub(crate) reqs: Requests<W>,
    /// The machine has exited: it takes no more input.
    pub(crate) exited: bool,
    /// Connected to ZooKeeper now.
    pub(crate) connected: bool,
    /// Set up with the current ZooKeeper session.
    pub(crate) joined: bool,
    /// Joined the session before, with an earlier ZooKeeper session: the session is never
    /// created again (it may have ended meanwhile).
    pub(crate) rejoining: bool,
    /// The time of the input being handled.
    pub(crate) now: Option<Instant>,
    /// The time of the input handled before it.
    pub(crate) before: Option<Instant>,
    /// The machine's timers.
    pub(crate) timers: Timers,
    /// The session timeout the server granted for the current ZooKeeper session.
    pub(crate) granted: Option<std::time::Duration>,
}

impl<W> SessionCore<W> {
    pub(crate) fn new(layout: Layout) -> Self {
        SessionCore {
            layout,
            reqs: Requests::new(),
            exited: false,
            connected: false,
            joined: false,
            rejoining: false,
            now: None,
            before: None,
            timers: Timers::default(),
            granted: None,
        }
    }

    /// Creates the base path, the session's znode and its directories (parents first), each
    /// request for `why`; the plan starts as `building`.
    pub(crate) fn create_layout(&mut self, why: impl Fn() -> W) {
        let l = self.layout.clone();
        let mut paths: Vec<(String, Vec<u8>)> = l
            .base_ancestors()
            .into_iter()
            .map(|p| (p, Vec::new()))
            .collect();
        paths.push((l.root().to_owned(), Vec::new()));
        for dir in Dir::ALL {
            let data = if dir == Dir::Plan {
                PlanRecord::building().encode()
            } else {
                Vec::new()
            };
            paths.push((l.dir(dir), data));
        }
        for (path, data) in paths {
            let op = ZkOp::Create {
                path,
                data,
                mode: CreateMode::Persistent,
            };
            self.reqs.send(op, why());
        }
    }

    /// Ends the machine with `code` (once).
    pub(crate) fn exit(&mut self, code: i32, message: Option<String>) {
        if !self.exited {
            self.exited = true;
            self.reqs.push(Output::Exit(Exit { code, message }));
        }
    }

    /// The session's znodes are gone: it ended (or was aborted) while this client was away.
    pub(crate) fn leave_ended(&mut self) {
        let session = self.layout.session().to_owned();
        self.reqs
            .log(Level::Info, format!("session {session} has ended: leaving"));
        self.exit(exit_code::OK, None);
    }

    /// The session is complete (its `stop` says done).
    pub(crate) fn leave_complete(&mut self) {
        self.reqs
            .log(Level::Info, "the session is complete: leaving");
        self.exit(exit_code::OK, None);
    }

    /// The session was aborted (its `stop` says abort).
    pub(crate) fn leave_aborted(&mut self) {
        let message = format!(
            "session {} was aborted (zkrsync abort)",
            self.layout.session()
        );
        self.exit(exit_code::PARTIAL, Some(message));
    }

    /// The one-line error for a request ZooKeeper refused (`NoAuth`) on `path`; `hint` is
    /// appended to what the user can do.
    pub(crate) fn not_authorized(&self, path: &str, hint: &str) -> String {
        format!(
            "session {}: ZooKeeper refused access to {path} (not authorized: it is locked to other credentials, or yours are wrong): give the session's credentials with --auth{hint}",
            self.layout.session()
        )
    }

    /// Sets `timer` to fire `after` the input being handled.
    pub(crate) fn set_timer(&mut self, timer: super::Timer, after: std::time::Duration) {
        if let Some(now) = self.now {
            self.timers.set(timer, now + after);
        }
    }

    /// Drops the ZooKeeper session and asks the driver for a new one: every pending request
    /// is forgotten (its reply, if any, comes from a session that is gone).
    pub(crate) fn new_session(&mut self) {
        self.reqs.forget_all();
        self.joined = false;
        self.connected = false;
        self.reqs.push(Output::NewSession);
    }
}
