//! `evacctl restore HOST` end to end: the real binary against the simulated cloud
//! (`scenarios/evacuation.toml`, fast clock), its BMCs and Consul clusters through the
//! configuration the simulator writes.

mod common;

use std::time::Duration;

use common::sim::{Run, SimCloud};
use serde_json::{Value, json};

const SCENARIO: &str = include_str!("../scenarios/evacuation.toml");

/// Runs evacctl with the simulator's config and a journal in the cloud's scratch directory.
fn evacctl(cloud: &SimCloud, args: &[&str]) -> Run {
    let config = cloud.evacctl_config();
    let journal = cloud.dir().join("state/journal.jsonl");
    let mut all = vec!["--config", config.to_str().expect("a UTF-8 temp path")];
    all.extend_from_slice(args);
    cloud.evacctl(
        &all,
        &[("EVACCTL_JOURNAL", journal.to_str().expect("a UTF-8 path"))],
    )
}

fn journal(cloud: &SimCloud) -> Vec<Value> {
    std::fs::read_to_string(cloud.dir().join("state/journal.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a journal line"))
        .collect()
}

/// The service writes (PUT /os-services/...) the sim received.
fn service_writes(cloud: &SimCloud) -> Vec<String> {
    cloud.ctl("GET", "requests", None)["requests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| {
            r["method"] == "PUT"
                && r["path"]
                    .as_str()
                    .is_some_and(|p| p.contains("/os-services"))
        })
        .filter_map(|r| r["path"].as_str().map(str::to_string))
        .collect()
}

