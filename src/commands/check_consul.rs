//! `evacctl check-consul`: step 0 of the runbook. Each Consul cluster (leader, raft peers
//! and voters, autopilot health, members by status), then one row per compute host and one
//! column per cluster with the host's verdict (origin D), and the observer verdict.
//!
//! Choices an operator should know:
//! - The compute hosts are Nova's nova-compute hosts when OpenStack credentials are
//!   configured and Nova answers; otherwise (Nova down, no cloud configured) the hosts of the
//!   configuration's `[hosts]` plus the Consul client agents (members that are not Consul
//!   servers), so that step 0 still works when the control plane is in trouble. The output
//!   says which (`hosts_source`).
//! - A host without a Consul node in a cluster is `unknown` there, never assumed alive.
//! - Exit code, most urgent first: 7 observer isolated; 8 / 9 / 1 a cluster could not be asked
//!   (unreachable, ACL refused, malformed answer); 6 a cluster without leader or quorum; 4 a
//!   host failed; 5 a host degraded or unknown, or a cluster degraded; 0 all healthy.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::cli::{CheckConsulArgs, Format};
use crate::commands::Context;
use crate::config::{Config, ConsulCluster, ConsulRole};
use crate::consul;
use crate::core::Finding;
use crate::core::names;
use crate::core::network::{self, ClusterVerdict, HostVerdict, NetState, ObserverVerdict};
use crate::core::nodes;
use crate::error::CliError;
use crate::exit_codes::ExitCode;
use crate::output;
use crate::steps::observe::{
    self, ClusterObservation, ConsulObservation, MemberCounts, consul_finding,
};

/// One Consul cluster, as shown (JSON field names are stable).
#[derive(Debug, Serialize)]
pub struct ClusterRow {
    pub name: String,
    pub role: ConsulRole,
    pub addresses: Vec<String>,
    /// The address that answered: whose agent's view this is.
    pub address: Option<String>,
    pub reachable: bool,
    /// Why the cluster could not be asked.
    pub error: Option<String>,
    pub leader: Option<String>,
    pub peers: Option<Vec<String>>,
    pub voters: Option<usize>,
    pub autopilot: Option<AutopilotRow>,
    pub members: Option<MemberCounts>,
    pub verdict: ClusterVerdict,
    pub reason: String,
    /// Questions that failed without making the cluster unusable (peers, autopilot).
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct AutopilotRow {
    pub healthy: bool,
    pub failure_tolerance: i64,
    pub servers: Vec<AutopilotServerRow>,
}

#[derive(Debug, Serialize)]
pub struct AutopilotServerRow {
    pub name: String,
    pub address: String,
    pub leader: bool,
    pub voter: bool,
    pub healthy: bool,
    pub serf_status: String,
}

/// A host in one network.
#[derive(Debug, Serialize)]
pub struct NetworkCell {
    pub role: ConsulRole,
    pub state: NetState,
    /// The Consul node the host was matched with.
    pub node: Option<String>,
}

/// One compute host (JSON field names are stable).
#[derive(Debug, Serialize)]
pub struct HostRow {
    pub host: String,
    /// By cluster name.
    pub networks: BTreeMap<String, NetworkCell>,
    pub verdict: HostVerdict,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct ObserverRow {
    pub verdict: ObserverVerdict,
    pub reasons: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub hosts_total: usize,
    pub hosts_healthy: usize,
    pub failed_hosts: Vec<String>,
    pub degraded_hosts: Vec<String>,
    pub unknown_hosts: Vec<String>,
    pub clusters_without_quorum: Vec<String>,
    pub clusters_with_errors: Vec<String>,
    pub observer: ObserverVerdict,
    pub result: &'static str,
    pub exit_code: u8,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub clusters: Vec<ClusterRow>,
    /// `nova`: Nova's nova-compute hosts; `consul`: the configuration's hosts and the Consul
    /// client agents (Nova not asked or not answering: see `nova_error`).
    pub hosts_source: &'static str,
    pub nova_error: Option<String>,
    pub hosts: Vec<HostRow>,
    pub observer: ObserverRow,
    pub summary: Summary,
}

pub fn run(ctx: &Context, args: &CheckConsulArgs) -> anyhow::Result<ExitCode> {
    let config = ctx.config()?;
    let clusters = select_clusters(&consul::clusters(config)?, &args.cluster)?;

    // Nova's list and Consul's answers are fetched side by side.
    let session = match ctx.session() {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::debug!("no OpenStack session ({e:#}): the hosts come from Consul");
            None
        }
    };
    let observe::Observation {
        nova,
        consul: observation,
    } = observe::observe(
        session,
        Some("nova-compute"),
        &clusters,
        &observe::ObserveOptions::cluster_state(),
    );
    let (hosts_source, nova_hosts, nova_error) = match nova {
        Some(Ok(list)) => {
            let set: BTreeSet<String> = list.into_iter().map(|s| s.host).collect();
            ("nova", Some(set), None)
        }
        Some(Err(e)) => {
            tracing::warn!(
                "cannot list Nova's compute hosts ({e}): the hosts come from Consul and the configuration"
            );
            ("consul", None, Some(e.to_string()))
        }
        None => (
            "consul",
            None,
            Some("no OpenStack cloud configured".to_string()),
        ),
    };
    let mut hosts: Vec<String> = match nova_hosts {
        Some(set) => set.into_iter().collect(),
        None => hosts_from_consul(config, &observation),
    };
    if !args.host.is_empty() {
        let known: BTreeSet<&str> = hosts.iter().map(String::as_str).collect();
        for h in &args.host {
            if !known.contains(h.as_str()) {
                return Err(unknown("host", h, &known, hosts_source).into());
            }
        }
        hosts.retain(|h| args.host.contains(h));
    }

