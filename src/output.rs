//! Tables for people, JSON for scripts.

use std::io::Write;
use std::time::Duration;

use comfy_table::{ContentArrangement, Table, presets};
use serde::Serialize;

/// A table in the style of the `nova`/`openstack` clients (ASCII, so it pastes into tickets).
pub fn table<I, S>(headers: I) -> Table
where
    I: IntoIterator<Item = S>,
    S: Into<comfy_table::Cell>,
{
    let mut t = Table::new();
    t.load_style(presets::ASCII_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(headers);
    t
}

/// Write text to stdout. A reader that went away (`evacctl check-services | head -1`) is not
/// an error: the command's verdict and exit code stand, only the rest of the text is dropped.
pub fn emit(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// [`emit`] for call sites that print as they go: a reader that went away is ignored, any other
/// failure to write stdout is logged, never a panic (as `println!` would).
pub fn emit_lossy(text: &str) {
    if let Err(e) = emit(text) {
        tracing::warn!("cannot write to stdout: {e}");
    }
}

/// `println!` for command output: goes through [`emit_lossy`], so `evacctl ... | head -1`
/// never panics and the command keeps its exit code.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::output::emit_lossy("\n")
    };
    ($($arg:tt)*) => {
        $crate::output::emit_lossy(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// A titled table as text, for [`emit`].
pub fn titled(title: &str, t: &Table) -> String {
    format!("{title}\n{t}\n")
}

/// Print a table, with an optional title line, to stdout (through [`emit`]).
pub fn print_table(title: Option<&str>, t: &Table) -> std::io::Result<()> {
    match title {
        Some(title) => emit(&titled(title, t)),
        None => emit(&format!("{t}\n")),
    }
}

/// Pretty JSON on stdout, one document per command run.
pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    emit(&text)?;
    Ok(())
}

/// `3m 5s`, `42s`, `2h 1m`: short ages for tables.
pub fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {}s", s / 60, s % 60),
        3600..=86399 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {}h", s / 86400, (s % 86400) / 3600),
    }
}

/// `-` for an absent value, as the OpenStack clients print it.
pub fn or_dash(v: Option<&str>) -> String {
    match v {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => "-".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(short_duration(Duration::from_secs(42)), "42s");
        assert_eq!(short_duration(Duration::from_secs(185)), "3m 5s");
        assert_eq!(short_duration(Duration::from_secs(7260)), "2h 1m");
        assert_eq!(short_duration(Duration::from_secs(90000)), "1d 1h");
    }
}
