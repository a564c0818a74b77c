//! Placement under `/placement`: the version document, resource providers (one per compute
//! node, its UUID the hypervisor's), inventories, usages and allocations, as Placement 8.0.0
//! (1.39) answers them. Allocations move with evacuated servers ([`super::compute`]): the
//! target gets one when the scheduler picks it, the source keeps its own until its nova-compute
//! runs again.

use std::collections::BTreeMap;

use axum::http::Method;
use serde::Serialize;
use serde_json::{Value, json};

use super::compute::{self, InventorySpec};
use super::http::{ApiKind, Reply, SimRequest};
use super::keystone;
use super::microversion::{Api, Version};
use super::scenario::{Role, Scenario};
use super::world::World;

/// Resource class -> amount.
pub type Resources = BTreeMap<String, u64>;

pub const PLACEMENT: Api = Api {
    service_type: "placement",
    legacy_header: None,
    min: Version::new(1, 0),
    max: Version::new(1, 39),
};

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
    fn capacity(&self) -> u64 {
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
    /// One provider per compute (UUIDs from `hypervisors`), and each server's allocation on
    /// its host.
    pub fn new(scenario: &Scenario, compute: &compute::Compute) -> PlacementState {
        let mut p = PlacementState::default();
        for h in scenario.hosts.iter().filter(|h| h.role == Role::Compute) {
            let Some(uuid) = compute.hypervisors.get(&h.name) else {
                continue;
            };
            p.providers.push(Provider {
                uuid: uuid.clone(),
                name: h.name.clone(),
                generation: 1,
                inventories: inventory(&h.placement.clone().unwrap_or_default()),
            });
        }
        for s in &compute.servers {
            if let Some(rp) = compute.hypervisors.get(&s.host) {
                let need = s.flavor.resources(s.boot_from_volume);
                p.allocate(&s.id, rp, &need);
                p.consumers
                    .insert(s.id.clone(), (s.project_id.clone(), s.user_id.clone()));
            }
        }
        p
    }

    fn provider(&self, uuid: &str) -> Option<&Provider> {
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

fn error(status: u16, detail: &str) -> Reply {
    ApiKind::Placement.error(status, detail)
}

/// Routes `/placement/...`.
pub fn handle(world: &mut World, req: &SimRequest) -> Reply {
    let get = req.method == Method::GET || req.method == Method::HEAD;
    if req.segments.len() == 1 && get {
        // As real Placement: the root needs no token and lists one version with its range.
        return Reply::json(
            200,
            json!({"versions": [{"id": "v1.0", "max_version": "1.39", "min_version": "1.0",
                                 "status": "CURRENT",
                                 "links": [{"rel": "self", "href": ""}]}]}),
        );
    }
    let ctx = match keystone::authenticate(world, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let v = match PLACEMENT.negotiate(&req.headers) {
        Ok(v) => v,
        Err(e) => return error(e.status(), &e.to_string()),
    };
    if !ctx.is_admin() {
        return error(
            403,
            "Policy does not allow placement:resource_providers:list to be performed.",
        );
    }
    compute::advance(world, req.now);
    let segs = req.segs();
    let path = segs.get(1..).unwrap_or(&[]);
    let p = &world.placement;
    let reply = match (get, path) {
        (true, ["resource_providers"]) => {
            let name = req.query_param("name");
            let uuid = req.query_param("uuid");
            let list: Vec<Value> = p
                .providers
                .iter()
                .filter(|rp| name.is_none_or(|n| rp.name == n))
                .filter(|rp| uuid.is_none_or(|u| rp.uuid == u))
                .map(provider_view)
                .collect();
            Reply::json(200, json!({ "resource_providers": list }))
        }
        (true, ["resource_providers", uuid, rest @ ..]) => match p.provider(uuid) {
            None => error(404, &format!("No resource provider with uuid {uuid} found")),
            Some(rp) => match rest {
                [] => Reply::json(200, provider_view(rp)),
                ["inventories"] => Reply::json(
                    200,
                    json!({"resource_provider_generation": rp.generation, "inventories": rp.inventories}),
                ),
                ["usages"] => Reply::json(
                    200,
                    json!({"resource_provider_generation": rp.generation, "usages": p.usages(uuid)}),
                ),
                ["allocations"] => {
                    let mut out = serde_json::Map::new();
                    for (consumer, per) in &p.allocations {
                        if let Some(r) = per.get(*uuid) {
                            out.insert(consumer.clone(), json!({ "resources": r }));
                        }
                    }
                    Reply::json(
                        200,
                        json!({"allocations": out, "resource_provider_generation": rp.generation}),
                    )
                }
                _ => error(404, "The resource could not be found."),
            },
        },
        (true, ["allocations", consumer]) => {
            let mut out = serde_json::Map::new();
            for (rp, r) in p.allocations.get(*consumer).into_iter().flatten() {
                let generation = p.provider(rp).map_or(0, |x| x.generation);
                out.insert(
                    rp.clone(),
                    json!({"resources": r, "generation": generation}),
                );
            }
            let mut body = json!({ "allocations": out });
            if let Some((project, user)) = p.consumers.get(*consumer)
                && !out_is_empty(&body)
            {
                body["project_id"] = json!(project);
                body["user_id"] = json!(user);
                if v.at_least(1, 28) {
                    body["consumer_generation"] = json!(1);
                }
                if v.at_least(1, 38) {
                    body["consumer_type"] = json!("INSTANCE");
                }
            }
            Reply::json(200, body)
        }
        (false, _) => error(405, "The method is not allowed."),
        _ => error(404, "The resource could not be found."),
    };
    let mut reply = reply;
    for (k, val) in PLACEMENT.echo(v) {
        reply = reply.with_header(k, val);
    }
    reply
}

fn out_is_empty(body: &Value) -> bool {
    body["allocations"].as_object().is_none_or(|o| o.is_empty())
}

fn provider_view(rp: &Provider) -> Value {
    let base = format!("/resource_providers/{}", rp.uuid);
    let links: Vec<Value> = [
        "",
        "/inventories",
        "/usages",
        "/aggregates",
        "/traits",
        "/allocations",
    ]
    .iter()
    .map(|tail| {
        let rel = if tail.is_empty() { "self" } else { &tail[1..] };
        json!({"rel": rel, "href": format!("{base}{tail}")})
    })
    .collect();
    json!({"uuid": rp.uuid, "name": rp.name, "generation": rp.generation, "links": links,
           "parent_provider_uuid": null, "root_provider_uuid": rp.uuid})
}
