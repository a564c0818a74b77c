//! `GET /allocation_candidates` (1.10+), as Placement's API reference documents it: the
//! unnumbered request group (`resources`, `required` with `!` from 1.22 and `in:` from 1.39,
//! `member_of` from 1.21, `in_tree` from 1.31, `root_required` from 1.35), `limit` from 1.16,
//! and the answer's shape at each microversion. Every provider here is a compute node without
//! children, so a tree is one provider. Granular groups (`resources1=...`) are refused with a
//! 400 naming them: the simulator does not model them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value, json};

use super::state::{PlacementState, Provider, Resources};
use crate::http::{ApiKind, Reply, SimRequest};
use crate::microversion::Version;
use crate::world::{ServiceApi, World};

/// The trait nova-compute sets on its provider while its service is disabled (Train+); Nova's
/// scheduler asks `required=!COMPUTE_STATUS_DISABLED`.
pub const COMPUTE_STATUS_DISABLED: &str = "COMPUTE_STATUS_DISABLED";

/// Standard resource classes (os-resource-classes); `CUSTOM_*` ones exist once an inventory
/// has them.
const STANDARD_CLASSES: &[&str] = &[
    "VCPU",
    "MEMORY_MB",
    "DISK_GB",
    "PCI_DEVICE",
    "SRIOV_NET_VF",
    "NUMA_SOCKET",
    "NUMA_CORE",
    "NUMA_THREAD",
    "NUMA_MEMORY_MB",
    "IPV4_ADDRESS",
    "VGPU",
    "VGPU_DISPLAY_HEAD",
    "NET_BW_EGR_KILOBIT_PER_SEC",
    "NET_BW_IGR_KILOBIT_PER_SEC",
    "PCPU",
    "MEM_ENCRYPTION_CONTEXT",
    "FPGA",
    "PGPU",
    "NET_PACKET_RATE_KILOPACKET_PER_SEC",
    "NET_PACKET_RATE_EGR_KILOPACKET_PER_SEC",
    "NET_PACKET_RATE_IGR_KILOPACKET_PER_SEC",
];

fn bad(detail: impl AsRef<str>) -> Reply {
    ApiKind::Placement.error(400, detail.as_ref())
}

/// The unnumbered request group and the request-wide parameters.
#[derive(Debug, Default)]
struct Query {
    resources: Resources,
    /// Each set: at least one of its traits (a plain trait is a set of one).
    required: Vec<BTreeSet<String>>,
    forbidden: BTreeSet<String>,
    /// Each set: at least one of its aggregates.
    member_of: Vec<BTreeSet<String>>,
    not_member_of: BTreeSet<String>,
    in_tree: Option<String>,
    root_required: Vec<BTreeSet<String>>,
    root_forbidden: BTreeSet<String>,
    limit: Option<usize>,
}

/// The parameters each microversion's schema allows (anything else is a 400).
fn allowed(key: &str, v: Version) -> bool {
    match key {
        "resources" => true,
        "limit" => v.at_least(1, 16),
        "required" => v.at_least(1, 17),
        "member_of" => v.at_least(1, 21),
        "group_policy" => v.at_least(1, 25),
        "in_tree" => v.at_least(1, 31),
        "root_required" => v.at_least(1, 35),
        "same_subtree" => v.at_least(1, 36),
        _ => false,
    }
}

/// A granular group's key (`resources1`, `required_NET`, ...) at 1.25+.
fn granular(key: &str, v: Version) -> bool {
    if !v.at_least(1, 25) {
        return false;
    }
    ["resources", "required", "member_of", "in_tree"]
        .iter()
        .any(|p| key.strip_prefix(p).is_some_and(|s| !s.is_empty()))
}

