//! `--daemon`, `--pidfile` and vsc-zk's file-name templates for an agent.
//!
//! `--log-file` and `--pidfile` may hold vsc-zk's templates `%(session)s`, `%(rstype)s`
//! (`source` or `dest`) and `%(pid)s` (the process that was started). With `--daemon` the
//! agent detaches before any thread exists: the started process forks, the child starts a
//! new session, writes the pidfile (refusing when a live process holds it), tells the parent
//! it is running, and goes on with standard input and output on /dev/null; the parent says
//! where the daemon is and exits 0. The pidfile is removed when the daemon exits cleanly.

use std::io::{Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};

/// How an agent runs: in the foreground (the default), detached, or under zkrsync-launch.
#[derive(Debug, clap::Args)]
pub struct RunMode {
    /// Detach and run in the background, writing --pidfile (vsc-zk's --daemon).
    #[arg(long)]
    pub daemon: bool,

    /// The pidfile of --daemon; `%(session)s`, `%(rstype)s` and `%(pid)s` are filled in.
    #[arg(long, value_name = "FILE", default_value = DEFAULT_PIDFILE)]
    pub pidfile: PathBuf,

    /// Take stop orders on standard input and stop when it closes (zkrsync-launch over SSH).
    #[arg(long, hide = true)]
    pub watch_stdin: bool,
}

/// vsc-zk's default pidfile.
pub const DEFAULT_PIDFILE: &str = "/tmp/zkrsync/%(session)s-%(rstype)s-%(pid)s.pid";
/// vsc-zk's default log file.
pub const DEFAULT_LOGFILE: &str = "/tmp/zkrsync/%(session)s-%(rstype)s-%(pid)s.log";

/// `template` with vsc-zk's `%(session)s`, `%(rstype)s` and `%(pid)s` filled in.
pub fn fill(template: &Path, session: &str, rstype: &str, pid: u32) -> PathBuf {
    let text = template.to_string_lossy();
    if !text.contains("%(") {
        return template.to_owned();
    }
    PathBuf::from(
        text.replace("%(session)s", session)
            .replace("%(rstype)s", rstype)
            .replace("%(pid)s", &pid.to_string()),
    )
}

/// Makes the directory of `file` when missing, private to the user (as vsc-zk does for logs).
pub fn make_parent(file: &Path) -> anyhow::Result<()> {
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
    }
    Ok(())
}

