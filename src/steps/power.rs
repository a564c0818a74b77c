//! Runbook step 2: a host's power. [`status`] reads it, [`fence`] powers off and confirms
//! (journaled), [`power_on`] powers on once (journaled); [`journaled`] wraps the manual
//! `ipmi power` actions in the same intent and result records. `ipmi power`, `host-evacuate
//! --force-down` and the `watch` engine use these: one implementation.
//!
//! Fencing (origin E's `ipmi_check_max_count` x `ipmi_check_interval`):
//! 1. read the power; already off: fenced (the BMC said so), nothing sent;
//! 2. power off;
//! 3. read the power right away, then every `check_interval`, at most `check_max_count`
//!    reads, until the BMC says off.
//!
//! The power is read again after every action, so a BMC that acknowledges off and stays on
//! (a lying BMC), one that errs or one that does not answer makes fencing fail with that
//! reason, never succeed quietly. A refused login or privilege stops at once: polling cannot
//! fix it. Logs the runbook's lines at info: `<bmc-address> power status is: OFF`, then
//! `<host> fence successed`.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::bmc::{self, BmcError, BmcErrorKind, PowerDriver, PowerState};
use crate::config::{Config, HostConfig, PolicyConfig};
use crate::journal::{Fields, Kind};
use crate::steps::{Refusal, StepContext, StepOutcome};

/// A host confirmed off.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FenceReport {
    pub host: String,
    pub bmc_address: String,
    /// The host was already off: no power-off was sent.
    pub already_off: bool,
    /// Status reads after the power-off (0 when already off).
    pub polls: u32,
    pub elapsed: Duration,
}

/// Fencing that did not end with the BMC confirming off.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("fencing {host} failed: {reason}")]
pub struct FenceError {
    pub host: String,
    /// Unreachable or Auth when that is why; Failure otherwise (an error answer, or the BMC
    /// never said off).
    pub kind: BmcErrorKind,
    /// The BMC answered but never said off (a lying or slow-to-act BMC).
    pub unconfirmed: bool,
    pub reason: String,
    /// The last power state read, if any read succeeded.
    pub last_state: Option<PowerState>,
    pub polls: u32,
    pub elapsed: Duration,
}

/// The BMC address as the runbook's log lines show it.
fn bmc_address(host: &HostConfig) -> String {
    host.bmc()
        .map(|b| b.address.clone())
        .unwrap_or_else(|| host.name().to_string())
}

/// Reads a host's power once.
pub fn read_power(host: &HostConfig, driver: &dyn PowerDriver) -> Result<PowerState, BmcError> {
    let state = driver.status()?;
    tracing::debug!(
        "{} power status is: {}",
        bmc_address(host),
        state.as_str().to_ascii_uppercase()
    );
    Ok(state)
}

/// Is HOST's power confirmed off by its BMC? Only reads the power (fencing is [`fence`], with
/// its own confirmation). A host without a BMC in the configuration cannot be confirmed: refused.
/// `host-evacuate --force-down` and `watch`'s isolation ask this just before forcing down.
pub fn power_off_confirmed(config: &Config, host: &str) -> anyhow::Result<bool> {
    let Some(host_config) = config.host(host) else {
        return Err(Refusal::unsafe_(format!(
            "`{host}` has no [hosts.\"{host}\".bmc] in the configuration, so its power \
             cannot be confirmed off; nothing was changed"
        ))
        .into());
    };
    let driver = crate::bmc::driver_for(host_config)?;
    Ok(read_power(host_config, driver.as_ref())? == PowerState::Off)
}

/// The power step's `status`: reads the host's power once (nothing changes, nothing is
/// journaled). Refused when the host has no BMC in the configuration.
pub fn status(cx: &StepContext<'_>, host: &str) -> StepOutcome<PowerState, BmcError> {
    let Some(hc) = cx.config.host(host) else {
        return StepOutcome::Refused(no_bmc(host));
    };
    match bmc::driver_for(hc).and_then(|d| read_power(hc, d.as_ref())) {
        Ok(p) => StepOutcome::Done(p),
        Err(e) => StepOutcome::Failed(e),
    }
}

fn no_bmc(host: &str) -> Refusal {
    Refusal::unsafe_(format!(
        "{host} has no [hosts.\"{host}\".bmc] in the configuration"
    ))
}

