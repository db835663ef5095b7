//! The real world of zkrsync: the binaries `zkrsync`, `zkrsync-launch` and `zkinitree`, and
//! the driver that runs the core's state machines on tokio, zookeeper-client and rsync.
//!
//! | room | what it holds |
//! |---|---|
//! | [`agent`] | the `zkrsync` agent: `paths`, `source`, `dest`, `status`, `abort`, `check`; the driver, rsync, ZooKeeper requests, logging, daemon mode |
//! | [`launch`] | `zkrsync-launch`: host file, placement, checks of the hosts, a private ZooKeeper, the agents started and waited for; its SSH in [`launch::ssh`] |
//! | [`initree`] | `zkinitree`: vsc-zk's tree config read, and the tree made with digest ACLs |
//! | [`vsc`] | vsc-zk compatibility of `zkrsync`: its command line and `zkrs.conf` |
//! | [`cli`] | what the three command lines share: completions and man pages, the long `--version` |
//!
//! Shared at the top: [`ini`] (the INI files of `zkinitree` and `--config`) and
//! [`child_death`] (children of the agent and of the launcher die with it). The exit codes
//! are the core's one table, [`zkrsync_core::protocol::exit_code`].

#![deny(missing_docs)]

pub mod agent;
pub mod child_death;
pub mod cli;
pub mod ini;
pub mod initree;
pub mod launch;
pub mod vsc;
