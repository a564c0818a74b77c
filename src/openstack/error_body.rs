//! The message an OpenStack service puts in an error body.

use serde_json::Value;

/// Longest message we keep: enough for any real service message, short enough for a terminal.
const MAX_MESSAGE: usize = 400;
/// Longest excerpt of a body that is not one of the known JSON shapes.
const MAX_EXCERPT: usize = 200;

/// The service's message from an error body, in the known shapes:
/// - Nova / Cinder: `{"badRequest": {"code": 400, "message": "..."}}` (any single key)
/// - Keystone: `{"error": {"code": 401, "title": "...", "message": "..."}}`
/// - Placement: `{"errors": [{"status": 404, "title": "...", "detail": "...", "request_id": "..."}]}`
/// - Ironic-like: `{"error_message": "..."}`; plain `{"message": "..."}`
///
/// Otherwise a short, tag-free excerpt of the body. Also returns a request id found in the
/// body (Placement's `request_id`).
pub(crate) fn parse(body: &[u8]) -> (Option<String>, Option<String>) {
    // A real error body is a few hundred bytes: a huge one is not parsed whole (memory).
    if body.len() <= MAX_PARSED
        && let Ok(v) = serde_json::from_slice::<Value>(body)
        && let Some(found) = from_json(&v)
    {
        return found;
    }
    (excerpt(&body[..body.len().min(MAX_EXCERPT_INPUT)]), None)
}

/// An error body larger than this is not parsed as JSON, only excerpted.
const MAX_PARSED: usize = 1 << 20;
/// How much of a body the excerpt looks at.
const MAX_EXCERPT_INPUT: usize = 16 << 10;

/// A text from a server quoted in an error message (serde's complaint quoting a value, a
/// link), cut to [`MAX_MESSAGE`] characters: an answer of 50 MB must not become an error line
/// of 50 MB.
pub(crate) fn shorten(text: &str) -> String {
    truncate(text, MAX_MESSAGE)
}

fn from_json(v: &Value) -> Option<(Option<String>, Option<String>)> {
    let obj = v.as_object()?;
    if let Some(Value::Array(errors)) = obj.get("errors") {
        let mut messages = Vec::new();
        let mut request_id = None;
        for e in errors {
            let text = |k: &str| {
                e.get(k)
                    .and_then(Value::as_str)
                    .map(clean)
                    .filter(|s| !s.is_empty())
            };
            // Placement's detail usually repeats the title first; keep the detail alone then.
            let msg = match (text("title"), text("detail")) {
                (Some(t), Some(d)) if d.starts_with(&t) => Some(d),
                (Some(t), Some(d)) => Some(format!("{t}: {d}")),
                (t, d) => d.or(t),
            };
            messages.extend(msg);
            request_id = request_id.or_else(|| text("request_id"));
        }
        if !messages.is_empty() {
            return Some((
                Some(truncate(&messages.join("; "), MAX_MESSAGE)),
                request_id,
            ));
        }
    }
    for key in ["message", "error_message", "faultstring", "detail"] {
        if let Some(Value::String(s)) = obj.get(key) {
            // Ironic's error_message is itself JSON with a faultstring.
            if let Ok(inner) = serde_json::from_str::<Value>(s)
                && let Some(Value::String(f)) = inner.get("faultstring")
            {
                return Some((Some(truncate(&clean(f), MAX_MESSAGE)), None));
            }
            return Some((Some(truncate(&clean(s), MAX_MESSAGE)), None));
        }
    }
    // Nova, Cinder, Keystone, Neutron: one key naming the fault, holding a message.
    if obj.len() == 1
        && let Some((_, Value::Object(inner))) = obj.iter().next()
        && let Some(Value::String(m)) = inner.get("message")
    {
        let m = clean(m);
        let m = match inner.get("title").and_then(Value::as_str).map(clean) {
            // Keystone's message alone is the readable part; keep the title if there is no message.
            Some(t) if m.is_empty() => t,
            _ => m,
        };
        return Some((Some(truncate(&m, MAX_MESSAGE)), None));
    }
    None
}

/// A printable excerpt of a body: markup removed, whitespace collapsed, cut short.
fn excerpt(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let mut out = String::new();
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if in_tag => {}
            _ => out.push(c),
        }
    }
    let cleaned = clean(&out);
    (!cleaned.is_empty()).then(|| truncate(&cleaned, MAX_EXCERPT))
}

