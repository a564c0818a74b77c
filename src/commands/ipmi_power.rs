//! `evacctl ipmi power status|on|off|cycle`: step 2 of the runbook. Power state of hosts'
//! BMCs (IPMI or Redfish, per host in the config), read in parallel; power actions after a
//! confirmation; fencing with `off --wait` (power off, then poll until the BMC confirms off).
//!
//! Every target is checked before anything is sent: an unknown host (the configured hosts
//! and the closest match are named) stops the command; so do a host without a BMC and a
//! password that cannot be read (missing, empty, readable by others) for an action, with
//! nothing done, while `status` shows them as that host's error and reads the others.
//!
//! What the actions do after sending (the power is read again after every action):
//! - `off --wait`: [`steps::power::fence`]: polls until off; `fenced` or a failure;
//! - `off`: one read right after; `requested` (power off is asynchronous: use --wait to know);
//! - `on`, `cycle`: polls until on, as `off --wait` does for off; `on` or `unconfirmed`.
//!
//! Exit code: 0 when every host succeeded; else from the failed hosts: all unreachable 8,
//! all refused (authentication, privilege) 9, anything else (an error answer, a BMC that
//! never confirmed) 12.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::bmc::{self, BmcErrorKind, PowerDriver, PowerState};
use crate::cli::{Format, PowerAction, PowerTargets};
use crate::commands::Context;
use crate::config::{Config, HostConfig};
use crate::core::names;
use crate::error::CliError;
use crate::exit_codes::ExitCode;
use crate::output;
use crate::steps::power::{self as fence, FenceError, Poll};
use crate::steps::{StepContext, StepOutcome};

/// A fencing failure's exit code: the BMC's error kind; one that never said off is `partial`
/// ("some actions failed or could not be confirmed").
impl crate::error::Classify for FenceError {
    fn exit_code(&self) -> ExitCode {
        match self.kind {
            BmcErrorKind::Unreachable => ExitCode::Unreachable,
            BmcErrorKind::Auth => ExitCode::Auth,
            BmcErrorKind::Config => ExitCode::Config,
            BmcErrorKind::Failure => ExitCode::Partial,
        }
    }
}

/// BMCs asked at once. ipmitool is a process per call; BMCs are small computers: a few
/// dozen in flight is plenty and kind to both.
pub const CONCURRENCY: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Status,
    On,
    Off,
    Cycle,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Status => "status",
            Action::On => "on",
            Action::Off => "off",
            Action::Cycle => "cycle",
        }
    }
    fn verb(self) -> &'static str {
        match self {
            Action::Status => "read the power of",
            Action::On => "power on",
            Action::Off => "power off",
            Action::Cycle => "power-cycle",
        }
    }
}

/// One host's result (JSON field names are stable).
#[derive(Debug, Serialize)]
pub struct PowerRow {
    pub host: String,
    /// `address:port`.
    pub bmc_address: String,
    pub driver: &'static str,
    /// The last power state read; `null` when none could be read.
    pub power_state: Option<PowerState>,
    /// `ok` (status read), `fenced`, `already-off`, `requested` (off without --wait), `on`
    /// (on or cycle confirmed), `unconfirmed` (the BMC never reported the state asked for),
    /// `failed`, `not-sent` (a signal stopped the run first).
    pub result: &'static str,
    /// Why it failed (or a note); never holds a password.
    pub error: Option<String>,
    /// `unreachable`, `auth`, `failure`, `config` when it failed.
    pub error_kind: Option<BmcErrorKind>,
    /// Power reads after the action (polling), when there was an action.
    pub polls: Option<u32>,
    pub elapsed_ms: u64,
}

impl PowerRow {
    fn failed(&self) -> bool {
        matches!(self.result, "failed" | "unconfirmed")
    }
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub total: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub result: &'static str,
    pub exit_code: u8,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub action: Action,
    /// `off --wait` (fencing).
    pub wait: bool,
    pub hosts: Vec<PowerRow>,
    pub summary: Summary,
}

