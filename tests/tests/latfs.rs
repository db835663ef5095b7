//! The benchmark file system `latfs` through a real FUSE mount (as root): `rsync -aH
//! --delete` reads and writes through it exactly what it would directly, across renames,
//! deletions and hard links; `--hang NAME` holds a reader until the file system is unmounted,
//! by latfs itself or by someone else, and never longer; bad input is refused on one line.

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use zkrsync_tests::cluster::differences_with;
use zkrsync_tests::latfs::{is_mounted_at, LatFs};
use zkrsync_tests::latfs_bin;
use zkrsync_tests::tree::age;
use zkrsync_tests::tree::generate;
use zkrsync_tests::zk::repo_root;

/// How long a reader may take to return once latfs lets go of it.
const BOUND: Duration = Duration::from_secs(30);

/// How long a held reader is watched for not returning.
const STILL_HELD: Duration = Duration::from_millis(500);

fn rsync(args: &[&str], from: &Path, to: &Path) -> String {
    let out = Command::new("rsync")
        .args(args)
        .arg(format!("{}/", from.display()))
        .arg(format!("{}/", to.display()))
        .output()
        .expect("run rsync");
    assert!(
        out.status.success(),
        "rsync {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The generated tree (odd names, symlinks, hard links, empty directories) and more:
/// hard links across directories, a fifo, another owner, a file of several read blocks.
fn source_tree(root: &Path) {
    generate(root, 30, 4, 14);
    fs::create_dir_all(root.join("links/a")).unwrap();
    fs::create_dir_all(root.join("links/b")).unwrap();
    fs::write(root.join("links/a/one"), b"one inode, three names").unwrap();
    fs::hard_link(root.join("links/a/one"), root.join("links/b/two")).unwrap();
    fs::hard_link(root.join("links/a/one"), root.join("links/three")).unwrap();
    let status = Command::new("mkfifo")
        .arg(root.join("links/fifo"))
        .status()
        .unwrap();
    assert!(status.success());
    std::os::unix::fs::lchown(root.join("links/b"), Some(4321), Some(4322)).unwrap();
    let big: Vec<u8> = (0..3 << 20)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    fs::write(root.join("big.bin"), big).unwrap();
    fs::set_permissions(root.join("big.bin"), fs::Permissions::from_mode(0o604)).unwrap();
    age(root);
}

#[test]
fn rsync_through_latfs_on_both_sides_copies_what_a_direct_rsync_copies() {
    let tmp = tempfile::tempdir().unwrap();
    let (orig, back) = (tmp.path().join("orig"), tmp.path().join("back"));
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    for dir in [&back, &src, &dst] {
        fs::create_dir(dir).unwrap();
    }
    source_tree(&orig);
    let source = LatFs::mount(&orig, &src, &["--delay-ms", "0.1", "--threads", "8"]);
    let dest = LatFs::mount(&back, &dst, &["--delay-ms", "0"]);

    rsync(&["-aH", "--delete"], &src, &dst);
    assert_eq!(
        differences_with(&orig, &back, &["-H"]),
        "",
        "what landed under the mount"
    );
    assert_eq!(
        differences_with(&orig, &dst, &["-H"]),
        "",
        "what the mount shows"
    );
    let one = fs::metadata(back.join("links/a/one")).unwrap();
    assert_eq!(one.nlink(), 3);
    assert_eq!(
        fs::metadata(dst.join("links/three")).unwrap().ino(),
        fs::metadata(dst.join("links/a/one")).unwrap().ino()
    );

    // Changes made through the source's mount: renames of a file and of a directory (its
    // files follow it, an open file stays readable), deletions, a new hard link, new data,
    // a new mode, a new symlink.
    let mut open = File::open(src.join("links/b/two")).unwrap();
    fs::rename(src.join("links"), src.join("moved")).unwrap();
    fs::rename(src.join("moved/a/one"), src.join("moved/a/renamed")).unwrap();
    let mut text = String::new();
    open.read_to_string(&mut text).unwrap();
    assert_eq!(text, "one inode, three names");
    assert_eq!(open.metadata().unwrap().nlink(), 3);
    drop(open);
    assert_eq!(
        fs::read(src.join("moved/a/renamed")).unwrap(),
        b"one inode, three names"
    );
    assert_eq!(
        fs::read(orig.join("moved/a/renamed")).unwrap(),
        b"one inode, three names"
    );
    let first_dir = fs::read_dir(&src)
        .unwrap()
        .flatten()
        .find(|e| e.file_type().unwrap().is_dir() && e.file_name() != "moved")
        .unwrap()
        .path();
    fs::remove_dir_all(&first_dir).unwrap();
    fs::remove_file(src.join("moved/three")).unwrap();
    fs::hard_link(src.join("big.bin"), src.join("moved/b/big-again")).unwrap();
    fs::write(src.join("moved/b/two"), b"new data").unwrap();
    fs::set_permissions(src.join("big.bin"), fs::Permissions::from_mode(0o640)).unwrap();
    symlink("a/renamed", src.join("moved/to-renamed")).unwrap();
    assert_eq!(
        fs::read_link(orig.join("moved/to-renamed")).unwrap(),
        Path::new("a/renamed")
    );
    assert!(!first_dir.exists() && !orig.join(first_dir.file_name().unwrap()).exists());

    rsync(&["-aH", "--delete"], &src, &dst);
    assert_eq!(
        differences_with(&orig, &back, &["-H"]),
        "",
        "after the changes"
    );
    assert_eq!(
        fs::metadata(back.join("moved/b/big-again")).unwrap().ino(),
        fs::metadata(back.join("big.bin")).unwrap().ino()
    );
    assert_eq!(
        rsync(&["-aHi", "--delete"], &src, &dst),
        "",
        "a second rsync has nothing to do"
    );

    drop(source);
    drop(dest);
    assert!(!is_mounted_at(&src) && !is_mounted_at(&dst));
}

#[test]
fn a_lookup_of_the_hung_name_holds_its_reader_until_latfs_is_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let (orig, mnt) = (tmp.path().join("orig"), tmp.path().join("mnt"));
    fs::create_dir_all(orig.join("dir")).unwrap();
    fs::create_dir(&mnt).unwrap();
    fs::write(orig.join("dir/stuck"), b"never read").unwrap();
    fs::write(orig.join("dir/ok"), b"ok").unwrap();
    let mut latfs = LatFs::mount(&orig, &mnt, &["--hang", "stuck"]);

    let (done, result) = mpsc::channel();
    let path = mnt.join("dir/stuck");
    let reader = thread::spawn(move || {
        let _ = done.send(fs::read(path).map_err(|e| e.raw_os_error()));
    });
    assert!(
        latfs.wait_for_line("holding lookup of dir/stuck", BOUND),
        "latfs never held the lookup: {:?}",
        latfs.output()
    );
    // Everything else still answers while the lookup is held.
    assert_eq!(fs::read(mnt.join("dir/ok")).unwrap(), b"ok");
    assert_eq!(
        result.recv_timeout(STILL_HELD),
        Err(RecvTimeoutError::Timeout),
        "the reader is held"
    );

    assert!(latfs.stop().success(), "latfs: {:?}", latfs.output());
    assert_eq!(result.recv_timeout(BOUND), Ok(Err(Some(libc::EIO))));
    reader.join().unwrap();
    assert!(!latfs.is_mounted());
}

#[test]
fn a_read_of_the_hung_file_by_another_name_ends_when_someone_unmounts() {
    let tmp = tempfile::tempdir().unwrap();
    let (orig, mnt) = (tmp.path().join("orig"), tmp.path().join("mnt"));
    fs::create_dir_all(orig.join("dir")).unwrap();
    fs::create_dir(&mnt).unwrap();
    fs::write(orig.join("dir/stuck"), vec![7u8; 300_000]).unwrap();
    fs::hard_link(orig.join("dir/stuck"), orig.join("dir/alias")).unwrap();
    let mut latfs = LatFs::mount(&orig, &mnt, &["--hang", "stuck", "--delay-ms", "0"]);

    // The listing shows the hung name (and marks its inode); its other name opens.
    let mut names: Vec<_> = fs::read_dir(mnt.join("dir"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["alias", "stuck"]);
    let mut file = File::open(mnt.join("dir/alias")).unwrap();
    assert_eq!(file.metadata().unwrap().len(), 300_000);
    let (done, result) = mpsc::channel();
    let reader = thread::spawn(move || {
        let mut data = Vec::new();
        let _ = done.send(file.read_to_end(&mut data).map_err(|e| e.raw_os_error()));
    });
    assert!(
        latfs.wait_for_line("holding read of dir/alias", BOUND),
        "latfs never held the read: {:?}",
        latfs.output()
    );
    assert_eq!(
        result.recv_timeout(STILL_HELD),
        Err(RecvTimeoutError::Timeout),
        "the reader is held"
    );

    let status = Command::new("umount")
        .arg("-l")
        .arg(latfs.mountpoint())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(result.recv_timeout(BOUND), Ok(Err(Some(libc::EIO))));
    reader.join().unwrap();
    let ended = latfs.wait_exit(BOUND);
    assert!(
        ended.is_some_and(|s| s.success()),
        "latfs: {ended:?} {:?}",
        latfs.output()
    );
    assert!(
        latfs.output().iter().any(|l| l.contains("was unmounted")),
        "{:?}",
        latfs.output()
    );
}

#[test]
fn latfs_refuses_bad_input_on_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let (orig, file) = (tmp.path().join("orig"), tmp.path().join("file"));
    let mnt = tmp.path().join("mnt");
    fs::create_dir_all(orig.join("inside")).unwrap();
    fs::create_dir(&mnt).unwrap();
    fs::write(&file, b"").unwrap();
    let (o, m) = (orig.to_str().unwrap(), mnt.to_str().unwrap());
    let inside = format!("{o}/inside");
    let cases: [(Vec<&str>, &str); 5] = [
        (vec![o, &inside], "overlap"),
        (vec![file.to_str().unwrap(), m], "is not a directory"),
        (vec![o, "/nonexistent/mnt"], "create it first"),
        (vec![o, tmp.path().to_str().unwrap()], "overlap"),
        (vec![o, m, "--hang", "a/b"], "give a file name"),
    ];
    for (args, says) in cases {
        let out = Command::new(latfs_bin()).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn latfs_mount_sh_runs_a_command_under_the_mount_and_always_unmounts() {
    let tmp = tempfile::tempdir().unwrap();
    let (orig, mnt) = (tmp.path().join("orig"), tmp.path().join("mnt"));
    fs::create_dir(&orig).unwrap();
    fs::create_dir(&mnt).unwrap();
    fs::write(orig.join("hello"), b"hi").unwrap();
    let script = repo_root().join("benches/latfs-mount.sh");
    let run = |command: &[&str]| {
        Command::new(&script)
            .env("LATFS", latfs_bin())
            .args(["--delay-ms", "0"])
            .arg(&orig)
            .arg(&mnt)
            .arg("--")
            .args(command)
            .output()
            .unwrap()
    };

    let shown = run(&["cat", mnt.join("hello").to_str().unwrap()]);
    assert_eq!(
        shown.stdout,
        b"hi",
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    assert!(shown.status.success());
    assert!(!is_mounted_at(&mnt));
    assert_eq!(run(&["sh", "-c", "exit 7"]).status.code(), Some(7));
    assert!(!is_mounted_at(&mnt));
    // latfs killed under the command: its dead mount is detached all the same.
    let killed = run(&["sh", "-c", "kill -KILL $LATFS_PID"]);
    assert!(
        killed.status.success(),
        "{}",
        String::from_utf8_lossy(&killed.stderr)
    );
    assert!(!is_mounted_at(&mnt));

    // Run as user nobody, from a copy that user can read wherever the checkout is.
    let open_dir = tmp.path().join("open");
    fs::create_dir(&open_dir).unwrap();
    for dir in [tmp.path(), &open_dir] {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let copy = open_dir.join("latfs-mount.sh");
    fs::copy(&script, &copy).unwrap();
    let refused = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(&copy)
        .arg(&orig)
        .arg(&mnt)
        .args(["--", "true"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("need root"), "{err}");
}
