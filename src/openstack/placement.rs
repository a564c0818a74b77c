//! Placement: the typed calls come here (resource providers, inventories, usages, allocations;
//! shapes in `shared/reference/openstack-zed/samples/placement-*.json`). The session already
//! negotiates `OpenStack-API-Version: placement 1.X` (up to 1.39); a call is
//! `self.session.json::<T>(&Request::get(ServiceType::Placement, "/resource_providers"))`.

use super::Result;
use super::catalog::ServiceType;
use super::microversion::Microversion;
use super::session::Session;

/// The Placement client. Cheap to clone; shares the session.
#[derive(Clone, Debug)]
pub struct Placement {
    session: Session,
}

impl Placement {
    pub fn new(session: &Session) -> Placement {
        Placement {
            session: session.clone(),
        }
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The microversion placement calls are sent with (discovering it if needed).
    pub fn microversion(&self) -> Result<Option<Microversion>> {
        self.session.microversion(ServiceType::Placement)
    }
}
