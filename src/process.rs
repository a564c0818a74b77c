//! Running an external program: an argv (never a shell), stdout and stderr captured (bounded,
//! secrets masked), optional bytes on stdin, and a time limit after which the child is killed.
//! Used for `cinder-manage` (volumes), the repair command, `sendmail` and the notification
//! command hook.
//!
//! # The environment of a child
//!
//! A child starts from an empty environment and gets back only [`PASSED_ON`] from evacctl's
//! own (the search path, the home directory, the locale, the time zone, the user's name), plus
//! what its caller gives it explicitly (`IPMI_PASSWORD` for ipmitool, `EVACCTL_FAILURE_KIND`
//! for the repair command). Never `OS_PASSWORD`, `OS_*` credentials, `CONSUL_HTTP_TOKEN`, a
//! `password_env` variable or a proxy URL with its credentials: a hook or a repair script is
//! somebody else's code, and what it inherits it may log. A program that needs more is given
//! it in its argv (`env VAR=value program ...`). Every child of evacctl is started through
//! [`scrubbed_command`].

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use serde::Serialize;

/// Captured output kept per stream: enough for any error, bounded for a runaway tool.
const OUTPUT_LIMIT: usize = 64 * 1024;

/// One finished (or failed to start, or killed) run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Run {
    pub argv: Vec<String>,
    /// `None` when it did not start, was killed, or died by a signal.
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Why it has no exit code.
    pub error: Option<String>,
    pub duration_ms: u64,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// `exit 0`, `exit 1: <last line of stderr>`, `killed after 300s`, ...
    pub fn summary(&self) -> String {
        match (self.exit_code, &self.error) {
            (Some(0), _) => "exit 0".to_string(),
            (Some(c), _) => match last_line(&self.stderr).or_else(|| last_line(&self.stdout)) {
                Some(l) => format!("exit {c}: {l}"),
                None => format!("exit {c}"),
            },
            (None, Some(e)) => e.clone(),
            (None, None) => "no exit status".to_string(),
        }
    }
}

fn last_line(s: &str) -> Option<&str> {
    s.lines().rev().map(str::trim).find(|l| !l.is_empty())
}

/// The variables of evacctl's environment a child gets (`LC_*`: every one of them).
pub const PASSED_ON: &[&str] = &[
    "PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "USER", "LOGNAME",
];

/// A [`Command`] for `program` whose environment holds only [`PASSED_ON`] (and `LC_*`) of
/// evacctl's: see the module documentation. Add what the child needs with `.env()`.
pub fn scrubbed_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    command.env_clear();
    for (name, value) in std::env::vars_os() {
        let passed = name
            .to_str()
            .is_some_and(|n| PASSED_ON.contains(&n) || n.starts_with("LC_"));
        if passed {
            command.env(name, value);
        }
    }
    command
}

/// Runs `argv` with `stdin` (closed when `None`), killing it after `timeout`. A failure to
/// start or a timeout is in the [`Run`], never a panic.
pub fn run(argv: &[String], stdin: Option<Vec<u8>>, timeout: Duration) -> Run {
    run_with_env(argv, &[], stdin, timeout)
}

/// [`run`] with extra environment variables (on top of the scrubbed environment).
pub fn run_with_env(
    argv: &[String],
    env: &[(&str, &str)],
    stdin: Option<Vec<u8>>,
    timeout: Duration,
) -> Run {
    let started = Instant::now();
    let mut run = Run {
        argv: argv.iter().map(|a| redact(a)).collect(),
        exit_code: None,
        stdout: String::new(),
        stderr: String::new(),
        error: None,
        duration_ms: 0,
    };
    let Some((program, rest)) = argv.split_first() else {
        run.error = Some("no command to run".into());
        return run;
    };
    let mut command = scrubbed_command(program);
    // Its own process group: a timeout kills what it started too (a repair script's ssh, a
    // hook's curl), and a Ctrl-C at evacctl's terminal does not cut it off mid-step (evacctl
    // finishes the current step, then stops).
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let child = command
        .args(rest)
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            run.error = Some(format!("cannot run {program}: {e}"));
            return run;
        }
    };
    // stdin is written, and both pipes drained, on their own threads: a program that fills
    // one pipe while we wait on another, or never reads its input, would never finish.
    // A write error (the program exited without reading) is the program's business.
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        });
    }
    let out = child.stdout.take().map(drain);
    let err = child.stderr.take().map(drain);
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Ok(s),
            Ok(None) if started.elapsed() >= timeout => {
                // Our own child and its process group (not yet reaped, so the ids are ours).
                kill_group(child.id());
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!(
                    "killed after {} without finishing",
                    humantime::format_duration(timeout)
                ));
            }
            Ok(None) if crate::interrupt::abandoning().is_some() => {
                // `watch` ends within a second of SIGTERM/SIGINT: the program is stopped as a
                // timeout would stop it, its step failing as after a timeout (a power-off, a
                // volume move are read again by the next run before anything else is done).
                kill_group(child.id());
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!(
                    "stopped after {}: evacctl was asked to stop",
                    humantime::format_duration(Duration::from_millis(
                        u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
                    ))
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                kill_group(child.id());
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!("cannot wait for {program}: {e}"));
            }
        }
    };
    // What was read by now, and what comes within a moment: a grandchild that inherited the
    // pipes may hold them open long after the program itself has ended.
    let until = Instant::now() + Duration::from_secs(1);
    run.stdout = out.map(|rx| collect(&rx, until)).unwrap_or_default();
    run.stderr = err.map(|rx| collect(&rx, until)).unwrap_or_default();
    match status {
        Ok(s) => {
            run.exit_code = s.code();
            if s.code().is_none() {
                run.error = Some(format!("{program} ended without an exit code ({s})"));
            }
        }
        Err(e) => run.error = Some(e),
    }
    run.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    run
}

