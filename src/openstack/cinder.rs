//! Cinder (block-storage v3): the typed calls evacctl needs (shapes in
//! `tests/fixtures/zed/cinder-volumes-detail*.json`).

use std::time::SystemTime;

use serde::{Deserialize, Deserializer, Serialize};

use super::catalog::ServiceType;
use super::microversion::Microversion;
use super::session::{Request, Session};
use super::{Error, Result};
use evacctl_text::time::parse_timestamp;

/// The microversion from which the volume list takes the generic `host` filter the runbook
/// uses (`cinder --os-volume-api-version 3.33 list --filters host=H`).
pub const HOST_FILTER_MIN: Microversion = Microversion::new(3, 33);

/// One entry of Cinder's `GET /os-services`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeService {
    pub binary: String,
    /// `node@backend` for cinder-volume, `node` for the others.
    pub host: String,
    pub zone: Option<String>,
    /// `enabled` or `disabled`.
    pub status: String,
    /// `up` or `down`.
    pub state: String,
    pub updated_at: Option<String>,
    pub disabled_reason: Option<String>,
    /// 3.7+.
    pub cluster: Option<String>,
    /// cinder-volume only.
    pub frozen: Option<bool>,
    /// cinder-volume only, 3.49+: `up` / `down` as the driver reports it.
    pub backend_state: Option<String>,
}

impl VolumeService {
    pub fn updated_at_time(&self) -> Option<SystemTime> {
        self.updated_at.as_deref().and_then(parse_timestamp)
    }

    pub fn is_enabled(&self) -> bool {
        self.status.eq_ignore_ascii_case("enabled")
    }

    pub fn is_up(&self) -> bool {
        self.state.eq_ignore_ascii_case("up")
    }

    /// The node part of `node@backend`.
    pub fn node(&self) -> &str {
        self.host
            .split_once('@')
            .map_or(self.host.as_str(), |(n, _)| n)
    }

    /// The backend part of `node@backend`, if any.
    pub fn backend(&self) -> Option<&str> {
        self.host.split_once('@').map(|(_, b)| b)
    }
}

#[derive(Deserialize)]
struct ServicesBody {
    services: Vec<VolumeService>,
}

/// One attachment of a volume, as `GET /volumes/detail` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeAttachment {
    #[serde(default)]
    pub server_id: Option<String>,
    /// The compute host the server runs on (Nova updates it when it evacuates the server).
    #[serde(default)]
    pub host_name: Option<String>,
    #[serde(default)]
    pub device: Option<String>,
    #[serde(default)]
    pub attachment_id: Option<String>,
}

/// One volume of `GET /volumes/detail` (admin view). Fields evacctl does not use are ignored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// `available`, `in-use`, `error`, `creating`, ...
    pub status: String,
    /// GiB.
    #[serde(default)]
    pub size: u64,
    /// `os-vol-host-attr:host`: the cinder-volume that manages it, `node@backend#pool`.
    /// Outer `None`: the attribute is absent (not an admin); inner `None`: never scheduled.
    #[serde(
        rename = "os-vol-host-attr:host",
        default,
        deserialize_with = "present"
    )]
    pub host: Option<Option<String>>,
    #[serde(rename = "os-vol-tenant-attr:tenant_id", default)]
    pub project_id: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub attachments: Vec<VolumeAttachment>,
    #[serde(default)]
    pub migration_status: Option<String>,
    #[serde(default)]
    pub volume_type: Option<String>,
}

impl Volume {
    /// The host string, when Cinder showed one.
    pub fn host(&self) -> Option<&str> {
        self.host.as_ref().and_then(|h| h.as_deref())
    }

    /// The node of `node@backend#pool`: the host whose cinder-volume manages the volume.
    pub fn node(&self) -> Option<&str> {
        let h = self.host()?;
        let h = h.split('#').next().unwrap_or(h);
        Some(h.split('@').next().unwrap_or(h))
    }
}

/// Tells an absent field (`None`) from a `null` one (`Some(None)`).
fn present<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

