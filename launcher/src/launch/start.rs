//! `zkrsync-launch HOSTFILE --src SRC --dst DST`: starts a whole session from one place, as
//! mpirun does: 1 master + N workers and N destinations placed by the host file's slots,
//! on `localhost` directly and on other hosts over SSH, every agent given the same session
//! parameters, their output streamed with host, rank and role, Ctrl-C passed on, and the
//! worst exit code returned.

use std::ffi::OsString;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::watch;

use crate::child_death::die_with_parent;
use crate::exit_code::{self, HOST_FAILED};
use crate::launch::agent_output::Printer;
use crate::launch::hostfile::{self, Host};
use crate::launch::placement::{self, Kind, Slot};
use crate::launch::preflight::{Check, HostNeeds};
use crate::launch::private_zk::PrivateZk;
use crate::launch::remote_agent::{self, Ended, RemoteAgent};
use crate::launch::ssh::host_keys::HostKeys;
use crate::launch::ssh::link::{SshConfig, Target};
use crate::launch::ssh::remote_command::command_line;

/// Options of `zkrsync-launch`.
#[derive(Debug, Parser)]
#[command(
    name = "zkrsync-launch",
    version,
    about = "Start a zkrsync session on the hosts of a host file, as mpirun does",
    after_help = "Host file: one host a line, `host [slots=K] [role=source|dest|any] [user=U] [port=P]`, `#` comments; `localhost` runs without SSH. Options after `--` go to every source (e.g. -- --depth 2 --delete).\n\nExit codes: 0 done; 1 some chunks failed; 2 a wrong option or host file, nothing started; 3 a host could not be used or an agent died without an exit code."
)]
pub struct LaunchArgs {
    /// The host file.
    pub hostfile: PathBuf,
    /// The tree to copy (as the source hosts see it).
    #[arg(long)]
    pub src: PathBuf,
    /// Where to copy it (as the destination hosts see it).
    #[arg(long)]
    pub dst: PathBuf,
    /// Workers, and as many destinations (default: what the slots allow).
    #[arg(short = 'n', value_name = "N")]
    pub workers: Option<usize>,
    /// ZooKeeper connect string (default: a private ZooKeeper on this machine for the run).
    #[arg(long, env = "ZKRSYNC_ZK")]
    pub zk: Option<String>,
    /// Session name (default: launch-<pid>).
    #[arg(long, short = 'N')]
    pub session: Option<String>,
    /// The zkrsync binary for localhost agents and --push-binary (default: the one beside
    /// zkrsync-launch).
    #[arg(long, value_name = "PATH")]
    pub zkrsync: Option<PathBuf>,
    /// SSH user (default: a host's user=, else yours).
    #[arg(long, value_name = "U")]
    pub ssh_user: Option<String>,
    /// SSH private key (default: ssh-agent, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa).
    #[arg(long, value_name = "FILE")]
    pub ssh_key: Option<PathBuf>,
    /// Host keys to trust (default: ~/.ssh/known_hosts).
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,
    /// Add the key of a host that is not in known_hosts yet (a changed key is still refused).
    #[arg(long)]
    pub accept_new_host_keys: bool,
    /// SSH connections being opened at once, at most (sshd's MaxStartups is 10 by default).
    #[arg(long, default_value_t = 10, value_name = "K")]
    pub max_ssh_connect: usize,
    /// Seconds to connect and log in to a host before it counts as unreachable.
    #[arg(long, default_value_t = 10, value_name = "SEC")]
    pub ssh_timeout: u64,
    /// Copy zkrsync to hosts that lack it or have another version (to --remote-binary).
    #[arg(long)]
    pub push_binary: bool,
    /// zkrsync's path on the remote hosts (default: the same path as here).
    #[arg(long, value_name = "PATH")]
    pub remote_binary: Option<String>,
    /// The session's credentials (a file with USER:PASS) for every agent: a path each host
    /// can read, e.g. on a shared file system. The session is then locked to them.
    #[arg(long, value_name = "FILE")]
    pub auth_file: Option<PathBuf>,
    /// Check instead of copying: start the destinations, run `zkrsync check` once on every
    /// source host (can it reach and log in to every destination?), then stop them.
    #[arg(long)]
    pub check: bool,
    /// Options for every source (session parameters such as --depth, --delete).
    #[arg(last = true, allow_hyphen_values = true)]
    pub agent_args: Vec<OsString>,
}

