//! The journal's records and the questions the runbook asks of them: where a host's failure
//! episode begins, which evacuations Nova accepted, which requests are in doubt, which
//! take-over holds still run. Pure: `journal` reads and writes the file, `lock` carries a
//! hold in the leader key; both use these types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::evacuable::{JournalState, Takeover};
use crate::core::time::parse_timestamp;
use crate::core::watch::{HostState, RESTORED, STATE_ACTION};

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

/// The journal action of failed (and recovered) observations of the cloud.
pub const OBSERVE_ACTION: &str = "observe";

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
