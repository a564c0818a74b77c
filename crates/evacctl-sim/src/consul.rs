//! The simulated Consul: by default three clusters, `management`, `storage` and `tenant`, each
//! served on its own loopback listener (`evacctl-sim serve` prints their URLs and writes
//! them with `--evacctl-config`), whose members follow the simulated hosts.
//!
//! # The world as Consul sees it
//!
//! - Every host is a member of every cluster. Controllers are the Consul servers (with no
//!   controller, the first host is the one server); computes are client agents. Node names are
//!   the host names, or their short names with `node_names = "short"`.
//! - The agent evacctl talks to (the *observer*) is the first server's agent.
//! - A powered-off host is `failed` (serf status 4) in every cluster **at once** (no serf
//!   suspicion delay: tests should not wait for one). A host cut from one network
//!   (`/_sim/hosts/{h}/networks/{net}/cut`) is `failed` in that cluster only; `leave` makes it
//!   `left` (a graceful leave: it also leaves the catalog).
//! - A cluster has a leader when more than half of its servers are alive in it and its leader
//!   was not taken away (`/_sim/consul/{cluster}/leader/lose`). Without a leader,
//!   `/v1/status/leader` answers `""`, reads that need the leader answer 500 "No cluster
//!   leader" (unless `?stale`), autopilot included.
//! - `observer/cut` cuts the observer's agent off its cluster: from its view there is no
//!   leader and every other member is `failed` (`left` ones stay `left`).
//! - The catalog has a `serfHealth` check per node (critical unless alive), and in the
//!   services cluster (the first `management` cluster by default) a `nova-compute` service
//!   check on each host running nova-compute (critical once the service crashed:
//!   `/_sim/hosts/{h}/services/nova-compute/crash`) and a `libvirtd` check (passing). A dead
//!   node's service checks keep their last status, as a real agent's do.
//! - Sessions (TTL, behavior, lock-delay, node checks) and KV with `acquire` / `release` /
//!   `cas`. Sessions expire lazily at `TTL × session_ttl_multiplier` (2, as Consul's timers;
//!   a scenario may set less so that tests need not wait 20 s for a 10 s TTL).
//! - ACLs: with `token` set, every call but `/v1/status/*` needs `X-Consul-Token` (or
//!   `?token=`) equal to it: none is 403 "Permission denied", another is 403 "ACL not found".
//! - Blocking queries (`?index=N&wait=D`, [`hold_blocking`]): a GET with `N` at or past the
//!   index of what it reads is held until that index passes `N` or `wait` passes (default
//!   5 min, at most 10 min, Go's duration syntax: `10s`, `1m30s`, `250ms`; no jitter), then
//!   answered with the new `X-Consul-Index`. `/v1/health/*` wait on the health index, which
//!   moves only when a member's status, a check's status, the leader or the observer's view
//!   changes (a power loss, a cut, a crashed service), not with KV or session writes; other
//!   reads wait on the raft index.
//! - `filter=` on `/v1/health/state`, `/v1/health/node` and `/v1/health/checks`: the checks
//!   are selected on the server, in Consul's expression language ([`filter`]).
//!
//! Answers use Consul's shapes and status codes; errors are plain text, as Consul's are.
//!
//! # Scenario
//!
//! ```toml
//! [consul]
//! enabled = true                  # false: no Consul at all
//! node_names = "host"             # or "short": node-14.eayun.com is node "node-14"
//! token = "..."                   # ACL token required; default none
//! session_ttl_multiplier = 2.0
//! services_cluster = "management" # where nova-compute / libvirtd checks are registered
//! libvirt_checks = true
//!
//! [[consul.clusters]]             # default: management, storage, tenant (dc1)
//! name = "management"
//! role = "management"             # management | storage | tenant
//! datacenter = "dc1"
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use axum::http::Method;
use serde_json::{Value, json};

use super::control::view::host_view;
use super::http::{Reply, SimRequest};
use super::world::{SharedWorld, World, WorldError};

pub mod filter;
pub mod state;
// The state and the scenario's types keep their old paths (`consul::ConsulRole`).
pub use self::state::*;
pub use super::scenario::consul::{ClusterSpec, ConsulRole, ConsulSpec, NodeNames, SpecError};

/// KV values travel base64-encoded (standard alphabet, padded), as Consul's `GET /v1/kv` sends them.
fn encode_base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// One member as the catalog (the leader) sees it.
#[derive(Debug, Clone)]
struct SimMember {
    host: String,
    node: String,
    addr: String,
    server: bool,
    status: i64,
    compute: bool,
}

const ALIVE: i64 = 1;
const LEFT: i64 = 3;
const FAILED: i64 = 4;

fn node_name(names: NodeNames, host: &str) -> String {
    match names {
        NodeNames::Host => host.to_string(),
        NodeNames::Short => host.split('.').next().unwrap_or(host).to_string(),
    }
}

/// Synthetic addresses: 10.<cluster>.<i / 250>.<10 + i % 250> (data only, never bound).
fn member_addr(net: usize, i: usize) -> String {
    format!("10.{}.{}.{}", net % 256, i / 250, 10 + i % 250)
}

fn members(world: &World, c: usize) -> Vec<SimMember> {
    let consul = &world.consul;
    let cluster = &consul.clusters[c];
    let has_controller = world
        .hosts
        .iter()
        .any(|h| h.role == super::scenario::Role::Controller);
    world
        .hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let status = if !h.is_running() {
                FAILED
            } else {
                match cluster.cuts.get(&h.name) {
                    Some(Cut::Failed) => FAILED,
                    Some(Cut::Left) => LEFT,
                    None => ALIVE,
                }
            };
            SimMember {
                host: h.name.clone(),
                node: node_name(consul.node_names, &h.name),
                addr: member_addr(cluster.net, i),
                server: if has_controller {
                    h.role == super::scenario::Role::Controller
                } else {
                    i == 0
                },
                status,
                compute: h.role == super::scenario::Role::Compute,
            }
        })
        .collect()
}

