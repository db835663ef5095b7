//! A finished session keeps its outcome for `--keep`: `zkrsync status` says how it ended
//! (not "no such session"), a late client of the same run leaves instead of starting the
//! session anew, `zkrsync abort` refuses it, `zkrsync forget` removes it, and any source
//! that starts removes outcomes kept past their `--keep`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use zkrsync_core::protocol::exit_code;
use zkrsync_tests::cluster::{differences, Cluster};
use zkrsync_tests::zk::ZkServer;
use zkrsync_tests::zkrsync;

const LIMIT: Duration = Duration::from_secs(90);

/// A source tree and an empty destination under `tmp`.
fn trees(tmp: &Path) -> (PathBuf, PathBuf) {
    let (src, dst) = (tmp.join("src"), tmp.join("dst"));
    tree(&src);
    fs::create_dir(&dst).unwrap();
    (src, dst)
}

fn tree(src: &Path) {
    for d in 0..4 {
        let dir = src.join(format!("d{d}"));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..5 {
            fs::write(dir.join(format!("f{f}")), format!("{d}/{f}")).unwrap();
        }
    }
}

/// Runs session `session` of run `run` to its end: one destination, a master and a worker.
fn finish(zk: &str, session: &str, run: &str, src: &Path, dst: &Path, extra: &[&str]) -> Cluster {
    let mut c = Cluster::new(zk, session);
    c.dest_with("d1", dst, "127.0.0.1", &["--run", run]);
    let mut opts = vec!["--run", run, "--depth", "1", "--chunk-entries", "1"];
    opts.extend_from_slice(extra);
    c.source("m", src, &opts);
    c.source("w", src, &opts);
    let codes = c.wait_all(LIMIT);
    assert!(
        codes.iter().all(|c| *c == Some(0)),
        "{codes:?}\n{}",
        c.all_logs()
    );
    c
}

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = zkrsync(args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn a_finished_session_says_how_it_ended_until_forgotten_and_a_late_client_of_its_run_leaves() {
    let (server, tmp) = (ZkServer::start(), tempfile::tempdir().unwrap());
    let zk = server.connect();
    let (src, dst) = trees(tmp.path());

    // A session kept for a second finishes first, then the one kept for the default day.
    let short = finish(zk, "short", "r0", &src, &dst, &["--keep", "1"]);
    let short_status = short.status().expect("the short session's outcome");
    let mut c = finish(zk, "s1", "r1", &src, &dst, &[]);
    assert!(differences(&src, &dst).is_empty());

    let status = c
        .status()
        .expect("a finished session is not 'no such session'");
    assert_eq!(status["state"], "finished", "{status}");
    assert_eq!(status["complete"], true, "{status}");
    assert_eq!(status["run"], "r1", "{status}");
    assert_eq!(status["keep_s"], 86400, "{status}");
    assert_eq!(status["failed"], 0, "{status}");
    let chunks = status["chunks"].as_u64().unwrap();
    assert!(chunks >= 4, "{status}");
    assert_eq!(status["done"], chunks, "{status}");
    let (code, line, _) = run(&["status", "--zk", zk, "--session", "s1"]);
    assert_eq!(code, Some(exit_code::OK));
    assert!(
        line.starts_with("session s1: complete, ")
            && line.contains(&format!(": {chunks} chunks (")),
        "{line}"
    );

    // Wait (bounded) until the short session is past its --keep by the server's clock.
    let expires = short_status["finished_at_ms"].as_i64().unwrap() + 1000;
    let deadline = Instant::now() + Duration::from_secs(10);
    while now_ms() <= expires + 200 {
        assert!(
            Instant::now() < deadline,
            "the clock did not pass {expires}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // A late source and destination of run r1: each leaves at once, changes nothing; the
    // source removes the short session's expired outcome as it starts.
    let late = c.source("late", &src, &["--run", "r1", "--depth", "1"]);
    let status_code = c.wait(late, LIMIT).code();
    assert_eq!(status_code, Some(0), "{}", c.all_logs());
    let late_d = c.dest_with("late-d", &dst, "127.0.0.2", &["--run", "r1"]);
    assert_eq!(c.wait(late_d, LIMIT).code(), Some(0), "{}", c.all_logs());
    let logs = c.all_logs();
    assert!(
        logs.contains("session s1 finished already (complete, ")
            && logs.contains("this run): leaving"),
        "{logs}"
    );
    assert!(
        logs.contains("removed the kept outcomes of 1 sessions"),
        "{logs}"
    );
    assert_eq!(c.status().expect("still finished")["state"], "finished");
    assert!(short.status().is_none(), "the expired outcome is gone");

    // abort refuses a finished session; forget removes it; then there is no session.
    let (code, _, err) = run(&["abort", "--zk", zk, "--session", "s1"]);
    assert_eq!(code, Some(exit_code::CONFIG), "{err}");
    assert!(
        err.contains("session s1 has finished already")
            && err.contains("zkrsync forget --session s1"),
        "{err}"
    );
    let (code, _, err) = run(&["forget", "--zk", zk, "--session", "s1"]);
    assert_eq!(code, Some(exit_code::OK), "{err}");
    assert!(
        err.contains("the outcome of session s1 is removed"),
        "{err}"
    );
    assert!(c.status().is_none());
    let (code, _, err) = run(&["forget", "--zk", zk, "--session", "s1"]);
    assert_eq!(code, Some(exit_code::NO_SESSION), "{err}");
}

#[test]
fn a_new_run_of_a_finished_session_starts_it_anew() {
    let (server, tmp) = (ZkServer::start(), tempfile::tempdir().unwrap());
    let zk = server.connect();
    let (src, dst) = trees(tmp.path());
    let c = finish(zk, "s1", "r1", &src, &dst, &[]);
    assert_eq!(c.status().unwrap()["run"], "r1");
    // The source changes; the same command with another run copies the change.
    fs::write(src.join("d0/new"), "new").unwrap();
    let c = finish(zk, "s1", "r2", &src, &dst, &[]);
    assert!(differences(&src, &dst).is_empty(), "{}", c.all_logs());
    assert!(
        c.all_logs()
            .contains("session s1 finished earlier (complete, "),
        "{}",
        c.all_logs()
    );
    assert_eq!(c.status().unwrap()["run"], "r2");
}

#[test]
fn retry_failed_runs_only_the_failed_chunks_again_and_the_outcome_counts_the_whole_session() {
    let (server, tmp) = (ZkServer::start(), tempfile::tempdir().unwrap());
    let zk = server.connect();
    let (src, dst) = trees(tmp.path());
    // The destination holds a non-empty directory where the source has the file d1/f0:
    // rsync cannot make way for it (exit 23), so d1's chunk fails for good.
    fs::create_dir_all(dst.join("d1/f0")).unwrap();
    fs::write(dst.join("d1/f0/keep"), "in the way").unwrap();
    let opts = ["--depth", "1", "--chunk-entries", "1", "--attempts", "1"];
    let mut c = Cluster::new(zk, "s1");
    c.dest_with("d1", &dst, "127.0.0.1", &["--run", "r1"]);
    let mut first: Vec<&str> = vec!["--run", "r1"];
    first.extend(opts);
    c.source("m", &src, &first);
    c.source("w", &src, &first);
    let mut codes = c.wait_all(LIMIT);
    codes.sort();
    // The master (whichever source won the election) reports the failed chunk.
    assert_eq!(
        codes,
        [Some(0), Some(0), Some(exit_code::PARTIAL)],
        "{}",
        c.all_logs()
    );
    let status = c.status().unwrap();
    assert_eq!(
        (status["state"].as_str(), status["failed"].as_u64()),
        (Some("finished"), Some(1)),
        "{status}"
    );
    let chunks = status["chunks"].as_u64().unwrap();
    let (_, line, _) = run(&["status", "--zk", zk, "--session", "s1"]);
    assert!(line.contains(" failed: rsync exited with 23"), "{line}");

    // A retry with other parameters is refused, and changes nothing.
    let mut other: Vec<&str> = vec!["--run", "r2", "--retry-failed", "--delete"];
    other.extend(opts);
    let mut r = Cluster::new(zk, "s1");
    let refused = r.source("m", &src, &other);
    assert_eq!(
        r.wait(refused, LIMIT).code(),
        Some(exit_code::CONFIG),
        "{}",
        r.all_logs()
    );
    assert!(
        r.all_logs().contains("--delete differs from session s1's"),
        "{}",
        r.all_logs()
    );
    assert_eq!(c.status().unwrap(), status, "the outcome is unchanged");

    // Fix the destination, change a file of a chunk that was done, and retry: only the
    // failed chunk runs again, so the change is not copied (a full run would copy it).
    fs::remove_dir_all(dst.join("d1/f0")).unwrap();
    fs::write(src.join("d0/f0"), "changed after the first run").unwrap();
    let mut retry: Vec<&str> = vec!["--run", "r2", "--retry-failed"];
    retry.extend(opts);
    let mut r = Cluster::new(zk, "s1");
    r.dest_with("d1", &dst, "127.0.0.1", &["--run", "r2"]);
    r.source("m", &src, &retry);
    r.source("w", &src, &retry);
    let codes = r.wait_all(LIMIT);
    assert!(
        codes.iter().all(|c| *c == Some(0)),
        "{codes:?}\n{}",
        r.all_logs()
    );
    let logs = r.all_logs();
    assert!(
        logs.contains("retrying the 1 failed chunks of session s1"),
        "{logs}"
    );
    assert!(
        logs.contains(&format!("session s1 complete: {chunks} chunks")),
        "{logs}"
    );
    assert_eq!(fs::read_to_string(dst.join("d1/f0")).unwrap(), "1/0");
    let diff = differences(&src, &dst);
    let lines: Vec<&str> = diff.lines().collect();
    assert!(
        lines.len() == 1 && lines[0].starts_with(">f") && lines[0].ends_with(" d0/f0"),
        "only the change in a chunk done before differs: {diff}"
    );
    let status = r.status().unwrap();
    assert_eq!(status["complete"], true, "{status}");
    assert_eq!(
        (status["chunks"].as_u64(), status["done"].as_u64()),
        (Some(chunks), Some(chunks)),
        "{status}"
    );
    assert_eq!(status["run"], "r2", "{status}");
    assert!(r.only_outcome_left());

    // Nothing is left to retry (for another run: one of r2 would leave as of its run).
    let mut again = Cluster::new(zk, "s1");
    let mut retry3: Vec<&str> = vec!["--run", "r3", "--retry-failed"];
    retry3.extend(opts);
    let nothing = again.source("m", &src, &retry3);
    assert_eq!(
        again.wait(nothing, LIMIT).code(),
        Some(0),
        "{}",
        again.all_logs()
    );
    assert!(
        again.all_logs().contains("finished with no failed chunk"),
        "{}",
        again.all_logs()
    );
}
