//! The IPMI driver: runs `ipmitool -I lanplus` once per call, as fence_ipmilan and Ironic do.
//!
//! `ipmitool -I lanplus -H ADDR -p PORT -U USER -E -L PRIV -C SUITE -N SECS -R RETRIES -v
//! chassis power status|on|off|cycle`, with the password in the child's environment
//! (`IPMI_PASSWORD`, read because of `-E`): never in an argument, where `ps` would show it.
//! `-v` makes ipmitool say *why* a session failed (a bad password and a dead BMC otherwise
//! print the same line), which decides the error's kind.
//!
//! ipmitool bounds its own waiting with `-N`/`-R`; should it hang anyway, it is killed after
//! [`IpmiTool::deadline`].

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::{BmcError, PowerDriver, PowerState};
use crate::config::ResolvedBmc;
use crate::secret::Secret;

/// The environment variable ipmitool's `-E` reads the password from.
pub const PASSWORD_ENV: &str = "IPMI_PASSWORD";

/// Output kept from one run; more is read and dropped.
const MAX_OUTPUT: u64 = 64 * 1024;

/// What to say when ipmitool is not installed.
pub const INSTALL_HINT: &str = "ipmitool is not installed (not found in PATH): install it \
     (Debian, Ubuntu: apt-get install ipmitool; RHEL, Rocky: dnf install ipmitool)";

/// One host's BMC through ipmitool.
pub struct IpmiTool {
    program: PathBuf,
    /// Everything before the command (`chassis power ...`); holds no secret.
    prefix: Vec<String>,
    password: Secret,
    deadline: Duration,
}

impl IpmiTool {
    /// Finds `ipmitool` in `PATH`.
    pub fn new(bmc: &ResolvedBmc, password: Secret) -> Result<IpmiTool, BmcError> {
        let program = find_in_path("ipmitool").ok_or_else(|| BmcError::config(INSTALL_HINT))?;
        Ok(IpmiTool::with_program(program, bmc, password))
    }

    /// With an explicit program (tests).
    pub fn with_program(program: PathBuf, bmc: &ResolvedBmc, password: Secret) -> IpmiTool {
        // ipmitool takes whole seconds; rounding down to 0 would mean "no timeout".
        let secs = bmc.timeout.as_secs_f64().ceil().max(1.0) as u64;
        let prefix = [
            "-I",
            "lanplus",
            "-H",
            &bmc.address,
            "-p",
            &bmc.port.to_string(),
            "-U",
            &bmc.user,
            "-E",
            "-L",
            bmc.privilege.as_str(),
            "-C",
            &bmc.cipher_suite.to_string(),
            "-N",
            &secs.to_string(),
            "-R",
            // ipmitool reads -R 0 as "its default" (about 20 s of tries): 0 means 1 here.
            &bmc.retries.max(1).to_string(),
            "-v",
        ]
        .map(String::from)
        .to_vec();
        // A session takes about six exchanges, each bounded by -N x (-R + 1): generous, it
        // only catches an ipmitool that hangs.
        let deadline = Duration::from_secs(secs * (u64::from(bmc.retries.max(1)) + 1) * 6 + 5);
        IpmiTool {
            program,
            prefix,
            password,
            deadline,
        }
    }

    /// The full argv of a call (without the program); never holds the password.
    pub fn argv(&self, command: &[&str]) -> Vec<String> {
        let mut v = self.prefix.clone();
        v.extend(command.iter().map(|s| s.to_string()));
        v
    }

    /// How long one call may run before ipmitool is killed.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// Runs one command; its stdout on success.
    fn run(&self, command: &[&str]) -> Result<String, BmcError> {
        let argv = self.argv(command);
        tracing::debug!("running {} {}", self.program.display(), argv.join(" "));
        let started = Instant::now();
        // Only the password it needs: not evacctl's whole environment (OS_PASSWORD, tokens).
        let mut child = crate::process::scrubbed_command(&self.program)
            .args(&argv)
            .env(PASSWORD_ENV, self.password.expose())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => BmcError::config(INSTALL_HINT),
                _ => BmcError::failure(format!("cannot run {}: {e}", self.program.display())),
            })?;
        let stdout = child.stdout.take().map(read_bounded);
        let stderr = child.stderr.take().map(read_bounded);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if started.elapsed() >= self.deadline => {
                    // Our own child, by its handle.
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(BmcError::failure(format!("cannot wait for ipmitool: {e}")));
                }
            }
        };
        let out = stdout.map(join_reader).unwrap_or_default();
        let err = stderr.map(join_reader).unwrap_or_default();
        tracing::trace!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "ipmitool {}: stdout {out:?}, stderr {err:?}",
            command.join(" ")
        );
        match status {
            None => Err(BmcError::unreachable(format!(
                "no answer: ipmitool was still waiting after {} and was stopped",
                humantime::format_duration(self.deadline)
            ))),
            Some(s) if s.success() => Ok(out),
            Some(s) => Err(classify(&err, &out, s.code())),
        }
    }
}

