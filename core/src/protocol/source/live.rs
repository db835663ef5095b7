//! Live progress: a worker publishes how far its running rsync is in its ephemeral
//! `progress/<election node>` at most every [`LIVE_EVERY`], and the master reads them all
//! at each progress report, so that the bytes and files of a chunk count while it is still
//! being copied, not only when it is done.
//!
//! Cost: each worker writes once per [`LIVE_EVERY`] while it copies (256 workers: 128
//! writes a second), the master reads `1 + workers` znodes per progress report (once a
//! second on a terminal, every 10 s otherwise). The requests are best effort: a failure is
//! not a reason to give the session up, the next report tries again.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::election::Role;
use super::{Source, Why};
use crate::protocol::layout::Dir;
use crate::protocol::records::LiveRecord;
use crate::protocol::{CreateMode, JobId, ZkError, ZkOp, ZkReply};

/// How often a worker publishes its live progress, at most.
pub const LIVE_EVERY: Duration = Duration::from_secs(2);

/// The requests of live progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum LiveWhy {
    /// A worker creates its progress node.
    Create,
    /// A worker updates it.
    Update,
    /// The master lists the workers' progress nodes.
    List,
    /// The master reads one.
    Read(String),
}

/// A worker's live progress and the master's view of everyone's.
#[derive(Debug, Default)]
pub(super) struct Live {
    /// What the worker's rsync has done so far, as last reported by the driver.
    latest: Option<LiveRecord>,
    /// When the worker last published it.
    published_at: Option<Instant>,
    /// Its progress node exists (with this ZooKeeper session).
    created: bool,
    /// The master: each worker's last record, by progress node.
    seen: BTreeMap<String, LiveRecord>,
}

impl Source {
    /// The driver reports how far job `id` is.
    pub(super) fn on_rsync_progress(&mut self, now: Instant, id: JobId, bytes: u64, files: u64) {
        let Some(job) = self.worker.job().filter(|j| j.id == id && !j.killed) else {
            return;
        };
        self.live.latest = Some(LiveRecord {
            chunk: job.chunk.clone(),
            bytes,
            files,
        });
        if self
            .live
            .published_at
            .is_none_or(|at| now >= at + LIVE_EVERY)
        {
            self.publish_live(now);
        }
    }

    /// A job ended: a worker that published its progress says it is idle again.
    pub(super) fn live_job_ended(&mut self, now: Instant) {
        if self.live.latest.take().is_some() && self.live.published_at.is_some() {
            self.live.latest = Some(LiveRecord::default());
            self.publish_live(now);
            self.live.latest = None;
        }
    }

    fn publish_live(&mut self, now: Instant) {
        let (Some(me), Some(record)) = (self.me.clone(), self.live.latest.clone()) else {
            return;
        };
        if !self.core.connected {
            return;
        }
        let path = self.cfg.layout.entry(Dir::Progress, &me);
        let data = record.encode();
        let (op, why) = match self.live.created {
            true => (ZkOp::SetData { path, data }, LiveWhy::Update),
            false => (
                ZkOp::Create {
                    path,
                    data,
                    mode: CreateMode::Ephemeral,
                },
                LiveWhy::Create,
            ),
        };
        self.live.published_at = Some(now);
        self.core.reqs.send(op, Why::Live(why));
    }

    /// A new ZooKeeper session: the progress node went with the old one.
    pub(super) fn reset_live(&mut self) {
        self.live.created = false;
        self.live.published_at = None;
        self.live.seen.clear();
    }

    /// The master's progress report: the next one counts what this reads.
    pub(super) fn read_live(&mut self) {
        let op = ZkOp::GetChildren {
            path: self.cfg.layout.dir(Dir::Progress),
            watch: false,
        };
        self.core.reqs.send(op, Why::Live(LiveWhy::List));
    }

    /// Bytes and files the running chunks have done, as the workers last said.
    pub(super) fn live_totals(&self) -> (u64, u64) {
        self.live
            .seen
            .values()
            .filter(|r| !r.chunk.is_empty() && !self.view.finished(&r.chunk))
            .fold((0, 0), |(b, f), r| (b + r.bytes, f + r.files))
    }

    /// Every reply of live progress, errors included: none ends the session.
    pub(super) fn on_live_reply(&mut self, why: LiveWhy, result: Result<ZkReply, ZkError>) {
        match (why, result) {
            (LiveWhy::Create, Ok(_)) => self.live.created = true,
            (LiveWhy::Create, Err(ZkError::NodeExists)) => {
                // From an earlier publish whose reply was lost: update it.
                self.live.created = true;
                self.live.published_at = None;
            }
            (LiveWhy::Update, Err(ZkError::NoNode)) => self.live.created = false,
            (LiveWhy::List, Ok(ZkReply::Children(names))) if self.role == Role::Master => {
                self.live.seen.retain(|n, _| names.contains(n));
                for name in names {
                    let op = ZkOp::GetData {
                        path: self.cfg.layout.entry(Dir::Progress, &name),
                        watch: false,
                    };
                    self.core.reqs.send(op, Why::Live(LiveWhy::Read(name)));
                }
            }
            (LiveWhy::Read(name), Ok(ZkReply::Data(data))) => {
                if let Ok(record) = LiveRecord::decode(&data) {
                    self.live.seen.insert(name, record);
                }
            }
            (LiveWhy::Read(name), Err(ZkError::NoNode)) => {
                self.live.seen.remove(&name);
            }
            _ => {}
        }
    }
}
