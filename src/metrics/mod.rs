//! Prometheus metrics of `watch` (`[metrics]`): a [`Snapshot`] taken after every cycle,
//! rendered in the text exposition format ([`render`], pure), written to node_exporter's
//! textfile collector ([`write_textfile`]: a temporary file in the same directory renamed over
//! the old one, mode 0644, so the collector never reads half a file) and served on
//! `GET /metrics` ([`serve::Server`]).
//!
//! The counters (evacuations, fencing, failed observations) are counted from the journal, so
//! they survive restarts and cron's one cycle per process; they restart from zero only when
//! the journal is rotated (Prometheus takes a counter reset in its stride).

pub mod serve;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::{Config, MetricsConfig};
use crate::core::summary::Summary;

/// The gates that hold the loop (docs/reference.md), each exported 0 or 1.
pub const GATES: [&str; 4] = ["standby", "no-leader", "observer-isolated", "mass-failure"];

/// The journal actions counted: evacuations and fencing results (and failed observations).
const EVACUATE_ACTION: &str = "evacuate";
const FENCE_ACTION: &str = "fence";

/// The counters kept by the journal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Evacuation requests by result (`accepted`, `failed`, ...).
    pub evacuations: BTreeMap<String, u64>,
    /// Fencing (power off, confirmed) by result (`ok`, `failed`).
    pub fencing: BTreeMap<String, u64>,
    /// Cycles that could not observe the cloud, by what failed.
    pub observe_errors: BTreeMap<String, u64>,
}

impl Counters {
    /// Counts the result records of the journal.
    #[cfg(test)]
    pub fn from_records(records: &[crate::core::records::Record]) -> Counters {
        Counters::from_summary(&Summary::of(records))
    }

    /// The counts of a folded journal.
    pub fn from_summary(s: &Summary) -> Counters {
        let of = |action: &str| s.results.get(action).cloned().unwrap_or_default();
        let mut observe_errors = BTreeMap::new();
        // The observe step reads Nova, Consul and the BMCs' answers as one: `cloud`.
        if s.observe_failed > 0 {
            observe_errors.insert("cloud".to_string(), s.observe_failed);
        }
        Counters {
            evacuations: of(EVACUATE_ACTION),
            fencing: of(FENCE_ACTION),
            observe_errors,
        }
    }
}

/// Everything one exposition shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub version: String,
    pub commit: String,
    /// SHA-256 of the configuration file loaded (`""`: the built-in defaults).
    pub config_hash: String,
    /// Each host and its state.
    pub hosts: Vec<(String, String)>,
    /// The gate of the last cycle (`open` or one of [`GATES`]).
    pub gate: String,
    pub leader: bool,
    /// The last cycle's duration, in seconds; `None` before the first.
    pub cycle_duration: Option<f64>,
    /// Unix time of the end of the last cycle, and of the last one that observed the cloud.
    pub last_cycle: Option<f64>,
    pub last_success: Option<f64>,
    pub counters: Counters,
    /// Leader-lock requests that failed, in this process.
    pub leader_errors: u64,
}

