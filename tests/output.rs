//! Output for people and for scripts: tables that read at 80 and 120 columns (no line longer
//! than the width, no host name or UUID cut), `-f value|csv` with `-c`, errors as JSON, and a
//! closed pipe that ends nothing but the output.

mod common;

use std::io::Read as _;
use std::process::{Command, Stdio};

use common::sim::{Run, SimCloud};

const DEMO: &str = include_str!("../scenarios/demo.toml");

/// The identifiers a table shows at full width: UUIDs, the scenario's host names (also as
/// `host@backend`) and addresses.
fn identifiers(text: &str) -> Vec<String> {
    let mut ids: Vec<String> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || "-.:/@_".contains(c)))
        .map(|t| t.trim_end_matches(['.', ':', ',']))
        .filter(|t| is_uuid(t) || is_host(t) || t.contains("127.0.0.1"))
        .map(str::to_string)
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

fn is_uuid(t: &str) -> bool {
    t.len() == 36
        && t.char_indices().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

fn is_host(t: &str) -> bool {
    ["compute-", "ctl-"].iter().any(|p| {
        t.strip_prefix(p)
            .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
    })
}

/// The same command at full width (a pipe) and at `width`, by `--max-width` or `COLUMNS`.
fn at_width(cloud: &SimCloud, args: &[&str], env: &[(&str, &str)], width: usize, by_option: bool) {
    let full = cloud.evacctl(args, env);
    let mut narrow_args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let mut narrow_env: Vec<(&str, String)> =
        env.iter().map(|(k, v)| (*k, v.to_string())).collect();
    if by_option {
        narrow_args.extend(["--max-width".to_string(), width.to_string()]);
    } else {
        narrow_env.push(("COLUMNS", width.to_string()));
    }
    let narrow_args: Vec<&str> = narrow_args.iter().map(String::as_str).collect();
    let narrow_env: Vec<(&str, &str)> = narrow_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let narrow = cloud.evacctl(&narrow_args, &narrow_env);
    assert_eq!(
        narrow.code, full.code,
        "{args:?} at {width}: another exit code\n{}\n{}",
        narrow.stdout, narrow.stderr
    );
    assert!(
        full.stdout.contains("+-"),
        "{args:?}: no table at all\n{}\n{}",
        full.stdout,
        full.stderr
    );
    for line in narrow.stdout.lines() {
        assert!(
            line.chars().count() <= width,
            "{args:?} at {width}: a line of {} columns: {line:?}\n{}",
            line.chars().count(),
            narrow.stdout
        );
    }
    let ids = identifiers(&full.stdout);
    assert!(
        !ids.is_empty(),
        "{args:?}: no identifier in\n{}",
        full.stdout
    );
    for id in ids {
        assert!(
            narrow.stdout.contains(&id),
            "{args:?} at {width}: `{id}` is not whole on one line:\n{}",
            narrow.stdout
        );
    }
}

fn every_width(cloud: &SimCloud, args: &[&str], env: &[(&str, &str)]) {
    at_width(cloud, args, env, 80, true);
    at_width(cloud, args, env, 120, false);
}

#[test]
fn every_table_reads_at_80_and_120_columns() {
    let cloud = SimCloud::with_scenario(DEMO);
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = dir.path().join("journal.jsonl");
    let config = cloud.evacctl_config();
    let env = [
        ("EVACCTL_CONFIG", config.to_str().expect("utf-8")),
        ("EVACCTL_JOURNAL", journal.to_str().expect("utf-8")),
    ];
    every_width(&cloud, &["check-services"], &env);
    every_width(&cloud, &["check-consul"], &env);
    every_width(&cloud, &["ipmi", "power", "status", "--all"], &env);
    every_width(&cloud, &["host-evacuate", "compute-3", "--dry-run"], &env);

    // Evacuate compute-3 for real, so that verify and watch --status have rows.
    let off = cloud.evacctl(
        &["ipmi", "power", "off", "compute-3", "--wait", "--yes"],
        &env,
    );
    assert_eq!(off.code, 0, "{}\n{}", off.stdout, off.stderr);
    let ev = cloud.evacctl(
        &["host-evacuate", "compute-3", "--force-down", "--yes"],
        &env,
    );
    assert_eq!(ev.code, 0, "{}\n{}", ev.stdout, ev.stderr);
    every_width(
        &cloud,
        &["verify", "compute-3", "--wait", "--timeout", "60s"],
        &env,
    );
    every_width(&cloud, &["watch", "--status"], &env);
    // Cinder sees compute-3's cinder-volume down a heartbeat timeout after the power loss.
    let mv = [
        "migrate-volumes",
        "compute-3",
        "--to",
        "compute-4",
        "--dry-run",
    ];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while cloud.evacctl(&mv, &env).code != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "cinder-volume never seen down"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    every_width(&cloud, &mv, &env);

    // -f value -c Host: one host per line, for a shell loop.
    let run = cloud.evacctl(&["check-services", "-f", "value", "-c", "Host"], &env);
    let json = cloud
        .evacctl(&["check-services", "-f", "json"], &env)
        .json();
    let hosts: Vec<String> = json["nova_services"]
        .as_array()
        .expect("nova_services")
        .iter()
        .map(|s| s["host"].as_str().expect("host").to_string())
        .collect();
    assert_eq!(
        run.stdout,
        hosts.iter().map(|h| format!("{h}\n")).collect::<String>()
    );
    assert_eq!(json["schema_version"], 1);

    // csv: a header row, then the rows; the columns in the order asked, any case.
    let run = cloud.evacctl(
        &["check-services", "-f", "csv", "-c", "verdict", "-c", "HOST"],
        &env,
    );
    let mut lines = run.stdout.lines();
    assert_eq!(lines.next(), Some("Verdict,Host"), "{}", run.stdout);
    assert_eq!(lines.count(), hosts.len());

    // An unknown column is a usage error naming those there are.
    let run = cloud.evacctl(&["check-services", "-f", "value", "-c", "Hots"], &env);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("\"Host\""), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[test]
fn a_failure_with_json_is_a_json_error_on_stdout() {
    let cloud = SimCloud::with_scenario(DEMO);
    let config = cloud.evacctl_config();
    let env = [("EVACCTL_CONFIG", config.to_str().expect("utf-8"))];
    let run = cloud.evacctl(&["host-evacuate", "no-such-host", "-f", "json"], &env);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let doc = run.json();
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["error"]["exit_code"], 2);
    assert_eq!(doc["error"]["kind"], "usage");
    let message = doc["error"]["message"].as_str().expect("message");
    assert!(message.contains("no-such-host"), "{message}");
    assert!(doc["error"].get("request_id").is_some(), "{doc}");
    assert!(run.stderr.contains("evacctl: error:"), "{}", run.stderr);
}

fn evacctl() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_evacctl"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir());
    cmd
}

