//! The real file system as a [`FileTree`].

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{EntryKind, FileTree, Listing};
use crate::unit::RelPath;

/// The local file system, read with `readdir` (the `d_type` of each entry, falling back to
/// `lstat` where the file system does not fill it in) and `lstat`.
#[derive(Debug, Default, Clone, Copy)]
pub struct FsTree;

impl FileTree for FsTree {
    fn list_kept(&self, dir: &Path, keep: &dyn Fn(&OsStr, bool) -> bool) -> io::Result<Listing> {
        let mut listing = Listing::default();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            // `file_type` does not follow symlinks: a symlink to a directory is an entry of
            // its parent, never descended.
            let is_dir = entry.file_type()?.is_dir();
            let name = entry.file_name();
            if !keep(&name, is_dir) {
                continue;
            }
            listing.entries += 1;
            if is_dir {
                listing.subdirs.push(name);
            }
        }
        Ok(listing)
    }

    fn kind(&self, path: &Path, follow_symlinks: bool) -> io::Result<EntryKind> {
        let meta = if follow_symlinks {
            fs::metadata(path)?
        } else {
            fs::symlink_metadata(path)?
        };
        let kind = meta.file_type();
        Ok(if kind.is_dir() {
            EntryKind::Dir
        } else if kind.is_symlink() {
            EntryKind::Symlink
        } else {
            EntryKind::Other
        })
    }

    fn owner(&self, path: &Path) -> io::Result<u32> {
        Ok(fs::symlink_metadata(path)?.uid())
    }

    fn device(&self, path: &Path) -> io::Result<u64> {
        Ok(fs::symlink_metadata(path)?.dev())
    }

    fn mount_points(&self, root: &Path) -> Vec<RelPath> {
        let Ok(root) = fs::canonicalize(root) else {
            return Vec::new();
        };
        let Ok(table) = fs::read("/proc/self/mountinfo") else {
            return Vec::new();
        };
        mounts_below(&table, &root)
    }

    fn subdir_hint(&self, dir: &Path) -> Option<u64> {
        // On most POSIX file systems a directory's link count is 2 + its subdirectories;
        // where it is not (btrfs says 1), the hint is simply 0.
        let nlink = fs::symlink_metadata(dir).ok()?.nlink();
        Some(nlink.saturating_sub(2))
    }
}

/// The mount points strictly below `root` in a `/proc/self/mountinfo` table (its fifth
/// field, with `\ooo` octal escapes for space, tab, newline and backslash).
fn mounts_below(table: &[u8], root: &Path) -> Vec<RelPath> {
    use std::os::unix::ffi::OsStrExt;
    let root = root.as_os_str().as_bytes();
    let mut out: Vec<RelPath> = table
        .split(|&b| b == b'\n')
        .filter_map(|line| line.split(|&b| b == b' ').nth(4))
        .map(unescape_octal)
        .filter_map(|point| {
            let rest = if root == b"/" {
                point.strip_prefix(b"/")?
            } else {
                point.strip_prefix(root)?.strip_prefix(b"/")?
            };
            RelPath::from_bytes(rest).ok().filter(|r| !r.is_root())
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn unescape_octal(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal = field
            .get(i + 1..i + 4)
            .filter(|d| field[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_below_a_root_from_mountinfo() {
        let table = b"22 1 0:21 / / rw - ext4 /dev/sda1 rw
30 22 0:40 / /data rw - tmpfs tmpfs rw
31 30 0:41 / /data/a\\040b rw - tmpfs tmpfs rw
32 30 0:42 / /data/x/y rw - nfs srv:/y rw
33 22 0:43 / /database rw - tmpfs tmpfs rw
";
        let got = mounts_below(table, Path::new("/data"));
        let want: Vec<RelPath> = [&b"a b"[..], b"x/y"]
            .iter()
            .map(|p| RelPath::from_bytes(p).unwrap())
            .collect();
        assert_eq!(got, want);
        assert_eq!(mounts_below(table, Path::new("/")).len(), 4);
    }
}
