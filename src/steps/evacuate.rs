//! Evacuating a failed host: survey (services, the host's servers, evacuation migrations,
//! Placement), classify every server, plan capacity, then send the evacuations in parallel with
//! a bounded concurrency, journaling each request before it is sent and after it is answered.
//!
//! Request count: the survey is one service list, then in parallel the server list (every
//! page), one migration list (every page) and the hypervisor list; then Placement: one
//! `GET /allocation_candidates` per set of resource classes the servers ask for, and one
//! inventory read per host the plan uses (two reads per host instead when the candidates are
//! few or Placement cannot answer the query); then one POST per server. The requests do not
//! grow with the number of hosts.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Serialize;

use crate::bmc::PowerState;
use crate::config::EvacuationConfig;
use crate::core::capacity::{self, Demand, Plan, Resources, Target, Tier};
use crate::core::evacuable::RecoveryMethod;
use crate::core::evacuable::{
    self, AliveEvidence, Clock, Facts, FenceCheck, JournalState, PowerEvidence, Verdict,
    VerdictView,
};
use crate::core::records::NOT_SENT;
use crate::core::targets::{self, AggregateFacts, Candidates, Excluded, HostFacts, Spare};
use crate::interrupt;
use crate::journal::{self, Fields, Journal, Kind, Record};
use crate::openstack::microversion::Microversion;
use crate::openstack::nova::{ComputeService, Nova, ServiceUpdate};
use crate::openstack::placement::{ClassSummary, ProviderSummary};
use crate::openstack::servers::{
    Aggregate, EvacuateRequest, Hypervisor, Migration, MigrationFilter, Server, evacuate_body,
    latest_per_server,
};
use crate::openstack::{Placement, Session};
use crate::steps::{Refusal, StepContext, StepOutcome};

/// What the operator asked for.
#[derive(Clone, Debug)]
pub struct Options<'a> {
    /// The failed host.
    pub host: &'a str,
    /// `--target` hosts; empty: the scheduler chooses among every other enabled, up compute.
    pub targets: &'a [String],
    pub allow_partial: bool,
    pub filters: &'a EvacuationConfig,
    /// Evacuations in flight at once.
    pub concurrency: usize,
}

/// The failed host's nova-compute as Nova shows it.
#[derive(Clone, Debug, Serialize)]
pub struct SourceState {
    pub host: String,
    pub service_id: String,
    pub status: String,
    pub state: String,
    pub forced_down: Option<bool>,
    pub disabled_reason: Option<String>,
}

impl SourceState {
    fn of(s: &ComputeService) -> SourceState {
        SourceState {
            host: s.host.clone(),
            service_id: s.id.clone(),
            status: s.status.clone(),
            state: s.state.clone(),
            forced_down: s.forced_down,
            disabled_reason: s.disabled_reason.clone(),
        }
    }

    /// Nova evacuates only from a host whose nova-compute is down (or forced down).
    pub fn is_down(&self) -> bool {
        self.forced_down == Some(true) || !self.state.eq_ignore_ascii_case("up")
    }
}

/// One server of the failed host, with its verdict.
#[derive(Clone, Debug, Serialize)]
pub struct ServerEntry {
    pub id: String,
    pub name: String,
    pub status: String,
    pub vm_state: Option<String>,
    pub task_state: Option<String>,
    pub flavor: Option<String>,
    /// What it asks Placement for; `null` when the flavor's sizes are unknown.
    pub resources: Option<Resources>,
    #[serde(flatten)]
    pub verdict: VerdictView,
    /// Where the plan puts it (`null`: not evacuable, or does not fit).
    pub planned_target: Option<String>,
    /// From `priority_key` (metadata, else flavor extra spec); higher goes first.
    pub priority: i64,
    /// Its availability zone, as Nova shows it.
    pub zone: Option<String>,
}

/// Everything learned before acting.
#[derive(Clone, Debug, Serialize)]
pub struct Survey {
    pub host: String,
    pub source: SourceState,
    /// No `--target`: Nova's scheduler picks each host; the plan only checks there is room.
    pub scheduler_chooses: bool,
    /// The hosts whose Placement capacity was counted (from allocation candidates: those
    /// with room for the smallest server).
    pub candidates: Vec<String>,
    pub recovery_method: RecoveryMethod,
    /// The other compute hosts, and why each is not a candidate (zone, aggregate, reserved,
    /// disabled, down).
    pub excluded: Vec<Excluded>,
    /// The reserved hosts that could be used, in order of use.
    pub spares: Vec<Spare>,
    /// The reserved hosts the plan uses (each enabled before the first request, if disabled).
    pub spares_used: Vec<Spare>,
    pub servers: Vec<ServerEntry>,
    pub plan: Plan,
    /// When not everything fits: what would work.
    pub suggestions: Vec<String>,
    #[serde(skip)]
    raw: BTreeMap<String, Server>,
    /// The targets as counted (inventories and usages), for the suggestions.
    #[serde(skip)]
    counted: Vec<Target>,
}

impl Survey {
    pub fn evacuable(&self) -> impl Iterator<Item = &ServerEntry> {
        self.servers.iter().filter(|s| s.verdict.evacuable)
    }

    /// Servers whose request of a killed run may still be in Nova's hands: not sent now, and
    /// not done either (a later run sends them if Nova never shows them).
    pub fn in_doubt(&self) -> usize {
        self.servers
            .iter()
            .filter(|s| s.verdict.reason_code == Some("request-in-doubt"))
            .count()
    }

    /// The servers that will be sent: every evacuable one that has a place in the plan.
    pub fn to_send(&self) -> Vec<&ServerEntry> {
        let mut v: Vec<&ServerEntry> = self
            .evacuable()
            .filter(|s| self.plan.target_of(&s.id).is_some())
            .collect();
        // Higher priority first (stable: by name within a priority, as listed).
        v.sort_by_key(|s| std::cmp::Reverse(s.priority));
        v
    }

    /// Refuses (unsafe) unless the source is down, and unless everything fits or
    /// `allow_partial`.
    pub fn preflight(&self, allow_partial: bool) -> Result<(), Refusal> {
        let h = &self.host;
        if !self.source.is_down() {
            return Err(Refusal::unsafe_(format!(
                "{h}'s nova-compute is up (state {}, not forced down): Nova would refuse \
                     with \"Compute service of {h} is still in use\", and evacuating a live \
                     host corrupts shared disks. Fence it (`evacctl ipmi power off {h} --wait`), \
                     then re-run with --force-down; nothing was done",
                self.source.state
            )));
        }
        if !self.plan.fits() && !allow_partial {
            return Err(Refusal::unsafe_(format!(
                "not enough room: {} of {} evacuable servers do not fit ({}; short by {}). {} \
                     Nothing was done",
                self.plan.unplaced.len(),
                self.evacuable().count(),
                capacity::describe(&self.plan.unplaced_total),
                if self.plan.shortfall.is_empty() {
                    "nothing in total: the split across targets, max_unit or step_size fails"
                        .to_string()
                } else {
                    capacity::describe(&self.plan.shortfall)
                },
                self.suggestions.join(" ")
            )));
        }
        Ok(())
    }

    /// The reserved hosts of the plan still disabled: enabled before the first request.
    pub fn spares_to_enable(&self) -> impl Iterator<Item = &Spare> {
        self.spares_used.iter().filter(|s| s.needs_enable)
    }

    /// The request that would be sent for a server (for `--dry-run`).
    pub fn request_for(
        &self,
        entry: &ServerEntry,
        version: Option<Microversion>,
    ) -> PlannedRequest {
        PlannedRequest::evacuate(&entry.id, self.target_to_send(&entry.id), version)
    }

    /// The `host` sent for a server: the planned target when the operator named targets, or
    /// when the zone, aggregate or reserved-host rules keep some enabled host out; else none
    /// (the scheduler chooses).
    fn target_to_send(&self, id: &str) -> Option<String> {
        if self.scheduler_chooses {
            None
        } else {
            self.plan.target_of(id).map(str::to_string)
        }
    }
}

/// A request as `--dry-run` prints it.
#[derive(Clone, Debug, Serialize)]
pub struct PlannedRequest {
    pub method: String,
    /// Relative to the compute endpoint.
    pub path: String,
    pub body: serde_json::Value,
}

impl PlannedRequest {
    /// `POST /servers/{id}/action` with the evacuate body Nova's version takes.
    pub fn evacuate(id: &str, target: Option<String>, version: Option<Microversion>) -> Self {
        PlannedRequest {
            method: "POST".into(),
            path: format!("/servers/{id}/action"),
            body: evacuate_body(&EvacuateRequest { host: target }, version),
        }
    }

    /// `PUT /os-services/{id}` with `update` as its body.
    pub fn service(id: &str, update: &ServiceUpdate) -> Self {
        PlannedRequest {
            method: "PUT".into(),
            path: format!("/os-services/{id}"),
            body: serde_json::to_value(update).unwrap_or_default(),
        }
    }
}

/// The answer to one evacuation.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub server_id: String,
    pub name: String,
    /// The target sent; `null`: the scheduler chooses.
    pub target: Option<String>,
    pub accepted: bool,
    pub error: Option<String>,
    pub request_id: Option<String>,
    /// Never sent: a signal stopped the run first (journaled `not-sent`, so that a re-run
    /// sends it at once).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub not_sent: bool,
}

impl Outcome {
    /// A request a signal (or the host's lock lost: [`kept_back`]) kept back.
    fn not_sent(id: &str, name: &str, target: Option<String>, why: String) -> Outcome {
        Outcome {
            not_sent: true,
            ..Outcome::unrecorded(id, name, target, why)
        }
    }

