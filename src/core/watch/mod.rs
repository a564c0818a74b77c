//! The `watch` pipeline's decisions, as pure code (docs/design.md, section 6): what a host's
//! observations mean ([`assess`]), the safety gates over all hosts ([`gates`]), and the host
//! state machine ([`observe`], [`next`], [`after`]).
//!
//! ```text
//! healthy -> suspect -> failed (confirmed: N consecutive observations, and with confirm_window
//!                               seen continuously that long)
//!   -> [recovering: power on once if found off, or the repair command]
//!   -> fencing -> fenced (power confirmed off)          (level 1: no fencing)
//!   -> isolated (forced down, then disabled "evacctl: ...")  (level 3: no force-down, Nova's own timeout)
//!   -> volumes-moved -> evacuating -> verifying -> evacuated
//! alert: fencing failed or unconfirmed, no capacity, verification failed or timed out,
//!        flapping, repeated API failure: automatic work on the host stops; a person is told.
//! degraded: a non-storage network down, or Nova lost the heartbeat while the node says
//!           nova-compute runs: warn, never act. maintenance: disabled by someone else: hands off.
//! ```
//!
//! The engine (`engine`) feeds one observation per cycle to [`observe`], then asks
//! [`next`] what to do, runs the step it names with the same step functions the manual
//! subcommands use, and gives the result to [`after`], until [`next`] says to wait. The memory
//! of each host ([`Memory`]) is written to the journal with every change, so a run killed at
//! any point resumes where it was.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::core::network::{HostVerdict, NodeLocal};

/// The watch loop's policy (`[policy]` of the configuration, read by `config`): when it
/// acts, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyConfig {
    pub quick_evacuate_level: QuickEvacuateLevel,
    /// Consecutive observations before a host counts as failed (1..=100).
    pub confirmations: u32,
    /// Confirmation by time: the failure seen continuously this long, in at least 2
    /// observations (the first sighting and one at or after its end). Both this and
    /// `confirmations` must hold when set; `None`: `confirmations` alone.
    pub confirm_window: Option<Duration>,
    /// The watch cycle.
    pub interval: Duration,
    /// More hosts failing at once than this: alert, no action (0..=10000).
    pub max_failed_hosts: u32,
    /// More than this share (percent) of compute hosts failing: alert, no action (0..=100).
    pub max_failed_percent: u8,
    /// Hosts acted on per watch cycle (1..=1000).
    pub max_hosts_per_cycle: u32,
    /// Power-off confirmation polls (origin E: ipmi_check_max_count; 1..=1000).
    pub check_max_count: u32,
    /// Between power-off confirmation polls (origin E: ipmi_check_interval).
    pub check_interval: Duration,
    /// A host found powered off is powered on once.
    pub power_on_recovery: bool,
    pub recovery_timeout: Duration,
    /// argv run for a crashed service, the host name appended; empty: none.
    pub repair_command: Vec<String>,
    /// Evacuations in flight at once (1..=1000).
    pub evacuate_concurrency: u32,
    pub verify_timeout: Duration,
    /// Hosts evacuated servers go to; empty: the scheduler chooses.
    pub target_hosts: Vec<String>,
    /// When not every server fits: evacuate those that do, then alert (false: evacuate
    /// nothing, alert).
    pub partial_evacuation: bool,
    /// A host with 3 failure episodes within this window is flapping: no action.
    pub flap_window: Duration,
    /// Move the volumes the failed host's cinder-volume managed before evacuating (a no-op
    /// when it runs no cinder-volume).
    pub move_volumes: bool,
    /// A cluster-wide alert still under way is sent again this often; `None`: only when it
    /// starts, changes and ends.
    pub realert_interval: Option<Duration>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            quick_evacuate_level: QuickEvacuateLevel::PowerOffThenForceDown,
            confirmations: 2,
            confirm_window: None,
            interval: Duration::from_secs(10),
            max_failed_hosts: 1,
            max_failed_percent: 33,
            max_hosts_per_cycle: 1,
            check_max_count: 10,
            check_interval: Duration::from_secs(3),
            power_on_recovery: true,
            recovery_timeout: Duration::from_secs(5 * 60),
            repair_command: Vec::new(),
            evacuate_concurrency: 15,
            verify_timeout: Duration::from_secs(10 * 60),
            target_hosts: Vec::new(),
            partial_evacuation: true,
            flap_window: Duration::from_secs(10 * 60),
            move_volumes: true,
            realert_interval: None,
        }
    }
}

/// What to do before evacuating a failed host quickly (origin E, after masakari's levels).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(try_from = "i64")]
pub enum QuickEvacuateLevel {
    /// 1: force nova-compute down without powering the host off.
    ForceDownWithoutPowerOff = 1,
    /// 2: power the host off (confirmed), then force nova-compute down.
    #[default]
    PowerOffThenForceDown = 2,
    /// 3: no force-down: power off (confirmed), then wait for Nova to see the service down
    /// itself (its heartbeat timeout).
    Neither = 3,
}

impl QuickEvacuateLevel {
    pub fn level(self) -> u8 {
        self as u8
    }
}

