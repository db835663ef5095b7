//! The simulator's ZooKeeper model against a real ZooKeeper 3.8: the same scripts of
//! operations, expiries and new sessions run on both, and every client's replies and watch
//! notifications must be the same. The real side goes through the product's own request
//! code (`zkrsync_launcher::agent::zk_ops`).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures::FutureExt as _;
use zkrsync_core::protocol::{CreateMode, Input, MultiOp, ReqId, ZkError, ZkOp, ZkReply};
use zkrsync_launcher::agent::zk_connect::Zk;
use zkrsync_launcher::agent::zk_ops;
use zkrsync_sim::zk_model::ZkModel;
use zkrsync_tests::proxy::Proxy;
use zkrsync_tests::zk::ZkServer;
use zookeeper_client as zk;

/// One step of a script.
#[derive(Debug, Clone)]
enum Step {
    /// Client `c` sends a request (paths start with `/B`, the script's own base).
    Op(usize, ZkOp),
    /// Client `c`'s session ends on the server (closed from elsewhere).
    Expire(usize),
    /// Client `c` connects with a new session.
    Renew(usize),
}

fn p(path: &str) -> String {
    format!("/B{path}")
}
fn create(c: usize, path: &str, mode: CreateMode) -> Step {
    Step::Op(
        c,
        ZkOp::Create {
            path: p(path),
            data: path.as_bytes().to_vec(),
            mode,
        },
    )
}
fn mk(c: usize, path: &str) -> Step {
    create(c, path, CreateMode::Persistent)
}
fn eph(c: usize, path: &str) -> Step {
    create(c, path, CreateMode::Ephemeral)
}
fn del(c: usize, path: &str) -> Step {
    Step::Op(c, ZkOp::Delete { path: p(path) })
}
fn set(c: usize, path: &str, data: &str) -> Step {
    Step::Op(
        c,
        ZkOp::SetData {
            path: p(path),
            data: data.as_bytes().to_vec(),
        },
    )
}
fn get(c: usize, path: &str, watch: bool) -> Step {
    Step::Op(
        c,
        ZkOp::GetData {
            path: p(path),
            watch,
        },
    )
}
fn ls(c: usize, path: &str, watch: bool) -> Step {
    Step::Op(
        c,
        ZkOp::GetChildren {
            path: p(path),
            watch,
        },
    )
}
fn ex(c: usize, path: &str, watch: bool) -> Step {
    Step::Op(
        c,
        ZkOp::Exists {
            path: p(path),
            watch,
        },
    )
}
fn m_create(path: &str) -> MultiOp {
    MultiOp::Create {
        path: p(path),
        data: vec![],
        mode: CreateMode::Persistent,
    }
}
fn m_delete(path: &str) -> MultiOp {
    MultiOp::Delete { path: p(path) }
}
fn m_set(path: &str) -> MultiOp {
    MultiOp::SetData {
        path: p(path),
        data: b"m".to_vec(),
    }
}
fn multi(c: usize, ops: Vec<MultiOp>) -> Step {
    Step::Op(c, ZkOp::Multi(ops))
}

