use std::collections::HashMap;
use std::path::Path;

use super::*;
use crate::error::Classify;
use crate::exit_codes::ExitCode;
use crate::openstack::credentials::DomainRef;

const CLOUDS: &str = r#"
clouds:
  harness:
    auth:
      auth_url: http://127.0.0.1:5000/v3
      username: admin
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    identity_api_version: 3
  prod:
    auth:
      auth_url: https://keystone.prod.example:5000
      username: evacctl
      user_domain_id: default
      project_id: 0123456789abcdef
    interface: internalURL
    verify: false
    api_timeout: 30
    compute_endpoint_override: https://nova.prod.example/v2.1
    volumev3_endpoint_override: https://cinder.prod.example/v3/%(project_id)s
    block_storage_endpoint_override: https://bs.prod.example/v3/%(project_id)s
    some_future_key: {nested: true}
"#;

const SECURE: &str = r#"
clouds:
  harness:
    auth:
      password: hunter2-harness
  prod:
    auth:
      password: hunter2-prod
"#;

struct Fixture {
    _dir: tempfile::TempDir,
    dirs: Vec<PathBuf>,
}

impl Fixture {
    /// Three search dirs (like cwd, ~/.config/openstack, /etc/openstack), all empty.
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let dirs: Vec<PathBuf> = ["cwd", "user", "site"]
            .iter()
            .map(|d| dir.path().join(d))
            .collect();
        for d in &dirs {
            std::fs::create_dir_all(d).unwrap();
        }
        Fixture { _dir: dir, dirs }
    }

    fn write(&self, dir: usize, name: &str, text: &str) -> PathBuf {
        let p = self.dirs[dir].join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn paths(&self) -> SearchPaths {
        SearchPaths::in_dirs(&self.dirs)
    }

    fn resolve(&self, sel: &CloudSelection, env: &[(&str, &str)]) -> Result<CloudConfig> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        CloudConfig::resolve_with(sel, &|k| env.get(k).cloned(), &self.paths())
    }
}

fn named(cloud: &str) -> CloudSelection {
    CloudSelection {
        cloud: Some(cloud.into()),
        ..Default::default()
    }
}

#[test]
fn merges_secure_yaml_into_the_named_cloud() {
    let f = Fixture::new();
    let clouds = f.write(1, "clouds.yaml", CLOUDS);
    let secure = f.write(2, "secure.yaml", SECURE);
    let c = f.resolve(&named("harness"), &[]).unwrap();
    assert_eq!(c.name.as_deref(), Some("harness"));
    assert_eq!(
        c.auth.password.as_ref().map(|p| p.expose()),
        Some("hunter2-harness")
    );
    assert_eq!(c.auth.username.as_deref(), Some("admin"));
    assert_eq!(c.auth_type, AuthType::Password);
    assert_eq!(
        c.scope,
        Scope::ProjectName {
            name: "admin".into(),
            domain: DomainRef::Name("Default".into())
        }
    );
    assert_eq!(c.region.as_deref(), Some("RegionOne"));
    assert_eq!(c.interface, Interface::Public);
    assert!(!c.insecure);
    assert_eq!(c.api_timeout, DEFAULT_API_TIMEOUT);
    assert_eq!(c.clouds_file.as_deref(), Some(clouds.as_path()));
    assert_eq!(c.secure_file.as_deref(), Some(secure.as_path()));
    assert!(c.env_applied.is_empty());
}

#[test]
fn reads_the_other_keys() {
    let f = Fixture::new();
    f.write(0, "clouds.yaml", CLOUDS);
    f.write(0, "secure.yaml", SECURE);
    let c = f.resolve(&named("prod"), &[]).unwrap();
    assert_eq!(c.interface, Interface::Internal);
    assert!(c.insecure);
    assert_eq!(c.api_timeout, Duration::from_secs(30));
    assert_eq!(c.scope, Scope::ProjectId("0123456789abcdef".into()));
    assert_eq!(
        c.endpoint_overrides
            .get(&ServiceType::Compute)
            .map(String::as_str),
        Some("https://nova.prod.example/v2.1")
    );
    // The official spelling wins over the volumev3 alias.
    assert_eq!(
        c.endpoint_overrides
            .get(&ServiceType::BlockStorage)
            .map(String::as_str),
        Some("https://bs.prod.example/v3/%(project_id)s")
    );
}

