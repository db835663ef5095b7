//! `zkrsync-launch`: a whole session started from one place, as mpirun does. The host file
//! ([`hostfile`]) and where each process goes ([`placement`]); the checks of every host
//! before anything starts ([`preflight`]); a private ZooKeeper for the run
//! ([`private_zk`]); the agents started locally or over SSH ([`remote_agent`], [`ssh`]),
//! their output shown with host, rank and role ([`agent_output`]), and their ends waited
//! for ([`start`]).

pub mod agent_output;
pub mod hostfile;
pub mod placement;
pub mod preflight;
pub mod private_zk;
pub mod remote_agent;
pub mod ssh;
pub mod start;

pub use start::{run, LaunchArgs};
