//! `evacctl watch` observing by change: with `[policy] confirm_window`, Consul's blocking
//! queries wake the loop when a node's checks change, long before `interval` passes; the
//! confirmation counts time; a quiet cluster is not asked between cycles.

mod common;

use std::time::{Duration, Instant};

use common::sim::SimCloud;
use common::watch::{Watch, scenario};

/// A long interval: whatever happens within a few seconds was woken by Consul (or by the
/// confirmation window), not by the poll.
const INTERVAL: &str = "30s";

fn spawn(w: &Watch) -> (std::process::Child, std::path::PathBuf) {
    let log = w.cloud.dir().join("watch.log");
    let child = w
        .command(
            &w.cloud.evacctl_config(),
            &w.journal(),
            &["-vv", "watch", "--interval", INTERVAL],
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start evacctl watch");
    (child, log)
}

fn stop(mut child: std::process::Child) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// The states `host` went through, in order, with their reasons.
fn states(w: &Watch, host: &str) -> Vec<(String, String)> {
    w.records()
        .iter()
        .filter(|r| r["action"] == "state" && r["host"] == host)
        .map(|r| {
            (
                r["status"].as_str().unwrap_or("").to_string(),
                r["detail"].as_str().unwrap_or("").to_string(),
            )
        })
        .fold(Vec::new(), |mut v: Vec<(String, String)>, s| {
            if v.last().map(|l| &l.0) != Some(&s.0) {
                v.push(s);
            }
            v
        })
}

/// Waits until the first full cycle has run (the host has a line in the journal, or the
/// loop has asked Nova), then a little more for the followers to hold their queries.
fn settle(w: &Watch) {
    let ran = SimCloud::wait_for(Duration::from_secs(20), || {
        w.requests().iter().any(|(_, p)| p.contains("os-services"))
    });
    assert!(ran.is_some(), "no cycle ran");
    std::thread::sleep(Duration::from_millis(700));
}

#[test]
fn a_power_loss_is_seen_by_the_blocking_wait_and_evacuated_long_before_the_interval() {
    // No volume step: it waits for Cinder to see the cinder-volume down, which Nova-like
    // polling finds (every interval), not Consul.
    let w = Watch::start(
        &scenario(),
        &[("confirm_window", "\"1s\""), ("move_volumes", "false")],
    );
    let (child, log) = spawn(&w);
    settle(&w);
    let t0 = Instant::now();
    w.cloud.power_off("compute-1");
    let done = SimCloud::wait_for(Duration::from_secs(20), || {
        states(&w, "compute-1")
            .iter()
            .any(|(s, _)| s == "verifying" || s == "evacuated")
    });
    let seen = states(&w, "compute-1");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    stop(child);
    let done = done.unwrap_or_else(|| {
        panic!("not evacuated within 20 s (interval {INTERVAL}); states {seen:?}\n{text}")
    });
    // Confirmation 1 s, fencing, isolation, the evacuation: seconds, not the 30 s interval.
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "{done:?}; states {seen:?}"
    );
    let names: Vec<&str> = seen.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(&names[..3], ["suspect", "failed", "fencing"], "{seen:?}");
    assert!(
        seen[1].1.contains("seen continuously for"),
        "the confirmation counts time: {seen:?}"
    );
    assert!(text.contains("early cycle"), "woken by Consul:\n{text}");
}

#[test]
fn a_host_back_within_the_confirm_window_is_not_fenced() {
    let w = Watch::start(&scenario(), &[("confirm_window", "\"3s\"")]);
    let (child, log) = spawn(&w);
    settle(&w);
    // compute-2's storage network fails (a failure by origin D's rules), then comes back
    // within the window.
    w.cloud.network("compute-2", "storage", "cut");
    let suspect = SimCloud::wait_for(Duration::from_secs(10), || {
        states(&w, "compute-2").iter().any(|(s, _)| s == "suspect")
    });
    w.cloud.network("compute-2", "storage", "restore");
    let healthy = SimCloud::wait_for(Duration::from_secs(10), || {
        states(&w, "compute-2")
            .last()
            .is_some_and(|(s, _)| s == "healthy")
    });
    // Past the window's end: the cycle due then finds it healthy.
    std::thread::sleep(Duration::from_secs(4));
    let seen = states(&w, "compute-2");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    stop(child);
    assert!(suspect.is_some(), "the cut was not seen: {seen:?}\n{text}");
    assert!(
        suspect.unwrap() < Duration::from_secs(5),
        "seen by the blocking wait, not the {INTERVAL} poll: {suspect:?}"
    );
    assert!(healthy.is_some(), "{seen:?}\n{text}");
    let names: Vec<&str> = seen.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(names, ["suspect", "healthy"], "{seen:?}");
    assert!(w.changes().is_empty(), "nothing fenced: {:?}", w.changes());
}

#[test]
fn a_quiet_cluster_is_not_asked_between_cycles_and_a_signal_still_ends_the_wait() {
    let w = Watch::start(&scenario(), &[("confirm_window", "\"2s\"")]);
    let (mut child, log) = spawn(&w);
    settle(&w);
    let health = |w: &Watch| {
        w.requests()
            .iter()
            .filter(|(_, p)| p.contains("/v1/health/"))
            .count()
    };
    let before = health(&w);
    let all_before = w.requests().len();
    std::thread::sleep(Duration::from_secs(3));
    let after = health(&w);
    let all_after = w.requests().len();
    // Every cluster's follower holds its query: nothing answered, nothing sent, between
    // cycles (the leader lock's renewal aside).
    assert_eq!(after, before, "Consul's checks were read between cycles");
    assert!(all_after - all_before <= 3, "{all_before} -> {all_after}");
    // SIGTERM ends the wait at once, not after the interval or a blocking query's wait.
    let t = Instant::now();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let ended = SimCloud::wait_for(Duration::from_secs(10), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(ended.is_some(), "watch did not stop on SIGTERM\n{text}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(child.wait().ok().and_then(|s| s.code()), Some(0));
}

#[test]
fn without_confirm_window_the_watch_polls_as_before() {
    let w = Watch::start(&scenario(), &[]);
    let (child, log) = spawn(&w);
    settle(&w);
    let before = w.requests().len();
    w.cloud.power_off("compute-1");
    std::thread::sleep(Duration::from_secs(2));
    let seen = states(&w, "compute-1");
    let after = w.requests().len();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    stop(child);
    // No follower: nothing woke the loop, no cycle ran within the 30 s interval.
    assert!(seen.is_empty(), "{seen:?}");
    assert!(after - before <= 3, "{before} -> {after}");
    assert!(!text.contains("early cycle"), "{text}");
}
