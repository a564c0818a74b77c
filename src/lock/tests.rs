//! The local lock with real processes; the leader lock against the simulated Consul, in
//! process.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::thread::sleep;

use super::*;
use crate::config::ConsulCluster;
use crate::consul::tests::{client, cluster, url};
use crate::error::Classify;
use crate::exit_codes::ExitCode;
use evacctl_sim::control::FaultSpec;
use evacctl_sim::{Scenario, SimHandle, spawn};

// -------------------------------------------------------------------------------------
// LocalLock
// -------------------------------------------------------------------------------------

#[test]
fn local_lock_creates_its_directory_names_its_holder_and_is_released_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run/evacctl/watch.lock");
    let first = LocalLock::acquire(&path).unwrap();
    assert_eq!(first.path(), path);
    // Made by the journal's create_private_dir (0700, tested there).
    assert!(path.parent().unwrap().is_dir());
    let text = std::fs::read_to_string(&path).unwrap();
    let prefix = format!("pid {} started 20", std::process::id());
    assert!(text.starts_with(&prefix), "{text:?}");
    assert!(
        text.trim_end().ends_with(&format!(" host {}", hostname())),
        "{text:?}"
    );

    // Another handle, as another process would have: refused, naming the holder.
    let e = LocalLock::acquire(&path).unwrap_err();
    match &e {
        LockError::Held { path: p, holder } => {
            assert_eq!(p, &path);
            assert_eq!(holder.as_deref(), Some(text.trim()));
        }
        other => panic!("{other:?}"),
    }
    let message = e.to_string();
    assert_eq!(
        message,
        format!(
            "another evacctl watch holds {} ({}): this run did nothing",
            path.display(),
            text.trim()
        )
    );
    assert_eq!(e.exit_code(), ExitCode::Locked);
    let wrapped = anyhow::Error::new(e).context("watch");
    assert_eq!(crate::error::exit_code_of(&wrapped), ExitCode::Locked);
    // The refused attempt left the holder's text alone.
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);

    drop(first);
    let again = LocalLock::acquire(&path).unwrap();
    drop(again);
    assert!(path.exists(), "the file stays; only the lock goes");
}

#[test]
fn an_unusable_lock_path_is_a_config_error_and_a_link_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain");
    std::fs::write(&file, "keep me").unwrap();
    let e = LocalLock::acquire(&file.join("watch.lock")).unwrap_err();
    assert!(matches!(e, LockError::Io { .. }), "{e:?}");
    assert_eq!(e.exit_code(), ExitCode::Config, "{e}");
    assert!(e.to_string().starts_with(&format!(
        "lock file {}: cannot ",
        file.join("watch.lock").display()
    )));

    #[cfg(unix)]
    {
        let link = dir.path().join("watch.lock");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let e = LocalLock::acquire(&link).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        assert_eq!(e.exit_code(), ExitCode::Config);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    }
}

/// Set in the child process of the test below: the lock file it holds.
const CHILD_ENV: &str = "EVACCTL_TEST_LOCK_CHILD";

/// Not a test of its own: the child process of
/// `a_second_process_is_refused_until_the_holder_dies` (this test binary, run again). It takes
/// the lock, says so, and holds it until its stdin closes or it is killed.
#[test]
fn local_lock_child_process() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let _lock = LocalLock::acquire(Path::new(&path)).unwrap();
    // After libtest's "test ... " on the same line.
    println!("held");
    let _ = io::copy(&mut io::stdin(), &mut io::sink());
}

