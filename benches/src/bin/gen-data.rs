//! Generates the end-to-end benchmark's tree, deterministically: `gen-data DIR` makes
//! FANOUT^LEVELS leaf directories (and those above them) with FILES files each, mostly
//! 1-10 KB, one in a hundred 0.5-1.5 MB (about 300 MB in all by default), of pseudo-random bytes; `gen-data DIR --change PERMILLE
//! --seed S` rewrites that share of the files with new bytes of the same size.

#![deny(missing_docs)]

use std::fs;
use std::path::{Path, PathBuf};

use clap::Parser;
use zkrsync_benches::content::{write_file, Rng};

#[derive(Debug, Parser)]
struct Args {
    /// The tree.
    dir: PathBuf,
    /// Subdirectories per directory.
    #[arg(long, default_value_t = 10)]
    fanout: u32,
    /// Levels of directories.
    #[arg(long, default_value_t = 3)]
    levels: u32,
    /// Files in each deepest directory.
    #[arg(long, default_value_t = 20)]
    files: u32,
    /// Instead of creating the tree, rewrite this many files per thousand.
    #[arg(long)]
    change: Option<u64>,
    /// Seed of the pseudo-random choices and bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn leaves(root: &Path, fanout: u32, levels: u32) -> Vec<PathBuf> {
    let mut dirs = vec![root.to_path_buf()];
    for _ in 0..levels {
        dirs = dirs
            .iter()
            .flat_map(|d| (0..fanout).map(move |i| d.join(format!("d{i:02}"))))
            .collect();
    }
    dirs
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let mut rng = Rng::new(a.seed);
    let leaves = leaves(&a.dir, a.fanout, a.levels);
    let (mut files, mut bytes) = (0u64, 0u64);
    for leaf in &leaves {
        if a.change.is_none() {
            fs::create_dir_all(leaf)?;
        }
        for i in 0..a.files {
            let path = leaf.join(format!("f{i:03}"));
            match a.change {
                None => {
                    let size = if rng.below(100) == 0 {
                        500_000 + rng.below(1_000_000)
                    } else {
                        1_000 + rng.below(9_000)
                    };
                    write_file(&path, size, &mut rng)?;
                    files += 1;
                    bytes += size;
                }
                Some(permille) => {
                    if rng.below(1000) < permille {
                        let size = fs::metadata(&path)?.len();
                        write_file(&path, size, &mut rng)?;
                        files += 1;
                        bytes += size;
                    }
                }
            }
        }
    }
    let what = if a.change.is_some() {
        "rewrote"
    } else {
        "wrote"
    };
    println!(
        "{what} {files} files, {bytes} bytes, in {}",
        a.dir.display()
    );
    Ok(())
}
