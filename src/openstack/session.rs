//! The authenticated HTTP session: one shared client, the Keystone token (renewed before it
//! lapses, and once more on a 401), endpoints from the catalog, per-service microversion
//! discovery and negotiation, and retries of idempotent reads.
//!
//! [`Session::new`] does no I/O: it authenticates on first use (or at once with
//! [`Session::authenticate`]), so a command that fails on its own input never talks to Keystone.
//! A `Session` is cheap to clone and `Send + Sync`; clones share the token and the caches.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::auth::{self, Token};
use super::catalog::ServiceType;
use super::cloud_config::CloudConfig;
use super::error_body;
use super::microversion::{self, Discovered, Microversion, VersionRange};
use super::{ApiError, Error, Result};
use crate::http::{self, Body as _};

/// The largest answer read from an OpenStack API; a larger one is an error naming this limit.
pub const MAX_ANSWER: u64 = http::MAX_ANSWER;

/// Retries of idempotent reads (GET, HEAD) on connection errors, timeouts, 429, 502, 503, 504.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The first delay; each retry doubles it.
    pub base_delay: Duration,
    /// The longest delay between two attempts (also caps a server's `Retry-After`).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: super::cloud_config::DEFAULT_RETRIES,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `attempt` (0-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(20));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// How the session behaves, apart from the cloud's own settings.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    pub retry: RetryPolicy,
    /// TCP + TLS connect timeout (the request timeout is the cloud's `api_timeout`).
    pub connect_timeout: Duration,
    /// Honour `HTTP(S)_PROXY` / `NO_PROXY` as python-requests does.
    pub use_env_proxy: bool,
}

impl SessionOptions {
    /// The defaults, with the cloud's retry count.
    pub fn for_config(config: &CloudConfig) -> SessionOptions {
        let mut o = SessionOptions::default();
        o.retry.max_retries = config.retries;
        o
    }
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(10),
            use_env_proxy: true,
        }
    }
}

/// An API call to send through a [`Session`].
#[derive(Clone)]
pub struct Request {
    service: ServiceType,
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    min_version: Option<Microversion>,
    max_version: Option<Microversion>,
}

impl fmt::Debug for Request {
    // The body is left out: some bodies carry secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("service", &self.service)
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("body_len", &self.body.as_ref().map(Vec::len))
            .field("min_version", &self.min_version)
            .field("max_version", &self.max_version)
            .finish()
    }
}

impl Request {
    /// `path` is relative to the service endpoint: `/os-services`. Encode user-given segments
    /// with [`encode_segment`].
    pub fn new(service: ServiceType, method: Method, path: impl Into<String>) -> Request {
        let mut path = path.into();
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        Request {
            service,
            method,
            path,
            query: Vec::new(),
            body: None,
            min_version: None,
            max_version: None,
        }
    }

    pub fn get(service: ServiceType, path: impl Into<String>) -> Request {
        Request::new(service, Method::GET, path)
    }

    pub fn post(service: ServiceType, path: impl Into<String>) -> Request {
        Request::new(service, Method::POST, path)
    }

    pub fn put(service: ServiceType, path: impl Into<String>) -> Request {
        Request::new(service, Method::PUT, path)
    }

    pub fn delete(service: ServiceType, path: impl Into<String>) -> Request {
        Request::new(service, Method::DELETE, path)
    }

    /// Adds (or, for a key already present, replaces) a query parameter.
    pub fn query(mut self, key: &str, value: impl Into<String>) -> Request {
        self.query.retain(|(k, _)| k != key);
        self.query.push((key.to_string(), value.into()));
        self
    }

    /// Adds a query parameter when there is a value.
    pub fn query_opt(self, key: &str, value: Option<&str>) -> Request {
        match value {
            Some(v) => self.query(key, v),
            None => self,
        }
    }

