//! One SSH connection to a host of the host file (ssh2, blocking: used on its own threads):
//! TCP with a time limit, the handshake, the host key checked by [`HostKeys`], and key
//! authentication (the file of `--ssh-key`, else ssh-agent, else the usual key files).
//! At most `--max-ssh-connect` connections are being opened at once.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use ssh2::{MethodType, Session};

use crate::launch::ssh::host_keys::{HostKeyError, HostKeys, Verdict, KEY_TYPES};

/// Where and as whom to connect.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// Host name or address, as in the host file.
    pub host: String,
    /// SSH port.
    pub port: u16,
    /// Remote user.
    pub user: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.port == 22 {
            write!(f, "{}@{}", self.user, self.host)
        } else {
            write!(f, "{}@{}:{}", self.user, self.host, self.port)
        }
    }
}

/// Why a connection to a host could not be opened; each message names the host (or the
/// key file) and says what to do. Messages carry their causes, so no variant has a
/// `source` (the binaries print an error's chain, which would repeat it).
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// The host's name does not resolve.
    #[error("{host}: cannot resolve the name: {error}")]
    Resolve {
        /// The host.
        host: String,
        /// Why.
        error: std::io::Error,
    },
    /// No address of the host takes a TCP connection on the port.
    #[error("{host}: cannot reach port {port}: {}: check the name and that sshd runs there", last_or_no_address(.last))]
    Unreachable {
        /// The host.
        host: String,
        /// The SSH port.
        port: u16,
        /// Why the last address failed; None when the name has no address.
        last: Option<std::io::Error>,
    },
    /// The connected socket has no local address.
    #[error("{host}: {error}")]
    LocalAddress {
        /// The host.
        host: String,
        /// Why.
        error: std::io::Error,
    },
    /// libssh2 could not set up the session.
    #[error("{host}: {error}")]
    Setup {
        /// The host.
        host: String,
        /// What libssh2 said.
        error: ssh2::Error,
    },
    /// The SSH handshake failed.
    #[error("{host}: the SSH handshake failed: {}", .error.message())]
    Handshake {
        /// The host.
        host: String,
        /// What libssh2 said.
        error: ssh2::Error,
    },
    /// The host's key is not in known_hosts, and new keys are not accepted.
    #[error("{host}: its host key is not in {}: check the host and add its key (ssh-keyscan), or give --accept-new-host-keys", .file.display())]
    UnknownHostKey {
        /// The host.
        host: String,
        /// The known_hosts file.
        file: PathBuf,
    },
    /// No key type the host offers matches the stored one: refused always.
    #[error("{host}: its host key CHANGED from the one in {}: this may be an attack; if the host was reinstalled, remove the old key (ssh-keygen -R '{entry}' -f {}) and check the new one", .file.display(), .file.display())]
    HostKeyChanged {
        /// The host.
        host: String,
        /// The known_hosts file.
        file: PathBuf,
        /// The host as known_hosts names it.
        entry: String,
    },
    /// Checking or storing the host key failed.
    #[error(transparent)]
    HostKey(#[from] HostKeyError),
    /// No key got the user in.
    #[error("{host}: SSH refused {user} (tried {}): add the public key to {user}'s authorized_keys there, or give --ssh-key / user=", tried_or_none(.tried))]
    Refused {
        /// The host.
        host: String,
        /// The remote user.
        user: String,
        /// The keys tried (`ssh-agent` for the agent's), in order.
        tried: Vec<String>,
    },
    /// The key file cannot be read.
    #[error("cannot read the SSH key {}: {error}", .key.display())]
    KeyUnreadable {
        /// The key file.
        key: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The key file is protected by a passphrase, which libssh2 handles badly.
    #[error("the SSH key {} is protected by a passphrase: load it into ssh-agent (ssh-add) and leave out --ssh-key", .key.display())]
    KeyEncrypted {
        /// The key file.
        key: PathBuf,
    },
}

fn last_or_no_address(last: &Option<std::io::Error>) -> String {
    last.as_ref()
        .map_or("no address".to_owned(), |e| e.to_string())
}

fn tried_or_none(tried: &[String]) -> String {
    if tried.is_empty() {
        "no key: there is no ssh-agent and no ~/.ssh/id_* file".to_owned()
    } else {
        tried.join(", ")
    }
}

/// How connections are made, for the whole run.
pub struct SshConfig {
    /// `--ssh-key`: the only key tried when given.
    pub key: Option<PathBuf>,
    /// Host key policy.
    pub host_keys: HostKeys,
    /// Time limit of the TCP connect, the handshake and authentication.
    pub connect_timeout: Duration,
    /// Connections being opened at once, at most.
    gate: Gate,
}

/// An open, authenticated connection.
pub struct SshLink {
    /// The session.
    pub session: Session,
    /// This machine's address on the connection: one the host can reach it at.
    pub local_addr: SocketAddr,
}

/// A counting semaphore: at most `limit` holders.
struct Gate {
    limit: usize,
    held: Mutex<usize>,
    freed: Condvar,
}

struct Pass<'a>(&'a Gate);

