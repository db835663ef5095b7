//! A destination's rsync daemon takes only the session's sources: a login with a random
//! secret per destination, which reaches the sources through the session's znodes and rsync
//! through its environment, never a command line or a log.

use std::process::Command;
use std::time::Duration;

use zkrsync_tests::cluster::{differences, Cluster};
use zkrsync_tests::tree::generate;
use zkrsync_tests::zk::ZkServer;
use zookeeper_client as zk;

/// The fields of the destination's record in ZooKeeper.
fn dest_record(connect: &str, session: &str, id: &str) -> Vec<(String, String)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = zk::Client::connect(connect).await.unwrap();
        let (data, _) = client
            .get_data(&format!("/zkrsync/{session}/dests/{id}"))
            .await
            .unwrap();
        String::from_utf8(data)
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    })
}

fn field<'a>(record: &'a [(String, String)], key: &str) -> &'a str {
    record
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key} in {record:?}"))
}

/// `rsync URL` listing the module, with `password` in RSYNC_PASSWORD (or none).
fn list(url: &str, password: Option<&str>) -> (Option<i32>, String) {
    let mut cmd = Command::new("rsync");
    cmd.arg(url).env_remove("RSYNC_PASSWORD");
    if let Some(p) = password {
        cmd.env("RSYNC_PASSWORD", p);
    }
    let out = cmd.stdin(std::process::Stdio::null()).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_daemon_refuses_anyone_without_the_secret_and_the_secret_shows_nowhere() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    generate(&src, 60, 5, 5);
    std::fs::create_dir(&dst).unwrap();
    let mut c = Cluster::new(zk.connect(), "locked-daemon");
    c.dest("d1", &dst, "127.0.0.1");
    let slow = [
        "--depth",
        "2",
        "--chunk-entries",
        "16",
        "--rsync-opt=--bwlimit=100",
    ];
    c.source("m", &src, &slow);
    c.source("w", &src, &slow);
    c.wait_status(Duration::from_secs(60), "a chunk copied", |s| {
        s["done"].as_u64().unwrap_or(0) >= 1
    });

    let record = dest_record(zk.connect(), "locked-daemon", "d1");
    let (port, module) = (field(&record, "port"), field(&record, "module"));
    let (user, secret) = (field(&record, "auth_user"), field(&record, "auth_secret"));
    assert!(secret.len() >= 32, "a long random secret: {secret}");
    let anonymous = format!("rsync://127.0.0.1:{port}/{module}/");
    let as_user = format!("rsync://{user}@127.0.0.1:{port}/{module}/");
    for (url, password) in [
        (&anonymous, None),
        (&anonymous, Some("guess")),
        (&as_user, Some("guess")),
        (&as_user, Some(&secret[..secret.len() - 1])),
    ] {
        let (code, err) = list(url, password);
        assert_ne!(code, Some(0), "{url} with {password:?} got in");
        assert!(
            err.contains("auth failed"),
            "{url} with {password:?}: {err}"
        );
    }
    // The secret itself lets one in: the refusals above are the login's doing.
    let (code, err) = list(&as_user, Some(secret));
    assert_eq!(code, Some(0), "{err}");
    // The daemon listens on its advertised address only.
    assert!(std::net::TcpStream::connect(("127.0.0.2", port.parse::<u16>().unwrap())).is_err());
    // No command line holds the secret while rsync runs.
    let ps = Command::new("ps")
        .args(["-eww", "-o", "args"])
        .output()
        .unwrap();
    let ps = String::from_utf8_lossy(&ps.stdout);
    assert!(ps.contains("--daemon"), "ps sees the daemon");
    assert!(
        !ps.contains(secret),
        "the secret is on a command line:\n{ps}"
    );

    let codes = c.wait_all(Duration::from_secs(120));
    assert_eq!(codes, vec![Some(0); 3], "{}", c.all_logs());
    assert_eq!(differences(&src, &dst), "");
    let logs = c.all_logs();
    assert!(logs.contains("running \"rsync\""), "verbose logs: {logs}");
    assert!(!logs.contains(secret), "the secret is in a log");
}

#[test]
fn check_reaches_and_logs_in_to_every_destination_and_names_what_fails() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join("dst");
    std::fs::create_dir(&dst).unwrap();
    let mut c = Cluster::new(zk.connect(), "checked");
    c.dest("d1", &dst, "127.0.0.1");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Once d1 is registered, two more records: a daemon that is not there, and d1 with a
    // wrong secret.
    runtime.block_on(async {
        let client = zk::Client::connect(zk.connect()).await.unwrap();
        let dests = "/zkrsync/checked/dests";
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let real = loop {
            match client.get_data(&format!("{dests}/d1")).await {
                Ok((data, _)) => break String::from_utf8(data).unwrap(),
                Err(_) => {
                    assert!(std::time::Instant::now() < deadline, "d1 did not register");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let port_line = real.lines().find(|l| l.starts_with("port=")).unwrap();
        let secret_line = real
            .lines()
            .find(|l| l.starts_with("auth_secret="))
            .unwrap();
        let ghost = real.replace(port_line, &format!("port={closed}"));
        let wrong = real.replace(secret_line, "auth_secret=not-the-secret");
        let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        client
            .create(&format!("{dests}/ghost"), ghost.as_bytes(), &open)
            .await
            .unwrap();
        client
            .create(&format!("{dests}/wrong"), wrong.as_bytes(), &open)
            .await
            .unwrap();
    });
    let out = zkrsync_tests::zkrsync([
        "check",
        "--zk",
        zk.connect(),
        "--session",
        "checked",
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let result = |id: &str| {
        table
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["dest"] == id)
            .map(|v| v["result"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no {id} in {table}"))
    };
    assert_eq!(result("d1"), "ok", "{table}");
    assert_eq!(result("ghost"), "unreachable", "{table}");
    assert_eq!(result("wrong"), "login refused", "{table}");
    // And in words, nothing copied.
    let out = zkrsync_tests::zkrsync(["check", "--zk", zk.connect(), "--session", "checked"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("1 of 3 destinations work"), "{text}");
    let entries: Vec<_> = std::fs::read_dir(&dst)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        entries,
        [".zkrsync-checked-d1"],
        "only the destination's probe file"
    );
    let none = zkrsync_tests::zkrsync(["check", "--zk", zk.connect(), "--session", "nothing-here"]);
    assert_eq!(none.status.code(), Some(14));
    c.kill_all();
}
