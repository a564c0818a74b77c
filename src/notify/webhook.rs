//! The webhook: the event as a JSON POST, retried on what may pass (connection errors,
//! timeouts, 5xx, 429; after the receiver's `Retry-After` when it gives one, up to 30 s),
//! not on what will not (other 4xx, redirects).
//!
//! The URL may hold a secret: a token in the query, `user:password@`, or the path itself
//! (Slack, Teams and Discord incoming webhooks are `https://host/services/<token>`). So only
//! `scheme://host[:port]` is ever shown, and any part of the URL found in an error text is
//! masked.

use std::time::Duration;

use reqwest::Url;
use reqwest::blocking::Client;

use super::{Channel, Event, first_line};
use crate::http::{self, MAX_ANSWER};
use crate::openstack::session::chain;

/// Attempts per event (the first one and two retries).
pub(super) const ATTEMPTS: u32 = 3;

/// Wait before the first retry; doubled before each next one.
const BACKOFF: Duration = Duration::from_secs(1);

/// The longest `Retry-After` (429, 503) honoured; a receiver asking for more is given up on
/// at once rather than holding the event that long.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Why a POST failed: may it pass when tried again, and after how long the receiver said.
struct Failure {
    retry: bool,
    why: String,
    retry_after: Option<Duration>,
}

impl Failure {
    fn new(retry: bool, why: String) -> Failure {
        Failure {
            retry,
            why,
            retry_after: None,
        }
    }
}

/// `Retry-After` in its delta-seconds form (the HTTP-date form is not used by webhook
/// receivers in practice; it falls back to the backoff).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

pub(super) struct Webhook {
    client: Client,
    url: Url,
    /// `scheme://host[:port]`: all of the URL a message may show.
    shown: String,
    timeout: Duration,
    pub(super) backoff: Duration,
}

/// `scheme://host[:port]`, plus `/…` when the URL has a path or a query (never shown).
pub(super) fn shown(url: &Url) -> String {
    let mut s = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(p) = url.port() {
        s.push_str(&format!(":{p}"));
    }
    if url.path() != "/" || url.query().is_some() {
        s.push_str("/…");
    }
    s
}

impl Webhook {
    pub(super) fn new(url: &str, timeout: Duration) -> Result<Webhook, String> {
        let parsed = Url::parse(url).map_err(|e| format!("webhook_url is not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(format!(
                "webhook_url must be an http(s) URL with a host, not {}",
                shown(&parsed)
            ));
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = Client::builder();
        // The environment's proxy (`https_proxy`, as curl) serves remote receivers; one on
        // this machine is reached directly, whatever `no_proxy` says.
        let local = parsed.host_str().is_some_and(|h| {
            let h = h.trim_start_matches('[').trim_end_matches(']');
            h.eq_ignore_ascii_case("localhost")
                || h.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback())
        });
        if local {
            builder = builder.no_proxy();
        }
        let client = builder
            .user_agent(concat!("evacctl/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout)
            .connect_timeout(timeout)
            // A redirect would take the body (and any credentials) wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot set up the webhook's HTTP client: {}", chain(&e)))?;
        Ok(Webhook {
            client,
            shown: shown(&parsed),
            url: parsed,
            timeout,
            backoff: BACKOFF,
        })
    }

    /// One POST: `Ok(())` on 2xx; why not otherwise. The whole answer must come within the
    /// timeout (a receiver that drips its answer is cut off) and be at most [`MAX_ANSWER`].
    fn post(&self, body: &[u8]) -> Result<(), Failure> {
        let request = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        let no_answer = || {
            format!(
                "no answer within {}",
                humantime::format_duration(self.timeout)
            )
        };
        let resp = match http::exchange(request, self.timeout, MAX_ANSWER) {
            Ok(r) => r,
            Err(http::Failure::TimedOut(_)) => return Err(Failure::new(true, no_answer())),
            Err(http::Failure::Send(e)) => {
                let why = if e.is_timeout() {
                    no_answer()
                } else if e.is_connect() {
                    format!("cannot connect: {}", chain(&e.without_url()))
                } else {
                    chain(&e.without_url())
                };
                return Err(Failure::new(true, why));
            }
            Err(f @ http::Failure::TooLarge(_)) => return Err(Failure::new(false, f.to_string())),
            Err(f) => return Err(Failure::new(true, f.to_string())),
        };
        let status = reqwest::StatusCode::from_u16(resp.status)
            .unwrap_or(reqwest::StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_success() {
            return Ok(());
        }
        let after = retry_after(&resp.headers);
        // The receiver's own words help (`invalid payload`), bounded and on one line.
        let text = String::from_utf8_lossy(&resp.body[..resp.body.len().min(4096)]);
        let said = first_line(&text)
            .map(|l| format!(": {}", l.chars().take(200).collect::<String>()))
            .unwrap_or_default();
        let retry = status.is_server_error() || status.as_u16() == 429;
        let hint = if status.is_redirection() {
            " (redirects are not followed: give the final URL)"
        } else {
            ""
        };
        Err(Failure {
            retry,
            why: format!("HTTP {}{said}{hint}", status.as_u16()),
            retry_after: after,
        })
    }

    /// Masks every part of the URL that may be a secret, wherever a text quotes it.
    fn mask(&self, text: &str) -> String {
        let mut out = text.to_string();
        let url = self.url.as_str();
        let mut secrets = vec![url.to_string(), url.trim_end_matches('/').to_string()];
        if let Some(p) = self.url.password() {
            secrets.push(p.to_string());
        }
        if let Some(q) = self.url.query() {
            secrets.push(q.to_string());
        }
        if self.url.path() != "/" {
            secrets.push(self.url.path().to_string());
        }
        if !self.url.username().is_empty() {
            secrets.push(self.url.username().to_string());
        }
        for s in secrets.iter().filter(|s| s.len() >= 3) {
            out = out.replace(s.as_str(), "***");
        }
        out
    }
}

impl Channel for Webhook {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn deliver(&self, event: &Event) -> Result<(), String> {
        let body = serde_json::to_vec(event).map_err(|e| format!("cannot encode: {e}"))?;
        let mut wait = self.backoff;
        let mut attempt = 1;
        loop {
            match self.post(&body) {
                Ok(()) => return Ok(()),
                Err(Failure {
                    retry,
                    why,
                    retry_after,
                }) => {
                    let mut why = self.mask(&why);
                    let asked = retry_after.filter(|a| *a > MAX_RETRY_AFTER);
                    if let Some(a) = asked {
                        why.push_str(&format!(
                            " (asked to retry after {}: longer than evacctl waits, {})",
                            humantime::format_duration(a),
                            humantime::format_duration(MAX_RETRY_AFTER)
                        ));
                    }
                    if !retry || asked.is_some() || attempt >= ATTEMPTS {
                        let tries = if attempt > 1 {
                            format!(" (after {attempt} attempts)")
                        } else {
                            String::new()
                        };
                        return Err(format!("POST {}: {why}{tries}", self.shown));
                    }
                    // The receiver's own pace when it gave one (429 Too Many Requests).
                    let pause = wait.max(retry_after.unwrap_or_default());
                    tracing::debug!(
                        "webhook POST {} attempt {attempt}: {why}; retrying in {}",
                        self.shown,
                        humantime::format_duration(pause)
                    );
                    std::thread::sleep(pause);
                    wait = wait.saturating_mul(2);
                    attempt += 1;
                }
            }
        }
    }
}
