//! rsync processes of the simulated workers: started, killed, ended, with durations that
//! grow with the work and the exit codes rsync gives (5 and 10 when the destination is not
//! there, 12 when it dies mid-transfer, 23 and 24), carried out by the rsync model.

use std::time::Duration;

use madsim::rand::Rng;
use zkrsync_core::protocol::rsync_job::RsyncJob;
use zkrsync_core::protocol::run_counts;
use zkrsync_core::protocol::source_tree::{self, Refusal};
use zkrsync_core::protocol::{Input, JobId, RsyncOutcome};
use zkrsync_core::rsync_stats::RsyncStats;

use super::client::RunningJob;
use super::{Event, Kind, World};
use crate::fs_model::Tree;
use crate::invariants::{cleanup, delete_safety, one_owner, Check};
use crate::rsync_model;

impl World {
    /// The destination client that `job` goes to, if it runs and its tree is there.
    fn dest_of(&self, job: &RsyncJob) -> Option<usize> {
        self.clients
            .iter()
            .position(|d| d.kind == Kind::Dest && d.alive() && d.dest_id == job.dest)
    }

    pub(super) fn spawn_rsync(&mut self, c: usize, id: JobId, job: RsyncJob) -> Check {
        let inc = self.clients[c].incarnation;
        let name = self.clients[c].name.clone();
        // The real driver's check, from the core: a source tree that is missing, or empty
        // although the plan says it was not, runs no rsync.
        let root = std::path::Path::new(super::SRC_ROOT);
        let dirs = job.guards.dirs.iter().map(|d| d.as_bytes());
        let mounts = self.mounts_of(c);
        let view = if self.clients[c].tree_present {
            self.src.view_for(root, dirs, &mounts)
        } else {
            Tree::new().view_for(root, dirs, &[])
        };
        let refused = match source_tree::refuse_source(&view, root, &job.guards) {
            Some(Refusal::Tree(reason)) => Some(RsyncOutcome::SourceMissing(reason)),
            Some(Refusal::Unit(reason)) => Some(RsyncOutcome::UnitChanged(reason)),
            Some(Refusal::Deletes(reason)) => Some(RsyncOutcome::DeleteRefused(reason)),
            None => None,
        };
        if let Some(outcome) = refused {
            let input = Input::RsyncDone { id, outcome };
            self.schedule(Duration::from_micros(200), Event::Local { c, inc, input });
            return Ok(());
        }
        let job = expand_buckets(job, &self.src);
        delete_safety::check_spawn(
            &name,
            &job.chunk,
            self.clients[c].tree_present || !job.guards.root_nonempty,
        )?;
        delete_safety::check_sub_mounts(&name, &job, &self.clients[c].unmounted)?;
        let others: Vec<String> = self
            .clients
            .iter()
            .filter(|o| o.live_chunks().contains(&job.chunk))
            .map(|o| o.name.clone())
            .collect();
        one_owner::check_spawn(&name, &job.chunk, &others)?;
        cleanup::check_resume(&job.chunk, self.done_before_crash.contains(&job.chunk))?;
        self.report.rsyncs += 1;
        let reachable = self.dest_of(&job);
        let (took, forced) = match reachable {
            None => (Duration::from_millis(2), Some(10)),
            Some(d) if !self.clients[d].tree_present => (Duration::from_millis(3), Some(5)),
            Some(_) if self.cfg.scale.is_some() => {
                let median = self.cfg.scale.map_or(Duration::ZERO, |m| m.unit_median);
                (self.realistic_duration(&job, median), None)
            }
            Some(_) => {
                let base = Duration::from_millis(self.rng.gen_range(20..500));
                let per_unit = Duration::from_micros(self.rng.gen_range(1_000..60_000));
                let mut took = base + per_unit * job.units as u32;
                if self.liveness_since.is_none() && self.rng.gen_range(0..20) == 0 {
                    took *= 20; // a slow one
                }
                (took, None)
            }
        };
        self.note(format!(
            "{name}: rsync {} of chunk {} ({} units) to {} for {took:?}",
            id.0, job.chunk, job.units, job.dest
        ));
        let units = job.units as u64;
        let source_mounted = self.clients[c].tree_present;
        let pinned = self.cfg.pin_mounts && !job.guards.mounts.is_empty();
        let unmounted_seen = self.clients[c].unmounted.clone();
        self.clients[c].jobs.insert(
            id,
            RunningJob {
                job,
                killed: false,
                forced_code: forced,
                source_mounted,
                pinned,
                unmounted_seen,
            },
        );
        if let Some(m) = self.mount_to_lose(c, id) {
            // The source changes between the check and the run: one of the run's sub-mounts
            // goes away while it runs.
            let at = took.mul_f64(self.rng.gen_range(0.0..1.0));
            self.schedule(at, Event::Unmount { c, mount: m });
        }
        // rsync's running counters, as the driver reports them (live progress): a third and
        // two thirds of the way.
        for k in 1..=2u64 {
            let input = Input::RsyncProgress {
                id,
                bytes: k * 1000 * units,
                files: k * units,
            };
            self.schedule(took.mul_f64(k as f64 / 3.0), Event::Local { c, inc, input });
        }
        self.schedule(took, Event::RsyncEnd { c, inc, id });
        Ok(())
    }

