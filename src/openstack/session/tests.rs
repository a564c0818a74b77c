use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;

use super::*;
use crate::error::Classify;
use crate::exit_codes::ExitCode;
use crate::openstack::cloud_config::{CloudSelection, SearchPaths};
use crate::openstack::testserver::{
    Recorded, Reply, Routes, TEST_CA_PEM, TestServer, closed_port_url,
};
use crate::openstack::{Cinder, Nova, Placement, ServiceUpdate};

const PASSWORD: &str = "pw-hunter2-secret";
const PROJECT: &str = "d62d59a9447d4bb5a43cfcb959faaeaf";
const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/zed");

const OS_SERVICES: &str = r#"{"services": [
    {"binary": "nova-scheduler", "host": "controller", "id": "a17e4885-2952-453a-a7fd-a6da35dd5722", "zone": "internal", "status": "enabled", "state": "up", "updated_at": "2026-11-22T01:36:13.000000", "disabled_reason": null, "forced_down": false},
    {"binary": "nova-compute", "host": "compute-1", "id": "2b81554f-b534-45dd-afff-b45f3b2a1922", "zone": "nova", "status": "enabled", "state": "up", "updated_at": "2026-11-22T01:36:10.000000", "disabled_reason": null, "forced_down": false}]}"#;

const FORCE_DOWN: &str = r#"{"service": {"binary": "nova-compute", "host": "compute-1", "id": "2b81554f-b534-45dd-afff-b45f3b2a1922", "zone": "nova", "status": "enabled", "state": "down", "updated_at": "2026-11-22T01:36:56.000000", "disabled_reason": null, "forced_down": true}}"#;

/// A recorded Zed answer (the inline copy, used where a test needs its exact ids, must parse).
fn sample(name: &str, inline: &str) -> String {
    serde_json::from_str::<Value>(inline).expect("the inline copy is JSON");
    std::fs::read_to_string(format!("{SAMPLES}/{name}"))
        .unwrap_or_else(|e| panic!("{SAMPLES}/{name}: {e}"))
}

fn token_body(base: &str, expires_in: Duration) -> Value {
    let now = SystemTime::now();
    let issued = humantime::format_rfc3339_micros(now).to_string();
    let expires = humantime::format_rfc3339_micros(now + expires_in).to_string();
    let ep = |url: String| json!([{"interface": "public", "region_id": "RegionOne", "region": "RegionOne", "url": url}]);
    json!({"token": {
    "expires_at": expires, "issued_at": issued, "methods": ["password"],
    "project": {"id": PROJECT, "name": "admin", "domain": {"id": "default", "name": "Default"}},
    "user": {"id": "u-1", "name": "admin"},
    "catalog": [
        {"type": "identity", "name": "keystone", "endpoints": ep(format!("{base}/identity/v3"))},
        {"type": "compute", "name": "nova", "endpoints": [
            {"interface": "public", "region_id": "RegionOne", "url": format!("{base}/compute/v2.1")},
            {"interface": "internal", "region_id": "RegionOne", "url": format!("{base}/compute-internal/v2.1")}]},
        {"type": "placement", "name": "placement", "endpoints": ep(format!("{base}/placement"))},
        {"type": "volumev3", "name": "cinderv3", "endpoints": ep(format!("{base}/volume/v3/{PROJECT}"))},
    ]}})
}

fn token_reply(base: &str, token: &str) -> Reply {
    Reply::json(201, &token_body(base, Duration::from_secs(3600)))
        .header("X-Subject-Token", token)
        .header("x-openstack-request-id", "req-keystone-1")
}

fn nova_version(max: &str) -> Reply {
    Reply::json(
        200,
        &json!({"version": {"id": "v2.1", "status": "CURRENT", "version": max, "min_version": "2.1", "updated": "2013-07-23T11:33:21Z"}}),
    )
}

const AUTH: &str = "/identity/v3/auth/tokens";
const OS_SERVICES_PATH: &str = "/compute/v2.1/os-services";

/// Keystone with one token, Nova at `max`, plus the routes `more` adds.
fn routes(base: &str, max: &str) -> Routes {
    Routes::new()
        .on("POST", AUTH, vec![token_reply(base, "tok-1")])
        .on("GET", "/compute/v2.1", vec![nova_version(max)])
}

fn test_options() -> SessionOptions {
    SessionOptions {
        retry: RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(20),
        },
        connect_timeout: Duration::from_secs(2),
        use_env_proxy: false,
    }
}

fn config_with(base: &str, env: &[(&str, &str)]) -> CloudConfig {
    let mut vars: HashMap<String, String> = [
        ("OS_AUTH_URL", format!("{base}/identity")),
        ("OS_USERNAME", "admin".into()),
        ("OS_PASSWORD", PASSWORD.into()),
        ("OS_PROJECT_NAME", "admin".into()),
        ("OS_USER_DOMAIN_NAME", "Default".into()),
        ("OS_PROJECT_DOMAIN_ID", "default".into()),
        ("OS_REGION_NAME", "RegionOne".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in env {
        vars.insert(k.to_string(), v.to_string());
    }
    CloudConfig::resolve_with(
        &CloudSelection::default(),
        &|k| vars.get(k).cloned(),
        &SearchPaths::default(),
    )
    .unwrap()
}

fn session(server: &TestServer) -> Session {
    Session::with_options(config_with(&server.url(), &[]), test_options()).unwrap()
}

fn only<'a>(reqs: &'a [Recorded], method: &str, path: &str) -> Vec<&'a Recorded> {
    reqs.iter()
        .filter(|r| r.method == method && r.path == path)
        .collect()
}