/// Collapses whitespace and drops control characters (a body must not drive the terminal).
fn clean(s: &str) -> String {
    s.split_whitespace()
        .map(|w| w.chars().filter(|c| !c.is_control()).collect::<String>())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max).collect();
    t.push('…');
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(body: &str) -> (Option<String>, Option<String>) {
        parse(body.as_bytes())
    }

    #[test]
    fn nova_fault() {
        let body = include_str!("../../tests/fixtures/zed/evacuate-error-service-up.json");
        assert_eq!(
            msg(body).0.as_deref(),
            Some("Compute service of compute-1 is still in use.")
        );
        assert_eq!(
            msg(r#"{"itemNotFound": {"message": "Service 42 could not be found.", "code": 404}}"#)
                .0
                .as_deref(),
            Some("Service 42 could not be found.")
        );
    }

    #[test]
    fn cinder_fault() {
        let body = r#"{"conflictingRequest": {"code": 409, "message": "ConflictNovaUsingAttachment: Detach volume from instance 7052 using the Compute API"}}"#;
        assert_eq!(
            msg(body).0.as_deref(),
            Some(
                "ConflictNovaUsingAttachment: Detach volume from instance 7052 using the Compute API"
            )
        );
    }

    #[test]
    fn keystone_error() {
        let body = r#"{"error":{"code":401,"title":"Unauthorized","message":"The request you have made requires authentication."}}"#;
        assert_eq!(
            msg(body).0.as_deref(),
            Some("The request you have made requires authentication.")
        );
        let no_message = r#"{"error":{"code":401,"title":"Unauthorized","message":""}}"#;
        assert_eq!(msg(no_message).0.as_deref(), Some("Unauthorized"));
    }

    #[test]
    fn placement_errors() {
        let body = r#"{"errors": [{"status": 404, "title": "Not Found", "detail": "The resource could not be found.\n\n No resource provider with uuid 44ca found  ", "request_id": "req-abc", "code": "placement.undefined_code"}]}"#;
        assert_eq!(
            msg(body),
            (
                Some("Not Found: The resource could not be found. No resource provider with uuid 44ca found".into()),
                Some("req-abc".into())
            )
        );
        let two = r#"{"errors": [{"title": "Conflict", "detail": "Conflict: generation mismatch"}, {"detail": "second"}]}"#;
        assert_eq!(
            msg(two).0.as_deref(),
            Some("Conflict: generation mismatch; second")
        );
    }

    #[test]
    fn other_shapes_and_text() {
        assert_eq!(msg(r#"{"message": "plain"}"#).0.as_deref(), Some("plain"));
        assert_eq!(
            msg(r#"{"error_message": "{\"faultstring\": \"Node x not found\", \"debuginfo\": null}"}"#).0.as_deref(),
            Some("Node x not found")
        );
        assert_eq!(
            msg("<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>")
                .0
                .as_deref(),
            Some("503 Service Unavailable No server is available to handle this request.")
        );
        assert_eq!(msg("").0, None);
        assert_eq!(msg("   \n").0, None);
        assert_eq!(
            msg(r#"{"a": 1, "b": 2}"#).0.as_deref(),
            Some(r#"{"a": 1, "b": 2}"#)
        );
        let long = "x".repeat(5000);
        assert_eq!(msg(&long).0.unwrap().chars().count(), MAX_EXCERPT + 1);
        // Huge bodies: a short message, whatever their shape.
        let huge_json = format!(r#"{{"message": "{}"}}"#, "y".repeat(3 << 20));
        assert!(msg(&huge_json).0.unwrap().len() < 1000);
        let huge_text = "z ".repeat(3 << 20);
        assert!(msg(&huge_text).0.unwrap().len() < 1000);
        assert_eq!(
            shorten(&"w".repeat(1 << 20)).chars().count(),
            MAX_MESSAGE + 1
        );
        assert_eq!(shorten("short"), "short");
        assert_eq!(
            parse(&[0xff, 0xfe, b'o', b'k', 0x1b, b'[']).0.as_deref(),
            Some("��ok[")
        );
    }
}