#[test]
fn search_order_first_existing_wins() {
    let f = Fixture::new();
    f.write(
        2,
        "clouds.yaml",
        "clouds: {site: {auth: {auth_url: 'http://site', token: t}}}",
    );
    f.write(
        1,
        "clouds.yaml",
        "clouds: {user: {auth: {auth_url: 'http://user', token: t}}}",
    );
    let c = f.resolve(&named("user"), &[]).unwrap();
    assert_eq!(c.auth.auth_url, "http://user");
    assert_eq!(c.auth_type, AuthType::Token);
    // The site file is not merged: openstacksdk reads one clouds file.
    let e = f.resolve(&named("site"), &[]).unwrap_err();
    assert!(e.to_string().contains("user/clouds.yaml"), "{e}");
    // .yml in an earlier directory beats .yaml in a later one.
    f.write(
        0,
        "clouds.yml",
        "clouds: {cwd: {auth: {auth_url: 'http://cwd', token: t}}}",
    );
    assert_eq!(
        f.resolve(&named("cwd"), &[]).unwrap().auth.auth_url,
        "http://cwd"
    );
}

#[test]
fn env_file_overrides_and_must_exist() {
    let f = Fixture::new();
    f.write(
        0,
        "clouds.yaml",
        "clouds: {cwd: {auth: {auth_url: 'http://cwd', token: t}}}",
    );
    let other = f.write(
        2,
        "other.yaml",
        "clouds: {other: {auth: {auth_url: 'http://other', token: t}}}",
    );
    let secure = f.write(
        2,
        "my-secure.yaml",
        "clouds: {other: {auth: {token: from-secure}}}",
    );
    let env = [
        ("OS_CLIENT_CONFIG_FILE", other.to_str().unwrap()),
        ("OS_CLIENT_SECURE_FILE", secure.to_str().unwrap()),
    ];
    let c = f.resolve(&named("other"), &env).unwrap();
    assert_eq!(c.auth.auth_url, "http://other");
    assert_eq!(
        c.auth.token.as_ref().map(|t| t.expose()),
        Some("from-secure")
    );
    let e = f
        .resolve(
            &named("cwd"),
            &[("OS_CLIENT_CONFIG_FILE", "/nonexistent/clouds.yaml")],
        )
        .unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Config);
    assert!(
        e.to_string()
            .contains("OS_CLIENT_CONFIG_FILE is /nonexistent/clouds.yaml"),
        "{e}"
    );
}

