//! Nova servers, the evacuate action, migrations and hypervisors: the typed calls evacuation
//! needs (shapes in `tests/fixtures/zed/servers-detail-*.json`,
//! `os-migrations-*.json`, `os-hypervisors-*.json`).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};

use super::catalog::ServiceType;
use super::microversion::Microversion;
use super::nova::Nova;
use super::session::{Request, encode_segment};
use super::{Error, Result};

/// The embedded flavor of a server (2.47+; before, only `id`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerFlavor {
    /// Before 2.47 only.
    #[serde(default)]
    pub id: Option<String>,
    /// 2.47+: the flavor's name when the server was created.
    #[serde(default)]
    pub original_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub vcpus: Option<u64>,
    /// MiB.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub ram: Option<u64>,
    /// Root disk, GiB.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub disk: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub ephemeral: Option<u64>,
    /// MiB; Nova writes `""` for none.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub swap: Option<u64>,
    #[serde(default, deserialize_with = "string_map")]
    pub extra_specs: BTreeMap<String, String>,
}

impl ServerFlavor {
    /// Its name (2.47+) or id (before), for tables and skip lists.
    pub fn label(&self) -> Option<&str> {
        self.original_name.as_deref().or(self.id.as_deref())
    }
}

/// One server of `GET /servers/detail` or `GET /servers/{id}` (admin view). Fields evacctl does
/// not use are ignored; those it uses must have the right type when present.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Server {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// `ACTIVE`, `SHUTOFF`, `ERROR`, `REBUILD`, ...
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub tenant_id: Option<String>,
    #[serde(rename = "OS-EXT-SRV-ATTR:host", default)]
    pub host: Option<String>,
    #[serde(rename = "OS-EXT-SRV-ATTR:hypervisor_hostname", default)]
    pub hypervisor_hostname: Option<String>,
    /// `active`, `stopped`, `error`, `building`, ...
    #[serde(rename = "OS-EXT-STS:vm_state", default)]
    pub vm_state: Option<String>,
    /// `null` when no task runs; `rebuilding` during an evacuation.
    #[serde(rename = "OS-EXT-STS:task_state", default)]
    pub task_state: Option<String>,
    /// Set once the server ran (origin A: an ERROR server that never ran is not evacuated).
    #[serde(rename = "OS-SRV-USG:launched_at", default)]
    pub launched_at: Option<String>,
    #[serde(default, deserialize_with = "string_map")]
    pub metadata: BTreeMap<String, String>,
    /// The zone of the host it was scheduled to (empty or absent: unknown).
    #[serde(rename = "OS-EXT-AZ:availability_zone", default)]
    pub availability_zone: Option<String>,
    /// 2.26+.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    #[serde(default)]
    pub flavor: ServerFlavor,
    /// The image id; `None` for a server booted from a volume (Nova sends `""`).
    #[serde(default, deserialize_with = "image_id")]
    pub image: Option<String>,
}

impl Server {
    pub fn vm_state(&self) -> &str {
        self.vm_state.as_deref().unwrap_or("")
    }

    /// The task in progress, if any (`""` counts as none).
    pub fn task(&self) -> Option<&str> {
        self.task_state.as_deref().filter(|t| !t.is_empty())
    }

    pub fn host(&self) -> &str {
        self.host.as_deref().unwrap_or("")
    }

    pub fn has_run(&self) -> bool {
        self.launched_at.as_deref().is_some_and(|t| !t.is_empty())
    }
}

/// One record of `GET /os-migrations`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migration {
    #[serde(deserialize_with = "super::nova::string_or_integer")]
    pub id: String,
    /// 2.59+.
    #[serde(default)]
    pub uuid: Option<String>,
    #[serde(default)]
    pub instance_uuid: String,
    #[serde(default)]
    pub source_compute: Option<String>,
    #[serde(default)]
    pub dest_compute: Option<String>,
    /// `accepted`, `pre-migrating`, `running`, `done`, `completed`, `failed`, `error`, ...
    #[serde(default)]
    pub status: String,
    /// `evacuation`, `migration`, `live-migration`, `resize` (2.23+).
    #[serde(default)]
    pub migration_type: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