/// Kills (by its own PID) and reaps the child when the test ends, however it ends.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_second_process_is_refused_until_the_holder_dies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("watch.lock");
    let mut child = ChildGuard(
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "lock::tests::local_lock_child_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let held = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.trim_end().ends_with("held"));
        let _ = tx.send(held);
    });
    // A give-up bound, so that a child that never answers cannot hang the test.
    let held = rx.recv_timeout(Duration::from_secs(60));
    assert_eq!(held, Ok(true), "the child process did not take the lock");

    let e = LocalLock::acquire(&path).unwrap_err();
    let LockError::Held { holder, .. } = &e else {
        panic!("{e:?}");
    };
    let holder = holder.as_deref().unwrap();
    assert!(
        holder.starts_with(&format!("pid {} started ", child.0.id())),
        "{holder}"
    );

    // SIGKILL: no destructor runs, the kernel releases the lock.
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let mine = LocalLock::acquire(&path).unwrap();
    let text = std::fs::read_to_string(mine.path()).unwrap();
    assert!(
        text.starts_with(&format!("pid {} ", std::process::id())),
        "{text}"
    );
}

// -------------------------------------------------------------------------------------
// LeaderLock
// -------------------------------------------------------------------------------------

const KEY: &str = "evacctl/leader";

/// The fast scenario, its sessions expiring at `TTL × multiplier`, and its management cluster.
fn consul_sim(multiplier: f64) -> (SimHandle, ConsulCluster) {
    let text = format!(
        "{}\n[consul]\nsession_ttl_multiplier = {multiplier}\n",
        include_str!("../../scenarios/fast.toml")
    );
    let sim = spawn(
        &Scenario::from_toml_str(&text, "test").unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let c = cluster("management", vec![url(&sim, "management")]);
    (sim, c)
}

/// A 10 s TTL that the scenario's multiplier 0.2 makes 2 s: renewals every 100 ms, the flag
/// lost after 1 s without one.
fn fast() -> LeaderTiming {
    LeaderTiming {
        ttl: Duration::from_secs(10),
        renew_every: Duration::from_millis(100),
        retry_every: Duration::from_millis(100),
        lost_after: Duration::from_secs(1),
        lock_delay: Duration::from_secs(1),
    }
}

fn leader(c: &ConsulCluster, name: &str, timing: LeaderTiming) -> LeaderLock {
    LeaderLock::with_timing(client(c), KEY, timing, name.into(), Clock::system())
}

/// Polls until `done` (a give-up bound, not a timing claim).
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < give_up, "gave up waiting: {what}");
        sleep(Duration::from_millis(50));
    }
}

fn standby_holder(l: &mut LeaderLock) -> Option<String> {
    match l.try_acquire().unwrap() {
        Leadership::Standby { holder } => holder,
        Leadership::Leader => panic!("expected a standby"),
    }
}

fn consul_requests(sim: &SimHandle) -> usize {
    let w = sim.world();
    let w = w.lock();
    w.requests
        .entries
        .iter()
        .filter(|r| r.path.starts_with("/consul/"))
        .count()
}

