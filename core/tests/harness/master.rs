//! What the master scenarios share: the session they run in, the source under test, the
//! inputs other clients would cause, and the checks of what came out.

#![allow(dead_code, unused_imports)]

pub use std::time::Duration;

pub use super::{check_golden, FakeZk, Harness};
pub use zkrsync_core::plan::Chunk;
pub use zkrsync_core::protocol::layout::{chunk_name, Dir};
pub use zkrsync_core::protocol::records::{
    DaemonAuth, DestRecord, DoneRecord, FailedRecord, OutcomeRecord, PlanRecord, Secret,
    StopRecord, SummaryRecord,
};
pub use zkrsync_core::protocol::*;
pub use zkrsync_core::rsync_stats::RsyncStats;
pub use zkrsync_core::unit::{RelPath, Unit};

pub const ROOT: &str = "/zkrsync/s1";
/// The destination's daemon password: it must never show in a transcript.
pub const SECRET: &str = "s3cr3t-never-printed";

pub fn layout() -> Layout {
    Layout::new("/zkrsync", "s1").unwrap()
}

pub fn source(min_chunk_weight: u64) -> Source {
    source_keeping(min_chunk_weight, KEEP)
}

/// How long the tests' sessions keep their outcome (`--keep`).
pub const KEEP: Duration = Duration::from_secs(86400);

/// A source whose session keeps its outcome for `keep` after it finished.
pub fn source_keeping(min_chunk_weight: u64, keep: Duration) -> Source {
    Source::new(SourceConfig {
        keep,
        ..source_cfg(min_chunk_weight)
    })
}

