use crate::exit_codes::ExitCode;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::command::Hook;
use super::email::{self, Email};
use super::webhook::{self, Webhook};
use super::*;
use crate::config::SmtpTls;
use crate::openstack::testserver::{Reply, Routes, TestServer, closed_port_url};

// ---------------------------------------------------------------------------------------
// Helpers

/// Log lines written while `f` runs, by this thread and the notifier's workers.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn logged<T>(f: impl FnOnce() -> T) -> (T, String) {
    let logs = Logs::default();
    let sub = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    let out = tracing::subscriber::with_default(sub, f);
    (out, logs.text())
}

fn event() -> Event {
    let mut e = Event::new(
        EventKind::Fenced,
        "compute-3",
        "fenced",
        "compute-3 fence successed",
    );
    e.previous_state = Some("failed".into());
    e.run_id = "20261122T031209Z-3f2a9c1d".into();
    e.details = serde_json::json!({"bmc": "192.168.1.243"});
    e
}

fn config() -> NotifyConfig {
    NotifyConfig::default()
}

fn webhook(url: &str, timeout: Duration) -> Webhook {
    let mut w = Webhook::new(url, timeout).unwrap();
    w.backoff = Duration::from_millis(5);
    w
}

/// An argv that writes its stdin to `path`.
fn cat_to(path: &Path) -> Vec<String> {
    ["sh", "-c", "cat > \"$1\"", "sh"]
        .into_iter()
        .map(String::from)
        .chain([path.display().to_string()])
        .collect()
}

/// Notifies `e` through `cfg`'s channels and flushes: (all delivered, the log).
fn notify_once(cfg: &NotifyConfig, e: Event) -> (bool, String) {
    logged(|| {
        let n = Notifier::from_config(cfg).unwrap();
        n.notify(e);
        n.flush(Duration::from_secs(20))
    })
}

