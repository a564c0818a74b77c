//! API microversions: parsing, the version documents services publish, negotiation.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

/// A microversion such as `2.93`. Ordered numerically (`2.9 < 2.10`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Microversion {
    pub major: u32,
    pub minor: u32,
}

impl Microversion {
    pub const fn new(major: u32, minor: u32) -> Self {
        Microversion { major, minor }
    }
}

impl fmt::Display for Microversion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for Microversion {
    type Err = String;

    /// Accepts `2.93`, `v2.1`, `3` (minor 0), and `latest` is refused.
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let t = t
            .strip_prefix('v')
            .or_else(|| t.strip_prefix('V'))
            .unwrap_or(t);
        let (major, minor) = match t.split_once('.') {
            Some((a, b)) => (a, b),
            None => (t, "0"),
        };
        match (major.parse(), minor.parse()) {
            (Ok(major), Ok(minor)) => Ok(Microversion { major, minor }),
            _ => Err(format!("not a version: {s:?}")),
        }
    }
}

/// The microversions a server offers for one API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VersionRange {
    pub min: Microversion,
    pub max: Microversion,
}

impl fmt::Display for VersionRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}–{}", self.min, self.max)
    }
}

/// What a version document said about the API we speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Discovered {
    /// The API version was found and has microversions.
    Range(VersionRange),
    /// The API version was found but has no microversions (an empty `version`).
    NoMicroversions,
}

/// Finds the entry for API major `major` (and, if given, minor `minor` of the `id`, as Nova's
/// `v2.1` vs the legacy `v2.0`) in a version document: `{"version": {...}}`,
/// `{"versions": [...]}` or Keystone's `{"versions": {"values": [...]}}`. `None` when the
/// document has no such entry or is not a version document.
pub fn parse_version_document(
    doc: &Value,
    major: u32,
    id_minor: Option<u32>,
) -> Option<Discovered> {
    let entries: Vec<&Value> = match (doc.get("version"), doc.get("versions")) {
        (Some(v @ Value::Object(_)), _) => vec![v],
        (_, Some(Value::Array(list))) => list.iter().collect(),
        (_, Some(Value::Object(o))) => match o.get("values") {
            Some(Value::Array(list)) => list.iter().collect(),
            _ => return None,
        },
        _ => return None,
    };
    let matching = entries.into_iter().filter(|e| {
        let Some(id) = e
            .get("id")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<Microversion>().ok())
        else {
            return false;
        };
        id.major == major && id_minor.is_none_or(|m| m == id.minor)
    });
    // Prefer the CURRENT entry if a document lists the same major twice.
    let mut best: Option<&Value> = None;
    for e in matching {
        let current = e
            .get("status")
            .and_then(Value::as_str)
            .is_some_and(|s| s.eq_ignore_ascii_case("CURRENT"));
        if best.is_none() || current {
            best = Some(e);
        }
    }
    let e = best?;
    let text = |k: &str| {
        e.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    // Nova and Cinder say `version`, Placement `max_version`.
    let max = text("version").or_else(|| text("max_version"));
    let min = text("min_version");
    match (
        max.and_then(|s| s.parse().ok()),
        min.and_then(|s| s.parse().ok()),
    ) {
        (Some(max), Some(min)) if min <= max => Some(Discovered::Range(VersionRange { min, max })),
        (Some(max), None) => Some(Discovered::Range(VersionRange { min: max, max })),
        _ if max.is_none() => Some(Discovered::NoMicroversions),
        _ => None,
    }
}

