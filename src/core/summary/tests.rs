use std::collections::BTreeMap;

use super::*;

use crate::core::targets::{ENABLE_RESERVED, RESERVE, consumed_spares};
use crate::core::testkit::record;

/// The cluster alert as a reader of every record finds it: the last `alert` without a host.
fn cluster_alert(records: &[Record]) -> Option<ClusterAlert> {
    let last = records
        .iter()
        .rev()
        .find(|r| r.action == ALERT_ACTION && r.host.is_none())?;
    alert_of(last)
}

/// A journal of every kind of record the fold keeps, in a pseudo-random order (the same at
/// each run): states with and without a memory, restorations, observations, cluster alerts,
/// evacuations of several runs in every outcome, take-overs, spares.
fn journal(n: usize, seed: u64) -> Vec<Record> {
    let mut x = seed;
    let mut next = |m: u64| {
        // xorshift: enough to mix the order, no dependency.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    let hosts = ["compute-1", "compute-2", "compute-3"];
    let mut out = Vec::new();
    for i in 0..n {
        let host = hosts[next(3) as usize];
        let run = format!("run-{}", next(3));
        let ts = format!("2026-12-03T10:{:02}:{:02}.000000Z", (i / 60) % 60, i % 60);
        let mut r = match next(12) {
            0 => {
                let mut r = record(Kind::Event, STATE_ACTION, Some(host), "failed");
                r.data = Some(serde_json::json!({
                    "state": "failed", "since": 1.5 + i as f64, "reason": format!("r{i}"),
                    "seen": i, "episodes": [1.25, 2.5]
                }));
                r
            }
            1 => {
                let mut r = record(Kind::Event, STATE_ACTION, Some(host), "suspect");
                r.detail = Some(format!("why {i}"));
                r
            }
            2 => record(Kind::Event, STATE_ACTION, Some(host), RESTORED),
            3 => record(Kind::Event, OBSERVE_ACTION, None, "failed"),
            4 => record(Kind::Event, OBSERVE_ACTION, None, "ok"),
            5 => {
                let status = if next(2) == 0 { "sent" } else { ALERT_ENDED };
                let mut r = record(Kind::Event, ALERT_ACTION, None, status);
                r.detail = Some(format!("alert {i}"));
                r
            }
            6 | 7 => {
                let (kind, status) = match next(5) {
                    0 | 1 => (Kind::Intent, "sending"),
                    2 => (Kind::Result, "accepted"),
                    3 => (Kind::Result, NO_ANSWER),
                    _ => (Kind::Result, "failed"),
                };
                let mut r = record(kind, "evacuate", Some(host), status);
                r.server = Some(format!("vm-{}", next(4)));
                r
            }
            8 => {
                let mut r = record(Kind::Event, TAKEOVER_ACTION, None, "in-doubt");
                r.target = Some("old-leader".into());
                let hosts = if next(2) == 0 {
                    serde_json::json!([host])
                } else {
                    serde_json::Value::Null
                };
                r.data = Some(serde_json::json!({
                    "hosts": hosts, "until": format!("2026-12-03T11:{:02}:00Z", next(60))
                }));
                r
            }
            9 => record(Kind::Result, ENABLE_RESERVED, Some(host), "ok"),
            10 => record(Kind::Result, RESERVE, Some(host), "ok"),
            _ => record(Kind::Result, "fence", Some(host), "ok"),
        };
        r.ts = ts;
        r.run_id = run;
        out.push(r);
    }
    out
}

/// Folding a checkpoint of any prefix (written out and read back as the file holds it), then
/// the rest, gives what folding the whole journal gives.
#[test]
fn a_checkpoint_of_any_prefix_then_the_rest_folds_as_the_whole() {
    for seed in [1, 7, 42] {
        let records = journal(400, seed);
        let whole = Summary::of(&records);
        // Every part of the fold has something to keep.
        assert!(
            !whole.memories.is_empty()
                && !whole.in_doubt.is_empty()
                && !whole.takeovers.is_empty()
                && whole.last_alert.is_some()
                && whole.observe_failed > 0,
            "{whole:?}"
        );
        for k in 0..=records.len() {
            let saved = serde_json::to_string(&Summary::of(&records[..k])).unwrap();
            let mut resumed: Summary = serde_json::from_str(&saved).unwrap();
            for r in &records[k..] {
                resumed.apply(r);
            }
            assert_eq!(resumed, whole, "seed {seed}, checkpoint after {k} records");
        }
    }
}

/// What the fold answers is what the journal's questions, asked of every record, answer.
#[test]
fn the_fold_answers_as_the_whole_journal_does() {
    for seed in [3, 11, 99] {
        let records = journal(300, seed);
        for k in [0, 1, 50, 151, 300] {
            let part = &records[..k];
            let s = Summary::of(part);
            assert_eq!(s.memories, memories_from(part), "seed {seed}, {k}");
            assert_eq!(s.cluster_alert(), cluster_alert(part), "seed {seed}, {k}");
            assert_eq!(
                s.consumed_spares(),
                consumed_spares(part),
                "seed {seed}, {k}"
            );
            // The failed observations since the last one that did not fail.
            let trailing = part
                .iter()
                .filter(|r| r.action == OBSERVE_ACTION)
                .rev()
                .take_while(|r| r.status == "failed")
                .count() as u32;
            assert_eq!(s.observe_failures, trailing, "seed {seed}, {k}");
            // In doubt: a run's last record for a server is an intent, or no clear answer.
            for run in ["run-0", "run-1", "run-2"] {
                let mut last: BTreeMap<(String, String), &Record> = BTreeMap::new();
                for r in part
                    .iter()
                    .filter(|r| r.run_id == run && r.action == "evacuate")
                {
                    last.insert((r.host.clone().unwrap(), r.server.clone().unwrap()), r);
                }
                let expected: BTreeMap<String, BTreeMap<String, String>> = last
                    .into_iter()
                    .filter(|(_, r)| r.kind == Kind::Intent || r.status == NO_ANSWER)
                    .fold(BTreeMap::new(), |mut m, ((h, sv), r)| {
                        m.entry(h).or_default().insert(sv, r.ts.clone());
                        m
                    });
                assert_eq!(
                    s.in_doubt.get(run).cloned().unwrap_or_default(),
                    expected,
                    "seed {seed}, {k}, {run}"
                );
            }
            let results = part.iter().filter(|r| r.kind == Kind::Result).count() as u64;
            let counted: u64 = s.results.values().flat_map(|m| m.values()).sum();
            assert_eq!(counted, results, "seed {seed}, {k}");
        }
    }
}

/// The hold handed over with the leader lock: this run's requests in doubt, for the API
/// timeout after their last record, and every take-over hold still running.
#[test]
fn the_hold_handed_over_covers_this_runs_doubts_and_running_takeovers() {
    let at = |ts: &str| parse_timestamp(ts).unwrap();
    let mut intent = record(Kind::Intent, "evacuate", Some("compute-1"), "sending");
    intent.server = Some("vm-1".into());
    intent.ts = "2026-12-03T10:00:00Z".into();
    let mut other_run = intent.clone();
    other_run.run_id = "other".into();
    other_run.host = Some("compute-9".into());
    let mut answered = intent.clone();
    answered.kind = Kind::Result;
    answered.status = "accepted".into();
    let minute = Duration::from_secs(60);
    let now = at("2026-12-03T10:00:30Z");

    let s = Summary::of(&[intent.clone(), other_run.clone()]);
    let hold = s.hand_over_hold("r", minute, now).unwrap();
    assert_eq!(hold.until, "2026-12-03T10:01:00Z");
    assert_eq!(hold.hosts, Some(vec!["compute-1".to_string()]));
    // Past the API timeout, or answered: nothing.
    assert_eq!(
        s.hand_over_hold("r", minute, at("2026-12-03T10:01:00Z")),
        None
    );
    assert_eq!(
        Summary::of(&[intent.clone(), answered]).hand_over_hold("r", minute, now),
        None
    );

    // A take-over hold of every host makes the hold every host's, until it ends.
    let mut takeover = record(Kind::Event, TAKEOVER_ACTION, None, "in-doubt");
    takeover.data = Some(serde_json::json!({"hosts": null, "until": "2026-12-03T10:05:00Z"}));
    let hold = Summary::of(&[intent, takeover])
        .hand_over_hold("r", minute, now)
        .unwrap();
    assert_eq!(hold.until, "2026-12-03T10:05:00Z");
    assert_eq!(hold.hosts, None);
}
