//! Placement: resource providers, inventories, usages and allocations (shapes in
//! `tests/fixtures/zed/placement-*.json`). The session negotiates
//! `OpenStack-API-Version: placement 1.X` (up to 1.39).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::Result;
use super::catalog::ServiceType;
use super::microversion::Microversion;
use super::session::{Request, Session, encode_segment};

/// One resource provider (a compute node is the root provider named after its hypervisor).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceProvider {
    pub uuid: String,
    pub name: String,
    #[serde(default)]
    pub generation: Option<u64>,
    #[serde(default)]
    pub parent_provider_uuid: Option<String>,
    #[serde(default)]
    pub root_provider_uuid: Option<String>,
}

/// One resource class of a provider's inventory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    pub total: u64,
    #[serde(default)]
    pub reserved: u64,
    #[serde(default = "one")]
    pub min_unit: u64,
    /// Placement's default is `total`; `None` here means "not given" (then `total` applies).
    #[serde(default)]
    pub max_unit: Option<u64>,
    #[serde(default = "one")]
    pub step_size: u64,
    #[serde(default = "ratio_one")]
    pub allocation_ratio: f64,
}

fn one() -> u64 {
    1
}

fn ratio_one() -> f64 {
    1.0
}

#[derive(Deserialize)]
struct ProvidersBody {
    resource_providers: Vec<ResourceProvider>,
}

#[derive(Deserialize)]
struct InventoriesBody {
    inventories: BTreeMap<String, Inventory>,
}

#[derive(Deserialize)]
struct UsagesBody {
    usages: BTreeMap<String, u64>,
}

/// `GET /allocations/{consumer}`: resources per provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerAllocations {
    pub allocations: BTreeMap<String, ProviderAllocation>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderAllocation {
    pub resources: BTreeMap<String, u64>,
}

/// One resource class of a provider in `provider_summaries`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassSummary {
    /// (total - reserved) x allocation_ratio.
    pub capacity: u64,
    pub used: u64,
}

/// One provider of `GET /allocation_candidates`' `provider_summaries`: no min_unit,
/// max_unit or step_size, and only the requested classes before 1.27.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderSummary {
    pub resources: BTreeMap<String, ClassSummary>,
    /// 1.29+.
    #[serde(default)]
    pub root_provider_uuid: Option<String>,
}