/// Runs `act` between an intent record (synced: nothing is sent unrecorded) and a result
/// record whose status and detail `result` gives (`(ok, detail)`). Without a journal (a dry
/// run, a status read), `act` just runs.
pub fn journaled<T>(
    cx: &StepContext<'_>,
    host: &str,
    action: &str,
    act: impl FnOnce() -> T,
    result: impl FnOnce(&T) -> (bool, Option<String>),
) -> StepOutcome<T, std::convert::Infallible> {
    let Some(journal) = cx.journal else {
        return StepOutcome::Done(act());
    };
    let fields = || Fields {
        host: Some(host),
        ..Default::default()
    };
    // From the intent to the result, a signal waits for this host (docs/design.md 2.9).
    let _busy = crate::interrupt::busy();
    if let Some(signal) = crate::interrupt::stopping() {
        return StepOutcome::Transient(anyhow::anyhow!(
            "{host}: {action} not sent: stopped by {}",
            signal.name()
        ));
    }
    if let Err(e) = journal.append(Kind::Intent, action, "sending", fields()) {
        return StepOutcome::Transient(anyhow::Error::new(e).context(format!(
            "{host}: {action} not sent: the journal cannot be written"
        )));
    }
    let out = act();
    let (ok, detail) = result(&out);
    let written = journal.append(
        Kind::Result,
        action,
        if ok { "ok" } else { "failed" },
        Fields {
            detail: detail.as_deref(),
            ..fields()
        },
    );
    if let Err(e) = written {
        tracing::error!("{host}: {action} done, but {e}");
    }
    StepOutcome::Done(out)
}

/// The fence step: power off, confirmed by the BMC ([`fence_with`]), journaled. Refused when
/// the host has no BMC in the configuration (it cannot be fenced).
pub fn fence(cx: &StepContext<'_>, host: &str) -> StepOutcome<FenceReport, String> {
    let Some(hc) = cx.config.host(host) else {
        return StepOutcome::Refused(Refusal::unsafe_(format!(
            "{host} has no [hosts.\"{host}\".bmc] in the configuration: it cannot be \
             fenced, so it is not evacuated (quick_evacuate_level 1 evacuates without \
             fencing, at the operator's risk)"
        )));
    };
    let policy = &cx.config.policy;
    let run = || {
        bmc::driver_for(hc)
            .map_err(|e| e.to_string())
            .and_then(|d| fence_off(hc, d.as_ref(), policy).map_err(|e| e.to_string()))
    };
    match journaled(cx, host, "fence", run, fence_record) {
        StepOutcome::Done(Ok(r)) => StepOutcome::Done(r),
        StepOutcome::Done(Err(e)) => StepOutcome::Failed(e),
        StepOutcome::Transient(e) => StepOutcome::Transient(e),
        StepOutcome::Refused(r) => StepOutcome::Refused(r),
    }
}

/// [`fence`] with the host's driver given (`ipmi power off --wait` builds every driver before
/// asking for confirmation).
pub fn fence_with(
    cx: &StepContext<'_>,
    host: &HostConfig,
    driver: &dyn PowerDriver,
) -> StepOutcome<Result<FenceReport, FenceError>, std::convert::Infallible> {
    let policy = &cx.config.policy;
    journaled(
        cx,
        host.name(),
        "fence",
        || fence_off(host, driver, policy),
        fence_record,
    )
}

/// The fence result record: how it ended.
fn fence_record<E: std::fmt::Display>(r: &Result<FenceReport, E>) -> (bool, Option<String>) {
    match r {
        Ok(r) if r.already_off => (true, Some("already off".into())),
        Ok(r) => (true, Some(format!("off after {} polls", r.polls))),
        Err(e) => (false, Some(e.to_string())),
    }
}

/// The power-on step (recovery): one power on, journaled, not waited for.
pub fn power_on(cx: &StepContext<'_>, host: &str) -> StepOutcome<(), BmcError> {
    let Some(hc) = cx.config.host(host) else {
        return StepOutcome::Refused(no_bmc(host));
    };
    let run = || bmc::driver_for(hc).and_then(|d| d.power_on());
    let record = |r: &Result<(), BmcError>| match r {
        Ok(()) => (true, None),
        Err(e) => (false, Some(e.to_string())),
    };
    match journaled(cx, host, "power-on", run, record) {
        StepOutcome::Done(Ok(())) => StepOutcome::Done(()),
        StepOutcome::Done(Err(e)) => StepOutcome::Failed(e),
        StepOutcome::Transient(e) => StepOutcome::Transient(e),
        StepOutcome::Refused(r) => StepOutcome::Refused(r),
    }
}

