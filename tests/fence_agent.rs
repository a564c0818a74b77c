//! `driver = "fence-agent"` end to end: the real evacctl runs Debian's real fence agents
//! (package fence-agents) against real BMC peers on loopback, and no process evacctl starts
//! has the password in its argv or its environment while it runs.
//!
//! A missing agent fails the test when `CI` or `EVACCTL_REQUIRE_PEERS` is set, and skips it
//! otherwise (as the other peers do).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::bmc::{
    ADMIN_PW, IpmiSim, IpmiSimMode, SUSHY_SYSTEM, Sushy, alive, find_program, write_private,
};
use serde_json::Value;

/// A fence agent from Debian's fence-agents (in /usr/sbin, often not in a user's PATH).
fn agent(name: &str) -> Option<PathBuf> {
    let found = find_program(name).or_else(|| {
        let p = Path::new("/usr/sbin").join(name);
        p.is_file().then_some(p)
    });
    if found.is_none() {
        let what = format!("{name} (Debian package fence-agents)");
        if std::env::var_os("EVACCTL_REQUIRE_PEERS").is_some() {
            panic!("{what} is missing and EVACCTL_REQUIRE_PEERS is set");
        }
        common::bmc::missing(&what);
    }
    found
}

/// A wrapper agent: records its own argv and environment (from /proc, as another user would
/// see them), then becomes the real agent (same process, stdin untouched).
fn wrapper(dir: &Path, real: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let rec = dir.join("records");
    std::fs::create_dir_all(&rec).unwrap();
    let path = dir.join("fence_wrapper");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nn=$(date +%s%N)\ntr '\\0' '\\n' < /proc/$$/cmdline > '{r}/argv.'$n\ntr '\\0' '\\n' < /proc/$$/environ > '{r}/environ.'$n\nexec '{real}'\n",
            r = rec.display(),
            real = real.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// The argv and environment files the wrapper wrote.
fn records(dir: &Path, kind: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir.join("records")).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().starts_with(kind) {
            out.push(std::fs::read_to_string(e.path()).unwrap());
        }
    }
    out
}

/// What a scan of /proc saw of the processes evacctl started (and evacctl itself).
#[derive(Default)]
struct Seen {
    /// The first three words of the argv of every process seen, by pid.
    processes: BTreeMap<u32, String>,
    /// Processes whose argv held the password.
    in_argv: Vec<String>,
    /// Processes whose environment held the password.
    in_environ: Vec<String>,
}

fn ppid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')')
        .next()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The descendants of `root` (and `root`), from /proc.
fn family(root: u32) -> Vec<u32> {
    let all: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, ppid(pid)?)))
        .collect();
    let mut family = vec![root];
    let mut i = 0;
    while i < family.len() {
        let parent = family[i];
        family.extend(all.iter().filter(|(_, pp)| *pp == parent).map(|(p, _)| *p));
        i += 1;
    }
    family
}

fn scan(root: u32, seen: &mut Seen) {
    for pid in family(root) {
        let (Ok(argv), Ok(environ)) = (
            std::fs::read(format!("/proc/{pid}/cmdline")),
            std::fs::read(format!("/proc/{pid}/environ")),
        ) else {
            continue;
        };
        let words: Vec<String> = argv
            .split(|b| *b == 0)
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect();
        let name = words.iter().take(3).cloned().collect::<Vec<_>>().join(" ");
        let has = |bytes: &[u8]| {
            bytes
                .windows(ADMIN_PW.len())
                .any(|w| w == ADMIN_PW.as_bytes())
        };
        if has(&argv) {
            seen.in_argv.push(name.clone());
        }
        if has(&environ) {
            seen.in_environ.push(name.clone());
        }
        seen.processes.insert(pid, name);
    }
}

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
}

