//! The destination's guards, end to end as root with a real ZooKeeper and rsync: a
//! session's destinations prove they share one tree, a tree belongs to one live session, a
//! destination whose tree is unmounted pauses and nothing lands on the file system beneath,
//! the daemon takes nothing a session does not send, and a destination without root keeps
//! symlinks exactly or refuses to start.

use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use zkrsync_core::protocol::records::DestRecord;
use zkrsync_tests::cluster::{differences, Cluster};
use zkrsync_tests::tree::generate;
use zkrsync_tests::zk::ZkServer;

const LIMIT: Duration = Duration::from_secs(120);

/// Pushes `src/` to the destination's module with its login, as a source would.
fn push(record: &DestRecord, src: &Path, extra: &[&str]) -> Output {
    let mut s = src.as_os_str().to_owned();
    s.push("/");
    Command::new("rsync")
        .args(["-rlpt"])
        .args(extra)
        .arg(s)
        .arg(record.url())
        .env(
            "RSYNC_PASSWORD",
            &record.auth.as_ref().expect("a locked daemon").secret.0,
        )
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

/// The agent's last line of output (a refusal is one line).
fn last_line(c: &Cluster, i: usize) -> String {
    c.agents[i]
        .log_text()
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned()
}

fn small_tree(root: &Path) {
    generate(root, 40, 3, 7);
}

#[test]
fn destinations_on_different_trees_are_refused_and_one_tree_under_two_paths_is_copied_exactly() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst, other) = (
        tmp.path().join("src"),
        tmp.path().join("dst"),
        tmp.path().join("other"),
    );
    small_tree(&src);
    fs::create_dir(&dst).unwrap();
    fs::create_dir(&other).unwrap();
    let alias = tmp.path().join("alias");
    std::os::unix::fs::symlink(&dst, &alias).unwrap();
    let mut c = Cluster::new(zk.connect(), "split");
    c.dest("d1", &dst, "127.0.0.1");
    c.dest_record("d1", "registered", |_| true);
    assert_eq!(
        names(&dst),
        [".zkrsync-split-d1"],
        "the first destination's probe"
    );

    // Another directory: refused, nothing registered, nothing written there.
    let d2 = c.dest("d2", &other, "127.0.0.2");
    let code = c.wait(d2, LIMIT).code();
    assert_eq!(code, Some(2), "{}", c.all_logs());
    let other_shown = other.display().to_string();
    assert_eq!(
        last_line(&c, d2),
        format!("zkrsync: error: destination {other_shown} is not session split's destination tree: the session's first destination d1 wrote the probe file .zkrsync-split-d1 into the root of its tree, and {other_shown}/.zkrsync-split-d1 is not there (another directory, another host's disk, or a file system that is not mounted?): give every destination of the session the same tree, or use another --session")
    );
    assert!(c.znode("/zkrsync/split/dests/d2").is_none());
    assert!(
        names(&other).is_empty(),
        "nothing written into the other tree"
    );

    // The same tree under another path: accepted; the copy is exact and the probe gone.
    c.dest("d3", &alias, "127.0.0.3");
    c.dest_record("d3", "registered", |_| true);
    let m = c.source("m", &src, &["--depth", "2", "--delete"]);
    let w = c.source("w1", &src, &["--depth", "2", "--delete"]);
    for i in [0, 2, m, w] {
        assert_eq!(c.wait(i, LIMIT).code(), Some(0), "{}", c.all_logs());
    }
    assert_eq!(differences(&src, &dst), "", "{}", c.all_logs());
    assert!(names(&other).is_empty());
    assert!(
        c.only_outcome_left(),
        "the session's znodes (desttree too) are gone but its outcome"
    );
}