/// One sample: its labels (name, value) and its value.
type Sample = (Vec<(&'static str, String)>, f64);

/// One metric family: its name, type and help, and its samples.
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    samples: Vec<Sample>,
}

fn family(kind: &'static str, name: &'static str, help: &'static str, s: Vec<Sample>) -> Family {
    Family {
        name,
        kind,
        help,
        samples: s,
    }
}

/// A map of counts as samples labelled `label`.
fn counted(label: &'static str, m: &BTreeMap<String, u64>) -> Vec<Sample> {
    m.iter()
        .map(|(k, v)| (vec![(label, k.clone())], *v as f64))
        .collect()
}

fn flag(b: bool) -> f64 {
    f64::from(u8::from(b))
}

/// The snapshot in Prometheus' text exposition format (version 0.0.4).
pub fn render(s: &Snapshot) -> String {
    let one = |v: Option<f64>| v.map(|v| vec![(vec![], v)]).unwrap_or_default();
    let mut observe = counted("source", &s.counters.observe_errors);
    observe.push((
        vec![("source", "leader-lock".into())],
        s.leader_errors as f64,
    ));
    let families = [
        family(
            "gauge",
            "evacctl_build_info",
            "The evacctl version running (always 1).",
            vec![(
                vec![("version", s.version.clone()), ("commit", s.commit.clone())],
                1.0,
            )],
        ),
        family(
            "gauge",
            "evacctl_config_info",
            "The configuration loaded: the SHA-256 of its file (always 1).",
            vec![(vec![("hash", s.config_hash.clone())], 1.0)],
        ),
        family(
            "gauge",
            "evacctl_host_state",
            "Each host's state in the watch loop (1 for its current state).",
            s.hosts
                .iter()
                .map(|(h, st)| (vec![("host", h.clone()), ("state", st.clone())], 1.0))
                .collect(),
        ),
        family(
            "gauge",
            "evacctl_gate_active",
            "1 while a gate holds the loop back from acting.",
            GATES
                .iter()
                .map(|g| (vec![("gate", g.to_string())], flag(s.gate == *g)))
                .collect(),
        ),
        family(
            "gauge",
            "evacctl_leader",
            "1 when this controller holds the leader lock (or needs none).",
            vec![(vec![], flag(s.leader))],
        ),
        family(
            "gauge",
            "evacctl_cycle_duration_seconds",
            "How long the last cycle took.",
            one(s.cycle_duration),
        ),
        family(
            "gauge",
            "evacctl_last_cycle_timestamp_seconds",
            "When the last cycle ended (Unix time).",
            one(s.last_cycle),
        ),
        family(
            "gauge",
            "evacctl_last_cycle_success_timestamp_seconds",
            "When the last cycle that observed the cloud ended (Unix time).",
            one(s.last_success),
        ),
        family(
            "counter",
            "evacctl_evacuations_total",
            "Evacuation requests, by result (from the journal).",
            counted("result", &s.counters.evacuations),
        ),
        family(
            "counter",
            "evacctl_fencing_total",
            "Fencing (power off, confirmed by the BMC), by result (from the journal).",
            counted("result", &s.counters.fencing),
        ),
        family(
            "counter",
            "evacctl_observe_errors_total",
            "Cycles that could not observe the cloud (from the journal), and leader-lock \
             requests that failed (this process).",
            observe,
        ),
    ];
    let mut out = String::new();
    for f in &families {
        let _ = writeln!(out, "# HELP {} {}", f.name, escape_help(f.help));
        let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind);
        for (labels, value) in &f.samples {
            out.push_str(f.name);
            if !labels.is_empty() {
                let inner: Vec<String> = labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                    .collect();
                let _ = write!(out, "{{{}}}", inner.join(","));
            }
            let _ = writeln!(out, " {}", number(*value));
        }
    }
    out
}

/// A label value: backslash, double quote and line feed escaped.
pub fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// HELP text: backslash and line feed escaped.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value: integers without a fraction, `NaN` and `±Inf` as Prometheus spells them.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The value of an unlabelled sample in a rendered text, e.g. the last success time kept in
/// the textfile by the previous cron run.
pub fn sample_value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .find_map(|v| v.trim().parse().ok())
}

/// Writes `text` to `path` as node_exporter's textfile collector wants it: a temporary file
/// in the same directory (a rename is atomic only within a file system), mode 0644, flushed,
/// then renamed over `path`.
pub fn write_textfile(path: &Path, text: &str) -> std::io::Result<()> {
    // Synced: the collector may read it at any time after a crash too.
    crate::files::replace(path, text.as_bytes(), 0o644, true)
}

/// The SHA-256 (hex) of the configuration file `config` was read from; `""` for the
/// built-in defaults (or a file gone since).
pub fn config_hash(config: &Config) -> String {
    let Some(path) = config.path() else {
        return String::new();
    };
    match crate::files::read_limited(path, crate::config::MAX_CONFIG_BYTES) {
        Ok(bytes) => ring::digest::digest(&ring::digest::SHA256, &bytes)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        Err(_) => String::new(),
    }
}