impl PowerDriver for IpmiTool {
    fn status(&self) -> Result<PowerState, BmcError> {
        let out = self.run(&["chassis", "power", "status"])?;
        parse_status(&out)
    }

    fn power_off(&self) -> Result<(), BmcError> {
        self.run(&["chassis", "power", "off"]).map(drop)
    }

    fn power_on(&self) -> Result<(), BmcError> {
        self.run(&["chassis", "power", "on"]).map(drop)
    }

    fn power_cycle(&self) -> Result<(), BmcError> {
        self.run(&["chassis", "power", "cycle"]).map(drop)
    }
}

/// `Chassis Power is on|off`.
pub fn parse_status(stdout: &str) -> Result<PowerState, BmcError> {
    for line in stdout.lines() {
        match line.trim().strip_prefix("Chassis Power is ") {
            Some("on") => return Ok(PowerState::On),
            Some("off") => return Ok(PowerState::Off),
            _ => {}
        }
    }
    Err(BmcError::failure(format!(
        "unexpected answer from ipmitool: {:?}",
        first_chars(stdout.trim(), 200)
    )))
}

/// Lines `-v` adds on every run, which say nothing about a failure.
const NOISE: &[&str] = &[
    "Loading IANA PEN Registry",
    "Running Get VSO Capabilities",
    "Invalid completion code received: Invalid command",
    "Discovered IPMB address",
    "Get HPM.x Capabilities request failed",
    "Close Session command failed",
];

/// The kind and a readable reason of a failed run, from what ipmitool printed.
pub fn classify(stderr: &str, stdout: &str, code: Option<i32>) -> BmcError {
    let lines: Vec<&str> = stderr
        .lines()
        .chain(stdout.lines())
        .map(|l| l.trim().trim_start_matches('>').trim())
        .filter(|l| !l.is_empty() && !NOISE.iter().any(|n| l.starts_with(n)))
        .collect();
    let detail = if lines.is_empty() {
        match code {
            Some(c) => format!("ipmitool exited with status {c} and said nothing"),
            None => "ipmitool was killed by a signal".to_string(),
        }
    } else {
        first_chars(&lines.join("; "), 500)
    };
    let text = detail.to_ascii_lowercase();
    let auth_signs = [
        "rakp 2 hmac is invalid",
        "unauthorized name",
        "invalid integrity check",
        "insufficient privilege",
        "privilege level",
        "invalid user name",
        "invalid password",
    ];
    let unreachable_signs = [
        "get auth capabilities error",
        "no response",
        "unable to get",
        "unable to set",
        "timeout",
        "timed out",
        "unable to establish",
        "connection refused",
        "address lookup",
        "no route",
    ];
    if auth_signs.iter().any(|s| text.contains(s)) {
        BmcError::auth(format!(
            "the BMC refused the user, password or privilege: {detail}"
        ))
    } else if unreachable_signs.iter().any(|s| text.contains(s)) {
        BmcError::unreachable(format!("the BMC did not answer: {detail}"))
    } else {
        BmcError::failure(format!("the BMC answered with an error: {detail}"))
    }
}

/// Reads a pipe on a thread (so a full pipe cannot block the child), keeping the first
/// [`MAX_OUTPUT`] bytes.
fn read_bounded<R: Read + Send + 'static>(mut r: R) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.by_ref().take(MAX_OUTPUT).read_to_end(&mut buf);
        let _ = std::io::copy(&mut r, &mut std::io::sink());
        String::from_utf8_lossy(&buf).into_owned()
    })
}

fn join_reader(h: std::thread::JoinHandle<String>) -> String {
    h.join().unwrap_or_default()
}

