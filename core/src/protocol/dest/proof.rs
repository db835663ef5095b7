//! How a destination proves, before it registers, that its tree is the session's
//! destination tree and that no other live session writes into it: probe files in the
//! tree's root (the steps are in [`super`]'s documentation).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::{Dest, Why};
use crate::protocol::layout::{Dir, Layout};
use crate::protocol::records::{DestTreeRecord, Fields, Lines, RecordError};
use crate::protocol::session::{created, Created};
use crate::protocol::{
    exit_code, Level, Output, ProbeDone, ProbeId, ProbeOp, Timer, TreeState, ZkError, ZkOp, ZkReply,
};

/// Every probe file's name starts with this; rsync runs protect and never copy
/// `/.zkrsync-*` at the root of the transfer.
pub const PROBE_PREFIX: &str = ".zkrsync-";

/// The most of a probe file that is read (they hold a few short lines).
pub const PROBE_MAX_BYTES: usize = 4096;

/// How often the first destination's probe file is read before a destination that does not
/// see it is refused: a file another host has just written may show late on a shared file
/// system (NFS caches directory attributes).
const READ_BACK_TRIES: u32 = 5;

/// The pause between two of those reads.
const READ_BACK_PAUSE: Duration = Duration::from_secs(2);

/// The name of the probe file that destination `dest` of `session` writes.
pub fn probe_name(session: &str, dest: &str) -> String {
    format!("{PROBE_PREFIX}{session}-{dest}")
}

/// What a probe file holds: the session it belongs to (its znode, so that sessions of one
/// name under other bases are told apart), the destination that wrote it, and its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRecord {
    /// The session's znode (`<base>/<session>`).
    pub root: String,
    /// The session's name.
    pub session: String,
    /// The destination that wrote it.
    pub dest: String,
    /// Its random token.
    pub token: String,
}

impl ProbeRecord {
    /// Encodes.
    pub fn encode(&self) -> Vec<u8> {
        let mut l = Lines::default();
        l.put("zkrsync_probe", 1)
            .put_bytes("session_znode", self.root.as_bytes())
            .put_bytes("session", self.session.as_bytes())
            .put_bytes("dest", self.dest.as_bytes())
            .put_bytes("token", self.token.as_bytes());
        l.into_bytes()
    }

    /// Decodes; a record whose session znode is not a session's path is an error.
    pub fn decode(data: &[u8]) -> Result<ProbeRecord, RecordError> {
        let f = Fields::parse("probe", data)?;
        let text = |key| Ok::<_, RecordError>(String::from_utf8_lossy(&f.bytes(key)?).into_owned());
        let record = ProbeRecord {
            root: text("session_znode")?,
            session: text("session")?,
            dest: text("dest")?,
            token: text("token")?,
        };
        // Only a znode path a session can have is ever looked up.
        let (base, name) = record.root.rsplit_once('/').unwrap_or(("", ""));
        let base = if base.is_empty() { "/" } else { base };
        match Layout::new(base, name) {
            Ok(l) if l.root() == record.root && name == record.session => Ok(record),
            _ => Err(RecordError::new(
                "probe",
                "session_znode is not a session's znode",
            )),
        }
    }
}

/// Where a destination is in proving its tree.
#[derive(Debug, Default)]
enum Phase {
    /// Not started: waits for the ZooKeeper session, the tree and the look at `stop`.
    #[default]
    Idle,
    /// Listing the root's probe files.
    Listing(ProbeId),
    /// Looking up the sessions of other sessions' probe files: by session znode, the probe
    /// files that name it.
    Others(BTreeMap<String, Vec<(String, String)>>),
    /// Reading `desttree`.
    ReadingTree,
    /// Writing this destination's probe (it is the first).
    Writing(ProbeId),
    /// Creating `desttree`.
    Claiming,
    /// Another destination created `desttree` first: removing this one's probe.
    Yielding(ProbeId),
    /// Reading the probe `desttree` names back from this tree (`tries` reads so far).
    ReadingBack {
        id: Option<ProbeId>,
        tree: DestTreeRecord,
        tries: u32,
    },
    /// Proven: the session's probe file, to remove when the session is over.
    Proven { probe: String },
}

