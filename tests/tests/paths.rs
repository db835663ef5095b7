//! `zkrsync paths` on real trees: odd names, symlinks, unreadable directories, bad input.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

use zkrsync_tests::{records, under, zkrsync, zkrsync_bin};

const ODD: &[&[u8]] = &[
    b" lead space",
    b"-dash",
    b"new\nline",
    b"tab\there",
    b"\xff\xferaw",
    b"*?[glob]",
];

/// A tree with odd names at every level, files, a symlink to a directory, and a
/// root-owned `.snapshots` directory.
fn odd_tree(root: &Path) {
    for a in ODD {
        for b in ["x", "y"] {
            let dir = under(root, a).join(b).join("deep");
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join("file"), b"data").unwrap();
        }
        fs::write(under(root, a).join("f"), b"").unwrap();
    }
    fs::create_dir_all(root.join(".snapshots/daily")).unwrap();
    symlink(under(root, b"-dash"), root.join("link-to-dir")).unwrap();
}

fn parse_units(stdout: &[u8], sep: u8) -> Vec<(bool, Vec<u8>)> {
    records(stdout, sep)
        .into_iter()
        .map(|line| {
            let (flag, path) = line.split_at(2);
            let recursive = match flag {
                b"1\t" => true,
                b"0\t" => false,
                _ => panic!("bad line {:?}", String::from_utf8_lossy(&line)),
            };
            (recursive, path.to_vec())
        })
        .collect()
}

#[test]
fn odd_names_survive_with_null() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("src");
    odd_tree(&root);
    let out = zkrsync([
        "paths".as_ref(),
        "--path".as_ref(),
        root.as_os_str(),
        "--depth".as_ref(),
        "2".as_ref(),
        "--null".as_ref(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let units = parse_units(&out.stdout, 0);
    let root_bytes = root.as_os_str().as_bytes().to_vec();
    let mut expected = vec![(false, root_bytes.clone())];
    let mut names: Vec<&[u8]> = ODD.to_vec();
    names.sort();
    for a in names {
        expected.push((false, under(&root, a).as_os_str().as_bytes().to_vec()));
        for b in ["x", "y"] {
            expected.push((
                true,
                under(&root, a).join(b).as_os_str().as_bytes().to_vec(),
            ));
        }
    }
    assert_eq!(units, expected);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("19 units (12 recursive, 7 non-recursive)"),
        "{stderr}"
    );
    assert!(stderr.contains("7 directories read"), "{stderr}");
}

#[test]
fn newline_output_and_default_depth() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("d");
    fs::create_dir_all(root.join("a/b/c/d/e")).unwrap();
    // A trailing slash on --path is dropped.
    let out = zkrsync(["paths", "--path", &format!("{}/", root.display())]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let r = root.display();
    assert_eq!(
        text,
        format!("0\t{r}\n0\t{r}/a\n0\t{r}/a/b\n1\t{r}/a/b/c\n")
    );
}

#[test]
fn depth_zero_is_one_recursive_unit() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("a")).unwrap();
    let out = zkrsync([
        "paths".as_ref(),
        "--path".as_ref(),
        dir.path().as_os_str(),
        "--depth".as_ref(),
        "0".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        out.stdout,
        format!("1\t{}\n", dir.path().display()).into_bytes()
    );
}

