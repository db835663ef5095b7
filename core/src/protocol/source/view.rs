//! What a source knows of the session: the plan, the chunks, their claims and results, the
//! destinations and their slots, from watched reads of the session's directories.

use std::collections::{BTreeMap, BTreeSet};

use super::{Source, Why};
use crate::protocol::layout::{self, Dir};
use crate::protocol::records::{DestRecord, PlanRecord, StopRecord};
use crate::protocol::{Level, WatchKind, ZkError, ZkReply};

/// The requests of the view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ViewWhy {
    /// The plan record.
    PlanRead,
    /// The children of a directory.
    Children(Dir),
    /// A destination's record.
    DestRead(String),
}

/// The session as last read.
#[derive(Debug, Default)]
pub(super) struct View {
    pub(super) plan: Option<PlanRecord>,
    pub(super) chunks: BTreeSet<String>,
    pub(super) done: BTreeSet<String>,
    pub(super) failed: BTreeSet<String>,
    pub(super) claims: BTreeSet<String>,
    pub(super) slots: BTreeSet<String>,
    /// Failed attempts: the destinations each chunk was tried on.
    pub(super) tries: BTreeMap<String, Vec<String>>,
    /// Hand-backs: the destinations that could not be reached for each chunk.
    pub(super) handbacks: BTreeMap<String, Vec<String>>,
    /// Destinations, with their record once read.
    pub(super) dests: BTreeMap<String, Option<DestRecord>>,
    /// The election's nodes, lowest first.
    pub(super) election: Vec<String>,
    /// The stop signal, once seen.
    pub(super) stop: Option<StopRecord>,
}

impl View {
    /// Whether the chunk has a result (done or failed for good).
    pub(super) fn finished(&self, chunk: &str) -> bool {
        self.done.contains(chunk) || self.failed.contains(chunk)
    }

    /// Takes the children of `dir`; returns the destinations whose records are to be read.
    fn set_children(&mut self, dir: Dir, names: Vec<String>) -> Vec<String> {
        let set: BTreeSet<String> = names.into_iter().collect();
        match dir {
            Dir::Plan => {
                self.chunks = set
                    .into_iter()
                    .filter(|n| layout::chunk_index(n).is_some())
                    .collect()
            }
            Dir::Done => self.done = set,
            Dir::Failed => self.failed = set,
            Dir::Claims => self.claims = set,
            Dir::Slots => self.slots = set,
            Dir::Tries => {
                let mut tries: BTreeMap<String, Vec<String>> = BTreeMap::new();
                let mut handbacks: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for name in &set {
                    if let Some((chunk, dest)) = layout::parse_try(name) {
                        let kind = if layout::is_handback(name) {
                            &mut handbacks
                        } else {
                            &mut tries
                        };
                        kind.entry(chunk.to_owned())
                            .or_default()
                            .push(dest.to_owned());
                    }
                }
                self.tries = tries;
                self.handbacks = handbacks;
            }
            Dir::Dests => {
                self.dests.retain(|id, _| set.contains(id));
                let new: Vec<String> = set
                    .into_iter()
                    .filter(|id| !self.dests.contains_key(id))
                    .collect();
                for id in &new {
                    self.dests.insert(id.clone(), None);
                }
                return new;
            }
            // The election is listed with its own request (its order decides the master);
            // the budget's reservations only when a worker decides one; live progress at
            // the master's progress reports ([`super::live`]).
            Dir::Election | Dir::Deletes | Dir::Progress => {}
        }
        Vec::new()
    }
}

impl Source {
    /// The directories every source follows.
    pub(super) const FOLLOWED: [Dir; 7] = [
        Dir::Plan,
        Dir::Done,
        Dir::Failed,
        Dir::Claims,
        Dir::Slots,
        Dir::Tries,
        Dir::Dests,
    ];

    pub(super) fn on_view_reply(&mut self, why: ViewWhy, result: Result<ZkReply, ZkError>) {
        match why {
            ViewWhy::PlanRead => match result {
                Ok(ZkReply::Data(data)) => match PlanRecord::decode(&data) {
                    Ok(plan) => {
                        self.view.plan = Some(plan);
                        self.on_view_changed();
                    }
                    Err(e) => self.fail_config(format!(
                        "{e}: the session's znodes are damaged; run zkrsync abort on it"
                    )),
                },
                Ok(_) => {}
                Err(_) => {} // gone: the session is being cleaned up
            },
            ViewWhy::Children(dir) => {
                if let Ok(ZkReply::Children(names)) = result {
                    self.on_children(dir, names);
                }
            }
            ViewWhy::DestRead(id) => match result {
                Ok(ZkReply::Data(data)) => {
                    match DestRecord::decode(&data) {
                        Ok(record) => {
                            if self.view.dests.contains_key(&id) {
                                self.view.dests.insert(id, Some(record));
                            }
                        }
                        Err(e) => self
                            .core
                            .reqs
                            .log(Level::Warn, format!("destination {id} ignored: {e}")),
                    }
                    self.on_view_changed();
                }
                _ => {
                    self.view.dests.remove(&id);
                }
            },
        }
    }

    pub(super) fn on_children(&mut self, dir: Dir, names: Vec<String>) {
        for id in self.view.set_children(dir, names) {
            self.read_dest(id);
        }
        self.on_view_changed();
    }

    fn read_dest(&mut self, id: String) {
        let path = self.cfg.layout.entry(Dir::Dests, &id);
        let op = self.watches.get_data(path);
        self.core.reqs.send(op, Why::View(ViewWhy::DestRead(id)));
    }

    pub(super) fn read_plan(&mut self) {
        let op = self.watches.get_data(self.cfg.layout.plan());
        self.core.reqs.send(op, Why::View(ViewWhy::PlanRead));
    }

    /// A watch fired: read again what it was on.
    pub(super) fn on_watch(&mut self, path: String, kind: WatchKind) {
        self.watches.fired(&path, kind);
        if !self.core.joined {
            return;
        }
        let l = self.cfg.layout.clone();
        if path == l.stop() {
            if kind != WatchKind::Deleted {
                self.watch_stop();
            }
        } else if path == l.plan() && kind != WatchKind::ChildrenChanged {
            self.read_plan();
        } else if path == l.election() {
            self.list_election();
        } else if let Some((dir, name)) = l.entry_of(&path) {
            match dir {
                Dir::Election => self.list_election(),
                Dir::Dests if kind == WatchKind::Deleted => {
                    self.view.dests.remove(name);
                    self.on_view_changed();
                }
                Dir::Dests if self.view.dests.contains_key(name) => self.read_dest(name.to_owned()),
                _ => {}
            }
        } else if kind == WatchKind::ChildrenChanged {
            if let Some(dir) = l.dir_of(&path) {
                self.children_watch(dir);
            }
        }
    }
}
