//! `zkrsync source`: a source process; the first of a session becomes the master.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use tokio::sync::mpsc;
use zkrsync_core::protocol::{
    exit_code, source_tree, Input, Output, SessionParams, Source, SourceConfig, WalkFailed,
};
use zkrsync_core::walk::{walk, FsTree, WalkSpec};

use crate::agent::daemon_mode;
use crate::agent::driver::{self, Hooks};
use crate::agent::progress_bar;
use crate::agent::rsync_run::Runner;
use crate::agent::walk_args::{absolute_root, WalkArgs};
use crate::agent::watchdog::Watchdog;
use crate::agent::zk_connect::ZkArgs;
use crate::agent::{logging, progress_report, report};

mod rsync_trial;

/// Options of `zkrsync source`.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// The tree to copy.
    #[arg(long, value_name = "SRC")]
    pub path: PathBuf,

    /// The ZooKeeper options: servers, session, credentials.
    #[command(flatten)]
    pub zk: ZkArgs,

    /// How the tree is walked into units.
    #[command(flatten)]
    pub walk: WalkArgs,

    /// Show what would be copied (rsync --dry-run); nothing changes.
    #[arg(long, short = 'n')]
    pub dry_run: bool,

    /// Delete entries of the destination that the source does not have (never for a
    /// directory the walk could not list, never when the source tree is missing).
    #[arg(long)]
    pub delete: bool,

    /// Also delete at the destination what the filter rules exclude, and imply --delete
    /// (rules for both sides become the sender's only, as rsync's --delete-excluded; P
    /// rules still protect).
    #[arg(long)]
    pub delete_excluded: bool,

    /// List rsync's itemized changes of every chunk (rsync -i) at the end of the master's
    /// summary, sorted by path, at most 10,000 lines (with --json: its `items` array).
    #[arg(long, short = 'i')]
    pub itemize: bool,

    /// Compare files by checksum (rsync --checksum).
    #[arg(long)]
    pub checksum: bool,

    /// Preserve hard links within each unit (rsync --hard-links).
    #[arg(long)]
    pub hard_links: bool,

    /// Update files in place (rsync --inplace).
    #[arg(long)]
    pub inplace: bool,

    /// rsync's I/O timeout in seconds: an rsync that moves no data for this long fails and
    /// its chunk is tried again, so a hung read (a stale NFS mount) cannot hold a claim
    /// forever (0: none).
    #[arg(long, default_value_t = zkrsync_core::protocol::params::DEFAULT_TIMEOUT_S, value_name = "SEC")]
    pub timeout: u32,

    /// An extra rsync option, e.g. --rsync-opt=--bwlimit=100M (repeatable).
    #[arg(long = "rsync-opt", value_name = "OPT", allow_hyphen_values = true)]
    pub rsync_opts: Vec<String>,

    /// Tries per chunk before it counts as failed.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub attempts: u32,

    /// With --delete: the most entries the whole session deletes at the destination, all
    /// workers together (a chunk whose deletions do not fit fails, with the numbers).
    #[arg(long, value_name = "N")]
    pub max_delete: Option<u64>,

    /// With --delete: refuse a directory's --delete when its source lost more than PERCENT
    /// of the entries the plan saw there (an emptied or half-unmounted directory); 100
    /// never refuses.
    #[arg(long, default_value_t = zkrsync_core::protocol::params::DEFAULT_DELETE_GUARD, value_name = "PERCENT")]
    pub delete_guard: u32,

    /// The lightest chunk the master makes, in directory entries: each chunk costs one rsync
    /// start and daemon connection, so small chunks make many rsyncs (master only).
    #[arg(long, default_value_t = zkrsync_core::protocol::source::MIN_CHUNK_WEIGHT, value_name = "N")]
    pub chunk_entries: u64,

    /// The run this source is part of (zkrsync-launch gives every launch its own): a source
    /// of the same run that comes after the session finished leaves instead of starting it
    /// anew. Letters, digits, '.', '_', '-'.
    #[arg(long, value_name = "ID", value_parser = crate::agent::finished::parse_run)]
    pub run: Option<String>,

    /// How long the finished session's outcome stays in ZooKeeper for `zkrsync status`
    /// (master): seconds, or with s, m, h, d; 0 keeps nothing. Any source that starts
    /// removes outcomes older than theirs.
    #[arg(long, value_name = "DURATION", default_value = crate::agent::finished::DEFAULT_KEEP, value_parser = crate::agent::finished::parse_keep)]
    pub keep: Duration,

    /// Run a finished session again with only its failed chunks (kept with its outcome),
    /// under the same parameters (a source whose parameters differ is refused); the outcome
    /// then counts the whole session. Without a kept outcome, join the retry under way, or
    /// be refused when there is none.
    #[arg(long)]
    pub retry_failed: bool,

    /// Write the final summary to this file when the session completes (master).
    #[arg(long, value_name = "FILE")]
    pub done_file: Option<PathBuf>,

    /// The master's summary, on its output and in --done-file, as one JSON object.
    #[arg(long)]
    pub json: bool,

    /// Also log to this file.
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,

    /// Log every rsync command and its error output.
    #[arg(long, short = 'v')]
    pub verbose: bool,

    /// Seconds between progress reports of the master: a progress bar when stderr is a
    /// terminal (default 1), log lines otherwise (default 10).
    #[arg(long, value_name = "SEC")]
    pub progress_every: Option<u64>,

    /// The rsync program.
    #[arg(long, default_value = "rsync", value_name = "PATH")]
    pub rsync: PathBuf,

    /// In the foreground, detached, or under zkrsync-launch.
    #[command(flatten)]
    pub run_mode: crate::agent::daemon_mode::RunMode,

    /// Progress reports as lines on standard output (zkrsync-launch shows them as its own):
    /// JSON, as with --progress json, every second.
    #[arg(long, hide = true)]
    pub progress_stdout: bool,

    /// How the master reports progress: `auto` (a bar when stderr is a terminal, else a log
    /// line) or `json` (one JSON object per report on standard output: chunks, bytes and
    /// files so far, the running chunks' included, entries, eta_s, the line).
    #[arg(long, value_name = "MODE", default_value = "auto", value_parser = ["auto", "json"])]
    pub progress: String,
}

