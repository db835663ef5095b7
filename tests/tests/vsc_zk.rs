//! vsc-zk's users keep their command lines: the README's `zkrsync -S -r SRC
//! --configfiles=zkrs.conf` and `zkrsync -D -r DST --configfiles=zkrs.conf`, with its
//! `zkrs.conf` (daemon mode, credentials, depth), copy a tree; pidfiles and logs go where
//! vsc-zk puts them; a second daemon on a pidfile in use refuses to start.

use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use zkrsync_tests::cluster::differences;
use zkrsync_tests::tree::generate;
use zkrsync_tests::zk::ZkServer;
use zkrsync_tests::{wait_exit, zkrsync_bin};

/// Runs zkrsync with the destination's address given the way a site script can
/// (ZKRSYNC_ADVERTISE), so the command line stays vsc-zk's own.
fn run(args: &[&str]) -> Output {
    std::process::Command::new(zkrsync_bin())
        .args(args)
        .env("ZKRSYNC_ADVERTISE", "127.0.0.1")
        .output()
        .expect("run zkrsync")
}

/// A started daemon, as the starting process reports it: pid, pidfile, log.
struct Started {
    pid: i32,
    pidfile: PathBuf,
    log: PathBuf,
}

/// What the starting process says: "zkrsync: ROLE daemon PID started; pidfile P, log L".
fn started(out: &Output) -> Started {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parse = || -> Option<Started> {
        let (_, rest) = text.split_once(" daemon ")?;
        let (pid, rest) = rest.split_once(" started; pidfile ")?;
        let (pidfile, log) = rest.trim().split_once(", log ")?;
        Some(Started {
            pid: pid.parse().ok()?,
            pidfile: pidfile.into(),
            log: log.into(),
        })
    };
    parse().unwrap_or_else(|| panic!("no daemon in {text:?}"))
}

#[test]
fn the_readme_command_lines_of_vsc_zk_copy_a_tree_as_daemons() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    generate(&src, 40, 4, 9);
    std::fs::create_dir(&dst).unwrap();
    let session = format!("vsc-readme-{}", std::process::id());
    // vsc-zk's README zkrs.conf, filled in.
    let conf = tmp.path().join("zkrs.conf");
    std::fs::write(
        &conf,
        format!(
            "[MAIN]\nservers={}\nsession={session}\ndaemon=true\nuser=alice\npasswd=secret\ndepth=2\n#debug=true\n#dryrun=false\n#delete=false\n",
            zk.connect()
        ),
    )
    .unwrap();
    let configfiles = format!("--configfiles={}", conf.display());
    let (src_s, dst_s) = (src.to_str().unwrap(), dst.to_str().unwrap());
    let mut daemons = vec![started(&run(&["-D", "-r", dst_s, &configfiles]))];
    // N+1 sources: the first is the master.
    for _ in 0..3 {
        daemons.push(started(&run(&["-S", "-r", src_s, &configfiles])));
    }
    for d in &daemons {
        // vsc-zk's places: /tmp/zkrsync/<session>-<source|dest>-<pid of the starter>.
        let name = d
            .pidfile
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            d.pidfile.starts_with("/tmp/zkrsync") && name.starts_with(&format!("{session}-")),
            "{}",
            d.pidfile.display()
        );
        assert_eq!(d.log.with_extension("pid"), d.pidfile);
        assert!(d.pidfile.exists(), "{} is written", d.pidfile.display());
    }
    for d in &daemons {
        assert!(
            wait_exit(d.pid, Instant::now() + Duration::from_secs(120)),
            "daemon {} still runs",
            d.pid
        );
    }
    let mut logs = String::new();
    for d in &daemons {
        assert!(
            !d.pidfile.exists(),
            "{} is removed at a clean exit",
            d.pidfile.display()
        );
        logs.push_str(
            &std::fs::read_to_string(&d.log).unwrap_or_else(|e| panic!("{}: {e}", d.log.display())),
        );
        let _ = std::fs::remove_file(&d.log);
    }
    assert_eq!(differences(&src, &dst), "", "{logs}");
    assert!(
        logs.contains(&format!("session {session} complete")),
        "{logs}"
    );
    assert!(
        !logs.contains("open ACLs"),
        "user/passwd lock the session: {logs}"
    );
}

#[test]
fn a_second_daemon_on_a_pidfile_in_use_refuses_to_start() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join("dst");
    std::fs::create_dir(&dst).unwrap();
    let pidfile = tmp.path().join("run/%(session)s-%(rstype)s.pid");
    let logfile = tmp.path().join("%(rstype)s-%(pid)s.log");
    let args = [
        "-D",
        "-r",
        dst.to_str().unwrap(),
        "--servers",
        zk.connect(),
        "-N",
        "pidfile-test",
        "--daemon",
        "--pidfile",
        pidfile.to_str().unwrap(),
        "--logfile",
        logfile.to_str().unwrap(),
    ];
    let first = started(&run(&args));
    let written = tmp.path().join("run/pidfile-test-dest.pid");
    assert_eq!(first.pidfile, written);
    assert_eq!(
        std::fs::read_to_string(&written).unwrap().trim(),
        first.pid.to_string()
    );
    let second = run(&args);
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("belongs to running process {}", first.pid)),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // Once it is up (its log says so), SIGTERM stops it cleanly and its pidfile goes.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&first.log)
        .unwrap_or_default()
        .contains("registered at")
    {
        assert!(Instant::now() < deadline, "the daemon did not register");
        std::thread::sleep(Duration::from_millis(50));
    }
    unsafe {
        libc::kill(first.pid, libc::SIGTERM);
    }
    assert!(wait_exit(
        first.pid,
        Instant::now() + Duration::from_secs(30)
    ));
    assert!(!written.exists());
    let log = std::fs::read_to_string(&first.log).unwrap();
    assert!(
        log.contains("interrupted"),
        "how it ended is in its log: {log}"
    );
}