    /// Not sent because its intent could not be journaled (nothing is sent unrecorded).
    fn unrecorded(id: &str, name: &str, target: Option<String>, why: String) -> Outcome {
        Outcome {
            server_id: id.to_string(),
            name: name.to_string(),
            target,
            accepted: false,
            error: Some(why),
            request_id: None,
            not_sent: false,
        }
    }
}

/// A nova-compute host that can take servers: enabled and up.
fn usable(s: &ComputeService) -> bool {
    s.is_enabled() && s.is_up() && !s.is_forced_down()
}

/// Checks the `--target` hosts against Nova's services: known (else a usage error naming the
/// closest), not the source, enabled and up (else refused).
pub fn check_targets(
    host: &str,
    targets: &[String],
    services: &[ComputeService],
) -> Result<(), Refusal> {
    let known: Vec<&str> = services.iter().map(|s| s.host.as_str()).collect();
    for t in targets {
        let Some(s) = services.iter().find(|s| &s.host == t) else {
            return Err(super::unknown_host(t, &known));
        };
        if t == host {
            return Err(Refusal::bad_input(format!(
                "target `{t}` is the failed host itself: Nova would refuse (\"The target host \
                 can't be the same one.\")"
            )));
        }
        if !usable(s) {
            let why = if s.is_forced_down() {
                "forced down".to_string()
            } else if !s.is_up() {
                "down".to_string()
            } else {
                format!(
                    "disabled{}",
                    s.disabled_reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                )
            };
            return Err(Refusal::unsafe_(format!(
                "target `{t}` cannot take servers: its nova-compute is {why}; the scheduler \
                 would answer NoValidHost. Choose an enabled, up host; nothing was done"
            )));
        }
    }
    Ok(())
}

/// Hosts' resource providers from `/os-hypervisors/detail` (hypervisor id = resource
/// provider UUID at 2.53+): by service host, else by hypervisor hostname; the first record
/// wins, as a scan would.
struct RpIndex<'a> {
    by_host: HashMap<&'a str, &'a str>,
    by_name: HashMap<&'a str, &'a str>,
}

impl<'a> RpIndex<'a> {
    fn new(hypervisors: &'a [Hypervisor]) -> RpIndex<'a> {
        let mut by_host: HashMap<&str, &str> = HashMap::with_capacity(hypervisors.len());
        let mut by_name: HashMap<&str, &str> = HashMap::with_capacity(hypervisors.len());
        for x in hypervisors {
            by_host.entry(x.host()).or_insert(&x.id);
            by_name.entry(&x.hypervisor_hostname).or_insert(&x.id);
        }
        RpIndex { by_host, by_name }
    }

    fn get(&self, host: &str) -> Option<&'a str> {
        self.by_host
            .get(host)
            .or_else(|| self.by_name.get(host))
            .copied()
    }
}

/// Inventories and usages of hosts: their resource providers ([`RpIndex`], else Placement's
/// provider named after the host), then two Placement calls per host, in parallel.
fn placement_targets(
    hypervisors: &[Hypervisor],
    placement: &Placement,
    hosts: &[String],
    concurrency: usize,
) -> anyhow::Result<Vec<Target>> {
    if hosts.is_empty() {
        return Ok(Vec::new());
    }
    let index = RpIndex::new(hypervisors);
    let mut rps = Vec::new();
    for h in hosts {
        let id = match index.get(h) {
            Some(id) => id.to_string(),
            // No hypervisor record: Placement's provider named after the host.
            None => placement
                .resource_providers(Some(h))?
                .into_iter()
                .next()
                .map(|p| p.uuid)
                .ok_or_else(|| {
                    anyhow::anyhow!("no hypervisor and no Placement resource provider for {h}")
                })?,
        };
        rps.push((h.clone(), id));
    }
    let calls: Vec<(usize, bool)> = (0..rps.len())
        .flat_map(|i| [(i, true), (i, false)])
        .collect();
    enum Got {
        Inv(BTreeMap<String, crate::openstack::placement::Inventory>),
        Use(Resources),
    }
    let got = crate::pool::map_bounded(&calls, concurrency.max(2), |&(i, inv)| {
        let rp = &rps[i].1;
        if inv {
            placement.inventories(rp).map(Got::Inv)
        } else {
            placement.usages(rp).map(Got::Use)
        }
    });
    let mut targets: Vec<Target> = rps
        .iter()
        .map(|(h, _)| Target {
            name: h.clone(),
            inventories: BTreeMap::new(),
            usages: Resources::new(),
            zone: None,
        })
        .collect();
    for (&(i, _), r) in calls.iter().zip(got) {
        match r? {
            Got::Inv(x) => targets[i].inventories = super::facts::inventories(x),
            Got::Use(x) => targets[i].usages = x,
        }
    }
    Ok(targets)
}

/// Hosts counted by Placement, in the order asked.
#[derive(Clone, Debug, Default)]
struct Counted {
    targets: Vec<Target>,
    unconfirmed: Unconfirmed,
}

/// Targets counted from allocation candidates: their min_unit, max_unit and step_size are
/// unknown until [`confirm`] reads them, except that a provider in the answer to a query
/// passes them for exactly the amounts asked.
#[derive(Clone, Debug, Default)]
pub struct Unconfirmed {
    /// The amounts of each query.
    asked: Vec<Resources>,
    /// Host -> its provider's UUID, and bit i set when it was in the answer to `asked[i]`.
    hosts: BTreeMap<String, (String, u64)>,
}

impl Unconfirmed {
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// Whether Placement's answers already passed `need` on `host`.
    fn proven(&self, host: &str, need: &Resources) -> bool {
        self.hosts.get(host).is_some_and(|(_, bits)| {
            self.asked
                .iter()
                .take(64)
                .enumerate()
                .any(|(i, a)| bits & (1 << i) != 0 && a == need)
        })
    }
}

/// Up to this many hosts, two reads per host cost one parallel round: no need for
/// allocation candidates.
fn few_hosts(hosts: usize, concurrency: usize) -> bool {
    hosts <= 2 * concurrency.max(1)
}

/// The smallest amount of each class, per set of classes the servers ask for: a provider
/// that cannot take that cannot take any of them.
fn smallest_needs<'a>(needs: impl IntoIterator<Item = &'a Resources>) -> Vec<Resources> {
    let mut by_classes: BTreeMap<Vec<&'a String>, Resources> = BTreeMap::new();
    for n in needs.into_iter().filter(|n| !n.is_empty()) {
        let min = by_classes
            .entry(n.keys().collect())
            .or_insert_with(|| n.clone());
        for (k, v) in n {
            if let Some(m) = min.get_mut(k) {
                *m = (*m).min(*v);
            }
        }
    }
    by_classes.into_values().collect()
}

/// Counts the hosts that could take any of `needs`. Few hosts (or a Placement older than
/// 1.10, or one refusing the query): two reads per host ([`placement_targets`]). Else one
/// `GET /allocation_candidates` per set of classes the servers ask for, with the smallest
/// amounts: the requests do not grow with the cloud. A host missing from the answer cannot
/// take even the smallest server: it is left out.
/// Placement's answers to `GET /allocation_candidates`, by the resources asked: a survey
/// that counts more hosts later (the suggestions) asks each query once.
type Answers = HashMap<Resources, HashMap<String, ProviderSummary>>;

fn count_targets(
    hypervisors: &[Hypervisor],
    placement: &Placement,
    hosts: &[String],
    needs: &[Resources],
    concurrency: usize,
    answers: &mut Answers,
) -> anyhow::Result<Counted> {
    let exact = |hosts: &[String]| -> anyhow::Result<Counted> {
        Ok(Counted {
            targets: placement_targets(hypervisors, placement, hosts, concurrency)?,
            unconfirmed: Unconfirmed::default(),
        })
    };
    let wants = smallest_needs(needs);
    if few_hosts(hosts.len(), concurrency) || wants.is_empty() {
        return exact(hosts);
    }
    match placement.microversion() {
        Ok(Some(v)) if v >= Microversion::new(1, 10) => {}
        Ok(v) => {
            tracing::debug!("Placement {v:?} has no allocation candidates: per-provider reads");
            return exact(hosts);
        }
        Err(e) => {
            tracing::debug!("Placement's version unknown ({e}): per-provider reads");
            return exact(hosts);
        }
    }
    let mut summaries: HashMap<String, (BTreeMap<String, ClassSummary>, u64)> = HashMap::new();
    for (i, want) in wants.iter().enumerate() {
        let asked = match answers.get(want) {
            Some(_) => Ok(()),
            None => placement
                .allocation_candidates(want)
                .map(|a| drop(answers.insert(want.clone(), a))),
        };
        match asked {
            Ok(()) => {
                for (rp, sum) in &answers[want] {
                    let (classes, bits) = summaries.entry(rp.clone()).or_default();
                    classes.extend(sum.resources.iter().map(|(k, v)| (k.clone(), *v)));
                    *bits |= 1u64.checked_shl(i as u32).unwrap_or(0);
                }
            }
            Err(crate::openstack::Error::Api(a)) if (400..500).contains(&a.status) => {
                tracing::info!(
                    "Placement refused allocation candidates ({a}): two reads per host instead"
                );
                return exact(hosts);
            }
            Err(e) => return Err(e.into()),
        }
    }
    let index = RpIndex::new(hypervisors);
    // Only a UUID can be a provider's: older Nova's integer ids are found by name.
    let rp_of = |h: &str| index.get(h).filter(|id| id.len() == 36 && id.contains('-'));
    let unmapped: Vec<String> = hosts
        .iter()
        .filter(|h| rp_of(h).is_none())
        .cloned()
        .collect();
    let mut by_name: HashMap<String, Target> = exact(&unmapped)?
        .targets
        .into_iter()
        .map(|t| (t.name.clone(), t))
        .collect();
    let mut out = Counted::default();
    for h in hosts {
        if let Some(t) = by_name.remove(h) {
            out.targets.push(t);
            continue;
        }
        let Some(rp) = rp_of(h) else { continue };
        let Some((sum, bits)) = summaries.get(rp) else {
            continue;
        };
        // Capacity and use only: the units are checked once the plan chooses the host.
        let inventories = sum
            .iter()
            .map(|(class, c)| {
                let inv = capacity::Inventory {
                    total: c.capacity,
                    reserved: 0,
                    min_unit: 1,
                    max_unit: None,
                    step_size: 1,
                    allocation_ratio: 1.0,
                };
                (class.clone(), inv)
            })
            .collect();
        let usages = sum
            .iter()
            .map(|(class, c)| (class.clone(), c.used))
            .collect();
        out.targets.push(Target {
            name: h.clone(),
            inventories,
            usages,
            zone: None,
        });
        out.unconfirmed
            .hosts
            .insert(h.clone(), (rp.to_string(), *bits));
    }
    tracing::debug!(
        "allocation candidates: {} of {} hosts can take the smallest server ({} request(s))",
        out.targets.len(),
        hosts.len(),
        wants.len()
    );
    out.unconfirmed.asked = wants;
    Ok(out)
}