/// rsync's filter options: given to rsync alone, the walk would not apply them.
const FILTER_OPTS: [&str; 7] = [
    "--delete-excluded",
    "--exclude",
    "--include",
    "--filter",
    "--exclude-from",
    "--include-from",
    "--cvs-exclude",
];

/// rsync options that would break how zkrsync drives rsync.
const REFUSED_OPTS: [&str; 7] = [
    "--files-from",
    "--from0",
    "--server",
    "--daemon",
    "--remove-source-files",
    "--relative",
    "--no-relative",
];

impl SourceArgs {
    /// The session parameters this source brings, with the filter rules of `spec`.
    pub fn params(&self, spec: &WalkSpec) -> SessionParams {
        SessionParams {
            depth: self.walk.depth,
            filters: spec.filters.clone(),
            delete_excluded: self.delete_excluded,
            exclude_regex: self.walk.exclude_regex.clone(),
            exclude_owner: self.walk.exclude_owner.clone(),
            subpaths: self
                .walk
                .subpaths
                .iter()
                .map(|s| std::os::unix::ffi::OsStrExt::as_bytes(s.as_os_str()).to_vec())
                .collect(),
            dry_run: self.dry_run,
            // As in rsync, --delete-excluded implies --delete.
            delete: self.delete || self.delete_excluded,
            checksum: self.checksum,
            hard_links: self.hard_links,
            inplace: self.inplace,
            timeout: self.timeout,
            rsync_opts: self.rsync_opts.clone(),
            attempts: self.attempts,
            max_delete: self.max_delete,
            delete_guard: self.delete_guard,
            itemize: self.itemize,
        }
    }

