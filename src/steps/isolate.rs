//! Isolating a failed host before its servers are evacuated (docs/design.md 2.1 and 2.2): the power
//! is confirmed off (unless the operator chose quick-evacuate level 1), then its nova-compute
//! is forced down, then disabled with a reason that marks it as evacctl's, in that order.
//! Disabling a service Nova still believes up makes nova-api call the dead host and hang.

use std::time::SystemTime;

use crate::journal::{Fields, Journal, Kind};
use crate::openstack::nova::{ComputeService, Nova, ServiceUpdate};
use crate::steps::{Refusal, StepContext, StepOutcome, power};

/// "Is this host's power confirmed off?", answered by the fencing driver (the BMC): `Ok(true)`
/// only when the BMC says off.
pub type PowerOffConfirmed<'a> = &'a (dyn Fn(&str) -> anyhow::Result<bool> + Sync);

/// How the host is fenced before it is forced down.
#[derive(Clone, Copy)]
pub enum Fencing<'a> {
    /// Ask the BMC; refuse unless it says off.
    ConfirmPowerOff(PowerOffConfirmed<'a>),
    /// quick_evacuate_level 1, the operator's explicit choice: no power-off.
    WithoutPowerOff,
}

/// The disabled reason evacctl writes: `evacctl: evacuated 2026-11-22T03:12:09Z`.
pub fn disabled_reason(at: SystemTime) -> String {
    format!(
        "evacctl: evacuated {}",
        humantime::format_rfc3339_seconds(at)
    )
}

/// What was done.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Isolated {
    pub host: String,
    /// This run set forced_down (false: it was already).
    pub forced_down: bool,
    /// This run disabled the service (false: it was already disabled).
    pub disabled: bool,
    pub disabled_reason: Option<String>,
}

/// The host's nova-compute service.
pub fn compute_service(nova: &Nova, host: &str) -> anyhow::Result<ComputeService> {
    let all = nova.list_services(None, Some("nova-compute"))?;
    if let Some(s) = all.iter().find(|s| s.host == host) {
        return Ok(s.clone());
    }
    let known: Vec<&str> = all.iter().map(|s| s.host.as_str()).collect();
    Err(super::unknown_host(host, &known).into())
}

/// Fences (per `fencing`), then forces the service down, then disables it. Every change is
/// journaled before and after. Refuses (unsafe) when the power is not confirmed off.
pub fn isolate(
    nova: &Nova,
    host: &str,
    fencing: Fencing<'_>,
    journal: &Journal,
) -> anyhow::Result<Isolated> {
    isolate_with(nova, host, fencing, true, journal)
}

/// The isolate step: the power confirmed off by the BMC when `confirm_power` (levels 2 and
/// 3), forced down when `force_down` (not level 3), then disabled; journaled.
pub fn isolate_host(
    cx: &StepContext<'_>,
    host: &str,
    force_down: bool,
    confirm_power: bool,
) -> StepOutcome<Isolated> {
    let run = || {
        let journal = cx.writable_journal()?;
        let confirm = |h: &str| power::power_off_confirmed(cx.config, h);
        let fencing = if confirm_power {
            Fencing::ConfirmPowerOff(&confirm)
        } else {
            Fencing::WithoutPowerOff
        };
        isolate_with(&cx.session()?.nova(), host, fencing, force_down, journal)
    };
    StepOutcome::from_result(run())
}

/// [`isolate`], with the force-down optional: quick_evacuate_level 3 disables only, once Nova
/// itself sees the service down (disabling a service Nova believes up hangs nova-api).
pub fn isolate_with(
    nova: &Nova,
    host: &str,
    fencing: Fencing<'_>,
    force_down: bool,
    journal: &Journal,
) -> anyhow::Result<Isolated> {
    // Read again, not taken from the survey: the operator's confirmation may have waited minutes,
    // and the service's state decides which irreversible changes are still needed.
    let service = compute_service(nova, host)?;
    if let Fencing::ConfirmPowerOff(confirm) = fencing {
        let off = confirm(host).map_err(|e| {
            Refusal::unsafe_(format!(
                "cannot confirm that {host} is powered off ({e:#}): nothing was changed; \
                 fence it with `evacctl ipmi power off {host} --wait`"
            ))
        })?;
        if !off {
            return Err(Refusal::unsafe_(format!(
                "{host} is not powered off: refusing to force its nova-compute down (its \
                 disks could be written from two places); fence it first with \
                 `evacctl ipmi power off {host} --wait`"
            ))
            .into());
        }
        tracing::info!("{host} power is confirmed off");
    }
    let mut out = Isolated {
        host: host.to_string(),
        forced_down: false,
        disabled: false,
        disabled_reason: service.disabled_reason.clone(),
    };
    let fields = || Fields {
        host: Some(host),
        ..Default::default()
    };
    if !force_down && service.is_up() {
        return Err(Refusal::unsafe_(format!(
            "{host}'s nova-compute is still up in Nova: disabling it now would make nova-api \
             call the dead host; nothing was changed"
        ))
        .into());
    }
    if force_down && !service.is_forced_down() {
        change(
            nova,
            journal,
            &service.id,
            "force-down",
            ServiceUpdate::force_down(true),
            fields(),
        )?;
        out.forced_down = true;
        tracing::info!("{host} nova-compute forced down");
    }
    if service.is_enabled() {
        let reason = disabled_reason(SystemTime::now());
        let update = ServiceUpdate::disable(Some(&reason));
        change(
            nova,
            journal,
            &service.id,
            "disable",
            update,
            Fields {
                detail: Some(&reason),
                ..fields()
            },
        )?;
        out.disabled = true;
        out.disabled_reason = Some(reason);
        tracing::info!("{host} nova-compute disabled");
    }
    Ok(out)
}

