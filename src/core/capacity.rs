//! The capacity plan of a host evacuation, from Placement (Nova 2.88+ has no hypervisor
//! statistics): per target, capacity = (total - reserved) x allocation_ratio and free =
//! capacity - usage, for every resource class a server needs; a server fits a target when each
//! amount is within free, min_unit..=max_unit and a multiple of step_size. Servers are placed
//! largest first. A dead source keeps its allocations, so only the targets' usages count.
//! Pure: the caller brings inventories and usages.

use std::collections::BTreeMap;

use serde::Serialize;

/// Resource class -> amount.
pub type Resources = BTreeMap<String, u64>;

/// What the capacity plan reads of a server's flavor (Nova's embedded flavor, 2.47+, as the
/// steps have it).
pub trait FlavorView {
    /// Before 2.47 only.
    fn id(&self) -> Option<&str>;
    /// 2.47+: the flavor's name when the server was created.
    fn original_name(&self) -> Option<&str>;
    fn vcpus(&self) -> Option<u64>;
    /// MiB.
    fn ram(&self) -> Option<u64>;
    /// Root disk, GiB.
    fn disk(&self) -> Option<u64>;
    /// GiB.
    fn ephemeral(&self) -> Option<u64>;
    /// MiB.
    fn swap(&self) -> Option<u64>;
    fn extra_specs(&self) -> &BTreeMap<String, String>;
}

/// One resource class of a Placement resource provider.
#[derive(Clone, Debug, PartialEq)]
pub struct Inventory {
    pub total: u64,
    pub reserved: u64,
    pub min_unit: u64,
    /// `None`: not given (then `total` applies, Placement's default).
    pub max_unit: Option<u64>,
    pub step_size: u64,
    pub allocation_ratio: f64,
}

impl Inventory {
    /// (total - reserved) x allocation_ratio, rounded down as Placement does.
    pub fn capacity(&self) -> u64 {
        let usable = self.total.saturating_sub(self.reserved) as f64;
        let cap = (usable * self.allocation_ratio).floor();
        if cap.is_finite() && cap > 0.0 {
            cap as u64
        } else {
            0
        }
    }

    pub fn max_unit(&self) -> u64 {
        self.max_unit.unwrap_or(self.total)
    }
}

/// The classes a plan table shows, in order.
pub const SHOWN: [&str; 3] = ["VCPU", "MEMORY_MB", "DISK_GB"];

/// What a server asks Placement for, as Nova derives it from the flavor: VCPU (PCPU for
/// `hw:cpu_policy=dedicated`), MEMORY_MB, DISK_GB = root (not when booted from a volume) +
/// ephemeral + swap rounded up to GiB; `resources:CLASS=N` extra specs override. `None` when
/// the flavor's sizes are unknown (Nova older than 2.47).
pub fn server_resources(flavor: &dyn FlavorView, booted_from_volume: bool) -> Option<Resources> {
    let (vcpus, ram) = (flavor.vcpus()?, flavor.ram()?);
    let root = if booted_from_volume {
        0
    } else {
        flavor.disk().unwrap_or(0)
    };
    let swap_gb = flavor.swap().unwrap_or(0).div_ceil(1024);
    let disk = root + flavor.ephemeral().unwrap_or(0) + swap_gb;
    let dedicated = flavor
        .extra_specs()
        .get("hw:cpu_policy")
        .is_some_and(|p| p == "dedicated");
    let mut r = Resources::new();
    r.insert(if dedicated { "PCPU" } else { "VCPU" }.into(), vcpus);
    r.insert("MEMORY_MB".into(), ram);
    r.insert("DISK_GB".into(), disk);
    for (k, v) in flavor.extra_specs() {
        if let Some(class) = k.strip_prefix("resources:")
            && let Ok(n) = v.trim().parse::<u64>()
        {
            r.insert(class.to_string(), n);
        }
    }
    r.retain(|_, v| *v > 0);
    Some(r)
}

