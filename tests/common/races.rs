//! The races of one actor per host: compute-1 dead with `n` tiny servers, Nova's evacuate
//! action slowed so that runs overlap, and what Nova then holds (shared by one_actor.rs and
//! manual_races.rs).

#![allow(dead_code)] // each test binary uses its own subset

use std::collections::BTreeMap;

use serde_json::json;

use super::sim::SimCloud;

/// compute-1 dead (powered off) from the start with `n` tiny servers; compute-2 and
/// compute-3 have room. Consul runs (the simulator's default).
pub fn scenario(n: usize) -> String {
    format!(
        r#"
[cloud]
region = "RegionOne"
service_down_time = 2
report_interval = 1
token_lifetime = 3600

[compute]
evacuate_accept_delay = "300ms"
evacuate_rebuild_delay = "2s"

[[users]]
name = "admin"
password = "sim-admin-password"
domain = "Default"
project = "admin"
roles = ["admin"]

[[hosts]]
name = "ctl-1"
zone = "internal"
role = "controller"

[[hosts]]
name = "compute-1"
role = "compute"
powered_on = false
placement = {{ vcpus = 64, memory_mb = 65536, disk_gb = 500, cpu_allocation_ratio = 1.0 }}

[[hosts]]
name = "compute-2"
role = "compute"
placement = {{ vcpus = 64, memory_mb = 65536, disk_gb = 500, cpu_allocation_ratio = 1.0 }}

[[hosts]]
name = "compute-3"
role = "compute"
placement = {{ vcpus = 64, memory_mb = 65536, disk_gb = 500, cpu_allocation_ratio = 1.0 }}

[[flavors]]
name = "m1.tiny"
id = "1"
vcpus = 1
ram = 512
disk = 1

[[servers]]
name = "vm-{{n}}"
count = {n}
host = "compute-1"
flavor = "m1.tiny"
"#
    )
}

/// Every evacuate action waits `ms` before Nova answers it.
pub fn slow_evacuations(cloud: &SimCloud, ms: u64) {
    cloud.ctl(
        "POST",
        "faults",
        Some(
            json!({"method": "POST", "path_contains": "/action", "latency_ms": ms,
                    "count": 10000}),
        ),
    );
}

/// Evacuation migrations per server id, as the simulated Nova holds them.
pub fn evacuations(cloud: &SimCloud) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for m in cloud.ctl("GET", "migrations", None)["migrations"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let id = m["instance_uuid"].as_str().unwrap_or_default().to_string();
        *out.entry(id).or_default() += 1;
    }
    out
}

pub fn each_evacuated_once(cloud: &SimCloud, n: usize, what: &str) {
    let e = evacuations(cloud);
    assert!(
        e.values().all(|&c| c == 1),
        "{what}: a server was evacuated twice: {e:?}"
    );
    assert_eq!(e.len(), n, "{what}: not every server was evacuated: {e:?}");
}
