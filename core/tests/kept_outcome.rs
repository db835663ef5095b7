//! A finished session keeps only its outcome: what a client that comes to it then does.
//! One of the run that finished leaves; one of another run (or of none) removes the outcome
//! and starts the session anew; one that was joining while the session finished looks
//! again instead of re-creating the layout under the outcome.

mod harness;

use harness::master::*;

fn outcome(run: Option<&str>) -> OutcomeRecord {
    OutcomeRecord {
        run: run.map(Into::into),
        keep_secs: 60,
        dry_run: false,
        summary: SummaryRecord {
            chunks: 3,
            units: 4,
            done: 3,
            ..SummaryRecord::default()
        },
    }
}

/// What a finished session leaves in ZooKeeper: its znode with the outcome alone.
fn finished_session(run: Option<&str>) -> FakeZk {
    let mut zk = FakeZk::new();
    zk.create("/zkrsync", b"", CreateMode::Persistent);
    zk.create(ROOT, b"", CreateMode::Persistent);
    zk.create(
        &layout().outcome(),
        &outcome(run).encode(),
        CreateMode::Persistent,
    );
    zk
}

fn writes(op: &ZkOp) -> bool {
    !matches!(
        op,
        ZkOp::GetData { .. } | ZkOp::GetChildren { .. } | ZkOp::Exists { .. }
    )
}

#[test]
fn a_late_source_of_the_run_that_finished_leaves_and_changes_nothing() {
    let h = start(finished_session(Some("run-1")), 1);
    assert!(h.exited());
    assert_eq!(exit(&h).code, exit_code::OK);
    assert!(has_log(
        &h,
        Level::Info,
        "session s1 finished already (complete, 3 chunks, this run): leaving"
    ));
    assert!(h.sent(writes).is_empty(), "{:?}", h.sent(writes));
    assert_eq!(h.zk.children(ROOT), ["outcome"]);
}

#[test]
fn a_source_of_another_run_or_of_none_removes_the_outcome_and_starts_the_session_anew() {
    for run in [Some("run-0"), None] {
        let h = start(finished_session(run), 1);
        assert!(!h.exited(), "{run:?}");
        assert!(has_log(
            &h,
            Level::Info,
            "session s1 finished earlier (complete, 3 chunks, "
        ));
        assert!(!h.zk.exists(&layout().outcome()), "{run:?}");
        assert!(h.zk.exists(&layout().config()), "{run:?}");
        assert!(h.m.is_master(), "{run:?}: the new session's master");
        for dir in Dir::ALL {
            assert!(h.zk.exists(&layout().dir(dir)), "{run:?}: {dir:?}");
        }
    }
}

#[test]
fn a_source_joining_while_the_session_finishes_looks_again_and_leaves() {
    // A live session: the source reads no outcome, then the session's master finishes
    // (everything goes, the outcome stays) before the source's creates arrive.
    let mut zk = FakeZk::new();
    zk.create("/zkrsync", b"", CreateMode::Persistent);
    zk.create(ROOT, b"", CreateMode::Persistent);
    zk.create(
        &layout().config(),
        &SessionParams::default().encode(),
        CreateMode::Persistent,
    );
    let outcome_path = layout().outcome();
    let mut finished = false;
    let mut h = Harness::new(source(1), zk);
    h.set_hook(move |zk, op| {
        if !finished && matches!(op, ZkOp::Create { path, .. } if path == ROOT) {
            finished = true;
            zk.delete(&layout().config());
            zk.create(
                &outcome_path,
                &outcome(Some("run-1")).encode(),
                CreateMode::Persistent,
            );
        }
        None
    });
    h.feed_settle(Input::Session(SessionEvent::Connected {
        new_session: true,
        timeout: Duration::from_secs(9),
    }));
    assert!(has_log(
        &h,
        Level::Info,
        "session s1 finished while this source was joining it: looking again"
    ));
    assert!(h.has_output(|o| matches!(o, Output::NewSession)));
    assert_eq!(
        h.zk.children(ROOT),
        ["outcome"],
        "no layout under the outcome"
    );
    h.feed_settle(Input::Session(SessionEvent::Connected {
        new_session: true,
        timeout: Duration::from_secs(9),
    }));
    assert_eq!(exit(&h).code, exit_code::OK);
    assert!(has_log(&h, Level::Info, "session s1 finished already"));
    assert_eq!(h.zk.children(ROOT), ["outcome"]);
}

