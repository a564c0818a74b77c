//! Issue 13's remaining races, end to end: the real binary against the simulated cloud (its
//! Consul included), or against a loopback server that drips its answers.
//!
//! - the host's Consul key re-checked just before each evacuation request;
//! - keys given back when a run ends (on a signal too), so the next run gets the host at once;
//! - an unknown host refused before any lock file or key is made;
//! - a server that drips its answer: the checks give up within their timeout (exit 8), and
//!   SIGTERM ends `watch` at once, what was in flight left in doubt, nothing sent twice.
//!
//! Time bounds here are liveness checks (a process that would hang fails the test), never
//! claims about speed.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::races::{each_evacuated_once, evacuations, scenario, slow_evacuations};
use common::sim::{Run, SimCloud};
use serde_json::{Value, json};

/// The simulator's evacctl.toml, with `extra` appended.
fn config_with(cloud: &SimCloud, name: &str, extra: &str) -> PathBuf {
    let text = std::fs::read_to_string(cloud.evacctl_config()).expect("the sim's config");
    let path = cloud.dir().join(name);
    std::fs::write(&path, format!("{text}\n{extra}")).expect("write config");
    path
}

/// `evacctl ARGS` as a child, with the simulator's config (its Consul host keys included) and
/// journal `journal`.
fn spawn(cloud: &SimCloud, config: &Path, journal: &Path, args: &[&str]) -> Child {
    command(cloud, config, journal, args)
        .spawn()
        .expect("start evacctl")
}

