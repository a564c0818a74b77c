//! The journal: an append-only file of JSON lines, fsynced, one record before each request is
//! sent (`intent`) and one after it is answered (`result`), per host and per server, with a run
//! id and timestamps. It is how a killed run resumes without doing anything twice, and the
//! evacuation history operators read (`jq`, `grep`).
//!
//! The record is general (kind, action, host, target, server, status, detail) so that
//! `migrate-volumes` and `watch` write to the same file.
//!
//! The file's directory is created (mode 0700) when it does not exist: at 3 a.m. a missing
//! `/var/lib/evacctl` must not stop an evacuation. A line that cannot be parsed (a torn last
//! line after a crash) is skipped with a warning when reading.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::core::evacuable::{JournalState, Takeover};
use crate::lock::Hold;
use crate::openstack::parse_timestamp;

/// The environment variable that overrides `[journal] path` (so does `--journal`).
pub const ENV_VAR: &str = "EVACCTL_JOURNAL";

/// The journal file to use: `EVACCTL_JOURNAL` when set and not empty, else the configured one.
pub fn path_from(configured: &Path) -> PathBuf {
    match std::env::var_os(ENV_VAR) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => configured.to_path_buf(),
    }
}

/// Before or after a request, or a plain event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Written (and synced) before the request is sent.
    Intent,
    /// Written after the answer (or the failure to get one).
    Result,
    /// Anything else worth keeping (a plan, a refusal, a skip).
    Event,
}

/// One line of the journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// RFC 3339, UTC, microseconds.
    pub ts: String,
    pub run_id: String,
    pub kind: Kind,
    /// `evacuate`, `force-down`, `disable`, `migrate-volume`, ...
    pub action: String,
    /// The failed host the action is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// intent: `sending`; result: `accepted`, `failed`, `ok`, ...; event: free.
    pub status: String,
    /// The server's status before the action (what `verify` expects back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Structured state (`watch` keeps each host's memory here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

/// The optional fields of a record.
#[derive(Clone, Debug, Default)]
pub struct Fields<'a> {
    pub host: Option<&'a str>,
    pub target: Option<&'a str>,
    pub server: Option<&'a str>,
    pub server_status: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub detail: Option<&'a str>,
    pub data: Option<&'a serde_json::Value>,
}

/// The journal, open for appending. Shared between worker threads.
pub struct Journal {
    path: PathBuf,
    run_id: String,
    file: File,
    write_lock: Mutex<()>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.path)
            .field("run_id", &self.run_id)
            .finish_non_exhaustive()
    }
}

/// `20261122T031209Z-3f2a9c1d`: sortable, and unique enough across controllers.
pub fn new_run_id() -> String {
    let t = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let compact: String = t.chars().filter(|c| *c != '-' && *c != ':').collect();
    format!("{compact}-{}", crate::ids::random_hex(4))
}

fn now() -> String {
    humantime::format_rfc3339_micros(SystemTime::now()).to_string()
}

