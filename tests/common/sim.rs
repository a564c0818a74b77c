//! `SimCloud`: the real `evacctl-sim` binary on a free loopback port, killed when dropped.
//!
//! ```ignore
//! mod common;
//! let cloud = common::sim::SimCloud::start();              // embedded default scenario
//! let cloud = common::sim::SimCloud::with_scenario(TOML);   // a scenario of the test's own
//! cloud.ctl("POST", "hosts/compute-1/power-off", None);
//! std::env::set_var("OS_CLIENT_CONFIG_FILE", cloud.clouds_yaml()); // cloud name "sim"
//! ```
#![allow(dead_code)] // each test binary uses its own subset

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The `evacctl-sim` binary of this build. It belongs to the workspace member
/// `crates/evacctl-sim`; cargo sets no `CARGO_BIN_EXE_` variable for another package's binary
/// and `cargo test` does not build it, so scripts/test builds it first
/// (`cargo build -p evacctl-sim`) and it is found in the profile directory above the tests.
pub fn sim_exe() -> &'static str {
    static EXE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    EXE.get_or_init(|| {
        let me = std::env::current_exe().expect("the test binary's path");
        // target/<profile>/deps/<test> -> target/<profile>/evacctl-sim
        let dir = me
            .parent()
            .and_then(Path::parent)
            .expect("the test binary lies in target/<profile>/deps");
        let exe = dir.join("evacctl-sim");
        assert!(
            exe.is_file(),
            "{} is missing: build the simulator first (`cargo build -p evacctl-sim`, as \
             scripts/test does)",
            exe.display()
        );
        exe.to_str().expect("a UTF-8 target directory").to_string()
    })
}

/// The default scenario's admin credentials.
pub const ADMIN: (&str, &str, &str) = ("admin", "sim-admin-password", "admin");
/// The default scenario's application credential (id, secret).
pub const APP_CRED: (&str, &str) = ("5f1c0d1e8a3b4c2d9e7f6a5b4c3d2e1f", "sim-app-cred-secret");

/// A fast-ticking scenario: heartbeats every second, down after 2 s.
pub const FAST_SCENARIO: &str = r#"
[cloud]
region = "RegionOne"
service_down_time = 2
report_interval = 1
token_lifetime = 3600

[[users]]
name = "admin"
password = "sim-admin-password"
project = "admin"
roles = ["admin"]

[[users]]
name = "viewer"
password = "viewer-pw"
project = "demo"
roles = ["reader"]

[[application_credentials]]
id = "5f1c0d1e8a3b4c2d9e7f6a5b4c3d2e1f"
name = "evacctl"
secret = "sim-app-cred-secret"
user = "admin"

[[hosts]]
name = "ctl-1"
role = "controller"

[[hosts]]
name = "compute-1"
role = "compute"
cinder_backends = ["ceph"]

[[hosts]]
name = "compute-2"
role = "compute"
cinder_backends = ["ceph"]
"#;