/// Set in a detached daemon, whose standard error is /dev/null.
static DETACHED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this process is a detached daemon (its errors belong in its log).
pub fn detached() -> bool {
    DETACHED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Says how an agent ended: on standard error, or in the log of a detached daemon.
pub fn say_end(message: &str) {
    if detached() {
        tracing::info!("{message}");
    } else {
        eprintln!("zkrsync: {message}");
    }
}

/// A written pidfile, removed when dropped (a clean exit).
pub struct PidFile {
    path: PathBuf,
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn alive(pid: i32) -> bool {
    pid > 0 && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

/// Writes this process's pid to `path`; refuses when a live process holds it already.
pub fn write_pidfile(path: &Path) -> anyhow::Result<PidFile> {
    make_parent(path)?;
    for _ in 0..2 {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(path)
        {
            Ok(mut f) => {
                writeln!(f, "{}", std::process::id())
                    .with_context(|| format!("cannot write the pidfile {}", path.display()))?;
                return Ok(PidFile {
                    path: path.to_owned(),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let held = std::fs::read_to_string(path).unwrap_or_default();
                match held.trim().parse::<i32>() {
                    Ok(pid) if alive(pid) => bail!(
                        "pidfile {} belongs to running process {pid}: stop it first, or give another --pidfile",
                        path.display()
                    ),
                    // A leftover of a process that is gone: replace it.
                    _ => {
                        let _ = std::fs::remove_file(path);
                    }
                }
            }
            Err(e) => bail!("cannot create the pidfile {}: {e}", path.display()),
        }
    }
    Err(anyhow!(
        "the pidfile {} keeps coming back: another daemon is starting with it",
        path.display()
    ))
}

/// Detaches (see the module's text); returns in the daemon with its pidfile. The calling
/// process must have no other thread yet.
pub fn detach(pidfile: &Path, what: &str, log: Option<&Path>) -> anyhow::Result<PidFile> {
    let (mut read, mut write) =
        std::os::unix::net::UnixStream::pair().context("cannot make a pipe to the daemon")?;
    // SAFETY: no other thread exists yet (the caller's promise), so the child may run Rust.
    match unsafe { nix::unistd::fork() }.context("cannot fork the daemon")? {
        nix::unistd::ForkResult::Parent { child } => {
            drop(write);
            let mut answer = String::new();
            let _ = read.read_to_string(&mut answer);
            if answer.trim() == "ok" {
                println!(
                    "zkrsync: {what} daemon {child} started; pidfile {}{}",
                    pidfile.display(),
                    log.map(|l| format!(", log {}", l.display()))
                        .unwrap_or_default()
                );
                std::process::exit(0);
            }
            let why = answer.trim();
            bail!(
                "the daemon did not start: {}",
                if why.is_empty() {
                    "it exited at once"
                } else {
                    why
                }
            );
        }
        nix::unistd::ForkResult::Child => {
            drop(read);
            let started = nix::unistd::setsid()
                .map_err(|e| anyhow!("setsid failed: {e}"))
                .and_then(|_| write_pidfile(pidfile));
            let pid_file = match started {
                Ok(p) => p,
                Err(e) => {
                    let _ = write!(write, "{e:#}");
                    std::process::exit(zkrsync_core::protocol::exit_code::CONFIG);
                }
            };
            let _ = write.write_all(b"ok");
            drop(write);
            to_dev_null()?;
            DETACHED.store(true, std::sync::atomic::Ordering::Relaxed);
            Ok(pid_file)
        }
    }
}

/// For an agent of `session` and `rstype` (`source` or `dest`): its log file with the
/// templates filled in (with `--daemon` and no log file, vsc-zk's default), its directory
/// made, and, with `--daemon`, the detached daemon's pidfile. Call before any thread starts.
pub fn prepare(
    session: &str,
    rstype: &str,
    daemon: bool,
    pidfile: &Path,
    log_file: Option<&Path>,
) -> anyhow::Result<(Option<PathBuf>, Option<PidFile>)> {
    let pid = std::process::id();
    let log = match (log_file, daemon) {
        (Some(l), _) => Some(fill(l, session, rstype, pid)),
        (None, true) => Some(fill(Path::new(DEFAULT_LOGFILE), session, rstype, pid)),
        (None, false) => None,
    };
    if let Some(l) = &log {
        make_parent(l)?;
    }
    let held = if daemon {
        let pidfile = fill(pidfile, session, rstype, pid);
        Some(detach(&pidfile, rstype, log.as_deref())?)
    } else {
        None
    };
    Ok((log, held))
}

/// Standard input, output and error on /dev/null: a daemon has no terminal.
fn to_dev_null() -> anyhow::Result<()> {
    use std::os::fd::AsRawFd as _;
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .context("cannot open /dev/null")?;
    for fd in 0..3 {
        // SAFETY: dup2 onto the standard descriptors of this single-threaded process.
        if unsafe { libc::dup2(null.as_raw_fd(), fd) } < 0 {
            bail!("dup2 failed: {}", std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_filled() {
        assert_eq!(
            fill(Path::new(DEFAULT_PIDFILE), "s1", "source", 42),
            PathBuf::from("/tmp/zkrsync/s1-source-42.pid")
        );
        assert_eq!(
            fill(Path::new("/x/plain.log"), "s", "dest", 1),
            PathBuf::from("/x/plain.log")
        );
    }

    #[test]
    fn a_live_pidfile_is_refused_and_a_stale_one_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/p.pid");
        let held = write_pidfile(&path).unwrap();
        let e = write_pidfile(&path).err().unwrap().to_string();
        assert!(e.contains("belongs to running process"), "{e}");
        drop(held);
        assert!(!path.exists(), "removed on a clean exit");
        // A pid that cannot be alive (beyond pid_max).
        std::fs::write(&path, "999999999\n").unwrap();
        let again = write_pidfile(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap().trim(),
            std::process::id().to_string()
        );
        drop(again);
    }
}
