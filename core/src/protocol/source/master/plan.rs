//! The master makes the plan: it reads what a previous master published (so that no unit
//! is published twice), asks the driver to walk the tree, packs the new units into chunks
//! and publishes them a window at a time, then marks the plan ready.

use std::collections::VecDeque;

use super::MasterPhase;
use crate::plan::{Chunk, PackLimits, Packer};
use crate::protocol::layout::{self, Dir};
use crate::protocol::records::PlanRecord;
use crate::protocol::source::{Source, Why};
use crate::protocol::{CreateMode, Level, Output, WalkFailed, Walked, ZkError, ZkOp, ZkReply};

/// The requests of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::protocol::source) enum PlanWhy {
    /// Listing the chunks a previous master published.
    CoverList,
    /// Reading one of them.
    CoverRead,
    /// Publishing a chunk.
    ChunkCreate,
    /// Marking the plan ready.
    PlanReady,
}

/// How many chunks the master aims to cut a plan into, at most.
pub const TARGET_CHUNKS: u64 = 256;
/// The default lightest chunk the master makes, about 4,000 directory entries: every chunk costs an
/// rsync start and a daemon connection (50-100 ms measured here, the time to copy a few
/// hundred small files or to compare a few thousand unchanged ones), so a small tree is not
/// cut into many tiny rsyncs.
pub const MIN_CHUNK_WEIGHT: u64 = 4096;
/// Chunk creates the master keeps in flight while publishing.
const PUBLISH_WINDOW: usize = 16;

impl Source {
    pub(super) fn on_plan_reply(&mut self, why: PlanWhy, result: Result<ZkReply, ZkError>) {
        match why {
            PlanWhy::CoverList => match result {
                Ok(ZkReply::Children(names)) => self.master_cover(names),
                other => self.fail_config(format!(
                    "cannot list the plan: {}",
                    crate::protocol::source::session::show(&other)
                )),
            },
            PlanWhy::CoverRead => self.master_covered(result),
            PlanWhy::ChunkCreate => match result {
                Ok(_) => {
                    if let MasterPhase::Publishing { in_flight, .. } = &mut self.master.phase {
                        *in_flight -= 1;
                    }
                    self.master_publish_more()
                }
                Err(e) => {
                    self.core.reqs.log(
                        Level::Warn,
                        format!("cannot publish a chunk ({e}): starting over with a new session"),
                    );
                    self.restart_session();
                }
            },
            PlanWhy::PlanReady => {
                match result {
                    Ok(_) => {
                        self.master.phase = MasterPhase::Tracking;
                        self.core.reqs.log(Level::Info, "plan published");
                        self.master_check_complete();
                    }
                    Err(e) => {
                        self.core.reqs.log(Level::Warn, format!("cannot mark the plan ready ({e}): starting over with a new session"));
                        self.restart_session();
                    }
                }
            }
        }
    }

    /// The plan record is known: resume a ready plan, or see what was published of it.
    pub(super) fn master_start(&mut self) {
        let Some(plan) = self.view.plan.clone() else {
            return;
        };
        if plan.ready {
            self.master.phase = MasterPhase::Tracking;
            self.core.reqs.log(
                Level::Info,
                format!(
                    "resuming the published plan: {} chunks, {} units",
                    plan.chunks, plan.units
                ),
            );
            self.master_on_view();
        } else {
            self.master.phase = MasterPhase::Covering { pending: 0 };
            let op = ZkOp::GetChildren {
                path: self.cfg.layout.plan(),
                watch: false,
            };
            self.core.reqs.send(op, Why::from(PlanWhy::CoverList));
        }
    }

    fn master_cover(&mut self, names: Vec<String>) {
        let chunks: Vec<String> = names
            .into_iter()
            .filter(|n| layout::chunk_index(n).is_some())
            .collect();
        self.master.next_index = chunks
            .iter()
            .filter_map(|n| layout::chunk_index(n))
            .max()
            .map_or(0, |i| i + 1);
        if chunks.is_empty() {
            return self.master_walk();
        }
        self.core.reqs.log(
            Level::Info,
            format!(
                "a previous master published {} chunks: reading them before walking again",
                chunks.len()
            ),
        );
        self.master.phase = MasterPhase::Covering {
            pending: chunks.len(),
        };
        for chunk in chunks {
            let path = self.cfg.layout.entry(Dir::Plan, &chunk);
            self.core.reqs.send(
                ZkOp::GetData { path, watch: false },
                Why::from(PlanWhy::CoverRead),
            );
        }
    }

