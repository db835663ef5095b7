//! A source whose file system hangs (a dead NFS server: a `stat` that never returns) does
//! not hold the session for ever. rsync's sender, stuck in the kernel, never reaches its
//! own `--timeout` check; the agent sees that it moves no data and kills it after the
//! session's `--timeout` (600 s by default; 3 s here), the chunk fails with the reason
//! once its attempts are used, and everything else is copied.

use std::fs;
use std::time::Duration;

use zkrsync_tests::cluster::Cluster;
use zkrsync_tests::latfs::LatFs;
use zkrsync_tests::zk::ZkServer;

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn a_hung_source_read_fails_its_chunk_after_the_timeout_instead_of_holding_the_session() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (orig, mnt, dst) = (
        tmp.path().join("orig"),
        tmp.path().join("mnt"),
        tmp.path().join("dst"),
    );
    for top in ["a", "b", "stuck-here"] {
        for f in 0..5 {
            let dir = orig.join(top).join("deeper");
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join(format!("f{f}")), top).unwrap();
        }
    }
    fs::write(orig.join("stuck-here/deeper/HANG"), b"never read").unwrap();
    fs::create_dir_all(&mnt).unwrap();
    fs::create_dir_all(&dst).unwrap();
    let latfs = LatFs::mount(&orig, &mnt, &["--delay-ms", "0", "--hang", "HANG"]);
    let opts = [
        "--depth",
        "1",
        "--chunk-entries",
        "1",
        "--timeout",
        "3",
        "--attempts",
        "2",
    ];
    let mut c = Cluster::new(zk.connect(), "hung");
    c.dest("d1", &dst, "127.0.0.1");
    c.source("m", &mnt, &opts);
    c.source("w", &mnt, &opts);
    let codes = c.wait_all(LIMIT);
    let logs = c.all_logs();
    // Whichever source is the master reports the failed chunk (exit 1); the other exits 0.
    let mut sources = codes[1..].to_vec();
    sources.sort();
    assert_eq!(sources, vec![Some(0), Some(1)], "{codes:?}\n{logs}");
    assert!(
        logs.contains("zkrsync: session hung finished with failures"),
        "{logs}"
    );
    assert!(logs.contains("rsync moved no data for 3 s"), "{logs}");
    assert!(logs.contains("attempt 2 of 2"), "{logs}");
    for top in ["a", "b"] {
        assert!(
            dst.join(top).join("deeper/f4").exists(),
            "{top} copied\n{logs}"
        );
    }
    drop(latfs);
}
