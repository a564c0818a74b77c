//! Nova's servers, flavors, hypervisors, migrations, aggregates and availability zones
//! ([`zones`]) and the evacuate action, with a scheduler that places evacuated servers through
//! Placement ([`super::placement`]), as Zed answers (`tests/fixtures/zed/`).
//!
//! Zones as in Nova: a compute's zone is its zoned aggregate's, else `nova`; a server shows
//! its host's zone (`OS-EXT-AZ:availability_zone`). A server booted into a zone is evacuated
//! only within it unless its host is forced (below 2.29, or `force: true`); one booted without
//! a zone may go anywhere. Disabled computes are never picked.
//!
//! An evacuation moves on the clock: `accepted` (the API answered 200; the server's task is
//! `rebuilding`), after `evacuate_accept_delay` the scheduler picks a host with room
//! (`pre-migrating`, allocations on the target) or finds none (`error`, server ERROR:
//! NoValidHost), after `evacuate_rebuild_delay` more the server runs on the target (`done`). A
//! `done` migration becomes `completed`, and the source's allocations go, only once the
//! source's nova-compute runs again (docs/design.md 3.7). Like real Nova,
//! the API accepts a second evacuation of a server whose evacuation is still running; here the
//! second migration fails and the server ends in ERROR (docs/design.md 3.6).
//!
//! Scenario tables (all optional):
//!
//! ```toml
//! [compute]
//! evacuate_accept_delay = "200ms"  # accepted -> pre-migrating (scheduling)
//! evacuate_rebuild_delay = "1s"    # pre-migrating -> done
//! max_limit = 1000                 # Nova's [api] max_limit: the largest page
//!
//! [[flavors]]
//! name = "m1.small"                # id defaults to the name
//! vcpus = 1
//! ram = 2048                       # MiB
//! disk = 20                        # GiB
//! extra_specs = { evacuable = "true" }
//!
//! [[servers]]
//! name = "web-{n}"                 # {n}: 1..=count
//! count = 3
//! host = "compute-1"
//! flavor = "m1.small"
//! vm_state = "active"              # active, stopped, error, building, paused, ...
//! task_state = "rebooting"         # optional
//! launched = true                  # false: OS-SRV-USG:launched_at is null (never ran)
//! metadata = { HA_Enabled = "true" }
//! tags = ["ha"]
//! project = "admin"                # default: the first user's project
//! id = "..."                       # optional fixed UUID (count = 1 only)
//! boot_from_volume = false
//! availability_zone = "az1"        # the zone asked for at boot (default: none, any zone)
//!
//! [[aggregates]]                   # zones named only by hosts' `zone` keys get one each
//! name = "ssd"
//! hosts = ["compute-3", "compute-4"]
//! availability_zone = "az2"        # optional: its hosts' zone (hosts' `zone` keys must agree)
//! metadata = { ssd = "true" }
//!
//! [[hosts]]                        # a compute's Placement inventory (defaults below)
//! placement = { vcpus = 16, memory_mb = 65536, disk_gb = 1000, cpu_allocation_ratio = 4.0 }
//! disabled_reason = "evacctl: reserved"  # nova-compute starts disabled (a reserved spare)
//! ```

use axum::http::Method;
use serde_json::{Value, json};

use super::clock;
use super::http::{Reply, SimRequest, openstack_fault};
use super::keystone::AuthContext;
use super::microversion::Version;
use super::scenario::compute::VM_STATES;
use super::world::{ServiceApi, World};

pub mod state;
pub mod zones;
// The state and the scenario's tables keep their old paths (`compute::SimServer`).
pub use self::state::*;
pub use super::scenario::compute::{ComputeSpec, FlavorSpec, InventorySpec, ServerSpec};

/// How long nova-api takes before it can answer `req`, beyond its own work: from 2.88 the
/// hypervisor detail (and show) carries each hypervisor's uptime, which nova-api asks every
/// compute it believes up for over RPC. A compute that is gone but still believed up (its
/// heartbeat stopped less than `service_down_time` ago) never answers: nova-api waits its
/// `rpc_response_timeout` (seen on real Zed: 60 s right after a power loss).
pub fn rpc_wait(world: &World, req: &SimRequest, now: f64) -> f64 {
    let segs = req.segs();
    let asks_uptime = req.method == Method::GET
        && matches!(
            segs.iter().rposition(|s| *s == "os-hypervisors"),
            Some(i) if segs.len() == i + 2 && !matches!(segs[i + 1], "servers" | "search")
        );
    let at_least_2_88 = super::microversion::NOVA
        .negotiate(&req.headers)
        .is_ok_and(|v| v.at_least(2, 88));
    if !(asks_uptime && at_least_2_88) {
        return 0.0;
    }
    let gone_but_up = world.services.iter().any(|s| {
        s.binary == "nova-compute"
            && s.is_up(now, &world.settings)
            && (s.crashed
                || !s.heartbeat.is_running()
                || !world.host(&s.node).is_ok_and(|h| h.is_running()))
    });
    if gone_but_up {
        world.settings.rpc_response_timeout
    } else {
        0.0
    }
}

/// The image every simulated server (not booted from a volume) was built from.
pub const IMAGE_ID: &str = "0c972353-2bd4-4155-a7d1-e50fcf1b8c86";

// ---- the clock: migrations move on ------------------------------------------------------

/// Is the host's nova-compute running (powered, not crashed)? Not the same as "up": a forced
/// down service may run.
fn compute_running(world: &World, host: &str) -> bool {
    let powered = world.host(host).is_ok_and(|h| h.is_running());
    powered
        && world
            .services_of(ServiceApi::Nova)
            .any(|s| s.host == host && s.binary == "nova-compute" && !s.crashed)
}

/// Is the host's nova-compute up and enabled, as the scheduler's filters want?
fn schedulable(world: &World, host: &str, now: f64) -> bool {
    world.services_of(ServiceApi::Nova).any(|s| {
        s.host == host && s.binary == "nova-compute" && !s.disabled && s.is_up(now, &world.settings)
    })
}

