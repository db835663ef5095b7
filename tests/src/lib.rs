//! Support for the end-to-end tests: the `zkrsync` binary and tree builders.

#![deny(missing_docs)]

pub mod cluster;
pub mod gate;
pub mod latfs;
pub mod locked;
pub mod proxy;
pub mod sshd;
pub mod tree;
pub mod watched;
pub mod zk;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The `zkrsync` binary of this workspace, built if it is not there yet.
pub fn zkrsync_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| built_bin("zkrsync-launcher", "zkrsync"))
}

/// The benchmark file system `latfs` of this workspace, built if it is not there yet.
pub fn latfs_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| built_bin("zkrsync-benches", "latfs"))
}

/// Binary `bin` of workspace package `package`, beside the test executables' profile
/// (target/<profile>/), built with cargo if it is not there yet.
fn built_bin(package: &str, bin: &str) -> PathBuf {
    // Test executables live in target/<profile>/deps; binaries in target/<profile>.
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let path = profile_dir.join(bin);
    if !path.exists() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let release = profile_dir.file_name() == Some(OsStr::new("release"));
        let mut build = Command::new(cargo);
        build.args(["build", "-p", package, "--bin", bin]);
        if release {
            build.arg("--release");
        }
        assert!(
            build.status().expect("run cargo build").success(),
            "cargo build of {bin} failed"
        );
    }
    path
}

/// Runs `zkrsync` with `args`.
pub fn zkrsync<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(zkrsync_bin())
        .args(args)
        .output()
        .expect("run zkrsync")
}

/// Splits `bytes` at `sep`, dropping the empty piece after a final separator.
pub fn records(bytes: &[u8], sep: u8) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = bytes.split(|&b| b == sep).map(<[u8]>::to_vec).collect();
    if out.last().is_some_and(Vec::is_empty) {
        out.pop();
    }
    out
}

/// `root/rel` for a relative path given as bytes.
pub fn under(root: &Path, rel: &[u8]) -> PathBuf {
    root.join(OsStr::from_bytes(rel))
}

/// The `zkrsync-launch` binary of this workspace (built with `cargo build --workspace --bins`).
pub fn launch_bin() -> PathBuf {
    workspace_bin("zkrsync-launch")
}

/// A binary of this workspace beside `zkrsync` (built with `cargo build --workspace --bins`).
pub fn workspace_bin(name: &str) -> PathBuf {
    let bin = zkrsync_bin().with_file_name(name);
    assert!(
        bin.exists(),
        "build the binaries first: cargo build --workspace --bins"
    );
    bin
}

/// Waits until process `pid` (not necessarily our child) has exited, told by its pidfd, at
/// most until `deadline`; true when it has.
pub fn wait_exit(pid: i32, deadline: std::time::Instant) -> bool {
    // SAFETY: pidfd_open and poll on a descriptor we own, closed below.
    unsafe {
        let fd = libc::syscall(libc::SYS_pidfd_open, pid, 0) as i32;
        if fd < 0 {
            return true; // gone already
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ready = libc::poll(&mut pfd, 1, left.as_millis().min(i32::MAX as u128) as i32);
        libc::close(fd);
        ready == 1
    }
}

/// Processes that carry the mark of the `zkrsync-launch` run of `session`
/// (`ZKRSYNC_LAUNCH_ID`), with their command lines: its agents, their rsync processes and
/// daemons, and its private ZooKeeper, on every host (all of them are this machine here).
pub fn launch_marked(session: &str) -> Vec<(i32, String)> {
    let mark = format!("ZKRSYNC_LAUNCH_ID={session}");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if env.split(|b| *b == 0).any(|v| v == mark.as_bytes()) {
            let cmd = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            found.push((pid, String::from_utf8_lossy(&cmd).replace('\0', " ")));
        }
    }
    found
}
