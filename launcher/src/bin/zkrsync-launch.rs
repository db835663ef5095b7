//! `zkrsync-launch HOSTFILE --src SRC --dst DST [-n N] [--zk CONNECT] [-- SOURCE OPTIONS]`.

#![deny(missing_docs)]

use zkrsync_launcher::launch::{self, LaunchArgs};

fn main() {
    zkrsync_launcher::cli::program::main::<LaunchArgs>(launch::run)
}
