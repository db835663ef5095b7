//! The fake ZooKeeper: an in-memory tree with one-shot watches, for the one client under
//! test.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use zkrsync_core::protocol::*;

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

pub(crate) fn parent_of(path: &str) -> &str {
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
