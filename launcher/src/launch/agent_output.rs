//! How the launcher shows its agents' output: every line prefixed with host, rank and role,
//! error output on its standard error; a source's standard output (the master's progress
//! and final summary) is shown as the launcher's own.

use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// Prints the lines of one agent.
#[derive(Debug, Clone)]
pub struct Printer {
    label: String,
    own_stdout: bool,
    joined: Option<(Arc<watch::Sender<bool>>, &'static [&'static str])>,
    last_error: LastError,
}

/// The last line an agent wrote on its error output (its error, when it refused to start).
pub type LastError = Arc<Mutex<Option<String>>>;

/// How a source says it has joined its session's election (core/src/protocol/source.rs).
pub const JOINED: &[&str] = &[" is the master of session ", " joined session "];
/// How a destination says it takes work (core/src/protocol/dest.rs).
pub const REGISTERED: &[&str] = &[" registered at rsync://"];

impl Printer {
    /// Lines of the agent `label` (`host rank role`); `own_stdout` shows its standard output
    /// without the prefix.
    pub fn new(label: String, own_stdout: bool) -> Printer {
        Printer {
            label,
            own_stdout,
            joined: None,
            last_error: LastError::default(),
        }
    }

    /// Also tells `joined` when the agent says one of `signs` on its error output (it has
    /// joined the election, or registered); when every copy of the printer is gone (its
    /// output ended) without that, the sender is dropped, which the receiver also sees.
    pub fn telling(
        mut self,
        joined: watch::Sender<bool>,
        signs: &'static [&'static str],
    ) -> Printer {
        self.joined = Some((Arc::new(joined), signs));
        self
    }

    /// The prefix.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Where the agent's last line of error output is kept.
    pub fn last_error(&self) -> LastError {
        self.last_error.clone()
    }

    /// Shows one line (without its newline); `err` for the agent's error output.
    pub fn line(&self, line: &[u8], err: bool) {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches('\r');
        if let Some((joined, signs)) = &self.joined {
            if err && signs.iter().any(|j| text.contains(j)) {
                joined.send_replace(true);
            }
        }
        if err && !text.trim().is_empty() {
            if let Ok(mut last) = self.last_error.lock() {
                *last = Some(text.to_owned());
            }
        }
        // A closed terminal or pipe must not stop the launcher: what cannot be shown is lost.
        use std::io::Write as _;
        if err {
            let _ = writeln!(std::io::stderr().lock(), "[{}] {text}", self.label);
        } else if self.own_stdout {
            if !crate::launch::progress_view::show(text) {
                let _ = writeln!(std::io::stdout().lock(), "{text}");
            }
        } else {
            let _ = writeln!(std::io::stdout().lock(), "[{}] {text}", self.label);
        }
    }
}

/// Cuts a byte stream into lines as it arrives.
#[derive(Debug, Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    /// Adds `bytes`; `emit` gets each completed line.
    pub fn push(&mut self, bytes: &[u8], mut emit: impl FnMut(&[u8])) {
        let mut rest = bytes;
        while let Some(i) = rest.iter().position(|b| *b == b'\n') {
            if self.partial.is_empty() {
                emit(&rest[..i]);
            } else {
                self.partial.extend_from_slice(&rest[..i]);
                emit(&self.partial);
                self.partial.clear();
            }
            rest = &rest[i + 1..];
        }
        self.partial.extend_from_slice(rest);
    }

    /// The last line, when the stream ended without a newline.
    pub fn finish(&mut self, mut emit: impl FnMut(&[u8])) {
        if !self.partial.is_empty() {
            emit(&self.partial);
            self.partial.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cut_whatever_the_pieces() {
        let text = b"one\ntwo\n\nthree and a half";
        for cut in 0..text.len() {
            let mut got: Vec<Vec<u8>> = Vec::new();
            let mut s = LineSplitter::default();
            s.push(&text[..cut], |l| got.push(l.to_vec()));
            s.push(&text[cut..], |l| got.push(l.to_vec()));
            s.finish(|l| got.push(l.to_vec()));
            assert_eq!(
                got,
                vec![
                    b"one".to_vec(),
                    b"two".to_vec(),
                    vec![],
                    b"three and a half".to_vec()
                ],
                "cut at {cut}"
            );
        }
    }
}
