//! What `watch`'s quiet path needs of the whole journal, folded one record at a time: each
//! host's memory, the failed observations in a row, the cluster-wide alert under way, the
//! evacuation requests in doubt, the take-over holds, the spares consumed and the counters.
//!
//! A fold can be kept beside the journal (a checkpoint) and brought up to date with only the
//! records appended since, so a year of journal is not parsed again by every cron run. The
//! rule that keeps it honest: folding the whole journal gives what folding a checkpoint of
//! any prefix, then the rest, gives (tested below).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::core::evacuable::later_by;
use crate::core::records::{
    ALERT_ACTION, ALERT_ENDED, ClusterAlert, Hold, Kind, NO_ANSWER, OBSERVE_ACTION, Record,
    TAKEOVER_ACTION,
};
use crate::core::targets::spare_change;
use crate::core::time::parse_timestamp;
use crate::core::watch::{HostState, Memory, RESTORED, STATE_ACTION};

/// Bumped whenever what a fold keeps, or how, changes: a checkpoint of another format is not
/// trusted (the journal is read whole again).
pub const FORMAT: u32 = 1;

/// The journal folded (see the module's documentation).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Summary {
    /// Each host's latest memory (its `state` records; `restored` forgets it).
    pub memories: BTreeMap<String, Memory>,
    /// The `observe` records that failed since the last one that did not.
    pub observe_failures: u32,
    /// The last cluster-wide `alert` record (no host).
    pub last_alert: Option<Record>,
    /// Evacuation requests whose last record says they may still reach Nova (an intent, or
    /// no clear answer): run, then host, then server, to the time of that record.
    pub in_doubt: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>,
    /// Every take-over record (rare: one per leader that died holding the lock).
    pub takeovers: Vec<Record>,
    /// Reserved hosts enabled for an evacuation and not reserved again since.
    pub consumed_spares: BTreeSet<String>,
    /// Result records, by action and status.
    pub results: BTreeMap<String, BTreeMap<String, u64>>,
    /// Failed observations, in all.
    pub observe_failed: u64,
}

impl Summary {
    /// The fold of `records`, in order.
    pub fn of(records: &[Record]) -> Summary {
        let mut s = Summary::default();
        for r in records {
            s.apply(r);
        }
        s
    }

    /// Folds in the next record.
    pub fn apply(&mut self, r: &Record) {
        if r.action == STATE_ACTION {
            apply_state(&mut self.memories, r);
        }
        if r.action == OBSERVE_ACTION {
            if r.status == "failed" {
                self.observe_failures += 1;
                if r.kind == Kind::Event {
                    self.observe_failed += 1;
                }
            } else {
                self.observe_failures = 0;
            }
        }
        if r.action == ALERT_ACTION && r.host.is_none() {
            self.last_alert = Some(r.clone());
        }
        if r.action == "evacuate"
            && let (Some(host), Some(server)) = (&r.host, &r.server)
        {
            let doubt = r.kind == Kind::Intent || (r.kind == Kind::Result && r.status == NO_ANSWER);
            if doubt {
                self.in_doubt
                    .entry(r.run_id.clone())
                    .or_default()
                    .entry(host.clone())
                    .or_default()
                    .insert(server.clone(), r.ts.clone());
            } else if let Some(hosts) = self.in_doubt.get_mut(&r.run_id) {
                if let Some(servers) = hosts.get_mut(host) {
                    servers.remove(server);
                    if servers.is_empty() {
                        hosts.remove(host);
                    }
                }
                if hosts.is_empty() {
                    self.in_doubt.remove(&r.run_id);
                }
            }
        }
        if r.action == TAKEOVER_ACTION && r.kind == Kind::Event {
            self.takeovers.push(r.clone());
        }
        match spare_change(r) {
            Some((host, true)) => {
                self.consumed_spares.insert(host.to_string());
            }
            Some((host, false)) => {
                self.consumed_spares.remove(host);
            }
            None => {}
        }
        if r.kind == Kind::Result {
            *self
                .results
                .entry(r.action.clone())
                .or_default()
                .entry(r.status.clone())
                .or_default() += 1;
        }
    }

    /// The cluster-wide alert under way, if any: the last `alert` record without a host,
    /// unless it is an `ended` one. Kept in the journal so that cron runs (one cycle a
    /// process) send an alert when it starts, changes or ends, never once a cycle.
    pub fn cluster_alert(&self) -> Option<ClusterAlert> {
        alert_of(self.last_alert.as_ref()?)
    }

    /// The spares consumed, as the target rules take them.
    pub fn consumed_spares(&self) -> HashSet<String> {
        self.consumed_spares.iter().cloned().collect()
    }

    /// What a controller handing the leader lock over must pass on (`None`: nothing): the
    /// requests of run `run_id` that got no clear answer (Nova may act on them until
    /// `api_timeout` after their last record), and the take-over holds still running. The
    /// next leader may be another controller, whose journal knows none of it.
    pub fn hand_over_hold(
        &self,
        run_id: &str,
        api_timeout: Duration,
        now: SystemTime,
    ) -> Option<Hold> {
        let mut until: Option<SystemTime> = None;
        // `None`: every host.
        let mut hosts: Option<BTreeSet<String>> = Some(BTreeSet::new());
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
        for (host, servers) in self.in_doubt.get(run_id).into_iter().flatten() {
            for ts in servers.values() {
                if let Some(t) = parse_timestamp(ts) {
                    extend(later_by(t, api_timeout), Some(host));
                }
            }
        }
        for data in self.takeovers.iter().filter_map(|r| r.data.as_ref()) {
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
            until: humantime::format_rfc3339_seconds(later_by(
                u,
                Duration::from_nanos(999_999_999),
            ))
            .to_string(),
            hosts: hosts.map(|set| set.into_iter().collect()),
        })
    }
}

/// The latest memory of every host from the journal's `state` records (the last wins).
pub fn memories_from(records: &[Record]) -> BTreeMap<String, Memory> {
    let mut out = BTreeMap::new();
    for r in records.iter().filter(|r| r.action == STATE_ACTION) {
        apply_state(&mut out, r);
    }
    out
}

/// A host's `state` record folded into the memories: the last wins, `restored` forgets.
pub(crate) fn apply_state(memories: &mut BTreeMap<String, Memory>, r: &Record) {
    let Some(host) = &r.host else { return };
    if r.status == RESTORED {
        memories.remove(host);
        return;
    }
    let mem = r
        .data
        .as_ref()
        .and_then(|d| Memory::deserialize(d).ok())
        .or_else(|| {
            HostState::parse(&r.status).map(|s| Memory {
                state: Some(s),
                reason: r.detail.clone().unwrap_or_default(),
                ..Memory::default()
            })
        });
    if let Some(m) = mem {
        memories.insert(host.clone(), m);
    }
}

/// The alert a cluster-wide `alert` record leaves under way (none once `ended`).
pub(crate) fn alert_of(last: &Record) -> Option<ClusterAlert> {
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

#[cfg(test)]
mod tests;
