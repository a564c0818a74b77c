//! `evacctl check-services`: step 1 of the runbook. Nova services (nova-compute first) and
//! Cinder services, a verdict per service, and an exit code that says whether every
//! nova-compute is enabled and up.

use std::collections::BTreeSet;
use std::time::SystemTime;

use serde::Serialize;

use crate::cli::{CheckServicesArgs, Format};
use crate::commands::Context;
use crate::core::names;
use crate::core::services::{self, Verdict};
use crate::error::CliError;
use crate::exit_codes::ExitCode;
use crate::openstack;
use crate::output;

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
    /// Other services (control plane, Cinder) that are not ok, as `binary@host`.
    pub other_problems: Vec<String>,
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
    pub summary: Summary,
}

pub fn run(ctx: &Context, args: &CheckServicesArgs) -> anyhow::Result<ExitCode> {
    let session = ctx.session()?;
    let now = SystemTime::now();

    let nova = openstack::Nova::new(session);
    let all_nova = nova.list_services(None, None)?;

    let want_cinder = args.binary.is_empty() || args.binary.iter().any(|b| b.starts_with("cinder"));
    let (all_cinder, cinder_error) = if want_cinder {
        match openstack::Cinder::new(session).list_services(None, None) {
            Ok(list) => (Some(list), None),
            Err(e) => {
                tracing::warn!("cannot list Cinder services: {e}");
                (None, Some(e.to_string()))
            }
        }
    } else {
        (None, None)
    };

    validate_filters(args, &all_nova, all_cinder.as_deref())?;

    let mut nova_rows: Vec<NovaServiceRow> = all_nova
        .into_iter()
        .filter(|s| keep(args, &s.binary, &s.host))
        .map(|s| {
            let updated = s.updated_at_time();
            NovaServiceRow {
                verdict: services::verdict(&s.status, &s.state, s.forced_down),
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
            }
        })
        .collect();
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
                    verdict: services::verdict(&s.status, &s.state, None),
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
    let code = services::check_services_exit(
        &nova_rows
            .iter()
            .filter(|r| r.binary == "nova-compute")
            .map(|r| r.verdict)
            .collect::<Vec<_>>(),
        &nova_rows
            .iter()
            .filter(|r| r.binary != "nova-compute")
            .map(|r| r.verdict)
            .chain(cinder_rows.iter().flatten().map(|r| r.verdict))
            .collect::<Vec<_>>(),
    );
    let report = Report {
        nova_services: nova_rows,
        cinder_services: cinder_rows,
        cinder_error,
        summary: Summary {
            result: code.name(),
            exit_code: code.code(),
            ..summary
        },
    };

    match ctx.format() {
        Format::Json => output::print_json(&report)?,
        Format::Table => print_tables(&report)?,
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
    let hint = names::closest_match(name, known.iter().copied())
        .map(|c| format!("; did you mean `{c}`?"))
        .unwrap_or_default();
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
    Summary {
        nova_compute_total: computes.len(),
        nova_compute_ok: computes.iter().filter(|r| r.verdict == Verdict::Ok).count(),
        failed_hosts: hosts_with(Verdict::is_failure),
        disabled_hosts: hosts_with(|v| v == Verdict::Disabled),
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

    let s = &report.summary;
    let _ = write!(
        text,
        "\nnova-compute: {} of {} ok",
        s.nova_compute_ok, s.nova_compute_total
    );
    if !s.failed_hosts.is_empty() {
        let _ = write!(text, "; down: {}", s.failed_hosts.join(", "));
    }
    if !s.disabled_hosts.is_empty() {
        let _ = write!(text, "; disabled: {}", s.disabled_hosts.join(", "));
    }
    text.push('\n');
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
