//! rsync's filter rules: a zkrsync session with `--exclude`, `--include`, `--filter`,
//! `--exclude-from` ends with the destination a single `rsync -a --delete` with the same
//! filters makes of the same destination (excluded files there are kept, or deleted with
//! `--delete-excluded`), at several `--depth`s; the walk leaves excluded directories out of
//! its units; bad rules and unreadable pattern files are refused on one line, exit 2,
//! nothing changed.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use zkrsync_tests::cluster::{differences, Cluster};
use zkrsync_tests::zk::ZkServer;
use zkrsync_tests::zkrsync;

const LIMIT: Duration = Duration::from_secs(120);

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// Every entry's mtime set in the past: rsync leaves sub-second parts unset for mtimes in
/// the second of the copy, which would make two copies differ.
fn age(root: &Path) {
    let status = Command::new("find")
        .arg(root)
        .args(["-exec", "touch", "-h", "-d", "@1600000000", "{}", "+"])
        .status()
        .unwrap();
    assert!(status.success());
}

/// A source tree four levels deep with what the rules below pick at every level.
fn source_tree(src: &Path) {
    for rel in [
        "keep.c",
        "top.o",
        "important.o",
        "build/x.c",
        "build/deep/y.c",
        "a/a.c",
        "a/a.o",
        "a/important.o",
        "a/cache/c1",
        "a/notes.tmp",
        "a/b/b.c",
        "a/b/b.o",
        "a/b/build/z.c",
        "a/b/c/c.c",
        "a/b/c/run.log",
        "a/b/c/d/d.c",
        "a/b/c/d/deep.log",
        "a/b/c/d/cache/stale",
        "docs/readme.txt",
        "docs/cache",
        "docs/run.log",
        "with space/-dash.o",
        "with space/new\nline.c",
    ] {
        write(src, rel, rel);
    }
    age(src);
}

/// What the destination holds before the copy: files the rules exclude (kept by rsync's
/// --delete unless --delete-excluded), extraneous files (deleted), a protected one, and an
/// extraneous directory that holds only an excluded file (which rsync cannot delete
/// without --delete-excluded).
fn dest_tree(dst: &Path) {
    for rel in [
        "top.o",
        "build/old",
        "a/cache/stale",
        "a/b/b.o",
        "a/b/c/d/deep.log",
        "a/extra.c",
        "a/b/c/extra.c",
        "a/b/gone/x.o",
        "docs/keep-at-dest.txt",
        "docs/extra",
    ] {
        write(dst, rel, "at the destination");
    }
    age(dst);
}

/// The rules under test: an include before the exclude it overrides, an anchored
/// directory rule, a directory-only rule, a `**` rule, a protect rule, rules from a file.
fn filters(patterns: &Path) -> Vec<String> {
    fs::write(
        patterns,
        "# editor files\n*.tmp\n; and logs in docs\n/docs/*.log\n",
    )
    .unwrap();
    [
        "--include=important.o",
        "--exclude=*.o",
        "--exclude=/build/",
        "--filter=- cache/",
        "--filter=exclude a/**/*.log",
        "--filter=P keep-at-dest.txt",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("--exclude-from={}", patterns.display())])
    .collect()
}

