//! Running the real `evacctl` binary against a [`SimCloud`]: clean environment, the cloud's
//! clouds.yaml, stdin closed and output captured (so there is never a terminal to ask on).
#![allow(dead_code)] // each test binary uses its own subset

use std::process::Command;

use serde_json::Value;

use super::sim::SimCloud;

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}

pub fn evacctl(cloud: &SimCloud, args: &[&str]) -> Run {
    evacctl_env(cloud, args, &[])
}

pub fn evacctl_env(cloud: &SimCloud, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_evacctl"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", cloud.dir())
        .env("OS_CLIENT_CONFIG_FILE", cloud.clouds_yaml())
        .env("OS_CLOUD", "sim")
        .envs(env.iter().copied())
        .args(args)
        .output()
        .expect("run evacctl");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
