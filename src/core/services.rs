//! Verdicts over Nova and Cinder service records: pure, tested without a server.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::core::Finding;

/// The disabled reason that marks a reserved host in Nova (`watch` writes it; any host
/// disabled with it counts as reserved, configured or not).
pub const RESERVED_REASON: &str = "evacctl: reserved";

/// What a service record means for the runbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Ok,
    /// Disabled as a spare (`evacctl: reserved`): kept for a failure, not a problem.
    Reserved,
    Disabled,
    Down,
    ForcedDown,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Reserved => "reserved",
            Verdict::Disabled => "disabled",
            Verdict::Down => "down",
            Verdict::ForcedDown => "forced-down",
        }
    }

    /// Down or forced down: the host is lost for this service.
    pub fn is_failure(self) -> bool {
        matches!(self, Verdict::Down | Verdict::ForcedDown)
    }
}

/// Forced down wins over down (it is the operator's or evacctl's own statement); down wins
/// over disabled (a disabled, dead host is still dead).
pub fn verdict(status: &str, state: &str, forced_down: Option<bool>) -> Verdict {
    if forced_down == Some(true) {
        Verdict::ForcedDown
    } else if !state.eq_ignore_ascii_case("up") {
        Verdict::Down
    } else if !status.eq_ignore_ascii_case("enabled") {
        Verdict::Disabled
    } else {
        Verdict::Ok
    }
}

/// [`verdict`], with a host disabled as reserved (`reason`) told apart from a disabled one.
pub fn verdict_with_reason(
    status: &str,
    state: &str,
    forced_down: Option<bool>,
    reason: Option<&str>,
) -> Verdict {
    match verdict(status, state, forced_down) {
        Verdict::Disabled if reason == Some(RESERVED_REASON) => Verdict::Reserved,
        v => v,
    }
}

/// Time since the last heartbeat; `None` when unknown or in the future (clock skew).
pub fn heartbeat_age(updated_at: Option<SystemTime>, now: SystemTime) -> Option<Duration> {
    updated_at.and_then(|t| now.duration_since(t).ok())
}

/// Nova's services first sorted by binary (nova-compute first), then host.
pub fn binary_rank(binary: &str) -> (u8, &str) {
    (u8::from(binary != "nova-compute"), binary)
}

/// The exit code of `check-services`.
///
/// Decided by the nova-compute services shown: any down or forced down = unhealthy; else any
/// disabled = degraded. A failed control-plane service (nova-scheduler, nova-conductor, a
/// cinder service) with every nova-compute fine = degraded: evacuation needs them. With no
/// nova-compute shown (filters), the other services shown decide the same way.
pub fn check_services_exit(computes: &[Verdict], others: &[Verdict]) -> Finding {
    let worst = |v: &[Verdict]| v.iter().copied().max();
    match worst(computes) {
        Some(v) if v.is_failure() => Finding::Unhealthy,
        Some(Verdict::Disabled) => Finding::Degraded,
        Some(Verdict::Ok | Verdict::Reserved) => match worst(others) {
            Some(v) if v > Verdict::Reserved => Finding::Degraded,
            _ => Finding::Success,
        },
        _ => match worst(others) {
            Some(v) if v.is_failure() => Finding::Unhealthy,
            Some(Verdict::Disabled) => Finding::Degraded,
            _ => Finding::Success,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Verdict::*;

    #[test]
    fn verdict_precedence() {
        assert_eq!(verdict("enabled", "up", Some(false)), Ok);
        assert_eq!(verdict("enabled", "up", None), Ok);
        assert_eq!(verdict("disabled", "up", Some(false)), Disabled);
        assert_eq!(verdict("disabled", "down", Some(false)), Down);
        assert_eq!(verdict("enabled", "down", Some(true)), ForcedDown);
        assert_eq!(verdict("disabled", "down", Some(true)), ForcedDown);
        let spare = Some(RESERVED_REASON);
        assert_eq!(
            verdict_with_reason("disabled", "up", Some(false), spare),
            Reserved
        );
        assert_eq!(
            verdict_with_reason("disabled", "down", Some(false), spare),
            Down
        );
        assert_eq!(
            verdict_with_reason("disabled", "up", None, Some("maint")),
            Disabled
        );
        assert_eq!(
            check_services_exit(&[Ok, Reserved], &[Ok]),
            Finding::Success
        );
        assert_eq!(
            check_services_exit(&[Reserved, Disabled], &[]),
            Finding::Degraded
        );
        assert_eq!(verdict("enabled", "UP", None), Ok);
    }

    #[test]
    fn exit_codes() {
        assert_eq!(check_services_exit(&[Ok, Ok], &[Ok]), Finding::Success);
        assert_eq!(check_services_exit(&[Ok, Down], &[Ok]), Finding::Unhealthy);
        assert_eq!(
            check_services_exit(&[Ok, ForcedDown], &[]),
            Finding::Unhealthy
        );
        assert_eq!(check_services_exit(&[Ok, Disabled], &[]), Finding::Degraded);
        assert_eq!(check_services_exit(&[Ok], &[Down]), Finding::Degraded);
        assert_eq!(check_services_exit(&[], &[Down]), Finding::Unhealthy);
        assert_eq!(check_services_exit(&[], &[]), Finding::Success);
    }

    #[test]
    fn ages() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let then = SystemTime::UNIX_EPOCH + Duration::from_secs(925);
        assert_eq!(
            heartbeat_age(Some(then), now),
            Some(Duration::from_secs(75))
        );
        assert_eq!(heartbeat_age(Some(now + Duration::from_secs(5)), now), None);
        assert_eq!(heartbeat_age(None, now), None);
    }

    #[test]
    fn compute_sorts_first() {
        let mut v = vec!["nova-scheduler", "nova-compute", "nova-conductor"];
        v.sort_by_key(|b| binary_rank(b));
        assert_eq!(v, ["nova-compute", "nova-conductor", "nova-scheduler"]);
    }
}
