//! The exit codes of every zkrsync program, as documented in the README and in each
//! program's `--help`: the one table, used by the machines and the binaries alike.

/// Everything was done.
pub const OK: i32 = 0;
/// The command ran but part of the work failed (failed chunks, unreadable directories), or
/// the session was aborted.
pub const PARTIAL: i32 = 1;
/// Usage or configuration error: nothing was changed.
pub const CONFIG: i32 = 2;
/// `zkrsync-launch`: a host could not be used, or an agent died without an exit code.
pub const HOST_FAILED: i32 = 3;
/// No such session (`zkrsync status`).
pub const NO_SESSION: i32 = 14;
/// Interrupted by a signal.
pub const INTERRUPTED: i32 = 130;
