//! A client for the control API (`/_sim`), used by `evacctl-sim ctl` and by tests.

use std::time::Duration;

use reqwest::Method;
use reqwest::blocking::Client;
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    #[error("cannot reach the simulated cloud at {url}: {source}")]
    Unreachable { url: String, source: reqwest::Error },
    /// The control API refused: its message (which lists known hosts for an unknown one).
    #[error("{message}")]
    Refused {
        status: u16,
        message: String,
        body: Value,
    },
    #[error("unexpected answer from {url}: {message}")]
    Unexpected { url: String, message: String },
}

pub struct ControlClient {
    base: String,
    http: Client,
}

impl ControlClient {
    /// `url` is the simulated cloud's root, e.g. `http://127.0.0.1:41234`.
    pub fn new(url: &str) -> Result<ControlClient, CtlError> {
        // reqwest is built without a default TLS provider; installing one twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let base = url.trim_end_matches('/').to_string();
        let http = Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|source| CtlError::Unreachable {
                url: base.clone(),
                source,
            })?;
        Ok(ControlClient { base, http })
    }

    /// One call to `/_sim/{path}`; the JSON answer, or the API's error.
    pub fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, CtlError> {
        let url = format!("{}/_sim/{}", self.base, path.trim_start_matches('/'));
        let mut rb = self.http.request(method, &url);
        if let Some(b) = body {
            rb = rb
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = rb.send().map_err(|source| CtlError::Unreachable {
            url: url.clone(),
            source,
        })?;
        let status = resp.status().as_u16();
        let text = resp.text().map_err(|source| CtlError::Unreachable {
            url: url.clone(),
            source,
        })?;
        let value: Value = serde_json::from_str(&text).map_err(|e| CtlError::Unexpected {
            url: url.clone(),
            message: format!(
                "HTTP {status}, not JSON ({e}): {}",
                text.chars().take(200).collect::<String>()
            ),
        })?;
        if (200..300).contains(&status) {
            return Ok(value);
        }
        let message = value["error"]["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("HTTP {status}: {value}"));
        Err(CtlError::Refused {
            status,
            message,
            body: value,
        })
    }

    fn segment(s: &str) -> String {
        // Host and binary names are plain words; escape the few characters that would break a path.
        s.replace('%', "%25")
            .replace('/', "%2F")
            .replace('?', "%3F")
            .replace('#', "%23")
    }

    pub fn power_off(&self, host: &str) -> Result<Value, CtlError> {
        self.call(
            Method::POST,
            &format!("hosts/{}/power-off", Self::segment(host)),
            None,
        )
    }

    /// Cuts a host's power for good: later power-ons hang at boot until `hardware_repair`.
    pub fn hardware_fault(&self, host: &str) -> Result<Value, CtlError> {
        self.call(
            Method::POST,
            &format!("hosts/{}/hardware-fault", Self::segment(host)),
            None,
        )
    }

    /// Clears a hardware fault: the next power-on boots.
    pub fn hardware_repair(&self, host: &str) -> Result<Value, CtlError> {
        self.call(
            Method::POST,
            &format!("hosts/{}/hardware-repair", Self::segment(host)),
            None,
        )
    }

    /// Sets a host's BMC fault (`none`, `lying`, `failing`) and latency.
    pub fn set_bmc(&self, host: &str, fault: &str, latency_ms: u64) -> Result<Value, CtlError> {
        self.call(
            Method::POST,
            &format!("hosts/{}/bmc", Self::segment(host)),
            Some(json!({"fault": fault, "latency_ms": latency_ms})),
        )
    }

    pub fn power_on(&self, host: &str) -> Result<Value, CtlError> {
        self.call(
            Method::POST,
            &format!("hosts/{}/power-on", Self::segment(host)),
            None,
        )
    }

    pub fn crash(&self, host: &str, binary: &str) -> Result<Value, CtlError> {
        let path = format!(
            "hosts/{}/services/{}/crash",
            Self::segment(host),
            Self::segment(binary)
        );
        self.call(Method::POST, &path, None)
    }

    pub fn start(&self, host: &str, binary: &str) -> Result<Value, CtlError> {
        let path = format!(
            "hosts/{}/services/{}/start",
            Self::segment(host),
            Self::segment(binary)
        );
        self.call(Method::POST, &path, None)
    }

    /// The service runs on but Nova stops hearing its heartbeat.
    pub fn disconnect(&self, host: &str, binary: &str) -> Result<Value, CtlError> {
        let path = format!(
            "hosts/{}/services/{}/disconnect",
            Self::segment(host),
            Self::segment(binary)
        );
        self.call(Method::POST, &path, None)
    }

    /// `action`: `cut`, `leave` or `restore`; `network`: a cluster name, a role or `all`.
    pub fn network(&self, host: &str, network: &str, action: &str) -> Result<Value, CtlError> {
        let path = format!(
            "hosts/{}/networks/{}/{action}",
            Self::segment(host),
            Self::segment(network)
        );
        self.call(Method::POST, &path, None)
    }

    /// `what`/`action`: `leader`/`lose|restore` or `observer`/`cut|restore`.
    pub fn consul_switch(
        &self,
        cluster: &str,
        what: &str,
        action: &str,
    ) -> Result<Value, CtlError> {
        let path = format!("consul/{}/{what}/{action}", Self::segment(cluster));
        self.call(Method::POST, &path, None)
    }

    pub fn consul(&self) -> Result<Value, CtlError> {
        self.call(Method::GET, "consul", None)
    }

    pub fn revoke_tokens(&self) -> Result<Value, CtlError> {
        self.call(Method::POST, "tokens/revoke", None)
    }

    pub fn tokens(&self) -> Result<Value, CtlError> {
        self.call(Method::GET, "tokens", None)
    }

    pub fn state(&self) -> Result<Value, CtlError> {
        self.call(Method::GET, "state", None)
    }

    pub fn requests(&self) -> Result<Value, CtlError> {
        self.call(Method::GET, "requests", None)
    }

    /// Sets nova-api's worker pool (`workers` 0: unlimited) and resets its counters.
    pub fn set_api_workers(&self, workers: u32, service_ms: u64) -> Result<Value, CtlError> {
        let spec = json!({"workers": workers, "service_ms": service_ms});
        self.call(Method::POST, "api-workers", Some(spec))
    }

    /// The worker pool's setting and counters (see [`super::control::workers`]).
    pub fn api_workers(&self) -> Result<Value, CtlError> {
        self.call(Method::GET, "api-workers", None)
    }

    /// Adds a fault; `spec` as documented in [`super::control::FaultSpec`].
    pub fn add_fault(&self, spec: Value) -> Result<Value, CtlError> {
        self.call(Method::POST, "faults", Some(spec))
    }

    pub fn clear_faults(&self) -> Result<Value, CtlError> {
        self.call(Method::DELETE, "faults", None)
    }

    pub fn faults(&self) -> Result<Value, CtlError> {
        self.call(Method::GET, "faults", None)
    }
}

/// A fault spec from command-line pieces.
pub fn fault_spec(
    method: Option<&str>,
    path_contains: &str,
    status: Option<u16>,
    body: Option<&str>,
    count: u32,
    latency_ms: u64,
) -> Value {
    let mut v = json!({"path_contains": path_contains, "count": count, "latency_ms": latency_ms});
    if let Some(m) = method {
        v["method"] = json!(m);
    }
    if let Some(s) = status {
        v["status"] = json!(s);
    }
    if let Some(b) = body {
        v["body"] = json!(b);
    }
    v
}
