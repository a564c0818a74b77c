//! Power control of compute hosts through their BMCs: one [`PowerDriver`] interface, three
//! drivers chosen per host in the configuration ([`crate::config::BmcDriver`]):
//!
//! - [`ipmitool`]: IPMI 2.0 over LAN by running `ipmitool -I lanplus` (as fence_ipmilan and
//!   Ironic do), the password passed in the child's environment (`-E`, `IPMI_PASSWORD`), never
//!   in an argument;
//! - [`redfish`]: Redfish over HTTP(S), natively (`ComputerSystem.Reset`);
//! - [`fence_agent`]: any Pacemaker fence agent (`fence_ipmilan`, `fence_redfish`, ...), its
//!   options and the password on its stdin.
//!
//! Drivers know their protocol and nothing of the runbook: polling until the power is
//! confirmed off is [`crate::steps::power`]'s job.

pub mod fence_agent;
pub mod ipmitool;
pub mod redfish;

use std::fmt;

use serde::Serialize;

use crate::config::{BmcDriver, ConfigError, HostConfig};

/// A chassis power state as the BMC reports it. Anything that is not plainly "off" (a
/// Redfish `PoweringOff`, say) counts as on: power is still there and disks may still be
/// written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PowerState {
    On,
    Off,
}

impl PowerState {
    pub fn as_str(self) -> &'static str {
        match self {
            PowerState::On => "on",
            PowerState::Off => "off",
        }
    }
}

impl fmt::Display for PowerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of failure a BMC call met; decides the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BmcErrorKind {
    /// No answer: connection refused, timeout, no route.
    Unreachable,
    /// The BMC refused the user, the password or the privilege needed.
    Auth,
    /// The driver cannot be set up: no BMC configured, unreadable password, no ipmitool.
    Config,
    /// Anything else: an error answer, an answer that cannot be understood.
    Failure,
}

impl BmcErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BmcErrorKind::Unreachable => "unreachable",
            BmcErrorKind::Auth => "auth",
            BmcErrorKind::Config => "config",
            BmcErrorKind::Failure => "failure",
        }
    }
}

/// A failed BMC call. The message never holds a password.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BmcError {
    pub kind: BmcErrorKind,
    pub message: String,
}

impl BmcError {
    pub fn new(kind: BmcErrorKind, message: impl Into<String>) -> BmcError {
        BmcError {
            kind,
            message: message.into(),
        }
    }
    pub fn unreachable(message: impl Into<String>) -> BmcError {
        BmcError::new(BmcErrorKind::Unreachable, message)
    }
    pub fn auth(message: impl Into<String>) -> BmcError {
        BmcError::new(BmcErrorKind::Auth, message)
    }
    pub fn config(message: impl Into<String>) -> BmcError {
        BmcError::new(BmcErrorKind::Config, message)
    }
    pub fn failure(message: impl Into<String>) -> BmcError {
        BmcError::new(BmcErrorKind::Failure, message)
    }
}

impl From<ConfigError> for BmcError {
    fn from(e: ConfigError) -> BmcError {
        BmcError::config(e.to_string())
    }
}

/// Chassis power of one host. Each call is one exchange with the BMC (with the driver's own
/// timeout and retries); none of them waits for the power to change.
pub trait PowerDriver: Send + Sync {
    fn status(&self) -> Result<PowerState, BmcError>;
    /// Hard power off (IPMI `chassis power off`, Redfish `ForceOff`): no guest shutdown.
    fn power_off(&self) -> Result<(), BmcError>;
    fn power_on(&self) -> Result<(), BmcError>;
    /// Off, then on (IPMI `chassis power cycle`, Redfish `ForceRestart`).
    fn power_cycle(&self) -> Result<(), BmcError>;
}

