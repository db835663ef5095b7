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
