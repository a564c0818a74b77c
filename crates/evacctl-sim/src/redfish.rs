//! Redfish BMCs of the simulated hosts, on the simulated cloud's own listener: one
//! ComputerSystem per host, its id the host name.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/redfish/v1` | service root (no authentication, as real BMCs) |
//! | GET | `/redfish/v1/Systems` | every host |
//! | GET | `/redfish/v1/Systems/{host}` | `PowerState` `On` or `Off`: the host's power |
//! | POST | `/redfish/v1/Systems/{host}/Actions/ComputerSystem.Reset` | `ResetType` `On`, `ForceOn`, `ForceOff`, `GracefulShutdown`, `ForceRestart`, `GracefulRestart`, `PowerCycle` |
//!
//! Basic authentication with the scenario's `[bmc]` user and password. The power *is* the
//! host's life: `ForceOff` is the control API's power-off (the host's services stop
//! heartbeating, so its nova-compute turns down after `service_down_time`), `On` its
//! power-on. Faults per BMC through the control API (`POST /_sim/hosts/{host}/bmc`):
//! `lying` (acknowledges `ForceOff`, stays on), `failing` (every request answers 500), and
//! `latency_ms` (a slow BMC).

use axum::http::Method;
use serde_json::{Value, json};

use super::http::{Reply, SimRequest, redfish_error as error};
use super::world::World;

pub mod state;
// The state keeps its old paths (`redfish::Bmcs`).
pub use self::state::*;

/// The latency to apply before answering a Redfish request (a slow BMC).
pub fn latency_ms(world: &World, segments: &[String]) -> u64 {
    match segments {
        [r, v, systems, host, ..] if r == "redfish" && v == "v1" && systems == "Systems" => {
            world.bmcs.get(host).map_or(0, |s| s.latency_ms)
        }
        _ => 0,
    }
}

/// Routes `/redfish/...`.
pub fn handle(world: &mut World, req: &SimRequest) -> Reply {
    let segs = req.segs();
    let rest = match segs.as_slice() {
        ["redfish", "v1", rest @ ..] => rest,
        _ => return error(404, &format!("{} is not a Redfish resource", req.path)),
    };
    if rest.is_empty() {
        return Reply::json(
            200,
            json!({
                "@odata.id": "/redfish/v1",
                "@odata.type": "#ServiceRoot.v1_5_0.ServiceRoot",
                "Id": "RootService",
                "Name": "evacctl-sim Redfish service",
                "RedfishVersion": "1.6.0",
                "Systems": {"@odata.id": "/redfish/v1/Systems"}
            }),
        );
    }
    if let ["Systems", host, ..] = rest
        && world
            .bmcs
            .get(host)
            .is_some_and(|b| b.fault == BmcFault::Failing)
    {
        return error(500, "Internal error (injected BMC fault: failing).");
    }
    if !authorized(world, req) {
        return error(401, "The credentials are not valid.")
            .with_header("www-authenticate", "Basic realm=\"evacctl-sim BMC\"");
    }
    match (&req.method, rest) {
        (&Method::GET, ["Systems"]) => {
            let members: Vec<Value> = world
                .hosts
                .iter()
                .map(|h| json!({"@odata.id": format!("/redfish/v1/Systems/{}", h.name)}))
                .collect();
            Reply::json(
                200,
                json!({
                    "@odata.id": "/redfish/v1/Systems",
                    "@odata.type": "#ComputerSystemCollection.ComputerSystemCollection",
                    "Name": "Computer System Collection",
                    "Members@odata.count": members.len(),
                    "Members": members
                }),
            )
        }
        (&Method::GET, ["Systems", host]) => match world.host(host) {
            Ok(h) => Reply::json(200, system(&h.name, h.powered_on)),
            Err(_) => error(404, &format!("No system {host}.")),
        },
        (&Method::POST, ["Systems", host, "Actions", "ComputerSystem.Reset"]) => {
            reset(world, req, host)
        }
        (_, ["Systems"] | ["Systems", _] | ["Systems", _, "Actions", "ComputerSystem.Reset"]) => {
            error(
                405,
                &format!("{} is not allowed on {}.", req.method, req.path),
            )
        }
        _ => error(404, &format!("No resource {}.", req.path)),
    }
}

fn system(host: &str, on: bool) -> Value {
    let path = format!("/redfish/v1/Systems/{host}");
    json!({
        "@odata.id": path,
        "@odata.type": "#ComputerSystem.v1_13_0.ComputerSystem",
        "Id": host,
        "Name": host,
        "HostName": host,
        "SystemType": "Physical",
        "Manufacturer": "evacctl-sim",
        "PowerState": if on { "On" } else { "Off" },
        "Status": {"State": "Enabled", "Health": "OK"},
        "Actions": {"#ComputerSystem.Reset": {
            "target": format!("{path}/Actions/ComputerSystem.Reset"),
            "ResetType@Redfish.AllowableValues": RESET_TYPES
        }}
    })
}

const RESET_TYPES: [&str; 7] = [
    "On",
    "ForceOn",
    "ForceOff",
    "GracefulShutdown",
    "ForceRestart",
    "GracefulRestart",
    "PowerCycle",
];

