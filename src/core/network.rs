//! The Consul decisions of the runbook, as pure functions (origin D, masakari-monitors' consul
//! driver): a verdict per Consul cluster (leader, quorum), a verdict per compute host from its
//! membership in each network's cluster, the observer verdict (is the problem on our side?),
//! and `check-services`' combined verdict of Nova's view and the node-local view.
//!
//! `check-consul` and `watch` call these same functions; nothing here does I/O.

use std::fmt;

use serde::Serialize;

use crate::core::Finding;
use crate::core::services::Verdict;

// =====================================================================================
// One host in one network
// =====================================================================================

/// Consul's node-level liveness check (the agent's gossip membership), by its `CheckID`.
pub const SERF_HEALTH: &str = "serfHealth";

/// What a Consul cluster watches.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize, serde::Serialize,
)]
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

impl fmt::Display for ConsulRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A host's membership in one network's Consul cluster, as the agent we ask sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NetState {
    Alive,
    /// Leaving gracefully (serf status 2): counted as down, like masakari-monitors does.
    Leaving,
    /// Left gracefully (serf status 3): down (a clean shutdown is still a lost host).
    Left,
    /// Failed (serf status 4): down.
    Failed,
    /// No data: the cluster did not answer, the node is not a member, or an unknown status.
    Unknown,
}

impl NetState {
    pub fn as_str(self) -> &'static str {
        match self {
            NetState::Alive => "alive",
            NetState::Leaving => "leaving",
            NetState::Left => "left",
            NetState::Failed => "failed",
            NetState::Unknown => "unknown",
        }
    }

    /// From serf's member status (Consul's `/v1/agent/members` `Status`): 1 alive, 2 leaving,
    /// 3 left, 4 failed; 0 ("none") and anything else are unknown.
    pub fn from_serf(status: i64) -> NetState {
        match status {
            1 => NetState::Alive,
            2 => NetState::Leaving,
            3 => NetState::Left,
            4 => NetState::Failed,
            _ => NetState::Unknown,
        }
    }

    pub fn is_down(self) -> bool {
        matches!(self, NetState::Leaving | NetState::Left | NetState::Failed)
    }
}

impl fmt::Display for NetState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One cell of the host matrix: the host's state in one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkView {
    /// The cluster's name (`[consul.NAME]`).
    pub cluster: String,
    pub role: ConsulRole,
    pub state: NetState,
}

// =====================================================================================
// The host verdict (origin D's network rules)
// =====================================================================================

/// What a host's network states mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HostVerdict {
    Healthy,
    /// A management or tenant network is down, storage is up: notify a person, do not fence.
    Degraded,
    /// Not enough data to decide; never read as healthy.
    Unknown,
    /// Storage down, or every network down: fence and evacuate.
    Failed,
}

impl HostVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            HostVerdict::Healthy => "healthy",
            HostVerdict::Degraded => "degraded",
            HostVerdict::Unknown => "unknown",
            HostVerdict::Failed => "failed",
        }
    }
}

impl fmt::Display for HostVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A verdict and the sentence that explains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAssessment {
    pub verdict: HostVerdict,
    pub reason: String,
}

/// The state of one network (role) for a host: several clusters may share a role; the role is
/// down when any of them says down, alive when all say alive, unknown otherwise.
fn role_state(views: &[NetworkView], role: ConsulRole) -> Option<NetState> {
    let states: Vec<NetState> = views
        .iter()
        .filter(|v| v.role == role)
        .map(|v| v.state)
        .collect();
    if states.is_empty() {
        None
    } else if let Some(down) = states.iter().find(|s| s.is_down()) {
        Some(*down)
    } else if states.iter().all(|s| *s == NetState::Alive) {
        Some(NetState::Alive)
    } else {
        Some(NetState::Unknown)
    }
}

const ROLES: [ConsulRole; 3] = [
    ConsulRole::Management,
    ConsulRole::Storage,
    ConsulRole::Tenant,
];

