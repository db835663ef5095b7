//! `zkrsync abort` against a real ZooKeeper: it removes every znode of a session whose
//! clients are gone, waits for the clients that are not, and deletes nothing while one stays.

use std::process::Output;

use zkrsync_core::protocol::layout::{chunk_name, Dir};
use zkrsync_core::protocol::records::StopRecord;
use zkrsync_core::protocol::{exit_code, Layout};
use zkrsync_tests::zk::ZkServer;
use zkrsync_tests::zkrsync;
use zookeeper_client as zk;

/// A runtime whose workers keep the test's ZooKeeper session alive while `zkrsync` runs.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

fn layout() -> Layout {
    Layout::new("/zkrsync", "s1").expect("layout")
}

/// The session's znodes as its clients leave them when every one of them is gone: the
/// session, its config and every directory, each directory but `election/` and `dests/`
/// (whose entries are ephemeral) with an entry.
async fn left_session(client: &zk::Client, layout: &Layout) {
    let persistent = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    let nodes = layout
        .base_ancestors()
        .into_iter()
        .chain([layout.root().to_owned(), layout.config()])
        .chain(Dir::ALL.into_iter().flat_map(|dir| {
            let entry = (!matches!(dir, Dir::Election | Dir::Dests))
                .then(|| layout.entry(dir, &chunk_name(0)));
            [Some(layout.dir(dir)), entry].into_iter().flatten()
        }));
    for path in nodes {
        client
            .create(&path, b"", &persistent)
            .await
            .unwrap_or_else(|e| panic!("create {path}: {e}"));
    }
}

async fn exists(client: &zk::Client, path: &str) -> bool {
    client.check_stat(path).await.expect("check_stat").is_some()
}

fn abort(connect: &str, wait_s: u64) -> Output {
    zkrsync([
        "abort",
        "--zk",
        connect,
        "--session",
        "s1",
        "--wait",
        &wait_s.to_string(),
    ])
}

#[test]
fn abort_removes_every_znode_of_a_session_whose_clients_are_gone() {
    let server = ZkServer::start();
    let l = layout();
    let runtime = runtime();
    let client = runtime.block_on(async {
        let client = zk::Client::connect(server.connect())
            .await
            .expect("connect");
        left_session(&client, &l).await;
        client
    });

    let out = abort(server.connect(), 5);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(exit_code::OK), "{stderr}");
    assert!(
        stderr.contains("session s1 aborted and removed"),
        "{stderr}"
    );
    runtime.block_on(async {
        assert!(
            !exists(&client, l.root()).await,
            "the session's znode is left"
        );
        assert!(
            exists(&client, "/zkrsync").await,
            "the base went with the session"
        );
    });

    let again = abort(server.connect(), 5);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(exit_code::NO_SESSION), "{stderr}");
    assert!(stderr.contains("no session s1 under /zkrsync"), "{stderr}");
}

#[test]
fn abort_deletes_nothing_while_a_source_stays_in_the_session() {
    let server = ZkServer::start();
    let l = layout();
    let runtime = runtime();
    let client = runtime.block_on(async {
        let client = zk::Client::connect(server.connect())
            .await
            .expect("connect");
        left_session(&client, &l).await;
        let ephemeral = zk::CreateMode::EphemeralSequential.with_acls(zk::Acls::anyone_all());
        client
            .create(&l.entry(Dir::Election, "s-"), b"", &ephemeral)
            .await
            .expect("join the election");
        client
    });

    let out = abort(server.connect(), 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(exit_code::CONFIG), "{stderr}");
    assert!(
        stderr.contains("1 sources and 0 destinations are still in session s1 after 1 s"),
        "{stderr}"
    );
    runtime.block_on(async {
        for dir in [Dir::Plan, Dir::Done, Dir::Failed, Dir::Claims] {
            let entry = l.entry(dir, &chunk_name(0));
            assert!(exists(&client, &entry).await, "{entry} was deleted");
        }
        let (stop, _) = client
            .get_data(&l.stop())
            .await
            .expect("stop was signalled");
        assert_eq!(StopRecord::decode(&stop), StopRecord::Abort);
    });
}
