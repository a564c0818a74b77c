//! Cinder's database as the simulated cloud keeps it: volumes, backups, the simulated
//! `cinder-manage`'s fault and runs. The HTTP API is in [`crate::cinder`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::keystone::state::Identity;
use crate::scenario::Scenario;

/// Cinder's database filter on a `host` column (`?host=` of the volume list, the volume of a
/// service), as its DB API documents it: the level is read from the wanted value. With a `#` it
/// is a pool: equality only. With an `@` it is a backend: equality, or `LIKE 'want#%'` (any pool
/// of it). With neither it is a host: equality, `LIKE 'want#%'` or `LIKE 'want@%'` (any backend
/// of it). The wanted value is not escaped, so `_` and `%` in it are SQL wildcards too.
pub fn host_filter_matches(want: &str, value: &str) -> bool {
    if value == want {
        return true;
    }
    if want.contains('#') {
        return false;
    }
    sql_like(&format!("{want}#%"), value)
        || (!want.contains('@') && sql_like(&format!("{want}@%"), value))
}

/// The rows `cinder-manage volume update_host --currenthost current` rewrites: its
/// `volume_get_all_by_host` takes `host = current OR host LIKE 'current#%'` (never `current@%`).
pub fn manage_update_host_matches(current: &str, value: &str) -> bool {
    value == current || sql_like(&format!("{current}#%"), value)
}

/// SQL `LIKE` (case-sensitive, as Cinder forces with `LIKE BINARY` on MySQL): `%` any run of
/// characters, `_` any one character, no escape character.
fn sql_like(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    // matches[j]: whether p[..i] matches v[..j], row by row over the pattern.
    let mut matches = vec![false; v.len() + 1];
    matches[0] = true;
    for &pc in &p {
        let mut next = vec![false; v.len() + 1];
        if pc == '%' {
            let mut seen = false;
            for j in 0..=v.len() {
                seen |= matches[j];
                next[j] = seen;
            }
        } else {
            for j in 1..=v.len() {
                next[j] = matches[j - 1] && (pc == '_' || pc == v[j - 1]);
            }
        }
        matches = next;
    }
    matches[v.len()]
}

#[derive(Debug, Clone, Serialize)]
pub struct SimAttachment {
    pub attachment_id: String,
    pub server_id: String,
    pub host_name: Option<String>,
    pub device: String,
    pub attached_at: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SimVolume {
    pub id: String,
    pub name: Option<String>,
    /// `os-vol-host-attr:host`.
    pub host: String,
    pub size: u64,
    pub status: String,
    pub project_id: String,
    pub user_id: String,
    pub volume_type: String,
    pub attachment: Option<SimAttachment>,
    pub created_at: f64,
    pub updated_at: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SimBackup {
    pub id: String,
    pub name: Option<String>,
    /// The cinder-backup host.
    pub host: String,
    pub volume_id: Option<String>,
    pub size: u64,
    pub status: String,
    pub container: Option<String>,
    pub object_count: u64,
    pub project_id: String,
    pub user_id: String,
    pub created_at: f64,
    pub updated_at: Option<f64>,
}

/// How the simulated `cinder-manage` misbehaves, for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ManageFaultMode {
    /// Exits 1 with a database error, changing nothing.
    Fail,
    /// Exits 0 and changes nothing (as after a typo).
    Noop,
}

/// An armed fault of the simulated `cinder-manage`, as posted to `/_sim/cinder-manage/fault`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManageFault {
    pub mode: ManageFaultMode,
    /// Only this command (`volume update_host` or `backup update_backup_host`); both if absent.
    #[serde(default)]
    pub command: Option<String>,
    /// How many runs it hits; every run if absent.
    #[serde(default)]
    pub count: Option<u32>,
}

/// One run of the simulated `cinder-manage` that would change something.
#[derive(Debug, Clone, Serialize)]
pub struct ManageRun {
    pub at: String,
    pub command: String,
    pub currenthost: String,
    pub newhost: String,
    /// How many rows it rewrote.
    pub updated: usize,
    pub fault: Option<ManageFaultMode>,
}

/// Cinder's database, as far as the simulated cloud keeps one.
#[derive(Debug, Clone, Default)]
pub struct CinderState {
    pub max_limit: usize,
    /// Pools by `node@backend`, as the scenario fixes them.
    pub pools: BTreeMap<String, Vec<String>>,
    pub volumes: Vec<SimVolume>,
    pub backups: Vec<SimBackup>,
    pub manage_fault: Option<ManageFault>,
    pub manage_runs: Vec<ManageRun>,
    /// How many times `cinder-manage backup list` ran.
    pub backup_lists: u64,
}

