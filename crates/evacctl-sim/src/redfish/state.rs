//! The BMCs' state: credentials and injected faults. The Redfish API is in [`crate::redfish`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::scenario::Scenario;

/// A BMC fault injected through the control API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BmcFault {
    #[default]
    None,
    /// Acknowledges ForceOff and leaves the power on.
    Lying,
    /// Answers every request with 500.
    Failing,
}

/// One host's BMC state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BmcState {
    pub fault: BmcFault,
    /// Delay before every answer.
    pub latency_ms: u64,
}

/// Every BMC: shared credentials, per-host faults.
#[derive(Debug, Clone)]
pub struct Bmcs {
    pub user: String,
    pub password: String,
    pub hosts: BTreeMap<String, BmcState>,
}

impl Bmcs {
    pub fn new(scenario: &Scenario) -> Bmcs {
        Bmcs {
            user: scenario.bmc.user.clone(),
            password: scenario.bmc.password.clone(),
            hosts: scenario
                .hosts
                .iter()
                .map(|h| (h.name.clone(), BmcState::default()))
                .collect(),
        }
    }

    /// The state of a host's BMC; `None` for an unknown host.
    pub fn get(&self, host: &str) -> Option<&BmcState> {
        self.hosts.get(host)
    }

    /// Sets a host's BMC fault and latency; false for an unknown host.
    pub fn set(&mut self, host: &str, state: BmcState) -> bool {
        match self.hosts.get_mut(host) {
            Some(s) => {
                *s = state;
                true
            }
            None => false,
        }
    }
}
