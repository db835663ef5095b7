//! A file tree held in memory: the model the property tests and the simulator walk.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use super::{EntryKind, FileTree, Listing};
use crate::unit::RelPath;

/// One entry of a [`MemTree`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemEntry {
    /// A directory; `unreadable` makes listing it fail with permission denied.
    Dir {
        /// Owner uid.
        owner: u32,
        /// Listing fails when set.
        unreadable: bool,
    },
    /// A regular file (or anything else that is not a directory or symlink).
    File,
    /// A symbolic link (never followed).
    Symlink,
}

/// An in-memory tree below an absolute root. Parents must be added before children.
///
/// Directories can be mount points: while one is unmounted it lists as empty, what is below
/// it is not there, and it is on its parent's device.
#[derive(Debug, Clone)]
pub struct MemTree {
    root: PathBuf,
    entries: BTreeMap<RelPath, MemEntry>,
    children: BTreeMap<RelPath, Vec<OsString>>,
    /// Mount points, and whether each is mounted now.
    mounts: BTreeMap<RelPath, bool>,
}

impl MemTree {
    /// A tree whose root directory (owned by `owner`) is at `root`.
    pub fn new(root: &Path, owner: u32) -> MemTree {
        let mut entries = BTreeMap::new();
        entries.insert(
            RelPath::root(),
            MemEntry::Dir {
                owner,
                unreadable: false,
            },
        );
        MemTree {
            root: root.to_path_buf(),
            entries,
            children: BTreeMap::new(),
            mounts: BTreeMap::new(),
        }
    }

    /// Makes the directory `path` a mount point, mounted or not. Panics if it is not a
    /// directory of the tree (caller misuse).
    pub fn set_mount(&mut self, path: RelPath, mounted: bool) {
        assert!(
            !path.is_root() && matches!(self.entries.get(&path), Some(MemEntry::Dir { .. })),
            "mount point {path:?} must be a directory below the root"
        );
        self.mounts.insert(path, mounted);
    }

    /// Whether `rel` is hidden by an unmounted mount point above it.
    fn hidden(&self, rel: &RelPath) -> bool {
        self.mounts
            .iter()
            .any(|(m, mounted)| !mounted && m.is_ancestor_of(rel))
    }

    /// The root path.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Adds an entry. Panics if its parent is not a directory of the tree (caller misuse).
    pub fn insert(&mut self, path: RelPath, entry: MemEntry) {
        let parent = path.parent().expect("the root already exists");
        assert!(
            matches!(self.entries.get(&parent), Some(MemEntry::Dir { .. })),
            "parent of {path:?} must be a directory of the tree"
        );
        let name =
            OsString::from_vec(path.as_bytes()[path.as_bytes().len() - name_len(&path)..].to_vec());
        if self.entries.insert(path, entry).is_none() {
            self.children.entry(parent).or_default().push(name);
        }
    }

    /// Every entry, the root included, in path order.
    pub fn entries(&self) -> impl Iterator<Item = (&RelPath, &MemEntry)> {
        self.entries.iter()
    }

    fn lookup(&self, path: &Path) -> io::Result<(RelPath, &MemEntry)> {
        let not_found = || io::Error::from(io::ErrorKind::NotFound);
        let rest = path.strip_prefix(&self.root).map_err(|_| not_found())?;
        let rel = RelPath::from_bytes(rest.as_os_str().as_bytes()).map_err(|_| not_found())?;
        if self.hidden(&rel) {
            return Err(not_found());
        }
        let entry = self.entries.get(&rel).ok_or_else(not_found)?;
        Ok((rel, entry))
    }
}

impl FileTree for MemTree {
    fn list_kept(&self, dir: &Path, keep: &dyn Fn(&OsStr, bool) -> bool) -> io::Result<Listing> {
        let (rel, entry) = self.lookup(dir)?;
        match entry {
            MemEntry::Dir {
                unreadable: true, ..
            } => return Err(io::Error::from(io::ErrorKind::PermissionDenied)),
            MemEntry::Dir { .. } => {}
            _ => return Err(io::Error::from(io::ErrorKind::NotADirectory)),
        }
        let mut listing = Listing::default();
        if self.mounts.get(&rel) == Some(&false) {
            return Ok(listing);
        }
        for name in self
            .children
            .get(&rel)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let is_dir = matches!(
                self.entries.get(&rel.join(name)),
                Some(MemEntry::Dir { .. })
            );
            if !keep(name, is_dir) {
                continue;
            }
            listing.entries += 1;
            if is_dir {
                listing.subdirs.push(name.clone());
            }
        }
        Ok(listing)
    }

    fn kind(&self, path: &Path, follow_symlinks: bool) -> io::Result<EntryKind> {
        let (_, entry) = self.lookup(path)?;
        Ok(match entry {
            MemEntry::Dir { .. } => EntryKind::Dir,
            // The model's symlinks point nowhere inside the tree.
            MemEntry::Symlink if follow_symlinks => return Err(io::ErrorKind::NotFound.into()),
            MemEntry::Symlink => EntryKind::Symlink,
            MemEntry::File => EntryKind::Other,
        })
    }

    fn owner(&self, path: &Path) -> io::Result<u32> {
        match self.lookup(path)?.1 {
            MemEntry::Dir { owner, .. } => Ok(*owner),
            _ => Ok(0),
        }
    }

    fn subdir_hint(&self, dir: &Path) -> Option<u64> {
        self.list(dir).ok().map(|l| l.subdirs.len() as u64)
    }

    fn device(&self, path: &Path) -> io::Result<u64> {
        let (rel, _) = self.lookup(path)?;
        // The deepest mounted mount point at or above the path; 0 is the root's device.
        Ok(self
            .mounts
            .iter()
            .enumerate()
            .filter(|(_, (m, mounted))| **mounted && (**m == rel || m.is_ancestor_of(&rel)))
            .max_by_key(|(_, (m, _))| m.depth())
            .map_or(0, |(i, _)| i as u64 + 1))
    }

    fn mount_points(&self, root: &Path) -> Vec<RelPath> {
        if root != self.root {
            return Vec::new();
        }
        self.mounts
            .iter()
            .filter(|(m, mounted)| **mounted && !self.hidden(m))
            .map(|(m, _)| m.clone())
            .collect()
    }
}

fn name_len(path: &RelPath) -> usize {
    let bytes = path.as_bytes();
    bytes.len() - bytes.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1)
}
