//! Tests of the protocol machines: feed one input, look at the outputs. (Time is an input:
//! these tests take one instant and move it by hand.)

use std::time::{Duration, Instant};

use zkrsync_core::plan::Chunk;
use zkrsync_core::protocol::layout::Dir;
use zkrsync_core::protocol::records::{self, DestRecord, PlanRecord};
use zkrsync_core::protocol::*;
use zkrsync_core::unit::RelPath;

fn layout() -> Layout {
    Layout::new("/zkrsync", "s1").unwrap()
}

fn source(params: SessionParams) -> Source {
    Source::new(SourceConfig {
        layout: layout(),
        params,
        client_id: "h-1".into(),
        session_timeout: Duration::from_secs(9),
        progress_every: Duration::from_secs(10),
        leave_timeout: Duration::from_secs(10),
        min_chunk_weight: zkrsync_core::protocol::source::MIN_CHUNK_WEIGHT,
        open_acls: false,
    })
}

fn drain(m: &mut impl Machine) -> Vec<Output> {
    std::iter::from_fn(|| m.poll_output()).collect()
}

fn zk_ops(outputs: &[Output]) -> Vec<(ReqId, ZkOp)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Zk { id, op } => Some((*id, op.clone())),
            _ => None,
        })
        .collect()
}

/// Answers every pending request with `answer`, once, and returns what came out.
fn answer(
    m: &mut impl Machine,
    now: Instant,
    ops: Vec<(ReqId, ZkOp)>,
    answer: &dyn Fn(&ZkOp) -> Result<ZkReply, ZkError>,
) -> Vec<Output> {
    for (id, op) in ops {
        let result = answer(&op);
        m.handle(now, Input::Reply { id, result });
    }
    drain(m)
}

fn path_of(op: &ZkOp) -> &str {
    op.path()
}

fn chunk_bytes() -> Vec<u8> {
    Chunk {
        units: vec![zkrsync_core::unit::Unit {
            path: RelPath::from_bytes(b"a").unwrap(),
            recursive: true,
            listing_failed: false,
            weight: 64,
            excluded: vec![],
            mounts: vec![],
            part: Default::default(),
        }],
    }
    .encode()
}

/// A small session as seen by a worker: one chunk, one destination, another source is
/// the master.
fn world(op: &ZkOp, params: &SessionParams) -> Result<ZkReply, ZkError> {
    let l = layout();
    match op {
        ZkOp::Create {
            path,
            mode: CreateMode::EphemeralSequential,
            ..
        } => Ok(ZkReply::Created(format!("{path}0000000002"))),
        ZkOp::Create { .. } => Err(ZkError::NodeExists),
        ZkOp::GetData { path, .. } if *path == l.config() => Ok(ZkReply::Data(params.encode())),
        ZkOp::GetData { path, .. } if *path == l.plan() => Ok(ZkReply::Data(
            PlanRecord {
                ready: true,
                chunks: 1,
                units: 1,
                root_nonempty: true,
                top_dirs: vec![],
            }
            .encode(),
        )),
        ZkOp::GetData { path, .. } if *path == l.entry(Dir::Dests, "d1") => Ok(ZkReply::Data(
            DestRecord {
                address: "127.0.0.1".into(),
                port: 8730,
                module: "m".into(),
                active: true,
                host: "h".into(),
                auth: None,
                tree: None,
                extra: vec![],
            }
            .encode(),
        )),
        ZkOp::GetData { path, .. } if *path == l.entry(Dir::Plan, "0000000000") => {
            Ok(ZkReply::Data(chunk_bytes()))
        }
        ZkOp::GetChildren { path, .. } if *path == l.election() => Ok(ZkReply::Children(vec![
            "s-0000000001".into(),
            "s-0000000002".into(),
        ])),
        ZkOp::GetChildren { path, .. } if *path == l.plan() => {
            Ok(ZkReply::Children(vec!["0000000000".into()]))
        }
        ZkOp::GetChildren { path, .. } if *path == l.dests() => {
            Ok(ZkReply::Children(vec!["d1".into()]))
        }
        ZkOp::GetChildren { .. } => Ok(ZkReply::Children(vec![])),
        ZkOp::Exists { .. } => Ok(ZkReply::Exists(path_of(op).starts_with(&l.election()))),
        ZkOp::Multi(_) => Ok(ZkReply::Done),
        _ => Err(ZkError::NoNode),
    }
}

