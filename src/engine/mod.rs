//! The `watch` engine: one cycle observes every compute host (the observe step: Nova's
//! services, every Consul cluster's members and checks, a constant number of requests
//! whatever the number of hosts), applies the safety gates, advances each host's state machine
//! (`core::watch`) and calls the step entries it names (`run`). It decides only which step
//! comes next; the steps journal their own actions. Every state change is a fsynced journal
//! record carrying the host's memory, so a killed run resumes where it was.

mod run;
mod takeover;
pub mod wake;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::config::{Config, QuickEvacuateLevel};
use crate::core::records::{ALERT_ACTION, ALERT_ENDED, ClusterAlert};
use crate::core::summary::Summary;
use crate::core::watch::{
    self as core, CycleFacts, Gate, HostState, Memory, Next, Step, Transition,
};
use crate::journal::{Fields, Kind};
use crate::lock::{HostLock, HostLockError, HostLocks, Identity};
use crate::openstack::Session;
use crate::steps::StepContext;
use crate::steps::observe::{self, HostsObservation, ObservedHost};

pub use crate::core::records::OBSERVE_ACTION;

fn journal_observe(s: &Setup<'_>, status: &str, detail: &str) {
    if let Some(j) = s.cx.journal {
        let _ = j.append(
            Kind::Event,
            OBSERVE_ACTION,
            status,
            Fields {
                detail: Some(detail),
                ..Default::default()
            },
        );
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// What the engine runs with.
pub struct Setup<'a> {
    pub session: &'a Session,
    pub config: &'a Config,
    /// What the steps run with; its journal is `None` in a dry run (nothing changes, nothing
    /// is written).
    pub cx: StepContext<'a>,
    /// True once SIGTERM / SIGINT came: finish the current step, then stop.
    pub stop: &'a (dyn Fn() -> bool + Sync),
    /// Each host is held while its steps run (docs/design.md 2.5); `None` in a dry run.
    pub host_locks: Option<&'a HostLocks>,
    /// Still the leader? Asked before every irreversible step.
    pub is_leader: &'a (dyn Fn() -> bool + Sync),
    /// Why the leader lock could not be asked this cycle, if it could not.
    pub leader_error: &'a (dyn Fn() -> Option<String> + Sync),
    /// Told of every state change as it happens (log line, notification).
    pub on_transition: &'a (dyn Fn(&Transition, &serde_json::Value) + Sync),
    /// Told of a cycle-wide alert (a gate), when it starts or changes (and every
    /// `policy.realert_interval` while it lasts, when set).
    pub on_alert: &'a (dyn Fn(&str) + Sync),
    /// Told that the cycle-wide alert (its reason) is over.
    pub on_alert_end: &'a (dyn Fn(&str) + Sync),
    /// Told of a cluster-wide warning (`state`, why): a take-over of the leader lock.
    pub on_warning: &'a (dyn Fn(&str, &str) + Sync),
    /// Told (host, why, details) once level 1's later move of an evacuated host's volumes is
    /// done and journaled: no state changes, people are still told.
    pub on_volumes_moved: &'a (dyn Fn(&str, &str, &serde_json::Value) + Sync),
}

/// A host as the last cycle left it.
#[derive(Clone, Debug, Serialize)]
pub struct HostLine {
    pub host: String,
    pub state: HostState,
    pub since: String,
    pub reason: String,
    /// What it waits for, or what the dry run would do.
    pub next: String,
}

/// A state change as reported.
#[derive(Clone, Debug, Serialize)]
pub struct TransitionLine {
    pub host: String,
    pub from: HostState,
    pub to: HostState,
    pub reason: String,
}

impl From<&Transition> for TransitionLine {
    fn from(t: &Transition) -> Self {
        TransitionLine {
            host: t.host.clone(),
            from: t.from,
            to: t.to,
            reason: t.reason.clone(),
        }
    }
}

/// What one cycle did.
#[derive(Debug, Serialize)]
pub struct CycleReport {
    pub gate: String,
    pub gate_reason: String,
    pub hosts: Vec<HostLine>,
    /// The state changes of this cycle, in order.
    pub transitions: Vec<TransitionLine>,
    /// The cloud could not be observed (its error).
    pub error: Option<String>,
    /// That error, for the command to choose its exit code.
    #[serde(skip)]
    pub error_cause: Option<anyhow::Error>,
    /// Hosts in alert.
    pub alerts: Vec<String>,
    /// A stop was asked in the middle: the cycle ended early.
    pub interrupted: bool,
}

/// The engine's memory across cycles.
pub struct Engine {
    pub memories: BTreeMap<String, Memory>,
    /// Cycles in a row the cloud could not be observed.
    observe_errors: u32,
    /// The cluster-wide alert under way, resumed from the journal: cron runs must not send it
    /// once each.
    last_alert: Option<ClusterAlert>,
    persisted: Written,
    /// A holder that died holding the leader lock, taken over from: journaled with the next
    /// observation (the hosts it may have been evacuating).
    took_over: Option<Identity>,
}

impl Engine {
    /// Resumes from the journal, folded ([`Summary`]: its checkpoint and what came since).
    pub fn resume(journal: &Summary) -> Engine {
        Engine {
            memories: journal.memories.clone(),
            // Failed observations in a row survive a restart (cron runs one cycle a process).
            observe_errors: journal.observe_failures,
            last_alert: journal.cluster_alert(),
            persisted: Written::default(),
            took_over: None,
        }
    }

    /// When the next cycle is due for a suspect host's `confirm_window` to end (seconds since
    /// the epoch), the earliest of them; `None` without a window or a suspect host. The
    /// observation that may confirm it is made then, not a whole interval later.
    pub fn confirm_due(&self, policy: &crate::config::PolicyConfig) -> Option<f64> {
        self.memories
            .values()
            .filter_map(|m| core::confirm_due(m, policy))
            .reduce(f64::min)
    }

    /// This controller took the leader lock from `dead`, which stopped holding it.
    pub fn took_over(&mut self, dead: Identity) {
        self.took_over = Some(dead);
    }

    /// One cycle.
    pub fn cycle(&mut self, s: &Setup<'_>) -> CycleReport {
        let mut report = CycleReport {
            gate: "open".into(),
            gate_reason: String::new(),
            hosts: Vec::new(),
            transitions: Vec::new(),
            error: None,
            error_cause: None,
            alerts: Vec::new(),
            interrupted: false,
        };
        let Some(observed) = self.observe(s, &mut report) else {
            report.hosts = self.lines(&BTreeMap::new());
            return report;
        };
        self.feed(s, &observed.hosts, &mut report);
        let gate = self.gate(s, &observed, &mut report);
        if gate.is_open() && !s.cx.is_dry_run() {
            keep_spares(s, &observed);
        }

        // Advance each host as far as it goes this cycle.
        let mut nexts: BTreeMap<String, String> = BTreeMap::new();
        let mut started = 0u32;
        let hosts: Vec<String> = self.memories.keys().cloned().collect();
        // A stop request is honoured before each step (in `advance`), not here: every host
        // still gets its line in the report.
        for host in hosts {
            let Some(o) = observed.hosts.get(&host) else {
                continue;
            };
            let why = self.advance(s, &host, o, gate.is_open(), &mut started, &mut report);
            nexts.insert(host, why);
        }
        report.alerts = self
            .memories
            .iter()
            .filter(|(_, m)| m.state() == HostState::Alert)
            .map(|(h, _)| h.clone())
            .collect();
        let mut lines = self.lines(&nexts);
        lines.retain(|l| observed.hosts.contains_key(&l.host));
        report.hosts = lines;
        report
    }

    /// The observe step, and the take-over record that waits for it; `None` when the cycle
    /// acts on nothing (the cloud not observed, the take-over not journaled).
    fn observe(&mut self, s: &Setup<'_>, report: &mut CycleReport) -> Option<HostsObservation> {
        match observe::observe_hosts(&s.cx) {
            Ok(x) => {
                let marked = x
                    .hosts
                    .iter()
                    .filter(|(_, o)| o.facts.nova.is_ours())
                    .map(|(h, _)| h.clone())
                    .collect();
                if !self.record_takeover(s, Some(marked)) {
                    let text = "cannot journal the take-over of the leader lock";
                    report.error = Some(text.into());
                    report.error_cause = Some(anyhow::anyhow!(text));
                    return None;
                }
                if self.observe_errors > 0 {
                    journal_observe(s, "ok", "the cloud answers again");
                }
                self.observe_errors = 0;
                Some(x)
            }
            Err(e) if crate::interrupt::abandoning().is_some() => {
                // Abandoned on a signal: not a failure of the cloud, nothing to count.
                report.interrupted = true;
                report.error = Some(format!("{e:#}"));
                report.error_cause = Some(e);
                None
            }
            Err(e) => {
                // Whether it could be written or not, nothing acts this cycle.
                let _ = self.record_takeover(s, None);
                self.observe_errors += 1;
                let text = format!("{e:#}");
                tracing::error!("cannot observe the cloud: {text}");
                journal_observe(s, "failed", &text);
                if self.observe_errors >= core::MAX_STEP_ERRORS {
                    self.alert(
                        s,
                        &format!(
                            "the cloud could not be observed {} cycles in a row: {text}",
                            self.observe_errors
                        ),
                        false,
                    );
                }
                report.error_cause = Some(e);
                report.error = Some(text);
                None
            }
        }
    }

    /// Feeds the observation to every host's memory; forgets hosts that no longer run
    /// nova-compute.
    fn feed(
        &mut self,
        s: &Setup<'_>,
        observed: &BTreeMap<String, ObservedHost>,
        report: &mut CycleReport,
    ) {
        let now = unix_now();
        let policy = &s.config.policy;
        let flap_window = policy.flap_window.as_secs_f64();
        let mut flapping: Vec<(String, String)> = Vec::new();
        for (host, o) in observed {
            let mem = self.memories.entry(host.clone()).or_default();
            if let Some(t) = core::observe(mem, host, &o.facts, policy, flap_window, now) {
                report.transitions.push((&t).into());
                record(s, &self.persisted, &t, mem);
            } else if mem.state() == HostState::Suspect {
                // The count of consecutive observations must survive a restart (cron).
                persist(s, &self.persisted, host, mem);
            }
            if core::is_flapping(mem, policy, flap_window, now) && !mem.flap_alerted {
                mem.flap_alerted = true;
                flapping.push((host.clone(), format!("{host}: {}", mem.reason)));
                persist(s, &self.persisted, host, mem);
            }
        }
        for (host, why) in flapping {
            self.alert_host(s, Some(&host), &why);
        }
        self.memories.retain(|h, _| observed.contains_key(h));
    }

    /// The cycle's safety gate (leader, observer cut off, mass failure), reported and alerted.
    fn gate(
        &mut self,
        s: &Setup<'_>,
        observed: &HostsObservation,
        report: &mut CycleReport,
    ) -> Gate {
        let failing: Vec<String> = self
            .memories
            .iter()
            .filter(|(_, m)| m.state().is_failing())
            .map(|(h, _)| h.clone())
            .collect();
        let gate = core::gates(
            &CycleFacts {
                compute_hosts: observed.hosts.len(),
                failing,
                observer_isolated: observed.observer_isolated.clone(),
                leader: (s.is_leader)(),
                leader_error: (s.leader_error)(),
            },
            &s.config.policy,
        );
        report.gate = match &gate {
            Gate::Open => "open",
            Gate::Standby(_) => "standby",
            Gate::NoLeader(_) => "no-leader",
            Gate::ObserverIsolated(_) => "observer-isolated",
            Gate::MassFailure(_) => "mass-failure",
        }
        .into();
        report.gate_reason = gate.reason().to_string();
        if gate.is_alert() {
            self.alert(s, gate.reason(), false);
        } else if let Gate::NoLeader(why) = &gate {
            self.alert(s, why, true);
        } else {
            if let Gate::Standby(r) = &gate {
                // The leader lock logs who holds it when that changes.
                tracing::debug!("{r}");
            }
            if let Some(ended) = self.last_alert.take() {
                self.alert_ended(s, &ended.reason);
            }
        }
        gate
    }

    /// A cycle-wide alert (a gate, the cloud not observed), or a `warning` (no leader): sent
    /// when it starts or its reason changes, and again every `policy.realert_interval` when
    /// set; never once a cycle.
    fn alert(&mut self, s: &Setup<'_>, why: &str, warning: bool) {
        let now = unix_now();
        if let Some(a) = &self.last_alert
            && a.reason == why
        {
            let due = s
                .config
                .policy
                .realert_interval
                .is_some_and(|i| now - a.sent >= i.as_secs_f64());
            if !due {
                return;
            }
        }
        self.last_alert = Some(ClusterAlert {
            reason: why.to_string(),
            sent: now,
        });
        if warning {
            // Logged by the caller every cycle: told here once.
            (s.on_warning)("no-leader", why);
            journal_alert(s, None, "warning", why);
        } else {
            self.alert_host(s, None, why);
        }
    }

    /// The cycle-wide alert is over: said once, and journaled so that the next run agrees.
    fn alert_ended(&self, s: &Setup<'_>, why: &str) {
        tracing::warn!("{}alert ended: {why}", dry_prefix(s));
        (s.on_alert_end)(why);
        journal_alert(s, None, ALERT_ENDED, why);
    }

    /// Logs, tells and journals an alert; `host` for one host's (flapping), `None` for a
    /// cluster-wide one.
    fn alert_host(&self, s: &Setup<'_>, host: Option<&str>, why: &str) {
        tracing::error!("{}ALERT: {why}", dry_prefix(s));
        (s.on_alert)(why);
        journal_alert(s, host, "alert", why);
    }

    fn lines(&self, nexts: &BTreeMap<String, String>) -> Vec<HostLine> {
        self.memories
            .iter()
            .map(|(h, m)| HostLine {
                host: h.clone(),
                state: m.state(),
                since: if m.since > 0.0 {
                    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs_f64(m.since))
                        .to_string()
                } else {
                    String::new()
                },
                reason: m.reason.clone(),
                next: nexts.get(h).cloned().unwrap_or_default(),
            })
            .collect()
    }

    /// Runs a host's steps until the state machine says to wait.
    fn advance(
        &mut self,
        s: &Setup<'_>,
        host: &str,
        o: &ObservedHost,
        open: bool,
        started: &mut u32,
        report: &mut CycleReport,
    ) -> String {
        let policy = &s.config.policy;
        let has_bmc = s.config.host(host).is_some_and(|h| h.bmc().is_some());
        let mut verified = false;
        let mut counted_start = false;
        // Taken before the host's first step that changes something, held to the end of its
        // steps this cycle.
        let mut held: Option<HostLock> = None;
        // A bound against a state machine bug: a host never takes more steps than this in a
        // cycle.
        for _ in 0..16 {
            let Some(mem) = self.memories.get_mut(host) else {
                return String::new();
            };
            let c = core::Context {
                policy,
                now: unix_now(),
                may_act: open,
                may_start: counted_start || *started < policy.max_hosts_per_cycle,
                has_bmc,
                move_volumes: policy.move_volumes,
                nova_down: !o.service.is_up(),
                verified_this_cycle: verified,
            };
            let step = match core::next(mem, &c) {
                Next::Wait(why) => return why,
                Next::Go(to, _) if s.cx.journal.is_none() && to.is_committed() => {
                    return format!("would begin {to}");
                }
                Next::Go(to, why) => {
                    let t = core::go(mem, host, to, why, unix_now());
                    report.transitions.push((&t).into());
                    record(s, &self.persisted, &t, mem);
                    continue;
                }
                Next::Run(step) => step,
            };
            if matches!(
                mem.state(),
                HostState::Failed | HostState::Recovering | HostState::Fencing
            ) && !counted_start
            {
                counted_start = true;
                *started += 1;
            }
            if let Some(why) = may_not_run(s, host, step, report) {
                return why;
            }
            if held.is_none()
                && !matches!(step, Step::ReadPower | Step::Verify)
                && let Some(locks) = s.host_locks
            {
                match hold_host(locks, host) {
                    Ok(lock) => held = Some(lock),
                    Err(why) => return why,
                }
            }
            verified |= step == Step::Verify;
            if let Some(wait) = self.run_step(s, host, step, report) {
                return wait;
            }
        }
        tracing::error!("{host}: too many steps in one cycle (a bug in evacctl): waiting");
        "too many steps".into()
    }

    /// Runs one step and applies its outcome; `Some(why)` when the host waits for the next
    /// cycle.
    fn run_step(
        &mut self,
        s: &Setup<'_>,
        host: &str,
        step: Step,
        report: &mut CycleReport,
    ) -> Option<String> {
        let mem = self.memories.get_mut(host)?;
        tracing::debug!("{host}: {} ({})", step.as_str(), mem.state());
        let volumes_left = mem.volumes_left.is_some();
        let ran = run::run_step(s, host, mem, step);
        if let Some(signal) = crate::interrupt::abandoning() {
            // What a signal cut short may have failed only for being abandoned: not applied,
            // as after a SIGKILL, the step's own records saying what was sent; the next run
            // resumes it (docs/design.md 2.9).
            tracing::warn!("{host}: {} cut short by {}", step.as_str(), signal.name());
            report.interrupted = true;
            return Some("stopping".into());
        }
        let moved_later = match &ran.outcome {
            core::Outcome::Done(what) if step == Step::MoveVolumes && volumes_left => {
                Some(what.clone())
            }
            _ => None,
        };
        let now = unix_now();
        let mem = self.memories.get_mut(host)?;
        match core::after(mem, host, step, ran.outcome, &s.config.policy, now) {
            Some(t) => {
                report.transitions.push((&t).into());
                record_with(s, &self.persisted, &t, mem, &ran.servers);
                None
            }
            None => {
                let journaled = persist(s, &self.persisted, host, mem);
                if let Some(what) = moved_later.filter(|_| journaled && mem.volumes_left.is_none())
                {
                    // Once the memory without `volumes_left` is journaled: no later run moves
                    // them again, nor tells it twice.
                    tell_volumes_moved(s, host, &what, &ran.volumes);
                }
                // Reading the power, or a recovery that could not be tried, leads on to the
                // next step; anything else that changed nothing waits for the next cycle.
                (!matches!(step, Step::ReadPower | Step::PowerOn | Step::Repair))
                    .then(|| mem.reason.clone())
            }
        }
    }
}