/// `zkrsync --version` as an agent of this launcher prints it.
pub fn agent_version() -> String {
    format!("zkrsync {}", env!("CARGO_PKG_VERSION"))
}

fn agent_binary(args: &LaunchArgs) -> anyhow::Result<PathBuf> {
    let bin = match &args.zkrsync {
        Some(p) => std::path::absolute(p)?,
        None => std::env::current_exe()
            .context("cannot find this program's path")?
            .with_file_name("zkrsync"),
    };
    Ok(bin)
}

/// The run, as checked before anything starts.
struct Plan {
    hosts: Vec<Host>,
    slots: Vec<Slot>,
    bin: PathBuf,
    remote_binary: String,
}

fn plan(args: &LaunchArgs) -> anyhow::Result<Plan> {
    let file = args.hostfile.display().to_string();
    let text = std::fs::read_to_string(&args.hostfile)
        .with_context(|| format!("cannot read the host file {file}"))?;
    let hosts = hostfile::parse(&text, &file).map_err(anyhow::Error::msg)?;
    let slots = placement::place(&hosts, args.workers).map_err(anyhow::Error::msg)?;
    let bin = agent_binary(args)?;
    let local = |kind: fn(Kind) -> bool| {
        slots
            .iter()
            .any(|s| kind(s.kind) && hosts[s.host].is_local())
    };
    if (local(|_| true) || args.push_binary) && !bin.is_file() {
        bail!(
            "{} is not there: build zkrsync beside zkrsync-launch, or give --zkrsync PATH",
            bin.display()
        );
    }
    for (what, path, used) in [
        ("--src", &args.src, local(|k| k != Kind::Dest)),
        ("--dst", &args.dst, local(|k| k == Kind::Dest)),
    ] {
        if used && !path.is_dir() {
            bail!(
                "{what} {} is not a directory: give an existing directory",
                path.display()
            );
        }
        if !path.is_absolute() && slots.iter().any(|s| !hosts[s.host].is_local()) {
            bail!(
                "{what} {} is relative, which means another place on every host: give an absolute path",
                path.display()
            );
        }
    }
    if let Some(file) = &args.auth_file {
        if local(|_| true) && !file.is_file() {
            bail!(
                "--auth-file {} is not a file: give a file holding USER:PASS",
                file.display()
            );
        }
        if !file.is_absolute() && slots.iter().any(|s| !hosts[s.host].is_local()) {
            bail!(
                "--auth-file {} is relative, which means another place on every host: give an absolute path",
                file.display()
            );
        }
    }
    if args.max_ssh_connect == 0 {
        bail!("--max-ssh-connect 0 would open no connection: give 1 or more");
    }
    let remote_binary = match &args.remote_binary {
        Some(p) => p.clone(),
        None => bin
            .to_str()
            .context("the zkrsync path is not UTF-8: give --remote-binary PATH")?
            .to_owned(),
    };
    Ok(Plan {
        hosts,
        slots,
        bin,
        remote_binary,
    })
}

fn ssh_config(args: &LaunchArgs) -> anyhow::Result<SshConfig> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let known_hosts = match (&args.known_hosts, &home) {
        (Some(f), _) => f.clone(),
        (None, Some(home)) => home.join(".ssh").join("known_hosts"),
        (None, None) => bail!("HOME is not set: give --known-hosts FILE"),
    };
    if let Some(key) = &args.ssh_key {
        if !key.is_file() {
            bail!(
                "--ssh-key {} is not a file: give the private key",
                key.display()
            );
        }
    }
    Ok(SshConfig::new(
        args.ssh_key.clone(),
        HostKeys::new(known_hosts, args.accept_new_host_keys),
        args.max_ssh_connect,
        Duration::from_secs(args.ssh_timeout.max(1)),
    ))
}

