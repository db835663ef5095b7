//! An rsync that moves no data is stopped by the agent, not only by rsync. rsync's own
//! `--timeout` is checked in its I/O loop, so a sender stuck in the kernel (a `stat` or a
//! `read` on a hung NFS server or FUSE file system) never gets to it and waits for ever,
//! holding its chunk's claim and a destination slot. The agent watches the process's I/O
//! counters instead (`/proc/<pid>/io`: `rchar` and `wchar`, which the network traffic and
//! every read of the tree move) and kills the rsync when they have not moved for the
//! session's `--timeout`: rsync's own meaning of that option ("no data transferred for
//! that long"), kept when rsync cannot keep it.
//!
//! A process stuck in the kernel may not even die of SIGKILL (a parallel lookup of the
//! same name waits uninterruptibly). It is then left behind: the daemon it was sending to
//! has ended that connection by then (its I/O timeout is the smaller of the module's and
//! the client's `--timeout`, counted from data it received, which the sender stopped
//! sending), so nothing of it can reach the destination when it wakes up.

use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// How long a killed rsync is waited for before it is left behind as stuck.
const DEATH_GRACE: Duration = Duration::from_secs(5);

/// The I/O `--timeout=N` of rsync's options, if any (0: none).
pub fn io_timeout<'a>(args: impl IntoIterator<Item = &'a String>) -> Option<Duration> {
    args.into_iter()
        .filter_map(|a| a.strip_prefix("--timeout="))
        .filter_map(|n| n.parse::<u64>().ok())
        .last()
        .filter(|&n| n > 0)
        .map(Duration::from_secs)
}

/// Bytes the process has read and written (`rchar` + `wchar`), None once it is gone.
fn io_bytes(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    Some(field("rchar:")? + field("wchar:")?)
}

/// Returns once process `pid` has moved no data for `after`; never without both.
pub async fn stalled(pid: Option<u32>, after: Option<Duration>) {
    let (Some(pid), Some(after)) = (pid, after) else {
        return std::future::pending().await;
    };
    let tick = (after / 8).clamp(Duration::from_millis(100), Duration::from_secs(5));
    let mut last = io_bytes(pid);
    let mut since = Instant::now();
    loop {
        tokio::time::sleep(tick).await;
        let now = io_bytes(pid);
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() >= after {
            return;
        }
    }
}

/// Kills the process group of `child` (led by `pid`) and waits a little for it; false when
/// it did not die (stuck in the kernel) and was left behind.
pub async fn stop(child: &mut tokio::process::Child, pid: Option<u32>) -> bool {
    if let Some(pid) = pid {
        let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
    }
    let _ = child.start_kill();
    tokio::time::timeout(DEATH_GRACE, child.wait())
        .await
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeout_is_rsyncs_last_timeout_option() {
        let args: Vec<String> = ["-r", "--timeout=600", "--timeout=30"]
            .map(String::from)
            .into();
        assert_eq!(io_timeout(&args), Some(Duration::from_secs(30)));
        assert_eq!(io_timeout(&["--timeout=0".to_owned()]), None);
        assert_eq!(io_timeout(&["-r".to_owned()]), None);
    }

    #[tokio::test]
    async fn a_process_that_moves_no_data_is_found_stalled_and_stopped() {
        let mut child = tokio::process::Command::new("sleep")
            .arg("600")
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = child.id();
        let wait = Duration::from_millis(300);
        tokio::time::timeout(Duration::from_secs(30), stalled(pid, Some(wait)))
            .await
            .expect("a sleeping process is found stalled");
        assert!(stop(&mut child, pid).await);
    }
}