fn is_uuid_like(s: &str) -> bool {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

/// `resources=VCPU:2,MEMORY_MB:1024` (Placement's messages).
fn parse_resources(qs: &str) -> Result<Resources, Reply> {
    const FORM: &str = "Badly formed resources parameter. Expected resources query string \
                        parameter in form: ?resources=VCPU:2,MEMORY_MB:1024.";
    if qs.trim().is_empty() {
        return Err(bad(format!("{FORM} Got: empty string.")));
    }
    let mut out = Resources::new();
    for rt in qs.split(',') {
        let mut parts = rt.split(':');
        let (Some(rc), Some(amount), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad(format!("{FORM} Got: {rt}.")));
        };
        let Ok(n) = amount.trim().parse::<i64>() else {
            return Err(bad(format!(
                "Requested resource {rc} expected positive integer amount. Got: {amount}."
            )));
        };
        if n < 1 {
            return Err(bad(format!(
                "Requested resource {rc} requires amount >= 1. Got: {n}."
            )));
        }
        out.insert(rc.to_string(), n as u64);
    }
    Ok(out)
}

type Traits = (Vec<BTreeSet<String>>, BTreeSet<String>);

/// `required=T1,!T2` (1.22+ for `!`), `required=in:T1,T2` (1.39+).
fn parse_traits(val: &str, v: Version, into: &mut Traits) -> Result<(), Reply> {
    if let Some(any) = val.strip_prefix("in:") {
        if !v.at_least(1, 39) {
            return Err(bad(format!(
                "Invalid query string parameters: The format 'in:HW_CPU_X86_VMX,CUSTOM_MAGIC' \
                 only supported since microversion 1.39. Got: {val}"
            )));
        }
        let set: BTreeSet<String> = any.split(',').map(|t| t.trim().to_string()).collect();
        if set.iter().any(String::is_empty) {
            return Err(bad(format!(
                "Invalid query string parameters: Expected 'required' parameter value of the \
                 form: in:HW_CPU_X86_VMX,CUSTOM_MAGIC. Got an empty trait in: {val}"
            )));
        }
        if set.iter().any(|t| t.starts_with('!')) {
            return Err(bad(format!(
                "Invalid query string parameters: The format 'in:HW_CPU_X86_VMX,CUSTOM_MAGIC' \
                 does not support forbidden traits. Got: {val}"
            )));
        }
        into.0.push(set);
        return Ok(());
    }
    let allow_forbidden = v.at_least(1, 22);
    let all: Vec<&str> = val.split(',').map(str::trim).collect();
    let forbidden: Vec<&str> = all
        .iter()
        .filter_map(|t| t.strip_prefix('!'))
        .map(|t| t.trim_start_matches('!'))
        .collect();
    if all.iter().chain(&forbidden).any(|t| t.is_empty()) {
        let form = if allow_forbidden {
            "HW_CPU_X86_VMX,!CUSTOM_MAGIC"
        } else {
            "HW_CPU_X86_VMX,CUSTOM_MAGIC"
        };
        return Err(bad(format!(
            "Invalid query string parameters: Expected 'required' parameter value of the form: \
             {form}. Got an empty trait in: {val}"
        )));
    }
    if !forbidden.is_empty() && !allow_forbidden {
        return Err(bad(format!(
            "Invalid query string parameters: Expected 'required' parameter value of the form: \
             HW_CPU_X86_VMX,CUSTOM_MAGIC. Got: {val}"
        )));
    }
    for t in all.iter().filter(|t| !t.starts_with('!')) {
        into.0.push([t.to_string()].into());
    }
    into.1.extend(forbidden.iter().map(|t| t.to_string()));
    Ok(())
}

/// `member_of=UUID`, `in:U1,U2`, `!UUID` and `!in:U1,U2` (1.32+ for `!`).
fn parse_member_of(val: &str, v: Version, q: &mut Query) -> Result<(), Reply> {
    if val.contains(',') && !(val.starts_with("in:") || val.starts_with("!in:")) {
        return Err(bad(format!(
            "Multiple values for 'member_of' must be prefixed with the 'in:' or '!in:' keyword \
             using the valid microversion. Got: {val}"
        )));
    }
    let (forbid, list) = if let Some(r) = val.strip_prefix("!in:") {
        (true, r)
    } else if let Some(r) = val.strip_prefix('!') {
        (true, r)
    } else if let Some(r) = val.strip_prefix("in:") {
        (false, r)
    } else {
        (false, val)
    };
    let set: BTreeSet<String> = list.split(',').map(str::to_string).collect();
    if let Some(u) = set.iter().find(|u| !is_uuid_like(u)) {
        return Err(bad(format!(
            "Invalid query string parameters: Expected 'member_of' parameter to contain valid \
             UUID(s). Got: {u}"
        )));
    }
    if forbid {
        if !v.at_least(1, 32) {
            return Err(bad(
                "Forbidden member_of parameters are not supported in the specified microversion",
            ));
        }
        q.not_member_of.extend(set);
    } else {
        q.member_of.push(set);
    }
    Ok(())
}

