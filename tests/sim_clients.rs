//! Fidelity: the official OpenStack clients (python-openstackclient, novaclient) against the
//! simulated cloud, through the clouds.yaml and env file that `serve` writes.
//!
//! The clients come from `.venv/` (installed by scripts/test from tests/requirements.txt) or
//! PATH. Without them the test says so and passes, except under CI, where it fails.

mod common;

use std::process::{Output, Stdio};

use common::clients::{check, clean, find_client, skip_without};
use common::sim::{FAST_SCENARIO, SimCloud};
use serde_json::Value;

#[test]
fn official_clients_work_against_the_sim() {
    let clients = [find_client("openstack"), find_client("nova")];
    if skip_without(&clients, "openstack/nova client") {
        return;
    }
    let [Some(openstack), Some(nova)] = clients else {
        return;
    };
    let cloud = SimCloud::with_scenario(FAST_SCENARIO);
    let osc = |args: &[&str]| {
        let mut cmd = clean(&openstack);
        cmd.env("OS_CLIENT_CONFIG_FILE", cloud.clouds_yaml())
            .env("OS_CLOUD", "sim")
            .args(args);
        cmd
    };
    // The clients start slowly (about 2 s of Python each): run them side by side.
    let mut compute = osc(&["compute", "service", "list", "-f", "json"]);
    let mut volume = osc(&["volume", "service", "list", "-f", "json"]);
    let mut force_down = osc(&[
        "--os-compute-api-version",
        "2.53",
        "compute",
        "service",
        "set",
        "--down",
        "--disable",
        "--disable-reason",
        "fenced by test",
        "compute-2",
        "nova-compute",
    ]);
    // novaclient ignores clouds.yaml: it reads the env file's OS_* variables.
    let mut nova_list = clean(std::path::Path::new("sh"));
    nova_list.arg("-c").arg(format!(
        ". '{}' && exec '{}' service-list --binary nova-compute",
        cloud.env_file().display(),
        nova.display()
    ));
    let children: Vec<_> = [&mut compute, &mut volume, &mut force_down, &mut nova_list]
        .into_iter()
        .map(|c| {
            c.stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            c.spawn().expect("start a client")
        })
        .collect();
    let outs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().expect("client output"))
        .collect();

    let listed: Value = serde_json::from_str(&check("compute service list", &outs[0])).unwrap();
    let hosts: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts.len(), 4, "{listed}");
    assert!(
        hosts.contains(&"compute-1") && hosts.contains(&"ctl-1"),
        "{listed}"
    );

    let listed: Value = serde_json::from_str(&check("volume service list", &outs[1])).unwrap();
    let hosts: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Host"].as_str().unwrap())
        .collect();
    assert_eq!(
        hosts,
        ["ctl-1", "compute-1@ceph", "compute-2@ceph"],
        "{listed}"
    );

    check("compute service set --down --disable", &outs[2]);
    let host = cloud.ctl("GET", "hosts/compute-2", None);
    let svc = &host["host"]["services"][0];
    assert_eq!(svc["binary"], "nova-compute");
    assert_eq!(svc["forced_down"], true);
    assert_eq!(svc["status"], "disabled");
    assert_eq!(svc["disabled_reason"], "fenced by test");

    let table = check("nova service-list", &outs[3]);
    assert!(
        table.contains("compute-1") && table.contains("nova-compute"),
        "{table}"
    );
}

