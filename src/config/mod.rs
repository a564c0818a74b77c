//! evacctl's own configuration file (TOML): what evacctl needs beyond OpenStack credentials
//! (those come from clouds.yaml / `OS_*`): Consul clusters, BMCs of compute hosts, the
//! policy of the `watch` loop, how to reach `cinder-manage`, notifications.
//!
//! `examples/config.toml` documents every key with its default.
//!
//! # Loading
//!
//! [`Config::load`] reads the file given with `--config` / `EVACCTL_CONFIG`, else
//! [`DEFAULT_PATH`] if it exists, else uses [`Config::default`] (commands that need only
//! OpenStack work without a file). The file is read strictly: an unknown key, a value of the
//! wrong type, out of range or not allowed is an error naming the file, line, column and full
//! key path, with "did you mean" for typos ([`ConfigError`]).
//!
//! # Secrets
//!
//! The file holds only *where* secrets are (`password_file` / `password_env`, `token_file` /
//! `token_env`), never a value; [`SecretRef::read`] reads one on demand. A BMC without a
//! password source is an error when the file is loaded, not later at fence time.
//!
//! # Paths
//!
//! Relative file paths (`*_file`, `ca_file`, `journal.path`, `lock.file`) are resolved against
//! the directory of the configuration file. Commands (argv lists, `sendmail`) are not.

mod de;
mod doc;
mod error;
mod secrets;
mod suggest;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::secret::Secret;
use doc::{Doc, KeyPath};

pub use error::{ConfigError, ConfigErrorDetails, ConfigErrorKind};
pub use secrets::{MAX_SECRET_FILE_BYTES, SecretRef, SecretSource};
pub use suggest::closest_match;

/// The configuration file read when neither `--config` nor `EVACCTL_CONFIG` is given.
pub const DEFAULT_PATH: &str = "/etc/evacctl/config.toml";

/// The environment variable naming the configuration file (the CLI reads it).
pub const ENV_VAR: &str = "EVACCTL_CONFIG";

// =====================================================================================
// The configuration
// =====================================================================================

/// The whole configuration, validated, with defaults applied and host BMC settings merged
/// with `[bmc_defaults]`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Config {
    pub cloud: CloudConfig,
    /// `[consul.NAME]`, by name.
    pub consul: BTreeMap<String, ConsulCluster>,
    /// `[bmc_defaults]` as written (already merged into each host's [`ResolvedBmc`]).
    pub bmc_defaults: BmcDefaults,
    /// `[hosts."NAME"]`, by Nova host name.
    pub hosts: BTreeMap<String, HostConfig>,
    pub policy: PolicyConfig,
    pub evacuation: EvacuationConfig,
    pub volumes: VolumesConfig,
    pub journal: JournalConfig,
    pub lock: LockConfig,
    pub notify: NotifyConfig,
    /// The file this was read from (`None`: built-in defaults).
    path: Option<PathBuf>,
}

/// `[cloud]`: defaults for the OpenStack connection.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CloudConfig {
    /// The clouds.yaml cloud used when `--os-cloud` / `OS_CLOUD` are not given.
    #[serde(deserialize_with = "de::empty_as_none")]
    pub os_cloud: Option<String>,
    #[serde(deserialize_with = "de::empty_as_none")]
    pub region_name: Option<String>,
    /// Timeout of one API request.
    #[serde(deserialize_with = "de::duration")]
    pub api_timeout: Duration,
    /// Retries of idempotent reads (0..=100).
    #[serde(deserialize_with = "de::int_in::<_, u32, 0, 100>")]
    pub retries: u32,
}

impl Default for CloudConfig {
    fn default() -> Self {
        CloudConfig {
            os_cloud: None,
            region_name: None,
            api_timeout: secs(60),
            retries: 3,
        }
    }
}

/// What a Consul cluster watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsulRole {
    Management,
    Storage,
    Tenant,
}

impl ConsulRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsulRole::Management => "management",
            ConsulRole::Storage => "storage",
            ConsulRole::Tenant => "tenant",
        }
    }
}

impl fmt::Display for ConsulRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[consul.NAME]`: one Consul cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsulCluster {
    /// The `NAME` of `[consul.NAME]`.
    pub name: String,
    pub role: ConsulRole,
    /// HTTP(S) API addresses, tried in order (at least one).
    pub addresses: Vec<String>,
    /// The ACL token, if any (`token_file` or `token_env`).
    pub token: Option<SecretRef>,
    pub ca_file: Option<PathBuf>,
    pub datacenter: Option<String>,
}

impl ConsulCluster {
    /// Reads the ACL token, if one is configured.
    pub fn read_token(&self) -> Result<Option<Secret>, ConfigError> {
        self.token.as_ref().map(SecretRef::read).transpose()
    }
}

/// How a BMC is driven.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BmcDriver {
    /// IPMI over LAN (`ipmitool -I lanplus`).
    #[default]
    Ipmi,
    /// Redfish over HTTPS.
    Redfish,
}

impl BmcDriver {
    pub fn as_str(self) -> &'static str {
        match self {
            BmcDriver::Ipmi => "ipmi",
            BmcDriver::Redfish => "redfish",
        }
    }

    /// The port used when none is configured.
    pub fn default_port(self) -> u16 {
        match self {
            BmcDriver::Ipmi => 623,
            BmcDriver::Redfish => 443,
        }
    }
}

impl fmt::Display for BmcDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The IPMI session privilege level (`ipmitool -L`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum IpmiPrivilege {
    Callback,
    User,
    Operator,
    #[default]
    Administrator,
}

impl IpmiPrivilege {
    /// The name ipmitool takes.
    pub fn as_str(self) -> &'static str {
        match self {
            IpmiPrivilege::Callback => "CALLBACK",
            IpmiPrivilege::User => "USER",
            IpmiPrivilege::Operator => "OPERATOR",
            IpmiPrivilege::Administrator => "ADMINISTRATOR",
        }
    }
}

impl fmt::Display for IpmiPrivilege {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[bmc_defaults]`: applied to every `[hosts.X.bmc]` unless it sets the key itself.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BmcDefaults {
    pub driver: BmcDriver,
    /// `None`: 623 for ipmi, 443 for redfish.
    #[serde(deserialize_with = "de::opt_int_in::<_, u16, 1, 65535>")]
    pub port: Option<u16>,
    #[serde(deserialize_with = "de::opt_nonempty")]
    pub user: Option<String>,
    #[serde(deserialize_with = "de::opt_path")]
    pub password_file: Option<PathBuf>,
    #[serde(deserialize_with = "de::opt_nonempty")]
    pub password_env: Option<String>,
    #[serde(deserialize_with = "de::int_in::<_, u8, 0, 17>")]
    pub cipher_suite: u8,
    #[serde(deserialize_with = "de::duration")]
    pub timeout: Duration,
    #[serde(deserialize_with = "de::int_in::<_, u32, 0, 20>")]
    pub retries: u32,
    pub privilege: IpmiPrivilege,
    pub insecure: bool,
    #[serde(deserialize_with = "de::opt_path")]
    pub ca_file: Option<PathBuf>,
    #[serde(deserialize_with = "de::opt_nonempty")]
    pub system_id: Option<String>,
}

