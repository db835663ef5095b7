//! `zkrsync-launch HOSTFILE --src SRC --dst DST`: starts a whole session from one place, as
//! mpirun does: 1 master + N workers and N destinations placed by the host file's slots,
//! every agent given the same session parameters, their output streamed with host, rank and
//! role, Ctrl-C passed on, and the worst exit code returned.
//!
//! This first version starts agents on `localhost` lines only; hosts reached over SSH come
//! next (issue 6).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;

use anyhow::{bail, Context};
use clap::Parser;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::child_death::die_with_parent;
use crate::hostfile::{self, Host};
use crate::placement::{self, Kind, Slot};
use crate::private_zk::PrivateZk;

/// Options of `zkrsync-launch`.
#[derive(Debug, Parser)]
#[command(
    name = "zkrsync-launch",
    version,
    about = "Start a zkrsync session on the hosts of a host file, as mpirun does",
    after_help = "Host file: one host a line, `host [slots=K] [role=source|dest|any] [user=U] [port=P]`, `#` comments. Options after `--` go to every source (e.g. -- --depth 2 --delete)."
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
    /// ZooKeeper connect string (default: a private ZooKeeper for this run).
    #[arg(long, env = "ZKRSYNC_ZK")]
    pub zk: Option<String>,
    /// Session name (default: launch-<pid>).
    #[arg(long, short = 'N')]
    pub session: Option<String>,
    /// The zkrsync binary (default: the one beside zkrsync-launch).
    #[arg(long, value_name = "PATH")]
    pub zkrsync: Option<PathBuf>,
    /// Options for every source (session parameters such as --depth, --delete).
    #[arg(last = true, allow_hyphen_values = true)]
    pub agent_args: Vec<OsString>,
}

/// Exit code when an agent died without an exit code or a host could not be used.
pub const HOST_FAILED: i32 = 3;

struct Agent {
    label: String,
    child: Child,
}

fn agent_binary(args: &LaunchArgs) -> anyhow::Result<PathBuf> {
    let bin = match &args.zkrsync {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .context("cannot find this program's path")?
            .with_file_name("zkrsync"),
    };
    if !bin.is_file() {
        bail!(
            "{} is not there: build zkrsync beside zkrsync-launch, or give --zkrsync PATH",
            bin.display()
        );
    }
    Ok(bin)
}

fn check(args: &LaunchArgs) -> anyhow::Result<(Vec<Host>, Vec<Slot>)> {
    let file = args.hostfile.display().to_string();
    let text = std::fs::read_to_string(&args.hostfile)
        .with_context(|| format!("cannot read the host file {file}"))?;
    let hosts = hostfile::parse(&text, &file).map_err(anyhow::Error::msg)?;
    if let Some(remote) = hosts.iter().find(|h| !h.is_local()) {
        bail!(
            "{file}:{}: host {}: starting agents over SSH is not built yet; use localhost lines, or start `zkrsync source`/`zkrsync dest` on that host by hand",
            remote.line,
            remote.name
        );
    }
    let slots = placement::place(&hosts, args.workers).map_err(anyhow::Error::msg)?;
    for (what, path) in [("--src", &args.src), ("--dst", &args.dst)] {
        if !path.is_dir() {
            bail!(
                "{what} {} is not a directory: give an existing directory",
                path.display()
            );
        }
    }
    Ok((hosts, slots))
}

/// Runs the launcher; returns the exit code.
pub fn run(args: &LaunchArgs) -> anyhow::Result<i32> {
    let (hosts, slots) = check(args)?;
    let bin = agent_binary(args)?;
    let private = match &args.zk {
        Some(_) => None,
        None => Some(PrivateZk::start()?),
    };
    let zk = args
        .zk
        .clone()
        .or_else(|| private.as_ref().map(|p| p.connect.clone()))
        .expect("a ZooKeeper");
    let session = args
        .session
        .clone()
        .unwrap_or_else(|| format!("launch-{}", std::process::id()));
    eprintln!(
        "zkrsync-launch: session {session} on {zk}: {} sources and {} destinations",
        slots.iter().filter(|s| s.kind != Kind::Dest).count(),
        slots.iter().filter(|s| s.kind == Kind::Dest).count()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let code = runtime.block_on(run_agents(args, &hosts, &slots, &bin, &zk, &session))?;
    drop(private);
    Ok(code)
}

async fn run_agents(
    args: &LaunchArgs,
    hosts: &[Host],
    slots: &[Slot],
    bin: &PathBuf,
    zk: &str,
    session: &str,
) -> anyhow::Result<i32> {
    let mut agents = Vec::new();
    let mut printers = Vec::new();
    // Destinations first, then the master, then the workers: every source finds
    // destinations at once, and the first source is the master.
    let order = slots
        .iter()
        .filter(|s| s.kind == Kind::Dest)
        .chain(slots.iter().filter(|s| s.kind != Kind::Dest));
    for slot in order {
        let host = &hosts[slot.host];
        let (role, path) = match slot.kind {
            Kind::Dest => ("dest", &args.dst),
            Kind::Master | Kind::Worker => ("source", &args.src),
        };
        let mut cmd = Command::new(bin);
        cmd.arg(role)
            .arg("--zk")
            .arg(zk)
            .arg("--session")
            .arg(session)
            .arg("--path")
            .arg(path);
        if slot.kind == Kind::Dest {
            cmd.arg("--advertise")
                .arg("127.0.0.1")
                .arg("--id")
                .arg(format!("{}-{}", host.name, slot.rank));
        } else {
            cmd.args(&args.agent_args);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        die_with_parent(&mut cmd);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let label = format!("{} {} {}", host.name, slot.rank, role);
        if let Some(out) = child.stdout.take() {
            printers.push(tokio::spawn(print_lines(label.clone(), out, false)));
        }
        if let Some(err) = child.stderr.take() {
            printers.push(tokio::spawn(print_lines(label.clone(), err, true)));
        }
        agents.push(Agent { label, child });
    }
    let pids: Vec<i32> = agents
        .iter()
        .filter_map(|a| a.child.id())
        .map(|p| p as i32)
        .collect();
    let mut interrupts = 0;
    let mut codes = Vec::new();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    for agent in &mut agents {
        loop {
            tokio::select! {
                status = agent.child.wait() => {
                    codes.push((agent.label.clone(), status?.code()));
                    break;
                }
                _ = tokio::signal::ctrl_c() => interrupts += 1,
                _ = term.recv() => interrupts += 1,
            }
            // First interrupt: every agent stops cleanly (the session stays and can be
            // resumed); a second one kills them.
            let signal = if interrupts == 1 {
                eprintln!("zkrsync-launch: stopping every agent (again to kill them)");
                libc::SIGTERM
            } else {
                libc::SIGKILL
            };
            for pid in &pids {
                // SAFETY: kill(2) on our own children's pids.
                unsafe {
                    libc::kill(*pid, signal);
                }
            }
        }
    }
    for p in printers {
        let _ = p.await;
    }
    let mut worst = 0;
    for (label, code) in codes {
        match code {
            Some(c) => worst = worst.max(c),
            None => {
                eprintln!("zkrsync-launch: {label} died without an exit code");
                worst = worst.max(HOST_FAILED);
            }
        }
    }
    Ok(worst)
}

async fn print_lines(label: String, from: impl tokio::io::AsyncRead + Unpin, err: bool) {
    let mut lines = BufReader::new(from).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if err {
            eprintln!("[{label}] {line}");
        } else {
            println!("[{label}] {line}");
        }
    }
}
