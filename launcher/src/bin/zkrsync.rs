//! `zkrsync`: copy a huge tree with many rsync processes on many hosts, coordinated
//! through ZooKeeper.

#![deny(missing_docs)]

use clap::{Parser, Subcommand};
use zkrsync_core::protocol::exit_code;
use zkrsync_launcher::agent::{
    check, daemon_mode, dest, mount_pin, paths, source, status, watchdog,
};
use zkrsync_launcher::vsc;

#[derive(Debug, Parser)]
#[command(
    name = "zkrsync",
    version,
    about,
    propagate_version = true,
    after_help = exit_code::help(&[
        exit_code::OK,
        exit_code::PARTIAL,
        exit_code::CONFIG,
        exit_code::NO_SESSION,
        exit_code::INTERRUPTED,
    ])
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the units of work of a tree (no ZooKeeper needed).
    Paths(paths::PathsArgs),
    /// Run a source: the first of a session is the master, the others copy with rsync.
    Source(Box<source::SourceArgs>),
    /// Run a destination: an rsync daemon that receives the copy.
    Dest(Box<dest::DestArgs>),
    /// Show where a session stands (exit 14 when there is no such session).
    Status(status::StatusArgs),
    /// End a session on purpose: every client stops, its znodes are deleted.
    Abort(status::AbortArgs),
    /// From this host, reach and log in to every destination of a session (nothing copied).
    Check(check::CheckArgs),
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
                std::process::exit(exit_code::CONFIG);
            }
        };
    let cli = Cli::parse_from(args);
    let result = match &cli.command {
        Command::Paths(args) => paths::run(args),
        Command::Source(args) => source::run(args),
        Command::Dest(args) => dest::run(args),
        Command::Status(args) => status::status(args),
        Command::Abort(args) => status::abort(args),
        Command::Check(args) => check::run(args),
        Command::Watchdog => Ok(watchdog::serve()),
        Command::Pin(args) => Ok(mount_pin::run(args)),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(error) => {
            if daemon_mode::detached() {
                // Standard error is /dev/null: the log is where a daemon's end is read.
                tracing::error!("{}", chain_one_line(&error));
            }
            eprintln!("zkrsync: error: {}", chain_one_line(&error));
            std::process::exit(exit_code::CONFIG);
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
