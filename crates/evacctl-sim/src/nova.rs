//! Nova under `/compute`: version documents and `os-services` (list, update at 2.53+, and the
//! legacy enable/disable/force-down actions below 2.53), as Zed (max 2.93) answers them.

use axum::http::Method;
use serde::Serialize;
use serde_json::{Value, json};

use super::clock;
use super::http::{Reply, SimRequest, openstack_fault};
use super::keystone::{self, AuthContext};
use super::microversion::{NOVA, Version};
use super::world::{Service, ServiceApi, World};

const NOT_FOUND: &str = "The resource could not be found.";

/// Routes `/compute/...`; adds the microversion headers to what it answers.
pub fn handle(world: &mut World, req: &SimRequest) -> Reply {
    let segs = req.segs();
    let rest = segs.get(1..).unwrap_or(&[]);
    let get = req.method == Method::GET || req.method == Method::HEAD;
    match rest {
        [] if get => return versions(req),
        [] | ["v2.1"] if !get => return openstack_fault(405, "The method is not allowed."),
        _ => {}
    }
    let Some((&"v2.1", api_path)) = rest.split_first() else {
        return openstack_fault(404, NOT_FOUND);
    };
    if api_path.is_empty() {
        // The version document needs no token, but is versioned like the rest.
        return with_version(req, |_| Reply::json(200, json!({"version": v21_doc(req)})));
    }
    // keystonemiddleware runs before Nova: a bad token is a 401 whatever the microversion.
    let ctx = match keystone::authenticate(world, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    // Legacy URLs carry the project id: /v2.1/{project_id}/os-services.
    let api_path = match api_path.split_first() {
        Some((first, tail)) if world.identity.project(first).is_some() => {
            if ctx.project_id.as_deref() != Some(*first) {
                return openstack_fault(
                    400,
                    "Malformed request URL: URL's project_id does not match Context's project_id.",
                );
            }
            tail
        }
        _ => api_path,
    };
    with_version(req, |v| route(world, req, &ctx, v, api_path))
}

/// Negotiates the microversion, runs `f`, and echoes the version on its reply.
fn with_version(req: &SimRequest, f: impl FnOnce(Version) -> Reply) -> Reply {
    match NOVA.negotiate(&req.headers) {
        Ok(v) => {
            let mut reply = f(v);
            for (k, val) in NOVA.echo(v) {
                reply = reply.with_header(k, val);
            }
            reply
        }
        Err(e) => openstack_fault(e.status(), &e.to_string()),
    }
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
        (&Method::PUT, ["os-services", id]) => update_service(world, req, ctx, v, id),
        (_, ["os-services"] | ["os-services", _]) => {
            openstack_fault(405, "The method is not allowed.")
        }
        _ => {
            super::compute::advance(world, req.now);
            super::compute::route(world, req, ctx, v, path)
                .unwrap_or_else(|| openstack_fault(404, NOT_FOUND))
        }
    }
}

fn v21_doc(req: &SimRequest) -> Value {
    json!({
        "id": "v2.1",
        "status": "CURRENT",
        "version": NOVA.max.to_string(),
        "min_version": NOVA.min.to_string(),
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": format!("{}/compute/v2.1/", req.base_url)}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.compute+json;version=2.1"}],
    })
}

fn versions(req: &SimRequest) -> Reply {
    let mut doc = v21_doc(req);
    if let Some(o) = doc.as_object_mut() {
        o.remove("media-types");
    }
    Reply::json(200, json!({ "versions": [doc] }))
}

/// The id Nova shows: an integer below 2.53, the UUID from 2.53 on.
#[derive(Serialize)]
#[serde(untagged)]
enum ServiceId {
    Int(u64),
    Uuid(String),
}

/// One service as `os-services` shows it (field order as Nova's).
#[derive(Serialize)]
struct ServiceView {
    binary: String,
    host: String,
    id: ServiceId,
    zone: String,
    status: &'static str,
    state: &'static str,
    updated_at: String,
    disabled_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    forced_down: Option<bool>,
}