/// Moves every migration whose time has come. Called before each compute, placement and
/// control request, so the world is always seen as of `now`.
pub fn advance(world: &mut World, now: f64) {
    let accept = world.compute.timing.evacuate_accept_delay;
    let rebuild = world.compute.timing.evacuate_rebuild_delay;
    for i in 0..world.compute.migrations.len() {
        // Most records have nothing due: look before cloning (this runs on every request).
        let due = {
            let m = &world.compute.migrations[i];
            match m.status.as_str() {
                "accepted" => now >= m.created_at + accept,
                "pre-migrating" => now >= m.created_at + accept + rebuild,
                "done" => compute_running(world, &m.source_compute),
                _ => false,
            }
        };
        if !due {
            continue;
        }
        let m = world.compute.migrations[i].clone();
        if m.status == "accepted" && now >= m.created_at + accept {
            schedule(world, i, m.created_at + accept);
        }
        let m = world.compute.migrations[i].clone();
        if m.status == "pre-migrating" && now >= m.created_at + accept + rebuild {
            finish(world, i, m.created_at + accept + rebuild);
        }
        let m = world.compute.migrations[i].clone();
        if m.status == "done" && compute_running(world, &m.source_compute) {
            // The source's nova-compute cleans up in init_host: its allocations go.
            let rp = world.compute.hypervisors.get(&m.source_compute).cloned();
            if let Some(rp) = rp {
                world.placement.deallocate(&m.instance_uuid, &rp);
            }
            let mm = &mut world.compute.migrations[i];
            mm.status = "completed".into();
            mm.updated_at = Some(now);
        }
    }
}

/// The scheduler: a host with room (enabled, up, not the source; Placement says it fits; in
/// the zone asked for at boot unless the host was forced), the requested one if any, the
/// emptiest (most free RAM) otherwise.
fn schedule(world: &mut World, i: usize, at: f64) {
    let m = world.compute.migrations[i].clone();
    let Some(si) = world.compute.server_index(&m.instance_uuid) else {
        world.compute.migrations[i].status = "error".into();
        return;
    };
    if m.doomed {
        let mm = &mut world.compute.migrations[i];
        mm.status = "failed".into();
        mm.updated_at = Some(at);
        return;
    }
    let server = world.compute.servers[si].clone();
    let need = server.flavor.resources(server.boot_from_volume);
    // AvailabilityZoneFilter: the request spec's zone, if the boot asked for one.
    let zone = server.requested_zone.as_deref().filter(|_| !m.forced);
    let candidates: Vec<String> = world
        .compute
        .hypervisors
        .keys()
        .filter(|h| **h != m.source_compute)
        .filter(|h| m.requested_host.as_ref().is_none_or(|r| r == *h))
        .filter(|h| zone.is_none_or(|z| world.host(h).is_ok_and(|x| x.zone == z)))
        .filter(|h| schedulable(world, h, at))
        .cloned()
        .collect();
    let mut best: Option<(String, u64)> = None;
    for h in candidates {
        let Some(rp) = world.compute.hypervisors.get(&h) else {
            continue;
        };
        if world.placement.fits(rp, &need) {
            let free_ram = world.placement.free(rp, "MEMORY_MB");
            if best.as_ref().is_none_or(|(_, f)| free_ram > *f) {
                best = Some((h, free_ram));
            }
        }
    }
    match best {
        Some((host, _)) => {
            if let Some(rp) = world.compute.hypervisors.get(&host).cloned() {
                world.placement.allocate(&server.id, &rp, &need);
            }
            let mm = &mut world.compute.migrations[i];
            mm.status = "pre-migrating".into();
            mm.dest_compute = Some(host);
            mm.updated_at = Some(at);
        }
        None => {
            let mm = &mut world.compute.migrations[i];
            mm.status = "error".into();
            mm.updated_at = Some(at);
            let s = &mut world.compute.servers[si];
            s.vm_state = "error".into();
            s.task_state = None;
            s.updated_at = at;
            s.fault = Some("No valid host was found. There are not enough hosts available.".into());
            tracing::info!("evacuation of {}: NoValidHost", s.id);
        }
    }
}

/// Rebuilt on the target: the server runs there in its old power state (an ERROR server comes
/// back ACTIVE, as Nova's rebuild does), unless a second evacuation raced this one.
fn finish(world: &mut World, i: usize, at: f64) {
    let m = world.compute.migrations[i].clone();
    let Some(si) = world.compute.server_index(&m.instance_uuid) else {
        return;
    };
    let mm = &mut world.compute.migrations[i];
    mm.status = "done".into();
    mm.updated_at = Some(at);
    let s = &mut world.compute.servers[si];
    if let Some(dest) = &m.dest_compute {
        s.host = dest.clone();
    }
    s.task_state = None;
    s.updated_at = at;
    if s.raced {
        s.vm_state = "error".into();
        s.fault = Some(format!(
            "Instance instance-{} already exists on {} (a second evacuation raced the first)",
            s.id, s.host
        ));
    } else if s.vm_state != "stopped" {
        s.vm_state = "active".into();
        s.fault = None;
    }
}

// ---- views ------------------------------------------------------------------------------

fn iso_z(t: f64) -> String {
    clock::iso_seconds_z(t)
}

/// A server's `OS-EXT-AZ:availability_zone`: its host's zone (it follows the server when it is
/// evacuated); without a host, the zone asked for at boot, or "".
pub fn server_zone<'a>(world: &'a World, s: &'a SimServer) -> &'a str {
    match world.host(&s.host) {
        Ok(h) if !s.host.is_empty() => &h.zone,
        _ => s.requested_zone.as_deref().unwrap_or(""),
    }
}

/// A server as `GET /servers/detail` shows it to an admin (fields as in Zed's 2.93 sample);
/// `zone` from [`server_zone`].
pub fn server_view(s: &SimServer, zone: &str, v: Version, req: &SimRequest) -> Value {
    let base = &req.base_url;
    let image = if s.boot_from_volume {
        json!("")
    } else {
        json!({"id": IMAGE_ID, "links": [{"rel": "bookmark",
            "href": format!("{base}/compute/images/{IMAGE_ID}")}]})
    };
    let flavor = if v.at_least(2, 47) {
        json!({"vcpus": s.flavor.vcpus, "ram": s.flavor.ram, "disk": s.flavor.disk,
               "ephemeral": s.flavor.ephemeral,
               "swap": if s.flavor.swap == 0 { json!("") } else { json!(s.flavor.swap) },
               "original_name": s.flavor.name, "extra_specs": s.flavor.extra_specs})
    } else {
        json!({"id": s.flavor.id, "links": [{"rel": "bookmark",
            "href": format!("{base}/compute/flavors/{}", s.flavor.id)}]})
    };
    let mut out = json!({
        "id": s.id,
        "name": s.name,
        "status": s.status(),
        "tenant_id": s.project_id,
        "user_id": s.user_id,
        "metadata": s.metadata,
        "hostId": if s.host.is_empty() { String::new() } else { format!("{:x}", fnv(&format!("{}{}", s.project_id, s.host))) },
        "image": image,
        "flavor": flavor,
        "created": iso_z(s.created_at),
        "updated": iso_z(s.updated_at),
        "addresses": {},
        "accessIPv4": "",
        "accessIPv6": "",
        "links": [{"rel": "self", "href": format!("{base}/compute/v2.1/servers/{}", s.id)},
                  {"rel": "bookmark", "href": format!("{base}/compute/servers/{}", s.id)}],
        "OS-DCF:diskConfig": "MANUAL",
        "progress": 0,
        "OS-EXT-AZ:availability_zone": zone,
        "config_drive": "",
        "key_name": null,
        "OS-SRV-USG:launched_at": s.launched_at.map(clock::iso_micros),
        "OS-SRV-USG:terminated_at": null,
        "OS-EXT-SRV-ATTR:host": s.host,
        "OS-EXT-SRV-ATTR:instance_name": s.instance_name,
        "OS-EXT-SRV-ATTR:hypervisor_hostname": s.host,
        "OS-EXT-STS:task_state": s.task_state,
        "OS-EXT-STS:vm_state": s.vm_state,
        "OS-EXT-STS:power_state": s.power_state(),
        "os-extended-volumes:volumes_attached": [],
    });
    if let Some(o) = out.as_object_mut() {
        if v.at_least(2, 9) {
            o.insert("locked".into(), json!(false));
        }
        if v.at_least(2, 73) {
            o.insert("locked_reason".into(), Value::Null);
        }
        if v.at_least(2, 19) {
            o.insert("description".into(), Value::Null);
        }
        if v.at_least(2, 26) {
            o.insert("tags".into(), json!(s.tags));
        }
        if v.at_least(2, 63) {
            o.insert("trusted_image_certificates".into(), Value::Null);
        }
        if v.at_least(2, 16) {
            o.insert("host_status".into(), json!(""));
        }
        if s.vm_state == "error"
            && let Some(f) = &s.fault
        {
            o.insert(
                "fault".into(),
                json!({"code": 500, "created": iso_z(s.updated_at), "message": f}),
            );
        }
    }
    out
}

