//! Which compute hosts may take a failed host's servers, and why the others may not: its
//! availability zone, its tagged host aggregates, spare (reserved) hosts and the recovery
//! method, as Masakari and Instance HA define them. Pure: the caller brings Nova's services,
//! the aggregates and the journal's records.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::Serialize;

use crate::core::evacuable::{EvacuationConfig, RESERVED_REASON, RecoveryMethod};
use crate::core::records::{Kind, Record};

/// The journal action of enabling a reserved host for a failure (it is then consumed).
pub const ENABLE_RESERVED: &str = "enable-reserved";
/// The journal action of disabling a reserved host as such (`watch` keeps spares so).
pub const RESERVE: &str = "reserve";

/// A nova-compute as the rules read it.
#[derive(Clone, Debug)]
pub struct HostFacts<'a> {
    pub host: &'a str,
    pub service_id: &'a str,
    pub zone: Option<&'a str>,
    pub enabled: bool,
    pub up: bool,
    pub forced_down: bool,
    pub disabled_reason: Option<&'a str>,
}

/// A host aggregate: its hosts and metadata (an availability zone is metadata too).
#[derive(Clone, Debug, Default)]
pub struct AggregateFacts {
    pub name: String,
    pub hosts: Vec<String>,
    pub metadata: BTreeMap<String, String>,
}

/// A host that is not a candidate, and why.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Excluded {
    pub host: String,
    pub why: String,
}

/// A reserved host that may be used, in the order they are used.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Spare {
    pub host: String,
    pub service_id: String,
    /// Disabled as reserved: it must be enabled before it takes servers.
    pub needs_enable: bool,
}

/// The candidates for a failed host's servers.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Candidates {
    /// Enabled hosts that pass the zone and aggregate rules (not reserved).
    pub ordinary: Vec<String>,
    /// Reserved hosts that pass them and are up, in order of use.
    pub spares: Vec<Spare>,
    /// Every other nova-compute host but the failed one, with why not.
    pub excluded: Vec<Excluded>,
    /// Enabled, up hosts the rules (zone, aggregate, reserved) kept out: when there is
    /// one, the scheduler may not choose freely and every request names its host.
    pub ruled_out: usize,
}

/// Reserved hosts evacctl enabled for a failure (and did not reserve again since): from then
/// on ordinary hosts, as Masakari clears `reserved` when it uses one.
pub fn consumed_spares(records: &[Record]) -> HashSet<String> {
    let mut consumed = HashSet::new();
    for r in records {
        match spare_change(r) {
            Some((h, true)) => {
                consumed.insert(h.to_string());
            }
            Some((h, false)) => {
                consumed.remove(h);
            }
            None => {}
        }
    }
    consumed
}

/// What a record changes of the spares consumed: its host enabled for an evacuation
/// (`true`), or reserved again (`false`); `None`: nothing.
pub fn spare_change(r: &Record) -> Option<(&str, bool)> {
    if r.kind != Kind::Result || r.status != "ok" {
        return None;
    }
    let h = r.host.as_deref()?;
    match r.action.as_str() {
        ENABLE_RESERVED => Some((h, true)),
        RESERVE => Some((h, false)),
        _ => None,
    }
}

