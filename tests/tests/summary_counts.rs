//! The master's summary counts what one `rsync -a --stats` of the same tree counts, with the
//! same options, whatever the chunking: the odd-name tree copied at several depths (and with
//! directories cut into buckets), as a dry run, a first copy, a copy with nothing to do, and
//! `--delete` of extraneous entries, dry and for real. Every number is rsync's own, taken
//! at test time from a reference copy kept in the same state as the destination.

use std::fs;
use std::path::Path;

use zkrsync_core::rsync_stats::RsyncStats;
use zkrsync_tests::cluster::{differences, rsync_trees, session_summary};
use zkrsync_tests::tree::{age, generate};
use zkrsync_tests::zk::ZkServer;

/// The counts that must be rsync's.
const COUNTS: [&str; 6] = [
    "files",
    "created_files",
    "deleted_files",
    "regular_files_transferred",
    "total_file_size",
    "transferred_file_size",
];

fn counts_of(s: &RsyncStats) -> Vec<(&'static str, u64)> {
    let values = [
        s.files,
        s.created_files,
        s.deleted_files,
        s.regular_files_transferred,
        s.total_file_size,
        s.transferred_file_size,
    ];
    COUNTS.into_iter().zip(values).collect()
}

/// `rsync -a --stats OPTS SRC/ DST/`: what one rsync counts.
fn rsync(src: &Path, dst: &Path, opts: &[&str]) -> RsyncStats {
    let mut args = vec!["-a", "--stats"];
    args.extend_from_slice(opts);
    RsyncStats::parse(&rsync_trees(&args, src, dst)).unwrap()
}

/// Entries that the source does not have, the same in both trees: a file in the root, a
/// directory with contents, files deep down and in the flat directory.
fn extraneous(dst: &Path) {
    fs::write(dst.join("extra-file"), b"x").unwrap();
    fs::create_dir_all(dst.join("extra-dir/sub")).unwrap();
    fs::write(dst.join("extra-dir/sub/f"), b"x").unwrap();
    fs::write(dst.join("extra-dir/g"), b"x").unwrap();
    let deep = subdirs(dst)
        .into_iter()
        .filter(|p| !p.ends_with("extra-dir"))
        .flat_map(|p| subdirs(&p))
        .next()
        .expect("a directory two levels down");
    fs::write(deep.join("extra deep"), b"x").unwrap();
    if dst.join("flat").is_dir() {
        fs::write(dst.join("flat/extra-flat"), b"x").unwrap();
    }
}

/// The directories in `dir` (not symlinks to one), sorted.
fn subdirs(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut dirs: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs
}

/// The counts of the session's summary after copying `src` to `dst` with `opts`.
fn session(zk: &str, name: &str, src: &Path, dst: &Path, opts: &[&str]) -> RsyncStats {
    let summary = session_summary(zk, name, src, dst, opts);
    let stats = &summary["stats"];
    let n = |key: &str| {
        stats[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key}: {summary}"))
    };
    RsyncStats {
        files: n("files"),
        created_files: n("created_files"),
        deleted_files: n("deleted_files"),
        regular_files_transferred: n("regular_files_transferred"),
        total_file_size: n("total_file_size"),
        transferred_file_size: n("transferred_file_size"),
        ..RsyncStats::default()
    }
}

/// Copies the tree in `src` with `plan` (zkrsync's chunking options) as a dry run, a first
/// copy, a copy with nothing to do, and `--delete` dry and for real; after each, the
/// summary's counts must be those of rsync between `src` and a reference tree in the same
/// state.
fn compare(src: &Path, plan: &[&str]) {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (dst, reference) = (tmp.path().join("dst"), tmp.path().join("ref"));
    fs::create_dir_all(&dst).unwrap();
    fs::create_dir_all(&reference).unwrap();
    // (step, options, whether extraneous entries are added to both trees first)
    let steps: [(&str, &[&str], bool); 5] = [
        ("dry", &["--dry-run"], false),
        ("copy", &[], false),
        ("again", &[], false),
        ("delete-dry", &["--delete", "--dry-run"], true),
        ("delete", &["--delete"], false),
    ];
    for (step, opts, add_extraneous) in steps {
        if add_extraneous {
            extraneous(&dst);
            extraneous(&reference);
        }
        let mut all = plan.to_vec();
        all.extend_from_slice(opts);
        let ours = session(zk.connect(), step, src, &dst, &all);
        let theirs = rsync(src, &reference, opts);
        if opts.contains(&"--delete") {
            assert!(theirs.deleted_files >= 5, "{step}: deletions to count");
        }
        assert_eq!(
            counts_of(&ours),
            counts_of(&theirs),
            "{step} with {all:?}: zkrsync's summary (left) against rsync's (right)"
        );
    }
    assert_eq!(differences(src, &dst), "");
    assert_eq!(differences(src, &reference), "");
}

/// The odd-name tree of the other tests, aged.
fn odd_tree(root: &Path) -> std::path::PathBuf {
    let src = root.join("src");
    generate(&src, 150, 4, 16);
    src
}

fn at_depth(depth: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let src = odd_tree(tmp.path());
    age(&src);
    compare(&src, &["--depth", depth, "--chunk-entries", "60"]);
}

#[test]
fn depth_0_counts_as_rsync_does() {
    at_depth("0");
}

#[test]
fn depth_1_counts_as_rsync_does() {
    at_depth("1");
}

#[test]
fn depth_2_counts_as_rsync_does() {
    at_depth("2");
}

#[test]
fn depth_3_counts_as_rsync_does() {
    at_depth("3");
}

#[test]
fn directories_cut_into_buckets_count_as_rsync_does() {
    // The root and a flat directory, each with more entries than a chunk's share (and than
    // 1,024): both are cut into buckets, and their deletions are units of their own.
    let tmp = tempfile::tempdir().unwrap();
    let src = odd_tree(tmp.path());
    fs::create_dir_all(src.join("flat")).unwrap();
    for i in 0..1500 {
        fs::write(src.join(format!("r{i:04}")), format!("{i}")).unwrap();
        fs::write(src.join(format!("flat/f{i:04}")), format!("{i}")).unwrap();
    }
    age(&src);
    compare(&src, &["--depth", "2", "--chunk-entries", "500"]);
}
