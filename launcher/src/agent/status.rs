//! `zkrsync status` and `zkrsync abort`: look at or end a session from outside.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use clap::Args;
use zkrsync_core::protocol::layout::Dir;
use zkrsync_core::protocol::records::{DoneRecord, PlanRecord, StopRecord};
use zkrsync_core::protocol::{exit_code, Layout};
use zookeeper_client as zk;

use crate::agent::zk_connect::{Zk, ZkArgs};
use crate::agent::zk_ops::map_error;

/// Options of `zkrsync status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The ZooKeeper options: servers, session, credentials.
    #[command(flatten)]
    pub zk: ZkArgs,

    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Options of `zkrsync abort`.
#[derive(Debug, Args)]
pub struct AbortArgs {
    /// The ZooKeeper options: servers, session, credentials.
    #[command(flatten)]
    pub zk: ZkArgs,

    /// Seconds to wait for the session's clients to leave before its znodes are deleted.
    #[arg(long, default_value_t = 60, value_name = "SEC")]
    pub wait: u64,
}

fn zk_err(what: &str, e: zk::Error) -> anyhow::Error {
    match map_error(&e) {
        zkrsync_core::protocol::ZkError::NoAuth => anyhow!("ZooKeeper refused to {what} (not authorized): give the session's credentials with --auth"),
        other => anyhow!("cannot {what}: {other}"),
    }
}

async fn count(zk: &Zk, path: &str) -> anyhow::Result<Vec<String>> {
    match zk.client.list_children(path).await {
        Ok(c) => Ok(c),
        Err(zk::Error::NoNode) => Ok(Vec::new()),
        Err(e) => Err(zk_err(&format!("list {path}"), e)),
    }
}

/// The runtime of a one-shot command (status, abort, forget, check).
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Runs `zkrsync status`; 14 when there is no such session. A finished session shows its
/// kept outcome.
pub fn status(args: &StatusArgs) -> anyhow::Result<i32> {
    let layout = args.zk.layout()?;
    runtime()?.block_on(async {
        let zk = args.zk.connect().await?;
        if zk.client.check_stat(layout.root()).await.map_err(|e| zk_err("read the session", e))?.is_none() {
            eprintln!("zkrsync: no session {} under {} on {}", layout.session(), args.zk.base, args.zk.zk);
            return Ok(exit_code::NO_SESSION);
        }
        if let Some(finished) = crate::agent::finished::read(&zk, &layout).await? {
            match args.json {
                true => println!("{}", finished.json(layout.session())),
                false => println!("{}", finished.line(layout.session())),
            }
            return Ok(exit_code::OK);
        }
        let plan = match zk.client.get_data(&layout.plan()).await {
            Ok((data, _)) => PlanRecord::decode(&data).ok(),
            Err(_) => None,
        };
        let chunks = count(&zk, &layout.plan()).await?.len();
        let done = count(&zk, &layout.dir(Dir::Done)).await?;
        let failed = count(&zk, &layout.dir(Dir::Failed)).await?.len();
        let claims = count(&zk, &layout.dir(Dir::Claims)).await?.len();
        let sources = count(&zk, &layout.election()).await?.len();
        let dests = count(&zk, &layout.dests()).await?.len();
        let stop = match zk.client.get_data(&layout.stop()).await {
            Ok((d, _)) => Some(StopRecord::decode(&d)),
            Err(_) => None,
        };
        let reads: Vec<_> = done.iter().map(|c| zk.client.get_data(&layout.entry(Dir::Done, c))).collect();
        let mut files = 0u64;
        let mut bytes = 0u64;
        for r in reads {
            if let Ok((data, _)) = r.await {
                if let Ok(rec) = DoneRecord::decode(&data) {
                    files += rec.stats.files;
                    bytes += rec.stats.bytes_sent;
                }
            }
        }
        let total = plan.as_ref().filter(|p| p.ready).map_or(chunks as u64, |p| p.chunks);
        let ready = plan.as_ref().is_some_and(|p| p.ready);
        let remaining = total.saturating_sub(done.len() as u64 + failed as u64);
        let state = match stop {
            Some(StopRecord::Done) => "stopping",
            Some(StopRecord::Abort) => "aborting",
            None if ready => "running",
            None => "planning",
        };
        if args.json {
            let v = serde_json::json!({
                "session": layout.session(), "state": state, "plan_ready": ready,
                "chunks": total, "done": done.len(), "failed": failed, "remaining": remaining, "running": claims,
                "sources": sources, "dests": dests, "files": files, "bytes_sent": bytes,
            });
            println!("{v}");
        } else {
            println!(
                "session {}: {state}; chunks {total}{}: {} done, {failed} failed, {remaining} remaining ({claims} running); {sources} sources, {dests} destinations; {files} files, {} sent",
                layout.session(),
                if ready { "" } else { " so far" },
                done.len(),
                crate::agent::report::bytes(bytes)
            );
        }
        Ok(exit_code::OK)
    })
}