/// A session that finished with chunk 0000000001 failed: its outcome, config, plan record
/// and that chunk are kept.
fn finished_with_a_failure(params: &SessionParams) -> FakeZk {
    let mut zk = finished_session(None);
    let mut o = outcome(Some("run-0"));
    o.summary.done = 2;
    o.summary.failed = vec![("0000000001".into(), "rsync exited with 23".into())];
    zk.set(&layout().outcome(), &o.encode());
    zk.create(&layout().config(), &params.encode(), CreateMode::Persistent);
    let plan = PlanRecord {
        ready: true,
        chunks: 3,
        units: 4,
        root_nonempty: true,
        top_dirs: vec![b"b".to_vec()],
        entries: 0,
    };
    zk.create(&layout().plan(), &plan.encode(), CreateMode::Persistent);
    let chunk = Chunk {
        units: vec![unit("b", true, 10)],
    };
    zk.create(
        &layout().entry(Dir::Plan, "0000000001"),
        &chunk.encode(),
        CreateMode::Persistent,
    );
    zk
}

/// Every znode below `path` with its data, depth first.
fn dump(zk: &FakeZk, path: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![(path.to_owned(), zk.data(path).unwrap_or_default().to_vec())];
    for child in zk.children(path) {
        out.extend(dump(zk, &format!("{path}/{child}")));
    }
    out
}

fn retrying(params: SessionParams) -> Source {
    Source::new(SourceConfig {
        params,
        run: Some("run-2".into()),
        retry_failed: true,
        ..source_cfg(1)
    })
}

#[test]
fn retry_failed_turns_the_finished_session_into_one_of_its_failed_chunks() {
    let params = SessionParams::default();
    let h = start_source(finished_with_a_failure(&params), retrying(params));
    assert!(!h.exited(), "{}", h.transcript.text());
    assert!(has_log(
        &h,
        Level::Info,
        "retrying the 1 failed chunks of session s1 (with 1 failed chunks, 3 chunks)"
    ));
    let l = layout();
    assert!(!h.zk.exists(&l.outcome()));
    let retried = OutcomeRecord::decode(h.zk.data(&l.retried()).unwrap()).unwrap();
    assert_eq!(
        retried.summary.done, 2,
        "the retried run's outcome is kept for the end"
    );
    let plan = PlanRecord::decode(h.zk.data(&l.plan()).unwrap()).unwrap();
    assert!(plan.ready);
    assert_eq!(
        (plan.chunks, plan.top_dirs.clone()),
        (1, vec![b"b".to_vec()])
    );
    assert_eq!(h.zk.children(&l.plan()), ["0000000001"]);
    for dir in Dir::ALL {
        assert!(h.zk.exists(&l.dir(dir)), "{dir:?}");
    }
    assert!(h.m.is_master());
    assert!(has_log(
        &h,
        Level::Info,
        "resuming the published plan: 1 chunks"
    ));
}

#[test]
fn retry_failed_with_other_parameters_is_refused_and_changes_nothing() {
    let session = SessionParams::default();
    let zk = finished_with_a_failure(&session);
    let before = dump(&zk, ROOT);
    let h = start_source(
        zk,
        retrying(SessionParams {
            delete: true,
            ..SessionParams::default()
        }),
    );
    let e = exit(&h);
    assert_eq!(e.code, exit_code::CONFIG);
    let message = e.message.unwrap();
    assert!(
        message.starts_with("--delete differs from session s1's")
            && message.ends_with("(a retry runs with the session's parameters)"),
        "{message}"
    );
    assert_eq!(dump(&h.zk, ROOT), before, "nothing changed");
}

#[test]
fn retry_failed_of_a_complete_session_or_of_none_does_nothing() {
    let h = start_source(
        finished_session(Some("run-0")),
        retrying(SessionParams::default()),
    );
    assert_eq!(exit(&h).code, exit_code::OK);
    assert!(has_log(
        &h,
        Level::Info,
        "session s1 finished with no failed chunk (complete, 3 chunks): nothing to retry"
    ));
    assert_eq!(h.zk.children(ROOT), ["outcome"]);

    let mut zk = FakeZk::new();
    zk.create("/zkrsync", b"", CreateMode::Persistent);
    let h = start_source(zk, retrying(SessionParams::default()));
    let e = exit(&h);
    assert_eq!(e.code, exit_code::CONFIG);
    assert!(e
        .message
        .unwrap()
        .starts_with("there is no finished session s1 to retry"));
    assert!(!h.zk.exists(ROOT), "no session made");
}

#[test]
fn a_new_run_removes_the_kept_failed_chunks_with_the_outcome() {
    let params = SessionParams::default();
    let h = start(finished_with_a_failure(&params), 1);
    assert!(!h.exited());
    assert!(has_log(&h, Level::Info, "session s1 finished earlier (with 1 failed chunks, 3 chunks, run run-0): what is kept of it is removed"));
    let plan = PlanRecord::decode(h.zk.data(&layout().plan()).unwrap()).unwrap();
    assert!(!plan.ready, "a new plan is being made");
    assert!(!h.zk.exists(&layout().entry(Dir::Plan, "0000000001")));
    assert!(!h.zk.exists(&layout().outcome()));
}
