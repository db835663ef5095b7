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

/// Why a host file cannot be used; every message says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostFileError {
    /// A line is wrong.
    #[error("{file}:{line}: {problem}")]
    Line {
        /// The file, as named to [`parse`].
        file: String,
        /// The line (from 1).
        line: usize,
        /// What is wrong with it.
        problem: LineProblem,
    },
    /// The file names no host.
    #[error("{file}: no host in it: write one host a line, e.g. 'localhost slots=5'")]
    NoHost {
        /// The file, as named to [`parse`].
        file: String,
    },
}

/// What is wrong with one line of a host file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineProblem {
    /// The line starts with an option.
    #[error("'{0}' is not a host name: start the line with the host, then key=value options")]
    NotAHostName(String),
    /// A word after the host is not `key=value`.
    #[error("'{0}' is not key=value: give slots=K, role=source|dest|any, user=U or port=P")]
    NotKeyValue(String),
    /// An option is given twice (its key).
    #[error("{0}= is given twice: keep one")]
    GivenTwice(String),
    /// `slots=` is not a number of 1 or more (its value).
    #[error("slots={0} is not a number of processes: give 1 or more")]
    BadSlots(String),
    /// `role=` is none of the roles (its value).
    #[error("role={0} is unknown: give role=source, role=dest or role=any")]
    UnknownRole(String),
    /// `port=` is not a TCP port (its value).
    #[error("port={0} is not a TCP port: give 1 to 65535")]
    BadPort(String),
    /// A `key=value` whose key is no option (the word).
    #[error("'{0}' is not an option: give slots=K, role=source|dest|any, user=U or port=P")]
    UnknownOption(String),
}

/// Parses a host file; `file` names it in errors, which name the line.
pub fn parse(text: &str, file: &str) -> Result<Vec<Host>, HostFileError> {
    let mut hosts = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let content = raw.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let err = |problem: LineProblem| HostFileError::Line {
            file: file.to_owned(),
            line,
            problem,
        };
        let mut words = content.split_whitespace();
        let name = words.next().unwrap_or_default();
        if name.contains('=') {
            return Err(err(LineProblem::NotAHostName(name.to_owned())));
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
                return Err(err(LineProblem::NotKeyValue(word.to_owned())));
            };
            if seen.contains(&key) {
                return Err(err(LineProblem::GivenTwice(key.to_owned())));
            }
            seen.push(key);
            match key {
                "slots" => {
                    host.slots = match value.parse::<usize>() {
                        Ok(n) if n >= 1 => n,
                        _ => return Err(err(LineProblem::BadSlots(value.to_owned()))),
                    }
                }
                "role" => {
                    host.role = match value {
                        "source" => HostRole::Source,
                        "dest" => HostRole::Dest,
                        "any" => HostRole::Any,
                        _ => return Err(err(LineProblem::UnknownRole(value.to_owned()))),
                    }
                }
                "user" if !value.is_empty() => host.user = Some(value.to_owned()),
                "port" => {
                    host.port = Some(
                        value
                            .parse::<u16>()
                            .ok()
                            .filter(|p| *p > 0)
                            .ok_or_else(|| err(LineProblem::BadPort(value.to_owned())))?,
                    )
                }
                _ => return Err(err(LineProblem::UnknownOption(word.to_owned()))),
            }
        }
        hosts.push(host);
    }
    if hosts.is_empty() {
        return Err(HostFileError::NoHost {
            file: file.to_owned(),
        });
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
            let e = parse(text, "h.txt").unwrap_err().to_string();
            assert!(e.starts_with(expected), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
