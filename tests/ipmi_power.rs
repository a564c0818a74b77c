//! `evacctl ipmi power` end to end: the real binary against real BMC peers on loopback
//! (ipmi_sim, pyghmi, sushy-tools), started and stopped by each test.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::bmc::{
    ADMIN_PW, IpmiSim, IpmiSimMode, Pyghmi, SUSHY_SYSTEM, Sushy, VIEWER_PW, alive, write_private,
};
use serde_json::Value;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
    fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Asserts the exit code and that the output says each of `needles`.
    fn expect(&self, code: i32, needles: &[&str]) {
        let all = self.all();
        assert_eq!(self.code, code, "{all}");
        for n in needles {
            assert!(all.contains(n), "{n:?} not in:\n{all}");
        }
    }
}

/// A host's BMC as the test configures it.
struct Host {
    name: &'static str,
    table: String,
}

fn ipmi(name: &'static str, port: u16, extra: &str) -> Host {
    Host {
        name,
        table: format!(
            "driver = \"ipmi\"\naddress = \"127.0.0.1\"\nport = {port}\nuser = \"admin\"\npassword_file = \"admin.pw\"\ncipher_suite = 3\ntimeout = \"1s\"\nretries = 1\n{extra}"
        ),
    }
}

fn redfish(name: &'static str, port: u16, extra: &str) -> Host {
    Host {
        name,
        table: format!(
            "driver = \"redfish\"\nscheme = \"http\"\naddress = \"127.0.0.1\"\nport = {port}\nuser = \"admin\"\npassword_file = \"admin.pw\"\ntimeout = \"5s\"\nretries = 1\n{extra}"
        ),
    }
}

/// A config directory: config.toml, and owner-only password files admin.pw, viewer.pw,
/// wrong.pw beside it.
fn config(dir: &Path, hosts: &[Host], policy: &str) -> PathBuf {
    write_private(&dir.join("admin.pw"), &format!("{ADMIN_PW}\n"));
    write_private(&dir.join("viewer.pw"), &format!("{VIEWER_PW}\n"));
    write_private(&dir.join("wrong.pw"), "not-the-password\n");
    let mut text = format!("[policy]\n{policy}\n");
    for h in hosts {
        text.push_str(&format!("\n[hosts.\"{}\".bmc]\n{}\n", h.name, h.table));
    }
    let path = dir.join("config.toml");
    std::fs::write(&path, text).expect("config");
    path
}

const FAST_POLICY: &str = "check_max_count = 10\ncheck_interval = \"300ms\"";

/// Runs evacctl with `--config` and the words of `args`.
fn evacctl(config: &Path, args: &str) -> Run {
    let words: Vec<&str> = args.split_whitespace().collect();
    evacctl_env(config, &words, &[])
}

fn evacctl_env(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_evacctl"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        // Power actions are journaled: beside the test's config, never the system's journal.
        .env("EVACCTL_JOURNAL", config.with_file_name("journal.jsonl"))
        // Host locks beside the test's config: tests running at once share host names.
        .env("EVACCTL_LOCK_DIR", config.with_file_name("locks"))
        .envs(env.iter().copied())
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run evacctl");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn row<'a>(report: &'a Value, host: &str) -> &'a Value {
    report["hosts"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["host"] == host))
        .unwrap_or_else(|| panic!("no row for {host} in {report}"))
}

fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < timeout {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn status_of_several_hosts_at_once_over_two_ipmi_implementations() {
    let (Some(a), Some(b), Some(p)) = (
        IpmiSim::start(IpmiSimMode::Process),
        IpmiSim::start(IpmiSimMode::Script),
        Pyghmi::start(),
    ) else {
        return;
    };
    b.inject("power", "0\n");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &[
            ipmi("compute-1", a.port, ""),
            ipmi("compute-2", b.port, ""),
            ipmi("compute-3", p.port, ""),
        ],
        FAST_POLICY,
    );

    let run = evacctl(&cfg, "ipmi power status --all -f json");
    assert_eq!(run.code, 0, "{}", run.all());
    let report = run.json();
    assert_eq!(report["action"], "status");
    assert_eq!(row(&report, "compute-1")["power_state"], "on");
    assert_eq!(row(&report, "compute-2")["power_state"], "off");
    assert_eq!(row(&report, "compute-3")["power_state"], "on");
    let r1 = row(&report, "compute-1");
    assert_eq!(r1["bmc_address"], format!("127.0.0.1:{}", a.port));
    assert_eq!(r1["driver"], "ipmi");
    assert_eq!(r1["result"], "ok");
    assert!(r1["error"].is_null());
    assert_eq!(report["summary"]["exit_code"], 0);

    // The table, by name; the order is the order given.
    let run = evacctl(&cfg, "ipmi power status compute-3 compute-1");
    assert_eq!(run.code, 0, "{}", run.all());
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[1].contains("Host") && lines[1].contains("Power"),
        "{}",
        run.stdout
    );
    assert!(
        lines[1].contains("Time") && lines[1].contains("Error"),
        "{}",
        run.stdout
    );
    let c3 = lines.iter().position(|l| l.contains("compute-3")).unwrap();
    let c1 = lines.iter().position(|l| l.contains("compute-1")).unwrap();
    assert!(c3 < c1, "{}", run.stdout);
    assert!(!run.stdout.contains("compute-2"));
    assert!(
        run.stdout
            .contains("2 hosts: 2 on, 0 off, 0 unknown; result: success (exit 0)"),
        "{}",
        run.stdout
    );
}

#[test]
fn fencing_stops_the_process_behind_ipmi_sim_and_prints_the_seed_lines() {
    let Some(sim) = IpmiSim::start(IpmiSimMode::Process) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &[ipmi("compute-1", sim.port, "")], FAST_POLICY);
    let node = sim.node_pid().expect("the fake node runs");
    assert!(alive(node));

    // No terminal, no --yes: refused, nothing done.
    let run = evacctl(&cfg, "ipmi power off compute-1 --wait");
    assert_eq!(run.code, 10, "{}", run.all());
    assert!(run.stderr.contains("re-run with --yes"), "{}", run.stderr);
    assert!(
        run.stderr.contains("compute-1"),
        "the plan is shown: {}",
        run.stderr
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(node), "refused means nothing was done");

    let run = evacctl(&cfg, "ipmi power off compute-1 --wait --yes");
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr.contains("127.0.0.1 power status is: OFF"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("compute-1 fence successed"),
        "{}",
        run.stderr
    );
    assert!(
        !alive(node),
        "the node process was stopped by the power off"
    );
    let log = std::fs::read_to_string(sim.state_dir().join("node.log")).unwrap();
    assert!(log.contains(&format!("stop {node}")), "{log}");
    assert!(run.stdout.contains("fenced"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("fenced 1 of 1 hosts; result: success (exit 0)"),
        "{}",
        run.stdout
    );

    // Fencing an off host: nothing to send, confirmed at once.
    let run = evacctl(&cfg, "-f json ipmi power off compute-1 --wait --yes");
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(row(&run.json(), "compute-1")["result"], "already-off");

    // On: a new node process.
    let run = evacctl(&cfg, "-f json ipmi power on compute-1 --yes");
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(row(&run.json(), "compute-1")["result"], "on");
    assert!(wait_until(Duration::from_secs(5), || sim
        .node_pid()
        .is_some_and(alive)));
    let second = sim.node_pid().unwrap();
    assert_ne!(second, node);

    // Cycle: that process stops and another starts.
    let run = evacctl(&cfg, "-f json ipmi power cycle compute-1 --yes");
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(row(&run.json(), "compute-1")["power_state"], "on");
    assert!(wait_until(Duration::from_secs(5), || !alive(second)
        && sim.node_pid().is_some_and(alive)));
}

