//! Verifying a host's evacuation (runbook step 5): every server evacuated from it (from the
//! journal and from Nova's evacuation migrations) runs on another host, in the state it had,
//! its migration `done` or `completed`; and no Cinder volume is left on the host.
//!
//! Expected states: ACTIVE stays ACTIVE, SHUTOFF stays SHUTOFF. A server that was ERROR may come
//! back ACTIVE (Nova's rebuild starts it) or stay ERROR: both count as verified once it is on
//! another host with its migration done. A server evacuated by someone else (no journal
//! record) must be ACTIVE or SHUTOFF.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::core::records::VERIFIED_ACTION;
use crate::journal::{self, Fields, Journal, Kind, Record};
use crate::openstack::Session;
use crate::openstack::cinder::Volume;
use crate::openstack::servers::{Migration, MigrationFilter, Server, latest_per_server};
use crate::steps::{StepContext, StepOutcome};

/// One server's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Check {
    Ok,
    /// Still moving: `--wait` waits for it.
    Pending,
    Failed,
}

impl Check {
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Ok => "ok",
            Check::Pending => "pending",
            Check::Failed => "failed",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ServerCheck {
    pub server_id: String,
    pub name: Option<String>,
    /// What it should be: `ACTIVE`, `SHUTOFF`, `ACTIVE or ERROR`, `ACTIVE or SHUTOFF`.
    pub expected: String,
    pub host: Option<String>,
    /// Where it went: the host Nova shows it on once verified, else the evacuation
    /// migration's destination (`null`: not known yet).
    pub destination: Option<String>,
    pub status: Option<String>,
    pub task_state: Option<String>,
    pub migration_status: Option<String>,
    /// `journal`, `nova` or `journal+nova`: where evacctl learned of this evacuation.
    pub known_from: String,
    pub check: Check,
    pub problem: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct VolumeCheck {
    /// False when Cinder could not be asked (then nothing is verified).
    pub checked: bool,
    pub left: Vec<Volume>,
    pub error: Option<String>,
}

impl VolumeCheck {
    pub fn is_clean(&self) -> bool {
        self.checked && self.left.is_empty()
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Verification {
    pub host: String,
    pub servers: Vec<ServerCheck>,
    pub volumes: VolumeCheck,
}

impl Verification {
    pub fn count(&self, c: Check) -> usize {
        self.servers.iter().filter(|s| s.check == c).count()
    }

    pub fn all_verified(&self) -> bool {
        self.count(Check::Ok) == self.servers.len() && self.volumes.is_clean()
    }

    /// Something may still change (a migration or a task runs, or Cinder could not be asked).
    pub fn anything_pending(&self) -> bool {
        self.count(Check::Pending) > 0 || !self.volumes.checked
    }
}

/// What a server should look like after its evacuation.
fn expected(status_before: Option<&str>) -> (&'static [&'static str], &'static str) {
    match status_before {
        Some("ACTIVE") => (&["ACTIVE"], "ACTIVE"),
        Some("SHUTOFF") => (&["SHUTOFF"], "SHUTOFF"),
        Some("ERROR") => (&["ACTIVE", "ERROR"], "ACTIVE or ERROR"),
        _ => (&["ACTIVE", "SHUTOFF"], "ACTIVE or SHUTOFF"),
    }
}

/// The verdict on one server (pure).
pub fn check_server(
    host: &str,
    id: &str,
    server: Option<&Server>,
    migration: Option<&Migration>,
    status_before: Option<&str>,
    known_from: &str,
) -> ServerCheck {
    let (allowed, expected_text) = expected(status_before);
    let mut c = ServerCheck {
        server_id: id.to_string(),
        name: server.map(|s| s.name.clone()),
        expected: expected_text.to_string(),
        host: server.map(|s| s.host().to_string()),
        destination: migration.and_then(|m| m.dest_compute.clone()),
        status: server.map(|s| s.status.clone()),
        task_state: server.and_then(|s| s.task().map(str::to_string)),
        migration_status: migration.map(|m| m.status.clone()),
        known_from: known_from.to_string(),
        check: Check::Ok,
        problem: None,
    };
    let mut verdict = |check: Check, why: String| {
        c.check = check;
        c.problem = Some(why);
    };
    let Some(s) = server else {
        verdict(Check::Failed, "the server no longer exists".into());
        return c;
    };
    if let Some(m) = migration {
        if m.is_in_progress() {
            verdict(
                Check::Pending,
                format!("evacuation still running (migration {})", m.status),
            );
            return c;
        }
        if m.is_failed() {
            verdict(
                Check::Failed,
                format!(
                    "evacuation failed (migration {}); server {} on {}",
                    m.status,
                    s.status,
                    or_dash(s.host())
                ),
            );
            return c;
        }
    }
    if let Some(t) = s.task() {
        verdict(Check::Pending, format!("task {t} in progress"));
        return c;
    }
    if s.host() == host || s.host().is_empty() {
        verdict(
            Check::Failed,
            format!("still on {host} ({}) with no evacuation running", s.status),
        );
        return c;
    }
    if !allowed.contains(&s.status.as_str()) {
        verdict(
            Check::Failed,
            format!("{} on {}, expected {expected_text}", s.status, s.host()),
        );
        return c;
    }
    if migration.is_none() {
        // On another host in the right state; Nova hides migrations of some records.
        c.problem = Some("no migration record (Nova shows it on another host)".into());
    }
    c.destination = Some(s.host().to_string());
    c
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

/// How far Nova's clock may be behind evacctl's when a migration's `created_at` is compared
/// with the start of the episode in the journal.
const CLOCK_SKEW: std::time::Duration = std::time::Duration::from_secs(30);

/// The migrations of the episode that began at `since` (a journal time; `None`: all of them):
/// created since, and not `completed` (Nova completes an evacuation when the source's
/// nova-compute runs again, which ended that failure). An earlier failure's migrations, some
/// failed, some of servers broken since, are not this one's.
pub fn this_episode(migrations: Vec<Migration>, since: Option<&str>) -> Vec<Migration> {
    let Some(since) = since
        .and_then(crate::openstack::parse_timestamp)
        .map(|t| t - CLOCK_SKEW)
    else {
        return migrations;
    };
    migrations
        .into_iter()
        .filter(|m| m.status != "completed")
        .filter(|m| {
            m.created_at
                .as_deref()
                .and_then(crate::openstack::parse_timestamp)
                .is_none_or(|at| at >= since)
        })
        .collect()
}

/// The verify step, for `verify` and `watch` alike: the journal's and Nova's evacuations from
/// `host`, checked now; then, unless a dry run, where each verified (or failed) server went is
/// journaled (the history's destination when the scheduler chose it).
pub fn verify_host(
    cx: &StepContext<'_>,
    host: &str,
    concurrency: usize,
) -> StepOutcome<Verification> {
    let run = || {
        let records = cx.records()?;
        let v = verify(cx.session()?, host, &records, concurrency)?;
        if let Some(journal) = cx.journal
            && let Err(e) = journal_verdicts(journal, &records, &v)
        {
            // The verdict stands; only the history lacks the destination.
            tracing::warn!("{host}: cannot journal where the servers went: {e:#}");
        }
        Ok(v)
    };
    StepOutcome::from_result(run())
}

/// Journals where each verified (or failed) server went ([`VERIFIED_ACTION`]), once per
/// server and verdict in the host's episode (`records`: the journal before this
/// verification). Pending servers wait for a later verification.
fn journal_verdicts(
    journal: &Journal,
    records: &[Record],
    v: &Verification,
) -> std::io::Result<()> {
    let (start, _) = journal::episode_of(records, &v.host);
    let done: BTreeSet<(&str, &str)> = records[start..]
        .iter()
        .filter(|r| r.action == VERIFIED_ACTION && r.host.as_deref() == Some(v.host.as_str()))
        .filter_map(|r| Some((r.server.as_deref()?, r.status.as_str())))
        .collect();
    for c in &v.servers {
        let status = match c.check {
            Check::Ok => "ok",
            Check::Failed => "failed",
            Check::Pending => continue,
        };
        if done.contains(&(c.server_id.as_str(), status)) {
            continue;
        }
        journal.append(
            Kind::Event,
            VERIFIED_ACTION,
            status,
            Fields {
                host: Some(&v.host),
                target: c.destination.as_deref(),
                server: Some(&c.server_id),
                server_name: c.name.as_deref(),
                detail: c.problem.as_deref(),
                ..Default::default()
            },
        )?;
    }
    Ok(())
}

/// Reads Nova (and Cinder) now and checks every server evacuated from `host` in its current
/// episode (since it was last back in service: `journal::episode_of`).
pub fn verify(
    session: &Session,
    host: &str,
    records: &[Record],
    concurrency: usize,
) -> anyhow::Result<Verification> {
    let nova = session.nova();
    let accepted = journal::accepted_from(records, host);
    let migrations = nova.list_migrations(&MigrationFilter {
        source_compute: Some(host),
        migration_type: Some("evacuation"),
        ..Default::default()
    })?;
    let migrations = this_episode(migrations, journal::episode_of(records, host).1);
    let latest = latest_per_server(&migrations);
    let ids: BTreeSet<String> = accepted.keys().chain(latest.keys()).cloned().collect();
    let ids: Vec<String> = ids.into_iter().collect();
    let cinder = session.cinder();
    let (servers, volumes) = std::thread::scope(|s| {
        // Cinder's host filter is a SQL LIKE: keep only the volumes this node manages.
        let volumes = s.spawn(|| {
            cinder.list_volumes_on_host(host).map(|listed| {
                listed
                    .volumes
                    .into_iter()
                    .filter(|v| v.node() == Some(host))
                    .collect::<Vec<Volume>>()
            })
        });
        let servers = crate::pool::map_bounded(&ids, concurrency, |id| nova.get_server(id));
        (servers, volumes.join())
    });
    let mut found: BTreeMap<&str, Option<Server>> = BTreeMap::new();
    for (id, r) in ids.iter().zip(servers) {
        found.insert(id, r?);
    }
    let checks = ids
        .iter()
        .map(|id| {
            let from = match (accepted.contains_key(id), latest.contains_key(id)) {
                (true, true) => "journal+nova",
                (true, false) => "journal",
                _ => "nova",
            };
            check_server(
                host,
                id,
                found.get(id.as_str()).and_then(Option::as_ref),
                latest.get(id).copied(),
                accepted.get(id).and_then(|a| a.status_before.as_deref()),
                from,
            )
        })
        .collect();
    let volumes = match volumes {
        Ok(Ok(left)) => VolumeCheck {
            checked: true,
            left,
            error: None,
        },
        Ok(Err(e)) => VolumeCheck {
            checked: false,
            left: Vec::new(),
            error: Some(e.to_string()),
        },
        Err(_) => VolumeCheck {
            checked: false,
            left: Vec::new(),
            error: Some("the volume listing thread panicked (a bug in evacctl)".into()),
        },
    };
    Ok(Verification {
        host: host.to_string(),
        servers: checks,
        volumes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(host: &str, status: &str, task: Option<&str>) -> Server {
        serde_json::from_value(serde_json::json!({
            "id": "s1", "name": "web-1", "status": status,
            "OS-EXT-SRV-ATTR:host": host, "OS-EXT-STS:task_state": task,
        }))
        .unwrap()
    }

    fn migration(status: &str) -> Migration {
        Migration {
            id: "1".into(),
            uuid: None,
            instance_uuid: "s1".into(),
            source_compute: Some("compute-1".into()),
            dest_compute: Some("compute-2".into()),
            status: status.into(),
            migration_type: Some("evacuation".into()),
            created_at: None,
            updated_at: None,
        }
    }

    fn check(s: Option<&Server>, m: Option<&Migration>, before: Option<&str>) -> (Check, String) {
        let c = check_server("compute-1", "s1", s, m, before, "journal");
        (c.check, c.problem.unwrap_or_default())
    }

    #[test]
    fn verdicts() {
        let done = migration("done");
        let moved = server("compute-2", "ACTIVE", None);
        assert_eq!(
            check(Some(&moved), Some(&done), Some("ACTIVE")).0,
            Check::Ok
        );
        assert_eq!(
            check(Some(&moved), Some(&migration("completed")), None).0,
            Check::Ok
        );
        let off = server("compute-2", "SHUTOFF", None);
        assert_eq!(check(Some(&off), Some(&done), Some("SHUTOFF")).0, Check::Ok);
        let (c, why) = check(Some(&moved), Some(&done), Some("SHUTOFF"));
        assert_eq!(c, Check::Failed);
        assert!(why.contains("expected SHUTOFF"), "{why}");
        // An ERROR server: ACTIVE (Nova's rebuild) or ERROR both pass.
        let err = server("compute-2", "ERROR", None);
        assert_eq!(check(Some(&err), Some(&done), Some("ERROR")).0, Check::Ok);
        assert_eq!(check(Some(&moved), Some(&done), Some("ERROR")).0, Check::Ok);
        assert_eq!(check(Some(&err), Some(&done), None).0, Check::Failed);

        let rebuilding = server("compute-1", "REBUILD", Some("rebuilding"));
        let (c, why) = check(Some(&rebuilding), Some(&migration("pre-migrating")), None);
        assert_eq!(c, Check::Pending);
        assert!(why.contains("pre-migrating"), "{why}");
        assert_eq!(check(Some(&rebuilding), None, None).0, Check::Pending);

        let stuck = server("compute-1", "ERROR", None);
        let (c, why) = check(Some(&stuck), Some(&migration("error")), Some("ACTIVE"));
        assert_eq!(c, Check::Failed);
        assert!(why.contains("migration error"), "{why}");
        let (c, why) = check(Some(&server("compute-1", "ACTIVE", None)), None, None);
        assert_eq!(c, Check::Failed);
        assert!(why.contains("still on compute-1"), "{why}");
        assert_eq!(check(None, Some(&done), None).0, Check::Failed);
    }

    #[test]
    fn an_earlier_episodes_migrations_are_left_out() {
        let at = |status: &str, created: Option<&str>| Migration {
            created_at: created.map(str::to_string),
            ..migration(status)
        };
        let ms = vec![
            at("failed", Some("2026-11-22T05:43:31.000000")),
            at("done", Some("2026-11-22T05:56:41.000000")),
            // Nova's clock a little behind ours.
            at("done", Some("2026-11-22T05:56:20.000000")),
            at("done", None),
            // The host ran again since: that failure is over.
            at("completed", Some("2026-11-22T05:56:50.000000")),
        ];
        let kept = this_episode(ms.clone(), Some("2026-11-22T05:56:35.112233Z"));
        let statuses: Vec<_> = kept.iter().map(|m| m.created_at.clone()).collect();
        assert_eq!(
            statuses,
            [
                Some("2026-11-22T05:56:41.000000".to_string()),
                Some("2026-11-22T05:56:20.000000".to_string()),
                None
            ]
        );
        assert_eq!(this_episode(ms, None).len(), 5);
    }

    #[test]
    fn volumes_unknown_is_not_verified() {
        let v = Verification {
            host: "h".into(),
            servers: Vec::new(),
            volumes: VolumeCheck {
                checked: false,
                left: Vec::new(),
                error: Some("HTTP 503".into()),
            },
        };
        assert!(!v.all_verified());
        assert!(v.anything_pending());
    }
}
