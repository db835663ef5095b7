//! Characterization tests of the master's phases: each scenario drives one source that
//! becomes the master against a fake ZooKeeper and compares the transcript of everything
//! it did (inputs fed, outputs out, in order) with a golden file in `tests/golden/`.
//!
//! They pin today's behaviour, not what it should be: when a change to the machine is
//! meant to change it, rerun with `UPDATE_GOLDEN=1` and review the diff of the golden files.
//! Each scenario also asserts that it reached the phase it is about, so that it cannot pass
//! by comparing an empty transcript.

mod harness;

use std::time::Duration;

use harness::{check_golden, FakeZk, Harness};
use zkrsync_core::plan::Chunk;
use zkrsync_core::protocol::layout::{chunk_name, Dir};
use zkrsync_core::protocol::records::{
    DaemonAuth, DestRecord, DoneRecord, FailedRecord, PlanRecord, Secret, StopRecord, SummaryRecord,
};
use zkrsync_core::protocol::*;
use zkrsync_core::rsync_stats::RsyncStats;
use zkrsync_core::unit::{RelPath, Unit};

const ROOT: &str = "/zkrsync/s1";
/// The destination's daemon password: it must never show in a transcript.
const SECRET: &str = "s3cr3t-never-printed";

fn layout() -> Layout {
    Layout::new("/zkrsync", "s1").unwrap()
}

fn source(min_chunk_weight: u64) -> Source {
    Source::new(SourceConfig {
        layout: layout(),
        params: SessionParams::default(),
        client_id: "h-1".into(),
        session_timeout: Duration::from_secs(9),
        progress_every: Duration::from_secs(10),
        leave_timeout: Duration::from_secs(30),
        min_chunk_weight,
        open_acls: false,
    })
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn unit(path: &str, recursive: bool, weight: u64) -> Unit {
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
    }
}

fn chunk(units: Vec<Unit>) -> Chunk {
    Chunk { units }
}

fn walked(units: Vec<Unit>, errors: u64) -> Input {
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
fn twenty_units() -> Vec<Unit> {
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

fn dest_record() -> DestRecord {
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
fn session_zk(plan: PlanRecord, chunks: &[Chunk], election_seq: u64) -> FakeZk {
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
fn ready_session() -> FakeZk {
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
fn start(zk: FakeZk, min_chunk_weight: u64) -> Harness<Source> {
    let mut h = Harness::new(source(min_chunk_weight), zk);
    h.note("a source connects with a new ZooKeeper session");
    h.feed_settle(Input::Session(SessionEvent::Connected {
        new_session: true,
        timeout: Duration::from_secs(9),
    }));
    h
}

fn has_log(h: &Harness<Source>, level: Level, start: &str) -> bool {
    h.has_output(
        |o| matches!(o, Output::Log { level: l, message } if *l == level && message.starts_with(start)),
    )
}

fn summary(h: &Harness<Source>) -> Summary {
    h.outputs
        .iter()
        .find_map(|o| match o {
            Output::Summary(s) => Some(s.clone()),
            _ => None,
        })
        .expect("the master reports a summary")
}

fn exit(h: &Harness<Source>) -> Exit {
    h.outputs
        .iter()
        .find_map(|o| match o {
            Output::Exit(e) => Some(e.clone()),
            _ => None,
        })
        .expect("the machine exits")
}

fn walks(h: &Harness<Source>) -> usize {
    h.outputs
        .iter()
        .filter(|o| matches!(o, Output::Walk))
        .count()
}

/// Chunk creates sent, by name.
fn chunk_creates(h: &Harness<Source>) -> Vec<String> {
    let prefix = format!("{}/", layout().plan());
    h.sent(|op| matches!(op, ZkOp::Create { path, .. } if path.starts_with(&prefix)))
        .iter()
        .map(|op| op.path()[prefix.len()..].to_owned())
        .collect()
}

/// The last plan record the master wrote.
fn plan_written(h: &Harness<Source>) -> PlanRecord {
    let plan = layout().plan();
    let sets = h.sent(|op| matches!(op, ZkOp::SetData { path, .. } if *path == plan));
    let Some(ZkOp::SetData { data, .. }) = sets.last() else {
        panic!("the master marks the plan")
    };
    PlanRecord::decode(data).unwrap()
}

fn is_final_multi(op: &ZkOp) -> bool {
    matches!(op, ZkOp::Multi(ops) if ops.iter().any(|o| matches!(o, MultiOp::Delete { path } if path == ROOT)))
}

fn finish(name: &str, h: &Harness<Source>) {
    let text = h.transcript.text();
    assert!(!text.contains(SECRET), "a daemon secret in the transcript");
    assert!(!text.contains("Instant"), "an Instant in the transcript");
    check_golden(name, text);
}

// ------------------------------------------------------------------------ other clients

fn worker_joins(h: &mut Harness<Source>, at: Duration) -> String {
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

fn worker_claims(h: &mut Harness<Source>, at: Duration, chunk: &str) {
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

fn worker_done(h: &mut Harness<Source>, at: Duration, chunk: &str, files: u64) {
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
    };
    h.zk.create(
        &l.entry(Dir::Done, chunk),
        &record.encode(),
        CreateMode::Persistent,
    );
    h.settle();
}

fn failed_record() -> FailedRecord {
    FailedRecord {
        worker: "h-2".into(),
        dest: "d1".into(),
        code: Some(23),
        error: "rsync exited with 23: some files could not be transferred".into(),
        paths: vec![b"b".to_vec(), b"b/x".to_vec()],
    }
}

fn worker_tries(h: &mut Harness<Source>, at: Duration, chunk: &str) {
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

fn worker_fails(h: &mut Harness<Source>, at: Duration, chunk: &str) {
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
fn tracked_to_stop() -> Harness<Source> {
    let mut h = start(ready_session(), 1);
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

fn assert_stopped(h: &Harness<Source>) {
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

fn workers_leave(h: &mut Harness<Source>) {
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
    assert!(!h.zk.exists(ROOT), "the session's znodes are gone");
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
    assert!(!h.zk.exists(ROOT));
    finish("master_clean", &h);
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
    assert!(!h.zk.exists(ROOT));
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
    assert_eq!(progress, 3, "at +10, +20 and +30 s");
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
    assert!(!h.zk.exists(ROOT));
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
    assert!(h.zk.exists(ROOT));
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
    assert!(!h.zk.exists(ROOT));
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
    assert!(!h.zk.exists(ROOT));
    finish("master_takeover_half_cleaned", &h);
}
