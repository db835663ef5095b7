//! 5. Cleanup and resume: after a successful end no znode of the session remains but its
//!    outcome, which says what the summary said; after a crash of every client, the new run
//!    resumes and does not copy a done chunk again.

use zkrsync_core::protocol::records::OutcomeRecord;
use zkrsync_core::protocol::Summary;

use super::{Check, Violation};

const NAME: &str = "cleanup-and-resume";

/// At the end: the session's znodes that are left besides its outcome, the outcome, and
/// the summary.
pub fn check_end(left: &[String], outcome: Option<&[u8]>, summary: &Summary) -> Check {
    if left.is_empty() {
        let Some(data) = outcome else {
            return Err(Violation::new(NAME, "the session ended without an outcome"));
        };
        let o = OutcomeRecord::decode(data)
            .map_err(|e| Violation::new(NAME, format!("the outcome is unreadable: {e}")))?;
        let p = &summary.progress;
        let kept = (
            o.summary.chunks,
            o.summary.done,
            o.summary.failed.len() as u64,
        );
        if kept != (p.chunks, p.done, p.failed) {
            return Err(Violation::new(
                NAME,
                format!(
                    "the outcome says {kept:?} (chunks, done, failed), the summary {:?}",
                    (p.chunks, p.done, p.failed)
                ),
            ));
        }
        Ok(())
    } else {
        Err(Violation::new(
            NAME,
            format!(
                "{} znode(s) of the session left after it ended, e.g. {}",
                left.len(),
                left.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
            ),
        ))
    }
}

/// When an rsync of `chunk` starts after a full crash: it was not done before the crash.
pub fn check_resume(chunk: &str, done_before_crash: bool) -> Check {
    if done_before_crash {
        Err(Violation::new(
            NAME,
            format!("chunk {chunk} was done before every client crashed, and was copied again after the restart"),
        ))
    } else {
        Ok(())
    }
}
