//! Generates the trees of the latency benchmark (`benches/latency.sh`), deterministically:
//! files of 1-8 KB of pseudo-random bytes, every file and directory dated in the past (so
//! that a copy made in the same second as the generation compares equal to the nanosecond).
//!
//! - `gen-shape DIR --shape balanced --files N`: N files spread evenly over N/10 directories
//!   three levels deep (about 1,000 directories for 10,000 files).
//! - `gen-shape DIR --shape flat --files N`: one directory `flat` of N files, beside 4 small
//!   directories of N/200 files each.
//! - `gen-shape DIR --shape skewed --files N`: 90% of the files under one subtree whose root
//!   is at depth 3 (`skew/sub/heavy`, in directories of 100 files), the other 10% as in a
//!   balanced tree.
//! - `gen-shape DIR --change PERMILLE --seed S`: rewrites exactly that share of the files
//!   (rounded, at least one) with new bytes of the same size and a new mtime.

#![deny(missing_docs)]

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use zkrsync_benches::content::{write_file, Rng};

/// Generated files and directories are dated from here (2020-09-13) on.
const GENERATED_AT: u64 = 1_600_000_000;
/// Rewritten files are dated from here (2023-11-14) on, a second per seed.
const CHANGED_AT: u64 = 1_700_000_000;

#[derive(Debug, Parser)]
struct Args {
    /// The tree (must not exist yet, unless --change).
    dir: PathBuf,
    /// The shape of the tree to create.
    #[arg(long, value_enum, required_unless_present = "change")]
    shape: Option<Shape>,
    /// Files in the whole tree.
    #[arg(long, default_value_t = 10_000)]
    files: u64,
    /// Instead of creating the tree, rewrite this many files per thousand.
    #[arg(long, conflicts_with = "shape")]
    change: Option<u64>,
    /// Seed of the pseudo-random choices and bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// The shapes `benches/latency.sh` measures.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Shape {
    /// About ten files per directory, three levels deep.
    Balanced,
    /// One directory holding nearly every file.
    Flat,
    /// One depth-3 subtree holding 90% of the files.
    Skewed,
}

/// What a generation made.
#[derive(Default)]
struct Made {
    files: u64,
    bytes: u64,
}

/// Creates `path` and what is missing above it; returns it.
fn mkdir(path: PathBuf) -> io::Result<PathBuf> {
    fs::create_dir_all(&path)?;
    Ok(path)
}

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

impl Made {
    /// `count` files named f0000… in `dir`.
    fn files(&mut self, dir: &Path, count: u64, rng: &mut Rng) -> io::Result<()> {
        for i in 0..count {
            let path = dir.join(format!("f{i:04}"));
            let size = 1_000 + rng.below(7_192);
            write_file(&path, size, rng)?;
            let file = fs::File::options().write(true).open(&path)?;
            file.set_modified(at(GENERATED_AT + rng.below(86_400)))?;
            self.files += 1;
            self.bytes += size;
        }
        Ok(())
    }

    /// `files` files over the `leaves` directories (relative to `under`), as evenly as
    /// they divide.
    fn spread(
        &mut self,
        under: &Path,
        leaves: Vec<PathBuf>,
        files: u64,
        rng: &mut Rng,
    ) -> io::Result<()> {
        let n = leaves.len() as u64;
        for (k, leaf) in leaves.into_iter().enumerate() {
            let dir = mkdir(under.join(leaf))?;
            let count = files / n + u64::from((k as u64) < files % n);
            self.files(&dir, count, rng)?;
        }
        Ok(())
    }
}

/// `leaves` directory paths three levels deep, `dAA/dBB/dCC`, with the smallest fanout that
/// holds them, in name order.
fn three_levels(leaves: u64) -> Vec<PathBuf> {
    let fanout = (1..).find(|f: &u64| f.pow(3) >= leaves).expect("a fanout");
    (0..leaves)
        .map(|i| {
            let (a, b, c) = (i / (fanout * fanout), (i / fanout) % fanout, i % fanout);
            PathBuf::from(format!("d{a:02}/d{b:02}/d{c:02}"))
        })
        .collect()
}

fn balanced(root: &Path, files: u64, made: &mut Made, rng: &mut Rng) -> io::Result<()> {
    made.spread(root, three_levels((files / 10).max(1)), files, rng)
}