    /// Now and then, in the safety phase, a sub-mount in the reach of run `id`.
    fn mount_to_lose(&mut self, c: usize, id: JobId) -> Option<Vec<u8>> {
        let mounts = &self.clients[c].jobs.get(&id)?.job.guards.mounts;
        if mounts.is_empty() || !self.cfg.faults || self.liveness_since.is_some() {
            return None;
        }
        let m = mounts[self.rng.gen_range(0..mounts.len())]
            .as_bytes()
            .to_vec();
        (self.rng.gen_range(0..4) == 0).then_some(m)
    }

    /// How long the job's rsync takes in the scaling experiment: a connection, then for each
    /// recursive unit a log-normal draw (median `median`, sigma 1: a few subtrees take ten
    /// times the median), a directory listing for each other unit.
    fn realistic_duration(&mut self, job: &RsyncJob, median: Duration) -> Duration {
        let mut total = Duration::from_millis(300);
        for inv in &job.invocations {
            let recursive = inv.args.iter().any(|a| a == "-r");
            let units = inv.files_from.iter().filter(|&&b| b == 0).count();
            for _ in 0..units {
                if recursive {
                    // Box-Muller: a standard normal from two uniform draws.
                    let u1: f64 = self.rng.gen_range(f64::EPSILON..1.0);
                    let u2: f64 = self.rng.gen_range(0.0..1.0);
                    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                    total += median.mul_f64(z.exp());
                } else {
                    total += Duration::from_millis(20);
                }
            }
        }
        total
    }

    /// Applies part of a job that was stopped midway.
    fn apply_part(&mut self, job: &RsyncJob) -> Check {
        let entries: usize = job
            .invocations
            .iter()
            .map(|i| i.files_from.iter().filter(|&&b| b == 0).count())
            .sum();
        let part = self.rng.gen_range(0..=entries);
        let t = rsync_model::run(job, &self.src, &mut self.dst, part);
        self.count_deleted(&job.chunk, &t)
    }

    /// Checks what a transfer deleted, and that the session stays within its budget.
    fn count_deleted(&mut self, chunk: &str, t: &rsync_model::Transfer) -> Check {
        delete_safety::check_deleted(chunk, &t.deleted, &self.src)?;
        self.report.deleted += t.deleted.len() as u64;
        delete_safety::check_budget(self.report.deleted, self.params().delete_budget())
    }

    pub(super) fn kill_rsync(&mut self, c: usize, id: JobId) {
        let Some(j) = self.clients[c].jobs.get_mut(&id) else {
            return;
        };
        if j.killed {
            return;
        }
        j.killed = true;
        let job = j.job.clone();
        let name = self.clients[c].name.clone();
        self.note(format!(
            "{name}: rsync {} of chunk {} killed",
            id.0, job.chunk
        ));
        // A violation found here is found again at the end; keep the kill itself simple.
        let _ = self.apply_part(&job);
        let inc = self.clients[c].incarnation;
        self.schedule(Duration::from_micros(500), Event::RsyncEnd { c, inc, id });
    }

