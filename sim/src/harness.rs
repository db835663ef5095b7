//! Runs seeds: each in its own madsim runtime (simulated time, seeded randomness), the
//! configuration derived from the seed, the world run to its end and checked.

use std::fmt;

use crate::config::SimConfig;
use crate::invariants::Violation;
use crate::world::{Report, World};

/// A seed that broke an invariant.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The seed.
    pub seed: u64,
    /// Its configuration.
    pub config: SimConfig,
    /// What broke.
    pub violation: Violation,
    /// The last events before it broke.
    pub trace: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "seed {} FAILED: {}", self.seed, self.violation)?;
        writeln!(f, "  configuration: {}", self.config)?;
        writeln!(f, "  reproduce with: {}", reproduce_command(self.seed))?;
        writeln!(f, "  last events:")?;
        for line in self.trace.lines() {
            writeln!(f, "    {line}")?;
        }
        Ok(())
    }
}

/// The command that runs one seed again, with its trace.
pub fn reproduce_command(seed: u64) -> String {
    format!("scripts/sim --seed {seed}")
}

async fn simulate(seed: u64) -> Result<(SimConfig, Report), Failure> {
    let mut rng = madsim::rand::thread_rng();
    let config = SimConfig::derive(seed, &mut rng);
    simulate_config(config, rng).await
}

async fn simulate_config(
    config: SimConfig,
    rng: madsim::rand::GlobalRng,
) -> Result<(SimConfig, Report), Failure> {
    let seed = config.seed;
    let world = World::new(config.clone(), rng);
    match world.run().await {
        Ok(report) => Ok((config, report)),
        Err((violation, trace)) => Err(Failure {
            seed,
            config,
            violation,
            trace,
        }),
    }
}

/// Runs one seed.
pub fn run_seed(seed: u64) -> Result<(SimConfig, Report), Failure> {
    let runtime = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    runtime.block_on(simulate(seed))
}

/// Runs one given configuration (the scaling experiment's).
pub fn run_config(config: SimConfig) -> Result<(SimConfig, Report), Failure> {
    let runtime =
        madsim::runtime::Runtime::with_seed_and_config(config.seed, madsim::Config::default());
    runtime.block_on(async move { simulate_config(config, madsim::rand::thread_rng()).await })
}

/// Runs one seed twice and panics if the two runs differ in any random draw or timing
/// (madsim's determinism check).
pub fn check_determinism(seed: u64) {
    madsim::runtime::Runtime::check_determinism(
        seed,
        madsim::Config::default(),
        simulate_for_check,
    );
}

async fn simulate_for_check() {
    let seed = madsim::runtime::Handle::current().seed();
    if let Err(f) = simulate(seed).await {
        panic!("{f}");
    }
}

/// What a batch of seeds gave.
#[derive(Debug, Default)]
pub struct Batch {
    /// Seeds run.
    pub seeds: u64,
    /// Their failures.
    pub failures: Vec<Failure>,
    /// Sum over the seeds that passed.
    pub total: Report,
    /// Seeds whose session ended with chunks failed for good.
    pub with_failed_chunks: u64,
}

/// Runs `count` seeds from `start`, on `threads` threads.
pub fn run_seeds(start: u64, count: u64, threads: usize) -> Batch {
    let threads = threads.max(1) as u64;
    let parts: Vec<Batch> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let mut batch = Batch::default();
                    let mut seed = start + t;
                    while seed < start + count {
                        batch.seeds += 1;
                        match run_seed(seed) {
                            Ok((_, r)) => {
                                batch.total.simulated += r.simulated;
                                batch.total.chunks += r.chunks;
                                batch.total.rsyncs += r.rsyncs;
                                batch.total.zk_ops += r.zk_ops;
                                batch.total.faults += r.faults;
                                batch.total.events += r.events;
                                batch.total.failed += r.failed;
                                if r.failed > 0 {
                                    batch.with_failed_chunks += 1;
                                }
                            }
                            Err(f) => batch.failures.push(f),
                        }
                        seed += threads;
                    }
                    batch
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a seed thread"))
            .collect()
    });
    let mut all = Batch::default();
    for p in parts {
        all.seeds += p.seeds;
        all.failures.extend(p.failures);
        all.with_failed_chunks += p.with_failed_chunks;
        all.total.simulated += p.total.simulated;
        all.total.chunks += p.total.chunks;
        all.total.rsyncs += p.total.rsyncs;
        all.total.zk_ops += p.total.zk_ops;
        all.total.faults += p.total.faults;
        all.total.events += p.total.events;
        all.total.failed += p.total.failed;
    }
    all.failures.sort_by_key(|f| f.seed);
    all
}