/// The observer: the first server.
fn observer(members: &[SimMember]) -> Option<&SimMember> {
    members.iter().find(|m| m.server)
}

/// The leader's member, if the cluster has one.
fn leader(world: &World, c: usize, members: &[SimMember]) -> Option<SimMember> {
    let cluster = &world.consul.clusters[c];
    if cluster.leader_lost {
        return None;
    }
    let servers: Vec<&SimMember> = members.iter().filter(|m| m.server).collect();
    let alive: Vec<&&SimMember> = servers.iter().filter(|m| m.status == ALIVE).collect();
    if alive.len() * 2 > servers.len() {
        alive.first().map(|m| (**m).clone())
    } else {
        None
    }
}

/// The leader as the observer sees it.
fn leader_seen(world: &World, c: usize, members: &[SimMember]) -> Option<SimMember> {
    if world.consul.clusters[c].observer_cut {
        None
    } else {
        leader(world, c, members)
    }
}

// =====================================================================================
// The HTTP API of one cluster
// =====================================================================================

fn text(status: u16, message: &str) -> Reply {
    Reply::raw(status, "text/plain; charset=utf-8", message.to_string())
}

fn no_leader() -> Reply {
    text(500, "No cluster leader")
}

fn request_token(req: &SimRequest) -> Option<String> {
    req.header("x-consul-token")
        .map(str::to_string)
        .or_else(|| {
            req.header("authorization")
                .and_then(|a| a.strip_prefix("Bearer "))
                .map(str::to_string)
        })
        .or_else(|| req.query_param("token").map(str::to_string))
        .filter(|t| !t.is_empty())
}

/// A digest of what `/v1/health/*` shows of cluster `c`: every member's status, the leader,
/// the observer's view, the service checks' statuses.
fn health_print(world: &World, c: usize) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let cluster = &world.consul.clusters[c];
    (cluster.observer_cut, cluster.leader_lost).hash(&mut h);
    for m in members(world, c) {
        (m.node, m.status).hash(&mut h);
    }
    if world.consul.services_cluster == Some(c) {
        for s in world.services.iter().filter(|s| s.binary == "nova-compute") {
            (&s.node, s.crashed).hash(&mut h);
        }
    }
    h.finish()
}

/// Moves cluster `c`'s health index (and its raft index: a change of health is a write in
/// Consul) when its health data changed since it was last looked at; the health index.
/// Looked at on every request and while a blocking query is held: the world changes under
/// the control API, the clock and the other simulated services, which need not know of it.
pub fn sync_health_index(world: &mut World, c: usize) -> u64 {
    let print = health_print(world, c);
    let cluster = &mut world.consul.clusters[c];
    match cluster.health_print {
        None => cluster.health_print = Some(print),
        Some(p) if p == print => {}
        Some(_) => {
            cluster.index += 1;
            cluster.health_index = cluster.index;
            cluster.health_print = Some(print);
        }
    }
    cluster.health_index
}

/// Consul's default and largest `wait` of a blocking query.
const DEFAULT_WAIT: std::time::Duration = std::time::Duration::from_secs(5 * 60);
const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(10 * 60);
/// How often a held query looks at the world again: changes are seen within this.
const HOLD_POLL: std::time::Duration = std::time::Duration::from_millis(10);

/// A `wait` parameter in Go's duration syntax (`10s`, `1m30s`, `250ms`); `None`: not one.
fn parse_wait(v: &str) -> Option<std::time::Duration> {
    let v = v.trim();
    if v.is_empty() || v.bytes().all(|b| b.is_ascii_digit()) {
        // Go refuses a number without a unit (but "0").
        return (v == "0").then_some(std::time::Duration::ZERO);
    }
    humantime::parse_duration(v).ok()
}

/// Holds a blocking query (`?index=N`, N > 0) of cluster `c` until the index of what it
/// reads passes `N` or its `wait` passes; `Err` with the answer when `wait` is not a
/// duration (as Consul, 400). Any other request, or one the ACL refuses (answered by
/// [`handle`] at once), passes straight through.
pub async fn hold_blocking(world: &SharedWorld, c: usize, req: &SimRequest) -> Result<(), Reply> {
    let index = req
        .query_param("index")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    if req.method != Method::GET || index == 0 {
        return Ok(());
    }
    let wait = match req.query_param("wait").map(parse_wait) {
        None => DEFAULT_WAIT,
        Some(Some(w)) => w.min(MAX_WAIT),
        Some(None) => return Err(text(400, "Invalid wait time")),
    };
    let health = req.segments.get(1).map(String::as_str) == Some("health");
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        {
            let mut w = world.lock();
            if c >= w.consul.clusters.len() {
                return Ok(());
            }
            if let Some(want) = &w.consul.token
                && request_token(req).as_ref() != Some(want)
            {
                return Ok(());
            }
            let health_index = sync_health_index(&mut w, c);
            let current = if health {
                health_index
            } else {
                w.consul.clusters[c].index
            };
            if current > index {
                return Ok(());
            }
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(());
        }
        tokio::time::sleep(HOLD_POLL.min(deadline - now)).await;
    }
}

/// Handles one request to cluster `c`'s listener.
pub fn handle(world: &mut World, c: usize, req: &SimRequest) -> Reply {
    if c >= world.consul.clusters.len() {
        return text(500, "no such cluster");
    }
    expire_sessions(world, c, req.now);
    let health_index = sync_health_index(world, c);
    let segs = req.segs();
    let public = matches!(segs.as_slice(), ["v1", "status", ..]);
    if let Some(want) = &world.consul.token
        && !public
    {
        match request_token(req) {
            None => return text(403, "Permission denied: anonymous token lacks permission"),
            Some(t) if &t != want => return text(403, "ACL not found"),
            Some(_) => {}
        }
    }
    let reply = route(world, c, req, &segs);
    // Reads carry the index and whether a leader is known, as Consul's do.
    if req.method == Method::GET {
        let members = members(world, c);
        let known = leader_seen(world, c, &members).is_some();
        let index = if segs.get(1) == Some(&"health") {
            health_index
        } else {
            world.consul.clusters[c].index
        };
        reply
            .with_header("X-Consul-Index", index.to_string())
            .with_header("X-Consul-KnownLeader", known.to_string())
            .with_header("X-Consul-LastContact", "0")
    } else {
        reply
    }
}

