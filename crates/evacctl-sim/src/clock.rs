//! Wall-clock time as f64 seconds since the Unix epoch, and the timestamp formats the APIs use.
//!
//! World logic takes `now` as a parameter (never reads the clock itself) so that liveness
//! arithmetic is testable; only the HTTP layer calls [`now`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn to_system_time(t: f64) -> SystemTime {
    // try_from: a NaN or negative value must not panic (it cannot occur, but costs nothing).
    Duration::try_from_secs_f64(t)
        .ok()
        .and_then(|d| UNIX_EPOCH.checked_add(d))
        .unwrap_or(UNIX_EPOCH)
}

/// Keystone's format: `2026-11-22T01:36:10.123456Z`.
pub fn iso_micros_z(t: f64) -> String {
    humantime::format_rfc3339_micros(to_system_time(t)).to_string()
}

/// Nova's and Cinder's format (naive UTC, microseconds): `2026-11-22T01:36:10.000000`.
pub fn iso_micros(t: f64) -> String {
    let mut s = iso_micros_z(t);
    s.pop();
    s
}

/// Second precision with Z, as in version documents' `updated`: `2026-11-22T01:36:10Z`.
pub fn iso_seconds_z(t: f64) -> String {
    humantime::format_rfc3339_seconds(to_system_time(t)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let t = 1_795_311_370.25; // 2026-11-22T01:36:10.25Z
        assert_eq!(iso_micros_z(t), "2026-11-22T01:36:10.250000Z");
        assert_eq!(iso_micros(t.floor()), "2026-11-22T01:36:10.000000");
        assert_eq!(iso_seconds_z(t), "2026-11-22T01:36:10Z");
        assert_eq!(iso_micros(f64::NAN), "1970-01-01T00:00:00.000000");
        assert_eq!(iso_micros(-5.0), "1970-01-01T00:00:00.000000");
    }
}
