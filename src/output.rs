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

/// Print a table (or a line saying there is nothing) to stdout.
pub fn print_table(title: Option<&str>, t: &Table) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    if let Some(title) = title {
        writeln!(out, "{title}")?;
    }
    writeln!(out, "{t}")
}

/// Pretty JSON on stdout, one document per command run.
pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
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
