//! The session parameters: everything that changes what a session copies. The first source
//! records them in `config`; a client whose parameters differ refuses to join.

use super::records::{Fields, Lines, RecordError};
use crate::filter::FilterList;

/// rsync's I/O timeout when none is given, in seconds: an rsync that moves no data for this
/// long (a hung read of a stale NFS or GPFS mount, a stalled destination) ends with an error
/// and its chunk is tried again, instead of holding its claim and its destination's slot
/// forever. 0 means none.
pub const DEFAULT_TIMEOUT_S: u32 = 600;

/// The parameters every source of a session must agree on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionParams {
    /// `--depth`.
    pub depth: u32,
    /// The filter rules (`--exclude`, `--include`, `--filter`, `--exclude-from`,
    /// `--include-from`), in order.
    pub filters: FilterList,
    /// `--delete-excluded`: with `--delete`, what the filter rules exclude is deleted at
    /// the destination too (rules for both sides become the sender's only).
    pub delete_excluded: bool,
    /// `--exclude-regex` ('' for none): vsc-zk's `--excludere`.
    pub exclude_regex: String,
    /// `--exclude-owner`, as given.
    pub exclude_owner: String,
    /// `--subpath`, as given (bytes).
    pub subpaths: Vec<Vec<u8>>,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--delete`.
    pub delete: bool,
    /// `--checksum`.
    pub checksum: bool,
    /// `--hard-links`.
    pub hard_links: bool,
    /// `--inplace`.
    pub inplace: bool,
    /// `--timeout` in seconds (0: none). `zkrsync source` gives [`DEFAULT_TIMEOUT_S`] unless
    /// told otherwise; [`Default`] has none (a bare session, as the core's tests and the
    /// simulator use).
    pub timeout: u32,
    /// `--rsync-opt`, in order.
    pub rsync_opts: Vec<String>,
    /// `--attempts`.
    pub attempts: u32,
    /// `--max-delete`: the most entries the session deletes at the destination, all runs
    /// together (`None`: no limit; see [`super::delete_budget`]).
    pub max_delete: Option<u64>,
    /// `--delete-guard`: a directory copied with `--delete` whose source lost more than this
    /// percentage of the entries the plan saw there is refused, not run (100: never).
    pub delete_guard: u32,
    /// `--itemize`: every run keeps rsync's itemized changes in its chunk's result, and the
    /// master lists them ([`super::itemized`]). A session parameter because every worker
    /// must know it before its first run, and `config` is the one record each reads first.
    pub itemize: bool,
}

/// The default `--delete-guard`: a directory that lost more than half its entries since the
/// plan is not copied with `--delete`.
pub const DEFAULT_DELETE_GUARD: u32 = 50;

impl SessionParams {
    /// The session's budget of deletions, when it has one: `--max-delete` with `--delete`,
    /// and not a dry run (which deletes nothing, and gives rsync the limit as it is).
    pub fn delete_budget(&self) -> Option<u64> {
        self.max_delete.filter(|_| self.delete && !self.dry_run)
    }
}

impl Default for SessionParams {
    fn default() -> Self {
        SessionParams {
            depth: crate::walk::DEFAULT_DEPTH,
            filters: FilterList::new(),
            delete_excluded: false,
            exclude_regex: crate::walk::DEFAULT_EXCLUDE.to_owned(),
            exclude_owner: "root".to_owned(),
            subpaths: Vec::new(),
            dry_run: false,
            delete: false,
            checksum: false,
            hard_links: false,
            inplace: false,
            timeout: 0,
            rsync_opts: Vec::new(),
            attempts: 3,
            max_delete: None,
            delete_guard: DEFAULT_DELETE_GUARD,
            itemize: false,
        }
    }
}

/// The first parameter in which a client differs from its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The option, as on the command line (`--depth`).
    pub option: &'static str,
    /// The session's value.
    pub session: String,
    /// The client's value.
    pub client: String,
}

impl SessionParams {
    /// Encodes, as the `config` znode holds it. The regex keeps the key `exclude` it had
    /// before the filter rules came (as `filter` lines, and `delete_excluded`), so a record
    /// of an older version reads as the same session.
    pub fn encode(&self) -> Vec<u8> {
        let mut l = Lines::default();
        l.put("version", 1)
            .put("depth", self.depth)
            .put_bytes("exclude", self.exclude_regex.as_bytes())
            .put_bytes("exclude_owner", self.exclude_owner.as_bytes());
        for rule in self.filters.texts() {
            l.put_bytes("filter", &rule);
        }
        if self.delete_excluded {
            l.put("delete_excluded", true);
        }
        for s in &self.subpaths {
            l.put_bytes("subpath", s);
        }
        l.put("dry_run", self.dry_run)
            .put("delete", self.delete)
            .put("checksum", self.checksum)
            .put("hard_links", self.hard_links)
            .put("inplace", self.inplace)
            .put("timeout", self.timeout);
        for o in &self.rsync_opts {
            l.put_bytes("rsync_opt", o.as_bytes());
        }
        l.put("attempts", self.attempts);
        if let Some(n) = self.max_delete {
            l.put("max_delete", n);
        }
        l.put("delete_guard", self.delete_guard);
        if self.itemize {
            l.put("itemize", true);
        }
        l.into_bytes()
    }

    /// Decodes.
    pub fn decode(data: &[u8]) -> Result<SessionParams, RecordError> {
        let f = Fields::parse("config", data)?;
        let text = |key: &str| -> Result<String, RecordError> {
            Ok(String::from_utf8_lossy(&f.bytes(key)?).into_owned())
        };
        Ok(SessionParams {
            depth: f.num("depth")?,
            filters: FilterList::from_texts(&f.all_bytes("filter")?)
                .map_err(|e| RecordError::new("config", e.to_string()))?,
            delete_excluded: match f.all("delete_excluded").is_empty() {
                true => false,
                false => f.bool("delete_excluded")?,
            },
            exclude_regex: text("exclude")?,
            exclude_owner: text("exclude_owner")?,
            subpaths: f.all_bytes("subpath")?,
            dry_run: f.bool("dry_run")?,
            delete: f.bool("delete")?,
            checksum: f.bool("checksum")?,
            hard_links: f.bool("hard_links")?,
            inplace: f.bool("inplace")?,
            timeout: f.num("timeout")?,
            rsync_opts: f
                .all_bytes("rsync_opt")?
                .into_iter()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .collect(),
            attempts: f.num("attempts")?,
            max_delete: match f.all("max_delete").is_empty() {
                true => None,
                false => Some(f.num("max_delete")?),
            },
            delete_guard: f.num_or("delete_guard", DEFAULT_DELETE_GUARD)?,
            itemize: !f.all("itemize").is_empty() && f.bool("itemize")?,
        })
    }

    /// The first parameter where `self` (a client) differs from `session`.
    pub fn mismatch(&self, session: &SessionParams) -> Option<Mismatch> {
        fn show_list<T: AsRef<[u8]>>(items: &[T]) -> String {
            let shown: Vec<String> = items
                .iter()
                .map(|i| format!("{:?}", String::from_utf8_lossy(i.as_ref())))
                .collect();
            format!("[{}]", shown.join(", "))
        }
        let show_max = |m: Option<u64>| m.map_or("none".to_owned(), |n| n.to_string());
        let checks: [(&'static str, String, String); 17] = [
            ("--depth", session.depth.to_string(), self.depth.to_string()),
            (
                "--filter",
                show_list(&session.filters.texts()),
                show_list(&self.filters.texts()),
            ),
            (
                "--delete-excluded",
                session.delete_excluded.to_string(),
                self.delete_excluded.to_string(),
            ),
            (
                "--exclude-regex",
                format!("{:?}", session.exclude_regex),
                format!("{:?}", self.exclude_regex),
            ),
            (
                "--exclude-owner",
                format!("{:?}", session.exclude_owner),
                format!("{:?}", self.exclude_owner),
            ),
            (
                "--subpath",
                show_list(&session.subpaths),
                show_list(&self.subpaths),
            ),
            (
                "--dry-run",
                session.dry_run.to_string(),
                self.dry_run.to_string(),
            ),
            (
                "--delete",
                session.delete.to_string(),
                self.delete.to_string(),
            ),
            (
                "--checksum",
                session.checksum.to_string(),
                self.checksum.to_string(),
            ),
            (
                "--hard-links",
                session.hard_links.to_string(),
                self.hard_links.to_string(),
            ),
            (
                "--inplace",
                session.inplace.to_string(),
                self.inplace.to_string(),
            ),
            (
                "--timeout",
                session.timeout.to_string(),
                self.timeout.to_string(),
            ),
            (
                "--rsync-opt",
                show_list(&session.rsync_opts),
                show_list(&self.rsync_opts),
            ),
            (
                "--attempts",
                session.attempts.to_string(),
                self.attempts.to_string(),
            ),
            (
                "--max-delete",
                show_max(session.max_delete),
                show_max(self.max_delete),
            ),
            (
                "--delete-guard",
                session.delete_guard.to_string(),
                self.delete_guard.to_string(),
            ),
            (
                "--itemize",
                session.itemize.to_string(),
                self.itemize.to_string(),
            ),
        ];
        checks
            .into_iter()
            .find(|(_, s, c)| s != c)
            .map(|(option, session, client)| Mismatch {
                option,
                session,
                client,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut filters = FilterList::new();
        filters.push_filter(b"- *.o\n=%").unwrap();
        filters.push_filter(b"P /keep/\xff").unwrap();
        let p = SessionParams {
            depth: 2,
            filters,
            delete_excluded: true,
            exclude_regex: "a=b\nc%".into(),
            subpaths: vec![b"2_a/b\xff".to_vec()],
            delete: true,
            timeout: 30,
            rsync_opts: vec!["--bwlimit=10M".into(), "--no-perms".into()],
            itemize: true,
            ..Default::default()
        };
        assert_eq!(SessionParams::decode(&p.encode()).unwrap(), p);
        assert_eq!(
            SessionParams::decode(&SessionParams::default().encode()).unwrap(),
            SessionParams::default()
        );
    }

    #[test]
    fn mismatch_names_the_option() {
        let session = SessionParams::default();
        assert_eq!(session.mismatch(&session), None);
        let mut client = session.clone();
        client.delete = true;
        let m = client.mismatch(&session).unwrap();
        assert_eq!(
            (m.option, m.session.as_str(), m.client.as_str()),
            ("--delete", "false", "true")
        );
        let mut client = session.clone();
        client.rsync_opts.push("-z".into());
        assert_eq!(client.mismatch(&session).unwrap().option, "--rsync-opt");
        let mut client = session.clone();
        client.attempts = 5;
        assert_eq!(client.mismatch(&session).unwrap().option, "--attempts");
        let mut client = session.clone();
        client.filters.push_pattern(b"*.o", false).unwrap();
        let m = client.mismatch(&session).unwrap();
        assert_eq!(
            (m.option, m.session.as_str(), m.client.as_str()),
            ("--filter", "[]", "[\"- *.o\"]")
        );
        let mut client = session.clone();
        client.itemize = true;
        assert_eq!(client.mismatch(&session).unwrap().option, "--itemize");
    }

    #[test]
    fn a_record_from_before_the_filters_reads_as_the_regex() {
        let old = b"version=1\ndepth=3\nexclude=^/x\nexclude_owner=root\ndry_run=false\ndelete=true\nchecksum=false\nhard_links=false\ninplace=false\ntimeout=600\nattempts=3\n";
        let p = SessionParams::decode(old).unwrap();
        assert_eq!(p.exclude_regex, "^/x");
        assert!(p.filters.is_empty() && !p.delete_excluded && p.delete);
    }
}
