//! The client against the simulated Consul, in process.

use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::config::{ConsulRole, SecretRef, SecretSource};
use crate::error::Classify;
use crate::exit_codes::ExitCode;
use evacctl_sim::{Scenario, SimHandle, spawn};

/// The fast scenario (ctl-1 and compute-1..4), with sessions that expire 50 times faster.
const SCENARIO: &str = concat!(
    include_str!("../../scenarios/fast.toml"),
    "\n[consul]\nsession_ttl_multiplier = 0.02\n"
);

fn sim(extra: &str) -> SimHandle {
    let scenario = Scenario::from_toml_str(&format!("{SCENARIO}{extra}"), "test").unwrap();
    spawn(&scenario, "127.0.0.1:0".parse().unwrap()).unwrap()
}

pub(crate) fn url(sim: &SimHandle, name: &str) -> String {
    sim.consul_urls()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, u)| u)
        .unwrap()
}

pub(crate) fn cluster(name: &str, addresses: Vec<String>) -> ConsulCluster {
    ConsulCluster {
        name: name.into(),
        role: ConsulRole::Management,
        addresses,
        token: None,
        ca_file: None,
        datacenter: Some("dc1".into()),
    }
}

pub(crate) fn client(c: &ConsulCluster) -> Client {
    let options = ClientOptions {
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(1),
    };
    Client::new(c, &options).unwrap()
}

/// A loopback address where nothing listens.
fn closed_address() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

#[test]
fn reads_the_cluster_state() {
    let sim = sim("");
    let c = client(&cluster("management", vec![url(&sim, "management")]));
    assert_eq!(c.leader().unwrap().as_deref(), Some("10.0.0.10:8300"));
    assert_eq!(c.peers().unwrap(), ["10.0.0.10:8300"]);
    let ap = c.autopilot_health().unwrap();
    assert!(ap.healthy);
    assert_eq!(ap.servers.len(), 1);
    let members = c.members().unwrap();
    assert_eq!(members.len(), 5);
    assert!(members.iter().all(|m| m.status == 1));
    assert!(members[0].is_server());
    let checks = c.health_state("any").unwrap();
    assert_eq!(checks.iter().filter(|c| c.is_serf_health()).count(), 5);
    let nova = c.service_checks("nova-compute").unwrap();
    assert_eq!(nova.len(), 4);
    assert!(nova.iter().all(|c| c.status == "passing"));
    let node = c.health_node("compute-1").unwrap();
    assert_eq!(
        node.len(),
        3,
        "serfHealth, nova-compute, libvirtd: {node:?}"
    );
    assert!(c.health_node("nowhere").unwrap().is_empty());
}

#[test]
fn a_lost_leader_is_none_and_stale_reads_still_work() {
    let sim = sim("");
    sim.world().lock().consul.clusters[1].leader_lost = true;
    let c = client(&cluster("storage", vec![url(&sim, "storage")]));
    assert_eq!(c.leader().unwrap(), None);
    let e = c.autopilot_health().unwrap_err();
    assert!(e.is_no_leader(), "{e}");
    assert!(e.to_string().contains("`storage`"), "{e}");
    assert_eq!(c.health_state("critical").unwrap(), vec![]);
    assert_eq!(c.members().unwrap().len(), 5);
}

#[test]
fn addresses_are_tried_in_order_and_the_answering_one_sticks() {
    let sim = sim("");
    let dead = closed_address();
    let good = url(&sim, "tenant");
    let c = client(&cluster("tenant", vec![dead.clone(), good.clone()]));
    assert_eq!(c.address(), dead);
    assert!(c.leader().unwrap().is_some());
    assert_eq!(c.address(), good);
    assert_eq!(c.members().unwrap().len(), 5);
}

#[test]
fn no_answer_names_the_cluster_and_every_address() {
    let (a, b) = (closed_address(), closed_address());
    let c = client(&cluster("storage", vec![a.clone(), b.clone()]));
    let e = c.members().unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with("Consul cluster `storage`: no answer from"),
        "{text}"
    );
    assert!(text.contains(&a) && text.contains(&b), "{text}");
    assert!(text.contains("connection refused"), "{text}");
    assert_eq!(e.exit_code(), ExitCode::Unreachable);
}

