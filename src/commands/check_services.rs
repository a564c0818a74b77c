//! `evacctl check-services`: step 1 of the runbook. Nova services (nova-compute first) and
//! Cinder services, a verdict per service, and an exit code that says whether every
//! nova-compute is enabled and up.
//!
//! Beside Nova's view, the node-local view (origin D): the Consul health checks of
//! nova-compute (and libvirt) registered on each compute node, and a combined verdict per
//! host ([`network::combined_verdict`]): `api-only` (Nova lost the heartbeat, the node says
//! nova-compute runs: wait and warn, exit 5) and `node-failure` (the node-local checks are
//! critical: a fencing case, exit 4). Without Consul, or when it does not answer, the view
//! says so and the exit code is Nova's alone, as before.

use std::collections::BTreeSet;
use std::time::SystemTime;

use serde::Serialize;

use crate::cli::{CheckServicesArgs, Format};
use crate::commands::Context;
use crate::consul;
use crate::core::names;
use crate::core::network::{self, CombinedVerdict, NodeLocal};
use crate::core::services::{self, Verdict};
use crate::error::CliError;
use crate::exit_codes::ExitCode;
use crate::openstack;
use crate::output;
use crate::steps::observe;

/// A scoped thread's result; its panic goes on in the caller.
fn joined<T>(t: std::thread::ScopedJoinHandle<'_, T>) -> T {
    t.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// One Nova service, as shown (JSON field names are stable).
#[derive(Debug, Serialize)]
pub struct NovaServiceRow {
    pub id: String,
    pub binary: String,
    pub host: String,
    pub zone: String,
    pub status: String,
    pub state: String,
    pub forced_down: Option<bool>,
    pub disabled_reason: Option<String>,
    pub updated_at: Option<String>,
    pub heartbeat_age_seconds: Option<u64>,
    pub verdict: Verdict,
    /// nova-compute only: the Consul checks of the node (`null` for other services).
    pub node_local: Option<NodeLocalRow>,
    /// nova-compute only: Nova's verdict beside the node-local one.
    pub combined_verdict: Option<CombinedVerdict>,
}

/// The node-local view of one compute host.
#[derive(Debug, Serialize)]
pub struct NodeLocalRow {
    pub state: NodeLocal,
    pub reason: String,
    pub checks: Vec<NodeCheckRow>,
}

/// One Consul check on the node.
#[derive(Debug, Serialize)]
pub struct NodeCheckRow {
    pub cluster: String,
    pub node: String,
    pub check_id: String,
    pub name: String,
    pub service: String,
    pub status: String,
    pub output: String,
}

/// Where the node-local view came from.
#[derive(Debug, Serialize)]
pub struct NodeLocalView {
    /// Consul clusters asked (none: no Consul configured).
    pub clusters: Vec<String>,
    /// Clusters that could not be asked, and why.
    pub errors: Vec<String>,
}

/// One Cinder service (`host` is `host@backend` for cinder-volume).
#[derive(Debug, Serialize)]
pub struct CinderServiceRow {
    pub binary: String,
    pub host: String,
    pub backend: Option<String>,
    pub zone: String,
    pub status: String,
    pub state: String,
    pub disabled_reason: Option<String>,
    pub updated_at: Option<String>,
    pub heartbeat_age_seconds: Option<u64>,
    pub verdict: Verdict,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub nova_compute_total: usize,
    pub nova_compute_ok: usize,
    /// Hosts whose nova-compute is down or forced down.
    pub failed_hosts: Vec<String>,
    /// Hosts whose nova-compute is up but disabled.
    pub disabled_hosts: Vec<String>,
    /// Disabled as spares (`evacctl: reserved`): not a problem.
    pub reserved_hosts: Vec<String>,
    /// Other services (control plane, Cinder) that are not ok, as `binary@host`.
    pub other_problems: Vec<String>,
    /// Nova says down, the node says nova-compute runs: wait and warn.
    pub api_only_hosts: Vec<String>,
    /// The node-local checks are critical: a fencing case.
    pub node_failure_hosts: Vec<String>,
    /// nova-compute hosts without node-local data.
    pub no_node_data_hosts: Vec<String>,
    pub result: &'static str,
    pub exit_code: u8,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub nova_services: Vec<NovaServiceRow>,
    /// `null` when Cinder was not asked (a --binary filter for Nova only) or could not be read.
    pub cinder_services: Option<Vec<CinderServiceRow>>,
    /// Why Cinder's services are missing, when they are.
    pub cinder_error: Option<String>,
    pub node_local_view: NodeLocalView,
    pub summary: Summary,
}

pub fn run(ctx: &Context, args: &CheckServicesArgs) -> anyhow::Result<ExitCode> {
    let session = ctx.session()?;
    let now = SystemTime::now();

    // The node-local view is read beside Nova's; it never fails the command.
    let config = ctx.config()?;
    let clusters = consul::clusters(config).unwrap_or_else(|e| {
        tracing::warn!("no node-local view: {e}");
        Vec::new()
    });
    let want_cinder = args.binary.is_empty() || args.binary.iter().any(|b| b.starts_with("cinder"));
    // Consul needs no token: it is asked at once, beside the token (its clients' set-up, the
    // system's CA roots read for each, then costs no time after the token). The token next
    // (one request, not one per thread); then Nova's chain (version, services) and Cinder's at
    // once: the command takes the token plus the slowest of them. Cinder's answer is looked
    // at only once Nova's is known good, as when it was asked after.
    let (all_nova, cinder, observation) = std::thread::scope(|s| {
        let consul =
            s.spawn(|| observe::observe_consul(&clusters, &observe::ObserveOptions::checks()));
        let (nova, cinder) = match session.authenticate() {
            Ok(()) => {
                let cinder = want_cinder
                    .then(|| s.spawn(|| openstack::Cinder::new(session).list_services(None, None)));
                let nova = session.nova().list_services(None, None);
                (nova, cinder.map(joined))
            }
            Err(e) => (Err(e), None),
        };
        (nova, cinder, joined(consul))
    });
    let all_nova = all_nova?;
    let consul_errors: Vec<String> = observation
        .clusters
        .iter()
        .filter_map(|c| c.failure().map(ToString::to_string))
        .collect();
    for e in &consul_errors {
        tracing::warn!("node-local view: {e}");
    }

    let (all_cinder, cinder_error) = match cinder {
        Some(Ok(list)) => (Some(list), None),
        Some(Err(e)) => {
            tracing::warn!("cannot list Cinder services: {e}");
            (None, Some(e.to_string()))
        }
        None => (None, None),
    };

    validate_filters(args, &all_nova, all_cinder.as_deref())?;

    let mut nova_rows: Vec<NovaServiceRow> = all_nova
        .into_iter()
        .filter(|s| keep(args, &s.binary, &s.host))
        .map(|s| {
            let updated = s.updated_at_time();
            NovaServiceRow {
                verdict: services::verdict_with_reason(
                    &s.status,
                    &s.state,
                    s.forced_down,
                    s.disabled_reason.as_deref(),
                ),
                heartbeat_age_seconds: services::heartbeat_age(updated, now).map(|d| d.as_secs()),
                id: s.id,
                binary: s.binary,
                host: s.host,
                zone: s.zone.unwrap_or_default(),
                status: s.status,
                state: s.state,
                forced_down: s.forced_down,
                disabled_reason: s.disabled_reason,
                updated_at: s.updated_at,
                node_local: None,
                combined_verdict: None,
            }
        })
        .collect();
    for row in nova_rows.iter_mut().filter(|r| r.binary == "nova-compute") {
        let explicit = config
            .host(&row.host)
            .and_then(|h| h.consul_node.as_deref());
        let view = observation.host_node_local(&row.host, explicit);
        row.combined_verdict = Some(network::combined_verdict(row.verdict, view.state));
        row.node_local = Some(NodeLocalRow {
            state: view.state,
            reason: view.reason,
            checks: view
                .checks
                .into_iter()
                .map(|(cluster, c)| NodeCheckRow {
                    cluster,
                    node: c.node,
                    check_id: c.check_id,
                    name: c.name,
                    service: c.service_name,
                    status: c.status,
                    output: c.output,
                })
                .collect(),
        });
    }
    nova_rows.sort_by(|a, b| {
        services::binary_rank(&a.binary)
            .cmp(&services::binary_rank(&b.binary))
            .then_with(|| a.host.cmp(&b.host))
    });

    let cinder_rows = all_cinder.map(|list| {
        let mut rows: Vec<CinderServiceRow> = list
            .into_iter()
            .filter(|s| keep(args, &s.binary, s.node()))
            .map(|s| {
                let updated = s.updated_at_time();
                CinderServiceRow {
                    verdict: services::verdict_with_reason(
                        &s.status,
                        &s.state,
                        None,
                        s.disabled_reason.as_deref(),
                    ),
                    heartbeat_age_seconds: services::heartbeat_age(updated, now)
                        .map(|d| d.as_secs()),
                    backend: s.backend().map(str::to_string),
                    binary: s.binary,
                    host: s.host,
                    zone: s.zone.unwrap_or_default(),
                    status: s.status,
                    state: s.state,
                    disabled_reason: s.disabled_reason,
                    updated_at: s.updated_at,
                }
            })
            .collect();
        rows.sort_by(|a, b| a.binary.cmp(&b.binary).then_with(|| a.host.cmp(&b.host)));
        rows
    });

    let summary = summarize(&nova_rows, cinder_rows.as_deref().unwrap_or(&[]));
    let code: ExitCode = services::check_services_exit(
        &nova_rows
            .iter()
            .filter(|r| r.binary == "nova-compute")
            .map(|r| {
                r.combined_verdict
                    .map_or(r.verdict, CombinedVerdict::as_service_verdict)
            })
            .collect::<Vec<_>>(),
        &nova_rows
            .iter()
            .filter(|r| r.binary != "nova-compute")
            .map(|r| r.verdict)
            .chain(cinder_rows.iter().flatten().map(|r| r.verdict))
            .collect::<Vec<_>>(),
    )
    .into();
    let report = Report {
        nova_services: nova_rows,
        cinder_services: cinder_rows,
        cinder_error,
        node_local_view: NodeLocalView {
            clusters: observation
                .clusters
                .iter()
                .map(|c| c.name.clone())
                .collect(),
            errors: consul_errors,
        },
        summary: Summary {
            result: code.name(),
            exit_code: code.code(),
            ..summary
        },
    };

    match ctx.format() {
        Format::Json => output::print_json(&report)?,
        Format::Table | Format::Value | Format::Csv => print_tables(&report)?,
    }
    Ok(code)
}

fn keep(args: &CheckServicesArgs, binary: &str, host: &str) -> bool {
    (args.host.is_empty() || args.host.iter().any(|h| h == host))
        && (args.binary.is_empty() || args.binary.iter().any(|b| b == binary))
}

/// An unknown --host or --binary is a typo until proven otherwise: say so, with the closest
/// known name, instead of printing an empty, reassuring table.
fn validate_filters(
    args: &CheckServicesArgs,
    nova: &[openstack::nova::ComputeService],
    cinder: Option<&[openstack::cinder::VolumeService]>,
) -> anyhow::Result<()> {
    let mut hosts: BTreeSet<&str> = nova.iter().map(|s| s.host.as_str()).collect();
    let mut binaries: BTreeSet<&str> = nova.iter().map(|s| s.binary.as_str()).collect();
    for s in cinder.unwrap_or(&[]) {
        // A cinder-volume's host is `node@backend`: the node is what --host means.
        hosts.insert(s.node());
        binaries.insert(s.binary.as_str());
    }
    for h in &args.host {
        if !hosts.contains(h.as_str()) {
            return Err(unknown("host", h, &hosts).into());
        }
    }
    for b in &args.binary {
        // Cinder binaries are unknown when Cinder could not be asked: nothing to check then.
        let unverifiable = b.starts_with("cinder") && cinder.is_none();
        if !binaries.contains(b.as_str()) && !unverifiable {
            return Err(unknown("binary", b, &binaries).into());
        }
    }
    Ok(())
}

fn unknown(what: &str, name: &str, known: &BTreeSet<&str>) -> CliError {
    let hint = names::did_you_mean(name, known.iter().copied());
    let list: Vec<&str> = known.iter().copied().collect();
    CliError::usage(format!(
        "unknown {what} `{name}`: no Nova or Cinder service has it{hint} (known: {})",
        list.join(", ")
    ))
}

fn summarize(nova: &[NovaServiceRow], cinder: &[CinderServiceRow]) -> Summary {
    let computes: Vec<&NovaServiceRow> =
        nova.iter().filter(|r| r.binary == "nova-compute").collect();
    let hosts_with = |pred: fn(Verdict) -> bool| -> Vec<String> {
        let set: BTreeSet<&str> = computes
            .iter()
            .filter(|r| pred(r.verdict))
            .map(|r| r.host.as_str())
            .collect();
        set.into_iter().map(String::from).collect()
    };
    let other_problems = nova
        .iter()
        .filter(|r| r.binary != "nova-compute" && r.verdict != Verdict::Ok)
        .map(|r| format!("{}@{} ({})", r.binary, r.host, r.verdict.as_str()))
        .chain(
            cinder
                .iter()
                .filter(|r| r.verdict != Verdict::Ok)
                .map(|r| format!("{} {} ({})", r.binary, r.host, r.verdict.as_str())),
        )
        .collect();
    let combined_hosts = |v: CombinedVerdict| -> Vec<String> {
        let set: BTreeSet<&str> = computes
            .iter()
            .filter(|r| r.combined_verdict == Some(v))
            .map(|r| r.host.as_str())
            .collect();
        set.into_iter().map(String::from).collect()
    };
    Summary {
        api_only_hosts: combined_hosts(CombinedVerdict::ApiOnly),
        node_failure_hosts: combined_hosts(CombinedVerdict::NodeFailure),
        no_node_data_hosts: computes
            .iter()
            .filter(|r| {
                r.node_local
                    .as_ref()
                    .is_none_or(|n| n.state == NodeLocal::NoData)
            })
            .map(|r| r.host.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        nova_compute_total: computes.len(),
        nova_compute_ok: computes.iter().filter(|r| r.verdict == Verdict::Ok).count(),
        failed_hosts: hosts_with(Verdict::is_failure),
        disabled_hosts: hosts_with(|v| v == Verdict::Disabled),
        reserved_hosts: hosts_with(|v| v == Verdict::Reserved),
        other_problems,
        result: "",
        exit_code: 0,
    }
}

fn age(secs: Option<u64>) -> String {
    secs.map(|s| output::short_duration(std::time::Duration::from_secs(s)))
        .unwrap_or_else(|| "-".into())
}

fn print_tables(report: &Report) -> anyhow::Result<()> {
    use std::fmt::Write as _;
    let mut text = String::new();
    let mut t = output::table([
        "Binary",
        "Host",
        "Zone",
        "Status",
        "State",
        "Forced Down",
        "Disabled Reason",
        "Heartbeat",
        "Verdict",
    ]);
    for r in &report.nova_services {
        t.add_row(vec![
            r.binary.clone(),
            r.host.clone(),
            r.zone.clone(),
            r.status.clone(),
            r.state.clone(),
            r.forced_down.map_or("-".into(), |f| f.to_string()),
            output::or_dash(r.disabled_reason.as_deref()),
            age(r.heartbeat_age_seconds),
            r.verdict.as_str().to_string(),
        ]);
    }
    if output::rows_only() {
        return crate::commands::print_listing(None, &t);
    }
    let t = output::selected(&t).map_err(crate::error::CliError::usage)?;
    text.push_str(&output::titled("Nova services:", &t));

    match (&report.cinder_services, &report.cinder_error) {
        (Some(rows), _) => {
            let mut t = output::table([
                "Binary",
                "Host",
                "Zone",
                "Status",
                "State",
                "Heartbeat",
                "Verdict",
            ]);
            for r in rows {
                t.add_row(vec![
                    r.binary.clone(),
                    r.host.clone(),
                    r.zone.clone(),
                    r.status.clone(),
                    r.state.clone(),
                    age(r.heartbeat_age_seconds),
                    r.verdict.as_str().to_string(),
                ]);
            }
            text.push('\n');
            text.push_str(&output::titled("Cinder services:", &t));
        }
        (None, Some(err)) => {
            let _ = writeln!(text, "\nCinder services: unavailable ({err})");
        }
        (None, None) => {}
    }

    print_node_local(report, &mut text);

    let s = &report.summary;
    let _ = write!(
        text,
        "\nnova-compute: {} of {} ok",
        s.nova_compute_ok, s.nova_compute_total
    );
    if !s.failed_hosts.is_empty() {
        let _ = write!(text, "; down: {}", s.failed_hosts.join(", "));
    }
    if !s.reserved_hosts.is_empty() {
        let _ = write!(text, "; reserved: {}", s.reserved_hosts.join(", "));
    }
    if !s.disabled_hosts.is_empty() {
        let _ = write!(text, "; disabled: {}", s.disabled_hosts.join(", "));
    }
    text.push('\n');
    if !s.node_failure_hosts.is_empty() {
        let _ = writeln!(
            text,
            "node-failure (node-local checks critical: a fencing case): {}",
            s.node_failure_hosts.join(", ")
        );
    }
    if !s.api_only_hosts.is_empty() {
        let _ = writeln!(
            text,
            "api-only (Nova lost the heartbeat, the node says nova-compute runs: wait): {}",
            s.api_only_hosts.join(", ")
        );
    }
    if !s.other_problems.is_empty() {
        let _ = writeln!(
            text,
            "other services not ok: {}",
            s.other_problems.join(", ")
        );
    }
    let _ = writeln!(text, "result: {} (exit {})", s.result, s.exit_code);
    output::emit(&text)?;
    Ok(())
}

/// The second view: each compute host, Nova's verdict beside the node-local checks.
fn print_node_local(report: &Report, text: &mut String) {
    use std::fmt::Write as _;
    let view = &report.node_local_view;
    text.push('\n');
    if view.clusters.is_empty() {
        text.push_str("Node-local view: no node-local data (no Consul cluster configured)\n");
        return;
    }
    let mut t = output::table(["Host", "Nova", "Node-local", "Node-local checks", "Verdict"]);
    for r in report
        .nova_services
        .iter()
        .filter(|r| r.binary == "nova-compute")
    {
        let (state, why) = match &r.node_local {
            Some(n) if n.state == NodeLocal::NoData => ("no data".to_string(), n.reason.clone()),
            Some(n) => (n.state.as_str().to_string(), n.reason.clone()),
            None => ("no data".to_string(), String::new()),
        };
        t.add_row(vec![
            r.host.clone(),
            r.verdict.as_str().to_string(),
            state,
            why,
            r.combined_verdict.map_or_else(
                || r.verdict.as_str().to_string(),
                |v| v.as_str().to_string(),
            ),
        ]);
    }
    text.push_str(&output::titled(
        &format!(
            "Compute hosts, Nova's view and the node-local view (Consul: {}):",
            view.clusters.join(", ")
        ),
        &t,
    ));
    for e in &view.errors {
        let _ = writeln!(text, "  node-local view incomplete: {e}");
    }
}