fn reset(world: &mut World, req: &SimRequest, host: &str) -> Reply {
    if world.host(host).is_err() {
        return error(404, &format!("No system {host}."));
    }
    let body = match req.json() {
        Ok(v) => v,
        Err(e) => return error(400, &format!("The request body is not valid JSON: {e}")),
    };
    let Some(kind) = body["ResetType"].as_str() else {
        return error(400, "ResetType is required.");
    };
    let lying = world
        .bmcs
        .get(host)
        .is_some_and(|b| b.fault == BmcFault::Lying);
    let now = req.now;
    let done = match kind {
        "On" | "ForceOn" => world.power_on(host, now),
        "ForceOff" | "GracefulShutdown" if lying => {
            tracing::info!("redfish: {host} {kind} acknowledged, power left on (lying BMC)");
            Ok(())
        }
        "ForceOff" | "GracefulShutdown" => world.power_off(host, now),
        "ForceRestart" | "GracefulRestart" | "PowerCycle" => world
            .power_off(host, now)
            .and_then(|()| world.power_on(host, now)),
        other => {
            return error(
                400,
                &format!(
                    "ResetType {other:?} is not one of {}.",
                    RESET_TYPES.join(", ")
                ),
            );
        }
    };
    match done {
        Ok(()) => {
            tracing::info!("redfish: {host} {kind}");
            Reply::empty(204)
        }
        Err(e) => error(404, &e.to_string()),
    }
}

/// Basic authentication against the scenario's BMC credentials.
fn authorized(world: &World, req: &SimRequest) -> bool {
    let Some(value) = req.header("authorization") else {
        return false;
    };
    let Some(encoded) = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
    else {
        return false;
    };
    let Some(decoded) = base64_decode(encoded.trim()) else {
        return false;
    };
    let expected = format!("{}:{}", world.bmcs.user, world.bmcs.password);
    decoded == expected.as_bytes()
}

/// Standard base64 (with or without padding); `None` when malformed.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock;
    use crate::scenario::Scenario;

    fn world() -> World {
        World::new(&Scenario::builtin_default().unwrap(), clock::now())
    }

    fn req(method: Method, path: &str, auth: Option<&str>, body: &str) -> SimRequest {
        let mut r = SimRequest::new(method, path);
        if let Some(a) = auth {
            r.headers.insert("authorization", a.parse().unwrap());
        }
        r.body = body.as_bytes().to_vec();
        r
    }

    // admin:sim-bmc-password
    const AUTH: &str = "Basic YWRtaW46c2ltLWJtYy1wYXNzd29yZA==";

    #[test]
    fn base64() {
        assert_eq!(
            base64_decode("YWRtaW46c2ltLWJtYy1wYXNzd29yZA==").unwrap(),
            b"admin:sim-bmc-password"
        );
        assert_eq!(base64_decode("YQ").unwrap(), b"a");
        assert!(base64_decode("a b").is_none());
    }

    #[test]
    fn power_is_the_hosts_life_and_faults_apply() {
        let mut w = world();
        let get = |w: &mut World| {
            handle(
                w,
                &req(Method::GET, "/redfish/v1/Systems/compute-1", Some(AUTH), ""),
            )
            .body_json()
            .unwrap()["PowerState"]
                .clone()
        };
        assert_eq!(get(&mut w), "On");
        let r = handle(&mut w, &req(Method::GET, "/redfish/v1/Systems", None, ""));
        assert_eq!(r.status.as_u16(), 401);
        let off = r#"{"ResetType": "ForceOff"}"#;
        let reset = "/redfish/v1/Systems/compute-1/Actions/ComputerSystem.Reset";
        let r = handle(&mut w, &req(Method::POST, reset, Some(AUTH), off));
        assert_eq!(r.status.as_u16(), 204);
        assert!(!w.host("compute-1").unwrap().powered_on);
        assert_eq!(get(&mut w), "Off");
        handle(
            &mut w,
            &req(Method::POST, reset, Some(AUTH), r#"{"ResetType": "On"}"#),
        );
        assert_eq!(get(&mut w), "On");

        w.bmcs.set(
            "compute-1",
            BmcState {
                fault: BmcFault::Lying,
                latency_ms: 0,
            },
        );
        let r = handle(&mut w, &req(Method::POST, reset, Some(AUTH), off));
        assert_eq!(r.status.as_u16(), 204);
        assert_eq!(get(&mut w), "On", "a lying BMC acknowledges and stays on");

        w.bmcs.set(
            "compute-1",
            BmcState {
                fault: BmcFault::Failing,
                latency_ms: 7,
            },
        );
        let r = handle(&mut w, &req(Method::POST, reset, Some(AUTH), off));
        assert_eq!(r.status.as_u16(), 500);
        assert_eq!(latency_ms(&w, &crate::http::split_path(reset)), 7);
        let r = handle(
            &mut w,
            &req(
                Method::POST,
                "/redfish/v1/Systems/compute-2/Actions/ComputerSystem.Reset",
                Some(AUTH),
                r#"{"ResetType": "Explode"}"#,
            ),
        );
        assert_eq!(r.status.as_u16(), 400);
    }
}
