//! One filter rule: how rsync parses it (`--filter` syntax, or the older `--exclude` /
//! `--include` patterns with their `- ` / `+ ` prefixes), how it matches a path (rsync's
//! `rule_matches`), and its canonical text.

use super::wildmatch::wildmatch;
use super::FilterError;

/// Which side of a transfer a rule is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// Both: what the sender sends, and what the receiver's `--delete` spares.
    Both,
    /// The sender only (`H`, `S`, the `s` modifier): hidden or shown, never protected.
    Sender,
    /// The receiver only (`P`, `R`, the `r` modifier): protected from or exposed to
    /// `--delete`, never hidden.
    Receiver,
}

/// One include or exclude rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rule {
    /// Include (`+`) rather than exclude (`-`).
    pub include: bool,
    /// The side it is for.
    pub side: Side,
    /// The `p` modifier: ignored on the receiver for directories being deleted.
    pub perishable: bool,
    /// The `!` modifier: the rule applies where the pattern does *not* match.
    pub negate: bool,
    /// The pattern as written, with its trailing `/` if it had one.
    pub pattern: Vec<u8>,
    /// What the pattern is made of, worked out once ([`Shape::of`]).
    shape: Shape,
}

/// The properties of a pattern that decide how it is matched (rsync's rule flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
struct Shape {
    /// A trailing `/`: directories only.
    dir_only: bool,
    /// A leading `/`: anchored at the root.
    anchored: bool,
    /// `/`s in the pattern (the leading one included, the trailing one not).
    slashes: usize,
    /// A `*`, `?` or `[`.
    wild: bool,
    /// A `**`.
    star2: bool,
    /// Starts with `**`.
    star2_prefix: bool,
    /// Ends with `***`.
    star3_suffix: bool,
}

impl Shape {
    fn of(pattern: &[u8]) -> Shape {
        let dir_only = pattern.len() > 1 && pattern.ends_with(b"/");
        let pattern = match dir_only {
            true => &pattern[..pattern.len() - 1],
            false => pattern,
        };
        let wild = pattern.iter().any(|b| matches!(b, b'*' | b'?' | b'['));
        let star2 = wild && pattern.windows(2).any(|w| w == b"**");
        Shape {
            dir_only,
            anchored: pattern.first() == Some(&b'/'),
            slashes: pattern.iter().filter(|&&b| b == b'/').count(),
            wild,
            star2,
            star2_prefix: star2 && pattern.starts_with(b"**"),
            star3_suffix: star2 && pattern.ends_with(b"***"),
        }
    }
}

/// What one piece of rule text is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Parsed {
    /// A rule.
    Rule(Rule),
    /// `!` / `clear`: forget the rules before it.
    Clear,
    /// Nothing (an empty `--exclude ''`, as rsync ignores it).
    Nothing,
}

fn shown(text: &[u8]) -> String {
    String::from_utf8_lossy(text).into_owned()
}

/// `text` as a long rule name (`exclude`), followed by a separator or `,` and modifiers:
/// the rest after the name, or None.
fn long_name<'a>(text: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let rest = text.strip_prefix(name.as_bytes())?;
    match rest.first() {
        None | Some(b' ' | b'_' | b',') => Some(rest),
        _ => None,
    }
}

impl Rule {
    /// Parses a `--filter` rule: `RULE[,MODIFIERS] PATTERN` with a short (`-`, `+`, `H`,
    /// `S`, `P`, `R`, `!`) or long (`exclude`, `include`, `hide`, `show`, `protect`, `risk`,
    /// `clear`) name, the pattern after one space or `_`.
    pub(super) fn parse_filter(text: &[u8]) -> Result<Parsed, FilterError> {
        let rule = shown(text);
        if text.contains(&0) {
            return Err(FilterError::Nul { rule });
        }
        let long = [
            ("exclude", b'-'),
            ("include", b'+'),
            ("hide", b'H'),
            ("show", b'S'),
            ("protect", b'P'),
            ("risk", b'R'),
            ("clear", b'!'),
            ("merge", b'.'),
            ("dir-merge", b':'),
        ];
        let (kind, mut rest) = match long
            .iter()
            .find_map(|(n, k)| Some((*k, long_name(text, n)?)))
        {
            Some(found) => found,
            None => match text.split_first() {
                Some((&k, rest)) => (k, rest),
                None => return Err(FilterError::Empty),
            },
        };
        rest = rest.strip_prefix(b",").unwrap_or(rest);
        let (include, side) = match kind {
            b'-' => (false, None),
            b'+' => (true, None),
            b'H' => (false, Some(Side::Sender)),
            b'S' => (true, Some(Side::Sender)),
            b'P' => (false, Some(Side::Receiver)),
            b'R' => (true, Some(Side::Receiver)),
            b'!' => {
                return match rest.is_empty() {
                    true => Ok(Parsed::Clear),
                    false => Err(FilterError::ClearWithText { rule }),
                }
            }
            b'.' | b':' => return Err(FilterError::Merge { rule }),
            _ => return Err(FilterError::Unknown { rule }),
        };
        let mut out = Rule {
            include,
            side: side.unwrap_or(Side::Both),
            perishable: false,
            negate: false,
            pattern: Vec::new(),
            shape: Shape::default(),
        };
        let mut i = 0;
        while i < rest.len() && rest[i] != b' ' && rest[i] != b'_' {
            let m = rest[i];
            match m {
                b'!' => out.negate = true,
                b'p' => out.perishable = true,
                b's' | b'r' if side.is_some() || out.side != Side::Both => {
                    return Err(FilterError::Modifier { rule, modifier: m as char, why: "the rule already says which side it is for" })
                }
                b's' => out.side = Side::Sender,
                b'r' => out.side = Side::Receiver,
                b'/' => return Err(FilterError::Modifier { rule, modifier: '/', why: "zkrsync runs rsync inside the source tree, where absolute paths differ from host to host: anchor the pattern at the transfer root with a leading '/' instead" }),
                b'x' => return Err(FilterError::Modifier { rule, modifier: 'x', why: "extended-attribute rules are not supported: leave it out" }),
                b'C' => return Err(FilterError::Modifier { rule, modifier: 'C', why: "CVS-ignore rules are not supported: give the patterns as rules" }),
                b'e' | b'n' | b'w' | b'+' | b'-' => return Err(FilterError::Modifier { rule, modifier: m as char, why: "it is a merge-file modifier, and merge files are not supported: give the rules themselves" }),
                _ => return Err(FilterError::Modifier { rule, modifier: m as char, why: "rsync has no such modifier: see FILTER RULES in rsync(1)" }),
            }
            i += 1;
        }
        let pattern = rest.get(i + 1..).unwrap_or_default();
        if pattern.is_empty() {
            return Err(FilterError::NoPattern { rule });
        }
        out.pattern = pattern.to_vec();
        out.shape = Shape::of(pattern);
        Ok(Parsed::Rule(out))
    }

