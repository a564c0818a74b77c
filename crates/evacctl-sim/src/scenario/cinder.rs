//! `[cinder]`, `[[volumes]]` and `[[backups]]` of a scenario (see [`crate::cinder`]).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::{Deserialize, Serialize};

use super::{PathElem, Scenario};

/// `[cinder]`: API settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CinderSpec {
    /// `osapi_max_limit`: the largest page, and the page size when no `limit` is given.
    #[serde(default = "default_max_limit")]
    pub max_limit: usize,
    /// The pools a cinder-volume `node@backend` reports to the scheduler. Default: the backend's
    /// name and every pool a volume of that backend has (one configuration per backend).
    #[serde(default)]
    pub pools: BTreeMap<String, Vec<String>>,
}

impl Default for CinderSpec {
    fn default() -> Self {
        CinderSpec {
            max_limit: default_max_limit(),
            pools: BTreeMap::new(),
        }
    }
}

fn default_max_limit() -> usize {
    1000
}

fn default_size() -> u64 {
    1
}

fn default_count() -> u32 {
    1
}

/// `[[volumes]]`: one volume (or `count` alike, named `NAME-1`...).
///
/// ```toml
/// [[volumes]]
/// name = "db-data"
/// host = "compute-3@ceph#ceph"   # os-vol-host-attr:host
/// size = 10                      # GiB, default 1
/// server_id = "..."              # attached to this server (status in-use)
/// attached_host = "compute-3"    # the compute host of the attachment
/// project = "admin"              # a scenario user's project (default: the first user's)
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeSpec {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    pub host: String,
    #[serde(default = "default_size")]
    pub size: u64,
    /// Default: `in-use` when attached, else `available`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub project: Option<String>,
    #[serde(default)]
    pub server_id: Option<String>,
    #[serde(default)]
    pub attached_host: Option<String>,
    #[serde(default)]
    pub device: Option<String>,
    #[serde(default)]
    pub volume_type: Option<String>,
    #[serde(default = "default_count")]
    pub count: u32,
}

/// `[[backups]]`: one backup (or `count` alike).
///
/// ```toml
/// [[backups]]
/// name = "nightly"
/// host = "compute-3"             # the cinder-backup host
/// volume = "db-data"             # a volume's name or id (optional)
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupSpec {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    pub host: String,
    #[serde(default)]
    pub volume: Option<String>,
    #[serde(default = "default_size")]
    pub size: u64,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub container: Option<String>,
    #[serde(default)]
    pub object_count: u64,
    #[serde(default)]
    pub project: Option<String>,
    #[serde(default = "default_count")]
    pub count: u32,
}

/// The checks of `[[volumes]]` and `[[backups]]` serde cannot make.
pub(crate) fn validate(s: &Scenario) -> Result<(), (Vec<PathElem>, String)> {
    use PathElem::{Index, Key};
    let projects: BTreeSet<&str> = s.users.iter().map(|u| u.project.as_str()).collect();
    let mut ids = HashSet::new();
    let mut volume_refs = HashSet::new();
    for (i, v) in s.volumes.iter().enumerate() {
        let at = |k: &str| vec![Key("volumes".into()), Index(i), Key(k.into())];
        if v.host.trim().is_empty() || v.host.contains([' ', '/']) {
            return Err((at("host"), format!("invalid volume host {:?}", v.host)));
        }
        if v.size == 0 {
            return Err((at("size"), "must be at least 1 (GiB)".into()));
        }
        if !(1..=100_000).contains(&v.count) {
            return Err((at("count"), "must be 1 to 100000".into()));
        }
        if v.id.is_some() && v.count > 1 {
            return Err((at("id"), "an id names one volume: not with count".into()));
        }
        if let Some(id) = &v.id
            && !ids.insert(id.clone())
        {
            return Err((at("id"), format!("id {id:?} is used twice")));
        }
        if let Some(p) = &v.project
            && !projects.contains(p.as_str())
        {
            return Err((at("project"), format!("no user has project {p:?}")));
        }
        if v.server_id.is_none() && v.attached_host.is_some() {
            return Err((at("attached_host"), "needs server_id".into()));
        }
        volume_refs.extend(v.id.clone());
        if let Some(n) = &v.name {
            if v.count == 1 {
                volume_refs.insert(n.clone());
            } else {
                volume_refs.extend((1..=v.count).map(|k| format!("{n}-{k}")));
            }
        }
    }
    for (i, b) in s.backups.iter().enumerate() {
        let at = |k: &str| vec![Key("backups".into()), Index(i), Key(k.into())];
        if b.host.trim().is_empty() || b.host.contains([' ', '/', '@', '#']) {
            return Err((
                at("host"),
                format!(
                    "invalid backup host {:?} (a cinder-backup host: no @backend)",
                    b.host
                ),
            ));
        }
        if !(1..=100_000).contains(&b.count) {
            return Err((at("count"), "must be 1 to 100000".into()));
        }
        if let Some(id) = &b.id
            && !ids.insert(id.clone())
        {
            return Err((at("id"), format!("id {id:?} is used twice")));
        }
        if let Some(v) = &b.volume
            && !volume_refs.contains(v)
        {
            return Err((at("volume"), format!("no volume named {v:?}")));
        }
        if let Some(p) = &b.project
            && !projects.contains(p.as_str())
        {
            return Err((at("project"), format!("no user has project {p:?}")));
        }
    }
    Ok(())
}
