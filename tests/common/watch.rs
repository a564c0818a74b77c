//! `evacctl watch` against the simulated cloud, cycle by cycle (`watch --once`, as cron runs
//! it): the demo world ticking fast, the test's policy, helpers to drive and read it.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::sim::{Run, SimCloud};

/// The demo world, ticking fast: heartbeats every second, down after 2 s; quick evacuations.
pub fn scenario() -> String {
    include_str!("../../scenarios/demo.toml")
        .replace("service_down_time = 6", "service_down_time = 2")
        .replace("report_interval = 2", "report_interval = 1")
        .replace(
            "evacuate_accept_delay = \"300ms\"",
            "evacuate_accept_delay = \"50ms\"",
        )
        .replace(
            "evacuate_rebuild_delay = \"1s\"",
            "evacuate_rebuild_delay = \"300ms\"",
        )
}

/// Sets `key = value` in a TOML table of the configuration text (replacing it, or adding it
/// at the top of the table, or adding the table).
pub fn set_key(text: &str, table: &str, key: &str, value: &str) -> String {
    let header = format!("[{table}]\n");
    let line = format!("{key} = {value}\n");
    let Some(start) = text.find(&header) else {
        return format!("{text}\n{header}{line}");
    };
    let body_start = start + header.len();
    let body_end = text[body_start..]
        .find("\n[")
        .map_or(text.len(), |i| body_start + i + 1);
    let body = &text[body_start..body_end];
    let prefix = format!("{key} = ");
    let new_body = if body.lines().any(|l| l.starts_with(&prefix)) {
        body.lines()
            .map(|l| {
                if l.starts_with(&prefix) {
                    line.clone()
                } else {
                    format!("{l}\n")
                }
            })
            .collect::<String>()
    } else {
        format!("{line}{body}")
    };
    format!("{}{new_body}{}", &text[..body_start], &text[body_end..])
}

pub struct Watch {
    pub cloud: SimCloud,
}

impl Watch {
    /// The cloud, and the evacctl configuration the simulator wrote with the test's policy:
    /// no power-on attempt unless asked, 2 confirmations, short recovery waits.
    pub fn start(scenario: &str, policy: &[(&str, &str)]) -> Watch {
        let cloud = SimCloud::with_scenario(scenario);
        let path = cloud.evacctl_config();
        let mut text = std::fs::read_to_string(&path).expect("evacctl.toml");
        let defaults = [
            ("power_on_recovery", "false"),
            ("confirmations", "2"),
            ("recovery_timeout", "\"3s\""),
            ("verify_timeout", "\"60s\""),
            ("check_interval", "\"200ms\""),
        ];
        for (k, v) in defaults.iter().chain(policy) {
            text = set_key(&text, "policy", k, v);
        }
        if !text.contains("[volumes]") {
            text = set_key(
                &text,
                "volumes",
                "cinder_manage",
                &json!([super::sim::sim_exe(), "cinder-manage", "--url", cloud.url()]).to_string(),
            );
        }
        text = set_key(
            &text,
            "lock",
            "file",
            &json!(cloud.dir().join("watch.lock")).to_string(),
        );
        std::fs::write(&path, text).expect("write evacctl.toml");
        Watch { cloud }
    }

    pub fn journal(&self) -> PathBuf {
        self.cloud.dir().join("state/journal.jsonl")
    }

    pub fn evacctl(&self, args: &[&str]) -> Run {
        let config = self.cloud.evacctl_config();
        let journal = self.journal();
        self.cloud.evacctl(
            args,
            &[
                ("EVACCTL_CONFIG", config.to_str().expect("UTF-8")),
                ("EVACCTL_JOURNAL", journal.to_str().expect("UTF-8")),
            ],
        )
    }

    /// One cycle, its JSON report.
    pub fn once(&self) -> (Run, Value) {
        let run = self.evacctl(&["watch", "--once", "-f", "json"]);
        let report = serde_json::from_str(&run.stdout).unwrap_or(Value::Null);
        (run, report)
    }

    /// Cycles (300 ms apart) until `host` is in one of `states`, for at most `limit` seconds.
    /// Bounded by time, not by a number of cycles: how many cycles fit in a wait that is set by
    /// the cloud (a dead holder's Consul session, an API timeout) depends on the machine's speed.
    pub fn until(&self, host: &str, states: &[&str], limit: u64) -> Value {
        let mut seen = Vec::new();
        let mut last_stderr = String::new();
        let deadline = Instant::now() + Duration::from_secs(limit);
        while Instant::now() < deadline {
            let (run, report) = self.once();
            let state = host_state(&report, host);
            seen.push(format!("{state} (exit {})", run.code));
            if states.contains(&state.as_str()) {
                return report;
            }
            last_stderr = run.stderr;
            std::thread::sleep(Duration::from_millis(300));
        }
        panic!(
            "{host} never reached {states:?}; states seen: {seen:?}\nlast run's stderr:\n{last_stderr}\njournal:\n{}",
            std::fs::read_to_string(self.journal()).unwrap_or_default()
        );
    }

