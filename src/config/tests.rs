use std::ffi::OsString;
use std::path::Path;

use super::*;
use crate::error::Classify;
use crate::exit_codes::ExitCode;
use evacctl_sim::files::write_private;

const EXAMPLE: &str = include_str!("../../examples/config.toml");

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_str(text, "/etc/evacctl/config.toml")
}

#[track_caller]
fn ok(text: &str) -> Config {
    match parse(text) {
        Ok(c) => c,
        Err(e) => panic!("expected the config to load, got: {e}"),
    }
}

#[track_caller]
fn err(text: &str) -> ConfigError {
    match parse(text) {
        Ok(c) => panic!("expected an error, got {c:#?}"),
        Err(e) => e,
    }
}

/// Asserts kind, key, line and column of an error.
#[track_caller]
fn assert_at(e: &ConfigError, kind: ConfigErrorKind, key: &str, line: usize, column: usize) {
    assert_eq!(e.kind, kind, "kind of: {e}");
    assert_eq!(e.key.as_deref(), Some(key), "key of: {e}");
    assert_eq!(
        (e.line, e.column),
        (Some(line), Some(column)),
        "position of: {e}"
    );
    assert_eq!(
        e.path.as_deref(),
        Some(Path::new("/etc/evacctl/config.toml")),
        "path of: {e}"
    );
    assert!(
        e.to_string()
            .starts_with(&format!("/etc/evacctl/config.toml:{line}:{column}: ")),
        "{e}"
    );
}

/// The example with every `#key = value` / `#[table]` line uncommented (a later assignment of
/// the same key in the same table replaces the earlier one).
fn example_uncommented() -> String {
    let mut out: Vec<String> = Vec::new();
    let mut table = String::new();
    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    for line in EXAMPLE.lines() {
        let line = match line.strip_prefix('#') {
            Some(rest) if rest.starts_with(|c: char| c.is_ascii_lowercase() || c == '[') => rest,
            _ => line,
        };
        if line.starts_with('[') {
            table = line.to_owned();
        } else if !line.starts_with('#')
            && let Some((key, _)) = line.split_once(" = ")
        {
            if let Some(&i) = seen.get(&(table.clone(), key.to_owned())) {
                out[i] = String::new();
            }
            seen.insert((table.clone(), key.to_owned()), out.len());
        }
        out.push(line.to_owned());
    }
    out.join("\n")
}

// ----- the example --------------------------------------------------------------------

#[test]
fn example_is_exactly_the_defaults() {
    let mut c = ok(EXAMPLE);
    assert_eq!(c.path(), Some(Path::new("/etc/evacctl/config.toml")));
    c.path = None;
    assert_eq!(
        c,
        Config::default(),
        "the values written in examples/config.toml must be the defaults"
    );
}

#[test]
fn example_documents_every_key() {
    // Every key that serde knows appears in the example, active or as `#key = ...`.
    let all = example_uncommented();
    for (table, keys) in [
        (
            "[cloud]",
            &["os_cloud", "region_name", "api_timeout", "retries"][..],
        ),
        (
            "[consul.storage]",
            &["role", "addresses", "token_file", "ca_file", "datacenter"],
        ),
        (
            "[bmc_defaults]",
            &[
                "driver",
                "port",
                "user",
                "password_file",
                "cipher_suite",
                "timeout",
                "retries",
                "privilege",
                "insecure",
                "ca_file",
                "system_id",
                "scheme",
                "agent",
                "agent_options",
            ],
        ),
        ("[hosts.\"compute-1\"]", &["consul_node"]),
        (
            "[policy]",
            &[
                "quick_evacuate_level",
                "confirmations",
                "confirm_window",
                "interval",
                "max_failed_hosts",
                "max_failed_percent",
                "max_hosts_per_cycle",
                "check_max_count",
                "check_interval",
                "power_on_recovery",
                "recovery_timeout",
                "repair_command",
                "evacuate_concurrency",
                "verify_timeout",
                "target_hosts",
                "partial_evacuation",
                "flap_window",
                "move_volumes",
                "realert_interval",
            ],
        ),
        (
            "[evacuation]",
            &[
                "require_metadata",
                "require_tag",
                "require_flavor_property",
                "skip_servers",
                "skip_flavors",
            ],
        ),
        ("[volumes]", &["cinder_manage", "prefix"]),
        ("[journal]", &["path"]),
        (
            "[lock]",
            &[
                "file",
                "leader",
                "consul_cluster",
                "consul_key",
                "session_ttl",
            ],
        ),
        (
            "[notify]",
            &[
                "webhook_url",
                "webhook_timeout",
                "command",
                "email_to",
                "email_from",
                "smtp_host",
                "sendmail",
                "smtp_tls",
                "smtp_user",
                "smtp_password_file",
                "smtp_ca_file",
            ],
        ),
        ("[metrics]", &["textfile", "listen"]),
    ] {
        let section = all
            .split(table)
            .nth(1)
            .unwrap_or_else(|| panic!("{table} not in the example"));
        let section = section.split("\n[").next().unwrap();
        for key in keys {
            assert!(
                section.contains(&format!("\n{key} = ")),
                "{key} of {table} not in the example"
            );
        }
    }
    assert!(EXAMPLE.contains("password_env"));
    assert!(EXAMPLE.contains("token_env"));
}

