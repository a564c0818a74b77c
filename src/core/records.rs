//! The journal's records and the questions the runbook asks of them: where a host's failure
//! episode begins, which evacuations Nova accepted, which requests are in doubt, which
//! take-over holds still run. Pure: `journal` reads and writes the file, `lock` carries a
//! hold in the leader key; both use these types.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::core::evacuable::{JournalState, Takeover, later_by};
use crate::core::time::parse_timestamp;
use crate::core::watch::{HostState, Memory, RESTORED, STATE_ACTION};

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
    /// The server's name, with `server` (the history shows both; older journals lack it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
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

/// The journal action of a verified (or failed) evacuation: `server` on `target`, where
/// Nova shows it after its evacuation from `host`; status `ok` or `failed` (`detail`: why).
pub const VERIFIED_ACTION: &str = "evacuate-verified";

/// The journal action of cluster-wide alerts (host `"*"`: a gate, the cloud not observed).
pub const ALERT_ACTION: &str = "alert";
/// The status of the record that says a cluster-wide alert ended.
pub const ALERT_ENDED: &str = "ended";

/// A cluster-wide alert under way: its reason and when it was last sent (seconds since the
/// Unix epoch).
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterAlert {
    pub reason: String,
    pub sent: f64,
}

/// The cluster-wide alert the journal says is under way, if any: its last `alert` record
/// without a host, unless an `ended` one came after. Kept in the journal so that cron runs
/// (one cycle a process) send an alert when it starts, changes or ends, never once a cycle.
pub fn cluster_alert(records: &[Record]) -> Option<ClusterAlert> {
    let last = records
        .iter()
        .rev()
        .find(|r| r.action == ALERT_ACTION && r.host.is_none())?;
    if last.status == ALERT_ENDED {
        return None;
    }
    let sent = parse_timestamp(&last.ts)
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64());
    Some(ClusterAlert {
        reason: last.detail.clone().unwrap_or_default(),
        sent,
    })
}

/// Evacuation requests of a holder that may still reach Nova until `until` (RFC 3339), on
/// `hosts` (`None`: any host).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub until: String,
    pub hosts: Option<Vec<String>>,
}

/// Where the current failure episode of `host` begins: after its last record that says it was
/// back in service (`restored` by `evacctl restore`, `healthy` in `watch`), so that an earlier
/// failure's evacuations neither block nor fail this one's (seen on Zed: a failed migration
/// of an earlier failure made every later verification fail). The index of the episode's
/// first record, and that record's time when the host has one there.
pub fn episode_of<'a>(records: &'a [Record], host: &str) -> (usize, Option<&'a str>) {
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
            extend(later_by(ts, api_timeout), Some(host));
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
        // Rounded up to the second, never down: the text must hold at least the whole time.
        until: humantime::format_rfc3339_seconds(later_by(u, Duration::from_nanos(999_999_999)))
            .to_string(),
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
            // Never sent (a signal stopped the run first): nothing for Nova to act on, so
            // nothing in doubt; a re-run sends it at once.
            (Kind::Result, NOT_SENT) => {
                out.remove(server);
            }
            (Kind::Result, _) => {
                out.remove(server);
            }
            (Kind::Event, _) => {}
        }
    }
    out
}

/// The result status of a journaled request that was never sent: a signal stopped the run
/// between its intent and its turn.
pub const NOT_SENT: &str = "not-sent";

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

/// The latest memory of every host from the journal's `state` records (the last wins).
pub fn memories_from(records: &[Record]) -> BTreeMap<String, Memory> {
    let mut out = BTreeMap::new();
    for r in records.iter().filter(|r| r.action == STATE_ACTION) {
        let Some(host) = &r.host else { continue };
        if r.status == RESTORED {
            out.remove(host);
            continue;
        }
        let mem = r
            .data
            .as_ref()
            .and_then(|d| serde_json::from_value::<Memory>(d.clone()).ok())
            .or_else(|| {
                HostState::parse(&r.status).map(|s| Memory {
                    state: Some(s),
                    reason: r.detail.clone().unwrap_or_default(),
                    ..Memory::default()
                })
            });
        if let Some(m) = mem {
            out.insert(host.clone(), m);
        }
    }
    out
}
