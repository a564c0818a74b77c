//! The simulated cloud's HTTP APIs, through the real `evacctl-sim` binary.

mod common;

use std::time::Duration;

use common::sim::{ADMIN, APP_CRED, FAST_SCENARIO, SimCloud};
use reqwest::blocking::{RequestBuilder, Response};
use serde_json::{Value, json};

fn get(cloud: &SimCloud, path: &str) -> RequestBuilder {
    SimCloud::client().get(format!("{}{path}", cloud.url()))
}

fn send(rb: RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
    let resp: Response = rb.send().expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, headers, body)
}

fn nova_services(cloud: &SimCloud, token: &str, mv: &str, query: &str) -> (u16, Value) {
    let rb = get(cloud, &format!("/compute/v2.1/os-services{query}"))
        .header("X-Auth-Token", token)
        .header("OpenStack-API-Version", format!("compute {mv}"));
    let (status, _, body) = send(rb);
    (status, body)
}

fn compute_state(cloud: &SimCloud, token: &str, host: &str) -> String {
    let (_, body) = nova_services(
        cloud,
        token,
        "2.93",
        &format!("?host={host}&binary=nova-compute"),
    );
    body["services"][0]["state"]
        .as_str()
        .unwrap_or("?")
        .to_string()
}

fn post_token(cloud: &SimCloud, body: &Value) -> (u16, reqwest::header::HeaderMap, Value) {
    send(
        SimCloud::client()
            .post(format!("{}/identity/v3/auth/tokens", cloud.url()))
            .json(body),
    )
}

#[test]
fn version_documents_need_no_token() {
    let cloud = SimCloud::start();
    let url = cloud.url();
    let (status, _, body) = send(get(&cloud, "/identity"));
    assert_eq!(status, 300);
    assert_eq!(body["versions"]["values"][0]["id"], "v3.14");
    assert_eq!(
        body["versions"]["values"][0]["links"][0]["href"],
        format!("{url}/identity/v3/")
    );
    let (status, _, body) = send(get(&cloud, "/identity/v3/"));
    assert_eq!(
        (status, body["version"]["status"].as_str()),
        (200, Some("stable"))
    );

    let (status, headers, body) = send(get(&cloud, "/compute/v2.1"));
    assert_eq!(status, 200);
    let v = &body["version"];
    assert_eq!(
        (v["version"].as_str(), v["min_version"].as_str()),
        (Some("2.93"), Some("2.1"))
    );
    assert_eq!(v["links"][0]["href"], format!("{url}/compute/v2.1/"));
    assert!(
        headers["x-openstack-request-id"]
            .to_str()
            .unwrap()
            .starts_with("req-")
    );
    assert!(headers.contains_key("x-compute-request-id"));
    let (status, _, body) = send(get(&cloud, "/compute/"));
    assert_eq!(
        (status, body["versions"][0]["id"].as_str()),
        (200, Some("v2.1"))
    );

    let (status, _, body) = send(get(&cloud, "/volume/"));
    assert_eq!(status, 300);
    assert_eq!(body["versions"][0]["version"], "3.70");
    assert_eq!(body["versions"][0]["min_version"], "3.0");
    let (status, _, _) = send(get(&cloud, "/volume/v3/"));
    assert_eq!(status, 200);
    let (status, _, body) = send(get(&cloud, "/placement"));
    assert_eq!(
        (status, body["versions"][0]["max_version"].as_str()),
        (200, Some("1.39"))
    );
}

