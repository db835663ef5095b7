//! `--max-delete N` is a budget of the whole session: whichever workers delete, the
//! destination loses at most N entries; chunks whose deletions do not fit fail for good
//! with the numbers, and their transfers are still done.

use std::fs;
use std::path::Path;
use std::time::Duration;

use zkrsync_tests::cluster::{differences, Cluster};
use zkrsync_tests::zk::ZkServer;

const LIMIT: Duration = Duration::from_secs(120);
const TOPS: usize = 6;
/// Deletions each top directory needs: three files and a directory holding two.
const PER_TOP: usize = 6;

/// A source of `TOPS` top directories of 20 files, and a destination that holds a copy of
/// it plus `PER_TOP` extraneous entries in each top directory.
fn trees(tmp: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (src, dst) = (tmp.join("src"), tmp.join("dst"));
    for t in 0..TOPS {
        let top = src.join(format!("t{t}"));
        fs::create_dir_all(&top).unwrap();
        for f in 0..20 {
            fs::write(top.join(format!("f{f}")), format!("{t}/{f}")).unwrap();
        }
    }
    fs::create_dir_all(&dst).unwrap();
    let ok = std::process::Command::new("rsync")
        .arg("-a")
        .arg(format!("{}/", src.display()))
        .arg(&dst)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    for t in 0..TOPS {
        let top = dst.join(format!("t{t}"));
        for x in 0..3 {
            fs::write(top.join(format!("x{x}")), "extra").unwrap();
        }
        fs::create_dir(top.join("gone")).unwrap();
        fs::write(top.join("gone/a"), "extra").unwrap();
        fs::write(top.join("gone/b"), "extra").unwrap();
    }
    (src, dst)
}

/// Extraneous entries still at the destination.
fn left(dst: &Path) -> usize {
    (0..TOPS)
        .map(|t| {
            let top = dst.join(format!("t{t}"));
            let files = (0..3)
                .filter(|x| top.join(format!("x{x}")).exists())
                .count();
            let dir = ["gone/a", "gone/b", "gone"]
                .iter()
                .filter(|p| top.join(p).exists())
                .count();
            files + dir
        })
        .sum()
}

/// A session with 2 destinations and 2 workers, one chunk per top directory.
fn run(c: &mut Cluster, src: &Path, dst: &Path, max_delete: usize) -> Vec<Option<i32>> {
    let budget = max_delete.to_string();
    let done_file = dst.with_extension("done.json");
    let opts = [
        "--json",
        "--done-file",
        done_file.to_str().unwrap(),
        "--delete",
        "--max-delete",
        &budget,
        "--depth",
        "1",
        "--chunk-entries",
        "1",
    ];
    c.dest("d1", dst, "127.0.0.1");
    c.dest("d2", dst, "127.0.0.2");
    for name in ["m", "w1", "w2"] {
        c.source(name, src, &opts);
    }
    c.wait_all(LIMIT)
}

#[test]
fn a_budget_that_covers_every_deletion_deletes_them_all() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = trees(tmp.path());
    let mut c = Cluster::new(zk.connect(), "budget-enough");
    let codes = run(&mut c, &src, &dst, TOPS * PER_TOP);
    assert!(
        codes.iter().all(|c| *c == Some(0)),
        "{codes:?}\n{}",
        c.all_logs()
    );
    assert_eq!(left(&dst), 0, "{}", c.all_logs());
    let diff = differences(&src, &dst);
    assert!(diff.is_empty(), "{diff}\n{}", c.all_logs());
    assert!(c.all_logs().contains("granted by the --max-delete budget"));
}

#[test]
fn the_session_deletes_no_more_than_its_budget_and_says_which_chunks_it_stopped() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = trees(tmp.path());
    // Enough for two top directories of six: per run, rsync's own --max-delete would have
    // let every one of them delete its six.
    let budget = 2 * PER_TOP + 3;
    let mut c = Cluster::new(zk.connect(), "budget-short");
    let codes = run(&mut c, &src, &dst, budget);
    let logs = c.all_logs();
    let master = codes.iter().position(|c| *c == Some(1));
    assert!(
        master.is_some(),
        "the master reports failed chunks: {codes:?}\n{logs}"
    );
    let deleted = TOPS * PER_TOP - left(&dst);
    assert!(
        deleted <= budget,
        "{deleted} deleted, budget {budget}\n{logs}"
    );
    assert!(
        deleted >= 2 * PER_TOP,
        "granted reservations were deleted: {deleted}\n{logs}"
    );
    assert!(
        logs.contains("the session's --max-delete budget of 15 would be exceeded"),
        "{logs}"
    );
    // Nothing the source has is missing: the stopped chunks still copied their files.
    let missing: Vec<String> = differences(&src, &dst)
        .lines()
        .filter(|l| {
            l.contains("+++++++")
                || (l.starts_with("*deleting") && !l.contains("x") && !l.contains("gone"))
        })
        .map(str::to_owned)
        .collect();
    assert!(missing.is_empty(), "{missing:?}\n{logs}");
    // The master's JSON summary names every chunk it stopped, with rsync's code.
    let text = fs::read_to_string(dst.with_extension("done.json")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(summary["complete"], false, "{text}");
    assert_eq!(summary["stats"]["deleted_files"], deleted as u64, "{text}");
    let failed = summary["failed_chunks"].as_array().unwrap();
    assert_eq!(
        failed.len() as u64,
        summary["failed"].as_u64().unwrap(),
        "{text}"
    );
    assert_eq!(failed.len(), TOPS - 2, "{text}");
    for f in failed {
        assert_eq!(f["rsync_exit"], 25, "{text}");
        assert!(
            f["error"].as_str().unwrap().contains("--max-delete budget"),
            "{text}"
        );
        assert!(
            f["paths"].as_array().is_some_and(|p| !p.is_empty()),
            "{text}"
        );
    }
}
