//! The engine calls one step entry per state-machine step, and turns its typed outcome into
//! what the state machine reads (`core::watch::Outcome`): a refusal or a failure stops
//! automatic work on the host (an alert), a transient error is tried again next cycle.

use serde::Serialize;

use crate::bmc::PowerState;
use crate::core::watch::{HostState, Memory, Outcome, Skipped, Step};
use crate::steps::evacuate::{self, Options};
use crate::steps::volumes::Moved;
use crate::steps::{RefusalKind, StepOutcome, isolate, power, restore, verify, volumes};

use super::{Setup, unix_now};

/// One server in a notification's `details.servers`: what this step did with it.
#[derive(Clone, Debug, Serialize)]
pub(super) struct ServerLine {
    pub id: String,
    pub name: String,
    /// The failed host.
    pub from: String,
    /// Where it went (or was sent); `null`: not known (the scheduler chooses), or not sent.
    pub to: Option<String>,
    /// `accepted`, `failed`, `not-sent`, `under-way`, `skipped`, `does-not-fit` (evacuation);
    /// `verified`, `pending`, `failed` (verification).
    pub result: &'static str,
    pub reason: Option<String>,
}

impl ServerLine {
    pub(super) fn skipped(host: &str, s: &Skipped) -> ServerLine {
        ServerLine {
            id: s.id.clone(),
            name: s.name.clone(),
            from: host.to_string(),
            to: None,
            result: "skipped",
            reason: Some(s.reason.clone()),
        }
    }
}

/// A step's outcome, and the servers it concerned (for the notification).
pub(super) struct Ran {
    pub outcome: Outcome,
    pub servers: Vec<ServerLine>,
    /// The volume step: what it moved, per backend (for the notification of level 1's later
    /// move).
    pub volumes: Vec<volumes::BackendMoved>,
}

impl From<Outcome> for Ran {
    fn from(outcome: Outcome) -> Ran {
        Ran {
            outcome,
            servers: Vec::new(),
            volumes: Vec::new(),
        }
    }
}

/// Runs one step with its entry; its outcome as the state machine's plain data.
pub(super) fn run_step(s: &Setup<'_>, host: &str, mem: &Memory, step: Step) -> Ran {
    if s.cx.journal.is_none() {
        return Outcome::Retry("dry run".into()).into();
    }
    match step {
        Step::ReadPower => read_power(s, host).into(),
        Step::PowerOn => power_on(s, host).into(),
        Step::Repair => repair(s, host, mem).into(),
        Step::Fence => fence(s, host).into(),
        Step::Isolate {
            force_down,
            confirm_power,
        } => isolate(s, host, force_down, confirm_power).into(),
        Step::MoveVolumes => move_volumes(s, host, mem),
        Step::Evacuate => evacuate_host(s, host),
        Step::Verify => verify(s, host, mem),
    }
}

fn read_power(s: &Setup<'_>, host: &str) -> Outcome {
    match power::status(&s.cx, host) {
        StepOutcome::Done(p) => {
            let off = p == PowerState::Off;
            if off {
                let address = s.config.host(host).and_then(|h| h.bmc());
                tracing::info!(
                    "{} power status is: OFF",
                    address.map_or(host, |b| b.address.as_str())
                );
            }
            Outcome::Power(Some(!off))
        }
        StepOutcome::Failed(e) => {
            tracing::warn!("{host}: cannot read the power state: {e}");
            Outcome::Power(None)
        }
        StepOutcome::Refused(_) | StepOutcome::Transient(_) => Outcome::Power(None),
    }
}

fn power_on(s: &Setup<'_>, host: &str) -> Outcome {
    match power::power_on(&s.cx, host) {
        StepOutcome::Done(()) => Outcome::Done(format!(
            "found powered off: powered on once to recover it; waiting up to {} for it to \
             rejoin",
            humantime::format_duration(s.config.policy.recovery_timeout)
        )),
        StepOutcome::Failed(e) => {
            tracing::warn!("{host}: power on failed ({e}): fencing instead");
            Outcome::Alert(format!("power on failed: {e}"))
        }
        StepOutcome::Refused(_) => Outcome::Retry("no BMC".into()),
        StepOutcome::Transient(e) => Outcome::Retry(format!("{e:#}")),
    }
}

