//! Which servers of a failed host may be evacuated, and why not: Nova's own rules (origin A:
//! ACTIVE and SHUTOFF yes, ERROR only if it once ran, nothing with a task in progress), the
//! double-evacuation guard (docs/design.md 3.6), evacctl's journal, and the operator's
//! filters from `[evacuation]`. Pure: the caller brings the facts.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::core::capacity::FlavorView;
use crate::core::network::{HostVerdict, NodeLocal};
use crate::core::time::parse_timestamp;

/// Where a failed host's servers may go (Masakari's recovery methods, by the same names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecoveryMethod {
    /// The ordinary (enabled) hosts only; reserved hosts stay disabled.
    #[default]
    Auto,
    /// The reserved hosts only, as few enabled as the plan needs.
    ReservedHost,
    /// The ordinary hosts first; reserved hosts for what does not fit there.
    AutoPriority,
    /// The reserved hosts first; ordinary hosts for what does not fit there.
    RhPriority,
}

impl RecoveryMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            RecoveryMethod::Auto => "auto",
            RecoveryMethod::ReservedHost => "reserved_host",
            RecoveryMethod::AutoPriority => "auto_priority",
            RecoveryMethod::RhPriority => "rh_priority",
        }
    }

    /// It may use reserved hosts at all.
    pub fn uses_reserved(self) -> bool {
        self != RecoveryMethod::Auto
    }
}

pub use crate::core::services::RESERVED_REASON;

/// The default `priority_key`: server metadata, else flavor extra spec.
pub const DEFAULT_PRIORITY_KEY: &str = "evacctl:priority";

/// Which servers of a failed host are evacuated, where to, and in what order (`[evacuation]`
/// of the configuration, read by `config`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvacuationConfig {
    /// Only servers with this metadata key set to `"true"`; `None`: all.
    pub require_metadata: Option<String>,
    /// Only servers with this tag; `None`: all.
    pub require_tag: Option<String>,
    /// Only servers whose flavor has this extra spec set to `"true"` (Red Hat's
    /// `evacuable`); `None`: all.
    pub require_flavor_property: Option<String>,
    /// Server UUIDs or names never evacuated.
    pub skip_servers: Vec<String>,
    /// Flavor names or IDs whose servers are never evacuated.
    pub skip_flavors: Vec<String>,
    /// Plan (and target) each server only onto hosts of its own availability zone.
    pub same_zone: bool,
    /// Host aggregate metadata keys: a server stays among hosts whose aggregates carry the
    /// same value of each key as its host's (no constraint for a key its host lacks).
    pub same_aggregate_keys: Vec<String>,
    /// Spare hosts kept disabled (`evacctl: reserved`) until a failure needs them.
    pub reserved_hosts: Vec<String>,
    /// Hosts of aggregates with this metadata key set to `"true"` are reserved too.
    pub reserved_aggregate_key: Option<String>,
    pub recovery_method: RecoveryMethod,
    /// Server metadata key (else flavor extra spec) holding an integer priority: higher is
    /// sent first and, when room is short, placed first.
    pub priority_key: String,
}

impl Default for EvacuationConfig {
    fn default() -> Self {
        EvacuationConfig {
            require_metadata: None,
            require_tag: None,
            require_flavor_property: None,
            skip_servers: Vec::new(),
            skip_flavors: Vec::new(),
            same_zone: true,
            same_aggregate_keys: Vec::new(),
            reserved_hosts: Vec::new(),
            reserved_aggregate_key: None,
            recovery_method: RecoveryMethod::Auto,
            priority_key: DEFAULT_PRIORITY_KEY.to_string(),
        }
    }
}

/// A server's priority under `key`: its metadata, else its flavor's extra spec; 0 when
/// neither says (or says something that is not an integer: then also why not).
pub fn priority(server: &dyn ServerView, key: &str) -> (i64, Option<String>) {
    let raw = server
        .metadata()
        .get(key)
        .map(|v| ("metadata", v))
        .or_else(|| {
            server
                .flavor()
                .extra_specs()
                .get(key)
                .map(|v| ("flavor extra spec", v))
        });
    match raw {
        None => (0, None),
        Some((from, v)) => match v.trim().parse::<i64>() {
            Ok(p) => (p, None),
            Err(_) => (
                0,
                Some(format!("{from} {key}={v:?} is not an integer: priority 0")),
            ),
        },
    }
}