impl TryFrom<i64> for QuickEvacuateLevel {
    type Error = String;

    fn try_from(v: i64) -> Result<Self, String> {
        match v {
            1 => Ok(QuickEvacuateLevel::ForceDownWithoutPowerOff),
            2 => Ok(QuickEvacuateLevel::PowerOffThenForceDown),
            3 => Ok(QuickEvacuateLevel::Neither),
            _ => Err(format!(
                "{v} is out of range: expected 1 (force-down without power off), \
                 2 (power off, then force-down) or 3 (neither)"
            )),
        }
    }
}

/// Where a host is in the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostState {
    Healthy,
    /// Notify only: a management or tenant network down, or Nova's heartbeat lost while the
    /// node says nova-compute runs.
    Degraded,
    /// Disabled by someone else (not evacctl): hands off.
    Maintenance,
    /// A failure seen, not yet confirmed.
    Suspect,
    /// Confirmed in `confirmations` consecutive observations (and over `confirm_window`).
    Failed,
    /// Powered on once, or the repair command ran: waiting for it to rejoin.
    Recovering,
    Fencing,
    Fenced,
    Isolated,
    VolumesMoved,
    Evacuating,
    Verifying,
    Evacuated,
    Alert,
}

impl HostState {
    pub fn as_str(self) -> &'static str {
        match self {
            HostState::Healthy => "healthy",
            HostState::Degraded => "degraded",
            HostState::Maintenance => "maintenance",
            HostState::Suspect => "suspect",
            HostState::Failed => "failed",
            HostState::Recovering => "recovering",
            HostState::Fencing => "fencing",
            HostState::Fenced => "fenced",
            HostState::Isolated => "isolated",
            HostState::VolumesMoved => "volumes-moved",
            HostState::Evacuating => "evacuating",
            HostState::Verifying => "verifying",
            HostState::Evacuated => "evacuated",
            HostState::Alert => "alert",
        }
    }

    pub fn parse(s: &str) -> Option<HostState> {
        ALL_STATES.iter().copied().find(|st| st.as_str() == s)
    }

    /// Fencing has begun: observations no longer change the course (the host is being taken
    /// out; only an operator's `restore` brings it back).
    pub fn is_committed(self) -> bool {
        matches!(
            self,
            HostState::Fencing
                | HostState::Fenced
                | HostState::Isolated
                | HostState::VolumesMoved
                | HostState::Evacuating
                | HostState::Verifying
                | HostState::Evacuated
        )
    }

    /// Looks failed and is not yet taken out: what the mass-failure gate counts.
    pub fn is_failing(self) -> bool {
        matches!(
            self,
            HostState::Suspect | HostState::Failed | HostState::Recovering
        )
    }
}

const ALL_STATES: [HostState; 14] = [
    HostState::Healthy,
    HostState::Degraded,
    HostState::Maintenance,
    HostState::Suspect,
    HostState::Failed,
    HostState::Recovering,
    HostState::Fencing,
    HostState::Fenced,
    HostState::Isolated,
    HostState::VolumesMoved,
    HostState::Evacuating,
    HostState::Verifying,
    HostState::Evacuated,
    HostState::Alert,
];

impl fmt::Display for HostState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// =====================================================================================
// One host's observation
// =====================================================================================

/// What kind of failure was seen: it decides the recovery tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureKind {
    /// Storage network down, or every network down (origin D).
    Network,
    /// nova-compute (or libvirt) not running on a live node: the node-local checks.
    Service,
    /// Nova lost the heartbeat and nothing says the node is alive.
    Nova,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Network => "network",
            FailureKind::Service => "service",
            FailureKind::Nova => "nova",
        }
    }
}

/// What one cycle's observation says about a host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Evidence {
    Healthy,
    /// Notify, do not act.
    Warn(String),
    Failed {
        kind: FailureKind,
        reason: String,
    },
}

impl Evidence {
    pub fn is_failed(&self) -> bool {
        matches!(self, Evidence::Failed { .. })
    }
}

/// A host's nova-compute as Nova shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NovaFacts {
    pub enabled: bool,
    /// `state` is `up` (heartbeat within service_down_time and not forced down).
    pub up: bool,
    pub forced_down: bool,
    pub disabled_reason: Option<String>,
}

/// The prefix of the disabled reason evacctl writes (`evacctl: evacuated <time>`).
pub const OUR_MARKER: &str = "evacctl:";

impl NovaFacts {
    /// Disabled or forced down by evacctl (its disabled-reason marker).
    pub fn is_ours(&self) -> bool {
        self.disabled_reason
            .as_deref()
            .is_some_and(|r| r.trim_start().starts_with(OUR_MARKER))
    }

    /// Taken out by someone else: disabled (or forced down) without evacctl's marker.
    pub fn is_maintenance(&self) -> bool {
        (!self.enabled || self.forced_down) && !self.is_ours()
    }
}

