//! `evacctl evacuate SERVER [--target HOST]`: one server, like `nova evacuate`, but first says
//! in plain words what Nova would refuse (source still up, a state that cannot be evacuated,
//! an evacuation already running, a bad target) and never sends a second evacuation of a server
//! whose evacuation is still running. No confirmation prompt: naming one server is the
//! operator's decision, as with `nova evacuate`.

use serde::Serialize;

use crate::cli::{EvacuateArgs, Format};
use crate::commands::Context;
use crate::core::evacuable::FenceCheck;
use crate::exit_codes::ExitCode;
use crate::openstack::servers::Server;
use crate::output;
use crate::steps::StepContext;
use crate::steps::evacuate::{Outcome, PlannedRequest, evacuate_server};

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

/// The fence check in one line: its verdict and what each source said.
pub fn fence_text(check: &FenceCheck) -> String {
    let (verdict, why) = match check {
        FenceCheck::Fenced(w) => ("fenced", w),
        FenceCheck::Unconfirmed(w) => ("unconfirmed", w),
        FenceCheck::MayBeAlive(w) => ("may be alive", w),
    };
    format!("{verdict}: {}", why.join("; "))
}

#[derive(Serialize)]
struct Report<'a> {
    server: &'a Server,
    source_host: &'a str,
    target: Option<&'a str>,
    dry_run: bool,
    request: PlannedRequest,
    fence_check: &'a FenceCheck,
    result: Option<&'a Outcome>,
    exit_code: u8,
}

pub fn run(ctx: &Context, args: &EvacuateArgs) -> anyhow::Result<ExitCode> {
    if output::rows_only() {
        return Err(crate::commands::no_rows("evacuate").into());
    }
    let session = ctx.session()?;
    let config = ctx.config()?;
    let journal = if args.dry_run {
        None
    } else {
        Some(ctx.open_journal()?)
    };
    // One actor per host (docs/design.md 2.5): the server's host is found first and held; the step
    // then reads everything again under the lock. An unknown server is the step's to refuse.
    let held = match &journal {
        None => None,
        Some(_) => match session.nova().find_server(&args.server)? {
            Some(s) if !s.host().is_empty() => Some(ctx.lock_host(s.host(), args.lock.wait_lock)?),
            _ => None,
        },
    };
    // A signal from here lets the request in flight finish and be journaled.
    let _busy = crate::interrupt::busy();
    let cx = StepContext::new(config, Some(session), journal.as_ref(), ctx.journal_path()?);
    let done = evacuate_server(
        &cx,
        &args.server,
        args.target.as_deref(),
        held.as_ref().map(|h| h.host()),
        args.no_fence_check,
    )
    .into_result()?;
    let (server, source) = (&done.server, done.source.as_str());
    let Some(outcome) = &done.outcome else {
        match ctx.format() {
            Format::Json => output::print_json(&Report {
                server,
                source_host: source,
                target: args.target.as_deref(),
                dry_run: true,
                request: done.request.clone(),
                fence_check: &done.fence,
                result: None,
                exit_code: 0,
            })?,
            Format::Table | Format::Value | Format::Csv => {
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
                    done.request.method,
                    done.request.path,
                    done.request.body
                );
                crate::outln!("fence check: {}", fence_text(&done.fence));
            }
        }
        return Ok(ExitCode::Success);
    };
    log_outcome(outcome);
    let code = if let Some(s) = crate::interrupt::requested() {
        if outcome.not_sent {
            eprintln!(
                "evacctl: stopped by {} before sending: nothing was sent (run it again to send it)",
                s.name()
            );
        }
        crate::commands::signal_code(s)
    } else if let Some(holder) = held.as_ref().and_then(crate::lock::HostLock::lost_to) {
        eprintln!(
            "evacctl: host {source} was taken by {holder} before the request: nothing was sent"
        );
        ExitCode::Locked
    } else if outcome.accepted {
        ExitCode::Success
    } else {
        ExitCode::Failure
    };
    match ctx.format() {
        Format::Json => output::print_json(&Report {
            server,
            source_host: source,
            target: args.target.as_deref(),
            dry_run: false,
            request: done.request.clone(),
            fence_check: &done.fence,
            result: Some(outcome),
            exit_code: code.code(),
        })?,
        Format::Table | Format::Value | Format::Csv => {
            print_outcomes(std::slice::from_ref(outcome))?
        }
    }
    if let (false, false, Some(e)) = (outcome.accepted, outcome.not_sent, &outcome.error) {
        // Nova's own message and request id, as `nova evacuate` prints them.
        eprintln!("evacctl: error: Nova refused the evacuation: {e}");
    }
    Ok(code)
}
