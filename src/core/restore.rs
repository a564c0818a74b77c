//! Is a repaired host ready to return to service (`evacctl restore`)? Pure decisions over what
//! the BMC, Consul and Nova said; no I/O.
//!
//! Facts from real Nova Zed (recorded in `tests/fixtures/zed/nova-restore.json`):
//! - a forced-down service reports `state: down` whatever happens, but a running nova-compute
//!   keeps writing its heartbeat: `updated_at` moves every `report_interval`;
//! - an API update (force down, disable) moves `updated_at` too, to the time of the write: a
//!   recent `updated_at` right after evacctl's own write is no heartbeat, and any other recent
//!   one counts only once it is seen moving ([`heartbeat_watch`]);
//! - `forced_down: false` is refused (HTTP 400) while `done` evacuation migrations from the
//!   host remain; they turn `completed` when the host's nova-compute starts and removes the
//!   evacuated instances' leftovers (init_host). Enabling alone is accepted.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::core::network::{HostVerdict, NetworkView, NodeLocal, host_verdict};
use crate::core::services;

/// How one readiness check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    Failed,
    /// Nothing to ask (no BMC, no Consul configured, no node-local check registered).
    Skipped,
}

/// One readiness check: `power`, `consul`, `node-local`, `heartbeat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: CheckStatus,
    pub detail: String,
}

impl Check {
    fn new(name: &'static str, status: CheckStatus, detail: impl Into<String>) -> Check {
        Check {
            name,
            status,
            detail: detail.into(),
        }
    }

    pub fn failed(&self) -> bool {
        self.status == CheckStatus::Failed
    }
}

/// What the host's BMC said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PowerFact {
    /// No `[hosts."NAME".bmc]`.
    NotConfigured,
    On,
    Off,
    /// It could not be read (unreachable, refused, unusable config).
    Unreadable(String),
}

pub fn power_check(host: &str, fact: &PowerFact) -> Check {
    let name = "power";
    match fact {
        PowerFact::NotConfigured => Check::new(
            name,
            CheckStatus::Skipped,
            format!("no [hosts.\"{host}\".bmc] configured"),
        ),
        PowerFact::On => Check::new(name, CheckStatus::Ok, "the BMC says power on"),
        PowerFact::Off => Check::new(name, CheckStatus::Failed, "the BMC says power off"),
        PowerFact::Unreadable(why) => Check::new(
            name,
            CheckStatus::Failed,
            format!("the power cannot be read, so it cannot be confirmed on: {why}"),
        ),
    }
}

/// The host's membership in every configured Consul network: only alive everywhere (seed
/// 003's `healthy`) passes. Empty `views`: no Consul configured. `observer_cut_off`: this
/// controller's own view is unusable, so nothing can be confirmed.
pub fn consul_check(views: &[NetworkView], observer_cut_off: bool) -> Check {
    let name = "consul";
    if views.is_empty() {
        return Check::new(name, CheckStatus::Skipped, "no Consul cluster configured");
    }
    if observer_cut_off {
        return Check::new(
            name,
            CheckStatus::Failed,
            "this controller looks cut off from Consul: the host's membership cannot be confirmed",
        );
    }
    let cells: Vec<String> = views
        .iter()
        .map(|v| format!("{} {}", v.cluster, v.state))
        .collect();
    if host_verdict(views).verdict == HostVerdict::Healthy {
        Check::new(
            name,
            CheckStatus::Ok,
            format!("alive in every network ({})", cells.join(", ")),
        )
    } else {
        Check::new(
            name,
            CheckStatus::Failed,
            format!("not alive in every network: {}", cells.join(", ")),
        )
    }
}

/// The node's own Consul checks of nova-compute and libvirt: critical fails, no data skips.
pub fn node_local_check(state: NodeLocal, reason: &str) -> Check {
    let name = "node-local";
    match state {
        NodeLocal::Passing | NodeLocal::Warning => Check::new(name, CheckStatus::Ok, reason),
        NodeLocal::Critical => Check::new(name, CheckStatus::Failed, reason),
        NodeLocal::NoData => Check::new(name, CheckStatus::Skipped, reason),
    }
}