    pub(super) fn on_rsync_end(&mut self, c: usize, inc: u32, id: JobId) -> Check {
        if self.clients[c].incarnation != inc {
            return Ok(());
        }
        let Some(j) = self.clients[c].jobs.remove(&id) else {
            return Ok(());
        };
        let outcome = if j.killed {
            RsyncOutcome::Exited {
                code: None,
                stats: RsyncStats::default(),
                stderr_tail: "rsync: killed by signal 9".into(),
                deletions_skipped: 0,
                items: Default::default(),
            }
        } else if let Some(code) = j.forced_code {
            if code == 12 {
                self.apply_part(&j.job)?;
            }
            exited(
                code,
                &j.job,
                &Default::default(),
                "rsync error: the destination went away",
            )
        } else if self.liveness_since.is_none()
            && self.rng.gen_range(0..1000) < self.cfg.rsync_fail_permille
        {
            self.apply_part(&j.job)?;
            let code = [12, 23, 30][self.rng.gen_range(0..3)];
            exited(
                code,
                &j.job,
                &Default::default(),
                "rsync error: injected failure",
            )
        } else {
            // What rsync reads: the tree as it was when it started, without what it saw of
            // unmounted sub-mounts (an unmounted one lists as empty).
            let view = match (j.source_mounted, j.unmounted_seen.is_empty()) {
                (false, _) => std::borrow::Cow::Owned(crate::fs_model::Tree::new()),
                (true, true) => std::borrow::Cow::Borrowed(&self.src),
                (true, false) => std::borrow::Cow::Owned(self.src.with_emptied(&j.unmounted_seen)),
            };
            self.partial_views |= !matches!(view, std::borrow::Cow::Borrowed(_));
            let t = rsync_model::run(&j.job, &view, &mut self.dst, usize::MAX);
            self.count_deleted(&j.job.chunk, &t)?;
            let mut code = t.code;
            if code == 0 && self.liveness_since.is_none() && self.rng.gen_range(0..50) == 0 {
                code = 24; // some files vanished meanwhile
            }
            exited(code, &j.job, &t, "")
        };
        let name = self.clients[c].name.clone();
        self.note(format!(
            "{name}: rsync {} of chunk {} ended: {outcome:?}",
            id.0, j.job.chunk
        ));
        self.feed(c, Input::RsyncDone { id, outcome })
    }

    /// Destination `dest_id` died: transfers to it break.
    pub(super) fn dest_gone(&mut self, dest_id: &str) {
        for c in 0..self.clients.len() {
            let ids: Vec<JobId> = self.clients[c]
                .jobs
                .iter()
                .filter(|(_, j)| !j.killed && j.job.dest == dest_id && j.forced_code.is_none())
                .map(|(id, _)| *id)
                .collect();
            let inc = self.clients[c].incarnation;
            for id in ids {
                if let Some(j) = self.clients[c].jobs.get_mut(&id) {
                    j.forced_code = Some(12);
                }
                self.schedule(Duration::from_millis(1), Event::RsyncEnd { c, inc, id });
            }
        }
    }
}

/// `job` with the entries of its buckets in its file lists, as the real driver lists them
/// when the run starts (`launcher/src/agent/rsync_run.rs`).
fn expand_buckets(mut job: RsyncJob, src: &Tree) -> RsyncJob {
    for inv in &mut job.invocations {
        // The buckets stay named: the run's counts are the buckets' entries
        // ([`run_counts`]).
        for bucket in inv.buckets.clone() {
            let dir = bucket.dir.as_bytes();
            let names: Vec<Vec<u8>> = src
                .children(dir)
                .into_iter()
                .map(|(p, _)| p[p.len() - crate::fs_model::name_len(&p)..].to_vec())
                .collect();
            let entries = bucket.entries(names.iter().map(Vec::as_slice));
            inv.files_from.extend(entries);
        }
    }
    job
}

/// How `job`'s transfer `t` ended, its stats counted by the core from what its
/// invocations printed, as the real driver counts real rsync's.
fn exited(code: i32, job: &RsyncJob, t: &rsync_model::Transfer, stderr: &str) -> RsyncOutcome {
    let stats: RsyncStats = job
        .invocations
        .iter()
        .zip(&t.outputs)
        .filter_map(|(inv, output)| run_counts::run_stats(inv, output))
        .sum();
    RsyncOutcome::Exited {
        code: Some(code),
        stats,
        stderr_tail: stderr.to_owned(),
        deletions_skipped: t.skipped,
        items: Default::default(),
    }
}
