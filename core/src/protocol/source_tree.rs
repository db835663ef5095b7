//! What a source checks of its tree, once, for both drivers: before every rsync (a missing
//! or unmounted source must never run rsync, since with `--delete` an empty source wipes the
//! destination), and how the master's walk is reported to the machine.

use std::path::Path;

use super::Walked;
use crate::walk::{EntryKind, FileTree, Walk, WalkError};

/// Why the walk could not start, as a one-line message that says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct WalkFailed {
    message: String,
}

impl From<WalkError> for WalkFailed {
    fn from(e: WalkError) -> WalkFailed {
        // An OS error may span lines; the user sees one.
        let message = e
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        WalkFailed { message }
    }
}

/// Why the source tree at `root` must not be copied from, if it must not: it is missing,
/// not a directory, or empty although the plan found entries in it (`must_be_nonempty`: an
/// unmounted file system looks like an empty directory).
pub fn refuse_source<T: FileTree>(tree: &T, root: &Path, must_be_nonempty: bool) -> Option<String> {
    match tree.kind(root, true) {
        Err(e) => return Some(format!("{} cannot be read ({e})", root.display())),
        Ok(EntryKind::Dir) => {}
        Ok(_) => return Some(format!("{} is not a directory", root.display())),
    }
    if must_be_nonempty {
        match tree.list(root) {
            Err(e) => return Some(format!("{} cannot be listed ({e})", root.display())),
            Ok(listing) if listing.entries == 0 => {
                return Some(format!(
                    "{} is empty although it was not when the plan was made (an unmounted file system?)",
                    root.display()
                ))
            }
            Ok(_) => {}
        }
    }
    None
}

/// The master's walk of `root`, as the machine takes it: the units and counts, and whether
/// the root had any entry (a source found empty later is then suspect).
pub fn walked<T: FileTree>(tree: &T, root: &Path, walk: Walk) -> Walked {
    Walked {
        root_nonempty: tree.list(root).is_ok_and(|l| l.entries > 0),
        dirs_read: walk.dirs_read,
        errors: walk.errors.len() as u64,
        units: walk.units,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::RelPath;
    use crate::walk::{MemEntry, MemTree};

    #[test]
    fn refuses_a_missing_empty_or_non_directory_source() {
        let root = Path::new("/src");
        let mut tree = MemTree::new(root, 0);
        assert!(refuse_source(&tree, Path::new("/elsewhere"), false)
            .unwrap()
            .contains("cannot be read"));
        assert_eq!(refuse_source(&tree, root, false), None);
        assert!(refuse_source(&tree, root, true)
            .unwrap()
            .contains("is empty although it was not"));
        let file = RelPath::from_bytes(b"f").unwrap();
        tree.insert(file, MemEntry::File);
        assert_eq!(refuse_source(&tree, root, true), None);
        assert!(refuse_source(&tree, &root.join("f"), false)
            .unwrap()
            .contains("is not a directory"));
    }
}
