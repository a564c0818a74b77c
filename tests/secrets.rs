//! Secrets never leave: no password, application credential secret or token in stdout,
//! stderr or the log file, at the highest verbosity, on success and on failure.

mod common;

use std::process::Command;

use common::sim::{ADMIN, APP_CRED, SimCloud};

struct Captured {
    code: i32,
    text: String,
}

/// Run evacctl at -vvv with a log file; everything it wrote, concatenated.
fn run_vvv(cloud: &SimCloud, env: &[(&str, &str)], args: &[&str]) -> Captured {
    let log = cloud
        .dir()
        .join(format!("evacctl-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let out = Command::new(env!("CARGO_BIN_EXE_evacctl"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", cloud.dir())
        .env("EVACCTL_LOCK_DIR", cloud.dir())
        .envs(env.iter().copied())
        .args(["-vvv", "--log-file", log.to_str().expect("utf-8")])
        .args(args)
        .output()
        .expect("run evacctl");
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    Captured {
        code: out.status.code().unwrap_or(-1),
        text: format!(
            "{}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            log_text
        ),
    }
}

fn issued_tokens(cloud: &SimCloud) -> Vec<String> {
    let v = cloud.ctl("GET", "tokens", None);
    let list = v.get("tokens").unwrap_or(&v);
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| {
                    t.as_str()
                        .or_else(|| t.get("id").and_then(|x| x.as_str()))
                        .map(String::from)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn assert_clean(what: &str, captured: &Captured, secrets: &[String]) {
    for s in secrets {
        assert!(s.len() >= 8, "secret too short to test meaningfully: {s}");
        assert!(
            !captured.text.contains(s.as_str()),
            "{what}: a secret leaked:\n{}",
            captured.text
        );
    }
}

#[test]
fn no_secret_in_any_output_at_the_highest_verbosity() {
    let cloud = SimCloud::start();
    let clouds = cloud.clouds_yaml();
    let clouds = clouds.to_str().expect("utf-8");

    // Password auth from clouds.yaml.
    let run = run_vvv(
        &cloud,
        &[("OS_CLIENT_CONFIG_FILE", clouds), ("OS_CLOUD", "sim")],
        &["check-services"],
    );
    assert_eq!(run.code, 0, "{}", run.text);
    assert!(
        run.text.contains("os-services"),
        "-vvv shows the HTTP requests: {}",
        run.text
    );
    let mut secrets = vec![ADMIN.1.to_string(), APP_CRED.1.to_string()];
    let tokens = issued_tokens(&cloud);
    assert!(!tokens.is_empty(), "the simulated cloud issued a token");
    secrets.extend(tokens);
    assert_clean("password auth", &run, &secrets);

    // Application credential from OS_* variables.
    let auth_url = format!("{}/identity/v3", cloud.url());
    let run = run_vvv(
        &cloud,
        &[
            ("OS_AUTH_URL", &auth_url),
            ("OS_AUTH_TYPE", "v3applicationcredential"),
            ("OS_APPLICATION_CREDENTIAL_ID", APP_CRED.0),
            ("OS_APPLICATION_CREDENTIAL_SECRET", APP_CRED.1),
        ],
        &["check-services"],
    );
    assert_eq!(run.code, 0, "{}", run.text);
    secrets.extend(issued_tokens(&cloud));
    assert_clean("application credential", &run, &secrets);

    // A token given by the operator.
    let token = cloud.admin_token();
    secrets.push(token.clone());
    let run = run_vvv(
        &cloud,
        &[
            ("OS_AUTH_URL", &auth_url),
            ("OS_AUTH_TYPE", "v3token"),
            ("OS_TOKEN", &token),
            ("OS_PROJECT_NAME", "admin"),
            ("OS_PROJECT_DOMAIN_NAME", "Default"),
        ],
        &["check-services"],
    );
    assert_eq!(run.code, 0, "{}", run.text);
    secrets.extend(issued_tokens(&cloud));
    assert_clean("token auth", &run, &secrets);

    // Failures: a wrong password, a wrong secret, a revoked token.
    let wrong = "wrong-password-9f2c1e";
    let run = run_vvv(
        &cloud,
        &[
            ("OS_CLIENT_CONFIG_FILE", clouds),
            ("OS_CLOUD", "sim"),
            ("OS_PASSWORD", wrong),
        ],
        &["check-services"],
    );
    assert_eq!(run.code, 9, "{}", run.text);
    assert_clean("wrong password", &run, &[wrong.to_string()]);

    let run = run_vvv(
        &cloud,
        &[
            ("OS_AUTH_URL", &auth_url),
            ("OS_AUTH_TYPE", "v3applicationcredential"),
            ("OS_APPLICATION_CREDENTIAL_ID", APP_CRED.0),
            ("OS_APPLICATION_CREDENTIAL_SECRET", "wrong-secret-77aa31"),
        ],
        &["check-services"],
    );
    assert_eq!(run.code, 9, "{}", run.text);
    assert_clean("wrong secret", &run, &["wrong-secret-77aa31".to_string()]);

    cloud.ctl("POST", "tokens/revoke", None);
    let run = run_vvv(
        &cloud,
        &[
            ("OS_AUTH_URL", &auth_url),
            ("OS_AUTH_TYPE", "v3token"),
            ("OS_TOKEN", &token),
            ("OS_PROJECT_NAME", "admin"),
            ("OS_PROJECT_DOMAIN_NAME", "Default"),
        ],
        &["check-services"],
    );
    assert_eq!(run.code, 9, "a revoked token is refused: {}", run.text);
    assert_clean("revoked token", &run, &secrets);
}
