//! Real rsync outputs (`testdata/capture.sh`): a small tree with a name holding a newline,
//! copied by one `rsync -a` and by the runs of three chunkings, whose counts must add up
//! to the single rsync's.

use super::*;
use crate::unit::{Part, RelPath};

/// One captured run: its option (`-d`/`-r`), its entries, its buckets of the root.
struct Run {
    name: &'static str,
    opt: &'static str,
    entries: &'static [&'static str],
    root_buckets: &'static [u32],
}

const fn run(name: &'static str, opt: &'static str, entries: &'static [&'static str]) -> Run {
    Run {
        name,
        opt,
        entries,
        root_buckets: &[],
    }
}

/// The chunkings of `capture.sh`, each run in the order it ran there.
const DEPTH1: &[Run] = &[
    run("d1-rec", "-r", &["a", "x"]),
    run("d1-root", "-d", &["."]),
];
const DEPTH3: &[Run] = &[
    run("d3-rec", "-r", &["a/b/c"]),
    run("d3-ab", "-d", &["a/b/.", "a/."]),
    run("d3-xe", "-d", &["x/.", "a/e/.", "a/new\nline/."]),
    run("d3-root", "-d", &["."]),
];
const BUCKETS: &[Run] = &[
    run("b-rec", "-r", &["a", "x"]),
    Run {
        root_buckets: &[1],
        ..run("b-1", "-d", &["f", "l", "x"])
    },
    Run {
        root_buckets: &[0],
        ..run("b-0", "-d", &["a"])
    },
];

fn output(name: &str) -> &'static str {
    match name {
        "single" => include_str!("testdata/single.txt"),
        "single-delete" => include_str!("testdata/single-delete.txt"),
        "deletes" => include_str!("testdata/deletes.txt"),
        "dry-d1-rec" => include_str!("testdata/dry-d1-rec.txt"),
        "dry-d1-root" => include_str!("testdata/dry-d1-root.txt"),
        "real-d1-rec" => include_str!("testdata/real-d1-rec.txt"),
        "real-d1-root" => include_str!("testdata/real-d1-root.txt"),
        "dry-d3-rec" => include_str!("testdata/dry-d3-rec.txt"),
        "dry-d3-ab" => include_str!("testdata/dry-d3-ab.txt"),
        "dry-d3-xe" => include_str!("testdata/dry-d3-xe.txt"),
        "dry-d3-root" => include_str!("testdata/dry-d3-root.txt"),
        "real-d3-rec" => include_str!("testdata/real-d3-rec.txt"),
        "real-d3-ab" => include_str!("testdata/real-d3-ab.txt"),
        "real-d3-xe" => include_str!("testdata/real-d3-xe.txt"),
        "real-d3-root" => include_str!("testdata/real-d3-root.txt"),
        "dry-b-rec" => include_str!("testdata/dry-b-rec.txt"),
        "dry-b-1" => include_str!("testdata/dry-b-1.txt"),
        "dry-b-0" => include_str!("testdata/dry-b-0.txt"),
        "real-b-rec" => include_str!("testdata/real-b-rec.txt"),
        "real-b-1" => include_str!("testdata/real-b-1.txt"),
        "real-b-0" => include_str!("testdata/real-b-0.txt"),
        other => panic!("no output {other}"),
    }
}

fn invocation(r: &Run, dry_run: bool) -> RsyncInvocation {
    let mut args: Vec<String> = vec![r.opt.into()];
    if dry_run {
        args.push("--dry-run".into());
    }
    let mut files_from = Vec::new();
    for e in r.entries {
        files_from.extend_from_slice(e.as_bytes());
        files_from.push(0);
    }
    let buckets = r
        .root_buckets
        .iter()
        .map(|&index| Bucket {
            dir: RelPath::root(),
            part: Part::Bucket { index, of: 2 },
            excluded: Vec::new(),
        })
        .collect();
    RsyncInvocation {
        args,
        files_from,
        excludes: Vec::new(),
        filters: Vec::new(),
        buckets,
    }
}

