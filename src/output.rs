//! Tables for people, JSON for scripts, and rows (`-f value`, `-f csv`) for shell loops.
//!
//! A table never breaks an identifier (a UUID, a host name, an address, a state): only the
//! free-text columns (reason, detail, error...) wrap, at spaces. When the identifiers alone do
//! not fit the width, each row is printed as a block of `key: value` lines instead.

use std::io::Write;
use std::sync::OnceLock;
use std::time::Duration;

use comfy_table::{ContentArrangement, presets};
use serde::Serialize;

use crate::cli::Format;

/// The version of every JSON document's layout; it changes when a field changes meaning or
/// goes away (new fields do not change it).
pub const SCHEMA_VERSION: u32 = 1;

/// How this run prints, decided once from the global options.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Lines are at most this long; `None`: as long as the content (stdout is not a terminal).
    pub width: Option<usize>,
    pub format: Option<Format>,
    /// `-c NAME`: the columns a listing shows, in this order.
    pub columns: Vec<String>,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// Whether this run printed a JSON document: a failure after its report (a refusal the report
/// explains) prints no second one, so stdout stays one JSON value.
static JSON_PRINTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn json_printed() -> bool {
    JSON_PRINTED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Set the run's output settings (once, before anything prints).
pub fn configure(settings: Settings) {
    let _ = SETTINGS.set(settings);
}

fn settings() -> &'static Settings {
    SETTINGS.get_or_init(Settings::default)
}

/// The width to print at: `--max-width`, else `COLUMNS`, else the terminal's width when stdout
/// is one, else none (a pipe or a file gets whole lines).
pub fn detect_width(max_width: Option<usize>) -> Option<usize> {
    use std::io::IsTerminal as _;
    if max_width.is_some() {
        return max_width;
    }
    if let Some(cols) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0)
    {
        return Some(cols);
    }
    if std::io::stdout().is_terminal() {
        return terminal_width();
    }
    None
}

fn terminal_width() -> Option<usize> {
    // SAFETY: TIOCGWINSZ fills a winsize we own; a failure leaves it zeroed, handled below.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    (ok && ws.ws_col > 0).then_some(usize::from(ws.ws_col))
}

/// Header words of the columns that hold sentences; every other column holds identifiers.
const FREE_TEXT: &[&str] = &[
    "reason", "detail", "error", "message", "problem", "why", "checks", "command", "result",
    "needs", "members", "alert", "attached",
];

fn is_free_text(header: &str) -> bool {
    let h = header.to_ascii_lowercase();
    FREE_TEXT.iter().any(|w| h.contains(w))
}

