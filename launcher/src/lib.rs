//! The real world of zkrsync: the `zkrsync` agent's commands and the driver that runs the
//! core's state machines on tokio, zookeeper-client and rsync.

pub mod agent;
pub mod child_death;
pub mod exit_code;
pub mod ini;
pub mod initree_cmd;
pub mod initree_config;
pub mod launch;
pub mod vsc_cli;
pub mod vsc_config;
