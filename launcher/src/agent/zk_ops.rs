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

/// Whether `e` says that no server answered a request in time (see PITFALLS.md): for the
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
        } => {
            // A one-operation multi: its future borrows only the client, not the path.
            let mut writer = client.new_multi_writer();
            let acls = if zk.shared.contains(&path) {
                zookeeper_client::Acls::anyone_all()
            } else {
                zk.acls
            };
            let options = mode(m).with_acls(acls);
            if let Err(e) = writer.add_create(&path, &data, &options) {
                let e = map_error(&e);
                return Box::pin(async move { done(id, Err(e)) });
            }
            let fut = writer.commit();
            Box::pin(async move {
                let result = match fut.await {
                    Ok(mut results) => match results.pop() {
                        Some(zk::MultiWriteResult::Create { path, .. }) => {
                            Ok(ZkReply::Created(path))
                        }
                        other => Err(ZkError::Other(format!(
                            "unexpected create result {other:?}"
                        ))),
                    },
                    Err(zk::MultiWriteError::OperationFailed { source, .. }) => {
                        Err(map_error(&source))
                    }
                    Err(zk::MultiWriteError::RequestFailed { source }) => Err(map_error(&source)),
                };
                done(id, result)
            })
        }
        ZkOp::Delete { path } => {
            let fut = client.delete(&path, None);
            Box::pin(async move {
                done(
                    id,
                    fut.await.map(|_| ZkReply::Done).map_err(|e| map_error(&e)),
                )
            })
        }
        ZkOp::SetData { path, data } => {
            let fut = client.set_data(&path, &data, None);
            Box::pin(async move {
                done(
                    id,
                    fut.await.map(|_| ZkReply::Done).map_err(|e| map_error(&e)),
                )
            })
        }
        ZkOp::GetData { path, watch: false } => {
            let fut = client.get_data(&path);
            Box::pin(async move {
                done(
                    id,
                    fut.await
                        .map(|(d, _)| ZkReply::Data(d))
                        .map_err(|e| map_error(&e)),
                )
            })
        }
        ZkOp::GetData { path, watch: true } => {
            let fut = client.get_and_watch_data(&path);
            Box::pin(async move {
                match fut.await {
                    Ok((data, _, w)) => Replied {
                        input: Input::Reply {
                            id,
                            result: Ok(ZkReply::Data(data)),
                        },
                        watch: Some(w),
                    },
                    Err(e) => done(id, Err(map_error(&e))),
                }
            })
        }
        ZkOp::GetChildren { path, watch: false } => {
            let fut = client.list_children(&path);
            Box::pin(async move {
                done(
                    id,
                    fut.await.map(ZkReply::Children).map_err(|e| map_error(&e)),
                )
            })
        }
        ZkOp::GetChildren { path, watch: true } => {
            let fut = client.list_and_watch_children(&path);
            Box::pin(async move {
                match fut.await {
                    Ok((names, w)) => Replied {
                        input: Input::Reply {
                            id,
                            result: Ok(ZkReply::Children(names)),
                        },
                        watch: Some(w),
                    },
                    Err(e) => done(id, Err(map_error(&e))),
                }
            })
        }
        ZkOp::Exists { path, watch: false } => {
            let fut = client.check_stat(&path);
            Box::pin(async move {
                done(
                    id,
                    fut.await
                        .map(|s| ZkReply::Exists(s.is_some()))
                        .map_err(|e| map_error(&e)),
                )
            })
        }
        ZkOp::Exists { path, watch: true } => {
            let fut = client.check_and_watch_stat(&path);
            Box::pin(async move {
                match fut.await {
                    Ok((stat, w)) => Replied {
                        input: Input::Reply {
                            id,
                            result: Ok(ZkReply::Exists(stat.is_some())),
                        },
                        watch: Some(w),
                    },
                    Err(e) => done(id, Err(map_error(&e))),
                }
            })
        }
        ZkOp::Multi(ops) => {
            let mut writer = client.new_multi_writer();
            for op in &ops {
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
    }
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
