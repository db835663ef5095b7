//! Property tests of the walk over random trees, and golden cases.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::Path;

use proptest::prelude::*;
use regex::bytes::Regex;

use super::*;
use crate::unit::RelPath;

const ROOT: &str = "/src";

fn rel(s: &str) -> RelPath {
    RelPath::from_bytes(s.as_bytes()).unwrap()
}

const NAMES: &[&[u8]] = &[
    b"a",
    b"b",
    b"-x",
    b" sp ace",
    b"new\nline",
    b"\xff\xfe",
    b".snapshots",
    b"a-b",
    b"a.b",
    b"z",
];

#[derive(Debug, Clone)]
struct Op {
    parent: prop::sample::Index,
    kind: u8,
    name: usize,
    suffix: u8,
    unreadable: bool,
    owner: u32,
}

fn arb_op() -> impl Strategy<Value = Op> {
    (
        any::<prop::sample::Index>(),
        0u8..4,
        0..NAMES.len(),
        0u8..3,
        prop::bool::weighted(0.08),
        0u32..2,
    )
        .prop_map(|(parent, kind, name, suffix, unreadable, owner)| Op {
            parent,
            kind,
            name,
            suffix,
            unreadable,
            owner: owner * 1000,
        })
}

/// Builds a model tree from operations: each adds a dir (two kinds in four), a file or a
/// symlink below an existing directory.
fn build(ops: &[Op], allow_unreadable: bool) -> MemTree {
    let mut tree = MemTree::new(Path::new(ROOT), 0);
    let mut dirs = vec![RelPath::root()];
    for op in ops {
        let parent = dirs[op.parent.index(dirs.len())].clone();
        let mut name = NAMES[op.name].to_vec();
        if op.suffix > 0 {
            name.push(b'0' + op.suffix);
        }
        let path = parent.join(OsStr::from_bytes(&name));
        if tree.entries().any(|(p, _)| p == &path) {
            continue;
        }
        let entry = match op.kind {
            0 | 1 => MemEntry::Dir {
                owner: op.owner,
                unreadable: allow_unreadable && op.unreadable,
            },
            2 => MemEntry::File,
            _ => MemEntry::Symlink,
        };
        if matches!(entry, MemEntry::Dir { .. }) {
            dirs.push(path.clone());
        }
        tree.insert(path, entry);
    }
    tree
}

fn spec(depth: u32, exclude: bool, owner: Option<u32>) -> WalkSpec {
    WalkSpec {
        depth,
        filters: Default::default(),
        exclude_regex: exclude.then(|| Regex::new(DEFAULT_EXCLUDE).unwrap()),
        exclude_owner: owner,
        subpaths: vec![],
    }
}

/// Every entry of the tree is covered by exactly one unit, except entries at or below an
/// excluded directory, which are covered by none.
fn check_coverage(tree: &MemTree, walk: &Walk) -> Result<(), TestCaseError> {
    let units: BTreeMap<&RelPath, &Unit> = walk.units.iter().map(|u| (&u.path, u)).collect();
    prop_assert_eq!(units.len(), walk.units.len(), "a directory is two units");
    prop_assert!(
        units.contains_key(&RelPath::root()),
        "the root is not a unit"
    );
    for (path, _) in tree.entries() {
        let Some(parent) = path.parent() else {
            continue;
        };
        let excluded = ancestors_or_self(path).any(|p| {
            let name = &p.as_bytes()[p
                .parent()
                .map_or(0, |q| q.as_bytes().len() + !q.is_root() as usize)..];
            p.parent()
                .and_then(|q| units.get(&q))
                .is_some_and(|u| u.excluded.iter().any(|e| e == name))
        });
        let by_parent = units.get(&parent).is_some_and(|u| {
            let name = &path.as_bytes()[parent.as_bytes().len() + !parent.is_root() as usize..];
            !u.recursive && !u.excluded.iter().any(|e| e == name)
        });
        let by_ancestor = walk
            .units
            .iter()
            .filter(|u| u.recursive && u.path.is_ancestor_of(path))
            .count();
        let covered = by_parent as usize + by_ancestor;
        if excluded {
            prop_assert_eq!(covered, 0, "excluded {:?} is covered", path);
        } else {
            prop_assert_eq!(covered, 1, "{:?} is covered {} times", path, covered);
        }
    }
    Ok(())
}

