//! The real world of zkrsync: the `zkrsync` agent's commands and the driver that runs the
//! core's state machines on tokio, zookeeper-client and rsync.

pub mod agent_output;
pub mod check_cmd;
pub mod child_death;
pub mod daemon_mode;
pub mod dest_cmd;
pub mod driver;
pub mod exit_code;
pub mod host_keys;
pub mod hostfile;
pub mod ini;
pub mod initree_cmd;
pub mod initree_config;
pub mod launch_cmd;
pub mod logging;
pub mod paths_cmd;
pub mod placement;
pub mod preflight;
pub mod private_zk;
pub mod progress_bar;
pub mod remote_agent;
pub mod remote_command;
pub mod report;
pub mod rsync_daemon;
pub mod rsync_run;
pub mod source_cmd;
pub mod ssh_link;
pub mod status_cmd;
pub mod stdin_lifeline;
pub mod vsc_cli;
pub mod vsc_config;
pub mod walk_args;
pub mod zk_connect;
pub mod zk_ops;
