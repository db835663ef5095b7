//! A simulated world for zkrsync's protocol: the very state machines of `zkrsync-core`
//! driven against a ZooKeeper model, a file-system model and an rsync model, with faults
//! derived from a seed and invariants checked on every step.

pub mod zk_model;
