//! OpenStack timestamps.

use std::time::{Duration, SystemTime};

/// Parses the timestamps OpenStack services write: Nova's `2026-11-22T01:36:10.000000` (UTC,
/// no zone), Keystone's `2026-11-22T02:36:10.000000Z`, and `±HH:MM` offsets. `None` if the
/// text is none of these.
pub fn parse_timestamp(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    if let Ok(t) = humantime::parse_rfc3339_weak(s) {
        return Some(t);
    }
    // humantime knows only UTC; apply a numeric offset ourselves.
    let split = s.len().checked_sub(6)?;
    let (base, off) = (s.get(..split)?, s.get(split..)?);
    let bytes = off.as_bytes();
    if bytes.len() != 6 || bytes[3] != b':' || !(bytes[0] == b'+' || bytes[0] == b'-') {
        return None;
    }
    let hours: u64 = off.get(1..3)?.parse().ok()?;
    let minutes: u64 = off.get(4..6)?.parse().ok()?;
    if hours > 23 || minutes > 59 {
        return None;
    }
    let local = humantime::parse_rfc3339_weak(base).ok()?;
    let shift = Duration::from_secs(hours * 3600 + minutes * 60);
    // Local time = UTC + offset, so UTC = local - offset.
    if bytes[0] == b'+' {
        local.checked_sub(shift)
    } else {
        local.checked_add(shift)
    }
}

/// Why `d` is not within `min..=max` (the range spelled as operators write durations), or
/// `None`: the one range check of configured durations and duration flags.
pub fn out_of_range(d: Duration, min: Duration, max: Duration) -> Option<String> {
    (d < min || d > max).then(|| {
        format!(
            "{} is out of range: allowed from {} to {}",
            humantime::format_duration(d),
            humantime::format_duration(min),
            humantime::format_duration(max)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_openstack_spellings() {
        let nova = parse_timestamp("2026-11-22T01:36:10.000000").unwrap();
        let keystone = parse_timestamp("2026-11-22T01:36:10.000000Z").unwrap();
        let plain = parse_timestamp("2026-11-22T01:36:10Z").unwrap();
        let offset = parse_timestamp("2026-11-22T02:36:10+01:00").unwrap();
        let negative = parse_timestamp("2026-11-22T00:36:10-01:00").unwrap();
        assert_eq!(nova, keystone);
        assert_eq!(nova, plain);
        assert_eq!(nova, offset);
        assert_eq!(nova, negative);
        assert_eq!(
            humantime::format_rfc3339_seconds(nova).to_string(),
            "2026-11-22T01:36:10Z"
        );
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        for s in [
            "",
            "x",
            "2026",
            "2026-11-22T01:36:1é",
            "2026-11-22T01:36:10+99:00",
            "ééééééééééééééééééééé",
            "2026-13-40T99:99:99",
        ] {
            assert!(parse_timestamp(s).is_none(), "{s}");
        }
    }

    #[test]
    fn ranges_name_their_bounds() {
        let s = Duration::from_secs;
        assert_eq!(out_of_range(s(5), s(1), s(10)), None);
        assert_eq!(out_of_range(s(1), s(1), s(10)), None);
        assert_eq!(
            out_of_range(s(0), s(1), s(60)).as_deref(),
            Some("0s is out of range: allowed from 1s to 1m")
        );
        assert!(out_of_range(s(61), s(1), s(60)).is_some());
    }
}
