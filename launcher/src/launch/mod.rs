//! `zkrsync-launch`: a whole session started from one place, as mpirun does. The host file
//! ([`hostfile`]) and where each process goes ([`placement`]); the checks of every host
//! before anything starts ([`preflight`]); a private ZooKeeper for the run
//! ([`private_zk`]); the session's lock ([`credentials`]); the agents started locally or over SSH ([`remote_agent`], [`ssh`]),
//! their output shown with host, rank and role ([`agent_output`]), and their ends waited
//! for. [`run`] is the whole of it.
//!
//! Inside: `args.rs` (the options), `plan.rs` (what is checked before anything starts),
//! `start.rs` (the run: the agents' command lines and the order they start in),
//! `running.rs` (orders passed on to the agents, their ends, the exit code).

pub mod agent_output;
mod args;
pub mod credentials;
pub mod hostfile;
pub mod placement;
mod plan;
pub mod preflight;
pub mod private_zk;
pub mod progress_view;
pub mod remote_agent;
mod running;
pub mod ssh;
mod start;

pub use args::LaunchArgs;
pub use plan::agent_version;
pub use start::run;
