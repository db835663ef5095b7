//! rsync's `wildmatch`: `*` (not `/`), `**` (anything), `?` (one byte, not `/`), `[...]`
//! classes (`!` or `^` negates, ranges, `[:alpha:]`-style names, never `/`) and `\`
//! escapes, on bytes. A port of rsync's `lib/wildmatch.c` (Rich Salz's algorithm as rsync
//! keeps it), with the "array of strings" the C code matches replaced by one byte string.

/// The outcome of one attempt, as the C code's four values: the aborts cut the search
/// short when no later start of a `*` can match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wild {
    True,
    False,
    AbortAll,
    AbortToStarStar,
}

/// Whether `pattern` matches `text`: from its start when `where_` is 0, its last `where_`
/// path elements when positive, or after any `/` when negative (rsync's
/// `wildmatch_array`).
pub(super) fn wildmatch(pattern: &[u8], text: &[u8], where_: i32) -> bool {
    let start = if where_ > 0 {
        match trailing_elements(text, where_ as usize) {
            Some(start) => start,
            None => return false,
        }
    } else {
        0
    };
    let text = &text[start..];
    let mut matched = dowild(pattern, text);
    if matched != Wild::True && where_ < 0 && matched != Wild::AbortAll {
        let mut i = 0;
        loop {
            if i == text.len() {
                return false;
            }
            let c = text[i];
            i += 1;
            if c == b'/' {
                matched = dowild(pattern, &text[i..]);
                if matched != Wild::False && matched != Wild::AbortToStarStar {
                    break;
                }
            }
        }
    }
    matched == Wild::True
}

/// Where the last `count` `/`-separated elements of `text` start, if it has that many.
fn trailing_elements(text: &[u8], mut count: usize) -> Option<usize> {
    for i in (0..text.len()).rev() {
        if text[i] == b'/' {
            count -= 1;
            if count == 0 {
                return Some(i + 1);
            }
        }
    }
    (count == 1).then_some(0)
}

fn at(p: &[u8], i: usize) -> u8 {
    p.get(i).copied().unwrap_or(0)
}

fn dowild(p: &[u8], text: &[u8]) -> Wild {
    let (mut pi, mut ti) = (0, 0);
    while pi < p.len() {
        let mut p_ch = p[pi];
        if ti == text.len() && p_ch != b'*' {
            return Wild::AbortAll;
        }
        let t_ch = at(text, ti);
        match p_ch {
            b'\\' => {
                pi += 1;
                if at(p, pi) != t_ch {
                    return Wild::False;
                }
            }
            b'?' => {
                if t_ch == b'/' {
                    return Wild::False;
                }
            }
            b'*' => {
                pi += 1;
                let match_slash = at(p, pi) == b'*';
                while at(p, pi) == b'*' {
                    pi += 1;
                }
                if pi == p.len() {
                    // A trailing "**" matches everything, a trailing "*" only what has
                    // no more slashes.
                    return match !match_slash && text[ti..].contains(&b'/') {
                        true => Wild::False,
                        false => Wild::True,
                    };
                }
                while ti < text.len() {
                    match dowild(&p[pi..], &text[ti..]) {
                        Wild::False if !match_slash && text[ti] == b'/' => {
                            return Wild::AbortToStarStar
                        }
                        Wild::False => {}
                        m if !match_slash || m != Wild::AbortToStarStar => return m,
                        _ => {}
                    }
                    ti += 1;
                }
                return Wild::AbortAll;
            }
            b'[' => {
                pi += 1;
                p_ch = at(p, pi);
                if p_ch == b'^' {
                    p_ch = b'!';
                }
                let negated = p_ch == b'!';
                if negated {
                    pi += 1;
                    p_ch = at(p, pi);
                }
                let mut prev_ch = 0u8;
                let mut matched = false;
                loop {
                    if p_ch == 0 {
                        return Wild::AbortAll;
                    }
                    if p_ch == b'\\' {
                        pi += 1;
                        p_ch = at(p, pi);
                        if p_ch == 0 {
                            return Wild::AbortAll;
                        }
                        matched |= t_ch == p_ch;
                    } else if p_ch == b'-'
                        && prev_ch != 0
                        && at(p, pi + 1) != 0
                        && at(p, pi + 1) != b']'
                    {
                        pi += 1;
                        p_ch = p[pi];
                        if p_ch == b'\\' {
                            pi += 1;
                            p_ch = at(p, pi);
                            if p_ch == 0 {
                                return Wild::AbortAll;
                            }
                        }
                        matched |= t_ch <= p_ch && t_ch >= prev_ch;
                        p_ch = 0;
                    } else if p_ch == b'[' && at(p, pi + 1) == b':' {
                        let s = pi + 2;
                        let mut e = s;
                        while e < p.len() && p[e] != b']' {
                            e += 1;
                        }
                        if e == p.len() {
                            return Wild::AbortAll;
                        }
                        if e == s || p[e - 1] != b':' {
                            // No ":]": an ordinary '[' of the set.
                            matched |= t_ch == b'[';
                        } else {
                            match class_has(&p[s..e - 1], t_ch) {
                                Some(yes) => matched |= yes,
                                None => return Wild::AbortAll,
                            }
                            pi = e;
                            p_ch = 0;
                        }
                    } else {
                        matched |= t_ch == p_ch;
                    }
                    prev_ch = p_ch;
                    pi += 1;
                    p_ch = at(p, pi);
                    if p_ch == b']' {
                        break;
                    }
                }
                if matched == negated || t_ch == b'/' {
                    return Wild::False;
                }
            }
            _ => {
                if t_ch != p_ch {
                    return Wild::False;
                }
            }
        }
        pi += 1;
        ti += 1;
    }
    match ti < text.len() {
        true => Wild::False,
        false => Wild::True,
    }
}

/// Whether `c` is in the POSIX class `name` (C locale); None for an unknown class.
fn class_has(name: &[u8], c: u8) -> Option<bool> {
    Some(match name {
        b"alnum" => c.is_ascii_alphanumeric(),
        b"alpha" => c.is_ascii_alphabetic(),
        b"blank" => c == b' ' || c == b'\t',
        b"cntrl" => c.is_ascii_control(),
        b"digit" => c.is_ascii_digit(),
        b"graph" => c.is_ascii_graphic(),
        b"lower" => c.is_ascii_lowercase(),
        b"print" => c.is_ascii_graphic() || c == b' ',
        b"punct" => c.is_ascii_punctuation(),
        b"space" => c == b' ' || (9..=13).contains(&c),
        b"upper" => c.is_ascii_uppercase(),
        b"xdigit" => c.is_ascii_hexdigit(),
        _ => return None,
    })
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
