//! Cinder under `/volume`: version documents, `os-services`, volumes and backups, as Zed (3.0 to
//! 3.70) answers. The project id in the URL (`/volume/v3/{project_id}/...`) is optional, as
//! from 3.67.
//!
//! Volumes and backups come from the scenario (`[[volumes]]`, `[[backups]]`, `[cinder]`), and
//! change through the control API the simulated `cinder-manage` uses
//! (`/_sim/cinder-manage/...`, see [`control`]), which rewrites them exactly as the real tool
//! rewrites Cinder's database: `volume update_host` takes the volumes whose host is
//! `--currenthost` or `LIKE '--currenthost#%'` and writes `--newhost` verbatim;
//! `backup update_backup_host` takes the backups whose host is exactly `--currenthost`; neither
//! checks a name, and a name that matches nothing changes nothing, silently.
//!
//! `scheduler-stats/get_pools` lists the pools of the live cinder-volume services.
//!
//! The volume list's `host` filter follows Cinder's `_filter_host`; an admin gets it at every
//! microversion (Cinder allows admins every filter); a non-admin has it dropped silently below
//! 3.31 and refused (400) from 3.31, where only the configured resource filters are allowed.
//! The `cinder` client's `--filters` needs 3.33, which is why the runbook says 3.33.

use std::collections::BTreeSet;

use axum::http::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::clock;
use super::http::{ApiKind, Reply, SimRequest, openstack_fault};
use super::keystone::{self, AuthContext};
use super::microversion::{CINDER, Version};
use super::world::{Service, ServiceApi, World};

pub mod state;
// The state and the scenario's tables keep their old paths (`cinder::CinderState`).
pub use self::state::*;
pub use super::scenario::cinder::{BackupSpec, CinderSpec, VolumeSpec};

const NOT_FOUND: &str = "The resource could not be found.";