/// What Nova says of the host's nova-compute heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatFacts {
    /// Nova's `state` (`up`: a heartbeat within service_down_time, from the heartbeat column
    /// that API writes do not touch).
    pub nova_up: bool,
    pub forced_down: bool,
    pub updated_at: Option<SystemTime>,
    pub now: SystemTime,
    /// The oldest heartbeat that counts (`--max-heartbeat-age`).
    pub max_age: Duration,
    /// evacctl's last write to this service (from the journal): an `updated_at` at or before
    /// it (within the column's one-second resolution) may be that write.
    pub last_own_write: Option<SystemTime>,
    /// Whether `updated_at` was seen moving while evacctl watched it (see [`heartbeat_watch`]);
    /// `None`: not watched.
    pub seen_moving: Option<bool>,
}

/// How long to watch a forced-down service's recent `updated_at` before it counts: an API write
/// moves it too (seen on Zed), while a running nova-compute moves it again within
/// report_interval. At most until it would be too old anyway. `None`: nothing to watch (not
/// forced down, already watched, or already decided by its age or evacctl's own write).
pub fn heartbeat_watch(f: &HeartbeatFacts) -> Option<Duration> {
    if !f.forced_down || f.seen_moving.is_some() {
        return None;
    }
    let updated = f.updated_at?;
    if f.last_own_write
        .is_some_and(|own| updated <= own + Duration::from_secs(1))
    {
        return None;
    }
    let age = services::heartbeat_age(Some(updated), f.now).unwrap_or_default();
    f.max_age
        .checked_sub(age)
        .map(|left| left + Duration::from_secs(1))
}

pub fn heartbeat_check(f: &HeartbeatFacts) -> Check {
    let name = "heartbeat";
    let age = services::heartbeat_age(f.updated_at, f.now);
    let age_text = match age {
        Some(a) => format!("{}s ago", a.as_secs()),
        None if f.updated_at.is_some() => "just now".to_string(),
        None => "never".to_string(),
    };
    if !f.forced_down {
        // Not forced down: Nova's own up/down is the heartbeat, and API writes cannot fake it.
        return if f.nova_up {
            Check::new(
                name,
                CheckStatus::Ok,
                format!("Nova says up (updated_at {age_text})"),
            )
        } else {
            Check::new(
                name,
                CheckStatus::Failed,
                format!(
                    "Nova says down (updated_at {age_text}): nova-compute does not run, or \
                     cannot reach the message queue or database"
                ),
            )
        };
    }
    let Some(updated) = f.updated_at else {
        return Check::new(
            name,
            CheckStatus::Failed,
            "forced down and no updated_at: no heartbeat seen",
        );
    };
    if f.seen_moving == Some(false) {
        return Check::new(
            name,
            CheckStatus::Failed,
            format!(
                "forced down; updated_at ({age_text}) did not move while evacctl watched: it was \
                 an API write, not a heartbeat; nova-compute does not run"
            ),
        );
    }
    if let Some(a) = age
        && a > f.max_age
    {
        return Check::new(
            name,
            CheckStatus::Failed,
            format!(
                "forced down, last heartbeat {age_text} (over {}s): nova-compute does not run, \
                 or cannot reach the message queue or database",
                f.max_age.as_secs()
            ),
        );
    }
    if let Some(own) = f.last_own_write
        && updated <= own + Duration::from_secs(1)
    {
        return Check::new(
            name,
            CheckStatus::Failed,
            format!(
                "forced down, no heartbeat since evacctl's own write at {} (updated_at \
                 {age_text}): nova-compute does not run",
                humantime::format_rfc3339_seconds(own)
            ),
        );
    }
    Check::new(
        name,
        CheckStatus::Ok,
        format!("forced down, but nova-compute writes its heartbeat (updated_at {age_text})"),
    )
}

/// A change restore makes, in the order it makes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// `{"forced_down": false}`.
    ForceUp,
    /// `{"status": "enabled"}` (Nova clears disabled_reason).
    Enable,
}

impl Change {
    /// The journal action.
    pub fn action(self) -> &'static str {
        match self {
            Change::ForceUp => "force-up",
            Change::Enable => "enable",
        }
    }
}

