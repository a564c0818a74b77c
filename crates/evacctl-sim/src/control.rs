//! The control API under `/_sim` (no token, JSON): change the world during a test (power,
//! crashes, token revocation, injected faults) and look at it (state, tokens, request log).
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/_sim/state` | the whole world |
//! | GET | `/_sim/hosts`, `/_sim/hosts/{host}` | hosts with their services |
//! | POST | `/_sim/hosts/{host}/power-off`, `/power-on` | cut or restore a host's power |
//! | POST | `/_sim/hosts/{host}/hardware-fault` | a host that will not come back: power cut now; later power-ons show power on but it hangs at boot (no service, failed in every Consul network) |
//! | POST | `/_sim/hosts/{host}/hardware-repair` | clear the fault: the next power-on boots normally |
//! | POST | `/_sim/hosts/{host}/services/{binary}/crash`, `/start` | kill or restart a service |
//! | GET, POST | `/_sim/hosts/{host}/bmc` | a host's Redfish BMC faults: `{"fault": "none" \| "lying" \| "failing", "latency_ms": N}` |
//! | GET | `/_sim/tokens` | every token ever issued |
//! | POST | `/_sim/tokens/revoke` | invalidate every issued token |
//! | GET, POST, DELETE | `/_sim/faults` | list, add, clear injected faults |
//! | GET, DELETE | `/_sim/requests` | the request log (`?since=SEQ`), or clear it |
//! | GET | `/_sim/requests/count` | totals since start: requests, body bytes sent, handler time |
//! | GET, POST, DELETE | `/_sim/api-workers` | nova-api's worker pool `{"workers": W, "service_ms": S}` and its counters (most requests in flight, served at once, queued; queue wait); DELETE: unlimited again (see [`workers`]) |
//!
//! Consul's controls (network cuts, leader loss, the observer cut off, a lost heartbeat) are
//! in [`super::consul::control`].

use axum::http::Method;
use serde_json::{Value, json};

use super::clock;
use super::http::{ApiKind, Reply, SimRequest};
use super::world::{World, WorldError};

pub mod state;
pub mod view;
pub mod workers;
// Faults and the request log keep their old paths (`control::FaultSpec`).
pub use self::state::*;
pub use self::view::host_view;

fn error(status: u16, message: &str) -> Reply {
    ApiKind::Control.error(status, message)
}

fn world_error(e: WorldError) -> Reply {
    let mut body = json!({"error": {"code": 404, "message": e.to_string()}});
    match &e {
        WorldError::UnknownHost { known, .. } => body["error"]["known_hosts"] = json!(known),
        WorldError::UnknownService { known, .. } => body["error"]["known_services"] = json!(known),
    }
    Reply::json(404, body)
}

fn unknown_host(world: &World, name: &str) -> WorldError {
    WorldError::UnknownHost {
        name: name.to_string(),
        known: world.host_names(),
    }
}

fn token_view(world: &World, now: f64) -> Vec<Value> {
    world
        .identity
        .tokens
        .iter()
        .map(|t| {
            let user = world.identity.user(&t.user_id).map(|u| u.name.clone());
            json!({
                "id": t.id,
                "user": user,
                "scope": t.scope,
                "methods": t.methods,
                "application_credential": t.app_cred_id,
                "issued_at": clock::iso_micros_z(t.issued_at),
                "expires_at": clock::iso_micros_z(t.expires_at),
                "revoked": t.revoked,
                "valid": t.is_valid(now),
            })
        })
        .collect()
}

/// The whole world as JSON (secrets left out: they are in the scenario file).
pub fn state(world: &World, now: f64, base_url: &str) -> Value {
    let id = &world.identity;
    let hosts: Vec<Value> = world
        .hosts
        .iter()
        .map(|h| host_view(world, &h.name, now))
        .collect();
    json!({
        "now": clock::iso_micros_z(now),
        "started_at": clock::iso_micros_z(world.started_at),
        "base_url": base_url,
        "settings": world.settings,
        "hosts": hosts,
        "identity": {
            "domains": id.domains,
            "projects": id.projects,
            "roles": id.roles,
            "users": id.users,
            "application_credentials": id.app_creds,
            "tokens_issued": id.tokens.len(),
            "tokens_valid": id.tokens.iter().filter(|t| t.is_valid(now)).count(),
        },
        "faults": world.faults.active,
        "api_workers": world.faults.api_workers.spec(),
        "requests_logged": world.requests.entries.len(),
        "consul": super::consul::state_view(world),
    })
}

fn workers_view(world: &World) -> Reply {
    let w = &world.faults.api_workers;
    let stats = w.stats();
    // Over every request served, queued or not: what the pool added on average.
    let mean = if stats.served > 0 {
        stats.wait_seconds_total / stats.served as f64
    } else {
        0.0
    };
    Reply::json(
        200,
        json!({"api_workers": w.spec(), "stats": stats, "mean_wait_seconds": mean}),
    )
}

/// Routes `/_sim/...`.
pub fn handle(world: &mut World, req: &SimRequest) -> Reply {
    if let Some(reply) = super::consul::control(world, req) {
        return reply;
    }
    let segs = req.segs();
    let now = req.now;
    let m = &req.method;
    match (m, segs.get(1..).unwrap_or(&[])) {
        (&Method::GET, ["state"]) => Reply::json(200, state(world, now, &req.base_url)),
        (&Method::GET, ["hosts"]) => {
            let hosts: Vec<Value> = world
                .hosts
                .iter()
                .map(|h| host_view(world, &h.name, now))
                .collect();
            Reply::json(200, json!({ "hosts": hosts }))
        }
        (&Method::GET, ["hosts", host]) => match world.host(host) {
            Ok(_) => Reply::json(200, json!({ "host": host_view(world, host, now) })),
            Err(e) => world_error(e),
        },
        (
            &Method::POST,
            [
                "hosts",
                host,
                action @ ("power-off" | "power-on" | "hardware-fault" | "hardware-repair"),
            ],
        ) => {
            let done = match *action {
                "power-off" => world.power_off(host, now),
                "power-on" => world.power_on(host, now),
                "hardware-fault" => world.hardware_fault(host, now),
                _ => world.hardware_repair(host),
            };
            match done {
                Ok(()) => {
                    tracing::info!("control: {host} {action}");
                    Reply::json(200, json!({ "host": host_view(world, host, now) }))
                }
                Err(e) => world_error(e),
            }
        }
        (
            &Method::POST,
            [
                "hosts",
                host,
                "services",
                binary,
                action @ ("crash" | "start"),
            ],
        ) => {
            let done = if *action == "crash" {
                world.crash(host, binary, now)
            } else {
                world.start(host, binary, now)
            };
            match done {
                Ok(()) => {
                    tracing::info!("control: {host} {binary} {action}");
                    Reply::json(200, json!({ "host": host_view(world, host, now) }))
                }
                Err(e) => world_error(e),
            }
        }
        (&Method::GET, ["hosts", host, "bmc"]) => match world.bmcs.get(host) {
            Some(b) => Reply::json(200, json!({ "bmc": b })),
            None => world_error(unknown_host(world, host)),
        },
        (&Method::POST, ["hosts", host, "bmc"]) => {
            let spec = req.json().and_then(|v| {
                serde_json::from_value::<super::redfish::BmcState>(v).map_err(|e| e.to_string())
            });
            match spec {
                Ok(state) if state.latency_ms > 600_000 => {
                    error(400, "latency_ms is at most 600000 (10 minutes)")
                }
                Ok(state) => {
                    if world.bmcs.set(host, state.clone()) {
                        tracing::info!("control: {host} BMC {state:?}");
                        Reply::json(200, json!({ "bmc": state }))
                    } else {
                        world_error(unknown_host(world, host))
                    }
                }
                Err(e) => error(400, &format!("invalid BMC state: {e}")),
            }
        }
        (&Method::GET, ["tokens"]) => Reply::json(200, json!({ "tokens": token_view(world, now) })),
        (&Method::POST, ["tokens", "revoke"]) => {
            let n = world.identity.revoke_all(now);
            tracing::info!("control: revoked {n} valid tokens");
            Reply::json(200, json!({ "revoked": n }))
        }
        (&Method::GET, ["faults"]) => Reply::json(200, json!({ "faults": world.faults.active })),
        (&Method::POST, ["faults"]) => {
            let spec = req
                .json()
                .and_then(|v| serde_json::from_value::<FaultSpec>(v).map_err(|e| e.to_string()));
            match spec.and_then(|s| world.faults.add(s)) {
                Ok(f) => {
                    tracing::info!("control: fault {} added: {:?}", f.id, f);
                    Reply::json(201, json!({ "fault": f }))
                }
                Err(e) => error(400, &format!("invalid fault: {e}")),
            }
        }
        (&Method::DELETE, ["faults"]) => {
            Reply::json(200, json!({ "cleared": world.faults.clear() }))
        }
        (&Method::GET, ["requests"]) => {
            let since = match req.query_param("since").map(str::parse::<u64>) {
                None => 0,
                Some(Ok(n)) => n,
                Some(Err(_)) => return error(400, "since must be a request sequence number"),
            };
            let list: Vec<&LoggedRequest> = world
                .requests
                .entries
                .iter()
                .filter(|r| r.seq > since)
                .collect();
            Reply::json(200, json!({ "requests": list }))
        }
        (&Method::GET, ["requests", "count"]) => {
            let r = &world.requests;
            Reply::json(
                200,
                json!({"requests": r.total(), "bytes": r.bytes_total,
                       "handler_seconds": r.handler_us_total as f64 / 1e6}),
            )
        }
        (&Method::GET, ["api-workers"]) => workers_view(world),
        (&Method::POST, ["api-workers"]) => {
            let spec = req.json().and_then(|v| {
                serde_json::from_value::<workers::WorkersSpec>(v).map_err(|e| e.to_string())
            });
            match spec.and_then(|s| world.faults.api_workers.set(s)) {
                Ok(()) => {
                    tracing::info!("control: api workers {:?}", world.faults.api_workers.spec());
                    workers_view(world)
                }
                Err(e) => error(400, &format!("invalid api-workers: {e}")),
            }
        }
        (&Method::DELETE, ["api-workers"]) => {
            let _ = world
                .faults
                .api_workers
                .set(workers::WorkersSpec::default());
            workers_view(world)
        }
        (&Method::DELETE, ["requests"]) => {
            let n = world.requests.entries.len();
            world.requests.entries.clear();
            Reply::json(200, json!({ "cleared": n }))
        }
        _ if let Some(r) = super::cinder::control(world, req) => r,
        _ if let Some(r) = super::compute::control(world, req) => r,
        _ => error(
            404,
            &format!(
                "no control endpoint {} {} (see GET /_sim/state)",
                req.method, req.path
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: Value) -> FaultSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn faults_match_count_and_expire() {
        let mut f = Faults::default();
        f.add(spec(
            json!({"method": "GET", "path_contains": "os-services", "status": 503, "count": 2}),
        ))
        .unwrap();
        assert!(f.take("PUT", "/compute/v2.1/os-services/x").is_none());
        assert!(f.take("GET", "/compute/v2.1/servers").is_none());
        assert_eq!(
            f.take("get", "/compute/v2.1/os-services")
                .unwrap()
                .remaining,
            1
        );
        assert_eq!(
            f.take("GET", "/volume/v3/p/os-services?host=a")
                .unwrap()
                .remaining,
            0
        );
        assert!(f.take("GET", "/compute/v2.1/os-services").is_none());
        assert!(f.active.is_empty());
    }

    #[test]
    fn fault_validation() {
        let mut f = Faults::default();
        assert!(f.add(spec(json!({"path_contains": "x"}))).is_err());
        assert!(f.add(spec(json!({"status": 99}))).is_err());
        assert!(f.add(spec(json!({"status": 500, "count": 0}))).is_err());
        assert!(f.add(spec(json!({"latency_ms": 10, "body": "x"}))).is_err());
        assert!(f.add(spec(json!({"latency_ms": 10}))).is_ok());
        assert!(serde_json::from_value::<FaultSpec>(json!({"stauts": 500})).is_err());
    }

    #[test]
    fn request_log_is_bounded() {
        let mut log = RequestLog::default();
        for _ in 0..REQUEST_LOG_CAPACITY + 5 {
            log.push(LoggedRequest {
                seq: 0,
                at: String::new(),
                api: ApiKind::Compute,
                method: "GET".into(),
                path: "/".into(),
                query: None,
                microversion: None,
                with_token: false,
                status: 200,
                request_id: String::new(),
                fault: None,
                bytes: 10,
                handler_us: 0,
            });
        }
        assert_eq!(log.entries.len(), REQUEST_LOG_CAPACITY);
        assert_eq!(log.total(), REQUEST_LOG_CAPACITY as u64 + 5);
        assert_eq!(log.bytes_total, 10 * (REQUEST_LOG_CAPACITY as u64 + 5));
        assert_eq!(log.entries.front().unwrap().seq, 6);
    }
}
