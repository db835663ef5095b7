//! Carries out the core's ZooKeeper requests with zookeeper-client.
//!
//! Every request is sent when [`start`] is called (zookeeper-client sends at call time), so
//! requests reach the server in the order the machine asked for them; the returned future
//! only waits for the reply.

use std::future::Future;
use std::pin::Pin;

use zkrsync_core::protocol::{
    CreateMode, Input, MultiOp, ReqId, WatchKind, ZkError, ZkOp, ZkReply,
};
use zookeeper_client as zk;

use crate::agent::zk_connect::Zk;

/// A reply, and the watch the request left, if any.
pub struct Replied {
    /// The input for the machine.
    pub input: Input,
    /// The watch to wait on next.
    pub watch: Option<zk::OneshotWatcher>,
}

/// A future that borrows the client.
pub type ReplyFuture<'a> = Pin<Box<dyn Future<Output = Replied> + Send + 'a>>;

/// Maps a client error to the core's.
pub fn map_error(e: &zk::Error) -> ZkError {
    match e {
        zk::Error::NoNode => ZkError::NoNode,
        zk::Error::NodeExists => ZkError::NodeExists,
        zk::Error::NotEmpty => ZkError::NotEmpty,
        zk::Error::NoAuth => ZkError::NoAuth,
        zk::Error::SessionExpired | zk::Error::ClientClosed => ZkError::SessionExpired,
        zk::Error::ConnectionLoss | zk::Error::Timeout => ZkError::ConnectionLoss,
        other if no_server_answered(other) => ZkError::ConnectionLoss,
        other => ZkError::Other(other.to_string()),
    }
}

/// Whether `e` says that no server answered a request in time (see docs/pitfalls.md): for the
/// core, a lost connection.
///
/// zookeeper-client 0.11 has no variant for this: its session loop gives up with
/// `Error::Custom`, made by `Error::with_message(format!("no response from connection in
/// {}ms", ..))` (src/session/mod.rs), and the `CustomError` it holds is opaque (private
/// fields, its type not exported), its message the only thing to look at. So the variant
/// is matched, and its message read by [`is_no_response`].
fn no_server_answered(e: &zk::Error) -> bool {
    matches!(e, zk::Error::Custom(custom) if is_no_response(&custom.to_string()))
}

/// Whether the message of a `zk::Error::Custom` is zookeeper-client's "no response from
/// connection in {N}ms" (its other custom messages, such as "encounter writable server
/// …", are not).
fn is_no_response(message: &str) -> bool {
    message.contains("no response")
}

fn mode(m: CreateMode) -> zk::CreateMode {
    match m {
        CreateMode::Persistent => zk::CreateMode::Persistent,
        CreateMode::PersistentSequential => zk::CreateMode::PersistentSequential,
        CreateMode::Ephemeral => zk::CreateMode::Ephemeral,
        CreateMode::EphemeralSequential => zk::CreateMode::EphemeralSequential,
    }
}

/// Maps a watch event.
pub fn watch_input(event: zk::WatchedEvent) -> Option<Input> {
    let kind = match event.event_type {
        zk::EventType::Session => return None,
        zk::EventType::NodeCreated => WatchKind::Created,
        zk::EventType::NodeDeleted => WatchKind::Deleted,
        zk::EventType::NodeDataChanged => WatchKind::DataChanged,
        zk::EventType::NodeChildrenChanged => WatchKind::ChildrenChanged,
    };
    Some(Input::Watch {
        path: event.path,
        kind,
    })
}

fn done(id: ReqId, result: Result<ZkReply, ZkError>) -> Replied {
    Replied {
        input: Input::Reply { id, result },
        watch: None,
    }
}

/// Sends `op` now; the future yields its reply.
pub fn start<'a>(zk: &'a Zk, id: ReqId, op: ZkOp) -> ReplyFuture<'a> {
    let client = &zk.client;
    match op {
        ZkOp::Create {
            path,
            data,
            mode: m,
        } => create(zk, id, &path, &data, m),
        ZkOp::Delete { path } => answer(id, client.delete(&path, None), |()| ZkReply::Done),
        ZkOp::SetData { path, data } => {
            answer(id, client.set_data(&path, &data, None), |_| ZkReply::Done)
        }
        ZkOp::GetData { path, watch: false } => {
            answer(id, client.get_data(&path), |(d, _)| ZkReply::Data(d))
        }
        ZkOp::GetData { path, watch: true } => {
            answer_watched(id, client.get_and_watch_data(&path), |(d, _, w)| {
                (ZkReply::Data(d), w)
            })
        }
        ZkOp::GetChildren { path, watch: false } => {
            answer(id, client.list_children(&path), ZkReply::Children)
        }
        ZkOp::GetChildren { path, watch: true } => {
            answer_watched(id, client.list_and_watch_children(&path), |(names, w)| {
                (ZkReply::Children(names), w)
            })
        }
        ZkOp::Exists { path, watch: false } => answer(id, client.check_stat(&path), |s| {
            ZkReply::Exists(s.is_some())
        }),
        ZkOp::Exists { path, watch: true } => {
            answer_watched(id, client.check_and_watch_stat(&path), |(s, w)| {
                (ZkReply::Exists(s.is_some()), w)
            })
        }
        ZkOp::Multi(ops) => multi(zk, id, &ops),
    }
}

