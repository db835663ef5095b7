//! Faults, all drawn from the seed: session expiry (the main one), partitions shorter and
//! longer than the session timeout, crashes and restarts of any client (the master among
//! them, also while it publishes or cleans up), destinations dying mid-transfer or losing
//! their tree, sources losing theirs, and a crash of every client at once. Then the
//! liveness phase: faults stop, everything is mended, and the session must complete.

use std::time::Duration;

use madsim::rand::Rng;
use zkrsync_core::protocol::layout::Dir;
use zkrsync_core::protocol::{Input, JobId, ZkOp};

use super::{Event, Kind, World};
use crate::invariants::Check;

impl World {
    /// Time until the next fault.
    pub(super) fn fault_gap(&mut self) -> Duration {
        let mean = self.cfg.fault_every.as_millis() as u64;
        Duration::from_millis(self.rng.gen_range(mean / 4..=mean * 2))
    }

    /// A random running client, of `kind` if given.
    fn pick(&mut self, kind: Option<Kind>) -> Option<usize> {
        let alive: Vec<usize> = (0..self.clients.len())
            .filter(|&c| self.clients[c].alive() && kind.is_none_or(|k| self.clients[c].kind == k))
            .collect();
        if alive.is_empty() {
            None
        } else {
            Some(alive[self.rng.gen_range(0..alive.len())])
        }
    }

    pub(super) fn on_fault(&mut self) -> Check {
        if self.liveness_since.is_some() {
            return Ok(());
        }
        self.report.faults += 1;
        let t = self.cfg.granted_timeout();
        match self.rng.gen_range(0..100) {
            // The main fault: a session expires.
            0..=29 => {
                if let Some(c) = self.pick(None) {
                    self.expire_now(c)?;
                }
            }
            // Connection loss shorter than the session timeout.
            30..=44 => {
                if let Some(c) = self.pick(None) {
                    if !self.clients[c].partitioned() {
                        let len = t.mul_f64(self.rng.gen_range(0.05..0.6));
                        self.partition(c, len);
                    }
                }
            }
            // Connection loss longer than the session timeout.
            45..=54 => {
                if let Some(c) = self.pick(None) {
                    if !self.clients[c].partitioned() {
                        let len = t.mul_f64(self.rng.gen_range(1.1..3.0));
                        self.partition(c, len);
                    }
                }
            }
            // A client crashes and is started again.
            55..=68 => {
                if let Some(c) = self.pick(None) {
                    self.crash(c, true);
                }
            }
            // A source's agent alone is frozen (SIGSTOP, a debugger), often past its session
            // timeout, while its rsync runs on.
            69..=74 => {
                if let Some(c) = self.pick(Some(Kind::Source)) {
                    if !self.clients[c].partitioned() && self.clients[c].frozen_until.is_none() {
                        let len = t.mul_f64(self.rng.gen_range(0.2..3.0));
                        self.freeze(c, len);
                    }
                }
            }
            // A destination's tree goes missing for a while.
            75..=82 => {
                if let Some(c) = self.pick(Some(Kind::Dest)) {
                    self.set_tree(c, !self.clients[c].tree_present)?;
                }
            }
            // A sub-mount of one source's tree goes away for a while (an automount that
            // failed on that host), once the plan is out (a master that walks a tree whose
            // file set is missing plans without it, which no guard can know). Runs that
            // have one in their reach also see one go while they run (`spawn_rsync`).
            83..=85 => {
                if let Some(c) = self.pick(Some(Kind::Source)) {
                    let n = self.src_mounts.len();
                    if n > 0 && self.plan_published() {
                        let m = self.src_mounts[self.rng.gen_range(0..n)].clone();
                        self.unmount(c, m);
                    }
                }
            }
            // A source's tree vanishes (an unmount), once the plan is out.
            86..=89 => {
                if self.plan_published() {
                    if let Some(c) = self.pick(Some(Kind::Source)) {
                        self.set_tree(c, false)?;
                    }
                }
            }
            // Every client crashes; all start again later.
            90..=94 if self.cfg.full_crash => self.full_crash(),
            _ => {
                if let Some(c) = self.pick(Some(Kind::Dest)) {
                    self.crash(c, true);
                }
            }
        }
        let gap = self.fault_gap();
        self.schedule(gap, Event::Fault);
        Ok(())
    }

    fn plan_published(&self) -> bool {
        self.zk
            .children(&self.layout.dir(Dir::Done))
            .is_some_and(|done| !done.is_empty())
    }

    /// Unmounts a source's sub-mount for a while; the runs under way that are not pinned
    /// see it gone.
    pub(super) fn unmount(&mut self, c: usize, m: Vec<u8>) {
        if !self.clients[c].alive() || self.clients[c].unmounted.contains(&m) {
            return;
        }
        let name = self.clients[c].name.clone();
        self.note(format!(
            "{name}: sub-mount {} unmounted",
            String::from_utf8_lossy(&m)
        ));
        self.clients[c].unmounted.insert(m.clone());
        for j in self.clients[c].jobs.values_mut().filter(|j| !j.pinned) {
            j.unmounted_seen.insert(m.clone());
        }
        let t = self.cfg.granted_timeout();
        let after = t.mul_f64(self.rng.gen_range(0.2..2.0));
        self.schedule(after, Event::Remount { c, mount: m });
    }

    /// Mounts a source's sub-mount again.
    pub(super) fn remount(&mut self, c: usize, mount: &[u8]) {
        if self.clients[c].unmounted.remove(mount) {
            let name = self.clients[c].name.clone();
            self.note(format!(
                "{name}: sub-mount {} mounted again",
                String::from_utf8_lossy(mount)
            ));
        }
    }

