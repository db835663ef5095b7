//! The real agent end to end: `zkrsync source` and `zkrsync dest` processes on a private
//! ZooKeeper, copying with real rsync over loopback.

use std::fs;
use std::path::Path;
use std::time::Duration;

use zkrsync_tests::cluster::{differences, Cluster};
use zkrsync_tests::tree::generate;
use zkrsync_tests::zk::ZkServer;
use zkrsync_tests::zkrsync;

const LIMIT: Duration = Duration::from_secs(120);

fn dirs(tmp: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let src = tmp.join("src");
    let dst = tmp.join("dst");
    fs::create_dir_all(&dst).unwrap();
    (src, dst)
}

/// Starts 2 destinations then a master and 2 workers; waits for all; returns exit codes.
fn run_session(c: &mut Cluster, src: &Path, dst: &Path, extra: &[&str]) -> Vec<Option<i32>> {
    c.dest("d1", dst, "127.0.0.1");
    c.dest("d2", dst, "127.0.0.2");
    c.source("m", src, extra);
    c.source("w1", src, extra);
    c.source("w2", src, extra);
    c.wait_all(LIMIT)
}

#[test]
fn three_sources_and_two_destinations_copy_an_odd_tree_exactly() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = dirs(tmp.path());
    let stats = generate(&src, 1000, 11, 1);
    assert!(stats.files >= 10_000 && stats.dirs >= 1000, "{stats:?}");
    let mut c = Cluster::new(zk.connect(), "copy");
    let codes = run_session(&mut c, &src, &dst, &["--depth", "3"]);
    assert_eq!(codes, vec![Some(0); 5], "{}", c.all_logs());
    assert_eq!(differences(&src, &dst), "", "{}", c.all_logs());
    let summaries = c.agents[2..]
        .iter()
        .filter(|a| a.log_text().contains("zkrsync: session copy complete"))
        .count();
    assert_eq!(
        summaries,
        1,
        "one master prints the summary: {}",
        c.all_logs()
    );
    assert_eq!(
        c.all_logs().matches("session copy has open ACLs").count(),
        1,
        "without --auth, the session says once that it is open: {}",
        c.all_logs()
    );
    assert!(
        c.only_outcome_left(),
        "the session's znodes are gone but its outcome"
    );
}

#[test]
fn delete_removes_extraneous_entries_at_every_level_and_dry_run_changes_nothing() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = dirs(tmp.path());
    generate(&src, 60, 3, 2);
    // First an exact copy.
    let mut c = Cluster::new(zk.connect(), "first");
    assert_eq!(
        run_session(&mut c, &src, &dst, &["--depth", "2"]),
        vec![Some(0); 5],
        "{}",
        c.all_logs()
    );
    // Extraneous entries at the top, above the depth, at it and below it.
    let mut planted = vec![dst.join("extra-top")];
    let mut deep = dst.clone();
    for level in 0..4 {
        let dir = fs::read_dir(&deep)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.is_dir()
                    && !p.is_symlink()
                    && fs::read_dir(p).unwrap().any(|e| e.unwrap().path().is_dir())
            })
            .min();
        let Some(dir) = dir else { break };
        deep = dir;
        planted.push(deep.join(format!("extra-{level}")));
    }
    assert!(planted.len() >= 4, "{planted:?}");
    for p in &planted {
        fs::write(p, b"not in the source").unwrap();
    }
    fs::create_dir(dst.join("extra-dir")).unwrap();
    fs::write(dst.join("extra-dir/inside"), b"x").unwrap();
    planted.push(dst.join("extra-dir"));

    // A dry run with --delete changes nothing.
    let mut c = Cluster::new(zk.connect(), "dry");
    assert_eq!(
        run_session(
            &mut c,
            &src,
            &dst,
            &["--depth", "2", "--delete", "--dry-run"]
        ),
        vec![Some(0); 5],
        "{}",
        c.all_logs()
    );
    for p in &planted {
        assert!(p.exists(), "dry run deleted {}", p.display());
    }
    // Its summary says it is a dry run, and what it would have done.
    let dry = c.all_logs();
    assert!(
        dry.contains("zkrsync: DRY RUN: session dry complete"),
        "{dry}"
    );
    assert!(dry.contains("nothing was changed"), "{dry}");
    let would_delete = number_after(&dry, ", delete ");
    assert!(would_delete >= planted.len() as u64, "{dry}");
    // Without --delete, nothing is deleted either.
    let mut c = Cluster::new(zk.connect(), "keep");
    assert_eq!(
        run_session(&mut c, &src, &dst, &["--depth", "2"]),
        vec![Some(0); 5],
        "{}",
        c.all_logs()
    );
    assert!(planted.iter().all(|p| p.exists()));
    // With --delete, every extraneous entry goes.
    let mut c = Cluster::new(zk.connect(), "delete");
    assert_eq!(
        run_session(&mut c, &src, &dst, &["--depth", "2", "--delete"]),
        vec![Some(0); 5],
        "{}",
        c.all_logs()
    );
    for p in &planted {
        assert!(!p.exists(), "--delete left {}", p.display());
    }
    assert_eq!(differences(&src, &dst), "");
    // The dry run said how many the real run deleted.
    let real = c.all_logs();
    assert!(!real.contains("DRY RUN"), "{real}");
    let deleted = real
        .lines()
        .find_map(|l| l.split_once(" created, ").map(|(_, rest)| rest.to_owned()))
        .and_then(|rest| rest.split(' ').next().map(str::to_owned))
        .and_then(|n| n.parse::<u64>().ok());
    assert_eq!(Some(would_delete), deleted, "{real}");
}

