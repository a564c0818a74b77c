//! From the document to the typed [`Config`]: the tables as written (`Raw*`), serde errors
//! turned into located [`ConfigError`]s, and the checks that need more than one value
//! (required and exclusive keys, references, defaults merged into hosts).

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::doc::{self, Doc, KeyPath};
use super::*;
use crate::core::evacuable::{DEFAULT_PRIORITY_KEY, RecoveryMethod};

/// Parses, deserializes and validates a document; `path` is for messages and the base of
/// relative paths.
pub(super) fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
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
    #[serde(with = "RawPolicy")]
    policy: PolicyConfig,
    #[serde(with = "RawEvacuation")]
    evacuation: EvacuationConfig,
    volumes: VolumesConfig,
    journal: JournalConfig,
    lock: LockConfig,
    notify: NotifyConfig,
    metrics: MetricsConfig,
}

/// `[policy]` as written: deserialized straight into the core's [`PolicyConfig`] (serde's
/// remote derive), with the ranges and duration syntax checked here.
#[derive(Deserialize)]
#[serde(
    remote = "PolicyConfig",
    default = "PolicyConfig::default",
    deny_unknown_fields
)]
struct RawPolicy {
    quick_evacuate_level: QuickEvacuateLevel,
    #[serde(deserialize_with = "de::int_in::<_, u32, 1, 100>")]
    confirmations: u32,
    #[serde(deserialize_with = "de::opt_duration")]
    confirm_window: Option<Duration>,
    #[serde(deserialize_with = "de::duration")]
    interval: Duration,
    #[serde(deserialize_with = "de::int_in::<_, u32, 0, 10000>")]
    max_failed_hosts: u32,
    #[serde(deserialize_with = "de::int_in::<_, u8, 0, 100>")]
    max_failed_percent: u8,
    #[serde(deserialize_with = "de::int_in::<_, u32, 1, 1000>")]
    max_hosts_per_cycle: u32,
    #[serde(deserialize_with = "de::int_in::<_, u32, 1, 1000>")]
    check_max_count: u32,
    #[serde(deserialize_with = "de::duration")]
    check_interval: Duration,
    power_on_recovery: bool,
    #[serde(deserialize_with = "de::duration")]
    recovery_timeout: Duration,
    repair_command: Vec<String>,
    #[serde(deserialize_with = "de::int_in::<_, u32, 1, 1000>")]
    evacuate_concurrency: u32,
    #[serde(deserialize_with = "de::duration")]
    verify_timeout: Duration,
    target_hosts: Vec<String>,
    partial_evacuation: bool,
    #[serde(deserialize_with = "de::duration")]
    flap_window: Duration,
    move_volumes: bool,
    #[serde(deserialize_with = "de::opt_duration")]
    realert_interval: Option<Duration>,
}

/// `[evacuation]` as written, into the core's [`EvacuationConfig`].
#[derive(Deserialize)]
#[serde(
    remote = "EvacuationConfig",
    default = "EvacuationConfig::default",
    deny_unknown_fields
)]
struct RawEvacuation {
    #[serde(deserialize_with = "de::empty_as_none")]
    require_metadata: Option<String>,
    #[serde(deserialize_with = "de::empty_as_none")]
    require_tag: Option<String>,
    #[serde(deserialize_with = "de::empty_as_none")]
    require_flavor_property: Option<String>,
    skip_servers: Vec<String>,
    skip_flavors: Vec<String>,
    same_zone: bool,
    same_aggregate_keys: Vec<String>,
    reserved_hosts: Vec<String>,
    #[serde(deserialize_with = "de::empty_as_none")]
    reserved_aggregate_key: Option<String>,
    recovery_method: RecoveryMethod,
    priority_key: String,
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
    scheme: Option<RedfishScheme>,
    #[serde(deserialize_with = "de::opt_nonempty")]
    agent: Option<String>,
    agent_options: Option<BTreeMap<String, String>>,
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

