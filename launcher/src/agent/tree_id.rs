//! Where a tree is on this host: its [`TreeId`] (the host's boot id and the device and inode
//! of the tree's root and of each ancestor), for the core's
//! [`overlap`](zkrsync_core::protocol::source_tree::overlap) check, and the [`RootId`] a
//! destination watches to notice that its tree was unmounted or replaced.

use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use zkrsync_core::protocol::records::TreeId;

/// This host's boot id (`/proc/sys/kernel/random/boot_id`): device numbers are only
/// comparable under one kernel.
pub fn boot_id() -> std::io::Result<String> {
    Ok(std::fs::read_to_string("/proc/sys/kernel/random/boot_id")?
        .trim()
        .to_owned())
}

/// The [`TreeId`] of the directory at `path`: the chain follows the real path (symlinks
/// resolved), so `..` of a mount's root is the mount point's parent.
pub fn tree_id(path: &Path) -> std::io::Result<TreeId> {
    let real = std::fs::canonicalize(path)?;
    let chain = real
        .ancestors()
        .map(|p| std::fs::metadata(p).map(|m| (m.dev(), m.ino())))
        .collect::<std::io::Result<Vec<_>>>()?;
    Ok(TreeId {
        boot_id: boot_id()?,
        path: real.as_os_str().as_bytes().to_vec(),
        chain,
    })
}

/// What a tree's root is: its directory's device and inode, and whether it is a mount point
/// (its device is not its parent's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootId {
    /// `st_dev` of the root.
    pub dev: u64,
    /// `st_ino` of the root.
    pub ino: u64,
    /// Whether the root is a mount point.
    pub mount_point: bool,
}

impl RootId {
    /// The root at `path` now (symlinks followed, as the rsync daemon follows them).
    pub fn of(path: &Path) -> std::io::Result<RootId> {
        let m = std::fs::metadata(path)?;
        let parent = std::fs::metadata(path.join(".."))?;
        Ok(RootId {
            dev: m.dev(),
            ino: m.ino(),
            mount_point: parent.dev() != m.dev() || parent.ino() == m.ino(),
        })
    }
}

impl std::fmt::Display for RootId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "device {}:{}, inode {}, {}",
            libc::major(self.dev),
            libc::minor(self.dev),
            self.ino,
            if self.mount_point {
                "a mount point"
            } else {
                "not a mount point"
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_goes_up_to_the_root_and_a_symlink_is_seen_through() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("a");
        std::fs::create_dir(&a).unwrap();
        std::os::unix::fs::symlink(&a, tmp.path().join("link")).unwrap();
        let id = tree_id(&a).unwrap();
        let via_link = tree_id(&tmp.path().join("link")).unwrap();
        assert_eq!(id.chain, via_link.chain);
        let slash = std::fs::metadata("/").unwrap();
        assert_eq!(id.chain.last(), Some(&(slash.dev(), slash.ino())));
        assert_eq!(
            id.chain.len(),
            a.canonicalize().unwrap().ancestors().count()
        );
        assert!(!id.boot_id.is_empty());
        assert!(RootId::of(Path::new("/")).unwrap().mount_point);
        assert_eq!(
            RootId::of(&a).unwrap().mount_point,
            id.chain[0].0 != id.chain[1].0
        );
    }
}
