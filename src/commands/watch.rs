//! `evacctl watch`: the whole runbook unattended (`crate::engine`), in a loop until SIGTERM /
//! SIGINT, or one cycle with `--once` (cron); `--status` prints each host's state and the
//! evacuation history from the journal.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cli::{Format, WatchArgs};
use crate::commands::Context;
use crate::config::Config;
use crate::consul;
use crate::core::records::VERIFIED_ACTION;
use crate::core::watch::{self as core, HostState, Transition};
use crate::engine::wake::{self, ConsulWake, FollowOptions};
use crate::engine::{self, CycleReport, Engine, Setup};
use crate::exit_codes::ExitCode;
use crate::interrupt::{self, Signal};
use crate::journal::{self, Kind, Record};
use crate::lock::{LeaderFlag, LeaderLock, LocalLock};
use crate::metrics::{self, Publisher};
use crate::notify::{self, Event, EventKind, Notifier};
use crate::output;
use crate::steps::StepContext;

/// SIGTERM or SIGINT came (`interrupt`, installed by `commands::dispatch` in its recording
/// mode): the current step finishes, the journal is written, then the loop ends.
fn stopping() -> bool {
    interrupt::requested().is_some()
}

/// watch's exit code once stopped by a signal: 130 for SIGINT, 0 for SIGTERM (a service
/// manager's ordinary stop).
fn stopped_code() -> ExitCode {
    match interrupt::requested() {
        Some(Signal::Int) => ExitCode::Interrupted,
        _ => ExitCode::Success,
    }
}

