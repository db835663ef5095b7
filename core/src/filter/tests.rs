//! The matcher against cases whose answers real rsync gave (rsync 3.5.0, one path at a time
//! through `--files-from`, which filters each listed path but not its implied parents; the
//! end-to-end test `tests/tests/filters.rs` compares whole trees), and the parser against
//! rsync's syntax.

use super::*;

/// `rules` (one `--filter` rule a line) | path | `d` for a directory | whether rsync sends it.
const CASES: &str = r"
- *.o | a.o | f | n
- *.o | x/y/a.o | f | n
- *.o | a.c | f | y
- *.o | a.o | d | n
- *.o/ | a.o | f | y
- *.o/ | a.o | d | n
- /a.o | a.o | f | n
- /a.o | x/a.o | f | y
- /x/*.o | x/a.o | f | n
- /x/*.o | y/x/a.o | f | y
- x/*.o | y/x/a.o | f | n
- x/*.o | x/a.o | f | n
- x/*.o | x/y/a.o | f | y
- x/a.o | y/x/a.o | f | n
- x/a.o | yx/a.o | f | y
- x/**/a.o | x/a.o | f | y
- x/**/a.o | x/y/z/a.o | f | n
- x/**/a.o | w/x/y/a.o | f | n
- **/a.o | a.o | f | n
- **/a.o | w/a.o | f | n
- /**/a.o | a.o | f | y
- x** | xyz/w | f | n
- x** | w/xyz | f | n
- x** | w/yx | f | y
- x/*** | x | d | n
- x/*** | x/y/z | f | n
- x/*** | w/x | d | n
- x/*** | x | f | y
- /x/*** | w/x | d | y
- a?c | abc | f | n
- a?c | abbc | f | y
- [ab]* | bob | f | n
- [!ab]* | bob | f | y
- [[:upper:]]* | Bob | f | n
- [[:upper:]]* | bob | f | y
- *\\* | ab* | f | n
- *\\* | ab | f | y
- a\\b | a\\b | f | n
- a b | a b | f | n
+ *.c\n- * | x.c | f | y
+ *.c\n- * | x.h | f | n
+ *.c\n- * | d | d | n
+ */\n+ *.c\n- * | d | d | y
+ */\n+ *.c\n- * | d/x.h | f | n
- *\n+ *.c | x.c | f | n
-! *.c | x.h | f | n
-! *.c | x.c | f | y
-! */ | x | f | n
-! */ | x | d | y
P *.o | a.o | f | y
H *.o | a.o | f | n
S *.o\n- *.o | a.o | f | y
R *.o\n- *.o | a.o | f | n
-r *.o | a.o | f | y
-s *.o | a.o | f | n
-p *.o | a.o | f | n
exclude *.o | a.o | f | n
exclude,s *.o | a.o | f | n
exclude_*.o | a.o | f | n
hide *.o | a.o | f | n
include *.o\n- * | a.o | f | y
- *.o\n!\n- *.c | a.o | f | y
- *.o\nclear | a.o | f | y
- b/ | a/b | d | n
- a/b/ | x/a/b | d | n
- a/b/ | x/a/b | f | y
- /a/b/ | x/a/b | d | y
- ?/b | a/b | f | n
- ?/b | aa/b | f | y
-_*.o | a.o | f | n
";

fn list(rules: &str) -> FilterList {
    let mut list = FilterList::new();
    for rule in rules.split("\\n") {
        list.push_filter(rule.as_bytes())
            .unwrap_or_else(|e| panic!("{rule:?}: {e}"));
    }
    list
}

/// The cases of [`CASES`]: rules, path, is a directory, sent.
pub(crate) fn cases() -> Vec<(String, String, bool, bool)> {
    CASES
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(" | ").collect();
            let unescape = |s: &str| s.replace("\\\\", "\\");
            (unescape(f[0]), unescape(f[1]), f[2] == "d", f[3] == "y")
        })
        .collect()
}

#[test]
fn matches_as_rsync_does() {
    for (rules, path, is_dir, sent) in cases() {
        let list = list(&rules);
        assert_eq!(
            !list.excludes(path.as_bytes(), is_dir),
            sent,
            "rules {rules:?}, {} {path:?}",
            if is_dir { "directory" } else { "file" }
        );
    }
}