    /// Freezes the agent of client `c` for `length`: it cannot talk to ZooKeeper (no pings:
    /// its session expires on the server after the granted timeout) and hears nothing;
    /// its watchdog, which it no longer feeds, kills its rsync a lease later.
    pub(super) fn freeze(&mut self, c: usize, length: Duration) {
        let name = self.clients[c].name.clone();
        self.note(format!("{name}: agent frozen for {length:?}"));
        let inc = self.clients[c].incarnation;
        self.clients[c].frozen_until = Some(self.now + length);
        self.partition(c, length);
        if self.cfg.watchdog {
            let lease = self.cfg.granted_timeout() / 4;
            self.schedule(lease, Event::WatchdogFires { c, inc });
        }
        self.schedule(length, Event::Thaw { c, inc });
    }

    pub(super) fn on_watchdog(&mut self, c: usize, inc: u32) {
        let cl = &self.clients[c];
        if cl.incarnation != inc || cl.frozen_until.is_none() {
            return;
        }
        let live: Vec<JobId> = cl
            .jobs
            .iter()
            .filter(|(_, j)| !j.killed)
            .map(|(id, _)| *id)
            .collect();
        if !live.is_empty() {
            let name = cl.name.clone();
            self.note(format!("{name}: watchdog kills {} rsync(s)", live.len()));
        }
        for id in live {
            self.kill_rsync(c, id);
        }
    }

    pub(super) fn on_thaw(&mut self, c: usize, inc: u32) -> Check {
        if self.clients[c].incarnation != inc || self.clients[c].frozen_until.is_none() {
            return Ok(());
        }
        let name = self.clients[c].name.clone();
        self.note(format!("{name}: agent runs again"));
        self.clients[c].frozen_until = None;
        for (session, input) in std::mem::take(&mut self.clients[c].deferred) {
            // What came on a session the machine has given up meanwhile is gone with it.
            let of_session = matches!(
                input,
                Input::Reply { .. } | Input::Watch { .. } | Input::Session(_)
            );
            if of_session && session != self.clients[c].session {
                continue;
            }
            self.feed(c, input)?;
        }
        Ok(())
    }

    /// Kills client `c` (kill -9); with `restart`, starts it again a little later.
    pub(super) fn crash(&mut self, c: usize, restart: bool) {
        let name = self.clients[c].name.clone();
        self.note(format!("{name}: crashes"));
        self.end_process(c, None, false);
        if restart {
            // A restarted destination comes back under its old id half of the time
            // (`--id`), else under a new one (host-pid).
            if self.clients[c].kind == Kind::Dest && self.rng.gen_bool(0.5) {
                let n = self.rng.gen_range(0..1_000_000);
                self.clients[c].dest_id = format!("{name}-{n}");
            }
            self.clients[c].restart_pending = true;
            let after = self
                .cfg
                .session_timeout
                .mul_f64(self.rng.gen_range(0.1..2.0));
            self.schedule(after, Event::Restart { c });
        }
    }

    fn full_crash(&mut self) {
        if !self.done_before_crash.is_empty() {
            return;
        }
        self.done_before_crash = self
            .zk
            .children(&self.layout.dir(Dir::Done))
            .unwrap_or_default()
            .into_iter()
            .collect();
        self.note(format!(
            "every client crashes ({} chunks done so far)",
            self.done_before_crash.len()
        ));
        for c in 0..self.clients.len() {
            if self.clients[c].alive() {
                self.crash(c, true);
            }
        }
    }

    /// Mounts or unmounts client `c`'s tree.
    fn set_tree(&mut self, c: usize, present: bool) -> Check {
        if self.clients[c].tree_present == present {
            return Ok(());
        }
        let name = self.clients[c].name.clone();
        self.note(format!(
            "{name}: its tree is {}",
            if present { "back" } else { "gone" }
        ));
        self.clients[c].tree_present = present;
        if self.clients[c].watches_tree && self.clients[c].alive() {
            let input = Input::Tree(self.tree_state(c));
            self.feed(c, input)?;
        }
        Ok(())
    }

    /// Faults that hit the master at chosen moments of its work.
    pub(super) fn faults_on_request(&mut self, c: usize, op: &ZkOp) {
        if self.liveness_since.is_some() {
            return;
        }
        let path = op.path();
        let publishing = path.starts_with(&format!("{}/", self.layout.plan()));
        let cleaning = matches!(op, ZkOp::Multi(_) | ZkOp::Delete { .. })
            && path.starts_with(&format!("{}/", self.layout.dir(Dir::Done)));
        let is_master = self.clients[c]
            .machine
            .as_ref()
            .is_some_and(|m| m.is_master());
        if !is_master {
            return;
        }
        if publishing && self.cfg.crash_master_publishing && !self.master_crashed_publishing {
            self.master_crashed_publishing = true;
            self.crash(c, true);
        } else if cleaning && self.cfg.crash_master_cleaning && !self.master_crashed_cleaning {
            self.master_crashed_cleaning = true;
            self.crash(c, true);
        }
    }

    /// Faults stop; partitions heal, trees come back, stopped clients start again.
    pub(super) fn on_liveness(&mut self) -> Check {
        self.liveness_since = Some(self.now);
        self.note("liveness phase: no more faults");
        for c in 0..self.clients.len() {
            if let Some(p) = self.clients[c].partition {
                let generation = p.generation;
                self.schedule(Duration::ZERO, Event::Heal { c, generation });
            }
            self.set_tree(c, true)?;
            self.clients[c].unmounted.clear();
            let cl = &self.clients[c];
            if !cl.alive()
                && !cl.restart_pending
                && cl.exit_code != Some(0)
                && cl.exit_code != Some(1)
            {
                self.clients[c].restart_pending = true;
                self.schedule(Duration::from_millis(10), Event::Restart { c });
            }
        }
        Ok(())
    }
}
