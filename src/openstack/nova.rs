//! Nova (compute): the typed calls evacctl needs.

use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Deserializer, Serialize};

use super::catalog::ServiceType;
use super::microversion::Microversion;
use super::session::{Request, Session, encode_segment};
use super::{Error, Result};
use evacctl_text::time::parse_timestamp;

/// `PUT /os-services/{id}` with a UUID, and `forced_down` in the answers, need 2.53.
pub const SERVICE_UPDATE_MIN: Microversion = Microversion::new(2, 53);

/// A service's admin status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceStatus {
    Enabled,
    Disabled,
}

impl ServiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceStatus::Enabled => "enabled",
            ServiceStatus::Disabled => "disabled",
        }
    }
}

impl fmt::Display for ServiceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of `GET /os-services`. Extra fields are ignored; the ones below must be there
/// with the right type (except the optional ones). `status` and `state` stay text, as Nova
/// wrote them (`enabled`/`disabled`, `up`/`down`): the verdict over them is the runbook's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputeService {
    /// A UUID from 2.53 on, an integer (as text here) before.
    #[serde(deserialize_with = "string_or_integer")]
    pub id: String,
    pub binary: String,
    pub host: String,
    pub zone: Option<String>,
    /// `enabled` or `disabled`.
    pub status: String,
    /// `up` or `down` (heartbeats, or forced down).
    pub state: String,
    /// As Nova writes it: `2026-11-22T01:36:10.000000` (UTC). See [`Self::updated_at_time`].
    pub updated_at: Option<String>,
    pub disabled_reason: Option<String>,
    /// Absent before 2.11.
    pub forced_down: Option<bool>,
}

impl ComputeService {
    /// `updated_at` as a time; `None` if absent or unreadable.
    pub fn updated_at_time(&self) -> Option<SystemTime> {
        self.updated_at.as_deref().and_then(parse_timestamp)
    }

    pub fn is_enabled(&self) -> bool {
        self.status.eq_ignore_ascii_case("enabled")
    }

    pub fn is_up(&self) -> bool {
        self.state.eq_ignore_ascii_case("up")
    }

    pub fn is_forced_down(&self) -> bool {
        self.forced_down == Some(true)
    }
}

/// Accepts `"2b81554f-…"` and `4`.
pub(crate) fn string_or_integer<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        S(String),
        I(i64),
        U(u64),
    }
    match Id::deserialize(d) {
        Ok(Id::S(s)) => Ok(s),
        Ok(Id::I(i)) => Ok(i.to_string()),
        Ok(Id::U(u)) => Ok(u.to_string()),
        Err(_) => Err(serde::de::Error::custom(
            "`id` is neither a string nor an integer",
        )),
    }
}

/// The body of `PUT /os-services/{id}` (2.53): only the fields that are set are sent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ServiceUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ServiceStatus>,
    /// Nova accepts it only together with `status: disabled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forced_down: Option<bool>,
}

impl ServiceUpdate {
    pub fn force_down(down: bool) -> ServiceUpdate {
        ServiceUpdate {
            forced_down: Some(down),
            ..Default::default()
        }
    }

    pub fn disable(reason: Option<&str>) -> ServiceUpdate {
        ServiceUpdate {
            status: Some(ServiceStatus::Disabled),
            disabled_reason: reason.map(str::to_string),
            ..Default::default()
        }
    }

    pub fn enable() -> ServiceUpdate {
        ServiceUpdate {
            status: Some(ServiceStatus::Enabled),
            ..Default::default()
        }
    }

    fn is_empty(&self) -> bool {
        self.status.is_none() && self.disabled_reason.is_none() && self.forced_down.is_none()
    }
}

#[derive(Deserialize)]
struct ServicesBody {
    services: Vec<ComputeService>,
}

#[derive(Deserialize)]
struct ServiceBody {
    service: ComputeService,
}

/// The Nova client. Cheap to clone; shares the session.
#[derive(Clone, Debug)]
pub struct Nova {
    session: Session,
}

