//! `--config FILE`: vsc-zk's `zkrs.conf` (`[MAIN]` with `servers`, `session`, `depth`, `user`,
//! `passwd`, `delete`, `dryrun`, …), so existing users can move over. Its values become the
//! command's options; an option given on the command line wins.

use std::ffi::OsString;
use std::path::Path;

use anyhow::{bail, Context};

/// A zkrs.conf key: the option it becomes, whether it is a flag, the subcommands that take it.
struct Key {
    name: &'static str,
    option: &'static str,
    flag: bool,
    list: bool,
    commands: &'static [&'static str],
}

const ALL: &[&str] = &["source", "dest", "status", "abort"];
const AGENTS: &[&str] = &["source", "dest"];
const SOURCE: &[&str] = &["source"];
const DEST: &[&str] = &["dest"];

const KEYS: &[Key] = &[
    Key {
        name: "debug",
        option: "--verbose",
        flag: true,
        list: false,
        commands: AGENTS,
    },
    Key {
        name: "excl_usr",
        option: "--exclude-owner",
        flag: false,
        list: false,
        commands: SOURCE,
    },
    Key {
        name: "daemon",
        option: "--daemon",
        flag: true,
        list: false,
        commands: AGENTS,
    },
    Key {
        name: "pidfile",
        option: "--pidfile",
        flag: false,
        list: false,
        commands: AGENTS,
    },
    Key {
        name: "domain",
        option: "--domain",
        flag: false,
        list: false,
        commands: DEST,
    },
    Key {
        name: "servers",
        option: "--zk",
        flag: false,
        list: false,
        commands: ALL,
    },
    Key {
        name: "session",
        option: "--session",
        flag: false,
        list: false,
        commands: ALL,
    },
    Key {
        name: "depth",
        option: "--depth",
        flag: false,
        list: false,
        commands: SOURCE,
    },
    Key {
        name: "delete",
        option: "--delete",
        flag: true,
        list: false,
        commands: SOURCE,
    },
    Key {
        name: "dryrun",
        option: "--dry-run",
        flag: true,
        list: false,
        commands: SOURCE,
    },
    Key {
        name: "checksum",
        option: "--checksum",
        flag: true,
        list: false,
        commands: SOURCE,
    },
    Key {
        name: "hardlinks",
        option: "--hard-links",
        flag: true,
        list: false,
        commands: SOURCE,
    },
    Key {
        name: "inplace",
        option: "--inplace",
        flag: true,
        list: false,
        commands: SOURCE,
    },
    Key {
        name: "timeout",
        option: "--timeout",
        flag: false,
        list: false,
        commands: SOURCE,
    },
    Key {
        name: "excludere",
        option: "--exclude-regex",
        flag: false,
        list: false,
        commands: SOURCE,
    },
    Key {
        name: "rsubpaths",
        option: "--subpath",
        flag: false,
        list: true,
        commands: SOURCE,
    },
    Key {
        name: "done-file",
        option: "--done-file",
        flag: false,
        list: false,
        commands: SOURCE,
    },
    Key {
        name: "verbose",
        option: "--verbose",
        flag: true,
        list: false,
        commands: AGENTS,
    },
    Key {
        name: "logfile",
        option: "--log-file",
        flag: false,
        list: false,
        commands: AGENTS,
    },
    Key {
        name: "rsyncport",
        option: "--port",
        flag: false,
        list: false,
        commands: DEST,
    },
    Key {
        name: "startport",
        option: "--start-port",
        flag: false,
        list: false,
        commands: DEST,
    },
];

/// Keys of zkrs.conf that zkrsync reads elsewhere or does not need.
/// Keys read elsewhere (`user`/`passwd` become `--auth`) or without effect here: vsc-zk's
/// log rotation (`max_bytes`, `backup_count`) and `verifypath` (sources always check).
const IGNORED: &[&str] = &[
    "user",
    "passwd",
    "rsyncpath",
    "path",
    "max_bytes",
    "backup_count",
    "verifypath",
];