impl CinderState {
    pub fn new(scenario: &Scenario, identity: &Identity, now: f64) -> CinderState {
        // A project name to (project id, the id of a user of it).
        let owner = |project: Option<&str>| -> (String, String) {
            let user = match project {
                Some(p) => identity
                    .users
                    .iter()
                    .find(|u| identity.project(&u.project_id).is_some_and(|x| x.name == p)),
                None => identity.users.first(),
            };
            user.map(|u| (u.project_id.clone(), u.id.clone()))
                .unwrap_or_default()
        };
        let id_of = |given: &Option<String>| {
            given
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
        };
        let named = |name: &Option<String>, count: u32, k: u32| match name {
            Some(n) if count > 1 => Some(format!("{n}-{k}")),
            other => other.clone(),
        };
        let mut volumes = Vec::new();
        // Older first: Cinder lists the newest first.
        let total = scenario
            .volumes
            .iter()
            .map(|v| u64::from(v.count))
            .sum::<u64>()
            + scenario
                .backups
                .iter()
                .map(|b| u64::from(b.count))
                .sum::<u64>();
        let mut age = total as f64 + 60.0;
        for spec in &scenario.volumes {
            let (project_id, user_id) = owner(spec.project.as_deref());
            for k in 1..=spec.count {
                age -= 1.0;
                let created_at = (now - age).floor();
                let attachment = spec.server_id.as_ref().map(|server| SimAttachment {
                    attachment_id: uuid::Uuid::new_v4().to_string(),
                    server_id: server.clone(),
                    host_name: spec.attached_host.clone(),
                    device: spec.device.clone().unwrap_or_else(|| "/dev/vdb".into()),
                    attached_at: created_at,
                });
                let status = spec.status.clone().unwrap_or_else(|| {
                    if attachment.is_some() {
                        "in-use"
                    } else {
                        "available"
                    }
                    .into()
                });
                volumes.push(SimVolume {
                    id: id_of(&spec.id),
                    name: named(&spec.name, spec.count, k),
                    host: spec.host.clone(),
                    size: spec.size,
                    status,
                    project_id: project_id.clone(),
                    user_id: user_id.clone(),
                    volume_type: spec
                        .volume_type
                        .clone()
                        .unwrap_or_else(|| "__DEFAULT__".into()),
                    attachment,
                    created_at,
                    updated_at: Some(created_at),
                });
            }
        }
        let mut backups = Vec::new();
        for spec in &scenario.backups {
            let (project_id, user_id) = owner(spec.project.as_deref());
            let volume_id = spec.volume.as_ref().and_then(|r| {
                volumes
                    .iter()
                    .find(|v| v.id == *r || v.name.as_deref() == Some(r.as_str()))
                    .map(|v| v.id.clone())
            });
            for k in 1..=spec.count {
                age -= 1.0;
                let created_at = (now - age).floor();
                backups.push(SimBackup {
                    id: id_of(&spec.id),
                    name: named(&spec.name, spec.count, k),
                    host: spec.host.clone(),
                    volume_id: volume_id.clone(),
                    size: spec.size,
                    status: spec.status.clone().unwrap_or_else(|| "available".into()),
                    container: spec.container.clone(),
                    object_count: spec.object_count,
                    project_id: project_id.clone(),
                    user_id: user_id.clone(),
                    created_at,
                    updated_at: Some(created_at),
                });
            }
        }
        CinderState {
            max_limit: scenario.cinder.max_limit.max(1),
            pools: scenario.cinder.pools.clone(),
            volumes,
            backups,
            manage_fault: None,
            manage_runs: Vec::new(),
            backup_lists: 0,
        }
    }

    /// `cinder-manage volume update_host`: every volume whose host is `current` or
    /// `LIKE 'current#%'` gets `new`, verbatim. The number of rows rewritten.
    pub fn update_volume_host(&mut self, current: &str, new: &str, now: f64) -> usize {
        let mut n = 0;
        for v in self
            .volumes
            .iter_mut()
            .filter(|v| manage_update_host_matches(current, &v.host))
        {
            v.host = new.to_string();
            v.updated_at = Some(now);
            n += 1;
        }
        n
    }

    /// `cinder-manage backup update_backup_host`: exact matches only.
    pub fn update_backup_host(&mut self, current: &str, new: &str, now: f64) -> usize {
        let mut n = 0;
        for b in self.backups.iter_mut().filter(|b| b.host == current) {
            b.host = new.to_string();
            b.updated_at = Some(now);
            n += 1;
        }
        n
    }

    /// Takes one hit of the armed fault for `command`, if any.
    pub(crate) fn take_fault(&mut self, command: &str) -> Option<ManageFaultMode> {
        let f = self.manage_fault.as_mut()?;
        if f.command.as_deref().is_some_and(|c| c != command) {
            return None;
        }
        let mode = f.mode;
        if let Some(c) = f.count.as_mut() {
            *c = c.saturating_sub(1);
            if *c == 0 {
                self.manage_fault = None;
            }
        }
        Some(mode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The levels Cinder's DB API documents for a host filter, and SQL LIKE's wildcards.
    #[test]
    fn host_filter_levels_and_wildcards() {
        // Pool: equality only.
        assert!(host_filter_matches("c3@ceph#p", "c3@ceph#p"));
        assert!(!host_filter_matches("c3@ceph#p", "c3@ceph"));
        // Backend: itself or any of its pools, never another backend of the host.
        assert!(host_filter_matches("c3@ceph", "c3@ceph"));
        assert!(host_filter_matches("c3@ceph", "c3@ceph#p"));
        assert!(!host_filter_matches("c3@ceph", "c3@lvm#p"));
        assert!(!host_filter_matches("c3@ceph", "c3@ceph2#p"));
        // Host: itself, any backend, any pool.
        assert!(host_filter_matches("c3", "c3@lvm#p"));
        assert!(host_filter_matches("c3", "c3#p"));
        assert!(!host_filter_matches("c3", "c33@lvm"));
        // `_` in the wanted value is a one-character wildcard (the value is not escaped).
        assert!(host_filter_matches("c_3", "cX3@lvm"));
        assert!(sql_like("a%b%c", "aXXbYYc"));
        assert!(!sql_like("a%b%c", "aXXbYY"));
        assert!(sql_like("%", ""));
        assert!(!sql_like("_", ""));
        // cinder-manage update_host: equality or `current#%`, never `current@%`.
        assert!(manage_update_host_matches("c3@ceph", "c3@ceph#p"));
        assert!(manage_update_host_matches("c3@ceph", "c3@ceph"));
        assert!(!manage_update_host_matches("c3", "c3@ceph#p"));
        assert!(!manage_update_host_matches("c3@ceph#p", "c3@ceph"));
        assert!(!manage_update_host_matches("c3@ceph", "c33@ceph#p"));
    }
}
