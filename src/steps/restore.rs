//! Returning a repaired host to service (`evacctl restore HOST`, the operator's step after
//! repair; docs/design.md 6: a host never comes back by itself).
//!
//! [`survey`] validates the host against Nova's nova-compute services, then asks at once its BMC
//! (power on?), every Consul cluster (alive in every network? its node-local checks?) and Nova's
//! evacuation migrations from it; [`Survey::refusal`] says why it must not be restored yet:
//! still down, evacuations still running, or `done` evacuations that make Nova refuse to unset
//! forced_down. [`restore`] then unsets forced_down and enables the service, in that order, each
//! journaled before and after, and records a `state` event `restored` for the host: `watch`
//! forgets the host's history and treats it as healthy again. The decisions are in
//! [`crate::core::restore`].

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::bmc::{self, PowerState};
use crate::config::Config;
use crate::consul;
use crate::core::network::{self, NetState, ObserverVerdict};
use crate::core::restore::{self as decide, Change, Check, HeartbeatFacts, PowerFact};
use crate::journal::{Fields, Journal, Kind, Record};
use crate::openstack::Session;
use crate::openstack::nova::{ComputeService, Nova, ServiceUpdate};
use crate::openstack::servers::{Migration, MigrationFilter};
use crate::steps::evacuate::PlannedRequest;
use crate::steps::{Refusal, StepContext, StepOutcome, isolate, observe, power};

/// The journal action of per-host state records, and the state `restore` records (the host
/// is back, its history closed): `watch`'s own.
pub use crate::core::watch::{RESTORED, STATE_ACTION};

/// The journal actions that write a host's nova-compute service record.
const SERVICE_WRITES: [&str; 4] = ["force-down", "disable", "force-up", "enable"];

#[derive(Clone, Debug)]
pub struct Options {
    /// The oldest `updated_at` that counts as a heartbeat of a forced-down service.
    pub max_heartbeat_age: Duration,
}

/// The host's nova-compute as Nova showed it.
#[derive(Clone, Debug, Serialize)]
pub struct ServiceFacts {
    pub id: String,
    pub status: String,
    pub state: String,
    pub forced_down: Option<bool>,
    pub disabled_reason: Option<String>,
    /// The reason is evacctl's (`evacctl: ...`).
    pub disabled_by_evacctl: bool,
    pub updated_at: Option<String>,
    pub heartbeat_age_seconds: Option<u64>,
}

/// An evacuation migration from the host that is not finished on Nova's side.
#[derive(Clone, Debug, Serialize)]
pub struct OpenEvacuation {
    pub id: String,
    pub instance_uuid: String,
    pub status: String,
    pub dest_compute: Option<String>,
    pub updated_at: Option<String>,
}

impl From<&Migration> for OpenEvacuation {
    fn from(m: &Migration) -> Self {
        OpenEvacuation {
            id: m.id.clone(),
            instance_uuid: m.instance_uuid.clone(),
            status: m.status.clone(),
            dest_compute: m.dest_compute.clone(),
            updated_at: m.updated_at.clone(),
        }
    }
}

/// Everything `restore` looked at, and what it would change.
#[derive(Clone, Debug, Serialize)]
pub struct Survey {
    pub host: String,
    pub service: ServiceFacts,
    /// `power`, `consul`, `node-local`, `heartbeat`: each ok, failed or skipped.
    pub checks: Vec<Check>,
    /// Evacuations from the host still `done` (Nova completes them when its nova-compute
    /// starts): while any remains, Nova refuses to unset forced_down.
    pub done_evacuations: Vec<OpenEvacuation>,
    /// Evacuations from the host still running (accepted, pre-migrating, running).
    pub running_evacuations: Vec<OpenEvacuation>,
    /// What restore changes, in order.
    pub changes: Vec<Change>,
    pub warnings: Vec<String>,
    /// The journal's last state for the host is not `restored` (watch still remembers it).
    pub journal_state: Option<String>,
}

impl Survey {
    /// Nothing to change in Nova and nothing for `watch` to forget.
    pub fn nothing_to_do(&self) -> bool {
        self.changes.is_empty() && !self.needs_state_reset()
    }

    /// The journal remembers a state other than `restored` for the host.
    pub fn needs_state_reset(&self) -> bool {
        self.journal_state.as_deref().is_some_and(|s| s != RESTORED)
    }

    fn forced_down(&self) -> bool {
        self.service.forced_down == Some(true)
    }