    /// A JSON body.
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Result<Request> {
        let bytes = serde_json::to_vec(body).map_err(|e| {
            Error::InvalidInput(format!(
                "{} {}: cannot encode the body: {e}",
                self.method, self.path
            ))
        })?;
        self.body = Some(bytes);
        Ok(self)
    }

    /// The call needs at least this microversion (an error if the server is older).
    pub fn min_version(mut self, v: Microversion) -> Request {
        self.min_version = Some(v);
        self
    }

    /// The call must not go above this microversion (for a response shape that changed later).
    pub fn max_version(mut self, v: Microversion) -> Request {
        self.max_version = Some(v);
        self
    }

    pub fn service(&self) -> ServiceType {
        self.service
    }

    pub fn path(&self) -> &str {
        &self.path
    }
}

/// A successful (2xx) answer: its body whole, or parsed as it arrived ([`http::Json`]).
#[derive(Clone, Debug)]
pub struct Response<B = Vec<u8>> {
    service: ServiceType,
    method: Method,
    path: String,
    status: u16,
    headers: HeaderMap,
    body: B,
    request_id: Option<String>,
    microversion: Option<Microversion>,
}

impl<B> Response<B> {
    pub fn status(&self) -> u16 {
        self.status
    }

    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// The microversion the request was sent with.
    pub fn microversion(&self) -> Option<Microversion> {
        self.microversion
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// An [`Error::InvalidResponse`] about this answer.
    pub fn invalid(&self, detail: impl Into<String>) -> Error {
        Error::InvalidResponse {
            service: self.service.to_string(),
            method: self.method.to_string(),
            path: self.path.clone(),
            // serde quotes the value it could not take, which may be most of the answer.
            detail: error_body::shorten(&detail.into()),
        }
    }

    /// The answer without its body, and the body.
    fn split(self) -> (Response<()>, B) {
        let Response {
            service,
            method,
            path,
            status,
            headers,
            body,
            request_id,
            microversion,
        } = self;
        let meta = Response {
            service,
            method,
            path,
            status,
            headers,
            body: (),
            request_id,
            microversion,
        };
        (meta, body)
    }
}

impl Response {
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body as `T`; an error naming the service, the call and serde's complaint otherwise.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| self.invalid(format!("{e}")))
    }
}

impl<V> Response<http::Json<V>> {
    /// The value parsed as the answer arrived (an error naming the service, the call and
    /// serde's complaint when it is not the JSON expected), and the answer without it.
    pub fn value(self) -> (Response<()>, Result<V>) {
        let (meta, body) = self.split();
        let value = match body {
            http::Json::Parsed { value, .. } => value.map_err(|e| meta.invalid(format!("{e}"))),
            // Only another status than 2xx is read whole, and it never gets here.
            http::Json::Whole(_) => Err(meta.invalid("the answer was not parsed")),
        };
        (meta, value)
    }
}

/// What the version document said, per service.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Versions {
    Range(VersionRange),
    /// The API has no microversions.
    None,
    /// Discovery found no version document; calls go without a microversion.
    Unknown(String),
    /// Identity: not negotiated.
    NotApplicable,
}

#[derive(Clone, Debug)]
struct ServiceInfo {
    endpoint: String,
    versions: Versions,
}

/// An answer of any status, body read (whole, or parsed as it arrived).
struct Raw<B = Vec<u8>> {
    status: u16,
    headers: HeaderMap,
    body: B,
    request_id: Option<String>,
}

/// The authenticated session. See the module documentation.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

struct Inner {
    config: CloudConfig,
    options: SessionOptions,
    client: reqwest::blocking::Client,
    identity_url: String,
    token: Mutex<Option<Arc<Token>>>,
    services: Mutex<HashMap<ServiceType, Arc<ServiceInfo>>>,
    /// Answer bodies read, every service (what `-vv` reports per cycle).
    bytes_read: std::sync::atomic::AtomicU64,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // try_lock: a log line must not wait for an authentication in progress.
        let authenticated = self.inner.token.try_lock().ok().map(|t| t.is_some());
        f.debug_struct("Session")
            .field("cloud", &self.inner.config.describe_origin())
            .field("identity_url", &self.inner.identity_url)
            .field("authenticated", &authenticated)
            .finish_non_exhaustive()
    }
}