/// The command [`spawn`] starts.
fn command(cloud: &SimCloud, config: &Path, journal: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_evacctl"));
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", cloud.dir())
        .env("OS_CLIENT_CONFIG_FILE", cloud.clouds_yaml())
        .env("OS_CLOUD", "sim")
        .env("EVACCTL_CONFIG", config)
        .env("EVACCTL_JOURNAL", journal)
        .env("EVACCTL_LOCK_DIR", cloud.dir())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn wait(child: Child) -> Run {
    Run::from(child.wait_with_output().expect("evacctl ends"))
}

fn text(run: &Run) -> String {
    format!("exit {}\n{}\n{}", run.code, run.stdout, run.stderr)
}

/// How many `evacuate` records of `journal` have `field` = `value`.
fn evacuate_records(journal: &Path, field: &str, value: &str) -> usize {
    journal_records(journal)
        .iter()
        .filter(|r| r["action"] == "evacuate" && r[field] == value)
        .count()
}

fn journal_records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

// -------------------------------------------------------------------------------------
// The simulated Consul, as another controller would use it
// -------------------------------------------------------------------------------------

const HOSTS_PREFIX: &str = "evacctl/leader/hosts";

struct Consul {
    url: String,
    http: reqwest::blocking::Client,
}

impl Consul {
    fn of(cloud: &SimCloud) -> Consul {
        Consul {
            url: cloud.consul_url("management"),
            http: SimCloud::client(),
        }
    }

    /// A session of "another controller": 30 s TTL, no lock-delay.
    fn session(&self) -> String {
        let v: Value = self
            .http
            .put(format!("{}/v1/session/create", self.url))
            .json(
                &json!({"Name": "ctl-9", "TTL": "30s", "LockDelay": "0s", "Behavior": "release",
                          "NodeChecks": []}),
            )
            .send()
            .and_then(|r| r.json())
            .expect("session create");
        v["ID"].as_str().expect("a session id").to_string()
    }

    /// Takes `key` with `session`, naming the holder as evacctl does; true when taken.
    fn acquire(&self, key: &str, session: &str) -> bool {
        let value = json!({"controller": "ctl-9", "pid": 4242, "since": "2026-12-03T12:00:00Z",
                           "command": "evacctl watch"});
        self.http
            .put(format!("{}/v1/kv/{key}?acquire={session}", self.url))
            .body(value.to_string())
            .send()
            .and_then(|r| r.json::<bool>())
            .unwrap_or(false)
    }

    fn delete(&self, key: &str) {
        let _ = self.http.delete(format!("{}/v1/kv/{key}", self.url)).send();
    }

    fn destroy(&self, session: &str) {
        let _ = self
            .http
            .put(format!("{}/v1/session/destroy/{session}", self.url))
            .send();
    }

    /// The keys under `prefix` (empty when none).
    fn keys(&self, prefix: &str) -> Vec<String> {
        self.http
            .get(format!("{}/v1/kv/{prefix}?keys", self.url))
            .send()
            .ok()
            .filter(|r| r.status().is_success())
            .and_then(|r| r.json::<Vec<String>>().ok())
            .unwrap_or_default()
    }

    /// The session holding `key`, if any.
    fn holder(&self, key: &str) -> Option<String> {
        let r = self
            .http
            .get(format!("{}/v1/kv/{key}", self.url))
            .send()
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
        let v: Value = r.json().ok()?;
        v[0]["Session"].as_str().map(str::to_string)
    }
}

// -------------------------------------------------------------------------------------
// a. The host's key re-checked just before each request
// -------------------------------------------------------------------------------------

/// While `host-evacuate` sends its evacuations one at a time, another controller takes the
/// host's Consul key (an operator deletes it, a watch elsewhere acquires it). The run sends
/// nothing more, journals what it did not send as not sent, and exits 14 naming the holder;
/// once the other lets go, a re-run sends the rest, each server once.
#[test]
fn a_host_key_taken_mid_run_stops_the_run_and_names_the_holder() {
    let cloud = SimCloud::with_scenario(&scenario(8));
    slow_evacuations(&cloud, 700);
    let config = config_with(&cloud, "evacctl.toml", "");
    let journal = cloud.dir().join("journal.jsonl");
    let child = spawn(
        &cloud,
        &config,
        &journal,
        &["host-evacuate", "compute-1", "--yes", "--concurrency", "1"],
    );
    SimCloud::wait_for(Duration::from_secs(60), || {
        cloud.evacuate_posts().len() >= 2
    })
    .expect("evacuations under way");
    let consul = Consul::of(&cloud);
    let key = format!("{HOSTS_PREFIX}/compute-1");
    assert!(
        consul.holder(&key).is_some(),
        "the run holds the host's key"
    );
    consul.delete(&key);
    let other = consul.session();
    assert!(
        consul.acquire(&key, &other),
        "the other controller takes the key"
    );

    let run = wait(child);
    let all = text(&run);
    assert_eq!(run.code, 14, "{all}");
    assert!(all.contains("is now held by"), "{all}");
    let sent = cloud.evacuate_posts().len();
    assert!(sent < 8, "{all}: everything was sent anyway");
    let not_sent = evacuate_records(&journal, "status", "not-sent");
    assert_eq!(
        not_sent,
        8 - sent,
        "{all}\n{:#?}",
        journal_records(&journal)
    );

    // The other controller lets go; the re-run sends what was not sent, at once.
    consul.destroy(&other);
    let again = wait(spawn(
        &cloud,
        &config,
        &journal,
        &["host-evacuate", "compute-1", "--yes", "--wait-lock", "30s"],
    ));
    assert_eq!(again.code, 0, "{all}\nre-run: {}", text(&again));
    each_evacuated_once(&cloud, 8, &text(&again));
}

/// The simulator's config for `watch`: no power-on attempt (the host stays dead), evacuations
/// `concurrency` at a time, and `extra`.
fn watch_config(cloud: &SimCloud, concurrency: u32, extra: &str) -> PathBuf {
    let sim_config = std::fs::read_to_string(cloud.evacctl_config()).expect("the sim's config");
    let path = cloud.dir().join("watch.toml");
    let policy =
        format!("[policy]\npower_on_recovery = false\nevacuate_concurrency = {concurrency}\n");
    std::fs::write(&path, sim_config.replacen("[policy]\n", &policy, 1) + extra)
        .expect("write config");
    path
}

/// `watch` on a cloud of `n` servers on the dead compute-1, Nova answering each evacuation
/// after `latency_ms`: the cloud, the journal and the running watch.
fn start_watch(
    n: usize,
    latency_ms: u64,
    concurrency: u32,
    extra: &str,
) -> (SimCloud, PathBuf, Child) {
    let cloud = SimCloud::with_scenario(&scenario(n));
    slow_evacuations(&cloud, latency_ms);
    let config = watch_config(&cloud, concurrency, extra);
    let journal = cloud.dir().join("journal.jsonl");
    let child = spawn(&cloud, &config, &journal, &["watch"]);
    (cloud, journal, child)
}

fn sigterm(child: Child) -> Run {
    // SAFETY: a signal to the child this test started.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    wait(child)
}

/// The same for `watch`: another controller takes the host's key while watch sends its
/// evacuations one at a time. Watch sends nothing more (not sent, journaled), does not call
/// the host evacuated, skips it while it is held, and finishes it once the key is free: each
/// server once.
#[test]
fn watch_stops_sending_when_the_host_key_is_taken_and_finishes_once_free() {
    let (cloud, journal, child) = start_watch(6, 1500, 1, "");
    let count = |status: &str| evacuate_records(&journal, "status", status);
    if SimCloud::wait_for(Duration::from_secs(90), || count("accepted") >= 1).is_none() {
        panic!("no evacuation: {}", text(&sigterm(child)));
    }
    let consul = Consul::of(&cloud);
    let key = format!("{HOSTS_PREFIX}/compute-1");
    consul.delete(&key);
    let other = consul.session();
    assert!(
        consul.acquire(&key, &other),
        "the other controller takes the key"
    );
    if SimCloud::wait_for(Duration::from_secs(60), || count("not-sent") >= 1).is_none() {
        panic!("nothing kept back: {}", text(&sigterm(child)));
    }
    let evacuated = || {
        journal_records(&journal).iter().any(|r| {
            r["action"] == "state" && r["host"] == "compute-1" && r["status"] == "evacuated"
        })
    };
    // A few cycles while the other holds the host: nothing more sent, not called evacuated.
    let sent = count("accepted") + count("no-answer") + count("failed");
    std::thread::sleep(Duration::from_secs(3));
    assert!(!evacuated(), "called evacuated while servers were not sent");
    assert_eq!(
        count("accepted") + count("no-answer") + count("failed"),
        sent,
        "sent while another controller held the host"
    );
    assert!(sent < 6);

    consul.destroy(&other);
    let done = SimCloud::wait_for(Duration::from_secs(120), || {
        evacuated() && evacuations(&cloud).len() == 6
    });
    let run = sigterm(child);
    assert!(done.is_some(), "{}", text(&run));
    assert!(run.stderr.contains("is now held by"), "{}", text(&run));
    each_evacuated_once(&cloud, 6, &text(&run));
}

// -------------------------------------------------------------------------------------
// b. Keys given back when a run ends
// -------------------------------------------------------------------------------------

/// Two runs one after the other: the second gets the host at once (no `--wait-lock`), and no
/// host key is left behind in Consul. Then a run stopped by SIGINT while it waits for a second
/// host (holding the first one's key, nothing in flight) gives its key back too: the next run
/// on that host is not told "held" by a dead one.
#[test]
fn consecutive_runs_get_the_host_at_once_even_after_a_signal() {
    let cloud = SimCloud::with_scenario(&scenario(2));
    let config = config_with(&cloud, "evacctl.toml", "");
    let journal = cloud.dir().join("journal.jsonl");
    let consul = Consul::of(&cloud);
    for i in 0..2 {
        let run = wait(spawn(
            &cloud,
            &config,
            &journal,
            &["host-evacuate", "compute-1", "--yes"],
        ));
        assert!(run.code == 0 || run.code == 12, "run {i}: {}", text(&run));
        let left = consul.keys(HOSTS_PREFIX);
        assert!(left.is_empty(), "run {i} left {left:?}");
    }

    // compute-3 is held by another controller; `ipmi power on compute-2 compute-3` takes
    // compute-2 (file and key), then waits for compute-3.
    let other = consul.session();
    assert!(consul.acquire(&format!("{HOSTS_PREFIX}/compute-3"), &other));
    let child = spawn(
        &cloud,
        &config,
        &journal,
        &[
            "ipmi",
            "power",
            "on",
            "compute-2",
            "compute-3",
            "--yes",
            "--wait-lock",
            "60s",
        ],
    );
    let key2 = format!("{HOSTS_PREFIX}/compute-2");
    SimCloud::wait_for(Duration::from_secs(30), || consul.holder(&key2).is_some())
        .expect("compute-2 held while waiting for compute-3");
    // SAFETY: a signal to the child this test started.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) },
        0
    );
    let stopped = wait(child);
    assert_eq!(stopped.code, 130, "{}", text(&stopped));
    assert_eq!(consul.holder(&key2), None, "compute-2's key was given back");
    let next = wait(spawn(
        &cloud,
        &config,
        &journal,
        &["ipmi", "power", "on", "compute-2", "--yes"],
    ));
    assert_eq!(next.code, 0, "{}", text(&next));
    consul.destroy(&other);
}

