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
    /// Its availability zone when zones are kept (`None`: any server may go there).
    pub zone: Option<String>,
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
    /// Higher is placed first (before size).
    pub priority: i64,
    /// The availability zone it must stay in (`None`: any).
    pub zone: Option<String>,
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
    pub priority: i64,
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

/// Why `d` cannot go to `t` now (`free`: what `t` has left); `None` if it fits.
fn refusal(d: &Demand, t: &Target, free: &Resources) -> Option<String> {
    if let (Some(dz), Some(tz)) = (&d.zone, &t.zone)
        && dz != tz
    {
        return Some(format!("zone {tz}, not the server's {dz}"));
    }
    misfit(&d.resources, &t.inventories, free)
}

/// At most this many targets are named in a "does not fit" reason (a cloud has thousands).
const WHY_SHOWN: usize = 8;

/// Places `demands` on `targets`, highest priority first, then largest first, each on the
/// target left emptiest.
pub fn plan(demands: &[Demand], targets: &[Target]) -> Plan {
    plan_tiers(
        demands,
        &[Tier {
            targets,
            few: false,
        }],
    )
}

/// A group of targets the plan fills before the next group.
#[derive(Clone, Copy, Debug)]
pub struct Tier<'a> {
    pub targets: &'a [Target],
    /// Use as few of them (in their order) as place as many demands as all of them would:
    /// reserved hosts, each of which must be enabled to be used.
    pub few: bool,
}

/// The demands not placed by one pass.
struct Pass {
    placed: Vec<Vec<String>>,
    assignments: Vec<Assignment>,
    free: Vec<Resources>,
    left: Vec<usize>,
}