    fn check(&self) -> anyhow::Result<(PathBuf, WalkSpec)> {
        if !(1..=100).contains(&self.attempts) {
            bail!(
                "--attempts {} is out of range: give 1 to 100",
                self.attempts
            );
        }
        if !(1..=100).contains(&self.delete_guard) {
            bail!(
                "--delete-guard {} is out of range: give a percentage from 1 to 100 (100: never refuse)",
                self.delete_guard
            );
        }
        if self.chunk_entries == 0 {
            bail!("--chunk-entries 0: give at least 1");
        }
        if self.progress_every == Some(0) {
            bail!("--progress-every 0: give at least 1 second");
        }
        for opt in &self.rsync_opts {
            let name = opt.split('=').next().unwrap_or(opt);
            let short_filter =
                !opt.starts_with("--") && ["-f", "-F", "-C"].iter().any(|s| opt.starts_with(s));
            if FILTER_OPTS.contains(&name) || short_filter {
                bail!("--rsync-opt {opt:?} is a filter option, which the walk would not apply: give it as zkrsync's own option (--exclude, --include, --filter, --exclude-from, --include-from, --delete-excluded)");
            }
            if REFUSED_OPTS.contains(&name) || !opt.starts_with('-') {
                bail!("--rsync-opt {opt:?} is not allowed: zkrsync sets the file list, source and destination itself");
            }
            let daemon_refuses = super::rsync_daemon::REFUSED_OPTIONS
                .split_whitespace()
                .any(|refused| name.strip_prefix("--") == Some(refused));
            if daemon_refuses {
                bail!("--rsync-opt {opt:?} is refused by every destination's rsync daemon (it can destroy data the session must keep): leave it out");
            }
        }
        let root = absolute_root(&self.path)?;
        match std::fs::metadata(&root) {
            Err(e) => bail!(
                "source {} cannot be read ({e}): give an existing directory",
                root.display()
            ),
            Ok(m) if !m.is_dir() => bail!(
                "source {} is not a directory: give the directory to copy",
                root.display()
            ),
            Ok(_) => {}
        }
        let spec = self.walk.spec(&root)?;
        self.zk.layout()?;
        self.zk.timeout()?;
        self.zk.check_connect()?;
        self.zk.credentials()?;
        // Last: it runs rsync once, which the checks above need not wait for.
        rsync_trial::try_options(&self.rsync, &self.params(&spec))?;
        Ok((root, spec))
    }
}

struct SourceHooks {
    root: PathBuf,
    spec: WalkSpec,
    runner: Runner,
    session: String,
    done_file: Option<PathBuf>,
    started: Instant,
    summary_failed: Option<anyhow::Error>,
    /// Progress reports are JSON lines on standard output.
    progress_json: bool,
    daemon: bool,
    /// The session copies nothing (`--dry-run`): every report line says so.
    dry_run: bool,
    /// The summary as JSON.
    json: bool,
}

impl Hooks for SourceHooks {
    fn handle(&mut self, output: Output, inputs: &mpsc::UnboundedSender<Input>) {
        match output {
            Output::Walk => {
                let root = self.root.clone();
                let spec = self.spec.clone();
                let inputs = inputs.clone();
                tokio::task::spawn_blocking(move || {
                    let started = Instant::now();
                    let result = walk(&FsTree, &root, &spec)
                        .map(|w| {
                            for e in &w.errors {
                                tracing::warn!("cannot list {}: {}", e.path.display(), e.error);
                            }
                            tracing::info!(
                                "walked {} directories in {:.2} s",
                                w.dirs_read,
                                started.elapsed().as_secs_f64()
                            );
                            source_tree::walked(&FsTree, &root, w)
                        })
                        .map_err(WalkFailed::from);
                    let _ = inputs.send(Input::Walked(result));
                });
            }
            Output::Spawn { id, job } => self.runner.spawn(id, job, inputs),
            Output::Kill { id } => self.runner.kill(id),
            Output::Log { level, message } => logging::log(level, &message),
            // JSON lines for scripts, and for zkrsync-launch, which shows them as its own.
            Output::Progress(p) if self.progress_json => {
                println!(
                    "{}",
                    progress_report::json(&p, self.started.elapsed(), self.dry_run)
                )
            }
            Output::Progress(p) if progress_bar::wanted() => {
                progress_bar::update(&p, self.started.elapsed(), self.dry_run)
            }
            Output::Progress(p) => {
                tracing::info!(
                    "{}",
                    progress_report::line(&p, self.started.elapsed(), self.dry_run)
                )
            }
            Output::Summary(s) => {
                progress_bar::finish();
                let summary = match self.json {
                    true => report::summary_json,
                    false => report::summary_text,
                };
                let text = summary(&self.session, &s, self.started.elapsed(), self.dry_run);
                if self.daemon {
                    // A daemon's output is /dev/null: its log is where it is read.
                    text.lines().for_each(|l| tracing::info!("{l}"));
                } else {
                    print!("{text}");
                }
                if let Some(file) = &self.done_file {
                    if let Err(e) = std::fs::write(file, &text) {
                        self.summary_failed = Some(anyhow::anyhow!(
                            "cannot write --done-file {}: {e}",
                            file.display()
                        ));
                    }
                }
            }
            Output::WatchTree
            | Output::Probe { .. }
            | Output::Zk { .. }
            | Output::NewSession
            | Output::Exit(_) => {}
        }
    }