fn flat(root: &Path, files: u64, made: &mut Made, rng: &mut Rng) -> io::Result<()> {
    let dir = mkdir(root.join("flat"))?;
    made.files(&dir, files, rng)?;
    for s in 0..4 {
        let dir = mkdir(root.join(format!("small{s}")))?;
        made.files(&dir, (files / 200).max(1), rng)?;
    }
    Ok(())
}

fn skewed(root: &Path, files: u64, made: &mut Made, rng: &mut Rng) -> io::Result<()> {
    let heavy = files * 9 / 10;
    let heavy_root = root.join("skew/sub/heavy");
    let leaves = (0..(heavy / 100).max(1))
        .map(|i| PathBuf::from(format!("h{i:03}")))
        .collect();
    made.spread(&heavy_root, leaves, heavy, rng)?;
    balanced(root, files - heavy, made, rng)
}

/// Creates the tree; returns what it holds and its number of directories (with the root).
fn generate(root: &Path, shape: Shape, files: u64, seed: u64) -> anyhow::Result<(Made, usize)> {
    if root.exists() {
        bail!(
            "{} already exists: give a path that does not, or remove it first",
            root.display()
        );
    }
    let mut made = Made::default();
    let mut rng = Rng::new(seed);
    mkdir(root.to_path_buf())?;
    match shape {
        Shape::Balanced => balanced(root, files, &mut made, &mut rng),
        Shape::Flat => flat(root, files, &mut made, &mut rng),
        Shape::Skewed => skewed(root, files, &mut made, &mut rng),
    }
    .with_context(|| format!("cannot write the tree {}", root.display()))?;
    // Every directory is dated once the tree is complete, deepest first.
    let (mut dirs, mut files) = (vec![root.to_path_buf()], Vec::new());
    walk(root, &mut dirs, &mut files)?;
    for dir in dirs.iter().rev() {
        fs::File::open(dir)?.set_modified(at(GENERATED_AT))?;
    }
    Ok((made, dirs.len()))
}

/// Every directory (parents first) and regular file below `dir`, in name order.
fn walk(dir: &Path, dirs: &mut Vec<PathBuf>, files: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut entries = fs::read_dir(dir)?.collect::<io::Result<Vec<_>>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let kind = entry.file_type()?;
        if kind.is_dir() {
            dirs.push(entry.path());
            walk(&entry.path(), dirs, files)?;
        } else if kind.is_file() {
            files.push(entry.path());
        }
    }
    Ok(())
}

/// Rewrites `permille` of the files below `root`; returns what it rewrote and the number of
/// directories (with the root).
fn change(root: &Path, permille: u64, seed: u64) -> anyhow::Result<(Made, usize)> {
    if permille > 1000 {
        bail!("--change {permille} is more than all the files: give 1 to 1000 (per thousand)");
    }
    let (mut dirs, mut files) = (vec![root.to_path_buf()], Vec::new());
    walk(root, &mut dirs, &mut files).with_context(|| format!("cannot list {}", root.display()))?;
    let count = ((files.len() as u64 * permille + 500) / 1000).max(1);
    let count = count.min(files.len() as u64) as usize;
    let mut rng = Rng::new(seed);
    // The first `count` of a partial Fisher-Yates shuffle: distinct files, seeded.
    for i in 0..count {
        let j = i + rng.below((files.len() - i) as u64) as usize;
        files.swap(i, j);
    }
    let mut made = Made::default();
    for path in &files[..count] {
        let size = fs::metadata(path)?.len();
        write_file(path, size, &mut rng)?;
        let file = fs::File::options().write(true).open(path)?;
        file.set_modified(at(CHANGED_AT + seed))?;
        made.files += 1;
        made.bytes += size;
    }
    Ok((made, dirs.len()))
}

fn main() {
    let a = Args::parse();
    let done = match (a.change, a.shape) {
        (Some(permille), _) => change(&a.dir, permille, a.seed).map(|m| ("rewrote", m)),
        (None, Some(shape)) => generate(&a.dir, shape, a.files, a.seed).map(|m| ("wrote", m)),
        (None, None) => unreachable!("clap requires --shape without --change"),
    };
    let (what, (made, dirs)) = done.unwrap_or_else(|e| {
        eprintln!("gen-shape: {e:#}");
        std::process::exit(1)
    });
    println!(
        "{what} {} files ({} bytes) and {} directories in {}",
        made.files,
        made.bytes,
        dirs,
        a.dir.display()
    );
}
