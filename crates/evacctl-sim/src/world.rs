//! The world: hosts, the services running on them, and each API's state.
//!
//! One `World` sits behind a mutex ([`SharedWorld`]); every request locks it, reads or changes
//! it, and unlocks it before answering. Each API keeps its own state in a field (identity,
//! servers, volumes, placement, Consul, BMCs) so that a change made through one API (a
//! power-off) is seen by all of them. The world uses each API's `state` module only, never its
//! request handlers, which sit above it.
//!
//! Methods take `now` (seconds since the epoch) rather than reading the clock, so the liveness
//! arithmetic is testable.

use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;

use super::cinder::state::CinderState;
use super::compute::state::Compute;
use super::consul::state::ConsulWorld;
use super::control::state::{Faults, RequestLog};
use super::keystone::state::Identity;
use super::placement::state::PlacementState;
use super::redfish::state::Bmcs;
use super::scenario::{Role, Scenario};

/// The world as the server shares it between requests.
#[derive(Clone)]
pub struct SharedWorld(Arc<Mutex<World>>);

impl SharedWorld {
    pub fn new(world: World) -> SharedWorld {
        SharedWorld(Arc::new(Mutex::new(world)))
    }

    /// Locks the world. A poisoned lock (a panic elsewhere) is taken over rather than spread.
    pub fn lock(&self) -> MutexGuard<'_, World> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Timing knobs from the scenario, in seconds.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub region: String,
    pub service_down_time: f64,
    pub report_interval: f64,
    pub token_lifetime: f64,
    pub storage_zone: String,
    pub rpc_response_timeout: f64,
}

#[derive(Debug)]
pub struct World {
    pub settings: Settings,
    pub started_at: f64,
    pub identity: Identity,
    pub hosts: Vec<Host>,
    pub services: Vec<Service>,
    pub faults: Faults,
    pub requests: RequestLog,
    /// The hosts' Redfish BMCs (credentials, injected faults).
    pub bmcs: Bmcs,
    pub consul: ConsulWorld,
    /// Volumes and backups.
    pub cinder: CinderState,
    /// Servers, flavors, migrations, hypervisors.
    pub compute: Compute,
    pub placement: PlacementState,
}

#[derive(Debug, Clone, Serialize)]
pub struct Host {
    pub name: String,
    pub role: Role,
    pub zone: String,
    pub powered_on: bool,
    /// A hardware fault (the `hardware-fault` control): every power-on hangs at boot until
    /// `hardware-repair`.
    pub hardware_fault: bool,
    /// Powered on but hung at boot: nothing runs until a power-on without the fault.
    pub hung: bool,
}

impl Host {
    /// Booted: powered on and not hung at boot. Its services run (unless crashed) and its
    /// Consul agents are alive.
    pub fn is_running(&self) -> bool {
        self.powered_on && !self.hung
    }
}

/// Which API lists a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceApi {
    Nova,
    Cinder,
}

/// When a service last reported, computed lazily: a running service reports every
/// `report_interval` from `since`; a stopped one keeps its last report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Heartbeat {
    since: f64,
    frozen: Option<f64>,
}

impl Heartbeat {
    /// Started at `now`: its first report is at once.
    pub fn started(now: f64) -> Heartbeat {
        Heartbeat {
            since: now,
            frozen: None,
        }
    }

    /// Not running; its last report was at `last`.
    pub fn stopped(last: f64) -> Heartbeat {
        Heartbeat {
            since: last,
            frozen: Some(last),
        }
    }

    pub fn is_running(&self) -> bool {
        self.frozen.is_none()
    }

    /// The time of the last report at `now`.
    pub fn last(&self, now: f64, interval: f64) -> f64 {
        match self.frozen {
            Some(t) => t,
            None => {
                let beats = ((now - self.since) / interval).floor().max(0.0);
                self.since + beats * interval
            }
        }
    }

    /// Stops reporting (a crash or a power loss); the last report stays.
    pub fn stop(&mut self, now: f64, interval: f64) {
        if self.frozen.is_none() {
            self.frozen = Some(self.last(now, interval));
        }
    }

