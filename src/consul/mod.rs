//! A small blocking client for the Consul HTTP API: what the runbook reads (leader, raft peers,
//! autopilot health, the agent's members, health checks) and what the `watch` leader lock
//! needs (sessions, KV with `acquire`/`release`). Knows the API, nothing of the runbook.
//!
//! One [`Client`] per cluster (`[consul.NAME]`). Its addresses are tried in order: an address
//! that does not answer (connection refused, DNS, timeout) passes the call to the next one;
//! an address that answers, even with an error, is final, and is asked first from then on,
//! so one observation reads one agent's view. The ACL token goes in `X-Consul-Token` and
//! never into a message.
//!
//! ```no_run
//! # fn main() -> Result<(), evacctl::consul::Error> {
//! # let cluster: evacctl::config::ConsulCluster = todo!();
//! let client = evacctl::consul::Client::new(&cluster, &Default::default())?;
//! let leader = client.leader()?; // None: the cluster has no leader
//! # Ok(()) }
//! ```

mod env;
pub mod types;

#[cfg(test)]
pub(crate) mod tests;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde::de::DeserializeOwned;

use crate::config::ConsulCluster;
use crate::http::{self, Body as _};
use crate::secret::Secret;

pub use env::{
    ENV_ADDR, ENV_CACERT, ENV_CLUSTER_NAME, ENV_SSL, ENV_TOKEN, ENV_TOKEN_FILE, clusters,
    clusters_with_env,
};
pub use types::{
    AutopilotHealth, AutopilotServer, Behavior, HealthCheck, KvEntry, Member, SERF_HEALTH,
    SessionEntry, SessionRequest,
};

/// Answers larger than this are refused (a wrong port serving something else, or a bug):
/// the largest real one, `/v1/health/state/any` of a few thousand nodes, is far smaller.
pub const MAX_BODY: u64 = 32 << 20;

/// The limit for check lists, which grow with the cloud: `/v1/health/state/any` of 50,000
/// nodes with three checks each is about 45 MB (a filter makes it smaller where nodes carry
/// other checks too).
pub const MAX_CHECKS_BODY: u64 = 512 << 20;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure of a Consul call. The text names the cluster and the address; never the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No address answered.
    #[error("Consul cluster `{cluster}`: no answer from {}", attempts.iter().map(|(a, why)| format!("{a} ({why})")).collect::<Vec<_>>().join(", "))]
    Unreachable {
        cluster: String,
        /// Each address tried and why it failed.
        attempts: Vec<(String, String)>,
    },
    /// An HTTP error answer.
    #[error("Consul cluster `{cluster}` at {address}: {method} {path}: HTTP {status}{}{}", message_suffix(message), hint(*status, message))]
    Api {
        cluster: String,
        address: String,
        method: String,
        path: String,
        status: u16,
        /// Consul's own text (plain text bodies), shortened.
        message: String,
    },
    /// A 2xx answer that is not what the API documents.
    #[error(
        "Consul cluster `{cluster}` at {address}: {method} {path}: unexpected answer: {detail}"
    )]
    InvalidResponse {
        cluster: String,
        address: String,
        method: String,
        path: String,
        detail: String,
    },
    /// The token, the CA bundle or an address cannot be used.
    #[error("Consul cluster `{cluster}`: {message}")]
    Config { cluster: String, message: String },
}

fn message_suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

fn hint(status: u16, message: &str) -> &'static str {
    match status {
        403 if message.contains("ACL not found") => {
            " (the ACL token is not known to this cluster: check token_file / token_env)"
        }
        401 | 403 => " (the ACL token lacks a permission, or none is set: token_file / token_env)",
        _ => "",
    }
}

impl Error {
    pub fn cluster(&self) -> &str {
        match self {
            Error::Unreachable { cluster, .. }
            | Error::Api { cluster, .. }
            | Error::InvalidResponse { cluster, .. }
            | Error::Config { cluster, .. } => cluster,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Consul's "No cluster leader" (HTTP 500 from a read that needs the leader).
    pub fn is_no_leader(&self) -> bool {
        matches!(self, Error::Api { status: 500, message, .. } if message.contains("No cluster leader"))
    }
}

/// Timeouts of the HTTP calls.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// One whole answer, headers and body, per address: an agent that drips its answer is
    /// cut off then.
    pub timeout: Duration,
    /// TCP + TLS connect, per address.
    pub connect_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
        }
    }
}