fn route(world: &mut World, c: usize, req: &SimRequest, segs: &[&str]) -> Reply {
    let get = req.method == Method::GET;
    let put = req.method == Method::PUT;
    let stale = req.query_param("stale").is_some();
    let m = members(world, c);
    let seen_leader = leader_seen(world, c, &m);
    match segs {
        ["v1", "status", "leader"] if get => Reply::json(
            200,
            json!(
                seen_leader
                    .as_ref()
                    .map(|l| format!("{}:8300", l.addr))
                    .unwrap_or_default()
            ),
        ),
        ["v1", "status", "peers"] if get => {
            let peers: Vec<String> = m
                .iter()
                .filter(|x| x.server)
                .map(|x| format!("{}:8300", x.addr))
                .collect();
            Reply::json(200, json!(peers))
        }
        ["v1", "operator", "autopilot", "health"] if get => {
            autopilot(world, c, &m, seen_leader.as_ref())
        }
        ["v1", "operator", "raft", "configuration"] if get => {
            if seen_leader.is_none() && !stale {
                return no_leader();
            }
            let servers: Vec<Value> = m
                .iter()
                .filter(|x| x.server)
                .map(|x| {
                    json!({"ID": server_id(&x.node), "Node": x.node, "Address": format!("{}:8300", x.addr),
                           "Leader": seen_leader.as_ref().is_some_and(|l| l.node == x.node),
                           "ProtocolVersion": "3", "Voter": true})
                })
                .collect();
            Reply::json(
                200,
                json!({"Servers": servers, "Index": world.consul.clusters[c].index}),
            )
        }
        ["v1", "agent", "members"] if get => {
            let view = observer_view(world, c, &m);
            let dc = world.consul.clusters[c].datacenter.clone();
            let list: Vec<Value> = view.iter().map(|x| member_json(x, &dc)).collect();
            Reply::json(200, json!(list))
        }
        ["v1", "agent", "self"] if get => {
            let dc = world.consul.clusters[c].datacenter.clone();
            match observer(&m) {
                Some(o) => Reply::json(
                    200,
                    json!({"Config": {"Datacenter": dc, "NodeName": o.node, "Server": true},
                           "Member": member_json(o, &dc)}),
                ),
                None => text(500, "no agent"),
            }
        }
        ["v1", "catalog", "nodes"] if get => {
            if seen_leader.is_none() && !stale {
                return no_leader();
            }
            let dc = &world.consul.clusters[c].datacenter;
            let list: Vec<Value> = m
                .iter()
                .filter(|x| x.status != LEFT)
                .map(|x| json!({"Node": x.node, "Address": x.addr, "Datacenter": dc}))
                .collect();
            Reply::json(200, json!(list))
        }
        ["v1", "health", kind, arg] if get => {
            if seen_leader.is_none() && !stale {
                return no_leader();
            }
            health(world, c, &m, kind, arg, req)
        }
        // Sessions and KV live in the Raft log: without a leader (as the agent sees it) a
        // write, or a read that is not `stale`, answers as Consul does.
        ["v1", "session" | "kv", ..] if seen_leader.is_none() && !(get && stale) => no_leader(),
        ["v1", "session", "create"] if put => session_create(world, c, &m, req),
        ["v1", "session", "renew", id] if put => session_renew(world, c, id, req.now),
        ["v1", "session", "destroy", id] if put => {
            invalidate(world, c, id, req.now);
            Reply::json(200, json!(true))
        }
        ["v1", "session", "info", id] if get => {
            let list: Vec<Value> = world.consul.clusters[c]
                .sessions
                .get(*id)
                .map(session_json)
                .into_iter()
                .collect();
            Reply::json(200, json!(list))
        }
        ["v1", "session", "list"] if get => {
            let list: Vec<Value> = world.consul.clusters[c]
                .sessions
                .values()
                .map(session_json)
                .collect();
            Reply::json(200, json!(list))
        }
        ["v1", "kv", key @ ..] => kv(world, c, &key.join("/"), req),
        [
            "v1",
            "status" | "operator" | "agent" | "catalog" | "health" | "session",
            ..,
        ] => text(405, &format!("method {} not allowed", req.method)),
        _ => text(404, "Invalid URL path: not a recognized HTTP API endpoint"),
    }
}

fn server_id(node: &str) -> String {
    // A stable, UUID-shaped id per node name.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in node.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let s = format!("{h:016x}{:016x}", h.rotate_left(29) ^ 0x5bd1_e995);
    format!(
        "{}-{}-{}-{}-{}",
        &s[0..8],
        &s[8..12],
        &s[12..16],
        &s[16..20],
        &s[20..32]
    )
}

fn member_json(m: &SimMember, dc: &str) -> Value {
    let role = if m.server { "consul" } else { "node" };
    let mut tags = json!({"dc": dc, "role": role, "vsn": "2", "vsn_min": "2", "vsn_max": "3",
                          "build": "1.19.0:sim", "segment": ""});
    if m.server {
        tags["port"] = json!("8300");
        tags["expect"] = json!("3");
    }
    json!({"Name": m.node, "Addr": m.addr, "Port": 8301, "Tags": tags, "Status": m.status,
           "ProtocolMin": 1, "ProtocolMax": 5, "ProtocolCur": 2,
           "DelegateMin": 2, "DelegateMax": 5, "DelegateCur": 4})
}

