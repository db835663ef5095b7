//! `zkrsync-launch` over SSH: real sshd on 127.0.0.2, 127.0.0.3 and 127.0.0.4 (each with its
//! own host key), real ZooKeeper, real agents and rsync on those "hosts".

use std::fs;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use zkrsync_tests::cluster::differences;
use zkrsync_tests::gate::RsyncGate;
use zkrsync_tests::locked;
use zkrsync_tests::sshd::SshHosts;
use zkrsync_tests::tree::generate;
use zkrsync_tests::watched::Watched;
use zkrsync_tests::zk::ZkServer;
use zkrsync_tests::{launch_bin, launch_marked, wait_exit, zkrsync, zkrsync_bin};

/// The launcher with the hosts' key and known_hosts (unless `extra` gives its own).
fn command(ssh: &SshHosts, hosts: &Path, src: &Path, dst: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(launch_bin());
    cmd.arg(hosts)
        .arg("--src")
        .arg(src)
        .arg("--dst")
        .arg(dst)
        .arg("--ssh-key")
        .arg(ssh.user_key());
    if !extra.contains(&"--known-hosts") {
        cmd.arg("--known-hosts").arg(ssh.known_hosts());
    }
    cmd.args(extra)
        .env_remove("ZKRSYNC_ZK")
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null());
    cmd
}

