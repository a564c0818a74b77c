//! `evacctl migrate-volumes` end to end: the real binary against the simulated cloud, with the
//! simulated `cinder-manage` (`evacctl-sim cinder-manage`) as the configured tool.

mod common;

use common::cli::{Run, evacctl};
use common::clients::{check, clean, find_client, skip_without};
use common::sim::SimCloud;
use serde_json::{Value, json};

/// compute-3 is dead (ceph and ssd, cinder-backup); compute-4 is its healthy twin; compute-5
/// runs ceph only; compute-6 runs both but is dead too; compute-7's ceph has other pools. Pages of two volumes, so every listing
/// follows `volumes_links`. `compute-33`'s volume must never be taken for compute-3's.
const SCENARIO: &str = r#"
[cloud]
service_down_time = 2
report_interval = 1

[cinder]
max_limit = 2
pools = { "compute-7@ceph" = ["gold"] }

[[users]]
name = "admin"
password = "sim-admin-password"
project = "admin"
roles = ["admin"]

[[users]]
name = "demo"
password = "demo-pw"
project = "demo"
roles = ["member"]

[[hosts]]
name = "ctl-1"
role = "controller"

[[hosts]]
name = "compute-3"
role = "compute"
services = ["nova-compute", "cinder-backup"]
cinder_backends = ["ceph", "ssd"]
powered_on = false

[[hosts]]
name = "compute-4"
role = "compute"
services = ["nova-compute", "cinder-backup"]
cinder_backends = ["ceph", "ssd"]

[[hosts]]
name = "compute-5"
role = "compute"
services = ["nova-compute", "cinder-backup"]
cinder_backends = ["ceph"]

[[hosts]]
name = "compute-6"
role = "compute"
services = ["nova-compute", "cinder-backup"]
cinder_backends = ["ceph", "ssd"]
powered_on = false

# Same backend name, another configuration: its only pool is `gold`.
[[hosts]]
name = "compute-7"
role = "compute"
cinder_backends = ["ceph"]

[[volumes]]
name = "db"
host = "compute-3@ceph#ceph"
size = 20
server_id = "8cf2d1cc-a22c-4898-89f8-57e65adf1ece"
attached_host = "compute-3"

[[volumes]]
name = "web"
host = "compute-3@ceph#ceph"
project = "demo"
server_id = "70525938-2bac-4092-a81f-f6439891d2bb"
attached_host = "compute-4"

[[volumes]]
name = "legacy"
host = "compute-3@ceph"

[[volumes]]
name = "scratch"
host = "compute-3@ssd#ssd"
count = 3

[[volumes]]
name = "keep"
host = "compute-4@ceph#ceph"

[[volumes]]
name = "neighbour"
host = "compute-33@ceph#ceph"

[[backups]]
name = "nightly"
host = "compute-3"
volume = "db"

[[backups]]
name = "other"
host = "compute-4"
"#;

/// compute-3's volumes in the scenario, by name.
const ON_COMPUTE_3: [&str; 6] = ["db", "legacy", "scratch-1", "scratch-2", "scratch-3", "web"];

struct Cloud {
    sim: SimCloud,
    config: String,
    journal: std::path::PathBuf,
}

fn start() -> Cloud {
    let sim = SimCloud::with_scenario(SCENARIO);
    let journal = sim.dir().join("journal").join("journal.jsonl");
    let config = sim.dir().join("config.toml");
    let text = format!(
        "[volumes]\ncinder_manage = [{:?}, \"cinder-manage\", \"--url\", {:?}, \"--config-file\", \"/etc/cinder/cinder.conf\"]\n\n[journal]\npath = {:?}\n",
        common::sim::sim_exe(),
        sim.url(),
        journal.to_str().expect("utf-8"),
    );
    std::fs::write(&config, text).expect("write config");
    Cloud {
        config: config.to_str().expect("utf-8").to_string(),
        sim,
        journal,
    }
}

impl Cloud {
    fn run(&self, args: &[&str]) -> Run {
        let mut all = vec!["--config", self.config.as_str()];
        all.extend_from_slice(args);
        evacctl(&self.sim, &all)
    }

