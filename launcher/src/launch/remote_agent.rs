//! An agent running on a host over SSH, served by a thread of its own (ssh2 is blocking):
//! its output is streamed line by line as it comes, its standard input is the launcher's
//! line to it (`t` stops it cleanly, `k` ends it at once, and a closed connection stops it,
//! see [`crate::agent::stdin_lifeline`]), and its end is reported once: an exit code, a signal, or
//! a lost connection.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use ssh2::{BlockDirections, Channel, Session};
use tokio::sync::oneshot;

use crate::launch::agent_output::{LineSplitter, Printer};
use crate::launch::ssh::link::{SshConfig, SshError, Target};

/// How a remote agent ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// It exited with this code.
    Code(i32),
    /// A signal ended it.
    Signal(String),
    /// The connection failed before it ended: what happened.
    Lost(String),
}

/// How the connection to a remote agent failed (what [`Ended::Lost`] then says). Messages
/// carry their causes, so no variant has a `source`.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The connection could not be opened.
    #[error(transparent)]
    Connect(#[from] SshError),
    /// No channel for the agent.
    #[error("cannot open an SSH channel: {0}")]
    Channel(ssh2::Error),
    /// The agent's command was refused.
    #[error("cannot start the agent: {0}")]
    Start(ssh2::Error),
    /// The launcher's line to the agent's thread failed.
    #[error("{0}")]
    Control(std::io::Error),
    /// Reading the agent's output failed.
    #[error("reading its output failed: {0}")]
    Output(std::io::Error),
    /// The connection failed while the agent ran (its keepalive).
    #[error("the connection failed: {0}")]
    Connection(ssh2::Error),
    /// Waiting for the connection or the launcher failed.
    #[error("poll failed: {0}")]
    Poll(std::io::Error),
    /// The connection failed as the agent ended.
    #[error("the connection failed at the end: {0}")]
    Closing(ssh2::Error),
    /// The agent's exit status could not be read.
    #[error("{0}")]
    ExitStatus(ssh2::Error),
}

/// The launcher's handle on a remote agent.
pub struct RemoteAgent {
    /// The launcher's end of the line to the agent's thread.
    pub control: Control,
    /// Resolves once, when the agent has ended.
    pub ended: oneshot::Receiver<Ended>,
}

/// Orders for a remote agent, passed on to its standard input.
pub struct Control(UnixStream);

impl Control {
    /// Hands it `line` on its standard input (the session's credentials, first of all).
    pub fn hand(&self, line: &[u8]) {
        let _ = (&self.0).write_all(line);
    }

    /// Asks it to stop cleanly (as SIGTERM would).
    pub fn stop(&self) {
        let _ = (&self.0).write_all(b"t");
    }

    /// Ends it at once (as SIGKILL would, its rsync processes with it).
    pub fn kill(&self) {
        let _ = (&self.0).write_all(b"k");
    }
}

impl RemoteAgent {
    /// Connects to `target` and runs `command` there, on a new thread, printing its output
    /// through `printer`. Orders given before the connection is up wait for it.
    pub fn start(
        ssh: Arc<SshConfig>,
        target: Target,
        command: String,
        printer: Printer,
    ) -> std::io::Result<RemoteAgent> {
        let (ours, theirs) = UnixStream::pair()?;
        let (tx, ended) = oneshot::channel();
        std::thread::Builder::new()
            .name(format!("ssh {}", printer.label()))
            .spawn(move || {
                let end = ssh
                    .open(&target)
                    .map_err(LinkError::from)
                    .and_then(|link| serve(link.session, &command, theirs, &printer))
                    .unwrap_or_else(|e| Ended::Lost(e.to_string()));
                let _ = tx.send(end);
            })?;
        Ok(RemoteAgent {
            control: Control(ours),
            ended,
        })
    }
}

fn would_block(e: &std::io::Error) -> bool {
    e.kind() == ErrorKind::WouldBlock
}