/// A candidate target: its Placement inventories and usages.
#[derive(Clone, Debug)]
pub struct Target {
    pub name: String,
    pub inventories: BTreeMap<String, Inventory>,
    pub usages: Resources,
}

impl Target {
    pub fn capacity(&self) -> Resources {
        self.inventories
            .iter()
            .map(|(k, inv)| (k.clone(), inv.capacity()))
            .collect()
    }

    /// capacity - usage per class (0 when overcommitted already).
    pub fn free(&self) -> Resources {
        self.inventories
            .iter()
            .map(|(k, inv)| {
                let used = self.usages.get(k).copied().unwrap_or(0);
                (k.clone(), inv.capacity().saturating_sub(used))
            })
            .collect()
    }
}

/// A server to place.
#[derive(Clone, Debug)]
pub struct Demand {
    pub id: String,
    pub name: String,
    pub resources: Resources,
}

/// Why `need` does not fit on a target whose free resources are `free`; `None` if it fits.
pub fn misfit(
    need: &Resources,
    inventories: &BTreeMap<String, Inventory>,
    free: &Resources,
) -> Option<String> {
    for (class, &amount) in need {
        let Some(inv) = inventories.get(class) else {
            return Some(format!("no {class} inventory"));
        };
        if amount > inv.max_unit() {
            return Some(format!("{class} {amount} > max_unit {}", inv.max_unit()));
        }
        if amount < inv.min_unit {
            return Some(format!("{class} {amount} < min_unit {}", inv.min_unit));
        }
        if inv.step_size > 1 && amount % inv.step_size != 0 {
            return Some(format!(
                "{class} {amount} is not a multiple of step_size {}",
                inv.step_size
            ));
        }
        let left = free.get(class).copied().unwrap_or(0);
        if amount > left {
            return Some(format!("{class} {amount} > free {left}"));
        }
    }
    None
}

/// One target in the plan.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct TargetPlan {
    pub host: String,
    pub capacity: Resources,
    pub free_before: Resources,
    pub free_after: Resources,
    /// Server ids placed here, in placement order.
    pub servers: Vec<String>,
}

/// A server placed on a target.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Assignment {
    pub server_id: String,
    pub server_name: String,
    pub target: String,
    pub resources: Resources,
}

/// A server that fits nowhere, and why not on each target.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Unplaced {
    pub server_id: String,
    pub server_name: String,
    pub resources: Resources,
    pub why: String,
}

/// The plan: who goes where, the targets before and after, what does not fit and by how much.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Plan {
    pub assignments: Vec<Assignment>,
    pub targets: Vec<TargetPlan>,
    pub unplaced: Vec<Unplaced>,
    /// The resources of the servers that do not fit, added up.
    pub unplaced_total: Resources,
    /// Per class: what all servers need beyond what all targets have free (0 when the total
    /// would fit and only the split across targets, max_unit or step_size fails).
    pub shortfall: Resources,
}

impl Plan {
    pub fn fits(&self) -> bool {
        self.unplaced.is_empty()
    }

    pub fn target_of(&self, server_id: &str) -> Option<&str> {
        self.assignments
            .iter()
            .find(|a| a.server_id == server_id)
            .map(|a| a.target.as_str())
    }
}

/// The share of the targets' total capacity a demand takes in its largest class: the order of
/// "largest first" across classes of different units.
fn dominant_share(need: &Resources, total: &Resources) -> f64 {
    need.iter()
        .map(|(k, &v)| {
            let cap = total.get(k).copied().unwrap_or(0);
            if cap == 0 {
                f64::INFINITY
            } else {
                v as f64 / cap as f64
            }
        })
        .fold(0.0, f64::max)
}