fn null_as_empty<'de, D, T>(d: D) -> std::result::Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// The volumes `list_volumes_on_host` got, and how.
#[derive(Clone, Debug)]
pub struct HostVolumes {
    /// What Cinder answered: with the server-side filter, the volumes its `host` filter matched
    /// (SQL `LIKE`, so possibly more than the host's own); without it, every volume.
    pub volumes: Vec<Volume>,
    /// Whether Cinder filtered by host (3.33 and later) or evacctl must (older APIs).
    pub server_filtered: bool,
}

/// The Cinder client. Cheap to clone; shares the session.
#[derive(Clone, Debug)]
pub struct Cinder {
    session: Session,
}

impl Cinder {
    pub fn new(session: &Session) -> Cinder {
        Cinder {
            session: session.clone(),
        }
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    pub fn microversion(&self) -> Result<Option<Microversion>> {
        self.session.microversion(ServiceType::BlockStorage)
    }

    /// `GET /os-services` under the project endpoint, filtered by host and/or binary.
    pub fn list_services(
        &self,
        host: Option<&str>,
        binary: Option<&str>,
    ) -> Result<Vec<VolumeService>> {
        let req = Request::get(ServiceType::BlockStorage, "/os-services")
            .query_opt("host", host)
            .query_opt("binary", binary);
        Ok(self.session.json::<ServicesBody>(&req)?.services)
    }

    /// The volumes of every project that a host's cinder-volume services manage, every page:
    /// `GET /volumes/detail?all_tenants=1&host=HOST` at 3.33 or later (as the runbook's
    /// `cinder --os-volume-api-version 3.33 list --filters host=H --all`). A Cinder older than
    /// 3.33 lists every volume and the caller filters (it always should: the answer may hold
    /// volumes of other hosts whose names the filter's `LIKE` matched).
    ///
    /// Refuses an answer without `os-vol-host-attr:host` (a user without the admin role):
    /// taking it as "no volume on this host" would be a lie.
    pub fn list_volumes_on_host(&self, host: &str) -> Result<HostVolumes> {
        let server_filtered = self
            .session
            .server_versions(ServiceType::BlockStorage)?
            .is_some_and(|r| r.max >= HOST_FILTER_MIN);
        let mut req =
            Request::get(ServiceType::BlockStorage, "/volumes/detail").query("all_tenants", "1");
        if server_filtered {
            req = req.query("host", host).min_version(HOST_FILTER_MIN);
        } else {
            tracing::info!(
                "Cinder is older than {HOST_FILTER_MIN}: listing every volume and filtering by host here"
            );
        }
        let volumes: Vec<Volume> = self.session.list_all(&req, "volumes")?;
        if let Some(v) = volumes.iter().find(|v| v.host.is_none()) {
            return Err(Error::InvalidResponse {
                service: ServiceType::BlockStorage.to_string(),
                method: "GET".into(),
                path: "/volumes/detail".into(),
                detail: format!(
                    "volume {} has no os-vol-host-attr:host: the volume hosts are shown to admins only (an admin role is needed)",
                    v.id
                ),
            });
        }
        Ok(HostVolumes {
            volumes,
            server_filtered,
        })
    }

    /// `GET /scheduler-stats/get_pools` (admin): the pools, `node@backend#pool`, of the
    /// cinder-volume services the scheduler has current stats from (up ones only).
    pub fn list_pools(&self) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Pool {
            name: String,
        }
        #[derive(Deserialize)]
        struct Body {
            pools: Vec<Pool>,
        }
        let req = Request::get(ServiceType::BlockStorage, "/scheduler-stats/get_pools");
        let body: Body = self.session.json(&req)?;
        Ok(body.pools.into_iter().map(|p| p.name).collect())
    }