fn ancestors_or_self(path: &RelPath) -> impl Iterator<Item = RelPath> {
    std::iter::successors(Some(path.clone()), |p| p.parent()).filter(|p| !p.is_root())
}

/// Units are directories of the tree at the right depths, listing failures are exactly
/// the unreadable directories, and exclusion follows the regex and the owner.
fn check_shape(tree: &MemTree, spec: &WalkSpec, walk: &Walk) -> Result<(), TestCaseError> {
    let entries: BTreeMap<&RelPath, &MemEntry> = tree.entries().collect();
    for unit in &walk.units {
        let Some(MemEntry::Dir { unreadable, .. }) = entries.get(&unit.path) else {
            return Err(TestCaseError::fail(format!(
                "unit {:?} is not a directory",
                unit.path
            )));
        };
        let depth = unit.path.depth();
        if unit.recursive && !unit.listing_failed {
            prop_assert_eq!(depth, spec.depth, "recursive unit {:?}", unit.path);
        } else {
            prop_assert!(
                depth < spec.depth,
                "unit {:?} at depth {}",
                unit.path,
                depth
            );
        }
        prop_assert_eq!(unit.listing_failed, *unreadable && depth < spec.depth);
        if !unit.path.is_root() {
            prop_assert!(
                !spec.excludes(tree, &unit.path.under(Path::new(ROOT))),
                "{:?} should be excluded",
                unit.path
            );
        }
        for name in &unit.excluded {
            let full = unit
                .path
                .join(OsStr::from_bytes(name))
                .under(Path::new(ROOT));
            prop_assert!(spec.excludes(tree, &full));
        }
    }
    let failed = walk.units.iter().filter(|u| u.listing_failed).count();
    prop_assert_eq!(walk.errors.len(), failed);
    Ok(())
}

