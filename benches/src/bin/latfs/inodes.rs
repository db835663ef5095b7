//! The inode table: which entry of the source tree each node id the kernel holds stands for.
//!
//! A node is an inode of the source tree. Its id is the source's own inode number (so `st_ino`
//! through the mount is the source's, and two hard links of one file are one node), except
//! for inodes on another device below the source, which get ids of their own. A node knows
//! the names it was reached by, as (parent node, name) links; its path is that of its
//! most recent link. Renames and unlinks through the mount move or drop links, so paths
//! follow renames of whole directories without touching their children.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

/// The node id of the mount's root, the source directory itself.
pub const ROOT: u64 = 1;

/// Ids at and above this one are given to inodes that cannot use their own number.
const OWN_IDS: u64 = 1 << 63;

/// Links walked up at the most to make a path (deeper means a loop in the table).
const MAX_DEPTH: usize = 4096;

/// The identity of an inode of the source tree: its device and inode number.
pub type Key = (u64, u64);

#[derive(Debug)]
struct Node {
    key: Key,
    /// (parent, name) links, the most recent first.
    links: Vec<(u64, OsString)>,
    /// How many times the kernel was handed this id, less what it forgot.
    lookups: u64,
}

/// The node ids the kernel holds, and the names they were reached by.
#[derive(Debug)]
pub struct Inodes {
    source: PathBuf,
    source_key: Key,
    nodes: HashMap<u64, Node>,
    /// (parent, name) -> node.
    names: HashMap<(u64, OsString), u64>,
    /// Inodes numbered with ids of our own, by key.
    own: HashMap<Key, u64>,
    next_own: u64,
}

impl Inodes {
    /// The table of a mount of `source`, whose own identity is `source_key`.
    pub fn new(source: PathBuf, source_key: Key) -> Inodes {
        let root = Node {
            key: source_key,
            links: Vec::new(),
            lookups: 1,
        };
        Inodes {
            source,
            source_key,
            nodes: HashMap::from([(ROOT, root)]),
            names: HashMap::new(),
            own: HashMap::new(),
            next_own: OWN_IDS,
        }
    }

    /// The path of node `id` in the source tree; `None` for an id the kernel forgot or a
    /// node whose every known name was removed.
    pub fn path(&self, id: u64) -> Option<PathBuf> {
        let mut names: Vec<&OsStr> = Vec::new();
        let mut at = id;
        while at != ROOT {
            let (parent, name) = self.nodes.get(&at)?.links.first()?;
            names.push(name);
            at = *parent;
            if names.len() > MAX_DEPTH {
                return None;
            }
        }
        let mut path = self.source.clone();
        path.extend(names.iter().rev());
        Some(path)
    }

    /// The path of entry `name` of directory node `parent`.
    pub fn child_path(&self, parent: u64, name: &OsStr) -> Option<PathBuf> {
        self.path(parent).map(|p| p.join(name))
    }

    /// The directory node `id` was last reached from.
    pub fn parent(&self, id: u64) -> Option<u64> {
        self.nodes.get(&id)?.links.first().map(|link| link.0)
    }

    /// The identity node `id` was reached with.
    pub fn key(&self, id: u64) -> Option<Key> {
        self.nodes.get(&id).map(|n| n.key)
    }

    /// The id an inode shows up with without being handed to the kernel (for directory
    /// listings): its own number where it may use it, the id it has if it has one, else its
    /// number as it is.
    pub fn listed_id(&self, key: Key) -> u64 {
        if self.numbered_as_itself(key) {
            key.1
        } else {
            self.own.get(&key).copied().unwrap_or(key.1)
        }
    }

    /// Records that entry `name` of `parent`, the inode `key`, is handed to the kernel
    /// (a lookup, create, mkdir, symlink, mknod or link reply): returns its id. The count goes
    /// up before the reply is sent, so a forget never comes first.
    ///
    /// An id the kernel still holds for a removed inode may come back for a new inode with
    /// the same number: the source reuses a number only once the inode is gone, and it is
    /// not gone while a file of it is open here, so the kernel's old inode is idle and takes
    /// the new attributes (or is dropped, if the type differs).
    pub fn remember(&mut self, parent: u64, name: &OsStr, key: Key) -> u64 {
        let id = self.id_for(key);
        let link = (parent, name.to_os_string());
        if let Some(previous) = self.names.insert(link.clone(), id) {
            if previous != id {
                self.drop_link(previous, &link);
            }
        }
        let node = self.nodes.entry(id).or_insert_with(|| Node {
            key,
            links: Vec::new(),
            lookups: 0,
        });
        node.key = key;
        node.links.retain(|l| *l != link);
        node.links.insert(0, link);
        node.lookups += 1;
        id
    }

