//! Running the real `evacctl` binary against a [`SimCloud`]: shorthands over
//! [`SimCloud::evacctl`] (clean environment, the cloud's clouds.yaml, output captured).
#![allow(dead_code)] // each test binary uses its own subset

pub use super::sim::Run;
use super::sim::SimCloud;

pub fn evacctl(cloud: &SimCloud, args: &[&str]) -> Run {
    cloud.evacctl(args, &[])
}

pub fn evacctl_env(cloud: &SimCloud, args: &[&str], env: &[(&str, &str)]) -> Run {
    cloud.evacctl(args, env)
}
