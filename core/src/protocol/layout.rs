//! Where a session lives in ZooKeeper.
//!
//! Under `<base>/<session>/`:
//!
//! | znode | kind | holds |
//! |---|---|---|
//! | `config` | persistent | the session parameters, written once by the first source |
//! | `election/s-<seq>` | ephemeral sequential | one per source; the lowest is the master |
//! | `dests/<id>` | ephemeral | a destination's address, port, module and state |
//! | `desttree` | persistent | the id of the first destination and the token of the probe file it wrote into its tree (every other destination reads it back from its own) |
//! | `plan` | persistent | `building` or `ready`, the chunk and unit counts |
//! | `plan/<index>` | persistent | one chunk of units ([`crate::plan::Chunk`]) |
//! | `claims/<chunk>` | ephemeral | the worker that owns the chunk now |
//! | `slots/<dest>` | ephemeral | the worker that is copying to that destination now |
//! | `tries/<chunk>~<dest>~<seq>` | persistent sequential | one failed attempt |
//! | `tries/<chunk>~<dest>~back-<seq>` | persistent sequential | one hand-back (destination unreachable) |
//! | `done/<chunk>` | persistent | the chunk's rsync stats |
//! | `failed/<chunk>` | persistent | the chunk's last error, after `--attempts` tries |
//! | `deletes/<chunk>~<n>~<seq>` | persistent sequential | `n` deletions of the session's `--max-delete` budget asked for by a run of the chunk ([`super::delete_budget`]) |
//! | `progress/<election node>` | ephemeral | a worker's live progress in its chunk ([`super::records::LiveRecord`]), at most every [`super::source::LIVE_EVERY`] |
//! | `stop` | persistent | `done` or `abort`: every client leaves |
//! | `summary` | persistent | the outcome, recorded by the master before its cleanup deletes results |
//! | `retried` | persistent | in a session started again with `--retry-failed`: the outcome of the run it retries, merged into this one's at the end |
//! | `outcome` | persistent | a finished session's outcome ([`super::records::OutcomeRecord`]): the final cleanup deletes everything else and leaves the session's znode with only this child (and, when chunks failed, `config`, `plan` and the failed chunks, for `--retry-failed`), for `--keep` |

/// The paths of one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    base: String,
    session: String,
    root: String,
}

/// A directory of a session: its children are the session's chunks, claims, results…
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dir {
    /// `election/s-<seq>`: one ephemeral sequential node per source.
    Election,
    /// `dests/<id>`: one ephemeral node per destination.
    Dests,
    /// `plan/<index>`: the chunks; the directory's own data is the [`PlanRecord`].
    ///
    /// [`PlanRecord`]: super::records::PlanRecord
    Plan,
    /// `claims/<chunk>`: the owner of a chunk.
    Claims,
    /// `slots/<dest>`: the worker copying to a destination.
    Slots,
    /// `tries/<chunk>~<dest>~<seq>`: failed attempts.
    Tries,
    /// `done/<chunk>`: results.
    Done,
    /// `failed/<chunk>`: chunks failed for good.
    Failed,
    /// `deletes/<chunk>~<n>~<seq>`: reservations of the `--max-delete` budget.
    Deletes,
    /// `progress/<election node>`: workers' live progress.
    Progress,
}

impl Dir {
    /// Every directory, in creation order (parents first).
    pub const ALL: [Dir; 10] = [
        Dir::Election,
        Dir::Dests,
        Dir::Plan,
        Dir::Claims,
        Dir::Slots,
        Dir::Tries,
        Dir::Done,
        Dir::Failed,
        Dir::Deletes,
        Dir::Progress,
    ];