#[test]
fn authenticates_discovers_and_lists_compute_services() {
    let server = TestServer::start(|base| {
        routes(base, "2.93")
            .on(
                "GET",
                OS_SERVICES_PATH,
                vec![Reply::raw(200, sample("os-services.json", OS_SERVICES))],
            )
            .handler()
    });
    let s = session(&server);
    // No I/O before the first call.
    assert!(server.requests().is_empty());
    let nova = Nova::new(&s);
    let services = nova
        .list_services(Some("compute-1"), Some("nova-compute"))
        .unwrap();
    assert!(services.iter().any(|x| x.host == "compute-1" && x.is_up()));
    assert_eq!(nova.microversion().unwrap(), Some(Microversion::new(2, 93)));

    let reqs = server.requests();
    let auth = only(&reqs, "POST", AUTH);
    assert_eq!(auth.len(), 1);
    assert_eq!(
        auth[0].json(),
        json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"name": "Default"}, "password": PASSWORD}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
    );
    assert_eq!(auth[0].header("content-type"), Some("application/json"));
    assert!(auth[0].header("x-auth-token").is_none());

    let list = only(&reqs, "GET", OS_SERVICES_PATH);
    assert_eq!(list.len(), 1);
    let r = list[0];
    assert_eq!(r.header("x-auth-token"), Some("tok-1"));
    assert_eq!(r.header("openstack-api-version"), Some("compute 2.93"));
    assert_eq!(r.header("x-openstack-nova-api-version"), Some("2.93"));
    assert_eq!(
        r.header("user-agent"),
        Some(concat!("evacctl/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(
        r.query_pairs(),
        [
            ("host".to_string(), "compute-1".to_string()),
            ("binary".into(), "nova-compute".into())
        ]
    );
    // The version document is fetched without a microversion header, once.
    let disc = only(&reqs, "GET", "/compute/v2.1");
    assert_eq!(disc.len(), 1);
    assert!(disc[0].header("openstack-api-version").is_none());
}

#[test]
fn hypervisors_are_listed_below_the_uptime_rpc() {
    let path = "/compute/v2.1/os-hypervisors/detail";
    let server = TestServer::start(|base| {
        routes(base, "2.93")
            .on(
                "GET",
                path,
                vec![Reply::raw(
                    200,
                    sample("os-hypervisors-detail-v2.87.json", r#"{"hypervisors": []}"#),
                )],
            )
            .handler()
    });
    let s = session(&server);
    let hypervisors = Nova::new(&s).list_hypervisors().unwrap();
    assert!(hypervisors.iter().any(|h| h.host() == "compute-1"));
    let reqs = server.requests();
    let list = only(&reqs, "GET", path);
    assert_eq!(list.len(), 1);
    // 2.93 is offered; 2.88+ would make nova-api ask every compute for its uptime.
    assert_eq!(
        list[0].header("openstack-api-version"),
        Some("compute 2.87")
    );
}

#[test]
fn update_service_puts_with_the_negotiated_version() {
    let id = "2b81554f-b534-45dd-afff-b45f3b2a1922";
    let put_path = format!("{OS_SERVICES_PATH}/{id}");
    let server = TestServer::start(|base| {
        routes(base, "2.93")
            .on(
                "PUT",
                &put_path,
                vec![Reply::raw(
                    200,
                    sample("os-services-force-down-put.json", FORCE_DOWN),
                )],
            )
            .handler()
    });
    let nova = Nova::new(&session(&server));
    let svc = nova
        .update_service(id, ServiceUpdate::force_down(true))
        .unwrap();
    assert_eq!(svc.forced_down, Some(true));
    assert!(!svc.is_up());
    let reqs = server.requests();
    let put = only(&reqs, "PUT", &put_path);
    assert_eq!(put.len(), 1);
    assert_eq!(put[0].json(), json!({"forced_down": true}));
    assert_eq!(put[0].header("openstack-api-version"), Some("compute 2.93"));
    assert!(matches!(
        nova.update_service(id, ServiceUpdate::default()),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        nova.update_service(" ", ServiceUpdate::enable()),
        Err(Error::InvalidInput(_))
    ));
}

#[test]
fn an_old_nova_cannot_update_services() {
    let server = TestServer::start(|base| {
        routes(base, "2.40")
            .on(
                "GET",
                OS_SERVICES_PATH,
                vec![Reply::raw(
                    200,
                    sample("os-services-v2.1.json", OS_SERVICES),
                )],
            )
            .handler()
    });
    let nova = Nova::new(&session(&server));
    // Listing works, at the server's maximum.
    nova.list_services(None, None).unwrap();
    let e = nova
        .update_service("4", ServiceUpdate::force_down(true))
        .unwrap_err();
    assert!(matches!(e, Error::MicroversionUnsupported { .. }), "{e:?}");
    assert_eq!(e.exit_code(), ExitCode::Failure);
    let msg = e.to_string();
    assert!(
        msg.contains("2.53") && msg.contains("2.1–2.40") && msg.contains("compute /os-services/4"),
        "{msg}"
    );
    let reqs = server.requests();
    assert_eq!(
        only(&reqs, "GET", OS_SERVICES_PATH)[0].header("openstack-api-version"),
        Some("compute 2.40")
    );
    assert!(reqs.iter().all(|r| r.method != "PUT"), "no PUT may be sent");
}

#[test]
fn client_maximums_cap_the_negotiation() {
    let server = TestServer::start(|base| {
        routes(base, "2.100")
            .on("GET", "/placement", vec![Reply::json(200, &json!({"versions": [{"id": "v1.0", "max_version": "1.45", "min_version": "1.0", "status": "CURRENT"}]}))])
            .on("GET", "/volume/v3/", vec![Reply::json(200, &json!({"versions": [{"id": "v3.0", "version": "3.71", "min_version": "3.0", "status": "CURRENT"}]}))])
            .handler()
    });
    let s = session(&server);
    assert_eq!(
        s.nova().microversion().unwrap(),
        Some(Microversion::new(2, 93))
    );
    assert_eq!(
        s.placement().microversion().unwrap(),
        Some(Microversion::new(1, 39))
    );
    assert_eq!(
        s.cinder().microversion().unwrap(),
        Some(Microversion::new(3, 70))
    );
    assert_eq!(
        s.server_versions(ServiceType::Placement).unwrap(),
        Some(VersionRange {
            min: Microversion::new(1, 0),
            max: Microversion::new(1, 45)
        })
    );
    // A call may cap its own version.
    let req = Request::get(ServiceType::Compute, "/os-hypervisors/detail")
        .max_version(Microversion::new(2, 87));
    let _ = s.send(&req);
    let reqs = server.requests();
    assert_eq!(
        only(&reqs, "GET", "/compute/v2.1/os-hypervisors/detail")[0]
            .header("openstack-api-version"),
        Some("compute 2.87")
    );
}

#[test]
fn cinder_version_from_the_root_and_services_under_the_project() {
    let volume_services = json!({"services": [
        {"binary": "cinder-volume", "host": "cinder-1@fake", "zone": "nova", "status": "enabled", "state": "up",
         "updated_at": "2026-11-22T01:18:20.000000", "disabled_reason": null, "frozen": false, "cluster": null},
        {"binary": "cinder-scheduler", "host": "cinder-1", "zone": "nova", "status": "enabled", "state": "up",
         "updated_at": "2026-11-22T01:18:21.000000", "disabled_reason": null}]});
    let server = TestServer::start(|base| {
        routes(base, "2.93")
            .on("GET", "/volume/v3/", vec![Reply::raw(404, "no")])
            .on(
                "GET",
                "/volume/",
                vec![Reply::json(
                    300,
                    &json!({"versions": [
                        {"id": "v2.0", "status": "DEPRECATED", "version": "", "min_version": ""},
                        {"id": "v3.0", "status": "CURRENT", "version": "3.70", "min_version": "3.0"}]}),
                )],
            )
            .on("GET", &format!("/volume/v3/{PROJECT}/os-services"), vec![Reply::json(200, &volume_services)])
            .handler()
    });
    let cinder = Cinder::new(&session(&server));
    let services = cinder.list_services(Some("cinder-1@fake"), None).unwrap();
    assert_eq!(services.len(), 2);
    assert_eq!(services[0].backend(), Some("fake"));
    let reqs = server.requests();
    let call = only(&reqs, "GET", &format!("/volume/v3/{PROJECT}/os-services"));
    assert_eq!(call[0].header("openstack-api-version"), Some("volume 3.70"));
    assert!(call[0].header("x-openstack-nova-api-version").is_none());
    assert_eq!(call[0].query, "host=cinder-1%40fake");
}

/// From 3.33 Cinder filters volumes by host; before, every volume comes back, every page, and
/// the caller filters. An answer without the host attribute (not an admin) is refused.
#[test]
fn cinder_volumes_by_host_from_3_33_and_all_of_them_before() {
    let vol = |id: &str, host: &str| {
        json!({"id": id, "status": "available", "size": 1, "name": id,
        "os-vol-host-attr:host": host, "attachments": []})
    };
    let detail = format!("/volume/v3/{PROJECT}/volumes/detail");
    // Cinder at `max` answering the volume list with `pages`, one per call.
    let cinder_at = |max: &str, pages: Vec<Value>| {
        let (max, detail) = (max.to_string(), detail.clone());
        TestServer::start(move |base| {
            routes(base, "2.93")
                .on("GET", "/volume/v3/", vec![Reply::json(200, &json!({"versions": [{"id": "v3.0", "version": max, "min_version": "3.0"}]}))])
                .on("GET", &detail, pages.iter().map(|p| Reply::json(200, p)).collect())
                .handler()
        })
    };
    let server = cinder_at(
        "3.32",
        vec![
            json!({"volumes": [vol("v1", "c3@ceph#ceph")],
            "volumes_links": [{"rel": "next", "href": format!("http://elsewhere/v3/{PROJECT}/volumes/detail?limit=1&marker=v1")}]}),
            json!({"volumes": [vol("v2", "c4@ceph#ceph")]}),
        ],
    );
    let listed = Cinder::new(&session(&server))
        .list_volumes_on_host("c3")
        .unwrap();
    assert!(!listed.server_filtered);
    let ids: Vec<&str> = listed.volumes.iter().map(|v| v.id.as_str()).collect();
    assert_eq!(ids, ["v1", "v2"]);
    let reqs = server.requests();
    let calls = only(&reqs, "GET", &detail);
    assert_eq!(calls[0].query, "all_tenants=1");
    assert_eq!(calls[1].query, "all_tenants=1&marker=v1");

    let server = cinder_at(
        "3.70",
        vec![
            json!({"volumes": [vol("v1", "c3@ceph#ceph")]}),
            json!({"volumes": [{"id": "v9", "status": "available", "size": 1}]}),
        ],
    );
    let cinder = Cinder::new(&session(&server));
    let listed = cinder.list_volumes_on_host("c3").unwrap();
    assert!(listed.server_filtered);
    let reqs = server.requests();
    let call = &only(&reqs, "GET", &detail)[0];
    assert_eq!(call.query, "all_tenants=1&host=c3");
    assert_eq!(call.header("openstack-api-version"), Some("volume 3.70"));
    let e = cinder.list_volumes_on_host("c3").unwrap_err();
    assert!(e.to_string().contains("admin"), "{e}");
}

#[test]
fn placement_version_at_its_root() {
    let server = TestServer::start(|base| {
        routes(base, "2.93")
            .on("GET", "/placement", vec![Reply::json(200, &json!({"versions": [{"id": "v1.0", "max_version": "1.39", "min_version": "1.0", "status": "CURRENT", "links": []}]}))])
            .on("GET", "/placement/resource_providers", vec![Reply::raw(200, sample("placement-resource_providers.json", r#"{"resource_providers": []}"#))])
            .handler()
    });
    let s = session(&server);
    let v: Value = s
        .json(&Request::get(ServiceType::Placement, "/resource_providers"))
        .unwrap();
    assert!(v["resource_providers"].is_array());
    let reqs = server.requests();
    assert_eq!(
        only(&reqs, "GET", "/placement/resource_providers")[0].header("openstack-api-version"),
        Some("placement 1.39")
    );
}

#[test]
fn without_a_version_document_calls_go_unversioned() {
    let server = TestServer::start(|base| {
        Routes::new()
            .on("POST", AUTH, vec![token_reply(base, "tok-1")])
            .on(
                "GET",
                "/compute/v2.1",
                vec![Reply::raw(200, "<html>not json</html>")],
            )
            .on(
                "GET",
                OS_SERVICES_PATH,
                vec![Reply::raw(
                    200,
                    sample("os-services-v2.1.json", OS_SERVICES),
                )],
            )
            .handler()
    });
    let nova = Nova::new(&session(&server));
    nova.list_services(None, None).unwrap();
    let reqs = server.requests();
    assert!(
        only(&reqs, "GET", OS_SERVICES_PATH)[0]
            .header("openstack-api-version")
            .is_none()
    );
    // /compute/v2.1, then the root.
    assert_eq!(only(&reqs, "GET", "/compute/").len(), 1);
    let e = nova
        .update_service("4", ServiceUpdate::force_down(true))
        .unwrap_err();
    assert!(e.to_string().contains("could not be discovered"), "{e}");
}

#[test]
fn a_401_reauthenticates_once_and_replays() {
    let server = TestServer::start(|base| {
        Routes::new()
            .on(
                "POST",
                AUTH,
                vec![token_reply(base, "tok-1"), token_reply(base, "tok-2")],
            )
            .on("GET", "/compute/v2.1", vec![nova_version("2.93")])
            .on(
                "PUT",
                &format!("{OS_SERVICES_PATH}/x"),
                vec![Reply::raw(401, ""), Reply::raw(200, FORCE_DOWN)],
            )
            .handler()
    });
    let nova = Nova::new(&session(&server));
    nova.update_service("x", ServiceUpdate::force_down(true))
        .unwrap();
    let reqs = server.requests();
    assert_eq!(only(&reqs, "POST", AUTH).len(), 2);
    let puts = only(&reqs, "PUT", &format!("{OS_SERVICES_PATH}/x"));
    assert_eq!(
        puts.len(),
        2,
        "the PUT is replayed once after re-authenticating"
    );
    assert_eq!(puts[0].header("x-auth-token"), Some("tok-1"));
    assert_eq!(puts[1].header("x-auth-token"), Some("tok-2"));
    assert_eq!(puts[1].json(), json!({"forced_down": true}));
}

#[test]
fn a_second_401_is_an_auth_error() {
    let server = TestServer::start(|base| {
        routes(base, "2.93")
            .on(
                "GET",
                OS_SERVICES_PATH,
                vec![Reply::json(401, &json!({"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}))
                    .header("x-openstack-request-id", "req-401")],
            )
            .handler()
    });
    let e = Nova::new(&session(&server))
        .list_services(None, None)
        .unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Auth);
    assert_eq!(e.status(), Some(401));
    assert_eq!(
        e.to_string(),
        "compute GET /os-services: HTTP 401 Unauthorized: The request you have made requires authentication. (request-id req-401)"
    );
    let reqs = server.requests();
    assert_eq!(only(&reqs, "POST", AUTH).len(), 2);
    assert_eq!(only(&reqs, "GET", OS_SERVICES_PATH).len(), 2);
}

#[test]
fn keystone_refusal_is_an_auth_error_without_secrets() {
    let server = TestServer::start(|_| {
        Routes::new()
            .on(
                "POST",
                AUTH,
                vec![Reply::json(401, &json!({"error": {"code": 401, "title": "Unauthorized", "message": format!("Invalid password {PASSWORD}")}}))
                    .header("x-openstack-request-id", "req-k401")],
            )
            .handler()
    });
    let s = session(&server);
    let e = s.authenticate().unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Auth);
    let text = format!("{e} {e:?} {s:?}");
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(text.contains("identity POST http://127.0.0.1:"), "{text}");
    assert!(text.contains("/identity/v3/auth/tokens: HTTP 401 Unauthorized: Invalid password *** (request-id req-k401)"), "{text}");
    // The password was sent, and only in the body.
    let reqs = server.requests();
    assert!(reqs[0].headers.iter().all(|(_, v)| !v.contains(PASSWORD)));
}

#[test]
fn reads_are_retried_on_503_then_succeed() {
    let server = TestServer::start(|base| {
        routes(base, "2.93")
            .on(
                "GET",
                OS_SERVICES_PATH,
                vec![
                    Reply::raw(503, "busy"),
                    Reply::raw(502, "bad gateway"),
                    Reply::raw(200, OS_SERVICES),
                ],
            )
            .handler()
    });
    Nova::new(&session(&server))
        .list_services(None, None)
        .unwrap();
    assert_eq!(server.count("GET", OS_SERVICES_PATH), 3);
}

#[test]
fn reads_give_up_after_the_retries() {
    let server = TestServer::start(|base| {
        routes(base, "2.93")
            .on(
                "GET",
                OS_SERVICES_PATH,
                vec![Reply::raw(
                    503,
                    "<html><h1>503 Service Unavailable</h1>No server is available</html>",
                )],
            )
            .handler()
    });
    let e = Nova::new(&session(&server))
        .list_services(None, None)
        .unwrap_err();
    assert_eq!(server.count("GET", OS_SERVICES_PATH), 4);
    assert_eq!(e.status(), Some(503));
    assert_eq!(e.exit_code(), ExitCode::Unreachable);
    assert!(
        e.to_string().contains(
            "HTTP 503 Service Unavailable: 503 Service Unavailable No server is available"
        ),
        "{e}"
    );
}

#[test]
fn writes_are_never_retried() {
    let action = "/compute/v2.1/servers/vm-1/action";
    let server = TestServer::start(|base| {
        routes(base, "2.93")
            .on(
                "POST",
                action,
                vec![Reply::raw(503, ""), Reply::raw(202, "")],
            )
            .on(
                "PUT",
                &format!("{OS_SERVICES_PATH}/x"),
                vec![Reply::raw(504, ""), Reply::raw(200, FORCE_DOWN)],
            )
            .on(
                "DELETE",
                "/compute/v2.1/servers/vm-1",
                vec![Reply::hang_up(), Reply::raw(204, "")],
            )
            .handler()
    });
    let s = session(&server);
    let post = Request::post(ServiceType::Compute, "/servers/vm-1/action")
        .json(&json!({"evacuate": {}}))
        .unwrap();
    assert_eq!(s.send(&post).unwrap_err().status(), Some(503));
    assert_eq!(server.count("POST", action), 1);
    assert!(
        Nova::new(&s)
            .update_service("x", ServiceUpdate::force_down(true))
            .is_err()
    );
    assert_eq!(server.count("PUT", &format!("{OS_SERVICES_PATH}/x")), 1);
    let e = s
        .send(&Request::delete(ServiceType::Compute, "/servers/vm-1"))
        .unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Unreachable, "{e}");
    assert_eq!(server.count("DELETE", "/compute/v2.1/servers/vm-1"), 1);
}

#[test]
fn reads_are_retried_after_a_dropped_connection() {
    let server = TestServer::start(|base| {
        routes(base, "2.93")
            .on(
                "GET",
                OS_SERVICES_PATH,
                vec![Reply::hang_up(), Reply::raw(200, OS_SERVICES)],
            )
            .handler()
    });
    Nova::new(&session(&server))
        .list_services(None, None)
        .unwrap();
    assert_eq!(server.count("GET", OS_SERVICES_PATH), 2);
}

#[test]
fn retry_after_is_honoured_up_to_the_cap() {
    let server = TestServer::start(|base| {
        routes(base, "2.93")
            .on(
                "GET",
                OS_SERVICES_PATH,
                vec![
                    Reply::raw(429, "slow down").header("Retry-After", "1"),
                    Reply::raw(200, OS_SERVICES),
                ],
            )
            .handler()
    });
    let mut opts = test_options();
    opts.retry.max_delay = Duration::from_millis(150);
    let s = Session::with_options(config_with(&server.url(), &[]), opts).unwrap();
    s.authenticate().unwrap();
    s.endpoint(ServiceType::Compute).unwrap();
    let started = Instant::now();
    Nova::new(&s).list_services(None, None).unwrap();
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(150), "waited only {took:?}");
    assert!(
        took < Duration::from_secs(1),
        "waited {took:?}: Retry-After is capped"
    );
}

#[test]
fn no_answer_is_unreachable() {
    let closed = closed_port_url();
    let s = Session::with_options(config_with(&closed, &[]), test_options()).unwrap();
    let e = s.authenticate().unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Unreachable);
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!(
            "identity POST {closed}/identity/v3/auth/tokens: no answer:"
        )),
        "{msg}"
    );
    assert!(!msg.contains(PASSWORD));

    // A compute endpoint that does not answer, reached through an override.
    let server = TestServer::start(|base| {
        Routes::new()
            .on("POST", AUTH, vec![token_reply(base, "tok-1")])
            .handler()
    });
    let cfg = config_with(&server.url(), &[]);
    let mut cfg = cfg;
    cfg.endpoint_overrides
        .insert(ServiceType::Compute, format!("{closed}/v2.1"));
    let s = Session::with_options(cfg, test_options()).unwrap();
    let e = Nova::new(&s).list_services(None, None).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Unreachable, "{e}");
}

#[test]
fn a_slow_answer_times_out() {
    let server = TestServer::start(|base| {
        routes(base, "2.93")
            .on(
                "GET",
                OS_SERVICES_PATH,
                vec![Reply::raw(200, OS_SERVICES).delay(Duration::from_millis(1500))],
            )
            .handler()
    });
    let mut cfg = config_with(&server.url(), &[]);
    cfg.api_timeout = Duration::from_millis(400);
    let mut opts = test_options();
    opts.retry.max_retries = 1;
    let s = Session::with_options(cfg, opts).unwrap();
    let e = Nova::new(&s).list_services(None, None).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Unreachable);
    assert!(
        e.to_string().contains("timed out") || e.to_string().contains("timeout"),
        "{e}"
    );
    assert_eq!(server.count("GET", OS_SERVICES_PATH), 2);
}

