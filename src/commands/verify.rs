//! `evacctl verify HOST [--wait] [--timeout D]`: runbook step 5. Exit 0 when every server
//! evacuated from HOST is verified and no Cinder volume is left on it; 4 (`unhealthy`)
//! otherwise. `--wait` polls until all are verified, nothing is pending any more, or the
//! timeout. Where each verified (or failed) server went is journaled, as `watch` does, when a
//! journal exists: `watch --status` shows the destination the scheduler chose.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cli::{Format, VerifyArgs};
use crate::commands::Context;
use crate::exit_codes::ExitCode;
use crate::journal::Journal;
use crate::output;
use crate::steps::StepContext;
use crate::steps::verify::{self, Check, Verification};

/// Between two polls of `--wait`.
const POLL: Duration = Duration::from_secs(1);

#[derive(Serialize)]
struct Summary {
    servers: usize,
    ok: usize,
    pending: usize,
    failed: usize,
    volumes_left: usize,
    volumes_checked: bool,
    waited_seconds: u64,
    result: &'static str,
    exit_code: u8,
}

#[derive(Serialize)]
struct Report<'a> {
    #[serde(flatten)]
    verification: &'a Verification,
    summary: Summary,
}

pub fn run(ctx: &Context, args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let session = ctx.session()?;
    // An unknown host is a typo until proven otherwise.
    crate::steps::isolate::compute_service(&session.nova(), &args.host)?;
    let path = ctx.journal_path()?;
    let journal = open_existing_journal(&path);
    let cx = StepContext::new(ctx.config()?, Some(session), journal.as_ref(), path);
    let started = Instant::now();
    let v = loop {
        let v = verify::verify_host(&cx, &args.host, 10).into_result()?;
        let done = v.all_verified() || !v.anything_pending();
        if !args.wait || done || started.elapsed() >= args.timeout {
            break v;
        }
        tracing::info!(
            "{}: {} of {} servers verified, {} pending; polling again",
            args.host,
            v.count(Check::Ok),
            v.servers.len(),
            v.count(Check::Pending)
        );
        std::thread::sleep(POLL.min(args.timeout.saturating_sub(started.elapsed())));
    };
    let code = if v.all_verified() {
        ExitCode::Success
    } else {
        ExitCode::Unhealthy
    };
    let summary = Summary {
        servers: v.servers.len(),
        ok: v.count(Check::Ok),
        pending: v.count(Check::Pending),
        failed: v.count(Check::Failed),
        volumes_left: v.volumes.left.len(),
        volumes_checked: v.volumes.checked,
        waited_seconds: started.elapsed().as_secs(),
        result: code.name(),
        exit_code: code.code(),
    };
    match ctx.format() {
        Format::Json => output::print_json(&Report {
            verification: &v,
            summary,
        })?,
        Format::Table | Format::Value | Format::Csv => print(&v, &summary)?,
    }
    Ok(code)
}

/// The journal, when one exists, for the verify step to record where the servers went (as
/// `watch`'s verification does): the history's destination after a manual `host-evacuate`
/// where the scheduler chose. A check creates no journal, and one it cannot open only costs
/// the history its destinations (said in a warning), not the verification.
fn open_existing_journal(path: &std::path::Path) -> Option<Journal> {
    if !path.exists() {
        return None;
    }
    match Journal::open_for_command(path, std::env::args_os()) {
        Ok(j) => Some(j),
        Err(e) => {
            tracing::warn!("{e}: where the servers went is not journaled");
            None
        }
    }
}

fn print(v: &Verification, s: &Summary) -> anyhow::Result<()> {
    let mut t = output::table([
        "Server UUID",
        "Name",
        "Host",
        "Status",
        "Expected",
        "Migration",
        "Verdict",
        "Problem",
    ]);
    for c in &v.servers {
        t.add_row(vec![
            c.server_id.clone(),
            output::or_dash(c.name.as_deref()),
            output::or_dash(c.host.as_deref()),
            output::or_dash(c.status.as_deref()),
            c.expected.clone(),
            output::or_dash(c.migration_status.as_deref()),
            c.check.as_str().to_string(),
            c.problem.clone().unwrap_or_default(),
        ]);
    }
    if v.servers.is_empty() {
        crate::outln!(
            "No server was evacuated from {} (journal and Nova's evacuation migrations).",
            v.host
        );
    } else {
        crate::commands::print_listing(Some(&format!("Servers evacuated from {}:", v.host)), &t)?;
    }
    crate::outln!();
    match (&v.volumes.error, v.volumes.left.is_empty()) {
        (Some(e), _) => crate::outln!("Cinder volumes on {}: could not be checked ({e})", v.host),
        (None, true) => crate::outln!("Cinder volumes on {}: none left", v.host),
        (None, false) => {
            let mut t = output::table(["Volume ID", "Name", "Status", "Host"]);
            for vol in &v.volumes.left {
                t.add_row(vec![
                    vol.id.clone(),
                    output::or_dash(vol.name.as_deref()),
                    vol.status.clone(),
                    output::or_dash(vol.host()),
                ]);
            }
            output::print_table(
                Some(&format!(
                    "Cinder volumes still on {} (move them: evacctl migrate-volumes):",
                    v.host
                )),
                &t,
            )?;
        }
    }
    crate::outln!(
        "\n{} of {} verified, {} pending, {} failed; result: {} (exit {})",
        s.ok,
        s.servers,
        s.pending,
        s.failed,
        s.result,
        s.exit_code
    );
    Ok(())
}
