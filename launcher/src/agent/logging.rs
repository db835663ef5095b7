//! Logs through tracing: to stderr, and also to `--log-file` when given.

use std::path::Path;

use anyhow::Context;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{fmt, EnvFilter, Layer as _};

/// Sets up logging once; `verbose` shows debug lines (every rsync command and its errors).
pub fn init(verbose: bool, log_file: Option<&Path>) -> anyhow::Result<()> {
    let level = if verbose { "debug" } else { "info" };
    let filter = || {
        EnvFilter::try_from_env("ZKRSYNC_LOG")
            .unwrap_or_else(|_| EnvFilter::new(format!("zkrsync={level},zkrsync_launcher={level}")))
    };
    let stderr = fmt::layer()
        .with_writer(|| crate::agent::progress_bar::StderrAboveBar)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .with_filter(filter());
    let file = match log_file {
        Some(path) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open --log-file {}", path.display()))?;
            Some(
                fmt::layer()
                    .with_writer(std::sync::Mutex::new(f))
                    .with_ansi(false)
                    .with_target(false)
                    .with_filter(filter()),
            )
        }
        None => None,
    };
    tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .init();
    Ok(())
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