/// RFC 3986 percent-encoding of everything but the unreserved characters (for the `next`
/// links Cinder writes).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Routes `/volume/...`.
pub fn handle(world: &mut World, req: &SimRequest) -> Reply {
    let segs = req.segs();
    let rest = segs.get(1..).unwrap_or(&[]);
    let get = req.method == Method::GET || req.method == Method::HEAD;
    match rest {
        // Real Cinder answers its root with 300 Multiple Choices; the v3 root with 200.
        [] if get => return Reply::json(300, versions(req)),
        ["v3"] if get => return Reply::json(200, versions(req)),
        [] | ["v3"] => return openstack_fault(405, "The method is not allowed."),
        _ => {}
    }
    let Some((&"v3", api_path)) = rest.split_first() else {
        return openstack_fault(404, NOT_FOUND);
    };
    let ctx = match keystone::authenticate(world, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let api_path = match api_path.split_first() {
        Some((first, tail)) if looks_like_project_id(first) => {
            if ctx.project_id.as_deref() != Some(*first) {
                return openstack_fault(400, "Malformed request url");
            }
            tail
        }
        _ => api_path,
    };
    let v = match CINDER.negotiate(&req.headers) {
        Ok(v) => v,
        Err(e) => return openstack_fault(e.status(), &e.to_string()),
    };
    let mut reply = route(world, req, &ctx, v, api_path);
    for (k, val) in CINDER.echo(v) {
        reply = reply.with_header(k, val);
    }
    reply
}

/// Keystone project ids are 32 hex digits; resource names never are.
fn looks_like_project_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn route(
    world: &mut World,
    req: &SimRequest,
    ctx: &AuthContext,
    v: Version,
    path: &[&str],
) -> Reply {
    let get = req.method == Method::GET || req.method == Method::HEAD;
    match path {
        ["os-services"] if get => list_services(world, req, ctx, v),
        ["volumes"] if get => list_volumes(world, req, ctx, v, false),
        ["volumes", "detail"] if get => list_volumes(world, req, ctx, v, true),
        ["volumes", id] if get => show_volume(world, req, ctx, v, id),
        ["backups"] if get => list_backups(world, req, ctx, v, false),
        ["backups", "detail"] if get => list_backups(world, req, ctx, v, true),
        ["backups", id] if get => show_backup(world, req, ctx, v, id),
        ["scheduler-stats", "get_pools"] if get => get_pools(world, req, ctx),
        ["os-services" | "volumes" | "backups"] | ["volumes" | "backups", _] => {
            openstack_fault(405, "The method is not allowed.")
        }
        _ => openstack_fault(404, NOT_FOUND),
    }
}

fn versions(req: &SimRequest) -> Value {
    json!({"versions": [{
        "id": "v3.0",
        "status": "CURRENT",
        "version": CINDER.max.to_string(),
        "min_version": CINDER.min.to_string(),
        "updated": "2022-08-31T00:00:00Z",
        "links": [{"rel": "self", "href": format!("{}/volume/v3/", req.base_url)}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.volume+json;version=3"}],
    }]})
}

/// One service as Cinder's `os-services` shows it; the backend fields are cinder-volume's only.
#[derive(Serialize)]
struct ServiceView {
    binary: String,
    host: String,
    zone: String,
    status: &'static str,
    state: &'static str,
    updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<Option<String>>,
    disabled_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replication_status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    active_backend_id: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frozen: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    backend_state: Option<&'static str>,
}

fn view(world: &World, s: &Service, v: Version, now: f64) -> ServiceView {
    let settings = &world.settings;
    let volume = s.binary == "cinder-volume";
    let state = s.state(now, settings);
    ServiceView {
        binary: s.binary.clone(),
        host: s.host.clone(),
        zone: s.zone.clone(),
        status: s.status(),
        state,
        updated_at: clock::iso_micros(s.updated_at(now, settings)),
        cluster: v.at_least(3, 7).then_some(None),
        disabled_reason: s.disabled_reason.clone(),
        replication_status: volume.then_some("disabled"),
        active_backend_id: volume.then_some(None),
        frozen: volume.then_some(s.frozen),
        backend_state: (volume && v.at_least(3, 49)).then_some(state),
    }
}

/// Cinder's host filter matches `host`, `host@backend` and `host@backend#pool`.
fn host_matches(service_host: &str, wanted: &str) -> bool {
    match service_host.strip_prefix(wanted) {
        Some(rest) => rest.is_empty() || rest.starts_with('@') || rest.starts_with('#'),
        None => false,
    }
}

fn list_services(world: &World, req: &SimRequest, ctx: &AuthContext, v: Version) -> Reply {
    if !ctx.is_admin() {
        return openstack_fault(
            403,
            "Policy doesn't allow volume_extension:services:index to be performed.",
        );
    }
    let host = req.query_param("host");
    let binary = req.query_param("binary");
    let services: Vec<ServiceView> = world
        .services_of(ServiceApi::Cinder)
        .filter(|s| host.is_none_or(|h| host_matches(&s.host, h)))
        .filter(|s| binary.is_none_or(|b| s.binary == b))
        .map(|s| view(world, s, v, req.now))
        .collect();
    #[derive(Serialize)]
    struct Body {
        services: Vec<ServiceView>,
    }
    Reply::typed(200, &Body { services })
}

// ---- volumes and backups over the API -------------------------------------------------------

/// The id shown for every volume type (the simulation keeps no types).
const DEFAULT_TYPE_ID: &str = "5d1e8f0a-3b7c-4e2d-9a6f-0c1b2d3e4f5a";

/// The query keys that are not filters.
const NOT_FILTERS: &[&str] = &[
    "all_tenants",
    "limit",
    "marker",
    "offset",
    "sort",
    "sort_key",
    "sort_dir",
    "with_count",
];

/// Cinder's own rule: the resource filters configured for non-admins (`resource_filters.json`).
const VOLUME_RESOURCE_FILTERS: &[&str] = &[
    "name",
    "status",
    "metadata",
    "bootable",
    "migration_status",
    "availability_zone",
    "group_id",
    "size",
    "created_at",
    "updated_at",
    "consumes_quota",
];

fn bad_request(message: &str) -> Reply {
    openstack_fault(400, message)
}

/// The filters of a volume list request, checked as Cinder checks them.
fn volume_filters<'a>(
    req: &'a SimRequest,
    ctx: &AuthContext,
    v: Version,
) -> Result<Vec<(&'a str, &'a str)>, Reply> {
    let mut filters: Vec<(&str, &str)> = req
        .query
        .iter()
        .filter(|(k, _)| !NOT_FILTERS.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if !ctx.is_admin() {
        if v.at_least(3, 31) {
            let bad: Vec<&str> = filters
                .iter()
                .map(|(k, _)| *k)
                .filter(|k| !VOLUME_RESOURCE_FILTERS.contains(k))
                .collect();
            if !bad.is_empty() {
                return Err(bad_request(&format!(
                    "Invalid filters {} are found in query options.",
                    bad.join(",")
                )));
            }
        } else {
            filters.retain(|(k, _)| VOLUME_RESOURCE_FILTERS.contains(k));
        }
    }
    Ok(filters)
}

/// Whether a volume passes the filters; `None` for a key that is no volume column (an admin's
/// unknown key gives an empty list, as Cinder's `_process_volume_filters` does).
fn volume_matches(vol: &SimVolume, filters: &[(&str, &str)]) -> Option<bool> {
    for (k, want) in filters {
        let ok = match *k {
            "host" => host_filter_matches(want, &vol.host),
            "status" => vol.status == *want,
            "name" => vol.name.as_deref() == Some(*want),
            "size" => vol.size.to_string() == *want,
            "project_id" => vol.project_id == *want,
            "user_id" => vol.user_id == *want,
            // Known to Cinder but not kept here: nothing matches.
            k if VOLUME_RESOURCE_FILTERS.contains(&k) => false,
            _ => return None,
        };
        if !ok {
            return Some(false);
        }
    }
    Some(true)
}

/// `all_tenants` as Cinder reads it (an admin's only; anyone else sees their project).
fn all_tenants(req: &SimRequest, ctx: &AuthContext) -> bool {
    ctx.is_admin()
        && req
            .query_param("all_tenants")
            .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
}

/// One page of `items` (already sorted, newest first) by `limit` and `marker`, and the
/// `*_links` next link Cinder adds when the page is full.
fn paginate<T>(
    req: &SimRequest,
    max_limit: usize,
    items: Vec<T>,
    id: impl Fn(&T) -> &str,
    what: &str,
) -> Result<(Vec<T>, Option<Value>), Reply> {
    let limit = match req.query_param("limit") {
        None => None,
        Some(l) => match l.parse::<usize>() {
            Ok(n) => Some(n),
            Err(_) => return Err(bad_request("limit param must be an integer")),
        },
    };
    let start = match req.query_param("marker") {
        None => 0,
        Some(m) => match items.iter().position(|x| id(x) == m) {
            Some(i) => i + 1,
            None => {
                return Err(openstack_fault(
                    404,
                    &format!("Marker {what} {m} could not be found."),
                ));
            }
        },
    };
    let page_max = limit.unwrap_or(max_limit).min(max_limit);
    let page: Vec<T> = items.into_iter().skip(start).take(page_max).collect();
    let next = (page_max > 0 && page.len() == page_max)
        .then(|| page.last().map(|last| id(last).to_string()))
        .flatten()
        .map(|marker| {
            let mut q: Vec<String> = req
                .query
                .iter()
                .filter(|(k, _)| k != "marker")
                .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
                .collect();
            q.push(format!("marker={}", percent_encode(&marker)));
            let path = req.path.trim_end_matches('/');
            json!([{"rel": "next", "href": format!("{}{path}?{}", req.base_url, q.join("&"))}])
        });
    Ok((page, next))
}

/// A volume or backup: what a page of a list needs to know.
trait Listed {
    fn id(&self) -> &str;
    fn created_at(&self) -> f64;
}

impl Listed for SimVolume {
    fn id(&self) -> &str {
        &self.id
    }
    fn created_at(&self) -> f64 {
        self.created_at
    }
}

impl Listed for SimBackup {
    fn id(&self) -> &str {
        &self.id
    }
    fn created_at(&self) -> f64 {
        self.created_at
    }
}

/// `{"<what>s": [...], "<what>s_links": [...]}`: newest first, one page, each item viewed.
fn page_reply<T: Listed>(
    req: &SimRequest,
    max_limit: usize,
    mut items: Vec<&T>,
    what: &str,
    view: impl Fn(&T) -> Value,
) -> Reply {
    items.sort_by(|a, b| {
        b.created_at()
            .total_cmp(&a.created_at())
            .then_with(|| b.id().cmp(a.id()))
    });
    let (page, next) = match paginate(req, max_limit, items, |x| x.id(), what) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let key = format!("{what}s");
    let mut body = json!({ key.clone(): page.iter().map(|x| view(x)).collect::<Vec<Value>>() });
    if let Some(n) = next {
        body[format!("{key}_links")] = n;
    }
    Reply::json(200, body)
}

fn links(req: &SimRequest, kind: &str, project: &str, id: &str) -> Value {
    let b = &req.base_url;
    json!([
        {"rel": "self", "href": format!("{b}/volume/v3/{project}/{kind}/{id}")},
        {"rel": "bookmark", "href": format!("{b}/volume/{project}/{kind}/{id}")},
    ])
}

fn volume_view(
    w: &World,
    req: &SimRequest,
    ctx: &AuthContext,
    v: Version,
    vol: &SimVolume,
) -> Value {
    let attachments: Vec<Value> = vol
        .attachment
        .iter()
        .map(|a| {
            json!({
                "id": vol.id, "attachment_id": a.attachment_id, "volume_id": vol.id,
                "server_id": a.server_id, "host_name": a.host_name, "device": a.device,
                "attached_at": clock::iso_micros(a.attached_at),
            })
        })
        .collect();
    let mut body = json!({
        "id": vol.id,
        "status": vol.status,
        "size": vol.size,
        "availability_zone": w.settings.storage_zone,
        "created_at": clock::iso_micros(vol.created_at),
        "updated_at": vol.updated_at.map(clock::iso_micros),
        "name": vol.name,
        "description": null,
        "volume_type": vol.volume_type,
        "snapshot_id": null,
        "source_volid": null,
        "metadata": {},
        "links": links(req, "volumes", &vol.project_id, &vol.id),
        "user_id": vol.user_id,
        "bootable": "false",
        "encrypted": false,
        "replication_status": null,
        "consistencygroup_id": null,
        "multiattach": false,
        "attachments": attachments,
        "migration_status": null,
        "os-vol-tenant-attr:tenant_id": vol.project_id,
    });
    if v.at_least(3, 13) {
        body["group_id"] = Value::Null;
    }
    if v.at_least(3, 21) {
        body["provider_id"] = Value::Null;
    }
    if v.at_least(3, 48) {
        body["shared_targets"] = json!(false);
        let service = w
            .services_of(ServiceApi::Cinder)
            .find(|s| s.binary == "cinder-volume" && host_filter_matches(&s.host, &vol.host));
        body["service_uuid"] = json!(service.map(|s| s.uuid.clone()));
    }
    if v.at_least(3, 63) {
        body["volume_type_id"] = json!(DEFAULT_TYPE_ID);
    }
    if v.at_least(3, 65) {
        body["consumes_quota"] = json!(true);
    }
    if ctx.is_admin() {
        body["os-vol-mig-status-attr:migstat"] = Value::Null;
        body["os-vol-mig-status-attr:name_id"] = Value::Null;
        body["os-vol-host-attr:host"] = json!(vol.host);
        if v.at_least(3, 61) {
            body["cluster_name"] = Value::Null;
        }
    }
    body
}

fn visible<'a>(w: &'a World, ctx: &AuthContext, all: bool) -> impl Iterator<Item = &'a SimVolume> {
    let project = ctx.project_id.clone();
    w.cinder
        .volumes
        .iter()
        .filter(move |vol| all || project.as_deref() == Some(vol.project_id.as_str()))
}

