//! Characterization tests of the master's cleanup (see `master_phases.rs`): after the
//! clients leave, or the leave deadline passes, the master records the outcome, deletes
//! the session's znodes and reports the summary, also when the final multi fails, when its
//! session expires after it, or when another source takes a half-cleaned session over.

mod harness;

use harness::master::*;

/// (5) Clean: the worker and the destination leave; the master lists the directories,
/// writes `summary`, deletes the results in a batch, then the rest in one final multi,
/// reports and exits.
#[test]
fn master_clean() {
    let mut h = tracked_to_stop();
    assert_stopped(&h);
    workers_leave(&mut h);
    let summary_path = layout().summary();
    let writes = h.sent(|op| matches!(op, ZkOp::Create { path, .. } if *path == summary_path));
    let [ZkOp::Create { data, .. }] = &writes[..] else {
        panic!("one summary write: {writes:?}")
    };
    let record = SummaryRecord::decode(data).unwrap();
    assert_eq!((record.chunks, record.units, record.done), (3, 4, 2));
    assert_eq!(record.failed.len(), 1);
    assert_eq!(h.sent(is_final_multi).len(), 1);
    let s = summary(&h);
    assert_eq!((s.progress.done, s.progress.failed), (2, 1));
    assert_eq!(s.failed[0].record, failed_record());
    assert!(!s.left_behind);
    assert_eq!(exit(&h).code, exit_code::PARTIAL);
    let outcome = kept_outcome(&h);
    assert_eq!(outcome.run.as_deref(), Some("run-1"));
    assert_eq!(outcome.keep_secs, KEEP.as_secs());
    assert!(!outcome.dry_run);
    assert_eq!(
        outcome.summary, record,
        "the outcome says what the summary record said"
    );
    finish("master_clean", &h);
}

/// (5) Clean with `--keep 0`: the final multi deletes the session's znode too.
#[test]
fn master_clean_without_keep_deletes_the_session() {
    let mut h = tracked_to_stop_keeping(Duration::ZERO);
    workers_leave(&mut h);
    assert_eq!(h.sent(is_final_multi).len(), 1);
    assert_eq!(exit(&h).code, exit_code::PARTIAL);
    assert!(!h.zk.exists(ROOT), "nothing of the session is left");
}

/// (5) Clean, the final multi fails once (a late claim appeared): the master goes round
/// again, deletes the claim, and the second final multi goes through.
#[test]
fn master_clean_final_multi_retry() {
    let mut h = tracked_to_stop();
    let mut finals = 0;
    h.set_hook(move |zk, op| {
        if is_final_multi(op) {
            finals += 1;
            if finals == 1 {
                zk.create(
                    &format!("{ROOT}/claims/0000000001"),
                    b"h-3",
                    CreateMode::Ephemeral,
                );
            }
        }
        None
    });
    workers_leave(&mut h);
    let finals = h.sent(is_final_multi);
    assert_eq!(finals.len(), 2, "one more round");
    let claim = format!("{ROOT}/claims/0000000001");
    assert!(
        !h.sent(|op| matches!(op, ZkOp::Multi(ops) if ops.contains(&MultiOp::Delete { path: claim.clone() })))
            .is_empty(),
        "the late claim is deleted"
    );
    let s = summary(&h);
    assert!(!s.left_behind);
    // Pinned as it is today: the second round reads back the summary record this master
    // wrote, and its counts replace the master's own, so the failed chunk keeps only its
    // error (no worker, destination, code or paths), unlike in `master_clean`.
    assert_eq!(s.failed.len(), 1);
    kept_outcome(&h);
    finish("master_clean_final_multi_retry", &h);
}