/// Unset forced-down first, then enable: the reverse of isolation (docs/design.md 2.2), so a
/// service is never enabled while Nova would still refuse to bring it up.
pub fn changes(forced_down: bool, enabled: bool) -> Vec<Change> {
    let mut out = Vec::new();
    if forced_down {
        out.push(Change::ForceUp);
    }
    if !enabled {
        out.push(Change::Enable);
    }
    out
}

/// Why Nova refuses to unset forced_down, and what to do. `count`: `None` when only Nova knows.
pub fn done_evacuations_message(host: &str, count: Option<usize>) -> String {
    let which = match count {
        Some(n) => format!("{n} evacuation(s)"),
        None => "evacuations".to_string(),
    };
    format!(
        "{which} from {host} are still `done`: Nova completes them when {host}'s \
         nova-compute starts and removes the evacuated instances' leftovers, and until then it \
         refuses to unset forced_down; start nova-compute on {host}, then re-run `evacctl \
         restore {host}`"
    )
}

/// Is this Nova answer its refusal to force up a host with `done` evacuations? (HTTP 400,
/// "Unable to force up host H as `done` evacuation migration records remain ...".)
pub fn is_done_evacuations_refusal(status: u16, message: &str) -> bool {
    status == 400 && message.contains("force up") && message.contains("`done` evacuation")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::network::ConsulRole;
    use crate::core::network::NetState;

    const T: u64 = 1_795_317_129;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn facts() -> HeartbeatFacts {
        HeartbeatFacts {
            nova_up: false,
            forced_down: true,
            updated_at: Some(at(T - 5)),
            now: at(T),
            max_age: Duration::from_secs(60),
            last_own_write: None,
            seen_moving: None,
        }
    }

    #[test]
    fn a_forced_down_host_is_judged_by_its_updated_at() {
        assert_eq!(heartbeat_check(&facts()).status, CheckStatus::Ok);
        let old = HeartbeatFacts {
            updated_at: Some(at(T - 61)),
            ..facts()
        };
        let c = heartbeat_check(&old);
        assert!(c.failed() && c.detail.contains("61s ago"), "{c:?}");
        let none = HeartbeatFacts {
            updated_at: None,
            ..facts()
        };
        assert!(heartbeat_check(&none).failed());
        // Clock skew: an updated_at in the future is recent.
        let ahead = HeartbeatFacts {
            updated_at: Some(at(T + 3)),
            ..facts()
        };
        assert_eq!(heartbeat_check(&ahead).status, CheckStatus::Ok);
    }

    #[test]
    fn evacctl_s_own_write_is_no_heartbeat() {
        // Forced down 10 s ago by evacctl; Nova's updated_at is that write (seconds only).
        let f = HeartbeatFacts {
            updated_at: Some(at(T - 10)),
            last_own_write: Some(at(T - 10) + Duration::from_millis(700)),
            ..facts()
        };
        let c = heartbeat_check(&f);
        assert!(
            c.failed() && c.detail.contains("evacctl's own write"),
            "{c:?}"
        );
        // A heartbeat after the write counts.
        let later = HeartbeatFacts {
            updated_at: Some(at(T - 2)),
            ..f
        };
        assert_eq!(heartbeat_check(&later).status, CheckStatus::Ok);
    }

    #[test]
    fn a_recent_updated_at_is_watched_until_it_moves() {
        // 5 s old, max 60 s: watched for at most 56 s.
        assert_eq!(heartbeat_watch(&facts()), Some(Duration::from_secs(56)));
        let still = HeartbeatFacts {
            seen_moving: Some(false),
            ..facts()
        };
        let c = heartbeat_check(&still);
        assert!(c.failed() && c.detail.contains("API write"), "{c:?}");
        assert_eq!(heartbeat_watch(&still), None, "watched once");
        let moving = HeartbeatFacts {
            seen_moving: Some(true),
            ..facts()
        };
        assert_eq!(heartbeat_check(&moving).status, CheckStatus::Ok);
        // Nothing to watch: too old, evacctl's own write, not forced down.
        for f in [
            HeartbeatFacts {
                updated_at: Some(at(T - 61)),
                ..facts()
            },
            HeartbeatFacts {
                last_own_write: Some(at(T - 5)),
                ..facts()
            },
            HeartbeatFacts {
                forced_down: false,
                ..facts()
            },
            HeartbeatFacts {
                updated_at: None,
                ..facts()
            },
        ] {
            assert_eq!(heartbeat_watch(&f), None, "{f:?}");
        }
    }

    #[test]
    fn without_forced_down_nova_s_state_decides() {
        let up = HeartbeatFacts {
            forced_down: false,
            nova_up: true,
            updated_at: Some(at(T - 500)),
            ..facts()
        };
        assert_eq!(heartbeat_check(&up).status, CheckStatus::Ok);
        let down = HeartbeatFacts {
            nova_up: false,
            updated_at: Some(at(T - 1)),
            ..up
        };
        assert!(heartbeat_check(&down).failed());
    }

    #[test]
    fn power_consul_and_node_local() {
        assert!(power_check("c1", &PowerFact::Off).failed());
        assert!(power_check("c1", &PowerFact::Unreadable("timeout".into())).failed());
        assert_eq!(power_check("c1", &PowerFact::On).status, CheckStatus::Ok);
        let skipped = power_check("c1", &PowerFact::NotConfigured);
        assert_eq!(skipped.status, CheckStatus::Skipped);
        assert!(skipped.detail.contains("[hosts.\"c1\".bmc]"));

        let view = |cluster: &str, role, state| NetworkView {
            cluster: cluster.into(),
            role,
            state,
        };
        let all = |storage| {
            vec![
                view("management", ConsulRole::Management, NetState::Alive),
                view("storage", ConsulRole::Storage, storage),
                view("tenant", ConsulRole::Tenant, NetState::Alive),
            ]
        };
        let c = consul_check(&all(NetState::Alive), false);
        assert_eq!(c.status, CheckStatus::Ok);
        assert_eq!(
            c.detail,
            "alive in every network (management alive, storage alive, tenant alive)"
        );
        assert!(consul_check(&all(NetState::Alive), true).failed());
        for state in [NetState::Failed, NetState::Left, NetState::Unknown] {
            let c = consul_check(&all(state), false);
            assert!(
                c.failed() && c.detail.contains(&format!("storage {state}")),
                "{c:?}"
            );
        }
        let management_only = [view("m", ConsulRole::Management, NetState::Failed)];
        assert!(consul_check(&management_only, false).failed());
        assert_eq!(consul_check(&[], false).status, CheckStatus::Skipped);

        assert!(node_local_check(NodeLocal::Critical, "nova-compute failed").failed());
        assert_eq!(
            node_local_check(NodeLocal::NoData, "none").status,
            CheckStatus::Skipped
        );
        assert_eq!(
            node_local_check(NodeLocal::Passing, "ok").status,
            CheckStatus::Ok
        );
    }

    #[test]
    fn force_up_before_enable_and_only_what_is_needed() {
        assert_eq!(
            changes(true, false),
            [Change::ForceUp, Change::Enable],
            "the reverse of isolation"
        );
        assert_eq!(changes(true, true), [Change::ForceUp]);
        assert_eq!(changes(false, false), [Change::Enable]);
        assert!(changes(false, true).is_empty());
    }

    #[test]
    fn nova_zed_s_refusal_is_recognised() {
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/zed/nova-restore.json"))
                .unwrap();
        let refusals: Vec<&str> = fixture["exchanges"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["status"] == 400)
            .filter_map(|e| e["response"]["badRequest"]["message"].as_str())
            .collect();
        assert_eq!(refusals.len(), 3);
        assert!(is_done_evacuations_refusal(400, refusals[0]));
        assert!(is_done_evacuations_refusal(400, refusals[1]));
        assert!(
            !is_done_evacuations_refusal(400, refusals[2]),
            "another 400"
        );
        assert!(!is_done_evacuations_refusal(409, refusals[0]));
        let m = done_evacuations_message("compute-3", Some(4));
        assert!(m.starts_with("4 evacuation(s) from compute-3 are still `done`"));
        assert!(m.contains("start nova-compute on compute-3, then re-run"));
    }
}
