//! The exit codes of `zkrsync`, as documented in the README.

/// Everything was done.
pub const OK: i32 = 0;
/// The command ran but part of the work failed (unreadable directories, failed chunks).
pub const PARTIAL: i32 = 1;
/// Usage or configuration error: nothing was changed.
pub const CONFIG: i32 = 2;
/// `zkrsync-launch`: a host could not be used, or an agent died without an exit code.
pub const HOST_FAILED: i32 = 3;
