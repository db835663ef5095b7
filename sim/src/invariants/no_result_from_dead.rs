//! 2. No result from the dead: a result (done, failed, a try) is only ever recorded by the
//!    session that holds the chunk's claim, and a worker that learns its session expired has
//!    no rsync running once it has handled that news.

use super::{Check, Violation};
use zkrsync_core::protocol::layout::{self, Dir, Layout};
use zkrsync_core::protocol::{MultiOp, ZkOp};

const NAME: &str = "no-result-from-the-dead";

/// The chunk whose result `op` records, if it records one.
pub fn recorded_chunk(layout: &Layout, op: &ZkOp) -> Option<String> {
    let ZkOp::Multi(ops) = op else { return None };
    ops.iter().find_map(|o| match o {
        MultiOp::Create { path, .. } => match layout.entry_of(path)? {
            (Dir::Done | Dir::Failed, name) => Some(name.to_owned()),
            (Dir::Tries, name) => Some(layout::parse_try(name)?.0.to_owned()),
            _ => None,
        },
        _ => None,
    })
}

/// After a result was recorded: the recording session held the claim just before.
pub fn check_recorded(
    chunk: &str,
    claim_owner_before: Option<u64>,
    session: u64,
    applied: bool,
) -> Check {
    if applied && claim_owner_before != Some(session) {
        return Err(Violation::new(
            NAME,
            format!(
                "session {session:#x} recorded a result for chunk {chunk} without holding its claim (claim owner before: {claim_owner_before:?})"
            ),
        ));
    }
    Ok(())
}

/// After a client handled the expiry of its session: none of its rsyncs still runs.
pub fn check_after_expiry(client: &str, running_unkilled: &[String]) -> Check {
    if running_unkilled.is_empty() {
        Ok(())
    } else {
        Err(Violation::new(
            NAME,
            format!(
                "{client} learned that its session expired but left rsync running for chunk(s) {}",
                running_unkilled.join(", ")
            ),
        ))
    }
}
