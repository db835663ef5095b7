//! `zkinitree CONFIG [--servers CONNECT] [--dry-run]`: a ZooKeeper tree with digest ACLs
//! from vsc-zk's config format.

#![deny(missing_docs)]

use clap::Parser;
use zkrsync_core::protocol::exit_code;
use zkrsync_launcher::initree::{self, InitreeArgs};

fn main() {
    let args = InitreeArgs::parse();
    match initree::run(&args) {
        Ok(code) => std::process::exit(code),
        Err(error) => {
            let chain: Vec<String> = error.chain().map(|e| e.to_string()).collect();
            eprintln!("zkinitree: error: {}", chain.join(": "));
            std::process::exit(exit_code::CONFIG);
        }
    }
}
