//! What one seed simulates: sizes, session parameters and fault rates, all derived from the
//! seed so that a seed alone reproduces a run.

use std::fmt;
use std::time::Duration;

use madsim::rand::Rng;

/// The configuration of one simulated run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// The seed everything comes from.
    pub seed: u64,
    /// Source workers (one more source runs: the first master).
    pub workers: usize,
    /// Destinations.
    pub dests: usize,
    /// Directories in the source tree.
    pub dirs: usize,
    /// `--depth`.
    pub depth: u32,
    /// `--delete`.
    pub delete: bool,
    /// `--dry-run`.
    pub dry_run: bool,
    /// The destination starts with an older copy (so `--delete` has work).
    pub prefilled: bool,
    /// `--attempts`.
    pub attempts: u32,
    /// `--chunk-entries`.
    pub chunk_entries: u64,
    /// ZooKeeper session timeout.
    pub session_timeout: Duration,
    /// One-way network latency between a client and ZooKeeper, per client at most.
    pub max_latency: Duration,
    /// How long faults are injected before the liveness phase.
    pub safety: Duration,
    /// Whether faults are injected at all.
    pub faults: bool,
    /// Mean time between faults.
    pub fault_every: Duration,
    /// rsync runs that fail (per mille) during the safety phase.
    pub rsync_fail_permille: u64,
    /// Every client is killed once and started again (a full crash and resume).
    pub full_crash: bool,
    /// The master is killed as it starts publishing the plan.
    pub crash_master_publishing: bool,
    /// The master is killed as it starts cleaning up.
    pub crash_master_cleaning: bool,
}

impl SimConfig {
    /// The configuration for `seed`, drawn from `rng` (the simulation's seeded generator).
    pub fn derive(seed: u64, rng: &mut impl Rng) -> SimConfig {
        let dirs = match rng.gen_range(0..100) {
            0..=49 => rng.gen_range(10..100),
            50..=84 => rng.gen_range(100..500),
            _ => rng.gen_range(500..=2000),
        };
        let faults = rng.gen_range(0..10) != 0;
        SimConfig {
            seed,
            workers: rng.gen_range(1..=8),
            dests: rng.gen_range(1..=4),
            dirs,
            depth: rng.gen_range(1..=4),
            delete: rng.gen_bool(0.6),
            dry_run: rng.gen_range(0..10) == 0,
            prefilled: rng.gen_bool(0.5),
            attempts: rng.gen_range(2..=4),
            chunk_entries: [8, 32, 128, 1024, 4096][rng.gen_range(0..5)],
            session_timeout: Duration::from_secs(rng.gen_range(2..=10)),
            max_latency: Duration::from_micros(rng.gen_range(100..=3000)),
            safety: Duration::from_secs(rng.gen_range(5..=60)),
            faults,
            fault_every: Duration::from_millis(rng.gen_range(300..=5000)),
            rsync_fail_permille: if faults { rng.gen_range(0..=100) } else { 0 },
            full_crash: faults && rng.gen_range(0..5) == 0,
            crash_master_publishing: faults && rng.gen_range(0..6) == 0,
            crash_master_cleaning: faults && rng.gen_range(0..6) == 0,
        }
    }
}

impl fmt::Display for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {}: {} workers, {} dests, {} dirs, depth {}, delete {}, dry-run {}, prefilled {}, attempts {}, chunk-entries {}, session timeout {:?}, max latency {:?}, safety {:?}, faults {} (every {:?}, rsync failures {}‰, full crash {}, master crash publishing {} / cleaning {})",
            self.seed,
            self.workers,
            self.dests,
            self.dirs,
            self.depth,
            self.delete,
            self.dry_run,
            self.prefilled,
            self.attempts,
            self.chunk_entries,
            self.session_timeout,
            self.max_latency,
            self.safety,
            self.faults,
            self.fault_every,
            self.rsync_fail_permille,
            self.full_crash,
            self.crash_master_publishing,
            self.crash_master_cleaning,
        )
    }
}
