//! The credentials a launched session is locked with. By default `zkrsync-launch` makes a
//! digest user [`USER`] with a random password, so that no other user of the ZooKeeper can
//! read the plan or the destinations' daemon secrets, or forge a result; `--auth-file` or
//! `ZKRSYNC_AUTH` give the user's own instead, and `--open` leaves the session open. The
//! launcher hands them to every agent on its standard input (its SSH channel for a remote
//! one, see `--auth-stdin` in agent/zk_connect.rs): they are on no command line, in no
//! environment and in no log.
//!
//! A session that can be resumed (on a ZooKeeper given with `--zk`, named with
//! `--session`) keeps its generated credentials in a private file of the user, so that the
//! same command run again, after an interruption, can open it (and `zkrsync status
//! --auth-file` can watch it); the file goes once the session has completed.

use std::io::{Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use crate::launch::LaunchArgs;

/// The digest user of generated credentials.
pub const USER: &str = "zkrsync-launch";

/// `USER:PASS`; its `Debug` shows the user only.
#[derive(Clone)]
pub struct Credentials(String);

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}:…)", self.user())
    }
}

impl Credentials {
    fn parse(line: &str, from: &str) -> Result<Credentials, CredentialsError> {
        let line = line.trim();
        match line.split_once(':') {
            Some((user, pass)) if !user.is_empty() && !pass.is_empty() => {
                Ok(Credentials(line.to_owned()))
            }
            _ => Err(CredentialsError::NotUserPass {
                from: from.to_owned(),
            }),
        }
    }

    /// The user.
    pub fn user(&self) -> &str {
        self.0.split(':').next().unwrap_or("")
    }

    /// What an agent reads with `--auth-stdin`: the credentials and a newline.
    pub fn stdin_line(&self) -> Vec<u8> {
        format!("{}\n", self.0).into_bytes()
    }
}

/// Why the session's credentials cannot be had; nothing has started yet.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// A credentials file cannot be read.
    #[error("cannot read {what} {} ({error}): give a readable file holding USER:PASS", .file.display())]
    Read {
        /// Which file (`--auth-file`, the kept credentials).
        what: &'static str,
        /// The file.
        file: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The credentials are not `USER:PASS` (where they come from).
    #[error("the credentials in {from} are not USER:PASS: give them as user:password on one line")]
    NotUserPass {
        /// `--auth-file FILE`, `ZKRSYNC_AUTH` or the kept file.
        from: String,
    },
    /// No randomness for a password.
    #[error("cannot read /dev/urandom for the session's password ({0}): give --auth-file FILE")]
    Random(std::io::Error),
    /// The generated credentials cannot be kept for a resume.
    #[error("cannot keep the session's credentials in {} ({error}): make that directory writable, or give --auth-file FILE", .file.display())]
    Keep {
        /// The file.
        file: PathBuf,
        /// Why.
        error: std::io::Error,
    },
}

/// The session's lock, as chosen.
#[derive(Debug)]
pub struct Lock {
    /// None for an open session.
    pub credentials: Option<Credentials>,
    /// The file generated credentials are kept in, when the session can be resumed.
    pub kept: Option<PathBuf>,
    /// What the launcher says about it, one line.
    pub note: String,
}

impl Lock {
    /// After the run: a completed session needs its kept credentials no more.
    pub fn completed(&self) {
        if let Some(file) = &self.kept {
            let _ = std::fs::remove_file(file);
        }
    }
}

fn read_file(what: &'static str, file: &Path) -> Result<Credentials, CredentialsError> {
    let text = std::fs::read_to_string(file).map_err(|error| CredentialsError::Read {
        what,
        file: file.to_owned(),
        error,
    })?;
    let from = format!("{what} {}", file.display());
    Credentials::parse(text.lines().next().unwrap_or(""), &from)
}

fn generate() -> Result<Credentials, CredentialsError> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(CredentialsError::Random)?;
    let password: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Credentials(format!("{USER}:{password}")))
}

/// Where the generated credentials of `session` on `zk` are kept: a file of the user's
/// own, under `~/.zkrsync/sessions/` (none without a home).
fn kept_file(session: &str, zk: &str) -> Option<PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let name = format!("{}@{}.auth", clean(session), clean(zk));
    Some(PathBuf::from(home).join(".zkrsync/sessions").join(name))
}

/// Writes `creds` to `file`, private to the user (a new file only).
fn keep(file: &Path, creds: &Credentials) -> Result<(), CredentialsError> {
    let fail = |error| CredentialsError::Keep {
        file: file.to_owned(),
        error,
    };
    if let Some(dir) = file.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(fail)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .map_err(fail)?;
    f.write_all(&creds.stdin_line()).map_err(fail)
}

/// The lock of `session` on `zk` (`resumable`: a ZooKeeper of the user's and a session
/// named by them, which a later run may resume).
pub fn choose(
    args: &LaunchArgs,
    session: &str,
    zk: &str,
    resumable: bool,
) -> Result<Lock, CredentialsError> {
    let lock = |credentials, kept, note: String| Lock {
        credentials: Some(credentials),
        kept,
        note,
    };
    if args.open {
        return Ok(Lock {
            credentials: None,
            kept: None,
            note: format!("session {session} is open (--open): every user of this ZooKeeper can read and change it"),
        });
    }
    if let Some(file) = &args.auth_file {
        let c = read_file("--auth-file", file)?;
        let note = format!(
            "session {session} is locked to user {} of --auth-file",
            c.user()
        );
        return Ok(lock(c, None, note));
    }
    if let Some(text) = std::env::var_os("ZKRSYNC_AUTH").filter(|t| !t.is_empty()) {
        let c = Credentials::parse(&text.to_string_lossy(), "ZKRSYNC_AUTH")?;
        let note = format!(
            "session {session} is locked to user {} of ZKRSYNC_AUTH",
            c.user()
        );
        return Ok(lock(c, None, note));
    }
    let Some(file) = kept_file(session, zk).filter(|_| resumable) else {
        let note = format!("session {session} is locked to generated credentials, for this run only (give --auth-file to watch it with zkrsync status)");
        return Ok(lock(generate()?, None, note));
    };
    let c = if file.exists() {
        read_file("the kept credentials", &file)?
    } else {
        let c = generate()?;
        keep(&file, &c)?;
        c
    };
    let note = format!(
        "session {session} is locked to generated credentials, kept in {} for a resume (and for zkrsync status --auth-file) until it completes",
        file.display()
    );
    Ok(lock(c, Some(file), note))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_credentials_are_a_user_and_64_hex_digits_and_debug_hides_them() {
        let c = generate().unwrap();
        let (user, pass) = c.0.split_once(':').unwrap();
        assert_eq!(user, USER);
        assert_eq!(pass.len(), 64);
        assert!(pass.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!format!("{c:?}").contains(pass));
        assert_ne!(generate().unwrap().0, c.0);
    }

    #[test]
    fn given_credentials_must_be_user_and_password() {
        for bad in ["", "alice", "alice:", ":pw"] {
            assert!(Credentials::parse(bad, "X").is_err(), "{bad:?}");
        }
        assert_eq!(Credentials::parse(" a:b \n", "X").unwrap().user(), "a");
    }
}
