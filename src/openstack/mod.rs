//! OpenStack access: clouds.yaml / secure.yaml / OS_* resolution, Keystone v3 auth, the service
//! catalog, per-service microversion negotiation, and small typed clients for Nova, Placement and
//! Cinder. Blocking (reqwest::blocking). Knows the APIs, nothing of the runbook.
//!
//! ```no_run
//! # fn main() -> Result<(), evacctl::openstack::Error> {
//! use evacctl::openstack::{CloudConfig, CloudSelection, Nova, Session};
//! let cfg = CloudConfig::resolve(&CloudSelection { cloud: Some("prod".into()), ..Default::default() })?;
//! let session = Session::new(cfg)?; // no I/O yet: authenticates on first use
//! let services = Nova::new(&session).list_services(None, Some("nova-compute"))?;
//! # Ok(()) }
//! ```

pub mod auth;
pub mod catalog;
pub mod cinder;
pub mod cloud_config;
pub mod credentials;
mod error_body;
pub mod microversion;
pub mod nova;
pub mod pagination;
pub mod placement;
pub mod servers;
pub mod session;

#[cfg(test)]
pub(crate) mod testserver;

pub use catalog::{Catalog, Interface, ServiceType};
pub use cinder::{Cinder, VolumeService};
pub use cloud_config::{AuthConfig, CloudConfig, CloudSelection, SearchPaths};
pub use credentials::{AuthType, Scope};
pub use evacctl_text::time::parse_timestamp;
pub use microversion::{Microversion, VersionRange};
pub use nova::{ComputeService, Nova, ServiceStatus, ServiceUpdate};
pub use placement::Placement;
pub use session::{Request, Response, RetryPolicy, Session, SessionOptions};

/// The result of every call of this layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure of the OpenStack layer. Its text names the service, the call and what went
/// wrong, and never contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// clouds.yaml / secure.yaml / OS_* / TLS files missing or invalid, credentials incomplete.
    #[error("{0}")]
    Config(String),

    /// The catalog has no endpoint for a service with the wanted interface and region.
    #[error(
        "no {service} endpoint with interface {interface}{} in the service catalog{}; {offered}",
        region.as_deref().map(|r| format!(" in region {r}")).unwrap_or_default(),
        if aliases.is_empty() { String::new() } else { format!(" (also looked for {})", aliases.join(", ")) }
    )]
    EndpointNotFound {
        service: String,
        aliases: Vec<String>,
        interface: String,
        region: Option<String>,
        /// What the catalog does offer, ready to print.
        offered: String,
    },

    /// The service answered with an HTTP error status.
    #[error(transparent)]
    Api(Box<ApiError>),

    /// No answer: connection refused, DNS failure, TLS handshake failure, timeout, reset.
    #[error("{service} {method} {url}: no answer: {detail}")]
    Unreachable {
        service: String,
        method: String,
        url: String,
        detail: String,
    },

    /// A 2xx answer that is not what the API documents (bad JSON, wrong types, missing header).
    #[error("{service} {method} {path}: unexpected answer: {detail}")]
    InvalidResponse {
        service: String,
        method: String,
        path: String,
        detail: String,
    },

    /// No microversion both sides speak fits the call (e.g. the call needs 2.53, the server
    /// offers up to 2.40).
    #[error("{service} {path}: {detail}")]
    MicroversionUnsupported {
        service: String,
        path: String,
        detail: String,
    },

    /// The caller asked for something that cannot be sent (a programming or input error).
    #[error("{0}")]
    InvalidInput(String),
}

impl Error {
    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api(e) => Some(e.status),
            _ => None,
        }
    }

    /// The API error, if this is one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }

    pub(crate) fn config(msg: impl Into<String>) -> Self {
        Error::Config(msg.into())
    }
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        Error::Api(Box::new(e))
    }
}

/// An HTTP error answer of an OpenStack service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// Service type: `compute`, `identity`, `placement`, `block-storage`.
    pub service: String,
    pub method: String,
    /// The path relative to the service endpoint, without the query.
    pub path: String,
    pub status: u16,
    /// The service's own message (or a short excerpt of a body that is not the usual JSON).
    pub message: Option<String>,
    /// `x-openstack-request-id` / `x-compute-request-id` (or Placement's body `request_id`).
    pub request_id: Option<String>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {}: HTTP {}",
            self.service, self.method, self.path, self.status
        )?;
        if let Some(reason) = reqwest::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
        {
            write!(f, " {reason}")?;
        }
        if let Some(m) = &self.message {
            write!(f, ": {m}")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request-id {id})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}
