//! Placement under `/placement`: only its version document for now; resource providers,
//! inventories, usages and allocations join here with the evacuation work.

use axum::http::Method;
use serde_json::json;

use super::http::{ApiKind, Reply, SimRequest};
use super::keystone;
use super::world::World;

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
    if let Err(r) = keystone::authenticate(world, req) {
        return r;
    }
    ApiKind::Placement.error(404, "The resource could not be found.")
}
