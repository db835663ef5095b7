//! Parsing and summing rsync's `--stats` output.
//!
//! The block is found by its labels anywhere in rsync's standard output (itemized changes
//! or file names may come first). Tolerated:
//! - thousands separators `,` (C locale, rsync 3.1+), `.` and `'` (other locales), or none
//!   (rsync 3.0);
//! - the breakdown after a count, `Number of files: 1,243 (reg: 1,000, dir: 200, link: 43)`;
//! - `--human-readable` twice or more: `205.09K`, `3.06M` (taken as powers of 1024, which is
//!   what rsync 3.2.7 prints for `-hh` and `-hhh`; such values are approximate);
//! - rsync 3.0's `Number of files transferred` for `Number of regular files transferred`.
//!
//! The summary lines `sent … received …` and `total size is …` are ignored.

use std::iter::Sum;
use std::ops::{Add, AddAssign};

/// The counters of one rsync run (or a sum of runs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RsyncStats {
    /// `Number of files` (all kinds, directories included).
    pub files: u64,
    /// `Number of regular files transferred`.
    pub regular_files_transferred: u64,
    /// `Number of created files` (rsync 3.1+).
    pub created_files: u64,
    /// `Number of deleted files` (rsync 3.1+).
    pub deleted_files: u64,
    /// `Total file size`, bytes.
    pub total_file_size: u64,
    /// `Total transferred file size`, bytes.
    pub transferred_file_size: u64,
    /// `Literal data`, bytes.
    pub literal_data: u64,
    /// `Matched data`, bytes.
    pub matched_data: u64,
    /// `File list size`, bytes.
    pub file_list_size: u64,
    /// `Total bytes sent`.
    pub bytes_sent: u64,
    /// `Total bytes received`.
    pub bytes_received: u64,
}

/// Why the output could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatsError {
    /// No stats line at all.
    #[error("no --stats block in rsync's output")]
    Missing,
    /// A known line whose number cannot be read.
    #[error("cannot read the number in rsync's stats line {0:?}")]
    BadNumber(String),
}

type Field = fn(&mut RsyncStats) -> &mut u64;

/// Labels, longest first where one is a prefix of another.
const LABELS: [(&str, Field); 12] = [
    ("Number of regular files transferred:", |s| {
        &mut s.regular_files_transferred
    }),
    ("Number of files transferred:", |s| {
        &mut s.regular_files_transferred
    }),
    ("Number of created files:", |s| &mut s.created_files),
    ("Number of deleted files:", |s| &mut s.deleted_files),
    ("Number of files:", |s| &mut s.files),
    ("Total transferred file size:", |s| {
        &mut s.transferred_file_size
    }),
    ("Total file size:", |s| &mut s.total_file_size),
    ("Literal data:", |s| &mut s.literal_data),
    ("Matched data:", |s| &mut s.matched_data),
    ("File list size:", |s| &mut s.file_list_size),
    ("Total bytes sent:", |s| &mut s.bytes_sent),
    ("Total bytes received:", |s| &mut s.bytes_received),
];

impl RsyncStats {
    /// Parses the stats in `output`; an error when there are none or a number is unreadable.
    pub fn parse(output: &str) -> Result<RsyncStats, StatsError> {
        let mut stats = RsyncStats::default();
        let mut found = false;
        for line in output.lines() {
            let line = line.trim();
            let Some((label, field)) = LABELS.iter().find(|(label, _)| line.starts_with(label))
            else {
                continue;
            };
            let value = parse_number(&line[label.len()..])
                .ok_or_else(|| StatsError::BadNumber(line.to_owned()))?;
            *field(&mut stats) = value;
            found = true;
        }
        if found {
            Ok(stats)
        } else {
            Err(StatsError::Missing)
        }
    }

    /// The stats in `output`, if it has a readable block.
    pub fn parse_found(output: &str) -> Option<RsyncStats> {
        RsyncStats::parse(output).ok()
    }