fn default_user() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|u| u.name)
        })
        .unwrap_or_else(|| "root".to_owned())
}

fn target(args: &LaunchArgs, host: &Host) -> Target {
    Target {
        host: host.name.clone(),
        port: host.port.unwrap_or(22),
        user: host
            .user
            .clone()
            .or_else(|| args.ssh_user.clone())
            .unwrap_or_else(default_user),
    }
}

/// The remote hosts in use, each once, with what they need.
fn remote_needs(args: &LaunchArgs, plan: &Plan) -> Vec<HostNeeds> {
    let mut needs: Vec<(usize, HostNeeds)> = Vec::new();
    let text = |p: &Path| p.to_string_lossy().into_owned();
    for slot in &plan.slots {
        let host = &plan.hosts[slot.host];
        if host.is_local() {
            continue;
        }
        let i = match needs.iter().position(|(h, _)| *h == slot.host) {
            Some(i) => i,
            None => {
                needs.push((
                    slot.host,
                    HostNeeds {
                        target: target(args, host),
                        src: None,
                        dst: None,
                    },
                ));
                needs.len() - 1
            }
        };
        if slot.kind == Kind::Dest {
            needs[i].1.dst = Some(text(&args.dst));
        } else {
            needs[i].1.src = Some(text(&args.src));
        }
    }
    needs.into_iter().map(|(_, n)| n).collect()
}

/// Runs the launcher; returns the exit code.
pub fn run(args: &LaunchArgs) -> anyhow::Result<i32> {
    let plan = plan(args)?;
    let ssh = Arc::new(ssh_config(args)?);
    let needs = remote_needs(args, &plan);
    let mut reach = IpAddr::V4(Ipv4Addr::LOCALHOST);
    if !needs.is_empty() {
        let check = Check {
            ssh: &ssh,
            remote_binary: &plan.remote_binary,
            version: &agent_version(),
            push: args.push_binary.then_some(plan.bin.as_path()),
            pushing: std::sync::Mutex::new(()),
        };
        match check.all(&needs) {
            Ok(addr) => reach = addr.unwrap_or(reach),
            Err(problems) => {
                for p in &problems {
                    eprintln!("zkrsync-launch: {}", p.message);
                }
                eprintln!(
                    "zkrsync-launch: {} of {} hosts failed the check; nothing was started",
                    problems.len(),
                    needs.len()
                );
                return Ok(problems.iter().map(|p| p.code).max().unwrap_or(HOST_FAILED));
            }
        }
    }
    let session = args
        .session
        .clone()
        .unwrap_or_else(|| format!("launch-{}", std::process::id()));
    let private = match &args.zk {
        Some(_) => None,
        None => Some(PrivateZk::start(reach, &session)?),
    };
    let zk = args
        .zk
        .clone()
        .or_else(|| private.as_ref().map(|p| p.connect.clone()))
        .expect("a ZooKeeper");
    eprintln!(
        "zkrsync-launch: session {session} on {zk}: {} sources and {} destinations",
        plan.slots.iter().filter(|s| s.kind != Kind::Dest).count(),
        plan.slots.iter().filter(|s| s.kind == Kind::Dest).count()
    );
    for slot in &plan.slots {
        eprintln!(
            "zkrsync-launch: rank {} {} on {}",
            slot.rank,
            role_name(slot.kind),
            plan.hosts[slot.host].name
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let run = Run {
        args,
        plan: &plan,
        ssh,
        zk: &zk,
        session: &session,
        reach,
    };
    let code = runtime.block_on(run.agents())?;
    drop(private);
    Ok(code)
}

fn role_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Master => "master",
        Kind::Worker => "source",
        Kind::Dest => "dest",
    }
}

