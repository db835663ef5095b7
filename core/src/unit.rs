//! What a unit of work is: one directory of the source tree, copied either with its own
//! entries only (`rsync -d`) or with its whole subtree (`rsync -r`).

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Weight of a recursive unit before its subdirectories are counted: a whole subtree is
/// worth many directory listings.
pub const RECURSIVE_BASE_WEIGHT: u64 = 64;
/// Extra weight of a recursive unit for each subdirectory it is known to have.
pub const RECURSIVE_WEIGHT_PER_SUBDIR: u64 = 64;

/// A path relative to the root of the walk, as raw bytes (never lossy UTF-8).
///
/// The root itself is the empty path. Components are separated by `/`; none is empty, `.`
/// or `..`, and none contains NUL, so a `RelPath` can never point outside its root.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelPath(Vec<u8>);

/// Why bytes are not a valid [`RelPath`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelPathError {
    /// A component is empty (`a//b`, a leading or trailing `/`).
    #[error("empty path component in {0:?}: give a relative path without leading, trailing or doubled '/'")]
    EmptyComponent(String),
    /// A component is `.` or `..`.
    #[error("'.' or '..' in {0:?}: give a path that stays below the root")]
    DotComponent(String),
    /// The path contains a NUL byte.
    #[error("NUL byte in {0:?}: paths cannot contain NUL")]
    Nul(String),
}

impl RelPath {
    /// The root of the walk.
    pub fn root() -> RelPath {
        RelPath(Vec::new())
    }

    /// Checks and wraps relative path bytes (`a/b/c`, or empty for the root).
    pub fn from_bytes(bytes: &[u8]) -> Result<RelPath, RelPathError> {
        let shown = || String::from_utf8_lossy(bytes).into_owned();
        if bytes.is_empty() {
            return Ok(RelPath::root());
        }
        if bytes.contains(&0) {
            return Err(RelPathError::Nul(shown()));
        }
        for component in bytes.split(|&b| b == b'/') {
            match component {
                b"" => return Err(RelPathError::EmptyComponent(shown())),
                b"." | b".." => return Err(RelPathError::DotComponent(shown())),
                _ => {}
            }
        }
        Ok(RelPath(bytes.to_vec()))
    }

    /// The raw bytes (empty for the root).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The path as an `OsStr` (empty for the root).
    pub fn as_os_str(&self) -> &OsStr {
        OsStr::from_bytes(&self.0)
    }

    /// Whether this is the root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of components: 0 for the root, 1 for its children, and so on.
    pub fn depth(&self) -> u32 {
        if self.0.is_empty() {
            0
        } else {
            1 + self.0.iter().filter(|&&b| b == b'/').count() as u32
        }
    }

    /// This path with one more component. `name` must be a single valid component (a name
    /// read from a directory listing always is).
    pub fn join(&self, name: &OsStr) -> RelPath {
        let name = name.as_bytes();
        debug_assert!(!name.is_empty() && !name.contains(&b'/') && !name.contains(&0));
        let mut bytes = Vec::with_capacity(self.0.len() + 1 + name.len());
        bytes.extend_from_slice(&self.0);
        if !bytes.is_empty() {
            bytes.push(b'/');
        }
        bytes.extend_from_slice(name);
        RelPath(bytes)
    }

    /// The parent, or `None` for the root.
    pub fn parent(&self) -> Option<RelPath> {
        if self.0.is_empty() {
            return None;
        }
        match self.0.iter().rposition(|&b| b == b'/') {
            Some(i) => Some(RelPath(self.0[..i].to_vec())),
            None => Some(RelPath::root()),
        }
    }

    /// Whether `self` is a strict ancestor of `other`.
    pub fn is_ancestor_of(&self, other: &RelPath) -> bool {
        if self.0.is_empty() {
            return !other.0.is_empty();
        }
        other.0.len() > self.0.len()
            && other.0.starts_with(&self.0)
            && other.0[self.0.len()] == b'/'
    }

    /// The absolute path of this entry below `root`.
    pub fn under(&self, root: &Path) -> PathBuf {
        if self.0.is_empty() {
            root.to_path_buf()
        } else {
            root.join(self.as_os_str())
        }
    }
}

impl fmt::Debug for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

