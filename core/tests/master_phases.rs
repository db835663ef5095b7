//! Characterization tests of the master's phases: each scenario drives one source that
//! becomes the master against a fake ZooKeeper and compares the transcript of everything
//! it did (inputs fed, outputs out, in order) with a golden file in `tests/golden/`.
//!
//! They pin today's behaviour, not what it should be: when a change to the machine is
//! meant to change it, rerun with `UPDATE_GOLDEN=1` and review the diff of the golden files.
//! Each scenario also asserts that it reached the phase it is about, so that it cannot pass
//! by comparing an empty transcript.

mod harness;

use harness::master::*;

/// (1) Cover, fresh session: the source creates the session, is elected, finds the plan
/// building with no chunks, and asks for a walk.
#[test]
fn master_cover_fresh() {
    let h = start(FakeZk::new(), 1);
    assert!(h.m.is_master());
    assert!(has_log(&h, Level::Info, "session s1 created"));
    assert!(has_log(&h, Level::Info, "source h-1 is the master"));
    assert_eq!(walks(&h), 1, "the master walks");
    assert!(h.timer(Timer::Progress).is_some());
    assert_eq!(h.pending().count(), 0);
    finish("master_cover_fresh", &h);
}

/// (2) Cover, chunks a previous master published: they are read before the walk, and only
/// the units they do not cover are published after it, numbered after them.
#[test]
fn master_cover_previous_chunks() {
    let published = [
        chunk(vec![unit("a", false, 2), unit("b", false, 2)]),
        chunk(vec![unit("c", true, 10)]),
    ];
    let mut h = start(session_zk(PlanRecord::building(), &published, 2), 1);
    assert!(has_log(
        &h,
        Level::Info,
        "a previous master published 2 chunks"
    ));
    assert_eq!(walks(&h), 1, "the master walks after reading them");
    let reads = h.sent(
        |op| matches!(op, ZkOp::GetData { path, .. } if path.starts_with(&format!("{ROOT}/plan/"))),
    );
    assert_eq!(reads.len(), 2);
    h.at(ms(2000));
    h.note("the walk finds the covered units and three new ones");
    h.feed_settle(walked(
        vec![
            unit(".", false, 4),
            unit("a", false, 2),
            unit("b", false, 2),
            unit("c", true, 10),
            unit("d", false, 1),
            unit("e", true, 7),
        ],
        0,
    ));
    assert_eq!(
        chunk_creates(&h),
        ["0000000002", "0000000003", "0000000004"]
    );
    for name in chunk_creates(&h) {
        let c = Chunk::decode(h.zk.data(&layout().entry(Dir::Plan, &name)).unwrap()).unwrap();
        for u in c.units {
            let p = u.path.as_bytes();
            assert!(p != b"a" && p != b"b" && p != b"c", "{u:?} was covered");
        }
    }
    let plan = plan_written(&h);
    assert!(plan.ready);
    assert_eq!((plan.chunks, plan.units), (5, 6));
    assert!(has_log(&h, Level::Info, "plan published"));
    finish("master_cover_previous_chunks", &h);
}

/// (3) Walk and publish: twenty units cut into twenty chunks (lightest chunk 1), created
/// sixteen at a time, then the plan record set ready.
#[test]
fn master_walk_publish() {
    let mut h = start(FakeZk::new(), 1);
    assert_eq!(walks(&h), 1);
    h.at(ms(1500));
    h.note("the walk ends: twenty units, one directory unreadable");
    let out = h.feed(walked(twenty_units(), 1));
    let first: Vec<&Output> = out
        .iter()
        .filter(|o| {
            matches!(
                o,
                Output::Zk {
                    op: ZkOp::Create { .. },
                    ..
                }
            )
        })
        .collect();
    assert_eq!(first.len(), 16, "a window of sixteen creates");
    h.settle();
    let names = chunk_creates(&h);
    assert_eq!(names.len(), 20);
    assert_eq!(names, (0..20).map(chunk_name).collect::<Vec<_>>());
    // Never more than sixteen creates in flight, and the plan is marked after the last.
    let mut in_flight = 0;
    let mut max = 0;
    let prefix = format!("{ROOT}/plan/");
    for line in h.transcript.text().lines() {
        if line.starts_with("    zk #") && line.contains(&format!(" create {prefix}")) {
            in_flight += 1;
            max = max.max(in_flight);
        }
        if line.starts_with('[') && line.contains(&format!(" create {prefix}")) {
            in_flight -= 1;
        }
    }
    assert_eq!(max, 16);
    let plan = plan_written(&h);
    assert!(plan.ready && plan.root_nonempty);
    assert_eq!((plan.chunks, plan.units), (20, 20));
    assert!(has_log(
        &h,
        Level::Warn,
        "1 directories could not be listed"
    ));
    assert!(has_log(&h, Level::Info, "plan published"));
    assert!(h
        .zk
        .data(&layout().plan())
        .is_some_and(|d| PlanRecord::decode(d).unwrap().ready));
    finish("master_walk_publish", &h);
}

