//! Which cloud, with which credentials: `clouds.yaml` + `secure.yaml` + `OS_*`, resolved the way
//! openstacksdk and python-openstackclient do.
//!
//! - Files: `$OS_CLIENT_CONFIG_FILE` if set (it must exist), else the first existing of
//!   `./clouds.{yaml,yml,json}`, `$XDG_CONFIG_HOME/openstack/…` (default `~/.config/openstack/`),
//!   `/etc/openstack/…`. `secure.yaml` likewise with `$OS_CLIENT_SECURE_FILE`. The named cloud's
//!   entry is deep-merged with the entry of the same name in secure.yaml (secure wins).
//! - Cloud name: `--os-cloud`, else `OS_CLOUD`, else evacctl's configured default. The `OS_*`
//!   variables that are set are laid over the named cloud (as OSC's argparse defaults are),
//!   then the command line's own overrides (region, interface, TLS).
//! - No name: a cloud from `OS_*` alone if `OS_AUTH_URL` is set, else an error listing the clouds
//!   found.
//!
//! Empty `OS_*` values count as unset. Unknown keys are ignored, as openstacksdk does.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use super::catalog::{Interface, ServiceType};
pub use super::credentials::AuthConfig;
use super::credentials::{AuthType, Scope};
use super::{Error, Result};
use crate::secret::Secret;

/// Reads an environment variable; injectable so tests never see the real environment.
pub type EnvFn<'a> = &'a dyn Fn(&str) -> Option<String>;

/// What the command line (and evacctl's own config) chose. Everything is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CloudSelection {
    /// The cloud's name: `--os-cloud`, or evacctl's configured default. When `None`, `OS_CLOUD`
    /// is read from the environment; without it, the `OS_*` variables alone make the cloud.
    pub cloud: Option<String>,
    /// `--os-region-name` (or evacctl's configured region): wins over `OS_REGION_NAME` and
    /// clouds.yaml.
    pub region: Option<String>,
    /// Wins over clouds.yaml's `api_timeout` (default 60 s).
    pub api_timeout: Option<Duration>,
    /// Retries of idempotent reads (default 3): see [`RetryPolicy`](super::RetryPolicy).
    pub retries: Option<u32>,
}

/// Where to look for clouds.yaml and secure.yaml, best first (the first existing one is used).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchPaths {
    pub clouds: Vec<PathBuf>,
    pub secure: Vec<PathBuf>,
}

const SUFFIXES: [&str; 3] = ["yaml", "yml", "json"];

impl SearchPaths {
    /// openstacksdk's order: the current directory, the user's config dir, `/etc/openstack`.
    pub fn standard(env: EnvFn) -> SearchPaths {
        let mut dirs = Vec::new();
        if let Ok(cwd) = std::env::current_dir() {
            dirs.push(cwd);
        }
        let config_home = env("XDG_CONFIG_HOME")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                env("HOME")
                    .filter(|s| !s.is_empty())
                    .map(|h| Path::new(&h).join(".config"))
            });
        if let Some(home) = config_home {
            dirs.push(home.join("openstack"));
        }
        dirs.push(PathBuf::from("/etc/openstack"));
        SearchPaths::in_dirs(&dirs)
    }

    /// `clouds.{yaml,yml,json}` and `secure.{…}` in each directory, in order.
    pub fn in_dirs(dirs: &[PathBuf]) -> SearchPaths {
        let files = |stem: &str| {
            dirs.iter()
                .flat_map(|d| SUFFIXES.iter().map(move |s| d.join(format!("{stem}.{s}"))))
                .collect::<Vec<_>>()
        };
        SearchPaths {
            clouds: files("clouds"),
            secure: files("secure"),
        }
    }
}