    /// Why the host must not be restored now (unsafe), if it must not.
    pub fn refusal(&self) -> Option<Refusal> {
        let mut why = Vec::new();
        let failed: Vec<String> = self
            .checks
            .iter()
            .filter(|c| c.failed())
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect();
        if !failed.is_empty() {
            why.push(format!("it is still down ({})", failed.join("; ")));
        }
        if !self.running_evacuations.is_empty() {
            why.push(format!(
                "{} evacuation(s) from {} are still running: wait for them (`evacctl verify {} \
                 --wait`)",
                self.running_evacuations.len(),
                self.host,
                self.host
            ));
        }
        if self.forced_down() && !self.done_evacuations.is_empty() {
            why.push(decide::done_evacuations_message(
                &self.host,
                Some(self.done_evacuations.len()),
            ));
        }
        if why.is_empty() {
            return None;
        }
        Some(Refusal::unsafe_(format!(
            "refusing to restore {}: {}; nothing was changed",
            self.host,
            why.join("; ")
        )))
    }

    /// The requests a run sends, in order (for `--dry-run`).
    pub fn requests(&self) -> Vec<PlannedRequest> {
        self.changes
            .iter()
            .map(|c| PlannedRequest::service(&self.service.id, &update_for(*c)))
            .collect()
    }
}

fn update_for(change: Change) -> ServiceUpdate {
    match change {
        Change::ForceUp => ServiceUpdate::force_down(false),
        Change::Enable => ServiceUpdate::enable(),
    }
}

fn service_facts(s: &ComputeService, now: SystemTime) -> ServiceFacts {
    ServiceFacts {
        id: s.id.clone(),
        status: s.status.clone(),
        state: s.state.clone(),
        forced_down: s.forced_down,
        disabled_reason: s.disabled_reason.clone(),
        disabled_by_evacctl: s
            .disabled_reason
            .as_deref()
            .is_some_and(|r| r.starts_with("evacctl:")),
        updated_at: s.updated_at.clone(),
        heartbeat_age_seconds: crate::core::services::heartbeat_age(s.updated_at_time(), now)
            .map(|d| d.as_secs()),
    }
}

/// evacctl's last answered write to the host's service record, from the journal.
fn last_own_write(records: &[Record], host: &str) -> Option<SystemTime> {
    records
        .iter()
        .filter(|r| r.kind == Kind::Result && r.host.as_deref() == Some(host))
        .filter(|r| SERVICE_WRITES.contains(&r.action.as_str()))
        .filter_map(|r| crate::openstack::parse_timestamp(&r.ts))
        .max()
}

/// The journal's last `state` record for the host.
pub fn journal_state(records: &[Record], host: &str) -> Option<String> {
    records
        .iter()
        .rev()
        .find(|r| r.action == STATE_ACTION && r.host.as_deref() == Some(host))
        .map(|r| r.status.clone())
}

fn power_fact(config: &Config, host: &str) -> PowerFact {
    let Some(h) = config.host(host).filter(|h| h.bmc().is_some()) else {
        return PowerFact::NotConfigured;
    };
    let read = bmc::driver_for(h).and_then(|d| power::read_power(h, d.as_ref()));
    match read {
        Ok(PowerState::On) => PowerFact::On,
        Ok(PowerState::Off) => PowerFact::Off,
        Err(e) => PowerFact::Unreadable(e.to_string()),
    }
}

/// The Consul checks: the host's verdict over every network, and its node-local checks.
fn consul_checks(config: &Config, host: &str) -> Vec<Check> {
    let clusters = match consul::clusters(config) {
        Ok(c) => c,
        Err(e) => {
            return vec![Check {
                name: "consul",
                status: decide::CheckStatus::Failed,
                detail: format!("Consul cannot be asked: {e}"),
            }];
        }
    };
    if clusters.is_empty() {
        return vec![decide::consul_check(&[], false)];
    }
    let obs = observe::observe_consul(&clusters, &observe::ObserveOptions::all());
    let explicit = config.host(host).and_then(|h| h.consul_node.as_deref());
    let facts: Vec<network::ObserverFacts> = obs
        .clusters
        .iter()
        .filter(|c| c.failure().is_none())
        .filter_map(observe::ClusterObservation::observer_facts)
        .collect();
    let cut_off = network::observer_verdict(&facts).0 == ObserverVerdict::Isolated;
    let views: Vec<network::NetworkView> = obs
        .host_networks(host, explicit)
        .into_iter()
        .map(|c| c.view)
        .collect();
    let node = obs.host_node_local(host, explicit);
    let mut checks = vec![decide::consul_check(&views, cut_off)];
    // Not alive anywhere: the node's checks are stale (the agent is gone), say nothing more.
    if views.iter().any(|v| v.state == NetState::Alive) {
        checks.push(decide::node_local_check(node.state, &node.reason));
    }
    checks
}

