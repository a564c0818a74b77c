//! OpenStack access: clouds.yaml / secure.yaml / OS_* resolution, Keystone v3 auth, the service
//! catalog, per-service microversion negotiation, and small typed clients for Nova, Placement and
//! Cinder. Blocking (reqwest::blocking). Knows the APIs, nothing of the runbook.
//! (Being written: see the foundation issue.)

use crate::error::Classify;
use crate::exit_codes::ExitCode;

/// Every failure of the OpenStack layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(String),
}

impl Classify for Error {
    fn exit_code(&self) -> ExitCode {
        match self {
            Error::Config(_) => ExitCode::Config,
        }
    }
}