/// A host to act on: its configuration and its driver (password already read), or why there
/// is none (kept only for `status`, which shows it as the host's error).
struct Target<'a> {
    host: &'a HostConfig,
    driver: Result<Box<dyn PowerDriver>, bmc::BmcError>,
}

pub fn run(ctx: &Context, action: &PowerAction) -> anyhow::Result<ExitCode> {
    let (act, targets_args, wait) = match action {
        PowerAction::Status(t) => (Action::Status, t, false),
        PowerAction::On(t) => (Action::On, t, false),
        PowerAction::Off(a) => (Action::Off, &a.targets, a.wait),
        PowerAction::Cycle(t) => (Action::Cycle, t, false),
    };
    let config = ctx.config()?;
    let hosts = select_hosts(config, targets_args)?;
    // An action needs every target ready; a status shows what it can.
    let targets = drivers(&hosts, act != Action::Status)?;

    // One actor per host (docs/design.md 2.5): every target held before anything is asked, in
    // name order so that two runs waiting for each other's hosts cannot deadlock.
    let mut held = Vec::new();
    if act != Action::Status {
        let mut names: Vec<&str> = targets.iter().map(|t| t.host.name()).collect();
        names.sort_unstable();
        let locks = ctx.host_locks()?;
        for name in names {
            held.push(
                locks
                    .acquire(name, targets_args.lock.wait_lock)
                    .map_err(|e| crate::commands::lock_error(&e))?,
            );
        }
    }

    if act != Action::Status {
        print_plan(act, wait, &targets, config);
        let names: Vec<&str> = targets.iter().map(|t| t.host.name()).collect();
        let live = if matches!(act, Action::Off | Action::Cycle) && ctx.will_ask() {
            live_hosts(ctx, &names)
        } else {
            String::new()
        };
        ctx.confirm(&format!(
            "{live}{} {}?",
            capitalized(act.verb()),
            names.join(", ")
        ))?;
    }
    // From here a signal lets the actions in flight finish and starts no new one.
    let _busy = crate::interrupt::busy();

    // Actions are journaled like watch's fencing: an intent before, a result after.
    let journal = if act == Action::Status {
        None
    } else {
        Some(ctx.open_journal()?)
    };
    let cx = StepContext::new(config, None, journal.as_ref(), ctx.journal_path()?);
    let rows = crate::pool::map_bounded(&targets, CONCURRENCY, |t| execute(act, wait, t, &cx));
    let code = match crate::interrupt::requested() {
        Some(s) if act != Action::Status => crate::commands::signal_code(s),
        _ => exit_code(&rows),
    };
    drop(held);
    let failed = rows.iter().filter(|r| r.failed()).count();
    let report = Report {
        action: act,
        wait,
        summary: Summary {
            total: rows.len(),
            succeeded: rows.len() - failed,
            failed,
            result: code.name(),
            exit_code: code.code(),
        },
        hosts: rows,
    };
    match ctx.format() {
        Format::Json => output::print_json(&report)?,
        Format::Table | Format::Value | Format::Csv => print_table(&report)?,
    }
    Ok(code)
}

/// For the question before a power off or cycle: the targets Nova sees up, with how many
/// servers run on each ("Nova sees compute-1 UP with 12 server(s) running on it. "). Empty
/// when none is, or when Nova cannot be asked (`ipmi power` needs no cloud).
fn live_hosts(ctx: &Context, names: &[&str]) -> String {
    let Ok(session) = ctx.session() else {
        return String::new();
    };
    let nova = session.nova();
    let Ok(services) = nova.list_services(None, Some("nova-compute")) else {
        return String::new();
    };
    let mut out = String::new();
    for name in names {
        let up = services
            .iter()
            .any(|s| s.host == *name && s.is_up() && !s.is_forced_down());
        if !up {
            continue;
        }
        let servers = nova.list_servers_on_host(name).map_or_else(
            |_| "an unknown number of".to_string(),
            |l| l.len().to_string(),
        );
        out.push_str(&format!(
            "Nova sees {name} UP, with {servers} server(s) on it: they stop with it. "
        ));
    }
    out
}

