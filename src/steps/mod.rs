//! Runbook steps: one entry per step, doing its I/O through the clients (`bmc`, `openstack`,
//! `consul`) and its decisions through `core`. The manual subcommands and the `watch` engine
//! call the same entries: each takes a [`StepContext`] and the host by name, journals its own
//! intent and result, and returns a [`StepOutcome`]. Steps choose no exit codes: the commands
//! and the engine decide what an outcome means to the operator.

pub mod evacuate;
pub mod facts;
pub mod isolate;
pub mod observe;
pub mod power;
pub mod reserve;
pub mod restore;
pub mod verify;
pub mod volumes;

use std::path::PathBuf;

use crate::config::Config;
use crate::core::names;
use crate::journal::{self, Journal, Record};
use crate::openstack::Session;

/// What every step runs with.
#[derive(Clone)]
pub struct StepContext<'a> {
    pub config: &'a Config,
    /// `None` for commands that need no cloud (`ipmi power`).
    session: Option<&'a Session>,
    /// `None`: a dry run (nothing changes, nothing is written).
    pub journal: Option<&'a Journal>,
    /// Where the journal is read from (what was sent, what is in doubt).
    pub journal_path: PathBuf,
}

impl<'a> StepContext<'a> {
    pub fn new(
        config: &'a Config,
        session: Option<&'a Session>,
        journal: Option<&'a Journal>,
        journal_path: PathBuf,
    ) -> StepContext<'a> {
        StepContext {
            config,
            session,
            journal,
            journal_path,
        }
    }

    /// The OpenStack session; an error for a context built without one (a bug).
    pub fn session(&self) -> anyhow::Result<&'a Session> {
        self.session
            .ok_or_else(|| anyhow::anyhow!("no OpenStack session for this step (a bug in evacctl)"))
    }

    /// The same context, writing to `journal`.
    pub fn with_journal<'b>(&self, journal: &'b Journal) -> StepContext<'b>
    where
        'a: 'b,
    {
        StepContext {
            journal: Some(journal),
            ..self.clone()
        }
    }

    /// The journal to write to; an error in a dry run (which must not act).
    pub fn writable_journal(&self) -> anyhow::Result<&'a Journal> {
        self.journal.ok_or_else(|| anyhow::anyhow!("dry run"))
    }

    pub fn is_dry_run(&self) -> bool {
        self.journal.is_none()
    }

    /// Every record of the journal (none when it does not exist yet).
    pub fn records(&self) -> anyhow::Result<std::sync::Arc<Vec<Record>>> {
        let (records, bad) = journal::read(&self.journal_path)?;
        if bad > 0 {
            tracing::warn!(
                "journal {}: {bad} line(s) could not be read and were skipped",
                self.journal_path.display()
            );
        }
        Ok(records)
    }
}

/// Why a step did nothing (or stopped half-way), for the commands to map to exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalKind {
    /// A name that does not exist, a target that cannot be one: a typo until proven otherwise.
    BadInput,
    /// Doing it would be unsafe (a host not fenced, a service still up): a person must act.
    Unsafe,
    /// Some changes were made, then one failed: the operator re-runs.
    Incomplete,
}

/// A step's refusal, as an error (so helpers can use `?`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Refusal {
    pub kind: RefusalKind,
    pub reason: String,
}

impl Refusal {
    pub fn bad_input(reason: impl Into<String>) -> Refusal {
        Refusal {
            kind: RefusalKind::BadInput,
            reason: reason.into(),
        }
    }

    pub fn unsafe_(reason: impl Into<String>) -> Refusal {
        Refusal {
            kind: RefusalKind::Unsafe,
            reason: reason.into(),
        }
    }

    pub fn incomplete(reason: impl Into<String>) -> Refusal {
        Refusal {
            kind: RefusalKind::Incomplete,
            reason: reason.into(),
        }
    }

    /// The first refusal in an error's chain.
    pub fn of(e: &anyhow::Error) -> Option<&Refusal> {
        e.chain().find_map(|c| c.downcast_ref::<Refusal>())
    }
}

/// What a step entry did.
#[derive(Debug)]
pub enum StepOutcome<T, F = anyhow::Error> {
    /// It did what it should (or found it already done).
    Done(T),
    /// It did nothing: unsafe, or bad input. Not worth retrying by itself.
    Refused(Refusal),
    /// It ran and did not succeed (a BMC that never said off, a repair that failed).
    Failed(F),
    /// It could not run now (an API or the journal not answering); a later try may work.
    Transient(anyhow::Error),
}

impl<T> StepOutcome<T> {
    /// A result whose errors are transient unless a [`Refusal`] is in their chain.
    pub fn from_result(r: anyhow::Result<T>) -> StepOutcome<T> {
        match r {
            Ok(x) => StepOutcome::Done(x),
            Err(e) => match Refusal::of(&e) {
                Some(refusal) => StepOutcome::Refused(refusal.clone()),
                None => StepOutcome::Transient(e),
            },
        }
    }
}

impl<T, F: Into<anyhow::Error>> StepOutcome<T, F> {
    /// For the commands: `Done` or the error (a refusal keeps its kind for the exit code).
    pub fn into_result(self) -> anyhow::Result<T> {
        match self {
            StepOutcome::Done(x) => Ok(x),
            StepOutcome::Refused(r) => Err(r.into()),
            StepOutcome::Failed(e) => Err(e.into()),
            StepOutcome::Transient(e) => Err(e),
        }
    }
}

/// "unknown host X: no nova-compute runs there; did you mean Y? (known: ...)": bad input,
/// nothing done.
pub fn unknown_host(name: &str, known: &[&str]) -> Refusal {
    let hint = names::did_you_mean(name, known.iter().copied());
    Refusal::bad_input(format!(
        "unknown host `{name}`: no nova-compute service runs there{hint} (known: {})",
        if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_host_names_the_closest() {
        let e = unknown_host("compute-l", &["compute-1", "compute-2"]);
        assert_eq!(e.kind, RefusalKind::BadInput);
        assert!(
            e.reason.contains("did you mean `compute-1`"),
            "{}",
            e.reason
        );
        assert!(e.reason.contains("known: compute-1, compute-2"));
    }

    #[test]
    fn a_refusal_in_the_chain_is_found() {
        let e = anyhow::Error::new(Refusal::unsafe_("no")).context("while isolating");
        assert!(matches!(
            StepOutcome::<()>::from_result(Err(e)),
            StepOutcome::Refused(r) if r.kind == RefusalKind::Unsafe
        ));
        let e = anyhow::anyhow!("HTTP 503");
        assert!(matches!(
            StepOutcome::<()>::from_result(Err(e)),
            StepOutcome::Transient(_)
        ));
    }
}
