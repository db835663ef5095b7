use super::*;

fn create(path: &str, mode: CreateMode) -> ZkOp {
    ZkOp::Create {
        path: path.into(),
        data: b"x".to_vec(),
        mode,
    }
}

#[test]
fn create_needs_a_parent_and_refuses_duplicates_and_children_of_ephemerals() {
    let mut zk = ZkModel::new();
    let s = zk.open_session();
    assert_eq!(
        zk.apply(s, &create("/a/b", CreateMode::Persistent)),
        Err(ZkError::NoNode)
    );
    assert_eq!(
        zk.apply(s, &create("/a", CreateMode::Persistent)),
        Ok(ZkReply::Created("/a".into()))
    );
    assert_eq!(
        zk.apply(s, &create("/a", CreateMode::Persistent)),
        Err(ZkError::NodeExists)
    );
    zk.apply(s, &create("/e", CreateMode::Ephemeral)).unwrap();
    assert_eq!(
        zk.apply(s, &create("/e/x", CreateMode::Persistent)),
        Err(ZkError::Other(NO_CHILDREN_FOR_EPHEMERALS.into()))
    );
}

#[test]
fn sequence_numbers_count_creations_only() {
    let mut zk = ZkModel::new();
    let s = zk.open_session();
    zk.apply(s, &create("/q", CreateMode::Persistent)).unwrap();
    let a = zk
        .apply(s, &create("/q/n-", CreateMode::EphemeralSequential))
        .unwrap();
    assert_eq!(a, ZkReply::Created("/q/n-0000000000".into()));
    zk.apply(
        s,
        &ZkOp::Delete {
            path: "/q/n-0000000000".into(),
        },
    )
    .unwrap();
    let b = zk
        .apply(s, &create("/q/n-", CreateMode::PersistentSequential))
        .unwrap();
    assert_eq!(b, ZkReply::Created("/q/n-0000000001".into()));
}

#[test]
fn expiry_removes_ephemerals_and_fires_other_sessions_watches() {
    let mut zk = ZkModel::new();
    let a = zk.open_session();
    let b = zk.open_session();
    zk.apply(a, &create("/e", CreateMode::Ephemeral)).unwrap();
    zk.apply(
        b,
        &ZkOp::Exists {
            path: "/e".into(),
            watch: true,
        },
    )
    .unwrap();
    zk.apply(
        b,
        &ZkOp::GetChildren {
            path: "/".into(),
            watch: true,
        },
    )
    .unwrap();
    zk.expire(a);
    assert!(!zk.is_alive(a));
    assert_eq!(zk.stat("/e"), None);
    assert_eq!(
        zk.apply(
            a,
            &ZkOp::Exists {
                path: "/".into(),
                watch: false
            }
        ),
        Err(ZkError::SessionExpired)
    );
    let n = zk.take_notifications();
    assert_eq!(
        n.iter()
            .map(|n| (n.session, n.path.as_str(), n.kind))
            .collect::<Vec<_>>(),
        vec![
            (b, "/e", WatchKind::Deleted),
            (b, "/", WatchKind::ChildrenChanged)
        ]
    );
}

#[test]
fn watches_are_one_shot_and_per_registration() {
    let mut zk = ZkModel::new();
    let s = zk.open_session();
    zk.apply(s, &create("/a", CreateMode::Persistent)).unwrap();
    zk.apply(
        s,
        &ZkOp::GetData {
            path: "/a".into(),
            watch: true,
        },
    )
    .unwrap();
    zk.apply(
        s,
        &ZkOp::GetData {
            path: "/a".into(),
            watch: true,
        },
    )
    .unwrap();
    zk.apply(
        s,
        &ZkOp::SetData {
            path: "/a".into(),
            data: vec![],
        },
    )
    .unwrap();
    assert_eq!(zk.take_notifications().len(), 2);
    zk.apply(
        s,
        &ZkOp::SetData {
            path: "/a".into(),
            data: vec![],
        },
    )
    .unwrap();
    assert!(zk.take_notifications().is_empty());
    assert_eq!(
        zk.apply(
            s,
            &ZkOp::GetData {
                path: "/nope".into(),
                watch: true
            }
        ),
        Err(ZkError::NoNode)
    );
    zk.apply(s, &create("/nope", CreateMode::Persistent))
        .unwrap();
    assert!(
        zk.take_notifications().is_empty(),
        "no watch is left on a missing node by getData"
    );
}

#[test]
fn a_failed_multi_changes_nothing_and_names_the_failing_op() {
    let mut zk = ZkModel::new();
    let s = zk.open_session();
    zk.apply(s, &create("/a", CreateMode::Persistent)).unwrap();
    zk.apply(
        s,
        &ZkOp::GetChildren {
            path: "/a".into(),
            watch: true,
        },
    )
    .unwrap();
    let before = zk.clone();
    let multi = ZkOp::Multi(vec![
        MultiOp::Create {
            path: "/a/x".into(),
            data: vec![],
            mode: CreateMode::Persistent,
        },
        MultiOp::SetData {
            path: "/a".into(),
            data: b"y".to_vec(),
        },
        MultiOp::Delete {
            path: "/a/missing".into(),
        },
    ]);
    assert_eq!(
        zk.apply(s, &multi),
        Err(ZkError::MultiFailed {
            index: 2,
            error: Box::new(ZkError::NoNode)
        })
    );
    assert_eq!(zk.children("/a"), before.children("/a"));
    assert_eq!(zk.stat("/a").unwrap().version, 0);
    assert_eq!(zk.stat("/a").unwrap().cversion, 0);
    assert!(zk.take_notifications().is_empty());
    // The same multi without the failing op applies whole, its events in op order.
    let ok = ZkOp::Multi(vec![
        MultiOp::Create {
            path: "/a/x".into(),
            data: vec![],
            mode: CreateMode::Persistent,
        },
        MultiOp::Delete {
            path: "/a/x".into(),
        },
    ]);
    assert_eq!(zk.apply(s, &ok), Ok(ZkReply::Done));
    let n = zk.take_notifications();
    assert_eq!(n.len(), 1, "one child watch, fired once: {n:?}");
    assert_eq!(zk.stat("/a").unwrap().cversion, 1);
}
