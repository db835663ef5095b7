//! Runs the core's rsync jobs: checks the source tree's guards first (off the async
//! threads), writes the NUL-separated file and exclude lists to a private directory, runs
//! one rsync per invocation (registered with the [`Watchdog`]), feeds its output to the
//! core's [`RunCounter`] (what of rsync's counts is the run's), and kills it at once when
//! asked.

use std::collections::HashMap;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use zkrsync_core::protocol::itemized::{Itemized, CHUNK_ITEM_BYTES};
use zkrsync_core::protocol::rsync_job::RsyncInvocation;
use zkrsync_core::protocol::run_counts::RunCounter;
use zkrsync_core::protocol::source_tree::{self, Refusal};
use zkrsync_core::protocol::{Input, JobId, RsyncJob, RsyncOutcome};
use zkrsync_core::rsync_exit::{self, RsyncExit};
use zkrsync_core::rsync_stats::RsyncStats;
use zkrsync_core::walk::FsTree;

use super::mount_pin;
use super::rsync_progress;
use super::rsync_stall;
use super::watchdog::Watchdog;

/// Lines of rsync's error output kept for the failure record.
const STDERR_TAIL: usize = 10;

/// The rsync processes of one source.
pub struct Runner {
    ctx: Arc<JobContext>,
    jobs: HashMap<JobId, (oneshot::Sender<()>, JoinHandle<()>)>,
}

/// What every job of a runner shares.
struct JobContext {
    source: PathBuf,
    rsync: PathBuf,
    lists: tempfile::TempDir,
    watchdog: Option<Watchdog>,
    /// This very binary, for `zkrsync pin` ([`mount_pin`]).
    zkrsync: PathBuf,
}

impl Runner {
    /// A runner copying from `source` with the rsync binary `rsync`, its rsync processes
    /// registered with `watchdog` when there is one.
    pub fn new(
        source: PathBuf,
        rsync: PathBuf,
        watchdog: Option<Watchdog>,
    ) -> anyhow::Result<Runner> {
        let lists = tempfile::Builder::new()
            .prefix("zkrsync-lists-")
            .tempdir()?;
        let ctx = JobContext {
            source,
            rsync,
            lists,
            watchdog,
            zkrsync: std::env::current_exe()?,
        };
        Ok(Runner {
            ctx: Arc::new(ctx),
            jobs: HashMap::new(),
        })
    }

    /// Renews the watchdog's lease: its rsync processes live on at most `lease` unless
    /// renewed again.
    pub fn renew_lease(&self, lease: Duration) {
        if let Some(w) = &self.ctx.watchdog {
            w.renew(lease);
        }
    }

    /// Starts `job`; its outcome comes back as [`Input::RsyncDone`].
    pub fn spawn(&mut self, id: JobId, job: RsyncJob, inputs: &mpsc::UnboundedSender<Input>) {
        self.jobs.retain(|_, (_, handle)| !handle.is_finished());
        let (kill_tx, kill_rx) = oneshot::channel();
        let inputs = inputs.clone();
        let ctx = Arc::clone(&self.ctx);
        let sink = rsync_progress::Sink::new(id, inputs.clone());
        let handle = tokio::spawn(async move {
            let outcome = run_job(&ctx, id, job, kill_rx, sink).await;
            let _ = inputs.send(Input::RsyncDone { id, outcome });
        });
        self.jobs.insert(id, (kill_tx, handle));
    }

    /// Kills job `id` at once.
    pub fn kill(&mut self, id: JobId) {
        if let Some((kill, handle)) = self.jobs.remove(&id) {
            let _ = kill.send(());
            // Keep waiting for it in shutdown.
            let (dead, _) = oneshot::channel();
            self.jobs.insert(id, (dead, handle));
        }
    }

    /// Kills every job and waits for them.
    pub async fn shutdown(&mut self) {
        for (_, (kill, handle)) in self.jobs.drain() {
            let _ = kill.send(());
            let _ = handle.await;
        }
    }
}

