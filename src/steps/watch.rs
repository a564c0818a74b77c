//! The `watch` engine: one cycle observes every compute host (Nova's services, every Consul
//! cluster's members and checks: a constant number of requests whatever the number of hosts),
//! applies the safety gates, advances each host's state machine (`core::watch`) and runs the
//! steps it names with the runbook's own step functions: `fence`, `isolate`, `volumes`,
//! `evacuate`, `verify`. Every state change is a fsynced journal record carrying the host's
//! memory, so a killed run resumes where it was.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::bmc::{self, PowerState};
use crate::config::{Config, QuickEvacuateLevel};
use crate::consul;
use crate::core::network::{self, ObserverVerdict};
use crate::core::watch::{
    self as core, CycleFacts, Gate, HostFacts, HostState, Memory, Next, NovaFacts, Outcome, Step,
    Transition,
};
use crate::error::{CliError, exit_code_of};
use crate::exit_codes::ExitCode;
use crate::journal::{self, Fields, Journal, Kind, Record};
use crate::lock::Identity;
use crate::openstack::Session;
use crate::openstack::nova::ComputeService;
use crate::steps::evacuate::{self, Options};
use crate::steps::isolate::{self, Fencing};
use crate::steps::observe::{self, ObserveOptions};
use crate::steps::{fence, verify, volumes};

/// The journal action of failed (and recovered) observations.
pub const OBSERVE_ACTION: &str = "observe";