#[test]
fn password_and_application_credential_auth() {
    let cloud = SimCloud::start();
    let url = cloud.url();
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": ADMIN.0, "domain": {"name": "Default"}, "password": ADMIN.1}}},
        "scope": {"project": {"name": ADMIN.2, "domain": {"name": "Default"}}}}});
    let (status, headers, body) = post_token(&cloud, &body);
    assert_eq!(status, 201);
    let token = headers["x-subject-token"].to_str().unwrap().to_string();
    let t = &body["token"];
    assert_eq!(t["methods"], json!(["password"]));
    assert_eq!(t["user"]["name"], "admin");
    assert_eq!(t["project"]["domain"]["name"], "Default");
    assert!(t["expires_at"].as_str().unwrap().ends_with('Z'));
    let project_id = t["project"]["id"].as_str().unwrap().to_string();
    let catalog = t["catalog"].as_array().unwrap();
    let endpoint = |ty: &str| {
        let svc = catalog
            .iter()
            .find(|c| c["type"] == ty)
            .unwrap_or_else(|| panic!("{ty}"));
        let eps = svc["endpoints"].as_array().unwrap();
        assert_eq!(eps.len(), 3, "{ty}: public, internal, admin");
        assert!(
            eps.iter()
                .all(|e| e["region_id"] == "RegionOne" && e["region"] == "RegionOne")
        );
        eps.iter().find(|e| e["interface"] == "public").unwrap()["url"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(endpoint("compute"), format!("{url}/compute/v2.1"));
    assert_eq!(
        endpoint("volumev3"),
        format!("{url}/volume/v3/{project_id}")
    );
    assert_eq!(
        endpoint("block-storage"),
        format!("{url}/volume/v3/{project_id}")
    );
    assert_eq!(endpoint("identity"), format!("{url}/identity/v3"));
    assert_eq!(endpoint("placement"), format!("{url}/placement"));

    // Validation of one token by another.
    let (status, headers, body) = send(
        get(&cloud, "/identity/v3/auth/tokens")
            .header("X-Auth-Token", &token)
            .header("X-Subject-Token", &token),
    );
    assert_eq!(status, 200);
    assert_eq!(headers["x-subject-token"].to_str().unwrap(), token);
    assert_eq!(body["token"]["project"]["id"], project_id.as_str());

    let ac = json!({"auth": {"identity": {"methods": ["application_credential"],
        "application_credential": {"id": APP_CRED.0, "secret": APP_CRED.1}}}});
    let (status, headers, body) = post_token(&cloud, &ac);
    assert_eq!(status, 201);
    assert_eq!(body["token"]["project"]["id"], project_id.as_str());
    assert_eq!(body["token"]["methods"], json!(["application_credential"]));
    let ac_token = headers["x-subject-token"].to_str().unwrap().to_string();
    assert_eq!(nova_services(&cloud, &ac_token, "2.93", "").0, 200);

    // Wrong secrets and scopes an application credential may not ask for.
    let mut wrong = ac.clone();
    wrong["auth"]["identity"]["application_credential"]["secret"] = json!("nope");
    assert_eq!(post_token(&cloud, &wrong).0, 401);
    let mut scoped = ac;
    scoped["auth"]["scope"] = json!({"project": {"id": project_id}});
    assert_eq!(post_token(&cloud, &scoped).0, 401);

    let tokens = cloud.ctl("GET", "tokens", None);
    let ids: Vec<&str> = tokens["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&token.as_str()) && ids.contains(&ac_token.as_str()));
}

#[test]
fn bad_password_and_revoked_tokens_are_401() {
    let cloud = SimCloud::start();
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": "wrong"}}}}});
    let (status, _, body) = post_token(&cloud, &body);
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"error": {"code": 401, "title": "Unauthorized",
                         "message": "The request you have made requires authentication."}})
    );

    let token = cloud.admin_token();
    assert_eq!(nova_services(&cloud, &token, "2.93", "").0, 200);
    let revoked = cloud.ctl("POST", "tokens/revoke", None);
    assert_eq!(revoked["revoked"], 1);
    let (status, body) = nova_services(&cloud, &token, "2.93", "");
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], 401);
    let (status, _, _) = send(get(&cloud, "/volume/v3/os-services").header("X-Auth-Token", &token));
    assert_eq!(status, 401);
    // Re-authentication works.
    assert_eq!(
        nova_services(&cloud, &cloud.admin_token(), "2.93", "").0,
        200
    );
    // No token at all.
    let (status, headers, _) = send(get(&cloud, "/compute/v2.1/os-services"));
    assert_eq!(status, 401);
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("/identity")
    );
}

