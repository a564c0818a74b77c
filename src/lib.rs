//! evacctl: the runbook for a failed OpenStack compute node, as a library behind the
//! `evacctl` binary (and the simulated cloud behind `evacctl-sim`).

pub mod bmc;
pub mod cli;
pub mod commands;
pub mod config;
pub mod consul;
pub mod core;
pub mod error;
pub mod exit_codes;
pub mod journal;
pub mod lock;
pub mod logging;
pub mod notify;
pub mod openstack;
pub mod output;
pub mod pool;
pub mod process;
pub mod secret;
pub mod sim;
pub mod steps;
