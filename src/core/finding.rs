//! What a check or a plan concluded, in the core's own words: the commands turn a [`Finding`]
//! into the process exit code (`exit_codes`), so the core decides nothing about processes.

/// The conclusion of a check (`check-consul`, `check-services`) or the reason a plan was
/// rejected. Ordered as the exit codes it becomes, so the most urgent of several compares
/// the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Finding {
    /// Everything checked is healthy.
    Success,
    /// Bad input (a name that does not exist, a plan that cannot be): nothing done.
    Usage,
    /// A compute host (or a service it needs) has failed.
    Unhealthy,
    /// Something is off but nothing has failed: notify only.
    Degraded,
    /// A Consul cluster has no leader or no healthy quorum.
    NoQuorum,
    /// This controller is cut off: its view cannot be acted on.
    ObserverIsolated,
    /// A service could not be asked.
    Unreachable,
    /// A service refused our credentials.
    Auth,
    /// A safety rule refused the action: nothing done.
    Refused,
    /// The configuration does not allow asking (a bad address, a missing token file).
    Config,
    /// The service answered with an error, or with something not understood.
    Failure,
}
