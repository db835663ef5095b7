//! What a worker runs for one chunk: one rsync invocation per kind of unit in it.
//!
//! Units are given to rsync with `--from0 --files-from`, relative to the source root:
//! a non-recursive unit `a/b` as `a/b/.` with `-d` (its own entries, including its
//! subdirectories as empty directories), a recursive one as `a/b` with `-r`. The root is
//! `.`. Directories the walk's regex excluded are left out with anchored rules read with
//! `--exclude-from` (also NUL-separated), so any byte in a name works. The session's filter
//! rules follow, as they were given, in a merge file (`--filter=merge FILE`, NUL-separated
//! too): rsync applies them to every `--files-from` entry (not to the parents it implies)
//! and to everything below, with paths relative to the source root as a single `rsync -a`
//! of the root would, so the walk and every run agree. A unit whose listing failed is never
//! copied with `--delete`.
//!
//! The destinations' probe files (`.zkrsync-*` in the root of the tree, see
//! [`super::dest`]) are protected from `--delete` on the receiving side and never sent
//! ([`PROBE_FILTERS`]), whatever the source's root holds.

use super::params::SessionParams;
use super::records::{PlanRecord, Secret, TreeId};
use super::source_tree::Guards;
use crate::plan::Chunk;
use crate::unit::{Part, RelPath, Unit};

/// One rsync process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsyncInvocation {
    /// Options, before `--files-from`, the source and the destination.
    pub args: Vec<String>,
    /// The `--files-from` list, NUL-terminated entries.
    pub files_from: Vec<u8>,
    /// Exclude rules for `--exclude-from`, NUL-terminated; empty when there are none.
    pub excludes: Vec<u8>,
    /// The session's filter rules for `--filter=merge FILE`, after `excludes`,
    /// NUL-terminated ([`crate::filter::FilterList::rsync_rules`]); empty when there are
    /// none.
    pub filters: Vec<u8>,
    /// Buckets of directories ([`Part::Bucket`]) whose entries the driver lists when the
    /// run starts and appends to `files_from` ([`Bucket::entries`]); what the run counts
    /// is theirs ([`super::run_counts`]).
    pub buckets: Vec<Bucket>,
}

/// The entries of a directory in one bucket, listed when the run starts: a name that
/// appeared after planning is in exactly one bucket too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// The directory, relative to the root.
    pub dir: RelPath,
    /// Its bucket.
    pub part: Part,
    /// Names of subdirectories the walk excluded.
    pub excluded: Vec<Vec<u8>>,
}

impl Bucket {
    /// The `--files-from` entries (`dir/name`, NUL-terminated) of the names of the
    /// directory's entries that are in this bucket.
    pub fn entries<'a>(&self, names: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
        let mut out = Vec::new();
        for name in names {
            if !self.part.holds(name) || self.excluded.iter().any(|e| e == name) {
                continue;
            }
            if !self.dir.is_root() {
                out.extend_from_slice(self.dir.as_bytes());
                out.push(b'/');
            }
            out.extend_from_slice(name);
            out.push(0);
        }
        out
    }
}

/// The rsync processes of one chunk, run one after the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsyncJob {
    /// The chunk.
    pub chunk: String,
    /// The destination's id.
    pub dest: String,
    /// The destination's rsync URL (`rsync://[user@]host:port/module/`).
    pub url: String,
    /// The daemon's password (for `RSYNC_PASSWORD`), when it requires a login.
    pub password: Option<Secret>,
    /// The invocations.
    pub invocations: Vec<RsyncInvocation>,
    /// Units in the chunk.
    pub units: usize,
    /// What must hold of the source tree before any of the invocations runs.
    pub guards: Guards,
    /// Where the destination's tree is on its host, as it registered it: a run is refused
    /// when it overlaps the source tree ([`super::source_tree::overlap`]). None for a
    /// destination of an older version.
    pub dest_tree: Option<TreeId>,
    /// The most entries the job's invocations may delete, all together (`None`: no
    /// limit). The driver gives each invocation that deletes what the earlier ones left
    /// ([`RsyncJob::max_delete_arg`]), and runs the next invocation after one that stopped at
    /// its limit (rsync exit 25), so that the job reports every deletion it held back.
    pub max_delete: Option<u64>,
    /// `--itemize`: the driver keeps each run's itemized changes
    /// ([`super::run_counts::RunCounter::itemizing`]).
    pub itemize: bool,
}

