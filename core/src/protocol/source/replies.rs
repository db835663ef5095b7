//! What a failed request means to a source, before the concern that sent it sees the
//! reply: a refusal ends the source, an expired session is given up, a write whose outcome
//! is unknown gives the session up, a read is simply sent again.

use super::{Source, Why};
use crate::protocol::{Level, ZkError, ZkOp, ZkReply};

impl Source {
    pub(super) fn on_reply(&mut self, why: Why, op: ZkOp, result: Result<ZkReply, ZkError>) {
        if let Why::Live(why) = why {
            // Best effort: no failure of live progress gives the session up.
            return self.on_live_reply(why, result);
        }
        let result = match result {
            Err(ZkError::NoAuth) => {
                let message = self
                    .core
                    .not_authorized(op.path(), ", or use another --session");
                return self.fail_config(message);
            }
            Err(ZkError::SessionExpired) => {
                self.core.reqs.log(
                    Level::Warn,
                    "ZooKeeper session expired: joining again with a new session",
                );
                return self.restart_session();
            }
            Err(e @ (ZkError::ConnectionLoss | ZkError::Other(_))) => {
                if is_read(&op) {
                    // Just ask again (the client queues it until it reconnects).
                    let op = self.watches.retry(op);
                    self.core.reqs.send(op, why);
                } else {
                    self.core.reqs.log(
                        Level::Warn,
                        format!("ZooKeeper request on {} ended in doubt ({e}): starting over with a new session", op.path()),
                    );
                    self.restart_session();
                }
                return;
            }
            other => other,
        };
        if matches!(result, Err(ZkError::NoNode)) {
            self.watches.found_no_node(&op);
        }
        match why {
            Why::Session(why) => self.on_session_reply(why, &op, result),
            Why::Election(why) => self.on_election_reply(why, result),
            Why::View(why) => self.on_view_reply(why, result),
            Why::Worker(why) => self.on_worker_reply(why, result),
            Why::Master(why) => self.on_master_reply(why, op, result),
            Why::Finished(why) => self.on_finished_reply(why, result),
            Why::Live(why) => self.on_live_reply(why, result),
        }
    }
}

fn is_read(op: &ZkOp) -> bool {
    matches!(
        op,
        ZkOp::GetData { .. } | ZkOp::GetChildren { .. } | ZkOp::Exists { .. }
    )
}
