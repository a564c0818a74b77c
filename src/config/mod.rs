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

#[cfg(test)]
mod tests;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::secret::Secret;

pub use crate::core::evacuable::EvacuationConfig;
pub use crate::core::names::closest_match;
pub use crate::core::network::ConsulRole;
pub use crate::core::watch::{PolicyConfig, QuickEvacuateLevel};
pub use error::{ConfigError, ConfigErrorDetails, ConfigErrorKind};
pub use secrets::{MAX_SECRET_FILE_BYTES, SecretRef, SecretSource};
pub use validate::INTERVAL;

/// The configuration file read when neither `--config` nor `EVACCTL_CONFIG` is given.
pub const DEFAULT_PATH: &str = "/etc/evacctl/config.toml";

/// The environment variable naming the configuration file (the CLI reads it).
pub const ENV_VAR: &str = "EVACCTL_CONFIG";

/// Configuration files larger than this are refused. One with a BMC section per host is
/// about 150 bytes a host: 64 MiB holds far more than 50,000 hosts, and still refuses
/// `--config /dev/zero` or a log file named by mistake.
pub const MAX_CONFIG_BYTES: u64 = 64 << 20;

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
    pub metrics: MetricsConfig,
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
    /// A Pacemaker fence agent (`fence_ipmilan`, `fence_redfish`, ...), its options on stdin.
    #[serde(rename = "fence-agent")]
    FenceAgent,
}

impl BmcDriver {
    pub fn as_str(self) -> &'static str {
        match self {
            BmcDriver::Ipmi => "ipmi",
            BmcDriver::Redfish => "redfish",
            BmcDriver::FenceAgent => "fence-agent",
        }
    }

    /// The port used when none is configured; 0 for a fence agent: none is passed, the
    /// agent uses its own default.
    pub fn default_port(self) -> u16 {
        match self {
            BmcDriver::Ipmi => 623,
            BmcDriver::Redfish => 443,
            BmcDriver::FenceAgent => 0,
        }
    }
}

impl fmt::Display for BmcDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a Redfish BMC is reached: HTTPS (every real BMC), or plain HTTP for a lab BMC or an
/// emulator (the password then crosses the network in clear).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedfishScheme {
    #[default]
    Https,
    Http,
}

impl RedfishScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            RedfishScheme::Https => "https",
            RedfishScheme::Http => "http",
        }
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
    pub scheme: RedfishScheme,
    /// The fence agent of `driver = "fence-agent"`: a name found in `PATH` or an absolute path.
    #[serde(deserialize_with = "de::opt_nonempty")]
    pub agent: Option<String>,
    /// Options passed through to the fence agent (merged key by key with a host's own).
    pub agent_options: BTreeMap<String, String>,
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
            scheme: RedfishScheme::Https,
            agent: None,
            agent_options: BTreeMap::new(),
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
    /// 0 for a fence agent without `port`: the agent's own default.
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
    /// `https` (default) or `http`; redfish only.
    pub scheme: RedfishScheme,
    /// The agent and its options; `Some` exactly when `driver` is fence-agent.
    pub fence_agent: Option<FenceAgentConfig>,
}

/// `driver = "fence-agent"`: which agent runs, and what it is told beyond address, port, user
/// and password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FenceAgentConfig {
    pub agent: AgentProgram,
    /// `agent_options`, checked: keys of letters, digits, `_` and `-`, values on one line,
    /// none of the options evacctl sets itself.
    pub options: BTreeMap<String, String>,
}

/// How `agent` names the program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentProgram {
    /// A bare name (`fence_ipmilan`), looked up in `PATH` when the agent is run.
    Name(String),
    /// An absolute path.
    Path(PathBuf),
}

impl fmt::Display for AgentProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentProgram::Name(n) => f.write_str(n),
            AgentProgram::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

