//! vsc-zk's command line, so existing scripts keep working: `zkrsync -S -r SRC
//! --configfiles=zkrs.conf` is `zkrsync source --path SRC --config zkrs.conf`, `-D` is
//! `dest`, `--state` is `status`, `--pathsonly` is `paths`. Every vsc-zk option is taken
//! with its meaning (as `--name value`, `--name=value` or its short letter) and passed on to
//! the role that uses it; options of the other role are dropped, as vsc-zk ignores them.

use std::ffi::OsString;

use anyhow::{anyhow, bail};

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
    let given = Given::parse(&args)?;
    let role = given.role()?;
    let mut out: Vec<OsString> = vec![args[0].clone(), role.command().into()];
    if role != Role::PathsOnly {
        given.push_session(&mut out)?;
    }
    given.push_path(role, &mut out)?;
    if matches!(role, Role::Source | Role::PathsOnly) {
        given.push_walk(&mut out);
    }
    if role == Role::Source {
        given.push_source(&mut out);
    }
    if role == Role::Dest {
        given.push_dest(&mut out);
    }
    if matches!(role, Role::Source | Role::Dest) {
        given.push_agent(&mut out);
    }
    Ok(out)
}

impl Role {
    /// Our subcommand for the role.
    fn command(self) -> &'static str {
        match self {
            Role::Source => "source",
            Role::Dest => "dest",
            Role::State => "status",
            Role::PathsOnly => "paths",
        }
    }
}

/// The name of the option one word of the command line gives (long, or the long name of a
/// short letter), and its `=value` if the word holds one.
fn option_name(arg: &str) -> anyhow::Result<(String, Option<OsString>)> {
    if let Some(long) = arg.strip_prefix("--") {
        return Ok(match long.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.into())),
            None => (long.to_owned(), None),
        });
    }
    let Some(short) = arg.strip_prefix('-').filter(|s| s.len() == 1) else {
        bail!("{arg:?} is not a vsc-zk option: vsc-zk's zkrsync takes only options (the path goes with -r)");
    };
    let c = short.chars().next().unwrap_or('-');
    match FLAGS
        .iter()
        .chain(VALUES.iter())
        .find(|(_, s)| *s == Some(c))
    {
        Some((n, _)) => Ok(((*n).to_owned(), None)),
        None => {
            bail!("vsc-zk option -{c} is unknown: run zkrsync --help for this zkrsync's options")
        }
    }
}

/// The error for an option vsc-zk's zkrsync has and this one does not, or that neither has.
fn not_taken(name: &str) -> anyhow::Error {
    match name {
        "netcat" => anyhow!("--netcat is not supported: zkrsync checks each daemon when it registers; run a small session with --dryrun to test the network"),
        "dropcache" => anyhow!("--dropcache needs a patched rsync: give it with --arbitopts drop-cache if yours has it"),
        _ => anyhow!("--{name} is not a vsc-zk zkrsync option: run zkrsync --help for this zkrsync's options"),
    }
}

/// The vsc-zk options of one command line: the flags set and the values given, in order.
struct Given {
    flags: Vec<&'static str>,
    values: Vec<(&'static str, OsString)>,
}

impl Given {
    /// Reads every option of `args` (the whole command line).
    fn parse(args: &[OsString]) -> anyhow::Result<Given> {
        let mut given = Given {
            flags: Vec::new(),
            values: Vec::new(),
        };
        let mut words = args.iter().skip(1);
        while let Some(arg) = words.next() {
            let (name, inline) = option_name(&arg.to_string_lossy())?;
            if let Some((n, _)) = FLAGS.iter().find(|(n, _)| *n == name) {
                if inline.is_some() {
                    bail!("--{n} takes no value");
                }
                given.flags.push(n);
            } else if let Some((n, _)) = VALUES.iter().find(|(n, _)| *n == name) {
                let value = match inline.or_else(|| words.next().cloned()) {
                    Some(v) => v,
                    None => bail!("--{n} needs a value"),
                };
                given.values.push((n, value));
            } else {
                return Err(not_taken(&name));
            }
        }
        Ok(given)
    }

    /// Whether the flag was given.
    fn has(&self, flag: &str) -> bool {
        self.flags.contains(&flag)
    }

    /// The value of `name`, the last one when it was given more than once.
    fn value(&self, name: &str) -> Option<OsString> {
        self.values
            .iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    }