    /// Starts reporting again, with a report at once.
    pub fn start(&mut self, now: f64) {
        if self.frozen.is_some() {
            *self = Heartbeat::started(now);
        }
    }
}

#[derive(Debug, Clone)]
pub struct Service {
    pub api: ServiceApi,
    /// Integer id (Nova below 2.53; Cinder's internal id).
    pub id: u64,
    pub uuid: String,
    pub binary: String,
    /// The host as the API shows it: `compute-1`, or `compute-1@ceph` for cinder-volume.
    pub host: String,
    /// The simulated machine it runs on.
    pub node: String,
    pub zone: String,
    pub disabled: bool,
    pub disabled_reason: Option<String>,
    pub forced_down: bool,
    /// The process died (the `crash` control); the host may still be up.
    pub crashed: bool,
    pub heartbeat: Heartbeat,
    /// The last write through the API: Nova's row `updated_at` moves with it too.
    pub modified_at: Option<f64>,
    pub frozen: bool,
}

impl Service {
    /// The time of the last heartbeat.
    pub fn last_seen_up(&self, now: f64, s: &Settings) -> f64 {
        self.heartbeat.last(now, s.report_interval)
    }

    /// `updated_at` as shown: the row's last write, heartbeat or API update, in whole seconds
    /// like Nova's DATETIME column.
    pub fn updated_at(&self, now: f64, s: &Settings) -> f64 {
        let hb = self.last_seen_up(now, s);
        self.modified_at.map_or(hb, |m| hb.max(m)).floor()
    }

    /// Nova's servicegroup rule: down when forced down or silent for over service_down_time.
    /// The exact heartbeat is used (not the shown seconds) so that sub-second settings never
    /// show a live service down.
    pub fn is_up(&self, now: f64, s: &Settings) -> bool {
        !self.forced_down && now - self.last_seen_up(now, s) <= s.service_down_time
    }

    pub fn state(&self, now: f64, s: &Settings) -> &'static str {
        if self.is_up(now, s) { "up" } else { "down" }
    }

    pub fn status(&self) -> &'static str {
        if self.disabled { "disabled" } else { "enabled" }
    }
}

/// A control request naming something that does not exist.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WorldError {
    #[error("unknown host {name:?}; known hosts: {}", known.join(", "))]
    UnknownHost { name: String, known: Vec<String> },
    #[error("host {host:?} runs no {binary:?}; it runs: {}", known.join(", "))]
    UnknownService {
        host: String,
        binary: String,
        known: Vec<String>,
    },
}