use std::os::unix::ffi::OsStrExt;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn covers_every_entry_once(
        ops in proptest::collection::vec(arb_op(), 0..80),
        depth in 0u32..5,
        exclude in any::<bool>(),
        owner in prop::option::of(prop::sample::select(vec![0u32, 1000])),
    ) {
        let tree = build(&ops, true);
        let spec = spec(depth, exclude, owner);
        let walk = walk(&tree, Path::new(ROOT), &spec).unwrap();
        check_coverage(&tree, &walk)?;
        check_shape(&tree, &spec, &walk)?;
    }

    #[test]
    fn subpaths_keep_coverage(
        ops in proptest::collection::vec(arb_op(), 0..80),
        depth in 0u32..4,
        picks in proptest::collection::vec((any::<prop::sample::Index>(), 0u32..4), 1..4),
    ) {
        let tree = build(&ops, true);
        let dirs: Vec<RelPath> = tree.entries()
            .filter(|(_, e)| matches!(e, MemEntry::Dir { .. }))
            .map(|(p, _)| p.clone())
            .collect();
        let mut spec = spec(depth, true, None);
        spec.subpaths = picks.iter()
            .map(|(i, n)| SubPath { path: dirs[i.index(dirs.len())].clone(), extra_depth: *n })
            .collect();
        match walk(&tree, Path::new(ROOT), &spec) {
            Ok(walk) => {
                check_coverage(&tree, &walk)?;
                // Each sub-path is a unit, unless a directory above it could not be listed
                // (then that directory's recursive unit covers it).
                for sub in &spec.subpaths {
                    let unit = walk.units.iter().any(|u| u.path == sub.path);
                    let below_failure = walk.units.iter().any(|u| u.listing_failed && u.path.is_ancestor_of(&sub.path));
                    prop_assert!(unit || below_failure, "sub-path {:?} is not a unit", sub.path);
                }
            }
            Err(WalkError::SubpathNotAUnit { .. } | WalkError::SubpathNotDeepEnough { .. }) => {}
            Err(other) => return Err(TestCaseError::fail(other.to_string())),
        }
    }

    #[test]
    fn is_deterministic(ops in proptest::collection::vec(arb_op(), 0..80), depth in 0u32..5) {
        let tree = build(&ops, true);
        let spec = spec(depth, true, None);
        let first = walk(&tree, Path::new(ROOT), &spec).unwrap();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let single = pool.install(|| walk(&tree, Path::new(ROOT), &spec).unwrap());
        prop_assert_eq!(&first.units, &single.units);
        prop_assert_eq!(first.dirs_read, single.dirs_read);
        prop_assert_eq!(first.entries_seen, single.entries_seen);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The real file system, walked through `FsTree`, gives the same units as the model.
    #[test]
    fn real_tree_matches_model(ops in proptest::collection::vec(arb_op(), 0..60), depth in 0u32..4) {
        let model = build(&ops, false);
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("src");
        for (path, entry) in model.entries() {
            let full = path.under(&root);
            match entry {
                MemEntry::Dir { .. } => std::fs::create_dir(&full).unwrap(),
                MemEntry::File => std::fs::write(&full, b"x").unwrap(),
                MemEntry::Symlink => std::os::unix::fs::symlink("/nonexistent", &full).unwrap(),
            }
        }
        let spec = spec(depth, true, None);
        let real = walk(&FsTree, &root, &spec).unwrap();
        let modelled = walk(&model, Path::new(ROOT), &spec).unwrap();
        type Comparable = (RelPath, bool, Vec<Vec<u8>>, Option<u64>);
        let strip = |w: &Walk| -> Vec<Comparable> {
            w.units.iter()
                .map(|u| (u.path.clone(), u.recursive, u.excluded.clone(), (!u.recursive).then_some(u.weight)))
                .collect()
        };
        prop_assert_eq!(strip(&real), strip(&modelled));
        prop_assert_eq!(real.entries_seen, modelled.entries_seen);
    }
}