#[test]
fn env_overlays_the_named_cloud_and_cli_wins() {
    let f = Fixture::new();
    f.write(1, "clouds.yaml", CLOUDS);
    f.write(1, "secure.yaml", SECURE);
    let env = [
        ("OS_PASSWORD", "from-env"),
        ("OS_REGION_NAME", "RegionEnv"),
        ("OS_INTERFACE", "admin"),
        ("OS_ENDPOINT_TYPE", "internalURL"),
        ("OS_PROJECT_NAME", "ops"),
        ("OS_TENANT_NAME", "ignored"),
        ("OS_USERNAME", ""),
    ];
    let c = f.resolve(&named("harness"), &env).unwrap();
    assert_eq!(
        c.auth.password.as_ref().map(|p| p.expose()),
        Some("from-env")
    );
    assert_eq!(c.region.as_deref(), Some("RegionEnv"));
    assert_eq!(c.interface, Interface::Admin);
    assert_eq!(c.auth.project_name.as_deref(), Some("ops"));
    // An empty variable counts as unset.
    assert_eq!(c.auth.username.as_deref(), Some("admin"));
    assert_eq!(
        c.env_applied,
        [
            "OS_PASSWORD",
            "OS_PROJECT_NAME",
            "OS_REGION_NAME",
            "OS_INTERFACE"
        ]
    );
    let sel = CloudSelection {
        region: Some("RegionCli".into()),
        api_timeout: Some(Duration::from_secs(5)),
        retries: Some(7),
        ..named("harness")
    };
    let c = f.resolve(&sel, &env).unwrap();
    assert_eq!(c.region.as_deref(), Some("RegionCli"));
    assert_eq!(c.api_timeout, Duration::from_secs(5));
    assert_eq!(c.retries, 7);
    assert_eq!(
        crate::openstack::SessionOptions::for_config(&c)
            .retry
            .max_retries,
        7
    );
    let zero = CloudSelection {
        api_timeout: Some(Duration::ZERO),
        ..named("harness")
    };
    assert_eq!(
        f.resolve(&zero, &[]).unwrap_err().exit_code(),
        ExitCode::Config
    );
    // OS_INSECURE=false beats verify: false, OS_INSECURE=true beats verify: true.
    let c = f
        .resolve(&named("prod"), &[("OS_INSECURE", "false")])
        .unwrap();
    assert!(!c.insecure);
    assert!(f.resolve(&named("prod"), &[]).unwrap().insecure);
    let c = f
        .resolve(&named("harness"), &[("OS_INSECURE", "True")])
        .unwrap();
    assert!(c.insecure);
    assert_eq!(c.retries, 3);
}

#[test]
fn cloud_name_precedence() {
    let f = Fixture::new();
    f.write(0, "clouds.yaml", CLOUDS);
    f.write(0, "secure.yaml", SECURE);
    let none = CloudSelection::default();
    assert_eq!(
        f.resolve(&none, &[("OS_CLOUD", "harness")])
            .unwrap()
            .name
            .as_deref(),
        Some("harness")
    );
    // A name wins over OS_CLOUD, and over OS_AUTH_URL alone.
    let explicit = named("prod");
    assert_eq!(
        f.resolve(&explicit, &[("OS_AUTH_URL", "http://other")])
            .unwrap()
            .name
            .as_deref(),
        Some("prod")
    );
    assert_eq!(
        f.resolve(&explicit, &[("OS_CLOUD", "harness")])
            .unwrap()
            .name
            .as_deref(),
        Some("prod")
    );
}

#[test]
fn cloud_from_os_variables_alone() {
    let f = Fixture::new();
    f.write(0, "clouds.yaml", CLOUDS);
    let env = [
        ("OS_AUTH_URL", "http://10.0.0.1:5000/v3"),
        ("OS_USERNAME", "admin"),
        ("OS_PASSWORD", "pw-env"),
        ("OS_TENANT_ID", "p-1"),
        ("OS_USER_DOMAIN_ID", "default"),
        ("OS_REGION_NAME", "RegionOne"),
        ("OS_CACERT", "/etc/ssl/ca.pem"),
    ];
    let c = f.resolve(&CloudSelection::default(), &env).unwrap();
    assert_eq!(c.name, None);
    assert_eq!(c.auth.auth_url, "http://10.0.0.1:5000/v3");
    assert_eq!(c.scope, Scope::ProjectId("p-1".into()));
    assert_eq!(c.cacert.as_deref(), Some(Path::new("/etc/ssl/ca.pem")));
    assert!(
        c.describe_origin().contains("OS_* variables"),
        "{}",
        c.describe_origin()
    );
}