#[test]
fn one_leader_the_other_stands_by_naming_it_and_a_release_hands_over_at_once() {
    let (sim, c) = consul_sim(2.0);
    let mut a = leader(&c, "ctl-a", LeaderTiming::for_ttl(Duration::from_secs(10)));
    let mut b = leader(&c, "ctl-b", LeaderTiming::for_ttl(Duration::from_secs(10)));
    assert!(!a.is_leader());
    assert_eq!(a.try_acquire().unwrap(), Leadership::Leader);
    assert!(a.is_leader() && a.leader_flag().is_set());

    let holder = standby_holder(&mut b).unwrap();
    let prefix = format!("ctl-a (pid {}, since 20", std::process::id());
    assert!(holder.starts_with(&prefix), "{holder}");
    assert!(!b.is_leader());

    // The value is the holder's identity; the session has a TTL, no node checks, 1 s delay.
    let cc = client(&c);
    let entry = cc.kv_get(KEY).unwrap().unwrap();
    let id: Identity = serde_json::from_slice(&entry.value_bytes().unwrap()).unwrap();
    assert_eq!(
        (id.controller.as_str(), id.pid),
        ("ctl-a", std::process::id())
    );
    let session = cc
        .session_info(entry.session.as_deref().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(session.ttl, "10s");
    assert_eq!(session.lock_delay, 1_000_000_000);
    assert_eq!(session.behavior, Behavior::Release);

    // Already leader: no request.
    let before = consul_requests(&sim);
    assert_eq!(a.try_acquire().unwrap(), Leadership::Leader);
    assert_eq!(consul_requests(&sim), before);

    // A graceful release: no lock-delay, the standby takes over at its next attempt.
    let flag = a.leader_flag();
    a.release();
    assert!(!a.is_leader() && !flag.is_set());
    assert_eq!(b.try_acquire().unwrap(), Leadership::Leader);
    // Released, not died holding it: nothing of a's can still be on its way.
    assert_eq!(b.take_over_note(), None);
    assert!(standby_holder(&mut a).unwrap().starts_with("ctl-b (pid "));

    // Dropping the leader releases too.
    drop(b);
    assert_eq!(a.try_acquire().unwrap(), Leadership::Leader);
}

/// A release with requests still in doubt leaves them on the key for the next holder.
#[test]
fn a_release_hands_over_what_is_still_in_doubt() {
    let (_sim, c) = consul_sim(2.0);
    let mut a = leader(&c, "ctl-a", LeaderTiming::for_ttl(Duration::from_secs(10)));
    let mut b = leader(&c, "ctl-b", LeaderTiming::for_ttl(Duration::from_secs(10)));
    a.set_run("run-a");
    b.set_run("run-b");
    assert_eq!(a.try_acquire().unwrap(), Leadership::Leader);
    let hold = Hold {
        until: "2026-11-22T03:13:09Z".into(),
        hosts: Some(vec!["compute-3".into()]),
    };
    a.release_with(Some(hold.clone()));
    assert_eq!(b.try_acquire().unwrap(), Leadership::Leader);
    let previous = b.take_over_note().expect("the hand-over");
    assert!(previous.released);
    assert_eq!(previous.run.as_deref(), Some("run-a"));
    assert_eq!(previous.hold, Some(hold));
    // b releases with nothing in doubt: a finds nothing to take over.
    b.release();
    assert_eq!(a.try_acquire().unwrap(), Leadership::Leader);
    assert_eq!(a.take_over_note(), None);
}

/// A watch killed on this machine still holds the key until its session lapses: the standby
/// says so, and says how long at most.
#[test]
fn a_standby_says_when_the_holder_is_this_machines_dead_process() {
    let (_sim, c) = consul_sim(2.0);
    let cc = client(&c);
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = gone.id();
    gone.wait().unwrap();
    let session = cc
        .session_create(&SessionRequest {
            name: Some("a killed watch".into()),
            node: None,
            ttl: Some("15s".into()),
            lock_delay: Some("1s".into()),
            behavior: Behavior::Release,
            node_checks: Some(Vec::new()),
        })
        .unwrap();
    let id = Identity {
        controller: "ctl-b".into(),
        pid: dead_pid,
        since: "2026-11-22T03:12:09Z".into(),
        run: None,
        released: false,
        hold: None,
        command: None,
    };
    assert!(
        cc.kv_acquire(KEY, &serde_json::to_vec(&id).unwrap(), &session)
            .unwrap()
    );
    let mut b = leader(&c, "ctl-b", LeaderTiming::for_ttl(Duration::from_secs(15)));
    let holder = standby_holder(&mut b).unwrap();
    assert!(
        holder.contains(&format!("no process {dead_pid} visible here")),
        "{holder}"
    );
    assert!(holder.contains("30s at most"), "{holder}");
    // Another controller's holder is only named.
    let mut other = leader(&c, "ctl-c", LeaderTiming::for_ttl(Duration::from_secs(15)));
    let holder = standby_holder(&mut other).unwrap();
    assert_eq!(
        holder,
        format!("ctl-b (pid {dead_pid}, since 2026-11-22T03:12:09Z)")
    );
}

#[test]
fn a_holder_that_stops_renewing_stops_acting_before_the_standby_takes_over() {
    let (_sim, c) = consul_sim(0.2);
    let mut a = leader(&c, "ctl-a", fast());
    let mut b = leader(&c, "ctl-b", fast());
    assert_eq!(a.try_acquire().unwrap(), Leadership::Leader);
    let a_flag = a.leader_flag();
    // Renewals keep the 2 s session alive well past 2 s.
    sleep(Duration::from_millis(2500));
    assert!(a.is_leader());
    assert!(standby_holder(&mut b).unwrap().starts_with("ctl-a "));

    // As if the holder froze: no more renewals, no release.
    a.stop_renewing();
    eventually("the standby takes over", || {
        b.try_acquire().unwrap() == Leadership::Leader
    });
    // The old holder had stopped by its own deadline, before its session could end.
    assert!(!a_flag.is_set());
    assert!(!a.is_leader());
    assert!(b.is_leader());
    // b knows it took over from a holder that never released (said once).
    let dead = b.take_over_note().expect("a take-over from a dead holder");
    assert_eq!(dead.controller, "ctl-a");
    assert_eq!(b.take_over_note(), None);
}

#[test]
fn a_lost_session_or_key_clears_the_flag_and_the_lock_can_be_taken_again() {
    let (_sim, c) = consul_sim(0.2);
    let cc = client(&c);
    let mut a = leader(&c, "ctl-a", fast());
    assert_eq!(a.try_acquire().unwrap(), Leadership::Leader);
    let flag = a.leader_flag();

    // Someone destroys the session (or Consul invalidates it).
    let session = cc.kv_get(KEY).unwrap().unwrap().session.unwrap();
    assert!(cc.session_destroy(&session).unwrap());
    eventually("the holder notices", || !flag.is_set());
    assert!(!a.is_leader());
    // A new session, once the 1 s lock-delay is over.
    eventually("the lock is taken again", || {
        a.try_acquire().unwrap() == Leadership::Leader
    });
    assert!(flag.is_set(), "the same flag serves every term");
    // Its own identity on the key is not a take-over.
    assert_eq!(a.take_over_note(), None);
    let renewed = cc.kv_get(KEY).unwrap().unwrap().session.unwrap();
    assert_ne!(renewed, session);

    // An operator deletes the key to force a hand-over.
    assert!(cc.kv_delete(KEY).unwrap());
    eventually("the holder notices", || !flag.is_set());
}

#[test]
fn failing_or_hung_renewals_stop_the_leader_after_lost_after() {
    let (sim, c) = consul_sim(2.0);
    let mut a = leader(&c, "ctl-a", fast());
    assert_eq!(a.try_acquire().unwrap(), Leadership::Leader);
    let add = |latency_ms: u64, status: Option<u16>| {
        sim.world()
            .lock()
            .faults
            .add(FaultSpec {
                method: Some("PUT".into()),
                path_contains: "/consul/management/v1/session/renew/".into(),
                status,
                body: None,
                count: 1000,
                latency_ms,
            })
            .unwrap();
    };

    // Every renewal answers 500.
    add(0, Some(500));
    eventually("the leader gives up", || !a.is_leader());
    sim.world().lock().faults.clear();
    // The session is still alive (20 s): the same one takes the key again.
    let before = client(&c).kv_get(KEY).unwrap().unwrap().session;
    assert_eq!(a.try_acquire().unwrap(), Leadership::Leader);
    assert_eq!(client(&c).kv_get(KEY).unwrap().unwrap().session, before);

    // Renewals hang (3 s, longer than lost_after): the deadline alone stops the leader.
    add(3000, None);
    eventually("the leader gives up", || !a.is_leader());
    sim.world().lock().faults.clear();
}

#[test]
fn the_deadline_runs_on_the_injected_clock() {
    let (_sim, c) = consul_sim(2.0);
    let base = Instant::now();
    let offset = Arc::new(Mutex::new(Duration::ZERO));
    let clock = {
        let offset = Arc::clone(&offset);
        Clock::new(move || base + *offset.lock().unwrap())
    };
    let timing = LeaderTiming {
        // No renewal during the test.
        renew_every: Duration::from_secs(3600),
        ..LeaderTiming::for_ttl(Duration::from_secs(10))
    };
    assert_eq!(timing.lost_after, Duration::from_secs(5));
    assert_eq!(timing.retry_every, Duration::from_secs(1));
    let mut a = LeaderLock::with_timing(client(&c), KEY, timing, "ctl-a".into(), clock);
    assert_eq!(a.try_acquire().unwrap(), Leadership::Leader);
    let flag = a.leader_flag();
    *offset.lock().unwrap() = Duration::from_millis(4900);
    assert!(flag.is_set());
    *offset.lock().unwrap() = Duration::from_secs(5);
    assert!(!flag.is_set() && !a.is_leader());
    // The next attempt renews the session, which still holds the key.
    assert_eq!(a.try_acquire().unwrap(), Leadership::Leader);
    assert!(flag.is_set());
}

#[test]
fn default_timing_follows_the_ttl() {
    let t = LeaderTiming::for_ttl(Duration::from_secs(15));
    assert_eq!(t.renew_every, Duration::from_secs(5));
    assert_eq!(t.retry_every, Duration::from_secs(1));
    assert_eq!(t.lost_after, Duration::from_millis(7500));
    assert_eq!(t.lock_delay, Duration::from_secs(1));
}

#[test]
fn a_holder_is_shown_from_its_identity_or_its_text() {
    let entry = |value: &[u8], session: Option<&str>| KvEntry {
        key: KEY.into(),
        value: Some(crate::consul::types::encode_base64(value)),
        flags: 0,
        session: session.map(str::to_string),
        lock_index: 1,
        create_index: 1,
        modify_index: 1,
    };
    let id = br#"{"controller":"ctl-2","pid":4242,"since":"2026-11-22T03:12:09Z"}"#;
    let ttl = Duration::from_secs(15);
    assert_eq!(
        holder_of(&entry(id, Some("s1")), "me", ttl).as_deref(),
        Some("ctl-2 (pid 4242, since 2026-11-22T03:12:09Z)")
    );
    assert_eq!(holder_of(&entry(id, None), "me", ttl), None, "free key");
    assert_eq!(
        holder_of(&entry(b"other\ntool", Some("s1")), "me", ttl).as_deref(),
        Some("other tool")
    );
    assert_eq!(
        holder_of(&entry(b"", Some("s1")), "me", ttl).as_deref(),
        Some("session s1")
    );
}

// -------------------------------------------------------------------------------------
// Bounds, the pre-send re-check, the release on exit
// -------------------------------------------------------------------------------------

#[test]
fn huge_durations_neither_overflow_nor_hold_for_ever() {
    let t = LeaderTiming::for_ttl(Duration::MAX);
    assert_eq!(t.ttl, Duration::from_secs(86_400));
    assert_eq!(t.lost_after, Duration::from_secs(43_200));
    assert_eq!(
        LeaderTiming::for_ttl(Duration::ZERO).ttl,
        Duration::from_secs(10)
    );
    // A deadline an Instant cannot hold: not held at all, rather than held for ever.
    let flag = LeaderFlag::new(Clock::system(), Duration::MAX, "a test lock".into());
    let term = flag.start(Instant::now());
    assert!(!flag.is_set());
    assert!(!flag.extend(term, Instant::now()));
    let flag = LeaderFlag::new(
        Clock::system(),
        Duration::from_secs(60),
        "a test lock".into(),
    );
    let term = flag.start(Instant::now());
    assert!(flag.is_set());
    assert!(flag.extend(term, Instant::now()));
    // The message about a dead holder of this machine, with a TTL no configuration allows.
    let id = format!(
        r#"{{"controller":"me","pid":{},"since":"2026-11-22T03:12:09Z"}}"#,
        u32::MAX - 1
    );
    let entry = KvEntry {
        key: KEY.into(),
        value: Some(crate::consul::types::encode_base64(id.as_bytes())),
        flags: 0,
        session: Some("s1".into()),
        lock_index: 1,
        create_index: 1,
        modify_index: 1,
    };
    let text = holder_of(&entry, "me", Duration::MAX).unwrap();
    assert!(text.contains("within twice its TTL"), "{text}");
    // Waiting for a free host "for ever" takes it at once.
    let dir = tempfile::tempdir().unwrap();
    let locks = HostLocks::new(&crate::config::Config::default(), Some(dir.path()), "t").unwrap();
    assert!(locks.acquire("compute-9", Duration::MAX).unwrap().is_held());
}

/// A host key as `HostLocks` takes it: the session that `try_acquire` made, on
/// `<KEY>/hosts/<host>`.
fn host_key(c: &ConsulCluster, host: &str) -> LeaderLock {
    let mut l = LeaderLock::new(
        client(c),
        &format!("{KEY}/hosts/{host}"),
        Duration::from_secs(10),
        "ctl-a".into(),
    )
    .for_host(host, "evacctl host-evacuate");
    assert_eq!(l.try_acquire().unwrap(), Leadership::Leader);
    l
}

#[test]
fn the_re_check_before_a_request_sees_a_key_taken_by_another_controller() {
    let (_sim, c) = consul_sim(1.0);
    let host = "recheck-1";
    let ours = host_key(&c, host);
    assert_eq!(recheck_host(host), Ok(()));
    // No key held for another host: nothing to ask.
    assert_eq!(recheck_host("recheck-other"), Ok(()));

    // An operator deletes the key (a forced hand-over) and another controller takes it: the
    // renewal thread would see it only at its next renewal; the re-check sees it now.
    let other = client(&c);
    let key = format!("{KEY}/hosts/{host}");
    assert!(other.kv_delete(&key).unwrap());
    let session = other
        .session_create(&SessionRequest {
            name: Some("ctl-b".into()),
            node: None,
            ttl: Some("30s".into()),
            lock_delay: Some("0s".into()),
            behavior: Behavior::Release,
            node_checks: Some(Vec::new()),
        })
        .unwrap();
    let value = br#"{"controller":"ctl-b","pid":4242,"since":"2026-11-22T03:12:09Z","command":"evacctl watch"}"#;
    assert!(other.kv_acquire(&key, value, &session).unwrap());

    let holder = recheck_host(host).unwrap_err();
    assert!(holder.contains("pid 4242 (evacctl watch"), "{holder}");
    assert!(holder.contains("on ctl-b"), "{holder}");
    assert!(!ours.is_leader(), "the flag is cleared at once");
    assert_eq!(lost_to(host), Some(holder.clone()));
    // Asked again: the same answer, without asking Consul.
    assert_eq!(recheck_host(host), Err(holder));
    drop(ours);
    assert_eq!(lost_to(host), None);
    assert_eq!(recheck_host(host), Ok(()));
}

#[test]
fn a_run_that_exits_on_a_signal_gives_its_keys_back() {
    let (_sim, c) = consul_sim(1.0);
    let host = "release-1";
    let ours = host_key(&c, host);
    // What the signal handler runs before ending the process (the lock is never dropped).
    release_where(|h| h == Some(host));
    std::mem::forget(ours);
    // The next run gets the host at once: no session left holding it, no lock-delay.
    let mut next = LeaderLock::new(
        client(&c),
        &format!("{KEY}/hosts/{host}"),
        Duration::from_secs(10),
        "ctl-b".into(),
    )
    .for_host(host, "evacctl host-evacuate");
    assert_eq!(next.try_acquire().unwrap(), Leadership::Leader);
}
