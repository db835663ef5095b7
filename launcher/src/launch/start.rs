//! `zkrsync-launch HOSTFILE --src SRC --dst DST`: starts a whole session from one place, as
//! mpirun does: 1 master + N workers and N destinations placed by the host file's slots,
//! on `localhost` directly and on other hosts over SSH, every agent given the same session
//! parameters, their output streamed with host, rank and role, Ctrl-C passed on, and the
//! worst exit code returned.
//!
//! Here: the run from its plan to its end, each agent's command line, and the order the
//! agents start in (destinations, the master, then the workers); `running.rs` waits for
//! them.

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Stdio;
use std::sync::Arc;

use anyhow::Context;
use tokio::process::Command;
use tokio::sync::watch;

use crate::child_death::die_with_parent;
use crate::launch::agent_output::Printer;
use crate::launch::credentials::{self, Credentials};
use crate::launch::hostfile::Host;
use crate::launch::placement::{Kind, Slot};
use crate::launch::plan::{agent_version, plan, remote_needs, ssh_config, target, Plan};
use crate::launch::preflight::Check;
use crate::launch::private_zk::PrivateZk;
use crate::launch::remote_agent::{Ended, RemoteAgent};
use crate::launch::running::{print_lines, Control, Running, Side};
use crate::launch::ssh::link::SshConfig;
use crate::launch::ssh::remote_command::command_line;
use crate::launch::LaunchArgs;
use zkrsync_core::protocol::exit_code::HOST_FAILED;

/// Runs the launcher; returns the exit code.
pub fn run(args: &LaunchArgs) -> anyhow::Result<i32> {
    if args.retry_failed && (args.zk.is_none() || args.session.is_none()) {
        anyhow::bail!("--retry-failed needs the finished session's ZooKeeper and name: give --zk and --session (a run on the launcher's private ZooKeeper keeps nothing after it)");
    }
    let plan = plan(args)?;
    crate::launch::progress_view::set_mode(match args.progress.as_str() {
        "json" => crate::launch::progress_view::Mode::Json,
        _ => crate::launch::progress_view::Mode::Auto,
    });
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
    let lock = match &args.zk {
        // A session on the user's ZooKeeper, named by them, may be resumed by a later run.
        Some(zk) => credentials::choose(args, &session, zk, args.session.is_some())?,
        None => credentials::choose(args, &session, "", false)?,
    };
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
    eprintln!("zkrsync-launch: {}", lock.note);
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
        credentials: lock.credentials.as_ref(),
        run: format!(
            "launch-{}",
            &crate::agent::rsync_daemon::random_hex("the run id")?[..16]
        ),
    };
    let code = runtime.block_on(run.agents());
    crate::launch::progress_view::finish();
    let code = code?;
    if code == zkrsync_core::protocol::exit_code::INTERRUPTED {
        eprintln!(
            "zkrsync-launch: {}",
            interrupted_note(&session, &zk, private.is_some())
        );
    }
    drop(private);
    if code == zkrsync_core::protocol::exit_code::OK {
        lock.completed();
    }
    Ok(code)
}

/// What becomes of an interrupted run's session: it stays on a ZooKeeper of the user's, and
/// the same command resumes it; the launcher's private ZooKeeper goes with the run.
fn interrupted_note(session: &str, zk: &str, private: bool) -> String {
    match private {
        true => "interrupted: the session was on this run's private ZooKeeper, which is gone with it, so it cannot be resumed; run the same command again to start over (rsync skips what is already copied)".to_owned(),
        false => format!("interrupted: session {session} stays on {zk}; run the same command again (with --session {session}) to resume it where it stopped"),
    }
}

fn role_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Master => "master",
        Kind::Worker => "source",
        Kind::Dest => "dest",
    }
}

struct Run<'a> {
    args: &'a LaunchArgs,
    plan: &'a Plan,
    ssh: Arc<SshConfig>,
    zk: &'a str,
    session: &'a str,
    reach: IpAddr,
    /// What every agent gets on its standard input (`--auth-stdin`); None: an open session.
    credentials: Option<&'a Credentials>,
    /// This launch's run id (`--run` of every agent): an agent that comes to the session
    /// after it finished leaves instead of starting it anew.
    run: String,
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
            "--run".into(),
            self.run.clone().into(),
        ];
        if self.credentials.is_some() {
            words.push("--auth-stdin".into());
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
            if self.args.rewrite_symlinks {
                words.push("--rewrite-symlinks".into());
            }
        } else {
            words.push("--progress-stdout".into());
            if self.args.retry_failed {
                words.push("--retry-failed".into());
            }
            words.extend(self.plan.source_args.iter().cloned());
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
        let side = match words.first().and_then(|w| w.to_str()) {
            Some("source") => Side::Source,
            Some("dest") => Side::Dest,
            _ => Side::Other,
        };
        let agent = side != Side::Other;
        let i = running.add(label, side, &printer);
        if host.is_local() {
            let mut cmd = Command::new(&self.plan.bin);
            cmd.args(&words)
                .env("ZKRSYNC_LAUNCH_ID", self.session)
                // The launcher's credentials come on standard input, not from its environment.
                .env_remove("ZKRSYNC_AUTH")
                .stdin(if self.credentials.is_some() {
                    Stdio::piped()
                } else {
                    Stdio::null()
                })
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            die_with_parent(&mut cmd);
            let mut child = cmd
                .spawn()
                .with_context(|| format!("cannot start {}", self.plan.bin.display()))?;
            if let (Some(c), Some(mut stdin)) = (self.credentials, child.stdin.take()) {
                let line = c.stdin_line();
                // One short line into an empty pipe; closed after it (the agent then reads
                // its end of input, which a local agent does not watch).
                tokio::spawn(async move {
                    use tokio::io::AsyncWriteExt as _;
                    let _ = stdin.write_all(&line).await;
                });
            }
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
                )?,
            );
            let agent =
                RemoteAgent::start(self.ssh.clone(), target(self.args, host), command, printer)?;
            if let Some(c) = self.credentials {
                // First on its input, before any order.
                agent.control.hand(&c.stdin_line());
            }
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
                if self.credentials.is_some() {
                    words.push("--auth-stdin".into());
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
