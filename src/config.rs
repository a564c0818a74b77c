//! evacctl's own configuration (TOML). (Being written: see the foundation issue.)

use crate::error::Classify;
use crate::exit_codes::ExitCode;

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    pub message: String,
}

impl Classify for ConfigError {
    fn exit_code(&self) -> ExitCode {
        ExitCode::Config
    }
}
