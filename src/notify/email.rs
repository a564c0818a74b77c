//! E-mail: a plain-text message (the reason, then the event as JSON) to `email_to`, through an
//! SMTP relay (`smtp_host`) or the local `sendmail -t -i`.
//!
//! The SMTP client is the small part of RFC 5321 a relay needs: EHLO (HELO if refused),
//! MAIL FROM, RCPT TO per recipient, DATA (dot-stuffed, CRLF), QUIT. No STARTTLS and no
//! authentication: a relay on the controller or the management network is expected (the
//! usual way for servers to send mail); use `sendmail` to go through the local MTA otherwise.

use std::io::{BufRead, BufReader, Read as _, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;

use super::{Channel, Event, PROGRAM_TIMEOUT, hostname};
use crate::config::NotifyConfig;
use crate::process;

/// The SMTP default port.
const SMTP_PORT: u16 = 25;

/// A reply line longer than this is not SMTP (RFC 5321 allows 512).
const MAX_REPLY_LINE: u64 = 4096;

/// Body lines longer than this go base64-encoded: SMTP allows 998 octets per line, and a long
/// `details` value must not make a relay refuse the message.
const MAX_BODY_LINE: usize = 900;

pub(super) enum Transport {
    Smtp { host: String, port: u16 },
    Sendmail { program: String },
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
            if a.is_empty() || a.chars().any(|c| c.is_control() || "<>,; ".contains(c)) {
                return Err(format!("{a:?} cannot be used as an e-mail address"));
            }
        }
        let transport = match (&cfg.smtp_host, &cfg.sendmail) {
            (Some(h), None) => {
                let (host, port) = parse_smtp_host(h)?;
                Transport::Smtp { host, port }
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

/// `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address; port 25 by default.
pub(super) fn parse_smtp_host(s: &str) -> Result<(String, u16), String> {
    let bad = || format!("smtp_host {s:?}: give `host` or `host:port`");
    let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad);
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or_else(bad)?;
        match after {
            "" => (h, SMTP_PORT),
            _ => (h, port(after.strip_prefix(':').ok_or_else(bad)?)?),
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) if !p.contains(':') => (h, port(p)?),
            _ => (s, SMTP_PORT),
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
            Transport::Smtp { host, port } => {
                send_smtp(host, *port, self.timeout, &self.from, &self.to, &msg)
                    .map_err(|e| format!("SMTP {host}:{port}: {e}"))
            }
            Transport::Sendmail { program } => {
                let argv = [program.clone(), "-t".into(), "-i".into()];
                super::outcome(process::run(&argv, Some(msg.into_bytes()), self.timeout))
            }
        }
    }
}

/// The whole message, headers and body, with `\n` line ends (sendmail's convention; SMTP
/// gets CRLF from [`smtp_data`]).
pub(super) fn message(event: &Event, from: &str, to: &[String], now: SystemTime) -> String {
    let subject = format!("[evacctl] {}: {}", event.host, event.event);
    let json = serde_json::to_string_pretty(event).unwrap_or_default();
    let body = format!("{}\n\n{json}\n", event.reason);
    let long = body.lines().any(|l| l.len() > MAX_BODY_LINE);
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
        "Content-Transfer-Encoding: 8bit\n"
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

/// The message as DATA sends it: CRLF line ends, a leading `.` doubled, the final `.` line.
pub(super) fn smtp_data(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len() + 64);
    for line in msg.lines() {
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str(".\r\n");
    out
}

struct Reply {
    code: u16,
    lines: Vec<String>,
}

impl Reply {
    fn text(&self) -> String {
        format!("{} {}", self.code, self.lines.join(" / "))
    }
}

struct Smtp {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    timeout: Duration,
}

impl Smtp {
    fn io(&self, e: std::io::Error) -> String {
        match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => format!(
                "no answer within {}",
                humantime::format_duration(self.timeout)
            ),
            _ => e.to_string(),
        }
    }

    fn read_reply(&mut self) -> Result<Reply, String> {
        let mut lines = Vec::new();
        let mut code = None;
        loop {
            let mut buf = Vec::new();
            let n = (&mut self.reader)
                .take(MAX_REPLY_LINE)
                .read_until(b'\n', &mut buf)
                .map_err(|e| self.io(e))?;
            if n == 0 {
                return Err("the server closed the connection".to_string());
            }
            let line = String::from_utf8_lossy(&buf);
            let line = line.trim_end_matches(['\r', '\n']);
            let this = line
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .filter(|c| (200..600).contains(c) && code.is_none_or(|first| first == *c))
                .ok_or_else(|| {
                    format!(
                        "not an SMTP reply: {:?}",
                        line.chars().take(100).collect::<String>()
                    )
                })?;
            code = Some(this);
            lines.push(line.get(4..).unwrap_or("").to_string());
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(Reply { code: this, lines });
            }
            if lines.len() > 100 {
                return Err("an SMTP reply of more than 100 lines".to_string());
            }
        }
    }

    fn send(&mut self, data: &str) -> Result<(), String> {
        self.writer
            .write_all(data.as_bytes())
            .and_then(|()| self.writer.flush())
            .map_err(|e| self.io(e))
    }

    /// Sends one command line and reads its reply.
    fn command(&mut self, line: &str) -> Result<Reply, String> {
        self.send(&format!("{line}\r\n"))?;
        self.read_reply()
    }
}

