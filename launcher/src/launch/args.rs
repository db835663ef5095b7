//! The options of `zkrsync-launch`.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;
use zkrsync_core::protocol::exit_code;

/// Options of `zkrsync-launch`.
#[derive(Debug, Parser)]
#[command(
    name = "zkrsync-launch",
    version,
    about = "Start a zkrsync session on the hosts of a host file, as mpirun does",
    after_help = format!(
        "Host file: one host a line, `host [slots=K] [role=source|dest|any] [user=U] [port=P]`, `#` comments; `localhost` runs without SSH. Options after `--` go to every source (e.g. -- --depth 2 --delete).\n\nThe exit code is the worst of the agents', or the launcher's own when it refused to start or a host could not be used.\n\n{}",
        exit_code::help(&[
            exit_code::OK,
            exit_code::PARTIAL,
            exit_code::CONFIG,
            exit_code::HOST_FAILED,
            exit_code::INTERRUPTED,
        ])
    )
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
    /// Lock the session to your own credentials (a file whose first line is USER:PASS),
    /// read here and handed to every agent on its standard input, instead of generated ones
    /// (also ZKRSYNC_AUTH).
    #[arg(long, value_name = "FILE")]
    pub auth_file: Option<PathBuf>,
    /// Leave the session open to every user of the ZooKeeper: by default it is locked to
    /// generated credentials that only its agents get.
    #[arg(long, conflicts_with = "auth_file")]
    pub open: bool,
    /// Let destinations that do not run as root start anyway: their rsync daemon cannot
    /// chroot and rewrites absolute and upward symlink targets as it stores them (each
    /// destination's --rewrite-symlinks).
    #[arg(long)]
    pub rewrite_symlinks: bool,
    /// Check instead of copying: start the destinations, run `zkrsync check` once on every
    /// source host (can it reach and log in to every destination?), then stop them.
    #[arg(long)]
    pub check: bool,
    /// Run a finished session again with only its failed chunks (every source's
    /// --retry-failed); needs the session's --zk and --session, since a run on the
    /// launcher's private ZooKeeper keeps nothing after it.
    #[arg(long, conflicts_with = "check")]
    pub retry_failed: bool,
    /// How progress is shown: `auto` (a bar on a terminal, else a line every 10 s) or `json`
    /// (the master's JSON progress reports on standard output, one a second).
    #[arg(long, value_name = "MODE", default_value = "auto", value_parser = ["auto", "json"])]
    pub progress: String,
    /// Options for every source (session parameters such as --depth, --delete).
    #[arg(last = true, allow_hyphen_values = true)]
    pub agent_args: Vec<OsString>,
}
