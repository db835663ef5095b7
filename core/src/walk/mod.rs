//! The parallel tree walk that turns a source tree into units of work.
//!
//! For a root R and depth D >= 1, R and every directory at depth 1..D-1 is a non-recursive
//! unit and every directory at depth D a recursive unit; depth 0 makes R one recursive unit.
//! Symlinks to directories are entries of their parent, never descended. What the filter
//! rules ([`crate::filter`]) leave out is neither counted nor descended. Sub-paths
//! ([`SubPath`]) push the depth further down in chosen sub-trees. The walk reads only the
//! directories above the depth, in parallel (rayon), and keeps only the units: memory grows
//! with the number of units, not with the number of files.
//!
//! The walk reads through the [`FileTree`] trait: [`FsTree`] is the real file system,
//! [`MemTree`] a model for property tests and the simulator.

mod fs_tree;
mod mem_tree;
mod spec;

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

pub use fs_tree::FsTree;
pub use mem_tree::{MemEntry, MemTree};
pub use spec::{SubPath, WalkSpec, DEFAULT_DEPTH, DEFAULT_EXCLUDE};

use crate::unit::{RelPath, Unit};

/// What a walk reads: a directory tree, real or modelled.
pub trait FileTree: Sync {
    /// Lists a directory, keeping only the entries for which `keep(name, is_dir)` holds: how
    /// many it has, and the names of those that are directories (not symlinks to
    /// directories).
    fn list_kept(&self, dir: &Path, keep: &dyn Fn(&OsStr, bool) -> bool) -> io::Result<Listing>;
    /// Lists a directory, every entry.
    fn list(&self, dir: &Path) -> io::Result<Listing> {
        self.list_kept(dir, &|_, _| true)
    }
    /// What `path` is, following a final symlink only when asked.
    fn kind(&self, path: &Path, follow_symlinks: bool) -> io::Result<EntryKind>;
    /// The owner uid of `path` (not following a final symlink).
    fn owner(&self, path: &Path) -> io::Result<u32>;
    /// The number of subdirectories of `dir` when it is cheap to know, to weigh
    /// recursive units.
    fn subdir_hint(&self, dir: &Path) -> Option<u64>;
    /// The device `path` is on (`st_dev`, not following a final symlink): a directory on
    /// another device than its parent is a mount point.
    fn device(&self, path: &Path) -> io::Result<u64>;
    /// The file systems mounted strictly below `root`, relative to it.
    fn mount_points(&self, root: &Path) -> Vec<RelPath>;
}

/// What listing one directory found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Listing {
    /// Number of entries (files, symlinks, directories, anything).
    pub entries: u64,
    /// Names of the entries that are directories, in no particular order.
    pub subdirs: Vec<OsString>,
}

/// The type of one file-system entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// Anything else.
    Other,
}

/// A directory the walk could not list. Its unit is marked [`Unit::listing_failed`].
#[derive(Debug)]
pub struct ListError {
    /// The directory.
    pub path: PathBuf,
    /// Why it could not be listed.
    pub error: io::Error,
}

/// The result of a walk.
#[derive(Debug, Default)]
pub struct Walk {
    /// The units, parents before children, siblings in byte order of their names.
    pub units: Vec<Unit>,
    /// Directories listed successfully.
    pub dirs_read: u64,
    /// Entries seen in the listed directories.
    pub entries_seen: u64,
    /// Directories that could not be listed.
    pub errors: Vec<ListError>,
}

/// Why a walk could not start. Every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// The root does not exist or cannot be reached.
    #[error("source path {path} cannot be read ({error}): give an existing directory")]
    RootMissing {
        /// The root.
        path: String,
        /// What the file system said.
        error: io::Error,
    },
    /// The root exists but is not a directory.
    #[error("source path {path} is not a directory: give the directory to copy")]
    RootNotDir {
        /// The root.
        path: String,
    },
    /// A sub-path argument is malformed.
    #[error("bad sub-path {arg:?}: {why}; write it as N_PATH, e.g. 2_projects/big")]
    SubpathSyntax {
        /// The argument.
        arg: String,
        /// What is wrong with it.
        why: String,
    },
    /// An absolute sub-path outside the root.
    #[error("sub-path {subpath} is not below the source path {root}: give a path inside it")]
    SubpathOutsideRoot {
        /// The sub-path.
        subpath: String,
        /// The root.
        root: String,
    },
    /// The sub-path is not a unit of the walk so far.
    #[error("sub-path {subpath} is not a unit of the walk so far: it must be an existing, not excluded directory no deeper than the depth (or an earlier sub-path's reach) allows")]
    SubpathNotAUnit {
        /// The sub-path.
        subpath: String,
    },
    /// The sub-path reaches less deep than what came before it.
    #[error("sub-path {subpath} reaches depth {reach}, less than the {level} before it: give deeper sub-paths later, or a larger N")]
    SubpathNotDeepEnough {
        /// The sub-path.
        subpath: String,
        /// Its depth below the root plus its N.
        reach: u32,
        /// The reach before it.
        level: u32,
    },
}

