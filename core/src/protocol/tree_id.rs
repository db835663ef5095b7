//! Where a tree is on its host ([`TreeId`]), as a destination publishes it in its record
//! (read by the agent, `launcher/src/agent/tree_id.rs`), for a source to find trees that
//! overlap ([`super::source_tree::overlap`]).

use super::records::{Fields, Lines, RecordError};

/// Where a tree is on its host: the host's boot id (`/proc/sys/kernel/random/boot_id`: one
/// kernel, one set of device numbers) and the `(st_dev, st_ino)` of the tree's root and of
/// every ancestor up to `/`, root first. Two trees of one host overlap when one's root is in
/// the other's chain: device and inode ancestry, not path strings, so symlinks and bind
/// mounts of the same directory are seen through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeId {
    /// The host's boot id.
    pub boot_id: String,
    /// The tree's path, for messages only.
    pub path: Vec<u8>,
    /// `(st_dev, st_ino)` of the root, its parent, … up to `/`.
    pub chain: Vec<(u64, u64)>,
}

impl TreeId {
    /// Adds its fields to a record.
    pub(crate) fn put(&self, l: &mut Lines) {
        l.put_bytes("tree_boot", self.boot_id.as_bytes())
            .put_bytes("tree_path", &self.path);
        for (dev, ino) in &self.chain {
            l.put("tree_dir", format!("{dev}:{ino}"));
        }
    }

    /// Its fields in a record, if there are.
    pub(crate) fn get(f: &Fields) -> Result<Option<TreeId>, RecordError> {
        if f.all("tree_boot").is_empty() {
            return Ok(None);
        }
        let bad = || RecordError::new("destination", "tree_dir is not DEV:INO");
        let chain = f
            .all("tree_dir")
            .iter()
            .map(|v| {
                let (dev, ino) = v.split_once(':').ok_or_else(bad)?;
                Ok((
                    dev.parse().map_err(|_| bad())?,
                    ino.parse().map_err(|_| bad())?,
                ))
            })
            .collect::<Result<Vec<_>, RecordError>>()?;
        if chain.is_empty() {
            return Err(RecordError::new(
                "destination",
                "tree_boot without tree_dir",
            ));
        }
        Ok(Some(TreeId {
            boot_id: String::from_utf8_lossy(&f.bytes("tree_boot")?).into_owned(),
            path: f.bytes("tree_path")?,
            chain,
        }))
    }
}
