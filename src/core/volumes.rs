//! Moving a dead host's Cinder volumes and backups (runbook step 3, origin B): which volumes and
//! backups move, the `cinder-manage` commands that move them, what refuses the move, and the
//! proof afterwards. Pure: the caller brings the facts (volumes, services, backups).
//!
//! Cinder's rules, read in its source (`cinder/cmd/manage.py`, `cinder/db/sqlalchemy/api.py`):
//! - A volume's host is `node@backend#pool`: the cinder-volume service `node@backend` that
//!   manages it, and the pool within that backend.
//! - `cinder-manage volume update_host --currenthost C --newhost N` selects the volumes whose
//!   host is `C` or is `LIKE 'C#%'` (SQL `LIKE`: `_` and `%` are wildcards) and writes `N`
//!   verbatim: `--currenthost node@b` also takes `node@b#pool`, and the pool is lost unless `N`
//!   names one. It checks neither name, prints nothing and exits 0 when nothing matched.
//! - `cinder-manage backup update_backup_host --currenthost C --newhost N` selects the backups
//!   whose host is exactly `C` (a cinder-backup host, no backend), silently too.
//! - The API's `host` filter (`_filter_host`) matches `H`, `H@%` and `H#%` for a plain host,
//!   `H` and `H#%` for `H@backend`, and only `H` for a pool, also with `LIKE`.
//!
//! evacctl keeps each volume's pool: one `update_host` per `node@backend#pool`, to the same
//! pool on the new node; pool-less volumes (from before pools) go last, with `node@backend`,
//! since that pattern also selects the pooled ones.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::core::Finding;
use crate::core::names;

/// A Cinder service as the plan reads it (the steps give Cinder's `os-services` entries).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CinderService {
    pub binary: String,
    /// `node@backend` for cinder-volume, `node` for the others.
    pub host: String,
    pub enabled: bool,
    pub up: bool,
    pub disabled_reason: Option<String>,
}

impl CinderService {
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    pub fn is_up(&self) -> bool {
        self.up
    }

    /// The node part of `node@backend`.
    pub fn node(&self) -> &str {
        self.host
            .split_once('@')
            .map_or(self.host.as_str(), |(n, _)| n)
    }

    /// The backend part of `node@backend`, if any.
    pub fn backend(&self) -> Option<&str> {
        self.host.split_once('@').map(|(_, b)| b)
    }
}

/// A volume as the plan and the proof read it (the steps give Cinder's admin view).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CinderVolume {
    pub id: String,
    pub name: Option<String>,
    pub status: String,
    /// GiB.
    pub size: u64,
    pub project_id: Option<String>,
    /// `node@backend#pool`; `None` when Cinder shows none (never scheduled, or not an admin).
    pub host: Option<String>,
    pub attachments: Vec<Attachment>,
}

impl CinderVolume {
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }
}

/// Where a volume is attached: the server, and the compute host Cinder says it runs on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attachment {
    pub server_id: Option<String>,
    pub host_name: Option<String>,
}

/// A Cinder host string `node[@backend][#pool]`, split as Cinder's `extract_host` does.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct CinderHost {
    pub node: String,
    pub backend: Option<String>,
    pub pool: Option<String>,
}

impl CinderHost {
    pub fn parse(s: &str) -> CinderHost {
        let (before_pool, pool) = match s.split_once('#') {
            Some((b, p)) => (b, Some(p.to_string())),
            None => (s, None),
        };
        let (node, backend) = match before_pool.split_once('@') {
            Some((n, b)) => (n, Some(b.to_string())),
            None => (before_pool, None),
        };
        CinderHost {
            node: node.to_string(),
            backend,
            pool,
        }
    }

    /// `node@backend` (or `node`): the cinder-volume service's host.
    pub fn service_host(&self) -> String {
        match &self.backend {
            Some(b) => format!("{}@{b}", self.node),
            None => self.node.clone(),
        }
    }

    /// The same backend and pool on another node.
    pub fn on_node(&self, node: &str) -> CinderHost {
        CinderHost {
            node: node.to_string(),
            ..self.clone()
        }
    }
}

impl fmt::Display for CinderHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.service_host())?;
        if let Some(p) = &self.pool {
            write!(f, "#{p}")?;
        }
        Ok(())
    }
}

