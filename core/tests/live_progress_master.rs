//! The master counts the workers' live progress of the chunks still running in its
//! progress reports: read at one report, counted at the next.

mod harness;

use harness::master::*;
use zkrsync_core::protocol::records::LiveRecord;

fn live(chunk: &str, bytes: u64) -> Vec<u8> {
    LiveRecord {
        chunk: chunk.into(),
        bytes,
        files: bytes / 1000,
    }
    .encode()
}

#[test]
fn the_masters_progress_counts_the_live_bytes_of_running_chunks_only() {
    let mut h = start(ready_session(), 1);
    let worker = worker_joins(&mut h, ms(500));
    let me = worker.rsplit('/').next().unwrap().to_owned();
    worker_claims(&mut h, ms(600), "0000000001");
    worker_done(&mut h, ms(700), "0000000001", 3);
    worker_claims(&mut h, ms(800), "0000000000");
    let node = |n: &str| layout().entry(Dir::Progress, n);
    h.zk.create(
        &node(&me),
        &live("0000000000", 50_000),
        CreateMode::Ephemeral,
    );
    // Another worker's record of a chunk that is done by now counts for nothing.
    h.zk.create(
        &node("s-0000000009"),
        &live("0000000001", 7_000),
        CreateMode::Ephemeral,
    );
    h.fire_until(Timer::Progress);
    h.fire_until(Timer::Progress);
    let reports: Vec<Progress> = h
        .outputs
        .iter()
        .filter_map(|o| match o {
            Output::Progress(p) => Some(p.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(reports.len(), 2, "{reports:?}");
    assert_eq!(
        (reports[0].live_bytes, reports[0].live_files),
        (0, 0),
        "not read yet"
    );
    assert_eq!((reports[1].live_bytes, reports[1].live_files), (50_000, 50));
}
