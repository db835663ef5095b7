//! The counts of one rsync run that belong to its units, so that the session's sums equal
//! what one `rsync -a --stats` of the whole tree reports, whatever the chunking.
//!
//! A run is given its units with `--from0 --files-from` ([`super::rsync_job`]), and rsync's
//! file list then holds more than the units' entries: the implied parent directories of
//! every entry (`a` for `a/b/.`) and each non-recursive unit's own directory (`a/b`), which
//! the parent's unit lists too. rsync's `Number of files` even counts a directory twice
//! when two entries of one run bring it in (`a/.` and `a/b/.`: `a/b` is an entry of `a` and
//! the top of `a/b/.`; measured with rsync 3.2 and 3.5: 8 files for 6 names), in a way that
//! depends on the order of the entries and on incremental recursion. Arithmetic on the file
//! list would have to model all of that, so every run itemizes instead ([`ITEM_ARGS`]: each
//! entry of its cleaned file list once, changed or not), and the counter attributes each
//! itemized directory to its owner:
//!
//! - the root belongs to the root unit (`.`), or, when the root is cut into buckets, to its
//!   bucket 0 (a bucket's run does not list the root at all);
//! - any other directory belongs to the unit that lists it as an entry of its parent: a
//!   non-recursive unit of its parent, the bucket of its parent that holds its name, or a
//!   recursive unit above it;
//! - a deletions-only run ([`crate::unit::Part::Deletes`]) owns no entry: the buckets do.
//!
//! Only directories can be foreign to a run (implied and unit directories), so the counts of
//! the other kinds stay rsync's own (which keeps entries that rsync skips without itemizing,
//! `--update` for one, counted as a single rsync counts them):
//!
//! - files: rsync's count, less its directories, plus the directories the run owns;
//! - created: rsync's count, less, in a dry run, the foreign entries it would create (the
//!   owner's run reports them: a dry run changes nothing). A real run counts what it did
//!   create, foreign or not: a parent created by a child's run exists when the parent's own
//!   run comes, so it is counted once. Two runs that create one missing parent at the very
//!   same moment both count it (rsync's own count; a window of a `stat` and a `mkdir`);
//! - deleted, transferred, sizes and bytes: rsync's own (deletions happen only in the
//!   directories whose entries a run copies, each in one run; implied directories have no
//!   size), except a deletions-only run's list, which is counted by the buckets.

use std::collections::BTreeSet;

use super::itemized::{self, Itemized, CHUNK_ITEM_BYTES};
use super::rsync_job::{Bucket, RsyncInvocation};
use crate::rsync_stats::RsyncStats;

/// What starts each itemized line ([`ITEM_ARGS`]), so that no other output is taken for one.
pub const ITEM_PREFIX: &str = "zkrsync-item ";

/// The options that make rsync itemize every entry of its file list, changed or not, as
/// `zkrsync-item %i %n%L`: `-ii`, which a daemon's generator honours too (`--info=name2`
/// shows unchanged entries only when the generator is local: a push to a daemon itemizes
/// only changes with it). Part of [`super::rsync_job::BASE_ARGS`].
pub const ITEM_ARGS: [&str; 2] = ["-ii", "--out-format=zkrsync-item %i %n%L"];

/// Most bytes of rsync's other output lines kept for its `--stats` block (it is the last
/// thing rsync prints, and a few hundred bytes long).
const OTHER_OUTPUT_BYTES: usize = 16 * 1024;

/// Which directories of a run's file list belong to the run's units.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Owners {
    /// `-r`: the units are whole subtrees.
    recursive: bool,
    /// Only deletions: the run owns no entry.
    deletes_only: bool,
    /// The units' directories (the root is empty), from `.` and `dir/.` entries with `-d`,
    /// `dir` and `.` with `-r`.
    units: BTreeSet<Vec<u8>>,
    /// Buckets of directories in the run.
    buckets: Vec<Bucket>,
}