#[test]
fn example_with_everything_uncommented() {
    let c = ok(&example_uncommented());
    assert_eq!(c.cloud.os_cloud.as_deref(), Some("production"));
    assert_eq!(c.cloud.region_name.as_deref(), Some("RegionOne"));

    let storage = c.consul_cluster("storage").unwrap();
    assert_eq!(storage.role, ConsulRole::Storage);
    assert_eq!(
        storage.addresses,
        ["http://127.0.0.1:8501", "http://10.0.1.11:8501"]
    );
    assert_eq!(
        storage.token.as_ref().unwrap().source,
        SecretSource::File("/etc/evacctl/consul-storage.token".into())
    );
    assert_eq!(storage.datacenter.as_deref(), Some("dc1"));
    assert_eq!(
        c.consul_clusters_with_role(ConsulRole::Management).count(),
        1
    );
    assert_eq!(c.lock.consul_cluster.as_deref(), Some("management"));

    let h1 = c.host("compute-1").unwrap();
    assert_eq!(h1.consul_node(), "compute-1");
    let b1 = h1.bmc().unwrap();
    assert_eq!(b1.driver, BmcDriver::Ipmi);
    assert_eq!(b1.address, "192.168.1.243");
    assert_eq!(b1.port, 623);
    assert_eq!(b1.user, "admin");
    assert_eq!(
        b1.password.source,
        SecretSource::File("/etc/evacctl/bmc/compute-1.password".into())
    );
    assert_eq!(b1.password.key, r#"hosts."compute-1".bmc.password_file"#);
    assert_eq!(
        (b1.cipher_suite, b1.retries, b1.privilege),
        (3, 2, IpmiPrivilege::Administrator)
    );
    assert_eq!(b1.timeout, Duration::from_secs(5));
    // ipmi hosts do not get redfish settings from the defaults... but they are harmless:
    assert_eq!(b1.system_id.as_deref(), Some("System.Embedded.1"));

    let h2 = c.host("compute-2.example.com").unwrap();
    assert_eq!(h2.consul_node(), "compute-2");
    let b2 = h2.bmc().unwrap();
    assert_eq!((b2.driver, b2.port), (BmcDriver::Redfish, 443));
    assert_eq!(b2.user, "root");
    assert_eq!(
        b2.password.source,
        SecretSource::Env("EVACCTL_BMC_PASSWORD_COMPUTE_2".into())
    );
    assert_eq!(
        b2.ca_file.as_deref(),
        Some(Path::new("/etc/evacctl/bmc-ca.pem"))
    );

    assert_eq!(
        c.policy.repair_command,
        ["/usr/local/sbin/restart-nova-compute"]
    );
    assert_eq!(c.evacuation.require_metadata.as_deref(), Some("HA_Enabled"));
    assert_eq!(c.notify.email_to, ["oncall@example.com"]);
    assert_eq!(c.notify.smtp_host.as_deref(), Some("smtp.example.com:587"));
    assert_eq!(c.notify.smtp_tls, SmtpTls::Starttls);
    assert_eq!(c.notify.smtp_user.as_deref(), Some("evacctl"));
    assert_eq!(
        c.notify.smtp_password.as_ref().unwrap().source,
        SecretSource::File("/etc/evacctl/smtp-password".into())
    );
    assert_eq!(
        c.notify.smtp_ca_file.as_deref(),
        Some(Path::new("/etc/evacctl/smtp-ca.pem"))
    );
    assert_eq!(
        c.metrics.textfile.as_deref(),
        Some(Path::new("/var/lib/prometheus/node-exporter/evacctl.prom"))
    );
    assert_eq!(c.metrics.listen, Some("127.0.0.1:9723".parse().unwrap()));
    let b3 = c.host("compute-3").unwrap().bmc().unwrap();
    // The port of [bmc_defaults], uncommented here, applies to fence agents too.
    assert_eq!((b3.driver, b3.port), (BmcDriver::FenceAgent, 623));
    let agent = b3.fence_agent.as_ref().unwrap();
    assert_eq!(
        agent.agent,
        AgentProgram::Path("/usr/sbin/fence_redfish".into())
    );
    // The defaults' options, and the host's own.
    assert_eq!(
        agent.options.keys().collect::<Vec<_>>(),
        ["cipher", "lanplus", "ssl_insecure", "systems_uri"]
    );
    assert_eq!(
        c.hosts().map(HostConfig::name).collect::<Vec<_>>(),
        ["compute-1", "compute-2.example.com", "compute-3"]
    );
}

#[test]
fn typo_in_the_example_is_located() {
    for (needle, typo, key) in [
        ("\ninterval = ", "\nintervall = ", "policy.intervall"),
        ("\nprivilege = ", "\nprivilige = ", "bmc_defaults.privilige"),
        ("\nsession_ttl = ", "\nsession_tll = ", "lock.session_tll"),
    ] {
        let line = EXAMPLE[..EXAMPLE.find(needle).unwrap()].lines().count() + 1;
        let e = err(&EXAMPLE.replacen(needle, typo, 1));
        assert_at(&e, ConfigErrorKind::UnknownKey, key, line, 1);
        assert!(e.suggestion.is_some(), "{e}");
    }
    // CRLF line ends do not shift lines or columns.
    let e = err(&EXAMPLE
        .replace('\n', "\r\n")
        .replacen("\r\nretries = 3", "\r\nretries = -3", 1));
    let line = EXAMPLE[..EXAMPLE.find("\nretries = 3").unwrap()]
        .lines()
        .count()
        + 1;
    assert_at(&e, ConfigErrorKind::InvalidValue, "cloud.retries", line, 11);
}

#[test]
fn example_has_no_inline_secret() {
    for line in EXAMPLE.lines() {
        let l = line.trim_start_matches('#').trim_start();
        assert!(
            !l.starts_with("password =") && !l.starts_with("token ="),
            "{line}"
        );
    }
}

// ----- unknown keys -------------------------------------------------------------------

#[test]
fn unknown_key_message_format() {
    let e = err(r#"
[hosts."compute-1".bmc]
adress = "192.168.1.243"
"#);
    assert_at(
        &e,
        ConfigErrorKind::UnknownKey,
        r#"hosts."compute-1".bmc.adress"#,
        3,
        1,
    );
    assert_eq!(e.suggestion.as_deref(), Some("address"));
    assert_eq!(e.valid[..3], ["driver", "address", "port"]);
    assert_eq!(
        e.to_string(),
        "/etc/evacctl/config.toml:3:1: unknown key `adress` in [hosts.\"compute-1\".bmc]; \
         did you mean `address`? (valid keys: driver, address, port, user, password_file, \
         password_env, cipher_suite, timeout, retries, privilege, insecure, ca_file, system_id, scheme, agent, agent_options)"
    );
    assert_eq!(e.exit_code(), ExitCode::Config);
    let any: anyhow::Error = e.into();
    assert_eq!(crate::error::exit_code_of(&any), ExitCode::Config);
}

#[test]
fn typo_in_every_section() {
    // (document, line, column, key, suggestion)
    let cases: &[(&str, usize, usize, &str, Option<&str>)] = &[
        (
            "[cloud]\nos_clod = \"x\"\n",
            2,
            1,
            "cloud.os_clod",
            Some("os_cloud"),
        ),
        (
            "[cloud]\napi_timeout = \"5s\"\n  retires = 3\n",
            3,
            3,
            "cloud.retires",
            Some("retries"),
        ),
        (
            "[consul.storage]\nrole = \"storage\"\naddress = [\"http://a:8500\"]\n",
            3,
            1,
            "consul.storage.address",
            Some("addresses"),
        ),
        (
            "[bmc_defaults]\nciper_suite = 3\n",
            2,
            1,
            "bmc_defaults.ciper_suite",
            Some("cipher_suite"),
        ),
        (
            "[bmc_defaults]\naddress = \"x\"\n",
            2,
            1,
            "bmc_defaults.address",
            None,
        ),
        (
            "[hosts.\"compute-1\"]\nconsul_nod = \"c1\"\n",
            2,
            1,
            "hosts.\"compute-1\".consul_nod",
            Some("consul_node"),
        ),
        (
            "[hosts.\"compute-1\".bmc]\naddress = \"x\"\npasword_file = \"/p\"\n",
            3,
            1,
            "hosts.\"compute-1\".bmc.pasword_file",
            Some("password_file"),
        ),
        (
            "# top\n\n[policy]\nconfirmation = 3\n",
            4,
            1,
            "policy.confirmation",
            Some("confirmations"),
        ),
        (
            "[policy]\ninterval = \"10s\"\nquick_evacuate_lvl = 1\n",
            3,
            1,
            "policy.quick_evacuate_lvl",
            Some("quick_evacuate_level"),
        ),
        (
            "[evacuation]\nskip_server = []\n",
            2,
            1,
            "evacuation.skip_server",
            Some("skip_servers"),
        ),
        (
            "[volumes]\nprefx = [\"ssh\"]\n",
            2,
            1,
            "volumes.prefx",
            Some("prefix"),
        ),
        (
            "[journal]\npaht = \"/j\"\n",
            2,
            1,
            "journal.paht",
            Some("path"),
        ),
        (
            "[lock]\nsession_tl = \"15s\"\n",
            2,
            1,
            "lock.session_tl",
            Some("session_ttl"),
        ),
        (
            "[notify]\nwebhook_ur = \"\"\n",
            2,
            1,
            "notify.webhook_ur",
            Some("webhook_url"),
        ),
        ("[polcy]\n", 1, 2, "polcy", Some("policy")),
        ("attempts = 3\n", 1, 1, "attempts", None),
        // Dotted keys and inline tables are located too.
        (
            "[hosts]\n\"compute-1\".bmc.adress = \"x\"\n",
            2,
            17,
            "hosts.\"compute-1\".bmc.adress",
            Some("address"),
        ),
        (
            "[hosts]\nc1 = { bmc = { address = \"x\", prot = 1 } }\n",
            2,
            31,
            "hosts.c1.bmc.prot",
            Some("port"),
        ),
    ];
    for (text, line, column, key, suggestion) in cases {
        let e = err(text);
        assert_at(&e, ConfigErrorKind::UnknownKey, key, *line, *column);
        assert_eq!(
            e.suggestion.as_deref(),
            *suggestion,
            "suggestion for {key}: {e}"
        );
        assert!(e.message.contains("(valid keys: "), "{e}");
    }
}

#[test]
fn unknown_key_at_top_level_and_secret_hint() {
    let e = err("[polcy]\n");
    assert_eq!(
        e.message,
        "unknown key `polcy` at the top level; did you mean `policy`? (valid keys: cloud, consul, \
         bmc_defaults, hosts, policy, evacuation, volumes, journal, lock, notify, metrics)"
    );
    let e = err("[hosts.c1.bmc]\naddress = \"x\"\npassword = \"hunter2\"\n");
    assert_at(
        &e,
        ConfigErrorKind::UnknownKey,
        "hosts.c1.bmc.password",
        3,
        1,
    );
    assert!(
        e.message
            .contains("secrets are never written in the configuration"),
        "{e}"
    );
    assert!(!e.to_string().contains("hunter2"), "{e}");
}

// ----- bad values ---------------------------------------------------------------------

#[test]
fn bad_enum_values() {
    let e = err("[hosts.c1.bmc]\naddress = \"x\"\ndriver = \"ipmx\"\n");
    assert_at(
        &e,
        ConfigErrorKind::InvalidValue,
        "hosts.c1.bmc.driver",
        3,
        10,
    );
    assert_eq!(e.suggestion.as_deref(), Some("ipmi"));
    assert_eq!(e.valid, ["ipmi", "redfish", "fence-agent"]);
    assert_eq!(
        e.message,
        "invalid value for `hosts.c1.bmc.driver`: `ipmx` is not one of ipmi, redfish, fence-agent; did you mean `ipmi`?"
    );

    let e = err("[consul.s]\nrole = \"storge\"\n");
    assert_at(&e, ConfigErrorKind::InvalidValue, "consul.s.role", 2, 8);
    assert_eq!(e.suggestion.as_deref(), Some("storage"));

    let e = err("[bmc_defaults]\nprivilege = \"administrator\"\n");
    assert_at(
        &e,
        ConfigErrorKind::InvalidValue,
        "bmc_defaults.privilege",
        2,
        13,
    );
    assert_eq!(e.suggestion.as_deref(), Some("ADMINISTRATOR"));

    let e = err("[policy]\nquick_evacuate_level = 4\n");
    assert_at(
        &e,
        ConfigErrorKind::InvalidValue,
        "policy.quick_evacuate_level",
        2,
        24,
    );
    assert!(
        e.message
            .contains("expected 1 (force-down without power off)"),
        "{e}"
    );
}

#[test]
fn bad_durations() {
    for (value, expect) in [
        ("\"10 parsecs\"", "invalid duration \"10 parsecs\""),
        ("\"10\"", "invalid duration \"10\""),
        ("\"0s\"", "must be greater than 0"),
        ("10", "expected a duration string such as \"30s\""),
    ] {
        let e = err(&format!(
            "[policy]\nconfirmations = 2\ninterval = {value}\n"
        ));
        assert_at(&e, ConfigErrorKind::InvalidValue, "policy.interval", 3, 12);
        assert!(
            e.message
                .starts_with("invalid value for `policy.interval`: "),
            "{e}"
        );
        assert!(e.message.contains(expect), "{e}");
    }
    let e = err("[hosts.\"compute-1\".bmc]\naddress = \"x\"\n\ntimeout = \"5 minuets\"\n");
    assert_at(
        &e,
        ConfigErrorKind::InvalidValue,
        "hosts.\"compute-1\".bmc.timeout",
        4,
        11,
    );
    let c = ok("[policy]\nverify_timeout = \"1h 30m\"\ncheck_interval = \"500ms\"\n");
    assert_eq!(c.policy.verify_timeout, Duration::from_secs(5400));
    assert_eq!(c.policy.check_interval, Duration::from_millis(500));
}

#[test]
fn out_of_range_values() {
    let cases: &[(&str, usize, usize, &str, &str)] = &[
        (
            "[policy]\nmax_failed_percent = 101\n",
            2,
            22,
            "policy.max_failed_percent",
            "0..=100",
        ),
        (
            "[policy]\nconfirmations = 0\n",
            2,
            17,
            "policy.confirmations",
            "1..=100",
        ),
        (
            "[policy]\nevacuate_concurrency = -1\n",
            2,
            24,
            "policy.evacuate_concurrency",
            "1..=1000",
        ),
        (
            "[bmc_defaults]\nport = 0\n",
            2,
            8,
            "bmc_defaults.port",
            "1..=65535",
        ),
        (
            "[hosts.c1.bmc]\naddress = \"x\"\nport = 70000\n",
            3,
            8,
            "hosts.c1.bmc.port",
            "1..=65535",
        ),
        (
            "[bmc_defaults]\ncipher_suite = 18\n",
            2,
            16,
            "bmc_defaults.cipher_suite",
            "0..=17",
        ),
        (
            "[cloud]\nretries = \"3\"\n",
            2,
            11,
            "cloud.retries",
            "expected an integer in 0..=100",
        ),
        (
            "[lock]\nsession_ttl = \"5s\"\n",
            2,
            15,
            "lock.session_ttl",
            "from 10s to 24h",
        ),
        (
            "[bmc_defaults]\ninsecure = \"yes\"\n",
            2,
            12,
            "bmc_defaults.insecure",
            "expected a boolean",
        ),
        (
            "[journal]\npath = \"\"\n",
            2,
            8,
            "journal.path",
            "must not be empty",
        ),
    ];
    for (text, line, column, key, expect) in cases {
        let e = err(text);
        assert_at(&e, ConfigErrorKind::InvalidValue, key, *line, *column);
        assert!(e.message.contains(expect), "{key}: {e}");
    }
}

#[test]
fn consul_addresses() {
    let e = err("[consul.s]\nrole = \"storage\"\naddresses = []\n");
    assert_at(
        &e,
        ConfigErrorKind::InvalidValue,
        "consul.s.addresses",
        3,
        13,
    );

    let e = err("[consul.s]\nrole = \"storage\"\n");
    assert_at(&e, ConfigErrorKind::MissingKey, "consul.s.addresses", 1, 9);

    let e = err(
        "[consul.s]\nrole = \"storage\"\naddresses = [\n  \"http://a:8500\",\n  \"ftp://b:8500\",\n]\n",
    );
    assert_at(
        &e,
        ConfigErrorKind::InvalidValue,
        "consul.s.addresses[1]",
        5,
        3,
    );
    assert!(e.message.contains("not an http:// or https:// URL"), "{e}");

    for bad in [
        "http://",
        "http://a:0",
        "http://a:x",
        "https://user:pw@a:8500",
        "http://a b",
    ] {
        let e = err(&format!(
            "[consul.s]\nrole = \"storage\"\naddresses = [\"{bad}\"]\n"
        ));
        assert_eq!(
            e.key.as_deref(),
            Some("consul.s.addresses[0]"),
            "{bad}: {e}"
        );
        assert!(
            !e.message.contains("pw@"),
            "credentials are not repeated: {e}"
        );
    }
    let c = ok(
        "[consul.s]\nrole = \"tenant\"\naddresses = [\"https://[::1]:8501/\", \"http://consul.example.com\"]\n",
    );
    assert_eq!(c.consul["s"].addresses.len(), 2);

    let e = err("[consul.m]\naddresses = [\"http://a:8500\"]\n");
    assert_at(&e, ConfigErrorKind::MissingKey, "consul.m.role", 1, 9);
    assert!(e.message.contains("management, storage or tenant"), "{e}");
}

#[test]
fn argv_lists() {
    let e = err("[volumes]\nprefix = [\"ssh ctl1\"]\n");
    assert_at(
        &e,
        ConfigErrorKind::InvalidValue,
        "volumes.prefix[0]",
        2,
        11,
    );
    assert!(e.message.contains("not a shell command line"), "{e}");
    let e = err("[volumes]\ncinder_manage = []\n");
    assert_at(
        &e,
        ConfigErrorKind::InvalidValue,
        "volumes.cinder_manage",
        2,
        17,
    );
    let e = err("[policy]\nrepair_command = [\"/bin/fix\", \"\"]\n");
    assert_at(
        &e,
        ConfigErrorKind::InvalidValue,
        "policy.repair_command[1]",
        2,
        31,
    );
    let c = ok(
        "[volumes]\nprefix = [\"docker\", \"exec\", \"cinder_api\"]\ncinder_manage = [\"cinder-manage\"]\n",
    );
    assert_eq!(
        c.volumes.argv(&["volume", "update_host"]),
        [
            "docker",
            "exec",
            "cinder_api",
            "cinder-manage",
            "volume",
            "update_host"
        ]
    );
}

#[test]
fn lock_consul_cluster_must_exist() {
    let e = err(
        "[consul.management]\nrole = \"management\"\naddresses = [\"http://a:8500\"]\n[lock]\nconsul_cluster = \"managment\"\n",
    );
    assert_at(
        &e,
        ConfigErrorKind::InvalidValue,
        "lock.consul_cluster",
        5,
        18,
    );
    assert!(e.message.contains("did you mean `management`?"), "{e}");
    let e = err("[lock]\nconsul_cluster = \"management\"\n");
    assert!(e.message.contains("no Consul cluster is configured"), "{e}");
}

#[test]
fn the_leader_lock_is_on_with_consul_unless_turned_off() {
    let two = "[consul.storage]\nrole = \"storage\"\naddresses = [\"http://a:8500\"]\n\
               [consul.mgmt]\nrole = \"management\"\naddresses = [\"http://b:8500\"]\n";
    // The first management cluster, without `[lock] consul_cluster`.
    assert_eq!(ok(two).leader_cluster(), Some("mgmt"));
    let c = ok(&format!("{two}[lock]\nconsul_cluster = \"storage\"\n"));
    assert_eq!(c.leader_cluster(), Some("storage"));
    let c = ok(&format!("{two}[lock]\nleader = false\n"));
    assert!(!c.lock.leader);
    assert_eq!(c.leader_cluster(), None);
    // Without Consul in the file there is nothing to hold here (`CONSUL_HTTP_ADDR` is the
    // watch command's to add).
    assert_eq!(ok("").leader_cluster(), None);
    let e = err("[lock]\nleader = \"no\"\n");
    assert_eq!(e.key.as_deref(), Some("lock.leader"), "{e}");
}

#[test]
fn realert_interval_is_off_unless_set() {
    assert_eq!(ok("").policy.realert_interval, None);
    let c = ok("[policy]\nrealert_interval = \"30m\"\n");
    assert_eq!(c.policy.realert_interval, Some(Duration::from_secs(1800)));
}

#[test]
fn smtp_tls_auth_and_metrics_keys() {
    let relay = "[notify]\nemail_to = [\"a@example.com\"]\nsmtp_host = \"smtp.example.com\"\n";
    let c = ok(&format!(
        "{relay}smtp_tls = \"tls\"\nsmtp_user = \"u\"\nsmtp_password_env = \"SMTP_PW\"\n"
    ));
    assert_eq!(c.notify.smtp_tls, SmtpTls::Tls);
    let pw = c.notify.smtp_password.unwrap();
    assert_eq!(pw.source, SecretSource::Env("SMTP_PW".into()));
    assert_eq!(pw.key, "notify.smtp_password_env");
    // A user needs a password, and a password a user.
    let e = err(&format!("{relay}smtp_user = \"u\"\n"));
    assert_eq!(e.kind, ConfigErrorKind::MissingKey, "{e}");
    assert_eq!(e.key.as_deref(), Some("notify.smtp_password_file"), "{e}");
    let e = err(&format!("{relay}smtp_password_file = \"pw\"\n"));
    assert_eq!(e.key.as_deref(), Some("notify.smtp_user"), "{e}");
    // Never a password in clear, nor a CA for no TLS; both sources at once is a conflict.
    let e = err(&format!(
        "{relay}smtp_tls = \"none\"\nsmtp_user = \"u\"\nsmtp_password_file = \"pw\"\n"
    ));
    assert!(e.message.contains("in clear"), "{e}");
    let e = err(&format!(
        "{relay}smtp_tls = \"none\"\nsmtp_ca_file = \"ca.pem\"\n"
    ));
    assert_eq!(e.key.as_deref(), Some("notify.smtp_ca_file"), "{e}");
    let e = err(&format!(
        "{relay}smtp_user = \"u\"\nsmtp_password_file = \"pw\"\nsmtp_password_env = \"X\"\n"
    ));
    assert!(e.message.contains("mutually exclusive"), "{e}");
    let e = err(&format!("{relay}smtp_tls = \"ssl\"\n"));
    assert!(e.message.contains("starttls"), "{e}");
    // SMTP keys without a relay.
    let e = err(
        "[notify]\nemail_to = [\"a@example.com\"]\nsendmail = \"sendmail\"\nsmtp_user = \"u\"\n",
    );
    assert_eq!(e.key.as_deref(), Some("notify.smtp_host"), "{e}");

    // [metrics]: a relative textfile is next to the configuration; listen is ADDRESS:PORT.
    let c = ok("[metrics]\ntextfile = \"evacctl.prom\"\nlisten = \"127.0.0.1:9723\"\n");
    assert_eq!(
        c.metrics.textfile.as_deref(),
        Some(Path::new("/etc/evacctl/evacctl.prom"))
    );
    let e = err("[metrics]\nlisten = \"localhost\"\n");
    assert_eq!(e.key.as_deref(), Some("metrics.listen"), "{e}");
}

#[test]
fn notify_email_keys_go_together() {
    let e = err("[notify]\nemail_to = [\"a@example.com\"]\n");
    assert_at(&e, ConfigErrorKind::MissingKey, "notify.smtp_host", 1, 2);
    let e = err("[notify]\nemail_to = [\"a@example.com\"]\nemail_from = \"e@example.com\"\n");
    assert_at(&e, ConfigErrorKind::MissingKey, "notify.smtp_host", 1, 2);
    // No sender: evacctl@<hostname> (src/notify).
    let c = ok("[notify]\nemail_to = [\"a@example.com\"]\nsendmail = \"/usr/sbin/sendmail\"\n");
    assert_eq!(c.notify.email_from, None);
    let e = err("[notify]\nsmtp_host = \"smtp\"\n");
    assert_at(&e, ConfigErrorKind::MissingKey, "notify.email_to", 1, 2);
    let e = err(
        "[notify]\nemail_to = [\"a@example.com\"]\nemail_from = \"e@example.com\"\nsendmail = \"/usr/sbin/sendmail\"\nsmtp_host = \"smtp\"\n",
    );
    assert_at(&e, ConfigErrorKind::Conflict, "notify.smtp_host", 5, 1);
    let e = err("[notify]\nemail_to = [\"oncall\"]\n");
    assert_at(
        &e,
        ConfigErrorKind::InvalidValue,
        "notify.email_to[0]",
        2,
        13,
    );
    // Credentials in a webhook URL are allowed, and an error never quotes the URL.
    let c = ok("[notify]\nwebhook_url = \"https://u:pw@alerts.example.com/h?token=t\"\n");
    assert!(c.notify.webhook_url.is_some());
    let e = err("[notify]\nwebhook_url = \"https//hooks.example.com/services/T0/S3CRET\"\n");
    assert!(!e.to_string().contains("S3CRET"), "{e}");
    assert!(e.message.contains("the URL is not an http"), "{e}");
    let e = err("[notify]\nwebhook_url = \"alerts.example.com\"\n");
    assert_at(
        &e,
        ConfigErrorKind::InvalidValue,
        "notify.webhook_url",
        2,
        15,
    );
}

#[test]
fn syntax_error_has_a_position() {
    let e = err("[policy]\ninterval = \"10s\n");
    assert_eq!(e.kind, ConfigErrorKind::Syntax);
    assert_eq!(e.line, Some(2), "{e}");
    assert!(
        e.to_string().starts_with("/etc/evacctl/config.toml:2:"),
        "{e}"
    );
    let e = err("[policy]\ninterval = \"10s\"\ninterval = \"20s\"\n");
    assert_eq!((e.kind, e.line), (ConfigErrorKind::Syntax, Some(3)), "{e}");
    assert!(e.message.contains("duplicate key `interval`"), "{e}");
}

// ----- BMC settings -------------------------------------------------------------------

#[test]
fn bmc_defaults_are_merged() {
    let c = ok(r#"
[bmc_defaults]
user = "admin"
password_env = "BMC_PW"
timeout = "7s"
retries = 4
port = 1623

[hosts.c1.bmc]
address = "10.0.0.1"

[hosts.c2.bmc]
address = "10.0.0.2"
user = "root"
password_file = "c2.pw"
port = 623
timeout = "2s"

[hosts.c3.bmc]
driver = "redfish"
address = "bmc-c3"
insecure = true

[hosts.c4]
consul_node = "node-4"
"#);
    let b1 = c.host("c1").unwrap().bmc().unwrap();
    assert_eq!((b1.user.as_str(), b1.port, b1.retries), ("admin", 1623, 4));
    assert_eq!(b1.timeout, Duration::from_secs(7));
    assert_eq!(b1.password.source, SecretSource::Env("BMC_PW".into()));
    assert_eq!(b1.password.key, "bmc_defaults.password_env");
    assert_eq!(b1.password.line, Some(4));

    let b2 = c.host("c2").unwrap().bmc().unwrap();
    assert_eq!((b2.user.as_str(), b2.port), ("root", 623));
    assert_eq!(b2.timeout, Duration::from_secs(2));
    // Relative to the directory of the configuration file.
    assert_eq!(
        b2.password.source,
        SecretSource::File("/etc/evacctl/c2.pw".into())
    );

    let b3 = c.host("c3").unwrap().bmc().unwrap();
    assert_eq!(
        (b3.driver, b3.port, b3.insecure),
        (BmcDriver::Redfish, 1623, true)
    );

    let h4 = c.host("c4").unwrap();
    assert_eq!((h4.consul_node(), h4.bmc().is_none()), ("node-4", true));

    let c = ok(
        "[hosts.r1.bmc]\ndriver = \"redfish\"\naddress = \"x\"\nuser = \"u\"\npassword_env = \"P\"\n",
    );
    assert_eq!(c.host("r1").unwrap().bmc().unwrap().port, 443);
}

#[test]
fn password_file_and_env_exclude_each_other() {
    let e = err(r#"
[hosts."compute-1".bmc]
address = "x"
user = "admin"
password_file = "/etc/evacctl/bmc/compute-1.password"
password_env = "PW"
"#);
    assert_at(
        &e,
        ConfigErrorKind::Conflict,
        r#"hosts."compute-1".bmc.password_env"#,
        6,
        1,
    );
    assert_eq!(
        e.message,
        "`hosts.\"compute-1\".bmc.password_file` and `hosts.\"compute-1\".bmc.password_env` are \
         mutually exclusive: set only one"
    );

    let e = err("[bmc_defaults]\npassword_env = \"PW\"\npassword_file = \"/pw\"\n");
    assert_at(
        &e,
        ConfigErrorKind::Conflict,
        "bmc_defaults.password_file",
        3,
        1,
    );

    let e = err(
        "[consul.s]\nrole = \"storage\"\naddresses = [\"http://a\"]\ntoken_file = \"/t\"\ntoken_env = \"T\"\n",
    );
    assert_at(&e, ConfigErrorKind::Conflict, "consul.s.token_env", 5, 1);

    // A host's own password source replaces the default's as a whole.
    let c = ok(
        "[bmc_defaults]\nuser = \"u\"\npassword_file = \"/pw\"\n[hosts.c1.bmc]\naddress = \"x\"\npassword_env = \"PW\"\n",
    );
    assert_eq!(
        c.host("c1").unwrap().bmc().unwrap().password.source,
        SecretSource::Env("PW".into())
    );
}

/// Decision: a BMC without a password source is an error when the file is loaded (not
/// later, at 3 a.m., when the host has to be fenced).
#[test]
fn bmc_without_password_is_an_error_at_load() {
    let e = err("\n[hosts.\"compute-1\".bmc]\naddress = \"x\"\nuser = \"admin\"\n");
    assert_at(
        &e,
        ConfigErrorKind::MissingKey,
        r#"hosts."compute-1".bmc.password_file"#,
        2,
        20,
    );
    assert!(
        e.message
            .contains("set `password_file` or `password_env` here or in [bmc_defaults]"),
        "{e}"
    );

    let e = err("[hosts.c1.bmc]\naddress = \"x\"\npassword_env = \"P\"\n");
    assert_at(&e, ConfigErrorKind::MissingKey, "hosts.c1.bmc.user", 1, 11);

    let e = err("[hosts.c1.bmc]\nuser = \"u\"\npassword_env = \"P\"\n");
    assert_at(
        &e,
        ConfigErrorKind::MissingKey,
        "hosts.c1.bmc.address",
        1,
        11,
    );

    let e = err("[hosts]\nc1 = { bmc = { user = \"u\", password_env = \"P\" } }\n");
    assert_at(
        &e,
        ConfigErrorKind::MissingKey,
        "hosts.c1.bmc.address",
        2,
        8,
    );
}

#[test]
fn driver_specific_keys() {
    let e = err(
        "[hosts.c1.bmc]\naddress = \"x\"\nuser = \"u\"\npassword_env = \"P\"\nsystem_id = \"S\"\n",
    );
    assert_at(
        &e,
        ConfigErrorKind::InvalidValue,
        "hosts.c1.bmc.system_id",
        5,
        13,
    );
    assert!(
        e.message.contains("applies to the redfish driver only"),
        "{e}"
    );

    let e = err(
        "[bmc_defaults]\ndriver = \"redfish\"\n[hosts.c1.bmc]\naddress = \"x\"\nuser = \"u\"\npassword_env = \"P\"\ncipher_suite = 3\n",
    );
    assert_at(
        &e,
        ConfigErrorKind::InvalidValue,
        "hosts.c1.bmc.cipher_suite",
        7,
        16,
    );

    let e = err(
        "[hosts.c1.bmc]\ndriver = \"redfish\"\naddress = \"https://x\"\nuser = \"u\"\npassword_env = \"P\"\n",
    );
    assert_at(
        &e,
        ConfigErrorKind::InvalidValue,
        "hosts.c1.bmc.address",
        3,
        11,
    );
}

// ----- driver = "fence-agent" -----------------------------------------------------------

const AGENT_HOST: &str = "[hosts.c1.bmc]\ndriver = \"fence-agent\"\naddress = \"10.0.0.9\"\nuser = \"u\"\npassword_file = \"pw\"\n";

#[test]
fn fence_agent_hosts_take_the_agent_and_its_options() {
    let c = ok(&format!(
        "[bmc_defaults]\nagent = \"fence_ipmilan\"\nagent_options = {{ lanplus = \"1\", cipher = \"3\" }}\n{AGENT_HOST}agent_options = {{ cipher = \"17\", privlvl = \"operator\" }}\n"
    ));
    let b = c.host("c1").unwrap().bmc().unwrap();
    assert_eq!(b.driver, BmcDriver::FenceAgent);
    assert_eq!(b.driver.as_str(), "fence-agent");
    // No port written: none is passed (the agent's default); the agents' own timeout.
    assert_eq!(b.port, 0);
    assert_eq!(b.timeout, validate::FENCE_AGENT_TIMEOUT);
    let agent = b.fence_agent.as_ref().unwrap();
    assert_eq!(agent.agent, AgentProgram::Name("fence_ipmilan".into()));
    // Merged key by key, the host's own winning.
    assert_eq!(
        agent
            .options
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>(),
        ["cipher=17", "lanplus=1", "privlvl=operator"]
    );
    assert_eq!(
        b.password.source,
        SecretSource::File("/etc/evacctl/pw".into())
    );

    let c = ok(&format!(
        "[bmc_defaults]\ntimeout = \"7s\"\n{AGENT_HOST}agent = \"/usr/sbin/fence_redfish\"\nport = 8000\n"
    ));
    let b = c.host("c1").unwrap().bmc().unwrap();
    assert_eq!((b.port, b.timeout), (8000, Duration::from_secs(7)));
    assert_eq!(
        b.fence_agent.as_ref().unwrap().agent,
        AgentProgram::Path("/usr/sbin/fence_redfish".into())
    );
    // Other drivers have none.
    let c = ok("[hosts.c2.bmc]\naddress = \"x\"\nuser = \"u\"\npassword_env = \"P\"\n");
    assert_eq!(c.host("c2").unwrap().bmc().unwrap().fence_agent, None);
}

#[test]
fn bad_fence_agent_names_are_refused_at_load() {
    let e = err(AGENT_HOST);
    assert_eq!(e.kind, ConfigErrorKind::MissingKey, "{e}");
    assert_eq!(e.key.as_deref(), Some("hosts.c1.bmc.agent"));
    assert!(e.message.contains("fence_ipmilan"), "{e}");
    for (agent, why) in [
        ("sbin/fence_ipmilan", "a relative path"),
        ("./fence_ipmilan", "a relative path"),
        ("fence_ipmilan --lanplus", "arguments"),
        ("fence_ipmilan;reboot", "a shell command"),
        ("-fence", "a relative path"),
        ("/usr/sbin/", "not a path to a program"),
    ] {
        let e = err(&format!("{AGENT_HOST}agent = \"{agent}\"\n"));
        assert_at(
            &e,
            ConfigErrorKind::InvalidValue,
            "hosts.c1.bmc.agent",
            6,
            9,
        );
        assert!(e.message.contains(why), "{agent}: {e}");
    }
    let e = err("[bmc_defaults]\nagent = \"bin/fence\"\n");
    assert_at(
        &e,
        ConfigErrorKind::InvalidValue,
        "bmc_defaults.agent",
        2,
        9,
    );
}

#[test]
fn bad_fence_agent_options_are_refused_at_load() {
    let with = |options: &str| err(&format!("{AGENT_HOST}agent = \"fence_x\"\n{options}"));
    let e = with("agent_options = { \"lan plus\" = \"1\" }\n");
    assert_at(
        &e,
        ConfigErrorKind::InvalidValue,
        r#"hosts.c1.bmc.agent_options."lan plus""#,
        7,
        19,
    );
    assert!(e.message.contains("letters, digits"), "{e}");
    for key in ["\"a=b\"", "\"a\\nb\"", "\"\""] {
        let e = with(&format!("agent_options = {{ {key} = \"1\" }}\n"));
        assert_eq!(e.kind, ConfigErrorKind::InvalidValue, "{key}: {e}");
        assert!(e.message.contains("invalid option name"), "{key}: {e}");
    }
    let e = with("agent_options = { cipher = \"3\\nip=10.6.6.6\" }\n");
    assert_at(
        &e,
        ConfigErrorKind::InvalidValue,
        "hosts.c1.bmc.agent_options.cipher",
        7,
        28,
    );
    assert!(e.message.contains("one line"), "{e}");
    let e = with("agent_options = { cipher = \"3\\r\" }\n");
    assert!(e.message.contains("one line"), "{e}");
    // What evacctl sets itself, and secrets.
    for key in ["ip", "ipaddr", "ipport", "action", "username", "login"] {
        let e = with(&format!("agent_options = {{ {key} = \"x\" }}\n"));
        assert!(e.message.contains("evacctl sets it itself"), "{key}: {e}");
    }
    for key in ["password", "passwd", "password-script", "passwd_script"] {
        let e = with(&format!("agent_options = {{ {key} = \"hunter2\" }}\n"));
        assert!(
            e.message.contains("secrets are never written"),
            "{key}: {e}"
        );
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
    let e = with("agent_options = { cipher = 3 }\n");
    assert_eq!(e.kind, ConfigErrorKind::InvalidValue, "{e}");
    assert!(e.message.contains("agent_options.cipher"), "{e}");
    let e = err("[bmc_defaults]\nagent_options = { \"x=y\" = \"1\" }\n");
    assert_eq!(
        e.key.as_deref(),
        Some(r#"bmc_defaults.agent_options."x=y""#),
        "{e}"
    );
    // A user on two lines would be two options.
    let e = err(&format!("{AGENT_HOST}agent = \"fence_x\"\n").replace("\"u\"", "\"u\\nip=x\""));
    assert_eq!(e.key.as_deref(), Some("hosts.c1.bmc.user"), "{e}");
}

#[test]
fn keys_of_other_drivers_are_refused_on_fence_agent_hosts_and_back() {
    for (key, value, other) in [
        ("cipher_suite", "3", "ipmi"),
        ("privilege", "\"USER\"", "ipmi"),
        ("scheme", "\"http\"", "redfish"),
        ("system_id", "\"S\"", "redfish"),
    ] {
        let e = err(&format!(
            "{AGENT_HOST}agent = \"fence_x\"\n{key} = {value}\n"
        ));
        assert_eq!(
            e.key.as_deref(),
            Some(format!("hosts.c1.bmc.{key}").as_str())
        );
        assert!(
            e.message
                .contains(&format!("applies to the {other} driver only"))
                && e.message.contains("agent_options"),
            "{e}"
        );
    }
    let e = err(&format!("{AGENT_HOST}agent = \"fence_x\"\nretries = 3\n"));
    assert_eq!(e.key.as_deref(), Some("hosts.c1.bmc.retries"));
    assert!(e.message.contains("retries by itself"), "{e}");
    for driver in ["ipmi", "redfish"] {
        let e = err(&format!(
            "[hosts.c1.bmc]\ndriver = \"{driver}\"\naddress = \"x\"\nuser = \"u\"\npassword_env = \"P\"\nagent = \"fence_x\"\n"
        ));
        assert_at(
            &e,
            ConfigErrorKind::InvalidValue,
            "hosts.c1.bmc.agent",
            6,
            9,
        );
        assert!(
            e.message.contains("applies to the fence-agent driver only"),
            "{e}"
        );
    }
}

// ----- secrets ------------------------------------------------------------------------

fn no_env(_: &str) -> Option<OsString> {
    None
}

#[test]
fn secrets_are_read_on_demand_and_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("bmc")).unwrap();
    write_private(&dir.path().join("bmc/c1.pw"), "hunter2\n").unwrap();
    write_private(&dir.path().join("bmc/empty.pw"), "\n").unwrap();
    let config_path = dir.path().join("config.toml");
    std::fs::write(
        &config_path,
        r#"
[bmc_defaults]
user = "admin"

[hosts."compute-1".bmc]
address = "10.0.0.1"
password_file = "bmc/c1.pw"

[hosts."compute-2".bmc]
address = "10.0.0.2"
password_file = "bmc/missing.pw"

[hosts."compute-3".bmc]
address = "10.0.0.3"
password_file = "bmc/empty.pw"

[hosts."compute-4".bmc]
address = "10.0.0.4"
password_env = "EVACCTL_TEST_BMC_PW_4"

[consul.s]
role = "storage"
addresses = ["http://a:8500"]
token_env = "EVACCTL_TEST_CONSUL_TOKEN"
"#,
    )
    .unwrap();
    let c = Config::load(Some(&config_path)).unwrap();

    let b1 = c.host("compute-1").unwrap().bmc().unwrap();
    let pw = b1.read_password().unwrap();
    assert_eq!(pw.expose(), "hunter2", "the trailing newline is removed");
    assert!(!format!("{c:?}").contains("hunter2"));
    assert!(!format!("{c:#?}").contains("hunter2"));
    assert!(!format!("{pw:?} {pw}").contains("hunter2"));

    let e = c
        .host("compute-2")
        .unwrap()
        .bmc()
        .unwrap()
        .read_password()
        .unwrap_err();
    assert_eq!(e.kind, ConfigErrorKind::Secret);
    assert_eq!(e.exit_code(), ExitCode::Config);
    assert_eq!(
        e.key.as_deref(),
        Some(r#"hosts."compute-2".bmc.password_file"#)
    );
    assert_eq!((e.line, e.column), (Some(11), Some(17)));
    let text = e.to_string();
    assert!(
        text.contains("the BMC password of host `compute-2`"),
        "{text}"
    );
    assert!(text.contains("bmc/missing.pw does not exist"), "{text}");
    assert!(
        text.starts_with(&format!("{}:11:17: ", config_path.display())),
        "{text}"
    );

    let e = c
        .host("compute-3")
        .unwrap()
        .bmc()
        .unwrap()
        .read_password()
        .unwrap_err();
    assert!(e.message.contains("empty.pw is empty"), "{e}");

    let b4 = c.host("compute-4").unwrap().bmc().unwrap();
    let e = b4.password.read_with(no_env).unwrap_err();
    assert!(
        e.message.contains("the BMC password of host `compute-4`"),
        "{e}"
    );
    assert!(
        e.message
            .contains("environment variable EVACCTL_TEST_BMC_PW_4 is not set"),
        "{e}"
    );
    let e = b4
        .password
        .read_with(|_| Some(OsString::new()))
        .unwrap_err();
    assert!(e.message.contains("EVACCTL_TEST_BMC_PW_4 is empty"), "{e}");
    let pw = b4
        .password
        .read_with(|n| (n == "EVACCTL_TEST_BMC_PW_4").then(|| "s3cret".into()))
        .unwrap();
    assert_eq!(pw.expose(), "s3cret");

    let s = c.consul_cluster("s").unwrap();
    let e = s.token.as_ref().unwrap().read_with(no_env).unwrap_err();
    assert!(e.message.contains("the Consul token of cluster `s`"), "{e}");

    // A directory and an oversized file are refused, naming the file.
    let dir_ref = SecretRef {
        source: SecretSource::File(dir.path().to_path_buf()),
        ..b1.password.clone()
    };
    assert!(
        dir_ref
            .read()
            .unwrap_err()
            .message
            .contains("is a directory")
    );
    let big = dir.path().join("big");
    write_private(&big, &"x".repeat(MAX_SECRET_FILE_BYTES as usize + 1)).unwrap();
    let big_ref = SecretRef {
        source: SecretSource::File(big),
        ..b1.password.clone()
    };
    assert!(
        big_ref
            .read()
            .unwrap_err()
            .message
            .contains("is larger than")
    );
}

#[cfg(unix)]
#[test]
fn a_secret_file_others_can_read_is_refused_like_ssh_does() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bmc.pw");
    write_private(&file, "s3cret-value\n").unwrap();
    let r = SecretRef {
        source: SecretSource::File(file.clone()),
        what: "the BMC password of host `c1`".into(),
        config_path: None,
        key: "hosts.c1.bmc.password_file".into(),
        line: None,
        column: None,
    };
    assert_eq!(r.read().unwrap().expose(), "s3cret-value");
    for mode in [0o644, 0o640, 0o604, 0o660] {
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
        let e = r.read().unwrap_err();
        assert_eq!(e.kind, ConfigErrorKind::Secret);
        let text = e.to_string();
        assert!(text.contains(&format!("permissions {mode:04o}")), "{text}");
        assert!(
            text.contains("too open") && text.contains("chmod 600"),
            "{text}"
        );
        assert!(!text.contains("s3cret-value"), "{text}");
    }
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o400)).unwrap();
    assert!(r.read().is_ok(), "read-only for the owner is fine");
}

// ----- loading ------------------------------------------------------------------------

#[test]
fn missing_explicit_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nope.toml");
    let e = Config::load(Some(&p)).unwrap_err();
    assert_eq!(e.kind, ConfigErrorKind::Io);
    assert_eq!(e.path.as_deref(), Some(p.as_path()));
    assert_eq!(e.exit_code(), ExitCode::Config);
    let text = e.to_string();
    assert!(text.starts_with(&p.display().to_string()), "{text}");
    assert!(
        text.contains("does not exist (given with --config or EVACCTL_CONFIG)"),
        "{text}"
    );

    // A directory cannot be read either.
    let e = Config::load(Some(dir.path())).unwrap_err();
    assert_eq!(e.kind, ConfigErrorKind::Io);
}

#[test]
fn no_file_at_the_default_path_gives_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let default_path = dir.path().join("config.toml");
    let c = Config::load_at(None, &default_path).unwrap();
    assert_eq!(c, Config::default());
    assert_eq!(c.path(), None);
    assert_eq!(c.policy.quick_evacuate_level.level(), 2);

    std::fs::write(&default_path, "[policy]\nconfirmations = 3\n").unwrap();
    let c = Config::load_at(None, &default_path).unwrap();
    assert_eq!(c.policy.confirmations, 3);
    assert_eq!(c.path(), Some(default_path.as_path()));

    // An explicit file wins over the default path.
    let other = dir.path().join("other.toml");
    std::fs::write(&other, "[policy]\nconfirmations = 4\n").unwrap();
    assert_eq!(
        Config::load_at(Some(&other), &default_path)
            .unwrap()
            .policy
            .confirmations,
        4
    );

    // An error in the default file is reported, not ignored.
    std::fs::write(&default_path, "[policy]\nconfirmations = 0\n").unwrap();
    assert_eq!(
        Config::load_at(None, &default_path).unwrap_err().line,
        Some(2)
    );

    // A dangling symlink at the default path is an error, not "no file".
    #[cfg(unix)]
    {
        let link = dir.path().join("link.toml");
        std::os::unix::fs::symlink(dir.path().join("gone.toml"), &link).unwrap();
        assert_eq!(
            Config::load_at(None, &link).unwrap_err().kind,
            ConfigErrorKind::Io
        );
    }
}

