//! An rsync model: carries out the very command lines a worker builds ([`RsyncJob`]) on
//! the file-system model, with rsync's semantics for `--files-from` entries: `dir/.` with
//! `-d` copies the directory's own entries (subdirectories as empty directories), `dir`
//! with `-r` its whole subtree; `--delete` removes what the source does not have in the
//! directories transferred, never below an excluded directory; `--dry-run` changes nothing;
//! implied parent directories are created as `--relative` does. An entry whose source is
//! missing is reported as rsync does (`link_stat failed`, exit 23) and touches nothing.
//! Filter rules (`--filter=merge`) are not modelled: the simulator's sessions have none
//! (the model refuses a job that has some), and `tests/tests/filters.rs` checks them
//! against real rsync.
//!
//! Each invocation prints what rsync prints with zkrsync's options: every entry of its file
//! list itemized (implied and unit directories too, each once) and its `--stats` counts
//! ([`Listing`]), which the core counts as it counts real rsync's output
//! ([`zkrsync_core::protocol::run_counts`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use zkrsync_core::protocol::rsync_job::{RsyncInvocation, RsyncJob};
use zkrsync_core::protocol::run_counts::ITEM_PREFIX;

use crate::fs_model::{is_within, parent, Node, Tree};

/// What a transfer did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transfer {
    /// rsync's exit code.
    pub code: i32,
    /// Entries created or changed at the destination.
    pub changed: u64,
    /// Entries looked at (for the transfer's duration).
    pub work: u64,
    /// Paths deleted at the destination.
    pub deleted: Vec<Vec<u8>>,
    /// With `--dry-run`: the entries `--delete` would have removed.
    pub would_delete: u64,
    /// Deletions held back at the job's `--max-delete` limit, one for each entry it did
    /// not delete (as rsync counts a directory it did not delete once, whatever it holds).
    pub skipped: u64,
    /// What each invocation printed, in order (one that did not run prints nothing).
    pub outputs: Vec<Vec<u8>>,
}

/// The file list of one invocation, as rsync itemizes it: each path once, new or not at
/// the destination when the invocation reached it, and the counts of its `--stats`.
#[derive(Debug, Default)]
struct Listing {
    entries: BTreeMap<Vec<u8>, (Node, bool)>,
    transferred: u64,
    deleted: u64,
}

impl Listing {
    /// `path` (with its implied parents) in the list, as `node`, against `dst` before the
    /// invocation changes it there.
    fn add(&mut self, path: &[u8], node: Node, dst: &Tree) {
        let mut up = parent(path);
        while !up.is_empty() {
            self.add_one(up, Node::Dir, dst);
            up = parent(up);
        }
        self.add_one(path, node, dst);
    }

    fn add_one(&mut self, path: &[u8], node: Node, dst: &Tree) {
        if self.entries.contains_key(path) {
            return;
        }
        let there = dst.get(path);
        if matches!(node, Node::File(_)) && there != Some(node) {
            self.transferred += 1;
        }
        self.entries.insert(path.to_vec(), (node, there.is_none()));
    }

    /// rsync's output: the items, then the stats (`creates`: false for `--existing`).
    fn output(&self, creates: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let (mut reg, mut dirs, mut links, mut created) = (0, 0, 0, 0);
        for (path, (node, new)) in &self.entries {
            let new = *new && creates;
            created += u64::from(new);
            let kind = match node {
                Node::Dir => {
                    dirs += 1;
                    "d"
                }
                Node::File(_) => {
                    reg += 1;
                    "f"
                }
                Node::Symlink(_) => {
                    links += 1;
                    "L"
                }
            };
            let change = match (new, node) {
                (true, Node::File(_)) => ">",
                (true, _) => "c",
                (false, _) => ".",
            };
            let attrs = if new { "+++++++++" } else { "         " };
            out.extend_from_slice(format!("{ITEM_PREFIX}{change}{kind}{attrs} ").as_bytes());
            out.extend_from_slice(&escaped(if path.is_empty() { b"." } else { path }));
            if *node == Node::Dir {
                out.push(b'/');
            }
            out.push(b'\n');
        }
        let mut stats = format!(
            "\nNumber of files: {} (reg: {reg}, dir: {dirs}, link: {links})\n",
            self.entries.len()
        );
        let _ = writeln!(stats, "Number of created files: {created}");
        let _ = writeln!(stats, "Number of deleted files: {}", self.deleted);
        let transferred = if creates { self.transferred } else { 0 };
        let _ = writeln!(stats, "Number of regular files transferred: {transferred}");
        out.extend_from_slice(stats.as_bytes());
        out
    }
}

