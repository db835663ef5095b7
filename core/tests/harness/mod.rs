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

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use zkrsync_core::plan::Chunk;
use zkrsync_core::protocol::records::{
    DestRecord, DoneRecord, FailedRecord, PlanRecord, StopRecord, SummaryRecord,
};
use zkrsync_core::protocol::*;
use zkrsync_core::rsync_stats::RsyncStats;
use zkrsync_core::unit::Unit;

// ------------------------------------------------------------------------ fake ZooKeeper

#[derive(Debug, Clone)]
struct Znode {
    data: Vec<u8>,
    /// An ephemeral of the session under test (gone when it ends).
    ours: bool,
}

/// An in-memory ZooKeeper tree as the client under test sees it. Watches are the client's
/// (one-shot, as in ZooKeeper); changes made by "other clients" (the scenario) fire them
/// just as the client's own changes do. Fired watches queue up in `events`.
#[derive(Debug, Clone, Default)]
pub struct FakeZk {
    nodes: BTreeMap<String, Znode>,
    /// Per parent: how many times its children changed (ZooKeeper's cversion), which
    /// numbers sequential children.
    cversion: BTreeMap<String, u64>,
    /// Data and exists watches (both fire on creation, change and deletion).
    data_watches: BTreeSet<String>,
    child_watches: BTreeSet<String>,
    /// Watch events not delivered yet.
    pub events: VecDeque<(String, WatchKind)>,
}

fn parent_of(path: &str) -> &str {
    match path.rsplit_once('/') {
        Some(("", _)) | None => "/",
        Some((parent, _)) => parent,
    }
}

impl FakeZk {
    /// An empty tree.
    pub fn new() -> FakeZk {
        FakeZk::default()
    }

    /// Whether `path` exists.
    pub fn exists(&self, path: &str) -> bool {
        path == "/" || self.nodes.contains_key(path)
    }

    /// A znode's data.
    pub fn data(&self, path: &str) -> Option<&[u8]> {
        self.nodes.get(path).map(|n| n.data.as_slice())
    }