impl World {
    pub fn new(scenario: &Scenario, now: f64) -> World {
        let c = &scenario.cloud;
        let settings = Settings {
            region: c.region.clone(),
            service_down_time: c.service_down_time.as_f64(),
            report_interval: c.report_interval.as_f64(),
            token_lifetime: c.token_lifetime.as_f64(),
            storage_zone: c.storage_zone.clone(),
            rpc_response_timeout: c.rpc_response_timeout.as_f64(),
        };
        // A host that starts powered off died long enough ago to be down already.
        let long_ago = (now - settings.service_down_time - settings.report_interval).floor();
        let mut services = Vec::new();
        let (mut nova_ids, mut cinder_ids) = (0u64, 0u64);
        let mut add = |api: ServiceApi,
                       binary: &str,
                       host: String,
                       node: &str,
                       zone: &str,
                       on,
                       disabled: Option<&String>| {
            let id = match api {
                ServiceApi::Nova => {
                    nova_ids += 1;
                    nova_ids
                }
                ServiceApi::Cinder => {
                    cinder_ids += 1;
                    cinder_ids
                }
            };
            services.push(Service {
                api,
                id,
                uuid: uuid::Uuid::new_v4().to_string(),
                binary: binary.to_string(),
                host,
                node: node.to_string(),
                zone: zone.to_string(),
                disabled: disabled.is_some(),
                disabled_reason: disabled.cloned(),
                forced_down: false,
                crashed: false,
                heartbeat: if on {
                    Heartbeat::started(now)
                } else {
                    Heartbeat::stopped(long_ago)
                },
                modified_at: None,
                frozen: false,
            });
        };
        let mut hosts = Vec::new();
        let aggregates = crate::scenario::compute::aggregates(scenario);
        for h in &scenario.hosts {
            let host_zone = crate::scenario::compute::host_zone(&aggregates, h);
            for binary in h.binaries() {
                let (api, zone, disabled) = match binary.as_str() {
                    // Nova shows every service but nova-compute in the internal zone.
                    "nova-compute" => (
                        ServiceApi::Nova,
                        host_zone.as_str(),
                        h.disabled_reason.as_ref(),
                    ),
                    b if b.starts_with("nova-") => (ServiceApi::Nova, "internal", None),
                    _ => (ServiceApi::Cinder, settings.storage_zone.as_str(), None),
                };
                add(
                    api,
                    &binary,
                    h.name.clone(),
                    &h.name,
                    zone,
                    h.powered_on,
                    disabled,
                );
            }
            for backend in &h.cinder_backends {
                let host = format!("{}@{backend}", h.name);
                let zone = settings.storage_zone.as_str();
                add(
                    ServiceApi::Cinder,
                    "cinder-volume",
                    host,
                    &h.name,
                    zone,
                    h.powered_on,
                    None,
                );
            }
            hosts.push(Host {
                name: h.name.clone(),
                role: h.role,
                zone: host_zone,
                powered_on: h.powered_on,
                hardware_fault: false,
                hung: false,
            });
        }
        let identity = Identity::from_scenario(scenario);
        let projects = identity
            .users
            .iter()
            .filter_map(|u| {
                let p = identity.project(&u.project_id)?;
                Some((p.name.clone(), (p.id.clone(), u.id.clone())))
            })
            .collect();
        let compute = Compute::new(scenario, &projects, now);
        let mut placement = PlacementState::new(scenario, &compute.hypervisors);
        // Each server's allocation on its host.
        for s in &compute.servers {
            if let Some(rp) = compute.hypervisors.get(&s.host) {
                let need = s.flavor.resources(s.boot_from_volume);
                placement.allocate(&s.id, rp, &need);
                placement
                    .consumers
                    .insert(s.id.clone(), (s.project_id.clone(), s.user_id.clone()));
            }
        }
        World {
            cinder: CinderState::new(scenario, &identity, now),
            identity,
            compute,
            placement,
            settings,
            started_at: now,
            hosts,
            services,
            faults: Faults::default(),
            requests: RequestLog::default(),
            bmcs: Bmcs::new(scenario),
            consul: ConsulWorld::new(&scenario.consul),
        }
    }

