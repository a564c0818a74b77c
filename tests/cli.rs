//! The command line as a user meets it: help, exit codes, generated assets.

use std::path::Path;
use std::process::Command;

use evacctl::exit_codes::TABLE;

fn evacctl() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_evacctl"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir());
    cmd
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = evacctl().args(args).output().expect("run evacctl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_lists_every_step_and_the_exit_codes() {
    let (code, stdout, _) = run(&["--help"]);
    assert_eq!(code, 0);
    for sub in [
        "check-consul",
        "check-services",
        "ipmi",
        "migrate-volumes",
        "evacuate",
        "host-evacuate",
        "verify",
        "watch",
        "restore",
        "completions",
    ] {
        assert!(stdout.contains(sub), "--help does not mention {sub}");
    }
    for (_, num, name, _) in TABLE {
        assert!(
            stdout.contains(&format!("{num:>3}  {name}")),
            "--help lacks exit code {num} {name}"
        );
    }
    assert!(
        !stdout.contains("gen-assets"),
        "the packaging command is hidden"
    );
}

#[test]
fn every_subcommand_has_help_with_examples() {
    for args in [
        vec!["check-consul"],
        vec!["check-services"],
        vec!["ipmi", "power", "status"],
        vec!["ipmi", "power", "on"],
        vec!["ipmi", "power", "off"],
        vec!["ipmi", "power", "cycle"],
        vec!["migrate-volumes"],
        vec!["evacuate"],
        vec!["host-evacuate"],
        vec!["verify"],
        vec!["watch"],
        vec!["restore"],
    ] {
        let mut a = args.clone();
        a.push("--help");
        let (code, stdout, _) = run(&a);
        assert_eq!(code, 0, "{args:?} --help");
        assert!(
            stdout.contains("Examples:\n  evacctl "),
            "{args:?} --help has no examples"
        );
    }
}

#[test]
fn watch_modes_that_exclude_each_other_are_usage_errors() {
    for args in [
        ["watch", "--status", "--once"],
        ["watch", "--status", "--dry-run"],
        ["watch", "--test-notify", "--once"],
    ] {
        let (code, stdout, stderr) = run(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains("cannot be used with"), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?} printed on stdout: {stdout}");
    }
}

#[test]
fn bad_usage_exits_2() {
    let (code, _, stderr) = run(&["host-evacuate"]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, _) = run(&["verify", "h", "--timeout", "ten minutes"]);
    assert_eq!(code, 2);
    let (code, _, _) = run(&["-f", "yaml", "check-services"]);
    assert_eq!(code, 2);
    let (code, _, _) = run(&["no-such-command"]);
    assert_eq!(code, 2);
}

#[test]
fn the_reference_documents_the_same_exit_codes() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/reference.md"))
            .expect("docs/reference.md");
    for (_, num, name, _) in TABLE {
        let row = format!("| {num} | `{name}` |");
        assert!(
            readme.contains(&row),
            "docs/reference.md lacks the exit code row starting `{row}`"
        );
    }
}

#[test]
fn committed_completions_and_man_pages_are_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().expect("tempdir");
    let (code, _, stderr) = run(&[
        "gen-assets",
        "--out",
        tmp.path().to_str().expect("utf-8 path"),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let hint = "run `cargo run -- gen-assets` and commit completions/ and man/";
    for dir in ["completions", "man"] {
        let fresh: Vec<_> = std::fs::read_dir(tmp.path().join(dir))
            .expect("generated dir")
            .flatten()
            .collect();
        assert!(!fresh.is_empty());
        for entry in &fresh {
            let committed = root.join(dir).join(entry.file_name());
            let want = std::fs::read(entry.path()).expect("read generated");
            let have = std::fs::read(&committed).unwrap_or_default();
            assert!(
                have == want,
                "{} is stale or missing: {hint}",
                committed.display()
            );
        }
        for entry in std::fs::read_dir(root.join(dir))
            .expect("committed dir")
            .flatten()
        {
            assert!(
                tmp.path().join(dir).join(entry.file_name()).exists(),
                "{} is no longer generated: delete it ({hint})",
                entry.path().display()
            );
        }
    }
}

#[test]
fn completions_print_a_script() {
    let (code, stdout, _) = run(&["completions", "bash"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("_evacctl()"));
    let (code, stdout, _) = run(&["completions", "fish"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("complete -c evacctl"));
}
