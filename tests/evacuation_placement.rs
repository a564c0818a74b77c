//! How host-evacuate counts room in Placement, against the simulated cloud: one
//! `GET /allocation_candidates` instead of two reads per host once the hosts are many, the
//! hosts the plan uses read before the plan is trusted unless the answer passed their
//! servers' sizes already (a max_unit the summaries do not show moves a server elsewhere),
//! and the per-host reads when Placement refuses the query.

mod common;

use common::sim::{Run, SimCloud};
use serde_json::{Value, json};

/// compute-1 dead with three small servers and one of 4 VCPUs; compute-2 has 32 VCPUs of
/// capacity from 2 cores (max_unit 2) and much memory: the emptiest host by the summaries,
/// where the big one cannot go. compute-3..6: 8 cores each.
fn scenario() -> String {
    let mut s = String::from(
        r#"
[cloud]
service_down_time = 2
report_interval = 1

[[users]]
name = "admin"
password = "pw"
domain = "Default"
project = "admin"
roles = ["admin"]

[[flavors]]
name = "m1.small"
vcpus = 1
ram = 512
disk = 1

[[flavors]]
name = "m1.big"
vcpus = 4
ram = 1024
disk = 1

[[servers]]
name = "small-{n}"
count = 3
host = "compute-1"
flavor = "m1.small"

[[servers]]
name = "big"
host = "compute-1"
flavor = "m1.big"

[[hosts]]
name = "ctl"
role = "controller"

[[hosts]]
name = "compute-1"
role = "compute"
powered_on = false

[[hosts]]
name = "compute-2"
role = "compute"
placement = { vcpus = 2, cpu_allocation_ratio = 16.0, memory_mb = 262144 }
"#,
    );
    for i in 3..=6 {
        s.push_str(&format!(
            "\n[[hosts]]\nname = \"compute-{i}\"\nrole = \"compute\"\n\
             placement = {{ vcpus = 8, cpu_allocation_ratio = 1.0, memory_mb = 16384 }}\n"
        ));
    }
    s
}

fn evacctl(cloud: &SimCloud, args: &[&str]) -> Run {
    cloud.evacctl_configured(args)
}

/// The Placement paths evacctl asked since the log was cleared.
fn placement_paths(cloud: &SimCloud) -> Vec<String> {
    cloud.ctl("GET", "requests", None)["requests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["path"].as_str())
        .filter(|p| p.starts_with("/placement/"))
        .map(str::to_string)
        .collect()
}

fn count(paths: &[String], tail: &str) -> usize {
    paths.iter().filter(|p| p.ends_with(tail)).count()
}

fn planned(report: &Value, name: &str) -> Value {
    report["servers"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == name))
        .map(|s| s["planned_target"].clone())
        .unwrap_or(Value::Null)
}

fn dry_run(cloud: &SimCloud, concurrency: &str) -> Value {
    dry_run_logged(cloud, concurrency).0
}