/// A small tree with every case: the golden list of `(recursive, path)` for depth 2.
#[test]
fn golden_depth_two() {
    let mut tree = MemTree::new(Path::new(ROOT), 0);
    for (path, entry) in [
        (
            "a",
            MemEntry::Dir {
                owner: 0,
                unreadable: false,
            },
        ),
        ("a/f", MemEntry::File),
        (
            "a/x",
            MemEntry::Dir {
                owner: 0,
                unreadable: false,
            },
        ),
        (
            "a/x/deep",
            MemEntry::Dir {
                owner: 0,
                unreadable: false,
            },
        ),
        ("a/link", MemEntry::Symlink),
        (
            "b",
            MemEntry::Dir {
                owner: 0,
                unreadable: true,
            },
        ),
        (
            "c",
            MemEntry::Dir {
                owner: 0,
                unreadable: false,
            },
        ),
        (
            "c/.snapshots",
            MemEntry::Dir {
                owner: 0,
                unreadable: false,
            },
        ),
        (
            "c/.snapshots/s1",
            MemEntry::Dir {
                owner: 0,
                unreadable: false,
            },
        ),
        (
            "d",
            MemEntry::Dir {
                owner: 1000,
                unreadable: false,
            },
        ),
        (
            "d/.snapshots",
            MemEntry::Dir {
                owner: 1000,
                unreadable: false,
            },
        ),
        ("top", MemEntry::File),
    ] {
        tree.insert(rel(path), entry);
    }
    let spec = spec(2, true, Some(0));
    let walk = walk(&tree, Path::new(ROOT), &spec).unwrap();
    let got: Vec<(bool, &str, bool)> = walk
        .units
        .iter()
        .map(|u| {
            (
                u.recursive,
                std::str::from_utf8(u.path.as_bytes()).unwrap(),
                u.listing_failed,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (false, "", false),
            (false, "a", false),
            (true, "a/x", false),
            (true, "b", true),
            (false, "c", false),
            (false, "d", false),
            (true, "d/.snapshots", false),
        ]
    );
    assert_eq!(walk.units[4].excluded, vec![b".snapshots".to_vec()]);
    assert_eq!(walk.units[1].weight, 4);
    assert_eq!(walk.dirs_read, 4);
    assert_eq!(walk.errors.len(), 1);
    assert_eq!(walk.errors[0].path, Path::new("/src/b"));
}

#[test]
fn subpath_rules_follow_vsc_zk() {
    let mut tree = MemTree::new(Path::new(ROOT), 0);
    for path in [
        "a1",
        "a1/ab2",
        "a1/ab2/aa3",
        "a1/ab2/aa3/x",
        "a1/ab2/aa3/x/y",
        "b",
    ] {
        tree.insert(
            rel(path),
            MemEntry::Dir {
                owner: 0,
                unreadable: false,
            },
        );
    }
    let root = Path::new(ROOT);
    let with = |depth: u32, subs: &[&str]| {
        let mut spec = WalkSpec::with_depth(depth);
        spec.subpaths = subs
            .iter()
            .map(|s| SubPath::parse(OsStr::new(s), root).unwrap())
            .collect();
        walk(&tree, root, &spec)
    };
    let units = |w: Walk| -> Vec<(bool, String)> {
        w.units
            .iter()
            .map(|u| {
                (
                    u.recursive,
                    String::from_utf8_lossy(u.path.as_bytes()).into_owned(),
                )
            })
            .collect()
    };
    // a1/ab2 is a recursive unit at depth 2; walking it 2 deeper reaches depth 4.
    assert_eq!(
        units(with(2, &["2_a1/ab2"]).unwrap()),
        vec![
            (false, "".into()),
            (false, "a1".into()),
            (false, "a1/ab2".into()),
            (false, "a1/ab2/aa3".into()),
            (true, "a1/ab2/aa3/x".into()),
            (false, "b".into()),
        ]
    );
    // vsc-zk's README example: 3_a1/ab2/aa3 with depth 3.
    assert!(with(3, &["1_/src/a1/ab2/aa3"]).is_ok());
    // Not a unit: deeper than the depth allows, or missing.
    assert!(matches!(
        with(1, &["1_a1/ab2"]),
        Err(WalkError::SubpathNotAUnit { .. })
    ));
    assert!(matches!(
        with(3, &["1_nope"]),
        Err(WalkError::SubpathNotAUnit { .. })
    ));
    // Reach must not shrink: first against the depth, then against the previous sub-path.
    assert!(matches!(
        with(3, &["1_a1"]),
        Err(WalkError::SubpathNotDeepEnough {
            reach: 2,
            level: 3,
            ..
        })
    ));
    assert!(matches!(
        with(2, &["3_a1/ab2", "1_b"]),
        Err(WalkError::SubpathNotDeepEnough {
            reach: 2,
            level: 5,
            ..
        })
    ));
    // A later sub-path may lie inside an earlier one's reach.
    assert!(with(2, &["1_a1/ab2", "1_a1/ab2/aa3"]).is_ok());
}

#[test]
fn bad_roots() {
    let tree = build(&[], false);
    let spec = WalkSpec::with_depth(1);
    assert!(matches!(
        walk(&tree, Path::new("/elsewhere"), &spec),
        Err(WalkError::RootMissing { .. })
    ));
    let mut tree = MemTree::new(Path::new(ROOT), 0);
    tree.insert(rel("f"), MemEntry::File);
    assert!(matches!(
        walk(&tree, Path::new("/src/f"), &spec),
        Err(WalkError::RootNotDir { .. })
    ));
}

#[test]
fn units_carry_the_mount_points_in_their_reach() {
    let dir = || MemEntry::Dir {
        owner: 0,
        unreadable: false,
    };
    let mut tree = MemTree::new(Path::new(ROOT), 0);
    for d in ["a", "a/m", "b", "b/c", "b/c/deep", "b/c/deep/er"] {
        tree.insert(rel(d), dir());
    }
    // `a/m` is a unit of its own at depth 2; `b/c/deep/er` lies inside the recursive unit
    // `b/c`; an unmounted one is not in the table and cannot be planned for.
    tree.set_mount(rel("a/m"), true);
    tree.set_mount(rel("b/c/deep/er"), true);
    tree.set_mount(rel("b/c/deep"), false);
    let walked = walk(&tree, Path::new(ROOT), &WalkSpec::with_depth(2)).unwrap();
    let mounts: BTreeMap<RelPath, Vec<RelPath>> = walked
        .units
        .iter()
        .map(|u| (u.path.clone(), u.mounts.clone()))
        .collect();
    assert_eq!(mounts[&rel("a/m")], vec![rel("a/m")]);
    assert_eq!(mounts[&rel("a")], Vec::<RelPath>::new());
    assert_eq!(mounts[&rel("b/c")], Vec::<RelPath>::new());
    tree.set_mount(rel("b/c/deep"), true);
    let walked = walk(&tree, Path::new(ROOT), &WalkSpec::with_depth(2)).unwrap();
    let unit = walked.units.iter().find(|u| u.path == rel("b/c")).unwrap();
    assert_eq!(unit.mounts, vec![rel("b/c/deep"), rel("b/c/deep/er")]);
}

#[test]
fn filters_leave_directories_undescended_and_entries_uncounted() {
    let mut tree = MemTree::new(Path::new(ROOT), 0);
    let dir = MemEntry::Dir {
        owner: 0,
        unreadable: false,
    };
    for (path, entry) in [
        ("a", dir.clone()),
        ("a/f.o", MemEntry::File),
        ("a/g.c", MemEntry::File),
        ("a/tmp", dir.clone()),
        ("a/tmp/t", MemEntry::File),
        ("a/keep", dir.clone()),
        ("a/keep/tmp", dir.clone()),
        ("b", dir.clone()),
        ("b/f", MemEntry::File),
        ("c", dir.clone()),
        ("c/b", dir.clone()),
    ] {
        tree.insert(rel(path), entry);
    }
    let mut spec = WalkSpec::with_depth(2);
    for rule in ["- tmp/", "- *.o", "- /b/"] {
        spec.filters.push_filter(rule.as_bytes()).unwrap();
    }
    let w = walk(&tree, Path::new(ROOT), &spec).unwrap();
    let got: Vec<(&[u8], bool, u64)> = w
        .units
        .iter()
        .map(|u| (u.path.as_bytes(), u.recursive, u.weight))
        .collect();
    let rec = Unit::recursive_weight;
    assert_eq!(
        got,
        [
            (&b""[..], false, 1 + 2),
            (b"a", false, 1 + 2),
            (b"a/keep", true, rec(1)),
            (b"c", false, 1 + 1),
            (b"c/b", true, rec(0)),
        ]
    );
    assert!(w.units.iter().all(|u| u.excluded.is_empty()));
    assert_eq!(w.entries_seen, 2 + 2 + 1);
    // A sub-path below an excluded directory is not a unit of the walk.
    spec.subpaths = vec![SubPath {
        path: rel("a/tmp"),
        extra_depth: 1,
    }];
    assert!(matches!(
        walk(&tree, Path::new(ROOT), &spec),
        Err(WalkError::SubpathNotAUnit { .. })
    ));
}