/// Waits for `path` to exist (a safety limit, not a performance claim).
fn wait_for_file(path: &Path) -> String {
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until {
        if let Ok(s) = std::fs::read_to_string(path)
            && s.ends_with('\n')
        {
            return s;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{} never written", path.display());
}

/// A webhook receiver whose answers wait until the test drops the returned sender.
fn gated_server() -> (TestServer, Sender<()>) {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let gate: Arc<Mutex<Receiver<()>>> = Arc::new(Mutex::new(rx));
    let server = TestServer::start(move |_| {
        move |_: &_| {
            // Released (Err) when the sender is dropped; bounded so a broken test ends.
            let _ = gate.lock().unwrap().recv_timeout(Duration::from_secs(20));
            Reply::raw(204, "")
        }
    });
    (server, tx)
}

// ---------------------------------------------------------------------------------------
// The event and the notifier

#[test]
fn event_json_field_names_are_stable() {
    let v = serde_json::to_value(event()).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut expected = [
        "event",
        "host",
        "state",
        "previous_state",
        "reason",
        "at",
        "controller",
        "run_id",
        "details",
    ];
    expected.sort();
    let mut keys = keys;
    keys.sort();
    assert_eq!(keys, expected);
    assert_eq!(v["event"], "fenced");
    assert_eq!(v["previous_state"], "failed");
    assert_eq!(v["controller"], hostname());
    assert!(
        humantime::parse_rfc3339(v["at"].as_str().unwrap()).is_ok(),
        "{v}"
    );

    let t = serde_json::to_value(test_event("compute-1")).unwrap();
    assert_eq!(t["event"], "test");
    assert_eq!(t["host"], "compute-1");
    assert_eq!(t["details"], serde_json::Value::Null);
    assert_eq!(t["previous_state"], serde_json::Value::Null);
    assert!(t["reason"].as_str().unwrap().contains("no action"), "{t}");
    for (k, s) in [
        (EventKind::Failed, "failed"),
        (EventKind::Isolated, "isolated"),
        (EventKind::Evacuated, "evacuated"),
        (EventKind::VolumesMoved, "volumes-moved"),
        (EventKind::Alert, "alert"),
        (EventKind::Warning, "warning"),
        (EventKind::Recovered, "recovered"),
        (EventKind::Restored, "restored"),
    ] {
        assert_eq!(serde_json::to_value(k).unwrap(), s);
        assert_eq!(k.to_string(), s);
    }
}

#[test]
fn no_channel_does_nothing() {
    // Shared by the watch loop's threads.
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Notifier>();

    let n = Notifier::from_config(&config()).unwrap();
    assert!(n.channels().is_empty());
    n.notify(event());
    assert!(n.flush(Duration::ZERO));
    assert!(Notifier::disabled().channels().is_empty());
}

#[test]
fn every_configured_channel_is_used() {
    let cfg = NotifyConfig {
        webhook_url: Some("https://alerts.example.com/hook".into()),
        command: vec!["true".into()],
        email_to: vec!["oncall@example.com".into()],
        smtp_host: Some("smtp.example.com".into()),
        ..config()
    };
    let n = Notifier::from_config(&cfg).unwrap();
    assert_eq!(n.channels(), ["webhook", "command", "email"]);
    let bad = NotifyConfig {
        email_to: vec!["oncall@example.com".into()],
        smtp_host: Some("smtp.example.com:0".into()),
        ..config()
    };
    let e = Notifier::from_config(&bad).unwrap_err();
    assert!(e.to_string().starts_with("[notify] smtp_host"), "{e}");
    assert_eq!(crate::error::Classify::exit_code(&e), ExitCode::Config);
}

#[test]
fn notify_returns_while_the_webhook_hangs_and_flush_is_bounded() {
    let (server, release) = gated_server();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("event.json");
    let cfg = NotifyConfig {
        webhook_url: Some(format!("{}/hook", server.url())),
        webhook_timeout: Duration::from_secs(20),
        command: cat_to(&out),
        ..config()
    };
    let (delivered, logs) = logged(|| {
        let n = Notifier::from_config(&cfg).unwrap();
        // Returns although the webhook's answer is held back.
        n.notify(event());
        // The command hook is not held up by the webhook.
        let json: serde_json::Value = serde_json::from_str(&wait_for_file(&out)).unwrap();
        assert_eq!(json["host"], "compute-3");
        // Still waiting for the webhook: flush gives up.
        assert!(!n.flush(Duration::from_millis(50)));
        drop(release);
        n.flush(Duration::from_secs(20))
    });
    assert!(delivered, "{logs}");
    assert!(
        logs.contains("notified command of compute-3 fenced"),
        "{logs}"
    );
    assert!(
        logs.contains("notified webhook of compute-3 fenced"),
        "{logs}"
    );
    assert!(
        logs.contains("notification(s) not delivered after waiting 50ms"),
        "{logs}"
    );
}

#[test]
fn a_full_queue_drops_and_warns() {
    let (server, release) = gated_server();
    let cfg = NotifyConfig {
        webhook_url: Some(format!("{}/hook", server.url())),
        webhook_timeout: Duration::from_secs(20),
        ..config()
    };
    let (delivered, logs) = logged(|| {
        let n = Notifier::from_config(&cfg).unwrap();
        // At most one in flight and QUEUE_LIMIT waiting.
        for _ in 0..QUEUE_LIMIT + 2 {
            n.notify(event());
        }
        drop(release);
        n.flush(Duration::from_secs(20))
    });
    assert!(delivered, "{logs}");
    assert!(
        logs.contains("could not notify webhook of compute-3 fenced: 64 notifications already waiting, this one is dropped"),
        "{logs}"
    );
    let sent = server.requests().len();
    assert!((QUEUE_LIMIT..=QUEUE_LIMIT + 1).contains(&sent), "{sent}");
}

#[test]
fn failed_deliveries_are_kept_for_the_caller_once() {
    let cfg = NotifyConfig {
        command: vec!["sh".into(), "-c".into(), "echo no pager >&2; exit 2".into()],
        ..config()
    };
    let n = Notifier::from_config(&cfg).unwrap();
    n.notify(event());
    assert!(n.flush(Duration::from_secs(20)));
    assert_eq!(
        n.take_failures(),
        [Failure {
            channel: "command",
            why: "sh exited with 2: no pager".into()
        }]
    );
    // Taken: the next call has none.
    assert!(n.take_failures().is_empty());
    // A channel that delivers leaves none.
    let ok = Notifier::from_config(&NotifyConfig {
        command: vec!["true".into()],
        ..config()
    })
    .unwrap();
    ok.notify(event());
    assert!(ok.flush(Duration::from_secs(20)));
    assert!(ok.take_failures().is_empty());
}

// ---------------------------------------------------------------------------------------
// Webhook

#[test]
fn webhook_posts_the_event() {
    let server = TestServer::start(|_| {
        Routes::new()
            .on("POST", "/hooks/evacctl", vec![Reply::raw(204, "")])
            .handler()
    });
    let cfg = NotifyConfig {
        webhook_url: Some(format!("{}/hooks/evacctl?token=s3cr3t", server.url())),
        ..config()
    };
    let (delivered, logs) = notify_once(&cfg, event());
    assert!(delivered);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.query, "token=s3cr3t");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.header("user-agent"),
        Some(concat!("evacctl/", env!("CARGO_PKG_VERSION")))
    );
    let body = r.json();
    assert_eq!(body["event"], "fenced");
    assert_eq!(body["host"], "compute-3");
    assert_eq!(body["reason"], "compute-3 fence successed");
    assert_eq!(body["details"]["bmc"], "192.168.1.243");
    assert!(
        logs.contains("notified webhook of compute-3 fenced"),
        "{logs}"
    );
    assert!(!logs.contains("s3cr3t"), "{logs}");
}