impl Owners {
    fn of(inv: &RsyncInvocation) -> Owners {
        let has = |a: &str| inv.args.iter().any(|x| x == a);
        let recursive = has("-r");
        let mut units = BTreeSet::new();
        for entry in inv.files_from.split(|&b| b == 0).filter(|e| !e.is_empty()) {
            let dir = match (entry, entry.strip_suffix(b"/.")) {
                (b".", _) => Some(&entry[..0]),
                (_, Some(dir)) => Some(dir),
                // With -d, any other entry is a bucket's `dir/name`: see `buckets`.
                (_, None) => recursive.then_some(entry),
            };
            units.extend(dir.map(<[u8]>::to_vec));
        }
        Owners {
            recursive,
            deletes_only: has("--existing") && has("--ignore-existing"),
            units,
            buckets: inv.buckets.clone(),
        }
    }

    /// Whether the root is the run's though no line shows it: bucket 0 of a root cut into
    /// buckets.
    fn owns_unlisted_root(&self) -> bool {
        !self.deletes_only
            && self.buckets.iter().any(|b| {
                b.dir.is_root() && matches!(b.part, crate::unit::Part::Bucket { index: 0, .. })
            })
    }

    /// Whether directory `path` (relative, the root empty) is the run's.
    fn owns_dir(&self, path: &[u8]) -> bool {
        if self.deletes_only {
            return false;
        }
        if path.is_empty() {
            return self.units.contains(path);
        }
        let (parent, name) = match path.iter().rposition(|&b| b == b'/') {
            Some(i) => (&path[..i], &path[i + 1..]),
            None => (&path[..0], path),
        };
        if self.recursive {
            // A recursive unit anywhere above it.
            let mut above = parent;
            loop {
                if self.units.contains(above) {
                    return true;
                }
                match above.iter().rposition(|&b| b == b'/') {
                    Some(i) => above = &above[..i],
                    None if above.is_empty() => return false,
                    None => above = &above[..0],
                }
            }
        }
        self.units.contains(parent)
            || self.buckets.iter().any(|b| {
                b.dir.as_bytes() == parent
                    && b.part.holds(name)
                    && !b.excluded.iter().any(|e| e == name)
            })
    }
}

/// One itemized line: `%i` (11 characters) and the name rsync printed.
struct Item<'a> {
    flags: &'a [u8],
    name: &'a [u8],
}

impl<'a> Item<'a> {
    fn parse(line: &'a [u8]) -> Option<Item<'a>> {
        let rest = line.strip_prefix(ITEM_PREFIX.as_bytes())?;
        let flags = rest.get(..11)?;
        let name = rest.get(12..)?;
        Some(Item { flags, name })
    }

    fn is_deletion(&self) -> bool {
        self.flags.starts_with(b"*")
    }

    fn is_dir(&self) -> bool {
        !self.is_deletion() && self.flags[1] == b'd'
    }

    /// New at the destination (every attribute `+`).
    fn is_new(&self) -> bool {
        !self.is_deletion() && self.flags[2..].iter().all(|&b| b == b'+')
    }

    /// A directory's path relative to the root (`./` is the root), rsync's escapes
    /// (`\#ooo`) undone.
    fn dir_path(&self) -> Vec<u8> {
        let name = unescape(self.name);
        let name = name.strip_suffix(b"/").unwrap_or(&name);
        match name {
            b"." => Vec::new(),
            other => other.strip_prefix(b"./").unwrap_or(other).to_vec(),
        }
    }
}

/// Undoes rsync's escaping of output names: `\#ooo` (three octal digits) is that byte.
pub fn unescape(name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len());
    let mut i = 0;
    while i < name.len() {
        let code = name.get(i..i + 5).filter(|c| {
            c[0] == b'\\' && c[1] == b'#' && c[2..].iter().all(|d| (b'0'..=b'7').contains(d))
        });
        match code {
            Some(c) => {
                let value = c[2..].iter().fold(0u32, |v, d| v * 8 + u32::from(d - b'0'));
                out.push(value as u8);
                i += 5;
            }
            None => {
                out.push(name[i]);
                i += 1;
            }
        }
    }
    out
}

/// Counts one run's output, line by line, as rsync prints it.
#[derive(Debug, Clone)]
pub struct RunCounter {
    owners: Owners,
    dry_run: bool,
    /// Directories itemized that are the run's.
    owned_dirs: u64,
    /// Entries itemized as new that are not the run's.
    foreign_new: u64,
    /// Whether the root was itemized.
    root_listed: bool,
    /// rsync's other output lines (its `--stats` block), bounded.
    other: String,
    /// The run's itemized changes, when asked for ([`RunCounter::itemizing`]).
    items: Option<Itemized>,
}

