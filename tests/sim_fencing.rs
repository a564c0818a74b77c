//! Fencing through the simulated cloud's Redfish BMCs: power off really kills the simulated
//! host (its nova-compute turns down), and lying or failing BMCs make fencing fail.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::sim::{FAST_SCENARIO, SimCloud};
use serde_json::{Value, json};

fn evacctl(cloud: &SimCloud, args: &[&str]) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_evacctl"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", cloud.dir())
        .env("EVACCTL_JOURNAL", cloud.dir().join("journal.jsonl"))
        .env("EVACCTL_LOCK_DIR", cloud.dir())
        .env("OS_CLIENT_CONFIG_FILE", cloud.clouds_yaml())
        .env("OS_CLOUD", "sim")
        .arg("--config")
        .arg(cloud.evacctl_config())
        .args(["-f", "json"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run evacctl");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let v = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        v,
        format!("{stdout}\n{stderr}"),
    )
}

fn nova_compute_state(cloud: &SimCloud, host: &str) -> String {
    let (_, report, all) = evacctl(cloud, &["check-services", "--binary", "nova-compute"]);
    report["nova_services"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["host"] == host))
        .map(|s| s["state"].as_str().unwrap_or_default().to_string())
        .unwrap_or_else(|| panic!("no nova-compute on {host}: {all}"))
}

#[test]
fn fencing_a_simulated_host_stops_its_heartbeat() {
    let cloud = SimCloud::with_scenario(FAST_SCENARIO);
    let (code, report, all) = evacctl(&cloud, &["ipmi", "power", "status", "--all"]);
    assert_eq!(code, 0, "{all}");
    let hosts: Vec<&str> = report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, ["compute-1", "compute-2"], "compute hosts only");
    assert!(
        report["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["power_state"] == "on" && r["driver"] == "redfish")
    );

    let (code, report, all) = evacctl(
        &cloud,
        &["ipmi", "power", "off", "compute-1", "--wait", "--yes"],
    );
    assert_eq!(code, 0, "{all}");
    assert_eq!(report["hosts"][0]["result"], "fenced");
    assert!(all.contains("compute-1 fence successed"), "{all}");
    assert_eq!(
        cloud.ctl("GET", "hosts/compute-1", None)["host"]["power"],
        "off"
    );
    assert!(
        SimCloud::wait_for(Duration::from_secs(10), || nova_compute_state(
            &cloud,
            "compute-1"
        ) == "down")
        .is_some(),
        "nova-compute of a fenced host turns down"
    );
    assert_eq!(nova_compute_state(&cloud, "compute-2"), "up");

    let (code, _, all) = evacctl(&cloud, &["ipmi", "power", "on", "compute-1", "--yes"]);
    assert_eq!(code, 0, "{all}");
    assert_eq!(nova_compute_state(&cloud, "compute-1"), "up");
}

#[test]
fn lying_and_failing_simulated_bmcs_make_fencing_fail() {
    let cloud = SimCloud::with_scenario(FAST_SCENARIO);
    let config = std::fs::read_to_string(cloud.evacctl_config()).unwrap();
    // Quicker polling than the written config's (10 x 500ms).
    std::fs::write(
        cloud.evacctl_config(),
        config.replace("check_max_count = 10", "check_max_count = 3"),
    )
    .unwrap();
    cloud.ctl(
        "POST",
        "hosts/compute-1/bmc",
        Some(json!({"fault": "lying"})),
    );
    cloud.ctl(
        "POST",
        "hosts/compute-2/bmc",
        Some(json!({"fault": "failing"})),
    );

    let (code, report, all) = evacctl(
        &cloud,
        &["ipmi", "power", "off", "compute-1", "--wait", "--yes"],
    );
    assert_eq!(code, 12, "{all}");
    assert_eq!(report["hosts"][0]["result"], "unconfirmed");
    assert_eq!(
        cloud.ctl("GET", "hosts/compute-1", None)["host"]["power"],
        "on"
    );

    let (code, report, all) = evacctl(
        &cloud,
        &["ipmi", "power", "off", "compute-2", "--wait", "--yes"],
    );
    assert_eq!(code, 12, "{all}");
    assert!(
        report["hosts"][0]["error"]
            .as_str()
            .unwrap()
            .contains("HTTP 500"),
        "{all}"
    );

    // Wrong credentials: refused.
    std::fs::write(cloud.dir().join("bmc.password"), "wrong-password\n").unwrap();
    let (code, _, all) = evacctl(&cloud, &["ipmi", "power", "status", "compute-1"]);
    assert_eq!(code, 9, "{all}");
    assert!(!all.contains("sim-bmc-password"), "{all}");
}