fn repair(s: &Setup<'_>, host: &str, mem: &Memory) -> Outcome {
    let kind = mem.kind.map_or("unknown", |k| k.as_str());
    match restore::repair(&s.cx, host, kind) {
        StepOutcome::Done(()) => Outcome::Done(format!(
            "repair command ran ({kind} failure); waiting up to {} for it to rejoin",
            humantime::format_duration(s.config.policy.recovery_timeout)
        )),
        StepOutcome::Failed(why) => {
            tracing::warn!("{host}: repair failed: {why}");
            Outcome::Alert(format!("repair failed: {why}"))
        }
        StepOutcome::Refused(r) => Outcome::Retry(r.reason),
        StepOutcome::Transient(e) => Outcome::Retry(format!("{e:#}")),
    }
}

fn fence(s: &Setup<'_>, host: &str) -> Outcome {
    match power::fence(&s.cx, host) {
        StepOutcome::Done(r) => {
            let detail = if r.already_off {
                "already off".to_string()
            } else {
                format!("off after {} polls", r.polls)
            };
            Outcome::Done(format!("power confirmed off by its BMC ({detail})"))
        }
        StepOutcome::Failed(e) => Outcome::Alert(format!("{e}: not evacuated")),
        StepOutcome::Refused(r) => Outcome::Alert(r.reason),
        StepOutcome::Transient(_) => Outcome::Retry("the journal cannot be written".into()),
    }
}

fn isolate(s: &Setup<'_>, host: &str, force_down: bool, confirm_power: bool) -> Outcome {
    match isolate::isolate_host(&s.cx, host, force_down, confirm_power) {
        StepOutcome::Done(i) => Outcome::Done(format!(
            "nova-compute {}disabled ({})",
            if force_down { "forced down and " } else { "" },
            i.disabled_reason.as_deref().unwrap_or("-")
        )),
        StepOutcome::Refused(r) if r.kind == RefusalKind::Unsafe => Outcome::Alert(r.reason),
        StepOutcome::Refused(r) => Outcome::Retry(r.reason),
        StepOutcome::Failed(e) | StepOutcome::Transient(e) => Outcome::Retry(format!("{e:#}")),
    }
}

fn move_volumes(s: &Setup<'_>, host: &str, mem: &Memory) -> Ran {
    // Level 1's later move (the host already evacuated) waits as long as it takes.
    let later = mem.state() == HostState::Evacuated;
    let waited = if later { 0.0 } else { unix_now() - mem.since };
    match volumes::move_off_host(&s.cx, host, waited) {
        StepOutcome::Done(Moved::Done(what, moved)) => {
            if later {
                tracing::info!("{host}: {}{what}", VOLUMES_MOVED_LATER);
            }
            Ran {
                volumes: moved,
                ..Outcome::Done(what).into()
            }
        }
        StepOutcome::Done(Moved::Waiting(why)) => Outcome::Wait(why).into(),
        StepOutcome::Done(Moved::StillUp(why)) => Outcome::VolumesLeft(why).into(),
        StepOutcome::Failed(why) => Outcome::Alert(why).into(),
        StepOutcome::Refused(r) => Outcome::Alert(r.reason).into(),
        StepOutcome::Transient(e) => Outcome::Retry(format!("{e:#}")).into(),
    }
}

/// The log line's and the notification's words for level 1's later volume move.
pub(super) const VOLUMES_MOVED_LATER: &str = "the volumes left behind at evacuation moved: ";

/// Servers under way already (ours or anyone's): not skipped, verified with the others.
const UNDER_WAY: [&str; 3] = [
    "evacuation-in-progress",
    "already-accepted",
    "request-in-doubt",
];