    fn master_covered(&mut self, result: Result<ZkReply, ZkError>) {
        if let Ok(ZkReply::Data(data)) = result {
            match Chunk::decode(&data) {
                Ok(chunk) => self
                    .master
                    .covered
                    .extend(chunk.units.into_iter().map(|u| u.path)),
                Err(e) => self.core.reqs.log(
                    Level::Warn,
                    format!("a published chunk is unreadable ({e}); its units are published again"),
                ),
            }
        }
        if let MasterPhase::Covering { pending } = &mut self.master.phase {
            *pending = pending.saturating_sub(1);
            if *pending == 0 {
                self.master_walk();
            }
        }
    }

    fn master_walk(&mut self) {
        self.master.phase = MasterPhase::Walking;
        self.core.reqs.log(Level::Info, "walking the source tree");
        self.core.reqs.push(Output::Walk);
    }

    /// The driver walked the tree: pack what is not covered yet and publish it.
    pub(in crate::protocol::source) fn on_walked(&mut self, result: Result<Walked, WalkFailed>) {
        if !matches!(self.master.phase, MasterPhase::Walking) {
            return;
        }
        let walked = match result {
            Ok(w) => w,
            Err(e) => return self.fail_config(e.to_string()),
        };
        if walked.errors > 0 {
            self.core.reqs.log(
                Level::Warn,
                format!(
                    "{} directories could not be listed: they are copied without --delete",
                    walked.errors
                ),
            );
        }
        let covered = std::mem::take(&mut self.master.covered);
        let already = covered.len() as u64;
        let units: Vec<_> = walked
            .units
            .into_iter()
            .filter(|u| !covered.contains(&u.path))
            .collect();
        let new_units = units.len() as u64;
        let total_weight: u64 = units.iter().map(|u| u.weight).sum();
        let mut packer = Packer::new(PackLimits::balanced(
            total_weight,
            TARGET_CHUNKS,
            self.cfg.min_chunk_weight.max(1),
        ));
        let mut chunks: Vec<Chunk> = units.into_iter().flat_map(|u| packer.push(u)).collect();
        chunks.extend(packer.finish());
        let first = self.master.next_index;
        let queue: VecDeque<(String, Vec<u8>)> = chunks
            .into_iter()
            .zip(first..)
            .map(|(chunk, index)| (layout::chunk_name(index), chunk.encode()))
            .collect();
        let index = first + queue.len() as u64;
        let record = PlanRecord {
            ready: true,
            chunks: index,
            units: already + new_units,
            root_nonempty: walked.root_nonempty,
            top_dirs: walked.top_dirs,
            // Known only when this master walked every unit.
            entries: if already == 0 { total_weight } else { 0 },
        };
        self.core.reqs.log(
            Level::Info,
            format!(
                "plan: {} units in {} chunks ({} directories read, {} unreadable); publishing",
                record.units, record.chunks, walked.dirs_read, walked.errors
            ),
        );
        self.master.next_index = index;
        self.master.phase = MasterPhase::Publishing {
            queue,
            in_flight: 0,
            record,
        };
        self.master_publish_more();
    }

    fn master_publish_more(&mut self) {
        let MasterPhase::Publishing {
            queue,
            in_flight,
            record,
        } = &mut self.master.phase
        else {
            return;
        };
        let mut sends = Vec::new();
        while *in_flight < PUBLISH_WINDOW {
            let Some((name, data)) = queue.pop_front() else {
                break;
            };
            *in_flight += 1;
            sends.push((name, data));
        }
        let finished = queue.is_empty() && *in_flight == 0;
        let record = record.clone();
        for (name, data) in sends {
            let op = ZkOp::Create {
                path: self.cfg.layout.entry(Dir::Plan, &name),
                data,
                mode: CreateMode::Persistent,
            };
            self.core.reqs.send(op, Why::from(PlanWhy::ChunkCreate));
        }
        if finished {
            let op = ZkOp::SetData {
                path: self.cfg.layout.plan(),
                data: record.encode(),
            };
            self.core.reqs.send(op, Why::from(PlanWhy::PlanReady));
        }
    }
}
