//! The observation step: what every Consul cluster says, gathered once per call.
//!
//! [`observe_consul`] asks each cluster a fixed handful of questions (leader, raft peers,
//! autopilot health, the agent's members, the catalog's checks): O(1) requests per cluster
//! whatever the number of hosts, clusters in parallel. What the answers mean is decided in
//! [`crate::core::network`]; the helpers here only turn answers into its plain inputs.
//! `check-consul`, `check-services` and `watch` all observe through this one function.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use serde::Serialize;

use crate::config::{Config, ConsulCluster, ConsulRole};
use crate::consul::{self, AutopilotHealth, Client, ClientOptions, HealthCheck, Member};
use crate::core::Finding;
use crate::core::network::{
    self, AutopilotFacts, ClusterFacts, HostVerdict, NetState, NetworkView, NodeCheck, NodeLocal,
    ObserverFacts, ObserverVerdict,
};
use crate::core::nodes::NodeIndex;
use crate::core::watch::{HostFacts, NovaFacts};
use crate::openstack::Session;
use crate::openstack::nova::ComputeService;
use crate::steps::StepContext;

/// What to ask.
#[derive(Debug, Clone)]
pub struct ObserveOptions {
    /// Leader, peers, autopilot health, members.
    pub cluster_state: bool,
    /// Every check of the catalog (`/v1/health/state/any`): serfHealth and service checks.
    pub checks: bool,
    pub client: ClientOptions,
}

impl ObserveOptions {
    /// Everything (`watch`).
    pub fn all() -> ObserveOptions {
        ObserveOptions {
            cluster_state: true,
            checks: true,
            client: ClientOptions::default(),
        }
    }

    /// The clusters and their members (`check-consul`).
    pub fn cluster_state() -> ObserveOptions {
        ObserveOptions {
            checks: false,
            ..ObserveOptions::all()
        }
    }

    /// The checks only (`check-services`' node-local view).
    pub fn checks() -> ObserveOptions {
        ObserveOptions {
            cluster_state: false,
            ..ObserveOptions::all()
        }
    }
}

/// An answer: `None` when not asked.
pub type Answer<T> = Option<Result<T, consul::Error>>;

/// What one cluster said.
#[derive(Debug, Clone)]
pub struct ClusterObservation {
    pub name: String,
    pub role: ConsulRole,
    pub addresses: Vec<String>,
    /// The address that answered: whose agent's view this is.
    pub address: Option<String>,
    /// The cluster could not be asked at all (bad token file or CA, or no address answered):
    /// every answer below is then `None`.
    pub error: Option<consul::Error>,
    pub leader: Answer<Option<String>>,
    pub peers: Answer<Vec<String>>,
    pub autopilot: Answer<AutopilotHealth>,
    pub members: Answer<Vec<Member>>,
    pub checks: Answer<Vec<HealthCheck>>,
    /// Body bytes read from the cluster for this observation.
    pub bytes_read: u64,
    /// Lookups by node, built on first use from the answers above (which are not changed
    /// after the observation): matching every host costs O(1) per host, not a scan.
    index: OnceLock<ClusterIndex>,
}

/// A cluster's answers indexed by node.
#[derive(Debug, Clone, Default)]
struct ClusterIndex {
    /// The node names (members, else nodes with checks).
    names: NodeIndex,
    /// The nodes that have checks.
    check_names: NodeIndex,
    /// Lowercased node name -> the first member with it.
    member: HashMap<String, usize>,
    /// Lowercased node name -> its checks, in the answer's order.
    checks: HashMap<String, Vec<usize>>,
}

/// What every cluster said, in the configuration's order.
#[derive(Debug, Clone, Default)]
pub struct ConsulObservation {
    pub clusters: Vec<ClusterObservation>,
}

