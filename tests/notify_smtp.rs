//! E-mail through a real SMTP server: aiosmtpd (tests/peers/smtp_server.py) on loopback,
//! requiring STARTTLS (or TLS from the first byte) and AUTH, its certificate signed by a test
//! CA made here with `openssl`, given to evacctl as `smtp_ca_file`. `watch --test-notify`
//! delivers, or names the failure in its log and exit code; the password appears nowhere.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::bmc::{find_program, free_tcp_port, missing, peers_dir, write_private};

const USER: &str = "evacctl-mailer";
const PASSWORD: &str = "smtp-pw-90210q";

struct Relay {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Relay {
    /// Starts the relay (STARTTLS required), or `None` (skipped) without aiosmtpd or openssl
    /// outside CI.
    fn start() -> Option<Relay> {
        Relay::start_mode("starttls")
    }

    /// `mode`: `starttls`, or `tls` (TLS from the first byte).
    fn start_mode(mode: &str) -> Option<Relay> {
        let python = [
            Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python3"),
            find_program("python3").unwrap_or_default(),
        ]
        .into_iter()
        .find(|p| {
            p.is_file()
                && Command::new(p)
                    .args(["-c", "import aiosmtpd"])
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
        });
        let (Some(python), Some(openssl)) = (python, find_program("openssl")) else {
            missing("aiosmtpd (tests/requirements.txt) or openssl");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let d = |name: &str| dir.path().join(name);
        std::fs::write(
            d("leaf.ext"),
            "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        // A CA, then the relay's certificate signed by it (a CA certificate itself is refused
        // as a server's).
        let key = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let steps: [Vec<std::ffi::OsString>; 3] = [
            args(&["req", "-x509", "-days", "2", "-subj", "/CN=evacctl test CA"])
                .chain(args(&key))
                .chain(paths(&["-keyout", "ca.key", "-out", "ca.pem"], &d))
                .collect(),
            args(&["req", "-subj", "/CN=127.0.0.1"])
                .chain(args(&key))
                .chain(paths(&["-keyout", "key.pem", "-out", "leaf.csr"], &d))
                .collect(),
            args(&["x509", "-req", "-days", "2", "-set_serial", "2"])
                .chain(paths(
                    &[
                        "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-extfile",
                        "leaf.ext", "-out", "cert.pem",
                    ],
                    &d,
                ))
                .collect(),
        ];
        for step in steps {
            let made = Command::new(&openssl)
                .args(&step)
                .stdin(Stdio::null())
                .output()
                .expect("run openssl");
            assert!(
                made.status.success(),
                "openssl {step:?}: {}",
                String::from_utf8_lossy(&made.stderr)
            );
        }
        let (cert, key) = (d("cert.pem"), d("key.pem"));
        let mail = dir.path().join("mail");
        std::fs::create_dir(&mail).unwrap();
        let port = free_tcp_port();
        let mut child = Command::new(python)
            .arg(peers_dir().join("smtp_server.py"))
            .arg(port.to_string())
            .args([&cert, &key, &mail])
            .arg(mode)
            .env("SMTP_USER", USER)
            .env("SMTP_PASSWORD", PASSWORD)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(d("server.log")).expect("log"))
            .spawn()
            .expect("start the SMTP server");
        let mut line = String::new();
        let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
        let relay = Relay { child, port, dir };
        assert_eq!(
            line.trim(),
            "ready",
            "the SMTP server did not start: {}",
            std::fs::read_to_string(relay.dir.path().join("server.log")).unwrap_or_default()
        );
        Some(relay)
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The messages received, in order.
    fn mail(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path().join("mail"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    /// A configuration sending to this relay with `password` in a 0600 file.
    fn config(&self, password: &str, extra: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        write_private(&dir.path().join("smtp-password"), &format!("{password}\n"));
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "[notify]\nemail_to = [\"oncall@example.com\"]\n\
                 email_from = \"evacctl@ctl1.example.com\"\n\
                 smtp_host = \"127.0.0.1:{}\"\nsmtp_tls = \"starttls\"\n\
                 smtp_ca_file = \"{}\"\nsmtp_user = \"{USER}\"\n\
                 smtp_password_file = \"smtp-password\"\n{extra}",
                self.port,
                self.ca().display()
            ),
        )
        .unwrap();
        (dir, config)
    }
}

fn test_notify(config: &Path) -> (i32, String, String) {
    let out = assert_cmd::Command::cargo_bin("evacctl")
        .unwrap()
        .args(["-vv", "watch", "--test-notify", "--config"])
        .arg(config)
        .env_remove("EVACCTL_LOG")
        .env_remove("EVACCTL_LOG_FORMAT")
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_test_event_arrives_over_starttls_with_auth() {
    let Some(relay) = Relay::start() else { return };
    let (_dir, config) = relay.config(PASSWORD, "");
    let (code, stdout, stderr) = test_notify(&config);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stdout.contains("test event delivered through email"),
        "{stdout}"
    );
    assert!(stderr.contains("notified email of "), "{stderr}");
    assert!(
        !stderr.contains(PASSWORD) && !stdout.contains(PASSWORD),
        "{stderr}"
    );

    let mail = relay.mail();
    assert_eq!(mail.len(), 1, "{mail:?}");
    let (head, body) = mail[0].split_once("\r\n\r\n").expect("headers and body");
    assert!(
        head.lines()
            .any(|l| l.starts_with("Subject: [evacctl] ") && l.ends_with(": test")),
        "{head}"
    );
    assert!(head.contains("From: evacctl@ctl1.example.com"), "{head}");
    assert!(head.contains("To: oncall@example.com"), "{head}");
    assert!(
        body.starts_with("test notification from evacctl on "),
        "{body}"
    );
    assert!(body.contains("\"event\": \"test\""), "{body}");
}

#[test]
fn the_test_event_arrives_over_implicit_tls() {
    let Some(relay) = Relay::start_mode("tls") else {
        return;
    };
    let (_dir, config) = relay.config(PASSWORD, "");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("smtp_tls = \"starttls\"", "smtp_tls = \"tls\""),
    )
    .unwrap();
    let (code, stdout, stderr) = test_notify(&config);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert_eq!(relay.mail().len(), 1);
    assert!(!stderr.contains(PASSWORD), "{stderr}");
}

#[test]
fn a_wrong_password_fails_in_the_log_and_the_exit_code() {
    let Some(relay) = Relay::start() else { return };
    let (_dir, config) = relay.config("not-the-password-31337", "");
    let (code, stdout, stderr) = test_notify(&config);
    assert_eq!(code, 12, "stdout: {stdout}\nstderr: {stderr}");
    let port = relay.port;
    assert!(
        stderr.contains(&format!(
            "could not notify email of {host} test: SMTP 127.0.0.1:{port}: permanent error (535)",
            host = hostname()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("the test notification failed through email: SMTP 127.0.0.1:"),
        "{stderr}"
    );
    assert!(!stderr.contains("not-the-password-31337"), "{stderr}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    assert!(relay.mail().is_empty());
}

#[test]
fn a_relay_certificate_not_from_the_ca_is_refused() {
    let Some(relay) = Relay::start() else { return };
    // Without smtp_ca_file the system's roots are used: the self-signed certificate fails.
    let (dir, config) = relay.config(PASSWORD, "");
    let text = std::fs::read_to_string(&config).unwrap();
    let without_ca: String = text
        .lines()
        .filter(|l| !l.starts_with("smtp_ca_file"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&config, without_ca).unwrap();
    let (code, _, stderr) = test_notify(&config);
    assert_eq!(code, 12, "{stderr}");
    assert!(stderr.contains("could not notify email of "), "{stderr}");
    assert!(stderr.to_lowercase().contains("certificate"), "{stderr}");
    assert!(relay.mail().is_empty());
    drop(dir);
}

fn args<'a>(words: &'a [&str]) -> impl Iterator<Item = std::ffi::OsString> + 'a {
    words.iter().map(std::ffi::OsString::from)
}

/// Option words as they are; each word after an option is a file in the directory `d` gives.
fn paths<'a>(
    words: &'a [&str],
    d: &'a dyn Fn(&str) -> PathBuf,
) -> impl Iterator<Item = std::ffi::OsString> + 'a {
    words.iter().map(move |w| {
        if w.starts_with('-') {
            std::ffi::OsString::from(w)
        } else {
            d(w).into_os_string()
        }
    })
}

/// The kernel's host name, as evacctl's events name the controller.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}
