//! rsync reads the very mounts that were checked. A sub-mount of the source (a GPFS
//! fileset, an NFS automount) that is unmounted while an rsync reads the tree around it
//! looks to that rsync like an empty directory, and `-r --delete` would empty it at the
//! destination. The check before each run cannot close that window; a snapshot of the
//! mounts can: when a run has sub-mounts in its reach, rsync is started through
//! `zkrsync pin` (hidden), which enters a mount namespace of its own, makes every mount in it
//! private (an unmount outside no longer reaches it, and the file systems stay alive for it),
//! checks there that each planned mount point is still one, and only then executes rsync.
//! From then on that rsync sees the mounts as they were checked, whatever happens outside.
//!
//! A mount namespace needs root (CAP_SYS_ADMIN). Without it, `zkrsync pin` says so on its
//! error output (rsync's error lines are logged), still checks the mount points at the
//! last moment, and runs rsync unpinned.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};

use zkrsync_core::protocol::source_tree;
use zkrsync_core::unit::RelPath;
use zkrsync_core::walk::FsTree;

/// The exit code of `zkrsync pin` when a mount point is no longer one: no rsync was run.
pub const UNMOUNTED: i32 = 111;

/// The first words of its message then (read back by the agent)…
pub const UNMOUNTED_SAID: &str = "zkrsync pin: refused:";

/// … and its last.
pub const NOT_RUN: &str = ": no rsync was run";

/// `zkrsync pin [--mount REL]... -- RSYNC ARGS...`, run in the source root.
#[derive(Debug, clap::Args)]
pub struct PinArgs {
    /// A mount point, relative to the current directory, that must still be one.
    #[arg(long = "mount", value_name = "REL")]
    mounts: Vec<PathBuf>,
    /// The program and its arguments.
    #[arg(last = true, required = true)]
    command: Vec<OsString>,
}

/// The arguments that make `zkrsync pin` run `program` with `mounts` pinned.
pub fn pin_args(mounts: &[&[u8]], program: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["pin".into()];
    for m in mounts {
        args.push("--mount".into());
        args.push(std::ffi::OsStr::from_bytes(m).to_owned());
    }
    args.push("--".into());
    args.push(program.into());
    args
}

/// Pins the mounts, checks them, and becomes the command; returns only on failure.
pub fn run(args: &PinArgs) -> i32 {
    if let Err(e) = private_mounts() {
        eprintln!("zkrsync pin: cannot pin the mounts for this rsync ({e}; it needs root): a sub-mount unmounted while it runs is not seen");
    }
    for m in &args.mounts {
        let why = RelPath::from_bytes(m.as_os_str().as_bytes())
            .map(|rel| source_tree::unmounted(&FsTree, Path::new("."), &rel))
            .unwrap_or_else(|e| Some(format!("{}: {e}", m.display())));
        if let Some(why) = why {
            eprintln!("{UNMOUNTED_SAID} {why}{NOT_RUN}");
            return UNMOUNTED;
        }
    }
    let (program, rest) = args.command.split_first().expect("required");
    let error = std::process::Command::new(program).args(rest).exec();
    eprintln!(
        "zkrsync pin: cannot run {}: {error}",
        Path::new(program).display()
    );
    127
}

/// A mount namespace of this process's own, none of whose mounts hear of (un)mounts
/// outside it.
fn private_mounts() -> nix::Result<()> {
    use nix::mount::{mount, MsFlags};
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
}
