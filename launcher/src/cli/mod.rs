//! What the three programs' command lines share beyond their options: completions and man
//! pages generated from the clap definitions ([`docs`]), the long `--version` that names
//! the rsync and ZooKeeper client they drive ([`version`]), and the `main` of the two
//! programs without subcommands ([`program`]).

pub mod docs;
pub mod program;
pub mod version;
