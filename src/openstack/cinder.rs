//! Cinder (block-storage v3): the typed calls evacctl needs.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::Result;
use super::catalog::ServiceType;
use super::microversion::Microversion;
use super::session::{Request, Session};
use super::time::parse_timestamp;

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

    #[test]
    fn strict_on_relied_fields() {
        let bad = r#"{"services": [{"binary": "cinder-volume", "host": "h@b", "zone": "nova", "status": "enabled", "state": 1}]}"#;
        assert!(serde_json::from_str::<ServicesBody>(bad).is_err());
        let missing_host = r#"{"services": [{"binary": "cinder-volume", "zone": "nova", "status": "enabled", "state": "up"}]}"#;
        assert!(serde_json::from_str::<ServicesBody>(missing_host).is_err());
    }
}
