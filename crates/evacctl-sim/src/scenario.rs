//! The scenario file: the initial world of the simulated cloud (TOML).
//!
//! ```toml
//! [cloud]
//! region = "RegionOne"       # default RegionOne
//! service_down_time = 60     # seconds: a number (fractions allowed) or a string ("1.5s", "500ms")
//! report_interval = 10       # seconds between heartbeats of a live service
//! rpc_response_timeout = 60  # seconds nova-api waits for a compute's RPC answer
//! token_lifetime = 3600      # seconds
//! storage_zone = "nova"      # Cinder's storage_availability_zone (default nova)
//!
//! [[users]]
//! name = "admin"
//! password = "..."
//! domain = "Default"         # default Default; also the project's domain unless project_domain
//! project = "admin"
//! roles = ["admin"]          # held on the project (and the domain); admin also gets system scope
//!
//! [[application_credentials]]
//! id = "..."                 # the id clients send
//! name = "evacctl"
//! secret = "..."
//! user = "admin"             # scoped to that user's project; roles default to the user's
//!
//! [[hosts]]
//! name = "compute-1"
//! role = "compute"           # controller: nova-scheduler, nova-conductor, cinder-scheduler
//!                            # compute: nova-compute
//! zone = "nova"              # default nova for computes, internal for controllers; a zone
//!                            # other than nova comes from an aggregate (made if none lists it)
//! cinder_backends = ["ceph"] # one cinder-volume per backend, as host@backend
//! services = ["nova-compute"]  # optional: replaces the role's set of services
//! powered_on = true          # false: the host is dead from the start, its services already down
//! disabled_reason = "evacctl: reserved"  # nova-compute starts disabled with this reason
//!
//! [[aggregates]]             # Nova host aggregates (see crate::compute)
//! name = "az1"
//! hosts = ["compute-1"]
//! availability_zone = "az1"  # optional: its hosts' zone
//! metadata = { ssd = "true" }
//! ```
//!
//! Parsing is strict (unknown keys are refused); every error names the file, the key and the line.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize};

pub mod cinder;
pub mod compute;
pub mod consul;

/// The scenario embedded in the binary, used when `serve` gets no `--scenario`.
pub const DEFAULT_SCENARIO: &str = include_str!("../../../scenarios/default.toml");
/// A scenario shaped like the cloud of origin A (eayun hosts), for tests that want its names.
pub const EAYUN_SCENARIO: &str = include_str!("../../../scenarios/eayun.toml");

/// Binaries a host may run (besides cinder-volume, which comes from `cinder_backends`).
pub const KNOWN_BINARIES: &[&str] = &[
    "nova-compute",
    "nova-scheduler",
    "nova-conductor",
    "cinder-scheduler",
    "cinder-backup",
];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub cloud: CloudSpec,
    #[serde(default)]
    pub users: Vec<UserSpec>,
    #[serde(default)]
    pub application_credentials: Vec<AppCredSpec>,
    #[serde(default)]
    pub hosts: Vec<HostSpec>,
    /// `[bmc]`: the credentials of every host's Redfish BMC (optional).
    #[serde(default)]
    pub bmc: BmcSpec,
    /// The simulated Consul clusters (see [`crate::consul`]).
    #[serde(default)]
    pub consul: consul::ConsulSpec,
    /// `[cinder]`, `[[volumes]]`, `[[backups]]` (see [`crate::cinder`]).
    #[serde(default)]
    pub cinder: cinder::CinderSpec,
    #[serde(default)]
    pub volumes: Vec<cinder::VolumeSpec>,
    #[serde(default)]
    pub backups: Vec<cinder::BackupSpec>,
    /// `[compute]`: evacuation timing, page size (see [`crate::compute`]).
    #[serde(default)]
    pub compute: compute::ComputeSpec,
    #[serde(default)]
    pub flavors: Vec<compute::FlavorSpec>,
    #[serde(default)]
    pub servers: Vec<compute::ServerSpec>,
    /// `[[aggregates]]`: Nova's host aggregates and availability zones.
    #[serde(default)]
    pub aggregates: Vec<compute::AggregateSpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BmcSpec {
    #[serde(default = "default_bmc_user")]
    pub user: String,
    #[serde(default = "default_bmc_password")]
    pub password: String,
}