/// The members as the observer's agent sees them.
fn observer_view(world: &World, c: usize, m: &[SimMember]) -> Vec<SimMember> {
    if !world.consul.clusters[c].observer_cut {
        return m.to_vec();
    }
    let me = observer(m).map(|o| o.node.clone());
    m.iter()
        .map(|x| {
            let mut x = x.clone();
            if Some(&x.node) != me.as_ref() && x.status != LEFT {
                x.status = FAILED;
            }
            x
        })
        .collect()
}

fn autopilot(world: &World, c: usize, m: &[SimMember], seen_leader: Option<&SimMember>) -> Reply {
    let Some(leader) = seen_leader else {
        return no_leader();
    };
    let index = world.consul.clusters[c].index;
    let servers: Vec<Value> = m
        .iter()
        .filter(|x| x.server)
        .map(|x| {
            let healthy = x.status == ALIVE;
            json!({"ID": server_id(&x.node), "Name": x.node, "Address": format!("{}:8300", x.addr),
                   "SerfStatus": match x.status { ALIVE => "alive", LEFT => "left", _ => "failed" },
                   "Version": "1.19.0", "Leader": x.node == leader.node,
                   "LastContact": if healthy { "0s" } else { "1m0s" },
                   "LastTerm": 2, "LastIndex": index, "Healthy": healthy, "Voter": true,
                   "StableSince": "2026-11-22T00:00:00Z"})
        })
        .collect();
    let voters = servers.len();
    let healthy = m.iter().filter(|x| x.server && x.status == ALIVE).count();
    let quorum = voters / 2 + 1;
    let all_healthy = healthy == voters;
    let tolerance = healthy.saturating_sub(quorum);
    Reply::json(
        if all_healthy { 200 } else { 429 },
        json!({"Healthy": all_healthy, "FailureTolerance": tolerance, "Servers": servers}),
    )
}

/// One check as the catalog shows it.
fn check_json(
    node: &str,
    id: &str,
    name: &str,
    status: &str,
    output: &str,
    service: &str,
    index: u64,
) -> Value {
    json!({"Node": node, "CheckID": id, "Name": name, "Status": status, "Notes": "",
           "Output": output, "ServiceID": service, "ServiceName": service, "ServiceTags": [],
           "Type": if service.is_empty() { "" } else { "script" }, "Definition": {},
           "CreateIndex": 10, "ModifyIndex": index})
}

/// Every check of the cluster's catalog.
fn all_checks(world: &World, c: usize, m: &[SimMember]) -> Vec<(String, Value)> {
    let index = world.consul.clusters[c].health_index;
    let services_here = world.consul.services_cluster == Some(c);
    // nova-compute's state by host, once: a lookup per member keeps the answer O(n).
    let mut nova_compute: HashMap<&str, bool> = HashMap::new();
    if services_here {
        for s in world.services.iter().filter(|s| s.binary == "nova-compute") {
            nova_compute.entry(s.node.as_str()).or_insert(s.crashed);
        }
    }
    let mut out = Vec::new();
    for x in m.iter().filter(|x| x.status != LEFT) {
        let (status, output) = if x.status == ALIVE {
            ("passing", "Agent alive and reachable")
        } else {
            ("critical", "Agent not live or unreachable")
        };
        out.push((
            "".to_string(),
            check_json(
                &x.node,
                "serfHealth",
                "Serf Health Status",
                status,
                output,
                "",
                index,
            ),
        ));
        if !(services_here && x.compute) {
            continue;
        }
        if let Some(&crashed) = nova_compute.get(x.host.as_str()) {
            let (status, output) = if crashed {
                (
                    "critical",
                    "nova-compute is not running (systemctl is-active: failed)",
                )
            } else {
                (
                    "passing",
                    "nova-compute is running (systemctl is-active: active)",
                )
            };
            out.push((
                "nova-compute".into(),
                check_json(
                    &x.node,
                    "service:nova-compute",
                    "Service 'nova-compute' check",
                    status,
                    output,
                    "nova-compute",
                    index,
                ),
            ));
        }
        if world.consul.libvirt_checks {
            out.push((
                "libvirtd".into(),
                check_json(
                    &x.node,
                    "service:libvirtd",
                    "Service 'libvirtd' check",
                    "passing",
                    "libvirtd is running (systemctl is-active: active)",
                    "libvirtd",
                    index,
                ),
            ));
        }
    }
    out
}

fn health(
    world: &World,
    c: usize,
    m: &[SimMember],
    kind: &str,
    arg: &str,
    req: &SimRequest,
) -> Reply {
    let filter = match req.query_param("filter").map(filter::parse) {
        None => None,
        Some(Ok(f)) => Some(f),
        Some(Err(e)) => {
            return text(
                400,
                &format!("Failed to create boolean expression evaluator: {e}"),
            );
        }
    };
    let mut checks = all_checks(world, c, m);
    // Consul filters the check lists on the server, before answering.
    if let Some(f) = &filter
        && kind != "service"
    {
        checks.retain(|(_, v)| f.eval(v));
    }
    match kind {
        "node" => {
            let list: Vec<&Value> = checks
                .iter()
                .map(|(_, v)| v)
                .filter(|v| v["Node"] == arg)
                .collect();
            Reply::json(200, json!(list))
        }
        "state" => {
            if !matches!(arg, "any" | "passing" | "warning" | "critical") {
                return text(400, &format!("Invalid check state {arg:?}"));
            }
            let list: Vec<&Value> = checks
                .iter()
                .map(|(_, v)| v)
                .filter(|v| arg == "any" || v["Status"] == arg)
                .collect();
            Reply::json(200, json!(list))
        }
        "checks" => {
            let list: Vec<&Value> = checks
                .iter()
                .filter(|(s, _)| s == arg)
                .map(|(_, v)| v)
                .collect();
            Reply::json(200, json!(list))
        }
        "service" => {
            let dc = &world.consul.clusters[c].datacenter;
            let passing_only = req.query_param("passing").is_some();
            let mut out = Vec::new();
            for x in m.iter().filter(|x| x.status != LEFT) {
                let node_checks: Vec<&Value> = checks
                    .iter()
                    .filter(|(s, v)| v["Node"] == x.node.as_str() && (s.is_empty() || s == arg))
                    .map(|(_, v)| v)
                    .collect();
                if !node_checks.iter().any(|v| v["ServiceName"] == arg) {
                    continue;
                }
                if passing_only && node_checks.iter().any(|v| v["Status"] != "passing") {
                    continue;
                }
                out.push(json!({
                    "Node": {"Node": x.node, "Address": x.addr, "Datacenter": dc},
                    "Service": {"ID": arg, "Service": arg, "Tags": [], "Port": 0},
                    "Checks": node_checks,
                }));
            }
            Reply::json(200, json!(out))
        }
        _ => text(404, "Invalid URL path: not a recognized HTTP API endpoint"),
    }
}