fn view(world: &World, s: &Service, v: Version, now: f64) -> ServiceView {
    let settings = &world.settings;
    ServiceView {
        binary: s.binary.clone(),
        host: s.host.clone(),
        id: if v.at_least(2, 53) {
            ServiceId::Uuid(s.uuid.clone())
        } else {
            ServiceId::Int(s.id)
        },
        zone: s.zone.clone(),
        status: s.status(),
        state: s.state(now, settings),
        updated_at: clock::iso_micros(s.updated_at(now, settings)),
        disabled_reason: s.disabled_reason.clone(),
        forced_down: v.at_least(2, 11).then_some(s.forced_down),
    }
}

fn forbidden(rule: &str) -> Reply {
    openstack_fault(
        403,
        &format!("Policy doesn't allow {rule} to be performed."),
    )
}

fn list_services(world: &World, req: &SimRequest, ctx: &AuthContext, v: Version) -> Reply {
    if !ctx.is_admin() {
        return forbidden("os_compute_api:os-services:list");
    }
    // From 2.75 the query schema refuses unknown parameters.
    if v.at_least(2, 75)
        && let Some((k, val)) = req.query.iter().find(|(k, _)| k != "host" && k != "binary")
    {
        return openstack_fault(
            400,
            &format!(
                "Invalid input for query parameters {k}. Value: {val}. Additional properties \
                 are not allowed ('{k}' was unexpected)"
            ),
        );
    }
    let host = req.query_param("host");
    let binary = req.query_param("binary");
    let services: Vec<ServiceView> = world
        .services_of(ServiceApi::Nova)
        .filter(|s| host.is_none_or(|h| s.host == h))
        .filter(|s| binary.is_none_or(|b| s.binary == b))
        .map(|s| view(world, s, v, req.now))
        .collect();
    #[derive(Serialize)]
    struct Body {
        services: Vec<ServiceView>,
    }
    Reply::typed(200, &Body { services })
}

fn update_service(
    world: &mut World,
    req: &SimRequest,
    ctx: &AuthContext,
    v: Version,
    id: &str,
) -> Reply {
    if !ctx.is_admin() {
        return forbidden("os_compute_api:os-services:update");
    }
    let body = match req.json() {
        Ok(b) => b,
        Err(_) => return openstack_fault(400, "Malformed request body"),
    };
    if v.at_least(2, 53) {
        update_v253(world, req, v, id, &body)
    } else {
        update_legacy(world, req, v, id, &body)
    }
}

fn invalid_input(field: &str, value: &Value, why: &str) -> Reply {
    openstack_fault(
        400,
        &format!("Invalid input for field/attribute {field}. Value: {value}. {why}"),
    )
}