/// Everything observed of one host in one cycle (plain data).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostFacts {
    pub nova: NovaFacts,
    /// The Consul network verdict; `None`: no Consul cluster configured.
    pub network: Option<(HostVerdict, String)>,
    /// The node-local checks (nova-compute, libvirt) and why.
    pub node_local: (NodeLocal, String),
}

/// What a host's observation means (origin D's rules, docs/design.md, section 4):
///
/// 1. storage network down, or every network down: failed (network);
/// 2. the node-local checks critical (nova-compute or libvirt dead on the node): failed
///    (service);
/// 3. Nova lost the heartbeat: if the node says nova-compute runs, or the host is alive in
///    every network, wait and warn (the node is alive: fencing it on Nova's word alone is the
///    wrong call); otherwise failed (nova);
/// 4. a management or tenant network down (storage up): warn, notify only;
/// 5. otherwise healthy.
///
/// Forced-down or disabled services are judged by the caller (ours, or maintenance).
pub fn assess(f: &HostFacts) -> Evidence {
    if let Some((HostVerdict::Failed, why)) = &f.network {
        return Evidence::Failed {
            kind: FailureKind::Network,
            reason: why.clone(),
        };
    }
    let (node, node_why) = &f.node_local;
    // A management or tenant network down makes the node's checks in that cluster stale
    // (critical because its agent is not heard): notify only, as origin D says.
    if let Some((HostVerdict::Degraded, why)) = &f.network {
        return Evidence::Warn(why.clone());
    }
    if *node == NodeLocal::Critical {
        return Evidence::Failed {
            kind: FailureKind::Service,
            reason: format!("node-local checks critical: {node_why}"),
        };
    }
    if !f.nova.up && !f.nova.forced_down {
        if matches!(node, NodeLocal::Passing | NodeLocal::Warning) {
            return Evidence::Warn(format!(
                "Nova lost nova-compute's heartbeat but the node says it runs ({node_why}): \
                 waiting for it to reconnect"
            ));
        }
        if let Some((HostVerdict::Healthy, _)) = &f.network {
            return Evidence::Warn(
                "Nova lost nova-compute's heartbeat but the host is alive in every network: \
                 waiting"
                    .into(),
            );
        }
        return Evidence::Failed {
            kind: FailureKind::Nova,
            reason: "nova-compute is down in Nova (no heartbeat) and nothing says the host \
                     is alive"
                .into(),
        };
    }
    if let Some((HostVerdict::Degraded, why)) = &f.network {
        return Evidence::Warn(why.clone());
    }
    Evidence::Healthy
}

// =====================================================================================
// The gates over every host
// =====================================================================================

/// What the whole cycle saw, for the gates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CycleFacts {
    /// Compute hosts known to Nova.
    pub compute_hosts: usize,
    /// Hosts that look failed and are not yet taken out (suspect, failed, recovering).
    pub failing: Vec<String>,
    /// Why this controller looks cut off (empty: it does not).
    pub observer_isolated: Vec<String>,
    /// This controller holds the leader lock (or none is configured).
    pub leader: bool,
    /// Why the leader lock could not even be asked (Consul without a leader, unreachable):
    /// nobody can act, which people must hear of.
    pub leader_error: Option<String>,
}

/// May the cycle act, and if not, why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gate {
    Open,
    /// Observe only: another controller acts.
    Standby(String),
    /// Observe only, and warn: the leader lock cannot be asked, so no controller acts.
    NoLeader(String),
    /// Act on nothing, alert: the problem is probably ours.
    ObserverIsolated(String),
    /// Act on nothing, alert: too many hosts at once.
    MassFailure(String),
}

impl Gate {
    pub fn is_open(&self) -> bool {
        matches!(self, Gate::Open)
    }

    /// Worth telling a person (standby is normal).
    pub fn is_alert(&self) -> bool {
        matches!(self, Gate::ObserverIsolated(_) | Gate::MassFailure(_))
    }

    pub fn reason(&self) -> &str {
        match self {
            Gate::Open => "",
            Gate::Standby(r)
            | Gate::NoLeader(r)
            | Gate::ObserverIsolated(r)
            | Gate::MassFailure(r) => r,
        }
    }
}

/// The safety gates (docs/design.md 2.4, 2.5): the observer cut off, then too many failing hosts
/// (more than `max_failed_hosts`, or more than `max_failed_percent` of the compute hosts,
/// rounded down), then leadership.
pub fn gates(c: &CycleFacts, policy: &PolicyConfig) -> Gate {
    if !c.observer_isolated.is_empty() {
        return Gate::ObserverIsolated(format!(
            "this controller looks cut off ({}): acting on nothing",
            c.observer_isolated.join("; ")
        ));
    }
    let n = c.failing.len();
    let percent = (n * 100).checked_div(c.compute_hosts).unwrap_or(0);
    let over_count = n > policy.max_failed_hosts as usize;
    let over_percent = percent > usize::from(policy.max_failed_percent);
    if n > 0 && (over_count || over_percent) {
        let which = if over_count {
            format!("more than max_failed_hosts = {}", policy.max_failed_hosts)
        } else {
            format!(
                "{percent}% of {} compute hosts, more than max_failed_percent = {}%",
                c.compute_hosts, policy.max_failed_percent
            )
        };
        return Gate::MassFailure(format!(
            "{n} hosts look failed at once ({}; {which}): the problem is probably the network \
             or this controller, not the hosts; acting on nothing",
            c.failing.join(", ")
        ));
    }
    if let (false, Some(why)) = (c.leader, &c.leader_error) {
        return Gate::NoLeader(format!(
            "the leader lock cannot be asked ({why}): no controller acts; acting on nothing"
        ));
    }
    if !c.leader {
        return Gate::Standby("another controller holds the leader lock: standing by".into());
    }
    Gate::Open
}

