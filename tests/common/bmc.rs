//! Real BMC peers for the fencing tests, each started by the test on a free loopback port in
//! a temporary directory and stopped by PID when dropped:
//!
//! - [`IpmiSim`]: Debian's `ipmi_sim` (package `openipmi`), in process mode (power is the life
//!   of `tests/peers/fake-node.sh`: power off really stops a process) or script mode (power is
//!   a file run by `tests/peers/chassis-control.sh`, with lying, failing and slow faults);
//! - [`Pyghmi`]: PyPI's `pyghmi` BMC (`tests/peers/pyghmi_bmc.py`), a second RMCP+ server;
//! - [`Sushy`]: PyPI's `sushy-tools` Redfish emulator with its fake driver.
//!
//! A missing peer fails the test when `CI` is set and prints `skipped: ...` otherwise.
#![allow(dead_code)] // each test binary uses its own subset

use std::io::Write;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The administrator's password of every peer (long enough to be searched for in output).
pub const ADMIN_PW: &str = "fence-pw-4711x";
/// A user allowed to read the power only (IPMI privilege USER).
pub const VIEWER_PW: &str = "viewer-pw-0815";

/// `tests/peers/`.
pub fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers")
}

/// A program on PATH, or in the project's `.venv/bin` (where `scripts/test` installs the
/// Python peers).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin");
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(std::iter::once(venv))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A peer is missing: fail under CI, else say so and let the test return.
pub fn missing(what: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{what} is missing (CI installs it: see .ci/run and tests/requirements.txt)");
    }
    eprintln!("skipped: {what} is not installed");
}

pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("free UDP port")
}

pub fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("free TCP port")
}

/// Writes a file readable by its owner only (a password file evacctl accepts).
pub fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .expect("open private file");
    f.write_all(text.as_bytes()).expect("write private file");
}