/// One pass over `targets` for the demands `todo` (indexes into `demands`, in placing order).
fn place(demands: &[Demand], todo: &[usize], targets: &[Target], caps: &[Resources]) -> Pass {
    let mut free: Vec<Resources> = targets.iter().map(Target::free).collect();
    let mut placed: Vec<Vec<String>> = vec![Vec::new(); targets.len()];
    let mut assignments = Vec::new();
    let mut left = Vec::new();
    for &di in todo {
        let d = &demands[di];
        let mut best: Option<(usize, f64)> = None;
        for (i, t) in targets.iter().enumerate() {
            if refusal(d, t, &free[i]).is_none() {
                let h = headroom(&d.resources, &caps[i], &free[i]);
                if best.is_none_or(|(_, bh)| h > bh) {
                    best = Some((i, h));
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
            None => left.push(di),
        }
    }
    Pass {
        placed,
        assignments,
        free,
        left,
    }
}

/// Places `demands` tier after tier: what the first tier cannot take goes to the second, and
/// so on. Within a tier, as [`plan`]. A `few` tier counts only the hosts it uses.
pub fn plan_tiers(demands: &[Demand], tiers: &[Tier<'_>]) -> Plan {
    let all: Vec<&Target> = tiers.iter().flat_map(|t| t.targets.iter()).collect();
    let mut total_cap = Resources::new();
    for t in &all {
        add(&mut total_cap, &t.capacity());
    }
    let mut order: Vec<usize> = (0..demands.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&demands[a], &demands[b]);
        b.priority
            .cmp(&a.priority)
            .then_with(|| {
                dominant_share(&b.resources, &total_cap)
                    .total_cmp(&dominant_share(&a.resources, &total_cap))
            })
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.id.cmp(&b.id))
    });
    let mut todo = order;
    let mut assignments = Vec::new();
    let mut plans: Vec<TargetPlan> = Vec::new();
    let mut counted: Vec<(&Target, Resources)> = Vec::new();
    for tier in tiers {
        let mut used = tier.targets;
        if tier.few {
            if todo.is_empty() {
                used = &[];
            } else {
                let caps: Vec<Resources> = tier.targets.iter().map(Target::capacity).collect();
                let most = place(demands, &todo, tier.targets, &caps).left.len();
                // The shortest prefix that does as well as the whole tier.
                // Binary search: more hosts never place fewer (near enough for a greedy plan;
                // whatever k is chosen, the pass below places exactly on those k).
                let k = (1..=tier.targets.len())
                    .collect::<Vec<_>>()
                    .partition_point(|&k| {
                        place(demands, &todo, &tier.targets[..k], &caps[..k])
                            .left
                            .len()
                            > most
                    })
                    + 1;
                let k = k.min(tier.targets.len());
                used = &tier.targets[..k];
            }
        }
        let caps: Vec<Resources> = used.iter().map(Target::capacity).collect();
        let pass = place(demands, &todo, used, &caps);
        for (i, t) in used.iter().enumerate() {
            plans.push(TargetPlan {
                host: t.name.clone(),
                capacity: caps[i].clone(),
                free_before: t.free(),
                free_after: pass.free[i].clone(),
                servers: pass.placed[i].clone(),
            });
            counted.push((t, pass.free[i].clone()));
        }
        assignments.extend(pass.assignments);
        todo = pass.left;
    }
    // Why not, against every counted target as the plan left it (a few named).
    let unplaced: Vec<Unplaced> = todo
        .iter()
        .map(|&di| {
            let d = &demands[di];
            let why: Vec<String> = counted
                .iter()
                .filter_map(|(t, free)| refusal(d, t, free).map(|w| format!("{}: {w}", t.name)))
                .collect();
            let why = match why.len() {
                0 => "no target host".to_string(),
                n if n > WHY_SHOWN => format!(
                    "{}; and {} more host(s)",
                    why[..WHY_SHOWN].join("; "),
                    n - WHY_SHOWN
                ),
                _ => why.join("; "),
            };
            Unplaced {
                server_id: d.id.clone(),
                server_name: d.name.clone(),
                resources: d.resources.clone(),
                priority: d.priority,
                why,
            }
        })
        .collect();
    let mut unplaced_total = Resources::new();
    for u in &unplaced {
        add(&mut unplaced_total, &u.resources);
    }
    let mut need_total = Resources::new();
    for d in demands {
        add(&mut need_total, &d.resources);
    }
    let mut free_total = Resources::new();
    for p in &plans {
        add(&mut free_total, &p.free_before);
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
        targets: plans,
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
            zone: None,
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
            priority: 0,
            zone: None,
        }
    }

    fn in_zone<T>(mut x: T, set: impl FnOnce(&mut T)) -> T {
        set(&mut x);
        x
    }

    #[test]
    fn servers_stay_in_their_zone() {
        let t = |n: &str, z: &str| in_zone(target(n, 0, 0), |t| t.zone = Some(z.into()));
        let d = |id: &str, z: &str| in_zone(demand(id, 1, 1024, 10), |d| d.zone = Some(z.into()));
        let p = plan(
            &[d("a", "az2"), d("b", "az2"), d("c", "az1")],
            &[t("c1", "az1"), t("c2", "az1"), t("c4", "az2")],
        );
        assert!(p.fits(), "{p:?}");
        assert_eq!(p.target_of("a"), Some("c4"));
        assert_eq!(p.target_of("b"), Some("c4"));
        assert!(matches!(p.target_of("c"), Some("c1" | "c2")));
        // No room left in az2: the server waits rather than crossing zones, and says why.
        let p = plan(
            &[
                d("a", "az2"),
                d("b", "az2"),
                d("c", "az2"),
                d("d", "az2"),
                d("e", "az2"),
            ],
            &[t("c1", "az1"), t("c4", "az2")],
        );
        assert_eq!(p.assignments.len(), 4);
        assert_eq!(p.unplaced.len(), 1);
        let why = &p.unplaced[0].why;
        assert!(why.contains("c1: zone az1, not the server's az2"), "{why}");
        assert!(why.contains("c4: VCPU 1 > free 0"), "{why}");
    }

    #[test]
    fn higher_priority_is_placed_first_when_room_is_short() {
        // One target with 4 VCPU: the servers of priority 10 and 5 fit, the one of
        // priority 0 does not, although it is listed first and as large.
        let d = |id: &str, vcpu, prio| in_zone(demand(id, vcpu, 512, 1), |d| d.priority = prio);
        let p = plan(
            &[d("big", 2, 0), d("gold", 2, 10), d("silver", 2, 5)],
            &[target("c1", 0, 0)],
        );
        assert_eq!(p.target_of("gold"), Some("c1"));
        assert_eq!(p.target_of("silver"), Some("c1"));
        assert_eq!(p.unplaced.len(), 1);
        assert_eq!(p.unplaced[0].server_id, "big");
        assert_eq!(p.unplaced[0].priority, 0);
        // Equal priorities: largest first, as before.
        let p = plan(
            &[d("a", 1, 0), d("b", 1, 0), d("big", 2, 0), d("c", 1, 0)],
            &[target("c1", 0, 0)],
        );
        assert_eq!(p.target_of("big"), Some("c1"));
        assert_eq!(p.unplaced.len(), 1);
    }

    #[test]
    fn a_few_reserved_hosts_are_used_only_as_needed() {
        let demands: Vec<Demand> = (0..6)
            .map(|i| demand(&format!("s{i}"), 1, 512, 1))
            .collect();
        let reserved = [target("r1", 0, 0), target("r2", 0, 0), target("r3", 0, 0)];
        // 6 VCPU: r1 and r2 (4 each) suffice; r3 is not counted.
        let p = plan_tiers(
            &demands,
            &[Tier {
                targets: &reserved,
                few: true,
            }],
        );
        assert!(p.fits());
        let hosts: Vec<&str> = p.targets.iter().map(|t| t.host.as_str()).collect();
        assert_eq!(hosts, ["r1", "r2"]);
        // Ordinary hosts first (auto_priority): c1 is nearly full, one reserved host takes
        // the rest.
        let ordinary = [target("c1", 2, 0)];
        let p = plan_tiers(
            &demands,
            &[
                Tier {
                    targets: &ordinary,
                    few: false,
                },
                Tier {
                    targets: &reserved,
                    few: true,
                },
            ],
        );
        assert!(p.fits(), "{p:?}");
        let used: Vec<(&str, usize)> = p
            .targets
            .iter()
            .map(|t| (t.host.as_str(), t.servers.len()))
            .collect();
        assert_eq!(used, [("c1", 2), ("r1", 4)]);
        // Nothing left for the reserved tier: none is used.
        let p = plan_tiers(
            &demands[..1],
            &[
                Tier {
                    targets: &ordinary,
                    few: false,
                },
                Tier {
                    targets: &reserved,
                    few: true,
                },
            ],
        );
        assert_eq!(p.targets.len(), 1);
        // Too little everywhere: every reserved host is used, the rest is named.
        let many: Vec<Demand> = (0..20)
            .map(|i| demand(&format!("s{i}"), 1, 512, 1))
            .collect();
        let p = plan_tiers(
            &many,
            &[Tier {
                targets: &reserved,
                few: true,
            }],
        );
        assert_eq!(p.targets.len(), 3);
        assert_eq!(p.unplaced.len(), 8);
        assert!(p.unplaced[0].why.contains("r1: VCPU 1 > free 0"));
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