fn nova_compute(cloud: &SimCloud, host: &str) -> Value {
    let h = cloud.ctl("GET", &format!("hosts/{host}"), None);
    h["host"]["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["binary"] == "nova-compute"))
        .cloned()
        .unwrap_or_else(|| panic!("no nova-compute on {host}: {h}"))
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no check {name} in {report}"))
}

/// compute-1 loses its power and is fenced, isolated and evacuated (its servers `done`).
fn evacuated_compute_1() -> SimCloud {
    let cloud = SimCloud::with_scenario(SCENARIO);
    cloud.power_off("compute-1");
    // Nova sees it down after service_down_time (2 s here).
    let down = SimCloud::wait_for(Duration::from_secs(10), || {
        nova_compute(&cloud, "compute-1")["state"] == "down"
    });
    assert!(down.is_some(), "compute-1 never went down");
    let run = evacctl(
        &cloud,
        &["host-evacuate", "compute-1", "--force-down", "--yes"],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let done = SimCloud::wait_for(Duration::from_secs(10), || {
        let m = cloud.ctl("GET", "migrations", None);
        let all = m["migrations"].as_array().cloned().unwrap_or_default();
        !all.is_empty() && all.iter().all(|m| m["status"] == "done")
    });
    assert!(done.is_some(), "the evacuations never finished");
    cloud
}

/// A repaired host comes back only when it is: refused while powered off (nothing sent),
/// refused while its nova-compute does not run (and Nova's `done` evacuations explained), a
/// dry run sends nothing, then forced_down unset and enabled, journaled, and a second run has
/// nothing to do.
#[test]
fn a_host_is_restored_only_once_it_runs_again() {
    let cloud = evacuated_compute_1();
    let writes_before = service_writes(&cloud).len();
    assert_eq!(writes_before, 2, "host-evacuate forced down and disabled");

    // Still powered off.
    let run = evacctl(&cloud, &["restore", "compute-1", "--yes", "-f", "json"]);
    assert_eq!(run.code, 13, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    assert_eq!(check(&report, "power")["status"], "failed");
    assert_eq!(check(&report, "power")["detail"], "the BMC says power off");
    assert_eq!(check(&report, "consul")["status"], "failed");
    assert_eq!(check(&report, "heartbeat")["status"], "failed");
    assert_eq!(report["summary"]["restored"], false);
    assert_eq!(report["summary"]["result"], "refused");
    assert!(
        run.stderr.contains(
            "refusing to restore compute-1: it is still down (power: the BMC says power off"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);
    assert_eq!(service_writes(&cloud).len(), writes_before, "nothing sent");

    // Power back, but nova-compute does not start: the evacuations stay `done`.
    cloud.ctl("POST", "hosts/compute-1/services/nova-compute/crash", None);
    cloud.power_on("compute-1");
    let run = evacctl(&cloud, &["restore", "compute-1", "--yes"]);
    assert_eq!(run.code, 13, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("| power "), "{}", run.stdout);
    assert!(
        run.stderr.contains("4 evacuation(s) from compute-1 are still `done`: Nova completes them when compute-1's nova-compute starts"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("heartbeat:"), "{}", run.stderr);
    assert!(run.stderr.contains("node-local:"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("power:"),
        "the power is on: {}",
        run.stderr
    );
    assert_eq!(service_writes(&cloud).len(), writes_before, "nothing sent");

    // nova-compute starts: it cleans up, the migrations complete, the heartbeat is back.
    cloud.ctl("POST", "hosts/compute-1/services/nova-compute/start", None);
    let ready = SimCloud::wait_for(Duration::from_secs(10), || {
        evacctl(&cloud, &["restore", "compute-1", "--dry-run"]).code == 0
    });
    assert!(ready.is_some(), "never ready");
    let run = evacctl(&cloud, &["restore", "compute-1", "--dry-run", "-f", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    let bodies: Vec<Value> = report["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["body"].clone())
        .collect();
    assert_eq!(
        bodies,
        [json!({"forced_down": false}), json!({"status": "enabled"})]
    );
    assert_eq!(report["done_evacuations"], json!([]));
    assert_eq!(report["dry_run"], true);
    assert_eq!(
        service_writes(&cloud).len(),
        writes_before,
        "a dry run sends nothing"
    );

    // No terminal and no --yes: refused, nothing sent.
    let run = evacctl(&cloud, &["restore", "compute-1"]);
    assert_eq!(run.code, 10, "{}", run.stderr);
    assert_eq!(service_writes(&cloud).len(), writes_before);

    let run = evacctl(&cloud, &["restore", "compute-1", "--yes"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("compute-1: nova-compute forced_down unset, enabled; back in service"),
        "{}",
        run.stdout
    );
    let svc = nova_compute(&cloud, "compute-1");
    assert_eq!(svc["forced_down"], false);
    assert_eq!(svc["status"], "enabled");
    assert_eq!(svc["disabled_reason"], Value::Null);
    assert_eq!(svc["state"], "up");
    assert_eq!(service_writes(&cloud).len(), writes_before + 2);

    // Journaled: intent and result of each change, in order, then the state event.
    let steps: Vec<(String, String, String)> = journal(&cloud)
        .iter()
        .filter(|r| ["force-up", "enable", "state"].contains(&r["action"].as_str().unwrap_or("")))
        .map(|r| {
            (
                r["kind"].as_str().unwrap().to_string(),
                r["action"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let s = |k: &str, a: &str, st: &str| (k.to_string(), a.to_string(), st.to_string());
    assert_eq!(
        steps,
        [
            s("intent", "force-up", "sending"),
            s("result", "force-up", "ok"),
            s("intent", "enable", "sending"),
            s("result", "enable", "ok"),
            s("event", "state", "restored"),
        ]
    );
    assert!(
        journal(&cloud)
            .iter()
            .all(|r| r["action"] != "state" || r["host"] == "compute-1")
    );

    // Again: nothing to do, nothing sent.
    let run = evacctl(&cloud, &["restore", "compute-1", "--yes"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("already in service"), "{}", run.stdout);
    assert_eq!(service_writes(&cloud).len(), writes_before + 2);
}

/// Bad input does nothing; a healthy host has nothing to restore.
#[test]
fn unknown_hosts_are_refused_and_healthy_hosts_need_nothing() {
    let cloud = SimCloud::with_scenario(SCENARIO);
    let run = evacctl(&cloud, &["restore", "compute-l", "--yes"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("did you mean `compute-1`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("known: compute-1, compute-2"),
        "{}",
        run.stderr
    );

    let run = evacctl(&cloud, &["restore", "compute-2", "-f", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["changes"], json!([]));
    assert_eq!(report["summary"]["restored"], true);
    for name in ["power", "consul", "node-local", "heartbeat"] {
        assert_eq!(check(&report, name)["status"], "ok", "{name}: {report}");
    }
    assert!(service_writes(&cloud).is_empty(), "nothing sent");
    assert!(journal(&cloud).is_empty(), "nothing journaled");
}

/// Nova refusing to unset forced_down (`done` evacuations it counted itself) is explained and
/// exits `refused`; nothing else is sent.
#[test]
fn novas_refusal_to_force_up_is_explained() {
    let cloud = SimCloud::with_scenario(SCENARIO);
    cloud.power_off("compute-3");
    let run = evacctl(
        &cloud,
        &["host-evacuate", "compute-3", "--force-down", "--yes"],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    cloud.power_on("compute-3");
    let ready = SimCloud::wait_for(Duration::from_secs(10), || {
        evacctl(&cloud, &["restore", "compute-3", "--dry-run"]).code == 0
    });
    assert!(ready.is_some(), "never ready");
    let message = "Unable to force up host compute-3 as `done` evacuation migration records remain associated with the host. Ensure the compute service has been restarted, allowing these records to move to `completed` before retrying this request.";
    cloud.ctl(
        "POST",
        "faults",
        Some(
            json!({"method": "PUT", "path_contains": "/os-services/", "status": 400,
            "body": json!({"badRequest": {"code": 400, "message": message}}).to_string()}),
        ),
    );
    let run = evacctl(&cloud, &["restore", "compute-3", "--yes"]);
    assert_eq!(run.code, 13, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("Nova refused to unset forced_down on compute-3")
            && run.stderr.contains(
                "start nova-compute on compute-3, then re-run `evacctl restore compute-3`"
            ),
        "{}",
        run.stderr
    );
    assert_eq!(
        nova_compute(&cloud, "compute-3")["status"],
        "disabled",
        "not enabled"
    );
    let last = journal(&cloud).pop().unwrap();
    assert_eq!(
        (last["action"].as_str(), last["status"].as_str()),
        (Some("force-up"), Some("failed"))
    );
}

/// `evacctl-sim ctl hardware-fault`: the host's BMC powers it on, but it hangs at boot (failed in
/// every Consul network, no heartbeat), so restore refuses with the power check passing; after
/// `hardware-repair` the next power-on boots it and restore succeeds.
#[test]
fn a_host_hung_at_boot_is_not_restored_until_repaired() {
    let cloud = SimCloud::with_scenario(SCENARIO);
    let ctl = |action: &str| {
        let out = std::process::Command::new(common::sim::sim_exe())
            .args(["ctl", "--url", cloud.url(), action, "compute-2"])
            .output()
            .expect("run evacctl-sim ctl");
        assert!(out.status.success(), "{action}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(ctl("hardware-fault").contains("compute-2: hardware fault"));
    let run = evacctl(
        &cloud,
        &["host-evacuate", "compute-2", "--force-down", "--yes"],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let run = evacctl(&cloud, &["ipmi", "power", "on", "compute-2", "--yes"]);
    assert_eq!(
        run.code, 0,
        "the BMC says on: {}\n{}",
        run.stdout, run.stderr
    );
    let host = cloud.ctl("GET", "hosts/compute-2", None)["host"].clone();
    assert_eq!(
        (host["power"].as_str(), host["hung_at_boot"].as_bool()),
        (Some("on"), Some(true))
    );

    let run = evacctl(&cloud, &["restore", "compute-2", "--yes", "-f", "json"]);
    assert_eq!(run.code, 13, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    assert_eq!(check(&report, "power")["status"], "ok");
    let consul = check(&report, "consul");
    assert_eq!(consul["status"], "failed");
    assert_eq!(
        consul["detail"],
        "not alive in every network: management failed, storage failed, tenant failed"
    );
    assert_eq!(check(&report, "heartbeat")["status"], "failed");

    // Repaired: still hung until the next power-on, which boots it.
    assert!(ctl("hardware-repair").contains("compute-2: hardware repaired"));
    assert_eq!(
        evacctl(&cloud, &["restore", "compute-2", "--dry-run"]).code,
        13
    );
    let run = evacctl(&cloud, &["ipmi", "power", "on", "compute-2", "--yes"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let ready = SimCloud::wait_for(Duration::from_secs(10), || {
        evacctl(&cloud, &["restore", "compute-2", "--dry-run"]).code == 0
    });
    assert!(ready.is_some(), "never ready");
    let run = evacctl(&cloud, &["restore", "compute-2", "--yes"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(nova_compute(&cloud, "compute-2")["status"], "enabled");
}
