//! A finished session, from outside: its kept outcome (`outcome`, see
//! [`zkrsync_core::protocol::records::OutcomeRecord`]) as `zkrsync status` shows it,
//! `zkrsync forget`, and the removal of outcomes kept past their `--keep`, which every
//! source does once when it starts.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::anyhow;
use clap::Args;
use zkrsync_core::protocol::records::OutcomeRecord;
use zkrsync_core::protocol::{exit_code, Layout};
use zookeeper_client as zk;

use crate::agent::report::bytes;
use crate::agent::zk_connect::{Zk, ZkArgs};
use crate::agent::zk_ops::map_error;

/// How long a finished session's outcome stays by default: a day.
pub const DEFAULT_KEEP: &str = "1d";

/// `--keep`: `0` (no outcome is kept), seconds, or a number with `s`, `m`, `h` or `d`.
pub fn parse_keep(text: &str) -> Result<Duration, String> {
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("{text:?} is not a duration: give seconds, or a number with s, m, h or d (e.g. 12h, 7d), or 0 to keep nothing")),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a duration: give a number first (e.g. 12h)"))?;
    n.checked_mul(factor)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too long a duration"))
}

/// `--run`: like a session name, letters, digits, '.', '_' and '-'.
pub fn parse_run(text: &str) -> Result<String, String> {
    let ok = !text.is_empty()
        && text.len() <= 100
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    match ok {
        true => Ok(text.to_owned()),
        false => Err(format!(
            "run id {text:?} is not valid: use 1-100 letters, digits, '.', '_' or '-'"
        )),
    }
}

/// A session's kept outcome and when it was written.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The outcome.
    pub outcome: OutcomeRecord,
    /// When the final cleanup wrote it (the znode's modification time, the server's clock),
    /// in milliseconds since the epoch.
    pub at_ms: i64,
}

impl Finished {
    /// Milliseconds since it finished, by this host's clock.
    fn age_ms(&self) -> i64 {
        (now_ms() - self.at_ms).max(0)
    }

    /// Milliseconds until it may be removed.
    fn left_ms(&self) -> i64 {
        self.outcome.keep_secs as i64 * 1000 - self.age_ms()
    }

    /// The status line of a finished session.
    pub fn line(&self, session: &str) -> String {
        let o = &self.outcome;
        let s = &o.summary;
        let how = match s.failed.len() {
            0 => "complete".to_owned(),
            n => format!("finished with {n} failed chunks"),
        };
        let mut line = format!(
            "session {session}: {}{how}, {} ago: {} chunks ({} units): {} done, {} failed; {} files, {} sent",
            if o.dry_run { "DRY RUN " } else { "" },
            ago(self.age_ms()),
            s.chunks,
            s.units,
            s.done,
            s.failed.len(),
            s.stats.files,
            bytes(s.stats.bytes_sent),
        );
        line.push_str(&format!(
            "; kept {} more (zkrsync forget removes it)",
            ago(self.left_ms().max(0))
        ));
        for (chunk, error) in &s.failed {
            line.push_str(&format!("\n  chunk {chunk} failed: {error}"));
        }
        line
    }