pub fn run(ctx: &Context, args: &WatchArgs) -> anyhow::Result<ExitCode> {
    if args.status {
        return status(ctx);
    }
    if output::rows_only() {
        return Err(crate::commands::no_rows("watch (without --status)").into());
    }
    let config = ctx.config()?;
    let notifier = Notifier::from_config(&config.notify)?;
    if args.test_notify {
        return test_notify(&notifier);
    }
    // Replaced when SIGHUP reloads the configuration (between cycles).
    let notifier = RwLock::new(notifier);
    let notify = |e: Event| notifier.read().unwrap_or_else(|p| p.into_inner()).notify(e);
    // One watch per machine: taken before anything else, held until exit (a dry run acts on
    // nothing and takes no lock).
    let _local = if args.dry_run {
        None
    } else {
        Some(LocalLock::acquire(&config.lock.file)?)
    };
    let mut leader = leader_lock(config, args.dry_run)?;
    let leader_flag = leader.as_ref().map(LeaderLock::leader_flag);
    let session = ctx.session()?;
    let interval = args.interval.unwrap_or(config.policy.interval);
    let path = ctx.journal_path()?;
    let journal = if args.dry_run {
        None
    } else {
        Some(ctx.open_journal()?)
    };
    // Its checkpoint and what was appended since: a year of journal is not read again at each
    // cron run. A run that writes the journal keeps the checkpoint up to date.
    let (folded, bad) = journal::summary(&path, journal.is_some())?;
    if bad > 0 {
        tracing::warn!(
            "journal {}: {bad} line(s) could not be read",
            path.display()
        );
    }
    let mut engine = Engine::resume(&folded);
    if let (Some(l), Some(j)) = (leader.as_mut(), journal.as_ref()) {
        l.set_run(j.run_id());
    }
    // Each host is held while its steps run (docs/design.md 2.5); a dry run acts on nothing.
    let host_locks = if args.dry_run {
        None
    } else {
        Some(ctx.host_locks()?)
    };

    let format = ctx.format();
    // In a loop, JSON output is a stream of events (one object per line); with --once, one
    // report at the end.
    let stream = format == Format::Json && !args.once;
    let run_id = journal
        .as_ref()
        .map(|j| j.run_id().to_string())
        .unwrap_or_default();
    let is_leader = || leader_flag.as_ref().is_none_or(LeaderFlag::is_set);
    // Why the leader lock could not be asked this cycle (set by the loop below).
    let leader_error: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    let leader_problem = || leader_error.lock().ok().and_then(|e| e.clone());
    // A dry run tells nobody: what it shows has not happened. Only the holder of the leader
    // lock tells (origin A): a standby's observations would repeat the leader's.
    let tells = || !args.dry_run && is_leader();
    // One host's event: its state before and after, and what the step concerned.
    let tell_host = |kind,
                     host: &str,
                     (from, to): (HostState, HostState),
                     why: &str,
                     details: &serde_json::Value| {
        let mut e = Event::new(kind, host, to.as_str(), why);
        e.previous_state = Some(from.as_str().to_string());
        e.run_id = run_id.clone();
        e.details = details.clone();
        notify(e);
    };
    let on_transition = |t: &Transition, details: &serde_json::Value| {
        for kind in event_kinds(t).into_iter().filter(|_| tells()) {
            tell_host(kind, &t.host, (t.from, t.to), &t.reason, details);
        }
        if stream {
            crate::outln!(
                "{}",
                serde_json::json!({"event": "transition", "host": t.host,
                    "from": t.from.as_str(), "to": t.to.as_str(), "reason": t.reason,
                    "at": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()})
            );
        }
    };
    // Cluster-wide events (host "*"): an alert (a gate), or a warning such as a take-over.
    let on_cluster = |kind: EventKind, state: &str, why: &str| {
        // While nobody can hold the leader lock, every controller tells what concerns them all.
        if tells() || (!args.dry_run && leader_problem().is_some()) {
            let mut e = Event::new(kind, "*", state, why);
            e.run_id = run_id.clone();
            notify(e);
        }
        if stream {
            crate::outln!(
                "{}",
                serde_json::json!({"event": kind.as_str(), "state": state, "reason": why,
                    "at": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()})
            );
        }
    };
    let on_alert = |why: &str| on_cluster(EventKind::Alert, "alert", why);
    let on_alert_end = |why: &str| on_cluster(EventKind::AlertEnded, "ok", why);
    let on_warning = |state: &str, why: &str| on_cluster(EventKind::Warning, state, why);
    // Level 1's later volume move: the host stays evacuated; told once, as a state change is.
    let on_volumes_moved = |host: &str, why: &str, details: &serde_json::Value| {
        if tells() {
            let evacuated = (HostState::Evacuated, HostState::Evacuated);
            tell_host(EventKind::VolumesMoved, host, evacuated, why, details);
        }
        if stream {
            crate::outln!(
                "{}",
                serde_json::json!({"event": EventKind::VolumesMoved.as_str(), "host": host,
                    "reason": why,
                    "at": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()})
            );
        }
    };
    let channels = notifier
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .channels();
    tracing::info!(
        "watch: {} every {}, {} confirmations{}; {}{}; journal {}; notifications: {}",
        if args.once { "one cycle" } else { "a cycle" },
        humantime::format_duration(interval),
        config.policy.confirmations,
        config
            .policy
            .confirm_window
            .map_or(String::new(), |w| format!(
                " over confirm_window {}",
                humantime::format_duration(w)
            )),
        engine::fencing_text(config.policy.quick_evacuate_level),
        if args.dry_run {
            "; DRY RUN: nothing changes"
        } else {
            ""
        },
        path.display(),
        if channels.is_empty() {
            "none".to_string()
        } else {
            channels.join(", ")
        }
    );
    // Notifications go out on their own threads; at exit they get a bounded time to finish.
    let flush = || {
        let n = notifier.read().unwrap_or_else(|p| p.into_inner());
        if !n.flush(Duration::from_secs(10)) {
            tracing::warn!("some notifications were still pending at exit");
        }
    };
    // Which configuration is loaded: the SHA-256 of its file, as `sha256sum` prints it.
    let mut hash = metrics::config_hash(config);
    // [metrics]; none in a dry run (it writes nothing).
    let mut metrics = if args.dry_run {
        None
    } else {
        Some(metrics::Publisher::start(config, &hash, &path)?)
    };
    // SIGHUP: the configuration is read again between cycles (not with --once: one cycle).
    let hup = Arc::new(AtomicBool::new(false));
    if !args.once
        && let Err(e) = signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone())
    {
        tracing::warn!("SIGHUP will not reload the configuration: {e}");
    }
    let mut current = config.clone();
    let mut interval = interval;
    let mut last: Option<CycleReport> = None;
    // Between cycles, Consul's blocking queries wake the loop when a cluster's checks change
    // (not for one cycle: --once). Only with confirm_window: a confirmation by time does not
    // care how many cycles ran, while `confirmations` alone counts observations that must
    // stay an interval apart (an early cycle would count as one).
    let follow = |config: &Config, interval: Duration| {
        (!args.once && config.policy.confirm_window.is_some()).then(|| {
            let clusters = consul::clusters(config).unwrap_or_default();
            ConsulWake::start(&clusters, &FollowOptions::for_interval(interval))
        })
    };
    let mut wake = follow(&current, interval);

    loop {
        let setup = Setup {
            session,
            config: &current,
            cx: StepContext::new(&current, Some(session), journal.as_ref(), path.clone()),
            stop: &stopping,
            host_locks: host_locks.as_ref(),
            is_leader: &is_leader,
            leader_error: &leader_problem,
            on_transition: &on_transition,
            on_alert: &on_alert,
            on_alert_end: &on_alert_end,
            on_warning: &on_warning,
            on_volumes_moved: &on_volumes_moved,
        };
        if let Some(report) = last.take_if(|_| stopping()) {
            // Stopped between cycles: the last whole cycle is the report.
            if let Some(l) = leader.as_mut() {
                l.release_with(engine.hand_over_hold(&setup));
            }
            flush();
            print_report(format, &report, false)?;
            return Ok(stopped_code());
        }
        let started = Instant::now();
        // A change after this point may not be in this cycle's observation: it wakes the next.
        let mut changes_seen = wake.as_ref().map_or(0, ConsulWake::changes);
        if let Some(l) = leader.as_mut() {
            let problem = l.try_acquire().err().map(|e| e.to_string());
            if let Some(p) = &problem {
                tracing::warn!(
                    "the leader lock cannot be asked ({p}): no controller can act; acting on \
                     nothing this cycle"
                );
            }
            if let Ok(mut slot) = leader_error.lock() {
                *slot = problem;
            }
            if let Some(dead) = l.take_over_note() {
                engine.took_over(dead);
            }
        }
        let report = engine.cycle(&setup);
        if let Some(m) = metrics.as_mut() {
            m.cycle(metrics::CycleFacts {
                hosts: report.error.is_none().then(|| {
                    report
                        .hosts
                        .iter()
                        .map(|h| (h.host.clone(), h.state.as_str().to_string()))
                        .collect()
                }),
                gate: &report.gate,
                leader: is_leader(),
                leader_error: leader_problem().is_some(),
                duration: started.elapsed().as_secs_f64(),
            });
        }
        if args.once || stopping() {
            if let Some(l) = leader.as_mut() {
                l.release_with(engine.hand_over_hold(&setup));
            }
            flush();
            print_report(format, &report, args.once)?;
            if args.once && !stopping() {
                return Ok(cycle_exit_code(&report));
            }
            return Ok(stopped_code());
        }
        drop(setup);
        // The next cycle: a whole interval after this one started (Nova is polled, and the
        // confirmation windows need a clock), or when a suspect host's confirm_window ends,
        // or as soon as a Consul cluster's checks change (but not sooner than the least gap
        // after this one started: a Consul that keeps changing must not spin the loop).
        let confirm_at = engine.confirm_due(&current.policy).map(|t| {
            let left = (t - engine::unix_now()).max(0.0);
            // A millisecond late rather than early: the window must have passed.
            Instant::now() + Duration::from_secs_f64(left) + Duration::from_millis(1)
        });
        loop {
            if stopping() {
                break;
            }
            if hup.swap(false, Ordering::Relaxed) {
                reload(&mut current, &mut hash, &notifier, metrics.as_mut());
                interval = args.interval.unwrap_or(current.policy.interval);
                wake = follow(&current, interval);
                changes_seen = wake.as_ref().map_or(0, ConsulWake::changes);
            }
            let now = Instant::now();
            let due = confirm_at.map_or(started + interval, |c| c.min(started + interval));
            if now >= due {
                break;
            }
            let slice = Duration::from_millis(50);
            match &wake {
                Some(w) if w.changes() != changes_seen => {
                    let earliest = started + wake::min_wake_gap(interval);
                    if now >= earliest {
                        tracing::debug!("Consul's checks changed: an early cycle");
                        break;
                    }
                    std::thread::sleep((earliest - now).min(slice));
                }
                // Returns at once when a change comes.
                Some(w) => {
                    w.wait(changes_seen, (due - now).min(slice));
                }
                None => std::thread::sleep((due - now).min(slice)),
            }
        }
        last = Some(report);
    }
}