/// A poisoned lock only means another thread panicked while holding it; the data (a token, a
/// cache) is still consistent, so carry on rather than panic too.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) const USER_AGENT: &str = concat!("evacctl/", env!("CARGO_PKG_VERSION"));

impl Session {
    /// A session with [`SessionOptions::for_config`]. No I/O: a missing or bad `cacert` is
    /// reported here, credentials on first use.
    pub fn new(config: CloudConfig) -> Result<Session> {
        let options = SessionOptions::for_config(&config);
        Session::with_options(config, options)
    }

    /// A session with these options as they are (`config.retries` is not consulted).
    pub fn with_options(config: CloudConfig, options: SessionOptions) -> Result<Session> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::blocking::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(options.connect_timeout)
            .timeout(config.api_timeout)
            // A redirect would carry X-Auth-Token (or a password) to wherever it points.
            .redirect(reqwest::redirect::Policy::none());
        if !options.use_env_proxy {
            builder = builder.no_proxy();
        }
        if config.insecure {
            tracing::warn!(
                "TLS certificate verification is disabled for {} (insecure / verify: false)",
                config.describe_origin()
            );
            if config.cacert.is_some() {
                tracing::warn!("cacert is ignored because TLS verification is disabled");
            }
            builder = builder.tls_danger_accept_invalid_certs(true);
        } else if let Some(path) = &config.cacert {
            let certs = ca_bundle(path, "cacert").map_err(Error::config)?;
            builder = builder.tls_certs_only(certs);
        }
        let client = builder
            .build()
            .map_err(|e| Error::config(format!("cannot set up the HTTP client: {}", chain(&e))))?;
        let identity_url = auth::identity_v3_url(&config.auth.auth_url);
        Ok(Session {
            inner: Arc::new(Inner {
                config,
                options,
                client,
                identity_url,
                token: Mutex::new(None),
                services: Mutex::new(HashMap::new()),
                bytes_read: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }

    pub fn config(&self) -> &CloudConfig {
        &self.inner.config
    }

    /// Same as [`Nova::new`](super::Nova::new).
    pub fn nova(&self) -> super::Nova {
        super::Nova::new(self)
    }

    /// Same as [`Cinder::new`](super::Cinder::new).
    pub fn cinder(&self) -> super::Cinder {
        super::Cinder::new(self)
    }

    /// Same as [`Placement::new`](super::Placement::new).
    pub fn placement(&self) -> super::Placement {
        super::Placement::new(self)
    }

    /// Authenticates now (if there is no valid token yet), to fail early on bad credentials.
    pub fn authenticate(&self) -> Result<()> {
        self.token().map(|_| ())
    }

    /// The project of the token (after authenticating).
    pub fn project_id(&self) -> Result<Option<String>> {
        Ok(self.token()?.project_id.clone())
    }

    /// The endpoint used for a service (after authenticating and discovering its version).
    pub fn endpoint(&self, service: ServiceType) -> Result<String> {
        Ok(self.service_info(service)?.endpoint.clone())
    }

    /// The microversions the server offers for a service, if it has them.
    pub fn server_versions(&self, service: ServiceType) -> Result<Option<VersionRange>> {
        Ok(match self.service_info(service)?.versions {
            Versions::Range(r) => Some(r),
            _ => None,
        })
    }

    /// The microversion calls to this service are sent with (absent a per-call cap).
    pub fn microversion(&self, service: ServiceType) -> Result<Option<Microversion>> {
        let info = self.service_info(service)?;
        self.pick_version(service, &info, None, None, "/")
    }

    /// Sends a call; a non-2xx answer is an [`Error::Api`].
    /// Answer bodies read so far by this session, every service.
    pub fn bytes_read(&self) -> u64 {
        self.inner
            .bytes_read
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn send(&self, req: &Request) -> Result<Response> {
        self.send_reading(req, http::Whole)
    }

    /// [`Session::send`], the body read as `reading` says.
    pub(crate) fn send_reading<R: http::Reading>(
        &self,
        req: &Request,
        reading: R,
    ) -> Result<Response<R::Body>> {
        let st = req.service;
        let info = self.service_info(st)?;
        let version = self.pick_version(st, &info, req.min_version, req.max_version, &req.path)?;
        let url = format!("{}{}", info.endpoint, req.path);
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        if req.body.is_some() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        if let (Some(v), Some(name)) = (version, st.microversion_name()) {
            if let Ok(value) = HeaderValue::from_str(&format!("{name} {v}")) {
                headers.insert(HeaderName::from_static("openstack-api-version"), value);
            }
            if st == ServiceType::Compute
                && let Ok(value) = HeaderValue::from_str(&v.to_string())
            {
                headers.insert(
                    HeaderName::from_static("x-openstack-nova-api-version"),
                    value,
                );
            }
        }
        let raw = self.send_authenticated(
            st,
            &req.method,
            &url,
            &req.path,
            &req.query,
            headers,
            req.body.as_deref(),
            reading,
        )?;
        if !(200..300).contains(&raw.status) {
            return Err(self.api_error(st, &req.method, &req.path, &raw));
        }
        Ok(Response {
            service: st,
            method: req.method.clone(),
            path: req.path.clone(),
            status: raw.status,
            headers: raw.headers,
            body: raw.body,
            request_id: raw.request_id,
            microversion: version,
        })
    }

    /// Sends a call and decodes its JSON answer as it arrives (a listing is never held whole
    /// beside what is parsed from it).
    pub fn json<T: DeserializeOwned + Send + 'static>(&self, req: &Request) -> Result<T> {
        self.send_reading(req, http::Streamed::new(http::typed::<T>()))?
            .value()
            .1
    }

    // ---- authentication -------------------------------------------------------------------

    /// The current token, renewed if it is near expiry. The lock is held while authenticating,
    /// so concurrent callers wait for one token instead of each fetching their own.
    fn token(&self) -> Result<Arc<Token>> {
        let mut guard = lock(&self.inner.token);
        if let Some(t) = guard.as_ref() {
            if !t.needs_refresh(SystemTime::now()) {
                return Ok(t.clone());
            }
            tracing::debug!("token near expiry: re-authenticating");
        }
        let t = Arc::new(self.fetch_token()?);
        *guard = Some(t.clone());
        Ok(t)
    }

    /// A new token after `stale` drew a 401, unless another thread already replaced it.
    fn reauthenticate(&self, stale: &Arc<Token>) -> Result<Arc<Token>> {
        let mut guard = lock(&self.inner.token);
        if let Some(t) = guard.as_ref()
            && !Arc::ptr_eq(t, stale)
            && !t.needs_refresh(SystemTime::now())
        {
            return Ok(t.clone());
        }
        *guard = None;
        let t = Arc::new(self.fetch_token()?);
        *guard = Some(t.clone());
        Ok(t)
    }

    fn fetch_token(&self) -> Result<Token> {
        let cfg = &self.inner.config;
        let body = auth::token_request_body(cfg.auth_type, &cfg.auth, &cfg.scope)
            .map_err(Error::Config)?;
        let bytes = serde_json::to_vec(&body)
            .map_err(|e| Error::InvalidInput(format!("cannot encode the token request: {e}")))?;
        drop(body);
        let url = format!("{}/auth/tokens", self.inner.identity_url);
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let st = ServiceType::Identity;
        // The error path shows the whole URL: which Keystone refused matters.
        let raw = self.send_with_retries(
            st,
            &Method::POST,
            &url,
            &[],
            &headers,
            Some(&bytes),
            http::Whole,
        )?;
        if !(200..300).contains(&raw.status) {
            return Err(self.api_error(st, &Method::POST, &url, &raw));
        }
        let subject = raw
            .headers
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok());
        let token = auth::parse_token(subject, &raw.body, SystemTime::now()).map_err(|detail| {
            Error::InvalidResponse {
                service: st.to_string(),
                method: "POST".into(),
                path: url.clone(),
                detail: error_body::shorten(&detail),
            }
        })?;
        if HeaderValue::from_str(token.value.expose()).is_err() {
            return Err(Error::InvalidResponse {
                service: st.to_string(),
                method: "POST".into(),
                path: url,
                detail: "X-Subject-Token is not a valid header value".into(),
            });
        }
        tracing::debug!(
            expires_at = %humantime::format_rfc3339_seconds(token.expires_at),
            project_id = token.project_id.as_deref().unwrap_or("-"),
            "authenticated"
        );
        Ok(token)
    }

    // ---- endpoints and versions -----------------------------------------------------------

    fn service_info(&self, st: ServiceType) -> Result<Arc<ServiceInfo>> {
        if let Some(info) = lock(&self.inner.services).get(&st) {
            return Ok(info.clone());
        }
        let token = self.token()?;
        let cfg = &self.inner.config;
        let endpoint = match cfg.endpoint_overrides.get(&st) {
            Some(url) => substitute_project(url, token.project_id.as_deref()),
            None if st == ServiceType::Identity => {
                match token
                    .catalog
                    .endpoint_for(st, cfg.interface, cfg.region.as_deref())
                {
                    Ok(url) => auth::identity_v3_url(&url),
                    Err(_) => self.inner.identity_url.clone(),
                }
            }
            None => token
                .catalog
                .endpoint_for(st, cfg.interface, cfg.region.as_deref())?,
        };
        let endpoint = endpoint.trim_end_matches('/').to_string();
        if reqwest::Url::parse(&endpoint).is_err() {
            return Err(Error::config(format!(
                "the {st} endpoint {endpoint:?} is not a URL"
            )));
        }
        let versions = match st.microversion_name() {
            Some(_) => self.discover(st, &endpoint)?,
            None => Versions::NotApplicable,
        };
        tracing::debug!(service = %st, endpoint, versions = ?versions, "service endpoint");
        let info = Arc::new(ServiceInfo { endpoint, versions });
        Ok(lock(&self.inner.services).entry(st).or_insert(info).clone())
    }

    /// Reads the service's version document: the endpoint itself (Nova's `/v2.1`, Placement's
    /// root), the versioned endpoint without a trailing project id (Cinder's `/v3/`), then the
    /// root. No answer or an auth failure is an error; no version document means "unknown".
    fn discover(&self, st: ServiceType, endpoint: &str) -> Result<Versions> {
        let (major, id_minor) = st.api_version();
        let mut tried = Vec::new();
        for url in discovery_urls(endpoint) {
            let mut headers = HeaderMap::new();
            headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
            let raw = self.send_authenticated(
                st,
                &Method::GET,
                &url,
                &url,
                &[],
                headers,
                None,
                http::Whole,
            )?;
            // 300 Multiple Choices is how a root lists its versions.
            if (200..300).contains(&raw.status) || raw.status == 300 {
                let found = serde_json::from_slice::<Value>(&raw.body)
                    .ok()
                    .and_then(|doc| microversion::parse_version_document(&doc, major, id_minor));
                match found {
                    Some(Discovered::Range(r)) => return Ok(Versions::Range(r)),
                    Some(Discovered::NoMicroversions) => return Ok(Versions::None),
                    None => tried.push(format!("{url}: no v{major} version document")),
                }
            } else if matches!(raw.status, 401 | 403) {
                return Err(self.api_error(st, &Method::GET, &url, &raw));
            } else {
                tried.push(format!("{url}: HTTP {}", raw.status));
            }
        }
        let why = tried.join("; ");
        tracing::warn!(
            "{st}: API version discovery failed ({why}); calls go without a microversion"
        );
        Ok(Versions::Unknown(why))
    }

    fn pick_version(
        &self,
        st: ServiceType,
        info: &ServiceInfo,
        min: Option<Microversion>,
        max: Option<Microversion>,
        path: &str,
    ) -> Result<Option<Microversion>> {
        let unsupported = |detail: String| Error::MicroversionUnsupported {
            service: st.to_string(),
            path: path.to_string(),
            detail,
        };
        let Some(client_max) = st.client_max() else {
            return Ok(None);
        };
        match &info.versions {
            Versions::Range(r) => microversion::negotiate(*r, client_max, max, min)
                .map(Some)
                .map_err(unsupported),
            Versions::NotApplicable => Ok(None),
            Versions::None => match min {
                Some(m) => Err(unsupported(format!(
                    "needs API microversion {m} or later, but the API has no microversions"
                ))),
                None => Ok(None),
            },
            Versions::Unknown(why) => match min {
                Some(m) => Err(unsupported(format!(
                    "needs API microversion {m} or later, but the API version could not be discovered ({why})"
                ))),
                None => Ok(None),
            },
        }
    }

    // ---- sending ----------------------------------------------------------------------------

    /// Sends with the token; on a 401, re-authenticates once and replays the request once
    /// (whatever the method: a 401 means the request was not acted on).
    #[allow(clippy::too_many_arguments)]
    fn send_authenticated<R: http::Reading>(
        &self,
        st: ServiceType,
        method: &Method,
        url: &str,
        path: &str,
        query: &[(String, String)],
        mut headers: HeaderMap,
        body: Option<&[u8]>,
        reading: R,
    ) -> Result<Raw<R::Body>> {
        let mut token = self.token()?;
        let mut replayed = false;
        loop {
            let mut value = HeaderValue::from_str(token.value.expose())
                .map_err(|_| Error::config("the token is not a valid header value"))?;
            value.set_sensitive(true);
            headers.insert(HeaderName::from_static("x-auth-token"), value);
            let raw =
                self.send_with_retries(st, method, url, query, &headers, body, reading.clone())?;
            if raw.status == 401 && !replayed {
                tracing::info!(service = %st, %method, path, "HTTP 401: re-authenticating once and replaying");
                token = self.reauthenticate(&token)?;
                replayed = true;
                continue;
            }
            return Ok(raw);
        }
    }

    /// One request, retried (GET/HEAD only) on the transient failures.
    #[allow(clippy::too_many_arguments)]
    fn send_with_retries<R: http::Reading>(
        &self,
        st: ServiceType,
        method: &Method,
        url: &str,
        query: &[(String, String)],
        headers: &HeaderMap,
        body: Option<&[u8]>,
        reading: R,
    ) -> Result<Raw<R::Body>> {
        let idempotent = *method == Method::GET || *method == Method::HEAD;
        let policy = &self.inner.options.retry;
        let mut attempt = 0u32;
        loop {
            let started = Instant::now();
            let result = self.send_once(method, url, query, headers, body, reading.clone());
            let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let can_retry = idempotent && attempt < policy.max_retries;
            match result {
                Ok(raw) => {
                    let microversion = headers
                        .get("openstack-api-version")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    self.inner
                        .bytes_read
                        .fetch_add(raw.body.size(), std::sync::atomic::Ordering::Relaxed);
                    tracing::debug!(
                        service = %st, %method, url, microversion, status = raw.status, elapsed_ms,
                        bytes = raw.body.size(),
                        request_id = raw.request_id.as_deref().unwrap_or("-"), "HTTP"
                    );
                    if can_retry && matches!(raw.status, 429 | 502 | 503 | 504) {
                        let delay = match retry_after(&raw.headers, SystemTime::now()) {
                            Some(d) => d.min(policy.max_delay),
                            None => policy.backoff(attempt),
                        };
                        tracing::warn!(
                            "{st} {method} {url}: HTTP {}, retrying in {} ({}/{})",
                            raw.status,
                            humantime::format_duration(delay),
                            attempt + 1,
                            policy.max_retries
                        );
                        crate::interrupt::pause(delay);
                        attempt += 1;
                        continue;
                    }
                    return Ok(raw);
                }
                Err(failure) => {
                    let (detail, may_pass) = match failure {
                        http::Failure::TooLarge(cap) => {
                            return Err(Error::InvalidResponse {
                                service: st.to_string(),
                                method: method.to_string(),
                                path: url.to_string(),
                                detail: http::Failure::TooLarge(cap).to_string(),
                            });
                        }
                        f @ (http::Failure::TimedOut(_) | http::Failure::Broken(_)) => {
                            (f.to_string(), true)
                        }
                        http::Failure::Send(e) => {
                            // The URL is already in our message; reqwest would repeat it.
                            let e = e.without_url();
                            let detail = self.redact(&chain(&e), None);
                            // A certificate the client does not trust: the fix is in the
                            // configuration, and retrying cannot help.
                            if e.is_connect() && detail.to_ascii_lowercase().contains("certificate")
                            {
                                return Err(Error::config(format!(
                                    "{st} {method} {url}: TLS: {detail} (set cacert in \
                                     clouds.yaml or OS_CACERT to the CA bundle that issued it)"
                                )));
                            }
                            if e.is_builder() {
                                return Err(Error::config(format!(
                                    "{st} {method} {url}: cannot build the request: {detail}"
                                )));
                            }
                            (detail, !e.is_redirect())
                        }
                    };
                    tracing::debug!(service = %st, %method, url, elapsed_ms, error = %detail, "HTTP failed");
                    if can_retry && may_pass {
                        let delay = policy.backoff(attempt);
                        tracing::warn!(
                            "{st} {method} {url}: {detail}; retrying in {} ({}/{})",
                            humantime::format_duration(delay),
                            attempt + 1,
                            policy.max_retries
                        );
                        crate::interrupt::pause(delay);
                        attempt += 1;
                        continue;
                    }
                    return Err(Error::Unreachable {
                        service: st.to_string(),
                        method: method.to_string(),
                        url: url.to_string(),
                        detail,
                    });
                }
            }
        }
    }

    fn send_once<R: http::Reading>(
        &self,
        method: &Method,
        url: &str,
        query: &[(String, String)],
        headers: &HeaderMap,
        body: Option<&[u8]>,
        reading: R,
    ) -> std::result::Result<Raw<R::Body>, http::Failure> {
        let mut rb = self
            .inner
            .client
            .request(method.clone(), url)
            .headers(headers.clone());
        if !query.is_empty() {
            rb = rb.query(query);
        }
        if let Some(b) = body {
            rb = rb.body(b.to_vec());
        }
        // The whole answer within api_timeout (reqwest's own timeout bounds the headers, then
        // each read of the body apart) and at most MAX_ANSWER bytes.
        let http::Answer {
            status,
            headers,
            body,
        } = http::exchange_with(rb, self.inner.config.api_timeout, MAX_ANSWER, reading)?;
        let request_id = ["x-openstack-request-id", "x-compute-request-id"]
            .iter()
            .find_map(|h| {
                headers
                    .get(*h)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            });
        Ok(Raw {
            status,
            headers,
            body,
            request_id,
        })
    }

    fn api_error<B: http::Body>(
        &self,
        st: ServiceType,
        method: &Method,
        path: &str,
        raw: &Raw<B>,
    ) -> Error {
        let (message, body_request_id) = error_body::parse(raw.body.bytes());
        let token = lock_opt(&self.inner.token);
        ApiError {
            service: st.to_string(),
            method: method.to_string(),
            path: path.to_string(),
            status: raw.status,
            message: message.map(|m| self.redact(&m, token.as_deref())),
            request_id: raw.request_id.clone().or(body_request_id),
        }
        .into()
    }

    /// Defence in depth: no configured secret (or the token) survives in a message.
    fn redact(&self, text: &str, token: Option<&Token>) -> String {
        let a = &self.inner.config.auth;
        let mut out = text.to_string();
        let secrets = [
            a.password.as_ref(),
            a.application_credential_secret.as_ref(),
            a.token.as_ref(),
            token.map(|t| &t.value),
        ];
        for s in secrets.into_iter().flatten() {
            // Very short values would blank out ordinary words; Keystone refuses them anyway.
            if s.expose().len() >= 4 {
                out = out.replace(s.expose(), "***");
            }
        }
        out
    }
}

/// The current token without waiting: the auth path itself holds the lock while it builds
/// Keystone's errors.
fn lock_opt(m: &Mutex<Option<Arc<Token>>>) -> Option<Arc<Token>> {
    m.try_lock().ok().and_then(|g| g.clone())
}

/// CA bundles larger than this are refused (a system's whole bundle is about 200 KiB).
pub const MAX_CA_BUNDLE: u64 = 16 << 20;

/// The certificates of a PEM CA bundle, for `tls_certs_only` (the bundle replaces the system
/// store, as keystoneauth's `cacert` does). `key` names the setting in messages. Also used by
/// the Consul client (`ca_file`).
pub fn ca_bundle(
    path: &std::path::Path,
    key: &str,
) -> std::result::Result<Vec<reqwest::Certificate>, String> {
    let shown = path.display();
    let pem = crate::files::read_limited(path, MAX_CA_BUNDLE)
        .map_err(|e| format!("cannot read the CA bundle {shown} ({key}): {e}"))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("the CA bundle {shown} ({key}) is not valid PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!(
            "the CA bundle {shown} ({key}) holds no certificate"
        ));
    }
    Ok(certs)
}