#[test]
fn a_tree_in_use_by_another_live_session_is_refused_and_a_stale_probe_is_removed() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    small_tree(&src);
    fs::create_dir(&dst).unwrap();
    let mut first = Cluster::new(zk.connect(), "first");
    first.dest("d1", &dst, "127.0.0.1");
    first.dest_record("d1", "registered", |_| true);

    let mut second = Cluster::new(zk.connect(), "second");
    let d2 = second.dest("d2", &dst, "127.0.0.2");
    assert_eq!(
        second.wait(d2, LIMIT).code(),
        Some(2),
        "{}",
        second.all_logs()
    );
    assert_eq!(
        last_line(&second, d2),
        format!("zkrsync: error: destination tree {} is in use by session first (its probe file .zkrsync-first-d1 is in the tree's root and the session is in ZooKeeper at /zkrsync/first): copy into another tree, or end session first first (zkrsync abort --session first)", dst.display())
    );
    assert!(second.znode("/zkrsync/second/dests/d2").is_none());
    assert!(second.znode("/zkrsync/second/desttree").is_none());

    // The first session is ended on purpose while its destination is stopped: its probe
    // stays behind, stale.
    first.agents[0].signal_tree("TERM");
    assert_eq!(
        first.wait(0, LIMIT).code(),
        Some(130),
        "{}",
        first.all_logs()
    );
    assert_eq!(
        names(&dst),
        [".zkrsync-first-d1"],
        "an interrupted session keeps its probe"
    );
    let abort = zkrsync_tests::zkrsync(["abort", "--zk", zk.connect(), "--session", "first"]);
    assert_eq!(abort.status.code(), Some(0), "{abort:?}");

    let d2 = second.dest("d2", &dst, "127.0.0.2");
    second.dest_record("d2", "registered", |_| true);
    assert!(second.agents[d2].log_text().contains(&format!(
        "removing the stale probe file {}/.zkrsync-first-d1: session first is not running any more",
        dst.display()
    )));
    let m = second.source("m", &src, &["--delete"]);
    let w = second.source("w1", &src, &["--delete"]);
    for i in [d2, m, w] {
        assert_eq!(
            second.wait(i, LIMIT).code(),
            Some(0),
            "{}",
            second.all_logs()
        );
    }
    assert_eq!(differences(&src, &dst), "", "{}", second.all_logs());
}

/// A bind mount, lazily unmounted when dropped.
struct Bind(PathBuf);

impl Bind {
    fn new(what: &Path, at: &Path) -> Bind {
        let status = Command::new("mount")
            .arg("--bind")
            .arg(what)
            .arg(at)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "mount --bind {} {}",
            what.display(),
            at.display()
        );
        Bind(at.to_owned())
    }

    fn unmount(&self) {
        let status = Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success(), "umount -l {}", self.0.display());
    }
}

impl Drop for Bind {
    fn drop(&mut self) {
        while Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {}
    }
}

#[test]
fn a_destination_whose_tree_is_unmounted_pauses_and_nothing_lands_beneath() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (src, tree, dst) = (
        tmp.path().join("src"),
        tmp.path().join("tree"),
        tmp.path().join("dst"),
    );
    small_tree(&src);
    fs::create_dir(&tree).unwrap();
    fs::create_dir(&dst).unwrap();
    // What is beneath the mount point, seen through a descriptor opened before the mount.
    let beneath_dir = fs::File::open(&dst).unwrap();
    let beneath = PathBuf::from(format!("/proc/self/fd/{}", {
        use std::os::fd::AsRawFd as _;
        beneath_dir.as_raw_fd()
    }));
    let bind = Bind::new(&tree, &dst);
    let mut c = Cluster::new(zk.connect(), "mounted");
    c.dest("d1", &dst, "127.0.0.1");
    let record = c.dest_record("d1", "registered", |r| r.active);

    bind.unmount();
    // At once, before the destination's tree check: its daemon refuses the transfer.
    let out = push(&record, &src, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("@ERROR: early exec failed"), "{stderr}");
    c.dest_record("d1", "paused", |r| !r.active);
    let log = c.agents[0].log_text();
    for said in [
        format!("destination tree {} is not the directory it was when the destination started (unmounted or replaced?): refused", dst.display()),
        format!("destination tree {} is not the directory it was at start", dst.display()),
    ] {
        assert!(log.contains(&said), "{said:?} not in\n{log}");
    }
    // Sources meanwhile have nowhere to copy to.
    let m = c.source("m", &src, &["--depth", "1", "--delete"]);
    let w = c.source("w1", &src, &["--depth", "1", "--delete"]);
    c.wait_status(LIMIT, "a ready plan", |s| s["plan_ready"] == true);
    assert!(names(&beneath).is_empty(), "nothing lands beneath");
    assert!(names(&dst).is_empty());

    // The tree is mounted again: the destination takes work again, and the copy lands in it.
    let _bind = Bind::new(&tree, &dst);
    for i in [0, m, w] {
        assert_eq!(c.wait(i, LIMIT).code(), Some(0), "{}", c.all_logs());
    }
    assert_eq!(differences(&src, &tree), "", "{}", c.all_logs());
    assert!(names(&beneath).is_empty(), "nothing landed beneath");
}

