//! `evacctl restore HOST`: return a repaired host to service (the step is
//! [`crate::steps::restore`]): the checks, the changes, a confirmation, the result.

use serde::Serialize;

use crate::cli::{Format, RestoreArgs};
use crate::commands::Context;
use crate::commands::host_evacuate::{print_dry_run, service_line};
use crate::core::restore::{Change, CheckStatus};
use crate::exit_codes::ExitCode;
use crate::output;
use crate::steps::evacuate::PlannedRequest;
use crate::steps::restore::{self, Options, Survey};

#[derive(Serialize)]
struct Summary {
    /// The host is back in service (or was, with nothing to change).
    restored: bool,
    result: &'static str,
    exit_code: u8,
}

#[derive(Serialize)]
struct Report<'a> {
    #[serde(flatten)]
    survey: &'a Survey,
    dry_run: bool,
    /// With --dry-run: every request that would be sent, in order.
    requests: Vec<PlannedRequest>,
    /// What this run changed, in order.
    applied: &'a [Change],
    summary: Summary,
}

pub fn run(ctx: &Context, args: &RestoreArgs) -> anyhow::Result<ExitCode> {
    if output::rows_only() {
        return Err(crate::commands::no_rows("restore").into());
    }
    let session = ctx.session()?;
    let config = ctx.config()?;
    // One actor per host (docs/design.md 2.5), held before the survey; not for a dry run.
    // A host Nova does not know is refused before: no lock file or Consul key for a typo.
    let _held = if args.dry_run {
        None
    } else {
        crate::steps::isolate::compute_service(&session.nova(), &args.host)?;
        Some(ctx.lock_host(&args.host, args.lock.wait_lock)?)
    };
    let records = ctx.read_journal()?;
    let opts = Options {
        max_heartbeat_age: args.max_heartbeat_age,
    };
    let survey = restore::survey(session, config, &args.host, &opts, &records)?;
    let refusal = survey.refusal().map(|r| crate::commands::refusal_error(&r));
    let code = refusal.as_ref().map_or(ExitCode::Success, |e| e.code);
    if ctx.format() != Format::Json {
        print_survey(&survey)?;
    }
    for w in &survey.warnings {
        tracing::warn!("{w}");
    }

    if args.dry_run {
        let requests = survey.requests();
        match ctx.format() {
            Format::Json => output::print_json(&report(&survey, true, requests, &[], code))?,
            Format::Table | Format::Value | Format::Csv => {
                print_dry_run(&requests, refusal.as_ref(), code)
            }
        }
        return Ok(code);
    }
    if let Some(e) = refusal {
        if ctx.format() == Format::Json {
            output::print_json(&report(&survey, false, Vec::new(), &[], code))?;
        }
        return Err(e.into());
    }
    if survey.nothing_to_do() {
        return finish(ctx, &survey, &[]);
    }
    if !survey.changes.is_empty() {
        ctx.confirm(&question(&survey))?;
    }
    // From here a signal lets the change in flight finish and sends nothing new.
    let _busy = crate::interrupt::busy();
    let journal = ctx.open_journal()?;
    let applied = restore::restore(&session.nova(), &survey, &journal).map_err(|e| {
        match crate::interrupt::requested() {
            Some(s) => {
                crate::error::CliError::new(crate::commands::signal_code(s), format!("{e:#}"))
                    .into()
            }
            None => e,
        }
    })?;
    finish(ctx, &survey, &applied)
}

fn report<'a>(
    survey: &'a Survey,
    dry_run: bool,
    requests: Vec<PlannedRequest>,
    applied: &'a [Change],
    code: ExitCode,
) -> Report<'a> {
    Report {
        survey,
        dry_run,
        requests,
        applied,
        summary: Summary {
            restored: !dry_run && code.is_success(),
            result: code.name(),
            exit_code: code.code(),
        },
    }
}

fn question(survey: &Survey) -> String {
    let what: Vec<&str> = survey
        .changes
        .iter()
        .map(|c| match c {
            Change::ForceUp => "unset forced_down",
            Change::Enable => "enable",
        })
        .collect();
    let reason = match (
        &survey.service.disabled_reason,
        survey.changes.contains(&Change::Enable),
    ) {
        (Some(r), true) => format!(" (clears the disabled reason `{r}`)"),
        _ => String::new(),
    };
    format!(
        "{} nova-compute on {}{reason}, returning it to service?",
        capitalize(&what.join(" and ")),
        survey.host
    )
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn finish(ctx: &Context, survey: &Survey, applied: &[Change]) -> anyhow::Result<ExitCode> {
    match ctx.format() {
        Format::Json => output::print_json(&report(
            survey,
            false,
            Vec::new(),
            applied,
            ExitCode::Success,
        ))?,
        Format::Table | Format::Value | Format::Csv => {
            let done: Vec<&str> = applied.iter().map(|c| restore::past_tense(*c)).collect();
            if done.is_empty() {
                crate::outln!(
                    "\n{}: nothing to change in Nova (not forced down, enabled); {}",
                    survey.host,
                    if survey.needs_state_reset() {
                        "its state in the journal is cleared"
                    } else {
                        "already in service"
                    }
                );
            } else {
                crate::outln!(
                    "\n{}: nova-compute {}; back in service",
                    survey.host,
                    done.join(", ")
                );
            }
            crate::outln!("result: success (exit 0)");
        }
    }
    Ok(ExitCode::Success)
}

fn print_survey(survey: &Survey) -> anyhow::Result<()> {
    let s = &survey.service;
    crate::outln!(
        "{}",
        service_line(
            &survey.host,
            &s.status,
            &s.state,
            s.forced_down,
            s.disabled_reason.as_deref()
        )
    );
    let mut t = output::table(["Check", "Result", "Detail"]);
    for c in &survey.checks {
        let result = match c.status {
            CheckStatus::Ok => "ok",
            CheckStatus::Failed => "FAILED",
            CheckStatus::Skipped => "skipped",
        };
        t.add_row(vec![
            c.name.to_string(),
            result.to_string(),
            c.detail.clone(),
        ]);
    }
    crate::outln!();
    output::print_table(Some("Is it back?"), &t)?;
    let open: Vec<_> = survey
        .done_evacuations
        .iter()
        .chain(&survey.running_evacuations)
        .collect();
    if !open.is_empty() {
        let mut t = output::table(["Migration", "Server UUID", "Status", "Target", "Updated"]);
        for m in open {
            t.add_row(vec![
                m.id.clone(),
                m.instance_uuid.clone(),
                m.status.clone(),
                output::or_dash(m.dest_compute.as_deref()),
                output::or_dash(m.updated_at.as_deref()),
            ]);
        }
        crate::outln!();
        output::print_table(
            Some(&format!("Evacuations from {} not completed:", survey.host)),
            &t,
        )?;
    }
    let changes: Vec<&str> = survey.changes.iter().map(|c| c.action()).collect();
    crate::outln!(
        "\nChanges: {}",
        if changes.is_empty() {
            "none".to_string()
        } else {
            changes.join(", then ")
        }
    );
    Ok(())
}
