//! The Consul clusters a command uses: the configuration's `[consul.NAME]` tables, or, when
//! there are none, the one cluster that Consul's own environment variables describe, as the
//! `consul` CLI reads them:
//!
//! | variable | meaning |
//! |---|---|
//! | `CONSUL_HTTP_ADDR` | `host:port` or `http(s)://host:port` |
//! | `CONSUL_HTTP_SSL` | `true`: https for an address without a scheme |
//! | `CONSUL_HTTP_TOKEN` / `CONSUL_HTTP_TOKEN_FILE` | the ACL token / a file holding it |
//! | `CONSUL_CACERT` | CA bundle for https |
//!
//! That cluster is named `consul` and gets the role `management`: a single Consul usually
//! runs on the management network, and since it is then every network evacctl knows, a host
//! lost from it is failed (the "every network down" rule), one merely degraded never is.
//! The configuration wins: with any `[consul.NAME]`, the variables are ignored.

use std::path::PathBuf;

use super::Error;
use crate::config::{Config, ConsulCluster, ConsulRole, SecretRef, SecretSource};

pub const ENV_ADDR: &str = "CONSUL_HTTP_ADDR";
pub const ENV_SSL: &str = "CONSUL_HTTP_SSL";
pub const ENV_TOKEN: &str = "CONSUL_HTTP_TOKEN";
pub const ENV_TOKEN_FILE: &str = "CONSUL_HTTP_TOKEN_FILE";
pub const ENV_CACERT: &str = "CONSUL_CACERT";
/// The name of the cluster described by the environment.
pub const ENV_CLUSTER_NAME: &str = "consul";

/// The configured clusters, else the one from `CONSUL_HTTP_ADDR`, else none.
pub fn clusters(config: &Config) -> Result<Vec<ConsulCluster>, Error> {
    clusters_with_env(config, |name| std::env::var(name).ok())
}

/// [`clusters`] with another environment (tests).
pub fn clusters_with_env(
    config: &Config,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<ConsulCluster>, Error> {
    let configured: Vec<ConsulCluster> = config.consul_clusters().cloned().collect();
    if !configured.is_empty() {
        return Ok(configured);
    }
    let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let Some(addr) = set(ENV_ADDR) else {
        return Ok(Vec::new());
    };
    let error = |message: String| Error::Config {
        cluster: ENV_CLUSTER_NAME.into(),
        message,
    };
    let ssl = set(ENV_SSL).is_some_and(|v| matches!(v.trim(), "1" | "true" | "TRUE" | "True"));
    let address = normalize_address(addr.trim(), ssl)
        .map_err(|why| error(format!("{ENV_ADDR}={addr:?}: {why}")))?;
    let secret = |source: SecretSource, key: &str| SecretRef {
        source,
        what: "the Consul token".into(),
        config_path: None,
        key: key.into(),
        line: None,
        column: None,
    };
    let token = match (set(ENV_TOKEN), set(ENV_TOKEN_FILE)) {
        // The variable itself is read when the client is built, never copied here.
        (Some(_), _) => Some(secret(SecretSource::Env(ENV_TOKEN.into()), ENV_TOKEN)),
        (None, Some(file)) => Some(secret(
            SecretSource::File(PathBuf::from(file)),
            ENV_TOKEN_FILE,
        )),
        (None, None) => None,
    };
    tracing::debug!(
        "no [consul.NAME] configured: using {ENV_ADDR} ({address}) as cluster `{ENV_CLUSTER_NAME}`, role management"
    );
    Ok(vec![ConsulCluster {
        name: ENV_CLUSTER_NAME.into(),
        role: ConsulRole::Management,
        addresses: vec![address],
        token,
        ca_file: set(ENV_CACERT).map(PathBuf::from),
        datacenter: None,
    }])
}

/// `host:port` becomes `http://host:port` (https with `CONSUL_HTTP_SSL`); a URL must be
/// http(s) with a host.
fn normalize_address(addr: &str, ssl: bool) -> Result<String, String> {
    let url = if addr.contains("://") {
        addr.to_string()
    } else {
        format!("{}://{addr}", if ssl { "https" } else { "http" })
    };
    let parsed = reqwest::Url::parse(&url).map_err(|e| format!("not an address: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "scheme {}:// is not supported (use http:// or https://)",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("no host".into());
    }
    Ok(url.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn configured_clusters_win() {
        let config = Config::from_str(
            "[consul.storage]\nrole = \"storage\"\naddresses = [\"http://127.0.0.1:8501\"]\n",
            "/etc/evacctl/config.toml",
        )
        .unwrap();
        let c = clusters_with_env(&config, env(&[(ENV_ADDR, "10.0.0.1:8500")])).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].name, "storage");
    }

    #[test]
    fn consul_http_addr_is_one_management_cluster() {
        let config = Config::default();
        assert!(clusters_with_env(&config, env(&[])).unwrap().is_empty());
        assert!(
            clusters_with_env(&config, env(&[(ENV_ADDR, " ")]))
                .unwrap()
                .is_empty()
        );

        let c = clusters_with_env(
            &config,
            env(&[(ENV_ADDR, "127.0.0.1:8500"), (ENV_TOKEN, "s3cr3t-token")]),
        )
        .unwrap();
        assert_eq!(c[0].name, "consul");
        assert_eq!(c[0].role, ConsulRole::Management);
        assert_eq!(c[0].addresses, ["http://127.0.0.1:8500"]);
        let token = c[0].token.as_ref().unwrap();
        assert_eq!(token.source, SecretSource::Env(ENV_TOKEN.into()));
        assert!(
            !format!("{c:?}").contains("s3cr3t"),
            "the value is not copied"
        );

        let c = clusters_with_env(
            &config,
            env(&[
                (ENV_ADDR, "consul.example.com:8501"),
                (ENV_SSL, "true"),
                (ENV_TOKEN_FILE, "/etc/consul.token"),
                (ENV_CACERT, "/etc/ca.pem"),
            ]),
        )
        .unwrap();
        assert_eq!(c[0].addresses, ["https://consul.example.com:8501"]);
        assert_eq!(
            c[0].token.as_ref().unwrap().source,
            SecretSource::File("/etc/consul.token".into())
        );
        assert_eq!(
            c[0].ca_file.as_deref(),
            Some(std::path::Path::new("/etc/ca.pem"))
        );
    }

    #[test]
    fn bad_addresses_are_config_errors() {
        for bad in ["unix:///var/run/consul.sock", "http://", "::::"] {
            let e = clusters_with_env(&Config::default(), env(&[(ENV_ADDR, bad)])).unwrap_err();
            let text = e.to_string();
            assert!(text.contains(ENV_ADDR), "{text}");
            assert_eq!(
                crate::error::Classify::exit_code(&e),
                crate::exit_codes::ExitCode::Config
            );
        }
    }
}