    /// Two keys of one table that exclude each other: points at the later one.
    fn conflict(&self, a: &KeyPath, b: &KeyPath) -> ConfigError {
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
            format!("`{a}` and `{b}` are mutually exclusive: set only one"),
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

    // [cloud]
    let cloud = raw.cloud;
    let t = root.key("cloud");
    check_duration(cx, &t.key("api_timeout"), cloud.api_timeout, SECOND, DAY)?;

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
        return Err(cx.conflict(&t.key("password_file"), &t.key("password_env")));
    }
    if bmc_defaults.insecure && bmc_defaults.ca_file.is_some() {
        return Err(cx.conflict(&t.key("insecure"), &t.key("ca_file")));
    }
    check_duration(
        cx,
        &t.key("timeout"),
        bmc_defaults.timeout,
        BMC_TIMEOUT.0,
        BMC_TIMEOUT.1,
    )?;
    if let Some(agent) = &bmc_defaults.agent {
        check_agent(cx, &t.key("agent"), agent)?;
    }
    check_agent_options(cx, &t.key("agent_options"), &bmc_defaults.agent_options)?;

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
    // `interval` and `check_interval` are the pauses of loops: never 0 (a busy loop, refused
    // while parsing), never so long that a failure waits a day. Nothing may be so long that
    // adding it to a time overflows.
    for (key, d, min, max) in [
        ("interval", policy.interval, INTERVAL.0, INTERVAL.1),
        ("check_interval", policy.check_interval, MILLIS_100, HOUR),
        ("recovery_timeout", policy.recovery_timeout, SECOND, WEEK),
        ("verify_timeout", policy.verify_timeout, SECOND, WEEK),
        ("flap_window", policy.flap_window, SECOND, WEEK),
    ] {
        check_duration(cx, &t.key(key), d, min, max)?;
    }
    // Off when unset; set, long enough to mean "seen twice", short enough that a failure does
    // not wait a day.
    if let Some(d) = policy.confirm_window {
        check_duration(cx, &t.key("confirm_window"), d, MILLIS_100, DAY)?;
    }
    // Off when unset; set, a re-send at most once a second (never once a cycle).
    if let Some(d) = policy.realert_interval {
        check_duration(cx, &t.key("realert_interval"), d, SECOND, WEEK)?;
    }
    check_names(cx, &t.key("target_hosts"), &policy.target_hosts)?;

    // [evacuation]
    let evacuation = raw.evacuation;
    let t = root.key("evacuation");
    check_names(cx, &t.key("skip_servers"), &evacuation.skip_servers)?;
    check_names(cx, &t.key("skip_flavors"), &evacuation.skip_flavors)?;
    check_names(
        cx,
        &t.key("same_aggregate_keys"),
        &evacuation.same_aggregate_keys,
    )?;
    check_names(cx, &t.key("reserved_hosts"), &evacuation.reserved_hosts)?;
    if evacuation.priority_key.trim().is_empty() {
        return Err(cx.invalid(
            &t.key("priority_key"),
            format!("an empty key (the default is {DEFAULT_PRIORITY_KEY:?})"),
        ));
    }
    if evacuation.recovery_method.uses_reserved()
        && evacuation.reserved_hosts.is_empty()
        && evacuation.reserved_aggregate_key.is_none()
    {
        return Err(cx.invalid(
            &t.key("recovery_method"),
            format!(
                "{:?} needs reserved hosts: set `reserved_hosts` or `reserved_aggregate_key` \
                 (or use \"auto\")",
                evacuation.recovery_method.as_str()
            ),
        ));
    }

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
    let mut notify = raw.notify;
    check_notify(cx, &root.key("notify"), &notify)?;
    let t = root.key("notify").key("webhook_timeout");
    check_duration(cx, &t, notify.webhook_timeout, MILLIS_100, HOUR)?;
    resolve_smtp(cx, &root.key("notify"), &mut notify)?;

    // [metrics]
    let mut metrics = raw.metrics;
    metrics.textfile = metrics.textfile.map(|p| cx.file(p));

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
        metrics,
        path: None,
    })
}

const MILLIS_100: Duration = Duration::from_millis(100);
const SECOND: Duration = Duration::from_secs(1);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86400);
const WEEK: Duration = Duration::from_secs(7 * 86400);
/// The range of `policy.interval`, and of `watch --interval`.
pub const INTERVAL: (Duration, Duration) = (MILLIS_100, DAY);
/// The range of a BMC's `timeout` (per exchange).
const BMC_TIMEOUT: (Duration, Duration) = (MILLIS_100, HOUR);

