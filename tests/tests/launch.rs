//! `zkrsync-launch` on a host file of `localhost` lines: real ZooKeeper (the launcher's
//! private one), real agents, real rsync.

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use zkrsync_tests::cluster::differences;
use zkrsync_tests::launch_bin;
use zkrsync_tests::tree::generate;

fn launch(hosts: &Path, src: &Path, dst: &Path, extra: &[&str]) -> Output {
    Command::new(launch_bin())
        .arg(hosts)
        .arg("--src")
        .arg(src)
        .arg("--dst")
        .arg(dst)
        .args(extra)
        .env_remove("ZKRSYNC_ZK")
        .stdin(Stdio::null())
        .output()
        .expect("run zkrsync-launch")
}

#[test]
fn a_local_host_file_runs_a_whole_session_with_a_private_zookeeper() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    generate(&src, 120, 6, 11);
    // --dst is missing: the destinations make it, as rsync does.
    let hosts = tmp.path().join("hosts.txt");
    fs::write(&hosts, "# this machine\nlocalhost slots=5\n").unwrap();
    let out = launch(
        &hosts,
        &src,
        &dst,
        &[
            "--progress",
            "json",
            "--",
            "--depth",
            "2",
            "--chunk-entries",
            "64",
        ],
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    // --progress json: the master's reports, a JSON object a line, ending at the totals.
    let reports = zkrsync_tests::cluster::progress_reports(&stdout);
    let last = reports.last().expect("progress reports on stdout");
    assert_eq!(last["done"], last["chunks"], "{last}");
    assert!(last["bytes"].as_u64().unwrap() > 0, "{last}");
    assert!(
        stderr.contains("3 sources and 2 destinations"),
        "placement by slots: {stderr}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("zkrsync: session launch-") && l.contains("complete")),
        "the master's summary, shown as the launcher's own: {stdout}"
    );
    for label in [
        "[localhost 0 master]",
        "[localhost 3 dest]",
        "[localhost 4 dest]",
    ] {
        assert!(
            stderr.contains(label) || stdout.contains(label),
            "{label} in\n{stderr}"
        );
    }
    assert_eq!(differences(&src, &dst), "");
}

#[test]
fn a_bad_host_file_names_the_line_and_starts_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    generate(&src, 5, 2, 3);
    fs::create_dir(&dst).unwrap();
    let cases = [
        (
            "localhost slots=5\nlocalhost slot=2\n",
            "hosts.txt:2: 'slot=2' is not an option",
        ),
        ("localhost slots=2\n", "room for 0 workers"),
        (
            "localhost slots=4\nnode7 role=dest port=ssh\n",
            "hosts.txt:2: port=ssh is not a TCP port",
        ),
    ];
    for (text, expected) in cases {
        let hosts = tmp.path().join("hosts.txt");
        fs::write(&hosts, text).unwrap();
        let out = launch(&hosts, &src, &dst, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(expected), "{expected} in {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert_eq!(fs::read_dir(&dst).unwrap().count(), 0, "nothing was copied");
    }
}

#[test]
fn a_destination_whose_parent_is_missing_is_refused_before_anything_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, parent) = (tmp.path().join("src"), tmp.path().join("no parent"));
    let dst = parent.join("dst");
    generate(&src, 5, 2, 3);
    let hosts = tmp.path().join("hosts.txt");
    fs::write(&hosts, "localhost slots=5\n").unwrap();
    let out = launch(&hosts, &src, &dst, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "zkrsync-launch: error: --dst: destination {} cannot be created: its parent {p} does not exist: create {p} first (only the last component of a destination is created, as rsync does)\n",
            dst.display(),
            p = parent.display()
        )
    );
    assert!(!parent.exists(), "nothing made");
}

#[test]
fn retry_failed_without_the_sessions_zookeeper_is_refused_before_anything_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    generate(&src, 5, 2, 3);
    let hosts = tmp.path().join("hosts.txt");
    fs::write(&hosts, "localhost slots=5\n").unwrap();
    for extra in [
        &["--retry-failed"][..],
        &["--retry-failed", "--session", "s1"],
    ] {
        let out = launch(&hosts, &src, &dst, extra);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {stderr}");
        assert_eq!(
            stderr,
            "zkrsync-launch: error: --retry-failed needs the finished session's ZooKeeper and name: give --zk and --session (a run on the launcher's private ZooKeeper keeps nothing after it)\n",
            "{extra:?}"
        );
        assert!(!dst.exists(), "nothing made");
    }
}

#[test]
fn stopping_the_launcher_stops_every_agent_and_rsync() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    generate(&src, 150, 6, 7);
    fs::create_dir(&dst).unwrap();
    let hosts = tmp.path().join("hosts.txt");
    fs::write(&hosts, "localhost slots=5\n").unwrap();
    let session = format!("stopme-{}", std::process::id());
    let mut child = Command::new(launch_bin())
        .arg(&hosts)
        .arg("--src")
        .arg(&src)
        .arg("--dst")
        .arg(&dst)
        .args([
            "--session",
            &session,
            "--",
            "--depth",
            "2",
            "--chunk-entries",
            "64",
        ])
        .arg("--rsync-opt=--bwlimit=200")
        .env_remove("ZKRSYNC_ZK")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the plan is out and workers copy, the launcher is told to stop.
    let mut out = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        let n = std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        assert!(n > 0, "the launcher ended before the plan was out");
        if line.contains("plan published") {
            break;
        }
    }
    // Keep reading what it says, so that it never blocks on a full pipe.
    let drain = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut rest);
        rest
    });
    // SAFETY: kill(2) of our own child.
    unsafe {
        libc_kill(child.id() as i32, 15);
    }
    let status = child.wait().unwrap();
    let said = drain.join().unwrap();
    assert_eq!(status.code(), Some(130), "the agents were interrupted");
    // It does not promise a resume its private ZooKeeper cannot keep.
    assert!(
        said.contains("the session was on this run's private ZooKeeper, which is gone with it, so it cannot be resumed"),
        "{said}"
    );
    // No agent, rsync or daemon of this run is left: they all name the session or the
    // run's directories on their command lines.
    for pattern in [session.as_str(), tmp.path().to_str().unwrap()] {
        let left = Command::new("pgrep")
            .args(["-af", pattern])
            .output()
            .unwrap();
        assert!(
            left.stdout.is_empty(),
            "processes left behind: {}",
            String::from_utf8_lossy(&left.stdout)
        );
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn auth_file_locks_the_session_of_every_agent() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    generate(&src, 30, 4, 13);
    fs::create_dir(&dst).unwrap();
    let hosts = tmp.path().join("hosts.txt");
    fs::write(&hosts, "localhost slots=5\n").unwrap();
    let auth = tmp.path().join("auth");
    fs::write(&auth, "alice:s3cret\n").unwrap();
    let out = launch(
        &hosts,
        &src,
        &dst,
        &["--auth-file", auth.to_str().unwrap(), "--", "--depth", "2"],
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Destinations and sources alike got the credentials: a destination without them
    // could not join the locked session, and nothing says the session is open.
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(!all.contains("open ACLs"), "{all}");
    assert!(
        all.contains("dest] ") && all.contains(" registered at "),
        "{all}"
    );
    assert_eq!(differences(&src, &dst), "");
}