impl Default for BmcDefaults {
    fn default() -> Self {
        BmcDefaults {
            driver: BmcDriver::Ipmi,
            port: None,
            user: None,
            password_file: None,
            password_env: None,
            cipher_suite: 3,
            timeout: secs(5),
            retries: 2,
            privilege: IpmiPrivilege::Administrator,
            insecure: false,
            ca_file: None,
            system_id: None,
        }
    }
}

/// `[hosts."NAME"]`: what evacctl knows about one compute host beyond Nova.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostConfig {
    /// The Nova host name (nova-compute's `host`): the key of `[hosts."NAME"]`.
    pub name: String,
    /// The Consul node name, when it differs from `name`.
    pub consul_node: Option<String>,
    /// The BMC, merged with `[bmc_defaults]`; `None` when the host has no `bmc` table.
    pub bmc: Option<ResolvedBmc>,
}

impl HostConfig {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The Consul node name: `consul_node`, else the host name.
    pub fn consul_node(&self) -> &str {
        self.consul_node.as_deref().unwrap_or(&self.name)
    }

    pub fn bmc(&self) -> Option<&ResolvedBmc> {
        self.bmc.as_ref()
    }
}

/// A host's BMC with `[bmc_defaults]` applied: every value decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedBmc {
    pub driver: BmcDriver,
    /// Host name or IP address (no scheme, no port).
    pub address: String,
    pub port: u16,
    pub user: String,
    /// Where the password is (never the password).
    pub password: SecretRef,
    /// IPMI cipher suite (`ipmitool -C`); ipmi only.
    pub cipher_suite: u8,
    /// Timeout of one BMC call (`ipmitool -N`, or the HTTP timeout).
    pub timeout: Duration,
    /// Retries of one BMC call (`ipmitool -R`).
    pub retries: u32,
    /// IPMI privilege level (`ipmitool -L`); ipmi only.
    pub privilege: IpmiPrivilege,
    /// Skip TLS verification; redfish only.
    pub insecure: bool,
    /// CA bundle for the BMC's TLS certificate; redfish only.
    pub ca_file: Option<PathBuf>,
    /// The Redfish system (e.g. `System.Embedded.1`); `None`: the only system listed.
    pub system_id: Option<String>,
}

impl ResolvedBmc {
    /// Reads the BMC password from its file or environment variable.
    pub fn read_password(&self) -> Result<Secret, ConfigError> {
        self.password.read()
    }
}

/// What to do before evacuating a failed host quickly (seed: masakari's levels).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(try_from = "i64")]
pub enum QuickEvacuateLevel {
    /// 1: force nova-compute down without powering the host off.
    ForceDownWithoutPowerOff = 1,
    /// 2: power the host off (confirmed), then force nova-compute down.
    #[default]
    PowerOffThenForceDown = 2,
    /// 3: neither: wait for Nova to see the service down.
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

/// `[policy]`: when the `watch` loop acts, and how.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    pub quick_evacuate_level: QuickEvacuateLevel,
    /// Consecutive observations before a host counts as failed (1..=100).
    #[serde(deserialize_with = "de::int_in::<_, u32, 1, 100>")]
    pub confirmations: u32,
    /// The watch cycle.
    #[serde(deserialize_with = "de::duration")]
    pub interval: Duration,
    /// More hosts failing at once than this: alert, no action (0..=10000).
    #[serde(deserialize_with = "de::int_in::<_, u32, 0, 10000>")]
    pub max_failed_hosts: u32,
    /// More than this share (percent) of compute hosts failing: alert, no action (0..=100).
    #[serde(deserialize_with = "de::int_in::<_, u8, 0, 100>")]
    pub max_failed_percent: u8,
    /// Hosts acted on per watch cycle (1..=1000).
    #[serde(deserialize_with = "de::int_in::<_, u32, 1, 1000>")]
    pub max_hosts_per_cycle: u32,
    /// Power-off confirmation polls (seed: ipmi_check_max_count; 1..=1000).
    #[serde(deserialize_with = "de::int_in::<_, u32, 1, 1000>")]
    pub check_max_count: u32,
    /// Between power-off confirmation polls (seed: ipmi_check_interval).
    #[serde(deserialize_with = "de::duration")]
    pub check_interval: Duration,
    /// A host found powered off is powered on once.
    pub power_on_recovery: bool,
    #[serde(deserialize_with = "de::duration")]
    pub recovery_timeout: Duration,
    /// argv run for a crashed service, the host name appended; empty: none.
    pub repair_command: Vec<String>,
    /// Evacuations in flight at once (1..=1000).
    #[serde(deserialize_with = "de::int_in::<_, u32, 1, 1000>")]
    pub evacuate_concurrency: u32,
    #[serde(deserialize_with = "de::duration")]
    pub verify_timeout: Duration,
    /// Hosts evacuated servers go to; empty: the scheduler chooses.
    pub target_hosts: Vec<String>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            quick_evacuate_level: QuickEvacuateLevel::PowerOffThenForceDown,
            confirmations: 2,
            interval: secs(10),
            max_failed_hosts: 1,
            max_failed_percent: 33,
            max_hosts_per_cycle: 1,
            check_max_count: 10,
            check_interval: secs(3),
            power_on_recovery: true,
            recovery_timeout: secs(5 * 60),
            repair_command: Vec::new(),
            evacuate_concurrency: 10,
            verify_timeout: secs(10 * 60),
            target_hosts: Vec::new(),
        }
    }
}

