//! The launcher's and the source's own guards (issue 13), end to end with real ZooKeeper,
//! rsync and agents: rsync options are tried before a session exists; a launch whose every
//! source refuses to start ends at once with that error; `zkrsync-launch` locks its
//! sessions with generated credentials that no command line, environment or log shows;
//! rsync runs carry an I/O timeout unless told otherwise.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use zkrsync_tests::cluster::{differences, Cluster};
use zkrsync_tests::gate::RsyncGate;
use zkrsync_tests::locked::{self, SUPER_PASSWORD};
use zkrsync_tests::tree::generate;
use zkrsync_tests::watched::Watched;
use zkrsync_tests::zk::ZkServer;
use zkrsync_tests::{launch_bin, launch_marked, zkrsync, zkrsync_bin};

const LIMIT: Duration = Duration::from_secs(120);
/// Longer than any refusal takes, so that a run that hangs fails instead of blocking.
const REFUSAL_LIMIT: Duration = Duration::from_secs(60);

/// `zkrsync-launch HOSTS --src SRC --dst DST EXTRA…`, without the caller's ZooKeeper or
/// credentials.
fn launcher(hosts: &Path, src: &Path, dst: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(launch_bin());
    cmd.arg(hosts)
        .arg("--src")
        .arg(src)
        .arg("--dst")
        .arg(dst)
        .args(extra)
        .env_remove("ZKRSYNC_ZK")
        .env_remove("ZKRSYNC_AUTH");
    cmd
}

/// [`launcher`] with `home` as its home, where it keeps a resumable session's credentials.
fn launcher_at(home: &Path, hosts: &Path, src: &Path, dst: &Path, extra: &[&str]) -> Command {
    let mut cmd = launcher(hosts, src, dst, extra);
    cmd.env("HOME", home);
    cmd
}

fn empty(dir: &Path) -> bool {
    fs::read_dir(dir).unwrap().next().is_none()
}

#[test]
fn rsync_options_are_tried_before_the_session_is_created() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    generate(&src, 5, 2, 1);
    let dry_run = "copy nothing while zkrsync records every chunk as copied: use zkrsync's own --dry-run (a session parameter)";
    let cases: [(&[&str], &str); 8] = [
        (
            &["--rsync-opt=--no-such-option"],
            "rsync refuses the session's options: \"rsync: --no-such-option: unknown option\"",
        ),
        // The session's own options are part of the trial.
        (
            &["--inplace", "--rsync-opt=--delay-updates"],
            "\"rsync: --inplace cannot be used with --delay-updates\"",
        ),
        (&["--rsync-opt=-n"], dry_run),
        (&["--rsync-opt=--dry-run"], dry_run),
        (&["--rsync-opt=-avn"], dry_run),
        (&["--rsync-opt=--list-only"], dry_run),
        (
            &["--rsync", "/nonexistent/rsync"],
            "cannot run --rsync /nonexistent/rsync (",
        ),
        (&["--rsync", "/bin/false"], "--rsync /bin/false failed"),
    ];
    for (i, (extra, expected)) in cases.iter().enumerate() {
        let session = format!("refused-{i}");
        let mut cmd = Command::new(zkrsync_bin());
        cmd.args(["source", "--zk", zk.connect(), "--session", &session])
            .arg("--path")
            .arg(&src)
            .args(*extra);
        let end = Watched::start(cmd).finish(REFUSAL_LIMIT);
        assert_eq!(end.code, Some(2), "{extra:?}: {}", end.output);
        assert!(
            end.output.contains(expected),
            "{extra:?}: {expected:?} in {}",
            end.output
        );
        assert_eq!(
            end.output.trim().lines().count(),
            1,
            "one line: {}",
            end.output
        );
        assert!(
            !locked::exists(zk.connect(), &format!("/zkrsync/{session}")),
            "{extra:?}: no session was created"
        );
    }
}

