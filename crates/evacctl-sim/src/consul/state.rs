//! The simulated Consul clusters' state: cuts, sessions, KV. The HTTP API is in
//! [`crate::consul`].

use std::collections::BTreeMap;

use serde::Serialize;

use crate::scenario::consul::{ConsulRole, ConsulSpec, NodeNames};

/// How a host is cut from one network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Cut {
    /// Unreachable: `failed`.
    Failed,
    /// Left gracefully: `left`.
    Left,
}

#[derive(Debug, Clone, Serialize)]
pub struct Session {
    pub id: String,
    pub name: String,
    pub node: String,
    /// Seconds; `None`: no TTL.
    pub ttl: Option<f64>,
    pub ttl_text: String,
    /// Seconds.
    pub lock_delay: f64,
    pub behavior: String,
    pub node_checks: Vec<String>,
    /// When the TTL runs out (with the multiplier).
    pub expires_at: Option<f64>,
    pub create_index: u64,
    pub modify_index: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct KvItem {
    #[serde(skip)]
    pub value: Vec<u8>,
    pub flags: u64,
    pub session: Option<String>,
    pub lock_index: u64,
    pub create_index: u64,
    pub modify_index: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SimCluster {
    pub name: String,
    pub role: ConsulRole,
    pub datacenter: String,
    /// The listener's URL, once bound.
    pub url: Option<String>,
    pub leader_lost: bool,
    pub observer_cut: bool,
    /// Hosts cut from this network.
    pub cuts: BTreeMap<String, Cut>,
    /// The raft index: moves with every write.
    pub index: u64,
    /// The index of the health data (members, checks, leader) as its last change left it,
    /// the `X-Consul-Index` of `/v1/health/*`: a KV write does not move it, as in Consul,
    /// whose blocking queries wait on the index of the table they read.
    #[serde(skip)]
    pub health_index: u64,
    /// A digest of the health data when `health_index` was last moved (`None`: not yet taken).
    #[serde(skip)]
    pub(crate) health_print: Option<u64>,
    pub sessions: BTreeMap<String, Session>,
    pub kv: BTreeMap<String, KvItem>,
    /// Keys whose lock was lost with a session, and until when they cannot be acquired.
    pub lock_delays: BTreeMap<String, f64>,
    /// Position among the clusters: the second octet of its synthetic addresses.
    #[serde(skip)]
    pub(crate) net: usize,
}

#[derive(Debug, Clone)]
pub struct ConsulWorld {
    pub enabled: bool,
    pub node_names: NodeNames,
    pub token: Option<String>,
    pub session_ttl_multiplier: f64,
    pub libvirt_checks: bool,
    /// Index of the cluster holding the service checks.
    pub services_cluster: Option<usize>,
    pub clusters: Vec<SimCluster>,
}

impl ConsulWorld {
    pub fn new(spec: &ConsulSpec) -> ConsulWorld {
        let clusters: Vec<SimCluster> = if spec.enabled {
            spec.clusters
                .iter()
                .enumerate()
                .map(|(net, c)| SimCluster {
                    name: c.name.clone(),
                    role: c.role,
                    datacenter: c.datacenter.clone(),
                    url: None,
                    leader_lost: false,
                    observer_cut: false,
                    cuts: BTreeMap::new(),
                    index: 100,
                    health_index: 100,
                    health_print: None,
                    sessions: BTreeMap::new(),
                    kv: BTreeMap::new(),
                    lock_delays: BTreeMap::new(),
                    net,
                })
                .collect()
        } else {
            Vec::new()
        };
        let services_cluster = match &spec.services_cluster {
            Some(name) => clusters.iter().position(|c| &c.name == name),
            None => clusters
                .iter()
                .position(|c| c.role == ConsulRole::Management)
                .or(if clusters.is_empty() { None } else { Some(0) }),
        };
        ConsulWorld {
            enabled: spec.enabled,
            node_names: spec.node_names,
            token: spec.token.clone(),
            session_ttl_multiplier: spec.session_ttl_multiplier,
            libvirt_checks: spec.libvirt_checks,
            services_cluster,
            clusters,
        }
    }

    /// The cluster with this name, or those with this role, or every one for `all`.
    pub fn select(&self, name: &str) -> Result<Vec<usize>, String> {
        if name == "all" {
            return Ok((0..self.clusters.len()).collect());
        }
        if let Some(i) = self.clusters.iter().position(|c| c.name == name) {
            return Ok(vec![i]);
        }
        let by_role: Vec<usize> = (0..self.clusters.len())
            .filter(|&i| self.clusters[i].role.as_str() == name)
            .collect();
        if by_role.is_empty() {
            let known: Vec<&str> = self.clusters.iter().map(|c| c.name.as_str()).collect();
            Err(format!(
                "unknown Consul cluster {name:?}; clusters: {} (or a role, or all)",
                known.join(", ")
            ))
        } else {
            Ok(by_role)
        }
    }
}