// -------------------------------------------------------------------------------------
// Sessions
// -------------------------------------------------------------------------------------

fn session_json(s: &Session) -> Value {
    json!({"ID": s.id, "Name": s.name, "Node": s.node,
           "LockDelay": (s.lock_delay * 1e9) as u64, "Behavior": s.behavior, "TTL": s.ttl_text,
           "NodeChecks": s.node_checks, "ServiceChecks": null,
           "CreateIndex": s.create_index, "ModifyIndex": s.modify_index})
}

/// A duration as Consul takes it: a Go duration string, or a number of nanoseconds (numbers
/// below 1000, as Consul's own fix-up does, are seconds).
fn duration_secs(v: &Value) -> Result<f64, String> {
    match v {
        Value::String(s) if s.trim().is_empty() => Ok(0.0),
        Value::String(s) => humantime::parse_duration(s.trim())
            .map(|d| d.as_secs_f64())
            .map_err(|e| format!("invalid duration {s:?}: {e}")),
        Value::Number(n) => {
            let n = n.as_f64().unwrap_or(-1.0);
            if n < 0.0 {
                Err("negative duration".into())
            } else if n < 1000.0 {
                Ok(n)
            } else {
                Ok(n / 1e9)
            }
        }
        _ => Err(format!("invalid duration {v}")),
    }
}

fn session_create(world: &mut World, c: usize, m: &[SimMember], req: &SimRequest) -> Reply {
    let body = if req.body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice::<Value>(&req.body) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => return text(400, "Request decode failed: not an object"),
            Err(e) => return text(400, &format!("Request decode failed: {e}")),
        }
    };
    let ttl = match body.get("TTL").map(duration_secs) {
        None => None,
        Some(Ok(0.0)) => None,
        Some(Ok(t)) if (10.0..=86400.0).contains(&t) => Some(t),
        Some(Ok(_)) | Some(Err(_)) => {
            let shown = body["TTL"]
                .as_str()
                .map_or_else(|| body["TTL"].to_string(), str::to_string);
            return text(
                400,
                &format!("Invalid Session TTL '{shown}', must be between [10s=24h0m0s]"),
            );
        }
    };
    let lock_delay = match body.get("LockDelay").map(duration_secs) {
        None => 15.0,
        Some(Ok(d)) if d <= 60.0 => d,
        Some(Ok(_)) => return text(400, "Invalid LockDelay: must be at most 60s"),
        Some(Err(e)) => return text(400, &format!("Request decode failed: LockDelay: {e}")),
    };
    let behavior = match body.get("Behavior").and_then(Value::as_str) {
        None | Some("") | Some("release") => "release",
        Some("delete") => "delete",
        Some(other) => return text(400, &format!("Invalid Behavior setting '{other}'")),
    };
    let node = match body.get("Node").and_then(Value::as_str) {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => match observer(m) {
            Some(o) => o.node.clone(),
            None => return text(500, "Missing node registration"),
        },
    };
    let Some(member) = m.iter().find(|x| x.node == node && x.status != LEFT) else {
        return text(500, "Missing node registration");
    };
    let node_checks: Vec<String> = match body.get("NodeChecks").or_else(|| body.get("Checks")) {
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => vec!["serfHealth".to_string()],
    };
    if node_checks.iter().any(|c| c == "serfHealth") && member.status != ALIVE {
        return text(500, "Check 'serfHealth' is in critical state");
    }
    let multiplier = world.consul.session_ttl_multiplier;
    let cluster = &mut world.consul.clusters[c];
    cluster.index += 1;
    let id = uuid::Uuid::new_v4().to_string();
    cluster.sessions.insert(
        id.clone(),
        Session {
            id: id.clone(),
            name: body
                .get("Name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            node,
            ttl,
            ttl_text: ttl.map(|t| format!("{}s", t.round())).unwrap_or_default(),
            lock_delay,
            behavior: behavior.to_string(),
            node_checks,
            expires_at: ttl.map(|t| req.now + t * multiplier),
            create_index: cluster.index,
            modify_index: cluster.index,
        },
    );
    tracing::info!("consul {}: session {id} created", cluster.name);
    Reply::json(200, json!({"ID": id}))
}

fn session_renew(world: &mut World, c: usize, id: &str, now: f64) -> Reply {
    let multiplier = world.consul.session_ttl_multiplier;
    let cluster = &mut world.consul.clusters[c];
    match cluster.sessions.get_mut(id) {
        Some(s) => {
            s.expires_at = s.ttl.map(|t| now + t * multiplier);
            Reply::json(200, json!([session_json(s)]))
        }
        None => text(404, &format!("Session id '{id}' not found")),
    }
}

