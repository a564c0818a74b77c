//! `evacctl host-evacuate HOST`: every evacuable server of a failed host, after a Placement
//! capacity plan and a confirmation, in parallel, journaled, never twice.

use serde::Serialize;

use crate::cli::{Format, HostEvacuateArgs};
use crate::commands::Context;
use std::time::Duration;

use crate::commands::evacuate::{fence_text, log_outcome, print_outcomes};
use crate::commands::refusal_error;
use crate::core::capacity::{self, SHOWN};
use crate::core::evacuable::FenceCheck;
use crate::error::CliError;
use crate::exit_codes::ExitCode;
use crate::openstack::nova::ServiceUpdate;
use crate::output;
use crate::steps::StepContext;
use crate::steps::evacuate::{self, Evacuation, Options, Outcome, PlannedRequest, Survey};
use crate::steps::isolate::{self, Isolated};

#[derive(Serialize)]
struct Summary {
    servers: usize,
    evacuable: usize,
    sent: usize,
    accepted: usize,
    failed: usize,
    /// Kept back by SIGINT/SIGTERM (journaled `not-sent`: a re-run sends them).
    not_sent: usize,
    /// Dropped just before sending: another run's evacuation showed up meanwhile.
    dropped: usize,
    not_fitting: usize,
    skipped: usize,
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
    isolation: Option<Isolated>,
    /// What said the host is fenced, or may be alive (`null`: not asked, e.g. refused before).
    fence_check: Option<FenceCheck>,
    results: &'a [Outcome],
    /// Reserved hosts this run enabled (consumed by the failure).
    spares_enabled: &'a [String],
    summary: Summary,
}