// =====================================================================================
// One host's memory
// =====================================================================================

/// What evacctl remembers of a host between cycles (and runs: it is journaled with every
/// change). Times are seconds since the Unix epoch.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Memory {
    pub state: Option<HostState>,
    /// When the state was entered.
    pub since: f64,
    /// Why (the log line).
    pub reason: String,
    /// Consecutive cycles the failure was seen.
    pub seen: u32,
    /// When the failure was last seen (0: never, or a journal written before this field).
    pub last_seen: f64,
    /// When the failure was first seen in the run of sightings `seen` counts (0: never, or a
    /// journal written before this field): where `confirm_window` starts.
    #[serde(skip_serializing_if = "is_zero")]
    pub first_seen: f64,
    /// The starts of the recent failure episodes (healthy -> suspect), for flapping.
    pub episodes: Vec<f64>,
    /// The kind of the failure being handled.
    pub kind: Option<FailureKind>,
    /// The power state read for the recovery decision this episode (`on`, `off`, `unknown`).
    pub power: Option<String>,
    /// A recovery (power-on or repair) was tried this episode.
    pub recovery_tried: bool,
    /// Recovering, or verifying: until when.
    pub deadline: Option<f64>,
    /// Evacuation rounds with failed requests.
    pub attempts: u32,
    /// Servers left behind (they do not fit): the episode ends in alert, not evacuated.
    pub incomplete: Option<String>,
    /// Nova or a step failed this many times in a row (API errors).
    pub errors: u32,
    /// The flapping alert was sent this episode.
    pub flap_alerted: bool,
    /// Level 1 evacuated without moving the volumes of a cinder-volume still up (why): they
    /// move in a later cycle once Cinder sees it down, or by hand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volumes_left: Option<String>,
    /// The servers the last evacuation round left on the host (not evacuable), with why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
}

/// A server an evacuation round did not send, and why (paused, rebooting, never ran...).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub id: String,
    pub name: String,
    pub reason: String,
}

/// `2 server(s) not evacuated, left on compute-3: db-1 (id): paused; ...`; empty when none.
pub fn skipped_text(host: &str, skipped: &[Skipped]) -> String {
    if skipped.is_empty() {
        return String::new();
    }
    let each: Vec<String> = skipped
        .iter()
        .map(|s| format!("{} ({}): {}", s.name, s.id, s.reason))
        .collect();
    format!(
        "{} server(s) not evacuated, left on {host}: {}",
        skipped.len(),
        each.join("; ")
    )
}

impl Memory {
    pub fn state(&self) -> HostState {
        self.state.unwrap_or(HostState::Healthy)
    }
}

fn is_zero(t: &f64) -> bool {
    *t == 0.0
}

/// The observations a confirmation needs: `confirmations`; with `confirm_window`, at least 2
/// (a window is measured between two sightings, never guessed from one).
pub fn observations_needed(policy: &PolicyConfig) -> u32 {
    match policy.confirm_window {
        Some(_) => policy.confirmations.max(2),
        None => policy.confirmations,
    }
}

/// The host's failure, seen in `mem.seen` observations since `mem.first_seen`, is confirmed
/// at `now`: enough observations, and with `confirm_window` seen continuously that long.
pub fn is_confirmed(mem: &Memory, policy: &PolicyConfig, now: f64) -> bool {
    mem.seen >= observations_needed(policy)
        && policy
            .confirm_window
            .is_none_or(|w| mem.first_seen > 0.0 && now - mem.first_seen >= w.as_secs_f64())
}

/// When a suspect host's `confirm_window` ends (seconds since the epoch): the observation
/// that may confirm it is due then, not a whole interval later. `None` without a window, or
/// for a host that is not suspect.
pub fn confirm_due(mem: &Memory, policy: &PolicyConfig) -> Option<f64> {
    let w = policy.confirm_window?;
    (mem.state() == HostState::Suspect && mem.first_seen > 0.0)
        .then_some(mem.first_seen + w.as_secs_f64())
}

/// `(seen 1/2)`, or with a window `(seen 2 times over 1.4s of 2s)`.
fn seen_note(mem: &Memory, policy: &PolicyConfig, now: f64) -> String {
    match policy.confirm_window {
        None => format!("seen {}/{}", mem.seen, policy.confirmations),
        Some(w) => format!(
            "seen {} time(s) over {:.1}s of confirm_window {}",
            mem.seen,
            (now - mem.first_seen).max(0.0),
            humantime::format_duration(w)
        ),
    }
}