impl Nova {
    pub fn new(session: &Session) -> Nova {
        Nova {
            session: session.clone(),
        }
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The microversion compute calls are sent with (discovering it if needed).
    pub fn microversion(&self) -> Result<Option<Microversion>> {
        self.session.microversion(ServiceType::Compute)
    }

    /// `GET /os-services`, filtered by host and/or binary on the server side.
    pub fn list_services(
        &self,
        host: Option<&str>,
        binary: Option<&str>,
    ) -> Result<Vec<ComputeService>> {
        let req = Request::get(ServiceType::Compute, "/os-services")
            .query_opt("host", host)
            .query_opt("binary", binary);
        Ok(self.session.json::<ServicesBody>(&req)?.services)
    }

    /// `PUT /os-services/{id}` (2.53+, `id` is the service UUID): disable/enable, force down/up.
    pub fn update_service(&self, id: &str, update: ServiceUpdate) -> Result<ComputeService> {
        if id.trim().is_empty() {
            return Err(Error::InvalidInput(
                "update_service: empty service id".into(),
            ));
        }
        if update.is_empty() {
            return Err(Error::InvalidInput(format!(
                "update_service {id}: nothing to update"
            )));
        }
        let req = Request::put(
            ServiceType::Compute,
            format!("/os-services/{}", encode_segment(id)),
        )
        .min_version(SERVICE_UPDATE_MIN)
        .json(&update)?;
        Ok(self.session.json::<ServiceBody>(&req)?.service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/zed");

    pub(crate) const OS_SERVICES_293: &str = r#"{"services": [
        {"binary": "nova-scheduler", "host": "controller", "id": "a17e4885-2952-453a-a7fd-a6da35dd5722", "zone": "internal", "status": "enabled", "state": "up", "updated_at": "2026-11-22T01:36:13.000000", "disabled_reason": null, "forced_down": false},
        {"binary": "nova-compute", "host": "compute-1", "id": "2b81554f-b534-45dd-afff-b45f3b2a1922", "zone": "nova", "status": "enabled", "state": "up", "updated_at": "2026-11-22T01:36:10.000000", "disabled_reason": null, "forced_down": false}]}"#;

    pub(crate) const OS_SERVICES_21: &str = r#"{"services": [
        {"binary": "nova-compute", "host": "compute-1", "id": 4, "zone": "nova", "status": "disabled", "state": "down", "updated_at": null, "disabled_reason": "fenced by evacctl"}]}"#;

    /// A recorded Zed answer; the inline copy must still parse the same (it is what the other
    /// tests of this module use).
    fn sample(name: &str, inline: &str) -> String {
        let text = std::fs::read_to_string(format!("{SAMPLES}/{name}"))
            .unwrap_or_else(|e| panic!("{SAMPLES}/{name}: {e}"));
        serde_json::from_str::<serde_json::Value>(inline).expect("the inline copy is JSON");
        text
    }

    #[test]
    fn parses_os_services_at_2_93() {
        let body: ServicesBody =
            serde_json::from_str(&sample("os-services.json", OS_SERVICES_293)).unwrap();
        let c1 = body
            .services
            .iter()
            .find(|s| s.host == "compute-1")
            .unwrap();
        assert_eq!(c1.id, "2b81554f-b534-45dd-afff-b45f3b2a1922");
        assert_eq!(c1.binary, "nova-compute");
        assert!(c1.is_enabled() && c1.status == "enabled");
        assert!(c1.is_up() && c1.state == "up" && !c1.is_forced_down());
        assert_eq!(c1.zone.as_deref(), Some("nova"));
        assert_eq!(c1.forced_down, Some(false));
        assert_eq!(c1.disabled_reason, None);
        assert_eq!(
            c1.updated_at_time(),
            parse_timestamp("2026-11-22T01:36:10Z")
        );
    }

    #[test]
    fn parses_os_services_at_2_1() {
        let body: ServicesBody =
            serde_json::from_str(&sample("os-services-v2.1.json", OS_SERVICES_21)).unwrap();
        let s = body
            .services
            .iter()
            .find(|s| s.host == "compute-1")
            .unwrap();
        assert_eq!(s.id, "4");
        assert_eq!(s.forced_down, None);
        let own: ServicesBody = serde_json::from_str(OS_SERVICES_21).unwrap();
        assert!(!own.services[0].is_enabled());
        assert!(!own.services[0].is_up());
        assert_eq!(own.services[0].updated_at_time(), None);
        assert_eq!(
            own.services[0].disabled_reason.as_deref(),
            Some("fenced by evacctl")
        );
    }

    #[test]
    fn parses_the_force_down_answer() {
        let fallback = r#"{"service": {"binary": "nova-compute", "host": "compute-1", "id": "2b81554f-b534-45dd-afff-b45f3b2a1922", "zone": "nova", "status": "enabled", "state": "down", "updated_at": "2026-11-22T01:36:56.000000", "disabled_reason": null, "forced_down": true}}"#;
        let body: ServiceBody =
            serde_json::from_str(&sample("os-services-force-down-put.json", fallback)).unwrap();
        assert_eq!(body.service.forced_down, Some(true));
        assert!(body.service.is_forced_down() && !body.service.is_up());
    }

    #[test]
    fn is_strict_on_the_fields_it_relies_on() {
        for bad in [
            r#"{"services": [{"binary": "nova-compute", "host": "c", "id": 1, "zone": "nova", "status": "enabled"}]}"#,
            r#"{"services": [{"binary": "nova-compute", "host": "c", "id": 1, "zone": "nova", "status": null, "state": "up"}]}"#,
            r#"{"services": [{"binary": "nova-compute", "host": "c", "id": 1, "zone": "nova", "status": "enabled", "state": true}]}"#,
            r#"{"services": [{"binary": "nova-compute", "host": 7, "id": 1, "zone": "nova", "status": "enabled", "state": "up"}]}"#,
            r#"{"services": [{"binary": "nova-compute", "host": "c", "id": [1], "zone": "nova", "status": "enabled", "state": "up"}]}"#,
            r#"{"services": [{"binary": "nova-compute", "host": "c", "id": 1, "zone": "nova", "status": "enabled", "state": "up", "forced_down": "yes"}]}"#,
            r#"{"services": {}}"#,
            r#"{}"#,
        ] {
            assert!(serde_json::from_str::<ServicesBody>(bad).is_err(), "{bad}");
        }
        let extra = r#"{"services": [{"binary": "b", "host": "h", "id": 1, "zone": "z", "status": "enabled", "state": "up", "new_field": {"x": 1}}]}"#;
        assert!(serde_json::from_str::<ServicesBody>(extra).is_ok());
    }

    #[test]
    fn update_bodies() {
        assert_eq!(
            serde_json::to_value(ServiceUpdate::force_down(true)).unwrap(),
            serde_json::json!({"forced_down": true})
        );
        assert_eq!(
            serde_json::to_value(ServiceUpdate::disable(Some("evacctl: host failed"))).unwrap(),
            serde_json::json!({"status": "disabled", "disabled_reason": "evacctl: host failed"})
        );
        assert_eq!(
            serde_json::to_value(ServiceUpdate::enable()).unwrap(),
            serde_json::json!({"status": "enabled"})
        );
    }
}
