//! rsync's filter rules (`--exclude`, `--include`, `--filter`, `--exclude-from`,
//! `--include-from`) with rsync's meaning, so that the walk leaves out what every rsync run
//! leaves out.
//!
//! A [`FilterList`] holds the rules in the order given; the first rule whose pattern
//! matches an entry decides. A pattern matches the entry's path relative to the transfer
//! root: a leading `/` anchors it there; a trailing `/` matches directories only; a pattern
//! with a `/` elsewhere or a `**` is matched against the whole path (unanchored, against its
//! last elements), otherwise against the last component; `*` matches within a component,
//! `**` across them, `?` one byte, `[...]` a class, and `dir/***` both `dir` and everything
//! below it (see [`Rule::matches`]). Hide/show (`H`, `S`, the `s` modifier) are for the
//! sender, protect/risk (`P`, `R`, `r`) for the receiver's `--delete`; plain rules for
//! both.
//!
//! Not supported, refused with a message that says what to do: merge and dir-merge rules
//! (`.`, `:`), and the `/`, `x`, `C` modifiers. Parsing is pure; reading the `-from` files
//! is the caller's.

use std::ffi::OsStr;

use crate::unit::RelPath;

mod rule;
mod wildmatch;

#[cfg(test)]
mod tests;

use rule::Parsed;
pub use rule::{Rule, Side};

/// Why a filter rule is refused. Every message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// An empty `--filter`.
    #[error("an empty filter rule: give a rule such as '- *.tmp'")]
    Empty,
    /// Not a rule rsync knows.
    #[error("unknown filter rule {rule:?}: start it with -, +, H, S, P, R or !, or exclude, include, hide, show, protect, risk or clear, then a space and the pattern")]
    Unknown {
        /// The rule.
        rule: String,
    },
    /// A merge or dir-merge rule.
    #[error("filter rule {rule:?} merges a file, which zkrsync does not support: give the rules themselves with --filter, or a file of patterns with --exclude-from / --include-from")]
    Merge {
        /// The rule.
        rule: String,
    },
    /// A modifier that is not supported, or not a modifier.
    #[error("filter rule {rule:?}: modifier '{modifier}' is not supported ({why})")]
    Modifier {
        /// The rule.
        rule: String,
        /// The modifier.
        modifier: char,
        /// Why, and what to do.
        why: &'static str,
    },
    /// A rule without its pattern.
    #[error("filter rule {rule:?} has no pattern: write the pattern after one space or '_', e.g. '- *.tmp'")]
    NoPattern {
        /// The rule.
        rule: String,
    },
    /// `!` or `clear` with something after it.
    #[error("filter rule {rule:?}: clear takes no pattern: give '!' or 'clear' alone")]
    ClearWithText {
        /// The rule.
        rule: String,
    },
    /// A NUL byte, which no path holds.
    #[error("filter rule {rule:?} contains a NUL byte: no file name does; remove it")]
    Nul {
        /// The rule.
        rule: String,
    },
}

/// Filter rules in the order given: the first that matches an entry decides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FilterList {
    rules: Vec<Rule>,
}

impl FilterList {
    /// No rules: everything is included.
    pub fn new() -> FilterList {
        FilterList::default()
    }

    /// The rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    fn add(&mut self, parsed: Parsed) {
        match parsed {
            Parsed::Rule(rule) => self.rules.push(rule),
            Parsed::Clear => self.rules.clear(),
            Parsed::Nothing => {}
        }
    }

    /// Adds a `--filter` rule.
    pub fn push_filter(&mut self, rule: &[u8]) -> Result<(), FilterError> {
        self.add(Rule::parse_filter(rule)?);
        Ok(())
    }

    /// Adds an `--exclude` pattern, or with `include` an `--include` one (`- ` and `+ `
    /// prefixes override, `!` clears).
    pub fn push_pattern(&mut self, pattern: &[u8], include: bool) -> Result<(), FilterError> {
        self.add(Rule::parse_pattern(pattern, include)?);
        Ok(())
    }

    /// Adds the patterns of an `--exclude-from` (or, with `include`, `--include-from`)
    /// file's contents: one a line (ended by LF, CR or CR LF), blank lines and lines that
    /// start with `;` or `#` skipped. An error gives the 1-based line.
    pub fn push_pattern_lines(
        &mut self,
        contents: &[u8],
        include: bool,
    ) -> Result<(), (usize, FilterError)> {
        for (line_no, line) in FilterList::pattern_lines(contents) {
            self.push_pattern(line, include).map_err(|e| (line_no, e))?;
        }
        Ok(())
    }

    /// The lines of a pattern file that hold a pattern, with their 1-based numbers: lines
    /// end with LF, CR or CR LF; blank lines and lines that start with `;` or `#` are
    /// skipped.
    pub fn pattern_lines(contents: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
        contents
            .split(|&b| b == b'\n')
            .enumerate()
            .flat_map(|(i, line)| line.split(|&b| b == b'\r').map(move |part| (i + 1, part)))
            .filter(|(_, part)| !part.is_empty() && part[0] != b';' && part[0] != b'#')
    }

    /// Whether the sender leaves out the entry at `path` (relative to the root, a
    /// directory when `is_dir`): the first rule for the sender's side (not `P`, `R`, `r`)
    /// that matches is an exclude. The root itself is never left out.
    pub fn excludes(&self, path: &[u8], is_dir: bool) -> bool {
        self.rules
            .iter()
            .filter(|r| r.side != Side::Receiver)
            .find(|r| r.matches(path, is_dir))
            .is_some_and(|r| !r.include)
    }

    /// Whether the entry `name` of the directory `dir` (relative to the root) is kept: the
    /// listing filter of the walk and of the delete guard.
    pub fn keeps_entry(&self, dir: &RelPath, name: &OsStr, is_dir: bool) -> bool {
        self.is_empty() || !self.excludes(dir.join(name).as_bytes(), is_dir)
    }

    /// The rules in rsync's `--filter` syntax, one each, in order (the form the session
    /// parameters record, read back with [`FilterList::from_texts`]).
    pub fn texts(&self) -> Vec<Vec<u8>> {
        self.rules.iter().map(|r| r.text(Side::Both)).collect()
    }

    /// Rules recorded with [`FilterList::texts`].
    pub fn from_texts<T: AsRef<[u8]>>(texts: &[T]) -> Result<FilterList, FilterError> {
        let mut list = FilterList::new();
        for t in texts {
            list.push_filter(t.as_ref())?;
        }
        Ok(list)
    }

    /// The rules as rsync reads a merge file with `--from0`: each NUL-terminated. With
    /// `delete_excluded`, rules for both sides become the sender's only, which is what
    /// rsync's `--delete-excluded` does to them (so excluded entries are not protected from
    /// `--delete`, while `P` rules still protect).
    pub fn rsync_rules(&self, delete_excluded: bool) -> Vec<u8> {
        let both = if delete_excluded {
            Side::Sender
        } else {
            Side::Both
        };
        let mut out = Vec::new();
        for rule in &self.rules {
            out.extend_from_slice(&rule.text(both));
            out.push(0);
        }
        out
    }
}