impl Gate {
    fn enter(&self) -> Pass<'_> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        while *held >= self.limit {
            held = self.freed.wait(held).unwrap_or_else(|e| e.into_inner());
        }
        *held += 1;
        Pass(self)
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        let mut held = self.0.held.lock().unwrap_or_else(|e| e.into_inner());
        *held -= 1;
        self.0.freed.notify_one();
    }
}

impl SshConfig {
    /// The configuration of one run.
    pub fn new(
        key: Option<PathBuf>,
        host_keys: HostKeys,
        max_connect: usize,
        connect_timeout: Duration,
    ) -> SshConfig {
        SshConfig {
            key,
            host_keys,
            connect_timeout,
            gate: Gate {
                limit: max_connect.max(1),
                held: Mutex::new(0),
                freed: Condvar::new(),
            },
        }
    }

    /// Opens an authenticated connection to `target`; the error is one line naming it.
    pub fn open(&self, target: &Target) -> Result<SshLink, SshError> {
        let _pass = self.gate.enter();
        let mut link =
            self.handshake(target, self.host_keys.preferred(&target.host, target.port))?;
        match self
            .host_keys
            .check(&link.session, &target.host, target.port)?
        {
            Verdict::Known => {}
            Verdict::Unknown if self.host_keys.accepts_new() => {
                self.host_keys
                    .add(&link.session, &target.host, target.port)?;
                tracing::warn!(
                    "{}: added its host key to {}",
                    target.host,
                    self.host_keys.file().display()
                );
            }
            Verdict::Unknown => {
                return Err(SshError::UnknownHostKey {
                    host: target.host.clone(),
                    file: self.host_keys.file().to_owned(),
                })
            }
            Verdict::Changed => link = self.other_key_types(target)?,
        }
        self.authenticate(&link.session, target)?;
        // Past the setup, calls wait as long as they need (the agents run for hours).
        link.session.set_timeout(0);
        Ok(link)
    }

    /// The host offered a key of another type than the one stored, or its key changed: ask
    /// for each type in turn; only when none matches is it a change, which is refused even
    /// with `--accept-new-host-keys`.
    fn other_key_types(&self, target: &Target) -> Result<SshLink, SshError> {
        for algorithm in KEY_TYPES {
            let Ok(link) = self.handshake(target, Some(algorithm)) else {
                continue;
            };
            if self
                .host_keys
                .check(&link.session, &target.host, target.port)?
                == Verdict::Known
            {
                self.host_keys
                    .remember(&target.host, target.port, algorithm);
                return Ok(link);
            }
        }
        Err(SshError::HostKeyChanged {
            host: target.host.clone(),
            file: self.host_keys.file().to_owned(),
            entry: crate::launch::ssh::host_keys::entry_name(&target.host, target.port),
        })
    }

