//! Errors whose kind decides the exit code.
//!
//! Command code uses `anyhow` with context; where the kind of failure matters to a script
//! (bad input vs. unreachable vs. refused), it raises a [`CliError`] with an [`ExitCode`], or a
//! client error whose kind this module maps to a code ([`Classify`]: the clients and the storage
//! modules say what went wrong, only the top decides what exit code that is). `main` walks the
//! error chain and takes the first code it finds.

use std::io;

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

/// Errors of the clients and storage modules, by the exit code they mean.
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

impl Classify for crate::bmc::BmcError {
    fn exit_code(&self) -> ExitCode {
        match self.kind {
            crate::bmc::BmcErrorKind::Unreachable => ExitCode::Unreachable,
            crate::bmc::BmcErrorKind::Auth => ExitCode::Auth,
            crate::bmc::BmcErrorKind::Config => ExitCode::Config,
            crate::bmc::BmcErrorKind::Failure => ExitCode::Failure,
        }
    }
}

impl Classify for crate::config::ConfigError {
    fn exit_code(&self) -> ExitCode {
        ExitCode::Config
    }
}

impl Classify for crate::lock::LockError {
    fn exit_code(&self) -> ExitCode {
        match self {
            crate::lock::LockError::Held { .. } => ExitCode::Locked,
            // The configured path is unusable: the operator fixes `[lock] file`.
            crate::lock::LockError::Io { error, .. }
                if matches!(
                    error.kind(),
                    io::ErrorKind::PermissionDenied
                        | io::ErrorKind::NotFound
                        | io::ErrorKind::NotADirectory
                        | io::ErrorKind::IsADirectory
                        | io::ErrorKind::ReadOnlyFilesystem
                        | io::ErrorKind::InvalidInput
                ) =>
            {
                ExitCode::Config
            }
            crate::lock::LockError::Io { .. } => ExitCode::Failure,
        }
    }
}

impl Classify for crate::notify::NotifyError {
    fn exit_code(&self) -> ExitCode {
        ExitCode::Config
    }
}

impl Classify for crate::consul::Error {
    fn exit_code(&self) -> ExitCode {
        crate::steps::observe::consul_finding(self).into()
    }
}

impl Classify for crate::openstack::Error {
    fn exit_code(&self) -> ExitCode {
        match self {
            crate::openstack::Error::Config(_)
            | crate::openstack::Error::EndpointNotFound { .. } => ExitCode::Config,
            crate::openstack::Error::Api(e) => match e.status {
                401 | 403 => ExitCode::Auth,
                // A gateway that found no backend: the API did not answer.
                502..=504 => ExitCode::Unreachable,
                _ => ExitCode::Failure,
            },
            crate::openstack::Error::Unreachable { .. } => ExitCode::Unreachable,
            crate::openstack::Error::InvalidResponse { .. }
            | crate::openstack::Error::MicroversionUnsupported { .. } => ExitCode::Failure,
            crate::openstack::Error::InvalidInput(_) => ExitCode::Usage,
        }
    }
}