fn journal_observe(s: &Setup<'_>, status: &str, detail: &str) {
    if let Some(j) = s.journal {
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
    pub journal_path: PathBuf,
    /// `None`: dry run (nothing changes, nothing is written).
    pub journal: Option<&'a Journal>,
    /// Set by SIGTERM / SIGINT: finish the current step, then stop.
    pub stop: &'a AtomicBool,
    /// Still the leader? Asked before every irreversible step.
    pub is_leader: &'a (dyn Fn() -> bool + Sync),
    /// Told of every state change as it happens (log line, notification).
    pub on_transition: &'a (dyn Fn(&Transition, &serde_json::Value) + Sync),
    /// Told of a cycle-wide alert (a gate), once per new reason.
    pub on_alert: &'a (dyn Fn(&str) + Sync),
    /// Told of a cluster-wide warning (`state`, why): a take-over of the leader lock.
    pub on_warning: &'a (dyn Fn(&str, &str) + Sync),
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
    #[serde(skip)]
    pub error_code: Option<ExitCode>,
    /// Hosts in alert.
    pub alerts: Vec<String>,
    /// A stop was asked in the middle: the cycle ended early.
    pub interrupted: bool,
}

impl CycleReport {
    /// `watch --once`'s exit code: the observer cut off (7); the cloud not observed (its
    /// error's code); a host in alert or a mass failure held (4, a person is needed); else 0.
    pub fn exit_code(&self) -> ExitCode {
        if self.gate == "observer-isolated" {
            return ExitCode::ObserverIsolated;
        }
        if let Some(c) = self.error_code {
            return c;
        }
        if self.gate == "mass-failure" || !self.alerts.is_empty() {
            return ExitCode::Unhealthy;
        }
        ExitCode::Success
    }
}

/// The engine's memory across cycles.
pub struct Engine {
    pub memories: BTreeMap<String, Memory>,
    /// Cycles in a row the cloud could not be observed.
    observe_errors: u32,
    last_alert: Option<String>,
    persisted: Written,
    /// A holder that died holding the leader lock, taken over from: journaled with the next
    /// observation (the hosts it may have been evacuating).
    took_over: Option<Identity>,
}

/// One host as observed.
struct Observed {
    service: ComputeService,
    facts: HostFacts,
}

impl Engine {
    /// Resumes from the journal's records.
    pub fn resume(records: &[Record]) -> Engine {
        // Failed observations in a row survive a restart (cron runs one cycle a process).
        let observe_errors = records
            .iter()
            .filter(|r| r.action == OBSERVE_ACTION)
            .rev()
            .take_while(|r| r.status == "failed")
            .count() as u32;
        Engine {
            memories: crate::core::records::memories_from(records),
            observe_errors,
            last_alert: None,
            persisted: Written::default(),
            took_over: None,
        }
    }

    /// This controller took the leader lock from `dead`, which stopped holding it.
    pub fn took_over(&mut self, dead: Identity) {
        self.took_over = Some(dead);
    }

    /// Journals the take-over, unless this journal holds the previous holder's run (then its
    /// requests are known here: a watch restarted on the same machine). A holder that died:
    /// held for the API timeout from now, on `hosts` (those carrying evacctl's marker now, the
    /// only ones it may have been evacuating; `None`: the cloud could not be observed, so
    /// all). A holder that released with requests in doubt: its own hold. `false` when the
    /// record could not be written: the caller acts on nothing until it can.
    fn record_takeover(&mut self, s: &Setup<'_>, hosts: Option<Vec<String>>) -> bool {
        let (Some(previous), Some(j)) = (self.took_over.clone(), s.journal) else {
            self.took_over = None;
            return true;
        };
        let known = previous.run.as_ref().is_some_and(|run| {
            journal::read(&s.journal_path)
                .is_ok_and(|(records, _)| records.iter().any(|r| &r.run_id == run))
        });
        if known {
            tracing::info!(
                "took over from {previous}, whose run is in this journal: its requests are known"
            );
            self.took_over = None;
            return true;
        }
        let holder = previous.to_string();
        let (until, hosts, why) = match &previous.hold {
            Some(hold) if previous.released => (
                hold.until.clone(),
                hold.hosts.clone(),
                "which handed it over with evacuation requests still in doubt",
            ),
            _ => (
                humantime::format_rfc3339_seconds(
                    SystemTime::now() + s.session.config().api_timeout,
                )
                .to_string(),
                hosts,
                "which stopped without releasing it",
            ),
        };
        let which = match &hosts {
            Some(h) if h.is_empty() => "no host carries evacctl's marker: nothing to hold".into(),
            Some(h) => format!(
                "a server of {} that Nova shows no evacuation of is not evacuated before \
                 {until} (its request may still reach Nova)",
                h.join(", ")
            ),
            None => format!(
                "a server Nova shows no evacuation of is not evacuated before {until} (its \
                 request may still reach Nova)"
            ),
        };
        let detail = format!("took over the leader lock from {holder}, {why}: {which}");
        let data = serde_json::json!({ "hosts": hosts, "until": until });
        if let Err(e) = j.append(
            Kind::Event,
            journal::TAKEOVER_ACTION,
            "in-doubt",
            Fields {
                target: Some(&holder),
                detail: Some(&detail),
                data: Some(&data),
                ..Default::default()
            },
        ) {
            tracing::error!("cannot journal the take-over ({e}): acting on nothing until it is");
            return false;
        }
        self.took_over = None;
        if previous.released {
            tracing::info!("{detail}");
        } else {
            tracing::warn!("{detail}");
            // People should know: the controller that was acting has died (or hung).
            (s.on_warning)("takeover", &detail);
        }
        true
    }

    /// What to leave on the leader key when this run releases it (see
    /// [`journal::hand_over_hold`]).
    pub fn hand_over_hold(&self, s: &Setup<'_>) -> Option<crate::lock::Hold> {
        let j = s.journal?;
        let timeout = s.session.config().api_timeout;
        match journal::read(&s.journal_path) {
            Ok((records, _)) => {
                journal::hand_over_hold(&records, j.run_id(), timeout, SystemTime::now())
            }
            // Not knowing what is in doubt: hold everything.
            Err(_) => Some(crate::lock::Hold {
                until: humantime::format_rfc3339_seconds(SystemTime::now() + timeout).to_string(),
                hosts: None,
            }),
        }
    }

    /// One cycle.
    pub fn cycle(&mut self, s: &Setup<'_>) -> CycleReport {
        let now = unix_now();
        let policy = &s.config.policy;
        let flap_window = policy.flap_window.as_secs_f64();
        let mut report = CycleReport {
            gate: "open".into(),
            gate_reason: String::new(),
            hosts: Vec::new(),
            transitions: Vec::new(),
            error: None,
            error_code: None,
            alerts: Vec::new(),
            interrupted: false,
        };
        let (observed, observer_isolated) = match observe_all(s) {
            Ok(x) => {
                let marked =
                    x.0.iter()
                        .filter(|(_, o)| o.facts.nova.is_ours())
                        .map(|(h, _)| h.clone())
                        .collect();
                if !self.record_takeover(s, Some(marked)) {
                    report.error = Some("cannot journal the take-over of the leader lock".into());
                    report.error_code = Some(ExitCode::Failure);
                    report.hosts = self.lines(&BTreeMap::new());
                    return report;
                }
                if self.observe_errors > 0 {
                    journal_observe(s, "ok", "the cloud answers again");
                }
                self.observe_errors = 0;
                x
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
                    );
                }
                report.error_code = Some(exit_code_of(&e));
                report.error = Some(text);
                report.hosts = self.lines(&BTreeMap::new());
                return report;
            }
        };

        // Feed the observation to every host's memory.
        let mut nexts: BTreeMap<String, String> = BTreeMap::new();
        let mut flapping = Vec::new();
        for (host, o) in &observed {
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
                flapping.push(format!("{host}: {}", mem.reason));
                persist(s, &self.persisted, host, mem);
            }
        }
        for why in flapping {
            self.alert_host(s, &why);
        }
        // Hosts that no longer run nova-compute are forgotten.
        self.memories.retain(|h, _| observed.contains_key(h));

        let failing: Vec<String> = self
            .memories
            .iter()
            .filter(|(_, m)| m.state().is_failing())
            .map(|(h, _)| h.clone())
            .collect();
        let gate = core::gates(
            &CycleFacts {
                compute_hosts: observed.len(),
                failing,
                observer_isolated,
                leader: (s.is_leader)(),
            },
            policy,
        );
        report.gate = match &gate {
            Gate::Open => "open",
            Gate::Standby(_) => "standby",
            Gate::ObserverIsolated(_) => "observer-isolated",
            Gate::MassFailure(_) => "mass-failure",
        }
        .into();
        report.gate_reason = gate.reason().to_string();
        if gate.is_alert() {
            self.alert(s, gate.reason());
        } else {
            if let Gate::Standby(r) = &gate {
                // The leader lock logs who holds it when that changes.
                tracing::debug!("{r}");
            }
            self.last_alert = None;
        }

        // Advance each host as far as it goes this cycle.
        let mut started = 0u32;
        let hosts: Vec<String> = self.memories.keys().cloned().collect();
        // A stop request is honoured before each step (in `advance`), not here: every host
        // still gets its line in the report.
        for host in hosts {
            let Some(o) = observed.get(&host) else {
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
        lines.retain(|l| observed.contains_key(&l.host));
        report.hosts = lines;
        report
    }

    /// A cycle-wide alert (a gate, the cloud not observed), once per new reason.
    fn alert(&mut self, s: &Setup<'_>, why: &str) {
        if self.last_alert.as_deref() == Some(why) {
            return;
        }
        self.last_alert = Some(why.to_string());
        self.alert_host(s, why);
    }

    /// Logs, tells and journals an alert.
    fn alert_host(&self, s: &Setup<'_>, why: &str) {
        let dry = if s.journal.is_none() { "dry run: " } else { "" };
        tracing::error!("{dry}ALERT: {why}");
        (s.on_alert)(why);
        if let Some(j) = s.journal {
            let _ = j.append(
                Kind::Event,
                "alert",
                "alert",
                Fields {
                    detail: Some(why),
                    ..Default::default()
                },
            );
        }
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
        o: &Observed,
        open: bool,
        started: &mut u32,
        report: &mut CycleReport,
    ) -> String {
        let policy = &s.config.policy;
        let host_config = s.config.host(host);
        let mut verified = false;
        let mut counted_start = false;
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
                has_bmc: host_config.is_some_and(|h| h.bmc().is_some()),
                move_volumes: policy.move_volumes,
                nova_down: !o.service.is_up(),
                verified_this_cycle: verified,
            };
            let step = match core::next(mem, &c) {
                Next::Wait(why) => return why,
                Next::Go(to, _) if s.journal.is_none() && to.is_committed() => {
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
            if s.journal.is_none() {
                return format!("would {}", step.as_str());
            }
            if s.stop.load(Ordering::SeqCst) {
                report.interrupted = true;
                return "stopping".into();
            }
            if step != Step::ReadPower && step != Step::Verify && !(s.is_leader)() {
                tracing::error!(
                    "{host}: lost the leader lock: {} not started",
                    step.as_str()
                );
                return "lost the leader lock".into();
            }
            if step == Step::Verify {
                verified = true;
            }
            tracing::debug!("{host}: {} ({})", step.as_str(), mem.state());
            let outcome = run_step(s, host, mem, step);
            let now = unix_now();
            let Some(mem) = self.memories.get_mut(host) else {
                return String::new();
            };
            match core::after(mem, host, step, outcome, policy, now) {
                Some(t) => {
                    report.transitions.push((&t).into());
                    record(s, &self.persisted, &t, mem);
                }
                None => {
                    persist(s, &self.persisted, host, mem);
                    // Reading the power, or a recovery that could not be tried, leads on to
                    // the next step; anything else that changed nothing waits for the next
                    // cycle.
                    if !matches!(step, Step::ReadPower | Step::PowerOn | Step::Repair) {
                        return mem.reason.clone();
                    }
                }
            }
        }
        tracing::error!("{host}: too many steps in one cycle (a bug in evacctl): waiting");
        "too many steps".into()
    }
}

