//! `evacctl check-services`' node-local view end to end: Nova's view beside the Consul checks
//! of nova-compute on each node, and the combined verdict.

mod common;

use std::time::Duration;

use common::sim::{Run, SimCloud};
use serde_json::{Value, json};

/// Heartbeats every second, down after 2 s; ctl-1, compute-1 and compute-2.
const SCENARIO: &str = common::sim::FAST_SCENARIO;

fn check(cloud: &SimCloud) -> Run {
    let config = cloud.evacctl_config();
    cloud.evacctl(
        &[
            "--config",
            config.to_str().expect("utf-8"),
            "check-services",
            "-f",
            "json",
        ],
        &[],
    )
}

fn compute<'a>(report: &'a Value, host: &str) -> &'a Value {
    report["nova_services"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|s| s["binary"] == "nova-compute" && s["host"] == host)
        })
        .unwrap_or_else(|| panic!("no nova-compute on {host} in {report}"))
}

/// (Nova verdict, node-local state, combined verdict) of a host.
fn views(report: &Value, host: &str) -> (String, String, String) {
    let s = compute(report, host);
    let text = |v: &Value| v.as_str().unwrap_or("?").to_string();
    (
        text(&s["verdict"]),
        text(&s["node_local"]["state"]),
        text(&s["combined_verdict"]),
    )
}

fn strs(v: &[&str]) -> (String, String, String) {
    (v[0].into(), v[1].into(), v[2].into())
}

#[test]
fn both_views_agree_on_a_healthy_cloud() {
    let cloud = SimCloud::with_scenario(SCENARIO);
    let run = check(&cloud);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(views(&report, "compute-1"), strs(&["ok", "passing", "ok"]));
    let checks = compute(&report, "compute-1")["node_local"]["checks"]
        .as_array()
        .expect("checks")
        .clone();
    let ids: Vec<&str> = checks
        .iter()
        .filter_map(|c| c["check_id"].as_str())
        .collect();
    assert_eq!(
        ids,
        ["serfHealth", "service:nova-compute", "service:libvirtd"]
    );
    assert_eq!(checks[1]["cluster"], "management");
    assert_eq!(
        report["node_local_view"]["clusters"],
        json!(["management", "storage", "tenant"])
    );
    // Only nova-compute rows carry the node-local view.
    let conductor = report["nova_services"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["binary"] == "nova-conductor"))
        .expect("conductor");
    assert_eq!(conductor["node_local"], Value::Null);

    let config = cloud.evacctl_config();
    let table = cloud.evacctl(
        &[
            "--config",
            config.to_str().expect("utf-8"),
            "check-services",
        ],
        &[],
    );
    assert_eq!(table.code, 0);
    assert!(
        table
            .stdout
            .contains("Compute hosts, Nova's view and the node-local view"),
        "{}",
        table.stdout
    );
    assert!(
        table.stdout.contains("nova-compute, libvirtd passing"),
        "{}",
        table.stdout
    );
}

#[test]
fn a_crashed_nova_compute_on_a_live_host_is_a_node_failure_at_once() {
    let cloud = SimCloud::with_scenario(SCENARIO);
    cloud.ctl("POST", "hosts/compute-2/services/nova-compute/crash", None);
    // Nova still has a recent heartbeat; the node already says the service is dead.
    let run = check(&cloud);
    let report = run.json();
    let (nova, node, combined) = views(&report, "compute-2");
    assert_eq!(
        (node.as_str(), combined.as_str()),
        ("critical", "node-failure"),
        "{report}"
    );
    assert!(nova == "ok" || nova == "down", "{nova}");
    assert_eq!(run.code, 4, "a fencing case: {}", run.stderr);
    assert_eq!(
        report["summary"]["node_failure_hosts"],
        json!(["compute-2"])
    );
    assert!(
        compute(&report, "compute-2")["node_local"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("nova-compute critical")),
        "{report}"
    );
    assert_eq!(views(&report, "compute-1"), strs(&["ok", "passing", "ok"]));
}

#[test]
fn a_lost_heartbeat_with_the_service_running_is_api_only() {
    let cloud = SimCloud::with_scenario(SCENARIO);
    cloud.ctl(
        "POST",
        "hosts/compute-1/services/nova-compute/disconnect",
        None,
    );
    let mut last = None;
    let seen = SimCloud::wait_for(Duration::from_secs(15), || {
        let run = check(&cloud);
        let done = compute(&run.json(), "compute-1")["state"] == "down";
        last = Some(run);
        done
    });
    let run = last.expect("ran");
    assert!(
        seen.is_some(),
        "Nova never saw compute-1 down: {}",
        run.stdout
    );
    let report = run.json();
    assert_eq!(
        views(&report, "compute-1"),
        strs(&["down", "passing", "api-only"])
    );
    // Wait and warn: degraded, not a failure.
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert_eq!(report["summary"]["api_only_hosts"], json!(["compute-1"]));
    assert_eq!(
        report["summary"]["failed_hosts"],
        json!(["compute-1"]),
        "Nova's own view"
    );
    assert_eq!(report["summary"]["result"], "degraded");

    // A dead host: Nova down and the node not heard: node-failure.
    cloud.power_off("compute-2");
    let report = check(&cloud).json();
    let (_, node, combined) = views(&report, "compute-2");
    assert_eq!(
        (node.as_str(), combined.as_str()),
        ("critical", "node-failure")
    );
    assert!(
        compute(&report, "compute-2")["node_local"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("serfHealth critical")),
        "{report}"
    );
}

