//! `zkrsync dest`: a destination process running an rsync daemon for the session.
//!
//! Before anything starts: the path must be a directory, or be missing under a parent
//! directory (then it is created, as rsync does: [`dest_dir`]), and a destination without
//! root is refused unless `--rewrite-symlinks` accepts what its daemon then does to
//! symlinks. The tree is the directory found (or made) then.
//! While it runs, the tree is checked every [`TREE_CHECK`]: a tree that is gone, or whose
//! root is no longer the directory it was at start (unmounted, replaced), pauses the
//! destination; the daemon's `early exec` refuses every connection meanwhile
//! ([`rsync_daemon`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Args;
use tokio::sync::mpsc;
use zkrsync_core::protocol::records::DestRecord;
use zkrsync_core::protocol::{exit_code, Dest, DestConfig, Input, Output, TreeState};

use crate::agent::dest_dir::{self, DestDir};
use crate::agent::driver::{self, Hooks};
use crate::agent::tree_id::{self, RootId};
use crate::agent::walk_args::absolute_root;
use crate::agent::zk_connect::ZkArgs;
use crate::agent::{logging, probe_files, rsync_daemon};

/// Options of `zkrsync dest`.
#[derive(Debug, Args)]
pub struct DestArgs {
    /// The tree to copy into.
    #[arg(long, value_name = "DST")]
    pub path: PathBuf,

    /// The ZooKeeper options: servers, session, credentials.
    #[command(flatten)]
    pub zk: ZkArgs,

    /// The run this destination is part of (zkrsync-launch gives every launch its own): a
    /// destination of the same run that comes after the session finished leaves instead of
    /// starting it anew.
    #[arg(long, value_name = "ID", value_parser = crate::agent::finished::parse_run)]
    pub run: Option<String>,

    /// Port of the rsync daemon.
    #[arg(long, value_name = "P", conflicts_with = "start_port")]
    pub port: Option<u16>,

    /// Use the first free port from this one.
    #[arg(long, default_value_t = 8730, value_name = "P")]
    pub start_port: u16,

    /// Address the daemon binds to and the sources connect to (default: this host's name).
    #[arg(long, value_name = "ADDR", env = "ZKRSYNC_ADVERTISE")]
    pub advertise: Option<String>,

    /// This destination's id in the session (default: host-pid).
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,

    /// Also log to this file.
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,

    /// Log more.
    #[arg(long, short = 'v')]
    pub verbose: bool,

    /// The rsync program.
    #[arg(long, default_value = "rsync", value_name = "PATH")]
    pub rsync: PathBuf,

    /// Run without root although the rsync daemon then cannot chroot, and rsync rewrites
    /// the absolute and upward symlink targets it stores (it drops a leading '/' and the
    /// leading '..' that leave the tree).
    #[arg(long)]
    pub rewrite_symlinks: bool,

    /// Advertise this host's short name in this domain (vsc-zk's --domain), when no
    /// --advertise is given.
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Option<String>,

    /// In the foreground, detached, or under zkrsync-launch.
    #[command(flatten)]
    pub run_mode: crate::agent::daemon_mode::RunMode,
}

struct DestHooks {
    path: PathBuf,
    /// What the tree's root was at start.
    root: RootId,
    watching: bool,
    /// Probe-file work under way (finished before the process exits).
    probes: Vec<tokio::task::JoinHandle<()>>,
}

/// How often a destination checks that its tree is still there.
const TREE_CHECK: Duration = Duration::from_secs(2);

/// The tree at `path` now, against what its root was at start.
fn tree_state(path: &Path, start: &RootId) -> TreeState {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return TreeState::Missing(format!("{} is not a directory", path.display())),
        Err(e) => return TreeState::Missing(format!("{} cannot be read ({e})", path.display())),
    }
    match RootId::of(path) {
        Ok(now) if now.dev == start.dev && now.ino == start.ino => TreeState::Present,
        Ok(now) => TreeState::Missing(format!(
            "{} is not the directory it was at start (now {now}; then {start}): unmounted or replaced? If it is mounted again as another device, restart this destination",
            path.display()
        )),
        Err(e) => TreeState::Missing(format!("{} cannot be read ({e})", path.display())),
    }
}