/// `[evacuation]`: which servers of a failed host are evacuated.
#[derive(Clone, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvacuationConfig {
    /// Only servers with this metadata key set to `"true"`; `None`: all.
    #[serde(deserialize_with = "de::empty_as_none")]
    pub require_metadata: Option<String>,
    /// Only servers with this tag; `None`: all.
    #[serde(deserialize_with = "de::empty_as_none")]
    pub require_tag: Option<String>,
    /// Server UUIDs or names never evacuated.
    pub skip_servers: Vec<String>,
    /// Flavor names or IDs whose servers are never evacuated.
    pub skip_flavors: Vec<String>,
}

/// `[volumes]`: how to run `cinder-manage`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VolumesConfig {
    /// argv of cinder-manage (not empty).
    pub cinder_manage: Vec<String>,
    /// argv prefix, e.g. `["ssh", "ctl1"]` or `["docker", "exec", "cinder_api"]`; never a shell.
    pub prefix: Vec<String>,
}

impl VolumesConfig {
    /// The full argv: `prefix`, `cinder_manage`, then `args`.
    pub fn argv<S: AsRef<str>>(&self, args: &[S]) -> Vec<String> {
        self.prefix
            .iter()
            .chain(&self.cinder_manage)
            .cloned()
            .chain(args.iter().map(|a| a.as_ref().to_owned()))
            .collect()
    }
}

impl Default for VolumesConfig {
    fn default() -> Self {
        VolumesConfig {
            cinder_manage: ["cinder-manage", "--config-file", "/etc/cinder/cinder.conf"]
                .map(String::from)
                .to_vec(),
            prefix: Vec::new(),
        }
    }
}

/// `[journal]`: the record of actions taken.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JournalConfig {
    #[serde(deserialize_with = "de::path")]
    pub path: PathBuf,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            path: PathBuf::from("/var/lib/evacctl/journal.jsonl"),
        }
    }
}

/// `[lock]`: one `watch` at a time (a local lock file, plus a Consul leader lock when
/// `consul_cluster` is set).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockConfig {
    #[serde(deserialize_with = "de::path")]
    pub file: PathBuf,
    /// The `[consul.NAME]` holding the leader lock; `None`: no leader lock.
    #[serde(deserialize_with = "de::empty_as_none")]
    pub consul_cluster: Option<String>,
    #[serde(deserialize_with = "de::nonempty")]
    pub consul_key: String,
    /// Consul session TTL (10s..=24h, Consul's limits).
    #[serde(deserialize_with = "de::duration")]
    pub session_ttl: Duration,
}

impl Default for LockConfig {
    fn default() -> Self {
        LockConfig {
            file: PathBuf::from("/run/evacctl/watch.lock"),
            consul_cluster: None,
            consul_key: "evacctl/leader".to_owned(),
            session_ttl: secs(15),
        }
    }
}

/// `[notify]`: who hears about failures and actions. Every channel is off by default.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// Events are POSTed as JSON here.
    #[serde(deserialize_with = "de::empty_as_none")]
    pub webhook_url: Option<String>,
    #[serde(deserialize_with = "de::duration")]
    pub webhook_timeout: Duration,
    /// argv run with the event JSON on stdin; empty: none.
    pub command: Vec<String>,
    pub email_to: Vec<String>,
    #[serde(deserialize_with = "de::empty_as_none")]
    pub email_from: Option<String>,
    /// `host` or `host:port` (exclusive with `sendmail`).
    #[serde(deserialize_with = "de::empty_as_none")]
    pub smtp_host: Option<String>,
    /// The sendmail program (exclusive with `smtp_host`).
    #[serde(deserialize_with = "de::empty_as_none")]
    pub sendmail: Option<String>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            webhook_url: None,
            webhook_timeout: secs(5),
            command: Vec::new(),
            email_to: Vec::new(),
            email_from: None,
            smtp_host: None,
            sendmail: None,
        }
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

// =====================================================================================
// Loading and accessors
// =====================================================================================

