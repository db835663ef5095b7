//! 6. Safety of `--delete`: no rsync runs from a source tree that is missing or unmounted,
//!    and nothing is ever deleted at the destination that the source has.

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
