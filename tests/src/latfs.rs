//! The benchmark file system `latfs` (`benches/src/bin/latfs/`) mounted for a test: started,
//! waited for until it says it is ready, its messages kept for the test to wait on, and
//! always stopped and unmounted at the end, even when the test fails.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use crate::latfs_bin;

/// How long latfs may take to mount, or to stop once told.
const BOUND: Duration = Duration::from_secs(60);

/// A running latfs and its mount.
pub struct LatFs {
    child: Child,
    mountpoint: PathBuf,
    lines: Receiver<String>,
    /// Every line latfs wrote so far (stdout and stderr), for failure messages.
    seen: Vec<String>,
}

fn forward(stream: impl Read + Send + 'static, to: Sender<String>) {
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            if to.send(line).is_err() {
                return;
            }
        }
    });
}

/// Is a file system mounted at `path` (written as in `/proc/self/mountinfo`: no spaces)?
pub fn is_mounted_at(path: &Path) -> bool {
    let table = std::fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
    let path = path.to_str().expect("a UTF-8 mountpoint");
    table
        .lines()
        .any(|line| line.split(' ').nth(4) == Some(path))
}

impl LatFs {
    /// Mounts `source` at `mountpoint` with latfs `options`, and waits until it is ready.
    pub fn mount(source: &Path, mountpoint: &Path, options: &[&str]) -> LatFs {
        let mut child = Command::new(latfs_bin())
            .arg(source)
            .arg(mountpoint)
            .args(options)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start latfs");
        let (to, lines) = mpsc::channel();
        forward(child.stdout.take().expect("stdout"), to.clone());
        forward(child.stderr.take().expect("stderr"), to);
        let mut latfs = LatFs {
            child,
            mountpoint: mountpoint.canonicalize().expect("canonical mountpoint"),
            lines,
            seen: Vec::new(),
        };
        assert!(
            latfs.wait_for_line("; ready", BOUND),
            "latfs did not get ready: {:?}",
            latfs.seen
        );
        latfs
    }

    /// Waits for a line of latfs that contains `needle`, for `bound` at the most; true when
    /// it came (now or before).
    pub fn wait_for_line(&mut self, needle: &str, bound: Duration) -> bool {
        if self.seen.iter().any(|l| l.contains(needle)) {
            return true;
        }
        let deadline = Instant::now() + bound;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.seen.push(line);
                    if found {
                        return true;
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return false,
            }
        }
    }

    /// Every line latfs wrote until now.
    pub fn output(&mut self) -> &[String] {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        &self.seen
    }

    /// The mountpoint (canonical).
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// Is latfs's mount still there?
    pub fn is_mounted(&self) -> bool {
        is_mounted_at(&self.mountpoint)
    }

    /// Tells latfs to stop (SIGTERM: it unmounts itself) and waits for it.
    pub fn stop(&mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.wait_exit(BOUND).expect("latfs ends after SIGTERM")
    }

    /// Waits for latfs to end by itself, for `bound` at the most.
    pub fn wait_exit(&mut self, bound: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + bound;
        crate::wait_exit(self.child.id() as i32, deadline);
        self.child.try_wait().expect("wait for latfs")
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill(2) of our own child, which is not reaped before this object drops.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }
}

impl Drop for LatFs {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.signal(libc::SIGTERM);
            if self.wait_exit(BOUND).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        if self.is_mounted() {
            // latfs died without unmounting: detach what is left.
            let _ = Command::new("umount")
                .arg("-l")
                .arg(&self.mountpoint)
                .status();
        }
    }
}
