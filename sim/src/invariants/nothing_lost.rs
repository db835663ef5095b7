//! 1. Nothing is lost: when a session ends successfully, every chunk is done and the
//!    destination tree equals the source tree (with `--dry-run`: is unchanged).

use super::{Check, Violation};
use crate::fs_model::Tree;
use zkrsync_core::protocol::Summary;

const NAME: &str = "nothing-lost";

/// At the end: the master's summary against the trees.
pub fn check_end(
    summary: &Summary,
    dry_run: bool,
    delete: bool,
    src: &Tree,
    dst: &Tree,
    dst_before: &Tree,
) -> Check {
    let p = &summary.progress;
    if p.done + p.failed != p.chunks || !p.plan_ready {
        return Err(Violation::new(
            NAME,
            format!(
                "the session ended with {} done and {} failed of {} chunks (plan ready: {})",
                p.done, p.failed, p.chunks, p.plan_ready
            ),
        ));
    }
    if !summary.failed.is_empty() {
        // Chunks that failed for good are reported, not copied: nothing more to compare.
        return Ok(());
    }
    let expected = if dry_run { dst_before } else { src };
    let mut diff = expected.differences(dst, usize::MAX);
    if !delete && !dry_run {
        // Without --delete, what the destination has beyond the source stays.
        diff.retain(|d| !d.starts_with("extraneous "));
    }
    diff.truncate(5);
    if diff.is_empty() {
        Ok(())
    } else {
        Err(Violation::new(
            NAME,
            format!(
                "the session reported success but the destination differs from the {}: {}",
                if dry_run {
                    "destination before the dry run"
                } else {
                    "source"
                },
                diff.join("; ")
            ),
        ))
    }
}