/// One answer, whatever its status.
struct Raw<B = Vec<u8>> {
    status: u16,
    body: B,
    address: String,
    /// `X-Consul-Index`; 0 when absent or not a number.
    index: u64,
}

/// The longest `wait` Consul honours for a blocking query.
pub const MAX_WAIT: Duration = Duration::from_secs(10 * 60);

/// What a blocking read of the checks returned.
#[derive(Debug, Clone)]
pub struct BlockingChecks {
    pub checks: Vec<HealthCheck>,
    /// The answer's `X-Consul-Index`; 0: none (this Consul does not block). The next read
    /// waits on [`next_index`] of it.
    pub index: u64,
}

/// The index to send with the next blocking read, after one that was sent with `sent` and
/// answered with `got` (Consul's rules): none or 0 means the endpoint does not block (0:
/// the next read answers at once); an index that went backwards starts over from 0, else the
/// next read would wait for the old index to come back.
pub fn next_index(sent: u64, got: u64) -> u64 {
    if got < sent { 0 } else { got }
}

/// A client for one Consul cluster.
#[derive(Debug)]
pub struct Client {
    cluster: String,
    addresses: Vec<String>,
    datacenter: Option<String>,
    /// For redaction only.
    token: Option<Secret>,
    /// Marked sensitive: the HTTP libraries' own trace (-vvv) never prints it.
    token_header: Option<reqwest::header::HeaderValue>,
    http: reqwest::blocking::Client,
    /// The whole answer, headers and body, of one address.
    timeout: Duration,
    /// The address that answered last: asked first.
    current: AtomicUsize,
    /// Body bytes read so far (every answer, any status).
    bytes_read: AtomicU64,
}

