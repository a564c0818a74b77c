//! `evacctl check-consul` end to end: the real binary against the simulated cloud and its three
//! Consul clusters.

mod common;

use common::sim::{Run, SimCloud};
use serde_json::{Value, json};

/// One controller (the Consul server, whose agent evacctl asks) and two computes.
const SCENARIO: &str = common::sim::FAST_SCENARIO;

fn check(cloud: &SimCloud, extra: &[&str]) -> Run {
    let config = cloud.evacctl_config();
    let mut args = vec!["--config", config.to_str().expect("utf-8"), "check-consul"];
    args.extend_from_slice(extra);
    cloud.evacctl(&args, &[])
}

fn host<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["hosts"]
        .as_array()
        .and_then(|a| a.iter().find(|h| h["host"] == name))
        .unwrap_or_else(|| panic!("no host {name} in {report}"))
}

fn cluster<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["clusters"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no cluster {name} in {report}"))
}

/// `management/storage/tenant` states of a host, and its verdict.
fn row(report: &Value, name: &str) -> (String, String) {
    let h = host(report, name);
    let n = &h["networks"];
    let cells = ["management", "storage", "tenant"]
        .iter()
        .map(|c| n[c]["state"].as_str().unwrap_or("?"))
        .collect::<Vec<_>>()
        .join("/");
    (cells, h["verdict"].as_str().unwrap_or("?").to_string())
}

