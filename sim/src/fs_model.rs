//! A file-system model: a tree of directories, files (with a content version) and symlinks,
//! keyed by their path relative to the tree's root, as bytes.

use std::collections::BTreeMap;
use std::path::Path;

use zkrsync_core::unit::RelPath;
use zkrsync_core::walk::{MemEntry, MemTree};

/// One entry of a [`Tree`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    /// A directory.
    Dir,
    /// A regular file; the number stands for its content and metadata.
    File(u64),
    /// A symbolic link; the number stands for its target.
    Symlink(u64),
}

/// A tree. The root (the empty path) is always a directory; every entry's parent is a
/// directory of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    entries: BTreeMap<Vec<u8>, Node>,
}

impl Default for Tree {
    fn default() -> Tree {
        Tree::new()
    }
}

/// The parent of a path (`a/b` → `a`, `a` → the root).
pub fn parent(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => &path[..i],
        None => b"",
    }
}

/// `dir` joined with `name`.
pub fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        name.to_vec()
    } else {
        let mut p = dir.to_vec();
        p.push(b'/');
        p.extend_from_slice(name);
        p
    }
}

/// The length of the last component of `path`.
pub fn name_len(path: &[u8]) -> usize {
    path.iter().rev().take_while(|&&b| b != b'/').count()
}

/// Whether `path` is `dir` or below it (every path is below the root, `""`).
pub fn is_within(path: &[u8], dir: &[u8]) -> bool {
    dir.is_empty()
        || path == dir
        || (path.len() > dir.len() && path.starts_with(dir) && path[dir.len()] == b'/')
}

impl Tree {
    /// A tree with only its root directory.
    pub fn new() -> Tree {
        let mut entries = BTreeMap::new();
        entries.insert(Vec::new(), Node::Dir);
        Tree { entries }
    }

    /// A generated tree of about `dirs` directories, each with a few files, symlinks and
    /// subdirectories, from `next` (a source of random numbers).
    pub fn generate(dirs: usize, mut next: impl FnMut(u64) -> u64) -> Tree {
        let mut tree = Tree::new();
        let mut all_dirs: Vec<Vec<u8>> = vec![Vec::new()];
        let mut serial = 0u64;
        while all_dirs.len() < dirs.max(1) {
            // Prefer recent directories, so the tree gets deep as well as wide.
            let at = all_dirs.len() - 1 - (next(all_dirs.len().min(8) as u64) as usize);
            let name = format!("d{serial}");
            serial += 1;
            let path = join(&all_dirs[at], name.as_bytes());
            tree.entries.insert(path.clone(), Node::Dir);
            all_dirs.push(path);
        }
        for dir in &all_dirs {
            for f in 0..next(6) {
                let content = next(1 << 20) + 1;
                let node = if next(10) == 0 {
                    Node::Symlink(content)
                } else {
                    Node::File(content)
                };
                tree.entries
                    .insert(join(dir, format!("f{f}").as_bytes()), node);
            }
        }
        tree
    }

    /// Adds `files` files to one directory chosen by `next` (a flat directory, to be cut
    /// into buckets).
    pub fn add_flat(&mut self, files: u64, mut next: impl FnMut(u64) -> u64) {
        let dirs: Vec<Vec<u8>> = self
            .entries
            .iter()
            .filter(|(_, n)| **n == Node::Dir)
            .map(|(p, _)| p.clone())
            .collect();
        let dir = dirs[next(dirs.len() as u64) as usize].clone();
        for f in 0..files {
            let node = Node::File(next(1 << 20) + 1);
            self.entries
                .insert(join(&dir, format!("flat{f}").as_bytes()), node);
        }
    }

    /// A balanced tree: `fanout` subdirectories at each of `levels` levels, and `files`
    /// files in each deepest directory.
    pub fn balanced(fanout: usize, levels: u32, files: usize) -> Tree {
        let mut tree = Tree::new();
        let mut dirs: Vec<Vec<u8>> = vec![Vec::new()];
        for _ in 0..levels {
            let mut next = Vec::with_capacity(dirs.len() * fanout);
            for d in &dirs {
                for i in 0..fanout {
                    let p = join(d, format!("d{i}").as_bytes());
                    tree.entries.insert(p.clone(), Node::Dir);
                    next.push(p);
                }
            }
            dirs = next;
        }
        for d in &dirs {
            for f in 0..files {
                tree.entries.insert(
                    join(d, format!("f{f}").as_bytes()),
                    Node::File(f as u64 + 1),
                );
            }
        }
        tree
    }

