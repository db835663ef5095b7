//! The agents once started: orders passed on to them (Ctrl-C and SIGTERM stop them, a
//! second time kills them), their ends waited for, and the worst exit code.

use std::future::Future;
use std::pin::Pin;

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::watch;

use crate::exit_code::{self, HOST_FAILED};
use crate::launch::agent_output::Printer;
use crate::launch::remote_agent::{self, Ended};

/// How an agent ended, as far as the launcher knows.
type EndFuture = Pin<Box<dyn Future<Output = (usize, Ended)> + Send>>;

/// Orders to a running agent.
pub(super) enum Control {
    Local(Option<i32>),
    Remote(remote_agent::Control),
}

impl Control {
    fn stop(&self) {
        match self {
            // SAFETY: kill(2) on our own child's pid.
            Control::Local(Some(pid)) => unsafe {
                libc::kill(*pid, libc::SIGTERM);
            },
            Control::Local(None) => {}
            Control::Remote(c) => c.stop(),
        }
    }

    fn kill(&self) {
        match self {
            // SAFETY: kill(2) on our own child's pid.
            Control::Local(Some(pid)) => unsafe {
                libc::kill(*pid, libc::SIGKILL);
            },
            Control::Local(None) => {}
            Control::Remote(c) => c.kill(),
        }
    }
}

/// The agents started, and how each ends.
#[derive(Default)]
pub(super) struct Running {
    pub(super) controls: Vec<Control>,
    pub(super) labels: Vec<String>,
    pub(super) ends: FuturesUnordered<EndFuture>,
    pub(super) printers: Vec<tokio::task::JoinHandle<()>>,
    interrupts: usize,
}

impl Running {
    /// Waits until `told` is told (or its agent's output ended); false when interrupted
    /// meanwhile (every agent is then stopped).
    pub(super) async fn wait_for(
        &mut self,
        told: &mut watch::Receiver<bool>,
        term: &mut tokio::signal::unix::Signal,
    ) -> bool {
        tokio::select! {
            _ = told.wait_for(|j| *j) => return true,
            _ = tokio::signal::ctrl_c() => self.interrupts += 1,
            _ = term.recv() => self.interrupts += 1,
        }
        eprintln!("zkrsync-launch: stopping every agent (again to kill them)");
        self.controls.iter().for_each(Control::stop);
        false
    }

    /// Waits for every agent, passing Ctrl-C and SIGTERM on; returns the worst exit code.
    /// With `only`, those agents' codes count and the others are stopped once they have
    /// ended (a check run: the destinations only serve the checks).
    pub(super) async fn finish(
        &mut self,
        term: &mut tokio::signal::unix::Signal,
        only: Option<Vec<usize>>,
    ) -> i32 {
        let mut results: Vec<Option<Ended>> = vec![None; self.labels.len()];
        let mut stopped_rest = false;
        while !self.ends.is_empty() {
            tokio::select! {
                Some((i, end)) = self.ends.next() => {
                    results[i] = Some(end);
                    // Ended and reaped: its pid may be another process's now.
                    if let Control::Local(pid) = &mut self.controls[i] {
                        *pid = None;
                    }
                    if let Some(only) = &only {
                        if !stopped_rest && only.iter().all(|k| results[*k].is_some()) {
                            stopped_rest = true;
                            self.controls.iter().for_each(Control::stop);
                        }
                    }
                    continue;
                }
                _ = tokio::signal::ctrl_c() => self.interrupts += 1,
                _ = term.recv() => self.interrupts += 1,
            }
            match self.interrupts {
                // The session stays and can be resumed.
                1 => {
                    eprintln!("zkrsync-launch: stopping every agent (again to kill them)");
                    self.controls.iter().for_each(Control::stop);
                }
                2 => {
                    eprintln!(
                        "zkrsync-launch: killing every agent (again to leave without waiting)"
                    );
                    self.controls.iter().for_each(Control::kill);
                }
                _ => break,
            }
        }
        for p in self.printers.drain(..) {
            if self.interrupts >= 3 {
                // Leaving without waiting: an agent stuck where SIGKILL cannot reach keeps
                // its pipes open.
                p.abort();
            } else {
                let _ = p.await;
            }
        }
        let mut worst = exit_code::OK;
        for (i, (label, end)) in self.labels.iter().zip(results).enumerate() {
            let counts = only.as_ref().is_none_or(|o| o.contains(&i));
            let code = match end {
                Some(Ended::Code(c)) if counts || (c != exit_code::OK && c != INTERRUPTED) => c,
                Some(Ended::Code(_)) => exit_code::OK,
                Some(Ended::Signal(s)) => {
                    eprintln!("zkrsync-launch: [{label}] died by signal {s}, without an exit code");
                    HOST_FAILED
                }
                Some(Ended::Lost(why)) => {
                    eprintln!("zkrsync-launch: [{label}] lost: {why}");
                    HOST_FAILED
                }
                None => {
                    eprintln!("zkrsync-launch: [{label}] left without waiting for it");
                    HOST_FAILED
                }
            };
            worst = worst.max(code);
        }
        worst
    }
}

/// An agent's exit code when it was interrupted.
const INTERRUPTED: i32 = zkrsync_core::protocol::exit_code::INTERRUPTED;

/// Shows each line of one of an agent's output streams through `printer`.
pub(super) async fn print_lines(
    printer: Printer,
    from: impl tokio::io::AsyncRead + Unpin,
    err: bool,
) {
    let mut lines = BufReader::new(from).split(b'\n');
    while let Ok(Some(line)) = lines.next_segment().await {
        printer.line(&line, err);
    }
}