    /// `GET /volumes/{id}`; `None` when Cinder says 404 (deleted).
    pub fn get_volume(&self, id: &str) -> Result<Option<Volume>> {
        #[derive(Deserialize)]
        struct Body {
            volume: Volume,
        }
        let req = Request::get(
            ServiceType::BlockStorage,
            format!("/volumes/{}", super::session::encode_segment(id)),
        );
        match self.session.json::<Body>(&req) {
            Ok(b) => Ok(Some(b.volume)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_volume_services() {
        let body = r#"{"services": [
            {"binary": "cinder-scheduler", "host": "cinder-1", "zone": "nova", "status": "enabled", "state": "up",
             "updated_at": "2026-11-22T01:18:21.000000", "disabled_reason": null, "cluster": null},
            {"binary": "cinder-volume", "host": "cinder-1@fake", "zone": "nova", "status": "enabled", "state": "up",
             "updated_at": "2026-11-22T01:18:20.000000", "disabled_reason": null, "cluster": null,
             "replication_status": "disabled", "active_backend_id": null, "frozen": false, "backend_state": "up"}]}"#;
        let s: ServicesBody = serde_json::from_str(body).unwrap();
        let vol = &s.services[1];
        assert_eq!(vol.node(), "cinder-1");
        assert_eq!(vol.backend(), Some("fake"));
        assert_eq!(vol.frozen, Some(false));
        assert_eq!(vol.backend_state.as_deref(), Some("up"));
        assert!(vol.updated_at_time().is_some());
        assert_eq!(s.services[0].node(), "cinder-1");
        assert_eq!(s.services[0].backend(), None);
        assert_eq!(s.services[0].frozen, None);
    }

    const VOLUMES: &str = r#"{"volumes": [{"id": "31f2e576-7c45-409f-8d96-cc9635558e15", "status": "in-use",
        "size": 1, "name": "vol-ev", "attachments": [{"id": "31f2e576-7c45-409f-8d96-cc9635558e15",
        "attachment_id": "58de985a-a633-4cac-91cc-b86007ed6576", "volume_id": "31f2e576-7c45-409f-8d96-cc9635558e15",
        "server_id": "8cf2d1cc-a22c-4898-89f8-57e65adf1ece", "host_name": "compute-3", "device": "/dev/sdb",
        "attached_at": "2026-11-22T01:38:35.000000"}], "migration_status": null, "volume_type": "__DEFAULT__",
        "os-vol-tenant-attr:tenant_id": "7e3043b69cf94bcbbe6bd5135c04e92c", "os-vol-host-attr:host": "cinder-1@fake#fake"}]}"#;

    #[derive(Deserialize)]
    struct VolumesBody {
        volumes: Vec<Volume>,
    }

    #[test]
    fn parses_volumes_detail() {
        // The recorded answer, and the trimmed copy of it (only the fields evacctl reads).
        for text in [
            include_str!("../../tests/fixtures/zed/cinder-volumes-detail.json"),
            VOLUMES,
        ] {
            let body: VolumesBody = serde_json::from_str(text).unwrap();
            let v = &body.volumes[0];
            assert_eq!(v.host(), Some("cinder-1@fake#fake"));
            assert_eq!(v.status, "in-use");
            assert_eq!(v.size, 1);
            assert_eq!(
                v.project_id.as_deref(),
                Some("7e3043b69cf94bcbbe6bd5135c04e92c")
            );
            assert_eq!(v.attachments[0].host_name.as_deref(), Some("compute-3"));
            assert_eq!(
                v.attachments[0].server_id.as_deref(),
                Some("8cf2d1cc-a22c-4898-89f8-57e65adf1ece")
            );
        }
    }

    #[test]
    fn tells_an_absent_host_from_a_null_one() {
        let body: VolumesBody = serde_json::from_str(
            r#"{"volumes": [{"id": "a", "status": "error", "os-vol-host-attr:host": null, "attachments": null},
                            {"id": "b", "status": "available"}]}"#,
        )
        .unwrap();
        assert_eq!(body.volumes[0].host, Some(None));
        assert!(body.volumes[0].attachments.is_empty());
        assert_eq!(body.volumes[1].host, None);
        assert!(
            serde_json::from_str::<VolumesBody>(r#"{"volumes": [{"id": "a", "status": 3}]}"#)
                .is_err()
        );
    }

    #[test]
    fn strict_on_relied_fields() {
        let bad = r#"{"services": [{"binary": "cinder-volume", "host": "h@b", "zone": "nova", "status": "enabled", "state": 1}]}"#;
        assert!(serde_json::from_str::<ServicesBody>(bad).is_err());
        let missing_host = r#"{"services": [{"binary": "cinder-volume", "zone": "nova", "status": "enabled", "state": "up"}]}"#;
        assert!(serde_json::from_str::<ServicesBody>(missing_host).is_err());
    }
}