fn counted(runs: &[Run], dry_run: bool) -> RsyncStats {
    let kind = if dry_run { "dry" } else { "real" };
    runs.iter()
        .map(|r| {
            let out = output(&format!("{kind}-{}", r.name));
            run_stats(&invocation(r, dry_run), out.as_bytes()).expect("stats")
        })
        .sum()
}

fn raw(runs: &[Run], kind: &str) -> RsyncStats {
    runs.iter()
        .map(|r| RsyncStats::parse(output(&format!("{kind}-{}", r.name))).unwrap())
        .sum()
}

/// The counts a single rsync and a session must agree on.
fn counts(s: &RsyncStats) -> [u64; 5] {
    [
        s.files,
        s.created_files,
        s.deleted_files,
        s.regular_files_transferred,
        s.total_file_size,
    ]
}

#[test]
fn every_chunking_counts_what_one_rsync_counts() {
    let single = RsyncStats::parse(output("single")).unwrap();
    assert_eq!(
        (single.files, single.created_files),
        (14, 13),
        "the tree and its root"
    );
    for (name, runs) in [
        ("depth 1", DEPTH1),
        ("depth 3", DEPTH3),
        ("buckets", BUCKETS),
    ] {
        for dry_run in [true, false] {
            assert_eq!(
                counts(&counted(runs, dry_run)),
                counts(&single),
                "{name}, dry run {dry_run}"
            );
        }
    }
}

#[test]
fn rsyncs_own_sums_are_not_what_one_rsync_counts() {
    // What the summary said before: implied and unit directories counted by several runs,
    // one directory counted twice by one run (`a/b/.` with `a/.`: 9 files for 7 names).
    let single = RsyncStats::parse(output("single")).unwrap();
    assert_eq!(RsyncStats::parse(output("dry-d3-ab")).unwrap().files, 9);
    assert_eq!(raw(DEPTH3, "dry").files, 24);
    assert_eq!(raw(DEPTH3, "dry").created_files, 21);
    assert_eq!(raw(DEPTH1, "dry").files, 16);
    // The root cut into buckets: no bucket's run lists the root.
    assert_eq!(raw(BUCKETS, "real").files, 15);
    assert_ne!(raw(DEPTH3, "dry").files, single.files);
    // A real run counts what it created, wherever it belongs: rsync's created sum is right.
    assert_eq!(raw(DEPTH3, "real").created_files, single.created_files);
}

#[test]
fn a_deletions_only_run_counts_its_deletions_and_no_entry() {
    let single = RsyncStats::parse(output("single-delete")).unwrap();
    let inv = RsyncInvocation {
        args: ["-d", "--delete", "--existing", "--ignore-existing"]
            .map(String::from)
            .to_vec(),
        files_from: b"a/.\0".to_vec(),
        ..invocation(&run("deletes", "-d", &[]), false)
    };
    let s = run_stats(&inv, output("deletes").as_bytes()).unwrap();
    assert_eq!(s.deleted_files, single.deleted_files);
    assert_eq!(s.deleted_files, 3);
    assert_eq!((s.files, s.created_files, s.total_file_size), (0, 0, 0));
}

fn check_owners(owners: &Owners, cases: &[(&[u8], bool)]) {
    for (path, owned) in cases {
        assert_eq!(owners.owns_dir(path), *owned, "{:?}", path);
    }
}