    /// Every volume's (or backup's) host, by name, as the simulated database holds it.
    fn name_hosts(&self, what: &str) -> Vec<(String, String)> {
        let v = self.sim.ctl("GET", &format!("cinder/{what}"), None);
        let mut out: Vec<(String, String)> = v[what]
            .as_array()
            .expect("a list")
            .iter()
            .map(|v| {
                (
                    v["name"].as_str().unwrap_or("").to_string(),
                    v["host"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        out.sort();
        out
    }

    fn hosts(&self) -> Vec<(String, String)> {
        self.name_hosts("volumes")
    }

    fn backup_hosts(&self) -> Vec<(String, String)> {
        self.name_hosts("backups")
    }

    /// The update runs the simulated cinder-manage received.
    fn manage_runs(&self) -> Vec<Value> {
        self.sim.ctl("GET", "cinder-manage/runs", None)["runs"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn journal(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.journal)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("journal line"))
            .collect()
    }

    /// `migrate-volumes compute-3 --to compute-4 --yes EXTRA`.
    fn move_3_to_4(&self, extra: &[&str]) -> Run {
        let mut all = vec!["migrate-volumes", "compute-3", "--to", "compute-4", "--yes"];
        all.extend_from_slice(extra);
        self.run(&all)
    }

    /// Runs `migrate-volumes ARGS --yes`, expects `code` and each of `words` on stderr, and that
    /// nothing ran and nothing changed.
    fn refused(&self, args: &[&str], code: i32, words: &[&str]) {
        let mut all = vec!["migrate-volumes"];
        all.extend_from_slice(args);
        all.push("--yes");
        let run = self.run(&all);
        assert_eq!(
            run.code, code,
            "stdout: {}\nstderr: {}",
            run.stdout, run.stderr
        );
        assert_has(&run.stderr, words);
        assert!(
            run.stdout.is_empty(),
            "no plan for a refusal: {}",
            run.stdout
        );
        assert!(self.manage_runs().is_empty(), "cinder-manage ran");
        assert_eq!(self.hosts(), initial_hosts());
        assert!(!self.journal.exists());
    }

    fn arm(&self, fault: Value) {
        self.sim.ctl("POST", "cinder-manage/fault", Some(fault));
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = list
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

fn host_of<'a>(hosts: &'a [(String, String)], name: &str) -> &'a str {
    hosts
        .iter()
        .find(|(n, _)| n == name)
        .map_or("(none)", |(_, h)| h.as_str())
}

fn initial_hosts() -> Vec<(String, String)> {
    pairs(&[
        ("db", "compute-3@ceph#ceph"),
        ("web", "compute-3@ceph#ceph"),
        ("legacy", "compute-3@ceph"),
        ("scratch-1", "compute-3@ssd#ssd"),
        ("scratch-2", "compute-3@ssd#ssd"),
        ("scratch-3", "compute-3@ssd#ssd"),
        ("keep", "compute-4@ceph#ceph"),
        ("neighbour", "compute-33@ceph#ceph"),
    ])
}

/// `text` says each of `words`.
fn assert_has(text: &str, words: &[&str]) {
    for w in words {
        assert!(text.contains(w), "`{w}` is not in:\n{text}");
    }
}

fn names(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list
        .as_array()
        .expect("array")
        .iter()
        .map(|x| x["name"].as_str().unwrap_or("").to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn moves_two_backends_and_the_backups_keeping_pools_and_proves_it() {
    let cloud = start();
    let run = cloud.move_3_to_4(&["-f", "json"]);
    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    let report = run.json();

    // The plan: every volume of compute-3 (all projects, every page), none of compute-33's.
    assert_eq!(names(&report["volumes"]), ON_COMPUTE_3);
    let db = report["volumes"]
        .as_array()
        .and_then(|a| a.iter().find(|v| v["name"] == "db"))
        .expect("db");
    assert_eq!(db["status"], "in-use");
    assert_eq!(db["size_gb"], 20);
    assert_eq!(
        db["servers"],
        json!(["8cf2d1cc-a22c-4898-89f8-57e65adf1ece"])
    );
    assert_eq!(db["current_host"], "compute-3@ceph#ceph");
    assert_eq!(db["new_host"], "compute-4@ceph#ceph");
    assert_eq!(db["result"]["outcome"], "moved");
    assert_eq!(names(&report["backups"]), ["nightly"]);
    assert_eq!(
        report["warnings"],
        json!([]),
        "pools checked, nothing to say"
    );

    // The commands, as they ran: pooled first, the pool-less after, then the backups.
    let commands: Vec<String> = report["commands"]
        .as_array()
        .expect("commands")
        .iter()
        .map(|c| {
            c["argv"].as_array().expect("argv")[6..]
                .iter()
                .map(|a| a.as_str().unwrap_or("").to_string())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    assert_eq!(
        commands,
        [
            "volume update_host --currenthost compute-3@ceph#ceph --newhost compute-4@ceph#ceph",
            "volume update_host --currenthost compute-3@ssd#ssd --newhost compute-4@ssd#ssd",
            "volume update_host --currenthost compute-3@ceph --newhost compute-4@ceph",
            "backup update_backup_host --currenthost compute-3 --newhost compute-4",
        ]
    );
    assert!(
        report["commands"]
            .as_array()
            .expect("commands")
            .iter()
            .all(|c| c["run"]["exit_code"] == 0)
    );

    // What the plan said is what moved, and nothing else.
    let want: Vec<(String, String)> = initial_hosts()
        .into_iter()
        .map(|(n, h)| (n, h.replace("compute-3@", "compute-4@")))
        .collect();
    assert_eq!(cloud.hosts(), want);
    assert_eq!(
        cloud.backup_hosts(),
        pairs(&[("nightly", "compute-4"), ("other", "compute-4")])
    );
    assert_eq!(report["proof"]["ok"], true);
    assert_eq!(report["summary"]["result"], "success");
    let updated: Vec<u64> = cloud
        .manage_runs()
        .iter()
        .map(|r| r["updated"].as_u64().unwrap_or(99))
        .collect();
    assert_eq!(updated, [2, 3, 1, 1]);

    // The journal: the plan, an intent before and a result after each command, the proof.
    let j = cloud.journal();
    let seq: Vec<(String, String)> = j
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap_or("").into(),
                r["status"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    let mut expect = vec![("event".to_string(), "planned".to_string())];
    for _ in 0..4 {
        expect.push(("intent".into(), "running".into()));
        expect.push(("result".into(), "ok".into()));
    }
    expect.push(("event".into(), "proved".into()));
    assert_eq!(seq, expect);
    assert!(j.iter().all(|r| r["host"] == "compute-3"));
    assert!(
        j[1]["detail"]
            .as_str()
            .unwrap_or("")
            .contains("'compute-3@ceph#ceph'"),
        "{}",
        j[1]
    );

    // Run again: nothing left, nothing done twice.
    let again = cloud.move_3_to_4(&[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stdout.contains("nothing to move"), "{}", again.stdout);
    assert_eq!(cloud.manage_runs().len(), 4);
}

#[test]
fn the_table_shows_the_plan_and_the_exact_commands_and_a_dry_run_changes_nothing() {
    let cloud = start();
    let run = cloud.run(&[
        "migrate-volumes",
        "compute-3",
        "--to",
        "compute-4",
        "--dry-run",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = &run.stdout;
    for want in [
        "Volumes to move from compute-3 to compute-4:",
        "8cf2d1cc-a22c-4898-89f8-57e65adf1ece (compute-3)",
        "compute-3@ssd#ssd",
        "compute-4@ssd#ssd",
        "Backups to move from compute-3 to compute-4:",
        "nightly",
        "cinder-manage --url",
        "--config-file /etc/cinder/cinder.conf volume update_host --currenthost 'compute-3@ceph#ceph' --newhost 'compute-4@ceph#ceph'",
        "backup update_backup_host --currenthost compute-3 --newhost compute-4",
        "dry run: nothing was changed",
    ] {
        assert!(text.contains(want), "`{want}` missing from\n{text}");
    }
    assert!(
        !text.contains("neighbour") && !text.contains("keep"),
        "{text}"
    );
    assert_eq!(cloud.hosts(), initial_hosts());
    assert!(cloud.manage_runs().is_empty());
    assert!(
        !cloud.journal.exists(),
        "a dry run writes nothing, not even the journal"
    );

    let json = cloud
        .run(&[
            "migrate-volumes",
            "compute-3",
            "--to",
            "compute-4",
            "--dry-run",
            "-f",
            "json",
        ])
        .json();
    assert_eq!(json["dry_run"], true);
    assert_eq!(json["proof"], Value::Null);
    assert_eq!(json["commands"].as_array().map(Vec::len), Some(4));
    assert!(json["commands"][0]["run"].is_null());
}

#[test]
fn a_typo_in_the_new_host_never_reaches_cinder_manage() {
    let cloud = start();
    cloud.refused(
        &["compute-3", "--to", "compte-4"],
        2,
        &[
            "unknown --to host `compte-4`",
            "did you mean `compute-4`?",
            "compute-3, compute-4, compute-5, compute-6",
        ],
    );
    // The failed host and the backend are checked the same way.
    cloud.refused(
        &["compute3", "--to", "compute-4"],
        2,
        &["did you mean `compute-3`?"],
    );
    cloud.refused(
        &["compute-3", "--to", "compute-4", "--backend", "cpeh"],
        2,
        &["did you mean `ceph`?"],
    );
    let lists = cloud.sim.ctl("GET", "cinder-manage/runs", None)["backup_lists"].clone();
    assert_eq!(lists, 0, "not even to list the backups");
}

#[test]
fn a_target_whose_cinder_volume_is_down_is_refused() {
    start().refused(
        &["compute-3", "--to", "compute-6"],
        13,
        &[
            "cinder-volume compute-6@ceph is down",
            "cinder-volume compute-6@ssd is down",
        ],
    );
}

#[test]
fn a_backend_mismatch_is_refused_and_one_backend_can_move_alone() {
    let cloud = start();
    cloud.refused(
        &["compute-3", "--to", "compute-5"],
        2,
        &[
            "backend mismatch: 3 volume(s) on compute-3@ssd",
            "compute-5 runs no cinder-volume compute-5@ssd (it runs: compute-5@ceph; backend ssd is on: compute-4@ssd",
        ],
    );

    // --backend ceph moves the ceph volumes only; ssd's and the backups stay, as said.
    let run = cloud.run(&[
        "migrate-volumes",
        "compute-3",
        "--to",
        "compute-5",
        "--backend",
        "ceph",
        "--yes",
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_has(
        &run.stdout,
        &["3 volume(s) of compute-3 on other backends stay"],
    );
    let hosts = cloud.hosts();
    assert_eq!(host_of(&hosts, "db"), "compute-5@ceph#ceph", "{hosts:?}");
    assert_eq!(host_of(&hosts, "legacy"), "compute-5@ceph", "{hosts:?}");
    assert_eq!(
        host_of(&hosts, "scratch-1"),
        "compute-3@ssd#ssd",
        "{hosts:?}"
    );
    assert_eq!(
        cloud.backup_hosts()[0],
        ("nightly".into(), "compute-3".into())
    );
}

#[test]
fn a_target_without_the_volumes_pool_is_refused() {
    start().refused(
        &["compute-3", "--to", "compute-7", "--backend", "ceph"],
        13,
        &["pool mismatch: compute-7@ceph has no pool `ceph` (it has: gold)"],
    );
}

#[test]
fn a_cinder_manage_that_fails_is_reported_and_nothing_is_claimed() {
    let cloud = start();
    cloud.arm(json!({"mode": "fail"}));
    let run = cloud.move_3_to_4(&["-f", "json"]);
    assert_eq!(
        run.code, 1,
        "nothing moved: failure\n{}\n{}",
        run.stdout, run.stderr
    );
    let report = run.json();
    assert_eq!(report["summary"]["result"], "failure");
    let first = &report["commands"][0];
    assert_eq!(first["run"]["exit_code"], 1);
    assert!(
        first["run"]["stderr"]
            .as_str()
            .unwrap_or("")
            .contains("DBConnectionError"),
        "{first}"
    );
    // The pool-less ceph command would take the pooled volumes the failed one left: skipped.
    assert!(
        report["commands"][2]["skipped"]
            .as_str()
            .unwrap_or("")
            .contains("command 1"),
        "{}",
        report["commands"][2]
    );
    assert_eq!(report["proof"]["ok"], false);
    assert_eq!(
        report["proof"]["volumes_left"].as_array().map(Vec::len),
        Some(6)
    );
    assert_eq!(cloud.hosts(), initial_hosts());
    let j = cloud.journal();
    assert!(
        j.iter()
            .any(|r| r["kind"] == "result" && r["status"] == "failed")
    );
    assert!(
        j.iter()
            .any(|r| r["kind"] == "event" && r["status"] == "skipped")
    );
    assert_eq!(
        j.last().map(|r| r["status"].clone()),
        Some(json!("proof-failed"))
    );

    // Only the first run fails: the rest moves, the pool-less run is skipped, partial.
    let cloud = start();
    cloud.arm(json!({"mode": "fail", "count": 1}));
    let run = cloud.move_3_to_4(&[]);
    assert_eq!(run.code, 12, "{}\n{}", run.stdout, run.stderr);
    assert_has(
        &run.stdout,
        &["result: partial (exit 12)", "volumes still on compute-3"],
    );
    let hosts = cloud.hosts();
    assert_eq!(host_of(&hosts, "db"), "compute-3@ceph#ceph", "{hosts:?}");
    assert_eq!(
        host_of(&hosts, "legacy"),
        "compute-3@ceph",
        "kept its place, not moved without pool: {hosts:?}"
    );
    assert_eq!(
        host_of(&hosts, "scratch-1"),
        "compute-4@ssd#ssd",
        "{hosts:?}"
    );
}

#[test]
fn a_cinder_manage_that_exits_0_and_changes_nothing_fails_the_proof() {
    let cloud = start();
    cloud.arm(json!({"mode": "noop", "command": "volume update_host"}));
    let run = cloud.move_3_to_4(&[]);
    assert_eq!(
        run.code, 12,
        "the backup moved, no volume did\n{}\n{}",
        run.stdout, run.stderr
    );
    let out = &run.stdout;
    assert!(
        out.contains("every cinder-manage command exited 0, yet not everything moved"),
        "{out}"
    );
    for name in ON_COMPUTE_3 {
        assert!(out.contains(name), "{name} not reported: {out}");
    }
    assert!(out.contains("| left "), "{out}");

    let cloud = start();
    cloud.arm(json!({"mode": "noop"}));
    let run = cloud.move_3_to_4(&["-f", "json"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let report = run.json();
    assert_eq!(report["proof"]["ok"], false);
    assert_eq!(
        report["proof"]["backups_left"].as_array().map(Vec::len),
        Some(1)
    );
    assert!(
        report["commands"]
            .as_array()
            .expect("commands")
            .iter()
            .all(|c| c["run"]["exit_code"] == 0)
    );
    assert_eq!(cloud.hosts(), initial_hosts());
}

#[test]
fn without_a_terminal_and_without_yes_nothing_runs() {
    let cloud = start();
    let run = cloud.run(&["migrate-volumes", "compute-3", "--to", "compute-4"]);
    assert_eq!(run.code, 10, "{}\n{}", run.stdout, run.stderr);
    assert_has(&run.stderr, &["re-run with --yes"]);
    assert!(
        run.stdout.contains("Commands (run in this order"),
        "the plan is shown: {}",
        run.stdout
    );
    assert!(cloud.manage_runs().is_empty());
    assert_eq!(cloud.hosts(), initial_hosts());
    assert!(!cloud.journal.exists());
}

#[test]
fn nothing_to_move_is_a_success_that_says_so() {
    let cloud = start();
    let run = cloud.run(&["migrate-volumes", "compute-6", "--to", "compute-4"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout.trim(),
        "nothing to move: no volume and no backup on compute-6"
    );
    assert!(cloud.manage_runs().is_empty());
}

/// The runbook's own check (origin B), with python-cinderclient: compute-3's volumes listed
/// with the 3.33 host filter before, none after.
#[test]
fn cinderclient_lists_the_hosts_volumes_before_and_none_after() {
    let cinder = find_client("cinder");
    if skip_without(std::slice::from_ref(&cinder), "cinder client") {
        return;
    }
    let Some(cinder) = cinder else { return };
    let cloud = start();
    let list = || {
        let mut cmd = clean(&std::path::PathBuf::from("sh"));
        cmd.arg("-c").arg(format!(
            ". '{}' && exec '{}' --os-volume-api-version 3.33 list --filters host=compute-3 --all-tenants",
            cloud.sim.env_file().display(),
            cinder.display()
        ));
        check(
            "cinder list --filters host=compute-3",
            &cmd.output().expect("run cinder"),
        )
    };
    let before = list();
    for name in ON_COMPUTE_3 {
        assert!(before.contains(name), "{name} missing:\n{before}");
    }
    assert!(
        !before.contains("neighbour") && !before.contains("keep"),
        "{before}"
    );
    assert!(
        before.contains("8cf2d1cc-a22c-4898-89f8-57e65adf1ece"),
        "attached to: {before}"
    );

    let run = cloud.move_3_to_4(&[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let after = list();
    assert!(
        ON_COMPUTE_3.iter().all(|n| !after.contains(n)),
        "still listed:\n{after}"
    );
}

/// The simulated volume API filters as Cinder does: an admin's `host` filter at every
/// microversion (host, backend and pool levels), a non-admin's dropped before 3.31 and refused
/// from 3.31; full pages carry a next link.
#[test]
fn the_volume_api_filters_and_pages_like_cinder() {
    let cloud = start();
    let get = |token: &str, mv: &str, query: &str| -> (u16, Value) {
        let resp = SimCloud::client()
            .get(format!(
                "{}/volume/v3/volumes/detail?{query}",
                cloud.sim.url()
            ))
            .header("X-Auth-Token", token)
            .header("OpenStack-API-Version", format!("volume {mv}"))
            .send()
            .expect("volume list");
        let status = resp.status().as_u16();
        (status, resp.json().expect("JSON"))
    };
    let admin = cloud.sim.admin_token();
    let count = |query: &str| {
        let mut n = 0;
        let mut marker = String::new();
        loop {
            let (status, body) = get(&admin, "3.0", &format!("all_tenants=1&{query}{marker}"));
            assert_eq!(status, 200, "{body}");
            let page = body["volumes"].as_array().map_or(0, Vec::len);
            assert!(page <= 2, "max_limit is 2: {body}");
            n += page;
            match body["volumes"].as_array().and_then(|a| a.last()) {
                Some(last) if body["volumes_links"].is_array() => {
                    marker = format!("&marker={}", last["id"].as_str().unwrap_or(""));
                }
                _ => return n,
            }
        }
    };
    assert_eq!(count("host=compute-3"), 6);
    assert_eq!(count("host=compute-3%40ceph"), 3);
    assert_eq!(count("host=compute-3%40ceph%23ceph"), 2);
    assert_eq!(count("host=compute-33"), 1);
    assert_eq!(count(""), 8);

    let demo = cloud.sim.token("demo", "demo-pw", "demo");
    let (status, body) = get(&demo, "3.33", "all_tenants=1&host=compute-3");
    assert_eq!(status, 400, "{body}");
    assert!(
        body["badRequest"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("Invalid filters host"),
        "{body}"
    );
    let (status, body) = get(&demo, "3.30", "all_tenants=1&host=compute-4");
    assert_eq!(status, 200);
    assert_eq!(
        names(&body["volumes"]),
        ["web"],
        "own project, filter dropped"
    );
    assert!(
        body["volumes"][0].get("os-vol-host-attr:host").is_none(),
        "admins only"
    );
}

#[test]
fn the_journal_flag_is_honoured() {
    let cloud = start();
    let elsewhere = cloud.sim.dir().join("flag").join("journal.jsonl");
    let run = cloud.run(&[
        "--journal",
        elsewhere.to_str().expect("utf-8"),
        "migrate-volumes",
        "compute-3",
        "--to",
        "compute-4",
        "--yes",
    ]);
    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    assert!(
        !cloud.journal.exists(),
        "the configured journal is not written when --journal names another"
    );
    let text = std::fs::read_to_string(&elsewhere).expect("the --journal file is written");
    let actions: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("journal line")["action"].to_string())
        .collect();
    assert!(
        actions.iter().any(|a| a.contains("volume-update-host")),
        "{actions:?}"
    );
}
