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
    /// 25: rsync stopped deleting at the `--max-delete` limit: the run failed for good (a
    /// retry would hit the same limit).
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

#[cfg(test)]
mod tests {
    use super::*;

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