/// How many failure episodes within the flapping window make a host flapping.
pub const FLAP_EPISODES: usize = 3;
/// Consecutive failures of a step (API errors) before the host goes to alert.
pub const MAX_STEP_ERRORS: u32 = 3;

/// A change of state, with what to tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub host: String,
    pub from: HostState,
    pub to: HostState,
    pub reason: String,
}

/// Moves a host to `to` (now, for `reason`); the transition to record.
pub fn go(mem: &mut Memory, host: &str, to: HostState, reason: String, now: f64) -> Transition {
    let from = mem.state();
    mem.state = Some(to);
    mem.since = now;
    mem.reason = reason.clone();
    Transition {
        host: host.to_string(),
        from,
        to,
        reason,
    }
}

/// A new episode: forget what the last one tried.
fn new_episode(mem: &mut Memory) {
    mem.seen = 0;
    mem.first_seen = 0.0;
    mem.kind = None;
    mem.power = None;
    mem.recovery_tried = false;
    mem.deadline = None;
    mem.attempts = 0;
    mem.incomplete = None;
    mem.errors = 0;
    mem.flap_alerted = false;
    mem.volumes_left = None;
    mem.skipped.clear();
}

/// Failure episodes that started within the window.
pub fn recent_episodes(mem: &Memory, now: f64, window: f64) -> usize {
    mem.episodes.iter().filter(|t| now - **t <= window).count()
}

/// Feeds one cycle's observation to a host's memory: healthy/suspect/failed and back,
/// degraded, maintenance, flapping. Committed hosts (fencing and after) ignore it, but for
/// evacctl's own marker disappearing (an operator put the host back by hand).
pub fn observe(
    mem: &mut Memory,
    host: &str,
    facts: &HostFacts,
    policy: &PolicyConfig,
    flap_window: f64,
    now: f64,
) -> Option<Transition> {
    let state = mem.state();
    let evidence = assess(facts);
    let nova = &facts.nova;
    // Back in service without `evacctl restore` (enabled, not forced down, healthy): forget.
    if (state.is_committed() || state == HostState::Alert)
        && nova.enabled
        && !nova.forced_down
        && evidence == Evidence::Healthy
    {
        new_episode(mem);
        return Some(go(
            mem,
            host,
            HostState::Healthy,
            "enabled, up and healthy again (returned to service)".into(),
            now,
        ));
    }
    if state.is_committed() || state == HostState::Alert {
        return None;
    }
    if nova.is_maintenance() {
        if state == HostState::Maintenance {
            return None;
        }
        new_episode(mem);
        let why = match (&nova.disabled_reason, nova.forced_down) {
            (_, true) => "forced down by someone else".to_string(),
            (Some(r), _) => format!("disabled by someone else ({r})"),
            (None, _) => "disabled by someone else".to_string(),
        };
        return Some(go(
            mem,
            host,
            HostState::Maintenance,
            format!("{why}: hands off"),
            now,
        ));
    }
    if nova.is_ours() {
        // Isolated by evacctl (another controller, or a lost journal): resume from there.
        new_episode(mem);
        return Some(go(
            mem,
            host,
            HostState::Isolated,
            format!(
                "nova-compute carries evacctl's marker ({}): resuming after isolation",
                nova.disabled_reason.as_deref().unwrap_or("")
            ),
            now,
        ));
    }
    match evidence {
        Evidence::Healthy => match state {
            HostState::Healthy => None,
            HostState::Suspect => {
                let seen = mem.seen;
                new_episode(mem);
                Some(go(
                    mem,
                    host,
                    HostState::Healthy,
                    format!("healthy again after {seen} failed observation(s)"),
                    now,
                ))
            }
            _ => {
                new_episode(mem);
                Some(go(
                    mem,
                    host,
                    HostState::Healthy,
                    "healthy again".into(),
                    now,
                ))
            }
        },
        Evidence::Warn(why) => match state {
            HostState::Degraded if mem.reason == why => None,
            HostState::Recovering => None,
            _ => {
                new_episode(mem);
                Some(go(mem, host, HostState::Degraded, why, now))
            }
        },
        Evidence::Failed { kind, reason } => match state {
            HostState::Healthy | HostState::Degraded | HostState::Maintenance => {
                new_episode(mem);
                mem.seen = 1;
                mem.last_seen = now;
                mem.first_seen = now;
                mem.kind = Some(kind);
                mem.episodes.retain(|t| now - *t <= flap_window);
                mem.episodes.push(now);
                let to = if is_confirmed(mem, policy, now) {
                    HostState::Failed
                } else {
                    HostState::Suspect
                };
                let note = seen_note(mem, policy, now);
                Some(go(mem, host, to, format!("{reason} ({note})"), now))
            }
            HostState::Suspect => {
                // Evidence from long ago (a watch stopped for a while, cron paused) is not a
                // consecutive observation: the count starts again, in the same episode.
                let stale_after = (3.0 * policy.interval.as_secs_f64()).max(flap_window);
                let gap = now - mem.last_seen;
                let stale = mem.last_seen > 0.0 && gap > stale_after;
                // A journal written before `first_seen` existed: the window starts now.
                let unknown_start = policy.confirm_window.is_some() && mem.first_seen <= 0.0;
                if stale || unknown_start {
                    mem.seen = 1;
                    mem.first_seen = now;
                } else {
                    mem.seen += 1;
                }
                mem.last_seen = now;
                mem.kind = Some(kind);
                if !is_confirmed(mem, policy, now) {
                    let note = if stale {
                        format!("; the last observation was {}s ago", gap.round())
                    } else {
                        String::new()
                    };
                    let seen = seen_note(mem, policy, now);
                    return Some(go(
                        mem,
                        host,
                        HostState::Suspect,
                        format!("{reason} ({seen}{note})"),
                        now,
                    ));
                }
                let episodes = recent_episodes(mem, now, flap_window);
                if episodes >= FLAP_EPISODES {
                    // Held: stays suspect until the failure outlasts the window.
                    mem.reason = format!(
                        "flapping: {episodes} failure episodes within {}s; no action until \
                         it stays failed or healthy ({reason})",
                        flap_window.round()
                    );
                    return None;
                }
                let how = match policy.confirm_window {
                    None => format!("confirmed in {} consecutive observations", mem.seen),
                    Some(_) => format!(
                        "confirmed: seen continuously for {:.1}s, in {} observations",
                        now - mem.first_seen,
                        mem.seen
                    ),
                };
                Some(go(
                    mem,
                    host,
                    HostState::Failed,
                    format!("{reason} ({how})"),
                    now,
                ))
            }
            // Failed and recovering keep their course until the next step decides.
            _ => {
                mem.seen += 1;
                mem.last_seen = now;
                None
            }
        },
    }
}