#[test]
fn webhook_retries_a_503_then_succeeds() {
    let server = TestServer::start(|_| {
        Routes::new()
            .on(
                "POST",
                "/hook",
                vec![Reply::raw(503, "busy"), Reply::raw(200, "ok")],
            )
            .handler()
    });
    let w = webhook(&format!("{}/hook", server.url()), Duration::from_secs(10));
    assert_eq!(w.deliver(&event()), Ok(()));
    assert_eq!(server.count("POST", "/hook"), 2);
}

#[test]
fn webhook_waits_as_long_as_retry_after_says_up_to_a_limit() {
    let server = TestServer::start(|_| {
        Routes::new()
            .on(
                "POST",
                "/paced",
                vec![
                    Reply::raw(429, "slow down").header("Retry-After", "1"),
                    Reply::raw(200, "ok"),
                ],
            )
            .on(
                "POST",
                "/closed",
                vec![Reply::raw(503, "maintenance").header("Retry-After", "3600")],
            )
            .handler()
    });
    // The test's backoff is 5 ms: the second POST waited for the receiver's second.
    let started = std::time::Instant::now();
    let w = webhook(&format!("{}/paced", server.url()), Duration::from_secs(10));
    assert_eq!(w.deliver(&event()), Ok(()));
    assert_eq!(server.count("POST", "/paced"), 2);
    assert!(started.elapsed() >= Duration::from_secs(1));

    // An hour is not waited for: given up at once, and said why.
    let e = webhook(&format!("{}/closed", server.url()), Duration::from_secs(10))
        .deliver(&event())
        .unwrap_err();
    assert!(e.contains("HTTP 503: maintenance"), "{e}");
    assert!(e.contains("asked to retry after 1h"), "{e}");
    assert_eq!(server.count("POST", "/closed"), 1);
}

#[test]
fn webhook_does_not_retry_a_400_but_retries_429_up_to_three_times() {
    let server = TestServer::start(|_| {
        Routes::new()
            .on(
                "POST",
                "/bad",
                vec![Reply::raw(400, "invalid payload\nmore")],
            )
            .on("POST", "/slow", vec![Reply::raw(429, "")])
            .on("POST", "/moved", vec![Reply::raw(301, "")])
            .handler()
    });
    let e = webhook(&format!("{}/bad", server.url()), Duration::from_secs(10))
        .deliver(&event())
        .unwrap_err();
    assert_eq!(
        e,
        format!("POST {}/…: HTTP 400: invalid payload", server.url())
    );
    assert_eq!(server.count("POST", "/bad"), 1);

    let e = webhook(&format!("{}/slow", server.url()), Duration::from_secs(10))
        .deliver(&event())
        .unwrap_err();
    assert!(e.ends_with("HTTP 429 (after 3 attempts)"), "{e}");
    assert_eq!(server.count("POST", "/slow"), webhook::ATTEMPTS as usize);

    let e = webhook(&format!("{}/moved", server.url()), Duration::from_secs(10))
        .deliver(&event())
        .unwrap_err();
    assert!(e.contains("HTTP 301 (redirects are not followed"), "{e}");
    assert_eq!(server.count("POST", "/moved"), 1);
}

