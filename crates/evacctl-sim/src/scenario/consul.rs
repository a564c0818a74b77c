//! `[consul]` of a scenario: the simulated Consul clusters (see [`crate::consul`]).

use serde::{Deserialize, Serialize};

/// The network a Consul cluster watches (`role` in a scenario's `[[consul.clusters]]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsulRole {
    Management,
    Storage,
    Tenant,
}

impl ConsulRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsulRole::Management => "management",
            ConsulRole::Storage => "storage",
            ConsulRole::Tenant => "tenant",
        }
    }
}

impl std::fmt::Display for ConsulRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How Consul node names are made from host names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeNames {
    /// The host name as is.
    #[default]
    Host,
    /// The part before the first dot.
    Short,
}

/// `[consul]` of a scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsulSpec {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub node_names: NodeNames,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default = "two")]
    pub session_ttl_multiplier: f64,
    #[serde(default)]
    pub services_cluster: Option<String>,
    #[serde(default = "yes")]
    pub libvirt_checks: bool,
    #[serde(default = "default_clusters")]
    pub clusters: Vec<ClusterSpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    pub name: String,
    pub role: ConsulRole,
    #[serde(default = "dc1")]
    pub datacenter: String,
}

fn yes() -> bool {
    true
}
fn two() -> f64 {
    2.0
}
fn dc1() -> String {
    "dc1".into()
}
fn default_clusters() -> Vec<ClusterSpec> {
    [
        ConsulRole::Management,
        ConsulRole::Storage,
        ConsulRole::Tenant,
    ]
    .into_iter()
    .map(|role| ClusterSpec {
        name: role.as_str().into(),
        role,
        datacenter: dc1(),
    })
    .collect()
}

impl Default for ConsulSpec {
    fn default() -> Self {
        ConsulSpec {
            enabled: true,
            node_names: NodeNames::Host,
            token: None,
            session_ttl_multiplier: two(),
            services_cluster: None,
            libvirt_checks: true,
            clusters: default_clusters(),
        }
    }
}

/// Where a scenario error is: `(Some(cluster index), field)` or `(None, field)`.
pub type SpecError = (Option<usize>, &'static str, String);

impl ConsulSpec {
    /// Checks that serde cannot express.
    pub fn validate(&self) -> Result<(), SpecError> {
        if !(self.session_ttl_multiplier.is_finite()
            && self.session_ttl_multiplier > 0.0
            && self.session_ttl_multiplier <= 10.0)
        {
            return Err((
                None,
                "session_ttl_multiplier",
                "must be a number above 0 and at most 10".into(),
            ));
        }
        if self.token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err((
                None,
                "token",
                "must not be empty (leave it out for no ACLs)".into(),
            ));
        }
        let mut seen = Vec::new();
        for (i, c) in self.clusters.iter().enumerate() {
            if c.name.is_empty()
                || !c
                    .name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
            {
                return Err((
                    Some(i),
                    "name",
                    format!(
                        "invalid cluster name {:?} (letters, digits, - and _)",
                        c.name
                    ),
                ));
            }
            if c.name == "all" {
                return Err((
                    Some(i),
                    "name",
                    "`all` is reserved by the control API".into(),
                ));
            }
            if seen.contains(&c.name) {
                return Err((
                    Some(i),
                    "name",
                    format!("cluster {:?} is defined twice", c.name),
                ));
            }
            seen.push(c.name.clone());
        }
        if let Some(s) = &self.services_cluster
            && !seen.contains(s)
        {
            return Err((
                None,
                "services_cluster",
                format!("no cluster {s:?} (clusters: {})", seen.join(", ")),
            ));
        }
        Ok(())
    }
}