/// Reads the service every half second until its `updated_at` moves (the record then), or
/// `limit` passes (`None`): a forced-down service's recent `updated_at` may be an API write.
fn watch_heartbeat(
    nova: &Nova,
    first: &ComputeService,
    limit: Duration,
) -> anyhow::Result<Option<ComputeService>> {
    tracing::info!(
        "{}: watching nova-compute's updated_at for up to {}s (forced down: Nova shows it down, \
         and an API write moves updated_at too; a running nova-compute moves it every \
         report_interval)",
        first.host,
        limit.as_secs()
    );
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        let now = nova.list_services(Some(&first.host), Some("nova-compute"))?;
        if let Some(s) = now.into_iter().find(|s| s.id == first.id)
            && s.updated_at != first.updated_at
        {
            return Ok(Some(s));
        }
    }
    Ok(None)
}

/// Looks at HOST: Nova's record first (an unknown host stops here, nothing else asked), then
/// its BMC, Consul and Nova's evacuation migrations from it, in parallel.
pub fn survey(
    session: &Session,
    config: &Config,
    host: &str,
    opts: &Options,
    records: &[Record],
) -> anyhow::Result<Survey> {
    let nova = session.nova();
    let service = isolate::compute_service(&nova, host)?;
    let filter = MigrationFilter {
        source_compute: Some(host),
        migration_type: Some("evacuation"),
        ..Default::default()
    };
    let mut heartbeat = HeartbeatFacts {
        nova_up: service.is_up(),
        forced_down: service.is_forced_down(),
        updated_at: service.updated_at_time(),
        now: SystemTime::now(),
        max_age: opts.max_heartbeat_age,
        last_own_write: last_own_write(records, host),
        seen_moving: None,
    };
    let (power, consul_checks, migrations, watched) = std::thread::scope(|s| {
        let power = s.spawn(|| power_fact(config, host));
        let consul = s.spawn(|| consul_checks(config, host));
        let migrations = nova.list_migrations(&filter);
        let watched = decide::heartbeat_watch(&heartbeat)
            .map(|limit| watch_heartbeat(&nova, &service, limit))
            .transpose();
        (
            power
                .join()
                .unwrap_or_else(|_| PowerFact::Unreadable("the BMC read stopped".into())),
            consul.join().unwrap_or_default(),
            migrations,
            watched,
        )
    });
    let migrations = migrations?;
    if let Some(latest) = watched? {
        heartbeat.seen_moving = Some(latest.is_some());
        if let Some(l) = latest {
            heartbeat.updated_at = l.updated_at_time();
        }
        heartbeat.now = SystemTime::now();
    }
    let now = heartbeat.now;
    let mut checks = vec![decide::power_check(host, &power)];
    checks.extend(consul_checks);
    checks.push(decide::heartbeat_check(&heartbeat));
    // Nova's own filter is exact on source_compute; keep it so whatever the server does.
    let from_host = || {
        migrations
            .iter()
            .filter(|m| m.source_compute.as_deref() == Some(host))
    };
    let done: Vec<OpenEvacuation> = from_host()
        .filter(|m| m.status == "done")
        .map(OpenEvacuation::from)
        .collect();
    let running: Vec<OpenEvacuation> = from_host()
        .filter(|m| m.is_in_progress())
        .map(OpenEvacuation::from)
        .collect();
    let facts = service_facts(&service, now);
    let mut warnings = Vec::new();
    if !service.is_forced_down() && !done.is_empty() {
        warnings.push(format!(
            "{} evacuation(s) from {host} are still `done` although its service is not forced \
             down: Nova completes them when {host}'s nova-compute starts and removes the \
             evacuated instances' leftovers; make sure it has (restart nova-compute on {host})",
            done.len()
        ));
    }
    if !service.is_enabled() && !facts.disabled_by_evacctl {
        warnings.push(format!(
            "{host} was disabled by someone else ({}): enabling it clears that reason",
            facts
                .disabled_reason
                .as_deref()
                .unwrap_or("no reason given")
        ));
    }
    Ok(Survey {
        host: host.to_string(),
        changes: decide::changes(service.is_forced_down(), service.is_enabled()),
        service: facts,
        checks,
        done_evacuations: done,
        running_evacuations: running,
        warnings,
        journal_state: journal_state(records, host),
    })
}

