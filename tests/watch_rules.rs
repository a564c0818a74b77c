//! `evacctl watch` against the rules of the origin documents (docs/origins.md) that issue 18
//! found broken: who is told what, once; a cut-off observer; a power-on that does not bring
//! the host back; leadership; every `quick_evacuate_level`. The real binary, cycle by cycle
//! (`watch --once`, as cron runs it), against the simulated cloud.

mod common;

use common::watch::*;
use serde_json::Value;

/// The kinds of the events the `[notify] command` hook received, in order.
fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|e| e["event"].as_str()).collect()
}

/// The demo cloud with power-on recovery on (tests/watch.rs turns it off).
fn with_recovery(timeout: &str) -> Watch {
    Watch::start(
        &scenario(),
        &[("power_on_recovery", "true"), ("recovery_timeout", timeout)],
    )
}

/// The events the `[notify] command` hook received, of one kind.
fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == kind).collect()
}

/// Item 8 of issue 18: a cluster-wide alert is sent when it starts and when it ends, not once
/// per cron run; the journal carries it from one run to the next.
#[test]
fn a_gate_alert_is_sent_once_across_cron_runs_and_once_when_it_ends() {
    let w = Watch::start(&scenario(), &[]);
    let events = w.events_hook();
    // Two hosts: more than max_failed_hosts, not so many that the observer looks cut off.
    w.cloud.power_off("compute-1");
    w.cloud.power_off("compute-2");
    let mut codes = Vec::new();
    for _ in 0..4 {
        let (run, report) = w.once();
        codes.push(run.code);
        assert_eq!(report["gate"], "mass-failure", "{report}\n{}", run.stderr);
    }
    assert_eq!(codes, [4, 4, 4, 4]);
    let got = events_in(&events);
    let alerts = of_kind(&got, "alert");
    assert_eq!(alerts.len(), 1, "{got:#?}");
    assert_eq!(alerts[0]["host"], "*");

    // It ends once, said once.
    for h in ["compute-1", "compute-2"] {
        w.cloud.power_on(h);
    }
    w.until("compute-1", &["healthy"], 30);
    let report = w.until("compute-2", &["healthy"], 30);
    assert_eq!(report["gate"], "open", "{report}");
    let (_, _) = w.once();
    let got = events_in(&events);
    assert_eq!(of_kind(&got, "alert").len(), 1, "{got:#?}");
    let ended = of_kind(&got, "alert-ended");
    assert_eq!(ended.len(), 1, "{got:#?}");
    assert!(
        ended[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("hosts look failed at once")),
        "{got:#?}"
    );
}

/// With `realert_interval`, an alert still under way is sent again once the interval passed.
#[test]
fn a_gate_alert_is_sent_again_after_realert_interval() {
    let w = Watch::start(&scenario(), &[("realert_interval", "\"1s\"")]);
    let events = w.events_hook();
    for h in ["compute-1", "compute-2"] {
        w.cloud.power_off(h);
    }
    let (_, report) = w.once();
    assert_eq!(report["gate"], "mass-failure", "{report}");
    let (_, _) = w.once();
    assert_eq!(of_kind(&events_in(&events), "alert").len(), 1);
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let (_, _) = w.once();
    assert_eq!(of_kind(&events_in(&events), "alert").len(), 2);
}

/// Item 6 of issue 18: a controller cut off from the management cluster sees every host
/// failed there; those cells feed no verdict: one cluster-wide alert, no per-host warning.
#[test]
fn a_cut_off_observer_warns_about_no_host() {
    let w = Watch::start(&scenario(), &[]);
    let events = w.events_hook();
    w.cloud.ctl("POST", "consul/management/observer/cut", None);
    for _ in 0..2 {
        let (run, report) = w.once();
        assert_eq!(run.code, 7, "{}", run.stderr);
        assert_eq!(report["gate"], "observer-isolated", "{report}");
        for h in ["compute-1", "compute-2", "compute-3"] {
            assert_eq!(host_state(&report, h), "healthy", "{report}");
        }
    }
    let got = events_in(&events);
    assert_eq!(kinds(&got), ["alert"], "{got:#?}");
    assert_eq!(got[0]["host"], "*");
    assert!(w.changes().is_empty(), "{:?}", w.changes());
}