#[test]
fn empty_file_is_the_defaults() {
    let mut c = ok("");
    c.path = None;
    assert_eq!(c, Config::default());
}

// ----- lookups ------------------------------------------------------------------------

#[test]
fn host_lookup_and_suggestions() {
    let c = ok(r#"
[hosts."compute-1".bmc]
address = "x"
user = "u"
password_env = "P"
[hosts."compute-2.example.com"]
[hosts."ctl1"]
"#);
    assert!(c.host("compute-1").is_some());
    assert!(c.host("Compute-1").is_none(), "lookups are exact");
    assert_eq!(c.suggest_host("Compute-1"), Some("compute-1"));
    assert_eq!(c.suggest_host("compute-1.example.com"), Some("compute-1"));
    assert_eq!(c.suggest_host("compute-2"), Some("compute-2.example.com"));
    assert_eq!(c.suggest_host("compute1"), Some("compute-1"));
    assert_eq!(c.suggest_host("storage-7"), None);
}

#[test]
fn type_errors_speak_toml() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "[consul.s]\nrole = \"storage\"\naddresses = \"http://x\"\n",
            "consul.s.addresses",
            "expected an array",
        ),
        (
            "hosts = 5\n",
            "hosts",
            "invalid type: integer `5`, expected a table",
        ),
        (
            "[hosts.c1]\nbmc = 5\n",
            "hosts.c1.bmc",
            "expected a table [hosts.\"NAME\".bmc]",
        ),
        (
            "[consul]\nrole = \"storage\"\n",
            "consul.role",
            "expected a table [consul.NAME]",
        ),
        (
            "[evacuation]\nskip_servers = [\"a\", 2]\n",
            "evacuation.skip_servers[1]",
            "expected a string",
        ),
        ("[[policy]]\n", "policy", "an array of tables"),
        (
            "[hosts]\nc1 = { bmc = [{ address = \"x\" }] }\n",
            "hosts.c1.bmc",
            "an array of tables",
        ),
    ];
    for (text, key, expect) in cases {
        let e = err(text);
        assert_eq!(e.key.as_deref(), Some(*key), "{e}");
        assert!(e.message.contains(expect), "{e}");
        assert!(
            !e.message.contains("Raw") && !e.message.contains("struct"),
            "{e}"
        );
    }
}