#[test]
fn os_services_shape_by_microversion() {
    let cloud = SimCloud::start();
    let token = cloud.admin_token();
    let rb = get(&cloud, "/compute/v2.1/os-services")
        .header("X-Auth-Token", &token)
        .header("OpenStack-API-Version", "compute 2.93");
    let (status, headers, body) = send(rb);
    assert_eq!(status, 200);
    assert_eq!(headers["openstack-api-version"], "compute 2.93");
    assert_eq!(headers["x-openstack-nova-api-version"], "2.93");
    assert_eq!(
        headers["vary"],
        "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
    );
    let services = body["services"].as_array().unwrap();
    assert_eq!(services.len(), 6, "2 controller services + 4 nova-compute");
    let c1 = services.iter().find(|s| s["host"] == "compute-1").unwrap();
    let mut keys: Vec<&str> = c1.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "binary",
            "disabled_reason",
            "forced_down",
            "host",
            "id",
            "state",
            "status",
            "updated_at",
            "zone"
        ]
    );
    // Nova's field order, as on the wire (serde_json's map here sorts, so look at the text).
    let text = get(&cloud, "/compute/v2.1/os-services?host=compute-1")
        .header("X-Auth-Token", &token)
        .header("OpenStack-API-Version", "compute 2.93")
        .send()
        .unwrap()
        .text()
        .unwrap();
    let order = [
        "binary",
        "host",
        "id",
        "zone",
        "status",
        "state",
        "updated_at",
        "disabled_reason",
        "forced_down",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|k| text.find(&format!("\"{k}\":")).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert_eq!(c1["id"].as_str().unwrap().len(), 36);
    assert_eq!(
        (c1["zone"].as_str(), c1["state"].as_str()),
        (Some("nova"), Some("up"))
    );
    let updated = c1["updated_at"].as_str().unwrap();
    assert!(
        updated.len() == 26 && updated.ends_with(".000000"),
        "{updated}"
    );
    let sched = services
        .iter()
        .find(|s| s["binary"] == "nova-scheduler")
        .unwrap();
    assert_eq!(sched["zone"], "internal");

    // 2.1: integer ids, no forced_down; no header at all means 2.1 too.
    let (status, headers, body) = send(
        get(&cloud, "/compute/v2.1/os-services?binary=nova-compute").header("X-Auth-Token", &token),
    );
    assert_eq!(status, 200);
    assert_eq!(headers["openstack-api-version"], "compute 2.1");
    let services = body["services"].as_array().unwrap();
    assert_eq!(services.len(), 4);
    assert!(
        services
            .iter()
            .all(|s| s["id"].is_u64() && s.get("forced_down").is_none())
    );
    // Legacy header.
    let rb = get(&cloud, "/compute/v2.1/os-services?host=compute-2")
        .header("X-Auth-Token", &token)
        .header("X-OpenStack-Nova-API-Version", "2.11");
    let (_, headers, body) = send(rb);
    assert_eq!(headers["x-openstack-nova-api-version"], "2.11");
    assert_eq!(body["services"][0]["forced_down"], false);
    assert!(body["services"][0]["id"].is_u64());

    // A user without admin: 403 in Nova's shape.
    let viewer = cloud.token("viewer", "sim-viewer-password", "demo");
    let (status, body) = nova_services(&cloud, &viewer, "2.93", "");
    assert_eq!(status, 403);
    assert!(
        body["forbidden"]["message"]
            .as_str()
            .unwrap()
            .contains("os-services")
    );
}

