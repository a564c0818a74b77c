//! evacctl: the runbook for a failed OpenStack compute node, as a library behind the
//! `evacctl` binary. The simulated cloud of the tests and demos is the separate crate
//! `crates/evacctl-sim`, which shares no code with this one.

pub mod bmc;
pub mod cli;
pub mod commands;
pub mod config;
pub mod consul;
pub mod core;
pub mod engine;
pub mod error;
pub mod exit_codes;
pub mod files;
pub mod http;
pub mod ids;
pub mod interrupt;
pub mod journal;
pub mod lock;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod openstack;
pub mod output;
pub mod pool;
pub mod process;
pub mod secret;
pub mod steps;
