//! The fence-agent driver: runs a Pacemaker fence agent (`fence_ipmilan`, `fence_redfish`,
//! `fence_idrac`, ...) once per call, as Pacemaker does.
//!
//! Everything, the password included, goes on the agent's stdin in the fence-agents
//! convention (one `key=value` a line: `action`, `ip`, `ipport`, `username`, `password`, then
//! `agent_options`); the argv is the program alone and the environment evacctl's scrubbed one
//! ([`crate::process::scrubbed_command`]), so neither `ps` nor `/proc/PID/environ` shows the
//! password. The answer is the exit status: for `status`, 0 is on, 2 is off (confirmed only
//! when the agent also prints `Status: OFF`: a Python error exits 2 too), anything else a
//! failure; for `off`, `on`, `reboot`, 0 is done. A run longer than the BMC `timeout` is
//! killed with what it started; output is read bounded and with `password=` masked.

use std::path::PathBuf;
use std::time::Duration;

use super::ipmitool::find_in_path;
use super::{BmcError, PowerDriver, PowerState};
use crate::config::{AgentProgram, ResolvedBmc};
use crate::secret::Secret;

/// The Debian and RHEL packages of the agents, for the message when one is missing.
const INSTALL_HINT: &str = "install the fence agents (Debian, Ubuntu: apt-get install \
     fence-agents; RHEL, Rocky: dnf install fence-agents-all), or give the agent's absolute \
     path in `agent`";

/// One host's BMC through a fence agent.
pub struct FenceAgent {
    program: PathBuf,
    /// The stdin lines after `action`, without the password: (option, value).
    options: Vec<(String, String)>,
    password: Secret,
    deadline: Duration,
}

impl FenceAgent {
    /// Finds the agent (a bare name in `PATH`, else the absolute path as configured).
    pub fn new(bmc: &ResolvedBmc, password: Secret) -> Result<FenceAgent, BmcError> {
        let config = bmc.fence_agent.as_ref().ok_or_else(|| {
            BmcError::config("driver fence-agent without an `agent` in the configuration")
        })?;
        let program = match &config.agent {
            AgentProgram::Name(name) => find_in_path(name).ok_or_else(|| {
                BmcError::config(format!(
                    "fence agent `{name}` is not installed (not found in PATH): {INSTALL_HINT}"
                ))
            })?,
            // Checked when it is run: a missing or non-executable file cannot be started.
            AgentProgram::Path(path) => path.clone(),
        };
        FenceAgent::with_program(program, bmc, password)
    }

