//! Manual power actions are journaled like watch's fencing: an intent before, a result after
//! (the simulated cloud's Redfish BMCs).

mod common;

use std::process::{Command, Stdio};

use common::sim::{FAST_SCENARIO, SimCloud};
use serde_json::Value;

fn evacctl(cloud: &SimCloud, journal: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_evacctl"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", cloud.dir())
        .env("EVACCTL_LOCK_DIR", cloud.dir())
        .arg("--config")
        .arg(cloud.evacctl_config())
        .arg("--journal")
        .arg(journal)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run evacctl");
    let all = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), all)
}

fn records(journal: &std::path::Path) -> Vec<(String, String, String, String)> {
    std::fs::read_to_string(journal)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let r: Value = serde_json::from_str(l).expect("journal line");
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (s("kind"), s("action"), s("host"), s("status"))
        })
        .collect()
}

#[test]
fn manual_power_actions_write_intent_and_result() {
    let cloud = SimCloud::with_scenario(FAST_SCENARIO);
    let journal = cloud.dir().join("j").join("journal.jsonl");
    let rec = |kind: &str, action: &str, status: &str| {
        (
            kind.to_string(),
            action.to_string(),
            "compute-2".to_string(),
            status.to_string(),
        )
    };

    // A status read changes nothing: nothing is journaled.
    let (code, all) = evacctl(&cloud, &journal, &["ipmi", "power", "status", "compute-2"]);
    assert_eq!(code, 0, "{all}");
    assert!(records(&journal).is_empty());

    let (code, all) = evacctl(
        &cloud,
        &journal,
        &["ipmi", "power", "off", "compute-2", "--wait", "--yes"],
    );
    assert_eq!(code, 0, "{all}");
    assert!(all.contains("compute-2 fence successed"), "{all}");
    assert_eq!(
        records(&journal),
        [
            rec("intent", "fence", "sending"),
            rec("result", "fence", "ok")
        ]
    );
    let last: Value = serde_json::from_str(
        std::fs::read_to_string(&journal)
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert!(
        last["detail"].as_str().unwrap().starts_with("off after"),
        "{last}"
    );

    let (code, all) = evacctl(
        &cloud,
        &journal,
        &["ipmi", "power", "on", "compute-2", "--yes"],
    );
    assert_eq!(code, 0, "{all}");
    assert_eq!(
        records(&journal)[2..],
        [
            rec("intent", "power-on", "sending"),
            rec("result", "power-on", "ok")
        ]
    );
}
