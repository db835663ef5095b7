//! Glob patterns as rsync's filter rules mean them, on bytes: `*` any run of bytes but `/`,
//! `**` (or more stars) any run at all, `?` one byte but `/`, `[...]` one byte of a set
//! (`!` or `^` negates; ranges `a-z`; classes `[:alpha:]`; `\` escapes; never `/`), `\`
//! escapes anything else. Written here: the pattern is compiled to tokens and matched
//! against every suffix of the text at once (a table of token × text position), which also
//! answers "at the start, or after any `/`". The cases in `tests` and in
//! `tests/tests/filters.rs` are decided as rsync 3.2 decides them.

/// One piece of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// This byte.
    Byte(u8),
    /// `?`.
    One,
    /// `*`.
    Star,
    /// `**`.
    Stars,
    /// `[...]`.
    Set { negated: bool, items: Vec<Item> },
    /// A trailing lone `\`: matches no byte.
    Never,
}

/// One member of a `[...]` set.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Byte(u8),
    Range(u8, u8),
    Class(Class),
}

/// A POSIX character class (C locale).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Alnum,
    Alpha,
    Blank,
    Cntrl,
    Digit,
    Graph,
    Lower,
    Print,
    Punct,
    Space,
    Upper,
    Xdigit,
}

impl Class {
    fn named(name: &[u8]) -> Option<Class> {
        Some(match name {
            b"alnum" => Class::Alnum,
            b"alpha" => Class::Alpha,
            b"blank" => Class::Blank,
            b"cntrl" => Class::Cntrl,
            b"digit" => Class::Digit,
            b"graph" => Class::Graph,
            b"lower" => Class::Lower,
            b"print" => Class::Print,
            b"punct" => Class::Punct,
            b"space" => Class::Space,
            b"upper" => Class::Upper,
            b"xdigit" => Class::Xdigit,
            _ => return None,
        })
    }

    fn has(self, c: u8) -> bool {
        match self {
            Class::Alnum => c.is_ascii_alphanumeric(),
            Class::Alpha => c.is_ascii_alphabetic(),
            Class::Blank => c == b' ' || c == b'\t',
            Class::Cntrl => c.is_ascii_control(),
            Class::Digit => c.is_ascii_digit(),
            Class::Graph => c.is_ascii_graphic(),
            Class::Lower => c.is_ascii_lowercase(),
            Class::Print => c.is_ascii_graphic() || c == b' ',
            Class::Punct => c.is_ascii_punctuation(),
            Class::Space => c == b' ' || (9..=13).contains(&c),
            Class::Upper => c.is_ascii_uppercase(),
            Class::Xdigit => c.is_ascii_hexdigit(),
        }
    }
}

impl Token {
    /// Whether this one-byte token takes `c`.
    fn takes(&self, c: u8) -> bool {
        match self {
            Token::Byte(b) => *b == c,
            Token::One => c != b'/',
            Token::Set { negated, items } => {
                let inside = items.iter().any(|item| match *item {
                    Item::Byte(b) => b == c,
                    Item::Range(lo, hi) => lo <= c && c <= hi,
                    Item::Class(class) => class.has(c),
                });
                c != b'/' && inside != *negated
            }
            Token::Star | Token::Stars | Token::Never => false,
        }
    }
}

/// The tokens of `pattern`; None when it can match nothing at all (a set without its `]`,
/// or an unknown class name).
fn compile(pattern: &[u8]) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'\\' => {
                tokens.push(match pattern.get(i + 1) {
                    Some(&c) => Token::Byte(c),
                    None => Token::Never,
                });
                i += 2;
            }
            b'?' => {
                tokens.push(Token::One);
                i += 1;
            }
            b'*' => {
                let run = pattern[i..].iter().take_while(|&&c| c == b'*').count();
                tokens.push(if run == 1 { Token::Star } else { Token::Stars });
                i += run;
            }
            b'[' => {
                let (set, next) = compile_set(pattern, i + 1)?;
                tokens.push(set);
                i = next;
            }
            c => {
                tokens.push(Token::Byte(c));
                i += 1;
            }
        }
    }
    Some(tokens)
}