/// Unsets forced_down, then enables the service (only what is still needed: the record is
/// read again, the confirmation may have taken minutes), then records the host `restored`.
/// Returns the changes made.
pub fn restore(nova: &Nova, survey: &Survey, journal: &Journal) -> anyhow::Result<Vec<Change>> {
    let host = survey.host.as_str();
    let service = isolate::compute_service(nova, host)?;
    let todo = decide::changes(service.is_forced_down(), service.is_enabled());
    let mut made = Vec::new();
    // From the first change to the last record, a signal waits for this run (docs/design.md 2.9).
    let _busy = crate::interrupt::busy();
    for change in todo {
        let fields = Fields {
            host: Some(host),
            ..Default::default()
        };
        // A signal sends nothing new: what was made is said, the rest is for a re-run.
        if let Some(signal) = crate::interrupt::stopping() {
            return Err(anyhow::anyhow!(
                "stopped by {} before `{}`{}: run `evacctl restore {host}` again to finish",
                signal.name(),
                change.action(),
                if made.is_empty() {
                    String::new()
                } else {
                    let done: Vec<&str> = made.iter().map(|c| past_tense(*c)).collect();
                    format!(" (already {})", done.join(", "))
                }
            ));
        }
        if let Err(e) = isolate::change(
            nova,
            journal,
            &service.id,
            change.action(),
            update_for(change),
            fields,
        ) {
            return Err(explain_failure(host, change, &made, e));
        }
        tracing::info!("{host} nova-compute {}", past_tense(change));
        made.push(change);
    }
    let detail = if made.is_empty() {
        "nothing to change in Nova".to_string()
    } else {
        made.iter()
            .map(|c| past_tense(*c))
            .collect::<Vec<_>>()
            .join(", ")
    };
    journal.append(
        Kind::Event,
        STATE_ACTION,
        RESTORED,
        Fields {
            host: Some(host),
            detail: Some(&detail),
            ..Default::default()
        },
    )?;
    tracing::info!("{host} restored: back in service");
    Ok(made)
}

/// The repair step (recovery): the configured repair command (argv, the host appended; the
/// failure kind in `EVACCTL_FAILURE_KIND`), with a timeout of `recovery_timeout`, through the
/// same runner as cinder-manage; journaled. `Failed`: why it failed.
pub fn repair(cx: &StepContext<'_>, host: &str, kind: &str) -> StepOutcome<(), String> {
    let policy = &cx.config.policy;
    if policy.repair_command.is_empty() {
        return StepOutcome::Transient(anyhow::anyhow!("no repair command"));
    }
    let Some(journal) = cx.journal else {
        return StepOutcome::Transient(anyhow::anyhow!("dry run"));
    };
    let fields = || Fields {
        host: Some(host),
        ..Default::default()
    };
    let _ = journal.append(Kind::Intent, "repair", "running", fields());
    let mut argv = policy.repair_command.clone();
    argv.push(host.to_string());
    let run = crate::process::run_with_env(
        &argv,
        &[("EVACCTL_FAILURE_KIND", kind)],
        None,
        policy.recovery_timeout,
    );
    if run.ok() {
        let _ = journal.append(Kind::Result, "repair", "ok", fields());
        return StepOutcome::Done(());
    }
    let why = run.summary();
    let _ = journal.append(
        Kind::Result,
        "repair",
        "failed",
        Fields {
            detail: Some(&why),
            ..fields()
        },
    );
    StepOutcome::Failed(why)
}

pub fn past_tense(c: Change) -> &'static str {
    match c {
        Change::ForceUp => "forced_down unset",
        Change::Enable => "enabled",
    }
}