/// The report and evacctl's log.
fn dry_run_logged(cloud: &SimCloud, concurrency: &str) -> (Value, String) {
    cloud.ctl("DELETE", "requests", None);
    let run = evacctl(
        cloud,
        &[
            "host-evacuate",
            "compute-1",
            "--dry-run",
            "--concurrency",
            concurrency,
            "-f",
            "json",
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    (run.json(), run.stderr)
}

#[test]
fn many_hosts_are_counted_by_one_query_and_the_chosen_hosts_confirmed() {
    let cloud = SimCloud::with_scenario(&scenario());
    // Concurrency 1: more than 2 candidate hosts make the query pay.
    let (report, log) = dry_run_logged(&cloud, "1");
    assert!(
        log.contains("compute-2: VCPU 4 > max_unit 2"),
        "the first plan put big on compute-2: {log}"
    );
    let paths = placement_paths(&cloud);
    assert_eq!(count(&paths, "/allocation_candidates"), 1, "{paths:#?}");
    assert_eq!(count(&paths, "/usages"), 0, "{paths:#?}");
    let inventories = count(&paths, "/inventories");
    // The small ones are what the query asked: its answer passed their units already. Only
    // the hosts big went to are read (compute-2, then the next plan's).
    assert_eq!(inventories, 2, "{paths:#?}");
    let big = planned(&report, "big");
    assert!(
        big.is_string() && big != "compute-2",
        "compute-2's max_unit 2 refuses 4 VCPUs: {big}"
    );
    for n in 1..=3 {
        assert!(planned(&report, &format!("small-{n}")).is_string());
    }
    assert_eq!(report["plan"]["unplaced"], json!([]));
}

#[test]
fn few_hosts_or_a_refused_query_count_host_by_host() {
    let cloud = SimCloud::with_scenario(&scenario());
    // The default concurrency (10): 5 hosts are read in one round.
    let few = dry_run(&cloud, "10");
    let paths = placement_paths(&cloud);
    assert_eq!(count(&paths, "/allocation_candidates"), 0, "{paths:#?}");
    assert_eq!(count(&paths, "/usages"), 5, "{paths:#?}");

    // Placement answers the query 400 (as one without it would): per host, the same plan.
    cloud.ctl(
        "POST",
        "faults",
        Some(json!({"path_contains": "/allocation_candidates", "status": 400})),
    );
    let refused = dry_run(&cloud, "1");
    let paths = placement_paths(&cloud);
    assert_eq!(count(&paths, "/allocation_candidates"), 1, "{paths:#?}");
    assert_eq!(count(&paths, "/usages"), 5, "{paths:#?}");
    assert_eq!(refused["plan"], few["plan"]);
    assert_ne!(planned(&refused, "big"), json!("compute-2"));
}

#[test]
fn a_failing_query_is_an_error_and_nothing_is_sent() {
    let cloud = SimCloud::with_scenario(&scenario());
    cloud.ctl(
        "POST",
        "faults",
        Some(json!({"path_contains": "/allocation_candidates", "status": 500, "count": 10})),
    );
    let run = evacctl(
        &cloud,
        &["host-evacuate", "compute-1", "--concurrency", "1", "--yes"],
    );
    assert_ne!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("500"), "{}", run.stderr);
    assert_eq!(cloud.evacuate_posts(), Vec::<String>::new());
}

/// When the failed host's zone lacks room, the advice counts the other hosts too: with the
/// answer Placement already gave (the same query is not sent twice).
#[test]
fn advice_beyond_the_zone_asks_placement_nothing_twice() {
    let mut s = scenario();
    // Only compute-1's zone (az1) is short: compute-2 (max_unit 2) and two more 2-VCPU hosts
    // cannot take the 4-VCPU server; compute-3..6 become az2.
    s = s.replace("powered_on = false", "powered_on = false\nzone = \"az1\"");
    s = s.replace(
        "name = \"compute-2\"\nrole = \"compute\"",
        "name = \"compute-2\"\nrole = \"compute\"\nzone = \"az1\"",
    );
    s = s.replace(
        "role = \"compute\"\nplacement = { vcpus = 8",
        "role = \"compute\"\nzone = \"az2\"\nplacement = { vcpus = 8",
    );
    for i in 7..=8 {
        s.push_str(&format!(
            "\n[[hosts]]\nname = \"compute-{i}\"\nrole = \"compute\"\nzone = \"az1\"\n\
             placement = {{ vcpus = 2, cpu_allocation_ratio = 1.0, memory_mb = 16384 }}\n"
        ));
    }
    let cloud = SimCloud::with_scenario(&s);
    cloud.ctl("DELETE", "requests", None);
    let run = evacctl(
        &cloud,
        &[
            "host-evacuate",
            "compute-1",
            "--dry-run",
            "--concurrency",
            "1",
            "-f",
            "json",
        ],
    );
    assert_eq!(
        run.code, 13,
        "big fits nowhere in az1: {}\n{}",
        run.stdout, run.stderr
    );
    let report = run.json();
    let advice = report["suggestions"].to_string();
    assert!(advice.contains("--target compute-"), "{advice}");
    let paths = placement_paths(&cloud);
    assert_eq!(count(&paths, "/allocation_candidates"), 1, "{paths:#?}");
}