/// SQL `LIKE` without an escape character: `%` is any run of characters, `_` any one; the
/// rest compares exactly (as PostgreSQL and SQLite with `LIKE BINARY`-like collations).
pub fn like(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    // Greedy matching with backtracking to the last `%`: linear in practice.
    let (mut pi, mut vi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        match p.get(pi) {
            Some('%') => {
                star = Some((pi, vi));
                pi += 1;
            }
            Some(c) if *c == '_' || *c == v[vi] => {
                pi += 1;
                vi += 1;
            }
            _ => match star {
                Some((sp, sv)) => {
                    pi = sp + 1;
                    vi = sv + 1;
                    star = Some((sp, sv + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '%')
}

/// What the API's `host` filter matches (`_filter_host` with its automatic level).
pub fn api_host_filter(wanted: &str, value: &str) -> bool {
    if value == wanted {
        return true;
    }
    if wanted.contains('#') {
        return false;
    }
    if like(&format!("{wanted}#%"), value) {
        return true;
    }
    !wanted.contains('@') && like(&format!("{wanted}@%"), value)
}

/// Whether `cinder-manage volume update_host --currenthost current` takes a volume whose host is
/// `value` (`volume_get_all_by_host`).
pub fn update_host_selects(current: &str, value: &str) -> bool {
    value == current || like(&format!("{current}#%"), value)
}

/// One line of `cinder-manage backup list`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ManagedBackup {
    pub id: String,
    pub user_id: String,
    pub project_id: String,
    /// The cinder-backup host (no backend).
    pub host: String,
    pub name: String,
    pub container: String,
    pub status: String,
    pub size: String,
    pub object_count: String,
}

/// Reads the table `cinder-manage backup list` prints: a header line, then one line per backup,
/// tab-separated, each field padded with spaces (`%-32s\t%-32s\t...`). Lines before the header
/// (warnings) are skipped; a line after it that is not a backup is an error, since the proof
/// depends on reading every backup.
pub fn parse_backup_list(text: &str) -> Result<Vec<ManagedBackup>, String> {
    const COLUMNS: usize = 9;
    let mut lines = text.lines().enumerate();
    let header = lines.by_ref().find(|(_, l)| {
        let cols: Vec<&str> = l.split('\t').map(str::trim).collect();
        cols.first() == Some(&"ID") && cols.get(3) == Some(&"Host")
    });
    if header.is_none() {
        return Err("no header line (ID, User ID, Project ID, Host, ...) in its output".into());
    }
    let mut out = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').map(str::trim).collect();
        if cols.len() < COLUMNS {
            return Err(format!(
                "line {}: {} tab-separated fields, expected {COLUMNS}: {line:?}",
                i + 1,
                cols.len()
            ));
        }
        // A name holding tabs spreads over several fields: the others are fixed, so take the
        // first four and the last four, and the name is what lies between.
        let tail = cols.len() - 4;
        out.push(ManagedBackup {
            id: cols[0].to_string(),
            user_id: cols[1].to_string(),
            project_id: cols[2].to_string(),
            host: cols[3].to_string(),
            name: cols[4..tail].join("\t"),
            container: cols[tail].to_string(),
            status: cols[tail + 1].to_string(),
            size: cols[tail + 2].to_string(),
            object_count: cols[tail + 3].to_string(),
        });
    }
    Ok(out)
}

/// What the operator asked for, checked for shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Request {
    /// The failed node (no backend).
    pub failed_host: String,
    /// The node that takes the volumes over (no backend).
    pub new_host: String,
    /// Only this backend; all of the failed host's when `None`.
    pub backend: Option<String>,
}

impl Request {
    /// Accepts `node` or `node@backend` for both hosts (a backend there means `--backend`);
    /// a pool is refused, since evacctl keeps each volume's own.
    pub fn new(failed: &str, to: &str, backend: Option<&str>) -> Result<Request, Refusal> {
        let mut chosen = backend.map(str::to_string);
        let mut node_of = |what: &str, s: &str| -> Result<String, Refusal> {
            let h = CinderHost::parse(s.trim());
            if h.pool.is_some() {
                return Err(Refusal::usage(format!(
                    "{what} `{s}` names a pool: give a host (`node` or `node@backend`); \
                     evacctl keeps each volume's pool"
                )));
            }
            if h.node.is_empty() || h.backend.as_deref() == Some("") {
                return Err(Refusal::usage(format!("{what} `{s}` is not a host name")));
            }
            if let Some(b) = h.backend {
                match &chosen {
                    Some(c) if *c != b => {
                        return Err(Refusal::usage(format!(
                            "{what} `{s}` names backend `{b}` but the backend asked for is `{c}`"
                        )));
                    }
                    _ => chosen = Some(b),
                }
            }
            Ok(h.node)
        };
        let failed_host = node_of("FAILED_HOST", failed)?;
        let new_host = node_of("--to", to)?;
        if chosen.as_deref() == Some("") {
            return Err(Refusal::usage("--backend must not be empty"));
        }
        if failed_host == new_host {
            return Err(Refusal::usage(format!(
                "FAILED_HOST and --to are the same host `{failed_host}`: nothing would move"
            )));
        }
        Ok(Request {
            failed_host,
            new_host,
            backend: chosen,
        })
    }
}

/// Why nothing may run, and the exit code that says so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: Finding,
    pub message: String,
}

impl Refusal {
    fn usage(message: impl Into<String>) -> Refusal {
        Refusal {
            code: Finding::Usage,
            message: message.into(),
        }
    }

    fn refused(message: impl Into<String>) -> Refusal {
        Refusal {
            code: Finding::Refused,
            message: message.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Which `cinder-manage` command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CommandKind {
    /// `volume update_host`.
    VolumeUpdateHost,
    /// `backup update_backup_host`.
    BackupUpdateBackupHost,
}

/// One `cinder-manage` run of the plan (its arguments after the configured argv).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ManageCommand {
    pub kind: CommandKind,
    pub current_host: String,
    pub new_host: String,
    /// The planned volumes or backups it moves.
    pub moves: Vec<String>,
    /// Indices of earlier commands whose volumes this one's `--currenthost` also selects: it
    /// runs only if they all succeeded (else it would move their volumes without the pool).
    pub after: Vec<usize>,
}

impl ManageCommand {
    pub fn args(&self) -> Vec<String> {
        let (category, action) = match self.kind {
            CommandKind::VolumeUpdateHost => ("volume", "update_host"),
            CommandKind::BackupUpdateBackupHost => ("backup", "update_backup_host"),
        };
        [
            category,
            action,
            "--currenthost",
            &self.current_host,
            "--newhost",
            &self.new_host,
        ]
        .map(str::to_string)
        .to_vec()
    }
}

/// A volume that moves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VolumeMove {
    pub id: String,
    pub name: Option<String>,
    pub status: String,
    pub size_gb: u64,
    pub project_id: Option<String>,
    /// The servers it is attached to.
    pub servers: Vec<String>,
    /// The compute hosts of those attachments.
    pub attached_hosts: Vec<String>,
    pub current_host: String,
    pub new_host: String,
}

/// A backup that moves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BackupMove {
    pub id: String,
    pub name: String,
    pub status: String,
    pub size_gb: String,
    pub project_id: String,
    pub current_host: String,
    pub new_host: String,
}

/// What will move and how.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub request: Request,
    pub volumes: Vec<VolumeMove>,
    pub backups: Vec<BackupMove>,
    pub commands: Vec<ManageCommand>,
    /// Whether backups are in scope (not with `--backend`).
    pub backups_in_scope: bool,
    pub warnings: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.volumes.is_empty() && self.backups.is_empty()
    }

    /// Whether a volume host is one this plan must empty: on the failed node, in scope.
    pub fn in_scope(&self, host: &str) -> bool {
        let h = CinderHost::parse(host);
        h.node == self.request.failed_host
            && self
                .request
                .backend
                .as_ref()
                .is_none_or(|b| h.backend.as_ref() == Some(b))
    }
}

