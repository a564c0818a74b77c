//! Nothing waits for ever and nothing is written where it should not be, as the operator
//! sees it: `--config`, `--log-file` and `--journal` that are FIFOs, devices or symbolic links
//! are refused at once with a clear error.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// evacctl's exit code and stderr; fails the test if it runs 30 s (it would hang).
fn evacctl(dir: &Path, args: &[&str]) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_evacctl"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("OS_AUTH_URL", "http://127.0.0.1:9/identity")
        .env("OS_USERNAME", "admin")
        .env("OS_PASSWORD", "pw")
        .env("OS_PROJECT_NAME", "admin")
        .env("OS_USER_DOMAIN_NAME", "Default")
        .env("OS_PROJECT_DOMAIN_NAME", "Default")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run evacctl");
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("evacctl {args:?} still running after 30 s: it hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code().unwrap_or(-1), err)
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

#[test]
fn a_log_file_is_a_private_regular_file_never_a_link_or_a_device() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (code, err) = evacctl(d, &["--log-file", "/dev/full", "completions", "bash"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("/dev/full") && err.contains("not a regular file"),
        "{err}"
    );

    let target = d.join("elsewhere");
    std::fs::write(&target, "").unwrap();
    let link = d.join("link.log");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let (code, err) = evacctl(
        d,
        &["--log-file", link.to_str().unwrap(), "completions", "bash"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("symbolic link"), "{err}");

    let fifo = d.join("fifo.log");
    mkfifo(&fifo);
    let (code, err) = evacctl(
        d,
        &["--log-file", fifo.to_str().unwrap(), "completions", "bash"],
    );
    assert_eq!(code, 2, "{err}");

    let log = d.join("evacctl.log");
    let (code, err) = evacctl(
        d,
        &["--log-file", log.to_str().unwrap(), "completions", "bash"],
    );
    assert_eq!(code, 0, "{err}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&log).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_config_or_journal_that_is_a_device_or_a_fifo_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = d.join("config.toml");
    std::fs::write(
        &config,
        format!("[lock]\nfile = \"{}\"\n", d.join("watch.lock").display()),
    )
    .unwrap();
    let config = config.to_str().unwrap();

    let (code, err) = evacctl(d, &["--config", "/dev/zero", "watch", "--once"]);
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains("/dev/zero") && err.contains("not a regular file"),
        "{err}"
    );
    let fifo = d.join("fifo.toml");
    mkfifo(&fifo);
    let (code, err) = evacctl(d, &["--config", fifo.to_str().unwrap(), "watch", "--once"]);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("FIFO"), "{err}");

    let (code, err) = evacctl(
        d,
        &[
            "--config",
            config,
            "--journal",
            "/dev/full",
            "watch",
            "--once",
        ],
    );
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains("/dev/full") && err.contains("not a regular file"),
        "{err}"
    );
    assert!(err.contains("nothing was done"), "{err}");
    let journal_fifo = d.join("journal.jsonl");
    mkfifo(&journal_fifo);
    let (code, err) = evacctl(
        d,
        &[
            "--config",
            config,
            "--journal",
            journal_fifo.to_str().unwrap(),
            "watch",
            "--once",
        ],
    );
    assert_ne!(code, 0, "{err}");
}