fn list_volumes(w: &World, req: &SimRequest, ctx: &AuthContext, v: Version, detail: bool) -> Reply {
    let filters = match volume_filters(req, ctx, v) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let all = all_tenants(req, ctx);
    let mut found: Vec<&SimVolume> = Vec::new();
    for vol in visible(w, ctx, all) {
        match volume_matches(vol, &filters) {
            Some(true) => found.push(vol),
            Some(false) => {}
            // An unknown filter key: Cinder's query gives up and lists nothing.
            None => {
                found.clear();
                break;
            }
        }
    }
    page_reply(req, w.cinder.max_limit, found, "volume", |vol| {
        if detail {
            volume_view(w, req, ctx, v, vol)
        } else {
            json!({"id": vol.id, "name": vol.name,
                   "links": links(req, "volumes", &vol.project_id, &vol.id)})
        }
    })
}

fn show_volume(w: &World, req: &SimRequest, ctx: &AuthContext, v: Version, id: &str) -> Reply {
    match visible(w, ctx, ctx.is_admin()).find(|vol| vol.id == id) {
        Some(vol) => Reply::json(200, json!({"volume": volume_view(w, req, ctx, v, vol)})),
        None => openstack_fault(404, &format!("Volume {id} could not be found.")),
    }
}

/// The API's backup view: no host (Cinder's `views/backups.py` does not show it).
fn backup_view(w: &World, req: &SimRequest, ctx: &AuthContext, v: Version, b: &SimBackup) -> Value {
    let mut body = json!({
        "id": b.id,
        "status": b.status,
        "size": b.size,
        "object_count": b.object_count,
        "availability_zone": w.settings.storage_zone,
        "container": b.container,
        "created_at": clock::iso_micros(b.created_at),
        "updated_at": b.updated_at.map(clock::iso_micros),
        "name": b.name,
        "description": null,
        "fail_reason": null,
        "volume_id": b.volume_id,
        "links": links(req, "backups", &b.project_id, &b.id),
        "is_incremental": false,
        "has_dependent_backups": false,
        "snapshot_id": null,
        "data_timestamp": clock::iso_micros(b.created_at),
    });
    if v.at_least(3, 18) && ctx.is_admin() {
        body["os-backup-project-attr:project_id"] = json!(b.project_id);
    }
    if v.at_least(3, 43) {
        body["metadata"] = json!({});
    }
    if v.at_least(3, 56) && ctx.is_admin() {
        body["user_id"] = json!(b.user_id);
    }
    body
}

