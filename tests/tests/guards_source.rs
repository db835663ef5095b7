//! What a source refuses to copy from, before any rsync runs: another tree than the
//! session's, and a tree whose sub-mount is not mounted. Each would delete data at the
//! destination with `--delete`.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use zkrsync_tests::cluster::{differences, Cluster};
use zkrsync_tests::tree::generate;
use zkrsync_tests::zk::ZkServer;

const LIMIT: Duration = Duration::from_secs(120);
const OPTS: &[&str] = &["--delete", "--depth", "1"];

/// A copy of `src` at `dst` (as a previous run would have left it).
fn prefill(src: &Path, dst: &Path) {
    let mut s = src.as_os_str().to_owned();
    s.push("/");
    let ok = Command::new("rsync")
        .arg("-a")
        .arg(s)
        .arg(dst)
        .status()
        .unwrap()
        .success();
    assert!(ok, "rsync prefill");
}

/// Every path below `root`, for a before/after comparison (without a running destination's
/// own probe file at its root, `.zkrsync-<session>-<id>`).
fn listing(root: &Path) -> Vec<String> {
    let out = Command::new("find").arg(root).output().unwrap();
    let probe = format!("{}/.zkrsync-", root.display());
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with(&probe))
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

/// Starts a destination and a master of `src`, and waits until the plan is published.
fn planned(c: &mut Cluster, src: &Path, dst: &Path) {
    c.dest("d1", dst, "127.0.0.1");
    let m = c.source("m", src, OPTS);
    let deadline = Instant::now() + LIMIT;
    while !c.agents[m].log_text().contains("plan published") {
        assert!(Instant::now() < deadline, "no plan\n{}", c.all_logs());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_source_on_another_tree_is_refused_and_deletes_nothing() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (src, other, dst) = (
        tmp.path().join("src"),
        tmp.path().join("other"),
        tmp.path().join("dst"),
    );
    generate(&src, 40, 3, 1);
    fs::create_dir_all(other.join("unrelated/x")).unwrap();
    fs::write(other.join("unrelated/x/f"), b"not the session's").unwrap();
    fs::create_dir_all(&dst).unwrap();
    prefill(&src, &dst);
    let before = listing(&dst);
    let mut c = Cluster::new(zk.connect(), "wrongtree");
    planned(&mut c, &src, &dst);
    let wrong = c.source("w-wrong", &other, OPTS);
    let status = c.wait(wrong, LIMIT);
    let log = c.agents[wrong].log_text();
    assert_eq!(status.code(), Some(2), "{}", c.all_logs());
    assert!(
        log.contains("does not look like the session's source tree")
            || log.contains("top-level directories the plan saw"),
        "{log}"
    );
    assert!(!log.contains("running \""), "no rsync ran\n{log}");
    assert_eq!(listing(&dst), before, "nothing changed at the destination");
    // The right tree completes the session.
    c.source("w", &src, OPTS);
    for code in c.wait_all(LIMIT) {
        assert!(code == Some(0) || code == Some(2), "{}", c.all_logs());
    }
    assert_eq!(differences(&src, &dst), "", "{}", c.all_logs());
}

/// A tmpfs mounted at a path for the test's lifetime (lazily unmounted at the end).
struct Mount(std::path::PathBuf);

impl Mount {
    fn tmpfs(at: &Path) -> Mount {
        fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "zkrsync-test", at.to_str().unwrap()])
            .status()
            .unwrap()
            .success();
        assert!(
            ok,
            "mount a tmpfs at {} (the test runs as root)",
            at.display()
        );
        Mount(at.to_owned())
    }

    fn lazy_unmount(&self) {
        let ok = Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status()
            .unwrap()
            .success();
        assert!(ok, "umount -l {}", self.0.display());
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A source tree whose `project/fileset` is a tmpfs of 20 files, and a copy of it.
fn with_fileset(tmp: &Path) -> (std::path::PathBuf, std::path::PathBuf, Mount) {
    let (src, dst) = (tmp.join("src"), tmp.join("dst"));
    generate(&src, 10, 2, 3);
    let mount = Mount::tmpfs(&src.join("project/fileset"));
    for i in 0..20 {
        fs::write(mount.0.join(format!("f{i}")), b"on the sub-mount").unwrap();
    }
    fs::create_dir_all(&dst).unwrap();
    prefill(&src, &dst);
    (src, dst, mount)
}

#[test]
fn an_unmounted_sub_mount_is_refused_not_copied_as_empty() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst, mount) = with_fileset(tmp.path());
    let before = listing(&dst);
    let mut c = Cluster::new(zk.connect(), "submount");
    planned(&mut c, &src, &dst);
    // Between planning and copying the file set goes away: an empty directory is left.
    mount.lazy_unmount();
    let w = c.source("w", &src, OPTS);
    let status = c.wait(w, LIMIT);
    let log = c.agents[w].log_text();
    assert_eq!(status.code(), Some(2), "{}", c.all_logs());
    assert!(log.contains("fileset is not mounted"), "{log}");
    assert_eq!(
        listing(&dst),
        before,
        "nothing was deleted at the destination"
    );
    c.kill_all();
}

