//! One actor: the locks that keep `watch` from acting twice.
//!
//! - [`LocalLock`]: an exclusive `flock` on `[lock] file`, so cron runs of `watch --once` on
//!   one controller never overlap. The kernel drops it when the process dies, however it dies,
//!   so a crashed run never leaves a stale lock behind. The file stays on disk (deleting a
//!   lock file races with a process that has just opened it); its text names the last holder.
//! - [`LeaderLock`]: a Consul session on a KV key (`[lock] consul_cluster`, `consul_key`,
//!   `session_ttl`), so that of several controllers running `watch` only the holder acts.
//!
//! # Why the leader lock can be trusted
//!
//! Consul's contract is that a session lives at least its TTL after a renewal reaches it. The
//! holder counts from the moment it *sent* its last successful renewal (never later than the
//! moment Consul saw it) and stops acting at half the TTL without another one
//! ([`LeaderTiming::lost_after`]): [`LeaderFlag::is_set`] checks that deadline itself, so a
//! renewal stuck in a hung HTTP call cannot keep a stale leader acting. Another controller can
//! take the key only once the session is invalidated, so the other half of the TTL (plus the
//! lock-delay) is left for an action already under way when the holder stopped.
//!
//! The session is tied to its TTL alone (`NodeChecks = []`): with Consul's default
//! `serfHealth` check a gossip flap of the agent's node (which may be another controller's
//! agent: `addresses` lists several) would invalidate the session at once, while the holder
//! is still acting and only learns of it at its next renewal. The lock-delay is 1 s, not
//! Consul's 15 s: the delay exists for holders that cannot tell when they lost the lock, and
//! this one stops itself before the session can end; the second is a margin for a request in
//! flight. A graceful [`LeaderLock::release`] (SIGTERM) releases the key first, which has no
//! lock-delay at all, so a standby takes over at its next cycle.

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::consul::{self, Behavior, Client, KvEntry, SessionRequest};
pub use crate::core::records::Hold;

// =====================================================================================
// The local lock file
// =====================================================================================

/// A local exclusive lock so cron runs never overlap. Released on drop (and by the kernel if
/// the process dies).
#[derive(Debug)]
pub struct LocalLock {
    path: PathBuf,
    /// Holds the `flock`; closing it releases the lock.
    _file: File,
}

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock file.
    #[error("another evacctl watch holds {}{}: this run did nothing", path.display(), holder.as_ref().map(|h| format!(" ({h})")).unwrap_or_default())]
    Held {
        path: PathBuf,
        /// The file's text, `pid <pid> started <rfc3339> host <hostname>`; `None` when empty.
        holder: Option<String>,
    },
    /// The lock file cannot be used.
    #[error("lock file {}: cannot {action}: {error}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        error: io::Error,
    },
}