/// The plan first looks at this many of the emptiest ordinary hosts per server (at least
/// [`TRIM_MIN`]) in each zone.
const TRIM_PER_SERVER: usize = 1;
const TRIM_MIN: usize = 32;

/// The pool with only the `k` emptiest ordinary targets of each zone (the smallest share
/// left free over the classes, as the plan measures), in their order; `None` when no zone
/// has more.
fn emptiest(pool: &Pool, k: usize) -> Option<Pool> {
    let mut by_zone: HashMap<Option<&str>, Vec<(usize, f64)>> = HashMap::new();
    for (i, t) in pool.ordinary.iter().enumerate() {
        let free = t.free();
        let share = t
            .capacity()
            .iter()
            .filter(|(_, c)| **c > 0)
            .map(|(class, c)| free.get(class).copied().unwrap_or(0) as f64 / *c as f64)
            .fold(f64::INFINITY, f64::min);
        let share = if share.is_finite() { share } else { -1.0 };
        by_zone
            .entry(t.zone.as_deref())
            .or_default()
            .push((i, share));
    }
    if by_zone.values().all(|v| v.len() <= k) {
        return None;
    }
    let mut keep = vec![false; pool.ordinary.len()];
    for v in by_zone.values_mut() {
        // Stable: among equals, the first listed.
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        for (i, _) in v.iter().take(k) {
            keep[*i] = true;
        }
    }
    let ordinary: Vec<Target> = pool
        .ordinary
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(t, _)| t.clone())
        .collect();
    let mut unconfirmed = Unconfirmed {
        asked: pool.unconfirmed.asked.clone(),
        hosts: BTreeMap::new(),
    };
    for t in &ordinary {
        if let Some(u) = pool.unconfirmed.hosts.get(&t.name) {
            unconfirmed.hosts.insert(t.name.clone(), u.clone());
        }
    }
    Some(Pool {
        ordinary,
        spares: pool.spares.clone(),
        method: pool.method,
        targeted: pool.targeted,
        unconfirmed,
    })
}

/// After this many rounds of [`confirm`], every target still unconfirmed is read at once.
const CONFIRM_ROUNDS: usize = 8;

/// Reads the inventories of the hosts `plan` uses that were counted from allocation
/// candidates, unless Placement's answers passed every server placed there (every
/// unconfirmed host with `all`); puts them in place, and says whether the plan holds with
/// them (min_unit, max_unit, step_size, in the plan's order): `None` when nothing was left
/// to confirm, else whether it holds and the hosts read.
fn confirm(
    plan: &Plan,
    targets: &mut [Target],
    unconfirmed: &mut Unconfirmed,
    placement: &Placement,
    concurrency: usize,
    all: bool,
) -> anyhow::Result<Option<(bool, Vec<String>)>> {
    let need: HashMap<&str, &Resources> = plan
        .assignments
        .iter()
        .map(|a| (a.server_id.as_str(), &a.resources))
        .collect();
    let todo: Vec<(String, String)> = if all {
        let hosts = std::mem::take(&mut unconfirmed.hosts);
        hosts.into_iter().map(|(h, (rp, _))| (h, rp)).collect()
    } else {
        plan.targets
            .iter()
            .filter(|t| {
                t.servers.iter().any(|id| {
                    need.get(id.as_str())
                        .is_some_and(|n| !unconfirmed.proven(&t.host, n))
                })
            })
            .filter_map(|t| Some((t.host.clone(), unconfirmed.hosts.get(&t.host)?.0.clone())))
            .collect()
    };
    if todo.is_empty() {
        return Ok(None);
    }
    let got = crate::pool::map_bounded(&todo, concurrency.max(2), |(_, rp)| {
        placement.inventories(rp)
    });
    let at: HashMap<String, usize> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.clone(), i))
        .collect();
    let placed: HashMap<&str, &[String]> = plan
        .targets
        .iter()
        .map(|p| (p.host.as_str(), p.servers.as_slice()))
        .collect();
    let mut holds = true;
    for ((host, _), inv) in todo.iter().zip(got) {
        let inv = super::facts::inventories(inv?);
        unconfirmed.hosts.remove(host);
        let Some(&i) = at.get(host) else { continue };
        let t = &mut targets[i];
        t.inventories = inv;
        let mut free = t.free();
        for id in placed.get(host.as_str()).copied().unwrap_or_default() {
            let Some(n) = need.get(id.as_str()) else {
                continue;
            };
            if let Some(why) = capacity::misfit(n, &t.inventories, &free) {
                tracing::info!("{host}: {why} (not in Placement's summary): planning again");
                holds = false;
                break;
            }
            for (k, v) in n.iter() {
                if let Some(f) = free.get_mut(k) {
                    *f = f.saturating_sub(*v);
                }
            }
        }
    }
    Ok(Some((holds, todo.into_iter().map(|(h, _)| h).collect())))
}

/// The targets a plan may use: ordinary hosts, then (or before) reserved ones.
#[derive(Clone, Debug, Default)]
pub struct Pool {
    pub ordinary: Vec<Target>,
    /// Reserved hosts with their Placement counts, in order of use.
    pub spares: Vec<(Spare, Target)>,
    pub method: RecoveryMethod,
    /// Every request names its host (the operator named targets, or rules keep hosts out).
    pub targeted: bool,
    /// Ordinary targets counted from allocation candidates, their units unchecked until the
    /// plan uses them.
    pub unconfirmed: Unconfirmed,
}

/// Nova's nova-compute services as the target rules read them.
fn host_facts(services: &[ComputeService]) -> Vec<HostFacts<'_>> {
    services
        .iter()
        .map(|s| HostFacts {
            host: &s.host,
            service_id: &s.id,
            zone: s.zone.as_deref().filter(|z| !z.is_empty()),
            enabled: s.is_enabled(),
            up: s.is_up(),
            forced_down: s.is_forced_down(),
            disabled_reason: s.disabled_reason.as_deref(),
        })
        .collect()
}

pub(super) fn aggregate_facts(aggregates: &[Aggregate]) -> Vec<AggregateFacts> {
    aggregates
        .iter()
        .map(|a| AggregateFacts {
            name: a.name.clone(),
            hosts: a.hosts.clone(),
            metadata: a.metadata.clone(),
        })
        .collect()
}

/// The rules need the aggregates (one more listing) only when they name aggregate keys.
fn needs_aggregates(cfg: &EvacuationConfig) -> bool {
    !cfg.same_aggregate_keys.is_empty() || cfg.reserved_aggregate_key.is_some()
}