/// SIGHUP: the configuration file read and validated again. A bad one is refused (error
/// logged) and the running one kept; a good one is in force from the next cycle, except
/// `[cloud]`, `[journal]`, `[lock]` and `[metrics] listen`, which were used at startup and
/// change at the next restart (a warning says so).
fn reload(
    current: &mut Config,
    hash: &mut String,
    notifier: &RwLock<Notifier>,
    metrics: Option<&mut Publisher>,
) {
    let shown = current.path().map_or_else(
        || "(the built-in defaults)".to_string(),
        |p| p.display().to_string(),
    );
    let refused = |why: &dyn std::fmt::Display| {
        tracing::error!(
            "SIGHUP: the configuration {shown} is refused, the running one (sha256 {hash}) is \
             kept: {why}"
        );
    };
    // Hashed before it is read: a file changed in between shows the older hash, and the next
    // SIGHUP corrects it.
    let new_hash = metrics::config_hash(current);
    let mut new = match Config::load(current.path()) {
        Ok(c) => c,
        Err(e) => return refused(&e),
    };
    let new_notifier = match Notifier::from_config(&new.notify) {
        Ok(n) => n,
        Err(e) => return refused(&e),
    };
    let mut kept = Vec::new();
    if new.cloud != current.cloud {
        kept.push("[cloud]");
        new.cloud = current.cloud.clone();
    }
    if new.journal != current.journal {
        kept.push("[journal]");
        new.journal = current.journal.clone();
    }
    if new.lock != current.lock {
        kept.push("[lock]");
        new.lock = current.lock.clone();
    }
    if new.metrics.listen != current.metrics.listen {
        kept.push("[metrics] listen");
        new.metrics.listen = current.metrics.listen;
    }
    if !kept.is_empty() {
        tracing::warn!(
            "SIGHUP: {} changed: in force at the next restart only",
            kept.join(", ")
        );
    }
    let old = std::mem::replace(
        &mut *notifier.write().unwrap_or_else(|p| p.into_inner()),
        new_notifier,
    );
    // What the old channels still had queued goes out before they are dropped.
    old.flush(Duration::from_secs(10));
    if let Some(m) = metrics {
        m.reconfigure(&new_hash, &new.metrics);
    }
    *current = new;
    tracing::info!("SIGHUP: configuration {shown} reloaded (sha256 {new_hash})");
    *hash = new_hash;
}

