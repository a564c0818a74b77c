//! Nova's database: flavors, servers, migrations, hypervisors, aggregates. Plain data: the API and the
//! evacuation clock are in [`crate::compute`].

use std::collections::BTreeMap;

use serde::Serialize;

use crate::placement::state::Resources;
use crate::scenario::compute::{AZ_KEY, aggregates, expand};
use crate::scenario::{Role, Scenario};

#[derive(Debug, Clone, Serialize)]
pub struct Flavor {
    pub id: String,
    pub name: String,
    pub vcpus: u64,
    pub ram: u64,
    pub disk: u64,
    pub ephemeral: u64,
    pub swap: u64,
    pub extra_specs: BTreeMap<String, String>,
}

impl Flavor {
    /// What Placement allocates for it (as Nova's `resources_from_flavor`).
    pub fn resources(&self, booted_from_volume: bool) -> Resources {
        let root = if booted_from_volume { 0 } else { self.disk };
        let mut r = Resources::new();
        r.insert("VCPU".into(), self.vcpus);
        r.insert("MEMORY_MB".into(), self.ram);
        r.insert(
            "DISK_GB".into(),
            root + self.ephemeral + self.swap.div_ceil(1024),
        );
        r.retain(|_, v| *v > 0);
        r
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SimServer {
    pub id: String,
    pub name: String,
    pub project_id: String,
    pub user_id: String,
    pub host: String,
    pub flavor: Flavor,
    pub vm_state: String,
    pub task_state: Option<String>,
    pub launched_at: Option<f64>,
    pub created_at: f64,
    pub updated_at: f64,
    pub metadata: BTreeMap<String, String>,
    pub tags: Vec<String>,
    pub boot_from_volume: bool,
    pub instance_name: String,
    /// The last fault (NoValidHost, a race), shown as `fault` while ERROR.
    pub fault: Option<String>,
    /// A second evacuation raced the first: it ends in ERROR.
    pub raced: bool,
    /// The zone asked for at boot (the request spec's): the scheduler keeps it there.
    pub requested_zone: Option<String>,
}

impl SimServer {
    /// Nova's `status` from vm_state and task_state.
    pub fn status(&self) -> &'static str {
        match self.task_state.as_deref() {
            Some(t) if t.starts_with("rebuild") => return "REBUILD",
            Some("rebooting") | Some("reboot_pending") | Some("reboot_started") => {
                return "REBOOT";
            }
            Some(t) if t.contains("hard") && t.contains("reboot") => return "HARD_REBOOT",
            Some("migrating") => return "MIGRATING",
            Some(t) if t.starts_with("resize") => return "RESIZE",
            _ => {}
        }
        match self.vm_state.as_str() {
            "active" => "ACTIVE",
            "stopped" => "SHUTOFF",
            "error" => "ERROR",
            "building" => "BUILD",
            "paused" => "PAUSED",
            "suspended" => "SUSPENDED",
            "rescued" => "RESCUE",
            "resized" => "VERIFY_RESIZE",
            "shelved" => "SHELVED",
            "shelved_offloaded" => "SHELVED_OFFLOADED",
            "soft-delete" => "SOFT_DELETED",
            _ => "UNKNOWN",
        }
    }

    pub(crate) fn power_state(&self) -> u8 {
        match self.vm_state.as_str() {
            "active" | "rescued" | "resized" => 1,
            "paused" => 3,
            "stopped" | "shelved" => 4,
            "suspended" => 7,
            _ => 0,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SimMigration {
    pub id: u64,
    pub uuid: String,
    pub instance_uuid: String,
    pub source_compute: String,
    pub dest_compute: Option<String>,
    /// The host the API was asked for, if any.
    pub requested_host: Option<String>,
    pub status: String,
    pub created_at: f64,
    pub updated_at: Option<f64>,
    pub user_id: String,
    pub project_id: String,
    /// A second evacuation of a server already being evacuated: fails at scheduling.
    pub doomed: bool,
    /// The host was forced (below 2.29, or `force: true`): Nova skips the scheduler, so the
    /// requested zone does not bind it.
    pub forced: bool,
}

/// A host aggregate. The zone is in `metadata` too (`availability_zone`), as Nova keeps it.
#[derive(Debug, Clone, Serialize)]
pub struct Aggregate {
    pub id: u64,
    pub uuid: String,
    pub name: String,
    pub availability_zone: Option<String>,
    pub hosts: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    pub created_at: f64,
}

impl SimMigration {
    pub(crate) fn in_progress(&self) -> bool {
        matches!(self.status.as_str(), "accepted" | "pre-migrating")
    }
}

/// Evacuation timing, changeable through `POST /_sim/compute`.
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    pub evacuate_accept_delay: f64,
    pub evacuate_rebuild_delay: f64,
}

#[derive(Debug)]
pub struct Compute {
    pub timing: Timing,
    pub max_limit: usize,
    pub flavors: Vec<Flavor>,
    /// Newest first is Nova's list order; kept here in creation order.
    pub servers: Vec<SimServer>,
    pub migrations: Vec<SimMigration>,
    /// Compute host name -> hypervisor (compute node) UUID, also its resource provider UUID.
    pub hypervisors: BTreeMap<String, String>,
    /// The scenario's aggregates and those made for zones named only by hosts' `zone` keys.
    pub aggregates: Vec<Aggregate>,
    pub(crate) next_migration: u64,
}

impl Compute {
    /// Builds flavors and servers from the scenario; `projects` maps project names to
    /// (project id, a user id of it).
    pub fn new(
        scenario: &Scenario,
        projects: &BTreeMap<String, (String, String)>,
        now: f64,
    ) -> Compute {
        let flavors: Vec<Flavor> = scenario
            .flavors
            .iter()
            .map(|f| Flavor {
                id: f.id.clone().unwrap_or_else(|| f.name.clone()),
                name: f.name.clone(),
                vcpus: f.vcpus,
                ram: f.ram,
                disk: f.disk,
                ephemeral: f.ephemeral,
                swap: f.swap,
                extra_specs: f.extra_specs.clone(),
            })
            .collect();
        let hypervisors = scenario
            .hosts
            .iter()
            .filter(|h| h.role == Role::Compute && h.binaries().iter().any(|b| b == "nova-compute"))
            .map(|h| (h.name.clone(), uuid::Uuid::new_v4().to_string()))
            .collect();
        let default_project = scenario.users.first().map(|u| u.project.clone());
        let mut servers = Vec::new();
        let mut seq = 0u64;
        for spec in &scenario.servers {
            let Some(flavor) = flavors.iter().find(|f| f.name == spec.flavor) else {
                continue;
            };
            let project = spec.project.clone().or_else(|| default_project.clone());
            let (project_id, user_id) = project
                .and_then(|p| projects.get(&p).cloned())
                .unwrap_or_default();
            for n in 1..=spec.count {
                seq += 1;
                // Distinct creation times keep Nova's newest-first order stable.
                let created = now - 3600.0 + seq as f64 * 0.001;
                servers.push(SimServer {
                    id: spec
                        .id
                        .clone()
                        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
                    name: expand(&spec.name, n),
                    project_id: project_id.clone(),
                    user_id: user_id.clone(),
                    host: spec.host.clone(),
                    flavor: flavor.clone(),
                    vm_state: spec.vm_state.clone(),
                    task_state: spec.task_state.clone(),
                    launched_at: spec.launched.then_some(created + 3.0),
                    created_at: created,
                    updated_at: created + 3.0,
                    metadata: spec.metadata.clone(),
                    tags: spec.tags.clone(),
                    boot_from_volume: spec.boot_from_volume,
                    instance_name: format!("instance-{seq:08x}"),
                    fault: (spec.vm_state == "error").then(|| {
                        if spec.launched {
                            "The instance's host failed.".to_string()
                        } else {
                            "No valid host was found. There are not enough hosts available."
                                .to_string()
                        }
                    }),
                    raced: false,
                    requested_zone: spec.availability_zone.clone(),
                });
            }
        }
        Compute {
            timing: Timing {
                evacuate_accept_delay: scenario.compute.evacuate_accept_delay.as_f64(),
                evacuate_rebuild_delay: scenario.compute.evacuate_rebuild_delay.as_f64(),
            },
            max_limit: scenario.compute.max_limit,
            flavors,
            servers,
            migrations: Vec::new(),
            hypervisors,
            aggregates: aggregates(scenario)
                .into_iter()
                .enumerate()
                .map(|(i, a)| {
                    let mut metadata = a.metadata.clone();
                    let zone = a.zone().map(str::to_string);
                    if let Some(z) = &zone {
                        metadata.insert(AZ_KEY.into(), z.clone());
                    }
                    Aggregate {
                        id: i as u64 + 1,
                        uuid: uuid::Uuid::new_v4().to_string(),
                        name: a.name,
                        availability_zone: zone,
                        hosts: a.hosts,
                        metadata,
                        // Made before the servers were booted.
                        created_at: (now - 7200.0 + i as f64).floor(),
                    }
                })
                .collect(),
            next_migration: 0,
        }
    }

    pub(crate) fn server_index(&self, id: &str) -> Option<usize> {
        self.servers.iter().position(|s| s.id == id)
    }
}
