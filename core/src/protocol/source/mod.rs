//! A source: every source joins the election; the lowest is the master, which walks the
//! tree, publishes the plan, and ends the session; the others are workers, which claim
//! chunks and destination slots and run rsync.
//!
//! Everything a source knows about the session comes from watched reads ([`view`]); it
//! never sleeps or polls. A request that fails in a way whose outcome is unknown
//! (connection lost while it was in flight) makes the source give up its session
//! ([`Output::NewSession`]): closing it releases every claim, and the new session starts
//! over from what ZooKeeper holds.
//!
//! | module | concern |
//! |---|---|
//! | [`session`] | joining: creating the layout, checking the parameters, session events, giving a session up |
//! | [`finished`] | a finished session's kept outcome of another run: starting anew, or `--retry-failed` |
//! | [`replies`] | what a failed request means (retry a read, give up the session, refuse), routing replies |
//! | [`watches`] | which one-shot watches are armed |
//! | [`view`] | what the source knows of the session's directories |
//! | [`election`] | who is master, the `stop` signal, standing by |
//! | [`worker`] | claiming a chunk and a slot, running rsync, recording the result |
//! | [`live`] | live progress: workers publish their running rsync's counters, the master reads them |
//! | [`master`] | the plan (cover, walk, publish), tracking results, stopping, cleaning up |

mod election;
mod finished;
mod live;
mod master;
mod replies;
mod session;
mod view;
mod watches;
mod worker;

use std::time::{Duration, Instant};

use super::layout::{Dir, Layout};
use super::params::SessionParams;
use super::session::SessionCore;
use super::{exit_code, Input, Output, Summary};
use election::{ElectionWhy, Role};
use finished::{FinishedWhy, Kept};
use live::{Live, LiveWhy};
use master::{Master, MasterWhy};
use view::{View, ViewWhy};
use watches::Watches;
use worker::{Worker, WorkerWhy};

pub use live::LIVE_EVERY;
pub use master::{MIN_CHUNK_WEIGHT, TARGET_CHUNKS};

/// What a source is told at start.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// Where the session lives.
    pub layout: Layout,
    /// This client's parameters.
    pub params: SessionParams,
    /// A name for this client in records and logs (host and pid).
    pub client_id: String,
    /// The ZooKeeper session timeout.
    pub session_timeout: Duration,
    /// How often the master reports progress.
    pub progress_every: Duration,
    /// How long the master waits for clients to leave after signalling stop (see
    /// [`leave_timeout`]).
    pub leave_timeout: Duration,
    /// The lightest chunk the master makes, in directory entries (see [`MIN_CHUNK_WEIGHT`]).
    pub min_chunk_weight: u64,
    /// Whether the session's znodes are created open to anyone (no credentials): the source
    /// that creates the session says so, once.
    pub open_acls: bool,
    /// The run this source is part of (`--run`): a client of the same run that comes to the
    /// session after it finished leaves instead of starting it anew.
    pub run: Option<String>,
    /// How long the outcome of the session stays after it finished (`--keep`), when this
    /// source is the master that ends it; zero deletes the session's znode with the rest.
    pub keep: Duration,
    /// `--retry-failed`: a finished session is run again with only its failed chunks
    /// ([`finished`]).
    pub retry_failed: bool,
}

/// How long a master waits for the session's clients to leave after it signalled stop:
/// two session timeouts (a client that died is gone from the election by then), at least
/// 10 s.
pub fn leave_timeout(session_timeout: Duration) -> Duration {
    (session_timeout * 2).max(Duration::from_secs(10))
}

/// What a request was for, by the concern that handles its reply.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Why {
    Session(session::SessionWhy),
    Election(ElectionWhy),
    View(ViewWhy),
    Worker(WorkerWhy),
    Master(MasterWhy),
    Finished(FinishedWhy),
    Live(LiveWhy),
}

