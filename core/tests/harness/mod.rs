//! A harness for characterization tests of the protocol machines: a fake ZooKeeper (an
//! in-memory tree with one-shot watches, for the one client under test), a driver loop that
//! answers the machine's requests one at a time in the order they were sent, and a
//! [`Transcript`] that renders every input fed and every output that came out,
//! deterministically, for comparison with a golden file.
//!
//! The harness knows nothing of masters or workers: a scenario builds the tree, may give a
//! hook that answers (or changes the tree before answering) particular requests, feeds
//! inputs, changes the tree as other clients would, and lets the machine settle.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use zkrsync_core::protocol::*;

pub mod fake_zk;
pub mod master;
pub mod render;
pub mod worker;
pub use fake_zk::*;
pub use render::*;

/// What happened, step by step: each input (with its time) and the outputs it produced.
#[derive(Debug, Default)]
pub struct Transcript {
    text: String,
}

impl Transcript {
    /// A comment line.
    pub fn note(&mut self, text: &str) {
        writeln!(self.text, "# {text}").unwrap();
    }
    /// An input line.
    pub fn input(&mut self, at: Duration, text: &str) {
        writeln!(self.text, "[{}] > {text}", render_at(at)).unwrap();
    }
    /// An output line, under its input.
    pub fn output(&mut self, text: &str) {
        writeln!(self.text, "    {text}").unwrap();
    }
    /// The whole text.
    pub fn text(&self) -> &str {
        &self.text
    }
    /// Lines in it.
    pub fn lines(&self) -> usize {
        self.text.lines().count()
    }
}

// ------------------------------------------------------------------------ driver

/// Answers a request instead of the fake tree (`None`: let the tree answer). It may change
/// the tree first, as another client would meanwhile.
pub type Hook = Box<dyn FnMut(&mut FakeZk, &ZkOp) -> Option<Result<ZkReply, ZkError>>>;

/// Drives one machine against a [`FakeZk`], like the real agent's loop: requests are
/// answered one at a time in the order they were sent; watch events a change fires are
/// delivered before the reply to that change (as ZooKeeper does); timers fire only when the
/// scenario says so. After the machine's `Exit` nothing more is delivered (the driver
/// closes the session).
pub struct Harness<M: Machine> {
    /// The machine.
    pub m: M,
    /// The tree.
    pub zk: FakeZk,
    t0: Instant,
    now: Instant,
    hook: Option<Hook>,
    pending: VecDeque<(ReqId, ZkOp)>,
    /// Every output so far, in order.
    pub outputs: Vec<Output>,
    /// Every request sent so far, with its result once answered.
    pub requests: Vec<Sent>,
    /// The transcript.
    pub transcript: Transcript,
    exited: bool,
    steps: usize,
}

/// A request sent, and its result once answered.
pub type Sent = (ReqId, ZkOp, Option<Result<ZkReply, ZkError>>);

/// More steps than any scenario needs: a machine that loops forever fails instead.
const MAX_STEPS: usize = 5000;

impl<M: Machine> Harness<M> {
    /// A harness at time +0.
    pub fn new(m: M, zk: FakeZk) -> Harness<M> {
        let t0 = Instant::now();
        Harness {
            m,
            zk,
            t0,
            now: t0,
            hook: None,
            pending: VecDeque::new(),
            outputs: Vec::new(),
            requests: Vec::new(),
            transcript: Transcript::default(),
            exited: false,
            steps: 0,
        }
    }

    /// Answers some requests with `hook` instead of the tree.
    pub fn set_hook(
        &mut self,
        hook: impl FnMut(&mut FakeZk, &ZkOp) -> Option<Result<ZkReply, ZkError>> + 'static,
    ) {
        self.hook = Some(Box::new(hook));
    }

