//! Prometheus metrics of `watch` end to end on the simulated cloud: `[metrics] textfile`
//! written by `watch --once` (checked by `promtool check metrics` when it is installed; CI
//! installs it), `GET /metrics` served on loopback while the loop runs, and SIGHUP reloading
//! the configuration (a good one taken, its hash exported; a broken one refused, the loop
//! going on).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use common::bmc::{find_program, free_tcp_port, missing};
use common::sim::SimCloud;
use common::watch::{Watch, scenario, set_key};

const NAMES: [&str; 10] = [
    "evacctl_build_info",
    "evacctl_config_info",
    "evacctl_host_state",
    "evacctl_cycle_duration_seconds",
    "evacctl_last_cycle_success_timestamp_seconds",
    "evacctl_evacuations_total",
    "evacctl_fencing_total",
    "evacctl_gate_active",
    "evacctl_leader",
    "evacctl_observe_errors_total",
];

fn with_metrics(w: &Watch, key: &str, value: &str) -> PathBuf {
    let path = w.cloud.evacctl_config();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, set_key(&text, "metrics", key, value)).unwrap();
    path
}

fn sha256_of(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    ring::digest::digest(&ring::digest::SHA256, &bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The value of the `hash` label of `evacctl_config_info`.
fn hash_in(text: &str) -> Option<String> {
    let line = text
        .lines()
        .find(|l| l.starts_with("evacctl_config_info{"))?;
    Some(line.split('"').nth(1)?.to_string())
}

/// `promtool check metrics` on `text`: `None` when promtool is not installed (outside CI).
fn promtool(text: &str) -> Option<String> {
    let Some(promtool) = find_program("promtool") else {
        missing("promtool (Debian package prometheus)");
        return None;
    };
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn watch_once_writes_a_textfile_promtool_accepts() {
    let w = Watch::start(&scenario(), &[]);
    let prom = w.cloud.dir().join("textfile/evacctl.prom");
    std::fs::create_dir(prom.parent().unwrap()).unwrap();
    let config = with_metrics(&w, "textfile", &format!("{:?}", prom.display().to_string()));
    let (run, _) = w.once();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&prom).expect("the textfile");
    for name in NAMES {
        assert!(
            text.lines()
                .any(|l| l == format!("# TYPE {name} {}", kind(name))),
            "no {name} in\n{text}"
        );
    }
    assert!(
        text.contains("evacctl_host_state{host=\"compute-1\",state=\"healthy\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("evacctl_gate_active{gate=\"mass-failure\"} 0\n"),
        "{text}"
    );
    assert!(text.contains("evacctl_leader 1\n"), "{text}");
    assert_eq!(hash_in(&text), Some(sha256_of(&config)));
    assert!(
        text.contains(&format!(
            "evacctl_build_info{{version=\"{}\",",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&prom).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
    // Only the file: the temporary one was renamed.
    assert_eq!(
        std::fs::read_dir(prom.parent().unwrap()).unwrap().count(),
        1
    );
    promtool(&text);

    // A fenced and evacuated host: the journal's counters, kept by the next cron run too.
    w.cloud.power_off("compute-3");
    w.until("compute-3", &["evacuated"], 90);
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(
        text.contains("evacctl_fencing_total{result=\"ok\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("evacctl_evacuations_total{result=\"accepted\"} "),
        "{text}"
    );
    let success = |t: &str| {
        t.lines()
            .find_map(|l| l.strip_prefix("evacctl_last_cycle_success_timestamp_seconds "))
            .map(str::to_string)
    };
    let before = success(&text).expect("a success time");
    // The cloud unreachable: this run's cycle fails; the success time of the last one stays.
    let fault = serde_json::json!({"method": "GET", "path_contains": "os-services",
        "status": 503, "count": 100});
    w.cloud.ctl("POST", "faults", Some(fault));
    let (run, _) = w.once();
    assert_ne!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(
        text.contains("evacctl_observe_errors_total{source=\"cloud\"} 1\n"),
        "{text}\n{}",
        run.stderr
    );
    assert_eq!(success(&text), Some(before), "{text}");
    promtool(&text);
}

fn kind(name: &str) -> &'static str {
    if name.ends_with("_total") {
        "counter"
    } else {
        "gauge"
    }
}

/// The whole answer to `GET path`; `""` while nothing listens yet.
fn get(port: u16, path: &str) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

struct Loop {
    child: Child,
    log: PathBuf,
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Loop {
    fn start(w: &Watch) -> Loop {
        let log = w.cloud.dir().join("watch.log");
        let child = w
            .command(
                &w.cloud.evacctl_config(),
                &w.journal(),
                &["watch", "--interval", "300ms"],
            )
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start evacctl watch");
        Loop { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on the child this test started.
        let r = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(r, 0);
    }
}

#[test]
fn metrics_are_served_and_sighup_reloads_the_configuration() {
    let w = Watch::start(&scenario(), &[]);
    let port = free_tcp_port();
    let config = with_metrics(&w, "listen", &format!("\"127.0.0.1:{port}\""));
    let mut watch = Loop::start(&w);
    let served = |w: &Loop| {
        SimCloud::wait_for(Duration::from_secs(40), || {
            get(port, "/metrics").contains("evacctl_host_state{")
        })
        .unwrap_or_else(|| panic!("nothing served; log:\n{}", w.log()));
        get(port, "/metrics")
    };
    let text = served(&watch);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    let body = text.split_once("\r\n\r\n").unwrap().1;
    promtool(body);
    assert_eq!(hash_in(body), Some(sha256_of(&config)));
    assert!(get(port, "/").starts_with("HTTP/1.1 404 "));

    // A new configuration, then SIGHUP: the log says so, the hash follows, and what it asks
    // for is done (here a textfile, which the running one did not write).
    let prom = w.cloud.dir().join("reloaded.prom");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = set_key(&text, "policy", "confirmations", "3");
    let text = set_key(
        &text,
        "metrics",
        "textfile",
        &format!("{:?}", prom.display().to_string()),
    );
    std::fs::write(&config, &text).unwrap();
    let new_hash = sha256_of(&config);
    assert!(!prom.exists());
    watch.signal(libc::SIGHUP);
    let reloaded = format!("reloaded (sha256 {new_hash})");
    SimCloud::wait_for(Duration::from_secs(30), || watch.log().contains(&reloaded))
        .unwrap_or_else(|| panic!("no {reloaded:?} in the log:\n{}", watch.log()));
    SimCloud::wait_for(Duration::from_secs(30), || {
        hash_in(&get(port, "/metrics")).as_deref() == Some(new_hash.as_str())
    })
    .expect("the new hash served");
    SimCloud::wait_for(Duration::from_secs(30), || {
        std::fs::read_to_string(&prom).is_ok_and(|t| hash_in(&t) == Some(new_hash.clone()))
    })
    .unwrap_or_else(|| panic!("no textfile after the reload; log:\n{}", watch.log()));

    // A broken one: refused with its error, the running one kept, the loop going on.
    std::fs::write(
        &config,
        format!("{text}\n[policy]\nconfirmations = \"many\"\n"),
    )
    .unwrap();
    watch.signal(libc::SIGHUP);
    SimCloud::wait_for(Duration::from_secs(30), || {
        watch.log().contains("is refused")
    })
    .unwrap_or_else(|| panic!("no refusal in the log:\n{}", watch.log()));
    let log = watch.log();
    let refusal = log.lines().find(|l| l.contains("is refused")).unwrap();
    assert!(refusal.contains("ERROR"), "{refusal}");
    assert!(
        refusal.contains(&format!("the running one (sha256 {new_hash}) is kept")),
        "{refusal}"
    );
    let cycle_time = |t: &str| {
        t.lines()
            .find_map(|l| l.strip_prefix("evacctl_last_cycle_timestamp_seconds "))
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    let at_refusal = cycle_time(&get(port, "/metrics")).unwrap();
    SimCloud::wait_for(Duration::from_secs(30), || {
        cycle_time(&get(port, "/metrics")).is_some_and(|t| t > at_refusal)
    })
    .unwrap_or_else(|| panic!("no cycle after the refusal; log:\n{}", watch.log()));
    assert_eq!(
        hash_in(&get(port, "/metrics")).as_deref(),
        Some(new_hash.as_str())
    );
    assert!(watch.child.try_wait().unwrap().is_none(), "{}", watch.log());

    // SIGTERM: the ordinary stop, exit 0.
    watch.signal(libc::SIGTERM);
    let status = watch.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{}", watch.log());
}
