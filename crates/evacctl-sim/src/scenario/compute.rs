//! `[compute]`, `[[flavors]]`, `[[servers]]` and the hosts' `placement` inventories of a
//! scenario (see [`crate::compute`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{PathElem, Role, Scenario, Seconds};

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
    }
    Ok(())
}

pub(crate) fn expand(pattern: &str, n: usize) -> String {
    pattern.replace("{n}", &n.to_string())
}