/// Lists, classifies and plans. Changes nothing.
pub fn survey(session: &Session, opts: &Options<'_>, records: &[Record]) -> anyhow::Result<Survey> {
    let nova = session.nova();
    let placement = session.placement();
    let cfg = opts.filters;
    // Round trips before the first evacuation are the cost of a host evacuation: after the
    // token and the compute version document, every listing goes out at once (and
    // Placement's version document with them), then the Placement inventories and usages.
    nova.microversion()?;
    struct Found {
        services: Vec<ComputeService>,
        usable_hosts: Vec<String>,
        rules: Candidates,
        hypervisors: Vec<Hypervisor>,
        pool: Pool,
        servers: Vec<Server>,
    }
    // The server list (the slowest answer) runs while the services and the hypervisors are
    // asked; Placement is asked once the servers' sizes are known.
    let mut answers = Answers::new();
    let (found, migrations) = std::thread::scope(|s| {
        let servers = s.spawn(|| nova.list_servers_on_host(opts.host));
        let migrations = s.spawn(|| {
            nova.list_migrations(&MigrationFilter {
                source_compute: Some(opts.host),
                migration_type: Some("evacuation"),
                ..Default::default()
            })
        });
        let found = (|| -> anyhow::Result<Found> {
            let hypervisors = s.spawn(|| nova.list_hypervisors());
            let placement_version = s.spawn(|| placement.microversion());
            let aggregates = (opts.targets.is_empty() && needs_aggregates(cfg))
                .then(|| s.spawn(|| nova.list_aggregates()));
            let services = nova.list_services(None, Some("nova-compute"))?;
            if let Ok(Err(e)) = join(placement_version) {
                tracing::debug!("placement version discovery: {e}");
            }
            let known: Vec<&str> = services.iter().map(|s| s.host.as_str()).collect();
            if !known.contains(&opts.host) {
                return Err(super::unknown_host(opts.host, &known).into());
            }
            check_targets(opts.host, opts.targets, &services)?;
            // The rules name aggregate keys: a cloud whose aggregates cannot be read is not
            // planned on (a server could land outside its group).
            let aggregates = match aggregates {
                Some(h) => join(h)?.map_err(|e| {
                    anyhow::anyhow!("cannot list host aggregates for the target rules: {e}")
                })?,
                None => Vec::new(),
            };
            // Without hypervisor records (Nova older than 2.53), providers are found by name.
            let hypervisors = join(hypervisors)?.unwrap_or_else(|e| {
                tracing::debug!("hypervisors not listed ({e}): Placement providers by name");
                Vec::new()
            });
            let servers = join(servers)??;
            let needs: Vec<Resources> = servers
                .iter()
                .filter_map(|x| capacity::server_resources(&x.flavor, x.image.is_none()))
                .collect();
            let usable_hosts: Vec<String> = services
                .iter()
                .filter(|s| s.host != opts.host && usable(s))
                .map(|s| s.host.clone())
                .collect();
            let facts = host_facts(&services);
            let zone_of: HashMap<&str, &str> = facts
                .iter()
                .filter_map(|f| Some((f.host, f.zone?)))
                .collect();
            let (rules, pool) = if opts.targets.is_empty() {
                let consumed = targets::consumed_spares(records);
                let rules = targets::candidates(
                    cfg,
                    opts.host,
                    &Default::default(),
                    &facts,
                    &aggregate_facts(&aggregates),
                    &consumed,
                );
                let spare_hosts: Vec<String> =
                    rules.spares.iter().map(|x| x.host.clone()).collect();
                // reserved_host plans on spares only: the others' capacity is not asked.
                let ordinary = if cfg.recovery_method == RecoveryMethod::ReservedHost {
                    Vec::new()
                } else {
                    rules.ordinary.clone()
                };
                let mut counted = count_targets(
                    &hypervisors,
                    &placement,
                    &ordinary,
                    &needs,
                    opts.concurrency,
                    &mut answers,
                )?;
                // Spares are few, and disabled (Nova's scheduler would not see them): read
                // one by one.
                let mut spares_counted =
                    placement_targets(&hypervisors, &placement, &spare_hosts, opts.concurrency)?;
                if cfg.same_zone {
                    for t in counted.targets.iter_mut().chain(&mut spares_counted) {
                        t.zone = zone_of.get(t.name.as_str()).map(|z| z.to_string());
                    }
                }
                let pool = Pool {
                    ordinary: counted.targets,
                    spares: rules.spares.iter().cloned().zip(spares_counted).collect(),
                    method: cfg.recovery_method,
                    targeted: rules.ruled_out > 0,
                    unconfirmed: counted.unconfirmed,
                };
                (rules, pool)
            } else {
                let mut t: Vec<String> = Vec::new();
                for h in opts.targets {
                    if !t.contains(h) {
                        t.push(h.clone());
                    }
                }
                let counted = count_targets(
                    &hypervisors,
                    &placement,
                    &t,
                    &needs,
                    opts.concurrency,
                    &mut answers,
                )?;
                let pool = Pool {
                    ordinary: counted.targets,
                    spares: Vec::new(),
                    method: RecoveryMethod::Auto,
                    targeted: true,
                    unconfirmed: counted.unconfirmed,
                };
                (Candidates::default(), pool)
            };
            Ok(Found {
                services,
                usable_hosts,
                rules,
                hypervisors,
                pool,
                servers,
            })
        })();
        (found, join(migrations))
    });
    let Found {
        services,
        usable_hosts,
        rules,
        hypervisors,
        pool,
        servers,
    } = found?;
    let migrations = migrations??;
    let Some(source) = services.iter().find(|s| s.host == opts.host) else {
        return Err(anyhow::anyhow!(
            "{} vanished from the service list",
            opts.host
        ));
    };
    let clock = Clock::now(session.config().api_timeout);
    // A plan on targets counted from allocation candidates holds once the hosts it uses are
    // read (at most one per server); if their units refuse it, it is made again.
    let plan_confirmed = |mut pool: Pool| -> anyhow::Result<Survey> {
        let mut round = 0;
        loop {
            if pool.unconfirmed.is_empty() {
                let servers = servers.clone();
                return Ok(classify_and_plan(
                    opts,
                    source,
                    servers,
                    &migrations,
                    records,
                    clock,
                    pool,
                ));
            }
            round += 1;
            let mut survey = classify_and_plan(
                opts,
                source,
                servers.clone(),
                &migrations,
                records,
                clock,
                pool.clone(),
            );
            let held = confirm(
                &survey.plan,
                &mut pool.ordinary,
                &mut pool.unconfirmed,
                &placement,
                opts.concurrency,
                round > CONFIRM_ROUNDS,
            )?;
            match held {
                Some((false, _)) => continue,
                None => return Ok(survey),
                Some((true, read)) => {
                    // The read inventories in place of the summaries' (the same capacity).
                    let read: std::collections::HashSet<&String> = read.iter().collect();
                    let read: HashMap<&str, &Target> = pool
                        .ordinary
                        .iter()
                        .filter(|t| read.contains(&t.name))
                        .map(|t| (t.name.as_str(), t))
                        .collect();
                    for t in &mut survey.counted {
                        if let Some(p) = read.get(t.name.as_str()) {
                            t.inventories = p.inventories.clone();
                        }
                    }
                    return Ok(survey);
                }
            }
        }
    };
    // The plan prefers the emptiest hosts: among thousands, it first looks at the emptiest
    // few per zone, and at all of them only when those lack room.
    let ordinary_names: Vec<String> = pool.ordinary.iter().map(|t| t.name.clone()).collect();
    // A reserved host filled after the ordinary ones must not stand in for those left out.
    let spares_first = targets::tier_order(pool.method).first() == Some(&targets::Tier::Spares);
    let few = emptiest(&pool, (TRIM_PER_SERVER * servers.len()).max(TRIM_MIN));
    let mut survey = match few.map(plan_confirmed).transpose()? {
        Some(s) if s.plan.fits() && (spares_first || s.spares_used.is_empty()) => {
            tracing::debug!(
                "planned on the emptiest {} of {} hosts",
                s.plan.targets.len(),
                ordinary_names.len()
            );
            s
        }
        _ => plan_confirmed(pool)?,
    };
    // Every host counted, whichever the plan looked at.
    survey.candidates = ordinary_names;
    survey
        .candidates
        .extend(survey.spares_used.iter().map(|s| s.host.clone()));
    survey.excluded = rules.excluded;
    if cfg.recovery_method == RecoveryMethod::ReservedHost {
        // Candidates by every rule, but this method takes reserved hosts only.
        survey
            .excluded
            .extend(rules.ordinary.iter().map(|h| {
                Excluded {
                    host: h.clone(),
                    why:
                        "not reserved (recovery_method \"reserved_host\" uses reserved hosts only)"
                            .into(),
                }
            }));
        survey.excluded.sort_by(|a, b| a.host.cmp(&b.host));
    }
    survey.spares = rules.spares;

    if !survey.plan.fits() {
        let counted: std::collections::HashSet<&str> =
            survey.candidates.iter().map(String::as_str).collect();
        let others: Vec<String> = usable_hosts
            .iter()
            .filter(|h| !counted.contains(h.as_str()))
            .cloned()
            .collect();
        let needs: Vec<Resources> = survey
            .evacuable()
            .filter_map(|e| e.resources.clone())
            .collect();
        // Advice only: units unchecked on hosts counted from allocation candidates.
        let extra = if others.is_empty() {
            Vec::new()
        } else {
            count_targets(
                &hypervisors,
                &placement,
                &others,
                &needs,
                opts.concurrency,
                &mut answers,
            )?
            .targets
        };
        survey.suggestions = suggestions(&survey, opts, extra);
    }
    Ok(survey)
}

fn join<T>(h: std::thread::ScopedJoinHandle<'_, T>) -> anyhow::Result<T> {
    h.join()
        .map_err(|_| anyhow::anyhow!("a listing thread panicked (a bug in evacctl)"))
}

