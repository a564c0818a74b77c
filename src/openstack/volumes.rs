//! Cinder volumes by the host of the cinder-volume service that manages them (seed 001:
//! `cinder --os-volume-api-version 3.33 list --filters host=H --all`), for `verify`.

use serde::{Deserialize, Serialize};

use super::Result;
use super::catalog::ServiceType;
use super::cinder::Cinder;
use super::microversion::Microversion;
use super::session::Request;

/// Filters on `GET /volumes/detail` need 3.33.
pub const VOLUME_FILTERS_MIN: Microversion = Microversion::new(3, 33);

/// One volume, the fields `verify` reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: String,
    /// `host@backend#pool`.
    #[serde(rename = "os-vol-host-attr:host", default)]
    pub host: Option<String>,
}

impl Volume {
    /// The node of `host@backend#pool`.
    pub fn node(&self) -> Option<&str> {
        let h = self.host.as_deref()?;
        let h = h.split('#').next().unwrap_or(h);
        Some(h.split('@').next().unwrap_or(h))
    }
}

impl Cinder {
    /// Volumes whose cinder-volume host is `host` (any backend), every page. The filter is
    /// Cinder's; the node is checked again here so that a filter Cinder ignored cannot make a
    /// foreign volume look like ours.
    pub fn list_volumes_on_host(&self, host: &str) -> Result<Vec<Volume>> {
        let req = Request::get(ServiceType::BlockStorage, "/volumes/detail")
            .query("all_tenants", "1")
            .query("host", host)
            .min_version(VOLUME_FILTERS_MIN);
        let all: Vec<Volume> = self.session().list_all(&req, "volumes")?;
        Ok(all.into_iter().filter(|v| v.node() == Some(host)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_of_backend_hosts() {
        let v = |h: &str| Volume {
            id: "v".into(),
            name: None,
            status: "in-use".into(),
            host: Some(h.into()),
        };
        assert_eq!(v("compute-1@ceph#ceph").node(), Some("compute-1"));
        assert_eq!(v("compute-1@ceph").node(), Some("compute-1"));
        assert_eq!(v("cinder-1").node(), Some("cinder-1"));
    }
}
