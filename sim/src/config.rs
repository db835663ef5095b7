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
    /// `--max-delete`: the session's budget of deletions (with `--delete`).
    pub max_delete: Option<u64>,
    /// Files added to one directory of the source, making it flat enough to be cut into
    /// buckets when it weighs more than a chunk's share (0: none).
    pub flat_files: u64,
    /// `--chunk-entries`.
    pub chunk_entries: u64,
    /// ZooKeeper session timeout.
    pub session_timeout: Duration,
    /// Sources run a watchdog that kills a frozen agent's rsync a lease after it stopped
    /// renewing (always, but for a deliberate-mistake check).
    pub watchdog: bool,
    /// Runs with sub-mounts in their reach see a snapshot of the mounts taken when they
    /// were checked, as the real driver's `zkrsync pin` gives them (always, but for a
    /// deliberate-mistake check: `ZKRSYNC_SIM_NO_PIN=1`).
    pub pin_mounts: bool,
    /// The server's `maxSessionTimeout`: it grants at most this (a quarter of the seeds ask
    /// for more than it grants).
    pub server_max_timeout: Duration,
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
    /// The scaling experiment's world instead of the fault-finding one: a balanced tree
    /// (`dirs` is then its fanout at each of 3 levels), rsync durations drawn from a
    /// heavy-tailed distribution, and a ZooKeeper that serves one request at a time.
    pub scale: Option<ScaleModel>,
}

/// How the scaling experiment's ZooKeeper and rsync behave (see the README's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScaleModel {
    /// Server time of a write (create, delete, set): pipelined creates ran at ~20k/s on
    /// ZooKeeper 3.8 here (docs/pitfalls.md).
    pub write: Duration,
    /// Server time of each operation inside a multi (a multi of 500 creates ran at
    /// 90k-190k ops/s).
    pub multi_op: Duration,
    /// Server time of a read.
    pub read: Duration,
    /// Server time per child listed by getChildren.
    pub per_child: Duration,
    /// Median duration of the rsync of one recursive unit.
    pub unit_median: Duration,
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
            watchdog: std::env::var_os("ZKRSYNC_SIM_NO_WATCHDOG").is_none(),
            pin_mounts: std::env::var_os("ZKRSYNC_SIM_NO_PIN").is_none(),
            // From the seed, not the generator, so the rest of each seed's draws stay.
            server_max_timeout: if seed % 4 == 0 {
                Duration::from_secs(2)
            } else {
                Duration::MAX
            },
            max_latency: Duration::from_micros(rng.gen_range(100..=3000)),
            safety: Duration::from_secs(rng.gen_range(5..=60)),
            faults,
            fault_every: Duration::from_millis(rng.gen_range(300..=5000)),
            rsync_fail_permille: if faults { rng.gen_range(0..=100) } else { 0 },
            full_crash: faults && rng.gen_range(0..5) == 0,
            crash_master_publishing: faults && rng.gen_range(0..6) == 0,
            crash_master_cleaning: faults && rng.gen_range(0..6) == 0,
            scale: None,
            // Drawn last, so that every other draw of a seed stays what it was.
            max_delete: match rng.gen_range(0..3) {
                0 => Some(rng.gen_range(0..=60)),
                _ => None,
            },
            flat_files: match rng.gen_range(0..2) {
                0 => rng.gen_range(1100..2500),
                _ => 0,
            },
        }
    }

    /// The scaling experiment with `workers` workers (and as many destinations): a tree of
    /// 47^3 = 103,823 leaf directories, no faults.
    pub fn scaling(seed: u64, workers: usize) -> SimConfig {
        SimConfig {
            seed,
            workers,
            dests: workers,
            dirs: 47,
            depth: 2,
            delete: false,
            dry_run: false,
            prefilled: false,
            attempts: 3,
            chunk_entries: 4096,
            session_timeout: Duration::from_secs(20),
            server_max_timeout: Duration::MAX,
            watchdog: true,
            pin_mounts: true,
            max_latency: Duration::from_micros(250),
            safety: Duration::ZERO,
            faults: false,
            fault_every: Duration::from_secs(3600),
            rsync_fail_permille: 0,
            max_delete: None,
            flat_files: 0,
            full_crash: false,
            crash_master_publishing: false,
            crash_master_cleaning: false,
            scale: Some(ScaleModel {
                write: Duration::from_micros(50),
                multi_op: Duration::from_micros(8),
                read: Duration::from_micros(10),
                per_child: Duration::from_nanos(200),
                unit_median: Duration::from_secs(2),
            }),
        }
    }
}

impl SimConfig {
    /// The session timeout the server grants: the one asked for, clamped to its maximum.
    pub fn granted_timeout(&self) -> Duration {
        self.session_timeout.min(self.server_max_timeout)
    }
}

impl fmt::Display for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {}: {} workers, {} dests, {} dirs, depth {}, delete {}, max-delete {:?}, flat files {}, dry-run {}, prefilled {}, attempts {}, chunk-entries {}, session timeout {:?} (granted {:?}), max latency {:?}, safety {:?}, faults {} (every {:?}, rsync failures {}‰, full crash {}, master crash publishing {} / cleaning {})",
            self.seed,
            self.workers,
            self.dests,
            self.dirs,
            self.depth,
            self.delete,
            self.max_delete,
            self.flat_files,
            self.dry_run,
            self.prefilled,
            self.attempts,
            self.chunk_entries,
            self.session_timeout,
            self.granted_timeout(),
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