fn first_chars(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// An executable file named `name` in `PATH`.
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(p) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    meta.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bmc::BmcErrorKind;
    use crate::config::Config;

    fn bmc() -> ResolvedBmc {
        let c = Config::from_str(
            "[hosts.c1.bmc]\naddress = \"192.168.1.243\"\nport = 16230\nuser = \"admin\"\npassword_env = \"P\"\ncipher_suite = 17\ntimeout = \"1500ms\"\nretries = 4\nprivilege = \"OPERATOR\"\n",
            "c.toml",
        )
        .unwrap();
        c.host("c1").unwrap().bmc().unwrap().clone()
    }

    #[test]
    fn argv_follows_the_config_and_never_holds_the_password() {
        let t = IpmiTool::with_program("ipmitool".into(), &bmc(), Secret::new("hunter2-pw"));
        let argv = t.argv(&["chassis", "power", "off"]).join(" ");
        assert_eq!(
            argv,
            "-I lanplus -H 192.168.1.243 -p 16230 -U admin -E -L OPERATOR -C 17 -N 2 -R 4 -v \
             chassis power off"
        );
        assert!(!argv.contains("hunter2"));
        assert_eq!(t.deadline(), Duration::from_secs(2 * 5 * 6 + 5));
    }

    #[test]
    fn status_lines_are_parsed() {
        assert_eq!(parse_status("Chassis Power is on\n"), Ok(PowerState::On));
        assert_eq!(
            parse_status("Discovered IPMB address 0x0\nChassis Power is off\n"),
            Ok(PowerState::Off)
        );
        let e = parse_status("Chassis Power is unknown").unwrap_err();
        assert_eq!(e.kind, BmcErrorKind::Failure);
        assert!(e.message.contains("unexpected answer"), "{e}");
    }

    #[test]
    fn failures_are_classified_from_what_ipmitool_says() {
        // As printed by ipmitool 1.8.19 -v against ipmi_sim.
        let wrong_password = "Loading IANA PEN Registry...\n> RAKP 2 HMAC is invalid\nError: Unable to establish IPMI v2 / RMCP+ session\n";
        let e = classify(wrong_password, "", Some(1));
        assert_eq!(e.kind, BmcErrorKind::Auth);
        assert!(e.message.contains("RAKP 2 HMAC is invalid"), "{e}");
        assert!(!e.message.contains("IANA"), "{e}");
        let unknown_user = "RAKP 2 message indicates an error : unauthorized name\nError: Unable to establish IPMI v2 / RMCP+ session\n";
        assert_eq!(classify(unknown_user, "", Some(1)).kind, BmcErrorKind::Auth);
        let privilege =
            "Set Chassis Power Control to Down/Off failed: Insufficient privilege level\n";
        assert_eq!(classify(privilege, "", Some(1)).kind, BmcErrorKind::Auth);
        let dead = "Get Auth Capabilities error\nError issuing Get Channel Authentication Capabilities request\nError: Unable to establish IPMI v2 / RMCP+ session\n";
        assert_eq!(classify(dead, "", Some(1)).kind, BmcErrorKind::Unreachable);
        let slow = "Discovered IPMB address 0x0\nUnable to get Chassis Power Status\nClose Session command failed\n";
        let e = classify(slow, "", Some(1));
        assert_eq!(e.kind, BmcErrorKind::Unreachable);
        assert_eq!(
            e.message,
            "the BMC did not answer: Unable to get Chassis Power Status"
        );
        let failing = "Set Chassis Power Control to Down/Off failed: Unspecified error\n";
        let e = classify(failing, "", Some(1));
        assert_eq!(e.kind, BmcErrorKind::Failure);
        assert!(e.message.contains("Unspecified error"), "{e}");
        assert!(
            classify("", "", Some(3))
                .message
                .contains("exited with status 3")
        );
    }

    #[test]
    fn a_missing_program_says_how_to_install_it() {
        let t = IpmiTool::with_program(
            "/nonexistent/evacctl-test/ipmitool".into(),
            &bmc(),
            Secret::new("x"),
        );
        let e = t.status().unwrap_err();
        assert_eq!(e.kind, BmcErrorKind::Config);
        assert!(e.message.contains("apt-get install ipmitool"), "{e}");
        assert!(find_in_path("evacctl-no-such-program-here").is_none());
    }
}