/// The facts a plan is made from.
#[derive(Clone, Copy, Debug)]
pub struct Facts<'a> {
    /// Cinder's services (all binaries).
    pub services: &'a [CinderService],
    /// The volume list as Cinder answered it (possibly more than the failed host's).
    pub volumes: &'a [CinderVolume],
    /// `cinder-manage backup list`.
    pub backups: &'a [ManagedBackup],
    /// The scheduler's pools (`node@backend#pool`); `None` when they could not be read.
    pub pools: Option<&'a [String]>,
}

/// CinderVolume states in which something is under way: moving the volume's host under it may
/// leave the operation stuck. Not refused (the host is dead, nothing is under way on it any
/// more), but said.
fn is_transitional(status: &str) -> bool {
    status.ends_with("ing") && status != "in-use"
}

fn unknown_host(what: &str, name: &str, binary: &str, known: &BTreeSet<&str>) -> Refusal {
    let hint = names::did_you_mean(name, known.iter().copied());
    let list: Vec<&str> = known.iter().copied().collect();
    Refusal::usage(format!(
        "unknown {what} `{name}`: no {binary} service runs on it{hint} ({binary} hosts: {})",
        if list.is_empty() {
            "none".to_string()
        } else {
            list.join(", ")
        }
    ))
}

/// The names of the request exist: FAILED_HOST runs (or ran) a cinder-volume or cinder-backup,
/// or has volumes; NEW_HOST runs one of them; `--backend` is one of FAILED_HOST's. Needs only
/// Cinder's API, so a typo is refused before `cinder-manage` runs at all, even to list.
pub fn check_names(
    req: &Request,
    services: &[CinderService],
    volumes: &[CinderVolume],
) -> Result<(), Refusal> {
    let volume_nodes: BTreeSet<&str> = services
        .iter()
        .filter(|s| s.binary == "cinder-volume")
        .map(|s| s.node())
        .collect();
    let backup_nodes: BTreeSet<&str> = services
        .iter()
        .filter(|s| s.binary == "cinder-backup")
        .map(|s| s.host.as_str())
        .collect();
    let on_failed: Vec<CinderHost> = volumes
        .iter()
        .filter_map(|v| Some(CinderHost::parse(v.host()?)))
        .filter(|h| h.node == req.failed_host)
        .collect();
    let known = |h: &str| volume_nodes.contains(h) || backup_nodes.contains(h);
    if !known(&req.failed_host) && on_failed.is_empty() {
        return Err(unknown_host(
            "FAILED_HOST",
            &req.failed_host,
            "cinder-volume",
            &volume_nodes,
        ));
    }
    let to_error = (!known(&req.new_host))
        .then(|| unknown_host("--to host", &req.new_host, "cinder-volume", &volume_nodes));
    let failed_backends: BTreeSet<String> = services
        .iter()
        .filter(|s| s.binary == "cinder-volume" && s.node() == req.failed_host)
        .filter_map(|s| s.backend().map(str::to_string))
        .chain(on_failed.into_iter().filter_map(|h| h.backend))
        .collect();
    let backend_error = req
        .backend
        .as_ref()
        .filter(|b| !failed_backends.contains(*b))
        .map(|b| {
            let hint = names::did_you_mean(b, failed_backends.iter().map(String::as_str));
            let list: Vec<&str> = failed_backends.iter().map(String::as_str).collect();
            Refusal::usage(format!(
                "unknown backend `{b}` for {}{hint} (its backends: {})",
                req.failed_host,
                list_or_none(&list)
            ))
        });
    // Both typos at once are both named: fixing one should not reveal the other.
    match (to_error, backend_error) {
        (Some(t), Some(b)) => Err(Refusal::usage(format!("{}; and {}", b.message, t.message))),
        (Some(e), None) | (None, Some(e)) => Err(e),
        (None, None) => Ok(()),
    }
}

/// Validates the request against the facts and plans the move. `Ok` with an empty plan when
/// there is nothing to move; `Err` when anything is wrong, before anything runs.
pub fn plan(req: &Request, facts: &Facts<'_>) -> Result<Plan, Refusal> {
    let cinder_volumes: Vec<&CinderService> = facts
        .services
        .iter()
        .filter(|s| s.binary == "cinder-volume")
        .collect();
    let cinder_backups: Vec<&CinderService> = facts
        .services
        .iter()
        .filter(|s| s.binary == "cinder-backup")
        .collect();

    // The failed host's volumes: literally on its node (the API's LIKE may bring others).
    let on_failed: Vec<(&CinderVolume, CinderHost)> = facts
        .volumes
        .iter()
        .filter_map(|v| {
            let h = CinderHost::parse(v.host()?);
            (h.node == req.failed_host).then_some((v, h))
        })
        .collect();
    let failed_backups: Vec<&ManagedBackup> = facts
        .backups
        .iter()
        .filter(|b| b.host == req.failed_host)
        .collect();

    // Names first: a typo never gets further.
    check_names(req, facts.services, facts.volumes)?;

    let mut warnings = Vec::new();
    let in_scope = |h: &CinderHost| req.backend.is_none() || h.backend == req.backend;
    let out_of_scope = on_failed.iter().filter(|(_, h)| !in_scope(h)).count();
    if out_of_scope > 0 {
        warnings.push(format!(
            "{out_of_scope} volume(s) of {} on other backends stay (only backend {} was asked for)",
            req.failed_host,
            req.backend.as_deref().unwrap_or("-")
        ));
    }
    let backups_in_scope = req.backend.is_none();
    if !backups_in_scope && !failed_backups.is_empty() {
        warnings.push(format!(
            "{} backup(s) of {} stay: backups move only without --backend",
            failed_backups.len(),
            req.failed_host
        ));
    }

    let mut volumes: Vec<VolumeMove> = on_failed
        .iter()
        .filter(|(_, h)| in_scope(h))
        .map(|(v, h)| VolumeMove {
            id: v.id.clone(),
            name: v.name.clone(),
            status: v.status.clone(),
            size_gb: v.size,
            project_id: v.project_id.clone(),
            servers: v
                .attachments
                .iter()
                .filter_map(|a| a.server_id.clone())
                .collect(),
            attached_hosts: v
                .attachments
                .iter()
                .filter_map(|a| a.host_name.clone())
                .collect(),
            current_host: h.to_string(),
            new_host: h.on_node(&req.new_host).to_string(),
        })
        .collect();
    volumes
        .sort_by(|a, b| (&a.current_host, &a.name, &a.id).cmp(&(&b.current_host, &b.name, &b.id)));
    for v in volumes.iter().filter(|v| is_transitional(&v.status)) {
        warnings.push(format!(
            "volume {} is `{}`: an operation was under way when its host failed",
            v.id, v.status
        ));
    }
    let backups: Vec<BackupMove> = if backups_in_scope {
        failed_backups
            .iter()
            .map(|b| BackupMove {
                id: b.id.clone(),
                name: b.name.clone(),
                status: b.status.clone(),
                size_gb: b.size.clone(),
                project_id: b.project_id.clone(),
                current_host: b.host.clone(),
                new_host: req.new_host.clone(),
            })
            .collect()
    } else {
        Vec::new()
    };

    let mut plan = Plan {
        request: req.clone(),
        volumes,
        backups,
        commands: Vec::new(),
        backups_in_scope,
        warnings,
    };
    if plan.is_empty() {
        return Ok(plan);
    }

    check_services(req, &plan, &cinder_volumes, &cinder_backups)?;
    let pool_warnings = check_pools(&plan, facts.pools)?;
    plan.warnings.extend(pool_warnings);
    plan.commands = commands(&plan);
    check_other_hosts(&plan, facts.volumes)?;
    Ok(plan)
}