impl Migration {
    /// Still moving: a second evacuation now would break the server (docs/design.md 3.6).
    pub fn is_in_progress(&self) -> bool {
        matches!(
            self.status.as_str(),
            "accepted" | "pre-migrating" | "running" | "queued" | "preparing"
        )
    }

    /// Rebuilt on the target: `done` (source still dead) or `completed` (source cleaned up).
    pub fn is_done(&self) -> bool {
        matches!(self.status.as_str(), "done" | "completed")
    }

    pub fn is_failed(&self) -> bool {
        matches!(self.status.as_str(), "failed" | "error")
    }

    /// Newest first: by creation time, then by id (Nova's own order).
    fn sort_key(&self) -> (String, u64) {
        (
            self.created_at.clone().unwrap_or_default(),
            self.id.parse().unwrap_or(0),
        )
    }
}

/// The newest migration per server.
pub fn latest_per_server(migrations: &[Migration]) -> BTreeMap<String, &Migration> {
    let mut out: BTreeMap<String, &Migration> = BTreeMap::new();
    for m in migrations {
        match out.get(&m.instance_uuid) {
            Some(prev) if prev.sort_key() >= m.sort_key() => {}
            _ => {
                out.insert(m.instance_uuid.clone(), m);
            }
        }
    }
    out
}

/// Filters of `GET /os-migrations`.
#[derive(Clone, Debug, Default)]
pub struct MigrationFilter<'a> {
    pub source_compute: Option<&'a str>,
    pub instance_uuid: Option<&'a str>,
    pub migration_type: Option<&'a str>,
    pub status: Option<&'a str>,
}

/// One hypervisor of `GET /os-hypervisors` (2.53+: `id` is the Placement provider UUID).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hypervisor {
    #[serde(deserialize_with = "super::nova::string_or_integer")]
    pub id: String,
    pub hypervisor_hostname: String,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    /// In `/os-hypervisors/detail`: the nova-compute service, whose `host` is the Nova host
    /// name (the hypervisor hostname may be an FQDN that differs from it).
    #[serde(default)]
    pub service: Option<HypervisorService>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HypervisorService {
    #[serde(default)]
    pub host: Option<String>,
}

impl Hypervisor {
    /// The Nova host name: the service's host, else the hypervisor hostname.
    pub fn host(&self) -> &str {
        self.service
            .as_ref()
            .and_then(|s| s.host.as_deref())
            .unwrap_or(&self.hypervisor_hostname)
    }
}

/// The evacuate action's options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EvacuateRequest {
    /// Target host; `None`: the scheduler chooses.
    pub host: Option<String>,
}

/// What the evacuate action answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EvacuateAccepted {
    pub request_id: Option<String>,
    /// The microversion the call was sent with.
    pub microversion: Option<String>,
}

/// `{"evacuate": {...}}` as the microversion wants it: from 2.68 only `host` (optional);
/// 2.29-2.67 adds `force` (never true here: the scheduler must check the target); 2.14-2.28
/// `host` only; below 2.14 `onSharedStorage` is required (evacuation only makes sense on
/// shared storage).
pub fn evacuate_body(req: &EvacuateRequest, version: Option<Microversion>) -> Value {
    let mut inner = serde_json::Map::new();
    if let Some(h) = &req.host {
        inner.insert("host".into(), json!(h));
    }
    let v = version.unwrap_or(Microversion::new(2, 1));
    if v >= Microversion::new(2, 29) && v < Microversion::new(2, 68) {
        inner.insert("force".into(), json!(false));
    } else if v < Microversion::new(2, 14) {
        inner.insert("onSharedStorage".into(), json!(true));
    }
    json!({ "evacuate": inner })
}

#[derive(Deserialize)]
struct ServerBody {
    server: Server,
}