/// The hosts named (in the order given, each once), or every host with a BMC for `--all`.
fn select_hosts<'a>(config: &'a Config, t: &PowerTargets) -> anyhow::Result<Vec<&'a HostConfig>> {
    if t.all {
        let with_bmc: Vec<&HostConfig> = config.hosts().filter(|h| h.bmc().is_some()).collect();
        if with_bmc.is_empty() {
            return Err(CliError::config(format!(
                "no host has a BMC in {}: nothing to do",
                config_name(config)
            ))
            .into());
        }
        return Ok(with_bmc);
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for name in &t.hosts {
        if !seen.insert(name.as_str()) {
            continue;
        }
        match config.host(name) {
            Some(h) => out.push(h),
            None => return Err(unknown_host(config, name).into()),
        }
    }
    Ok(out)
}

fn unknown_host(config: &Config, name: &str) -> CliError {
    let known: Vec<&str> = config.hosts().map(HostConfig::name).collect();
    if known.is_empty() {
        return CliError::usage(format!(
            "unknown host `{name}`: no host is configured in {} (hosts and their BMCs are \
             [hosts.\"NAME\".bmc] tables; nothing was done)",
            config_name(config)
        ));
    }
    let hint = names::did_you_mean(name, known.iter().copied());
    CliError::usage(format!(
        "unknown host `{name}`{hint} (configured hosts: {}; nothing was done)",
        known.join(", ")
    ))
}

fn config_name(config: &Config) -> String {
    match config.path() {
        Some(p) => p.display().to_string(),
        None => format!(
            "the configuration (no file: {} does not exist; give one with --config or {})",
            crate::config::DEFAULT_PATH,
            crate::config::ENV_VAR
        ),
    }
}

/// Every target's driver, or every reason why not (all of them, so one run shows every fix).
fn drivers<'a>(hosts: &[&'a HostConfig], strict: bool) -> anyhow::Result<Vec<Target<'a>>> {
    let targets: Vec<Target<'a>> = hosts
        .iter()
        .map(|&host| Target {
            host,
            driver: bmc::driver_for(host),
        })
        .collect();
    let errors: Vec<&bmc::BmcError> = targets
        .iter()
        .filter_map(|t| t.driver.as_ref().err())
        .collect();
    if strict && let Some(first) = errors.first() {
        let text: Vec<String> = errors.iter().map(|e| e.message.clone()).collect();
        let code = match first.kind {
            BmcErrorKind::Config => ExitCode::Config,
            _ => ExitCode::Failure,
        };
        return Err(CliError::new(code, format!("{}\nnothing was done", text.join("\n"))).into());
    }
    Ok(targets)
}