/// How empty a target stays after taking `need`: the smallest share of capacity left free
/// over the classes. Placing on the emptiest target spreads the load as the scheduler does.
fn headroom(need: &Resources, cap: &Resources, free: &Resources) -> f64 {
    cap.iter()
        .filter(|(_, c)| **c > 0)
        .map(|(k, &c)| {
            let left = free
                .get(k)
                .copied()
                .unwrap_or(0)
                .saturating_sub(need.get(k).copied().unwrap_or(0));
            left as f64 / c as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// Places `demands` on `targets`, largest first, each on the target left emptiest.
pub fn plan(demands: &[Demand], targets: &[Target]) -> Plan {
    let caps: Vec<Resources> = targets.iter().map(Target::capacity).collect();
    let before: Vec<Resources> = targets.iter().map(Target::free).collect();
    let mut free = before.clone();
    let mut total_cap = Resources::new();
    for c in &caps {
        add(&mut total_cap, c);
    }
    let mut order: Vec<&Demand> = demands.iter().collect();
    order.sort_by(|a, b| {
        dominant_share(&b.resources, &total_cap)
            .total_cmp(&dominant_share(&a.resources, &total_cap))
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.id.cmp(&b.id))
    });
    let mut placed: Vec<Vec<String>> = vec![Vec::new(); targets.len()];
    let mut assignments = Vec::new();
    let mut unplaced = Vec::new();
    for d in order {
        let mut best: Option<(usize, f64)> = None;
        let mut why = Vec::new();
        for (i, t) in targets.iter().enumerate() {
            match misfit(&d.resources, &t.inventories, &free[i]) {
                Some(w) => why.push(format!("{}: {w}", t.name)),
                None => {
                    let h = headroom(&d.resources, &caps[i], &free[i]);
                    if best.is_none_or(|(_, bh)| h > bh) {
                        best = Some((i, h));
                    }
                }
            }
        }
        match best {
            Some((i, _)) => {
                for (k, v) in &d.resources {
                    if let Some(f) = free[i].get_mut(k) {
                        *f = f.saturating_sub(*v);
                    }
                }
                placed[i].push(d.id.clone());
                assignments.push(Assignment {
                    server_id: d.id.clone(),
                    server_name: d.name.clone(),
                    target: targets[i].name.clone(),
                    resources: d.resources.clone(),
                });
            }
            None => unplaced.push(Unplaced {
                server_id: d.id.clone(),
                server_name: d.name.clone(),
                resources: d.resources.clone(),
                why: if why.is_empty() {
                    "no target host".to_string()
                } else {
                    why.join("; ")
                },
            }),
        }
    }
    let mut unplaced_total = Resources::new();
    for u in &unplaced {
        add(&mut unplaced_total, &u.resources);
    }
    let mut need_total = Resources::new();
    for d in demands {
        add(&mut need_total, &d.resources);
    }
    let mut free_total = Resources::new();
    for f in &before {
        add(&mut free_total, f);
    }
    let shortfall = if unplaced.is_empty() {
        Resources::new()
    } else {
        need_total
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.saturating_sub(free_total.get(k).copied().unwrap_or(0)),
                )
            })
            .filter(|(_, v)| *v > 0)
            .collect()
    };
    Plan {
        assignments,
        targets: targets
            .iter()
            .enumerate()
            .map(|(i, t)| TargetPlan {
                host: t.name.clone(),
                capacity: caps[i].clone(),
                free_before: before[i].clone(),
                free_after: free[i].clone(),
                servers: placed[i].clone(),
            })
            .collect(),
        unplaced,
        unplaced_total,
        shortfall,
    }
}

fn add(into: &mut Resources, r: &Resources) {
    for (k, v) in r {
        *into.entry(k.clone()).or_insert(0) += v;
    }
}

