//! `zkinitree`: a ZooKeeper tree with digest ACLs from vsc-zk's config format. [`config`]
//! reads the config into the znodes to make, parents first, each with its ACL list;
//! [`apply`] connects as the admin and makes or updates them ([`run`] is the command).

pub mod apply;
pub mod config;

pub use apply::{run, InitreeArgs};
