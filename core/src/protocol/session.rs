//! The skeleton both machines share: the requests and outputs of their ZooKeeper session,
//! whether they have joined it, what a finished session's kept outcome means to a client
//! that comes to it, creating the session's layout, and the ways they leave.
//!
//! A client's first join reads `outcome` before anything else. A session that finished
//! keeps only that znode: a client of the same run (`--run`) leaves, any other removes it
//! and sets the session up anew. Every znode the setup creates below the session's own is
//! created in a multi that first creates and deletes `outcome`: a session that finishes
//! between the read and the setup makes the multi fail at its first operation, so a late
//! client never re-creates a finished session's layout under its outcome.

use std::time::Instant;

use super::exit_code;
use super::layout::{Dir, Layout};
use super::records::{OutcomeRecord, PlanRecord};
use super::requests::Requests;
use super::timers::Timers;
use super::{CreateMode, Exit, Level, MultiOp, Output, ZkError, ZkOp, ZkReply};

/// What a client's first join found of a finished session ([`SessionCore::on_outcome`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Finished {
    /// No outcome: set the session up.
    No,
    /// The client's own run finished: it has exited.
    OwnRun,
    /// An earlier run's outcome (None: unreadable): the machine decides what to do.
    Earlier(Option<OutcomeRecord>),
}

/// What every machine keeps of its life in a session; `W` says what a request was for.
#[derive(Debug)]
pub(crate) struct SessionCore<W> {
    /// Where the session lives.
    pub(crate) layout: Layout,
    /// The run this client is part of (`--run`), if it was given one.
    pub(crate) run: Option<String>,
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
    pub(crate) fn new(layout: Layout, run: Option<String>) -> Self {
        SessionCore {
            layout,
            run,
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

    /// Reads the session's kept outcome: the first request of a client's first join.
    pub(crate) fn read_outcome(&mut self, why: W) {
        let op = ZkOp::GetData {
            path: self.layout.outcome(),
            watch: false,
        };
        self.reqs.send(op, why);
    }

    /// What the reply to [`SessionCore::read_outcome`] means. An error is the message to
    /// exit (or start over) with.
    pub(crate) fn on_outcome(
        &mut self,
        result: Result<ZkReply, ZkError>,
    ) -> Result<Finished, String> {
        let session = self.layout.session().to_owned();
        let data = match result {
            Err(ZkError::NoNode) => return Ok(Finished::No),
            Ok(ZkReply::Data(data)) => data,
            Ok(other) => {
                return Err(format!(
                    "cannot read session {session}'s outcome: unexpected reply {other:?}"
                ))
            }
            Err(e) => return Err(format!("cannot read session {session}'s outcome: {e}")),
        };
        match OutcomeRecord::decode(&data) {
            Ok(outcome) if outcome.is_run(self.run.as_deref()) => {
                self.reqs.log(
                    Level::Info,
                    format!(
                        "session {session} finished already ({}, this run): leaving",
                        outcome_words(&outcome)
                    ),
                );
                self.exit(exit_code::OK, None);
                Ok(Finished::OwnRun)
            }
            Ok(outcome) => Ok(Finished::Earlier(Some(outcome))),
            Err(e) => {
                self.reqs.log(
                    Level::Warn,
                    format!("session {session}'s outcome is unreadable ({e})"),
                );
                Ok(Finished::Earlier(None))
            }
        }
    }

    /// Says that an earlier run's outcome is removed and the session starts anew.
    pub(crate) fn say_starting_anew(&mut self, outcome: Option<&OutcomeRecord>) {
        let session = self.layout.session().to_owned();
        let what = match outcome {
            Some(o) => format!(
                "finished earlier ({}, {})",
                outcome_words(o),
                match &o.run {
                    Some(run) => format!("run {run}"),
                    None => "no run id".to_owned(),
                }
            ),
            None => "has an unreadable outcome".to_owned(),
        };
        self.reqs.log(
            Level::Info,
            format!("session {session} {what}: what is kept of it is removed and the session starts anew"),
        );
    }

    /// Creates the base path, the session's znode and its directories (parents first), each
    /// request for `why`; the plan starts as `building`. Everything below the session's
    /// znode is created only while it has no outcome ([`SessionCore::guarded_create`]).
    pub(crate) fn create_layout(&mut self, why: impl Fn() -> W) {
        let l = self.layout.clone();
        let mut paths: Vec<String> = l.base_ancestors();
        paths.push(l.root().to_owned());
        for path in paths {
            let op = ZkOp::Create {
                path,
                data: Vec::new(),
                mode: CreateMode::Persistent,
            };
            self.reqs.send(op, why());
        }
        for dir in Dir::ALL {
            let data = if dir == Dir::Plan {
                PlanRecord::building().encode()
            } else {
                Vec::new()
            };
            let op = self.guarded_create(l.dir(dir), data);
            self.reqs.send(op, why());
        }
    }

    /// A create of `path` below the session's znode that fails (at operation 0, see
    /// [`finished_meanwhile`]) when the session has an outcome: it finished.
    pub(crate) fn guarded_create(&self, path: String, data: Vec<u8>) -> ZkOp {
        let outcome = self.layout.outcome();
        ZkOp::Multi(vec![
            MultiOp::Create {
                path: outcome.clone(),
                data: Vec::new(),
                mode: CreateMode::Persistent,
            },
            MultiOp::Delete { path: outcome },
            MultiOp::Create {
                path,
                data,
                mode: CreateMode::Persistent,
            },
        ])
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

/// What a create of the setup did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Created {
    /// Created it.
    Made,
    /// It was there already.
    Existed,
    /// The session finished (or was removed) meanwhile: a guarded create found an outcome,
    /// or no session's znode.
    Finished,
    /// Anything else.
    Failed(ZkError),
}

/// What the reply to a create of the setup (plain, or [`SessionCore::guarded_create`])
/// says.
pub(crate) fn created(result: Result<ZkReply, ZkError>) -> Created {
    match result {
        Ok(_) => Created::Made,
        Err(ZkError::NodeExists) => Created::Existed,
        Err(ZkError::MultiFailed { index: 0, error })
            if matches!(*error, ZkError::NodeExists | ZkError::NoNode) =>
        {
            Created::Finished
        }
        Err(ZkError::MultiFailed { error, .. }) if *error == ZkError::NodeExists => {
            Created::Existed
        }
        Err(ZkError::MultiFailed { error, .. }) => Created::Failed(*error),
        Err(e) => Created::Failed(e),
    }
}

/// `complete, 12 chunks` or `with 2 failed chunks, 12 chunks`, for messages.
pub(crate) fn outcome_words(outcome: &OutcomeRecord) -> String {
    let s = &outcome.summary;
    let how = match s.failed.len() {
        0 => "complete".to_owned(),
        n => format!("with {n} failed chunks"),
    };
    let dry = if outcome.dry_run { "dry run, " } else { "" };
    format!("{dry}{how}, {} chunks", s.chunks)
}

/// The path a create of the setup (plain or guarded) creates, for messages.
pub(crate) fn creates(op: &ZkOp) -> &str {
    match op {
        ZkOp::Multi(ops) => match ops.last() {
            Some(MultiOp::Create { path, .. }) => path,
            _ => op.path(),
        },
        _ => op.path(),
    }
}
