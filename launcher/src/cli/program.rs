//! The `main` of a program without subcommands (`zkrsync-launch`, `zkinitree`): its options
//! parsed with the hidden `--completions` and `--man` flags and the long `--version`, its
//! run, and its end: the exit code, or a one-line error and exit 2.

use clap::{CommandFactory, FromArgMatches};
use zkrsync_core::protocol::exit_code;

use crate::cli::{docs, version};

/// Parses the command line into `A` and runs `run` on it (or answers `--completions` /
/// `--man`); exits with its code, or prints `NAME: error: …` on one line and exits 2.
pub fn main<A: CommandFactory + FromArgMatches>(run: fn(&A) -> anyhow::Result<i32>) -> ! {
    let argv: Vec<_> = std::env::args_os().collect();
    let cmd = version::with_long_version(docs::with_doc_flags(A::command()), &argv);
    let name = cmd.get_name().to_owned();
    let matches = cmd.get_matches_from(&argv);
    let result = match docs::answer_doc_flags(A::command(), &matches) {
        Some(done) => done.map(|()| exit_code::OK),
        None => run(&A::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(error) => {
            let chain: Vec<String> = error.chain().map(|e| e.to_string()).collect();
            eprintln!("{name}: error: {}", chain.join(": "));
            std::process::exit(exit_code::CONFIG);
        }
    }
}
