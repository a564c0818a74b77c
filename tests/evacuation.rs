//! `evacctl evacuate`, `host-evacuate` and `verify` end to end: the real binary against the
//! simulated cloud (`scenarios/evacuation.toml`: compute-1 holds ACTIVE, SHUTOFF, ERROR-that-ran,
//! ERROR-that-never-ran and mid-task servers).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::sim::{Run, SimCloud};
use serde_json::{Value, json};

const SCENARIO: &str = include_str!("../scenarios/evacuation.toml");

/// The scenario with compute-1 dead from the start (its nova-compute already down).
fn dead_compute_1() -> String {
    SCENARIO.replace(
        "name = \"compute-1\"\nrole = \"compute\"",
        "name = \"compute-1\"\nrole = \"compute\"\npowered_on = false",
    )
}

fn journal(cloud: &SimCloud) -> PathBuf {
    cloud.dir().join("state/journal.jsonl")
}

fn evacctl(cloud: &SimCloud, args: &[&str]) -> Run {
    let journal = journal(cloud);
    let journal = journal.to_str().expect("a UTF-8 temp path");
    cloud.evacctl(args, &[("EVACCTL_JOURNAL", journal)])
}

/// `verify compute-1 --wait --timeout 20s -f FORMAT`.
fn verify_wait(cloud: &SimCloud, format: &str) -> Run {
    let args = [
        "verify",
        "compute-1",
        "--wait",
        "--timeout",
        "20s",
        "-f",
        format,
    ];
    evacctl(cloud, &args)
}

/// A server's entry in a host-evacuate report.
fn entry<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["servers"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["id"] == id))
        .unwrap_or_else(|| panic!("{id} not in {report}"))
}