/// `VCPU 4, MEMORY_MB 2048, DISK_GB 20` (the shown classes first, others after).
pub fn describe(r: &Resources) -> String {
    let mut parts: Vec<String> = SHOWN
        .iter()
        .filter_map(|k| r.get(*k).map(|v| format!("{k} {v}")))
        .collect();
    parts.extend(
        r.iter()
            .filter(|(k, _)| !SHOWN.contains(&k.as_str()))
            .map(|(k, v)| format!("{k} {v}")),
    );
    if parts.is_empty() {
        "nothing".into()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testkit::TestFlavor;

    fn inv(total: u64, ratio: f64, max_unit: u64) -> Inventory {
        Inventory {
            total,
            reserved: 0,
            min_unit: 1,
            max_unit: Some(max_unit),
            step_size: 1,
            allocation_ratio: ratio,
        }
    }

    #[test]
    fn capacity_from_inventories() {
        // Zed's compute-2 (tests/fixtures/zed/placement-compute-2-inventories.json) and a
        // memory class with reserved memory and an allocation ratio.
        assert_eq!(inv(2, 2.0, 2).capacity(), 4);
        assert_eq!(inv(2, 2.0, 2).max_unit(), 2);
        let mem = Inventory {
            reserved: 512,
            ..inv(8192, 1.5, 8192)
        };
        assert_eq!(mem.capacity(), 11520);
        assert_eq!(inv(1028, 1.0, 1028).capacity(), 1028);
        let odd = Inventory {
            total: 3,
            reserved: 5,
            min_unit: 1,
            max_unit: None,
            step_size: 1,
            allocation_ratio: 2.0,
        };
        assert_eq!(odd.capacity(), 0);
        assert_eq!(odd.max_unit(), 3);
    }

    /// A compute like the Zed harness's: 2 cores x 2.0, 8 GiB, 1028 GB.
    fn target(name: &str, used_vcpu: u64, used_ram: u64) -> Target {
        Target {
            name: name.into(),
            inventories: [
                ("VCPU".to_string(), inv(2, 2.0, 2)),
                ("MEMORY_MB".to_string(), inv(8192, 1.0, 8192)),
                ("DISK_GB".to_string(), inv(1028, 1.0, 1028)),
            ]
            .into(),
            usages: [
                ("VCPU".to_string(), used_vcpu),
                ("MEMORY_MB".to_string(), used_ram),
                ("DISK_GB".to_string(), 0),
            ]
            .into(),
        }
    }

    fn demand(id: &str, vcpu: u64, ram: u64, disk: u64) -> Demand {
        Demand {
            id: id.into(),
            name: format!("vm-{id}"),
            resources: [
                ("VCPU".to_string(), vcpu),
                ("MEMORY_MB".to_string(), ram),
                ("DISK_GB".to_string(), disk),
            ]
            .into(),
        }
    }

    #[test]
    fn flavors_to_resources() {
        let f = TestFlavor {
            vcpus: Some(2),
            ram: Some(2048),
            disk: Some(10),
            ephemeral: Some(5),
            swap: Some(1500),
            ..Default::default()
        };
        let r = server_resources(&f, false).unwrap();
        assert_eq!(describe(&r), "VCPU 2, MEMORY_MB 2048, DISK_GB 17");
        let r = server_resources(&f, true).unwrap();
        assert_eq!(r["DISK_GB"], 7);
        let mut pinned = f.clone();
        pinned
            .extra_specs
            .insert("hw:cpu_policy".into(), "dedicated".into());
        pinned
            .extra_specs
            .insert("resources:CUSTOM_GPU".into(), "1".into());
        let r = server_resources(&pinned, false).unwrap();
        assert_eq!(r.get("PCPU"), Some(&2));
        assert_eq!(r.get("VCPU"), None);
        assert_eq!(r.get("CUSTOM_GPU"), Some(&1));
        assert_eq!(server_resources(&TestFlavor::default(), false), None);
    }

    #[test]
    fn everything_fits_and_is_spread() {
        // The Zed harness: 4 m1.tiny from compute-1 onto two empty computes.
        let targets = [target("compute-2", 0, 0), target("compute-3", 0, 0)];
        let demands: Vec<Demand> = (1..=4).map(|i| demand(&i.to_string(), 1, 512, 1)).collect();
        let p = plan(&demands, &targets);
        assert!(p.fits(), "{p:?}");
        assert_eq!(p.targets[0].servers.len(), 2);
        assert_eq!(p.targets[1].servers.len(), 2);
        assert_eq!(p.targets[0].free_before["VCPU"], 4);
        assert_eq!(p.targets[0].free_after["VCPU"], 2);
        assert_eq!(p.targets[0].free_after["MEMORY_MB"], 8192 - 1024);
        assert!(p.shortfall.is_empty());
        assert!(p.target_of("1").is_some());
    }

    #[test]
    fn largest_first_and_refusal_with_numbers() {
        // One target with 3 VCPU free: 2+1 fit, the second 2 does not.
        let targets = [target("compute-2", 1, 0)];
        let demands = [
            demand("a", 1, 512, 1),
            demand("b", 2, 2048, 1),
            demand("c", 2, 2048, 1),
        ];
        let p = plan(&demands, &targets);
        assert!(!p.fits());
        // The big ones go first: b and c are placed before a is considered.
        assert_eq!(p.assignments[0].server_id, "b");
        let missing: Vec<&str> = p.unplaced.iter().map(|u| u.server_id.as_str()).collect();
        assert_eq!(missing, ["c"]);
        assert!(
            p.unplaced[0].why.contains("compute-2: VCPU 2 > free"),
            "{p:?}"
        );
        assert_eq!(p.shortfall.get("VCPU"), Some(&2), "5 needed, 3 free");
        assert_eq!(p.shortfall.get("MEMORY_MB"), None);
        assert_eq!(
            describe(&p.unplaced_total),
            "VCPU 2, MEMORY_MB 2048, DISK_GB 1"
        );
    }

    #[test]
    fn max_unit_and_step_size() {
        let mut t = target("compute-2", 0, 0);
        let p = plan(&[demand("big", 3, 512, 1)], std::slice::from_ref(&t));
        assert!(p.unplaced[0].why.contains("VCPU 3 > max_unit 2"), "{p:?}");
        assert!(p.shortfall.is_empty(), "the total would fit: {p:?}");
        if let Some(m) = t.inventories.get_mut("MEMORY_MB") {
            m.step_size = 256;
        }
        let p = plan(&[demand("odd", 1, 300, 1)], std::slice::from_ref(&t));
        assert!(p.unplaced[0].why.contains("step_size 256"), "{p:?}");
        let p = plan(&[demand("even", 1, 512, 1)], &[t]);
        assert!(p.fits());
    }

    #[test]
    fn overcommitted_and_missing_classes() {
        // usage above capacity (a ratio lowered after the fact): free is 0, not negative.
        let t = target("compute-2", 9, 0);
        assert_eq!(t.free()["VCPU"], 0);
        let mut gpu = demand("g", 1, 512, 1);
        gpu.resources.insert("CUSTOM_GPU".into(), 1);
        let p = plan(&[gpu], &[target("compute-3", 0, 0)]);
        assert!(p.unplaced[0].why.contains("no CUSTOM_GPU inventory"));
        let p = plan(&[demand("x", 1, 1, 1)], &[]);
        assert_eq!(p.unplaced[0].why, "no target host");
    }

    #[test]
    fn several_targets_fill_up_in_turn() {
        let targets = [target("compute-2", 3, 0), target("compute-3", 0, 0)];
        let demands: Vec<Demand> = (0..5).map(|i| demand(&i.to_string(), 1, 256, 1)).collect();
        let p = plan(&demands, &targets);
        assert!(p.fits(), "{p:?}");
        assert_eq!(p.targets[0].servers.len(), 1);
        assert_eq!(p.targets[1].servers.len(), 4);
        let p = plan(
            &(0..6)
                .map(|i| demand(&i.to_string(), 1, 256, 1))
                .collect::<Vec<_>>(),
            &targets,
        );
        assert_eq!(p.unplaced.len(), 1);
        assert_eq!(p.shortfall.get("VCPU"), Some(&1));
    }
}
