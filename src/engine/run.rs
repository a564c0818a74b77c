//! The engine calls one step entry per state-machine step, and turns its typed outcome into
//! what the state machine reads (`core::watch::Outcome`): a refusal or a failure stops
//! automatic work on the host (an alert), a transient error is tried again next cycle.

use crate::bmc::PowerState;
use crate::core::watch::{Memory, Outcome, Step};
use crate::steps::evacuate::{self, Options};
use crate::steps::volumes::Moved;
use crate::steps::{RefusalKind, StepOutcome, isolate, power, restore, verify, volumes};

use super::{Setup, unix_now};

/// Runs one step with its entry; its outcome as the state machine's plain data.
pub(super) fn run_step(s: &Setup<'_>, host: &str, mem: &Memory, step: Step) -> Outcome {
    if s.cx.journal.is_none() {
        return Outcome::Retry("dry run".into());
    }
    match step {
        Step::ReadPower => read_power(s, host),
        Step::PowerOn => power_on(s, host),
        Step::Repair => repair(s, host, mem),
        Step::Fence => fence(s, host),
        Step::Isolate {
            force_down,
            confirm_power,
        } => isolate(s, host, force_down, confirm_power),
        Step::MoveVolumes => move_volumes(s, host, mem),
        Step::Evacuate => evacuate_host(s, host),
        Step::Verify => verify(s, host),
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

fn move_volumes(s: &Setup<'_>, host: &str, mem: &Memory) -> Outcome {
    match volumes::move_off_host(&s.cx, host, unix_now() - mem.since) {
        StepOutcome::Done(Moved::Done(what)) => Outcome::Done(what),
        StepOutcome::Done(Moved::Waiting(why)) => Outcome::Wait(why),
        StepOutcome::Failed(why) => Outcome::Alert(why),
        StepOutcome::Refused(r) => Outcome::Alert(r.reason),
        StepOutcome::Transient(e) => Outcome::Retry(format!("{e:#}")),
    }
}

/// Surveys and evacuates (idempotent: the journal and Nova's migrations keep anything from
/// being sent twice). What does not fit is the state machine's to judge, unless partial
/// evacuation is allowed.
fn evacuate_host(s: &Setup<'_>, host: &str) -> Outcome {
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
        StepOutcome::Refused(r) => return Outcome::Alert(r.reason),
        StepOutcome::Failed(e) | StepOutcome::Transient(e) => {
            return Outcome::Retry(format!("{e:#}"));
        }
    };
    let does_not_fit = survey.does_not_fit();
    if does_not_fit.is_some() && !policy.partial_evacuation {
        return Outcome::Evacuated {
            accepted: 0,
            failed: 0,
            in_flight_or_done: false,
            does_not_fit,
            detail: String::new(),
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
        StepOutcome::Refused(r) => return Outcome::Alert(r.reason),
        StepOutcome::Failed(e) | StepOutcome::Transient(e) => {
            return Outcome::Retry(format!("{e:#}"));
        }
    };
    let (accepted, failed) = (ev.accepted(), ev.failed());
    if let Some(holder) = crate::lock::lost_to(host) {
        // The host's key was taken while this run sent (docs/design.md 2.5): what is left is
        // the new holder's; this controller skips the host while it is held.
        return Outcome::Wait(format!(
            "{} evacuation(s) not sent: {host} is now held by {holder}",
            ev.not_sent()
        ));
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
        ));
    }
    Outcome::Evacuated {
        accepted,
        failed,
        in_flight_or_done: ev.under_way > 0,
        does_not_fit,
        detail: ev.detail(),
    }
}

fn verify(s: &Setup<'_>, host: &str) -> Outcome {
    let concurrency = s.config.policy.evacuate_concurrency as usize;
    let v = match verify::verify_host(&s.cx, host, concurrency) {
        StepOutcome::Done(v) => v,
        StepOutcome::Refused(r) => return Outcome::Retry(r.reason),
        StepOutcome::Failed(e) | StepOutcome::Transient(e) => {
            return Outcome::Retry(format!("{e:#}"));
        }
    };
    let failed: Vec<String> = v
        .servers
        .iter()
        .filter(|c| c.check == verify::Check::Failed)
        .map(|c| {
            format!(
                "{} {}",
                c.server_id,
                c.problem.as_deref().unwrap_or("failed")
            )
        })
        .collect();
    if !failed.is_empty() {
        Outcome::VerifyFailed(failed.join("; "))
    } else if v.all_verified() {
        Outcome::Verified
    } else {
        let pending = v.count(verify::Check::Pending);
        Outcome::VerifyPending(format!(
            "{pending} of {} evacuations still running{}",
            v.servers.len(),
            if v.volumes.is_clean() {
                String::new()
            } else {
                "; volumes still on the host".to_string()
            }
        ))
    }
}
