//! The runbook's steps: one function per step, doing its I/O through the clients and writing
//! the journal; the manual subcommands and `watch` call the same ones.

pub mod volumes;