#[derive(Deserialize)]
struct CandidatesBody {
    // `allocation_requests` is not read: the summaries say all the plan needs.
    provider_summaries: HashMap<String, ProviderSummary>,
}

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

    /// `GET /resource_providers` (optionally `?name=`).
    pub fn resource_providers(&self, name: Option<&str>) -> Result<Vec<ResourceProvider>> {
        let req =
            Request::get(ServiceType::Placement, "/resource_providers").query_opt("name", name);
        Ok(self.session.json::<ProvidersBody>(&req)?.resource_providers)
    }

    /// `GET /resource_providers/{uuid}/inventories`.
    pub fn inventories(&self, uuid: &str) -> Result<BTreeMap<String, Inventory>> {
        let req = Request::get(
            ServiceType::Placement,
            format!("/resource_providers/{}/inventories", encode_segment(uuid)),
        );
        Ok(self.session.json::<InventoriesBody>(&req)?.inventories)
    }

    /// `GET /resource_providers/{uuid}/usages`.
    pub fn usages(&self, uuid: &str) -> Result<BTreeMap<String, u64>> {
        let req = Request::get(
            ServiceType::Placement,
            format!("/resource_providers/{}/usages", encode_segment(uuid)),
        );
        Ok(self.session.json::<UsagesBody>(&req)?.usages)
    }

    /// `GET /allocation_candidates?resources=...` (1.10+), without `limit`: every provider
    /// that can take `resources` now, by UUID.
    pub fn allocation_candidates(
        &self,
        resources: &BTreeMap<String, u64>,
    ) -> Result<HashMap<String, ProviderSummary>> {
        let q: Vec<String> = resources.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        let req = Request::get(ServiceType::Placement, "/allocation_candidates")
            .query("resources", q.join(","));
        Ok(self
            .session
            .json::<CandidatesBody>(&req)?
            .provider_summaries)
    }

    /// `GET /allocations/{consumer}` (a server's allocations on every provider).
    pub fn allocations(&self, consumer: &str) -> Result<ConsumerAllocations> {
        let req = Request::get(
            ServiceType::Placement,
            format!("/allocations/{}", encode_segment(consumer)),
        );
        self.session.json(&req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/zed");

    const INVENTORIES: &str = r#"{"resource_provider_generation": 2, "inventories": {
        "VCPU": {"total": 2, "reserved": 0, "min_unit": 1, "max_unit": 2, "step_size": 1, "allocation_ratio": 2.0},
        "MEMORY_MB": {"total": 8192, "reserved": 512, "min_unit": 1, "max_unit": 8192, "step_size": 1, "allocation_ratio": 1.5},
        "DISK_GB": {"total": 1028, "reserved": 0, "min_unit": 1, "max_unit": 1028, "step_size": 1, "allocation_ratio": 1.0}}}"#;

    #[test]
    fn inventories_parse_with_placement_defaults() {
        let b: InventoriesBody = serde_json::from_str(INVENTORIES).unwrap();
        let vcpu = &b.inventories["VCPU"];
        assert_eq!(
            (vcpu.total, vcpu.reserved, vcpu.allocation_ratio),
            (2, 0, 2.0)
        );
        assert_eq!(vcpu.max_unit, Some(2));
        let mem = &b.inventories["MEMORY_MB"];
        assert_eq!(
            (mem.total, mem.reserved, mem.allocation_ratio),
            (8192, 512, 1.5)
        );
        let sparse: InventoriesBody =
            serde_json::from_str(r#"{"inventories": {"VCPU": {"total": 3}}}"#).unwrap();
        let v = &sparse.inventories["VCPU"];
        assert_eq!(
            (
                v.reserved,
                v.min_unit,
                v.max_unit,
                v.step_size,
                v.allocation_ratio
            ),
            (0, 1, None, 1, 1.0),
            "Placement's defaults"
        );
    }

    #[test]
    fn parses_allocation_candidates_at_1_10_and_1_39() {
        let old = r#"{"allocation_requests": [{"allocations": [{"resource_provider": {"uuid": "a"},
            "resources": {"VCPU": 1}}]}],
            "provider_summaries": {"a": {"resources": {"VCPU": {"capacity": 4, "used": 1}}}}}"#;
        let b: CandidatesBody = serde_json::from_str(old).unwrap();
        assert_eq!(
            b.provider_summaries["a"].resources["VCPU"],
            ClassSummary {
                capacity: 4,
                used: 1
            }
        );
        assert_eq!(b.provider_summaries["a"].root_provider_uuid, None);
        let new = r#"{"allocation_requests": [{"allocations": {"a": {"resources": {"VCPU": 1}}},
            "mappings": {"": ["a"]}}],
            "provider_summaries": {"a": {"resources": {"VCPU": {"capacity": 4, "used": 1},
              "MEMORY_MB": {"capacity": 2048, "used": 0}}, "traits": ["COMPUTE_NODE"],
              "parent_provider_uuid": null, "root_provider_uuid": "a"}}}"#;
        let b: CandidatesBody = serde_json::from_str(new).unwrap();
        assert_eq!(b.provider_summaries["a"].resources.len(), 2);
        assert_eq!(
            b.provider_summaries["a"].root_provider_uuid.as_deref(),
            Some("a")
        );
        for bad in [
            r#"{"allocation_requests": []}"#,
            r#"{"provider_summaries": {"a": {"resources": {"VCPU": {"capacity": 4}}}}}"#,
            r#"{"provider_summaries": {"a": {"resources": {"VCPU": {"capacity": -1, "used": 0}}}}}"#,
        ] {
            assert!(
                serde_json::from_str::<CandidatesBody>(bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn parses_the_zed_samples() {
        let read = |n: &str| {
            std::fs::read_to_string(format!("{SAMPLES}/{n}")).unwrap_or_else(|e| panic!("{n}: {e}"))
        };
        {
            let t = read("placement-resource_providers.json");
            let b: ProvidersBody = serde_json::from_str(&t).unwrap();
            assert!(b.resource_providers.iter().any(|p| p.name == "compute-1"));
        }
        {
            let t = read("placement-compute-2-inventories.json");
            let b: InventoriesBody = serde_json::from_str(&t).unwrap();
            let v = &b.inventories["VCPU"];
            assert_eq!((v.total, v.reserved, v.allocation_ratio), (2, 0, 2.0));
        }
        {
            let t = read("placement-compute-1-usages-after-evacuate.json");
            let b: UsagesBody = serde_json::from_str(&t).unwrap();
            assert!(b.usages.contains_key("VCPU"));
        }
        {
            // Zed's summaries against its inventories and usages of the same provider:
            // capacity = (total - reserved) x allocation_ratio, used = usage.
            let t = read("placement-allocation_candidates-m1.tiny.json");
            let b: CandidatesBody = serde_json::from_str(&t).unwrap();
            let rps: ProvidersBody =
                serde_json::from_str(&read("placement-resource_providers.json")).unwrap();
            let uuid = &rps
                .resource_providers
                .iter()
                .find(|p| p.name == "compute-2")
                .unwrap()
                .uuid;
            let inv: InventoriesBody =
                serde_json::from_str(&read("placement-compute-2-inventories.json")).unwrap();
            let used: UsagesBody =
                serde_json::from_str(&read("placement-compute-2-usages.json")).unwrap();
            let sum = &b.provider_summaries[uuid];
            for (class, i) in &inv.inventories {
                let c = sum.resources[class];
                let capacity = ((i.total - i.reserved) as f64 * i.allocation_ratio) as u64;
                assert_eq!(c.capacity, capacity, "{class}");
                assert_eq!(c.used, used.usages[class], "{class}");
            }
            assert_eq!(sum.root_provider_uuid.as_deref(), Some(uuid.as_str()));
        }
        {
            let t = read("placement-vm-1-allocations-after-evacuate.json");
            let b: ConsumerAllocations = serde_json::from_str(&t).unwrap();
            assert_eq!(b.allocations.len(), 2, "source and target both hold it");
        }
    }
}