impl Default for BmcSpec {
    fn default() -> Self {
        BmcSpec {
            user: default_bmc_user(),
            password: default_bmc_password(),
        }
    }
}

fn default_bmc_user() -> String {
    "admin".into()
}
fn default_bmc_password() -> String {
    "sim-bmc-password".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudSpec {
    #[serde(default = "default_region")]
    pub region: String,
    #[serde(default = "default_down_time")]
    pub service_down_time: Seconds,
    #[serde(default = "default_report_interval")]
    pub report_interval: Seconds,
    #[serde(default = "default_token_lifetime")]
    pub token_lifetime: Seconds,
    /// How long nova-api waits for a compute's RPC answer (oslo.messaging's
    /// `rpc_response_timeout`): a dead compute Nova still believes up costs that long.
    #[serde(default = "default_rpc_timeout")]
    pub rpc_response_timeout: Seconds,
    #[serde(default = "default_storage_zone")]
    pub storage_zone: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    pub name: String,
    pub password: String,
    #[serde(default = "default_domain")]
    pub domain: String,
    pub project: String,
    /// The project's domain when it differs from the user's.
    #[serde(default)]
    pub project_domain: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
}

impl UserSpec {
    pub fn project_domain(&self) -> &str {
        self.project_domain.as_deref().unwrap_or(&self.domain)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppCredSpec {
    pub id: String,
    pub name: String,
    pub secret: String,
    pub user: String,
    /// A subset of the user's roles; all of them when absent.
    #[serde(default)]
    pub roles: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Controller,
    Compute,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    pub name: String,
    pub role: Role,
    #[serde(default)]
    pub zone: Option<String>,
    #[serde(default)]
    pub cinder_backends: Vec<String>,
    #[serde(default)]
    pub services: Option<Vec<String>>,
    #[serde(default = "default_true")]
    pub powered_on: bool,
    /// A compute's Placement inventory (defaults: [`compute::InventorySpec`]).
    #[serde(default)]
    pub placement: Option<compute::InventorySpec>,
    /// nova-compute starts disabled with this reason (a reserved spare host).
    #[serde(default)]
    pub disabled_reason: Option<String>,
}

impl HostSpec {
    /// The availability zone Nova shows for this host's nova-compute.
    pub fn zone(&self) -> &str {
        match (&self.zone, self.role) {
            (Some(z), _) => z,
            (None, Role::Compute) => "nova",
            (None, Role::Controller) => "internal",
        }
    }

    /// The binaries this host runs, cinder-volume excluded.
    pub fn binaries(&self) -> Vec<String> {
        if let Some(list) = &self.services {
            return list.clone();
        }
        let set: &[&str] = match self.role {
            Role::Controller => &["nova-scheduler", "nova-conductor", "cinder-scheduler"],
            Role::Compute => &["nova-compute"],
        };
        set.iter().map(|s| s.to_string()).collect()
    }
}

/// A duration in seconds, written as a number (fractions allowed) or a humantime string.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Seconds(pub f64);

impl Seconds {
    pub fn as_f64(self) -> f64 {
        self.0
    }
}

impl Serialize for Seconds {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0)
    }
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Float(f64),
            Text(String),
        }
        let value = match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "expected seconds: a number such as 10 or 0.5, or a string such as \"1.5s\"",
            )
        })? {
            Raw::Int(i) => i as f64,
            Raw::Float(f) => f,
            Raw::Text(t) => humantime::parse_duration(t.trim())
                .map_err(|e| serde::de::Error::custom(format!("invalid duration {t:?}: {e}")))?
                .as_secs_f64(),
        };
        // Zero would make heartbeats divide by zero; huge values overflow time arithmetic.
        if !(value.is_finite() && value > 0.0 && value <= 1.0e9) {
            return Err(serde::de::Error::custom(format!(
                "must be a positive number of seconds, got {value}"
            )));
        }
        Ok(Seconds(value))
    }
}

