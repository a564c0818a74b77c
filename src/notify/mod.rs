//! Notifications: tells people what happened to a host, through every channel `[notify]`
//! configures (a webhook, a command hook, e-mail). Knows nothing of the runbook: the caller
//! builds an [`Event`] and hands it to [`Notifier::notify`].
//!
//! Delivery never holds up recovery: `notify` only queues the event. Each channel has its own
//! worker thread and bounded queue, so a webhook that hangs delays neither the e-mail nor the
//! caller; a full queue drops the event with a warning. [`Notifier::flush`] waits, bounded, for
//! what is queued (at exit). Each delivery logs one line: info `notified <channel> of <host>
//! <event>` on success, warn `could not notify <channel> of <host> <event>: <why>` on failure.
//!
//! ```no_run
//! # let cfg = evacctl::config::NotifyConfig::default();
//! let notifier = evacctl::notify::Notifier::from_config(&cfg).expect("valid [notify]");
//! notifier.notify(evacctl::notify::Event::new(
//!     evacctl::notify::EventKind::Fenced,
//!     "compute-3",
//!     "fenced",
//!     "compute-3 fence successed",
//! ));
//! notifier.flush(std::time::Duration::from_secs(10));
//! ```

mod command;
mod email;
mod webhook;

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::config::NotifyConfig;

/// How many events a channel may have waiting; beyond that new ones are dropped (a channel
/// that cannot keep up must not grow memory without bound during a mass failure).
pub const QUEUE_LIMIT: usize = 64;

/// The time limit of the command hook, of `sendmail`, and of each SMTP exchange (connect,
/// one command and its reply). Fixed: `webhook_timeout` (default 5 s) is sized for one HTTP
/// request, too short for a paging script or a slow relay.
pub const PROGRAM_TIMEOUT: Duration = Duration::from_secs(30);

/// What happened to a host. Serialized lowercase: a stable interface for runbooks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// Confirmed failed (seen failed in enough consecutive cycles).
    Failed,
    /// Power confirmed off.
    Fenced,
    /// Forced down and disabled in Nova.
    Isolated,
    /// Every server evacuated and verified.
    Evacuated,
    /// Level 1 evacuated the host's servers without moving the volumes of its cinder-volume
    /// still up; a later cycle moved them (the host stays evacuated).
    #[serde(rename = "volumes-moved")]
    VolumesMoved,
    /// Automatic work stopped on this host: a person must act.
    Alert,
    /// A cluster-wide alert (host `"*"`) is over.
    #[serde(rename = "alert-ended")]
    AlertEnded,
    /// A host found off was powered on (or repaired) and did not come back: it is fenced.
    #[serde(rename = "recovery-failed")]
    RecoveryFailed,
    /// Something an operator should know, no action taken (a network degraded, Nova's
    /// heartbeat lost while the node says it runs).
    Warning,
    /// The host came back by itself (after a power-on or a repair command).
    Recovered,
    /// An operator returned the host to service.
    Restored,
    /// A test of the channels ([`test_event`]): no action was taken.
    Test,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Failed => "failed",
            EventKind::Fenced => "fenced",
            EventKind::Isolated => "isolated",
            EventKind::Evacuated => "evacuated",
            EventKind::VolumesMoved => "volumes-moved",
            EventKind::Alert => "alert",
            EventKind::AlertEnded => "alert-ended",
            EventKind::RecoveryFailed => "recovery-failed",
            EventKind::Warning => "warning",
            EventKind::Recovered => "recovered",
            EventKind::Restored => "restored",
            EventKind::Test => "test",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One notification. The field names are a stable interface (webhook body, hook stdin,
/// e-mail body).
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    pub event: EventKind,
    pub host: String,
    /// The host's new state (`fenced`, `alert`, ...).
    pub state: String,
    pub previous_state: Option<String>,
    /// One sentence, the same text as the log line.
    pub reason: String,
    /// RFC 3339, UTC.
    pub at: String,
    /// The hostname of the machine running evacctl.
    pub controller: String,
    /// The journal's run id (`""` when there is no journal).
    pub run_id: String,
    /// Free: the servers evacuated, the cause of an alert...; `null` when none.
    pub details: serde_json::Value,
}

