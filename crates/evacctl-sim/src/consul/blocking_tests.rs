//! Blocking queries against the served simulator (they are held in the server, not in
//! [`super::handle`]).

use std::time::{Duration, Instant};

use super::*;
use crate::Scenario;

const SCENARIO: &str = r#"
[cloud]
[[users]]
name = "admin"
password = "pw"
project = "admin"
[[hosts]]
name = "ctl-1.lab"
role = "controller"
[[hosts]]
name = "compute-1.lab"
role = "compute"
[[hosts]]
name = "compute-2.lab"
role = "compute"
"#;

fn serve() -> (crate::server::SimHandle, String) {
    let s = Scenario::from_toml_str(SCENARIO, "t").unwrap();
    let sim = crate::server::spawn(&s, "127.0.0.1:0".parse().unwrap()).unwrap();
    let url = sim
        .consul_urls()
        .into_iter()
        .find(|(n, _)| n == "management")
        .unwrap()
        .1;
    let _ = rustls::crypto::ring::default_provider().install_default();
    (sim, url)
}

/// The status, the `X-Consul-Index` and the body of a GET.
fn get(url: &str) -> (u16, u64, Value) {
    let r = reqwest::blocking::Client::new()
        .get(url)
        .timeout(Duration::from_secs(30))
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let index = r
        .headers()
        .get("x-consul-index")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (status, index, r.json().unwrap_or(Value::Null))
}

fn serf(body: &Value, node: &str) -> String {
    body.as_array()
        .unwrap()
        .iter()
        .find(|c| c["Node"] == node && c["CheckID"] == "serfHealth")
        .map(|c| c["Status"].as_str().unwrap().to_string())
        .unwrap()
}

#[test]
fn a_quiet_cluster_holds_the_answer_until_wait_passes() {
    let (sim, url) = serve();
    let (_, index, _) = get(&format!("{url}/v1/health/state/any"));
    assert!(index > 0);
    let started = Instant::now();
    let (status, again, _) = get(&format!(
        "{url}/v1/health/state/any?stale&index={index}&wait=300ms"
    ));
    let held = started.elapsed();
    assert_eq!((status, again), (200, index));
    assert!(held >= Duration::from_millis(300), "{held:?}");
    assert!(held < Duration::from_secs(3), "{held:?}");
    // An index behind the current one, or 0, answers at once.
    let started = Instant::now();
    get(&format!("{url}/v1/health/state/any?index={}", index - 1));
    get(&format!("{url}/v1/health/state/any?index=0&wait=5s"));
    assert!(started.elapsed() < Duration::from_secs(2));
    sim.stop();
}

#[test]
fn a_power_loss_answers_a_held_query_at_once() {
    let (sim, url) = serve();
    let (_, index, body) = get(&format!("{url}/v1/health/state/any"));
    assert_eq!(serf(&body, "compute-1.lab"), "passing");
    let world = sim.world();
    let cut = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        world
            .lock()
            .power_off("compute-1.lab", crate::clock::now())
            .unwrap();
        Instant::now()
    });
    let (status, after, body) = get(&format!(
        "{url}/v1/health/state/any?stale&index={index}&wait=1m"
    ));
    let answered = Instant::now();
    let powered_off = cut.join().unwrap();
    assert_eq!(status, 200);
    assert!(after > index, "{after} > {index}");
    assert_eq!(serf(&body, "compute-1.lab"), "critical");
    let late = answered.duration_since(powered_off);
    assert!(late < Duration::from_millis(500), "{late:?}");
    // The next read carries the same index: nothing changed since.
    assert_eq!(get(&format!("{url}/v1/health/state/any")).1, after);
    sim.stop();
}

#[test]
fn kv_writes_do_not_wake_a_health_query_but_wake_a_kv_one() {
    let (sim, url) = serve();
    let (_, index, _) = get(&format!("{url}/v1/health/state/any"));
    let kv_url = url.clone();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        reqwest::blocking::Client::new()
            .put(format!("{kv_url}/v1/kv/some/key"))
            .body("v")
            .send()
            .unwrap();
    });
    let started = Instant::now();
    let (_, again, _) = get(&format!(
        "{url}/v1/health/state/any?index={index}&wait=600ms"
    ));
    writer.join().unwrap();
    assert_eq!(again, index, "the health index did not move");
    assert!(started.elapsed() >= Duration::from_millis(600));
    // A KV read waits on the raft index, which the write moved.
    let (_, kv_index, _) = get(&format!("{url}/v1/kv/some/key"));
    assert!(kv_index > index);
    let started = Instant::now();
    let (_, _, _) = get(&format!(
        "{url}/v1/kv/some/key?index={}&wait=10s",
        kv_index - 1
    ));
    assert!(started.elapsed() < Duration::from_secs(2));
    sim.stop();
}

#[test]
fn wait_takes_gos_durations_and_refuses_others() {
    assert_eq!(parse_wait("10s"), Some(Duration::from_secs(10)));
    assert_eq!(parse_wait("1m30s"), Some(Duration::from_secs(90)));
    assert_eq!(parse_wait("250ms"), Some(Duration::from_millis(250)));
    assert_eq!(parse_wait("0"), Some(Duration::ZERO));
    assert_eq!(parse_wait("10"), None);
    assert_eq!(parse_wait("soon"), None);
    let (sim, url) = serve();
    let (_, index, _) = get(&format!("{url}/v1/health/state/any"));
    let (status, _, _) = get(&format!(
        "{url}/v1/health/state/any?index={index}&wait=soon"
    ));
    assert_eq!(status, 400);
    sim.stop();
}