#[test]
fn the_daemon_takes_only_what_a_session_sends_and_the_record_says_where_the_tree_is() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    fs::create_dir_all(src.join("a")).unwrap();
    fs::write(src.join("a/f"), b"data").unwrap();
    fs::create_dir(&dst).unwrap();
    let mut c = Cluster::new(zk.connect(), "shut");
    c.dest("d1", &dst, "127.0.0.1");
    let record = c.dest_record("d1", "registered", |_| true);

    // Where the tree is: this host's boot id, the device and inode of the root and of each
    // ancestor.
    let tree = record
        .tree
        .clone()
        .expect("the record says where the tree is");
    let boot = fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    assert_eq!(tree.boot_id, boot.trim());
    let real = dst.canonicalize().unwrap();
    let chain: Vec<(u64, u64)> = real
        .ancestors()
        .map(|p| {
            let m = fs::metadata(p).unwrap();
            (m.dev(), m.ino())
        })
        .collect();
    assert_eq!(tree.chain, chain);

    // Options zkrsync never sends are refused, and nothing is written.
    for option in [
        "--delete-excluded",
        "--remove-source-files",
        "--ignore-errors",
        "--write-devices",
    ] {
        let out = push(&record, &src, &[option]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{option} was accepted: {stderr}");
        assert!(stderr.contains("refuse"), "{option}: {stderr}");
        assert_eq!(
            names(&dst),
            [".zkrsync-shut-d1"],
            "{option} wrote something"
        );
    }
    assert!(src.join("a/f").exists(), "the source is intact");
    // What a session sends is taken.
    let out = push(
        &record,
        &src,
        &[
            "--delete",
            "--numeric-ids",
            "--checksum",
            "--inplace",
            "--timeout=30",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fs::read(dst.join("a/f")).unwrap(), b"data");
}

#[test]
fn the_daemon_takes_sixteen_connections_at_once_and_no_more() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    fs::create_dir_all(&src).unwrap();
    fs::create_dir(&dst).unwrap();
    let mut c = Cluster::new(zk.connect(), "bounded");
    c.dest("d1", &dst, "127.0.0.1");
    let record = c.dest_record("d1", "registered", |_| true);
    // Each of these holds one connection: it has chosen the module and waits for its login.
    use std::io::{BufRead as _, BufReader, Write as _};
    let held: Vec<std::net::TcpStream> = (0..16)
        .map(|_| {
            let mut s =
                std::net::TcpStream::connect((record.address.as_str(), record.port)).unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut greeting = String::new();
            r.read_line(&mut greeting).unwrap();
            writeln!(s, "{greeting}{}", record.module).unwrap();
            let mut answer = String::new();
            r.read_line(&mut answer).unwrap();
            assert!(answer.starts_with("@RSYNCD: AUTHREQD"), "{answer}");
            s
        })
        .collect();
    let out = push(&record, &src, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("max connections (16) reached"), "{stderr}");
    drop(held);
}