/// A dry run's log lines say so: they tell what would happen, not what did.
/// Spare hosts stay disabled as reserved until a failure needs one; a failure here is told
/// and tried again next cycle (it changes nothing of a failed host).
fn keep_spares(s: &Setup<'_>, observed: &HostsObservation) {
    let services: Vec<_> = observed.hosts.values().map(|o| &o.service).collect();
    if let Err(e) = crate::steps::reserve::keep_spares(&s.cx, &services, s.host_locks) {
        tracing::warn!("cannot keep the reserved hosts disabled: {e:#}");
    }
}

fn dry_prefix(s: &Setup<'_>) -> &'static str {
    if s.cx.journal.is_none() {
        "dry run: "
    } else {
        ""
    }
}

/// An `alert` record (`status` `alert` or `ended`), with no host when it is cluster-wide.
fn journal_alert(s: &Setup<'_>, host: Option<&str>, status: &str, why: &str) {
    if let Some(j) = s.cx.journal {
        let _ = j.append(
            Kind::Event,
            ALERT_ACTION,
            status,
            Fields {
                host,
                detail: Some(why),
                ..Default::default()
            },
        );
    }
}

/// Why a step must not run now (a dry run, a stop asked, the leader lock lost), if it must not.
fn may_not_run(s: &Setup<'_>, host: &str, step: Step, report: &mut CycleReport) -> Option<String> {
    if s.cx.journal.is_none() {
        return Some(format!("would {}", step.as_str()));
    }
    if (s.stop)() {
        report.interrupted = true;
        return Some("stopping".into());
    }
    if step != Step::ReadPower && step != Step::Verify && !(s.is_leader)() {
        tracing::error!(
            "{host}: lost the leader lock: {} not started",
            step.as_str()
        );
        return Some("lost the leader lock".into());
    }
    None
}

/// Holds `host` for this cycle's steps. Held by a manual run (or another controller): skipped
/// this cycle, said in a log line, not an error.
fn hold_host(locks: &HostLocks, host: &str) -> Result<HostLock, String> {
    match locks.acquire(host, Duration::ZERO) {
        Ok(lock) => Ok(lock),
        Err(e @ HostLockError::Held { .. }) => {
            tracing::info!("{host}: skipped this cycle: {e}");
            Err(match e {
                HostLockError::Held { holder, .. } => format!("held by {holder}"),
                _ => String::new(),
            })
        }
        Err(e) => {
            tracing::warn!("{host}: {e}");
            Err(format!("{e}"))
        }
    }
}

/// Tells of level 1's later volume move (the host stays `evacuated`): `details.volumes_moved`
/// names each backend's volumes and backups, from and to which cinder-volume.
fn tell_volumes_moved(
    s: &Setup<'_>,
    host: &str,
    what: &str,
    moved: &[crate::steps::volumes::BackendMoved],
) {
    let details = serde_json::json!({
        "previous_state": HostState::Evacuated.as_str(),
        "volumes_moved": moved,
    });
    (s.on_volumes_moved)(
        host,
        &format!("{}{what}", run::VOLUMES_MOVED_LATER),
        &details,
    );
}

/// Journals a state change with the host's memory, logs it, tells the callback.
fn record(s: &Setup<'_>, written: &Written, t: &Transition, mem: &Memory) {
    record_with(s, written, t, mem, &[]);
}

/// The `details` of a state change's notification: the previous state; the servers the step
/// concerned (else those the last evacuation round left on the host), each with its result;
/// the volumes level 1 left behind.
fn details(t: &Transition, mem: &Memory, servers: &[run::ServerLine]) -> serde_json::Value {
    let mut d = serde_json::json!({"previous_state": t.from.as_str()});
    let servers: Vec<run::ServerLine> = if servers.is_empty() {
        mem.skipped
            .iter()
            .map(|k| run::ServerLine::skipped(&t.host, k))
            .collect()
    } else {
        servers.to_vec()
    };
    if !servers.is_empty() {
        d["servers"] = serde_json::to_value(servers).unwrap_or_default();
    }
    if let Some(why) = &mem.volumes_left {
        d["volumes_left"] = why.as_str().into();
    }
    d
}

/// [`record`], with the servers the step concerned.
fn record_with(
    s: &Setup<'_>,
    written: &Written,
    t: &Transition,
    mem: &Memory,
    servers: &[run::ServerLine],
) {
    let level_warn = matches!(
        t.to,
        HostState::Alert | HostState::Failed | HostState::Suspect | HostState::Degraded
    );
    // A dry run's changes are what would happen: its log must not read like a real run's.
    let dry = dry_prefix(s);
    if level_warn {
        tracing::warn!("{dry}{}: {} -> {}: {}", t.host, t.from, t.to, t.reason);
    } else {
        tracing::info!("{dry}{}: {} -> {}: {}", t.host, t.from, t.to, t.reason);
    }
    persist(s, written, &t.host, mem);
    (s.on_transition)(t, &details(t, mem, servers));
}

/// The memory last written per host.
type Written = std::cell::RefCell<BTreeMap<String, serde_json::Value>>;

/// Writes the host's memory to the journal (fsynced), unless it is what was written last;
/// whether the journal has it.
fn persist(s: &Setup<'_>, written: &Written, host: &str, mem: &Memory) -> bool {
    let Some(j) = s.cx.journal else { return false };
    let data = serde_json::to_value(mem).unwrap_or(serde_json::Value::Null);
    if written.borrow().get(host) == Some(&data) {
        return true;
    }
    written.borrow_mut().insert(host.to_string(), data.clone());
    if let Err(e) = j.append(
        Kind::Event,
        core::STATE_ACTION,
        mem.state().as_str(),
        Fields {
            host: Some(host),
            detail: Some(&mem.reason),
            data: Some(&data),
            ..Default::default()
        },
    ) {
        tracing::error!("{host}: {e}");
        return false;
    }
    true
}

/// Whether quick_evacuate_level asks for fencing (for the startup line).
pub fn fencing_text(level: QuickEvacuateLevel) -> &'static str {
    match level {
        QuickEvacuateLevel::ForceDownWithoutPowerOff => {
            "level 1: force-down WITHOUT power off (the operator's explicit choice)"
        }
        QuickEvacuateLevel::PowerOffThenForceDown => {
            "level 2: power off (confirmed), then force-down"
        }
        QuickEvacuateLevel::Neither => {
            "level 3: power off (confirmed), then wait for Nova's heartbeat timeout"
        }
    }
}
