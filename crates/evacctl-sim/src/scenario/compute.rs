//! `[compute]`, `[[flavors]]`, `[[servers]]`, `[[aggregates]]` and the hosts' `placement`
//! inventories of a scenario (see [`crate::compute`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{HostSpec, PathElem, Role, Scenario, Seconds};

/// Nova's `default_availability_zone`: the zone of a compute in no zoned aggregate.
pub const DEFAULT_ZONE: &str = "nova";
/// Nova's `internal_service_availability_zone`: every service but nova-compute.
pub const INTERNAL_ZONE: &str = "internal";
/// The aggregate metadata key that makes an aggregate an availability zone.
pub const AZ_KEY: &str = "availability_zone";

/// `[compute]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComputeSpec {
    #[serde(default = "default_accept_delay")]
    pub evacuate_accept_delay: Seconds,
    #[serde(default = "default_rebuild_delay")]
    pub evacuate_rebuild_delay: Seconds,
    #[serde(default = "default_max_limit")]
    pub max_limit: usize,
}

impl Default for ComputeSpec {
    fn default() -> Self {
        ComputeSpec {
            evacuate_accept_delay: default_accept_delay(),
            evacuate_rebuild_delay: default_rebuild_delay(),
            max_limit: default_max_limit(),
        }
    }
}

fn default_accept_delay() -> Seconds {
    Seconds(0.5)
}
fn default_rebuild_delay() -> Seconds {
    Seconds(2.0)
}
fn default_max_limit() -> usize {
    1000
}

/// `[[flavors]]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlavorSpec {
    pub name: String,
    #[serde(default)]
    pub id: Option<String>,
    pub vcpus: u64,
    pub ram: u64,
    #[serde(default)]
    pub disk: u64,
    #[serde(default)]
    pub ephemeral: u64,
    #[serde(default)]
    pub swap: u64,
    #[serde(default)]
    pub extra_specs: BTreeMap<String, String>,
}

/// `[[servers]]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    pub name: String,
    pub host: String,
    pub flavor: String,
    #[serde(default = "default_count")]
    pub count: usize,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default = "default_vm_state")]
    pub vm_state: String,
    #[serde(default)]
    pub task_state: Option<String>,
    #[serde(default = "default_true")]
    pub launched: bool,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub project: Option<String>,
    #[serde(default)]
    pub boot_from_volume: bool,
    /// The zone asked for at boot (Nova's request spec): its evacuations stay in it.
    #[serde(default)]
    pub availability_zone: Option<String>,
}

/// `[[aggregates]]`: a Nova host aggregate; `availability_zone` (kept in the metadata too, as
/// Nova does) puts its hosts in that zone.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateSpec {
    pub name: String,
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub availability_zone: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

impl AggregateSpec {
    /// The zone it gives its hosts: `availability_zone`, else the same key in its metadata.
    pub fn zone(&self) -> Option<&str> {
        self.availability_zone
            .as_deref()
            .or_else(|| self.metadata.get(AZ_KEY).map(String::as_str))
    }
}

/// Does the host run nova-compute (may it be in an aggregate, does it have a zone)?
pub(crate) fn runs_nova_compute(h: &HostSpec) -> bool {
    h.binaries().iter().any(|b| b == "nova-compute")
}

/// The aggregates Nova holds: the scenario's, then one per zone named only by hosts' `zone`
/// keys (what an operator made to get that zone), named after it, in order of first use.
pub fn aggregates(s: &Scenario) -> Vec<AggregateSpec> {
    let mut out = s.aggregates.clone();
    let computes = || s.hosts.iter().filter(|h| runs_nova_compute(h));
    for h in computes() {
        let Some(z) = h.zone.as_deref() else {
            continue;
        };
        if z == DEFAULT_ZONE || out.iter().any(|a| a.zone() == Some(z)) {
            continue;
        }
        out.push(AggregateSpec {
            name: z.to_string(),
            hosts: computes()
                .filter(|x| x.zone.as_deref() == Some(z))
                .map(|x| x.name.clone())
                .collect(),
            availability_zone: Some(z.to_string()),
            metadata: BTreeMap::new(),
        });
    }
    out
}

/// A host's availability zone as Nova shows it, given [`aggregates`]: a nova-compute host
/// takes its zoned aggregate's zone, else the default; other hosts are internal.
pub fn host_zone(aggregates: &[AggregateSpec], h: &HostSpec) -> String {
    if !runs_nova_compute(h) {
        return h.zone().to_string();
    }
    aggregates
        .iter()
        .find(|a| a.zone().is_some() && a.hosts.contains(&h.name))
        .and_then(|a| a.zone())
        .unwrap_or_else(|| h.zone())
        .to_string()
}