/// What the core reads of a server (Nova's server, as the steps have it).
pub trait ServerView {
    fn id(&self) -> &str;
    fn name(&self) -> &str;
    /// The API status (`ACTIVE`, `SHUTOFF`, ...), for messages.
    fn status(&self) -> &str;
    /// The host Nova has it on.
    fn host(&self) -> &str;
    /// `active`, `stopped`, `error`, ... (`""`: not shown).
    fn vm_state(&self) -> &str;
    /// The task in progress, if any.
    fn task(&self) -> Option<&str>;
    /// It ran once (`launched_at` set).
    fn has_run(&self) -> bool;
    fn flavor(&self) -> &dyn FlavorView;
    fn metadata(&self) -> &BTreeMap<String, String>;
    fn tags(&self) -> &[String];
}

/// What the core reads of an evacuation migration (Nova's `os-migrations` record).
pub trait MigrationView {
    /// Its UUID, or its id when Nova shows no UUID.
    fn id(&self) -> &str;
    fn status(&self) -> &str;
    /// Nova is still working on it (`accepted`, `pre-migrating`, `running`, ...).
    fn is_in_progress(&self) -> bool;
    /// It ended in `failed` or `error`.
    fn is_failed(&self) -> bool;
}

/// What evacctl's journal says about a server of this host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JournalState {
    /// Nothing recorded.
    None,
    /// An evacuation of it was accepted by Nova in run `run_id`.
    Accepted { run_id: String, at: String },
    /// A request was sent but its answer was never recorded (evacctl was killed): Nova may
    /// still be handling it until `request_timeout` after `last_seen` (the last record of the
    /// run that sent it, RFC 3339); after that, Nova's migration records decide.
    InDoubt { run_id: String, last_seen: String },
}

/// This controller took the leader lock from `holder`, whose evacuation requests (not in this
/// journal) may still reach Nova until `until` (RFC 3339): see `journal::takeover`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Takeover {
    pub holder: String,
    pub until: String,
}

/// Why a server is not evacuated (the `code` is stable in JSON).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// In `[evacuation] skip_servers`.
    SkipListed,
    /// Its flavor is in `[evacuation] skip_flavors`.
    SkipFlavor(String),
    /// Lacks `metadata[key] == "true"` (`require_metadata`).
    MissingMetadata(String),
    /// Lacks the tag (`require_tag`).
    MissingTag(String),
    /// Its flavor lacks the extra spec set to "true" (`require_flavor_property`).
    MissingFlavorProperty(String),
    /// Already on another host (moved since it was listed).
    NotOnHost(String),
    /// An evacuation migration is still running (from evacctl or anyone else).
    EvacuationInProgress { migration: String, status: String },
    /// evacctl's journal says an evacuation was accepted already.
    AlreadyAccepted { run_id: String, at: String },
    /// A request has no recorded answer (its run is still waiting, or was killed) and Nova may
    /// still be handling it.
    RequestInDoubt { run_id: String, until: String },
    /// Nothing recorded, but the previous leader died holding the lock: its request may
    /// still be in Nova's hands.
    PreviousLeaderInDoubt { holder: String, until: String },
    /// A task is running (`OS-EXT-STS:task_state`).
    TaskInProgress(String),
    /// ERROR without `launched_at`: it failed at creation, there is nothing to rebuild.
    NeverRan,
    /// A vm_state Nova refuses to evacuate.
    State(String),
}