/// The verdict for one host from its state in every configured network (origin D):
///
/// 1. storage down: **failed** (fence and evacuate);
/// 2. every configured network down: **failed** (with a single cluster configured, its loss
///    is every network's loss);
/// 3. any network without data: **unknown** (a missing storage view might hide a failure);
/// 4. management or tenant down, storage up: **degraded** (notify only);
/// 5. otherwise **healthy**.
pub fn host_verdict(views: &[NetworkView]) -> HostAssessment {
    let roles: Vec<(ConsulRole, NetState)> = ROLES
        .iter()
        .filter_map(|r| role_state(views, *r).map(|s| (*r, s)))
        .collect();
    let names = |pred: &dyn Fn(NetState) -> bool| -> String {
        roles
            .iter()
            .filter(|(_, s)| pred(*s))
            .map(|(r, s)| format!("{r} {s}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let assess = |verdict, reason: String| HostAssessment { verdict, reason };
    if roles.is_empty() {
        return assess(
            HostVerdict::Unknown,
            "no Consul cluster watches this host".into(),
        );
    }
    if let Some((_, s)) = roles
        .iter()
        .find(|(r, s)| *r == ConsulRole::Storage && s.is_down())
    {
        return assess(
            HostVerdict::Failed,
            format!("storage network {s}: fence and evacuate"),
        );
    }
    if roles.iter().all(|(_, s)| s.is_down()) {
        return assess(
            HostVerdict::Failed,
            format!(
                "every network down ({}): fence and evacuate",
                names(&|s| s.is_down())
            ),
        );
    }
    let unknown: Vec<&str> = roles
        .iter()
        .filter(|(_, s)| *s == NetState::Unknown)
        .map(|(r, _)| r.as_str())
        .collect();
    let unknown = unknown.join(", ");
    if !unknown.is_empty() {
        let down = names(&|s| s.is_down());
        let also = if down.is_empty() {
            String::new()
        } else {
            format!("; {down}")
        };
        return assess(HostVerdict::Unknown, format!("no data for {unknown}{also}"));
    }
    let down = names(&|s| s.is_down());
    if !down.is_empty() {
        return assess(
            HostVerdict::Degraded,
            format!("{down}: notify only (storage is up)"),
        );
    }
    assess(HostVerdict::Healthy, "alive in every network".into())
}

// =====================================================================================
// The cluster verdict (leader, quorum)
// =====================================================================================

/// What autopilot said (`/v1/operator/autopilot/health`: HTTP 200 healthy, 429 not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutopilotFacts {
    pub healthy: bool,
    pub failure_tolerance: i64,
    pub voters: usize,
    pub healthy_voters: usize,
}

/// What was seen of one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterFacts {
    /// The cluster could not be asked (unreachable, refused, malformed): its exit code and why.
    pub error: Option<(Finding, String)>,
    /// `/v1/status/leader`: `Some(true)` a leader, `Some(false)` none (`""` or "No cluster
    /// leader"), `None` not known.
    pub has_leader: Option<bool>,
    pub autopilot: Option<AutopilotFacts>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClusterVerdict {
    Healthy,
    /// Quorum holds but autopilot says a server is unhealthy.
    Degraded,
    NoLeader,
    /// Fewer healthy voters than a quorum.
    NoQuorum,
    /// The cluster could not be asked.
    Error,
}

impl ClusterVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterVerdict::Healthy => "healthy",
            ClusterVerdict::Degraded => "degraded",
            ClusterVerdict::NoLeader => "no-leader",
            ClusterVerdict::NoQuorum => "no-quorum",
            ClusterVerdict::Error => "error",
        }
    }

    pub fn lacks_quorum(self) -> bool {
        matches!(self, ClusterVerdict::NoLeader | ClusterVerdict::NoQuorum)
    }
}

impl fmt::Display for ClusterVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Raft's quorum for `voters` voters.
pub fn quorum(voters: usize) -> usize {
    voters / 2 + 1
}

pub fn cluster_verdict(f: &ClusterFacts) -> (ClusterVerdict, String) {
    if let Some((_, why)) = &f.error {
        return (ClusterVerdict::Error, why.clone());
    }
    match f.has_leader {
        Some(false) => {
            return (
                ClusterVerdict::NoLeader,
                "no leader: the servers lost quorum or are electing one".into(),
            );
        }
        None => {
            return (ClusterVerdict::NoLeader, "the leader is not known".into());
        }
        Some(true) => {}
    }
    match f.autopilot {
        Some(a) if a.voters > 0 && a.healthy_voters < quorum(a.voters) => (
            ClusterVerdict::NoQuorum,
            format!(
                "{} of {} voters healthy, a quorum needs {}",
                a.healthy_voters,
                a.voters,
                quorum(a.voters)
            ),
        ),
        Some(a) if !a.healthy => (
            ClusterVerdict::Degraded,
            format!(
                "autopilot: unhealthy ({} of {} voters healthy, failure tolerance {})",
                a.healthy_voters, a.voters, a.failure_tolerance
            ),
        ),
        Some(a) => (
            ClusterVerdict::Healthy,
            format!("leader elected; failure tolerance {}", a.failure_tolerance),
        ),
        None => (
            ClusterVerdict::Healthy,
            "leader elected (autopilot health not available)".into(),
        ),
    }
}