impl Hooks for DestHooks {
    fn handle(&mut self, output: Output, inputs: &mpsc::UnboundedSender<Input>) {
        match output {
            Output::WatchTree if !self.watching => {
                self.watching = true;
                let path = self.path.clone();
                let root = self.root;
                let inputs = inputs.clone();
                tokio::spawn(async move {
                    // A health check of a mount, not protocol polling: the machine only
                    // hears about changes.
                    let mut last = None;
                    loop {
                        let check = (path.clone(), root);
                        let Ok(state) =
                            tokio::task::spawn_blocking(move || tree_state(&check.0, &check.1))
                                .await
                        else {
                            return;
                        };
                        if last.as_ref() != Some(&state) {
                            last = Some(state.clone());
                            if inputs.send(Input::Tree(state)).is_err() {
                                return;
                            }
                        }
                        tokio::time::sleep(TREE_CHECK).await;
                    }
                });
            }
            Output::Probe { id, op } => {
                let path = self.path.clone();
                let inputs = inputs.clone();
                self.probes.retain(|p| !p.is_finished());
                self.probes.push(tokio::task::spawn_blocking(move || {
                    let result = probe_files::carry_out(&path, op);
                    let _ = inputs.send(Input::Probe { id, result });
                }));
            }
            Output::Log { level, message } => logging::log(level, &message),
            _ => {}
        }
    }

    async fn shutdown(&mut self) {
        // A probe that the session's end removes must be gone before the process is.
        for probe in self.probes.drain(..) {
            let _ = probe.await;
        }
    }
}

/// Refuses a destination without root, unless `--rewrite-symlinks` accepts what its
/// daemon then does to symlinks.
fn check_root(rewrite_symlinks: bool) -> anyhow::Result<()> {
    let uid = nix::unistd::getuid();
    if uid.is_root() {
        return Ok(());
    }
    if !rewrite_symlinks {
        let user = nix::unistd::User::from_uid(uid)
            .ok()
            .flatten()
            .map_or_else(|| uid.to_string(), |u| u.name);
        bail!(
            "zkrsync dest runs as {user}, not root: its rsync daemon cannot chroot, and rsync then rewrites the absolute and upward symlink targets it stores (/etc/x becomes etc/x): run the destination as root, or give --rewrite-symlinks to accept that"
        );
    }
    Ok(())
}

/// Runs `zkrsync dest`; returns the exit code. A missing destination directory is created
/// once every other option has been checked, and removed again (when still empty) if the
/// destination is refused after all.
pub fn run(args: &DestArgs) -> anyhow::Result<i32> {
    let path = absolute_root(&args.path)?;
    let found = dest_dir::check(&path)?;
    check_root(args.rewrite_symlinks)?;
    args.zk.layout()?;
    args.zk.timeout()?;
    args.zk.check_connect()?;
    args.zk.credentials()?;
    names(args)?;
    let created = found == DestDir::ToCreate && dest_dir::create(&path)?;
    let result = run_in(args, path.clone(), created);
    if created && !matches!(result, Ok(code) if code != exit_code::CONFIG) {
        dest_dir::remove_if_empty(&path);
    }
    result
}

