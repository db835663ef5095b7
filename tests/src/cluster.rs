//! Runs `zkrsync source` and `zkrsync dest` processes of one session, with their output in
//! log files that a failing test prints.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use zkrsync_core::protocol::records::DestRecord;
use zookeeper_client as zk;

use crate::zkrsync_bin;

/// How long [`Cluster::dest_record`] waits for a destination's record to say what it must.
pub const RECORD_LIMIT: Duration = Duration::from_secs(120);

/// One agent process.
pub struct Agent {
    /// Its name in the logs (m, w1, d1…).
    pub name: String,
    /// The process.
    pub child: Child,
    /// Its combined log.
    pub log: PathBuf,
}

impl Agent {
    /// Kills it with SIGKILL and reaps it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends `signal` (e.g. "STOP", "CONT") to the agent and every process below it (its
    /// rsync), as when a whole host or VM is paused and resumed.
    pub fn signal_tree(&self, signal: &str) {
        fn tree(pid: u32, out: &mut Vec<u32>) {
            out.push(pid);
            let children = Command::new("pgrep")
                .args(["-P", &pid.to_string()])
                .output()
                .expect("run pgrep");
            for line in String::from_utf8_lossy(&children.stdout).lines() {
                if let Ok(child) = line.trim().parse() {
                    tree(child, out);
                }
            }
        }
        let mut pids = Vec::new();
        tree(self.child.id(), &mut pids);
        // Children first when resuming, parent first when stopping: nobody runs alone.
        if signal == "CONT" {
            pids.reverse();
        }
        for pid in pids {
            let _ = Command::new("kill")
                .args([&format!("-{signal}"), &pid.to_string()])
                .status();
        }
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }
}

/// The agents of one session.
pub struct Cluster {
    /// ZooKeeper connect string.
    pub zk: String,
    /// Session name.
    pub session: String,
    /// Where logs go.
    pub logs: tempfile::TempDir,
    /// Session timeout passed to every agent, seconds.
    pub session_timeout: u32,
    /// The agents started, in order.
    pub agents: Vec<Agent>,
}

impl Cluster {
    /// A cluster for `session` on `zk`.
    pub fn new(zk: &str, session: &str) -> Cluster {
        Cluster {
            zk: zk.to_owned(),
            session: session.to_owned(),
            logs: tempfile::Builder::new()
                .prefix("zkrsync-logs-")
                .tempdir()
                .unwrap(),
            session_timeout: 4,
            agents: Vec::new(),
        }
    }

    fn spawn(&mut self, name: &str, args: Vec<OsString>) -> usize {
        self.spawn_wrapped(name, &[], args)
    }