impl Event {
    /// An event stamped now, from this controller; `previous_state`, `run_id` and `details`
    /// empty (set the fields).
    pub fn new(
        event: EventKind,
        host: impl Into<String>,
        state: impl Into<String>,
        reason: impl Into<String>,
    ) -> Event {
        Event {
            event,
            host: host.into(),
            state: state.into(),
            previous_state: None,
            reason: reason.into(),
            at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            controller: hostname().to_string(),
            run_id: String::new(),
            details: serde_json::Value::Null,
        }
    }
}

/// An event for testing the channels end to end (`watch --test-notify`): kind `test`, so a
/// receiver can tell it from a real one.
pub fn test_event(host: &str) -> Event {
    Event::new(
        EventKind::Test,
        host,
        "test",
        format!(
            "test notification from evacctl on {}: no action was taken on {host}",
            hostname()
        ),
    )
}

/// This machine's hostname (the kernel's, as `hostname` prints it); `localhost` if unknown.
pub fn hostname() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "localhost".to_string())
    })
}

/// The `[notify]` section cannot be used as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[notify] {0}")]
pub struct NotifyError(String);

/// One way of telling people. `deliver` may block (bounded by its own timeouts): it runs on
/// the channel's worker thread.
trait Channel: Send + 'static {
    fn name(&self) -> &'static str;
    fn deliver(&self, event: &Event) -> Result<(), String>;
}

/// Deliveries queued or running, for [`Notifier::flush`]; and the failed ones, for
/// [`Notifier::take_failures`].
#[derive(Default)]
struct Pending {
    count: Mutex<usize>,
    done: Condvar,
    failed: Mutex<Vec<Failure>>,
}

/// A delivery that failed: the channel, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub channel: &'static str,
    pub why: String,
}

impl Pending {
    fn add(&self, n: isize) {
        let mut c = self.count.lock().unwrap_or_else(|p| p.into_inner());
        *c = c.saturating_add_signed(n);
        if *c == 0 {
            self.done.notify_all();
        }
    }
}

struct Worker {
    name: &'static str,
    queue: SyncSender<Event>,
}

/// Delivers [`Event`]s to the configured channels in the background. No channel configured:
/// a notifier that does nothing.
pub struct Notifier {
    workers: Vec<Worker>,
    pending: Arc<Pending>,
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field("channels", &self.channels())
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// Builds the channels `[notify]` configures (already validated by `src/config`); no I/O.
    /// Build it once logging is set up: its workers log through the subscriber in force now.
    pub fn from_config(cfg: &NotifyConfig) -> Result<Notifier, NotifyError> {
        let mut channels: Vec<Box<dyn Channel>> = Vec::new();
        if let Some(url) = &cfg.webhook_url {
            channels.push(Box::new(
                webhook::Webhook::new(url, cfg.webhook_timeout).map_err(NotifyError)?,
            ));
        }
        if !cfg.command.is_empty() {
            channels.push(Box::new(command::Hook::new(cfg.command.clone())));
        }
        if !cfg.email_to.is_empty() {
            channels.push(Box::new(email::Email::new(cfg).map_err(NotifyError)?));
        }
        Ok(Notifier::start(channels))
    }

    /// A notifier with no channel.
    pub fn disabled() -> Notifier {
        Notifier::start(Vec::new())
    }