/// Origin D: a host found off is powered on once; when it rejoins, nothing is evacuated.
#[test]
fn a_host_found_off_is_powered_on_and_rejoins() {
    let w = with_recovery("\"20s\"");
    let events = w.events_hook();
    w.cloud.power_off("compute-3");
    w.until("compute-3", &["recovering", "fencing", "alert"], 30);
    assert!(w.powered_on("compute-3"));
    let report = w.until("compute-3", &["healthy", "fencing", "alert"], 40);
    assert_eq!(host_state(&report, "compute-3"), "healthy", "{report}");
    assert!(w.evacuate_posts().is_empty(), "{:?}", w.evacuate_posts());
    let got = events_in(&events);
    assert_eq!(kinds(&got), ["failed", "recovered"], "{got:#?}");
}

/// Origin D: a host that does not come back after its power-on: people are told
/// (`recovery-failed`), then it is fenced and evacuated.
#[test]
fn a_power_on_that_does_not_bring_the_host_back_is_told_then_fenced() {
    let w = with_recovery("\"3s\"");
    let events = w.events_hook();
    w.cloud.ctl("POST", "hosts/compute-3/hardware-fault", None);
    let report = w.until("compute-3", &["evacuated", "alert"], 90);
    assert_eq!(host_state(&report, "compute-3"), "evacuated", "{report}");
    let got = events_in(&events);
    assert_eq!(
        kinds(&got),
        [
            "failed",
            "recovery-failed",
            "fenced",
            "isolated",
            "evacuated"
        ],
        "{got:#?}"
    );
    let failed = of_kind(&got, "recovery-failed")[0];
    assert_eq!(failed["host"], "compute-3");
    assert_eq!(failed["previous_state"], "recovering");
    assert!(
        failed["reason"]
            .as_str()
            .is_some_and(|r| r.contains("did not rejoin within 3s")),
        "{failed}"
    );
}

/// Removes a `key = ...` line from the evacctl configuration of the cloud.
fn drop_key(w: &Watch, key: &str) {
    let path = w.cloud.evacctl_config();
    let text = std::fs::read_to_string(&path).unwrap();
    let prefix = format!("{key} = ");
    let text: String = text
        .lines()
        .filter(|l| !l.starts_with(&prefix))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&path, text).unwrap();
}

/// Origin A: the automation runs on the Consul leader. With Consul clusters configured, the
/// leader lock is on without `[lock] consul_cluster` (the management cluster), off only
/// with `[lock] leader = false`.
#[test]
fn the_leader_lock_is_on_by_default_with_consul() {
    let w = Watch::start(&scenario(), &[]);
    drop_key(&w, "consul_cluster");
    let (run, _) = w.once();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("acquired the leader lock `evacctl/leader` on Consul cluster `management`"),
        "{}",
        run.stderr
    );
    let path = w.cloud.evacctl_config();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, set_key(&text, "lock", "leader", "false")).unwrap();
    let (run, _) = w.once();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("leader lock"), "{}", run.stderr);
}

