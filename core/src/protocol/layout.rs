//! Where a session lives in ZooKeeper.
//!
//! Under `<base>/<session>/`:
//!
//! | znode | kind | holds |
//! |---|---|---|
//! | `config` | persistent | the session parameters, written once by the first source |
//! | `election/s-<seq>` | ephemeral sequential | one per source; the lowest is the master |
//! | `dests/<id>` | ephemeral | a destination's address, port, module and state |
//! | `plan` | persistent | `building` or `ready`, the chunk and unit counts |
//! | `plan/<index>` | persistent | one chunk of units ([`crate::plan::Chunk`]) |
//! | `claims/<chunk>` | ephemeral | the worker that owns the chunk now |
//! | `slots/<dest>` | ephemeral | the worker that is copying to that destination now |
//! | `tries/<chunk>~<dest>~<seq>` | persistent sequential | one failed attempt |
//! | `done/<chunk>` | persistent | the chunk's rsync stats |
//! | `failed/<chunk>` | persistent | the chunk's last error, after `--attempts` tries |
//! | `stop` | persistent | `done` or `abort`: every client leaves |

/// The paths of one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    base: String,
    session: String,
    root: String,
}

/// The directories of a session, in creation order (parents first).
pub const DIRS: [&str; 8] = [
    "election", "dests", "plan", "claims", "slots", "tries", "done", "failed",
];

/// Why a base path or session name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// The session name.
    #[error("session name {0:?} is not valid: use 1-100 letters, digits, '.', '_' or '-' (not '.' or '..')")]
    BadSession(String),
    /// The base path.
    #[error("base path {0:?} is not valid: give an absolute ZooKeeper path such as /zkrsync, without a trailing '/'")]
    BadBase(String),
}

impl Layout {
    /// The layout of `session` under `base`.
    pub fn new(base: &str, session: &str) -> Result<Layout, LayoutError> {
        let session_ok = !session.is_empty()
            && session.len() <= 100
            && session != "."
            && session != ".."
            && session
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
        if !session_ok {
            return Err(LayoutError::BadSession(session.to_owned()));
        }
        let base_ok = base.starts_with('/')
            && (base == "/"
                || (!base.ends_with('/')
                    && base[1..].split('/').all(|c| {
                        !c.is_empty()
                            && c != "."
                            && c != ".."
                            && c != "zookeeper"
                            && !c.contains(|ch: char| ch.is_control())
                    })));
        if !base_ok {
            return Err(LayoutError::BadBase(base.to_owned()));
        }
        let root = if base == "/" {
            format!("/{session}")
        } else {
            format!("{base}/{session}")
        };
        Ok(Layout {
            base: base.to_owned(),
            session: session.to_owned(),
            root,
        })
    }

    /// The session's name.
    pub fn session(&self) -> &str {
        &self.session
    }

    /// The session's znode.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The base and every ancestor of it, top down (to create them when missing).
    pub fn base_ancestors(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut path = String::new();
        for component in self.base.split('/').filter(|c| !c.is_empty()) {
            path.push('/');
            path.push_str(component);
            out.push(path.clone());
        }
        out
    }

    /// A path below the session's znode.
    pub fn at(&self, rel: &str) -> String {
        format!("{}/{rel}", self.root)
    }

    /// `config`.
    pub fn config(&self) -> String {
        self.at("config")
    }
    /// `stop`.
    pub fn stop(&self) -> String {
        self.at("stop")
    }
    /// `summary`: the session's outcome, written before the master deletes results.
    pub fn summary(&self) -> String {
        self.at("summary")
    }
    /// `plan`.
    pub fn plan(&self) -> String {
        self.at("plan")
    }
    /// `election`.
    pub fn election(&self) -> String {
        self.at("election")
    }
    /// `dests`.
    pub fn dests(&self) -> String {
        self.at("dests")
    }
    /// `claims`.
    pub fn claims(&self) -> String {
        self.at("claims")
    }
    /// `slots`.
    pub fn slots(&self) -> String {
        self.at("slots")
    }
    /// `tries`.
    pub fn tries(&self) -> String {
        self.at("tries")
    }
    /// `done`.
    pub fn done(&self) -> String {
        self.at("done")
    }
    /// `failed`.
    pub fn failed(&self) -> String {
        self.at("failed")
    }
    /// `<dir>/<name>`.
    pub fn child(&self, dir: &str, name: &str) -> String {
        format!("{}/{dir}/{name}", self.root)
    }
}

/// The name of chunk number `index`: fixed width, so names sort by index.
pub fn chunk_name(index: u64) -> String {
    format!("{index:010}")
}

/// The index of a chunk name.
pub fn chunk_index(name: &str) -> Option<u64> {
    (name.len() == 10 && name.bytes().all(|b| b.is_ascii_digit()))
        .then(|| name.parse().ok())
        .flatten()
}

/// The name prefix of a failed attempt of `chunk` on `dest` (the server appends a sequence).
pub fn try_prefix(chunk: &str, dest: &str) -> String {
    format!("{chunk}~{dest}~")
}

/// The chunk and destination of a `tries` child name.
pub fn parse_try(name: &str) -> Option<(&str, &str)> {
    let mut parts = name.splitn(3, '~');
    let chunk = parts.next()?;
    let dest = parts.next()?;
    parts.next()?;
    Some((chunk, dest))
}

/// The sequence number of an `election` child name (`s-<seq>`).
pub fn election_seq(name: &str) -> Option<u64> {
    name.rsplit('-').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let l = Layout::new("/zkrsync", "s1").unwrap();
        assert_eq!(l.root(), "/zkrsync/s1");
        assert_eq!(
            l.child("claims", "0000000003"),
            "/zkrsync/s1/claims/0000000003"
        );
        assert_eq!(l.base_ancestors(), vec!["/zkrsync".to_owned()]);
        let deep = Layout::new("/a/b", "x").unwrap();
        assert_eq!(
            deep.base_ancestors(),
            vec!["/a".to_owned(), "/a/b".to_owned()]
        );
        assert_eq!(Layout::new("/", "x").unwrap().root(), "/x");
    }

    #[test]
    fn refuses_bad_names() {
        for bad in ["", ".", "..", "a/b", "a b", "é"] {
            assert!(Layout::new("/zkrsync", bad).is_err(), "{bad:?}");
        }
        for bad in ["", "zkrsync", "/a/", "//a", "/a/../b", "/zookeeper"] {
            assert!(Layout::new(bad, "s").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(chunk_index(&chunk_name(42)), Some(42));
        assert_eq!(chunk_index("42"), None);
        assert_eq!(
            parse_try("0000000001~d-1~0000000007"),
            Some(("0000000001", "d-1"))
        );
        assert_eq!(parse_try("junk"), None);
        assert_eq!(election_seq("s-0000000012"), Some(12));
    }
}