/// A destination's proof of its tree.
#[derive(Debug, Default)]
pub(super) struct Proof {
    phase: Phase,
    next_id: u64,
    /// Removals under way (a failure is reported).
    removing: BTreeSet<ProbeId>,
    /// Probe files of this session found in the root (all but the one `desttree` names are
    /// left by destinations that lost the race to be first and died before removing theirs).
    own: Vec<String>,
}

impl Proof {
    /// Whether the tree is proven.
    pub(super) fn proven(&self) -> bool {
        matches!(self.phase, Phase::Proven { .. })
    }

    /// The ZooKeeper session is gone: a proof under way starts again with the next one.
    pub(super) fn forget_unfinished(&mut self) {
        if !self.proven() {
            self.phase = Phase::Idle;
        }
    }
}

impl Dest {
    /// Starts the proof once the tree is there and `stop` is known to be absent.
    pub(super) fn prove(&mut self) {
        let ready = self.core.joined
            && self.stop_absent
            && self.tree == Some(TreeState::Present)
            && matches!(self.proof.phase, Phase::Idle);
        if ready {
            let id = self.probe(ProbeOp::List);
            self.proof.phase = Phase::Listing(id);
        }
    }

    fn probe(&mut self, op: ProbeOp) -> ProbeId {
        let id = ProbeId(self.proof.next_id);
        self.proof.next_id += 1;
        self.core.reqs.push(Output::Probe { id, op });
        id
    }

    fn remove(&mut self, name: String) {
        let id = self.probe(ProbeOp::Remove { name });
        self.proof.removing.insert(id);
    }

    /// The session is over: its probe file goes.
    pub(super) fn remove_probe(&mut self) {
        if let Phase::Proven { probe } = &self.proof.phase {
            let probe = probe.clone();
            self.core.reqs.log(
                Level::Info,
                format!("removing the session's probe file {probe}"),
            );
            self.remove(probe);
        }
    }

    pub(super) fn on_probe(&mut self, id: ProbeId, result: Result<ProbeDone, String>) {
        if self.proof.removing.remove(&id) {
            if let Err(e) = result {
                self.core
                    .reqs
                    .log(Level::Warn, format!("cannot remove a probe file: {e}"));
            }
            return;
        }
        let due = match &self.proof.phase {
            Phase::Listing(p) | Phase::Writing(p) | Phase::Yielding(p) => Some(*p),
            Phase::ReadingBack { id, .. } => *id,
            _ => None,
        };
        if due != Some(id) {
            return; // a request of a proof that started over
        }
        match std::mem::take(&mut self.proof.phase) {
            Phase::Listing(_) => self.on_listed(result),
            Phase::Writing(_) => match result {
                Ok(_) => self.claim_tree(),
                Err(e) => self.refuse(format!(
                    "cannot write the probe file {} into {} ({e}): the destination tree must be writable",
                    self.own_probe(),
                    self.cfg.path
                )),
            },
            Phase::Yielding(_) => {
                if let Err(e) = result {
                    self.core
                        .reqs
                        .log(Level::Warn, format!("cannot remove a probe file: {e}"));
                }
                self.read_tree();
            }
            Phase::ReadingBack { tree, tries, .. } => self.on_read_back(tree, tries, result),
            other => self.proof.phase = other,
        }
    }

    fn own_probe(&self) -> String {
        probe_name(self.cfg.layout.session(), &self.cfg.id)
    }

    fn on_listed(&mut self, result: Result<ProbeDone, String>) {
        let files = match result {
            Ok(ProbeDone::Listed(files)) => files,
            Ok(other) => panic!("a listing of probe files answered with {other:?}"),
            Err(e) => {
                return self.refuse(format!(
                    "cannot list the root of {} for probe files ({e})",
                    self.cfg.path
                ))
            }
        };
        let mut others: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        self.proof.own.clear();
        for (name, content) in files {
            match ProbeRecord::decode(&content) {
                Ok(r) if r.root == self.cfg.layout.root() => self.proof.own.push(name),
                Ok(r) => others.entry(r.root).or_default().push((name, r.session)),
                Err(_) => self.core.reqs.log(
                    Level::Warn,
                    format!("{}/{name} is not a zkrsync probe file: left as it is (no rsync run copies or deletes /{PROBE_PREFIX}* at the root)", self.cfg.path),
                ),
            }
        }
        if others.is_empty() {
            return self.read_tree();
        }
        for root in others.keys() {
            // A live session has its directories; a finished one keeps only its outcome.
            let op = ZkOp::Exists {
                path: format!("{root}/{}", Dir::Dests.name()),
                watch: false,
            };
            self.core.reqs.send(op, Why::OtherSession);
        }
        self.proof.phase = Phase::Others(others);
    }