/// Only the holder of the leader lock tells: a standby that sees a host fail sends nothing
/// and does nothing.
#[test]
fn a_standby_tells_nobody_and_does_nothing() {
    let w = Watch::start(&scenario(), &[]);
    let events = w.events_hook();
    // Another controller holds the key: a session of its own on it.
    let consul = w.cloud.consul_url("management");
    let client = common::sim::SimCloud::client();
    let session: Value = client
        .put(format!("{consul}/v1/session/create"))
        .body(r#"{"Name": "ctl-b", "TTL": "60s", "Behavior": "release"}"#)
        .send()
        .and_then(|r| r.json())
        .expect("a session");
    let id = session["ID"].as_str().expect("a session id");
    let took = client
        .put(format!("{consul}/v1/kv/evacctl/leader?acquire={id}"))
        .body(r#"{"controller": "ctl-b", "pid": 1, "since": "2026-01-01T00:00:00Z"}"#)
        .send()
        .and_then(|r| r.text())
        .expect("acquire");
    assert_eq!(took.trim(), "true");

    w.cloud.power_off("compute-3");
    for _ in 0..3 {
        let (run, report) = w.once();
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(report["gate"], "standby", "{report}");
    }
    assert!(events_in(&events).is_empty(), "{:?}", events_in(&events));
    assert!(w.changes().is_empty(), "{:?}", w.changes());
}

/// The Consul cluster of the leader lock lost its leader: nobody can act. A warning, logged and
/// told once across cron runs; nothing done.
#[test]
fn a_lost_consul_leader_is_a_warning_told_once_and_nothing_is_done() {
    let w = Watch::start(&scenario(), &[]);
    let events = w.events_hook();
    w.cloud.ctl("POST", "consul/management/leader/lose", None);
    w.cloud.power_off("compute-3");
    for _ in 0..3 {
        let (run, report) = w.once();
        assert_eq!(report["gate"], "no-leader", "{report}\n{}", run.stderr);
        assert!(
            run.stderr.contains("the leader lock cannot be asked"),
            "{}",
            run.stderr
        );
    }
    let got = events_in(&events);
    assert_eq!(kinds(&got), ["warning"], "{got:#?}");
    assert_eq!(got[0]["host"], "*");
    assert_eq!(got[0]["state"], "no-leader");
    assert!(w.changes().is_empty(), "{:?}", w.changes());
}

/// The events of one host and kind.
fn host_events<'a>(events: &'a [Value], host: &str, kind: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["host"] == host && e["event"] == kind)
        .collect()
}

/// `details.servers` of an event, by server name: (result, to, reason).
fn servers_of(event: &Value) -> std::collections::BTreeMap<String, (String, String, String)> {
    event["details"]["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let text = |k: &str| s[k].as_str().unwrap_or("").to_string();
            assert_eq!(s["from"], event["host"], "{s}");
            assert!(s["id"].as_str().is_some_and(|i| !i.is_empty()), "{s}");
            (text("name"), (text("result"), text("to"), text("reason")))
        })
        .collect()
}

/// The journal's records of one action.
fn actions<'a>(records: &'a [Value], action: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["action"] == action).collect()
}