/// `watch --once`'s exit code: the observer cut off (7); the cloud not observed (its error's
/// code); a host in alert or a mass failure held (4, a person is needed); else 0.
fn cycle_exit_code(report: &CycleReport) -> ExitCode {
    if report.gate == "observer-isolated" {
        return ExitCode::ObserverIsolated;
    }
    if let Some(e) = &report.error_cause {
        return crate::error::exit_code_of(e);
    }
    if report.gate == "mass-failure" || !report.alerts.is_empty() {
        return ExitCode::Unhealthy;
    }
    ExitCode::Success
}

/// The Consul leader lock (`Config::leader_cluster`: on whenever Consul clusters are
/// configured, or `CONSUL_HTTP_ADDR` names one, unless `[lock] leader = false`), not for a
/// dry run.
fn leader_lock(config: &Config, dry_run: bool) -> anyhow::Result<Option<LeaderLock>> {
    if dry_run || !config.lock.leader {
        return Ok(None);
    }
    // The same cluster as the host keys (`[lock] consul_cluster`, a management cluster, or
    // the one `CONSUL_HTTP_ADDR` describes).
    let Some(cluster) = crate::lock::lock_cluster(config)
        .map_err(|e| crate::error::CliError::new(ExitCode::Config, e))?
    else {
        return Ok(None);
    };
    // Below a third of the TTL, so that one hung renewal does not outlive the leadership.
    let ttl = config.lock.session_ttl;
    let options = consul::ClientOptions {
        timeout: (ttl / 4).max(Duration::from_secs(1)),
        ..consul::ClientOptions::default()
    };
    let client = consul::Client::new(&cluster, &options)?;
    Ok(Some(LeaderLock::new(
        client,
        &config.lock.consul_key,
        ttl,
        crate::lock::hostname(),
    )))
}

