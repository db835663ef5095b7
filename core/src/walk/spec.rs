//! What a walk is asked to do: depth, filter rules, vsc-zk's exclusion regex and sub-paths,
//! checked before any unit is produced.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use regex::bytes::Regex;

use super::{EntryKind, FileTree, WalkError};
use crate::filter::FilterList;
use crate::unit::RelPath;

/// vsc-zk's default exclusion regex: GPFS snapshot directories.
pub const DEFAULT_EXCLUDE: &str = r"/\.snapshots(/.*|$)";

/// vsc-zk's default depth.
pub const DEFAULT_DEPTH: u32 = 3;

/// The parameters of a walk.
#[derive(Debug, Clone)]
pub struct WalkSpec {
    /// Directories above this depth are non-recursive units, directories at it recursive.
    pub depth: u32,
    /// rsync's filter rules: an entry they leave out is not counted, and a directory they
    /// leave out is neither a unit nor descended, as every rsync run leaves them out.
    pub filters: FilterList,
    /// vsc-zk's `--excludere`: directories whose full path matches are neither units nor
    /// descended (the root itself is never excluded).
    pub exclude_regex: Option<Regex>,
    /// When set, a match of `exclude_regex` only counts for directories owned by this uid.
    pub exclude_owner: Option<u32>,
    /// Sub-trees walked deeper than `depth`, in the order given (vsc-zk's `rsubpaths`).
    pub subpaths: Vec<SubPath>,
}

impl WalkSpec {
    /// A spec with the given depth, no filters, no exclusion and no sub-paths.
    pub fn with_depth(depth: u32) -> WalkSpec {
        WalkSpec {
            depth,
            filters: FilterList::new(),
            exclude_regex: None,
            exclude_owner: None,
            subpaths: Vec::new(),
        }
    }

    /// Whether the directory at `full` is excluded by the regex.
    pub(super) fn excludes<T: FileTree>(&self, tree: &T, full: &Path) -> bool {
        let Some(re) = &self.exclude_regex else {
            return false;
        };
        if !re.is_match(full.as_os_str().as_bytes()) {
            return false;
        }
        match self.exclude_owner {
            None => true,
            // A directory whose owner cannot be read is kept: copying too much is safe.
            Some(uid) => tree.owner(full).is_ok_and(|owner| owner == uid),
        }
    }

    /// Checks the sub-paths against the tree (each must be a unit of the walk so far, and
    /// reach at least as deep as everything before it) and returns the reach of each.
    pub(super) fn subpath_reaches<T: FileTree>(
        &self,
        tree: &T,
        root: &Path,
    ) -> Result<BTreeMap<RelPath, u32>, WalkError> {
        let mut reaches = BTreeMap::new();
        let mut level = self.depth;
        for sub in &self.subpaths {
            let depth = sub.path.depth();
            if let Some(parent) = sub.path.parent() {
                let parent_reach = reach_of(&reaches, self.depth, &parent);
                if depth > parent_reach || !self.is_walkable_dir(tree, root, &sub.path) {
                    return Err(WalkError::SubpathNotAUnit {
                        subpath: sub.shown(root),
                    });
                }
            }
            let reach = depth + sub.extra_depth;
            if reach < level {
                return Err(WalkError::SubpathNotDeepEnough {
                    subpath: sub.shown(root),
                    reach,
                    level,
                });
            }
            level = reach;
            reaches.insert(sub.path.clone(), reach);
        }
        Ok(reaches)
    }

    /// Whether `path` and every ancestor below the root are real, non-excluded directories.
    fn is_walkable_dir<T: FileTree>(&self, tree: &T, root: &Path, path: &RelPath) -> bool {
        let mut at = Some(path.clone());
        while let Some(p) = at.filter(|p| !p.is_root()) {
            let full = p.under(root);
            if !matches!(tree.kind(&full, false), Ok(EntryKind::Dir))
                || self.excludes(tree, &full)
                || self.filters.excludes(p.as_bytes(), true)
            {
                return false;
            }
            at = p.parent();
        }
        true
    }
}

