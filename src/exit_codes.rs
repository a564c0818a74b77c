//! The process exit codes, decided once for every subcommand.
//!
//! The table below is the single source: `--help` prints it, docs/reference.md repeats it (a test
//! checks they agree), and scripts may rely on it.

use crate::core::Finding;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitCode {
    Success,
    Failure,
    Usage,
    Config,
    Unhealthy,
    Degraded,
    NoQuorum,
    ObserverIsolated,
    Unreachable,
    Auth,
    ConfirmationRequired,
    Aborted,
    Partial,
    Refused,
    Locked,
    NotImplemented,
    Interrupted,
    Terminated,
}

impl From<Finding> for ExitCode {
    fn from(f: Finding) -> ExitCode {
        match f {
            Finding::Success => ExitCode::Success,
            Finding::Usage => ExitCode::Usage,
            Finding::Unhealthy => ExitCode::Unhealthy,
            Finding::Degraded => ExitCode::Degraded,
            Finding::NoQuorum => ExitCode::NoQuorum,
            Finding::ObserverIsolated => ExitCode::ObserverIsolated,
            Finding::Unreachable => ExitCode::Unreachable,
            Finding::Auth => ExitCode::Auth,
            Finding::Refused => ExitCode::Refused,
            Finding::Config => ExitCode::Config,
            Finding::Failure => ExitCode::Failure,
        }
    }
}

/// (code, name, meaning) for every exit code, in order.
pub const TABLE: &[(ExitCode, u8, &str, &str)] = &[
    (
        ExitCode::Success,
        0,
        "success",
        "done; or a check found everything healthy",
    ),
    (
        ExitCode::Failure,
        1,
        "failure",
        "an operation failed (an API error, an I/O error, an unexpected answer)",
    ),
    (
        ExitCode::Usage,
        2,
        "usage",
        "bad command line or bad input (unknown host, typo, malformed argument): nothing was done",
    ),
    (
        ExitCode::Config,
        3,
        "config",
        "the configuration (config.toml, clouds.yaml, credentials) is missing or invalid: nothing was done",
    ),
    (
        ExitCode::Unhealthy,
        4,
        "unhealthy",
        "a check found a failure: a nova-compute down or forced down, a host failed, a server not verified",
    ),
    (
        ExitCode::Degraded,
        5,
        "degraded",
        "a check found no failure but something degraded: a service disabled, a non-storage network down",
    ),
    (
        ExitCode::NoQuorum,
        6,
        "no-quorum",
        "a Consul cluster has no leader or no quorum",
    ),
    (
        ExitCode::ObserverIsolated,
        7,
        "observer-isolated",
        "this controller looks cut off (its own view is the problem): no action taken",
    ),
    (
        ExitCode::Unreachable,
        8,
        "unreachable",
        "a service did not answer (OpenStack API, Consul, BMC)",
    ),
    (
        ExitCode::Auth,
        9,
        "auth",
        "authentication or authorization refused (Keystone, BMC credentials or privilege)",
    ),
    (
        ExitCode::ConfirmationRequired,
        10,
        "confirmation-required",
        "the action needs confirmation: no terminal to ask on and no --yes",
    ),
    (
        ExitCode::Aborted,
        11,
        "aborted",
        "the operator declined at the prompt: nothing was done",
    ),
    (
        ExitCode::Partial,
        12,
        "partial",
        "some actions failed or could not be confirmed (see the result table)",
    ),
    (
        ExitCode::Refused,
        13,
        "refused",
        "a safety rule refused the action (fencing unconfirmed, source still up, no capacity)",
    ),
    (
        ExitCode::Locked,
        14,
        "locked",
        "another evacctl run holds the lock",
    ),
    (
        ExitCode::NotImplemented,
        15,
        "not-implemented",
        "this subcommand is declared but not implemented yet",
    ),
    (
        ExitCode::Interrupted,
        130,
        "interrupted",
        "stopped by SIGINT: the requests in flight answered and journaled, nothing new sent, what was never sent journaled as not sent",
    ),
    (
        ExitCode::Terminated,
        143,
        "terminated",
        "a manual command stopped by SIGTERM, as 130 for SIGINT (watch exits 0 on SIGTERM)",
    ),
];

impl ExitCode {
    pub fn code(self) -> u8 {
        TABLE
            .iter()
            .find(|row| row.0 == self)
            .map(|row| row.1)
            .unwrap_or(1)
    }

    pub fn name(self) -> &'static str {
        TABLE
            .iter()
            .find(|row| row.0 == self)
            .map(|row| row.2)
            .unwrap_or("failure")
    }

    pub fn is_success(self) -> bool {
        self == ExitCode::Success
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(c: ExitCode) -> Self {
        std::process::ExitCode::from(c.code())
    }
}

/// The exit code table as plain text, for `--help` and the man page.
pub fn help_text() -> String {
    let mut s = String::from("Exit codes:\n");
    for (_, code, name, meaning) in TABLE {
        s.push_str(&format!("  {code:>3}  {name:<22} {meaning}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_complete() {
        let mut seen = std::collections::HashSet::new();
        for (_, code, _, _) in TABLE {
            assert!(seen.insert(*code), "duplicate exit code {code}");
        }
        assert_eq!(
            ExitCode::Usage.code(),
            2,
            "clap reports usage errors with 2"
        );
        assert_eq!(ExitCode::Unhealthy.code(), 4);
    }
}
