//! How the master's progress reads: a line (the log, the bar's message, `zkrsync-launch`)
//! and a JSON object (`--progress json`, one per report on standard output). Bytes and
//! files count the chunks done (rsync's `--stats`) and the running ones (the workers' live
//! progress); the time left comes from the files still to go when the plan says how many
//! entries it holds, else from the chunks.

use std::fmt::Write as _;
use std::time::Duration;

use zkrsync_core::protocol::Progress;

use super::report::{bytes, dry_mark};

/// Bytes of file data copied so far: the done chunks' and the running ones'.
pub fn copied(p: &Progress) -> u64 {
    p.stats.transferred_file_size + p.live_bytes
}

/// Files (directory entries) gone through so far.
pub fn files(p: &Progress) -> u64 {
    p.stats.files + p.live_files
}

/// Seconds left, estimated from the files still to go (or, when the plan does not say how
/// many entries it holds, from the chunks).
pub fn eta(p: &Progress, elapsed: Duration) -> Option<f64> {
    let secs = elapsed.as_secs_f64();
    let finished = p.done + p.failed;
    if secs <= 0.0 || !p.plan_ready {
        return None;
    }
    let files = files(p);
    if p.entries > 0 && files > 0 {
        let left = p.entries.saturating_sub(files) as f64;
        return Some(left * secs / files as f64);
    }
    (finished > 0).then(|| p.chunks.saturating_sub(finished) as f64 * secs / finished as f64)
}

/// One progress line, with a rate and an estimate of the time left.
pub fn line(p: &Progress, elapsed: Duration, dry_run: bool) -> String {
    let finished = p.done + p.failed;
    let of_entries = match p.entries {
        0 => String::new(),
        n => format!(" of {n}"),
    };
    let mut line = format!(
        "{}progress: {finished}/{}{} chunks ({} failed, {} running), {} copied, {}{of_entries} files; {} sources, {} destinations",
        dry_mark(dry_run),
        p.chunks,
        if p.plan_ready { "" } else { "+" },
        p.failed,
        p.running,
        bytes(copied(p)),
        files(p),
        p.sources,
        p.dests,
    );
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        let _ = write!(line, "; {}/s", bytes((copied(p) as f64 / secs) as u64));
    }
    if let Some(left) = eta(p, elapsed) {
        let _ = write!(line, ", about {left:.0} s left");
    }
    if let Some(why) = p.stalled() {
        let _ = write!(line, "; stalled: {why}");
    }
    line
}

/// The JSON object of one progress report (`--progress json`).
pub fn json(p: &Progress, elapsed: Duration, dry_run: bool) -> serde_json::Value {
    serde_json::json!({
        "progress": {
            "elapsed_s": (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            "dry_run": dry_run,
            "chunks": p.chunks,
            "plan_ready": p.plan_ready,
            "done": p.done,
            "failed": p.failed,
            "running": p.running,
            "bytes": copied(p),
            "files": files(p),
            "entries": p.entries,
            "sources": p.sources,
            "dests": p.dests,
            "eta_s": eta(p, elapsed).map(|s| s.round()),
            "stalled": p.stalled(),
            "line": line(p, elapsed, dry_run),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use zkrsync_core::rsync_stats::RsyncStats;

    #[test]
    fn counts_running_chunks_and_estimates_from_files() {
        let p = Progress {
            chunks: 10,
            plan_ready: true,
            done: 2,
            running: 3,
            sources: 4,
            dests: 2,
            active_dests: 2,
            stats: RsyncStats {
                files: 100,
                transferred_file_size: 1_000_000,
                ..RsyncStats::default()
            },
            live_bytes: 500_000,
            live_files: 50,
            entries: 600,
            ..Progress::default()
        };
        let t = Duration::from_secs(30);
        assert_eq!(copied(&p), 1_500_000);
        assert_eq!(
            eta(&p, t),
            Some(90.0),
            "450 of 600 files to go at 5 a second"
        );
        assert_eq!(
            line(&p, t, false),
            "progress: 2/10 chunks (0 failed, 3 running), 1.5 MB copied, 150 of 600 files; 4 sources, 2 destinations; 50.0 kB/s, about 90 s left"
        );
        let v = json(&p, t, true);
        assert_eq!(v["progress"]["bytes"], 1_500_000);
        assert_eq!(v["progress"]["eta_s"], 90.0);
        assert!(v["progress"]["line"]
            .as_str()
            .unwrap()
            .starts_with("DRY RUN: progress: "));
        // Without entries, from the chunks.
        let q = Progress { entries: 0, ..p };
        assert_eq!(eta(&q, t), Some(120.0));
    }
}