/// Origin E, level 1: force-down without powering off. Cut off from every network, the host's
/// cinder-volume still shows up in Cinder: it still serves its volumes, so the servers are
/// evacuated without moving them (said in the log and the events); once Cinder sees it down,
/// a later cycle moves them.
#[test]
fn level_1_evacuates_without_moving_the_volumes_of_a_live_cinder_volume_then_moves_them() {
    let w = Watch::start(&scenario(), &[("quick_evacuate_level", "1")]);
    let events = w.events_hook();
    w.cloud.network("compute-3", "all", "cut");
    let report = w.until("compute-3", &["evacuated", "alert"], 90);
    assert_eq!(host_state(&report, "compute-3"), "evacuated", "{report}");
    // Never powered off, never fenced, and no volume moved.
    assert!(w.powered_on("compute-3"));
    let records = w.records();
    assert!(actions(&records, "fence").is_empty(), "{records:#?}");
    assert!(actions(&records, "volume-update-host").is_empty());
    assert!(!w.evacuate_posts().is_empty());
    let got = events_in(&events);
    assert_eq!(kinds(&got), ["failed", "isolated", "evacuated"], "{got:#?}");
    let evacuated = host_events(&got, "compute-3", "evacuated")[0];
    let left = evacuated["details"]["volumes_left"].as_str().unwrap_or("");
    assert!(
        left.contains("cinder-volume compute-3@ceph up"),
        "{evacuated:#}"
    );
    let moved_state = records
        .iter()
        .find(|r| r["action"] == "state" && r["status"] == "volumes-moved")
        .expect("a volumes-moved state record");
    let why = moved_state["detail"].as_str().unwrap_or("");
    assert!(
        why.contains("quick_evacuate_level 1") && why.contains("without moving its volumes"),
        "{why}"
    );

    // Its cinder-volume dies: a later cycle moves the volumes; the host stays evacuated.
    w.cloud
        .ctl("POST", "hosts/compute-3/services/cinder-volume/crash", None);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (_, report) = w.once();
        assert_eq!(host_state(&report, "compute-3"), "evacuated", "{report}");
        if !actions(&w.records(), "volume-update-host").is_empty()
            && host_reason(&report, "compute-3").contains("volumes moved since")
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the volumes were never moved: {:#?}",
            w.records()
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let proved = actions(&w.records(), "migrate-volumes")
        .iter()
        .any(|r| r["status"] == "proved");
    assert!(proved, "{:#?}", w.records());
}

/// Origin E, level 2 (the default): power off, confirmed, then force-down, volumes moved,
/// evacuated and verified. The `evacuated` event names every server (where it went, or why
/// it stayed: the one that never ran), and so does its reason; the history (`watch --status`)
/// gives each server's id, name, source, destination, time and result.
#[test]
fn level_2_fences_then_forces_down_evacuates_and_names_every_server() {
    // Two more servers that cannot be evacuated: paused, and rebooting.
    let world = format!(
        "{}\n[[servers]]\nname = \"paused-1\"\nhost = \"compute-3\"\nflavor = \"m1.small\"\n\
         vm_state = \"paused\"\n\n[[servers]]\nname = \"rebooting-1\"\nhost = \"compute-3\"\n\
         flavor = \"m1.small\"\ntask_state = \"rebooting\"\n",
        scenario()
    );
    let w = Watch::start(&world, &[("quick_evacuate_level", "2")]);
    let events = w.events_hook();
    w.cloud.power_off("compute-3");
    let report = w.until("compute-3", &["evacuated", "alert"], 90);
    assert_eq!(host_state(&report, "compute-3"), "evacuated", "{report}");
    let records = w.records();
    assert!(
        first(&records, "fence", "result") < first(&records, "force-down", "intent"),
        "{records:#?}"
    );
    assert!(!actions(&records, "volume-update-host").is_empty());
    let got = events_in(&events);
    assert_eq!(
        kinds(&got),
        ["failed", "fenced", "isolated", "evacuated"],
        "{got:#?}"
    );
    let evacuated = host_events(&got, "compute-3", "evacuated")[0];
    assert_eq!(evacuated["details"]["previous_state"], "verifying");
    let servers = servers_of(evacuated);
    for name in ["web-1", "web-2", "web-3", "db-1", "report-1"] {
        let (result, to, _) = &servers[name];
        assert_eq!(result, "verified", "{name}: {evacuated:#}");
        assert!(
            to.starts_with("compute-") && to != "compute-3",
            "{name} to {to}"
        );
    }
    for (name, why) in [
        ("failed-build", "never"),
        ("paused-1", "paused"),
        ("rebooting-1", "rebooting"),
    ] {
        let (result, to, reason) = &servers[name];
        assert_eq!(
            (result.as_str(), to.as_str()),
            ("skipped", ""),
            "{evacuated:#}"
        );
        assert!(reason.to_lowercase().contains(why), "{name}: {reason}");
        // Named in the reason too: never "every evacuated server verified" alone.
        let text = evacuated["reason"].as_str().unwrap_or("");
        assert!(
            text.contains("3 server(s) not evacuated, left on compute-3")
                && text.contains(&format!("{name} (")),
            "{text}"
        );
    }

    // The history: one row per evacuation, with the name and the destination.
    let run = w.evacctl(&["watch", "--status", "-f", "json"]);
    let status: Value = serde_json::from_str(&run.stdout).expect("JSON");
    let rows = status["evacuations"].as_array().expect("evacuations");
    assert_eq!(rows.len(), 5, "{status:#}");
    for row in rows {
        let name = row["name"].as_str().expect("a name");
        assert_eq!(row["source"], "compute-3");
        assert_eq!(row["result"], "accepted");
        assert_eq!(row["verification"], "ok");
        assert_eq!(
            row["destination"].as_str(),
            Some(servers[name].1.as_str()),
            "{row}"
        );
        assert!(
            row["at"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{row}"
        );
    }
    let run = w.evacctl(&["watch", "--status", "--max-width", "400"]);
    let table = &run.stdout;
    for column in ["Server", "Name", "Source", "Destination", "Result"] {
        assert!(table.contains(column), "{table}");
    }
    assert!(
        table.contains("db-1") && table.contains("accepted, verified"),
        "{table}"
    );
}

/// Origin E, level 3: power off (confirmed), no force-down: Nova's own heartbeat timeout says
/// the host is down, then it is disabled and evacuated.
#[test]
fn level_3_fences_then_waits_for_novas_heartbeat_timeout() {
    let w = Watch::start(&scenario(), &[("quick_evacuate_level", "3")]);
    let events = w.events_hook();
    w.cloud.power_off("compute-3");
    let report = w.until("compute-3", &["evacuated", "alert"], 90);
    assert_eq!(host_state(&report, "compute-3"), "evacuated", "{report}");
    let records = w.records();
    assert!(actions(&records, "force-down").is_empty(), "{records:#?}");
    assert!(
        first(&records, "fence", "result") < first(&records, "disable", "intent"),
        "{records:#?}"
    );
    assert_eq!(w.service("compute-3")["forced_down"], false);
    let got = events_in(&events);
    assert_eq!(
        kinds(&got),
        ["failed", "fenced", "isolated", "evacuated"],
        "{got:#?}"
    );
}

/// Origin D's network matrix, in every command: the management network (or the tenant one)
/// down alone is never a fencing case. `check-consul` says degraded (exit 5), `check-services`
/// says no node failure, and `watch` warns once and does nothing.
#[test]
fn a_management_only_cut_is_no_fencing_case_in_any_command() {
    let w = Watch::start(&scenario(), &[]);
    let events = w.events_hook();
    w.cloud.network("compute-1", "management", "cut");

    let run = w.evacctl(&["check-consul", "--host", "compute-1", "-f", "json"]);
    assert_eq!(run.code, 5, "{}\n{}", run.stdout, run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(report["summary"]["failed_hosts"], serde_json::json!([]));
    assert_eq!(
        report["summary"]["degraded_hosts"],
        serde_json::json!(["compute-1"])
    );

    // Nova stays up (the heartbeat goes over another path in the simulated cloud); the
    // node's own checks are not heard: never a node failure.
    let run = w.evacctl(&["check-services", "--host", "compute-1", "-f", "json"]);
    assert_ne!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("node-failure"), "{}", run.stdout);

    for _ in 0..3 {
        let (run, report) = w.once();
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(host_state(&report, "compute-1"), "degraded", "{report}");
    }
    let got = events_in(&events);
    assert_eq!(kinds(&got), ["warning"], "{got:#?}");
    assert_eq!(got[0]["host"], "compute-1");
    assert!(w.changes().is_empty(), "{:?}", w.changes());
    assert!(w.powered_on("compute-1"));
}

/// Removes every `[consul.NAME]` table (and `[lock] consul_cluster`) from the configuration.
fn without_consul_tables(w: &Watch) {
    let path = w.cloud.evacctl_config();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, common::sim::without_consul_tables(&text)).unwrap();
}

/// Origin A with one Consul cluster given only by `CONSUL_HTTP_ADDR` (no `[consul.NAME]`):
/// the leader lock is on there too, as with configured clusters; `[lock] leader = false`
/// turns it off.
#[test]
fn with_only_consul_http_addr_the_leader_lock_is_on() {
    let w = Watch::start(&scenario(), &[]);
    without_consul_tables(&w);
    let addr = w.cloud.consul_url("management");
    let config = w.cloud.evacctl_config();
    let journal = w.journal();
    let once = || {
        w.cloud.evacctl(
            &["watch", "--once", "-f", "json"],
            &[
                ("EVACCTL_CONFIG", config.to_str().unwrap()),
                ("EVACCTL_JOURNAL", journal.to_str().unwrap()),
                ("CONSUL_HTTP_ADDR", addr.as_str()),
            ],
        )
    };
    let run = once();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("acquired the leader lock `evacctl/leader` on Consul cluster `consul`"),
        "{}",
        run.stderr
    );
    // The key was taken in that Consul (and let go at the end of the run).
    let key: Value = common::sim::SimCloud::client()
        .get(format!("{addr}/v1/kv/evacctl/leader"))
        .send()
        .and_then(|r| r.json())
        .expect("the leader key");
    assert!(key[0]["LockIndex"].as_u64() >= Some(1), "{key}");

    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, set_key(&text, "lock", "leader", "false")).unwrap();
    let run = once();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("leader lock"), "{}", run.stderr);
}