#[test]
fn error_bodies_of_each_service() {
    let evacuate_400 = sample(
        "evacuate-error-service-up.json",
        r#"{"badRequest": {"code": 400, "message": "Compute service of compute-1 is still in use."}}"#,
    );
    let server = TestServer::start(|base| {
        routes(base, "2.93")
            .on(
                "POST",
                "/compute/v2.1/servers/vm-1/action",
                vec![Reply::raw(400, evacuate_400)
                    .header("Content-Type", "application/json")
                    .header("x-openstack-request-id", "req-4b1f6a1e-0d5c-4a3e-9d0e-2a3c1f0e9b7d")
                    .header("x-compute-request-id", "req-4b1f6a1e-0d5c-4a3e-9d0e-2a3c1f0e9b7d")],
            )
            .on("GET", "/compute/v2.1/os-services/nope", vec![Reply::json(404, &json!({"itemNotFound": {"code": 404, "message": "Service nope could not be found."}})).header("x-compute-request-id", "req-compute-only")])
            .on("GET", "/placement", vec![Reply::json(200, &json!({"versions": [{"id": "v1.0", "max_version": "1.39", "min_version": "1.0"}]}))])
            .on(
                "GET",
                "/placement/resource_providers/nope/usages",
                vec![Reply::json(404, &json!({"errors": [{"status": 404, "title": "Not Found", "detail": "The resource could not be found.\n\n No resource provider with uuid nope found  ", "request_id": "req-placement-1"}]}))],
            )
            .on("GET", "/volume/v3/", vec![Reply::json(200, &json!({"versions": [{"id": "v3.0", "version": "3.70", "min_version": "3.0"}]}))])
            .on(
                "POST",
                &format!("/volume/v3/{PROJECT}/attachments/a-1/action"),
                vec![Reply::json(409, &json!({"conflictingRequest": {"code": 409, "message": "ConflictNovaUsingAttachment: Detach volume from instance 7052 using the Compute API"}})).header("x-openstack-request-id", "req-cinder-1")],
            )
            .handler()
    });
    let s = session(&server);
    let post = Request::post(ServiceType::Compute, "/servers/vm-1/action")
        .json(&json!({"evacuate": {}}))
        .unwrap();
    let e = s.send(&post).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Failure);
    assert_eq!(
        e.to_string(),
        "compute POST /servers/vm-1/action: HTTP 400 Bad Request: Compute service of compute-1 is still in use. (request-id req-4b1f6a1e-0d5c-4a3e-9d0e-2a3c1f0e9b7d)"
    );
    let api = e.api().unwrap();
    assert_eq!(
        (api.status, api.service.as_str(), api.method.as_str()),
        (400, "compute", "POST")
    );

    let e = s
        .send(&Request::get(ServiceType::Compute, "/os-services/nope"))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "compute GET /os-services/nope: HTTP 404 Not Found: Service nope could not be found. (request-id req-compute-only)"
    );

    let e = s
        .send(&Request::get(
            ServiceType::Placement,
            "/resource_providers/nope/usages",
        ))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "placement GET /resource_providers/nope/usages: HTTP 404 Not Found: Not Found: The resource could not be found. No resource provider with uuid nope found (request-id req-placement-1)"
    );

    let req = Request::post(ServiceType::BlockStorage, "/attachments/a-1/action")
        .json(&json!({"os-complete": null}))
        .unwrap();
    let e = s.send(&req).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Failure);
    assert_eq!(
        e.to_string(),
        "block-storage POST /attachments/a-1/action: HTTP 409 Conflict: ConflictNovaUsingAttachment: Detach volume from instance 7052 using the Compute API (request-id req-cinder-1)"
    );
    let e = s
        .send(&Request::get(ServiceType::Compute, "/forbidden"))
        .unwrap_err();
    assert_eq!(e.status(), Some(404));
}

