//! The runbook's decisions as pure code over plain data: no I/O, tested without servers.

pub mod names;
pub mod network;
pub mod nodes;
pub mod services;