/// The target runs an enabled, up service of each backend that moves (and cinder-backup when
/// backups move); the failed host's are down. Every problem is told at once.
fn check_services(
    req: &Request,
    plan: &Plan,
    cinder_volumes: &[&CinderService],
    cinder_backups: &[&CinderService],
) -> Result<(), Refusal> {
    let mut usage = Vec::new();
    let mut refused = Vec::new();
    let mut by_backend: BTreeMap<Option<String>, usize> = BTreeMap::new();
    for v in &plan.volumes {
        *by_backend
            .entry(CinderHost::parse(&v.current_host).backend)
            .or_default() += 1;
    }
    let target_services: Vec<&str> = cinder_volumes
        .iter()
        .filter(|s| s.node() == req.new_host)
        .map(|s| s.host.as_str())
        .collect();
    for (backend, count) in &by_backend {
        let from = CinderHost {
            node: req.failed_host.clone(),
            backend: backend.clone(),
            pool: None,
        };
        let to = from.on_node(&req.new_host).service_host();
        match cinder_volumes.iter().find(|s| s.host == to) {
            None => {
                let elsewhere: Vec<&str> = cinder_volumes
                    .iter()
                    .filter(|s| s.backend() == backend.as_deref() && s.node() != req.failed_host)
                    .map(|s| s.host.as_str())
                    .collect();
                usage.push(format!(
                    "backend mismatch: {count} volume(s) on {} but {} runs no cinder-volume {to} \
                     (it runs: {}; {} is on: {})",
                    from.service_host(),
                    req.new_host,
                    list_or_none(&target_services),
                    backend
                        .as_deref()
                        .map_or("a backend-less service".to_string(), |b| {
                            format!("backend {b}")
                        }),
                    list_or_none(&elsewhere),
                ));
            }
            Some(s) => {
                if !s.is_enabled() {
                    refused.push(format!(
                        "cinder-volume {to} is disabled{}",
                        s.disabled_reason
                            .as_deref()
                            .map(|r| format!(" ({r})"))
                            .unwrap_or_default()
                    ));
                }
                if !s.is_up() {
                    refused.push(format!("cinder-volume {to} is down"));
                }
            }
        }
        let source = from.service_host();
        if let Some(s) = cinder_volumes.iter().find(|s| s.host == source)
            && s.is_up()
        {
            refused.push(format!(
                "cinder-volume {source} is still up: it still manages its volumes (fence the host \
                 and wait until Cinder sees the service down)"
            ));
        }
    }
    if !plan.backups.is_empty() {
        match cinder_backups.iter().find(|s| s.host == req.new_host) {
            None => {
                let hosts: Vec<&str> = cinder_backups
                    .iter()
                    .filter(|s| s.host != req.failed_host)
                    .map(|s| s.host.as_str())
                    .collect();
                usage.push(format!(
                    "{} backup(s) on {} but {} runs no cinder-backup (cinder-backup hosts: {})",
                    plan.backups.len(),
                    req.failed_host,
                    req.new_host,
                    list_or_none(&hosts)
                ));
            }
            Some(s) => {
                if !s.is_enabled() {
                    refused.push(format!("cinder-backup on {} is disabled", req.new_host));
                }
                if !s.is_up() {
                    refused.push(format!("cinder-backup on {} is down", req.new_host));
                }
            }
        }
        if let Some(s) = cinder_backups.iter().find(|s| s.host == req.failed_host)
            && s.is_up()
        {
            refused.push(format!(
                "cinder-backup on {} is still up: it still owns its backups",
                req.failed_host
            ));
        }
    }
    if !usage.is_empty() {
        usage.extend(refused);
        return Err(Refusal::usage(usage.join("; ")));
    }
    if !refused.is_empty() {
        return Err(Refusal::refused(refused.join("; ")));
    }
    Ok(())
}

/// Each volume keeps its pool: the new host's backend must have it. Only the scheduler knows
/// (`get_pools`); a backend that reports no pool yet (its first stats are not in), or pools that
/// could not be read, leave the check undone, said in a warning.
fn check_pools(plan: &Plan, pools: Option<&[String]>) -> Result<Vec<String>, Refusal> {
    let targets: BTreeSet<CinderHost> = plan
        .volumes
        .iter()
        .map(|v| CinderHost::parse(&v.new_host))
        .filter(|h| h.pool.is_some())
        .collect();
    let Some(pools) = pools else {
        return Ok(if targets.is_empty() {
            Vec::new()
        } else {
            vec![
                "the scheduler's pools could not be read: the new host's pools are not checked"
                    .into(),
            ]
        });
    };
    let mut warnings = Vec::new();
    let mut missing = Vec::new();
    let by_service = |service: &str| -> Vec<String> {
        pools
            .iter()
            .map(|p| CinderHost::parse(p))
            .filter(|p| p.service_host() == service)
            .filter_map(|p| p.pool)
            .collect()
    };
    for t in &targets {
        let service = t.service_host();
        let offered = by_service(&service);
        let pool = t.pool.as_deref().unwrap_or("");
        if offered.is_empty() {
            warnings.push(format!(
                "{service} reports no pool to the scheduler yet: pool `{pool}` is not checked"
            ));
        } else if !offered.iter().any(|p| p == pool) {
            missing.push(format!(
                "{service} has no pool `{pool}` (it has: {})",
                offered.join(", ")
            ));
        }
    }
    if missing.is_empty() {
        Ok(warnings)
    } else {
        Err(Refusal::refused(format!(
            "pool mismatch: {} (evacctl keeps each volume's pool; the backends' configurations differ)",
            missing.join("; ")
        )))
    }
}

fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// One `update_host` per current host string, pooled ones first (a pool-less pattern also
/// selects the pooled volumes), then one `update_backup_host`.
fn commands(plan: &Plan) -> Vec<ManageCommand> {
    let mut groups: BTreeMap<(bool, &str), (&str, Vec<String>)> = BTreeMap::new();
    for v in &plan.volumes {
        let pool_less = CinderHost::parse(&v.current_host).pool.is_none();
        groups
            .entry((pool_less, v.current_host.as_str()))
            .or_insert((v.new_host.as_str(), Vec::new()))
            .1
            .push(v.id.clone());
    }
    let mut out: Vec<ManageCommand> = Vec::new();
    for ((_, current), (new, ids)) in groups {
        let after = out
            .iter()
            .enumerate()
            .filter(|(_, c)| update_host_selects(current, &c.current_host))
            .map(|(i, _)| i)
            .collect();
        out.push(ManageCommand {
            kind: CommandKind::VolumeUpdateHost,
            current_host: current.to_string(),
            new_host: new.to_string(),
            moves: ids,
            after,
        });
    }
    if !plan.backups.is_empty() {
        out.push(ManageCommand {
            kind: CommandKind::BackupUpdateBackupHost,
            current_host: plan.request.failed_host.clone(),
            new_host: plan.request.new_host.clone(),
            moves: plan.backups.iter().map(|b| b.id.clone()).collect(),
            after: Vec::new(),
        });
    }
    out
}

/// cinder-manage's `LIKE` treats `_` and `%` in a host name as wildcards: refuse a command that
/// would also take volumes of another host.
fn check_other_hosts(plan: &Plan, listed: &[CinderVolume]) -> Result<(), Refusal> {
    let mut hits = Vec::new();
    for c in plan
        .commands
        .iter()
        .filter(|c| c.kind == CommandKind::VolumeUpdateHost)
    {
        for v in listed {
            let Some(host) = v.host() else { continue };
            if !plan.in_scope(host) && update_host_selects(&c.current_host, host) {
                hits.push(format!(
                    "`--currenthost {}` would also move volume {} of {host}",
                    c.current_host, v.id
                ));
            }
        }
    }
    if hits.is_empty() {
        Ok(())
    } else {
        Err(Refusal::refused(format!(
            "cinder-manage matches hosts with SQL LIKE (`_` and `%` are wildcards): {}",
            hits.join("; ")
        )))
    }
}

/// Where a planned volume or backup is after the move.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// On the planned new host.
    Moved,
    /// Still on the failed host.
    Left { host: String },
    /// Somewhere else than planned.
    Elsewhere { host: String },
    /// Gone (deleted meanwhile).
    Gone,
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Moved => "moved",
            Outcome::Left { .. } => "left",
            Outcome::Elsewhere { .. } => "elsewhere",
            Outcome::Gone => "gone",
        }
    }
}

/// The check after the commands ran.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Proof {
    /// Nothing in scope is left on the failed host and every planned move landed where planned.
    pub ok: bool,
    /// Per planned volume id.
    pub volumes: BTreeMap<String, Outcome>,
    /// Per planned backup id.
    pub backups: BTreeMap<String, Outcome>,
    /// Volumes (planned or not) still on the failed host, in scope: `id (host)`.
    pub volumes_left: Vec<String>,
    /// Backups still on the failed host.
    pub backups_left: Vec<String>,
}