impl LocalLock {
    /// Creates the file (and its directory, 0700) if needed, takes an exclusive non-blocking
    /// lock, and writes `pid <pid> started <rfc3339> host <hostname>` into it.
    ///
    /// Held by another process (or by another handle in this one):
    /// [`LockError::Held`] with the holder's text.
    pub fn acquire(path: &Path) -> Result<LocalLock, LockError> {
        let text = format!(
            "pid {} started {} host {}\n",
            std::process::id(),
            humantime::format_rfc3339_seconds(SystemTime::now()),
            hostname()
        );
        let file = lock_file(path, &text)?;
        Ok(LocalLock {
            path: path.to_path_buf(),
            _file: file,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Creates `path` (and its directory, 0700) if needed, takes an exclusive non-blocking
/// `flock` on it and writes `text` into it (the holder, for whoever finds it held).
fn lock_file(path: &Path, text: &str) -> Result<File, LockError> {
    let fail = |action: &'static str| {
        move |error: io::Error| LockError::Io {
            path: path.to_path_buf(),
            action,
            error,
        }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        crate::journal::create_private_dir(dir).map_err(fail("create its directory"))?;
    }
    let mut opts = OpenOptions::new();
    // No truncate here: the holder's text must survive until the lock is ours.
    opts.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o644);
    }
    let mut file = opts.open(path).map_err(fail("open it"))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            // At most a line: the file is ours, but its content is not trusted.
            let _ = (&file).take(512).read_to_string(&mut text);
            let holder = Some(text.trim().to_string()).filter(|t| !t.is_empty());
            return Err(LockError::Held {
                path: path.to_path_buf(),
                holder,
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(fail("lock it")(e)),
    }
    check_not_redirected(path, &file).map_err(fail("use it"))?;
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(text.as_bytes()))
        .map_err(fail("write it"))?;
    Ok(file)
}

/// Refuses a lock file that is a symlink or not a regular file: evacctl runs as root, and a
/// link planted in a shared directory would make it truncate the file it points to.
fn check_not_redirected(path: &Path, file: &File) -> io::Result<()> {
    let opened = file.metadata()?;
    let named = std::fs::symlink_metadata(path)?;
    let same = {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            opened.dev() == named.dev() && opened.ino() == named.ino()
        }
        #[cfg(not(unix))]
        {
            true
        }
    };
    if !named.file_type().is_file() || !same {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (a symbolic link?)",
        ));
    }
    Ok(())
}

/// This machine's host name (the kernel's), for lock texts and the leader's identity.
pub fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| {
            std::fs::read_to_string(p)
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        })
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown-host".to_string())
}

// =====================================================================================
// The Consul leader lock
// =====================================================================================

/// Where time comes from for the leader's deadlines: [`Instant::now`], or a test's own.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> Instant + Send + Sync>);

impl Clock {
    pub fn system() -> Clock {
        Clock(Arc::new(Instant::now))
    }

    pub fn new(now: impl Fn() -> Instant + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(now))
    }

    pub fn now(&self) -> Instant {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

/// The leader lock's timing. [`LeaderTiming::for_ttl`] gives the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderTiming {
    /// The session's TTL (Consul accepts 10 s..=24 h).
    pub ttl: Duration,
    /// How often the holder renews: TTL / 3.
    pub renew_every: Duration,
    /// After a failed renewal, the next attempt: 1 s (at most `renew_every`).
    pub retry_every: Duration,
    /// The holder stops acting this long after the last successful renewal was sent: TTL / 2.
    pub lost_after: Duration,
    /// The session's lock-delay: 1 s (see the module documentation).
    pub lock_delay: Duration,
}

impl LeaderTiming {
    /// `ttl` is brought into Consul's range (10 s..=24 h), so that no deadline computed from
    /// it can overflow.
    pub fn for_ttl(ttl: Duration) -> LeaderTiming {
        let ttl = ttl.clamp(Duration::from_secs(10), Duration::from_secs(86_400));
        let renew_every = ttl / 3;
        LeaderTiming {
            ttl,
            renew_every,
            retry_every: renew_every.min(Duration::from_secs(1)),
            lost_after: ttl / 2,
            lock_delay: Duration::from_secs(1),
        }
    }
}

/// What [`LeaderLock::try_acquire`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leadership {
    /// This controller holds the lock and acts.
    Leader,
    /// Another one does; `holder` says who (`ctl-2 (pid 4242, since 2026-11-22T03:12:09Z)`),
    /// `None` when the key is free but still in its lock-delay.
    Standby { holder: Option<String> },
}

/// The KV value of the leader key: who holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub controller: String,
    pub pid: u32,
    /// RFC 3339: when the lock was taken.
    pub since: String,
    /// The holder's journal run id: a controller taking over whose journal holds that run
    /// knows the dead holder's requests (they were journaled before being sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// Written by a release that hands over requests still in doubt (`hold`); a release with
    /// nothing to hand over empties the value instead.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub released: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<Hold>,
    /// The command line of a manual run holding a host (`evacctl host-evacuate compute-1`);
    /// `None` for the leader lock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.command {
            Some(c) => write!(
                f,
                "pid {} ({c}, started {}) on {}",
                self.pid, self.since, self.controller
            ),
            None => write!(
                f,
                "{} (pid {}, since {})",
                self.controller, self.pid, self.since
            ),
        }
    }
}