    /// The names of a znode's children, sorted.
    pub fn children(&self, path: &str) -> Vec<String> {
        let prefix = if path == "/" {
            "/".to_owned()
        } else {
            format!("{path}/")
        };
        self.nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| &k[prefix.len()..])
            .filter(|rest| !rest.contains('/'))
            .map(str::to_owned)
            .collect()
    }

    /// Every path in the tree, sorted.
    pub fn paths(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }

    /// Sets the sequence counter of `parent` (as if earlier children came and went).
    pub fn set_cversion(&mut self, parent: &str, n: u64) {
        self.cversion.insert(parent.to_owned(), n);
    }

    fn fire(&mut self, path: &str, kind: WatchKind) {
        self.events.push_back((path.to_owned(), kind));
    }

    fn do_create(
        &mut self,
        path: &str,
        data: &[u8],
        mode: CreateMode,
        ours: bool,
    ) -> Result<String, ZkError> {
        let parent = parent_of(path).to_owned();
        let path = match mode {
            CreateMode::PersistentSequential | CreateMode::EphemeralSequential => {
                let seq = self.cversion.get(&parent).copied().unwrap_or(0);
                format!("{path}{seq:010}")
            }
            CreateMode::Persistent | CreateMode::Ephemeral => path.to_owned(),
        };
        if self.exists(&path) {
            return Err(ZkError::NodeExists);
        }
        if !self.exists(&parent) {
            return Err(ZkError::NoNode);
        }
        let ephemeral = matches!(
            mode,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential
        );
        self.nodes.insert(
            path.clone(),
            Znode {
                data: data.to_vec(),
                ours: ours && ephemeral,
            },
        );
        *self.cversion.entry(parent.clone()).or_default() += 1;
        if self.data_watches.remove(&path) {
            self.fire(&path, WatchKind::Created);
        }
        if self.child_watches.remove(&parent) {
            self.fire(&parent, WatchKind::ChildrenChanged);
        }
        Ok(path)
    }

    fn do_delete(&mut self, path: &str) -> Result<(), ZkError> {
        if !self.nodes.contains_key(path) {
            return Err(ZkError::NoNode);
        }
        if !self.children(path).is_empty() {
            return Err(ZkError::NotEmpty);
        }
        self.nodes.remove(path);
        let parent = parent_of(path).to_owned();
        *self.cversion.entry(parent.clone()).or_default() += 1;
        // One deletion event per path, however many watches it had (as ZooKeeper does).
        let data = self.data_watches.remove(path);
        let child = self.child_watches.remove(path);
        if data || child {
            self.fire(path, WatchKind::Deleted);
        }
        if self.child_watches.remove(&parent) {
            self.fire(&parent, WatchKind::ChildrenChanged);
        }
        Ok(())
    }

    fn do_set(&mut self, path: &str, data: &[u8]) -> Result<(), ZkError> {
        let Some(node) = self.nodes.get_mut(path) else {
            return Err(ZkError::NoNode);
        };
        node.data = data.to_vec();
        if self.data_watches.remove(path) {
            self.fire(path, WatchKind::DataChanged);
        }
        Ok(())
    }

    /// Carries out a request of the client under test.
    pub fn apply(&mut self, op: &ZkOp) -> Result<ZkReply, ZkError> {
        match op {
            ZkOp::Create { path, data, mode } => self
                .do_create(path, data, *mode, true)
                .map(ZkReply::Created),
            ZkOp::Delete { path } => self.do_delete(path).map(|()| ZkReply::Done),
            ZkOp::SetData { path, data } => self.do_set(path, data).map(|()| ZkReply::Done),
            ZkOp::GetData { path, watch } => {
                let data = self.data(path).ok_or(ZkError::NoNode)?.to_vec();
                if *watch {
                    self.data_watches.insert(path.clone());
                }
                Ok(ZkReply::Data(data))
            }
            ZkOp::GetChildren { path, watch } => {
                if !self.exists(path) {
                    return Err(ZkError::NoNode);
                }
                if *watch {
                    self.child_watches.insert(path.clone());
                }
                Ok(ZkReply::Children(self.children(path)))
            }
            ZkOp::Exists { path, watch } => {
                if *watch {
                    self.data_watches.insert(path.clone());
                }
                Ok(ZkReply::Exists(self.exists(path)))
            }
            ZkOp::Multi(ops) => {
                let before = self.clone();
                for (index, op) in ops.iter().enumerate() {
                    let result = match op {
                        MultiOp::Create { path, data, mode } => {
                            self.do_create(path, data, *mode, true).map(|_| ())
                        }
                        MultiOp::Delete { path } => self.do_delete(path),
                        MultiOp::SetData { path, data } => self.do_set(path, data),
                    };
                    if let Err(error) = result {
                        *self = before;
                        return Err(ZkError::MultiFailed {
                            index,
                            error: Box::new(error),
                        });
                    }
                }
                Ok(ZkReply::Done)
            }
        }
    }

    /// Another client creates a znode (or the scenario builds the tree); returns its path.
    pub fn create(&mut self, path: &str, data: &[u8], mode: CreateMode) -> String {
        self.do_create(path, data, mode, false)
            .unwrap_or_else(|e| panic!("fake ZooKeeper: cannot create {path}: {e}"))
    }

    /// Another client deletes a znode.
    pub fn delete(&mut self, path: &str) {
        self.do_delete(path)
            .unwrap_or_else(|e| panic!("fake ZooKeeper: cannot delete {path}: {e}"))
    }

    /// Another client changes a znode's data.
    pub fn set(&mut self, path: &str, data: &[u8]) {
        self.do_set(path, data)
            .unwrap_or_else(|e| panic!("fake ZooKeeper: cannot set {path}: {e}"))
    }

    /// The session under test ends: its watches and ephemeral znodes go (other clients'
    /// watches are not modelled, so the deletions fire nothing).
    pub fn end_session(&mut self) {
        self.data_watches.clear();
        self.child_watches.clear();
        self.events.clear();
        let ours: Vec<String> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.ours)
            .map(|(p, _)| p.clone())
            .collect();
        for path in ours {
            self.nodes.remove(&path);
            *self
                .cversion
                .entry(parent_of(&path).to_owned())
                .or_default() += 1;
        }
    }
}