/// A stable short hash (Nova's hostId is a sha224 of project and host; any stable value does).
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

fn migration_view(m: &SimMigration, v: Version) -> Value {
    let mut out = json!({
        "id": m.id,
        "source_compute": m.source_compute,
        "dest_compute": m.dest_compute,
        "source_node": m.source_compute,
        "dest_node": m.dest_compute,
        "dest_host": m.dest_compute.as_ref().map(|_| "192.168.0.1"),
        "old_instance_type_id": null,
        "new_instance_type_id": null,
        "instance_uuid": m.instance_uuid,
        "status": m.status,
        "created_at": clock::iso_micros(m.created_at),
        "updated_at": m.updated_at.map(clock::iso_micros),
    });
    if let Some(o) = out.as_object_mut() {
        if v.at_least(2, 23) {
            o.insert("migration_type".into(), json!("evacuation"));
        } else {
            // Nova shows it without a microversion too (docs/design.md 3.4).
            o.insert("migration_type".into(), json!("evacuation"));
        }
        if v.at_least(2, 59) {
            o.insert("uuid".into(), json!(m.uuid));
        }
        if v.at_least(2, 80) {
            o.insert("user_id".into(), json!(m.user_id));
            o.insert("project_id".into(), json!(m.project_id));
        }
    }
    out
}

// ---- routes -----------------------------------------------------------------------------

/// Routes the compute paths this module serves; `None` for the others.
pub fn route(
    world: &mut World,
    req: &SimRequest,
    ctx: &AuthContext,
    v: Version,
    path: &[&str],
) -> Option<Reply> {
    let get = req.method == Method::GET || req.method == Method::HEAD;
    let reply = match (path, get) {
        (["servers"], true) => list_servers(world, req, ctx, v, false),
        (["servers", "detail"], true) => list_servers(world, req, ctx, v, true),
        (["servers", id], true) => show_server(world, req, ctx, v, id),
        (["servers", id, "action"], false) if req.method == Method::POST => {
            action(world, req, ctx, v, id)
        }
        (["flavors"], true) => list_flavors(world, req, false),
        (["flavors", "detail"], true) => list_flavors(world, req, true),
        (["flavors", id], true) => show_flavor(world, req, id),
        (["os-migrations"], true) => list_migrations(world, req, ctx, v),
        (["os-hypervisors"], true) => list_hypervisors(world, req, ctx, v, false),
        (["os-hypervisors", "detail"], true) => list_hypervisors(world, req, ctx, v, true),
        (["os-hypervisors", pattern, what @ ("servers" | "search")], true)
            if !v.at_least(2, 53) =>
        {
            legacy_hypervisor_search(world, req, ctx, v, pattern, what)
        }
        (["os-aggregates"], true) => zones::list_aggregates(world, ctx, v),
        (["os-aggregates", id], true) => zones::show_aggregate(world, ctx, v, id),
        (["os-availability-zone"], true) => zones::list_zones(world, req, ctx, false),
        (["os-availability-zone", "detail"], true) => zones::list_zones(world, req, ctx, true),
        (["servers"] | ["servers", ..] | ["flavors", ..] | ["os-migrations"], false)
        | (["os-hypervisors", ..] | ["os-aggregates", ..], false)
        | (["os-availability-zone", ..], false) => {
            openstack_fault(405, "The method is not allowed.")
        }
        _ => return None,
    };
    Some(reply)
}

fn forbidden(rule: &str) -> Reply {
    openstack_fault(
        403,
        &format!("Policy doesn't allow {rule} to be performed."),
    )
}

fn truthy(v: Option<&str>) -> bool {
    v.is_some_and(|s| {
        !matches!(
            s.to_ascii_lowercase().as_str(),
            "0" | "false" | "no" | "off"
        )
    })
}

/// A page of `items` after `marker` (by id), at most `limit`, with Nova's next link when the
/// page is full.
fn paginate<'a, T>(
    items: &'a [T],
    id_of: impl Fn(&T) -> &str,
    req: &SimRequest,
    max_limit: usize,
    marker_kind: &str,
) -> Result<(Vec<&'a T>, Option<String>), Reply> {
    let limit = match req.query_param("limit") {
        None => max_limit,
        Some(l) => match l.parse::<usize>() {
            Ok(n) => n.min(max_limit),
            Err(_) => {
                return Err(openstack_fault(
                    400,
                    &format!("Invalid input for query parameters limit. Value: {l}."),
                ));
            }
        },
    };
    let start = match req.query_param("marker") {
        None => 0,
        Some(m) => match items.iter().position(|x| id_of(x) == m) {
            Some(i) => i + 1,
            None => {
                return Err(openstack_fault(
                    400,
                    &format!("{marker_kind} [{m}] not found"),
                ));
            }
        },
    };
    let page: Vec<&T> = items.iter().skip(start).take(limit).collect();
    let next = (limit > 0 && page.len() == limit)
        .then(|| page.last().map(|x| id_of(x).to_string()))
        .flatten();
    Ok((page, next))
}