impl Client {
    /// Reads the token and the CA bundle (errors: [`Error::Config`]); no I/O to Consul yet.
    pub fn new(cluster: &ConsulCluster, options: &ClientOptions) -> Result<Client> {
        let config_error = |message: String| Error::Config {
            cluster: cluster.name.clone(),
            message,
        };
        if cluster.addresses.is_empty() {
            return Err(config_error("no address configured".into()));
        }
        let token = cluster
            .read_token()
            .map_err(|e| config_error(e.to_string()))?;
        let token_header = match &token {
            Some(t) => {
                let mut v = reqwest::header::HeaderValue::from_str(t.expose()).map_err(|_| {
                    config_error(
                        "the ACL token holds characters an HTTP header cannot carry".into(),
                    )
                })?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::blocking::Client::builder()
            .user_agent(crate::openstack::session::USER_AGENT)
            .connect_timeout(options.connect_timeout)
            .timeout(options.timeout)
            // A redirect would carry the token to wherever it points.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(ca) = &cluster.ca_file {
            let certs =
                crate::openstack::session::ca_bundle(ca, "ca_file").map_err(config_error)?;
            builder = builder.tls_certs_only(certs);
        }
        let http = builder.build().map_err(|e| {
            config_error(format!(
                "cannot set up the HTTP client: {}",
                crate::openstack::session::chain(&e)
            ))
        })?;
        Ok(Client {
            cluster: cluster.name.clone(),
            addresses: cluster
                .addresses
                .iter()
                .map(|a| a.trim_end_matches('/').to_string())
                .collect(),
            datacenter: cluster.datacenter.clone(),
            token,
            token_header,
            http,
            timeout: options.timeout,
            current: AtomicUsize::new(0),
            bytes_read: AtomicU64::new(0),
        })
    }

    /// The cluster's name (`[consul.NAME]`).
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// Body bytes read from the cluster by this client so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }

    /// The address asked first: the one that answered last.
    pub fn address(&self) -> &str {
        let i = self.current.load(Ordering::Relaxed);
        self.addresses
            .get(i)
            .or_else(|| self.addresses.first())
            .map_or("", String::as_str)
    }

    // ---------------------------------------------------------------------------------
    // Cluster state
    // ---------------------------------------------------------------------------------

    /// The raft leader's address (`GET /v1/status/leader`); `None` when the cluster has none
    /// (`""`, or the agent's "No cluster leader").
    pub fn leader(&self) -> Result<Option<String>> {
        let path = "/v1/status/leader";
        let raw = self.send(Method::GET, path, &[], None)?;
        if raw.status == 500 && String::from_utf8_lossy(&raw.body).contains("No cluster leader") {
            return Ok(None);
        }
        let leader: String = self.json(
            self.check(raw, &Method::GET, path, &[200])?,
            &Method::GET,
            path,
        )?;
        Ok(Some(leader).filter(|l| !l.is_empty()))
    }

    /// The raft peers' addresses (`GET /v1/status/peers`).
    pub fn peers(&self) -> Result<Vec<String>> {
        let v: Option<Vec<String>> = self.get("/v1/status/peers", &[])?;
        Ok(v.unwrap_or_default())
    }

    /// Autopilot's view of the servers (`GET /v1/operator/autopilot/health`): HTTP 200 when
    /// healthy, 429 when not; both are answers here.
    pub fn autopilot_health(&self) -> Result<AutopilotHealth> {
        let path = "/v1/operator/autopilot/health";
        let raw = self.send(Method::GET, path, &self.dc(), None)?;
        let raw = self.check(raw, &Method::GET, path, &[200, 429])?;
        self.json(raw, &Method::GET, path)
    }

    /// The gossip pool as the agent asked sees it (`GET /v1/agent/members`): eventually
    /// consistent, and exactly what "this agent's view" means.
    pub fn members(&self) -> Result<Vec<Member>> {
        let v: Option<Vec<Member>> = self.get("/v1/agent/members", &[])?;
        Ok(v.unwrap_or_default())
    }

    /// Every check of one node (`GET /v1/health/node/<node>`), from any server (`stale`).
    pub fn health_node(&self, node: &str) -> Result<Vec<HealthCheck>> {
        let path = format!("/v1/health/node/{}", segment(node));
        self.checks(&path, None)
    }

    /// Every check in a state, `any`, `passing`, `warning` or `critical`
    /// (`GET /v1/health/state/<state>`), from any server (`stale`).
    pub fn health_state(&self, state: &str) -> Result<Vec<HealthCheck>> {
        self.health_state_filtered(state, None)
    }

    /// [`Client::health_state`] with Consul's `filter` expression (Consul 1.5+), evaluated on
    /// the server: only the matching checks travel. (An agent older than 1.5 ignores it and
    /// answers every check.)
    pub fn health_state_filtered(
        &self,
        state: &str,
        filter: Option<&str>,
    ) -> Result<Vec<HealthCheck>> {
        let path = format!("/v1/health/state/{}", segment(state));
        self.checks(&path, filter)
    }

    /// Every check of a service on every node (`GET /v1/health/checks/<service>`).
    pub fn service_checks(&self, service: &str) -> Result<Vec<HealthCheck>> {
        let path = format!("/v1/health/checks/{}", segment(service));
        self.checks(&path, None)
    }

    /// [`Client::health_state_filtered`] as a blocking query (`?index=&wait=`): Consul holds
    /// the answer until the checks' index passes `index`, or `wait` passes (plus up to a
    /// sixteenth of it, Consul's jitter). The answer may be unchanged all the same (a timeout,
    /// or a write elsewhere in the same table): compare. `index` 0 answers at once; so does a
    /// Consul that does not block (its index is then 0). The HTTP timeout is `wait`, its
    /// jitter, and the client's own timeout: a Consul that holds the answer as asked is not a
    /// Consul that does not answer.
    pub fn health_state_blocking(
        &self,
        state: &str,
        filter: Option<&str>,
        index: u64,
        wait: Duration,
    ) -> Result<BlockingChecks> {
        let wait = wait.min(MAX_WAIT);
        let path = format!("/v1/health/state/{}", segment(state));
        let mut extra = Vec::new();
        let mut timeout = self.timeout;
        if index > 0 {
            extra.push(("index", index.to_string()));
            extra.push(("wait", format!("{}ms", wait.as_millis().max(1))));
            timeout = timeout.saturating_add(wait).saturating_add(wait / 16);
        }
        let (checks, got) = self.checks_with(&path, filter, &extra, timeout)?;
        Ok(BlockingChecks { checks, index: got })
    }

    fn checks(&self, path: &str, filter: Option<&str>) -> Result<Vec<HealthCheck>> {
        Ok(self.checks_with(path, filter, &[], self.timeout)?.0)
    }

    /// The checks and the answer's `X-Consul-Index` (0: none).
    fn checks_with(
        &self,
        path: &str,
        filter: Option<&str>,
        extra: &[(&'static str, String)],
        timeout: Duration,
    ) -> Result<(Vec<HealthCheck>, u64)> {
        let mut query = self.dc();
        // Any server answers: a cluster without a leader still shows its (stale) checks.
        query.push(("stale", String::new()));
        if let Some(f) = filter {
            query.push(("filter", f.to_string()));
        }
        query.extend(extra.iter().cloned());
        let (v, index): (Option<Vec<HealthCheck>>, u64) =
            self.get_parsed(path, &query, MAX_CHECKS_BODY, timeout)?;
        Ok((v.unwrap_or_default(), index))
    }

    // ---------------------------------------------------------------------------------
    // Sessions and KV (the watcher's leader lock)
    // ---------------------------------------------------------------------------------

    /// Creates a session; its ID.
    pub fn session_create(&self, request: &SessionRequest) -> Result<String> {
        let path = "/v1/session/create";
        let body =
            serde_json::to_vec(request).map_err(|e| self.invalid("PUT", path, e.to_string()))?;
        let raw = self.send(Method::PUT, path, &self.dc(), Some(&body))?;
        let created: types::SessionCreated = self.json(
            self.check(raw, &Method::PUT, path, &[200])?,
            &Method::PUT,
            path,
        )?;
        Ok(created.id)
    }

    /// Renews a session's TTL; `None` when the session no longer exists (expired, destroyed,
    /// or invalidated by a failed node check): its locks are gone.
    pub fn session_renew(&self, id: &str) -> Result<Option<SessionEntry>> {
        let path = format!("/v1/session/renew/{}", segment(id));
        self.first(Method::PUT, &path)
    }

    /// Destroys a session (its locks are released or deleted, per its behavior).
    pub fn session_destroy(&self, id: &str) -> Result<bool> {
        let path = format!("/v1/session/destroy/{}", segment(id));
        self.put_bool(&path, &self.dc(), None)
    }

    /// A session; `None` when it does not exist.
    pub fn session_info(&self, id: &str) -> Result<Option<SessionEntry>> {
        let path = format!("/v1/session/info/{}", segment(id));
        self.first(Method::GET, &path)
    }

    /// A key; `None` when it does not exist.
    pub fn kv_get(&self, key: &str) -> Result<Option<KvEntry>> {
        self.first(Method::GET, &kv_path(key))
    }

    /// Writes a key (`true` when written).
    pub fn kv_put(&self, key: &str, value: &[u8]) -> Result<bool> {
        self.put_bool(&kv_path(key), &self.dc(), Some(value))
    }

    /// Takes the lock on a key for a session and writes `value`: `true` when this session
    /// now holds it, `false` when another does (or the key is in its lock-delay).
    pub fn kv_acquire(&self, key: &str, value: &[u8], session: &str) -> Result<bool> {
        let mut query = self.dc();
        query.push(("acquire", session.to_string()));
        self.put_bool(&kv_path(key), &query, Some(value))
    }

    /// Releases a session's lock on a key, writing `value` (Consul writes the body even on
    /// release): `false` when the session did not hold it.
    pub fn kv_release(&self, key: &str, value: &[u8], session: &str) -> Result<bool> {
        let mut query = self.dc();
        query.push(("release", session.to_string()));
        self.put_bool(&kv_path(key), &query, Some(value))
    }

    pub fn kv_delete(&self, key: &str) -> Result<bool> {
        let path = kv_path(key);
        let raw = self.send(Method::DELETE, &path, &self.dc(), None)?;
        self.json(
            self.check(raw, &Method::DELETE, &path, &[200])?,
            &Method::DELETE,
            &path,
        )
    }

    // ---------------------------------------------------------------------------------
    // HTTP
    // ---------------------------------------------------------------------------------

    fn dc(&self) -> Vec<(&'static str, String)> {
        self.datacenter.iter().map(|d| ("dc", d.clone())).collect()
    }

    /// A GET that must answer 200 with JSON (`null` is `None`), parsed as it arrives.
    fn get<T: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Option<T>> {
        Ok(self.get_parsed(path, query, MAX_BODY, self.timeout)?.0)
    }

    /// A GET that must answer 200 with JSON, parsed as it arrives (a listing is never held
    /// whole beside what is parsed from it), and the answer's `X-Consul-Index`.
    fn get_parsed<T: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
        query: &[(&str, String)],
        cap: u64,
        timeout: Duration,
    ) -> Result<(T, u64)> {
        let reading = http::Streamed::new(http::typed::<T>());
        let raw = self.send_with(Method::GET, path, query, None, cap, timeout, reading)?;
        let raw = self.check(raw, &Method::GET, path, &[200])?;
        let value = match raw.body {
            http::Json::Parsed { value, head, .. } => {
                value.map_err(|e| self.not_json(&e, &head, &raw.address, &Method::GET, path))
            }
            // Only another status than 2xx is read whole, and check let none through.
            http::Json::Whole(ref body) => serde_json::from_slice(body)
                .map_err(|e| self.not_json(&e, body, &raw.address, &Method::GET, path)),
        }?;
        Ok((value, raw.index))
    }

    /// The first entry of a list answer; `None` for 404, `null` or `[]` (Consul's ways of
    /// saying "no such session / key").
    fn first<T: DeserializeOwned>(&self, method: Method, path: &str) -> Result<Option<T>> {
        let raw = self.send(method.clone(), path, &self.dc(), None)?;
        if raw.status == 404 {
            return Ok(None);
        }
        let list: Option<Vec<T>> =
            self.json(self.check(raw, &method, path, &[200])?, &method, path)?;
        Ok(list.unwrap_or_default().into_iter().next())
    }

    fn put_bool(&self, path: &str, query: &[(&str, String)], body: Option<&[u8]>) -> Result<bool> {
        let raw = self.send(Method::PUT, path, query, body)?;
        self.json(
            self.check(raw, &Method::PUT, path, &[200])?,
            &Method::PUT,
            path,
        )
    }

    /// An answer with one of the `ok` statuses, else an [`Error::Api`] with Consul's text.
    fn check<B: http::Body>(
        &self,
        raw: Raw<B>,
        method: &Method,
        path: &str,
        ok: &[u16],
    ) -> Result<Raw<B>> {
        if ok.contains(&raw.status) {
            return Ok(raw);
        }
        let text = String::from_utf8_lossy(raw.body.bytes());
        let mut message: String = text.trim().chars().take(300).collect();
        if text.trim().chars().count() > 300 {
            message.push('…');
        }
        Err(Error::Api {
            cluster: self.cluster.clone(),
            address: raw.address,
            method: method.to_string(),
            path: path.to_string(),
            status: raw.status,
            message: self.redact(&message),
        })
    }

    fn json<T: DeserializeOwned>(&self, raw: Raw, method: &Method, path: &str) -> Result<T> {
        serde_json::from_slice(&raw.body)
            .map_err(|e| self.not_json(&e, &raw.body, &raw.address, method, path))
    }

    /// An answer that is not the JSON expected: serde's complaint and the body's first
    /// characters.
    fn not_json(
        &self,
        e: &serde_json::Error,
        body: &[u8],
        address: &str,
        method: &Method,
        path: &str,
    ) -> Error {
        let excerpt: String = String::from_utf8_lossy(body).chars().take(120).collect();
        Error::InvalidResponse {
            cluster: self.cluster.clone(),
            address: address.to_string(),
            method: method.to_string(),
            path: path.to_string(),
            detail: self.redact(&format!("{e} (body: {excerpt:?})")),
        }
    }

    fn invalid(&self, method: &str, path: &str, detail: String) -> Error {
        Error::InvalidResponse {
            cluster: self.cluster.clone(),
            address: self.address().to_string(),
            method: method.to_string(),
            path: path.to_string(),
            detail,
        }
    }

    /// Sends to the addresses in turn, from the current one, until one answers.
    fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> Result<Raw> {
        self.send_with(
            method,
            path,
            query,
            body,
            MAX_BODY,
            self.timeout,
            http::Whole,
        )
    }

    /// [`Client::send`], the answer's body at most `cap` bytes, whole within `timeout`, read
    /// as `reading` says.
    #[allow(clippy::too_many_arguments)]
    fn send_with<R: http::Reading>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&[u8]>,
        cap: u64,
        timeout: Duration,
        reading: R,
    ) -> Result<Raw<R::Body>> {
        let n = self.addresses.len();
        let first = self.current.load(Ordering::Relaxed) % n.max(1);
        let mut attempts = Vec::new();
        for k in 0..n {
            let i = (first + k) % n;
            let address = &self.addresses[i];
            let url = format!("{address}{path}");
            let started = Instant::now();
            let elapsed_ms = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let sent = self.send_once(&method, &url, query, body, cap, timeout, reading.clone());
            let (reason, may_have_arrived) = match sent {
                Ok((status, body, index)) => {
                    self.bytes_read.fetch_add(body.size(), Ordering::Relaxed);
                    tracing::debug!(cluster = %self.cluster, %method, url, status, bytes = body.size(), elapsed_ms = elapsed_ms(), "Consul");
                    self.current.store(i, Ordering::Relaxed);
                    return Ok(Raw {
                        status,
                        body,
                        address: address.clone(),
                        index,
                    });
                }
                Err(http::Failure::TooLarge(_)) => {
                    self.current.store(i, Ordering::Relaxed);
                    return Err(Error::InvalidResponse {
                        cluster: self.cluster.clone(),
                        address: address.clone(),
                        method: method.to_string(),
                        path: path.to_string(),
                        detail: format!("the answer is larger than {cap} bytes"),
                    });
                }
                Err(f @ (http::Failure::TimedOut(_) | http::Failure::Broken(_))) => {
                    (f.to_string(), true)
                }
                Err(http::Failure::Send(e)) => {
                    let e = e.without_url();
                    let detail = self.redact(&crate::openstack::session::chain(&e));
                    if e.is_connect() && detail.to_ascii_lowercase().contains("certificate") {
                        return Err(Error::Config {
                            cluster: self.cluster.clone(),
                            message: format!(
                                "{address}: TLS: {detail} (set ca_file to the CA bundle that issued it)"
                            ),
                        });
                    }
                    (short_reason(&e, &detail), !e.is_connect())
                }
            };
            tracing::debug!(cluster = %self.cluster, %method, url, elapsed_ms = elapsed_ms(), error = %reason, "Consul call failed");
            attempts.push((address.clone(), reason));
            // A write that may have arrived is not sent again elsewhere; a read is.
            if method != Method::GET && may_have_arrived {
                break;
            }
        }
        Err(Error::Unreachable {
            cluster: self.cluster.clone(),
            attempts,
        })
    }

    /// One request to one address: the status, the body (at most `cap` bytes) and the
    /// `X-Consul-Index` (0: none), the whole answer within `timeout` (a dripping agent is cut
    /// off).
    #[allow(clippy::too_many_arguments)]
    fn send_once<R: http::Reading>(
        &self,
        method: &Method,
        url: &str,
        query: &[(&str, String)],
        body: Option<&[u8]>,
        cap: u64,
        timeout: Duration,
        reading: R,
    ) -> std::result::Result<(u16, R::Body, u64), http::Failure> {
        let mut rb = self.http.request(method.clone(), url);
        if !query.is_empty() {
            rb = rb.query(query);
        }
        if let Some(h) = &self.token_header {
            rb = rb.header("X-Consul-Token", h.clone());
        }
        if let Some(b) = body {
            rb = rb.body(b.to_vec());
        }
        let answer = http::exchange_with(rb, timeout, cap, reading)?;
        let index = answer
            .headers
            .get("x-consul-index")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        Ok((answer.status, answer.body, index))
    }

    /// Defence in depth: the token never survives in a message.
    fn redact(&self, text: &str) -> String {
        match &self.token {
            Some(t) if t.expose().len() >= 4 => text.replace(t.expose(), "***"),
            _ => text.to_string(),
        }
    }
}

/// Why an address did not answer, in a few words.
fn short_reason(e: &reqwest::Error, detail: &str) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if detail.contains("Connection refused") || detail.contains("connection refused") {
        "connection refused".into()
    } else {
        detail.to_string()
    }
}

/// A path segment, percent-encoded.
fn segment(s: &str) -> String {
    crate::openstack::session::encode_segment(s)
}

/// `/v1/kv/<key>`, each segment of the key encoded, its slashes kept.
fn kv_path(key: &str) -> String {
    let encoded: Vec<String> = key.split('/').map(segment).collect();
    format!("/v1/kv/{}", encoded.join("/"))
}
