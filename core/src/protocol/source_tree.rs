//! What a source checks of its tree, once, for both drivers: before every rsync (a missing,
//! unmounted or wrong source must never run rsync, since with `--delete` an empty or other
//! tree wipes the destination), and how the master's walk is reported to the machine.
//!
//! The guards come from the plan, so they hold across hosts whose mount paths differ: the
//! names of the root's directories the master saw (a sample of them), whether the root had
//! entries, the run's unit directories, and the mount points in their reach.

use std::path::Path;

use super::records::TreeId;
use super::Walked;
use crate::filter::FilterList;
use crate::unit::RelPath;
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

/// Top-level directory names the plan keeps (as hashes) to recognise the source tree.
pub const TOP_SAMPLE: usize = 64;

/// What must hold of the source tree before a run copies from it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Guards {
    /// The root had entries when the plan was made (an empty root now is unmounted).
    pub root_nonempty: bool,
    /// A sample of the root's directory names the plan saw ([`top_sample`]).
    pub top_dirs: Vec<Vec<u8>>,
    /// The run's unit directories: each must be a directory (not a symlink).
    pub dirs: Vec<RelPath>,
    /// Mount points in the run's reach: each must still be one.
    pub mounts: Vec<RelPath>,
    /// Directories the run copies with `--delete` and without recursion, with the entries
    /// the plan saw in each.
    pub listed: Vec<(RelPath, u64)>,
    /// The percentage of those entries a directory may have lost before its `--delete` is
    /// refused (100: never refused).
    pub delete_guard: u32,
    /// The session's filter rules: the entries counted now are those the plan counted,
    /// what the rules leave out is not.
    pub filters: FilterList,
}

/// Entries a directory may always lose before the delete guard looks at the percentage.
pub const DELETE_GUARD_SLACK: u64 = 10;

/// The sample of the root's directory names a plan keeps: the [`TOP_SAMPLE`] names of
/// smallest hash (FNV-1a), so that the sample does not depend on listing order.
pub fn top_sample(names: impl IntoIterator<Item = impl AsRef<[u8]>>) -> Vec<Vec<u8>> {
    let hash = |name: &[u8]| {
        name.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        })
    };
    let mut named: Vec<(u64, Vec<u8>)> = names
        .into_iter()
        .map(|n| (hash(n.as_ref()), n.as_ref().to_vec()))
        .collect();
    named.sort_unstable();
    named.dedup();
    named.truncate(TOP_SAMPLE);
    named.into_iter().map(|(_, n)| n).collect()
}

/// Why a run must not copy from the source tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The tree is missing, not a directory, empty although the plan found entries in it
    /// (an unmounted file system looks like an empty directory), not the tree the plan was
    /// made of (most of the root's directories the plan saw are missing), or a mount point
    /// in the run's reach is not mounted: this source must not copy at all.
    Tree(String),
    /// One of the run's unit directories is gone or no longer a directory (deleted since
    /// the plan, or a symlink now, which rsync would follow): the run fails, the source
    /// goes on.
    Unit(String),
    /// A directory copied with `--delete` lost more of its entries since the plan than the
    /// delete guard allows: the run fails for good, reported, nothing deleted.
    Deletes(String),
}

/// Why a run with `guards` must not copy from the source tree at `root`, if it must not.
pub fn refuse_source<T: FileTree>(tree: &T, root: &Path, guards: &Guards) -> Option<Refusal> {
    refuse_tree(tree, root, guards)
        .map(Refusal::Tree)
        .or_else(|| refuse_units(tree, root, guards).map(Refusal::Unit))
        .or_else(|| refuse_deletes(tree, root, guards).map(Refusal::Deletes))
}

/// Why a directory's `--delete` must not run: its source lost more than the guard's
/// percentage of the entries the plan saw (beyond a small slack).
fn refuse_deletes<T: FileTree>(tree: &T, root: &Path, guards: &Guards) -> Option<String> {
    if guards.delete_guard >= 100 {
        return None;
    }
    guards.listed.iter().find_map(|(dir, planned)| {
        let path = dir.under(root);
        let keep = |name: &_, is_dir| guards.filters.keeps_entry(dir, name, is_dir);
        let now = tree.list_kept(&path, &keep).ok()?.entries;
        let lost = planned.saturating_sub(now);
        (lost > DELETE_GUARD_SLACK && lost * 100 > planned * u64::from(guards.delete_guard))
            .then(|| {
                format!(
                    "{} has {now} entries, {lost} fewer than the {planned} the plan saw: its --delete would remove them at the destination, so it was not run (more than the --delete-guard of {}%); check the source, or give --delete-guard 100 to allow it",
                    path.display(),
                    guards.delete_guard
                )
            })
    })
}

