//! The heart of zkrsync, with no network and no clock.
//!
//! - [`walk`]: turns a source tree into units of work (the one place that reads a file
//!   system, through the [`walk::FileTree`] trait so the simulator can walk a model tree).
//! - [`filter`]: rsync's filter rules (`--exclude`, `--include`, `--filter`), which the walk
//!   applies as every rsync run does.
//! - [`unit`]: what a unit of work is.
//! - [`plan`]: packs units into chunks, the unit of claiming, and their binary encoding.
//! - [`rsync_stats`]: parses and sums rsync's `--stats` output.
//! - [`rsync_exit`]: what an rsync exit code means.
//! - [`protocol`]: the coordination protocol, sans-IO state machines.
//!
//! # Driving a machine
//!
//! The protocol's machines ([`protocol::Source`], [`protocol::Dest`]) never do I/O and never
//! read the clock. A driver feeds them inputs with the time, carries out every output until
//! there is none, and sleeps until the next input or the machine's next timeout. The real
//! agent (`launcher/src/agent`) and the simulator (`sim/src/world`) are this loop:
//!
//! ```
//! use std::time::Instant;
//! use zkrsync_core::protocol::{Exit, Input, Machine, Output};
//!
//! fn drive(
//!     machine: &mut impl Machine,
//!     clock: impl Fn() -> Instant,
//!     mut carry_out: impl FnMut(Output),                      // a request, rsync, a log line …
//!     mut wait: impl FnMut(Option<Instant>) -> Option<Input>, // None: the timeout came
//! ) -> Exit {
//!     loop {
//!         while let Some(output) = machine.poll_output() {
//!             match output {
//!                 Output::Exit(exit) => return exit,
//!                 other => carry_out(other),
//!             }
//!         }
//!         let input = wait(machine.poll_timeout()).unwrap_or(Input::Timeout);
//!         machine.handle(clock(), input);
//!     }
//! }
//! ```
#![deny(missing_docs)]

pub mod filter;
pub mod plan;
pub mod protocol;
pub mod rsync_exit;
pub mod rsync_stats;
pub mod unit;
pub mod walk;