impl Reason {
    pub fn code(&self) -> &'static str {
        match self {
            Reason::SkipListed => "skip-listed",
            Reason::SkipFlavor(_) => "skip-flavor",
            Reason::MissingMetadata(_) => "missing-metadata",
            Reason::MissingTag(_) => "missing-tag",
            Reason::MissingFlavorProperty(_) => "missing-flavor-property",
            Reason::NotOnHost(_) => "not-on-host",
            Reason::EvacuationInProgress { .. } => "evacuation-in-progress",
            Reason::AlreadyAccepted { .. } => "already-accepted",
            Reason::RequestInDoubt { .. } | Reason::PreviousLeaderInDoubt { .. } => {
                "request-in-doubt"
            }
            Reason::TaskInProgress(_) => "task-in-progress",
            Reason::NeverRan => "never-ran",
            Reason::State(_) => "state",
        }
    }

    /// Skipped because of work already under way or done (not a problem to report as such).
    pub fn is_already_handled(&self) -> bool {
        matches!(
            self,
            Reason::NotOnHost(_)
                | Reason::EvacuationInProgress { .. }
                | Reason::AlreadyAccepted { .. }
                | Reason::RequestInDoubt { .. }
                | Reason::PreviousLeaderInDoubt { .. }
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::SkipListed => write!(f, "in [evacuation] skip_servers"),
            Reason::SkipFlavor(fl) => write!(f, "flavor {fl} is in [evacuation] skip_flavors"),
            Reason::MissingMetadata(k) => {
                write!(
                    f,
                    "metadata {k}=true missing ([evacuation] require_metadata)"
                )
            }
            Reason::MissingTag(t) => write!(f, "tag {t} missing ([evacuation] require_tag)"),
            Reason::MissingFlavorProperty(k) => write!(
                f,
                "flavor extra spec {k}=true missing ([evacuation] require_flavor_property)"
            ),
            Reason::NotOnHost(h) => write!(f, "already on host {h}"),
            Reason::EvacuationInProgress { migration, status } => write!(
                f,
                "an evacuation is already in progress (migration {migration} {status}): a second \
                 one would leave it in ERROR or stuck in REBUILD"
            ),
            Reason::AlreadyAccepted { run_id, at } => {
                write!(
                    f,
                    "evacuation already accepted (evacctl run {run_id} at {at})"
                )
            }
            Reason::RequestInDoubt { run_id, until } => write!(
                f,
                "evacctl run {run_id} sent an evacuation request whose answer it has not \
                 recorded (it may still be waiting for it, or it was stopped), and Nova may \
                 still be handling it (Nova accepts a second evacuation while the first runs, \
                 and the server ends in ERROR): not sent again before {until}, unless Nova \
                 shows it first"
            ),
            Reason::PreviousLeaderInDoubt { holder, until } => write!(
                f,
                "taken over from {holder}, which stopped holding the leader lock: an evacuation \
                 request it sent may still reach Nova (Nova accepts a second evacuation while \
                 the first runs, and the server ends in ERROR): not sent before {until}, unless \
                 Nova shows it first"
            ),
            Reason::TaskInProgress(t) if t == "rebuilding" || t.starts_with("rebuild") => write!(
                f,
                "task {t} in progress (an evacuation or rebuild is running): wait for it"
            ),
            Reason::TaskInProgress(t) => write!(
                f,
                "task {t} in progress: Nova would act on it twice; wait until it ends or reset it"
            ),
            Reason::NeverRan => write!(
                f,
                "ERROR and never ran (no launched_at): it failed at creation, nothing to rebuild"
            ),
            Reason::State(s) => write!(
                f,
                "vm_state {s}: Nova evacuates only active, stopped and error servers"
            ),
        }
    }
}

/// The verdict on one server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Evacuable,
    Skip(Reason),
}

impl Verdict {
    pub fn is_evacuable(&self) -> bool {
        matches!(self, Verdict::Evacuable)
    }
}

/// A verdict as JSON shows it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct VerdictView {
    pub evacuable: bool,
    /// `null` when evacuable; else a stable code (`task-in-progress`, `never-ran`, ...).
    pub reason_code: Option<&'static str>,
    pub reason: Option<String>,
}

impl From<&Verdict> for VerdictView {
    fn from(v: &Verdict) -> Self {
        match v {
            Verdict::Evacuable => VerdictView {
                evacuable: true,
                reason_code: None,
                reason: None,
            },
            Verdict::Skip(r) => VerdictView {
                evacuable: false,
                reason_code: Some(r.code()),
                reason: Some(r.to_string()),
            },
        }
    }
}

/// Nova's own rule alone (what `nova evacuate` would accept without harm): the vm_state, the
/// task, launched_at.
pub fn nova_rule(server: &dyn ServerView) -> Verdict {
    if let Some(task) = server.task() {
        return Verdict::Skip(Reason::TaskInProgress(task.to_string()));
    }
    match server.vm_state() {
        "active" | "stopped" => Verdict::Evacuable,
        "error" if server.has_run() => Verdict::Evacuable,
        "error" => Verdict::Skip(Reason::NeverRan),
        other => Verdict::Skip(Reason::State(if other.is_empty() {
            format!("unknown (status {})", server.status())
        } else {
            other.to_string()
        })),
    }
}

/// The operator's filters of `[evacuation]`.
pub fn operator_filter(server: &dyn ServerView, cfg: &EvacuationConfig) -> Option<Reason> {
    if cfg
        .skip_servers
        .iter()
        .any(|s| s == server.id() || s == server.name())
    {
        return Some(Reason::SkipListed);
    }
    let flavor_names = [server.flavor().original_name(), server.flavor().id()];
    if let Some(f) = cfg
        .skip_flavors
        .iter()
        .find(|f| flavor_names.contains(&Some(f.as_str())))
    {
        return Some(Reason::SkipFlavor(f.clone()));
    }
    if let Some(key) = &cfg.require_metadata
        && !server
            .metadata()
            .get(key)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    {
        return Some(Reason::MissingMetadata(key.clone()));
    }
    if let Some(tag) = &cfg.require_tag
        && !server.tags().iter().any(|t| t == tag)
    {
        return Some(Reason::MissingTag(tag.clone()));
    }
    if let Some(key) = &cfg.require_flavor_property
        && !server
            .flavor()
            .extra_specs()
            .get(key)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    {
        return Some(Reason::MissingFlavorProperty(key.clone()));
    }
    None
}

