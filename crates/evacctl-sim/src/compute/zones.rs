//! Nova's `os-aggregates` (list, show) and `os-availability-zone` (list, detail), as Zed
//! answers them. Aggregates are read-only here: the scenario makes them.

use serde_json::{Value, json};

use crate::clock;
use crate::compute::state::Aggregate;
use crate::http::{Reply, SimRequest, openstack_fault};
use crate::keystone::AuthContext;
use crate::microversion::Version;
use crate::scenario::compute::INTERNAL_ZONE;
use crate::world::{ServiceApi, World};

fn forbidden(rule: &str) -> Reply {
    openstack_fault(
        403,
        &format!("Policy doesn't allow {rule} to be performed."),
    )
}

/// One aggregate as Nova marshals it: every field of the object, `uuid` from 2.41.
fn aggregate_view(a: &Aggregate, v: Version) -> Value {
    let mut out = json!({
        "availability_zone": a.availability_zone,
        "created_at": clock::iso_micros(a.created_at),
        "deleted": false,
        "deleted_at": null,
        "hosts": a.hosts,
        "id": a.id,
        "metadata": a.metadata,
        "name": a.name,
        "updated_at": null,
    });
    if v.at_least(2, 41) {
        out["uuid"] = json!(a.uuid);
    }
    out
}

/// `GET /os-aggregates` (admin).
pub fn list_aggregates(world: &World, ctx: &AuthContext, v: Version) -> Reply {
    if !ctx.is_admin() {
        return forbidden("os_compute_api:os-aggregates:index");
    }
    let items: Vec<Value> = world
        .compute
        .aggregates
        .iter()
        .map(|a| aggregate_view(a, v))
        .collect();
    Reply::json(200, json!({ "aggregates": items }))
}

/// `GET /os-aggregates/{id}` (admin): the id is the integer one, even from 2.41.
pub fn show_aggregate(world: &World, ctx: &AuthContext, v: Version, id: &str) -> Reply {
    if !ctx.is_admin() {
        return forbidden("os_compute_api:os-aggregates:show");
    }
    let Ok(n) = id.parse::<u64>() else {
        return openstack_fault(400, "Invalid input received: id must be an integer");
    };
    match world.compute.aggregates.iter().find(|a| a.id == n) {
        Some(a) => Reply::json(200, json!({ "aggregate": aggregate_view(a, v) })),
        None => openstack_fault(404, &format!("Aggregate {id} could not be found.")),
    }
}