    /// With an explicit program (tests). A password the agent would read as more than one
    /// option line is refused.
    pub fn with_program(
        program: PathBuf,
        bmc: &ResolvedBmc,
        password: Secret,
    ) -> Result<FenceAgent, BmcError> {
        let pw = password.expose();
        if pw.chars().any(|c| c == '\n' || c == '\r') {
            return Err(BmcError::config(
                "the BMC password has a line break: a fence agent reads its options one per \
                 line, so it cannot be given to one",
            ));
        }
        // The fence-agents library strips each line and a pair of quotes around a value: such
        // a password would reach the BMC changed, and fail as a wrong one.
        if pw.ends_with(char::is_whitespace)
            || (pw.len() > 1 && pw.starts_with('"') && pw.ends_with('"'))
        {
            return Err(BmcError::config(
                "the BMC password ends with a space or is in double quotes: a fence agent would \
                 read it changed (the fence-agents library strips both)",
            ));
        }
        let mut options = vec![("ip".to_owned(), bmc.address.clone())];
        if bmc.port != 0 {
            options.push(("ipport".to_owned(), bmc.port.to_string()));
        }
        options.push(("username".to_owned(), bmc.user.clone()));
        if let Some(config) = &bmc.fence_agent {
            options.extend(config.options.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Ok(FenceAgent {
            program,
            options,
            password,
            deadline: bmc.timeout,
        })
    }

    /// The agent's whole argv: the program, nothing else.
    pub fn argv(&self) -> Vec<String> {
        vec![self.program.to_string_lossy().into_owned()]
    }

    /// How long one run may take before the agent is killed.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// The agent's stdin for `action`: `action`, `ip`, `ipport`, `username`, `password`, then
    /// the configured options, one `key=value` a line. Holds the password.
    pub fn stdin(&self, action: &str) -> Secret {
        let mut text = format!("action={action}\n");
        for (k, v) in &self.options {
            text.push_str(&format!("{k}={v}\n"));
            if k == "username" {
                text.push_str(&format!("password={}\n", self.password.expose()));
            }
        }
        Secret::new(text)
    }

    fn name(&self) -> String {
        self.program
            .file_name()
            .unwrap_or(self.program.as_os_str())
            .to_string_lossy()
            .into_owned()
    }

    /// Runs the agent for one action: its exit code (`None`: none) and output.
    fn run(&self, action: &str) -> Result<Answer, BmcError> {
        tracing::debug!(
            "running fence agent {} with action={action} (options on stdin)",
            self.program.display()
        );
        let input = self.stdin(action).expose().as_bytes().to_vec();
        let run = crate::process::run(&self.argv(), Some(input), self.deadline);
        tracing::trace!(
            elapsed_ms = run.duration_ms,
            "fence agent {} action={action}: exit {:?}, stdout {:?}, stderr {:?}",
            self.name(),
            run.exit_code,
            run.stdout,
            run.stderr
        );
        match run.exit_code {
            Some(code) => Ok(Answer {
                code,
                stdout: run.stdout,
                stderr: run.stderr,
            }),
            None => {
                let why = run.error.unwrap_or_default();
                Err(if why.starts_with("cannot run") {
                    BmcError::config(format!("fence agent {why}: {INSTALL_HINT}"))
                } else if why.starts_with("killed after") {
                    BmcError::unreachable(format!(
                        "no answer: fence agent {} was still running after {} and was stopped \
                         (the BMC's `timeout`)",
                        self.name(),
                        humantime::format_duration(self.deadline)
                    ))
                } else {
                    BmcError::failure(format!("fence agent {}: {why}", self.name()))
                })
            }
        }
    }

    fn act(&self, action: &str) -> Result<(), BmcError> {
        let a = self.run(action)?;
        if a.code == 0 {
            Ok(())
        } else {
            Err(classify(&self.name(), action, &a))
        }
    }
}

impl PowerDriver for FenceAgent {
    fn status(&self) -> Result<PowerState, BmcError> {
        let a = self.run("status")?;
        status_of(&self.name(), &a)
    }

    fn power_off(&self) -> Result<(), BmcError> {
        self.act("off")
    }

    fn power_on(&self) -> Result<(), BmcError> {
        self.act("on")
    }

    fn power_cycle(&self) -> Result<(), BmcError> {
        self.act("reboot")
    }
}

/// What one run of an agent answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The power state of a `status` run: exit 0 on, exit 2 off, by the fence-agents convention.
/// Off is never concluded from the exit code alone (Python exits 2 on its own errors): the
/// agent must also say `Status: OFF`. An output that contradicts the exit code is a failure.
pub fn status_of(agent: &str, a: &Answer) -> Result<PowerState, BmcError> {
    let said = a.stdout.lines().find_map(|l| {
        let l = l.trim().to_ascii_lowercase();
        match l.strip_prefix("status:").map(str::trim) {
            Some("on") => Some(PowerState::On),
            Some("off") => Some(PowerState::Off),
            _ => None,
        }
    });
    match (a.code, said) {
        (0, None | Some(PowerState::On)) => Ok(PowerState::On),
        (2, Some(PowerState::Off)) => Ok(PowerState::Off),
        (0 | 2, _) => Err(BmcError::failure(format!(
            "fence agent {agent} exited with status {} (the convention's {}) but printed {:?}: \
             the power state is not known",
            a.code,
            if a.code == 0 { "on" } else { "off" },
            first_chars(a.stdout.trim(), 200)
        ))),
        _ => Err(classify(agent, "status", a)),
    }
}

/// Lines an agent prints on every run that say nothing about a failure (Debian's Python warns
/// about a deprecated module in fence_ipmilan).
const NOISE: &[&str] = &["DeprecationWarning", "from pipes import"];

/// The kind and a readable reason of a failed run, from what the agent printed (the
/// fence-agents library logs `ERROR: <reason>`).
pub fn classify(agent: &str, action: &str, a: &Answer) -> BmcError {
    let lines: Vec<&str> = a
        .stderr
        .lines()
        .chain(a.stdout.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty() && !NOISE.iter().any(|n| l.contains(n)))
        .collect();
    // The library's own lines, without their time stamp and level, first.
    let errors: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.split_once("ERROR:").map(|(_, rest)| rest.trim()))
        .filter(|l| !l.is_empty())
        .collect();
    let shown = if errors.is_empty() { &lines } else { &errors };
    let detail = if shown.is_empty() {
        "it said nothing".to_owned()
    } else {
        first_chars(&shown.join("; "), 500)
    };
    let head = format!(
        "fence agent {agent} (action {action}) exited with status {}",
        a.code
    );
    let text = detail.to_ascii_lowercase();
    let auth_signs = [
        "correct privileges",
        "login denied",
        "unauthorized",
        "authentication",
        "invalid password",
        "401",
    ];
    let unreachable_signs = [
        "timed out",
        "timeout",
        "connection lost",
        "connection refused",
        "no route",
        "name or service not known",
    ];
    if auth_signs.iter().any(|s| text.contains(s)) {
        BmcError::auth(format!(
            "{head}: the BMC refused the user, password or privilege: {detail}"
        ))
    } else if unreachable_signs.iter().any(|s| text.contains(s)) {
        BmcError::unreachable(format!("{head}: the BMC did not answer: {detail}"))
    } else {
        BmcError::failure(format!("{head}: {detail}"))
    }
}

fn first_chars(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::bmc::BmcErrorKind;
    use crate::config::Config;

    const PW: &str = "agent-pw-9931z";

    fn bmc(extra: &str) -> ResolvedBmc {
        bmc_of("fence_ipmilan", extra)
    }

    fn bmc_of(agent: &str, extra: &str) -> ResolvedBmc {
        let c = Config::from_str(
            &format!(
                "[hosts.c1.bmc]\ndriver = \"fence-agent\"\nagent = \"{agent}\"\naddress = \"192.168.1.243\"\nuser = \"admin\"\npassword_env = \"P\"\n{extra}"
            ),
            "c.toml",
        )
        .unwrap();
        c.host("c1").unwrap().bmc().unwrap().clone()
    }

    fn answer(code: i32, stdout: &str, stderr: &str) -> Answer {
        Answer {
            code,
            stdout: stdout.into(),
            stderr: stderr.into(),
        }
    }

    /// A fake agent: a shell script in a temporary directory.
    fn script(dir: &Path, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join("fence_fake");
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn options_and_password_go_on_stdin_and_the_argv_is_the_program_alone() {
        let b = bmc("port = 16230\nagent_options = { lanplus = \"1\", cipher = \"3\" }\n");
        let a = FenceAgent::with_program("/usr/sbin/fence_ipmilan".into(), &b, Secret::new(PW))
            .unwrap();
        assert_eq!(
            a.stdin("off").expose(),
            format!(
                "action=off\nip=192.168.1.243\nipport=16230\nusername=admin\npassword={PW}\n\
                 cipher=3\nlanplus=1\n"
            )
        );
        assert_eq!(a.argv(), ["/usr/sbin/fence_ipmilan"]);
        // Without a port the agent keeps its own default; the timeout is the agents' default.
        let a = FenceAgent::with_program("fence_x".into(), &bmc(""), Secret::new(PW)).unwrap();
        assert!(!a.stdin("status").expose().contains("ipport"));
        assert_eq!(a.deadline(), Duration::from_secs(60));
        assert!(!format!("{:?}", a.argv()).contains(PW));
    }

    #[test]
    fn a_password_the_agent_would_read_changed_is_refused() {
        for pw in ["a\nb", "a\rb", "pw ", "\"pw\""] {
            let e = FenceAgent::with_program("fence_x".into(), &bmc(""), Secret::new(pw))
                .err()
                .unwrap();
            assert_eq!(e.kind, BmcErrorKind::Config);
            assert!(
                e.message.contains("line break") || e.message.contains("changed"),
                "{e}"
            );
        }
    }

    #[test]
    fn status_follows_the_fence_agents_exit_codes() {
        assert_eq!(
            status_of("f", &answer(0, "Status: ON\n", "")),
            Ok(PowerState::On)
        );
        assert_eq!(status_of("f", &answer(0, "", "")), Ok(PowerState::On));
        assert_eq!(
            status_of("f", &answer(2, "Status: OFF\n", "")),
            Ok(PowerState::Off)
        );
        // Exit 2 alone is also Python's own error exit: never taken as off.
        let e = status_of("f", &answer(2, "", "python3: can't open file")).unwrap_err();
        assert_eq!(e.kind, BmcErrorKind::Failure);
        assert!(e.message.contains("not known"), "{e}");
        let e = status_of("f", &answer(0, "Status: OFF\n", "")).unwrap_err();
        assert_eq!(e.kind, BmcErrorKind::Failure);
        let e = status_of("f", &answer(2, "Status: ON\n", "")).unwrap_err();
        assert_eq!(e.kind, BmcErrorKind::Failure);
        let e = status_of("f", &answer(1, "", "ERROR: Failed: boom\n")).unwrap_err();
        assert_eq!(e.kind, BmcErrorKind::Failure);
        assert!(
            e.message.contains("exited with status 1: Failed: boom"),
            "{e}"
        );
    }

    #[test]
    fn failures_are_classified_from_what_the_agent_says() {
        // As printed by Debian's fence_ipmilan 4.12.1 against ipmi_sim.
        let warning = "/usr/sbin/fence_ipmilan:5: DeprecationWarning: 'pipes' is deprecated\n  from pipes import quote\n";
        let dead = format!("{warning}2026-12-03 12:39:17,370 ERROR: Connection timed out\n\n");
        let e = classify("fence_ipmilan", "status", &answer(1, "", &dead));
        assert_eq!(e.kind, BmcErrorKind::Unreachable);
        assert_eq!(
            e.message,
            "fence agent fence_ipmilan (action status) exited with status 1: the BMC did not \
             answer: Connection timed out"
        );
        let wrong = format!(
            "{warning}2026-12-03 12:38:57,259 ERROR: Failed: Unable to obtain correct plug status or plug is not available\n"
        );
        let e = classify("fence_ipmilan", "status", &answer(1, "", &wrong));
        assert_eq!(e.kind, BmcErrorKind::Failure);
        assert!(!e.message.contains("Deprecation"), "{e}");
        let e = classify(
            "fence_x",
            "off",
            &answer(
                1,
                "",
                "ERROR: Failed: The user does not have the correct privileges to do the requested action.\n",
            ),
        );
        assert_eq!(e.kind, BmcErrorKind::Auth);
        let e = classify("fence_x", "off", &answer(3, "", ""));
        assert!(
            e.message.ends_with("exited with status 3: it said nothing"),
            "{e}"
        );
    }

    #[test]
    fn a_fake_agent_gets_everything_on_stdin_and_nothing_in_argv_or_environment() {
        let dir = tempfile::tempdir().unwrap();
        let rec = dir.path();
        let body = format!(
            "cat > '{r}/stdin'\ntr '\\0' '\\n' < /proc/$$/cmdline > '{r}/argv'\ntr '\\0' '\\n' < /proc/$$/environ > '{r}/environ'\n\
             case $(sed -n 's/^action=//p' '{r}/stdin') in\n  status) echo 'Status: OFF'; exit 2 ;;\n  off) echo 'Success: Powered OFF' ;;\n  *) exit 1 ;;\nesac",
            r = rec.display()
        );
        let program = script(rec, &body);
        let b = bmc("agent_options = { lanplus = \"1\" }\n");
        let a = FenceAgent::with_program(program, &b, Secret::new(PW)).unwrap();
        assert_eq!(a.status(), Ok(PowerState::Off));
        let stdin = std::fs::read_to_string(rec.join("stdin")).unwrap();
        assert!(
            stdin.starts_with("action=status\nip=192.168.1.243\n"),
            "{stdin}"
        );
        assert!(stdin.contains(&format!("\npassword={PW}\n")), "{stdin}");
        let argv = std::fs::read_to_string(rec.join("argv")).unwrap();
        let environ = std::fs::read_to_string(rec.join("environ")).unwrap();
        assert!(!argv.contains(PW) && !environ.contains(PW));
        assert_eq!(argv.lines().count(), 2, "sh and the script only: {argv}");
        for line in environ.lines() {
            let name = line.split('=').next().unwrap();
            assert!(
                crate::process::PASSED_ON.contains(&name) || name.starts_with("LC_")
                    // The shell's own.
                    || name == "PWD",
                "{name} reached the agent"
            );
        }
        assert_eq!(a.power_off(), Ok(()));
        let e = a.power_on().unwrap_err();
        assert_eq!(e.kind, BmcErrorKind::Failure);
    }

    #[test]
    fn a_slow_agent_is_killed_and_a_chatty_one_is_read_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let slow = script(dir.path(), "cat > /dev/null; sleep 60");
        let b = bmc("timeout = \"1s\"\n");
        let a = FenceAgent::with_program(slow, &b, Secret::new(PW)).unwrap();
        let e = a.status().unwrap_err();
        assert_eq!(e.kind, BmcErrorKind::Unreachable);
        assert!(e.message.contains("was still running after 1s"), "{e}");

        let chatty = script(
            dir.path(),
            "cat > /dev/null; head -c 5000000 /dev/zero | tr '\\0' x; echo; echo 'Status: ON'",
        );
        let a = FenceAgent::with_program(chatty, &bmc(""), Secret::new(PW)).unwrap();
        // The status line is past what is kept: the exit code alone says on.
        assert_eq!(a.status(), Ok(PowerState::On));

        let failing = script(
            dir.path(),
            "cat > /dev/null; echo 'ERROR: Failed: nope' >&2; exit 1",
        );
        let a = FenceAgent::with_program(failing, &bmc(""), Secret::new(PW)).unwrap();
        let e = a.power_off().unwrap_err();
        assert_eq!(e.kind, BmcErrorKind::Failure);
        assert!(
            e.message
                .contains("(action off) exited with status 1: Failed: nope"),
            "{e}"
        );
    }

    #[test]
    fn a_missing_agent_says_how_to_install_it() {
        let b = bmc_of("fence_evacctl_test_none", "");
        let e = FenceAgent::new(&b, Secret::new(PW)).err().unwrap();
        assert_eq!(e.kind, BmcErrorKind::Config);
        assert!(e.message.contains("not found in PATH"), "{e}");
        assert!(e.message.contains("apt-get install fence-agents"), "{e}");
        let b = bmc_of("/nonexistent/evacctl-test/fence_x", "");
        let a = FenceAgent::new(&b, Secret::new(PW)).unwrap();
        let e = a.status().unwrap_err();
        assert_eq!(e.kind, BmcErrorKind::Config);
        assert!(
            e.message.contains("/nonexistent/evacctl-test/fence_x"),
            "{e}"
        );
    }
}