    fn read_tree(&mut self) {
        let op = ZkOp::GetData {
            path: self.cfg.layout.desttree(),
            watch: false,
        };
        self.core.reqs.send(op, Why::TreeRead);
        self.proof.phase = Phase::ReadingTree;
    }

    fn claim_tree(&mut self) {
        let record = DestTreeRecord {
            dest: self.cfg.id.clone(),
            token: self.cfg.token.clone(),
        };
        // Guarded like every create under the session's znode: a session that finished
        // meanwhile keeps no desttree under its outcome.
        let op = self
            .core
            .guarded_create(self.cfg.layout.desttree(), record.encode());
        self.core.reqs.send(op, Why::TreeCreate);
        self.proof.phase = Phase::Claiming;
    }

    fn read_back(&mut self, tree: DestTreeRecord, tries: u32) {
        let name = probe_name(self.cfg.layout.session(), &tree.dest);
        let id = self.probe(ProbeOp::Read { name });
        self.proof.phase = Phase::ReadingBack {
            id: Some(id),
            tree,
            tries: tries + 1,
        };
    }

    /// The pause between two reads of the first destination's probe is over.
    pub(super) fn read_back_again(&mut self) {
        if let Phase::ReadingBack { id: None, .. } = &self.proof.phase {
            if let Phase::ReadingBack { tree, tries, .. } = std::mem::take(&mut self.proof.phase) {
                self.read_back(tree, tries);
            }
        }
    }

    pub(super) fn on_proof_reply(&mut self, why: Why, op: ZkOp, result: Result<ZkReply, ZkError>) {
        match (why, result) {
            (Why::OtherSession, Ok(ZkReply::Exists(live))) => self.on_other_session(op, live),
            (Why::TreeRead, Ok(ZkReply::Data(data))) => match DestTreeRecord::decode(&data) {
                Ok(tree) => self.read_back(tree, 0),
                Err(e) => self.refuse(format!(
                    "session {}'s znode {} is unreadable ({e}): run zkrsync abort --session {} and start the session again",
                    self.cfg.layout.session(),
                    self.cfg.layout.desttree(),
                    self.cfg.layout.session()
                )),
            },
            (Why::TreeRead, Err(ZkError::NoNode)) => {
                // The first destination: its probe is in place before anything names it.
                let content = ProbeRecord {
                    root: self.cfg.layout.root().to_owned(),
                    session: self.cfg.layout.session().to_owned(),
                    dest: self.cfg.id.clone(),
                    token: self.cfg.token.clone(),
                }
                .encode();
                let name = self.own_probe();
                let id = self.probe(ProbeOp::Write { name, content });
                self.proof.phase = Phase::Writing(id);
            }
            (Why::TreeCreate, result) => match created(result) {
                Created::Made => self.proven(self.own_probe()),
                Created::Existed => {
                    let id = self.probe(ProbeOp::Remove {
                        name: self.own_probe(),
                    });
                    self.proof.phase = Phase::Yielding(id);
                }
                // The session finished (or was removed) meanwhile.
                Created::Finished | Created::Failed(ZkError::NoNode) => {
                    self.remove(self.own_probe());
                    self.core.leave_ended();
                }
                Created::Failed(e) => self.restart(format!(
                    "ZooKeeper request (TreeCreate) failed ({e}): registering again with a new session"
                )),
            },
            (why, Err(e)) => self.restart(format!(
                "ZooKeeper request ({why:?}) failed ({e}): registering again with a new session"
            )),
            (why, Ok(reply)) => panic!("{why:?} answered with {reply:?}"),
        }
    }

    fn on_other_session(&mut self, op: ZkOp, live: bool) {
        let Phase::Others(others) = &mut self.proof.phase else {
            return;
        };
        let root = op
            .path()
            .strip_suffix(Dir::Dests.name())
            .and_then(|p| p.strip_suffix('/'))
            .unwrap_or(op.path())
            .to_owned();
        let Some(files) = others.remove(&root) else {
            return;
        };
        let done = others.is_empty();
        if live {
            let (name, session) = &files[0];
            return self.refuse(format!(
                "destination tree {} is in use by session {session} (its probe file {name} is in the tree's root and the session is in ZooKeeper at {}): copy into another tree, or end session {session} first (zkrsync abort --session {session})",
                self.cfg.path,
                root
            ));
        }
        for (name, session) in files {
            self.core.reqs.log(
                Level::Warn,
                format!("removing the stale probe file {}/{name}: session {session} is not running any more", self.cfg.path),
            );
            self.remove(name);
        }
        if done {
            self.read_tree();
        }
    }

