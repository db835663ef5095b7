//! Bookkeeping shared by the machines: request ids, what each pending request was for, and
//! the queue of outputs.

use std::collections::{HashMap, VecDeque};

use super::{JobId, Level, Output, ReqId, ZkOp};

/// Pending requests of one machine, each with what it was for (`P`), and its outputs.
#[derive(Debug)]
pub(crate) struct Requests<P> {
    next_req: u64,
    next_job: u64,
    pending: HashMap<ReqId, P>,
    sent: HashMap<ReqId, ZkOp>,
    out: VecDeque<Output>,
}

impl<P> Requests<P> {
    pub(crate) fn new() -> Self {
        Requests {
            next_req: 1,
            next_job: 1,
            pending: HashMap::new(),
            sent: HashMap::new(),
            out: VecDeque::new(),
        }
    }

    /// Sends `op`; its reply will be matched to `why`.
    pub(crate) fn send(&mut self, op: ZkOp, why: P) -> ReqId {
        let id = ReqId(self.next_req);
        self.next_req += 1;
        self.pending.insert(id, why);
        self.sent.insert(id, op.clone());
        self.out.push_back(Output::Zk { id, op });
        id
    }

    /// What the request `id` was for, once; None for replies from a forgotten session.
    pub(crate) fn take(&mut self, id: ReqId) -> Option<(P, ZkOp)> {
        let why = self.pending.remove(&id)?;
        let op = self.sent.remove(&id)?;
        Some((why, op))
    }

    /// Forgets every pending request (their session is gone).
    pub(crate) fn forget_all(&mut self) {
        self.pending.clear();
        self.sent.clear();
    }

    pub(crate) fn job_id(&mut self) -> JobId {
        let id = JobId(self.next_job);
        self.next_job += 1;
        id
    }

    pub(crate) fn push(&mut self, output: Output) {
        self.out.push_back(output);
    }

    pub(crate) fn log(&mut self, level: Level, message: impl Into<String>) {
        self.out.push_back(Output::Log {
            level,
            message: message.into(),
        });
    }

    pub(crate) fn pop(&mut self) -> Option<Output> {
        self.out.pop_front()
    }
}
