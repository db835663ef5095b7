//! The link between a client and ZooKeeper, as zookeeper-client and a ZooKeeper 3.8
//! server behave: requests and replies in order with latency, watch notifications before
//! later replies, partitions that the client notices (Disconnected) and that either heal
//! within the session timeout (same session) or make the server expire the session, and
//! the client giving the session up on its own after about 7/5 of the timeout.

use std::time::{Duration, Instant};

use zkrsync_core::protocol::layout::Dir;
use zkrsync_core::protocol::{Input, ReqId, SessionEvent, ZkError, ZkOp, ZkReply};

use super::{Event, Partition, World};
use crate::config::ScaleModel;
use crate::invariants::{no_result_from_dead, Check};
use crate::zk_model::SessionId;

impl World {
    /// Sends a request of client `c` (or queues it while the client knows it is
    /// disconnected: zookeeper-client sends those when it reconnects).
    pub(super) fn send(&mut self, c: usize, id: ReqId, op: ZkOp) {
        let cl = &mut self.clients[c];
        let Some(session) = cl.session else {
            cl.queued.push((id, op));
            return;
        };
        if cl.disconnected {
            cl.queued.push((id, op));
            return;
        }
        cl.inflight.insert(id);
        let at = (self.now + cl.latency).max(cl.last_arrival);
        cl.last_arrival = at;
        let inc = cl.incarnation;
        self.schedule_at(
            at,
            Event::Arrive {
                c,
                inc,
                session,
                id,
                op,
                queued: false,
            },
        );
    }

    /// Schedules something for client `c` to receive, in order after what it was sent before.
    fn deliver(&mut self, c: usize, session: SessionId, input: Input) {
        let cl = &mut self.clients[c];
        let at = (self.now + cl.latency).max(cl.last_delivery);
        cl.last_delivery = at;
        let inc = cl.incarnation;
        self.schedule_at(
            at,
            Event::Deliver {
                c,
                inc,
                session,
                input,
            },
        );
    }

    pub(super) fn on_arrive(
        &mut self,
        c: usize,
        inc: u32,
        session: SessionId,
        id: ReqId,
        op: ZkOp,
        queued: bool,
    ) -> Check {
        let cl = &self.clients[c];
        if cl.incarnation != inc || !cl.inflight.contains(&id) {
            return Ok(()); // the connection it came on is gone
        }
        if let Some(p) = cl.partition {
            // Held up in the network: it gets there when the partition heals, unless the
            // client gave the connection up before (then it never gets there).
            let at = p.until + cl.latency;
            self.schedule_at(
                at,
                Event::Arrive {
                    c,
                    inc,
                    session,
                    id,
                    op,
                    queued: false,
                },
            );
            return Ok(());
        }
        if let (Some(model), false) = (self.cfg.scale, queued) {
            if let Some(start) = self.reserve_server(&model, &op) {
                let event = Event::Arrive {
                    c,
                    inc,
                    session,
                    id,
                    op,
                    queued: true,
                };
                self.schedule_at(start, event);
                return Ok(());
            }
        }
        let result = if self.zk.is_alive(session) {
            self.apply(session, &op)?
        } else {
            Err(ZkError::SessionExpired)
        };
        self.deliver(c, session, Input::Reply { id, result });
        Ok(())
    }

    /// The scaling experiment's server: one request at a time, in arrival order, reserved on
    /// arrival. Returns when the request gets its turn, if it must wait.
    fn reserve_server(&mut self, model: &ScaleModel, op: &ZkOp) -> Option<Instant> {
        let cost = match op {
            ZkOp::Multi(ops) => model.write + model.multi_op * ops.len() as u32,
            ZkOp::Create { .. } | ZkOp::Delete { .. } | ZkOp::SetData { .. } => model.write,
            ZkOp::GetChildren { path, .. } => {
                let n = self.zk.children(path).map_or(0, |c| c.len());
                model.read + model.per_child * n as u32
            }
            ZkOp::GetData { .. } | ZkOp::Exists { .. } => model.read,
        };
        let start = self.server_free.max(self.now);
        self.server_free = start + cost;
        self.report.zk_busy += cost;
        if start > self.now {
            self.report.zk_max_wait = self.report.zk_max_wait.max(start - self.now);
            return Some(start);
        }
        None
    }

