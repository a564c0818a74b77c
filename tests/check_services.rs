//! `evacctl check-services` end to end: the real binary against the simulated cloud.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::cli::{evacctl, evacctl_env};
use common::sim::SimCloud;
use serde_json::{Value, json};

/// Heartbeats every second, down after 3 s: right after a power loss the service is still up,
/// a few seconds later it is down.
const SCENARIO: &str = r#"
[cloud]
region = "RegionOne"
service_down_time = 3
report_interval = 1

[[users]]
name = "admin"
password = "sim-admin-password"
project = "admin"
roles = ["admin"]

[[hosts]]
name = "ctl-1"
role = "controller"

[[hosts]]
name = "compute-1"
role = "compute"
cinder_backends = ["ceph"]

[[hosts]]
name = "compute-2"
role = "compute"
cinder_backends = ["ceph"]

[[hosts]]
name = "compute-3"
role = "compute"
"#;

fn service<'a>(report: &'a Value, binary: &str, host: &str) -> &'a Value {
    report["nova_services"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|s| s["binary"] == binary && s["host"] == host)
        })
        .unwrap_or_else(|| panic!("no {binary} on {host} in {report}"))
}

#[test]
fn a_healthy_cloud_lists_every_service_and_exits_0() {
    let cloud = SimCloud::with_scenario(SCENARIO);
    let run = evacctl(&cloud, &["check-services"]);
    assert_eq!(
        run.code, 0,
        "stderr: {}\nstdout: {}",
        run.stderr, run.stdout
    );

    // Every service the cloud has, in the table, nova-compute first.
    let state = cloud.ctl("GET", "state", None);
    let text = &run.stdout;
    for host in ["ctl-1", "compute-1", "compute-2", "compute-3"] {
        assert!(text.contains(host), "{host} missing from\n{text}");
    }
    for binary in [
        "nova-compute",
        "nova-scheduler",
        "nova-conductor",
        "cinder-volume",
        "cinder-scheduler",
    ] {
        assert!(text.contains(binary), "{binary} missing from\n{text}");
    }
    assert!(text.contains("compute-1@ceph"));
    let first_row = text
        .lines()
        .find(|l| l.starts_with("| nova-"))
        .unwrap_or_default();
    assert!(
        first_row.starts_with("| nova-compute"),
        "nova-compute comes first: {first_row}"
    );
    assert!(text.contains("nova-compute: 3 of 3 ok"), "{text}");
    assert!(!state.is_null());
}