#[test]
fn a_lying_bmc_a_failing_bmc_and_a_slow_bmc_make_fencing_fail_with_the_reason() {
    let (Some(lying), Some(failing), Some(slow)) = (
        IpmiSim::start(IpmiSimMode::Script),
        IpmiSim::start(IpmiSimMode::Script),
        IpmiSim::start(IpmiSimMode::Script),
    ) else {
        return;
    };
    lying.inject("lying", "");
    failing.inject("fail-set", "");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &[
            ipmi("lying-1", lying.port, ""),
            ipmi("failing-1", failing.port, ""),
            ipmi("slow-1", slow.port, "").set("retries", "0"),
        ],
        "check_max_count = 3\ncheck_interval = \"200ms\"",
    );

    let run = evacctl(&cfg, "ipmi power off lying-1 --wait --yes -f json");
    assert_eq!(run.code, 12, "{}", run.all());
    let r = row(&run.json(), "lying-1").clone();
    assert_eq!(r["result"], "unconfirmed");
    assert_eq!(r["power_state"], "on");
    assert_eq!(r["polls"], 3);
    let why = r["error"].as_str().unwrap();
    assert!(
        why.contains("acknowledged power off but still reports power on after 3 reads"),
        "{why}"
    );
    assert!(
        lying.control_log().contains("set power 0"),
        "the off was sent"
    );
    assert_eq!(lying.power_file(), "1");
    assert!(
        run.stderr.contains("fencing lying-1 failed"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("fence successed"), "{}", run.stderr);

    let run = evacctl(&cfg, "ipmi power off failing-1 --wait --yes");
    assert_eq!(run.code, 12, "{}", run.all());
    assert!(run.stdout.contains("power off failed"), "{}", run.stdout);
    assert!(run.stdout.contains("Unspecified error"), "{}", run.stdout);

    // The BMC takes 3 s to answer; evacctl waits 1 s (timeout) without retries.
    slow.inject("delay", "3\n");
    let run = evacctl(&cfg, "-f json ipmi power off slow-1 --wait --yes");
    assert_eq!(run.code, 8, "{}", run.all());
    let r = row(&run.json(), "slow-1").clone();
    assert_eq!(r["error_kind"], "unreachable");
    assert!(
        r["error"].as_str().unwrap().contains("did not answer"),
        "{r}"
    );
    assert!(
        !slow.control_log().contains("set power"),
        "no power off was sent"
    );

    // Both at once: different failures, exit 12 (partial).
    let run = evacctl(&cfg, "ipmi power off lying-1 failing-1 --wait --yes");
    assert_eq!(run.code, 12, "{}", run.all());
}

#[test]
fn a_wrong_password_and_a_user_without_the_privilege_are_refused() {
    let Some(sim) = IpmiSim::start(IpmiSimMode::Script) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &[
            ipmi("wrong-pw", sim.port, "").with_password("wrong.pw"),
            ipmi("viewer", sim.port, "privilege = \"USER\"\n")
                .with_user("viewer")
                .with_password("viewer.pw"),
        ],
        FAST_POLICY,
    );
    let run = evacctl(&cfg, "ipmi power status wrong-pw");
    assert_eq!(run.code, 9, "{}", run.all());
    assert!(run.stdout.contains("refused"), "{}", run.stdout);

    // The viewer may read the power, not switch it.
    let run = evacctl(&cfg, "ipmi power status viewer");
    assert_eq!(run.code, 0, "{}", run.all());
    let run = evacctl(&cfg, "-f json ipmi power off viewer --wait --yes");
    assert_eq!(run.code, 9, "{}", run.all());
    let r = row(&run.json(), "viewer").clone();
    assert_eq!(r["error_kind"], "auth");
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("Insufficient privilege"),
        "{r}"
    );
    assert_eq!(sim.power_file(), "1");
}

