//! The session's rsync options, tried before the source joins: the `--rsync` program runs
//! once with the options every copying run gets (zkrsync's own, the session's and the
//! `--rsync-opt`s) plus `--dry-run`, from one empty private directory to another, so
//! nothing can change. An option rsync rejects, a program that cannot run, or options that
//! would make every run copy nothing are refused before any session exists, in rsync's
//! own words; otherwise every chunk would fail, or worse, count as copied.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use zkrsync_core::protocol::rsync_job::BASE_ARGS;
use zkrsync_core::protocol::SessionParams;

/// How long the trial may take.
const TRIAL_LIMIT: Duration = Duration::from_secs(30);

/// Options only valid when talking to a daemon, as the copying runs do; a local trial
/// would reject them, so they are left out of it.
const DAEMON_ONLY: [&str; 2] = ["--contimeout", "--password-file"];

/// Options with which rsync copies nothing and still exits 0.
const COPY_NOTHING: [&str; 3] = ["--dry-run", "--list-only", "--only-write-batch"];

/// Short options that take a value (the rest of their word, or the next word): rsync's
/// `-B`, `-e`, `-@`, `-T`, `-f` and `-M`.
const SHORT_WITH_VALUE: &[u8] = b"Be@TfM";

/// Why the session's rsync options are refused. Messages carry their causes, so no
/// variant has a `source` (the binaries print an error's chain, which would repeat it).
#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    /// An option makes rsync copy nothing (the option).
    #[error("--rsync-opt {0} would make rsync copy nothing while zkrsync records every chunk as copied: use zkrsync's own --dry-run (a session parameter) to see what a session would do")]
    CopiesNothing(String),
    /// rsync rejected the options (its first line of error output).
    #[error("rsync refuses the session's options: {0:?}: fix or remove the --rsync-opt it names")]
    Refused(String),
    /// The program cannot be started.
    #[error("cannot run --rsync {program} ({error}): give the path of rsync")]
    CannotRun {
        /// The `--rsync` program.
        program: String,
        /// Why.
        error: std::io::Error,
    },
    /// The program failed and said nothing.
    #[error("--rsync {program} failed a dry run between two empty directories ({status}) without saying why: give the path of rsync")]
    Failed {
        /// The `--rsync` program.
        program: String,
        /// How it ended.
        status: String,
    },
    /// The program did not end.
    #[error("--rsync {program} did not finish a dry run between two empty directories within {} s: give the path of rsync", TRIAL_LIMIT.as_secs())]
    NoAnswer {
        /// The `--rsync` program.
        program: String,
    },
    /// No private directories for the trial.
    #[error("cannot make two private directories to try the rsync options in ({0}): check TMPDIR")]
    TempDir(std::io::Error),
}

/// The first `--rsync-opt` that makes rsync copy nothing (a dry run, a listing, a batch
/// written instead of the copy), also inside `-M`/`--remote-option`.
pub fn copies_nothing(opts: &[String]) -> Option<&str> {
    let mut words = opts.iter();
    while let Some(opt) = words.next() {
        let (found, value_follows) = option_copies_nothing(opt);
        if found {
            return Some(opt);
        }
        if value_follows {
            words.next();
        }
    }
    None
}

/// Whether one word makes rsync copy nothing, and whether the next word is its value.
fn option_copies_nothing(opt: &str) -> (bool, bool) {
    if let Some(long) = opt.strip_prefix("--") {
        let (name, value) = match long.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (long, None),
        };
        if COPY_NOTHING.iter().any(|c| c[2..] == *name) {
            return (true, false);
        }
        if name == "remote-option" {
            return (value.is_some_and(|v| option_copies_nothing(v).0), false);
        }
        return (false, false);
    }
    let Some(short) = opt.strip_prefix('-') else {
        return (false, false);
    };
    for (i, b) in short.bytes().enumerate() {
        if b == b'n' {
            return (true, false);
        }
        if SHORT_WITH_VALUE.contains(&b) {
            let value = &short[i + 1..];
            if value.is_empty() {
                return (false, true);
            }
            return (b == b'M' && option_copies_nothing(value).0, false);
        }
    }
    (false, false)
}