impl Config {
    /// Loads the configuration: `explicit` (from `--config` / `EVACCTL_CONFIG`) must exist
    /// and be readable; without it, [`DEFAULT_PATH`] is read if it exists, else the
    /// built-in defaults are used.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_at(explicit, Path::new(DEFAULT_PATH))
    }

    fn load_at(explicit: Option<&Path>, default_path: &Path) -> Result<Config, ConfigError> {
        let path = match explicit {
            Some(p) => p,
            None => {
                // Absent (and not a dangling symlink): no file is fine.
                if std::fs::symlink_metadata(default_path).is_err() {
                    tracing::debug!(
                        "no configuration file at {}: using the defaults",
                        default_path.display()
                    );
                    return Ok(Config::default());
                }
                default_path
            }
        };
        let io_error = |message: String| {
            ConfigError::new(ConfigErrorKind::Io, message).with_path(Some(path.to_path_buf()))
        };
        let bytes = std::fs::read(path).map_err(|e| {
            io_error(match (e.kind(), explicit.is_some()) {
                (std::io::ErrorKind::NotFound, true) => {
                    format!(
                        "the configuration file does not exist (given with --config or {ENV_VAR})"
                    )
                }
                (std::io::ErrorKind::NotFound, false) => {
                    "the configuration file does not exist (a dangling symbolic link?)".to_owned()
                }
                _ => format!("cannot read the configuration file: {e}"),
            })
        })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            io_error(format!(
                "the configuration file is not valid UTF-8 (at byte {})",
                e.utf8_error().valid_up_to()
            ))
        })?;
        tracing::debug!("reading configuration file {}", path.display());
        Self::from_str(&text, path)
    }

    /// Parses and validates a configuration; `path` is used in messages and to resolve
    /// relative file paths.
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(text: &str, path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let root = toml::de::DeTable::parse(text).map_err(|e| syntax_error(text, path, &e))?;
        let doc = Doc::new(text, &root);
        if let Some((array, span)) = doc.table_in_array() {
            let cx = Cx {
                doc: &doc,
                path,
                base: None,
            };
            return Err(cx.error(
                ConfigErrorKind::InvalidValue,
                Some(span),
                &array,
                format!(
                    "invalid value for `{array}`: an array of tables (`[[{array}]]` or `[{{...}}]`); \
                     evacctl's configuration has none: write a table (`[{array}]`)"
                ),
            ));
        }
        let raw = RawConfig::deserialize(toml::de::Deserializer::from(root))
            .map_err(|e| serde_error(&doc, path, &e))?;
        let cx = Cx {
            doc: &doc,
            path,
            base: path.parent(),
        };
        let mut config = build(raw, &cx)?;
        config.path = Some(path.to_path_buf());
        Ok(config)
    }

    /// The file this configuration was read from; `None` for the built-in defaults.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// A configured host, by its exact Nova host name.
    pub fn host(&self, name: &str) -> Option<&HostConfig> {
        self.hosts.get(name)
    }

    /// All configured hosts, sorted by name.
    pub fn hosts(&self) -> impl Iterator<Item = &HostConfig> {
        self.hosts.values()
    }

    /// For an "unknown host" message: the configured host closest to `name` (another case,
    /// short name vs. FQDN, a small typo), if any.
    pub fn suggest_host(&self, name: &str) -> Option<&str> {
        closest_match(name, self.hosts.keys().map(String::as_str))
    }

    /// A Consul cluster, by the `NAME` of `[consul.NAME]`.
    pub fn consul_cluster(&self, name: &str) -> Option<&ConsulCluster> {
        self.consul.get(name)
    }

    /// All Consul clusters, sorted by name.
    pub fn consul_clusters(&self) -> impl Iterator<Item = &ConsulCluster> {
        self.consul.values()
    }

    /// The Consul clusters with a role.
    pub fn consul_clusters_with_role(
        &self,
        role: ConsulRole,
    ) -> impl Iterator<Item = &ConsulCluster> {
        self.consul.values().filter(move |c| c.role == role)
    }
}

// =====================================================================================
// Raw (as written) tables that are resolved into the public types
// =====================================================================================

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawConfig {
    cloud: CloudConfig,
    consul: BTreeMap<String, RawConsul>,
    bmc_defaults: BmcDefaults,
    hosts: BTreeMap<String, RawHost>,
    policy: PolicyConfig,
    evacuation: EvacuationConfig,
    volumes: VolumesConfig,
    journal: JournalConfig,
    lock: LockConfig,
    notify: NotifyConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawConsul {
    role: Option<ConsulRole>,
    addresses: Vec<String>,
    #[serde(deserialize_with = "de::opt_path")]
    token_file: Option<PathBuf>,
    #[serde(deserialize_with = "de::opt_nonempty")]
    token_env: Option<String>,
    #[serde(deserialize_with = "de::opt_path")]
    ca_file: Option<PathBuf>,
    #[serde(deserialize_with = "de::opt_nonempty")]
    datacenter: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawHost {
    #[serde(deserialize_with = "de::opt_nonempty")]
    consul_node: Option<String>,
    bmc: Option<RawHostBmc>,
}

/// `[hosts.X.bmc]`: the keys of `[bmc_defaults]` (each overriding it) plus `address`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawHostBmc {
    driver: Option<BmcDriver>,
    #[serde(deserialize_with = "de::opt_nonempty")]
    address: Option<String>,
    #[serde(deserialize_with = "de::opt_int_in::<_, u16, 1, 65535>")]
    port: Option<u16>,
    #[serde(deserialize_with = "de::opt_nonempty")]
    user: Option<String>,
    #[serde(deserialize_with = "de::opt_path")]
    password_file: Option<PathBuf>,
    #[serde(deserialize_with = "de::opt_nonempty")]
    password_env: Option<String>,
    #[serde(deserialize_with = "de::opt_int_in::<_, u8, 0, 17>")]
    cipher_suite: Option<u8>,
    #[serde(deserialize_with = "de::opt_duration")]
    timeout: Option<Duration>,
    #[serde(deserialize_with = "de::opt_int_in::<_, u32, 0, 20>")]
    retries: Option<u32>,
    privilege: Option<IpmiPrivilege>,
    insecure: Option<bool>,
    #[serde(deserialize_with = "de::opt_path")]
    ca_file: Option<PathBuf>,
    #[serde(deserialize_with = "de::opt_nonempty")]
    system_id: Option<String>,
}

// =====================================================================================
// Errors with positions
// =====================================================================================

/// Validation context: the document (for positions), the file, the base for relative paths.
struct Cx<'a> {
    doc: &'a Doc<'a>,
    path: &'a Path,
    base: Option<&'a Path>,
}