/// Reads what is there of one stream; Ok(true) when something was read.
fn drain(
    stream: &mut impl Read,
    lines: &mut LineSplitter,
    printer: &Printer,
    err: bool,
) -> Result<bool, LinkError> {
    let mut buf = [0u8; 16 * 1024];
    let mut any = false;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(any),
            Ok(n) => {
                any = true;
                lines.push(&buf[..n], |line| printer.line(line, err));
            }
            Err(e) if would_block(&e) => return Ok(any),
            Err(e) => return Err(LinkError::Output(e)),
        }
    }
}

fn serve(
    session: Session,
    command: &str,
    mut control: UnixStream,
    printer: &Printer,
) -> Result<Ended, LinkError> {
    let mut channel = session.channel_session().map_err(LinkError::Channel)?;
    channel.exec(command).map_err(LinkError::Start)?;
    session.set_keepalive(true, 15);
    session.set_blocking(false);
    control.set_nonblocking(true).map_err(LinkError::Control)?;
    let (mut out, mut err) = (LineSplitter::default(), LineSplitter::default());
    let mut to_send: Vec<u8> = Vec::new();
    let mut control_open = true;
    loop {
        let mut busy = drain(&mut channel, &mut out, printer, false)?;
        busy |= drain(&mut channel.stderr(), &mut err, printer, true)?;
        if control_open {
            let mut buf = [0u8; 16];
            loop {
                match control.read(&mut buf) {
                    // The launcher is gone: end the agent.
                    Ok(0) => {
                        control_open = false;
                        to_send.push(b'k');
                        break;
                    }
                    Ok(n) => to_send.extend_from_slice(&buf[..n]),
                    Err(e) if would_block(&e) => break,
                    Err(_) => {
                        control_open = false;
                        break;
                    }
                }
            }
        }
        while !to_send.is_empty() {
            match channel.write(&to_send) {
                Ok(n) => {
                    to_send.drain(..n);
                    busy = true;
                }
                Err(e) if would_block(&e) => break,
                // Its input is closed: it is ending anyway.
                Err(_) => to_send.clear(),
            }
        }
        if channel.eof() {
            break;
        }
        if busy {
            continue;
        }
        let wait_ms = match session.keepalive_send() {
            Ok(secs) => (secs.max(1) * 1000) as i32,
            Err(e) if e.code() == ssh2::ErrorCode::Session(-37) => 1000,
            Err(e) => return Err(LinkError::Connection(e)),
        };
        wait(
            &session,
            &control,
            control_open,
            !to_send.is_empty(),
            wait_ms,
        )?;
    }
    out.finish(|line| printer.line(line, false));
    err.finish(|line| printer.line(line, true));
    session.set_blocking(true);
    finish(&mut channel)
}

/// Sleeps until the connection or the launcher has something (or `ms` passed, for the
/// keepalive).
fn wait(
    session: &Session,
    control: &UnixStream,
    control_open: bool,
    sending: bool,
    ms: i32,
) -> Result<(), LinkError> {
    let mut events = libc::POLLIN;
    if sending
        || matches!(
            session.block_directions(),
            BlockDirections::Outbound | BlockDirections::Both
        )
    {
        events |= libc::POLLOUT;
    }
    let mut fds = [
        libc::pollfd {
            fd: session.as_raw_fd(),
            events,
            revents: 0,
        },
        libc::pollfd {
            fd: if control_open {
                control.as_raw_fd()
            } else {
                -1
            },
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    // SAFETY: two valid pollfd entries (a negative fd is ignored by poll).
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if rc < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() != ErrorKind::Interrupted {
            return Err(LinkError::Poll(e));
        }
    }
    Ok(())
}

fn finish(channel: &mut Channel) -> Result<Ended, LinkError> {
    channel.wait_close().map_err(LinkError::Closing)?;
    let signal = channel
        .exit_signal()
        .map_err(LinkError::ExitStatus)?
        .exit_signal;
    Ok(match signal {
        Some(name) => Ended::Signal(name),
        None => Ended::Code(channel.exit_status().map_err(LinkError::ExitStatus)?),
    })
}