fn print_plan(act: Action, wait: bool, targets: &[Target<'_>], config: &Config) {
    let p = &config.policy;
    let n = targets.len();
    let bmcs = if n == 1 {
        "its BMC says"
    } else {
        "their BMCs say"
    };
    let polling = format!(
        "up to {} reads, {} apart",
        p.check_max_count,
        humantime::format_duration(p.check_interval)
    );
    let then = match (act, wait) {
        (Action::Off, true) => format!(", then wait until {bmcs} off ({polling})"),
        (Action::Off, false) => " (without waiting: add --wait to confirm off)".to_string(),
        _ => format!(", then wait until {bmcs} on ({polling})"),
    };
    eprintln!(
        "evacctl will {} {n} host{}{then}:",
        act.verb(),
        if n == 1 { "" } else { "s" }
    );
    for t in targets {
        if let Some(b) = t.host.bmc() {
            eprintln!(
                "  {:<24} BMC {} ({})",
                t.host.name(),
                bmc::display_address(b),
                b.driver
            );
        }
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The journal's name of an action.
fn journal_action(act: Action, wait: bool) -> &'static str {
    match (act, wait) {
        (Action::Off, true) => "fence",
        (Action::Off, false) => "power-off",
        (Action::On, _) | (Action::Status, _) => "power-on",
        (Action::Cycle, _) => "power-cycle",
    }
}

/// One host's action, journaled (a status read is not: it changes nothing).
fn execute(act: Action, wait: bool, t: &Target<'_>, cx: &StepContext<'_>) -> PowerRow {
    let started = Instant::now();
    if act != Action::Status
        && let Some(signal) = crate::interrupt::stopping()
    {
        return PowerRow {
            result: "not-sent",
            error: Some(crate::interrupt::not_sent_text(signal)),
            ..new_row(t)
        };
    }
    let run = || run_action(act, wait, t, cx);
    // `off --wait` is the fence step, which journals itself.
    let mut row = if act == Action::Status || (act == Action::Off && wait) || t.driver.is_err() {
        run()
    } else {
        let record = |row: &PowerRow| {
            let detail = row.error.clone().unwrap_or_else(|| row.result.to_string());
            (!row.failed(), Some(detail))
        };
        match fence::journaled(cx, t.host.name(), journal_action(act, wait), run, record) {
            StepOutcome::Done(row) => row,
            StepOutcome::Transient(e) => not_sent(t, format!("{e:#}")),
            StepOutcome::Refused(r) => not_sent(t, r.reason),
            StepOutcome::Failed(never) => match never {},
        }
    };
    row.elapsed_ms = started.elapsed().as_millis() as u64;
    row
}

/// A row for a host before anything is done.
fn new_row(t: &Target<'_>) -> PowerRow {
    let (address, driver_name) = t
        .host
        .bmc()
        .map(|b| (bmc::display_address(b), b.driver.as_str()))
        .unwrap_or_default();
    PowerRow {
        host: t.host.name().to_string(),
        bmc_address: address,
        driver: driver_name,
        power_state: None,
        result: "failed",
        error: None,
        error_kind: None,
        polls: None,
        elapsed_ms: 0,
    }
}

/// Nothing was sent to the host (its intent could not be journaled).
fn not_sent(t: &Target<'_>, why: String) -> PowerRow {
    PowerRow {
        error_kind: Some(BmcErrorKind::Failure),
        error: Some(why),
        ..new_row(t)
    }
}

fn run_action(act: Action, wait: bool, t: &Target<'_>, cx: &StepContext<'_>) -> PowerRow {
    let config = cx.config;
    let mut row = new_row(t);
    let fail = |row: &mut PowerRow, kind: BmcErrorKind, msg: String| {
        row.result = "failed";
        row.error_kind = Some(kind);
        row.error = Some(msg);
    };
    let d = match &t.driver {
        Ok(d) => d.as_ref(),
        Err(e) => {
            fail(&mut row, e.kind, e.message.clone());
            return row;
        }
    };
    match (act, wait) {
        (Action::Status, _) => match fence::read_power(t.host, d) {
            Ok(s) => {
                row.power_state = Some(s);
                row.result = "ok";
            }
            Err(e) => fail(&mut row, e.kind, e.message),
        },
        (Action::Off, true) => match fenced(cx, t.host, d) {
            Ok(r) => {
                row.power_state = Some(PowerState::Off);
                row.result = if r.already_off {
                    "already-off"
                } else {
                    "fenced"
                };
                row.polls = Some(r.polls);
            }
            Err(e) => {
                tracing::error!("{e}");
                row.power_state = e.last_state;
                row.polls = Some(e.polls);
                row.result = if e.unconfirmed {
                    "unconfirmed"
                } else {
                    "failed"
                };
                row.error_kind = Some(e.kind);
                row.error = Some(e.reason);
            }
        },
        (Action::Off, false) => match d.power_off() {
            Ok(()) => {
                row.result = "requested";
                row.polls = Some(1);
                match fence::read_power(t.host, d) {
                    Ok(s) => row.power_state = Some(s),
                    Err(e) => row.error = Some(format!("power off was accepted; reading it: {e}")),
                }
            }
            Err(e) => {
                row.power_state = fence::read_power(t.host, d).ok();
                fail(&mut row, e.kind, format!("power off failed: {e}"));
            }
        },
        (Action::On | Action::Cycle, _) => {
            let sent = if act == Action::On {
                d.power_on()
            } else {
                d.power_cycle()
            };
            match sent {
                Err(e) => {
                    row.power_state = fence::read_power(t.host, d).ok();
                    fail(
                        &mut row,
                        e.kind,
                        format!("power {} failed: {e}", act.as_str()),
                    );
                }
                Ok(()) => confirm_on(&mut row, t.host, d, config, act),
            }
        }
    }
    row
}

/// `off --wait`: the fence step, which journals its own intent and result.
fn fenced(
    cx: &StepContext<'_>,
    host: &HostConfig,
    d: &dyn PowerDriver,
) -> Result<fence::FenceReport, FenceError> {
    let not_sent = |reason: String| FenceError {
        host: host.name().to_string(),
        kind: BmcErrorKind::Failure,
        unconfirmed: false,
        reason,
        last_state: None,
        polls: 0,
        elapsed: Duration::ZERO,
    };
    match fence::fence_with(cx, host, d) {
        StepOutcome::Done(r) => r,
        StepOutcome::Transient(e) => Err(not_sent(format!("{e:#}"))),
        StepOutcome::Refused(r) => Err(not_sent(r.reason)),
        StepOutcome::Failed(never) => match never {},
    }
}

/// After `on` or `cycle`: polls until the BMC reports on.
fn confirm_on(
    row: &mut PowerRow,
    host: &HostConfig,
    d: &dyn PowerDriver,
    config: &Config,
    act: Action,
) {
    let policy = &config.policy;
    let sleep = |d| {
        crate::interrupt::sleep(d);
    };
    match fence::poll_until(host, d, policy, PowerState::On, &sleep) {
        Poll::Reached(polls) => {
            tracing::info!("{}: power {} confirmed: on", host.name(), act.as_str());
            row.power_state = Some(PowerState::On);
            row.result = "on";
            row.polls = Some(polls);
        }
        Poll::Refused(e, polls) => {
            row.polls = Some(polls);
            row.result = "failed";
            row.error_kind = Some(e.kind);
            row.error = Some(format!(
                "cannot read the power after power {}: {e}",
                act.as_str()
            ));
        }
        Poll::Stopped {
            polls,
            last_state,
            signal,
        } => {
            row.polls = Some(polls);
            row.power_state = last_state;
            row.result = "unconfirmed";
            row.error_kind = Some(BmcErrorKind::Failure);
            row.error = Some(format!(
                "power {} was acknowledged; {signal} stopped the run before the BMC confirmed on",
                act.as_str()
            ));
        }
        Poll::TimedOut {
            polls,
            last_state,
            last_error,
        } => {
            row.polls = Some(polls);
            row.power_state = last_state;
            row.result = "unconfirmed";
            let waited = humantime::format_duration(
                policy.check_interval * policy.check_max_count.saturating_sub(1),
            );
            let (kind, why) = match last_error {
                Some(e) => (e.kind, format!("the power could not be read: {e}")),
                None => (
                    BmcErrorKind::Failure,
                    "the BMC still reports power off".into(),
                ),
            };
            row.error_kind = Some(kind);
            row.error = Some(format!(
                "power {} was acknowledged, but after {polls} reads over {waited} {why}",
                act.as_str()
            ));
        }
    }
}

/// 0 when every host succeeded; else 8 when every failure is an unreachable BMC, 9 when
/// every failure is a refusal, 3 when every failure is the configuration's (status only: an
/// action refuses them before anything), 12 otherwise.
pub fn exit_code(rows: &[PowerRow]) -> ExitCode {
    let kinds: BTreeSet<&str> = rows
        .iter()
        .filter(|r| r.failed())
        .map(|r| r.error_kind.map_or("failure", BmcErrorKind::as_str))
        .collect();
    match kinds.into_iter().collect::<Vec<_>>().as_slice() {
        [] => ExitCode::Success,
        ["unreachable"] => ExitCode::Unreachable,
        ["auth"] => ExitCode::Auth,
        ["config"] => ExitCode::Config,
        _ => ExitCode::Partial,
    }
}

fn seconds(ms: u64) -> String {
    format!("{:.2}s", Duration::from_millis(ms).as_secs_f64())
}

fn print_table(report: &Report) -> anyhow::Result<()> {
    let status = report.action == Action::Status;
    let mut headers = vec!["Host", "BMC", "Driver", "Power"];
    if !status {
        headers.push("Result");
    }
    headers.extend(["Time", "Error"]);
    let mut t = output::table(headers);
    for r in &report.hosts {
        let mut cells = vec![
            r.host.clone(),
            r.bmc_address.clone(),
            r.driver.to_string(),
            r.power_state.map_or("-".into(), |s| s.as_str().to_string()),
        ];
        if !status {
            cells.push(r.result.to_string());
        }
        cells.push(seconds(r.elapsed_ms));
        cells.push(output::or_dash(r.error.as_deref()));
        t.add_row(cells);
    }
    crate::commands::print_listing(None, &t)?;
    let s = &report.summary;
    let what = match (report.action, report.wait) {
        (Action::Status, _) => {
            let count = |p| {
                report
                    .hosts
                    .iter()
                    .filter(|r| r.power_state == Some(p))
                    .count()
            };
            format!(
                "{} hosts: {} on, {} off, {} unknown",
                s.total,
                count(PowerState::On),
                count(PowerState::Off),
                s.failed
            )
        }
        (Action::Off, true) => format!("fenced {} of {} hosts", s.succeeded, s.total),
        (a, _) => format!("{} {} of {} hosts", a.verb(), s.succeeded, s.total),
    };
    output::emit(&format!(
        "{what}; result: {} (exit {})\n",
        s.result, s.exit_code
    ))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(result: &'static str, kind: Option<BmcErrorKind>) -> PowerRow {
        PowerRow {
            host: "h".into(),
            bmc_address: "a:623".into(),
            driver: "ipmi",
            power_state: None,
            result,
            error: None,
            error_kind: kind,
            polls: None,
            elapsed_ms: 0,
        }
    }

    #[test]
    fn exit_codes_distinguish_the_failures() {
        use BmcErrorKind::*;
        assert_eq!(
            exit_code(&[row("ok", None), row("fenced", None)]),
            ExitCode::Success
        );
        assert_eq!(exit_code(&[]), ExitCode::Success);
        assert_eq!(
            exit_code(&[row("ok", None), row("failed", Some(Unreachable))]),
            ExitCode::Unreachable
        );
        assert_eq!(
            exit_code(&[row("failed", Some(Auth)), row("failed", Some(Auth))]),
            ExitCode::Auth
        );
        assert_eq!(
            exit_code(&[row("unconfirmed", Some(Failure))]),
            ExitCode::Partial
        );
        assert_eq!(
            exit_code(&[row("failed", Some(Auth)), row("failed", Some(Unreachable))]),
            ExitCode::Partial
        );
        assert_eq!(
            exit_code(&[row("requested", None), row("already-off", None)]),
            ExitCode::Success
        );
    }

    #[test]
    fn unknown_hosts_name_the_configured_ones() {
        let c = Config::from_str(
            "[hosts.compute-1]\n[hosts.compute-2]\n[hosts.ctl-1]\n",
            "/etc/evacctl/config.toml",
        )
        .unwrap();
        let e = unknown_host(&c, "compute-l");
        assert_eq!(e.code, ExitCode::Usage);
        assert_eq!(
            e.message,
            "unknown host `compute-l`; did you mean `compute-1`? (configured hosts: compute-1, \
             compute-2, ctl-1; nothing was done)"
        );
        let e = unknown_host(&Config::default(), "compute-1");
        assert!(e.message.contains("no host is configured"), "{e}");
        assert!(e.message.contains("--config"), "{e}");
    }
}