    async fn shutdown(&mut self) {
        self.runner.shutdown().await;
    }

    fn renew_lease(&mut self, lease: Duration) {
        self.runner.renew_lease(lease);
    }
}

/// Runs `zkrsync source`; returns the exit code.
pub fn run(args: &SourceArgs) -> anyhow::Result<i32> {
    let (root, spec) = args.check()?;
    let (log_file, _pidfile) = daemon_mode::prepare(
        args.zk.layout()?.session(),
        "source",
        args.run_mode.daemon,
        &args.run_mode.pidfile,
        args.log_file.as_deref(),
    )?;
    logging::init(args.verbose, log_file.as_deref())?;
    let layout = args.zk.layout()?;
    // The whole run is this role's (not printed: see logging.rs).
    let _role = tracing::info_span!("source", session = layout.session()).entered();
    args.walk.configure_threads()?;
    let timeout = args.zk.timeout()?;
    let host = hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "host".into());
    let cfg = SourceConfig {
        layout: layout.clone(),
        params: args.params(&spec),
        client_id: format!("{host}-{}", std::process::id()),
        session_timeout: timeout,
        progress_every: Duration::from_secs(args.progress_every.unwrap_or(
            if progress_bar::wanted() || args.progress_stdout {
                1
            } else {
                10
            },
        )),
        leave_timeout: zkrsync_core::protocol::source::leave_timeout(timeout),
        min_chunk_weight: args.chunk_entries,
        open_acls: args.zk.credentials()?.is_none(),
        run: args.run.clone(),
        keep: args.keep,
        retry_failed: args.retry_failed,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let zk = args.zk.connect().await?;
        let swept = crate::agent::finished::sweep_expired(&zk, &args.zk.base).await;
        if swept > 0 {
            tracing::info!("removed the kept outcomes of {swept} sessions finished longer ago than their --keep");
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let mut hooks = SourceHooks {
            root: root.clone(),
            spec,
            runner: Runner::new(
                root,
                args.rsync.clone(),
                Some(Watchdog::start().context("cannot start the rsync watchdog")?),
            )
            .context("cannot make a private directory for file lists")?,
            session: layout.session().to_owned(),
            done_file: args.done_file.clone(),
            started: Instant::now(),
            summary_failed: None,
            progress_json: args.progress_stdout || args.progress == "json",
            daemon: args.run_mode.daemon,
            dry_run: args.dry_run,
            json: args.json,
        };
        if args.run_mode.watch_stdin {
            crate::agent::stdin_lifeline::watch(tx.clone());
        }
        let mut machine = Source::new(cfg);
        let exit = driver::run(&mut machine, &mut hooks, &args.zk, zk, tx, rx).await;
        if let Some(e) = hooks.summary_failed {
            return Err(e);
        }
        if let Some(message) = &exit.message {
            if exit.code == exit_code::CONFIG {
                return Err(anyhow::anyhow!("{message}"));
            }
            crate::agent::daemon_mode::say_end(message);
        }
        Ok(exit.code)
    })
}