#[test]
fn power_off_turns_nova_compute_down_after_service_down_time() {
    let cloud = SimCloud::with_scenario(FAST_SCENARIO);
    let token = cloud.admin_token();
    assert_eq!(compute_state(&cloud, &token, "compute-1"), "up");
    cloud.power_off("compute-1");
    // Still up right after: the last heartbeat is recent.
    assert_eq!(compute_state(&cloud, &token, "compute-1"), "up");
    let took = SimCloud::wait_for(Duration::from_secs(6), || {
        compute_state(&cloud, &token, "compute-1") == "down"
    })
    .expect("compute-1 goes down");
    // service_down_time 2 s after a heartbeat at most 1 s (+1 s of DB rounding) old.
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(3600),
        "{took:?}"
    );
    assert_eq!(compute_state(&cloud, &token, "compute-2"), "up");
    // Its cinder-volume went down with it.
    let (_, _, body) =
        send(get(&cloud, "/volume/v3/os-services?host=compute-1").header("X-Auth-Token", &token));
    assert_eq!(body["services"][0]["host"], "compute-1@ceph");
    assert_eq!(body["services"][0]["state"], "down");
    // The control API shows the same world.
    let host = cloud.ctl("GET", "hosts/compute-1", None);
    assert_eq!(host["host"]["power"], "off");

    cloud.power_on("compute-1");
    assert_eq!(
        compute_state(&cloud, &token, "compute-1"),
        "up",
        "a revived host reports at once"
    );
}

#[test]
fn crash_and_start_one_service() {
    let cloud = SimCloud::with_scenario(FAST_SCENARIO);
    let token = cloud.admin_token();
    cloud.ctl("POST", "hosts/compute-2/services/nova-compute/crash", None);
    SimCloud::wait_for(Duration::from_secs(6), || {
        compute_state(&cloud, &token, "compute-2") == "down"
    })
    .expect("crashed nova-compute goes down");
    let (_, _, body) = send(
        get(&cloud, "/volume/v3/os-services?host=compute-2@ceph").header("X-Auth-Token", &token),
    );
    assert_eq!(
        body["services"][0]["state"], "up",
        "the host and its cinder-volume live on"
    );
    cloud.ctl("POST", "hosts/compute-2/services/nova-compute/start", None);
    assert_eq!(compute_state(&cloud, &token, "compute-2"), "up");
}

#[test]
fn forced_down_put_is_down_at_once() {
    let cloud = SimCloud::start();
    let token = cloud.admin_token();
    let (_, body) = nova_services(
        &cloud,
        &token,
        "2.93",
        "?host=compute-3&binary=nova-compute",
    );
    let id = body["services"][0]["id"].as_str().unwrap().to_string();
    let put = |mv: &str, path: &str, body: &str| {
        send(
            SimCloud::client()
                .put(format!("{}/compute/v2.1/os-services/{path}", cloud.url()))
                .header("X-Auth-Token", &token)
                .header("OpenStack-API-Version", format!("compute {mv}"))
                .header("Content-Type", "application/json")
                .body(body.to_string()),
        )
    };
    let (status, _, body) = put("2.53", &id, r#"{"forced_down": true}"#);
    assert_eq!(status, 200);
    let s = &body["service"];
    assert_eq!(
        (s["forced_down"].as_bool(), s["state"].as_str()),
        (Some(true), Some("down"))
    );
    assert_eq!(s["id"], id.as_str());
    assert_eq!(compute_state(&cloud, &token, "compute-3"), "down");

    let (status, _, body) = put(
        "2.53",
        &id,
        r#"{"status": "disabled", "disabled_reason": "evacctl: fenced"}"#,
    );
    assert_eq!(status, 200);
    assert_eq!(body["service"]["status"], "disabled");
    assert_eq!(body["service"]["disabled_reason"], "evacctl: fenced");
    let (status, _, body) = put(
        "2.53",
        &id,
        r#"{"status": "enabled", "forced_down": false}"#,
    );
    assert_eq!(status, 200);
    assert_eq!(body["service"]["disabled_reason"], Value::Null);
    assert_eq!(body["service"]["state"], "up");

    let (status, _, body) = put(
        "2.53",
        &id,
        r#"{"status": "enabled", "disabled_reason": "x"}"#,
    );
    assert_eq!(status, 400);
    // Zed's words (tests/fixtures/zed/nova-restore.json).
    assert_eq!(
        body["badRequest"]["message"],
        "Specifying 'disabled_reason' with status 'enabled' is invalid."
    );
    let (status, _, body) = put(
        "2.53",
        "2b81554f-b534-45dd-afff-b45f3b2a1922",
        r#"{"forced_down": true}"#,
    );
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"itemNotFound": {"code": 404,
            "message": "Service 2b81554f-b534-45dd-afff-b45f3b2a1922 not found."}})
    );
    // Below 2.53, the legacy action with host and binary in the body.
    let (status, _, body) = put(
        "2.11",
        "force-down",
        r#"{"host": "compute-3", "binary": "nova-compute", "forced_down": true}"#,
    );
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"service": {"host": "compute-3", "binary": "nova-compute", "forced_down": true}})
    );
    assert_eq!(compute_state(&cloud, &token, "compute-3"), "down");
}

