//! How `zkrsync-launch` shows the master's progress, which the master sends it as JSON
//! lines on its standard output (`zkrsync source --progress-stdout`), one a second: a bar on
//! a terminal, the JSON lines as they are with `--progress json`, otherwise a line every
//! 10 s.

use std::io::{IsTerminal as _, Write as _};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a progress line is printed when there is no bar.
const LINE_EVERY: Duration = Duration::from_secs(10);

/// How the launcher shows progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A bar on a terminal, else a line every 10 s.
    Auto,
    /// The master's JSON lines, as they come.
    Json,
}

struct View {
    mode: Mode,
    bar: Option<ProgressBar>,
    last_line: Option<Instant>,
}

static VIEW: OnceLock<Mutex<View>> = OnceLock::new();

/// Sets how progress is shown (once, before any agent starts).
pub fn set_mode(mode: Mode) {
    let _ = VIEW.set(Mutex::new(View {
        mode,
        bar: None,
        last_line: None,
    }));
}

fn with_view<T>(f: impl FnOnce(&mut View) -> T) -> Option<T> {
    let view = VIEW.get_or_init(|| {
        Mutex::new(View {
            mode: Mode::Auto,
            bar: None,
            last_line: None,
        })
    });
    view.lock().ok().map(|mut v| f(&mut v))
}

/// Shows `line` of the master's standard output if it is a progress report; false if it is
/// something else (the summary), which the caller prints — after the bar is gone.
pub fn show(line: &str) -> bool {
    let report = line
        .starts_with("{\"progress\":")
        .then(|| serde_json::from_str::<serde_json::Value>(line).ok())
        .flatten();
    let Some(report) = report else {
        finish();
        return false;
    };
    let p = &report["progress"];
    with_view(|v| match v.mode {
        Mode::Json => {
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
        Mode::Auto if std::io::stderr().is_terminal() => {
            let bar = v.bar.get_or_insert_with(|| {
                let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {elapsed_precise} [{wide_bar}] {msg}")
                        .expect("a valid template")
                        .progress_chars("=> "),
                );
                bar.enable_steady_tick(Duration::from_millis(250));
                bar
            });
            // By files when the plan says how many entries it holds, else by chunks.
            let (pos, len) = match p["entries"].as_u64().unwrap_or(0) {
                0 => (
                    p["done"].as_u64().unwrap_or(0) + p["failed"].as_u64().unwrap_or(0),
                    p["chunks"].as_u64().unwrap_or(0),
                ),
                entries => (p["files"].as_u64().unwrap_or(0).min(entries), entries),
            };
            bar.set_length(len);
            bar.set_position(pos);
            let text = p["line"].as_str().unwrap_or("");
            bar.set_message(text.strip_prefix("progress: ").unwrap_or(text).to_owned());
        }
        Mode::Auto => {
            if v.last_line.is_none_or(|at| at.elapsed() >= LINE_EVERY) {
                v.last_line = Some(Instant::now());
                let text = p["line"].as_str().unwrap_or("");
                let _ = writeln!(std::io::stdout().lock(), "{text}");
            }
        }
    });
    true
}

/// Removes the bar (before the summary, or when the launcher ends).
pub fn finish() {
    with_view(|v| {
        if let Some(bar) = v.bar.take() {
            bar.finish_and_clear();
        }
    });
}