/// Powers a host off and polls until the BMC confirms off (see the module documentation).
pub fn fence_off(
    host: &HostConfig,
    driver: &dyn PowerDriver,
    policy: &PolicyConfig,
) -> Result<FenceReport, FenceError> {
    // A signal ends the polling (the power off itself was sent and answered).
    fence_with_sleep(host, driver, policy, &|d| {
        crate::interrupt::sleep(d);
    })
}

/// [`fence`] with the sleep between polls given (tests pass one that does not sleep).
pub fn fence_with_sleep(
    host: &HostConfig,
    driver: &dyn PowerDriver,
    policy: &PolicyConfig,
    sleep: &dyn Fn(Duration),
) -> Result<FenceReport, FenceError> {
    let started = Instant::now();
    let address = bmc_address(host);
    let fail = |kind, unconfirmed, reason: String, last_state, polls| FenceError {
        host: host.name().to_string(),
        kind,
        unconfirmed,
        reason,
        last_state,
        polls,
        elapsed: started.elapsed(),
    };
    let done = |already_off, polls| {
        tracing::info!("{address} power status is: OFF");
        tracing::info!("{} fence successed", host.name());
        Ok(FenceReport {
            host: host.name().to_string(),
            bmc_address: address.clone(),
            already_off,
            polls,
            elapsed: started.elapsed(),
        })
    };

    tracing::info!("{}: fencing through BMC {address}", host.name());
    match read_power(host, driver) {
        Ok(PowerState::Off) => return done(true, 0),
        Ok(PowerState::On) => {}
        // An error answer may pass; no answer or a refused login will not.
        Err(e) if e.kind != BmcErrorKind::Failure => {
            return Err(fail(
                e.kind,
                false,
                format!("cannot read the power state: {e}"),
                None,
                0,
            ));
        }
        Err(e) => tracing::warn!(
            "{}: cannot read the power state ({e}); powering off anyway",
            host.name()
        ),
    }

    if let Err(e) = driver.power_off() {
        // The command may have acted even though its answer was an error: look.
        let after = if e.kind == BmcErrorKind::Auth {
            None
        } else {
            driver.status().ok()
        };
        if after == Some(PowerState::Off) {
            tracing::warn!(
                "{}: power off answered with an error ({e}), yet the BMC reports off",
                host.name()
            );
            return done(false, 1);
        }
        return Err(fail(
            e.kind,
            false,
            format!("power off failed: {e}"),
            after,
            u32::from(after.is_some()),
        ));
    }

    match poll_until(host, driver, policy, PowerState::Off, sleep) {
        Poll::Reached(polls) => done(false, polls),
        Poll::Refused(e, polls) => Err(fail(
            e.kind,
            false,
            format!("cannot read the power state after power off: {e}"),
            None,
            polls,
        )),
        Poll::Stopped {
            polls,
            last_state,
            signal,
        } => Err(fail(
            BmcErrorKind::Failure,
            true,
            format!(
                "power off was acknowledged, but {signal} stopped the run after {polls} \
                 read(s), before the BMC confirmed off: not confirmed fenced"
            ),
            last_state,
            polls,
        )),
        Poll::TimedOut {
            polls,
            last_state,
            last_error,
        } => {
            let window = window(policy);
            Err(match (last_error, last_state) {
                (Some(e), _) => fail(
                    e.kind,
                    e.kind == BmcErrorKind::Failure,
                    format!(
                        "power off was acknowledged, but the power state could not be read \
                         ({polls} reads over {window}): {e}"
                    ),
                    last_state,
                    polls,
                ),
                (None, state) => fail(
                    BmcErrorKind::Failure,
                    true,
                    format!(
                        "the BMC acknowledged power off but still reports power on after \
                         {polls} reads over {window} (check_max_count x check_interval): \
                         not fenced"
                    ),
                    state,
                    polls,
                ),
            })
        }
    }
}

/// How polling for a power state ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Poll {
    /// The state was read after this many reads.
    Reached(u32),
    /// A read was refused (authentication, privilege): polling stopped.
    Refused(BmcError, u32),
    /// A signal stopped the polling (a manual command: see `interrupt::stopping`).
    Stopped {
        polls: u32,
        last_state: Option<PowerState>,
        signal: &'static str,
    },
    /// Every read was done; the last state read and the last read's error, if it failed.
    TimedOut {
        polls: u32,
        last_state: Option<PowerState>,
        last_error: Option<BmcError>,
    },
}