impl ResolvedBmc {
    /// Reads the BMC password from its file or environment variable.
    pub fn read_password(&self) -> Result<Secret, ConfigError> {
        self.password.read()
    }
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
    /// The leader lock is on whenever Consul clusters are configured (origin A: only the
    /// Consul leader acts); `false` turns it off.
    pub leader: bool,
}

impl Default for LockConfig {
    fn default() -> Self {
        LockConfig {
            file: PathBuf::from("/run/evacctl/watch.lock"),
            consul_cluster: None,
            consul_key: "evacctl/leader".to_owned(),
            session_ttl: secs(15),
            leader: true,
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
    /// How the SMTP connection is protected: STARTTLS required (default), TLS from the first
    /// byte, or none.
    pub smtp_tls: SmtpTls,
    /// The AUTH user; with `smtp_password_file` or `smtp_password_env`.
    #[serde(deserialize_with = "de::empty_as_none")]
    pub smtp_user: Option<String>,
    #[serde(deserialize_with = "de::opt_path")]
    pub smtp_password_file: Option<PathBuf>,
    #[serde(deserialize_with = "de::opt_nonempty")]
    pub smtp_password_env: Option<String>,
    /// The CA bundle the relay's certificate is checked against, instead of the system's.
    #[serde(deserialize_with = "de::opt_path")]
    pub smtp_ca_file: Option<PathBuf>,
    /// Where the AUTH password is: `smtp_password_file` or `smtp_password_env` resolved by
    /// the loader (never written in the file).
    #[serde(skip)]
    pub smtp_password: Option<SecretRef>,
}

/// `[notify] smtp_tls`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection, then STARTTLS, which the relay must offer (port 587 by default).
    #[default]
    Starttls,
    /// TLS from the first byte, "SMTPS" (port 465 by default).
    Tls,
    /// No encryption (port 25 by default): a relay on the controller or a trusted network.
    None,
}

impl SmtpTls {
    /// The port used when `smtp_host` names none.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        }
    }
}

/// `[metrics]`: Prometheus metrics of `watch`; both off by default.
#[derive(Clone, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// A file for node_exporter's textfile collector, rewritten after every cycle.
    #[serde(deserialize_with = "de::opt_path")]
    pub textfile: Option<PathBuf>,
    /// `ADDRESS:PORT` where `GET /metrics` is served while the loop runs.
    pub listen: Option<std::net::SocketAddr>,
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
            smtp_tls: SmtpTls::default(),
            smtp_user: None,
            smtp_password_file: None,
            smtp_password_env: None,
            smtp_ca_file: None,
            smtp_password: None,
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
        // Only a regular file, and at most MAX_CONFIG_BYTES of it: `--config /dev/zero` would
        // grow the memory without end, a FIFO would wait for a writer for ever.
        let bytes = crate::files::read_limited(path, MAX_CONFIG_BYTES).map_err(|e| {
            io_error(match (e.kind(), explicit.is_some()) {
                (std::io::ErrorKind::NotFound, true) => {
                    format!(
                        "the configuration file does not exist (given with --config or {ENV_VAR})"
                    )
                }
                (std::io::ErrorKind::NotFound, false) => {
                    "the configuration file does not exist (a dangling symbolic link?)".to_owned()
                }
                (std::io::ErrorKind::InvalidData, _) => format!(
                    "the configuration file is larger than {} (the limit): is it the right file?",
                    crate::files::size(MAX_CONFIG_BYTES)
                ),
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
    pub fn from_str(text: &str, path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        validate::parse(text, path.as_ref())
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

    /// The `[consul.NAME]` holding the leader lock: `[lock] consul_cluster`, else the first
    /// management cluster (or the first cluster); `None` without clusters or with
    /// `[lock] leader = false`.
    pub fn leader_cluster(&self) -> Option<&str> {
        if !self.lock.leader {
            return None;
        }
        self.lock.consul_cluster.as_deref().or_else(|| {
            self.consul_clusters_with_role(ConsulRole::Management)
                .chain(self.consul_clusters())
                .next()
                .map(|c| c.name.as_str())
        })
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