/// A configured duration must lie in `min..=max`; the error gives the range.
fn check_duration(
    cx: &Cx<'_>,
    key: &KeyPath,
    d: Duration,
    min: Duration,
    max: Duration,
) -> Result<(), ConfigError> {
    match crate::core::time::out_of_range(d, min, max) {
        Some(why) => Err(cx.invalid(key, why)),
        None => Ok(()),
    }
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
            return Err(cx.conflict(&table.key("token_file"), &table.key("token_env")));
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
    if let Some(t) = b.timeout {
        check_duration(cx, &table.key("timeout"), t, BMC_TIMEOUT.0, BMC_TIMEOUT.1)?;
    }

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

    // Keys of one driver set on a host of another driver are a mistake in this table.
    let (ipmi_keys, redfish_keys, agent_keys) = (
        [
            ("cipher_suite", b.cipher_suite.is_some()),
            ("privilege", b.privilege.is_some()),
        ],
        [
            ("insecure", b.insecure.is_some()),
            ("ca_file", b.ca_file.is_some()),
            ("system_id", b.system_id.is_some()),
            ("scheme", b.scheme.is_some()),
        ],
        [
            ("agent", b.agent.is_some()),
            ("agent_options", b.agent_options.is_some()),
        ],
    );
    let others: [(&[(&str, bool)], &str); 2] = match driver {
        BmcDriver::Ipmi => [(&redfish_keys, "redfish"), (&agent_keys, "fence-agent")],
        BmcDriver::Redfish => [(&ipmi_keys, "ipmi"), (&agent_keys, "fence-agent")],
        BmcDriver::FenceAgent => [(&ipmi_keys, "ipmi"), (&redfish_keys, "redfish")],
    };
    let wrong_driver = others
        .into_iter()
        .flat_map(|(keys, other)| keys.iter().filter(|k| k.1).map(move |k| (k.0, other)))
        .next();
    if let Some((key, other)) = wrong_driver {
        let mut why = format!(
            "`{key}` applies to the {other} driver only, and this host's driver is {driver}"
        );
        if driver == BmcDriver::FenceAgent {
            why.push_str(": give the agent's own option in `agent_options`");
        }
        return Err(cx.invalid(&table.key(key), why));
    }
    if driver == BmcDriver::FenceAgent && b.retries.is_some() {
        return Err(cx.invalid(
            &table.key("retries"),
            "a fence agent retries by itself (its own options, in `agent_options`); \
             evacctl runs it once per call, within `timeout`",
        ));
    }
    if b.insecure == Some(true) && b.ca_file.is_some() {
        return Err(cx.conflict(&table.key("insecure"), &table.key("ca_file")));
    }

    let what = format!("the BMC password of host `{host}`");
    let password = match (b.password_file, b.password_env) {
        (Some(_), Some(_)) => {
            return Err(cx.conflict(&table.key("password_file"), &table.key("password_env")));
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

    let fence_agent = match driver {
        BmcDriver::FenceAgent => Some(resolve_fence_agent(
            cx,
            table,
            &user,
            d,
            b.agent,
            b.agent_options,
        )?),
        _ => None,
    };
    // One run of a fence agent logs in, acts and waits for the power itself: unless a
    // timeout is written for it, it gets the time the agents' own defaults need.
    let timeout = match b.timeout {
        Some(t) => t,
        None if driver == BmcDriver::FenceAgent
            && !cx.written(&KeyPath::root().key("bmc_defaults").key("timeout")) =>
        {
            FENCE_AGENT_TIMEOUT
        }
        None => d.timeout,
    };

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
        timeout,
        retries: b.retries.unwrap_or(d.retries),
        privilege: b.privilege.unwrap_or(d.privilege),
        insecure,
        ca_file: ca_file.map(|p| cx.file(p)),
        system_id: b.system_id.or_else(|| d.system_id.clone()),
        scheme: b.scheme.unwrap_or(d.scheme),
        fence_agent,
    })
}