#[test]
fn a_chunk_no_destination_can_take_fails_with_the_reason_instead_of_circling() {
    use std::os::unix::ffi::OsStrExt;
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    // rsyncd cannot serve a module whose path is not UTF-8: every transfer ends with
    // rsync exit 5 (error starting the client-server protocol).
    let dst = tmp.path().join(std::ffi::OsStr::from_bytes(b"dst-\xff"));
    generate(&src, 3, 2, 5);
    fs::create_dir_all(&dst).unwrap();
    let mut c = Cluster::new(zk.connect(), "handback");
    c.dest("d1", &dst, "127.0.0.1");
    let m = c.source("m", &src, &["--depth", "0"]);
    // The master is elected before the worker joins (it reports the failed chunk).
    let deadline = Instant::now() + LIMIT;
    while !c.agents[m].log_text().contains("is the master") {
        assert!(Instant::now() < deadline, "no master\n{}", c.all_logs());
        std::thread::sleep(Duration::from_millis(20));
    }
    c.source("w", &src, &["--depth", "0"]);
    let codes = c.wait_all(LIMIT);
    let logs = c.all_logs();
    assert_eq!(codes, vec![Some(0), Some(1), Some(0)], "{logs}");
    assert!(logs.contains("handed back 10 times"), "{logs}");
}

#[test]
fn a_session_with_only_its_master_says_it_is_stalled_and_why() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    generate(&src, 5, 2, 9);
    fs::create_dir_all(&dst).unwrap();
    let mut c = Cluster::new(zk.connect(), "alone");
    c.dest("d1", &dst, "127.0.0.1");
    let m = c.source("m", &src, &["--progress-every", "1"]);
    let deadline = Instant::now() + LIMIT;
    let said = "stalled: no worker: the master does not copy; start another zkrsync source";
    while !c.agents[m].log_text().contains(said) {
        assert!(
            Instant::now() < deadline,
            "no stalled line\n{}",
            c.all_logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Another source gets it moving.
    c.source("w", &src, &[]);
    for code in c.wait_all(LIMIT) {
        assert_eq!(code, Some(0), "{}", c.all_logs());
    }
    assert_eq!(differences(&src, &dst), "", "{}", c.all_logs());
}

#[test]
fn a_directory_that_lost_most_of_its_entries_is_not_copied_with_delete() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    fs::create_dir_all(src.join("flat")).unwrap();
    for i in 0..40 {
        fs::write(src.join(format!("flat/f{i}")), b"x").unwrap();
    }
    fs::create_dir_all(&dst).unwrap();
    prefill(&src, &dst);
    let mut c = Cluster::new(zk.connect(), "deleteguard");
    // Depth 2: `flat` is a directory copied with its own entries only (-d --delete).
    let opts = &["--delete", "--depth", "2"];
    c.dest("d1", &dst, "127.0.0.1");
    let m = c.source("m", &src, opts);
    let deadline = Instant::now() + LIMIT;
    while !c.agents[m].log_text().contains("plan published") {
        assert!(Instant::now() < deadline, "no plan\n{}", c.all_logs());
        std::thread::sleep(Duration::from_millis(20));
    }
    // Three quarters of the directory go (a half-unmounted project, a mistaken rm).
    for i in 0..30 {
        fs::remove_file(src.join(format!("flat/f{i}"))).unwrap();
    }
    let before = listing(&dst);
    c.source("w", &src, opts);
    let codes = c.wait_all(LIMIT);
    let logs = c.all_logs();
    assert_eq!(codes, vec![Some(0), Some(1), Some(0)], "{logs}");
    assert!(logs.contains("30 fewer than the 40 the plan saw"), "{logs}");
    assert!(logs.contains("--delete-guard 100"), "{logs}");
    assert_eq!(listing(&dst), before, "nothing deleted at the destination");
}

