//! Keeping spare hosts spare: `watch` disables each configured reserved host that is enabled
//! (with the reason `evacctl: reserved`), so that the scheduler puts no ordinary workload on
//! it, until a failure needs it ([`super::evacuate`] enables it then, and it is consumed).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use crate::core::evacuable::RESERVED_REASON;
use crate::core::targets::{self, RESERVE};
use crate::journal::Fields;
use crate::lock::HostLocks;
use crate::openstack::nova::{ComputeService, ServiceUpdate};
use crate::openstack::servers::MigrationFilter;
use crate::steps::StepContext;

/// Hosts already told about (once per process: a message each cycle would drown the log).
static TOLD: Mutex<Option<HashSet<String>>> = Mutex::new(None);

fn tell_once(host: &str, text: &str) {
    let mut told = TOLD.lock().unwrap_or_else(|e| e.into_inner());
    if told
        .get_or_insert_with(HashSet::new)
        .insert(host.to_string())
    {
        tracing::warn!("{text}");
    }
}

/// Disables the configured reserved hosts that are enabled, up, not consumed by a failure
/// (the journal), and hold no server; each journaled (intent, result) under the host's lock.
/// `services`: the cycle's nova-compute services. The hosts reserved now.
pub fn keep_spares(
    cx: &StepContext<'_>,
    services: &[&ComputeService],
    locks: Option<&HostLocks>,
) -> anyhow::Result<Vec<String>> {
    let cfg = &cx.config.evacuation;
    if cfg.reserved_hosts.is_empty() && cfg.reserved_aggregate_key.is_none() {
        return Ok(Vec::new());
    }
    let journal = cx.writable_journal()?;
    let session = cx.session()?;
    let nova = session.nova();
    let aggregates = match &cfg.reserved_aggregate_key {
        Some(_) => super::evacuate::aggregate_facts(&nova.list_aggregates()?),
        None => Vec::new(),
    };
    let by_host: HashMap<&str, &ComputeService> =
        services.iter().map(|s| (s.host.as_str(), *s)).collect();
    // Only what the configuration names: a host merely marked reserved in Nova is already so.
    let named = targets::reserved_hosts(cfg, &[], &aggregates, &HashSet::new());
    let enabled = |h: &String| by_host.get(h.as_str()).is_some_and(|s| s.is_enabled());
    // The journal is read only when a spare is enabled (rare): not every cycle.
    let configured = if named.iter().any(enabled) {
        let consumed = crate::journal::summary(&cx.journal_path, false)
            .map_err(anyhow::Error::from)?
            .0
            .consumed_spares();
        targets::reserved_hosts(cfg, &[], &aggregates, &consumed)
    } else {
        named
    };
    let mut reserved = Vec::new();
    let mut in_flight = None;
    for host in configured {
        let Some(svc) = by_host.get(host.as_str()) else {
            tell_once(
                &host,
                &format!("reserved host {host} runs no nova-compute Nova knows of"),
            );
            continue;
        };
        // Disabled (as reserved or by someone for a reason of theirs), or not alive: left
        // as it is. A dead spare is the failure path's to handle.
        if !svc.is_enabled() || !svc.is_up() || svc.is_forced_down() {
            continue;
        }
        let servers = nova.list_servers_on_host(&host)?;
        if !servers.is_empty() {
            tell_once(
                &host,
                &format!(
                    "reserved host {host} is enabled and holds {} server(s): not reserving it \
                     (move them away, or remove it from [evacuation] reserved_hosts)",
                    servers.len()
                ),
            );
            continue;
        }
        // An evacuation onto it may be on its way (another controller's run, whose journal
        // this is not, enabled it a moment ago): its servers are not there yet.
        // One listing for every spare of the cycle, asked only when one gets this far.
        if in_flight.is_none() {
            in_flight = Some(
                nova.list_migrations(&MigrationFilter {
                    migration_type: Some("evacuation"),
                    ..Default::default()
                })?
                .into_iter()
                .filter(|m| m.is_in_progress())
                .collect::<Vec<_>>(),
            );
        }
        let incoming = in_flight
            .iter()
            .flatten()
            .filter(|m| m.dest_compute.as_deref() == Some(host.as_str()))
            .count();
        if incoming > 0 {
            tracing::info!("{host}: not reserved: {incoming} evacuation(s) on their way to it");
            continue;
        }
        let _held = match locks.map(|l| l.acquire(&host, Duration::ZERO)) {
            Some(Err(e)) => {
                tracing::info!("{host}: not reserved this cycle: {e}");
                continue;
            }
            held => held,
        };
        super::isolate::change(
            &nova,
            journal,
            &svc.id,
            RESERVE,
            ServiceUpdate::disable(Some(RESERVED_REASON)),
            Fields {
                host: Some(&host),
                detail: Some(RESERVED_REASON),
                ..Default::default()
            },
        )?;
        tracing::info!("{host}: disabled as a reserved host ({RESERVED_REASON})");
        reserved.push(host);
    }
    Ok(reserved)
}