    /// Applies a live session's request to the model, checking that a result is recorded
    /// only by the chunk's owner, and noting the session's end and recorded outcome.
    fn apply(
        &mut self,
        session: SessionId,
        op: &ZkOp,
    ) -> Result<Result<ZkReply, ZkError>, crate::invariants::Violation> {
        let recorded = no_result_from_dead::recorded_chunk(&self.layout, op);
        let owner_before = recorded.as_ref().and_then(|chunk| {
            self.zk
                .ephemeral_owner(&self.layout.entry(Dir::Claims, chunk))
                .map(|s| s.0)
        });
        let running = !self.session_finished();
        let result = self.zk.apply(session, op);
        self.report.zk_ops += 1;
        if running && result.is_ok() && self.session_finished() {
            self.ended = true;
        }
        if let (Ok(_), ZkOp::Create { path, data, .. }) = (&result, op) {
            if *path == self.layout.summary() {
                self.recorded = zkrsync_core::protocol::records::SummaryRecord::decode(data).ok();
            }
        }
        if let Some(chunk) = recorded {
            no_result_from_dead::check_recorded(&chunk, owner_before, session.0, result.is_ok())?;
        }
        self.route_notifications();
        Ok(result)
    }

    pub(super) fn on_deliver(
        &mut self,
        c: usize,
        inc: u32,
        session: SessionId,
        input: Input,
    ) -> Check {
        let cl = &mut self.clients[c];
        if cl.incarnation != inc || cl.session != Some(session) {
            return Ok(());
        }
        if let Some(p) = cl.partition {
            match &input {
                Input::Reply { id, .. } if cl.inflight.contains(id) => {
                    let at = p.until + cl.latency;
                    self.schedule_at(
                        at,
                        Event::Deliver {
                            c,
                            inc,
                            session,
                            input,
                        },
                    );
                }
                Input::Watch { .. } => cl.missed.push(input),
                _ => {}
            }
            return Ok(());
        }
        if let Input::Reply { id, .. } = &input {
            if !cl.inflight.remove(id) {
                return Ok(()); // already failed with a connection loss
            }
        }
        let name = cl.name.clone();
        match &input {
            Input::Reply { id, result } => {
                let shown = match result {
                    Ok(r) => format!("{:.60}", format!("{r:?}")),
                    Err(e) => format!("error {e}"),
                };
                self.note(format!("{name}: reply {}: {shown}", id.0));
            }
            Input::Watch { path, kind } => self.note(format!("{name}: watch {path} {kind:?}")),
            _ => {}
        }
        self.feed(c, input)
    }

    /// Sends the model's watch notifications to the clients whose sessions they are for.
    pub(super) fn route_notifications(&mut self) {
        for n in self.zk.take_notifications() {
            self.note(format!(
                "server: notify {:#x} {} {:?}",
                n.session.0, n.path, n.kind
            ));
            let Some(c) = self
                .clients
                .iter()
                .position(|cl| cl.alive() && cl.session == Some(n.session))
            else {
                continue;
            };
            let input = Input::Watch {
                path: n.path,
                kind: n.kind,
            };
            if self.clients[c].partitioned() {
                self.clients[c].missed.push(input);
            } else {
                self.deliver(c, n.session, input);
            }
        }
    }

    pub(super) fn on_open_session(&mut self, c: usize, inc: u32) -> Check {
        let cl = &self.clients[c];
        if cl.incarnation != inc || !cl.alive() || !cl.wants_session {
            return Ok(());
        }
        if let Some(p) = cl.partition {
            // Cannot reach ZooKeeper: try again once the partition heals.
            let at = p.until + cl.latency;
            self.schedule_at(at, Event::OpenSession { c, inc });
            return Ok(());
        }
        let session = self.zk.open_session();
        let cl = &mut self.clients[c];
        cl.session = Some(session);
        cl.wants_session = false;
        cl.disconnected = false;
        cl.inflight.clear();
        cl.last_arrival = self.now;
        cl.last_delivery = self.now;
        let queued = std::mem::take(&mut cl.queued);
        let name = cl.name.clone();
        self.note(format!("{name}: new session {:#x}", session.0));
        self.session_event(
            c,
            SessionEvent::Connected {
                new_session: true,
                timeout: self.negotiated_timeout(),
            },
        )?;
        // Requests made before the session existed fail: the machine was told to start over.
        self.fail_expired(c, queued)
    }

    /// Requests of an expired session fail as zookeeper-client fails them.
    fn fail_expired(&mut self, c: usize, requests: Vec<(ReqId, ZkOp)>) -> Check {
        for (id, _) in requests {
            self.feed(
                c,
                Input::Reply {
                    id,
                    result: Err(ZkError::SessionExpired),
                },
            )?;
        }
        Ok(())
    }

