//! Short commands on a host over an open SSH connection: the checks before a run
//! (`zkrsync -V`, whether a tree is there) and copying the binary for
//! `--push-binary`. The remote user's shell runs them, so every word is quoted.

use std::ffi::OsStr;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use ssh2::Session;

/// Why a short command over SSH could not be run. Messages carry their causes, so no
/// variant has a `source` (the binaries print an error's chain, which would repeat it).
#[derive(Debug, thiserror::Error)]
pub enum RemoteCommandError {
    /// A word of the command is not UTF-8, which SSH cannot carry (the word, lossily).
    #[error("{0} is not UTF-8, which a command over SSH cannot carry: rename it, or run the agents by hand")]
    NotUtf8(String),
    /// The SSH channel failed while running the command.
    #[error("running `{command}` failed: {error}")]
    Channel {
        /// The command line.
        command: String,
        /// What libssh2 said.
        error: ssh2::Error,
    },
    /// Feeding the command or reading its output failed.
    #[error("running `{command}` failed: {error}")]
    Stream {
        /// The command line.
        command: String,
        /// Why.
        error: std::io::Error,
    },
    /// The file to copy cannot be read here.
    #[error("cannot read {}: {error}", .file.display())]
    ReadLocal {
        /// The local file.
        file: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The copy on the host failed.
    #[error("copying to {remote} failed: {said}")]
    CopyFailed {
        /// The remote path.
        remote: String,
        /// The first line the copying command printed.
        said: String,
    },
}

/// `word` quoted for a POSIX shell.
pub fn quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@+%".contains(&b))
    {
        return word.to_owned();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// A command line of quoted words; SSH carries text, so every word must be UTF-8.
pub fn command_line<I, S>(words: I) -> Result<String, RemoteCommandError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut out = Vec::new();
    for word in words {
        let word = word.as_ref();
        let text = word
            .to_str()
            .ok_or_else(|| RemoteCommandError::NotUtf8(word.to_string_lossy().into_owned()))?;
        out.push(quote(text));
    }
    Ok(out.join(" "))
}

/// What a short command did.
#[derive(Debug)]
pub struct Captured {
    /// Its exit code, None when a signal ended it.
    pub code: Option<i32>,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl Captured {
    /// The first line of its error output (or of its output), for a message.
    pub fn first_line(&self) -> &str {
        self.stderr
            .lines()
            .chain(self.stdout.lines())
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
    }
}

/// Runs `command` and collects what it prints (a little: both streams are read in turn),
/// feeding it `input` on its standard input.
pub fn capture(
    session: &Session,
    command: &str,
    input: &[u8],
) -> Result<Captured, RemoteCommandError> {
    let fail = |error| RemoteCommandError::Channel {
        command: command.to_owned(),
        error,
    };
    let fail_io = |error| RemoteCommandError::Stream {
        command: command.to_owned(),
        error,
    };
    let mut channel = session.channel_session().map_err(fail)?;
    channel.exec(command).map_err(fail)?;
    if !input.is_empty() {
        channel.write_all(input).map_err(fail_io)?;
    }
    channel.send_eof().map_err(fail)?;
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    channel.read_to_end(&mut stdout).map_err(fail_io)?;
    channel.stderr().read_to_end(&mut stderr).map_err(fail_io)?;
    channel.wait_close().map_err(fail)?;
    let signal = channel.exit_signal().map_err(fail)?.exit_signal;
    let code = match signal {
        Some(_) => None,
        None => Some(channel.exit_status().map_err(fail)?),
    };
    Ok(Captured {
        code,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    })
}

/// Copies the file `local` to `remote` on the host, executable, replacing an older one
/// atomically (a new name, then `mv`), so an agent running from it is not disturbed.
/// `host` names the temporary copy, so that hosts sharing a file system do not collide.
pub fn push_file(
    session: &Session,
    local: &Path,
    remote: &str,
    host: &str,
) -> Result<(), RemoteCommandError> {
    let bytes = std::fs::read(local).map_err(|error| RemoteCommandError::ReadLocal {
        file: local.to_owned(),
        error,
    })?;
    let dir = Path::new(remote)
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| ".".to_owned());
    let tmp = format!("{remote}.zkrsync-push-{}-{host}", std::process::id());
    let script = format!(
        "mkdir -p {dir} && cat > {tmp} && chmod 755 {tmp} && mv -f {tmp} {path}",
        dir = quote(&dir),
        tmp = quote(&tmp),
        path = quote(remote)
    );
    let done = capture(session, &script, &bytes)?;
    if done.code != Some(0) {
        return Err(RemoteCommandError::CopyFailed {
            remote: remote.to_owned(),
            said: done.first_line().to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_every_byte_for_the_shell() {
        assert_eq!(quote("--depth"), "--depth");
        assert_eq!(quote("/data/a b"), "'/data/a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("$HOME;rm"), "'$HOME;rm'");
        let line = command_line(["zkrsync", "--path", "/x y/-n"]).unwrap();
        assert_eq!(line, "zkrsync --path '/x y/-n'");
    }

    #[test]
    fn quoted_words_come_back_whole_from_a_shell() {
        let words = [
            "a b",
            "it's",
            "new\nline",
            "-n",
            "*",
            "$(id)",
            "\\",
            "\"q\"",
        ];
        let line = command_line(["printf", "%s\\0"].into_iter().chain(words)).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&line)
            .output()
            .unwrap();
        let back: Vec<&[u8]> = out
            .stdout
            .split(|b| *b == 0)
            .filter(|w| !w.is_empty())
            .collect();
        let want: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        assert_eq!(back, want);
    }

    #[test]
    fn a_name_that_is_not_utf8_is_refused() {
        use std::os::unix::ffi::OsStrExt;
        let bad = OsStr::from_bytes(b"/data/\xff");
        let e = command_line([bad]).unwrap_err().to_string();
        assert!(e.contains("not UTF-8"), "{e}");
    }
}
