//! The real world of zkrsync: the `zkrsync` agent's commands and the driver that runs the
//! core's state machines on tokio, zookeeper-client and rsync.

pub mod agent;
pub mod agent_output;
pub mod child_death;
pub mod exit_code;
pub mod host_keys;
pub mod hostfile;
pub mod ini;
pub mod initree_cmd;
pub mod initree_config;
pub mod launch_cmd;
pub mod placement;
pub mod preflight;
pub mod private_zk;
pub mod remote_agent;
pub mod remote_command;
pub mod ssh_link;
pub mod vsc_cli;
pub mod vsc_config;