pub fn run(ctx: &Context, args: &HostEvacuateArgs) -> anyhow::Result<ExitCode> {
    if output::rows_only() && !args.dry_run {
        return Err(crate::commands::no_rows("host-evacuate (without --dry-run)").into());
    }
    let session = ctx.session()?;
    let config = ctx.config()?;
    // One actor per host (docs/design.md 2.5): held before the survey, so that what it plans is
    // what no other run changes meanwhile. A dry run changes nothing and takes no lock.
    // A host Nova does not know is refused before: no lock file or Consul key is made for a
    // typo. The survey lists the services again under the lock: what it plans from must be
    // read while no other run can change it.
    let _held = if args.dry_run {
        None
    } else {
        crate::steps::isolate::compute_service(&session.nova(), &args.host)?;
        Some(ctx.lock_host(&args.host, args.lock.wait_lock)?)
    };
    let cx = StepContext::new(config, Some(session), None, ctx.journal_path()?);
    let concurrency = usize::from(args.concurrency);
    let opts = Options {
        host: &args.host,
        targets: &args.target,
        allow_partial: args.allow_partial,
        filters: &config.evacuation,
        concurrency,
    };
    let mut survey = evacuate::survey_host(&cx, &opts).into_result()?;
    let isolate_first = args.force_down;
    let version = session.nova().microversion()?;
    let mut requests = Vec::new();
    if isolate_first {
        let id = &survey.source.service_id;
        let reason = isolate::disabled_reason(std::time::SystemTime::now());
        requests.push(PlannedRequest::service(
            id,
            &ServiceUpdate::force_down(true),
        ));
        requests.push(PlannedRequest::service(
            id,
            &ServiceUpdate::disable(Some(&reason)),
        ));
    }
    requests.extend(
        survey
            .spares_to_enable()
            .map(|x| PlannedRequest::service(&x.service_id, &ServiceUpdate::enable())),
    );
    requests.extend(
        survey
            .to_send()
            .into_iter()
            .map(|e| survey.request_for(e, version)),
    );

    if ctx.format() != Format::Json {
        print_survey(&survey)?;
    }
    // The source is checked as it will be: forced down first when --force-down is given.
    let preflight = if isolate_first {
        let mut s = survey.clone();
        s.source.forced_down = Some(true);
        s.preflight(args.allow_partial)
    } else {
        survey.preflight(args.allow_partial)
    }
    .map_err(|r| refusal_error(&r));
    // The fence gate before anything is asked or sent. With --force-down the host is fenced
    // first: then the gate runs after the fence (below), and here it only informs.
    let fence = if preflight.is_err() {
        None
    } else if isolate_first {
        // Fenced first, gated after (below): a dry run shows what the sources say now.
        args.dry_run.then(|| {
            let e = evacuate::alive_evidence(&cx, &args.host, &survey.source);
            crate::core::evacuable::fence_check(&args.host, &e)
        })
    } else {
        let gate = evacuate::fence_gate(
            &cx,
            &args.host,
            &survey.source,
            args.no_fence_check,
            Duration::ZERO,
        );
        match gate {
            Ok((_, check)) => Some(check),
            Err(r) => return refused_by_fence(ctx, &survey, args, &r),
        }
    };

    if args.dry_run {
        let code = match &preflight {
            Ok(()) => ExitCode::Success,
            Err(e) => e.code,
        };
        match ctx.format() {
            Format::Json => output::print_json(&Report {
                survey: &survey,
                dry_run: true,
                summary: summary(&survey, &Evacuation::of(&survey, Vec::new()), code),
                requests,
                isolation: None,
                fence_check: fence,
                results: &[],
                spares_enabled: &[],
            })?,
            Format::Table | Format::Value | Format::Csv => {
                if let Some(f) = &fence {
                    crate::outln!("\nFence check: {}", fence_text(f));
                }
                print_dry_run(&requests, preflight.as_ref().err(), code)
            }
        }
        return Ok(code);
    }
    preflight?;

    let to_send = survey.to_send().len();
    if to_send == 0 && !isolate_first {
        return finish(
            ctx,
            &survey,
            None,
            fence,
            &Evacuation::of(&survey, Vec::new()),
        );
    }
    ctx.confirm(&question(args, &survey, to_send))?;
    // From here a signal lets what is in flight finish and sends nothing new.
    let _busy = crate::interrupt::busy();
    let journal = ctx.open_journal()?;
    let cx = cx.with_journal(&journal);
    let isolation = if isolate_first {
        let isolated = isolate::isolate_host(&cx, &args.host, true, true).into_result()?;
        // Forced down now (by this run or before): what the preflight assumed.
        survey.source.forced_down = Some(true);
        Some(isolated)
    } else {
        None
    };
    // Again, just before sending (the prompt may have taken minutes; a fence this run made
    // takes a few seconds to show in Consul), and the override is journaled.
    let settle = if isolate_first {
        evacuate::FENCE_SETTLE
    } else {
        Duration::ZERO
    };
    let fence = Some(
        evacuate::fence_gate(&cx, &args.host, &survey.source, args.no_fence_check, settle)
            .map_err(|r| refusal_error(&r))?
            .1,
    );

    let bar = indicatif::ProgressBar::new(to_send as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} evacuations answered ({elapsed}) {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let on_done = |o: &Outcome| {
        if bar.is_hidden() {
            log_outcome(o);
        } else {
            bar.suspend(|| log_outcome(o));
        }
        bar.inc(1);
    };
    let done = evacuate::evacuate_host(&cx, &survey, args.allow_partial, concurrency, &on_done);
    bar.finish_and_clear();
    finish(ctx, &survey, isolation, fence, &done.into_result()?)
}

/// The fence gate refused: nothing was sent. The JSON report says what it saw too.
fn refused_by_fence(
    ctx: &Context,
    survey: &Survey,
    args: &HostEvacuateArgs,
    refusal: &crate::steps::Refusal,
) -> anyhow::Result<ExitCode> {
    let err = refusal_error(refusal);
    if args.dry_run {
        let code = err.code;
        match ctx.format() {
            Format::Json => output::print_json(&Report {
                survey,
                dry_run: true,
                summary: summary(survey, &Evacuation::of(survey, Vec::new()), code),
                requests: Vec::new(),
                isolation: None,
                fence_check: None,
                results: &[],
                spares_enabled: &[],
            })?,
            Format::Table | Format::Value | Format::Csv => print_dry_run(&[], Some(&err), code),
        }
        return Ok(code);
    }
    Err(err.into())
}

fn question(args: &HostEvacuateArgs, survey: &Survey, to_send: usize) -> String {
    format!(
        "{}evacuate {} server(s) from {} to {}?",
        if args.force_down {
            format!(
                "Confirm {}'s power is off, force its nova-compute down and disable it, then ",
                args.host
            )
        } else {
            String::new()
        },
        to_send,
        args.host,
        if survey.scheduler_chooses {
            "hosts the scheduler chooses".to_string()
        } else {
            let used: Vec<String> = survey
                .plan
                .targets
                .iter()
                .filter(|t| !t.servers.is_empty())
                .map(|t| {
                    if survey.spares_to_enable().any(|x| x.host == t.host) {
                        format!("{} (reserved: enabled first)", t.host)
                    } else {
                        t.host.clone()
                    }
                })
                .collect();
            used.join(", ")
        }
    )
}

fn exit_code(survey: &Survey, ev: &Evacuation) -> ExitCode {
    if let Some(s) = crate::interrupt::requested() {
        return crate::commands::signal_code(s);
    }
    if crate::lock::lost_to(&survey.host).is_some() {
        return ExitCode::Locked;
    }
    let accepted = ev.accepted();
    if !ev.outcomes.is_empty() && accepted == 0 {
        ExitCode::Failure
    } else if accepted < ev.outcomes.len() || !survey.plan.fits() || ev.in_doubt > 0 {
        ExitCode::Partial
    } else {
        ExitCode::Success
    }
}

fn summary(survey: &Survey, ev: &Evacuation, code: ExitCode) -> Summary {
    let evacuable = survey.evacuable().count();
    Summary {
        servers: survey.servers.len(),
        evacuable,
        sent: ev.outcomes.len() - ev.not_sent(),
        accepted: ev.accepted(),
        failed: ev.failed(),
        not_sent: ev.not_sent(),
        dropped: ev.dropped.len(),
        not_fitting: survey.plan.unplaced.len(),
        skipped: survey.servers.len() - evacuable,
        result: code.name(),
        exit_code: code.code(),
    }
}

fn finish(
    ctx: &Context,
    survey: &Survey,
    isolation: Option<Isolated>,
    fence_check: Option<FenceCheck>,
    ev: &Evacuation,
) -> anyhow::Result<ExitCode> {
    let outcomes = ev.outcomes.as_slice();
    let code = exit_code(survey, ev);
    if let Some(holder) = crate::lock::lost_to(&survey.host) {
        eprintln!(
            "evacctl: host {} was taken by {holder} while this run acted on it: nothing more \
             was sent",
            survey.host
        );
    }
    let s = summary(survey, ev, code);
    match ctx.format() {
        Format::Json => output::print_json(&Report {
            survey,
            dry_run: false,
            requests: Vec::new(),
            isolation,
            fence_check,
            results: outcomes,
            spares_enabled: &ev.spares_enabled,
            summary: s,
        })?,
        Format::Table | Format::Value | Format::Csv => {
            if let Some(f) = &fence_check {
                crate::outln!("\nFence check: {}", fence_text(f));
            }
            if let Some(i) = &isolation {
                crate::outln!(
                    "\n{}: nova-compute {}forced down, {}disabled ({})",
                    i.host,
                    if i.forced_down { "" } else { "already " },
                    if i.disabled { "" } else { "already " },
                    i.disabled_reason.as_deref().unwrap_or("-")
                );
            }
            if !ev.spares_enabled.is_empty() {
                crate::outln!(
                    "\nReserved host(s) enabled for {}'s servers (consumed: no longer kept \
                     disabled): {}",
                    survey.host,
                    ev.spares_enabled.join(", ")
                );
            }
            for (id, why) in &ev.dropped {
                crate::outln!("\n{id} not sent: since the survey, {why}");
            }
            if outcomes.is_empty() {
                crate::outln!("\nNothing to evacuate from {}.", survey.host);
            } else {
                crate::outln!();
                print_outcomes(outcomes)?;
            }
            if let Some(signal) = crate::interrupt::requested() {
                crate::outln!(
                    "\nStopped by {}: {} request(s) were sent and answered; {} were never sent \
                     (journaled as not sent: running host-evacuate {} again sends them).",
                    signal.name(),
                    s.sent,
                    s.not_sent,
                    survey.host
                );
            }
            if let Some(holder) = crate::lock::lost_to(&survey.host) {
                crate::outln!(
                    "\nStopped: {} is now held by {holder}: {} request(s) were sent and \
                     answered; {} were never sent (journaled as not sent).",
                    survey.host,
                    s.sent,
                    s.not_sent,
                );
            }
            crate::outln!(
                "\n{} accepted, {} failed, {} not sent, {} not evacuable, {} do not fit; result: {} \
                 (exit {})",
                s.accepted,
                s.failed,
                s.not_sent,
                s.skipped,
                s.not_fitting,
                s.result,
                s.exit_code
            );
        }
    }
    Ok(code)
}

fn free_cell(before: Option<&u64>, after: Option<&u64>) -> String {
    match (before, after) {
        (Some(b), Some(a)) => format!("{b} -> {a}"),
        _ => "-".into(),
    }
}

/// A dry run's table output: every request it would send, and what a real run would refuse.
pub fn print_dry_run(requests: &[PlannedRequest], refusal: Option<&CliError>, code: ExitCode) {
    crate::outln!("\nDry run: the requests it would send (compute endpoint):");
    for r in requests {
        crate::outln!("  {} {} {}", r.method, r.path, r.body);
    }
    if requests.is_empty() {
        crate::outln!("  none");
    }
    if let Some(e) = refusal {
        crate::outln!("\nA real run would refuse: {}", e.message);
    }
    crate::outln!("\nresult: dry run, nothing changed (exit {})", code.code());
}

/// `Host compute-3: nova-compute disabled, down, forced down (evacctl: evacuated ...)`.
pub fn service_line(
    host: &str,
    status: &str,
    state: &str,
    forced_down: Option<bool>,
    disabled_reason: Option<&str>,
) -> String {
    format!(
        "Host {host}: nova-compute {status}, {state}{}{}",
        if forced_down == Some(true) {
            ", forced down"
        } else {
            ""
        },
        disabled_reason
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    )
}

fn print_survey(survey: &Survey) -> anyhow::Result<()> {
    let src = &survey.source;
    crate::outln!(
        "{}",
        service_line(
            &survey.host,
            &src.status,
            &src.state,
            src.forced_down,
            src.disabled_reason.as_deref()
        )
    );
    let prioritized = survey.servers.iter().any(|s| s.priority != 0);
    let mut head = vec![
        "Server UUID",
        "Name",
        "Status",
        "Task State",
        "Flavor",
        "Evacuable",
    ];
    if prioritized {
        head.push("Priority");
    }
    head.push("Target / Reason");
    let mut t = output::table(head);
    for s in &survey.servers {
        let why = if s.verdict.evacuable {
            s.planned_target
                .clone()
                .unwrap_or_else(|| "does not fit".into())
        } else {
            s.verdict.reason.clone().unwrap_or_default()
        };
        let mut row = vec![
            s.id.clone(),
            s.name.clone(),
            s.status.clone(),
            output::or_dash(s.task_state.as_deref()),
            output::or_dash(s.flavor.as_deref()),
            if s.verdict.evacuable { "yes" } else { "no" }.into(),
        ];
        if prioritized {
            row.push(s.priority.to_string());
        }
        row.push(why);
        t.add_row(row);
    }
    crate::outln!();
    crate::commands::print_listing(Some(&format!("Servers on {}:", survey.host)), &t)?;

    let mut t = output::table(
        std::iter::once("Target".to_string())
            .chain(SHOWN.iter().map(|c| format!("{c} free")))
            .chain(std::iter::once("Servers".to_string())),
    );
    for tp in &survey.plan.targets {
        let mut row = vec![tp.host.clone()];
        for c in SHOWN {
            row.push(free_cell(tp.free_before.get(c), tp.free_after.get(c)));
        }
        row.push(tp.servers.len().to_string());
        t.add_row(row);
    }
    crate::outln!();
    let title = if survey.scheduler_chooses {
        "Capacity plan (Placement; free before -> after; the scheduler picks each host):"
    } else {
        "Capacity plan (Placement; free before -> after):"
    };
    output::print_table(Some(title), &t)?;
    if survey.recovery_method.uses_reserved() {
        let used: Vec<String> = survey
            .spares_used
            .iter()
            .map(|x| {
                if x.needs_enable {
                    format!("{} (disabled as reserved: enabled first)", x.host)
                } else {
                    x.host.clone()
                }
            })
            .collect();
        crate::outln!(
            "Reserved hosts (recovery_method {}): {} available; used: {}",
            survey.recovery_method.as_str(),
            survey.spares.len(),
            if used.is_empty() {
                "none".to_string()
            } else {
                used.join(", ")
            }
        );
    }
    print_excluded(survey)?;
    if !survey.plan.unplaced.is_empty() {
        let mut head = vec!["Server UUID", "Name", "Needs"];
        if prioritized {
            head.push("Priority");
        }
        head.push("Why Not");
        let mut t = output::table(head);
        for u in &survey.plan.unplaced {
            let mut row = vec![
                u.server_id.clone(),
                u.server_name.clone(),
                capacity::describe(&u.resources),
            ];
            if prioritized {
                row.push(u.priority.to_string());
            }
            row.push(u.why.clone());
            t.add_row(row);
        }
        crate::outln!();
        output::print_table(Some("Does not fit:"), &t)?;
        if !survey.plan.shortfall.is_empty() {
            crate::outln!("Short by: {}", capacity::describe(&survey.plan.shortfall));
        }
        for s in &survey.suggestions {
            crate::outln!("{s}");
        }
    }
    Ok(())
}

/// At most this many hosts in the "not candidates" table (`-f json` lists all).
const EXCLUDED_SHOWN: usize = 12;

/// The compute hosts that were not candidates and why (zone, aggregate, reserved, disabled,
/// down): a few in the table, all in JSON.
fn print_excluded(survey: &Survey) -> anyhow::Result<()> {
    if survey.excluded.is_empty() {
        return Ok(());
    }
    let mut t = output::table(["Host", "Not A Candidate Because"]);
    for e in survey.excluded.iter().take(EXCLUDED_SHOWN) {
        t.add_row(vec![e.host.clone(), e.why.clone()]);
    }
    crate::outln!();
    output::print_table(Some("Other compute hosts, not candidates:"), &t)?;
    if survey.excluded.len() > EXCLUDED_SHOWN {
        crate::outln!(
            "... and {} more (`-f json` lists every host with why)",
            survey.excluded.len() - EXCLUDED_SHOWN
        );
    }
    Ok(())
}
