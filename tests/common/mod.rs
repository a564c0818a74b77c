//! Helpers shared by the integration tests.
pub mod bmc;
pub mod sim;