#[test]
fn webhook_times_out_against_a_server_that_never_answers() {
    let server = TestServer::start(|_| |_: &_| Reply::raw(200, "").delay(Duration::from_secs(5)));
    let e = webhook(
        &format!("{}/hook", server.url()),
        Duration::from_millis(200),
    )
    .deliver(&event())
    .unwrap_err();
    assert_eq!(
        e,
        format!(
            "POST {}/…: no answer within 200ms (after 3 attempts)",
            server.url()
        )
    );
    assert_eq!(server.requests().len(), webhook::ATTEMPTS as usize);
}

#[test]
fn the_urls_secrets_never_show() {
    // Slack-like: the token is the path; plus a query token and user:password.
    let server = TestServer::start(|_| {
        |r: &crate::openstack::testserver::Recorded| {
            Reply::raw(404, format!("no hook at {}?{} for you", r.path, r.query))
        }
    });
    let addr = server.url().trim_start_matches("http://").to_string();
    let url = format!("http://bob:pa55word@{addr}/services/T0/XYZsecret?token=s3cr3t");
    let cfg = NotifyConfig {
        webhook_url: Some(url),
        ..config()
    };
    let (_, logs) = notify_once(&cfg, event());
    let refused =
        closed_port_url().replace("http://", "http://bob:pa55word@") + "/x/XYZsecret?token=s3cr3t";
    let e = webhook(&refused, Duration::from_secs(5))
        .deliver(&event())
        .unwrap_err();
    assert!(e.contains("cannot connect"), "{e}");
    for text in [&logs, &e] {
        for secret in ["pa55word", "XYZsecret", "s3cr3t", "bob"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
    assert!(
        logs.contains(&format!(
            "could not notify webhook of compute-3 fenced: POST http://{addr}/…: HTTP 404: no hook at ***?*** for you"
        )),
        "{logs}"
    );
    assert_eq!(
        webhook::shown(&reqwest::Url::parse("https://h.example:8443/").unwrap()),
        "https://h.example:8443"
    );
}

// ---------------------------------------------------------------------------------------
// Command hook

#[test]
fn command_hook_gets_the_event_on_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("event.json");
    let cfg = NotifyConfig {
        command: cat_to(&out),
        ..config()
    };
    let (delivered, logs) = notify_once(&cfg, event());
    assert!(delivered);
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        json,
        serde_json::to_value({
            let mut e = event();
            e.at = json["at"].as_str().unwrap().to_string();
            e
        })
        .unwrap()
    );
    assert!(
        logs.contains("notified command of compute-3 fenced"),
        "{logs}"
    );
}

#[test]
fn command_hook_failure_names_the_first_stderr_line() {
    let hook = Hook::new(vec![
        "sh".into(),
        "-c".into(),
        "echo first >&2; echo second >&2; exit 3".into(),
    ]);
    assert_eq!(
        hook.deliver(&event()),
        Err("sh exited with 3: first".into())
    );
    let missing = Hook::new(vec!["/nonexistent/page-oncall".into()]);
    let e = missing.deliver(&event()).unwrap_err();
    assert!(e.starts_with("cannot run /nonexistent/page-oncall"), "{e}");
}

#[test]
fn command_hook_is_killed_at_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let mut hook = Hook::new(vec![
        "sh".into(),
        "-c".into(),
        "echo $$ > \"$1\"; exec sleep 30".into(),
        "sh".into(),
        pidfile.display().to_string(),
    ]);
    hook.timeout = Duration::from_millis(300);
    let e = hook.deliver(&event()).unwrap_err();
    assert_eq!(e, "sh: killed after 300ms without finishing");
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    // Killed and reaped: gone from the process table.
    assert!(
        !Path::new(&format!("/proc/{}", pid.trim())).exists(),
        "{pid} still runs"
    );
}