/// The pure part of [`survey`]: verdicts, demands, the plan over the pool's tiers.
pub fn classify_and_plan(
    opts: &Options<'_>,
    source: &ComputeService,
    servers: Vec<Server>,
    migrations: &[Migration],
    records: &[Record],
    clock: Clock,
    pool: Pool,
) -> Survey {
    let latest = latest_per_server(migrations);
    let journal = journal::evacuations_from(records, opts.host);
    let takeover = journal::takeover(records, opts.host);
    let cfg = opts.filters;
    let source_zone = source.zone.clone().filter(|z| !z.is_empty());
    let mut entries = Vec::new();
    let mut demands = Vec::new();
    let mut unknown_size = Vec::new();
    let mut raw = BTreeMap::new();
    // Newest first is Nova's order; a stable order by name reads better in a plan.
    let mut servers = servers;
    servers.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    for s in servers {
        let facts = Facts {
            server: &s,
            host: opts.host,
            latest_evacuation: super::facts::migration_view(latest.get(&s.id).copied()),
            journal: journal.get(&s.id).cloned().unwrap_or(JournalState::None),
            takeover: takeover.clone(),
            clock,
        };
        let verdict = evacuable::classify(&facts, cfg);
        let resources = capacity::server_resources(&s.flavor, s.image.is_none());
        let (priority, bad_priority) = evacuable::priority(&s, &cfg.priority_key);
        if let Some(why) = bad_priority {
            tracing::warn!("{} ({}): {why}", s.id, s.name);
        }
        let zone = s
            .availability_zone
            .clone()
            .filter(|z| !z.is_empty())
            .or_else(|| source_zone.clone());
        if verdict.is_evacuable() {
            match &resources {
                Some(r) => demands.push(Demand {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    resources: r.clone(),
                    priority,
                    // Only hosts of the pool carry a zone when zones are kept.
                    zone: zone
                        .clone()
                        .filter(|_| cfg.same_zone && opts.targets.is_empty()),
                }),
                None => unknown_size.push(s.clone()),
            }
        }
        if let Verdict::Skip(r) = &verdict {
            tracing::debug!("{} ({}) not evacuated: {r}", s.id, s.name);
        }
        entries.push(ServerEntry {
            id: s.id.clone(),
            name: s.name.clone(),
            status: s.status.clone(),
            vm_state: s.vm_state.clone(),
            task_state: s.task_state.clone(),
            flavor: s.flavor.label().map(str::to_string),
            resources,
            verdict: VerdictView::from(&verdict),
            planned_target: None,
            priority,
            zone,
        });
        raw.insert(s.id.clone(), s);
    }
    let spare_targets: Vec<Target> = pool.spares.iter().map(|(_, t)| t.clone()).collect();
    let tiers: Vec<Tier<'_>> = targets::tier_order(pool.method)
        .iter()
        .map(|t| match t {
            targets::Tier::Ordinary => Tier {
                targets: &pool.ordinary,
                few: false,
            },
            targets::Tier::Spares => Tier {
                targets: &spare_targets,
                few: true,
            },
        })
        .collect();
    let mut plan = capacity::plan_tiers(&demands, &tiers);
    let spares_used: Vec<Spare> = pool
        .spares
        .iter()
        .filter(|(_, t)| {
            plan.targets
                .iter()
                .any(|p| p.host == t.name && !p.servers.is_empty())
        })
        .map(|(s, _)| s.clone())
        .collect();
    // A reserved host is counted only when used: the rest stay reserved.
    let mut counted: Vec<Target> = pool.ordinary;
    counted.extend(
        pool.spares
            .into_iter()
            .filter(|(s, _)| spares_used.iter().any(|u| u.host == s.host))
            .map(|(_, t)| t),
    );
    for s in unknown_size {
        plan.unplaced.push(capacity::Unplaced {
            server_id: s.id.clone(),
            server_name: s.name.clone(),
            resources: Resources::new(),
            priority: 0,
            why: "its flavor's sizes are unknown (Nova older than 2.47?)".into(),
        });
    }
    for e in &mut entries {
        e.planned_target = plan.target_of(&e.id).map(str::to_string);
    }
    Survey {
        host: opts.host.to_string(),
        source: SourceState::of(source),
        // Spares are enabled for this failure only: the scheduler must not spread others
        // onto them, nor these elsewhere.
        scheduler_chooses: !pool.targeted && spares_used.is_empty(),
        candidates: counted.iter().map(|t| t.name.clone()).collect(),
        recovery_method: pool.method,
        excluded: Vec::new(),
        spares: Vec::new(),
        spares_used,
        servers: entries,
        plan,
        suggestions: Vec::new(),
        raw,
        counted,
    }
}

/// What would work when not everything fits (origin B: evacuate part elsewhere first).
fn suggestions(survey: &Survey, opts: &Options<'_>, extra: Vec<Target>) -> Vec<String> {
    let mut out = Vec::new();
    let h = opts.host;
    if !extra.is_empty() {
        // The plan again with every other usable host added.
        let demands: Vec<Demand> = survey
            .evacuable()
            .filter_map(|e| {
                Some(Demand {
                    id: e.id.clone(),
                    name: e.name.clone(),
                    resources: e.resources.clone()?,
                    priority: e.priority,
                    zone: None,
                })
            })
            .collect();
        let mut all = survey.counted.clone();
        all.extend(extra);
        let wider = capacity::plan(&demands, &all);
        if wider.fits() {
            let mut hosts: Vec<String> = wider
                .targets
                .iter()
                .filter(|t| !t.servers.is_empty())
                .map(|t| t.host.clone())
                .collect();
            hosts.sort();
            let flags: Vec<String> = hosts.iter().map(|t| format!("--target {t}")).collect();
            out.push(format!(
                "All would fit with `evacctl host-evacuate {h} {}`.",
                flags.join(" ")
            ));
        } else {
            out.push(format!(
                "Even every enabled, up compute host together lacks room ({} would still not fit).",
                wider.unplaced.len()
            ));
        }
    }
    let fit = survey.to_send().len();
    if fit > 0 {
        let left: Vec<&str> = survey
            .plan
            .unplaced
            .iter()
            .map(|u| u.server_name.as_str())
            .collect();
        out.push(format!(
            "`--allow-partial` evacuates the {fit} that fit and leaves {} on {h} ({}).",
            left.len(),
            left.join(", ")
        ));
    }
    out.push(format!(
        "Or make room first: evacuate some elsewhere (`evacctl evacuate SERVER --target HOST`), \
         then run host-evacuate {h} again."
    ));
    out
}

/// Sends the evacuations of [`Survey::to_send`] with at most `concurrency` in flight. The
/// intents of all of them are written and synced in one go before the first is sent; each
/// result is written as its answer comes, and synced with the others at the end (a lost
/// result leaves its intent "in doubt", which Nova's migration records settle on a re-run).
/// `on_done` sees each outcome as it comes (progress, log lines).
pub fn execute(
    session: &Session,
    survey: &Survey,
    concurrency: usize,
    journal: &Journal,
    on_done: &(dyn Fn(&Outcome) + Sync),
) -> Vec<Outcome> {
    let nova = session.nova();
    let todo = survey.to_send();
    let planned: Vec<(Option<String>, &str)> = todo
        .iter()
        .map(|e| {
            let before = survey.raw.get(&e.id).map_or("", |s| s.status.as_str());
            (survey.target_to_send(&e.id), before)
        })
        .collect();
    let fields = |i: usize| Fields {
        host: Some(&survey.host),
        target: planned[i].0.as_deref(),
        server: Some(&todo[i].id),
        server_name: Some(&todo[i].name),
        server_status: Some(planned[i].1),
        ..Default::default()
    };
    // From the intents to the last result, a signal waits for this run (docs/design.md 2.9).
    let _busy = interrupt::busy();
    if let Some(signal) = interrupt::stopping() {
        return todo
            .iter()
            .map(|e| {
                let why = interrupt::not_sent_text(signal);
                Outcome::not_sent(&e.id, &e.name, survey.target_to_send(&e.id), why)
            })
            .collect();
    }
    let intents: Vec<_> = (0..todo.len())
        .map(|i| (Kind::Intent, "evacuate", "sending", fields(i)))
        .collect();
    if let Err(e) = journal.append_all(&intents) {
        return todo
            .iter()
            .map(|entry| {
                let target = survey.target_to_send(&entry.id);
                Outcome::unrecorded(&entry.id, &entry.name, target, format!("not sent: {e}"))
            })
            .collect();
    }
    let indices: Vec<usize> = (0..todo.len()).collect();
    let outcomes = crate::pool::map_bounded(&indices, concurrency, |&i| {
        let entry = todo[i];
        // A signal sends nothing new: the intent is closed as never sent, so that neither
        // this journal nor a re-run holds it in doubt.
        if let Some(why) = kept_back(&survey.host) {
            let outcome = Outcome::not_sent(&entry.id, &entry.name, planned[i].0.clone(), why);
            let result = Fields {
                detail: outcome.error.as_deref(),
                ..fields(i)
            };
            if let Err(e) = journal.append_unsynced(Kind::Result, "evacuate", NOT_SENT, result) {
                tracing::warn!("{}: {e}: its intent stays in doubt", entry.id);
            }
            on_done(&outcome);
            return outcome;
        }
        let outcome = send_and_record(
            &nova,
            &entry.id,
            &entry.name,
            planned[i].0.clone(),
            journal,
            fields(i),
            false,
        );
        on_done(&outcome);
        outcome
    });
    if let Err(e) = journal.sync() {
        tracing::warn!("{e}: the last results may be missing from the journal");
    }
    outcomes
}

/// Why a request must not be sent now: a signal, or the host's Consul key no longer this
/// run's (asked just before each request, docs/design.md 2.5).
fn kept_back(host: &str) -> Option<String> {
    if let Some(signal) = interrupt::stopping().or_else(interrupt::abandoning) {
        return Some(interrupt::not_sent_text(signal));
    }
    crate::lock::recheck_host(host)
        .err()
        .map(|holder| format!("not sent: host {host} is now held by {holder}"))
}

/// The journal status of an evacuation that got no clear answer: Nova may have received it
/// and may still act on it (no answer at all, a gateway's 502/504, a 2xx we could not read),
/// so it stays in doubt (see [`journal::NO_ANSWER`]); any other error answer is `failed`.
fn failure_status(e: &crate::openstack::Error) -> &'static str {
    use crate::openstack::Error;
    match e {
        Error::Unreachable { .. } | Error::InvalidResponse { .. } => journal::NO_ANSWER,
        Error::Api(a) if matches!(a.status, 502 | 504) => journal::NO_ANSWER,
        _ => "failed",
    }
}

/// The runbook's log line for an accepted evacuation (`<uuid> instance has evacuate`), or why it
/// failed.
pub fn log_outcome(o: &Outcome) {
    if o.accepted {
        tracing::info!("{} instance has evacuate", o.server_id);
    } else {
        tracing::warn!(
            "{} evacuate failed: {}",
            o.server_id,
            o.error.as_deref().unwrap_or("unknown error")
        );
    }
}