#[test]
fn a_delete_session_keeps_probe_files_at_the_root_and_never_copies_the_source_s() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    small_tree(&src);
    fs::write(src.join(".zkrsync-notes"), b"the source's own").unwrap();
    fs::create_dir(&dst).unwrap();
    fs::write(
        dst.join(".zkrsync-keep"),
        b"not a probe, but named like one",
    )
    .unwrap();
    fs::write(dst.join("extra"), b"not in the source").unwrap();
    fs::create_dir(dst.join("sub")).unwrap();
    fs::write(
        dst.join("sub/.zkrsync-below"),
        b"an ordinary file below the root",
    )
    .unwrap();
    let mut c = Cluster::new(zk.connect(), "kept");
    c.dest("d1", &dst, "127.0.0.1");
    c.source("m", &src, &["--depth", "1", "--delete"]);
    c.source("w1", &src, &["--depth", "1", "--delete"]);
    assert_eq!(c.wait_all(LIMIT), vec![Some(0); 3], "{}", c.all_logs());
    assert_eq!(
        fs::read(dst.join(".zkrsync-keep")).unwrap(),
        b"not a probe, but named like one",
        "protected from --delete"
    );
    assert!(
        !dst.join("extra").exists() && !dst.join("sub").exists(),
        "deleted"
    );
    assert!(!dst.join(".zkrsync-notes").exists(), "never copied");
    assert!(c.agents[0].log_text().contains(&format!(
        "{}/.zkrsync-keep is not a zkrsync probe file: left as it is",
        dst.display()
    )));
    let mut left: Vec<String> = differences(&src, &dst).lines().map(str::to_owned).collect();
    left.sort();
    assert_eq!(
        left,
        ["*deleting   .zkrsync-keep", ">f+++++++++ .zkrsync-notes"],
        "{}",
        c.all_logs()
    );
}

#[test]
fn a_destination_without_root_is_refused_unless_it_accepts_rewritten_symlinks() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    // nobody must reach the tree.
    fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    fs::create_dir_all(src.join("a/b")).unwrap();
    fs::write(src.join("a/f"), b"data").unwrap();
    std::os::unix::fs::symlink("/etc/hostname", src.join("absolute")).unwrap();
    std::os::unix::fs::symlink("../../../above", src.join("a/b/upward")).unwrap();
    std::os::unix::fs::symlink("../f", src.join("a/b/inside")).unwrap();
    fs::create_dir(&dst).unwrap();
    let chown = Command::new("chown")
        .args(["nobody:nogroup"])
        .arg(&dst)
        .status()
        .unwrap();
    assert!(chown.success());
    let nobody = [
        "setpriv",
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
    ];
    let mut c = Cluster::new(zk.connect(), "unprivileged");
    let d1 = c.dest_wrapped("d1", &nobody, &dst, "127.0.0.1", &[]);
    assert_eq!(c.wait(d1, LIMIT).code(), Some(2), "{}", c.all_logs());
    assert_eq!(
        last_line(&c, d1),
        "zkrsync: error: zkrsync dest runs as nobody, not root: its rsync daemon cannot chroot, and rsync then rewrites the absolute and upward symlink targets it stores (/etc/x becomes etc/x): run the destination as root, or give --rewrite-symlinks to accept that"
    );
    assert_eq!(c.status(), None, "nothing registered");
    assert!(names(&dst).is_empty());

    // Accepted on purpose: the copy works and the targets are rewritten as said.
    let d2 = c.dest_wrapped("d2", &nobody, &dst, "127.0.0.1", &["--rewrite-symlinks"]);
    let m = c.source("m", &src, &[]);
    let w = c.source("w1", &src, &[]);
    for i in [d2, m, w] {
        assert_eq!(c.wait(i, LIMIT).code(), Some(0), "{}", c.all_logs());
    }
    assert_eq!(fs::read(dst.join("a/f")).unwrap(), b"data");
    let target = |p: &str| fs::read_link(dst.join(p)).unwrap().display().to_string();
    assert_eq!(
        target("a/b/inside"),
        "../f",
        "a link inside the tree is kept"
    );
    assert_eq!(target("absolute"), "etc/hostname");
    assert_eq!(
        target("a/b/upward"),
        "../../above",
        "the '..' that left the tree is gone"
    );
}