/// The version to send: the highest both sides speak, optionally capped by the call.
/// `Err` explains, in a sentence, why there is none.
pub fn negotiate(
    server: VersionRange,
    client_max: Microversion,
    call_max: Option<Microversion>,
    call_min: Option<Microversion>,
) -> Result<Microversion, String> {
    let mut v = server.max.min(client_max);
    if let Some(cap) = call_max {
        v = v.min(cap);
    }
    if let Some(min) = call_min
        && v < min
    {
        return Err(if server.max < min {
            format!("needs API microversion {min} or later, but the server offers {server}")
        } else {
            format!(
                "needs API microversion {min} or later, but this call is limited to {v} (the server offers {server})"
            )
        });
    }
    if v < server.min {
        return Err(format!(
            "the server offers API microversions {server} only, and evacctl speaks at most {v}"
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mv(s: &str) -> Microversion {
        s.parse().unwrap()
    }

    #[test]
    fn orders_numerically() {
        assert!(mv("2.9") < mv("2.10"));
        assert!(mv("2.93") < mv("3.0"));
        assert_eq!(mv("v2.1"), Microversion::new(2, 1));
        assert_eq!(mv("3"), Microversion::new(3, 0));
        assert!("latest".parse::<Microversion>().is_err());
        assert!("2.x".parse::<Microversion>().is_err());
        assert!("".parse::<Microversion>().is_err());
        assert_eq!(mv("2.53").to_string(), "2.53");
    }

    #[test]
    fn reads_nova_single_version_document() {
        let doc = json!({"version": {"id": "v2.1", "status": "CURRENT", "version": "2.93", "min_version": "2.1",
            "updated": "2013-07-23T11:33:21Z", "links": []}});
        assert_eq!(
            parse_version_document(&doc, 2, Some(1)),
            Some(Discovered::Range(VersionRange {
                min: mv("2.1"),
                max: mv("2.93")
            }))
        );
    }

    #[test]
    fn reads_nova_root_list_and_skips_legacy_v2_0() {
        let doc = json!({"versions": [
            {"id": "v2.0", "status": "DEPRECATED", "version": "", "min_version": ""},
            {"id": "v2.1", "status": "CURRENT", "version": "2.93", "min_version": "2.1"}]});
        assert_eq!(
            parse_version_document(&doc, 2, Some(1)),
            Some(Discovered::Range(VersionRange {
                min: mv("2.1"),
                max: mv("2.93")
            }))
        );
        let legacy = json!({"version": {"id": "v2.0", "version": "", "min_version": ""}});
        assert_eq!(
            parse_version_document(&legacy, 2, Some(0)),
            Some(Discovered::NoMicroversions)
        );
        assert_eq!(parse_version_document(&legacy, 2, Some(1)), None);
    }

    #[test]
    fn reads_placement_and_cinder_shapes() {
        let placement = json!({"versions": [{"id": "v1.0", "max_version": "1.39", "min_version": "1.0", "status": "CURRENT"}]});
        assert_eq!(
            parse_version_document(&placement, 1, None),
            Some(Discovered::Range(VersionRange {
                min: mv("1.0"),
                max: mv("1.39")
            }))
        );
        let cinder = json!({"versions": [
            {"id": "v2.0", "status": "DEPRECATED", "version": "", "min_version": ""},
            {"id": "v3.0", "status": "CURRENT", "version": "3.70", "min_version": "3.0"}]});
        assert_eq!(
            parse_version_document(&cinder, 3, None),
            Some(Discovered::Range(VersionRange {
                min: mv("3.0"),
                max: mv("3.70")
            }))
        );
    }

    #[test]
    fn tolerates_junk() {
        for doc in [
            json!(null),
            json!([]),
            json!({"versions": 3}),
            json!({"version": "2.1"}),
            json!({"versions": [{"id": 7}]}),
            json!({"versions": [{"id": "v1.0", "max_version": "1.x"}]}),
            json!({"versions": [{"id": "v1.0", "max_version": "1.2", "min_version": "1.9"}]}),
        ] {
            assert_eq!(parse_version_document(&doc, 1, None), None, "{doc}");
        }
    }

    #[test]
    fn negotiates() {
        let zed = VersionRange {
            min: mv("2.1"),
            max: mv("2.93"),
        };
        let future = VersionRange {
            min: mv("2.1"),
            max: mv("2.100"),
        };
        let old = VersionRange {
            min: mv("2.1"),
            max: mv("2.40"),
        };
        assert_eq!(negotiate(zed, mv("2.93"), None, None), Ok(mv("2.93")));
        assert_eq!(negotiate(future, mv("2.93"), None, None), Ok(mv("2.93")));
        assert_eq!(negotiate(old, mv("2.93"), None, None), Ok(mv("2.40")));
        assert_eq!(
            negotiate(zed, mv("2.93"), Some(mv("2.87")), None),
            Ok(mv("2.87"))
        );
        assert_eq!(
            negotiate(zed, mv("2.93"), None, Some(mv("2.53"))),
            Ok(mv("2.93"))
        );
        let e = negotiate(old, mv("2.93"), None, Some(mv("2.53"))).unwrap_err();
        assert!(e.contains("2.1–2.40"), "{e}");
        let e = negotiate(zed, mv("2.93"), Some(mv("2.50")), Some(mv("2.53"))).unwrap_err();
        assert!(e.contains("limited to 2.50"), "{e}");
        let too_new = VersionRange {
            min: mv("2.95"),
            max: mv("2.100"),
        };
        assert!(negotiate(too_new, mv("2.93"), None, None).is_err());
    }
}