/// Reads the power right away, then every `check_interval`, at most `check_max_count`
/// times, until it is `want`.
pub fn poll_until(
    host: &HostConfig,
    driver: &dyn PowerDriver,
    policy: &PolicyConfig,
    want: PowerState,
    sleep: &dyn Fn(Duration),
) -> Poll {
    let max = policy.check_max_count.max(1);
    let mut last_state = None;
    let mut last_error = None;
    for poll in 1..=max {
        match read_power(host, driver) {
            Ok(s) if s == want => return Poll::Reached(poll),
            Ok(s) => {
                last_state = Some(s);
                last_error = None;
            }
            Err(e) if e.kind == BmcErrorKind::Auth || e.kind == BmcErrorKind::Config => {
                return Poll::Refused(e, poll);
            }
            Err(e) => {
                tracing::debug!("{}: power read {poll}/{max} failed: {e}", host.name());
                last_error = Some(e);
            }
        }
        if poll < max {
            sleep(policy.check_interval);
            if let Some(signal) = crate::interrupt::stopping() {
                return Poll::Stopped {
                    polls: poll,
                    last_state,
                    signal: signal.name(),
                };
            }
        }
    }
    Poll::TimedOut {
        polls: max,
        last_state,
        last_error,
    }
}

fn window(policy: &PolicyConfig) -> String {
    let total = policy.check_interval * policy.check_max_count.saturating_sub(1);
    humantime::format_duration(total).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    // The exit codes of a fencing failure are the commands' (`commands::ipmi_power`).
    use crate::error::Classify;
    use crate::exit_codes::ExitCode;
    use std::sync::Mutex;

    /// A BMC whose answers are scripted: one entry per status read (the last repeats), and
    /// the answer to power off.
    struct FakeBmc {
        reads: Mutex<Vec<Result<PowerState, BmcError>>>,
        off: Result<(), BmcError>,
        calls: Mutex<Vec<&'static str>>,
    }

    impl FakeBmc {
        fn new(reads: Vec<Result<PowerState, BmcError>>, off: Result<(), BmcError>) -> FakeBmc {
            FakeBmc {
                reads: Mutex::new(reads),
                off,
                calls: Mutex::new(Vec::new()),
            }
        }
        fn calls(&self) -> Vec<&'static str> {
            self.calls.lock().unwrap().clone()
        }
    }

    impl PowerDriver for FakeBmc {
        fn status(&self) -> Result<PowerState, BmcError> {
            self.calls.lock().unwrap().push("status");
            let mut reads = self.reads.lock().unwrap();
            if reads.len() > 1 {
                reads.remove(0)
            } else {
                reads[0].clone()
            }
        }
        fn power_off(&self) -> Result<(), BmcError> {
            self.calls.lock().unwrap().push("off");
            self.off.clone()
        }
        fn power_on(&self) -> Result<(), BmcError> {
            self.calls.lock().unwrap().push("on");
            Ok(())
        }
        fn power_cycle(&self) -> Result<(), BmcError> {
            self.calls.lock().unwrap().push("cycle");
            Ok(())
        }
    }

    fn setup() -> (HostConfig, PolicyConfig) {
        let c = Config::from_str(
            "[hosts.compute-3.bmc]\naddress = \"192.168.1.243\"\nuser = \"admin\"\npassword_env = \"P\"\n[policy]\ncheck_max_count = 5\ncheck_interval = \"2s\"\n",
            "c.toml",
        )
        .unwrap();
        (c.host("compute-3").unwrap().clone(), c.policy.clone())
    }

    fn run(bmc: &FakeBmc) -> (Result<FenceReport, FenceError>, Vec<Duration>) {
        let (host, policy) = setup();
        let slept = Mutex::new(Vec::new());
        let r = fence_with_sleep(&host, bmc, &policy, &|d| slept.lock().unwrap().push(d));
        (r, slept.into_inner().unwrap())
    }

    use PowerState::{Off, On};

    #[test]
    fn confirmed_off_on_the_third_poll() {
        let bmc = FakeBmc::new(vec![Ok(On), Ok(On), Ok(On), Ok(Off)], Ok(()));
        let (r, slept) = run(&bmc);
        let report = r.unwrap();
        assert_eq!(report.polls, 3);
        assert!(!report.already_off);
        assert_eq!(report.bmc_address, "192.168.1.243");
        assert_eq!(bmc.calls(), ["status", "off", "status", "status", "status"]);
        assert_eq!(slept, [Duration::from_secs(2); 2]);
    }

    #[test]
    fn an_off_host_is_fenced_without_sending_anything() {
        let bmc = FakeBmc::new(vec![Ok(Off)], Ok(()));
        let report = run(&bmc).0.unwrap();
        assert!(report.already_off);
        assert_eq!(bmc.calls(), ["status"]);
    }

    #[test]
    fn a_lying_bmc_fails_after_every_poll() {
        let bmc = FakeBmc::new(vec![Ok(On)], Ok(()));
        let (r, slept) = run(&bmc);
        let e = r.unwrap_err();
        assert!(e.unconfirmed);
        assert_eq!(e.kind, BmcErrorKind::Failure);
        assert_eq!(e.polls, 5);
        assert_eq!(e.last_state, Some(On));
        assert_eq!(e.exit_code(), ExitCode::Partial);
        assert!(
            e.to_string().contains(
                "fencing compute-3 failed: the BMC acknowledged power off but still reports \
                 power on after 5 reads over 8s"
            ),
            "{e}"
        );
        assert_eq!(slept.len(), 4, "no sleep after the last read");
        assert_eq!(bmc.calls().iter().filter(|c| **c == "status").count(), 6);
    }

    #[test]
    fn a_failing_bmc_fails_with_its_error() {
        let err = BmcError::failure("the BMC answered with an error: Unspecified error");
        let bmc = FakeBmc::new(vec![Ok(On)], Err(err.clone()));
        let e = run(&bmc).0.unwrap_err();
        assert!(!e.unconfirmed);
        assert_eq!(e.kind, BmcErrorKind::Failure);
        assert_eq!(
            e.reason,
            "power off failed: the BMC answered with an error: Unspecified error"
        );
        assert_eq!(e.last_state, Some(On), "the power was read after the error");
        assert_eq!(bmc.calls(), ["status", "off", "status"]);
    }

    #[test]
    fn an_off_that_errs_but_acts_is_confirmed_by_reading() {
        let bmc = FakeBmc::new(vec![Ok(On), Ok(Off)], Err(BmcError::failure("answer lost")));
        let report = run(&bmc).0.unwrap();
        assert_eq!(report.polls, 1);
    }

    #[test]
    fn a_slow_bmc_that_stops_answering_fails_as_unreachable() {
        let gone =
            BmcError::unreachable("the BMC did not answer: Unable to get Chassis Power Status");
        let bmc = FakeBmc::new(vec![Ok(On), Ok(On), Err(gone)], Ok(()));
        let e = run(&bmc).0.unwrap_err();
        assert_eq!(e.kind, BmcErrorKind::Unreachable);
        assert_eq!(e.exit_code(), ExitCode::Unreachable);
        assert!(
            e.reason.contains("could not be read (5 reads over 8s)"),
            "{e}"
        );
        assert!(
            e.reason.contains("Unable to get Chassis Power Status"),
            "{e}"
        );
    }

    #[test]
    fn an_unreachable_bmc_fails_before_any_action() {
        let bmc = FakeBmc::new(vec![Err(BmcError::unreachable("no answer"))], Ok(()));
        let e = run(&bmc).0.unwrap_err();
        assert_eq!(e.kind, BmcErrorKind::Unreachable);
        assert_eq!(bmc.calls(), ["status"]);
    }

    #[test]
    fn a_refused_privilege_stops_at_once() {
        let bmc = FakeBmc::new(
            vec![Ok(On)],
            Err(BmcError::auth("Insufficient privilege level")),
        );
        let e = run(&bmc).0.unwrap_err();
        assert_eq!(e.kind, BmcErrorKind::Auth);
        assert_eq!(e.exit_code(), ExitCode::Auth);
        assert_eq!(bmc.calls(), ["status", "off"], "no read after a refusal");
    }

    #[test]
    fn polling_for_on() {
        let (host, policy) = setup();
        let bmc = FakeBmc::new(vec![Ok(Off), Ok(On)], Ok(()));
        assert_eq!(
            poll_until(&host, &bmc, &policy, On, &|_| {}),
            Poll::Reached(2)
        );
    }
}
