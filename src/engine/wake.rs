//! Observing by change: between cycles, `watch` follows every Consul cluster's checks with
//! blocking queries (one thread per cluster), and a change in what it reads (a node's or a
//! service check's status) wakes the loop at once for an early cycle. The wake is only a
//! hint: the cycle observes everything again (Nova by poll, it has no blocking reads), and
//! every safety rule judges that observation, never the blocking answer itself. A quiet
//! cluster holds the query and transfers nothing; a Consul that gives no index, or fails,
//! leaves the loop to its plain `interval` (logged at debug level).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::config::ConsulCluster;
use crate::consul::{self, Client, ClientOptions, HealthCheck};
use crate::core::network::NODE_CHECKS_FILTER;

/// How a follower asks.
#[derive(Clone, Debug)]
pub struct FollowOptions {
    /// The `wait` of each blocking query (Consul's default: 5 min; a quiet cluster answers
    /// once per wait).
    pub wait: Duration,
    /// The least time between two queries of one cluster: a Consul that answers at once
    /// again and again (an index that keeps moving elsewhere, a proxy that does not block)
    /// is not asked in a tight loop, as Consul's documentation asks of clients.
    pub min_gap: Duration,
    /// After a failed query, the pause before the next one (the cycle reports the failure).
    pub retry: Duration,
    pub client: ClientOptions,
}

impl FollowOptions {
    /// For a loop whose cycle is `interval`.
    pub fn for_interval(interval: Duration) -> FollowOptions {
        FollowOptions {
            wait: Duration::from_secs(5 * 60),
            min_gap: min_wake_gap(interval),
            retry: interval.clamp(Duration::from_secs(1), Duration::from_secs(30)),
            client: ClientOptions::default(),
        }
    }
}

/// The least time between two cycle starts when a change wakes the loop early, and between
/// two blocking queries of one cluster: a twentieth of the interval, within 100 ms..=1 s. A
/// cluster whose checks keep changing costs at most that many extra cycles.
pub fn min_wake_gap(interval: Duration) -> Duration {
    (interval / 20).clamp(Duration::from_millis(100), Duration::from_secs(1))
}

#[derive(Default)]
struct Changes {
    /// Changes seen so far, all clusters.
    count: u64,
    /// The cluster of the last one.
    last: String,
}

struct Shared {
    changes: Mutex<Changes>,
    cv: Condvar,
}

/// The followers of one configuration's clusters. Dropped (or replaced on a reload), its
/// threads stop after their query in flight (a signal cuts that short too).
pub struct ConsulWake {
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
}