/// The next link: the request's own query with `marker` (and `limit`) replaced.
fn next_link(req: &SimRequest, path: &str, marker: &str) -> Value {
    let mut q: Vec<(String, String)> = req
        .query
        .iter()
        .filter(|(k, _)| k != "marker")
        .cloned()
        .collect();
    q.push(("marker".into(), marker.into()));
    let qs: Vec<String> = q
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect();
    json!([{"rel": "next", "href": format!("{}/compute/v2.1/{path}?{}", req.base_url, qs.join("&"))}])
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn list_servers(
    world: &mut World,
    req: &SimRequest,
    ctx: &AuthContext,
    v: Version,
    detail: bool,
) -> Reply {
    let all = truthy(req.query_param("all_tenants"));
    if all && !ctx.is_admin() {
        return forbidden("os_compute_api:servers:index:get_all_tenants");
    }
    let host = req.query_param("host").filter(|_| ctx.is_admin());
    let name = req.query_param("name");
    let status = req.query_param("status").map(str::to_ascii_uppercase);
    let project = req
        .query_param("project_id")
        .or_else(|| req.query_param("tenant_id"))
        .filter(|_| all);
    // Newest first, as Nova sorts by default (created_at desc, id desc).
    let mut list: Vec<&SimServer> = world
        .compute
        .servers
        .iter()
        .filter(|s| all || ctx.project_id.as_deref() == Some(s.project_id.as_str()))
        .filter(|s| project.is_none_or(|p| s.project_id == p))
        .filter(|s| host.is_none_or(|h| s.host == h))
        .filter(|s| name.is_none_or(|n| name_matches(n, &s.name)))
        .filter(|s| status.as_deref().is_none_or(|st| s.status() == st))
        .collect();
    list.sort_by(|a, b| {
        b.created_at
            .total_cmp(&a.created_at)
            .then_with(|| b.id.cmp(&a.id))
    });
    let (page, next) = match paginate(
        &list,
        |s| s.id.as_str(),
        req,
        world.compute.max_limit,
        "marker",
    ) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let items: Vec<Value> = page
        .iter()
        .map(|s| {
            if detail {
                server_view(s, server_zone(world, s), v, req)
            } else {
                json!({"id": s.id, "name": s.name, "links": [
                    {"rel": "self", "href": format!("{}/compute/v2.1/servers/{}", req.base_url, s.id)}]})
            }
        })
        .collect();
    let mut body = json!({ "servers": items });
    if let Some(m) = next {
        body["servers_links"] =
            next_link(req, if detail { "servers/detail" } else { "servers" }, &m);
    }
    Reply::json(200, body)
}

/// Nova's `name` filter is a regular expression (`re.search`); the simulator understands the
/// anchors `^`/`$` and backslash escapes, which is what clients send.
fn name_matches(pattern: &str, name: &str) -> bool {
    let anchored_start = pattern.starts_with('^');
    let p = pattern.strip_prefix('^').unwrap_or(pattern);
    let anchored_end = p.ends_with('$') && !p.ends_with("\\$");
    let p = if anchored_end { &p[..p.len() - 1] } else { p };
    let mut lit = String::new();
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                lit.push(n);
            }
        } else {
            lit.push(c);
        }
    }
    match (anchored_start, anchored_end) {
        (true, true) => name == lit,
        (true, false) => name.starts_with(&lit),
        (false, true) => name.ends_with(&lit),
        (false, false) => name.contains(&lit),
    }
}

fn show_server(world: &World, req: &SimRequest, ctx: &AuthContext, v: Version, id: &str) -> Reply {
    match world.compute.servers.iter().find(|s| s.id == id) {
        Some(s) if ctx.is_admin() || ctx.project_id.as_deref() == Some(s.project_id.as_str()) => {
            Reply::json(
                200,
                json!({ "server": server_view(s, server_zone(world, s), v, req) }),
            )
        }
        _ => openstack_fault(404, &format!("Instance {id} could not be found.")),
    }
}

fn action(world: &mut World, req: &SimRequest, ctx: &AuthContext, v: Version, id: &str) -> Reply {
    let body = match req.json() {
        Ok(b) => b,
        Err(_) => return openstack_fault(400, "Malformed request body"),
    };
    let Some((name, args)) = body
        .as_object()
        .and_then(|o| if o.len() == 1 { o.iter().next() } else { None })
    else {
        return openstack_fault(400, "Malformed request body");
    };
    match name.as_str() {
        "evacuate" => evacuate(world, req, ctx, v, id, args),
        other => openstack_fault(404, &format!("There is no such action: {other}")),
    }
}

/// `POST /servers/{id}/action {"evacuate": {...}}`, with Nova's checks in Nova's order.
fn evacuate(
    world: &mut World,
    req: &SimRequest,
    ctx: &AuthContext,
    v: Version,
    id: &str,
    args: &Value,
) -> Reply {
    if !ctx.is_admin() {
        return forbidden("os_compute_api:os-evacuate");
    }
    let Some(obj) = args.as_object() else {
        return openstack_fault(
            400,
            &format!(
                "Invalid input for field/attribute evacuate. Value: {args}. {args} is not of type 'object'"
            ),
        );
    };
    // The request schema per microversion.
    let mut allowed = vec!["host", "adminPass"];
    if v.at_least(2, 29) && !v.at_least(2, 68) {
        allowed.push("force");
    }
    if !v.at_least(2, 14) {
        allowed.push("onSharedStorage");
    }
    if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return openstack_fault(
            400,
            &format!(
                "Invalid input for field/attribute evacuate. Value: {args}. Additional properties are not allowed ('{k}' was unexpected)"
            ),
        );
    }
    if !v.at_least(2, 14) && !obj.contains_key("onSharedStorage") {
        return openstack_fault(
            400,
            &format!(
                "Invalid input for field/attribute evacuate. Value: {args}. 'onSharedStorage' is a required property"
            ),
        );
    }
    let host = match obj.get("host") {
        None | Some(Value::Null) => None,
        Some(Value::String(h)) if !h.is_empty() && h.len() <= 255 => Some(h.clone()),
        Some(other) => {
            return openstack_fault(
                400,
                &format!(
                    "Invalid input for field/attribute host. Value: {other}. {other} is not of type 'string'"
                ),
            );
        }
    };
    for key in ["force", "onSharedStorage"] {
        if let Some(val) = obj.get(key)
            && !val.is_boolean()
        {
            return openstack_fault(
                400,
                &format!(
                    "Invalid input for field/attribute {key}. Value: {val}. {val} is not of type 'boolean'"
                ),
            );
        }
    }
    let Some(si) = world.compute.server_index(id) else {
        return openstack_fault(404, &format!("Instance {id} could not be found."));
    };
    if let Some(h) = &host
        && !world.compute.hypervisors.contains_key(h)
    {
        return openstack_fault(404, &format!("Compute host {h} could not be found."));
    }
    let server = world.compute.servers[si].clone();
    if host.as_deref() == Some(server.host.as_str()) {
        return openstack_fault(400, "The target host can't be the same one.");
    }
    // check_instance_state(vm_state=[ACTIVE, STOPPED, ERROR], task_state=None): the task
    // state is not checked (docs/design.md 3.6).
    if !matches!(server.vm_state.as_str(), "active" | "stopped" | "error") {
        return openstack_fault(
            409,
            &format!(
                "Cannot 'evacuate' instance {id} while it is in vm_state {}",
                server.vm_state
            ),
        );
    }
    let source_up = world.services_of(ServiceApi::Nova).any(|s| {
        s.host == server.host && s.binary == "nova-compute" && s.is_up(req.now, &world.settings)
    });
    if source_up {
        return openstack_fault(
            400,
            &format!("Compute service of {} is still in use.", server.host),
        );
    }
    let racing = world
        .compute
        .migrations
        .iter()
        .any(|m| m.instance_uuid == id && m.in_progress());
    // Below 2.29 a named host bypasses the scheduler; from 2.29 only with force: true.
    let forced = host.is_some()
        && (!v.at_least(2, 29) || obj.get("force").and_then(Value::as_bool) == Some(true));
    world.compute.next_migration += 1;
    let mid = world.compute.next_migration;
    world.compute.migrations.push(SimMigration {
        id: mid,
        uuid: uuid::Uuid::new_v4().to_string(),
        instance_uuid: id.to_string(),
        source_compute: server.host.clone(),
        // Nova's compute API writes a named host into the record at once (the scheduler
        // fills it in later otherwise).
        dest_compute: host.clone(),
        requested_host: host,
        status: "accepted".into(),
        created_at: req.now,
        updated_at: None,
        user_id: ctx.user_id.clone(),
        project_id: ctx.project_id.clone().unwrap_or_default(),
        doomed: racing,
        forced,
    });
    let s = &mut world.compute.servers[si];
    s.task_state = Some("rebuilding".into());
    s.updated_at = req.now;
    if racing {
        s.raced = true;
        tracing::warn!("second evacuation of {id} while the first runs (accepted, as Nova does)");
    }
    if v.at_least(2, 14) {
        Reply::empty(200)
    } else {
        let pass: String = uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .chars()
            .take(12)
            .collect();
        Reply::json(200, json!({ "adminPass": pass }))
    }
}