    pub fn host_names(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.name.clone()).collect()
    }

    fn host_index(&self, name: &str) -> Result<usize, WorldError> {
        self.hosts
            .iter()
            .position(|h| h.name == name)
            .ok_or_else(|| WorldError::UnknownHost {
                name: name.to_string(),
                known: self.host_names(),
            })
    }

    pub fn host(&self, name: &str) -> Result<&Host, WorldError> {
        self.host_index(name).map(|i| &self.hosts[i])
    }

    /// The services of one API, in creation order.
    pub fn services_of(&self, api: ServiceApi) -> impl Iterator<Item = &Service> {
        self.services.iter().filter(move |s| s.api == api)
    }

    /// The services running on a machine.
    pub fn services_on<'a>(&'a self, node: &'a str) -> impl Iterator<Item = &'a Service> {
        self.services.iter().filter(move |s| s.node == node)
    }

    /// Cuts a host's power: its services stop reporting. Idempotent.
    pub fn power_off(&mut self, host: &str, now: f64) -> Result<(), WorldError> {
        let i = self.host_index(host)?;
        self.hosts[i].powered_on = false;
        self.hosts[i].hung = false;
        let interval = self.settings.report_interval;
        for s in self.services.iter_mut().filter(|s| s.node == host) {
            s.heartbeat.stop(now, interval);
        }
        Ok(())
    }

    /// Restores a host's power: its services that have not crashed report again at once. A host
    /// with a hardware fault shows power on and hangs at boot: nothing starts.
    pub fn power_on(&mut self, host: &str, now: f64) -> Result<(), WorldError> {
        let i = self.host_index(host)?;
        self.hosts[i].powered_on = true;
        self.hosts[i].hung = self.hosts[i].hardware_fault;
        if self.hosts[i].hung {
            return Ok(());
        }
        for s in self
            .services
            .iter_mut()
            .filter(|s| s.node == host && !s.crashed)
        {
            s.heartbeat.start(now);
        }
        Ok(())
    }

    /// A host that will not come back: its power is cut now, and later power-ons (BMC or
    /// control API) show power on while nothing boots, until [`World::hardware_repair`].
    pub fn hardware_fault(&mut self, host: &str, now: f64) -> Result<(), WorldError> {
        self.power_off(host, now)?;
        let i = self.host_index(host)?;
        self.hosts[i].hardware_fault = true;
        Ok(())
    }

    /// Clears a hardware fault; the next power-on boots normally (a host hung at boot stays
    /// hung until then).
    pub fn hardware_repair(&mut self, host: &str) -> Result<(), WorldError> {
        let i = self.host_index(host)?;
        self.hosts[i].hardware_fault = false;
        Ok(())
    }

    /// Indices of the services of `binary` on a host (all cinder-volume backends at once).
    fn service_indices(&self, host: &str, binary: &str) -> Result<Vec<usize>, WorldError> {
        self.host_index(host)?;
        let found: Vec<usize> = (0..self.services.len())
            .filter(|&i| self.services[i].node == host && self.services[i].binary == binary)
            .collect();
        if found.is_empty() {
            let mut known: Vec<String> = self.services_on(host).map(|s| s.binary.clone()).collect();
            known.dedup();
            return Err(WorldError::UnknownService {
                host: host.to_string(),
                binary: binary.to_string(),
                known,
            });
        }
        Ok(found)
    }

    /// Kills a service's process; it stays dead across power cycles until `start`.
    pub fn crash(&mut self, host: &str, binary: &str, now: f64) -> Result<(), WorldError> {
        let interval = self.settings.report_interval;
        for i in self.service_indices(host, binary)? {
            let s = &mut self.services[i];
            s.crashed = true;
            s.heartbeat.stop(now, interval);
        }
        Ok(())
    }

    /// The service keeps running (its node-local check passes) but Nova stops hearing its
    /// heartbeat (lost message queue or database): `start` reconnects it.
    pub fn lose_heartbeat(&mut self, host: &str, binary: &str, now: f64) -> Result<(), WorldError> {
        let interval = self.settings.report_interval;
        for i in self.service_indices(host, binary)? {
            self.services[i].heartbeat.stop(now, interval);
        }
        Ok(())
    }

    /// Restarts a crashed service; on a powered-off (or hung) host it starts with the next
    /// power-on that boots.
    pub fn start(&mut self, host: &str, binary: &str, now: f64) -> Result<(), WorldError> {
        let powered = self.host(host)?.is_running();
        for i in self.service_indices(host, binary)? {
            let s = &mut self.services[i];
            s.crashed = false;
            if powered {
                s.heartbeat.start(now);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: f64 = 1_795_311_370.4;

    fn world() -> World {
        let text = r#"
[cloud]
service_down_time = 2
report_interval = 1
[[users]]
name = "admin"
password = "pw"
project = "admin"
roles = ["admin"]
[[hosts]]
name = "ctl"
role = "controller"
[[hosts]]
name = "c1"
role = "compute"
cinder_backends = ["ceph", "lvm"]
[[hosts]]
name = "c2"
role = "compute"
powered_on = false
"#;
        World::new(&Scenario::from_toml_str(text, "t").unwrap(), T0)
    }

    fn svc<'a>(w: &'a World, host: &str, binary: &str) -> &'a Service {
        w.services
            .iter()
            .find(|s| s.host == host && s.binary == binary)
            .unwrap()
    }

    #[test]
    fn heartbeat_steps_by_report_interval() {
        let mut hb = Heartbeat::started(100.0);
        assert_eq!(hb.last(100.0, 10.0), 100.0);
        assert_eq!(hb.last(109.9, 10.0), 100.0);
        assert_eq!(hb.last(110.0, 10.0), 110.0);
        assert_eq!(hb.last(135.0, 10.0), 130.0);
        hb.stop(135.0, 10.0);
        assert_eq!(hb.last(500.0, 10.0), 130.0);
        hb.stop(600.0, 10.0); // stopping twice keeps the first stop
        assert_eq!(hb.last(700.0, 10.0), 130.0);
        hb.start(700.5);
        assert_eq!(hb.last(700.5, 10.0), 700.5);
        assert_eq!(hb.last(715.0, 10.0), 710.5);
        // A clock that went backwards does not move the heartbeat before its start.
        assert_eq!(Heartbeat::started(50.0).last(40.0, 10.0), 50.0);
    }

    #[test]
    fn services_per_role() {
        let w = world();
        let nova: Vec<_> = w
            .services_of(ServiceApi::Nova)
            .map(|s| (s.binary.as_str(), s.host.as_str()))
            .collect();
        assert_eq!(
            nova,
            [
                ("nova-scheduler", "ctl"),
                ("nova-conductor", "ctl"),
                ("nova-compute", "c1"),
                ("nova-compute", "c2")
            ]
        );
        let cinder: Vec<_> = w
            .services_of(ServiceApi::Cinder)
            .map(|s| s.host.as_str())
            .collect();
        assert_eq!(cinder, ["ctl", "c1@ceph", "c1@lvm"]);
        assert_eq!(svc(&w, "ctl", "nova-scheduler").zone, "internal");
        assert_eq!(svc(&w, "c1", "nova-compute").zone, "nova");
        assert_eq!(svc(&w, "c1@ceph", "cinder-volume").zone, "nova");
        assert_eq!(svc(&w, "c1", "nova-compute").id, 3);
        assert_eq!(svc(&w, "c1@ceph", "cinder-volume").id, 2);
    }

    #[test]
    fn power_off_goes_down_after_service_down_time() {
        let mut w = world();
        let s = w.settings.clone();
        assert_eq!(svc(&w, "c1", "nova-compute").state(T0, &s), "up");
        // Power lost 0.3 s after a report at T0+5: last seen is that report.
        w.power_off("c1", T0 + 5.3).unwrap();
        let c1 = svc(&w, "c1", "nova-compute").clone();
        assert_eq!(c1.last_seen_up(T0 + 100.0, &s), T0 + 5.0);
        assert_eq!(c1.updated_at(T0 + 100.0, &s), (T0 + 5.0).floor());
        assert_eq!(c1.state(T0 + 6.0, &s), "up");
        assert_eq!(c1.state(T0 + 7.0, &s), "up");
        assert_eq!(c1.state(T0 + 7.01, &s), "down");
        assert_eq!(
            svc(&w, "c1@lvm", "cinder-volume").state(T0 + 9.0, &s),
            "down"
        );
        assert_eq!(svc(&w, "ctl", "nova-conductor").state(T0 + 9.0, &s), "up");
        // Power back: up at once, with a fresh heartbeat.
        w.power_on("c1", T0 + 9.0).unwrap();
        let c1 = svc(&w, "c1", "nova-compute");
        assert_eq!(c1.state(T0 + 9.0, &s), "up");
        assert_eq!(c1.updated_at(T0 + 9.0, &s), (T0 + 9.0).floor());
    }

    #[test]
    fn powered_off_from_the_start_is_down_at_once() {
        let mut w = world();
        let s = w.settings.clone();
        assert!(!w.host("c2").unwrap().powered_on);
        assert_eq!(svc(&w, "c2", "nova-compute").state(T0, &s), "down");
        w.power_on("c2", T0 + 1.0).unwrap();
        assert_eq!(svc(&w, "c2", "nova-compute").state(T0 + 1.0, &s), "up");
    }

    #[test]
    fn sub_second_settings_never_show_a_live_service_down() {
        let mut w = world();
        w.settings.report_interval = 0.25;
        w.settings.service_down_time = 0.5;
        let s = w.settings.clone();
        let c1 = svc(&w, "c1", "nova-compute");
        for i in 0..40 {
            assert_eq!(c1.state(T0 + f64::from(i) * 0.1, &s), "up", "{i}");
        }
    }

    #[test]
    fn forced_down_is_down_at_once() {
        let mut w = world();
        let s = w.settings.clone();
        let i = w
            .services
            .iter()
            .position(|x| x.binary == "nova-compute")
            .unwrap();
        w.services[i].forced_down = true;
        assert_eq!(w.services[i].state(T0, &s), "down");
    }

    #[test]
    fn crash_survives_power_cycle_until_start() {
        let mut w = world();
        let s = w.settings.clone();
        w.crash("c1", "cinder-volume", T0).unwrap();
        assert!(svc(&w, "c1@ceph", "cinder-volume").crashed);
        assert!(svc(&w, "c1@lvm", "cinder-volume").crashed);
        w.power_off("c1", T0 + 1.0).unwrap();
        w.power_on("c1", T0 + 10.0).unwrap();
        assert_eq!(
            svc(&w, "c1@ceph", "cinder-volume").state(T0 + 10.0, &s),
            "down"
        );
        assert_eq!(svc(&w, "c1", "nova-compute").state(T0 + 10.0, &s), "up");
        w.start("c1", "cinder-volume", T0 + 11.0).unwrap();
        assert_eq!(
            svc(&w, "c1@ceph", "cinder-volume").state(T0 + 11.0, &s),
            "up"
        );
    }

    #[test]
    fn a_hardware_fault_hangs_every_power_on_until_repaired() {
        let mut w = world();
        let s = w.settings.clone();
        w.hardware_fault("c1", T0).unwrap();
        assert!(!w.host("c1").unwrap().powered_on);
        w.power_on("c1", T0 + 5.0).unwrap();
        let h = w.host("c1").unwrap();
        assert!(h.powered_on && !h.is_running(), "power on, hung at boot");
        assert_eq!(svc(&w, "c1", "nova-compute").state(T0 + 5.0, &s), "down");
        w.start("c1", "nova-compute", T0 + 6.0).unwrap();
        assert_eq!(svc(&w, "c1", "nova-compute").state(T0 + 6.0, &s), "down");
        // Repaired: still hung until the next power-on, which boots.
        w.hardware_repair("c1").unwrap();
        assert!(!w.host("c1").unwrap().is_running());
        w.power_on("c1", T0 + 10.0).unwrap();
        assert!(w.host("c1").unwrap().is_running());
        assert_eq!(svc(&w, "c1", "nova-compute").state(T0 + 10.0, &s), "up");
        assert!(w.hardware_fault("c9", T0).is_err());
        assert!(w.hardware_repair("c9").is_err());
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let mut w = world();
        let e = w.power_off("c9", T0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown host \"c9\"; known hosts: ctl, c1, c2"
        );
        let e = w.crash("c1", "nova-api", T0).unwrap_err();
        assert!(e.to_string().contains("nova-compute, cinder-volume"), "{e}");
    }

    #[test]
    fn api_writes_move_updated_at_but_not_liveness() {
        let mut w = world();
        let s = w.settings.clone();
        w.power_off("c1", T0).unwrap();
        let i = w
            .services
            .iter()
            .position(|x| x.host == "c1" && x.api == ServiceApi::Nova);
        let i = i.unwrap();
        w.services[i].modified_at = Some(T0 + 30.0);
        assert_eq!(w.services[i].updated_at(T0 + 31.0, &s), (T0 + 30.0).floor());
        assert_eq!(w.services[i].state(T0 + 31.0, &s), "down");
    }
}
