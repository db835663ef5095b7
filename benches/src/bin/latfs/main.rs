//! `latfs SOURCE MOUNTPOINT [--delay-ms D] [--data-delay-ms E] [--threads T] [--hang NAME]`:
//! a benchmark file system. It mounts a pass-through of directory SOURCE at MOUNTPOINT that
//! waits D ms before every metadata request (and E ms before every read or write), on T
//! worker threads so that concurrent clients overlap their waits, and lets the kernel cache
//! no entry, attribute or page beyond an open: a network file system mounted with
//! `actimeo=0`, or a busy parallel one. Runs as root, mounted with `allow_other`; prints one
//! line once it is mounted and ready; unmounts itself on SIGINT, SIGTERM or SIGHUP, and
//! ends when someone else unmounts it.

#![deny(missing_docs)]

mod attr;
mod delay;
mod filesystem;
mod hang;
mod inodes;
mod mount_watch;
mod open_files;
mod passthrough;
mod pool;

use std::ffi::OsString;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::process::exit;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use fuser::{Config, MountOption, Session, SessionACL};
use nix::errno::Errno;
use nix::mount::MntFlags;
use nix::sys::signal::{SigSet, Signal};

use crate::filesystem::{Delays, LatFs};
use crate::passthrough::PassThrough;

#[derive(Debug, Parser)]
#[command(
    name = "latfs",
    about = "A pass-through FUSE file system that adds a delay to every request, for benchmarks"
)]
struct Args {
    /// The directory to serve.
    source: PathBuf,
    /// Where to mount it: a directory outside SOURCE.
    mountpoint: PathBuf,
    /// Milliseconds added to every metadata request (lookup, getattr, setattr, readdir,
    /// open, create, mkdir, unlink, rename, symlink, readlink, link, statfs, fsync …);
    /// fractions allowed.
    #[arg(long, value_name = "D", default_value = "1", value_parser = parse_ms)]
    delay_ms: Duration,
    /// Milliseconds added to every read or write request (a block of up to 128 KiB-1 MiB).
    #[arg(long, value_name = "E", default_value = "0", value_parser = parse_ms)]
    data_delay_ms: Duration,
    /// Worker threads: how many requests wait out their delay at once.
    #[arg(long, value_name = "T", default_value_t = 64,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: u16,
    /// Hold every lookup of an entry with this name, and every read of such a file, until
    /// latfs is unmounted (a hung NFS server); then they fail with EIO.
    #[arg(long, value_name = "NAME")]
    hang: Option<OsString>,
}

fn parse_ms(s: &str) -> Result<Duration, String> {
    let ms: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of milliseconds"))?;
    if !(0.0..=60_000.0).contains(&ms) {
        return Err(format!("{s} ms is out of range: give 0 to 60000"));
    }
    Ok(Duration::from_secs_f64(ms / 1000.0))
}

/// Why latfs stops.
enum Stop {
    Signal(Signal),
    Unmounted,
    SessionEnded(io::Result<()>),
}

/// A one-line error and exit code 2 (wrong input) or 1 (it failed).
fn fail(code: i32, message: impl std::fmt::Display) -> ! {
    eprintln!("latfs: {message}");
    exit(code)
}

/// The canonical source and mountpoint, or why latfs cannot serve them.
fn check(args: &Args) -> Result<(PathBuf, PathBuf), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("latfs must run as root (it mounts with allow_other): run it with sudo".into());
    }
    if !Path::new("/dev/fuse").exists() {
        return Err(
            "/dev/fuse is missing: this machine has no FUSE (modprobe fuse; in a \
                    container, pass --device /dev/fuse)"
                .into(),
        );
    }
    let dir = |what: &str, path: &Path, fix: &str| match path.canonicalize() {
        Ok(p) if p.is_dir() => Ok(p),
        Ok(_) => Err(format!(
            "{what} {} is not a directory: {fix}",
            path.display()
        )),
        Err(e) => Err(format!("{what} {}: {e}: {fix}", path.display())),
    };
    let source = dir("SOURCE", &args.source, "give the directory to serve")?;
    let mountpoint = dir("MOUNTPOINT", &args.mountpoint, "create it first (mkdir -p)")?;
    if mountpoint.starts_with(&source) || source.starts_with(&mountpoint) {
        return Err(format!(
            "MOUNTPOINT {} and SOURCE {} overlap: latfs would serve itself; mount it outside the source",
            mountpoint.display(),
            source.display()
        ));
    }
    if let Some(name) = &args.hang {
        let mut parts = Path::new(name).components();
        if !matches!(
            (parts.next(), parts.next()),
            (Some(Component::Normal(_)), None)
        ) {
            return Err(format!(
                "--hang {}: give a file name, not a path",
                name.to_string_lossy()
            ));
        }
    }
    Ok((source, mountpoint))
}