    /// The stats of `self`'s runs followed by a run of the same file list (a chunk run
    /// again under the `--max-delete` budget): what the list holds (files, total size) is
    /// the later run's, what the runs did is summed.
    pub fn then(self, later: RsyncStats) -> RsyncStats {
        RsyncStats {
            files: later.files,
            total_file_size: later.total_file_size,
            ..self + later
        }
    }

    /// The directories among `Number of files` in `output`, from its breakdown
    /// (`Number of files: 1,243 (reg: 1,000, dir: 200, link: 43)`; a kind rsync leaves out
    /// is none of it, a count of 0 has no breakdown). None without such a line, or when the
    /// count has no breakdown (rsync before 3.1).
    pub fn dirs_in_file_list(output: &str) -> Option<u64> {
        let line = output
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("Number of files:"))?;
        let rest = &line["Number of files:".len()..];
        let (count, kinds) = match rest.split_once('(') {
            Some((count, kinds)) => (count, kinds.trim_end().strip_suffix(')')?),
            None => (rest, ""),
        };
        if kinds.is_empty() {
            return (parse_number(count)? == 0).then_some(0);
        }
        // Numbers may hold `,` themselves: kinds are separated by a comma and a space.
        for kind in kinds.split(", ") {
            if let Some(n) = kind.trim().strip_prefix("dir:") {
                return parse_number(n);
            }
        }
        Some(0)
    }

    fn fields(&mut self) -> [&mut u64; 11] {
        [
            &mut self.files,
            &mut self.regular_files_transferred,
            &mut self.created_files,
            &mut self.deleted_files,
            &mut self.total_file_size,
            &mut self.transferred_file_size,
            &mut self.literal_data,
            &mut self.matched_data,
            &mut self.file_list_size,
            &mut self.bytes_sent,
            &mut self.bytes_received,
        ]
    }
}