fn default_count() -> usize {
    1
}
fn default_vm_state() -> String {
    "active".into()
}
fn default_true() -> bool {
    true
}

/// `placement = {...}` of a compute `[[hosts]]`: its inventory as nova-compute reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventorySpec {
    #[serde(default = "d_vcpus")]
    pub vcpus: u64,
    #[serde(default = "d_memory")]
    pub memory_mb: u64,
    #[serde(default = "d_disk")]
    pub disk_gb: u64,
    #[serde(default = "d_cpu_ratio")]
    pub cpu_allocation_ratio: f64,
    #[serde(default = "d_ratio")]
    pub ram_allocation_ratio: f64,
    #[serde(default = "d_ratio")]
    pub disk_allocation_ratio: f64,
    #[serde(default)]
    pub reserved_vcpus: u64,
    #[serde(default)]
    pub reserved_memory_mb: u64,
    #[serde(default)]
    pub reserved_disk_gb: u64,
}

impl Default for InventorySpec {
    fn default() -> Self {
        InventorySpec {
            vcpus: d_vcpus(),
            memory_mb: d_memory(),
            disk_gb: d_disk(),
            cpu_allocation_ratio: d_cpu_ratio(),
            ram_allocation_ratio: d_ratio(),
            disk_allocation_ratio: d_ratio(),
            reserved_vcpus: 0,
            reserved_memory_mb: 0,
            reserved_disk_gb: 0,
        }
    }
}

fn d_vcpus() -> u64 {
    16
}
fn d_memory() -> u64 {
    65536
}
fn d_disk() -> u64 {
    1000
}
fn d_cpu_ratio() -> f64 {
    4.0
}
fn d_ratio() -> f64 {
    1.0
}

pub(crate) const VM_STATES: &[&str] = &[
    "active",
    "stopped",
    "error",
    "building",
    "paused",
    "suspended",
    "rescued",
    "resized",
    "shelved",
    "shelved_offloaded",
    "soft-delete",
];