/// Runs evacctl, scanning /proc for its processes while it runs.
fn evacctl(config: &Path, args: &str, seen: &mut Seen) -> Run {
    let dir = config.parent().unwrap();
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_evacctl"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("EVACCTL_JOURNAL", dir.join("journal.jsonl"))
        .env("EVACCTL_LOCK_DIR", dir.join("locks"))
        .arg("--config")
        .arg(config)
        .args(args.split_whitespace())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("run evacctl");
    let deadline = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "evacctl {args} did not end");
        scan(child.id(), seen);
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(out).unwrap(),
        stderr: std::fs::read_to_string(err).unwrap(),
    }
}

fn row<'a>(report: &'a Value, host: &str) -> &'a Value {
    report["hosts"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["host"] == host))
        .unwrap_or_else(|| panic!("no row for {host} in {report}"))
}

fn config(dir: &Path, agent: &Path, port: u16, password_file: &str, options: &str) -> PathBuf {
    write_private(&dir.join("admin.pw"), &format!("{ADMIN_PW}\n"));
    write_private(&dir.join("wrong.pw"), "not-the-password\n");
    let text = format!(
        "[policy]\ncheck_max_count = 20\ncheck_interval = \"300ms\"\n\n[hosts.\"compute-1\".bmc]\ndriver = \"fence-agent\"\nagent = \"{agent}\"\naddress = \"127.0.0.1\"\nport = {port}\nuser = \"admin\"\npassword_file = \"{password_file}\"\ntimeout = \"40s\"\nagent_options = {{ {options} }}\n",
        agent = agent.display()
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

const IPMI_OPTIONS: &str = "lanplus = \"1\", cipher = \"3\"";

/// `ipmi power status`, `off --wait` (twice: the second finds it off), `status`, `on` on
/// compute-1, each as it should end.
fn status_off_on(cfg: &Path, seen: &mut Seen, port: u16) {
    let run = evacctl(cfg, "-f json ipmi power status compute-1", seen);
    assert_eq!(run.code, 0, "{}", run.all());
    let r = row(&run.json(), "compute-1").clone();
    assert_eq!(r["power_state"], "on", "{r}");
    assert_eq!(r["driver"], "fence-agent");
    assert_eq!(r["bmc_address"], format!("127.0.0.1:{port}"));

    // Fencing, with the seed's lines.
    let run = evacctl(cfg, "ipmi power off compute-1 --wait --yes", seen);
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
        run.stdout
            .contains("fenced 1 of 1 hosts; result: success (exit 0)"),
        "{}",
        run.stdout
    );

    let run = evacctl(cfg, "-f json ipmi power status compute-1", seen);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(row(&run.json(), "compute-1")["power_state"], "off");
    let run = evacctl(cfg, "-f json ipmi power off compute-1 --wait --yes", seen);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(row(&run.json(), "compute-1")["result"], "already-off");

    let run = evacctl(cfg, "-f json ipmi power on compute-1 --yes", seen);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(row(&run.json(), "compute-1")["result"], "on");
}

/// The agent's own argv and environment as it started (recorded by [`wrapper`]): the program
/// alone, and nothing of evacctl's environment beyond the scrubbed list. And while they ran,
/// the scan saw the agent (`name`) and the password in no environment and in no argv but of a
/// program in `argv_exceptions`.
fn assert_no_password_in_sight(
    dir: &Path,
    agent: &Path,
    seen: &Seen,
    name: &str,
    argv_exceptions: &[&str],
) {
    let argvs = records(dir, "argv");
    assert!(argvs.len() >= 5, "the agent ran for each call: {argvs:?}");
    for argv in &argvs {
        assert_eq!(
            argv.lines().collect::<Vec<_>>(),
            ["/bin/sh", &agent.display().to_string()],
            "the agent's argv"
        );
    }
    for environ in records(dir, "environ") {
        assert!(!environ.contains(ADMIN_PW), "{environ}");
        for line in environ.lines() {
            let name = line.split('=').next().unwrap();
            assert!(
                [
                    "PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "USER", "LOGNAME", "PWD"
                ]
                .contains(&name)
                    || name.starts_with("LC_"),
                "{name} reached the agent"
            );
        }
    }
    let agents = seen.processes.values().filter(|p| p.contains(name)).count();
    assert!(
        agents > 0,
        "the scan never saw the agent: {:?}",
        seen.processes
    );
    assert!(seen.in_environ.is_empty(), "{:?}", seen.in_environ);
    let in_argv: Vec<&String> = seen
        .in_argv
        .iter()
        .filter(|p| {
            let program = p.split(' ').next().unwrap_or("");
            !argv_exceptions.iter().any(|e| program.ends_with(e))
        })
        .collect();
    assert!(in_argv.is_empty(), "{in_argv:?}");
}

#[test]
fn status_fencing_and_on_through_fence_ipmilan_against_ipmi_sim_without_the_password_in_sight() {
    let Some(real) = agent("fence_ipmilan") else {
        return;
    };
    let Some(sim) = IpmiSim::start(IpmiSimMode::Process) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let agent = wrapper(dir.path(), &real);
    let cfg = config(dir.path(), &agent, sim.port, "admin.pw", IPMI_OPTIONS);
    let node = sim.node_pid().expect("the fake node runs");
    let mut seen = Seen::default();
    status_off_on(&cfg, &mut seen, sim.port);
    // The power off stopped the node's process, the power on started another.
    assert!(!alive(node));
    assert!(sim.node_pid().is_some_and(alive), "a new node process runs");
    // Debian's fence_ipmilan hands the password on to ipmitool as `-P`, which ipmitool
    // overwrites at its start (docs/design.md, section 5): that process is the agent's doing,
    // and the only exception.
    assert_no_password_in_sight(dir.path(), &agent, &seen, "fence_ipmilan", &["ipmitool"]);
}

#[test]
fn status_fencing_and_on_through_fence_redfish_against_sushy_tools_without_the_password_in_sight() {
    let Some(real) = agent("fence_redfish") else {
        return;
    };
    // fence_redfish speaks HTTPS only: the emulator gets a self-signed certificate.
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !made.is_ok_and(|s| s.success()) {
        common::bmc::missing("openssl (to make the emulator's certificate)");
        return;
    }
    let Some(sushy) = Sushy::start_with(&format!(
        "SUSHY_EMULATOR_SSL_CERT = '{}'\nSUSHY_EMULATOR_SSL_KEY = '{}'\n",
        cert.display(),
        key.display()
    )) else {
        return;
    };
    let agent = wrapper(dir.path(), &real);
    let options =
        format!("ssl_insecure = \"1\", systems_uri = \"/redfish/v1/Systems/{SUSHY_SYSTEM}\"");
    let cfg = config(dir.path(), &agent, sushy.port, "admin.pw", &options);
    let mut seen = Seen::default();
    status_off_on(&cfg, &mut seen, sushy.port);
    // fence_redfish speaks HTTP itself: no exception at all.
    assert_no_password_in_sight(dir.path(), &agent, &seen, "fence_redfish", &[]);
}

#[test]
fn a_refused_password_through_fence_ipmilan_fails_the_status_with_the_agents_reason() {
    let Some(real) = agent("fence_ipmilan") else {
        return;
    };
    let Some(sim) = IpmiSim::start(IpmiSimMode::Script) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &real, sim.port, "wrong.pw", IPMI_OPTIONS);
    let mut seen = Seen::default();
    let run = evacctl(&cfg, "-f json ipmi power status compute-1", &mut seen);
    assert_ne!(run.code, 0, "{}", run.all());
    let r = row(&run.json(), "compute-1").clone();
    assert!(r["power_state"].is_null(), "{r}");
    let error = r["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("fence agent fence_ipmilan (action status) exited with status 1"),
        "{r}"
    );
    assert!(
        error.contains("Unable to obtain correct plug status"),
        "{r}"
    );
    assert!(!run.all().contains("not-the-password"), "{}", run.all());
    assert!(
        !sim.control_log().contains("set"),
        "the power was not touched: {}",
        sim.control_log()
    );
}