/// A resolved, validated cloud. `Debug` shows no secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloudConfig {
    /// The cloud's name; `None` when it came from `OS_*` variables alone.
    pub name: Option<String>,
    pub auth_type: AuthType,
    pub auth: AuthConfig,
    /// The scope the token will be asked for (derived from `auth`).
    pub scope: Scope,
    pub region: Option<String>,
    pub interface: Interface,
    /// A PEM bundle that replaces the system roots.
    pub cacert: Option<PathBuf>,
    /// Skip TLS verification (`verify: false`, `insecure: true`, `OS_INSECURE`).
    pub insecure: bool,
    /// Per-request timeout (`api_timeout`, default 60 s).
    pub api_timeout: Duration,
    /// Retries of idempotent reads (default 3; from [`CloudSelection::retries`]).
    pub retries: u32,
    /// `<service>_endpoint_override`: wins over the catalog. `%(project_id)s` is substituted.
    pub endpoint_overrides: BTreeMap<ServiceType, String>,
    /// The files the cloud came from.
    pub clouds_file: Option<PathBuf>,
    pub secure_file: Option<PathBuf>,
    /// Names (never values) of the `OS_*` variables that were applied.
    pub env_applied: Vec<String>,
}

pub const DEFAULT_API_TIMEOUT: Duration = Duration::from_secs(60);

/// Retries of idempotent reads when the cloud does not say (`api_retries`).
pub const DEFAULT_RETRIES: u32 = 3;

/// `OS_*` variable → key in the cloud entry (`auth.` for the auth block). Earlier entries win
/// over later ones for the same key (OS_PROJECT_NAME over OS_TENANT_NAME).
const ENV_KEYS: &[(&str, &str)] = &[
    ("OS_AUTH_URL", "auth.auth_url"),
    ("OS_AUTH_TYPE", "auth_type"),
    ("OS_USERNAME", "auth.username"),
    ("OS_USER_ID", "auth.user_id"),
    ("OS_PASSWORD", "auth.password"),
    ("OS_PROJECT_NAME", "auth.project_name"),
    ("OS_TENANT_NAME", "auth.project_name"),
    ("OS_PROJECT_ID", "auth.project_id"),
    ("OS_TENANT_ID", "auth.project_id"),
    ("OS_USER_DOMAIN_NAME", "auth.user_domain_name"),
    ("OS_USER_DOMAIN_ID", "auth.user_domain_id"),
    ("OS_PROJECT_DOMAIN_NAME", "auth.project_domain_name"),
    ("OS_PROJECT_DOMAIN_ID", "auth.project_domain_id"),
    ("OS_DOMAIN_NAME", "auth.domain_name"),
    ("OS_DOMAIN_ID", "auth.domain_id"),
    ("OS_SYSTEM_SCOPE", "auth.system_scope"),
    (
        "OS_APPLICATION_CREDENTIAL_ID",
        "auth.application_credential_id",
    ),
    (
        "OS_APPLICATION_CREDENTIAL_NAME",
        "auth.application_credential_name",
    ),
    (
        "OS_APPLICATION_CREDENTIAL_SECRET",
        "auth.application_credential_secret",
    ),
    ("OS_TOKEN", "auth.token"),
    ("OS_REGION_NAME", "region_name"),
    ("OS_INTERFACE", "interface"),
    ("OS_ENDPOINT_TYPE", "interface"),
    ("OS_CACERT", "cacert"),
    ("OS_INSECURE", "insecure"),
];

/// Keys of the auth block that openstacksdk also accepts at the top of a cloud entry.
const AUTH_KEYS: &[&str] = &[
    "auth_url",
    "username",
    "user_id",
    "password",
    "project_name",
    "project_id",
    "tenant_name",
    "tenant_id",
    "user_domain_name",
    "user_domain_id",
    "project_domain_name",
    "project_domain_id",
    "domain_name",
    "domain_id",
    "system_scope",
    "application_credential_id",
    "application_credential_name",
    "application_credential_secret",
    "token",
];

/// A loaded YAML file: where, and its `clouds` mapping.
struct Loaded {
    path: PathBuf,
    clouds: Map<String, Value>,
}

impl CloudConfig {
    /// Resolves with the real environment and the standard search paths.
    pub fn resolve(selection: &CloudSelection) -> Result<CloudConfig> {
        let env = |k: &str| std::env::var(k).ok();
        let paths = SearchPaths::standard(&env);
        CloudConfig::resolve_with(selection, &env, &paths)
    }