impl Cx<'_> {
    fn error(
        &self,
        kind: ConfigErrorKind,
        span: Option<Range<usize>>,
        key: &KeyPath,
        message: String,
    ) -> ConfigError {
        let mut e = ConfigError::new(kind, message).with_path(Some(self.path.to_path_buf()));
        if let Some(span) = span {
            let (line, column) = self.doc.line_col(span.start);
            e.line = Some(line);
            e.column = Some(column);
        }
        e.key = Some(key.to_string());
        e
    }

    /// A bad value: points at the value (or, if the key is not written, its table).
    fn invalid(&self, key: &KeyPath, why: impl fmt::Display) -> ConfigError {
        let span = self.doc.value_span(key).or_else(|| self.nearest_span(key));
        self.error(
            ConfigErrorKind::InvalidValue,
            span,
            key,
            format!("invalid value for `{key}`: {why}"),
        )
    }

    /// A required key that is missing: points at the table's header (or key).
    fn missing(&self, table: &KeyPath, key: &str, why: impl fmt::Display) -> ConfigError {
        let span = self.nearest_span(table);
        let full = table.key(key);
        self.error(
            ConfigErrorKind::MissingKey,
            span,
            &full,
            format!("missing key `{key}` {}: {why}", table.in_table()),
        )
    }

    /// Two keys that exclude each other: points at the later one.
    fn conflict(&self, a: &KeyPath, b: &KeyPath, why: impl fmt::Display) -> ConfigError {
        let (sa, sb) = (self.doc.key_span(a), self.doc.key_span(b));
        let (key, span) = match (&sa, &sb) {
            (Some(x), Some(y)) if x.start > y.start => (a, sa),
            (Some(_), None) => (a, sa),
            _ => (b, sb),
        };
        self.error(
            ConfigErrorKind::Conflict,
            span,
            key,
            format!("`{a}` and `{b}` {why}"),
        )
    }

    /// The span of `key`, else of the closest enclosing table that is written.
    fn nearest_span(&self, key: &KeyPath) -> Option<Range<usize>> {
        let mut k = key.clone();
        loop {
            if let Some(s) = self.doc.key_span(&k) {
                return Some(s);
            }
            if k.is_root() {
                return None;
            }
            k = k.parent();
        }
    }

    fn written(&self, key: &KeyPath) -> bool {
        self.doc.contains(key)
    }

    /// A relative path is relative to the configuration file's directory.
    fn file(&self, p: PathBuf) -> PathBuf {
        match self.base {
            Some(base) if p.is_relative() && !base.as_os_str().is_empty() => base.join(p),
            _ => p,
        }
    }

    fn secret(&self, source: SecretSource, what: String, key: &KeyPath) -> SecretRef {
        let source = match source {
            SecretSource::File(p) => SecretSource::File(self.file(p)),
            env => env,
        };
        let pos = self.doc.value_span(key).map(|s| self.doc.line_col(s.start));
        SecretRef {
            source,
            what,
            config_path: Some(self.path.to_path_buf()),
            key: key.to_string(),
            line: pos.map(|p| p.0),
            column: pos.map(|p| p.1),
        }
    }
}

fn syntax_error(text: &str, path: &Path, e: &toml::de::Error) -> ConfigError {
    let mut message = e.message().trim().replace('\n', "; ");
    // Name the duplicated key (toml's span is on it).
    if let Some(span) = e.span() {
        let snippet = text.get(span).unwrap_or("").trim();
        if message == "duplicate key" && !snippet.is_empty() && !snippet.contains('\n') {
            message = format!("duplicate key `{snippet}`");
        }
    }
    let mut err = ConfigError::new(
        ConfigErrorKind::Syntax,
        format!("TOML syntax error: {message}"),
    )
    .with_path(Some(path.to_path_buf()));
    if let Some(span) = e.span() {
        let (line, column) = doc::line_col(text, span.start);
        err.line = Some(line);
        err.column = Some(column);
    }
    err
}

/// Turns a serde error (with toml's span) into a located [`ConfigError`].
fn serde_error(doc: &Doc<'_>, path: &Path, e: &toml::de::Error) -> ConfigError {
    let span = e.span();
    let key = span.as_ref().and_then(|s| doc.locate(s));
    let message = e.message().trim();

    let mut err = if let Some((name, valid)) = parse_unknown(message, "unknown field `") {
        let name = key
            .as_ref()
            .and_then(|k| k.last_key().map(str::to_owned))
            .unwrap_or(name);
        let table = key.as_ref().map(KeyPath::parent).unwrap_or_default();
        let suggestion = closest_match(&name, valid.iter().map(String::as_str)).map(str::to_owned);
        let mut text = String::from("unknown key `");
        let _ = doc::write_key(&mut text, &name);
        text.push_str(&format!("` {}", table.in_table()));
        if let Some(s) = &suggestion {
            text.push_str(&format!("; did you mean `{s}`?"));
        }
        if ["password", "token", "secret", "pass"].contains(&name.as_str()) {
            text.push_str(
                "; secrets are never written in the configuration: give a file \
                 (`password_file`, `token_file`) or an environment variable \
                 (`password_env`, `token_env`)",
            );
        }
        if valid.is_empty() {
            text.push_str(" (this table takes no keys)");
        } else {
            text.push_str(&format!(" (valid keys: {})", valid.join(", ")));
        }
        let mut err = ConfigError::new(ConfigErrorKind::UnknownKey, text);
        err.suggestion = suggestion;
        err.valid = valid;
        err
    } else if let Some((value, valid)) = parse_unknown(message, "unknown variant `") {
        let suggestion = closest_match(&value, valid.iter().map(String::as_str)).map(str::to_owned);
        let mut text = match &key {
            Some(k) => format!("invalid value for `{k}`: "),
            None => String::new(),
        };
        text.push_str(&format!("`{value}` is not one of {}", valid.join(", ")));
        if let Some(s) = &suggestion {
            text.push_str(&format!("; did you mean `{s}`?"));
        }
        let mut err = ConfigError::new(ConfigErrorKind::InvalidValue, text);
        err.suggestion = suggestion;
        err.valid = valid;
        err
    } else {
        let message = in_toml_terms(message);
        let text = match &key {
            Some(k) if !k.is_root() => format!("invalid value for `{k}`: {message}"),
            _ => message,
        };
        ConfigError::new(ConfigErrorKind::InvalidValue, text)
    };
    err.path = Some(path.to_path_buf());
    err.key = key.filter(|k| !k.is_root()).map(|k| k.to_string());
    if let Some(span) = span {
        let (line, column) = doc.line_col(span.start);
        err.line = Some(line);
        err.column = Some(column);
    }
    err
}

