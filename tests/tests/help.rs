//! Every program's `--help` ends with its exit codes, each with the meaning the one table
//! (`zkrsync_core::protocol::exit_code::MEANINGS`) gives it, and the README's exit-code table
//! is that table.

use std::path::Path;
use std::process::Command;

use zkrsync_core::protocol::exit_code::{self, MEANINGS};
use zkrsync_tests::workspace_bin;

/// The standard output of `program --help`, which must succeed.
fn help_of(program: &Path) -> String {
    let out = Command::new(program)
        .arg("--help")
        .output()
        .expect("run --help");
    assert!(out.status.success(), "{program:?} --help: {out:?}");
    String::from_utf8(out.stdout).expect("help is UTF-8")
}

/// Asserts that `help` ends with the exit-code lines of exactly `codes`.
fn assert_exit_codes(program: &str, help: &str, codes: &[i32]) {
    let (_, tail) = help
        .rsplit_once("Exit codes:")
        .unwrap_or_else(|| panic!("{program} --help has no exit codes:\n{help}"));
    let lines: Vec<&str> = tail.trim_end().lines().skip(1).collect();
    let want: Vec<String> = MEANINGS
        .iter()
        .filter(|(c, _)| codes.contains(c))
        .map(|(code, meaning)| format!("  {code:<4} {meaning}"))
        .collect();
    assert_eq!(lines, want, "{program} --help:\n{help}");
}

#[test]
fn zkrsync_help_lists_its_exit_codes() {
    let help = help_of(&workspace_bin("zkrsync"));
    assert_exit_codes(
        "zkrsync",
        &help,
        &[
            exit_code::OK,
            exit_code::PARTIAL,
            exit_code::CONFIG,
            exit_code::NO_SESSION,
            exit_code::INTERRUPTED,
        ],
    );
}

#[test]
fn zkinitree_help_lists_its_exit_codes() {
    let help = help_of(&workspace_bin("zkinitree"));
    assert_exit_codes("zkinitree", &help, &[exit_code::OK, exit_code::CONFIG]);
}

#[test]
fn zkrsync_launch_help_lists_its_exit_codes() {
    let help = help_of(&workspace_bin("zkrsync-launch"));
    assert_exit_codes(
        "zkrsync-launch",
        &help,
        &[
            exit_code::OK,
            exit_code::PARTIAL,
            exit_code::CONFIG,
            exit_code::HOST_FAILED,
            exit_code::INTERRUPTED,
        ],
    );
}

#[test]
fn every_zkrsync_subcommand_help_lists_the_exit_codes_it_can_end_with() {
    use exit_code::{CONFIG, INTERRUPTED, NO_SESSION, OK, PARTIAL};
    let zkrsync = workspace_bin("zkrsync");
    let cases: [(&str, &[i32]); 8] = [
        ("paths", &[OK, PARTIAL, CONFIG]),
        ("source", &[OK, PARTIAL, CONFIG, INTERRUPTED]),
        ("dest", &[OK, PARTIAL, CONFIG, INTERRUPTED]),
        ("status", &[OK, CONFIG, NO_SESSION]),
        ("abort", &[OK, CONFIG, NO_SESSION]),
        ("check", &[OK, PARTIAL, CONFIG, NO_SESSION]),
        ("completions", &[OK, CONFIG]),
        ("man", &[OK, CONFIG]),
    ];
    for (sub, codes) in cases {
        let out = Command::new(&zkrsync)
            .args([sub, "--help"])
            .output()
            .expect("run --help");
        assert!(out.status.success(), "zkrsync {sub} --help: {out:?}");
        let help = String::from_utf8(out.stdout).expect("help is UTF-8");
        assert_exit_codes(&format!("zkrsync {sub}"), &help, codes);
    }
}

#[test]
fn the_readme_exit_code_table_is_the_one_table() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("read README.md");
    let (_, section) = readme
        .split_once("### Exit codes\n")
        .expect("README has a section \"### Exit codes\"");
    let rows: Vec<(i32, String)> = section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2) // the header and its rule
        .map(|row| {
            let cells: Vec<&str> = row.trim_matches('|').split(" | ").map(str::trim).collect();
            assert_eq!(cells.len(), 2, "README exit-code row {row:?}");
            let code = cells[0]
                .parse()
                .unwrap_or_else(|_| panic!("README exit-code row {row:?}"));
            (code, cells[1].replace('`', ""))
        })
        .collect();
    let want: Vec<(i32, String)> = MEANINGS
        .iter()
        .map(|(c, m)| (*c, (*m).to_owned()))
        .collect();
    assert_eq!(
        rows, want,
        "the README's exit codes (backticks aside) are exit_code::MEANINGS"
    );
}
