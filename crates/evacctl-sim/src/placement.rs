//! Placement under `/placement`: the version document, resource providers (one per compute
//! node, its UUID the hypervisor's), inventories, usages, allocations and allocation
//! candidates ([`candidates`]), as Placement 8.0.0 (1.39) answers them. Allocations move with evacuated servers ([`super::compute`]): the
//! target gets one when the scheduler picks it, the source keeps its own until its nova-compute
//! runs again.

use axum::http::Method;
use serde_json::{Value, json};

use super::compute;
use super::http::{ApiKind, Reply, SimRequest};
use super::keystone;
use super::microversion::{Api, Version};
use super::world::World;

pub mod candidates;
pub mod state;
// The state keeps its old paths (`placement::PlacementState`).
pub use self::state::*;

pub const PLACEMENT: Api = Api {
    service_type: "placement",
    legacy_header: None,
    min: Version::new(1, 0),
    max: Version::new(1, 39),
};

fn error(status: u16, detail: &str) -> Reply {
    ApiKind::Placement.error(status, detail)
}

/// Routes `/placement/...`.
pub fn handle(world: &mut World, req: &SimRequest) -> Reply {
    let get = req.method == Method::GET || req.method == Method::HEAD;
    if req.segments.len() == 1 && get {
        // As real Placement: the root needs no token and lists one version with its range.
        return Reply::json(
            200,
            json!({"versions": [{"id": "v1.0", "max_version": "1.39", "min_version": "1.0",
                                 "status": "CURRENT",
                                 "links": [{"rel": "self", "href": ""}]}]}),
        );
    }
    let ctx = match keystone::authenticate(world, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let v = match PLACEMENT.negotiate(&req.headers) {
        Ok(v) => v,
        Err(e) => return error(e.status(), &e.to_string()),
    };
    if !ctx.is_admin() {
        return error(
            403,
            "Policy does not allow placement:resource_providers:list to be performed.",
        );
    }
    compute::advance(world, req.now);
    let segs = req.segs();
    let path = segs.get(1..).unwrap_or(&[]);
    let p = &world.placement;
    let reply = match (get, path) {
        (true, ["resource_providers"]) => {
            let name = req.query_param("name");
            let uuid = req.query_param("uuid");
            let list: Vec<Value> = p
                .providers
                .iter()
                .filter(|rp| name.is_none_or(|n| rp.name == n))
                .filter(|rp| uuid.is_none_or(|u| rp.uuid == u))
                .map(provider_view)
                .collect();
            Reply::json(200, json!({ "resource_providers": list }))
        }
        (true, ["resource_providers", uuid, rest @ ..]) => match p.provider(uuid) {
            None => error(404, &format!("No resource provider with uuid {uuid} found")),
            Some(rp) => match rest {
                [] => Reply::json(200, provider_view(rp)),
                ["inventories"] => Reply::json(
                    200,
                    json!({"resource_provider_generation": rp.generation, "inventories": rp.inventories}),
                ),
                ["usages"] => Reply::json(
                    200,
                    json!({"resource_provider_generation": rp.generation, "usages": p.usages(uuid)}),
                ),
                ["allocations"] => {
                    let mut out = serde_json::Map::new();
                    for (consumer, per) in &p.allocations {
                        if let Some(r) = per.get(*uuid) {
                            out.insert(consumer.clone(), json!({ "resources": r }));
                        }
                    }
                    Reply::json(
                        200,
                        json!({"allocations": out, "resource_provider_generation": rp.generation}),
                    )
                }
                _ => error(404, "The resource could not be found."),
            },
        },
        (true, ["allocation_candidates"]) if v.at_least(1, 10) => candidates::list(world, req, v),
        (true, ["allocations", consumer]) => {
            let mut out = serde_json::Map::new();
            for (rp, r) in p.allocations.get(*consumer).into_iter().flatten() {
                let generation = p.provider(rp).map_or(0, |x| x.generation);
                out.insert(
                    rp.clone(),
                    json!({"resources": r, "generation": generation}),
                );
            }
            let mut body = json!({ "allocations": out });
            if let Some((project, user)) = p.consumers.get(*consumer)
                && !out_is_empty(&body)
            {
                body["project_id"] = json!(project);
                body["user_id"] = json!(user);
                if v.at_least(1, 28) {
                    body["consumer_generation"] = json!(1);
                }
                if v.at_least(1, 38) {
                    body["consumer_type"] = json!("INSTANCE");
                }
            }
            Reply::json(200, body)
        }
        (false, _) => error(405, "The method is not allowed."),
        _ => error(404, "The resource could not be found."),
    };
    let mut reply = reply;
    for (k, val) in PLACEMENT.echo(v) {
        reply = reply.with_header(k, val);
    }
    reply
}

fn out_is_empty(body: &Value) -> bool {
    body["allocations"].as_object().is_none_or(|o| o.is_empty())
}

fn provider_view(rp: &Provider) -> Value {
    let base = format!("/resource_providers/{}", rp.uuid);
    let links: Vec<Value> = [
        "",
        "/inventories",
        "/usages",
        "/aggregates",
        "/traits",
        "/allocations",
    ]
    .iter()
    .map(|tail| {
        let rel = if tail.is_empty() { "self" } else { &tail[1..] };
        json!({"rel": rel, "href": format!("{base}{tail}")})
    })
    .collect();
    json!({"uuid": rp.uuid, "name": rp.name, "generation": rp.generation, "links": links,
           "parent_provider_uuid": null, "root_provider_uuid": rp.uuid})
}