/// The depth to which the walk descends below `path`: the base depth, or the reach of the
/// deepest sub-path that is `path` or one of its ancestors.
fn reach_of(reaches: &BTreeMap<RelPath, u32>, depth: u32, path: &RelPath) -> u32 {
    let mut reach = depth;
    let mut at = Some(path.clone());
    while let Some(p) = at {
        if let Some(&r) = reaches.get(&p) {
            reach = reach.max(r);
        }
        at = p.parent();
    }
    reach
}

/// A sub-tree to walk `extra_depth` levels below itself: vsc-zk's `N_REL` (`3_a1/ab2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubPath {
    /// The sub-tree, relative to the root.
    pub path: RelPath,
    /// How many levels below the sub-path the walk goes.
    pub extra_depth: u32,
}

impl SubPath {
    /// Parses `N_REL`, where REL is relative to `root` or an absolute path below it.
    pub fn parse(arg: &OsStr, root: &Path) -> Result<SubPath, WalkError> {
        let shown = arg.to_string_lossy().into_owned();
        let bad = |why: &str| WalkError::SubpathSyntax {
            arg: shown.clone(),
            why: why.to_owned(),
        };
        let bytes = arg.as_bytes();
        let sep = bytes
            .iter()
            .position(|&b| b == b'_')
            .ok_or_else(|| bad("no '_' after N"))?;
        let extra_depth = std::str::from_utf8(&bytes[..sep])
            .ok()
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u32>().ok())
            .ok_or_else(|| bad("N must be a number of levels"))?;
        let mut rel = &bytes[sep + 1..];
        while rel.len() > 1 && rel.ends_with(b"/") {
            rel = &rel[..rel.len() - 1];
        }
        if rel.is_empty() {
            return Err(bad("the path after '_' is empty"));
        }
        if rel.starts_with(b"/") {
            let root_bytes = root.as_os_str().as_bytes();
            let root_bytes = root_bytes.strip_suffix(b"/").unwrap_or(root_bytes);
            rel = match rel.strip_prefix(root_bytes) {
                Some(b"") => b"",
                Some(rest) if rest.starts_with(b"/") => &rest[1..],
                _ => {
                    return Err(WalkError::SubpathOutsideRoot {
                        subpath: shown,
                        root: root.display().to_string(),
                    })
                }
            };
        }
        let path = RelPath::from_bytes(rel).map_err(|e| bad(&e.to_string()))?;
        Ok(SubPath { path, extra_depth })
    }

    fn shown(&self, root: &Path) -> String {
        self.path.under(root).display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_relative_and_absolute() {
        let root = Path::new("/data/src");
        let rel = |s: &str| RelPath::from_bytes(s.as_bytes()).unwrap();
        assert_eq!(
            SubPath::parse(OsStr::new("3_a1/ab2/aa3"), root).unwrap(),
            SubPath {
                path: rel("a1/ab2/aa3"),
                extra_depth: 3
            }
        );
        assert_eq!(
            SubPath::parse(OsStr::new("2_/data/src/a/"), root).unwrap(),
            SubPath {
                path: rel("a"),
                extra_depth: 2
            }
        );
        assert_eq!(
            SubPath::parse(OsStr::new("1_/data/src"), root)
                .unwrap()
                .path,
            RelPath::root()
        );
        assert_eq!(
            SubPath::parse(OsStr::new("1_x_y"), root).unwrap().path,
            rel("x_y")
        );
    }

    #[test]
    fn rejects_bad_subpaths() {
        let root = Path::new("/data/src");
        for arg in ["a1", "x_a", "_a", "3_", "-1_a", "3_a/../b", "3_a//b"] {
            let err = SubPath::parse(OsStr::new(arg), root).unwrap_err();
            assert!(
                matches!(err, WalkError::SubpathSyntax { .. }),
                "{arg}: {err}"
            );
        }
        for arg in ["3_/data/srcx/a", "3_/data", "3_/other/a"] {
            let err = SubPath::parse(OsStr::new(arg), root).unwrap_err();
            assert!(
                matches!(err, WalkError::SubpathOutsideRoot { .. }),
                "{arg}: {err}"
            );
        }
    }
}
