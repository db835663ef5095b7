//! A model of a ZooKeeper 3.8 server's data tree and sessions, seen through
//! zookeeper-client, speaking the core's request types: persistent, ephemeral and
//! sequential znodes, versions and stats, one-shot watches, atomic multi, session expiry.
//! Pure and deterministic: no clock, no I/O. The conformance suite
//! (`tests/tests/zk_conformance.rs`) runs the same scripts against it and a real server.

mod watches;

use std::collections::{BTreeMap, BTreeSet};

use zkrsync_core::protocol::{CreateMode, MultiOp, WatchKind, ZkError, ZkOp, ZkReply};

use watches::{Registered, Watches};

/// A client session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

/// A watch that fired, for a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Whose watch.
    pub session: SessionId,
    /// The znode.
    pub path: String,
    /// What happened.
    pub kind: WatchKind,
}

/// A znode's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// Transaction that created it.
    pub czxid: i64,
    /// Transaction that last changed its data.
    pub mzxid: i64,
    /// Changes of its data.
    pub version: i32,
    /// Children created (a deletion does not count, as on ZooKeeper 3.8).
    pub cversion: i32,
    /// The session that owns it, for an ephemeral.
    pub ephemeral_owner: Option<SessionId>,
    /// Its children.
    pub num_children: usize,
}

#[derive(Debug, Clone)]
struct Znode {
    data: Vec<u8>,
    czxid: i64,
    mzxid: i64,
    version: i32,
    cversion: i32,
    owner: Option<SessionId>,
    children: BTreeSet<String>,
}

/// The error zookeeper-client gives for a child of an ephemeral (mapped as the real driver
/// maps it: its message).
pub const NO_CHILDREN_FOR_EPHEMERALS: &str = "ephemeral node can not have children";

/// The server.
#[derive(Debug, Clone)]
pub struct ZkModel {
    nodes: BTreeMap<String, Znode>,
    alive: BTreeMap<SessionId, BTreeSet<String>>,
    next_session: u64,
    zxid: i64,
    watches: Watches,
    notifications: Vec<Notification>,
}

impl Default for ZkModel {
    fn default() -> Self {
        ZkModel::new()
    }
}

fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => "/",
    }
}

fn name_of(path: &str) -> &str {
    &path[path.rfind('/').map_or(0, |i| i + 1)..]
}

fn valid(path: &str) -> bool {
    path == "/"
        || (path.starts_with('/')
            && !path.ends_with('/')
            && !path.contains('\0')
            && path[1..]
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != ".."))
}

fn bad_path() -> ZkError {
    ZkError::Other("bad arguments: invalid path".into())
}

/// Saved state of the znodes a multi touched, to undo it when an op fails.
#[derive(Default)]
struct Undo {
    nodes: BTreeMap<String, Option<Znode>>,
    ephemerals: BTreeMap<SessionId, BTreeSet<String>>,
}

impl ZkModel {
    /// A server with `/` and `/zookeeper` (with `config` and `quota`), as a real one has.
    pub fn new() -> Self {
        let mut m = ZkModel {
            nodes: BTreeMap::new(),
            alive: BTreeMap::new(),
            next_session: 0x0100_0000_0000_0000,
            zxid: 0,
            watches: Watches::default(),
            notifications: Vec::new(),
        };
        m.nodes.insert("/".into(), Self::znode(Vec::new(), 0, None));
        for path in ["/zookeeper", "/zookeeper/config", "/zookeeper/quota"] {
            m.insert(path, Vec::new(), None);
        }
        m
    }

    fn znode(data: Vec<u8>, zxid: i64, owner: Option<SessionId>) -> Znode {
        Znode {
            data,
            czxid: zxid,
            mzxid: zxid,
            version: 0,
            cversion: 0,
            owner,
            children: BTreeSet::new(),
        }
    }