/// How one invocation ended.
enum Ran {
    /// rsync exited (`None`: by a signal) with this output, counted.
    Exited {
        code: Option<i32>,
        counted: RunCounter,
        stderr_tail: String,
    },
    /// The job was killed.
    Killed,
    /// rsync moved no data for its `--timeout` and was killed ([`rsync_stall`]); `died`:
    /// it ended then (else it was left behind, stuck in the kernel).
    Stalled { after: Duration, died: bool },
}

async fn run_job(
    ctx: &JobContext,
    id: JobId,
    job: RsyncJob,
    mut kill: oneshot::Receiver<()>,
    sink: rsync_progress::Sink,
) -> RsyncOutcome {
    let mut sink = Some(sink);
    // The guards read the file system, which may hang (a dead NFS server): not on the
    // async runtime's threads.
    let source = ctx.source.clone();
    let guards = job.guards.clone();
    let dest_tree = job.dest_tree.clone();
    let checked = tokio::task::spawn_blocking(move || check_source(&source, &guards, dest_tree))
        .await
        .unwrap_or_else(|e| {
            let reason = format!("the source check failed: {e}");
            Err(Box::new(RsyncOutcome::SourceMissing(reason)))
        });
    let dir = match checked {
        Ok(dir) => dir,
        Err(outcome) => return *outcome,
    };
    let mut total = RsyncStats::default();
    let mut items = Itemized::default();
    let mut worst: Option<i32> = Some(0);
    let mut tail = String::new();
    let mut skipped = 0;
    for (n, inv) in job.invocations.iter().enumerate() {
        let listed;
        let inv = match inv.buckets.is_empty() {
            true => inv,
            false => match list_buckets(&dir, inv).await {
                Ok(with_entries) => {
                    listed = with_entries;
                    &listed
                }
                Err(reason) => return RsyncOutcome::UnitChanged(reason),
            },
        };
        let lists = match Lists::write(ctx.lists.path(), id, n, inv) {
            Ok(lists) => lists,
            Err(message) => return RsyncOutcome::SpawnFailed(message),
        };
        let max_delete = job.max_delete_arg(inv, total.deleted_files);
        let cmd = command(ctx, &dir, &job, inv, max_delete, &lists);
        let stall = rsync_stall::io_timeout(&inv.args);
        // Counted against the invocation as built: its buckets named, not yet listed.
        let counter = match job.itemize {
            true => RunCounter::new(&job.invocations[n]).itemizing(),
            false => RunCounter::new(&job.invocations[n]),
        };
        let ran = match run_one(ctx, &job.chunk, cmd, stall, counter, &mut kill, &mut sink).await {
            Ok(ran) => ran,
            Err(message) => return RsyncOutcome::SpawnFailed(message),
        };
        let (code, mut counted, stderr_tail) = match ran {
            Ran::Killed => {
                return RsyncOutcome::Exited {
                    code: None,
                    stats: total,
                    stderr_tail: "killed".into(),
                    deletions_skipped: skipped,
                    items,
                }
            }
            Ran::Stalled { after, died } => {
                let left = match died {
                    true => "killed it",
                    false => "killed it, but it is stuck in the kernel and was left behind (its destination connection has timed out)",
                };
                let said = format!(
                    "zkrsync: rsync moved no data for {} s (--timeout; a hung file system?): {left}",
                    after.as_secs()
                );
                tracing::warn!("chunk {}: {said}", job.chunk);
                return RsyncOutcome::Exited {
                    code: None,
                    stats: total,
                    stderr_tail: said,
                    deletions_skipped: skipped,
                    items,
                };
            }
            Ran::Exited {
                code,
                counted,
                stderr_tail,
            } => (code, counted, stderr_tail),
        };
        if code == Some(mount_pin::UNMOUNTED) {
            if let Some(at) = stderr_tail.find(mount_pin::UNMOUNTED_SAID) {
                let said = &stderr_tail[at + mount_pin::UNMOUNTED_SAID.len()..];
                let line = said.lines().next().unwrap_or_default().trim();
                let reason = line.trim_end_matches(mount_pin::NOT_RUN);
                let reason = reason.strip_prefix("./").unwrap_or(reason);
                let reason = format!("{}/{reason}", ctx.source.display());
                return RsyncOutcome::SourceMissing(reason);
            }
        }
        let held_back = rsync_exit::deletions_skipped(&stderr_tail);
        skipped += held_back;
        // An rsync pushing to a daemon exits 0 when the daemon (its receiver) stopped
        // deleting at --max-delete: say 25, as a local rsync does.
        let code = match code {
            Some(0 | 24) if held_back > 0 => Some(25),
            other => other,
        };
        tail = stderr_tail;
        if let Some(stats) = counted.stats() {
            total += stats;
        }
        items.extend_bounded(counted.take_items(), CHUNK_ITEM_BYTES);
        match RsyncExit::of(code) {
            RsyncExit::Success => {}
            // At the job's limit of deletions the rest still runs, so that the job says
            // what all of it held back.
            RsyncExit::Vanished | RsyncExit::DeleteLimit => worst = worst.max(code),
            _ => {
                return RsyncOutcome::Exited {
                    code,
                    stats: total,
                    stderr_tail: tail,
                    deletions_skipped: skipped,
                    items,
                };
            }
        }
    }
    RsyncOutcome::Exited {
        code: worst,
        stats: total,
        stderr_tail: tail,
        deletions_skipped: skipped,
        items,
    }
}

