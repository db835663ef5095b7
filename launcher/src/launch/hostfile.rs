//! The launcher's host file, MPI style: one host a line,
//! `host [slots=K] [role=source|dest|any] [user=U] [port=P]`, `#` comments, blank lines.

/// What a host may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostRole {
    /// Sources only (it sees the source tree).
    Source,
    /// Destinations only (it sees the destination tree).
    Dest,
    /// Either.
    Any,
}

/// One line of a host file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Host name or address; `localhost` runs without SSH.
    pub name: String,
    /// Processes it may run.
    pub slots: usize,
    /// What it may run.
    pub role: HostRole,
    /// SSH user.
    pub user: Option<String>,
    /// SSH port.
    pub port: Option<u16>,
    /// Its line in the file, for messages.
    pub line: usize,
}

impl Host {
    /// Whether it runs locally, without SSH.
    pub fn is_local(&self) -> bool {
        self.name == "localhost"
    }

    /// Whether it may run a source.
    pub fn runs_sources(&self) -> bool {
        self.role != HostRole::Dest
    }

    /// Whether it may run a destination.
    pub fn runs_dests(&self) -> bool {
        self.role != HostRole::Source
    }
}

/// Parses a host file; `file` names it in errors, which name the line.
pub fn parse(text: &str, file: &str) -> Result<Vec<Host>, String> {
    let mut hosts = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let content = raw.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let err = |what: String| format!("{file}:{line}: {what}");
        let mut words = content.split_whitespace();
        let name = words.next().unwrap_or_default();
        if name.contains('=') {
            return Err(err(format!(
                "'{name}' is not a host name: start the line with the host, then key=value options"
            )));
        }
        let mut host = Host {
            name: name.to_owned(),
            slots: 1,
            role: HostRole::Any,
            user: None,
            port: None,
            line,
        };
        let mut seen = Vec::new();
        for word in words {
            let Some((key, value)) = word.split_once('=') else {
                return Err(err(format!(
                    "'{word}' is not key=value: give slots=K, role=source|dest|any, user=U or port=P"
                )));
            };
            if seen.contains(&key) {
                return Err(err(format!("{key}= is given twice: keep one")));
            }
            seen.push(key);
            match key {
                "slots" => {
                    host.slots = match value.parse::<usize>() {
                        Ok(n) if n >= 1 => n,
                        _ => {
                            return Err(err(format!(
                                "slots={value} is not a number of processes: give 1 or more"
                            )))
                        }
                    }
                }
                "role" => {
                    host.role = match value {
                        "source" => HostRole::Source,
                        "dest" => HostRole::Dest,
                        "any" => HostRole::Any,
                        _ => {
                            return Err(err(format!(
                                "role={value} is unknown: give role=source, role=dest or role=any"
                            )))
                        }
                    }
                }
                "user" if !value.is_empty() => host.user = Some(value.to_owned()),
                "port" => {
                    host.port = Some(value.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(
                        || err(format!("port={value} is not a TCP port: give 1 to 65535")),
                    )?)
                }
                _ => {
                    return Err(err(format!(
                        "'{word}' is not an option: give slots=K, role=source|dest|any, user=U or port=P"
                    )))
                }
            }
        }
        hosts.push(host);
    }
    if hosts.is_empty() {
        return Err(format!(
            "{file}: no host in it: write one host a line, e.g. 'localhost slots=5'"
        ));
    }
    Ok(hosts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_comments_and_options() {
        let text = "# cluster\n\nnode1 slots=4 role=source user=me port=2222\nnode2   # a comment\n localhost role=dest\n";
        let hosts = parse(text, "h.txt").unwrap();
        assert_eq!(hosts.len(), 3);
        assert_eq!(hosts[0].name, "node1");
        assert_eq!(hosts[0].slots, 4);
        assert_eq!(hosts[0].role, HostRole::Source);
        assert_eq!(hosts[0].user.as_deref(), Some("me"));
        assert_eq!(hosts[0].port, Some(2222));
        assert_eq!(hosts[0].line, 3);
        assert_eq!(
            (hosts[1].slots, hosts[1].role, hosts[1].line),
            (1, HostRole::Any, 4)
        );
        assert!(hosts[2].is_local() && !hosts[2].runs_sources() && hosts[2].runs_dests());
    }

    #[test]
    fn errors_name_the_line() {
        for (text, expected) in [
            ("a\nb slots=0\n", "h.txt:2: slots=0"),
            ("a slot=2\n", "h.txt:1: 'slot=2' is not an option"),
            ("a role=master\n", "h.txt:1: role=master is unknown"),
            ("a port=70000\n", "h.txt:1: port=70000 is not a TCP port"),
            ("a slots\n", "h.txt:1: 'slots' is not key=value"),
            ("slots=2\n", "h.txt:1: 'slots=2' is not a host name"),
            ("a slots=1 slots=2\n", "h.txt:1: slots= is given twice"),
            ("# nothing\n\n", "h.txt: no host in it"),
        ] {
            let e = parse(text, "h.txt").unwrap_err();
            assert!(e.starts_with(expected), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
