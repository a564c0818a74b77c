//! Log lines go to stderr (and to `--log-file`), levels chosen by `-v`/`-q`.
//!
//! Default: evacctl's own info lines (the runbook's progress, in the wording of the runbook's origin documents) and
//! warnings from libraries. `-v` debug, `-vv` trace (every HTTP request), `-vvv` trace of the
//! libraries too. `EVACCTL_LOG` (an env-filter directive) overrides all of it.
//! Secrets never reach a log line: they are `Secret`s and sensitive header values.
//! `--log-file` is created 0600 and must be a regular file (no symbolic link, FIFO, device).

use std::fs::File;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Target of the final error line: written to the log file only, since `main` prints it to
/// stderr itself in a plainer form.
pub const FINAL_ERROR_TARGET: &str = "evacctl::final_error";

pub fn filter_directive(verbose: u8, quiet: bool) -> &'static str {
    match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "warn,evacctl=info",
        (false, 1) => "warn,evacctl=debug",
        (false, 2) => "info,evacctl=trace",
        (false, _) => "trace",
    }
}

#[derive(Clone)]
struct SharedFile(Arc<Mutex<File>>);

impl std::io::Write for SharedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut f) => f.write(buf),
            Err(p) => p.into_inner().write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self.0.lock() {
            Ok(mut f) => f.flush(),
            Err(p) => p.into_inner().flush(),
        }
    }
}

impl<'a> MakeWriter<'a> for SharedFile {
    type Writer = SharedFile;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

fn env_filter(verbose: u8, quiet: bool) -> EnvFilter {
    match std::env::var("EVACCTL_LOG") {
        Ok(d) if !d.trim().is_empty() => EnvFilter::try_new(d)
            .unwrap_or_else(|_| EnvFilter::new(filter_directive(verbose, quiet))),
        _ => EnvFilter::new(filter_directive(verbose, quiet)),
    }
}

/// Install the global subscriber. Call once, first thing.
pub fn init(verbose: u8, quiet: bool, log_file: Option<&Path>) -> anyhow::Result<()> {
    let stderr_layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_target(false)
        .with_filter(env_filter(verbose, quiet))
        .with_filter(filter_fn(|m| m.target() != FINAL_ERROR_TARGET));

    let file_layer = match log_file {
        Some(path) => {
            // 0600: a log line may name hosts, servers and users. Only a regular file, never
            // through a symbolic link (evacctl runs as root).
            let file = crate::files::open_append(path, 0o600)
                .with_context(|| format!("cannot open log file {}", path.display()))?;
            Some(
                tracing_subscriber::fmt::layer()
                    .with_writer(SharedFile(Arc::new(Mutex::new(file))))
                    .with_ansi(false)
                    .with_target(false)
                    .with_filter(env_filter(verbose, quiet)),
            )
        }
        None => None,
    };

    tracing_subscriber::registry()
        .with(stderr_layer)
        .with(file_layer)
        .try_init()
        .context("cannot install the logger")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_levels() {
        assert_eq!(filter_directive(0, true), "warn");
        assert_eq!(filter_directive(0, false), "warn,evacctl=info");
        assert_eq!(filter_directive(3, false), "trace");
        assert_eq!(filter_directive(9, false), "trace");
    }
}