/// Ends a session: its locks are released (or their keys deleted) and blocked for its
/// lock-delay.
fn invalidate(world: &mut World, c: usize, id: &str, now: f64) {
    let cluster = &mut world.consul.clusters[c];
    let Some(s) = cluster.sessions.remove(id) else {
        return;
    };
    cluster.index += 1;
    let index = cluster.index;
    let held: Vec<String> = cluster
        .kv
        .iter()
        .filter(|(_, item)| item.session.as_deref() == Some(id))
        .map(|(k, _)| k.clone())
        .collect();
    for key in held {
        if s.behavior == "delete" {
            cluster.kv.remove(&key);
        } else if let Some(item) = cluster.kv.get_mut(&key) {
            item.session = None;
            item.modify_index = index;
        }
        if s.lock_delay > 0.0 {
            cluster.lock_delays.insert(key, now + s.lock_delay);
        }
    }
    tracing::info!("consul {}: session {id} invalidated", cluster.name);
}

/// Ends the sessions whose TTL ran out or whose node's serfHealth is critical.
fn expire_sessions(world: &mut World, c: usize, now: f64) {
    let m = members(world, c);
    let dead: Vec<String> = world.consul.clusters[c]
        .sessions
        .values()
        .filter(|s| {
            s.expires_at.is_some_and(|t| now >= t)
                || (s.node_checks.iter().any(|c| c == "serfHealth")
                    && !m.iter().any(|x| x.node == s.node && x.status == ALIVE))
        })
        .map(|s| s.id.clone())
        .collect();
    for id in dead {
        invalidate(world, c, &id, now);
    }
    world.consul.clusters[c]
        .lock_delays
        .retain(|_, until| *until > now);
}

// -------------------------------------------------------------------------------------
// KV
// -------------------------------------------------------------------------------------

/// Consul's limit on one value.
const MAX_VALUE: usize = 512 * 1024;

fn kv_json(key: &str, item: &KvItem) -> Value {
    let mut v = json!({"LockIndex": item.lock_index, "Key": key, "Flags": item.flags,
                       "Value": if item.value.is_empty() { Value::Null } else { json!(encode_base64(&item.value)) },
                       "CreateIndex": item.create_index, "ModifyIndex": item.modify_index});
    if let Some(s) = &item.session {
        v["Session"] = json!(s);
    }
    v
}

fn kv(world: &mut World, c: usize, key: &str, req: &SimRequest) -> Reply {
    let recurse = req.query_param("recurse").is_some();
    if key.is_empty() && !(recurse && req.method != Method::PUT) {
        return text(400, "Missing key name");
    }
    let cluster = &mut world.consul.clusters[c];
    match req.method {
        Method::GET => {
            let found: Vec<(&String, &KvItem)> = if recurse {
                cluster
                    .kv
                    .iter()
                    .filter(|(k, _)| k.starts_with(key))
                    .collect()
            } else {
                cluster.kv.get_key_value(key).into_iter().collect()
            };
            if found.is_empty() {
                return Reply::empty(404);
            }
            if req.query_param("raw").is_some() && !recurse {
                let value = found[0].1.value.clone();
                return Reply::raw(
                    200,
                    "application/octet-stream",
                    String::from_utf8_lossy(&value).into_owned(),
                );
            }
            Reply::json(
                200,
                json!(found.iter().map(|(k, v)| kv_json(k, v)).collect::<Vec<_>>()),
            )
        }
        Method::DELETE => {
            cluster.index += 1;
            if recurse {
                cluster.kv.retain(|k, _| !k.starts_with(key));
            } else {
                cluster.kv.remove(key);
            }
            Reply::json(200, json!(true))
        }
        Method::PUT => {
            if req.body.len() > MAX_VALUE {
                return text(413, &format!("Value exceeds {MAX_VALUE} byte limit"));
            }
            let flags = match req.query_param("flags").map(str::parse::<u64>) {
                None => 0,
                Some(Ok(f)) => f,
                Some(Err(_)) => return text(400, "Invalid flags"),
            };
            let value = req.body.clone();
            if let Some(session) = req.query_param("acquire") {
                return kv_acquire(cluster, key, session, value, flags, req.now);
            }
            if let Some(session) = req.query_param("release") {
                let held = cluster
                    .kv
                    .get(key)
                    .is_some_and(|i| i.session.as_deref() == Some(session));
                if !held {
                    return Reply::json(200, json!(false));
                }
                cluster.index += 1;
                let index = cluster.index;
                if let Some(item) = cluster.kv.get_mut(key) {
                    item.session = None;
                    item.value = value;
                    item.flags = flags;
                    item.modify_index = index;
                }
                return Reply::json(200, json!(true));
            }
            if let Some(cas) = req.query_param("cas") {
                let Ok(cas) = cas.parse::<u64>() else {
                    return text(400, "Invalid cas index");
                };
                let current = cluster.kv.get(key).map(|i| i.modify_index);
                let ok = match current {
                    None => cas == 0,
                    Some(m) => m == cas,
                };
                if !ok {
                    return Reply::json(200, json!(false));
                }
            }
            let item = write_item(cluster, key);
            item.value = value;
            item.flags = flags;
            Reply::json(200, json!(true))
        }
        _ => text(405, &format!("method {} not allowed", req.method)),
    }
}

/// A key about to be written: the raft index moves, the key exists (created empty).
fn write_item<'a>(cluster: &'a mut SimCluster, key: &str) -> &'a mut KvItem {
    cluster.index += 1;
    let index = cluster.index;
    let item = cluster.kv.entry(key.to_string()).or_insert_with(|| KvItem {
        value: Vec::new(),
        flags: 0,
        session: None,
        lock_index: 0,
        create_index: index,
        modify_index: index,
    });
    item.modify_index = index;
    item
}