/// Runs a worker until it has spawned rsync; returns the worker and the job id.
fn running_worker(params: SessionParams) -> (Source, JobId, Vec<Output>) {
    running_worker_granted(params, Duration::from_secs(9))
}

/// The same, with the server granting `granted` as the session timeout.
fn running_worker_granted(
    params: SessionParams,
    granted: Duration,
) -> (Source, JobId, Vec<Output>) {
    run_worker(&params, granted, &|op| world(op, &params))
}

/// Runs a worker against `answer_op` until it has spawned rsync; returns it, the job id and
/// every output.
fn run_worker(
    params: &SessionParams,
    granted: Duration,
    answer_op: &dyn Fn(&ZkOp) -> Result<ZkReply, ZkError>,
) -> (Source, JobId, Vec<Output>) {
    let now = Instant::now();
    let mut s = source(params.clone());
    s.handle(
        now,
        Input::Session(SessionEvent::Connected {
            new_session: true,
            timeout: granted,
        }),
    );
    let mut out = drain(&mut s);
    let mut all = out.clone();
    for _ in 0..10 {
        let ops = zk_ops(&out);
        if ops.is_empty() {
            break;
        }
        out = answer(&mut s, now, ops, answer_op);
        all.extend(out.iter().cloned());
    }
    let id = all
        .iter()
        .find_map(|o| match o {
            Output::Spawn { id, .. } => Some(*id),
            _ => None,
        })
        .expect("the worker spawns rsync");
    (s, id, all)
}

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
    let paths: Vec<&str> = ops.iter().map(|(_, op)| path_of(op)).collect();
    assert_eq!(
        paths[..3],
        ["/zkrsync", "/zkrsync/s1", "/zkrsync/s1/election"]
    );
    assert!(paths.contains(&"/zkrsync/s1/plan"));
    assert!(
        matches!(&ops[ops.len() - 2].1, ZkOp::Create { path, .. } if path == "/zkrsync/s1/config")
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
    let ops = zk_ops(&drain(&mut s));
    let out = answer(&mut s, now, ops, &|op| world(op, &SessionParams::default()));
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
            ZkOp::Multi(ops) => Some(ops),
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
    s.handle(
        Instant::now(),
        Input::RsyncDone {
            id,
            outcome: RsyncOutcome::Exited {
                code: Some(0),
                stats: Default::default(),
                stderr_tail: String::new(),
                deletions_skipped: 0,
            },
        },
    );
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
            ZkOp::Multi(m) => Some(m),
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

/// The job of the Spawn among `outputs`.
fn spawned(outputs: &[Output]) -> (JobId, RsyncJob) {
    outputs
        .iter()
        .find_map(|o| match o {
            Output::Spawn { id, job } => Some((*id, job.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no rsync spawned: {outputs:?}"))
}

fn held_back(deletions: u64) -> RsyncOutcome {
    RsyncOutcome::Exited {
        code: Some(25),
        stats: Default::default(),
        stderr_tail: format!("Deletions stopped due to --max-delete limit ({deletions} skipped)"),
        deletions_skipped: deletions,
    }
}

fn would_delete(n: u64) -> RsyncOutcome {
    RsyncOutcome::Exited {
        code: Some(0),
        stats: zkrsync_core::rsync_stats::RsyncStats {
            deleted_files: n,
            ..Default::default()
        },
        stderr_tail: String::new(),
        deletions_skipped: 0,
    }
}

/// Under a budget: the first run may delete nothing; what it held back is counted by a dry
/// run, reserved, and deleted by a run with that allowance once the reservation is granted
/// (`others`: the reservations already there).
fn budget_run(budget: u64, others: Vec<String>) -> (Source, Vec<Output>) {
    let params = SessionParams {
        delete: true,
        max_delete: Some(budget),
        ..SessionParams::default()
    };
    let (mut s, id, all) = running_worker(params.clone());
    let now = Instant::now();
    assert_eq!(spawned(&all).1.max_delete, Some(0));
    s.handle(
        now,
        Input::RsyncDone {
            id,
            outcome: held_back(2),
        },
    );
    let (count, job) = spawned(&drain(&mut s));
    assert!(job
        .invocations
        .iter()
        .all(|i| i.deletes() && i.args.contains(&"--dry-run".to_owned())));
    assert_eq!(job.max_delete, None);
    s.handle(
        now,
        Input::RsyncDone {
            id: count,
            outcome: would_delete(7),
        },
    );
    let ops = zk_ops(&drain(&mut s));
    let [(
        _,
        ZkOp::Create {
            path,
            mode: CreateMode::PersistentSequential,
            ..
        },
    )] = &ops[..]
    else {
        panic!("{ops:?}")
    };
    assert_eq!(path, "/zkrsync/s1/deletes/0000000000~7~");
    let mine = "0000000000~7~0000000005".to_owned();
    let out = answer(&mut s, now, ops, &|_| {
        Ok(ZkReply::Created(format!("/zkrsync/s1/deletes/{mine}")))
    });
    let mut names = others;
    names.push(mine.clone());
    let out = answer(&mut s, now, zk_ops(&out), &|op| match op {
        ZkOp::GetChildren { path, .. } if path == "/zkrsync/s1/deletes" => {
            Ok(ZkReply::Children(names.clone()))
        }
        other => world(other, &params),
    });
    (s, out)
}

#[test]
fn under_a_max_delete_budget_a_run_deletes_only_what_was_counted_and_granted() {
    let (_, out) = budget_run(10, vec!["0000000003~3~0000000001".into()]);
    let (_, job) = spawned(&out);
    assert_eq!(job.max_delete, Some(7));
    assert_eq!(job.invocations.len(), 1);
    assert!(!job.invocations[0].args.contains(&"--dry-run".to_owned()));
}

#[test]
fn a_reservation_beyond_the_budget_fails_the_chunk_for_good_with_the_numbers() {
    let (_, out) = budget_run(10, vec!["0000000003~4~0000000001".into()]);
    assert!(
        !out.iter().any(|o| matches!(o, Output::Spawn { .. })),
        "{out:?}"
    );
    let ops = zk_ops(&out);
    let [(_, ZkOp::Multi(multi))] = &ops[..] else {
        panic!("{ops:?}")
    };
    let Some(MultiOp::Create { path, data, .. }) = multi.last() else {
        panic!("{multi:?}")
    };
    assert_eq!(path, "/zkrsync/s1/failed/0000000000");
    let record = records::FailedRecord::decode(data).unwrap();
    assert!(
        record.error.contains("--max-delete budget of 10"),
        "{}",
        record.error
    );
    assert!(
        record
            .error
            .contains("needs 7 more deletions and 4 are spent or held"),
        "{}",
        record.error
    );
}

/// A worker whose chunk's data is handled 10 s after the rest (its agent was frozen with it
/// queued), with the request it then sends.
fn worker_after_a_silence() -> (Source, Instant, Vec<(ReqId, ZkOp)>) {
    let params = SessionParams::default();
    let start = Instant::now();
    let mut s = source(params.clone());
    s.handle(
        start,
        Input::Session(SessionEvent::Connected {
            new_session: true,
            timeout: Duration::from_secs(9),
        }),
    );
    let mut out = drain(&mut s);
    let mut held = None;
    for _ in 0..10 {
        let ops = zk_ops(&out);
        if ops.is_empty() {
            break;
        }
        let mut next = Vec::new();
        for (id, op) in ops {
            if matches!(&op, ZkOp::GetData { path, .. } if path.ends_with("/plan/0000000000")) {
                held = Some(id);
                continue;
            }
            s.handle(
                start,
                Input::Reply {
                    id,
                    result: world(&op, &params),
                },
            );
            next.extend(drain(&mut s));
        }
        out = next;
    }
    let later = start + Duration::from_secs(10);
    let id = held.expect("the worker reads its chunk");
    s.handle(
        later,
        Input::Reply {
            id,
            result: Ok(ZkReply::Data(chunk_bytes())),
        },
    );
    let out = drain(&mut s);
    assert!(
        !out.iter().any(|o| matches!(o, Output::Spawn { .. })),
        "{out:?}"
    );
    (s, later, zk_ops(&out))
}

#[test]
fn after_a_silence_longer_than_a_lease_rsync_starts_only_once_the_claim_is_read_back_as_its_own() {
    for (owner, starts) in [(&b"h-1"[..], true), (&b"other-3"[..], false)] {
        let (mut s, now, ops) = worker_after_a_silence();
        let [(confirm, ZkOp::GetData { path, .. })] = &ops[..] else {
            panic!("{ops:?}")
        };
        assert_eq!(path, "/zkrsync/s1/claims/0000000000");
        let result = Ok(ZkReply::Data(owner.to_vec()));
        s.handle(
            now,
            Input::Reply {
                id: *confirm,
                result,
            },
        );
        let out = drain(&mut s);
        let spawned = out.iter().any(|o| matches!(o, Output::Spawn { .. }));
        assert_eq!(spawned, starts, "{out:?}");
    }
}