/// Journals a state change with the host's memory, logs it, tells the callback.
fn record(s: &Setup<'_>, written: &Written, t: &Transition, mem: &Memory) {
    let level_warn = matches!(
        t.to,
        HostState::Alert | HostState::Failed | HostState::Suspect | HostState::Degraded
    );
    // A dry run's changes are what would happen: its log must not read like a real run's.
    let dry = if s.journal.is_none() { "dry run: " } else { "" };
    if level_warn {
        tracing::warn!("{dry}{}: {} -> {}: {}", t.host, t.from, t.to, t.reason);
    } else {
        tracing::info!("{dry}{}: {} -> {}: {}", t.host, t.from, t.to, t.reason);
    }
    persist(s, written, &t.host, mem);
    let details = serde_json::json!({"previous_state": t.from.as_str()});
    (s.on_transition)(t, &details);
}

/// The memory last written per host.
type Written = std::cell::RefCell<BTreeMap<String, serde_json::Value>>;

/// Writes the host's memory to the journal (fsynced), unless it is what was written last.
fn persist(s: &Setup<'_>, written: &Written, host: &str, mem: &Memory) {
    let Some(j) = s.journal else { return };
    let data = serde_json::to_value(mem).unwrap_or(serde_json::Value::Null);
    if written.borrow().get(host) == Some(&data) {
        return;
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
    }
}

