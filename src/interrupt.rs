//! SIGINT and SIGTERM, one handler for every command (docs/design.md 2.9).
//!
//! A thread (signal-hook) records which signal came. The code that sends requests asks
//! [`requested`] before each new one, and marks the stretch during which requests are out or
//! journal records are owed with a [`Busy`] guard:
//!
//! - a manual command ([`Mode::ExitWhenIdle`]) hit while nothing is [`Busy`] (planning, a
//!   prompt, waiting for a lock) has nothing to finish: the handler ends the process at once
//!   with 130 (SIGINT) or 143 (SIGTERM);
//! - while something is busy, the handler says so within the second and the work winds down:
//!   no new request, the ones in flight answered (each bounded by its own timeout), every
//!   intent never sent journaled as not sent; then the command exits with that code;
//! - `watch` ([`Mode::Record`]) only records it: the loop ends itself after the step in flight.

use std::sync::Once;
use std::sync::atomic::{AtomicI32, AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The signal received (its number), 0 for none.
static SIGNAL: AtomicI32 = AtomicI32::new(0);
/// How many [`Busy`] guards are alive.
static BUSY: AtomicUsize = AtomicUsize::new(0);
/// The [`Mode`] installed (0: none yet).
static MODE: AtomicU8 = AtomicU8::new(0);

/// Which signal asked to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Int,
    Term,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Int => "SIGINT",
            Signal::Term => "SIGTERM",
        }
    }

    /// The shell's convention: 128 + the signal's number.
    pub fn exit_status(self) -> u8 {
        match self {
            Signal::Int => 130,
            Signal::Term => 143,
        }
    }

    fn number(self) -> i32 {
        match self {
            Signal::Int => 2,
            Signal::Term => 15,
        }
    }
}

/// What the handler does with a signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Manual commands: exit at once when nothing is busy, else let the work wind down.
    ExitWhenIdle,
    /// `watch`: record it; the loop stops itself.
    Record,
}

/// Registers the handler (once per process; a later call only changes nothing).
pub fn install(mode: Mode) {
    static ONCE: Once = Once::new();
    MODE.store(
        match mode {
            Mode::ExitWhenIdle => 1,
            Mode::Record => 2,
        },
        Ordering::SeqCst,
    );
    ONCE.call_once(|| {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = match signal_hook::iterator::Signals::new([SIGTERM, SIGINT]) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("no signal handling: cannot register SIGTERM/SIGINT: {e}");
                return;
            }
        };
        let spawned = std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                for n in signals.forever() {
                    let signal = if n == SIGTERM {
                        Signal::Term
                    } else {
                        Signal::Int
                    };
                    received(signal);
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("no signal handling: {e}");
        }
    });
}

/// What the handler thread does with a signal.
fn received(signal: Signal) {
    // Recorded before `BUSY` is read; `busy()` counts before it reads the signal: one of the
    // two always sees the other (both SeqCst).
    SIGNAL.store(signal.number(), Ordering::SeqCst);
    let name = signal.name();
    if MODE.load(Ordering::SeqCst) == 2 {
        tracing::warn!("{name}: finishing the current step, then stopping");
        return;
    }
    if BUSY.load(Ordering::SeqCst) == 0 {
        eprintln!("evacctl: {name}: stopped; nothing was being sent");
        before_exit();
        std::process::exit(i32::from(signal.exit_status()));
    }
    tracing::warn!(
        "{name}: sending no new request; waiting for those in flight (each bounded by its \
         timeout), then stopping"
    );
}

/// What runs before the handler ends the process (the Consul keys held are given back), set
/// once by [`at_exit`].
static AT_EXIT: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Sets what the handler runs before it ends an idle process: a run that exits on a signal
/// leaves no lock behind for the next one to find "held" (the kernel drops the flocks; a
/// Consul key would otherwise stay until its session's TTL).
pub fn at_exit(f: fn()) {
    let _ = AT_EXIT.set(f);
}