#[test]
fn app_credential_and_token_from_env() {
    let f = Fixture::new();
    let env = [
        ("OS_AUTH_URL", "http://k:5000"),
        ("OS_AUTH_TYPE", "v3applicationcredential"),
        ("OS_APPLICATION_CREDENTIAL_ID", "ac-1"),
        ("OS_APPLICATION_CREDENTIAL_SECRET", "ac-secret-value"),
    ];
    let c = f.resolve(&CloudSelection::default(), &env).unwrap();
    assert_eq!(c.auth_type, AuthType::ApplicationCredential);
    assert_eq!(c.scope, Scope::Unscoped);
    let env = [
        ("OS_AUTH_URL", "http://k:5000"),
        ("OS_TOKEN", "tok-value"),
        ("OS_SYSTEM_SCOPE", "all"),
    ];
    let c = f.resolve(&CloudSelection::default(), &env).unwrap();
    assert_eq!(c.auth_type, AuthType::Token);
    assert_eq!(c.scope, Scope::System);
}

#[test]
fn no_name_and_no_auth_url_lists_the_clouds() {
    let f = Fixture::new();
    let clouds = f.write(1, "clouds.yaml", CLOUDS);
    let e = f.resolve(&CloudSelection::default(), &[]).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Config);
    let msg = e.to_string();
    assert!(
        msg.contains("--os-cloud") && msg.contains("harness, prod"),
        "{msg}"
    );
    assert!(msg.contains(&clouds.display().to_string()), "{msg}");
    let empty = Fixture::new();
    let msg = empty
        .resolve(&CloudSelection::default(), &[])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("searched") && msg.contains("cwd/clouds.{yaml,yml,json}"),
        "{msg}"
    );
}

#[test]
fn unknown_cloud_names_files_clouds_and_the_closest() {
    let f = Fixture::new();
    let clouds = f.write(1, "clouds.yaml", CLOUDS);
    let secure = f.write(2, "secure.yaml", "clouds: {staging: {auth: {password: x}}}");
    let e = f.resolve(&named("prdo"), &[]).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Config);
    let msg = e.to_string();
    for want in [
        "cloud \"prdo\" not found".to_string(),
        clouds.display().to_string(),
        secure.display().to_string(),
        "harness, prod, staging".to_string(),
        "Did you mean \"prod\"?".to_string(),
    ] {
        assert!(msg.contains(&want), "{want:?} not in {msg}");
    }
    assert!(!msg.contains("not read"), "{msg}");
    // A clouds.yaml that hides another one is named.
    let hidden = f.write(2, "clouds.yaml", "clouds: {elsewhere: {}}");
    let msg = f.resolve(&named("elsewhere"), &[]).unwrap_err().to_string();
    assert!(
        msg.contains(&format!(
            "not read, because only the first clouds file found is: {}",
            hidden.display()
        )),
        "{msg}"
    );
    let far = f
        .resolve(&named("completely-different"), &[])
        .unwrap_err()
        .to_string();
    assert!(!far.contains("Did you mean"), "{far}");
    let none = Fixture::new()
        .resolve(&named("prod"), &[])
        .unwrap_err()
        .to_string();
    assert!(
        none.contains("not found: no clouds.yaml found")
            && none.contains("site/clouds.{yaml,yml,json}"),
        "{none}"
    );
}

#[test]
fn openstacksdk_fixups() {
    let f = Fixture::new();
    f.write(
        0,
        "clouds.yaml",
        r#"
clouds:
  legacy:
    auth_url: http://k:5000/v2.0
    username: u
    password: p
    tenant_name: t
    domain_name: D
  domainscoped:
    auth: {auth_url: 'http://k', username: u, password: p, user_domain_id: default, domain_id: dom}
  regions:
    auth: {auth_url: 'http://k', token: tok}
    regions:
      - RegionA
      - name: RegionB
        values: {interface: admin}
"#,
    );
    let c = f.resolve(&named("legacy"), &[]).unwrap();
    assert_eq!(c.auth.project_name.as_deref(), Some("t"));
    // domain_name with a project: the default of both domains, not a scope of its own.
    assert_eq!(
        c.scope,
        Scope::ProjectName {
            name: "t".into(),
            domain: DomainRef::Name("D".into())
        }
    );
    assert_eq!(c.auth.user_domain_name.as_deref(), Some("D"));
    let c = f.resolve(&named("domainscoped"), &[]).unwrap();
    assert_eq!(c.scope, Scope::Domain(DomainRef::Id("dom".into())));

    let c = f.resolve(&named("regions"), &[]).unwrap();
    assert_eq!(c.region.as_deref(), Some("RegionA"));
    let c = f
        .resolve(
            &CloudSelection {
                region: Some("RegionB".into()),
                ..named("regions")
            },
            &[],
        )
        .unwrap();
    assert_eq!(c.interface, Interface::Admin);
    let e = f
        .resolve(
            &CloudSelection {
                region: Some("RegionC".into()),
                ..named("regions")
            },
            &[],
        )
        .unwrap_err();
    assert!(e.to_string().contains("RegionA, RegionB"), "{e}");
}

