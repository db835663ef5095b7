//! The simulated clients' thin driver, the counterpart of the real agent's
//! (`launcher/src/agent/driver.rs`): a client started with its machine, inputs fed and every
//! output carried out (requests to the ZooKeeper model, rsync to the rsync model, a wake-up
//! at the machine's `poll_timeout`), and the client's end.

use std::time::{Duration, Instant};

use zkrsync_core::protocol::records::DestRecord;
use zkrsync_core::protocol::{
    source_tree, Dest, DestConfig, Input, JobId, Machine, Output, ProbeDone, ProbeOp, SessionEvent,
    SessionParams, Source, SourceConfig, WalkFailed, Walked,
};

use super::{describe, Event, Kind, World, KEEP, RUN, SRC_ROOT, WALK_POOL};
use crate::fs_model::Tree;
use crate::invariants::Check;

impl World {
    pub(super) fn params(&self) -> SessionParams {
        SessionParams {
            depth: self.cfg.depth,
            delete: self.cfg.delete,
            dry_run: self.cfg.dry_run,
            attempts: self.cfg.attempts,
            max_delete: self.cfg.max_delete,
            ..SessionParams::default()
        }
    }

    /// Starts (or starts again) client `c` at `at`: every client of a world is of one run, as
    /// with `zkrsync-launch`, so one that comes after the end finds the kept outcome and
    /// leaves.
    pub(super) fn start_client(&mut self, c: usize, at: Instant) {
        let timeout = self.cfg.session_timeout;
        let layout = self.layout.clone();
        let params = self.params();
        let chunk_entries = self.cfg.chunk_entries;
        let cl = &mut self.clients[c];
        cl.incarnation += 1;
        cl.exit_code = None;
        cl.session = None;
        cl.wants_session = true;
        cl.disconnected = false;
        cl.partition = None;
        cl.inflight.clear();
        cl.queued.clear();
        cl.missed.clear();
        cl.jobs.clear();
        cl.wake_at = None;
        cl.watches_tree = false;
        cl.frozen_until = None;
        cl.deferred.clear();
        let machine: Box<dyn Machine> = match cl.kind {
            Kind::Source => Box::new(Source::new(SourceConfig {
                layout,
                params,
                client_id: format!("{}-{}", cl.name, cl.incarnation),
                session_timeout: timeout,
                progress_every: Duration::from_secs(10),
                leave_timeout: zkrsync_core::protocol::source::leave_timeout(timeout),
                min_chunk_weight: chunk_entries,
                open_acls: false,
                run: Some(RUN.into()),
                keep: KEEP,
                retry_failed: false,
            })),
            Kind::Dest => Box::new(Dest::new(DestConfig {
                layout,
                id: cl.dest_id.clone(),
                record: DestRecord {
                    address: format!("127.0.0.{}", c + 1),
                    port: 8730,
                    module: format!("zkrsync-sim-{}", cl.dest_id),
                    active: true,
                    host: cl.name.clone(),
                    auth: None,
                    tree: None,
                    extra: Vec::new(),
                },
                session_timeout: timeout,
                path: "/dst".into(),
                token: format!("{}-{}", cl.name, cl.incarnation),
                run: Some(RUN.into()),
            })),
        };
        cl.machine = Some(machine);
        let inc = cl.incarnation;
        let name = cl.name.clone();
        self.note(format!("{name}: starts (incarnation {inc})"));
        self.schedule_at(at, Event::OpenSession { c, inc });
    }

    /// Feeds an input to client `c`'s machine and carries out what comes out (a frozen
    /// agent hears it when it thaws).
    pub(super) fn feed(&mut self, c: usize, input: Input) -> Check {
        let now = self.now;
        if self.clients[c].frozen_until.is_some() {
            let session = self.clients[c].session;
            self.clients[c].deferred.push((session, input));
            return Ok(());
        }
        let Some(machine) = self.clients[c].machine.as_mut() else {
            return Ok(());
        };
        machine.handle(now, input);
        self.drive(c)
    }

    pub(super) fn drive(&mut self, c: usize) -> Check {
        loop {
            let Some(machine) = self.clients[c].machine.as_mut() else {
                return Ok(());
            };
            let Some(output) = machine.poll_output() else {
                break;
            };
            self.on_output(c, output)?;
        }
        // Sleep until the machine's next timeout, as the real driver does.
        let cl = &mut self.clients[c];
        let next = cl.machine.as_ref().and_then(|m| m.poll_timeout());
        if let Some(at) = next.filter(|at| cl.wake_at != Some(*at)) {
            cl.wake_at = Some(at);
            let inc = cl.incarnation;
            self.schedule_at(at, Event::Wake { c, inc, at });
        }
        Ok(())
    }