/// How an agent ended, as far as the launcher knows.
type EndFuture = Pin<Box<dyn Future<Output = (usize, Ended)> + Send>>;

/// Orders to a running agent.
enum Control {
    Local(Option<i32>),
    Remote(remote_agent::Control),
}

impl Control {
    fn stop(&self) {
        match self {
            // SAFETY: kill(2) on our own child's pid.
            Control::Local(Some(pid)) => unsafe {
                libc::kill(*pid, libc::SIGTERM);
            },
            Control::Local(None) => {}
            Control::Remote(c) => c.stop(),
        }
    }

    fn kill(&self) {
        match self {
            // SAFETY: kill(2) on our own child's pid.
            Control::Local(Some(pid)) => unsafe {
                libc::kill(*pid, libc::SIGKILL);
            },
            Control::Local(None) => {}
            Control::Remote(c) => c.kill(),
        }
    }
}

struct Run<'a> {
    args: &'a LaunchArgs,
    plan: &'a Plan,
    ssh: Arc<SshConfig>,
    zk: &'a str,
    session: &'a str,
    reach: IpAddr,
}

impl Run<'_> {
    /// The agent's arguments after the binary.
    fn agent_args(&self, slot: &Slot, host: &Host) -> Vec<OsString> {
        let (role, path) = match slot.kind {
            Kind::Dest => ("dest", &self.args.dst),
            Kind::Master | Kind::Worker => ("source", &self.args.src),
        };
        let mut words: Vec<OsString> = vec![
            role.into(),
            "--zk".into(),
            self.zk.into(),
            "--session".into(),
            self.session.into(),
            "--path".into(),
            path.into(),
        ];
        if let Some(file) = &self.args.auth_file {
            words.extend(["--auth-file".into(), file.into()]);
        }
        if slot.kind == Kind::Dest {
            // Sources reach a destination at the address the launcher reached its host.
            let advertise = if host.is_local() {
                self.reach.to_string()
            } else {
                host.name.clone()
            };
            words.extend([
                "--advertise".into(),
                advertise.into(),
                "--id".into(),
                format!("{}-{}", host.name, slot.rank).into(),
            ]);
        } else {
            words.push("--progress-stdout".into());
            words.extend(self.args.agent_args.iter().cloned());
        }
        words
    }

    /// Starts one agent (`words` after the binary) on `host`; returns its index.
    fn start(
        &self,
        running: &mut Running,
        host: &Host,
        label: String,
        printer: Printer,
        words: Vec<OsString>,
    ) -> anyhow::Result<usize> {
        let i = running.labels.len();
        running.labels.push(label);
        let agent = words.first().is_some_and(|w| w == "source" || w == "dest");
        if host.is_local() {
            let mut cmd = Command::new(&self.plan.bin);
            cmd.args(&words)
                .env("ZKRSYNC_LAUNCH_ID", self.session)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            die_with_parent(&mut cmd);
            let mut child = cmd
                .spawn()
                .with_context(|| format!("cannot start {}", self.plan.bin.display()))?;
            if let Some(out) = child.stdout.take() {
                running
                    .printers
                    .push(tokio::spawn(print_lines(printer.clone(), out, false)));
            }
            if let Some(err) = child.stderr.take() {
                running
                    .printers
                    .push(tokio::spawn(print_lines(printer, err, true)));
            }
            running
                .controls
                .push(Control::Local(child.id().map(|p| p as i32)));
            running.ends.push(Box::pin(async move {
                let end = match child.wait().await {
                    Ok(status) => match status.code() {
                        Some(c) => Ended::Code(c),
                        None => Ended::Signal(format!("{status}")),
                    },
                    Err(e) => Ended::Lost(e.to_string()),
                };
                (i, end)
            }));
        } else {
            let mut words = words;
            if agent {
                // Agents take their orders on standard input (see agent/stdin_lifeline.rs);
                // right after the role, so no user option can take it as its value.
                words.insert(1, "--watch-stdin".into());
            }
            let command = format!(
                "exec env ZKRSYNC_LAUNCH_ID={} {}",
                crate::launch::ssh::remote_command::quote(self.session),
                command_line(
                    std::iter::once(OsString::from(&self.plan.remote_binary)).chain(words)
                )
                .map_err(anyhow::Error::msg)?,
            );
            let agent =
                RemoteAgent::start(self.ssh.clone(), target(self.args, host), command, printer)?;
            running.controls.push(Control::Remote(agent.control));
            let ended = agent.ended;
            running.ends.push(Box::pin(async move {
                let end = ended
                    .await
                    .unwrap_or_else(|_| Ended::Lost("its thread ended".into()));
                (i, end)
            }));
        }
        Ok(i)
    }

    /// Starts the agent of `slot`; `signs` makes it tell the receiver when it says one.
    fn start_slot(
        &self,
        running: &mut Running,
        slot: &Slot,
        signs: Option<&'static [&'static str]>,
    ) -> anyhow::Result<Option<watch::Receiver<bool>>> {
        let host = &self.plan.hosts[slot.host];
        let label = format!("{} {} {}", host.name, slot.rank, role_name(slot.kind));
        let mut printer = Printer::new(label.clone(), slot.kind != Kind::Dest);
        let mut told = None;
        if let Some(signs) = signs {
            let (tx, rx) = watch::channel(false);
            printer = printer.telling(tx, signs);
            told = Some(rx);
        }
        let words = self.agent_args(slot, host);
        self.start(running, host, label, printer, words)?;
        Ok(told)
    }

    async fn agents(&self) -> anyhow::Result<i32> {
        let mut running = Running::default();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let dests: Vec<&Slot> = self
            .plan
            .slots
            .iter()
            .filter(|s| s.kind == Kind::Dest)
            .collect();
        let sources: Vec<&Slot> = self
            .plan
            .slots
            .iter()
            .filter(|s| s.kind != Kind::Dest)
            .collect();
        // Destinations first, then the master, then the workers: every source finds
        // destinations at once, and the first source is the master.
        let mut registered = Vec::new();
        for slot in &dests {
            let signs = self
                .args
                .check
                .then_some(crate::launch::agent_output::REGISTERED);
            registered.extend(self.start_slot(&mut running, slot, signs)?);
        }
        if self.args.check {
            // Every destination in (or gone), then `zkrsync check` once on each source host.
            for mut r in registered {
                if !running.wait_for(&mut r, &mut term).await {
                    return Ok(running.finish(&mut term, None).await);
                }
            }
            let mut checked = Vec::new();
            let mut checks = Vec::new();
            for slot in &sources {
                if checked.contains(&slot.host) {
                    continue;
                }
                checked.push(slot.host);
                let host = &self.plan.hosts[slot.host];
                let mut words: Vec<OsString> = vec![
                    "check".into(),
                    "--zk".into(),
                    self.zk.into(),
                    "--session".into(),
                    self.session.into(),
                ];
                if let Some(file) = &self.args.auth_file {
                    words.extend(["--auth-file".into(), file.into()]);
                }
                let label = format!("{} check", host.name);
                let printer = Printer::new(label.clone(), false);
                checks.push(self.start(&mut running, host, label, printer, words)?);
            }
            return Ok(running.finish(&mut term, Some(checks)).await);
        }
        for (n, slot) in sources.iter().enumerate() {
            let signs = (n == 0).then_some(crate::launch::agent_output::JOINED);
            if let Some(mut joined) = self.start_slot(&mut running, slot, signs)? {
                // The master is the first source in the election: the workers start once
                // it is in (or gone), so the master runs where the host file put it.
                if !running.wait_for(&mut joined, &mut term).await {
                    break;
                }
            }
        }
        Ok(running.finish(&mut term, None).await)
    }
}

