//! A directory with more entries than a chunk's share is cut into buckets copied by
//! different rsyncs, and its deletions are a unit of their own, run once: the copy is exact,
//! `--delete` included, and a file created after planning is copied too.

use std::fs;
use std::path::Path;
use std::time::Duration;

use zkrsync_tests::cluster::{differences, Cluster};
use zkrsync_tests::zk::ZkServer;

const LIMIT: Duration = Duration::from_secs(180);

fn flat_tree(src: &Path, files: usize) {
    let flat = src.join("flat");
    fs::create_dir_all(&flat).unwrap();
    for i in 0..files {
        fs::write(flat.join(format!("f{i:05}")), format!("{i}")).unwrap();
    }
    fs::create_dir_all(flat.join("sub")).unwrap();
    fs::write(flat.join("sub/inner"), b"inner").unwrap();
    fs::create_dir_all(src.join("small")).unwrap();
    fs::write(src.join("small/s"), b"s").unwrap();
}

#[test]
fn a_flat_directory_is_copied_by_several_rsyncs_and_its_deletions_run_once() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    flat_tree(&src, 9000);
    fs::create_dir_all(dst.join("flat/gone-dir")).unwrap();
    for x in 0..30 {
        fs::write(dst.join(format!("flat/extra{x}")), b"extra").unwrap();
    }
    fs::write(dst.join("flat/gone-dir/f"), b"extra").unwrap();
    let mut c = Cluster::new(zk.connect(), "split");
    c.dest("d1", &dst, "127.0.0.1");
    c.dest("d2", &dst, "127.0.0.2");
    let opts = ["--delete", "--depth", "2"];
    for name in ["m", "w1", "w2"] {
        c.source(name, &src, &opts);
    }
    let codes = c.wait_all(LIMIT);
    let logs = c.all_logs();
    assert!(codes.iter().all(|c| *c == Some(0)), "{codes:?}\n{logs}");
    assert_eq!(differences(&src, &dst), "", "{logs}");
    // 9,000 entries, a share of 4,096: three buckets, each its own rsync, and one run of
    // the directory's deletions.
    let runs = |what: &str| {
        logs.lines()
            .filter(|l| l.contains("running \"") && l.contains(what))
            .count()
    };
    assert_eq!(runs("--existing\" \"--ignore-existing"), 1, "{logs}");
    let buckets = logs
        .lines()
        .filter(|l| l.contains("running \"") && l.contains("\"-d\"") && !l.contains("--delete"))
        .count();
    assert_eq!(buckets, 3, "{logs}");
}
