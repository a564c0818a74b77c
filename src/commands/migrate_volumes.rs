//! `evacctl migrate-volumes FAILED_HOST --to NEW_HOST [--backend NAME] [--dry-run]`: runbook
//! step 3. Lists the failed host's volumes (and backups), validates every name and the target's
//! services before anything runs, shows the plan and the exact `cinder-manage` commands, asks,
//! runs them (journaled), then lists again and proves nothing is left. The step itself is
//! [`crate::steps::volumes`].

use serde::Serialize;

use crate::cli::{Format, MigrateVolumesArgs};
use crate::commands::Context;
use crate::core::volumes::{BackupMove, Outcome as Where, Plan, Proof, Request, VolumeMove};
use crate::error::CliError;
use crate::exit_codes::ExitCode;
use crate::output;
use crate::steps::volumes::{self as step, CinderManage, CommandResult, Outcome};

/// A planned volume or backup, with where it ended.
#[derive(Serialize)]
struct Row<'a, T> {
    #[serde(flatten)]
    planned: &'a T,
    /// After the run: `moved`, `left`, `elsewhere`, `gone`; `null` before.
    result: Option<&'a Where>,
}

#[derive(Serialize)]
struct Summary {
    volumes: usize,
    backups: usize,
    commands: usize,
    result: &'static str,
    exit_code: u8,
    message: String,
}

/// The JSON document (stable field names).
#[derive(Serialize)]
struct Report<'a> {
    failed_host: &'a str,
    new_host: &'a str,
    backend: Option<&'a str>,
    dry_run: bool,
    volumes: Vec<Row<'a, VolumeMove>>,
    backups: Vec<Row<'a, BackupMove>>,
    commands: &'a [CommandResult],
    warnings: &'a [String],
    /// After the run; `null` for a dry run or nothing to move.
    proof: Option<&'a Proof>,
    summary: Summary,
}

pub fn run(ctx: &Context, args: &MigrateVolumesArgs) -> anyhow::Result<ExitCode> {
    if output::rows_only() && !args.dry_run {
        return Err(crate::commands::no_rows("migrate-volumes (without --dry-run)").into());
    }
    let req = Request::new(&args.failed_host, &args.to, args.backend.as_deref())
        .map_err(|r| CliError::new(r.code.into(), r.message))?;
    let config = ctx.config()?;
    let session = ctx.session()?;
    // One actor per host (docs/design.md 2.5), held before the listing; not for a dry run.
    let manage = CinderManage::new(&config.volumes);
    // Bad input (an unknown host or backend) is refused before the lock, so that a typo
    // leaves no lock file or Consul key behind; what is planned is read again under the lock.
    let _held = if args.dry_run {
        None
    } else {
        step::plan(&step::observe(session, &manage, &req)?, &req)?;
        Some(ctx.lock_host(&req.failed_host, args.lock.wait_lock)?)
    };
    let observed = step::observe(session, &manage, &req)?;
    let plan = step::plan(&observed, &req)?;
    let planned = step::planned_commands(&plan, &manage);
    let json = ctx.format() == Format::Json;

    if plan.is_empty() {
        let message = nothing_to_move(&plan);
        if json {
            output::print_json(&report(
                &plan,
                &planned,
                None,
                args.dry_run,
                ExitCode::Success,
                message,
            ))?;
        } else {
            print_warnings(&plan);
            crate::outln!("{message}");
        }
        return Ok(ExitCode::Success);
    }
    if !json {
        print_plan(&plan, &planned)?;
    }
    if args.dry_run {
        let message = "dry run: nothing was changed".to_string();
        if json {
            output::print_json(&report(
                &plan,
                &planned,
                None,
                true,
                ExitCode::Success,
                message,
            ))?;
        } else {
            crate::outln!("\n{message}");
        }
        return Ok(ExitCode::Success);
    }
    ctx.confirm(&format!(
        "Run these {} cinder-manage command(s)?",
        plan.commands.len()
    ))?;
    // From here a signal lets the command in flight finish and runs nothing new.
    let _busy = crate::interrupt::busy();
    let journal = ctx.open_journal()?;
    let outcome = step::execute_and_prove(session, &manage, &journal, &plan)?;
    let code = match crate::interrupt::requested() {
        Some(s) => crate::commands::signal_code(s),
        None => exit_code(&outcome),
    };
    let message = outcome.message(&plan);
    if !code.is_success() {
        tracing::error!("migrate-volumes {}: {message}", req.failed_host);
    }
    if json {
        output::print_json(&report(
            &plan,
            &outcome.commands,
            Some(&outcome),
            false,
            code,
            message,
        ))?;
    } else {
        print_outcome(&plan, &outcome, code, &message)?;
    }
    Ok(code)
}

/// 0 when everything ran and is proven; `partial` when something moved but not all (or all
/// moved but a command said it failed); `failure` when nothing moved.
fn exit_code(outcome: &Outcome) -> ExitCode {
    match (outcome.proof.ok, outcome.all_ran(), outcome.any_moved()) {
        (true, true, _) => ExitCode::Success,
        (true, false, _) | (false, _, true) => ExitCode::Partial,
        (false, _, false) => ExitCode::Failure,
    }
}