// ----- reads without limit ------------------------------------------------------------

#[cfg(unix)]
fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// Runs `f` on a thread; panics if it has not returned within 20 s (it would hang).
fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(20))
        .expect("still reading after 20 s: it hangs")
}

/// `--config /dev/zero` grew the memory without end, a FIFO waited for a writer for ever:
/// both are refused at once, and so is a file larger than the limit.
#[cfg(unix)]
#[test]
fn a_config_that_is_no_regular_file_or_too_large_is_refused_at_once() {
    let e = within(|| Config::load(Some(Path::new("/dev/zero")))).unwrap_err();
    assert_eq!(e.kind, ConfigErrorKind::Io);
    assert!(
        e.message.contains("character device, not a regular file"),
        "{e}"
    );

    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("config.toml");
    mkfifo(&fifo);
    let e = within(move || Config::load(Some(&fifo))).unwrap_err();
    assert!(e.message.contains("a FIFO, not a regular file"), "{e}");

    let big = dir.path().join("big.toml");
    std::fs::write(&big, "# x\n".repeat((MAX_CONFIG_BYTES / 4 + 1) as usize)).unwrap();
    let e = Config::load(Some(&big)).unwrap_err();
    assert!(e.message.contains("larger than 64 MiB"), "{e}");
}

/// A password_file or token_file that is a FIFO or a device is refused without waiting.
#[cfg(unix)]
#[test]
fn a_secret_file_that_is_a_fifo_or_a_device_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("bmc.pw");
    mkfifo(&fifo);
    for path in [fifo, "/dev/zero".into()] {
        let r = SecretRef {
            source: SecretSource::File(path),
            what: "the BMC password of host `c1`".into(),
            config_path: None,
            key: "hosts.c1.bmc.password_file".into(),
            line: None,
            column: None,
        };
        let e = within(move || r.read()).unwrap_err();
        assert!(e.message.contains("not a regular file"), "{e}");
        assert!(e.message.contains("hosts.c1.bmc.password_file"), "{e}");
    }
}