/// The scripts: (name, clients, steps).
fn scripts() -> Vec<(&'static str, usize, Vec<Step>)> {
    use CreateMode::*;
    vec![
        (
            "create then read",
            1,
            vec![mk(0, "/a"), get(0, "/a", false), ls(0, "", false)],
        ),
        ("create twice", 1, vec![mk(0, "/a"), mk(0, "/a")]),
        ("create without parent", 1, vec![mk(0, "/a/b")]),
        ("delete missing", 1, vec![del(0, "/a")]),
        (
            "delete with children",
            1,
            vec![
                mk(0, "/a"),
                mk(0, "/a/b"),
                del(0, "/a"),
                del(0, "/a/b"),
                del(0, "/a"),
            ],
        ),
        (
            "set missing",
            1,
            vec![
                set(0, "/a", "x"),
                mk(0, "/a"),
                set(0, "/a", "y"),
                get(0, "/a", false),
            ],
        ),
        (
            "no children for ephemerals",
            1,
            vec![eph(0, "/e"), mk(0, "/e/x")],
        ),
        (
            "persistent sequential numbering",
            1,
            vec![
                mk(0, "/q"),
                create(0, "/q/n-", PersistentSequential),
                create(0, "/q/n-", PersistentSequential),
                create(0, "/q/m-", PersistentSequential),
                ls(0, "/q", false),
            ],
        ),
        (
            "sequence numbers count deletes",
            1,
            vec![
                mk(0, "/q"),
                create(0, "/q/n-", PersistentSequential),
                del(0, "/q/n-0000000000"),
                create(0, "/q/n-", PersistentSequential),
                mk(0, "/q/x"),
                del(0, "/q/x"),
                create(0, "/q/n-", EphemeralSequential),
            ],
        ),
        (
            "election of three",
            3,
            vec![
                mk(0, "/el"),
                create(0, "/el/s-", EphemeralSequential),
                create(1, "/el/s-", EphemeralSequential),
                create(2, "/el/s-", EphemeralSequential),
                ls(2, "/el", false),
                Step::Expire(1),
                ls(2, "/el", false),
            ],
        ),
        (
            "data watch on change",
            2,
            vec![
                mk(0, "/a"),
                get(1, "/a", true),
                set(0, "/a", "new"),
                get(1, "/a", false),
            ],
        ),
        (
            "data watch on delete",
            2,
            vec![mk(0, "/a"), get(1, "/a", true), del(0, "/a")],
        ),
        (
            "exists watch on creation",
            2,
            vec![ex(1, "/a", true), mk(0, "/a"), ex(1, "/a", false)],
        ),
        (
            "exists watch on change",
            2,
            vec![mk(0, "/a"), ex(1, "/a", true), set(0, "/a", "z")],
        ),
        (
            "exists watch on delete",
            2,
            vec![mk(0, "/a"), ex(1, "/a", true), del(0, "/a")],
        ),
        (
            "child watch on creation",
            2,
            vec![mk(0, "/d"), ls(1, "/d", true), mk(0, "/d/x")],
        ),
        (
            "child watch on deletion",
            2,
            vec![
                mk(0, "/d"),
                mk(0, "/d/x"),
                ls(1, "/d", true),
                del(0, "/d/x"),
            ],
        ),
        (
            "child watch when the node goes",
            2,
            vec![mk(0, "/d"), ls(1, "/d", true), del(0, "/d")],
        ),
        (
            "child watch ignores data",
            2,
            vec![
                mk(0, "/d"),
                ls(1, "/d", true),
                set(0, "/d", "x"),
                mk(0, "/d/y"),
            ],
        ),
        (
            "watches are one-shot",
            2,
            vec![
                mk(0, "/a"),
                get(1, "/a", true),
                set(0, "/a", "1"),
                set(0, "/a", "2"),
            ],
        ),
        (
            "two registrations, two notifications",
            2,
            vec![
                mk(0, "/a"),
                get(1, "/a", true),
                ex(1, "/a", true),
                set(0, "/a", "1"),
            ],
        ),
        (
            "no watch from a failed read",
            2,
            vec![
                get(1, "/a", true),
                ls(1, "/a", true),
                mk(0, "/a"),
                set(0, "/a", "1"),
            ],
        ),
        (
            "own change, own watch",
            1,
            vec![
                mk(0, "/a"),
                get(0, "/a", true),
                set(0, "/a", "x"),
                ls(0, "", true),
                mk(0, "/b"),
            ],
        ),
        (
            "multi applies whole",
            1,
            vec![
                multi(0, vec![m_create("/a"), m_create("/a/b"), m_set("/a")]),
                get(0, "/a", false),
                ls(0, "/a", false),
            ],
        ),
        (
            "multi fails at its first op",
            1,
            vec![
                mk(0, "/a"),
                multi(0, vec![m_create("/a"), m_create("/b")]),
                ls(0, "", false),
            ],
        ),
        (
            "multi fails midway, nothing applied",
            1,
            vec![
                multi(
                    0,
                    vec![m_create("/a"), m_delete("/missing"), m_create("/b")],
                ),
                ls(0, "", false),
            ],
        ),
        (
            "multi fails on a non-empty delete",
            1,
            vec![
                mk(0, "/a"),
                mk(0, "/a/b"),
                multi(0, vec![m_set("/a"), m_delete("/a")]),
                get(0, "/a", false),
            ],
        ),
        (
            "multi creates and deletes",
            2,
            vec![
                ex(1, "/t", true),
                multi(0, vec![m_create("/t"), m_delete("/t")]),
                ex(0, "/t", false),
            ],
        ),
        (
            "multi fires watches once applied",
            2,
            vec![
                mk(0, "/d"),
                ls(1, "/d", true),
                get(1, "/d", true),
                multi(0, vec![m_create("/d/x"), m_create("/d/y"), m_set("/d")]),
            ],
        ),
        (
            "a failed multi fires nothing",
            2,
            vec![
                mk(0, "/d"),
                ls(1, "/d", true),
                multi(0, vec![m_create("/d/x"), m_create("/d/x")]),
                mk(0, "/d/z"),
            ],
        ),
        (
            "claim and record, as a worker does",
            2,
            vec![
                mk(0, "/claims"),
                mk(0, "/done"),
                multi(
                    1,
                    vec![MultiOp::Create {
                        path: p("/claims/c1"),
                        data: vec![],
                        mode: Ephemeral,
                    }],
                ),
                ls(0, "/claims", true),
                multi(1, vec![m_delete("/claims/c1"), m_create("/done/c1")]),
                ls(0, "/done", false),
            ],
        ),
        (
            "expiry removes ephemerals and fires others' watches",
            2,
            vec![
                eph(1, "/e"),
                ex(0, "/e", true),
                ls(0, "", true),
                Step::Expire(1),
                ex(0, "/e", false),
                ex(1, "/e", false),
            ],
        ),
        (
            "an expired client's watches are gone",
            2,
            vec![
                mk(0, "/a"),
                get(1, "/a", true),
                Step::Expire(1),
                set(0, "/a", "x"),
                get(0, "/a", false),
            ],
        ),
        (
            "a new session after expiry",
            2,
            vec![
                eph(1, "/e"),
                Step::Expire(1),
                mk(1, "/x"),
                Step::Renew(1),
                eph(1, "/e"),
                ls(0, "", false),
            ],
        ),
        (
            "expiry releases a claim for another",
            3,
            vec![
                mk(0, "/claims"),
                eph(1, "/claims/c"),
                ls(2, "/claims", true),
                eph(2, "/claims/c"),
                Step::Expire(1),
                eph(2, "/claims/c"),
                ls(0, "/claims", false),
            ],
        ),
    ]
}