    /// Starts `wrapper… zkrsync args…` (e.g. `setpriv --reuid=nobody …`).
    fn spawn_wrapped(&mut self, name: &str, wrapper: &[&str], args: Vec<OsString>) -> usize {
        let log = self.logs.path().join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(zkrsync_bin());
                c
            }
            None => Command::new(zkrsync_bin()),
        };
        let child = cmd
            .args(&args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .env("NO_COLOR", "1")
            .spawn()
            .expect("start zkrsync");
        self.agents.push(Agent {
            name: name.to_owned(),
            child,
            log,
        });
        self.agents.len() - 1
    }

    fn common(&self, role: &str, path: &Path) -> Vec<OsString> {
        vec![
            role.into(),
            "--zk".into(),
            self.zk.clone().into(),
            "--session".into(),
            self.session.clone().into(),
            "--session-timeout".into(),
            self.session_timeout.to_string().into(),
            "--path".into(),
            path.as_os_str().to_owned(),
            "--verbose".into(),
        ]
    }

    /// Starts a destination into `dst`, its daemon on `addr` (a 127.0.0.x address).
    pub fn dest(&mut self, name: &str, dst: &Path, addr: &str) -> usize {
        self.dest_with(name, dst, addr, &[])
    }

    /// Starts a destination with extra options.
    pub fn dest_with(&mut self, name: &str, dst: &Path, addr: &str, extra: &[&str]) -> usize {
        let mut args = self.common("dest", dst);
        args.extend([
            "--advertise".into(),
            addr.into(),
            "--id".into(),
            name.into(),
        ]);
        args.extend(extra.iter().map(OsString::from));
        self.spawn(name, args)
    }

    /// Starts a destination through `wrapper` (a command that runs the rest of its
    /// arguments, such as `setpriv --reuid=nobody --regid=nogroup --clear-groups`).
    pub fn dest_wrapped(
        &mut self,
        name: &str,
        wrapper: &[&str],
        dst: &Path,
        addr: &str,
        extra: &[&str],
    ) -> usize {
        let mut args = self.common("dest", dst);
        args.extend([
            "--advertise".into(),
            addr.into(),
            "--id".into(),
            name.into(),
        ]);
        args.extend(extra.iter().map(OsString::from));
        self.spawn_wrapped(name, wrapper, args)
    }

    /// Starts a source of `src` with extra options.
    pub fn source(&mut self, name: &str, src: &Path, extra: &[&str]) -> usize {
        let mut args = self.common("source", src);
        args.extend(extra.iter().map(OsString::from));
        self.spawn(name, args)
    }

    /// Waits for agent `i` to exit, at most `limit`; panics with every log otherwise.
    pub fn wait(&mut self, i: usize, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.agents[i].child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let name = self.agents[i].name.clone();
                let logs = self.all_logs();
                self.kill_all();
                panic!("agent {name} did not exit within {limit:?}\n{logs}");
            }
            // Waiting for a process we started to exit (bounded), not for a race to settle.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for every agent; returns their exit codes in start order.
    pub fn wait_all(&mut self, limit: Duration) -> Vec<Option<i32>> {
        (0..self.agents.len())
            .map(|i| self.wait(i, limit).code())
            .collect()
    }

    /// Every log, for a failure message.
    pub fn all_logs(&self) -> String {
        self.agents
            .iter()
            .map(|a| format!("===== {} =====\n{}", a.name, a.log_text()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Kills every agent still running.
    pub fn kill_all(&mut self) {
        for a in &mut self.agents {
            a.kill9();
        }
    }

    /// Runs `zkrsync status --json` for this session; None when there is no session.
    pub fn status(&self) -> Option<serde_json::Value> {
        let out = Command::new(zkrsync_bin())
            .args([
                "status",
                "--json",
                "--zk",
                &self.zk,
                "--session",
                &self.session,
            ])
            .output()
            .unwrap();
        match out.status.code() {
            Some(0) => Some(serde_json::from_slice(&out.stdout).expect("status JSON")),
            Some(14) => None,
            other => panic!(
                "zkrsync status exited with {other:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }

    /// Whether the session finished and its cleanup left nothing but the kept outcome (its
    /// znode's one child), which `zkrsync status` shows as finished.
    pub fn only_outcome_left(&self) -> bool {
        let finished = self.status().is_some_and(|s| s["state"] == "finished");
        let root = format!("/zkrsync/{}", self.session);
        finished && self.znode_children(&root) == ["outcome"]
    }

    /// Runs `f` with a client of this cluster's ZooKeeper, to its end.
    fn with_client<T, F: std::future::Future<Output = T>>(
        &self,
        f: impl FnOnce(zk::Client) -> F,
    ) -> T {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let client = zk::Client::connect(&self.zk).await.unwrap();
            f(client).await
        })
    }

    /// The children of znode `path`, empty when it does not exist.
    pub fn znode_children(&self, path: &str) -> Vec<String> {
        self.with_client(|client| async move {
            match client.list_children(path).await {
                Ok(children) => children,
                Err(zk::Error::NoNode) => Vec::new(),
                Err(e) => panic!("cannot list {path}: {e}"),
            }
        })
    }

    /// The data of znode `path` in this cluster's ZooKeeper, None when it does not exist.
    pub fn znode(&self, path: &str) -> Option<Vec<u8>> {
        self.with_client(|client| async move {
            match client.get_data(path).await {
                Ok((data, _)) => Some(data),
                Err(zk::Error::NoNode) => None,
                Err(e) => panic!("cannot read {path}: {e}"),
            }
        })
    }

    /// Destination `id`'s record in the session, once it is registered and `cond` holds of
    /// it (within [`RECORD_LIMIT`]; `what` names the condition for the failure message).
    pub fn dest_record(
        &mut self,
        id: &str,
        what: &str,
        cond: impl Fn(&DestRecord) -> bool,
    ) -> DestRecord {
        let path = format!("/zkrsync/{}/dests/{id}", self.session);
        let deadline = Instant::now() + RECORD_LIMIT;
        loop {
            if let Some(data) = self.znode(&path) {
                let record = DestRecord::decode(&data).unwrap();
                if cond(&record) {
                    return record;
                }
            }
            if Instant::now() > deadline {
                let logs = self.all_logs();
                self.kill_all();
                panic!("destination {id} was not {what} within {RECORD_LIMIT:?}\n{logs}");
            }
            // Waiting for a process we started to register (bounded), not for a race.
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until `cond` holds for the session's status (bounded).
    pub fn wait_status(
        &mut self,
        limit: Duration,
        what: &str,
        cond: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.status() {
                if cond(&s) {
                    return s;
                }
            }
            if Instant::now() > deadline {
                let logs = self.all_logs();
                self.kill_all();
                panic!("the session did not reach {what} within {limit:?}\n{logs}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// Copies `src` to `dst` in session `name` on `zk` (two destinations, a master and two
/// workers, each source with `opts`) and returns the master's summary (`--json
/// --done-file`, written beside `dst`); every agent must exit 0.
pub fn session_summary(
    zk: &str,
    name: &str,
    src: &Path,
    dst: &Path,
    opts: &[&str],
) -> serde_json::Value {
    let done_file = dst.with_file_name(format!("{name}.json"));
    let mut args = vec!["--json", "--done-file", done_file.to_str().unwrap()];
    args.extend_from_slice(opts);
    let mut c = Cluster::new(zk, name);
    c.dest("d1", dst, "127.0.0.1");
    c.dest("d2", dst, "127.0.0.2");
    for agent in ["m", "w1", "w2"] {
        c.source(agent, src, &args);
    }
    let codes = c.wait_all(SESSION_LIMIT);
    assert!(
        codes.iter().all(|c| *c == Some(0)),
        "{name}: {codes:?}\n{}",
        c.all_logs()
    );
    let text = std::fs::read_to_string(&done_file).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// How long [`session_summary`] waits for a session.
pub const SESSION_LIMIT: Duration = Duration::from_secs(180);

/// The `progress` objects of the master's `--progress json` lines in `text` (a log or a
/// launcher's standard output).
pub fn progress_reports(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| l.starts_with("{\"progress\":"))
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["progress"].clone())
        .collect()
}

/// `rsync -anc --delete --itemize-changes SRC/ DST/`: what would still differ (empty when
/// the trees are equal in contents, modes, times and symlinks).
pub fn differences(src: &Path, dst: &Path) -> String {
    differences_with(src, dst, &[])
}

/// [`differences`] with more rsync options (`-H`: the hard links must match too).
pub fn differences_with(src: &Path, dst: &Path, options: &[&str]) -> String {
    let mut args = vec!["-anc", "--delete", "--itemize-changes"];
    args.extend_from_slice(options);
    rsync_trees(&args, src, dst)
}

/// The output of `rsync ARGS SRC/ DST/`, which must succeed.
pub fn rsync_trees(args: &[&str], src: &Path, dst: &Path) -> String {
    let mut s = src.as_os_str().to_owned();
    s.push("/");
    let mut d = dst.as_os_str().to_owned();
    d.push("/");
    let out = Command::new("rsync")
        .args(args)
        .arg(s)
        .arg(d)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rsync {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
