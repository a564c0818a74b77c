//! The control API's own state: injected faults and the request log.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::http::ApiKind;

/// How many requests the log keeps (the oldest go first), so a long watch loop stays bounded.
pub const REQUEST_LOG_CAPACITY: usize = 10_000;

/// A fault as posted to `/_sim/faults`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Only requests with this method (any when absent).
    #[serde(default)]
    pub method: Option<String>,
    /// Only requests whose path (with `?query`) contains this text (all when empty).
    #[serde(default)]
    pub path_contains: String,
    /// Answer with this status instead of the real answer.
    #[serde(default)]
    pub status: Option<u16>,
    /// The body to send with `status`, as raw text; the API's own error body when absent.
    #[serde(default)]
    pub body: Option<String>,
    /// How many matching requests it hits.
    #[serde(default = "one")]
    pub count: u32,
    /// Delay before answering (with or without `status`).
    #[serde(default)]
    pub latency_ms: u64,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Serialize)]
pub struct Fault {
    pub id: u64,
    pub method: Option<String>,
    pub path_contains: String,
    pub status: Option<u16>,
    pub body: Option<String>,
    pub remaining: u32,
    pub latency_ms: u64,
}

impl Fault {
    fn matches(&self, method: &str, path_and_query: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && path_and_query.contains(&self.path_contains)
    }
}

#[derive(Debug, Default)]
pub struct Faults {
    next_id: u64,
    pub active: Vec<Fault>,
    /// nova-api's worker pool (`/_sim/api-workers`); not cleared with the faults.
    pub api_workers: super::workers::ApiWorkers,
}

impl Faults {
    pub fn add(&mut self, spec: FaultSpec) -> Result<Fault, String> {
        if let Some(s) = spec.status
            && !(100..=599).contains(&s)
        {
            return Err(format!("status {s} is not an HTTP status (100-599)"));
        }
        if spec.status.is_none() && spec.latency_ms == 0 {
            return Err("a fault needs a status, a latency_ms, or both".into());
        }
        if spec.body.is_some() && spec.status.is_none() {
            return Err("body needs a status".into());
        }
        if spec.count == 0 {
            return Err("count must be at least 1".into());
        }
        if spec.latency_ms > 600_000 {
            return Err("latency_ms is at most 600000 (10 minutes)".into());
        }
        self.next_id += 1;
        let fault = Fault {
            id: self.next_id,
            method: spec.method,
            path_contains: spec.path_contains,
            status: spec.status,
            body: spec.body,
            remaining: spec.count,
            latency_ms: spec.latency_ms,
        };
        self.active.push(fault.clone());
        Ok(fault)
    }

    /// Takes one hit of the first fault matching a request, dropping it once used up.
    pub fn take(&mut self, method: &str, path_and_query: &str) -> Option<Fault> {
        let i = self
            .active
            .iter()
            .position(|f| f.matches(method, path_and_query))?;
        let f = &mut self.active[i];
        f.remaining = f.remaining.saturating_sub(1);
        let hit = f.clone();
        if hit.remaining == 0 {
            self.active.remove(i);
        }
        Some(hit)
    }

    pub fn clear(&mut self) -> usize {
        let n = self.active.len();
        self.active.clear();
        n
    }
}

/// One API request as the log keeps it.
#[derive(Debug, Clone, Serialize)]
pub struct LoggedRequest {
    pub seq: u64,
    pub at: String,
    pub api: ApiKind,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// `OpenStack-API-Version`, else `X-OpenStack-Nova-API-Version`, as sent.
    pub microversion: Option<String>,
    /// Whether it carried an `X-Auth-Token` (valid or not).
    pub with_token: bool,
    pub status: u16,
    pub request_id: String,
    /// The injected fault that answered or delayed it, if any.
    pub fault: Option<u64>,
    /// The body's size as sent.
    pub bytes: u64,
    /// Time spent answering it (the handler, not the network or injected latency), in µs.
    pub handler_us: u64,
}

#[derive(Debug, Default)]
pub struct RequestLog {
    next_seq: u64,
    pub entries: VecDeque<LoggedRequest>,
    /// Totals since start, kept when the log drops its oldest entries or is cleared (for
    /// benchmarks that make more requests than the log holds).
    pub bytes_total: u64,
    pub handler_us_total: u64,
}

impl RequestLog {
    /// How many requests were logged since start.
    pub fn total(&self) -> u64 {
        self.next_seq
    }

    pub fn push(&mut self, mut entry: LoggedRequest) {
        self.next_seq += 1;
        entry.seq = self.next_seq;
        self.bytes_total += entry.bytes;
        self.handler_us_total += entry.handler_us;
        if self.entries.len() >= REQUEST_LOG_CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }
}
