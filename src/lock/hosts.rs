//! One actor per host (docs/design.md 2.5): every run that changes a host (a manual command, or
//! `watch` for the host it acts on) holds that host's lock while it plans and acts.
//!
//! - Locally, an exclusive `flock` on `host-<name>-<hash>.lock` in the directory of `[lock]
//!   file`: two runs on this machine never act on one host at once. The kernel drops it when
//!   the process dies. Its text names the holder (pid, start, machine, command line).
//! - With `[lock] consul_cluster`, also the Consul key `<consul_key>/hosts/<host>`, held by a
//!   session as the leader lock is ([`LeaderLock`]): a `watch` on another controller and a
//!   manual run here do not act on one host at once either.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::config::{Config, ConsulCluster};
use crate::consul;

use super::{Identity, LeaderLock, Leadership, LockError, hostname, lock_file};

/// How often a run that waits for a held host tries again.
const POLL: Duration = Duration::from_millis(200);

/// The lock file of `host` in `dir`: the name made safe for a file name (it may hold `/`),
/// and a hash of the whole name so that two names made alike never share a file.
pub fn host_lock_path(dir: &Path, host: &str) -> PathBuf {
    let safe: String = host
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    // FNV-1a: stable across builds and platforms (std's hasher is not).
    let hash = host.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    dir.join(format!("host-{safe}-{:08x}.lock", hash as u32))
}

/// Why a host could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum HostLockError {
    /// Another run acts on the host.
    #[error("host {host} is being acted on by {holder}: this run did nothing ({})", waited_text(*.waited))]
    Held {
        host: String,
        /// `pid 4242 (evacctl host-evacuate compute-1, started ...) on ctl-1`.
        holder: String,
        waited: Duration,
    },
    /// The lock file cannot be used.
    #[error("{0}: nothing was done")]
    Local(LockError),
    /// Consul did not answer for the host's key.
    #[error("host {host}: cannot take its Consul key `{key}`: {error}: nothing was done")]
    Consul {
        host: String,
        key: String,
        error: String,
    },
}

fn waited_text(waited: Duration) -> String {
    if waited < Duration::from_secs(1) {
        "--wait-lock DURATION waits for it".to_string()
    } else {
        format!(
            "waited {}",
            humantime::format_duration(Duration::from_secs(waited.as_secs()))
        )
    }
}

/// The held text of a lock file, for people: its identity, else its raw text.
fn describe(text: Option<String>) -> String {
    match text {
        Some(t) => match serde_json::from_str::<Identity>(&t) {
            Ok(id) => id.to_string(),
            Err(_) => t.chars().filter(|c| !c.is_control()).take(200).collect(),
        },
        None => "another process (its lock file names nobody yet)".to_string(),
    }
}

/// Where and how this run takes host locks.
#[derive(Debug, Clone)]
pub struct HostLocks {
    dir: PathBuf,
    /// The holder's command line, e.g. `evacctl host-evacuate compute-1`.
    command: String,
    consul: Option<Keys>,
}

#[derive(Debug, Clone)]
struct Keys {
    cluster: ConsulCluster,
    prefix: String,
    ttl: Duration,
}

/// The Consul cluster that holds the leader lock and the host keys: `[lock] consul_cluster`,
/// else the first management `[consul.NAME]`, else the one cluster `CONSUL_HTTP_ADDR` describes
/// (a single-cluster cloud runs on its Consul leader too); none with `[lock] leader = false`
/// or without Consul. The leader lock and the host keys always live in the same one.
pub fn lock_cluster(config: &Config) -> Result<Option<ConsulCluster>, String> {
    if let Some(name) = config.leader_cluster() {
        return config
            .consul_cluster(name)
            .cloned()
            .map(Some)
            .ok_or_else(|| {
                format!("[lock] consul_cluster = \"{name}\" is not a configured [consul.NAME]")
            });
    }
    if !config.lock.leader || config.consul_clusters().next().is_some() {
        return Ok(None);
    }
    let from_env = consul::clusters(config).map_err(|e| e.to_string())?;
    Ok(from_env.into_iter().next())
}

impl HostLocks {
    /// Host locks in `dir` (default: the directory of `[lock] file`), and in the Consul of
    /// [`lock_cluster`] when there is one. `command` names this run to whoever finds a host held.
    pub fn new(config: &Config, dir: Option<&Path>, command: &str) -> Result<HostLocks, String> {
        let dir = match dir {
            Some(d) => d.to_path_buf(),
            None => config
                .lock
                .file
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf(),
        };
        let consul = lock_cluster(config)?.map(|cluster| Keys {
            cluster,
            prefix: config.lock.consul_key.trim_end_matches('/').to_string(),
            ttl: config.lock.session_ttl,
        });
        Ok(HostLocks {
            dir,
            command: command.to_string(),
            consul,
        })
    }

