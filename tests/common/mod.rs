//! Helpers shared by the integration tests.
pub mod bmc;
pub mod cli;
pub mod clients;
pub mod races;
pub mod sim;
pub mod watch;