/// `rsync -a --delete FILTERS… src/ dst/`, as a user would run it.
fn rsync_reference(src: &Path, dst: &Path, filters: &[String], extra: &[&str]) {
    let out = Command::new("rsync")
        .args(["-a", "--delete"])
        .args(extra)
        .args(filters)
        .arg(format!("{}/", src.display()))
        .arg(format!("{}/", dst.display()))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A session of 2 destinations and 3 sources with `opts`; panics unless all end with 0.
fn zkrsync_session(zk: &ZkServer, session: &str, src: &Path, dst: &Path, opts: &[String]) {
    let mut c = Cluster::new(zk.connect(), session);
    c.dest("d1", dst, "127.0.0.1");
    c.dest("d2", dst, "127.0.0.2");
    let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
    for name in ["m", "w1", "w2"] {
        c.source(name, src, &opts);
    }
    let codes = c.wait_all(LIMIT);
    assert_eq!(codes, vec![Some(0); 5], "{}", c.all_logs());
}

/// Runs rsync and a session with `filters` plus `extra` from the same destination at
/// every depth, and compares what each made.
fn session_equals_rsync(session: &str, extra: &[&str]) {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    source_tree(&src);
    let filters = filters(&tmp.path().join("patterns"));
    let reference = tmp.path().join("reference");
    dest_tree(&reference);
    rsync_reference(&src, &reference, &filters, extra);
    // The rules did something: an excluded file at the destination, a new file excluded.
    assert_eq!(reference.join("a/b/b.o").exists(), extra.is_empty());
    assert!(!reference.join("a/a.o").exists() && reference.join("a/important.o").exists());
    for depth in ["0", "1", "2", "4"] {
        let dst = tmp.path().join(format!("dst-{depth}"));
        dest_tree(&dst);
        // --delete-excluded implies --delete, as in rsync.
        let mut opts = vec!["--depth".to_string(), depth.into()];
        if !extra.contains(&"--delete-excluded") {
            opts.push("--delete".into());
        }
        opts.extend(extra.iter().map(|s| s.to_string()));
        opts.extend(filters.iter().cloned());
        zkrsync_session(&zk, &format!("{session}-{depth}"), &src, &dst, &opts);
        assert_eq!(differences(&reference, &dst), "", "--depth {depth}");
    }
}

#[test]
fn a_session_with_filters_leaves_what_rsync_leaves() {
    session_equals_rsync("filters", &[]);
}

#[test]
fn delete_excluded_deletes_what_rsync_deletes() {
    session_equals_rsync("delete-excluded", &["--delete-excluded"]);
}

#[test]
fn the_walk_leaves_excluded_directories_out_of_its_units() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    source_tree(&src);
    let mut args: Vec<String> = vec![
        "paths".into(),
        "--path".into(),
        src.display().to_string(),
        "--depth".into(),
        "5".into(),
    ];
    args.extend(filters(&tmp.path().join("patterns")));
    let out = zkrsync(&args);
    assert_eq!(out.status.code(), Some(0));
    let units = String::from_utf8_lossy(&out.stdout);
    let has = |rel: &str| {
        units
            .lines()
            .any(|l| l.ends_with(&format!("{}/{rel}", src.display())))
    };
    for kept in ["a", "a/b", "a/b/build", "a/b/c/d", "docs"] {
        assert!(has(kept), "{kept} is a unit: {units}");
    }
    for left_out in ["build", "build/deep", "a/cache", "a/b/c/d/cache"] {
        assert!(!has(left_out), "{left_out} is not a unit: {units}");
    }
    // Excluded entries are not counted.
    let seen = |out: &std::process::Output| {
        let text = String::from_utf8_lossy(&out.stderr).into_owned();
        let at = text.find(" entries seen").unwrap();
        let digits: String = text[..at]
            .chars()
            .rev()
            .take_while(char::is_ascii_digit)
            .collect();
        digits
            .chars()
            .rev()
            .collect::<String>()
            .parse::<u64>()
            .unwrap()
    };
    let without = zkrsync(&args[..5]);
    assert!(
        seen(&out) < seen(&without),
        "{} vs {}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&without.stderr)
    );
}