/// Compares the plan with what Cinder shows now. `volumes_now` holds every volume found on the
/// failed and the new host (and any planned one fetched alone); a planned one absent is gone.
pub fn prove(plan: &Plan, volumes_now: &[CinderVolume], backups_now: &[ManagedBackup]) -> Proof {
    let host_of: BTreeMap<&str, Option<&str>> = volumes_now
        .iter()
        .map(|v| (v.id.as_str(), v.host()))
        .collect();
    let outcome = |now: Option<&str>, planned: &str, failed: bool| match now {
        None => Outcome::Gone,
        Some(h) if h == planned => Outcome::Moved,
        Some(h) if failed => Outcome::Left {
            host: h.to_string(),
        },
        Some(h) => Outcome::Elsewhere {
            host: h.to_string(),
        },
    };
    let volumes: BTreeMap<String, Outcome> = plan
        .volumes
        .iter()
        .map(|v| {
            let now = host_of.get(v.id.as_str()).map(|h| h.unwrap_or(""));
            let failed = now.is_some_and(|h| plan.in_scope(h));
            (v.id.clone(), outcome(now, &v.new_host, failed))
        })
        .collect();
    let mut volumes_left: Vec<String> = volumes_now
        .iter()
        .filter_map(|v| {
            let h = v.host()?;
            plan.in_scope(h).then(|| format!("{} ({h})", v.id))
        })
        .collect();
    volumes_left.sort();
    volumes_left.dedup();

    let backup_host: BTreeMap<&str, &str> = backups_now
        .iter()
        .map(|b| (b.id.as_str(), b.host.as_str()))
        .collect();
    let backups: BTreeMap<String, Outcome> = plan
        .backups
        .iter()
        .map(|b| {
            let now = backup_host.get(b.id.as_str()).copied();
            let failed = now == Some(plan.request.failed_host.as_str());
            (b.id.clone(), outcome(now, &b.new_host, failed))
        })
        .collect();
    let backups_left: Vec<String> = if plan.backups_in_scope {
        backups_now
            .iter()
            .filter(|b| b.host == plan.request.failed_host)
            .map(|b| b.id.clone())
            .collect()
    } else {
        Vec::new()
    };
    let landed = volumes
        .values()
        .chain(backups.values())
        .all(|o| matches!(o, Outcome::Moved | Outcome::Gone));
    Proof {
        ok: landed && volumes_left.is_empty() && backups_left.is_empty(),
        volumes,
        backups,
        volumes_left,
        backups_left,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(binary: &str, host: &str, enabled: bool, up: bool) -> CinderService {
        CinderService {
            binary: binary.into(),
            host: host.into(),
            enabled,
            up,
            disabled_reason: (!enabled).then(|| "maintenance".into()),
        }
    }

    fn vol(id: &str, host: &str) -> CinderVolume {
        CinderVolume {
            id: id.into(),
            name: Some(format!("name-{id}")),
            status: "available".into(),
            size: 1,
            host: Some(host.into()),
            project_id: Some("p".into()),
            attachments: Vec::new(),
        }
    }

    fn backup(id: &str, host: &str) -> ManagedBackup {
        ManagedBackup {
            id: id.into(),
            user_id: "u".into(),
            project_id: "p".into(),
            host: host.into(),
            name: format!("bk-{id}"),
            container: "backups".into(),
            status: "available".into(),
            size: "1".into(),
            object_count: "0".into(),
        }
    }

    /// compute-3 (dead) and compute-4 run ceph and ssd; compute-5 ceph only; compute-6 ceph,
    /// disabled; compute-7 ceph, down. cinder-backup on 3 (dead) and 4.
    fn services() -> Vec<CinderService> {
        vec![
            svc("cinder-scheduler", "ctl-1", true, true),
            svc("cinder-volume", "compute-3@ceph", true, false),
            svc("cinder-volume", "compute-3@ssd", true, false),
            svc("cinder-volume", "compute-4@ceph", true, true),
            svc("cinder-volume", "compute-4@ssd", true, true),
            svc("cinder-volume", "compute-5@ceph", true, true),
            svc("cinder-volume", "compute-6@ceph", false, true),
            svc("cinder-volume", "compute-7@ceph", true, false),
            svc("cinder-backup", "compute-3", true, false),
            svc("cinder-backup", "compute-4", true, true),
        ]
    }

    fn volumes() -> Vec<CinderVolume> {
        let mut attached = vol("a", "compute-3@ceph#ceph");
        attached.status = "in-use".into();
        attached.attachments = vec![Attachment {
            server_id: Some("srv-1".into()),
            host_name: Some("compute-3".into()),
        }];
        vec![
            attached,
            vol("b", "compute-3@ceph#ceph"),
            vol("c", "compute-3@ssd#vg1"),
            vol("d", "compute-3@ceph"),
            vol("x", "compute-33@ceph#ceph"),
        ]
    }

    /// What the scheduler reports: the live backends' pools.
    fn pools() -> &'static [String] {
        let list = [
            "compute-4@ceph#ceph",
            "compute-4@ssd#vg1",
            "compute-5@ceph#ceph",
        ];
        Box::leak(list.map(String::from).to_vec().into_boxed_slice())
    }

    fn req(failed: &str, to: &str, backend: Option<&str>) -> Request {
        Request::new(failed, to, backend).unwrap()
    }

    fn facts<'a>(
        s: &'a [CinderService],
        v: &'a [CinderVolume],
        b: &'a [ManagedBackup],
    ) -> Facts<'a> {
        Facts {
            services: s,
            volumes: v,
            backups: b,
            pools: Some(pools()),
        }
    }

    #[test]
    fn hosts_split_like_cinder() {
        let h = CinderHost::parse("compute-3@ceph#pool-1");
        assert_eq!(h.node, "compute-3");
        assert_eq!(h.backend.as_deref(), Some("ceph"));
        assert_eq!(h.pool.as_deref(), Some("pool-1"));
        assert_eq!(h.service_host(), "compute-3@ceph");
        assert_eq!(h.on_node("compute-4").to_string(), "compute-4@ceph#pool-1");
        assert_eq!(CinderHost::parse("c#p").to_string(), "c#p");
        assert_eq!(CinderHost::parse("c").backend, None);
    }

    #[test]
    fn like_has_sql_wildcards() {
        assert!(like("compute-3@ceph#%", "compute-3@ceph#ceph"));
        assert!(like("compute-3@ceph#%", "compute-3@ceph#"));
        assert!(!like("compute-3@ceph#%", "compute-3@ceph"));
        assert!(like("compute_3@ceph#%", "computeX3@ceph#p"));
        assert!(like("a%b%c", "aXXbYYc"));
        assert!(!like("a%b%c", "aXXbYY"));
        assert!(like("%", ""));
        assert!(!like("_", ""));
        assert!(like("compute-3", "compute-3"));
        assert!(!like("compute-3", "compute-30"));
    }

    #[test]
    fn matching_rules_follow_cinder() {
        // cinder-manage: exact, or `C#%`; never `C@%`.
        assert!(update_host_selects("compute-3@ceph", "compute-3@ceph#ceph"));
        assert!(update_host_selects("compute-3@ceph", "compute-3@ceph"));
        assert!(!update_host_selects("compute-3", "compute-3@ceph#ceph"));
        assert!(!update_host_selects(
            "compute-3@ceph#ceph",
            "compute-3@ceph"
        ));
        assert!(!update_host_selects(
            "compute-3@ceph",
            "compute-33@ceph#ceph"
        ));
        // The API filter: a plain host also matches its backends.
        assert!(api_host_filter("compute-3", "compute-3@ceph#ceph"));
        assert!(api_host_filter("compute-3", "compute-3#p"));
        assert!(!api_host_filter("compute-3", "compute-33@ceph#ceph"));
        assert!(api_host_filter("compute-3@ceph", "compute-3@ceph#x"));
        assert!(!api_host_filter("compute-3@ceph", "compute-3@ssd#x"));
        assert!(!api_host_filter("compute-3@ceph#x", "compute-3@ceph"));
        assert!(api_host_filter("compute_3", "computeX3@ceph#p"));
    }

    #[test]
    fn parses_cinder_manage_backup_list() {
        let text = "Option \"verbose\" is deprecated\n\
            ID                              \tUser ID                         \tProject ID                      \tHost                    \tName                    \tContainer   \tStatus      \tSize        \tObject Count\n\
            6c4a0e0c-7b7e-4f0a-9d8e-2a4d1c2b3e4f\tu1                              \tp1                              \tcompute-3               \tnightly                 \tbackups     \tavailable   \t10          \t3           \n\
            7d5b1f1d-8c8f-4a1b-8e9f-3b5e2d3c4f5a\tu1\tp1\tcompute-4\tname\twith tab\tNone\terror\t1\t0\n";
        let list = parse_backup_list(text).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].host, "compute-3");
        assert_eq!(list[0].name, "nightly");
        assert_eq!(list[0].size, "10");
        assert_eq!(list[0].object_count, "3");
        assert_eq!(list[1].name, "name\twith tab");
        assert_eq!(list[1].container, "None");
        assert_eq!(list[1].status, "error");
        assert!(parse_backup_list("nothing here").is_err());
        let header_only =
            "ID\tUser ID\tProject ID\tHost\tName\tContainer\tStatus\tSize\tObject Count\n";
        assert_eq!(parse_backup_list(header_only).unwrap(), vec![]);
        let bad = format!("{header_only}Traceback (most recent call last):\n");
        assert!(parse_backup_list(&bad).unwrap_err().contains("line 2"));
    }

    #[test]
    fn requests_are_checked_for_shape() {
        let r = req("compute-3@ceph", "compute-4", None);
        assert_eq!(r.backend.as_deref(), Some("ceph"));
        assert_eq!(r.failed_host, "compute-3");
        let r = req("compute-3", "compute-4@ceph", Some("ceph"));
        assert_eq!(r.new_host, "compute-4");
        for (f, t, b) in [
            ("compute-3", "compute-3", None),
            ("compute-3@ceph", "compute-3@ssd", None),
            ("compute-3@ceph", "compute-4", Some("ssd")),
            ("compute-3@ceph#ceph", "compute-4", None),
            ("@ceph", "compute-4", None),
            ("compute-3", "compute-4", Some("")),
        ] {
            let e = Request::new(f, t, b).unwrap_err();
            assert_eq!(e.code, Finding::Usage, "{f} {t} {b:?}: {e}");
        }
    }

    #[test]
    fn plans_two_backends_keeping_pools_with_the_pool_less_last() {
        let (s, v) = (services(), volumes());
        let b = [backup("bk1", "compute-3"), backup("bk2", "compute-4")];
        let p = plan(&req("compute-3", "compute-4", None), &facts(&s, &v, &b)).unwrap();
        let ids: Vec<&str> = p.volumes.iter().map(|v| v.id.as_str()).collect();
        assert_eq!(ids, ["d", "a", "b", "c"], "x is compute-33's");
        let a = p.volumes.iter().find(|v| v.id == "a").unwrap();
        assert_eq!(a.new_host, "compute-4@ceph#ceph");
        assert_eq!(a.servers, ["srv-1"]);
        assert_eq!(a.attached_hosts, ["compute-3"]);
        let cmds: Vec<Vec<String>> = p.commands.iter().map(ManageCommand::args).collect();
        let expect = |c: &str, n: &str| {
            ["volume", "update_host", "--currenthost", c, "--newhost", n]
                .map(String::from)
                .to_vec()
        };
        assert_eq!(
            cmds,
            [
                expect("compute-3@ceph#ceph", "compute-4@ceph#ceph"),
                expect("compute-3@ssd#vg1", "compute-4@ssd#vg1"),
                expect("compute-3@ceph", "compute-4@ceph"),
                [
                    "backup",
                    "update_backup_host",
                    "--currenthost",
                    "compute-3",
                    "--newhost",
                    "compute-4"
                ]
                .map(String::from)
                .to_vec(),
            ]
        );
        assert_eq!(p.commands[0].moves, ["a", "b"]);
        assert_eq!(
            p.commands[2].after,
            [0],
            "runs only if the pooled ceph run worked"
        );
        assert!(p.commands[1].after.is_empty());
        assert_eq!(p.backups.len(), 1);
        assert_eq!(p.backups[0].id, "bk1");
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }

    #[test]
    fn one_backend_leaves_the_others_and_the_backups() {
        let (s, v) = (services(), volumes());
        let b = [backup("bk1", "compute-3")];
        let p = plan(
            &req("compute-3", "compute-5", Some("ceph")),
            &facts(&s, &v, &b),
        )
        .unwrap();
        assert_eq!(p.volumes.len(), 3);
        assert!(p.backups.is_empty());
        assert_eq!(p.warnings.len(), 2, "{:?}", p.warnings);
        assert!(p.in_scope("compute-3@ceph#x"));
        assert!(!p.in_scope("compute-3@ssd#x"));
    }

    #[test]
    fn typos_are_usage_errors_with_the_closest_name() {
        let (s, v) = (services(), volumes());
        let f = facts(&s, &v, &[]);
        let e = plan(&req("compute-3", "compte-4", None), &f).unwrap_err();
        assert_eq!(e.code, Finding::Usage);
        assert!(e.message.contains("unknown --to host `compte-4`"), "{e}");
        assert!(e.message.contains("did you mean `compute-4`?"), "{e}");
        assert!(e.message.contains("compute-5, compute-6"), "{e}");
        let e = plan(&req("compute-9", "compute-4", None), &f).unwrap_err();
        assert!(e.message.contains("unknown FAILED_HOST `compute-9`"), "{e}");
        let e = plan(&req("compute-3", "compute-4", Some("cepf")), &f).unwrap_err();
        assert_eq!(e.code, Finding::Usage);
        assert!(e.message.contains("did you mean `ceph`?"), "{e}");
        // Both mistyped: both named, each with its closest name.
        let e = plan(&req("compute-3", "compte-4", Some("cepf")), &f).unwrap_err();
        assert_eq!(e.code, Finding::Usage);
        assert!(e.message.contains("unknown backend `cepf`"), "{e}");
        assert!(e.message.contains("did you mean `ceph`?"), "{e}");
        assert!(e.message.contains("unknown --to host `compte-4`"), "{e}");
        assert!(e.message.contains("did you mean `compute-4`?"), "{e}");
    }

    #[test]
    fn the_target_must_run_the_backend_up_and_enabled() {
        let (s, v) = (services(), volumes());
        let f = facts(&s, &v, &[]);
        let e = plan(&req("compute-3", "compute-5", None), &f).unwrap_err();
        assert_eq!(e.code, Finding::Usage, "{e}");
        assert!(e.message.contains("backend mismatch"), "{e}");
        assert!(e.message.contains("compute-5@ssd"), "{e}");
        assert!(
            e.message.contains("backend ssd is on: compute-4@ssd"),
            "{e}"
        );
        let e = plan(&req("compute-3", "compute-6", Some("ceph")), &f).unwrap_err();
        assert_eq!(e.code, Finding::Refused);
        assert!(
            e.message
                .contains("compute-6@ceph is disabled (maintenance)"),
            "{e}"
        );
        let e = plan(&req("compute-3", "compute-7", Some("ceph")), &f).unwrap_err();
        assert_eq!(e.code, Finding::Refused);
        assert!(e.message.contains("compute-7@ceph is down"), "{e}");
    }

    #[test]
    fn the_new_host_must_have_each_volumes_pool() {
        let s = services();
        let v = vec![
            vol("a", "compute-3@ceph#ceph"),
            vol("b", "compute-3@ssd#other"),
        ];
        let f = facts(&s, &v, &[]);
        let e = plan(&req("compute-3", "compute-4", None), &f).unwrap_err();
        assert_eq!(e.code, Finding::Refused);
        assert!(
            e.message
                .contains("compute-4@ssd has no pool `other` (it has: vg1)"),
            "{e}"
        );
        // No pools reported yet, or none readable: said, not refused.
        let some: Vec<String> = vec!["compute-4@ceph#ceph".into()];
        let p = plan(
            &req("compute-3", "compute-4", None),
            &Facts {
                pools: Some(&some),
                ..f
            },
        )
        .unwrap();
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert!(
            p.warnings[0].contains("compute-4@ssd reports no pool"),
            "{:?}",
            p.warnings
        );
        let p = plan(
            &req("compute-3", "compute-4", None),
            &Facts { pools: None, ..f },
        )
        .unwrap();
        assert!(
            p.warnings[0].contains("could not be read"),
            "{:?}",
            p.warnings
        );
    }

    #[test]
    fn a_live_source_is_refused() {
        let mut s = services();
        s[2] = svc("cinder-volume", "compute-3@ssd", true, true);
        let v = volumes();
        let e = plan(&req("compute-3", "compute-4", None), &facts(&s, &v, &[])).unwrap_err();
        assert_eq!(e.code, Finding::Refused);
        assert!(e.message.contains("compute-3@ssd is still up"), "{e}");
    }

    #[test]
    fn backups_need_a_cinder_backup_on_the_target() {
        let s = services();
        let b = [backup("bk1", "compute-3")];
        let v = vec![vol("a", "compute-3@ceph#ceph")];
        let e = plan(&req("compute-3", "compute-5", None), &facts(&s, &v, &b)).unwrap_err();
        assert_eq!(e.code, Finding::Usage);
        assert!(
            e.message
                .contains("runs no cinder-backup (cinder-backup hosts: compute-4)"),
            "{e}"
        );
    }

    #[test]
    fn nothing_to_move_is_an_empty_plan_but_typos_still_fail() {
        let s = services();
        let v = vec![vol("x", "compute-4@ceph#ceph")];
        let p = plan(&req("compute-3", "compute-7", None), &facts(&s, &v, &[])).unwrap();
        assert!(p.is_empty() && p.commands.is_empty());
        assert!(plan(&req("compute-3", "compute-77", None), &facts(&s, &v, &[])).is_err());
    }

    #[test]
    fn a_wildcard_in_a_host_name_that_would_take_other_volumes_is_refused() {
        let mut s = services();
        s.push(svc("cinder-volume", "compute_3@ceph", true, false));
        let v = vec![vol("a", "compute_3@ceph"), vol("z", "computeX3@ceph#ceph")];
        let e = plan(&req("compute_3", "compute-4", None), &facts(&s, &v, &[])).unwrap_err();
        assert_eq!(e.code, Finding::Refused);
        assert!(e.message.contains("volume z of computeX3@ceph#ceph"), "{e}");
    }

    #[test]
    fn the_proof_finds_what_stayed_and_what_went_elsewhere() {
        let (s, v) = (services(), volumes());
        let b = [backup("bk1", "compute-3")];
        let p = plan(&req("compute-3", "compute-4", None), &facts(&s, &v, &b)).unwrap();
        let moved: Vec<CinderVolume> = p.volumes.iter().map(|m| vol(&m.id, &m.new_host)).collect();
        let proof = prove(&p, &moved, &[backup("bk1", "compute-4")]);
        assert!(proof.ok, "{proof:?}");

        // A silent no-op: everything still there.
        let proof = prove(&p, &v, &b);
        assert!(!proof.ok);
        assert_eq!(proof.volumes_left.len(), 4);
        assert_eq!(proof.backups_left, ["bk1"]);
        assert_eq!(
            proof.volumes["a"],
            Outcome::Left {
                host: "compute-3@ceph#ceph".into()
            }
        );

        // The pool lost; one deleted; an unplanned newcomer left behind.
        let mut now = moved.clone();
        now[1] = vol(&p.volumes[1].id, "compute-4@ceph");
        now.remove(0);
        now.push(vol("new", "compute-3@ssd#vg1"));
        let proof = prove(&p, &now, &[backup("bk1", "compute-4")]);
        assert!(!proof.ok);
        assert_eq!(proof.volumes[&p.volumes[0].id], Outcome::Gone);
        assert!(matches!(
            proof.volumes[&p.volumes[1].id],
            Outcome::Elsewhere { .. }
        ));
        assert_eq!(proof.volumes_left, ["new (compute-3@ssd#vg1)"]);
    }
}