    pub(super) fn on_output(&mut self, c: usize, output: Output) -> Check {
        let inc = self.clients[c].incarnation;
        match output {
            Output::Zk { id, op } => {
                let name = &self.clients[c].name;
                let line = format!("{name}: request {}: {}", id.0, describe(&op));
                self.note(line);
                self.faults_on_request(c, &op);
                if self.clients[c].alive() {
                    self.send(c, id, op);
                }
            }
            Output::NewSession => {
                let cl = &mut self.clients[c];
                // The real driver closes the session it gives up (its ephemeral znodes go
                // at once), when the close can reach the server.
                let old = cl.session.take().filter(|_| !cl.partitioned());
                if let Some(s) = old.filter(|s| self.zk.is_alive(*s)) {
                    self.zk.close(s);
                    self.route_notifications();
                }
                let cl = &mut self.clients[c];
                cl.wants_session = true;
                cl.inflight.clear();
                cl.queued.clear();
                cl.missed.clear();
                let lat = cl.latency;
                self.schedule(lat * 2, Event::OpenSession { c, inc });
            }
            Output::Walk => {
                let walked = self.walk(c);
                let took = Duration::from_micros(200 + 20 * self.cfg.dirs as u64);
                self.schedule(
                    took,
                    Event::Local {
                        c,
                        inc,
                        input: Input::Walked(walked),
                    },
                );
            }
            Output::Spawn { id, job } => self.spawn_rsync(c, id, job)?,
            Output::Kill { id } => self.kill_rsync(c, id),
            Output::WatchTree => {
                self.clients[c].watches_tree = true;
                let input = Input::Tree(self.tree_state(c));
                self.schedule(Duration::from_micros(100), Event::Local { c, inc, input });
            }
            Output::Probe { id, op } => {
                let input = Input::Probe {
                    id,
                    result: Ok(self.probe(op)),
                };
                self.schedule(Duration::from_micros(100), Event::Local { c, inc, input });
            }
            Output::Log { level, message } => {
                let name = self.clients[c].name.clone();
                self.note(format!("{name}: {level:?}: {message}"));
            }
            Output::Progress(_) => {}
            Output::Summary(summary) => {
                let name = self.clients[c].name.clone();
                self.note(format!(
                    "{name}: summary: {} chunks, {} done, {} failed",
                    summary.progress.chunks, summary.progress.done, summary.progress.failed
                ));
                self.summary = Some(summary);
                self.report.session_time = self.now.duration_since(self.start);
            }
            Output::Exit(exit) => {
                let name = self.clients[c].name.clone();
                self.note(format!(
                    "{name}: exits with {} ({:?})",
                    exit.code, exit.message
                ));
                self.end_process(c, Some(exit.code), true);
                if exit.code == 2 && self.liveness_since.is_some() {
                    // It stopped on a fault (its tree was gone): started again, as the
                    // liveness phase does for every client a fault stopped.
                    self.clients[c].restart_pending = true;
                    self.schedule(Duration::from_millis(10), Event::Restart { c });
                }
            }
        }
        Ok(())
    }

    /// The process of client `c` ends: by exiting (`clean`: its session is closed) or by
    /// dying (its session lives on until the server expires it).
    pub(super) fn end_process(&mut self, c: usize, code: Option<i32>, clean: bool) {
        let jobs: Vec<JobId> = self.clients[c].jobs.keys().copied().collect();
        for id in jobs {
            // The rsync child dies with its parent (PR_SET_PDEATHSIG).
            self.kill_rsync(c, id);
        }
        let cl = &mut self.clients[c];
        cl.machine = None;
        cl.exit_code = code;
        cl.incarnation += 1;
        cl.jobs.clear();
        cl.partition = None;
        cl.wants_session = false;
        let session = cl.session.take();
        let kind = cl.kind;
        let dest_id = cl.dest_id.clone();
        if let Some(s) = session {
            if clean {
                self.zk.close(s);
                self.route_notifications();
            } else if self.zk.is_alive(s) {
                let at = self.now + self.cfg.granted_timeout();
                self.expiring.insert(s, at);
                self.schedule_at(at, Event::ServerExpire { session: s, at });
            }
        }
        if kind == Kind::Dest {
            self.dest_gone(&dest_id);
        }
    }

    /// A destination's work on the probe files of the destination tree.
    pub(super) fn probe(&mut self, op: ProbeOp) -> ProbeDone {
        match op {
            ProbeOp::List => ProbeDone::Listed(self.probes.clone().into_iter().collect()),
            ProbeOp::Write { name, content } => {
                self.probes.insert(name, content);
                ProbeDone::Written
            }
            ProbeOp::Read { name } => ProbeDone::Read(self.probes.get(&name).cloned()),
            ProbeOp::Remove { name } => {
                self.probes.remove(&name);
                ProbeDone::Removed
            }
        }
    }

    pub(super) fn tree_state(&self, c: usize) -> zkrsync_core::protocol::TreeState {
        if self.clients[c].tree_present {
            zkrsync_core::protocol::TreeState::Present
        } else {
            zkrsync_core::protocol::TreeState::Missing("the tree is not mounted".into())
        }
    }

    /// The master's walk of its view of the source tree, with the core's walk, reported
    /// as the real driver reports it.
    pub(super) fn walk(&mut self, c: usize) -> Result<Walked, WalkFailed> {
        let root = std::path::Path::new(SRC_ROOT);
        let mem = self.source_view(c).mem_tree(root, &self.mounts_of(c));
        let spec = zkrsync_core::walk::WalkSpec::with_depth(self.cfg.depth);
        let walk =
            WALK_POOL.with(|pool| pool.install(|| zkrsync_core::walk::walk(&mem, root, &spec)))?;
        Ok(source_tree::walked(&mem, root, walk))
    }

    /// The source tree's sub-mounts as client `c` sees them: each with whether it is mounted.
    pub(super) fn mounts_of(&self, c: usize) -> Vec<(Vec<u8>, bool)> {
        self.src_mounts
            .iter()
            .map(|m| (m.clone(), !self.clients[c].unmounted.contains(m)))
            .collect()
    }

    /// The source tree as client `c` sees it: empty when it is not mounted.
    pub(super) fn source_view(&self, c: usize) -> Tree {
        if self.clients[c].tree_present {
            self.src.clone()
        } else {
            Tree::new()
        }
    }

    /// The session timeout the server granted, as the client reports it to the machine.
    pub(super) fn negotiated_timeout(&self) -> Duration {
        self.cfg.granted_timeout()
    }

    /// Session events go to the machine as local inputs.
    pub(super) fn session_event(&mut self, c: usize, event: SessionEvent) -> Check {
        let name = self.clients[c].name.clone();
        self.note(format!("{name}: session {event:?}"));
        self.feed(c, Input::Session(event))
    }
}