/// Nova's nova-compute services and every Consul cluster, at once; the observer verdict.
fn observe_all(s: &Setup<'_>) -> anyhow::Result<(BTreeMap<String, Observed>, Vec<String>)> {
    let clusters = consul::clusters(s.config).unwrap_or_else(|e| {
        tracing::warn!("no Consul view: {e}");
        Vec::new()
    });
    let (services, consul) = std::thread::scope(|sc| {
        let consul = sc.spawn(|| observe::observe_consul(&clusters, &ObserveOptions::all()));
        let services = s.session.nova().list_services(None, Some("nova-compute"));
        (services, consul.join().unwrap_or_default())
    });
    let services = services?;
    let facts: Vec<network::ObserverFacts> = consul
        .clusters
        .iter()
        .filter_map(observe::ClusterObservation::observer_facts)
        .collect();
    let (verdict, reasons) = network::observer_verdict(&facts);
    let isolated = if verdict == ObserverVerdict::Isolated {
        reasons
    } else {
        Vec::new()
    };
    let mut out = BTreeMap::new();
    for svc in services {
        let explicit = s
            .config
            .host(&svc.host)
            .and_then(|h| h.consul_node.as_deref());
        let network = if consul.clusters.is_empty() {
            None
        } else {
            let views: Vec<network::NetworkView> = consul
                .host_networks(&svc.host, explicit)
                .into_iter()
                .map(|n| n.view)
                .collect();
            let a = network::host_verdict(&views);
            Some((a.verdict, a.reason))
        };
        let nl = consul.host_node_local(&svc.host, explicit);
        let facts = HostFacts {
            nova: NovaFacts {
                enabled: svc.is_enabled(),
                up: svc.is_up(),
                forced_down: svc.is_forced_down(),
                disabled_reason: svc.disabled_reason.clone(),
            },
            network,
            node_local: (nl.state, nl.reason),
        };
        out.insert(
            svc.host.clone(),
            Observed {
                service: svc,
                facts,
            },
        );
    }
    Ok((out, isolated))
}

