//! What the three programs say about themselves: shell completions that bash, zsh and fish
//! load and that complete real options, man pages (installed by `scripts/install-docs`) that
//! `man -l` renders with every option and exit code of `--help`, and a `--version` that
//! names the rsync it drives and the ZooKeeper client, while `-V` stays one line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use zkrsync_tests::{workspace_bin, zkrsync_bin};

const PROGRAMS: [&str; 3] = ["zkrsync", "zkrsync-launch", "zkinitree"];

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A shell the tests need (scripts/setup installs it).
fn shell(name: &str) -> &str {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "{name} is not installed: run scripts/setup"
    );
    name
}

/// How `program` is asked for its completion script.
fn completion_args(program: &str, shell: &str) -> Vec<String> {
    let ask = if program == "zkrsync" {
        "completions"
    } else {
        "--completions"
    };
    vec![ask.to_owned(), shell.to_owned()]
}

/// `program`'s completion script for `shell`, written to a file in `dir`.
fn script(dir: &Path, program: &str, shell: &str) -> PathBuf {
    let out = run(Command::new(workspace_bin(program)).args(completion_args(program, shell)));
    assert!(!out.stdout.is_empty(), "{program}: empty {shell} script");
    let file = dir.join(format!("{program}.{shell}"));
    std::fs::write(&file, &out.stdout).unwrap();
    file
}

/// A partial command line and a candidate each shell must offer for its last word.
const CASES: [(&str, &str); 4] = [
    ("zkrsync so", "source"),
    ("zkrsync dest --rew", "--rewrite-symlinks"),
    ("zkrsync-launch --push", "--push-binary"),
    ("zkinitree --ser", "--servers"),
];

#[test]
fn bash_loads_each_completion_script_and_completes_options() {
    let bash = shell("bash");
    let tmp = tempfile::tempdir().unwrap();
    for program in PROGRAMS {
        let file = script(tmp.path(), program, "bash");
        run(Command::new(bash).arg("-n").arg(&file));
        let registered = text(&run(Command::new(bash)
            .arg("-c")
            .arg(format!("source {}; complete -p {program}", file.display()))));
        assert!(
            registered.contains(&format!(" {program}\n")),
            "{registered}"
        );
        for (line, want) in CASES
            .iter()
            .filter(|(l, _)| l.split(' ').next() == Some(program))
        {
            let function = registered
                .split_whitespace()
                .skip_while(|w| *w != "-F")
                .nth(1)
                .expect("complete -F FUNCTION");
            let words: Vec<&str> = line.split(' ').collect();
            let driver = format!(
                "source {file}; COMP_WORDS=({words}); COMP_CWORD={last}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}; {function} {program} {cur} {prev}; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                file = file.display(),
                words = words.join(" "),
                last = words.len() - 1,
                cur = words[words.len() - 1],
                prev = words[words.len() - 2],
            );
            let offered = text(&run(Command::new(bash).arg("-c").arg(driver)));
            assert!(
                offered.lines().any(|l| l == *want),
                "bash offers for {line:?}:\n{offered}"
            );
        }
    }
}

#[test]
fn fish_loads_each_completion_script_and_completes_options() {
    let fish = shell("fish");
    let tmp = tempfile::tempdir().unwrap();
    for program in PROGRAMS {
        let file = script(tmp.path(), program, "fish");
        run(Command::new(fish).arg("--no-execute").arg(&file));
        for (line, want) in CASES
            .iter()
            .filter(|(l, _)| l.split(' ').next() == Some(program))
        {
            let offered = text(&run(Command::new(fish)
                .arg("-c")
                .arg(format!("source {}; complete -C '{line}'", file.display()))));
            assert!(
                offered.lines().any(|l| l.split('\t').next() == Some(*want)),
                "fish offers for {line:?}:\n{offered}"
            );
        }
    }
}

#[test]
fn zsh_parses_each_completion_script_and_registers_it() {
    let zsh = shell("zsh");
    let tmp = tempfile::tempdir().unwrap();
    for program in PROGRAMS {
        let file = script(tmp.path(), program, "zsh");
        run(Command::new(zsh).arg("-n").arg(&file));
        let script = std::fs::read_to_string(&file).unwrap();
        assert!(
            script.starts_with(&format!("#compdef {program}")),
            "{script}"
        );
        let registered = text(&run(Command::new(zsh).arg("-fc").arg(format!(
            "autoload -Uz compinit; compinit -u -D; source {}; print -r -- $_comps[{program}]",
            file.display()
        ))));
        assert_eq!(registered.trim(), format!("_{program}"), "zsh: {program}");
    }
}

/// The options `--help` lists (`-x, --long` or `--long` at the start of a line).
fn options_in_help(help: &str) -> Vec<String> {
    help.lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .filter_map(|l| {
            l.split([' ', ','])
                .find(|w| w.starts_with("--"))
                .map(|w| w.split(['=', '<']).next().unwrap_or(w).to_owned())
        })
        .collect()
}