    /// Resolves with an injected environment and search paths (the testable core).
    pub fn resolve_with(
        selection: &CloudSelection,
        env: EnvFn,
        paths: &SearchPaths,
    ) -> Result<CloudConfig> {
        let env = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        let clouds = load_first(
            env("OS_CLIENT_CONFIG_FILE"),
            "OS_CLIENT_CONFIG_FILE",
            &paths.clouds,
        )?;
        let secure = load_first(
            env("OS_CLIENT_SECURE_FILE"),
            "OS_CLIENT_SECURE_FILE",
            &paths.secure,
        )?;

        let name = selection.cloud.clone().or_else(|| env("OS_CLOUD"));
        let mut entry = match &name {
            Some(name) => named_entry(name, clouds.as_ref(), secure.as_ref(), paths)?,
            None if env("OS_AUTH_URL").is_some() => Map::new(),
            None => return Err(no_cloud_selected(clouds.as_ref(), secure.as_ref(), paths)),
        };
        hoist_auth_keys(&mut entry);
        let yaml_auth_url = auth_str(&entry, "auth_url");

        let mut env_applied = Vec::new();
        for (var, key) in ENV_KEYS {
            let Some(value) = env(var) else { continue };
            // OS_PROJECT_NAME wins over OS_TENANT_NAME: skip an alias whose key is already set by env.
            if ENV_KEYS
                .iter()
                .any(|(v, k)| k == key && env_applied.iter().any(|a: &String| a == v))
            {
                continue;
            }
            set_key(&mut entry, key, Value::String(value));
            env_applied.push(var.to_string());
        }
        if let (Some(from_yaml), Some(from_env)) = (&yaml_auth_url, env("OS_AUTH_URL"))
            && name.is_some()
            && from_yaml.trim_end_matches('/') != from_env.trim_end_matches('/')
        {
            tracing::warn!(
                cloud = name.as_deref().unwrap_or_default(),
                "OS_AUTH_URL ({from_env}) overrides the auth_url of the cloud ({from_yaml})"
            );
        }

        if let Some(r) = &selection.region {
            entry.insert("region_name".into(), Value::String(r.clone()));
        }

        let origin = match &name {
            Some(n) => format!("cloud {n:?}"),
            None => "the OS_* environment".to_string(),
        };
        let mut cfg = build(&origin, entry)?;
        cfg.name = name;
        cfg.clouds_file = clouds.map(|l| l.path);
        cfg.secure_file = secure.map(|l| l.path);
        cfg.env_applied = env_applied;
        if let Some(t) = selection.api_timeout {
            if t.is_zero() {
                return Err(Error::config("the API timeout must be more than 0 s"));
            }
            cfg.api_timeout = t;
        }
        if let Some(r) = selection.retries {
            cfg.retries = r;
        }
        Ok(cfg)
    }

    /// Where this cloud came from, for messages: `cloud "prod" (/etc/openstack/clouds.yaml)`.
    pub fn describe_origin(&self) -> String {
        let mut s = match &self.name {
            Some(n) => format!("cloud {n:?}"),
            None => "cloud from OS_* variables".to_string(),
        };
        let files: Vec<String> = [&self.clouds_file, &self.secure_file]
            .into_iter()
            .flatten()
            .map(|p| p.display().to_string())
            .collect();
        if !files.is_empty() {
            s.push_str(&format!(" ({})", files.join(", ")));
        }
        if !self.env_applied.is_empty() {
            s.push_str(&format!(" with {}", self.env_applied.join(", ")));
        }
        s
    }
}

/// The first existing file: the override (which must exist), else the first of `candidates`.
fn load_first(
    override_path: Option<String>,
    var: &str,
    candidates: &[PathBuf],
) -> Result<Option<Loaded>> {
    if let Some(p) = override_path {
        let path = PathBuf::from(p);
        // openstacksdk silently falls back to the other files; here a typo must not pick another cloud's file.
        if !path.is_file() {
            return Err(Error::config(format!(
                "{var} is {} but there is no such file",
                path.display()
            )));
        }
        return load(&path).map(Some);
    }
    for path in candidates {
        if path.is_file() {
            return load(path).map(Some);
        }
    }
    Ok(None)
}