// ------------------------------------------------------------------------ rendering

/// Renders znode data: its length, and what it holds where the path says what it is.
pub fn render_data(path: &str, data: &[u8]) -> String {
    let len = data.len();
    let name = path.rsplit('/').next().unwrap_or("");
    let parent = parent_of(path).rsplit('/').next().unwrap_or("");
    let decoded = match (parent, name) {
        _ if data.is_empty() => None,
        (_, "plan") => Some(match PlanRecord::decode(data) {
            Ok(p) => format!(
                "plan {} chunks={} units={} root_nonempty={}",
                if p.ready { "ready" } else { "building" },
                p.chunks,
                p.units,
                p.root_nonempty
            ),
            Err(e) => format!("bad plan: {e}"),
        }),
        (_, "stop") => Some(format!("stop {:?}", StopRecord::decode(data))),
        (_, "summary") => Some(match SummaryRecord::decode(data) {
            Ok(s) => format!(
                "summary chunks={} units={} done={} stats={} failed=[{}]",
                s.chunks,
                s.units,
                s.done,
                render_stats(&s.stats),
                s.failed
                    .iter()
                    .map(|(c, e)| format!("{c}: {e}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            Err(e) => format!("bad summary: {e}"),
        }),
        (_, "config") => None,
        ("plan", _) => Some(match Chunk::decode(data) {
            Ok(c) => format!("chunk [{}]", render_units(&c.units)),
            Err(e) => format!("bad chunk: {e}"),
        }),
        ("done", _) => Some(match DoneRecord::decode(data) {
            Ok(r) => format!(
                "done worker={} dest={} code={} stats={}",
                r.worker,
                r.dest,
                r.code,
                render_stats(&r.stats)
            ),
            Err(e) => format!("bad done record: {e}"),
        }),
        ("failed" | "tries", _) => Some(match FailedRecord::decode(data) {
            Ok(r) => render_failed(&r),
            Err(e) => format!("bad failed record: {e}"),
        }),
        ("dests", _) => Some(match DestRecord::decode(data) {
            // Never the secret.
            Ok(r) => format!(
                "dest {} {} auth={}",
                r.url(),
                if r.active { "active" } else { "paused" },
                if r.auth.is_some() { "yes" } else { "no" }
            ),
            Err(e) => format!("bad dest record: {e}"),
        }),
        _ => match std::str::from_utf8(data) {
            Ok(text) if text.len() <= 40 && text.chars().all(|c| c.is_ascii_graphic()) => {
                Some(format!("{text:?}"))
            }
            _ => None,
        },
    };
    match decoded {
        Some(d) => format!("({len} bytes: {d})"),
        None => format!("({len} bytes)"),
    }
}

/// Units as `path(kind weight)`: `d` own entries, `r` recursive, `!` listing failed,
/// `-name` an excluded subdirectory.
pub fn render_units(units: &[Unit]) -> String {
    units
        .iter()
        .map(|u| {
            let path = if u.path.is_root() {
                ".".to_owned()
            } else {
                String::from_utf8_lossy(u.path.as_bytes()).into_owned()
            };
            let mut s = format!(
                "{path}({}{}{}",
                if u.recursive { "r" } else { "d" },
                u.weight,
                if u.listing_failed { "!" } else { "" }
            );
            for e in &u.excluded {
                write!(s, " -{}", String::from_utf8_lossy(e)).unwrap();
            }
            s.push(')');
            s
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The non-zero counters of rsync stats, or `0`.
pub fn render_stats(s: &RsyncStats) -> String {
    let fields = [
        ("files", s.files),
        ("regular_files_transferred", s.regular_files_transferred),
        ("created_files", s.created_files),
        ("deleted_files", s.deleted_files),
        ("total_file_size", s.total_file_size),
        ("transferred_file_size", s.transferred_file_size),
        ("literal_data", s.literal_data),
        ("matched_data", s.matched_data),
        ("file_list_size", s.file_list_size),
        ("bytes_sent", s.bytes_sent),
        ("bytes_received", s.bytes_received),
    ];
    let parts: Vec<String> = fields
        .iter()
        .filter(|(_, v)| *v != 0)
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if parts.is_empty() {
        "0".to_owned()
    } else {
        format!("{{{}}}", parts.join(" "))
    }
}

fn render_failed(r: &FailedRecord) -> String {
    format!(
        "failed worker={} dest={} code={} error={:?} paths=[{}]",
        r.worker,
        r.dest,
        r.code.map_or("none".to_owned(), |c| c.to_string()),
        r.error,
        r.paths
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn render_mode(mode: CreateMode) -> &'static str {
    match mode {
        CreateMode::Persistent => "Persistent",
        CreateMode::PersistentSequential => "PersistentSequential",
        CreateMode::Ephemeral => "Ephemeral",
        CreateMode::EphemeralSequential => "EphemeralSequential",
    }
}

fn watch_tag(watch: bool) -> &'static str {
    if watch {
        " watch"
    } else {
        ""
    }
}

fn render_multi_op(op: &MultiOp) -> String {
    match op {
        MultiOp::Create { path, data, mode } => format!(
            "create {path} {} {}",
            render_mode(*mode),
            render_data(path, data)
        ),
        MultiOp::Delete { path } => format!("delete {path}"),
        MultiOp::SetData { path, data } => format!("set {path} {}", render_data(path, data)),
    }
}

/// A request in full.
pub fn render_op(op: &ZkOp) -> String {
    match op {
        ZkOp::Create { path, data, mode } => format!(
            "create {path} {} {}",
            render_mode(*mode),
            render_data(path, data)
        ),
        ZkOp::Delete { path } => format!("delete {path}"),
        ZkOp::SetData { path, data } => format!("set {path} {}", render_data(path, data)),
        ZkOp::GetData { path, watch } => format!("get {path}{}", watch_tag(*watch)),
        ZkOp::GetChildren { path, watch } => format!("ls {path}{}", watch_tag(*watch)),
        ZkOp::Exists { path, watch } => format!("exists {path}{}", watch_tag(*watch)),
        ZkOp::Multi(ops) => format!(
            "multi [{}]",
            ops.iter()
                .map(render_multi_op)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A request in short, to say what a reply answers.
pub fn render_op_short(op: &ZkOp) -> String {
    let kind = match op {
        ZkOp::Create { .. } => "create".to_owned(),
        ZkOp::Delete { .. } => "delete".to_owned(),
        ZkOp::SetData { .. } => "set".to_owned(),
        ZkOp::GetData { .. } => "get".to_owned(),
        ZkOp::GetChildren { .. } => "ls".to_owned(),
        ZkOp::Exists { .. } => "exists".to_owned(),
        ZkOp::Multi(ops) => format!("multi({})", ops.len()),
    };
    format!("{kind} {}", op.path())
}

/// A reply; `op` says how to read data.
pub fn render_result(op: &ZkOp, result: &Result<ZkReply, ZkError>) -> String {
    match result {
        Ok(ZkReply::Created(path)) => format!("created {path}"),
        Ok(ZkReply::Done) => "ok".to_owned(),
        Ok(ZkReply::Data(data)) => format!("data {}", render_data(op.path(), data)),
        Ok(ZkReply::Children(names)) => format!("children [{}]", names.join(", ")),
        Ok(ZkReply::Exists(b)) => format!("exists {b}"),
        Err(e) => format!("error {e:?}"),
    }
}

/// A duration since the scenario's start, as `+12.345s`.
pub fn render_at(d: Duration) -> String {
    format!("+{}.{:03}s", d.as_secs(), d.subsec_millis())
}

fn render_progress(p: &Progress) -> String {
    format!(
        "chunks={} plan_ready={} units={} done={} failed={} running={} sources={} dests={} stats={}",
        p.chunks,
        p.plan_ready,
        p.units,
        p.done,
        p.failed,
        p.running,
        p.sources,
        p.dests,
        render_stats(&p.stats)
    )
}

fn render_level(level: Level) -> &'static str {
    match level {
        Level::Error => "ERROR",
        Level::Warn => "WARN",
        Level::Info => "INFO",
        Level::Debug => "DEBUG",
    }
}

/// An output; instants relative to `t0`.
pub fn render_output(o: &Output) -> String {
    match o {
        Output::Zk { id, op } => format!("zk #{} {}", id.0, render_op(op)),
        Output::NewSession => "NewSession".to_owned(),
        Output::Walk => "Walk".to_owned(),
        Output::Spawn { id, job } => format!(
            "Spawn job#{} chunk={} dest={} url={} units={} invocations={} root_nonempty={} password={}",
            id.0,
            job.chunk,
            job.dest,
            job.url,
            job.units,
            job.invocations.len(),
            job.guards.root_nonempty,
            if job.password.is_some() { "set" } else { "none" }
        ),
        Output::Kill { id } => format!("Kill job#{}", id.0),
        Output::WatchTree => "WatchTree".to_owned(),
        Output::Probe {
            id,
            op: ProbeOp::Write { name, content },
        } => format!(
            "Probe #{} Write {name} {:?}",
            id.0,
            String::from_utf8_lossy(content)
        ),
        Output::Probe { id, op } => format!("Probe #{} {op:?}", id.0),
        Output::Log { level, message } => format!("Log {} {message}", render_level(*level)),
        Output::Progress(p) => format!("Progress {}", render_progress(p)),
        Output::Summary(s) => {
            let mut line = format!(
                "Summary {} left_behind={} failed=[",
                render_progress(&s.progress),
                s.left_behind
            );
            let failed: Vec<String> = s
                .failed
                .iter()
                .map(|f| format!("{}: {}", f.chunk, render_failed(&f.record)))
                .collect();
            line.push_str(&failed.join("; "));
            line.push(']');
            line
        }
        Output::Exit(e) => match &e.message {
            Some(m) => format!("Exit code={} message={m:?}", e.code),
            None => format!("Exit code={}", e.code),
        },
    }
}

/// An input, compactly (replies are rendered by the driver, which knows the request).
pub fn render_input(i: &Input) -> String {
    match i {
        Input::Session(SessionEvent::Connected { new_session, .. }) => {
            format!("session Connected new_session={new_session}")
        }
        Input::Session(e) => format!("session {e:?}"),
        Input::Reply { id, result } => format!("reply #{} {result:?}", id.0),
        Input::Watch { path, kind } => format!("watch {kind:?} {path}"),
        Input::Walked(Ok(w)) => format!(
            "walked {} units root_nonempty={} dirs_read={} errors={} [{}]",
            w.units.len(),
            w.root_nonempty,
            w.dirs_read,
            w.errors,
            render_units(&w.units)
        ),
        Input::Walked(Err(e)) => format!("walked error {:?}", e.to_string()),
        Input::RsyncDone { id, outcome } => format!("rsync done job#{} {outcome:?}", id.0),
        Input::Timeout => "timeout".to_owned(),
        Input::Tree(t) => format!("tree {t:?}"),
        Input::Probe { id, result } => format!("probe #{} {result:?}", id.0),
        Input::Interrupt => "interrupt".to_owned(),
    }
}

// ------------------------------------------------------------------------ transcript

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