/// The options every invocation gets: its counts come from `--stats` and from every entry
/// itemized ([`super::run_counts::ITEM_ARGS`]).
pub const BASE_ARGS: [&str; 5] = [
    "--numeric-ids",
    "-lptgoD",
    "--stats",
    super::run_counts::ITEM_ARGS[0],
    super::run_counts::ITEM_ARGS[1],
];

/// Filter rules every invocation gets, before any other: the probe files at the root of the
/// transfer are protected on the receiver (`P`: `--delete` never removes them, even with
/// `--delete-excluded`) and hidden on the sender (`H`: never copied). Anchored, so a
/// `.zkrsync-…` below the root is an ordinary file.
pub const PROBE_FILTERS: [&str; 2] = ["--filter=P /.zkrsync-*", "--filter=H /.zkrsync-*"];

/// Escapes a literal name for an rsync filter pattern: wildcards only have their meaning,
/// and backslashes only escape, in a pattern that has a wildcard character.
fn filter_literal(name: &[u8]) -> Vec<u8> {
    let has_wild = name.iter().any(|b| matches!(b, b'*' | b'?' | b'['));
    let mut out = Vec::with_capacity(name.len() + 2);
    for &b in name {
        if has_wild && matches!(b, b'*' | b'?' | b'[' | b'\\') {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

fn entry(unit: &Unit) -> Vec<u8> {
    let mut e = if unit.path.is_root() {
        b".".to_vec()
    } else {
        unit.path.as_bytes().to_vec()
    };
    if !unit.recursive && !unit.path.is_root() {
        e.extend_from_slice(b"/.");
    }
    e
}

impl RsyncJob {
    /// The job for `chunk`, sent to `url`, under `params`.
    pub fn build(
        chunk_name: &str,
        chunk: &Chunk,
        dest: &str,
        url: &str,
        password: Option<Secret>,
        params: &SessionParams,
        plan: &PlanRecord,
    ) -> RsyncJob {
        // (recursive, delete) -> invocation, in a fixed order: non-recursive first, so a
        // parent's own entries usually exist before its subtrees are filled.
        let mut groups: Vec<((bool, bool, u8), RsyncInvocation)> = Vec::new();
        for unit in &chunk.units {
            let part = match unit.part {
                Part::Whole => 0,
                Part::Bucket { .. } => 1,
                // Without --delete there is nothing to do.
                Part::Deletes if !params.delete => continue,
                Part::Deletes => 2,
            };
            let delete = params.delete && !unit.listing_failed && part != 1;
            let key = (unit.recursive, delete, part);
            let at = match groups.iter().position(|(k, _)| *k == key) {
                Some(at) => at,
                None => {
                    let mut inv = invocation_args(key.0, key.1, params);
                    if part == 2 {
                        // Deletions only: nothing new is created, nothing there updated.
                        inv.args
                            .extend(["--existing", "--ignore-existing"].map(String::from));
                    }
                    groups.push((key, inv));
                    groups.len() - 1
                }
            };
            let inv = &mut groups[at].1;
            if let Part::Bucket { .. } = unit.part {
                inv.buckets.push(Bucket {
                    dir: unit.path.clone(),
                    part: unit.part,
                    excluded: unit.excluded.clone(),
                });
            } else {
                inv.files_from.extend_from_slice(&entry(unit));
                inv.files_from.push(0);
            }
            for name in &unit.excluded {
                inv.excludes.push(b'/');
                if !unit.path.is_root() {
                    inv.excludes
                        .extend_from_slice(&filter_literal(unit.path.as_bytes()));
                    inv.excludes.push(b'/');
                }
                inv.excludes.extend_from_slice(&filter_literal(name));
                inv.excludes.extend_from_slice(b"/\0");
            }
        }
        groups.sort_by_key(|((recursive, delete, part), _)| (*recursive, !*delete, *part));
        RsyncJob {
            chunk: chunk_name.to_owned(),
            dest: dest.to_owned(),
            url: url.to_owned(),
            password,
            invocations: groups.into_iter().map(|(_, inv)| inv).collect(),
            units: chunk.units.len(),
            guards: Guards {
                root_nonempty: plan.root_nonempty,
                top_dirs: plan.top_dirs.clone(),
                dirs: chunk.units.iter().map(|u| u.path.clone()).collect(),
                listed: chunk
                    .units
                    .iter()
                    .filter(|u| params.delete && !u.recursive && !u.listing_failed)
                    .filter(|u| !matches!(u.part, Part::Bucket { .. }))
                    .map(|u| (u.path.clone(), u.weight.saturating_sub(1)))
                    .collect(),
                delete_guard: params.delete_guard,
                filters: params.filters.clone(),
                mounts: chunk.units.iter().flat_map(|u| u.mounts.clone()).collect(),
            },
            dest_tree: None,
            max_delete: match params.delete_budget() {
                // The first run asks rsync what it would delete ([`super::delete_budget`]).
                Some(_) => Some(0),
                None => params.max_delete.filter(|_| params.delete),
            },
            itemize: params.itemize,
        }
    }

    /// The `--max-delete` option of `inv`, after the job's earlier invocations deleted
    /// `deleted` entries; None when `inv` deletes nothing or the job has no limit.
    pub fn max_delete_arg(&self, inv: &RsyncInvocation, deleted: u64) -> Option<String> {
        let limit = self.max_delete?;
        inv.deletes()
            .then(|| format!("--max-delete={}", limit.saturating_sub(deleted)))
    }
}

impl RsyncInvocation {
    /// Whether it runs with `--delete`.
    pub fn deletes(&self) -> bool {
        self.args.iter().any(|a| a == "--delete")
    }
}

fn invocation_args(recursive: bool, delete: bool, params: &SessionParams) -> RsyncInvocation {
    let mut args: Vec<String> = BASE_ARGS.iter().map(|s| s.to_string()).collect();
    args.extend(PROBE_FILTERS.iter().map(|s| s.to_string()));
    args.push(if recursive { "-r" } else { "-d" }.to_owned());
    if delete {
        args.push("--delete".to_owned());
    }
    if params.dry_run {
        args.push("--dry-run".to_owned());
    }
    if params.checksum {
        args.push("--checksum".to_owned());
    }
    if params.hard_links {
        args.push("--hard-links".to_owned());
    }
    if params.inplace {
        args.push("--inplace".to_owned());
    }
    if params.timeout > 0 {
        args.push(format!("--timeout={}", params.timeout));
    }
    args.extend(params.rsync_opts.iter().cloned());
    RsyncInvocation {
        args,
        files_from: Vec::new(),
        excludes: Vec::new(),
        filters: params
            .filters
            .rsync_rules(params.delete && params.delete_excluded),
        buckets: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::RelPath;

    fn unit(path: &[u8], recursive: bool) -> Unit {
        Unit {
            path: if path.is_empty() {
                RelPath::root()
            } else {
                RelPath::from_bytes(path).unwrap()
            },
            recursive,
            listing_failed: false,
            weight: 1,
            excluded: Vec::new(),
            mounts: vec![],
            part: Default::default(),
        }
    }

    #[test]
    fn groups_by_kind_and_delete() {
        let mut failed = unit(b"c", true);
        failed.listing_failed = true;
        let mut root = unit(b"", false);
        root.excluded = vec![b".snapshots".to_vec(), b"we*ird\\".to_vec()];
        let chunk = Chunk {
            units: vec![root, unit(b"a", true), unit(b"b\n-x", false), failed],
        };
        let params = SessionParams {
            delete: true,
            dry_run: true,
            ..Default::default()
        };
        let job = RsyncJob::build(
            "0000000001",
            &chunk,
            "d1",
            "rsync://h:1/m/",
            None,
            &params,
            &PlanRecord {
                root_nonempty: true,
                ..PlanRecord::building()
            },
        );
        assert_eq!(job.units, 4);
        assert!(job.guards.root_nonempty);
        assert_eq!(job.guards.dirs.len(), 4);
        assert_eq!(job.invocations.len(), 3);
        let [nonrec, rec, rec_nodelete] = &job.invocations[..] else {
            panic!()
        };
        assert!(
            nonrec.args.contains(&"-d".to_owned()) && nonrec.args.contains(&"--delete".to_owned())
        );
        assert!(nonrec.args.contains(&"--dry-run".to_owned()));
        assert_eq!(nonrec.files_from, b".\0b\n-x/.\0");
        assert_eq!(nonrec.excludes, b"/.snapshots/\0/we\\*ird\\\\/\0");
        assert!(rec.args.contains(&"-r".to_owned()) && rec.args.contains(&"--delete".to_owned()));
        assert_eq!(rec.files_from, b"a\0");
        assert!(rec_nodelete.args.contains(&"-r".to_owned()));
        assert!(
            !rec_nodelete.args.contains(&"--delete".to_owned()),
            "a failed listing never deletes"
        );
        assert_eq!(rec_nodelete.files_from, b"c\0");
    }

    #[test]
    fn options_follow_params() {
        let chunk = Chunk {
            units: vec![unit(b"x", true)],
        };
        let params = SessionParams {
            checksum: true,
            hard_links: true,
            inplace: true,
            timeout: 9,
            rsync_opts: vec!["--bwlimit=1M".into()],
            ..Default::default()
        };
        let job = RsyncJob::build(
            "c",
            &chunk,
            "d",
            "u",
            None,
            &params,
            &PlanRecord::building(),
        );
        let args = &job.invocations[0].args;
        for want in [
            "--numeric-ids",
            "-lptgoD",
            "--stats",
            "--filter=P /.zkrsync-*",
            "--filter=H /.zkrsync-*",
            "-r",
            "--checksum",
            "--hard-links",
            "--inplace",
            "--timeout=9",
            "--bwlimit=1M",
        ] {
            assert!(
                args.contains(&want.to_owned()),
                "{want} missing from {args:?}"
            );
        }
        assert!(!args.contains(&"--delete".to_owned()) && !args.contains(&"--dry-run".to_owned()));
    }

    #[test]
    fn filters_go_to_every_invocation_sender_only_with_delete_excluded() {
        let chunk = Chunk {
            units: vec![unit(b"", false), unit(b"x", true)],
        };
        let mut params = SessionParams {
            delete: true,
            ..Default::default()
        };
        params.filters.push_filter(b"P keep").unwrap();
        params.filters.push_pattern(b"*.o", false).unwrap();
        let build = |params: &SessionParams| {
            RsyncJob::build("c", &chunk, "d", "u", None, params, &PlanRecord::building())
        };
        let job = build(&params);
        assert_eq!(job.invocations.len(), 2);
        for inv in &job.invocations {
            assert_eq!(inv.filters, b"-r keep\0- *.o\0");
        }
        assert_eq!(job.guards.filters, params.filters);
        params.delete_excluded = true;
        for inv in &build(&params).invocations {
            assert_eq!(inv.filters, b"-r keep\0-s *.o\0");
        }
        // Without --delete, --delete-excluded changes nothing.
        params.delete = false;
        for inv in &build(&params).invocations {
            assert_eq!(inv.filters, b"-r keep\0- *.o\0");
        }
    }
}
