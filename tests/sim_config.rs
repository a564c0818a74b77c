//! evacctl reads the files the simulator writes for it (`evacctl-sim serve --evacctl-config`):
//! the simulator's side of the contract is its text, evacctl's side is that the text loads
//! with the meaning the demo and the tests rely on.

use std::path::Path;
use std::time::Duration;

use evacctl::config::{Config, ConsulRole, RedfishScheme};
use evacctl_sim::files::{evacctl_config, watch_config};
use evacctl_sim::scenario::Role;
use evacctl_sim::{Scenario, World};

#[test]
fn the_evacctl_config_loads_and_names_every_compute_host() {
    let s = Scenario::builtin_default().unwrap();
    let text = evacctl_config(&s, "127.0.0.1:4711".parse().unwrap(), "bmc.password");
    let c = Config::from_str(&text, "/tmp/sim/evacctl.toml").unwrap();
    let computes: Vec<&str> = s
        .hosts
        .iter()
        .filter(|h| h.role == Role::Compute)
        .map(|h| h.name.as_str())
        .collect();
    let hosts: Vec<&str> = c.hosts().map(|h| h.name()).collect();
    assert_eq!(hosts, computes);
    let b = c.host(computes[0]).unwrap().bmc().unwrap();
    assert_eq!(b.port, 4711);
    assert_eq!(b.system_id.as_deref(), Some(computes[0]));
    assert_eq!(b.scheme, RedfishScheme::Http);
}

#[test]
fn the_evacctl_config_runs_watch_beside_it() {
    let s = Scenario::builtin_default().unwrap();
    let text = format!(
        "{}{}",
        evacctl_config(&s, "127.0.0.1:4711".parse().unwrap(), "bmc.password"),
        watch_config(
            None,
            Some(Path::new("/opt/bin/evacctl-sim")),
            "http://127.0.0.1:4711"
        )
    );
    let c = Config::from_str(&text, "/tmp/sim/evacctl.toml").unwrap();
    assert_eq!(c.journal.path, Path::new("/tmp/sim/journal.jsonl"));
    assert_eq!(c.lock.file, Path::new("/tmp/sim/watch.lock"));
    assert_eq!(c.lock.consul_cluster, None);
    assert_eq!(
        c.volumes.argv(&["backup", "list"]),
        [
            "/opt/bin/evacctl-sim",
            "cinder-manage",
            "--url",
            "http://127.0.0.1:4711",
            "backup",
            "list"
        ]
    );
    let p = &c.policy;
    assert_eq!(p.interval, Duration::from_secs(1));
    assert_eq!(p.confirmations, 2);
    assert_eq!(p.check_interval, Duration::from_millis(200));
    assert_eq!(p.recovery_timeout, Duration::from_secs(5));
    assert_eq!(p.verify_timeout, Duration::from_secs(60));
    // The leader lock names a configured cluster.
    let with_lock = format!(
        "{text}\n[consul.management]\nrole = \"management\"\naddresses = [\"http://127.0.0.1:1\"]\n"
    )
    .replace(
        "file = \"watch.lock\"\n",
        "file = \"watch.lock\"\nconsul_cluster = \"management\"\n",
    );
    let c = Config::from_str(&with_lock, "/tmp/sim/evacctl.toml").unwrap();
    assert_eq!(c.lock.consul_cluster.as_deref(), Some("management"));
}

#[test]
fn the_consul_part_names_each_bound_cluster_with_its_role() {
    let s = Scenario::builtin_default().unwrap();
    let mut w = World::new(&s, 1000.0);
    assert!(
        !w.consul.clusters.is_empty(),
        "the default scenario has Consul"
    );
    w.consul.clusters[0].url = Some("http://127.0.0.1:1234".into());
    let name = w.consul.clusters[0].name.clone();
    let text =
        evacctl_sim::consul::evacctl_config(&w.consul, Some(Path::new("/tmp/x.consul-token")));
    let config = Config::from_str(&text, "/tmp/evacctl.toml").unwrap();
    assert_eq!(
        config.consul_cluster(&name).map(|c| c.role),
        Some(ConsulRole::Management)
    );
}

#[test]
fn evacctl_reads_the_simulated_cinder_manage_backup_table() {
    let v = serde_json::json!({"backups": [
        {"id": "6c4a0e0c-7b7e-4f0a-9d8e-2a4d1c2b3e4f", "user_id": "u", "project_id": "p",
         "host": "compute-3", "display_name": null, "container": "backups",
         "status": "available", "size": 10, "object_count": 2}]});
    let table = evacctl_sim::cinder_manage::backup_table(&v);
    let rows = evacctl::core::volumes::parse_backup_list(&table).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].host, "compute-3");
    assert_eq!(rows[0].name, "None");
    assert_eq!(rows[0].size, "10");
    assert_eq!(rows[0].object_count, "2");
}