/// `ipmitool ... chassis power status` answers "is on|off" within `timeout`.
fn wait_for_ipmi(port: u16, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        let out = Command::new("ipmitool")
            .args(["-I", "lanplus", "-H", "127.0.0.1", "-p", &port.to_string()])
            .args(["-U", "admin", "-E", "-C", "3", "-N", "1", "-R", "0"])
            .args(["chassis", "power", "status"])
            .env("IPMI_PASSWORD", ADMIN_PW)
            .stdin(Stdio::null())
            .output();
        if let Ok(o) = out
            && String::from_utf8_lossy(&o.stdout).contains("Chassis Power is")
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum IpmiSimMode {
    /// Power is the life of a process (fake-node.sh).
    Process,
    /// Power is a file; faults by files in the state directory.
    Script,
}

pub struct IpmiSim {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl IpmiSim {
    /// `None` (after [`missing`]) when ipmi_sim or ipmitool is not installed.
    pub fn start(mode: IpmiSimMode) -> Option<IpmiSim> {
        if find_program("ipmi_sim").is_none() || find_program("ipmitool").is_none() {
            missing("ipmi_sim (Debian package openipmi) or ipmitool");
            return None;
        }
        let mut dir = tempfile::tempdir().expect("temp dir");
        let state = dir.path().join("state");
        std::fs::create_dir_all(&state).expect("state dir");
        std::fs::create_dir_all(dir.path().join("persist")).expect("persist dir");
        for _attempt in 0..3 {
            let port = free_udp_port();
            let power = match mode {
                // ipmi_sim powers a target only through a channel-15 system interface; nobody
                // needs to connect to it.
                IpmiSimMode::Process => format!(
                    "  serial 15 127.0.0.1 {vm} codec VM\n  startcmd \"{node} {state}\"\n  startnow true\n  poweroff_wait 1\n  kill_wait 2\n",
                    vm = free_tcp_port(),
                    node = peers_dir().join("fake-node.sh").display(),
                    state = state.display()
                ),
                IpmiSimMode::Script => format!(
                    "  chassis_control \"{} {}\"\n",
                    peers_dir().join("chassis-control.sh").display(),
                    state.display()
                ),
            };
            let conf = format!(
                "name \"evacctl-test\"\nset_working_mc 0x20\n  startlan 1\n    addr 127.0.0.1 {port}\n    priv_limit admin\n    allowed_auths_callback md5\n    allowed_auths_user md5\n    allowed_auths_operator md5\n    allowed_auths_admin md5\n    guid \"EVACCTL-TEST-BMC\"\n  endlan\n{power}  user 2 true \"admin\" \"{ADMIN_PW}\" admin 10 md5\n  user 3 true \"viewer\" \"{VIEWER_PW}\" user 10 md5\n"
            );
            std::fs::write(dir.path().join("lan.conf"), conf).expect("lan.conf");
            std::fs::write(
                dir.path().join("bmc.emu"),
                "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\nmc_enable 0x20\n",
            )
            .expect("bmc.emu");
            let log = std::fs::File::create(dir.path().join("ipmi_sim.log")).expect("log");
            let child = Command::new("ipmi_sim")
                .arg("-n")
                .arg("-c")
                .arg(dir.path().join("lan.conf"))
                .arg("-f")
                .arg(dir.path().join("bmc.emu"))
                .arg("-s")
                .arg(dir.path().join("persist"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .expect("start ipmi_sim");
            let mut sim = IpmiSim { child, port, dir };
            if wait_for_ipmi(port, Duration::from_secs(10)) {
                return Some(sim);
            }
            // The port was taken in between, or ipmi_sim failed: try another port.
            let log =
                std::fs::read_to_string(sim.dir.path().join("ipmi_sim.log")).unwrap_or_default();
            eprintln!("ipmi_sim did not answer on port {port}:\n{log}");
            let _ = sim.child.kill();
            let _ = sim.child.wait();
            dir = std::mem::replace(&mut sim.dir, tempfile::tempdir().expect("temp dir"));
        }
        panic!("ipmi_sim did not answer on loopback after 3 attempts")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The fake node's PID (process mode), while it runs.
    pub fn node_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.state_dir().join("node.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// Creates a fault file (script mode): `lying`, `fail-get`, `fail-set`, `delay`.
    pub fn inject(&self, fault: &str, content: &str) {
        std::fs::write(self.state_dir().join(fault), content).expect("fault file");
    }

    /// The power file (script mode): "0" or "1".
    pub fn power_file(&self) -> String {
        std::fs::read_to_string(self.state_dir().join("power"))
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// What chassis-control.sh was asked (script mode).
    pub fn control_log(&self) -> String {
        std::fs::read_to_string(self.state_dir().join("control.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// Whether a process is alive (and not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

impl Drop for IpmiSim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The fake node is started by ipmi_sim (our child) and outlives it: stop it by PID.
        if let Some(pid) = self.node_pid() {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    }
}

pub struct Pyghmi {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Pyghmi {
    pub fn start() -> Option<Pyghmi> {
        let python = find_program("python3").filter(|p| {
            Command::new(p)
                .args(["-c", "import pyghmi.ipmi.bmc"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        let python = python.or_else(|| {
            let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python3");
            venv.is_file().then_some(venv)
        });
        let Some(python) = python else {
            missing("pyghmi (tests/requirements.txt)");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_udp_port();
        let log = std::fs::File::create(dir.path().join("pyghmi.log")).expect("log");
        let child = Command::new(python)
            .arg(peers_dir().join("pyghmi_bmc.py"))
            .arg(port.to_string())
            .arg(dir.path().join("power"))
            .env("BMC_PASSWORD", ADMIN_PW)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start pyghmi");
        let mut p = Pyghmi { child, port, dir };
        if !wait_for_ipmi(port, Duration::from_secs(45)) {
            let _ = p.child.kill();
            let log = std::fs::read_to_string(p.dir.path().join("pyghmi.log")).unwrap_or_default();
            if std::env::var_os("CI").is_none() && log.contains("ModuleNotFoundError") {
                missing("pyghmi (tests/requirements.txt)");
                return None;
            }
            panic!("the pyghmi BMC did not answer:\n{log}");
        }
        Some(p)
    }

    /// "on" or "off", as the BMC last set it.
    pub fn power(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("power"))
            .unwrap_or_default()
            .trim()
            .to_string()
    }
}

impl Drop for Pyghmi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Sushy {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

/// The system id of the emulated host.
pub const SUSHY_SYSTEM: &str = "6c3e0b52-7d3f-4b8e-9a44-1f2a3b4c5d6e";

impl Sushy {
    pub fn start() -> Option<Sushy> {
        Sushy::start_with("")
    }

    /// With more lines in the emulator's configuration (e.g. its TLS certificate and key).
    pub fn start_with(extra_conf: &str) -> Option<Sushy> {
        let (Some(emulator), Some(python)) = (
            find_program("sushy-emulator"),
            find_program("python3")
                .filter(|p| {
                    Command::new(p)
                        .args(["-c", "import bcrypt, sushy_tools"])
                        .stderr(Stdio::null())
                        .status()
                        .is_ok_and(|s| s.success())
                })
                .or_else(|| {
                    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python3");
                    venv.is_file().then_some(venv)
                }),
        ) else {
            missing("sushy-tools (tests/requirements.txt)");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        // The emulator reads a bcrypt htpasswd file; the password goes in by environment.
        let htpasswd = Command::new(python)
            .args([
                "-c",
                "import bcrypt, os; print('admin:' + bcrypt.hashpw(os.environ['PW'].encode(), bcrypt.gensalt(4)).decode())",
            ])
            .env("PW", ADMIN_PW)
            .output()
            .expect("bcrypt");
        assert!(htpasswd.status.success(), "bcrypt: {htpasswd:?}");
        std::fs::write(dir.path().join("htpasswd"), &htpasswd.stdout).expect("htpasswd");
        let port = free_tcp_port();
        let conf = format!(
            "SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'\nSUSHY_EMULATOR_LISTEN_PORT = {port}\nSUSHY_EMULATOR_FAKE_DRIVER = True\nSUSHY_EMULATOR_STATE_DIR = '{state}'\nSUSHY_EMULATOR_AUTH_FILE = '{auth}'\nSUSHY_EMULATOR_FAKE_SYSTEMS = [{{'uuid': '{SUSHY_SYSTEM}', 'name': 'compute-9', 'power_state': 'On'}}]\n{extra_conf}",
            state = dir.path().join("state").display(),
            auth = dir.path().join("htpasswd").display(),
        );
        std::fs::write(dir.path().join("emulator.conf"), conf).expect("conf");
        let log = std::fs::File::create(dir.path().join("sushy.log")).expect("log");
        let child = Command::new(emulator)
            .arg("--config")
            .arg(dir.path().join("emulator.conf"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start sushy-emulator");
        let s = Sushy { child, port, dir };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(s.dir.path().join("sushy.log")).unwrap_or_default();
        panic!("sushy-emulator did not listen:\n{log}");
    }
}

impl Drop for Sushy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