impl Journal {
    /// Opens (creating it, and its directory, if needed) for appending under a new run id.
    pub fn open(path: &Path) -> io::Result<Journal> {
        let context = |what: &str, e: io::Error| {
            io::Error::new(
                e.kind(),
                format!("journal {}: cannot {what}: {e}", path.display()),
            )
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.exists()
        {
            create_private_dir(dir).map_err(|e| context("create its directory", e))?;
            tracing::info!("created the journal directory {}", dir.display());
        }
        let mut opts = OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts.open(path).map_err(|e| context("open it", e))?;
        Ok(Journal {
            path: path.to_path_buf(),
            run_id: new_run_id(),
            file,
            write_lock: Mutex::new(()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Appends one record and syncs it to disk before returning.
    pub fn append(&self, kind: Kind, action: &str, status: &str, f: Fields<'_>) -> io::Result<()> {
        self.write_lines(&[(kind, action, status, f)])?;
        self.sync()
    }

    /// Appends several records with one sync: the intents of a whole batch of requests,
    /// durable before the first is sent.
    pub fn append_all(&self, records: &[(Kind, &str, &str, Fields<'_>)]) -> io::Result<()> {
        self.write_lines(records)?;
        self.sync()
    }

    /// Appends a record without waiting for the disk: for results of a batch whose intents are
    /// already durable. A crash can lose such a record; its intent then reads "in doubt", and
    /// Nova's own records decide (see [`evacuations_from`]). [`Journal::sync`] ends the batch.
    pub fn append_unsynced(
        &self,
        kind: Kind,
        action: &str,
        status: &str,
        f: Fields<'_>,
    ) -> io::Result<()> {
        self.write_lines(&[(kind, action, status, f)])
    }

    /// Makes every record written so far durable.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data().map_err(|e| self.error(e))
    }

    fn error(&self, e: io::Error) -> io::Error {
        io::Error::new(
            e.kind(),
            format!("journal {}: cannot write: {e}", self.path.display()),
        )
    }

    fn write_lines(&self, records: &[(Kind, &str, &str, Fields<'_>)]) -> io::Result<()> {
        let ts = now();
        let mut buf = Vec::new();
        for (kind, action, status, f) in records {
            let record = Record {
                ts: ts.clone(),
                run_id: self.run_id.clone(),
                kind: *kind,
                action: action.to_string(),
                host: f.host.map(str::to_string),
                target: f.target.map(str::to_string),
                server: f.server.map(str::to_string),
                status: status.to_string(),
                server_status: f.server_status.map(str::to_string),
                request_id: f.request_id.map(str::to_string),
                detail: f.detail.map(str::to_string),
                data: f.data.cloned(),
            };
            serde_json::to_writer(&mut buf, &record)?;
            buf.push(b'\n');
        }
        // The lock keeps lines whole; syncs run outside it, so concurrent writers share the
        // disk's flushes (a sync makes every line written before it durable).
        // A poisoned lock only means another writer panicked; the file is still whole.
        let _guard = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        (&self.file).write_all(&buf).map_err(|e| self.error(e))
    }
}

pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

/// Every record of a journal file (none if it does not exist). Lines that do not parse are
/// skipped and counted.
pub fn read(path: &Path) -> io::Result<(Vec<Record>, usize)> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("journal {}: cannot read it: {e}", path.display()),
            ));
        }
    };
    let mut records = Vec::new();
    let mut bad = 0;
    for (i, line) in BufReader::new(file).split(b'\n').enumerate() {
        let line = line?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Record>(&line) {
            Ok(r) => records.push(r),
            Err(e) => {
                bad += 1;
                tracing::warn!(
                    "journal {}: line {} skipped (not a record: {e})",
                    path.display(),
                    i + 1
                );
            }
        }
    }
    Ok((records, bad))
}

/// Where the current failure episode of `host` begins: after its last record that says it was
/// back in service (`restored` by `evacctl restore`, `healthy` in `watch`), so that an earlier
/// failure's evacuations neither block nor fail this one's (seen on Zed: a failed migration
/// of an earlier failure made every later verification fail). The index of the episode's
/// first record, and that record's time when the host has one there.
pub fn episode_of<'a>(records: &'a [Record], host: &str) -> (usize, Option<&'a str>) {
    use crate::core::watch::{HostState, RESTORED, STATE_ACTION};
    let mine = |r: &Record| r.host.as_deref() == Some(host);
    let start = records
        .iter()
        .rposition(|r| {
            mine(r)
                && r.action == STATE_ACTION
                && (r.status == RESTORED || r.status == HostState::Healthy.as_str())
        })
        .map_or(0, |i| i + 1);
    let first = records[start..].iter().find(|r| mine(r));
    (start, first.map(|r| r.ts.as_str()))
}

/// The journal action of a take-over of the leader lock from a controller that died holding
/// it (`target`: that controller's identity).
pub const TAKEOVER_ACTION: &str = "takeover";

/// The take-over hold that concerns `host`: of every `takeover` record naming it (its
/// `data.hosts`, or `null`: all hosts), the one that ends last (`data.until`). The previous
/// holder's evacuation requests are not in this journal and may reach Nova until then.
pub fn takeover(records: &[Record], host: &str) -> Option<Takeover> {
    records
        .iter()
        .filter(|r| r.action == TAKEOVER_ACTION && r.kind == Kind::Event)
        .filter_map(|r| {
            let data = r.data.as_ref()?;
            let until = data.get("until")?.as_str()?;
            let concerned = match data.get("hosts").and_then(|h| h.as_array()) {
                Some(list) => list.iter().any(|h| h.as_str() == Some(host)),
                None => true,
            };
            concerned.then(|| Takeover {
                holder: r
                    .target
                    .clone()
                    .unwrap_or_else(|| "another controller".into()),
                until: until.to_string(),
            })
        })
        .max_by_key(|t| parse_timestamp(&t.until))
}

/// What a controller handing the leader lock over must pass on (`None`: nothing): requests of
/// run `run_id` that got no clear answer (Nova may act on them until `api_timeout` after
/// their last record), and take-over holds of this journal still running. The next leader
/// may be another controller, whose journal knows none of it.
pub fn hand_over_hold(
    records: &[Record],
    run_id: &str,
    api_timeout: Duration,
    now: SystemTime,
) -> Option<Hold> {
    let mut until: Option<SystemTime> = None;
    // `None`: every host.
    let mut hosts: Option<std::collections::BTreeSet<String>> = Some(Default::default());
    let mut extend = |end: SystemTime, host: Option<&str>| {
        if end <= now {
            return;
        }
        until = Some(until.map_or(end, |u| u.max(end)));
        match (host, hosts.as_mut()) {
            (Some(h), Some(set)) => {
                set.insert(h.to_string());
            }
            (None, _) => hosts = None,
            (Some(_), None) => {}
        }
    };
    // Each server's last record of this run: an intent without result, or no clear answer.
    let mut last: BTreeMap<(&str, &str), &Record> = BTreeMap::new();
    for r in records
        .iter()
        .filter(|r| r.run_id == run_id && r.action == "evacuate")
    {
        if let (Some(h), Some(sv)) = (&r.host, &r.server) {
            last.insert((h.as_str(), sv.as_str()), r);
        }
    }
    for ((host, _), r) in &last {
        let doubt = r.kind == Kind::Intent || (r.kind == Kind::Result && r.status == NO_ANSWER);
        if let (true, Some(ts)) = (doubt, parse_timestamp(&r.ts)) {
            extend(ts + api_timeout, Some(host));
        }
    }
    for r in records
        .iter()
        .filter(|r| r.action == TAKEOVER_ACTION && r.kind == Kind::Event)
    {
        let Some(data) = &r.data else { continue };
        let Some(end) = data
            .get("until")
            .and_then(|u| u.as_str())
            .and_then(parse_timestamp)
        else {
            continue;
        };
        match data.get("hosts").and_then(|h| h.as_array()) {
            Some(list) => {
                for h in list.iter().filter_map(|h| h.as_str()) {
                    extend(end, Some(h));
                }
            }
            None => extend(end, None),
        }
    }
    until.map(|u| Hold {
        until: humantime::format_rfc3339_seconds(u).to_string(),
        hosts: hosts.map(|set| set.into_iter().collect()),
    })
}

/// What the journal says about each server evacuated from `host` in its current episode
/// ([`episode_of`]): the last `evacuate`
/// intent or result wins (a refused request leaves nothing to skip). A request in doubt carries
/// the last record of the run that sent it: that run was alive until then, and its request
/// left no later than just after.
pub fn evacuations_from(records: &[Record], host: &str) -> BTreeMap<String, JournalState> {
    let mut last_of_run: BTreeMap<&str, &str> = BTreeMap::new();
    for r in records {
        last_of_run.insert(&r.run_id, &r.ts);
    }
    let mut out = BTreeMap::new();
    let (start, _) = episode_of(records, host);
    for r in records[start..]
        .iter()
        .filter(|r| r.action == "evacuate" && r.host.as_deref() == Some(host))
    {
        let Some(server) = &r.server else { continue };
        match (r.kind, r.status.as_str()) {
            (Kind::Intent, _) => {
                out.insert(
                    server.clone(),
                    JournalState::InDoubt {
                        run_id: r.run_id.clone(),
                        last_seen: last_of_run
                            .get(r.run_id.as_str())
                            .map_or_else(|| r.ts.clone(), |t| t.to_string()),
                    },
                );
            }
            // No clear answer: Nova may still act on it, as on a killed run's request.
            (Kind::Result, NO_ANSWER) => {
                out.insert(
                    server.clone(),
                    JournalState::InDoubt {
                        run_id: r.run_id.clone(),
                        last_seen: r.ts.clone(),
                    },
                );
            }
            (Kind::Result, "accepted") => {
                out.insert(
                    server.clone(),
                    JournalState::Accepted {
                        run_id: r.run_id.clone(),
                        at: r.ts.clone(),
                    },
                );
            }
            (Kind::Result, _) => {
                out.remove(server);
            }
            (Kind::Event, _) => {}
        }
    }
    out
}

/// The result status of an evacuation request that got no clear answer (a timeout, a reset, a
/// gateway's 502/504): in doubt, like a request of a killed run.
pub const NO_ANSWER: &str = "no-answer";

/// An accepted evacuation as `verify` needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub server: String,
    pub run_id: String,
    pub at: String,
    /// The target asked for, if any.
    pub target: Option<String>,
    /// The server's status before (ACTIVE, SHUTOFF, ERROR).
    pub status_before: Option<String>,
}

/// The evacuations from `host` Nova accepted in its current episode ([`episode_of`]), newest
/// per server.
pub fn accepted_from(records: &[Record], host: &str) -> BTreeMap<String, Accepted> {
    let mut out = BTreeMap::new();
    let (start, _) = episode_of(records, host);
    for r in records[start..].iter().filter(|r| {
        r.action == "evacuate"
            && r.kind == Kind::Result
            && r.status == "accepted"
            && r.host.as_deref() == Some(host)
    }) {
        let Some(server) = &r.server else { continue };
        out.insert(
            server.clone(),
            Accepted {
                server: server.clone(),
                run_id: r.run_id.clone(),
                at: r.ts.clone(),
                target: r.target.clone(),
                status_before: r.server_status.clone(),
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields<'a>(server: &'a str) -> Fields<'a> {
        Fields {
            host: Some("compute-1"),
            server: Some(server),
            server_status: Some("ACTIVE"),
            ..Default::default()
        }
    }

    #[test]
    fn a_request_without_a_clear_answer_stays_in_doubt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let j = Journal::open(&path).unwrap();
        for (server, status) in [("a", NO_ANSWER), ("b", "failed")] {
            j.append(Kind::Intent, "evacuate", "sending", fields(server))
                .unwrap();
            j.append(Kind::Result, "evacuate", status, fields(server))
                .unwrap();
        }
        let (records, _) = read(&path).unwrap();
        let got = evacuations_from(&records, "compute-1");
        assert!(
            matches!(got.get("a"), Some(JournalState::InDoubt { .. })),
            "{got:?}"
        );
        // A refusal Nova answered leaves nothing to wait for: it may be sent again.
        assert!(!got.contains_key("b"), "{got:?}");
    }

    #[test]
    fn appends_syncs_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/journal.jsonl");
        let j = Journal::open(&path).unwrap();
        assert!(path.exists(), "directory and file created");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        j.append(Kind::Intent, "evacuate", "sending", fields("a"))
            .unwrap();
        j.append(
            Kind::Result,
            "evacuate",
            "accepted",
            Fields {
                target: Some("compute-2"),
                request_id: Some("req-1"),
                ..fields("a")
            },
        )
        .unwrap();
        j.append(Kind::Intent, "evacuate", "sending", fields("b"))
            .unwrap();
        j.append(
            Kind::Intent,
            "evacuate",
            "sending",
            Fields {
                host: Some("compute-9"),
                ..fields("c")
            },
        )
        .unwrap();
        j.append(Kind::Intent, "evacuate", "sending", fields("d"))
            .unwrap();
        j.append(
            Kind::Result,
            "evacuate",
            "failed",
            Fields {
                detail: Some("HTTP 409"),
                ..fields("d")
            },
        )
        .unwrap();
        // A torn line from a crash is skipped.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"ts\": \"2026")
            .unwrap();
        let (records, bad) = read(&path).unwrap();
        assert_eq!((records.len(), bad), (6, 1));
        assert!(records.iter().all(|r| r.run_id == j.run_id()));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.lines().next().unwrap().contains("\"kind\":\"intent\""));

