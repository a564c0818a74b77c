//! Cinder under `/volume`: version documents and `os-services`, as Zed (3.0 to 3.70) answers.
//! The project id in the URL (`/volume/v3/{project_id}/...`) is optional, as from 3.67.

use axum::http::Method;
use serde::Serialize;
use serde_json::{Value, json};

use super::clock;
use super::http::{Reply, SimRequest, openstack_fault};
use super::keystone::{self, AuthContext};
use super::microversion::{CINDER, Version};
use super::world::{Service, ServiceApi, World};

const NOT_FOUND: &str = "The resource could not be found.";

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
    match (&req.method, path) {
        (&Method::GET | &Method::HEAD, ["os-services"]) => list_services(world, req, ctx, v),
        (_, ["os-services"]) => openstack_fault(405, "The method is not allowed."),
        // No volumes are simulated yet (the volumes issue adds them): an honest empty list.
        (&Method::GET | &Method::HEAD, ["volumes", "detail"]) => {
            Reply::json(200, json!({ "volumes": [] }))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_filter_matches_backends() {
        assert!(host_matches("compute-1@ceph", "compute-1"));
        assert!(host_matches("compute-1@ceph", "compute-1@ceph"));
        assert!(host_matches("compute-1", "compute-1"));
        assert!(!host_matches("compute-10@ceph", "compute-1"));
        assert!(!host_matches("compute-1", "compute-1@ceph"));
    }

    #[test]
    fn project_ids_are_32_hex() {
        assert!(looks_like_project_id("0123456789abcdef0123456789abcdef"));
        assert!(!looks_like_project_id("os-services"));
    }
}