/// Asks every cluster, in parallel.
pub fn observe_consul(clusters: &[ConsulCluster], options: &ObserveOptions) -> ConsulObservation {
    let observed = crate::pool::map_bounded(clusters, clusters.len().min(16), |c| {
        observe_cluster(c, options)
    });
    let per_cluster: Vec<String> = observed
        .iter()
        .map(|c| format!("{} {}", c.name, c.bytes_read))
        .collect();
    tracing::debug!(
        "Consul: {} bytes read ({})",
        observed.iter().map(|c| c.bytes_read).sum::<u64>(),
        per_cluster.join(", ")
    );
    ConsulObservation { clusters: observed }
}

fn observe_cluster(cluster: &ConsulCluster, options: &ObserveOptions) -> ClusterObservation {
    let mut obs = ClusterObservation {
        name: cluster.name.clone(),
        role: cluster.role,
        addresses: cluster.addresses.clone(),
        address: None,
        error: None,
        leader: None,
        peers: None,
        autopilot: None,
        members: None,
        checks: None,
        bytes_read: 0,
        index: OnceLock::new(),
    };
    let client = match Client::new(cluster, &options.client) {
        Ok(c) => c,
        Err(e) => {
            obs.error = Some(e);
            return obs;
        }
    };
    // The first question finds the agent; when no address answers, the others would only
    // wait for the same timeouts again.
    if options.cluster_state {
        let leader = client.leader();
        if matches!(leader, Err(consul::Error::Unreachable { .. })) {
            obs.error = leader.err();
            return obs;
        }
        obs.leader = Some(leader);
        obs.members = Some(client.members());
        obs.peers = Some(client.peers());
        obs.autopilot = Some(client.autopilot_health());
    }
    if options.checks {
        // Only the checks the node-local verdicts read travel.
        let checks = client.health_state_filtered("any", Some(network::NODE_CHECKS_FILTER));
        obs.bytes_read = client.bytes_read();
        if matches!(checks, Err(consul::Error::Unreachable { .. })) && obs.leader.is_none() {
            obs.error = checks.err();
            return obs;
        }
        obs.checks = Some(checks);
    }
    obs.bytes_read = client.bytes_read();
    obs.address = Some(client.address().to_string());
    obs
}

/// The first error of a cluster that makes its view unusable: it could not be asked, or the
/// members (cluster state) or the checks (node-local view) were not given.
fn essential_error(c: &ClusterObservation) -> Option<&consul::Error> {
    c.error.as_ref().or_else(|| {
        [c.members.as_ref().and_then(|r| r.as_ref().err())]
            .into_iter()
            .chain([c.checks.as_ref().and_then(|r| r.as_ref().err())])
            .flatten()
            .next()
    })
}

impl ClusterObservation {
    /// Why this cluster's view cannot be used, if it cannot.
    pub fn failure(&self) -> Option<&consul::Error> {
        essential_error(self)
    }

    /// `Some(true)`: a leader; `Some(false)`: none; `None`: not known.
    pub fn has_leader(&self) -> Option<bool> {
        match self.leader.as_ref()? {
            Ok(l) => Some(l.is_some()),
            Err(e) if e.is_no_leader() => Some(false),
            Err(_) => None,
        }
    }

    /// The members, when they were given.
    pub fn members(&self) -> Option<&[Member]> {
        self.members.as_ref()?.as_ref().ok().map(Vec::as_slice)
    }

    pub fn checks(&self) -> Option<&[HealthCheck]> {
        self.checks.as_ref()?.as_ref().ok().map(Vec::as_slice)
    }

    pub fn autopilot(&self) -> Option<&AutopilotHealth> {
        self.autopilot.as_ref()?.as_ref().ok()
    }

    fn index(&self) -> &ClusterIndex {
        self.index.get_or_init(|| {
            let members = self.members().unwrap_or(&[]);
            let checks = self.checks().unwrap_or(&[]);
            let check_names = NodeIndex::new(checks.iter().map(|c| c.node.as_str()));
            let names = if self.members().is_some() {
                NodeIndex::new(members.iter().map(|m| m.name.as_str()))
            } else {
                check_names.clone()
            };
            let mut member = HashMap::with_capacity(members.len());
            for (i, m) in members.iter().enumerate() {
                member.entry(m.name.to_ascii_lowercase()).or_insert(i);
            }
            let mut by_node: HashMap<String, Vec<usize>> = HashMap::new();
            for (i, c) in checks.iter().enumerate() {
                by_node
                    .entry(c.node.to_ascii_lowercase())
                    .or_default()
                    .push(i);
            }
            ClusterIndex {
                names,
                check_names,
                member,
                checks: by_node,
            }
        })
    }