fn flavor_view(f: &Flavor, req: &SimRequest, detail: bool) -> Value {
    let links =
        json!([{"rel": "self", "href": format!("{}/compute/v2.1/flavors/{}", req.base_url, f.id)}]);
    if !detail {
        return json!({"id": f.id, "name": f.name, "links": links, "description": null});
    }
    json!({"id": f.id, "name": f.name, "ram": f.ram, "disk": f.disk, "vcpus": f.vcpus,
           "swap": if f.swap == 0 { json!("") } else { json!(f.swap) },
           "OS-FLV-EXT-DATA:ephemeral": f.ephemeral, "OS-FLV-DISABLED:disabled": false,
           "os-flavor-access:is_public": true, "rxtx_factor": 1.0, "description": null,
           "extra_specs": f.extra_specs, "links": links})
}

fn list_flavors(world: &World, req: &SimRequest, detail: bool) -> Reply {
    let items: Vec<Value> = world
        .compute
        .flavors
        .iter()
        .map(|f| flavor_view(f, req, detail))
        .collect();
    Reply::json(200, json!({ "flavors": items }))
}

fn show_flavor(world: &World, req: &SimRequest, id: &str) -> Reply {
    match world.compute.flavors.iter().find(|f| f.id == id) {
        Some(f) => Reply::json(200, json!({ "flavor": flavor_view(f, req, true) })),
        None => openstack_fault(404, &format!("Flavor {id} could not be found.")),
    }
}

fn list_migrations(world: &World, req: &SimRequest, ctx: &AuthContext, v: Version) -> Reply {
    if !ctx.is_admin() {
        return forbidden("os_compute_api:os-migrations:index");
    }
    let q = |k: &str| req.query_param(k);
    if let Some(t) = q("migration_type")
        && !["evacuation", "live-migration", "migration", "resize"].contains(&t)
    {
        return openstack_fault(
            400,
            &format!("Invalid input for query parameters migration_type. Value: {t}."),
        );
    }
    let mut list: Vec<&SimMigration> = world
        .compute
        .migrations
        .iter()
        .filter(|_| q("migration_type").is_none_or(|t| t == "evacuation"))
        .filter(|m| q("source_compute").is_none_or(|h| m.source_compute == h))
        .filter(|m| q("instance_uuid").is_none_or(|i| m.instance_uuid == i))
        .filter(|m| q("status").is_none_or(|st| m.status == st))
        .filter(|m| {
            q("host").is_none_or(|h| m.source_compute == h || m.dest_compute.as_deref() == Some(h))
        })
        .collect();
    list.sort_by(|a, b| b.created_at.total_cmp(&a.created_at).then(b.id.cmp(&a.id)));
    if !v.at_least(2, 59) {
        let items: Vec<Value> = list.iter().map(|m| migration_view(m, v)).collect();
        return Reply::json(200, json!({ "migrations": items }));
    }
    let (page, next) = match paginate(
        &list,
        |m| m.uuid.as_str(),
        req,
        world.compute.max_limit,
        "Marker",
    ) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let items: Vec<Value> = page.iter().map(|m| migration_view(m, v)).collect();
    let mut body = json!({ "migrations": items });
    if let Some(m) = next {
        body["migrations_links"] = next_link(req, "os-migrations", &m);
    }
    Reply::json(200, body)
}

/// What a hypervisor listing shows: the detail fields, the servers.
#[derive(Clone, Copy)]
struct HypervisorShape {
    v: Version,
    now: f64,
    detail: bool,
    servers: bool,
}

fn hypervisor_view(
    world: &World,
    index: usize,
    host: &str,
    uuid: &str,
    shape: HypervisorShape,
) -> Value {
    let HypervisorShape {
        v,
        now,
        detail,
        servers,
    } = shape;
    let svc = world
        .services_of(ServiceApi::Nova)
        .find(|s| s.host == host && s.binary == "nova-compute");
    let state = svc.map_or("down", |s| s.state(now, &world.settings));
    let status = svc.map_or("enabled", |s| s.status());
    let mut out = json!({
        "id": if v.at_least(2, 53) { json!(uuid) } else { json!(index + 1) },
        "hypervisor_hostname": host,
        "state": state,
        "status": status,
    });
    if let Some(o) = out.as_object_mut() {
        if detail {
            o.insert("hypervisor_type".into(), json!("fake"));
            o.insert("hypervisor_version".into(), json!(1000));
            o.insert("host_ip".into(), json!("192.168.0.1"));
            o.insert(
                "service".into(),
                json!({"id": svc.map(|s| if v.at_least(2, 53) { json!(s.uuid) } else { json!(s.id) }),
                       "host": host, "disabled_reason": svc.and_then(|s| s.disabled_reason.clone())}),
            );
            o.insert("uptime".into(), Value::Null);
        }
        if servers {
            let list: Vec<Value> = world
                .compute
                .servers
                .iter()
                .filter(|s| s.host == host)
                .map(|s| json!({"name": s.instance_name, "uuid": s.id}))
                .collect();
            if !list.is_empty() {
                o.insert("servers".into(), json!(list));
            }
        }
    }
    out
}

