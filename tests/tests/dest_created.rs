//! A missing destination directory, as rsync treats it: `zkrsync dest --path X` creates X
//! when its parent exists (the last component only, mode 0777 less the umask), and the
//! directory it made is the tree its mount guard watches; a missing parent is refused in one
//! line with nothing made; a destination refused after making its directory removes it.

use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::time::Duration;

use zkrsync_tests::cluster::{differences, Cluster};
use zkrsync_tests::tree::generate;
use zkrsync_tests::zk::ZkServer;
use zkrsync_tests::zkrsync;

const LIMIT: Duration = Duration::from_secs(120);

/// This process's umask, which the agents it starts inherit.
fn umask() -> u32 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .expect("Umask: in /proc/self/status");
    u32::from_str_radix(line.trim(), 8).unwrap()
}

#[test]
fn a_missing_destination_is_created_becomes_the_watched_tree_and_receives_the_copy() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("new dst"));
    generate(&src, 40, 3, 7);
    let mut c = Cluster::new(zk.connect(), "created");
    c.dest("d1", &dst, "127.0.0.1");
    let record = c.dest_record("d1", "registered", |r| r.active);
    let made = fs::metadata(&dst).unwrap();
    assert!(made.is_dir());
    assert_eq!(made.mode() & 0o7777, 0o777 & !umask(), "mkdir's mode");
    let tree = record.tree.expect("the record says where the tree is");
    assert_eq!(
        tree.chain[0],
        (made.dev(), made.ino()),
        "the tree is the directory made"
    );
    assert!(c.agents[0].log_text().contains(&format!(
        "created the destination directory {}",
        dst.display()
    )));

    // Another directory put in its place is not the tree: the destination pauses, and
    // takes work again when its own directory is back.
    let moved = tmp.path().join("moved");
    fs::rename(&dst, &moved).unwrap();
    fs::create_dir(&dst).unwrap();
    c.dest_record("d1", "paused", |r| !r.active);
    fs::remove_dir(&dst).unwrap();
    fs::rename(&moved, &dst).unwrap();
    c.dest_record("d1", "active again", |r| r.active);

    let m = c.source("m", &src, &["--depth", "2", "--delete"]);
    let w = c.source("w1", &src, &["--depth", "2", "--delete"]);
    for i in [0, m, w] {
        assert_eq!(c.wait(i, LIMIT).code(), Some(0), "{}", c.all_logs());
    }
    assert_eq!(differences(&src, &dst), "", "{}", c.all_logs());
}

/// `zkrsync dest` on `path` with a ZooKeeper at `zk`; its exit code and standard error.
fn dest(zk: &str, path: &Path) -> (Option<i32>, String) {
    let out = zkrsync([
        "dest".as_ref(),
        "--zk".as_ref(),
        zk.as_ref(),
        "-N".as_ref(),
        "s".as_ref(),
        "--session-timeout".as_ref(),
        "2".as_ref(),
        "--advertise".as_ref(),
        "127.0.0.1".as_ref(),
        "--path".as_ref(),
        path.as_os_str(),
    ]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_missing_parent_is_refused_in_one_line_and_a_refused_destination_leaves_nothing() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let parent = tmp.path().join("no parent");
    let deep = parent.join("dst");
    let (code, stderr) = dest(zk.connect(), &deep);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "zkrsync: error: destination {} cannot be created: its parent {p} does not exist: create {p} first (only the last component of a destination is created, as rsync does)\n",
            deep.display(),
            p = parent.display()
        )
    );
    assert!(!parent.exists(), "nothing made");
    let c = Cluster::new(zk.connect(), "s");
    assert_eq!(c.znode("/zkrsync/s"), None, "nothing registered");

    // Made, then refused (no ZooKeeper answers): the directory made is removed again.
    let gone = tmp.path().join("gone");
    let (code, stderr) = dest("127.0.0.1:1", &gone);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("ZooKeeper at 127.0.0.1:1"), "{stderr}");
    assert!(
        !gone.exists(),
        "the refused destination removed what it made"
    );

    // A file where the directory should be, or where its parent should be.
    let file = tmp.path().join("file");
    fs::write(&file, "").unwrap();
    for (path, said) in [
        (file.clone(), "is not a directory"),
        (
            file.join("dst"),
            "is not a directory: give a path whose parent",
        ),
    ] {
        let (code, stderr) = dest(zk.connect(), &path);
        assert_eq!(code, Some(2), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(said), "{said:?} in {stderr}");
    }
    assert_eq!(
        fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "only the file"
    );
}
