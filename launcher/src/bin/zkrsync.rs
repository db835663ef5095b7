//! `zkrsync`: copy a huge tree with many rsync processes on many hosts, coordinated
//! through ZooKeeper.

#![deny(missing_docs)]

use std::path::PathBuf;

use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};
use clap_complete::Shell;
use zkrsync_core::protocol::exit_code::{self, CONFIG, INTERRUPTED, NO_SESSION, OK, PARTIAL};
use zkrsync_launcher::agent::{
    check, daemon_mode, dest, finished, mount_pin, paths, source, status, watchdog,
};
use zkrsync_launcher::cli::{docs, version};
use zkrsync_launcher::vsc;

#[derive(Debug, Parser)]
#[command(
    name = "zkrsync",
    version,
    about,
    propagate_version = true,
    after_help = exit_code::help(&[OK, PARTIAL, CONFIG, NO_SESSION, INTERRUPTED])
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the units of work of a tree (no ZooKeeper needed).
    #[command(after_help = exit_code::help(&[OK, PARTIAL, CONFIG]))]
    Paths(paths::PathsArgs),
    /// Run a source: the first of a session is the master, the others copy with rsync.
    #[command(after_help = exit_code::help(&[OK, PARTIAL, CONFIG, INTERRUPTED]))]
    Source(Box<source::SourceArgs>),
    /// Run a destination: an rsync daemon that receives the copy.
    #[command(after_help = exit_code::help(&[OK, PARTIAL, CONFIG, INTERRUPTED]))]
    Dest(Box<dest::DestArgs>),
    /// Show where a session stands, or how it ended (exit 14 when there is no such session).
    #[command(after_help = exit_code::help(&[OK, CONFIG, NO_SESSION]))]
    Status(status::StatusArgs),
    /// End a session on purpose: every client stops, its znodes are deleted.
    #[command(after_help = exit_code::help(&[OK, CONFIG, NO_SESSION]))]
    Abort(status::AbortArgs),
    /// Remove what is kept of a finished session (its outcome, which zkrsync status shows).
    #[command(after_help = exit_code::help(&[OK, CONFIG, NO_SESSION]))]
    Forget(finished::ForgetArgs),
    /// From this host, reach and log in to every destination of a session (nothing copied).
    #[command(after_help = exit_code::help(&[OK, PARTIAL, CONFIG, NO_SESSION]))]
    Check(check::CheckArgs),
    /// Print the completion script of zkrsync for SHELL, e.g. `zkrsync completions bash >
    /// /usr/local/share/bash-completion/completions/zkrsync`.
    #[command(after_help = exit_code::help(&[OK, CONFIG]))]
    Completions {
        /// The shell.
        shell: Shell,
    },
    /// Write the man pages of zkrsync and of each subcommand (zkrsync.1, zkrsync-source.1, ...)
    /// into DIR, made if missing.
    #[command(after_help = exit_code::help(&[OK, CONFIG]))]
    Man {
        /// Where to write them, e.g. /usr/local/share/man/man1.
        dir: PathBuf,
    },
    /// The rsync watchdog a source starts for itself (not for users).
    #[command(hide = true)]
    Watchdog,
    /// rsync started in a private mount namespace that pins the checked mounts (not for
    /// users).
    #[command(hide = true)]
    Pin(mount_pin::PinArgs),
}

fn main() {
    let args =
        match vsc::cli::translate(std::env::args_os().collect()).and_then(vsc::config::expand) {
            Ok(args) => args,
            Err(error) => {
                eprintln!("zkrsync: error: {}", chain_one_line(&error));
                std::process::exit(CONFIG);
            }
        };
    let matches = version::with_long_version(Cli::command(), &args).get_matches_from(&args);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let result = match &cli.command {
        Command::Paths(args) => paths::run(args),
        Command::Source(args) => source::run(args),
        Command::Dest(args) => dest::run(args),
        Command::Status(args) => status::status(args),
        Command::Abort(args) => status::abort(args),
        Command::Forget(args) => finished::forget(args),
        Command::Check(args) => check::run(args),
        Command::Watchdog => Ok(watchdog::serve()),
        Command::Pin(args) => Ok(mount_pin::run(args)),
        Command::Completions { shell } => {
            docs::completions(Cli::command(), *shell, &mut std::io::stdout().lock());
            Ok(OK)
        }
        Command::Man { dir } => docs::man_pages(Cli::command(), dir).map(|pages| {
            docs::say_written(&pages);
            OK
        }),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(error) => {
            if daemon_mode::detached() {
                // Standard error is /dev/null: the log is where a daemon's end is read.
                tracing::error!("{}", chain_one_line(&error));
            }
            eprintln!("zkrsync: error: {}", chain_one_line(&error));
            std::process::exit(CONFIG);
        }
    }
}

/// The error and its causes, on one line.
fn chain_one_line(error: &anyhow::Error) -> String {
    error
        .chain()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}