/// Serde's words for types, in TOML's words (and without our private type names).
fn in_toml_terms(message: &str) -> String {
    let mut m = message.to_owned();
    for (struct_name, table) in [
        ("RawConsul", "a table [consul.NAME]"),
        ("RawHostBmc", "a table [hosts.\"NAME\".bmc]"),
        ("RawHost", "a table [hosts.\"NAME\"]"),
    ] {
        m = m.replace(
            &format!("expected struct {struct_name}"),
            &format!("expected {table}"),
        );
    }
    if let Some(i) = m.find("expected struct ") {
        m.truncate(i);
        m.push_str("expected a table");
    }
    m.replace("expected a map", "expected a table")
        .replace("expected a sequence", "expected an array")
        .replace("invalid type: map", "invalid type: table")
        .replace("invalid type: sequence", "invalid type: array")
        .replace("expected i64", "expected an integer")
}

/// `unknown field `x`, expected one of `a`, `b`` → ("x", ["a", "b"]) (serde's wording).
fn parse_unknown(message: &str, prefix: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix(prefix)?;
    let (name, rest) = rest.split_once("`, ")?;
    let valid = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    Some((name.to_owned(), valid))
}

// =====================================================================================
// Validation: raw → Config
// =====================================================================================

fn build(raw: RawConfig, cx: &Cx<'_>) -> Result<Config, ConfigError> {
    let root = KeyPath::root();

    // [cloud]: everything is checked while parsing.
    let cloud = raw.cloud;

    // [consul.NAME]
    let mut consul = BTreeMap::new();
    for (name, c) in raw.consul {
        let table = root.key("consul").key(&name);
        consul.insert(name.clone(), build_consul(cx, &table, name, c)?);
    }

    // [bmc_defaults]
    let mut bmc_defaults = raw.bmc_defaults;
    let t = root.key("bmc_defaults");
    if bmc_defaults.password_file.is_some() && bmc_defaults.password_env.is_some() {
        return Err(cx.conflict(
            &t.key("password_file"),
            &t.key("password_env"),
            "are mutually exclusive: set only one",
        ));
    }
    if bmc_defaults.insecure && bmc_defaults.ca_file.is_some() {
        return Err(cx.conflict(
            &t.key("insecure"),
            &t.key("ca_file"),
            "are mutually exclusive: set only one",
        ));
    }

    // [hosts."NAME"]
    let mut hosts = BTreeMap::new();
    for (name, h) in raw.hosts {
        let table = root.key("hosts").key(&name);
        if name.trim().is_empty() || name.chars().any(char::is_whitespace) {
            return Err(cx.error(
                ConfigErrorKind::InvalidValue,
                cx.doc.key_span(&table),
                &table,
                format!(
                    "invalid host name {name:?}: a Nova host name is not empty and has no spaces"
                ),
            ));
        }
        let bmc = match h.bmc {
            Some(b) => Some(resolve_bmc(cx, &table.key("bmc"), &name, &bmc_defaults, b)?),
            None => None,
        };
        hosts.insert(
            name.clone(),
            HostConfig {
                name,
                consul_node: h.consul_node,
                bmc,
            },
        );
    }
    bmc_defaults.password_file = bmc_defaults.password_file.map(|p| cx.file(p));
    bmc_defaults.ca_file = bmc_defaults.ca_file.map(|p| cx.file(p));

    // [policy]
    let policy = raw.policy;
    let t = root.key("policy");
    check_argv(cx, &t.key("repair_command"), &policy.repair_command, false)?;
    check_names(cx, &t.key("target_hosts"), &policy.target_hosts)?;

    // [evacuation]
    let evacuation = raw.evacuation;
    let t = root.key("evacuation");
    check_names(cx, &t.key("skip_servers"), &evacuation.skip_servers)?;
    check_names(cx, &t.key("skip_flavors"), &evacuation.skip_flavors)?;

    // [volumes]
    let volumes = raw.volumes;
    let t = root.key("volumes");
    check_argv(cx, &t.key("cinder_manage"), &volumes.cinder_manage, true)?;
    check_argv(cx, &t.key("prefix"), &volumes.prefix, false)?;

    // [journal]
    let mut journal = raw.journal;
    journal.path = cx.file(journal.path);

    // [lock]
    let mut lock = raw.lock;
    let t = root.key("lock");
    lock.file = cx.file(lock.file);
    if let Some(name) = &lock.consul_cluster
        && !consul.contains_key(name)
    {
        let mut why = format!("there is no [consul.{}]", DisplayKey(name));
        match closest_match(name, consul.keys().map(String::as_str)) {
            Some(s) => why.push_str(&format!("; did you mean `{s}`?")),
            None if consul.is_empty() => why.push_str(" (no Consul cluster is configured)"),
            None => why.push_str(&format!(
                " (configured: {})",
                consul
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
        return Err(cx.invalid(&t.key("consul_cluster"), why));
    }
    if lock.consul_key.starts_with('/') {
        return Err(cx.invalid(
            &t.key("consul_key"),
            "a Consul KV key does not start with `/`",
        ));
    }
    if lock.session_ttl < secs(10) || lock.session_ttl > secs(86400) {
        return Err(cx.invalid(
            &t.key("session_ttl"),
            format!(
                "{} is out of range: Consul accepts session TTLs from 10s to 24h",
                humantime::format_duration(lock.session_ttl)
            ),
        ));
    }

    // [notify]
    let notify = raw.notify;
    check_notify(cx, &root.key("notify"), &notify)?;

    Ok(Config {
        cloud,
        consul,
        bmc_defaults,
        hosts,
        policy,
        evacuation,
        volumes,
        journal,
        lock,
        notify,
        path: None,
    })
}

fn build_consul(
    cx: &Cx<'_>,
    table: &KeyPath,
    name: String,
    c: RawConsul,
) -> Result<ConsulCluster, ConfigError> {
    let role = c.role.ok_or_else(|| {
        cx.missing(
            table,
            "role",
            "each Consul cluster needs its role: management, storage or tenant",
        )
    })?;
    if c.addresses.is_empty() {
        return Err(if cx.written(&table.key("addresses")) {
            cx.invalid(
                &table.key("addresses"),
                "give at least one address, e.g. \"http://127.0.0.1:8500\"",
            )
        } else {
            cx.missing(
                table,
                "addresses",
                "give at least one address, e.g. [\"http://127.0.0.1:8500\"]",
            )
        });
    }
    for (i, a) in c.addresses.iter().enumerate() {
        if let Err(why) = check_http_url(a) {
            return Err(cx.invalid(&table.key("addresses").index(i), why));
        }
    }
    let token = match (c.token_file, c.token_env) {
        (Some(_), Some(_)) => {
            return Err(cx.conflict(
                &table.key("token_file"),
                &table.key("token_env"),
                "are mutually exclusive: set only one",
            ));
        }
        (Some(f), None) => Some(cx.secret(
            SecretSource::File(f),
            format!("the Consul token of cluster `{name}`"),
            &table.key("token_file"),
        )),
        (None, Some(v)) => Some(cx.secret(
            SecretSource::Env(v),
            format!("the Consul token of cluster `{name}`"),
            &table.key("token_env"),
        )),
        (None, None) => None,
    };
    Ok(ConsulCluster {
        name,
        role,
        addresses: c.addresses,
        token,
        ca_file: c.ca_file.map(|p| cx.file(p)),
        datacenter: c.datacenter,
    })
}

fn resolve_bmc(
    cx: &Cx<'_>,
    table: &KeyPath,
    host: &str,
    d: &BmcDefaults,
    b: RawHostBmc,
) -> Result<ResolvedBmc, ConfigError> {
    let driver = b.driver.unwrap_or(d.driver);

    let address = b.address.ok_or_else(|| {
        cx.missing(
            table,
            "address",
            "the BMC's host name or IP address is required",
        )
    })?;
    if let Err(why) = check_bmc_address(&address) {
        return Err(cx.invalid(&table.key("address"), why));
    }

    // Keys of one driver set on a host of the other driver are a mistake in this table.
    let wrong_driver: &[(&str, bool)] = match driver {
        BmcDriver::Redfish => &[
            ("cipher_suite", b.cipher_suite.is_some()),
            ("privilege", b.privilege.is_some()),
        ],
        BmcDriver::Ipmi => &[
            ("insecure", b.insecure.is_some()),
            ("ca_file", b.ca_file.is_some()),
            ("system_id", b.system_id.is_some()),
        ],
    };
    if let Some((key, _)) = wrong_driver.iter().find(|(_, set)| *set) {
        let other = match driver {
            BmcDriver::Ipmi => "redfish",
            BmcDriver::Redfish => "ipmi",
        };
        return Err(cx.invalid(
            &table.key(key),
            format!(
                "`{key}` applies to the {other} driver only, and this host's driver is {driver}"
            ),
        ));
    }
    if b.insecure == Some(true) && b.ca_file.is_some() {
        return Err(cx.conflict(
            &table.key("insecure"),
            &table.key("ca_file"),
            "are mutually exclusive: set only one",
        ));
    }

    let what = format!("the BMC password of host `{host}`");
    let password = match (b.password_file, b.password_env) {
        (Some(_), Some(_)) => {
            return Err(cx.conflict(
                &table.key("password_file"),
                &table.key("password_env"),
                "are mutually exclusive: set only one",
            ));
        }
        (Some(f), None) => cx.secret(SecretSource::File(f), what, &table.key("password_file")),
        (None, Some(v)) => cx.secret(SecretSource::Env(v), what, &table.key("password_env")),
        (None, None) => {
            let t = KeyPath::root().key("bmc_defaults");
            match (&d.password_file, &d.password_env) {
                (Some(f), _) => {
                    cx.secret(SecretSource::File(f.clone()), what, &t.key("password_file"))
                }
                (None, Some(v)) => {
                    cx.secret(SecretSource::Env(v.clone()), what, &t.key("password_env"))
                }
                (None, None) => {
                    return Err(cx.missing(
                        table,
                        "password_file",
                        "the BMC needs a password: set `password_file` or `password_env` here or in [bmc_defaults]",
                    ));
                }
            }
        }
    };
    let user = b.user.or_else(|| d.user.clone()).ok_or_else(|| {
        cx.missing(
            table,
            "user",
            "the BMC needs a user: set `user` here or in [bmc_defaults]",
        )
    })?;

    let (insecure, ca_file) = match (b.insecure, b.ca_file) {
        (_, Some(f)) => (false, Some(f)),
        (Some(true), None) => (true, None),
        (Some(false), None) => (false, d.ca_file.clone()),
        (None, None) => (d.insecure, d.ca_file.clone()),
    };

    Ok(ResolvedBmc {
        driver,
        address,
        port: b.port.or(d.port).unwrap_or(driver.default_port()),
        user,
        password,
        cipher_suite: b.cipher_suite.unwrap_or(d.cipher_suite),
        timeout: b.timeout.unwrap_or(d.timeout),
        retries: b.retries.unwrap_or(d.retries),
        privilege: b.privilege.unwrap_or(d.privilege),
        insecure,
        ca_file: ca_file.map(|p| cx.file(p)),
        system_id: b.system_id.or_else(|| d.system_id.clone()),
    })
}

fn check_notify(cx: &Cx<'_>, t: &KeyPath, n: &NotifyConfig) -> Result<(), ConfigError> {
    if let Some(url) = &n.webhook_url {
        check_http_url(url).map_err(|why| cx.invalid(&t.key("webhook_url"), why))?;
    }
    check_argv(cx, &t.key("command"), &n.command, false)?;
    for (i, a) in n.email_to.iter().enumerate() {
        if !looks_like_email(a) {
            return Err(cx.invalid(
                &t.key("email_to").index(i),
                format!("{a:?} is not an e-mail address"),
            ));
        }
    }
    if let Some(from) = &n.email_from
        && !looks_like_email(from)
    {
        return Err(cx.invalid(
            &t.key("email_from"),
            format!("{from:?} is not an e-mail address"),
        ));
    }
    if n.smtp_host.is_some() && n.sendmail.is_some() {
        return Err(cx.conflict(
            &t.key("smtp_host"),
            &t.key("sendmail"),
            "are mutually exclusive: set only one",
        ));
    }
    if let Some(h) = &n.smtp_host
        && (h.chars().any(char::is_whitespace) || h.contains("://"))
    {
        return Err(cx.invalid(&t.key("smtp_host"), "give `host` or `host:port`"));
    }
    if n.email_to.is_empty() {
        for (key, set) in [
            ("email_from", n.email_from.is_some()),
            ("smtp_host", n.smtp_host.is_some()),
            ("sendmail", n.sendmail.is_some()),
        ] {
            if set {
                return Err(cx.missing(t, "email_to", format!("`{key}` is set, but no recipient")));
            }
        }
    } else {
        if n.email_from.is_none() {
            return Err(cx.missing(t, "email_from", "`email_to` needs a sender address"));
        }
        if n.smtp_host.is_none() && n.sendmail.is_none() {
            return Err(cx.missing(t, "smtp_host", "`email_to` needs `smtp_host` or `sendmail`"));
        }
    }
    Ok(())
}

fn looks_like_email(s: &str) -> bool {
    matches!(s.split_once('@'), Some((user, domain)) if !user.is_empty() && !domain.is_empty())
        && !s.chars().any(char::is_whitespace)
}

/// An argv list: no empty words, and a program name without spaces (a shell command line
/// written as one string is the usual mistake).
fn check_argv(
    cx: &Cx<'_>,
    key: &KeyPath,
    argv: &[String],
    required: bool,
) -> Result<(), ConfigError> {
    if required && argv.is_empty() {
        return Err(cx.invalid(key, "must not be empty"));
    }
    for (i, word) in argv.iter().enumerate() {
        if word.is_empty() {
            return Err(cx.invalid(&key.index(i), "an empty argument"));
        }
    }
    if let Some(program) = argv.first()
        && (program.trim() != program || program.contains(' '))
    {
        return Err(cx.invalid(
            &key.index(0),
            format!(
                "{program:?} has a space: this is an argv list, not a shell command line; \
                     write each word as its own string, e.g. [\"ssh\", \"ctl1\"]"
            ),
        ));
    }
    Ok(())
}

/// A list of names (hosts, servers, flavors): no empty entries.
fn check_names(cx: &Cx<'_>, key: &KeyPath, names: &[String]) -> Result<(), ConfigError> {
    for (i, n) in names.iter().enumerate() {
        if n.trim().is_empty() {
            return Err(cx.invalid(&key.index(i), "an empty name"));
        }
    }
    Ok(())
}

/// `http://host[:port][/path]` or `https://...`, without credentials.
fn check_http_url(url: &str) -> Result<(), String> {
    let lower = url.to_ascii_lowercase();
    let rest = if lower.starts_with("http://") {
        &url[7..]
    } else if lower.starts_with("https://") {
        &url[8..]
    } else {
        return Err(format!("{url:?} is not an http:// or https:// URL"));
    };
    if url.chars().any(char::is_whitespace) {
        return Err(format!("{url:?} contains a space"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(
            "the URL has credentials in it (`user:password@`): put a token in a file \
                    (`token_file`) or an environment variable (`token_env`)"
                .to_owned(),
        );
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, rest)) => (h, rest.strip_prefix(':')),
            None => return Err(format!("{url:?}: unclosed `[` in the host")),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    if let Some(p) = port
        && !matches!(p.parse::<u16>(), Ok(1..))
    {
        return Err(format!("{url:?} has an invalid port {p:?}"));
    }
    Ok(())
}

/// A BMC address: a host name or an IP address, without scheme or port.
fn check_bmc_address(a: &str) -> Result<(), String> {
    if a.contains("://") {
        return Err(format!(
            "{a:?}: give the host name or IP address only; the protocol follows from `driver` \
             and the port from `port`"
        ));
    }
    if a.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(format!("{a:?} is not a host name or IP address"));
    }
    Ok(())
}

/// A user-chosen name as a TOML key (quoted when needed), for messages.
struct DisplayKey<'a>(&'a str);

impl fmt::Display for DisplayKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        doc::write_key(f, self.0)
    }
}