/// The first number of `text` (` 1,234 bytes`, ` 3.021 (reg: …)`, ` 205.09K bytes`).
fn parse_number(text: &str) -> Option<u64> {
    let word = text.split_whitespace().next()?;
    let (digits, mult) = match word.chars().last()? {
        'K' | 'k' => (&word[..word.len() - 1], 1u64 << 10),
        'M' => (&word[..word.len() - 1], 1 << 20),
        'G' => (&word[..word.len() - 1], 1 << 30),
        'T' => (&word[..word.len() - 1], 1 << 40),
        'P' => (&word[..word.len() - 1], 1 << 50),
        _ => (word, 1),
    };
    if mult > 1 {
        // A decimal number with a unit: `.` or `,` is the decimal point.
        let value: f64 = digits.replace(',', ".").parse().ok()?;
        return (value.is_finite() && value >= 0.0).then(|| (value * mult as f64).round() as u64);
    }
    // Groups of three digits, separated by one kind of separator.
    let sep = digits.chars().find(|c| matches!(c, ',' | '.' | '\''));
    let mut groups = match sep {
        Some(sep) => digits.split(sep).collect::<Vec<_>>(),
        None => vec![digits],
    };
    if groups
        .iter()
        .any(|g| g.is_empty() || !g.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    if groups.len() > 1 && (groups[0].len() > 3 || groups[1..].iter().any(|g| g.len() != 3)) {
        return None;
    }
    let joined: String = groups.drain(..).collect();
    joined.parse().ok()
}

impl AddAssign for RsyncStats {
    fn add_assign(&mut self, mut other: RsyncStats) {
        for (a, b) in self.fields().into_iter().zip(other.fields()) {
            *a = a.saturating_add(*b);
        }
    }
}

impl Add for RsyncStats {
    type Output = RsyncStats;
    fn add(mut self, other: RsyncStats) -> RsyncStats {
        self += other;
        self
    }
}

impl Sum for RsyncStats {
    fn sum<I: Iterator<Item = RsyncStats>>(iter: I) -> RsyncStats {
        iter.fold(RsyncStats::default(), Add::add)
    }
}

impl<'a> Sum<&'a RsyncStats> for RsyncStats {
    fn sum<I: Iterator<Item = &'a RsyncStats>>(iter: I) -> RsyncStats {
        iter.copied().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fixture(name: &str) -> RsyncStats {
        let text = match name {
            "first" => include_str!("rsync_stats/testdata/rsync-3.2.7-first.txt"),
            "nochange" => include_str!("rsync_stats/testdata/rsync-3.2.7-nochange.txt"),
            "delete" => include_str!("rsync_stats/testdata/rsync-3.2.7-delete.txt"),
            "dryrun" => include_str!("rsync_stats/testdata/rsync-3.2.7-dryrun.txt"),
            "hh" => include_str!("rsync_stats/testdata/rsync-3.2.7-hh.txt"),
            "hhh_itemize" => include_str!("rsync_stats/testdata/rsync-3.2.7-hhh_itemize.txt"),
            "3.0.9" => include_str!("rsync_stats/testdata/rsync-3.0.9.txt"),
            "3.1-dots" => include_str!("rsync_stats/testdata/rsync-3.1-dots.txt"),
            "3.4-apostrophes" => include_str!("rsync_stats/testdata/rsync-3.4-apostrophes.txt"),
            other => panic!("no fixture {other}"),
        };
        RsyncStats::parse(text).unwrap()
    }

    #[test]
    fn real_first_copy() {
        // 20 files of 1..20 kB, one of 4 bytes, 4 directories, 1 symlink.
        assert_eq!(
            fixture("first"),
            RsyncStats {
                files: 26,
                regular_files_transferred: 21,
                created_files: 26,
                deleted_files: 0,
                total_file_size: 210_004,
                transferred_file_size: 210_003,
                literal_data: 210_003,
                matched_data: 0,
                file_list_size: 0,
                bytes_sent: 211_364,
                bytes_received: 437,
            }
        );
    }

    #[test]
    fn real_resyncs() {
        let nochange = fixture("nochange");
        assert_eq!(
            (
                nochange.files,
                nochange.regular_files_transferred,
                nochange.literal_data
            ),
            (26, 0, 0)
        );
        let delete = fixture("delete");
        assert_eq!(
            (delete.deleted_files, delete.regular_files_transferred),
            (1, 0)
        );
        let dry = fixture("dryrun");
        assert_eq!(
            (dry.files, dry.regular_files_transferred, dry.literal_data),
            (26, 1, 0)
        );
    }

    #[test]
    fn human_readable_and_itemized() {
        let hh = fixture("hh");
        assert_eq!(hh.total_file_size, (205.09f64 * 1024.0).round() as u64);
        assert_eq!(
            (hh.files, hh.transferred_file_size, hh.bytes_sent),
            (26, 8, 478)
        );
        let hhh = fixture("hhh_itemize");
        assert_eq!(hhh.files, 27);
        assert_eq!(hhh.bytes_sent, (2.86f64 * 1024.0 * 1024.0).round() as u64);
    }

    #[test]
    fn older_formats_and_other_separators() {
        let old = fixture("3.0.9");
        assert_eq!(
            (
                old.files,
                old.regular_files_transferred,
                old.total_file_size,
                old.bytes_sent
            ),
            (1243, 12, 5_218_346, 71_043)
        );
        assert_eq!(old.created_files, 0);
        let dots = fixture("3.1-dots");
        assert_eq!(
            (
                dots.files,
                dots.regular_files_transferred,
                dots.total_file_size
            ),
            (3021, 2800, 1_234_567_890)
        );
        assert_eq!(
            (dots.file_list_size, dots.bytes_sent, dots.bytes_received),
            (65_535, 1_235_012_345, 54_321)
        );
        let ap = fixture("3.4-apostrophes");
        assert_eq!(
            (
                ap.files,
                ap.deleted_files,
                ap.total_file_size,
                ap.matched_data
            ),
            (12_345, 3, 98_765_432, 69_000)
        );
    }

    #[test]
    fn sums() {
        let all = [fixture("first"), fixture("nochange"), fixture("3.0.9")];
        let total: RsyncStats = all.iter().sum();
        assert_eq!(total.files, 26 + 26 + 1243);
        assert_eq!(
            total.bytes_sent,
            all.iter().map(|s| s.bytes_sent).sum::<u64>()
        );
        assert_eq!(total, all.into_iter().sum());
        let max = RsyncStats {
            files: u64::MAX,
            ..Default::default()
        };
        assert_eq!((max + max).files, u64::MAX);
    }

    #[test]
    fn directories_of_the_breakdown() {
        let dirs = |text: &str| RsyncStats::dirs_in_file_list(text);
        let first = include_str!("rsync_stats/testdata/rsync-3.2.7-first.txt");
        assert_eq!(dirs(first), Some(4));
        assert_eq!(
            dirs("Number of files: 1,243 (reg: 1,000, dir: 1,200, link: 43)"),
            Some(1200)
        );
        assert_eq!(dirs("Number of files: 3 (reg: 3)"), Some(0));
        assert_eq!(dirs("Number of files: 0"), Some(0));
        assert_eq!(
            dirs("Number of files: 12.345 (reg: 2.345, dir: 10.000)"),
            Some(10_000)
        );
        let old = include_str!("rsync_stats/testdata/rsync-3.0.9.txt");
        assert_eq!(dirs(old), None, "rsync 3.0 has no breakdown");
        assert_eq!(dirs("nothing"), None);
    }

    #[test]
    fn a_run_again_counts_its_list_once() {
        let first = fixture("first");
        let again = first.then(fixture("delete"));
        assert_eq!((again.files, again.total_file_size), (26, 210_004));
        assert_eq!(again.deleted_files, 1);
        assert_eq!(again.regular_files_transferred, 21);
        assert_eq!(
            again.bytes_sent,
            first.bytes_sent + fixture("delete").bytes_sent
        );
        assert_eq!(RsyncStats::default().then(first), first);
    }

    #[test]
    fn errors() {
        assert_eq!(
            RsyncStats::parse("sending incremental file list\nfoo\n"),
            Err(StatsError::Missing)
        );
        assert_eq!(RsyncStats::parse_found("nothing here"), None);
        assert!(matches!(
            RsyncStats::parse("Number of files: lots"),
            Err(StatsError::BadNumber(_))
        ));
        assert!(matches!(
            RsyncStats::parse("Total file size: 12,34 bytes"),
            Err(StatsError::BadNumber(_))
        ));
    }

    fn format(s: &RsyncStats, sep: &str) -> String {
        let n = |v: u64| {
            let digits = v.to_string();
            let mut out = String::new();
            for (i, c) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i) % 3 == 0 {
                    out.push_str(sep);
                }
                out.push(c);
            }
            out
        };
        format!(
            "Number of files: {} (reg: 1, dir: 2)\nNumber of created files: {}\nNumber of deleted files: {}\nNumber of regular files transferred: {}\nTotal file size: {} bytes\nTotal transferred file size: {} bytes\nLiteral data: {} bytes\nMatched data: {} bytes\nFile list size: {}\nFile list generation time: 0.001 seconds\nTotal bytes sent: {}\nTotal bytes received: {}\n\nsent 1 bytes  received 2 bytes  3.00 bytes/sec\ntotal size is 4  speedup is 1.00\n",
            n(s.files), n(s.created_files), n(s.deleted_files), n(s.regular_files_transferred), n(s.total_file_size),
            n(s.transferred_file_size), n(s.literal_data), n(s.matched_data), n(s.file_list_size), n(s.bytes_sent), n(s.bytes_received)
        )
    }

    proptest! {
        #[test]
        fn formatted_stats_parse_back(v in proptest::collection::vec(any::<u64>(), 11), sep in prop_oneof![Just(""), Just(","), Just("."), Just("'")]) {
            let s = RsyncStats {
                files: v[0], regular_files_transferred: v[1], created_files: v[2], deleted_files: v[3],
                total_file_size: v[4], transferred_file_size: v[5], literal_data: v[6], matched_data: v[7],
                file_list_size: v[8], bytes_sent: v[9], bytes_received: v[10],
            };
            prop_assert_eq!(RsyncStats::parse(&format(&s, sep)).unwrap(), s);
        }
    }
}
