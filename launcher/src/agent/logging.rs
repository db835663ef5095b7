//! Logs through tracing: to stderr, and also to `--log-file` when given.
//!
//! Every line reads `TIME LEVEL message`: no target, and no span context. The agent runs in
//! a span of its role (`source` or `dest`, with the session), but the layers here leave
//! spans out, so a line inside it reads as it always has: users and the end-to-end tests
//! read these lines (e.g. `DEBUG chunk 3: …`), and span context would come between the
//! level and the message.

use std::path::Path;

use anyhow::Context;
use tracing::Subscriber;
use tracing_subscriber::filter::{filter_fn, FilterExt as _};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{fmt, EnvFilter, Layer};

/// Sets up logging once; `verbose` shows debug lines (every rsync command and its errors).
pub fn init(verbose: bool, log_file: Option<&Path>) -> anyhow::Result<()> {
    let level = if verbose { "debug" } else { "info" };
    let stderr = lines(
        || crate::agent::progress_bar::StderrAboveBar,
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
        level,
    );
    let file = match log_file {
        Some(path) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open --log-file {}", path.display()))?;
            Some(lines(std::sync::Mutex::new(f), false, level))
        }
        None => None,
    };
    tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .init();
    Ok(())
}

/// A layer that prints the lines of `level` and above (or as `ZKRSYNC_LOG` says) to
/// `writer`, without target and without span context (its filter leaves spans out).
fn lines<S>(
    writer: impl for<'w> MakeWriter<'w> + Send + Sync + 'static,
    ansi: bool,
    level: &str,
) -> impl Layer<S> + Send + Sync
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let filter = EnvFilter::try_from_env("ZKRSYNC_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("zkrsync={level},zkrsync_launcher={level}")));
    fmt::layer()
        .with_writer(writer)
        .with_ansi(ansi)
        .with_target(false)
        .with_filter(filter.and(filter_fn(|meta| !meta.is_span())))
}

/// Logs one line of a machine at its level.
pub fn log(level: zkrsync_core::protocol::Level, message: &str) {
    use zkrsync_core::protocol::Level;
    match level {
        Level::Error => tracing::error!("{message}"),
        Level::Warn => tracing::warn!("{message}"),
        Level::Info => tracing::info!("{message}"),
        Level::Debug => tracing::debug!("{message}"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt as _;

    use super::lines;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_line_in_a_role_s_span_reads_as_one_outside() {
        let buffer = Buffer::default();
        let out = buffer.clone();
        let subscriber =
            tracing_subscriber::registry().with(lines(move || out.clone(), false, "debug"));
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!("chunk 3: outside");
            let _role = tracing::info_span!("source", session = "s1").entered();
            tracing::debug!("chunk 3: inside");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        // `TIME LEVEL message`: the same after the time, span or not.
        let after_time: Vec<&str> = text
            .lines()
            .map(|l| l.split_once(' ').map_or(l, |(_, rest)| rest))
            .collect();
        assert_eq!(
            after_time,
            ["DEBUG chunk 3: outside", "DEBUG chunk 3: inside"],
            "{text}"
        );
    }
}