/// A failed verification names the failed servers, in the alert's reason and in
/// `details.servers` (with why); the others are listed as verified.
#[test]
fn a_failed_verification_names_the_failed_servers() {
    // Slow scheduling, so that a second evacuation can race the first (as Nova allows).
    let world = scenario().replace(
        "evacuate_accept_delay = \"50ms\"",
        "evacuate_accept_delay = \"2s\"",
    );
    let w = Watch::start(&world, &[]);
    let events = w.events_hook();
    w.cloud.power_off("compute-3");
    w.until("compute-3", &["verifying", "evacuated", "alert"], 60);
    // Someone else evacuates db-1 again while its evacuation runs: that one fails.
    let db = "5d7c6262-ab95-4bc7-8405-774f982b183a";
    let answer = common::sim::SimCloud::client()
        .post(format!(
            "{}/compute/v2.1/servers/{db}/action",
            w.cloud.url()
        ))
        .header("X-Auth-Token", w.cloud.admin_token())
        .header("OpenStack-API-Version", "compute 2.53")
        .json(&serde_json::json!({"evacuate": {}}))
        .send()
        .expect("a second evacuation");
    assert!(answer.status().is_success(), "{answer:?}");
    let report = w.until("compute-3", &["evacuated", "alert"], 60);
    assert_eq!(host_state(&report, "compute-3"), "alert", "{report}");
    let got = events_in(&events);
    let alert = host_events(&got, "compute-3", "alert")[0];
    let reason = alert["reason"].as_str().unwrap_or("");
    assert!(
        reason.starts_with("verification failed: db-1 (5d7c6262-ab95-4bc7-8405-774f982b183a): "),
        "{reason}"
    );
    let servers = servers_of(alert);
    let (result, _, why) = &servers["db-1"];
    assert_eq!(result, "failed", "{alert:#}");
    assert!(why.contains("evacuation failed"), "{why}");
    // The others are listed too (verified, or still running when db-1 failed).
    for name in ["web-1", "web-2", "web-3", "report-1"] {
        let result = servers[name].0.as_str();
        assert!(
            matches!(result, "verified" | "pending"),
            "{name}: {alert:#}"
        );
    }
    assert_eq!(servers["failed-build"].0, "skipped", "{alert:#}");
}