    /// Its name under the session's znode.
    pub fn name(self) -> &'static str {
        match self {
            Dir::Election => "election",
            Dir::Dests => "dests",
            Dir::Plan => "plan",
            Dir::Claims => "claims",
            Dir::Slots => "slots",
            Dir::Tries => "tries",
            Dir::Done => "done",
            Dir::Failed => "failed",
            Dir::Deletes => "deletes",
            Dir::Progress => "progress",
        }
    }
}

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
    fn at(&self, rel: &str) -> String {
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
    /// `outcome`: a finished session's outcome, kept after everything else is deleted
    /// ([`super::records::OutcomeRecord`]).
    pub fn outcome(&self) -> String {
        self.at("outcome")
    }
    /// `retried`: in a session started with `--retry-failed`, the outcome of the run it
    /// retries.
    pub fn retried(&self) -> String {
        self.at("retried")
    }
    /// `desttree`: the session's destination tree ([`super::records::DestTreeRecord`]).
    pub fn desttree(&self) -> String {
        self.at("desttree")
    }
    /// A directory of the session.
    pub fn dir(&self, dir: Dir) -> String {
        self.at(dir.name())
    }

    /// `<dir>/<name>`.
    pub fn entry(&self, dir: Dir, name: &str) -> String {
        format!("{}/{}/{name}", self.root, dir.name())
    }

    /// The directory a path is, if it is one of the session's.
    pub fn dir_of(&self, path: &str) -> Option<Dir> {
        Dir::ALL.into_iter().find(|d| self.dir(*d) == path)
    }

    /// The directory and child name of `path`, if it is an entry of one of the session's
    /// directories.
    pub fn entry_of<'p>(&self, path: &'p str) -> Option<(Dir, &'p str)> {
        let rest = path.strip_prefix(self.root.as_str())?.strip_prefix('/')?;
        let (dir, name) = rest.split_once('/')?;
        let dir = Dir::ALL.into_iter().find(|d| d.name() == dir)?;
        (!name.is_empty() && !name.contains('/')).then_some((dir, name))
    }

    /// `plan` (the directory of chunks, whose data is the plan record).
    pub fn plan(&self) -> String {
        self.dir(Dir::Plan)
    }
    /// `election`.
    pub fn election(&self) -> String {
        self.dir(Dir::Election)
    }
    /// `dests`.
    pub fn dests(&self) -> String {
        self.dir(Dir::Dests)
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

/// The name prefix of a hand-back of `chunk` by `dest` (the destination could not be
/// reached): not the chunk's fault, but counted, so that a chunk no destination can take
/// fails with the reason instead of circling for ever.
pub fn handback_prefix(chunk: &str, dest: &str) -> String {
    format!("{chunk}~{dest}~back-")
}

/// Whether a `tries` child name is a hand-back ([`handback_prefix`]) rather than a failed
/// attempt.
pub fn is_handback(name: &str) -> bool {
    name.splitn(3, '~')
        .nth(2)
        .is_some_and(|rest| rest.starts_with("back-"))
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

/// The sequence number ZooKeeper appended to a sequential node's name: its last 10 digits.
pub fn sequence_of(name: &str) -> Option<u64> {
    let digits = name.get(name.len().checked_sub(10)?..)?;
    match digits.bytes().all(|b| b.is_ascii_digit()) {
        true => digits.parse().ok(),
        false => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let l = Layout::new("/zkrsync", "s1").unwrap();
        assert_eq!(l.root(), "/zkrsync/s1");
        assert_eq!(
            l.entry(Dir::Claims, "0000000003"),
            "/zkrsync/s1/claims/0000000003"
        );
        assert_eq!(l.base_ancestors(), vec!["/zkrsync".to_owned()]);
        let deep = Layout::new("/a/b", "x").unwrap();
        assert_eq!(
            deep.base_ancestors(),
            vec!["/a".to_owned(), "/a/b".to_owned()]
        );
        assert_eq!(Layout::new("/", "x").unwrap().root(), "/x");
        assert_eq!(l.entry(Dir::Tries, "a~b~1"), "/zkrsync/s1/tries/a~b~1");
        assert_eq!(l.dir_of("/zkrsync/s1/done"), Some(Dir::Done));
        assert_eq!(l.dir_of("/zkrsync/s1/stop"), None);
        assert_eq!(
            l.entry_of("/zkrsync/s1/dests/d-1"),
            Some((Dir::Dests, "d-1"))
        );
        assert_eq!(l.entry_of("/zkrsync/s1/dests"), None);
        assert_eq!(l.entry_of("/zkrsync/s10/dests/x"), None);
        assert_eq!(l.entry_of("/zkrsync/s1/dests/x/y"), None);
        // The names are the znodes of sessions already in ZooKeeper: they never change.
        assert_eq!(
            Dir::ALL.map(Dir::name),
            [
                "election", "dests", "plan", "claims", "slots", "tries", "done", "failed",
                "deletes", "progress"
            ]
        );
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
        let back = format!("{}0000000003", handback_prefix("0000000001", "d-1"));
        assert_eq!(parse_try(&back), Some(("0000000001", "d-1")));
        assert!(is_handback(&back));
        assert!(!is_handback("0000000001~d-1~0000000007"));
        assert_eq!(election_seq("s-0000000012"), Some(12));
    }
}
