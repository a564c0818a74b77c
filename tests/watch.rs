//! `evacctl watch` end to end, one test per failure case of origin documents C and D (docs/origins.md): the real binary,
//! cycle by cycle (`watch --once`, as cron runs it: every cycle resumes from the journal),
//! against the simulated cloud (`scenarios/demo.toml` with a fast heartbeat: compute-3 holds
//! five evacuable servers, one that never ran, and two Cinder volumes).

mod common;

use std::time::{Duration, Instant};

use common::sim::SimCloud;
use common::watch::*;
use serde_json::{Value, json};

#[test]
fn power_loss_is_fenced_isolated_volumes_moved_evacuated_and_verified() {
    let w = Watch::start(&scenario(), &[]);
    let (run, report) = w.once();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(host_state(&report, "compute-3"), "healthy", "{report}");

    w.cloud.power_off("compute-3");
    // Seen once: suspect, nothing done.
    let (_, report) = w.once();
    assert_eq!(host_state(&report, "compute-3"), "suspect", "{report}");
    assert!(w.changes().is_empty(), "{:?}", w.changes());

    let report = w.until("compute-3", &["evacuated", "alert"], 60);
    assert_eq!(host_state(&report, "compute-3"), "evacuated", "{report}");
    let svc = w.service("compute-3");
    assert_eq!(svc["forced_down"], true, "{svc}");
    assert_eq!(svc["status"], "disabled", "{svc}");
    assert!(
        svc["disabled_reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("evacctl: evacuated")),
        "{svc}"
    );
    // Order in the journal: fence, force-down, disable, volumes, evacuations.
    let records = w.records();
    let fence = first(&records, "fence", "result");
    let force = first(&records, "force-down", "intent");
    let disable = first(&records, "disable", "intent");
    let volume = first(&records, "volume-update-host", "intent");
    let evacuate = first(&records, "evacuate", "intent");
    assert!(
        fence < force && force < disable && disable < volume && volume < evacuate,
        "fence {fence} force-down {force} disable {disable} volume {volume} evacuate {evacuate}"
    );
    assert_eq!(w.evacuate_posts().len(), 5, "{:?}", w.evacuate_posts());

    // More cycles: nothing is sent twice; --status shows the history.
    let before = w.changes().len();
    let (run, report) = w.once();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(host_state(&report, "compute-3"), "evacuated");
    assert_eq!(w.changes().len(), before, "{:?}", w.changes());
    let run = w.evacctl(&["watch", "--status", "-f", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let status = run.json();
    assert_eq!(
        status["evacuations"].as_array().map(Vec::len),
        Some(5),
        "{status}"
    );
    let run = w.evacctl(&["watch", "--status"]);
    assert!(run.stdout.contains("Evacuation history"), "{}", run.stdout);
}

/// A long journal (a year of it) is resumed from the checkpoint `watch` keeps beside it: each
/// cron run folds the checkpoint and what came since, and the runbook goes on as with a short
/// journal. A dry run leaves no checkpoint behind.
#[test]
fn a_long_journal_is_resumed_from_its_checkpoint() {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;
    let w = Watch::start(&scenario(), &[]);
    let journal = w.journal();
    std::fs::create_dir_all(journal.parent().unwrap()).unwrap();
    // The past: 1.5 MiB of states and observations, and an earlier failure of compute-3 whose
    // evacuation was accepted before it came back healthy (it blocks nothing now).
    let mut past = String::new();
    let mut line = |v: Value| past.push_str(&format!("{v}\n"));
    for i in 0..6_000 {
        let host = ["compute-1", "compute-2"][i % 2];
        line(
            json!({"ts": "2025-12-03T10:00:00.000000Z", "run_id": "old", "kind": "event",
            "action": "state", "host": host, "status": "healthy",
            "detail": format!("seen healthy {i} times {}", "x".repeat(200))}),
        );
        if i % 100 == 0 {
            line(json!({"ts": "2025-12-03T10:00:00.000000Z", "run_id": "old",
                "kind": "event", "action": "observe", "status": "failed"}));
        }
    }
    line(
        json!({"ts": "2025-12-03T11:00:00.000000Z", "run_id": "old", "kind": "result",
        "action": "evacuate", "host": "compute-3", "server": "earlier", "status": "accepted"}),
    );
    line(
        json!({"ts": "2025-12-03T12:00:00.000000Z", "run_id": "old", "kind": "event",
        "action": "state", "host": "compute-3", "status": "healthy"}),
    );
    line(
        json!({"ts": "2025-12-03T12:00:00.000000Z", "run_id": "old", "kind": "event",
        "action": "observe", "status": "ok"}),
    );
    std::fs::File::create(&journal)
        .unwrap()
        .write_all(past.as_bytes())
        .unwrap();
    let checkpoint = journal.with_file_name("journal.jsonl.checkpoint");

    let run = w.evacctl(&["watch", "--once", "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!checkpoint.exists(), "a dry run wrote a checkpoint");
    let (run, report) = w.once();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(host_state(&report, "compute-3"), "healthy", "{report}");
    let mode = std::fs::metadata(&checkpoint).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    w.cloud.power_off("compute-3");
    let report = w.until("compute-3", &["evacuated", "alert"], 60);
    assert_eq!(host_state(&report, "compute-3"), "evacuated", "{report}");
    assert_eq!(w.evacuate_posts().len(), 5, "{:?}", w.evacuate_posts());
    // A new process resumes where the last left off, sends nothing more.
    let before = w.changes().len();
    let (run, report) = w.once();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(host_state(&report, "compute-3"), "evacuated", "{report}");
    assert_eq!(w.changes().len(), before, "{:?}", w.changes());
}

#[test]
fn storage_network_cut_only_is_fenced_and_evacuated() {
    let w = Watch::start(&scenario(), &[]);
    w.cloud.network("compute-3", "storage", "cut");
    let report = w.until("compute-3", &["evacuated", "alert"], 60);
    assert_eq!(host_state(&report, "compute-3"), "evacuated", "{report}");
    // The host was alive: evacctl powered it off through its BMC before anything else.
    assert!(!w.powered_on("compute-3"));
    let resets: Vec<_> = w
        .changes()
        .into_iter()
        .filter(|(_, p)| p.contains("ComputerSystem.Reset"))
        .collect();
    assert_eq!(resets.len(), 1, "{resets:?}");
    let records = w.records();
    assert!(first(&records, "fence", "result") < first(&records, "force-down", "intent"));
}

#[test]
fn management_network_cut_only_warns_and_does_nothing() {
    let w = Watch::start(&scenario(), &[]);
    w.cloud.network("compute-3", "management", "cut");
    for _ in 0..4 {
        let (run, report) = w.once();
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(host_state(&report, "compute-3"), "degraded", "{report}");
        assert!(
            host_reason(&report, "compute-3").contains("management"),
            "{report}"
        );
    }
    assert!(w.changes().is_empty(), "{:?}", w.changes());
    assert!(w.powered_on("compute-3"));
}

#[test]
fn nova_compute_crash_is_repaired_by_the_repair_command() {
    let sim = common::sim::sim_exe();
    // The repair command gets the host appended and the failure kind in its environment; this
    // one records both and restarts nova-compute through the simulator's control API.
    let w = Watch::start(&scenario(), &[]);
    let script = w.cloud.dir().join("repair.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$EVACCTL_FAILURE_KIND $1\" >> {}\nexec {sim} ctl --url {} start \"$1\" nova-compute\n",
            w.cloud.dir().join("repaired").display(),
            w.cloud.url()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = w.cloud.evacctl_config();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        set_key(
            &text,
            "policy",
            "repair_command",
            &json!([script.to_str().unwrap()]).to_string(),
        ),
    )
    .unwrap();

    w.cloud
        .ctl("POST", "hosts/compute-3/services/nova-compute/crash", None);
    let report = w.until("compute-3", &["recovering", "alert", "fencing"], 30);
    assert_eq!(host_state(&report, "compute-3"), "recovering", "{report}");
    let repaired = std::fs::read_to_string(w.cloud.dir().join("repaired")).unwrap_or_default();
    assert_eq!(repaired.trim(), "service compute-3");
    let report = w.until("compute-3", &["healthy"], 30);
    assert_eq!(host_state(&report, "compute-3"), "healthy");
    assert!(w.changes().is_empty(), "{:?}", w.changes());
}

#[test]
fn nova_compute_crash_not_repaired_is_fenced_and_evacuated() {
    let w = Watch::start(&scenario(), &[("repair_command", "[\"false\"]")]);
    w.cloud
        .ctl("POST", "hosts/compute-3/services/nova-compute/crash", None);
    let report = w.until("compute-3", &["evacuated", "alert"], 60);
    assert_eq!(host_state(&report, "compute-3"), "evacuated", "{report}");
    let records = w.records();
    let repair = records
        .iter()
        .find(|r| r["action"] == "repair" && r["kind"] == "result")
        .cloned()
        .unwrap_or_default();
    assert_eq!(repair["status"], "failed", "{repair}");
    assert!(first(&records, "repair", "result") < first(&records, "fence", "intent"));
    assert!(!w.powered_on("compute-3"));
}

#[test]
fn nova_heartbeat_lost_while_the_node_says_it_runs_waits_and_warns() {
    let w = Watch::start(&scenario(), &[]);
    w.cloud.ctl(
        "POST",
        "hosts/compute-3/services/nova-compute/disconnect",
        None,
    );
    std::thread::sleep(Duration::from_secs(3));
    for _ in 0..3 {
        let (_, report) = w.once();
        assert_eq!(host_state(&report, "compute-3"), "degraded", "{report}");
        assert!(
            host_reason(&report, "compute-3").contains("heartbeat"),
            "{report}"
        );
    }
    assert!(w.changes().is_empty(), "{:?}", w.changes());
}

#[test]
fn every_host_failing_at_once_is_no_action_and_an_alert() {
    let w = Watch::start(&scenario(), &[]);
    for h in ["compute-1", "compute-2", "compute-3", "compute-4"] {
        w.cloud.power_off(h);
    }
    for _ in 0..4 {
        let (run, report) = w.once();
        assert!(
            run.code == 4 || run.code == 7,
            "{}\n{}",
            run.code,
            run.stderr
        );
        assert_ne!(report["gate"], "open", "{report}");
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(w.changes().is_empty(), "{:?}", w.changes());
    assert!(
        w.records().iter().any(|r| r["action"] == "alert"),
        "{:?}",
        w.records()
    );
}

#[test]
fn two_hosts_failing_is_the_mass_failure_gate() {
    let w = Watch::start(&scenario(), &[]);
    w.cloud.network("compute-2", "storage", "cut");
    w.cloud.network("compute-3", "storage", "cut");
    for _ in 0..4 {
        let (run, report) = w.once();
        assert_eq!(run.code, 4, "{}", run.stderr);
        assert_eq!(report["gate"], "mass-failure", "{report}");
    }
    assert!(w.changes().is_empty(), "{:?}", w.changes());
    // One comes back: the other is handled.
    w.cloud.network("compute-2", "storage", "restore");
    let report = w.until("compute-3", &["evacuated", "alert"], 60);
    assert_eq!(host_state(&report, "compute-3"), "evacuated", "{report}");
}

/// With the mass-failure gate opened to two hosts, two hosts failing together are both
/// handled, but not in the same cycle: `max_hosts_per_cycle = 1` holds the second one.
#[test]
fn at_most_max_hosts_per_cycle_hosts_start_per_cycle() {
    let w = Watch::start(
        &scenario(),
        &[
            ("max_failed_hosts", "2"),
            ("max_failed_percent", "50"),
            ("max_hosts_per_cycle", "1"),
        ],
    );
    w.cloud.network("compute-2", "storage", "cut");
    w.cloud.network("compute-3", "storage", "cut");
    let committed = |s: &str| !matches!(s, "healthy" | "suspect" | "failed" | "degraded");
    let deadline = Instant::now() + Duration::from_secs(60);
    let report = loop {
        assert!(Instant::now() < deadline, "neither host was ever fenced");
        let (run, report) = w.once();
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(report["gate"], "open", "{report}");
        if ["compute-2", "compute-3"]
            .iter()
            .any(|h| committed(&host_state(&report, h)))
        {
            break report;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    // The cycle that started one host held the other, and said why.
    let states: Vec<String> = ["compute-2", "compute-3"]
        .iter()
        .map(|h| host_state(&report, h))
        .collect();
    let held = if committed(&states[0]) {
        "compute-3"
    } else {
        "compute-2"
    };
    assert_eq!(host_state(&report, held), "failed", "{report}");
    assert!(
        host_field(&report, held, "next").contains("max_hosts_per_cycle"),
        "{report}"
    );
    // Both end evacuated, each started by a different run (one cycle per `--once` run).
    for h in ["compute-2", "compute-3"] {
        let report = w.until(h, &["evacuated", "alert"], 60);
        assert_eq!(host_state(&report, h), "evacuated", "{report}");
    }
    let fencing_run = |h: &str| {
        w.records()
            .into_iter()
            .find(|r| r["action"] == "state" && r["host"] == h && r["status"] == "fencing")
            .map(|r| r["run_id"].clone())
            .expect("a fencing record")
    };
    assert_ne!(fencing_run("compute-2"), fencing_run("compute-3"));
    let per_server = w.evacuations_per_server();
    assert!(per_server.values().all(|n| *n == 1), "{per_server:?}");
}

#[test]
fn an_isolated_observer_acts_on_nothing() {
    let w = Watch::start(&scenario(), &[]);
    w.cloud.ctl("POST", "consul/management/observer/cut", None);
    w.cloud.power_off("compute-3");
    for _ in 0..4 {
        let (run, report) = w.once();
        assert_eq!(run.code, 7, "{}", run.stderr);
        assert_eq!(report["gate"], "observer-isolated", "{report}");
    }
    assert!(w.changes().is_empty(), "{:?}", w.changes());
}

fn bmc_fault_is_an_alert_and_no_evacuation(fault: &str) {
    let w = Watch::start(&scenario(), &[]);
    w.cloud
        .ctl("POST", "hosts/compute-3/bmc", Some(json!({"fault": fault})));
    w.cloud.network("compute-3", "storage", "cut");
    let report = w.until("compute-3", &["alert", "evacuated", "isolated"], 60);
    assert_eq!(host_state(&report, "compute-3"), "alert", "{report}");
    assert!(
        host_reason(&report, "compute-3").contains("not evacuated"),
        "{report}"
    );
    let svc = w.service("compute-3");
    assert_eq!(svc["forced_down"], false, "{svc}");
    assert_eq!(svc["status"], "enabled", "{svc}");
    assert!(w.evacuate_posts().is_empty());
    // The alert holds: later cycles do nothing more.
    let before = w.changes().len();
    let (run, _) = w.once();
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert_eq!(w.changes().len(), before);
}

#[test]
fn a_lying_bmc_is_an_alert_and_no_evacuation() {
    bmc_fault_is_an_alert_and_no_evacuation("lying");
}

#[test]
fn a_failing_bmc_is_an_alert_and_no_evacuation() {
    bmc_fault_is_an_alert_and_no_evacuation("failing");
}

#[test]
fn an_unreachable_bmc_is_an_alert_and_no_evacuation() {
    let w = Watch::start(&scenario(), &[]);
    // compute-3's BMC on a port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let path = w.cloud.evacctl_config();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        set_key(&text, "hosts.\"compute-3\".bmc", "port", &port.to_string()),
    )
    .unwrap();
    w.cloud.power_off("compute-3");
    let report = w.until("compute-3", &["alert", "evacuated"], 60);
    assert_eq!(host_state(&report, "compute-3"), "alert", "{report}");
    assert!(w.evacuate_posts().is_empty());
    assert_eq!(w.service("compute-3")["forced_down"], false);
}

#[test]
fn not_enough_capacity_evacuates_what_fits_then_alerts() {
    // Every other compute takes one m1.small (2 VCPU) only.
    let small = scenario().replace(
        "role = \"compute\"\ncinder_backends = [\"ceph\"]",
        "role = \"compute\"\ncinder_backends = [\"ceph\"]\nplacement = { vcpus = 2, memory_mb = 4096, disk_gb = 100, cpu_allocation_ratio = 1.0 }",
    );
    let w = Watch::start(&small, &[]);
    w.cloud.power_off("compute-3");
    let report = w.until("compute-3", &["alert", "evacuated"], 60);
    assert_eq!(host_state(&report, "compute-3"), "alert", "{report}");
    assert!(
        host_reason(&report, "compute-3").contains("do not fit"),
        "{report}"
    );
    assert_eq!(w.evacuate_posts().len(), 3, "{:?}", w.evacuate_posts());

    // partial_evacuation = false: nothing is evacuated.
    let w = Watch::start(&small, &[("partial_evacuation", "false")]);
    w.cloud.power_off("compute-3");
    let report = w.until("compute-3", &["alert", "evacuated"], 60);
    assert!(
        host_reason(&report, "compute-3").contains("not enough capacity"),
        "{report}"
    );
    assert!(w.evacuate_posts().is_empty());
}

#[test]
fn a_flapping_host_is_held() {
    let w = Watch::start(&scenario(), &[]);
    for _ in 0..2 {
        w.cloud.network("compute-3", "storage", "cut");
        let (_, report) = w.once();
        assert_eq!(host_state(&report, "compute-3"), "suspect");
        w.cloud.network("compute-3", "storage", "restore");
        let (_, report) = w.once();
        assert_eq!(host_state(&report, "compute-3"), "healthy");
    }
    w.cloud.network("compute-3", "storage", "cut");
    for _ in 0..4 {
        let (_, report) = w.once();
        assert_eq!(host_state(&report, "compute-3"), "suspect", "{report}");
    }
    let (_, report) = w.once();
    assert!(
        host_reason(&report, "compute-3").contains("flapping"),
        "{report}"
    );
    assert!(w.changes().is_empty(), "{:?}", w.changes());
    assert!(
        w.records().iter().any(|r| r["action"] == "alert"
            && r["detail"].as_str().is_some_and(|d| d.contains("flapping"))),
        "{:?}",
        w.records()
    );
}

/// SIGKILL while `action`'s request is in flight (slowed down by `slow`), then resume with
/// `watch --once` until done: every server evacuated exactly once, the host powered off once.
fn killed_then_resumed(action: &str, slow: impl Fn(&Watch)) {
    killed_then_resumed_with(action, &[], slow);
}

fn killed_then_resumed_with(action: &str, policy: &[(&str, &str)], slow: impl Fn(&Watch)) {
    let w = Watch::start(&scenario(), policy);
    slow(&w);
    // The host stays alive (storage cut only): fencing has to power it off.
    w.cloud.network("compute-3", "storage", "cut");
    let mut child = w.spawn_loop();
    let hit = SimCloud::wait_for(Duration::from_secs(40), || {
        w.records()
            .iter()
            .any(|r| r["action"] == action && r["kind"] == "intent")
    });
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert!(
        hit.is_some(),
        "no {action} intent; journal:\n{:#?}",
        w.records()
    );
    // The killed run left no result for that request.
    let records = w.records();
    let intents = records
        .iter()
        .filter(|r| r["action"] == action && r["kind"] == "intent")
        .count();
    let results = records
        .iter()
        .filter(|r| r["action"] == action && r["kind"] == "result")
        .count();
    assert!(results < intents, "{action}: killed too late: {records:#?}");
    w.cloud.ctl("DELETE", "faults", None);
    w.cloud.ctl(
        "POST",
        "hosts/compute-3/bmc",
        Some(json!({"fault": "none"})),
    );

    let report = w.until("compute-3", &["evacuated", "alert"], 90);
    assert_eq!(host_state(&report, "compute-3"), "evacuated", "{report}");
    let per_server = w.evacuations_per_server();
    assert_eq!(per_server.len(), 5, "{per_server:?}");
    assert!(per_server.values().all(|n| *n == 1), "{per_server:?}");
    // The killed run's requests are in this journal: the restarted watch, taking the leader
    // lock from it, has nothing to hold.
    assert!(
        !w.records().iter().any(|r| r["action"] == "takeover"),
        "{:#?}",
        w.records()
    );
    let force_offs = w
        .requests()
        .into_iter()
        .filter(|(m, p)| m == "POST" && p.contains("compute-3") && p.contains("Reset"))
        .count();
    assert_eq!(force_offs, 1, "the host is powered off once");
    assert!(!w.powered_on("compute-3"));
}

#[test]
fn sigkill_while_fencing_then_resume() {
    killed_then_resumed("fence", |w| {
        w.cloud.ctl(
            "POST",
            "hosts/compute-3/bmc",
            Some(json!({"fault": "none", "latency_ms": 1500})),
        );
    });
}

#[test]
fn sigkill_while_forcing_down_then_resume() {
    killed_then_resumed("force-down", |w| {
        w.cloud.ctl(
            "POST",
            "faults",
            Some(json!({"method": "PUT", "path_contains": "/os-services/", "latency_ms": 3000, "count": 1})),
        );
    });
}

/// As Zed did: evacctl killed while Nova still handles its evacuation requests (they land
/// after the kill: Nova's API finishes a request whose client is gone), rebuilds slow enough
/// that a second request would find the first still running, which Nova accepts (then the
/// server ends in ERROR). The resumed run must wait for Nova to show them, not send them again.
#[test]
fn sigkill_while_evacuating_then_resume() {
    killed_then_resumed("evacuate", |w| {
        slow_evacuations(w, 5);
    });
}

/// Evacuation requests answered 3 s late (the first `count`), rebuilds of 3 s, and an API
/// timeout of 5 s (a request the kill kept from leaving is sent again after it).
fn slow_evacuations(w: &Watch, count: u32) {
    let path = w.cloud.evacctl_config();
    let text = std::fs::read_to_string(&path).expect("evacctl.toml");
    std::fs::write(&path, set_key(&text, "cloud", "api_timeout", "\"5s\""))
        .expect("write evacctl.toml");
    w.cloud.ctl(
        "POST",
        "compute",
        Some(json!({"evacuate_rebuild_delay": 3.0})),
    );
    w.cloud.ctl(
        "POST",
        "faults",
        Some(json!({"method": "POST", "path_contains": "/action", "latency_ms": 3000, "count": count})),
    );
}

/// Killed with one request out and the others never sent (one at a time): the one out lands
/// and is not sent again; the others are sent once the API timeout since the killed run's last
/// record has passed (they cannot be in Nova's hands any more).
#[test]
fn sigkill_with_requests_never_sent_then_resume() {
    killed_then_resumed_with("evacuate", &[("evacuate_concurrency", "1")], |w| {
        slow_evacuations(w, 1);
    });
}

#[test]
fn sigkill_while_verifying_then_resume() {
    let w = Watch::start(&scenario(), &[]);
    // Slow rebuilds: the evacuations are accepted, the verification waits for them.
    w.cloud.ctl(
        "POST",
        "compute",
        Some(json!({"evacuate_rebuild_delay": 3.0})),
    );
    w.cloud.network("compute-3", "storage", "cut");
    let mut child = w.spawn_loop();
    let hit = SimCloud::wait_for(Duration::from_secs(40), || {
        w.records()
            .iter()
            .any(|r| r["action"] == "state" && r["status"] == "verifying")
    });
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert!(hit.is_some(), "{:#?}", w.records());
    let report = w.until("compute-3", &["evacuated", "alert"], 90);
    assert_eq!(host_state(&report, "compute-3"), "evacuated", "{report}");
    assert!(w.evacuations_per_server().values().all(|n| *n == 1));
}

#[test]
fn sigterm_finishes_the_step_and_exits_cleanly() {
    let w = Watch::start(&scenario(), &[]);
    let mut child = w.spawn_loop();
    std::thread::sleep(Duration::from_secs(1));
    let pid = child.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let code = SimCloud::wait_for(Duration::from_secs(20), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    assert!(code.is_some(), "watch did not stop on SIGTERM");
    assert_eq!(child.wait().ok().and_then(|s| s.code()), Some(0));
}

#[test]
fn notifications_tell_each_state_change_and_a_failing_channel_blocks_nothing() {
    let w = Watch::start(&scenario(), &[]);
    let events = w.events_hook();
    // A webhook nobody answers: its retries must not hold anything up.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!(
        "http://127.0.0.1:{}/hook",
        listener.local_addr().unwrap().port()
    );
    drop(listener);
    let path = w.cloud.evacctl_config();
    let text = std::fs::read_to_string(&path).unwrap();
    let text = set_key(&text, "notify", "webhook_url", &json!(dead).to_string());
    std::fs::write(&path, text).unwrap();

    // The hook gets the test event; the dead webhook makes --test-notify fail, naming it.
    let run = w.evacctl(&["watch", "--test-notify"]);
    assert_eq!(run.code, 12, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("the test notification failed through webhook: "),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("failed through command"),
        "{}",
        run.stderr
    );

    w.cloud.power_off("compute-3");
    let report = w.until("compute-3", &["evacuated", "alert"], 60);
    assert_eq!(host_state(&report, "compute-3"), "evacuated", "{report}");
    let got = events_in(&events);
    let kinds: Vec<&str> = got.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(
        kinds,
        ["test", "failed", "fenced", "isolated", "evacuated"],
        "{got:#?}"
    );
    let fenced = &got[2];
    assert_eq!(fenced["host"], "compute-3");
    assert_eq!(fenced["previous_state"], "fencing");
    assert!(
        fenced["reason"]
            .as_str()
            .unwrap()
            .contains("power confirmed off")
    );
    assert!(fenced["controller"].as_str().is_some_and(|c| !c.is_empty()));
}

#[test]
fn repeated_api_failures_are_an_alert_across_cron_runs() {
    let w = Watch::start(&scenario(), &[]);
    w.cloud.ctl(
        "POST",
        "faults",
        Some(json!({"method": "GET", "path_contains": "os-services", "status": 503, "count": 100})),
    );
    for i in 1..=3 {
        let (run, _) = w.once();
        assert_ne!(run.code, 0, "cycle {i}: {}", run.stderr);
        assert!(
            run.stderr.contains("cannot observe the cloud"),
            "{}",
            run.stderr
        );
    }
    let alerts: Vec<Value> = w
        .records()
        .into_iter()
        .filter(|r| r["action"] == "alert")
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert!(
        alerts[0]["detail"]
            .as_str()
            .unwrap()
            .contains("3 cycles in a row"),
        "{alerts:#?}"
    );
    w.cloud.ctl("DELETE", "faults", None);
    let (run, _) = w.once();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(w.changes().is_empty());
}

#[test]
fn a_second_watch_on_the_same_machine_exits_at_once() {
    let w = Watch::start(&scenario(), &[]);
    let mut first = w.spawn_loop();
    let lock = w.cloud.dir().join("watch.lock");
    let held = SimCloud::wait_for(Duration::from_secs(20), || {
        std::fs::read_to_string(&lock).is_ok_and(|t| t.contains(&first.id().to_string()))
    });
    assert!(held.is_some(), "the first watch never took the lock");
    let (run, _) = w.once();
    let _ = first.kill();
    let _ = first.wait();
    assert_eq!(run.code, 14, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("watch.lock"), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("pid {}", first.id())),
        "{}",
        run.stderr
    );
    // Once it is gone (even killed), the lock is free again.
    let (run, _) = w.once();
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// A host fails, is evacuated and restored; a server is moved back onto it, another one (of the
/// first evacuation) breaks on its new host; the host fails again. The second failure is
/// handled on its own, as Zed showed it must be: the first failure's journal records do not
/// skip the server that came back, and its failed or broken evacuations do not fail the new
/// verification.
#[test]
fn a_second_failure_of_a_restored_host_is_handled_on_its_own() {
    let w = Watch::start(&scenario(), &[]);
    w.cloud.power_off("compute-3");
    let report = w.until("compute-3", &["evacuated", "alert"], 90);
    assert_eq!(host_state(&report, "compute-3"), "evacuated", "{report}");
    let first = w.evacuations_per_server();
    let mut ids = first.keys();
    let (back, broken) = (
        ids.next().expect("a server").clone(),
        ids.next().expect("two").clone(),
    );

    w.cloud.power_on("compute-3");
    let restored = SimCloud::wait_for(Duration::from_secs(30), || {
        w.evacctl(&["restore", "compute-3", "--yes"]).code == 0
    });
    assert!(
        restored.is_some(),
        "restore never passed: {}",
        w.cloud.log()
    );
    let report = w.until("compute-3", &["healthy"], 20);
    assert_eq!(host_state(&report, "compute-3"), "healthy");
    // The keys are "<server> from <host>".
    let id = |key: &str| key.split(' ').next().unwrap_or_default().to_string();
    w.cloud.ctl(
        "POST",
        &format!("servers/{}/state", id(&back)),
        Some(json!({"host": "compute-3"})),
    );
    w.cloud.ctl(
        "POST",
        &format!("servers/{}/state", id(&broken)),
        Some(json!({"vm_state": "error"})),
    );

    w.cloud.power_off("compute-3");
    let report = w.until("compute-3", &["evacuated", "alert"], 90);
    assert_eq!(host_state(&report, "compute-3"), "evacuated", "{report}");
    let now = w.evacuations_per_server();
    assert_eq!(now[&back], 2, "evacuated in each failure: {now:?}");
    assert_eq!(now[&broken], 1, "{now:?}");
}

fn acted(records: &[Value]) -> bool {
    records
        .iter()
        .any(|r| r["kind"] == "intent" && (r["action"] == "fence" || r["action"] == "evacuate"))
}

#[test]
fn two_watchers_one_acts_and_the_other_takes_over_when_it_dies() {
    // Sessions expire 2 x faster than Consul's timers: a 10 s TTL lasts 5 s (renewed every 3.3 s).
    let fast_sessions = scenario().replace(
        "[compute]",
        "[consul]\nenabled = true\nsession_ttl_multiplier = 0.5\n\n[compute]",
    );
    let w = Watch::start(&fast_sessions, &[("max_failed_hosts", "2")]);
    let path = w.cloud.evacctl_config();
    let text = std::fs::read_to_string(&path).unwrap();
    let text = set_key(&text, "lock", "consul_cluster", "\"management\"");
    std::fs::write(&path, set_key(&text, "lock", "session_ttl", "\"10s\"")).unwrap();
    let (config_b, journal_b) = second_controller(&w);
    let mut a = w.spawn_loop();
    // A holds the key before B starts.
    let held = SimCloud::wait_for(Duration::from_secs(20), || {
        w.cloud
            .ctl("GET", "consul", None)
            .to_string()
            .contains("evacctl/leader")
    });
    assert!(held.is_some(), "{}", w.cloud.ctl("GET", "consul", None));
    let mut b = spawn_with(&w, &config_b, &journal_b);
    std::thread::sleep(Duration::from_secs(1));

    w.cloud.power_off("compute-3");
    let done = SimCloud::wait_for(Duration::from_secs(40), || {
        w.records().iter().any(|r| {
            r["action"] == "state" && r["host"] == "compute-3" && r["status"] == "evacuated"
        })
    });
    assert!(
        done.is_some(),
        "A did not evacuate compute-3: {:#?}",
        w.records()
    );
    assert!(acted(&w.records()));
    assert!(
        !acted(&journal_of(&journal_b)),
        "B acted: {:#?}",
        journal_of(&journal_b)
    );
    assert!(w.evacuations_per_server().values().all(|n| *n == 1));

    // A dies without releasing anything; B takes over after the session's TTL and handles
    // the next failure.
    a.kill().unwrap();
    let _ = a.wait();
    w.cloud.power_off("compute-2");
    let done = SimCloud::wait_for(Duration::from_secs(60), || {
        journal_of(&journal_b).iter().any(|r| {
            r["action"] == "state" && r["host"] == "compute-2" && r["status"] == "evacuated"
        })
    });
    let _ = b.kill();
    let _ = b.wait();
    assert!(
        done.is_some(),
        "B did not take over: {:#?}",
        journal_of(&journal_b)
    );
    // B took over from A, holding only what A may have been evacuating (compute-3, isolated
    // by A), not compute-2, which failed after A died.
    let takeover = takeover_record(&journal_of(&journal_b), "stopped without releasing it");
    assert_eq!(
        takeover["data"]["hosts"],
        json!(["compute-3"]),
        "{takeover}"
    );
    // B never fenced compute-3 again: A had done it (B resumed from Nova's marker).
    assert!(
        !journal_of(&journal_b)
            .iter()
            .any(|r| r["action"] == "fence" && r["host"] == "compute-3"),
        "{:#?}",
        journal_of(&journal_b)
    );
    assert!(w.evacuations_per_server().values().all(|n| *n == 1));
}

/// Two controllers' cloud: Consul sessions lasting half their TTL (10 s -> 5 s), the leader
/// lock, an API timeout of 5 s, one evacuation at a time, rebuilds slow enough that a second
/// request would find the first still running, and the first evacuation request answered
/// 7 s late (after the API timeout).
fn takeover_cloud() -> Watch {
    let fast_sessions = scenario().replace(
        "[compute]",
        "[consul]\nenabled = true\nsession_ttl_multiplier = 0.5\n\n[compute]",
    );
    let w = Watch::start(&fast_sessions, &[("evacuate_concurrency", "1")]);
    let path = w.cloud.evacctl_config();
    let text = std::fs::read_to_string(&path).unwrap();
    let text = set_key(&text, "lock", "consul_cluster", "\"management\"");
    let text = set_key(&text, "lock", "session_ttl", "\"10s\"");
    std::fs::write(&path, set_key(&text, "cloud", "api_timeout", "\"5s\"")).unwrap();
    // Rebuilds slow enough that a second request would find the first still running.
    w.cloud.ctl(
        "POST",
        "compute",
        Some(json!({"evacuate_rebuild_delay": 3.0})),
    );
    w.cloud.ctl(
        "POST",
        "faults",
        Some(json!({"method": "POST", "path_contains": "/action", "latency_ms": 7000, "count": 1})),
    );
    w
}

/// The controller's `takeover` record, which must say `says`.
fn takeover_record(records: &[Value], says: &str) -> Value {
    let takeover = records
        .iter()
        .find(|r| r["action"] == "takeover")
        .unwrap_or_else(|| panic!("no takeover record: {records:#?}"));
    assert!(
        takeover["detail"].as_str().unwrap_or("").contains(says),
        "{takeover}"
    );
    takeover.clone()
}

/// Starts A, waits until it holds the leader key, then starts B (standing by).
fn leader_then_standby(
    w: &Watch,
    config_b: &std::path::Path,
    journal_b: &std::path::Path,
) -> (std::process::Child, std::process::Child) {
    let a = w.spawn_loop();
    let held = SimCloud::wait_for(Duration::from_secs(20), || {
        w.cloud
            .ctl("GET", "consul", None)
            .to_string()
            .contains("evacctl/leader")
    });
    assert!(held.is_some(), "{}", w.cloud.ctl("GET", "consul", None));
    let b = spawn_with(w, config_b, journal_b);
    (a, b)
}

/// The leader dies mid-evacuation with a request still inside Nova's API (it lands 7 s after
/// it was sent, after the standby has taken over): the new leader, whose journal knows
/// nothing of it, waits the API timeout after its take-over before sending what Nova does
/// not show, so no server is evacuated twice.
#[test]
fn a_takeover_mid_evacuation_does_not_send_the_dead_leaders_requests_again() {
    let w = takeover_cloud();
    // Both controllers tell the same hook.
    let events = w.events_hook();
    let (config_b, journal_b) = second_controller(&w);
    let (mut a, mut b) = leader_then_standby(&w, &config_b, &journal_b);

    w.cloud.network("compute-3", "storage", "cut");
    let sent = SimCloud::wait_for(Duration::from_secs(40), || {
        w.records()
            .iter()
            .any(|r| r["action"] == "evacuate" && r["kind"] == "intent")
    });
    a.kill().expect("SIGKILL");
    let _ = a.wait();
    assert!(sent.is_some(), "A sent nothing: {:#?}", w.records());

    let done = SimCloud::wait_for(Duration::from_secs(60), || {
        journal_of(&journal_b).iter().any(|r| {
            r["action"] == "state"
                && r["host"] == "compute-3"
                && (r["status"] == "evacuated" || r["status"] == "alert")
        })
    });
    let _ = b.kill();
    let _ = b.wait();
    let records_b = journal_of(&journal_b);
    assert!(done.is_some(), "B did not finish: {records_b:#?}");
    assert!(
        records_b.iter().any(|r| r["action"] == "state"
            && r["host"] == "compute-3"
            && r["status"] == "evacuated"),
        "{records_b:#?}"
    );
    // B said whom it took over from, and held what Nova did not show yet.
    takeover_record(&records_b, "stopped without releasing it");
    let per_server = w.evacuations_per_server();
    assert_eq!(per_server.len(), 5, "{per_server:?}");
    assert!(per_server.values().all(|n| *n == 1), "{per_server:?}");
    // People were told that the acting controller died.
    let got = events_in(&events);
    let warning = got
        .iter()
        .find(|e| e["event"] == "warning" && e["state"] == "takeover")
        .unwrap_or_else(|| panic!("no takeover warning: {got:#?}"));
    assert_eq!(warning["host"], "*");
    assert!(
        warning["reason"]
            .as_str()
            .unwrap_or("")
            .contains("stopped without releasing it"),
        "{warning}"
    );
    // A fenced, B did not fence again.
    assert!(
        !records_b
            .iter()
            .any(|r| r["action"] == "fence" && r["kind"] == "intent"),
        "{records_b:#?}"
    );
}

/// The leader is stopped cleanly (SIGTERM) right after a request that got no answer within the
/// API timeout (it lands 7 s after it was sent, 2 s after the timeout): it hands that doubt
/// over on the key, and the standby, taking over at once, does not send it again.
#[test]
fn a_clean_hand_over_passes_on_a_request_still_in_doubt() {
    let w = takeover_cloud();
    let (config_b, journal_b) = second_controller(&w);
    let (mut a, mut b) = leader_then_standby(&w, &config_b, &journal_b);

    w.cloud.network("compute-3", "storage", "cut");
    let no_answer = SimCloud::wait_for(Duration::from_secs(40), || {
        w.records()
            .iter()
            .any(|r| r["action"] == "evacuate" && r["status"] == "no-answer")
    });
    assert!(no_answer.is_some(), "{:#?}", w.records());
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &a.id().to_string()])
        .status();
    let stopped = SimCloud::wait_for(Duration::from_secs(30), || {
        a.try_wait().ok().flatten().is_some()
    });
    assert!(stopped.is_some(), "A did not stop on SIGTERM");

    let done = SimCloud::wait_for(Duration::from_secs(60), || {
        let evacuated = |records: &[Value]| {
            records.iter().any(|r| {
                r["action"] == "state"
                    && r["host"] == "compute-3"
                    && (r["status"] == "evacuated" || r["status"] == "alert")
            })
        };
        evacuated(&journal_of(&journal_b)) || evacuated(&w.records())
    });
    let _ = b.kill();
    let _ = b.wait();
    let records_b = journal_of(&journal_b);
    assert!(done.is_some(), "nobody finished: {records_b:#?}");
    let per_server = w.evacuations_per_server();
    assert_eq!(per_server.len(), 5, "{per_server:?}");
    assert!(per_server.values().all(|n| *n == 1), "{per_server:?}");
    let takeover = takeover_record(
        &records_b,
        "handed it over with evacuation requests still in doubt",
    );
    assert_eq!(
        takeover["data"]["hosts"],
        json!(["compute-3"]),
        "{takeover}"
    );
}

#[test]
fn a_dry_run_decides_and_changes_nothing() {
    let w = Watch::start(&scenario(), &[]);
    w.cloud.power_off("compute-3");
    let config = w.cloud.evacctl_config();
    let child = w
        .command(
            &config,
            &w.journal(),
            &["watch", "--dry-run", "--interval", "300ms"],
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start evacctl watch --dry-run");
    std::thread::sleep(Duration::from_secs(3));
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("DRY RUN"), "{stderr}");
    assert!(stderr.contains("suspect -> failed"), "{stderr}");
    assert!(stdout.contains("would begin fencing"), "{stdout}");
    assert!(w.changes().is_empty(), "{:?}", w.changes());
    assert!(!w.journal().exists(), "a dry run wrote the journal");
}

/// `watch --once --dry-run` on a host confirmed failed (as a cron job's previous real cycle
/// left it): it shows what it would do, and tells nobody, changes nothing, writes nothing; its
/// log says it is a dry run (on Zed its lines read like a real run's, and it notified).
#[test]
fn a_dry_run_tells_nobody_and_changes_nothing() {
    let w = Watch::start(&scenario(), &[]);
    let events = w.events_hook();
    w.cloud.power_off("compute-3");
    let report = w.until("compute-3", &["suspect"], 60);
    assert_eq!(host_state(&report, "compute-3"), "suspect");
    let journal = std::fs::read_to_string(w.journal()).unwrap();
    let run = w.evacctl(&["watch", "--once", "--dry-run", "-f", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    let line = report["hosts"]
        .as_array()
        .and_then(|h| h.iter().find(|h| h["host"] == "compute-3"))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(line["next"], "would begin fencing", "{report}");
    assert!(
        run.stderr.contains("dry run: compute-3: suspect -> failed"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_to_string(w.journal()).unwrap(), journal);
    assert!(w.changes().is_empty(), "{:?}", w.changes());
    std::thread::sleep(Duration::from_millis(500));
    assert!(events_in(&events).is_empty(), "{:?}", events_in(&events));
}