#[test]
fn texts_read_back_to_the_same_rules() {
    for (rules, ..) in cases() {
        let list = list(&rules);
        assert_eq!(FilterList::from_texts(&list.texts()).unwrap(), list);
    }
    let list = list("H *.o\\nP /keep\\n-p! x/\\nR y");
    assert_eq!(
        list.texts(),
        [&b"-s *.o"[..], b"-r /keep", b"-p! x/", b"+r y"]
    );
    assert_eq!(list.rsync_rules(true), b"-s *.o\0-r /keep\0-sp! x/\0+r y\0");
}

#[test]
fn patterns_take_old_prefixes() {
    let mut l = FilterList::new();
    l.push_pattern(b"+ *.c", false).unwrap();
    l.push_pattern(b"*.o", false).unwrap();
    l.push_pattern(b"- *.h", true).unwrap();
    l.push_pattern(b"", false).unwrap();
    assert_eq!(l.texts(), [&b"+ *.c"[..], b"- *.o", b"- *.h"]);
    l.push_pattern(b"!", false).unwrap();
    assert!(l.is_empty());
    // A pattern is taken as it is: "P x" is a pattern, not a protect rule.
    l.push_pattern(b"P x", false).unwrap();
    assert_eq!(l.texts(), [&b"- P x"[..]]);
}

#[test]
fn pattern_files_skip_comments_and_blank_lines() {
    let mut l = FilterList::new();
    l.push_pattern_lines(b"# c\n; c\n\n*.o \r\nx\r\n- a/b/\n+ keep\n", false)
        .unwrap();
    // A trailing space belongs to the pattern, as in rsync.
    assert_eq!(l.texts(), [&b"- *.o "[..], b"- x", b"- a/b/", b"+ keep"]);
    let err = l.push_pattern_lines(b"ok\n- \n", true).unwrap_err();
    assert_eq!(err.0, 2);
}

#[test]
fn refuses_what_is_not_supported() {
    let refused = [
        ("", "empty"),
        ("- ", "no pattern"),
        ("-", "no pattern"),
        ("x foo", "unknown"),
        ("excl foo", "unknown"),
        (". rules", "merges a file"),
        ("merge rules", "merges a file"),
        (": .rsync-filter", "merges a file"),
        ("dir-merge .f", "merges a file"),
        ("-x foo", "extended-attribute"),
        ("-/ foo", "absolute"),
        ("-C foo", "CVS"),
        ("-e foo", "merge-file modifier"),
        ("-q foo", "no such modifier"),
        ("-foo", "no such modifier"),
        ("Hs foo", "already says"),
        ("! x", "clear takes no pattern"),
    ];
    for (rule, why) in refused {
        let err = FilterList::new().push_filter(rule.as_bytes()).unwrap_err();
        assert!(err.to_string().contains(why), "{rule:?}: {err}");
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn component() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![Just(b'a'), Just(b'b'), Just(b'.'), Just(b' ')],
            1..4,
        )
    }

    proptest! {
        /// A literal name matches an entry by its last component; anchored, by its whole
        /// path; a trailing '/' only a directory; `dir/***` the directory and what is below.
        #[test]
        fn literal_patterns(
            path in proptest::collection::vec(component(), 1..4),
            name in component(),
            is_dir: bool,
        ) {
            let joined = path.join(&b'/');
            let last = path.last().unwrap();
            let mut l = FilterList::new();
            l.push_pattern(&name, false).unwrap();
            prop_assert_eq!(l.excludes(&joined, is_dir), *last == name);
            let mut dir_only = name.clone();
            dir_only.push(b'/');
            let mut l = FilterList::new();
            l.push_pattern(&dir_only, false).unwrap();
            prop_assert_eq!(l.excludes(&joined, is_dir), *last == name && is_dir);
            let mut anchored = vec![b'/'];
            anchored.extend_from_slice(&joined);
            let mut l = FilterList::new();
            l.push_pattern(&anchored, false).unwrap();
            prop_assert!(l.excludes(&joined, is_dir));
            let mut below = vec![b'/'];
            below.extend_from_slice(&path[0]);
            below.extend_from_slice(b"/***");
            let mut l = FilterList::new();
            l.push_pattern(&below, false).unwrap();
            prop_assert_eq!(l.excludes(&joined, is_dir), path.len() > 1 || is_dir);
            // The recorded text reads back to the same decision.
            let back = FilterList::from_texts(&l.texts()).unwrap();
            prop_assert_eq!(back.excludes(&joined, is_dir), l.excludes(&joined, is_dir));
        }
    }
}
