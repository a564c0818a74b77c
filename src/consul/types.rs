//! The Consul HTTP API's JSON shapes that evacctl reads and writes (PascalCase on the wire).
//! Fields evacctl does not need are ignored; fields it needs are required, so a malformed
//! answer is an error naming the call, never a silent default.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize};

/// `null` as the type's default (Consul writes `null` for empty lists and maps).
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A member of the gossip pool, as one agent sees it (`GET /v1/agent/members`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Addr", default)]
    pub addr: String,
    #[serde(rename = "Port", default)]
    pub port: u16,
    #[serde(rename = "Tags", default, deserialize_with = "null_default")]
    pub tags: BTreeMap<String, String>,
    /// serf's status: 0 none, 1 alive, 2 leaving, 3 left, 4 failed.
    #[serde(rename = "Status")]
    pub status: i64,
}

impl Member {
    /// A Consul server (tag `role=consul`), as opposed to a client agent (`role=node`).
    pub fn is_server(&self) -> bool {
        self.tags.get("role").is_some_and(|r| r == "consul")
    }
}

/// A health check as the catalog has it (`/v1/health/node`, `/v1/health/state`,
/// `/v1/health/checks`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    #[serde(rename = "Node")]
    pub node: String,
    #[serde(rename = "CheckID")]
    pub check_id: String,
    #[serde(rename = "Name", default)]
    pub name: String,
    /// `passing`, `warning`, `critical` (or `maintenance`).
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "Output", default, deserialize_with = "null_default")]
    pub output: String,
    #[serde(rename = "ServiceID", default, deserialize_with = "null_default")]
    pub service_id: String,
    #[serde(rename = "ServiceName", default, deserialize_with = "null_default")]
    pub service_name: String,
}

/// The node-level liveness check Consul keeps for every member.
pub const SERF_HEALTH: &str = "serfHealth";

impl HealthCheck {
    pub fn is_serf_health(&self) -> bool {
        self.check_id == SERF_HEALTH
    }
}

/// `GET /v1/operator/autopilot/health` (HTTP 200 when healthy, 429 when not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutopilotHealth {
    #[serde(rename = "Healthy")]
    pub healthy: bool,
    #[serde(rename = "FailureTolerance", default)]
    pub failure_tolerance: i64,
    #[serde(rename = "Servers", default, deserialize_with = "null_default")]
    pub servers: Vec<AutopilotServer>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutopilotServer {
    #[serde(rename = "ID", default)]
    pub id: String,
    #[serde(rename = "Name", default)]
    pub name: String,
    #[serde(rename = "Address", default)]
    pub address: String,
    #[serde(rename = "SerfStatus", default)]
    pub serf_status: String,
    #[serde(rename = "Leader", default)]
    pub leader: bool,
    #[serde(rename = "Voter", default)]
    pub voter: bool,
    #[serde(rename = "Healthy", default)]
    pub healthy: bool,
    #[serde(rename = "LastContact", default, deserialize_with = "null_default")]
    pub last_contact: String,
}

/// What happens to a session's locks when it is invalidated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Behavior {
    /// The locks are released (the keys stay).
    #[default]
    Release,
    /// The locked keys are deleted.
    Delete,
}

/// `PUT /v1/session/create`'s body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct SessionRequest {
    #[serde(rename = "Name", skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The node the session belongs to; the agent's own node when absent.
    #[serde(rename = "Node", skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// `"10s"` .. `"86400s"`; none: the session lives until destroyed (or its node fails).
    #[serde(rename = "TTL", skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    /// `"15s"` (Consul's default) .. `"60s"`; `"0s"` for none.
    #[serde(rename = "LockDelay", skip_serializing_if = "Option::is_none")]
    pub lock_delay: Option<String>,
    #[serde(rename = "Behavior")]
    pub behavior: Behavior,
    /// Node checks that invalidate the session when critical; absent: `["serfHealth"]`.
    /// `Some(vec![])` ties the session to its TTL alone.
    #[serde(rename = "NodeChecks", skip_serializing_if = "Option::is_none")]
    pub node_checks: Option<Vec<String>>,
}

/// A session (`/v1/session/info`, `/v1/session/renew`, `/v1/session/list`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionEntry {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Name", default)]
    pub name: String,
    #[serde(rename = "Node", default)]
    pub node: String,
    #[serde(rename = "TTL", default)]
    pub ttl: String,
    #[serde(rename = "Behavior", default)]
    pub behavior: Behavior,
    /// Nanoseconds.
    #[serde(rename = "LockDelay", default)]
    pub lock_delay: u64,
    #[serde(rename = "CreateIndex", default)]
    pub create_index: u64,
}

