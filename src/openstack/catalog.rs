//! The Keystone service catalog: picking an endpoint by service type (with the historical
//! aliases), interface and region.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use super::microversion::Microversion;
use super::{Error, Result};

/// The services evacctl talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceType {
    Identity,
    Compute,
    Placement,
    BlockStorage,
}

impl ServiceType {
    /// The official service type (service-types-authority).
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::Identity => "identity",
            ServiceType::Compute => "compute",
            ServiceType::Placement => "placement",
            ServiceType::BlockStorage => "block-storage",
        }
    }

    /// Catalog types to look for, best first. `volumev2` is left out on purpose: its endpoint
    /// serves the removed v2 API, not the v3 API we speak.
    pub fn catalog_types(self) -> &'static [&'static str] {
        match self {
            ServiceType::Identity => &["identity"],
            ServiceType::Compute => &["compute"],
            ServiceType::Placement => &["placement"],
            ServiceType::BlockStorage => &["block-storage", "volumev3", "volume", "block-store"],
        }
    }

    /// Accepts the official type, its aliases and the underscore spellings used in config keys.
    pub fn from_name(name: &str) -> Option<ServiceType> {
        let n = name.trim().to_ascii_lowercase().replace('_', "-");
        [
            ServiceType::Identity,
            ServiceType::Compute,
            ServiceType::Placement,
            ServiceType::BlockStorage,
        ]
        .into_iter()
        .find(|t| t.catalog_types().contains(&n.as_str()))
    }

    /// The name in `OpenStack-API-Version: <name> <version>`; `None` for identity, which we
    /// call without microversions.
    pub(crate) fn microversion_name(self) -> Option<&'static str> {
        match self {
            ServiceType::Identity => None,
            ServiceType::Compute => Some("compute"),
            ServiceType::Placement => Some("placement"),
            ServiceType::BlockStorage => Some("volume"),
        }
    }

    /// The highest microversion evacctl speaks. Compute stays below 2.95, whose evacuate
    /// leaves the server SHUTOFF instead of keeping its power state.
    pub(crate) fn client_max(self) -> Option<Microversion> {
        match self {
            ServiceType::Identity => None,
            ServiceType::Compute => Some(Microversion::new(2, 93)),
            ServiceType::Placement => Some(Microversion::new(1, 39)),
            ServiceType::BlockStorage => Some(Microversion::new(3, 70)),
        }
    }

    /// The API version (major, and minor of the version id where it matters) we speak.
    pub(crate) fn api_version(self) -> (u32, Option<u32>) {
        match self {
            ServiceType::Identity => (3, None),
            ServiceType::Compute => (2, Some(1)),
            ServiceType::Placement => (1, None),
            ServiceType::BlockStorage => (3, None),
        }
    }
}

impl fmt::Display for ServiceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The endpoint interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub enum Interface {
    #[default]
    Public,
    Internal,
    Admin,
}

impl Interface {
    pub fn as_str(self) -> &'static str {
        match self {
            Interface::Public => "public",
            Interface::Internal => "internal",
            Interface::Admin => "admin",
        }
    }
}

impl fmt::Display for Interface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Interface {
    type Err = String;

    /// `public`, `internal`, `admin`, and the v2-era `publicURL`, `internalURL`, `adminURL`.
    fn from_str(s: &str) -> Result<Self, String> {
        let l = s.trim().to_ascii_lowercase();
        match l.strip_suffix("url").unwrap_or(&l) {
            "public" => Ok(Interface::Public),
            "internal" => Ok(Interface::Internal),
            "admin" => Ok(Interface::Admin),
            _ => Err(format!(
                "unknown interface {s:?} (expected public, internal or admin)"
            )),
        }
    }
}

/// One endpoint of the catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogEndpoint {
    pub service_type: String,
    pub interface: String,
    pub region: Option<String>,
    pub url: String,
}

/// The catalog of a token. Endpoints that do not parse are skipped, so that one odd entry of a
/// service we never call cannot block the ones we need.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalog {
    endpoints: Vec<CatalogEndpoint>,
}