#[test]
fn a_403_is_an_auth_error() {
    let server = TestServer::start(|base| {
        routes(base, "2.93")
            .on("PUT", &format!("{OS_SERVICES_PATH}/x"), vec![Reply::json(403, &json!({"forbidden": {"code": 403, "message": "Policy doesn't allow os_compute_api:os-services:update to be performed."}}))])
            .handler()
    });
    let e = Nova::new(&session(&server))
        .update_service("x", ServiceUpdate::force_down(true))
        .unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Auth);
    assert!(
        e.to_string()
            .contains("HTTP 403 Forbidden: Policy doesn't allow"),
        "{e}"
    );
}

#[test]
fn malformed_answers_are_errors_not_panics() {
    let bodies: Vec<&str> = vec![
        "",
        "not json",
        "{",
        "null",
        "[]",
        r#"{"services": "x"}"#,
        r#"{"services": [{"id": true}]}"#,
        r#"{"services": [{"binary": "nova-compute", "host": "c", "id": 1, "zone": "nova", "status": "enabled", "state": ["up"]}]}"#,
        r#"{"services": [null]}"#,
        "\u{0}\u{1}\u{2}",
    ];
    let n = bodies.len();
    let server = TestServer::start(move |base| {
        routes(base, "2.93")
            .on(
                "GET",
                OS_SERVICES_PATH,
                bodies.iter().map(|b| Reply::raw(200, *b)).collect(),
            )
            .handler()
    });
    let nova = Nova::new(&session(&server));
    for i in 0..n {
        let e = nova.list_services(None, None).unwrap_err();
        assert!(matches!(e, Error::InvalidResponse { .. }), "{i}: {e:?}");
        assert_eq!(e.exit_code(), ExitCode::Failure);
        assert!(
            e.to_string()
                .starts_with("compute GET /os-services: unexpected answer: "),
            "{e}"
        );
    }
}

