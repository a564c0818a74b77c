//! nova-api's worker pool, set through `/_sim/api-workers`.
//!
//! A real nova-api serves the compute API with a fixed number of workers: uWSGI or mod_wsgi
//! processes (times threads), or under eventlet `[DEFAULT] osapi_compute_workers` processes
//! (by default one per CPU; deployment tools often set fewer). Each request holds a worker
//! for its whole handling (policy, database rounds, the RPC cast to the conductor); beyond
//! the number of workers, requests wait in the listen queue, so throughput saturates at
//! `workers / service time` and more client concurrency only lengthens the queue.
//!
//! Model: at most `workers` compute API requests are served at once, each holds its worker
//! for `service_ms` (plus the handler and any wait on a dead compute), the others wait in
//! arrival order (FIFO). `workers = 0` is the default: unlimited, no service time (the
//! simulator's old behaviour); the counters are kept either way, so a benchmark can read how
//! many requests a client had at the API at once. Keystone, Placement and the rest are not
//! limited: they keep the plain latency fault.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

/// The pool's settings as posted to `/_sim/api-workers`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkersSpec {
    /// Requests served at once; 0: unlimited.
    #[serde(default)]
    pub workers: u32,
    /// Time each request holds its worker, in ms.
    #[serde(default)]
    pub service_ms: u64,
}

impl WorkersSpec {
    pub fn validate(&self) -> Result<(), String> {
        if self.workers > 10_000 {
            return Err("workers is at most 10000 (0: unlimited)".into());
        }
        if self.service_ms > 600_000 {
            return Err("service_ms is at most 600000 (10 minutes)".into());
        }
        if self.workers == 0 && self.service_ms > 0 {
            // Unlimited workers with a service time is just the latency fault.
            return Err("service_ms needs workers (use a latency fault otherwise)".into());
        }
        Ok(())
    }
}

/// Counters since the pool was last set (or since start).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct WorkersStats {
    /// Requests at the API now: served and queued.
    pub in_flight: u64,
    /// Most requests at the API at once (the client's effective concurrency).
    pub max_in_flight: u64,
    /// Requests being served now.
    pub busy: u64,
    /// Most requests served at once: never above `workers` (when limited).
    pub max_busy: u64,
    pub queued: u64,
    pub max_queued: u64,
    /// Requests that got a worker.
    pub served: u64,
    /// Of those, how many had to wait in the queue.
    pub waited: u64,
    pub wait_seconds_total: f64,
    pub wait_seconds_max: f64,
}

#[derive(Debug, Default)]
struct Pool {
    spec: WorkersSpec,
    busy: u64,
    /// Waiting requests in arrival order; each gets its permit through its channel.
    queue: VecDeque<oneshot::Sender<Permit>>,
    stats: WorkersStats,
}

impl Pool {
    fn has_room(&self) -> bool {
        self.spec.workers == 0 || self.busy < u64::from(self.spec.workers)
    }

    fn note_arrival(&mut self) {
        let s = &mut self.stats;
        s.in_flight = self.busy + self.queue.len() as u64;
        s.busy = self.busy;
        s.queued = self.queue.len() as u64;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
        s.max_busy = s.max_busy.max(s.busy);
        s.max_queued = s.max_queued.max(s.queued);
    }

    fn note_served(&mut self, waited: Option<Duration>) {
        let s = &mut self.stats;
        s.served += 1;
        if let Some(w) = waited {
            s.waited += 1;
            s.wait_seconds_total += w.as_secs_f64();
            s.wait_seconds_max = s.wait_seconds_max.max(w.as_secs_f64());
        }
    }
}

/// The shared pool (cloned into each request).
#[derive(Debug, Clone, Default)]
pub struct ApiWorkers {
    pool: Arc<Mutex<Pool>>,
}

/// A worker held by one request; dropping it frees the worker for the next in the queue.
#[derive(Debug)]
pub struct Permit {
    pool: Option<Arc<Mutex<Pool>>>,
    /// How long the request held it before being served, if it had to wait.
    pub waited: Option<Duration>,
    /// The service time to spend holding it.
    pub service: Duration,
}

/// Where a request stands on arrival.
pub enum Entry {
    Served(Permit),
    Queued(oneshot::Receiver<Permit>, Instant),
}

fn lock(pool: &Mutex<Pool>) -> MutexGuard<'_, Pool> {
    // A panic while holding this lock leaves counters only: keep going.
    pool.lock().unwrap_or_else(|e| e.into_inner())
}

impl ApiWorkers {
    /// Sets the pool and resets the counters; requests already queued are served as
    /// workers allow under the new setting.
    pub fn set(&self, spec: WorkersSpec) -> Result<(), String> {
        spec.validate()?;
        {
            let mut p = lock(&self.pool);
            p.spec = spec;
            p.stats = WorkersStats::default();
            p.stats.busy = p.busy;
            p.stats.queued = p.queue.len() as u64;
        }
        self.pump();
        Ok(())
    }

    pub fn spec(&self) -> WorkersSpec {
        lock(&self.pool).spec
    }

    pub fn stats(&self) -> WorkersStats {
        let p = lock(&self.pool);
        let mut s = p.stats;
        s.busy = p.busy;
        s.queued = p.queue.len() as u64;
        s.in_flight = s.busy + s.queued;
        s
    }