        let state = evacuations_from(&records, "compute-1");
        assert!(matches!(state["a"], JournalState::Accepted { .. }));
        assert!(matches!(state["b"], JournalState::InDoubt { .. }));
        assert!(!state.contains_key("c"), "another host");
        assert!(!state.contains_key("d"), "refused: nothing to skip");
        let acc = accepted_from(&records, "compute-1");
        assert_eq!(acc.len(), 1);
        assert_eq!(acc["a"].target.as_deref(), Some("compute-2"));
        assert_eq!(acc["a"].status_before.as_deref(), Some("ACTIVE"));
    }

    /// A host evacuated, restored, and failing again: the first failure's records neither
    /// skip a server (moved back since) nor count for the new verification.
    #[test]
    fn a_host_back_in_service_starts_a_new_episode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let j = Journal::open(&path).unwrap();
        let state = |status: &str| {
            j.append(
                Kind::Event,
                crate::core::watch::STATE_ACTION,
                status,
                Fields {
                    host: Some("compute-1"),
                    ..Default::default()
                },
            )
            .unwrap()
        };
        state("suspect");
        j.append(Kind::Intent, "evacuate", "sending", fields("a"))
            .unwrap();
        j.append(Kind::Result, "evacuate", "accepted", fields("a"))
            .unwrap();
        let (records, _) = read(&path).unwrap();
        assert_eq!(episode_of(&records, "compute-1").0, 0);
        assert!(matches!(
            evacuations_from(&records, "compute-1")["a"],
            JournalState::Accepted { .. }
        ));
        state("evacuated");
        state(crate::core::watch::RESTORED);
        state("suspect");
        j.append(Kind::Intent, "evacuate", "sending", fields("b"))
            .unwrap();
        let (records, _) = read(&path).unwrap();
        let (start, since) = episode_of(&records, "compute-1");
        assert_eq!(start, 5);
        assert_eq!(since, Some(records[5].ts.as_str()));
        let now = evacuations_from(&records, "compute-1");
        assert_eq!(now.keys().collect::<Vec<_>>(), ["b"]);
        assert!(accepted_from(&records, "compute-1").is_empty());
        assert_eq!(episode_of(&records, "compute-2"), (0, None));
    }

    #[test]
    fn a_missing_journal_is_empty_and_run_ids_differ() {
        let dir = tempfile::tempdir().unwrap();
        let (r, bad) = read(&dir.path().join("none.jsonl")).unwrap();
        assert!(r.is_empty() && bad == 0);
        let (a, b) = (new_run_id(), new_run_id());
        assert_ne!(a, b);
        assert!(a.len() > 20 && a.contains('T') && a.contains("Z-"), "{a}");
    }

    #[test]
    fn concurrent_writers_keep_lines_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let j = Journal::open(&path).unwrap();
        let ids: Vec<String> = (0..40).map(|i| format!("s{i}")).collect();
        crate::pool::map_bounded(&ids, 8, |id| {
            j.append(Kind::Intent, "evacuate", "sending", fields(id))
                .unwrap()
        });
        let (records, bad) = read(&path).unwrap();
        assert_eq!((records.len(), bad), (40, 0));
    }

    #[test]
    fn takeover_holds_name_their_hosts_and_the_latest_end_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let j = Journal::open(&path).unwrap();
        let (records, _) = read(&path).unwrap();
        assert_eq!(takeover(&records, "compute-3"), None);
        let take = |holder: &str, data: serde_json::Value| {
            j.append(
                Kind::Event,
                TAKEOVER_ACTION,
                "in-doubt",
                Fields {
                    target: Some(holder),
                    data: Some(&data),
                    ..Default::default()
                },
            )
            .unwrap();
        };
        take(
            "ctl-1",
            serde_json::json!({"hosts": ["compute-3"], "until": "2026-11-22T01:41:00Z"}),
        );
        // A later take-over that holds nothing does not end the earlier hold.
        take(
            "ctl-2",
            serde_json::json!({"hosts": [], "until": "2026-11-22T01:40:30Z"}),
        );
        let (records, _) = read(&path).unwrap();
        assert_eq!(takeover(&records, "compute-2"), None);
        let t = takeover(&records, "compute-3").unwrap();
        assert_eq!(
            (t.holder.as_str(), t.until.as_str()),
            ("ctl-1", "2026-11-22T01:41:00Z")
        );
        // `null` hosts: every host.
        take(
            "ctl-3",
            serde_json::json!({"hosts": null, "until": "2026-11-22T01:42:00Z"}),
        );
        let (records, _) = read(&path).unwrap();
        assert_eq!(takeover(&records, "compute-2").unwrap().holder, "ctl-3");
        assert_eq!(takeover(&records, "compute-3").unwrap().holder, "ctl-3");
    }

    #[test]
    fn a_hand_over_passes_on_what_is_still_in_doubt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let j = Journal::open(&path).unwrap();
        let ev = |host: &str, server: &str, kind: Kind, status: &str| {
            j.append(
                kind,
                "evacuate",
                status,
                Fields {
                    host: Some(host),
                    server: Some(server),
                    ..Default::default()
                },
            )
            .unwrap();
        };
        ev("compute-3", "a", Kind::Intent, "sending");
        ev("compute-3", "a", Kind::Result, "accepted");
        let (records, _) = read(&path).unwrap();
        let now = SystemTime::now();
        let minute = Duration::from_secs(60);
        assert_eq!(hand_over_hold(&records, j.run_id(), minute, now), None);
        // No clear answer for b on compute-4: held a minute, on compute-4 only.
        ev("compute-4", "b", Kind::Intent, "sending");
        ev("compute-4", "b", Kind::Result, NO_ANSWER);
        let (records, _) = read(&path).unwrap();
        let hold = hand_over_hold(&records, j.run_id(), minute, now).unwrap();
        assert_eq!(hold.hosts, Some(vec!["compute-4".to_string()]));
        let until = parse_timestamp(&hold.until).unwrap();
        assert!(until > now && until <= now + minute + Duration::from_secs(1));
        // Another run's records are its own; a minute later nothing is in doubt any more.
        assert_eq!(hand_over_hold(&records, "another-run", minute, now), None);
        assert_eq!(
            hand_over_hold(&records, j.run_id(), minute, now + 2 * minute),
            None
        );
        // A take-over hold of this journal still running is passed on too (all hosts here).
        let data = serde_json::json!({
            "hosts": null,
            "until": humantime::format_rfc3339_seconds(now + 3 * minute).to_string(),
        });
        j.append(
            Kind::Event,
            TAKEOVER_ACTION,
            "in-doubt",
            Fields {
                data: Some(&data),
                ..Default::default()
            },
        )
        .unwrap();
        let (records, _) = read(&path).unwrap();
        let hold = hand_over_hold(&records, j.run_id(), minute, now).unwrap();
        assert_eq!(hold.hosts, None);
        assert!(parse_timestamp(&hold.until).unwrap() > now + 2 * minute);
    }
}
