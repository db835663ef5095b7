//! Generates a benchmark tree: `gen-tree DIR [--fanout F] [--levels L] [--files N]`.

#![deny(missing_docs)]

use std::path::PathBuf;

use clap::Parser;
use zkrsync_benches::{ensure_tree, TreeShape};

#[derive(Debug, Parser)]
struct Args {
    /// Where to create the tree (reused when a previous run completed it).
    dir: PathBuf,
    /// Subdirectories per directory.
    #[arg(long, default_value_t = 10)]
    fanout: u32,
    /// Levels of directories.
    #[arg(long, default_value_t = 3)]
    levels: u32,
    /// Empty files in each deepest directory.
    #[arg(long, default_value_t = 1000)]
    files: u32,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let shape = TreeShape {
        fanout: args.fanout,
        levels: args.levels,
        files_per_leaf: args.files,
    };
    ensure_tree(&args.dir, shape)?;
    println!("{} entries in {}", shape.entries(), args.dir.display());
    Ok(())
}