fn parse(req: &SimRequest, v: Version, known_classes: &BTreeSet<String>) -> Result<Query, Reply> {
    if let Some((k, _)) = req.query.iter().find(|(k, _)| granular(k, v)) {
        return Err(bad(format!(
            "Invalid query string parameters: the simulator models the unnumbered request \
             group only ('{k}')"
        )));
    }
    if let Some((k, _)) = req.query.iter().find(|(k, _)| !allowed(k, v)) {
        return Err(bad(format!(
            "Invalid query string parameters: Additional properties are not allowed ('{k}' was \
             unexpected)"
        )));
    }
    let all = |name: &str| -> Vec<&str> {
        req.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, val)| val.as_str())
            .collect()
    };
    let mut q = Query::default();
    let resources = all("resources");
    match resources.as_slice() {
        [] if v.at_least(1, 25) => {
            return Err(bad(
                "At least one request group (`resources` or `resources{$S}`) is required.",
            ));
        }
        [] => {
            return Err(bad(
                "Invalid query string parameters: 'resources' is a required property",
            ));
        }
        [r, ..] => q.resources = parse_resources(r)?,
    }
    if let Some(rc) = q.resources.keys().find(|rc| !known_classes.contains(*rc)) {
        return Err(bad(format!(
            "Invalid resource class in resources parameter: No such resource class {rc}."
        )));
    }
    if let Some(l) = req.query_param("limit") {
        let ok = l.starts_with(|c: char| ('1'..='9').contains(&c))
            && l.chars().all(|c| c.is_ascii_digit());
        if !ok {
            return Err(bad(format!(
                "Invalid query string parameters: '{l}' does not match '^[1-9][0-9]*$'"
            )));
        }
        q.limit = Some(l.parse().unwrap_or(usize::MAX));
    }
    let required = all("required");
    if required.len() > 1 && !v.at_least(1, 39) {
        return Err(bad(
            "Invalid query string parameters: the 'required' parameter may be given once \
             before microversion 1.39",
        ));
    }
    let mut traits: Traits = Default::default();
    for r in required {
        parse_traits(r, v, &mut traits)?;
    }
    (q.required, q.forbidden) = traits;
    let member_of = all("member_of");
    if member_of.len() > 1 && !v.at_least(1, 24) {
        return Err(bad("Multiple member_of parameters are not supported"));
    }
    for m in member_of {
        parse_member_of(m, v, &mut q)?;
    }
    if let Some(t) = req.query_param("in_tree") {
        if !is_uuid_like(t.trim()) {
            return Err(bad(format!(
                "Invalid query string parameters: Expected 'in_tree' parameter to be a format of \
                 uuid. Got: {t}"
            )));
        }
        q.in_tree = Some(t.trim().to_string());
    }
    let mut root: Traits = Default::default();
    for r in all("root_required") {
        parse_traits(r, v, &mut root)?;
    }
    (q.root_required, q.root_forbidden) = root;
    Ok(q)
}

/// A trait Placement would know: every standard one (no `CUSTOM_` prefix, upper case), and the
/// custom ones some provider has.
fn known_trait(t: &str, custom: &BTreeSet<String>) -> bool {
    if t.starts_with("CUSTOM_") {
        return custom.contains(t);
    }
    !t.is_empty()
        && t.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// What a provider is now, with the Nova-side facts Placement mirrors (the disabled trait,
/// the host aggregates).
struct View<'a> {
    rp: &'a Provider,
    traits: BTreeSet<String>,
    aggregates: BTreeSet<&'a str>,
}