#[test]
fn malformed_token_answers_are_errors() {
    let replies = vec![
        Reply::json(
            201,
            &json!({"token": {"expires_at": "2099-01-01T00:00:00Z"}}),
        ),
        Reply::raw(201, "garbage").header("X-Subject-Token", "t"),
        Reply::json(201, &json!({"token": {"expires_at": "soon"}})).header("X-Subject-Token", "t"),
        Reply::json(
            201,
            &json!({"token": {"expires_at": "2099-01-01T00:00:00Z", "catalog": 5}}),
        )
        .header("X-Subject-Token", "t"),
        Reply::json(200, &json!({"token": []})).header("X-Subject-Token", "t"),
    ];
    let n = replies.len();
    let server = TestServer::start(move |_| Routes::new().on("POST", AUTH, replies).handler());
    for i in 0..n {
        let s = session(&server);
        let e = s.authenticate().unwrap_err();
        assert!(matches!(e, Error::InvalidResponse { .. }), "{i}: {e:?}");
        assert_eq!(e.exit_code(), ExitCode::Failure);
        assert!(
            !e.to_string().contains("garbage"),
            "a Keystone body is never quoted: {e}"
        );
    }
}

#[test]
fn unscoped_token_has_no_endpoints() {
    let server = TestServer::start(|_| {
        Routes::new()
            .on("POST", AUTH, vec![Reply::json(201, &json!({"token": {"expires_at": "2099-01-01T00:00:00Z", "methods": ["password"]}})).header("X-Subject-Token", "t")])
            .handler()
    });
    let e = Nova::new(&session(&server))
        .list_services(None, None)
        .unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Config);
    assert!(e.to_string().contains("unscoped"), "{e}");
}