    /// A request arrives: a worker now, or a place at the end of the queue.
    pub fn enter(&self) -> Entry {
        let mut p = lock(&self.pool);
        let service = Duration::from_millis(p.spec.service_ms);
        if p.has_room() && p.queue.is_empty() {
            p.busy += 1;
            p.note_arrival();
            p.note_served(None);
            return Entry::Served(Permit {
                pool: Some(self.pool.clone()),
                waited: None,
                service,
            });
        }
        let (tx, rx) = oneshot::channel();
        p.queue.push_back(tx);
        p.note_arrival();
        Entry::Queued(rx, Instant::now())
    }

    /// Waits for a worker (FIFO).
    pub async fn acquire(&self) -> Permit {
        match self.enter() {
            Entry::Served(permit) => permit,
            Entry::Queued(rx, since) => match rx.await {
                Ok(mut permit) => {
                    let waited = since.elapsed();
                    lock(&self.pool).note_served(Some(waited));
                    permit.waited = Some(waited);
                    permit
                }
                // The pool never drops a waiter's sender without a permit; be safe anyway.
                Err(_) => Permit {
                    pool: None,
                    waited: None,
                    service: Duration::ZERO,
                },
            },
        }
    }

    /// Hands free workers to the queue's head while there is room.
    fn pump(&self) {
        loop {
            let next = {
                let mut p = lock(&self.pool);
                if !p.has_room() {
                    return;
                }
                match p.queue.pop_front() {
                    Some(tx) => {
                        p.busy += 1;
                        p.stats.max_busy = p.stats.max_busy.max(p.busy);
                        (tx, Duration::from_millis(p.spec.service_ms))
                    }
                    None => return,
                }
            };
            // Outside the lock: a refused permit is dropped, which frees its worker again.
            let _ = next.0.send(Permit {
                pool: Some(self.pool.clone()),
                waited: None,
                service: next.1,
            });
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            lock(&pool).busy -= 1;
            ApiWorkers { pool }.pump();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(workers: u32, service_ms: u64) -> ApiWorkers {
        let w = ApiWorkers::default();
        w.set(WorkersSpec {
            workers,
            service_ms,
        })
        .unwrap();
        w
    }

    fn served(e: Entry) -> Permit {
        match e {
            Entry::Served(p) => p,
            Entry::Queued(..) => panic!("queued, expected served"),
        }
    }

    fn queued(e: Entry) -> oneshot::Receiver<Permit> {
        match e {
            Entry::Queued(rx, _) => rx,
            Entry::Served(_) => panic!("served, expected queued"),
        }
    }

    #[test]
    fn at_most_workers_at_once_and_the_rest_in_arrival_order() {
        let w = pool(2, 100);
        let a = served(w.enter());
        let b = served(w.enter());
        assert_eq!(a.service, Duration::from_millis(100));
        let mut c = queued(w.enter());
        let mut d = queued(w.enter());
        let mut e = queued(w.enter());
        assert_eq!(w.stats().busy, 2);
        assert_eq!(w.stats().queued, 3);
        assert!(c.try_recv().is_err());
        drop(b);
        // The first in line gets the freed worker, not a later one.
        let c = c.try_recv().expect("c is next");
        assert!(d.try_recv().is_err() && e.try_recv().is_err());
        drop(a);
        let d = d.try_recv().expect("d is next");
        assert!(e.try_recv().is_err());
        drop((c, d));
        let e = e.try_recv().expect("e is next");
        drop(e);
        let s = w.stats();
        assert_eq!((s.max_busy, s.max_queued, s.max_in_flight), (2, 3, 5));
        assert_eq!((s.busy, s.queued, s.in_flight), (0, 0, 0));
    }

    #[test]
    fn a_waiter_gone_passes_its_turn_on() {
        let w = pool(1, 0);
        let a = served(w.enter());
        drop(queued(w.enter()));
        let mut c = queued(w.enter());
        drop(a);
        let c = c.try_recv().expect("c served after the gone waiter");
        assert_eq!(w.stats().busy, 1);
        drop(c);
        assert_eq!(w.stats().busy, 0);
    }

    #[test]
    fn more_workers_serve_the_queue_at_once() {
        let w = pool(1, 0);
        let _a = served(w.enter());
        let mut b = queued(w.enter());
        w.set(WorkersSpec {
            workers: 2,
            service_ms: 0,
        })
        .unwrap();
        assert!(b.try_recv().is_ok());
    }

    #[test]
    fn unlimited_by_default_and_still_counted() {
        let w = ApiWorkers::default();
        let held: Vec<Permit> = (0..50).map(|_| served(w.enter())).collect();
        assert_eq!(held[0].service, Duration::ZERO);
        assert_eq!(w.stats().max_in_flight, 50);
        drop(held);
        assert_eq!(w.stats().in_flight, 0);
    }

    #[test]
    fn settings_are_checked() {
        let w = ApiWorkers::default();
        for bad in [(0, 50), (20_000, 1), (2, 700_000)] {
            let spec = WorkersSpec {
                workers: bad.0,
                service_ms: bad.1,
            };
            assert!(w.set(spec).is_err(), "{bad:?}");
        }
        assert!(serde_json::from_str::<WorkersSpec>(r#"{"worker": 2}"#).is_err());
    }
}