/// A name as rsync prints it: control bytes and `\#` as `\#ooo`.
fn escaped(name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len());
    for (i, &b) in name.iter().enumerate() {
        if (b < b' ' && b != b'\t') || (b == b'\\' && name.get(i + 1) == Some(&b'#')) {
            out.extend_from_slice(format!("\\#{b:03o}").as_bytes());
        } else {
            out.push(b);
        }
    }
    out
}

/// Options of one invocation that matter to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Flags {
    recursive: bool,
    delete: bool,
    dry_run: bool,
    /// `--existing --ignore-existing`: nothing is created or updated, only deleted.
    deletes_only: bool,
}

fn flags(inv: &RsyncInvocation) -> Flags {
    let has = |a: &str| inv.args.iter().any(|x| x == a);
    Flags {
        recursive: has("-r"),
        delete: has("--delete"),
        dry_run: has("--dry-run") || has("-n"),
        deletes_only: has("--existing") && has("--ignore-existing"),
    }
}

/// Splits a NUL-terminated list.
fn entries(list: &[u8]) -> impl Iterator<Item = &[u8]> {
    list.split(|&b| b == 0).filter(|e| !e.is_empty())
}

/// Anchored exclude rules `/a/b/name/` as paths `a/b/name` (the model's names have no
/// wildcard characters, so no escaping is undone).
fn excluded_dirs(inv: &RsyncInvocation) -> Vec<Vec<u8>> {
    entries(&inv.excludes)
        .map(|rule| {
            let r = rule.strip_prefix(b"/").unwrap_or(rule);
            r.strip_suffix(b"/").unwrap_or(r).to_vec()
        })
        .collect()
}

/// The directory a `--files-from` entry names, and whether only its own entries count.
fn entry_dir(entry: &[u8], recursive: bool) -> (Vec<u8>, bool) {
    if entry == b"." {
        return (Vec::new(), !recursive);
    }
    match entry.strip_suffix(b"/.") {
        Some(dir) => (dir.to_vec(), true),
        None => (entry.to_vec(), !recursive),
    }
}

/// Runs `job` from `src` to `dst`, applying at most `max_entries` of its `--files-from`
/// entries (a transfer killed midway applied only part of its list).
pub fn run(job: &RsyncJob, src: &Tree, dst: &mut Tree, max_entries: usize) -> Transfer {
    let mut out = Transfer::default();
    let mut budget = max_entries;
    for inv in &job.invocations {
        assert!(
            inv.filters.is_empty(),
            "the rsync model does not apply filter rules"
        );
        let f = flags(inv);
        let excluded = excluded_dirs(inv);
        let is_excluded = |p: &[u8]| excluded.iter().any(|x| is_within(p, x));
        let mut listing = Listing::default();
        let deleted_before = out.deleted.len() as u64 + out.would_delete;
        for entry in entries(&inv.files_from) {
            if budget == 0 {
                return out;
            }
            budget -= 1;
            if is_single(entry, f.recursive) {
                // `dir/name` with -d: that one entry (a directory without its contents).
                match src.get(entry) {
                    None => out.code = out.code.max(23),
                    Some(node) => {
                        out.work += 1;
                        listing.add(entry, node, dst);
                        if !f.dry_run && !f.deletes_only && !same_kind(dst.get(entry), node) {
                            if dst.get(entry).is_some() && node == Node::Dir {
                                dst.remove(entry);
                            }
                            dst.put(entry, node);
                            out.changed += 1;
                        }
                    }
                }
                continue;
            }
            let (dir, own_only) = entry_dir(entry, f.recursive);
            if src.get(&dir) != Some(Node::Dir) {
                // rsync: link_stat "…" failed: No such file or directory (2)
                out.code = out.code.max(23);
                continue;
            }
            let wanted: Vec<(Vec<u8>, Node)> = if own_only {
                src.children(&dir)
                    .into_iter()
                    .filter(|(p, _)| !is_excluded(p))
                    .collect()
            } else {
                src.below(&dir)
                    .filter(|(p, _)| !is_excluded(p))
                    .map(|(p, n)| (p.clone(), *n))
                    .collect()
            };
            out.work += 1 + wanted.len() as u64;
            listing.add(&dir, Node::Dir, dst);
            for (p, node) in &wanted {
                listing.add(p, *node, dst);
            }
            if f.dry_run {
                if f.delete {
                    out.would_delete += extraneous(src, dst, &dir, own_only, &is_excluded)
                        .iter()
                        .map(|p| 1 + dst.below(p).count() as u64)
                        .sum::<u64>();
                }
                continue;
            }
            if dst.get(&dir) != Some(Node::Dir) {
                if f.deletes_only {
                    continue; // --existing: a missing directory is not created
                }
                dst.put(&dir, Node::Dir);
                out.changed += 1;
            }
            if f.delete {
                for p in extraneous(src, dst, &dir, own_only, &is_excluded) {
                    if dst.get(&p).is_none() {
                        continue; // below one deleted already
                    }
                    let size = 1 + dst.below(&p).count();
                    let within = job
                        .max_delete
                        .is_none_or(|limit| (out.deleted.len() + size) as u64 <= limit);
                    if within {
                        out.deleted.extend(dst.remove(&p));
                    } else {
                        out.skipped += 1;
                    }
                }
            }
            for (p, node) in wanted {
                if f.deletes_only {
                    break;
                }
                let current = dst.get(&p);
                if !same_kind(current, node) {
                    if current.is_some() && current != Some(Node::Dir) && node == Node::Dir {
                        dst.remove(&p);
                    }
                    dst.put(&p, node);
                    out.changed += 1;
                }
            }
        }
        listing.deleted = out.deleted.len() as u64 + out.would_delete - deleted_before;
        out.outputs.push(listing.output(!f.deletes_only));
    }
    if out.skipped > 0 {
        // Deletions stopped due to --max-delete limit (N skipped)
        out.code = out.code.max(25);
    }
    out
}

