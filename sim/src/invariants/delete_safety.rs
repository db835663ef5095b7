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
            // The directory whose own entries (`-d`) or subtree (`-r`) the entry reads. With
            // `-d`, `dir/name` (a bucket's entry) is one of `dir`'s own entries, a directory
            // without its contents, as rsync (and the model) copies it: a mount point named
            // so is not read, its parent is.
            let dir: &[u8] = match entry {
                b"." => b"",
                e if !recursive && !e.ends_with(b"/.") => crate::fs_model::parent(e),
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

#[cfg(test)]
mod tests {
    use super::*;
    use zkrsync_core::protocol::rsync_job::{RsyncInvocation, RsyncJob};

    fn job(flag: &str, entries: &[&str]) -> RsyncJob {
        let mut files_from = Vec::new();
        for e in entries {
            files_from.extend_from_slice(e.as_bytes());
            files_from.push(0);
        }
        RsyncJob {
            chunk: "0000000032".into(),
            dest: "d3".into(),
            url: String::new(),
            password: None,
            invocations: vec![RsyncInvocation {
                args: vec![flag.into()],
                files_from,
                excludes: Vec::new(),
                filters: Vec::new(),
                buckets: Vec::new(),
            }],
            units: 1,
            guards: Default::default(),
            dest_tree: None,
            max_delete: None,
            itemize: false,
        }
    }

    #[test]
    fn a_mount_point_named_as_an_entry_of_its_parent_is_not_read() {
        let unmounted: std::collections::BTreeSet<Vec<u8>> = [b"d1".to_vec()].into();
        // Seed 1204: a bucket of the root lists the mount point `d1` by name, with -d.
        assert!(check_sub_mounts("s7", &job("-d", &["d1", "f0"]), &unmounted).is_ok());
        assert!(check_sub_mounts("s7", &job("-d", &["."]), &unmounted).is_ok());
        // Its own entries, whole or a bucket of them, and its subtree are read.
        for j in [
            job("-d", &["d1/."]),
            job("-d", &["d1/flat7"]),
            job("-r", &["d1"]),
            job("-r", &["."]),
        ] {
            assert!(check_sub_mounts("s7", &j, &unmounted).is_err(), "{j:?}");
        }
    }
}