/// `Err` when the reply's code is not one of `ok`.
fn expect(reply: Reply, ok: &[u16], what: &str) -> Result<Reply, String> {
    if ok.contains(&reply.code) {
        Ok(reply)
    } else {
        Err(format!("{what} refused: {}", reply.text()))
    }
}

fn connect(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, String> {
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?;
    let mut last = format!("{host} has no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = format!("cannot connect to {addr}: {e}"),
        }
    }
    Err(last)
}

pub(super) fn send_smtp(
    host: &str,
    port: u16,
    timeout: Duration,
    from: &str,
    to: &[String],
    msg: &str,
) -> Result<(), String> {
    let stream = connect(host, port, timeout)?;
    let setup = |e: std::io::Error| format!("cannot set up the connection: {e}");
    stream.set_read_timeout(Some(timeout)).map_err(setup)?;
    stream.set_write_timeout(Some(timeout)).map_err(setup)?;
    let mut s = Smtp {
        reader: BufReader::new(stream.try_clone().map_err(setup)?),
        writer: stream,
        timeout,
    };
    let result = converse(&mut s, from, to, msg);
    // Polite either way; the outcome is already known.
    let _ = s.command("QUIT");
    result
}

fn converse(s: &mut Smtp, from: &str, to: &[String], msg: &str) -> Result<(), String> {
    let greeting = s.read_reply()?;
    expect(greeting, &[220], "the connection")?;
    let me = hostname();
    let ehlo = s.command(&format!("EHLO {me}"))?;
    let eight_bit = if ehlo.code == 250 {
        ehlo.lines
            .iter()
            .any(|l| l.eq_ignore_ascii_case("8BITMIME"))
    } else {
        expect(s.command(&format!("HELO {me}"))?, &[250], "HELO")?;
        false
    };
    let body = if eight_bit && !msg.is_ascii() {
        " BODY=8BITMIME"
    } else {
        ""
    };
    expect(
        s.command(&format!("MAIL FROM:<{from}>{body}"))?,
        &[250],
        "MAIL FROM",
    )?;
    let mut refused = Vec::new();
    for rcpt in to {
        let reply = s.command(&format!("RCPT TO:<{rcpt}>"))?;
        if !matches!(reply.code, 250 | 251) {
            refused.push(format!("{rcpt} ({})", reply.text()));
        }
    }
    if refused.len() == to.len() {
        return Err(format!("every recipient refused: {}", refused.join(", ")));
    }
    expect(s.command("DATA")?, &[354], "DATA")?;
    s.send(&smtp_data(msg))?;
    expect(s.read_reply()?, &[250], "the message")?;
    if refused.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "sent to the others, but refused for {}",
            refused.join(", ")
        ))
    }
}
