//! Nova's `os-aggregates` (list, show) and `os-availability-zone` (list, detail), as Zed
//! answers them. Aggregates are read-only here: the scenario makes them.

use serde_json::{Value, json};

use crate::clock;
use crate::compute::state::Aggregate;
use crate::http::{Reply, SimRequest, openstack_fault};
use crate::keystone::AuthContext;
use crate::microversion::Version;
use crate::scenario::compute::INTERNAL_ZONE;
use crate::world::{ServiceApi, World};

fn forbidden(rule: &str) -> Reply {
    openstack_fault(
        403,
        &format!("Policy doesn't allow {rule} to be performed."),
    )
}

/// One aggregate as Nova marshals it: every field of the object, `uuid` from 2.41.
fn aggregate_view(a: &Aggregate, v: Version) -> Value {
    let mut out = json!({
        "availability_zone": a.availability_zone,
        "created_at": clock::iso_micros(a.created_at),
        "deleted": false,
        "deleted_at": null,
        "hosts": a.hosts,
        "id": a.id,
        "metadata": a.metadata,
        "name": a.name,
        "updated_at": null,
    });
    if v.at_least(2, 41) {
        out["uuid"] = json!(a.uuid);
    }
    out
}

/// `GET /os-aggregates` (admin).
pub fn list_aggregates(world: &World, ctx: &AuthContext, v: Version) -> Reply {
    if !ctx.is_admin() {
        return forbidden("os_compute_api:os-aggregates:index");
    }
    let items: Vec<Value> = world
        .compute
        .aggregates
        .iter()
        .map(|a| aggregate_view(a, v))
        .collect();
    Reply::json(200, json!({ "aggregates": items }))
}

/// `GET /os-aggregates/{id}` (admin): the id is the integer one, even from 2.41.
pub fn show_aggregate(world: &World, ctx: &AuthContext, v: Version, id: &str) -> Reply {
    if !ctx.is_admin() {
        return forbidden("os_compute_api:os-aggregates:show");
    }
    let Ok(n) = id.parse::<u64>() else {
        return openstack_fault(400, "Invalid input received: id must be an integer");
    };
    match world.compute.aggregates.iter().find(|a| a.id == n) {
        Some(a) => Reply::json(200, json!({ "aggregate": aggregate_view(a, v) })),
        None => openstack_fault(404, &format!("Aggregate {id} could not be found.")),
    }
}

/// `GET /os-availability-zone` (anyone) and `/detail` (admin). A zone is available when one
/// of its services is enabled, unavailable when all are disabled; the plain list hides the
/// internal zone, the detail lists each enabled service per host (Nova's
/// `_describe_availability_zones[_verbose]`).
pub fn list_zones(world: &World, req: &SimRequest, ctx: &AuthContext, detail: bool) -> Reply {
    if detail && !ctx.is_admin() {
        return forbidden("os_compute_api:os-availability-zone:detail");
    }
    let services: Vec<_> = world.services_of(ServiceApi::Nova).collect();
    let mut available: Vec<&str> = services
        .iter()
        .filter(|s| !s.disabled)
        .map(|s| s.zone.as_str())
        .collect();
    available.sort_unstable();
    available.dedup();
    let mut unavailable: Vec<&str> = services
        .iter()
        .filter(|s| s.disabled && !available.contains(&s.zone.as_str()))
        .map(|s| s.zone.as_str())
        .collect();
    unavailable.sort_unstable();
    unavailable.dedup();
    let mut info = Vec::new();
    for zone in &available {
        if !detail && *zone == INTERNAL_ZONE {
            continue;
        }
        let hosts = if detail {
            let mut hosts = serde_json::Map::new();
            for s in services.iter().filter(|s| !s.disabled && s.zone == *zone) {
                let entry = hosts.entry(s.host.clone()).or_insert_with(|| json!({}));
                entry[s.binary.as_str()] = json!({
                    "available": s.is_up(req.now, &world.settings),
                    "active": true,
                    "updated_at": clock::iso_micros(s.updated_at(req.now, &world.settings)),
                });
            }
            Value::Object(hosts)
        } else {
            Value::Null
        };
        info.push(json!({"zoneName": zone, "zoneState": {"available": true}, "hosts": hosts}));
    }
    for zone in &unavailable {
        if !detail && *zone == INTERNAL_ZONE {
            continue;
        }
        info.push(json!({"zoneName": zone, "zoneState": {"available": false}, "hosts": null}));
    }
    Reply::json(200, json!({ "availabilityZoneInfo": info }))
}