fn nothing_to_move(plan: &Plan) -> String {
    let r = &plan.request;
    let scope = match &r.backend {
        Some(b) => format!("{}@{b}", r.failed_host),
        None => r.failed_host.clone(),
    };
    format!(
        "nothing to move: no volume{} on {scope}",
        if plan.backups_in_scope {
            " and no backup"
        } else {
            ""
        }
    )
}

fn report<'a>(
    plan: &'a Plan,
    commands: &'a [CommandResult],
    outcome: Option<&'a Outcome>,
    dry_run: bool,
    code: ExitCode,
    message: String,
) -> Report<'a> {
    let proof = outcome.map(|o| &o.proof);
    Report {
        failed_host: &plan.request.failed_host,
        new_host: &plan.request.new_host,
        backend: plan.request.backend.as_deref(),
        dry_run,
        volumes: rows(&plan.volumes, |v| &v.id, proof.map(|p| &p.volumes)),
        backups: rows(&plan.backups, |b| &b.id, proof.map(|p| &p.backups)),
        commands,
        warnings: &plan.warnings,
        proof,
        summary: Summary {
            volumes: plan.volumes.len(),
            backups: plan.backups.len(),
            commands: plan.commands.len(),
            result: code.name(),
            exit_code: code.code(),
            message,
        },
    }
}

fn rows<'a, T>(
    planned: &'a [T],
    id: impl Fn(&T) -> &String,
    results: Option<&'a std::collections::BTreeMap<String, Where>>,
) -> Vec<Row<'a, T>> {
    planned
        .iter()
        .map(|p| Row {
            planned: p,
            result: results.and_then(|r| r.get(id(p))),
        })
        .collect()
}

fn print_warnings(plan: &Plan) {
    for w in &plan.warnings {
        crate::outln!("warning: {w}");
    }
}

fn attached(v: &VolumeMove) -> String {
    if v.servers.is_empty() {
        return "-".into();
    }
    v.servers
        .iter()
        .enumerate()
        .map(|(i, s)| match v.attached_hosts.get(i) {
            Some(h) => format!("{s} ({h})"),
            None => s.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_plan(plan: &Plan, commands: &[CommandResult]) -> anyhow::Result<()> {
    let r = &plan.request;
    if !plan.volumes.is_empty() {
        let mut t = output::table([
            "ID",
            "Name",
            "Status",
            "Attached To",
            "Size",
            "Current Host",
            "New Host",
        ]);
        for v in &plan.volumes {
            t.add_row(vec![
                v.id.clone(),
                output::or_dash(v.name.as_deref()),
                v.status.clone(),
                attached(v),
                v.size_gb.to_string(),
                v.current_host.clone(),
                v.new_host.clone(),
            ]);
        }
        let title = format!("Volumes to move from {} to {}:", r.failed_host, r.new_host);
        crate::commands::print_listing(Some(&title), &t)?;
    }
    if !plan.backups.is_empty() {
        let mut t = output::table(["ID", "Name", "Status", "Size", "Current Host", "New Host"]);
        for b in &plan.backups {
            t.add_row(vec![
                b.id.clone(),
                b.name.clone(),
                b.status.clone(),
                b.size_gb.clone(),
                b.current_host.clone(),
                b.new_host.clone(),
            ]);
        }
        let title = format!("Backups to move from {} to {}:", r.failed_host, r.new_host);
        crate::outln!();
        output::print_table(Some(&title), &t)?;
    }
    crate::outln!("\nCommands (run in this order, without a shell):");
    for (i, c) in commands.iter().enumerate() {
        crate::outln!("  {}. {}", i + 1, c.command);
    }
    if !plan.warnings.is_empty() {
        crate::outln!();
        print_warnings(plan);
    }
    Ok(())
}

fn print_outcome(
    plan: &Plan,
    outcome: &Outcome,
    code: ExitCode,
    message: &str,
) -> anyhow::Result<()> {
    let mut t = output::table(["#", "Command", "Result"]);
    for (i, c) in outcome.commands.iter().enumerate() {
        let result = match (&c.run, &c.skipped) {
            (Some(r), _) => r.summary(),
            (None, Some(s)) => s.clone(),
            (None, None) => "-".into(),
        };
        t.add_row(vec![(i + 1).to_string(), c.command.clone(), result]);
    }
    crate::outln!();
    output::print_table(Some("Ran:"), &t)?;

    let mut t = output::table(["ID", "Name", "Result", "Host Now"]);
    let where_now = |o: Option<&Where>, planned: &str| match o {
        Some(Where::Moved) => planned.to_string(),
        Some(Where::Left { host } | Where::Elsewhere { host }) => host.clone(),
        Some(Where::Gone) | None => "-".into(),
    };
    for v in &plan.volumes {
        let o = outcome.proof.volumes.get(&v.id);
        t.add_row(vec![
            v.id.clone(),
            output::or_dash(v.name.as_deref()),
            o.map_or("-", Where::as_str).to_string(),
            where_now(o, &v.new_host),
        ]);
    }
    for b in &plan.backups {
        let o = outcome.proof.backups.get(&b.id);
        t.add_row(vec![
            format!("{} (backup)", b.id),
            b.name.clone(),
            o.map_or("-", Where::as_str).to_string(),
            where_now(o, &b.new_host),
        ]);
    }
    crate::outln!();
    output::print_table(Some("Listed again:"), &t)?;
    crate::outln!(
        "\nresult: {} (exit {}): {message}",
        code.name(),
        code.code()
    );
    Ok(())
}
