//! Errors whose kind decides the exit code.
//!
//! Command code uses `anyhow` with context; where the kind of failure matters to a script
//! (bad input vs. unreachable vs. refused), it raises a [`CliError`] with an [`ExitCode`], or a
//! client error type that knows its own code ([`Classify`]). `main` walks the error chain and
//! takes the first code it finds.

use crate::exit_codes::ExitCode;

/// An error that carries its exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    pub code: ExitCode,
    pub message: String,
}

impl CliError {
    pub fn new(code: ExitCode, message: impl Into<String>) -> Self {
        CliError {
            code,
            message: message.into(),
        }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ExitCode::Usage, message)
    }
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ExitCode::Config, message)
    }
    pub fn not_implemented(command: &str, issue: &str) -> Self {
        Self::new(
            ExitCode::NotImplemented,
            format!("`evacctl {command}` is not implemented yet ({issue}); nothing was done"),
        )
    }
}

/// Client errors that know which exit code they mean.
pub trait Classify {
    fn exit_code(&self) -> ExitCode;
}

/// The exit code for an error: the first classified error in its chain, else `Failure`.
pub fn exit_code_of(err: &anyhow::Error) -> ExitCode {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<CliError>() {
            return e.code;
        }
        if let Some(e) = cause.downcast_ref::<crate::openstack::Error>() {
            return e.exit_code();
        }
        if let Some(e) = cause.downcast_ref::<crate::config::ConfigError>() {
            return e.exit_code();
        }
        if let Some(e) = cause.downcast_ref::<crate::consul::Error>() {
            return e.exit_code();
        }
        if let Some(e) = cause.downcast_ref::<crate::lock::LockError>() {
            return e.exit_code();
        }
    }
    ExitCode::Failure
}
