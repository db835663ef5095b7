//! Helpers of the worker tests (`protocol.rs`, `worker_budget.rs`): a source machine, its
//! outputs, and a small session answered by hand: one chunk, one destination, another
//! source is the master.

use std::time::{Duration, Instant};

use zkrsync_core::plan::Chunk;
use zkrsync_core::protocol::layout::Dir;
use zkrsync_core::protocol::records::{DestRecord, PlanRecord};
use zkrsync_core::protocol::*;
use zkrsync_core::unit::RelPath;

pub fn layout() -> Layout {
    Layout::new("/zkrsync", "s1").unwrap()
}

pub fn source(params: SessionParams) -> Source {
    Source::new(SourceConfig {
        layout: layout(),
        params,
        client_id: "h-1".into(),
        session_timeout: Duration::from_secs(9),
        progress_every: Duration::from_secs(10),
        leave_timeout: Duration::from_secs(10),
        min_chunk_weight: zkrsync_core::protocol::source::MIN_CHUNK_WEIGHT,
        open_acls: false,
        run: Some("run-1".into()),
        retry_failed: false,
        keep: Duration::from_secs(86400),
    })
}

pub fn drain(m: &mut impl Machine) -> Vec<Output> {
    std::iter::from_fn(|| m.poll_output()).collect()
}

pub fn zk_ops(outputs: &[Output]) -> Vec<(ReqId, ZkOp)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Zk { id, op } => Some((*id, op.clone())),
            _ => None,
        })
        .collect()
}

/// Answers every pending request with `answer`, once, and returns what came out.
pub fn answer(
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

pub fn path_of(op: &ZkOp) -> &str {
    op.path()
}

/// The path a create of the setup creates (plain, or guarded by the outcome).
pub fn created_path(op: &ZkOp) -> &str {
    match op {
        ZkOp::Multi(ops) if is_guarded(ops) => match ops.last() {
            Some(MultiOp::Create { path, .. }) => path,
            _ => op.path(),
        },
        _ => op.path(),
    }
}

pub fn chunk_bytes() -> Vec<u8> {
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
pub fn world(op: &ZkOp, params: &SessionParams) -> Result<ZkReply, ZkError> {
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
                entries: 0,
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
        // The session exists: every create of the setup finds its znode there.
        ZkOp::Multi(ops) if is_guarded(ops) => Err(ZkError::MultiFailed {
            index: 2,
            error: Box::new(ZkError::NodeExists),
        }),
        ZkOp::Multi(_) => Ok(ZkReply::Done),
        _ => Err(ZkError::NoNode),
    }
}

/// Whether a multi is a create of the setup, guarded by the session's outcome (it creates
/// and deletes `outcome` first).
pub fn is_guarded(ops: &[MultiOp]) -> bool {
    matches!(ops.first(), Some(MultiOp::Create { path, .. }) if *path == layout().outcome())
}

/// Feeds `answer_op`'s replies to `m` for as long as it asks (at most `rounds` rounds of
/// requests); every output.
pub fn answer_all(
    m: &mut impl Machine,
    now: Instant,
    first: Vec<Output>,
    rounds: usize,
    answer_op: &dyn Fn(&ZkOp) -> Result<ZkReply, ZkError>,
) -> Vec<Output> {
    let mut out = first;
    let mut all = out.clone();
    for _ in 0..rounds {
        let ops = zk_ops(&out);
        if ops.is_empty() {
            break;
        }
        out = answer(m, now, ops, answer_op);
        all.extend(out.iter().cloned());
    }
    all
}

/// Runs a worker until it has spawned rsync; returns the worker and the job id.
pub fn running_worker(params: SessionParams) -> (Source, JobId, Vec<Output>) {
    running_worker_granted(params, Duration::from_secs(9))
}

/// The same, with the server granting `granted` as the session timeout.
pub fn running_worker_granted(
    params: SessionParams,
    granted: Duration,
) -> (Source, JobId, Vec<Output>) {
    run_worker(&params, granted, &|op| world(op, &params))
}

/// Runs a worker against `answer_op` until it has spawned rsync; returns it, the job id and
/// every output.
pub fn run_worker(
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
    let first = drain(&mut s);
    let all = answer_all(&mut s, now, first, 12, answer_op);
    let id = all
        .iter()
        .find_map(|o| match o {
            Output::Spawn { id, .. } => Some(*id),
            _ => None,
        })
        .expect("the worker spawns rsync");
    (s, id, all)
}

/// rsync job `id` ended with exit 0 and empty stats.
pub fn rsync_ok(id: JobId) -> Input {
    Input::RsyncDone {
        id,
        outcome: RsyncOutcome::Exited {
            code: Some(0),
            stats: Default::default(),
            stderr_tail: String::new(),
            deletions_skipped: 0,
            items: Default::default(),
        },
    }
}