fn refuse_tree<T: FileTree>(tree: &T, root: &Path, guards: &Guards) -> Option<String> {
    match tree.kind(root, true) {
        Err(e) => return Some(format!("{} cannot be read ({e})", root.display())),
        Ok(EntryKind::Dir) => {}
        Ok(_) => return Some(format!("{} is not a directory", root.display())),
    }
    if let Some(reason) = other_tree(tree, root, &guards.top_dirs) {
        return Some(reason);
    }
    if guards.root_nonempty && guards.top_dirs.is_empty() {
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
    guards.mounts.iter().find_map(|m| unmounted(tree, root, m))
}

fn refuse_units<T: FileTree>(tree: &T, root: &Path, guards: &Guards) -> Option<String> {
    guards.dirs.iter().find_map(|dir| {
        let path = dir.under(root);
        let kind = tree.kind(&path, false);
        (!matches!(kind, Ok(EntryKind::Dir))).then(|| {
            format!(
                "{} is no longer a directory ({}): no rsync was run for its chunk",
                path.display(),
                match kind {
                    Ok(EntryKind::Symlink) => "a symlink now".to_owned(),
                    Ok(_) => "a file now".to_owned(),
                    Err(e) => e.to_string(),
                }
            )
        })
    })
}

/// Why `root` is not the tree the plan saw: more than half of the sampled directory names
/// are not directories in it (one lookup each, not a listing of a root that may be huge).
fn other_tree<T: FileTree>(tree: &T, root: &Path, top: &[Vec<u8>]) -> Option<String> {
    use std::os::unix::ffi::OsStrExt;
    if top.is_empty() {
        return None;
    }
    let missing = top
        .iter()
        .filter(|name| {
            let path = root.join(std::ffi::OsStr::from_bytes(name));
            !matches!(tree.kind(&path, false), Ok(EntryKind::Dir))
        })
        .count();
    if missing == top.len() {
        return Some(format!(
            "{} has none of the {} top-level directories the plan saw (an unmounted file system, or another tree?): mount it, or give the --path of the tree the session copies",
            root.display(),
            top.len()
        ));
    }
    (missing * 2 > top.len()).then(|| {
        format!(
            "{} does not look like the session's source tree ({missing} of {} top-level directories the plan saw are not there): give the --path of the tree the session copies, or another --session",
            root.display(),
            top.len()
        )
    })
}

/// Why the mount point `mount` is not mounted, if it is not.
/// Why the planned mount point `mount` (below `root`) is not one now, if it is not: it is
/// on the device of its parent, or cannot be read.
pub fn unmounted<T: FileTree>(tree: &T, root: &Path, mount: &RelPath) -> Option<String> {
    let path = mount.under(root);
    let parent = mount.parent().unwrap_or_default().under(root);
    match (tree.device(&path), tree.device(&parent)) {
        (Ok(here), Ok(above)) if here != above => None,
        (Ok(_), Ok(_)) => Some(format!(
            "{} is not mounted (it was a mount point when the plan was made)",
            path.display()
        )),
        (Err(e), _) | (_, Err(e)) => Some(format!(
            "{} cannot be read ({e}; it was a mount point when the plan was made)",
            path.display()
        )),
    }
}

/// Why copying from the source tree `source` into the destination tree `dest` must not
/// happen, if it must not: on one host (the same boot id), one tree's root is the other's
/// root or one of its ancestors (so rsync, with `--delete` above all, would write into or
/// delete from the tree it reads). Trees of different hosts are never found overlapping.
pub fn overlap(source: &TreeId, dest: &TreeId) -> Option<String> {
    if source.boot_id != dest.boot_id {
        return None;
    }
    let (Some(src_root), Some(dst_root)) = (source.chain.first(), dest.chain.first()) else {
        return None;
    };
    let show = |t: &TreeId| String::from_utf8_lossy(&t.path).into_owned();
    let (src, dst) = (show(source), show(dest));
    let how = if src_root == dst_root {
        format!("the destination tree {dst} is the source tree {src}")
    } else if dest.chain.contains(src_root) {
        format!("the destination tree {dst} is inside the source tree {src}")
    } else if source.chain.contains(dst_root) {
        format!("the source tree {src} is inside the destination tree {dst}")
    } else {
        return None;
    };
    Some(format!(
        "{how} (same host, same device and inode): copying would write into the tree it reads; give trees that do not contain each other"
    ))
}

/// The master's walk of `root`, as the machine takes it: the units and counts, and whether
/// the root had any entry (a source found empty later is then suspect).
pub fn walked<T: FileTree>(tree: &T, root: &Path, walk: Walk) -> Walked {
    use std::os::unix::ffi::OsStrExt;
    let listing = tree.list(root).unwrap_or_default();
    Walked {
        root_nonempty: listing.entries > 0,
        top_dirs: top_sample(listing.subdirs.iter().map(|n| n.as_bytes())),
        dirs_read: walk.dirs_read,
        errors: walk.errors.len() as u64,
        units: walk.units,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::walk::{MemEntry, MemTree};

    fn tree_reason(tree: &MemTree, root: &Path, guards: &Guards) -> String {
        match refuse_source(tree, root, guards) {
            Some(Refusal::Tree(why)) => why,
            other => panic!("expected a refusal of the tree, got {other:?}"),
        }
    }

    fn rel(p: &str) -> RelPath {
        RelPath::from_bytes(p.as_bytes()).unwrap()
    }

    fn dir() -> MemEntry {
        MemEntry::Dir {
            owner: 0,
            unreadable: false,
        }
    }

    #[test]
    fn refuses_a_missing_empty_or_non_directory_source() {
        let root = Path::new("/src");
        let mut tree = MemTree::new(root, 0);
        let nonempty = Guards {
            root_nonempty: true,
            ..Guards::default()
        };
        assert!(
            tree_reason(&tree, Path::new("/elsewhere"), &Guards::default())
                .contains("cannot be read")
        );
        assert_eq!(refuse_source(&tree, root, &Guards::default()), None);
        assert!(tree_reason(&tree, root, &nonempty).contains("is empty although it was not"));
        tree.insert(rel("f"), MemEntry::File);
        assert_eq!(refuse_source(&tree, root, &nonempty), None);
        assert!(
            tree_reason(&tree, &root.join("f"), &Guards::default()).contains("is not a directory")
        );
    }

    #[test]
    fn refuses_another_tree_and_missing_unit_directories() {
        let root = Path::new("/src");
        let mut tree = MemTree::new(root, 0);
        for d in ["a", "b", "c", "d"] {
            tree.insert(rel(d), dir());
        }
        let planned = Guards {
            top_dirs: top_sample(["a", "b", "c", "d"]),
            dirs: vec![rel("a"), rel("b")],
            ..Guards::default()
        };
        assert_eq!(refuse_source(&tree, root, &planned), None);
        // Half the names may change between the plan and the run; more may not.
        let mut other = MemTree::new(root, 0);
        for d in ["a", "b", "x", "y"] {
            other.insert(rel(d), dir());
        }
        assert_eq!(refuse_source(&other, root, &planned), None);
        let mut other = MemTree::new(root, 0);
        for d in ["a", "x", "y", "z"] {
            other.insert(rel(d), dir());
        }
        let why = tree_reason(&other, root, &planned);
        assert!(
            why.contains("does not look like the session's source tree (3 of 4"),
            "{why}"
        );
        // A unit directory that is gone, or a file now.
        let mut tree = MemTree::new(root, 0);
        for d in ["a", "c", "d"] {
            tree.insert(rel(d), dir());
        }
        tree.insert(rel("b"), MemEntry::File);
        let Some(Refusal::Unit(why)) = refuse_source(&tree, root, &planned) else {
            panic!("a file where a unit directory was is refused for the run");
        };
        assert!(
            why.contains("/src/b is no longer a directory (a file now)"),
            "{why}"
        );
    }

    fn tree(boot: &str, path: &str, chain: &[(u64, u64)]) -> TreeId {
        TreeId {
            boot_id: boot.into(),
            path: path.as_bytes().to_vec(),
            chain: chain.to_vec(),
        }
    }

    #[test]
    fn overlapping_trees_on_one_host_are_found_by_device_and_inode() {
        // /data (8,2) under / (8,1); /data/a (8,10), /data/a/sub (8,11); /data/b (8,20).
        let a = tree("boot1", "/data/a", &[(8, 10), (8, 2), (8, 1)]);
        let sub = tree("boot1", "/data/a/sub", &[(8, 11), (8, 10), (8, 2), (8, 1)]);
        let b = tree("boot1", "/data/b", &[(8, 20), (8, 2), (8, 1)]);
        assert_eq!(overlap(&a, &b), None, "siblings do not overlap");
        assert_eq!(overlap(&b, &a), None);
        let inside = overlap(&a, &sub).unwrap();
        assert!(
            inside.starts_with(
                "the destination tree /data/a/sub is inside the source tree /data/a (same host"
            ),
            "{inside}"
        );
        let around = overlap(&sub, &a).unwrap();
        assert!(
            around
                .starts_with("the source tree /data/a/sub is inside the destination tree /data/a"),
            "{around}"
        );
        // The same directory under another path (a symlink, a bind mount).
        let alias = tree("boot1", "/mnt/alias", &[(8, 10), (9, 1), (8, 1)]);
        let same = overlap(&a, &alias).unwrap();
        assert!(
            same.starts_with("the destination tree /mnt/alias is the source tree /data/a"),
            "{same}"
        );
        // The same numbers on another host mean nothing.
        let elsewhere = tree("boot2", "/data/a/sub", &[(8, 11), (8, 10), (8, 2), (8, 1)]);
        assert_eq!(overlap(&a, &elsewhere), None);
        assert_eq!(overlap(&a, &tree("boot1", "/", &[])), None);
    }

    #[test]
    fn refuses_a_delete_of_a_directory_that_lost_most_of_its_entries() {
        let root = Path::new("/src");
        let mut tree = MemTree::new(root, 0);
        tree.insert(rel("d"), dir());
        for i in 0..30 {
            tree.insert(rel(&format!("d/f{i}")), MemEntry::File);
        }
        let guards = |planned: u64, percent: u32| Guards {
            listed: vec![(rel("d"), planned)],
            delete_guard: percent,
            ..Guards::default()
        };
        // 30 of 40 left: fine; 30 of 100: refused at 50%, allowed at 100%.
        assert_eq!(refuse_source(&tree, root, &guards(40, 50)), None);
        let Some(Refusal::Deletes(why)) = refuse_source(&tree, root, &guards(100, 50)) else {
            panic!("a directory that lost 70% of its entries is refused");
        };
        assert!(
            why.contains("has 30 entries, 70 fewer than the 100"),
            "{why}"
        );
        assert_eq!(refuse_source(&tree, root, &guards(100, 100)), None);
        // A small directory may lose a few entries whatever the percentage.
        assert_eq!(refuse_source(&tree, root, &guards(38, 1)), None);
        // With filter rules the entries are counted as the walk counted them: what the
        // rules exclude is not there for the guard either.
        let mut filtered = guards(40, 50);
        filtered.filters.push_pattern(b"f1*", false).unwrap();
        let Some(Refusal::Deletes(why)) = refuse_source(&tree, root, &filtered) else {
            panic!("the filtered count is compared");
        };
        assert!(why.contains("has 19 entries"), "{why}");
    }

    #[test]
    fn refuses_an_unmounted_sub_mount() {
        let root = Path::new("/src");
        let mut tree = MemTree::new(root, 0);
        tree.insert(rel("a"), dir());
        tree.insert(rel("a/m"), dir());
        tree.insert(rel("a/m/f"), MemEntry::File);
        tree.set_mount(rel("a/m"), true);
        let guards = Guards {
            dirs: vec![rel("a")],
            mounts: vec![rel("a/m")],
            ..Guards::default()
        };
        assert_eq!(refuse_source(&tree, root, &guards), None);
        tree.set_mount(rel("a/m"), false);
        let why = tree_reason(&tree, root, &guards);
        assert!(why.contains("/src/a/m is not mounted"), "{why}");
    }
}