/// One write to a service record, journaled before (`intent`) and after (`result`). Also used by
/// `restore`.
pub fn change(
    nova: &Nova,
    journal: &Journal,
    service_id: &str,
    action: &str,
    update: ServiceUpdate,
    fields: Fields<'_>,
) -> anyhow::Result<()> {
    journal.append(Kind::Intent, action, "sending", fields.clone())?;
    match nova.update_service(service_id, update) {
        Ok(_) => {
            journal.append(Kind::Result, action, "ok", fields)?;
            Ok(())
        }
        Err(e) => {
            let text = e.to_string();
            journal.append(
                Kind::Result,
                action,
                "failed",
                Fields {
                    detail: Some(&text),
                    ..fields
                },
            )?;
            Err(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openstack::{CloudConfig, CloudSelection, SearchPaths, Session};
    use crate::steps::RefusalKind;
    use evacctl_sim::{Scenario, spawn};

    /// The embedded default scenario in-process, and an admin session to it.
    fn cloud() -> (evacctl_sim::SimHandle, Session) {
        let sim = spawn(
            &Scenario::builtin_default().unwrap(),
            "127.0.0.1:0".parse().unwrap(),
        )
        .unwrap();
        let vars: std::collections::HashMap<&str, String> = [
            ("OS_AUTH_URL", format!("{}/identity", sim.url())),
            ("OS_USERNAME", "admin".into()),
            ("OS_PASSWORD", "sim-admin-password".into()),
            ("OS_PROJECT_NAME", "admin".into()),
            ("OS_USER_DOMAIN_NAME", "Default".into()),
            ("OS_PROJECT_DOMAIN_NAME", "Default".into()),
        ]
        .into();
        let cfg = CloudConfig::resolve_with(
            &CloudSelection::default(),
            &|k| vars.get(k).cloned(),
            &SearchPaths::default(),
        )
        .unwrap();
        (sim, Session::new(cfg).unwrap())
    }

    fn service_writes(sim: &evacctl_sim::SimHandle) -> Vec<String> {
        let w = sim.world();
        let w = w.lock();
        w.requests
            .entries
            .iter()
            .filter(|r| r.method == "PUT")
            .map(|r| r.path.clone())
            .collect()
    }

    #[test]
    fn power_not_confirmed_off_changes_nothing() {
        let (sim, session) = cloud();
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&dir.path().join("j.jsonl")).unwrap();
        let nova = session.nova();
        let on = |_: &str| Ok(false);
        let e = isolate(&nova, "compute-1", Fencing::ConfirmPowerOff(&on), &journal).unwrap_err();
        assert_eq!(Refusal::of(&e).map(|r| r.kind), Some(RefusalKind::Unsafe));
        assert!(format!("{e:#}").contains("evacctl ipmi power off compute-1 --wait"));
        let broken = |_: &str| anyhow::bail!("BMC timed out");
        let e = isolate(
            &nova,
            "compute-1",
            Fencing::ConfirmPowerOff(&broken),
            &journal,
        )
        .unwrap_err();
        assert_eq!(Refusal::of(&e).map(|r| r.kind), Some(RefusalKind::Unsafe));
        assert!(format!("{e:#}").contains("BMC timed out"));
        assert!(service_writes(&sim).is_empty(), "nothing was changed");
        let e = isolate(&nova, "compute-9", Fencing::WithoutPowerOff, &journal).unwrap_err();
        assert_eq!(Refusal::of(&e).map(|r| r.kind), Some(RefusalKind::BadInput));
    }

    #[test]
    fn forced_down_then_disabled_in_that_order_and_journaled() {
        let (sim, session) = cloud();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let journal = Journal::open(&path).unwrap();
        let nova = session.nova();
        let asked = std::sync::Mutex::new(Vec::new());
        let off = |h: &str| {
            asked.lock().unwrap().push(h.to_string());
            Ok(true)
        };
        let done = isolate(&nova, "compute-2", Fencing::ConfirmPowerOff(&off), &journal).unwrap();
        assert_eq!(*asked.lock().unwrap(), ["compute-2"]);
        assert!(done.forced_down && done.disabled);
        let reason = done.disabled_reason.unwrap();
        assert!(reason.starts_with("evacctl: evacuated 20"), "{reason}");
        assert_eq!(service_writes(&sim).len(), 2);
        let svc = compute_service(&nova, "compute-2").unwrap();
        assert!(svc.is_forced_down() && !svc.is_enabled());
        assert_eq!(svc.disabled_reason.as_deref(), Some(reason.as_str()));
        let (records, _) = crate::journal::read(&path).unwrap();
        let steps: Vec<(String, Kind)> =
            records.iter().map(|r| (r.action.clone(), r.kind)).collect();
        assert_eq!(
            steps,
            [
                ("force-down".to_string(), Kind::Intent),
                ("force-down".to_string(), Kind::Result),
                ("disable".to_string(), Kind::Intent),
                ("disable".to_string(), Kind::Result),
            ]
        );
        // Again: nothing left to change (level 1 needs no power answer).
        let again = isolate(&nova, "compute-2", Fencing::WithoutPowerOff, &journal).unwrap();
        assert!(!again.forced_down && !again.disabled);
        assert_eq!(service_writes(&sim).len(), 2);
    }

    #[test]
    fn reason_marks_it_as_ours() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_795_317_129);
        assert_eq!(
            disabled_reason(t),
            "evacctl: evacuated 2026-11-22T03:12:09Z"
        );
    }
}