/// The rows of `--help`'s exit-code paragraph, as "code meaning".
fn exit_rows(help: &str) -> Vec<String> {
    let (_, tail) = help
        .rsplit_once("Exit codes:")
        .expect("exit codes in --help");
    tail.lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// `page` rendered by `man -l`, without hyphenation or justification, in plain ASCII.
fn render(page: &Path) -> String {
    let out = Command::new(shell("man"))
        .args(["-l", "--nh", "--nj"])
        .arg(page)
        .env("MANWIDTH", "400")
        .env("LC_ALL", "C")
        .env_remove("MANPAGER")
        .env_remove("PAGER")
        .output()
        .expect("run man");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "man -l {}: {}\n{stderr}",
        page.display(),
        out.status
    );
    text(&out)
}

#[test]
fn install_docs_writes_man_pages_that_render_with_every_option_and_exit_code() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().join("usr");
    let installed = text(&run(Command::new(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/install-docs"),
    )
    .arg(&prefix)
    .env("ZKRSYNC_BIN_DIR", zkrsync_bin().parent().unwrap())));
    let share = prefix.join("share");
    for program in PROGRAMS {
        for file in [
            share.join("bash-completion/completions").join(program),
            share.join("zsh/site-functions").join(format!("_{program}")),
            share
                .join("fish/vendor_completions.d")
                .join(format!("{program}.fish")),
        ] {
            assert!(file.is_file(), "{} in\n{installed}", file.display());
        }
    }
    let subcommands = ["paths", "source", "dest", "status", "abort", "check"];
    let mut pages: Vec<(String, Vec<&str>)> = PROGRAMS
        .iter()
        .map(|p| ((*p).to_owned(), vec![*p]))
        .collect();
    for sub in subcommands.iter().chain(&["completions", "man"]) {
        pages.push((format!("zkrsync-{sub}"), vec!["zkrsync", sub]));
    }
    for (page, words) in pages {
        let file = share.join("man/man1").join(format!("{page}.1"));
        assert!(file.is_file(), "{} in\n{installed}", file.display());
        let shown = render(&file);
        let help = text(&run(Command::new(workspace_bin(words[0]))
            .args(&words[1..])
            .arg("--help")));
        assert!(shown.contains("NAME") && shown.contains(&page), "{shown}");
        let options = options_in_help(&help);
        assert!(options.len() >= 2, "{page}: options in --help: {options:?}");
        for option in &options {
            assert!(
                shown.contains(option.as_str()),
                "{page}.1 lacks {option}:\n{shown}"
            );
        }
        let (_, status) = shown
            .split_once("EXIT STATUS")
            .unwrap_or_else(|| panic!("{page}.1 has no EXIT STATUS:\n{shown}"));
        let rows: Vec<String> = status
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
            .collect();
        assert_eq!(rows, exit_rows(&help), "{page}.1's exit codes are --help's");
    }
    let top = render(&share.join("man/man1/zkrsync.1"));
    for sub in subcommands {
        assert!(top.contains(&format!("zkrsync-{sub}(1)")), "{top}");
    }
    assert!(
        !share.join("man/man1/zkrsync-watchdog.1").exists(),
        "the hidden watchdog has no page"
    );
}

/// The first line of `rsync --version` of the rsync in PATH.
fn rsync_first_line() -> String {
    let out = run(Command::new("rsync").arg("--version"));
    text(&out).lines().next().unwrap().trim().to_owned()
}

#[test]
fn version_names_the_rsync_its_protocol_and_the_zookeeper_client_and_v_stays_short() {
    let rsync_line = rsync_first_line();
    let protocol = rsync_line
        .split_once("protocol version")
        .map(|(_, p)| p.split_whitespace().next().unwrap().to_owned())
        .expect("rsync names its protocol");
    let version = env!("CARGO_PKG_VERSION");
    for program in PROGRAMS {
        let short = text(&run(Command::new(workspace_bin(program)).arg("-V")));
        assert_eq!(short, format!("{program} {version}\n"));
        let long = text(&run(Command::new(workspace_bin(program)).arg("--version")));
        let lines: Vec<&str> = long.lines().collect();
        assert_eq!(lines[0], format!("{program} {version}"), "{long}");
        assert!(
            lines[1].starts_with("rsync:") && lines[1].contains(&rsync_line),
            "{program} --version names the rsync of `rsync --version` ({rsync_line}):\n{long}"
        );
        assert_eq!(lines[2], format!("rsync protocol:   {protocol}"), "{long}");
        assert!(
            lines[3].starts_with("ZooKeeper client: zookeeper-client 0."),
            "{long}"
        );
        let without = text(&run(Command::new(workspace_bin(program))
            .arg("--version")
            .env("PATH", "/nonexistent")));
        assert!(
            without.contains("rsync:            not found in PATH"),
            "{program} without rsync:\n{without}"
        );
    }
}