    fn start(channels: Vec<Box<dyn Channel>>) -> Notifier {
        let pending = Arc::new(Pending::default());
        // The workers log through the subscriber in force here: the global one (set up first
        // thing in main), or a test's scoped one.
        let dispatch = tracing::dispatcher::get_default(|d| d.clone());
        let workers = channels
            .into_iter()
            .filter_map(|channel| {
                let name = channel.name();
                let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE_LIMIT);
                let (pending, dispatch) = (pending.clone(), dispatch.clone());
                let spawned = std::thread::Builder::new()
                    .name(format!("notify-{name}"))
                    .spawn(move || {
                        // What was queued is still told after a signal (the exit's flush
                        // bounds the wait).
                        let _told = crate::interrupt::exempt();
                        tracing::dispatcher::with_default(&dispatch, || {
                            work(channel.as_ref(), &rx, &pending)
                        })
                    });
                match spawned {
                    Ok(_) => Some(Worker { name, queue: tx }),
                    Err(e) => {
                        tracing::warn!("cannot start the {name} notifier: {e}");
                        None
                    }
                }
            })
            .collect();
        Notifier { workers, pending }
    }

    /// The channels in use, for the startup log line: `webhook`, `command`, `email`.
    pub fn channels(&self) -> Vec<&'static str> {
        self.workers.iter().map(|w| w.name).collect()
    }

    /// Queues `event` for every channel and returns at once. A channel whose queue is full
    /// drops it (warn).
    pub fn notify(&self, event: Event) {
        for w in &self.workers {
            self.pending.add(1);
            let why = match w.queue.try_send(event.clone()) {
                Ok(()) => continue,
                Err(TrySendError::Full(_)) => {
                    format!("{QUEUE_LIMIT} notifications already waiting, this one is dropped")
                }
                Err(TrySendError::Disconnected(_)) => "its worker has stopped".to_string(),
            };
            self.pending.add(-1);
            tracing::warn!(
                "could not notify {} of {} {}: {why}",
                w.name,
                event.host,
                event.event
            );
            let mut failed = self
                .pending
                .failed
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if failed.len() < QUEUE_LIMIT {
                failed.push(Failure {
                    channel: w.name,
                    why,
                });
            }
        }
    }

    /// The deliveries that failed since the last call (`watch --test-notify` names them).
    pub fn take_failures(&self) -> Vec<Failure> {
        let mut failed = self
            .pending
            .failed
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut *failed)
    }

    /// Waits until every queued delivery has finished, at most `timeout`. `true` when none is
    /// left; otherwise warns how many are given up (they may still finish while the process
    /// lives).
    pub fn flush(&self, timeout: Duration) -> bool {
        // A timeout too long to add to now cannot panic: it waits as long as it can.
        let until = Instant::now().checked_add(timeout);
        let mut count = self.pending.count.lock().unwrap_or_else(|p| p.into_inner());
        while *count > 0 {
            let left = until.map_or(Duration::from_secs(86400), |u| {
                u.saturating_duration_since(Instant::now())
            });
            if left.is_zero() {
                tracing::warn!(
                    "{} notification(s) not delivered after waiting {}",
                    *count,
                    humantime::format_duration(timeout)
                );
                return false;
            }
            count = match self.pending.done.wait_timeout(count, left) {
                Ok((c, _)) => c,
                Err(p) => p.into_inner().0,
            };
        }
        true
    }
}

fn work(channel: &dyn Channel, queue: &Receiver<Event>, pending: &Pending) {
    let name = channel.name();
    // Ends when the Notifier (the sender) is dropped and the queue is empty.
    while let Ok(event) = queue.recv() {
        // A panic in a delivery must not silence the channel for the rest of the run.
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| channel.deliver(&event)))
            .unwrap_or_else(|_| Err("internal error (panic) while delivering".to_string()));
        match result {
            Ok(()) => tracing::info!("notified {name} of {} {}", event.host, event.event),
            Err(why) => {
                tracing::warn!(
                    "could not notify {name} of {} {}: {why}",
                    event.host,
                    event.event
                );
                let mut failed = pending.failed.lock().unwrap_or_else(|p| p.into_inner());
                // Bounded: a channel failing all night must not grow memory.
                if failed.len() < QUEUE_LIMIT {
                    failed.push(Failure { channel: name, why });
                }
            }
        }
        pending.add(-1);
    }
}

/// A program's run as a delivery result: exit 0, or why not (with the first line of stderr).
fn outcome(run: crate::process::Run) -> Result<(), String> {
    let program = run.argv.first().map(String::as_str).unwrap_or("");
    match (run.exit_code, &run.error) {
        (Some(0), _) => Ok(()),
        (Some(code), _) => Err(match first_line(&run.stderr) {
            Some(line) => format!("{program} exited with {code}: {line}"),
            None => format!("{program} exited with {code}"),
        }),
        // `cannot run X: ...` names the program already; `killed after 30s` does not.
        (None, Some(why))
            if why
                .split_whitespace()
                .any(|w| w.trim_end_matches(':') == program) =>
        {
            Err(why.clone())
        }
        (None, Some(why)) => Err(format!("{program}: {why}")),
        (None, None) => Err(format!("{program}: no exit status")),
    }
}

/// The first non-empty line of a program's or a server's text.
fn first_line(s: &str) -> Option<&str> {
    s.lines().map(str::trim).find(|l| !l.is_empty())
}

#[cfg(test)]
mod tests;
