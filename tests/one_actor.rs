//! One actor per host, interruption and prompts, end to end: the real binary against the
//! simulated cloud, with latency injected into Nova's evacuate action so that runs overlap
//! and a signal lands while requests are in flight (docs/design.md 2.5, 2.9).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::races::{each_evacuated_once, evacuations, scenario, slow_evacuations};
use common::sim::{Run, SimCloud};
use serde_json::{Value, json};

fn journal_in(cloud: &SimCloud, name: &str) -> PathBuf {
    cloud.dir().join(name)
}

/// `evacctl ARGS` as a child process, journaling to `journal`.
fn spawn(cloud: &SimCloud, journal: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_evacctl"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", cloud.dir())
        .env("OS_CLIENT_CONFIG_FILE", cloud.clouds_yaml())
        .env("OS_CLOUD", "sim")
        .env("EVACCTL_JOURNAL", journal)
        .env("EVACCTL_LOCK_DIR", cloud.dir())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start evacctl")
}

fn wait(child: Child) -> Run {
    Run::from(child.wait_with_output().expect("evacctl ends"))
}

/// The evacuate POSTs Nova received so far.
fn evacuate_posts(cloud: &SimCloud) -> usize {
    cloud.evacuate_posts().len()
}

fn server_id(cloud: &SimCloud, name: &str) -> String {
    cloud.ctl("GET", "servers", None)["servers"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == name))
        .and_then(|s| s["id"].as_str())
        .unwrap_or_else(|| panic!("no server {name}"))
        .to_string()
}

fn both(a: &Run, b: &Run) -> String {
    format!(
        "first: exit {}\n{}\n{}\nsecond: exit {}\n{}\n{}",
        a.code, a.stdout, a.stderr, b.code, b.stdout, b.stderr
    )
}

#[test]
fn two_host_evacuates_of_one_host_evacuate_each_server_once() {
    let cloud = SimCloud::with_scenario(&scenario(10));
    slow_evacuations(&cloud, 400);
    let j = journal_in(&cloud, "journal.jsonl");
    let args = ["host-evacuate", "compute-1", "--yes", "--concurrency", "3"];
    let a = spawn(&cloud, &j, &args);
    let b = spawn(&cloud, &j, &args);
    let (a, b) = (wait(a), wait(b));
    let text = both(&a, &b);
    let mut codes = [a.code, b.code];
    codes.sort_unstable();
    assert_eq!(codes, [0, 14], "{text}");
    let loser = if a.code == 14 { &a } else { &b };
    assert!(
        loser
            .stderr
            .contains("host compute-1 is being acted on by pid "),
        "{text}"
    );
    assert!(
        loser.stderr.contains("(evacctl host-evacuate compute-1"),
        "{text}"
    );
    each_evacuated_once(&cloud, 10, &text);
}

#[test]
fn a_second_host_evacuate_that_waits_finds_nothing_left() {
    let cloud = SimCloud::with_scenario(&scenario(10));
    slow_evacuations(&cloud, 400);
    let args = [
        "host-evacuate",
        "compute-1",
        "--yes",
        "--concurrency",
        "3",
        "--wait-lock",
        "60s",
    ];
    // Two journals: only Nova's records and the lock tell the second run what the first did.
    let a = spawn(&cloud, &journal_in(&cloud, "a.jsonl"), &args);
    let b = spawn(&cloud, &journal_in(&cloud, "b.jsonl"), &args);
    let (a, b) = (wait(a), wait(b));
    let text = both(&a, &b);
    assert_eq!((a.code, b.code), (0, 0), "{text}");
    assert!(
        a.stdout.contains("Nothing to evacuate") || b.stdout.contains("Nothing to evacuate"),
        "{text}"
    );
    each_evacuated_once(&cloud, 10, &text);
}

/// `evacuate vm-1 & sleep GAP; host-evacuate compute-1`, with one journal or two.
fn server_and_host_together(gap: Duration, one_journal: bool) {
    let cloud = SimCloud::with_scenario(&scenario(6));
    slow_evacuations(&cloud, 800);
    let first = journal_in(&cloud, "a.jsonl");
    let second = journal_in(&cloud, if one_journal { "a.jsonl" } else { "b.jsonl" });
    let a = spawn(&cloud, &first, &["evacuate", "vm-1", "--wait-lock", "60s"]);
    std::thread::sleep(gap);
    let b = spawn(
        &cloud,
        &second,
        &["host-evacuate", "compute-1", "--yes", "--wait-lock", "60s"],
    );
    let (a, b) = (wait(a), wait(b));
    let text = format!("gap {gap:?}, one journal {one_journal}: {}", both(&a, &b));
    // Started together, either may hold the host first. When host-evacuate did, vm-1 is
    // moving or moved by the time `evacuate` holds the host, which refuses it (13).
    assert_eq!(b.code, 0, "{text}");
    assert!(a.code == 0 || a.code == 13, "{text}");
    each_evacuated_once(&cloud, 6, &text);
    let vm1 = server_id(&cloud, "vm-1");
    assert_eq!(evacuations(&cloud).get(&vm1), Some(&1), "{text}");
}

#[test]
fn evacuate_and_host_evacuate_together_one_journal() {
    server_and_host_together(Duration::ZERO, true);
    server_and_host_together(Duration::from_millis(400), true);
}

#[test]
fn evacuate_and_host_evacuate_together_two_journals() {
    server_and_host_together(Duration::ZERO, false);
    server_and_host_together(Duration::from_millis(400), false);
}