/// `GET /os-availability-zone` (anyone) and `/detail` (admin). A zone is available when one
/// of its services is enabled, unavailable when all are disabled; the plain list hides the
/// internal zone, the detail lists each enabled service per host (Nova's
/// `_describe_availability_zones[_verbose]`).
pub fn list_zones(world: &World, req: &SimRequest, ctx: &AuthContext, detail: bool) -> Reply {
    if detail && !ctx.is_admin() {
        return forbidden("os_compute_api:os-availability-zone:detail");
    }
    let services: Vec<_> = world.services_of(ServiceApi::Nova).collect();
    let mut available: Vec<&str> = services
        .iter()
        .filter(|s| !s.disabled)
        .map(|s| s.zone.as_str())
        .collect();
    available.sort_unstable();
    available.dedup();
    let mut unavailable: Vec<&str> = services
        .iter()
        .filter(|s| s.disabled && !available.contains(&s.zone.as_str()))
        .map(|s| s.zone.as_str())
        .collect();
    unavailable.sort_unstable();
    unavailable.dedup();
    let mut info = Vec::new();
    for zone in &available {
        if !detail && *zone == INTERNAL_ZONE {
            continue;
        }
        let hosts = if detail {
            let mut hosts = serde_json::Map::new();
            for s in services.iter().filter(|s| !s.disabled && s.zone == *zone) {
                let entry = hosts.entry(s.host.clone()).or_insert_with(|| json!({}));
                entry[s.binary.as_str()] = json!({
                    "available": s.is_up(req.now, &world.settings),
                    "active": true,
                    "updated_at": clock::iso_micros(s.updated_at(req.now, &world.settings)),
                });
            }
            Value::Object(hosts)
        } else {
            Value::Null
        };
        info.push(json!({"zoneName": zone, "zoneState": {"available": true}, "hosts": hosts}));
    }
    for zone in &unavailable {
        if !detail && *zone == INTERNAL_ZONE {
            continue;
        }
        info.push(json!({"zoneName": zone, "zoneState": {"available": false}, "hosts": null}));
    }
    Reply::json(200, json!({ "availabilityZoneInfo": info }))
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderValue, Method};
    use serde_json::Value;

    use crate::http::{Reply, SimRequest};
    use crate::scenario::Scenario;
    use crate::world::{ServiceApi, World};
    use crate::{clock, compute, keystone, nova};

    const ZONES: &str = include_str!("../../../../scenarios/zones.toml");
    const RESERVED: &str = include_str!("../../../../scenarios/reserved.toml");

    struct Cloud {
        w: World,
        admin: String,
        demo: String,
        now: f64,
    }

    fn cloud(text: &str) -> Cloud {
        let s = Scenario::from_toml_str(text, "t.toml").unwrap();
        let now = clock::now();
        let mut w = World::new(&s, now);
        let admin = keystone::token_for_tests(&mut w, "admin", "sim-admin-password", "admin");
        let demo = keystone::token_for_tests(&mut w, "demo", "sim-demo-password", "demo");
        Cloud {
            w,
            admin,
            demo,
            now,
        }
    }

    impl Cloud {
        fn call_as(&mut self, token: &str, m: Method, path: &str, mv: &str, body: &str) -> Reply {
            let mut req = SimRequest::new(m, path);
            req.now = self.now;
            req.headers
                .insert("x-auth-token", HeaderValue::from_str(token).unwrap());
            req.headers.insert(
                "openstack-api-version",
                HeaderValue::from_str(&format!("compute {mv}")).unwrap(),
            );
            req.body = body.as_bytes().to_vec();
            nova::handle(&mut self.w, &req)
        }

        fn get(&mut self, path: &str, mv: &str) -> (u16, Value) {
            let t = self.admin.clone();
            let r = self.call_as(&t, Method::GET, path, mv, "");
            (r.status.as_u16(), r.body_json().unwrap_or(Value::Null))
        }

        fn id(&self, name: &str) -> String {
            let s = self.w.compute.servers.iter().find(|s| s.name == name);
            s.unwrap().id.clone()
        }

        fn server(&mut self, name: &str) -> Value {
            let id = self.id(name);
            self.get(&format!("/compute/v2.1/servers/{id}"), "2.93").1["server"].clone()
        }

        fn evacuate(&mut self, name: &str, body: &str, mv: &str) -> u16 {
            let (t, id) = (self.admin.clone(), self.id(name));
            let path = format!("/compute/v2.1/servers/{id}/action");
            let r = self.call_as(&t, Method::POST, &path, mv, body);
            r.status.as_u16()
        }

        /// Lets every evacuation run to its end (accept 0.3 s + rebuild 0.7 s).
        fn settle(&mut self) {
            self.now += 2.0;
            compute::advance(&mut self.w, self.now);
        }

        /// The host dies and Nova sees its nova-compute down.
        fn kill(&mut self, host: &str) {
            self.w.power_off(host, self.now).unwrap();
            self.now += 5.0;
        }

        fn host_of(&self, name: &str) -> (&str, &str) {
            let s = self.w.compute.servers.iter().find(|s| s.name == name);
            let s = s.unwrap();
            (s.host.as_str(), s.vm_state.as_str())
        }
    }

    #[test]
    fn aggregates_and_zones_in_novas_shape() {
        let mut c = cloud(ZONES);
        let (code, b) = c.get("/compute/v2.1/os-aggregates", "2.93");
        assert_eq!(code, 200);
        let aggs = b["aggregates"].as_array().unwrap();
        let names: Vec<&str> = aggs.iter().map(|a| a["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["az1", "az2", "ssd"]);
        let az1 = &aggs[0];
        assert_eq!(az1["id"], 1);
        assert_eq!(az1["uuid"].as_str().unwrap().len(), 36);
        assert_eq!(az1["availability_zone"], "az1");
        assert_eq!(az1["metadata"]["availability_zone"], "az1");
        assert_eq!(az1["hosts"], serde_json::json!(["compute-1", "compute-2"]));
        assert_eq!(
            (az1["deleted"].clone(), az1["deleted_at"].clone()),
            (false.into(), Value::Null)
        );
        assert!(az1["created_at"].as_str().unwrap().ends_with(".000000"));
        assert_eq!(az1["updated_at"], Value::Null);
        let (code, b) = c.get("/compute/v2.1/os-aggregates/3", "2.93");
        assert_eq!(code, 200);
        let ssd = &b["aggregate"];
        assert_eq!(ssd["availability_zone"], Value::Null);
        assert_eq!(ssd["metadata"], serde_json::json!({"ssd": "true"}));
        assert_eq!(ssd["hosts"], serde_json::json!(["compute-3", "compute-4"]));
        // No uuid below 2.41.
        let (_, b) = c.get("/compute/v2.1/os-aggregates", "2.40");
        assert!(b["aggregates"][0].get("uuid").is_none());
        let (code, b) = c.get("/compute/v2.1/os-aggregates/9", "2.93");
        assert_eq!(code, 404);
        assert_eq!(
            b["itemNotFound"]["message"],
            "Aggregate 9 could not be found."
        );
        assert_eq!(c.get("/compute/v2.1/os-aggregates/ssd", "2.93").0, 400);

        // The plain list hides the internal zone and the hosts.
        let (code, b) = c.get("/compute/v2.1/os-availability-zone", "2.93");
        assert_eq!(code, 200);
        assert_eq!(
            b["availabilityZoneInfo"],
            serde_json::json!([
                {"zoneName": "az1", "zoneState": {"available": true}, "hosts": null},
                {"zoneName": "az2", "zoneState": {"available": true}, "hosts": null},
            ])
        );
        let (code, b) = c.get("/compute/v2.1/os-availability-zone/detail", "2.93");
        assert_eq!(code, 200);
        let info = b["availabilityZoneInfo"].as_array().unwrap();
        let zones: Vec<&str> = info
            .iter()
            .map(|z| z["zoneName"].as_str().unwrap())
            .collect();
        assert_eq!(zones, ["az1", "az2", "internal"]);
        let svc = &info[1]["hosts"]["compute-3"]["nova-compute"];
        assert_eq!(
            (svc["available"].clone(), svc["active"].clone()),
            (true.into(), true.into())
        );
        assert!(svc["updated_at"].as_str().unwrap().ends_with(".000000"));
        assert!(info[2]["hosts"]["ctl-1"]["nova-scheduler"].is_object());
        assert!(info[1]["hosts"].get("compute-1").is_none());

        // Aggregates and the detail are admin's; the plain list is anyone's.
        let t = c.demo.clone();
        for path in [
            "/compute/v2.1/os-aggregates",
            "/compute/v2.1/os-aggregates/1",
            "/compute/v2.1/os-availability-zone/detail",
        ] {
            assert_eq!(
                c.call_as(&t, Method::GET, path, "2.93", "").status.as_u16(),
                403,
                "{path}"
            );
        }
        let path = "/compute/v2.1/os-availability-zone";
        assert_eq!(
            c.call_as(&t, Method::GET, path, "2.93", "").status.as_u16(),
            200
        );
        let path = "/compute/v2.1/os-aggregates";
        assert_eq!(
            c.call_as(&c.admin.clone(), Method::POST, path, "2.93", "{}")
                .status
                .as_u16(),
            405
        );
    }

    #[test]
    fn a_servers_zone_is_its_hosts_and_follows_an_evacuation() {
        let mut c = cloud(ZONES);
        assert_eq!(c.server("az1-web-1")["OS-EXT-AZ:availability_zone"], "az1");
        assert_eq!(c.server("db-1")["OS-EXT-AZ:availability_zone"], "az2");
        // The services show the aggregates' zones.
        let (_, b) = c.get("/compute/v2.1/os-services?binary=nova-compute", "2.93");
        let zones: Vec<&str> = b["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["zone"].as_str().unwrap())
            .collect();
        assert_eq!(zones, ["az1", "az1", "az2", "az2"]);
        c.kill("compute-3");
        // Booted without a zone: the scheduler takes the emptiest host, in another zone.
        assert_eq!(c.evacuate("db-1", r#"{"evacuate": {}}"#, "2.93"), 200);
        // Targeted: it stays in az2 (and in the ssd aggregate).
        let to_4 = r#"{"evacuate": {"host": "compute-4"}}"#;
        assert_eq!(c.evacuate("web-1", to_4, "2.93"), 200);
        c.settle();
        assert_eq!(c.host_of("db-1"), ("compute-1", "active"));
        assert_eq!(c.server("db-1")["OS-EXT-AZ:availability_zone"], "az1");
        assert_eq!(c.host_of("web-1"), ("compute-4", "active"));
        assert_eq!(c.server("web-1")["OS-EXT-AZ:availability_zone"], "az2");
    }

    #[test]
    fn a_requested_zone_keeps_evacuations_in_it() {
        let mut text = ZONES.to_string();
        for name in ["db-1", "web-1", "batch-1"] {
            let line = format!("name = \"{name}\"\n");
            text = text.replace(&line, &format!("{line}availability_zone = \"az2\"\n"));
        }
        let mut c = cloud(&text);
        c.kill("compute-3");
        // Untargeted: compute-1 has the most room but is in az1; compute-4 is the only choice.
        assert_eq!(c.evacuate("db-1", r#"{"evacuate": {}}"#, "2.93"), 200);
        // Targeted at another zone (force false, the default): NoValidHost.
        let to_1 = r#"{"evacuate": {"host": "compute-1"}}"#;
        assert_eq!(c.evacuate("web-1", to_1, "2.93"), 200);
        // Forced (below 2.29 a host is always forced): Nova skips the scheduler.
        assert_eq!(c.evacuate("batch-1", to_1, "2.28"), 200);
        c.settle();
        assert_eq!(c.host_of("db-1"), ("compute-4", "active"));
        assert_eq!(c.host_of("web-1"), ("compute-3", "error"));
        let web = c.server("web-1");
        assert_eq!(web["status"], "ERROR");
        assert!(
            web["fault"]["message"]
                .as_str()
                .unwrap()
                .starts_with("No valid host")
        );
        let statuses: Vec<&str> =
            c.w.compute
                .migrations
                .iter()
                .map(|m| m.status.as_str())
                .collect();
        assert_eq!(statuses, ["done", "error", "done"]);
        assert_eq!(c.host_of("batch-1"), ("compute-1", "active"));
        // The ERROR server may be evacuated again, within its zone.
        assert_eq!(
            c.evacuate("web-1", r#"{"evacuate": {"host": "compute-4"}}"#, "2.93"),
            200
        );
        c.settle();
        assert_eq!(c.host_of("web-1"), ("compute-4", "active"));
    }

    #[test]
    fn a_disabled_reserved_host_is_not_picked_until_enabled() {
        let mut c = cloud(RESERVED);
        let (_, b) = c.get("/compute/v2.1/os-services?host=compute-4", "2.93");
        let svc = b["services"][0].clone();
        assert_eq!(
            (svc["status"].as_str(), svc["state"].as_str()),
            (Some("disabled"), Some("up"))
        );
        assert_eq!(svc["disabled_reason"], "evacctl: reserved");
        let (_, b) = c.get("/compute/v2.1/os-hypervisors/detail", "2.93");
        let h4 = b["hypervisors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["hypervisor_hostname"] == "compute-4")
            .cloned()
            .unwrap();
        assert_eq!(h4["status"], "disabled");
        assert_eq!(h4["service"]["disabled_reason"], "evacctl: reserved");
        // The zone stays available through compute-1..3; the detail leaves compute-4 out.
        let (_, b) = c.get("/compute/v2.1/os-availability-zone/detail", "2.93");
        let nova = b["availabilityZoneInfo"]
            .as_array()
            .unwrap()
            .iter()
            .find(|z| z["zoneName"] == "nova")
            .cloned()
            .unwrap();
        assert_eq!(nova["zoneState"]["available"], true);
        assert!(nova["hosts"].get("compute-4").is_none());

        c.kill("compute-3");
        // By priority: the top two fit on compute-1 and compute-2, the third nowhere.
        for name in ["db-1", "api-1", "web-1"] {
            assert_eq!(
                c.evacuate(name, r#"{"evacuate": {}}"#, "2.93"),
                200,
                "{name}"
            );
            c.settle();
        }
        assert_eq!(c.host_of("db-1"), ("compute-1", "active"));
        assert_eq!(c.host_of("api-1"), ("compute-2", "active"));
        assert_eq!(c.host_of("web-1"), ("compute-3", "error"));
        // Not even when named.
        let to_4 = r#"{"evacuate": {"host": "compute-4"}}"#;
        assert_eq!(c.evacuate("batch-1", to_4, "2.93"), 200);
        c.settle();
        assert_eq!(c.host_of("batch-1"), ("compute-3", "error"));

        // Enabled (2.53): a candidate again.
        let uuid =
            c.w.services
                .iter()
                .find(|s| s.api == ServiceApi::Nova && s.host == "compute-4")
                .unwrap()
                .uuid
                .clone();
        let t = c.admin.clone();
        let path = format!("/compute/v2.1/os-services/{uuid}");
        let r = c.call_as(&t, Method::PUT, &path, "2.53", r#"{"status": "enabled"}"#);
        assert_eq!(r.status.as_u16(), 200);
        let b = r.body_json().unwrap();
        assert_eq!(
            (
                b["service"]["status"].as_str(),
                b["service"]["disabled_reason"].clone()
            ),
            (Some("enabled"), Value::Null)
        );
        for name in ["web-1", "batch-1", "scratch-1"] {
            assert_eq!(
                c.evacuate(name, r#"{"evacuate": {}}"#, "2.93"),
                200,
                "{name}"
            );
        }
        c.settle();
        for name in ["web-1", "batch-1", "scratch-1"] {
            assert_eq!(c.host_of(name), ("compute-4", "active"), "{name}");
        }
    }

    #[test]
    fn metadata_and_flavor_extra_specs_as_nova_shows_them() {
        let mut c = cloud(RESERVED);
        let db = c.server("db-1");
        assert_eq!(
            db["metadata"],
            serde_json::json!({"HA_Enabled": "true", "evacctl:priority": "100"})
        );
        assert_eq!(db["OS-EXT-AZ:availability_zone"], "nova");
        let api = c.server("api-1");
        assert_eq!(api["metadata"], serde_json::json!({}));
        assert_eq!(api["flavor"]["original_name"], "prio.medium");
        assert_eq!(
            api["flavor"]["extra_specs"],
            serde_json::json!({"evacctl:priority": "70"})
        );
        // Below 2.47 the flavor is a link: its extra specs come from the flavor API.
        let id = c.id("api-1");
        let (_, b) = c.get(&format!("/compute/v2.1/servers/{id}"), "2.46");
        assert_eq!(b["server"]["flavor"]["id"], "5");
        let (_, b) = c.get("/compute/v2.1/flavors/5", "2.46");
        assert_eq!(b["flavor"]["extra_specs"]["evacctl:priority"], "70");
    }
}