/// The host is flapping and its confirmation is held (see [`observe`]).
pub fn is_flapping(mem: &Memory, policy: &PolicyConfig, flap_window: f64, now: f64) -> bool {
    mem.state() == HostState::Suspect
        && is_confirmed(mem, policy, now)
        && recent_episodes(mem, now, flap_window) >= FLAP_EPISODES
}

// =====================================================================================
// What to do next
// =====================================================================================

/// One step of the pipeline, run by the engine with the runbook's step functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Read the power (BMC), for the recovery decision.
    ReadPower,
    /// Recovery: power the host on once (origin D).
    PowerOn,
    /// Recovery: the configured repair command.
    Repair,
    /// Power off, confirmed (`steps::power`).
    Fence,
    /// Force down (unless level 3) and disable (`steps::isolate`); `confirm_power`: ask the
    /// BMC again first (levels 2 and 3).
    Isolate {
        force_down: bool,
        confirm_power: bool,
    },
    /// `steps::volumes::migrate`.
    MoveVolumes,
    /// `steps::evacuate` survey + execute.
    Evacuate,
    /// `steps::verify`.
    Verify,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::ReadPower => "read-power",
            Step::PowerOn => "power-on",
            Step::Repair => "repair",
            Step::Fence => "fence",
            Step::Isolate { .. } => "isolate",
            Step::MoveVolumes => "move-volumes",
            Step::Evacuate => "evacuate",
            Step::Verify => "verify",
        }
    }
}

/// What [`next`] says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Nothing more this cycle (and why, for the status line).
    Wait(String),
    Run(Step),
    /// A change that needs no I/O.
    Go(HostState, String),
}

/// What the engine knows when it asks [`next`].
#[derive(Clone, Debug)]
pub struct Context<'a> {
    pub policy: &'a PolicyConfig,
    pub now: f64,
    /// The gates are open (and this is the leader).
    pub may_act: bool,
    /// This host may start (fencing or recovery) this cycle: `max_hosts_per_cycle`.
    pub may_start: bool,
    /// The host has a BMC configured.
    pub has_bmc: bool,
    /// The volume step is on.
    pub move_volumes: bool,
    /// Nova shows the host's nova-compute down (heartbeat, or forced).
    pub nova_down: bool,
    /// Verify was already run this cycle.
    pub verified_this_cycle: bool,
}

