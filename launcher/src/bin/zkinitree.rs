//! `zkinitree CONFIG [--servers CONNECT] [--dry-run]`: a ZooKeeper tree with digest ACLs
//! from vsc-zk's config format.

#![deny(missing_docs)]

use zkrsync_launcher::initree::{self, InitreeArgs};

fn main() {
    zkrsync_launcher::cli::program::main::<InitreeArgs>(initree::run)
}