#[test]
fn a_source_inside_its_destination_is_refused_and_deletes_nothing() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join("dst");
    let src = dst.join("incoming");
    generate(&src, 10, 3, 4);
    let mut c = Cluster::new(zk.connect(), "overlap");
    planned(&mut c, &src, &dst);
    // (The destination has written its probe file by now.)
    let before = listing(&dst);
    let w = c.source("w", &src, OPTS);
    let status = c.wait(w, LIMIT);
    let log = c.agents[w].log_text();
    assert_eq!(status.code(), Some(2), "{}", c.all_logs());
    assert!(log.contains("is inside the destination tree"), "{log}");
    assert_eq!(listing(&dst), before, "neither tree changed");
    c.kill_all();
}

/// An `--rsync` wrapper whose recursive runs (`-r`) wait for `open` to exist, after leaving
/// their pid in `waiting/`; other runs (and the source's trial of its options, a
/// `--dry-run`) pass at once.
fn gate_for_recursive_runs(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let waiting = dir.join("waiting");
    fs::create_dir_all(&waiting).unwrap();
    let script = dir.join("rsync-r-gate");
    let open = dir.join("open");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\ncase \" $* \" in *' --dry-run '*) ;; *' -r '*) touch '{w}'/$$; while [ ! -e '{o}' ]; do sleep 0.05; done ;; esac\nexec rsync \"$@\"\n",
            w = waiting.display(),
            o = open.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    (script, waiting)
}

#[test]
fn a_sub_mount_unmounted_while_its_rsync_runs_is_not_seen_by_that_rsync() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst, mount) = with_fileset(tmp.path());
    let before = listing(&dst);
    let (gate, waiting) = gate_for_recursive_runs(tmp.path());
    let mut c = Cluster::new(zk.connect(), "pinned");
    c.dest("d1", &dst, "127.0.0.1");
    let opts = [OPTS, &["--rsync", gate.to_str().unwrap()]].concat();
    c.source("m", &src, &opts);
    let w = c.source("w", &src, &opts);
    // The recursive run of project/ has been checked and waits at the gate.
    let deadline = Instant::now() + LIMIT;
    let pid = loop {
        if let Some(e) = fs::read_dir(&waiting).unwrap().next() {
            break e.unwrap().file_name().to_string_lossy().into_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no recursive rsync\n{}",
            c.all_logs()
        );
        // Waiting for a process we started to reach the gate (bounded), not for a race.
        std::thread::sleep(Duration::from_millis(20));
    };
    let ns = |p: &str| fs::read_link(format!("/proc/{p}/ns/mnt")).unwrap();
    assert_ne!(
        ns(&pid),
        ns("self"),
        "the run has a mount namespace of its own\n{}",
        c.all_logs()
    );
    // The file set goes away while that rsync runs: outside, an empty directory is left.
    mount.lazy_unmount();
    assert_eq!(
        fs::read_dir(src.join("project/fileset")).unwrap().count(),
        0
    );
    fs::write(tmp.path().join("open"), b"").unwrap();
    let status = c.wait(w, LIMIT);
    assert_eq!(status.code(), Some(0), "{}", c.all_logs());
    assert_eq!(
        listing(&dst),
        before,
        "nothing was deleted at the destination\n{}",
        c.all_logs()
    );
    c.kill_all();
}
