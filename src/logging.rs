//! Log lines go to stderr (and to `--log-file`), levels chosen by `-v`/`-q`.
//!
//! Default: evacctl's own info lines (the runbook's progress, in the wording of the runbook's origin documents) and
//! warnings from libraries. `-v` debug, `-vv` trace (every HTTP request), `-vvv` trace of the
//! libraries too. `EVACCTL_LOG` (an env-filter directive) overrides all of it.
//! Secrets never reach a log line: they are `Secret`s and sensitive header values.
//! `--log-file` is created 0600 and must be a regular file (no symbolic link, FIFO, device).
//!
//! `--log-format json` (or `EVACCTL_LOG_FORMAT=json`): one JSON object per line, with the
//! fields of the text line (`timestamp`, `level`, `target`, `message`, and the event's own
//! fields), for a log shipper. Under systemd (`JOURNAL_STREAM` naming stderr) the text format
//! leaves the timestamp to the journal, which stamps every line itself.

use std::fs::File;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::Registry;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Target of the final error line: in text, written to the log file only, since
/// [`final_error`] prints it to stderr itself in a plainer form; in JSON, a log line like the
/// others (stderr stays one JSON object per line).
pub const FINAL_ERROR_TARGET: &str = "evacctl::final_error";

/// `--log-format json` is in force.
static JSON: AtomicBool = AtomicBool::new(false);

/// An error that ends (or mars) the command: `evacctl: error: ...` on stderr in text, an
/// `ERROR` log line in JSON; in the log file either way.
pub fn final_error(message: &str) {
    tracing::error!(target: FINAL_ERROR_TARGET, "{message}");
    if !JSON.load(Ordering::Relaxed) {
        eprintln!("evacctl: error: {message}");
    }
}

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

/// How log lines are written (`--log-format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Lines for people: `TIMESTAMP LEVEL message` (no timestamp under systemd).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// One output of the log in `format`; `ansi` for a colour terminal.
fn layer<W>(format: LogFormat, writer: W, ansi: bool, journald: bool) -> BoxedLayer
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_target(true)
            .with_writer(writer)
            .boxed(),
        LogFormat::Text if journald => tracing_subscriber::fmt::layer()
            .without_time()
            .with_ansi(ansi)
            .with_target(false)
            .with_writer(writer)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_target(false)
            .with_writer(writer)
            .boxed(),
    }
}

fn env_filter(verbose: u8, quiet: bool) -> EnvFilter {
    match std::env::var("EVACCTL_LOG") {
        Ok(d) if !d.trim().is_empty() => EnvFilter::try_new(d)
            .unwrap_or_else(|_| EnvFilter::new(filter_directive(verbose, quiet))),
        _ => EnvFilter::new(filter_directive(verbose, quiet)),
    }
}

/// systemd sets `JOURNAL_STREAM=DEVICE:INODE` for a unit whose stderr goes to the journal.
/// As its documentation advises, the variable counts only when it names this stderr: a
/// program started from such a unit with its stderr elsewhere (a terminal, a file) inherits
/// the variable, not the journal.
fn stderr_is_journal() -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = value.to_str().and_then(|v| v.split_once(':')) else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    // SAFETY: fstat(2) on fd 2 into a zeroed struct of the right type.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(2, &mut st) } != 0 {
        return false;
    }
    st.st_dev as u64 == dev && st.st_ino as u64 == ino
}

/// Install the global subscriber. Call once, first thing.
pub fn init(
    verbose: u8,
    quiet: bool,
    log_file: Option<&Path>,
    format: LogFormat,
) -> anyhow::Result<()> {
    let journald = stderr_is_journal();
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let json = format == LogFormat::Json;
    let mut layers = vec![
        layer(format, std::io::stderr, ansi, journald)
            .with_filter(env_filter(verbose, quiet))
            .with_filter(filter_fn(move |m| json || m.target() != FINAL_ERROR_TARGET))
            .boxed(),
    ];

    if let Some(path) = log_file {
        // 0600: a log line may name hosts, servers and users. Only a regular file, never
        // through a symbolic link (evacctl runs as root).
        let file = crate::files::open_append(path, 0o600)
            .with_context(|| format!("cannot open log file {}", path.display()))?;
        // The file keeps its timestamps: it is not the journal.
        layers.push(
            layer(format, SharedFile(Arc::new(Mutex::new(file))), false, false)
                .with_filter(env_filter(verbose, quiet))
                .boxed(),
        );
    }

    tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .context("cannot install the logger")?;
    JSON.store(json, Ordering::Relaxed);
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