/// What the survey left on the host (not evacuable), with why; and every server's line.
fn survey_lines(
    survey: &evacuate::Survey,
    ev: Option<&evacuate::Evacuation>,
) -> (Vec<Skipped>, Vec<ServerLine>) {
    let host = survey.host.as_str();
    let mut skipped = Vec::new();
    let mut lines: Vec<ServerLine> = Vec::new();
    for o in ev.map_or(&[][..], |e| &e.outcomes) {
        lines.push(ServerLine {
            id: o.server_id.clone(),
            name: o.name.clone(),
            from: host.to_string(),
            to: o.target.clone(),
            result: if o.accepted {
                "accepted"
            } else if o.not_sent {
                "not-sent"
            } else {
                "failed"
            },
            reason: o.error.clone(),
        });
    }
    let dropped = ev.map_or(&[][..], |e| &e.dropped);
    for e in &survey.servers {
        if lines.iter().any(|l| l.id == e.id) {
            continue;
        }
        let line = |result, reason: Option<String>| ServerLine {
            id: e.id.clone(),
            name: e.name.clone(),
            from: host.to_string(),
            to: None,
            result,
            reason,
        };
        if let Some((_, why)) = dropped.iter().find(|(id, _)| *id == e.id) {
            lines.push(line("under-way", Some(why.clone())));
        } else if e.verdict.evacuable {
            let why = survey
                .plan
                .unplaced
                .iter()
                .find(|u| u.server_id == e.id)
                .map_or_else(
                    || "does not fit on the targets".to_string(),
                    |u| format!("does not fit (priority {}): {}", u.priority, u.why),
                );
            lines.push(line("does-not-fit", Some(why)));
        } else if e
            .verdict
            .reason_code
            .is_some_and(|c| UNDER_WAY.contains(&c))
        {
            lines.push(line("under-way", e.verdict.reason.clone()));
        } else {
            let s = Skipped {
                id: e.id.clone(),
                name: e.name.clone(),
                reason: e
                    .verdict
                    .reason
                    .clone()
                    .unwrap_or_else(|| "not evacuable".into()),
            };
            lines.push(ServerLine::skipped(host, &s));
            skipped.push(s);
        }
    }
    (skipped, lines)
}