/// `PUT /os-services/{uuid}` with `status`, `disabled_reason` and/or `forced_down`.
fn update_v253(world: &mut World, req: &SimRequest, v: Version, id: &str, body: &Value) -> Reply {
    if uuid::Uuid::parse_str(id).is_err() {
        return openstack_fault(400, &format!("Invalid uuid {id}"));
    }
    let Some(obj) = body.as_object() else {
        return invalid_input("body", body, &format!("{body} is not of type 'object'"));
    };
    if let Some(k) = obj
        .keys()
        .find(|k| !["status", "disabled_reason", "forced_down"].contains(&k.as_str()))
    {
        return openstack_fault(
            400,
            &format!("Additional properties are not allowed ('{k}' was unexpected)"),
        );
    }
    let status = match obj.get("status") {
        None => None,
        Some(Value::String(s)) if s == "enabled" || s == "disabled" => Some(s.as_str()),
        Some(other) => {
            return invalid_input(
                "status",
                other,
                &format!("{other} is not one of ['enabled', 'disabled']"),
            );
        }
    };
    let reason = match obj.get("disabled_reason") {
        None => None,
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 255 => Some(s.clone()),
        Some(other) => {
            return invalid_input(
                "disabled_reason",
                other,
                "It must be a string of 1 to 255 characters.",
            );
        }
    };
    let forced_down = match obj.get("forced_down") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => {
            return invalid_input(
                "forced_down",
                other,
                &format!("{other} is not of type 'boolean'"),
            );
        }
    };
    if reason.is_some() && status == Some("enabled") {
        // Zed's words (tests/fixtures/zed/nova-restore.json).
        return openstack_fault(
            400,
            "Specifying 'disabled_reason' with status 'enabled' is invalid.",
        );
    }
    if reason.is_some() && status != Some("disabled") {
        return openstack_fault(
            400,
            "Specifying a disabled reason is not supported unless disabling the service.",
        );
    }
    let Some(idx) = world
        .services
        .iter()
        .position(|s| s.api == ServiceApi::Nova && s.uuid == id)
    else {
        return openstack_fault(404, &format!("Service {id} not found."));
    };
    if world.services[idx].binary != "nova-compute" {
        let b = world.services[idx].binary.clone();
        return openstack_fault(
            400,
            &format!(
                "Updating a {b} service is not supported. Only nova-compute services can be updated."
            ),
        );
    }
    if status.is_none() && forced_down.is_none() {
        return openstack_fault(
            400,
            "No updates were requested. Fields 'status' or 'forced_down' should be specified.",
        );
    }
    if forced_down == Some(false) {
        let host = world.services[idx].host.clone();
        if let Some(refusal) = refuse_force_up(world, &host, req.now) {
            return refusal;
        }
    }
    let s = &mut world.services[idx];
    match status {
        Some("enabled") => {
            s.disabled = false;
            s.disabled_reason = None;
        }
        Some(_) => {
            s.disabled = true;
            s.disabled_reason = reason;
        }
        None => {}
    }
    if let Some(f) = forced_down {
        s.forced_down = f;
    }
    s.modified_at = Some(req.now);
    let s = world.services[idx].clone();
    #[derive(Serialize)]
    struct Body {
        service: ServiceView,
    }
    Reply::typed(
        200,
        &Body {
            service: view(world, &s, v, req.now),
        },
    )
}

/// Nova refuses `forced_down: false` (whether or not it is set) while evacuations from the host
/// are `done`: they turn `completed` only when the host's nova-compute starts and cleans up
/// (seen on Zed: tests/fixtures/zed/nova-restore.json). The clock is advanced first, so a
/// nova-compute that runs again has completed them.
fn refuse_force_up(world: &mut World, host: &str, now: f64) -> Option<Reply> {
    super::compute::advance(world, now);
    let done = world
        .compute
        .migrations
        .iter()
        .any(|m| m.source_compute == host && m.status == "done");
    done.then(|| {
        openstack_fault(
            400,
            &format!(
                "Unable to force up host {host} as `done` evacuation migration records remain \
                 associated with the host. Ensure the compute service has been restarted, \
                 allowing these records to move to `completed` before retrying this request."
            ),
        )
    })
}