/// The next thing to do for a host in its current state.
pub fn next(mem: &Memory, c: &Context<'_>) -> Next {
    let state = mem.state();
    if !c.may_act {
        return Next::Wait(String::new());
    }
    let level = c.policy.quick_evacuate_level;
    match state {
        // Level 1 left a live cinder-volume's volumes where they were: moved once it is down.
        HostState::Evacuated if mem.volumes_left.is_some() && c.move_volumes => {
            Next::Run(Step::MoveVolumes)
        }
        HostState::Healthy
        | HostState::Degraded
        | HostState::Maintenance
        | HostState::Suspect
        | HostState::Evacuated
        | HostState::Alert => Next::Wait(String::new()),
        HostState::Failed => {
            if !c.may_start {
                return Next::Wait(format!(
                    "waiting: max_hosts_per_cycle = {} hosts already started this cycle",
                    c.policy.max_hosts_per_cycle
                ));
            }
            if !mem.recovery_tried {
                if c.policy.power_on_recovery && c.has_bmc && mem.power.is_none() {
                    return Next::Run(Step::ReadPower);
                }
                if c.policy.power_on_recovery && mem.power.as_deref() == Some("off") {
                    return Next::Run(Step::PowerOn);
                }
                if !c.policy.repair_command.is_empty()
                    && matches!(
                        mem.kind,
                        Some(FailureKind::Service) | Some(FailureKind::Network)
                    )
                    && mem.power.as_deref() != Some("off")
                {
                    return Next::Run(Step::Repair);
                }
            }
            begin_fencing(level)
        }
        HostState::Recovering => match mem.deadline {
            Some(d) if c.now < d => Next::Wait(format!(
                "recovering: waiting {:.0}s more for it to rejoin",
                d - c.now
            )),
            _ => {
                if !c.may_start {
                    return Next::Wait("waiting: max_hosts_per_cycle".into());
                }
                // Say why in the log line and the notification (on Zed it read only "fencing").
                match begin_fencing(level) {
                    Next::Go(to, why) => Next::Go(
                        to,
                        format!(
                            "did not rejoin within {}: {why}",
                            humantime::format_duration(c.policy.recovery_timeout)
                        ),
                    ),
                    other => other,
                }
            }
        },
        HostState::Fencing => Next::Run(Step::Fence),
        HostState::Fenced => match level {
            QuickEvacuateLevel::Neither if !c.nova_down => Next::Wait(
                "quick_evacuate_level 3: waiting for Nova to see nova-compute down (its \
                 heartbeat timeout)"
                    .into(),
            ),
            QuickEvacuateLevel::Neither => Next::Run(Step::Isolate {
                force_down: false,
                confirm_power: true,
            }),
            _ => Next::Run(Step::Isolate {
                force_down: true,
                confirm_power: true,
            }),
        },
        HostState::Isolated => {
            if c.move_volumes {
                Next::Run(Step::MoveVolumes)
            } else {
                Next::Go(HostState::VolumesMoved, "no volume step configured".into())
            }
        }
        HostState::VolumesMoved | HostState::Evacuating => Next::Run(Step::Evacuate),
        HostState::Verifying => {
            if c.verified_this_cycle {
                Next::Wait("verifying: evacuations still running".into())
            } else {
                Next::Run(Step::Verify)
            }
        }
    }
}

fn begin_fencing(level: QuickEvacuateLevel) -> Next {
    match level {
        QuickEvacuateLevel::ForceDownWithoutPowerOff => Next::Run(Step::Isolate {
            force_down: true,
            confirm_power: false,
        }),
        _ => Next::Go(HostState::Fencing, "fencing".into()),
    }
}

/// How a step ended, as plain data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Power(Option<bool>),
    /// The step did what it should.
    Done(String),
    /// Nothing changed yet; try again next cycle (an API error).
    Retry(String),
    /// Not an error: waiting for something outside (Cinder to see the service down).
    Wait(String),
    /// The volume step waited its time and Cinder still shows the host's cinder-volume up
    /// (why): level 1 evacuates without moving them, levels 2 and 3 stop (alert).
    VolumesLeft(String),
    /// Stop automatic work on the host.
    Alert(String),
    /// Evacuations: how many accepted, failed; what does not fit (alert text).
    Evacuated {
        accepted: usize,
        failed: usize,
        in_flight_or_done: bool,
        does_not_fit: Option<String>,
        detail: String,
        /// Not evacuable, left on the host (with why).
        skipped: Vec<Skipped>,
    },
    /// Verification: all verified; or pending; or failed (why).
    Verified,
    VerifyPending(String),
    VerifyFailed(String),
}