/// Surveys and evacuates (idempotent: the journal and Nova's migrations keep anything from
/// being sent twice). What does not fit is the state machine's to judge, unless partial
/// evacuation is allowed.
fn evacuate_host(s: &Setup<'_>, host: &str) -> Ran {
    let policy = &s.config.policy;
    let concurrency = policy.evacuate_concurrency as usize;
    let opts = Options {
        host,
        targets: &policy.target_hosts,
        allow_partial: policy.partial_evacuation,
        filters: &s.config.evacuation,
        concurrency,
    };
    let survey = match evacuate::survey_host(&s.cx, &opts) {
        StepOutcome::Done(x) => x,
        StepOutcome::Refused(r) => return Outcome::Alert(r.reason).into(),
        StepOutcome::Failed(e) | StepOutcome::Transient(e) => {
            return Outcome::Retry(format!("{e:#}")).into();
        }
    };
    let does_not_fit = survey.does_not_fit();
    if does_not_fit.is_some() && !policy.partial_evacuation {
        let (skipped, servers) = survey_lines(&survey, None);
        return Ran {
            outcome: Outcome::Evacuated {
                accepted: 0,
                failed: 0,
                in_flight_or_done: false,
                does_not_fit,
                detail: String::new(),
                skipped,
            },
            servers,
            volumes: Vec::new(),
        };
    }
    let done = evacuate::evacuate_host(
        &s.cx,
        &survey,
        policy.partial_evacuation,
        concurrency,
        &evacuate::log_outcome,
    );
    let ev = match done {
        StepOutcome::Done(x) => x,
        StepOutcome::Refused(r) => return Outcome::Alert(r.reason).into(),
        StepOutcome::Failed(e) | StepOutcome::Transient(e) => {
            return Outcome::Retry(format!("{e:#}")).into();
        }
    };
    let (skipped, servers) = survey_lines(&survey, Some(&ev));
    if !skipped.is_empty() {
        tracing::warn!(
            "{host}: {}",
            crate::core::watch::skipped_text(host, &skipped)
        );
    }
    let (accepted, failed) = (ev.accepted(), ev.failed());
    if let Some(holder) = crate::lock::lost_to(host) {
        // The host's key was taken while this run sent (docs/design.md 2.5): what is left is
        // the new holder's; this controller skips the host while it is held.
        return Ran {
            outcome: Outcome::Wait(format!(
                "{} evacuation(s) not sent: {host} is now held by {holder}",
                ev.not_sent()
            )),
            servers,
            volumes: Vec::new(),
        };
    }
    if ev.in_doubt > 0 && failed == 0 {
        // Not verifying yet: those servers are neither sent nor known to Nova. The next cycle
        // sees them in Nova, or sends them once they can no longer arrive.
        return Outcome::Wait(format!(
            "{} evacuation request(s) of a stopped run may still be in Nova's hands: \
             waiting for Nova to show them (at most the API timeout) before sending them \
             again{}",
            ev.in_doubt,
            if accepted > 0 {
                format!("; {accepted} evacuation(s) accepted")
            } else {
                String::new()
            }
        ))
        .into();
    }
    Ran {
        outcome: Outcome::Evacuated {
            accepted,
            failed,
            in_flight_or_done: ev.under_way > 0,
            does_not_fit,
            detail: ev.detail(),
            skipped,
        },
        servers,
        volumes: Vec::new(),
    }
}

fn verify(s: &Setup<'_>, host: &str, mem: &Memory) -> Ran {
    let concurrency = s.config.policy.evacuate_concurrency as usize;
    let v = match verify::verify_host(&s.cx, host, concurrency) {
        StepOutcome::Done(v) => v,
        StepOutcome::Refused(r) => return Outcome::Retry(r.reason).into(),
        StepOutcome::Failed(e) | StepOutcome::Transient(e) => {
            return Outcome::Retry(format!("{e:#}")).into();
        }
    };
    let mut servers: Vec<ServerLine> = v
        .servers
        .iter()
        .map(|c| ServerLine {
            id: c.server_id.clone(),
            name: c.name.clone().unwrap_or_default(),
            from: host.to_string(),
            to: c.destination.clone(),
            result: match c.check {
                verify::Check::Ok => "verified",
                verify::Check::Pending => "pending",
                verify::Check::Failed => "failed",
            },
            reason: c.problem.clone(),
        })
        .collect();
    servers.extend(mem.skipped.iter().map(|k| ServerLine::skipped(host, k)));
    let failed: Vec<String> = v
        .servers
        .iter()
        .filter(|c| c.check == verify::Check::Failed)
        .map(|c| {
            format!(
                "{} ({}): {}",
                c.name.as_deref().unwrap_or("-"),
                c.server_id,
                c.problem.as_deref().unwrap_or("failed")
            )
        })
        .collect();
    // Level 1 left a live cinder-volume's volumes on purpose: not a reason to wait.
    let volumes_clean = v.volumes.is_clean() || (mem.volumes_left.is_some() && v.volumes.checked);
    let pending = v.count(verify::Check::Pending);
    let outcome = if !failed.is_empty() {
        Outcome::VerifyFailed(failed.join("; "))
    } else if pending == 0 && volumes_clean {
        Outcome::Verified
    } else {
        Outcome::VerifyPending(format!(
            "{pending} of {} evacuations still running{}",
            v.servers.len(),
            if volumes_clean {
                String::new()
            } else {
                "; volumes still on the host".to_string()
            }
        ))
    };
    Ran {
        outcome,
        servers,
        volumes: Vec::new(),
    }
}