fn servers(cloud: &SimCloud) -> Vec<Value> {
    cloud.ctl("GET", "servers", None)["servers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn server<'a>(list: &'a [Value], name: &str) -> &'a Value {
    list.iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no server {name}"))
}

/// The evacuate POSTs the sim received, as (server id, body-less path).
fn evacuate_posts(cloud: &SimCloud) -> Vec<String> {
    cloud.evacuate_posts()
}

fn set_timing(cloud: &SimCloud, accept: f64, rebuild: f64) {
    cloud.ctl(
        "POST",
        "compute",
        Some(json!({"evacuate_accept_delay": accept, "evacuate_rebuild_delay": rebuild})),
    );
}

#[test]
fn mixed_states_are_classified_evacuated_journaled_and_verified() {
    let cloud = SimCloud::with_scenario(&dead_compute_1());
    let run = evacctl(
        &cloud,
        &["host-evacuate", "compute-1", "--yes", "-f", "json"],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    let by_name = |n: &str| {
        report["servers"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["name"] == n))
            .cloned()
            .unwrap_or_else(|| panic!("{n} not in {report}"))
    };
    for (name, evacuable, code) in [
        ("web-1", true, Value::Null),
        ("web-2", true, Value::Null),
        ("db-1", true, Value::Null),
        ("batch-1", true, Value::Null),
        ("failed-build", false, json!("never-ran")),
        ("rebooting-1", false, json!("task-in-progress")),
    ] {
        let s = by_name(name);
        assert_eq!(s["evacuable"], evacuable, "{name}: {s}");
        assert_eq!(s["reason_code"], code, "{name}: {s}");
    }
    // JSON shape: stable names for scripts.
    for key in ["host", "source", "plan", "results", "summary", "candidates"] {
        assert!(report.get(key).is_some(), "{key} missing");
    }
    assert_eq!(report["summary"]["accepted"], 4);
    assert_eq!(report["summary"]["skipped"], 2);
    assert_eq!(report["summary"]["result"], "success");
    let results = report["results"].as_array().unwrap();
    assert!(
        results
            .iter()
            .all(|r| r["accepted"] == true && r["target"].is_null())
    );
    assert!(report["plan"]["targets"][0]["free_before"]["VCPU"].is_u64());
    // The runbook's log line, one per accepted server.
    assert_eq!(
        run.stderr.matches("instance has evacuate").count(),
        4,
        "{}",
        run.stderr
    );

    // Journal: an intent before and a result after each request.
    let text = std::fs::read_to_string(journal(&cloud)).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.iter().filter(|l| l["kind"] == "intent").count(), 4);
    assert_eq!(
        lines.iter().filter(|l| l["status"] == "accepted").count(),
        4
    );

    // verify --wait: every server on another host, in its state, migration done.
    let run = verify_wait(&cloud, "json");
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let v = run.json();
    assert_eq!(v["summary"]["ok"], 4);
    assert_eq!(v["volumes"]["checked"], true);
    let list = servers(&cloud);
    assert_eq!(server(&list, "db-1")["status"], "SHUTOFF");
    assert_ne!(server(&list, "web-1")["host"], "compute-1");
    assert_eq!(server(&list, "failed-build")["host"], "compute-1");

    // A second run does nothing twice.
    let before = evacuate_posts(&cloud).len();
    let run = evacctl(&cloud, &["host-evacuate", "compute-1", "--yes"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("Nothing to evacuate"), "{}", run.stdout);
    assert_eq!(evacuate_posts(&cloud).len(), before);
}

#[test]
fn an_evacuation_in_flight_is_never_sent_again() {
    let cloud = SimCloud::with_scenario(&dead_compute_1());
    // A slow scheduler: the first evacuation is still `accepted` when host-evacuate lists.
    set_timing(&cloud, 30.0, 1.0);
    let run = evacctl(&cloud, &["evacuate", "web-1"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("True"), "{}", run.stdout);
    assert!(
        run.stderr.contains("instance has evacuate"),
        "{}",
        run.stderr
    );
    let web1 = server(&servers(&cloud), "web-1")["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Someone else's evacuation too (not in evacctl's journal): only Nova knows.
    let db1 = server(&servers(&cloud), "db-1")["id"]
        .as_str()
        .unwrap()
        .to_string();
    cloud.ctl(
        "POST",
        &format!("servers/{db1}/state"),
        Some(json!({"task_state": null})),
    );
    let token = cloud.admin_token();
    let resp = SimCloud::client()
        .post(format!("{}/compute/v2.1/servers/{db1}/action", cloud.url()))
        .header("x-auth-token", token)
        .header("openstack-api-version", "compute 2.93")
        .json(&json!({"evacuate": {}}))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    // Nova would list both still on compute-1, ACTIVE/SHUTOFF-looking but rebuilding: clear
    // the task so only the migration record tells (the worst case of docs/design.md 3.6).
    for id in [&web1, &db1] {
        cloud.ctl(
            "POST",
            &format!("servers/{id}/state"),
            Some(json!({"task_state": null})),
        );
    }

    let run = evacctl(
        &cloud,
        &["host-evacuate", "compute-1", "--yes", "-f", "json"],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    let sent: Vec<&str> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["server_id"].as_str())
        .collect();
    assert!(
        !sent.contains(&web1.as_str()) && !sent.contains(&db1.as_str()),
        "{sent:?}"
    );
    assert_eq!(sent.len(), 2, "web-2 and batch-1: {sent:?}");
    for id in [&web1, &db1] {
        let s = entry(&report, id);
        assert_eq!(s["reason_code"], "evacuation-in-progress", "{s}");
        assert!(s["reason"].as_str().unwrap().contains("accepted"), "{s}");
    }
    let posts = evacuate_posts(&cloud);
    assert_eq!(posts.iter().filter(|p| p.contains(&web1)).count(), 1);

    // `evacuate` of the same server again is refused too, with the reason.
    let run = evacctl(&cloud, &["evacuate", &web1]);
    assert_eq!(run.code, 13, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("already in progress"), "{}", run.stderr);
}

#[test]
fn capacity_refused_partial_and_targets() {
    let cloud = SimCloud::with_scenario(&dead_compute_1());
    // compute-4 (2 VCPU, 2 GiB) cannot take 4 servers: refused with numbers, nothing sent.
    let run = evacctl(
        &cloud,
        &[
            "host-evacuate",
            "compute-1",
            "--target",
            "compute-4",
            "--yes",
        ],
    );
    assert_eq!(run.code, 13, "{}\n{}", run.stdout, run.stderr);
    let err = &run.stderr;
    assert!(
        err.contains("not enough room") && err.contains("short by"),
        "{err}"
    );
    assert!(err.contains("VCPU") && err.contains("MEMORY_MB"), "{err}");
    assert!(
        err.contains("--target compute-"),
        "suggests wider targets: {err}"
    );
    assert!(err.contains("--allow-partial"), "{err}");
    assert!(run.stdout.contains("Does not fit"), "{}", run.stdout);
    assert!(evacuate_posts(&cloud).is_empty());

    // --allow-partial evacuates what fits there, with the host named in each request.
    let run = evacctl(
        &cloud,
        &[
            "host-evacuate",
            "compute-1",
            "--target",
            "compute-4",
            "--allow-partial",
            "--yes",
            "-f",
            "json",
        ],
    );
    assert_eq!(run.code, 12, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    let results = report["results"].as_array().unwrap();
    assert!(!results.is_empty() && results.len() < 4, "{report}");
    assert!(
        results
            .iter()
            .all(|r| r["target"] == "compute-4" && r["accepted"] == true)
    );
    assert_eq!(report["summary"]["result"], "partial");

    // The rest to two targets: the plan fits, each request names its planned host.
    let run = evacctl(
        &cloud,
        &[
            "host-evacuate",
            "compute-1",
            "--target",
            "compute-2",
            "--target",
            "compute-3",
            "--yes",
            "-f",
            "json",
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    for r in report["results"].as_array().unwrap() {
        let t = r["target"].as_str().unwrap();
        assert!(t == "compute-2" || t == "compute-3", "{r}");
    }
    // Unknown and unusable targets are refused before anything.
    let run = evacctl(
        &cloud,
        &[
            "host-evacuate",
            "compute-1",
            "--target",
            "compute-5",
            "--yes",
        ],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("did you mean"), "{}", run.stderr);
    let run = evacctl(&cloud, &["evacuate", "web-1", "--target", "compute-1"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

/// Disables or enables a host's nova-compute through Nova's API, as an operator would.
fn set_status(cloud: &SimCloud, host: &str, status: &str) {
    let state = cloud.ctl("GET", &format!("hosts/{host}"), None);
    let uuid = state["host"]["services"][0]["uuid"]
        .as_str()
        .unwrap()
        .to_string();
    let resp = SimCloud::client()
        .put(format!("{}/compute/v2.1/os-services/{uuid}", cloud.url()))
        .header("x-auth-token", cloud.admin_token())
        .header("openstack-api-version", "compute 2.53")
        .json(&if status == "disabled" {
            json!({"status": "disabled", "disabled_reason": "test"})
        } else {
            json!({ "status": status })
        })
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

#[test]
fn no_valid_host_for_one_server_then_verify_fails_and_a_rerun_retries_only_it() {
    // compute-2 keeps 6 VCPU free; the 4 servers need 7.
    let scenario = dead_compute_1().replacen(
        "name = \"compute-2\"\nrole = \"compute\"\ncinder_backends = [\"ceph\"]\nplacement = { vcpus = 8, memory_mb = 16384, disk_gb = 500, cpu_allocation_ratio = 2.0 }",
        "name = \"compute-2\"\nrole = \"compute\"\ncinder_backends = [\"ceph\"]\nplacement = { vcpus = 9, memory_mb = 16384, disk_gb = 500, cpu_allocation_ratio = 1.0 }",
        1,
    );
    assert_ne!(scenario, dead_compute_1());
    let cloud = SimCloud::with_scenario(&scenario);
    set_timing(&cloud, 3.0, 0.3);
    // The plan fits (compute-2, -3, -4 together); then, before the scheduler runs, compute-3
    // and compute-4 are disabled: only compute-2 is left, with room for 3 of the 4.
    let run = evacctl(
        &cloud,
        &["host-evacuate", "compute-1", "--yes", "-f", "json"],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.json()["summary"]["accepted"], 4);
    set_status(&cloud, "compute-3", "disabled");
    set_status(&cloud, "compute-4", "disabled");
    let run = verify_wait(&cloud, "json");
    assert_eq!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
    let v = run.json();
    assert_eq!(
        (v["summary"]["ok"].as_u64(), v["summary"]["failed"].as_u64()),
        (Some(3), Some(1)),
        "{v}"
    );
    let failed = v["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["check"] == "failed")
        .unwrap();
    assert!(
        failed["problem"]
            .as_str()
            .unwrap()
            .contains("migration error"),
        "{failed}"
    );
    let failed_id = failed["server_id"].as_str().unwrap().to_string();
    let list = servers(&cloud);
    let s = list.iter().find(|s| s["id"] == failed_id.as_str()).unwrap();
    assert_eq!(
        (s["host"].as_str(), s["status"].as_str()),
        (Some("compute-1"), Some("ERROR"))
    );
    assert!(
        s["fault"].as_str().unwrap().contains("No valid host"),
        "{s}"
    );

    // A re-run retries exactly that one (its evacuation failed after the journal's record),
    // once there is room again.
    set_status(&cloud, "compute-3", "enabled");
    set_timing(&cloud, 0.2, 0.2);
    let before = evacuate_posts(&cloud).len();
    let run = evacctl(
        &cloud,
        &["host-evacuate", "compute-1", "--yes", "-f", "json"],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    assert_eq!(report["summary"]["accepted"], 1, "{report}");
    assert_eq!(report["results"][0]["server_id"], failed_id.as_str());
    assert_eq!(evacuate_posts(&cloud).len(), before + 1);
    let run = evacctl(
        &cloud,
        &["verify", "compute-1", "--wait", "--timeout", "20s"],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("4 of 4 verified"), "{}", run.stdout);
}

#[test]
fn novas_refusals_are_shown_with_its_message_and_request_id() {
    let cloud = SimCloud::with_scenario(&dead_compute_1());
    for (status, body, want) in [
        (
            409,
            r#"{"conflictingRequest": {"code": 409, "message": "Cannot 'evacuate' instance while it is in vm_state building"}}"#,
            "Cannot 'evacuate'",
        ),
        (
            404,
            r#"{"itemNotFound": {"code": 404, "message": "Instance could not be found."}}"#,
            "could not be found",
        ),
        (
            400,
            r#"{"badRequest": {"code": 400, "message": "Compute service of compute-1 is still in use."}}"#,
            "still in use",
        ),
    ] {
        cloud.ctl(
            "POST",
            "faults",
            Some(json!({"method": "POST", "path_contains": "/action", "status": status, "body": body})),
        );
        let run = evacctl(&cloud, &["evacuate", "web-1"]);
        assert_eq!(run.code, 1, "{status}: {}\n{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(want), "{status}: {}", run.stderr);
        assert!(
            run.stderr.contains(&format!("HTTP {status}")),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("request-id req-"), "{}", run.stderr);
        assert!(run.stdout.contains("False"), "{}", run.stdout);
    }
    // In host-evacuate, one refusal among successes: partial, each row says why.
    cloud.ctl(
        "POST",
        "faults",
        Some(json!({"method": "POST", "path_contains": "/action", "status": 409, "count": 1})),
    );
    let run = evacctl(
        &cloud,
        &["host-evacuate", "compute-1", "--yes", "-f", "json"],
    );
    assert_eq!(run.code, 12, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    assert_eq!(report["summary"]["failed"], 1);
    assert_eq!(report["summary"]["accepted"], 3);
    let failed = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["accepted"] == false)
        .unwrap();
    assert!(
        failed["error"].as_str().unwrap().contains("409"),
        "{failed}"
    );
}

#[test]
fn refusals_before_anything_is_done() {
    // compute-1 alive: Nova would say "still in use"; evacctl says so first, and how to proceed.
    let cloud = SimCloud::with_scenario(SCENARIO);
    let run = evacctl(&cloud, &["evacuate", "web-1"]);
    assert_eq!(run.code, 13, "{}", run.stderr);
    assert!(
        run.stderr.contains("still in use") && run.stderr.contains("ipmi power off compute-1"),
        "{}",
        run.stderr
    );
    let run = evacctl(&cloud, &["host-evacuate", "compute-1", "--yes"]);
    assert_eq!(run.code, 13, "{}", run.stderr);
    assert!(run.stderr.contains("--force-down"), "{}", run.stderr);
    // --force-down needs the BMC's word: refused until the fencing driver is there.
    let run = evacctl(
        &cloud,
        &["host-evacuate", "compute-1", "--force-down", "--yes"],
    );
    assert_eq!(run.code, 13, "{}", run.stderr);
    assert!(
        run.stderr.contains("ipmi power off compute-1 --wait"),
        "{}",
        run.stderr
    );
    let host = cloud.ctl("GET", "hosts/compute-1", None);
    assert_eq!(
        host["host"]["services"][0]["forced_down"], false,
        "nothing changed"
    );
    // --dry-run shows the plan and the requests, sends nothing.
    let run = evacctl(
        &cloud,
        &["host-evacuate", "compute-1", "--force-down", "--dry-run"],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("PUT /os-services/") && run.stdout.contains("\"forced_down\":true"),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stdout.matches("POST /servers/").count(),
        4,
        "{}",
        run.stdout
    );
    assert!(evacuate_posts(&cloud).is_empty());
    // Unknown host: the known ones and the closest.
    let run = evacctl(&cloud, &["host-evacuate", "compute-l"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("did you mean `compute-1`"),
        "{}",
        run.stderr
    );
    let run = evacctl(&cloud, &["verify", "compute-7"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    // No terminal, no --yes: refused with its own exit code.
    cloud.power_off("compute-1");
    std::thread::sleep(Duration::from_millis(3200));
    let run = evacctl(&cloud, &["host-evacuate", "compute-1"]);
    assert_eq!(run.code, 10, "{}", run.stderr);
    assert!(evacuate_posts(&cloud).is_empty());
}

#[test]
fn an_ambiguous_name_lists_the_matches() {
    let scenario = format!(
        "{}\n[[servers]]\nname = \"twin\"\ncount = 2\nhost = \"compute-2\"\nflavor = \"m1.tiny\"\n",
        dead_compute_1()
    );
    let cloud = SimCloud::with_scenario(&scenario);
    let run = evacctl(&cloud, &["evacuate", "twin"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("2 servers are named `twin`"),
        "{}",
        run.stderr
    );
    let ids: Vec<String> = servers(&cloud)
        .iter()
        .filter(|s| s["name"] == "twin")
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        ids.iter().all(|id| run.stderr.contains(id.as_str())),
        "{}",
        run.stderr
    );
    let run = evacctl(&cloud, &["evacuate", "nothing-like-it"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn the_journal_alone_prevents_a_second_request() {
    let cloud = SimCloud::with_scenario(&dead_compute_1());
    let web1 = server(&servers(&cloud), "web-1")["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A previous run recorded its acceptance, but Nova's record is gone (a purged
    // migration): the journal still says "sent".
    std::fs::create_dir_all(journal(&cloud).parent().unwrap()).unwrap();
    let line = json!({"ts": "2026-11-22T03:00:00.000000Z", "run_id": "earlier", "kind": "result",
        "action": "evacuate", "host": "compute-1", "server": web1, "status": "accepted"});
    std::fs::write(journal(&cloud), format!("{line}\n")).unwrap();
    let run = evacctl(
        &cloud,
        &["host-evacuate", "compute-1", "--dry-run", "-f", "json"],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    let s = entry(&report, &web1);
    assert_eq!(s["reason_code"], "already-accepted", "{s}");
    assert!(s["reason"].as_str().unwrap().contains("earlier"), "{s}");
    assert_eq!(report["requests"].as_array().unwrap().len(), 3);
}

/// Fence, then isolate and evacuate, through the simulated Redfish BMC: `--force-down` acts
/// only on the BMC's word that the power is off (docs/design.md 2.1), then forces the service down
/// and disables it, in that order, before any evacuation.
#[test]
fn force_down_needs_the_bmcs_word_that_the_power_is_off() {
    let cloud = SimCloud::with_scenario(SCENARIO);
    let config = cloud.evacctl_config();
    let config = config.to_str().expect("a UTF-8 temp path");

    // Power on: refused, nothing changed, nothing sent.
    let run = evacctl(
        &cloud,
        &[
            "--config",
            config,
            "host-evacuate",
            "compute-1",
            "--force-down",
            "--yes",
        ],
    );
    assert_eq!(run.code, 13, "{}", run.stderr);
    assert!(
        run.stderr.contains("ipmi power off compute-1 --wait"),
        "{}",
        run.stderr
    );
    let host = cloud.ctl("GET", "hosts/compute-1", None);
    assert_eq!(host["host"]["services"][0]["forced_down"], false);
    assert!(evacuate_posts(&cloud).is_empty());

    // Fence through the BMC, then at once (no heartbeat timeout to wait for): isolated and
    // evacuated.
    let run = evacctl(
        &cloud,
        &[
            "--config",
            config,
            "ipmi",
            "power",
            "off",
            "compute-1",
            "--wait",
            "--yes",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("compute-1 fence successed"),
        "{}",
        run.stderr
    );
    let run = evacctl(
        &cloud,
        &[
            "--config",
            config,
            "host-evacuate",
            "compute-1",
            "--force-down",
            "--yes",
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let host = cloud.ctl("GET", "hosts/compute-1", None);
    let svc = &host["host"]["services"][0];
    assert_eq!(svc["forced_down"], true, "{svc}");
    assert_eq!(svc["status"], "disabled", "{svc}");
    assert!(
        svc["disabled_reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("evacctl: evacuated ")),
        "{svc}"
    );
    assert_eq!(
        evacuate_posts(&cloud).len(),
        4,
        "the four evacuable servers"
    );

    // The journal has the isolation before the first evacuation.
    let text = std::fs::read_to_string(journal(&cloud)).expect("journal");
    let first = |action: &str| {
        text.lines()
            .position(|l| l.contains(&format!("\"action\":\"{action}\"")))
            .unwrap_or(usize::MAX)
    };
    assert!(first("evacuate") != usize::MAX, "{text}");
    assert!(first("force-down") < first("evacuate"), "{text}");
}