#[test]
fn missing_service_is_a_config_error() {
    let server = TestServer::start(|base| {
        let mut body = token_body(base, Duration::from_secs(3600));
        if let Some(c) = body["token"]["catalog"].as_array_mut() {
            c.retain(|e| e["type"] != "placement");
        }
        Routes::new()
            .on(
                "POST",
                AUTH,
                vec![Reply::json(201, &body).header("X-Subject-Token", "t")],
            )
            .handler()
    });
    let e = Placement::new(&session(&server))
        .microversion()
        .unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Config);
    let msg = e.to_string();
    assert!(
        msg.contains("no placement endpoint with interface public in region RegionOne"),
        "{msg}"
    );
    assert!(
        msg.contains("compute (internal @ RegionOne, public @ RegionOne)"),
        "{msg}"
    );
}

#[test]
fn interface_and_override_choose_the_endpoint() {
    let server = TestServer::start(|base| {
        Routes::new()
            .on("POST", AUTH, vec![token_reply(base, "tok-1")])
            .on("GET", "/compute-internal/v2.1", vec![nova_version("2.93")])
            .on(
                "GET",
                "/compute-internal/v2.1/os-services",
                vec![Reply::raw(200, OS_SERVICES)],
            )
            .on(
                "GET",
                "/elsewhere/v3/",
                vec![Reply::json(
                    200,
                    &json!({"versions": [{"id": "v3.0", "version": "3.70", "min_version": "3.0"}]}),
                )],
            )
            .on(
                "GET",
                &format!("/elsewhere/v3/{PROJECT}/os-services"),
                vec![Reply::json(200, &json!({"services": []}))],
            )
            .handler()
    });
    let mut cfg = config_with(&server.url(), &[("OS_INTERFACE", "internalURL")]);
    cfg.endpoint_overrides.insert(
        ServiceType::BlockStorage,
        format!("{}/elsewhere/v3/%(project_id)s/", server.url()),
    );
    let s = Session::with_options(cfg, test_options()).unwrap();
    Nova::new(&s).list_services(None, None).unwrap();
    assert!(
        Cinder::new(&s)
            .list_services(None, None)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.endpoint(ServiceType::BlockStorage).unwrap(),
        format!("{}/elsewhere/v3/{PROJECT}", server.url())
    );
    assert_eq!(
        s.endpoint(ServiceType::Identity).unwrap(),
        format!("{}/identity/v3", server.url())
    );
    assert_eq!(s.project_id().unwrap().as_deref(), Some(PROJECT));
}