    /// The items of every comma-separated list given as `name`, in order.
    fn list_items(&self, name: &str) -> Vec<String> {
        self.values
            .iter()
            .filter(|(k, _)| *k == name)
            .flat_map(|(_, list)| {
                list.to_string_lossy()
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The one role the flags give.
    fn role(&self) -> anyhow::Result<Role> {
        let roles: Vec<Role> = [
            (self.has("source"), Role::Source),
            (self.has("destination"), Role::Dest),
            (self.has("state"), Role::State),
            (self.has("pathsonly"), Role::PathsOnly),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, r)| r)
        .collect();
        match roles.as_slice() {
            [r] => Ok(*r),
            [] => bail!("give a role: -S (source), -D (destination), --state or --pathsonly"),
            _ if self.has("source") && self.has("destination") => {
                bail!("a client cannot be the source AND the destination: give -S or -D")
            }
            _ => bail!("give one of -S, -D, --state and --pathsonly"),
        }
    }

    /// The session's options, for every role that uses ZooKeeper: config file, servers,
    /// session name, credentials.
    fn push_session(&self, out: &mut Vec<OsString>) -> anyhow::Result<()> {
        if let Some(files) = self.value("configfiles") {
            let list: Vec<&str> = files
                .to_str()
                .unwrap_or("")
                .split(',')
                .filter(|f| !f.is_empty())
                .collect();
            if list.len() != 1 {
                bail!("--configfiles {files:?}: give exactly one file");
            }
            push(out, "--config", list[0].into());
        }
        if let Some(s) = self.value("servers") {
            push(out, "--zk", servers_connect(&s.to_string_lossy()).into());
        }
        if let Some(s) = self.value("session") {
            push(out, "--session", s);
        }
        match (self.value("user"), self.value("passwd")) {
            (Some(u), Some(p)) => {
                let mut auth = u;
                auth.push(":");
                auth.push(p);
                push(out, "--auth", auth);
            }
            (None, None) => {}
            _ => bail!("give --user and --passwd together (the session's credentials)"),
        }
        Ok(())
    }

    /// `--path`, which every role but `status` needs.
    fn push_path(&self, role: Role, out: &mut Vec<OsString>) -> anyhow::Result<()> {
        if role == Role::State {
            // status takes no path.
        } else if let Some(p) = self.value("rsyncpath") {
            push(out, "--path", p);
        } else {
            bail!("give the path with -r PATH (vsc-zk's --rsyncpath)");
        }
        Ok(())
    }

    /// The walk's options, for the roles that walk the tree (source, paths).
    fn push_walk(&self, out: &mut Vec<OsString>) {
        if let Some(d) = self.value("depth") {
            push(out, "--depth", d);
        }
        if let Some(e) = self.value("excludere") {
            push(out, "--exclude-regex", e);
        }
        if let Some(u) = self.value("excl_usr") {
            push(out, "--exclude-owner", u);
        }
        for sub in self.list_items("rsubpaths") {
            push(out, "--subpath", sub.into());
        }
    }

    /// The source's own options: what rsync does, the done file.
    fn push_source(&self, out: &mut Vec<OsString>) {
        for (flag, ours) in [
            ("dryrun", "--dry-run"),
            ("delete", "--delete"),
            ("checksum", "--checksum"),
            ("hardlinks", "--hard-links"),
            ("inplace", "--inplace"),
        ] {
            if self.has(flag) {
                out.push(ours.into());
            }
        }
        if let Some(t) = self.value("timeout") {
            push(out, "--timeout", t);
        }
        if let Some(f) = self.value("done-file") {
            push(out, "--done-file", f);
        }
        for opt in self.list_items("arbitopts") {
            // vsc-zk: long names, a colon between key and value.
            let opt = match opt.split_once(':') {
                Some((k, v)) => format!("--rsync-opt=--{k}={v}"),
                None => format!("--rsync-opt=--{opt}"),
            };
            out.push(opt.into());
        }
    }

    /// The destination's own options: its daemon's port, its domain.
    fn push_dest(&self, out: &mut Vec<OsString>) {
        if let Some(p) = self.value("rsyncport") {
            push(out, "--port", p);
        }
        if let Some(p) = self.value("startport") {
            push(out, "--start-port", p);
        }
        if let Some(d) = self.value("domain") {
            push(out, "--domain", d);
        }
    }

    /// The options of both agents (source and destination): logging, daemon mode.
    fn push_agent(&self, out: &mut Vec<OsString>) {
        if self.has("verbose") || self.has("debug") {
            out.push("--verbose".into());
        }
        if self.has("daemon") {
            out.push("--daemon".into());
        }
        if let Some(p) = self.value("pidfile") {
            push(out, "--pidfile", p);
        }
        // vsc-zk always logs to a file, by default under /tmp/zkrsync/.
        push(
            out,
            "--log-file",
            self.value("logfile")
                .unwrap_or_else(|| DEFAULT_LOGFILE.into()),
        );
    }
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
            "zkrsync source --zk zk1:2181,zk2:2182 --session s1 --auth alice:pw --path /a --depth 2 --exclude-regex ^/x --subpath 3_a/b --subpath 4_a/b/c --dry-run --delete --hard-links --timeout 30 --rsync-opt=--bwlimit=100 --rsync-opt=--sparse --daemon --pidfile /run/%(pid)s.pid --log-file /tmp/zkrsync/%(session)s-%(rstype)s-%(pid)s.log"
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
