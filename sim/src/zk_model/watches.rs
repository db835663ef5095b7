//! One-shot watches, per registration, as a client of zookeeper-client sees them: every
//! request that leaves a watch gets its own notification.

use zkrsync_core::protocol::WatchKind;

use super::{Notification, SessionId};

/// What kind of request left a watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    /// `getData`: fires on data change and deletion.
    Data,
    /// `exists`: fires on creation, data change and deletion.
    Exists,
    /// `getChildren`: fires on a child change and on deletion of the node itself.
    Children,
}

impl Registered {
    fn fires_on(self, kind: WatchKind) -> bool {
        matches!(
            (self, kind),
            (
                Registered::Data,
                WatchKind::DataChanged | WatchKind::Deleted
            ) | (
                Registered::Exists,
                WatchKind::Created | WatchKind::DataChanged | WatchKind::Deleted
            ) | (
                Registered::Children,
                WatchKind::ChildrenChanged | WatchKind::Deleted
            )
        )
    }
}

#[derive(Debug, Clone)]
struct Registration {
    session: SessionId,
    path: String,
    kind: Registered,
}

/// The watches left, in the order they were left.
#[derive(Debug, Clone, Default)]
pub struct Watches {
    registrations: Vec<Registration>,
}

impl Watches {
    /// Leaves a watch.
    pub fn add(&mut self, session: SessionId, path: &str, kind: Registered) {
        self.registrations.push(Registration {
            session,
            path: path.to_owned(),
            kind,
        });
    }

    /// Fires (and removes) the watches on `path` that `kind` triggers, appending a
    /// notification for each to `out`.
    pub fn fire(&mut self, path: &str, kind: WatchKind, out: &mut Vec<Notification>) {
        self.registrations.retain(|r| {
            if r.path == path && r.kind.fires_on(kind) {
                out.push(Notification {
                    session: r.session,
                    path: path.to_owned(),
                    kind,
                });
                false
            } else {
                true
            }
        });
    }

    /// Drops every watch of a session that ended.
    pub fn drop_session(&mut self, session: SessionId) {
        self.registrations.retain(|r| r.session != session);
    }
}