/// The state machine of one source process.
#[derive(Debug)]
pub struct Source {
    cfg: SourceConfig,
    core: SessionCore<Why>,
    watches: Watches,
    view: View,
    /// Master or worker, once the election says.
    role: Role,
    /// This source's election node.
    me: Option<String>,
    /// This session saw the session running (no stop yet): it has a part to play in it and
    /// leaves when it stops. A source that joins a stopped session stands by instead, to
    /// finish the cleanup should the master die first.
    seen_running: bool,
    /// Standing by in a stopped session (see `seen_running`).
    standing_by: bool,
    /// The outcome of a session this source was cleaning up as master when its ZooKeeper
    /// session was lost, reported if the session is found gone.
    unreported: Option<(Summary, i32, Option<String>)>,
    /// `--retry-failed` found no outcome: it joins the session only if there is one.
    retry_join: bool,
    /// What a `--retry-failed` conversion has read so far.
    kept: Kept,
    /// Live progress: this worker's, and the master's view of every worker's.
    live: Live,
    worker: Worker,
    master: Master,
}

impl Source {
    /// A source that has not connected yet; feed it `Session(Connected)` first.
    pub fn new(cfg: SourceConfig) -> Source {
        Source {
            core: SessionCore::new(cfg.layout.clone(), cfg.run.clone()),
            cfg,
            watches: Watches::default(),
            view: View::default(),
            role: Role::Unknown,
            me: None,
            seen_running: false,
            standing_by: false,
            unreported: None,
            retry_join: false,
            kept: Kept::default(),
            live: Live::default(),
            worker: Worker::default(),
            master: Master::default(),
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

    /// Whether this source is the master now.
    pub fn is_master(&self) -> bool {
        self.role == Role::Master
    }

    /// Whether the machine has exited.
    pub fn has_exited(&self) -> bool {
        self.core.exited
    }

    /// Feeds one input.
    pub fn handle(&mut self, now: Instant, input: Input) {
        if self.core.exited {
            return;
        }
        self.core.before = self.core.now.replace(now);
        match input {
            Input::Session(event) => self.on_session(now, event),
            Input::Reply { id, result } => {
                if let Some((why, op)) = self.core.reqs.take(id) {
                    self.on_reply(why, op, result);
                }
            }
            Input::Watch { path, kind } => self.on_watch(path, kind),
            Input::Walked(result) => self.on_walked(result),
            Input::RsyncProgress { id, bytes, files } => {
                self.on_rsync_progress(now, id, bytes, files)
            }
            Input::RsyncDone { id, outcome } => {
                self.live_job_ended(now);
                self.on_rsync_done(id, outcome)
            }
            Input::Timeout => {
                for timer in self.core.timers.expired(now) {
                    self.on_timer(now, timer);
                }
            }
            Input::Tree(_) | Input::Probe { .. } => {}
            Input::Interrupt => {
                self.kill_job();
                self.core.exit(
                    exit_code::INTERRUPTED,
                    Some(
                        "interrupted: the session stays and resumes when sources run again".into(),
                    ),
                );
            }
        }
    }

    /// What to do now that the view of the session changed.
    fn on_view_changed(&mut self) {
        match self.role {
            Role::Worker => self.try_claim(),
            Role::Master => self.master_on_view(),
            Role::Unknown => {}
        }
    }

    /// Reads the children of one of the session's directories, watching them.
    fn children_watch(&mut self, dir: Dir) {
        let path = self.cfg.layout.dir(dir);
        let op = self.watches.get_children(path);
        self.core.reqs.send(op, Why::View(ViewWhy::Children(dir)));
    }
}

impl Source {
    fn on_timer(&mut self, now: Instant, timer: super::Timer) {
        use super::Timer;
        match timer {
            Timer::Lease => self.on_lease_timer(now),
            Timer::Suspect => self.on_suspect_timer(now),
            Timer::Progress => self.on_progress_timer(now),
            Timer::LeaveDeadline => self.on_leave_deadline(),
            Timer::RegisterDeadline | Timer::ProbeRetry => {}
        }
    }
}