/// The notifications for a state change, if it is one people hear about: into failed,
/// fenced, isolated, evacuated, alert (issue 7), degraded (a warning), back to healthy from a
/// failure (recovered); a recovery that did not bring the host back (origin D: people are
/// told), before whatever comes next.
fn event_kinds(t: &Transition) -> Vec<EventKind> {
    let mut kinds = Vec::new();
    if t.from == HostState::Recovering && matches!(t.to, HostState::Fencing | HostState::Isolated) {
        kinds.push(EventKind::RecoveryFailed);
    }
    kinds.extend(match t.to {
        HostState::Failed => Some(EventKind::Failed),
        HostState::Fenced => Some(EventKind::Fenced),
        HostState::Isolated => Some(EventKind::Isolated),
        HostState::Evacuated => Some(EventKind::Evacuated),
        HostState::Alert => Some(EventKind::Alert),
        HostState::Degraded => Some(EventKind::Warning),
        HostState::Healthy if t.from != HostState::Suspect => Some(EventKind::Recovered),
        _ => None,
    });
    kinds
}

/// `watch --test-notify`: one test event through every channel, waiting for the deliveries.
/// Exit 0 only when every channel delivered; a channel that failed, or did not finish within
/// the wait, makes it `partial` (12), naming the channel.
fn test_notify(notifier: &Notifier) -> anyhow::Result<ExitCode> {
    let channels = notifier.channels();
    if channels.is_empty() {
        return Err(crate::error::CliError::new(
            ExitCode::Config,
            "no notification channel is configured ([notify] webhook_url, command, email_to)",
        )
        .into());
    }
    notifier.notify(notify::test_event(notify::hostname()));
    let done = notifier.flush(Duration::from_secs(60));
    let failed = notifier.take_failures();
    if !failed.is_empty() || !done {
        let mut why: Vec<String> = failed
            .iter()
            .map(|f| format!("{}: {}", f.channel, f.why))
            .collect();
        if !done {
            why.push("a delivery did not finish within 60s".to_string());
        }
        return Err(crate::error::CliError::new(
            ExitCode::Partial,
            format!("the test notification failed through {}", why.join("; ")),
        )
        .into());
    }
    crate::outln!(
        "test event delivered through {} (see the log lines above)",
        channels.join(", ")
    );
    Ok(ExitCode::Success)
}

fn print_report(format: Format, report: &CycleReport, once: bool) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            if once {
                output::print_json(report)?;
            }
        }
        Format::Table | Format::Value | Format::Csv => {
            let mut t = output::table(["Host", "State", "Since", "Reason", "Next"]);
            for h in &report.hosts {
                t.add_row(vec![
                    h.host.clone(),
                    h.state.as_str().to_string(),
                    output::or_dash(Some(h.since.as_str()).filter(|s| !s.is_empty())),
                    h.reason.clone(),
                    output::or_dash(Some(h.next.as_str()).filter(|s| !s.is_empty())),
                ]);
            }
            output::print_table(None, &t)?;
            if report.gate != "open" {
                crate::outln!("\ngate: {}: {}", report.gate, report.gate_reason);
            }
            if let Some(e) = &report.error {
                crate::outln!("\nthe cloud could not be observed: {e}");
            }
        }
    }
    Ok(())
}