fn launch(ssh: &SshHosts, hosts: &Path, src: &Path, dst: &Path, extra: &[&str]) -> Output {
    command(ssh, hosts, src, dst, extra)
        .output()
        .expect("run zkrsync-launch")
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

struct Trees {
    tmp: tempfile::TempDir,
    src: PathBuf,
    dst: PathBuf,
}

fn trees(dirs: usize) -> Trees {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    generate(&src, dirs, 5, 21);
    fs::create_dir(&dst).unwrap();
    Trees { tmp, src, dst }
}

impl Trees {
    /// A host file of 127.0.0.2 (the master and a worker) and 127.0.0.3 (a destination).
    fn two_hosts(&self, ssh: &SshHosts) -> PathBuf {
        self.hosts(&format!(
            "{}{}",
            ssh.line("127.0.0.2", "slots=2 role=source"),
            ssh.line("127.0.0.3", "role=dest"),
        ))
    }

    fn hosts(&self, text: &str) -> PathBuf {
        let path = self.tmp.path().join("hosts.txt");
        fs::write(&path, text).unwrap();
        path
    }

    fn dst_is_empty(&self) -> bool {
        fs::read_dir(&self.dst).unwrap().next().is_none()
    }
}

const SOURCE_OPTS: [&str; 5] = ["--", "--depth", "2", "--chunk-entries", "32"];

#[test]
fn three_ssh_hosts_copy_a_generated_tree() {
    let ssh = SshHosts::start();
    let t = trees(80);
    let hosts = t.hosts(&format!(
        "# three hosts over SSH\n{}{}{}",
        ssh.line("127.0.0.2", "slots=2 role=source"),
        ssh.line("127.0.0.3", "slots=2 role=dest"),
        ssh.line("127.0.0.4", "slots=1"),
    ));
    let out = launch(&ssh, &hosts, &t.src, &t.dst, &SOURCE_OPTS);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert_eq!(differences(&t.src, &t.dst), "", "{all}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("zkrsync: session launch-") && l.contains(" 0 failed")),
        "the master's summary is shown as the launcher's own: {all}"
    );
    // The destinations serve at the address of their host, and the sources on both
    // source-capable hosts worked.
    assert!(
        all.contains("registered at rsync://zkrsync@127.0.0.3:"),
        "{all}"
    );
    assert!(all.contains("[127.0.0.4 2 source]"), "{all}");
}

#[test]
fn roles_and_slots_place_processes_as_written() {
    let ssh = SshHosts::start();
    let t = trees(30);
    let hosts = t.hosts(&format!(
        "{}{}{}",
        ssh.line("127.0.0.4", "slots=1 role=source"),
        ssh.line("127.0.0.2", "slots=3"),
        ssh.line("127.0.0.3", "role=dest"),
    ));
    let out = launch(
        &ssh,
        &hosts,
        &t.src,
        &t.dst,
        &["-n", "2", SOURCE_OPTS[0], SOURCE_OPTS[1], SOURCE_OPTS[2]],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    // The master on the source host, the workers where slots are left (role any), the
    // destinations on the dest host, then on the host of role any.
    for expected in [
        "rank 0 master on 127.0.0.4",
        "rank 1 source on 127.0.0.2",
        "rank 2 source on 127.0.0.2",
        "rank 3 dest on 127.0.0.3",
        "rank 4 dest on 127.0.0.2",
    ] {
        assert!(all.contains(expected), "{expected} in\n{all}");
    }
    // And they ran there: the master was elected where it was put, each destination
    // serves at its host's address.
    assert!(
        all.lines().any(
            |l| l.starts_with("[127.0.0.4 0 master]") && l.contains("is the master of session")
        ),
        "{all}"
    );
    for (label, addr) in [
        ("[127.0.0.3 3 dest]", "127.0.0.3"),
        ("[127.0.0.2 4 dest]", "127.0.0.2"),
    ] {
        assert!(
            all.lines().any(|l| l.starts_with(label)
                && l.contains(&format!("registered at rsync://zkrsync@{addr}:"))),
            "{label} at {addr} in\n{all}"
        );
    }
    assert_eq!(differences(&t.src, &t.dst), "");
}

#[test]
fn an_unknown_host_key_is_refused_and_accept_new_host_keys_adds_it() {
    let ssh = SshHosts::start();
    let t = trees(20);
    let hosts = t.two_hosts(&ssh);
    let known = t.tmp.path().join("known_hosts");
    let known_arg = known.to_str().unwrap();
    let out = launch(&ssh, &hosts, &t.src, &t.dst, &["--known-hosts", known_arg]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    for addr in ["127.0.0.2", "127.0.0.3"] {
        assert!(
            all.contains(&format!("{addr}: its host key is not in {known_arg}")),
            "{addr} refused in\n{all}"
        );
    }
    assert!(all.contains("nothing was started"), "{all}");
    assert!(t.dst_is_empty());
    assert!(!known.exists(), "nothing was written to known_hosts");

    let out = launch(
        &ssh,
        &hosts,
        &t.src,
        &t.dst,
        &["--known-hosts", known_arg, "--accept-new-host-keys"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(differences(&t.src, &t.dst), "");
    // The added keys are the hosts' own, once each.
    let added = fs::read_to_string(&known).unwrap();
    let mut want: Vec<String> = fs::read_to_string(ssh.known_hosts())
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("[127.0.0.4]"))
        .map(str::to_owned)
        .collect();
    let mut got: Vec<String> = added.lines().map(str::to_owned).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);

    // Now they are known: a strict run goes through.
    let out = launch(&ssh, &hosts, &t.src, &t.dst, &["--known-hosts", known_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn a_changed_host_key_is_always_refused() {
    let ssh = SshHosts::start();
    let t = trees(20);
    let hosts = t.two_hosts(&ssh);
    ssh.rekey("127.0.0.3");
    let before = fs::read(ssh.known_hosts()).unwrap();
    for extra in [&[][..], &["--accept-new-host-keys"][..]] {
        let out = launch(&ssh, &hosts, &t.src, &t.dst, extra);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(3), "{extra:?}: {all}");
        assert!(all.contains("127.0.0.3: its host key CHANGED"), "{all}");
        assert!(!all.contains("127.0.0.2: its host key"), "{all}");
        assert!(t.dst_is_empty());
        assert_eq!(
            fs::read(ssh.known_hosts()).unwrap(),
            before,
            "known_hosts untouched"
        );
    }
}

#[test]
fn an_unreachable_host_and_a_missing_binary_are_reported_before_anything_starts() {
    let ssh = SshHosts::start();
    let zk = ZkServer::start();
    let t = trees(20);
    // Nothing listens on this port of 127.0.0.5.
    let closed = std::net::TcpListener::bind("127.0.0.5:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let hosts = t.hosts(&format!(
        "{}127.0.0.5 port={closed} role=dest\n",
        ssh.line("127.0.0.2", "slots=2 role=source"),
    ));
    let missing = t.tmp.path().join("nowhere/zkrsync");
    let out = launch(
        &ssh,
        &hosts,
        &t.src,
        &t.dst,
        &[
            "--zk",
            zk.connect(),
            "--session",
            "prechecked",
            "--remote-binary",
            missing.to_str().unwrap(),
        ],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains("127.0.0.5: cannot reach port"), "{all}");
    assert!(
        all.contains(&format!(
            "127.0.0.2: {} does not run there",
            missing.display()
        )) && all.contains("--push-binary"),
        "{all}"
    );
    assert!(
        all.contains("2 of 2 hosts failed the check; nothing was started"),
        "{all}"
    );
    assert!(t.dst_is_empty());
    // Not even the session was created.
    let status = zkrsync(["status", "--zk", zk.connect(), "--session", "prechecked"]);
    assert_eq!(status.status.code(), Some(14), "{}", text(&status));
}

#[test]
fn push_binary_copies_zkrsync_to_hosts_that_lack_it() {
    let ssh = SshHosts::start();
    let t = trees(20);
    let hosts = t.two_hosts(&ssh);
    let remote = t.tmp.path().join("pushed/bin/zkrsync");
    let out = launch(
        &ssh,
        &hosts,
        &t.src,
        &t.dst,
        &["--remote-binary", remote.to_str().unwrap(), "--push-binary"],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert_eq!(differences(&t.src, &t.dst), "");
    assert_eq!(fs::read(&remote).unwrap(), fs::read(zkrsync_bin()).unwrap());
    // No temporary copy is left beside it.
    let beside: Vec<_> = fs::read_dir(remote.parent().unwrap()).unwrap().collect();
    assert_eq!(beside.len(), 1, "{beside:?}");
}

#[test]
fn killing_the_launcher_mid_run_leaves_no_process_behind() {
    let ssh = SshHosts::start();
    let t = trees(60);
    let hosts = t.hosts(&format!(
        "{}{}{}",
        ssh.line("127.0.0.2", "slots=2 role=source"),
        ssh.line("127.0.0.3", "slots=2 role=dest"),
        ssh.line("127.0.0.4", "slots=1"),
    ));
    let session = format!("killed-{}", std::process::id());
    let mut child = command(
        &ssh,
        &hosts,
        &t.src,
        &t.dst,
        &[
            "--session",
            &session,
            "--",
            "--depth",
            "2",
            "--chunk-entries",
            "32",
            "--verbose",
            "--rsync-opt=--bwlimit=20",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // Wait until a worker runs rsync on a remote host; keep reading so it never blocks.
    let (tx, rx) = mpsc::channel();
    let err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut seen = String::new();
        for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            if line.contains(" source] ") && line.contains("running \"rsync\"") {
                let _ = tx.send(());
            }
            seen.push_str(&line);
            seen.push('\n');
        }
        seen
    });
    let copying = rx.recv_timeout(Duration::from_secs(120));
    assert!(copying.is_ok(), "no worker started rsync: {}", {
        let _ = child.kill();
        reader.join().unwrap()
    });
    let running = launch_marked(&session);
    assert!(
        running.iter().any(|(_, c)| c.starts_with("rsync --daemon"))
            && running.iter().any(|(_, c)| c.contains("zkrsync source")),
        "the run is under way: {running:#?}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let log = reader.join().unwrap();
    // The agents learn it from their closed input and stop: wait for each to exit (an
    // agent given up on after its grace of 30 s is killed by itself), then look again.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut left = launch_marked(&session);
    while !left.is_empty() && Instant::now() < deadline {
        for (pid, _) in &left {
            wait_exit(*pid, deadline);
        }
        left = launch_marked(&session);
    }
    assert!(left.is_empty(), "left behind: {left:#?}\n{log}");
}

#[test]
fn check_runs_on_every_source_host_and_copies_nothing() {
    let ssh = SshHosts::start();
    let t = trees(20);
    let hosts = t.hosts(&format!(
        "{}{}{}",
        ssh.line("127.0.0.2", "slots=2 role=source"),
        ssh.line("127.0.0.4", "slots=1 role=source"),
        ssh.line("127.0.0.3", "slots=2 role=dest"),
    ));
    let out = launch(&ssh, &hosts, &t.src, &t.dst, &["--check"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    for host in ["127.0.0.2", "127.0.0.4"] {
        assert!(
            all.lines().any(
                |l| l.starts_with(&format!("[{host} check] session launch-"))
                    && l.ends_with("2 of 2 destinations work")
            ),
            "{host} checked both destinations:\n{all}"
        );
    }
    assert_eq!(
        all.matches(" check] session ").count(),
        2,
        "once per source host: {all}"
    );
    // Nothing copied: the only entry is the probe file of the check's session, whose
    // destinations were interrupted (the session stays, so the probe does).
    let left: Vec<String> = fs::read_dir(&t.dst)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        matches!(&left[..], [probe] if probe.starts_with(".zkrsync-launch-")),
        "nothing copied: {left:?}"
    );
}

#[test]
fn generated_credentials_lock_a_session_over_ssh_and_nothing_shows_them() {
    let ssh = SshHosts::start();
    let zk = ZkServer::with_super_user(locked::SUPER_PASSWORD);
    let t = trees(30);
    let hosts = t.two_hosts(&ssh);
    let mut gate = RsyncGate::closed(t.tmp.path());
    let session = format!("locked-ssh-{}", std::process::id());
    let mut run = command(
        &ssh,
        &hosts,
        &t.src,
        &t.dst,
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
    // Its home, where it keeps the credentials of a session that can be resumed.
    run.env("HOME", t.tmp.path());
    let mut run = Watched::start(run);
    // The agents took the credentials from their SSH channel: the destination joined the
    // locked session, the worker too, and the plan is out; every rsync waits at the gate.
    run.wait_for(" registered at rsync://", 1, Duration::from_secs(120));
    run.wait_for(" joined session ", 1, Duration::from_secs(120));
    run.wait_for("plan published", 1, Duration::from_secs(120));
    let id = locked::assert_locked(zk.connect(), &session);
    let procs = locked::every_process();
    assert!(
        procs.contains(&format!("ZKRSYNC_LAUNCH_ID={session}")),
        "the remote agents were looked at"
    );
    assert_eq!(locked::find_secret(&procs, &id), None, "in a process");
    gate.open();
    let end = run.finish(Duration::from_secs(120));
    assert_eq!(end.code, Some(0), "{}", end.output);
    assert_eq!(differences(&t.src, &t.dst), "", "{}", end.output);
    assert_eq!(
        locked::find_secret(&end.output, &id),
        None,
        "{}",
        end.output
    );
}