/// The reserved hosts, in order: `reserved_hosts` as written, then the hosts of aggregates
/// with `reserved_aggregate_key = "true"`, then any host disabled as `evacctl: reserved`
/// (by name); minus the consumed ones still enabled.
pub fn reserved_hosts(
    cfg: &EvacuationConfig,
    services: &[HostFacts<'_>],
    aggregates: &[AggregateFacts],
    consumed: &HashSet<String>,
) -> Vec<String> {
    let mut marked: Vec<&str> = services
        .iter()
        .filter(|s| !s.enabled && s.disabled_reason == Some(RESERVED_REASON))
        .map(|s| s.host)
        .collect();
    marked.sort_unstable();
    let is_marked: HashSet<&str> = marked.iter().copied().collect();
    let mut out: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    // Consumed, unless reserved again by hand since (Nova says so).
    let mut push = |h: &str, out: &mut Vec<String>| {
        if (!consumed.contains(h) || is_marked.contains(h)) && seen.insert(h.to_string()) {
            out.push(h.to_string());
        }
    };
    for h in &cfg.reserved_hosts {
        push(h, &mut out);
    }
    if let Some(key) = &cfg.reserved_aggregate_key {
        let mut hosts: BTreeSet<&str> = BTreeSet::new();
        for a in aggregates {
            if a.metadata
                .get(key)
                .is_some_and(|v| v.eq_ignore_ascii_case("true"))
            {
                hosts.extend(a.hosts.iter().map(String::as_str));
            }
        }
        for h in hosts {
            push(h, &mut out);
        }
    }
    for h in marked {
        push(h, &mut out);
    }
    out
}

/// The values each key of `keys` has on `host`'s aggregates.
fn aggregate_values<'a>(
    keys: &'a [String],
    of_host: &HashMap<&str, Vec<&'a AggregateFacts>>,
    host: &str,
) -> BTreeMap<&'a str, BTreeSet<&'a str>> {
    let mut out: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for a in of_host.get(host).map(Vec::as_slice).unwrap_or_default() {
        for k in keys {
            if let Some(v) = a.metadata.get(k) {
                out.entry(k.as_str()).or_default().insert(v.as_str());
            }
        }
    }
    out
}

/// Sorts Nova's compute hosts for a failure of `source` into ordinary candidates, spares and
/// the excluded (with why). `zones`: the availability zones of the servers to move (the
/// failed host's own when empty).
pub fn candidates(
    cfg: &EvacuationConfig,
    source: &str,
    zones: &BTreeSet<String>,
    services: &[HostFacts<'_>],
    aggregates: &[AggregateFacts],
    consumed: &HashSet<String>,
) -> Candidates {
    let mut of_host: HashMap<&str, Vec<&AggregateFacts>> = HashMap::new();
    for a in aggregates {
        for h in &a.hosts {
            of_host.entry(h.as_str()).or_default().push(a);
        }
    }
    let want = aggregate_values(&cfg.same_aggregate_keys, &of_host, source);
    let source_zone = services
        .iter()
        .find(|s| s.host == source)
        .and_then(|s| s.zone);
    let mut zones: BTreeSet<&str> = zones.iter().map(String::as_str).collect();
    if zones.is_empty() {
        zones.extend(source_zone);
    }
    let reserved = reserved_hosts(cfg, services, aggregates, consumed);
    let rank: HashMap<&str, usize> = reserved
        .iter()
        .enumerate()
        .map(|(i, h)| (h.as_str(), i))
        .collect();
    let mut out = Candidates::default();
    let mut spares: Vec<(usize, Spare)> = Vec::new();
    for s in services {
        if s.host == source {
            continue;
        }
        let is_reserved = rank.contains_key(s.host);
        let usable = s.enabled && s.up && !s.forced_down;
        let rule = rule_out(cfg, s, &zones, &want, &of_host);
        let why = if s.forced_down {
            Some("forced down".to_string())
        } else if !s.up {
            Some("down".to_string())
        } else if let Some(w) = rule {
            Some(w)
        } else if is_reserved {
            if cfg.recovery_method.uses_reserved() {
                spares.push((
                    rank[s.host],
                    Spare {
                        host: s.host.to_string(),
                        service_id: s.service_id.to_string(),
                        needs_enable: !s.enabled,
                    },
                ));
                continue;
            }
            Some("reserved (recovery_method \"auto\" uses no reserved host)".to_string())
        } else if !s.enabled {
            Some(format!(
                "disabled{}",
                s.disabled_reason
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ))
        } else {
            out.ordinary.push(s.host.to_string());
            continue;
        };
        if usable {
            out.ruled_out += 1;
        }
        out.excluded.push(Excluded {
            host: s.host.to_string(),
            why: why.unwrap_or_default(),
        });
    }
    spares.sort_by_key(|(i, _)| *i);
    out.spares = spares.into_iter().map(|(_, s)| s).collect();
    // A reserved host that is up and in the rules is ruled out of the scheduler's choice too.
    if !out.spares.is_empty() {
        out.ruled_out += out.spares.iter().filter(|s| !s.needs_enable).count();
    }
    out
}

/// Why the zone or aggregate rules keep `s` out; `None`: they let it in.
fn rule_out(
    cfg: &EvacuationConfig,
    s: &HostFacts<'_>,
    zones: &BTreeSet<&str>,
    want: &BTreeMap<&str, BTreeSet<&str>>,
    of_host: &HashMap<&str, Vec<&AggregateFacts>>,
) -> Option<String> {
    if cfg.same_zone
        && !zones.is_empty()
        && let Some(z) = s.zone
        && !zones.contains(z)
    {
        let of: Vec<&str> = zones.iter().copied().collect();
        return Some(format!("zone {z}, not {}", of.join(" or ")));
    }
    if want.is_empty() {
        return None;
    }
    let keys: Vec<String> = want.keys().map(|k| k.to_string()).collect();
    let have = aggregate_values(&keys, of_host, s.host);
    for (k, vals) in want {
        let mine = have.get(k);
        if !mine.is_some_and(|m| m.iter().any(|v| vals.contains(v))) {
            let wanted: Vec<&str> = vals.iter().copied().collect();
            return Some(match mine {
                None => format!(
                    "no aggregate with {k} (the failed host's: {})",
                    wanted.join(", ")
                ),
                Some(m) => format!(
                    "aggregate {k}={} (the failed host's: {})",
                    m.iter().copied().collect::<Vec<_>>().join(","),
                    wanted.join(", ")
                ),
            });
        }
    }
    None
}

/// The groups of candidates a plan fills, in turn, under `method`.
pub fn tier_order(method: RecoveryMethod) -> &'static [Tier] {
    match method {
        RecoveryMethod::Auto => &[Tier::Ordinary],
        RecoveryMethod::ReservedHost => &[Tier::Spares],
        RecoveryMethod::AutoPriority => &[Tier::Ordinary, Tier::Spares],
        RecoveryMethod::RhPriority => &[Tier::Spares, Tier::Ordinary],
    }
}