impl Nova {
    /// `GET /servers/detail?all_tenants=1&host=HOST`, every page.
    pub fn list_servers_on_host(&self, host: &str) -> Result<Vec<Server>> {
        let req = Request::get(ServiceType::Compute, "/servers/detail")
            .query("all_tenants", "1")
            .query("host", host);
        self.session().list_all(&req, "servers")
    }

    /// `GET /servers/detail?all_tenants=1&name=NAME`, every page. Nova's `name` is a regular
    /// expression: the caller keeps the exact matches.
    pub fn list_servers_named(&self, name: &str) -> Result<Vec<Server>> {
        let pattern = format!("^{}$", regex_escape(name));
        let req = Request::get(ServiceType::Compute, "/servers/detail")
            .query("all_tenants", "1")
            .query("name", pattern);
        self.session().list_all(&req, "servers")
    }

    /// `GET /servers/{id}`; `None` when Nova says 404.
    pub fn get_server(&self, id: &str) -> Result<Option<Server>> {
        let req = Request::get(
            ServiceType::Compute,
            format!("/servers/{}", encode_segment(id)),
        );
        match self.session().json::<ServerBody>(&req) {
            Ok(b) => Ok(Some(b.server)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A server by UUID or exact name, as `nova evacuate SERVER` finds it. An ambiguous name is
    /// an [`Error::InvalidInput`] listing the matches; none is `Ok(None)`.
    pub fn find_server(&self, name_or_id: &str) -> Result<Option<Server>> {
        if uuid_like(name_or_id)
            && let Some(s) = self.get_server(name_or_id)?
        {
            return Ok(Some(s));
        }
        let mut found: Vec<Server> = self
            .list_servers_named(name_or_id)?
            .into_iter()
            .filter(|s| s.name == name_or_id)
            .collect();
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.pop()),
            _ => {
                let list: Vec<String> = found
                    .iter()
                    .map(|s| format!("{} (host {}, {})", s.id, or_dash(s.host()), s.status))
                    .collect();
                Err(Error::InvalidInput(format!(
                    "{} servers are named `{name_or_id}`: give the UUID of one of {}",
                    found.len(),
                    list.join(", ")
                )))
            }
        }
    }

    /// `POST /servers/{id}/action {"evacuate": ...}` with the body the negotiated microversion
    /// wants. Nova answers 200 once it has accepted the evacuation (the rebuild runs later).
    pub fn evacuate(&self, id: &str, req: &EvacuateRequest) -> Result<EvacuateAccepted> {
        let version = self.microversion()?;
        let body = evacuate_body(req, version);
        let r = Request::post(
            ServiceType::Compute,
            format!("/servers/{}/action", encode_segment(id)),
        )
        .json(&body)?;
        let resp = self.session().send(&r)?;
        Ok(EvacuateAccepted {
            request_id: resp.request_id().map(str::to_string),
            microversion: resp.microversion().map(|v| v.to_string()),
        })
    }

    /// `GET /os-migrations` with filters, every page (2.59+ pages; before, one answer).
    pub fn list_migrations(&self, f: &MigrationFilter<'_>) -> Result<Vec<Migration>> {
        let req = Request::get(ServiceType::Compute, "/os-migrations")
            .query_opt("source_compute", f.source_compute)
            .query_opt("instance_uuid", f.instance_uuid)
            .query_opt("migration_type", f.migration_type)
            .query_opt("status", f.status);
        self.session().list_all(&req, "migrations")
    }

    /// `GET /os-hypervisors/detail` (2.53+: UUID ids, the Placement provider UUIDs), every
    /// page, at 2.87 at most: from 2.88 on the detail carries each hypervisor's uptime, which
    /// nova-api asks every compute it believes up for over RPC. Right after a power loss Nova
    /// still believes the dead host up: the call then waits for nova-api's RPC timeout (60 s
    /// seen on Zed) for a field evacctl never reads.
    pub fn list_hypervisors(&self) -> Result<Vec<Hypervisor>> {
        let req = Request::get(ServiceType::Compute, "/os-hypervisors/detail")
            .min_version(super::nova::SERVICE_UPDATE_MIN)
            .max_version(HYPERVISORS_MAX);
        self.session().list_all(&req, "hypervisors")
    }

    /// `GET /os-aggregates`: every host aggregate (admin), with its hosts and metadata.
    pub fn list_aggregates(&self) -> Result<Vec<Aggregate>> {
        let req = Request::get(ServiceType::Compute, "/os-aggregates");
        self.session().list_all(&req, "aggregates")
    }
}

/// One host aggregate of `GET /os-aggregates`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aggregate {
    #[serde(deserialize_with = "super::nova::string_or_integer")]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub availability_zone: Option<String>,
    /// Nova writes `null` for an aggregate without hosts.
    #[serde(default, deserialize_with = "null_as_default")]
    pub hosts: Vec<String>,
    #[serde(default, deserialize_with = "string_map")]
    pub metadata: BTreeMap<String, String>,
}