fn list_hypervisors(
    world: &World,
    req: &SimRequest,
    ctx: &AuthContext,
    v: Version,
    detail: bool,
) -> Reply {
    if !ctx.is_admin() {
        return forbidden("os_compute_api:os-hypervisors:list");
    }
    let pattern = req.query_param("hypervisor_hostname_pattern");
    let with_servers = truthy(req.query_param("with_servers"));
    if (pattern.is_some() || with_servers) && !v.at_least(2, 53) {
        return openstack_fault(400, "Query parameters are not supported before 2.53.");
    }
    let items: Vec<Value> = world
        .compute
        .hypervisors
        .iter()
        .enumerate()
        .filter(|(_, (h, _))| pattern.is_none_or(|p| h.contains(p)))
        .map(|(i, (h, u))| {
            let shape = HypervisorShape {
                v,
                now: req.now,
                detail,
                servers: with_servers,
            };
            hypervisor_view(world, i, h, u, shape)
        })
        .collect();
    if let Some(p) = pattern
        && items.is_empty()
    {
        return openstack_fault(
            404,
            &format!("No hypervisor matching '{p}' could be found."),
        );
    }
    Reply::json(200, json!({ "hypervisors": items }))
}

fn legacy_hypervisor_search(
    world: &World,
    req: &SimRequest,
    ctx: &AuthContext,
    v: Version,
    pattern: &str,
    what: &str,
) -> Reply {
    if !ctx.is_admin() {
        return forbidden("os_compute_api:os-hypervisors:search");
    }
    let items: Vec<Value> = world
        .compute
        .hypervisors
        .iter()
        .enumerate()
        .filter(|(_, (h, _))| h.contains(pattern))
        .map(|(i, (h, u))| {
            let shape = HypervisorShape {
                v,
                now: req.now,
                detail: false,
                servers: what == "servers",
            };
            hypervisor_view(world, i, h, u, shape)
        })
        .collect();
    if items.is_empty() {
        return openstack_fault(
            404,
            &format!("No hypervisor matching '{pattern}' could be found."),
        );
    }
    Reply::json(200, json!({ "hypervisors": items }))
}

// ---- Glance: the one image ----------------------------------------------------------------

fn image_view(req: &SimRequest) -> Value {
    json!({"id": IMAGE_ID, "name": "cirros", "status": "active", "visibility": "public",
           "disk_format": "raw", "container_format": "bare", "size": 65536, "min_disk": 0,
           "min_ram": 0, "protected": false, "tags": [], "owner": null,
           "created_at": "2026-11-22T01:20:00Z", "updated_at": "2026-11-22T01:20:01Z",
           "self": format!("/v2/images/{IMAGE_ID}"), "file": format!("/v2/images/{IMAGE_ID}/file"),
           "schema": "/v2/schemas/image", "checksum": null, "os_hidden": false,
           "direct_url": null, "locations": [], "virtual_size": null,
           "self_url": format!("{}/image/v2/images/{IMAGE_ID}", req.base_url)})
}

/// `/image`: the version document, the image list (`?id=in:...` honoured) and the image, so
/// that `openstack server list` and `server show` can name the image (Glance v2.15).
pub fn image(world: &World, req: &SimRequest) -> Reply {
    let segs = req.segs();
    let path = segs.get(1..).unwrap_or(&[]);
    let get = req.method == Method::GET || req.method == Method::HEAD;
    if path.is_empty() && get {
        let doc = json!({"versions": [{"id": "v2.15", "status": "CURRENT",
            "links": [{"rel": "self", "href": format!("{}/image/v2/", req.base_url)}]}]});
        return Reply::json(300, doc);
    }
    if let Err(r) = super::keystone::authenticate(world, req) {
        return r;
    }
    match (get, path) {
        (true, ["v2", "images"]) => {
            let wanted = req
                .query_param("id")
                .map(|v| v.trim_start_matches("in:").to_string());
            let list: Vec<Value> = if wanted
                .as_deref()
                .is_none_or(|w| w.split(',').any(|id| id == IMAGE_ID))
            {
                vec![image_view(req)]
            } else {
                Vec::new()
            };
            Reply::json(
                200,
                json!({"images": list, "first": "/v2/images", "schema": "/v2/schemas/images"}),
            )
        }
        (true, ["v2", "images", id]) if *id == IMAGE_ID => Reply::json(200, image_view(req)),
        (true, ["v2", "images", id]) => {
            openstack_fault(404, &format!("No image found with ID {id}"))
        }
        _ => openstack_fault(404, "The resource could not be found."),
    }
}

// ---- control API ------------------------------------------------------------------------

fn control_error(status: u16, message: &str) -> Reply {
    super::http::ApiKind::Control.error(status, message)
}

/// `/_sim/servers`, `/_sim/servers/{id|name}/state`, `/_sim/migrations`, `/_sim/compute`,
/// `/_sim/placement`; `None` for other control paths.
pub fn control(world: &mut World, req: &SimRequest) -> Option<Reply> {
    let segs = req.segs();
    let path = segs.get(1..).unwrap_or(&[]);
    let m = &req.method;
    if !matches!(
        path.first().copied(),
        Some("servers" | "migrations" | "compute" | "placement")
    ) {
        return None;
    }
    advance(world, req.now);
    let reply = match (m, path) {
        (&Method::GET, ["servers"]) => {
            let list: Vec<Value> = world
                .compute
                .servers
                .iter()
                .map(|s| {
                    json!({"id": s.id, "name": s.name, "host": s.host, "status": s.status(),
                           "vm_state": s.vm_state, "task_state": s.task_state,
                           "launched": s.launched_at.is_some(), "flavor": s.flavor.name,
                           "project_id": s.project_id, "fault": s.fault})
                })
                .collect();
            Reply::json(200, json!({ "servers": list }))
        }
        (&Method::POST, ["servers", key, "state"]) => set_state(world, req, key),
        (&Method::GET, ["migrations"]) => {
            Reply::json(200, json!({ "migrations": world.compute.migrations }))
        }
        (&Method::GET, ["compute"]) => Reply::json(
            200,
            json!({ "timing": world.compute.timing, "max_limit": world.compute.max_limit }),
        ),
        (&Method::POST, ["compute"]) => set_timing(world, req),
        (&Method::GET, ["placement"]) => {
            Reply::json(200, world.placement.view(&world.compute.hypervisors))
        }
        _ => control_error(
            404,
            &format!("no control endpoint {} {}", req.method, req.path),
        ),
    };
    Some(reply)
}