#[test]
fn cinder_services() {
    let cloud = SimCloud::start();
    let token = cloud.admin_token();
    let tokens = cloud.ctl("GET", "tokens", None);
    let project = tokens["tokens"][0]["scope"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let rb = get(&cloud, &format!("/volume/v3/{project}/os-services"))
        .header("X-Auth-Token", &token)
        .header("OpenStack-API-Version", "volume 3.70");
    let (status, headers, body) = send(rb);
    assert_eq!(status, 200);
    assert_eq!(headers["openstack-api-version"], "volume 3.70");
    assert!(headers.contains_key("x-openstack-request-id"));
    let services = body["services"].as_array().unwrap();
    assert_eq!(
        services.len(),
        5,
        "cinder-scheduler on ctl-1 + 4 cinder-volume"
    );
    let sched = services
        .iter()
        .find(|s| s["binary"] == "cinder-scheduler")
        .unwrap();
    assert_eq!(sched["host"], "ctl-1");
    let vol = services
        .iter()
        .find(|s| s["host"] == "compute-2@ceph")
        .unwrap();
    assert_eq!(vol["binary"], "cinder-volume");
    assert_eq!(
        (vol["state"].as_str(), vol["status"].as_str()),
        (Some("up"), Some("enabled"))
    );
    assert_eq!(vol["zone"], "nova");
    assert_eq!(vol["replication_status"], "disabled");
    assert_eq!(vol["frozen"], false);
    assert!(vol["cluster"].is_null() && vol["active_backend_id"].is_null());
    assert!(vol["updated_at"].as_str().unwrap().ends_with(".000000"));

    let rb = get(
        &cloud,
        &format!("/volume/v3/{project}/os-services?binary=cinder-volume&host=compute-4"),
    )
    .header("X-Auth-Token", &token);
    let (_, headers, body) = send(rb);
    assert_eq!(headers["openstack-api-version"], "volume 3.0");
    assert_eq!(body["services"].as_array().unwrap().len(), 1);
    assert_eq!(body["services"][0]["host"], "compute-4@ceph");

    let rb = get(&cloud, &format!("/volume/v3/{project}/os-services"))
        .header("X-Auth-Token", &token)
        .header("OpenStack-API-Version", "volume 3.71");
    let (status, _, body) = send(rb);
    assert_eq!(status, 406);
    assert!(
        body["computeFault"]["message"]
            .as_str()
            .unwrap()
            .contains("3.70")
    );
    let rb = get(&cloud, &format!("/volume/v3/{project}/nothing")).header("X-Auth-Token", &token);
    let (status, _, body) = send(rb);
    assert_eq!(status, 404);
    assert_eq!(body["itemNotFound"]["code"], 404);
}

#[test]
fn fault_injection() {
    let cloud = SimCloud::start();
    let token = cloud.admin_token();
    let fault = json!({"method": "GET", "path_contains": "os-services", "status": 503, "count": 2});
    let added = cloud.ctl("POST", "faults", Some(fault));
    assert_eq!(added["fault"]["remaining"], 2);
    for _ in 0..2 {
        let (status, body) = nova_services(&cloud, &token, "2.93", "");
        assert_eq!(status, 503);
        assert_eq!(body["serviceUnavailable"]["code"], 503);
    }
    assert_eq!(nova_services(&cloud, &token, "2.93", "").0, 200);

    // A 200 with a malformed body, for the client's parse errors.
    let fault = json!({"path_contains": "os-services", "status": 200, "body": "{\"services\": ["});
    cloud.ctl("POST", "faults", Some(fault));
    let resp = get(&cloud, "/compute/v2.1/os-services")
        .header("X-Auth-Token", &token)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.text().unwrap(), "{\"services\": [");

    // Latency only: the real answer, late.
    cloud.ctl(
        "POST",
        "faults",
        Some(json!({"path_contains": "os-services", "latency_ms": 300})),
    );
    let start = std::time::Instant::now();
    assert_eq!(nova_services(&cloud, &token, "2.93", "").0, 200);
    assert!(start.elapsed() >= Duration::from_millis(300));

    // Clearing, and the request log seeing faulted requests.
    cloud.ctl(
        "POST",
        "faults",
        Some(json!({"path_contains": "x", "status": 500, "count": 5})),
    );
    assert_eq!(cloud.ctl("DELETE", "faults", None)["cleared"], 1);
    let log = cloud.ctl("GET", "requests", None);
    let services: Vec<&Value> = log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"] == "/compute/v2.1/os-services")
        .collect();
    let statuses: Vec<u64> = services
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [503, 503, 200, 200, 200]);
    assert!(services[0]["fault"].is_u64());
    assert_eq!(services[0]["microversion"], "compute 2.93");
    let (status, body) = cloud.ctl_raw("POST", "faults", Some(json!({"status": 1000})));
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().contains("1000"));
}