#[test]
fn fencing_through_pyghmi() {
    let Some(p) = Pyghmi::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &[ipmi("compute-7", p.port, "")], FAST_POLICY);
    let run = evacctl(&cfg, "ipmi power off compute-7 --wait --yes");
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr.contains("compute-7 fence successed"),
        "{}",
        run.stderr
    );
    assert_eq!(p.power(), "off");
    let run = evacctl(&cfg, "ipmi power on compute-7 --yes");
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(p.power(), "on");
}

#[test]
fn redfish_against_the_sushy_tools_emulator() {
    let Some(s) = Sushy::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The fake driver applies a power change 1 to 11 s after it is asked.
    let cfg = config(
        dir.path(),
        &[
            redfish("compute-9", s.port, ""),
            redfish(
                "compute-9-by-id",
                s.port,
                &format!("system_id = \"{SUSHY_SYSTEM}\"\n"),
            ),
            redfish("compute-9-wrong", s.port, "").with_password("wrong.pw"),
        ],
        "check_max_count = 30\ncheck_interval = \"500ms\"",
    );
    let run = evacctl(&cfg, "-f json ipmi power status compute-9 compute-9-by-id");
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(row(&run.json(), "compute-9")["power_state"], "on");
    assert_eq!(row(&run.json(), "compute-9-by-id")["driver"], "redfish");

    let run = evacctl(&cfg, "ipmi power status compute-9-wrong");
    assert_eq!(run.code, 9, "{}", run.all());
    assert!(run.stdout.contains("HTTP 401"), "{}", run.stdout);

    let run = evacctl(&cfg, "ipmi power off compute-9 --wait --yes");
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr.contains("127.0.0.1 power status is: OFF"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("compute-9 fence successed"),
        "{}",
        run.stderr
    );

    let run = evacctl(&cfg, "-f json ipmi power on compute-9 --yes");
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(row(&run.json(), "compute-9")["power_state"], "on");
}

