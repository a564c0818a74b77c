//! Runbook steps: one function per step, doing its I/O through the clients (`bmc`,
//! `openstack`, `consul`) and its decisions through `core`. The manual subcommands and `watch`
//! call the same functions.

pub mod evacuate;
pub mod facts;
pub mod fence;
pub mod isolate;
pub mod observe;
pub mod restore;
pub mod verify;
pub mod volumes;
pub mod watch;
use crate::core::names;
use crate::error::CliError;

/// "unknown host X: no nova-compute runs there; did you mean Y? (known: ...)": bad input,
/// nothing done.
pub fn unknown_host(name: &str, known: &[&str]) -> CliError {
    let hint = names::did_you_mean(name, known.iter().copied());
    CliError::usage(format!(
        "unknown host `{name}`: no nova-compute service runs there{hint} (known: {})",
        if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_host_names_the_closest() {
        let e = unknown_host("compute-l", &["compute-1", "compute-2"]);
        assert_eq!(e.code, crate::exit_codes::ExitCode::Usage);
        assert!(
            e.message.contains("did you mean `compute-1`"),
            "{}",
            e.message
        );
        assert!(e.message.contains("known: compute-1, compute-2"));
    }
}