#[test]
fn without_consul_or_when_it_is_down_the_view_says_so_and_nova_decides() {
    let cloud = SimCloud::with_scenario(SCENARIO);
    // No Consul configured: today's behaviour.
    let run = cloud.evacctl(&["check-services", "-f", "json"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(
        views(&report, "compute-1"),
        strs(&["ok", "no-data", "no-node-data"])
    );
    assert_eq!(report["node_local_view"]["clusters"], json!([]));
    assert_eq!(
        report["summary"]["no_node_data_hosts"],
        json!(["compute-1", "compute-2"])
    );
    let table = cloud.evacctl(&["check-services"], &[]);
    assert!(
        table
            .stdout
            .contains("no node-local data (no Consul cluster configured)"),
        "{}",
        table.stdout
    );

    // Consul configured but not answering: a warning, no data, Nova's exit code.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!(
        "http://127.0.0.1:{}",
        closed.local_addr().expect("addr").port()
    );
    drop(closed);
    let run = cloud.evacctl(
        &["check-services", "-f", "json"],
        &[("CONSUL_HTTP_ADDR", dead.as_str())],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains(&dead), "{}", run.stderr);
    let report = run.json();
    assert_eq!(
        views(&report, "compute-2"),
        strs(&["ok", "no-data", "no-node-data"])
    );
    assert!(
        report["node_local_view"]["errors"][0]
            .as_str()
            .is_some_and(|e| e.contains("Consul cluster `consul`")),
        "{report}"
    );
}

/// Origin D's network rule in check-services as in watch: a management cut alone is notify
/// only. The node's agent is no longer heard in the management cluster (where its service
/// checks live), but the storage cluster still hears it: those checks are stale, not a node
/// failure (before, check-services said `node-failure (... a fencing case)` while watch said
/// `degraded: notify only`).
#[test]
fn a_management_cut_alone_is_never_a_node_failure() {
    let cloud = SimCloud::with_scenario(SCENARIO);
    cloud.ctl("POST", "hosts/compute-1/networks/management/cut", None);
    let run = check(&cloud);
    let report = run.json();
    let (_, node, combined) = views(&report, "compute-1");
    assert_ne!(combined, "node-failure", "{report}");
    assert_eq!(node, "no-data", "{report}");
    assert!(
        compute(&report, "compute-1")["node_local"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("stale and not counted")),
        "{report}"
    );
    // Every network cut: the node is heard nowhere, a node failure as before.
    cloud.ctl("POST", "hosts/compute-1/networks/all/cut", None);
    let report = check(&cloud).json();
    assert_eq!(views(&report, "compute-1").2, "node-failure", "{report}");
}

/// Consul is asked only for the checks the verdicts read (its `filter` parameter, evaluated by
/// the server), and `-vv` says how many bytes each cluster sent.
#[test]
fn only_the_node_checks_are_asked_for_and_the_bytes_are_logged() {
    let cloud = SimCloud::with_scenario(SCENARIO);
    let config = cloud.evacctl_config();
    let run = cloud.evacctl(
        &[
            "--config",
            config.to_str().expect("utf-8"),
            "-vv",
            "check-services",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let log = cloud.ctl("GET", "requests", None);
    let asked: Vec<&Value> = log["requests"]
        .as_array()
        .expect("request log")
        .iter()
        .filter(|r| {
            r["api"] == "consul"
                && r["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("/v1/health/state/any"))
        })
        .collect();
    assert!(!asked.is_empty(), "{log}");
    for r in &asked {
        let q = r["query"].as_str().unwrap_or("");
        assert!(q.contains("filter=") && q.contains("serfHealth"), "{r}");
    }
    // The bytes read, per cluster: as many as the simulator sent the management cluster's.
    let sent: u64 = log["requests"]
        .as_array()
        .expect("request log")
        .iter()
        .filter(|r| {
            r["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("/consul/management/"))
        })
        .map(|r| r["bytes"].as_u64().unwrap_or(0))
        .sum();
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("Consul:") && l.contains("bytes read"))
        .unwrap_or_else(|| panic!("no bytes line in {}", run.stderr));
    assert!(sent > 0, "{log}");
    assert!(
        line.contains(&format!("management {sent}")),
        "{sent}: {line}"
    );
}