    fn insert(&mut self, path: &str, data: Vec<u8>, owner: Option<SessionId>) {
        let zxid = self.zxid;
        let parent = self.nodes.get_mut(parent_of(path)).expect("parent exists");
        parent.children.insert(name_of(path).to_owned());
        parent.cversion += 1;
        self.nodes
            .insert(path.to_owned(), Self::znode(data, zxid, owner));
        if let Some(s) = owner {
            self.alive.entry(s).or_default().insert(path.to_owned());
        }
    }

    /// Opens a session.
    pub fn open_session(&mut self) -> SessionId {
        self.next_session += 1;
        let s = SessionId(self.next_session);
        self.alive.insert(s, BTreeSet::new());
        s
    }

    /// Whether the session is open.
    pub fn is_alive(&self, s: SessionId) -> bool {
        self.alive.contains_key(&s)
    }

    /// Ends a session on the server's side (its timeout passed): its ephemerals go, its
    /// watches are dropped.
    pub fn expire(&mut self, s: SessionId) {
        let Some(ephemerals) = self.alive.remove(&s) else {
            return;
        };
        self.watches.drop_session(s);
        if ephemerals.is_empty() {
            return;
        }
        self.zxid += 1;
        for path in ephemerals {
            if self.nodes.contains_key(&path) {
                self.remove_node(&path);
                self.fire_delete(&path);
            }
        }
    }

    /// A client closes its session: the same effect on the tree as an expiry.
    pub fn close(&mut self, s: SessionId) {
        self.expire(s);
    }

    /// The watches that fired since the last call, in the order the clients get them.
    pub fn take_notifications(&mut self) -> Vec<Notification> {
        std::mem::take(&mut self.notifications)
    }

    /// The current transaction id.
    pub fn zxid(&self) -> i64 {
        self.zxid
    }

    /// A znode's metadata.
    pub fn stat(&self, path: &str) -> Option<Stat> {
        self.nodes.get(path).map(|n| Stat {
            czxid: n.czxid,
            mzxid: n.mzxid,
            version: n.version,
            cversion: n.cversion,
            ephemeral_owner: n.owner,
            num_children: n.children.len(),
        })
    }

    /// A znode's data.
    pub fn data(&self, path: &str) -> Option<&[u8]> {
        self.nodes.get(path).map(|n| n.data.as_slice())
    }

    /// A znode's children, by name, sorted.
    pub fn children(&self, path: &str) -> Option<Vec<String>> {
        self.nodes
            .get(path)
            .map(|n| n.children.iter().cloned().collect())
    }

    /// The session owning an ephemeral znode.
    pub fn ephemeral_owner(&self, path: &str) -> Option<SessionId> {
        self.nodes.get(path).and_then(|n| n.owner)
    }

    /// Every znode strictly below `path`, sorted.
    pub fn descendants(&self, path: &str) -> Vec<String> {
        let prefix = if path == "/" {
            "/".to_owned()
        } else {
            format!("{path}/")
        };
        self.nodes
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .map(|(p, _)| p.clone())
            .filter(|p| p != "/")
            .collect()
    }