/// Runs the destination on its directory `path`, which exists (`created`: made just now):
/// the tree is what it is now.
fn run_in(args: &DestArgs, path: PathBuf, created: bool) -> anyhow::Result<i32> {
    let root =
        RootId::of(&path).with_context(|| format!("cannot read destination {}", path.display()))?;
    let tree = tree_id::tree_id(&path)
        .with_context(|| format!("cannot read where destination {} is", path.display()))?;
    let token = rsync_daemon::random_hex("the destination's probe token")?;
    let layout = args.zk.layout()?;
    let (host, id, advertise) = names(args)?;
    let (log_file, _pidfile) = crate::agent::daemon_mode::prepare(
        layout.session(),
        "dest",
        args.run_mode.daemon,
        &args.run_mode.pidfile,
        args.log_file.as_deref(),
    )?;
    logging::init(args.verbose, log_file.as_deref())?;
    if created {
        // As rsync, which says so with -v.
        tracing::debug!("created the destination directory {}", path.display());
    }
    if !nix::unistd::getuid().is_root() {
        tracing::warn!("not running as root (--rewrite-symlinks): rsync drops the leading '/' of absolute symlink targets, and the leading '..' that leave the tree, as it stores them");
    }
    // The whole run is this role's (not printed: see logging.rs).
    let _role = tracing::info_span!("dest", session = layout.session(), id = %id).entered();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let zk = args.zk.connect().await?;
        // Unique per process, so a daemon can tell itself from another one on the same port.
        let module = format!("zkrsync-{}-{}", layout.session(), std::process::id());
        let daemon = rsync_daemon::start(
            &args.rsync,
            &path,
            &root,
            &advertise,
            &module,
            args.port,
            args.start_port,
        )
        .await?;
        tracing::info!(
            "rsync daemon for {} listening on {advertise}:{}",
            path.display(),
            daemon.port
        );
        let record = DestRecord {
            address: advertise.clone(),
            port: daemon.port,
            module: module.clone(),
            active: true,
            host: host.clone(),
            auth: Some(daemon.auth.clone()),
            tree: Some(tree),
            extra: Vec::new(),
        };
        let cfg = DestConfig {
            layout: layout.clone(),
            id,
            record,
            session_timeout: args.zk.timeout()?,
            path: path.display().to_string(),
            token,
            run: args.run.clone(),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        if args.run_mode.watch_stdin {
            crate::agent::stdin_lifeline::watch(tx.clone());
        }
        let hooks = DestHooks {
            path: path.clone(),
            root,
            watching: false,
            probes: Vec::new(),
        };
        serve(args, Dest::new(cfg), hooks, zk, daemon, (tx, rx)).await
    })
}

/// Runs the machine until it exits, or until the rsync daemon dies (then the machine is
/// interrupted); stops the daemon; returns the exit code.
async fn serve(
    args: &DestArgs,
    mut machine: Dest,
    mut hooks: DestHooks,
    zk: crate::agent::zk_connect::Zk,
    mut daemon: rsync_daemon::Daemon,
    (tx, rx): (mpsc::UnboundedSender<Input>, mpsc::UnboundedReceiver<Input>),
) -> anyhow::Result<i32> {
    {
        let died = Arc::new(AtomicBool::new(false));
        let exit = {
            let run = driver::run(&mut machine, &mut hooks, &args.zk, zk, tx.clone(), rx);
            tokio::pin!(run);
            tokio::select! {
                exit = &mut run => Some(exit),
                status = daemon.child.wait() => {
                    died.store(true, Ordering::SeqCst);
                    tracing::error!("the rsync daemon exited ({status:?})");
                    let _ = tx.send(Input::Interrupt);
                    Some(run.await)
                }
            }
        };
        let _ = daemon.child.start_kill();
        let _ = daemon.child.wait().await;
        let exit = exit.expect("set");
        if died.load(Ordering::SeqCst) {
            bail!(
                "the rsync daemon of this destination exited; see {}",
                daemon.dir.path().join("rsyncd.log").display()
            );
        }
        if let Some(message) = &exit.message {
            if exit.code == exit_code::CONFIG {
                return Err(anyhow::anyhow!("{message}"));
            }
            crate::agent::daemon_mode::say_end(message);
        }
        Ok(exit.code)
    }
}

/// This host's name, the destination's id and the address it advertises.
fn names(args: &DestArgs) -> anyhow::Result<(String, String, String)> {
    let host = hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "localhost".into());
    let id = args
        .id
        .clone()
        .unwrap_or_else(|| format!("{}-{}", sanitize(&host), std::process::id()));
    if id.is_empty()
        || id.contains('~')
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        bail!("--id {id:?} is not valid: use letters, digits, '.', '_' or '-'");
    }
    let advertise = match (&args.advertise, &args.domain) {
        (Some(a), _) => a.clone(),
        (None, Some(domain)) => in_domain(&host, domain),
        (None, None) => host.clone(),
    };
    Ok((host, id, advertise))
}

/// `host`'s short name in `domain`, as vsc-zk's --domain: `node1.old.org` -> `node1.DOMAIN`.
fn in_domain(host: &str, domain: &str) -> String {
    let short = host.split('.').next().unwrap_or(host);
    format!("{short}.{}", domain.trim_start_matches('.'))
}

fn sanitize(host: &str) -> String {
    host.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::in_domain;

    #[test]
    fn domain_replaces_the_host_s_own() {
        assert_eq!(
            in_domain("node1.cluster.local", "ib.example.org"),
            "node1.ib.example.org"
        );
        assert_eq!(in_domain("node2", ".ib"), "node2.ib");
    }
}