/// `inv` with the entries of its buckets appended to its file list: each bucket's directory
/// listed now, below the checked directory `dir` (off the async threads: a listing can
/// hang on a dead file system).
async fn list_buckets(
    dir: &std::fs::File,
    inv: &RsyncInvocation,
) -> Result<RsyncInvocation, String> {
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    let root = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    let mut inv = inv.clone();
    let buckets = std::mem::take(&mut inv.buckets);
    let entries = tokio::task::spawn_blocking(move || {
        let mut entries = Vec::new();
        for bucket in &buckets {
            let path = bucket.dir.under(&root);
            let shown = || bucket.dir.under(Path::new(".")).display().to_string();
            let names: Vec<std::ffi::OsString> = std::fs::read_dir(&path)
                .and_then(|rd| rd.map(|e| e.map(|e| e.file_name())).collect())
                .map_err(|e| {
                    format!(
                        "cannot list {} for its bucket ({e}): no rsync was run",
                        shown()
                    )
                })?;
            entries.extend(bucket.entries(names.iter().map(|n| n.as_bytes())));
        }
        Ok::<_, String>(entries)
    })
    .await
    .map_err(|e| format!("the listing of a bucket failed: {e}"))??;
    inv.files_from.extend(entries);
    Ok(inv)
}

/// Checks the source before a run: no overlap with the destination's tree on this host, the
/// guards of the plan; and opens the checked directory, making sure the path still names it
/// once checked. Returns it open, or the outcome of a refusal.
fn check_source(
    source: &Path,
    guards: &source_tree::Guards,
    dest_tree: Option<zkrsync_core::protocol::records::TreeId>,
) -> Result<std::fs::File, Box<RsyncOutcome>> {
    use std::os::unix::fs::MetadataExt;
    let dir = std::fs::File::open(source).map_err(|e| {
        let reason = format!("{} cannot be opened ({e})", source.display());
        Box::new(RsyncOutcome::SourceMissing(reason))
    })?;
    // On the destination's host, a source inside its destination (or the reverse) would
    // copy into the tree it reads.
    let here = dest_tree.and_then(|dest| Some((super::tree_id::tree_id(source).ok()?, dest)));
    if let Some(reason) = here.and_then(|(here, dest)| source_tree::overlap(&here, &dest)) {
        return Err(Box::new(RsyncOutcome::Overlap(reason)));
    }
    match source_tree::refuse_source(&FsTree, source, guards) {
        Some(Refusal::Tree(reason)) => return Err(Box::new(RsyncOutcome::SourceMissing(reason))),
        Some(Refusal::Unit(reason)) => return Err(Box::new(RsyncOutcome::UnitChanged(reason))),
        Some(Refusal::Deletes(reason)) => {
            return Err(Box::new(RsyncOutcome::DeleteRefused(reason)))
        }
        None => {}
    }
    let opened = dir.metadata().map(|m| (m.dev(), m.ino())).ok();
    let named = std::fs::metadata(source).map(|m| (m.dev(), m.ino())).ok();
    if opened.is_none() || opened != named {
        let reason = format!(
            "{} changed while it was checked (replaced or unmounted?)",
            source.display()
        );
        return Err(Box::new(RsyncOutcome::SourceMissing(reason)));
    }
    Ok(dir)
}