impl ConsulWake {
    /// Starts one follower per cluster.
    pub fn start(clusters: &[ConsulCluster], options: &FollowOptions) -> ConsulWake {
        let shared = Arc::new(Shared {
            changes: Mutex::new(Changes::default()),
            cv: Condvar::new(),
        });
        let stop = Arc::new(AtomicBool::new(false));
        for cluster in clusters {
            let (cluster, shared, stop, options) = (
                cluster.clone(),
                Arc::clone(&shared),
                Arc::clone(&stop),
                options.clone(),
            );
            let name = cluster.name.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("consul-follow-{name}"))
                .spawn(move || follow(&cluster, &shared, &stop, &options));
            if let Err(e) = spawned {
                tracing::debug!(
                    "Consul cluster `{name}`: not followed ({e}): polled every interval"
                );
            }
        }
        ConsulWake { shared, stop }
    }

    /// Changes seen so far: a cycle notes it when it starts, and a later value means
    /// something changed since.
    pub fn changes(&self) -> u64 {
        self.lock().count
    }

    /// Waits until the count of changes differs from `seen`, or `timeout` passes; the
    /// cluster that changed last, if one did.
    pub fn wait(&self, seen: u64, timeout: Duration) -> Option<String> {
        let guard = self.lock();
        let (guard, _) = self
            .shared
            .cv
            .wait_timeout_while(guard, timeout, |c| c.count == seen)
            .unwrap_or_else(|p| p.into_inner());
        (guard.count != seen).then(|| guard.last.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Changes> {
        self.shared
            .changes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for ConsulWake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// What the watch reads of the checks: each one's node, id and status. Output text and
/// indexes that move elsewhere wake nothing.
fn digest(checks: &[HealthCheck]) -> u64 {
    let mut keys: Vec<(&str, &str, &str)> = checks
        .iter()
        .map(|c| (c.node.as_str(), c.check_id.as_str(), c.status.as_str()))
        .collect();
    keys.sort_unstable();
    let mut h = DefaultHasher::new();
    keys.hash(&mut h);
    h.finish()
}

fn ended(stop: &AtomicBool) -> bool {
    stop.load(Ordering::SeqCst) || crate::interrupt::requested().is_some()
}

/// Sleeps `d` in short slices; false when told to stop.
fn pause(d: Duration, stop: &AtomicBool) -> bool {
    let end = Instant::now() + d;
    loop {
        if ended(stop) {
            return false;
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

/// One cluster's follower: blocking reads of the checks the watch reads, one after the
/// other, telling `shared` when what they show changed.
fn follow(cluster: &ConsulCluster, shared: &Shared, stop: &AtomicBool, options: &FollowOptions) {
    let name = &cluster.name;
    let client = match Client::new(cluster, &options.client) {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!("{e}: not followed; polled every interval");
            return;
        }
    };
    let mut index = 0u64;
    let mut seen: Option<u64> = None;
    while !ended(stop) {
        let started = Instant::now();
        let answer =
            client.health_state_blocking("any", Some(NODE_CHECKS_FILTER), index, options.wait);
        if ended(stop) {
            break;
        }
        match answer {
            Ok(b) if b.index == 0 => {
                tracing::debug!(
                    "Consul cluster `{name}` gives no X-Consul-Index: no blocking queries; \
                     polled every interval"
                );
                break;
            }
            Ok(b) => {
                let now = digest(&b.checks);
                if seen.is_some_and(|d| d != now) {
                    tracing::debug!(
                        "Consul cluster `{name}`: the checks changed (index {index} -> {}): \
                         an early cycle",
                        b.index
                    );
                    let mut c = shared.changes.lock().unwrap_or_else(|p| p.into_inner());
                    c.count += 1;
                    c.last.clone_from(name);
                    shared.cv.notify_all();
                }
                seen = Some(now);
                if b.index < index {
                    tracing::debug!(
                        "Consul cluster `{name}`: its index went back ({index} -> {}): \
                         starting over",
                        b.index
                    );
                }
                index = consul::next_index(index, b.index);
            }
            Err(e) => {
                tracing::debug!(
                    "Consul cluster `{name}`: blocking read failed ({e}); polled every \
                     interval, tried again in {}",
                    humantime::format_duration(options.retry)
                );
                index = 0;
                if !pause(options.retry, stop) {
                    break;
                }
                continue;
            }
        }
        if let Some(left) = options.min_gap.checked_sub(started.elapsed())
            && !pause(left, stop)
        {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(node: &str, status: &str, output: &str) -> HealthCheck {
        HealthCheck {
            node: node.into(),
            check_id: "serfHealth".into(),
            name: String::new(),
            status: status.into(),
            output: output.into(),
            service_id: String::new(),
            service_name: String::new(),
        }
    }

    #[test]
    fn only_a_status_change_is_a_change() {
        let a = [check("c1", "passing", "x"), check("c2", "passing", "y")];
        let reordered_new_output = [check("c2", "passing", "z"), check("c1", "passing", "x")];
        assert_eq!(digest(&a), digest(&reordered_new_output));
        let failed = [check("c1", "critical", "x"), check("c2", "passing", "y")];
        assert_ne!(digest(&a), digest(&failed));
    }

    #[test]
    fn the_wake_gap_is_a_fraction_of_the_interval_within_bounds() {
        assert_eq!(
            min_wake_gap(Duration::from_secs(2)),
            Duration::from_millis(100)
        );
        assert_eq!(
            min_wake_gap(Duration::from_secs(10)),
            Duration::from_millis(500)
        );
        assert_eq!(
            min_wake_gap(Duration::from_secs(60)),
            Duration::from_secs(1)
        );
        assert_eq!(
            min_wake_gap(Duration::from_millis(100)),
            Duration::from_millis(100)
        );
    }

    #[test]
    fn the_index_resets_when_it_goes_back() {
        assert_eq!(consul::next_index(0, 120), 120);
        assert_eq!(consul::next_index(120, 130), 130);
        assert_eq!(consul::next_index(120, 120), 120);
        assert_eq!(consul::next_index(120, 7), 0);
        assert_eq!(consul::next_index(120, 0), 0);
    }
}