/// (5) Clean after the leave deadline: the worker never leaves; progress reports come on
/// time until the deadline; the master cleans up anyway, deleting the worker's election
/// node. The destination goes meanwhile, so the batch of deletes fails and is done one by
/// one.
#[test]
fn master_clean_leave_deadline() {
    let mut h = tracked_to_stop();
    let mut batches = 0;
    h.set_hook(move |zk, op| {
        if let ZkOp::Multi(ops) = op {
            let deletes_only = ops.iter().all(|o| matches!(o, MultiOp::Delete { .. }));
            if deletes_only && !is_final_multi(op) {
                batches += 1;
                if batches == 1 {
                    zk.delete(&format!("{ROOT}/dests/d1"));
                }
            }
        }
        None
    });
    h.note("nobody leaves: the master's timers fire");
    h.fire_until(Timer::LeaveDeadline);
    assert_eq!(h.elapsed(), ms(33000));
    assert!(has_log(
        &h,
        Level::Warn,
        "some clients did not leave in time"
    ));
    let progress = h
        .outputs
        .iter()
        .filter(|o| matches!(o, Output::Progress(_)))
        .count();
    assert_eq!(
        progress, 4,
        "at +10, +20 and +30 s, and the last with the summary"
    );
    let standby = format!("{ROOT}/election/s-0000000004");
    assert_eq!(
        h.sent(|op| matches!(op, ZkOp::Delete { path } if *path == standby))
            .len(),
        1
    );
    let d1 = format!("{ROOT}/dests/d1");
    assert_eq!(
        h.sent(|op| matches!(op, ZkOp::Delete { path } if *path == d1))
            .len(),
        1,
        "the failed batch is deleted one by one"
    );
    let s = summary(&h);
    assert!(!s.left_behind);
    kept_outcome(&h);
    finish("master_clean_leave_deadline", &h);
}

/// (5) Clean, the final multi keeps failing (a claim appears before every one): after its
/// rounds the master reports znodes left behind.
#[test]
fn master_clean_left_behind() {
    let mut h = tracked_to_stop();
    h.set_hook(move |zk, op| {
        let claim = format!("{ROOT}/claims/0000000002");
        if is_final_multi(op) && !zk.exists(&claim) {
            zk.create(&claim, b"h-3", CreateMode::Ephemeral);
        }
        None
    });
    workers_leave(&mut h);
    assert_eq!(h.sent(is_final_multi).len(), 4, "three more rounds");
    assert!(has_log(&h, Level::Warn, "znodes of session s1 left behind"));
    let s = summary(&h);
    assert!(s.left_behind);
    assert_eq!(exit(&h).code, exit_code::PARTIAL);
    assert!(
        h.zk.exists(&layout().config()),
        "the session is still there"
    );
    assert!(!h.zk.exists(&layout().outcome()), "and has no outcome");
    finish("master_clean_left_behind", &h);
}

/// (6) Resume: the plan is ready (a previous master published it), some chunks are done,
/// failed or claimed already; the master tracks at once, reads the records, and reports
/// progress on its timer (an interrupt then leaves the session as it is).
#[test]
fn master_resume() {
    let l = layout();
    let mut zk = ready_session();
    zk.set_cversion(&l.election(), 7);
    let done = DoneRecord {
        worker: "h-9".into(),
        dest: "d1".into(),
        stats: RsyncStats {
            files: 3,
            bytes_sent: 300,
            ..Default::default()
        },
        code: 24,
        items: Default::default(),
    };
    zk.create(
        &l.entry(Dir::Done, "0000000000"),
        &done.encode(),
        CreateMode::Persistent,
    );
    zk.create(
        &l.entry(Dir::Failed, "0000000001"),
        &failed_record().encode(),
        CreateMode::Persistent,
    );
    zk.create(
        &l.entry(Dir::Claims, "0000000002"),
        b"h-9",
        CreateMode::Ephemeral,
    );
    let mut h = start(zk, 1);
    assert!(has_log(
        &h,
        Level::Info,
        "resuming the published plan: 3 chunks, 4 units"
    ));
    assert_eq!(walks(&h), 0, "no walk");
    assert!(chunk_creates(&h).is_empty());
    worker_joins(&mut h, ms(5000));
    h.fire_until(Timer::Progress);
    let p = h
        .outputs
        .iter()
        .find_map(|o| match o {
            Output::Progress(p) => Some(p.clone()),
            _ => None,
        })
        .expect("a progress report");
    assert_eq!(
        (p.chunks, p.plan_ready, p.units, p.done, p.failed, p.running),
        (3, true, 4, 1, 1, 1)
    );
    assert_eq!(p.stats.files, 3);
    // Pinned as it is today: `sources` counts the election as it was when this source was
    // elected (the master does not follow the election until it stops the session), so
    // the worker that joined at +5 s is not counted.
    assert!(!h.zk.exists(&l.stop()));
    h.at(ms(12000));
    h.note("the user interrupts the master: the session stays");
    h.feed_settle(Input::Interrupt);
    assert_eq!(exit(&h).code, exit_code::INTERRUPTED);
    assert!(h.zk.exists(ROOT));
    finish("master_resume", &h);
}

