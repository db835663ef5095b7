//! Live progress: a worker publishes its running rsync's counters in its ephemeral
//! `progress/<election node>` at most every LIVE_EVERY, best effort; the master counts the
//! records of chunks still running.

mod harness;

use std::time::Instant;

use harness::worker::*;
use zkrsync_core::protocol::layout::Dir;
use zkrsync_core::protocol::records::LiveRecord;
use zkrsync_core::protocol::source::LIVE_EVERY;
use zkrsync_core::protocol::*;

fn progress(s: &mut Source, at: Instant, id: JobId, bytes: u64) -> Vec<(ReqId, ZkOp)> {
    s.handle(
        at,
        Input::RsyncProgress {
            id,
            bytes,
            files: bytes / 100,
        },
    );
    zk_ops(&drain(s))
}

#[test]
fn a_worker_publishes_its_rsyncs_progress_at_most_every_live_every_and_says_idle_at_the_end() {
    let (mut s, id, _) = running_worker(SessionParams::default());
    let t0 = Instant::now();
    let node = layout().entry(Dir::Progress, "s-0000000002");
    // The first report creates the node (ephemeral), with the chunk and the counters.
    let ops = progress(&mut s, t0, id, 1000);
    let [(req, ZkOp::Create { path, data, mode })] = &ops[..] else {
        panic!("one create: {ops:?}")
    };
    assert_eq!((path, *mode), (&node, CreateMode::Ephemeral));
    let record = LiveRecord::decode(data).unwrap();
    assert_eq!(
        record,
        LiveRecord {
            chunk: "0000000000".into(),
            bytes: 1000,
            files: 10
        }
    );
    s.handle(
        t0,
        Input::Reply {
            id: *req,
            result: Ok(ZkReply::Created(node.clone())),
        },
    );
    // Reports within LIVE_EVERY are kept, not written.
    assert!(progress(&mut s, t0 + LIVE_EVERY / 2, id, 2000).is_empty());
    // After it, an update; its failure gives nothing up.
    let ops = progress(&mut s, t0 + LIVE_EVERY, id, 3000);
    let [(req, ZkOp::SetData { path, data })] = &ops[..] else {
        panic!("one update: {ops:?}")
    };
    assert_eq!(path, &node);
    assert_eq!(LiveRecord::decode(data).unwrap().bytes, 3000);
    s.handle(
        t0,
        Input::Reply {
            id: *req,
            result: Err(ZkError::ConnectionLoss),
        },
    );
    let out = drain(&mut s);
    assert!(
        !out.iter()
            .any(|o| matches!(o, Output::NewSession | Output::Kill { .. })),
        "{out:?}"
    );
    // Another job's report counts for nothing.
    assert!(progress(&mut s, t0 + LIVE_EVERY * 3, JobId(id.0 + 7), 9).is_empty());
    // The job ends: the node says idle.
    s.handle(t0 + LIVE_EVERY * 3, rsync_ok(id));
    let idle = zk_ops(&drain(&mut s))
        .into_iter()
        .find_map(|(_, op)| match op {
            ZkOp::SetData { path, data } if path == node => {
                Some(LiveRecord::decode(&data).unwrap())
            }
            _ => None,
        });
    assert_eq!(idle, Some(LiveRecord::default()));
}