// =====================================================================================
// The observer verdict
// =====================================================================================

/// What the agent we ask sees of its own cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObserverFacts {
    pub cluster: String,
    /// As in [`ClusterFacts::has_leader`].
    pub has_leader: Option<bool>,
    pub members: usize,
    /// Members in `failed` state (a graceful `left` says nothing about our own reach).
    pub failed_members: usize,
    /// Consul servers among the members, and how many of them look failed.
    pub servers: usize,
    pub failed_servers: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ObserverVerdict {
    Ok,
    /// This controller's view is probably the problem: act on nothing.
    Isolated,
}

impl ObserverVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            ObserverVerdict::Ok => "ok",
            ObserverVerdict::Isolated => "isolated",
        }
    }
}

/// Is the agent this controller talks to cut off? In any cluster:
///
/// - it sees most members (more than half) failed: one agent seeing a mass failure is far
///   likelier cut off than right;
/// - it has no leader and at least half of the servers look failed from it: it cannot reach
///   them (or they are down; either way its view cannot be acted on).
///
/// A cluster without a leader whose servers look alive is a quorum problem of the cluster
/// ([`cluster_verdict`]), not of the observer. Clusters that could not be asked are not
/// counted here (they have their own error).
pub fn observer_verdict(facts: &[ObserverFacts]) -> (ObserverVerdict, Vec<String>) {
    let mut reasons = Vec::new();
    for f in facts {
        if f.members > 0 && f.failed_members * 2 > f.members {
            reasons.push(format!(
                "cluster {}: this agent sees {} of {} members failed",
                f.cluster, f.failed_members, f.members
            ));
        } else if f.has_leader != Some(true) && f.servers > 0 && f.failed_servers * 2 >= f.servers {
            reasons.push(format!(
                "cluster {}: this agent cannot reach its leader ({} of {} servers look failed from it)",
                f.cluster, f.failed_servers, f.servers
            ));
        }
    }
    if reasons.is_empty() {
        (ObserverVerdict::Ok, reasons)
    } else {
        (ObserverVerdict::Isolated, reasons)
    }
}

/// The exit code of `check-consul`, most urgent first: the observer cut off (its whole view is
/// suspect), a cluster that could not be asked (its code: unreachable, auth, failure), a
/// cluster without leader or quorum, a failed host, a degraded host or cluster or an unknown
/// host, else success.
pub fn check_consul_exit(
    observer: ObserverVerdict,
    clusters: &[(ClusterVerdict, Option<Finding>)],
    hosts: &[HostVerdict],
) -> Finding {
    if observer == ObserverVerdict::Isolated {
        return Finding::ObserverIsolated;
    }
    // The first failing cluster's code: Unreachable before Auth before Failure.
    let mut errors: Vec<Finding> = clusters.iter().filter_map(|(_, code)| *code).collect();
    errors.sort_by_key(|c| match c {
        Finding::Unreachable => 0,
        Finding::Auth => 1,
        _ => 2,
    });
    if let Some(code) = errors.first() {
        return *code;
    }
    if clusters.iter().any(|(v, _)| v.lacks_quorum()) {
        return Finding::NoQuorum;
    }
    if hosts.contains(&HostVerdict::Failed) {
        return Finding::Unhealthy;
    }
    if hosts
        .iter()
        .any(|h| matches!(h, HostVerdict::Degraded | HostVerdict::Unknown))
        || clusters.iter().any(|(v, _)| *v == ClusterVerdict::Degraded)
    {
        return Finding::Degraded;
    }
    Finding::Success
}

// =====================================================================================
// check-services: Nova's view beside the node-local view
// =====================================================================================

/// The node-local state of a host's services (Consul health checks of nova-compute and
/// libvirt registered on the node).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeLocal {
    Passing,
    Warning,
    Critical,
    /// No check for the host: no Consul configured, not registered, or not reachable.
    NoData,
}

