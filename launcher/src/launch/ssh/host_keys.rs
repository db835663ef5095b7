//! Host keys of the hosts the launcher reaches over SSH, checked against a known_hosts file
//! as OpenSSH does: strictly by default (an unknown key is refused), and with
//! `--accept-new-host-keys` an unknown key is added to the file, while a changed key is
//! always refused.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine as _;
use ssh2::{CheckResult, KnownHostFileKind, Session};

/// The host key algorithms, one at a time, tried when a host's key does not match: libssh2
/// reports a mismatch when the host offers a key of another type than the one stored
/// (docs/pitfalls.md), so every type the file may hold is asked for before calling it a change.
pub const KEY_TYPES: [&str; 7] = [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
    "ssh-rsa",
];

/// What a host's key is, measured against the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The file holds this key for the host.
    Known,
    /// The file holds no key for the host.
    Unknown,
    /// The file holds another key for the host.
    Changed,
}

/// Why a host key could not be checked or stored. Messages carry their causes, so no
/// variant has a `source` (the binaries print an error's chain, which would repeat it).
#[derive(Debug, thiserror::Error)]
pub enum HostKeyError {
    /// The handshake left no host key.
    #[error("{host}: the SSH server sent no host key")]
    NoHostKey {
        /// The host.
        host: String,
    },
    /// libssh2's known_hosts could not be set up.
    #[error("{host}: cannot use known_hosts: {error}")]
    KnownHosts {
        /// The host.
        host: String,
        /// What libssh2 said.
        error: ssh2::Error,
    },
    /// The known_hosts file cannot be read or parsed.
    #[error("cannot read {}: {error}: fix or remove the file", .file.display())]
    ReadFile {
        /// The known_hosts file.
        file: PathBuf,
        /// What libssh2 said.
        error: ssh2::Error,
    },
    /// libssh2 could not compare the key.
    #[error("{host}: checking its host key against {} failed", .file.display())]
    CheckFailed {
        /// The host.
        host: String,
        /// The known_hosts file.
        file: PathBuf,
    },
    /// The host's key blob does not name its type.
    #[error("{host}: its host key is malformed")]
    Malformed {
        /// The host.
        host: String,
    },
    /// The known_hosts file's directory cannot be made.
    #[error("cannot create {}: {error}", .dir.display())]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The known_hosts file cannot be written.
    #[error("cannot write {}: {error}", .file.display())]
    WriteFile {
        /// The known_hosts file.
        file: PathBuf,
        /// Why.
        error: std::io::Error,
    },
}

/// The known_hosts policy of one launcher run, shared by every connection.
pub struct HostKeys {
    file: PathBuf,
    accept_new: bool,
    /// One writer of the file at a time; and the algorithm that matched, per host.
    state: Mutex<HashMap<(String, u16), &'static str>>,
}

/// How a host appears in known_hosts: `host`, or `[host]:port` off port 22.
pub fn entry_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_owned()
    } else {
        format!("[{host}]:{port}")
    }
}

impl HostKeys {
    /// The policy for `file`.
    pub fn new(file: PathBuf, accept_new: bool) -> HostKeys {
        HostKeys {
            file,
            accept_new,
            state: Mutex::new(HashMap::new()),
        }
    }

    /// The known_hosts file.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Whether unknown keys are added.
    pub fn accepts_new(&self) -> bool {
        self.accept_new
    }

    /// The host key algorithm that matched for this host before, to ask for it again.
    pub fn preferred(&self, host: &str, port: u16) -> Option<&'static str> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.get(&(host.to_owned(), port)).copied()
    }

    /// Remembers the algorithm that matched.
    pub fn remember(&self, host: &str, port: u16, algorithm: &'static str) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.insert((host.to_owned(), port), algorithm);
    }

    /// Checks the key `session` (after its handshake) got from `host`.
    pub fn check(&self, session: &Session, host: &str, port: u16) -> Result<Verdict, HostKeyError> {
        let (key, _) = session.host_key().ok_or_else(|| HostKeyError::NoHostKey {
            host: host.to_owned(),
        })?;
        let _guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut known = session
            .known_hosts()
            .map_err(|error| HostKeyError::KnownHosts {
                host: host.to_owned(),
                error,
            })?;
        if self.file.exists() {
            known
                .read_file(&self.file, KnownHostFileKind::OpenSSH)
                .map_err(|error| HostKeyError::ReadFile {
                    file: self.file.clone(),
                    error,
                })?;
        }
        Ok(match known.check_port(host, port, key) {
            CheckResult::Match => Verdict::Known,
            CheckResult::NotFound => Verdict::Unknown,
            CheckResult::Mismatch => Verdict::Changed,
            CheckResult::Failure => {
                return Err(HostKeyError::CheckFailed {
                    host: host.to_owned(),
                    file: self.file.clone(),
                })
            }
        })
    }

    /// Adds the key `session` got from `host` to the file (for `--accept-new-host-keys`).
    pub fn add(&self, session: &Session, host: &str, port: u16) -> Result<(), HostKeyError> {
        let (key, _) = session.host_key().ok_or_else(|| HostKeyError::NoHostKey {
            host: host.to_owned(),
        })?;
        let line = known_hosts_line(&entry_name(host, port), key).ok_or_else(|| {
            HostKeyError::Malformed {
                host: host.to_owned(),
            }
        })?;
        let _guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(dir) = self.file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|error| HostKeyError::CreateDir {
                dir: dir.to_owned(),
                error,
            })?;
        }
        let cannot_write = |error| HostKeyError::WriteFile {
            file: self.file.clone(),
            error,
        };
        // Appended, as ssh does: the lines already there stay as they are.
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.file)
            .map_err(cannot_write)?;
        f.write_all(line.as_bytes()).map_err(cannot_write)
    }
}

/// `name type base64` for a key blob (whose first field names its type).
pub fn known_hosts_line(name: &str, key: &[u8]) -> Option<String> {
    let len = u32::from_be_bytes(key.get(..4)?.try_into().ok()?) as usize;
    let kind = std::str::from_utf8(key.get(4..4 + len)?).ok()?;
    Some(format!(
        "{name} {kind} {}\n",
        base64::engine::general_purpose::STANDARD.encode(key)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_follow_openssh() {
        assert_eq!(entry_name("node1", 22), "node1");
        assert_eq!(entry_name("127.0.0.2", 2222), "[127.0.0.2]:2222");
    }

    #[test]
    fn a_line_names_the_key_type_from_the_blob() {
        let mut blob = Vec::new();
        blob.extend_from_slice(&11u32.to_be_bytes());
        blob.extend_from_slice(b"ssh-ed25519");
        blob.extend_from_slice(&[0, 0, 0, 1, 7]);
        let line = known_hosts_line("[h]:2", &blob).unwrap();
        assert!(
            line.starts_with("[h]:2 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5"),
            "{line}"
        );
        assert!(line.ends_with('\n'));
        assert_eq!(known_hosts_line("h", &[0, 0, 0, 9, 1]), None);
    }
}