pub(crate) use crate::http::chain;

/// `Retry-After` as delta-seconds or an HTTP-date.
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let v = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(v)?;
    Some(at.duration_since(now).unwrap_or_default())
}

/// IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`, the only form servers send today.
fn parse_http_date(s: &str) -> Option<SystemTime> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.iter().position(|x| x == month)? + 1;
    let day: u32 = day.parse().ok()?;
    humantime::parse_rfc3339(&format!("{year}-{m:02}-{day:02}T{time}Z")).ok()
}

/// Where a service's version document may be, best first.
fn discovery_urls(endpoint: &str) -> Vec<String> {
    let Ok(url) = reqwest::Url::parse(endpoint) else {
        return vec![endpoint.to_string()];
    };
    let origin = url.origin().ascii_serialization();
    let segments: Vec<&str> = url.path().split('/').filter(|s| !s.is_empty()).collect();
    let is_version = |s: &&str| {
        s.strip_prefix('v').is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        })
    };
    let mut out = Vec::new();
    match segments.iter().rposition(is_version) {
        Some(pos) => {
            if pos + 1 == segments.len() {
                out.push(endpoint.to_string());
            } else {
                out.push(format!("{origin}/{}/", segments[..=pos].join("/")));
            }
            let root = segments[..pos].join("/");
            out.push(if root.is_empty() {
                format!("{origin}/")
            } else {
                format!("{origin}/{root}/")
            });
        }
        None => out.push(endpoint.to_string()),
    }
    out.dedup();
    out
}

/// `%(project_id)s`, `%(tenant_id)s`, `$(project_id)s`, `$(tenant_id)s` in an endpoint override.
fn substitute_project(url: &str, project_id: Option<&str>) -> String {
    let Some(p) = project_id else {
        return url.to_string();
    };
    [
        "%(project_id)s",
        "%(tenant_id)s",
        "$(project_id)s",
        "$(tenant_id)s",
    ]
    .iter()
    .fold(url.to_string(), |u, pat| u.replace(pat, p))
}

/// Percent-encodes one path segment (a host name, an id) for a request path.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
