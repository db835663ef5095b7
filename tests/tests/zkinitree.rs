//! `zkinitree` against a real ZooKeeper: after it, each configured user can do exactly what
//! its ACL allows on each znode and gets "not authorized" for the rest; an anonymous client
//! can do nothing the file does not grant; a second run changes nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use zkrsync_tests::zk::ZkServer;
use zkrsync_tests::zkrsync_bin;
use zookeeper_client as zk;

fn initree_bin() -> PathBuf {
    let bin = zkrsync_bin().with_file_name("zkinitree");
    assert!(
        bin.exists(),
        "build the binaries first: cargo build --workspace --bins"
    );
    bin
}

fn initree(config: &Path, extra: &[&str]) -> Output {
    Command::new(initree_bin())
        .arg(config)
        .args(extra)
        .output()
        .expect("run zkinitree")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

const USERS: [(&str, &str); 4] = [
    ("root", "admin"),
    ("rsync", "w00f"),
    ("user4", "bla"),
    ("user5", "x5"),
];

/// The config: vsc-zk's README example and more; `[/pre]` exists before the run.
fn config(servers: &str) -> String {
    format!(
        "[MAIN]\nservers={servers}\n\n[root]\npasswd=admin\npath=/\n\n[rsync]\npasswd=w00f\n\n[user4]\npasswd=bla\n\n[user5]\npasswd=x5\n\n\
         # children before parents on purpose\n[/admin/rsync]\nrwcd=rsync\n\n[/admin]\nr=user4\nw=\n\n\
         [/data/shared]\nvalue=hello\nr=user4,rsync\nwa=user5\n\n[/open]\nall=user4\n\n[/pre]\ncd=user5\n"
    )
}

/// What each user may do on each znode, as the config says (root may do everything).
fn expected(path: &str, user: Option<&str>) -> &'static str {
    match (path, user) {
        (_, Some("root")) => "rwcda",
        ("/admin", Some("user4")) => "r",
        ("/admin/rsync", Some("rsync")) => "rwcd",
        ("/data/shared", Some("user4" | "rsync")) => "r",
        ("/data/shared", Some("user5")) => "wa",
        ("/open", Some("user4")) => "rwcda",
        ("/pre", Some("user5")) => "cd",
        _ => "",
    }
}

async fn client(connect: &str, user: Option<&str>) -> zk::Client {
    let mut connector = zk::Client::connector();
    if let Some(u) = user {
        let pass = USERS.iter().find(|(n, _)| *n == u).unwrap().1;
        connector = connector.with_auth("digest", format!("{u}:{pass}").as_bytes());
    }
    connector.connect(connect).await.expect("connect")
}

/// Which of r w c d a `who` can do on `path`, tried for real (root cleans up after).
async fn can(root: &zk::Client, who: &zk::Client, tag: &str, path: &str) -> String {
    let mut got = String::new();
    let allowed = |r: Result<(), zk::Error>| match r {
        Ok(()) => true,
        Err(zk::Error::NoAuth) => false,
        Err(e) => panic!("{tag} on {path}: unexpected {e}"),
    };
    let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    if allowed(who.get_data(path).await.map(|_| ())) {
        got.push('r');
    }
    let (data, _) = root.get_data(path).await.unwrap();
    if allowed(who.set_data(path, &data, None).await.map(|_| ())) {
        got.push('w');
    }
    let probe = format!("{path}/probe-{tag}");
    if allowed(who.create(&probe, b"", &open).await.map(|_| ())) {
        got.push('c');
        root.delete(&probe, None).await.unwrap();
    }
    let victim = format!("{path}/victim-{tag}");
    root.create(&victim, b"", &open).await.unwrap();
    if allowed(who.delete(&victim, None).await) {
        got.push('d');
    } else {
        root.delete(&victim, None).await.unwrap();
    }
    let (acls, _) = root.get_acl(path).await.unwrap();
    if allowed(who.set_acl(path, &acls, None).await.map(|_| ())) {
        got.push('a');
    }
    got
}