fn views(world: &World) -> Vec<View<'_>> {
    let host_of: HashMap<&str, &str> = world
        .compute
        .hypervisors
        .iter()
        .map(|(h, u)| (u.as_str(), h.as_str()))
        .collect();
    let disabled: BTreeSet<&str> = world
        .services_of(ServiceApi::Nova)
        .filter(|s| s.binary == "nova-compute" && s.disabled)
        .map(|s| s.host.as_str())
        .collect();
    world
        .placement
        .providers
        .iter()
        .map(|rp| {
            let host = host_of.get(rp.uuid.as_str()).copied().unwrap_or(&rp.name);
            let mut traits = rp.traits.clone();
            if disabled.contains(host) {
                traits.insert(COMPUTE_STATUS_DISABLED.to_string());
            }
            // Nova mirrors its host aggregates into Placement (same UUIDs).
            let aggregates = world
                .compute
                .aggregates
                .iter()
                .filter(|a| a.hosts.iter().any(|h| h == host))
                .map(|a| a.uuid.as_str())
                .collect();
            View {
                rp,
                traits,
                aggregates,
            }
        })
        .collect()
}

fn traits_ok(
    have: &BTreeSet<String>,
    required: &[BTreeSet<String>],
    no: &BTreeSet<String>,
) -> bool {
    required
        .iter()
        .all(|any| any.iter().any(|t| have.contains(t)))
        && no.iter().all(|t| !have.contains(t))
}

/// Whether the request fits the provider now: capacity - used, min_unit, max_unit, step_size.
fn fits(rp: &Provider, used: &Resources, need: &Resources) -> bool {
    need.iter().all(|(class, &n)| {
        rp.inventories.get(class).is_some_and(|inv| {
            let u = used.get(class).copied().unwrap_or(0);
            n >= inv.min_unit
                && n <= inv.max_unit
                && n % inv.step_size.max(1) == 0
                && u + n <= inv.capacity()
        })
    })
}

/// `GET /allocation_candidates`.
pub fn list(world: &World, req: &SimRequest, v: Version) -> Reply {
    let p: &PlacementState = &world.placement;
    let custom_classes: BTreeSet<String> = p
        .providers
        .iter()
        .flat_map(|rp| rp.inventories.keys().cloned())
        .collect();
    let mut known: BTreeSet<String> = STANDARD_CLASSES.iter().map(|c| c.to_string()).collect();
    known.extend(custom_classes);
    let q = match parse(req, v, &known) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let views = views(world);
    let custom_traits: BTreeSet<String> = views
        .iter()
        .flat_map(|x| {
            x.traits
                .iter()
                .filter(|t| t.starts_with("CUSTOM_"))
                .cloned()
        })
        .collect();
    let unknown: Vec<&str> = q
        .required
        .iter()
        .flatten()
        .chain(&q.forbidden)
        .chain(q.root_required.iter().flatten())
        .chain(&q.root_forbidden)
        .filter(|t| !known_trait(t, &custom_traits))
        .map(String::as_str)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if !unknown.is_empty() {
        return bad(format!("No such trait(s): {}.", unknown.join(", ")));
    }
    let usages = p.all_usages();
    let none = Resources::new();
    let mut chosen: Vec<(&Provider, &Resources, &BTreeSet<String>)> = views
        .iter()
        .filter(|x| q.in_tree.as_ref().is_none_or(|t| *t == x.rp.uuid))
        .filter(|x| traits_ok(&x.traits, &q.required, &q.forbidden))
        .filter(|x| traits_ok(&x.traits, &q.root_required, &q.root_forbidden))
        .filter(|x| {
            q.member_of
                .iter()
                .all(|any| any.iter().any(|a| x.aggregates.contains(a.as_str())))
                && q.not_member_of
                    .iter()
                    .all(|a| !x.aggregates.contains(a.as_str()))
        })
        .map(|x| {
            (
                x.rp,
                usages.get(x.rp.uuid.as_str()).unwrap_or(&none),
                &x.traits,
            )
        })
        .filter(|(rp, used, _)| fits(rp, used, &q.resources))
        .collect();
    if let Some(l) = q.limit {
        chosen.truncate(l);
    }
    let requests: Vec<Value> = chosen
        .iter()
        .map(|(rp, _, _)| allocation_request(&rp.uuid, &q.resources, v))
        .collect();
    let mut summaries = Map::new();
    for (rp, used, traits) in &chosen {
        summaries.insert(rp.uuid.clone(), summary(rp, used, traits, &q.resources, v));
    }
    Reply::json(
        200,
        json!({"allocation_requests": requests, "provider_summaries": summaries}),
    )
}