/// `{"vm_state": "...", "task_state": "..."|null, "launched": bool}`: any subset.
fn set_state(world: &mut World, req: &SimRequest, key: &str) -> Reply {
    let body = match req.json() {
        Ok(Value::Object(o)) => o,
        _ => return control_error(400, "a JSON object is needed"),
    };
    let Some(i) = world
        .compute
        .servers
        .iter()
        .position(|s| s.id == key || s.name == key)
    else {
        return control_error(404, &format!("no server {key:?}"));
    };
    let s = &mut world.compute.servers[i];
    for (k, v) in &body {
        match (k.as_str(), v) {
            ("vm_state", Value::String(st)) if VM_STATES.contains(&st.as_str()) => {
                s.vm_state = st.clone()
            }
            ("task_state", Value::Null) => s.task_state = None,
            ("task_state", Value::String(t)) => s.task_state = Some(t.clone()),
            ("launched", Value::Bool(b)) => s.launched_at = b.then_some(s.created_at + 3.0),
            ("host", Value::String(h)) => s.host = h.clone(),
            _ => return control_error(400, &format!("cannot set {k} to {v}")),
        }
    }
    s.updated_at = req.now;
    let out = json!({"id": s.id, "status": s.status(), "vm_state": s.vm_state, "task_state": s.task_state});
    Reply::json(200, json!({ "server": out }))
}