/// The holder a key names, for people: its identity, else its raw text (shortened, on one
/// line), else its session. A holder named as this controller (`me`) whose process is gone
/// is said to be so: a watch killed here keeps the lock until Consul ends its session.
fn holder_of(entry: &KvEntry, me: &str, ttl: Duration) -> Option<String> {
    let session = entry.session.as_deref()?;
    let value = entry.value_bytes().unwrap_or_default();
    if let Ok(id) = serde_json::from_slice::<Identity>(&value) {
        if id.controller == me && !process_alive(id.pid) {
            return Some(format!(
                "{id}, a name of this machine with no process {} visible here (a watch killed \
                 here?): Consul ends its session within twice its TTL ({} at most), then this \
                 controller takes over",
                id.pid,
                humantime::format_duration(ttl.saturating_mul(2))
            ));
        }
        return Some(id.to_string());
    }
    let text: String = String::from_utf8_lossy(&value)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(120)
        .collect();
    let text = text.trim();
    Some(if text.is_empty() {
        format!("session {session}")
    } else {
        text.to_string()
    })
}

/// Whether process `pid` runs on this machine (as far as this process can tell: a pid in
/// another PID namespace is not seen, so the answer is for the message, never for a decision).
fn process_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        // SAFETY: signal 0 checks existence and permission only.
        let r = unsafe { libc::kill(pid, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// Whether this process may act: shared by the lock, its renewal thread and the action code.
/// A clone is cheap; [`LeaderFlag::is_set`] takes a mutex and reads the clock, no request.
#[derive(Clone, Debug)]
pub struct LeaderFlag(Arc<FlagInner>);

#[derive(Debug)]
struct FlagInner {
    state: Mutex<FlagState>,
    clock: Clock,
    lost_after: Duration,
    /// "the leader lock `evacctl/leader` on Consul cluster `management`"
    what: String,
}

#[derive(Debug, Default)]
struct FlagState {
    /// Each acquisition is a term; a renewal thread of an ended term changes nothing.
    term: u64,
    held: bool,
    valid_until: Option<Instant>,
}

impl LeaderFlag {
    fn new(clock: Clock, lost_after: Duration, what: String) -> LeaderFlag {
        LeaderFlag(Arc::new(FlagInner {
            state: Mutex::new(FlagState::default()),
            clock,
            lost_after,
            what,
        }))
    }

    /// True while the lock is held and was renewed recently enough; check it before every
    /// irreversible action. Turns false (and logs why, once) as soon as the deadline passes.
    pub fn is_set(&self) -> bool {
        let mut s = self.state();
        self.check(&mut s)
    }

    fn state(&self) -> MutexGuard<'_, FlagState> {
        // A poisoned mutex only means a panic elsewhere; the state itself is whole.
        self.0.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check(&self, s: &mut FlagState) -> bool {
        if s.held && s.valid_until.is_none_or(|t| self.0.clock.now() >= t) {
            s.held = false;
            tracing::error!(
                "lost {} (not renewed for {}): stopping automatic actions",
                self.0.what,
                humantime::format_duration(self.0.lost_after)
            );
        }
        s.held
    }

    fn now(&self) -> Instant {
        self.0.clock.now()
    }

    /// A new term, valid from `sent` (when the request that proved the session alive left).
    fn start(&self, sent: Instant) -> u64 {
        let mut s = self.state();
        s.term += 1;
        // A deadline past what an Instant can hold is no deadline: held for no time at all
        // rather than for ever.
        s.valid_until = sent.checked_add(self.0.lost_after);
        s.held = s.valid_until.is_some();
        s.term
    }

    /// Ends the current term without an error (a release, or a new attempt).
    fn end(&self) {
        let mut s = self.state();
        s.term += 1;
        s.held = false;
        s.valid_until = None;
    }

    /// Whether `term` is the current one and still held.
    fn holds(&self, term: u64) -> bool {
        let mut s = self.state();
        s.term == term && self.check(&mut s)
    }

    /// A renewal sent at `sent` succeeded: the deadline moves on. False when the term is over.
    fn extend(&self, term: u64, sent: Instant) -> bool {
        let mut s = self.state();
        if s.term != term || !self.check(&mut s) {
            return false;
        }
        let Some(until) = sent.checked_add(self.0.lost_after) else {
            return true;
        };
        s.valid_until = Some(s.valid_until.map_or(until, |t| t.max(until)));
        true
    }

    /// The lock is gone (the session or the key): stop at once.
    fn lose(&self, term: u64, why: &str) {
        let mut s = self.state();
        if s.term == term && s.held {
            s.held = false;
            tracing::error!("lost {} ({why}): stopping automatic actions", self.0.what);
        }
    }

    /// A re-check found the key gone, whatever the term: stop at once.
    fn lose_now(&self, why: &str) {
        let term = self.state().term;
        self.lose(term, why);
    }
}

// =====================================================================================
// The keys this process holds
// =====================================================================================

/// A Consul key held by this process: what a re-check before a request asks Consul about, and
/// what an exit on a signal gives back ([`release_all`]) rather than leaving it to the
/// session's TTL, which would tell the next run "held" by a dead one.
struct Registered {
    id: u64,
    key: String,
    session: String,
    client: Arc<Client>,
    flag: LeaderFlag,
    /// The host of a per-host key; `None` for the leader lock.
    host: Option<String>,
    controller: String,
    ttl: Duration,
    /// Who holds the key now, once a re-check found it lost.
    lost_to: Option<String>,
}

static HELD: Mutex<Vec<Registered>> = Mutex::new(Vec::new());
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn registry() -> MutexGuard<'static, Vec<Registered>> {
    // A poisoned mutex only means a panic elsewhere; the list itself is whole.
    HELD.lock().unwrap_or_else(|e| e.into_inner())
}

fn unregister(id: Option<u64>) {
    if let Some(id) = id {
        registry().retain(|r| r.id != id);
    }
}

/// Asks Consul, just before a request that changes `host`, whether this run still holds the
/// host's key: `Err(holder)` when the session lost it (invalidated, expired, the key deleted
/// or taken by another controller), or when it was not renewed in time. Then the key's flag
/// is cleared, so that nothing more is sent. `Ok` when this process holds no key for `host`
/// (no Consul lock configured), or when Consul cannot answer but the key was renewed recently
/// enough (the flag's own deadline, half the TTL, still protects).
pub fn recheck_host(host: &str) -> Result<(), String> {
    let mine: Vec<_> = registry()
        .iter()
        .filter(|r| r.host.as_deref() == Some(host))
        .map(|r| {
            (
                r.id,
                r.key.clone(),
                r.session.clone(),
                Arc::clone(&r.client),
                r.flag.clone(),
                r.controller.clone(),
                r.ttl,
                r.lost_to.clone(),
            )
        })
        .collect();
    for (id, key, session, client, flag, controller, ttl, lost_to) in mine {
        if let Some(holder) = lost_to {
            return Err(holder);
        }
        let not_renewed = "nobody yet: this run's key was not renewed in time";
        let holder = match client.kv_get(&key) {
            Ok(Some(e)) if e.session.as_deref() == Some(session.as_str()) => {
                if flag.is_set() {
                    continue;
                }
                not_renewed.to_string()
            }
            Ok(Some(e)) => holder_of(&e, &controller, ttl).unwrap_or_else(|| {
                "nobody yet: the key is free (this run's session ended)".to_string()
            }),
            Ok(None) => "nobody yet: the key was deleted".to_string(),
            Err(e) => {
                if flag.is_set() {
                    tracing::debug!("cannot re-check the key `{key}` ({e}): renewed recently");
                    continue;
                }
                not_renewed.to_string()
            }
        };
        flag.lose_now(&format!("the key is now held by {holder}"));
        if let Some(r) = registry().iter_mut().find(|r| r.id == id) {
            r.lost_to = Some(holder.clone());
        }
        return Err(holder);
    }
    Ok(())
}

/// Who took `host`'s key from this run, once [`recheck_host`] found it lost.
pub fn lost_to(host: &str) -> Option<String> {
    registry()
        .iter()
        .find(|r| r.host.as_deref() == Some(host))
        .and_then(|r| r.lost_to.clone())
}

/// Releases every key this process holds and destroys their sessions (an exit on a signal,
/// when nothing is in flight): the next run finds them free at once. Each request is bounded
/// by its client's timeout.
pub fn release_all() {
    release_where(|_| true);
}

/// [`release_all`] for the keys `which` picks (by host; `None`: the leader lock).
fn release_where(which: impl Fn(Option<&str>) -> bool) {
    let picked: Vec<Registered> = {
        let mut all = registry();
        let (picked, kept) = std::mem::take(&mut *all)
            .into_iter()
            .partition(|r| which(r.host.as_deref()));
        *all = kept;
        picked
    };
    let _exempt = crate::interrupt::exempt();
    for r in picked {
        r.flag.lose_now("this run is exiting");
        if let Err(e) = r.client.kv_release(&r.key, &[], &r.session) {
            tracing::warn!("cannot release the key `{}`: {e}", r.key);
        }
        let _ = r.client.session_destroy(&r.session);
    }
}

/// The Consul leader lock: of several controllers running `watch`, only the holder acts.
///
/// ```no_run
/// # fn main() -> Result<(), evacctl::consul::Error> {
/// # let client: evacctl::consul::Client = todo!();
/// use evacctl::lock::{LeaderLock, Leadership};
/// let mut lock = LeaderLock::new(client, "evacctl/leader", std::time::Duration::from_secs(15),
///                                evacctl::lock::hostname());
/// let flag = lock.leader_flag(); // for the action code
/// match lock.try_acquire()? {     // every cycle
///     Leadership::Leader => { /* act, checking flag.is_set() before each action */ }
///     Leadership::Standby { holder } => { /* observe only */ }
/// }
/// lock.release(); // SIGTERM, exit
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct LeaderLock {
    client: Arc<Client>,
    key: String,
    controller: String,
    timing: LeaderTiming,
    flag: LeaderFlag,
    /// This controller's session, leader or not (a standby keeps its own alive by renewing
    /// it at each attempt, so that taking over needs no new session).
    session: Option<String>,
    /// The current term's renewal thread stops when this is dropped.
    stop_renewal: Option<mpsc::Sender<()>>,
    /// The last holder reported, to log standing by once per holder.
    last_standby: Option<Option<String>>,
    /// The holder this controller took the lock from, when it had died holding it.
    took_over: Option<Identity>,
    /// This run's journal run id, put in the key's value.
    run: Option<String>,
    /// A host key's holder: the command acting on the host (see [`Identity::command`]).
    command: Option<String>,
    /// The host of a per-host key.
    host: Option<String>,
    /// This term's entry in the keys this process holds.
    registered: Option<u64>,
}

impl LeaderLock {
    /// `controller` names this controller in the key's value (usually [`hostname`]).
    /// No request yet.
    pub fn new(client: Client, key: &str, ttl: Duration, controller: String) -> LeaderLock {
        Self::with_timing(
            client,
            key,
            LeaderTiming::for_ttl(ttl),
            controller,
            Clock::system(),
        )
    }

    /// [`LeaderLock::new`] with other timings (tests, or a tuned deployment) and clock.
    pub fn with_timing(
        client: Client,
        key: &str,
        timing: LeaderTiming,
        controller: String,
        clock: Clock,
    ) -> LeaderLock {
        let what = format!(
            "the leader lock `{key}` on Consul cluster `{}`",
            client.cluster()
        );
        crate::interrupt::at_exit(release_all);
        LeaderLock {
            client: Arc::new(client),
            key: key.to_string(),
            controller,
            timing,
            flag: LeaderFlag::new(clock, timing.lost_after, what),
            session: None,
            stop_renewal: None,
            last_standby: None,
            took_over: None,
            run: None,
            command: None,
            host: None,
            registered: None,
        }
    }

    /// A per-host key (`<consul_key>/hosts/<host>`) rather than the leader lock: its holder is
    /// `command`, and its log lines name it as the host's key.
    pub fn for_host(mut self, host: &str, command: &str) -> LeaderLock {
        self.flag.0 = Arc::new(FlagInner {
            state: Mutex::new(FlagState::default()),
            clock: self.flag.0.clock.clone(),
            lost_after: self.flag.0.lost_after,
            what: format!(
                "the key `{}` of host {host} on Consul cluster `{}`",
                self.key,
                self.client.cluster()
            ),
        });
        self.command = Some(command.to_string());
        self.host = Some(host.to_string());
        self
    }

    /// Names this run's journal in the key's value (see [`Identity::run`]).
    pub fn set_run(&mut self, run_id: &str) {
        self.run = Some(run_id.to_string());
    }

    /// Takes the lock if it is free. Already leader: answers from the flag, no request.
    /// Otherwise renews this controller's session (or creates one: TTL, behavior `release`,
    /// lock-delay 1 s, no node checks), then `PUT /v1/kv/<key>?acquire=`. Leader: starts the
    /// renewal thread (every `renew_every`; a renewal that finds the session or the key gone,
    /// or `lost_after` without a successful one, clears the flag at once and logs
    /// "lost the leader lock ...: stopping automatic actions"). Standby: who holds it.
    pub fn try_acquire(&mut self) -> Result<Leadership, consul::Error> {
        if self.stop_renewal.is_some() && self.flag.is_set() {
            return Ok(Leadership::Leader);
        }
        // A term that ended (lost) or never began: its thread, if any, stops.
        self.end_term();
        let sent = self.flag.now();
        let session = match self.session.take() {
            Some(id) => match self.client.session_renew(&id) {
                Ok(Some(_)) => id,
                Ok(None) => self.create_session()?,
                Err(e) => {
                    self.session = Some(id);
                    return Err(e);
                }
            },
            None => self.create_session()?,
        };
        self.session = Some(session.clone());
        let identity = Identity {
            controller: self.controller.clone(),
            pid: std::process::id(),
            since: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            run: self.run.clone(),
            released: false,
            hold: None,
            command: self.command.clone(),
        };
        let value = serde_json::to_vec(&identity).unwrap_or_default();
        // Who held it last: a graceful release empties the value, so an identity left on a
        // key without a session is a holder that died (or froze) holding it, whose last
        // requests may still be on their way.
        let dead_holder = self
            .client
            .kv_get(&self.key)?
            .filter(|e| e.session.is_none())
            .and_then(|e| serde_json::from_slice::<Identity>(&e.value_bytes()?).ok())
            .filter(|id| !id.released || id.hold.is_some())
            .filter(|id| !self.is_me(id));
        if !self.client.kv_acquire(&self.key, &value, &session)? {
            let holder = match self.client.kv_get(&self.key)? {
                Some(entry) if entry.session.as_deref() != Some(session.as_str()) => {
                    holder_of(&entry, &self.controller, self.timing.ttl)
                }
                _ => None,
            };
            if self.last_standby.as_ref() != Some(&holder) {
                tracing::info!(
                    "standing by: {} is held by {}",
                    self.flag.0.what,
                    holder
                        .as_deref()
                        .unwrap_or("nobody yet (the key is in its lock-delay)")
                );
                self.last_standby = Some(holder.clone());
            }
            return Ok(Leadership::Standby { holder });
        }
        let term = self.flag.start(sent);
        let (tx, rx) = mpsc::channel();
        let renewal = Renewal {
            client: Arc::clone(&self.client),
            key: self.key.clone(),
            session: session.clone(),
            flag: self.flag.clone(),
            term,
            timing: self.timing,
        };
        let spawned = std::thread::Builder::new()
            .name("evacctl-leader-renewal".into())
            .spawn(move || renewal.run(&rx));
        if let Err(e) = spawned {
            // Unrenewed, the lock would lapse under an acting leader: give it back now.
            self.flag.end();
            let _ = self.client.kv_release(&self.key, &value, &session);
            return Err(consul::Error::Config {
                cluster: self.client.cluster().to_string(),
                message: format!("cannot start the thread that renews the leader lock: {e}"),
            });
        }
        self.stop_renewal = Some(tx);
        self.last_standby = None;
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        registry().push(Registered {
            id,
            key: self.key.clone(),
            session: session.clone(),
            client: Arc::clone(&self.client),
            flag: self.flag.clone(),
            host: self.host.clone(),
            controller: self.controller.clone(),
            ttl: self.timing.ttl,
            lost_to: None,
        });
        self.registered = Some(id);
        tracing::info!(
            "acquired {}: this controller acts ({})",
            self.flag.0.what,
            identity
        );
        if let Some(previous) = dead_holder {
            if previous.released {
                tracing::info!(
                    "took over {} from {previous}, which handed over requests still in doubt",
                    self.flag.0.what
                );
            } else {
                tracing::warn!(
                    "took over {} from {previous}, which stopped without releasing it",
                    self.flag.0.what
                );
            }
            self.took_over = Some(previous);
        }
        Ok(Leadership::Leader)
    }

    /// This very run (by journal run id; by controller and pid when neither has one).
    fn is_me(&self, id: &Identity) -> bool {
        match (&id.run, &self.run) {
            (Some(a), Some(b)) => a == b,
            (None, None) => id.controller == self.controller && id.pid == std::process::id(),
            _ => false,
        }
    }

    /// The holder the last acquisition took the lock from, when that one had died holding it
    /// or handed over requests still in doubt (asked once: the answer is taken).
    pub fn take_over_note(&mut self) -> Option<Identity> {
        self.took_over.take()
    }

    /// True while the lock is held and renewed; checked before every irreversible action.
    pub fn is_leader(&self) -> bool {
        self.flag.is_set()
    }

    /// A shareable flag for the action code.
    pub fn leader_flag(&self) -> LeaderFlag {
        self.flag.clone()
    }

    /// Releases the key and destroys the session (on SIGTERM/exit). Also on drop, best
    /// effort: errors are logged.
    pub fn release(&mut self) {
        self.release_with(None);
    }

    /// [`LeaderLock::release`], leaving `hold` on the key for the next holder (requests of
    /// this run still in doubt) instead of an empty value.
    pub fn release_with(&mut self, hold: Option<Hold>) {
        let was_leader = self.stop_renewal.is_some() && self.flag.is_set();
        self.end_term();
        let Some(session) = self.session.take() else {
            return;
        };
        let value = match hold {
            Some(hold) => serde_json::to_vec(&Identity {
                controller: self.controller.clone(),
                pid: std::process::id(),
                since: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
                run: self.run.clone(),
                released: true,
                hold: Some(hold),
                command: self.command.clone(),
            })
            .unwrap_or_default(),
            None => Vec::new(),
        };
        // Given back even after a signal (see `interrupt::exempt`).
        let _exempt = crate::interrupt::exempt();
        // Releasing the key first hands it over without a lock-delay.
        if let Err(e) = self.client.kv_release(&self.key, &value, &session) {
            tracing::warn!("cannot release {}: {e}", self.flag.0.what);
        }
        if let Err(e) = self.client.session_destroy(&session) {
            tracing::warn!(
                "cannot destroy the session of {} (it expires after its TTL): {e}",
                self.flag.0.what
            );
        }
        if was_leader {
            tracing::info!("released {}", self.flag.0.what);
        }
    }

    fn end_term(&mut self) {
        unregister(self.registered.take());
        self.flag.end();
        // Dropping the sender wakes the thread, which sees the term is over and returns; it
        // is not joined, as it may be waiting on a hung request.
        self.stop_renewal = None;
    }

    fn create_session(&self) -> Result<String, consul::Error> {
        self.client.session_create(&SessionRequest {
            name: Some(format!(
                "{} on {}",
                self.command.as_deref().unwrap_or("evacctl watch"),
                self.controller
            )),
            node: None,
            ttl: Some(format!("{}s", self.timing.ttl.as_secs())),
            lock_delay: Some(format!("{}ms", self.timing.lock_delay.as_millis())),
            behavior: Behavior::Release,
            node_checks: Some(Vec::new()),
        })
    }

    /// Test hook: the renewal thread stops as if the process were frozen; the flag stays
    /// until its deadline and the session until its TTL.
    #[cfg(test)]
    fn stop_renewing(&mut self) {
        self.stop_renewal = None;
    }
}

impl Drop for LeaderLock {
    fn drop(&mut self) {
        self.release();
    }
}

/// One term's renewal thread.
struct Renewal {
    client: Arc<Client>,
    key: String,
    session: String,
    flag: LeaderFlag,
    term: u64,
    timing: LeaderTiming,
}

impl Renewal {
    fn run(self, stop: &mpsc::Receiver<()>) {
        let mut failing = false;
        loop {
            let wait = if failing {
                self.timing.retry_every
            } else {
                self.timing.renew_every
            };
            match stop.recv_timeout(wait) {
                Err(RecvTimeoutError::Timeout) => {}
                _ => return,
            }
            if !self.flag.holds(self.term) {
                return;
            }
            let sent = self.flag.now();
            match self.renew_once() {
                Ok(()) => {
                    failing = false;
                    if !self.flag.extend(self.term, sent) {
                        return;
                    }
                }
                Err(Renewed::Gone(why)) => {
                    self.flag.lose(self.term, why);
                    return;
                }
                Err(Renewed::Failed(e)) => {
                    failing = true;
                    tracing::warn!(
                        "cannot renew {} (retrying in {}): {e}",
                        self.flag.0.what,
                        humantime::format_duration(self.timing.retry_every)
                    );
                }
            }
        }
    }

    /// Renews the session and checks the key is still its own (an operator may delete the
    /// key to force a hand-over).
    fn renew_once(&self) -> Result<(), Renewed> {
        match self.client.session_renew(&self.session) {
            Ok(Some(_)) => {}
            Ok(None) => return Err(Renewed::Gone("its session expired or was invalidated")),
            Err(e) => return Err(Renewed::Failed(Box::new(e))),
        }
        match self.client.kv_get(&self.key) {
            Ok(Some(entry)) if entry.session.as_deref() == Some(self.session.as_str()) => Ok(()),
            Ok(_) => Err(Renewed::Gone(
                "the key is no longer held by this controller's session",
            )),
            Err(e) => Err(Renewed::Failed(Box::new(e))),
        }
    }
}

enum Renewed {
    Gone(&'static str),
    Failed(Box<consul::Error>),
}

mod hosts;
pub use hosts::{HostLock, HostLockError, HostLocks, host_lock_path, lock_cluster};

#[cfg(test)]
mod tests;