impl NodeLocal {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeLocal::Passing => "passing",
            NodeLocal::Warning => "warning",
            NodeLocal::Critical => "critical",
            NodeLocal::NoData => "no-data",
        }
    }

    /// From a Consul check status; `maintenance` counts as critical (the node is out), an
    /// unknown word as no data.
    pub fn from_check_status(status: &str) -> NodeLocal {
        match status {
            "passing" => NodeLocal::Passing,
            "warning" => NodeLocal::Warning,
            "critical" | "maintenance" => NodeLocal::Critical,
            _ => NodeLocal::NoData,
        }
    }

    /// The worse of two states; a state with data beats no data.
    pub fn worst(self, other: NodeLocal) -> NodeLocal {
        let rank = |n: NodeLocal| match n {
            NodeLocal::NoData => 0,
            NodeLocal::Passing => 1,
            NodeLocal::Warning => 2,
            NodeLocal::Critical => 3,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// Is this Consul service one of the node-local view's: nova-compute (any spelling of it:
/// `nova-compute`, `openstack-nova-compute`, `nova_compute`) or libvirt (`libvirtd`,
/// `libvirt`, `virtqemud` is not counted)?
/// The checks [`node_local_over_clusters`] reads, as a Consul `filter` expression: `serfHealth`
/// and the checks whose service [`is_node_service`] (Consul's regular expressions are RE2's:
/// `(?i)` ignores case as `is_node_service` does).
pub const NODE_CHECKS_FILTER: &str =
    r#"CheckID == "serfHealth" or ServiceName matches "(?i)(nova-compute|nova_compute|^libvirt)""#;

pub fn is_node_service(service: &str) -> bool {
    let s = service.to_ascii_lowercase();
    s.contains("nova-compute") || s.contains("nova_compute") || s.starts_with("libvirt")
}

/// One health check of a node, as plain data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeCheck<'a> {
    pub check_id: &'a str,
    pub service: &'a str,
    pub status: &'a str,
}

/// The node-local state from one cluster's checks of one node: the worst of its nova-compute
/// and libvirt checks; but when the node's own `serfHealth` is not passing, its agent is not
/// heard and those checks are stale: critical. No nova-compute or libvirt check: no data.
pub fn node_local_state(checks: &[NodeCheck<'_>]) -> (NodeLocal, String) {
    let services: Vec<&NodeCheck<'_>> = checks
        .iter()
        .filter(|c| !c.service.is_empty() && is_node_service(c.service))
        .collect();
    if services.is_empty() {
        return (
            NodeLocal::NoData,
            "no nova-compute or libvirt check on the node".into(),
        );
    }
    if let Some(serf) = checks
        .iter()
        .find(|c| c.check_id == SERF_HEALTH && c.status != "passing")
    {
        return (
            NodeLocal::Critical,
            format!(
                "the node's agent is not heard (serfHealth {}): its service checks are stale",
                serf.status
            ),
        );
    }
    let worst = services
        .iter()
        .map(|c| NodeLocal::from_check_status(c.status))
        .fold(NodeLocal::NoData, NodeLocal::worst);
    let not_passing: Vec<String> = services
        .iter()
        .filter(|c| c.status != "passing")
        .map(|c| format!("{} {}", c.service, c.status))
        .collect();
    let reason = if not_passing.is_empty() {
        let names: Vec<&str> = services.iter().map(|c| c.service).collect();
        format!("{} passing", names.join(", "))
    } else {
        not_passing.join(", ")
    };
    (worst, reason)
}

/// The node-local state of a host over every cluster that has checks of it: the worst of each
/// cluster's [`node_local_state`], except that a cluster where the node's agent is not heard
/// while another cluster hears it does not count: only that cluster's network is cut from the
/// node (a management or tenant cut is notify-only, origin D), so its checks there are stale,
/// not a failure of the node. A node heard nowhere keeps the stale checks' verdict (critical).
/// `(cluster name, its checks of the node)`; the reasons, one per cluster that counted or not,
/// and for each cluster whether it has checks of the node's nova-compute or libvirt at all.
pub fn node_local_over_clusters(
    per_cluster: &[(&str, Vec<NodeCheck<'_>>)],
) -> (NodeLocal, Vec<String>, Vec<bool>) {
    let unheard = |checks: &[NodeCheck<'_>]| {
        checks
            .iter()
            .any(|c| c.check_id == SERF_HEALTH && c.status != "passing")
    };
    let heard = |checks: &[NodeCheck<'_>]| {
        checks
            .iter()
            .any(|c| c.check_id == SERF_HEALTH && c.status == "passing")
    };
    let heard_somewhere = per_cluster.iter().any(|(_, c)| heard(c));
    let mut state = NodeLocal::NoData;
    let mut reasons = Vec::new();
    let mut with_checks = Vec::new();
    for (name, checks) in per_cluster {
        let (s, why) = node_local_state(checks);
        with_checks.push(s != NodeLocal::NoData);
        if s == NodeLocal::NoData {
            continue;
        }
        if heard_somewhere && unheard(checks) {
            reasons.push(format!(
                "{name}: the node's agent is not heard there (that network is cut from it), \
                 its checks there are stale and not counted"
            ));
            continue;
        }
        state = state.worst(s);
        reasons.push(format!("{name}: {why}"));
    }
    (state, reasons, with_checks)
}

/// A compute host's verdict from both views (origin D, service monitoring).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CombinedVerdict {
    Ok,
    /// Nova's API and the node agree it runs, but Consul has nothing for the host.
    NoNodeData,
    /// Disabled as a spare (`evacctl: reserved`).
    Reserved,
    Disabled,
    /// Nova lost the heartbeat but the node says nova-compute runs: wait and warn.
    ApiOnly,
    /// Nova says down and the node has no data either.
    Down,
    ForcedDown,
    /// The node-local checks are critical: a fencing case.
    NodeFailure,
}

impl CombinedVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            CombinedVerdict::Ok => "ok",
            CombinedVerdict::NoNodeData => "no-node-data",
            CombinedVerdict::Reserved => "reserved",
            CombinedVerdict::Disabled => "disabled",
            CombinedVerdict::ApiOnly => "api-only",
            CombinedVerdict::Down => "down",
            CombinedVerdict::ForcedDown => "forced-down",
            CombinedVerdict::NodeFailure => "node-failure",
        }
    }

    /// The service verdict this counts as for `check-services`' exit code: a node failure is
    /// a failure, api-only is degraded (wait and warn), no node data changes nothing.
    pub fn as_service_verdict(self) -> Verdict {
        match self {
            CombinedVerdict::Ok | CombinedVerdict::NoNodeData => Verdict::Ok,
            CombinedVerdict::Reserved => Verdict::Reserved,
            CombinedVerdict::Disabled | CombinedVerdict::ApiOnly => Verdict::Disabled,
            CombinedVerdict::Down | CombinedVerdict::NodeFailure => Verdict::Down,
            CombinedVerdict::ForcedDown => Verdict::ForcedDown,
        }
    }
}