/// Below 2.53: `PUT /os-services/{enable|disable|disable-log-reason|force-down}` with
/// `{"host", "binary", ...}` in the body.
fn update_legacy(
    world: &mut World,
    req: &SimRequest,
    v: Version,
    action: &str,
    body: &Value,
) -> Reply {
    let allowed: &[&str] = match action {
        "enable" | "disable" => &["host", "binary"],
        "disable-log-reason" => &["host", "binary", "disabled_reason"],
        "force-down" if v.at_least(2, 11) => &["host", "binary", "forced_down"],
        _ => return openstack_fault(404, "Unknown action"),
    };
    let Some(obj) = body.as_object() else {
        return invalid_input("body", body, &format!("{body} is not of type 'object'"));
    };
    if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return openstack_fault(
            400,
            &format!("Additional properties are not allowed ('{k}' was unexpected)"),
        );
    }
    let text = |key: &str| -> Result<String, Reply> {
        match obj.get(key) {
            Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 255 => Ok(s.clone()),
            Some(other) => Err(invalid_input(
                key,
                other,
                "It must be a string of 1 to 255 characters.",
            )),
            None => Err(openstack_fault(
                400,
                &format!("'{key}' is a required property"),
            )),
        }
    };
    let host = match text("host") {
        Ok(h) => h,
        Err(r) => return r,
    };
    let binary = match text("binary") {
        Ok(b) => b,
        Err(r) => return r,
    };
    let reason = if action == "disable-log-reason" {
        match text("disabled_reason") {
            Ok(r) => Some(r),
            Err(r) => return r,
        }
    } else {
        None
    };
    let forced = if action == "force-down" {
        match obj.get("forced_down") {
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => {
                return invalid_input(
                    "forced_down",
                    other,
                    &format!("{other} is not of type 'boolean'"),
                );
            }
            None => return openstack_fault(400, "'forced_down' is a required property"),
        }
    } else {
        None
    };
    if forced == Some(false)
        && binary == "nova-compute"
        && let Some(refusal) = refuse_force_up(world, &host, req.now)
    {
        return refusal;
    }
    let Some(s) = world
        .services
        .iter_mut()
        .find(|s| s.api == ServiceApi::Nova && s.host == host && s.binary == binary)
    else {
        return openstack_fault(
            404,
            &format!("Could not find binary {binary} on host {host}."),
        );
    };
    s.modified_at = Some(req.now);
    let out = match action {
        "enable" => {
            s.disabled = false;
            s.disabled_reason = None;
            json!({"host": host, "binary": binary, "status": "enabled"})
        }
        "disable" => {
            s.disabled = true;
            json!({"host": host, "binary": binary, "status": "disabled"})
        }
        "disable-log-reason" => {
            s.disabled = true;
            s.disabled_reason = reason.clone();
            json!({"host": host, "binary": binary, "status": "disabled", "disabled_reason": reason})
        }
        _ => {
            let f = forced.unwrap_or(false);
            s.forced_down = f;
            json!({"host": host, "binary": binary, "forced_down": f})
        }
    };
    Reply::json(200, json!({ "service": out }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;
    use axum::http::HeaderValue;

    fn setup() -> (World, String) {
        let s = Scenario::builtin_default().unwrap();
        let mut w = World::new(&s, clock::now());
        let token = keystone::token_for_tests(&mut w, "admin", "sim-admin-password", "admin");
        (w, token)
    }

    fn call(
        w: &mut World,
        token: &str,
        method: Method,
        path: &str,
        mv: Option<&str>,
        body: &str,
    ) -> Reply {
        let mut req = SimRequest::new(method, path);
        req.headers
            .insert("x-auth-token", HeaderValue::from_str(token).unwrap());
        if let Some(mv) = mv {
            req.headers.insert(
                "openstack-api-version",
                HeaderValue::from_str(&format!("compute {mv}")).unwrap(),
            );
        }
        req.body = body.as_bytes().to_vec();
        handle(w, &req)
    }

    #[test]
    fn list_at_293_and_21() {
        let (mut w, t) = setup();
        let r = call(
            &mut w,
            &t,
            Method::GET,
            "/compute/v2.1/os-services",
            Some("2.93"),
            "",
        );
        assert_eq!(r.status.as_u16(), 200);
        let b = r.body_json().unwrap();
        let s = &b["services"];
        assert_eq!(s.as_array().unwrap().len(), 6);
        assert_eq!(s[0]["binary"], "nova-scheduler");
        assert_eq!(s[0]["zone"], "internal");
        assert!(s[2]["id"].as_str().unwrap().len() == 36);
        assert_eq!(s[2]["forced_down"], false);
        assert!(s[2]["updated_at"].as_str().unwrap().ends_with(".000000"));
        assert!(
            r.headers
                .contains(&("openstack-api-version".into(), "compute 2.93".into()))
        );

        let r = call(
            &mut w,
            &t,
            Method::GET,
            "/compute/v2.1/os-services?host=compute-2",
            None,
            "",
        );
        let b = r.body_json().unwrap();
        let s = &b["services"];
        assert_eq!(s.as_array().unwrap().len(), 1);
        assert_eq!(s[0]["id"], 4);
        assert!(s[0].get("forced_down").is_none());
    }

    #[test]
    fn put_253_forced_down_and_validation() {
        let (mut w, t) = setup();
        let uuid = w
            .services
            .iter()
            .find(|s| s.host == "compute-1" && s.api == ServiceApi::Nova)
            .unwrap()
            .uuid
            .clone();
        let path = format!("/compute/v2.1/os-services/{uuid}");
        let r = call(
            &mut w,
            &t,
            Method::PUT,
            &path,
            Some("2.53"),
            r#"{"forced_down": true}"#,
        );
        assert_eq!(r.status.as_u16(), 200);
        let b = r.body_json().unwrap();
        let s = &b["service"];
        assert_eq!(
            (s["forced_down"].as_bool(), s["state"].as_str()),
            (Some(true), Some("down"))
        );

        let r = call(
            &mut w,
            &t,
            Method::PUT,
            &path,
            Some("2.53"),
            r#"{"status": "disabled", "disabled_reason": "fenced"}"#,
        );
        assert_eq!(
            r.body_json().unwrap()["service"]["disabled_reason"],
            "fenced"
        );
        let r = call(
            &mut w,
            &t,
            Method::PUT,
            &path,
            Some("2.53"),
            r#"{"status": "enabled"}"#,
        );
        assert_eq!(
            r.body_json().unwrap()["service"]["disabled_reason"],
            Value::Null
        );

        for (body, code) in [
            (r#"{"disabled_reason": "x"}"#, 400),
            (r#"{"status": "enabled", "disabled_reason": "x"}"#, 400),
            (r#"{"status": "off"}"#, 400),
            (r#"{"forced_down": "yes"}"#, 400),
            (r#"{"foo": 1}"#, 400),
            (r#"{}"#, 400),
            (r#"[1]"#, 400),
            (r#"{"#, 400),
        ] {
            let r = call(&mut w, &t, Method::PUT, &path, Some("2.53"), body);
            assert_eq!(r.status.as_u16(), code, "{body}");
            assert!(
                r.body_json().unwrap()["badRequest"]["message"].is_string(),
                "{body}"
            );
        }
        let r = call(
            &mut w,
            &t,
            Method::PUT,
            "/compute/v2.1/os-services/2b81554f-b534-45dd-afff-b45f3b2a1922",
            Some("2.53"),
            r#"{"forced_down": true}"#,
        );
        assert_eq!(r.status.as_u16(), 404);
        assert_eq!(
            r.body_json().unwrap()["itemNotFound"]["message"],
            "Service 2b81554f-b534-45dd-afff-b45f3b2a1922 not found."
        );
    }

    #[test]
    fn legacy_actions() {
        let (mut w, t) = setup();
        let b = r#"{"host": "compute-1", "binary": "nova-compute", "forced_down": true}"#;
        let r = call(
            &mut w,
            &t,
            Method::PUT,
            "/compute/v2.1/os-services/force-down",
            Some("2.11"),
            b,
        );
        assert_eq!(r.status.as_u16(), 200);
        assert_eq!(r.body_json().unwrap()["service"]["forced_down"], true);
        let r = call(
            &mut w,
            &t,
            Method::PUT,
            "/compute/v2.1/os-services/force-down",
            Some("2.10"),
            b,
        );
        assert_eq!(r.status.as_u16(), 404);
        let b = r#"{"host": "compute-1", "binary": "nova-compute", "disabled_reason": "r"}"#;
        let r = call(
            &mut w,
            &t,
            Method::PUT,
            "/compute/v2.1/os-services/disable-log-reason",
            None,
            b,
        );
        assert_eq!(r.body_json().unwrap()["service"]["status"], "disabled");
        let b = r#"{"host": "compute-9", "binary": "nova-compute"}"#;
        let r = call(
            &mut w,
            &t,
            Method::PUT,
            "/compute/v2.1/os-services/enable",
            None,
            b,
        );
        assert_eq!(r.status.as_u16(), 404);
    }

    /// The answers real Nova Zed gave (tests/fixtures/zed/nova-restore.json), by step.
    fn zed(step_starts: &str) -> Value {
        let f: Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/zed/nova-restore.json"
        ))
        .unwrap();
        f["exchanges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["step"].as_str().unwrap().starts_with(step_starts))
            .cloned()
            .unwrap()
    }

    #[test]
    fn force_up_is_refused_like_zed_while_evacuations_are_done() {
        let (mut w, t) = setup();
        let now = clock::now();
        w.power_off("compute-1", now).unwrap();
        w.compute.migrations.push(crate::compute::SimMigration {
            id: 99,
            uuid: uuid::Uuid::new_v4().to_string(),
            instance_uuid: uuid::Uuid::new_v4().to_string(),
            source_compute: "compute-1".into(),
            dest_compute: Some("compute-2".into()),
            requested_host: None,
            status: "done".into(),
            created_at: now,
            updated_at: Some(now),
            user_id: "u".into(),
            project_id: "p".into(),
            doomed: false,
            forced: false,
        });
        let uuid = w
            .services
            .iter()
            .find(|s| s.host == "compute-1" && s.binary == "nova-compute")
            .unwrap()
            .uuid
            .clone();
        let path = format!("/compute/v2.1/os-services/{uuid}");
        let put = |w: &mut World, body: &str| call(w, &t, Method::PUT, &path, Some("2.93"), body);
        assert_eq!(put(&mut w, r#"{"forced_down": true}"#).status.as_u16(), 200);
        let expected = |step: &str| {
            zed(step)["response"]["badRequest"]["message"]
                .as_str()
                .unwrap()
                .replace("compute-3", "compute-1")
        };
        for body in [
            r#"{"forced_down": false}"#,
            r#"{"status": "enabled", "forced_down": false}"#,
        ] {
            let r = put(&mut w, body);
            assert_eq!(r.status.as_u16(), 400, "{body}");
            assert_eq!(
                r.body_json().unwrap()["badRequest"]["message"],
                expected("evacctl host-evacuate compute-3"),
                "{body}"
            );
        }
        // Below 2.53 as well.
        let b = r#"{"host": "compute-1", "binary": "nova-compute", "forced_down": false}"#;
        let r = call(
            &mut w,
            &t,
            Method::PUT,
            "/compute/v2.1/os-services/force-down",
            Some("2.11"),
            b,
        );
        assert_eq!(r.status.as_u16(), 400);
        // Enabling alone is accepted; the service stays forced down.
        let r = put(&mut w, r#"{"status": "enabled"}"#);
        assert_eq!(r.status.as_u16(), 200);
        assert_eq!(r.body_json().unwrap()["service"]["forced_down"], true);
        let r = put(&mut w, r#"{"status": "enabled", "disabled_reason": "x"}"#);
        assert_eq!(
            r.body_json().unwrap()["badRequest"]["message"],
            expected("enable with a disabled_reason")
        );
        // nova-compute starts again: the migration completes, forced_down can be unset.
        w.power_on("compute-1", clock::now()).unwrap();
        let r = put(&mut w, r#"{"forced_down": false}"#);
        assert_eq!(r.status.as_u16(), 200);
        assert_eq!(w.compute.migrations[0].status, "completed");
    }

    #[test]
    fn errors_in_novas_shape() {
        let (mut w, t) = setup();
        let r = call(
            &mut w,
            &t,
            Method::GET,
            "/compute/v2.1/os-services",
            Some("2.94"),
            "",
        );
        assert_eq!(r.status.as_u16(), 406);
        assert!(
            r.body_json().unwrap()["computeFault"]["message"]
                .as_str()
                .unwrap()
                .contains("maximum is 2.93")
        );
        let r = call(
            &mut w,
            &t,
            Method::GET,
            "/compute/v2.1/os-services",
            Some("x.y"),
            "",
        );
        assert_eq!(r.status.as_u16(), 400);
        let r = call(
            &mut w,
            &t,
            Method::GET,
            "/compute/v2.1/nothing/here",
            None,
            "",
        );
        assert_eq!(r.status.as_u16(), 404);
        assert!(r.body_json().unwrap()["itemNotFound"].is_object());
        let r = call(
            &mut w,
            "bogus",
            Method::GET,
            "/compute/v2.1/os-services",
            None,
            "",
        );
        assert_eq!(r.status.as_u16(), 401);
        let r = call(
            &mut w,
            &t,
            Method::GET,
            "/compute/v2.1/os-services?foo=1",
            Some("2.93"),
            "",
        );
        assert_eq!(r.status.as_u16(), 400);
    }
}
