//! Faults against the real agent: kill -9 of any client mid-run, of every client, and a
//! source tree that disappears.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use zkrsync_tests::cluster::{differences, Cluster};
use zkrsync_tests::tree::generate;
use zkrsync_tests::zk::ZkServer;

const LIMIT: Duration = Duration::from_secs(120);
/// Slow transfers, so that "mid-run" lasts long enough to be hit for sure.
/// Many small, slow chunks, so that faults land while work is under way.
const SLOW: &[&str] = &[
    "--depth",
    "2",
    "--chunk-entries",
    "64",
    "--rsync-opt=--bwlimit=300",
];

fn trees(tmp: &Path) -> (PathBuf, PathBuf) {
    let src = tmp.join("src");
    let dst = tmp.join("dst");
    fs::create_dir_all(&dst).unwrap();
    generate(&src, 150, 6, 7);
    (src, dst)
}

fn start(c: &mut Cluster, src: &Path, dst: &Path) {
    c.dest("d1", dst, "127.0.0.1");
    c.dest("d2", dst, "127.0.0.2");
    c.source("m", src, SLOW);
    c.source("w1", src, SLOW);
    c.source("w2", src, SLOW);
}

fn some_done(c: &mut Cluster) {
    c.wait_status(LIMIT, "two chunks done", |s| {
        s["done"].as_u64().unwrap_or(0) >= 2 && s["plan_ready"] == true
    });
}

/// Index of the source that is master now.
fn master(c: &Cluster) -> usize {
    (2..5)
        .find(|&i| c.agents[i].log_text().contains("is the master"))
        .expect("a master")
}

fn finish_ok(c: &mut Cluster, killed: &[usize], src: &Path, dst: &Path) {
    for i in 0..c.agents.len() {
        if killed.contains(&i) {
            continue;
        }
        let code = c.wait(i, LIMIT).code();
        assert_eq!(
            code,
            Some(0),
            "agent {} exited with {code:?}\n{}",
            c.agents[i].name,
            c.all_logs()
        );
    }
    assert_eq!(differences(src, dst), "", "{}", c.all_logs());
    assert!(
        c.only_outcome_left(),
        "the session is cleaned up, its outcome kept\n{}",
        c.all_logs()
    );
}

#[test]
fn kill_9_of_a_worker_mid_run() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = trees(tmp.path());
    let mut c = Cluster::new(zk.connect(), "killworker");
    start(&mut c, &src, &dst);
    some_done(&mut c);
    let m = master(&c);
    let victim = (2..5).find(|&i| i != m).unwrap();
    c.agents[victim].kill9();
    finish_ok(&mut c, &[victim], &src, &dst);
}

#[test]
fn kill_9_of_a_destination_mid_run() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = trees(tmp.path());
    let mut c = Cluster::new(zk.connect(), "killdest");
    start(&mut c, &src, &dst);
    some_done(&mut c);
    c.agents[0].kill9();
    finish_ok(&mut c, &[0], &src, &dst);
}

#[test]
fn kill_9_of_the_master_mid_run() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = trees(tmp.path());
    let mut c = Cluster::new(zk.connect(), "killmaster");
    start(&mut c, &src, &dst);
    some_done(&mut c);
    let m = master(&c);
    c.agents[m].kill9();
    finish_ok(&mut c, &[m], &src, &dst);
    let summaries = c
        .agents
        .iter()
        .filter(|a| {
            a.log_text()
                .contains("zkrsync: session killmaster complete")
        })
        .count();
    assert_eq!(
        summaries,
        1,
        "the new master prints the summary\n{}",
        c.all_logs()
    );
}

#[test]
fn kill_9_of_every_client_then_a_restart_resumes_without_redoing_done_chunks() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = trees(tmp.path());
    let mut c = Cluster::new(zk.connect(), "resume");
    start(&mut c, &src, &dst);
    some_done(&mut c);
    c.kill_all();
    let before = c.status().expect("the session survives its clients");
    let done_before = before["done"].as_u64().unwrap();
    let chunks = before["chunks"].as_u64().unwrap();
    assert!(done_before >= 2 && done_before < chunks, "{before}");

    let mut again = Cluster::new(zk.connect(), "resume");
    start(&mut again, &src, &dst);
    finish_ok(&mut again, &[], &src, &dst);
    let log = again.all_logs();
    assert!(log.contains("resuming the published plan"), "{log}");
    // Chunks the second run started rsync for, each counted once (a chunk is tried again
    // when its first destination turns out to be a dead one of the first run): at most those
    // not done before (a chunk whose worker died mid-copy is redone; none that was done).
    let copied = log
        .lines()
        .filter(|l| l.contains(" units to "))
        .filter_map(|l| l.split("DEBUG chunk ").nth(1)?.split(':').next())
        .collect::<std::collections::BTreeSet<_>>()
        .len() as u64;
    assert!(
        copied <= chunks - done_before,
        "{copied} chunks copied again, {done_before} of {chunks} were done\n{log}"
    );
}