fn truthy(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

/// The `[MAIN]` keys of a zkrs.conf text, in order.
fn main_section(text: &str, file: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let sections = crate::ini::parse(text, &file.display().to_string())?;
    Ok(sections
        .into_iter()
        .filter(|s| s.name == "MAIN")
        .flat_map(|s| s.entries)
        .map(|e| (e.key, e.value))
        .collect())
}

/// vsc-zk's `servers` (hosts, the client port 2181 implied) as a connect string.
pub fn servers_connect(list: &str) -> String {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s.contains(':') {
                s.to_owned()
            } else {
                format!("{s}:2181")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn given(args: &[OsString], option: &str) -> bool {
    args.iter().any(|a| {
        let a = a.to_string_lossy();
        a == option || a.starts_with(&format!("{option}="))
    })
}

/// `args` (the whole command line) with `--config FILE` replaced by the options it holds.
pub fn expand(args: Vec<OsString>) -> anyhow::Result<Vec<OsString>> {
    let mut args = args;
    let Some(file) = take_config(&mut args)? else {
        return Ok(args);
    };
    let command = args
        .get(1)
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default();
    let path = Path::new(&file);
    let entries = read_main(path)?;
    let mut extra = options_of(&entries, &command, &args, path)?;
    extra.extend(auth_of(&entries, &command, &args));
    let insert_at = 2.min(args.len());
    args.splice(insert_at..insert_at, extra);
    Ok(args)
}

/// Takes `--config FILE` (or `--config=FILE`) out of `args` and returns FILE; None when
/// the command line has no `--config`.
fn take_config(args: &mut Vec<OsString>) -> anyhow::Result<Option<OsString>> {
    let Some(at) = args
        .iter()
        .position(|a| a == "--config" || a.to_string_lossy().starts_with("--config="))
    else {
        return Ok(None);
    };
    if args[at] == "--config" {
        if at + 1 >= args.len() {
            bail!("--config needs a file: give --config zkrs.conf");
        }
        let f = args.remove(at + 1);
        args.remove(at);
        Ok(Some(f))
    } else {
        let a = args.remove(at);
        Ok(Some(
            a.to_string_lossy().trim_start_matches("--config=").into(),
        ))
    }
}

/// The `[MAIN]` keys of the zkrs.conf at `path`, in order; every key one zkrsync knows.
fn read_main(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --config {}", path.display()))?;
    let entries = main_section(&text, path)?;
    if entries.is_empty() {
        bail!(
            "--config {} has no [MAIN] section with keys: see vsc-zk's zkrs.conf",
            path.display()
        );
    }
    for (key, _) in &entries {
        if !IGNORED.contains(&key.as_str()) && !KEYS.iter().any(|k| k.name == key) {
            bail!(
                "--config {}: unknown key {key:?} in [MAIN]: remove it",
                path.display()
            );
        }
    }
    Ok(entries)
}

/// The value of `name`, the last one when the file has it more than once.
fn last_value(entries: &[(String, String)], name: &str) -> Option<String> {
    entries
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

/// The options the keys of [`KEYS`] in `entries` become for `command`, leaving out those
/// the command line `args` gives itself.
fn options_of(
    entries: &[(String, String)],
    command: &str,
    args: &[OsString],
    path: &Path,
) -> anyhow::Result<Vec<OsString>> {
    let mut extra: Vec<OsString> = Vec::new();
    for key in KEYS {
        let Some(v) = last_value(entries, key.name) else {
            continue;
        };
        if !key.commands.contains(&command) || given(args, key.option) {
            continue;
        }
        if key.flag {
            match truthy(&v) {
                Some(true) => extra.push(key.option.into()),
                Some(false) => {}
                None => bail!(
                    "--config {}: {} = {v:?} is not a yes/no value",
                    path.display(),
                    key.name
                ),
            }
        } else if key.list {
            for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                extra.push(key.option.into());
                extra.push(item.into());
            }
        } else if key.name == "servers" {
            extra.push(key.option.into());
            extra.push(servers_connect(&v).into());
        } else {
            extra.push(key.option.into());
            extra.push(v.into());
        }
    }
    Ok(extra)
}

/// `--auth USER:PASS` from `user` and `passwd`: the session's credentials, unless the
/// command line or `ZKRSYNC_AUTH` gives them otherwise.
fn auth_of(entries: &[(String, String)], command: &str, args: &[OsString]) -> Vec<OsString> {
    let (Some(user), Some(pass)) = (last_value(entries, "user"), last_value(entries, "passwd"))
    else {
        return Vec::new();
    };
    if ALL.contains(&command)
        && !given(args, "--auth")
        && !given(args, "--auth-file")
        && std::env::var_os("ZKRSYNC_AUTH").is_none()
    {
        vec!["--auth".into(), format!("{user}:{pass}").into()]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(conf: &str, args: &[&str]) -> anyhow::Result<Vec<String>> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("zkrs.conf");
        std::fs::write(&file, conf).unwrap();
        let mut all: Vec<OsString> = args.iter().map(OsString::from).collect();
        all.push("--config".into());
        all.push(file.into_os_string());
        Ok(expand(all)?
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect())
    }

    #[test]
    fn main_keys_become_options_and_the_command_line_wins() {
        let conf = "[MAIN]\nservers=zk1,zk2:2182\nsession=s1\ndepth=2\ndelete=1\ndryrun=0\nuser=u\npasswd=p\nrsubpaths=3_a,4_b\n[other]\nx=y\n";
        let out = run(
            conf,
            &["zkrsync", "source", "--depth", "4", "--path", "/src"],
        )
        .unwrap();
        assert_eq!(
            out,
            [
                "zkrsync",
                "source",
                "--zk",
                "zk1:2181,zk2:2182",
                "--session",
                "s1",
                "--delete",
                "--subpath",
                "3_a",
                "--subpath",
                "4_b",
                "--auth",
                "u:p",
                "--depth",
                "4",
                "--path",
                "/src"
            ]
        );
        let dest = run(conf, &["zkrsync", "dest", "--path", "/dst"]).unwrap();
        assert!(!dest.contains(&"--delete".to_owned()) && dest.contains(&"--session".to_owned()));
    }

    #[test]
    fn bad_files_are_one_line_errors() {
        let e = run("[MAIN]\nbogus=1\n", &["zkrsync", "source"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown key \"bogus\""), "{e}");
        let e = run("[MAIN]\ndelete=maybe\n", &["zkrsync", "source"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a yes/no value"), "{e}");
        let e = run("no section\n", &["zkrsync", "source"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("not key=value") || e.contains("no [MAIN]"),
            "{e}"
        );
    }
}