/// Nova's refusal to force up with `done` evacuations becomes the explanation (unsafe); a
/// failure after a change was made is incomplete.
fn explain_failure(host: &str, change: Change, made: &[Change], e: anyhow::Error) -> anyhow::Error {
    let api = e
        .downcast_ref::<crate::openstack::Error>()
        .and_then(|e| e.api())
        .map(|a| (a.status, a.message.clone().unwrap_or_default()));
    if let Some((status, message)) = &api
        && change == Change::ForceUp
        && decide::is_done_evacuations_refusal(*status, message)
    {
        // Nova counts them itself; the count we had may be stale, so none is given.
        let text = decide::done_evacuations_message(host, None);
        return Refusal::unsafe_(format!(
            "Nova refused to unset forced_down on {host} ({message}): {text}"
        ))
        .into();
    }
    if made.is_empty() {
        return e;
    }
    let done: Vec<&str> = made.iter().map(|c| past_tense(*c)).collect();
    Refusal::incomplete(format!(
        "{host}: {} done, then {} failed: {e:#}; re-run `evacctl restore {host}`",
        done.join(", "),
        change.action()
    ))
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::restore::CheckStatus;

    fn record(kind: Kind, action: &str, status: &str, host: &str, ts: &str) -> Record {
        serde_json::from_value(serde_json::json!({"ts": ts, "run_id": "r", "kind": kind,
            "action": action, "host": host, "status": status}))
        .unwrap()
    }

    #[test]
    fn the_journal_gives_the_last_own_write_and_the_last_state() {
        let records = [
            record(
                Kind::Result,
                "force-down",
                "ok",
                "c1",
                "2026-11-22T03:12:09.000000Z",
            ),
            record(
                Kind::Result,
                "disable",
                "ok",
                "c1",
                "2026-11-22T03:12:10.500000Z",
            ),
            record(
                Kind::Result,
                "evacuate",
                "accepted",
                "c1",
                "2026-11-22T03:13:00Z",
            ),
            record(Kind::Result, "disable", "ok", "c2", "2026-11-22T04:00:00Z"),
            record(
                Kind::Event,
                STATE_ACTION,
                "evacuated",
                "c1",
                "2026-11-22T03:14:00Z",
            ),
        ];
        let t = last_own_write(&records, "c1").unwrap();
        assert_eq!(
            humantime::format_rfc3339_millis(t).to_string(),
            "2026-11-22T03:12:10.500Z"
        );
        assert_eq!(journal_state(&records, "c1").as_deref(), Some("evacuated"));
        assert_eq!(journal_state(&records, "c2"), None);
        assert_eq!(last_own_write(&records, "c3"), None);
    }

    fn survey(forced_down: bool, checks: Vec<Check>, done: usize) -> Survey {
        let ev = |i: usize| OpenEvacuation {
            id: i.to_string(),
            instance_uuid: format!("s{i}"),
            status: "done".into(),
            dest_compute: Some("c2".into()),
            updated_at: None,
        };
        Survey {
            host: "c1".into(),
            service: ServiceFacts {
                id: "uuid-1".into(),
                status: "disabled".into(),
                state: "down".into(),
                forced_down: Some(forced_down),
                disabled_reason: Some("evacctl: evacuated 2026-11-22T03:12:09Z".into()),
                disabled_by_evacctl: true,
                updated_at: None,
                heartbeat_age_seconds: None,
            },
            checks,
            done_evacuations: (0..done).map(ev).collect(),
            running_evacuations: Vec::new(),
            changes: decide::changes(forced_down, false),
            warnings: Vec::new(),
            journal_state: Some("evacuated".into()),
        }
    }

    fn check(name: &'static str, status: CheckStatus) -> Check {
        Check {
            name,
            status,
            detail: format!("{name} detail"),
        }
    }

    #[test]
    fn refusals_say_which_check_failed_and_why_nova_would_refuse() {
        let ok = survey(true, vec![check("power", CheckStatus::Ok)], 0);
        assert!(ok.refusal().is_none());
        assert_eq!(
            ok.requests()
                .iter()
                .map(|r| r.body.to_string())
                .collect::<Vec<_>>(),
            [r#"{"forced_down":false}"#, r#"{"status":"enabled"}"#]
        );
        assert!(
            ok.requests()
                .iter()
                .all(|r| r.path == "/os-services/uuid-1")
        );

        let down = survey(
            true,
            vec![
                check("power", CheckStatus::Failed),
                check("consul", CheckStatus::Skipped),
            ],
            0,
        );
        let e = down.refusal().unwrap();
        assert_eq!(e.kind, crate::steps::RefusalKind::Unsafe);
        assert!(e.reason.contains("power: power detail"), "{}", e.reason);
        assert!(!e.reason.contains("consul"), "{}", e.reason);
        assert!(e.reason.ends_with("nothing was changed"));

        let done = survey(true, vec![check("heartbeat", CheckStatus::Ok)], 2);
        let e = done.refusal().unwrap();
        assert!(
            e.reason
                .contains("2 evacuation(s) from c1 are still `done`"),
            "{}",
            e.reason
        );
        // Not forced down: Nova has nothing to refuse.
        assert!(
            survey(false, vec![check("heartbeat", CheckStatus::Ok)], 2)
                .refusal()
                .is_none()
        );
    }

    #[test]
    fn a_journal_state_other_than_restored_is_work_to_do() {
        let mut s = survey(false, Vec::new(), 0);
        s.changes.clear();
        assert!(!s.nothing_to_do(), "watch still remembers c1");
        s.journal_state = Some(RESTORED.into());
        assert!(s.nothing_to_do());
        s.journal_state = None;
        assert!(s.nothing_to_do());
    }
}
