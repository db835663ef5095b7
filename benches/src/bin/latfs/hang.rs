//! `--hang NAME`: the model of a hung NFS server. A lookup of an entry named NAME, and a read
//! of such a file (reached by another name of it, a hard link), gets no reply until the file
//! system is unmounted; then every held request fails with EIO, as do those that come later.
//! Held replies take no worker thread.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::sync::Mutex;

use fuser::{Errno, ReplyData, ReplyEntry};

/// A reply that is held.
#[derive(Debug)]
pub enum Held {
    /// Of a lookup.
    Entry(ReplyEntry),
    /// Of a read.
    Data(ReplyData),
}

impl Held {
    fn fail(self) {
        match self {
            Held::Entry(reply) => reply.error(Errno::EIO),
            Held::Data(reply) => reply.error(Errno::EIO),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// None once released: nothing is held any more.
    held: Option<Vec<Held>>,
    /// Node ids of inodes met under the name (in a listing or a lookup).
    nodes: HashSet<u64>,
}

/// The name whose requests hang, and the replies held so far.
#[derive(Debug)]
pub struct Hang {
    name: OsString,
    state: Mutex<State>,
}

impl Hang {
    /// Requests about entries named `name` will hang.
    pub fn new(name: OsString) -> Hang {
        Hang {
            name,
            state: Mutex::new(State {
                held: Some(Vec::new()),
                nodes: HashSet::new(),
            }),
        }
    }

    /// Is `name` the name that hangs?
    pub fn is_hung_name(&self, name: &OsStr) -> bool {
        name == self.name
    }

    /// Node `id` was met under the name: reads of it will hang.
    pub fn mark(&self, id: u64) {
        self.lock().nodes.insert(id);
    }

    /// Do reads of node `id` hang?
    pub fn is_hung_node(&self, id: u64) -> bool {
        self.lock().nodes.contains(&id)
    }

    /// Holds `reply` until [`Hang::release`], saying so on stderr (`what` names the request);
    /// fails it at once when already released.
    pub fn hold(&self, reply: Held, what: &str) {
        let mut state = self.lock();
        match state.held.as_mut() {
            Some(held) => {
                eprintln!("latfs: holding {what} until unmounted");
                held.push(reply);
            }
            None => reply.fail(),
        }
    }

    /// Fails every held reply with EIO, and every later one at once.
    pub fn release(&self) {
        let held = self.lock().held.take().unwrap_or_default();
        for reply in held {
            reply.fail();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("hang state lock")
    }
}