    /// Parses an `--exclude` (or, with `include`, `--include`) pattern, or one line of an
    /// `--exclude-from` / `--include-from` file: the pattern itself, unless it starts with
    /// `- ` or `+ ` (then it is an exclude or include whatever the option), or is `!`
    /// (forget the rules before it).
    pub(super) fn parse_pattern(text: &[u8], include: bool) -> Result<Parsed, FilterError> {
        if text.contains(&0) {
            return Err(FilterError::Nul { rule: shown(text) });
        }
        let (include, pattern) = match text {
            [b'-', b' ', rest @ ..] => (false, rest),
            [b'+', b' ', rest @ ..] => (true, rest),
            b"!" => return Ok(Parsed::Clear),
            _ => (include, text),
        };
        if pattern.is_empty() {
            return match text.is_empty() {
                true => Ok(Parsed::Nothing),
                false => Err(FilterError::NoPattern { rule: shown(text) }),
            };
        }
        Ok(Parsed::Rule(Rule {
            include,
            side: Side::Both,
            perishable: false,
            negate: false,
            pattern: pattern.to_vec(),
            shape: Shape::of(pattern),
        }))
    }

    /// The rule in rsync's `--filter` syntax, as [`Rule::parse_filter`] reads it back:
    /// `-` or `+`, the modifiers, a space, the pattern. `side` replaces a rule's
    /// [`Side::Both`] (`--delete-excluded` makes such rules the sender's only).
    pub fn text(&self, both: Side) -> Vec<u8> {
        let mut out = vec![if self.include { b'+' } else { b'-' }];
        match if self.side == Side::Both {
            both
        } else {
            self.side
        } {
            Side::Both => {}
            Side::Sender => out.push(b's'),
            Side::Receiver => out.push(b'r'),
        }
        if self.perishable {
            out.push(b'p');
        }
        if self.negate {
            out.push(b'!');
        }
        out.push(b' ');
        out.extend_from_slice(&self.pattern);
        out
    }

    /// Whether the rule matches the entry at `path` (relative to the transfer root, no
    /// leading `/`), a directory when `is_dir`: rsync's `rule_matches`.
    pub fn matches(&self, path: &[u8], is_dir: bool) -> bool {
        let hit = !self.negate;
        if path.is_empty() {
            return false;
        }
        let shape = self.shape;
        let mut pattern = self.pattern.as_slice();
        if shape.dir_only {
            pattern = &pattern[..pattern.len() - 1];
        }
        if !is_dir && shape.dir_only {
            return !hit;
        }
        let name = match shape.slashes == 0 && !shape.star2 {
            // Neither a slash nor a "**": the last component only.
            true => path.rsplit(|&b| b == b'/').next().unwrap_or(path),
            false => path,
        };
        if shape.anchored {
            pattern = &pattern[1..];
        }
        let matched = if shape.wild {
            let mut text = Vec::with_capacity(name.len() + 2);
            if shape.star2_prefix {
                // "**/x" matches x at the top too.
                text.push(b'/');
            }
            text.extend_from_slice(name);
            if is_dir && shape.star3_suffix {
                // "dir/***" matches dir itself.
                text.push(b'/');
            }
            let where_ = if !shape.anchored && shape.slashes > 0 && !shape.star2 {
                // An unanchored pattern with a slash matches the last elements of the path.
                shape.slashes as i32 + 1
            } else if !shape.anchored && !shape.star2_prefix && shape.star2 {
                -1
            } else {
                0
            };
            wildmatch(pattern, &text, where_)
        } else if shape.anchored {
            name == pattern
        } else {
            name.len() >= pattern.len()
                && name.ends_with(pattern)
                && (name.len() == pattern.len() || name[name.len() - pattern.len() - 1] == b'/')
        };
        if matched {
            hit
        } else {
            !hit
        }
    }
}
