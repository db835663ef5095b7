//! The exit codes of every zkrsync program: the one table, used by the machines and the
//! binaries alike, and shown by each program's `--help` ([`help`]) and by the README.

/// Everything was done.
pub const OK: i32 = 0;
/// The command ran but part of the work failed (failed chunks, unreadable directories), or
/// the session was aborted.
pub const PARTIAL: i32 = 1;
/// Usage or configuration error: nothing was changed.
pub const CONFIG: i32 = 2;
/// `zkrsync-launch`: a host could not be used, or an agent died without an exit code.
pub const HOST_FAILED: i32 = 3;
/// No such session (`zkrsync status`, `abort`, `check`).
pub const NO_SESSION: i32 = 14;
/// Interrupted by a signal.
pub const INTERRUPTED: i32 = 130;

/// Every exit code and what it means to a user, in the order of the codes: the rows of
/// each program's `--help` ([`help`]) and of the README's exit-code table.
pub const MEANINGS: [(i32, &str); 6] = [
    (
        OK,
        "everything done (for a worker or destination: the session completed)",
    ),
    (
        PARTIAL,
        "some chunks failed after --attempts (the master lists them), some directories could not be listed (zkrsync paths), a destination could not be reached or logged in to (zkrsync check), or the session was aborted",
    ),
    (
        CONFIG,
        "usage or configuration error: bad option or host file, missing path, unreachable ZooKeeper, not authorized, parameters differ from the session's, source tree missing; one-line message, nothing changed",
    ),
    (
        HOST_FAILED,
        "zkrsync-launch: a host could not be used, or an agent died without an exit code",
    ),
    (
        NO_SESSION,
        "zkrsync status, abort, forget, check: no such session",
    ),
    (
        INTERRUPTED,
        "interrupted (SIGINT, SIGTERM, SIGHUP); a session on a ZooKeeper of yours stays and resumes when run again",
    ),
];

/// The first line of the exit-code paragraph of a program's `--help` ([`help`]); the man
/// pages find the paragraph by it.
pub const HELP_HEADING: &str = "Exit codes:";

/// The `Exit codes:` paragraph of a program's `--help`: one line for each of `codes` (the
/// codes the program can end with), with its meaning from [`MEANINGS`].
pub fn help(codes: &[i32]) -> String {
    let mut text = String::from(HELP_HEADING);
    for (code, meaning) in MEANINGS.iter().filter(|(c, _)| codes.contains(c)) {
        text.push_str(&format!("\n  {code:<4} {meaning}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_lists_the_codes_asked_for_with_their_meanings() {
        assert_eq!(
            help(&[CONFIG, OK]),
            format!(
                "Exit codes:\n  0    {}\n  2    {}",
                MEANINGS[0].1, MEANINGS[2].1
            )
        );
    }
}