    for c in &observation.clusters {
        if let Some(e) = c.failure() {
            report_error(&e.to_string());
        }
    }
    let (report, code) = build_report(config, &observation, &hosts, hosts_source, nova_error);
    match ctx.format() {
        Format::Json => output::print_json(&report)?,
        Format::Table | Format::Value | Format::Csv => print_tables(&report)?,
    }
    Ok(code)
}

/// An error line on stderr (and in the log file) that does not stop the command.
pub fn report_error(message: &str) {
    crate::logging::final_error(message);
}

/// The clusters named by `--cluster` (all when none), in the configuration's order.
fn select_clusters(all: &[ConsulCluster], wanted: &[String]) -> anyhow::Result<Vec<ConsulCluster>> {
    if all.is_empty() {
        return Err(CliError::config(format!(
            "no Consul cluster configured: add [consul.NAME] tables to the configuration \
             (see examples/config.toml) or set {}",
            consul::ENV_ADDR
        ))
        .into());
    }
    let known: BTreeSet<&str> = all.iter().map(|c| c.name.as_str()).collect();
    for w in wanted {
        if !known.contains(w.as_str()) {
            return Err(unknown("cluster", w, &known, "config").into());
        }
    }
    Ok(all
        .iter()
        .filter(|c| wanted.is_empty() || wanted.contains(&c.name))
        .cloned()
        .collect())
}

fn unknown(what: &str, name: &str, known: &BTreeSet<&str>, source: &str) -> CliError {
    let hint = names::did_you_mean(name, known.iter().copied());
    let whose = match (what, source) {
        ("cluster", _) => "no Consul cluster is configured with that name",
        (_, "nova") => "Nova has no nova-compute on it",
        _ => "neither the configuration nor Consul knows it",
    };
    let list: Vec<&str> = known.iter().copied().collect();
    CliError::usage(format!(
        "unknown {what} `{name}`: {whose}{hint} (known: {})",
        if list.is_empty() {
            "none".to_string()
        } else {
            list.join(", ")
        }
    ))
}

/// Without Nova: the configured hosts, and every Consul client agent under its Nova name when
/// the configuration maps it, else under its node name.
fn hosts_from_consul(config: &Config, observation: &ConsulObservation) -> Vec<String> {
    let configured: Vec<(&str, Option<&str>)> = config
        .hosts()
        .map(|h| (h.name(), h.consul_node.as_deref()))
        .collect();
    let mut hosts: BTreeSet<String> = configured.iter().map(|(h, _)| h.to_string()).collect();
    let index = nodes::HostIndex::new(&configured);
    for c in &observation.clusters {
        for m in c.members().unwrap_or(&[]).iter().filter(|m| !m.is_server()) {
            let host = index.host_for(&m.name).unwrap_or(&m.name);
            hosts.insert(host.to_string());
        }
    }
    hosts.into_iter().collect()
}

fn build_report(
    config: &Config,
    observation: &ConsulObservation,
    hosts: &[String],
    hosts_source: &'static str,
    nova_error: Option<String>,
) -> (Report, ExitCode) {
    let clusters: Vec<ClusterRow> = observation.clusters.iter().map(cluster_row).collect();
    let facts: Vec<network::ObserverFacts> = observation
        .clusters
        .iter()
        .filter(|c| c.failure().is_none())
        .filter_map(ClusterObservation::observer_facts)
        .collect();
    let (observer, reasons) = network::observer_verdict(&facts);
    // A cut-off agent's view of its cluster is not evidence about the hosts: those cells
    // still show what it saw, but the verdicts take them as unknown.
    let isolated: BTreeSet<&str> = facts
        .iter()
        .filter(|f| {
            network::observer_verdict(std::slice::from_ref(*f)).0 == ObserverVerdict::Isolated
        })
        .map(|f| f.cluster.as_str())
        .collect();
    let host_rows: Vec<HostRow> = hosts
        .iter()
        .map(|h| {
            let explicit = config.host(h).and_then(|c| c.consul_node.as_deref());
            let cells = observation.host_networks(h, explicit);
            let views: Vec<network::NetworkView> = cells
                .iter()
                .map(|c| {
                    let mut v = c.view.clone();
                    if isolated.contains(v.cluster.as_str()) {
                        v.state = NetState::Unknown;
                    }
                    v
                })
                .collect();
            let a = network::host_verdict(&views);
            let mut reason = a.reason;
            if !isolated.is_empty() {
                let list: Vec<&str> = isolated.iter().copied().collect();
                reason.push_str(&format!(
                    " (the view of {} is not used: this controller looks cut off)",
                    list.join(", ")
                ));
            }
            // Clusters that answered but have no node for this host (a naming problem, or a
            // host without an agent).
            let missing: Vec<String> = cells
                .iter()
                .zip(&observation.clusters)
                .filter(|(cell, c)| cell.node.is_none() && c.failure().is_none())
                .map(|(cell, _)| cell.view.cluster.clone())
                .collect();
            if a.verdict == HostVerdict::Unknown && !missing.is_empty() {
                reason.push_str(&format!(
                    " (no Consul node matches `{h}` in {})",
                    missing.join(", ")
                ));
            }
            HostRow {
                host: h.clone(),
                networks: cells
                    .into_iter()
                    .map(|c| {
                        (
                            c.view.cluster,
                            NetworkCell {
                                role: c.view.role,
                                state: c.view.state,
                                node: c.node,
                            },
                        )
                    })
                    .collect(),
                verdict: a.verdict,
                reason,
            }
        })
        .collect();
    let hosts_with = |v: HostVerdict| -> Vec<String> {
        host_rows
            .iter()
            .filter(|h| h.verdict == v)
            .map(|h| h.host.clone())
            .collect()
    };
    let summary = Summary {
        hosts_total: host_rows.len(),
        hosts_healthy: hosts_with(HostVerdict::Healthy).len(),
        failed_hosts: hosts_with(HostVerdict::Failed),
        degraded_hosts: hosts_with(HostVerdict::Degraded),
        unknown_hosts: hosts_with(HostVerdict::Unknown),
        clusters_without_quorum: clusters
            .iter()
            .filter(|c| c.verdict.lacks_quorum())
            .map(|c| c.name.clone())
            .collect(),
        clusters_with_errors: clusters
            .iter()
            .filter(|c| c.verdict == ClusterVerdict::Error)
            .map(|c| c.name.clone())
            .collect(),
        observer,
        result: "",
        exit_code: 0,
    };
    let mut report = Report {
        clusters,
        hosts_source,
        nova_error,
        hosts: host_rows,
        observer: ObserverRow {
            verdict: observer,
            reasons,
        },
        summary,
    };
    let code = exit_code_for(observation, &report);
    report.summary.result = code.name();
    report.summary.exit_code = code.code();
    (report, code)
}

fn exit_code_for(observation: &ConsulObservation, report: &Report) -> ExitCode {
    let clusters: Vec<(ClusterVerdict, Option<Finding>)> = observation
        .clusters
        .iter()
        .zip(&report.clusters)
        .map(|(o, row)| (row.verdict, o.failure().map(consul_finding)))
        .collect();
    let hosts: Vec<HostVerdict> = report.hosts.iter().map(|h| h.verdict).collect();
    network::check_consul_exit(report.observer.verdict, &clusters, &hosts).into()
}

fn cluster_row(c: &ClusterObservation) -> ClusterRow {
    let (verdict, reason) = network::cluster_verdict(&c.cluster_facts());
    let warnings: Vec<String> = [
        c.peers.as_ref().and_then(|r| r.as_ref().err()),
        // Without a leader, autopilot's "No cluster leader" only repeats the verdict.
        c.autopilot
            .as_ref()
            .and_then(|r| r.as_ref().err())
            .filter(|e| !e.is_no_leader()),
        c.leader
            .as_ref()
            .and_then(|r| r.as_ref().err())
            .filter(|e| !e.is_no_leader()),
    ]
    .into_iter()
    .flatten()
    .map(ToString::to_string)
    .collect();
    let autopilot = c.autopilot().map(|a| AutopilotRow {
        healthy: a.healthy,
        failure_tolerance: a.failure_tolerance,
        servers: a
            .servers
            .iter()
            .map(|s| AutopilotServerRow {
                name: s.name.clone(),
                address: s.address.clone(),
                leader: s.leader,
                voter: s.voter,
                healthy: s.healthy,
                serf_status: s.serf_status.clone(),
            })
            .collect(),
    });
    ClusterRow {
        name: c.name.clone(),
        role: c.role,
        addresses: c.addresses.clone(),
        address: c.address.clone(),
        reachable: c.error.is_none(),
        error: c.failure().map(ToString::to_string),
        leader: c
            .leader
            .as_ref()
            .and_then(|r| r.as_ref().ok())
            .cloned()
            .flatten(),
        peers: c.peers.as_ref().and_then(|r| r.as_ref().ok()).cloned(),
        voters: c
            .autopilot_facts()
            .map(|a| a.voters)
            .or_else(|| c.peers.as_ref().and_then(|r| r.as_ref().ok()).map(Vec::len)),
        autopilot,
        members: c.members().map(|_| c.member_counts()),
        verdict,
        reason,
        warnings,
    }
}

fn members_text(m: &Option<MemberCounts>) -> String {
    let Some(m) = m else { return "-".into() };
    let mut parts = vec![format!("{} alive", m.alive)];
    for (n, what) in [
        (m.leaving, "leaving"),
        (m.left, "left"),
        (m.failed, "failed"),
        (m.other, "other"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    parts.join(", ")
}

fn print_tables(report: &Report) -> anyhow::Result<()> {
    let mut t = output::table([
        "Cluster",
        "Role",
        "Address",
        "Leader",
        "Peers",
        "Voters",
        "Autopilot",
        "Tolerance",
        "Members",
        "Verdict",
    ]);
    for c in &report.clusters {
        let dash = || "-".to_string();
        t.add_row(vec![
            c.name.clone(),
            c.role.to_string(),
            c.address.clone().unwrap_or_else(|| c.addresses.join(", ")),
            match (&c.leader, c.reachable) {
                (Some(l), _) => l.clone(),
                (None, true) => "(none)".into(),
                (None, false) => dash(),
            },
            c.peers.as_ref().map_or_else(dash, |p| p.len().to_string()),
            c.voters.map_or_else(dash, |v| v.to_string()),
            c.autopilot.as_ref().map_or_else(dash, |a| {
                if a.healthy {
                    "healthy".into()
                } else {
                    "unhealthy".into()
                }
            }),
            c.autopilot
                .as_ref()
                .map_or_else(dash, |a| a.failure_tolerance.to_string()),
            members_text(&c.members),
            c.verdict.to_string(),
        ]);
    }
    output::print_table(Some("Consul clusters:"), &t)?;
    for c in report
        .clusters
        .iter()
        .filter(|c| c.verdict != ClusterVerdict::Healthy)
    {
        crate::outln!("  {}: {}", c.name, c.reason);
    }
    for c in &report.clusters {
        for w in &c.warnings {
            crate::outln!("  {}: warning: {w}", c.name);
        }
    }

    let cluster_names: Vec<&str> = report.clusters.iter().map(|c| c.name.as_str()).collect();
    let mut headers = vec!["Host".to_string(), "Consul node".to_string()];
    headers.extend(report.clusters.iter().map(|c| {
        if c.name == c.role.as_str() {
            c.name.clone()
        } else {
            format!("{} ({})", c.name, c.role)
        }
    }));
    headers.extend(["Verdict".to_string(), "Reason".to_string()]);
    let mut t = output::table(headers);
    for h in &report.hosts {
        let nodes: BTreeSet<&str> = h
            .networks
            .values()
            .filter_map(|n| n.node.as_deref())
            .collect();
        let mut row = vec![
            h.host.clone(),
            if nodes.is_empty() {
                "-".into()
            } else {
                nodes.into_iter().collect::<Vec<_>>().join(", ")
            },
        ];
        row.extend(cluster_names.iter().map(|name| {
            h.networks
                .get(*name)
                .map_or_else(|| "unknown".to_string(), |n| n.state.to_string())
        }));
        row.extend([h.verdict.to_string(), h.reason.clone()]);
        t.add_row(row);
    }
    crate::outln!();
    let title = match (report.hosts_source, &report.nova_error) {
        ("nova", _) => "Compute hosts (Nova) by network:".to_string(),
        (_, Some(why)) => {
            format!("Hosts (from Consul and the configuration; Nova not used: {why}) by network:")
        }
        _ => "Hosts (from Consul and the configuration) by network:".to_string(),
    };
    if report.hosts.is_empty() {
        crate::outln!("{title} none");
    } else {
        crate::commands::print_listing(Some(&title), &t)?;
    }

    crate::outln!();
    match report.observer.verdict {
        ObserverVerdict::Ok => {
            crate::outln!("observer: ok (this controller's Consul agents see their clusters)")
        }
        ObserverVerdict::Isolated => {
            crate::outln!(
                "observer: ISOLATED: the problem is likely on this controller's side; watch takes no action"
            );
            for r in &report.observer.reasons {
                crate::outln!("  {r}");
            }
        }
    }
    let s = &report.summary;
    let mut line = format!("hosts: {} of {} healthy", s.hosts_healthy, s.hosts_total);
    for (list, what) in [
        (&s.failed_hosts, "failed"),
        (&s.degraded_hosts, "degraded"),
        (&s.unknown_hosts, "unknown"),
    ] {
        if !list.is_empty() {
            line.push_str(&format!("; {what}: {}", list.join(", ")));
        }
    }
    crate::outln!("{line}");
    if !s.clusters_without_quorum.is_empty() {
        crate::outln!(
            "clusters without leader or quorum: {}",
            s.clusters_without_quorum.join(", ")
        );
    }
    if !s.clusters_with_errors.is_empty() {
        crate::outln!(
            "clusters not answering: {}",
            s.clusters_with_errors.join(", ")
        );
    }
    crate::outln!("result: {} (exit {})", s.result, s.exit_code);
    Ok(())
}
