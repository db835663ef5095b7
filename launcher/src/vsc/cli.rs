//! vsc-zk's command line, so existing scripts keep working: `zkrsync -S -r SRC
//! --configfiles=zkrs.conf` is `zkrsync source --path SRC --config zkrs.conf`, `-D` is
//! `dest`, `--state` is `status`, `--pathsonly` is `paths`. Every vsc-zk option is taken
//! with its meaning (as `--name value`, `--name=value` or its short letter) and passed on to
//! the role that uses it; options of the other role are dropped, as vsc-zk ignores them.

use std::ffi::OsString;

use anyhow::bail;

use crate::agent::daemon_mode::DEFAULT_LOGFILE;
use crate::vsc::config::servers_connect;

/// Our subcommands and help: a command line starting with one of them is ours.
const OURS: [&str; 10] = [
    "paths",
    "source",
    "dest",
    "status",
    "abort",
    "help",
    "-h",
    "--help",
    "-V",
    "--version",
];

/// The roles, as vsc-zk's option groups see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Source,
    Dest,
    State,
    PathsOnly,
}

/// vsc-zk's options: long name, short letter, takes a value.
const FLAGS: [(&str, Option<char>); 13] = [
    ("source", Some('S')),
    ("destination", Some('D')),
    ("pathsonly", None),
    ("state", None),
    ("dryrun", Some('n')),
    ("delete", None),
    ("checksum", None),
    ("hardlinks", None),
    ("inplace", None),
    ("daemon", None),
    ("verbose", None),
    ("debug", Some('d')),
    ("verifypath", None),
];
const VALUES: [(&str, Option<char>); 20] = [
    ("servers", None),
    ("user", Some('u')),
    ("passwd", Some('p')),
    ("session", Some('N')),
    ("rsyncpath", Some('r')),
    ("rsubpaths", None),
    ("excludere", None),
    ("excl_usr", None),
    ("depth", None),
    ("domain", None),
    ("done-file", None),
    ("logfile", None),
    ("pidfile", None),
    ("timeout", None),
    ("rsyncport", None),
    ("startport", None),
    ("configfiles", None),
    ("arbitopts", None),
    ("max_bytes", None),
    ("backup_count", None),
];

/// Whether `args` (the whole command line) is vsc-zk's rather than ours.
pub fn is_vsc(args: &[OsString]) -> bool {
    match args.get(1).and_then(|a| a.to_str()) {
        Some(first) => !OURS.contains(&first) && first.starts_with('-'),
        None => false,
    }
}

fn push(out: &mut Vec<OsString>, option: &str, value: OsString) {
    out.push(option.into());
    out.push(value);
}