#[test]
fn config_errors_are_clear() {
    let f = Fixture::new();
    f.write(
        0,
        "clouds.yaml",
        r#"
clouds:
  oidc: {auth_type: v3oidcpassword, auth: {auth_url: 'http://k'}}
  v2: {identity_api_version: '2.0', auth: {auth_url: 'http://k', token: t}}
  nourl: {auth: {username: u, password: p}}
  badurl: {auth: {auth_url: 'keystone:5000', token: t}}
  nopw: {auth: {auth_url: 'http://k', username: u, user_domain_name: D}}
  nodomain: {auth: {auth_url: 'http://k', username: u, password: p}}
  badauth: {auth: [1, 2]}
  badtimeout: {api_timeout: soon, auth: {auth_url: 'http://k', token: t}}
  badinterface: {interface: private, auth: {auth_url: 'http://k', token: t}}
  profile: {profile: vexxhost, auth: {username: u, password: p}}
  notamap: 42
"#,
    );
    for (cloud, want) in [
        (
            "oidc",
            "evacctl supports password (v3password), v3applicationcredential",
        ),
        ("v2", "Keystone v3 only"),
        ("nourl", "auth_url is missing"),
        ("badurl", "not an http(s) URL"),
        ("nopw", "needs a password"),
        ("nodomain", "user_domain_name"),
        ("badauth", "`auth` is not a mapping"),
        ("badtimeout", "api_timeout"),
        ("badinterface", "unknown interface"),
        ("profile", "vendor profile \"vexxhost\""),
        ("notamap", "is not a mapping"),
    ] {
        let e = f.resolve(&named(cloud), &[]).unwrap_err();
        assert_eq!(e.exit_code(), ExitCode::Config, "{cloud}");
        assert!(e.to_string().contains(want), "{cloud}: {want:?} not in {e}");
    }
}

#[test]
fn no_secret_in_debug_or_errors() {
    let f = Fixture::new();
    f.write(0, "clouds.yaml", CLOUDS);
    f.write(0, "secure.yaml", SECURE);
    let c = f
        .resolve(
            &named("harness"),
            &[
                ("OS_APPLICATION_CREDENTIAL_SECRET", "ac-hunter2"),
                ("OS_TOKEN", "tok-hunter2"),
            ],
        )
        .unwrap();
    let dbg = format!("{c:?} {:?}", c.auth);
    for secret in ["hunter2-harness", "ac-hunter2", "tok-hunter2"] {
        assert!(!dbg.contains(secret), "{secret} in {dbg}");
    }
    assert!(dbg.contains("Secret(***)"));

    // A broken secure.yaml: the parse error quotes no line of it.
    let g = Fixture::new();
    g.write(0, "clouds.yaml", CLOUDS);
    g.write(
        0,
        "secure.yaml",
        "clouds:\n  harness:\n    auth:\n      password: hunter2-broken: [\n",
    );
    let e = g.resolve(&named("harness"), &[]).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Config);
    assert!(!e.to_string().contains("hunter2"), "{e}");
    assert!(e.to_string().contains("secure.yaml"), "{e}");
    // A password of the wrong type: named, not quoted.
    let h = Fixture::new();
    h.write(0, "clouds.yaml", "clouds: {x: {auth: {auth_url: 'http://k', username: u, user_domain_id: d, password: [hunter2-list]}}}");
    let e = h.resolve(&named("x"), &[]).unwrap_err();
    assert!(
        !e.to_string().contains("hunter2") && e.to_string().contains("password"),
        "{e}"
    );
}