#[test]
fn a_healthy_cloud_is_all_alive_and_exits_0() {
    let cloud = SimCloud::with_scenario(SCENARIO);
    let run = check(&cloud, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    for text in [
        "management",
        "storage",
        "tenant",
        "compute-2",
        "alive in every network",
    ] {
        assert!(run.stdout.contains(text), "{text} missing:\n{}", run.stdout);
    }
    assert!(
        run.stdout.contains("result: success (exit 0)"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("ctl-1 |"),
        "controllers are not compute hosts"
    );

    // O(1) requests per cluster, whatever the number of hosts.
    cloud.ctl("DELETE", "requests", None);
    let report = check(&cloud, &["-f", "json"]).json();
    let log = cloud.ctl("GET", "requests", None);
    let consul_calls = log["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .filter(|r| {
            r["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("/consul/"))
        })
        .count();
    assert_eq!(
        consul_calls,
        3 * 4,
        "leader, members, peers, autopilot: {log}"
    );
    assert_eq!(report["hosts_source"], "nova");
    let clusters = report["clusters"].as_array().expect("clusters");
    assert_eq!(clusters.len(), 3);
    for c in clusters {
        assert_eq!(c["verdict"], "healthy", "{c}");
        assert_eq!(c["reachable"], true);
        assert!(
            c["leader"].as_str().is_some_and(|l| l.ends_with(":8300")),
            "{c}"
        );
        assert_eq!(c["peers"].as_array().map(Vec::len), Some(1));
        assert_eq!(c["voters"], 1);
        assert_eq!(c["autopilot"]["healthy"], true);
        assert_eq!(c["members"]["alive"], 3);
        assert_eq!(c["members"]["failed"], 0);
    }
    assert_eq!(clusters[1]["role"], "storage");
    assert_eq!(report["hosts"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        row(&report, "compute-2"),
        ("alive/alive/alive".into(), "healthy".into())
    );
    assert_eq!(
        host(&report, "compute-2")["networks"]["storage"]["node"],
        "compute-2"
    );
    assert_eq!(report["observer"]["verdict"], "ok");
    assert_eq!(report["summary"]["exit_code"], 0);
    assert_eq!(report["summary"]["result"], "success");
}

#[test]
fn network_cuts_follow_the_seed_003_rules() {
    let cloud = SimCloud::with_scenario(SCENARIO);

    // Storage cut on one host: failed (fence and evacuate).
    cloud.network("compute-1", "storage", "cut");
    let run = check(&cloud, &["-f", "json"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    let report = run.json();
    assert_eq!(
        row(&report, "compute-1"),
        ("alive/failed/alive".into(), "failed".into())
    );
    assert!(
        host(&report, "compute-1")["reason"]
            .as_str()
            .is_some_and(|r| r.contains("storage") && r.contains("fence")),
        "{report}"
    );
    assert_eq!(row(&report, "compute-2").1, "healthy");
    assert_eq!(report["summary"]["failed_hosts"], json!(["compute-1"]));
    let table = check(&cloud, &[]);
    assert!(
        table
            .stdout
            .contains("storage network failed: fence and evacuate"),
        "{}",
        table.stdout
    );
    cloud.network("compute-1", "storage", "restore");

    // Management cut only: degraded, nothing failed.
    cloud.network("compute-2", "management", "cut");
    let run = check(&cloud, &["-f", "json"]);
    assert_eq!(run.code, 5, "{}", run.stderr);
    let report = run.json();
    assert_eq!(
        row(&report, "compute-2"),
        ("failed/alive/alive".into(), "degraded".into())
    );
    assert_eq!(report["summary"]["failed_hosts"], json!([]));
    assert_eq!(report["summary"]["degraded_hosts"], json!(["compute-2"]));
    assert_eq!(row(&report, "compute-1").1, "healthy", "restored");
    cloud.network("compute-2", "management", "restore");

    // Tenant left gracefully: degraded too, shown as left.
    cloud.network("compute-1", "tenant", "leave");
    let report = check(&cloud, &["-f", "json"]).json();
    assert_eq!(
        row(&report, "compute-1"),
        ("alive/alive/left".into(), "degraded".into())
    );
    cloud.network("compute-1", "tenant", "restore");

    // Every network cut: failed.
    cloud.network("compute-1", "all", "cut");
    let run = check(&cloud, &["-f", "json"]);
    assert_eq!(run.code, 4);
    assert_eq!(
        row(&run.json(), "compute-1"),
        ("failed/failed/failed".into(), "failed".into())
    );
    cloud.network("compute-1", "all", "restore");

    // A dead host is failed in all three at once; the others stay healthy.
    cloud.power_off("compute-2");
    let run = check(&cloud, &["-f", "json", "--host", "compute-2"]);
    assert_eq!(run.code, 4);
    let report = run.json();
    assert_eq!(
        row(&report, "compute-2"),
        ("failed/failed/failed".into(), "failed".into())
    );
    assert_eq!(
        report["hosts"].as_array().map(Vec::len),
        Some(1),
        "--host filters"
    );
    assert_eq!(
        report["observer"]["verdict"], "ok",
        "1 of 3 members failed is no isolation"
    );
}

#[test]
fn a_cluster_without_leader_is_no_quorum() {
    let cloud = SimCloud::with_scenario(SCENARIO);
    // Through `evacctl-sim ctl`, as an operator drives the demo.
    let out = std::process::Command::new(common::sim::sim_exe())
        .args(["ctl", "--url", cloud.url(), "leader-lose", "storage"])
        .output()
        .expect("run evacctl-sim ctl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "storage: leader lost\n"
    );
    let run = check(&cloud, &[]);
    assert_eq!(run.code, 6, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("storage: no leader"),
        "a clear message: {}",
        run.stdout
    );
    assert!(run.stdout.contains("no-quorum (exit 6)"), "{}", run.stdout);
    let report = check(&cloud, &["-f", "json"]).json();
    let storage = cluster(&report, "storage");
    assert_eq!(storage["verdict"], "no-leader");
    assert_eq!(storage["leader"], Value::Null);
    assert_eq!(
        report["summary"]["clusters_without_quorum"],
        json!(["storage"])
    );
    // Its members are still shown: gossip does not need the leader.
    assert_eq!(row(&report, "compute-1").0, "alive/alive/alive");

    cloud.ctl("POST", "consul/storage/leader/restore", None);
    assert_eq!(check(&cloud, &[]).code, 0);
}

#[test]
fn the_observers_own_agent_cut_off_is_the_observer_verdict() {
    let cloud = SimCloud::with_scenario(SCENARIO);
    cloud.ctl("POST", "consul/management/observer/cut", None);
    let run = check(&cloud, &[]);
    assert_eq!(run.code, 7, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("observer: ISOLATED"), "{}", run.stdout);
    assert!(
        run.stdout.contains("watch takes no action"),
        "{}",
        run.stdout
    );
    let report = check(&cloud, &["-f", "json"]).json();
    assert_eq!(report["observer"]["verdict"], "isolated");
    assert!(
        report["observer"]["reasons"][0]
            .as_str()
            .is_some_and(|r| r.contains("management") && r.contains("2 of 3 members failed")),
        "{report}"
    );
    // What the cut-off agent saw is shown, but no host is failed or degraded on its word.
    assert_eq!(
        host(&report, "compute-1")["networks"]["management"]["state"],
        "failed"
    );
    assert_eq!(report["summary"]["failed_hosts"], json!([]));
    assert_eq!(report["summary"]["degraded_hosts"], json!([]));
    assert_eq!(report["summary"]["result"], "observer-isolated");
}

#[test]
fn an_unreachable_address_names_the_cluster_and_the_address() {
    let cloud = SimCloud::with_scenario(SCENARIO);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!(
        "http://127.0.0.1:{}",
        closed.local_addr().expect("addr").port()
    );
    drop(closed);
    let config = cloud.dir().join("dead.toml");
    std::fs::write(
        &config,
        format!(
            "[consul.storage]\nrole = \"storage\"\naddresses = [\"{dead}\"]\n\n\
             [consul.management]\nrole = \"management\"\naddresses = [\"{dead}\", \"{}\"]\n",
            cloud.consul_url("management")
        ),
    )
    .expect("write config");
    let run = cloud.evacctl(
        &["--config", config.to_str().expect("utf-8"), "check-consul"],
        &[],
    );
    assert_eq!(run.code, 8, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains(&format!("Consul cluster `storage`: no answer from {dead}")),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("`management`"),
        "its second address answered: {}",
        run.stderr
    );
    // The table is still printed: storage unknown, management seen.
    assert!(
        run.stdout.contains("clusters not answering: storage"),
        "{}",
        run.stdout
    );
    let run = cloud.evacctl(
        &[
            "--config",
            config.to_str().expect("utf-8"),
            "check-consul",
            "-f",
            "json",
        ],
        &[],
    );
    let report = run.json();
    assert_eq!(cluster(&report, "storage")["reachable"], false);
    assert_eq!(cluster(&report, "storage")["verdict"], "error");
    assert_eq!(cluster(&report, "management")["verdict"], "healthy");
    assert_eq!(
        host(&report, "compute-1")["networks"]["storage"]["state"],
        "unknown"
    );
    assert_eq!(
        host(&report, "compute-1")["verdict"],
        "unknown",
        "never healthy"
    );
}

#[test]
fn malformed_consul_answers_never_panic() {
    let cloud = SimCloud::with_scenario(SCENARIO);
    for (path, body) in [
        // Members that are not members: the cluster's view is unusable, an error.
        (
            "/consul/storage/v1/agent/members",
            "[{\"Name\": 5, \"Status\": \"alive\"}",
        ),
        // Garbage where autopilot should be: a warning; the leader still judges the cluster.
        (
            "/consul/tenant/v1/operator/autopilot",
            "<html>502 Bad Gateway</html>",
        ),
        // A leader that is not a string: the leader is not known.
        ("/consul/management/v1/status/leader", "{\"leader\": true}"),
    ] {
        let fault = json!({"path_contains": path, "status": 200, "body": body, "count": 50});
        cloud.ctl("POST", "faults", Some(fault));
    }
    let run = check(&cloud, &["-f", "json"]);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("Consul cluster `storage`") && run.stderr.contains("unexpected answer"),
        "{}",
        run.stderr
    );
    let report = run.json();
    assert_eq!(cluster(&report, "storage")["verdict"], "error");
    assert!(
        cluster(&report, "tenant")["warnings"][0]
            .as_str()
            .is_some_and(|w| w.contains("autopilot")),
        "{report}"
    );
    assert_eq!(
        report["clusters"][0]["verdict"], "no-leader",
        "leader not known"
    );
    assert_eq!(
        host(&report, "compute-1")["networks"]["storage"]["state"],
        "unknown"
    );
}

#[test]
fn consul_http_addr_serves_the_single_cluster_case() {
    let cloud = SimCloud::with_scenario(SCENARIO);
    let url = cloud.consul_url("storage");
    let addr = url.trim_start_matches("http://");
    let run = cloud.evacctl(
        &["check-consul", "-f", "json"],
        &[("CONSUL_HTTP_ADDR", addr)],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["clusters"].as_array().map(Vec::len), Some(1));
    assert_eq!(report["clusters"][0]["name"], "consul");
    assert_eq!(report["clusters"][0]["role"], "management");
    // Its only network lost: every network down, failed.
    cloud.network("compute-2", "storage", "cut");
    let run = cloud.evacctl(
        &["check-consul", "-f", "json"],
        &[("CONSUL_HTTP_ADDR", addr)],
    );
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert_eq!(host(&run.json(), "compute-2")["verdict"], "failed");

    // Nothing configured at all: a configuration error that says what to set.
    let run = cloud.evacctl(&["check-consul"], &[]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("CONSUL_HTTP_ADDR"), "{}", run.stderr);
}

#[test]
fn unknown_cluster_or_host_is_refused_with_the_closest_name() {
    let cloud = SimCloud::with_scenario(SCENARIO);
    let run = check(&cloud, &["--cluster", "storag"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("did you mean `storage`?"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
    let run = check(&cloud, &["--host", "compute-7"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("unknown host `compute-7`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("known: compute-1, compute-2)"),
        "{}",
        run.stderr
    );
    let run = check(&cloud, &["--cluster", "tenant", "-f", "json"]);
    assert_eq!(run.code, 0);
    assert_eq!(run.json()["clusters"].as_array().map(Vec::len), Some(1));
}

/// Origin A's cloud: Nova names hosts by FQDN, Consul by short name (its `[consul]` table
/// comes last, so the token joins it); an ACL token guards Consul.
const EAYUN: &str = concat!(
    include_str!("../scenarios/eayun.toml"),
    "token = \"consul-acl-token-do-not-print\"\n"
);

#[test]
fn short_consul_names_match_fqdn_hosts_and_the_token_never_shows() {
    let cloud = SimCloud::with_scenario(EAYUN);
    let run = check(&cloud, &["-f", "json", "-vv"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    let h = host(&report, "node-24.eayun.com");
    assert_eq!(h["networks"]["storage"]["node"], "node-24");
    assert_eq!(h["verdict"], "healthy");
    cloud.network("node-24.eayun.com", "storage", "cut");
    let log = cloud.dir().join("evacctl.log");
    let run = check(
        &cloud,
        &["-vvv", "--log-file", log.to_str().expect("utf-8")],
    );
    assert_eq!(run.code, 4);
    let logged = std::fs::read_to_string(&log).expect("log file");
    assert!(logged.contains("Consul"), "-vvv logs the calls: {logged}");
    assert!(
        !logged.contains("consul-acl-token-do-not-print"),
        "token leaked: {logged}"
    );
    assert!(
        run.stdout.contains("node-24.eayun.com | node-24"),
        "{}",
        run.stdout
    );
    for text in [&run.stdout, &run.stderr] {
        assert!(
            !text.contains("consul-acl-token-do-not-print"),
            "token leaked: {text}"
        );
    }

    // Without the token: refused, exit auth, the cluster named.
    let config = cloud.dir().join("no-token.toml");
    let text = std::fs::read_to_string(cloud.evacctl_config()).expect("config");
    let without: String = text
        .lines()
        .filter(|l| !l.starts_with("token_file"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&config, without).expect("write");
    let run = cloud.evacctl(
        &["--config", config.to_str().expect("utf-8"), "check-consul"],
        &[],
    );
    assert_eq!(run.code, 9, "{}", run.stderr);
    assert!(run.stderr.contains("HTTP 403"), "{}", run.stderr);
    assert!(
        run.stderr.contains("Consul cluster `management`"),
        "{}",
        run.stderr
    );
}

#[test]
fn without_openstack_the_hosts_come_from_consul() {
    let cloud = SimCloud::with_scenario(SCENARIO);
    let config = cloud.evacctl_config();
    let run = cloud.evacctl_without_cloud(&[
        "--config",
        config.to_str().expect("utf-8"),
        "check-consul",
        "-f",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["hosts_source"], "consul");
    let hosts: Vec<&str> = report["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .filter_map(|h| h["host"].as_str())
        .collect();
    assert_eq!(
        hosts,
        ["compute-1", "compute-2"],
        "client agents, not servers"
    );
}
