//! Runbook steps: one function per step, doing its I/O through the clients (`bmc`,
//! `openstack`, `consul`) and its decisions through `core`. The manual subcommands and `watch`
//! call the same functions.

pub mod fence;
pub mod observe;
pub mod volumes;