/// What the clients saw, step by step: replies in order, a step's notifications sorted.
type Transcript = Vec<String>;

/// A reply as a line; children sorted (ZooKeeper lists them in no particular order, and
/// nothing in zkrsync relies on one).
fn reply_line(c: usize, result: &Result<ZkReply, ZkError>) -> String {
    match result {
        Ok(ZkReply::Children(names)) => {
            let mut names = names.clone();
            names.sort();
            format!("c{c} {:?}", Ok::<_, ZkError>(ZkReply::Children(names)))
        }
        other => format!("c{c} {other:?}"),
    }
}

fn watch_line(c: usize, input: &Input) -> Option<String> {
    match input {
        Input::Watch { path, kind } => Some(format!("c{c} watch {path} {kind:?}")),
        _ => None,
    }
}

fn run_model(clients: usize, steps: &[Step]) -> Transcript {
    let mut model = ZkModel::new();
    let mut sessions: Vec<_> = (0..clients).map(|_| model.open_session()).collect();
    model
        .apply(
            sessions[0],
            &ZkOp::Create {
                path: "/B".into(),
                data: vec![],
                mode: CreateMode::Persistent,
            },
        )
        .expect("the base");
    let mut out = Vec::new();
    for step in steps {
        match step {
            Step::Op(c, op) => out.push(reply_line(*c, &model.apply(sessions[*c], op))),
            Step::Expire(c) => model.expire(sessions[*c]),
            Step::Renew(c) => sessions[*c] = model.open_session(),
        }
        let mut lines: Vec<String> = model
            .take_notifications()
            .into_iter()
            .filter_map(|n| {
                let c = sessions.iter().position(|s| *s == n.session)?;
                watch_line(
                    c,
                    &Input::Watch {
                        path: n.path,
                        kind: n.kind,
                    },
                )
            })
            .collect();
        lines.sort();
        out.extend(lines);
    }
    out
}

type Watcher = Pin<Box<dyn Future<Output = zk::WatchedEvent> + Send>>;

/// Session timeout of the scripts' clients: short, since an expiry waits it out.
const TIMEOUT: Duration = Duration::from_secs(3);

async fn connect(addr: &str) -> Zk {
    let client = zk::Client::connector()
        .with_session_timeout(TIMEOUT)
        .with_connection_timeout(Duration::from_secs(10))
        .connect(addr)
        .await
        .expect("connect to the test server");
    Zk {
        client,
        acls: zk::Acls::anyone_all(),
        shared: Vec::new(),
    }
}

/// One client of a script: its connection goes through its own proxy, so that it alone
/// can be cut off.
struct Real {
    zk: Zk,
    proxy: Proxy,
}