/// Everything known about one server of the failed host.
pub struct Facts<'a> {
    pub server: &'a dyn ServerView,
    /// The failed host it is being evacuated from.
    pub host: &'a str,
    /// Its newest evacuation migration, if any.
    pub latest_evacuation: Option<&'a dyn MigrationView>,
    pub journal: JournalState,
    /// A take-over whose hold concerns this host (whatever this journal says of the server:
    /// the previous holder may have sent it again).
    pub takeover: Option<Takeover>,
    pub clock: Clock,
}

/// When the facts were gathered, and how long a request may be in Nova's hands.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    pub now: SystemTime,
    /// The API timeout: a request in doubt is not sent again before that long after the last
    /// record of its run (a run not killed would have given up on the answer by then).
    pub request_timeout: Duration,
}

impl Clock {
    pub fn now(request_timeout: Duration) -> Clock {
        Clock {
            now: SystemTime::now(),
            request_timeout,
        }
    }

    /// Until when a request in doubt may still reach Nova (`None`: it can no longer, or the
    /// time cannot be read).
    fn in_doubt_until(&self, last_seen: &str) -> Option<SystemTime> {
        let until = later_by(parse_timestamp(last_seen)?, self.request_timeout);
        (self.now < until).then_some(until)
    }
}

/// The last second an RFC 3339 timestamp can write (9999-12-31T23:59:59Z): later times
/// cannot be journaled or shown.
pub const LATEST: Duration = Duration::from_secs(253_402_300_799);

/// `t + d`, but never past [`LATEST`]: a duration too large to add (a configured timeout of
/// `18446744073709551615s`) must neither panic nor wrap, and a request in doubt then stays
/// in doubt rather than being sent again.
pub fn later_by(t: SystemTime, d: Duration) -> SystemTime {
    let latest = SystemTime::UNIX_EPOCH + LATEST;
    t.checked_add(d).map_or(latest, |u| u.min(latest))
}

/// The whole verdict: the operator's filters, then work already under way or done, then Nova's
/// rule. A journal entry or a running migration always wins over "it looks evacuable".
pub fn classify(f: &Facts<'_>, cfg: &EvacuationConfig) -> Verdict {
    if let Some(r) = operator_filter(f.server, cfg) {
        return Verdict::Skip(r);
    }
    let on = f.server.host();
    if !on.is_empty() && on != f.host {
        return Verdict::Skip(Reason::NotOnHost(on.to_string()));
    }
    if let Some(m) = f.latest_evacuation.filter(|m| m.is_in_progress()) {
        return Verdict::Skip(Reason::EvacuationInProgress {
            migration: m.id().to_string(),
            status: m.status().to_string(),
        });
    }
    // A failed evacuation in Nova's records (NoValidHost, a rebuild failure) with the server
    // still here and nothing running makes a retry harmless, whatever the journal says: only
    // a running evacuation must never be doubled.
    let latest_failed = f.latest_evacuation.is_some_and(|m| m.is_failed());
    if let JournalState::Accepted { run_id, at } = &f.journal
        && !latest_failed
    {
        return Verdict::Skip(Reason::AlreadyAccepted {
            run_id: run_id.clone(),
            at: at.clone(),
        });
    }
    // The previous leader's requests are not in this journal: until its hold ends, only
    // what Nova shows decides.
    if let Some(t) = &f.takeover
        && f.server.task().is_none()
        && let Some(until) = parse_timestamp(&t.until).filter(|u| f.clock.now < *u)
    {
        return Verdict::Skip(Reason::PreviousLeaderInDoubt {
            holder: t.holder.clone(),
            until: humantime::format_rfc3339_seconds(until).to_string(),
        });
    }
    // Nova shows nothing of it (no migration, no task): the request may still be on its way.
    if let JournalState::InDoubt { run_id, last_seen } = &f.journal
        && f.server.task().is_none()
        && let Some(until) = f.clock.in_doubt_until(last_seen)
    {
        return Verdict::Skip(Reason::RequestInDoubt {
            run_id: run_id.clone(),
            until: humantime::format_rfc3339_seconds(until).to_string(),
        });
    }
    nova_rule(f.server)
}

/// What says whether a failed host may still be alive, as a manual evacuation gathers it
/// before sending anything (`watch` has its state machine for this). `None`: that source is
/// not configured for the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AliveEvidence {
    /// The BMC's power reading: `on`, `off`, or why it could not be read.
    pub power: Option<PowerEvidence>,
    /// The host's verdict over the Consul networks, and why.
    pub network: Option<(HostVerdict, String)>,
    /// The node-local nova-compute and libvirt checks, and why.
    pub node_local: Option<(NodeLocal, String)>,
    /// Nova's view of its nova-compute: down, or forced down.
    pub nova_down: bool,
    pub forced_down: bool,
}