/// Applies a step's outcome to a host's memory; the transition, if the state changed.
pub fn after(
    mem: &mut Memory,
    host: &str,
    step: Step,
    outcome: Outcome,
    policy: &PolicyConfig,
    now: f64,
) -> Option<Transition> {
    let alert = |mem: &mut Memory, why: String| Some(go(mem, host, HostState::Alert, why, now));
    match (step, outcome) {
        (Step::ReadPower, Outcome::Power(p)) => {
            mem.power = Some(
                match p {
                    Some(true) => "on",
                    Some(false) => "off",
                    None => "unknown",
                }
                .into(),
            );
            None
        }
        (Step::PowerOn | Step::Repair, Outcome::Done(why)) => {
            mem.recovery_tried = true;
            mem.deadline = Some(now + policy.recovery_timeout.as_secs_f64());
            Some(go(mem, host, HostState::Recovering, why, now))
        }
        (Step::PowerOn | Step::Repair, Outcome::Retry(why) | Outcome::Alert(why)) => {
            // A recovery that cannot be tried is no reason to wait: fence.
            mem.recovery_tried = true;
            mem.reason = why;
            None
        }
        (Step::Fence, Outcome::Done(why)) => {
            mem.errors = 0;
            Some(go(mem, host, HostState::Fenced, why, now))
        }
        (Step::Isolate { .. }, Outcome::Done(why)) => {
            mem.errors = 0;
            Some(go(mem, host, HostState::Isolated, why, now))
        }
        // The later move of level 1's volumes: the host stays evacuated.
        (Step::MoveVolumes, Outcome::Done(why)) if mem.state() == HostState::Evacuated => {
            mem.errors = 0;
            mem.volumes_left = None;
            mem.reason = format!("{}; volumes moved since: {why}", mem.reason);
            None
        }
        (Step::MoveVolumes, Outcome::Wait(_) | Outcome::VolumesLeft(_))
            if mem.state() == HostState::Evacuated =>
        {
            None
        }
        (Step::MoveVolumes, Outcome::Done(why)) => {
            mem.errors = 0;
            Some(go(mem, host, HostState::VolumesMoved, why, now))
        }
        (Step::MoveVolumes, Outcome::VolumesLeft(why)) => {
            if policy.quick_evacuate_level != QuickEvacuateLevel::ForceDownWithoutPowerOff {
                return alert(
                    mem,
                    format!("{why}: volumes not moved, servers not evacuated"),
                );
            }
            // Level 1 (origin E): the operator chose speed over fencing. A cinder-volume still
            // up still serves its volumes, so the servers can be rebuilt elsewhere with them
            // where they are.
            mem.errors = 0;
            mem.volumes_left = Some(why.clone());
            Some(go(
                mem,
                host,
                HostState::VolumesMoved,
                format!(
                    "quick_evacuate_level 1: {why}: evacuating the servers without moving its \
                     volumes (it still serves them); they move once Cinder sees it down, in a \
                     later cycle, or by hand (evacctl migrate-volumes)"
                ),
                now,
            ))
        }
        (
            Step::Evacuate,
            Outcome::Evacuated {
                accepted,
                failed,
                in_flight_or_done,
                does_not_fit,
                detail,
                skipped,
            },
        ) => {
            mem.errors = 0;
            mem.skipped = skipped;
            if let Some(why) = &does_not_fit {
                if !policy.partial_evacuation {
                    return alert(
                        mem,
                        format!(
                            "not enough capacity, nothing evacuated (policy.partial_evacuation = false): {why}"
                        ),
                    );
                }
                mem.incomplete = Some(why.clone());
            }
            if failed > 0 {
                mem.attempts += 1;
                if mem.attempts >= MAX_STEP_ERRORS {
                    return alert(
                        mem,
                        format!(
                            "evacuation requests kept failing ({} rounds): {detail}",
                            mem.attempts
                        ),
                    );
                }
                if mem.state() != HostState::Evacuating {
                    return Some(go(mem, host, HostState::Evacuating, detail, now));
                }
                return None;
            }
            if accepted > 0 || in_flight_or_done {
                mem.deadline = Some(now + policy.verify_timeout.as_secs_f64());
                return Some(go(mem, host, HostState::Verifying, detail, now));
            }
            // Nothing to evacuate at all.
            match mem.incomplete.clone() {
                Some(why) => alert(mem, format!("nothing could be evacuated: {why}")),
                None => {
                    let left = skipped_text(host, &mem.skipped);
                    let why = if left.is_empty() {
                        detail
                    } else {
                        format!("nothing evacuated: {left}")
                    };
                    Some(go(mem, host, HostState::Evacuated, why, now))
                }
            }
        }
        (Step::Verify, Outcome::Verified) => match mem.incomplete.clone() {
            Some(why) => alert(
                mem,
                format!("evacuated servers verified, but some were left behind: {why}"),
            ),
            None => {
                // Servers left behind are named, never hidden behind "every server verified".
                let left = skipped_text(host, &mem.skipped);
                let why = if left.is_empty() {
                    "every evacuated server verified on its new host".to_string()
                } else {
                    format!("every evacuated server verified on its new host; {left}")
                };
                Some(go(mem, host, HostState::Evacuated, why, now))
            }
        },
        (Step::Verify, Outcome::VerifyPending(why)) => match mem.deadline {
            Some(d) if now >= d => alert(
                mem,
                format!(
                    "verification timed out after {}: {why}",
                    humantime::format_duration(policy.verify_timeout)
                ),
            ),
            _ => {
                mem.reason = why;
                None
            }
        },
        (Step::Verify, Outcome::VerifyFailed(why)) => {
            alert(mem, format!("verification failed: {why}"))
        }
        (_, Outcome::Alert(why)) => alert(mem, why),
        (_, Outcome::Wait(why)) => {
            mem.reason = why;
            None
        }
        (_, Outcome::Retry(why)) => {
            mem.errors += 1;
            if mem.errors >= MAX_STEP_ERRORS {
                return alert(
                    mem,
                    format!(
                        "{} failed {} times in a row: {why}",
                        step.as_str(),
                        mem.errors
                    ),
                );
            }
            mem.reason = why;
            None
        }
        (s, o) => alert(
            mem,
            format!("internal: unexpected outcome {o:?} of step {}", s.as_str()),
        ),
    }
}

/// The journal action of state records.
pub const STATE_ACTION: &str = "state";
/// The status `evacctl restore` writes: the host is back, its history closed.
pub const RESTORED: &str = "restored";

#[cfg(test)]
mod tests;