/// The set whose body starts at `start` (just after its `[`), and where the pattern goes
/// on after its `]`. The first byte of the body (after a negation) is a member even when
/// it is `]`; a `-` between two members makes a range; `[:` without a closing `:]` is an
/// ordinary `[`.
fn compile_set(p: &[u8], start: usize) -> Option<(Token, usize)> {
    let mut i = start;
    let negated = matches!(p.get(i), Some(b'!' | b'^'));
    if negated {
        i += 1;
    }
    let mut items: Vec<Item> = Vec::new();
    // The last member's byte, which a following `-` may start a range from.
    let mut last: Option<u8> = None;
    let mut first = true;
    loop {
        let &c = p.get(i)?;
        if c == b']' && !first {
            return Some((Token::Set { negated, items }, i + 1));
        }
        first = false;
        if c == b'\\' {
            let &escaped = p.get(i + 1)?;
            items.push(Item::Byte(escaped));
            last = Some(escaped);
            i += 2;
        } else if c == b'-' && last.is_some() && p.get(i + 1).is_some_and(|&n| n != b']') {
            let (hi, used) = match p[i + 1] {
                b'\\' => (*p.get(i + 2)?, 3),
                n => (n, 2),
            };
            items.push(Item::Range(last.take().unwrap_or(0), hi));
            i += used;
        } else if c == b'[' && p.get(i + 1) == Some(&b':') {
            let close = i + 2 + p[i + 2..].iter().position(|&b| b == b']')?;
            if close > i + 2 && p[close - 1] == b':' {
                items.push(Item::Class(Class::named(&p[i + 2..close - 1])?));
                last = None;
                i = close + 1;
            } else {
                items.push(Item::Byte(b'['));
                last = Some(b'[');
                i += 1;
            }
        } else {
            items.push(Item::Byte(c));
            last = Some(c);
            i += 1;
        }
    }
}

/// For every start `j` in `text`, whether the tokens match `text[j..]` to its end.
fn matches_from(tokens: &[Token], text: &[u8]) -> Vec<bool> {
    let m = text.len();
    // `next[j]`: the tokens after the current one match text[j..]; start past the end.
    let mut next = vec![false; m + 1];
    next[m] = true;
    let mut row = vec![false; m + 1];
    for token in tokens.iter().rev() {
        row[m] = matches!(token, Token::Star | Token::Stars) && next[m];
        for j in (0..m).rev() {
            row[j] = match token {
                Token::Star => next[j] || (text[j] != b'/' && row[j + 1]),
                Token::Stars => next[j] || row[j + 1],
                one => one.takes(text[j]) && next[j + 1],
            };
        }
        std::mem::swap(&mut next, &mut row);
    }
    next
}

/// Whether `pattern` matches `text`: the whole of it when `where_` is 0, its last `where_`
/// path elements when positive, the whole or what follows any `/` when negative.
pub(super) fn wildmatch(pattern: &[u8], text: &[u8], where_: i32) -> bool {
    let Some(tokens) = compile(pattern) else {
        return false;
    };
    let from = matches_from(&tokens, text);
    match where_ {
        0 => from[0],
        n if n > 0 => match last_elements(text, n as usize) {
            Some(start) => from[start],
            None => false,
        },
        _ => from[0] || (0..text.len()).any(|i| text[i] == b'/' && from[i + 1]),
    }
}

/// Where the last `count` `/`-separated elements of `text` start, if it has that many.
fn last_elements(text: &[u8], count: usize) -> Option<usize> {
    let slashes: Vec<usize> = text
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'/')
        .map(|(i, _)| i)
        .collect();
    match slashes.len().cmp(&(count - 1)) {
        std::cmp::Ordering::Less => None,
        std::cmp::Ordering::Equal => Some(0),
        std::cmp::Ordering::Greater => Some(slashes[slashes.len() - count] + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::wildmatch;

    #[test]
    fn globs() {
        let cases: &[(&str, &str, bool)] = &[
            ("*.o", "a.o", true),
            ("*.o", "a/b.o", false),
            ("**.o", "a/b.o", true),
            ("a?c", "abc", true),
            ("a?c", "a/c", false),
            ("[a-c]x", "bx", true),
            ("[!a-c]x", "bx", false),
            ("[^a-c]x", "dx", true),
            ("[]]", "]", true),
            ("[a-]", "-", true),
            ("[[:digit:]]*", "7up", true),
            ("[[:digit:]]*", "up", false),
            ("[[:bogus:]]", "a", false),
            ("[/]", "/", false),
            ("\\*", "*", true),
            ("\\*", "a", false),
            ("a/**/b", "a/x/y/b", true),
            ("a/**/b", "a/b", false),
            ("a**b", "a/x/b", true),
            ("dir/***", "dir/", true),
            ("dir/***", "dir/x/y", true),
            ("dir/***", "dir", false),
            ("[ab", "a", false),
        ];
        for &(p, t, want) in cases {
            assert_eq!(wildmatch(p.as_bytes(), t.as_bytes(), 0), want, "{p} vs {t}");
        }
    }

    #[test]
    fn where_to_start() {
        assert!(wildmatch(b"b/*.c", b"a/b/x.c", 2));
        assert!(!wildmatch(b"b/*.c", b"x.c", 2));
        assert!(wildmatch(b"b/**", b"a/b/x/y", -1));
        assert!(!wildmatch(b"b/**", b"a/bb/x", -1));
    }
}