// ---------------------------------------------------------------------------------------
// E-mail

#[test]
fn the_message_has_its_headers_and_a_readable_body() {
    let t = UNIX_EPOCH + Duration::from_secs(1_795_317_129);
    assert_eq!(email::rfc2822(t), "Sun, 22 Nov 2026 03:12:09 +0000");
    assert_eq!(
        email::rfc2822(UNIX_EPOCH + Duration::from_secs(1_709_251_199)),
        "Thu, 29 Feb 2024 23:59:59 +0000"
    );
    let to = ["a@example.com".to_string(), "b@example.com".to_string()];
    let m = email::message(&event(), "evacctl@ctl1", &to, t);
    let (head, body) = m.split_once("\n\n").unwrap();
    let headers: Vec<&str> = head.lines().collect();
    assert_eq!(headers[0], "From: evacctl@ctl1");
    assert_eq!(headers[1], "To: a@example.com, b@example.com");
    assert_eq!(headers[2], "Subject: [evacctl] compute-3: fenced");
    assert_eq!(headers[3], "Date: Sun, 22 Nov 2026 03:12:09 +0000");
    assert!(
        headers[4].starts_with("Message-ID: <")
            && headers[4].ends_with(&format!("@{}>", hostname()))
    );
    assert!(headers.contains(&"Content-Type: text/plain; charset=utf-8"));
    assert!(
        body.starts_with("compute-3 fence successed\n\n{\n  \"event\": \"fenced\","),
        "{body}"
    );

    // A host name cannot inject a header; non-ASCII is encoded.
    let mut odd = event();
    odd.host = "compute-3\r\nBcc: x@evil.example".into();
    let m = email::message(&odd, "e@x", &to, t);
    assert!(!m.lines().any(|l| l.starts_with("Bcc:")), "{m}");
    odd.host = "計算-3".into();
    let m = email::message(&odd, "e@x", &to, t);
    assert!(m.contains("Subject: =?utf-8?B?"), "{m}");

    // A line too long for SMTP: the body goes base64.
    let mut long = event();
    long.details = serde_json::json!({"servers": "x".repeat(2000)});
    let m = email::message(&long, "e@x", &to, t);
    assert!(m.contains("Content-Transfer-Encoding: base64"), "{m}");
    assert!(m.lines().all(|l| l.len() <= 998));
}

#[test]
fn smtp_host_forms() {
    let parse = |s| email::parse_smtp_host(s, 587);
    assert_eq!(parse("smtp"), Ok(("smtp".into(), 587)));
    assert_eq!(parse("smtp:2525"), Ok(("smtp".into(), 2525)));
    assert_eq!(parse("[::1]:2525"), Ok(("::1".into(), 2525)));
    assert_eq!(parse("[::1]"), Ok(("::1".into(), 587)));
    assert_eq!(parse("fe80::1"), Ok(("fe80::1".into(), 587)));
    for bad in ["smtp:x", "smtp:0", ":25", "[::1]x", "[::1"] {
        assert!(parse(bad).is_err(), "{bad}");
    }
    assert_eq!(SmtpTls::Starttls.default_port(), 587);
    assert_eq!(SmtpTls::Tls.default_port(), 465);
    assert_eq!(SmtpTls::None.default_port(), 25);
}

/// What the fake SMTP server saw.
#[derive(Debug, Default)]
struct Dialogue {
    commands: Vec<String>,
    /// DATA as sent, up to and including the final `.` line.
    data: String,
}

