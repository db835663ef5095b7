//! The `zkrsync` agent: its commands, one file each (`paths`, `source`, `dest`, `status` and
//! `abort`, `check`), and what they run on: the [`driver`] loop that steps the core's
//! machines on tokio and zookeeper-client ([`zk_connect`], [`zk_ops`]), rsync
//! ([`rsync_run`], [`rsync_daemon`]) and the [`watchdog`] that stops a frozen agent's
//! rsync, the walk options, the reports and progress bar, the
//! logging, and how an agent runs: detached ([`daemon_mode`]) or under `zkrsync-launch`
//! ([`stdin_lifeline`]).

pub mod check;
pub mod daemon_mode;
pub mod dest;
pub mod dest_dir;
pub mod driver;
pub mod filter_args;
pub mod finished;
pub mod logging;
pub mod mount_pin;
pub mod paths;
pub mod probe_files;
pub mod progress_bar;
pub mod progress_report;
pub mod report;
pub mod rsync_daemon;
pub mod rsync_progress;
pub mod rsync_run;
mod rsync_stall;
pub mod source;
pub mod status;
pub mod stdin_lifeline;
pub mod tree_id;
pub mod walk_args;
pub mod watchdog;
pub mod zk_connect;
pub mod zk_ops;