#[test]
fn bad_input_gets_a_clear_message_and_no_action() {
    let Some(sim) = IpmiSim::start(IpmiSimMode::Script) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut hosts = vec![
        ipmi("compute-1", sim.port, ""),
        ipmi("compute-2", sim.port, "").with_password("missing.pw"),
        ipmi("compute-3", sim.port, "").with_password("open.pw"),
    ];
    hosts.push(Host {
        name: "compute-4",
        table: String::new(),
    });
    let cfg = config(dir.path(), &hosts, FAST_POLICY);
    // compute-4 has an empty bmc table: rewrite it as a host without a BMC.
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("[hosts.\"compute-4\".bmc]", "[hosts.\"compute-4\"]");
    std::fs::write(&cfg, text).unwrap();
    std::fs::write(dir.path().join("open.pw"), format!("{ADMIN_PW}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.path().join("open.pw"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();

    evacctl(&cfg, "ipmi power off compute-l --yes").expect(
        2,
        &[
            "unknown host `compute-l`; did you mean `compute-1`?",
            "compute-1, compute-2, compute-3, compute-4",
        ],
    );
    evacctl(&cfg, "ipmi power off compute-4 --yes").expect(3, &["host `compute-4` has no BMC"]);
    evacctl(&cfg, "ipmi power off compute-2 --yes").expect(3, &["missing.pw does not exist"]);
    evacctl(&cfg, "ipmi power off compute-1 compute-3 --yes")
        .expect(3, &["permissions 0644", "too open", "nothing was done"]);

    // A status shows the hosts it can read, and the others' reasons.
    let run = evacctl(
        &cfg,
        "-f json ipmi power status compute-1 compute-2 compute-3",
    );
    run.expect(3, &["missing.pw does not exist", "too open"]);
    let report = run.json();
    assert_eq!(row(&report, "compute-1")["power_state"], "on");
    assert_eq!(row(&report, "compute-2")["error_kind"], "config");

    // A BMC without credentials: the configuration is refused when it is read.
    let no_user = dir.path().join("no-user.toml");
    std::fs::write(
        &no_user,
        format!(
            "[hosts.c9.bmc]\naddress = \"127.0.0.1\"\nport = {}\n",
            sim.port
        ),
    )
    .unwrap();
    evacctl(&no_user, "ipmi power off c9 --yes").expect(3, &["the BMC needs a password"]);

    // No ipmitool: how to install it.
    let run = evacctl_env(
        &cfg,
        &["ipmi", "power", "status", "compute-1"],
        &[("PATH", "/nonexistent")],
    );
    run.expect(3, &["apt-get install ipmitool"]);

    assert!(
        !sim.control_log().contains("set"),
        "no power action reached the BMC: {}",
        sim.control_log()
    );
}

#[test]
fn the_password_is_in_no_command_line_and_no_output() {
    let Some(sim) = IpmiSim::start(IpmiSimMode::Script) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // An ipmitool that records its arguments, then runs the real one.
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let real = common::bmc::find_program("ipmitool").unwrap();
    let wrapper = bin.join("ipmitool");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$*\" >> {log}\n[ -n \"$IPMI_PASSWORD\" ] && echo env-set >> {log}\nexec {real} \"$@\"\n",
            log = dir.path().join("argv.log").display(),
            real = real.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = config(
        dir.path(),
        &[ipmi("compute-1", sim.port, "").set("timeout", "\"4s\"")],
        FAST_POLICY,
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    // A slow BMC keeps ipmitool running while every process's command line is read.
    sim.inject("delay", "1\n");
    let log = dir.path().join("evacctl.log");
    let child = Command::new(env!("CARGO_BIN_EXE_evacctl"))
        .env_clear()
        .env("PATH", &path)
        .env("EVACCTL_JOURNAL", dir.path().join("journal.jsonl"))
        .env("EVACCTL_LOCK_DIR", dir.path().join("locks"))
        .arg("--config")
        .arg(&cfg)
        .args(["-vvv", "--log-file"])
        .arg(&log)
        .args(["ipmi", "power", "off", "compute-1", "--wait", "--yes"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen_ipmitool = false;
    let mut leaked = Vec::new();
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(4) {
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if text.contains(ADMIN_PW) {
                leaked.push(text.clone());
            }
            if text.contains("lanplus") && text.contains("chassis power") {
                seen_ipmitool = true;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        leaked.is_empty(),
        "a command line shows the password: {leaked:?}"
    );
    assert!(seen_ipmitool, "no ipmitool was seen running");
    let all = format!(
        "{}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("fence successed"), "{all}");
    assert!(
        !all.contains(ADMIN_PW),
        "the password is in the output:\n{all}"
    );
    let argv = std::fs::read_to_string(dir.path().join("argv.log")).unwrap();
    assert!(argv.contains("-E") && argv.contains("env-set"), "{argv}");
    assert!(!argv.contains(ADMIN_PW), "{argv}");
}

impl Host {
    /// Sets a key of the BMC table (replacing its line).
    fn set(mut self, key: &str, value: &str) -> Host {
        let line = format!("{key} = {value}");
        let mut found = false;
        let lines: Vec<String> = self
            .table
            .lines()
            .map(|l| {
                if l.starts_with(&format!("{key} =")) {
                    found = true;
                    line.clone()
                } else {
                    l.to_string()
                }
            })
            .collect();
        self.table = lines.join("\n") + "\n";
        if !found {
            self.table.push_str(&line);
            self.table.push('\n');
        }
        self
    }
    fn with_password(mut self, file: &str) -> Host {
        self.table = self.table.replace(
            "password_file = \"admin.pw\"",
            &format!("password_file = \"{file}\""),
        );
        self
    }
    fn with_user(mut self, user: &str) -> Host {
        self.table = self
            .table
            .replace("user = \"admin\"", &format!("user = \"{user}\""));
        self
    }
}