// -------------------------------------------------------------------------------------
// d. An unknown host takes no lock
// -------------------------------------------------------------------------------------

/// A mistyped host: a clear error naming the closest host, as before, and neither a lock file
/// nor a Consul key was made for it.
#[test]
fn an_unknown_host_is_refused_before_any_lock_is_taken() {
    let cloud = SimCloud::with_scenario(&scenario(2));
    let config = config_with(&cloud, "evacctl.toml", "");
    let journal = cloud.dir().join("journal.jsonl");
    let consul = Consul::of(&cloud);
    for args in [
        &["host-evacuate", "compute-l", "--yes"][..],
        &["restore", "compute-l", "--yes"][..],
        &["migrate-volumes", "compute-l", "--to", "compute-2", "--yes"][..],
    ] {
        let run = wait(spawn(&cloud, &config, &journal, args));
        let all = text(&run);
        assert_eq!(run.code, 2, "{args:?}: {all}");
        assert!(
            run.stderr.contains("unknown") && run.stderr.contains("compute-l"),
            "{args:?}: {all}"
        );
        let locks: Vec<String> = std::fs::read_dir(cloud.dir())
            .expect("the lock directory")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("host-"))
            .collect();
        assert!(locks.is_empty(), "{args:?}: lock files {locks:?}");
        assert!(
            consul.keys(HOSTS_PREFIX).is_empty(),
            "{args:?}: keys {:?}",
            consul.keys(HOSTS_PREFIX)
        );
    }
    let run = wait(spawn(
        &cloud,
        &config,
        &journal,
        &["host-evacuate", "compute-l", "--yes"],
    ));
    assert!(
        run.stderr.contains("did you mean `compute-1`"),
        "{}",
        text(&run)
    );
}