/// The file, exclude and filter lists of one invocation, removed when dropped.
struct Lists {
    files: PathBuf,
    excludes: Option<PathBuf>,
    filters: Option<PathBuf>,
}

impl Lists {
    fn write(dir: &Path, id: JobId, n: usize, inv: &RsyncInvocation) -> Result<Lists, String> {
        let files = dir.join(format!("job-{}-{n}.files", id.0));
        std::fs::write(&files, &inv.files_from)
            .map_err(|e| format!("cannot write the file list {}: {e}", files.display()))?;
        let mut lists = Lists {
            files,
            excludes: None,
            filters: None,
        };
        let write = |kind: &str, bytes: &[u8]| -> Result<Option<PathBuf>, String> {
            if bytes.is_empty() {
                return Ok(None);
            }
            let path = dir.join(format!("job-{}-{n}.{kind}", id.0));
            std::fs::write(&path, bytes)
                .map_err(|e| format!("cannot write the {kind} list {}: {e}", path.display()))?;
            Ok(Some(path))
        };
        lists.excludes = write("excludes", &inv.excludes)?;
        lists.filters = write("filters", &inv.filters)?;
        Ok(lists)
    }
}

impl Drop for Lists {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.files);
        for list in [&self.excludes, &self.filters].into_iter().flatten() {
            let _ = std::fs::remove_file(list);
        }
    }
}