/// The default `timeout` of one run of a fence agent: fence_ipmilan takes 20 s to give up on
/// a BMC that does not answer, and an `off` waits for the power to go.
pub const FENCE_AGENT_TIMEOUT: Duration = Duration::from_secs(60);

/// The options evacctl itself gives a fence agent (and their aliases in the fence-agents
/// library): they come from `address`, `port`, `user` and the password source, and the
/// action from the command. Compared with `-` read as `_`, as the agents read them.
const AGENT_OWN_OPTIONS: &[&str] = &[
    "action",
    "option",
    "ip",
    "ipaddr",
    "ipport",
    "username",
    "login",
    "password",
    "passwd",
    "password_script",
    "passwd_script",
];

fn resolve_fence_agent(
    cx: &Cx<'_>,
    table: &KeyPath,
    user: &str,
    d: &BmcDefaults,
    agent: Option<String>,
    options: Option<BTreeMap<String, String>>,
) -> Result<FenceAgentConfig, ConfigError> {
    let agent = match agent {
        Some(a) => check_agent(cx, &table.key("agent"), &a)?,
        None => match &d.agent {
            Some(a) => check_agent(cx, &KeyPath::root().key("bmc_defaults").key("agent"), a)?,
            None => {
                return Err(cx.missing(
                    table,
                    "agent",
                    "driver fence-agent runs a fence agent: name it (e.g. \"fence_ipmilan\", \
                     found in PATH, or an absolute path) here or in [bmc_defaults]",
                ));
            }
        },
    };
    let own = options.unwrap_or_default();
    check_agent_options(cx, &table.key("agent_options"), &own)?;
    if user.chars().any(char::is_control) {
        return Err(cx.invalid(
            &table.key("user"),
            "a fence agent reads its options one per line: the user must be one line",
        ));
    }
    let mut options = d.agent_options.clone();
    options.extend(own);
    Ok(FenceAgentConfig { agent, options })
}

/// `agent`: a bare program name (found in `PATH` when run) or an absolute path; nothing else
/// (a relative path would depend on the directory evacctl happens to run in).
fn check_agent(cx: &Cx<'_>, key: &KeyPath, agent: &str) -> Result<AgentProgram, ConfigError> {
    if agent.starts_with('/') {
        if agent.chars().any(char::is_control) || agent.ends_with('/') {
            return Err(cx.invalid(key, format!("{agent:?} is not a path to a program")));
        }
        return Ok(AgentProgram::Path(PathBuf::from(agent)));
    }
    let plain = agent
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '+'));
    if !plain || agent.starts_with(['-', '.']) {
        return Err(cx.invalid(
            key,
            format!(
                "{agent:?}: give the fence agent's name (e.g. \"fence_ipmilan\", found in PATH) \
                 or its absolute path (e.g. \"/usr/sbin/fence_ipmilan\"); a relative path, \
                 arguments or a shell command are not taken"
            ),
        ));
    }
    Ok(AgentProgram::Name(agent.to_owned()))
}

/// `agent_options`: each becomes one `key=value` line on the agent's stdin, so a key is a
/// plain word and a value one line; the options evacctl sets itself, and secrets, are refused.
fn check_agent_options(
    cx: &Cx<'_>,
    table: &KeyPath,
    options: &BTreeMap<String, String>,
) -> Result<(), ConfigError> {
    for (name, value) in options {
        let key = table.key(name);
        let plain = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !plain {
            return Err(cx.error(
                ConfigErrorKind::InvalidValue,
                cx.doc.key_span(&key).or_else(|| cx.nearest_span(table)),
                &key,
                format!(
                    "invalid option name {name:?} in `{table}`: a fence agent option is a word of \
                     letters, digits, `_` and `-` (e.g. lanplus, cipher, privlvl)"
                ),
            ));
        }
        let normal = name.replace('-', "_");
        if AGENT_OWN_OPTIONS.contains(&normal.as_str()) {
            let why = if normal.starts_with("pass") {
                "secrets are never written in the configuration: the agent gets the password \
                 from `password_file` or `password_env`"
            } else {
                "evacctl sets it itself (from `address`, `port`, `user` and the command)"
            };
            return Err(cx.invalid(&key, format!("`{name}` is not taken here: {why}")));
        }
        if value.chars().any(char::is_control) {
            return Err(cx.invalid(
                &key,
                "a fence agent reads its options one per line: a value is one line, \
                 without control characters",
            ));
        }
    }
    Ok(())
}