impl Catalog {
    /// From the `catalog` array of a Keystone v3 token.
    pub fn from_json(catalog: &Value) -> Catalog {
        let mut endpoints = Vec::new();
        for service in catalog.as_array().map(Vec::as_slice).unwrap_or_default() {
            let Some(stype) = service.get("type").and_then(Value::as_str) else {
                tracing::debug!("catalog entry without a type skipped");
                continue;
            };
            for ep in service
                .get("endpoints")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                let text = |k: &str| ep.get(k).and_then(Value::as_str).map(str::to_string);
                let (Some(interface), Some(url)) = (text("interface"), text("url")) else {
                    tracing::debug!(
                        service_type = stype,
                        "catalog endpoint without interface or url skipped"
                    );
                    continue;
                };
                endpoints.push(CatalogEndpoint {
                    service_type: stype.to_string(),
                    interface,
                    region: text("region_id").or_else(|| text("region")),
                    url,
                });
            }
        }
        Catalog { endpoints }
    }

    pub fn endpoints(&self) -> &[CatalogEndpoint] {
        &self.endpoints
    }

    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    /// The URL for a service. Without a region, a service offered in more than one region is
    /// an error rather than a guess: acting on the wrong region's computes is not an option.
    pub fn endpoint_for(
        &self,
        service: ServiceType,
        interface: Interface,
        region: Option<&str>,
    ) -> Result<String> {
        for stype in service.catalog_types() {
            let matches: Vec<&CatalogEndpoint> = self
                .endpoints
                .iter()
                .filter(|e| e.service_type.eq_ignore_ascii_case(stype))
                .filter(|e| e.interface.parse::<Interface>().ok() == Some(interface))
                .filter(|e| region.is_none_or(|r| e.region.as_deref() == Some(r)))
                .collect();
            let Some(first) = matches.first() else {
                continue;
            };
            if region.is_none() {
                let regions: BTreeSet<&str> =
                    matches.iter().filter_map(|e| e.region.as_deref()).collect();
                if regions.len() > 1 {
                    return Err(Error::config(format!(
                        "{service} ({interface}) is offered in several regions ({}): choose one with \
                         region_name in clouds.yaml, OS_REGION_NAME or --os-region-name",
                        regions.into_iter().collect::<Vec<_>>().join(", ")
                    )));
                }
            }
            return Ok(first.url.clone());
        }
        Err(Error::EndpointNotFound {
            service: service.as_str().to_string(),
            aliases: service
                .catalog_types()
                .iter()
                .skip(1)
                .map(|s| s.to_string())
                .collect(),
            interface: interface.to_string(),
            region: region.map(str::to_string),
            offered: self.describe(),
        })
    }

    /// What the catalog offers, for error messages: `compute (public, internal @ RegionOne), ...`.
    pub fn describe(&self) -> String {
        if self.endpoints.is_empty() {
            return "the catalog is empty (an unscoped token has none: set a project, domain or system scope)"
                .to_string();
        }
        let mut by_type: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for e in &self.endpoints {
            let place = match &e.region {
                Some(r) => format!("{} @ {r}", e.interface),
                None => e.interface.clone(),
            };
            by_type.entry(&e.service_type).or_default().insert(place);
        }
        let parts: Vec<String> = by_type
            .into_iter()
            .map(|(t, places)| {
                format!(
                    "{t} ({})",
                    places.into_iter().collect::<Vec<_>>().join(", ")
                )
            })
            .collect();
        format!("the catalog offers: {}", parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Classify;
    use crate::exit_codes::ExitCode;
    use serde_json::json;

    fn catalog() -> Catalog {
        Catalog::from_json(&json!([
            {"type": "compute", "name": "nova", "endpoints": [
                {"interface": "public", "region_id": "RegionOne", "region": "RegionOne", "url": "https://nova.one/v2.1"},
                {"interface": "internal", "region_id": "RegionOne", "region": "RegionOne", "url": "http://nova.one.internal/v2.1"},
                {"interface": "public", "region_id": "RegionTwo", "region": "RegionTwo", "url": "https://nova.two/v2.1"}]},
            {"type": "volumev3", "name": "cinderv3", "endpoints": [
                {"interface": "public", "region_id": "RegionOne", "url": "https://cinder.one/v3/p1"},
                {"interface": "admin", "region_id": "RegionOne", "url": "https://cinder.one.admin/v3/p1"}]},
            {"type": "volumev2", "endpoints": [
                {"interface": "public", "region_id": "RegionOne", "url": "https://cinder.one/v2/p1"}]},
            {"type": "placement", "endpoints": [
                {"interface": "public", "region": "RegionOne", "url": "https://placement.one"},
                {"interface": "public", "url": 42},
                {"url": "https://nointerface"}]},
            {"name": "no type"},
            "junk",
            {"type": "identity", "endpoints": "junk"}
        ]))
    }

    #[test]
    fn service_type_aliases() {
        for n in [
            "block-storage",
            "block_storage",
            "volumev3",
            "volume",
            "Volume",
            "block-store",
        ] {
            assert_eq!(
                ServiceType::from_name(n),
                Some(ServiceType::BlockStorage),
                "{n}"
            );
        }
        assert_eq!(
            ServiceType::from_name("compute"),
            Some(ServiceType::Compute)
        );
        assert_eq!(
            ServiceType::from_name("placement"),
            Some(ServiceType::Placement)
        );
        assert_eq!(
            ServiceType::from_name("identity"),
            Some(ServiceType::Identity)
        );
        assert_eq!(ServiceType::from_name("volumev2"), None);
        assert_eq!(ServiceType::from_name("image"), None);
    }

    #[test]
    fn interface_spellings() {
        for (s, i) in [
            ("public", Interface::Public),
            ("publicURL", Interface::Public),
            ("internalURL", Interface::Internal),
            ("adminURL", Interface::Admin),
            ("ADMIN", Interface::Admin),
            (" internal ", Interface::Internal),
        ] {
            assert_eq!(s.parse::<Interface>(), Ok(i), "{s}");
        }
        assert!("private".parse::<Interface>().is_err());
        assert!("url".parse::<Interface>().is_err());
    }

    #[test]
    fn picks_by_alias_interface_and_region() {
        let c = catalog();
        let one = Some("RegionOne");
        assert_eq!(
            c.endpoint_for(ServiceType::Compute, Interface::Public, one)
                .unwrap(),
            "https://nova.one/v2.1"
        );
        assert_eq!(
            c.endpoint_for(ServiceType::Compute, Interface::Internal, one)
                .unwrap(),
            "http://nova.one.internal/v2.1"
        );
        assert_eq!(
            c.endpoint_for(ServiceType::Compute, Interface::Public, Some("RegionTwo"))
                .unwrap(),
            "https://nova.two/v2.1"
        );
        assert_eq!(
            c.endpoint_for(ServiceType::BlockStorage, Interface::Public, one)
                .unwrap(),
            "https://cinder.one/v3/p1"
        );
        assert_eq!(
            c.endpoint_for(ServiceType::BlockStorage, Interface::Admin, None)
                .unwrap(),
            "https://cinder.one.admin/v3/p1"
        );
        // `region` (without region_id) is read too; the malformed endpoints are skipped.
        assert_eq!(
            c.endpoint_for(ServiceType::Placement, Interface::Public, one)
                .unwrap(),
            "https://placement.one"
        );
        // Internal compute exists only in RegionOne: no ambiguity without a region.
        assert!(
            c.endpoint_for(ServiceType::Compute, Interface::Internal, None)
                .is_ok()
        );
    }

    #[test]
    fn block_storage_prefers_the_official_type() {
        let c = Catalog::from_json(&json!([
            {"type": "volume", "endpoints": [{"interface": "public", "region_id": "R", "url": "https://old/v1"}]},
            {"type": "block-storage", "endpoints": [{"interface": "public", "region_id": "R", "url": "https://new/v3/p"}]}
        ]));
        assert_eq!(
            c.endpoint_for(ServiceType::BlockStorage, Interface::Public, None)
                .unwrap(),
            "https://new/v3/p"
        );
    }

    #[test]
    fn several_regions_without_a_choice_is_an_error() {
        let e = catalog()
            .endpoint_for(ServiceType::Compute, Interface::Public, None)
            .unwrap_err();
        assert_eq!(e.exit_code(), ExitCode::Config);
        let msg = e.to_string();
        assert!(msg.contains("RegionOne, RegionTwo"), "{msg}");
    }

    #[test]
    fn missing_service_names_what_was_wanted_and_offered() {
        let e = catalog()
            .endpoint_for(
                ServiceType::BlockStorage,
                Interface::Internal,
                Some("RegionOne"),
            )
            .unwrap_err();
        assert_eq!(e.exit_code(), ExitCode::Config);
        let msg = e.to_string();
        for want in [
            "no block-storage endpoint",
            "interface internal",
            "region RegionOne",
            "volumev3",
            "compute (internal @ RegionOne, public @ RegionOne, public @ RegionTwo)",
            "volumev3 (admin @ RegionOne, public @ RegionOne)",
        ] {
            assert!(msg.contains(want), "{want:?} not in {msg}");
        }
        let empty = Catalog::default()
            .endpoint_for(ServiceType::Compute, Interface::Public, None)
            .unwrap_err();
        assert!(empty.to_string().contains("unscoped"), "{empty}");
    }
}