/// Runs [`at_exit`]'s function, waiting for it at most 2 s: a Consul that does not answer
/// must not keep a stopped process alive.
fn before_exit() {
    let Some(&f) = AT_EXIT.get() else { return };
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("evacctl-exit".into())
        .spawn(move || {
            f();
            let _ = tx.send(());
        });
    if spawned.is_ok() {
        let _ = rx.recv_timeout(Duration::from_secs(2));
    }
}

/// The signal that asked to stop, if one did.
pub fn requested() -> Option<Signal> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        15 => Some(Signal::Term),
        _ => Some(Signal::Int),
    }
}

/// The signal that asks the steps to send nothing new: only for a manual command. `watch`
/// finishes the step in flight whole, as its state machine expects (docs/design.md 2.9).
pub fn stopping() -> Option<Signal> {
    if MODE.load(Ordering::SeqCst) == 1 {
        requested()
    } else {
        None
    }
}

/// The signal on which `watch` abandons what it is waiting for: a request in flight (left in
/// doubt, as one that timed out), a retry's pause. `watch` ends within a second of the signal,
/// whatever a server does; the step in flight ends on those failures, its journal records
/// written, and no new step starts. Manual commands wait for their requests in flight
/// instead (each bounded by its timeout): `None` for them.
pub fn abandoning() -> Option<Signal> {
    if MODE.load(Ordering::SeqCst) == 2 && EXEMPT.with(|e| e.get()) == 0 {
        requested()
    } else {
        None
    }
}

thread_local! {
    /// How many [`Exempt`] guards this thread holds.
    static EXEMPT: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// While alive, this thread's requests go out even after a signal ([`abandoning`] is `None`
/// here): giving a lock back, telling what was queued. Each stays bounded by its timeout.
#[must_use = "the guard marks the stretch while it is alive"]
pub struct Exempt(());

pub fn exempt() -> Exempt {
    EXEMPT.with(|e| e.set(e.get() + 1));
    Exempt(())
}

impl Drop for Exempt {
    fn drop(&mut self) {
        EXEMPT.with(|e| e.set(e.get().saturating_sub(1)));
    }
}

/// A pause between retries: `d`, cut short by any signal asking to stop (the retry would
/// send nothing new anyway). False when cut short.
pub fn pause(d: Duration) -> bool {
    sleep_unless(d, || requested().is_some())
}

/// Sleeps `d` in slices of at most 100 ms; false as soon as `cut` says so.
fn sleep_unless(d: Duration, cut: impl Fn() -> bool) -> bool {
    let end = Instant::now().checked_add(d);
    loop {
        if cut() {
            return false;
        }
        let left = end.map_or(Duration::from_millis(100), |e| {
            e.saturating_duration_since(Instant::now())
        });
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

/// While alive, a signal does not end the process at once: requests are out, or journal
/// records are owed. Take it before asking [`requested`] and sending.
#[must_use = "the guard marks the stretch while it is alive"]
pub struct Busy(());

pub fn busy() -> Busy {
    BUSY.fetch_add(1, Ordering::SeqCst);
    Busy(())
}

impl Drop for Busy {
    fn drop(&mut self) {
        BUSY.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Sleeps `d` in short slices; false when [`stopping`] came first (at most 100 ms late).
pub fn sleep(d: Duration) -> bool {
    sleep_unless(d, || stopping().is_some() || abandoning().is_some())
}

/// "not sent: stopped by SIGINT", the journal detail and the outcome's error of a request the
/// signal kept back.
pub fn not_sent_text(signal: Signal) -> String {
    format!("not sent: stopped by {}", signal.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_map_to_the_shells_exit_codes() {
        assert_eq!(Signal::Int.exit_status(), 130);
        assert_eq!(Signal::Term.exit_status(), 143);
        assert_eq!(not_sent_text(Signal::Term), "not sent: stopped by SIGTERM");
    }

    #[test]
    fn busy_guards_count() {
        let before = BUSY.load(Ordering::SeqCst);
        let a = busy();
        let b = busy();
        assert!(BUSY.load(Ordering::SeqCst) >= before + 2);
        drop((a, b));
    }
}