    /// Carries out a request of session `s`.
    pub fn apply(&mut self, s: SessionId, op: &ZkOp) -> Result<ZkReply, ZkError> {
        if !self.is_alive(s) {
            return Err(ZkError::SessionExpired);
        }
        match op {
            ZkOp::Create { path, data, mode } => {
                self.zxid += 1;
                let mut fired = Vec::new();
                let result = self.create(s, path, data, *mode, &mut fired, None);
                self.notifications.extend(fired);
                result.map(ZkReply::Created)
            }
            ZkOp::Delete { path } => {
                self.zxid += 1;
                let mut fired = Vec::new();
                let result = self.delete(path, &mut fired, None);
                self.notifications.extend(fired);
                result.map(|_| ZkReply::Done)
            }
            ZkOp::SetData { path, data } => {
                self.zxid += 1;
                let mut fired = Vec::new();
                let result = self.set_data(path, data, &mut fired, None);
                self.notifications.extend(fired);
                result.map(|_| ZkReply::Done)
            }
            ZkOp::GetData { path, watch } => {
                if !valid(path) {
                    return Err(bad_path());
                }
                let node = self.nodes.get(path).ok_or(ZkError::NoNode)?;
                let data = node.data.clone();
                if *watch {
                    self.watches.add(s, path, Registered::Data);
                }
                Ok(ZkReply::Data(data))
            }
            ZkOp::GetChildren { path, watch } => {
                if !valid(path) {
                    return Err(bad_path());
                }
                let node = self.nodes.get(path).ok_or(ZkError::NoNode)?;
                let names = node.children.iter().cloned().collect();
                if *watch {
                    self.watches.add(s, path, Registered::Children);
                }
                Ok(ZkReply::Children(names))
            }
            ZkOp::Exists { path, watch } => {
                if !valid(path) {
                    return Err(bad_path());
                }
                if *watch {
                    self.watches.add(s, path, Registered::Exists);
                }
                Ok(ZkReply::Exists(self.nodes.contains_key(path)))
            }
            ZkOp::Multi(ops) => self.multi(s, ops),
        }
    }

    fn multi(&mut self, s: SessionId, ops: &[MultiOp]) -> Result<ZkReply, ZkError> {
        // A failed multi still takes a transaction (an error transaction), as on a server.
        self.zxid += 1;
        let mut undo = Undo::default();
        let mut fired = Vec::new();
        for (index, op) in ops.iter().enumerate() {
            let result = match op {
                MultiOp::Create { path, data, mode } => self
                    .create(s, path, data, *mode, &mut fired, Some(&mut undo))
                    .map(|_| ()),
                MultiOp::Delete { path } => self.delete(path, &mut fired, Some(&mut undo)),
                MultiOp::SetData { path, data } => {
                    self.set_data(path, data, &mut fired, Some(&mut undo))
                }
            };
            if let Err(error) = result {
                self.rollback(undo);
                return Err(ZkError::MultiFailed {
                    index,
                    error: Box::new(error),
                });
            }
        }
        // Watches fire only once the whole multi is applied, in the order of its ops.
        for (path, kind) in fired_events(&fired) {
            self.fire(&path, kind);
        }
        Ok(ZkReply::Done)
    }

    fn save(&self, undo: &mut Option<&mut Undo>, path: &str, session: Option<SessionId>) {
        if let Some(u) = undo.as_deref_mut() {
            u.nodes
                .entry(path.to_owned())
                .or_insert_with(|| self.nodes.get(path).cloned());
            let parent = parent_of(path);
            if path != "/" {
                u.nodes
                    .entry(parent.to_owned())
                    .or_insert_with(|| self.nodes.get(parent).cloned());
            }
            if let Some(s) = session {
                u.ephemerals
                    .entry(s)
                    .or_insert_with(|| self.alive.get(&s).cloned().unwrap_or_default());
            }
        }
    }

    fn rollback(&mut self, undo: Undo) {
        for (path, node) in undo.nodes {
            match node {
                Some(n) => {
                    self.nodes.insert(path, n);
                }
                None => {
                    self.nodes.remove(&path);
                }
            }
        }
        for (s, set) in undo.ephemerals {
            if self.alive.contains_key(&s) {
                self.alive.insert(s, set);
            }
        }
    }