#[test]
fn a_launch_whose_every_source_refuses_to_start_ends_at_once_with_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    generate(&src, 10, 3, 2);
    fs::create_dir(&dst).unwrap();
    let hosts = tmp.path().join("hosts.txt");
    fs::write(&hosts, "localhost slots=5\n").unwrap();
    let cases: [(&[&str], &str); 2] = [
        (&["--attempts", "0"], "--attempts 0 is out of range"),
        (
            &["--rsync-opt=--no-such-option"],
            "\"rsync: --no-such-option: unknown option\"",
        ),
    ];
    for (i, (opts, expected)) in cases.iter().enumerate() {
        let session = format!("refused-launch-{}-{i}", std::process::id());
        let mut extra = vec!["--session", &session, "--"];
        extra.extend(opts.iter());
        let end = Watched::start(launcher(&hosts, &src, &dst, &extra)).finish(REFUSAL_LIMIT);
        assert_eq!(end.code, Some(2), "{opts:?}: {}", end.output);
        assert!(
            end.output.lines().any(|l| l.starts_with("zkrsync-launch: ")
                && l.contains("every source ended")
                && l.contains(expected)),
            "{opts:?}: the launcher says why, with the source's error: {}",
            end.output
        );
        assert!(
            end.output.contains("rank 3 dest on localhost"),
            "the destinations were started, and stopped: {}",
            end.output
        );
        assert!(empty(&dst), "nothing was copied");
        let left = launch_marked(&session);
        assert!(
            left.is_empty(),
            "no agent, daemon or ZooKeeper of the run is left: {left:#?}"
        );
    }
}

#[test]
fn a_launched_session_is_locked_with_generated_credentials_that_nothing_shows() {
    let zk = ZkServer::with_super_user(SUPER_PASSWORD);
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    generate(&src, 40, 4, 5);
    fs::create_dir(&dst).unwrap();
    let hosts = tmp.path().join("hosts.txt");
    fs::write(&hosts, "localhost slots=5\n").unwrap();
    let mut gate = RsyncGate::closed(tmp.path());
    let session = format!("locked-{}", std::process::id());
    let mut cmd = launcher_at(
        tmp.path(),
        &hosts,
        &src,
        &dst,
        &[
            "--zk",
            zk.connect(),
            "--session",
            &session,
            "--",
            "--depth",
            "2",
            "--verbose",
            "--rsync",
            gate.rsync().to_str().unwrap(),
        ],
    );
    cmd.env("NO_COLOR", "1");
    let mut run = Watched::start(cmd);
    // Every agent is up and the plan is out; no rsync gets past the gate, so the session
    // stays under way while it is looked at.
    run.wait_for(" registered at rsync://", 2, LIMIT);
    run.wait_for(" joined session ", 2, LIMIT);
    run.wait_for("plan published", 1, LIMIT);
    let id = locked::assert_locked(zk.connect(), &session);
    let procs = locked::every_process();
    assert!(
        procs.contains(&format!("ZKRSYNC_LAUNCH_ID={session}")),
        "the run's processes were looked at"
    );
    assert_eq!(
        locked::find_secret(&procs, &id),
        None,
        "the secret is in a command line or an environment"
    );
    gate.open();
    let end = run.finish(LIMIT);
    assert_eq!(end.code, Some(0), "{}", end.output);
    assert_eq!(differences(&src, &dst), "", "{}", end.output);
    assert!(!end.output.contains("open ACLs"), "{}", end.output);
    assert_eq!(
        locked::find_secret(&end.output, &id),
        None,
        "the secret is in the log: {}",
        end.output
    );
}