/// The options of a copying run of a recursive unit under `params` (as the core builds
/// them, see `rsync_job.rs`), without those only a daemon takes.
fn trial_args(params: &SessionParams) -> Vec<String> {
    let mut args: Vec<String> = BASE_ARGS.iter().map(|s| s.to_string()).collect();
    args.push("-r".into());
    for (on, flag) in [
        (params.delete, "--delete"),
        (params.checksum, "--checksum"),
        (params.hard_links, "--hard-links"),
        (params.inplace, "--inplace"),
    ] {
        if on {
            args.push(flag.into());
        }
    }
    if params.timeout > 0 {
        args.push(format!("--timeout={}", params.timeout));
    }
    args.extend(
        params
            .rsync_opts
            .iter()
            .filter(|o| !DAEMON_ONLY.contains(&o.split('=').next().unwrap_or(o)))
            .cloned(),
    );
    args
}

/// Tries the session's options with `program`; Ok when rsync takes them.
pub fn try_options(program: &Path, params: &SessionParams) -> Result<(), TrialError> {
    if let Some(opt) = copies_nothing(&params.rsync_opts) {
        return Err(TrialError::CopiesNothing(opt.to_owned()));
    }
    let dir = tempfile::Builder::new()
        .prefix("zkrsync-trial-")
        .tempdir()
        .map_err(TrialError::TempDir)?;
    let (from, to) = (dir.path().join("from"), dir.path().join("to"));
    for d in [&from, &to] {
        std::fs::create_dir(d).map_err(TrialError::TempDir)?;
    }
    // The filter rules as every run gets them, so rsync reads them once here too.
    let mut filters = Vec::new();
    let rules = params
        .filters
        .rsync_rules(params.delete && params.delete_excluded);
    if !rules.is_empty() {
        let file = dir.path().join("filters");
        std::fs::write(&file, rules).map_err(TrialError::TempDir)?;
        filters = vec![
            "--from0".to_owned(),
            format!("--filter=merge {}", file.display()),
        ];
    }
    let shown = program.display().to_string();
    let child = Command::new(program)
        .arg("--dry-run")
        .args(trial_args(params))
        .args(filters)
        .arg("--")
        .arg(format!("{}/", from.display()))
        .arg(format!("{}/", to.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| TrialError::CannotRun {
            program: shown.clone(),
            error,
        })?;
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(TRIAL_LIMIT) {
        Ok(Ok(out)) => out,
        Ok(Err(error)) => {
            return Err(TrialError::CannotRun {
                program: shown,
                error,
            })
        }
        Err(_) => {
            // SAFETY: kill(2) of our child, not reaped yet (its waiter still waits).
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
            return Err(TrialError::NoAnswer { program: shown });
        }
    };
    if out.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&out.stderr);
    match said.lines().map(str::trim).find(|l| !l.is_empty()) {
        Some(line) => Err(TrialError::Refused(line.to_owned())),
        None => Err(TrialError::Failed {
            program: shown,
            status: out.status.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(opts: &[&str]) -> Vec<String> {
        opts.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_that_copy_nothing_are_found_in_every_spelling() {
        for opts in [
            &["-n"][..],
            &["--dry-run"],
            &["-avn"],
            &["--list-only"],
            &["--only-write-batch=/tmp/b"],
            &["-M--dry-run"],
            &["--remote-option=-n"],
            &["--bwlimit=1M", "-zn"],
        ] {
            assert!(copies_nothing(&words(opts)).is_some(), "{opts:?}");
        }
        for opts in [
            &["--bwlimit=1M"][..],
            &["-z", "--no-motd"],
            &["-e", "-n"],
            &["-essh -n"],
            &["-B1024n"],
            &["--filter=- n"],
            &["--write-batch=/tmp/b"],
            &["-M--bwlimit=1"],
        ] {
            assert_eq!(copies_nothing(&words(opts)), None, "{opts:?}");
        }
    }

    #[test]
    fn the_trial_has_the_session_options_but_not_the_daemon_only_ones() {
        let params = SessionParams {
            delete: true,
            inplace: true,
            timeout: 600,
            rsync_opts: words(&["--contimeout=5", "--bwlimit=1M", "--password-file=/x"]),
            ..SessionParams::default()
        };
        let args = trial_args(&params);
        for want in [
            "-r",
            "--delete",
            "--inplace",
            "--timeout=600",
            "--bwlimit=1M",
        ] {
            assert!(args.contains(&want.to_owned()), "{want} in {args:?}");
        }
        assert!(
            !args
                .iter()
                .any(|a| a.starts_with("--contimeout") || a.starts_with("--password")),
            "{args:?}"
        );
    }
}
