//! The real world of zkrsync: the `zkrsync` agent's commands.

pub mod exit_code;
pub mod paths_cmd;
pub mod walk_args;