#[test]
fn a_locked_session_resumes_with_the_credentials_kept_for_it() {
    use std::os::unix::fs::PermissionsExt as _;
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst, home) = (
        tmp.path().join("src"),
        tmp.path().join("dst"),
        tmp.path().join("home"),
    );
    generate(&src, 30, 4, 8);
    fs::create_dir(&dst).unwrap();
    fs::create_dir(&home).unwrap();
    let hosts = tmp.path().join("hosts.txt");
    fs::write(&hosts, "localhost slots=3\n").unwrap();
    let mut gate = RsyncGate::closed(tmp.path());
    let session = format!("resumed-{}", std::process::id());
    let rsync = gate.rsync().to_str().unwrap().to_owned();
    let args = [
        "--zk",
        zk.connect(),
        "--session",
        &session,
        "--",
        "--depth",
        "2",
        "--rsync",
        &rsync,
    ];
    // Interrupted while every rsync waits at the gate: the session stays.
    let mut first = Watched::start(launcher_at(&home, &hosts, &src, &dst, &args));
    first.wait_for("plan published", 1, LIMIT);
    let kept_dir = home.join(".zkrsync/sessions");
    let kept: Vec<_> = fs::read_dir(&kept_dir).unwrap().flatten().collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let kept = kept[0].path();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode(&kept_dir), mode(&kept)), (0o700, 0o600));
    first.signal(libc::SIGTERM);
    let end = first.finish(LIMIT);
    assert_eq!(end.code, Some(130), "{}", end.output);
    assert!(
        end.output.contains(&format!("kept in {}", kept.display())),
        "{}",
        end.output
    );
    locked::assert_exists_locked(zk.connect(), &session);
    // The same command again opens the session with the kept credentials and finishes it.
    gate.open();
    let end = Watched::start(launcher_at(&home, &hosts, &src, &dst, &args)).finish(LIMIT);
    assert_eq!(end.code, Some(0), "{}", end.output);
    assert_eq!(differences(&src, &dst), "", "{}", end.output);
    assert!(
        !kept.exists(),
        "a completed session's credentials are not kept"
    );
}

#[test]
fn an_open_session_is_an_explicit_choice() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    generate(&src, 20, 3, 6);
    fs::create_dir(&dst).unwrap();
    let hosts = tmp.path().join("hosts.txt");
    fs::write(&hosts, "localhost slots=3\n").unwrap();
    let end = Watched::start(launcher(
        &hosts,
        &src,
        &dst,
        &["--open", "--", "--depth", "2"],
    ))
    .finish(LIMIT);
    assert_eq!(end.code, Some(0), "{}", end.output);
    assert!(
        end.output.contains("has open ACLs"),
        "the master says the session is open: {}",
        end.output
    );
    assert_eq!(differences(&src, &dst), "");
}

#[test]
fn rsync_runs_carry_an_io_timeout_of_600_s_unless_told_otherwise() {
    let help = zkrsync(["source", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("[default: 600]") && help.contains("0: none"),
        "{help}"
    );
    let zk = ZkServer::start();
    let cases: [(&str, &[&str], Option<&str>); 3] = [
        ("default-timeout", &[], Some("\"--timeout=600\"")),
        ("no-timeout", &["--timeout", "0"], None),
        (
            "own-timeout",
            &["--timeout", "45"],
            Some("\"--timeout=45\""),
        ),
    ];
    for (i, (session, extra, want)) in cases.into_iter().enumerate() {
        let tmp = tempfile::tempdir().unwrap();
        let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
        generate(&src, 10, 3, 7 + i as u64);
        fs::create_dir(&dst).unwrap();
        let mut c = Cluster::new(zk.connect(), session);
        c.dest("d1", &dst, "127.0.0.1");
        // A daemon-only option passes the trial of the options.
        let mut opts = vec!["--depth", "1", "--rsync-opt=--contimeout=5"];
        opts.extend(extra);
        c.source("m", &src, &opts);
        c.source("w1", &src, &opts);
        assert_eq!(c.wait_all(LIMIT), vec![Some(0); 3], "{}", c.all_logs());
        assert_eq!(differences(&src, &dst), "", "{}", c.all_logs());
        // Either source may have become the master: the other one copied.
        let worker = c.agents[1].log_text() + &c.agents[2].log_text();
        assert!(worker.contains("running \"rsync\""), "{worker}");
        match want {
            Some(arg) => assert!(worker.contains(arg), "{arg} in {worker}"),
            None => assert!(!worker.contains("--timeout="), "{worker}"),
        }
    }
}