/// The agents started, and how each ends.
#[derive(Default)]
struct Running {
    controls: Vec<Control>,
    labels: Vec<String>,
    ends: FuturesUnordered<EndFuture>,
    printers: Vec<tokio::task::JoinHandle<()>>,
    interrupts: usize,
}

impl Running {
    /// Waits until `told` is told (or its agent's output ended); false when interrupted
    /// meanwhile (every agent is then stopped).
    async fn wait_for(
        &mut self,
        told: &mut watch::Receiver<bool>,
        term: &mut tokio::signal::unix::Signal,
    ) -> bool {
        tokio::select! {
            _ = told.wait_for(|j| *j) => return true,
            _ = tokio::signal::ctrl_c() => self.interrupts += 1,
            _ = term.recv() => self.interrupts += 1,
        }
        eprintln!("zkrsync-launch: stopping every agent (again to kill them)");
        self.controls.iter().for_each(Control::stop);
        false
    }

    /// Waits for every agent, passing Ctrl-C and SIGTERM on; returns the worst exit code.
    /// With `only`, those agents' codes count and the others are stopped once they have
    /// ended (a check run: the destinations only serve the checks).
    async fn finish(
        &mut self,
        term: &mut tokio::signal::unix::Signal,
        only: Option<Vec<usize>>,
    ) -> i32 {
        let mut results: Vec<Option<Ended>> = vec![None; self.labels.len()];
        let mut stopped_rest = false;
        while !self.ends.is_empty() {
            tokio::select! {
                Some((i, end)) = self.ends.next() => {
                    results[i] = Some(end);
                    // Ended and reaped: its pid may be another process's now.
                    if let Control::Local(pid) = &mut self.controls[i] {
                        *pid = None;
                    }
                    if let Some(only) = &only {
                        if !stopped_rest && only.iter().all(|k| results[*k].is_some()) {
                            stopped_rest = true;
                            self.controls.iter().for_each(Control::stop);
                        }
                    }
                    continue;
                }
                _ = tokio::signal::ctrl_c() => self.interrupts += 1,
                _ = term.recv() => self.interrupts += 1,
            }
            match self.interrupts {
                // The session stays and can be resumed.
                1 => {
                    eprintln!("zkrsync-launch: stopping every agent (again to kill them)");
                    self.controls.iter().for_each(Control::stop);
                }
                2 => {
                    eprintln!(
                        "zkrsync-launch: killing every agent (again to leave without waiting)"
                    );
                    self.controls.iter().for_each(Control::kill);
                }
                _ => break,
            }
        }
        for p in self.printers.drain(..) {
            if self.interrupts >= 3 {
                // Leaving without waiting: an agent stuck where SIGKILL cannot reach keeps
                // its pipes open.
                p.abort();
            } else {
                let _ = p.await;
            }
        }
        let mut worst = exit_code::OK;
        for (i, (label, end)) in self.labels.iter().zip(results).enumerate() {
            let counts = only.as_ref().is_none_or(|o| o.contains(&i));
            let code = match end {
                Some(Ended::Code(c)) if counts || (c != exit_code::OK && c != INTERRUPTED) => c,
                Some(Ended::Code(_)) => exit_code::OK,
                Some(Ended::Signal(s)) => {
                    eprintln!("zkrsync-launch: [{label}] died by signal {s}, without an exit code");
                    HOST_FAILED
                }
                Some(Ended::Lost(why)) => {
                    eprintln!("zkrsync-launch: [{label}] lost: {why}");
                    HOST_FAILED
                }
                None => {
                    eprintln!("zkrsync-launch: [{label}] left without waiting for it");
                    HOST_FAILED
                }
            };
            worst = worst.max(code);
        }
        worst
    }
}

/// An agent's exit code when it was interrupted.
const INTERRUPTED: i32 = zkrsync_core::protocol::exit_code::INTERRUPTED;

async fn print_lines(printer: Printer, from: impl tokio::io::AsyncRead + Unpin, err: bool) {
    let mut lines = BufReader::new(from).split(b'\n');
    while let Ok(Some(line)) = lines.next_segment().await {
        printer.line(&line, err);
    }
}
