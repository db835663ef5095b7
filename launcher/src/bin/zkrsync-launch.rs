//! `zkrsync-launch HOSTFILE --src SRC --dst DST [-n N] [--zk CONNECT] [-- SOURCE OPTIONS]`.

#![deny(missing_docs)]

use clap::Parser;
use zkrsync_core::protocol::exit_code;
use zkrsync_launcher::launch::{self, LaunchArgs};

fn main() {
    let args = LaunchArgs::parse();
    match launch::run(&args) {
        Ok(code) => std::process::exit(code),
        Err(error) => {
            let chain: Vec<String> = error.chain().map(|e| e.to_string()).collect();
            eprintln!("zkrsync-launch: error: {}", chain.join(": "));
            std::process::exit(exit_code::CONFIG);
        }
    }
}
