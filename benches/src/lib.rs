//! Generated trees and unit lists for the benchmarks.

#![deny(missing_docs)]

pub mod content;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use zkrsync_core::unit::{RelPath, Unit};

/// The shape of a generated tree: `fanout` directories per directory for `levels` levels,
/// and `files_per_leaf` empty files in every directory of the last level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeShape {
    /// Subdirectories per directory.
    pub fanout: u32,
    /// Levels of directories below the root.
    pub levels: u32,
    /// Files in each deepest directory.
    pub files_per_leaf: u32,
}

impl TreeShape {
    /// About 100k entries: 10 x 10 x 10 directories with 100 files each.
    pub const ENTRIES_100K: TreeShape = TreeShape {
        fanout: 10,
        levels: 3,
        files_per_leaf: 100,
    };
    /// About 1M entries: 10 x 10 x 10 directories with 1,000 files each.
    pub const ENTRIES_1M: TreeShape = TreeShape {
        fanout: 10,
        levels: 3,
        files_per_leaf: 1000,
    };

    /// Entries (directories and files) below the root.
    pub fn entries(&self) -> u64 {
        let dirs: u64 = (1..=self.levels)
            .map(|l| u64::from(self.fanout).pow(l))
            .sum();
        dirs + u64::from(self.fanout).pow(self.levels) * u64::from(self.files_per_leaf)
    }

    /// A directory name that says the shape, for caching generated trees.
    pub fn name(&self) -> String {
        format!(
            "tree-f{}-l{}-n{}",
            self.fanout, self.levels, self.files_per_leaf
        )
    }
}

/// Creates the tree at `root` unless a previous run completed it (a marker file is written
/// last). Returns `root`.
pub fn ensure_tree(root: &Path, shape: TreeShape) -> io::Result<PathBuf> {
    let marker = root.with_extension("complete");
    if marker.exists() {
        return Ok(root.to_path_buf());
    }
    if root.exists() {
        fs::remove_dir_all(root)?;
    }
    fs::create_dir_all(root)?;
    create_level(root, shape, shape.levels)?;
    fs::write(&marker, shape.entries().to_string())?;
    Ok(root.to_path_buf())
}

fn create_level(dir: &Path, shape: TreeShape, remaining: u32) -> io::Result<()> {
    if remaining == 0 {
        for i in 0..shape.files_per_leaf {
            fs::File::create(dir.join(format!("file{i:05}")))?;
        }
        return Ok(());
    }
    for i in 0..shape.fanout {
        let sub = dir.join(format!("d{i:03}"));
        fs::create_dir(&sub)?;
        create_level(&sub, shape, remaining - 1)?;
    }
    Ok(())
}

/// `count` synthetic units shaped like a real plan: paths three levels deep, one in ten
/// recursive.
pub fn synthetic_units(count: usize) -> Vec<Unit> {
    (0..count)
        .map(|i| {
            let path = format!(
                "project{:04}/user{:03}/run-{:07}",
                i / 10_000,
                (i / 100) % 100,
                i
            );
            Unit {
                path: RelPath::from_bytes(path.as_bytes()).expect("valid path"),
                recursive: i % 10 == 0,
                listing_failed: false,
                weight: (i % 97) as u64 + 1,
                excluded: vec![],
                mounts: vec![],
                part: Default::default(),
            }
        })
        .collect()
}
