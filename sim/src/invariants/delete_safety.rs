//! 6. Safety of `--delete`: no rsync runs from a source tree that is missing or unmounted,
//!    nor over a sub-mount that is not mounted, and nothing is ever deleted at the
//!    destination that the source has.

use super::{Check, Violation};
use crate::fs_model::Tree;

const NAME: &str = "delete-safety";

/// When rsync would run from a source whose tree is not there.
pub fn check_spawn(client: &str, chunk: &str, source_present: bool) -> Check {
    if source_present {
        Ok(())
    } else {
        Err(Violation::new(
            NAME,
            format!("{client} ran rsync for chunk {chunk} from a missing source tree"),
        ))
    }
}

/// When rsync would run over a sub-mount of the source that is not mounted on this host
/// (an empty directory to it): a unit copied recursively at or above the mount point, or
/// the mount point's own entries.
pub fn check_sub_mounts(
    client: &str,
    job: &zkrsync_core::protocol::RsyncJob,
    unmounted: &std::collections::BTreeSet<Vec<u8>>,
) -> Check {
    for inv in &job.invocations {
        let recursive = inv.args.iter().any(|a| a == "-r");
        for entry in inv.files_from.split(|&b| b == 0).filter(|e| !e.is_empty()) {
            let dir: &[u8] = match entry {
                b"." => b"",
                e => e.strip_suffix(b"/.").unwrap_or(e),
            };
            let hit = unmounted
                .iter()
                .find(|m| (recursive && crate::fs_model::is_within(m, dir)) || m.as_slice() == dir);
            if let Some(m) = hit {
                return Err(Violation::new(
                    NAME,
                    format!(
                        "{client} ran rsync for chunk {} over {}, a sub-mount that is not mounted",
                        job.chunk,
                        String::from_utf8_lossy(m)
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// After a transfer: the session has deleted no more than its `--max-delete` budget.
pub fn check_budget(deleted: u64, budget: Option<u64>) -> Check {
    match budget {
        Some(n) if deleted > n => Err(Violation::new(
            NAME,
            format!("the session deleted {deleted} entries at the destination, more than its --max-delete budget of {n}"),
        )),
        _ => Ok(()),
    }
}

/// After a transfer: what it deleted is not in the source.
pub fn check_deleted(chunk: &str, deleted: &[Vec<u8>], src: &Tree) -> Check {
    match deleted.iter().find(|p| src.get(p).is_some()) {
        None => Ok(()),
        Some(p) => Err(Violation::new(
            NAME,
            format!(
                "rsync for chunk {chunk} deleted {} at the destination, which the source has",
                String::from_utf8_lossy(p)
            ),
        )),
    }
}
