//! `zkrsync paths`: print the units of work of a tree, without ZooKeeper.

use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use zkrsync_core::protocol::exit_code;
use zkrsync_core::unit::Unit;
use zkrsync_core::walk::{walk, FsTree, Walk};

use crate::agent::walk_args::{absolute_root, WalkArgs};

/// Options of `zkrsync paths`.
#[derive(Debug, Args)]
pub struct PathsArgs {
    /// The tree to cut into units.
    #[arg(long, value_name = "DIR")]
    pub path: PathBuf,

    /// How the tree is walked into units.
    #[command(flatten)]
    pub walk: WalkArgs,

    /// End each line with NUL instead of newline (for names with newlines).
    #[arg(long, conflicts_with = "json")]
    pub null: bool,

    /// Print a JSON array of {"path", "recursive"} objects.
    #[arg(long)]
    pub json: bool,
}

/// Runs `zkrsync paths` and returns its exit code.
pub fn run(args: &PathsArgs) -> anyhow::Result<i32> {
    args.walk.configure_threads()?;
    let root = absolute_root(&args.path)?;
    let spec = args.walk.spec(&root)?;
    let started = Instant::now();
    let walk = walk(&FsTree, &root, &spec)?;
    let elapsed = started.elapsed();
    for error in &walk.errors {
        eprintln!(
            "zkrsync: cannot list {}: {}; it becomes a recursive unit that is never copied with --delete",
            error.path.display(),
            error.error
        );
    }
    let written = if args.json {
        print_json(&root, &walk.units)
    } else {
        print_lines(&root, &walk.units, if args.null { b'\0' } else { b'\n' })
    };
    match written {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(exit_code::OK),
        other => other?,
    }
    eprintln!(
        "zkrsync paths: {}",
        summary(&root, spec.depth, &walk, elapsed.as_secs_f64())
    );
    Ok(if walk.errors.is_empty() {
        exit_code::OK
    } else {
        exit_code::PARTIAL
    })
}

fn summary(root: &Path, depth: u32, walk: &Walk, seconds: f64) -> String {
    let recursive = walk.units.iter().filter(|u| u.recursive).count();
    format!(
        "{} units ({} recursive, {} non-recursive) in {} at depth {}; {} directories read, {} entries seen, {} errors, {:.3} s",
        walk.units.len(),
        recursive,
        walk.units.len() - recursive,
        root.display(),
        depth,
        walk.dirs_read,
        walk.entries_seen,
        walk.errors.len(),
        seconds
    )
}

fn print_lines(root: &Path, units: &[Unit], end: u8) -> io::Result<()> {
    let mut out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
    for unit in units {
        out.write_all(if unit.recursive { b"1\t" } else { b"0\t" })?;
        out.write_all(unit.path.under(root).as_os_str().as_bytes())?;
        out.write_all(&[end])?;
    }
    out.flush()
}

/// JSON strings must be Unicode: a path that is not UTF-8 is shown lossily in `path` and
/// given exactly, as hex of its bytes, in `path_hex`.
fn print_json(root: &Path, units: &[Unit]) -> io::Result<()> {
    let mut out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
    out.write_all(b"[")?;
    for (i, unit) in units.iter().enumerate() {
        let full = unit.path.under(root);
        let bytes = full.as_os_str().as_bytes();
        let mut object = serde_json::Map::new();
        object.insert("path".into(), String::from_utf8_lossy(bytes).into());
        object.insert("recursive".into(), unit.recursive.into());
        if std::str::from_utf8(bytes).is_err() {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            object.insert("path_hex".into(), hex.into());
        }
        if unit.listing_failed {
            object.insert("listing_failed".into(), true.into());
        }
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(b"\n")?;
        serde_json::to_writer(&mut out, &object)?;
    }
    out.write_all(b"\n]\n")?;
    out.flush()
}
