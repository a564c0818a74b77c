//! The HTTP layer's own types: a request as the service modules see it, a reply they return, and
//! the error bodies each real service uses. Service modules are plain functions from
//! `(&mut World, &SimRequest)` to `Reply`, with no async and no axum types in their signatures.

use axum::http::{HeaderMap, Method, StatusCode};
use serde::Serialize;
use serde_json::{Value, json};

/// A request, already read whole.
#[derive(Debug, Clone)]
pub struct SimRequest {
    pub method: Method,
    /// The raw path, as received.
    pub path: String,
    /// Percent-decoded path segments, empty ones dropped (`/a//b/` is `["a", "b"]`).
    pub segments: Vec<String>,
    /// The raw query string, if any.
    pub raw_query: Option<String>,
    /// Decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// `req-<uuid>`, also sent back in `x-openstack-request-id`.
    pub request_id: String,
    /// Where this server is reached, e.g. `http://127.0.0.1:41234` (no trailing slash).
    pub base_url: String,
    /// Wall-clock time of the request (seconds since the epoch).
    pub now: f64,
}

impl SimRequest {
    /// A request for unit tests and in-process callers; fills the rest with defaults.
    pub fn new(method: Method, path_and_query: &str) -> SimRequest {
        let (path, raw_query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q.to_string())),
            None => (path_and_query.to_string(), None),
        };
        SimRequest {
            method,
            segments: split_path(&path),
            query: raw_query.as_deref().map(parse_query).unwrap_or_default(),
            path,
            raw_query,
            headers: HeaderMap::new(),
            body: Vec::new(),
            request_id: format!("req-{}", uuid::Uuid::new_v4()),
            base_url: "http://127.0.0.1:0".into(),
            now: super::clock::now(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The first value of a query parameter.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The segments as `&str`s, for slice patterns in routers.
    pub fn segs(&self) -> Vec<&str> {
        self.segments.iter().map(String::as_str).collect()
    }

    /// The body parsed as JSON, or why it cannot be.
    pub fn json(&self) -> Result<Value, String> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err("The request body is empty.".into());
        }
        serde_json::from_slice(&self.body).map_err(|e| e.to_string())
    }
}

/// Splits and percent-decodes a path.
pub fn split_path(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode(s, false))
        .collect()
}

/// Parses `a=1&b=x%40y` (`+` is a space, as in forms).
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

/// Percent-decoding that never fails: a bad escape stays as written, bad UTF-8 is replaced.
pub fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|c| (*c as char).to_digit(16)),
                bytes.get(i + 2).and_then(|c| (*c as char).to_digit(16)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(if plus_is_space && b == b'+' { b' ' } else { b });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a handler answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub body: ReplyBody,
}