fn load(path: &Path) -> Result<Loaded> {
    // A regular file of at most 1 MiB: a FIFO or a device named as clouds.yaml must not hang
    // or fill the memory.
    let bytes = crate::files::read_limited(path, 1 << 20)
        .map_err(|e| Error::config(format!("cannot read {}: {e}", path.display())))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::config(format!("{} is not UTF-8 text", path.display())))?;
    let mut options = serde_saphyr::Options::default();
    // The snippet would quote the file's lines, which may hold a password.
    options.with_snippet = false;
    options.leading_zero_numbers_as_strings = true;
    let doc: Value = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_saphyr::from_str_with_options(&text, options).map_err(|e| {
            let msg = e.to_string();
            // Drop the library's advice about its own options.
            let msg =
                first_line(&msg).replace(", set DuplicateKeyPolicy in Options if acceptable", "");
            let at = match e.location() {
                Some(l) if !msg.contains("at line") => {
                    format!(" (line {}, column {})", l.line(), l.column())
                }
                _ => String::new(),
            };
            Error::config(format!("cannot parse {}: {msg}{at}", path.display()))
        })?
    };
    let clouds = match doc {
        Value::Null => Map::new(),
        Value::Object(mut top) => match top.remove("clouds") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(c)) => c,
            Some(_) => {
                return Err(Error::config(format!(
                    "{}: `clouds` is not a mapping",
                    path.display()
                )));
            }
        },
        _ => {
            return Err(Error::config(format!(
                "{}: not a mapping with a `clouds` key",
                path.display()
            )));
        }
    };
    Ok(Loaded {
        path: path.to_path_buf(),
        clouds,
    })
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

fn named_entry(
    name: &str,
    clouds: Option<&Loaded>,
    secure: Option<&Loaded>,
    paths: &SearchPaths,
) -> Result<Map<String, Value>> {
    let part = |l: Option<&Loaded>| -> Result<Option<Map<String, Value>>> {
        match l.and_then(|l| l.clouds.get(name).map(|v| (l, v))) {
            None => Ok(None),
            Some((_, Value::Object(m))) => Ok(Some(m.clone())),
            Some((_, Value::Null)) => Ok(Some(Map::new())),
            Some((l, _)) => Err(Error::config(format!(
                "{}: cloud {name:?} is not a mapping",
                l.path.display()
            ))),
        }
    };
    match (part(clouds)?, part(secure)?) {
        (None, None) => Err(unknown_cloud(name, clouds, secure, paths)),
        (base, over) => {
            let mut base = Value::Object(base.unwrap_or_default());
            if let Some(over) = over {
                deep_merge(&mut base, Value::Object(over));
            }
            match base {
                Value::Object(m) => Ok(m),
                _ => Ok(Map::new()),
            }
        }
    }
}

/// `over` into `base`: mappings merge key by key, anything else replaces.
fn deep_merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => deep_merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

fn available(clouds: Option<&Loaded>, secure: Option<&Loaded>) -> BTreeSet<String> {
    [clouds, secure]
        .into_iter()
        .flatten()
        .flat_map(|l| l.clouds.keys().cloned())
        .collect()
}

fn searched(paths: &SearchPaths, loaded: Option<&Loaded>) -> String {
    match loaded {
        Some(l) => format!("in {}", l.path.display()),
        None => format!(
            "no clouds.yaml found (searched {})",
            describe_files(&paths.clouds)
        ),
    }
}