/// The configuration of the tests' sources (of run `run-1`).
pub fn source_cfg(min_chunk_weight: u64) -> SourceConfig {
    SourceConfig {
        layout: layout(),
        params: SessionParams::default(),
        client_id: "h-1".into(),
        session_timeout: Duration::from_secs(9),
        progress_every: Duration::from_secs(10),
        leave_timeout: Duration::from_secs(30),
        min_chunk_weight,
        open_acls: false,
        run: Some("run-1".into()),
        retry_failed: false,
        keep: KEEP,
    }
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn unit(path: &str, recursive: bool, weight: u64) -> Unit {
    Unit {
        path: if path == "." {
            RelPath::root()
        } else {
            RelPath::from_bytes(path.as_bytes()).unwrap()
        },
        recursive,
        listing_failed: false,
        weight,
        excluded: vec![],
        mounts: vec![],
        part: Default::default(),
    }
}

pub fn chunk(units: Vec<Unit>) -> Chunk {
    Chunk { units }
}

pub fn walked(units: Vec<Unit>, errors: u64) -> Input {
    Input::Walked(Ok(Walked {
        root_nonempty: !units.is_empty(),
        top_dirs: vec![],
        dirs_read: units.len() as u64 + 3,
        errors,
        units,
    }))
}

/// Twenty units of every kind: own entries, recursive, with an excluded subdirectory, one
/// whose listing failed.
pub fn twenty_units() -> Vec<Unit> {
    let mut units = vec![
        unit(".", false, 4),
        unit("a", false, 3),
        unit("a/big", true, 40),
    ];
    let mut c = unit("c", false, 2);
    c.excluded = vec![b"cache".to_vec()];
    units.push(c);
    let mut locked = unit("c/locked", true, 16);
    locked.listing_failed = true;
    units.push(locked);
    for (i, name) in ["d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o"]
        .iter()
        .enumerate()
    {
        units.push(unit(name, false, 1 + i as u64 % 3));
    }
    units.push(unit("o/p", true, 12));
    units.push(unit("q", false, 1));
    units.push(unit("q/r", true, 8));
    assert_eq!(units.len(), 20);
    units
}

pub fn dest_record() -> DestRecord {
    DestRecord {
        address: "10.0.0.2".into(),
        port: 8730,
        module: "zkrsync-s1".into(),
        active: true,
        host: "dst-1".into(),
        auth: Some(DaemonAuth {
            user: "zkrsync".into(),
            secret: Secret(SECRET.into()),
        }),
        tree: None,
        extra: vec![],
    }
}

/// A session that earlier sources created: its layout, config, plan record and chunks;
/// `election_seq` earlier sources came and went.
pub fn session_zk(plan: PlanRecord, chunks: &[Chunk], election_seq: u64) -> FakeZk {
    let l = layout();
    let mut zk = FakeZk::new();
    zk.create("/zkrsync", b"", CreateMode::Persistent);
    zk.create(ROOT, b"", CreateMode::Persistent);
    for dir in Dir::ALL {
        let data = if dir == Dir::Plan {
            plan.encode()
        } else {
            Vec::new()
        };
        zk.create(&l.dir(dir), &data, CreateMode::Persistent);
    }
    zk.create(
        &l.config(),
        &SessionParams::default().encode(),
        CreateMode::Persistent,
    );
    for (i, c) in chunks.iter().enumerate() {
        zk.create(
            &l.entry(Dir::Plan, &chunk_name(i as u64)),
            &c.encode(),
            CreateMode::Persistent,
        );
    }
    zk.set_cversion(&l.election(), election_seq);
    zk
}

/// The plan of the tracking scenarios: three chunks, four units, published and ready.
pub fn ready_session() -> FakeZk {
    let chunks = [
        chunk(vec![unit("a", false, 3)]),
        chunk(vec![unit("b", false, 2), unit("b/x", false, 1)]),
        chunk(vec![unit("c", true, 20)]),
    ];
    let plan = PlanRecord {
        ready: true,
        chunks: 3,
        units: 4,
        root_nonempty: true,
        top_dirs: vec![],
        entries: 0,
    };
    let mut zk = session_zk(plan, &chunks, 3);
    zk.create(
        &layout().entry(Dir::Dests, "d1"),
        &dest_record().encode(),
        CreateMode::Ephemeral,
    );
    zk
}

/// A source connecting for the first time.
pub fn start(zk: FakeZk, min_chunk_weight: u64) -> Harness<Source> {
    start_source(zk, source(min_chunk_weight))
}

/// `source`, connecting for the first time.
pub fn start_source(zk: FakeZk, source: Source) -> Harness<Source> {
    let mut h = Harness::new(source, zk);
    h.note("a source connects with a new ZooKeeper session");
    h.feed_settle(Input::Session(SessionEvent::Connected {
        new_session: true,
        timeout: Duration::from_secs(9),
    }));
    h
}

pub fn has_log(h: &Harness<Source>, level: Level, start: &str) -> bool {
    h.has_output(
        |o| matches!(o, Output::Log { level: l, message } if *l == level && message.starts_with(start)),
    )
}

pub fn summary(h: &Harness<Source>) -> Summary {
    h.outputs
        .iter()
        .find_map(|o| match o {
            Output::Summary(s) => Some(s.clone()),
            _ => None,
        })
        .expect("the master reports a summary")
}

pub fn exit(h: &Harness<Source>) -> Exit {
    h.outputs
        .iter()
        .find_map(|o| match o {
            Output::Exit(e) => Some(e.clone()),
            _ => None,
        })
        .expect("the machine exits")
}

pub fn walks(h: &Harness<Source>) -> usize {
    h.outputs
        .iter()
        .filter(|o| matches!(o, Output::Walk))
        .count()
}

/// Chunk creates sent, by name.
pub fn chunk_creates(h: &Harness<Source>) -> Vec<String> {
    let prefix = format!("{}/", layout().plan());
    h.sent(|op| matches!(op, ZkOp::Create { path, .. } if path.starts_with(&prefix)))
        .iter()
        .map(|op| op.path()[prefix.len()..].to_owned())
        .collect()
}

/// The last plan record the master wrote.
pub fn plan_written(h: &Harness<Source>) -> PlanRecord {
    let plan = layout().plan();
    let sets = h.sent(|op| matches!(op, ZkOp::SetData { path, .. } if *path == plan));
    let Some(ZkOp::SetData { data, .. }) = sets.last() else {
        panic!("the master marks the plan")
    };
    PlanRecord::decode(data).unwrap()
}

/// The cleanup's final multi: the one that deletes the election.
pub fn is_final_multi(op: &ZkOp) -> bool {
    let election = layout().election();
    matches!(op, ZkOp::Multi(ops) if ops.iter().any(|o| matches!(o, MultiOp::Delete { path } if *path == election)))
}

/// The session's znode is left with its outcome alone, and when chunks failed, with what
/// `--retry-failed` needs (the config, the plan record and the failed chunks): what the
/// outcome says.
pub fn kept_outcome(h: &Harness<Source>) -> OutcomeRecord {
    let data = h.zk.data(&layout().outcome()).expect("an outcome");
    let outcome = OutcomeRecord::decode(data).unwrap();
    let failed: Vec<String> = outcome
        .summary
        .failed
        .iter()
        .map(|(c, _)| c.clone())
        .collect();
    if failed.is_empty() {
        assert_eq!(h.zk.children(ROOT), ["outcome"], "only the outcome is left");
    } else {
        assert_eq!(
            h.zk.children(ROOT),
            ["config", "outcome", "plan"],
            "the outcome and what a retry needs"
        );
        assert_eq!(
            h.zk.children(&layout().plan()),
            failed,
            "the failed chunks are kept"
        );
    }
    outcome
}

pub fn finish(name: &str, h: &Harness<Source>) {
    let text = h.transcript.text();
    assert!(!text.contains(SECRET), "a daemon secret in the transcript");
    assert!(!text.contains("Instant"), "an Instant in the transcript");
    check_golden(name, text);
}

// ------------------------------------------------------------------------ other clients

pub fn worker_joins(h: &mut Harness<Source>, at: Duration) -> String {
    h.at(at);
    let path = h.zk.create(
        &format!("{ROOT}/election/s-"),
        b"h-2",
        CreateMode::EphemeralSequential,
    );
    h.note(&format!("a worker joins: {path}"));
    h.settle();
    path
}

pub fn worker_claims(h: &mut Harness<Source>, at: Duration, chunk: &str) {
    let l = layout();
    h.at(at);
    h.note(&format!("the worker claims chunk {chunk} and slot d1"));
    h.zk.create(&l.entry(Dir::Claims, chunk), b"h-2", CreateMode::Ephemeral);
    h.zk.create(
        &l.entry(Dir::Slots, "d1"),
        chunk.as_bytes(),
        CreateMode::Ephemeral,
    );
    h.settle();
}

pub fn worker_done(h: &mut Harness<Source>, at: Duration, chunk: &str, files: u64) {
    let l = layout();
    h.at(at);
    h.note(&format!("the worker records chunk {chunk} done"));
    h.zk.delete(&l.entry(Dir::Claims, chunk));
    h.zk.delete(&l.entry(Dir::Slots, "d1"));
    let record = DoneRecord {
        worker: "h-2".into(),
        dest: "d1".into(),
        stats: RsyncStats {
            files,
            regular_files_transferred: files - 1,
            total_file_size: files * 1000,
            bytes_sent: files * 1100,
            ..Default::default()
        },
        code: 0,
        items: Default::default(),
    };
    h.zk.create(
        &l.entry(Dir::Done, chunk),
        &record.encode(),
        CreateMode::Persistent,
    );
    h.settle();
}

pub fn failed_record() -> FailedRecord {
    FailedRecord {
        worker: "h-2".into(),
        dest: "d1".into(),
        code: Some(23),
        error: "rsync exited with 23: some files could not be transferred".into(),
        paths: vec![b"b".to_vec(), b"b/x".to_vec()],
    }
}

pub fn worker_tries(h: &mut Harness<Source>, at: Duration, chunk: &str) {
    let l = layout();
    h.at(at);
    h.note(&format!(
        "the worker records a failed attempt of chunk {chunk}"
    ));
    h.zk.delete(&l.entry(Dir::Claims, chunk));
    h.zk.delete(&l.entry(Dir::Slots, "d1"));
    h.zk.create(
        &l.entry(Dir::Tries, &format!("{chunk}~d1~")),
        &failed_record().encode(),
        CreateMode::PersistentSequential,
    );
    h.settle();
}

pub fn worker_fails(h: &mut Harness<Source>, at: Duration, chunk: &str) {
    let l = layout();
    h.at(at);
    h.note(&format!("the worker records chunk {chunk} failed for good"));
    h.zk.delete(&l.entry(Dir::Claims, chunk));
    h.zk.delete(&l.entry(Dir::Slots, "d1"));
    h.zk.create(
        &l.entry(Dir::Failed, chunk),
        &failed_record().encode(),
        CreateMode::Persistent,
    );
    h.settle();
}

/// A master resumes the ready plan; one worker does chunk 0, fails chunk 1, does chunk 2;
/// the master stops the session. The worker and the destination are still there.
pub fn tracked_to_stop() -> Harness<Source> {
    tracked_to_stop_keeping(KEEP)
}

/// [`tracked_to_stop`], with a master that keeps the outcome for `keep`.
pub fn tracked_to_stop_keeping(keep: Duration) -> Harness<Source> {
    let mut h = start_source(ready_session(), source_keeping(1, keep));
    assert!(h.m.is_master(), "our election node is the lowest");
    let worker = worker_joins(&mut h, ms(500));
    assert_eq!(worker, format!("{ROOT}/election/s-0000000004"));
    worker_claims(&mut h, ms(600), "0000000000");
    worker_done(&mut h, ms(1000), "0000000000", 10);
    worker_claims(&mut h, ms(1200), "0000000001");
    worker_tries(&mut h, ms(1500), "0000000001");
    worker_claims(&mut h, ms(1600), "0000000001");
    worker_fails(&mut h, ms(2000), "0000000001");
    assert!(
        !h.zk.exists(&layout().stop()),
        "not before every chunk is done or failed"
    );
    worker_claims(&mut h, ms(2200), "0000000002");
    worker_done(&mut h, ms(3000), "0000000002", 5);
    h
}

pub fn assert_stopped(h: &Harness<Source>) {
    let stop = layout().stop();
    let creates = h.sent(|op| matches!(op, ZkOp::Create { path, .. } if *path == stop));
    let [ZkOp::Create { data, .. }] = &creates[..] else {
        panic!("one stop create: {creates:?}")
    };
    assert_eq!(StopRecord::decode(data), StopRecord::Done);
    assert!(h.zk.exists(&stop));
    assert_eq!(
        h.timer(Timer::LeaveDeadline)
            .map(|at| at.duration_since(h.t0())),
        Some(ms(33000)),
        "the leave deadline is the leave timeout after the stop"
    );
    let election = layout().election();
    assert!(
        !h.sent(|op| matches!(op, ZkOp::GetChildren { path, watch: true } if *path == election))
            .is_empty(),
        "the master follows the election while it waits"
    );
}

pub fn workers_leave(h: &mut Harness<Source>) {
    h.at(ms(4000));
    h.note("the worker leaves (its ephemeral election node goes)");
    h.zk.delete(&format!("{ROOT}/election/s-0000000004"));
    h.settle();
    assert!(
        !h.has_output(|o| matches!(o, Output::Summary(_))),
        "the destination is still there"
    );
    h.at(ms(4500));
    h.note("the destination leaves");
    h.zk.delete(&layout().entry(Dir::Dests, "d1"));
    h.settle();
}

// ------------------------------------------------------------------------ scenarios
