//! The heart of zkrsync, with no network and no clock.
//!
//! - [`walk`]: turns a source tree into units of work (the one place that reads a file
//!   system, through the [`walk::FileTree`] trait so the simulator can walk a model tree).
//! - [`unit`]: what a unit of work is.
//! - [`plan`]: packs units into chunks, the unit of claiming, and their binary encoding.
//! - [`rsync_stats`]: parses and sums rsync's `--stats` output.
//! - [`rsync_exit`]: what an rsync exit code means.
//! - [`protocol`]: the coordination protocol, sans-IO state machines.
#![deny(missing_docs)]

pub mod plan;
pub mod protocol;
pub mod rsync_exit;
pub mod rsync_stats;
pub mod unit;
pub mod walk;
