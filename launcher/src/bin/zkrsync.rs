//! `zkrsync`: copy a huge tree with many rsync processes on many hosts, coordinated
//! through ZooKeeper.

use clap::{Parser, Subcommand};
use zkrsync_launcher::{exit_code, paths_cmd};

#[derive(Debug, Parser)]
#[command(name = "zkrsync", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the units of work of a tree (no ZooKeeper needed).
    Paths(paths_cmd::PathsArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Paths(args) => paths_cmd::run(args),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(error) => {
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
