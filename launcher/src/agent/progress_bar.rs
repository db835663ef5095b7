//! The master's progress bar, shown when stderr is a terminal: chunks finished of the plan,
//! data copied (the running chunks' included), rate, files and time left (from the files
//! to go). Log lines are printed above it, never through it.

use std::io::{IsTerminal as _, Write};
use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use zkrsync_core::protocol::Progress;

use crate::agent::report::bytes;

/// The bar, once the process knows it is the master and stderr is a terminal.
static BAR: OnceLock<ProgressBar> = OnceLock::new();

/// Whether a bar can be drawn (stderr is a terminal).
pub fn wanted() -> bool {
    std::io::stderr().is_terminal()
}

fn bar() -> &'static ProgressBar {
    BAR.get_or_init(|| {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {elapsed_precise} [{wide_bar}] {pos}/{len} chunks, {msg}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar.set_message("starting");
        bar.enable_steady_tick(Duration::from_millis(250));
        bar
    })
}

/// Shows where the session stands.
pub fn update(p: &Progress, elapsed: Duration, dry_run: bool) {
    let bar = bar();
    bar.set_length(p.chunks);
    bar.set_position(p.done + p.failed);
    let secs = elapsed.as_secs_f64().max(0.001);
    let copied = super::progress_report::copied(p);
    let of_entries = match p.entries {
        0 => String::new(),
        n => format!(" of {n}"),
    };
    let mut msg = format!(
        "{}{} copied ({}/s), {}{of_entries} files",
        super::report::dry_mark(dry_run),
        bytes(copied),
        bytes((copied as f64 / secs) as u64),
        super::progress_report::files(p)
    );
    if let Some(left) = super::progress_report::eta(p, elapsed) {
        msg.push_str(&format!(", about {left:.0} s left"));
    }
    if p.failed > 0 {
        msg.push_str(&format!(", {} failed", p.failed));
    }
    if !p.plan_ready {
        msg.push_str(", plan still being published");
    }
    bar.set_message(msg);
}

/// Removes the bar before the summary is printed.
pub fn finish() {
    if let Some(bar) = BAR.get() {
        bar.finish_and_clear();
    }
}

/// Where log lines go: stderr, above the bar when there is one.
#[derive(Clone, Copy, Default)]
pub struct StderrAboveBar;

impl Write for StderrAboveBar {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match BAR.get() {
            Some(bar) if !bar.is_finished() => bar.suspend(|| std::io::stderr().write(buf)),
            _ => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