fn allocation_request(uuid: &str, need: &Resources, v: Version) -> Value {
    if !v.at_least(1, 12) {
        return json!({"allocations": [{"resource_provider": {"uuid": uuid}, "resources": need}]});
    }
    let mut out = json!({"allocations": {uuid: {"resources": need}}});
    if v.at_least(1, 34) {
        out["mappings"] = json!({"": [uuid]});
    }
    out
}

/// Capacity and use of the requested classes (every class from 1.27), traits from 1.17, the
/// tree from 1.29.
fn summary(
    rp: &Provider,
    used: &Resources,
    traits: &BTreeSet<String>,
    need: &Resources,
    v: Version,
) -> Value {
    let resources: BTreeMap<&String, Value> = rp
        .inventories
        .iter()
        .filter(|(class, _)| v.at_least(1, 27) || need.contains_key(*class))
        .map(|(class, inv)| {
            let u = used.get(class).copied().unwrap_or(0);
            (class, json!({"capacity": inv.capacity(), "used": u}))
        })
        .collect();
    let mut out = json!({ "resources": resources });
    if v.at_least(1, 17) {
        out["traits"] = json!(traits);
    }
    if v.at_least(1, 29) {
        out["parent_provider_uuid"] = Value::Null;
        out["root_provider_uuid"] = json!(rp.uuid);
    }
    out
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderValue, Method};

    use super::*;
    use crate::scenario::Scenario;
    use crate::{clock, keystone, placement};

    const SCENARIO: &str = r#"