#[test]
fn garbage_gets_json_errors_and_the_server_lives_on() {
    let cloud = SimCloud::start();
    let token = cloud.admin_token();
    let client = SimCloud::client();
    let url = cloud.url();
    let tokens_url = format!("{url}/identity/v3/auth/tokens");
    for body in [
        "{",
        "[]",
        "null",
        "\"auth\"",
        "{\"auth\": {\"identity\": {\"methods\": 5}}}",
        "\u{0}\u{1}",
    ] {
        let (status, _, json) = send(client.post(&tokens_url).body(body.to_string()));
        assert!(status == 400 || status == 401, "{body}: {status}");
        assert!(json["error"]["message"].is_string(), "{body}: {json}");
    }
    let (status, _, json) = send(client.post(&tokens_url).body(vec![0xff, 0xfe, 0x00, 0x80]));
    assert_eq!(status, 400, "{json}");

    // Bad microversions: 400 unparsable, 406 out of range, both in Nova's shape.
    for (mv, code) in [
        ("compute 2.94", 406),
        ("compute 3.0", 406),
        ("compute banana", 400),
        ("compute 2.01", 400),
    ] {
        let rb = get(&cloud, "/compute/v2.1/os-services")
            .header("X-Auth-Token", &token)
            .header("OpenStack-API-Version", mv);
        let (status, _, json) = send(rb);
        assert_eq!(status, code, "{mv}");
        let key = if code == 406 {
            "computeFault"
        } else {
            "badRequest"
        };
        assert!(json[key]["message"].is_string(), "{mv}: {json}");
    }
    let rb = get(&cloud, "/compute/v2.1/os-services")
        .header("X-Auth-Token", &token)
        .header("X-OpenStack-Nova-API-Version", "latest");
    let (_, headers, _) = send(rb);
    assert_eq!(headers["x-openstack-nova-api-version"], "2.93");

    // Malformed and mistyped PUT bodies.
    let (_, body) = nova_services(&cloud, &token, "2.93", "?host=compute-1");
    let id = body["services"][0]["id"].as_str().unwrap().to_string();
    for body in [
        "{",
        "{\"forced_down\": \"true\"}",
        "{\"status\": 1}",
        "[]",
        "",
    ] {
        let rb = client
            .put(format!("{url}/compute/v2.1/os-services/{id}"))
            .header("X-Auth-Token", &token)
            .header("OpenStack-API-Version", "compute 2.53")
            .body(body.to_string());
        let (status, _, json) = send(rb);
        assert_eq!(status, 400, "{body}");
        assert!(json["badRequest"]["message"].is_string(), "{body}");
    }

    // Unknown paths in each API's own shape; odd encodings.
    let (status, _, json) =
        send(get(&cloud, "/compute/v2.1/servers/%ff%00/x").header("X-Auth-Token", &token));
    assert_eq!(
        (status, json["itemNotFound"]["code"].as_u64()),
        (404, Some(404))
    );
    let (status, _, json) = send(get(&cloud, "/identity/v3/users"));
    assert_eq!((status, json["error"]["code"].as_u64()), (404, Some(404)));
    let (status, _, json) = send(get(&cloud, "/nowhere?%%%=&&=="));
    assert_eq!((status, json["error"]["code"].as_u64()), (404, Some(404)));
    let (status, _, json) = send(
        client
            .delete(format!("{url}/compute/v2.1/os-services"))
            .header("X-Auth-Token", &token),
    );
    assert_eq!(
        (status, json["badMethod"]["code"].as_u64()),
        (405, Some(405))
    );
    // An oversized body.
    let (status, _, json) = send(client.post(&tokens_url).body(vec![b'a'; 2 << 20]));
    assert_eq!(status, 413, "{json}");
    // Control API: unknown host lists the known ones; unknown endpoint is JSON too.
    let (status, json) = cloud.ctl_raw("POST", "hosts/compute-9/power-off", None);
    assert_eq!(status, 404);
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("compute-1, compute-2")
    );
    assert_eq!(json["error"]["known_hosts"].as_array().unwrap().len(), 5);
    let (status, _) = cloud.ctl_raw("POST", "faults", Some(json!("not an object")));
    assert_eq!(status, 400);
    let (status, _) = cloud.ctl_raw("GET", "nothing", None);
    assert_eq!(status, 404);

    // Still serving.
    assert_eq!(nova_services(&cloud, &token, "2.93", "").0, 200);
}

