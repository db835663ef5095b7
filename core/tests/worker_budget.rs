//! Tests of a worker's runs under the session's `--max-delete` budget, and of a worker that
//! starts rsync after a silence: feed one input, look at the outputs.

mod harness;

use std::time::{Duration, Instant};

use harness::worker::*;
use zkrsync_core::protocol::records;
use zkrsync_core::protocol::*;

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
        items: Default::default(),
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
        items: Default::default(),
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
