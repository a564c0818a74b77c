//! The simulated cloud served by `evacctl-sim`: a stateful HTTP server on one loopback port that
//! speaks enough Keystone v3, Nova, Cinder and Placement for evacctl (and for the official
//! `openstack` client), plus a control API (`/_sim`) that changes the world during a test.
//!
//! Layout, in layers: each module uses only those below it (`scripts/check-layers` checks that
//! no two files use each other).
//!
//! 1. [`clock`], [`microversion`], [`http`] (a [`http::SimRequest`], the [`http::Reply`], each
//!    service's error body), and [`scenario`] (the TOML file; each API's tables in
//!    `scenario::{cinder, compute, consul}`).
//! 2. Each API's plain state, built from the scenario: `keystone::state`, `compute::state`,
//!    `placement::state`, `cinder::state`, `consul::state`, `redfish::state`,
//!    `control::state` (injected faults, the request log).
//! 3. [`world::World`]: every API's state, the hosts and services, and what changes them all
//!    (power, crashes); [`server`] shares it behind a mutex.
//! 4. One module per API ([`keystone`], [`compute`] and [`nova`], [`placement`], [`cinder`],
//!    [`consul`], [`redfish`], [`control`]) turns a request into a reply; `control::view` (a
//!    host as the control API shows it) sits below `consul` and `control`, which both show it.
//! 5. [`server`]: the listeners and [`server::dispatch`].
//!
//! Each API module re-exports its state (`cinder::CinderState` is `cinder::state::CinderState`);
//! modules of layers 1 to 3 name the `state` module itself, never the API module above it.
//! A new API adds its state module, a field in `World`, its request module and a line in
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
