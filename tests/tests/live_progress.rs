//! Live progress in bytes: the master's `--progress json` stream counts a chunk's bytes
//! while its rsync still runs (the workers publish rsync's `--info=progress2` counters),
//! never goes back, and ends at the tree's size; `zkrsync-launch --progress json` passes
//! the same stream on.

use std::fs;
use std::path::Path;
use std::time::Duration;

use zkrsync_tests::cluster::{differences, progress_reports, Cluster};
use zkrsync_tests::zk::ZkServer;

const LIMIT: Duration = Duration::from_secs(120);
const BIG: usize = 6_000_000;

/// One big file (so one chunk runs for seconds under --bwlimit) beside a few small ones;
/// the size of every file together.
fn tree(src: &Path) -> u64 {
    fs::create_dir_all(src.join("big")).unwrap();
    let data: Vec<u8> = (0..BIG).map(|i| (i * 7 % 251) as u8).collect();
    fs::write(src.join("big/file"), &data).unwrap();
    fs::create_dir_all(src.join("small")).unwrap();
    for i in 0..5 {
        fs::write(src.join(format!("small/f{i}")), vec![b'x'; 1000 * (i + 1)]).unwrap();
    }
    BIG as u64 + (1..=5).map(|i| 1000 * i as u64).sum::<u64>()
}

#[test]
fn the_progress_stream_counts_a_chunk_while_it_runs_and_ends_at_the_trees_size() {
    let (server, tmp) = (ZkServer::start(), tempfile::tempdir().unwrap());
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    let total = tree(&src);
    fs::create_dir(&dst).unwrap();
    let mut c = Cluster::new(server.connect(), "live");
    c.dest("d1", &dst, "127.0.0.1");
    // 1.5 MB/s: the big file's chunk runs about 4 s, reported every second.
    let opts = [
        "--depth",
        "1",
        "--chunk-entries",
        "1",
        "--rsync-opt=--bwlimit=1500",
        "--progress",
        "json",
        "--progress-every",
        "1",
    ];
    let m = c.source("m", &src, &opts);
    c.source("w", &src, &opts);
    let codes = c.wait_all(LIMIT);
    assert!(
        codes.iter().all(|c| *c == Some(0)),
        "{codes:?}\n{}",
        c.all_logs()
    );
    assert!(differences(&src, &dst).is_empty());
    let log = c.agents[m].log_text();
    let mut r = progress_reports(&log);
    if r.is_empty() {
        // The other source was the master.
        r = progress_reports(&c.agents[m + 1].log_text());
    }
    assert!(r.len() >= 3, "a report a second: {}", c.all_logs());
    let bytes: Vec<u64> = r.iter().map(|p| p["bytes"].as_u64().unwrap()).collect();
    assert!(
        bytes.windows(2).all(|w| w[0] <= w[1]),
        "never goes back: {bytes:?}"
    );
    assert_eq!(
        *bytes.last().unwrap(),
        total,
        "ends at the tree's size: {bytes:?}"
    );
    // While the big chunk ran (not done yet), its bytes already counted.
    let during = r.iter().find(|p| {
        let b = p["bytes"].as_u64().unwrap();
        p["running"].as_u64().unwrap() > 0 && b > 0 && b < BIG as u64
    });
    assert!(
        during.is_some(),
        "no report counted the running chunk's bytes: {bytes:?}\n{log}"
    );
    let last = r.last().unwrap();
    assert_eq!(last["done"], last["chunks"], "{last}");
    assert!(last["entries"].as_u64().unwrap() >= 7, "{last}");
    assert!(
        last["line"].as_str().unwrap().starts_with("progress: "),
        "{last}"
    );
}