fn list_backups(w: &World, req: &SimRequest, ctx: &AuthContext, v: Version, detail: bool) -> Reply {
    let all = all_tenants(req, ctx);
    let project = ctx.project_id.as_deref();
    let found: Vec<&SimBackup> = w
        .cinder
        .backups
        .iter()
        .filter(|b| all || project == Some(b.project_id.as_str()))
        .filter(|b| req.query_param("status").is_none_or(|s| b.status == s))
        .filter(|b| {
            req.query_param("volume_id")
                .is_none_or(|s| b.volume_id.as_deref() == Some(s))
        })
        .collect();
    page_reply(req, w.cinder.max_limit, found, "backup", |b| {
        if detail {
            backup_view(w, req, ctx, v, b)
        } else {
            json!({"id": b.id, "name": b.name,
                   "links": links(req, "backups", &b.project_id, &b.id)})
        }
    })
}

fn show_backup(w: &World, req: &SimRequest, ctx: &AuthContext, v: Version, id: &str) -> Reply {
    let project = ctx.project_id.as_deref();
    match w
        .cinder
        .backups
        .iter()
        .find(|b| b.id == id && (ctx.is_admin() || project == Some(b.project_id.as_str())))
    {
        Some(b) => Reply::json(200, json!({"backup": backup_view(w, req, ctx, v, b)})),
        None => openstack_fault(404, &format!("Backup {id} could not be found.")),
    }
}