    /// The directory of the lock files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn identity(&self) -> Identity {
        Identity {
            controller: hostname(),
            pid: std::process::id(),
            since: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            run: None,
            released: false,
            hold: None,
            command: Some(self.command.clone()),
        }
    }

    /// Takes `host`: its lock file, then its Consul key. A host held by another run is tried
    /// again until `wait` has passed (or a signal came), then [`HostLockError::Held`].
    pub fn acquire(&self, host: &str, wait: Duration) -> Result<HostLock, HostLockError> {
        let started = Instant::now();
        let path = host_lock_path(&self.dir, host);
        let text = format!(
            "{}\n",
            serde_json::to_string(&self.identity()).unwrap_or_default()
        );
        let held = |holder: String| HostLockError::Held {
            host: host.to_string(),
            holder,
            waited: started.elapsed(),
        };
        // A holder that has just taken the file may not have written its text yet: asked
        // again a few times, so that the answer names it.
        let mut unnamed = 0;
        let file = loop {
            match lock_file(&path, &text) {
                Ok(f) => break f,
                Err(LockError::Held { holder: None, .. }) if unnamed < 10 => {
                    unnamed += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(LockError::Held { holder, .. }) => {
                    if started.elapsed() >= wait || !crate::interrupt::sleep(POLL) {
                        return Err(held(describe(holder)));
                    }
                }
                Err(e) => return Err(HostLockError::Local(e)),
            }
        };
        let key = match &self.consul {
            None => None,
            Some(k) => Some(self.take_key(k, host, started, wait)?),
        };
        tracing::debug!("holding host {host} ({})", path.display());
        Ok(HostLock {
            host: host.to_string(),
            _file: file,
            key,
        })
    }

    fn take_key(
        &self,
        k: &Keys,
        host: &str,
        started: Instant,
        wait: Duration,
    ) -> Result<LeaderLock, HostLockError> {
        let key = format!("{}/hosts/{host}", k.prefix);
        let fail = |error: String| HostLockError::Consul {
            host: host.to_string(),
            key: key.clone(),
            error,
        };
        // Below a third of the TTL, as for the leader lock: a hung renewal must not outlive
        // the key.
        let options = consul::ClientOptions {
            timeout: (k.ttl / 4).max(Duration::from_secs(1)),
            ..consul::ClientOptions::default()
        };
        let client = consul::Client::new(&k.cluster, &options).map_err(|e| fail(e.to_string()))?;
        let mut lock =
            LeaderLock::new(client, &key, k.ttl, hostname()).for_host(host, &self.command);
        loop {
            match lock.try_acquire() {
                Ok(Leadership::Leader) => return Ok(lock),
                Ok(Leadership::Standby { holder }) => {
                    if started.elapsed() >= wait || !crate::interrupt::sleep(POLL * 5) {
                        return Err(HostLockError::Held {
                            host: host.to_string(),
                            holder: holder.unwrap_or_else(|| {
                                "another controller (its key is in its lock-delay)".to_string()
                            }),
                            waited: started.elapsed(),
                        });
                    }
                }
                Err(e) => return Err(fail(e.to_string())),
            }
        }
    }
}

/// A host held by this run; dropping it lets go (the Consul key first released).
#[derive(Debug)]
pub struct HostLock {
    host: String,
    _file: File,
    key: Option<LeaderLock>,
}

impl HostLock {
    pub fn host(&self) -> &str {
        &self.host
    }

    /// False once the host's Consul key was lost (not renewed in time): act no more.
    pub fn is_held(&self) -> bool {
        self.key.as_ref().is_none_or(LeaderLock::is_leader)
    }

    /// Who holds the host's Consul key now, once a re-check before a request
    /// ([`super::recheck_host`]) found this run had lost it.
    pub fn lost_to(&self) -> Option<String> {
        self.key.as_ref().and(super::lost_to(&self.host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locks(dir: &Path, command: &str) -> HostLocks {
        HostLocks::new(&Config::default(), Some(dir), command).unwrap()
    }

    #[test]
    fn lock_file_names_are_safe_and_distinct() {
        let d = Path::new("/run/evacctl");
        let a = host_lock_path(d, "compute-1");
        assert!(
            a.to_str()
                .unwrap()
                .starts_with("/run/evacctl/host-compute-1-"),
            "{a:?}"
        );
        assert_eq!(a, host_lock_path(d, "compute-1"));
        let b = host_lock_path(d, "../x/y");
        assert_eq!(b.parent(), Some(d));
        assert_ne!(host_lock_path(d, "a/b"), host_lock_path(d, "a_b"));
    }

    #[test]
    fn a_held_host_names_its_holder_and_is_free_once_released() {
        let dir = tempfile::tempdir().unwrap();
        let first = locks(dir.path(), "evacctl host-evacuate compute-1");
        let second = locks(dir.path(), "evacctl evacuate vm-1");
        let held = first.acquire("compute-1", Duration::ZERO).unwrap();
        // Another host is free.
        let other = second.acquire("compute-2", Duration::ZERO).unwrap();
        let e = second.acquire("compute-1", Duration::ZERO).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with(&format!(
                "host compute-1 is being acted on by pid {} (evacctl host-evacuate compute-1, \
                 started ",
                std::process::id()
            )),
            "{text}"
        );
        assert!(text.contains(&format!(") on {}", hostname())), "{text}");
        assert!(text.contains("--wait-lock"), "{text}");
        // Waiting: released by the holder meanwhile.
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            drop(held);
        });
        let again = second
            .acquire("compute-1", Duration::from_secs(10))
            .unwrap();
        t.join().unwrap();
        assert_eq!(again.host(), "compute-1");
        assert!(again.is_held() && other.is_held());
    }
}