    /// The kernel forgot `count` lookups of `id`: at zero the node goes.
    pub fn forget(&mut self, id: u64, count: u64) {
        if id == ROOT {
            return;
        }
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        node.lookups = node.lookups.saturating_sub(count);
        if node.lookups > 0 {
            return;
        }
        let node = self.nodes.remove(&id).expect("node just seen");
        for link in node.links {
            if self.names.get(&link) == Some(&id) {
                self.names.remove(&link);
            }
        }
        if self.own.get(&node.key) == Some(&id) {
            self.own.remove(&node.key);
        }
    }

    /// Entry `name` of `parent` was removed (unlink, rmdir).
    pub fn unlinked(&mut self, parent: u64, name: &OsStr) {
        let link = (parent, name.to_os_string());
        if let Some(id) = self.names.remove(&link) {
            self.drop_link(id, &link);
        }
    }

    /// Entry `name` of `parent` was renamed to `new_name` of `new_parent`, replacing what was
    /// there.
    pub fn renamed(&mut self, parent: u64, name: &OsStr, new_parent: u64, new_name: &OsStr) {
        let from = (parent, name.to_os_string());
        let to = (new_parent, new_name.to_os_string());
        let moved = self.names.remove(&from);
        self.unlinked(new_parent, new_name);
        if let Some(id) = moved {
            self.names.insert(to.clone(), id);
            let node = self.nodes.get_mut(&id).expect("named node");
            node.links.retain(|l| *l != from && *l != to);
            node.links.insert(0, to);
        }
    }

    /// Entries `name` of `parent` and `new_name` of `new_parent` were swapped
    /// (`RENAME_EXCHANGE`).
    pub fn exchanged(&mut self, parent: u64, name: &OsStr, new_parent: u64, new_name: &OsStr) {
        let a = (parent, name.to_os_string());
        let b = (new_parent, new_name.to_os_string());
        let at_a = self.names.remove(&a);
        let at_b = self.names.remove(&b);
        for (id, old, new) in [(at_a, &a, &b), (at_b, &b, &a)] {
            let Some(id) = id else { continue };
            self.names.insert(new.clone(), id);
            let node = self.nodes.get_mut(&id).expect("named node");
            node.links.retain(|l| l != old && l != new);
            node.links.insert(0, new.clone());
        }
    }

    fn drop_link(&mut self, id: u64, link: &(u64, OsString)) {
        if let Some(node) = self.nodes.get_mut(&id) {
            node.links.retain(|l| l != link);
        }
    }

    /// May `key` use its own inode number as its id? Not on another device, not the numbers
    /// FUSE reserves (0, the root's 1), not the source's own number, not our own range.
    fn numbered_as_itself(&self, key: Key) -> bool {
        let (dev, ino) = key;
        dev == self.source_key.0 && ino > ROOT && ino < OWN_IDS && key != self.source_key
    }