// =====================================================================================
// --status
// =====================================================================================

#[derive(Serialize)]
struct HostStatus {
    host: String,
    state: HostState,
    since: String,
    reason: String,
}

/// One evacuation request of the history (origin F: server id, name, source, destination,
/// time, result). `host` and `target` are the journal's own fields, kept for scripts.
#[derive(Serialize)]
struct EvacuationRow {
    at: String,
    host: String,
    server: String,
    /// `null` in a journal written before names were recorded, until verified.
    name: Option<String>,
    source: String,
    /// The target asked for; `null`: the scheduler chose.
    target: Option<String>,
    /// Where the server went: the target, or where verification found it.
    destination: Option<String>,
    result: String,
    /// `ok` or `failed` once verified, by `watch` or `verify` (`null`: not yet).
    verification: Option<String>,
    detail: Option<String>,
    run_id: String,
}

#[derive(Serialize)]
struct AlertRow {
    at: String,
    host: Option<String>,
    reason: String,
}

#[derive(Serialize)]
struct Status {
    journal: String,
    hosts: Vec<HostStatus>,
    evacuations: Vec<EvacuationRow>,
    alerts: Vec<AlertRow>,
}

fn status_of(records: &[Record], journal: String) -> Status {
    let memories = crate::core::summary::memories_from(records);
    let since_of = |h: &str| {
        records
            .iter()
            .rev()
            .find(|r| r.action == core::STATE_ACTION && r.host.as_deref() == Some(h))
            .map(|r| r.ts.clone())
            .unwrap_or_default()
    };
    let hosts = memories
        .iter()
        .map(|(h, m)| HostStatus {
            host: h.clone(),
            state: m.state(),
            since: since_of(h),
            reason: m.reason.clone(),
        })
        .collect();
    let evacuations = records
        .iter()
        .enumerate()
        .filter(|(_, r)| r.action == "evacuate" && r.kind == Kind::Result)
        .map(|(i, r)| {
            // The first verification of this server from this host after the request.
            let verified = records[i..]
                .iter()
                .find(|v| v.action == VERIFIED_ACTION && v.host == r.host && v.server == r.server);
            EvacuationRow {
                at: r.ts.clone(),
                host: r.host.clone().unwrap_or_default(),
                server: r.server.clone().unwrap_or_default(),
                name: r
                    .server_name
                    .clone()
                    .or_else(|| verified.and_then(|v| v.server_name.clone())),
                source: r.host.clone().unwrap_or_default(),
                target: r.target.clone(),
                destination: verified
                    .and_then(|v| v.target.clone())
                    .or_else(|| r.target.clone().filter(|_| r.status == "accepted")),
                result: r.status.clone(),
                verification: verified.map(|v| v.status.clone()),
                detail: r.detail.clone(),
                run_id: r.run_id.clone(),
            }
        })
        .collect();
    let alerts = records
        .iter()
        .filter(|r| {
            r.action == "alert"
                || (r.action == core::STATE_ACTION && r.status == HostState::Alert.as_str())
        })
        .map(|r| AlertRow {
            at: r.ts.clone(),
            host: r.host.clone(),
            reason: match (r.status.as_str(), r.detail.clone().unwrap_or_default()) {
                (crate::core::records::ALERT_ENDED, d) => format!("ended: {d}"),
                (_, d) => d,
            },
        })
        .collect();
    Status {
        journal,
        hosts,
        evacuations,
        alerts,
    }
}

