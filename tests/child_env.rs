//! Children of evacctl (the notification hook, cinder-manage, the repair command, sendmail,
//! ipmitool) get a scrubbed environment: evacctl's credentials never reach them.
//!
//! One test in its own binary: it sets variables in this process's environment, which no
//! other test may see.

use std::time::Duration;

use evacctl::bmc::PowerDriver;
use evacctl::bmc::ipmitool::IpmiTool;
use evacctl::config::Config;
use evacctl::process;
use evacctl::secret::Secret;

#[test]
fn credentials_in_evacctl_s_environment_never_reach_a_child() {
    // SAFETY: the only test of this binary, before any thread of its own starts.
    unsafe {
        std::env::set_var("OS_PASSWORD", "os-password-hunter2");
        std::env::set_var("CONSUL_HTTP_TOKEN", "consul-token-hunter2");
        std::env::set_var("BMC_PASSWORD", "bmc-password-hunter2");
        std::env::set_var("LC_TIME", "C");
        std::env::set_var("TZ", "UTC");
    }
    let argv: Vec<String> = ["sh", "-c", "env"].map(String::from).to_vec();
    let run = process::run_with_env(
        &argv,
        &[("EVACCTL_FAILURE_KIND", "service")],
        None,
        Duration::from_secs(20),
    );
    assert!(run.ok(), "{run:?}");
    let names: Vec<&str> = run
        .stdout
        .lines()
        .filter_map(|l| l.split_once('=').map(|(n, _)| n))
        .collect();
    assert!(!run.stdout.contains("hunter2"), "{}", run.stdout);
    for gone in ["OS_PASSWORD", "CONSUL_HTTP_TOKEN", "BMC_PASSWORD"] {
        assert!(
            !names.contains(&gone),
            "{gone} reached the child: {names:?}"
        );
    }
    // What a program needs to run, and what its caller gave it, is there.
    for kept in ["PATH", "LC_TIME", "TZ", "EVACCTL_FAILURE_KIND"] {
        assert!(names.contains(&kept), "{kept} missing: {names:?}");
    }
    for name in &names {
        let allowed = process::PASSED_ON.contains(name)
            || name.starts_with("LC_")
            || *name == "EVACCTL_FAILURE_KIND"
            // Set by the shell itself.
            || ["PWD", "SHLVL", "_", "OLDPWD"].contains(name);
        assert!(allowed, "{name} reached the child: {names:?}");
    }

    // ipmitool gets its password, and nothing else of evacctl's credentials.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("env");
    let fake = dir.path().join("ipmitool");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nenv > '{}'\necho 'Chassis Power is off'\n",
            out.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = Config::from_str(
        "[hosts.c1.bmc]\naddress = \"192.0.2.1\"\nuser = \"admin\"\npassword_env = \"BMC_PASSWORD\"\n",
        "c.toml",
    )
    .unwrap();
    let bmc = config.host("c1").unwrap().bmc().unwrap().clone();
    let tool = IpmiTool::with_program(fake, &bmc, Secret::new("ipmi-pw-value"));
    tool.status().unwrap();
    let env = std::fs::read_to_string(&out).unwrap();
    assert!(env.contains("IPMI_PASSWORD=ipmi-pw-value"), "{env}");
    assert!(!env.contains("hunter2"), "{env}");
}
