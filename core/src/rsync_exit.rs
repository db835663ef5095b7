//! What an rsync exit code means to zkrsync (rsync(1), EXIT VALUES).

/// How an rsync run ended, as far as zkrsync is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsyncExit {
    /// 0: everything was copied.
    Success,
    /// 24: some source files vanished before they could be copied; the rest was copied,
    /// which counts as done (the files are gone from the source too).
    Vanished,
    /// 5 (error starting the client-server protocol), 10 (socket I/O) or 35 (timeout
    /// waiting for the daemon connection): the destination could not be reached or went
    /// away, which is not the chunk's fault; the code is kept for the message.
    DestUnreachable(i32),
    /// 25: rsync stopped deleting at the `--max-delete` limit (the session's budget
    /// decides what comes next, see [`crate::protocol::delete_budget`]).
    DeleteLimit,
    /// Any other code: the chunk failed on this try.
    Failed(i32),
    /// rsync was killed by a signal.
    Killed,
}

impl RsyncExit {
    /// The meaning of an exit code (`None`: killed by a signal).
    pub fn of(code: Option<i32>) -> RsyncExit {
        match code {
            None => RsyncExit::Killed,
            Some(0) => RsyncExit::Success,
            Some(24) => RsyncExit::Vanished,
            Some(25) => RsyncExit::DeleteLimit,
            Some(c @ (5 | 10 | 35)) => RsyncExit::DestUnreachable(c),
            Some(c) => RsyncExit::Failed(c),
        }
    }

    /// Whether the run counts as done (its files are copied).
    pub fn is_done(self) -> bool {
        matches!(self, RsyncExit::Success | RsyncExit::Vanished)
    }
}

/// How many deletions rsync skipped at its `--max-delete` limit, from its error output
/// (`Deletions stopped due to --max-delete limit (N skipped)`); 0 when it says nothing of
/// the kind. A directory rsync did not delete counts once, whatever it holds.
pub fn deletions_skipped(stderr: &str) -> u64 {
    const SAID: &str = "Deletions stopped due to --max-delete limit (";
    stderr
        .lines()
        .filter_map(|l| l.split_once(SAID))
        .filter_map(|(_, rest)| rest.split_once(" skipped)"))
        .filter_map(|(n, _)| n.trim().parse::<u64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipped_deletions_are_read_from_rsyncs_words() {
        let said = "cannot delete non-empty directory: sub\nDeletions stopped due to --max-delete limit (4 skipped)\nrsync error: the --max-delete limit stopped deletions (code 25) at main.c(1394) [sender=3.2.7]\n";
        assert_eq!(deletions_skipped(said), 4);
        assert_eq!(deletions_skipped("rsync error: some files vanished"), 0);
    }

    #[test]
    fn codes() {
        assert_eq!(RsyncExit::of(Some(0)), RsyncExit::Success);
        assert_eq!(RsyncExit::of(Some(24)), RsyncExit::Vanished);
        for c in [5, 10, 35] {
            assert_eq!(RsyncExit::of(Some(c)), RsyncExit::DestUnreachable(c));
        }
        assert_eq!(RsyncExit::of(Some(23)), RsyncExit::Failed(23));
        assert_eq!(RsyncExit::of(Some(25)), RsyncExit::DeleteLimit);
        assert_eq!(RsyncExit::of(None), RsyncExit::Killed);
        assert!(RsyncExit::of(Some(24)).is_done());
        assert!(!RsyncExit::of(Some(12)).is_done());
    }
}