fn status(ctx: &Context) -> anyhow::Result<ExitCode> {
    let path = ctx.journal_path()?;
    let (records, _) = journal::read(&path)?;
    let s = status_of(&records, path.display().to_string());
    let code = if s.hosts.iter().any(|h| h.state == HostState::Alert) {
        ExitCode::Unhealthy
    } else {
        ExitCode::Success
    };
    match ctx.format() {
        Format::Json => output::print_json(&s)?,
        Format::Table | Format::Value | Format::Csv => {
            let mut t = output::table(["Host", "State", "Since", "Reason"]);
            for h in &s.hosts {
                t.add_row(vec![
                    h.host.clone(),
                    h.state.as_str().into(),
                    h.since.clone(),
                    h.reason.clone(),
                ]);
            }
            if s.hosts.is_empty() {
                crate::outln!("No host state in {} yet.", s.journal);
            } else {
                crate::commands::print_listing(Some(&format!("Hosts ({}):", s.journal)), &t)?;
            }
            let mut t = output::table([
                "Time",
                "Server",
                "Name",
                "Source",
                "Destination",
                "Result",
                "Run",
            ]);
            for e in &s.evacuations {
                let mut result = match &e.detail {
                    Some(d) if e.result != "accepted" => format!("{} ({d})", e.result),
                    _ => e.result.clone(),
                };
                match e.verification.as_deref() {
                    Some("ok") => result.push_str(", verified"),
                    Some(v) => result.push_str(&format!(", verification {v}")),
                    None => {}
                }
                t.add_row(vec![
                    e.at.clone(),
                    e.server.clone(),
                    output::or_dash(e.name.as_deref()),
                    e.source.clone(),
                    output::or_dash(e.destination.as_deref()),
                    result,
                    e.run_id.clone(),
                ]);
            }
            crate::outln!();
            if s.evacuations.is_empty() {
                crate::outln!("No evacuation recorded.");
            } else {
                output::print_table(Some("Evacuation history:"), &t)?;
            }
            if !s.alerts.is_empty() {
                let mut t = output::table(["Time", "Host", "Alert"]);
                for a in s.alerts.iter().rev().take(20).rev() {
                    t.add_row(vec![
                        a.at.clone(),
                        output::or_dash(a.host.as_deref()),
                        a.reason.clone(),
                    ]);
                }
                crate::outln!();
                output::print_table(Some("Alerts (the last 20):"), &t)?;
            }
        }
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(lines: &[&str]) -> Vec<Record> {
        lines
            .iter()
            .map(|l| serde_json::from_str(l).expect("a record"))
            .collect()
    }

    #[test]
    fn the_history_has_name_and_destination_and_reads_old_journals() {
        let r = records(&[
            // Written before names and verification records existed.
            r#"{"ts":"2026-11-22T03:12:09.000000Z","run_id":"r1","kind":"result","action":"evacuate","host":"c3","server":"s1","status":"accepted"}"#,
            r#"{"ts":"2026-11-22T03:12:09.000000Z","run_id":"r1","kind":"result","action":"evacuate","host":"c3","target":"c2","server":"s2","status":"accepted"}"#,
            // Now: the name, the scheduler's choice found at verification.
            r#"{"ts":"2026-11-23T03:12:09.000000Z","run_id":"r2","kind":"result","action":"evacuate","host":"c3","server":"s3","server_name":"db-1","status":"accepted"}"#,
            r#"{"ts":"2026-11-23T03:12:09.000000Z","run_id":"r2","kind":"result","action":"evacuate","host":"c3","server":"s4","server_name":"web-1","status":"failed","detail":"HTTP 409"}"#,
            r#"{"ts":"2026-11-23T03:13:09.000000Z","run_id":"r2","kind":"event","action":"evacuate-verified","host":"c3","target":"c4","server":"s3","server_name":"db-1","status":"ok"}"#,
        ]);
        let s = status_of(&r, "j".into());
        let row = |id: &str| {
            let e = s.evacuations.iter().find(|e| e.server == id).unwrap();
            (
                e.name.as_deref(),
                e.source.as_str(),
                e.destination.as_deref(),
                e.result.as_str(),
                e.verification.as_deref(),
            )
        };
        assert_eq!(row("s1"), (None, "c3", None, "accepted", None));
        assert_eq!(row("s2"), (None, "c3", Some("c2"), "accepted", None));
        assert_eq!(
            row("s3"),
            (Some("db-1"), "c3", Some("c4"), "accepted", Some("ok"))
        );
        assert_eq!(row("s4"), (Some("web-1"), "c3", None, "failed", None));
        // Verification records are no rows of their own.
        assert_eq!(s.evacuations.len(), 4);
    }
}