/// The number right after the first `marker` in `text`.
fn number_after(text: &str, marker: &str) -> u64 {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker:?} in {text}"));
    text[at + marker.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

#[test]
fn a_source_with_other_parameters_is_refused_with_the_parameter_named() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = dirs(tmp.path());
    generate(&src, 10, 1, 3);
    let mut c = Cluster::new(zk.connect(), "params");
    // A master that waits for destinations keeps the session open.
    let m = c.source("m", &src, &["--depth", "2", "--delete"]);
    c.wait_status(LIMIT, "a published plan", |s| s["plan_ready"] == true);
    let w = c.source("w", &src, &["--depth", "2"]);
    let status = c.wait(w, LIMIT);
    assert_eq!(status.code(), Some(2), "{}", c.all_logs());
    let log = c.agents[w].log_text();
    assert!(
        log.contains(
            "--delete differs from session params's: the session has true, this source has false"
        ),
        "{log}"
    );
    assert_eq!(
        log.lines().filter(|l| l.contains("error")).count(),
        1,
        "one line: {log}"
    );
    // The destination tree was never touched.
    assert_eq!(fs::read_dir(&dst).unwrap().count(), 0);
    c.agents[m].kill9();
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = dirs(tmp.path());
    fs::create_dir_all(&src).unwrap();
    let missing = tmp.path().join("missing");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "source".into(),
                "--zk".into(),
                "127.0.0.1:1".into(),
                "-N".into(),
                "s".into(),
                "--path".into(),
                missing.display().to_string(),
            ],
            "cannot be read",
        ),
        (
            vec![
                "dest".into(),
                "--zk".into(),
                "127.0.0.1:1".into(),
                "-N".into(),
                "s".into(),
                "--path".into(),
                missing.join("deeper").display().to_string(),
            ],
            "its parent",
        ),
        (
            vec![
                "source".into(),
                "--zk".into(),
                "127.0.0.1:1".into(),
                "-N".into(),
                "s".into(),
                "--path".into(),
                src.display().to_string(),
                "--session-timeout".into(),
                "2".into(),
            ],
            "ZooKeeper at 127.0.0.1:1",
        ),
        (
            vec![
                "source".into(),
                "--zk".into(),
                "nonsense".into(),
                "-N".into(),
                "s".into(),
                "--path".into(),
                src.display().to_string(),
            ],
            "is not host:port",
        ),
        (
            vec![
                "source".into(),
                "--zk".into(),
                "127.0.0.1:1".into(),
                "-N".into(),
                "a/b".into(),
                "--path".into(),
                src.display().to_string(),
            ],
            "session name",
        ),
        (
            vec![
                "source".into(),
                "--zk".into(),
                "127.0.0.1:1".into(),
                "-N".into(),
                "s".into(),
                "--path".into(),
                src.display().to_string(),
                "--attempts".into(),
                "0".into(),
            ],
            "--attempts 0",
        ),
        (
            vec![
                "source".into(),
                "--zk".into(),
                "127.0.0.1:1".into(),
                "-N".into(),
                "s".into(),
                "--path".into(),
                src.display().to_string(),
                "--rsync-opt=--files-from=x".into(),
            ],
            "not allowed",
        ),
        (
            vec![
                "source".into(),
                "--zk".into(),
                "127.0.0.1:1".into(),
                "-N".into(),
                "s".into(),
                "--path".into(),
                src.display().to_string(),
                "--rsync-opt=--ignore-errors".into(),
            ],
            "refused by every destination's rsync daemon",
        ),
        (
            vec![
                "source".into(),
                "--zk".into(),
                "127.0.0.1:1".into(),
                "-N".into(),
                "s".into(),
                "--path".into(),
                src.display().to_string(),
                "--auth".into(),
                "nopassword".into(),
            ],
            "USER:PASS",
        ),
    ];
    for (args, want) in cases {
        let out = zkrsync(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    assert_eq!(fs::read_dir(&dst).unwrap().count(), 0);
}

#[test]
fn vsc_zk_users_can_run_from_their_zkrs_conf() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = dirs(tmp.path());
    generate(&src, 20, 2, 4);
    let conf = tmp.path().join("zkrs.conf");
    fs::write(
        &conf,
        format!(
            "[MAIN]\nservers={}\nsession=fromconf\ndepth=2\ndelete=1\n",
            zk.connect()
        ),
    )
    .unwrap();
    fs::write(dst.join("extraneous"), b"x").unwrap();
    let bin = zkrsync_tests::zkrsync_bin();
    let spawn = |role: &str, path: &Path, extra: &[&str]| {
        std::process::Command::new(bin)
            .arg(role)
            .arg("--config")
            .arg(&conf)
            .arg("--path")
            .arg(path)
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let d = spawn(
        "dest",
        &dst,
        &["--advertise", "127.0.0.1", "--session-timeout", "4"],
    );
    let sources: Vec<_> = (0..2)
        .map(|_| spawn("source", &src, &["--session-timeout", "4"]))
        .collect();
    for child in sources.into_iter().chain([d]) {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        !dst.join("extraneous").exists(),
        "delete=1 from zkrs.conf applies"
    );
    assert_eq!(differences(&src, &dst), "");
}

#[test]
fn a_session_with_credentials_refuses_clients_without_them() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = dirs(tmp.path());
    generate(&src, 10, 1, 5);
    let mut c = Cluster::new(zk.connect(), "locked");
    let m = c.source("m", &src, &["--depth", "2", "--auth", "alice:secret"]);
    // `zkrsync status` with the right credentials sees the plan.
    let deadline = std::time::Instant::now() + LIMIT;
    loop {
        let out = zkrsync([
            "status",
            "--json",
            "--zk",
            zk.connect(),
            "-N",
            "locked",
            "--auth",
            "alice:secret",
        ]);
        if out.status.code() == Some(0)
            && serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["plan_ready"]
                == true
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no plan: {}",
            c.all_logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for auth in [&["--auth", "alice:wrong"][..], &[]] {
        let w = c.source("w", &src, &[&["--depth", "2"][..], auth].concat());
        assert_eq!(c.wait(w, LIMIT).code(), Some(2), "{}", c.all_logs());
        let log = c.agents[w].log_text();
        assert!(
            log.contains("session locked: ZooKeeper refused access")
                && log.contains("not authorized"),
            "{log}"
        );
        assert_eq!(log.lines().count(), 1, "one line: {log}");
    }
    // Another user's session next to it works: the base path is shared.
    let mut other = Cluster::new(zk.connect(), "bob-session");
    other.dest_with("d1", &dst, "127.0.0.1", &["--auth", "bob:pw"]);
    other.source("m", &src, &["--depth", "2", "--auth", "bob:pw"]);
    other.source("w", &src, &["--depth", "2", "--auth", "bob:pw"]);
    assert_eq!(
        other.wait_all(LIMIT),
        vec![Some(0); 3],
        "{}",
        other.all_logs()
    );
    assert!(
        !other.all_logs().contains("open ACLs"),
        "{}",
        other.all_logs()
    );
    c.agents[m].kill9();
}
