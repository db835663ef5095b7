//! Which one-shot watches a source has armed, so that a znode is watched at most once per
//! kind: a read leaves a watch only when none is armed, a fired watch is disarmed.

use std::collections::HashSet;

use crate::protocol::{WatchKind, ZkOp};

/// The kind of one-shot watch a read leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum WatchClass {
    Data,
    Child,
    Exist,
}

/// The armed watches of one ZooKeeper session.
#[derive(Debug, Default)]
pub(super) struct Watches {
    armed: HashSet<(String, WatchClass)>,
}

impl Watches {
    /// Forgets every watch (their session is gone).
    pub(super) fn clear(&mut self) {
        self.armed.clear();
    }

    fn arm(&mut self, path: &str, class: WatchClass) -> bool {
        self.armed.insert((path.to_owned(), class))
    }

    /// Reads `path`'s data, watching it unless a data watch is armed.
    pub(super) fn get_data(&mut self, path: String) -> ZkOp {
        let watch = self.arm(&path, WatchClass::Data);
        ZkOp::GetData { path, watch }
    }

    /// Asks whether `path` exists, watching it unless an exists watch is armed.
    pub(super) fn exists(&mut self, path: String) -> ZkOp {
        let watch = self.arm(&path, WatchClass::Exist);
        ZkOp::Exists { path, watch }
    }

    /// Lists `path`'s children, watching them unless a child watch is armed.
    pub(super) fn get_children(&mut self, path: String) -> ZkOp {
        self.get_children_if(path, true)
    }

    /// Lists `path`'s children, watching them when `want` and no child watch is armed.
    pub(super) fn get_children_if(&mut self, path: String, want: bool) -> ZkOp {
        let watch = want && self.arm(&path, WatchClass::Child);
        ZkOp::GetChildren { path, watch }
    }

    /// A watch on `path` fired: what it covered is disarmed.
    pub(super) fn fired(&mut self, path: &str, kind: WatchKind) {
        match kind {
            WatchKind::ChildrenChanged => {
                self.armed.remove(&(path.to_owned(), WatchClass::Child));
            }
            WatchKind::DataChanged | WatchKind::Created => {
                self.armed.remove(&(path.to_owned(), WatchClass::Data));
                self.armed.remove(&(path.to_owned(), WatchClass::Exist));
            }
            WatchKind::Deleted => {
                self.armed.retain(|(p, _)| p != path);
            }
        }
    }

    /// A watched read of a missing node leaves no watch.
    pub(super) fn found_no_node(&mut self, op: &ZkOp) {
        match op {
            ZkOp::GetData { path, watch: true } => {
                self.armed.remove(&(path.clone(), WatchClass::Data));
            }
            ZkOp::GetChildren { path, watch: true } => {
                self.armed.remove(&(path.clone(), WatchClass::Child));
            }
            _ => {}
        }
    }

    /// The same read again, after it failed without an answer: a watch it asked for may not
    /// have been left, so it asks again.
    pub(super) fn retry(&mut self, op: ZkOp) -> ZkOp {
        if let ZkOp::GetData { watch: true, path }
        | ZkOp::Exists { watch: true, path }
        | ZkOp::GetChildren { watch: true, path } = &op
        {
            self.armed.retain(|(p, _)| p != path);
        }
        match op {
            ZkOp::GetData { path, .. } => self.get_data(path),
            ZkOp::Exists { path, .. } => self.exists(path),
            ZkOp::GetChildren { path, .. } => self.get_children(path),
            other => other,
        }
    }
}