    /// Cuts client `c` off from ZooKeeper for `length`.
    pub(super) fn partition(&mut self, c: usize, length: Duration) {
        let t = self.cfg.granted_timeout();
        self.partition_generation += 1;
        let generation = self.partition_generation;
        let until = self.now + length;
        let detect_after = Duration::from_nanos(madsim::rand::Rng::gen_range(
            &mut self.rng,
            0..=(t * 2 / 3).as_nanos() as u64,
        ));
        let cl = &mut self.clients[c];
        cl.partition = Some(Partition {
            generation,
            until,
            detected: false,
        });
        let name = cl.name.clone();
        let session = cl.session;
        self.note(format!("{name}: partitioned from ZooKeeper for {length:?}"));
        if let Some(s) = session {
            if self.zk.is_alive(s) && !self.expiring.contains_key(&s) {
                let at = self.now + t;
                self.expiring.insert(s, at);
                self.schedule_at(at, Event::ServerExpire { session: s, at });
            }
        }
        self.schedule(detect_after, Event::Detect { c, generation });
        self.schedule(t * 7 / 5, Event::ClientExpire { c, generation });
        self.schedule_at(until, Event::Heal { c, generation });
    }

    fn current_partition(&self, c: usize, generation: u64) -> Option<Partition> {
        self.clients[c]
            .partition
            .filter(|p| p.generation == generation)
    }

    pub(super) fn on_detect(&mut self, c: usize, generation: u64) -> Check {
        if self.current_partition(c, generation).is_none() || !self.clients[c].alive() {
            return Ok(());
        }
        let cl = &mut self.clients[c];
        if let Some(p) = cl.partition.as_mut() {
            p.detected = true;
        }
        if cl.session.is_none() || cl.disconnected {
            return Ok(());
        }
        cl.disconnected = true;
        let lost: Vec<ReqId> = std::mem::take(&mut cl.inflight).into_iter().collect();
        self.session_event(c, SessionEvent::Disconnected)?;
        for id in lost {
            self.feed(
                c,
                Input::Reply {
                    id,
                    result: Err(ZkError::ConnectionLoss),
                },
            )?;
        }
        Ok(())
    }

    pub(super) fn on_client_expire(&mut self, c: usize, generation: u64) -> Check {
        if self.current_partition(c, generation).is_none() || !self.clients[c].alive() {
            return Ok(());
        }
        if self.clients[c].session.is_none() {
            return Ok(());
        }
        // zookeeper-client declares the session expired on its own.
        self.client_learns_expiry(c)
    }

    /// Client `c` learns that its session is gone.
    pub(super) fn client_learns_expiry(&mut self, c: usize) -> Check {
        let cl = &mut self.clients[c];
        cl.session = None;
        cl.disconnected = true;
        cl.inflight.clear();
        cl.missed.clear();
        let queued = std::mem::take(&mut cl.queued);
        self.session_event(c, SessionEvent::Expired)?;
        let name = self.clients[c].name.clone();
        let live = self.clients[c].live_chunks();
        no_result_from_dead::check_after_expiry(&name, &live)?;
        self.fail_expired(c, queued)
    }

    pub(super) fn on_heal(&mut self, c: usize, generation: u64) -> Check {
        if self.current_partition(c, generation).is_none() {
            return Ok(());
        }
        let cl = &mut self.clients[c];
        cl.partition = None;
        let name = cl.name.clone();
        self.note(format!("{name}: partition healed"));
        if !self.clients[c].alive() {
            return Ok(());
        }
        let Some(session) = self.clients[c].session else {
            return Ok(());
        };
        if !self.zk.is_alive(session) {
            return self.client_learns_expiry(c);
        }
        self.expiring.remove(&session);
        let cl = &mut self.clients[c];
        if !cl.disconnected {
            // A blip the client never noticed: held-up traffic simply arrives late.
            let missed = std::mem::take(&mut cl.missed);
            for input in missed {
                self.deliver(c, session, input);
            }
            return Ok(());
        }
        cl.disconnected = false;
        let queued = std::mem::take(&mut cl.queued);
        let missed = std::mem::take(&mut cl.missed);
        self.session_event(
            c,
            SessionEvent::Connected {
                new_session: false,
                timeout: self.negotiated_timeout(),
            },
        )?;
        // Watches fire for what changed meanwhile, then the queued requests go out.
        for input in missed {
            self.deliver(c, session, input);
        }
        for (id, op) in queued {
            self.send(c, id, op);
        }
        Ok(())
    }

    /// The server expires client `c`'s session now; the client hears of it at once (the
    /// server closes its connection).
    pub(super) fn expire_now(&mut self, c: usize) -> Check {
        let Some(session) = self.clients[c].session else {
            return Ok(());
        };
        if self.clients[c].partitioned() {
            // A server expires a session only after not hearing from it for the session
            // timeout: a partitioned client's session expires on that schedule (no
            // protocol could keep a client that does not know from acting meanwhile).
            return Ok(());
        }
        if !self.zk.is_alive(session) {
            return Ok(());
        }
        let name = self.clients[c].name.clone();
        self.note(format!(
            "{name}: session {:#x} expired by the server",
            session.0
        ));
        self.expiring.remove(&session);
        self.zk.expire(session);
        self.route_notifications();
        self.client_learns_expiry(c)
    }
}