fn default_region() -> String {
    "RegionOne".into()
}
fn default_down_time() -> Seconds {
    Seconds(60.0)
}
fn default_report_interval() -> Seconds {
    Seconds(10.0)
}
fn default_rpc_timeout() -> Seconds {
    Seconds(60.0)
}
fn default_token_lifetime() -> Seconds {
    Seconds(3600.0)
}
fn default_storage_zone() -> String {
    "nova".into()
}
fn default_domain() -> String {
    "Default".into()
}
fn default_true() -> bool {
    true
}

/// A scenario that could not be read, parsed or validated.
#[derive(Debug, thiserror::Error)]
pub struct ScenarioError {
    /// The file (or `<embedded default>`).
    pub origin: String,
    /// 1-based line and column, when known.
    pub line_col: Option<(usize, usize)>,
    /// The key the error is about, when known.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid scenario file {}", self.origin)?;
        if let Some((line, col)) = self.line_col {
            write!(f, ", line {line}, column {col}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ", key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl Scenario {
    /// The embedded default scenario.
    pub fn builtin_default() -> Result<Scenario, ScenarioError> {
        Scenario::from_toml_str(DEFAULT_SCENARIO, "<embedded scenarios/default.toml>")
    }

    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            origin: origin.clone(),
            line_col: None,
            key: None,
            message: format!("cannot read it: {e}"),
        })?;
        Scenario::from_toml_str(&text, &origin)
    }

    /// Parses and validates scenario text; `origin` names it in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| {
            let line_col = e.span().map(|s| line_col(text, s.start));
            let key = e.span().and_then(|s| key_at(text, s.start));
            ScenarioError {
                origin: origin.to_string(),
                line_col,
                key,
                message: e.message().trim().to_string(),
            }
        })?;
        scenario
            .validate()
            .map_err(|(path, message)| ScenarioError {
                origin: origin.to_string(),
                line_col: locate(text, &path).map(|pos| line_col(text, pos)),
                key: Some(render_path(&path)),
                message,
            })?;
        Ok(scenario)
    }

    /// Cross-field checks that serde cannot express. Errors carry the key path.
    fn validate(&self) -> Result<(), (Vec<PathElem>, String)> {
        use PathElem::{Index, Key};
        if self.users.is_empty() {
            return Err((
                vec![Key("users".into())],
                "at least one [[users]] is needed".into(),
            ));
        }
        if self.hosts.is_empty() {
            return Err((
                vec![Key("hosts".into())],
                "at least one [[hosts]] is needed".into(),
            ));
        }
        let mut users = HashSet::new();
        for (i, u) in self.users.iter().enumerate() {
            let at = |k: &str| vec![Key("users".into()), Index(i), Key(k.into())];
            for (field, value) in [
                ("name", &u.name),
                ("domain", &u.domain),
                ("project", &u.project),
            ] {
                if value.trim().is_empty() {
                    return Err((at(field), "must not be empty".into()));
                }
            }
            if !users.insert((u.name.clone(), u.domain.clone())) {
                return Err((at("name"), format!("user {:?} is defined twice", u.name)));
            }
        }
        let mut ac_ids = HashSet::new();
        for (i, ac) in self.application_credentials.iter().enumerate() {
            let at = |k: &str| {
                vec![
                    Key("application_credentials".into()),
                    Index(i),
                    Key(k.into()),
                ]
            };
            if ac.id.trim().is_empty() {
                return Err((at("id"), "must not be empty".into()));
            }
            if !ac_ids.insert(ac.id.clone()) {
                return Err((at("id"), format!("id {:?} is used twice", ac.id)));
            }
            let Some(user) = self.users.iter().find(|u| u.name == ac.user) else {
                let known: Vec<&str> = self.users.iter().map(|u| u.name.as_str()).collect();
                return Err((
                    at("user"),
                    format!("no user {:?} (users: {})", ac.user, known.join(", ")),
                ));
            };
            if let Some(roles) = &ac.roles
                && let Some(r) = roles.iter().find(|r| !user.roles.contains(r))
            {
                return Err((
                    at("roles"),
                    format!("role {r:?} is not one of user {:?}'s roles", user.name),
                ));
            }
        }
        let mut hosts = HashSet::new();
        for (i, h) in self.hosts.iter().enumerate() {
            let at = |k: &str| vec![Key("hosts".into()), Index(i), Key(k.into())];
            if h.name.trim().is_empty() || h.name.contains(['/', '@', '#', ' ']) {
                return Err((at("name"), format!("invalid host name {:?}", h.name)));
            }
            if !hosts.insert(h.name.clone()) {
                return Err((at("name"), format!("host {:?} is defined twice", h.name)));
            }
            let mut seen = HashSet::new();
            for b in h.binaries() {
                if b == "cinder-volume" {
                    return Err((
                        at("services"),
                        "cinder-volume comes from cinder_backends, not services".into(),
                    ));
                }
                if !KNOWN_BINARIES.contains(&b.as_str()) {
                    return Err((
                        at("services"),
                        format!(
                            "unknown service {b:?} (known: {})",
                            KNOWN_BINARIES.join(", ")
                        ),
                    ));
                }
                if !seen.insert(b.clone()) {
                    return Err((at("services"), format!("service {b:?} is listed twice")));
                }
            }
            if let Some(r) = &h.disabled_reason {
                if r.trim().is_empty() || r.chars().count() > 255 {
                    return Err((at("disabled_reason"), "must be 1 to 255 characters".into()));
                }
                if !compute::runs_nova_compute(h) {
                    return Err((
                        at("disabled_reason"),
                        format!("host {:?} runs no nova-compute to disable", h.name),
                    ));
                }
            }
            let mut backends = HashSet::new();
            for b in &h.cinder_backends {
                if b.trim().is_empty() || b.contains(['/', '@', '#', ' ']) {
                    return Err((at("cinder_backends"), format!("invalid backend name {b:?}")));
                }
                if !backends.insert(b) {
                    return Err((
                        at("cinder_backends"),
                        format!("backend {b:?} is listed twice"),
                    ));
                }
            }
        }
        self.consul
            .validate()
            .map_err(|(cluster, field, message)| {
                let mut path = vec![Key("consul".into())];
                if let Some(i) = cluster {
                    path.extend([Key("clusters".into()), Index(i)]);
                }
                path.push(Key(field.into()));
                (path, message)
            })?;
        cinder::validate(self)?;
        compute::validate(self)
    }
}

