//! Where a failed host's servers go, end to end against the simulated cloud: availability
//! zones (`scenarios/zones.toml`: compute-1/2 in az1, compute-3/4 in az2 and the `ssd`
//! aggregate), reserved hosts and Masakari's recovery methods, and priorities when room is
//! short (`scenarios/reserved.toml`: compute-4 a disabled spare, compute-1/2 nearly full).

mod common;

use common::sim::{Run, SimCloud};
use common::watch::{Watch, host_state, set_key};
use serde_json::Value;

const ZONES: &str = include_str!("../scenarios/zones.toml");
const RESERVED: &str = include_str!("../scenarios/reserved.toml");

/// The cloud with `[evacuation]` keys added to the configuration the simulator wrote.
fn with_evacuation(cloud: &SimCloud, keys: &[(&str, &str)]) {
    let path = cloud.evacctl_config();
    let mut text = std::fs::read_to_string(&path).expect("evacctl.toml");
    for (k, v) in keys {
        text = set_key(&text, "evacuation", k, v);
    }
    std::fs::write(&path, text).expect("write evacctl.toml");
}

fn evacctl(cloud: &SimCloud, args: &[&str]) -> Run {
    cloud.evacctl_configured(args)
}

fn journal(cloud: &SimCloud) -> Vec<Value> {
    std::fs::read_to_string(cloud.dir().join("journal.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// `host-evacuate HOST --force-down --dry-run -f json`: its report (exit 0 asserted).
fn dry_run(cloud: &SimCloud, host: &str) -> Value {
    let run = evacctl(
        cloud,
        &[
            "host-evacuate",
            host,
            "--force-down",
            "--dry-run",
            "-f",
            "json",
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    run.json()
}

/// The fields `a` and `b` of each object of a JSON array, as text.
fn pairs(list: &Value, a: &str, b: &str) -> Vec<(String, String)> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    list.as_array()
        .into_iter()
        .flatten()
        .map(|x| (text(&x[a]), text(&x[b])))
        .collect()
}

/// Every server's name and host, as the simulated cloud has them now.
fn hosts_of(cloud: &SimCloud) -> Vec<(String, String)> {
    pairs(
        &cloud.ctl("GET", "servers", None)["servers"],
        "name",
        "host",
    )
}

fn names_on(cloud: &SimCloud, host: &str) -> Vec<String> {
    let mut v: Vec<String> = hosts_of(cloud)
        .into_iter()
        .filter(|(_, h)| h == host)
        .map(|(n, _)| n)
        .collect();
    v.sort();
    v
}

/// The host-evacuate report's `excluded` as (host, why).
fn excluded(report: &Value) -> Vec<(String, String)> {
    pairs(&report["excluded"], "host", "why")
}

/// The evacuate requests' bodies of a dry run: (server name, host sent).
fn requested(report: &Value) -> Vec<(String, Value)> {
    let name_of = |id: &str| {
        report["servers"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["id"] == id))
            .and_then(|s| s["name"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    report["requests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["method"] == "POST")
        .map(|r| {
            let id = r["path"]
                .as_str()
                .unwrap_or_default()
                .trim_start_matches("/servers/")
                .trim_end_matches("/action")
                .to_string();
            (name_of(&id), r["body"]["evacuate"]["host"].clone())
        })
        .collect()
}

#[test]
fn a_failed_hosts_servers_stay_in_its_zone() {
    let cloud = SimCloud::with_scenario(ZONES);
    let before = names_on(&cloud, "compute-3");
    assert_eq!(before.len(), 3, "{before:?}");
    cloud.power_off("compute-3");

    // The plan: compute-4 only, the others named with why; every request names its host.
    let report = dry_run(&cloud, "compute-3");
    assert_eq!(report["candidates"], serde_json::json!(["compute-4"]));
    assert_eq!(report["scheduler_chooses"], false);
    let ex = excluded(&report);
    assert!(
        ex.contains(&("compute-1".into(), "zone az1, not az2".into())),
        "{ex:?}"
    );
    for (name, host) in requested(&report) {
        assert_eq!(host, "compute-4", "{name}");
    }
    // The table says it too.
    let run = evacctl(
        &cloud,
        &["host-evacuate", "compute-3", "--force-down", "--dry-run"],
    );
    assert!(run.stdout.contains("not candidates"), "{}", run.stdout);
    assert!(run.stdout.contains("zone az1, not az2"), "{}", run.stdout);

    // Without the rule, Nova's scheduler chooses (the simulated scheduler's emptiest host is
    // compute-1, in az1: what the rule is for).
    with_evacuation(&cloud, &[("same_zone", "false")]);
    let open = dry_run(&cloud, "compute-3");
    assert_eq!(open["scheduler_chooses"], true, "{open}");
    assert!(requested(&open).iter().all(|(_, h)| h.is_null()), "{open}");
    with_evacuation(&cloud, &[("same_zone", "true")]);

    let run = evacctl(
        &cloud,
        &["host-evacuate", "compute-3", "--force-down", "--yes"],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let run = evacctl(
        &cloud,
        &["verify", "compute-3", "--wait", "--timeout", "30s"],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let mut now = names_on(&cloud, "compute-4");
    now.retain(|n| before.contains(n));
    assert_eq!(
        now,
        before,
        "every server of compute-3 on compute-4: {:?}",
        hosts_of(&cloud)
    );
}

#[test]
fn tagged_aggregates_keep_servers_among_their_hosts() {
    let cloud = SimCloud::with_scenario(ZONES);
    cloud.power_off("compute-3");
    with_evacuation(
        &cloud,
        &[("same_zone", "false"), ("same_aggregate_keys", "[\"ssd\"]")],
    );
    let report = dry_run(&cloud, "compute-3");
    assert_eq!(report["candidates"], serde_json::json!(["compute-4"]));
    let ex = excluded(&report);
    assert!(
        ex.contains(&(
            "compute-2".into(),
            "no aggregate with ssd (the failed host's: true)".into()
        )),
        "{ex:?}"
    );
    // A host in no tagged aggregate is not held to one: compute-1's servers may go anywhere.
    cloud.power_on("compute-3");
    cloud.power_off("compute-1");
    let report = dry_run(&cloud, "compute-1");
    assert!(
        excluded(&report).iter().all(|(h, _)| h == "compute-3"),
        "{report}"
    );
}

#[test]
fn a_reserved_host_is_enabled_and_takes_every_server_in_host_evacuate() {
    let cloud = SimCloud::with_scenario(RESERVED);
    with_evacuation(
        &cloud,
        &[
            ("recovery_method", "\"reserved_host\""),
            ("reserved_hosts", "[\"compute-4\"]"),
        ],
    );
    // A spare is not a problem for check-services.
    let run = evacctl(&cloud, &["check-services", "-f", "json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        run.json()["summary"]["reserved_hosts"],
        serde_json::json!(["compute-4"])
    );

    let before = names_on(&cloud, "compute-3");
    cloud.power_off("compute-3");
    let run = evacctl(
        &cloud,
        &[
            "host-evacuate",
            "compute-3",
            "--force-down",
            "--yes",
            "-f",
            "json",
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    assert_eq!(report["spares_enabled"], serde_json::json!(["compute-4"]));
    let run = evacctl(
        &cloud,
        &["verify", "compute-3", "--wait", "--timeout", "30s"],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let mut now = names_on(&cloud, "compute-4");
    now.retain(|n| before.contains(n));
    assert_eq!(now, before, "{:?}", hosts_of(&cloud));
    // Journaled before and after, before the first evacuation request.
    let records = journal(&cloud);
    let at = |kind: &str, action: &str| {
        records
            .iter()
            .position(|r| r["kind"] == kind && r["action"] == action)
            .unwrap_or_else(|| panic!("no {kind} {action} in {records:?}"))
    };
    assert!(at("intent", "enable-reserved") < at("result", "enable-reserved"));
    assert!(at("result", "enable-reserved") < at("intent", "evacuate"));
    let enabled = records
        .iter()
        .find(|r| r["action"] == "enable-reserved" && r["kind"] == "result")
        .unwrap();
    assert_eq!(enabled["host"], "compute-4");
    assert_eq!(enabled["status"], "ok");
}

#[test]
fn with_too_little_room_the_highest_priorities_are_evacuated() {
    let cloud = SimCloud::with_scenario(RESERVED);
    cloud.power_off("compute-3");
    // recovery_method auto: compute-4 stays a spare; compute-1 and compute-2 have room for
    // two of the five.
    let run = evacctl(
        &cloud,
        &[
            "host-evacuate",
            "compute-3",
            "--force-down",
            "--dry-run",
            "-f",
            "json",
        ],
    );
    assert_eq!(
        run.code, 13,
        "refused without --allow-partial: {}",
        run.stdout
    );
    let run = evacctl(
        &cloud,
        &[
            "host-evacuate",
            "compute-3",
            "--force-down",
            "--allow-partial",
            "--yes",
            "-f",
            "json",
        ],
    );
    let report = run.json();
    let accepted: Vec<&str> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["accepted"] == true)
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    // db-1 (metadata 100) first, then api-1 (its flavor's extra spec, 70): in that order.
    assert_eq!(accepted, ["db-1", "api-1"], "{report}");
    let left: Vec<(String, i64)> = report["plan"]["unplaced"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["server_name"].as_str().unwrap().to_string(),
                u["priority"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(left.iter().all(|(_, p)| *p < 70), "{left:?}");
    let spare = excluded(&report);
    assert!(
        spare
            .iter()
            .any(|(h, w)| h == "compute-4" && w.starts_with("reserved")),
        "{spare:?}"
    );
}

#[test]
fn watch_enables_a_spare_for_a_failure_and_keeps_the_others_reserved() {
    // compute-4 starts enabled: watch reserves it (configured, empty, not consumed); compute-1
    // is configured too but holds servers: left alone, said once.
    let scenario = RESERVED.replace("disabled_reason = \"evacctl: reserved\"\n", "");
    let w = Watch::start(&scenario, &[]);
    with_evacuation(
        &w.cloud,
        &[
            ("recovery_method", "\"rh_priority\""),
            ("reserved_hosts", "[\"compute-4\", \"compute-1\"]"),
        ],
    );
    let (run, _) = w.once();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let svc = w.service("compute-4");
    assert_eq!(svc["status"], "disabled", "{svc}");
    assert_eq!(svc["disabled_reason"], "evacctl: reserved", "{svc}");
    assert_eq!(w.service("compute-1")["status"], "enabled");
    assert!(
        run.stderr
            .contains("reserved host compute-1 is enabled and holds"),
        "{}",
        run.stderr
    );
    let reserve = w
        .records()
        .into_iter()
        .filter(|r| r["action"] == "reserve")
        .map(|r| (r["kind"].as_str().unwrap().to_string(), r["host"].clone()))
        .collect::<Vec<_>>();
    assert_eq!(
        reserve,
        [
            ("intent".to_string(), Value::from("compute-4")),
            ("result".to_string(), Value::from("compute-4"))
        ]
    );
    // A second cycle changes nothing.
    let changes = w.changes().len();
    w.once();
    assert_eq!(w.changes().len(), changes);

    // The failure: rh_priority puts everything on the spare, enabled first.
    let before = names_on(&w.cloud, "compute-3");
    w.cloud.power_off("compute-3");
    let report = w.until("compute-3", &["evacuated", "alert"], 60);
    assert_eq!(host_state(&report, "compute-3"), "evacuated", "{report}");
    let mut now = names_on(&w.cloud, "compute-4");
    now.retain(|n| before.contains(n));
    assert_eq!(now, before, "{:?}", hosts_of(&w.cloud));
    assert_eq!(w.service("compute-4")["status"], "enabled");
    // Consumed: later cycles do not reserve it again.
    w.once();
    assert_eq!(w.service("compute-4")["status"], "enabled");
    let told = w.records().into_iter().any(|r| {
        r["detail"]
            .as_str()
            .is_some_and(|d| d.contains("reserved host(s) enabled and consumed: compute-4"))
    });
    assert!(
        told,
        "the report names the spare consumed: {:?}",
        w.records()
    );
}

#[test]
fn a_recovery_method_without_spares_is_a_configuration_error() {
    let cloud = SimCloud::with_scenario(RESERVED);
    with_evacuation(&cloud, &[("recovery_method", "\"reserved_host\"")]);
    let run = evacctl(&cloud, &["check-services"]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("evacuation.recovery_method")
            && run.stderr.contains("needs reserved hosts"),
        "{}",
        run.stderr
    );
    with_evacuation(&cloud, &[("recovery_method", "\"sometimes\"")]);
    let run = evacctl(&cloud, &["check-services"]);
    assert!(run.stderr.contains("recovery_method"), "{}", run.stderr);
}

#[test]
fn one_server_evacuated_by_hand_stays_in_its_zone() {
    let scenario = ZONES.replace(
        "name = \"compute-3\"\nrole = \"compute\"",
        "name = \"compute-3\"\nrole = \"compute\"\npowered_on = false",
    );
    let cloud = SimCloud::with_scenario(&scenario);
    let run = evacctl(&cloud, &["evacuate", "db-1", "--dry-run", "-f", "json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    assert_eq!(
        report["request"]["body"]["evacuate"]["host"], "compute-4",
        "{report}"
    );
    // Named by the operator: taken as given (Nova's scheduler still checks it).
    let run = evacctl(
        &cloud,
        &[
            "evacuate",
            "db-1",
            "--target",
            "compute-1",
            "--dry-run",
            "-f",
            "json",
        ],
    );
    assert_eq!(
        run.json()["request"]["body"]["evacuate"]["host"],
        "compute-1"
    );
    let run = evacctl(&cloud, &["evacuate", "db-1"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let run = evacctl(
        &cloud,
        &["verify", "compute-3", "--wait", "--timeout", "30s"],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(names_on(&cloud, "compute-4").contains(&"db-1".to_string()));
}

#[test]
fn a_spare_with_an_evacuation_on_its_way_is_not_reserved() {
    // compute-4 configured as a spare but enabled; an operator evacuates a server onto it by
    // hand (another journal), slowly: watch must not disable it under that request.
    let scenario = RESERVED.replace("disabled_reason = \"evacctl: reserved\"\n", "");
    let scenario = scenario.replace(
        "name = \"compute-3\"\nrole = \"compute\"",
        "name = \"compute-3\"\nrole = \"compute\"\npowered_on = false",
    );
    let w = Watch::start(&scenario, &[]);
    with_evacuation(&w.cloud, &[("reserved_hosts", "[\"compute-4\"]")]);
    w.cloud.ctl(
        "POST",
        "compute",
        Some(serde_json::json!({"evacuate_accept_delay": 30.0, "evacuate_rebuild_delay": 1.0})),
    );
    let other_journal = w.cloud.dir().join("operator.jsonl");
    let run = w.cloud.evacctl(
        &["evacuate", "db-1", "--target", "compute-4"],
        &[
            ("EVACCTL_CONFIG", w.cloud.evacctl_config().to_str().unwrap()),
            ("EVACCTL_JOURNAL", other_journal.to_str().unwrap()),
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let (run, _) = w.once();
    assert!(
        run.stderr.contains("evacuation(s) on their way to it"),
        "{}",
        run.stderr
    );
    assert_eq!(w.service("compute-4")["status"], "enabled");
}
