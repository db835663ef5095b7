//! The real file system as a [`FileTree`].

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{EntryKind, FileTree, Listing};

/// The local file system, read with `readdir` (the `d_type` of each entry, falling back to
/// `lstat` where the file system does not fill it in) and `lstat`.
#[derive(Debug, Default, Clone, Copy)]
pub struct FsTree;

impl FileTree for FsTree {
    fn list(&self, dir: &Path) -> io::Result<Listing> {
        let mut listing = Listing::default();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            listing.entries += 1;
            // `file_type` does not follow symlinks: a symlink to a directory is an entry of
            // its parent, never descended.
            if entry.file_type()?.is_dir() {
                listing.subdirs.push(entry.file_name());
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

    fn subdir_hint(&self, dir: &Path) -> Option<u64> {
        // On most POSIX file systems a directory's link count is 2 + its subdirectories;
        // where it is not (btrfs says 1), the hint is simply 0.
        let nlink = fs::symlink_metadata(dir).ok()?.nlink();
        Some(nlink.saturating_sub(2))
    }
}