/// One step of a key path inside the document.
#[derive(Debug, Clone)]
pub(crate) enum PathElem {
    Key(String),
    Index(usize),
}

fn render_path(path: &[PathElem]) -> String {
    let mut out = String::new();
    for p in path {
        match p {
            PathElem::Key(k) if out.is_empty() => out.push_str(k),
            PathElem::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            PathElem::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The byte offset of the value at `path`, found by re-parsing with spans; falls back to the
/// nearest enclosing table when the key itself is absent (a default was used).
fn locate(text: &str, path: &[PathElem]) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let root = DeTable::parse(text).ok()?;
    let mut best = None;
    let mut table: &DeTable = root.get_ref();
    let mut value: Option<&toml::Spanned<DeValue>> = None;
    for elem in path {
        if let Some(v) = value {
            match (v.get_ref(), elem) {
                (DeValue::Table(t), PathElem::Key(_)) => table = t,
                (DeValue::Array(a), PathElem::Index(i)) => {
                    value = a.get(*i);
                    best = value.map(|v| v.span().start).or(best);
                    continue;
                }
                _ => return best,
            }
        }
        let PathElem::Key(k) = elem else { return best };
        value = table
            .iter()
            .find(|(key, _)| key.get_ref().as_ref() == k.as_str())
            .map(|(_, v)| v);
        match value {
            Some(v) => best = Some(v.span().start),
            None => return best,
        }
    }
    best
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(before.chars().count(), |nl| {
        before.get(nl + 1..).map_or(0, |s| s.chars().count())
    }) + 1;
    (line, col)
}

/// The key written on the line of a byte offset (`key = ...` or a `[table]` header).
fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let start = text.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    let line = text.get(start..)?.lines().next()?.trim();
    if line.starts_with('[') {
        return Some(line.split('#').next().unwrap_or(line).trim().to_string());
    }
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    (!key.is_empty()).then(|| key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[cloud]
service_down_time = 2
report_interval = "500ms"

[[users]]
name = "admin"
password = "pw"
project = "admin"
roles = ["admin"]

[[hosts]]
name = "compute-1"
role = "compute"
cinder_backends = ["ceph"]
"#;

    #[test]
    fn embedded_scenarios_parse() {
        let s = Scenario::builtin_default().unwrap();
        assert_eq!(s.cloud.service_down_time, Seconds(60.0));
        assert_eq!(s.cloud.report_interval, Seconds(10.0));
        assert_eq!(
            s.hosts.iter().filter(|h| h.role == Role::Compute).count(),
            4
        );
        Scenario::from_toml_str(EAYUN_SCENARIO, "eayun.toml").unwrap();
        let fast = include_str!("../../../scenarios/fast.toml");
        let s = Scenario::from_toml_str(fast, "fast.toml").unwrap();
        assert_eq!(s.cloud.service_down_time, Seconds(2.0));
    }

    /// `scenarios/recovery.toml` keeps its promises: Nova's realistic heartbeat, Consul on, 20
    /// servers on compute-1 (two SHUTOFF), all of them placeable on compute-2..4, no volumes.
    #[test]
    fn the_recovery_benchmark_scenario() {
        let text = include_str!("../../../scenarios/recovery.toml");
        let s = Scenario::from_toml_str(text, "recovery.toml").unwrap();
        assert_eq!(s.cloud.report_interval, Seconds(10.0));
        assert_eq!(s.cloud.service_down_time, Seconds(60.0));
        assert!(s.consul.enabled && s.volumes.is_empty());
        let mut w = crate::World::new(&s, 1000.0);
        let on_1: Vec<_> = w
            .compute
            .servers
            .iter()
            .filter(|x| x.host == "compute-1")
            .cloned()
            .collect();
        assert_eq!(on_1.len(), 20);
        assert_eq!(on_1.iter().filter(|x| x.vm_state == "stopped").count(), 2);
        // Every one fits somewhere on compute-2..4, placed one by one as the scheduler does.
        for server in &on_1 {
            let need = server.flavor.resources(server.boot_from_volume);
            let target = ["compute-2", "compute-3", "compute-4"]
                .into_iter()
                .filter_map(|h| w.compute.hypervisors.get(h).cloned())
                .find(|rp| w.placement.fits(rp, &need));
            let rp = target.unwrap_or_else(|| panic!("{} does not fit", server.name));
            w.placement.allocate(&server.id, &rp, &need);
        }
    }

    #[test]
    fn defaults_and_fractional_seconds() {
        let s = Scenario::from_toml_str(MINIMAL, "m.toml").unwrap();
        assert_eq!(s.cloud.region, "RegionOne");
        assert_eq!(s.cloud.report_interval, Seconds(0.5));
        assert_eq!(s.cloud.token_lifetime, Seconds(3600.0));
        assert_eq!(s.users[0].domain, "Default");
        assert_eq!(s.hosts[0].zone(), "nova");
        assert_eq!(s.hosts[0].binaries(), vec!["nova-compute".to_string()]);
        assert!(s.hosts[0].powered_on);
    }

    #[test]
    fn unknown_key_names_file_key_and_line() {
        let text = MINIMAL.replace("role = \"compute\"", "role = \"compute\"\nrack = 4");
        let e = Scenario::from_toml_str(&text, "bad.toml").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("bad.toml"), "{msg}");
        assert!(msg.contains("rack"), "{msg}");
        assert_eq!(e.line_col.map(|l| l.0), Some(15), "{msg}");
        assert_eq!(e.key.as_deref(), Some("rack"), "{msg}");
    }

    #[test]
    fn wrong_type_names_key_and_line() {
        let text = MINIMAL.replace("service_down_time = 2", "service_down_time = \"soon\"");
        let e = Scenario::from_toml_str(&text, "bad.toml").unwrap_err();
        assert_eq!(e.line_col.map(|l| l.0), Some(3), "{e}");
        assert_eq!(e.key.as_deref(), Some("service_down_time"), "{e}");
        assert!(e.to_string().contains("soon"), "{e}");
    }

    #[test]
    fn zero_interval_is_refused() {
        let text = MINIMAL.replace("\"500ms\"", "0");
        let e = Scenario::from_toml_str(&text, "bad.toml").unwrap_err();
        assert!(e.message.contains("positive"), "{e}");
        assert_eq!(e.line_col.map(|l| l.0), Some(4), "{e}");
    }

    #[test]
    fn bad_role_and_syntax_errors_have_lines() {
        let text = MINIMAL.replace("role = \"compute\"", "role = \"storage\"");
        let e = Scenario::from_toml_str(&text, "bad.toml").unwrap_err();
        assert_eq!(e.line_col.map(|l| l.0), Some(14), "{e}");
        assert_eq!(e.key.as_deref(), Some("role"), "{e}");

        let e = Scenario::from_toml_str("[cloud\n", "syntax.toml").unwrap_err();
        assert_eq!(e.line_col.map(|l| l.0), Some(1), "{e}");
    }

    #[test]
    fn semantic_errors_point_at_the_key() {
        let text = format!("{MINIMAL}\n[[hosts]]\nname = \"compute-1\"\nrole = \"compute\"\n");
        let e = Scenario::from_toml_str(&text, "dup.toml").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("hosts[1].name"), "{e}");
        assert_eq!(e.line_col.map(|l| l.0), Some(18), "{e}");

        let text = format!(
            "{MINIMAL}\n[[application_credentials]]\nid = \"x\"\nname = \"n\"\nsecret = \"s\"\nuser = \"bob\"\n"
        );
        let e = Scenario::from_toml_str(&text, "ac.toml").unwrap_err();
        assert_eq!(
            e.key.as_deref(),
            Some("application_credentials[0].user"),
            "{e}"
        );
        assert!(
            e.message.contains("bob") && e.message.contains("admin"),
            "{e}"
        );
        assert_eq!(e.line_col.map(|l| l.0), Some(21), "{e}");

        let text = MINIMAL.replace(
            "cinder_backends",
            "services = [\"nova-api\"]\ncinder_backends",
        );
        let e = Scenario::from_toml_str(&text, "svc.toml").unwrap_err();
        assert!(e.message.contains("nova-api"), "{e}");
    }

    /// `scenarios/zones.toml` and `scenarios/reserved.toml` load and keep their promises.
    #[test]
    fn the_zone_and_reserved_scenarios() {
        let text = include_str!("../../../scenarios/zones.toml");
        let s = Scenario::from_toml_str(text, "zones.toml").unwrap();
        let w = crate::World::new(&s, 1000.0);
        let zones: Vec<(&str, &str)> = w
            .hosts
            .iter()
            .map(|h| (h.name.as_str(), h.zone.as_str()))
            .collect();
        assert_eq!(
            zones,
            [
                ("ctl-1", "internal"),
                ("compute-1", "az1"),
                ("compute-2", "az1"),
                ("compute-3", "az2"),
                ("compute-4", "az2")
            ]
        );
        assert!(s.consul.enabled && s.servers.iter().all(|x| x.availability_zone.is_none()));
        let aggs: Vec<&str> = w
            .compute
            .aggregates
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        assert_eq!(aggs, ["az1", "az2", "ssd"], "none synthesised");

        let text = include_str!("../../../scenarios/reserved.toml");
        let s = Scenario::from_toml_str(text, "reserved.toml").unwrap();
        let w = crate::World::new(&s, 1000.0);
        let disabled: Vec<(&str, Option<&str>)> = w
            .services
            .iter()
            .filter(|x| x.disabled)
            .map(|x| (x.host.as_str(), x.disabled_reason.as_deref()))
            .collect();
        assert_eq!(disabled, [("compute-4", Some("evacctl: reserved"))]);
        assert!(w.compute.aggregates.is_empty());
    }

    /// A zone named only by hosts' `zone` keys gets an aggregate named after it, as an operator
    /// would have made; a scenario aggregate giving the zone replaces it.
    #[test]
    fn zone_keys_make_aggregates() {
        let two = format!(
            "{MINIMAL}zone = \"az1\"\n[[hosts]]\nname = \"compute-2\"\nrole = \"compute\"\nzone = \"az1\"\n\
             [[hosts]]\nname = \"compute-3\"\nrole = \"compute\"\n"
        );
        let s = Scenario::from_toml_str(&two, "t.toml").unwrap();
        let w = crate::World::new(&s, 1000.0);
        let a = &w.compute.aggregates;
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].name, "az1");
        assert_eq!(a[0].availability_zone.as_deref(), Some("az1"));
        assert_eq!(
            a[0].metadata.get("availability_zone").map(String::as_str),
            Some("az1")
        );
        assert_eq!(a[0].hosts, ["compute-1", "compute-2"]);
        assert_eq!(w.host("compute-3").unwrap().zone, "nova");

        let own = format!(
            "{two}[[aggregates]]\nname = \"rack-a\"\nhosts = [\"compute-1\", \"compute-2\"]\n\
             metadata = {{ availability_zone = \"az1\", gpu = \"no\" }}\n"
        );
        let s = Scenario::from_toml_str(&own, "t.toml").unwrap();
        let w = crate::World::new(&s, 1000.0);
        let a = &w.compute.aggregates;
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!(a[0].name, "rack-a");
        assert_eq!(a[0].availability_zone.as_deref(), Some("az1"));

        // An aggregate's zone alone sets its hosts' zone.
        let agg_only = format!(
            "{MINIMAL}[[aggregates]]\nname = \"a\"\nhosts = [\"compute-1\"]\navailability_zone = \"az9\"\n"
        );
        let s = Scenario::from_toml_str(&agg_only, "t.toml").unwrap();
        let w = crate::World::new(&s, 1000.0);
        assert_eq!(w.host("compute-1").unwrap().zone, "az9");
    }

    #[test]
    fn contradictory_zones_are_refused() {
        let agg = |hosts: &str, zone: &str| {
            format!(
                "[[aggregates]]\nname = \"{zone}-agg\"\nhosts = [{hosts}]\navailability_zone = \"{zone}\"\n"
            )
        };
        let c2 = "[[hosts]]\nname = \"compute-2\"\nrole = \"compute\"\n";
        for (text, key, says) in [
            // The zone key contradicts the aggregate.
            (
                format!("{MINIMAL}zone = \"az2\"\n{}", agg("\"compute-1\"", "az1")),
                "hosts[0].zone",
                "az1-agg",
            ),
            // One host in two zones: Nova refuses it too.
            (
                format!(
                    "{MINIMAL}{}{}",
                    agg("\"compute-1\"", "az1"),
                    agg("\"compute-1\"", "az2")
                ),
                "aggregates[1].hosts",
                "two availability zones",
            ),
            // The zone is an aggregate's that does not list the host.
            (
                format!(
                    "{MINIMAL}zone = \"az1\"\n{c2}{}",
                    agg("\"compute-2\"", "az1")
                ),
                "hosts[0].zone",
                "add it",
            ),
            (
                format!("{MINIMAL}{}", agg("\"compute-9\"", "az1")),
                "aggregates[0].hosts",
                "compute-9",
            ),
            (
                format!("{MINIMAL}{}", agg("\"compute-1\"", "internal")),
                "aggregates[0].availability_zone",
                "internal",
            ),
            (
                format!("{MINIMAL}disabled_reason = \"\"\n"),
                "hosts[0].disabled_reason",
                "1 to 255",
            ),
        ] {
            let e = Scenario::from_toml_str(&text, "z.toml").unwrap_err();
            assert_eq!(e.key.as_deref(), Some(key), "{e}");
            assert!(e.message.contains(says), "{e}");
            assert!(e.line_col.is_some(), "{e}");
        }
        // A requested zone must exist, and be the zone of the server's host.
        let servers = format!(
            "{MINIMAL}zone = \"az1\"\n{c2}[[flavors]]\nname = \"f\"\nvcpus = 1\nram = 1\n\
             [[servers]]\nname = \"s\"\nhost = \"compute-2\"\nflavor = \"f\"\n"
        );
        for (zone, says) in [
            ("az7", "no compute is in zone"),
            ("az1", "would not have placed"),
        ] {
            let text = format!("{servers}availability_zone = \"{zone}\"\n");
            let e = Scenario::from_toml_str(&text, "z.toml").unwrap_err();
            assert_eq!(
                e.key.as_deref(),
                Some("servers[0].availability_zone"),
                "{e}"
            );
            assert!(e.message.contains(says), "{e}");
        }
        let ok = format!("{servers}availability_zone = \"nova\"\n");
        Scenario::from_toml_str(&ok, "z.toml").unwrap();
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("ab", 99), (1, 3));
    }
}
