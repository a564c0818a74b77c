//! `evacctl evacuate SERVER [--target HOST]`: one server, like `nova evacuate`, but first says
//! in plain words what Nova would refuse (source still up, a state that cannot be evacuated,
//! an evacuation already running, a bad target) and never sends a second evacuation of a server
//! whose evacuation is still running. No confirmation prompt: naming one server is the
//! operator's decision, as with `nova evacuate`.

use serde::Serialize;

use crate::cli::{EvacuateArgs, Format};
use crate::commands::Context;
use crate::core::evacuable::{self, Clock, Facts, JournalState, Verdict};
use crate::error::CliError;
use crate::exit_codes::ExitCode;
use crate::journal::{self, Fields};
use crate::openstack::servers::{MigrationFilter, Server};
use crate::output;
use crate::steps::evacuate::{Outcome, PlannedRequest, check_targets, send_evacuation};

/// The result table of evacuations: `nova host-evacuate`'s columns plus Name and Target.
pub fn print_outcomes(outcomes: &[Outcome]) -> anyhow::Result<()> {
    let mut t = output::table([
        "Server UUID",
        "Name",
        "Target",
        "Evacuate Accepted",
        "Error Message",
    ]);
    for o in outcomes {
        t.add_row(vec![
            o.server_id.clone(),
            o.name.clone(),
            o.target.clone().unwrap_or_else(|| "(scheduler)".into()),
            if o.accepted { "True" } else { "False" }.to_string(),
            o.error.clone().unwrap_or_default(),
        ]);
    }
    output::print_table(None, &t)?;
    Ok(())
}

pub use crate::steps::evacuate::log_outcome;

#[derive(Serialize)]
struct Report<'a> {
    server: &'a Server,
    source_host: &'a str,
    target: Option<&'a str>,
    dry_run: bool,
    request: PlannedRequest,
    result: Option<&'a Outcome>,
    exit_code: u8,
}

pub fn run(ctx: &Context, args: &EvacuateArgs) -> anyhow::Result<ExitCode> {
    let session = ctx.session()?;
    let nova = session.nova();
    let Some(server) = nova.find_server(&args.server)? else {
        return Err(CliError::usage(format!(
            "no server named or with id `{}` (as an admin, all projects were searched); nothing was done",
            args.server
        ))
        .into());
    };
    let source = server.host().to_string();
    let services = nova.list_services(None, Some("nova-compute"))?;
    if let Some(t) = &args.target {
        check_targets(&source, std::slice::from_ref(t), &services)?;
    }
    let svc = services.iter().find(|s| s.host == source);
    if let Some(s) = svc
        && s.is_up()
        && !s.is_forced_down()
    {
        return Err(CliError::new(
            ExitCode::Refused,
            format!(
                "server {} ({}) is on {source}, whose nova-compute is up: Nova would refuse \
                 (\"Compute service of {source} is still in use\"), and evacuating from a live \
                 host corrupts shared disks. Fence {source} (`evacctl ipmi power off {source} \
                 --wait`), then force its nova-compute down (`evacctl host-evacuate {source} \
                 --force-down`, or `openstack compute service set --down {source} nova-compute`); \
                 nothing was done",
                server.id, server.name
            ),
        )
        .into());
    }
    // Guards Nova does not have: an evacuation already running (ours or anyone's), the journal.
    let migrations = nova.list_migrations(&MigrationFilter {
        instance_uuid: Some(&server.id),
        migration_type: Some("evacuation"),
        ..Default::default()
    })?;
    let latest = crate::openstack::servers::latest_per_server(&migrations);
    let records = ctx.read_journal()?;
    let journal_state = journal::evacuations_from(&records, &source)
        .remove(&server.id)
        .unwrap_or(JournalState::None);
    let facts = Facts {
        server: &server,
        host: &source,
        latest_evacuation: crate::steps::facts::migration_view(latest.get(&server.id).copied()),
        journal: journal_state,
        takeover: journal::takeover(&records, &source),
        clock: Clock::now(session.config().api_timeout),
    };
    // The operator named this server: `[evacuation]` filters do not apply.
    let no_filters = crate::config::EvacuationConfig::default();
    if let Verdict::Skip(reason) = evacuable::classify(&facts, &no_filters) {
        return Err(CliError::new(
            ExitCode::Refused,
            format!(
                "server {} ({}, {}) cannot be evacuated: {reason}; nothing was done",
                server.id, server.name, server.status
            ),
        )
        .into());
    }
    let version = nova.microversion()?;
    let request = PlannedRequest::evacuate(&server.id, args.target.clone(), version);
    if args.dry_run {
        let report = Report {
            server: &server,
            source_host: &source,
            target: args.target.as_deref(),
            dry_run: true,
            request,
            result: None,
            exit_code: 0,
        };
        match ctx.format() {
            Format::Json => output::print_json(&report)?,
            Format::Table => {
                crate::outln!(
                    "dry run: would evacuate {} ({}, {}) from {source} to {}",
                    server.id,
                    server.name,
                    server.status,
                    args.target
                        .as_deref()
                        .unwrap_or("a host the scheduler chooses")
                );
                crate::outln!(
                    "{} {} {}",
                    report.request.method,
                    report.request.path,
                    report.request.body
                );
            }
        }
        return Ok(ExitCode::Success);
    }
    let journal = ctx.open_journal()?;
    let outcome = send_evacuation(
        &nova,
        &server.id,
        &server.name,
        args.target.clone(),
        &journal,
        Fields {
            host: Some(&source),
            target: args.target.as_deref(),
            server: Some(&server.id),
            server_status: Some(&server.status),
            ..Default::default()
        },
    );
    log_outcome(&outcome);
    let code = if outcome.accepted {
        ExitCode::Success
    } else {
        ExitCode::Failure
    };
    match ctx.format() {
        Format::Json => output::print_json(&Report {
            server: &server,
            source_host: &source,
            target: args.target.as_deref(),
            dry_run: false,
            request,
            result: Some(&outcome),
            exit_code: code.code(),
        })?,
        Format::Table => print_outcomes(std::slice::from_ref(&outcome))?,
    }
    if let (false, Some(e)) = (outcome.accepted, &outcome.error) {
        // Nova's own message and request id, as `nova evacuate` prints them.
        eprintln!("evacctl: error: Nova refused the evacuation: {e}");
    }
    Ok(code)
}