fn kv_acquire(
    cluster: &mut SimCluster,
    key: &str,
    session: &str,
    value: Vec<u8>,
    flags: u64,
    now: f64,
) -> Reply {
    if !cluster.sessions.contains_key(session) {
        return text(500, &format!("invalid session {session:?}"));
    }
    let holder = cluster.kv.get(key).and_then(|i| i.session.clone());
    match holder.as_deref() {
        Some(h) if h != session => return Reply::json(200, json!(false)),
        None if cluster
            .lock_delays
            .get(key)
            .is_some_and(|until| now < *until) =>
        {
            return Reply::json(200, json!(false));
        }
        _ => {}
    }
    let item = write_item(cluster, key);
    if item.session.is_none() {
        item.lock_index += 1;
    }
    item.session = Some(session.to_string());
    item.value = value;
    item.flags = flags;
    Reply::json(200, json!(true))
}

// =====================================================================================
// Control API and views
// =====================================================================================

/// The clusters as the control API shows them.
pub fn state_view(world: &World) -> Value {
    let clusters: Vec<Value> = (0..world.consul.clusters.len())
        .map(|c| {
            let cluster = &world.consul.clusters[c];
            let m = members(world, c);
            let leader = leader(world, c, &m).map(|l| l.node);
            let view: Vec<Value> = m
                .iter()
                .map(|x| {
                    json!({"host": x.host, "node": x.node, "addr": x.addr, "server": x.server,
                           "status": match x.status { ALIVE => "alive", LEFT => "left", _ => "failed" }})
                })
                .collect();
            let kv: BTreeMap<&String, Value> = cluster
                .kv
                .iter()
                .map(|(k, v)| (k, json!({"session": v.session, "lock_index": v.lock_index,
                                         "value": String::from_utf8_lossy(&v.value)})))
                .collect();
            json!({"name": cluster.name, "role": cluster.role, "datacenter": cluster.datacenter,
                   "url": cluster.url, "leader": leader, "leader_lost": cluster.leader_lost,
                   "observer_cut": cluster.observer_cut, "observer": observer(&m).map(|o| o.node.clone()),
                   "members": view, "sessions": cluster.sessions.values().collect::<Vec<_>>(), "kv": kv})
        })
        .collect();
    json!({"enabled": world.consul.enabled, "node_names": world.consul.node_names,
           "acl": world.consul.token.is_some(), "clusters": clusters})
}

fn control_error(status: u16, message: &str) -> Reply {
    Reply::json(
        status,
        json!({"error": {"code": status, "message": message}}),
    )
}

fn world_error(e: WorldError) -> Reply {
    control_error(404, &e.to_string())
}

/// The control endpoints of this module, under `/_sim`; `None` for any other path.
///
/// | method | path | what |
/// |---|---|---|
/// | GET | `/_sim/consul` | clusters, members, leaders, sessions, keys |
/// | POST | `/_sim/consul/{cluster}/leader/lose`, `/restore` | take a cluster's leader away, or give it back |
/// | POST | `/_sim/consul/{cluster}/observer/cut`, `/restore` | cut the agent evacctl talks to off its cluster |
/// | POST | `/_sim/hosts/{host}/networks/{net}/cut`, `/leave`, `/restore` | a host fails in (or leaves) one network |
/// | POST | `/_sim/hosts/{host}/services/{binary}/disconnect` | the service runs but Nova stops hearing it |
///
/// `{cluster}` and `{net}` are a cluster name, a role, or `all`.
pub fn control(world: &mut World, req: &SimRequest) -> Option<Reply> {
    let segs = req.segs();
    let now = req.now;
    let post = req.method == Method::POST;
    let reply = match segs.get(1..).unwrap_or(&[]) {
        ["consul"] if req.method == Method::GET => Reply::json(200, state_view(world)),
        [
            "consul",
            name,
            what @ ("leader" | "observer"),
            action @ ("lose" | "cut" | "restore"),
        ] if post => {
            let on = *action != "restore";
            if (*what == "leader" && *action == "cut") || (*what == "observer" && *action == "lose")
            {
                return Some(control_error(
                    404,
                    &format!(
                        "use {what}/{} or {what}/restore",
                        if *what == "leader" { "lose" } else { "cut" }
                    ),
                ));
            }
            match world.consul.select(name) {
                Ok(list) => {
                    for c in list {
                        let cluster = &mut world.consul.clusters[c];
                        if *what == "leader" {
                            cluster.leader_lost = on;
                        } else {
                            cluster.observer_cut = on;
                        }
                        tracing::info!("control: consul {} {what} {action}", cluster.name);
                    }
                    Reply::json(200, state_view(world))
                }
                Err(e) => control_error(404, &e),
            }
        }
        [
            "hosts",
            host,
            "networks",
            net,
            action @ ("cut" | "leave" | "restore"),
        ] if post => {
            if let Err(e) = world.host(host) {
                return Some(world_error(e));
            }
            match world.consul.select(net) {
                Ok(list) => {
                    for c in list {
                        let cuts = &mut world.consul.clusters[c].cuts;
                        match *action {
                            "cut" => cuts.insert(host.to_string(), Cut::Failed),
                            "leave" => cuts.insert(host.to_string(), Cut::Left),
                            _ => cuts.remove(*host),
                        };
                    }
                    tracing::info!("control: {host} network {net} {action}");
                    Reply::json(200, state_view(world))
                }
                Err(e) => control_error(404, &e),
            }
        }
        ["hosts", host, "services", binary, "disconnect"] if post => {
            match world.lose_heartbeat(host, binary, now) {
                Ok(()) => {
                    tracing::info!("control: {host} {binary} disconnect");
                    Reply::json(200, json!({"host": host_view(world, host, now)}))
                }
                Err(e) => world_error(e),
            }
        }
        _ => return None,
    };
    Some(reply)
}