/// One evacuation with its journal records: intent (synced) before the POST, result after.
/// A journal that cannot be written stops the request: nothing is sent unrecorded.
pub fn send_evacuation(
    nova: &Nova,
    id: &str,
    name: &str,
    target: Option<String>,
    journal: &Journal,
    fields: Fields<'_>,
) -> Outcome {
    let _busy = interrupt::busy();
    if let Some(why) = kept_back(fields.host.unwrap_or_default()) {
        return Outcome::not_sent(id, name, target, why);
    }
    if let Err(e) = journal.append(Kind::Intent, "evacuate", "sending", fields.clone()) {
        return Outcome::unrecorded(id, name, target, format!("not sent: {e}"));
    }
    send_and_record(nova, id, name, target, journal, fields, true)
}

/// The POST of one evacuation whose intent is journaled already, and its result record
/// (synced now, or with the others by the caller). Both send paths go through here, so a
/// request and its record are always written the same way.
fn send_and_record(
    nova: &Nova,
    id: &str,
    name: &str,
    target: Option<String>,
    journal: &Journal,
    fields: Fields<'_>,
    sync: bool,
) -> Outcome {
    let answer = nova.evacuate(
        id,
        &EvacuateRequest {
            host: target.clone(),
        },
    );
    let mut outcome = Outcome {
        server_id: id.to_string(),
        name: name.to_string(),
        target,
        accepted: answer.is_ok(),
        error: None,
        request_id: None,
        not_sent: false,
    };
    let status = match answer {
        Ok(a) => {
            outcome.request_id = a.request_id;
            "accepted"
        }
        Err(e) => {
            outcome.request_id = e.api().and_then(|a| a.request_id.clone());
            outcome.error = Some(e.to_string());
            failure_status(&e)
        }
    };
    let result = Fields {
        request_id: outcome.request_id.as_deref(),
        detail: outcome.error.as_deref(),
        ..fields
    };
    let written = if sync {
        journal.append(Kind::Result, "evacuate", status, result)
    } else {
        journal.append_unsynced(Kind::Result, "evacuate", status, result)
    };
    if let Err(e) = written {
        outcome.error = Some(match outcome.error.take() {
            Some(prev) => format!("{prev}; and {e}"),
            None => format!("accepted by Nova, but {e}"),
        });
    }
    outcome
}

/// What evacuating a host did: the counts every caller reports.
#[derive(Clone, Debug)]
pub struct Evacuation {
    /// One per request sent.
    pub outcomes: Vec<Outcome>,
    /// Requests of a stopped run that may still be in Nova's hands: neither sent nor done.
    pub in_doubt: usize,
    /// Not sent because an evacuation is already under way (ours or anyone's).
    pub under_way: usize,
    pub not_evacuable: usize,
    /// Dropped just before sending: another run's evacuation showed up meanwhile (server
    /// id, why).
    pub dropped: Vec<(String, String)>,
    /// Reserved hosts this run enabled for the failure (consumed: no longer reserved).
    pub spares_enabled: Vec<String>,
}

impl Evacuation {
    /// The counts of a survey and the answers to what was sent.
    pub fn of(survey: &Survey, outcomes: Vec<Outcome>) -> Evacuation {
        Evacuation {
            outcomes,
            in_doubt: survey.in_doubt(),
            under_way: survey
                .servers
                .iter()
                .filter(|e| {
                    matches!(
                        e.verdict.reason_code,
                        Some("evacuation-in-progress" | "already-accepted" | "task-in-progress")
                    )
                })
                .count(),
            not_evacuable: survey.servers.len() - survey.evacuable().count(),
            dropped: Vec::new(),
            spares_enabled: Vec::new(),
        }
    }

    pub fn accepted(&self) -> usize {
        self.outcomes.iter().filter(|o| o.accepted).count()
    }

    /// Answered and refused (not counting what a signal kept back).
    pub fn failed(&self) -> usize {
        self.outcomes.len() - self.accepted() - self.not_sent()
    }

    /// Kept back by a signal: journaled `not-sent`.
    pub fn not_sent(&self) -> usize {
        self.outcomes.iter().filter(|o| o.not_sent).count()
    }

    /// `3 evacuation(s) accepted, 0 failed, 1 not evacuable (1 already under way)`.
    pub fn detail(&self) -> String {
        format!(
            "{} evacuation(s) accepted, {} failed, {} not evacuable{}",
            self.accepted(),
            self.failed(),
            self.not_evacuable,
            if self.under_way > 0 {
                format!(" ({} already under way)", self.under_way)
            } else {
                String::new()
            }
        ) + &if self.spares_enabled.is_empty() {
            String::new()
        } else {
            format!(
                "; reserved host(s) enabled and consumed: {}",
                self.spares_enabled.join(", ")
            )
        }
    }
}

impl Survey {
    /// What does not fit on the targets, in a sentence; `None` when everything fits.
    pub fn does_not_fit(&self) -> Option<String> {
        (!self.plan.fits()).then(|| {
            let names: Vec<&str> = self
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
        })
    }
}

/// The evacuate step, first half: the survey (Nova, Placement, and the journal for requests
/// in doubt). Changes nothing.
pub fn survey_host(cx: &StepContext<'_>, opts: &Options<'_>) -> StepOutcome<Survey> {
    let records = match cx.records() {
        Ok(r) => r,
        Err(e) => return StepOutcome::Transient(e),
    };
    StepOutcome::from_result(cx.session().and_then(|s| survey(s, opts, &records)))
}

/// The evacuate step, second half: refuses unless the survey passes its preflight (the source
/// down; everything fits, or `allow_partial`), then sends every evacuation of
/// [`Survey::to_send`], journaled ([`execute`]); `on_done` sees each answer.
pub fn evacuate_host(
    cx: &StepContext<'_>,
    survey: &Survey,
    allow_partial: bool,
    concurrency: usize,
    on_done: &(dyn Fn(&Outcome) + Sync),
) -> StepOutcome<Evacuation> {
    if let Err(r) = survey.preflight(allow_partial) {
        return StepOutcome::Refused(r);
    }
    let (session, journal) = match cx.session().and_then(|s| Ok((s, cx.writable_journal()?))) {
        Ok(x) => x,
        Err(e) => return StepOutcome::Transient(e),
    };
    let (survey, dropped) = match cx.records().and_then(|r| recheck(session, survey, &r)) {
        Ok(x) => x,
        Err(e) => return StepOutcome::Transient(e),
    };
    let spares_enabled = match enable_spares(session, &survey, journal) {
        Ok(x) => x,
        Err(e) => return StepOutcome::Transient(e),
    };
    let outcomes = execute(session, &survey, concurrency, journal, on_done);
    let mut ev = Evacuation::of(&survey, outcomes);
    ev.dropped = dropped;
    ev.spares_enabled = spares_enabled;
    StepOutcome::Done(ev)
}

/// Enables the reserved hosts the plan uses that are still disabled, each journaled (intent,
/// result), before the first evacuation request; a host that cannot be enabled stops the
/// step before anything is sent (the next run plans again). The hosts enabled.
fn enable_spares(
    session: &Session,
    survey: &Survey,
    journal: &Journal,
) -> anyhow::Result<Vec<String>> {
    let mut enabled = Vec::new();
    let wanted = survey.to_send();
    for spare in survey.spares_to_enable() {
        if !wanted
            .iter()
            .any(|e| e.planned_target.as_deref() == Some(spare.host.as_str()))
        {
            continue;
        }
        if let Some(why) = kept_back(&survey.host) {
            anyhow::bail!("reserved host {} not enabled: {why}", spare.host);
        }
        let detail = format!("for the servers of {}", survey.host);
        super::isolate::change(
            &session.nova(),
            journal,
            &spare.service_id,
            targets::ENABLE_RESERVED,
            ServiceUpdate::enable(),
            Fields {
                host: Some(&spare.host),
                detail: Some(&detail),
                ..Default::default()
            },
        )
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot enable reserved host {}: {e:#}; no evacuation was sent",
                spare.host
            )
        })?;
        tracing::info!("reserved host {} enabled {detail}", spare.host);
        enabled.push(spare.host.clone());
    }
    Ok(enabled)
}

/// Just before sending (the survey may be minutes old: a confirmation prompt), the journal and
/// Nova's evacuation migrations of the host (one list) are read again, and every server now
/// shown as evacuated, being evacuated or in doubt is dropped, with why (logged). The survey
/// as it will be sent, and what was dropped.
fn recheck(
    session: &Session,
    survey: &Survey,
    records: &[Record],
) -> anyhow::Result<(Survey, Vec<(String, String)>)> {
    let mut survey = survey.clone();
    let to_send: Vec<String> = survey.to_send().iter().map(|e| e.id.clone()).collect();
    if to_send.is_empty() {
        return Ok((survey, Vec::new()));
    }
    let migrations = session.nova().list_migrations(&MigrationFilter {
        source_compute: Some(&survey.host),
        migration_type: Some("evacuation"),
        ..Default::default()
    })?;
    let latest = latest_per_server(&migrations);
    let journal = journal::evacuations_from(records, &survey.host);
    let takeover = journal::takeover(records, &survey.host);
    let clock = Clock::now(session.config().api_timeout);
    let mut dropped = Vec::new();
    for id in to_send {
        let Some(server) = survey.raw.get(&id) else {
            continue;
        };
        let facts = Facts {
            server,
            host: &survey.host,
            latest_evacuation: super::facts::migration_view(latest.get(&id).copied()),
            journal: journal.get(&id).cloned().unwrap_or(JournalState::None),
            takeover: takeover.clone(),
            clock,
        };
        // The operator's filters passed at the survey; only what happened since counts.
        let verdict = evacuable::classify(&facts, &EvacuationConfig::default());
        if let Verdict::Skip(reason) = &verdict {
            tracing::warn!(
                "{id} ({}) not sent: since the survey, {reason}",
                server.name
            );
            dropped.push((id.clone(), reason.to_string()));
            if let Some(e) = survey.servers.iter_mut().find(|e| e.id == id) {
                e.verdict = VerdictView::from(&verdict);
                e.planned_target = None;
            }
        }
    }
    Ok((survey, dropped))
}

