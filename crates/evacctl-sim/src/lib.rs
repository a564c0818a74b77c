//! The simulated cloud served by `evacctl-sim`: a stateful HTTP server on one loopback port that
//! speaks enough Keystone v3, Nova, Cinder and Placement for evacctl (and for the official
//! `openstack` client), plus a control API (`/_sim`) that changes the world during a test.
//!
//! Layout: [`scenario`] (the TOML file) builds a [`world::World`] (hosts, services, each API's
//! state) that [`server`] shares behind a mutex; one module per API ([`keystone`], [`nova`],
//! [`cinder`], [`placement`], [`control`]) turns a [`http::SimRequest`] into a [`http::Reply`].
//! New APIs (Consul, Redfish BMCs) add a module, a field in `World` and a line in
//! [`server::dispatch`].
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! use evacctl_sim::{Scenario, spawn};
//! let cloud = spawn(&Scenario::builtin_default()?, "127.0.0.1:0".parse()?)?;
//! println!("auth_url: {}/identity/v3", cloud.url());
//! cloud.world().lock().power_off("compute-1", evacctl_sim::clock::now())?;
//! # Ok(()) }
//! ```

pub mod cinder;
pub mod cinder_manage;
pub mod clock;
pub mod compute;
pub mod consul;
pub mod control;
pub mod ctl;
pub mod files;
pub mod http;
pub mod keystone;
pub mod microversion;
pub mod nova;
pub mod placement;
pub mod redfish;
pub mod scenario;
pub mod server;
pub mod world;

pub use scenario::{Scenario, ScenarioError};
pub use server::{BoundSim, SimError, SimHandle, bind, check_listen_addr, serve, spawn};
pub use world::{SharedWorld, World};