fn main() {
    let args = Args::parse();
    let (source, mountpoint) = check(&args).unwrap_or_else(|message| fail(2, message));
    // The kernel has applied the caller's umask to every mode it sends.
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    // Signals are taken by one thread with sigwait: block them before any thread starts.
    let signals = SigSet::from_iter([Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP]);
    signals
        .thread_block()
        .unwrap_or_else(|e| fail(1, format!("cannot block signals: {e}")));

    let delays = Delays {
        metadata: args.delay_ms,
        data: args.data_delay_ms,
    };
    let pass = PassThrough::new(source.clone(), args.hang.clone())
        .unwrap_or_else(|e| fail(1, format!("cannot read SOURCE {}: {e}", source.display())));
    let latfs = LatFs::new(Arc::clone(&pass), usize::from(args.threads), delays)
        .unwrap_or_else(|e| fail(1, format!("cannot start worker threads: {e}")));
    let served = latfs.served();
    let idle = latfs.idle();

    let mut config = Config::default();
    config.mount_options = vec![
        MountOption::FSName("latfs".into()),
        MountOption::Subtype("latfs".into()),
        MountOption::DefaultPermissions,
    ];
    config.acl = SessionACL::All;
    let session = Session::new(latfs, &mountpoint, &config).unwrap_or_else(|e| {
        fail(
            1,
            format!(
                "cannot mount {} at {}: {e}",
                source.display(),
                mountpoint.display()
            ),
        )
    });

    let (stop, stopped) = mpsc::channel();
    let on_signal = stop.clone();
    thread::spawn(move || loop {
        if let Ok(signal) = signals.wait() {
            let _ = on_signal.send(Stop::Signal(signal));
        }
    });
    let on_end = stop.clone();
    thread::spawn(move || {
        let _ = on_end.send(Stop::SessionEnded(session.run()));
    });
    // A getattr of the root, served by latfs: its device is the mount's.
    let dev = match mountpoint.metadata() {
        Ok(meta) => meta.dev(),
        Err(e) => {
            let _ = unmount(&mountpoint);
            fail(
                1,
                format!("cannot stat {} once mounted: {e}", mountpoint.display()),
            )
        }
    };
    watch_mount(dev, stop);

    println!(
        "latfs: serving {} at {} ({} ms per metadata request, {} ms per read or write, {} threads{}); ready",
        source.display(),
        mountpoint.display(),
        delays.metadata.as_secs_f64() * 1000.0,
        delays.data.as_secs_f64() * 1000.0,
        args.threads,
        match &args.hang {
            Some(name) => format!(", hanging on {}", name.to_string_lossy()),
            None => String::new(),
        }
    );
    let _ = io::stdout().flush();

    let why = stopped
        .recv()
        .expect("a stop sender lives in the signal thread");
    // Whatever the reason, nothing stays held: held requests fail now, later ones at once.
    if let Some(hang) = &pass.hang {
        hang.release();
    }
    let code = leave(why, &stopped, &mountpoint);
    // Requests in flight get their answers (held ones were failed above) before latfs
    // leaves; leaving closes /dev/fuse, and whatever a detached mount still asks then fails
    // with ENOTCONN.
    if !idle.wait(LINGER) {
        eprintln!("latfs: requests still in flight after {LINGER:?}; leaving anyway");
    }
    eprintln!("latfs: served {}", served.summary());
    exit(code);
}

/// How long latfs goes on serving a detached mount's open files, at the most.
const LINGER: Duration = Duration::from_secs(5);

/// Unmounts for `why`, if still mounted, and waits for the session to end: at once after a
/// whole unmount; once the last open file is closed after a lazy one (clients finish what
/// they have open), for [`LINGER`] at the most or until another signal. Returns the exit
/// code.
fn leave(why: Stop, stopped: &Receiver<Stop>, mountpoint: &Path) -> i32 {
    let shown = mountpoint.display();
    let code = match why {
        Stop::Signal(signal) => {
            eprintln!("latfs: {signal}: {} {shown}", unmount(mountpoint));
            0
        }
        Stop::Unmounted => {
            eprintln!("latfs: {shown} was unmounted");
            0
        }
        Stop::SessionEnded(Ok(())) => {
            eprintln!("latfs: the kernel ended the session of {shown}");
            return 0;
        }
        Stop::SessionEnded(Err(e)) => {
            eprintln!(
                "latfs: the session of {shown} failed: {e}; {}",
                unmount(mountpoint)
            );
            return 1;
        }
    };
    let deadline = Instant::now() + LINGER;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match stopped.recv_timeout(left) {
            Ok(Stop::SessionEnded(_)) => return code,
            Ok(Stop::Unmounted) => {}
            Ok(Stop::Signal(_)) | Err(_) => {
                eprintln!("latfs: {shown} still in use; leaving (what is open there fails)");
                return code;
            }
        }
    }
}

/// Calls for a stop once device `dev` is no longer mounted.
fn watch_mount(dev: u64, stop: Sender<Stop>) {
    let watched = mount_watch::when_unmounted(dev, move || {
        let _ = stop.send(Stop::Unmounted);
    });
    if let Err(e) = watched {
        eprintln!("latfs: cannot watch the mount table ({e}): only a signal will stop latfs");
    }
}

/// How latfs left its mount.
#[derive(Debug, PartialEq, Eq)]
enum Unmount {
    Whole,
    Detached,
    Already,
    Failed(Errno),
}

impl std::fmt::Display for Unmount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unmount::Whole => write!(f, "unmounted"),
            Unmount::Detached => write!(f, "in use, so detached (lazy unmount)"),
            Unmount::Already => write!(f, "already unmounted"),
            Unmount::Failed(e) => write!(f, "cannot unmount ({e})"),
        }
    }
}

/// Unmounts `mountpoint`; lazily when a client still uses it (its open files fail once latfs
/// has gone).
fn unmount(mountpoint: &Path) -> Unmount {
    match nix::mount::umount2(mountpoint, MntFlags::empty()) {
        Ok(()) => Unmount::Whole,
        Err(Errno::EBUSY) => match nix::mount::umount2(mountpoint, MntFlags::MNT_DETACH) {
            Ok(()) => Unmount::Detached,
            Err(e) => Unmount::Failed(e),
        },
        Err(Errno::EINVAL | Errno::ENOENT) => Unmount::Already,
        Err(e) => Unmount::Failed(e),
    }
}