/// The pools of the live cinder-volume services (the scheduler forgets a down one's).
fn get_pools(w: &World, req: &SimRequest, ctx: &AuthContext) -> Reply {
    if !ctx.is_admin() {
        return openstack_fault(
            403,
            "Policy doesn't allow scheduler_extension:scheduler_stats:get_pools to be performed.",
        );
    }
    let detail = req
        .query_param("detail")
        .is_some_and(|d| matches!(d.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"));
    let mut pools = Vec::new();
    for svc in w
        .services_of(ServiceApi::Cinder)
        .filter(|s| s.binary == "cinder-volume" && s.is_up(req.now, &w.settings))
    {
        let backend = svc.host.split_once('@').map_or("", |(_, b)| b);
        let names: BTreeSet<String> = match w.cinder.pools.get(&svc.host) {
            Some(list) => list.iter().cloned().collect(),
            None => std::iter::once(backend.to_string())
                .chain(w.cinder.volumes.iter().filter_map(|v| {
                    let (service, pool) = v.host.split_once('#')?;
                    (service.split_once('@').map(|(_, b)| b) == Some(backend))
                        .then(|| pool.to_string())
                }))
                .collect(),
        };
        for p in names {
            let name = format!("{}#{p}", svc.host);
            if req.query_param("name").is_some_and(|n| n != name) {
                continue;
            }
            pools.push(if detail {
                json!({"name": name, "capabilities": {
                    "volume_backend_name": backend, "pool_name": p, "storage_protocol": "ceph",
                    "vendor_name": "Open Source", "driver_version": "1.2.0",
                    "total_capacity_gb": 10240, "free_capacity_gb": 8192,
                    "reserved_percentage": 0, "timestamp": clock::iso_micros(req.now)}})
            } else {
                json!({ "name": name })
            });
        }
    }
    Reply::json(200, json!({ "pools": pools }))
}

// ---- the control API of the simulated cinder-manage -----------------------------------------

/// `/_sim/cinder-manage/...` and `/_sim/cinder/...`; `None` for any other control path.
///
/// | method | path | what |
/// |---|---|---|
/// | POST | `/_sim/cinder-manage/volume/update_host` | `{"currenthost", "newhost"}`: as the real tool |
/// | POST | `/_sim/cinder-manage/backup/update_backup_host` | the same for backups |
/// | GET | `/_sim/cinder-manage/backup/list` | the rows `cinder-manage backup list` prints |
/// | GET, POST, DELETE | `/_sim/cinder-manage/fault` | the armed fault ([`ManageFault`]) |
/// | GET | `/_sim/cinder-manage/runs` | every update run, with the rows it rewrote, and how many `backup list` runs |
/// | GET | `/_sim/cinder/volumes`, `/_sim/cinder/backups` | the database, hosts included |
pub fn control(world: &mut World, req: &SimRequest) -> Option<Reply> {
    let segs = req.segs();
    let m = &req.method;
    let reply = match (m, segs.get(1..).unwrap_or(&[])) {
        (
            &Method::POST,
            [
                "cinder-manage",
                category @ ("volume" | "backup"),
                action @ ("update_host" | "update_backup_host"),
            ],
        ) => {
            let command = format!("{category} {action}");
            if !matches!(
                command.as_str(),
                "volume update_host" | "backup update_backup_host"
            ) {
                return None;
            }
            manage_update(world, req, &command)
        }
        (&Method::GET, ["cinder-manage", "backup", "list"]) => {
            world.cinder.backup_lists += 1;
            let rows: Vec<Value> = world
                .cinder
                .backups
                .iter()
                .map(|b| {
                    json!({"id": b.id, "user_id": b.user_id, "project_id": b.project_id,
                           "host": b.host, "display_name": b.name, "container": b.container,
                           "status": b.status, "size": b.size, "object_count": b.object_count})
                })
                .collect();
            Reply::json(200, json!({ "backups": rows }))
        }
        (&Method::GET, ["cinder-manage", "fault"]) => {
            Reply::json(200, json!({ "fault": world.cinder.manage_fault }))
        }
        (&Method::POST, ["cinder-manage", "fault"]) => {
            let spec = req
                .json()
                .and_then(|v| serde_json::from_value::<ManageFault>(v).map_err(|e| e.to_string()));
            match spec {
                Ok(f) if f.count == Some(0) => {
                    ApiKind::Control.error(400, "invalid fault: count must be at least 1")
                }
                Ok(f) => {
                    tracing::info!("control: cinder-manage fault armed: {f:?}");
                    world.cinder.manage_fault = Some(f);
                    Reply::json(201, json!({ "fault": world.cinder.manage_fault }))
                }
                Err(e) => ApiKind::Control.error(400, &format!("invalid fault: {e}")),
            }
        }
        (&Method::DELETE, ["cinder-manage", "fault"]) => {
            let had = world.cinder.manage_fault.take();
            Reply::json(200, json!({ "cleared": had.is_some() }))
        }
        (&Method::GET, ["cinder-manage", "runs"]) => Reply::json(
            200,
            json!({ "runs": world.cinder.manage_runs, "backup_lists": world.cinder.backup_lists }),
        ),
        (&Method::GET, ["cinder", "volumes"]) => {
            Reply::json(200, json!({ "volumes": world.cinder.volumes }))
        }
        (&Method::GET, ["cinder", "backups"]) => {
            Reply::json(200, json!({ "backups": world.cinder.backups }))
        }
        _ => return None,
    };
    Some(reply)
}

fn manage_update(world: &mut World, req: &SimRequest, command: &str) -> Reply {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        currenthost: String,
        newhost: String,
    }
    let body = match req
        .json()
        .and_then(|v| serde_json::from_value::<Body>(v).map_err(|e| e.to_string()))
    {
        Ok(b) => b,
        Err(e) => return ApiKind::Control.error(400, &format!("invalid body: {e}")),
    };
    let fault = world.cinder.take_fault(command);
    let updated = match fault {
        Some(_) => 0,
        None if command == "volume update_host" => {
            world
                .cinder
                .update_volume_host(&body.currenthost, &body.newhost, req.now)
        }
        None => world
            .cinder
            .update_backup_host(&body.currenthost, &body.newhost, req.now),
    };
    tracing::info!(
        "cinder-manage {command} --currenthost {} --newhost {}: {updated} rows{}",
        body.currenthost,
        body.newhost,
        fault.map(|f| format!(" (fault {f:?})")).unwrap_or_default()
    );
    world.cinder.manage_runs.push(ManageRun {
        at: clock::iso_micros_z(req.now),
        command: command.to_string(),
        currenthost: body.currenthost,
        newhost: body.newhost,
        updated,
        fault,
    });
    Reply::json(200, json!({ "updated": updated, "fault": fault }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    #[test]
    fn host_filter_matches_backends() {
        assert!(host_matches("compute-1@ceph", "compute-1"));
        assert!(host_matches("compute-1@ceph", "compute-1@ceph"));
        assert!(host_matches("compute-1", "compute-1"));
        assert!(!host_matches("compute-10@ceph", "compute-1"));
        assert!(!host_matches("compute-1", "compute-1@ceph"));
    }

    /// Real Cinder Zed, `GET /volumes/detail?all_tenants=1&host=cinder-1@fake%23fake`: the
    /// recorded list with the filter applied by the simulator gives the recorded filtered list.
    #[test]
    fn the_host_filter_gives_what_zed_gave() {
        let ids = |text: &str, filter: Option<&str>| -> Vec<String> {
            let v: Value = serde_json::from_str(text).unwrap();
            v["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|vol| {
                    let host = vol["os-vol-host-attr:host"].as_str().unwrap();
                    filter.is_none_or(|f| host_filter_matches(f, host))
                })
                .map(|vol| vol["id"].as_str().unwrap().to_string())
                .collect()
        };
        let all = include_str!("../../../tests/fixtures/zed/cinder-volumes-detail.json");
        let filtered =
            include_str!("../../../tests/fixtures/zed/cinder-volumes-detail-by-backend-host.json");
        let want = ids(filtered, None);
        assert!(!want.is_empty());
        assert_eq!(ids(all, Some("cinder-1@fake#fake")), want);
        // The same volume by its backend and by its host name alone (Cinder's looser levels).
        assert_eq!(ids(all, Some("cinder-1@fake")), want);
        assert_eq!(ids(all, Some("cinder-1")), want);
        for other in ["cinder-1@fake#other", "cinder-1@fak", "cinder-10", "cinder"] {
            assert!(ids(all, Some(other)).is_empty(), "{other}");
        }
    }

    const SCENARIO: &str = r#"
[cloud]
[[users]]
name = "admin"
password = "pw"
project = "admin"
roles = ["admin"]
[[hosts]]
name = "c3"
role = "compute"
cinder_backends = ["ceph"]
[[volumes]]
name = "pooled"
host = "c3@ceph#ceph"
count = 2
[[volumes]]
name = "legacy"
host = "c3@ceph"
server_id = "s-1"
attached_host = "c3"
[[volumes]]
name = "neighbour"
host = "c33@ceph#ceph"
[[backups]]
name = "nightly"
host = "c3"
volume = "legacy"
"#;

    fn state() -> CinderState {
        let s = Scenario::from_toml_str(SCENARIO, "t").unwrap();
        World::new(&s, 1_795_311_370.0).cinder
    }

    fn hosts(c: &CinderState) -> Vec<(&str, &str)> {
        c.volumes
            .iter()
            .map(|v| (v.name.as_deref().unwrap_or(""), v.host.as_str()))
            .collect()
    }

    #[test]
    fn scenario_volumes_and_backups() {
        let c = state();
        assert_eq!(
            hosts(&c),
            [
                ("pooled-1", "c3@ceph#ceph"),
                ("pooled-2", "c3@ceph#ceph"),
                ("legacy", "c3@ceph"),
                ("neighbour", "c33@ceph#ceph")
            ]
        );
        assert_eq!(c.volumes[2].status, "in-use");
        assert_eq!(c.volumes[0].status, "available");
        assert_eq!(
            c.backups[0].volume_id.as_deref(),
            Some(c.volumes[2].id.as_str())
        );
        assert_eq!(c.max_limit, 1000);
        let example = include_str!("../../../scenarios/volumes.toml");
        let s = Scenario::from_toml_str(example, "volumes.toml").unwrap();
        assert_eq!(World::new(&s, 0.0).cinder.volumes.len(), 7);
        let bad = SCENARIO.replace("volume = \"legacy\"", "volume = \"legasy\"");
        let e = Scenario::from_toml_str(&bad, "t").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("backups[0].volume"), "{e}");
        let bad = SCENARIO.replace("host = \"c3\"\nvolume", "host = \"c3@ceph\"\nvolume");
        assert!(Scenario::from_toml_str(&bad, "t").is_err());
    }

    #[test]
    fn update_host_rewrites_like_the_real_tool() {
        let mut c = state();
        // A name that matches nothing changes nothing, silently.
        assert_eq!(c.update_volume_host("c3@cepf", "c4@ceph", 1.0), 0);
        assert_eq!(c.update_volume_host("c3", "c4", 1.0), 0, "never `c3@%`");
        // The pool is selected and written verbatim.
        assert_eq!(c.update_volume_host("c3@ceph#ceph", "c4@ceph#ceph", 1.0), 2);
        // A backend selects the pool-less and pooled alike, and drops the pool.
        let mut d = state();
        assert_eq!(d.update_volume_host("c3@ceph", "c4@ceph", 1.0), 3);
        assert_eq!(
            hosts(&d),
            [
                ("pooled-1", "c4@ceph"),
                ("pooled-2", "c4@ceph"),
                ("legacy", "c4@ceph"),
                ("neighbour", "c33@ceph#ceph")
            ]
        );
        assert_eq!(c.update_backup_host("c3@ceph", "c4", 1.0), 0, "exact only");
        assert_eq!(c.update_backup_host("c3", "c4", 1.0), 1);
        assert_eq!(c.backups[0].host, "c4");
    }

    #[test]
    fn faults_hit_their_command_and_count() {
        let mut c = state();
        c.manage_fault = Some(ManageFault {
            mode: ManageFaultMode::Noop,
            command: Some("volume update_host".into()),
            count: Some(1),
        });
        assert_eq!(c.take_fault("backup update_backup_host"), None);
        assert_eq!(
            c.take_fault("volume update_host"),
            Some(ManageFaultMode::Noop)
        );
        assert_eq!(c.take_fault("volume update_host"), None);
        c.manage_fault = Some(ManageFault {
            mode: ManageFaultMode::Fail,
            command: None,
            count: None,
        });
        assert_eq!(
            c.take_fault("backup update_backup_host"),
            Some(ManageFaultMode::Fail)
        );
        assert_eq!(
            c.take_fault("volume update_host"),
            Some(ManageFaultMode::Fail)
        );
    }

    #[test]
    fn project_ids_are_32_hex() {
        assert!(looks_like_project_id("0123456789abcdef0123456789abcdef"));
        assert!(!looks_like_project_id("os-services"));
    }
}