/// (3) A walk that fails: the master exits with a configuration error.
#[test]
fn master_walk_error() {
    let mut h = start(FakeZk::new(), 1);
    assert_eq!(walks(&h), 1);
    h.at(ms(300));
    h.feed_settle(Input::Walked(Err(
        zkrsync_core::walk::WalkError::RootMissing {
            path: "/src".into(),
            error: std::io::Error::from_raw_os_error(13),
        }
        .into(),
    )));
    let e = exit(&h);
    assert_eq!(e.code, exit_code::CONFIG);
    assert!(e.message.unwrap().contains("Permission denied"));
    assert!(chunk_creates(&h).is_empty());
    finish("master_walk_error", &h);
}

/// (3)-(5) An empty source: a plan of no chunks is complete at once; the master stops the
/// session, nobody else is there, it cleans up and exits 0. Every phase in one.
#[test]
fn master_walk_empty_whole_session() {
    let mut h = start(FakeZk::new(), 1);
    h.at(ms(100));
    h.feed_settle(walked(vec![], 0));
    let plan = plan_written(&h);
    assert_eq!((plan.ready, plan.chunks, plan.units), (true, 0, 0));
    assert!(h.zk.data(&layout().stop()).is_none(), "stop deleted again");
    let s = summary(&h);
    assert!(!s.left_behind);
    assert_eq!(s.progress.chunks, 0);
    assert_eq!(exit(&h).code, exit_code::OK);
    kept_outcome(&h);
    assert!(h.zk.exists("/zkrsync"));
    finish("master_walk_empty_whole_session", &h);
}

/// (2)+(3) A chunk create ends in doubt mid-publish: the master starts over with a new
/// session, reads the chunks it published, walks again and publishes only the rest.
#[test]
fn master_restart_mid_publish() {
    let mut h = start(FakeZk::new(), 1);
    let mut creates = 0;
    h.set_hook(move |zk, op| match op {
        ZkOp::Create { path, .. } if path.starts_with(&format!("{ROOT}/plan/")) => {
            creates += 1;
            if creates == 5 {
                // Applied, but the reply is lost.
                let _ = zk.apply(op);
                Some(Err(ZkError::ConnectionLoss))
            } else {
                None
            }
        }
        _ => None,
    });
    h.at(ms(1000));
    h.feed_settle(walked(twenty_units(), 0));
    assert!(h.has_output(|o| matches!(o, Output::NewSession)));
    assert!(has_log(&h, Level::Warn, "ZooKeeper request on"));
    h.at(ms(1200));
    h.note("the driver has a new session");
    h.feed_settle(Input::Session(SessionEvent::Connected {
        new_session: true,
        timeout: Duration::from_secs(9),
    }));
    assert!(h.m.is_master());
    assert!(has_log(
        &h,
        Level::Info,
        "a previous master published 5 chunks"
    ));
    assert_eq!(walks(&h), 2);
    h.at(ms(2500));
    h.feed_settle(walked(twenty_units(), 0));
    let names = chunk_creates(&h);
    // 16 sent before the loss, 4 more as replies came; then the rest after the restart.
    let after: Vec<String> = names[20..].to_vec();
    assert_eq!(after, (5..20).map(chunk_name).collect::<Vec<_>>());
    let plan = plan_written(&h);
    assert_eq!((plan.chunks, plan.units), (20, 20));
    assert_eq!(h.zk.children(&layout().plan()).len(), 20);
    finish("master_restart_mid_publish", &h);
}

/// (4) Tracking and stop: results appear in done/ and failed/ by watch events; the master
/// reads each record; once every chunk is done or failed it creates `stop`, sets the leave
/// deadline and lists the election.
#[test]
fn master_track_stop() {
    let h = tracked_to_stop();
    let done_reads = h.sent(
        |op| matches!(op, ZkOp::GetData { path, .. } if path.starts_with(&format!("{ROOT}/done/"))),
    );
    let failed_reads = h.sent(|op| matches!(op, ZkOp::GetData { path, .. } if path.starts_with(&format!("{ROOT}/failed/"))));
    assert_eq!((done_reads.len(), failed_reads.len()), (2, 1));
    assert!(has_log(
        &h,
        Level::Info,
        "every chunk is done or failed: telling every client to stop"
    ));
    assert_stopped(&h);
    assert!(!h.has_output(|o| matches!(o, Output::Summary(_))));
    assert!(!h.exited());
    finish("master_track_stop", &h);
}