impl fmt::Display for CombinedVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Nova's verdict for a host's nova-compute beside its node-local state:
///
/// | node-local | Nova ok | Nova down | Nova forced down | Nova disabled |
/// |---|---|---|---|---|
/// | passing / warning | ok | api-only | forced-down | disabled |
/// | critical | node-failure | node-failure | node-failure | node-failure |
/// | no data | no-node-data | down | forced-down | disabled |
pub fn combined_verdict(nova: Verdict, node: NodeLocal) -> CombinedVerdict {
    match (node, nova) {
        (NodeLocal::Critical, _) => CombinedVerdict::NodeFailure,
        (_, Verdict::ForcedDown) => CombinedVerdict::ForcedDown,
        (_, Verdict::Disabled) => CombinedVerdict::Disabled,
        (_, Verdict::Reserved) => CombinedVerdict::Reserved,
        (NodeLocal::NoData, Verdict::Ok) => CombinedVerdict::NoNodeData,
        (NodeLocal::NoData, Verdict::Down) => CombinedVerdict::Down,
        (_, Verdict::Ok) => CombinedVerdict::Ok,
        (_, Verdict::Down) => CombinedVerdict::ApiOnly,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConsulRole::*;
    use NetState::*;

    fn views(states: &[(ConsulRole, NetState)]) -> Vec<NetworkView> {
        states
            .iter()
            .map(|(r, s)| NetworkView {
                cluster: r.as_str().into(),
                role: *r,
                state: *s,
            })
            .collect()
    }

    fn verdict(states: &[(ConsulRole, NetState)]) -> HostVerdict {
        host_verdict(&views(states)).verdict
    }

    #[test]
    fn seed_003_network_rules() {
        let all = |m, s, t| verdict(&[(Management, m), (Storage, s), (Tenant, t)]);
        assert_eq!(all(Alive, Alive, Alive), HostVerdict::Healthy);
        assert_eq!(all(Alive, Failed, Alive), HostVerdict::Failed);
        assert_eq!(all(Alive, Left, Alive), HostVerdict::Failed);
        assert_eq!(all(Failed, Alive, Alive), HostVerdict::Degraded);
        assert_eq!(all(Alive, Alive, Failed), HostVerdict::Degraded);
        assert_eq!(all(Failed, Alive, Failed), HostVerdict::Degraded);
        assert_eq!(all(Failed, Failed, Failed), HostVerdict::Failed);
        assert_eq!(all(Left, Failed, Leaving), HostVerdict::Failed);
        // Storage down wins even when another network has no data.
        assert_eq!(all(Unknown, Failed, Alive), HostVerdict::Failed);
    }

    #[test]
    fn unknown_is_never_healthy() {
        let all = |m, s, t| verdict(&[(Management, m), (Storage, s), (Tenant, t)]);
        assert_eq!(all(Alive, Unknown, Alive), HostVerdict::Unknown);
        assert_eq!(all(Unknown, Alive, Alive), HostVerdict::Unknown);
        // Two networks down and storage unknown: it might be failed, so not "degraded".
        assert_eq!(all(Failed, Unknown, Failed), HostVerdict::Unknown);
        assert_eq!(verdict(&[]), HostVerdict::Unknown);
        let a = host_verdict(&views(&[(Management, Failed), (Storage, Unknown)]));
        assert_eq!(a.reason, "no data for storage; management failed");
        assert!(a.reason.contains("management failed"), "{a:?}");
    }

    #[test]
    fn every_configured_network_down_is_failed() {
        // One cluster (the CONSUL_HTTP_ADDR case): its loss is every network's loss.
        assert_eq!(verdict(&[(Management, Failed)]), HostVerdict::Failed);
        assert_eq!(verdict(&[(Management, Alive)]), HostVerdict::Healthy);
        assert_eq!(
            verdict(&[(Management, Failed), (Tenant, Failed)]),
            HostVerdict::Failed
        );
        assert_eq!(
            verdict(&[(Management, Failed), (Tenant, Alive)]),
            HostVerdict::Degraded
        );
    }

    #[test]
    fn clusters_sharing_a_role() {
        let v = |a, b| {
            host_verdict(&[
                NetworkView {
                    cluster: "ceph-public".into(),
                    role: Storage,
                    state: a,
                },
                NetworkView {
                    cluster: "ceph-cluster".into(),
                    role: Storage,
                    state: b,
                },
                NetworkView {
                    cluster: "mgmt".into(),
                    role: Management,
                    state: Alive,
                },
            ])
            .verdict
        };
        assert_eq!(v(Alive, Alive), HostVerdict::Healthy);
        assert_eq!(v(Alive, Failed), HostVerdict::Failed);
        assert_eq!(v(Unknown, Alive), HostVerdict::Unknown);
    }

    #[test]
    fn reasons_say_what_to_do() {
        let a = host_verdict(&views(&[
            (Management, Alive),
            (Storage, Failed),
            (Tenant, Alive),
        ]));
        assert_eq!(a.reason, "storage network failed: fence and evacuate");
        let a = host_verdict(&views(&[
            (Management, Failed),
            (Storage, Alive),
            (Tenant, Alive),
        ]));
        assert_eq!(a.reason, "management failed: notify only (storage is up)");
    }

    #[test]
    fn serf_status_codes() {
        assert_eq!(NetState::from_serf(1), Alive);
        assert_eq!(NetState::from_serf(2), Leaving);
        assert_eq!(NetState::from_serf(3), Left);
        assert_eq!(NetState::from_serf(4), Failed);
        assert_eq!(NetState::from_serf(0), Unknown);
        assert_eq!(NetState::from_serf(-7), Unknown);
    }

    fn facts(has_leader: Option<bool>, autopilot: Option<AutopilotFacts>) -> ClusterFacts {
        ClusterFacts {
            error: None,
            has_leader,
            autopilot,
        }
    }

    fn ap(healthy: bool, voters: usize, healthy_voters: usize) -> Option<AutopilotFacts> {
        Some(AutopilotFacts {
            healthy,
            failure_tolerance: (healthy_voters as i64 - quorum(voters) as i64).max(0),
            voters,
            healthy_voters,
        })
    }

    #[test]
    fn cluster_verdicts() {
        let v = |f: ClusterFacts| cluster_verdict(&f).0;
        assert_eq!(
            v(facts(Some(true), ap(true, 3, 3))),
            ClusterVerdict::Healthy
        );
        assert_eq!(
            v(facts(Some(true), ap(false, 3, 2))),
            ClusterVerdict::Degraded
        );
        assert_eq!(
            v(facts(Some(true), ap(false, 3, 1))),
            ClusterVerdict::NoQuorum
        );
        assert_eq!(v(facts(Some(false), None)), ClusterVerdict::NoLeader);
        assert_eq!(v(facts(None, None)), ClusterVerdict::NoLeader);
        assert_eq!(v(facts(Some(true), None)), ClusterVerdict::Healthy);
        let mut f = facts(Some(true), ap(true, 1, 1));
        f.error = Some((Finding::Unreachable, "no answer".into()));
        assert_eq!(
            cluster_verdict(&f),
            (ClusterVerdict::Error, "no answer".into())
        );
        assert_eq!(quorum(1), 1);
        assert_eq!(quorum(3), 2);
        assert_eq!(quorum(4), 3);
        assert_eq!(quorum(5), 3);
    }

    fn obs(
        has_leader: Option<bool>,
        members: usize,
        failed: usize,
        servers: usize,
        failed_servers: usize,
    ) -> ObserverFacts {
        ObserverFacts {
            cluster: "management".into(),
            has_leader,
            members,
            failed_members: failed,
            servers,
            failed_servers,
        }
    }

    #[test]
    fn observer_isolated_when_most_members_failed() {
        assert_eq!(
            observer_verdict(&[obs(Some(true), 5, 0, 1, 0)]).0,
            ObserverVerdict::Ok
        );
        assert_eq!(
            observer_verdict(&[obs(Some(true), 5, 2, 1, 0)]).0,
            ObserverVerdict::Ok
        );
        let (v, why) = observer_verdict(&[obs(Some(true), 5, 3, 1, 0)]);
        assert_eq!(v, ObserverVerdict::Isolated);
        assert_eq!(
            why,
            ["cluster management: this agent sees 3 of 5 members failed"]
        );
        // Half is not most.
        assert_eq!(
            observer_verdict(&[obs(Some(true), 4, 2, 1, 0)]).0,
            ObserverVerdict::Ok
        );
    }

    #[test]
    fn observer_isolated_when_it_cannot_reach_the_leader() {
        // No leader, servers look failed from here: we are cut off (or they are down).
        let (v, why) = observer_verdict(&[obs(Some(false), 6, 2, 3, 2)]);
        assert_eq!(v, ObserverVerdict::Isolated);
        assert!(why[0].contains("cannot reach its leader"), "{why:?}");
        // No leader but the servers are alive from here: the cluster's problem, not ours.
        assert_eq!(
            observer_verdict(&[obs(Some(false), 6, 0, 3, 0)]).0,
            ObserverVerdict::Ok
        );
        // A leader and one of three servers failed: fine.
        assert_eq!(
            observer_verdict(&[obs(Some(true), 6, 1, 3, 1)]).0,
            ObserverVerdict::Ok
        );
        assert_eq!(observer_verdict(&[]).0, ObserverVerdict::Ok);
    }

    #[test]
    fn exit_code_precedence() {
        use ClusterVerdict as C;
        use HostVerdict as H;
        let ok = (C::Healthy, None);
        assert_eq!(
            check_consul_exit(ObserverVerdict::Ok, &[ok], &[H::Healthy]),
            Finding::Success
        );
        assert_eq!(
            check_consul_exit(ObserverVerdict::Ok, &[ok], &[H::Healthy, H::Degraded]),
            Finding::Degraded
        );
        assert_eq!(
            check_consul_exit(ObserverVerdict::Ok, &[ok], &[H::Unknown]),
            Finding::Degraded
        );
        assert_eq!(
            check_consul_exit(ObserverVerdict::Ok, &[ok], &[H::Degraded, H::Failed]),
            Finding::Unhealthy
        );
        assert_eq!(
            check_consul_exit(ObserverVerdict::Ok, &[(C::Degraded, None)], &[H::Healthy]),
            Finding::Degraded
        );
        assert_eq!(
            check_consul_exit(
                ObserverVerdict::Ok,
                &[ok, (C::NoLeader, None)],
                &[H::Failed]
            ),
            Finding::NoQuorum
        );
        assert_eq!(
            check_consul_exit(
                ObserverVerdict::Ok,
                &[
                    (C::Error, Some(Finding::Auth)),
                    (C::Error, Some(Finding::Unreachable)),
                    (C::NoLeader, None)
                ],
                &[H::Failed]
            ),
            Finding::Unreachable
        );
        assert_eq!(
            check_consul_exit(
                ObserverVerdict::Isolated,
                &[(C::Error, Some(Finding::Unreachable))],
                &[H::Failed]
            ),
            Finding::ObserverIsolated
        );
    }

    #[test]
    fn combined_verdicts() {
        use CombinedVerdict as C;
        use NodeLocal as N;
        use Verdict as V;
        assert_eq!(combined_verdict(V::Ok, N::Passing), C::Ok);
        assert_eq!(combined_verdict(V::Ok, N::Warning), C::Ok);
        assert_eq!(combined_verdict(V::Down, N::Passing), C::ApiOnly);
        assert_eq!(combined_verdict(V::Ok, N::Critical), C::NodeFailure);
        assert_eq!(combined_verdict(V::Down, N::Critical), C::NodeFailure);
        assert_eq!(combined_verdict(V::ForcedDown, N::Critical), C::NodeFailure);
        assert_eq!(combined_verdict(V::Ok, N::NoData), C::NoNodeData);
        assert_eq!(combined_verdict(V::Down, N::NoData), C::Down);
        assert_eq!(combined_verdict(V::ForcedDown, N::Passing), C::ForcedDown);
        assert_eq!(combined_verdict(V::Disabled, N::NoData), C::Disabled);
        assert_eq!(combined_verdict(V::Disabled, N::Passing), C::Disabled);
        // Without node-local data the exit code is Nova's alone, as before.
        for v in [V::Ok, V::Down, V::ForcedDown, V::Disabled] {
            assert_eq!(combined_verdict(v, N::NoData).as_service_verdict(), v);
        }
        assert_eq!(C::ApiOnly.as_service_verdict(), V::Disabled);
        assert_eq!(C::NodeFailure.as_service_verdict(), V::Down);
    }

    #[test]
    fn node_local_from_checks() {
        let c = |check_id, service, status| NodeCheck {
            check_id,
            service,
            status,
        };
        let serf_ok = c("serfHealth", "", "passing");
        let (s, why) = node_local_state(&[
            serf_ok,
            c("service:nova-compute", "nova-compute", "passing"),
            c("service:libvirtd", "libvirtd", "passing"),
        ]);
        assert_eq!(s, NodeLocal::Passing);
        assert_eq!(why, "nova-compute, libvirtd passing");
        let (s, why) = node_local_state(&[
            serf_ok,
            c("service:nova-compute", "nova-compute", "critical"),
            c("service:libvirtd", "libvirtd", "passing"),
        ]);
        assert_eq!(
            (s, why.as_str()),
            (NodeLocal::Critical, "nova-compute critical")
        );
        let (s, _) = node_local_state(&[serf_ok, c("x", "libvirtd", "warning")]);
        assert_eq!(s, NodeLocal::Warning);
        // Over clusters: one where the agent is not heard while another hears it counts for
        // nothing (a management cut); not heard anywhere: critical (a dead node).
        let mgmt = vec![
            c("serfHealth", "", "critical"),
            c("service:nova-compute", "nova-compute", "passing"),
        ];
        let storage = vec![serf_ok, c("x", "web", "passing")];
        let (s, why, with_checks) =
            node_local_over_clusters(&[("management", mgmt.clone()), ("storage", storage)]);
        assert_eq!(with_checks, [true, false]);
        assert_eq!(s, NodeLocal::NoData, "{why:?}");
        assert!(why[0].contains("stale and not counted"), "{why:?}");
        let (s, _, _) = node_local_over_clusters(&[("management", mgmt.clone())]);
        assert_eq!(s, NodeLocal::Critical);
        let dead_storage = vec![c("serfHealth", "", "critical")];
        let (s, _, _) =
            node_local_over_clusters(&[("management", mgmt), ("storage", dead_storage)]);
        assert_eq!(s, NodeLocal::Critical, "heard nowhere");
        // A node whose agent is not heard: its passing checks are stale.
        let (s, why) = node_local_state(&[
            c("serfHealth", "", "critical"),
            c("service:nova-compute", "nova-compute", "passing"),
        ]);
        assert_eq!(s, NodeLocal::Critical);
        assert!(why.contains("stale"), "{why}");
        // Only unrelated services, or only serfHealth: no node-local data.
        assert_eq!(
            node_local_state(&[serf_ok, c("web", "nginx", "critical")]).0,
            NodeLocal::NoData
        );
        assert_eq!(
            node_local_state(&[c("serfHealth", "", "critical")]).0,
            NodeLocal::NoData
        );
        assert!(is_node_service("openstack-nova-compute"));
        assert!(!is_node_service("nova-api"));
    }

    #[test]
    fn node_local_states() {
        assert_eq!(NodeLocal::from_check_status("passing"), NodeLocal::Passing);
        assert_eq!(
            NodeLocal::from_check_status("maintenance"),
            NodeLocal::Critical
        );
        assert_eq!(NodeLocal::from_check_status("bogus"), NodeLocal::NoData);
        assert_eq!(
            NodeLocal::NoData.worst(NodeLocal::Passing),
            NodeLocal::Passing
        );
        assert_eq!(
            NodeLocal::Critical.worst(NodeLocal::Passing),
            NodeLocal::Critical
        );
        assert_eq!(
            NodeLocal::Warning.worst(NodeLocal::NoData),
            NodeLocal::Warning
        );
    }
}
