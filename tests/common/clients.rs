//! The official OpenStack clients (from `.venv/`, installed by scripts/test, or PATH), for the
//! fidelity tests against the simulated cloud.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn find_client(name: &str) -> Option<PathBuf> {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(".venv/bin")
        .join(name);
    if venv.is_file() {
        return Some(venv);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A command with no OS_* variables from the caller's environment.
pub fn clean(program: &Path) -> Command {
    let mut cmd = Command::new(program);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("OS_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// The client's stdout; panics with everything it said unless it succeeded.
pub fn check(what: &str, out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{what}: {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Missing clients fail the test under CI and skip it (saying so) elsewhere.
pub fn skip_without(clients: &[Option<PathBuf>], what: &str) -> bool {
    if clients.iter().all(Option::is_some) {
        return false;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} missing (scripts/test installs them into .venv/)"
    );
    eprintln!("skipped: no {what} (run scripts/test to install them)");
    true
}