/// Everything configured that can say whether `host` may still be alive, read side by side
/// (its BMC's power, every Consul cluster): the evidence a manual evacuation must see before
/// it sends anything. `source`: Nova's record of its nova-compute.
pub fn alive_evidence(cx: &StepContext<'_>, host: &str, source: &SourceState) -> AliveEvidence {
    let has_bmc = cx.config.host(host).is_some_and(|h| h.bmc().is_some());
    let clusters = crate::consul::clusters(cx.config).unwrap_or_else(|e| {
        tracing::warn!("no Consul view of {host}: {e}");
        Vec::new()
    });
    let (power, consul) = std::thread::scope(|s| {
        let power = s.spawn(|| {
            has_bmc.then(|| match super::power::status(cx, host) {
                StepOutcome::Done(PowerState::On) => PowerEvidence::On,
                StepOutcome::Done(PowerState::Off) => PowerEvidence::Off,
                StepOutcome::Failed(e) => PowerEvidence::Unreadable(e.to_string()),
                StepOutcome::Refused(r) => PowerEvidence::Unreadable(r.reason),
                StepOutcome::Transient(e) => PowerEvidence::Unreadable(format!("{e:#}")),
            })
        });
        let consul = (!clusters.is_empty()).then(|| {
            let o =
                super::observe::observe_consul(&clusters, &super::observe::ObserveOptions::all());
            super::observe::consul_view(cx.config, &o, host)
        });
        let power = power
            .join()
            .unwrap_or_else(|_| Some(PowerEvidence::Unreadable("the BMC read panicked".into())));
        (power, consul)
    });
    let (network, node_local) = match consul {
        Some((network, node_local)) => (network, Some(node_local)),
        None => (None, None),
    };
    AliveEvidence {
        power,
        network,
        node_local,
        nova_down: !source.state.eq_ignore_ascii_case("up"),
        forced_down: source.forced_down == Some(true),
    }
}

/// How long a fence this run just made may take to show in Consul: gossip notices a node
/// gone within seconds; a BMC that says off while the node still answers after this long is
/// lying, or is not this host's.
pub const FENCE_SETTLE: Duration = Duration::from_secs(15);