/// A fake SMTP server for one connection. `refuse`: recipients answered 550; `ehlo`: false
/// answers EHLO with 502.
fn smtp_server(refuse: &[&str], ehlo: bool) -> (u16, JoinHandle<Dialogue>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let refuse: Vec<String> = refuse.iter().map(|s| s.to_string()).collect();
    let t = std::thread::spawn(move || {
        let mut d = Dialogue::default();
        let (stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut w = stream.try_clone().unwrap();
        let mut r = BufReader::new(stream);
        w.write_all(b"220 fake.example ESMTP\r\n").unwrap();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return d;
            }
            let cmd = line.trim_end_matches("\r\n").to_string();
            d.commands.push(cmd.clone());
            let answer: &[u8] = if cmd.starts_with("EHLO") {
                if ehlo {
                    b"250-fake.example hello\r\n250-SIZE 1000000\r\n250 HELP\r\n"
                } else {
                    b"502 5.5.1 no EHLO here\r\n"
                }
            } else if cmd.starts_with("HELO") || cmd.starts_with("MAIL FROM:") {
                b"250 ok\r\n"
            } else if let Some(rcpt) = cmd.strip_prefix("RCPT TO:") {
                if refuse.iter().any(|x| rcpt == format!("<{x}>")) {
                    b"550 5.1.1 no such user\r\n"
                } else {
                    b"250 ok\r\n"
                }
            } else if cmd == "DATA" {
                w.write_all(b"354 go ahead\r\n").unwrap();
                loop {
                    let mut l = String::new();
                    if r.read_line(&mut l).unwrap_or(0) == 0 {
                        return d;
                    }
                    d.data.push_str(&l);
                    if l == ".\r\n" {
                        break;
                    }
                }
                b"250 2.0.0 queued\r\n"
            } else if cmd == "QUIT" {
                let _ = w.write_all(b"221 bye\r\n");
                return d;
            } else {
                b"500 what\r\n"
            };
            w.write_all(answer).unwrap();
        }
    });
    (port, t)
}

fn email_config(to: &[&str], smtp_port: u16) -> NotifyConfig {
    NotifyConfig {
        email_to: to.iter().map(|s| s.to_string()).collect(),
        email_from: Some("evacctl@ctl1.example.com".into()),
        smtp_host: Some(format!("127.0.0.1:{smtp_port}")),
        // The fake server speaks plain SMTP; TLS and AUTH are tested against a real server
        // (tests/notify_smtp.rs).
        smtp_tls: SmtpTls::None,
        ..config()
    }
}

#[test]
fn smtp_dialogue_with_dot_stuffing() {
    let (port, server) = smtp_server(&[], true);
    let mut e = event();
    // A line of the body that starts with a dot must not end DATA.
    e.reason = "compute-3 fence successed\n.\n.hidden".into();
    let (delivered, logs) =
        notify_once(&email_config(&["a@example.com", "b@example.com"], port), e);
    assert!(delivered, "{logs}");
    assert!(
        logs.contains("notified email of compute-3 fenced"),
        "{logs}"
    );
    let d = server.join().unwrap();
    assert_eq!(
        d.commands,
        [
            format!("EHLO {}", hostname()),
            "MAIL FROM:<evacctl@ctl1.example.com>".into(),
            "RCPT TO:<a@example.com>".into(),
            "RCPT TO:<b@example.com>".into(),
            "DATA".into(),
            "QUIT".into(),
        ]
    );
    assert!(d.data.starts_with("From: evacctl@ctl1.example.com\r\nTo: a@example.com, b@example.com\r\nSubject: [evacctl] compute-3: fenced\r\nDate: "), "{}", d.data);
    assert!(d.data.contains("\r\nMessage-ID: <"), "{}", d.data);
    assert!(
        d.data
            .contains("\r\nContent-Type: text/plain; charset=utf-8\r\n"),
        "{}",
        d.data
    );
    assert!(
        d.data
            .contains("\r\n\r\ncompute-3 fence successed\r\n..\r\n..hidden\r\n\r\n{\r\n"),
        "{}",
        d.data
    );
    assert!(d.data.ends_with("}\r\n.\r\n"), "{}", d.data);
    assert!(
        !d.data.replace("\r\n", "").contains('\n'),
        "bare LF in {}",
        d.data
    );
}

#[test]
fn smtp_ehlo_refused_is_a_failure() {
    let (port, server) = smtp_server(&[], false);
    let mail = Email::new(&email_config(&["a@example.com"], port)).unwrap();
    assert_eq!(
        mail.deliver(&event()),
        Err(format!(
            "SMTP 127.0.0.1:{port}: permanent error (502): 5.5.1 no EHLO here"
        ))
    );
    let d = server.join().unwrap();
    assert_eq!(d.commands[0], format!("EHLO {}", hostname()));
    assert!(!d.commands.iter().any(|c| c.starts_with("MAIL")), "{d:?}");
}