/// Whether a `--files-from` entry names one entry rather than a directory to copy: with
/// `-d`, anything but `.` and `dir/.` (a bucket's `dir/name`).
fn is_single(entry: &[u8], recursive: bool) -> bool {
    !recursive && entry != b"." && !entry.ends_with(b"/.")
}

/// Whether the destination's entry already is what the source's is.
fn same_kind(current: Option<Node>, node: Node) -> bool {
    match (current, node) {
        (Some(Node::Dir), Node::Dir) => true,
        (Some(a), b) => a == b,
        (None, _) => false,
    }
}

/// The entries at the destination under `dir` (its own, or its whole subtree) that the
/// source does not have and no exclude protects, outermost first. Kinds are compared as
/// rsync does: a file where a directory belongs is replaced by the transfer, not deleted.
fn extraneous(
    src: &Tree,
    dst: &Tree,
    dir: &[u8],
    own_only: bool,
    is_excluded: &dyn Fn(&[u8]) -> bool,
) -> Vec<Vec<u8>> {
    let present: Vec<Vec<u8>> = if own_only {
        dst.children(dir).into_iter().map(|(p, _)| p).collect()
    } else {
        dst.below(dir).map(|(p, _)| p.clone()).collect()
    };
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut taken: std::collections::HashSet<Vec<u8>> = std::collections::HashSet::new();
    for p in present {
        let below_taken = p
            .iter()
            .enumerate()
            .any(|(i, &b)| b == b'/' && taken.contains(&p[..i]));
        if below_taken || is_excluded(&p) || src.get(&p).is_some() {
            continue;
        }
        taken.insert(p.clone());
        out.push(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(args: &[&str], entries: &[&str], excludes: &[&str]) -> RsyncInvocation {
        let mut files_from = Vec::new();
        for e in entries {
            files_from.extend_from_slice(e.as_bytes());
            files_from.push(0);
        }
        let mut ex = Vec::new();
        for e in excludes {
            ex.extend_from_slice(e.as_bytes());
            ex.push(0);
        }
        RsyncInvocation {
            args: args.iter().map(|s| s.to_string()).collect(),
            files_from,
            excludes: ex,
            filters: Vec::new(),
            buckets: Vec::new(),
        }
    }

    fn job(invocations: Vec<RsyncInvocation>) -> RsyncJob {
        RsyncJob {
            chunk: "0000000000".into(),
            dest: "d1".into(),
            url: "rsync://x/m/".into(),
            password: None,
            invocations,
            units: 1,
            guards: Default::default(),
            dest_tree: None,
            max_delete: None,
            itemize: false,
        }
    }

    fn src() -> Tree {
        let mut t = Tree::new();
        t.put(b"a/f", Node::File(1));
        t.put(b"a/b/g", Node::File(2));
        t.put(b"a/b/c/h", Node::File(3));
        t.put(b"top", Node::File(4));
        t
    }

    #[test]
    fn d_copies_own_entries_and_r_the_subtree() {
        let s = src();
        let mut d = Tree::new();
        run(
            &job(vec![inv(&["-d"], &["a/."], &[])]),
            &s,
            &mut d,
            usize::MAX,
        );
        assert_eq!(d.get(b"a/f"), Some(Node::File(1)));
        assert_eq!(d.get(b"a/b"), Some(Node::Dir));
        assert_eq!(d.get(b"a/b/g"), None);
        run(
            &job(vec![inv(&["-r"], &["a/b"], &[])]),
            &s,
            &mut d,
            usize::MAX,
        );
        assert_eq!(d.get(b"a/b/c/h"), Some(Node::File(3)));
        assert_eq!(d.get(b"top"), None);
        run(
            &job(vec![inv(&["-d"], &["."], &[])]),
            &s,
            &mut d,
            usize::MAX,
        );
        assert_eq!(d, s);
    }

    #[test]
    fn delete_stays_in_the_transferred_directories_and_spares_excluded_ones() {
        let s = src();
        let mut d = s.clone();
        d.put(b"a/extra", Node::File(9));
        d.put(b"a/b/extra", Node::File(9));
        d.put(b"a/b/c/x", Node::File(9));
        d.put(b"a/snap/keep", Node::File(9));
        let r = run(
            &job(vec![inv(&["-d", "--delete"], &["a/."], &["/a/snap/"])]),
            &s,
            &mut d,
            usize::MAX,
        );
        assert_eq!(r.deleted, vec![b"a/extra".to_vec()]);
        assert_eq!(d.get(b"a/b/extra"), Some(Node::File(9)));
        assert_eq!(d.get(b"a/snap/keep"), Some(Node::File(9)));
        let r = run(
            &job(vec![inv(&["-r", "--delete"], &["a/b"], &[])]),
            &s,
            &mut d,
            usize::MAX,
        );
        assert_eq!(r.deleted.len(), 2);
    }

    #[test]
    fn a_missing_source_entry_is_exit_23_and_deletes_nothing() {
        let s = Tree::new();
        let mut d = src();
        let r = run(
            &job(vec![inv(&["-r", "--delete"], &["a"], &[])]),
            &s,
            &mut d,
            usize::MAX,
        );
        assert_eq!(r.code, 23);
        assert!(r.deleted.is_empty());
        assert_eq!(d, src());
    }

    #[test]
    fn dry_run_changes_nothing() {
        let s = src();
        let mut d = Tree::new();
        run(
            &job(vec![inv(&["-r", "--dry-run", "--delete"], &["."], &[])]),
            &s,
            &mut d,
            usize::MAX,
        );
        assert_eq!(d, Tree::new());
    }

    #[test]
    fn max_delete_holds_back_what_exceeds_the_jobs_limit_and_a_dry_run_counts_it() {
        let s = src();
        let mut d = s.clone();
        d.put(b"a/gone", Node::Dir);
        d.put(b"a/gone/f", Node::File(1));
        d.put(b"a/b/extra", Node::File(9));
        let both = |max_delete| RsyncJob {
            max_delete,
            ..job(vec![
                inv(&["-d", "--delete"], &["a/."], &[]),
                inv(&["-r", "--delete"], &["a/b"], &[]),
            ])
        };
        let mut count = both(None);
        for i in &mut count.invocations {
            i.args.push("--dry-run".into());
        }
        let r = run(&count, &s, &mut d.clone(), usize::MAX);
        assert_eq!((r.would_delete, r.code), (3, 0));
        // A limit of 2 for the job: the directory (2 entries) fits, then nothing more.
        let mut at_two = d.clone();
        let r = run(&both(Some(2)), &s, &mut at_two, usize::MAX);
        assert_eq!((r.deleted.len(), r.skipped, r.code), (2, 1, 25));
        assert_eq!(at_two.get(b"a/b/extra"), Some(Node::File(9)));
        let r = run(&both(Some(0)), &s, &mut d, usize::MAX);
        assert_eq!((r.deleted.len(), r.skipped, r.code), (0, 2, 25));
        let r = run(&both(Some(3)), &s, &mut d, usize::MAX);
        assert_eq!((r.deleted.len(), r.code), (3, 0));
        assert_eq!(d, s);
    }
}
