//! Fencing a stale rsync without its agent's help: the agent alone is frozen (SIGSTOP) past
//! its session timeout while its rsync runs; its watchdog must stop that rsync before the
//! chunk's new owner starts copying. The timestamps come from the test itself (an rsync
//! wrapper that notes when it starts, and a watcher of its process), not from the product's
//! logs.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zkrsync_tests::cluster::{differences, Cluster};
use zkrsync_tests::zk::ZkServer;

const LIMIT: Duration = Duration::from_secs(120);

/// An rsync that writes `<pid>` to `runs` when it starts a transfer to a destination; the
/// first transfer of the session then hangs (as on a stuck transfer) before copying. Other
/// runs (the source's trial of its rsync options) are plain rsync.
fn wrapper(dir: &Path) -> (PathBuf, PathBuf) {
    let runs = dir.join("runs");
    let script = dir.join("rsync-wrapper");
    let mark = dir.join("first-run");
    let text = format!(
        "#!/bin/sh\ncase \"$*\" in *rsync://*) ;; *) exec rsync \"$@\";; esac\necho $$ >> {runs}\nif mkdir {mark} 2>/dev/null; then sleep 60; fi\nexec rsync \"$@\"\n",
        runs = runs.display(),
        mark = mark.display()
    );
    fs::write(&script, text).unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    (script, runs)
}

/// Whether `pid` still runs (a zombie that its frozen parent cannot reap has ended).
fn running(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// When each wrapper run started and ended, as a watcher thread sees it.
#[derive(Default)]
struct Runs {
    seen: Vec<(u32, Instant, Option<Instant>)>,
}

fn watch(runs_file: PathBuf, stop: Arc<AtomicBool>) -> Arc<Mutex<Runs>> {
    let runs = Arc::new(Mutex::new(Runs::default()));
    let out = Arc::clone(&runs);
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let text = fs::read_to_string(&runs_file).unwrap_or_default();
            let now = Instant::now();
            let mut r = runs.lock().unwrap();
            for pid in text.lines().filter_map(|l| l.trim().parse::<u32>().ok()) {
                if !r.seen.iter().any(|(p, _, _)| *p == pid) {
                    r.seen.push((pid, now, None));
                }
            }
            for run in r.seen.iter_mut().filter(|run| run.2.is_none()) {
                if !running(run.0) {
                    run.2 = Some(now);
                }
            }
            drop(r);
            // Sampling a process's life every 10 ms: the resolution of the timestamps.
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    out
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} {pid}");
}

#[test]
fn a_frozen_agents_rsync_ends_before_the_chunks_new_owner_starts() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let dst = tmp.path().join("dst");
    fs::create_dir_all(src.join("a")).unwrap();
    fs::create_dir_all(&dst).unwrap();
    fs::File::create(src.join("a/file"))
        .unwrap()
        .write_all(b"data")
        .unwrap();
    let (script, runs_file) = wrapper(tmp.path());
    let stop = Arc::new(AtomicBool::new(false));
    let runs = watch(runs_file, Arc::clone(&stop));
    let opts = ["--depth", "0", "--rsync", script.to_str().unwrap()];

    let mut c = Cluster::new(zk.connect(), "fencing");
    c.dest("d1", &dst, "127.0.0.1");
    let m = c.source("m", &src, &opts);
    let deadline = Instant::now() + LIMIT;
    // The master is elected before the worker joins, so that the worker is the one copying.
    while !c.agents[m].log_text().contains("is the master") {
        assert!(Instant::now() < deadline, "no master\n{}", c.all_logs());
        std::thread::sleep(Duration::from_millis(20));
    }
    let w1 = c.source("w1", &src, &opts);
    while runs.lock().unwrap().seen.is_empty() {
        assert!(
            Instant::now() < deadline,
            "no rsync started\n{}",
            c.all_logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The first worker's rsync hangs; freeze its agent alone (not the rsync, not the
    // watchdog), longer than the 4 s session timeout.
    signal(c.agents[w1].child.id(), "STOP");
    let w2 = c.source("w2", &src, &opts);
    let code = c.wait(0, LIMIT).code();
    assert_eq!(code, Some(0), "the destination ends\n{}", c.all_logs());
    for i in [1, w2] {
        let code = c.wait(i, LIMIT).code();
        assert_eq!(code, Some(0), "{}\n{}", c.agents[i].name, c.all_logs());
    }
    signal(c.agents[w1].child.id(), "CONT");
    c.wait(w1, LIMIT);
    stop.store(true, Ordering::Relaxed);
    let r = runs.lock().unwrap();
    assert!(
        r.seen.len() >= 2,
        "the chunk was copied again\n{}",
        c.all_logs()
    );
    let (stale, _, stale_end) = r.seen[0];
    let (_, next_start, _) = r.seen[1];
    let stale_end = stale_end.unwrap_or_else(|| panic!("the stale rsync {stale} never ended"));
    assert!(
        stale_end <= next_start,
        "the frozen agent's rsync ran on until {:?} after the new owner's started\n{}",
        stale_end - next_start,
        c.all_logs()
    );
    assert_eq!(differences(&src, &dst), "", "{}", c.all_logs());
}

#[test]
fn the_lease_follows_the_session_timeout_the_server_granted_not_the_one_asked_for() {
    // The test server's maxSessionTimeout is 60 s (scripts/zk): a source asking for 200 s
    // gets 60, and must stop a cut-off rsync 15 s into a disconnection, not 50.
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    fs::create_dir_all(src.join("a")).unwrap();
    fs::write(src.join("a/f"), b"x").unwrap();
    fs::create_dir_all(&dst).unwrap();
    let mut c = Cluster::new(zk.connect(), "granted");
    c.dest("d1", &dst, "127.0.0.1");
    c.session_timeout = 200;
    c.source("m", &src, &[]);
    c.source("w", &src, &[]);
    let codes = c.wait_all(LIMIT);
    let logs = c.all_logs();
    assert_eq!(codes, vec![Some(0); 3], "{logs}");
    let said = "ZooKeeper granted a session timeout of 60.0 s, less than the 200.0 s asked for (its maxSessionTimeout): rsync is stopped 15.0 s into a disconnection";
    assert_eq!(logs.matches(said).count(), 2, "both sources say so\n{logs}");
    assert_eq!(differences(&src, &dst), "", "{logs}");
}