    /// Creates a znode; `fired` gets (path, kind) pairs as pseudo-notifications to fire
    /// now (single op) or after the multi.
    fn create(
        &mut self,
        s: SessionId,
        path: &str,
        data: &[u8],
        mode: CreateMode,
        fired: &mut Vec<Notification>,
        mut undo: Option<&mut Undo>,
    ) -> Result<String, ZkError> {
        if !valid(path) || path == "/" {
            return Err(bad_path());
        }
        let parent = parent_of(path);
        let Some(p) = self.nodes.get(parent) else {
            return Err(ZkError::NoNode);
        };
        if p.owner.is_some() {
            return Err(ZkError::Other(NO_CHILDREN_FOR_EPHEMERALS.into()));
        }
        let sequential = matches!(
            mode,
            CreateMode::PersistentSequential | CreateMode::EphemeralSequential
        );
        let actual = if sequential {
            format!("{path}{:010}", p.cversion)
        } else {
            path.to_owned()
        };
        if self.nodes.contains_key(&actual) {
            return Err(ZkError::NodeExists);
        }
        let owner = matches!(
            mode,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential
        )
        .then_some(s);
        self.save(&mut undo, &actual, owner);
        self.insert(&actual, data.to_vec(), owner);
        let single = undo.is_none();
        self.note(fired, &actual, WatchKind::Created, single);
        self.note(fired, parent, WatchKind::ChildrenChanged, single);
        Ok(actual)
    }

    fn delete(
        &mut self,
        path: &str,
        fired: &mut Vec<Notification>,
        mut undo: Option<&mut Undo>,
    ) -> Result<(), ZkError> {
        if !valid(path) {
            return Err(bad_path());
        }
        let Some(node) = self.nodes.get(path) else {
            return Err(ZkError::NoNode);
        };
        if !node.children.is_empty() {
            return Err(ZkError::NotEmpty);
        }
        if path == "/" || path == "/zookeeper" || path.starts_with("/zookeeper/") {
            return Err(ZkError::Other("bad arguments: a system znode".into()));
        }
        let owner = node.owner;
        self.save(&mut undo, path, owner);
        self.remove_node(path);
        let single = undo.is_none();
        self.note(fired, path, WatchKind::Deleted, single);
        self.note(fired, parent_of(path), WatchKind::ChildrenChanged, single);
        Ok(())
    }

    fn set_data(
        &mut self,
        path: &str,
        data: &[u8],
        fired: &mut Vec<Notification>,
        mut undo: Option<&mut Undo>,
    ) -> Result<(), ZkError> {
        if !valid(path) {
            return Err(bad_path());
        }
        if !self.nodes.contains_key(path) {
            return Err(ZkError::NoNode);
        }
        self.save(&mut undo, path, None);
        let zxid = self.zxid;
        let node = self.nodes.get_mut(path).expect("checked");
        node.data = data.to_vec();
        node.version += 1;
        node.mzxid = zxid;
        let single = undo.is_none();
        self.note(fired, path, WatchKind::DataChanged, single);
        Ok(())
    }

    /// Records an event: fired at once for a single operation, kept for a multi.
    fn note(&mut self, fired: &mut Vec<Notification>, path: &str, kind: WatchKind, now: bool) {
        if now {
            self.watches.fire(path, kind, fired);
        } else {
            fired.push(Notification {
                session: SessionId(0),
                path: path.to_owned(),
                kind,
            });
        }
    }

    fn fire(&mut self, path: &str, kind: WatchKind) {
        let mut out = Vec::new();
        self.watches.fire(path, kind, &mut out);
        self.notifications.extend(out);
    }

    fn fire_delete(&mut self, path: &str) {
        self.fire(path, WatchKind::Deleted);
        self.fire(parent_of(path), WatchKind::ChildrenChanged);
    }

    fn remove_node(&mut self, path: &str) {
        if let Some(node) = self.nodes.remove(path) {
            if let Some(s) = node.owner {
                if let Some(set) = self.alive.get_mut(&s) {
                    set.remove(path);
                }
            }
        }
        if let Some(parent) = self.nodes.get_mut(parent_of(path)) {
            // Only creations count in cversion (and so in sequence numbers): measured on
            // ZooKeeper 3.8 by the conformance suite.
            parent.children.remove(name_of(path));
        }
    }
}

/// The events a multi recorded, to fire once it is applied.
fn fired_events(fired: &[Notification]) -> Vec<(String, WatchKind)> {
    fired.iter().map(|n| (n.path.clone(), n.kind)).collect()
}

#[cfg(test)]
mod tests;