#[test]
fn bad_rules_and_unreadable_pattern_files_are_one_line_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let dst = tmp.path().join("dst");
    source_tree(&src);
    fs::create_dir_all(&dst).unwrap();
    let missing = tmp.path().join("no-such-patterns");
    let cases: [(&[&str], &str); 6] = [
        (&["--filter", ": .rsync-filter"], "merges a file"),
        (&["--filter=merge rules.txt"], "merges a file"),
        (&["--filter=-x user.*"], "modifier 'x' is not supported"),
        (&["--filter=frobnicate x"], "unknown filter rule"),
        (
            &["--exclude-from", missing.to_str().unwrap()],
            "cannot read it",
        ),
        (&["--rsync-opt=--exclude=*.o"], "is a filter option"),
    ];
    for (opts, want) in cases {
        let mut args: Vec<String> = [
            "source",
            "--zk",
            "127.0.0.1:1",
            "-N",
            "s",
            "--path",
            src.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(opts.iter().map(|s| s.to_string()));
        let out = zkrsync(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{opts:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{opts:?}: {err}");
        assert!(err.contains(want), "{opts:?}: {err}");
    }
    assert_eq!(fs::read_dir(&dst).unwrap().count(), 0);
}

fn launch(hosts: &Path, src: &Path, dst: &Path, source_opts: &[String]) -> std::process::Output {
    Command::new(zkrsync_tests::launch_bin())
        .arg(hosts)
        .arg("--src")
        .arg(src)
        .arg("--dst")
        .arg(dst)
        .arg("--")
        .args(source_opts)
        .env_remove("ZKRSYNC_ZK")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run zkrsync-launch")
}

#[test]
fn the_launcher_hands_the_filters_to_every_source_and_reads_pattern_files_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    source_tree(&src);
    let patterns = tmp.path().join("patterns");
    let filters = filters(&patterns);
    let reference = tmp.path().join("reference");
    dest_tree(&reference);
    rsync_reference(&src, &reference, &filters, &[]);
    let hosts = tmp.path().join("hosts.txt");
    fs::write(&hosts, "localhost slots=5\n").unwrap();
    let dst = tmp.path().join("dst");
    dest_tree(&dst);
    let mut opts = vec!["--delete".to_string(), "--depth".into(), "2".into()];
    opts.extend(filters.iter().cloned());
    let out = launch(&hosts, &src, &dst, &opts);
    let logs = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{logs}");
    assert_eq!(differences(&reference, &dst), "", "{logs}");

    // A pattern file that cannot be read: one line, exit 2, nothing started or changed.
    let before = differences(&reference, &dst);
    let missing = tmp.path().join("no-such-patterns");
    let bad = vec![format!("--exclude-from={}", missing.display())];
    let out = launch(&hosts, &src, &dst, &bad);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot read it"), "{stderr}");
    assert_eq!(differences(&reference, &dst), before);
}

/// A deterministic pseudo-random sequence.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// Generated rule sets, each decided by zkrsync's matcher and by rsync's sender for every
/// path of a tree: rsync checks each `--files-from` entry on its own (not the parents it
/// implies) and says which it hides with `--debug=FILTER`.
#[test]
fn the_matcher_decides_as_rsync_on_generated_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let dirs = ["a", "b", "ab", "a/a", "a/b", "b/ab", "a/a/b", "a/b/a"];
    let mut paths: Vec<(String, bool)> = dirs.iter().map(|d| (d.to_string(), true)).collect();
    for dir in [""].iter().chain(dirs.iter()) {
        for file in ["x.o", "y.c", "bb", "a.x"] {
            let rel = if dir.is_empty() {
                file.to_string()
            } else {
                format!("{dir}/{file}")
            };
            paths.push((rel, false));
        }
    }
    for (rel, is_dir) in &paths {
        match is_dir {
            true => fs::create_dir_all(src.join(rel)).unwrap(),
            false => write(&src, rel, "f"),
        }
    }
    let mut files_from = Vec::new();
    for (rel, _) in &paths {
        files_from.extend_from_slice(rel.as_bytes());
        files_from.push(0);
    }
    let list = tmp.path().join("files-from");
    fs::write(&list, files_from).unwrap();
    let parts = [
        "a", "b", "ab", "*", "**", "?", "[ab]", "[!a]*", "*.o", "a*", "x.*", "***", "bb", "y.c",
    ];
    let kinds = ["-", "+", "-!", "H", "S", "P", "- ", "+ "];
    let mut rng = Lcg(16);
    let mut disagreements = Vec::new();
    let (mut hidden_total, mut decisions) = (0, 0);
    for _ in 0..150 {
        let mut rules = Vec::new();
        for _ in 0..1 + rng.below(3) {
            let mut pattern = String::new();
            if rng.below(3) == 0 {
                pattern.push('/');
            }
            let n = 1 + rng.below(3);
            let comps: Vec<&str> = (0..n).map(|_| parts[rng.below(parts.len())]).collect();
            pattern.push_str(&comps.join("/"));
            if rng.below(4) == 0 {
                pattern.push('/');
            }
            let kind = kinds[rng.below(kinds.len())];
            rules.push(format!("{} {pattern}", kind.trim_end()));
        }
        let mut filters = zkrsync_core::filter::FilterList::new();
        for rule in &rules {
            filters.push_filter(rule.as_bytes()).unwrap();
        }
        let out = Command::new("rsync")
            .args(["-n", "-d", "--from0", "--debug=FILTER1"])
            .arg(format!("--files-from={}", list.display()))
            .args(rules.iter().map(|r| format!("--filter={r}")))
            .arg(format!("{}/", src.display()))
            .arg(tmp.path().join("nowhere"))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{rules:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        let hidden: Vec<&str> = said
            .lines()
            .filter_map(|l| l.strip_prefix("[sender] hiding "))
            .filter_map(|l| l.split_once(' ').map(|(_, rest)| rest))
            .filter_map(|l| l.split(" because of pattern").next())
            .collect();
        hidden_total += hidden.len();
        for (rel, is_dir) in &paths {
            decisions += 1;
            let ours = filters.excludes(rel.as_bytes(), *is_dir);
            let theirs = hidden.contains(&rel.as_str());
            if ours != theirs {
                disagreements.push(format!(
                    "{rules:?} {} {rel}: rsync {}, zkrsync {}",
                    if *is_dir { "dir" } else { "file" },
                    if theirs { "hides" } else { "sends" },
                    if ours { "hides" } else { "sends" }
                ));
            }
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
    // The rules hid some and sent others: the comparison compared something.
    assert!(
        hidden_total > decisions / 10 && hidden_total < decisions * 9 / 10,
        "{hidden_total} of {decisions} hidden"
    );
}

#[test]
fn a_source_with_other_filters_is_refused_with_the_option_named() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let dst = tmp.path().join("dst");
    source_tree(&src);
    fs::create_dir_all(&dst).unwrap();
    let mut c = Cluster::new(zk.connect(), "other-filters");
    // A master without destinations keeps the session open.
    let m = c.source("m", &src, &["--exclude", "*.o", "--include", "keep"]);
    c.wait_status(LIMIT, "a published plan", |s| s["plan_ready"] == true);
    // The same rules written otherwise are the same session: that source joins.
    let same = c.source("same", &src, &["--filter", "- *.o", "--filter=+ keep"]);
    c.wait_status(LIMIT, "the second source in the election", |s| {
        s["sources"].as_u64() == Some(2)
    });
    let other = c.source("other", &src, &["--exclude", "*.o"]);
    let status = c.wait(other, LIMIT);
    assert_eq!(status.code(), Some(2), "{}", c.all_logs());
    let log = c.agents[other].log_text();
    assert!(
        log.contains(r#"--filter differs from session other-filters's: the session has ["- *.o", "+ keep"], this source has ["- *.o"]"#),
        "{log}"
    );
    assert_eq!(fs::read_dir(&dst).unwrap().count(), 0);
    c.agents[same].kill9();
    c.agents[m].kill9();
}