/// The `[consul.NAME]` sections of an evacctl configuration for the bound clusters;
/// `token_file`: where the ACL token was written, when the scenario has one.
pub fn evacctl_config(world: &ConsulWorld, token_file: Option<&Path>) -> String {
    let mut out = String::new();
    for c in &world.clusters {
        let Some(url) = &c.url else { continue };
        let _ = writeln!(out, "[consul.{}]", c.name);
        let _ = writeln!(out, "role = \"{}\"", c.role);
        let _ = writeln!(out, "addresses = [{}]", toml_str(url));
        let _ = writeln!(out, "datacenter = {}", toml_str(&c.datacenter));
        if let Some(f) = token_file {
            let _ = writeln!(out, "token_file = {}", toml_str(&f.display().to_string()));
        }
        out.push('\n');
    }
    out
}

/// A TOML basic string (JSON's escapes are TOML's).
fn toml_str(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Scenario;

    const HEAD: &str = r#"
[cloud]
[[users]]
name = "admin"
password = "pw"
project = "admin"
[[hosts]]
name = "ctl-1.lab"
role = "controller"
[[hosts]]
name = "ctl-2.lab"
role = "controller"
[[hosts]]
name = "ctl-3.lab"
role = "controller"
[[hosts]]
name = "compute-1.lab"
role = "compute"
"#;

    fn world(extra: &str) -> World {
        let s = Scenario::from_toml_str(&format!("{HEAD}{extra}"), "t").unwrap();
        World::new(&s, 1000.0)
    }

    fn get(w: &mut World, c: usize, path: &str) -> Reply {
        let mut req = SimRequest::new(Method::GET, path);
        req.now = 1000.0;
        handle(w, c, &req)
    }

    #[test]
    fn defaults_three_clusters_named_after_their_roles() {
        let w = world("");
        let names: Vec<(&str, ConsulRole)> = w
            .consul
            .clusters
            .iter()
            .map(|c| (c.name.as_str(), c.role))
            .collect();
        assert_eq!(
            names,
            [
                ("management", ConsulRole::Management),
                ("storage", ConsulRole::Storage),
                ("tenant", ConsulRole::Tenant)
            ]
        );
        assert_eq!(w.consul.services_cluster, Some(0));
        let w = world("[consul]\nenabled = false\n");
        assert!(w.consul.clusters.is_empty());
    }

    #[test]
    fn the_leader_needs_a_majority_of_servers() {
        let mut w = world("[consul]\nnode_names = \"short\"\n");
        let leader = get(&mut w, 0, "/v1/status/leader").body_json().unwrap();
        assert_eq!(leader, json!("10.0.0.10:8300"));
        // One of three servers down: a leader still, autopilot unhealthy (429), tolerance 0.
        w.power_off("ctl-1.lab", 1000.0).unwrap();
        let leader = get(&mut w, 0, "/v1/status/leader").body_json().unwrap();
        assert_eq!(leader, json!("10.0.0.11:8300"));
        let ap = get(&mut w, 0, "/v1/operator/autopilot/health");
        assert_eq!(ap.status.as_u16(), 429);
        let body = ap.body_json().unwrap();
        assert_eq!(body["FailureTolerance"], 0);
        assert_eq!(body["Servers"][1]["Name"], "ctl-2", "short node names");
        // Two of three: no leader, and reads that need it fail unless stale.
        w.power_off("ctl-2.lab", 1000.0).unwrap();
        assert_eq!(
            get(&mut w, 0, "/v1/status/leader").body_json().unwrap(),
            json!("")
        );
        assert_eq!(get(&mut w, 0, "/v1/health/state/any").status.as_u16(), 500);
        assert_eq!(
            get(&mut w, 0, "/v1/health/state/any?stale").status.as_u16(),
            200
        );
        assert_eq!(
            get(&mut w, 0, "/v1/status/peers")
                .body_json()
                .unwrap()
                .as_array()
                .map(Vec::len),
            Some(3)
        );
    }

    #[test]
    fn unknown_paths_and_methods_answer_as_consul() {
        let mut w = world("");
        assert_eq!(get(&mut w, 0, "/v1/nope").status.as_u16(), 404);
        let r = handle(
            &mut w,
            0,
            &SimRequest::new(Method::POST, "/v1/agent/members"),
        );
        assert_eq!(r.status.as_u16(), 405);
        assert_eq!(
            get(&mut w, 1, "/v1/health/state/bogus").status.as_u16(),
            400
        );
        assert_eq!(get(&mut w, 1, "/v1/kv/missing").status.as_u16(), 404);
    }

    #[test]
    fn scenario_errors_point_at_the_key() {
        let e = Scenario::from_toml_str(
            &format!("{HEAD}[[consul.clusters]]\nname = \"a\"\nrole = \"storage\"\n[[consul.clusters]]\nname = \"a\"\nrole = \"tenant\"\n"),
            "t.toml",
        )
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("consul.clusters[1].name"), "{e}");
        let e = Scenario::from_toml_str(
            &format!("{HEAD}[consul]\nservices_cluster = \"mgmt\"\n"),
            "t.toml",
        )
        .unwrap_err();
        assert!(e.message.contains("management, storage, tenant"), "{e}");
        let e = Scenario::from_toml_str(&format!("{HEAD}[consul]\nrole = \"x\"\n"), "t.toml")
            .unwrap_err();
        assert!(e.message.contains("unknown field"), "{e}");
    }

    #[test]
    fn the_evacctl_config_lists_bound_clusters() {
        let mut w = world("");
        w.consul.clusters[0].url = Some("http://127.0.0.1:1234".into());
        let text = evacctl_config(&w.consul, Some(Path::new("/tmp/x.consul-token")));
        assert_eq!(
            text,
            "[consul.management]\nrole = \"management\"\naddresses = [\"http://127.0.0.1:1234\"]\n\
             datacenter = \"dc1\"\ntoken_file = \"/tmp/x.consul-token\"\n\n"
        );
    }
}

#[cfg(test)]
mod blocking_tests;
