//! The runbook's decisions as pure code over plain data: no I/O, tested without servers.

pub mod capacity;
pub mod evacuable;
pub mod finding;
/// "Did you mean ...?" and OpenStack's timestamps: the `evacctl-text` crate, shared with the
/// clients.
pub use evacctl_text::{names, time};
pub mod network;
pub mod nodes;
pub mod records;
pub mod restore;
pub mod services;
pub mod summary;
pub mod targets;
#[cfg(test)]
pub(crate) mod testkit;
pub mod volumes;
pub mod watch;

pub use finding::Finding;