#[test]
fn json_output_holds_the_same_facts_with_stable_names() {
    let cloud = SimCloud::with_scenario(SCENARIO);
    let run = evacctl(&cloud, &["check-services", "-f", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();

    let nova = report["nova_services"].as_array().expect("nova_services");
    assert_eq!(
        nova.iter()
            .filter(|s| s["binary"] == "nova-compute")
            .count(),
        3
    );
    assert_eq!(nova.len(), 5, "3 nova-compute + scheduler + conductor");
    let c1 = service(&report, "nova-compute", "compute-1");
    for key in [
        "id",
        "binary",
        "host",
        "zone",
        "status",
        "state",
        "forced_down",
        "disabled_reason",
        "updated_at",
        "heartbeat_age_seconds",
        "verdict",
    ] {
        assert!(c1.get(key).is_some(), "field {key} missing in {c1}");
    }
    assert_eq!(c1["status"], "enabled");
    assert_eq!(c1["state"], "up");
    assert_eq!(c1["forced_down"], false);
    assert_eq!(c1["verdict"], "ok");
    assert_eq!(c1["zone"], "nova");
    assert!(
        c1["heartbeat_age_seconds"].as_u64().is_some_and(|a| a <= 3),
        "{c1}"
    );

    let cinder = report["cinder_services"]
        .as_array()
        .expect("cinder_services");
    let vol = cinder
        .iter()
        .find(|s| s["host"] == "compute-1@ceph")
        .expect("cinder-volume on compute-1");
    assert_eq!(vol["binary"], "cinder-volume");
    assert_eq!(vol["backend"], "ceph");
    assert_eq!(vol["verdict"], "ok");
    assert!(
        cinder
            .iter()
            .any(|s| s["binary"] == "cinder-scheduler" && s["host"] == "ctl-1")
    );

    assert_eq!(report["summary"]["exit_code"], 0);
    assert_eq!(report["summary"]["result"], "success");
    assert_eq!(report["summary"]["failed_hosts"], json!([]));
}

#[test]
fn a_dead_host_turns_down_after_service_down_time_and_the_exit_code_changes() {
    let cloud = SimCloud::with_scenario(SCENARIO);
    cloud.power_off("compute-2");
    let killed = Instant::now();

    // Right after the power loss, Nova still believes the host: its last heartbeat is recent.
    let run = evacctl(&cloud, &["check-services", "-f", "json"]);
    if killed.elapsed() < Duration::from_secs(2) {
        assert_eq!(run.code, 0, "down too early: {}", run.stdout);
    }

    let mut last = None;
    let waited = SimCloud::wait_for(Duration::from_secs(15), || {
        let run = evacctl(&cloud, &["check-services", "-f", "json"]);
        let done = run.code == 4;
        last = Some(run);
        done
    });
    let run = last.expect("ran");
    assert!(
        waited.is_some(),
        "compute-2 never seen down: {}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(
        killed.elapsed() >= Duration::from_secs(2),
        "down before service_down_time"
    );

    let report = run.json();
    let c2 = service(&report, "nova-compute", "compute-2");
    assert_eq!(c2["state"], "down");
    assert_eq!(c2["verdict"], "down");
    assert!(
        c2["heartbeat_age_seconds"].as_u64().is_some_and(|a| a >= 2),
        "{c2}"
    );
    assert_eq!(report["summary"]["failed_hosts"], json!(["compute-2"]));
    assert_eq!(report["summary"]["result"], "unhealthy");
    let vol = report["cinder_services"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["host"] == "compute-2@ceph"))
        .expect("cinder-volume of compute-2");
    assert_eq!(vol["verdict"], "down", "its cinder-volume died with it");

    // The table says it too.
    let table = evacctl(&cloud, &["check-services"]);
    assert_eq!(table.code, 4);
    assert!(table.stdout.contains("down: compute-2"), "{}", table.stdout);

    // Power back: up again at once, exit 0.
    cloud.power_on("compute-2");
    let back = SimCloud::wait_for(Duration::from_secs(10), || {
        evacctl(&cloud, &["check-services"]).code == 0
    });
    assert!(back.is_some(), "compute-2 never came back");
}

/// PUT os-services/{id} as an operator would with `openstack compute service set --down`.
fn put_service(cloud: &SimCloud, host: &str, body: Value) {
    let token = cloud.admin_token();
    let client = SimCloud::client();
    let list: Value = client
        .get(format!(
            "{}/compute/v2.1/os-services?host={host}&binary=nova-compute",
            cloud.url()
        ))
        .header("X-Auth-Token", &token)
        .header("OpenStack-API-Version", "compute 2.53")
        .send()
        .and_then(|r| r.json())
        .expect("list services");
    let id = list["services"][0]["id"]
        .as_str()
        .expect("service id")
        .to_string();
    let status = client
        .put(format!("{}/compute/v2.1/os-services/{id}", cloud.url()))
        .header("X-Auth-Token", &token)
        .header("OpenStack-API-Version", "compute 2.53")
        .json(&body)
        .send()
        .expect("put service")
        .status();
    assert!(status.is_success(), "PUT os-services: {status}");
}

#[test]
fn forced_down_is_immediate_and_disabled_is_degraded() {
    let cloud = SimCloud::with_scenario(SCENARIO);
    put_service(
        &cloud,
        "compute-3",
        json!({"status": "disabled", "disabled_reason": "maintenance"}),
    );
    let run = evacctl(&cloud, &["check-services", "-f", "json"]);
    assert_eq!(run.code, 5, "disabled only: degraded\n{}", run.stdout);
    let c3 = service(&run.json(), "nova-compute", "compute-3").clone();
    assert_eq!(c3["verdict"], "disabled");
    assert_eq!(c3["disabled_reason"], "maintenance");

    put_service(&cloud, "compute-1", json!({"forced_down": true}));
    let run = evacctl(&cloud, &["check-services", "-f", "json"]);
    assert_eq!(run.code, 4, "{}", run.stdout);
    let report = run.json();
    assert_eq!(
        service(&report, "nova-compute", "compute-1")["verdict"],
        "forced-down"
    );
    assert_eq!(
        service(&report, "nova-compute", "compute-1")["forced_down"],
        true
    );
    assert_eq!(report["summary"]["failed_hosts"], json!(["compute-1"]));
    assert_eq!(report["summary"]["disabled_hosts"], json!(["compute-3"]));
}

#[test]
fn filters_by_host_and_binary() {
    let cloud = SimCloud::with_scenario(SCENARIO);
    let run = evacctl(
        &cloud,
        &["check-services", "--host", "compute-1", "-f", "json"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    let nova = report["nova_services"].as_array().expect("array");
    assert_eq!(nova.len(), 1);
    assert_eq!(nova[0]["host"], "compute-1");
    let cinder = report["cinder_services"].as_array().expect("array");
    assert!(
        cinder.iter().all(|s| s["host"] == "compute-1@ceph"),
        "{cinder:?}"
    );

    let run = evacctl(
        &cloud,
        &["check-services", "--binary", "nova-compute", "-f", "json"],
    );
    assert_eq!(run.code, 0);
    let report = run.json();
    assert!(
        report["nova_services"]
            .as_array()
            .expect("array")
            .iter()
            .all(|s| s["binary"] == "nova-compute")
    );
    assert!(
        report["cinder_services"].is_null(),
        "Cinder is not asked for a Nova-only filter"
    );
}

#[test]
fn an_unknown_host_is_an_error_with_the_closest_name() {
    let cloud = SimCloud::with_scenario(SCENARIO);
    let run = evacctl(&cloud, &["check-services", "--host", "compte-2"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("unknown host `compte-2`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("did you mean `compute-2`?"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.is_empty(),
        "no reassuring table for a typo: {}",
        run.stdout
    );
}

#[test]
fn a_config_with_a_typo_is_refused_with_file_key_and_line() {
    let cloud = SimCloud::with_scenario(SCENARIO);
    let config = cloud.dir().join("config.toml");
    std::fs::write(
        &config,
        "[cloud]\nregion_name = \"RegionOne\"\nos_clod = \"sim\"\n",
    )
    .expect("write config");
    let run = evacctl(
        &cloud,
        &[
            "--config",
            config.to_str().expect("utf-8"),
            "check-services",
        ],
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    let expected = format!("{}:3:1: unknown key `os_clod`", config.display());
    assert!(
        run.stderr.contains(&expected),
        "want `{expected}` in: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("did you mean `os_cloud`?"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());

    // The same through EVACCTL_CONFIG.
    let run = evacctl_env(
        &cloud,
        &["check-services"],
        &[("EVACCTL_CONFIG", config.to_str().expect("utf-8"))],
    );
    assert_eq!(run.code, 3, "{}", run.stderr);

    // A good config that names the cloud works without --os-cloud / OS_CLOUD.
    std::fs::write(&config, "[cloud]\nos_cloud = \"sim\"\n").expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_evacctl"))
        .env_clear()
        .env("HOME", cloud.dir())
        .env("OS_CLIENT_CONFIG_FILE", cloud.clouds_yaml())
        .args([
            "--config",
            config.to_str().expect("utf-8"),
            "check-services",
        ])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_missing_explicit_config_is_an_error() {
    let cloud = SimCloud::with_scenario(SCENARIO);
    let run = evacctl(
        &cloud,
        &["--config", "/nonexistent/evacctl.toml", "check-services"],
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("/nonexistent/evacctl.toml"),
        "{}",
        run.stderr
    );
}

#[test]
fn credentials_and_reachability_errors_have_their_exit_codes() {
    let cloud = SimCloud::with_scenario(SCENARIO);
    // Wrong password: Keystone says 401.
    let run = evacctl_env(
        &cloud,
        &["check-services"],
        &[("OS_PASSWORD", "not-the-password")],
    );
    assert_eq!(run.code, 9, "{}", run.stderr);
    assert!(run.stderr.contains("401"), "{}", run.stderr);

    // Nothing listens: unreachable.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let run = Command::new(env!("CARGO_BIN_EXE_evacctl"))
        .env_clear()
        .env("HOME", cloud.dir())
        .env(
            "OS_AUTH_URL",
            format!("http://127.0.0.1:{port}/identity/v3"),
        )
        .env("OS_USERNAME", "admin")
        .env("OS_PASSWORD", "x")
        .env("OS_PROJECT_NAME", "admin")
        .env("OS_USER_DOMAIN_NAME", "Default")
        .env("OS_PROJECT_DOMAIN_NAME", "Default")
        .arg("check-services")
        .output()
        .expect("run");
    assert_eq!(
        out_code(&run),
        8,
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    // No cloud at all: a configuration error that says what to set.
    let run = Command::new(env!("CARGO_BIN_EXE_evacctl"))
        .env_clear()
        .env("HOME", cloud.dir())
        .current_dir(cloud.dir())
        .arg("check-services")
        .output()
        .expect("run");
    assert_eq!(
        out_code(&run),
        3,
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

fn out_code(out: &std::process::Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

#[test]
fn api_failures_are_reported_with_the_services_message_and_request_id() {
    let cloud = SimCloud::with_scenario(SCENARIO);
    // A transient 503 on a read is retried; the command still succeeds.
    cloud.ctl(
        "POST",
        "faults",
        Some(json!({"method": "GET", "path_contains": "os-services", "status": 503, "count": 1})),
    );
    let run = evacctl(&cloud, &["check-services"]);
    assert_eq!(run.code, 0, "one 503 is retried: {}", run.stderr);

    // A malformed answer is an error naming the service, never a panic or a silent default.
    cloud.ctl(
        "POST",
        "faults",
        Some(json!({"path_contains": "compute/v2.1/os-services", "status": 200, "body": "{\"services\": [{\"host\": 7}", "count": 10})),
    );
    let run = evacctl(&cloud, &["check-services"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("compute"), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    cloud.ctl("DELETE", "faults", None);

    // A 400 from Nova carries Nova's own message and the request id.
    cloud.ctl(
        "POST",
        "faults",
        Some(json!({"path_contains": "compute/v2.1/os-services", "status": 400,
                    "body": "{\"badRequest\": {\"code\": 400, \"message\": \"Invalid input for field/attribute host.\"}}",
                    "count": 1})),
    );
    let run = evacctl(&cloud, &["check-services"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("Invalid input for field/attribute host."),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("req-"), "request id: {}", run.stderr);
}

#[test]
fn a_closed_pipe_keeps_the_verdict() {
    use std::process::Stdio;
    let cloud = SimCloud::with_scenario(SCENARIO);
    put_service(&cloud, "compute-1", json!({"forced_down": true}));
    // The reader is gone before evacctl writes (it first authenticates and lists): the write
    // meets a closed pipe, as with `evacctl check-services | head -1` on a long table.
    let mut child = Command::new(env!("CARGO_BIN_EXE_evacctl"))
        .env_clear()
        .env("HOME", cloud.dir())
        .env("OS_CLIENT_CONFIG_FILE", cloud.clouds_yaml())
        .env("OS_CLOUD", "sim")
        .arg("check-services")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        out.status.code(),
        Some(4),
        "the verdict survives the closed pipe: {stderr}"
    );
}

/// After the token, Nova and Cinder are asked at once: with Nova's service list held back,
/// Cinder's whole chain is answered before it (one after the other, Cinder would only be
/// asked once Nova answered). One token for both.
#[test]
fn nova_and_cinder_are_asked_at_once_after_one_token() {
    let cloud = SimCloud::with_scenario(SCENARIO);
    cloud.ctl(
        "POST",
        "faults",
        Some(
            json!({"method": "GET", "path_contains": "compute/v2.1/os-services",
                    "latency_ms": 3000, "count": 1}),
        ),
    );
    let run = evacctl(&cloud, &["check-services"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let log = cloud.ctl("GET", "requests", None);
    let log = log["requests"].as_array().expect("request log");
    let at = |api: &str, what: &str| {
        log.iter()
            .position(|r| r["api"] == api && r["path"].as_str().unwrap_or("").contains(what))
            .unwrap_or_else(|| panic!("no {api} {what} in {log:?}"))
    };
    // The log is in the order the answers were given.
    assert!(
        at("volume", "os-services") < at("compute", "os-services"),
        "Cinder waited for Nova: {log:?}"
    );
    let tokens = log
        .iter()
        .filter(|r| r["api"] == "identity" && r["method"] == "POST")
        .count();
    assert_eq!(tokens, 1, "{log:?}");
}