#[test]
fn acl_tokens_are_sent_and_never_shown() {
    let sim = sim("token = \"s3cret-consul-token\"\n");
    let mut c = cluster("management", vec![url(&sim, "management")]);
    // No token: refused, classified as auth.
    let e = client(&c).members().unwrap_err();
    assert_eq!(e.status(), Some(403));
    assert_eq!(e.exit_code(), ExitCode::Auth);
    assert!(e.to_string().contains("token_file / token_env"), "{e}");
    // /v1/status needs no token, as in Consul.
    assert!(client(&c).leader().unwrap().is_some());

    let dir = tempfile::tempdir().unwrap();
    let token_ref = |path: PathBuf| SecretRef {
        source: SecretSource::File(path),
        what: "the Consul token of cluster `management`".into(),
        config_path: None,
        key: "consul.management.token_file".into(),
        line: None,
        column: None,
    };
    let wrong = dir.path().join("wrong");
    evacctl_sim::files::write_private(&wrong, "not-the-token\n").unwrap();
    c.token = Some(token_ref(wrong));
    let e = client(&c).members().unwrap_err();
    assert!(e.to_string().contains("ACL not found"), "{e}");
    assert!(!e.to_string().contains("not-the-token"), "{e}");

    let right = dir.path().join("right");
    evacctl_sim::files::write_private(&right, "s3cret-consul-token\n").unwrap();
    c.token = Some(token_ref(right));
    let ok = client(&c);
    assert_eq!(ok.members().unwrap().len(), 5);
    assert!(
        !format!("{ok:?}").contains("s3cret"),
        "Debug shows no token"
    );

    // A token file that is missing: a config error naming the key, before any call.
    c.token = Some(token_ref(dir.path().join("missing")));
    let e = Client::new(&c, &ClientOptions::default()).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Config);
    assert!(
        e.to_string().contains("consul.management.token_file"),
        "{e}"
    );
}

