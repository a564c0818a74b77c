//! The `evacctl-sim` command line: serve's start-up contract, files, signals, errors, and ctl.

mod common;

use std::process::Command;
use std::time::Duration;

use common::sim::{FAST_SCENARIO, SimCloud};
use predicates::prelude::*;

fn sim() -> assert_cmd::Command {
    assert_cmd::Command::new(common::sim::sim_exe())
}

#[test]
fn malformed_scenario_names_file_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.toml");
    let text = FAST_SCENARIO.replace("report_interval = 1", "report_interval = 1\nheartbeat = 3");
    std::fs::write(&path, text).unwrap();
    sim()
        .arg("serve")
        .arg("--scenario")
        .arg(&path)
        .timeout(Duration::from_secs(10))
        .assert()
        .failure()
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("broken.toml"))
        .stderr(predicate::str::contains("line 6"))
        .stderr(predicate::str::contains("heartbeat"));

    let text = FAST_SCENARIO.replace("user = \"admin\"", "user = \"nobody\"");
    std::fs::write(&path, text).unwrap();
    sim()
        .args(["serve", "--scenario"])
        .arg(&path)
        .timeout(Duration::from_secs(10))
        .assert()
        .failure()
        .stderr(predicate::str::contains("application_credentials[0].user"))
        .stderr(predicate::str::contains("line 24"));
}

#[test]
fn refuses_a_non_loopback_listen_address() {
    for addr in ["0.0.0.0:0", "[::]:0"] {
        sim()
            .args(["serve", "--listen", addr])
            .timeout(Duration::from_secs(10))
            .assert()
            .failure()
            .stdout(predicate::str::is_empty())
            .stderr(predicate::str::contains("loopback only"));
    }
}

#[test]
fn writes_client_files_and_exits_0_on_sigterm() {
    let cloud = SimCloud::start();
    let yaml = std::fs::read_to_string(cloud.clouds_yaml()).unwrap();
    let auth_url = format!("\"{}/identity/v3\"", cloud.url());
    assert!(yaml.contains("clouds:\n  sim:\n"), "{yaml}");
    for needle in [
        auth_url.as_str(),
        "auth_type: password",
        "username: \"admin\"",
        "password: \"sim-admin-password\"",
        "project_name: \"admin\"",
        "user_domain_name: \"Default\"",
        "project_domain_name: \"Default\"",
        "region_name: \"RegionOne\"",
        "interface: public",
        "identity_api_version: 3",
    ] {
        assert!(yaml.contains(needle), "{needle} in\n{yaml}");
    }
    let env = std::fs::read_to_string(cloud.env_file()).unwrap();
    assert!(
        env.contains(&format!(
            "export OS_AUTH_URL='{}/identity/v3'\n",
            cloud.url()
        )),
        "{env}"
    );
    assert!(env.contains("export OS_USERNAME='admin'\n"), "{env}");
    assert!(
        env.contains("export OS_PASSWORD='sim-admin-password'\n"),
        "{env}"
    );

    // The env file is valid sh.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            ". '{}' && printf %s \"$OS_PROJECT_NAME\"",
            cloud.env_file().display()
        ))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "admin");

    let status = Command::new("kill")
        .args(["-TERM", &cloud.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut cloud = cloud;
    let exited = SimCloud::wait_for(Duration::from_secs(10), || cloud_exited(&mut cloud));
    assert!(exited.is_some(), "exits on SIGTERM");
}

fn cloud_exited(cloud: &mut SimCloud) -> bool {
    match cloud.try_wait() {
        Some(status) => {
            assert!(status.success(), "exit status {status:?}");
            true
        }
        None => false,
    }
}

#[test]
fn ctl_drives_the_cloud() {
    let cloud = SimCloud::with_scenario(FAST_SCENARIO);
    sim()
        .args(["ctl", "--url", cloud.url(), "power-off", "compute-2"])
        .timeout(Duration::from_secs(10))
        .assert()
        .success()
        .stdout(predicate::str::contains("compute-2: power off"));
    sim()
        .args(["ctl", "--url", cloud.url(), "power-off", "compute-7"])
        .timeout(Duration::from_secs(10))
        .assert()
        .failure()
        .stderr(predicate::str::contains("unknown host \"compute-7\""))
        .stderr(predicate::str::contains(
            "known hosts: ctl-1, compute-1, compute-2",
        ));
    sim()
        .args([
            "ctl",
            "--url",
            cloud.url(),
            "crash",
            "compute-1",
            "nova-api",
        ])
        .timeout(Duration::from_secs(10))
        .assert()
        .failure()
        .stderr(predicate::str::contains("nova-compute, cinder-volume"));
    let out = sim()
        .args(["ctl", "--url", cloud.url(), "state"])
        .timeout(Duration::from_secs(10))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let state: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let c2 = state["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "compute-2")
        .unwrap();
    assert_eq!(c2["power"], "off");

    sim()
        .args([
            "ctl",
            "--url",
            cloud.url(),
            "fault",
            "add",
            "--path-contains",
            "os-services",
        ])
        .args(["--status", "500", "--count", "3"])
        .timeout(Duration::from_secs(10))
        .assert()
        .success();
    let faults = cloud.ctl("GET", "faults", None);
    assert_eq!(faults["faults"][0]["remaining"], 3);
    sim()
        .args(["ctl", "--url", cloud.url(), "fault", "clear"])
        .timeout(Duration::from_secs(10))
        .assert()
        .success()
        .stdout(predicate::str::contains("cleared 1"));

    cloud.admin_token();
    sim()
        .args(["ctl", "--url", cloud.url(), "revoke-tokens"])
        .timeout(Duration::from_secs(10))
        .assert()
        .success()
        .stdout(predicate::str::contains("revoked 1"));
}

/// `serve --evacctl-config` writes what `watch` needs: the journal and lock file beside the
/// config, the leader lock in the management Consul cluster, evacctl-sim as cinder-manage, and
/// short policy cycles.
#[test]
fn the_evacctl_config_it_writes_runs_watch() {
    let cloud = SimCloud::start();
    let path = cloud.evacctl_config();
    let c = evacctl::config::Config::load(Some(&path)).expect("the written config loads");
    assert_eq!(c.journal.path, cloud.dir().join("journal.jsonl"));
    assert_eq!(c.lock.file, cloud.dir().join("watch.lock"));
    assert_eq!(c.lock.consul_cluster.as_deref(), Some("management"));
    assert_eq!(c.policy.interval, Duration::from_secs(1));
    assert!(c.hosts().count() > 0 && c.consul_clusters().count() == 3);
    let argv = c.volumes.argv(&["backup", "list"]);
    let out = Command::new(&argv[0])
        .args(&argv[1..])
        .output()
        .expect("run the configured cinder-manage");
    assert!(out.status.success(), "{argv:?}: {out:?}");
}