/// `args` in our form when it is vsc-zk's command line, else as it is.
pub fn translate(args: Vec<OsString>) -> anyhow::Result<Vec<OsString>> {
    if !is_vsc(&args) {
        return Ok(args);
    }
    let mut flags: Vec<&str> = Vec::new();
    let mut values: Vec<(&str, OsString)> = Vec::new();
    let mut i = 1;
    while i < args.len() {
        let arg = args[i].to_string_lossy().into_owned();
        i += 1;
        let (name, inline): (String, Option<OsString>) = if let Some(long) = arg.strip_prefix("--")
        {
            match long.split_once('=') {
                Some((n, v)) => (n.to_owned(), Some(v.into())),
                None => (long.to_owned(), None),
            }
        } else if let Some(short) = arg.strip_prefix('-').filter(|s| s.len() == 1) {
            let c = short.chars().next().unwrap_or('-');
            let long = FLAGS
                .iter()
                .chain(VALUES.iter())
                .find(|(_, s)| *s == Some(c))
                .map(|(n, _)| *n);
            match long {
                Some(n) => (n.to_owned(), None),
                None => bail!(
                    "vsc-zk option -{c} is unknown: run zkrsync --help for this zkrsync's options"
                ),
            }
        } else {
            bail!("{arg:?} is not a vsc-zk option: vsc-zk's zkrsync takes only options (the path goes with -r)");
        };
        if let Some((n, _)) = FLAGS.iter().find(|(n, _)| *n == name) {
            if inline.is_some() {
                bail!("--{n} takes no value");
            }
            flags.push(n);
        } else if let Some((n, _)) = VALUES.iter().find(|(n, _)| *n == name) {
            let value = match inline {
                Some(v) => v,
                None => match args.get(i) {
                    Some(v) => {
                        i += 1;
                        v.clone()
                    }
                    None => bail!("--{n} needs a value"),
                },
            };
            values.push((n, value));
        } else if name == "netcat" {
            bail!("--netcat is not supported: zkrsync checks each daemon when it registers; run a small session with --dryrun to test the network");
        } else if name == "dropcache" {
            bail!("--dropcache needs a patched rsync: give it with --arbitopts drop-cache if yours has it");
        } else {
            bail!("--{name} is not a vsc-zk zkrsync option: run zkrsync --help for this zkrsync's options");
        }
    }
    let has = |f: &str| flags.contains(&f);
    let roles: Vec<Role> = [
        (has("source"), Role::Source),
        (has("destination"), Role::Dest),
        (has("state"), Role::State),
        (has("pathsonly"), Role::PathsOnly),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .map(|(_, r)| r)
    .collect();
    let role = match roles.as_slice() {
        [r] => *r,
        [] => bail!("give a role: -S (source), -D (destination), --state or --pathsonly"),
        _ if has("source") && has("destination") => {
            bail!("a client cannot be the source AND the destination: give -S or -D")
        }
        _ => bail!("give one of -S, -D, --state and --pathsonly"),
    };
    let mut out: Vec<OsString> = vec![args[0].clone()];
    out.push(
        match role {
            Role::Source => "source",
            Role::Dest => "dest",
            Role::State => "status",
            Role::PathsOnly => "paths",
        }
        .into(),
    );
    let agent = matches!(role, Role::Source | Role::Dest);
    let walks = matches!(role, Role::Source | Role::PathsOnly);
    let zk = role != Role::PathsOnly;
    let value = |n: &str| {
        values
            .iter()
            .rev()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| v.clone())
    };
    if zk {
        if let Some(files) = value("configfiles") {
            let list: Vec<&str> = files
                .to_str()
                .unwrap_or("")
                .split(',')
                .filter(|f| !f.is_empty())
                .collect();
            if list.len() != 1 {
                bail!("--configfiles {files:?}: give exactly one file");
            }
            push(&mut out, "--config", list[0].into());
        }
        if let Some(s) = value("servers") {
            push(
                &mut out,
                "--zk",
                servers_connect(&s.to_string_lossy()).into(),
            );
        }
        if let Some(s) = value("session") {
            push(&mut out, "--session", s);
        }
        match (value("user"), value("passwd")) {
            (Some(u), Some(p)) => {
                let mut auth = u;
                auth.push(":");
                auth.push(p);
                push(&mut out, "--auth", auth);
            }
            (None, None) => {}
            _ => bail!("give --user and --passwd together (the session's credentials)"),
        }
    }
    if role == Role::State {
        // status takes no path.
    } else if let Some(p) = value("rsyncpath") {
        push(&mut out, "--path", p);
    } else {
        bail!("give the path with -r PATH (vsc-zk's --rsyncpath)");
    }
    if walks {
        if let Some(d) = value("depth") {
            push(&mut out, "--depth", d);
        }
        if let Some(e) = value("excludere") {
            push(&mut out, "--exclude", e);
        }
        if let Some(u) = value("excl_usr") {
            push(&mut out, "--exclude-owner", u);
        }
        for (_, list) in values.iter().filter(|(k, _)| *k == "rsubpaths") {
            for sub in list.to_string_lossy().split(',').filter(|s| !s.is_empty()) {
                push(&mut out, "--subpath", sub.into());
            }
        }
    }
    if role == Role::Source {
        for (flag, ours) in [
            ("dryrun", "--dry-run"),
            ("delete", "--delete"),
            ("checksum", "--checksum"),
            ("hardlinks", "--hard-links"),
            ("inplace", "--inplace"),
        ] {
            if has(flag) {
                out.push(ours.into());
            }
        }
        if let Some(t) = value("timeout") {
            push(&mut out, "--timeout", t);
        }
        if let Some(f) = value("done-file") {
            push(&mut out, "--done-file", f);
        }
        for (_, list) in values.iter().filter(|(k, _)| *k == "arbitopts") {
            for opt in list.to_string_lossy().split(',').filter(|s| !s.is_empty()) {
                // vsc-zk: long names, a colon between key and value.
                let opt = match opt.split_once(':') {
                    Some((k, v)) => format!("--rsync-opt=--{k}={v}"),
                    None => format!("--rsync-opt=--{opt}"),
                };
                out.push(opt.into());
            }
        }
    }
    if role == Role::Dest {
        if let Some(p) = value("rsyncport") {
            push(&mut out, "--port", p);
        }
        if let Some(p) = value("startport") {
            push(&mut out, "--start-port", p);
        }
        if let Some(d) = value("domain") {
            push(&mut out, "--domain", d);
        }
    }
    if agent {
        if has("verbose") || has("debug") {
            out.push("--verbose".into());
        }
        if has("daemon") {
            out.push("--daemon".into());
        }
        if let Some(p) = value("pidfile") {
            push(&mut out, "--pidfile", p);
        }
        // vsc-zk always logs to a file, by default under /tmp/zkrsync/.
        push(
            &mut out,
            "--log-file",
            value("logfile").unwrap_or_else(|| DEFAULT_LOGFILE.into()),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr(line: &str) -> anyhow::Result<String> {
        let args: Vec<OsString> = line.split(' ').map(OsString::from).collect();
        translate(args).map(|a| {
            a.iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
    }

    #[test]
    fn the_readme_command_lines() {
        assert_eq!(
            tr("zkrsync -S -r /gpfs/a --configfiles=zkrs.conf").unwrap(),
            "zkrsync source --config zkrs.conf --path /gpfs/a --log-file /tmp/zkrsync/%(session)s-%(rstype)s-%(pid)s.log"
        );
        assert_eq!(
            tr("zkrsync -D -r /gpfs/b --configfiles=zkrs.conf").unwrap(),
            "zkrsync dest --config zkrs.conf --path /gpfs/b --log-file /tmp/zkrsync/%(session)s-%(rstype)s-%(pid)s.log"
        );
    }

    #[test]
    fn options_keep_their_meaning_and_go_to_their_role() {
        let source = tr("zkrsync --source --servers zk1,zk2:2182 -N s1 -u alice -p pw -r /a --depth 2 -n --delete --excludere ^/x --rsubpaths 3_a/b,4_a/b/c --hardlinks --timeout 30 --arbitopts bwlimit:100,sparse --rsyncport 9 --daemon --pidfile /run/%(pid)s.pid").unwrap();
        assert_eq!(
            source,
            "zkrsync source --zk zk1:2181,zk2:2182 --session s1 --auth alice:pw --path /a --depth 2 --exclude ^/x --subpath 3_a/b --subpath 4_a/b/c --dry-run --delete --hard-links --timeout 30 --rsync-opt=--bwlimit=100 --rsync-opt=--sparse --daemon --pidfile /run/%(pid)s.pid --log-file /tmp/zkrsync/%(session)s-%(rstype)s-%(pid)s.log"
        );
        let dest = tr("zkrsync -D --servers zk1 -r /b --depth 2 --delete --startport 5000 --domain ib.org --logfile /l/%(rstype)s.log").unwrap();
        assert_eq!(
            dest,
            "zkrsync dest --zk zk1:2181 --path /b --start-port 5000 --domain ib.org --log-file /l/%(rstype)s.log"
        );
        assert_eq!(
            tr("zkrsync --state --servers zk1 -N s1 -r /a").unwrap(),
            "zkrsync status --zk zk1:2181 --session s1"
        );
        assert_eq!(
            tr("zkrsync --pathsonly --servers zk1 -r /a --depth 2").unwrap(),
            "zkrsync paths --path /a --depth 2"
        );
    }

    #[test]
    fn our_own_command_lines_are_left_alone() {
        assert_eq!(
            tr("zkrsync source --path /a").unwrap(),
            "zkrsync source --path /a"
        );
        assert_eq!(tr("zkrsync --help").unwrap(), "zkrsync --help");
    }

    #[test]
    fn mistakes_get_one_line() {
        for (line, want) in [
            (
                "zkrsync -S -D -r /a",
                "cannot be the source AND the destination",
            ),
            ("zkrsync -r /a", "give a role"),
            ("zkrsync -S", "give the path with -r"),
            ("zkrsync -S -r /a --netcat", "--netcat is not supported"),
            (
                "zkrsync -S -r /a --bogus",
                "--bogus is not a vsc-zk zkrsync option",
            ),
            ("zkrsync -S -r /a -u alice", "--user and --passwd together"),
            ("zkrsync -S -r", "--rsyncpath needs a value"),
        ] {
            let e = tr(line).unwrap_err().to_string();
            assert!(e.contains(want), "{line}: {e}");
        }
    }
}
