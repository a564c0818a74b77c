//! The clients' answers as the core reads them: the core defines what it needs to know of a
//! server, a flavor, a migration, an inventory, a volume (its `*View` traits and plain types);
//! here Nova's, Placement's and Cinder's types provide it. Neither side imports the other.

use std::collections::BTreeMap;

use crate::core::capacity::{self, FlavorView};
use crate::core::evacuable::{MigrationView, ServerView};
use crate::core::volumes::{Attachment, CinderService, CinderVolume};
use crate::openstack::cinder::{Volume, VolumeService};
use crate::openstack::placement;
use crate::openstack::servers::{Migration, Server, ServerFlavor};

impl FlavorView for ServerFlavor {
    fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
    fn original_name(&self) -> Option<&str> {
        self.original_name.as_deref()
    }
    fn vcpus(&self) -> Option<u64> {
        self.vcpus
    }
    fn ram(&self) -> Option<u64> {
        self.ram
    }
    fn disk(&self) -> Option<u64> {
        self.disk
    }
    fn ephemeral(&self) -> Option<u64> {
        self.ephemeral
    }
    fn swap(&self) -> Option<u64> {
        self.swap
    }
    fn extra_specs(&self) -> &BTreeMap<String, String> {
        &self.extra_specs
    }
}

impl ServerView for Server {
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn status(&self) -> &str {
        &self.status
    }
    fn host(&self) -> &str {
        Server::host(self)
    }
    fn vm_state(&self) -> &str {
        Server::vm_state(self)
    }
    fn task(&self) -> Option<&str> {
        Server::task(self)
    }
    fn has_run(&self) -> bool {
        Server::has_run(self)
    }
    fn flavor(&self) -> &dyn FlavorView {
        &self.flavor
    }
    fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }
    fn tags(&self) -> &[String] {
        &self.tags
    }
}

impl MigrationView for Migration {
    fn id(&self) -> &str {
        self.uuid.as_deref().unwrap_or(&self.id)
    }
    fn status(&self) -> &str {
        &self.status
    }
    fn is_in_progress(&self) -> bool {
        Migration::is_in_progress(self)
    }
    fn is_failed(&self) -> bool {
        Migration::is_failed(self)
    }
}

/// A server's newest evacuation, as the core's `Facts` take it.
pub fn migration_view(m: Option<&Migration>) -> Option<&dyn MigrationView> {
    m.map(|m| m as &dyn MigrationView)
}

/// Placement's inventories of a provider, as the capacity plan takes them.
pub fn inventories(
    from: BTreeMap<String, placement::Inventory>,
) -> BTreeMap<String, capacity::Inventory> {
    from.into_iter()
        .map(|(class, i)| {
            let inv = capacity::Inventory {
                total: i.total,
                reserved: i.reserved,
                min_unit: i.min_unit,
                max_unit: i.max_unit,
                step_size: i.step_size,
                allocation_ratio: i.allocation_ratio,
            };
            (class, inv)
        })
        .collect()
}

/// Cinder's services, as the volume plan reads them.
pub fn cinder_services(from: &[VolumeService]) -> Vec<CinderService> {
    from.iter()
        .map(|s| CinderService {
            binary: s.binary.clone(),
            host: s.host.clone(),
            enabled: s.is_enabled(),
            up: s.is_up(),
            disabled_reason: s.disabled_reason.clone(),
        })
        .collect()
}

/// Cinder's volumes, as the volume plan and its proof read them.
pub fn cinder_volumes(from: &[Volume]) -> Vec<CinderVolume> {
    from.iter()
        .map(|v| CinderVolume {
            id: v.id.clone(),
            name: v.name.clone(),
            status: v.status.clone(),
            size: v.size,
            project_id: v.project_id.clone(),
            host: v.host().map(str::to_string),
            attachments: v
                .attachments
                .iter()
                .map(|a| Attachment {
                    server_id: a.server_id.clone(),
                    host_name: a.host_name.clone(),
                })
                .collect(),
        })
        .collect()
}
