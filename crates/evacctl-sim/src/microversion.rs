//! Microversion negotiation as Nova and Cinder do it.
//!
//! `OpenStack-API-Version: compute 2.53` (several services may share one header, comma
//! separated), Nova's legacy `X-OpenStack-Nova-API-Version: 2.53`, and `latest`. An unparsable
//! version is a 400 and a version out of range a 406, with the services' own messages.

use std::fmt;

use axum::http::HeaderMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32) -> Version {
        Version { major, minor }
    }

    /// Parses `MAJOR.MINOR` with the services' rule: no sign, no leading zeros.
    pub fn parse(s: &str) -> Option<Version> {
        let (major, minor) = s.split_once('.')?;
        let number = |p: &str| -> Option<u32> {
            let ok = !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p == "0" || !p.starts_with('0'));
            if ok { p.parse().ok() } else { None }
        };
        let major = number(major)?;
        if major == 0 {
            return None;
        }
        Some(Version {
            major,
            minor: number(minor)?,
        })
    }

    pub fn at_least(self, major: u32, minor: u32) -> bool {
        self >= Version::new(major, minor)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The range a service supports and the headers it reads.
#[derive(Debug, Clone, Copy)]
pub struct Api {
    /// Service type in `OpenStack-API-Version` (`compute`, `volume`, `placement`).
    pub service_type: &'static str,
    /// A legacy header also read when the standard one names no version for this service.
    pub legacy_header: Option<&'static str>,
    pub min: Version,
    pub max: Version,
}

pub const NOVA: Api = Api {
    service_type: "compute",
    legacy_header: Some("x-openstack-nova-api-version"),
    min: Version::new(2, 1),
    max: Version::new(2, 93),
};

pub const CINDER: Api = Api {
    service_type: "volume",
    legacy_header: None,
    min: Version::new(3, 0),
    max: Version::new(3, 70),
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionError {
    /// Not `MAJOR.MINOR`: 400.
    Invalid(String),
    /// Out of the supported range: 406.
    Unsupported(String),
}

impl VersionError {
    pub fn status(&self) -> u16 {
        match self {
            VersionError::Invalid(_) => 400,
            VersionError::Unsupported(_) => 406,
        }
    }
}

impl fmt::Display for VersionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionError::Invalid(s) => write!(
                f,
                "API Version String {s} is of invalid format. Must be of format MajorNum.MinorNum."
            ),
            VersionError::Unsupported(s) => write!(f, "{s}"),
        }
    }
}

impl Api {
    /// The version string requested for this service, if any header names one.
    pub fn requested(&self, headers: &HeaderMap) -> Option<String> {
        for value in headers.get_all("openstack-api-version") {
            let Ok(value) = value.to_str() else { continue };
            for entry in value.split(',') {
                let mut words = entry.split_whitespace();
                if let (Some(service), Some(version), None) =
                    (words.next(), words.next(), words.next())
                    && service.eq_ignore_ascii_case(self.service_type)
                {
                    return Some(version.to_string());
                }
            }
        }
        let legacy = self.legacy_header?;
        let value = headers.get(legacy)?;
        // A header that is not valid text still asks for *something*: report it as invalid.
        Some(
            value
                .to_str()
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "<binary>".into()),
        )
    }

    /// The version a request gets: its header's, or the minimum when it names none.
    pub fn negotiate(&self, headers: &HeaderMap) -> Result<Version, VersionError> {
        match self.requested(headers) {
            None => Ok(self.min),
            Some(s) => self.check(&s),
        }
    }

    pub fn check(&self, s: &str) -> Result<Version, VersionError> {
        if s.eq_ignore_ascii_case("latest") {
            return Ok(self.max);
        }
        let v = Version::parse(s).ok_or_else(|| VersionError::Invalid(s.to_string()))?;
        if v < self.min || v > self.max {
            return Err(VersionError::Unsupported(format!(
                "Version {v} is not supported by the API. Minimum is {} and maximum is {}.",
                self.min, self.max
            )));
        }
        Ok(v)
    }

    /// Headers echoing the version in a response.
    pub fn echo(&self, v: Version) -> Vec<(&'static str, String)> {
        let mut out = vec![(
            "openstack-api-version",
            format!("{} {v}", self.service_type),
        )];
        match self.legacy_header {
            Some(legacy) => {
                out.push((legacy, v.to_string()));
                out.push((
                    "vary",
                    format!("OpenStack-API-Version, {}", canonical(legacy)),
                ));
            }
            None => out.push(("vary", "OpenStack-API-Version".into())),
        }
        out
    }
}