#[test]
fn token_near_expiry_is_renewed() {
    let auths = Arc::new(AtomicUsize::new(0));
    let counter = auths.clone();
    let server = TestServer::start(move |base| {
        let base = base.to_string();
        let rest = routes(&base, "2.93")
            .on("GET", OS_SERVICES_PATH, vec![Reply::raw(200, OS_SERVICES)])
            .handler();
        move |req: &Recorded| {
            if req.path == AUTH {
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                // Two seconds of life: renewed after half of it.
                return Reply::json(201, &token_body(&base, Duration::from_secs(2)))
                    .header("X-Subject-Token", &format!("tok-{n}"));
            }
            rest(req)
        }
    });
    let nova = Nova::new(&session(&server));
    nova.list_services(None, None).unwrap();
    assert_eq!(auths.load(Ordering::SeqCst), 1);
    std::thread::sleep(Duration::from_millis(1200));
    nova.list_services(None, None).unwrap();
    assert_eq!(auths.load(Ordering::SeqCst), 2);
    let reqs = server.requests();
    let lists = only(&reqs, "GET", OS_SERVICES_PATH);
    assert_eq!(
        lists.last().and_then(|r| r.header("x-auth-token")),
        Some("tok-2")
    );
}

#[test]
fn shared_across_threads_with_one_token() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Session>();
    assert_send_sync::<Nova>();
    assert_send_sync::<Cinder>();
    let server = TestServer::start(|base| {
        routes(base, "2.93")
            .on(
                "GET",
                OS_SERVICES_PATH,
                vec![Reply::raw(200, OS_SERVICES).delay(Duration::from_millis(20))],
            )
            .handler()
    });
    let s = session(&server);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let nova = Nova::new(&s);
            std::thread::spawn(move || nova.list_services(None, None).map(|v| v.len()))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().unwrap(), 2);
    }
    assert_eq!(server.count("POST", AUTH), 1);
    assert_eq!(server.count("GET", OS_SERVICES_PATH), 4);
}

#[test]
fn follows_pages_by_marker() {
    let server = TestServer::start(|base| {
        let rest = routes(base, "2.93")
            .on("GET", OS_SERVICES_PATH, vec![Reply::raw(200, OS_SERVICES)])
            .handler();
        move |req: &Recorded| {
            if req.path == "/compute/v2.1/servers/detail" {
                let marker = req
                    .query_pairs()
                    .into_iter()
                    .find(|(k, _)| k == "marker")
                    .map(|(_, v)| v);
                return match marker.as_deref() {
                    // The link names another host: only its marker is used.
                    None => Reply::json(
                        200,
                        &json!({"servers": [{"id": "a"}, {"id": "b"}],
                        "servers_links": [{"rel": "next", "href": "http://internal.invalid/v2.1/servers/detail?limit=2&marker=b"}]}),
                    ),
                    Some("b") => Reply::json(200, &json!({"servers": [{"id": "c"}]})),
                    Some(_) => Reply::raw(400, "bad marker"),
                };
            }
            rest(req)
        }
    });
    #[derive(Debug, serde::Deserialize)]
    struct S {
        id: String,
    }
    let s = session(&server);
    let req = Request::get(ServiceType::Compute, "/servers/detail")
        .query("all_tenants", "1")
        .query("limit", "2");
    let all: Vec<S> = s.list_all(&req, "servers").unwrap();
    assert_eq!(
        all.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    let reqs = server.requests();
    let pages = only(&reqs, "GET", "/compute/v2.1/servers/detail");
    assert_eq!(pages[1].query, "all_tenants=1&limit=2&marker=b");
    // A missing collection is an error naming it.
    let e = s
        .list_all::<S>(
            &Request::get(ServiceType::Compute, "/os-services"),
            "servers",
        )
        .unwrap_err();
    assert!(e.to_string().contains("no `servers`"), "{e}");
}

#[test]
fn tls_files_are_checked_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config_with("http://127.0.0.1:9", &[]);
    cfg.cacert = Some(dir.path().join("missing.pem"));
    let e = Session::new(cfg.clone()).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Config);
    assert!(e.to_string().contains("missing.pem"), "{e}");
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "hello").unwrap();
    cfg.cacert = Some(junk);
    assert_eq!(
        Session::new(cfg.clone()).unwrap_err().exit_code(),
        ExitCode::Config
    );
    cfg.insecure = true;
    assert!(Session::new(cfg).is_ok(), "insecure ignores cacert");
}

