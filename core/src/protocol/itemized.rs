//! rsync's itemized changes (`--itemize`): what each run changed (or, in a dry run, would
//! change), gathered into one list for the session.
//!
//! Each run's lines are the ones `rsync -i` prints (`%i %n%L`, names relative to the tree's
//! root, rsync's escapes kept), chosen by the run's counter as its counts are
//! ([`super::run_counts`]): entries of the run's units, its deletions, and in a real run the
//! parent directories it created. A chunk keeps at most [`CHUNK_ITEM_BYTES`] of them for its
//! `done` record (ZooKeeper refuses a write over about 1 MB), and the master's list keeps the
//! first [`SESSION_ITEMS`] by path; each says how many it left out.

/// Most bytes of itemized lines one chunk's `done` record holds.
pub const CHUNK_ITEM_BYTES: usize = 128 * 1024;

/// Most lines of the session's list.
pub const SESSION_ITEMS: usize = 10_000;

/// Itemized lines and how many were left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Itemized {
    /// The lines kept (`%i %n%L`, without a newline).
    pub lines: Vec<Vec<u8>>,
    /// Lines left out.
    pub omitted: u64,
    /// Bytes of `lines`, a newline each.
    held: usize,
}

impl Itemized {
    /// `lines`, with `omitted` left out.
    pub fn new(lines: Vec<Vec<u8>>, omitted: u64) -> Itemized {
        let held = lines.iter().map(|l| l.len() + 1).sum();
        Itemized {
            lines,
            omitted,
            held,
        }
    }

    /// Adds `line`, unless the lines kept would then hold more than `max_bytes`.
    pub fn push_bounded(&mut self, line: &[u8], max_bytes: usize) {
        if self.held + line.len() < max_bytes {
            self.held += line.len() + 1;
            self.lines.push(line.to_vec());
        } else {
            self.omitted += 1;
        }
    }

    /// Adds `other`'s lines (a later run of the same chunk), within `max_bytes`.
    pub fn extend_bounded(&mut self, other: Itemized, max_bytes: usize) {
        self.omitted += other.omitted;
        for line in &other.lines {
            self.push_bounded(line, max_bytes);
        }
    }

    /// The session's list from the chunks' lists: sorted by path (each chunk's lines are
    /// the ones of its own entries, so no path comes twice), the first `max_lines` kept.
    pub fn merged<'a>(
        chunks: impl IntoIterator<Item = &'a Itemized>,
        max_lines: usize,
    ) -> Itemized {
        let (mut lines, mut omitted) = (Vec::new(), 0);
        for c in chunks {
            omitted += c.omitted;
            lines.extend(c.lines.iter().cloned());
        }
        lines.sort_by(|a, b| path_of(a).cmp(path_of(b)).then(a.cmp(b)));
        if lines.len() > max_lines {
            omitted += (lines.len() - max_lines) as u64;
            lines.truncate(max_lines);
        }
        Itemized::new(lines, omitted)
    }
}

/// The name part of a line (after `%i` and a space).
pub fn path_of(line: &[u8]) -> &[u8] {
    line.get(12..).unwrap_or_default()
}

/// Whether an itemized line (`%i …`) is one `rsync -i` prints: a change, not an unchanged
/// entry (`.f` and attributes all blank), which `-ii` shows too.
pub fn is_change(line: &[u8]) -> bool {
    match line.get(..11) {
        Some(flags) => !(flags[0] == b'.' && flags[2..].iter().all(|&b| b == b' ')),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_what_rsync_i_prints() {
        assert!(is_change(b"cd+++++++++ a/"));
        assert!(is_change(b".d..t...... ./"));
        assert!(is_change(b"*deleting   a/x"));
        assert!(is_change(b"<f.st...... f"));
        assert!(!is_change(b".f          f"));
        assert!(!is_change(b".d          a/"));
        assert!(!is_change(b"short"));
    }

    #[test]
    fn bounded_and_merged_by_path() {
        let mut a = Itemized::default();
        for line in [&b">f+++++++++ b"[..], b"cd+++++++++ a/", b">f+++++++++ c"] {
            a.push_bounded(line, 30);
        }
        assert_eq!((a.lines.len(), a.omitted), (2, 1));
        let b = Itemized::new(
            vec![b"*deleting   a/x".to_vec(), b">f+++++++++ 0".to_vec()],
            2,
        );
        let all = Itemized::merged([&a, &b], 3);
        let paths: Vec<&[u8]> = all.lines.iter().map(|l| path_of(l)).collect();
        assert_eq!(paths, [&b"0"[..], b"a/", b"a/x"]);
        assert_eq!(all.omitted, 1 + 2 + 1);
        let mut c = Itemized::default();
        c.extend_bounded(b.clone(), 1000);
        assert_eq!(c, b);
    }
}
