//! The agents once started: orders passed on to them (Ctrl-C and SIGTERM stop them, a
//! second time kills them), their ends waited for, and the worst exit code. When every
//! agent of one side (every source, or every destination) has ended before the session
//! did (none done, none failed: each refused to start, lost its tree, or died), the other
//! side is stopped at once, since it would wait for nothing, and the run ends with the
//! first side's error.

use std::future::Future;
use std::pin::Pin;

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::watch;

use crate::launch::agent_output::{LastError, Printer};
use crate::launch::remote_agent::{self, Ended};
use zkrsync_core::protocol::exit_code::{self, HOST_FAILED};

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

/// Which side of the copy an agent is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    /// A source (the master or a worker).
    Source,
    /// A destination.
    Dest,
    /// Neither (`zkrsync check`).
    Other,
}

impl Side {
    fn agents(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Dest => "destination",
            Side::Other => "check",
        }
    }

    fn other(self) -> &'static str {
        match self {
            Side::Source => "destinations",
            Side::Dest | Side::Other => "sources",
        }
    }
}

/// The agents started, and how each ends.
#[derive(Default)]
pub(super) struct Running {
    pub(super) controls: Vec<Control>,
    pub(super) labels: Vec<String>,
    sides: Vec<Side>,
    last_errors: Vec<LastError>,
    pub(super) ends: FuturesUnordered<EndFuture>,
    pub(super) printers: Vec<tokio::task::JoinHandle<()>>,
    interrupts: usize,
}

/// One side of the run ended before the session did.
#[derive(Debug, Clone, Copy)]
struct GaveUp {
    side: Side,
    /// Its agent whose end tells why.
    agent: usize,
}

/// An agent's exit code, or what the launcher makes of an end without one.
fn code_of(end: &Ended) -> i32 {
    match end {
        Ended::Code(c) => *c,
        Ended::Signal(_) | Ended::Lost(_) => HOST_FAILED,
    }
}

/// Whether an agent ended because its session went to its end (done, or chunks failed).
fn session_ended(end: &Ended) -> bool {
    matches!(end, Ended::Code(c) if *c == exit_code::OK || *c == exit_code::PARTIAL)
}

impl Running {
    /// Adds an agent about to start (its control and end follow); returns its index.
    pub(super) fn add(&mut self, label: String, side: Side, printer: &Printer) -> usize {
        self.labels.push(label);
        self.sides.push(side);
        self.last_errors.push(printer.last_error());
        self.labels.len() - 1
    }

    /// The side whose every agent has ended before the session did, if one has, with its
    /// agent that tells why (the first of the worst exit code).
    fn side_gave_up(&self, results: &[Option<Ended>]) -> Option<GaveUp> {
        [Side::Source, Side::Dest].into_iter().find_map(|side| {
            let mine: Vec<usize> = (0..self.sides.len())
                .filter(|i| self.sides[*i] == side)
                .collect();
            let ends: Vec<&Ended> = mine.iter().filter_map(|i| results[*i].as_ref()).collect();
            if mine.is_empty() || ends.len() < mine.len() || ends.iter().any(|e| session_ended(e)) {
                return None;
            }
            let worst = ends.iter().map(|e| code_of(e)).max()?;
            let (agent, _) = mine.iter().zip(&ends).find(|(_, e)| code_of(e) == worst)?;
            Some(GaveUp {
                side,
                agent: *agent,
            })
        })
    }

    /// The line that says why the run ended early (once the agents' output is all in).
    fn explain(&self, g: &GaveUp, results: &[Option<Ended>]) -> String {
        let said = self.last_errors[g.agent]
            .lock()
            .ok()
            .and_then(|l| l.clone())
            .unwrap_or_else(|| "nothing".into());
        let how = match &results[g.agent] {
            Some(Ended::Code(c)) => format!("exit {c}"),
            Some(Ended::Signal(s)) => format!("killed by {s}"),
            Some(Ended::Lost(why)) => format!("lost: {why}"),
            None => "gone".into(),
        };
        format!(
            "zkrsync-launch: every {} ended before the session did ([{}] {how}: {said}); the {} were stopped",
            g.side.agents(),
            self.labels[g.agent],
            g.side.other()
        )
    }

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
    /// ended (a check run: the destinations only serve the checks). Without, when one side
    /// gives up the other is stopped, and only the first side's codes count.
    pub(super) async fn finish(
        &mut self,
        term: &mut tokio::signal::unix::Signal,
        only: Option<Vec<usize>>,
    ) -> i32 {
        let (results, gave_up) = self.wait_all(term, only.as_deref()).await;
        for p in self.printers.drain(..) {
            if self.interrupts >= 3 {
                // Leaving without waiting: an agent stuck where SIGKILL cannot reach keeps
                // its pipes open.
                p.abort();
            } else {
                let _ = p.await;
            }
        }
        if let Some(g) = &gave_up {
            eprintln!("{}", self.explain(g, &results));
        }
        let mut worst = exit_code::OK;
        for (i, (label, end)) in self.labels.iter().zip(results).enumerate() {
            // Agents stopped because the others were done (a check) or gave up: only their
            // own failures count, not that they were stopped.
            let counts = match (&only, gave_up) {
                (Some(o), _) => o.contains(&i),
                (None, Some(g)) => self.sides[i] == g.side,
                (None, None) => true,
            };
            let code = match end {
                Some(Ended::Code(c)) if counts || (c != exit_code::OK && c != INTERRUPTED) => c,
                Some(Ended::Code(_)) => exit_code::OK,
                // Stopped by the launcher itself (before it could catch the signal).
                Some(Ended::Signal(_)) if !counts => exit_code::OK,
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

    /// Collects every agent's end, passing interrupts on and stopping the agents that
    /// `only` or a side that gave up leave without purpose.
    async fn wait_all(
        &mut self,
        term: &mut tokio::signal::unix::Signal,
        only: Option<&[usize]>,
    ) -> (Vec<Option<Ended>>, Option<GaveUp>) {
        let mut results: Vec<Option<Ended>> = vec![None; self.labels.len()];
        let mut stopped_rest = false;
        let mut gave_up = None;
        while !self.ends.is_empty() {
            tokio::select! {
                Some((i, end)) = self.ends.next() => {
                    results[i] = Some(end);
                    // Ended and reaped: its pid may be another process's now.
                    if let Control::Local(pid) = &mut self.controls[i] {
                        *pid = None;
                    }
                    let purposeless = match only {
                        Some(only) => only.iter().all(|k| results[*k].is_some()),
                        None if self.interrupts == 0 && gave_up.is_none() => {
                            gave_up = self.side_gave_up(&results);
                            gave_up.is_some()
                        }
                        None => false,
                    };
                    if purposeless && !stopped_rest {
                        stopped_rest = true;
                        self.controls.iter().for_each(Control::stop);
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
        (results, gave_up)
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