/// Every configured duration lies in a sane range, named in the error: a timeout too large
/// to add to a time once made evacctl panic with a request in doubt.
#[test]
fn durations_out_of_range_are_refused_with_the_range() {
    for (table, key, value, range) in [
        (
            "cloud",
            "api_timeout",
            "18446744073709551615s",
            "from 1s to 1day",
        ),
        ("cloud", "api_timeout", "500ms", "from 1s to 1day"),
        ("policy", "interval", "1ms", "from 100ms to 1day"),
        ("policy", "interval", "2days", "from 100ms to 1day"),
        ("policy", "check_interval", "2h", "from 100ms to 1h"),
        ("policy", "recovery_timeout", "8days", "from 1s to 7days"),
        ("policy", "verify_timeout", "100years", "from 1s to 7days"),
        ("policy", "flap_window", "10ms", "from 1s to 7days"),
        ("policy", "realert_interval", "500ms", "from 1s to 7days"),
        ("policy", "realert_interval", "8days", "from 1s to 7days"),
        ("notify", "webhook_timeout", "2h", "from 100ms to 1h"),
        ("bmc_defaults", "timeout", "1ms", "from 100ms to 1h"),
    ] {
        let e = err(&format!("[{table}]\n{key} = \"{value}\"\n"));
        assert_at(
            &e,
            ConfigErrorKind::InvalidValue,
            &format!("{table}.{key}"),
            2,
            key.len() + 4,
        );
        assert!(
            e.message.contains("is out of range: allowed") && e.message.contains(range),
            "{e}"
        );
    }
    let e = err("[hosts.c1.bmc]\naddress = \"x\"\npassword_env = \"P\"\ntimeout = \"3h\"\n");
    assert_eq!(e.key.as_deref(), Some("hosts.c1.bmc.timeout"), "{e}");
    assert!(e.message.contains("from 100ms to 1h"), "{e}");
    // The edges are allowed.
    let c = ok(
        "[cloud]\napi_timeout = \"1day\"\n[policy]\ninterval = \"100ms\"\nverify_timeout = \"7days\"\n",
    );
    assert_eq!(c.cloud.api_timeout, Duration::from_secs(86400));
}

#[test]
fn confirm_window_is_optional_and_bounded() {
    assert_eq!(ok("").policy.confirm_window, None);
    let c = ok("[policy]\nconfirm_window = \"2s\"\n");
    assert_eq!(c.policy.confirm_window, Some(Duration::from_secs(2)));
    assert_eq!(c.policy.confirmations, 2, "confirmations keeps its default");
    for value in ["\"50ms\"", "\"2d\""] {
        let e = err(&format!("[policy]\nconfirm_window = {value}\n"));
        assert_eq!(e.kind, ConfigErrorKind::InvalidValue, "{e}");
        assert!(e.message.contains("policy.confirm_window"), "{e}");
    }
}