    fn handshake(&self, target: &Target, algorithm: Option<&str>) -> Result<SshLink, SshError> {
        let host = || target.host.clone();
        let addrs: Vec<SocketAddr> = (target.host.as_str(), target.port)
            .to_socket_addrs()
            .map_err(|error| SshError::Resolve {
                host: host(),
                error,
            })?
            .collect();
        let mut last = None;
        let mut stream = None;
        for addr in &addrs {
            match TcpStream::connect_timeout(addr, self.connect_timeout) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let Some(stream) = stream else {
            return Err(SshError::Unreachable {
                host: host(),
                port: target.port,
                last,
            });
        };
        let local_addr = stream
            .local_addr()
            .map_err(|error| SshError::LocalAddress {
                host: host(),
                error,
            })?;
        let setup = |error| SshError::Setup {
            host: host(),
            error,
        };
        let mut session = Session::new().map_err(setup)?;
        session.set_timeout(self.connect_timeout.as_millis().min(u32::MAX as u128) as u32);
        session.set_tcp_stream(stream);
        if let Some(algorithm) = algorithm {
            session
                .method_pref(MethodType::HostKey, algorithm)
                .map_err(setup)?;
        }
        session.handshake().map_err(|error| SshError::Handshake {
            host: host(),
            error,
        })?;
        Ok(SshLink {
            session,
            local_addr,
        })
    }

    fn authenticate(&self, session: &Session, target: &Target) -> Result<(), SshError> {
        let user = target.user.as_str();
        let mut tried = Vec::new();
        if let Some(key) = &self.key {
            refuse_encrypted(key)?;
            tried.push(key.display().to_string());
            let _ = session.userauth_pubkey_file(user, None, key, None);
        } else {
            if std::env::var_os("SSH_AUTH_SOCK").is_some() {
                tried.push("ssh-agent".to_owned());
                let _ = try_agent(session, user);
            }
            for key in default_keys() {
                if session.authenticated() {
                    break;
                }
                if refuse_encrypted(&key).is_err() {
                    continue;
                }
                tried.push(key.display().to_string());
                let _ = session.userauth_pubkey_file(user, None, &key, None);
            }
        }
        if session.authenticated() {
            return Ok(());
        }
        Err(SshError::Refused {
            host: target.host.clone(),
            user: user.to_owned(),
            tried,
        })
    }
}

fn try_agent(session: &Session, user: &str) -> Result<(), ssh2::Error> {
    let mut agent = session.agent()?;
    agent.connect()?;
    agent.list_identities()?;
    for identity in agent.identities()? {
        if agent.userauth(user, &identity).is_ok() {
            break;
        }
    }
    let _ = agent.disconnect();
    Ok(())
}

/// `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`, those that exist.
fn default_keys() -> Vec<PathBuf> {
    let Some(home) = std::env::var_os("HOME") else {
        return Vec::new();
    };
    ["id_ed25519", "id_ecdsa", "id_rsa"]
        .iter()
        .map(|name| Path::new(&home).join(".ssh").join(name))
        .filter(|p| p.is_file())
        .collect()
}

/// A key protected by a passphrase fails in libssh2 with misleading errors: say what it is.
fn refuse_encrypted(key: &Path) -> Result<(), SshError> {
    let text = std::fs::read_to_string(key).map_err(|error| SshError::KeyUnreadable {
        key: key.to_owned(),
        error,
    })?;
    if key_is_encrypted(&text) {
        return Err(SshError::KeyEncrypted {
            key: key.to_owned(),
        });
    }
    Ok(())
}

/// Whether a private key file (OpenSSH or PEM) is encrypted.
pub fn key_is_encrypted(text: &str) -> bool {
    use base64::Engine as _;
    if text.contains("ENCRYPTED") {
        // PEM: "Proc-Type: 4,ENCRYPTED" or "BEGIN ENCRYPTED PRIVATE KEY".
        return true;
    }
    let body: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(body.trim()) else {
        return false;
    };
    // "openssh-key-v1\0", then the cipher's name as a length-prefixed string.
    let Some(rest) = bytes.strip_prefix(b"openssh-key-v1\0") else {
        return false;
    };
    let Some(len) = rest
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    else {
        return false;
    };
    rest.get(4..4 + len).is_some_and(|cipher| cipher != b"none")
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn openssh_key(cipher: &str) -> String {
        let mut blob = b"openssh-key-v1\0".to_vec();
        blob.extend_from_slice(&(cipher.len() as u32).to_be_bytes());
        blob.extend_from_slice(cipher.as_bytes());
        blob.extend_from_slice(&[0; 16]);
        format!(
            "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(blob)
        )
    }

    #[test]
    fn messages_name_the_host_and_say_what_to_do() {
        let refused = |tried: &[&str]| SshError::Refused {
            host: "node1".into(),
            user: "me".into(),
            tried: tried.iter().map(|t| t.to_string()).collect(),
        };
        assert_eq!(
            refused(&[]).to_string(),
            "node1: SSH refused me (tried no key: there is no ssh-agent and no ~/.ssh/id_* file): add the public key to me's authorized_keys there, or give --ssh-key / user="
        );
        assert!(refused(&["ssh-agent", "/k"])
            .to_string()
            .contains("(tried ssh-agent, /k)"));
        let unreachable = SshError::Unreachable {
            host: "node1".into(),
            port: 2222,
            last: None,
        };
        assert_eq!(
            unreachable.to_string(),
            "node1: cannot reach port 2222: no address: check the name and that sshd runs there"
        );
        let changed = SshError::HostKeyChanged {
            host: "node1".into(),
            file: PathBuf::from("/h/known"),
            entry: "[node1]:2222".into(),
        };
        assert_eq!(
            changed.to_string(),
            "node1: its host key CHANGED from the one in /h/known: this may be an attack; if the host was reinstalled, remove the old key (ssh-keygen -R '[node1]:2222' -f /h/known) and check the new one"
        );
    }

    #[test]
    fn encrypted_keys_are_recognised() {
        assert!(!key_is_encrypted(&openssh_key("none")));
        assert!(key_is_encrypted(&openssh_key("aes256-ctr")));
        assert!(key_is_encrypted(
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"
        ));
        assert!(!key_is_encrypted(
            "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n"
        ));
    }

    #[test]
    fn the_gate_admits_its_limit_and_a_freed_pass_lets_a_waiter_in() {
        let gate = Gate {
            limit: 2,
            held: Mutex::new(0),
            freed: Condvar::new(),
        };
        let first = gate.enter();
        let _second = gate.enter();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                let _third = gate.enter();
                let inside = *gate.held.lock().unwrap();
                inside
            });
            drop(first);
            // The third got in only after the first left: never more than two inside.
            assert_eq!(waiter.join().unwrap(), 2);
        });
        assert_eq!(*gate.held.lock().unwrap(), 1);
    }
}
