//! A simulated world for zkrsync's protocol: the very state machines of `zkrsync-core`
//! driven against a ZooKeeper model, a file-system model and an rsync model, with faults
//! derived from a seed and invariants checked on every step.
//!
//! The models (`zk_model`, `fs_model`, `rsync_model`) are plain code, also used by the
//! conformance suite against a real ZooKeeper; the world and its harness need madsim's
//! simulation (`--cfg madsim`, see `.cargo/sim.toml`).

#![deny(missing_docs)]

pub mod fs_model;
pub mod invariants;
pub mod rsync_model;
pub mod zk_model;

#[cfg(madsim)]
pub mod config;
#[cfg(madsim)]
pub mod harness;
#[cfg(madsim)]
pub mod world;