#[test]
fn usage_errors_and_version_with_json() {
    let out = evacctl()
        .args(["-f", "json", "verify", "h", "--timeout", "ten minutes"])
        .output()
        .expect("run");
    let run = Run::from(out);
    assert_eq!(run.code, 2);
    assert_eq!(run.json()["error"]["exit_code"], 2);

    for args in [&["--version", "-f", "json"][..], &["version", "-f", "json"]] {
        let run = Run::from(evacctl().args(args).output().expect("run"));
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        let v = run.json();
        assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
        assert!(v["commit"].as_str().is_some_and(|c| !c.is_empty()), "{v}");
        let date = v["build_date"].as_str().expect("build_date");
        assert_eq!(date.len(), 10, "{date}");
    }
    let run = Run::from(evacctl().arg("--version").output().expect("run"));
    assert!(
        run.stdout
            .starts_with(&format!("evacctl {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(", built "), "{}", run.stdout);
}

/// A reader that goes away before evacctl writes: evacctl must end quietly, with no panic.
fn closed_early(args: &[&str]) -> (Option<i32>, String) {
    let mut child = evacctl()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let status = child.wait().expect("wait");
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("stderr");
    (status.code(), err)
}

#[test]
fn a_closed_pipe_is_a_quiet_end() {
    for args in [
        &["completions", "bash"][..],
        &["completions", "zsh"],
        &["completions", "fish"],
        &["--help"],
        &["host-evacuate", "--help"],
        &["version"],
    ] {
        let (code, err) = closed_early(args);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, err) = closed_early(&["gen-assets", "--out", dir.path().to_str().expect("utf-8")]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn man_pages_have_exit_status_examples_and_the_config_page() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let page = std::fs::read_to_string(root.join("man/evacctl-host-evacuate.1")).expect("page");
    for section in [
        ".SH \"EXIT STATUS\"",
        ".SH ENVIRONMENT",
        ".SH FILES",
        ".SH \"SEE ALSO\"",
    ] {
        assert!(page.contains(section), "no {section}");
    }
    for (_, code, _, _) in evacctl::exit_codes::TABLE {
        assert!(
            page.contains(&format!("\\fB{code}\\fR")),
            "no exit code {code}"
        );
    }
    // Examples verbatim: one per line, in a no-fill block.
    assert!(
        page.contains(".SH EXAMPLES\n.nf\nevacctl host\\-evacuate compute\\-3 \\-\\-dry\\-run\n"),
        "{page}"
    );
    let config = std::fs::read_to_string(root.join("man/evacctl.toml.5")).expect("config page");
    assert!(config.starts_with(".TH evacctl.toml 5"), "{config}");
    for table in ["[cloud]", "[bmc_defaults]"] {
        assert!(config.contains(table), "no {table}");
    }
}