/// The driver a host's configuration asks for, with its password read now: a host without a
/// BMC, an unreadable password (missing, empty, readable by others) or a missing `ipmitool`
/// is an error of kind [`BmcErrorKind::Config`] before anything is sent.
pub fn driver_for(host: &HostConfig) -> Result<Box<dyn PowerDriver>, BmcError> {
    let bmc = host.bmc().ok_or_else(|| {
        BmcError::config(format!(
            "host `{0}` has no BMC in the configuration: add a [hosts.\"{0}\".bmc] table \
             with its address, user and password",
            host.name()
        ))
    })?;
    let password = bmc.read_password()?;
    Ok(match bmc.driver {
        BmcDriver::Ipmi => Box::new(ipmitool::IpmiTool::new(bmc, password)?),
        BmcDriver::Redfish => Box::new(redfish::Redfish::new(bmc, password)?),
        BmcDriver::FenceAgent => Box::new(fence_agent::FenceAgent::new(bmc, password)?),
    })
}

/// `address:port` as tables show a BMC (IPv6 addresses in brackets); the address alone for a
/// fence agent that uses its own default port.
pub fn display_address(bmc: &crate::config::ResolvedBmc) -> String {
    if bmc.port == 0 {
        bmc.address.clone()
    } else if bmc.address.contains(':') {
        format!("[{}]:{}", bmc.address, bmc.port)
    } else {
        format!("{}:{}", bmc.address, bmc.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::error::Classify;
    use crate::exit_codes::ExitCode;

    #[test]
    fn kinds_map_to_exit_codes() {
        assert_eq!(
            BmcError::unreachable("x").exit_code(),
            ExitCode::Unreachable
        );
        assert_eq!(BmcError::auth("x").exit_code(), ExitCode::Auth);
        assert_eq!(BmcError::config("x").exit_code(), ExitCode::Config);
        assert_eq!(BmcError::failure("x").exit_code(), ExitCode::Failure);
    }

    #[test]
    fn a_host_without_bmc_or_password_gets_a_clear_error() {
        let c = Config::from_str(
            "[hosts.c1]\nconsul_node = \"n1\"\n[hosts.c2.bmc]\naddress = \"10.0.0.2\"\nuser = \"u\"\npassword_env = \"EVACCTL_TEST_UNSET_BMC_PW\"\n",
            "/etc/evacctl/config.toml",
        )
        .unwrap();
        let e = driver_for(c.host("c1").unwrap()).err().unwrap();
        assert_eq!(e.kind, BmcErrorKind::Config);
        assert!(e.message.contains("host `c1` has no BMC"), "{e}");
        let e = driver_for(c.host("c2").unwrap()).err().unwrap();
        assert_eq!(e.kind, BmcErrorKind::Config);
        assert!(
            e.message.contains("EVACCTL_TEST_UNSET_BMC_PW is not set"),
            "{e}"
        );
    }

    #[test]
    fn addresses_display_with_ports() {
        let c = Config::from_str(
            "[bmc_defaults]\nuser = \"u\"\npassword_env = \"P\"\n[hosts.a.bmc]\naddress = \"10.0.0.1\"\n[hosts.b.bmc]\naddress = \"fd00::1\"\ndriver = \"redfish\"\n",
            "c.toml",
        )
        .unwrap();
        let a = c.host("a").unwrap().bmc().unwrap();
        let b = c.host("b").unwrap().bmc().unwrap();
        assert_eq!(display_address(a), "10.0.0.1:623");
        assert_eq!(display_address(b), "[fd00::1]:443");
        // A fence agent without `port` uses its own default: no port is shown.
        let c = Config::from_str(
            "[hosts.f.bmc]\ndriver = \"fence-agent\"\nagent = \"fence_ipmilan\"\naddress = \"10.0.0.3\"\nuser = \"u\"\npassword_env = \"P\"\n",
            "c.toml",
        )
        .unwrap();
        assert_eq!(
            display_address(c.host("f").unwrap().bmc().unwrap()),
            "10.0.0.3"
        );
    }
}