#[test]
fn owners_of_directories() {
    let nonrec = Owners::of(&invocation(&run("", "-d", &["a/b/.", "."]), false));
    let cases: &[(&[u8], bool)] = &[
        (b"", true),
        (b"a", true),
        (b"a/b", false),
        (b"a/b/c", true),
        (b"a/bc/d", false),
    ];
    check_owners(&nonrec, cases);
    let rec = Owners::of(&invocation(&run("", "-r", &["a/b"]), false));
    let cases: &[(&[u8], bool)] = &[
        (b"", false),
        (b"a", false),
        (b"a/b", false),
        (b"a/b/c", true),
        (b"a/b/c/d", true),
        (b"a/bc", false),
    ];
    check_owners(&rec, cases);
    let whole = Owners::of(&invocation(&run("", "-r", &["."]), false));
    assert!(whole.owns_dir(b"") && whole.owns_dir(b"x/y"));
    let mut bucket = invocation(&run("", "-d", &[]), false);
    bucket.buckets.push(Bucket {
        dir: RelPath::from_bytes(b"d").unwrap(),
        part: Part::Bucket { index: 0, of: 2 },
        excluded: vec![b"skip".to_vec()],
    });
    let owners = Owners::of(&bucket);
    for name in [&b"a"[..], b"f", b"l", b"x", b"skip"] {
        let mut path = b"d/".to_vec();
        path.extend_from_slice(name);
        let held = crate::unit::bucket_of(name, 2) == 0 && name != b"skip";
        assert_eq!(owners.owns_dir(&path), held, "{:?}", path);
    }
    assert!(!owners.owns_dir(b"d") && !owners.owns_unlisted_root());
}

#[test]
fn rsync_escapes_are_undone() {
    assert_eq!(unescape(br"new\#012line"), b"new\nline");
    assert_eq!(unescape(br"\#377\#376 not utf8"), b"\xff\xfe not utf8");
    assert_eq!(unescape(br"back\slash \#9 \#08"), br"back\slash \#9 \#08");
    assert_eq!(unescape(br"\#134#012"), br"\#012");
}

#[test]
fn other_lines_are_not_items_and_no_stats_is_none() {
    let inv = invocation(&run("", "-d", &["."]), false);
    assert_eq!(run_stats(&inv, b"zkrsync-item cd+++++++++ ./\n"), None);
    let mut c = RunCounter::new(&inv);
    c.line(b"created directory zkrsync-item cd+++++++++ x/");
    c.line(b"zkrsync-item short");
    c.output(b"Number of files: 2 (reg: 1, dir: 1)\nNumber of created files: 1 (reg: 1)\n");
    assert_eq!(c.stats().map(|s| s.files), Some(1));
}

/// The changes of `output` as `rsync -i` prints them.
fn changes(output: &str) -> Vec<Vec<u8>> {
    output
        .lines()
        .filter_map(|l| l.strip_prefix(ITEM_PREFIX))
        .map(|l| l.as_bytes().to_vec())
        .filter(|l| itemized::is_change(l))
        .collect()
}

#[test]
fn the_runs_itemized_changes_are_one_rsyncs() {
    let mut single = changes(output("single"));
    single.sort_by(|a, b| itemized::path_of(a).cmp(itemized::path_of(b)));
    for (name, runs) in [("depth 1", DEPTH1), ("depth 3", DEPTH3)] {
        for dry_run in [true, false] {
            let kind = if dry_run { "dry" } else { "real" };
            let per_run: Vec<Itemized> = runs
                .iter()
                .map(|r| {
                    let mut c = RunCounter::new(&invocation(r, dry_run)).itemizing();
                    c.output(output(&format!("{kind}-{}", r.name)).as_bytes());
                    c.take_items()
                })
                .collect();
            let all = Itemized::merged(&per_run, 1000);
            assert_eq!(all.lines, single, "{name}, dry run {dry_run}");
            assert_eq!(all.omitted, 0);
        }
    }
    let mut c = RunCounter::new(&invocation(&DEPTH3[0], true)).itemizing();
    c.output(output("dry-d3-rec").as_bytes());
    // Its own entry only (`a/b/c/` is its parent's): one line of 20 bytes.
    let mut few = Itemized::default();
    few.extend_bounded(c.take_items(), 20);
    assert_eq!((few.lines.len(), few.omitted), (0, 1), "bounded: {few:?}");
    let mut pushed = RunCounter::new(&invocation(&DEPTH3[0], true)).itemizing();
    pushed.line(b"zkrsync-item <f+++++++++ a/b/c/fc");
    assert_eq!(pushed.take_items().lines, [b">f+++++++++ a/b/c/fc"]);
    let counted = RunCounter::new(&invocation(&DEPTH3[0], true));
    assert_eq!(counted.clone().take_items(), Itemized::default());
}
