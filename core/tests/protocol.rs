//! Tests of the protocol machines: feed one input, look at the outputs. (Time is an input:
//! these tests take one instant and move it by hand.)

mod harness;

use std::time::{Duration, Instant};

use harness::worker::*;
use zkrsync_core::protocol::layout::Dir;
use zkrsync_core::protocol::records;
use zkrsync_core::protocol::*;

#[test]
fn setup_creates_the_layout_then_reads_the_config() {
    let mut s = source(SessionParams::default());
    s.handle(
        Instant::now(),
        Input::Session(SessionEvent::Connected {
            new_session: true,
            timeout: Duration::from_secs(9),
        }),
    );
    let ops = zk_ops(&drain(&mut s));
    let [(_, ZkOp::GetData { path, .. })] = &ops[..] else {
        panic!("the outcome is read first, alone: {ops:?}")
    };
    assert_eq!(path, "/zkrsync/s1/outcome");
    let ops = zk_ops(&answer(&mut s, Instant::now(), ops, &|_| {
        Err(ZkError::NoNode)
    }));
    let paths: Vec<&str> = ops.iter().map(|(_, op)| created_path(op)).collect();
    assert_eq!(
        paths[..3],
        ["/zkrsync", "/zkrsync/s1", "/zkrsync/s1/election"]
    );
    assert!(paths.contains(&"/zkrsync/s1/plan"));
    assert!(
        matches!(&ops[ops.len() - 2].1, ZkOp::Multi(m) if is_guarded(m) && created_path(&ops[ops.len() - 2].1) == "/zkrsync/s1/config")
    );
    assert!(
        matches!(&ops[ops.len() - 1].1, ZkOp::GetData { path, .. } if path == "/zkrsync/s1/config")
    );
}

#[test]
fn a_client_with_other_parameters_is_refused_with_the_parameter_named() {
    let now = Instant::now();
    let mut s = source(SessionParams {
        delete: true,
        ..Default::default()
    });
    s.handle(
        now,
        Input::Session(SessionEvent::Connected {
            new_session: true,
            timeout: Duration::from_secs(9),
        }),
    );
    let first = drain(&mut s);
    let out = answer_all(&mut s, now, first, 3, &|op| {
        world(op, &SessionParams::default())
    });
    let exit = out.iter().find_map(|o| match o {
        Output::Exit(e) => Some(e.clone()),
        _ => None,
    });
    let exit = exit.expect("refused");
    assert_eq!(exit.code, exit_code::CONFIG);
    assert!(exit
        .message
        .unwrap()
        .starts_with("--delete differs from session s1's"));
    assert!(
        zk_ops(&out).iter().all(|(_, op)| !matches!(
            op,
            ZkOp::Create {
                mode: CreateMode::EphemeralSequential,
                ..
            }
        )),
        "it does not join"
    );
}

#[test]
fn a_worker_claims_a_chunk_and_a_slot_in_one_multi_then_runs_rsync() {
    let (_, _, all) = running_worker(SessionParams::default());
    let claim = zk_ops(&all)
        .into_iter()
        .find_map(|(_, op)| match op {
            ZkOp::Multi(ops) if !is_guarded(&ops) => Some(ops),
            _ => None,
        })
        .expect("a claim");
    assert_eq!(
        claim
            .iter()
            .map(|o| match o {
                MultiOp::Create { path, mode, .. } => (path.as_str(), *mode),
                other => panic!("{other:?}"),
            })
            .collect::<Vec<_>>(),
        vec![
            ("/zkrsync/s1/claims/0000000000", CreateMode::Ephemeral),
            ("/zkrsync/s1/slots/d1", CreateMode::Ephemeral)
        ]
    );
    let job = all.iter().find_map(|o| match o {
        Output::Spawn { job, .. } => Some(job.clone()),
        _ => None,
    });
    let job = job.unwrap();
    assert_eq!(job.url, "rsync://127.0.0.1:8730/m/");
    assert_eq!(job.invocations[0].files_from, b"a\0");
}

#[test]
fn expiry_kills_rsync_at_once_and_records_nothing() {
    let (mut s, id, _) = running_worker(SessionParams::default());
    s.handle(Instant::now(), Input::Session(SessionEvent::Expired));
    let out = drain(&mut s);
    assert!(
        matches!(out.iter().find(|o| !matches!(o, Output::Log { .. })), Some(Output::Kill { id: k }) if *k == id),
        "{out:?}"
    );
    assert!(out.iter().any(|o| matches!(o, Output::NewSession)));
    // rsync's late success counts for nothing.
    s.handle(Instant::now(), rsync_ok(id));
    assert!(zk_ops(&drain(&mut s)).is_empty());
}