/// Deletes the session's znodes (children of every directory, then the rest).
pub async fn delete_session(zk: &Zk, layout: &Layout) -> anyhow::Result<()> {
    for dir in Dir::ALL {
        let names = count(zk, &layout.dir(dir)).await?;
        for batch in names.chunks(500) {
            let mut w = zk.client.new_multi_writer();
            for n in batch {
                w.add_delete(&layout.entry(dir, n), None)
                    .map_err(|e| zk_err("delete", e))?;
            }
            match w.commit().await {
                Ok(_) => {}
                Err(_) => {
                    // Someone deleted some meanwhile: one by one.
                    for n in batch {
                        let _ = zk.client.delete(&layout.entry(dir, n), None).await;
                    }
                }
            }
        }
    }
    for path in Dir::ALL.into_iter().map(|d| layout.dir(d)).chain([
        layout.config(),
        layout.stop(),
        layout.summary(),
        layout.desttree(),
        layout.outcome(),
        layout.root().to_owned(),
    ]) {
        match zk.client.delete(&path, None).await {
            Ok(()) | Err(zk::Error::NoNode) => {}
            Err(e) => return Err(zk_err(&format!("delete {path}"), e)),
        }
    }
    Ok(())
}

/// Runs `zkrsync abort`: signals every client to stop, waits for them, deletes the session.
pub fn abort(args: &AbortArgs) -> anyhow::Result<i32> {
    let layout = args.zk.layout()?;
    runtime()?.block_on(async {
        let zk = args.zk.connect().await?;
        if zk.client.check_stat(layout.root()).await.map_err(|e| zk_err("read the session", e))?.is_none() {
            eprintln!("zkrsync: no session {} under {} on {}", layout.session(), args.zk.base, args.zk.zk);
            return Ok(exit_code::NO_SESSION);
        }
        if crate::agent::finished::read(&zk, &layout).await?.is_some() {
            bail!("session {} has finished already (zkrsync status shows how): remove what is kept of it with zkrsync forget --session {}", layout.session(), layout.session());
        }
        let options = zk::CreateMode::Persistent.with_acls(zk.acls);
        match zk.client.create(&layout.stop(), &StopRecord::Abort.encode(), &options).await {
            Ok(_) => {}
            Err(zk::Error::NodeExists) => {
                zk.client.set_data(&layout.stop(), &StopRecord::Abort.encode(), None).await.map_err(|e| zk_err("signal stop", e))?;
            }
            Err(e) => return Err(zk_err("signal stop", e)),
        }
        let deadline = Instant::now() + Duration::from_secs(args.wait);
        loop {
            let (sources, w1) = match zk.client.list_and_watch_children(&layout.election()).await {
                Ok(x) => x,
                Err(zk::Error::NoNode) => break,
                Err(e) => return Err(zk_err("list the sources", e)),
            };
            let (dests, w2) = match zk.client.list_and_watch_children(&layout.dests()).await {
                Ok(x) => x,
                Err(zk::Error::NoNode) => break,
                Err(e) => return Err(zk_err("list the destinations", e)),
            };
            if sources.is_empty() && dests.is_empty() {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("{} sources and {} destinations are still in session {} after {} s: stop them, then run zkrsync abort again", sources.len(), dests.len(), layout.session(), args.wait);
            }
            let _ = tokio::time::timeout(left, async {
                tokio::select! { _ = w1.changed() => {}, _ = w2.changed() => {} }
            })
            .await;
        }
        delete_session(&zk, &layout).await?;
        eprintln!("zkrsync: session {} aborted and removed", layout.session());
        Ok(exit_code::OK)
    })
}