    pub fn records(&self) -> Vec<Value> {
        std::fs::read_to_string(self.journal())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The requests the simulated cloud received: (method, path).
    pub fn requests(&self) -> Vec<(String, String)> {
        self.cloud.ctl("GET", "requests", None)["requests"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                (
                    r["method"].as_str().unwrap_or("").to_string(),
                    r["path"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    /// Requests that change something in Nova, or the power.
    pub fn changes(&self) -> Vec<(String, String)> {
        self.requests()
            .into_iter()
            .filter(|(m, p)| {
                (m == "PUT" && p.contains("/os-services"))
                    || (m == "POST" && p.ends_with("/action"))
                    || (m == "POST" && p.contains("ComputerSystem.Reset"))
            })
            .collect()
    }

    pub fn evacuate_posts(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|(m, p)| m == "POST" && p.contains("/servers/") && p.ends_with("/action"))
            .map(|(_, p)| p)
            .collect()
    }

    pub fn service(&self, host: &str) -> Value {
        self.cloud.ctl("GET", &format!("hosts/{host}"), None)["host"]["services"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["binary"] == "nova-compute"))
            .cloned()
            .unwrap_or(Value::Null)
    }

    pub fn powered_on(&self, host: &str) -> bool {
        self.cloud.ctl("GET", &format!("hosts/{host}"), None)["host"]["power"] == "on"
    }
}

pub fn host_field(report: &Value, host: &str, field: &str) -> String {
    report["hosts"]
        .as_array()
        .and_then(|a| a.iter().find(|h| h["host"] == host))
        .and_then(|h| h[field].as_str())
        .unwrap_or("")
        .to_string()
}

pub fn host_state(report: &Value, host: &str) -> String {
    host_field(report, host, "state")
}

pub fn host_reason(report: &Value, host: &str) -> String {
    host_field(report, host, "reason")
}

/// The position of the first journal record of an action (and kind).
pub fn first(records: &[Value], action: &str, kind: &str) -> usize {
    records
        .iter()
        .position(|r| r["action"] == action && r["kind"] == kind)
        .unwrap_or(usize::MAX)
}

impl Watch {
    /// A `[notify] command` hook that appends each event to a file; the file.
    pub fn events_hook(&self) -> PathBuf {
        let events = self.cloud.dir().join("events.jsonl");
        let hook = self.cloud.dir().join("hook.sh");
        std::fs::write(
            &hook,
            format!(
                "#!/bin/sh\ncat >> {}\necho >> {}\n",
                events.display(),
                events.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = self.cloud.evacctl_config();
        let text = std::fs::read_to_string(&path).unwrap();
        let text = set_key(
            &text,
            "notify",
            "command",
            &json!([hook.to_str().unwrap()]).to_string(),
        );
        std::fs::write(&path, text).unwrap();
        events
    }

    /// `evacctl ARGS` against this cloud with a configuration and journal, not started.
    pub fn command(
        &self,
        config: &std::path::Path,
        journal: &std::path::Path,
        args: &[&str],
    ) -> std::process::Command {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_evacctl"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.cloud.dir())
            .env("OS_CLIENT_CONFIG_FILE", self.cloud.clouds_yaml())
            .env("OS_CLOUD", "sim")
            .env("EVACCTL_CONFIG", config)
            .env("EVACCTL_JOURNAL", journal)
            .env("EVACCTL_LOCK_DIR", self.cloud.dir())
            .args(args);
        cmd
    }

    /// `evacctl watch --interval 300ms` as a child process (killed by the test).
    pub fn spawn_loop(&self) -> std::process::Child {
        spawn_with(self, &self.cloud.evacctl_config(), &self.journal())
    }

    /// Evacuation migrations per server and source host, as the simulated Nova recorded them.
    pub fn evacuations_per_server(&self) -> std::collections::BTreeMap<String, usize> {
        let mut out = std::collections::BTreeMap::new();
        for m in self.cloud.ctl("GET", "migrations", None)["migrations"]
            .as_array()
            .into_iter()
            .flatten()
        {
            // The simulated Nova's migrations are all evacuations; a server evacuated from
            // two hosts in turn counts once per host.
            let key = format!(
                "{} from {}",
                m["instance_uuid"].as_str().unwrap_or(""),
                m["source_compute"].as_str().unwrap_or("")
            );
            *out.entry(key).or_insert(0) += 1;
        }
        out
    }
}

/// A second controller: its own configuration, lock file and journal, the same Consul key.
pub fn second_controller(w: &Watch) -> (PathBuf, PathBuf) {
    let dir = w.cloud.dir().join("ctl-b");
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(w.cloud.evacctl_config()).unwrap();
    let text = set_key(
        &text,
        "lock",
        "file",
        &json!(dir.join("watch.lock")).to_string(),
    );
    let config = dir.join("evacctl.toml");
    std::fs::write(&config, text).unwrap();
    // The BMC password file is named relative to the configuration.
    let _ = std::fs::copy(w.cloud.dir().join("bmc.password"), dir.join("bmc.password"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(
            dir.join("bmc.password"),
            std::fs::Permissions::from_mode(0o600),
        );
    }
    (config, dir.join("journal.jsonl"))
}

pub fn spawn_with(
    w: &Watch,
    config: &std::path::Path,
    journal: &std::path::Path,
) -> std::process::Child {
    w.command(config, journal, &["watch", "--interval", "300ms"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start evacctl watch")
}

pub fn journal_of(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The events a `[notify] command` hook wrote (JSON lines, as the journal).
pub fn events_in(file: &std::path::Path) -> Vec<Value> {
    journal_of(file)
}