/// Runs one step with the runbook's step functions; its outcome as plain data.
fn run_step(s: &Setup<'_>, host: &str, mem: &Memory, step: Step) -> Outcome {
    let config = s.config;
    let policy = &config.policy;
    let Some(journal) = s.journal else {
        return Outcome::Retry("dry run".into());
    };
    let fields = || Fields {
        host: Some(host),
        ..Default::default()
    };
    match step {
        Step::ReadPower => {
            let Some(hc) = config.host(host) else {
                return Outcome::Power(None);
            };
            match bmc::driver_for(hc).and_then(|d| fence::read_power(hc, d.as_ref())) {
                Ok(p) => {
                    let off = p == PowerState::Off;
                    if off {
                        tracing::info!(
                            "{} power status is: OFF",
                            hc.bmc().map_or(host, |b| b.address.as_str())
                        );
                    }
                    Outcome::Power(Some(!off))
                }
                Err(e) => {
                    tracing::warn!("{host}: cannot read the power state: {e}");
                    Outcome::Power(None)
                }
            }
        }
        Step::PowerOn => {
            let Some(hc) = config.host(host) else {
                return Outcome::Retry("no BMC".into());
            };
            let _ = journal.append(Kind::Intent, "power-on", "sending", fields());
            match bmc::driver_for(hc).and_then(|d| d.power_on()) {
                Ok(()) => {
                    let _ = journal.append(Kind::Result, "power-on", "ok", fields());
                    Outcome::Done(format!(
                        "found powered off: powered on once to recover it; waiting up to {} \
                         for it to rejoin",
                        humantime::format_duration(policy.recovery_timeout)
                    ))
                }
                Err(e) => {
                    let text = e.to_string();
                    let _ = journal.append(
                        Kind::Result,
                        "power-on",
                        "failed",
                        Fields {
                            detail: Some(&text),
                            ..fields()
                        },
                    );
                    tracing::warn!("{host}: power on failed ({text}): fencing instead");
                    Outcome::Alert(format!("power on failed: {text}"))
                }
            }
        }
        Step::Repair => run_repair(s, host, mem, journal),
        Step::Fence => {
            let Some(hc) = config.host(host) else {
                return Outcome::Alert(format!(
                    "{host} has no [hosts.\"{host}\".bmc] in the configuration: it cannot be \
                     fenced, so it is not evacuated (quick_evacuate_level 1 evacuates without \
                     fencing, at the operator's risk)"
                ));
            };
            if journal
                .append(Kind::Intent, "fence", "sending", fields())
                .is_err()
            {
                return Outcome::Retry("the journal cannot be written".into());
            }
            let result = bmc::driver_for(hc)
                .map_err(|e| e.to_string())
                .and_then(|d| fence::fence(hc, d.as_ref(), policy).map_err(|e| e.to_string()));
            match result {
                Ok(r) => {
                    let detail = if r.already_off {
                        "already off".to_string()
                    } else {
                        format!("off after {} polls", r.polls)
                    };
                    let _ = journal.append(
                        Kind::Result,
                        "fence",
                        "ok",
                        Fields {
                            detail: Some(&detail),
                            ..fields()
                        },
                    );
                    Outcome::Done(format!("power confirmed off by its BMC ({detail})"))
                }
                Err(e) => {
                    let _ = journal.append(
                        Kind::Result,
                        "fence",
                        "failed",
                        Fields {
                            detail: Some(&e),
                            ..fields()
                        },
                    );
                    Outcome::Alert(format!("{e}: not evacuated"))
                }
            }
        }
        Step::Isolate {
            force_down,
            confirm_power,
        } => {
            let confirm = |h: &str| fence::power_off_confirmed(config, h);
            let fencing = if confirm_power {
                Fencing::ConfirmPowerOff(&confirm)
            } else {
                Fencing::WithoutPowerOff
            };
            match isolate::isolate_with(&s.session.nova(), host, fencing, force_down, journal) {
                Ok(i) => Outcome::Done(format!(
                    "nova-compute {}disabled ({})",
                    if force_down { "forced down and " } else { "" },
                    i.disabled_reason.as_deref().unwrap_or("-")
                )),
                Err(e) => match e.downcast_ref::<CliError>() {
                    Some(c) if c.code == ExitCode::Refused => Outcome::Alert(c.message.clone()),
                    _ => Outcome::Retry(format!("{e:#}")),
                },
            }
        }
        Step::MoveVolumes => move_volumes(s, host, mem, journal),
        Step::Evacuate => evacuate_host(s, host, journal),
        Step::Verify => {
            let records = match journal::read(&s.journal_path) {
                Ok((r, _)) => r,
                Err(e) => return Outcome::Retry(e.to_string()),
            };
            match verify::verify(
                s.session,
                host,
                &records,
                policy.evacuate_concurrency as usize,
            ) {
                Ok(v) => {
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
                Err(e) => Outcome::Retry(format!("{e:#}")),
            }
        }
    }
}

/// The repair command (argv, the host appended; the failure kind in `EVACCTL_FAILURE_KIND`),
/// with a timeout of `recovery_timeout`, through the same runner as cinder-manage.
fn run_repair(s: &Setup<'_>, host: &str, mem: &Memory, journal: &Journal) -> Outcome {
    let policy = &s.config.policy;
    if policy.repair_command.is_empty() {
        return Outcome::Retry("no repair command".into());
    }
    let fields = || Fields {
        host: Some(host),
        ..Default::default()
    };
    let _ = journal.append(Kind::Intent, "repair", "running", fields());
    let kind = mem.kind.map_or("unknown", |k| k.as_str());
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
        return Outcome::Done(format!(
            "repair command ran ({kind} failure); waiting up to {} for it to rejoin",
            humantime::format_duration(policy.recovery_timeout)
        ));
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
    tracing::warn!("{host}: repair failed: {why}");
    Outcome::Alert(format!("repair failed: {why}"))
}

/// Moves the volumes the failed host's cinder-volume managed, per backend, to the first
/// healthy cinder-volume of the same backend (`migrate-volumes`' step). Waits while Cinder
/// still sees the source up (bounded by `recovery_timeout`).
fn move_volumes(s: &Setup<'_>, host: &str, mem: &Memory, journal: &Journal) -> Outcome {
    let cinder = s.session.cinder();
    let services = match cinder.list_services(None, Some("cinder-volume")) {
        Ok(x) => x,
        Err(e) => return Outcome::Retry(format!("cannot list Cinder's services: {e}")),
    };
    let on_host: Vec<_> = services.iter().filter(|x| x.node() == host).collect();
    if on_host.is_empty() {
        return Outcome::Done(format!("{host} runs no cinder-volume: no volume to move"));
    }
    if let Some(up) = on_host.iter().find(|x| x.is_up()) {
        let waited = unix_now() - mem.since;
        if waited > s.config.policy.recovery_timeout.as_secs_f64() {
            return Outcome::Alert(format!(
                "Cinder still shows cinder-volume {} up {:.0}s after isolation: volumes not \
                 moved, servers not evacuated",
                up.host, waited
            ));
        }
        return Outcome::Wait(format!(
            "waiting for Cinder to see cinder-volume {} down (its service_down_time)",
            up.host
        ));
    }
    let mut moved = Vec::new();
    for svc in on_host {
        let Some(backend) = svc.backend() else {
            continue;
        };
        let mut candidates: Vec<&str> = services
            .iter()
            .filter(|x| {
                x.node() != host && x.backend() == Some(backend) && x.is_up() && x.is_enabled()
            })
            .map(|x| x.node())
            .collect();
        candidates.sort_unstable();
        let Some(to) = candidates.first() else {
            return Outcome::Alert(format!(
                "no healthy cinder-volume of backend {backend} to take {host}'s volumes over"
            ));
        };
        let req = match crate::core::volumes::Request::new(host, to, Some(backend)) {
            Ok(r) => r,
            Err(e) => return Outcome::Alert(e.message),
        };
        match volumes::migrate(s.session, &s.config.volumes, journal, &req) {
            Ok(None) => moved.push(format!("{backend}: nothing to move")),
            Ok(Some((plan, outcome))) => {
                if !outcome.proof.ok {
                    return Outcome::Alert(format!(
                        "volumes of {host}@{backend} not proved moved: {}",
                        outcome.message(&plan)
                    ));
                }
                tracing::info!(
                    "{host}: {} volume(s), {} backup(s) of {backend} moved to {to}",
                    plan.volumes.len(),
                    plan.backups.len()
                );
                moved.push(format!(
                    "{backend}: {} volume(s), {} backup(s) moved to {to}",
                    plan.volumes.len(),
                    plan.backups.len()
                ));
            }
            Err(e) => {
                return match e.downcast_ref::<CliError>() {
                    Some(c) => Outcome::Alert(format!("volumes not moved: {}", c.message)),
                    None => Outcome::Retry(format!("volumes not moved: {e:#}")),
                };
            }
        }
    }
    Outcome::Done(moved.join("; "))
}

/// Surveys and evacuates (idempotent: the journal and Nova's migrations keep anything from
/// being sent twice).
fn evacuate_host(s: &Setup<'_>, host: &str, journal: &Journal) -> Outcome {
    let policy = &s.config.policy;
    let records = match journal::read(&s.journal_path) {
        Ok((r, _)) => r,
        Err(e) => return Outcome::Retry(e.to_string()),
    };
    let concurrency = policy.evacuate_concurrency as usize;
    let opts = Options {
        host,
        targets: &policy.target_hosts,
        allow_partial: policy.partial_evacuation,
        filters: &s.config.evacuation,
        concurrency,
    };
    let survey = match evacuate::survey(s.session, &opts, &records) {
        Ok(x) => x,
        Err(e) => {
            return match e.downcast_ref::<CliError>() {
                Some(c) if matches!(c.code, ExitCode::Usage | ExitCode::Refused) => {
                    Outcome::Alert(c.message.clone())
                }
                _ => Outcome::Retry(format!("{e:#}")),
            };
        }
    };
    let does_not_fit = (!survey.plan.fits()).then(|| {
        let names: Vec<&str> = survey
            .plan
            .unplaced
            .iter()
            .map(|u| u.server_name.as_str())
            .collect();
        format!(
            "{} server(s) do not fit on the targets ({})",
            names.len(),
            names.join(", ")
        )
    });
    if does_not_fit.is_some() && !policy.partial_evacuation {
        return Outcome::Evacuated {
            accepted: 0,
            failed: 0,
            in_flight_or_done: false,
            does_not_fit,
            detail: String::new(),
        };
    }
    if let Err(e) = survey.preflight(policy.partial_evacuation) {
        return Outcome::Alert(e.message);
    }
    let skipped_in_flight = survey
        .servers
        .iter()
        .filter(|e| {
            matches!(
                e.verdict.reason_code,
                Some("evacuation-in-progress" | "already-accepted" | "task-in-progress")
            )
        })
        .count();
    let outcomes = evacuate::execute(
        s.session,
        &survey,
        concurrency,
        journal,
        &evacuate::log_outcome,
    );
    let accepted = outcomes.iter().filter(|o| o.accepted).count();
    let failed = outcomes.len() - accepted;
    let in_doubt = survey.in_doubt();
    if in_doubt > 0 && failed == 0 {
        // Not verifying yet: those servers are neither sent nor known to Nova. The next cycle
        // sees them in Nova, or sends them once they can no longer arrive.
        return Outcome::Wait(format!(
            "{in_doubt} evacuation request(s) of a stopped run may still be in Nova's hands: \
             waiting for Nova to show them (at most the API timeout) before sending them \
             again{}",
            if accepted > 0 {
                format!("; {accepted} evacuation(s) accepted")
            } else {
                String::new()
            }
        ));
    }
    let detail = format!(
        "{accepted} evacuation(s) accepted, {failed} failed, {} not evacuable{}",
        survey.servers.len() - survey.evacuable().count(),
        if skipped_in_flight > 0 {
            format!(" ({skipped_in_flight} already under way)")
        } else {
            String::new()
        }
    );
    Outcome::Evacuated {
        accepted,
        failed,
        in_flight_or_done: skipped_in_flight > 0,
        does_not_fit,
        detail,
    }
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