#[test]
fn json_keeps_raw_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("src");
    odd_tree(&root);
    let out = zkrsync([
        "paths".as_ref(),
        "--path".as_ref(),
        root.as_os_str(),
        "--depth".as_ref(),
        "1".as_ref(),
        "--json".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let units: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(units.len(), 1 + ODD.len());
    let raw = units
        .iter()
        .find(|u| u.get("path_hex").is_some())
        .expect("a non-UTF-8 path has path_hex");
    let hex = raw["path_hex"].as_str().unwrap();
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    assert_eq!(bytes, under(&root, b"\xff\xferaw").as_os_str().as_bytes());
    assert_eq!(raw["recursive"], true);
    let newline = units
        .iter()
        .find(|u| u["path"].as_str().unwrap().ends_with("new\nline"))
        .unwrap();
    assert!(newline.get("path_hex").is_none());
}

#[test]
fn excludes_follow_regex_and_owner() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("src");
    odd_tree(&root);
    let run = |extra: &[&str]| {
        let mut args = vec![
            "paths".to_string(),
            "--path".into(),
            root.display().to_string(),
            "--depth".into(),
            "1".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let out = zkrsync(&args);
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let snapshots = format!("{}/.snapshots\n", root.display());
    // The tree is ours: as root it is excluded by default, as anyone else it is not.
    let is_root = nix_uid() == 0;
    assert_eq!(run(&[]).contains(&snapshots), !is_root);
    assert!(!run(&["--exclude-owner", ""]).contains(&snapshots));
    assert!(run(&["--exclude-regex", ""]).contains(&snapshots));
    assert!(run(&["--exclude-owner", "65534"]).contains(&snapshots));
    let custom = run(&["--exclude-regex", "dash$", "--exclude-owner", ""]);
    assert!(!custom.contains("-dash\n") && custom.contains(&snapshots));
    // The symlink to a directory is never a unit.
    assert!(!run(&[]).contains("link-to-dir"));
}

fn nix_uid() -> u32 {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn unreadable_directory_is_reported_and_marked() {
    if nix_uid() != 0 {
        // Without root we cannot switch to another user, but our own chmod 000 works.
        return unreadable_as(None);
    }
    unreadable_as(Some(65534));
}

fn unreadable_as(uid: Option<u32>) {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let root = dir.path().join("src");
    fs::create_dir_all(root.join("locked/inner")).unwrap();
    fs::create_dir_all(root.join("open/inner")).unwrap();
    fs::set_permissions(root.join("locked"), fs::Permissions::from_mode(0o000)).unwrap();
    // The binary must be reachable by the other user: copy it next to the tree.
    let bin = dir.path().join("zkrsync");
    fs::copy(zkrsync_bin(), &bin).unwrap();
    let mut cmd = match uid {
        Some(uid) => {
            let mut c = Command::new("setpriv");
            c.args([
                format!("--reuid={uid}"),
                format!("--regid={uid}"),
                "--clear-groups".into(),
            ])
            .arg(&bin);
            c
        }
        None => Command::new(&bin),
    };
    let out = cmd
        .args(["paths", "--path"])
        .arg(&root)
        .args(["--depth", "3", "--json"])
        .output()
        .unwrap();
    fs::set_permissions(root.join("locked"), fs::Permissions::from_mode(0o755)).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let locked = root.join("locked");
    assert!(
        stderr.contains(&format!(
            "cannot list {}: Permission denied",
            locked.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("1 errors"), "{stderr}");
    let units: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let failed: Vec<_> = units
        .iter()
        .filter(|u| u.get("listing_failed").is_some())
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["path"], locked.display().to_string());
    assert_eq!(failed[0]["recursive"], true);
    // The readable side is walked as usual.
    assert!(units
        .iter()
        .any(|u| u["path"] == root.join("open/inner").display().to_string()));
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    fs::write(&file, b"").unwrap();
    let d = dir.path().display().to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--path".into(), format!("{d}/missing")],
            "cannot be read",
        ),
        (
            vec!["--path".into(), file.display().to_string()],
            "is not a directory",
        ),
        (
            vec![
                "--path".into(),
                d.clone(),
                "--exclude-regex".into(),
                "(".into(),
            ],
            "not a valid regular expression",
        ),
        (
            vec![
                "--path".into(),
                d.clone(),
                "--exclude-owner".into(),
                "no-such-user-x".into(),
            ],
            "not a known user",
        ),
        (
            vec!["--path".into(), d.clone(), "--subpath".into(), "x_a".into()],
            "bad sub-path",
        ),
        (
            vec![
                "--path".into(),
                d.clone(),
                "--subpath".into(),
                "1_/elsewhere".into(),
            ],
            "not below the source path",
        ),
        (
            vec![
                "--path".into(),
                d.clone(),
                "--subpath".into(),
                "1_missing".into(),
            ],
            "not a unit",
        ),
        (
            vec!["--path".into(), d.clone(), "--threads".into(), "0".into()],
            "at least 1 thread",
        ),
    ];
    for (args, needle) in cases {
        let mut all = vec!["paths".to_string()];
        all.extend(args.clone());
        let out = zkrsync(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed units");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    // Usage errors from the argument parser also exit 2.
    let out = zkrsync(["paths", "--path", &d, "--depth", "-1"]);
    assert_eq!(out.status.code(), Some(2));
}