fn rebase(op: &ZkOp, base: &str) -> ZkOp {
    let fix = |path: &str| path.replacen("/B", base, 1);
    match op.clone() {
        ZkOp::Create { path, data, mode } => ZkOp::Create {
            path: fix(&path),
            data,
            mode,
        },
        ZkOp::Delete { path } => ZkOp::Delete { path: fix(&path) },
        ZkOp::SetData { path, data } => ZkOp::SetData {
            path: fix(&path),
            data,
        },
        ZkOp::GetData { path, watch } => ZkOp::GetData {
            path: fix(&path),
            watch,
        },
        ZkOp::GetChildren { path, watch } => ZkOp::GetChildren {
            path: fix(&path),
            watch,
        },
        ZkOp::Exists { path, watch } => ZkOp::Exists {
            path: fix(&path),
            watch,
        },
        ZkOp::Multi(ops) => ZkOp::Multi(
            ops.into_iter()
                .map(|o| match o {
                    MultiOp::Create { path, data, mode } => MultiOp::Create {
                        path: fix(&path),
                        data,
                        mode,
                    },
                    MultiOp::Delete { path } => MultiOp::Delete { path: fix(&path) },
                    MultiOp::SetData { path, data } => MultiOp::SetData {
                        path: fix(&path),
                        data,
                    },
                })
                .collect(),
        ),
    }
}

/// A real server-side expiry: the client is cut off until the server has expired its
/// session (seen by an observer's watch on an ephemeral of that session), then let through
/// again, so that it reconnects and learns that its session is gone.
async fn expire(victim: &Real, observer: &Zk, sentinel: &str) {
    victim
        .zk
        .client
        .create(
            sentinel,
            b"",
            &zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all()),
        )
        .await
        .expect("the sentinel");
    let (_, gone) = observer
        .client
        .check_and_watch_stat(sentinel)
        .await
        .expect("watch the sentinel");
    let mut state = victim.zk.client.state_watcher();
    victim.proxy.cut();
    gone.changed().await;
    victim.proxy.heal();
    while !state.peek_state().is_terminated() {
        state.changed().await;
    }
}

async fn run_real(server: &str, n: usize, clients: usize, steps: &[Step]) -> Transcript {
    let base = format!("/conformance-{}-{n}", std::process::id());
    let observer = connect(server).await;
    let mut reals = Vec::new();
    for _ in 0..clients {
        let proxy = Proxy::start(server).await;
        reals.push(Real {
            zk: connect(&proxy.addr).await,
            proxy,
        });
    }
    observer
        .client
        .create(
            &base,
            b"",
            &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all()),
        )
        .await
        .expect("the base");
    let mut watchers: Vec<Vec<Watcher>> = (0..clients).map(|_| Vec::new()).collect();
    let mut expired = vec![false; clients];
    let mut out = Vec::new();
    for (k, step) in steps.iter().enumerate() {
        match step {
            Step::Op(c, op) => {
                let replied =
                    zk_ops::start(&reals[*c].zk, ReqId(k as u64), rebase(op, &base)).await;
                if let Input::Reply { result, .. } = &replied.input {
                    out.push(reply_line(*c, result).replace(&base, "/B"));
                }
                if let Some(w) = replied.watch {
                    watchers[*c].push(Box::pin(w.changed()));
                }
            }
            Step::Expire(c) => {
                let sentinel = format!("{base}-sentinel-{k}");
                expire(&reals[*c], &observer, &sentinel).await;
                expired[*c] = true;
            }
            Step::Renew(c) => {
                reals[*c].zk = connect(&reals[*c].proxy.addr).await;
                expired[*c] = false;
                watchers[*c].clear();
            }
        }
        // ZooKeeper delivers a client's notifications before the reply to its next request:
        // after one more round trip, whatever fired is ready.
        let mut lines = Vec::new();
        for c in 0..clients {
            if !expired[c] {
                let _ = reals[c].zk.client.check_stat("/").await;
            }
            let mut pending = Vec::new();
            for mut w in std::mem::take(&mut watchers[c]) {
                match (&mut w).now_or_never() {
                    Some(event) => {
                        if let Some(input) = zk_ops::watch_input(event) {
                            lines.extend(watch_line(c, &input).map(|l| l.replace(&base, "/B")));
                        }
                    }
                    None => pending.push(w),
                }
            }
            watchers[c] = pending;
        }
        lines.sort();
        out.extend(lines);
    }
    out
}

#[test]
fn the_model_answers_as_a_real_zookeeper_does() {
    let scripts = scripts();
    assert!(scripts.len() >= 30, "{} scripts", scripts.len());
    let server = ZkServer::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut differences = BTreeMap::new();
    for (n, (name, clients, steps)) in scripts.iter().enumerate() {
        let model = run_model(*clients, steps);
        let real = runtime.block_on(run_real(server.connect(), n, *clients, steps));
        if model != real {
            differences.insert(
                *name,
                format!("model: {model:#?}\nreal ZooKeeper: {real:#?}"),
            );
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {} scripts differ:\n{}",
        differences.len(),
        scripts.len(),
        differences
            .iter()
            .map(|(k, v)| format!("== {k}\n{v}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
