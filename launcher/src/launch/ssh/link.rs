//! One SSH connection to a host of the host file (ssh2, blocking: used on its own threads):
//! TCP with a time limit, the handshake, the host key checked by [`HostKeys`], and key
//! authentication (the file of `--ssh-key`, else ssh-agent, else the usual key files).
//! At most `--max-ssh-connect` connections are being opened at once.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use ssh2::{MethodType, Session};

use crate::launch::ssh::host_keys::{HostKeys, Verdict, KEY_TYPES};

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
    pub fn open(&self, target: &Target) -> Result<SshLink, String> {
        let _pass = self.gate.enter();
        let mut link =
            self.handshake(target, self.host_keys.preferred(&target.host, target.port))?;
        match self.host_keys.check(&link.session, &target.host, target.port)? {
            Verdict::Known => {}
            Verdict::Unknown if self.host_keys.accepts_new() => {
                self.host_keys.add(&link.session, &target.host, target.port)?;
                tracing::warn!(
                    "{}: added its host key to {}",
                    target.host,
                    self.host_keys.file().display()
                );
            }
            Verdict::Unknown => {
                return Err(format!(
                    "{}: its host key is not in {}: check the host and add its key (ssh-keyscan), or give --accept-new-host-keys",
                    target.host,
                    self.host_keys.file().display()
                ))
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
    fn other_key_types(&self, target: &Target) -> Result<SshLink, String> {
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
        Err(format!(
            "{}: its host key CHANGED from the one in {}: this may be an attack; if the host was reinstalled, remove the old key (ssh-keygen -R '{}' -f {}) and check the new one",
            target.host,
            self.host_keys.file().display(),
            crate::launch::ssh::host_keys::entry_name(&target.host, target.port),
            self.host_keys.file().display()
        ))
    }

    fn handshake(&self, target: &Target, algorithm: Option<&str>) -> Result<SshLink, String> {
        let addrs: Vec<SocketAddr> = (target.host.as_str(), target.port)
            .to_socket_addrs()
            .map_err(|e| format!("{}: cannot resolve the name: {e}", target.host))?
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
        let stream = stream.ok_or_else(|| {
            format!(
                "{}: cannot reach port {}: {}: check the name and that sshd runs there",
                target.host,
                target.port,
                last.map_or("no address".to_owned(), |e| e.to_string())
            )
        })?;
        let local_addr = stream
            .local_addr()
            .map_err(|e| format!("{}: {e}", target.host))?;
        let mut session = Session::new().map_err(|e| format!("{}: {e}", target.host))?;
        session.set_timeout(self.connect_timeout.as_millis().min(u32::MAX as u128) as u32);
        session.set_tcp_stream(stream);
        if let Some(algorithm) = algorithm {
            session
                .method_pref(MethodType::HostKey, algorithm)
                .map_err(|e| format!("{}: {e}", target.host))?;
        }
        session
            .handshake()
            .map_err(|e| format!("{}: the SSH handshake failed: {}", target.host, e.message()))?;
        Ok(SshLink {
            session,
            local_addr,
        })
    }

    fn authenticate(&self, session: &Session, target: &Target) -> Result<(), String> {
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
        Err(format!(
            "{}: SSH refused {user} (tried {}): add the public key to {user}'s authorized_keys there, or give --ssh-key / user=",
            target.host,
            if tried.is_empty() {
                "no key: there is no ssh-agent and no ~/.ssh/id_* file".to_owned()
            } else {
                tried.join(", ")
            }
        ))
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
fn refuse_encrypted(key: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(key)
        .map_err(|e| format!("cannot read the SSH key {}: {e}", key.display()))?;
    if key_is_encrypted(&text) {
        return Err(format!(
            "the SSH key {} is protected by a passphrase: load it into ssh-agent (ssh-add) and leave out --ssh-key",
            key.display()
        ));
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
