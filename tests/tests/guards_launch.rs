//! The launcher's and the source's own guards (issue 13), end to end with real ZooKeeper,
//! rsync and agents: rsync options are tried before a session exists; a launch whose every
//! source refuses to start ends at once with that error; `zkrsync-launch` locks its
//! sessions with generated credentials that no command line, environment or log shows;
//! rsync runs carry an I/O timeout unless told otherwise.

use std::fs;
use std::time::Duration;

use zkrsync_tests::cluster::{differences, Cluster};
use zkrsync_tests::tree::generate;
use zkrsync_tests::zk::ZkServer;
use zkrsync_tests::zkrsync;

const LIMIT: Duration = Duration::from_secs(120);

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