/// A finished `evacctl` run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<std::process::Output> for Run {
    fn from(out: std::process::Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Run {
    /// stdout as JSON; panics with both outputs otherwise.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}

pub struct SimCloud {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl SimCloud {
    /// The embedded default scenario.
    pub fn start() -> SimCloud {
        SimCloud::spawn(None)
    }

    /// A scenario given as TOML text.
    pub fn with_scenario(toml: &str) -> SimCloud {
        SimCloud::spawn(Some(toml))
    }

    fn spawn(scenario: Option<&str>) -> SimCloud {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cmd = Command::new(sim_exe());
        cmd.arg("serve").arg("--listen").arg("127.0.0.1:0");
        if let Some(text) = scenario {
            let path = dir.path().join("scenario.toml");
            std::fs::write(&path, text).expect("write scenario");
            cmd.arg("--scenario").arg(path);
        }
        cmd.arg("--clouds-yaml").arg(dir.path().join("clouds.yaml"));
        cmd.arg("--env-file").arg(dir.path().join("openrc"));
        cmd.arg("--evacctl-config")
            .arg(dir.path().join("evacctl.toml"));
        let log = std::fs::File::create(dir.path().join("sim.log")).expect("log file");
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(log);
        let mut child = cmd.spawn().expect("start evacctl-sim");
        let stdout = child.stdout.take().expect("stdout");
        // Read the one line on a thread, so a sim that never prints cannot hang the test.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let mut reader = BufReader::new(stdout);
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            // Keep the pipe open (and drained) for the life of the child.
            let _ = reader.read_to_end(&mut Vec::new());
        });
        let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
        let Some(url) = line.trim().strip_prefix("evacctl-sim listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(dir.path().join("sim.log")).unwrap_or_default();
            panic!("evacctl-sim did not start: stdout {line:?}, stderr:\n{log}");
        };
        SimCloud {
            url: url.to_string(),
            child,
            dir,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, if the sim has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The clouds.yaml written for this cloud (cloud name `sim`).
    pub fn clouds_yaml(&self) -> PathBuf {
        self.dir.path().join("clouds.yaml")
    }

    /// The evacctl config.toml written for this cloud: its compute hosts fenced through the
    /// simulated Redfish BMCs, and its `[consul.NAME]` clusters.
    pub fn evacctl_config(&self) -> PathBuf {
        self.dir.path().join("evacctl.toml")
    }

    /// A simulated Consul cluster's URL.
    pub fn consul_url(&self, cluster: &str) -> String {
        let state = self.ctl("GET", "consul", None);
        state["clusters"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["name"] == cluster))
            .and_then(|c| c["url"].as_str())
            .unwrap_or_else(|| panic!("no Consul cluster {cluster}: {state}"))
            .to_string()
    }

    /// Cuts, makes leave or restores a host in a Consul network (a cluster, a role or `all`).
    pub fn network(&self, host: &str, network: &str, action: &str) {
        self.ctl(
            "POST",
            &format!("hosts/{host}/networks/{network}/{action}"),
            None,
        );
    }

    /// Runs the real `evacctl` against this cloud: a clean environment with its clouds.yaml
    /// (cloud `sim`), plus `env`.
    pub fn evacctl(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_evacctl"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir())
            .env("OS_CLIENT_CONFIG_FILE", self.clouds_yaml())
            .env("OS_CLOUD", "sim")
            // Host locks per cloud: tests running at once all name their hosts compute-1.
            .env("EVACCTL_LOCK_DIR", self.dir())
            .envs(env.iter().copied())
            .args(args)
            .output()
            .expect("run evacctl");
        Run::from(out)
    }

    /// [`Self::evacctl`] with the configuration the simulator wrote and a journal in the
    /// cloud's directory.
    pub fn evacctl_configured(&self, args: &[&str]) -> Run {
        let config = self.evacctl_config();
        let journal = self.dir().join("journal.jsonl");
        self.evacctl(
            args,
            &[
                ("EVACCTL_CONFIG", config.to_str().expect("UTF-8")),
                ("EVACCTL_JOURNAL", journal.to_str().expect("UTF-8")),
            ],
        )
    }

    /// Runs the real `evacctl` with no OpenStack settings at all (no clouds.yaml found, no
    /// `OS_*`), in the cloud's scratch directory.
    pub fn evacctl_without_cloud(&self, args: &[&str]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_evacctl"))
            .env_clear()
            .env("HOME", self.dir())
            .env("EVACCTL_LOCK_DIR", self.dir())
            .current_dir(self.dir())
            .args(args)
            .output()
            .expect("run evacctl");
        Run::from(out)
    }

    /// The sh env file written for this cloud.
    pub fn env_file(&self) -> PathBuf {
        self.dir.path().join("openrc")
    }

    /// A scratch directory that lives as long as the cloud.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What the sim logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sim.log")).unwrap_or_default()
    }

    pub fn client() -> reqwest::blocking::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("http client")
    }

    /// A control API call (`path` under `/_sim/`); panics unless it answers 2xx.
    pub fn ctl(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.ctl_raw(method, path, body);
        assert!(
            (200..300).contains(&status),
            "{method} /_sim/{path}: {status} {value}"
        );
        value
    }

    /// A control API call: (status, JSON body).
    pub fn ctl_raw(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}/_sim/{path}", self.url);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = SimCloud::client().request(method, url);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().expect("control API");
        let status = resp.status().as_u16();
        (status, resp.json().expect("control API JSON"))
    }

    /// The paths of the server actions (evacuations) Nova received so far, in order.
    pub fn evacuate_posts(&self) -> Vec<String> {
        self.ctl("GET", "requests", None)["requests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| {
                r["method"] == "POST" && r["path"].as_str().is_some_and(|p| p.ends_with("/action"))
            })
            .filter_map(|r| r["path"].as_str().map(str::to_string))
            .collect()
    }

    pub fn power_off(&self, host: &str) {
        self.ctl("POST", &format!("hosts/{host}/power-off"), None);
    }

    pub fn power_on(&self, host: &str) {
        self.ctl("POST", &format!("hosts/{host}/power-on"), None);
    }

    /// A project-scoped token by password.
    pub fn token(&self, user: &str, password: &str, project: &str) -> String {
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"name": "Default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}});
        let resp = SimCloud::client()
            .post(format!("{}/identity/v3/auth/tokens", self.url))
            .json(&body)
            .send()
            .expect("token request");
        assert_eq!(resp.status().as_u16(), 201, "auth as {user}");
        resp.headers()["x-subject-token"]
            .to_str()
            .expect("token")
            .to_string()
    }

    pub fn admin_token(&self) -> String {
        self.token(ADMIN.0, ADMIN.1, ADMIN.2)
    }

    /// Polls `check` every 50 ms until it holds or `timeout` passes; the time it took.
    pub fn wait_for(timeout: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if check() {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for SimCloud {
    fn drop(&mut self) {
        // By PID, this child only.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An evacctl configuration without its `[consul.NAME]` tables (nor `[lock] consul_cluster`):
/// Consul is then only what `CONSUL_HTTP_ADDR` says.
pub fn without_consul_tables(text: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        if line.starts_with('[') {
            skipping = line.starts_with("[consul.");
        }
        if !skipping && !line.starts_with("consul_cluster = ") {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}
