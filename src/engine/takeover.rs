//! The leader lock's take-over: what the previous holder may have left in doubt is journaled,
//! and what this run leaves in doubt is handed over with the lock.

use std::time::{Duration, SystemTime};

use crate::core::evacuable::later_by;

use super::{Engine, Setup};
use crate::journal::{self, Fields, Kind};

impl Engine {
    /// Journals the take-over, unless this journal holds the previous holder's run (then its
    /// requests are known here: a watch restarted on the same machine). A holder that died:
    /// held for the API timeout from now, on `hosts` (those carrying evacctl's marker now, the
    /// only ones it may have been evacuating; `None`: the cloud could not be observed, so
    /// all). A holder that released with requests in doubt: its own hold. `false` when the
    /// record could not be written: the caller acts on nothing until it can.
    pub(super) fn record_takeover(&mut self, s: &Setup<'_>, hosts: Option<Vec<String>>) -> bool {
        let (Some(previous), Some(j)) = (self.took_over.clone(), s.cx.journal) else {
            self.took_over = None;
            return true;
        };
        let known = previous.run.as_ref().is_some_and(|run| {
            journal::read(&s.cx.journal_path)
                .is_ok_and(|(records, _)| records.iter().any(|r| &r.run_id == run))
        });
        if known {
            tracing::info!(
                "took over from {previous}, whose run is in this journal: its requests are known"
            );
            self.took_over = None;
            return true;
        }
        let holder = previous.to_string();
        let (until, hosts, why) = match &previous.hold {
            Some(hold) if previous.released => (
                hold.until.clone(),
                hold.hosts.clone(),
                "which handed it over with evacuation requests still in doubt",
            ),
            _ => (
                hold_until(SystemTime::now(), s.session.config().api_timeout),
                hosts,
                "which stopped without releasing it",
            ),
        };
        let which = match &hosts {
            Some(h) if h.is_empty() => "no host carries evacctl's marker: nothing to hold".into(),
            Some(h) => format!(
                "a server of {} that Nova shows no evacuation of is not evacuated before \
                 {until} (its request may still reach Nova)",
                h.join(", ")
            ),
            None => format!(
                "a server Nova shows no evacuation of is not evacuated before {until} (its \
                 request may still reach Nova)"
            ),
        };
        let detail = format!("took over the leader lock from {holder}, {why}: {which}");
        let data = serde_json::json!({ "hosts": hosts, "until": until });
        if let Err(e) = j.append(
            Kind::Event,
            journal::TAKEOVER_ACTION,
            "in-doubt",
            Fields {
                target: Some(&holder),
                detail: Some(&detail),
                data: Some(&data),
                ..Default::default()
            },
        ) {
            tracing::error!("cannot journal the take-over ({e}): acting on nothing until it is");
            return false;
        }
        self.took_over = None;
        if previous.released {
            tracing::info!("{detail}");
        } else {
            tracing::warn!("{detail}");
            // People should know: the controller that was acting has died (or hung).
            (s.on_warning)("takeover", &detail);
        }
        true
    }

    /// What to leave on the leader key when this run releases it (see
    /// [`crate::core::summary::Summary::hand_over_hold`]).
    pub fn hand_over_hold(&self, s: &Setup<'_>) -> Option<crate::lock::Hold> {
        let j = s.cx.journal?;
        let timeout = s.session.config().api_timeout;
        match journal::summary(&s.cx.journal_path, false) {
            Ok((journal, _)) => journal.hand_over_hold(j.run_id(), timeout, SystemTime::now()),
            // Not knowing what is in doubt: hold everything.
            Err(_) => Some(crate::lock::Hold {
                until: hold_until(SystemTime::now(), timeout),
                hosts: None,
            }),
        }
    }
}

/// The end of a hold of `d` from `now`, as the journal writes it: bounded (no overflow, however
/// large `d`), and rounded up to the second, never down, so that the text holds at least `d`.
fn hold_until(now: SystemTime, d: Duration) -> String {
    let end = later_by(now, d);
    let up = later_by(end, Duration::from_secs(1) - Duration::from_nanos(1));
    humantime::format_rfc3339_seconds(up).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_never_overflows_and_is_never_shorter_than_asked() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_400);
        assert_eq!(
            hold_until(now, Duration::from_secs(5)),
            "2023-11-14T22:13:26Z"
        );
        assert_eq!(hold_until(now, Duration::ZERO), "2023-11-14T22:13:21Z");
        // A duration no configuration allows: bounded, not a panic.
        assert_eq!(hold_until(now, Duration::MAX), "9999-12-31T23:59:59Z");
        assert_eq!(
            hold_until(now, Duration::from_secs(u64::MAX / 2)),
            "9999-12-31T23:59:59Z"
        );
    }

    /// A hand-over's hold in the leader key is never shorter than the API timeout after the
    /// request's last record: the key's text has whole seconds, rounded up (a hold cut short
    /// lets the next holder send a request the dead one's may still race).
    #[test]
    fn a_handed_over_hold_is_rounded_up() {
        let record: crate::journal::Record = serde_json::from_value(serde_json::json!({
            "ts": "2026-12-03T12:00:04.900000Z", "run_id": "r1", "kind": "result",
            "action": "evacuate", "host": "compute-3", "server": "s1", "status": "no-answer",
        }))
        .unwrap();
        let now = humantime::parse_rfc3339("2026-12-03T12:00:05Z").unwrap();
        let hold = crate::core::summary::Summary::of(&[record])
            .hand_over_hold("r1", Duration::from_secs(5), now)
            .unwrap();
        assert_eq!(hold.until, "2026-12-03T12:00:10Z");
        assert_eq!(hold.hosts, Some(vec!["compute-3".to_string()]));
    }
}
