//! E-mail: a plain-text message (the reason, then the event as JSON) to `email_to`, through an
//! SMTP relay (`smtp_host`) or the local `sendmail -t -i`.
//!
//! SMTP is lettre's client: STARTTLS required (`smtp_tls = "starttls"`, the default), TLS from
//! the first byte (`"tls"`) or none (`"none"`, a relay on the controller); AUTH (PLAIN or LOGIN,
//! as the relay offers) when `smtp_user` is set; the certificate checked against the system's
//! roots or `smtp_ca_file` alone. The password and the CA file are read at each delivery, so a
//! rotated password needs no restart; the password is never logged.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use lettre::Transport as _;
use lettre::address::Envelope;
use lettre::transport::smtp::SmtpTransport;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;

use super::{Channel, Event, PROGRAM_TIMEOUT, hostname};
use crate::config::{NotifyConfig, SecretRef, SmtpTls};
use crate::process;

/// A CA bundle larger than this is refused (the system's whole bundle is about 200 KiB).
const MAX_CA_FILE_BYTES: u64 = 4 << 20;

/// Body lines longer than this go base64-encoded: SMTP allows 998 octets per line, and a long
/// `details` value must not make a relay refuse the message.
const MAX_BODY_LINE: usize = 900;

pub(super) enum Transport {
    Smtp(Smtp),
    Sendmail { program: String },
}

/// One relay and how to talk to it.
pub(super) struct Smtp {
    host: String,
    port: u16,
    tls: SmtpTls,
    ca_file: Option<PathBuf>,
    /// The AUTH user and where the password is.
    auth: Option<(String, SecretRef)>,
}

pub(super) struct Email {
    to: Vec<String>,
    from: String,
    transport: Transport,
    /// Per SMTP exchange, or for the whole sendmail run.
    pub(super) timeout: Duration,
}

impl Email {
    pub(super) fn new(cfg: &NotifyConfig) -> Result<Email, String> {
        let from = cfg
            .email_from
            .clone()
            .unwrap_or_else(|| format!("evacctl@{}", hostname()));
        for a in cfg.email_to.iter().chain([&from]) {
            if a.parse::<lettre::Address>().is_err() {
                return Err(format!("{a:?} cannot be used as an e-mail address"));
            }
        }
        let transport = match (&cfg.smtp_host, &cfg.sendmail) {
            (Some(h), None) => {
                let (host, port) = parse_smtp_host(h, cfg.smtp_tls.default_port())?;
                Transport::Smtp(Smtp {
                    host,
                    port,
                    tls: cfg.smtp_tls,
                    ca_file: cfg.smtp_ca_file.clone(),
                    auth: cfg.smtp_user.clone().zip(cfg.smtp_password.clone()),
                })
            }
            (None, Some(p)) => Transport::Sendmail { program: p.clone() },
            _ => return Err("email_to needs exactly one of smtp_host and sendmail".to_string()),
        };
        Ok(Email {
            to: cfg.email_to.clone(),
            from,
            transport,
            timeout: PROGRAM_TIMEOUT,
        })
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address; `default_port` when
/// none is given.
pub(super) fn parse_smtp_host(s: &str, default_port: u16) -> Result<(String, u16), String> {
    let bad = || format!("smtp_host {s:?}: give `host` or `host:port`");
    let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad);
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or_else(bad)?;
        match after {
            "" => (h, default_port),
            _ => (h, port(after.strip_prefix(':').ok_or_else(bad)?)?),
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) if !p.contains(':') => (h, port(p)?),
            _ => (s, default_port),
        }
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

impl Channel for Email {
    fn name(&self) -> &'static str {
        "email"
    }

    fn deliver(&self, event: &Event) -> Result<(), String> {
        let msg = message(event, &self.from, &self.to, SystemTime::now());
        match &self.transport {
            Transport::Smtp(smtp) => smtp
                .send(self.timeout, &self.from, &self.to, &msg)
                .map_err(|e| format!("SMTP {}:{}: {e}", smtp.host, smtp.port)),
            Transport::Sendmail { program } => {
                let argv = [program.clone(), "-t".into(), "-i".into()];
                super::outcome(process::run(&argv, Some(msg.into_bytes()), self.timeout))
            }
        }
    }
}

impl Smtp {
    fn tls_parameters(&self) -> Result<TlsParameters, String> {
        let mut b = TlsParameters::builder(self.host.clone());
        if let Some(ca) = &self.ca_file {
            let shown = ca.display();
            let pem = crate::files::read_limited(ca, MAX_CA_FILE_BYTES)
                .map_err(|e| format!("cannot read smtp_ca_file {shown}: {e}"))?;
            let cert = Certificate::from_pem(&pem)
                .map_err(|e| format!("smtp_ca_file {shown} holds no usable certificate: {e}"))?;
            // As `curl --cacert`: the given CA alone, not added to the system's.
            b = b
                .certificate_store(CertificateStore::None)
                .add_root_certificate(cert);
        }
        b.build_rustls()
            .map_err(|e| format!("cannot set up TLS: {e}"))
    }