    fn id_for(&mut self, key: Key) -> u64 {
        if self.numbered_as_itself(key) {
            return key.1;
        }
        if let Some(&id) = self.own.get(&key) {
            return id;
        }
        let id = self.next_own;
        self.next_own += 1;
        self.own.insert(key, id);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV: u64 = 7;

    fn table() -> Inodes {
        Inodes::new(PathBuf::from("/src"), (DEV, 100))
    }

    fn os(s: &str) -> &OsStr {
        OsStr::new(s)
    }

    #[test]
    fn an_entry_is_numbered_as_its_inode_and_found_by_its_path() {
        let mut t = table();
        let dir = t.remember(ROOT, os("a"), (DEV, 200));
        let file = t.remember(dir, os("f"), (DEV, 201));
        assert_eq!((dir, file), (200, 201));
        assert_eq!(t.path(file), Some(PathBuf::from("/src/a/f")));
        assert_eq!(t.path(ROOT), Some(PathBuf::from("/src")));
    }

    #[test]
    fn another_device_the_reserved_numbers_and_the_source_get_ids_of_their_own() {
        let mut t = table();
        let other = t.remember(ROOT, os("m"), (DEV + 1, 200));
        let one = t.remember(ROOT, os("one"), (DEV, 1));
        let loop_ = t.remember(ROOT, os("self"), (DEV, 100));
        assert_eq!([other, one, loop_], [OWN_IDS, OWN_IDS + 1, OWN_IDS + 2]);
        assert_eq!(t.remember(ROOT, os("m"), (DEV + 1, 200)), other);
        assert_eq!(t.listed_id((DEV + 1, 200)), other);
        assert_eq!(t.listed_id((DEV, 55)), 55);
    }

    #[test]
    fn a_renamed_directory_takes_its_children_along() {
        let mut t = table();
        let dir = t.remember(ROOT, os("a"), (DEV, 200));
        let sub = t.remember(dir, os("b"), (DEV, 201));
        let file = t.remember(sub, os("f"), (DEV, 202));
        t.renamed(ROOT, os("a"), ROOT, os("z"));
        assert_eq!(t.path(file), Some(PathBuf::from("/src/z/b/f")));
        t.renamed(dir, os("b"), ROOT, os("top"));
        assert_eq!(t.path(file), Some(PathBuf::from("/src/top/f")));
    }

    #[test]
    fn a_rename_over_an_entry_removes_that_entry() {
        let mut t = table();
        let tmp = t.remember(ROOT, os(".f.tmp"), (DEV, 300));
        let old = t.remember(ROOT, os("f"), (DEV, 301));
        t.renamed(ROOT, os(".f.tmp"), ROOT, os("f"));
        assert_eq!(t.path(tmp), Some(PathBuf::from("/src/f")));
        assert_eq!(t.path(old), None);
        assert_eq!(t.child_path(ROOT, os("f")), Some(PathBuf::from("/src/f")));
    }

    #[test]
    fn an_exchange_swaps_both_names() {
        let mut t = table();
        let a = t.remember(ROOT, os("a"), (DEV, 300));
        let b = t.remember(ROOT, os("b"), (DEV, 301));
        t.exchanged(ROOT, os("a"), ROOT, os("b"));
        assert_eq!(t.path(a), Some(PathBuf::from("/src/b")));
        assert_eq!(t.path(b), Some(PathBuf::from("/src/a")));
    }

    #[test]
    fn hard_links_are_one_node_that_outlives_one_of_its_names() {
        let mut t = table();
        let first = t.remember(ROOT, os("x"), (DEV, 400));
        let second = t.remember(ROOT, os("y"), (DEV, 400));
        assert_eq!(first, second);
        assert_eq!(t.path(first), Some(PathBuf::from("/src/y")));
        t.unlinked(ROOT, os("y"));
        assert_eq!(t.path(first), Some(PathBuf::from("/src/x")));
        t.unlinked(ROOT, os("x"));
        assert_eq!(t.path(first), None);
    }

    #[test]
    fn a_removed_inode_seen_again_under_a_new_name_keeps_its_id() {
        let mut t = table();
        let id = t.remember(ROOT, os("x"), (DEV, 500));
        t.unlinked(ROOT, os("x"));
        assert_eq!(t.remember(ROOT, os("new"), (DEV, 500)), id);
        assert_eq!(t.path(id), Some(PathBuf::from("/src/new")));
    }

    #[test]
    fn a_node_goes_when_the_kernel_forgets_every_lookup() {
        let mut t = table();
        let id = t.remember(ROOT, os("x"), (DEV + 1, 600));
        t.remember(ROOT, os("x"), (DEV + 1, 600));
        t.forget(id, 1);
        assert_eq!(t.path(id), Some(PathBuf::from("/src/x")));
        t.forget(id, 1);
        assert_eq!(t.path(id), None);
        assert_eq!(t.child_path(ROOT, os("x")), Some(PathBuf::from("/src/x")));
        // Its own id is given back: the same inode seen again gets a new one.
        assert_ne!(t.remember(ROOT, os("x"), (DEV + 1, 600)), id);
        t.forget(ROOT, 10);
        assert_eq!(t.path(ROOT), Some(PathBuf::from("/src")));
    }
}