    /// The JSON of `zkrsync status --json` for a finished session.
    pub fn json(&self, session: &str) -> serde_json::Value {
        let o = &self.outcome;
        let s = &o.summary;
        serde_json::json!({
            "session": session, "state": "finished", "complete": s.failed.is_empty(),
            "dry_run": o.dry_run, "run": o.run, "finished_at_ms": self.at_ms,
            "keep_s": o.keep_secs, "chunks": s.chunks, "units": s.units, "done": s.done,
            "failed": s.failed.len(), "files": s.stats.files, "bytes_sent": s.stats.bytes_sent,
            "failed_chunks": s.failed.iter().map(|(chunk, error)| serde_json::json!({"chunk": chunk, "error": error})).collect::<Vec<_>>(),
        })
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `42 s`, `3 min`, `5.0 h`, `2.0 d`.
fn ago(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        0..120 => format!("{s} s"),
        120..7200 => format!("{} min", s / 60),
        7200..172_800 => format!("{:.1} h", s as f64 / 3600.0),
        _ => format!("{:.1} d", s as f64 / 86400.0),
    }
}

fn zk_err(what: &str, e: zk::Error) -> anyhow::Error {
    match map_error(&e) {
        zkrsync_core::protocol::ZkError::NoAuth => anyhow!("ZooKeeper refused to {what} (not authorized): give the session's credentials with --auth"),
        other => anyhow!("cannot {what}: {other}"),
    }
}

/// The session's kept outcome, if it finished and is kept. An unreadable outcome is an
/// error that says how to remove it.
pub async fn read(zk: &Zk, layout: &Layout) -> anyhow::Result<Option<Finished>> {
    match zk.client.get_data(&layout.outcome()).await {
        Ok((data, stat)) => {
            let outcome = OutcomeRecord::decode(&data).map_err(|e| {
                anyhow!(
                    "session {}'s outcome is unreadable ({e}): remove it with zkrsync forget",
                    layout.session()
                )
            })?;
            Ok(Some(Finished {
                outcome,
                at_ms: stat.mtime,
            }))
        }
        Err(zk::Error::NoNode) => Ok(None),
        Err(e) => Err(zk_err("read the session's outcome", e)),
    }
}

/// Deletes what a finished session keeps — the failed chunks, the plan record and the
/// config when it kept them for `--retry-failed`, the outcome — and the session's znode, in
/// one multi: it fails, changing nothing, when the session has any other child (it is being
/// started again) or the outcome was written again meanwhile.
async fn remove(zk: &Zk, layout: &Layout, version: i32) -> Result<(), zk::Error> {
    let mut w = zk.client.new_multi_writer();
    match zk.client.list_children(&layout.plan()).await {
        Ok(chunks) => {
            for chunk in chunks {
                w.add_delete(&format!("{}/{chunk}", layout.plan()), None)?;
            }
            w.add_delete(&layout.plan(), None)?;
            w.add_delete(&layout.config(), None)?;
        }
        Err(zk::Error::NoNode) => {}
        Err(e) => return Err(e),
    }
    w.add_delete(&layout.outcome(), Some(version))?;
    w.add_delete(layout.root(), None)?;
    match w.commit().await {
        Ok(_) => Ok(()),
        Err(zk::MultiWriteError::OperationFailed { source, .. }) => Err(source),
        Err(e) => Err(e.into()),
    }
}

/// Removes the sessions under `base` whose outcome is older than its `--keep`; how many.
/// Best effort: a session this client may not read or delete (another user's lock) is
/// left for its owner.
pub async fn sweep_expired(zk: &Zk, base: &str) -> usize {
    let Ok(names) = zk.client.list_children(base).await else {
        return 0;
    };
    let mut removed = 0;
    for name in names {
        let Ok(layout) = Layout::new(base, &name) else {
            continue;
        };
        let Ok((data, stat)) = zk.client.get_data(&layout.outcome()).await else {
            continue;
        };
        let Ok(outcome) = OutcomeRecord::decode(&data) else {
            continue;
        };
        let finished = Finished {
            outcome,
            at_ms: stat.mtime,
        };
        if finished.left_ms() <= 0 && remove(zk, &layout, stat.version).await.is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Options of `zkrsync forget`.
#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// The ZooKeeper options: servers, session, credentials.
    #[command(flatten)]
    pub zk: ZkArgs,
}

/// Runs `zkrsync forget`: removes a finished session's outcome (14 when there is none).
pub fn forget(args: &ForgetArgs) -> anyhow::Result<i32> {
    let layout = args.zk.layout()?;
    crate::agent::status::runtime()?.block_on(async {
        let zk = args.zk.connect().await?;
        let session = layout.session();
        let stat = match zk.client.get_data(&layout.outcome()).await {
            Ok((_, stat)) => stat,
            Err(zk::Error::NoNode) => {
                return match zk.client.check_stat(layout.root()).await.map_err(|e| zk_err("read the session", e))? {
                    Some(_) => Err(anyhow!("session {session} has not finished: wait for it, or end it with zkrsync abort --session {session}")),
                    None => {
                        eprintln!("zkrsync: no session {session} under {} on {}", args.zk.base, args.zk.zk);
                        Ok(exit_code::NO_SESSION)
                    }
                };
            }
            Err(e) => return Err(zk_err("read the session's outcome", e)),
        };
        match remove(&zk, &layout, stat.version).await {
            Ok(()) => {
                eprintln!("zkrsync: the outcome of session {session} is removed");
                Ok(exit_code::OK)
            }
            Err(zk::Error::NotEmpty) => Err(anyhow!("session {session} is being started again (it has more than its outcome): nothing removed")),
            Err(e) => Err(zk_err("remove the session's outcome", e)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_durations() {
        assert_eq!(parse_keep("0"), Ok(Duration::ZERO));
        assert_eq!(parse_keep("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_keep("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_keep("12h"), Ok(Duration::from_secs(43200)));
        assert_eq!(parse_keep(DEFAULT_KEEP), Ok(Duration::from_secs(86400)));
        for bad in ["", "h", "1w", "-1", "1.5h", "99999999999999999999d"] {
            assert!(parse_keep(bad).is_err(), "{bad:?}");
        }
        assert_eq!(ago(59_000), "59 s");
        assert_eq!(ago(600_000), "10 min");
        assert_eq!(ago(3 * 86_400_000), "3.0 d");
    }

    #[test]
    fn run_ids() {
        assert_eq!(parse_run("launch-42.a_b"), Ok("launch-42.a_b".into()));
        for bad in ["", "a b", "a/b", "é"] {
            assert!(parse_run(bad).is_err(), "{bad:?}");
        }
    }
}