#[test]
fn success_is_recorded_with_the_release_of_the_claim_in_one_multi() {
    let (mut s, id, _) = running_worker(SessionParams::default());
    s.handle(
        Instant::now(),
        Input::RsyncDone {
            id,
            outcome: RsyncOutcome::Exited {
                code: Some(24),
                stats: Default::default(),
                stderr_tail: String::new(),
                deletions_skipped: 0,
                items: Default::default(),
            },
        },
    );
    let ops = zk_ops(&drain(&mut s));
    let [(_, ZkOp::Multi(multi))] = &ops[..] else {
        panic!("{ops:?}")
    };
    assert_eq!(
        multi[0],
        MultiOp::Delete {
            path: "/zkrsync/s1/claims/0000000000".into()
        }
    );
    assert_eq!(
        multi[1],
        MultiOp::Delete {
            path: "/zkrsync/s1/slots/d1".into()
        }
    );
    assert!(
        matches!(&multi[2], MultiOp::Create { path, mode: CreateMode::Persistent, .. } if path == "/zkrsync/s1/done/0000000000")
    );
}

#[test]
fn a_failure_is_a_try_until_the_last_attempt() {
    for (attempts, want) in [
        (3, "/zkrsync/s1/tries/0000000000~d1~"),
        (1, "/zkrsync/s1/failed/0000000000"),
    ] {
        let (mut s, id, _) = running_worker(SessionParams {
            attempts,
            ..Default::default()
        });
        s.handle(
            Instant::now(),
            Input::RsyncDone {
                id,
                outcome: RsyncOutcome::Exited {
                    code: Some(23),
                    stats: Default::default(),
                    stderr_tail: "boom".into(),
                    deletions_skipped: 0,
                    items: Default::default(),
                },
            },
        );
        let ops = zk_ops(&drain(&mut s));
        let [(_, ZkOp::Multi(multi))] = &ops[..] else {
            panic!("{ops:?}")
        };
        assert!(
            matches!(&multi[2], MultiOp::Create { path, .. } if path == want),
            "{multi:?}"
        );
    }
}

#[test]
fn a_missing_source_runs_no_rsync_releases_and_exits() {
    let (mut s, id, _) = running_worker(SessionParams {
        delete: true,
        ..Default::default()
    });
    s.handle(
        Instant::now(),
        Input::RsyncDone {
            id,
            outcome: RsyncOutcome::SourceMissing("/src is empty".into()),
        },
    );
    let out = drain(&mut s);
    let ops = zk_ops(&out);
    let [(rid, ZkOp::Multi(multi))] = &ops[..] else {
        panic!("{ops:?}")
    };
    assert_eq!(multi.len(), 2, "only the release, no result");
    s.handle(
        Instant::now(),
        Input::Reply {
            id: *rid,
            result: Ok(ZkReply::Done),
        },
    );
    let out = drain(&mut s);
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Exit(e) if e.code == exit_code::CONFIG)));
    assert!(!out.iter().any(|o| matches!(o, Output::Spawn { .. })));
}

#[test]
fn a_long_disconnection_stops_rsync_before_the_session_can_expire() {
    let (mut s, id, _) = running_worker(SessionParams::default());
    let t0 = Instant::now();
    s.handle(t0, Input::Session(SessionEvent::Disconnected));
    drain(&mut s);
    let at = s.timer(Timer::Lease).expect("a lease timer");
    // A quarter of the 9 s session timeout: the server may expire a session 1/3 of the
    // timeout after a client notices a silent loss.
    assert_eq!(at - t0, Duration::from_millis(2250));
    assert_eq!(s.poll_timeout(), Some(at));
    // Not yet due: nothing happens.
    s.handle(at - Duration::from_millis(1), Input::Timeout);
    assert!(!drain(&mut s)
        .iter()
        .any(|o| matches!(o, Output::Kill { .. })));
    s.handle(at, Input::Timeout);
    assert!(drain(&mut s)
        .iter()
        .any(|o| matches!(o, Output::Kill { id: k } if *k == id)));
    // Reconnected with the same session: the chunk is released for anyone to redo.
    s.handle(
        at,
        Input::RsyncDone {
            id,
            outcome: RsyncOutcome::Exited {
                code: None,
                stats: Default::default(),
                stderr_tail: String::new(),
                deletions_skipped: 0,
                items: Default::default(),
            },
        },
    );
    s.handle(
        at,
        Input::Session(SessionEvent::Connected {
            new_session: false,
            timeout: Duration::from_secs(9),
        }),
    );
    let ops = zk_ops(&drain(&mut s));
    assert!(
        ops.iter()
            .any(|(_, op)| matches!(op, ZkOp::Multi(m) if m.len() == 2)),
        "{ops:?}"
    );
}