/// Issue 18 item 5 by hand: after a manual `host-evacuate` where the scheduler chose the
/// targets, `verify` journals where each server went (the same step as `watch`'s), so the
/// history (`watch --status`) gives every server's name and destination, not `-`.
#[test]
fn a_manual_verify_gives_the_history_its_destinations() {
    let w = Watch::start(&scenario(), &[]);
    w.cloud.power_off("compute-3");
    let run = w.evacctl(&[
        "host-evacuate",
        "compute-3",
        "--force-down",
        "--yes",
        "-f",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).expect("JSON");
    let results = report["results"].as_array().expect("results");
    assert_eq!(results.len(), 5, "{report:#}");
    // The scheduler chose: no target asked for.
    assert!(results.iter().all(|r| r["target"].is_null()), "{report:#}");

    let run = w.evacctl(&[
        "verify",
        "compute-3",
        "--wait",
        "--timeout",
        "60s",
        "-f",
        "json",
    ]);
    let verified: Value = serde_json::from_str(&run.stdout).expect("JSON");
    // Every server verified; the volumes were not moved (no migrate-volumes here): exit 4.
    assert_eq!(verified["summary"]["ok"], 5, "{verified:#}\n{}", run.stderr);
    assert_eq!(run.code, 4, "{}", run.stderr);
    let where_now: std::collections::BTreeMap<&str, (&str, &str)> = verified["servers"]
        .as_array()
        .expect("servers")
        .iter()
        .map(|s| {
            let text = |k: &str| s[k].as_str().unwrap_or("");
            (text("server_id"), (text("name"), text("host")))
        })
        .collect();
    assert_eq!(where_now.len(), 5, "{verified:#}");
    // One record per server, even when verified again.
    let again = w.evacctl(&["verify", "compute-3"]);
    assert!(again.stdout.contains("5 of 5 verified"), "{}", again.stdout);
    let records = w.records();
    let recorded = actions(&records, "evacuate-verified");
    assert_eq!(recorded.len(), 5, "{records:#?}");
    assert!(
        recorded.iter().all(|r| r["operator"].is_object()),
        "{recorded:#?}"
    );

    let run = w.evacctl(&["watch", "--status", "-f", "json"]);
    let status: Value = serde_json::from_str(&run.stdout).expect("JSON");
    let rows = status["evacuations"].as_array().expect("evacuations");
    assert_eq!(rows.len(), 5, "{status:#}");
    for row in rows {
        let id = row["server"].as_str().expect("a server id");
        let (name, host) = where_now[id];
        assert_eq!(row["name"], name, "{row}");
        assert_eq!(row["source"], "compute-3", "{row}");
        assert!(row["target"].is_null(), "{row}");
        assert_eq!(row["destination"], host, "{row}");
        assert!(host.starts_with("compute-") && host != "compute-3", "{row}");
        assert_eq!(row["verification"], "ok", "{row}");
    }
}

/// Level 1's later volume move is told: once Cinder sees the live cinder-volume down, the
/// cycle that moves the volumes sends one `volumes-moved` event naming them and the
/// cinder-volumes they moved from and to; later cron runs send it no more (the journal
/// remembers the move).
#[test]
fn level_1_tells_once_when_the_volumes_left_behind_move() {
    let w = Watch::start(&scenario(), &[("quick_evacuate_level", "1")]);
    let events = w.events_hook();
    w.cloud.network("compute-3", "all", "cut");
    let report = w.until("compute-3", &["evacuated", "alert"], 90);
    assert_eq!(host_state(&report, "compute-3"), "evacuated", "{report}");
    assert!(of_kind(&events_in(&events), "volumes-moved").is_empty());

    w.cloud
        .ctl("POST", "hosts/compute-3/services/cinder-volume/crash", None);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !host_reason(&w.once().1, "compute-3").contains("volumes moved since") {
        assert!(
            std::time::Instant::now() < deadline,
            "the volumes were never moved: {:#?}",
            w.records()
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    // More cron runs: nothing more to tell.
    for _ in 0..2 {
        let (run, report) = w.once();
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(host_state(&report, "compute-3"), "evacuated", "{report}");
    }
    let got = events_in(&events);
    assert_eq!(
        kinds(&got),
        ["failed", "isolated", "evacuated", "volumes-moved"],
        "{got:#?}"
    );
    let moved = of_kind(&got, "volumes-moved")[0];
    assert_eq!(moved["host"], "compute-3");
    assert_eq!(moved["state"], "evacuated");
    assert_eq!(moved["previous_state"], "evacuated");
    let reason = moved["reason"].as_str().unwrap_or("");
    assert!(
        reason.starts_with("the volumes left behind at evacuation moved: ceph: 2 volume(s)"),
        "{reason}"
    );
    let backends = moved["details"]["volumes_moved"]
        .as_array()
        .expect("details.volumes_moved");
    assert_eq!(backends.len(), 1, "{moved:#}");
    let ceph = &backends[0];
    assert_eq!(ceph["backend"], "ceph");
    assert_eq!(ceph["from"], "compute-3@ceph");
    let to = ceph["to"].as_str().unwrap_or("");
    assert!(
        to.ends_with("@ceph") && to.starts_with("compute-") && to != "compute-3@ceph",
        "{moved:#}"
    );
    let mut names: Vec<&str> = ceph["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .map(|v| {
            assert_eq!(v["from"], "compute-3@ceph#ceph", "{v}");
            assert_eq!(v["to"].as_str(), Some(format!("{to}#ceph").as_str()), "{v}");
            v["name"].as_str().unwrap_or("")
        })
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["db-data", "scratch"], "{moved:#}");
}
