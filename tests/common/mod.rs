//! Helpers shared by the integration tests.
pub mod sim;
pub mod bmc;
