//! The log's two formats end to end: `--log-format json` (or `EVACCTL_LOG_FORMAT=json`) writes
//! one JSON object per line with the text line's fields; under systemd (`JOURNAL_STREAM`) the
//! text lines carry no timestamp of their own.

mod common;

use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};

use common::cli::evacctl_env;
use common::sim::SimCloud;
use serde_json::Value;

/// Every stderr line, parsed.
fn json_lines(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?}")))
        .collect()
}

#[test]
fn json_logs_are_one_object_per_line() {
    let cloud = SimCloud::start();
    for (args, env) in [
        (
            &["--log-format", "json", "-v", "check-services"][..],
            &[][..],
        ),
        (
            &["-v", "check-services"][..],
            &[("EVACCTL_LOG_FORMAT", "json")][..],
        ),
    ] {
        let run = evacctl_env(&cloud, args, env);
        assert!(run.code == 0 || run.code == 4, "{}", run.stderr);
        let lines = json_lines(&run.stderr);
        // -v: the debug lines of the requests at least.
        assert!(lines.len() >= 2, "{}", run.stderr);
        for l in &lines {
            for field in ["timestamp", "level", "target", "message"] {
                assert!(l[field].is_string(), "no {field} in {l}");
            }
            assert!(
                humantime::parse_rfc3339(l["timestamp"].as_str().unwrap()).is_ok(),
                "{l}"
            );
        }
        assert!(
            lines
                .iter()
                .any(|l| l["level"] == "DEBUG"
                    && l["target"].as_str().unwrap().starts_with("evacctl")),
            "{}",
            run.stderr
        );
    }

    // The error that ends a command is a JSON line too (stderr stays parseable).
    let run = evacctl_env(
        &cloud,
        &[
            "--log-format",
            "json",
            "--config",
            "/nonexistent.toml",
            "check-services",
        ],
        &[],
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    let lines = json_lines(&run.stderr);
    let last = lines.last().expect("an error line");
    assert_eq!(last["level"], "ERROR", "{}", run.stderr);
    assert!(
        last["message"].as_str().unwrap().contains("does not exist"),
        "{}",
        run.stderr
    );
    // In text, the plain line as before.
    let run = evacctl_env(
        &cloud,
        &["--config", "/nonexistent.toml", "check-services"],
        &[],
    );
    assert!(run.stderr.starts_with("evacctl: error: "), "{}", run.stderr);

    // A bad value is a usage error naming the choices.
    let run = evacctl_env(&cloud, &["--log-format", "xml", "check-services"], &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("text") && run.stderr.contains("json"),
        "{}",
        run.stderr
    );
}

#[test]
fn under_systemd_text_lines_have_no_timestamp() {
    let cloud = SimCloud::start();
    let stamped = |s: &str| {
        s.lines().any(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|w| humantime::parse_rfc3339(w).is_ok())
        })
    };
    // stderr into a file, and JOURNAL_STREAM naming that file (as systemd names its socket),
    // or another one (inherited by a program whose stderr is elsewhere).
    let run = |journal_stream: &dyn Fn(&std::fs::Metadata) -> String| {
        let path = cloud.dir().join("stderr.log");
        let file = std::fs::File::create(&path).unwrap();
        let meta = file.metadata().unwrap();
        let status = Command::new(env!("CARGO_BIN_EXE_evacctl"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", cloud.dir())
            .env("OS_CLIENT_CONFIG_FILE", cloud.clouds_yaml())
            .env("OS_CLOUD", "sim")
            .env("JOURNAL_STREAM", journal_stream(&meta))
            .args(["-v", "check-services"])
            .stdout(Stdio::null())
            .stderr(file)
            .status()
            .unwrap();
        assert!(status.code().is_some());
        std::fs::read_to_string(&path).unwrap()
    };
    let journal = run(&|m| format!("{}:{}", m.dev(), m.ino()));
    assert!(journal.contains("DEBUG"), "{journal}");
    assert!(!stamped(&journal), "{journal}");
    let elsewhere = run(&|m| format!("{}:{}", m.dev(), m.ino() + 1));
    assert!(stamped(&elsewhere), "{elsewhere}");
    let garbage = run(&|_| "yes".to_string());
    assert!(stamped(&garbage), "{garbage}");
}