    /// The node names this cluster knows (members, else nodes with checks), sorted.
    pub fn node_names(&self) -> Vec<&str> {
        self.index()
            .names
            .names()
            .iter()
            .map(String::as_str)
            .collect()
    }

    /// A host's node in this cluster (see [`crate::core::nodes::consul_node_for`]).
    pub fn node_for<'a>(&'a self, host: &str, explicit: Option<&'a str>) -> Option<&'a str> {
        self.index().names.node_for(host, explicit).map(|(n, _)| n)
    }

    /// A node's state in this network, as the agent asked sees it.
    pub fn member_state(&self, node: &str) -> NetState {
        let (Some(members), Some(&i)) = (
            self.members(),
            self.index().member.get(&node.to_ascii_lowercase()),
        ) else {
            return NetState::Unknown;
        };
        NetState::from_serf(members[i].status)
    }

    /// A host's node among the nodes with checks, and that node's checks.
    fn node_checks<'a>(
        &'a self,
        host: &str,
        explicit: Option<&'a str>,
    ) -> Option<Vec<&'a HealthCheck>> {
        let all = self.checks()?;
        let index = self.index();
        let (node, _) = index.check_names.node_for(host, explicit)?;
        Some(
            index
                .checks
                .get(&node.to_ascii_lowercase())
                .map(|ix| ix.iter().map(|&i| &all[i]).collect())
                .unwrap_or_default(),
        )
    }

    pub fn autopilot_facts(&self) -> Option<AutopilotFacts> {
        let a = self.autopilot()?;
        let voters: Vec<_> = a.servers.iter().filter(|s| s.voter).collect();
        Some(AutopilotFacts {
            healthy: a.healthy,
            failure_tolerance: a.failure_tolerance,
            voters: voters.len(),
            healthy_voters: voters.iter().filter(|s| s.healthy).count(),
        })
    }

    pub fn cluster_facts(&self) -> ClusterFacts {
        ClusterFacts {
            error: self.failure().map(|e| (consul_finding(e), e.to_string())),
            has_leader: self.has_leader(),
            autopilot: self.autopilot_facts(),
        }
    }

    /// What the agent asked sees of its cluster; `None` without its members.
    pub fn observer_facts(&self) -> Option<ObserverFacts> {
        let m = self.members()?;
        let failed = |m: &Member| NetState::from_serf(m.status) == NetState::Failed;
        let servers: Vec<&Member> = m.iter().filter(|m| m.is_server()).collect();
        Some(ObserverFacts {
            cluster: self.name.clone(),
            has_leader: self.has_leader(),
            members: m.len(),
            failed_members: m.iter().filter(|m| failed(m)).count(),
            servers: servers.len(),
            failed_servers: servers.iter().filter(|m| failed(m)).count(),
        })
    }

    /// Members by state: (alive, leaving, left, failed, other).
    pub fn member_counts(&self) -> MemberCounts {
        let mut c = MemberCounts::default();
        for m in self.members().unwrap_or(&[]) {
            match NetState::from_serf(m.status) {
                NetState::Alive => c.alive += 1,
                NetState::Leaving => c.leaving += 1,
                NetState::Left => c.left += 1,
                NetState::Failed => c.failed += 1,
                NetState::Unknown => c.other += 1,
            }
        }
        c.total = self.members().map_or(0, <[Member]>::len);
        c
    }
}

/// Members of one cluster by serf status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MemberCounts {
    pub total: usize,
    pub alive: usize,
    pub leaving: usize,
    pub left: usize,
    pub failed: usize,
    pub other: usize,
}

/// A host's cell in one network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostNetwork {
    pub view: NetworkView,
    /// The Consul node it was matched with, if any.
    pub node: Option<String>,
}