/// A group of candidates the plan fills in turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    Ordinary,
    Spares,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc<'a>(host: &'a str, zone: &'a str) -> HostFacts<'a> {
        HostFacts {
            host,
            service_id: host,
            zone: Some(zone),
            enabled: true,
            up: true,
            forced_down: false,
            disabled_reason: None,
        }
    }

    fn agg(name: &str, hosts: &[&str], meta: &[(&str, &str)]) -> AggregateFacts {
        AggregateFacts {
            name: name.into(),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            metadata: meta
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn why<'a>(c: &'a Candidates, host: &str) -> &'a str {
        &c.excluded.iter().find(|e| e.host == host).unwrap().why
    }

    #[test]
    fn the_failed_hosts_zone_by_default() {
        let services = [
            svc("c1", "az1"),
            svc("c2", "az1"),
            svc("c3", "az2"),
            svc("c4", "az2"),
        ];
        let cfg = EvacuationConfig::default();
        let none = HashSet::new();
        let c = candidates(&cfg, "c3", &BTreeSet::new(), &services, &[], &none);
        assert_eq!(c.ordinary, ["c4"]);
        assert_eq!(why(&c, "c1"), "zone az1, not az2");
        assert_eq!(c.ruled_out, 2);
        let off = EvacuationConfig {
            same_zone: false,
            ..cfg
        };
        let c = candidates(&off, "c3", &BTreeSet::new(), &services, &[], &none);
        assert_eq!(c.ordinary, ["c1", "c2", "c4"]);
        assert_eq!(c.ruled_out, 0);
    }

    #[test]
    fn tagged_aggregates_keep_their_servers() {
        let services = [
            svc("c1", "nova"),
            svc("c2", "nova"),
            svc("c3", "nova"),
            svc("c4", "nova"),
        ];
        let aggs = [
            agg("ssd", &["c3", "c4"], &[("ssd", "true")]),
            agg("hdd", &["c1"], &[("ssd", "false")]),
        ];
        let cfg = EvacuationConfig {
            same_aggregate_keys: vec!["ssd".into(), "gpu".into()],
            ..Default::default()
        };
        let none = HashSet::new();
        let c = candidates(&cfg, "c3", &BTreeSet::new(), &services, &aggs, &none);
        assert_eq!(c.ordinary, ["c4"]);
        assert_eq!(
            why(&c, "c1"),
            "aggregate ssd=false (the failed host's: true)"
        );
        assert_eq!(
            why(&c, "c2"),
            "no aggregate with ssd (the failed host's: true)"
        );
        // A host in no tagged aggregate: no constraint (gpu is on no host at all).
        let c = candidates(&cfg, "c2", &BTreeSet::new(), &services, &aggs, &none);
        assert_eq!(c.ordinary, ["c1", "c3", "c4"]);
    }

    #[test]
    fn reserved_hosts_by_name_aggregate_and_mark() {
        let mut services = vec![
            svc("c1", "nova"),
            svc("c3", "nova"),
            svc("r1", "nova"),
            svc("r2", "nova"),
            svc("r3", "nova"),
            svc("c9", "nova"),
        ];
        for s in &mut services[2..5] {
            s.enabled = false;
            s.disabled_reason = Some(RESERVED_REASON);
        }
        services[5].enabled = false;
        services[5].disabled_reason = Some("maintenance");
        let aggs = [agg("spares", &["r2"], &[("evacctl:reserved", "true")])];
        let cfg = EvacuationConfig {
            reserved_hosts: vec!["r3".into()],
            reserved_aggregate_key: Some("evacctl:reserved".into()),
            recovery_method: RecoveryMethod::ReservedHost,
            ..Default::default()
        };
        let none = HashSet::new();
        let c = candidates(&cfg, "c3", &BTreeSet::new(), &services, &aggs, &none);
        let order: Vec<&str> = c.spares.iter().map(|s| s.host.as_str()).collect();
        assert_eq!(order, ["r3", "r2", "r1"]);
        assert!(c.spares.iter().all(|s| s.needs_enable));
        assert_eq!(c.ordinary, ["c1"]);
        assert_eq!(why(&c, "c9"), "disabled (maintenance)");
        // Auto: the spares stay out, and say why.
        let auto = EvacuationConfig {
            recovery_method: RecoveryMethod::Auto,
            ..cfg.clone()
        };
        let c = candidates(&auto, "c3", &BTreeSet::new(), &services, &aggs, &none);
        assert!(c.spares.is_empty());
        assert!(why(&c, "r1").starts_with("reserved"));
        // A consumed spare is an ordinary host once enabled.
        services[4].enabled = true;
        services[4].disabled_reason = None;
        let consumed: HashSet<String> = ["r3".to_string()].into();
        let c = candidates(&cfg, "c3", &BTreeSet::new(), &services, &aggs, &consumed);
        assert_eq!(c.ordinary, ["c1", "r3"]);
        // Disabled as reserved again by hand: a spare again, whatever the journal says.
        let mut again = services.clone();
        again[4].enabled = false;
        again[4].disabled_reason = Some(RESERVED_REASON);
        let c = candidates(&cfg, "c3", &BTreeSet::new(), &again, &aggs, &consumed);
        assert!(c.spares.iter().any(|s| s.host == "r3" && s.needs_enable));
        // Not consumed (watch has not reserved it again yet): a spare needing no enable.
        let c = candidates(&cfg, "c3", &BTreeSet::new(), &services, &aggs, &none);
        assert!(c.spares.iter().any(|s| s.host == "r3" && !s.needs_enable));
        assert_eq!(c.ruled_out, 1);
    }

    #[test]
    fn consumed_spares_from_the_journal() {
        let rec = |action: &str, host: &str, status: &str| {
            crate::core::testkit::record(Kind::Result, action, Some(host), status)
        };
        let records = [
            rec(ENABLE_RESERVED, "r1", "ok"),
            rec(ENABLE_RESERVED, "r2", "ok"),
            rec(RESERVE, "r2", "ok"),
            rec(ENABLE_RESERVED, "r3", "failed"),
        ];
        let c = consumed_spares(&records);
        assert_eq!(c, ["r1".to_string()].into());
    }
}