/// SIGKILL to the process group `pid` leads (see `process_group(0)` above).
#[cfg(unix)]
fn kill_group(pid: u32) {
    if let Ok(pid) = libc::pid_t::try_from(pid)
        && pid > 1
    {
        // SAFETY: kill(2) has no memory effects; the group is led by our unreaped child.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

#[cfg(not(unix))]
fn kill_group(_pid: u32) {}

/// Reads a pipe to its end on its own thread, passing on the first [`OUTPUT_LIMIT`] bytes
/// (and reading on, so that the program never blocks on a full pipe).
fn drain<R: Read + Send + 'static>(mut r: R) -> Receiver<Vec<u8>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = 0;
        let mut buf = [0u8; 8192];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let keep = n.min(OUTPUT_LIMIT.saturating_sub(sent));
                    if keep > 0 {
                        sent += keep;
                        let _ = tx.send(buf[..keep].to_vec());
                    }
                }
            }
        }
    });
    rx
}

/// The output read until the pipe's end, or until `until`; secrets masked.
fn collect(rx: &Receiver<Vec<u8>>, until: Instant) -> String {
    let mut kept = Vec::new();
    while let Ok(chunk) = rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
        kept.extend_from_slice(&chunk);
    }
    redact(&String::from_utf8_lossy(&kept))
}

/// Masks the password of `scheme://user:password@host` (a database URL in a traceback) and the
/// value of `password=...`: tool output is shown and journaled.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let mut line = line.to_string();
        let mut from = 0;
        while let Some(i) = line
            .get(from..)
            .and_then(|s| s.find("://"))
            .map(|i| i + from)
        {
            let start = i + 3;
            let rest = line.get(start..).unwrap_or("");
            let end = rest
                .find(|c: char| c == '/' || c.is_whitespace() || c == '\'' || c == '"')
                .unwrap_or(rest.len());
            let authority = &rest[..end];
            if let Some(at) = authority.rfind('@')
                && let Some(colon) = authority[..at].find(':')
            {
                line.replace_range(start + colon + 1..start + at, "***");
            }
            from = start;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(i) = lower.find("password=").or_else(|| lower.find("password =")) {
            let eq = i + lower[i..].find('=').unwrap_or(0) + 1;
            let keep_newline = line.ends_with('\n');
            line.truncate(eq);
            line.push_str(" ***");
            if keep_newline {
                line.push('\n');
            }
        }
        out.push_str(&line);
    }
    out
}

/// An argv as one line an operator can paste into a shell (quoted where needed).
pub fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars().all(|c| {
                    c.is_ascii_alphanumeric()
                        || matches!(c, '-' | '_' | '.' | '/' | '@' | ':' | '=' | ',' | '+' | '%')
                });
            if plain {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn stdin_reaches_the_program() {
        let r = super::run(
            &argv(&["sh", "-c", "cat; echo err >&2"]),
            Some(b"hello\n".to_vec()),
            Duration::from_secs(20),
        );
        assert_eq!((r.exit_code, r.stdout.as_str()), (Some(0), "hello\n"));
        assert_eq!(r.stderr, "err\n");
    }

    #[test]
    fn input_never_read_and_output_held_open_do_not_hang() {
        // 1 MiB on stdin to a program that reads none of it.
        let r = super::run(
            &argv(&["true"]),
            Some(vec![b'x'; 1 << 20]),
            Duration::from_secs(20),
        );
        assert!(r.ok(), "{r:?}");
        // A background grandchild keeps stdout open after the program has ended (and ends
        // by itself soon after).
        let r = super::run(
            &argv(&["sh", "-c", "echo started; sleep 2 &"]),
            None,
            Duration::from_secs(20),
        );
        assert!(r.ok(), "{r:?}");
        assert_eq!(r.stdout, "started\n");
    }

    #[test]
    fn a_timeout_kills_what_the_program_started_too() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("grandchild.pid");
        let script = format!("sleep 60 & echo $! > '{}'; wait", pidfile.display());
        let r = super::run(&argv(&["sh", "-c", &script]), None, Duration::from_secs(1));
        assert!(
            r.error.as_deref().unwrap_or("").contains("killed after"),
            "{r:?}"
        );
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Gone, or a zombie waiting for whoever adopted it: not running `sleep` any more.
        let alive = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                !s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!alive(), "the background sleep {pid} survived the timeout");
    }

    #[test]
    fn output_is_bounded_and_masked() {
        let r = super::run(
            &argv(&[
                "sh",
                "-c",
                "echo mysql://u:hunter2@db/x; head -c 200000 /dev/zero | tr '\\0' y",
            ]),
            None,
            Duration::from_secs(20),
        );
        assert!(r.ok(), "{r:?}");
        // The limit applies to what was read; masking shortened `hunter2` to `***`.
        assert_eq!(r.stdout.len(), OUTPUT_LIMIT - 4);
        assert!(
            r.stdout.starts_with("mysql://u:***@db/x\n"),
            "{}",
            &r.stdout[..40]
        );
    }
}
