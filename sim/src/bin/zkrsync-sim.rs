//! Runs simulation seeds from the command line: `zkrsync-sim --start S --seeds N`, or one
//! seed with its trace: `zkrsync-sim --seed S`. Built with `--config .cargo/sim.toml`.

#![deny(missing_docs)]

#[cfg(madsim)]
fn main() {
    use zkrsync_sim::harness::{run_seed, run_seeds};
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| -> Option<u64> {
        let at = args.iter().position(|a| a == name)?;
        let v = args.get(at + 1).unwrap_or_else(|| {
            eprintln!("zkrsync-sim: {name} needs a number");
            std::process::exit(2)
        });
        Some(v.parse().unwrap_or_else(|_| {
            eprintln!("zkrsync-sim: {name} {v}: give a number");
            std::process::exit(2)
        }))
    };
    if args.iter().any(|a| a == "--scale") {
        return scale(value("--max-workers").unwrap_or(256));
    }
    if let Some(seed) = value("--seed") {
        match run_seed(seed) {
            Ok((config, report)) => {
                println!("seed {seed} passed: {config}");
                println!("{report:?}");
            }
            Err(f) => {
                eprintln!("{f}");
                std::process::exit(1);
            }
        }
        return;
    }
    let start = value("--start").unwrap_or(1);
    let count = value("--seeds").unwrap_or(1000);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let started = std::time::Instant::now();
    let batch = run_seeds(start, count, threads);
    for f in &batch.failures {
        eprintln!("{f}");
    }
    println!(
        "{} seeds from {start} in {:.1} s: {} failed; {} rsyncs, {} ZooKeeper operations, {} faults",
        batch.seeds,
        started.elapsed().as_secs_f64(),
        batch.failures.len(),
        batch.total.rsyncs,
        batch.total.zk_ops,
        batch.total.faults
    );
    if !batch.failures.is_empty() {
        std::process::exit(1);
    }
}

/// The scaling experiment: one session over a 103,823-directory tree with 1, 2, 4 …
/// workers (and as many destinations), against a ZooKeeper that serves one request at a
/// time at the speeds measured in docs/pitfalls.md.
#[cfg(madsim)]
fn scale(max_workers: u64) {
    use zkrsync_sim::config::SimConfig;
    use zkrsync_sim::harness::run_config;
    println!("| workers | session time | speedup | chunks | rsyncs | ZooKeeper ops | ops per chunk | ZooKeeper busy | longest wait for ZooKeeper |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut base = None;
    let mut workers = 1;
    while workers <= max_workers {
        match run_config(SimConfig::scaling(7, workers as usize)) {
            Ok((_, r)) => {
                let t = r.session_time.as_secs_f64();
                let base = *base.get_or_insert(t);
                println!(
                    "| {workers} | {t:.0} s | {:.1}× | {} | {} | {} | {:.0} | {:.1}% | {:.1} ms |",
                    base / t,
                    r.chunks,
                    r.rsyncs,
                    r.zk_ops,
                    r.zk_ops as f64 / r.chunks.max(1) as f64,
                    100.0 * r.zk_busy.as_secs_f64() / t,
                    r.zk_max_wait.as_secs_f64() * 1000.0,
                );
            }
            Err(f) => {
                eprintln!("{f}");
                std::process::exit(1);
            }
        }
        workers *= 2;
    }
}

#[cfg(not(madsim))]
fn main() {
    eprintln!("zkrsync-sim: built without --cfg madsim; run it with scripts/sim");
    std::process::exit(2);
}
