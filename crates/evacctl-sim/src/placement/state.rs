//! Placement's state: resource providers, inventories, allocations. The HTTP API is in
//! [`crate::placement`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use serde_json::{Value, json};

use crate::scenario::compute::InventorySpec;
use crate::scenario::{Role, Scenario};

/// Resource class -> amount.
pub type Resources = BTreeMap<String, u64>;

#[derive(Debug, Clone, Serialize)]
pub struct InventoryRecord {
    pub total: u64,
    pub reserved: u64,
    pub min_unit: u64,
    pub max_unit: u64,
    pub step_size: u64,
    pub allocation_ratio: f64,
}

impl InventoryRecord {
    /// (total - reserved) x allocation_ratio, as Placement computes it.
    pub(crate) fn capacity(&self) -> u64 {
        let c = (self.total.saturating_sub(self.reserved) as f64 * self.allocation_ratio).floor();
        if c > 0.0 { c as u64 } else { 0 }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Provider {
    pub uuid: String,
    pub name: String,
    pub generation: u64,
    pub inventories: BTreeMap<String, InventoryRecord>,
    /// Its own traits; the disabled trait is derived from Nova's service when asked.
    pub traits: BTreeSet<String>,
}

/// Placement's state: providers and allocations (consumer -> provider -> resources).
#[derive(Debug, Default)]
pub struct PlacementState {
    pub providers: Vec<Provider>,
    pub allocations: BTreeMap<String, BTreeMap<String, Resources>>,
    /// Consumer -> (project, user), as Placement records them.
    pub consumers: BTreeMap<String, (String, String)>,
}

fn inventory(spec: &InventorySpec) -> BTreeMap<String, InventoryRecord> {
    let rec = |total: u64, reserved: u64, ratio: f64| InventoryRecord {
        total,
        reserved,
        min_unit: 1,
        max_unit: total,
        step_size: 1,
        allocation_ratio: ratio,
    };
    [
        (
            "VCPU".to_string(),
            rec(spec.vcpus, spec.reserved_vcpus, spec.cpu_allocation_ratio),
        ),
        (
            "MEMORY_MB".to_string(),
            rec(
                spec.memory_mb,
                spec.reserved_memory_mb,
                spec.ram_allocation_ratio,
            ),
        ),
        (
            "DISK_GB".to_string(),
            rec(
                spec.disk_gb,
                spec.reserved_disk_gb,
                spec.disk_allocation_ratio,
            ),
        ),
    ]
    .into()
}

impl PlacementState {
    /// One provider per compute, its UUID from `hypervisors` (compute host -> hypervisor UUID),
    /// with no allocation yet: the world adds the servers' (Placement knows nothing of Nova).
    pub fn new(scenario: &Scenario, hypervisors: &BTreeMap<String, String>) -> PlacementState {
        let mut p = PlacementState::default();
        for h in scenario.hosts.iter().filter(|h| h.role == Role::Compute) {
            let Some(uuid) = hypervisors.get(&h.name) else {
                continue;
            };
            p.providers.push(Provider {
                uuid: uuid.clone(),
                name: h.name.clone(),
                generation: 1,
                inventories: inventory(&h.placement.clone().unwrap_or_default()),
                // nova-compute reports it on every compute node's root provider.
                traits: ["COMPUTE_NODE".to_string()].into(),
            });
        }
        p
    }

    pub(crate) fn provider(&self, uuid: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.uuid == uuid)
    }

    pub fn usages(&self, rp: &str) -> Resources {
        let mut u: Resources = self
            .provider(rp)
            .map(|p| p.inventories.keys().map(|k| (k.clone(), 0)).collect())
            .unwrap_or_default();
        for per_rp in self.allocations.values() {
            if let Some(r) = per_rp.get(rp) {
                for (k, v) in r {
                    *u.entry(k.clone()).or_insert(0) += v;
                }
            }
        }
        u
    }

    /// Every provider's usages in one pass over the allocations.
    pub fn all_usages(&self) -> HashMap<&str, Resources> {
        let mut out: HashMap<&str, Resources> = HashMap::with_capacity(self.providers.len());
        for per_rp in self.allocations.values() {
            for (rp, r) in per_rp {
                let u = out.entry(rp.as_str()).or_default();
                for (k, v) in r {
                    *u.entry(k.clone()).or_insert(0) += v;
                }
            }
        }
        out
    }

    pub fn free(&self, rp: &str, class: &str) -> u64 {
        let cap = self
            .provider(rp)
            .and_then(|p| p.inventories.get(class))
            .map_or(0, InventoryRecord::capacity);
        cap.saturating_sub(self.usages(rp).get(class).copied().unwrap_or(0))
    }

    /// Whether `need` fits on the provider (free, max_unit, step_size).
    pub fn fits(&self, rp: &str, need: &Resources) -> bool {
        let Some(p) = self.provider(rp) else {
            return false;
        };
        need.iter().all(|(k, &v)| {
            p.inventories.get(k).is_some_and(|inv| {
                v <= inv.max_unit
                    && v >= inv.min_unit
                    && v % inv.step_size.max(1) == 0
                    && v <= self.free(rp, k)
            })
        })
    }

    pub fn allocate(&mut self, consumer: &str, rp: &str, need: &Resources) {
        self.allocations
            .entry(consumer.to_string())
            .or_default()
            .insert(rp.to_string(), need.clone());
        self.bump(rp);
    }

    pub fn deallocate(&mut self, consumer: &str, rp: &str) {
        if let Some(per) = self.allocations.get_mut(consumer) {
            per.remove(rp);
        }
        self.bump(rp);
    }

    fn bump(&mut self, rp: &str) {
        if let Some(p) = self.providers.iter_mut().find(|p| p.uuid == rp) {
            p.generation += 1;
        }
    }

    /// For `GET /_sim/placement`.
    pub fn view(&self, _hypervisors: &BTreeMap<String, String>) -> Value {
        let list: Vec<Value> = self
            .providers
            .iter()
            .map(|p| {
                json!({"uuid": p.uuid, "name": p.name, "inventories": p.inventories,
                       "usages": self.usages(&p.uuid)})
            })
            .collect();
        json!({ "resource_providers": list })
    }
}