    /// The entry at `path`.
    pub fn get(&self, path: &[u8]) -> Option<Node> {
        self.entries.get(path).copied()
    }

    /// Whether the root has any entry.
    pub fn root_nonempty(&self) -> bool {
        self.entries.len() > 1
    }

    /// Number of entries, the root included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the tree is only its root.
    pub fn is_empty(&self) -> bool {
        self.entries.len() <= 1
    }

    /// Every entry, in path order.
    pub fn entries(&self) -> impl Iterator<Item = (&Vec<u8>, &Node)> {
        self.entries.iter()
    }

    /// The entries directly in `dir`, by full path.
    pub fn children(&self, dir: &[u8]) -> Vec<(Vec<u8>, Node)> {
        self.below(dir)
            .filter(|(p, _)| parent(p) == dir)
            .map(|(p, n)| (p.clone(), *n))
            .collect()
    }

    /// The entries strictly below `dir`.
    pub fn below<'a>(&'a self, dir: &'a [u8]) -> impl Iterator<Item = (&'a Vec<u8>, &'a Node)> {
        let start = if dir.is_empty() {
            vec![]
        } else {
            let mut s = dir.to_vec();
            s.push(b'/');
            s
        };
        self.entries
            .range(start.clone()..)
            .skip_while(move |(p, _)| p.is_empty())
            .take_while(move |(p, _)| p.starts_with(&start))
    }

    /// Sets `path` to `node`, creating missing parents as directories (as rsync's implied
    /// directories of `--relative` do). A non-directory in the way is replaced.
    pub fn put(&mut self, path: &[u8], node: Node) {
        if path.is_empty() {
            return;
        }
        let p = parent(path);
        if self.get(p) != Some(Node::Dir) {
            self.put(p, Node::Dir);
        }
        if node != Node::Dir || self.get(path) != Some(Node::Dir) {
            if self.get(path) == Some(Node::Dir) {
                self.remove(path);
            }
            self.entries.insert(path.to_vec(), node);
        }
    }

    /// Removes `path` and everything below it; returns the paths removed.
    pub fn remove(&mut self, path: &[u8]) -> Vec<Vec<u8>> {
        if path.is_empty() {
            let gone: Vec<Vec<u8>> = self.below(b"").map(|(p, _)| p.clone()).collect();
            *self = Tree::new();
            return gone;
        }
        let mut gone: Vec<Vec<u8>> = self.below(path).map(|(p, _)| p.clone()).collect();
        if self.entries.remove(path).is_some() {
            gone.push(path.to_vec());
        }
        for p in &gone {
            self.entries.remove(p);
        }
        gone
    }

    /// Changes the content of about `permille`/1000 of the files, removes and adds a few
    /// entries (a tree that moved on since the last copy).
    pub fn mutate(&mut self, permille: u64, mut next: impl FnMut(u64) -> u64) {
        let paths: Vec<(Vec<u8>, Node)> =
            self.entries.iter().map(|(p, n)| (p.clone(), *n)).collect();
        for (path, node) in paths {
            if next(1000) >= permille {
                continue;
            }
            match node {
                Node::File(v) => {
                    self.entries.insert(path, Node::File(v + 1 + next(9)));
                }
                Node::Dir if !path.is_empty() && next(4) == 0 => {
                    self.remove(&path);
                }
                Node::Dir => {
                    self.entries.insert(
                        join(&path, format!("n{}", next(1000)).as_bytes()),
                        Node::File(7),
                    );
                }
                Node::Symlink(_) => {
                    self.entries.remove(&path);
                }
            }
        }
    }

    /// The tree as the walk sees it, below `root`, with its mount points (`true`: mounted;
    /// an unmounted one is an empty directory).
    pub fn mem_tree(&self, root: &Path, mounts: &[(Vec<u8>, bool)]) -> MemTree {
        self.mem_tree_of(root, self.entries.iter().skip(1), mounts)
    }

    /// This tree with the directories `dirs` emptied (file systems unmounted there leave
    /// empty mount points).
    pub fn with_emptied<'a>(&self, dirs: impl IntoIterator<Item = &'a Vec<u8>>) -> Tree {
        let mut t = self.clone();
        for dir in dirs {
            for (child, _) in t.children(dir) {
                t.remove(&child);
            }
        }
        t
    }

    /// The root's own entries and `paths` with their ancestors (and the mount points with
    /// theirs), as a check of those paths sees the tree (cheaper than the whole tree).
    pub fn view_for<'a>(
        &self,
        root: &Path,
        paths: impl IntoIterator<Item = &'a [u8]>,
        mounts: &[(Vec<u8>, bool)],
    ) -> MemTree {
        let mut wanted: std::collections::BTreeMap<Vec<u8>, Node> =
            self.children(b"").into_iter().collect();
        let mount_paths: Vec<&[u8]> = mounts.iter().map(|(m, _)| m.as_slice()).collect();
        let paths: Vec<&[u8]> = paths.into_iter().collect();
        for path in paths.into_iter().chain(mount_paths) {
            let mut at = path;
            while !at.is_empty() {
                if let Some(node) = self.get(at) {
                    wanted.insert(at.to_vec(), node);
                }
                at = parent(at);
            }
        }
        self.mem_tree_of(root, wanted.iter(), mounts)
    }

    fn mem_tree_of<'a>(
        &self,
        root: &Path,
        entries: impl Iterator<Item = (&'a Vec<u8>, &'a Node)>,
        mounts: &[(Vec<u8>, bool)],
    ) -> MemTree {
        let mut mem = MemTree::new(root, 1000);
        for (path, node) in entries {
            let rel = RelPath::from_bytes(path).expect("model paths are valid");
            let entry = match node {
                Node::Dir => MemEntry::Dir {
                    owner: 1000,
                    unreadable: false,
                },
                Node::File(_) => MemEntry::File,
                Node::Symlink(_) => MemEntry::Symlink,
            };
            mem.insert(rel, entry);
        }
        for (path, mounted) in mounts {
            if let (Some(Node::Dir), Ok(rel)) = (self.get(path), RelPath::from_bytes(path)) {
                mem.set_mount(rel, *mounted);
            }
        }
        mem
    }

    /// The first few differences between two trees, as rsync's itemize would list them.
    pub fn differences(&self, other: &Tree, limit: usize) -> Vec<String> {
        let mut out = Vec::new();
        for (p, n) in &self.entries {
            match other.entries.get(p) {
                None => out.push(format!("missing {}", String::from_utf8_lossy(p))),
                Some(m) if m != n => out.push(format!(
                    "differs {} ({n:?} vs {m:?})",
                    String::from_utf8_lossy(p)
                )),
                _ => {}
            }
            if out.len() >= limit {
                return out;
            }
        }
        for p in other.entries.keys() {
            if !self.entries.contains_key(p) {
                out.push(format!("extraneous {}", String::from_utf8_lossy(p)));
                if out.len() >= limit {
                    break;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_creates_parents_and_remove_takes_subtrees() {
        let mut t = Tree::new();
        t.put(b"a/b/c", Node::File(1));
        assert_eq!(t.get(b"a"), Some(Node::Dir));
        assert_eq!(t.get(b"a/b"), Some(Node::Dir));
        t.put(b"a2", Node::File(2));
        let gone = t.remove(b"a");
        assert_eq!(gone.len(), 3);
        assert_eq!(t.get(b"a2"), Some(Node::File(2)));
        assert_eq!(t.children(b"").len(), 1);
    }

    #[test]
    fn below_does_not_take_siblings_with_a_common_prefix() {
        let mut t = Tree::new();
        t.put(b"a/x", Node::File(1));
        t.put(b"ab/y", Node::File(1));
        let below: Vec<_> = t.below(b"a").map(|(p, _)| p.clone()).collect();
        assert_eq!(below, vec![b"a/x".to_vec()]);
    }
}