#[test]
fn a_source_tree_that_disappears_mid_run_causes_no_deletion() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = trees(tmp.path());
    // The destination already holds a copy: a --delete from an empty source would wipe it.
    let status = std::process::Command::new("rsync")
        .arg("-a")
        .arg(format!("{}/", src.display()))
        .arg(format!("{}/", dst.display()))
        .status()
        .unwrap();
    assert!(status.success());
    let mut c = Cluster::new(zk.connect(), "vanish");
    c.dest("d1", &dst, "127.0.0.1");
    c.dest("d2", &dst, "127.0.0.2");
    let slow_delete: Vec<&str> = SLOW.iter().copied().chain(["--delete"]).collect();
    for name in ["m", "w1", "w2"] {
        c.source(name, &src, &slow_delete);
    }
    // Once work is under way, the source is unmounted: here, emptied by a rename.
    c.wait_status(LIMIT, "a chunk done", |s| {
        s["done"].as_u64().unwrap_or(0) >= 1
    });
    let moved = tmp.path().join("src-moved");
    fs::rename(&src, &moved).unwrap();
    fs::create_dir(&src).unwrap();
    // Every worker refuses to run rsync and leaves with exit 2.
    let m = master(&c);
    for i in (2..5).filter(|&i| i != m) {
        let code = c.wait(i, LIMIT).code();
        assert_eq!(code, Some(2), "{}", c.all_logs());
        assert!(
            c.agents[i].log_text().contains("no rsync was run"),
            "{}",
            c.all_logs()
        );
    }
    // Nothing of the destination's copy was deleted (the destinations still run: the
    // session's probe file is in the root of their tree).
    // What counts is that nothing is missing: no entry the source has is gone from the
    // destination (`+++++++`: would be created again) and nothing of it was deleted. The
    // root's own times may differ: the run that copied its entries was cut off.
    let left: Vec<String> = differences(&moved, &dst)
        .lines()
        .filter(|l| !l.starts_with("*deleting   .zkrsync-vanish-d"))
        .filter(|l| l.starts_with("*deleting") || l.contains("+++++++"))
        .map(str::to_owned)
        .collect();
    assert!(left.is_empty(), "{left:?}\n{}", c.all_logs());
    c.kill_all();
}

#[test]
fn the_leader_of_a_three_server_ensemble_dies_mid_run() {
    let zk = ZkServer::ensemble(3);
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = trees(tmp.path());
    let mut c = Cluster::new(zk.connect(), "ensemble");
    start(&mut c, &src, &dst);
    some_done(&mut c);
    zk.stop_member(zk.leader());
    finish_ok(&mut c, &[], &src, &dst);
}

#[test]
fn a_worker_paused_longer_than_its_session_timeout_rejoins_and_the_copy_is_exact() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = trees(tmp.path());
    let mut c = Cluster::new(zk.connect(), "sigstop");
    start(&mut c, &src, &dst);
    some_done(&mut c);
    let m = master(&c);
    let w = (2..5).find(|&i| i != m).unwrap();
    c.agents[w].signal_tree("STOP");
    // The server expires the paused worker's session: its election node goes, and with it
    // its claim, so the others can take its chunk over.
    c.wait_status(LIMIT, "the paused worker's session to expire", |s| {
        s["sources"].as_u64() == Some(2)
    });
    c.agents[w].signal_tree("CONT");
    finish_ok(&mut c, &[], &src, &dst);
    let log = c.agents[w].log_text();
    // It learns of the expiry from the server, or from a request in flight whose connection
    // was lost (then it cannot know the request's fate and starts over the same way).
    assert!(
        log.contains("session expired")
            || log.contains("session has expired")
            || log.contains("ended in doubt (connection lost): starting over with a new session"),
        "the resumed worker noticed its expiry\n{}",
        c.all_logs()
    );
    assert_eq!(
        log.matches("joined session").count(),
        2,
        "the resumed worker joined again with a new session\n{}",
        c.all_logs()
    );
}