/// The BMC's word on the host's power.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "power", content = "error")]
pub enum PowerEvidence {
    On,
    Off,
    Unreadable(String),
}

/// What the evidence allows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "verdict", content = "reasons")]
pub enum FenceCheck {
    /// Every configured source says the host is down; what each said.
    Fenced(Vec<String>),
    /// Nothing can confirm it (no BMC and no Consul for the host): Nova's word only.
    Unconfirmed(Vec<String>),
    /// Some source says the host may be alive: evacuating would write its servers' disks
    /// from two places. What said so.
    MayBeAlive(Vec<String>),
}

/// Whether a host may be evacuated by hand: refused when any configured source says it may be
/// alive (power on or unreadable, alive in the storage network, node-local checks passing),
/// whatever the others say: a BMC can lie about the power, a network view can be stale, and
/// only their agreement is evidence of a fence.
pub fn fence_check(host: &str, e: &AliveEvidence) -> FenceCheck {
    // What says alive, what confirms down, and what says nothing either way.
    let (mut alive, mut down, mut notes) = (Vec::new(), Vec::new(), Vec::new());
    match &e.power {
        Some(PowerEvidence::On) => alive.push(format!("{host}'s BMC says its power is on")),
        Some(PowerEvidence::Unreadable(why)) => {
            alive.push(format!("{host}'s BMC could not be read ({why})"))
        }
        Some(PowerEvidence::Off) => down.push(format!("{host}'s BMC says its power is off")),
        None => notes.push(format!("{host} has no BMC in the configuration")),
    }
    match &e.network {
        Some((HostVerdict::Healthy | HostVerdict::Degraded, why)) => alive.push(format!(
            "Consul sees {host} alive in the storage network ({why})"
        )),
        Some((HostVerdict::Failed, why)) => down.push(format!("Consul: {why}")),
        Some((HostVerdict::Unknown, why)) => notes.push(format!("Consul: no verdict ({why})")),
        None => notes.push("no Consul in the configuration".to_string()),
    }
    match &e.node_local {
        Some((NodeLocal::Passing | NodeLocal::Warning, why)) => alive.push(format!(
            "{host}'s node-local nova-compute/libvirt checks answer ({why})"
        )),
        Some((NodeLocal::Critical, why)) => down.push(format!("node-local checks: {why}")),
        Some((NodeLocal::NoData, why)) => notes.push(format!("node-local checks: {why}")),
        None => {}
    }
    notes.push(format!(
        "Nova: nova-compute {}{}",
        if e.nova_down { "down" } else { "up" },
        if e.forced_down { ", forced down" } else { "" }
    ));
    if !alive.is_empty() {
        FenceCheck::MayBeAlive(alive)
    } else if down.is_empty() {
        notes.insert(
            0,
            format!("fencing cannot be confirmed: nothing configured says {host} is down"),
        );
        FenceCheck::Unconfirmed(notes)
    } else {
        down.extend(notes);
        FenceCheck::Fenced(down)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testkit::{TestFlavor, TestMigration, TestServer};

    fn server(vm_state: &str, task: Option<&str>, launched: bool) -> TestServer {
        TestServer {
            id: "11111111-2222-3333-4444-555555555555".into(),
            name: "web-1".into(),
            status: "ACTIVE".into(),
            host: "compute-1".into(),
            vm_state: vm_state.into(),
            task: task.map(Into::into),
            launched,
            metadata: [("HA_Enabled".to_string(), "True".to_string())].into(),
            tags: vec!["ha".into()],
            flavor: TestFlavor {
                original_name: Some("m1.small".into()),
                vcpus: Some(2),
                ram: Some(2048),
                disk: Some(10),
                extra_specs: [("evacuable".to_string(), "true".to_string())].into(),
                ..Default::default()
            },
        }
    }

    /// An evacuation migration created at `at` (its time is not what the rules read).
    fn migration(status: &str, _at: &str) -> TestMigration {
        TestMigration {
            id: "m-7".into(),
            status: status.into(),
        }
    }

    fn facts<'a>(s: &'a TestServer, m: Option<&'a TestMigration>, j: JournalState) -> Facts<'a> {
        Facts {
            server: s,
            host: "compute-1",
            latest_evacuation: m.map(|m| m as &dyn MigrationView),
            journal: j,
            takeover: None,
            clock: clock(),
        }
    }

    /// 2026-11-22T01:40:00Z, a 60 s API timeout.
    fn clock() -> Clock {
        Clock {
            now: parse_timestamp("2026-11-22T01:40:00Z").unwrap(),
            request_timeout: Duration::from_secs(60),
        }
    }

    fn code(v: &Verdict) -> Option<&'static str> {
        match v {
            Verdict::Evacuable => None,
            Verdict::Skip(r) => Some(r.code()),
        }
    }

    #[test]
    fn seed_000_states() {
        let cfg = EvacuationConfig::default();
        for (vm, task, launched, want) in [
            ("active", None, true, None),
            ("stopped", None, true, None),
            ("error", None, true, None),
            ("error", None, false, Some("never-ran")),
            ("active", Some("rebooting"), true, Some("task-in-progress")),
            ("active", Some("rebuilding"), true, Some("task-in-progress")),
            (
                "building",
                Some("spawning"),
                false,
                Some("task-in-progress"),
            ),
            ("building", None, false, Some("state")),
            ("paused", None, true, Some("state")),
            ("shelved_offloaded", None, true, Some("state")),
        ] {
            let s = server(vm, task, launched);
            let v = classify(&facts(&s, None, JournalState::None), &cfg);
            assert_eq!(code(&v), want, "{vm} {task:?} {launched}");
        }
    }

    #[test]
    fn a_running_evacuation_is_never_sent_again() {
        let cfg = EvacuationConfig::default();
        // Nova lists the server on the old host, ACTIVE, with no task yet: only the migration
        // record tells.
        let s = server("active", None, true);
        for status in ["accepted", "pre-migrating", "running"] {
            let m = migration(status, "2026-11-22T01:37:14.000000");
            let v = classify(&facts(&s, Some(&m), JournalState::None), &cfg);
            assert_eq!(code(&v), Some("evacuation-in-progress"), "{status}");
            let text = match v {
                Verdict::Skip(r) => r.to_string(),
                Verdict::Evacuable => String::new(),
            };
            assert!(text.contains(status) && text.contains("m-7"), "{text}");
        }
        let m = migration("done", "2026-11-22T01:37:14.000000");
        let v = classify(&facts(&s, Some(&m), JournalState::None), &cfg);
        assert!(
            v.is_evacuable(),
            "a done migration of an earlier failure does not block"
        );
    }

    #[test]
    fn the_journal_skips_what_was_accepted_unless_nova_says_it_failed() {
        let cfg = EvacuationConfig::default();
        let s = server("error", None, true);
        let accepted = JournalState::Accepted {
            run_id: "r1".into(),
            at: "2026-11-22T01:37:10.000000Z".into(),
        };
        let v = classify(&facts(&s, None, accepted.clone()), &cfg);
        assert_eq!(code(&v), Some("already-accepted"));
        let failed = migration("error", "2026-11-22T01:37:11.000000");
        let v = classify(&facts(&s, Some(&failed), accepted.clone()), &cfg);
        assert!(v.is_evacuable(), "NoValidHost after our request: retry");
        let done = migration("done", "2026-11-22T01:30:00.000000");
        let v = classify(&facts(&s, Some(&done), accepted), &cfg);
        assert_eq!(code(&v), Some("already-accepted"));
        let doubt = JournalState::InDoubt {
            run_id: "r2".into(),
            last_seen: "2026-11-22T01:30:00.000000Z".into(),
        };
        assert!(classify(&facts(&s, None, doubt), &cfg).is_evacuable());
    }

    /// Seen on Zed: evacctl killed while its POSTs were still in Nova's hands; the next run,
    /// seeing no migration yet, sent them again, and Nova accepted both (every server ERROR).
    #[test]
    fn a_request_in_doubt_is_not_sent_again_while_nova_may_still_handle_it() {
        let cfg = EvacuationConfig::default();
        let s = server("active", None, true);
        let doubt = |last_seen: &str| JournalState::InDoubt {
            run_id: "r2".into(),
            last_seen: last_seen.into(),
        };
        // The killed run's last record 10 s ago, the API timeout 60 s: maybe still in flight.
        let v = classify(&facts(&s, None, doubt("2026-11-22T01:39:50.000000Z")), &cfg);
        assert_eq!(code(&v), Some("request-in-doubt"));
        let Verdict::Skip(r) = &v else { panic!() };
        assert!(r.is_already_handled());
        assert!(
            r.to_string()
                .contains("not sent again before 2026-11-22T01:40:50Z"),
            "{r}"
        );
        // 60 s after it: the request can no longer arrive; Nova's records (none) decide.
        let v = classify(&facts(&s, None, doubt("2026-11-22T01:39:00.000000Z")), &cfg);
        assert!(v.is_evacuable());
        // Nova shows it: the migration, or the task, speaks first.
        let m = migration("accepted", "2026-11-22T01:39:55.000000");
        let v = classify(
            &facts(&s, Some(&m), doubt("2026-11-22T01:39:50.000000Z")),
            &cfg,
        );
        assert_eq!(code(&v), Some("evacuation-in-progress"));
        let busy = server("active", Some("rebuilding"), true);
        let v = classify(
            &facts(&busy, None, doubt("2026-11-22T01:39:50.000000Z")),
            &cfg,
        );
        assert_eq!(code(&v), Some("task-in-progress"));
    }

    /// `api_timeout = "18446744073709551615s"` with a request in doubt panicked ("overflow
    /// when adding duration to instant"): the request stays in doubt, shown at the last
    /// time a timestamp can write.
    #[test]
    fn a_timeout_too_large_to_add_keeps_the_request_in_doubt() {
        let cfg = EvacuationConfig::default();
        let s = server("active", None, true);
        let mut f = facts(
            &s,
            None,
            JournalState::InDoubt {
                run_id: "r2".into(),
                last_seen: "2026-11-22T01:39:50.000000Z".into(),
            },
        );
        f.clock.request_timeout = Duration::MAX;
        let v = classify(&f, &cfg);
        assert_eq!(code(&v), Some("request-in-doubt"));
        let Verdict::Skip(r) = &v else { panic!() };
        assert!(r.to_string().contains("9999-12-31T23:59:59Z"), "{r}");
        let now = parse_timestamp("2026-11-22T01:40:00Z").unwrap();
        assert_eq!(
            later_by(now, Duration::MAX),
            SystemTime::UNIX_EPOCH + LATEST
        );
        assert_eq!(
            later_by(now, Duration::from_secs(1)),
            now + Duration::from_secs(1)
        );
    }

    /// A take-over: what Nova shows nothing of waits until the hold ends, whatever this
    /// journal says (a retry allowed by a failed migration included); what Nova shows speaks
    /// first.
    #[test]
    fn after_a_takeover_what_nova_does_not_show_waits_for_the_hold() {
        let cfg = EvacuationConfig::default();
        let s = server("active", None, true);
        let held = |until: &str, j: JournalState, m: Option<&'static TestMigration>| {
            let mut f = facts(&s, m, j);
            f.takeover = Some(Takeover {
                holder: "ctl-1 (pid 4242, since 2026-11-22T01:00:00Z)".into(),
                until: until.into(),
            });
            classify(&f, &cfg)
        };
        let v = held("2026-11-22T01:40:50Z", JournalState::None, None);
        assert_eq!(code(&v), Some("request-in-doubt"));
        let Verdict::Skip(r) = &v else { panic!() };
        assert!(r.is_already_handled());
        let text = r.to_string();
        assert!(text.contains("taken over from ctl-1 (pid 4242"), "{text}");
        assert!(
            text.contains("not sent before 2026-11-22T01:40:50Z"),
            "{text}"
        );
        // The hold is over (the clock reads 01:40:00).
        assert!(held("2026-11-22T01:39:59Z", JournalState::None, None).is_evacuable());
        // This journal's own verdict would retry (an expired request in doubt, or a failed
        // migration after an accepted one): held all the same.
        let expired = JournalState::InDoubt {
            run_id: "r2".into(),
            last_seen: "2026-11-22T01:30:00.000000Z".into(),
        };
        let v = held("2026-11-22T01:40:50Z", expired, None);
        assert_eq!(code(&v), Some("request-in-doubt"));
        let failed: &'static TestMigration =
            Box::leak(Box::new(migration("error", "2026-11-22T01:37:11.000000")));
        let accepted = JournalState::Accepted {
            run_id: "r1".into(),
            at: "2026-11-22T01:37:10.000000Z".into(),
        };
        let v = held("2026-11-22T01:40:50Z", accepted, Some(failed));
        assert_eq!(code(&v), Some("request-in-doubt"));
        // Nova shows it: decided at once.
        let running: &'static TestMigration = Box::leak(Box::new(migration(
            "accepted",
            "2026-11-22T01:39:55.000000",
        )));
        let v = held("2026-11-22T01:40:50Z", JournalState::None, Some(running));
        assert_eq!(code(&v), Some("evacuation-in-progress"));
    }

    #[test]
    fn moved_servers_are_left_alone() {
        let cfg = EvacuationConfig::default();
        let mut s = server("active", None, true);
        s.host = "compute-2".into();
        let v = classify(&facts(&s, None, JournalState::None), &cfg);
        assert_eq!(code(&v), Some("not-on-host"));
        assert!(matches!(v, Verdict::Skip(r) if r.is_already_handled()));
    }

    #[test]
    fn operator_filters() {
        let s = server("active", None, true);
        let with = |f: &dyn Fn(&mut EvacuationConfig)| {
            let mut c = EvacuationConfig::default();
            f(&mut c);
            code(&classify(&facts(&s, None, JournalState::None), &c))
        };
        assert_eq!(with(&|_| {}), None);
        assert_eq!(
            with(&|c| c.skip_servers = vec!["web-1".into()]),
            Some("skip-listed")
        );
        assert_eq!(
            with(&|c| c.skip_servers = vec!["11111111-2222-3333-4444-555555555555".into()]),
            Some("skip-listed")
        );
        assert_eq!(
            with(&|c| c.skip_flavors = vec!["m1.small".into()]),
            Some("skip-flavor")
        );
        assert_eq!(
            with(&|c| c.require_metadata = Some("HA_Enabled".into())),
            None
        );
        assert_eq!(
            with(&|c| c.require_metadata = Some("evacuable".into())),
            Some("missing-metadata")
        );
        assert_eq!(with(&|c| c.require_tag = Some("ha".into())), None);
        assert_eq!(
            with(&|c| c.require_tag = Some("pets".into())),
            Some("missing-tag")
        );
        assert_eq!(
            with(&|c| c.require_flavor_property = Some("evacuable".into())),
            None
        );
        assert_eq!(
            with(&|c| c.require_flavor_property = Some("hw:ha".into())),
            Some("missing-flavor-property")
        );
    }

    #[test]
    fn views_are_stable() {
        let v = VerdictView::from(&Verdict::Skip(Reason::NeverRan));
        assert_eq!(
            serde_json::to_value(&v).unwrap()["reason_code"],
            "never-ran"
        );
        let v = VerdictView::from(&Verdict::Evacuable);
        assert!(v.evacuable && v.reason.is_none());
    }

    fn evidence() -> AliveEvidence {
        AliveEvidence {
            power: Some(PowerEvidence::Off),
            network: Some((HostVerdict::Failed, "storage failed".into())),
            node_local: Some((NodeLocal::Critical, "nova-compute critical".into())),
            nova_down: true,
            forced_down: false,
        }
    }

    #[test]
    fn a_host_is_fenced_only_when_no_source_says_alive() {
        let check = |e: &AliveEvidence| fence_check("compute-1", e);
        assert!(matches!(check(&evidence()), FenceCheck::Fenced(r) if r.len() == 4));
        // Each source alone is enough to refuse, whatever the others say.
        let on = AliveEvidence {
            power: Some(PowerEvidence::On),
            ..evidence()
        };
        assert!(matches!(check(&on), FenceCheck::MayBeAlive(r) if r[0].contains("power is on")));
        let unreadable = AliveEvidence {
            power: Some(PowerEvidence::Unreadable("timeout".into())),
            ..evidence()
        };
        assert!(
            matches!(check(&unreadable), FenceCheck::MayBeAlive(r) if r[0].contains("could not be read (timeout)"))
        );
        // A BMC that says off while the host still talks on the storage network: a liar.
        let storage = AliveEvidence {
            network: Some((HostVerdict::Degraded, "management failed".into())),
            ..evidence()
        };
        assert!(
            matches!(check(&storage), FenceCheck::MayBeAlive(r) if r[0].contains("storage network"))
        );
        let api_only = AliveEvidence {
            node_local: Some((NodeLocal::Passing, "nova-compute passing".into())),
            ..evidence()
        };
        assert!(
            matches!(check(&api_only), FenceCheck::MayBeAlive(r) if r[0].contains("node-local"))
        );
        let all = AliveEvidence {
            power: Some(PowerEvidence::On),
            network: Some((HostVerdict::Healthy, "all alive".into())),
            node_local: Some((NodeLocal::Passing, "passing".into())),
            ..evidence()
        };
        assert!(matches!(check(&all), FenceCheck::MayBeAlive(r) if r.len() == 3));
        // Consul configured but without a verdict, no BMC: nothing confirms the fence.
        let vague = AliveEvidence {
            power: None,
            network: Some((HostVerdict::Unknown, "no answer".into())),
            node_local: Some((NodeLocal::NoData, "no check".into())),
            ..evidence()
        };
        assert!(matches!(check(&vague), FenceCheck::Unconfirmed(_)));
        // Nothing configured: Nova's word only, said so.
        let none = AliveEvidence {
            power: None,
            network: None,
            node_local: None,
            nova_down: true,
            forced_down: true,
        };
        match check(&none) {
            FenceCheck::Unconfirmed(r) => {
                assert!(r[0].contains("cannot be confirmed"), "{r:?}");
                assert!(r.last().unwrap().contains("down, forced down"), "{r:?}");
            }
            other => panic!("{other:?}"),
        }
    }
}