/// (5) A master's ZooKeeper session expires just as its final multi went through: it gives
/// the session up, connects again, finds the session gone, and reports the outcome it had.
#[test]
fn master_clean_expired_after_final_multi() {
    let mut h = tracked_to_stop();
    h.set_hook(move |zk, op| {
        if is_final_multi(op) {
            zk.apply(op).expect("the final multi goes through");
            Some(Err(ZkError::SessionExpired))
        } else {
            None
        }
    });
    workers_leave(&mut h);
    assert!(h.has_output(|o| matches!(o, Output::NewSession)));
    assert!(!h.has_output(|o| matches!(o, Output::Summary(_))));
    kept_outcome(&h);
    h.at(ms(5000));
    h.note("the driver has a new session");
    let before = h.requests.len();
    h.feed_settle(Input::Session(SessionEvent::Connected {
        new_session: true,
        timeout: Duration::from_secs(9),
    }));
    let s = summary(&h);
    assert_eq!((s.progress.done, s.progress.failed), (2, 1));
    assert_eq!(exit(&h).code, exit_code::PARTIAL);
    assert!(
        !h.requests[before..]
            .iter()
            .any(|(_, op, _)| matches!(op, ZkOp::Create { .. })),
        "the session is not made again"
    );
    finish("master_clean_expired_after_final_multi", &h);
}

/// (4)-(5) Takeover of a stopped, half-cleaned session: the source joins behind the old
/// master and stands by; when the old master's node goes, it becomes the master, stops
/// waiting for nobody, finds the recorded summary and reports its counts.
#[test]
fn master_takeover_half_cleaned() {
    let (mut h, old) = stands_by_a_half_cleaned_session();
    h.note("the old master dies: its election node goes");
    h.zk.delete(&old);
    h.settle();
    assert!(has_log(&h, Level::Info, "source h-1 is the master"));
    assert_eq!(walks(&h), 0);
    let s = summary(&h);
    assert_eq!(
        (
            s.progress.chunks,
            s.progress.units,
            s.progress.done,
            s.progress.failed
        ),
        (3, 4, 2, 1)
    );
    assert_eq!(s.progress.stats.files, 15);
    assert!(!s.left_behind);
    kept_outcome(&h);
    finish("master_takeover_half_cleaned", &h);
}

/// A source standing by a finishing session leaves (exit 0) when the master's cleanup
/// removes the session and its election node with it, instead of taking the lost node for
/// an error and joining again: that re-created an empty session of the same name, which a
/// late source then took for a new one (simulator seed 2764).
#[test]
fn a_source_standing_by_leaves_when_the_cleanup_removes_its_election_node() {
    let (mut h, _old) = stands_by_a_half_cleaned_session();
    h.note("the old master's cleanup removes every election node");
    let election = format!("{ROOT}/election");
    for name in h.zk.children(&election) {
        h.zk.delete(&format!("{election}/{name}"));
    }
    h.settle();
    assert_eq!(exit(&h).code, exit_code::OK);
    assert!(!has_log(
        &h,
        Level::Warn,
        "this source's election node is gone"
    ));
    assert!(!h.m.is_master());
}

/// A session whose master recorded the summary (3 chunks, 2 done, 1 failed) and deleted
/// chunk 2 and every result, with `stop` set and the master's election node still there;
/// a source joins it and stands by (checked), and 2 s pass. Returns the source and the old
/// master's election node.
fn stands_by_a_half_cleaned_session() -> (Harness<Source>, String) {
    let l = layout();
    let chunks = [
        chunk(vec![unit("a", false, 3)]),
        chunk(vec![unit("b", false, 2), unit("b/x", false, 1)]),
    ];
    let plan = PlanRecord {
        ready: true,
        chunks: 3,
        units: 4,
        root_nonempty: true,
        top_dirs: vec![],
        entries: 0,
    };
    // The old master deleted chunk 2 and every result after recording the summary.
    let mut zk = session_zk(plan, &chunks, 2);
    zk.create(
        &l.stop(),
        &StopRecord::Done.encode(),
        CreateMode::Persistent,
    );
    let recorded = SummaryRecord {
        chunks: 3,
        units: 4,
        done: 2,
        stats: RsyncStats {
            files: 15,
            ..Default::default()
        },
        failed: vec![(
            "0000000001".into(),
            "rsync exited with 23: some files could not be transferred".into(),
        )],
    };
    zk.create(&l.summary(), &recorded.encode(), CreateMode::Persistent);
    let old = zk.create(
        &format!("{ROOT}/election/s-"),
        b"h-0",
        CreateMode::EphemeralSequential,
    );
    let mut h = start(zk, 1);
    assert!(!h.m.is_master());
    assert!(has_log(
        &h,
        Level::Info,
        "the session is finishing: standing by"
    ));
    h.at(ms(2000));
    (h, old)
}
