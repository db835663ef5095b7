//! The run as checked before anything starts: the host file read and placed, the agent's
//! binary found, the paths checked, the SSH configuration, and what each remote host needs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::agent::dest_dir;
use crate::agent::walk_args::absolute_root;
use crate::launch::hostfile::{self, Host};
use crate::launch::placement::{self, Kind, Slot};
use crate::launch::preflight::HostNeeds;
use crate::launch::ssh::host_keys::HostKeys;
use crate::launch::ssh::link::{SshConfig, Target};
use crate::launch::LaunchArgs;

/// `zkrsync -V` as an agent of this launcher prints it (`--version` says more: which
/// rsync it drives, which differs between hosts).
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
pub(super) struct Plan {
    pub(super) hosts: Vec<Host>,
    pub(super) slots: Vec<Slot>,
    pub(super) bin: PathBuf,
    pub(super) remote_binary: String,
    /// The options every source gets: those after `--`, with the `--exclude-from` and
    /// `--include-from` files read here and inlined as `--filter` rules.
    pub(super) source_args: Vec<std::ffi::OsString>,
}

pub(super) fn plan(args: &LaunchArgs) -> anyhow::Result<Plan> {
    let file = args.hostfile.display().to_string();
    let text = std::fs::read_to_string(&args.hostfile)
        .with_context(|| format!("cannot read the host file {file}"))?;
    let hosts = hostfile::parse(&text, &file)?;
    let slots = placement::place(&hosts, args.workers)?;
    let bin = agent_binary(args)?;
    let source_args = crate::agent::filter_args::inline_pattern_files(&args.agent_args)?;
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
    if local(|k| k != Kind::Dest) && !args.src.is_dir() {
        bail!(
            "--src {} is not a directory: give an existing directory",
            args.src.display()
        );
    }
    if local(|k| k == Kind::Dest) {
        // A missing destination is made by the destinations, as rsync does, when its
        // parent is a directory.
        dest_dir::check(&absolute_root(&args.dst)?).context("--dst")?;
    }
    for (what, path) in [("--src", &args.src), ("--dst", &args.dst)] {
        if !path.is_absolute() && slots.iter().any(|s| !hosts[s.host].is_local()) {
            bail!(
                "{what} {} is relative, which means another place on every host: give an absolute path",
                path.display()
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
        source_args,
    })
}

pub(super) fn ssh_config(args: &LaunchArgs) -> anyhow::Result<SshConfig> {
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

pub(super) fn target(args: &LaunchArgs, host: &Host) -> Target {
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
pub(super) fn remote_needs(args: &LaunchArgs, plan: &Plan) -> Vec<HostNeeds> {
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
