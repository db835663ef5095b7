//! `--itemize` (`-i`): the master gathers every chunk's itemized changes into one list, and
//! for a dry run that list is what `rsync -ani` of the same trees prints, line for line
//! (both sorted by path): into an empty destination, and into an older copy with changed,
//! new and extraneous entries, with `--delete`.

use std::fs;
use std::path::Path;

use zkrsync_tests::cluster::{rsync_trees, session_summary};
use zkrsync_tests::tree::{age, generate};
use zkrsync_tests::zk::ZkServer;

/// `rsync -ani OPTS SRC/ DST/`, its lines sorted by path.
fn rsync_ani(src: &Path, dst: &Path, opts: &[&str]) -> Vec<String> {
    let mut args = vec!["-ani"];
    args.extend_from_slice(opts);
    sorted(
        rsync_trees(&args, src, dst)
            .lines()
            .map(str::to_owned)
            .collect(),
    )
}

/// Lines sorted as the summary sorts them: by the name after `%i`.
fn sorted(mut lines: Vec<String>) -> Vec<String> {
    lines.sort_by(|a, b| a.get(12..).cmp(&b.get(12..)).then(a.cmp(b)));
    lines
}

/// The session's itemized list, and how many lines it left out.
fn items(summary: &serde_json::Value) -> (Vec<String>, u64) {
    let lines = summary["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {summary}"))
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect();
    (lines, summary["items_omitted"].as_u64().unwrap())
}

#[test]
fn a_dry_runs_itemized_list_is_rsync_anis() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    generate(&src, 150, 4, 21);
    age(&src);
    fs::create_dir_all(&dst).unwrap();
    let plan = ["--depth", "2", "--chunk-entries", "60", "--dry-run"];

    // Into an empty destination: every entry, new.
    let mut opts = plan.to_vec();
    opts.push("--itemize");
    let summary = session_summary(zk.connect(), "empty", &src, &dst, &opts);
    let (ours, omitted) = items(&summary);
    let theirs = rsync_ani(&src, &dst, &[]);
    assert!(theirs.len() > 700, "{}", theirs.len());
    assert_eq!(omitted, 0);
    assert_eq!(
        ours, theirs,
        "zkrsync's list (left) against rsync -ani's (right)"
    );

    // Into an older copy: changed files, a new directory, extraneous entries; `-i`.
    rsync_trees(&["-a"], &src, &dst);
    let dirs: Vec<_> = fs::read_dir(&src)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.path())
        .collect();
    fs::write(dirs[0].join("new file"), b"new").unwrap();
    fs::create_dir_all(dirs[1].join("new dir/sub")).unwrap();
    fs::write(dirs[1].join("new dir/sub/f"), b"f").unwrap();
    let changed = fs::read_dir(&dirs[2])
        .unwrap()
        .flatten()
        .find(|e| e.file_type().unwrap().is_file())
        .unwrap()
        .path();
    fs::write(&changed, b"changed contents").unwrap();
    age(&src);
    let rel = dirs[0].strip_prefix(&src).unwrap();
    fs::write(dst.join(rel).join("extra\nfile"), b"x").unwrap();
    fs::create_dir_all(dst.join("extra dir/in")).unwrap();
    fs::write(dst.join("extra dir/in/x"), b"x").unwrap();
    let mut opts = plan.to_vec();
    opts.extend(["-i", "--delete"]);
    let summary = session_summary(zk.connect(), "older", &src, &dst, &opts);
    let (ours, omitted) = items(&summary);
    let theirs = rsync_ani(&src, &dst, &["--delete"]);
    assert!(
        theirs.iter().any(|l| l.starts_with("*deleting")) && theirs.len() > 6,
        "{theirs:?}"
    );
    assert_eq!(omitted, 0);
    assert_eq!(
        ours, theirs,
        "zkrsync's list (left) against rsync -ani's (right)"
    );
}