/// The node-local view of one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostNodeLocal {
    pub state: NodeLocal,
    pub reason: String,
    /// The node-local checks it was decided from: (cluster, check).
    pub checks: Vec<(String, HealthCheck)>,
}

impl ConsulObservation {
    /// A host's state in every network. `explicit`: `consul_node` from the configuration.
    pub fn host_networks(&self, host: &str, explicit: Option<&str>) -> Vec<HostNetwork> {
        self.clusters
            .iter()
            .map(|c| {
                let node = c.node_for(host, explicit).map(str::to_string);
                let state = match (&node, c.failure()) {
                    (Some(n), None) => c.member_state(n),
                    _ => NetState::Unknown,
                };
                HostNetwork {
                    view: NetworkView {
                        cluster: c.name.clone(),
                        role: c.role,
                        state,
                    },
                    node,
                }
            })
            .collect()
    }

    /// A host's node-local view: the worst over the clusters that have its nova-compute or
    /// libvirt checks.
    pub fn host_node_local(&self, host: &str, explicit: Option<&str>) -> HostNodeLocal {
        let mut per_cluster: Vec<(&ClusterObservation, Vec<&HealthCheck>)> = Vec::new();
        let mut checks = Vec::new();
        for c in &self.clusters {
            if let Some(mine) = c.node_checks(host, explicit) {
                per_cluster.push((c, mine));
            }
        }
        let plain: Vec<(&str, Vec<NodeCheck<'_>>)> = per_cluster
            .iter()
            .map(|(c, mine)| {
                let checks = mine
                    .iter()
                    .map(|k| NodeCheck {
                        check_id: &k.check_id,
                        service: &k.service_name,
                        status: &k.status,
                    })
                    .collect();
                (c.name.as_str(), checks)
            })
            .collect();
        let (state, reasons, with_checks) = network::node_local_over_clusters(&plain);
        // The checks shown: those of the clusters that have the node's nova-compute or libvirt.
        for ((c, mine), _) in per_cluster.iter().zip(&with_checks).filter(|(_, w)| **w) {
            checks.extend(
                mine.iter()
                    .filter(|k| k.is_serf_health() || network::is_node_service(&k.service_name))
                    .map(|k| (c.name.clone(), (*k).clone())),
            );
        }
        let reason = if reasons.is_empty() {
            let unavailable: Vec<String> = self
                .clusters
                .iter()
                .filter_map(|c| c.failure().map(|e| e.to_string()))
                .collect();
            if self.clusters.is_empty() {
                "no Consul cluster configured".to_string()
            } else if !unavailable.is_empty() {
                format!("no nova-compute check found; {}", unavailable.join("; "))
            } else {
                "no nova-compute or libvirt check registered for this host".to_string()
            }
        } else {
            reasons.join("; ")
        };
        HostNodeLocal {
            state,
            reason,
            checks,
        }
    }
}

/// The core's word for a Consul cluster that could not be asked (the exit code of
/// `check-consul`, and of any command failing on Consul, follows from it).
pub fn consul_finding(e: &consul::Error) -> Finding {
    match e {
        consul::Error::Unreachable { .. } => Finding::Unreachable,
        consul::Error::Api { status, .. } => match status {
            401 | 403 => Finding::Auth,
            // A proxy that found no agent: the agent did not answer.
            502..=504 => Finding::Unreachable,
            _ => Finding::Failure,
        },
        consul::Error::InvalidResponse { .. } => Finding::Failure,
        consul::Error::Config { .. } => Finding::Config,
    }
}

/// Nova's services and every Consul cluster, asked side by side: the one observation
/// `check-services`, `check-consul` and `watch` make (each presents it its own way).
#[derive(Debug)]
pub struct Observation {
    /// Nova's services (`None`: no session to ask with).
    pub nova: Option<Result<Vec<ComputeService>, crate::openstack::Error>>,
    pub consul: ConsulObservation,
}

/// Asks Nova (its services of `binary`, all when `None`) and every cluster at once.
pub fn observe(
    session: Option<&Session>,
    binary: Option<&str>,
    clusters: &[ConsulCluster],
    options: &ObserveOptions,
) -> Observation {
    std::thread::scope(|s| {
        let consul = s.spawn(|| observe_consul(clusters, options));
        let nova = session.map(|session| session.nova().list_services(None, binary));
        Observation {
            nova,
            consul: consul.join().unwrap_or_default(),
        }
    })
}

/// One compute host as observed, with what its observation means to the state machine.
#[derive(Debug)]
pub struct ObservedHost {
    pub service: ComputeService,
    pub facts: HostFacts,
}

/// Every compute host's facts, and the observer verdict's reasons when this controller looks
/// cut off (empty otherwise).
#[derive(Debug)]
pub struct HostsObservation {
    pub hosts: BTreeMap<String, ObservedHost>,
    pub observer_isolated: Vec<String>,
}

/// The observe step (`watch`): Nova's nova-compute services and everything every Consul
/// cluster says, at once; then each host's facts and the observer verdict.
pub fn observe_hosts(cx: &StepContext<'_>) -> anyhow::Result<HostsObservation> {
    let clusters = consul::clusters(cx.config).unwrap_or_else(|e| {
        tracing::warn!("no Consul view: {e}");
        Vec::new()
    });
    let session = cx.session()?;
    let before = session.bytes_read();
    let o = observe(
        Some(session),
        Some("nova-compute"),
        &clusters,
        &ObserveOptions::all(),
    );
    // Only Nova's listing uses the session during the observation (Consul has its clients).
    tracing::debug!(
        "Nova: {} bytes read (nova-compute services)",
        session.bytes_read().saturating_sub(before)
    );
    let services = o.nova.unwrap_or_else(|| Ok(Vec::new()))?;
    let mut consul = o.consul;
    let facts: Vec<ObserverFacts> = consul
        .clusters
        .iter()
        .filter_map(ClusterObservation::observer_facts)
        .collect();
    let (verdict, reasons) = network::observer_verdict(&facts);
    let observer_isolated = if verdict == ObserverVerdict::Isolated {
        reasons
    } else {
        Vec::new()
    };
    // A cluster whose agent is cut off sees every host failed: its cells say nothing of the
    // hosts and feed no verdict (they would warn about every host, or fence them).
    let cut_off: Vec<String> = facts
        .iter()
        .filter(|f| {
            network::observer_verdict(std::slice::from_ref(*f)).0 == ObserverVerdict::Isolated
        })
        .map(|f| f.cluster.clone())
        .collect();
    consul.clusters.retain(|c| !cut_off.contains(&c.name));
    let mut hosts = BTreeMap::new();
    for svc in services {
        let facts = host_facts(cx.config, &consul, &svc);
        hosts.insert(
            svc.host.clone(),
            ObservedHost {
                service: svc,
                facts,
            },
        );
    }
    Ok(HostsObservation {
        hosts,
        observer_isolated,
    })
}

/// What Consul says of one host: its verdict over every network (`None` without clusters)
/// and its node-local checks.
pub fn consul_view(
    config: &Config,
    consul: &ConsulObservation,
    host: &str,
) -> (Option<(HostVerdict, String)>, (NodeLocal, String)) {
    let explicit = config.host(host).and_then(|h| h.consul_node.as_deref());
    let network = if consul.clusters.is_empty() {
        None
    } else {
        let views: Vec<NetworkView> = consul
            .host_networks(host, explicit)
            .into_iter()
            .map(|n| n.view)
            .collect();
        let a = network::host_verdict(&views);
        Some((a.verdict, a.reason))
    };
    let nl = consul.host_node_local(host, explicit);
    (network, (nl.state, nl.reason))
}

/// A host's facts: Nova's record, its verdict over every network, its node-local checks.
fn host_facts(config: &Config, consul: &ConsulObservation, svc: &ComputeService) -> HostFacts {
    let (network, node_local) = consul_view(config, consul, &svc.host);
    HostFacts {
        nova: NovaFacts {
            enabled: svc.is_enabled(),
            up: svc.is_up(),
            forced_down: svc.is_forced_down(),
            disabled_reason: svc.disabled_reason.clone(),
        },
        network,
        node_local,
    }
}