/// Checks `[compute]`, `[[flavors]]`, `[[servers]]` against each other and the hosts.
pub(crate) fn validate(s: &Scenario) -> Result<(), (Vec<PathElem>, String)> {
    use PathElem::{Index, Key};
    if s.compute.max_limit == 0 {
        return Err((
            vec![Key("compute".into()), Key("max_limit".into())],
            "must be at least 1".into(),
        ));
    }
    let mut flavors = std::collections::HashSet::new();
    for (i, f) in s.flavors.iter().enumerate() {
        if f.name.trim().is_empty() || !flavors.insert(f.name.clone()) {
            return Err((
                vec![Key("flavors".into()), Index(i), Key("name".into())],
                format!("flavor name {:?} is empty or used twice", f.name),
            ));
        }
    }
    validate_aggregates(s)?;
    let aggs = aggregates(s);
    // Same-named servers are allowed, as in Nova (`evacuate` must then refuse the name).
    for (i, sv) in s.servers.iter().enumerate() {
        let at = |k: &str| vec![Key("servers".into()), Index(i), Key(k.into())];
        let Some(h) = s.hosts.iter().find(|h| h.name == sv.host) else {
            return Err((at("host"), format!("no [[hosts]] named {:?}", sv.host)));
        };
        if h.role != Role::Compute {
            return Err((at("host"), format!("host {:?} is not a compute", sv.host)));
        }
        if !flavors.contains(&sv.flavor) {
            let known: Vec<&str> = s.flavors.iter().map(|f| f.name.as_str()).collect();
            return Err((
                at("flavor"),
                format!(
                    "no [[flavors]] named {:?} (flavors: {})",
                    sv.flavor,
                    known.join(", ")
                ),
            ));
        }
        if !VM_STATES.contains(&sv.vm_state.as_str()) {
            return Err((
                at("vm_state"),
                format!(
                    "unknown vm_state {:?} (known: {})",
                    sv.vm_state,
                    VM_STATES.join(", ")
                ),
            ));
        }
        if sv.count == 0 || sv.count > 100_000 {
            return Err((at("count"), "must be 1..=100000".into()));
        }
        if sv.count > 1 && sv.id.is_some() {
            return Err((at("id"), "a fixed id needs count = 1".into()));
        }
        if let Some(id) = &sv.id
            && uuid::Uuid::parse_str(id).is_err()
        {
            return Err((at("id"), format!("{id:?} is not a UUID")));
        }
        if let Some(p) = &sv.project
            && !s.users.iter().any(|u| &u.project == p)
        {
            return Err((at("project"), format!("no user's project is named {p:?}")));
        }
        if let Some(z) = &sv.availability_zone {
            // Nova refuses a boot into an unknown zone, and schedules into the one asked for.
            let zones: Vec<String> = s
                .hosts
                .iter()
                .filter(|h| runs_nova_compute(h))
                .map(|h| host_zone(&aggs, h))
                .collect();
            if !zones.contains(z) {
                return Err((
                    at("availability_zone"),
                    format!("no compute is in zone {z:?} (zones: {})", zones.join(", ")),
                ));
            }
            let hz = host_zone(&aggs, h);
            if &hz != z {
                return Err((
                    at("availability_zone"),
                    format!(
                        "host {:?} is in zone {hz:?}: Nova would not have placed a server \
                         that asked for {z:?} there",
                        h.name
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Nova's rules: a host is in one zone at most, aggregates have unique names, zones are not
/// the internal one; and here, a host's `zone` key agrees with its aggregates.
fn validate_aggregates(s: &Scenario) -> Result<(), (Vec<PathElem>, String)> {
    use PathElem::{Index, Key};
    let mut names = std::collections::HashSet::new();
    for (i, a) in s.aggregates.iter().enumerate() {
        let at = |k: &str| vec![Key("aggregates".into()), Index(i), Key(k.into())];
        if a.name.trim().is_empty() || a.name.chars().count() > 255 {
            return Err((at("name"), "must be 1 to 255 characters".into()));
        }
        if !names.insert(a.name.as_str()) {
            return Err((
                at("name"),
                format!("aggregate {:?} is defined twice", a.name),
            ));
        }
        if let (Some(z), Some(m)) = (&a.availability_zone, a.metadata.get(AZ_KEY))
            && z != m
        {
            return Err((
                at("metadata"),
                format!("availability_zone {m:?} contradicts availability_zone = {z:?}"),
            ));
        }
        if let Some(z) = a.zone()
            && (z.trim().is_empty() || z == INTERNAL_ZONE)
        {
            return Err((
                at("availability_zone"),
                format!("{z:?} cannot be an aggregate's availability zone"),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for h in &a.hosts {
            let Some(host) = s.hosts.iter().find(|x| &x.name == h) else {
                return Err((at("hosts"), format!("no [[hosts]] named {h:?}")));
            };
            if !runs_nova_compute(host) {
                return Err((at("hosts"), format!("host {h:?} runs no nova-compute")));
            }
            if !seen.insert(h) {
                return Err((at("hosts"), format!("host {h:?} is listed twice")));
            }
            let Some(z) = a.zone() else { continue };
            if let Some(other) = s.aggregates[..i]
                .iter()
                .find(|o| o.hosts.contains(h) && o.zone().is_some_and(|oz| oz != z))
            {
                return Err((
                    at("hosts"),
                    format!(
                        "host {h:?} would be in zone {z:?} and in zone {:?} (aggregate {:?}); \
                         Nova refuses a host in two availability zones",
                        other.zone().unwrap_or_default(),
                        other.name
                    ),
                ));
            }
        }
    }
    for (i, h) in s.hosts.iter().enumerate() {
        let Some(k) = h.zone.as_deref().filter(|_| runs_nova_compute(h)) else {
            continue;
        };
        let at = vec![Key("hosts".into()), Index(i), Key("zone".into())];
        let zoned = s
            .aggregates
            .iter()
            .find(|a| a.zone().is_some() && a.hosts.contains(&h.name));
        match zoned {
            Some(a) if a.zone() != Some(k) => {
                return Err((
                    at,
                    format!(
                        "host {:?} says zone {k:?} but aggregate {:?} puts it in zone {:?}",
                        h.name,
                        a.name,
                        a.zone().unwrap_or_default()
                    ),
                ));
            }
            Some(_) => {}
            None if k == DEFAULT_ZONE => {}
            None => {
                if let Some(a) = s.aggregates.iter().find(|a| a.zone() == Some(k)) {
                    return Err((
                        at,
                        format!(
                            "zone {k:?} is aggregate {:?}'s, which does not list host {:?}: \
                             add it to that aggregate's hosts",
                            a.name, h.name
                        ),
                    ));
                }
                if s.aggregates.iter().any(|a| a.name == k) {
                    return Err((
                        at,
                        format!(
                            "zone {k:?} needs an aggregate of that name, and [[aggregates]] \
                             {k:?} gives no such zone"
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

pub(crate) fn expand(pattern: &str, n: usize) -> String {
    pattern.replace("{n}", &n.to_string())
}