#[test]
fn malformed_answers_are_errors_never_panics() {
    let sim = sim("");
    let c = client(&cluster("management", vec![url(&sim, "management")]));
    for (path, body) in [
        ("/consul/management/v1/agent/members", r#"[{"Name": 7}]"#),
        ("/consul/management/v1/agent/members", "<html>proxy</html>"),
        (
            "/consul/management/v1/status/leader",
            "{\"not\": \"a string\"}",
        ),
        ("/consul/management/v1/operator/autopilot/health", "[]"),
        ("/consul/management/v1/health/state", r#"[{"Node": null}]"#),
    ] {
        let spec = serde_json::from_value(serde_json::json!(
            {"path_contains": path, "status": 200, "body": body}
        ))
        .unwrap();
        sim.world().lock().faults.add(spec).unwrap();
        let e = match path.rsplit('/').next() {
            Some("members") => c.members().unwrap_err(),
            Some("leader") => c.leader().unwrap_err(),
            Some("health") => c.autopilot_health().unwrap_err(),
            _ => c.health_state("any").unwrap_err(),
        };
        assert!(matches!(e, Error::InvalidResponse { .. }), "{path}: {e}");
        assert_eq!(e.exit_code(), ExitCode::Failure);
        assert!(e.to_string().contains("unexpected answer"), "{e}");
    }
    // An error status with an HTML body: its text, shortened, never a panic.
    let spec = serde_json::from_value(serde_json::json!(
        {"path_contains": "agent/members", "status": 502, "body": "x".repeat(5000)}
    ))
    .unwrap();
    sim.world().lock().faults.add(spec).unwrap();
    let e = c.members().unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Unreachable);
    assert!(e.to_string().len() < 600, "{e}");
}

#[test]
fn sessions_and_the_kv_lock() {
    let sim = sim("");
    let c = client(&cluster("management", vec![url(&sim, "management")]));
    let request = SessionRequest {
        name: Some("evacctl watch".into()),
        ttl: Some("10s".into()),
        lock_delay: Some("0s".into()),
        ..Default::default()
    };
    let s1 = c.session_create(&request).unwrap();
    let s2 = c.session_create(&request).unwrap();
    assert_ne!(s1, s2);
    assert_eq!(c.session_info(&s1).unwrap().unwrap().name, "evacctl watch");

    assert!(c.kv_acquire("evacctl/leader", b"ctl-1", &s1).unwrap());
    assert!(!c.kv_acquire("evacctl/leader", b"ctl-2", &s2).unwrap());
    assert!(
        c.kv_acquire("evacctl/leader", b"ctl-1", &s1).unwrap(),
        "re-acquiring is fine"
    );
    let held = c.kv_get("evacctl/leader").unwrap().unwrap();
    assert_eq!(held.session.as_deref(), Some(s1.as_str()));
    assert_eq!(held.value_bytes().unwrap(), b"ctl-1");
    assert_eq!(held.lock_index, 1);

    assert!(!c.kv_release("evacctl/leader", b"", &s2).unwrap());
    assert!(c.kv_release("evacctl/leader", b"ctl-1", &s1).unwrap());
    assert!(c.kv_acquire("evacctl/leader", b"ctl-2", &s2).unwrap());
    assert_eq!(c.kv_get("evacctl/leader").unwrap().unwrap().lock_index, 2);

    // A destroyed session's lock is released.
    assert!(c.session_destroy(&s2).unwrap());
    assert_eq!(c.kv_get("evacctl/leader").unwrap().unwrap().session, None);
    assert!(c.session_renew(&s2).unwrap().is_none());
    assert!(c.session_info(&s2).unwrap().is_none());

    // An unknown session cannot acquire.
    let e = c
        .kv_acquire("evacctl/leader", b"x", "no-such-session")
        .unwrap_err();
    assert_eq!(e.status(), Some(500));

    assert!(c.kv_put("plain/key", b"v").unwrap());
    assert!(c.kv_delete("plain/key").unwrap());
    assert!(c.kv_get("plain/key").unwrap().is_none());

    // Consul's limits on TTLs are the server's to enforce: the error says which.
    let bad = SessionRequest {
        ttl: Some("5s".into()),
        ..Default::default()
    };
    let e = c.session_create(&bad).unwrap_err();
    assert!(e.to_string().contains("Invalid Session TTL"), "{e}");
}

#[test]
fn an_expired_session_loses_its_lock_and_the_lock_delay_holds_others_off() {
    // session_ttl_multiplier 0.02: a 10 s TTL runs out after 0.2 s.
    let sim = sim("");
    let c = client(&cluster("management", vec![url(&sim, "management")]));
    let holder = c
        .session_create(&SessionRequest {
            ttl: Some("10s".into()),
            lock_delay: Some("60s".into()),
            ..Default::default()
        })
        .unwrap();
    let other = c.session_create(&SessionRequest::default()).unwrap();
    assert!(c.kv_acquire("evacctl/leader", b"a", &holder).unwrap());
    assert!(c.session_renew(&holder).unwrap().is_some());
    std::thread::sleep(Duration::from_millis(400));
    assert!(c.session_renew(&holder).unwrap().is_none(), "expired");
    let key = c.kv_get("evacctl/leader").unwrap().unwrap();
    assert_eq!(key.session, None, "released with the session");
    assert!(
        !c.kv_acquire("evacctl/leader", b"b", &other).unwrap(),
        "the lock-delay keeps it free for a while"
    );
}

/// An agent that sends its headers, then its body a byte at a time: the call gives up at the
/// client's timeout, with an error of the Unreachable kind that names it.
#[test]
fn a_dripping_agent_is_cut_off_at_the_timeout() {
    use crate::http::testing::{BadServer, Misbehaviour, within};
    let server = BadServer::start(Misbehaviour::Drip {
        interval: Duration::from_secs(1),
    });
    let c = Client::new(
        &cluster("management", vec![server.url.clone()]),
        &ClientOptions {
            timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(1),
        },
    )
    .unwrap();
    let e = within(Duration::from_secs(30), move || c.leader()).unwrap_err();
    assert!(matches!(e, Error::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains("within 2s"), "{e}");
}

/// The checks are parsed as they arrive: an agent dripping them is cut off at the timeout
/// all the same, and a torn list is an answer that is not the JSON expected.
#[test]
fn a_dripping_or_torn_check_list_is_an_error() {
    use crate::http::testing::{BadServer, Misbehaviour, within};
    let options = ClientOptions {
        timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(1),
    };
    let server = BadServer::start(Misbehaviour::Drip {
        interval: Duration::from_secs(1),
    });
    let c = Client::new(&cluster("management", vec![server.url.clone()]), &options).unwrap();
    let e = within(Duration::from_secs(30), move || c.health_state("any")).unwrap_err();
    assert!(matches!(e, Error::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains("within 2s"), "{e}");

    let server = BadServer::start(Misbehaviour::Answer {
        status: 200,
        body: r#"[{"Node": "compute-1", "CheckID": "serfHealth", "Status": "pass"#,
        announced: None,
    });
    let c = Client::new(&cluster("management", vec![server.url.clone()]), &options).unwrap();
    let e = within(Duration::from_secs(30), move || c.health_state("any")).unwrap_err();
    assert!(matches!(e, Error::InvalidResponse { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("EOF while parsing"), "{text}");
    assert!(
        text.contains(r#"(body: "[{\"Node\": \"compute-1\""#),
        "{text}"
    );
}

#[test]
fn an_answer_larger_than_the_cap_is_refused() {
    use crate::http::testing::{BadServer, Misbehaviour, within};
    let server = BadServer::start(Misbehaviour::Endless { status: 200 });
    let c = client(&cluster("management", vec![server.url.clone()]));
    let e = within(Duration::from_secs(60), move || c.members()).unwrap_err();
    assert!(matches!(e, Error::InvalidResponse { .. }), "{e:?}");
    assert!(e.to_string().contains(&MAX_BODY.to_string()), "{e}");
    assert!(e.to_string().len() < 400, "{e}");
}

#[test]
fn a_blocking_read_waits_for_a_change_and_its_timeout_covers_the_wait() {
    let sim = sim("");
    let options = ClientOptions {
        // Shorter than the wait: the blocking read's own timeout must cover the wait.
        timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_secs(1),
    };
    let c = Client::new(
        &cluster("management", vec![url(&sim, "management")]),
        &options,
    )
    .unwrap();
    let filter = Some(crate::core::network::NODE_CHECKS_FILTER);
    // Index 0: at once, with the index to wait on.
    let first = c
        .health_state_blocking("any", filter, 0, Duration::from_secs(1))
        .unwrap();
    assert!(first.index > 0);
    assert!(!first.checks.is_empty());
    // Nothing changes: held for the whole wait (longer than the client's timeout), not an error.
    let started = std::time::Instant::now();
    let quiet = c
        .health_state_blocking("any", filter, first.index, Duration::from_millis(1200))
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(1200));
    assert_eq!(quiet.index, first.index);
    // A power loss answers at once, with a new index and the critical check.
    let world = sim.world();
    let cut = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        world
            .lock()
            .power_off("compute-1", evacctl_sim::clock::now())
            .unwrap();
    });
    let started = std::time::Instant::now();
    let changed = c
        .health_state_blocking("any", filter, first.index, Duration::from_secs(30))
        .unwrap();
    cut.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(changed.index > first.index);
    assert!(
        changed
            .checks
            .iter()
            .any(|k| k.node.starts_with("compute-1")
                && k.check_id == SERF_HEALTH
                && k.status == "critical")
    );
    // An index from the future (a Consul that restarted) starts over.
    assert_eq!(next_index(changed.index + 50, changed.index), 0);
}