[cloud]
service_down_time = 60
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
placement = { vcpus = 2, cpu_allocation_ratio = 1.0 }
[[hosts]]
name = "c2"
role = "compute"
[[hosts]]
name = "c3"
role = "compute"
disabled_reason = "evacctl: reserved"
[[aggregates]]
name = "fast"
hosts = ["c2"]
[[flavors]]
name = "m1.small"
vcpus = 1
ram = 512
disk = 1
[[servers]]
name = "vm-{n}"
count = 2
host = "c1"
flavor = "m1.small"
"#;

    fn world() -> (World, String) {
        let s = Scenario::from_toml_str(SCENARIO, "t").unwrap();
        let mut w = World::new(&s, clock::now());
        let token = keystone::token_for_tests(&mut w, "admin", "pw", "admin");
        (w, token)
    }

    fn get(w: &mut World, t: &str, version: &str, query: &str) -> (u16, Value) {
        let mut req = SimRequest::new(
            Method::GET,
            &format!("/placement/allocation_candidates{query}"),
        );
        req.now = clock::now();
        req.headers
            .insert("x-auth-token", HeaderValue::from_str(t).unwrap());
        req.headers.insert(
            "openstack-api-version",
            HeaderValue::from_str(&format!("placement {version}")).unwrap(),
        );
        let r = placement::handle(w, &req);
        (r.status.as_u16(), r.body_json().unwrap_or(Value::Null))
    }

    fn uuid_of(w: &World, host: &str) -> String {
        w.compute.hypervisors[host].clone()
    }

    fn hosts(w: &World, body: &Value) -> Vec<String> {
        let mut out: Vec<String> = body["provider_summaries"]
            .as_object()
            .unwrap()
            .keys()
            .map(|u| w.placement.provider(u).unwrap().name.clone())
            .collect();
        out.sort();
        out
    }

    #[test]
    fn summaries_carry_capacity_and_use_with_the_shape_of_each_microversion() {
        let (mut w, t) = world();
        let (c1, c2) = (uuid_of(&w, "c1"), uuid_of(&w, "c2"));
        // c1's VCPUs are all used: memory and disk only, so that c1 is a candidate too.
        let (s, b) = get(&mut w, &t, "1.39", "?resources=MEMORY_MB:512,DISK_GB:1");
        assert_eq!(s, 200, "{b}");
        assert_eq!(
            hosts(&w, &b),
            ["c1", "c2", "c3"],
            "no trait filter: disabled too"
        );
        let sum = &b["provider_summaries"][&c1];
        assert_eq!(sum["resources"]["VCPU"], json!({"capacity": 2, "used": 2}));
        assert_eq!(sum["resources"]["MEMORY_MB"]["used"], 1024);
        assert!(sum["resources"]["VCPU"].is_object(), "1.27+: every class");
        assert_eq!(sum["traits"], json!(["COMPUTE_NODE"]));
        assert_eq!(sum["root_provider_uuid"], json!(c1));
        assert!(sum["parent_provider_uuid"].is_null());
        let req = b["allocation_requests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["allocations"].get(&c2).is_some())
            .unwrap();
        assert_eq!(
            req["allocations"][&c2]["resources"],
            json!({"MEMORY_MB": 512, "DISK_GB": 1})
        );
        assert_eq!(req["mappings"], json!({"": [c2]}));

        let (_, b) = get(&mut w, &t, "1.26", "?resources=VCPU:1");
        let sum = &b["provider_summaries"][&c2];
        assert_eq!(
            sum["resources"].as_object().unwrap().len(),
            1,
            "requested only"
        );
        assert!(sum["traits"].is_array() && sum.get("root_provider_uuid").is_none());
        assert!(b["allocation_requests"][0].get("mappings").is_none());
        let (_, b) = get(&mut w, &t, "1.16", "?resources=VCPU:1");
        assert!(b["provider_summaries"][&c2].get("traits").is_none());
        let (_, b) = get(&mut w, &t, "1.10", "?resources=VCPU:1");
        let first = &b["allocation_requests"][0]["allocations"][0];
        assert!(
            first["resource_provider"]["uuid"].is_string(),
            "1.10-1.11: a list: {b}"
        );
        assert_eq!(first["resources"], json!({"VCPU": 1}));
        let (s, _) = get(&mut w, &t, "1.9", "?resources=VCPU:1");
        assert_eq!(s, 404);
    }

    /// The answer's keys as Zed's Placement gives them (a real answer, recorded).
    #[test]
    fn the_answer_has_the_shape_of_zeds() {
        let real: Value = serde_json::from_str(include_str!(
            "../../../../tests/fixtures/zed/placement-allocation_candidates-m1.tiny.json"
        ))
        .unwrap();
        let (mut w, t) = world();
        let (s, b) = get(
            &mut w,
            &t,
            "1.39",
            "?resources=VCPU:1,MEMORY_MB:512,DISK_GB:1",
        );
        assert_eq!(s, 200, "{b}");
        let keys = |v: &Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        let first = |v: &Value| v.as_object().unwrap().values().next().unwrap().clone();
        assert_eq!(keys(&b), keys(&real));
        let (real_sum, sim_sum) = (
            first(&real["provider_summaries"]),
            first(&b["provider_summaries"]),
        );
        assert_eq!(keys(&sim_sum), keys(&real_sum));
        assert_eq!(
            keys(&sim_sum["resources"]["VCPU"]),
            keys(&real_sum["resources"]["VCPU"])
        );
        let (real_req, sim_req) = (
            &real["allocation_requests"][0],
            &b["allocation_requests"][0],
        );
        assert_eq!(keys(sim_req), keys(real_req));
        assert_eq!(
            keys(&first(&sim_req["allocations"])),
            keys(&first(&real_req["allocations"]))
        );
    }

    #[test]
    fn only_providers_with_room_within_the_units() {
        let (mut w, t) = world();
        // c1 has 2 VCPU, both used by its two servers.
        let (_, b) = get(&mut w, &t, "1.39", "?resources=VCPU:1");
        assert_eq!(hosts(&w, &b), ["c2", "c3"]);
        let c2 = uuid_of(&w, "c2");
        let rp = w
            .placement
            .providers
            .iter_mut()
            .find(|p| p.uuid == c2)
            .unwrap();
        let vcpu = rp.inventories.get_mut("VCPU").unwrap();
        vcpu.max_unit = 4;
        vcpu.step_size = 2;
        let (_, b) = get(&mut w, &t, "1.39", "?resources=VCPU:3");
        assert_eq!(hosts(&w, &b), ["c3"], "3 is no multiple of step_size 2");
        let (_, b) = get(&mut w, &t, "1.39", "?resources=VCPU:6");
        assert_eq!(hosts(&w, &b), ["c3"], "over max_unit 4");
        let (_, b) = get(&mut w, &t, "1.39", "?resources=VCPU:4");
        assert_eq!(hosts(&w, &b), ["c2", "c3"]);
    }

    #[test]
    fn traits_aggregates_tree_and_limit_filter() {
        let (mut w, t) = world();
        let (_, b) = get(
            &mut w,
            &t,
            "1.39",
            "?resources=VCPU:1&required=!COMPUTE_STATUS_DISABLED",
        );
        assert_eq!(hosts(&w, &b), ["c2"], "c3's nova-compute is disabled");
        let (_, b) = get(
            &mut w,
            &t,
            "1.39",
            "?resources=VCPU:1&required=COMPUTE_STATUS_DISABLED",
        );
        assert_eq!(hosts(&w, &b), ["c3"]);
        let (_, b) = get(
            &mut w,
            &t,
            "1.39",
            "?resources=VCPU:1&required=in:HW_CPU_X86_AVX,COMPUTE_NODE",
        );
        assert_eq!(hosts(&w, &b), ["c2", "c3"]);
        let agg = w
            .compute
            .aggregates
            .iter()
            .find(|a| a.name == "fast")
            .unwrap()
            .uuid
            .clone();
        let (_, b) = get(
            &mut w,
            &t,
            "1.39",
            &format!("?resources=VCPU:1&member_of={agg}"),
        );
        assert_eq!(hosts(&w, &b), ["c2"]);
        let (_, b) = get(
            &mut w,
            &t,
            "1.39",
            &format!("?resources=VCPU:1&member_of=!{agg}"),
        );
        assert_eq!(hosts(&w, &b), ["c3"]);
        let c3 = uuid_of(&w, "c3");
        let (_, b) = get(
            &mut w,
            &t,
            "1.39",
            &format!("?resources=VCPU:1&in_tree={c3}"),
        );
        assert_eq!(hosts(&w, &b), ["c3"]);
        let (_, b) = get(&mut w, &t, "1.39", "?resources=VCPU:1&limit=1");
        assert_eq!(b["allocation_requests"].as_array().unwrap().len(), 1);
        assert_eq!(
            b["provider_summaries"].as_object().unwrap().len(),
            1,
            "limited too"
        );
    }

    #[test]
    fn bad_queries_are_400() {
        let (mut w, t) = world();
        for (version, query, says) in [
            (
                "1.39",
                "?resources=VCPU",
                "Badly formed resources parameter",
            ),
            ("1.39", "?resources=", "Got: empty string"),
            ("1.39", "?resources=VCPU:0", "requires amount >= 1"),
            (
                "1.39",
                "?resources=VCPU:x",
                "expected positive integer amount",
            ),
            ("1.39", "?resources=NOPE:1", "No such resource class NOPE"),
            ("1.39", "?limit=1", "At least one request group"),
            ("1.24", "?limit=1", "'resources' is a required property"),
            ("1.39", "?resources=VCPU:1&limit=0", "does not match"),
            (
                "1.15",
                "?resources=VCPU:1&limit=2",
                "'limit' was unexpected",
            ),
            ("1.39", "?resources=VCPU:1&foo=1", "'foo' was unexpected"),
            (
                "1.21",
                "?resources=VCPU:1&required=!COMPUTE_NODE",
                "HW_CPU_X86_VMX,CUSTOM_MAGIC",
            ),
            (
                "1.39",
                "?resources=VCPU:1&required=CUSTOM_NOPE",
                "No such trait(s): CUSTOM_NOPE",
            ),
            (
                "1.38",
                "?resources=VCPU:1&required=in:A,B",
                "since microversion 1.39",
            ),
            ("1.39", "?resources=VCPU:1&required=A,,B", "empty trait"),
            ("1.39", "?resources=VCPU:1&member_of=x", "valid UUID"),
            ("1.39", "?resources=VCPU:1&member_of=a,b", "'in:' or '!in:'"),
            (
                "1.39",
                "?resources=VCPU:1&resources1=VCPU:1",
                "unnumbered request group only",
            ),
        ] {
            let (s, b) = get(&mut w, &t, version, query);
            assert_eq!(s, 400, "{version} {query}: {b}");
            let detail = b["errors"][0]["detail"].as_str().unwrap();
            assert!(detail.contains(says), "{version} {query}: {detail}");
        }
    }
}