    /// The scenario's start.
    pub fn t0(&self) -> Instant {
        self.t0
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    /// Moves the clock to `at` since the start (never back).
    pub fn at(&mut self, at: Duration) {
        let t = self.t0 + at;
        assert!(t >= self.now, "time goes forward");
        self.now = t;
    }

    /// A comment in the transcript.
    pub fn note(&mut self, text: &str) {
        self.transcript.note(text);
    }

    /// Whether the machine has exited.
    pub fn exited(&self) -> bool {
        self.exited
    }

    /// Requests sent and not answered yet.
    pub fn pending(&self) -> impl Iterator<Item = &ZkOp> {
        self.pending.iter().map(|(_, op)| op)
    }

    fn step(&mut self, line: String, input: Input) -> Vec<Output> {
        self.steps += 1;
        assert!(self.steps < MAX_STEPS, "the machine does not settle");
        self.transcript.input(self.now - self.t0, &line);
        let timers_before = Timer::ALL.map(|t| self.m.timer(t));
        self.m.handle(self.now, input);
        let out: Vec<Output> = std::iter::from_fn(|| self.m.poll_output()).collect();
        for o in &out {
            self.transcript.output(&render_output(o));
            match o {
                Output::Zk { id, op } => {
                    self.pending.push_back((*id, op.clone()));
                    self.requests.push((*id, op.clone(), None));
                }
                Output::NewSession => {
                    // The driver drops the session: what was in flight is never answered.
                    self.zk.end_session();
                    let dropped = std::mem::take(&mut self.pending);
                    if !dropped.is_empty() {
                        self.transcript.output(&format!(
                            "(driver: session closed, {} requests dropped: {})",
                            dropped.len(),
                            dropped
                                .iter()
                                .map(|(id, _)| format!("#{}", id.0))
                                .collect::<Vec<_>>()
                                .join(" ")
                        ));
                    }
                }
                Output::Exit(_) => self.exited = true,
                _ => {}
            }
        }
        // The machine's timer table, as the driver sees it: a timer (re)set by this step.
        for (timer, before) in Timer::ALL.into_iter().zip(timers_before) {
            match self.m.timer(timer) {
                Some(at) if Some(at) != before => self.transcript.output(&format!(
                    "SetTimer {timer:?} at {}",
                    render_at(at.saturating_duration_since(self.t0))
                )),
                _ => {}
            }
        }
        self.outputs.extend(out.iter().cloned());
        out
    }

    /// Feeds one input (not a reply: those come from [`Harness::settle`]); returns what
    /// came out. Does not settle.
    pub fn feed(&mut self, input: Input) -> Vec<Output> {
        assert!(!matches!(input, Input::Reply { .. }), "use settle");
        if self.exited {
            panic!("the machine has exited: {}", render_input(&input));
        }
        let line = render_input(&input);
        self.step(line, input)
    }

    /// Feeds one input and settles.
    pub fn feed_settle(&mut self, input: Input) -> Vec<Output> {
        let start = self.outputs.len();
        self.feed(input);
        self.settle();
        self.outputs[start..].to_vec()
    }

    fn deliver_events(&mut self) {
        while let Some((path, kind)) = self.zk.events.pop_front() {
            if self.exited {
                continue;
            }
            let input = Input::Watch { path, kind };
            let line = render_input(&input);
            self.step(line, input);
        }
    }

    /// Answers every request (and those the answers lead to) and delivers every watch event,
    /// until the machine waits for something else.
    pub fn settle(&mut self) {
        loop {
            self.deliver_events();
            if self.exited {
                if !self.pending.is_empty() {
                    let left: Vec<String> = self
                        .pending
                        .drain(..)
                        .map(|(id, op)| format!("#{} {}", id.0, render_op_short(&op)))
                        .collect();
                    self.transcript.note(&format!(
                        "exited; driver closes the session with {} requests unanswered: {}",
                        left.len(),
                        left.join(", ")
                    ));
                }
                return;
            }
            let Some((id, op)) = self.pending.pop_front() else {
                return;
            };
            let hooked = match self.hook.as_mut() {
                Some(hook) => hook(&mut self.zk, &op),
                None => None,
            };
            let result = hooked.unwrap_or_else(|| self.zk.apply(&op));
            if let Some(r) = self.requests.iter_mut().rev().find(|r| r.0 == id) {
                r.2 = Some(result.clone());
            }
            self.deliver_events();
            if self.exited {
                self.pending.push_front((id, op));
                continue;
            }
            let line = format!(
                "#{} {} -> {}",
                id.0,
                render_op_short(&op),
                render_result(&op, &result)
            );
            self.step(line, Input::Reply { id, result });
        }
    }

    /// When `timer` is set for, if it is.
    pub fn timer(&self, timer: Timer) -> Option<Instant> {
        self.m.timer(timer)
    }

    /// Moves the clock to the machine's next timeout, feeds it and settles; returns the
    /// timer that was due.
    pub fn fire_next(&mut self) -> Timer {
        let at = self.m.poll_timeout().expect("a timer is set");
        let timer = Timer::ALL
            .into_iter()
            .find(|t| self.m.timer(*t) == Some(at))
            .expect("poll_timeout is one of the timers");
        if at > self.now {
            self.now = at;
        }
        assert!(!self.exited, "the machine has exited");
        self.step(format!("timer {timer:?}"), Input::Timeout);
        self.settle();
        timer
    }

    /// Fires timers in time order until `timer` has fired.
    pub fn fire_until(&mut self, timer: Timer) {
        assert!(self.timer(timer).is_some(), "{timer:?} is not set");
        while self.fire_next() != timer {}
    }

    /// Whether some output matches.
    pub fn has_output(&self, f: impl Fn(&Output) -> bool) -> bool {
        self.outputs.iter().any(f)
    }

    /// The requests sent that match.
    pub fn sent(&self, f: impl Fn(&ZkOp) -> bool) -> Vec<ZkOp> {
        self.requests
            .iter()
            .filter(|(_, op, _)| f(op))
            .map(|(_, op, _)| op.clone())
            .collect()
    }
}

// ------------------------------------------------------------------------ golden files

/// Writes to the real standard error, which the test runner does not capture.
fn note(text: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// Compares `actual` with `core/tests/golden/<name>.txt`; with `UPDATE_GOLDEN=1` in the
/// environment, rewrites the file instead.
pub fn check_golden(name: &str, actual: &str) {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "golden"]
        .iter()
        .collect::<PathBuf>()
        .join(format!("{name}.txt"));
    if std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let old = std::fs::read_to_string(&path).ok();
        if old.as_deref() == Some(actual) {
            note(&format!(
                "note: UPDATE_GOLDEN=1: {} unchanged",
                path.display()
            ));
        } else {
            std::fs::write(&path, actual).unwrap();
            note(&format!(
                "note: UPDATE_GOLDEN=1: rewrote {} ({} lines)",
                path.display(),
                actual.lines().count()
            ));
        }
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}): run with UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    if expected == actual {
        return;
    }
    let exp: Vec<&str> = expected.lines().collect();
    let act: Vec<&str> = actual.lines().collect();
    let first = (0..exp.len().max(act.len()))
        .find(|&i| exp.get(i) != act.get(i))
        .unwrap_or(exp.len().min(act.len()));
    let from = first.saturating_sub(4);
    let mut report = format!(
        "{}: the transcript differs from the golden file at line {} (golden {} lines, now {} lines)\n",
        path.display(),
        first + 1,
        exp.len(),
        act.len()
    );
    report.push_str("--- golden\n");
    for (i, line) in exp.iter().enumerate().skip(from).take(first - from + 5) {
        let mark = if i == first { '-' } else { ' ' };
        writeln!(report, "{mark}{:5} {line}", i + 1).unwrap();
    }
    report.push_str("+++ now\n");
    for (i, line) in act.iter().enumerate().skip(from).take(first - from + 5) {
        let mark = if i == first { '+' } else { ' ' };
        writeln!(report, "{mark}{:5} {line}", i + 1).unwrap();
    }
    report.push_str(
        "(if the change is intended, rerun with UPDATE_GOLDEN=1 and review the diff of the golden file)\n",
    );
    panic!("{report}");
}