/// The rsync command of one invocation, run in the source directory that was checked (`dir`,
/// open since before the check) with `./` as its source, so that a path replaced or
/// unmounted after the check cannot become what rsync reads. In a process group of its own
/// (killed as a whole), dying with this process.
fn command(
    ctx: &JobContext,
    dir: &std::fs::File,
    job: &RsyncJob,
    inv: &RsyncInvocation,
    max_delete: Option<String>,
    lists: &Lists,
) -> tokio::process::Command {
    use std::os::fd::AsRawFd;
    let mounts: Vec<&[u8]> = job.guards.mounts.iter().map(|m| m.as_bytes()).collect();
    let mut cmd = match mounts.is_empty() {
        true => tokio::process::Command::new(&ctx.rsync),
        false => {
            // rsync in a snapshot of the mounts just checked ([`mount_pin`]).
            let mut cmd = tokio::process::Command::new(&ctx.zkrsync);
            cmd.args(mount_pin::pin_args(&mounts, &ctx.rsync));
            cmd
        }
    };
    cmd.args(&inv.args)
        .args(max_delete)
        // Running counters for live progress ([`rsync_progress`]).
        .arg("--info=progress2")
        .arg("--from0")
        .arg(format!("--files-from={}", lists.files.display()));
    // After --from0, which rsync must have seen when it reads these lists: first the
    // walk's regex exclusions, then the session's filter rules.
    if let Some(excludes) = &lists.excludes {
        cmd.arg(format!("--exclude-from={}", excludes.display()));
    }
    if let Some(filters) = &lists.filters {
        cmd.arg(format!("--filter=merge {}", filters.display()));
    }
    // The source as the open directory itself: rsync changes into its source by path
    // (again after it starts), so a tree renamed or replaced after the check would be read
    // as what now stands at that path — an empty tree, and a `--delete` of everything. Through
    // `/proc/self/fd/N` every one of rsync's own lookups goes to the directory checked.
    // With pinned sub-mounts, `zkrsync pin` has checked the mounts in rsync's own namespace,
    // which a descriptor of this one would bypass: there the source stays `./`.
    let fd = dir.as_raw_fd();
    match mounts.is_empty() {
        true => {
            cmd.arg(format!("/proc/self/fd/{fd}/"));
            inherit_fd(&mut cmd, fd);
        }
        false => {
            cmd.arg("./");
        }
    }
    cmd.arg(&job.url);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd.as_std_mut().process_group(0);
    crate::child_death::die_with_parent(&mut cmd);
    tracing::debug!(
        "chunk {}: running {:?} in {}",
        job.chunk,
        cmd.as_std(),
        ctx.source.display()
    );
    // After the log line (Command's Debug would show it as a `cd`): the child changes into
    // the checked directory before exec, while the descriptor is still open there.
    cmd.current_dir(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    // After the log line: Command's Debug shows the variables set on it. The environment is
    // the one place for it that ps and logs do not show.
    match &job.password {
        Some(secret) => cmd.env("RSYNC_PASSWORD", &secret.0),
        None => cmd.env_remove("RSYNC_PASSWORD"),
    };
    cmd
}

/// Lets the child started by `cmd` inherit descriptor `fd` (opened close-on-exec).
fn inherit_fd(cmd: &mut tokio::process::Command, fd: std::os::fd::RawFd) {
    // SAFETY: fcntl is async-signal-safe; nothing else runs between fork and exec here.
    unsafe {
        cmd.pre_exec(move || {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Runs one rsync to its end, or kills it (its whole process group) when told to.
async fn run_one(
    ctx: &JobContext,
    chunk: &str,
    mut cmd: tokio::process::Command,
    stall: Option<Duration>,
    counter: RunCounter,
    kill: &mut oneshot::Receiver<()>,
    sink: &mut Option<rsync_progress::Sink>,
) -> Result<Ran, String> {
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", ctx.rsync.display()))?;
    let pid = child.id();
    let guarded = pid.zip(ctx.watchdog.as_ref());
    if let Some((pid, w)) = guarded {
        w.guard(pid);
    }
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let err_task = tokio::spawn(stderr_tail(chunk.to_owned(), stderr));
    // Segment by segment: a run itemizes every entry (millions of lines, each counted as it
    // comes), and its progress2 updates are `\r`-separated ([`rsync_progress`]).
    let out_task = tokio::spawn(rsync_progress::read_stdout(stdout, counter, sink.take()));
    let status = tokio::select! {
        status = child.wait() => status,
        _ = &mut *kill => {
            if !rsync_stall::stop(&mut child, pid).await {
                tracing::warn!("chunk {chunk}: the killed rsync does not die (stuck in the kernel?): left behind");
            }
            if let Some((pid, w)) = guarded {
                w.release(pid);
            }
            return Ok(Ran::Killed);
        }
        () = rsync_stall::stalled(pid, stall) => {
            let died = rsync_stall::stop(&mut child, pid).await;
            if let Some((pid, w)) = guarded {
                w.release(pid);
            }
            let after = stall.unwrap_or_default();
            return Ok(Ran::Stalled { after, died });
        }
    };
    if let Some((pid, w)) = guarded {
        w.release(pid);
    }
    let counted = match out_task.await {
        Ok((counted, last, back)) => {
            *sink = back.map(|mut s| {
                s.run_ended(last);
                s
            });
            counted
        }
        Err(e) => return Err(format!("cannot read rsync's output: {e}")),
    };
    let stderr_tail = err_task.await.unwrap_or_default();
    let code = status
        .map_err(|e| format!("cannot wait for rsync: {e}"))?
        .code();
    Ok(Ran::Exited {
        code,
        counted,
        stderr_tail,
    })
}

/// The last [`STDERR_TAIL`] lines of rsync's error output, each logged as it comes.
async fn stderr_tail(chunk: String, stderr: tokio::process::ChildStderr) -> String {
    let mut lines = BufReader::new(stderr).lines();
    let mut kept: std::collections::VecDeque<String> = Default::default();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::debug!("chunk {chunk}: rsync: {line}");
        kept.push_back(line);
        if kept.len() > STDERR_TAIL {
            kept.pop_front();
        }
    }
    Vec::from(kept).join("\n")
}