#[test]
fn request_log_counts_api_calls() {
    let cloud = SimCloud::start();
    let token = cloud.admin_token();
    nova_services(&cloud, &token, "2.60", "?host=compute-1");
    let log = cloud.ctl("GET", "requests", None);
    let entries = log["requests"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "control calls are not logged: {log}");
    assert_eq!(entries[0]["path"], "/identity/v3/auth/tokens");
    assert_eq!(entries[0]["status"], 201);
    assert_eq!(entries[1]["query"], "host=compute-1");
    assert_eq!(entries[1]["microversion"], "compute 2.60");
    assert_eq!(entries[1]["with_token"], true);
    let since = entries[1]["seq"].as_u64().unwrap();
    assert!(
        cloud.ctl("GET", &format!("requests?since={since}"), None)["requests"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn state_shows_the_world() {
    let cloud = SimCloud::start();
    cloud.power_off("compute-4");
    let state = cloud.ctl("GET", "state", None);
    assert_eq!(state["settings"]["service_down_time"], 60.0);
    let hosts = state["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 5);
    let c4 = hosts.iter().find(|h| h["name"] == "compute-4").unwrap();
    assert_eq!(c4["power"], "off");
    let binaries: Vec<&str> = c4["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["binary"].as_str().unwrap())
        .collect();
    assert_eq!(binaries, ["nova-compute", "cinder-volume"]);
    assert!(
        !state.to_string().contains("sim-admin-password"),
        "no secrets in the state"
    );
}
