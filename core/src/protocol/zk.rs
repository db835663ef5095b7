//! The ZooKeeper requests a machine makes and the replies it gets: what a driver carries
//! out with a real client (`launcher/src/agent/zk_ops.rs`) or the simulator's model.

/// How a znode is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateMode {
    /// Stays until deleted.
    Persistent,
    /// Stays until deleted; the server appends a 10-digit sequence number to the name.
    PersistentSequential,
    /// Deleted by the server when the creating session ends.
    Ephemeral,
    /// Ephemeral, with a sequence number appended to the name.
    EphemeralSequential,
}

/// One operation of a [`ZkOp::Multi`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiOp {
    /// Create a znode.
    Create {
        /// Full path.
        path: String,
        /// Data.
        data: Vec<u8>,
        /// Mode.
        mode: CreateMode,
    },
    /// Delete a znode (any version).
    Delete {
        /// Full path.
        path: String,
    },
    /// Replace a znode's data (any version).
    SetData {
        /// Full path.
        path: String,
        /// Data.
        data: Vec<u8>,
    },
}

/// A ZooKeeper request. Paths are absolute within the client's chroot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZkOp {
    /// Create a znode; replies [`ZkReply::Created`] with the actual path.
    Create {
        /// Full path (for sequential modes, the prefix).
        path: String,
        /// Data.
        data: Vec<u8>,
        /// Mode.
        mode: CreateMode,
    },
    /// Delete a znode of any version; replies [`ZkReply::Done`].
    Delete {
        /// Full path.
        path: String,
    },
    /// Replace a znode's data; replies [`ZkReply::Done`].
    SetData {
        /// Full path.
        path: String,
        /// Data.
        data: Vec<u8>,
    },
    /// Read a znode's data; replies [`ZkReply::Data`]. With `watch`, a one-shot data watch
    /// (changed or deleted) is left when the node exists.
    GetData {
        /// Full path.
        path: String,
        /// Leave a watch.
        watch: bool,
    },
    /// List a znode's children (names only); replies [`ZkReply::Children`]. With `watch`, a
    /// one-shot child watch is left when the node exists.
    GetChildren {
        /// Full path.
        path: String,
        /// Leave a watch.
        watch: bool,
    },
    /// Does a znode exist; replies [`ZkReply::Exists`]. With `watch`, a one-shot watch for
    /// its creation, change or deletion is left either way.
    Exists {
        /// Full path.
        path: String,
        /// Leave a watch.
        watch: bool,
    },
    /// Several operations applied atomically; replies [`ZkReply::Multi`] when all succeed,
    /// [`ZkError::MultiFailed`] otherwise.
    Multi(Vec<MultiOp>),
}

impl ZkOp {
    /// The path the operation is about (a multi's first operation's).
    pub fn path(&self) -> &str {
        match self {
            ZkOp::Create { path, .. }
            | ZkOp::Delete { path }
            | ZkOp::SetData { path, .. }
            | ZkOp::GetData { path, .. }
            | ZkOp::GetChildren { path, .. }
            | ZkOp::Exists { path, .. } => path,
            ZkOp::Multi(ops) => match ops.first() {
                Some(
                    MultiOp::Create { path, .. }
                    | MultiOp::Delete { path }
                    | MultiOp::SetData { path, .. },
                ) => path,
                None => "",
            },
        }
    }
}

/// A successful reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZkReply {
    /// Created, at this path (which has the sequence number for sequential modes).
    Created(String),
    /// Deleted, data set, or multi applied.
    Done,
    /// A znode's data.
    Data(Vec<u8>),
    /// A znode's children, by name.
    Children(Vec<String>),
    /// Whether the znode exists.
    Exists(bool),
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZkError {
    /// The znode (or, for a create, its parent) does not exist.
    NoNode,
    /// The znode exists already.
    NodeExists,
    /// The znode has children.
    NotEmpty,
    /// The ACL does not allow this.
    NoAuth,
    /// The session has expired: nothing more can be done with it.
    SessionExpired,
    /// The connection was lost before the reply came: the request may or may not have been
    /// applied.
    ConnectionLoss,
    /// A multi failed as a whole; the error of the first failing operation and its index.
    MultiFailed {
        /// Index of the first operation that failed.
        index: usize,
        /// Its error.
        error: Box<ZkError>,
    },
    /// Anything else, with the client's message.
    Other(String),
}

impl std::fmt::Display for ZkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ZkError::NoNode => f.write_str("no such znode"),
            ZkError::NodeExists => f.write_str("znode exists"),
            ZkError::NotEmpty => f.write_str("znode has children"),
            ZkError::NoAuth => f.write_str("not authorized"),
            ZkError::SessionExpired => f.write_str("session expired"),
            ZkError::ConnectionLoss => f.write_str("connection lost"),
            ZkError::MultiFailed { index, error } => {
                write!(f, "operation {index} of a multi failed: {error}")
            }
            ZkError::Other(message) => f.write_str(message),
        }
    }
}