fn width_of(s: &str) -> usize {
    s.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

/// A table in the style of the `nova`/`openstack` clients (ASCII, so it pastes into tickets).
#[derive(Debug, Clone, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// A table with these column headers.
pub fn table<I, S>(headers: I) -> Table
where
    I: IntoIterator<Item = S>,
    S: ToString,
{
    Table {
        headers: headers.into_iter().map(|h| h.to_string()).collect(),
        rows: Vec::new(),
    }
}

impl Table {
    pub fn add_row<I, S>(&mut self, row: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: ToString,
    {
        self.rows
            .push(row.into_iter().map(|c| c.to_string()).collect());
        self
    }

    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    pub fn rows(&self) -> &[Vec<String>] {
        &self.rows
    }

    /// The table with only `names` (headers, any case), in that order; an unknown name is an
    /// error naming the columns there are.
    pub fn select(&self, names: &[String]) -> Result<Table, String> {
        if names.is_empty() {
            return Ok(self.clone());
        }
        let mut idx = Vec::new();
        for n in names {
            let i = self
                .headers
                .iter()
                .position(|h| h.eq_ignore_ascii_case(n.trim()))
                .ok_or_else(|| {
                    format!(
                        "no column `{n}`; the columns are: {}",
                        self.headers
                            .iter()
                            .map(|h| format!("\"{h}\""))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?;
            idx.push(i);
        }
        Ok(Table {
            headers: idx.iter().map(|&i| self.headers[i].clone()).collect(),
            rows: self
                .rows
                .iter()
                .map(|r| {
                    idx.iter()
                        .map(|&i| r.get(i).cloned().unwrap_or_default())
                        .collect()
                })
                .collect(),
        })
    }

    /// The table as text, its lines at most `width` long when the identifiers fit, else one
    /// block of `key: value` lines per row.
    pub fn render(&self, width: Option<usize>) -> String {
        let n = self.headers.len();
        let cell = |r: &Vec<String>, i: usize| r.get(i).map_or("", String::as_str).to_string();
        let natural: Vec<usize> = (0..n)
            .map(|i| {
                self.rows
                    .iter()
                    .map(|r| width_of(&cell(r, i)))
                    .chain(std::iter::once(width_of(&self.headers[i])))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let frame = 3 * n + 1;
        let Some(width) = width.filter(|&w| natural.iter().sum::<usize>() + frame > w) else {
            return self.boxed(&natural, &natural);
        };
        // Identifiers keep their width (a header may wrap at its spaces); free text takes
        // what is left, at least MIN_FREE columns each.
        const MIN_FREE: usize = 12;
        let free: Vec<bool> = self.headers.iter().map(|h| is_free_text(h)).collect();
        let fixed: Vec<usize> = (0..n)
            .map(|i| {
                let longest_word = self.headers[i]
                    .split_whitespace()
                    .map(|w| w.chars().count())
                    .max()
                    .unwrap_or(0);
                self.rows
                    .iter()
                    .map(|r| width_of(&cell(r, i)))
                    .max()
                    .unwrap_or(0)
                    .max(longest_word)
            })
            .collect();
        let fixed_sum: usize = (0..n).filter(|&i| !free[i]).map(|i| fixed[i]).sum();
        let free_min: Vec<usize> = (0..n)
            .map(|i| if free[i] { fixed[i].min(MIN_FREE) } else { 0 })
            .collect();
        if fixed_sum + free_min.iter().sum::<usize>() + frame > width {
            return self.blocks(width);
        }
        let mut widths: Vec<usize> = (0..n)
            .map(|i| if free[i] { free_min[i] } else { fixed[i] })
            .collect();
        let mut spare = width - (widths.iter().sum::<usize>() + frame);
        // Hand the spare columns out one at a time, so several free-text columns share them.
        while spare > 0 {
            let mut gave = false;
            for i in 0..n {
                if spare > 0 && free[i] && widths[i] < natural[i] {
                    widths[i] += 1;
                    spare -= 1;
                    gave = true;
                }
            }
            if !gave {
                break;
            }
        }
        self.boxed(&natural, &widths)
    }

    fn boxed(&self, natural: &[usize], widths: &[usize]) -> String {
        let mut t = comfy_table::Table::new();
        t.load_style(presets::ASCII_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Disabled);
        let fit = |s: &str, i: usize| {
            if widths[i] >= natural[i] {
                s.to_string()
            } else {
                wrap(s, widths[i]).join("\n")
            }
        };
        t.set_header(
            self.headers
                .iter()
                .enumerate()
                .map(|(i, h)| fit(h, i))
                .collect::<Vec<_>>(),
        );
        for r in &self.rows {
            t.add_row(
                (0..self.headers.len())
                    .map(|i| fit(r.get(i).map_or("", String::as_str), i))
                    .collect::<Vec<_>>(),
            );
        }
        t.to_string()
    }

    /// One block per row: `Header: value`, values aligned; free text wraps under itself.
    fn blocks(&self, width: usize) -> String {
        let key_w = self
            .headers
            .iter()
            .map(|h| h.chars().count())
            .max()
            .unwrap_or(0)
            + 2;
        let mut out = Vec::new();
        for r in &self.rows {
            if !out.is_empty() {
                out.push(String::new());
            }
            for (i, h) in self.headers.iter().enumerate() {
                let v = r.get(i).map_or("", String::as_str);
                let key = format!("{h}:");
                let room = width.saturating_sub(key_w).max(MIN_BLOCK);
                let lines = if is_free_text(h) {
                    v.lines().flat_map(|l| wrap(l, room)).collect()
                } else {
                    v.lines().map(str::to_string).collect::<Vec<_>>()
                };
                let mut lines = lines.into_iter();
                out.push(format!("{key:<key_w$}{}", lines.next().unwrap_or_default()));
                for l in lines {
                    out.push(format!("{:key_w$}{l}", ""));
                }
            }
        }
        out.iter()
            .map(|l| l.trim_end())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// `-f value`: the cells of each row, space-separated, one row per line.
    pub fn to_value(&self) -> String {
        self.rows
            .iter()
            .map(|r| format!("{}\n", r.join(" ")))
            .collect()
    }

    /// `-f csv`: a header row, then one row per line (RFC 4180 quoting).
    pub fn to_csv(&self) -> String {
        std::iter::once(&self.headers)
            .chain(&self.rows)
            .map(|r| {
                let cells: Vec<String> = r.iter().map(|c| csv_cell(c)).collect();
                format!("{}\n", cells.join(","))
            })
            .collect()
    }
}

/// Free text in a block gets at least this many columns, however narrow the terminal.
const MIN_BLOCK: usize = 20;

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render(settings().width))
    }
}

fn csv_cell(c: &str) -> String {
    if c.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", c.replace('"', "\"\""))
    } else {
        c.to_string()
    }
}

/// Words to lines of at most `width` characters; a word longer than that is cut (free text
/// only: identifiers never come here).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    for para in text.split('\n') {
        let mut line = String::new();
        for word in para.split_whitespace() {
            let mut word: Vec<char> = word.chars().collect();
            let len = line.chars().count();
            if len > 0 && len + 1 + word.len() <= width {
                line.push(' ');
                line.extend(&word);
                continue;
            }
            if len > 0 {
                lines.push(std::mem::take(&mut line));
            }
            while word.len() > width {
                lines.push(word.drain(..width).collect());
            }
            line.extend(&word);
        }
        lines.push(line);
    }
    lines
}

/// The run's main listing with the columns `-c` picked (all without `-c`); an unknown name is
/// an error naming the columns there are.
pub fn selected(t: &Table) -> Result<Table, String> {
    t.select(&settings().columns)
}

/// Print a listing as the format says: `-f value` and `-f csv` print its rows and nothing else.
pub fn print_rows(title: Option<&str>, t: &Table) -> std::io::Result<()> {
    match settings().format {
        Some(Format::Value) => emit_raw(&t.to_value()),
        Some(Format::Csv) => emit_raw(&t.to_csv()),
        _ => print_table(title, t),
    }
}

/// Whether this run prints rows only (`-f value`, `-f csv`): the prose around tables is left out.
pub fn rows_only() -> bool {
    matches!(settings().format, Some(Format::Value | Format::Csv))
}

/// Write text to stdout, for people: lines longer than the width wrap at spaces (a word, such
/// as a UUID, is never cut); with `-f value` or `-f csv` only the rows are printed, so this
/// text is left out. A reader that went away (`evacctl check-services | head -1`) is not an
/// error: the command's verdict and exit code stand, only the rest of the text is dropped.
pub fn emit(text: &str) -> std::io::Result<()> {
    let s = settings();
    match (s.format, s.width) {
        (Some(Format::Value | Format::Csv), _) => Ok(()),
        (Some(Format::Table) | None, Some(w)) => emit_raw(&fit_lines(text, w)),
        _ => emit_raw(text),
    }
}

/// Write text to stdout as it is (JSON, rows); a closed pipe ends the output quietly.
pub fn emit_raw(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Each line longer than `width` wrapped at spaces, continuation lines indented two more than
/// the line's own indent.
pub fn fit_lines(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if line.chars().count() <= width {
            out.push_str(line);
            continue;
        }
        let indent = line.len() - line.trim_start_matches(' ').len();
        let mut cur = " ".repeat(indent);
        let mut empty = true;
        for word in line.split(' ').filter(|w| !w.is_empty()) {
            let len = cur.chars().count();
            if !empty && len + 1 + word.chars().count() > width {
                out.push_str(&cur);
                out.push('\n');
                cur = " ".repeat(indent + 2);
                empty = true;
            }
            if !empty {
                cur.push(' ');
            }
            cur.push_str(word);
            empty = false;
        }
        out.push_str(&cur);
    }
    out
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

/// Pretty JSON on stdout, one document per command run, `"schema_version"` first.
pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let mut text = with_schema_version(serde_json::to_string_pretty(value)?);
    text.push('\n');
    JSON_PRINTED.store(true, std::sync::atomic::Ordering::Relaxed);
    emit_raw(&text)?;
    Ok(())
}

/// A pretty JSON object with `"schema_version"` as its first field (struct order kept: the
/// object is not re-parsed into a sorted map).
fn with_schema_version(text: String) -> String {
    let Some(rest) = text.strip_prefix('{') else {
        return text;
    };
    if rest.starts_with("\n  \"schema_version\"") {
        return text;
    }
    if rest.trim_start().starts_with('}') {
        return format!("{{\n  \"schema_version\": {SCHEMA_VERSION}\n}}");
    }
    format!("{{\n  \"schema_version\": {SCHEMA_VERSION},{rest}")
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