#[test]
fn tolerates_odd_files() {
    let f = Fixture::new();
    f.write(0, "clouds.yaml", "");
    f.write(0, "secure.yaml", "# only a comment\n");
    let e = f.resolve(&named("x"), &[]).unwrap_err();
    assert!(e.to_string().contains("no clouds are defined"), "{e}");
    let g = Fixture::new();
    g.write(0, "clouds.yaml", "- a\n- b\n");
    assert!(
        g.resolve(&named("x"), &[])
            .unwrap_err()
            .to_string()
            .contains("not a mapping")
    );
    let h = Fixture::new();
    h.write(0, "clouds.yaml", "clouds: [1]\n");
    assert!(
        h.resolve(&named("x"), &[])
            .unwrap_err()
            .to_string()
            .contains("`clouds` is not a mapping")
    );
    let j = Fixture::new();
    h.write(
        0,
        "clouds.yaml",
        "clouds:\n  a: {auth: {auth_url: 'http://k', token: t}}\n  a: {}\n",
    );
    let e = h.resolve(&named("a"), &[]).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Config, "{e}");
    drop(j);
    // JSON is YAML too (openstacksdk reads clouds.json).
    let k = Fixture::new();
    k.write(2, "clouds.json", r#"{"clouds": {"j": {"auth": {"auth_url": "http://k", "token": "t"}, "project_id": 12345}}}"#);
    let c = k.resolve(&named("j"), &[]).unwrap();
    assert_eq!(c.scope, Scope::ProjectId("12345".into()));
}

#[test]
fn standard_paths_follow_xdg_and_home() {
    let env = |k: &str| match k {
        "XDG_CONFIG_HOME" => Some("/xdg".to_string()),
        "HOME" => Some("/home/op".to_string()),
        _ => None,
    };
    let p = SearchPaths::standard(&env);
    assert!(
        p.clouds
            .contains(&PathBuf::from("/xdg/openstack/clouds.yaml"))
    );
    assert!(!p.clouds.iter().any(|c| c.starts_with("/home/op")));
    assert_eq!(
        p.clouds.last(),
        Some(&PathBuf::from("/etc/openstack/clouds.json"))
    );
    assert!(
        p.secure
            .contains(&PathBuf::from("/etc/openstack/secure.yml"))
    );
    let env = |k: &str| (k == "HOME").then(|| "/home/op".to_string());
    let p = SearchPaths::standard(&env);
    let user: Vec<_> = p
        .clouds
        .iter()
        .filter(|c| c.starts_with("/home/op"))
        .collect();
    assert_eq!(
        user.first().map(|p| p.as_path()),
        Some(Path::new("/home/op/.config/openstack/clouds.yaml"))
    );
    // The current directory comes first.
    assert_eq!(
        p.clouds[0],
        std::env::current_dir().unwrap().join("clouds.yaml")
    );
}

#[test]
fn a_fifo_or_a_device_as_clouds_yaml_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("clouds.yaml");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates the node.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    // `Loaded` holds secrets and has no Debug: match instead of unwrap_err.
    let err = |p: &Path| match load(p) {
        Ok(_) => panic!("{} was read", p.display()),
        Err(e) => e.to_string(),
    };
    let e = err(&fifo);
    assert!(e.contains("clouds.yaml"), "{e}");
    let e = err(Path::new("/dev/zero"));
    assert!(e.contains("/dev/zero"), "{e}");
}