fn check_notify(cx: &Cx<'_>, t: &KeyPath, n: &NotifyConfig) -> Result<(), ConfigError> {
    if let Some(url) = &n.webhook_url {
        // Unlike Consul's addresses, a webhook URL may hold its credentials (`user:password@`,
        // a token in the query or the path): allowed, and never quoted in an error.
        let without_userinfo = match url.split_once("://") {
            Some((scheme, rest)) => {
                let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
                match rest[..end].rfind('@') {
                    Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
                    None => url.clone(),
                }
            }
            None => url.clone(),
        };
        check_http_url(&without_userinfo).map_err(|why| {
            cx.invalid(
                &t.key("webhook_url"),
                why.replace(&format!("{without_userinfo:?}"), "the URL"),
            )
        })?;
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
        return Err(cx.conflict(&t.key("smtp_host"), &t.key("sendmail")));
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
        // email_from may stay unset: the sender is then `evacctl@<hostname>`.
        if n.smtp_host.is_none() && n.sendmail.is_none() {
            return Err(cx.missing(t, "smtp_host", "`email_to` needs `smtp_host` or `sendmail`"));
        }
    }
    Ok(())
}

/// The SMTP keys: only with `smtp_host`; a user and a password together; no password or CA
/// over an unencrypted connection. Resolves the password's [`SecretRef`] and the CA path.
fn resolve_smtp(cx: &Cx<'_>, t: &KeyPath, n: &mut NotifyConfig) -> Result<(), ConfigError> {
    let password_key = if n.smtp_password_env.is_some() {
        "smtp_password_env"
    } else {
        "smtp_password_file"
    };
    if n.smtp_host.is_none() {
        for (key, set) in [
            ("smtp_user", n.smtp_user.is_some()),
            ("smtp_password_file", n.smtp_password_file.is_some()),
            ("smtp_password_env", n.smtp_password_env.is_some()),
            ("smtp_ca_file", n.smtp_ca_file.is_some()),
        ] {
            if set {
                return Err(cx.missing(
                    t,
                    "smtp_host",
                    format!("`{key}` is set, but no SMTP relay"),
                ));
            }
        }
        return Ok(());
    }
    n.smtp_password = match (&n.smtp_password_file, &n.smtp_password_env) {
        (Some(_), Some(_)) => {
            return Err(cx.conflict(&t.key("smtp_password_file"), &t.key("smtp_password_env")));
        }
        (Some(f), None) => Some(cx.secret(
            SecretSource::File(f.clone()),
            "the SMTP password".to_string(),
            &t.key("smtp_password_file"),
        )),
        (None, Some(v)) => Some(cx.secret(
            SecretSource::Env(v.clone()),
            "the SMTP password".to_string(),
            &t.key("smtp_password_env"),
        )),
        (None, None) => None,
    };
    n.smtp_password_file = n.smtp_password_file.take().map(|p| cx.file(p));
    match (n.smtp_user.is_some(), n.smtp_password.is_some()) {
        (true, false) => {
            return Err(cx.missing(t, "smtp_password_file", "`smtp_user` needs a password"));
        }
        (false, true) => {
            return Err(cx.missing(t, "smtp_user", format!("`{password_key}` needs a user")));
        }
        _ => {}
    }
    if n.smtp_tls == SmtpTls::None {
        if n.smtp_password.is_some() {
            return Err(cx.invalid(
                &t.key(password_key),
                "AUTH over an unencrypted connection would send the password in clear: set \
                 smtp_tls = \"starttls\" or \"tls\"",
            ));
        }
        if n.smtp_ca_file.is_some() {
            return Err(cx.invalid(
                &t.key("smtp_ca_file"),
                "smtp_tls = \"none\" checks no certificate",
            ));
        }
    }
    n.smtp_ca_file = n.smtp_ca_file.take().map(|p| cx.file(p));
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