impl RunCounter {
    /// A counter for a run of `inv`, as the core built it (its buckets still named, whether
    /// or not their entries were appended to its list).
    pub fn new(inv: &RsyncInvocation) -> RunCounter {
        RunCounter {
            owners: Owners::of(inv),
            dry_run: inv.args.iter().any(|a| a == "--dry-run"),
            owned_dirs: 0,
            foreign_new: 0,
            root_listed: false,
            other: String::new(),
            items: None,
        }
    }

    /// Also keeps the run's itemized changes (bounded: [`CHUNK_ITEM_BYTES`]): those of
    /// the entries it counts, its deletions, and in a real run what it created.
    pub fn itemizing(mut self) -> RunCounter {
        self.items = Some(Itemized::default());
        self
    }

    /// The itemized changes kept (none unless [`RunCounter::itemizing`]).
    pub fn take_items(&mut self) -> Itemized {
        self.items.take().unwrap_or_default()
    }

    /// Takes one line of rsync's standard output (without its newline).
    pub fn line(&mut self, line: &[u8]) {
        let Some(item) = Item::parse(line) else {
            if self.other.len() + line.len() < OTHER_OUTPUT_BYTES {
                self.other.push_str(&String::from_utf8_lossy(line));
                self.other.push('\n');
            }
            return;
        };
        if item.is_deletion() {
            self.keep(line);
            return;
        }
        let owned = match item.is_dir() {
            true => {
                let path = item.dir_path();
                self.root_listed |= path.is_empty();
                self.owners.owns_dir(&path)
            }
            false => !self.owners.deletes_only,
        };
        match (owned, item.is_dir()) {
            (true, true) => self.owned_dirs += 1,
            (false, _) if item.is_new() => self.foreign_new += 1,
            _ => {}
        }
        if owned || (item.is_new() && !self.dry_run && !self.owners.deletes_only) {
            self.keep(line);
        }
    }

    /// Keeps an itemized line that is a change, when itemizing: as a local rsync prints
    /// it (a file sent is `>f`, where rsync pushing to a daemon prints `<f`).
    fn keep(&mut self, line: &[u8]) {
        let line = &line[ITEM_PREFIX.len()..];
        if let Some(items) = self.items.as_mut().filter(|_| itemized::is_change(line)) {
            match line.strip_prefix(b"<") {
                Some(rest) => items.push_bounded(&[b">", rest].concat(), CHUNK_ITEM_BYTES),
                None => items.push_bounded(line, CHUNK_ITEM_BYTES),
            }
        }
    }

    /// Takes a whole output (lines separated by `\n`).
    pub fn output(&mut self, output: &[u8]) {
        for line in output.split(|&b| b == b'\n') {
            self.line(line);
        }
    }

    /// The run's counts: rsync's `--stats` with what is not the run's taken out; None when
    /// rsync printed no stats.
    pub fn stats(&self) -> Option<RsyncStats> {
        let mut stats = RsyncStats::parse_found(&self.other)?;
        if self.owners.deletes_only {
            stats.files = 0;
            stats.created_files = 0;
            stats.total_file_size = 0;
            return Some(stats);
        }
        let root = u64::from(self.owners.owns_unlisted_root() && !self.root_listed);
        let dirs = self.owned_dirs + root;
        stats.files = match RsyncStats::dirs_in_file_list(&self.other) {
            Some(rsync_dirs) => stats.files.saturating_sub(rsync_dirs) + dirs,
            // No breakdown (rsync before 3.1): the directories cannot be told apart.
            None => stats.files,
        };
        if self.dry_run {
            stats.created_files = stats.created_files.saturating_sub(self.foreign_new);
        }
        Some(stats)
    }
}

/// The counts of a run of `inv` that printed `output` ([`RunCounter`]).
pub fn run_stats(inv: &RsyncInvocation, output: &[u8]) -> Option<RsyncStats> {
    let mut counter = RunCounter::new(inv);
    counter.output(output);
    counter.stats()
}

#[cfg(test)]
mod tests;