// -------------------------------------------------------------------------------------
// c. A server that drips its answer
// -------------------------------------------------------------------------------------

/// A loopback server that reads a request's headers, then answers 200 with headers announcing
/// 1000 bytes and sends one byte per second. Lives as long as the test process.
fn dripping_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || drip(conn));
        }
    });
    addr
}

fn drip(mut conn: TcpStream) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !seen.ends_with(b"\r\n\r\n") && seen.len() < 65536 {
        match conn.read(&mut byte) {
            Ok(1) => seen.push(byte[0]),
            _ => return,
        }
    }
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n";
    if conn.write_all(head.as_bytes()).is_err() {
        return;
    }
    for _ in 0..1000 {
        if conn.write_all(b" ").is_err() {
            return;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// The simulator's config with every Consul cluster at `addr`, and `extra` appended.
fn consul_at(cloud: &SimCloud, addr: &str, name: &str, extra: &str) -> PathBuf {
    let text = std::fs::read_to_string(cloud.evacctl_config()).expect("the sim's config");
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with("addresses = ") {
            out.push_str(&format!("addresses = [\"http://{addr}\"]\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str(extra);
    let path = cloud.dir().join(name);
    std::fs::write(&path, out).expect("write config");
    path
}

/// Runs `child` until it ends, killing it after `limit` (then the test fails).
fn ends_within(child: Child, limit: Duration, what: &str) -> Run {
    let pid = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let done = std::sync::Arc::clone(&done);
        std::thread::spawn(move || {
            let end = std::time::Instant::now() + limit;
            while std::time::Instant::now() < end {
                if done.load(std::sync::atomic::Ordering::SeqCst) {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            // SAFETY: a signal to the child this test started (still waited for below).
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            true
        })
    };
    let run = wait(child);
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let killed = watchdog.join().unwrap_or(false);
    assert!(
        !killed,
        "{what}: still running after {limit:?}: {}",
        text(&run)
    );
    run
}

/// Every Consul agent drips its answers: `check-consul` gives up at the Consul client's
/// timeout with exit 8; with Keystone dripping too, `check-services` and `watch --once` give up
/// at `api_timeout` with exit 8.
#[test]
fn the_checks_give_up_on_a_dripping_server_within_their_timeout() {
    let cloud = SimCloud::with_scenario(&scenario(2));
    let addr = dripping_server();
    let config = consul_at(
        &cloud,
        &addr,
        "drip.toml",
        "\n[cloud]\napi_timeout = \"2s\"\nretries = 0\n",
    );
    let journal = cloud.dir().join("journal.jsonl");
    let limit = Duration::from_secs(90);

    let run = ends_within(
        spawn(&cloud, &config, &journal, &["check-consul"]),
        limit,
        "check-consul",
    );
    assert_eq!(run.code, 8, "{}", text(&run));
    assert!(run.stderr.contains("timed out"), "{}", text(&run));

    // Keystone drips too: nothing can be observed.
    let clouds = std::fs::read_to_string(cloud.clouds_yaml()).expect("clouds.yaml");
    let sim = cloud.url().trim_start_matches("http://").to_string();
    let dripping = cloud.dir().join("drip-clouds.yaml");
    std::fs::write(&dripping, clouds.replace(&sim, &addr)).expect("write clouds.yaml");
    for args in [&["check-services"][..], &["watch", "--once"][..]] {
        let child = Command::new(env!("CARGO_BIN_EXE_evacctl"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", cloud.dir())
            .env("OS_CLIENT_CONFIG_FILE", &dripping)
            .env("OS_CLOUD", "sim")
            .env("EVACCTL_CONFIG", &config)
            .env("EVACCTL_JOURNAL", &journal)
            .env("EVACCTL_LOCK_DIR", cloud.dir())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start evacctl");
        let run = ends_within(child, limit, &args.join(" "));
        assert_eq!(run.code, 8, "{args:?}: {}", text(&run));
        assert!(run.stderr.contains("timed out"), "{args:?}: {}", text(&run));
    }
}

/// `watch` whose Consul agents drip their answers gets SIGTERM while it waits for them: it
/// ends at once rather than at the Consul client's timeout (10 s; the bound here is 5 s, a
/// liveness check).
#[test]
fn sigterm_ends_watch_while_a_server_drips() {
    let cloud = SimCloud::with_scenario(&scenario(2));
    let addr = dripping_server();
    let config = consul_at(&cloud, &addr, "drip.toml", "");
    let journal = cloud.dir().join("journal.jsonl");
    let child = spawn(&cloud, &config, &journal, &["watch"]);
    // Let it reach its first Consul request (the leader lock's, or the observation's).
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: a signal to the child this test started.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    let run = ends_within(child, Duration::from_secs(5), "watch after SIGTERM");
    assert!(run.code == 0 || run.code == 143, "{}", text(&run));
}

/// `watch` gets SIGTERM while its evacuation requests are in flight (Nova answers each after
/// 6 s): it ends at once, what was in flight journaled in doubt and what was not sent as not
/// sent; the next `watch --once` runs finish the host, each server evacuated once.
#[test]
fn sigterm_with_evacuations_in_flight_then_rerun_sends_nothing_twice() {
    // Nova's answers awaited long enough to be in flight when the signal comes.
    let extra = "\n[cloud]\napi_timeout = \"20s\"\n";
    let (cloud, journal, child) = start_watch(6, 6000, 2, extra);
    let config = cloud.dir().join("watch.toml");
    // Intents are journaled just before their requests leave.
    let intents = || evacuate_records(&journal, "kind", "intent");
    if SimCloud::wait_for(Duration::from_secs(90), || intents() > 0).is_none() {
        let mut child = child;
        let _ = child.kill();
        panic!(
            "no evacuation sent: {}\n{:#?}",
            text(&wait(child)),
            journal_records(&journal)
        );
    }
    // The first two requests leave at once; each is answered after 6 s.
    std::thread::sleep(Duration::from_secs(1));
    // SAFETY: a signal to the child this test started.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    let run = ends_within(child, Duration::from_secs(5), "watch after SIGTERM");
    let all = text(&run);
    assert!(run.code == 0 || run.code == 143, "{all}");
    // What was in flight is in doubt, the others never sent.
    let records = journal_records(&journal);
    let status = |s: &str| evacuate_records(&journal, "status", s);
    assert!(status("no-answer") <= 2, "{all}\n{records:#?}");
    assert_eq!(
        status("no-answer") + status("not-sent"),
        6,
        "{all}\n{records:#?}"
    );

    // The next cron runs: what was in flight is held until Nova shows it; nothing twice.
    let done = SimCloud::wait_for(Duration::from_secs(120), || {
        let _ = wait(spawn(&cloud, &config, &journal, &["watch", "--once"]));
        evacuations(&cloud).len() == 6
    });
    assert!(done.is_some(), "{:#?}", journal_records(&journal));
    // Let what Nova still holds (6 s each) land before counting.
    std::thread::sleep(Duration::from_secs(7));
    each_evacuated_once(&cloud, 6, "after SIGTERM and re-runs");
}

// -------------------------------------------------------------------------------------
// A torn journal, a SIGKILL, a resume
// -------------------------------------------------------------------------------------

/// `host-evacuate` is killed (SIGKILL) half way, and its journal's last record is cut in the
/// middle as a crash mid-write leaves it. The re-runs read every record written after the
/// torn one, wait out what may still be in Nova's hands, and evacuate nothing twice.
#[test]
fn a_torn_journal_then_sigkill_and_resume_evacuates_nothing_twice() {
    let cloud = SimCloud::with_scenario(&scenario(12));
    slow_evacuations(&cloud, 400);
    let config = config_with(&cloud, "evacctl.toml", "\n[cloud]\napi_timeout = \"3s\"\n");
    let journal = cloud.dir().join("journal.jsonl");
    let mut child = spawn(
        &cloud,
        &config,
        &journal,
        &["host-evacuate", "compute-1", "--yes", "--concurrency", "2"],
    );
    let accepted = || evacuate_records(&journal, "status", "accepted");
    SimCloud::wait_for(Duration::from_secs(60), || accepted() >= 3).expect("evacuations");
    let _ = child.kill();
    let _ = child.wait();
    // What was in flight lands in Nova (400 ms each) before the journal is torn.
    std::thread::sleep(Duration::from_secs(1));
    let bytes = std::fs::read(&journal).expect("the journal");
    let last_start = bytes[..bytes.len() - 1]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let cut = last_start + (bytes.len() - last_start) / 2;
    std::fs::write(&journal, &bytes[..cut]).expect("tear the journal");
    let kept = journal_records(&journal).len();

    let mut runs = Vec::new();
    let done = SimCloud::wait_for(Duration::from_secs(90), || {
        let run = wait(spawn(
            &cloud,
            &config,
            &journal,
            &["host-evacuate", "compute-1", "--yes", "--wait-lock", "30s"],
        ));
        runs.push(text(&run));
        std::thread::sleep(Duration::from_millis(500));
        evacuations(&cloud).len() == 12
    });
    let all = runs.join("\n---\n");
    assert!(done.is_some(), "{all}");
    each_evacuated_once(&cloud, 12, &all);
    // Every line after the torn one is a whole record.
    let text = std::fs::read_to_string(&journal).expect("the journal");
    let lines: Vec<&str> = text.lines().collect();
    let bad: Vec<&&str> = lines
        .iter()
        .filter(|l| serde_json::from_str::<Value>(l).is_err())
        .collect();
    assert_eq!(bad.len(), 1, "only the torn record is unreadable: {bad:?}");
    assert!(
        journal_records(&journal).len() > kept,
        "the re-runs' records are read"
    );
}

/// With Consul given only by `CONSUL_HTTP_ADDR` (no `[consul.NAME]`), the host keys live there,
/// as the leader lock does: a host another controller holds is refused (14, naming it), and
/// the run takes a free one there.
#[test]
fn with_only_consul_http_addr_the_host_keys_live_in_that_consul() {
    let cloud = SimCloud::with_scenario(&scenario(1));
    let sim_config = std::fs::read_to_string(cloud.evacctl_config()).expect("the sim's config");
    let config = cloud.dir().join("no-consul-tables.toml");
    std::fs::write(&config, common::sim::without_consul_tables(&sim_config)).expect("write config");
    let journal = cloud.dir().join("journal.jsonl");
    let consul = Consul::of(&cloud);
    let run = |args: &[&str]| {
        let mut c = command(&cloud, &config, &journal, args);
        c.env("CONSUL_HTTP_ADDR", consul.url.as_str());
        wait(c.spawn().expect("start evacctl"))
    };

    let other = consul.session();
    assert!(consul.acquire(&format!("{HOSTS_PREFIX}/compute-1"), &other));
    let held = run(&["ipmi", "power", "on", "compute-1", "--yes"]);
    assert_eq!(held.code, 14, "{}", text(&held));
    assert!(held.stderr.contains("ctl-9"), "{}", text(&held));

    // A free host is taken in that Consul and given back at the end.
    consul.destroy(&other);
    let free = run(&["ipmi", "power", "on", "compute-1", "--yes"]);
    assert_eq!(free.code, 0, "{}", text(&free));
    let key = format!("{HOSTS_PREFIX}/compute-1");
    assert_eq!(consul.holder(&key), None, "the key was given back");
}

/// `watch` gets SIGTERM while a program it runs hangs (here the fence agent reading compute-1's
/// power, allowed 60 s): the program and what it started are stopped and `watch` ends at once
/// (the bound here is 10 s, a liveness check), the step failing as after a timeout.
#[test]
fn sigterm_ends_watch_while_a_program_it_runs_hangs() {
    use std::os::unix::fs::PermissionsExt;
    let cloud = SimCloud::with_scenario(&scenario(1));
    let agent = cloud.dir().join("slow-agent");
    let pid_file = cloud.dir().join("agent.pid");
    std::fs::write(
        &agent,
        format!(
            "#!/bin/sh\nsleep 120 &\necho $! > '{}'\nwait\n",
            pid_file.display()
        ),
    )
    .expect("write the agent");
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = watch_config(&cloud, 1, "");
    let text_of = std::fs::read_to_string(&config).unwrap();
    let redfish = "system_id = \"compute-1\"\n";
    assert!(text_of.contains(redfish), "{text_of}");
    let fence_agent = format!(
        "driver = \"fence-agent\"\nagent = \"{}\"\ntimeout = \"60s\"\n",
        agent.display()
    );
    std::fs::write(&config, text_of.replace(redfish, &fence_agent)).unwrap();
    let journal = cloud.dir().join("journal.jsonl");
    let child = spawn(&cloud, &config, &journal, &["watch"]);
    let sleep_pid = || {
        std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
    };
    let started = SimCloud::wait_for(Duration::from_secs(90), || sleep_pid().is_some());
    let Some(sleep_pid) = started.and_then(|_| sleep_pid()) else {
        let mut child = child;
        let _ = child.kill();
        panic!("the agent never ran: {}", text(&wait(child)));
    };
    // SAFETY: a signal to the child this test started.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    let run = ends_within(child, Duration::from_secs(10), "watch after SIGTERM");
    assert!(run.code == 0 || run.code == 143, "{}", text(&run));
    // What the agent started is gone too (or a zombie of whoever adopted it).
    let state = std::fs::read_to_string(format!("/proc/{sleep_pid}/stat")).unwrap_or_default();
    let running = state
        .rsplit(')')
        .next()
        .is_some_and(|rest| !rest.trim_start().starts_with('Z'));
    assert!(!running, "the agent's sleep {sleep_pid} survived: {state}");
}