/// `PUT /v1/session/create`'s answer.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SessionCreated {
    #[serde(rename = "ID")]
    pub id: String,
}

/// A key (`GET /v1/kv/<key>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvEntry {
    #[serde(rename = "Key")]
    pub key: String,
    /// Base64 on the wire; `null` for an empty value.
    #[serde(rename = "Value", default)]
    pub value: Option<String>,
    #[serde(rename = "Flags", default)]
    pub flags: u64,
    /// The session holding the lock on this key, if any.
    #[serde(rename = "Session", default)]
    pub session: Option<String>,
    #[serde(rename = "LockIndex", default)]
    pub lock_index: u64,
    #[serde(rename = "CreateIndex", default)]
    pub create_index: u64,
    #[serde(rename = "ModifyIndex", default)]
    pub modify_index: u64,
}

impl KvEntry {
    /// The value's bytes; `None` when the base64 is not valid.
    pub fn value_bytes(&self) -> Option<Vec<u8>> {
        match &self.value {
            None => Some(Vec::new()),
            Some(v) => decode_base64(v),
        }
    }
}

/// Standard base64 with padding, as Consul writes KV values.
pub fn encode_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_parse_as_consul_writes_them() {
        let text = r#"[{"Name":"ctl-1","Addr":"10.0.0.10","Port":8301,
            "Tags":{"dc":"dc1","role":"consul"},"Status":1,"ProtocolMin":1,"ProtocolMax":5,
            "ProtocolCur":2,"DelegateMin":2,"DelegateMax":5,"DelegateCur":4},
            {"Name":"compute-1","Addr":"10.0.0.11","Port":8301,"Tags":null,"Status":4}]"#;
        let m: Vec<Member> = serde_json::from_str(text).unwrap();
        assert!(m[0].is_server());
        assert!(!m[1].is_server());
        assert_eq!(m[1].status, 4);
        assert!(serde_json::from_str::<Vec<Member>>(r#"[{"Name":"x"}]"#).is_err());
        assert!(serde_json::from_str::<Vec<Member>>(r#"[{"Name":7,"Status":1}]"#).is_err());
    }

    #[test]
    fn checks_and_autopilot() {
        let c: Vec<HealthCheck> = serde_json::from_str(
            r#"[{"Node":"n","CheckID":"serfHealth","Name":"Serf Health Status","Status":"passing",
                 "Notes":"","Output":"Agent alive and reachable","ServiceID":"","ServiceName":"",
                 "ServiceTags":[],"Type":"","Namespace":"default"}]"#,
        )
        .unwrap();
        assert!(c[0].is_serf_health());
        let a: AutopilotHealth = serde_json::from_str(
            r#"{"Healthy":false,"FailureTolerance":0,"Servers":[{"ID":"e3","Name":"ctl-1",
                "Address":"10.0.0.10:8300","SerfStatus":"alive","Version":"1.19.0","Leader":true,
                "LastContact":"0s","LastTerm":2,"LastIndex":10,"Healthy":true,"Voter":true,
                "StableSince":"2026-11-22T01:00:00Z"}]}"#,
        )
        .unwrap();
        assert!(!a.healthy && a.servers[0].leader && a.servers[0].voter);
    }

    #[test]
    fn sessions_and_kv() {
        let req = SessionRequest {
            name: Some("evacctl".into()),
            ttl: Some("15s".into()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"Name":"evacctl","TTL":"15s","Behavior":"release"}"#
        );
        let kv: Vec<KvEntry> = serde_json::from_str(
            r#"[{"LockIndex":1,"Key":"evacctl/leader","Flags":0,"Value":"Y3RsLTE=",
                 "Session":"adf4238a","CreateIndex":5,"ModifyIndex":6}]"#,
        )
        .unwrap();
        assert_eq!(kv[0].value_bytes().unwrap(), b"ctl-1");
        assert_eq!(kv[0].session.as_deref(), Some("adf4238a"));
        let empty = KvEntry {
            value: None,
            ..kv[0].clone()
        };
        assert_eq!(empty.value_bytes().unwrap(), b"");
        assert_eq!(
            decode_base64(&encode_base64(b"\x00\xffhi")).unwrap(),
            b"\x00\xffhi"
        );
        assert!(decode_base64("not base64!").is_none());
    }
}