/// A running host-evacuate of 30 servers gets SIGINT once `posts` evacuate POSTs reached
/// Nova (0: as soon as it started, before any); the re-run finishes the rest at once.
fn interrupted_then_rerun(posts: usize) {
    let cloud = SimCloud::with_scenario(&scenario(30));
    slow_evacuations(&cloud, 500);
    let j = journal_in(&cloud, "journal.jsonl");
    let child = spawn(
        &cloud,
        &j,
        &["host-evacuate", "compute-1", "--yes", "--concurrency", "5"],
    );
    let pid = child.id() as libc::pid_t;
    if posts == 0 {
        std::thread::sleep(Duration::from_millis(150));
    } else {
        SimCloud::wait_for(Duration::from_secs(30), || evacuate_posts(&cloud) >= posts)
            .expect("evacuations under way");
    }
    let sent_at = std::time::Instant::now();
    // SAFETY: a signal to the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let run = wait(child);
    let text = format!(
        "SIGINT after {posts} POSTs: exit {}\n{}\n{}",
        run.code, run.stdout, run.stderr
    );
    assert_eq!(run.code, 130, "{text}");
    // What was in flight (each 500 ms) is answered, nothing more is sent.
    assert!(sent_at.elapsed() < Duration::from_secs(5), "{text}");
    if posts > 0 {
        assert!(run.stdout.contains("Stopped by SIGINT"), "{text}");
        assert!(run.stdout.contains("never sent"), "{text}");
        let journal = std::fs::read_to_string(&j).unwrap_or_default();
        assert!(journal.contains("\"not-sent\""), "{text}\n{journal}");
    }
    let before = evacuations(&cloud).len();
    assert!(before < 30, "{text}: everything was sent anyway");

    let again = wait(spawn(
        &cloud,
        &j,
        &["host-evacuate", "compute-1", "--yes", "-f", "json"],
    ));
    let text = format!(
        "{text}\nre-run: exit {}\n{}\n{}",
        again.code, again.stdout, again.stderr
    );
    assert_eq!(again.code, 0, "{text}");
    let report: Value = again.json();
    assert_eq!(report["summary"]["accepted"], json!(30 - before), "{text}");
    assert!(!again.stdout.contains("request-in-doubt"), "{text}");
    each_evacuated_once(&cloud, 30, &text);
}

#[test]
fn sigint_before_anything_is_sent() {
    interrupted_then_rerun(0);
}

#[test]
fn sigint_with_the_first_evacuations_in_flight() {
    interrupted_then_rerun(1);
}

#[test]
fn sigint_half_way() {
    interrupted_then_rerun(15);
}

/// A pseudo-terminal: (the side evacctl gets as its terminal, the side the test types on).
fn pty() -> (std::fs::File, std::fs::File) {
    use std::ffi::CStr;
    use std::os::fd::FromRawFd;
    // SAFETY: plain libc calls on descriptors this test owns; each result is checked.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(master >= 0, "posix_openpt");
        assert_eq!(libc::grantpt(master), 0);
        assert_eq!(libc::unlockpt(master), 0);
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(master, name.as_mut_ptr(), name.len()), 0);
        let path = CStr::from_ptr(name.as_ptr()).to_str().unwrap().to_string();
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .expect("open the terminal side");
        (slave, std::fs::File::from_raw_fd(master))
    }
}

/// host-evacuate asking on a terminal; what the test types, and when.
fn prompted(cloud: &SimCloud, typed: &[(&str, Duration)]) -> (Run, usize) {
    use std::io::{Read, Write};
    let (slave, mut master) = pty();
    let child = Command::new(env!("CARGO_BIN_EXE_evacctl"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", cloud.dir())
        .env("OS_CLIENT_CONFIG_FILE", cloud.clouds_yaml())
        .env("OS_CLOUD", "sim")
        .env("EVACCTL_JOURNAL", journal_in(cloud, "journal.jsonl"))
        .env("EVACCTL_LOCK_DIR", cloud.dir())
        .args(["host-evacuate", "compute-1"])
        .stdin(slave.try_clone().unwrap())
        .stderr(slave)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start evacctl");
    // The terminal's output must be read, or evacctl blocks writing its question.
    let mut reader = master.try_clone().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut all = Vec::new();
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
            if String::from_utf8_lossy(&all).contains("Type yes and Enter") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the question is asked");
    // The evacuations Nova had received after the first text and its pause.
    let mut after_first = None;
    for (text, then) in typed {
        master.write_all(text.as_bytes()).unwrap();
        std::thread::sleep(*then);
        after_first.get_or_insert_with(|| evacuate_posts(cloud));
    }
    let run = Run::from(child.wait_with_output().expect("evacctl ends"));
    (run, after_first.unwrap_or_default())
}

#[test]
fn a_prompt_needs_a_typed_yes_and_enter() {
    let cloud = SimCloud::with_scenario(&scenario(3));
    // `y` alone does nothing; Enter then makes it `y`, a yes.
    let (run, before_enter) = prompted(
        &cloud,
        &[("y", Duration::from_millis(1500)), ("\n", Duration::ZERO)],
    );
    assert_eq!(before_enter, 0, "sent before Enter: {}", run.stdout);
    assert_eq!(run.code, 0, "{}", run.stdout);
    each_evacuated_once(&cloud, 3, &run.stdout);

    let cloud = SimCloud::with_scenario(&scenario(3));
    let (run, _) = prompted(&cloud, &[("yes\n", Duration::ZERO)]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    each_evacuated_once(&cloud, 3, &run.stdout);

    // Enter alone declines.
    let cloud = SimCloud::with_scenario(&scenario(3));
    let (run, _) = prompted(&cloud, &[("\n", Duration::ZERO)]);
    assert_eq!(run.code, 11, "{}", run.stdout);
    assert_eq!(
        evacuate_posts(&cloud),
        0,
        "{}",
        cloud.ctl("GET", "requests", None)
    );
}
