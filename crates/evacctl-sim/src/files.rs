//! Client configuration for a running simulated cloud: a clouds.yaml with one cloud named `sim`,
//! and an openrc-style env file. Both hold the scenario's first user's password, so they are
//! written with mode 0600.

use std::io::Write;
use std::path::Path;

use super::scenario::Scenario;

/// The cloud name in the generated clouds.yaml.
pub const CLOUD_NAME: &str = "sim";

/// A YAML scalar in double quotes: JSON's string escapes are valid YAML.
fn yaml_str(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// A shell word in single quotes.
fn sh_word(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The (key, value) pairs both files carry, from the scenario's first user.
fn settings(scenario: &Scenario, base_url: &str) -> Option<Vec<(&'static str, String)>> {
    let u = scenario.users.first()?;
    Some(vec![
        ("auth_url", format!("{base_url}/identity/v3")),
        ("username", u.name.clone()),
        ("password", u.password.clone()),
        ("project_name", u.project.clone()),
        ("user_domain_name", u.domain.clone()),
        ("project_domain_name", u.project_domain().to_string()),
        ("region_name", scenario.cloud.region.clone()),
    ])
}

pub fn clouds_yaml(scenario: &Scenario, base_url: &str) -> Option<String> {
    let s = settings(scenario, base_url)?;
    let get = |k: &str| {
        s.iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| yaml_str(v))
            .unwrap_or_default()
    };
    Some(format!(
        "# Written by evacctl-sim for its simulated cloud at {base_url}.\n\
         clouds:\n  {CLOUD_NAME}:\n    auth_type: password\n    auth:\n      auth_url: {}\n      \
         username: {}\n      password: {}\n      project_name: {}\n      user_domain_name: {}\n      \
         project_domain_name: {}\n    region_name: {}\n    interface: public\n    \
         identity_api_version: 3\n",
        get("auth_url"),
        get("username"),
        get("password"),
        get("project_name"),
        get("user_domain_name"),
        get("project_domain_name"),
        get("region_name"),
    ))
}

pub fn env_file(scenario: &Scenario, base_url: &str) -> Option<String> {
    let s = settings(scenario, base_url)?;
    let mut out = format!("# Written by evacctl-sim for its simulated cloud at {base_url}.\n");
    out.push_str("export OS_AUTH_TYPE=password\n");
    for (k, v) in s {
        out.push_str(&format!(
            "export OS_{}={}\n",
            k.to_ascii_uppercase(),
            sh_word(&v)
        ));
    }
    out.push_str("export OS_INTERFACE=public\nexport OS_IDENTITY_API_VERSION=3\n");
    Some(out)
}

/// An evacctl configuration whose hosts are the scenario's compute hosts, each fenced through
/// its Redfish BMC on the simulated cloud (`system_id` = host name, plain HTTP on loopback),
/// with the BMC password in `password_file` (a file name beside the configuration).
pub fn evacctl_config(
    scenario: &Scenario,
    addr: std::net::SocketAddr,
    password_file: &str,
) -> String {
    let mut out = format!(
        "# Written by evacctl-sim for its simulated cloud at http://{addr}.\n\
         # Every compute host is fenced through its Redfish BMC on the simulated cloud.\n\
         # watch: short, test-friendly cycles (production defaults: examples/config.toml).\n\
         [policy]\ninterval = \"1s\"\nconfirmations = 2\ncheck_max_count = 10\n\
         check_interval = \"200ms\"\nrecovery_timeout = \"5s\"\nverify_timeout = \"60s\"\n\n\
         [bmc_defaults]\ndriver = \"redfish\"\nscheme = \"http\"\nport = {port}\nuser = {user}\n\
         password_file = {file}\ntimeout = \"5s\"\nretries = 1\n",
        port = addr.port(),
        user = yaml_str(&scenario.bmc.user),
        file = yaml_str(password_file),
    );
    let ip = addr.ip().to_string();
    for h in &scenario.hosts {
        if h.role != super::scenario::Role::Compute {
            continue;
        }
        let name = yaml_str(&h.name);
        out.push_str(&format!(
            "\n[hosts.{name}.bmc]\naddress = {}\nsystem_id = {name}\n",
            yaml_str(&ip)
        ));
    }
    out
}

/// The sections `watch` needs beside [`evacctl_config`]'s: the journal and the lock file beside
/// the configuration (relative paths, resolved against its directory), the leader lock in
/// `lock_cluster` (the management Consul cluster, when Consul runs), and `sim_exe` (this
/// `evacctl-sim`) as `cinder-manage` for the cloud at `url`.
pub fn watch_config(lock_cluster: Option<&str>, sim_exe: Option<&Path>, url: &str) -> String {
    let mut out =
        String::from("\n[journal]\npath = \"journal.jsonl\"\n\n[lock]\nfile = \"watch.lock\"\n");
    if let Some(c) = lock_cluster {
        out.push_str(&format!("consul_cluster = {}\n", yaml_str(c)));
    }
    if let Some(exe) = sim_exe {
        out.push_str(&format!(
            "\n[volumes]\ncinder_manage = [{}, \"cinder-manage\", \"--url\", {}]\n",
            yaml_str(&exe.display().to_string()),
            yaml_str(url)
        ));
    }
    out
}

/// Writes a file readable by its owner only.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(text.as_bytes())?;
    f.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_quote_their_values() {
        let mut s = Scenario::builtin_default().unwrap();
        s.users[0].password = "it's \"x\"".into();
        let y = clouds_yaml(&s, "http://127.0.0.1:5").unwrap();
        assert!(
            y.contains("auth_url: \"http://127.0.0.1:5/identity/v3\""),
            "{y}"
        );
        assert!(y.contains("password: \"it's \\\"x\\\"\""), "{y}");
        assert!(y.contains("  sim:\n"), "{y}");
        let e = env_file(&s, "http://127.0.0.1:5").unwrap();
        assert!(e.contains("export OS_PASSWORD='it'\\''s \"x\"'\n"), "{e}");
        assert!(
            e.contains("export OS_AUTH_URL='http://127.0.0.1:5/identity/v3'\n"),
            "{e}"
        );
        assert!(
            e.contains("export OS_PROJECT_DOMAIN_NAME='Default'\n"),
            "{e}"
        );
    }
}