#[test]
fn each_user_can_do_exactly_what_its_acl_allows_and_a_second_run_changes_nothing() {
    let server = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("zkinitree.cfg");
    std::fs::write(&cfg, config(server.connect())).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // A znode that is there before, open to all.
    runtime.block_on(async {
        let anyone = client(server.connect(), None).await;
        let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        anyone.create("/pre", b"", &open).await.unwrap();
    });

    // A dry run first: it says what it would do and does nothing.
    let out = initree(&cfg, &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("would create /admin/rsync"), "{said}");
    assert!(said.contains("/pre exists already"), "{said}");
    runtime.block_on(async {
        let anyone = client(server.connect(), None).await;
        assert_eq!(anyone.check_stat("/admin").await.unwrap(), None);
    });

    let out = initree(&cfg, &[]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("created /admin [digest:root=rwcda,digest:user4=r]"),
        "{said}"
    );
    assert!(
        said.contains("created /data [digest:root=rwcda]"),
        "an implied parent: {said}"
    );
    assert!(
        said.contains("warning: /pre exists already with ACL [world:anyone=rwcda]"),
        "{said}"
    );

    let paths = ["/admin", "/admin/rsync", "/data/shared", "/open", "/pre"];
    let versions = runtime.block_on(async {
        let root = client(server.connect(), Some("root")).await;
        for user in [
            None,
            Some("root"),
            Some("rsync"),
            Some("user4"),
            Some("user5"),
        ] {
            let who = client(server.connect(), user).await;
            let tag = user.unwrap_or("anonymous");
            for path in paths {
                assert_eq!(
                    can(&root, &who, tag, path).await,
                    expected(path, user),
                    "{tag} on {path}"
                );
            }
        }
        let (data, _) = root.get_data("/data/shared").await.unwrap();
        assert_eq!(data, b"hello");
        let mut versions = Vec::new();
        for path in paths {
            let (_, stat) = root.get_acl(path).await.unwrap();
            versions.push(stat.aversion);
        }
        versions
    });

    let out = initree(&cfg, &[]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains(" 0 changed"), "{said}");
    assert!(!said.contains("warning"), "{said}");
    let again = runtime.block_on(async {
        let root = client(server.connect(), Some("root")).await;
        let mut versions = Vec::new();
        for path in paths {
            let (_, stat) = root.get_acl(path).await.unwrap();
            versions.push(stat.aversion);
        }
        versions
    });
    assert_eq!(again, versions, "no ACL was set again");
}

#[test]
fn bad_configs_and_servers_get_one_line_naming_section_and_key() {
    let server = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("bad.cfg");
    let cases = [
        (
            "[root]\npasswd=x\n[/a]\nr=bob\n",
            "line 4: [/a] r: user \"bob\" is not configured",
        ),
        (
            "[root]\npasswd=x\n[/a]\nrq=root\n",
            "line 4: [/a] rq: 'q' is not a permission",
        ),
        (
            "[root]\npasswd=x\n[carol]\nhome=/\n",
            "line 3: user [carol] has no passwd",
        ),
        ("[root]\npath=/\n[/a]\n", "[root] has no passwd"),
    ];
    for (body, want) in cases {
        std::fs::write(&cfg, body).unwrap();
        let out = initree(&cfg, &["--servers", server.connect()]);
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{said}");
        assert!(said.contains(want), "{want} in {said}");
        assert_eq!(said.trim().lines().count(), 1, "{said}");
    }
    // Nothing was created by any of them.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let anyone = client(server.connect(), None).await;
        assert_eq!(anyone.check_stat("/a").await.unwrap(), None);
    });
    // A server that does not answer.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(&cfg, "[root]\npasswd=x\n[/a]\n").unwrap();
    let out = initree(&cfg, &["--servers", &format!("127.0.0.1:{closed}")]);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("cannot reach ZooKeeper") || said.contains("cannot connect to ZooKeeper"),
        "{said}"
    );
    assert_eq!(said.trim().lines().count(), 1, "{said}");
}