/// The reply of a request that leaves no watch: `reply` makes the core's reply of the
/// client's answer.
fn answer<'a, T>(
    id: ReqId,
    request: impl Future<Output = Result<T, zk::Error>> + Send + 'a,
    reply: impl FnOnce(T) -> ZkReply + Send + 'a,
) -> ReplyFuture<'a> {
    Box::pin(async move { done(id, request.await.map(reply).map_err(|e| map_error(&e))) })
}

/// The reply of a request that leaves a watch: `reply` makes the core's reply and the
/// watch of the client's answer.
fn answer_watched<'a, T>(
    id: ReqId,
    request: impl Future<Output = Result<T, zk::Error>> + Send + 'a,
    reply: impl FnOnce(T) -> (ZkReply, zk::OneshotWatcher) + Send + 'a,
) -> ReplyFuture<'a> {
    Box::pin(async move {
        match request.await {
            Ok(answer) => {
                let (result, watch) = reply(answer);
                Replied {
                    input: Input::Reply {
                        id,
                        result: Ok(result),
                    },
                    watch: Some(watch),
                }
            }
            Err(e) => done(id, Err(map_error(&e))),
        }
    })
}

/// A create, sent as a one-operation multi: its future borrows only the client, not the
/// path. A path of [`Zk::shared`] is open to anyone; every other gets the session's ACL.
fn create<'a>(zk: &'a Zk, id: ReqId, path: &str, data: &[u8], m: CreateMode) -> ReplyFuture<'a> {
    let mut writer = zk.client.new_multi_writer();
    let acls = if zk.shared.iter().any(|s| s == path) {
        zookeeper_client::Acls::anyone_all()
    } else {
        zk.acls
    };
    let options = mode(m).with_acls(acls);
    if let Err(e) = writer.add_create(path, data, &options) {
        let e = map_error(&e);
        return Box::pin(async move { done(id, Err(e)) });
    }
    let fut = writer.commit();
    Box::pin(async move {
        let result = match fut.await {
            Ok(mut results) => match results.pop() {
                Some(zk::MultiWriteResult::Create { path, .. }) => Ok(ZkReply::Created(path)),
                other => Err(ZkError::Other(format!(
                    "unexpected create result {other:?}"
                ))),
            },
            Err(zk::MultiWriteError::OperationFailed { source, .. }) => Err(map_error(&source)),
            Err(zk::MultiWriteError::RequestFailed { source }) => Err(map_error(&source)),
        };
        done(id, result)
    })
}

/// A multi: every operation or none; a failed one is named by its index.
fn multi<'a>(zk: &'a Zk, id: ReqId, ops: &[MultiOp]) -> ReplyFuture<'a> {
    let mut writer = zk.client.new_multi_writer();
    for op in ops {
        let added = match op {
            MultiOp::Create {
                path,
                data,
                mode: m,
            } => {
                let options = mode(*m).with_acls(zk.acls);
                writer.add_create(path, data, &options)
            }
            MultiOp::Delete { path } => writer.add_delete(path, None),
            MultiOp::SetData { path, data } => writer.add_set_data(path, data, None),
        };
        if let Err(e) = added {
            let e = map_error(&e);
            return Box::pin(async move { done(id, Err(e)) });
        }
    }
    let fut = writer.commit();
    Box::pin(async move {
        let result = match fut.await {
            Ok(_) => Ok(ZkReply::Done),
            Err(zk::MultiWriteError::OperationFailed { index, source }) => {
                Err(ZkError::MultiFailed {
                    index,
                    error: Box::new(map_error(&source)),
                })
            }
            Err(zk::MultiWriteError::RequestFailed { source }) => Err(map_error(&source)),
        };
        done(id, result)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_no_server_answered_is_a_lost_connection() {
        // The message as zookeeper-client 0.11 formats it (src/session/mod.rs).
        assert!(is_no_response(&format!(
            "no response from connection in {}ms",
            6666
        )));
        assert!(!is_no_response("encounter writable server 127.0.0.1:2181"));
    }

    #[test]
    fn typed_errors_map_by_their_variant() {
        for (e, want) in [
            (zk::Error::NoNode, ZkError::NoNode),
            (zk::Error::NodeExists, ZkError::NodeExists),
            (zk::Error::NotEmpty, ZkError::NotEmpty),
            (zk::Error::NoAuth, ZkError::NoAuth),
            (zk::Error::SessionExpired, ZkError::SessionExpired),
            (zk::Error::ClientClosed, ZkError::SessionExpired),
            (zk::Error::ConnectionLoss, ZkError::ConnectionLoss),
            (zk::Error::Timeout, ZkError::ConnectionLoss),
            (
                zk::Error::BadVersion,
                ZkError::Other("mismatch version".to_owned()),
            ),
            (
                zk::Error::UnexpectedError("no response, but not Custom".to_owned()),
                ZkError::Other("unexpected error: no response, but not Custom".to_owned()),
            ),
        ] {
            assert_eq!(map_error(&e), want, "{e:?}");
        }
    }
}