/// Every service as the world has it: (binary, host, zone, status, state), by API.
fn world_services(cloud: &SimCloud, api: &str) -> Vec<(String, String, String, String, String)> {
    let state = cloud.ctl("GET", "state", None);
    let mut rows: Vec<_> = state["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .flat_map(|h| h["services"].as_array().cloned().unwrap_or_default())
        .filter(|s| s["api"] == api)
        .map(|s| {
            let f = |k: &str| s[k].as_str().unwrap_or_default().to_string();
            (f("binary"), f("host"), f("zone"), f("status"), f("state"))
        })
        .collect();
    rows.sort();
    rows
}

fn client_rows(listed: &Value) -> Vec<(String, String, String, String, String)> {
    let mut rows: Vec<_> = listed
        .as_array()
        .expect("a JSON list")
        .iter()
        .map(|s| {
            let f = |k: &str| s[k].as_str().unwrap_or_default().to_string();
            (f("Binary"), f("Host"), f("Zone"), f("Status"), f("State"))
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn official_clients_list_every_service_as_the_world_has_it() {
    let Some(openstack) = find_client("openstack") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "the OpenStack clients are missing"
        );
        eprintln!("skipped: no openstack client (run scripts/test to install them)");
        return;
    };
    let cloud = SimCloud::with_scenario(FAST_SCENARIO);
    // A dead host and a disabled one, so the comparison covers more than the happy case.
    cloud.power_off("compute-1");
    let down = SimCloud::wait_for(std::time::Duration::from_secs(10), || {
        world_services(&cloud, "nova")
            .iter()
            .any(|s| s.1 == "compute-1" && s.4 == "down")
    });
    assert!(down.is_some(), "compute-1 never went down");

    let run = |args: &[&str]| {
        let mut cmd = clean(&openstack);
        cmd.env("OS_CLIENT_CONFIG_FILE", cloud.clouds_yaml())
            .env("OS_CLOUD", "sim")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.spawn().expect("start openstack")
    };
    let compute = run(&["compute", "service", "list", "-f", "json"]);
    let volume = run(&["volume", "service", "list", "-f", "json"]);
    let compute = compute.wait_with_output().expect("output");
    let volume = volume.wait_with_output().expect("output");

    let listed: Value =
        serde_json::from_str(&check("compute service list", &compute)).expect("JSON");
    assert_eq!(
        client_rows(&listed),
        world_services(&cloud, "nova"),
        "{listed}"
    );
    assert!(
        client_rows(&listed)
            .iter()
            .any(|r| r.1 == "compute-1" && r.4 == "down")
    );

    let listed: Value = serde_json::from_str(&check("volume service list", &volume)).expect("JSON");
    assert_eq!(
        client_rows(&listed),
        world_services(&cloud, "cinder"),
        "{listed}"
    );
    assert!(
        client_rows(&listed)
            .iter()
            .any(|r| r.1 == "compute-1@ceph" && r.4 == "down")
    );
}

/// The evacuation calls of the official clients against the simulated cloud:
/// `openstack server list --all-projects --host`, `openstack server evacuate`, and
/// `nova host-evacuate`, which, unlike evacctl, sends every server of the host, even one
/// whose evacuation is already running (the sim then breaks it, as real Nova does).
#[test]
fn official_clients_evacuate_against_the_sim() {
    let clients = [find_client("openstack"), find_client("nova")];
    if skip_without(&clients, "openstack/nova client") {
        return;
    }
    let [Some(openstack), Some(nova)] = clients else {
        return;
    };
    let scenario = include_str!("../scenarios/evacuation.toml").replace(
        "name = \"compute-1\"\nrole = \"compute\"",
        "name = \"compute-1\"\nrole = \"compute\"\npowered_on = false",
    );
    let cloud = SimCloud::with_scenario(&scenario);
    // Slow enough that web-1 is still being evacuated when nova host-evacuate runs.
    cloud.ctl(
        "POST",
        "compute",
        Some(serde_json::json!({"evacuate_accept_delay": 30.0})),
    );
    let osc = |args: &[&str]| {
        let mut cmd = clean(&openstack);
        cmd.env("OS_CLIENT_CONFIG_FILE", cloud.clouds_yaml())
            .env("OS_CLOUD", "sim")
            .args(args)
            .stdin(Stdio::null());
        cmd.output().expect("run openstack")
    };
    let listed = check(
        "server list",
        &osc(&[
            "server",
            "list",
            "--all-projects",
            "--host",
            "compute-1",
            "-f",
            "json",
        ]),
    );
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["Name"].as_str())
        .collect();
    assert_eq!(names.len(), 6, "{listed}");
    assert!(
        names.contains(&"db-1") && names.contains(&"failed-build"),
        "{names:?}"
    );

    check("server evacuate", &osc(&["server", "evacuate", "web-1"]));
    let servers = cloud.ctl("GET", "servers", None);
    let web1 = servers["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "web-1")
        .unwrap()
        .clone();
    assert_eq!(web1["task_state"], "rebuilding", "{web1}");

    let mut nova_cmd = clean(std::path::Path::new("sh"));
    nova_cmd.arg("-c").arg(format!(
        ". '{}' && exec '{}' host-evacuate --strict compute-1",
        cloud.env_file().display(),
        nova.display()
    ));
    let table = check("nova host-evacuate", &nova_cmd.output().unwrap());
    assert!(table.contains("Evacuate Accepted"), "{table}");
    assert!(
        table.contains(web1["id"].as_str().unwrap()),
        "nova sends web-1 again: {table}"
    );
    let migrations = cloud.ctl("GET", "migrations", None);
    let for_web1 = migrations["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["instance_uuid"] == web1["id"])
        .count();
    assert_eq!(for_web1, 2, "the double evacuation evacctl never sends");
}
