//! 5. Cleanup and resume: after a successful end no znode of the session remains; after a
//!    crash of every client, the new run resumes and does not copy a done chunk again.

use super::{Check, Violation};

const NAME: &str = "cleanup-and-resume";

/// At the end: the session's znodes that are left.
pub fn check_end(left: &[String]) -> Check {
    if left.is_empty() {
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