fn canonical(header: &str) -> &'static str {
    match header {
        "x-openstack-nova-api-version" => "X-OpenStack-Nova-API-Version",
        _ => "X-OpenStack-API-Version",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn parse_versions() {
        assert_eq!(Version::parse("2.93"), Some(Version::new(2, 93)));
        assert_eq!(Version::parse("3.0"), Some(Version::new(3, 0)));
        for bad in [
            "2", "2.", ".1", "2.x", "02.1", "2.01", "-2.1", "2.1.1", "0.1", " 2.1", "",
        ] {
            assert_eq!(Version::parse(bad), None, "{bad}");
        }
        assert!(Version::new(2, 10) > Version::new(2, 9));
    }

    #[test]
    fn nova_negotiation() {
        assert_eq!(NOVA.negotiate(&HeaderMap::new()), Ok(Version::new(2, 1)));
        let h = headers(&[("OpenStack-API-Version", "compute 2.53")]);
        assert_eq!(NOVA.negotiate(&h), Ok(Version::new(2, 53)));
        let h = headers(&[("OpenStack-API-Version", "volume 3.10, compute latest")]);
        assert_eq!(NOVA.negotiate(&h), Ok(Version::new(2, 93)));
        let h = headers(&[("X-OpenStack-Nova-API-Version", "2.11")]);
        assert_eq!(NOVA.negotiate(&h), Ok(Version::new(2, 11)));
        // The standard header wins over the legacy one.
        let h = headers(&[
            ("OpenStack-API-Version", "compute 2.60"),
            ("X-OpenStack-Nova-API-Version", "2.11"),
        ]);
        assert_eq!(NOVA.negotiate(&h), Ok(Version::new(2, 60)));
        // A header for another service only: the default.
        let h = headers(&[("OpenStack-API-Version", "volume 3.10")]);
        assert_eq!(NOVA.negotiate(&h), Ok(Version::new(2, 1)));
    }

    #[test]
    fn errors_are_400_or_406() {
        let h = headers(&[("OpenStack-API-Version", "compute 2.94")]);
        let e = NOVA.negotiate(&h).unwrap_err();
        assert_eq!(e.status(), 406);
        assert_eq!(
            e.to_string(),
            "Version 2.94 is not supported by the API. Minimum is 2.1 and maximum is 2.93."
        );
        let h = headers(&[("OpenStack-API-Version", "compute two")]);
        assert_eq!(NOVA.negotiate(&h).unwrap_err().status(), 400);
        let h = headers(&[("OpenStack-API-Version", "volume 4.0")]);
        assert_eq!(CINDER.negotiate(&h).unwrap_err().status(), 406);
        let h = headers(&[("OpenStack-API-Version", "volume 3.70")]);
        assert_eq!(CINDER.negotiate(&h), Ok(Version::new(3, 70)));
    }

    #[test]
    fn echo_headers() {
        let e = NOVA.echo(Version::new(2, 93));
        assert!(e.contains(&("openstack-api-version", "compute 2.93".into())));
        assert!(e.contains(&("x-openstack-nova-api-version", "2.93".into())));
        assert!(e.contains(&(
            "vary",
            "OpenStack-API-Version, X-OpenStack-Nova-API-Version".into()
        )));
        let e = CINDER.echo(Version::new(3, 0));
        assert!(e.contains(&("openstack-api-version", "volume 3.0".into())));
    }
}
