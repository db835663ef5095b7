//! `zkrsync check`: from this host, can every destination of a session be reached and
//! logged in to? vsc-zk's `--netcat` idea, done with rsync itself: for each destination's
//! daemon, `rsync --list-only` of its module with the session's login (nothing is copied,
//! and only the module's top entry is listed). Run it on every source host.

use std::process::Stdio;
use std::time::Instant;

use anyhow::anyhow;
use clap::Args;
use zkrsync_core::protocol::exit_code;
use zkrsync_core::protocol::layout::Dir;
use zkrsync_core::protocol::records::DestRecord;

use crate::agent::zk_connect::ZkArgs;

/// Options of `zkrsync check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The ZooKeeper options: servers, session, credentials.
    #[command(flatten)]
    pub zk: ZkArgs,

    /// Seconds to connect to each daemon.
    #[arg(long, default_value_t = 10, value_name = "SEC")]
    pub timeout: u32,

    /// Print JSON.
    #[arg(long)]
    pub json: bool,

    /// The rsync program.
    #[arg(long, default_value = "rsync", value_name = "PATH")]
    pub rsync: std::path::PathBuf,
}

/// What one destination's check found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verdict {
    /// The destination's id.
    pub dest: String,
    /// Its daemon's address and port.
    pub address: String,
    /// Its host.
    pub host: String,
    /// Whether it takes work now (its tree is there).
    pub active: bool,
    /// `ok`, `unreachable`, `login refused` or `failed`.
    pub result: String,
    /// rsync's last message, when not ok.
    pub detail: String,
    /// Milliseconds the check took.
    pub ms: u128,
}

async fn check_one(args: &CheckArgs, id: &str, record: &DestRecord) -> Verdict {
    let started = Instant::now();
    let mut cmd = tokio::process::Command::new(&args.rsync);
    cmd.arg("--list-only")
        .arg("--no-motd")
        .arg("--exclude=*")
        .arg(format!("--contimeout={}", args.timeout.max(1)))
        .arg(format!("--timeout={}", args.timeout.max(1)))
        .arg(record.url())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    match &record.auth {
        Some(auth) => cmd.env("RSYNC_PASSWORD", &auth.secret.0),
        None => cmd.env_remove("RSYNC_PASSWORD"),
    };
    let out = cmd.output().await;
    let (result, detail) = match out {
        Err(e) => ("failed".to_owned(), format!("cannot run rsync: {e}")),
        Ok(o) if o.status.success() => ("ok".to_owned(), String::new()),
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            let last = err
                .lines()
                .find(|l| l.contains("@ERROR") || l.contains("failed to connect"))
                .or_else(|| err.lines().rev().find(|l| !l.trim().is_empty()))
                .unwrap_or("")
                .trim()
                .to_owned();
            let kind = if err.contains("auth failed") {
                "login refused"
            } else if o.status.code() == Some(10) || o.status.code() == Some(35) {
                "unreachable"
            } else {
                "failed"
            };
            (kind.to_owned(), last)
        }
    };
    Verdict {
        dest: id.to_owned(),
        address: format!("{}:{}", record.address, record.port),
        host: record.host.clone(),
        active: record.active,
        result,
        detail,
        ms: started.elapsed().as_millis(),
    }
}

/// Runs `zkrsync check`: 0 when every destination works, 1 when one does not, 14 when
/// there is no such session.
pub fn run(args: &CheckArgs) -> anyhow::Result<i32> {
    let layout = args.zk.layout()?;
    crate::agent::status::runtime()?.block_on(async {
        let zk = args.zk.connect().await?;
        let ids = match zk.client.list_children(&layout.dests()).await {
            Ok(ids) => ids,
            Err(zookeeper_client::Error::NoNode) => {
                eprintln!(
                    "zkrsync: no session {} under {} on {}",
                    layout.session(),
                    args.zk.base,
                    args.zk.zk
                );
                return Ok(exit_code::NO_SESSION);
            }
            Err(e) => return Err(anyhow!("cannot list the destinations: {e}: check --auth")),
        };
        let mut verdicts = Vec::new();
        for id in ids {
            let path = layout.entry(Dir::Dests, &id);
            let record = match zk.client.get_data(&path).await {
                Ok((data, _)) => {
                    DestRecord::decode(&data).map_err(|e| anyhow!("destination {id}: {e}"))?
                }
                // Gone meanwhile.
                Err(zookeeper_client::Error::NoNode) => continue,
                Err(e) => return Err(anyhow!("cannot read destination {id}: {e}: check --auth")),
            };
            verdicts.push(check_one(args, &id, &record).await);
        }
        let bad = verdicts.iter().filter(|v| v.result != "ok").count();
        if args.json {
            println!("{}", serde_json::to_string_pretty(&verdicts)?);
        } else {
            let host = hostname::get()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default();
            println!(
                "session {}: from {host}, {} of {} destinations work",
                layout.session(),
                verdicts.len() - bad,
                verdicts.len()
            );
            println!(
                "{:<24} {:<22} {:<8} {:<14} {:>6}  detail",
                "destination", "address", "state", "result", "ms"
            );
            for v in &verdicts {
                println!(
                    "{:<24} {:<22} {:<8} {:<14} {:>6}  {}",
                    v.dest,
                    v.address,
                    if v.active { "active" } else { "paused" },
                    v.result,
                    v.ms,
                    v.detail
                );
            }
        }
        Ok(if bad == 0 && !verdicts.is_empty() {
            exit_code::OK
        } else {
            exit_code::PARTIAL
        })
    })
}
