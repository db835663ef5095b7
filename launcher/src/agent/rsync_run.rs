//! Runs the core's rsync jobs: checks the source tree first, writes the NUL-separated file
//! and exclude lists to a private directory, runs one rsync per invocation, parses its
//! `--stats`, and kills it at once when asked.

use std::collections::HashMap;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use zkrsync_core::protocol::source_tree::{self, Refusal};
use zkrsync_core::protocol::{Input, JobId, RsyncJob, RsyncOutcome};
use zkrsync_core::rsync_exit::RsyncExit;
use zkrsync_core::rsync_stats::RsyncStats;
use zkrsync_core::walk::FsTree;

/// Lines of rsync's error output kept for the failure record.
const STDERR_TAIL: usize = 10;

/// The rsync processes of one source.
pub struct Runner {
    source: PathBuf,
    rsync: PathBuf,
    lists: tempfile::TempDir,
    jobs: HashMap<JobId, (oneshot::Sender<()>, JoinHandle<()>)>,
}

impl Runner {
    /// A runner copying from `source` with the rsync binary `rsync`.
    pub fn new(source: PathBuf, rsync: PathBuf) -> anyhow::Result<Runner> {
        let lists = tempfile::Builder::new()
            .prefix("zkrsync-lists-")
            .tempdir()?;
        Ok(Runner {
            source,
            rsync,
            lists,
            jobs: HashMap::new(),
        })
    }

    /// Starts `job`; its outcome comes back as [`Input::RsyncDone`].
    pub fn spawn(&mut self, id: JobId, job: RsyncJob, inputs: &mpsc::UnboundedSender<Input>) {
        self.jobs.retain(|_, (_, handle)| !handle.is_finished());
        let (kill_tx, kill_rx) = oneshot::channel();
        let inputs = inputs.clone();
        let source = self.source.clone();
        let rsync = self.rsync.clone();
        let dir = self.lists.path().to_owned();
        let handle = tokio::spawn(async move {
            let outcome = run_job(&rsync, &source, &dir, id, &job, kill_rx).await;
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

async fn run_job(
    rsync: &Path,
    source: &Path,
    dir: &Path,
    id: JobId,
    job: &RsyncJob,
    mut kill: oneshot::Receiver<()>,
) -> RsyncOutcome {
    match source_tree::refuse_source(&FsTree, source, &job.guards) {
        Some(Refusal::Tree(reason)) => return RsyncOutcome::SourceMissing(reason),
        Some(Refusal::Unit(reason)) => return RsyncOutcome::UnitChanged(reason),
        None => {}
    }
    let mut total = RsyncStats::default();
    let mut worst: Option<i32> = Some(0);
    let mut tail = String::new();
    for (n, inv) in job.invocations.iter().enumerate() {
        let list = dir.join(format!("job-{}-{n}.files", id.0));
        let excludes = dir.join(format!("job-{}-{n}.excludes", id.0));
        if let Err(e) = std::fs::write(&list, &inv.files_from) {
            return RsyncOutcome::SpawnFailed(format!(
                "cannot write the file list {}: {e}",
                list.display()
            ));
        }
        let mut cmd = tokio::process::Command::new(rsync);
        cmd.args(&inv.args)
            .arg("--from0")
            .arg(format!("--files-from={}", list.display()));
        if !inv.excludes.is_empty() {
            if let Err(e) = std::fs::write(&excludes, &inv.excludes) {
                return RsyncOutcome::SpawnFailed(format!(
                    "cannot write the exclude list {}: {e}",
                    excludes.display()
                ));
            }
            cmd.arg(format!("--exclude-from={}", excludes.display()));
        }
        let mut src = source.as_os_str().to_owned();
        src.push("/");
        cmd.arg(src).arg(&job.url);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd.as_std_mut().process_group(0);
        crate::child_death::die_with_parent(&mut cmd);
        tracing::debug!("chunk {}: running {:?}", job.chunk, cmd.as_std());
        // After the log line: Command's Debug shows the variables set on it. The
        // environment is the one place for it that ps and logs do not show.
        match &job.password {
            Some(secret) => cmd.env("RSYNC_PASSWORD", &secret.0),
            None => cmd.env_remove("RSYNC_PASSWORD"),
        };
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                return RsyncOutcome::SpawnFailed(format!("cannot run {}: {e}", rsync.display()))
            }
        };
        let pid = child.id();
        let mut stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let chunk = job.chunk.clone();
        let err_task = tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            let mut kept: Vec<String> = Vec::new();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::debug!("chunk {chunk}: rsync: {line}");
                kept.push(line);
                if kept.len() > STDERR_TAIL {
                    kept.remove(0);
                }
            }
            kept.join("\n")
        });
        let out_task = tokio::spawn(async move {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text).await;
            text
        });
        let status = tokio::select! {
            status = child.wait() => status,
            _ = &mut kill => {
                if let Some(pid) = pid {
                    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
                }
                let _ = child.kill().await;
                let _ = child.wait().await;
                let _ = std::fs::remove_file(&list);
                let _ = std::fs::remove_file(&excludes);
                return RsyncOutcome::Exited { code: None, stats: total, stderr_tail: "killed".into() };
            }
        };
        let out = out_task.await.unwrap_or_default();
        tail = err_task.await.unwrap_or_default();
        let _ = std::fs::remove_file(&list);
        let _ = std::fs::remove_file(&excludes);
        if let Some(stats) = RsyncStats::parse_found(&out) {
            total += stats;
        }
        let code = match status {
            Ok(s) => s.code(),
            Err(e) => return RsyncOutcome::SpawnFailed(format!("cannot wait for rsync: {e}")),
        };
        match RsyncExit::of(code) {
            RsyncExit::Success => {}
            RsyncExit::Vanished => worst = worst.max(code),
            _ => {
                return RsyncOutcome::Exited {
                    code,
                    stats: total,
                    stderr_tail: tail,
                };
            }
        }
    }
    RsyncOutcome::Exited {
        code: worst,
        stats: total,
        stderr_tail: tail,
    }
}