/// Walks `root` as `spec` asks. Errors reading directories below the root are collected in
/// [`Walk::errors`] and the walk goes on; only a bad root or bad sub-paths stop it.
pub fn walk<T: FileTree>(tree: &T, root: &Path, spec: &WalkSpec) -> Result<Walk, WalkError> {
    let shown = || root.display().to_string();
    match tree.kind(root, true) {
        Ok(EntryKind::Dir) => {}
        Ok(_) => return Err(WalkError::RootNotDir { path: shown() }),
        Err(error) => {
            return Err(WalkError::RootMissing {
                path: shown(),
                error,
            })
        }
    }
    let reaches = spec.subpath_reaches(tree, root)?;
    let walker = Walker {
        tree,
        root,
        spec,
        reaches,
    };
    let root_reach = walker.reach_below(spec.depth, &RelPath::root());
    let mut walk = walker.visit(RelPath::root(), root_reach);
    assign_mounts(&mut walk.units, tree.mount_points(root));
    Ok(walk)
}

/// Gives each unit the mount points in its reach: its own directory, and for a recursive
/// unit every mount point below it.
fn assign_mounts(units: &mut [Unit], mounts: Vec<RelPath>) {
    if mounts.is_empty() {
        return;
    }
    let index: std::collections::HashMap<RelPath, usize> = units
        .iter()
        .enumerate()
        .map(|(i, u)| (u.path.clone(), i))
        .collect();
    for mount in mounts {
        let mut at = Some(mount.clone());
        while let Some(path) = at {
            if let Some(&i) = index.get(&path) {
                let unit = &mut units[i];
                if unit.recursive || path == mount {
                    unit.mounts.push(mount.clone());
                }
            }
            at = path.parent();
        }
    }
}

struct Walker<'a, T> {
    tree: &'a T,
    root: &'a Path,
    spec: &'a WalkSpec,
    /// Sub-path → the depth the walk reaches below it.
    reaches: BTreeMap<RelPath, u32>,
}

impl<T: FileTree> Walker<'_, T> {
    fn reach_below(&self, parent_reach: u32, dir: &RelPath) -> u32 {
        match self.reaches.get(dir) {
            Some(&reach) => parent_reach.max(reach),
            None => parent_reach,
        }
    }

    /// Units of the sub-tree at `dir`, a directory that is itself a unit.
    fn visit(&self, dir: RelPath, reach: u32) -> Walk {
        let full = dir.under(self.root);
        if dir.depth() >= reach {
            let weight = Unit::recursive_weight(self.tree.subdir_hint(&full).unwrap_or(0));
            let unit = Unit {
                path: dir,
                recursive: true,
                listing_failed: false,
                weight,
                excluded: vec![],
                mounts: vec![],
                part: Default::default(),
            };
            return Walk {
                units: vec![unit],
                ..Walk::default()
            };
        }
        let keep = |name: &OsStr, is_dir| self.spec.filters.keeps_entry(&dir, name, is_dir);
        let listing = match self.tree.list_kept(&full, &keep) {
            Ok(listing) => listing,
            Err(error) => {
                let unit = Unit {
                    path: dir,
                    recursive: true,
                    listing_failed: true,
                    weight: Unit::recursive_weight(0),
                    excluded: vec![],
                    mounts: vec![],
                    part: Default::default(),
                };
                let errors = vec![ListError { path: full, error }];
                return Walk {
                    units: vec![unit],
                    errors,
                    ..Walk::default()
                };
            }
        };
        let mut names = listing.subdirs;
        names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let mut excluded = Vec::new();
        let mut children = Vec::with_capacity(names.len());
        for name in names {
            let child = dir.join(&name);
            if self.spec.excludes(self.tree, &child.under(self.root)) {
                excluded.push(name.into_vec());
            } else {
                children.push(child);
            }
        }
        let unit = Unit {
            path: dir,
            recursive: false,
            listing_failed: false,
            weight: 1 + listing.entries,
            excluded,
            mounts: vec![],
            part: Default::default(),
        };
        let parts: Vec<Walk> = children
            .into_par_iter()
            .map(|child| {
                let child_reach = self.reach_below(reach, &child);
                self.visit(child, child_reach)
            })
            .collect();
        let mut out = Walk {
            units: Vec::with_capacity(1 + parts.iter().map(|p| p.units.len()).sum::<usize>()),
            dirs_read: 1,
            entries_seen: listing.entries,
            errors: Vec::new(),
        };
        out.units.push(unit);
        for part in parts {
            out.units.extend(part.units);
            out.dirs_read += part.dirs_read;
            out.entries_seen += part.entries_seen;
            out.errors.extend(part.errors);
        }
        out
    }
}

#[cfg(test)]
mod tests;
