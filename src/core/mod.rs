//! The runbook's decisions as pure code over plain data: no I/O, tested without servers.

pub mod capacity;
pub mod evacuable;
pub mod finding;
/// "Did you mean ...?" (the `evacctl-names` crate, shared with the clients).
pub use evacctl_names as names;
pub mod network;
pub mod nodes;
pub mod restore;
pub mod services;
pub mod volumes;
pub mod watch;

pub use finding::Finding;