#[derive(Debug, Clone)]
pub enum ReplyBody {
    Empty,
    Json(Value),
    /// Raw text sent as-is (fault injection's malformed bodies), with its content type.
    Raw(String, String),
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status: status_code(status),
            headers: Vec::new(),
            body: ReplyBody::Json(body),
        }
    }

    /// Serializes a typed body now, so fields keep the struct's order (as the real services').
    pub fn typed<T: Serialize>(status: u16, body: &T) -> Reply {
        match serde_json::to_string(body) {
            Ok(text) => Reply::raw(status, "application/json", text),
            Err(e) => Reply::json(
                500,
                json!({"error": {"code": 500, "message": e.to_string()}}),
            ),
        }
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status: status_code(status),
            headers: Vec::new(),
            body: ReplyBody::Empty,
        }
    }

    pub fn raw(status: u16, content_type: &str, body: String) -> Reply {
        Reply {
            status: status_code(status),
            headers: Vec::new(),
            body: ReplyBody::Raw(content_type.to_string(), body),
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// The body as JSON, if it is JSON (for tests and in-process callers).
    pub fn body_json(&self) -> Option<Value> {
        match &self.body {
            ReplyBody::Json(v) => Some(v.clone()),
            ReplyBody::Raw(_, text) => serde_json::from_str(text).ok(),
            ReplyBody::Empty => None,
        }
    }
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Which API a path belongs to: decides the error body's shape and the request-id headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiKind {
    Identity,
    Compute,
    Volume,
    Placement,
    /// Glance: the one image servers are built from (the clients look its name up).
    Image,
    Control,
    Redfish,
    Root,
    /// A simulated Consul cluster (its own listener).
    Consul,
}

impl ApiKind {
    pub fn of_path(segments: &[String]) -> ApiKind {
        match segments.first().map(String::as_str) {
            Some("identity") => ApiKind::Identity,
            Some("compute") => ApiKind::Compute,
            Some("volume") => ApiKind::Volume,
            Some("placement") => ApiKind::Placement,
            Some("image") => ApiKind::Image,
            Some("_sim") => ApiKind::Control,
            Some("redfish") => ApiKind::Redfish,
            _ => ApiKind::Root,
        }
    }

    /// An error in this API's own shape.
    pub fn error(self, status: u16, message: &str) -> Reply {
        match self {
            ApiKind::Compute | ApiKind::Volume | ApiKind::Image => openstack_fault(status, message),
            ApiKind::Placement => Reply::json(
                status,
                json!({"errors": [{"status": status, "title": title(status), "detail": message}]}),
            ),
            ApiKind::Identity | ApiKind::Root => keystone_error(status, message),
            ApiKind::Control => Reply::json(
                status,
                json!({"error": {"code": status, "message": message}}),
            ),
            ApiKind::Redfish => redfish_error(status, message),
            // Consul's errors are plain text.
            ApiKind::Consul => Reply::raw(status, "text/plain; charset=utf-8", message.to_string()),
        }
    }
}

/// Nova's and Cinder's fault body: `{"itemNotFound": {"code": 404, "message": "..."}}`.
pub fn openstack_fault(status: u16, message: &str) -> Reply {
    let name = match status {
        400 => "badRequest",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "itemNotFound",
        405 => "badMethod",
        409 => "conflictingRequest",
        413 | 429 => "overLimit",
        415 => "badMediaType",
        501 => "notImplemented",
        503 => "serviceUnavailable",
        _ => "computeFault",
    };
    Reply::json(
        status,
        json!({ name: {"code": status, "message": message} }),
    )
}

/// Keystone's error body (also keystonemiddleware's 401 in front of every service).
pub fn keystone_error(status: u16, message: &str) -> Reply {
    Reply::json(
        status,
        json!({"error": {"code": status, "message": message, "title": title(status)}}),
    )
}

pub const UNAUTHORIZED_MESSAGE: &str = "The request you have made requires authentication.";

/// The 401 every API gives without a valid token.
pub fn unauthorized(base_url: &str) -> Reply {
    keystone_error(401, UNAUTHORIZED_MESSAGE).with_header(
        "www-authenticate",
        format!("Keystone uri=\"{base_url}/identity\""),
    )
}

pub fn title(status: u16) -> &'static str {
    status_code(status).canonical_reason().unwrap_or("Error")
}

/// A Redfish error body (`Base` message registry).
pub fn redfish_error(status: u16, message: &str) -> Reply {
    let id = match status {
        400 => "Base.1.8.ActionParameterValueNotInList",
        401 | 403 => "Base.1.8.InsufficientPrivilege",
        404 => "Base.1.8.ResourceMissingAtURI",
        405 => "Base.1.8.OperationNotAllowed",
        _ => "Base.1.8.GeneralError",
    };
    Reply::json(
        status,
        json!({"error": {
            "code": id,
            "message": message,
            "@Message.ExtendedInfo": [{"MessageId": id, "Message": message, "Severity": "Critical"}]
        }}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_never_fails() {
        assert_eq!(percent_decode("compute-1%40ceph", false), "compute-1@ceph");
        assert_eq!(percent_decode("a+b", true), "a b");
        assert_eq!(percent_decode("a+b", false), "a+b");
        assert_eq!(percent_decode("100%", false), "100%");
        assert_eq!(percent_decode("%zz%4", false), "%zz%4");
        assert_eq!(percent_decode("%ff", false), "\u{fffd}");
        assert_eq!(split_path("/compute//v2.1/"), vec!["compute", "v2.1"]);
        assert_eq!(
            parse_query("host=compute-1&binary=&x"),
            vec![
                ("host".into(), "compute-1".into()),
                ("binary".into(), String::new()),
                ("x".into(), String::new())
            ]
        );
    }

    #[test]
    fn error_shapes() {
        let r = ApiKind::Compute.error(404, "Service x not found.");
        assert_eq!(r.body_json().unwrap()["itemNotFound"]["code"], 404);
        let r = ApiKind::Compute.error(406, "v");
        assert_eq!(r.body_json().unwrap()["computeFault"]["code"], 406);
        let r = ApiKind::Identity.error(401, UNAUTHORIZED_MESSAGE);
        assert_eq!(r.body_json().unwrap()["error"]["title"], "Unauthorized");
        let r = ApiKind::Placement.error(404, "nope");
        assert_eq!(r.body_json().unwrap()["errors"][0]["status"], 404);
    }
}