/// The fence gate of a manual evacuation: the evidence ([`alive_evidence`]) and what it
/// allows ([`evacuable::fence_check`]). Refused (unsafe) when the host may be alive, unless
/// the operator chose to go on (`overridden`, recorded in the journal with the evidence:
/// evacuating without a confirmed fence is origin E's level 1, the operator's call). With
/// `settle`, a host whose BMC says off but that Consul still sees is asked again for that
/// long (a fence this run just made).
pub fn fence_gate(
    cx: &StepContext<'_>,
    host: &str,
    source: &SourceState,
    overridden: bool,
    settle: Duration,
) -> Result<(AliveEvidence, FenceCheck), Refusal> {
    let until = std::time::Instant::now() + settle;
    let (evidence, check) = loop {
        let evidence = alive_evidence(cx, host, source);
        let check = evacuable::fence_check(host, &evidence);
        let settling = matches!(check, FenceCheck::MayBeAlive(_))
            && evidence.power == Some(PowerEvidence::Off)
            && std::time::Instant::now() < until;
        if !settling {
            break (evidence, check);
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    match &check {
        FenceCheck::Fenced(why) => tracing::info!("{host}: fenced: {}", why.join("; ")),
        FenceCheck::Unconfirmed(why) => tracing::warn!("{host}: {}", why.join("; ")),
        FenceCheck::MayBeAlive(why) if overridden => {
            tracing::warn!(
                "{host} may be alive ({}): evacuating anyway, as --no-fence-check asks",
                why.join("; ")
            );
            if let Some(journal) = cx.journal {
                let detail = why.join("; ");
                journal
                    .append(
                        Kind::Event,
                        "fence-check",
                        "overridden",
                        Fields {
                            host: Some(host),
                            detail: Some(&detail),
                            ..Default::default()
                        },
                    )
                    .map_err(|e| {
                        Refusal::unsafe_(format!(
                            "{e}: the override cannot be recorded, so nothing was done"
                        ))
                    })?;
            }
        }
        FenceCheck::MayBeAlive(why) if evidence.power == Some(PowerEvidence::Off) => {
            return Err(Refusal::unsafe_(format!(
                "{host} may still be alive: {}, although its BMC says its power is off{}: the \
                 BMC lies, or the configuration names another host's BMC. Check \
                 [hosts.\"{host}\".bmc] and the host itself before evacuating anything; \
                 nothing was done",
                why.join("; "),
                if settle.is_zero() {
                    String::new()
                } else {
                    format!(" ({} s after the fence)", settle.as_secs())
                }
            )));
        }
        FenceCheck::MayBeAlive(why) => {
            return Err(Refusal::unsafe_(format!(
                "{host} may still be alive: {}. Evacuating a live host writes its servers' \
                 disks from two places. Fence it first (`evacctl ipmi power off {host} --wait`, \
                 or `evacctl host-evacuate {host} --force-down`), or, if you know it is dead, \
                 re-run with --no-fence-check (recorded in the journal); nothing was done",
                why.join("; ")
            )));
        }
    }
    Ok((evidence, check))
}

/// What the single-server evacuate step found, and did (`outcome`: `None` in a dry run).
#[derive(Debug)]
pub struct ServerEvacuation {
    pub server: Server,
    /// The host Nova has it on.
    pub source: String,
    pub request: PlannedRequest,
    /// What the fence gate found (and whether it was overridden).
    pub fence: FenceCheck,
    pub outcome: Option<Outcome>,
}

/// The evacuate step for one server (`evacctl evacuate`): refuses what Nova would refuse or
/// what must not be done (an unknown server or target, a source still up, a state that cannot
/// be evacuated, an evacuation already running or in doubt, by Nova's records, the journal or
/// a take-over hold), then sends it journaled. The operator named the server: the
/// `[evacuation]` filters do not apply.
///
/// `held`: the host this run holds (docs/design.md 2.5); a server found elsewhere now (moved since
/// it was looked up) is refused rather than sent from a host another run may be acting on.
pub fn evacuate_server(
    cx: &StepContext<'_>,
    name_or_id: &str,
    target: Option<&str>,
    held: Option<&str>,
    no_fence_check: bool,
) -> StepOutcome<ServerEvacuation> {
    StepOutcome::from_result(server_evacuation(
        cx,
        name_or_id,
        target,
        held,
        no_fence_check,
    ))
}

fn server_evacuation(
    cx: &StepContext<'_>,
    name_or_id: &str,
    target: Option<&str>,
    held: Option<&str>,
    no_fence_check: bool,
) -> anyhow::Result<ServerEvacuation> {
    let session = cx.session()?;
    let nova = session.nova();
    let Some(server) = nova.find_server(name_or_id)? else {
        return Err(Refusal::bad_input(format!(
            "no server named or with id `{name_or_id}` (as an admin, all projects were searched); \
             nothing was done"
        ))
        .into());
    };
    let source = server.host().to_string();
    if let Some(h) = held.filter(|h| *h != source) {
        return Err(Refusal::unsafe_(format!(
            "server {} ({}) was on {h} when looked up and is on {source} now (another run \
             moved it?): nothing was done; run it again to act from where it is",
            server.id, server.name
        ))
        .into());
    }
    let services = nova.list_services(None, Some("nova-compute"))?;
    if let Some(t) = target {
        check_targets(&source, &[t.to_string()], &services)?;
    }
    let source_state = services
        .iter()
        .find(|s| s.host == source)
        .map(SourceState::of);
    if let Some(s) = &source_state
        && !s.is_down()
    {
        return Err(Refusal::unsafe_(format!(
            "server {} ({}) is on {source}, whose nova-compute is up: Nova would refuse \
             (\"Compute service of {source} is still in use\"), and evacuating from a live \
             host corrupts shared disks. Fence {source} (`evacctl ipmi power off {source} \
             --wait`), then force its nova-compute down (`evacctl host-evacuate {source} \
             --force-down`, or `openstack compute service set --down {source} nova-compute`); \
             nothing was done",
            server.id, server.name
        ))
        .into());
    }
    // Guards Nova does not have: an evacuation already running (ours or anyone's), the journal.
    let migrations = nova.list_migrations(&MigrationFilter {
        instance_uuid: Some(&server.id),
        migration_type: Some("evacuation"),
        ..Default::default()
    })?;
    let latest = latest_per_server(&migrations);
    let records = cx.records()?;
    let facts = Facts {
        server: &server,
        host: &source,
        latest_evacuation: super::facts::migration_view(latest.get(&server.id).copied()),
        journal: journal::evacuations_from(&records, &source)
            .remove(&server.id)
            .unwrap_or(JournalState::None),
        takeover: journal::takeover(&records, &source),
        clock: Clock::now(session.config().api_timeout),
    };
    if let Verdict::Skip(reason) = evacuable::classify(&facts, &EvacuationConfig::default()) {
        return Err(Refusal::unsafe_(format!(
            "server {} ({}, {}) cannot be evacuated: {reason}; nothing was done",
            server.id, server.name, server.status
        ))
        .into());
    }
    let fence = match &source_state {
        Some(s) => fence_gate(cx, &source, s, no_fence_check, Duration::ZERO)?.1,
        // Nova knows no nova-compute there: nothing to ask the evidence about.
        None => FenceCheck::Unconfirmed(vec![format!("Nova shows no nova-compute on {source}")]),
    };
    // No target named: the zone rule of `[evacuation]` still holds when other zones exist
    // (the scheduler alone may cross them): the host of its zone with the most room.
    let target: Option<String> = match target {
        Some(t) => Some(t.to_string()),
        None => zone_target(session, cx.config, &server, &source, &services, &records)?,
    };
    let target = target.as_deref();
    let request =
        PlannedRequest::evacuate(&server.id, target.map(str::to_string), nova.microversion()?);
    let outcome = match cx.journal {
        None => None,
        Some(journal) => Some(send_evacuation(
            &nova,
            &server.id,
            &server.name,
            target.map(str::to_string),
            journal,
            Fields {
                host: Some(&source),
                target,
                server: Some(&server.id),
                server_name: Some(&server.name),
                server_status: Some(&server.status),
                ..Default::default()
            },
        )),
    };
    Ok(ServerEvacuation {
        server,
        source,
        request,
        fence,
        outcome,
    })
}

/// The host one server goes to when zones are kept and some enabled host is in another zone:
/// the plan for it alone over the hosts of its zone (reserved hosts stay out: enabling one is
/// `host-evacuate`'s and `watch`'s). `None`: the scheduler may choose freely.
fn zone_target(
    session: &Session,
    config: &crate::config::Config,
    server: &Server,
    source: &str,
    services: &[ComputeService],
    records: &[Record],
) -> anyhow::Result<Option<String>> {
    let cfg = &config.evacuation;
    if !cfg.same_zone {
        return Ok(None);
    }
    let facts = host_facts(services);
    let zone = server
        .availability_zone
        .clone()
        .filter(|z| !z.is_empty())
        .or_else(|| {
            facts
                .iter()
                .find(|f| f.host == source)
                .and_then(|f| f.zone.map(str::to_string))
        });
    let Some(zone) = zone else { return Ok(None) };
    let rules = EvacuationConfig {
        same_aggregate_keys: Vec::new(),
        recovery_method: RecoveryMethod::Auto,
        ..cfg.clone()
    };
    let zones = [zone.clone()].into();
    let c = targets::candidates(
        &rules,
        source,
        &zones,
        &facts,
        &[],
        &targets::consumed_spares(records),
    );
    if c.ruled_out == 0 {
        return Ok(None);
    }
    let Some(need) = capacity::server_resources(&server.flavor, server.image.is_none()) else {
        return Err(Refusal::unsafe_(format!(
            "server {} ({}): its flavor's sizes are unknown, so no host of its zone {zone} can \
             be planned for it; name one with --target; nothing was done",
            server.id, server.name
        ))
        .into());
    };
    let nova = session.nova();
    let placement = session.placement();
    let hypervisors = nova.list_hypervisors().unwrap_or_default();
    let mut counted = count_targets(
        &hypervisors,
        &placement,
        &c.ordinary,
        std::slice::from_ref(&need),
        4,
        &mut Answers::new(),
    )?;
    let demand = Demand {
        id: server.id.clone(),
        name: server.name.clone(),
        resources: need,
        priority: 0,
        zone: None,
    };
    // As the survey: the host chosen from allocation candidates is read before it is named.
    let mut round = 0;
    let plan = loop {
        round += 1;
        let plan = capacity::plan(std::slice::from_ref(&demand), &counted.targets);
        let held = confirm(
            &plan,
            &mut counted.targets,
            &mut counted.unconfirmed,
            &placement,
            4,
            round > CONFIRM_ROUNDS,
        )?;
        if !matches!(held, Some((false, _))) {
            break plan;
        }
    };
    match plan.target_of(&server.id) {
        Some(t) => {
            tracing::info!("{}: to {t}, in its zone {zone}", server.name);
            Ok(Some(t.to_string()))
        }
        None => Err(Refusal::unsafe_(format!(
            "server {} ({}) fits on no host of its zone {zone} ({}); name a host with              --target, or set [evacuation] same_zone = false; nothing was done",
            server.id,
            server.name,
            plan.unplaced
                .first()
                .map_or("no enabled, up host there", |u| u.why.as_str())
        ))
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(host: &str, status: &str, state: &str, forced: bool) -> ComputeService {
        ComputeService {
            id: format!("id-{host}"),
            binary: "nova-compute".into(),
            host: host.into(),
            zone: Some("nova".into()),
            status: status.into(),
            state: state.into(),
            updated_at: None,
            disabled_reason: (status == "disabled").then(|| "maintenance".into()),
            forced_down: Some(forced),
        }
    }

    use crate::steps::RefusalKind;

    #[test]
    fn targets_are_checked() {
        let services = [
            service("compute-1", "enabled", "down", true),
            service("compute-2", "enabled", "up", false),
            service("compute-3", "disabled", "up", false),
            service("compute-4", "enabled", "down", false),
        ];
        let t = |names: &[&str]| {
            let v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
            check_targets("compute-1", &v, &services).map_err(|e| (e.kind, e.reason))
        };
        assert!(t(&["compute-2"]).is_ok());
        let (code, msg) = t(&["compute-9"]).unwrap_err();
        assert_eq!(code, RefusalKind::BadInput);
        assert!(
            msg.contains("compute-1") && msg.contains("did you mean"),
            "{msg}"
        );
        let (code, msg) = t(&["compute-1"]).unwrap_err();
        assert_eq!(code, RefusalKind::BadInput);
        assert!(msg.contains("same one"), "{msg}");
        let (code, msg) = t(&["compute-3"]).unwrap_err();
        assert_eq!(code, RefusalKind::Unsafe);
        assert!(msg.contains("disabled (maintenance)"), "{msg}");
        let (_, msg) = t(&["compute-4"]).unwrap_err();
        assert!(msg.contains("is down"), "{msg}");
    }

    fn res(pairs: &[(&str, u64)]) -> Resources {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn one_query_per_set_of_classes_with_the_smallest_amounts() {
        let needs = [
            res(&[("VCPU", 4), ("MEMORY_MB", 512), ("DISK_GB", 10)]),
            res(&[("VCPU", 1), ("MEMORY_MB", 2048), ("DISK_GB", 20)]),
            res(&[("PCPU", 2), ("MEMORY_MB", 4096)]),
            res(&[]),
        ];
        let mut got = smallest_needs(&needs);
        got.sort_by_key(|r| r.len());
        assert_eq!(
            got,
            [
                res(&[("PCPU", 2), ("MEMORY_MB", 4096)]),
                res(&[("VCPU", 1), ("MEMORY_MB", 512), ("DISK_GB", 10)]),
            ]
        );
        assert!(smallest_needs(&[]).is_empty());
        let u = Unconfirmed {
            asked: got.clone(),
            hosts: [("a".to_string(), ("rp-a".to_string(), 0b10))].into(),
        };
        assert!(u.proven("a", &got[1]), "in the answer to what it asks");
        assert!(!u.proven("a", &got[0]), "not in that answer");
        assert!(!u.proven("a", &needs[0]), "not what was asked");
        assert!(!u.proven("b", &got[1]));
        assert!(few_hosts(20, 10) && !few_hosts(21, 10) && few_hosts(2, 0));
    }

    fn target(name: &str, zone: Option<&str>, used_vcpu: u64) -> Target {
        let inv = capacity::Inventory {
            total: 8,
            reserved: 0,
            min_unit: 1,
            max_unit: None,
            step_size: 1,
            allocation_ratio: 1.0,
        };
        Target {
            name: name.into(),
            inventories: [("VCPU".to_string(), inv)].into(),
            usages: res(&[("VCPU", used_vcpu)]),
            zone: zone.map(str::to_string),
        }
    }

    #[test]
    fn the_emptiest_hosts_of_each_zone_in_their_order() {
        let names =
            |p: &Pool| -> Vec<String> { p.ordinary.iter().map(|t| t.name.clone()).collect() };
        let mut pool = Pool {
            ordinary: vec![
                target("a", None, 6),
                target("b", None, 1),
                target("c", None, 4),
                target("d", None, 1),
                target("e", None, 0),
            ],
            ..Default::default()
        };
        pool.unconfirmed.hosts = [
            ("d".to_string(), ("rp-d".to_string(), 1)),
            ("a".to_string(), ("rp-a".to_string(), 1)),
        ]
        .into();
        let few = emptiest(&pool, 3).unwrap();
        assert_eq!(names(&few), ["b", "d", "e"]);
        assert_eq!(few.unconfirmed.hosts.keys().collect::<Vec<_>>(), ["d"]);
        assert!(emptiest(&pool, 5).is_none());
        let zoned = Pool {
            ordinary: vec![
                target("a", Some("z1"), 6),
                target("b", Some("z2"), 7),
                target("c", Some("z1"), 0),
                target("d", Some("z2"), 1),
            ],
            ..Default::default()
        };
        assert_eq!(names(&emptiest(&zoned, 1).unwrap()), ["c", "d"]);
        assert!(emptiest(&zoned, 2).is_none());
    }

    #[test]
    fn source_must_be_down() {
        let up = SourceState::of(&service("c", "enabled", "up", false));
        let forced = SourceState::of(&service("c", "enabled", "up", true));
        let down = SourceState::of(&service("c", "enabled", "down", false));
        assert!(!up.is_down() && forced.is_down() && down.is_down());
    }
}