#[test]
fn smtp_refused_recipients_are_a_failure() {
    let (port, server) = smtp_server(&["a@example.com"], true);
    let (_, logs) = notify_once(&email_config(&["a@example.com"], port), event());
    assert!(
        logs.contains(&format!("WARN evacctl::notify: could not notify email of compute-3 fenced: SMTP 127.0.0.1:{port}: permanent error (550): 5.1.1 no such user")),
        "{logs}"
    );
    let d = server.join().unwrap();
    assert!(!d.commands.contains(&"DATA".to_string()), "{d:?}");

    // One of two refused: nothing is sent (lettre's rule), and the failure names the reply.
    let (port, server) = smtp_server(&["b@example.com"], true);
    let mail = Email::new(&email_config(&["a@example.com", "b@example.com"], port)).unwrap();
    let e = mail.deliver(&event()).unwrap_err();
    assert!(
        e.ends_with("permanent error (550): 5.1.1 no such user"),
        "{e}"
    );
    assert!(server.join().unwrap().data.is_empty());
}

#[test]
fn smtp_server_that_never_answers_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts, then says nothing until the client gives up.
    let t = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let _ = std::io::Read::read(&mut &s, &mut [0u8; 64]);
    });
    let mut mail = Email::new(&email_config(&["a@example.com"], port)).unwrap();
    mail.timeout = Duration::from_millis(200);
    assert_eq!(
        mail.deliver(&event()),
        Err(format!("SMTP 127.0.0.1:{port}: no answer within 200ms"))
    );
    t.join().unwrap();
}

#[test]
fn sendmail_gets_the_message_on_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("sendmail");
    let out = dir.path().join("out");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$@\" > '{0}.args'\ncat > '{0}.msg'\n",
            out.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let cfg = NotifyConfig {
        email_to: vec!["oncall@example.com".into()],
        sendmail: Some(script.display().to_string()),
        ..config()
    };
    let mail = Email::new(&cfg).unwrap();
    // A script just written may be briefly busy for exec while another test thread forks.
    let mut result = mail.deliver(&event());
    for _ in 0..20 {
        match &result {
            Err(e) if e.contains("busy") => {
                std::thread::sleep(Duration::from_millis(50));
                result = mail.deliver(&event());
            }
            _ => break,
        }
    }
    assert_eq!(result, Ok(()));
    let args = std::fs::read_to_string(format!("{}.args", out.display())).unwrap();
    assert_eq!(args, "-t -i\n");
    let msg = std::fs::read_to_string(format!("{}.msg", out.display())).unwrap();
    assert!(
        msg.starts_with(&format!(
            "From: evacctl@{}\nTo: oncall@example.com\nSubject: [evacctl] compute-3: fenced\n",
            hostname()
        )),
        "{msg}"
    );
    assert!(!msg.contains('\r'));

    let failing = NotifyConfig {
        sendmail: Some("/nonexistent/sendmail".into()),
        ..cfg
    };
    let e = Email::new(&failing).unwrap().deliver(&event()).unwrap_err();
    assert!(e.starts_with("cannot run /nonexistent/sendmail"), "{e}");
}

#[test]
fn the_notifier_clock_is_now() {
    let at = humantime::parse_rfc3339(&event().at).unwrap();
    let skew = SystemTime::now()
        .duration_since(at)
        .unwrap_or_else(|e| e.duration());
    assert!(skew < Duration::from_secs(3600), "{skew:?}");
}

/// A receiver that sends its headers, then drips its body: each attempt gives up at the
/// webhook's timeout.
#[test]
fn a_dripping_receiver_is_cut_off_at_the_timeout() {
    use crate::http::testing::{BadServer, Misbehaviour, within};
    let server = BadServer::start(Misbehaviour::Drip {
        interval: Duration::from_millis(300),
    });
    let w = webhook(
        &format!("{}/hook/secret-token", server.url),
        Duration::from_secs(1),
    );
    let e = within(Duration::from_secs(30), move || w.deliver(&event())).unwrap_err();
    assert!(
        e.contains("within 1s") && e.contains("after 3 attempts"),
        "{e}"
    );
    assert!(!e.contains("secret-token"), "{e}");
}