/// What a cycle tells the metrics.
pub struct CycleFacts<'a> {
    /// Each host and its state; `None` when the cloud was not observed (the last known
    /// states stay).
    pub hosts: Option<Vec<(String, String)>>,
    pub gate: &'a str,
    pub leader: bool,
    pub leader_error: bool,
    pub duration: f64,
}

/// Keeps the snapshot across cycles and publishes it (textfile, `/metrics`) after each.
pub struct Publisher {
    snapshot: Snapshot,
    textfile: Option<PathBuf>,
    served: Option<serve::Exposition>,
    journal: PathBuf,
    /// The journal's length when last counted: read again only when it changed.
    journal_len: Option<u64>,
}

impl Publisher {
    /// Starts `[metrics]`: binds `listen` (an error when it cannot), and takes the last
    /// success time from the textfile the previous run left (cron runs one cycle a process).
    pub fn start(config: &Config, hash: &str, journal: &Path) -> std::io::Result<Publisher> {
        let m = &config.metrics;
        let mut snapshot = Snapshot {
            version: env!("CARGO_PKG_VERSION").into(),
            commit: env!("EVACCTL_GIT_COMMIT").into(),
            config_hash: hash.to_string(),
            ..Snapshot::default()
        };
        if let Some(path) = &m.textfile
            && let Ok(bytes) = crate::files::read_limited(path, 1 << 20)
        {
            let text = String::from_utf8_lossy(&bytes);
            snapshot.last_success =
                sample_value(&text, "evacctl_last_cycle_success_timestamp_seconds");
        }
        let served = match m.listen {
            Some(addr) => {
                let text = serve::Exposition::default();
                text.set(render(&snapshot));
                let server = serve::Server::start(addr, text.clone()).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("[metrics] listen = \"{addr}\": {e}"))
                })?;
                tracing::info!("metrics: serving http://{}/metrics", server.addr);
                Some(text)
            }
            None => None,
        };
        Ok(Publisher {
            snapshot,
            textfile: m.textfile.clone(),
            served,
            journal: journal.to_path_buf(),
            journal_len: None,
        })
    }

    /// A reloaded configuration: its hash, and its textfile (`listen` needs a restart).
    pub fn reconfigure(&mut self, hash: &str, metrics: &MetricsConfig) {
        self.snapshot.config_hash = hash.to_string();
        self.textfile = metrics.textfile.clone();
        if let Some(text) = &self.served {
            text.set(render(&self.snapshot));
        }
    }

    /// After a cycle: the new snapshot, written and served. A textfile that cannot be written
    /// is a warning: the loop goes on.
    pub fn cycle(&mut self, facts: CycleFacts<'_>) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let s = &mut self.snapshot;
        if let Some(hosts) = facts.hosts {
            s.hosts = hosts;
            s.last_success = Some(now);
        }
        s.gate = facts.gate.to_string();
        s.leader = facts.leader;
        s.leader_errors += u64::from(facts.leader_error);
        s.cycle_duration = Some(facts.duration);
        s.last_cycle = Some(now);
        // The journal folded: its checkpoint and what was appended since (in this process,
        // since the last cycle); nothing to do when it has not grown.
        let len = std::fs::metadata(&self.journal).ok().map(|m| m.len());
        if len != self.journal_len {
            match crate::journal::summary(&self.journal, false) {
                Ok((journal, _)) => {
                    s.counters = Counters::from_summary(&journal);
                    self.journal_len = len;
                }
                Err(e) => tracing::warn!("metrics: cannot read the journal: {e}"),
            }
        }
        let text = render(s);
        if let Some(path) = &self.textfile
            && let Err(e) = write_textfile(path, &text)
        {
            tracing::warn!("metrics: cannot write {}: {e}", path.display());
        }
        if let Some(served) = &self.served {
            served.set(text);
        }
    }
}

#[cfg(test)]
mod tests;