/// One unit of work: a directory copied non-recursively (its own entries, including the
/// entries of its subdirectories but not their contents) or recursively (its whole subtree).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// The directory, relative to the root of the walk.
    pub path: RelPath,
    /// `rsync -r` (whole subtree) when true, `rsync -d` (own entries) when false.
    pub recursive: bool,
    /// The walk could not list this directory (permission denied, vanished, I/O error).
    /// Such a unit is made recursive so that its subtree is still covered, and it must
    /// never be copied with `--delete`: a failed listing is no evidence of what exists.
    pub listing_failed: bool,
    /// Estimated cost, used to balance chunks: 1 + entries for a non-recursive unit, more
    /// for a recursive one (see [`RECURSIVE_BASE_WEIGHT`]).
    pub weight: u64,
    /// Names of subdirectories that the walk excluded (`--exclude`); a non-recursive copy
    /// must leave them out.
    pub excluded: Vec<Vec<u8>>,
    /// Mount points in the unit's reach when it was planned (the unit's own directory, and
    /// for a recursive unit any below it): before every copy each must still be one, since
    /// an unmounted file system looks like an empty directory to `--delete`.
    pub mounts: Vec<RelPath>,
    /// Which of a non-recursive unit's own entries it copies: all of them, or one part of a
    /// directory too heavy for one unit ([`Part`]).
    pub part: Part,
}

/// The part of a directory's own entries that a non-recursive unit stands for. A directory
/// with more entries than a chunk's share is cut into buckets by a hash of each entry's name
/// (so every name, also one that appears after planning, is in exactly one bucket, and no
/// names need to be stored in the plan), and its deletions are one unit of their own, so
/// that `--delete` of the directory runs exactly once, with every guard of `--delete`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Part {
    /// Every entry.
    #[default]
    Whole,
    /// The entries whose name hashes to bucket `index` of `of` ([`bucket_of`]); nothing is
    /// deleted.
    Bucket {
        /// This bucket, below `of`.
        index: u32,
        /// Buckets of the directory.
        of: u32,
    },
    /// Only the deletions of the directory's extraneous entries: nothing is transferred.
    Deletes,
}

/// The bucket of `name` among `of` (FNV-1a, 64 bits: the same on every host and version).
pub fn bucket_of(name: &[u8], of: u32) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in name {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash % u64::from(of.max(1))) as u32
}

impl Part {
    /// Whether the entry `name` of the directory is copied by this part.
    pub fn holds(self, name: &[u8]) -> bool {
        match self {
            Part::Whole => true,
            Part::Bucket { index, of } => bucket_of(name, of) == index,
            Part::Deletes => false,
        }
    }
}

impl Unit {
    /// The weight of a recursive unit with `subdirs` known subdirectories.
    pub fn recursive_weight(subdirs: u64) -> u64 {
        RECURSIVE_BASE_WEIGHT.saturating_add(RECURSIVE_WEIGHT_PER_SUBDIR.saturating_mul(subdirs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(s: &str) -> RelPath {
        RelPath::from_bytes(s.as_bytes()).unwrap()
    }

    #[test]
    fn depth_parent_join() {
        assert_eq!(RelPath::root().depth(), 0);
        assert_eq!(rel("a").depth(), 1);
        assert_eq!(rel("a/b/c").depth(), 3);
        assert_eq!(rel("a/b").parent(), Some(rel("a")));
        assert_eq!(rel("a").parent(), Some(RelPath::root()));
        assert_eq!(RelPath::root().parent(), None);
        assert_eq!(RelPath::root().join(OsStr::new("x")), rel("x"));
        assert_eq!(
            rel("x").join(OsStr::from_bytes(b"\xff\n")).as_bytes(),
            b"x/\xff\n"
        );
    }

    #[test]
    fn ancestors() {
        assert!(RelPath::root().is_ancestor_of(&rel("a")));
        assert!(!RelPath::root().is_ancestor_of(&RelPath::root()));
        assert!(rel("a").is_ancestor_of(&rel("a/b")));
        assert!(!rel("a").is_ancestor_of(&rel("ab")));
        assert!(!rel("a").is_ancestor_of(&rel("a")));
        assert!(!rel("a/b").is_ancestor_of(&rel("a")));
    }

    #[test]
    fn rejects_escapes() {
        assert!(matches!(
            RelPath::from_bytes(b"/a"),
            Err(RelPathError::EmptyComponent(_))
        ));
        assert!(matches!(
            RelPath::from_bytes(b"a//b"),
            Err(RelPathError::EmptyComponent(_))
        ));
        assert!(matches!(
            RelPath::from_bytes(b"a/"),
            Err(RelPathError::EmptyComponent(_))
        ));
        assert!(matches!(
            RelPath::from_bytes(b"a/../b"),
            Err(RelPathError::DotComponent(_))
        ));
        assert!(matches!(
            RelPath::from_bytes(b"."),
            Err(RelPathError::DotComponent(_))
        ));
        assert!(matches!(
            RelPath::from_bytes(b"a\0b"),
            Err(RelPathError::Nul(_))
        ));
        assert_eq!(RelPath::from_bytes(b"-a/ b\n/\xfe").unwrap().depth(), 3);
    }

    #[test]
    fn under_root() {
        assert_eq!(RelPath::root().under(Path::new("/r")), PathBuf::from("/r"));
        assert_eq!(rel("a/b").under(Path::new("/r")), PathBuf::from("/r/a/b"));
        assert_eq!(rel("a").under(Path::new("/")), PathBuf::from("/a"));
    }
}
