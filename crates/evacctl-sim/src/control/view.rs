//! A host as the control API shows it; also shown by Consul's controls, so it sits below both.

use serde_json::{Value, json};

use crate::clock;
use crate::world::World;

/// A host and its services, as the control API shows them.
pub fn host_view(world: &World, name: &str, now: f64) -> Value {
    let Ok(host) = world.host(name) else {
        return Value::Null;
    };
    let s = &world.settings;
    let services: Vec<Value> = world
        .services_on(name)
        .map(|svc| {
            json!({
                "api": svc.api,
                "binary": svc.binary,
                "host": svc.host,
                "id": svc.id,
                "uuid": svc.uuid,
                "zone": svc.zone,
                "status": svc.status(),
                "state": svc.state(now, s),
                "forced_down": svc.forced_down,
                "disabled_reason": svc.disabled_reason,
                "running": host.is_running() && !svc.crashed,
                "crashed": svc.crashed,
                "last_heartbeat": clock::iso_micros_z(svc.last_seen_up(now, s)),
                "updated_at": clock::iso_micros(svc.updated_at(now, s)),
            })
        })
        .collect();
    json!({
        "name": host.name,
        "role": host.role,
        "zone": host.zone,
        "power": if host.powered_on { "on" } else { "off" },
        "hardware_fault": host.hardware_fault,
        "hung_at_boot": host.hung,
        "bmc": world.bmcs.get(name),
        "services": services,
    })
}
