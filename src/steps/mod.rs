//! The runbook's steps: one function per step, doing its I/O through the clients and deciding
//! through [`crate::core`]. The manual subcommands and `watch` call the same functions.

pub mod observe;
