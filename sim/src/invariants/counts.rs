//! 7. Counts are rsync's: when a session ends with every chunk done, its summary counts
//!    every entry of the source tree once, the root included (what one `rsync -a --stats`
//!    of the tree counts), whatever the chunking; and a dry run counts as created exactly
//!    the entries the destination lacks. The runs' outputs come from the rsync model and
//!    are counted by the core ([`zkrsync_core::protocol::run_counts`]), as real rsync's.

use super::{Check, Violation};
use crate::fs_model::Tree;
use zkrsync_core::protocol::Summary;

const NAME: &str = "counts";

/// At the end: the summary's counts against the trees. `partial`: some run that was
/// recorded read a source with a sub-mount gone (it counted what it saw).
pub fn check_end(
    summary: &Summary,
    dry_run: bool,
    src: &Tree,
    dst_before: &Tree,
    partial: bool,
) -> Check {
    let p = &summary.progress;
    if partial || !summary.failed.is_empty() || p.done != p.chunks {
        return Ok(());
    }
    let files = src.len() as u64;
    if p.stats.files != files {
        return Err(Violation::new(
            NAME,
            format!(
                "the summary counts {} files; the source has {files} entries, its root included",
                p.stats.files
            ),
        ));
    }
    let missing = src
        .entries()
        .filter(|(path, _)| dst_before.get(path).is_none())
        .count() as u64;
    if dry_run && p.stats.created_files != missing {
        return Err(Violation::new(
            NAME,
            format!(
                "the dry run counts {} created files; the destination lacks {missing} entries of the source",
                p.stats.created_files
            ),
        ));
    }
    Ok(())
}