/// The last compute microversion whose hypervisor detail needs no RPC to the computes.
pub const HYPERVISORS_MAX: Microversion = Microversion::new(2, 87);

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

/// 8-4-4-4-12 hex digits.
pub fn uuid_like(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Escapes the characters a Python regular expression gives a meaning to.
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.^$|?*+()[]{}".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn null_as_default<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Metadata and extra specs: string values; other scalars are kept as their JSON text.
fn string_map<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<BTreeMap<String, String>, D::Error> {
    let raw = Option::<BTreeMap<String, Value>>::deserialize(d)?.unwrap_or_default();
    Ok(raw
        .into_iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (k, s)
        })
        .collect())
}

/// A number, a numeric string, `""` or null (Nova writes `"swap": ""`).
fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<u64>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("{n} is not a size"))),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("{s:?} is not a size"))),
        Some(other) => Err(serde::de::Error::custom(format!("{other} is not a size"))),
    }
}

/// `{"id": "...", "links": [...]}`, or `""` for a server booted from a volume.
fn image_id<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Object(o)) => o
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/zed");

    #[derive(Deserialize)]
    struct ServersBody {
        servers: Vec<Server>,
    }

    #[derive(Deserialize)]
    struct MigrationsBody {
        migrations: Vec<Migration>,
    }

    const SERVER: &str = r#"{"id": "06c63c45-42cb-45d7-a2a9-5f2e86b81b47", "name": "vm-3", "status": "ACTIVE",
        "tenant_id": "7e30", "metadata": {"HA_Enabled": "true"}, "image": {"id": "0c97", "links": []},
        "flavor": {"vcpus": 1, "ram": 512, "disk": 1, "ephemeral": 0, "swap": "", "original_name": "m1.tiny", "extra_specs": {"hw:cpu_policy": "shared"}},
        "OS-SRV-USG:launched_at": "2026-11-22T01:35:46.000000", "OS-EXT-SRV-ATTR:host": "compute-1",
        "OS-EXT-SRV-ATTR:hypervisor_hostname": "compute-1", "OS-EXT-STS:task_state": null,
        "OS-EXT-STS:vm_state": "active", "tags": ["ha"]}"#;

    #[test]
    fn parses_a_server() {
        let s: Server = serde_json::from_str(SERVER).unwrap();
        assert_eq!(s.host(), "compute-1");
        assert_eq!(s.vm_state(), "active");
        assert_eq!(s.task(), None);
        assert!(s.has_run());
        assert_eq!(s.flavor.vcpus, Some(1));
        assert_eq!(s.flavor.swap, None);
        assert_eq!(s.flavor.label(), Some("m1.tiny"));
        assert_eq!(s.metadata["HA_Enabled"], "true");
        assert_eq!(s.tags, vec!["ha"]);
        assert_eq!(s.image.as_deref(), Some("0c97"));
        let bfv: Server = serde_json::from_str(
            r#"{"id": "x", "image": "", "tags": null, "metadata": null, "OS-EXT-STS:task_state": ""}"#,
        )
        .unwrap();
        assert_eq!(bfv.image, None);
        assert_eq!(bfv.task(), None);
        assert!(!bfv.has_run());
    }

    #[test]
    fn parses_the_zed_samples() {
        let read = |n: &str| {
            std::fs::read_to_string(format!("{SAMPLES}/{n}")).unwrap_or_else(|e| panic!("{n}: {e}"))
        };
        {
            let text = read("servers-detail-compute-1.json");
            let b: ServersBody = serde_json::from_str(&text).unwrap();
            assert!(!b.servers.is_empty());
            assert!(b.servers.iter().all(|s| s.host() == "compute-1"));
        }
        {
            let text = read("os-migrations-evacuation.json");
            let b: MigrationsBody = serde_json::from_str(&text).unwrap();
            assert!(b.migrations.iter().all(|m| m.is_done()));
            assert_eq!(
                b.migrations[0].migration_type.as_deref(),
                Some("evacuation")
            );
        }
        {
            let text = read("race-os-migrations-vm-3.json");
            let b: MigrationsBody = serde_json::from_str(&text).unwrap();
            assert!(!b.migrations.is_empty());
        }
    }

    #[test]
    fn wrong_types_are_errors() {
        for bad in [
            r#"{"id": 1}"#,
            r#"{"id": "x", "OS-EXT-STS:task_state": 3}"#,
            r#"{"id": "x", "flavor": {"vcpus": "many"}}"#,
            r#"{"id": "x", "tags": "a"}"#,
        ] {
            assert!(serde_json::from_str::<Server>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn evacuate_bodies_per_microversion() {
        let with = EvacuateRequest {
            host: Some("compute-2".into()),
        };
        let none = EvacuateRequest::default();
        let v = |a, b| Some(Microversion::new(a, b));
        assert_eq!(
            evacuate_body(&with, v(2, 93)),
            json!({"evacuate": {"host": "compute-2"}})
        );
        assert_eq!(evacuate_body(&none, v(2, 68)), json!({"evacuate": {}}));
        assert_eq!(
            evacuate_body(&with, v(2, 67)),
            json!({"evacuate": {"host": "compute-2", "force": false}})
        );
        assert_eq!(
            evacuate_body(&none, v(2, 29)),
            json!({"evacuate": {"force": false}})
        );
        assert_eq!(evacuate_body(&none, v(2, 14)), json!({"evacuate": {}}));
        assert_eq!(
            evacuate_body(&with, v(2, 13)),
            json!({"evacuate": {"host": "compute-2", "onSharedStorage": true}})
        );
        assert_eq!(
            evacuate_body(&none, None),
            json!({"evacuate": {"onSharedStorage": true}})
        );
    }

    #[test]
    fn newest_migration_per_server() {
        let m = |id: &str, inst: &str, at: &str, status: &str| Migration {
            id: id.into(),
            uuid: None,
            instance_uuid: inst.into(),
            source_compute: Some("c1".into()),
            dest_compute: None,
            status: status.into(),
            migration_type: Some("evacuation".into()),
            created_at: Some(at.into()),
            updated_at: None,
        };
        let list = vec![
            m("1", "a", "2026-01-01T00:00:00.000000", "failed"),
            m("3", "a", "2026-01-01T00:00:05.000000", "accepted"),
            m("2", "b", "2026-01-01T00:00:01.000000", "done"),
            m("4", "a", "2026-01-01T00:00:05.000000", "error"),
        ];
        let latest = latest_per_server(&list);
        assert_eq!(latest["a"].id, "4");
        assert_eq!(latest["b"].status, "done");
        assert!(list[1].is_in_progress() && list[2].is_done() && list[0].is_failed());
    }

    #[test]
    fn names_and_ids() {
        assert!(uuid_like("06c63c45-42cb-45d7-a2a9-5f2e86b81b47"));
        assert!(!uuid_like("vm-3"));
        assert!(!uuid_like("06c63c45-42cb-45d7-a2a9-5f2e86b81b4z"));
        assert_eq!(regex_escape("web.01(a)"), "web\\.01\\(a\\)");
    }
}
