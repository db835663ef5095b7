//! Fencing that does not depend on the agent running. A source starts a watchdog process
//! (`zkrsync watchdog`, hidden, in a process group of its own so that Ctrl-Z on the agent
//! does not stop it) and registers the process group of every rsync it runs with it. While
//! the agent is connected to ZooKeeper its driver renews a lease with the watchdog a few
//! times per lease (a quarter of the granted session timeout). When renewals stop for a
//! whole lease — the agent is frozen (SIGSTOP, Ctrl-Z, a debugger, a stalled runtime) — the
//! watchdog kills every registered rsync: a stale rsync stops at most one lease after its
//! agent stopped, well before the server can expire the session and give the chunk to
//! another worker. When the agent dies its end of the pipe closes and the watchdog kills
//! them at once.
//!
//! The pipe carries lines: `lease <ms>` (renew: kill unless renewed within `ms`), `run
//! <pgid>` and `done <pgid>`.

use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// The agent's end: a running watchdog process.
#[derive(Debug)]
pub struct Watchdog {
    pipe: Mutex<Option<ChildStdin>>,
    child: Child,
}

impl Watchdog {
    /// Starts `zkrsync watchdog` (this very binary).
    pub fn start() -> std::io::Result<Watchdog> {
        let exe = std::env::current_exe()?;
        let mut cmd = Command::new(exe);
        cmd.arg("watchdog")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .process_group(0);
        let mut child = cmd.spawn()?;
        let pipe = child.stdin.take().expect("piped");
        Ok(Watchdog {
            pipe: Mutex::new(Some(pipe)),
            child,
        })
    }

    fn say(&self, line: String) {
        if let Some(pipe) = self.pipe.lock().ok().as_mut().and_then(|p| p.as_mut()) {
            // A watchdog that is gone cannot fence: rsync still dies with the agent
            // (PR_SET_PDEATHSIG) and by the machine's own lease timer.
            if pipe.write_all(line.as_bytes()).is_err() {
                tracing::warn!(
                    "the rsync watchdog is gone: a frozen agent's rsync is no longer stopped by it"
                );
            }
        }
    }

    /// Kill every registered rsync unless renewed again within `lease`.
    pub fn renew(&self, lease: Duration) {
        self.say(format!("lease {}\n", lease.as_millis().max(1)));
    }

    /// Registers the process group of an rsync.
    pub fn guard(&self, pgid: u32) {
        self.say(format!("run {pgid}\n"));
    }

    /// The rsync of that process group has ended.
    pub fn release(&self, pgid: u32) {
        self.say(format!("done {pgid}\n"));
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // Closing the pipe tells it to kill what is still registered and to exit.
        if let Ok(pipe) = self.pipe.get_mut() {
            drop(pipe.take());
        }
        let _ = self.child.wait();
    }
}

/// What the watchdog process heard.
enum Heard {
    Lease(Duration),
    Run(i32),
    Done(i32),
}

fn parse(line: &str) -> Option<Heard> {
    let (word, value) = line.trim().split_once(' ')?;
    let value: u64 = value.parse().ok()?;
    match word {
        "lease" => Some(Heard::Lease(Duration::from_millis(value))),
        "run" => Some(Heard::Run(i32::try_from(value).ok()?)),
        "done" => Some(Heard::Done(i32::try_from(value).ok()?)),
        _ => None,
    }
}

/// The watchdog process: runs until its standard input closes; returns the exit code.
pub fn serve() -> i32 {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if let Some(heard) = parse(&line) {
                if tx.send(heard).is_err() {
                    break;
                }
            }
        }
    });
    let mut groups: BTreeSet<i32> = BTreeSet::new();
    let mut deadline: Option<(Instant, Duration)> = None;
    loop {
        let wait = deadline.map(|(at, _)| at.saturating_duration_since(Instant::now()));
        let heard = match wait {
            Some(wait) => rx.recv_timeout(wait),
            None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        };
        match heard {
            Ok(Heard::Lease(lease)) => deadline = Some((Instant::now() + lease, lease)),
            Ok(Heard::Run(pgid)) => {
                groups.insert(pgid);
            }
            Ok(Heard::Done(pgid)) => {
                groups.remove(&pgid);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let lease = deadline.map_or(Duration::ZERO, |(_, l)| l);
                if !groups.is_empty() {
                    eprintln!(
                        "zkrsync watchdog: the agent did not renew its lease for {:.1} s (frozen?): killing its rsync (process groups {groups:?}) before its claim can pass to another worker",
                        lease.as_secs_f64()
                    );
                    kill_all(&mut groups);
                }
                deadline = None;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // The agent is gone: nothing of its may go on.
                kill_all(&mut groups);
                return 0;
            }
        }
    }
}

fn kill_all(groups: &mut BTreeSet<i32>) {
    for pgid in std::mem::take(groups) {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert!(
            matches!(parse("lease 250"), Some(Heard::Lease(d)) if d == Duration::from_millis(250))
        );
        assert!(matches!(parse("run 42\n"), Some(Heard::Run(42))));
        assert!(matches!(parse("done 42"), Some(Heard::Done(42))));
        assert!(parse("nonsense").is_none());
        assert!(parse("run -1").is_none());
    }
}