#[test]
fn debug_shows_no_secret() {
    let server = TestServer::start(|base| routes(base, "2.93").handler());
    let s = session(&server);
    s.authenticate().unwrap();
    let text = format!(
        "{s:?} {:?} {:?}",
        s.config(),
        Request::post(ServiceType::Identity, "/x")
            .json(&json!({"password": PASSWORD}))
            .unwrap()
    );
    assert!(
        !text.contains(PASSWORD) && !text.contains("tok-1"),
        "{text}"
    );
    assert!(text.contains("authenticated: Some(true)"), "{text}");
}

#[test]
fn helpers() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
    let mut h = HeaderMap::new();
    h.insert("retry-after", HeaderValue::from_static("7"));
    assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
    h.insert(
        "retry-after",
        HeaderValue::from_static("Sun, 06 Nov 1994 08:49:47 GMT"),
    );
    assert_eq!(retry_after(&h, now), Some(Duration::from_secs(10)));
    h.insert(
        "retry-after",
        HeaderValue::from_static("Sun, 06 Nov 1994 08:49:27 GMT"),
    );
    assert_eq!(retry_after(&h, now), Some(Duration::ZERO));
    h.insert("retry-after", HeaderValue::from_static("later"));
    assert_eq!(retry_after(&h, now), None);
    assert_eq!(parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"), None);

    let p = RetryPolicy::default();
    assert_eq!(p.backoff(0), Duration::from_millis(500));
    assert_eq!(p.backoff(2), Duration::from_secs(2));
    assert_eq!(p.backoff(99), Duration::from_secs(30));

    assert_eq!(
        discovery_urls("http://h:8774/v2.1"),
        ["http://h:8774/v2.1", "http://h:8774/"]
    );
    assert_eq!(
        discovery_urls("http://h:8776/v3/abc"),
        ["http://h:8776/v3/", "http://h:8776/"]
    );
    assert_eq!(
        discovery_urls("https://c/compute/v2.1/abc"),
        ["https://c/compute/v2.1/", "https://c/compute/"]
    );
    assert_eq!(discovery_urls("http://h:8778"), ["http://h:8778"]);
    assert_eq!(
        discovery_urls("https://c/placement"),
        ["https://c/placement"]
    );

    assert_eq!(
        substitute_project("http://c/v3/%(project_id)s", Some("p")),
        "http://c/v3/p"
    );
    assert_eq!(
        substitute_project("http://c/v3/$(tenant_id)s", Some("p")),
        "http://c/v3/p"
    );
    assert_eq!(
        encode_segment("cinder-1@fake#fake"),
        "cinder-1%40fake%23fake"
    );
    assert_eq!(encode_segment("a/b c"), "a%2Fb%20c");
    assert_eq!(encode_segment("2b81554f-b534"), "2b81554f-b534");
}

#[test]
fn tls_with_the_cacert_bundle_or_insecure() {
    let server = TestServer::start_tls(|base| {
        routes(base, "2.93")
            .on("GET", OS_SERVICES_PATH, vec![Reply::raw(200, OS_SERVICES)])
            .handler()
    });
    assert!(server.url().starts_with("https://127.0.0.1:"));
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, TEST_CA_PEM).unwrap();

    // The bundle replaces the system roots.
    let mut cfg = config_with(&server.url(), &[]);
    cfg.cacert = Some(ca.clone());
    let s = Session::with_options(cfg.clone(), test_options()).unwrap();
    assert_eq!(s.nova().list_services(None, None).unwrap().len(), 2);

    // Without it, the certificate is not trusted: a configuration error, not retried.
    let mut plain = cfg.clone();
    plain.cacert = None;
    let before = server.requests().len();
    let e = Session::with_options(plain.clone(), test_options())
        .unwrap()
        .nova()
        .list_services(None, None)
        .unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Config, "{e}");
    assert!(
        e.to_string().contains("certificate") && e.to_string().contains("OS_CACERT"),
        "{e}"
    );
    assert_eq!(server.requests().len(), before, "no request got through");

    // insecure: no verification at all.
    plain.insecure = true;
    let s = Session::with_options(plain, test_options()).unwrap();
    assert_eq!(s.nova().list_services(None, None).unwrap().len(), 2);
}

/// Keystone sends its headers, then drips its body: the call gives up at `api_timeout`
/// (reqwest's own timeout would wait for ever, each byte restarting it).
#[test]
fn a_dripping_answer_is_cut_off_at_api_timeout() {
    use crate::http::testing::{BadServer, Misbehaviour, within};
    let server = BadServer::start(Misbehaviour::Drip {
        interval: Duration::from_millis(500),
    });
    let mut cfg = config_with(&server.url, &[]);
    cfg.api_timeout = Duration::from_secs(2);
    let s = Session::with_options(cfg, test_options()).unwrap();
    let e = within(Duration::from_secs(30), move || s.authenticate()).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Unreachable, "{e}");
    assert!(e.to_string().contains("within 2s"), "{e}");
}

/// An answer larger than the cap is refused with an error that names the cap, and a huge
/// value quoted by serde does not make a huge message.
#[test]
fn answers_are_capped_and_errors_short() {
    use crate::http::testing::{BadServer, Misbehaviour, within};
    let server = BadServer::start(Misbehaviour::Endless { status: 200 });
    let cfg = config_with(&server.url, &[]);
    let s = Session::with_options(cfg, test_options()).unwrap();
    let e = within(Duration::from_secs(120), move || s.authenticate()).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("larger than 64 MiB"), "{text}");
    assert!(text.len() < 500, "{text}");

    let huge = format!(
        r#"{{"services": [{{"binary": "nova-compute", "host": "c1", "id": "x", "zone": "nova", "status": "enabled", "state": "up", "forced_down": "{}"}}]}}"#,
        "y".repeat(3 << 20)
    );
    let server = TestServer::start(move |base| {
        routes(base, "2.93")
            .on("GET", OS_SERVICES_PATH, vec![Reply::raw(200, huge.clone())])
            .handler()
    });
    let s = Session::with_options(config_with(&server.url(), &[]), test_options()).unwrap();
    let e = Nova::new(&s).list_services(None, None).unwrap_err();
    assert!(e.to_string().len() < 1000, "{} bytes", e.to_string().len());
}