    fn send(&self, timeout: Duration, from: &str, to: &[String], msg: &str) -> Result<(), String> {
        let tls = match self.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Starttls => Tls::Required(self.tls_parameters()?),
            SmtpTls::Tls => Tls::Wrapper(self.tls_parameters()?),
        };
        let mut builder = SmtpTransport::builder_dangerous(self.host.as_str())
            .port(self.port)
            .tls(tls)
            .timeout(Some(timeout))
            .hello_name(ClientId::Domain(hostname().to_string()));
        if let Some((user, password)) = &self.auth {
            // The error names the file or variable, never the value.
            let password = password.read().map_err(|e| e.to_string())?;
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            ));
        }
        let address = |a: &str| {
            a.parse::<lettre::Address>()
                .map_err(|e| format!("{a:?} cannot be used as an e-mail address: {e}"))
        };
        let envelope = Envelope::new(
            Some(address(from)?),
            to.iter().map(|a| address(a)).collect::<Result<_, _>>()?,
        )
        .map_err(|e| e.to_string())?;
        builder
            .build()
            .send_raw(&envelope, crlf(msg).as_bytes())
            .map(|_| ())
            .map_err(|e| describe(&e, timeout))
    }
}

/// lettre's error with its causes (`permanent error (535): 5.7.8 ...`, `Connection error:
/// ...`), on one line; a read or write that timed out says so.
fn describe(e: &lettre::transport::smtp::Error, timeout: Duration) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            )
        {
            return format!("no answer within {}", humantime::format_duration(timeout));
        }
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text.replace(['\r', '\n'], " ")
}

/// The message with CRLF line ends, without the last one (lettre ends DATA with
/// `CRLF . CRLF` and doubles a leading dot itself).
pub(super) fn crlf(msg: &str) -> String {
    msg.lines().collect::<Vec<_>>().join("\r\n")
}

/// The whole message, headers and body, with `\n` line ends (sendmail's convention; SMTP
/// gets CRLF from [`crlf`]). ASCII only: a body that is not goes base64-encoded, so no relay
/// needs 8BITMIME.
pub(super) fn message(event: &Event, from: &str, to: &[String], now: SystemTime) -> String {
    let subject = format!("[evacctl] {}: {}", event.host, event.event);
    let json = serde_json::to_string_pretty(event).unwrap_or_default();
    let body = format!("{}\n\n{json}\n", event.reason);
    let long = !body.is_ascii() || body.lines().any(|l| l.len() > MAX_BODY_LINE);
    let id = crate::ids::random_hex(16);
    let mut m = String::new();
    m.push_str(&format!("From: {from}\n"));
    m.push_str(&format!("To: {}\n", to.join(", ")));
    m.push_str(&format!("Subject: {}\n", header_text(&subject)));
    m.push_str(&format!("Date: {}\n", rfc2822(now)));
    m.push_str(&format!("Message-ID: <{id}@{}>\n", hostname()));
    m.push_str("MIME-Version: 1.0\n");
    m.push_str("Content-Type: text/plain; charset=utf-8\n");
    m.push_str(if long {
        "Content-Transfer-Encoding: base64\n"
    } else {
        "Content-Transfer-Encoding: 7bit\n"
    });
    // Keeps vacation responders from answering a robot.
    m.push_str("Auto-Submitted: auto-generated\n");
    m.push_str(&format!("X-Evacctl-Event: {}\n", event.event));
    m.push_str(&format!("X-Evacctl-Host: {}\n", header_text(&event.host)));
    m.push('\n');
    if long {
        let b64 = base64::engine::general_purpose::STANDARD.encode(body.as_bytes());
        for chunk in b64.as_bytes().chunks(76) {
            m.push_str(&String::from_utf8_lossy(chunk));
            m.push('\n');
        }
    } else {
        m.push_str(&body);
    }
    m
}

/// A header value on one line (no injected header), RFC 2047-encoded when not ASCII.
fn header_text(s: &str) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.is_ascii() {
        one_line
    } else {
        format!(
            "=?utf-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(one_line.as_bytes())
        )
    }
}

/// `Sun, 22 Nov 2026 03:12:09 +0000`.
pub(super) fn rfc2822(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // `2026-11-22T03:12:09Z`: the calendar arithmetic is humantime's.
    let iso = humantime::format_rfc3339_seconds(t).to_string();
    let days = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0);
    let weekday = DAYS[(days % 7) as usize];
    let month = iso
        .get(5..7)
        .and_then(|m| m.parse::<usize>().ok())
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
        .unwrap_or(&"Jan");
    format!(
        "{weekday}, {} {month} {} {} +0000",
        iso.get(8..10).unwrap_or("01"),
        iso.get(0..4).unwrap_or("1970"),
        iso.get(11..19).unwrap_or("00:00:00"),
    )
}