    fn on_read_back(
        &mut self,
        tree: DestTreeRecord,
        tries: u32,
        result: Result<ProbeDone, String>,
    ) {
        let name = probe_name(self.cfg.layout.session(), &tree.dest);
        let found = match result {
            Ok(ProbeDone::Read(Some(content))) => Some(content),
            Ok(ProbeDone::Read(None)) => None,
            Ok(other) => panic!("a read of a probe file answered with {other:?}"),
            Err(e) => {
                return self.refuse(format!(
                    "cannot read the probe file {}/{name} ({e})",
                    self.cfg.path
                ))
            }
        };
        let why = match found.map(|c| ProbeRecord::decode(&c)) {
            Some(Ok(r)) if r.token == tree.token && r.root == self.cfg.layout.root() => {
                return self.proven(name)
            }
            Some(_) => "holds another token than the session's",
            None if tries < READ_BACK_TRIES => {
                if tries == 1 {
                    self.core.reqs.log(
                        Level::Info,
                        format!(
                            "{}/{name} is not there (yet?): looking again",
                            self.cfg.path
                        ),
                    );
                }
                self.proof.phase = Phase::ReadingBack {
                    id: None,
                    tree,
                    tries,
                };
                self.core.set_timer(Timer::ProbeRetry, READ_BACK_PAUSE);
                return;
            }
            None => "is not there",
        };
        self.refuse(format!(
            "destination {} is not session {}'s destination tree: the session's first destination {} wrote the probe file {name} into the root of its tree, and {}/{name} {why} (another directory, another host's disk, or a file system that is not mounted?): give every destination of the session the same tree, or use another --session",
            self.cfg.path,
            self.cfg.layout.session(),
            tree.dest,
            self.cfg.path
        ));
    }

    fn proven(&mut self, probe: String) {
        self.core.reqs.log(
            Level::Info,
            format!(
                "destination tree {} is session {}'s (probe file {probe})",
                self.cfg.path,
                self.cfg.layout.session()
            ),
        );
        for name in std::mem::take(&mut self.proof.own) {
            // Another destination of the session may be writing its temporary right now
            // (it loses the race for the tree and removes its own): never in its way.
            if name != probe && !is_temporary(&name) {
                self.core.reqs.log(
                    Level::Info,
                    format!(
                        "removing {}/{name}, a probe file the session does not use",
                        self.cfg.path
                    ),
                );
                self.remove(name);
            }
        }
        self.proof.phase = Phase::Proven { probe };
        self.register();
    }

    fn refuse(&mut self, message: String) {
        self.exit(exit_code::CONFIG, Some(message));
    }
}

/// Whether a probe file's name is a temporary one, written before it is renamed into
/// place (`<name>.tmp-<pid>`, see `launcher/src/agent/probe_files.rs`).
fn is_temporary(name: &str) -> bool {
    name.rsplit_once(".tmp-")
        .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_records_round_trip_and_name_real_sessions_only() {
        let r = ProbeRecord {
            root: "/zkrsync/s1".into(),
            session: "s1".into(),
            dest: "d-1".into(),
            token: "00ff".into(),
        };
        assert_eq!(ProbeRecord::decode(&r.encode()).unwrap(), r);
        let top = ProbeRecord {
            root: "/s1".into(),
            ..r.clone()
        };
        assert_eq!(ProbeRecord::decode(&top.encode()).unwrap(), top);
        for root in [
            "",
            "s1",
            "/zkrsync/s1/",
            "/zkrsync/../s1",
            "/zookeeper/s1",
            "/a/s2",
        ] {
            let bad = ProbeRecord {
                root: root.into(),
                ..r.clone()
            };
            assert!(ProbeRecord::decode(&bad.encode()).is_err(), "{root:?}");
        }
        assert!(ProbeRecord::decode(b"my notes\n").is_err());
        assert_eq!(probe_name("s1", "d-1"), ".zkrsync-s1-d-1");
    }
}