/// `/etc/openstack/clouds.{yaml,yml,json}, …`: the candidates, grouped by directory and stem.
fn describe_files(files: &[PathBuf]) -> String {
    let mut groups: Vec<(PathBuf, String, Vec<String>)> = Vec::new();
    for f in files {
        let parent = f.parent().map(Path::to_path_buf).unwrap_or_default();
        let stem = f
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ext = f
            .extension()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        match groups.last_mut() {
            Some((p, s, exts)) if *p == parent && *s == stem => exts.push(ext),
            _ => groups.push((parent, stem, vec![ext])),
        }
    }
    groups
        .into_iter()
        .map(|(p, s, exts)| match exts.as_slice() {
            [one] => p.join(format!("{s}.{one}")).display().to_string(),
            _ => p
                .join(format!("{s}.{{{}}}", exts.join(",")))
                .display()
                .to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn unknown_cloud(
    name: &str,
    clouds: Option<&Loaded>,
    secure: Option<&Loaded>,
    paths: &SearchPaths,
) -> Error {
    let names = available(clouds, secure);
    let sep = if clouds.is_some() { " " } else { ": " };
    let mut msg = format!("cloud {name:?} not found{sep}{}", searched(paths, clouds));
    if let Some(s) = secure {
        msg.push_str(&format!(" nor in {}", s.path.display()));
    }
    if names.is_empty() {
        if clouds.is_some() || secure.is_some() {
            msg.push_str("; no clouds are defined");
        }
    } else {
        msg.push_str(&format!(
            "; clouds available: {}",
            names.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    // Only the first clouds.yaml found is read: say so when it hides others.
    if let Some(loaded) = clouds {
        let hidden: Vec<String> = paths
            .clouds
            .iter()
            .filter(|p| **p != loaded.path && p.is_file())
            .map(|p| p.display().to_string())
            .collect();
        if !hidden.is_empty() {
            msg.push_str(&format!(
                "; not read, because only the first clouds file found is: {}",
                hidden.join(", ")
            ));
        }
    }
    if let Some(best) = evacctl_text::names::closest_match(name, names.iter().map(String::as_str)) {
        msg.push_str(&format!(". Did you mean {best:?}?"));
    }
    Error::config(msg)
}

fn no_cloud_selected(
    clouds: Option<&Loaded>,
    secure: Option<&Loaded>,
    paths: &SearchPaths,
) -> Error {
    let names = available(clouds, secure);
    let mut msg =
        "no cloud selected: use --os-cloud or OS_CLOUD (or set OS_AUTH_URL and the other OS_* \
                   variables)"
            .to_string();
    if names.is_empty() {
        msg.push_str(&format!(
            "; {}",
            searched(paths, clouds).replace("in ", "no clouds defined in ")
        ));
    } else {
        msg.push_str(&format!(
            "; clouds available {}: {}",
            searched(paths, clouds),
            names.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    Error::config(msg)
}

/// openstacksdk accepts auth keys at the top of a cloud entry; move them into `auth`.
fn hoist_auth_keys(entry: &mut Map<String, Value>) {
    if !matches!(entry.get("auth"), Some(Value::Object(_))) {
        // A non-mapping `auth` is reported by `build`; keep it so the error can name it.
        if entry.get("auth").is_none_or(Value::is_null) {
            entry.insert("auth".into(), Value::Object(Map::new()));
        } else {
            return;
        }
    }
    for key in AUTH_KEYS {
        if let Some(v) = entry.remove(*key)
            && let Some(Value::Object(auth)) = entry.get_mut("auth")
        {
            auth.entry(key.to_string()).or_insert(v);
        }
    }
}

fn set_key(entry: &mut Map<String, Value>, key: &str, value: Value) {
    match key.strip_prefix("auth.") {
        Some(k) => {
            if !matches!(entry.get("auth"), Some(Value::Object(_))) {
                entry.insert("auth".into(), Value::Object(Map::new()));
            }
            if let Some(Value::Object(auth)) = entry.get_mut("auth") {
                auth.insert(k.to_string(), value);
            }
        }
        None => {
            // OS_INSECURE must beat `verify: false` in the file either way.
            if key == "insecure" {
                entry.remove("verify");
            }
            entry.insert(key.to_string(), value);
        }
    }
}

fn auth_str(entry: &Map<String, Value>, key: &str) -> Option<String> {
    entry.get("auth").and_then(|a| a.get(key)).and_then(scalar)
}

/// A scalar as text: YAML may well give `project_id: 12345` or `api_timeout: 30`.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parse_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Some(true),
            "false" | "no" | "off" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// The typed, validated config from a merged cloud entry.
fn build(origin: &str, mut entry: Map<String, Value>) -> Result<CloudConfig> {
    let bad = |what: String| Error::config(format!("{origin}: {what}"));

    let mut auth_map = match entry.remove("auth") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(bad("`auth` is not a mapping".into())),
    };
    for (from, to) in [("tenant_name", "project_name"), ("tenant_id", "project_id")] {
        if let Some(v) = auth_map.remove(from) {
            auth_map.entry(to.to_string()).or_insert(v);
        }
    }
    let text = |m: &Map<String, Value>, k: &str| -> Result<Option<String>> {
        match m.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => scalar(v)
                .map(Some)
                .or_else(|| matches!(v, Value::String(_)).then_some(None))
                .ok_or_else(|| bad(format!("`{k}` must be a string"))),
        }
    };
    let secret = |m: &Map<String, Value>, k: &str| -> Result<Option<Secret>> {
        Ok(text(m, k)?.map(Secret::new))
    };

    let mut auth = AuthConfig {
        auth_url: text(&auth_map, "auth_url")?.unwrap_or_default(),
        username: text(&auth_map, "username")?,
        user_id: text(&auth_map, "user_id")?,
        password: secret(&auth_map, "password")?,
        project_name: text(&auth_map, "project_name")?,
        project_id: text(&auth_map, "project_id")?,
        user_domain_name: text(&auth_map, "user_domain_name")?,
        user_domain_id: text(&auth_map, "user_domain_id")?,
        project_domain_name: text(&auth_map, "project_domain_name")?,
        project_domain_id: text(&auth_map, "project_domain_id")?,
        domain_name: text(&auth_map, "domain_name")?,
        domain_id: text(&auth_map, "domain_id")?,
        system_scope: text(&auth_map, "system_scope")?,
        application_credential_id: text(&auth_map, "application_credential_id")?,
        application_credential_name: text(&auth_map, "application_credential_name")?,
        application_credential_secret: secret(&auth_map, "application_credential_secret")?,
        token: secret(&auth_map, "token")?,
    };
    // openstacksdk: with a project scope, domain_* is the default for the user's and the
    // project's domain rather than a scope of its own.
    if auth.project_id.is_some() || auth.project_name.is_some() {
        if auth.user_domain_id.is_none() && auth.user_domain_name.is_none() {
            auth.user_domain_id = auth.domain_id.clone();
            auth.user_domain_name = auth.domain_name.clone();
        }
        if auth.project_domain_id.is_none() && auth.project_domain_name.is_none() {
            auth.project_domain_id = auth.domain_id.clone();
            auth.project_domain_name = auth.domain_name.clone();
        }
        auth.domain_id = None;
        auth.domain_name = None;
    }

    if let Some(v) = text(&entry, "identity_api_version")?
        && !v.starts_with('3')
    {
        return Err(bad(format!(
            "identity_api_version {v} is not supported: evacctl speaks Keystone v3 only"
        )));
    }

    let auth_type = match text(&entry, "auth_type")?.or(text(&entry, "auth_plugin")?) {
        Some(t) => t.parse::<AuthType>().map_err(&bad)?,
        None => AuthType::guess(&auth),
    };
    if auth.auth_url.is_empty() {
        let hint = match text(&entry, "profile")? {
            Some(p) => {
                format!(" (vendor profile {p:?} is not supported: put auth_url in clouds.yaml)")
            }
            None => String::new(),
        };
        return Err(bad(format!(
            "auth_url is missing (auth.auth_url in clouds.yaml or OS_AUTH_URL){hint}"
        )));
    }
    match reqwest::Url::parse(&auth.auth_url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        _ => {
            return Err(bad(format!(
                "auth_url {:?} is not an http(s) URL",
                auth.auth_url
            )));
        }
    }
    let scope = auth_type.validate(&auth).map_err(bad)?;

    let region = resolve_region(&mut entry, &bad)?;

    let interface = match text(&entry, "interface")?.or(text(&entry, "endpoint_type")?) {
        Some(i) => i.parse::<Interface>().map_err(bad)?,
        None => Interface::Public,
    };

    let mut cacert = text(&entry, "cacert")?.map(PathBuf::from);
    let mut insecure = match entry.get("insecure") {
        None | Some(Value::Null) => false,
        Some(v) => parse_bool(v).ok_or_else(|| bad("`insecure` must be true or false".into()))?,
    };
    match entry.get("verify") {
        None | Some(Value::Null) => {}
        Some(v) => match parse_bool(v) {
            Some(verify) => insecure |= !verify,
            // requests' convention: a string `verify` is a CA bundle.
            None => match scalar(v) {
                Some(path) => cacert = cacert.or(Some(PathBuf::from(path))),
                None => {
                    return Err(bad(
                        "`verify` must be true, false or a CA bundle path".into()
                    ));
                }
            },
        },
    }

    let api_timeout =
        match entry.get("api_timeout") {
            None | Some(Value::Null) => DEFAULT_API_TIMEOUT,
            Some(v) => {
                let secs = scalar(v)
                    .and_then(|s| s.parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e6);
                Duration::from_secs_f64(secs.ok_or_else(|| {
                    bad("`api_timeout` must be a positive number of seconds".into())
                })?)
            }
        };

    let mut endpoint_overrides = BTreeMap::new();
    let mut official = BTreeSet::new();
    for (k, v) in &entry {
        let Some(service) = k.strip_suffix("_endpoint_override") else {
            continue;
        };
        let Some(st) = ServiceType::from_name(service) else {
            continue;
        };
        let Some(url) = scalar(v) else { continue };
        // block_storage_endpoint_override beats volume_/volumev3_ when both are present.
        let is_official = service.replace('_', "-") == st.as_str();
        if is_official || !official.contains(&st) {
            endpoint_overrides.insert(st, url);
            if is_official {
                official.insert(st);
            }
        }
    }

    Ok(CloudConfig {
        name: None,
        auth_type,
        auth,
        scope,
        region,
        interface,
        cacert,
        insecure,
        api_timeout,
        retries: DEFAULT_RETRIES,
        endpoint_overrides,
        clouds_file: None,
        secure_file: None,
        env_applied: Vec::new(),
    })
}

/// `region_name`, checked against `regions:` (names or `{name, values}`) when that list exists;
/// the first of `regions` when no region was chosen. A region's `values` merge into the cloud.
fn resolve_region(
    entry: &mut Map<String, Value>,
    bad: &dyn Fn(String) -> Error,
) -> Result<Option<String>> {
    let chosen = entry.get("region_name").and_then(scalar);
    let regions: Vec<(String, Option<Map<String, Value>>)> = match entry.get("regions") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|r| match r {
                Value::Object(o) => match o.get("name").and_then(scalar) {
                    Some(n) => Ok((n, o.get("values").and_then(Value::as_object).cloned())),
                    None => Err(bad("an entry of `regions` has no name".into())),
                },
                other => scalar(other)
                    .map(|n| (n, None))
                    .ok_or_else(|| bad("`regions` must list names".into())),
            })
            .collect::<Result<_>>()?,
        Some(_) => return Err(bad("`regions` must be a list".into())),
    };
    if regions.is_empty() {
        return Ok(chosen);
    }
    let Some(name) = chosen.or_else(|| regions.first().map(|r| r.0.clone())) else {
        return Ok(None);
    };
    let Some((_, values)) = regions.iter().find(|(n, _)| *n == name) else {
        let names: Vec<&str> = regions.iter().map(|(n, _)| n.as_str()).collect();
        return Err(bad(format!(
            "region {name:?} is not one of its regions: {}",
            names.join(", ")
        )));
    };
    if let Some(values) = values {
        for (k, v) in values {
            entry.insert(k.clone(), v.clone());
        }
    }
    Ok(Some(name))
}

#[cfg(test)]
mod tests;