/// `{"evacuate_accept_delay": secs, "evacuate_rebuild_delay": secs}`.
fn set_timing(world: &mut World, req: &SimRequest) -> Reply {
    let body = match req.json() {
        Ok(Value::Object(o)) => o,
        _ => return control_error(400, "a JSON object is needed"),
    };
    for (k, v) in &body {
        let Some(secs) = v
            .as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0 && *f <= 3600.0)
        else {
            return control_error(400, &format!("{k}: seconds from 0 to 3600"));
        };
        match k.as_str() {
            "evacuate_accept_delay" => world.compute.timing.evacuate_accept_delay = secs,
            "evacuate_rebuild_delay" => world.compute.timing.evacuate_rebuild_delay = secs,
            _ => return control_error(400, &format!("unknown setting {k}")),
        }
    }
    Reply::json(200, json!({ "timing": world.compute.timing }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn regex_names() {
        assert!(name_matches("^web\\.1$", "web.1"));
        assert!(!name_matches("^web\\.1$", "web.10"));
        assert!(name_matches("web", "my-web-1"));
        assert!(name_matches("^web", "web-1"));
        assert!(!name_matches("^web", "my-web"));
    }

    #[test]
    fn statuses() {
        let flavor = Flavor {
            id: "1".into(),
            name: "m1.tiny".into(),
            vcpus: 1,
            ram: 512,
            disk: 1,
            ephemeral: 0,
            swap: 0,
            extra_specs: BTreeMap::new(),
        };
        let mut s = SimServer {
            id: "x".into(),
            name: "x".into(),
            project_id: String::new(),
            user_id: String::new(),
            host: "c1".into(),
            flavor,
            vm_state: "active".into(),
            task_state: None,
            launched_at: None,
            created_at: 0.0,
            updated_at: 0.0,
            metadata: BTreeMap::new(),
            tags: Vec::new(),
            boot_from_volume: false,
            instance_name: "i".into(),
            fault: None,
            raced: false,
            requested_zone: None,
        };
        assert_eq!(s.status(), "ACTIVE");
        s.task_state = Some("rebuilding".into());
        assert_eq!(s.status(), "REBUILD");
        s.task_state = None;
        s.vm_state = "stopped".into();
        assert_eq!(s.status(), "SHUTOFF");
        assert_eq!(s.flavor.resources(false)["DISK_GB"], 1);
        assert!(!s.flavor.resources(true).contains_key("DISK_GB"));
    }
}

#[cfg(test)]
mod world_tests {
    use super::*;
    use crate::scenario::Scenario;
    use crate::{keystone, nova, placement};
    use axum::http::HeaderValue;

    const SCENARIO: &str = r#"
[cloud]
service_down_time = 2
report_interval = 1
[compute]
evacuate_accept_delay = 1
evacuate_rebuild_delay = 1
max_limit = 2
[[users]]
name = "admin"
password = "pw"
project = "admin"
roles = ["admin"]
[[hosts]]
name = "ctl"
role = "controller"
[[hosts]]
name = "c1"
role = "compute"
[[hosts]]
name = "c2"
role = "compute"
placement = { vcpus = 2, cpu_allocation_ratio = 1.0 }
[[flavors]]
name = "m1.small"
vcpus = 1
ram = 512
disk = 1
[[servers]]
name = "vm-{n}"
count = 3
host = "c1"
flavor = "m1.small"
[[servers]]
name = "broken"
host = "c1"
flavor = "m1.small"
vm_state = "building"
launched = false
"#;

    fn setup() -> (World, String, f64) {
        let s = Scenario::from_toml_str(SCENARIO, "t").unwrap();
        let now = clock::now();
        let mut w = World::new(&s, now);
        let token = keystone::token_for_tests(&mut w, "admin", "pw", "admin");
        (w, token, now)
    }

    fn call(w: &mut World, t: &str, m: Method, path: &str, body: &str, now: f64) -> Reply {
        let mut req = SimRequest::new(m, path);
        req.now = now;
        req.headers
            .insert("x-auth-token", HeaderValue::from_str(t).unwrap());
        req.headers.insert(
            "openstack-api-version",
            HeaderValue::from_static("compute 2.93"),
        );
        req.body = body.as_bytes().to_vec();
        if path.starts_with("/placement") {
            placement::handle(w, &req)
        } else {
            nova::handle(w, &req)
        }
    }

    /// From 2.88 the hypervisor detail waits for a compute that is gone but still believed up.
    #[test]
    fn the_uptime_rpc_waits_for_a_dead_compute_nova_believes_up() {
        let (mut w, _, now) = setup();
        let at = |v: &'static str, path: &str| {
            let mut req = SimRequest::new(Method::GET, path);
            req.headers
                .insert("openstack-api-version", HeaderValue::from_static(v));
            req
        };
        let detail = "/compute/v2.1/os-hypervisors/detail";
        assert_eq!(
            rpc_wait(&w, &at("compute 2.93", detail), now),
            0.0,
            "all alive"
        );
        w.power_off("c1", now).unwrap();
        // Believed up for service_down_time (2 s here) after its last heartbeat.
        assert_eq!(rpc_wait(&w, &at("compute 2.93", detail), now), 60.0);
        assert_eq!(rpc_wait(&w, &at("compute 2.88", detail), now), 60.0);
        assert_eq!(
            rpc_wait(&w, &at("compute 2.87", detail), now),
            0.0,
            "no uptime"
        );
        let list = "/compute/v2.1/os-hypervisors";
        assert_eq!(
            rpc_wait(&w, &at("compute 2.93", list), now),
            0.0,
            "no uptime"
        );
        // Once Nova sees it down it no longer asks it.
        assert_eq!(rpc_wait(&w, &at("compute 2.93", detail), now + 10.0), 0.0);
    }

    fn evacuate(w: &mut World, t: &str, id: &str, body: &str, at: f64) -> Reply {
        let path = format!("/compute/v2.1/servers/{id}/action");
        call(w, t, Method::POST, &path, body, at)
    }

    #[test]
    fn pages_evacuates_schedules_and_moves_allocations() {
        let (mut w, t, now) = setup();
        // Pages of 2 (max_limit), newest first, with next links carrying the marker.
        let r = call(
            &mut w,
            &t,
            Method::GET,
            "/compute/v2.1/servers/detail?all_tenants=1&host=c1",
            "",
            now,
        );
        let b = r.body_json().unwrap();
        assert_eq!(b["servers"].as_array().unwrap().len(), 2);
        assert_eq!(b["servers"][0]["name"], "broken");
        let next = b["servers_links"][0]["href"].as_str().unwrap().to_string();
        assert!(next.contains("marker="), "{next}");
        let id = w.compute.servers[0].id.clone();
        // Still up: 400 as Nova.
        let r = evacuate(&mut w, &t, &id, r#"{"evacuate": {}}"#, now);
        assert_eq!(r.status.as_u16(), 400);
        assert_eq!(
            r.body_json().unwrap()["badRequest"]["message"],
            "Compute service of c1 is still in use."
        );
        w.power_off("c1", now).unwrap();
        let later = now + 5.0;
        for (body, code) in [
            (r#"{"evacuate": {"host": "c9"}}"#, 404),
            (r#"{"evacuate": {"host": "c1"}}"#, 400),
            (r#"{"evacuate": {"force": true}}"#, 400),
        ] {
            let r = evacuate(&mut w, &t, &id, body, later);
            assert_eq!(r.status.as_u16(), code, "{body}");
        }
        let broken = w.compute.servers[3].id.clone();
        let r = evacuate(&mut w, &t, &broken, r#"{"evacuate": {}}"#, later);
        assert_eq!(r.status.as_u16(), 409);
        let r = evacuate(&mut w, &t, &id, r#"{"evacuate": {}}"#, later);
        assert_eq!(r.status.as_u16(), 200);
        assert!(matches!(r.body, crate::http::ReplyBody::Empty));
        assert_eq!(w.compute.servers[0].status(), "REBUILD");
        // Scheduled to c2 after the accept delay; done after the rebuild delay.
        advance(&mut w, later + 1.1);
        assert_eq!(w.compute.migrations[0].status, "pre-migrating");
        advance(&mut w, later + 2.1);
        assert_eq!(w.compute.migrations[0].status, "done");
        assert_eq!(w.compute.servers[0].host, "c2");
        // Both providers hold it while c1 is dead.
        let r = call(
            &mut w,
            &t,
            Method::GET,
            &format!("/placement/allocations/{id}"),
            "",
            later + 3.0,
        );
        assert_eq!(
            r.body_json().unwrap()["allocations"]
                .as_object()
                .unwrap()
                .len(),
            2
        );
        // c2 has 2 VCPU: the second fits, the third does not (NoValidHost).
        for s in [1, 2] {
            let sid = w.compute.servers[s].id.clone();
            let r = evacuate(&mut w, &t, &sid, r#"{"evacuate": {}}"#, later + 3.0);
            assert_eq!(r.status.as_u16(), 200);
        }
        advance(&mut w, later + 6.0);
        let statuses: Vec<&str> = w
            .compute
            .migrations
            .iter()
            .map(|m| m.status.as_str())
            .collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == "done").count(),
            2,
            "{statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == "error").count(),
            1,
            "{statuses:?}"
        );
        assert_eq!(
            w.compute
                .servers
                .iter()
                .filter(|s| s.vm_state == "error")
                .count(),
            1
        );
        let r = call(
            &mut w,
            &t,
            Method::GET,
            "/compute/v2.1/os-migrations?source_compute=c1&migration_type=evacuation",
            "",
            later + 6.0,
        );
        assert_eq!(
            r.body_json().unwrap()["migrations"]
                .as_array()
                .unwrap()
                .len(),
            2,
            "a page of 2"
        );
        // Power back: done -> completed, source allocations gone.
        w.power_on("c1", later + 7.0).unwrap();
        advance(&mut w, later + 7.0);
        assert_eq!(w.compute.migrations[0].status, "completed");
        let r = call(
            &mut w,
            &t,
            Method::GET,
            &format!("/placement/allocations/{id}"),
            "",
            later + 7.0,
        );
        assert_eq!(
            r.body_json().unwrap()["allocations"]
                .as_object()
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn scenario_mistakes_name_the_key() {
        for (from, to, key) in [
            (
                "flavor = \"m1.small\"\nvm_state",
                "flavor = \"m1.big\"\nvm_state",
                "servers[1].flavor",
            ),
            (
                "vm_state = \"building\"",
                "vm_state = \"bulding\"",
                "servers[1].vm_state",
            ),
            (
                "host = \"c1\"\nflavor = \"m1.small\"\nvm_state",
                "host = \"ctl\"\nflavor = \"m1.small\"\nvm_state",
                "servers[1].host",
            ),
            ("count = 3", "count = 0", "servers[0].count"),
            ("max_limit = 2", "max_limit = 0", "compute.max_limit"),
        ] {
            let text = SCENARIO.replacen(from, to, 1);
            assert_ne!(text, SCENARIO, "{from}");
            let e = Scenario::from_toml_str(&text, "t.toml").unwrap_err();
            assert_eq!(e.key.as_deref(), Some(key), "{e}");
            assert!(e.line_col.is_some(), "{e}");
        }
        let bad = SCENARIO.replace("launched = false", "launched = false\nflavour = 1");
        assert!(Scenario::from_toml_str(&bad, "t.toml").is_err());
    }

    #[test]
    fn a_second_evacuation_is_accepted_and_breaks_the_server() {
        let (mut w, t, now) = setup();
        w.power_off("c1", now).unwrap();
        let later = now + 5.0;
        let id = w.compute.servers[0].id.clone();
        for _ in 0..2 {
            let r = evacuate(&mut w, &t, &id, r#"{"evacuate": {}}"#, later);
            assert_eq!(r.status.as_u16(), 200);
        }
        advance(&mut w, later + 5.0);
        assert_eq!(w.compute.migrations[1].status, "failed");
        assert_eq!(w.compute.servers[0].vm_state, "error");
    }
}