#[test]
fn a_chunk_found_done_after_its_claim_is_released_not_copied_again() {
    // The worker's view of done/ lags: the chunk looks free, the claim succeeds, and only
    // the check after the claim shows that another worker has just finished it.
    let now = Instant::now();
    let params = SessionParams::default();
    let l = layout();
    let mut s = source(params.clone());
    s.handle(
        now,
        Input::Session(SessionEvent::Connected {
            new_session: true,
            timeout: Duration::from_secs(9),
        }),
    );
    let mut out = drain(&mut s);
    let mut all = Vec::new();
    for _ in 0..10 {
        let ops = zk_ops(&out);
        if ops.is_empty() {
            break;
        }
        out = answer(&mut s, now, ops, &|op| match op {
            ZkOp::Exists { path, .. } if *path == l.entry(Dir::Done, "0000000000") => {
                Ok(ZkReply::Exists(true))
            }
            _ => world(op, &params),
        });
        all.extend(out.iter().cloned());
    }
    assert!(
        !all.iter().any(|o| matches!(o, Output::Spawn { .. })),
        "no rsync for a done chunk"
    );
    let multis: Vec<Vec<MultiOp>> = zk_ops(&all)
        .into_iter()
        .filter_map(|(_, op)| match op {
            ZkOp::Multi(m) if !is_guarded(&m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(
        multis.get(1).expect("a release after the claim"),
        &vec![
            MultiOp::Delete {
                path: l.entry(Dir::Claims, "0000000000")
            },
            MultiOp::Delete {
                path: l.entry(Dir::Slots, "d1")
            },
        ]
    );
}

#[test]
fn the_lease_follows_the_timeout_the_server_granted() {
    // 9 s asked for, 4 s granted (the server's maxSessionTimeout): the lease is 1 s.
    let (mut s, id, all) = running_worker_granted(SessionParams::default(), Duration::from_secs(4));
    assert!(all.iter().any(|o| matches!(o, Output::Log { level: Level::Warn, message } if message.contains("granted a session timeout of 4.0 s"))));
    let t0 = Instant::now();
    s.handle(t0, Input::Session(SessionEvent::Disconnected));
    drain(&mut s);
    assert_eq!(s.timer(Timer::Lease), Some(t0 + Duration::from_secs(1)));
    s.handle(t0 + Duration::from_secs(1), Input::Timeout);
    assert!(drain(&mut s)
        .iter()
        .any(|o| matches!(o, Output::Kill { id: k } if *k == id)));
}

#[test]
fn a_chunk_read_after_the_connection_was_lost_starts_no_rsync() {
    let params = SessionParams::default();
    let now = Instant::now();
    let mut s = source(params.clone());
    s.handle(
        now,
        Input::Session(SessionEvent::Connected {
            new_session: true,
            timeout: Duration::from_secs(9),
        }),
    );
    let chunk_path = layout().entry(Dir::Plan, "0000000000");
    let mut pending = zk_ops(&drain(&mut s));
    let mut released = Vec::new();
    for _ in 0..20 {
        let Some((id, op)) = pending.pop() else { break };
        if op.path() == chunk_path && matches!(op, ZkOp::GetData { .. }) {
            // The connection drops just before the chunk's data arrives.
            s.handle(now, Input::Session(SessionEvent::Disconnected));
        }
        s.handle(
            now,
            Input::Reply {
                id,
                result: world(&op, &params),
            },
        );
        let out = drain(&mut s);
        assert!(
            !out.iter().any(|o| matches!(o, Output::Spawn { .. })),
            "rsync spawned while disconnected"
        );
        released.extend(zk_ops(&out).into_iter().filter(|(_, op)| {
            matches!(op, ZkOp::Multi(m) if m.len() == 2 && matches!(&m[0], MultiOp::Delete { .. }))
        }));
        pending.extend(zk_ops(&out));
        if !released.is_empty() {
            break;
        }
    }
    assert_eq!(released.len(), 1, "the claim is given back, once");
}

/// Runs a worker against `answer_op` until it has spawned rsync; returns it and the job id.
fn running_worker_in(
    params: &SessionParams,
    answer_op: &dyn Fn(&ZkOp) -> Result<ZkReply, ZkError>,
) -> (Source, JobId) {
    let (s, id, _) = run_worker(params, Duration::from_secs(9), answer_op);
    (s, id)
}

#[test]
fn a_destination_failure_hands_the_chunk_back_until_the_bound_then_fails_with_the_reason() {
    let params = SessionParams::default();
    let l = layout();
    let tries = |backs: usize| {
        (0..backs)
            .map(|i| format!("0000000000~d1~back-{i:010}"))
            .collect::<Vec<_>>()
    };
    let exit5 = RsyncOutcome::Exited {
        code: Some(5),
        stats: Default::default(),
        stderr_tail: "@ERROR: chroot failed".into(),
        deletions_skipped: 0,
        items: Default::default(),
    };
    // A first failure: a hand-back record, created with the release, in one multi.
    let (mut s, id) = running_worker_in(&params, &|op| world(op, &params));
    s.handle(
        Instant::now(),
        Input::RsyncDone {
            id,
            outcome: exit5.clone(),
        },
    );
    let ops = zk_ops(&drain(&mut s));
    let multi = ops
        .iter()
        .find_map(|(_, op)| match op {
            ZkOp::Multi(m) => Some(m.clone()),
            _ => None,
        })
        .expect("a multi");
    assert!(
        matches!(&multi[2], MultiOp::Create { path, mode: CreateMode::PersistentSequential, .. } if *path == l.entry(Dir::Tries, "0000000000~d1~back-")),
        "{multi:?}"
    );
    // After nine hand-backs the tenth fails the chunk for good, saying why.
    let (mut s, id) = running_worker_in(&params, &|op| match op {
        ZkOp::GetChildren { path, .. } if *path == l.dir(Dir::Tries) => {
            Ok(ZkReply::Children(tries(9)))
        }
        other => world(other, &params),
    });
    s.handle(Instant::now(), Input::RsyncDone { id, outcome: exit5 });
    let ops = zk_ops(&drain(&mut s));
    let failed = ops.iter().find_map(|(_, op)| match op {
        ZkOp::Multi(m) => m.iter().find_map(|o| match o {
            MultiOp::Create { path, data, .. } if *path == l.entry(Dir::Failed, "0000000000") => {
                Some(String::from_utf8_lossy(data).into_owned())
            }
            _ => None,
        }),
        _ => None,
    });
    let failed =
        records::FailedRecord::decode(failed.expect("the chunk fails for good").as_bytes())
            .unwrap();
    assert!(
        failed.error.starts_with("handed back 10 times"),
        "{failed:?}"
    );
    assert_eq!(failed.code, Some(5));
}

#[test]
fn a_session_that_cannot_move_says_why() {
    let p = Progress {
        chunks: 4,
        plan_ready: true,
        done: 1,
        sources: 1,
        dests: 1,
        active_dests: 1,
        ..Progress::default()
    };
    assert!(p
        .stalled()
        .unwrap()
        .starts_with("no worker: the master does not copy"));
    let p = Progress { sources: 3, ..p };
    assert_eq!(p.stalled(), None);
    let no_dest = Progress {
        dests: 0,
        active_dests: 0,
        ..p.clone()
    };
    assert!(no_dest.stalled().unwrap().starts_with("no destination"));
    let paused = Progress {
        active_dests: 0,
        ..p.clone()
    };
    assert!(paused
        .stalled()
        .unwrap()
        .starts_with("every destination is paused"));
    // Work under way, a plan still being made, or nothing left: not stalled.
    for busy in [
        Progress {
            running: 1,
            ..paused.clone()
        },
        Progress {
            plan_ready: false,
            ..paused.clone()
        },
        Progress {
            done: 4,
            ..paused.clone()
        },
    ] {
        assert_eq!(busy.stalled(), None, "{busy:?}");
    }
}
