//! Runbook step 3: move a dead host's Cinder volumes and backups to a validated host, the one
//! implementation behind `evacctl migrate-volumes` and `watch`.
//!
//! [`observe`] gathers the facts (Cinder's services, the volumes on the failed host, the backups
//! from `cinder-manage backup list`), [`plan`] validates and plans (pure, in
//! [`crate::core::volumes`]), [`execute`] runs the `cinder-manage` commands with a journal
//! record before and after each, [`prove`] lists again and compares. [`migrate`] chains them for
//! callers that need no confirmation (`watch`).
//!
//! `cinder-manage` runs as the configuration says (`[volumes] prefix` + `cinder_manage` +
//! arguments: locally, through `ssh`, `docker exec`), never through a shell, with stdin closed,
//! its output captured, and a time limit ([`COMMAND_TIMEOUT`]).

use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;

use crate::config::VolumesConfig;
use crate::core::Finding;
use crate::core::volumes::{self, CommandKind, Facts, ManagedBackup, Plan, Proof, Request};
use crate::journal::{Fields, Journal, Kind};
use crate::openstack::cinder::{HostVolumes, Volume, VolumeService};
use crate::openstack::{Cinder, Session};
use crate::steps::{Refusal, StepContext, StepOutcome};

pub use crate::process::{Run, redact, shell_words};

/// How long one `cinder-manage` run may take before it is killed (an `ssh` that hangs must not
/// hold the runbook at 3 a.m.; a database update of a few thousand rows takes seconds).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

/// The journal's action names.
pub const ACTION: &str = "migrate-volumes";

/// `cinder-manage`, as configured.
#[derive(Clone, Debug)]
pub struct CinderManage {
    base: Vec<String>,
    timeout: Duration,
}

impl CinderManage {
    pub fn new(config: &VolumesConfig) -> CinderManage {
        CinderManage {
            base: config.argv::<&str>(&[]),
            timeout: COMMAND_TIMEOUT,
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> CinderManage {
        self.timeout = timeout;
        self
    }

    /// The whole argv for these arguments.
    pub fn argv(&self, args: &[String]) -> Vec<String> {
        self.base.iter().chain(args).cloned().collect()
    }

    /// Runs it; a failure to start or a timeout is in the [`Run`], never a panic.
    pub fn run(&self, args: &[String]) -> Run {
        let run = crate::process::run(&self.argv(args), None, self.timeout);
        tracing::debug!(
            "ran {} ({} ms): {}",
            shell_words(&run.argv),
            run.duration_ms,
            run.summary()
        );
        run
    }

    /// `cinder-manage backup list`, read: the backups and the host of each (the API does not
    /// show a backup's host).
    pub fn backup_list(&self) -> anyhow::Result<Vec<ManagedBackup>> {
        let args = ["backup".to_string(), "list".to_string()];
        let run = self.run(&args);
        let command = shell_words(&run.argv);
        if !run.ok() {
            anyhow::bail!(
                "`{command}` failed ({}): cannot see the backups",
                run.summary()
            );
        }
        volumes::parse_backup_list(&run.stdout)
            .map_err(|e| anyhow::anyhow!("`{command}`: cannot read its output: {e}"))
    }
}

/// The facts a plan is made from, as gathered.
#[derive(Clone, Debug)]
pub struct Observed {
    pub services: Vec<VolumeService>,
    pub volumes: HostVolumes,
    pub backups: Vec<ManagedBackup>,
    /// The scheduler's pools; `None` when they could not be read.
    pub pools: Option<Vec<String>>,
}

/// Gathers the facts: Cinder's services, the failed host's volumes and the scheduler's pools
/// (in parallel), then,
/// once the names are known to exist, `cinder-manage backup list`: a typo is refused (with its
/// exit code) before `cinder-manage` runs at all.
pub fn observe(
    session: &Session,
    manage: &CinderManage,
    req: &Request,
) -> anyhow::Result<Observed> {
    enum Query {
        Services,
        Volumes,
        Pools,
    }
    enum Answer {
        Services(Vec<VolumeService>),
        Volumes(HostVolumes),
        Pools(Option<Vec<String>>),
    }
    let cinder = Cinder::new(session);
    let queries = [Query::Services, Query::Volumes, Query::Pools];
    let answers = crate::pool::map_bounded(&queries, 3, |q| match q {
        Query::Services => cinder
            .list_services(None, None)
            .map(Answer::Services)
            .context("cannot list Cinder's services"),
        Query::Volumes => cinder
            .list_volumes_on_host(&req.failed_host)
            .map(Answer::Volumes)
            .with_context(|| format!("cannot list the volumes of {}", req.failed_host)),
        // Only to check the new host's pools: without them the plan says it could not.
        Query::Pools => Ok(Answer::Pools(
            cinder
                .list_pools()
                .inspect_err(|e| tracing::warn!("cannot read the scheduler's pools: {e}"))
                .ok(),
        )),
    });
    let (mut services, mut volumes, mut pools) = (Vec::new(), None, None);
    for a in answers {
        match a? {
            Answer::Services(s) => services = s,
            Answer::Volumes(v) => volumes = Some(v),
            Answer::Pools(p) => pools = p,
        }
    }
    let volumes = volumes.context("the volume list did not finish")?;
    volumes::check_names(
        req,
        &super::facts::cinder_services(&services),
        &super::facts::cinder_volumes(&volumes.volumes),
    )
    .map_err(refusal)?;
    let backups = manage.backup_list()?;
    Ok(Observed {
        services,
        volumes,
        backups,
        pools,
    })
}

/// The core's refusal of a volume move, as a step's: a name that matches nothing is bad
/// input, anything else is unsafe to do.
fn refusal(r: volumes::Refusal) -> Refusal {
    if r.code == Finding::Usage {
        Refusal::bad_input(r.message)
    } else {
        Refusal::unsafe_(r.message)
    }
}

/// Validates and plans; nothing is changed.
pub fn plan(observed: &Observed, req: &Request) -> Result<Plan, Refusal> {
    volumes::plan(
        req,
        &Facts {
            services: &super::facts::cinder_services(&observed.services),
            volumes: &super::facts::cinder_volumes(&observed.volumes.volumes),
            backups: &observed.backups,
            pools: observed.pools.as_deref(),
        },
    )
    .map_err(refusal)
}

/// What happened to one command of the plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CommandResult {
    pub kind: CommandKind,
    pub current_host: String,
    pub new_host: String,
    /// The whole argv, and the same as one shell line.
    pub argv: Vec<String>,
    pub command: String,
    /// `None` when it was skipped.
    pub run: Option<Run>,
    pub skipped: Option<String>,
}

impl CommandResult {
    pub fn ok(&self) -> bool {
        self.run.as_ref().is_some_and(Run::ok)
    }
}

/// The plan's commands as they will run (for the plan's display).
pub fn planned_commands(plan: &Plan, manage: &CinderManage) -> Vec<CommandResult> {
    plan.commands
        .iter()
        .map(|c| {
            // Shown and journaled: masked like the tool's output, in case the configured argv
            // carries a database URL.
            let argv: Vec<String> = manage.argv(&c.args()).iter().map(|a| redact(a)).collect();
            CommandResult {
                kind: c.kind,
                current_host: c.current_host.clone(),
                new_host: c.new_host.clone(),
                command: shell_words(&argv),
                argv,
                run: None,
                skipped: None,
            }
        })
        .collect()
}

fn journal_kind(kind: CommandKind) -> &'static str {
    match kind {
        CommandKind::VolumeUpdateHost => "volume-update-host",
        CommandKind::BackupUpdateBackupHost => "backup-update-host",
    }
}

/// Runs the plan's commands in order, one journal intent before and one result after each. A
/// command whose `--currenthost` also selects an earlier command's volumes is skipped when that
/// one failed (it would move them without their pool). A journal that cannot be written stops
/// everything: nothing runs unrecorded.
pub fn execute(
    plan: &Plan,
    manage: &CinderManage,
    journal: &Journal,
) -> anyhow::Result<Vec<CommandResult>> {
    let host = plan.request.failed_host.as_str();
    let summary = format!(
        "{} volume(s), {} backup(s), {} command(s) to {}",
        plan.volumes.len(),
        plan.backups.len(),
        plan.commands.len(),
        plan.request.new_host
    );
    journal.append(
        Kind::Event,
        ACTION,
        "planned",
        Fields {
            host: Some(host),
            target: Some(&plan.request.new_host),
            detail: Some(&summary),
            ..Default::default()
        },
    )?;
    let mut results = planned_commands(plan, manage);
    // From the first command to the last result, a signal waits for this run (docs/design.md 2.9).
    let _busy = crate::interrupt::busy();
    for (i, c) in plan.commands.iter().enumerate() {
        let action = journal_kind(c.kind);
        let fields = |detail| Fields {
            host: Some(host),
            target: Some(&c.new_host),
            detail: Some(detail),
            ..Default::default()
        };
        // A signal runs nothing new: the command in flight finished; the rest are recorded
        // as not run (no intent was written for them), for a re-run to do.
        if let Some(signal) = crate::interrupt::stopping() {
            let why = format!("not run: stopped by {}", signal.name());
            journal.append(Kind::Event, action, "not-sent", fields(&why))?;
            results[i].skipped = Some(why);
            continue;
        }
        if let Some(&dep) = c.after.iter().find(|&&d| !results[d].ok()) {
            let why = format!(
                "skipped: `--currenthost {}` also selects the volumes of command {}, which failed \
                 (they would lose their pool)",
                c.current_host,
                dep + 1
            );
            journal.append(Kind::Event, action, "skipped", fields(&why))?;
            results[i].skipped = Some(why);
            continue;
        }
        journal.append(Kind::Intent, action, "running", fields(&results[i].command))?;
        let run = manage.run(&c.args());
        let status = if run.ok() { "ok" } else { "failed" };
        if run.ok() {
            tracing::info!("{}: {}", results[i].command, run.summary());
        } else {
            tracing::error!("{}: {}", results[i].command, run.summary());
        }
        journal.append(Kind::Result, action, status, fields(&run.summary()))?;
        results[i].run = Some(run);
    }
    Ok(results)
}

/// Lists again: the failed host's volumes, the new host's, any planned one found in neither
/// (fetched alone), and the backups; then compares with the plan.
pub fn prove(session: &Session, manage: &CinderManage, plan: &Plan) -> anyhow::Result<Proof> {
    let cinder = Cinder::new(session);
    let hosts = [&plan.request.failed_host, &plan.request.new_host];
    let lists = crate::pool::map_bounded(&hosts, 2, |h| cinder.list_volumes_on_host(h));
    let mut now: Vec<Volume> = Vec::new();
    for (h, l) in hosts.iter().zip(lists) {
        now.extend(
            l.with_context(|| format!("cannot list the volumes of {h} again to check the move"))?
                .volumes,
        );
    }
    let missing: Vec<&str> = plan
        .volumes
        .iter()
        .map(|v| v.id.as_str())
        .filter(|id| !now.iter().any(|v| v.id == *id))
        .collect();
    for found in crate::pool::map_bounded(&missing, 8, |id| cinder.get_volume(id)) {
        now.extend(found.context("cannot look a moved volume up")?);
    }
    let backups = if plan.backups_in_scope {
        manage.backup_list()?
    } else {
        Vec::new()
    };
    Ok(volumes::prove(
        plan,
        &super::facts::cinder_volumes(&now),
        &backups,
    ))
}

/// The commands' results and the proof: the end of a run.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub commands: Vec<CommandResult>,
    pub proof: Proof,
}

impl Outcome {
    /// Every command ran and everything is proven moved.
    pub fn all_ran(&self) -> bool {
        self.commands.iter().all(CommandResult::ok)
    }

    /// Something was proven moved.
    pub fn any_moved(&self) -> bool {
        self.proof
            .volumes
            .values()
            .chain(self.proof.backups.values())
            .any(|o| *o == volumes::Outcome::Moved)
    }

    /// One sentence for the operator.
    pub fn message(&self, plan: &Plan) -> String {
        let failed: Vec<String> = self
            .commands
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.ok())
            .map(|(i, c)| match (&c.run, &c.skipped) {
                (Some(r), _) => format!("command {} {}", i + 1, r.summary()),
                (None, _) => format!("command {} skipped", i + 1),
            })
            .collect();
        let p = &self.proof;
        if p.ok && failed.is_empty() {
            return format!(
                "moved {} volume(s) and {} backup(s) from {} to {}; nothing is left on {}",
                plan.volumes.len(),
                plan.backups.len(),
                plan.request.failed_host,
                plan.request.new_host,
                plan.request.failed_host
            );
        }
        let mut parts = Vec::new();
        if !p.volumes_left.is_empty() {
            parts.push(format!(
                "volumes still on {}: {}",
                plan.request.failed_host,
                p.volumes_left.join(", ")
            ));
        }
        if !p.backups_left.is_empty() {
            parts.push(format!(
                "backups still on {}: {}",
                plan.request.failed_host,
                p.backups_left.join(", ")
            ));
        }
        let elsewhere: Vec<String> = p
            .volumes
            .iter()
            .chain(&p.backups)
            .filter_map(|(id, o)| match o {
                volumes::Outcome::Elsewhere { host } => Some(format!("{id} is on {host}")),
                _ => None,
            })
            .collect();
        if !elsewhere.is_empty() {
            parts.push(format!("not where planned: {}", elsewhere.join(", ")));
        }
        if !failed.is_empty() {
            parts.push(failed.join("; "));
        } else if !p.ok {
            parts.push("every cinder-manage command exited 0, yet not everything moved (cinder-manage checks no host name and says nothing when it changes nothing)".into());
        }
        parts.join("; ")
    }
}

/// Runs the plan's commands, then proves; journals the proof.
pub fn execute_and_prove(
    session: &Session,
    manage: &CinderManage,
    journal: &Journal,
    plan: &Plan,
) -> anyhow::Result<Outcome> {
    let commands = execute(plan, manage, journal)?;
    let proof = prove(session, manage, plan)?;
    let outcome = Outcome { commands, proof };
    let (status, detail) = if outcome.proof.ok {
        (
            "proved",
            format!("nothing left on {}", plan.request.failed_host),
        )
    } else {
        ("proof-failed", outcome.message(plan))
    };
    journal.append(
        Kind::Event,
        ACTION,
        status,
        Fields {
            host: Some(&plan.request.failed_host),
            target: Some(&plan.request.new_host),
            detail: Some(&detail),
            ..Default::default()
        },
    )?;
    Ok(outcome)
}

/// The whole step without a person (`watch`): observe, plan, run, prove. `Ok(None)` when there
/// is nothing to move.
pub fn migrate(
    session: &Session,
    config: &VolumesConfig,
    journal: &Journal,
    req: &Request,
) -> anyhow::Result<Option<(Plan, Outcome)>> {
    let manage = CinderManage::new(config);
    let observed = observe(session, &manage, req)?;
    let plan = plan(&observed, req)?;
    if plan.is_empty() {
        return Ok(None);
    }
    let outcome = execute_and_prove(session, &manage, journal, &plan)?;
    Ok(Some((plan, outcome)))
}

/// One backend's volumes and backups of the failed host, moved to a healthy cinder-volume of
/// the same backend (`volumes` and `backups` empty: nothing was left there to move).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BackendMoved {
    pub backend: String,
    /// `node@backend` of the failed host's cinder-volume, and of the one that took over.
    pub from: String,
    pub to: String,
    pub volumes: Vec<MovedVolume>,
    /// The ids of the backups moved.
    pub backups: Vec<String>,
}

/// A volume moved: its `host` in Cinder before and after (`node@backend#pool`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MovedVolume {
    pub id: String,
    pub name: Option<String>,
    pub from: String,
    pub to: String,
}

impl BackendMoved {
    /// `ceph: 2 volume(s), 0 backup(s) moved to compute-1@ceph`, or `ceph: nothing to move`.
    pub fn summary(&self) -> String {
        if self.volumes.is_empty() && self.backups.is_empty() {
            return format!("{}: nothing to move", self.backend);
        }
        format!(
            "{}: {} volume(s), {} backup(s) moved to {}",
            self.backend,
            self.volumes.len(),
            self.backups.len(),
            self.to
        )
    }
}

/// How moving a failed host's volumes went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Moved {
    /// Moved (or nothing to move): what was done, in one sentence and per backend.
    Done(String, Vec<BackendMoved>),
    /// Cinder still sees the host's cinder-volume up: nothing done yet.
    Waiting(String),
    /// Cinder still sees it up after `recovery_timeout`: nothing done (the caller decides
    /// whether the servers go without their volumes being moved).
    StillUp(String),
}

/// The volumes step (`watch`): the volumes the failed host's cinder-volume managed, per
/// backend, to the first healthy cinder-volume of the same backend. Waits while Cinder still
/// sees the source up, for at most `recovery_timeout` after `waited` seconds, then says
/// [`Moved::StillUp`]. `Failed`: a person must look (nowhere to move them, not proved moved).
pub fn move_off_host(cx: &StepContext<'_>, host: &str, waited: f64) -> StepOutcome<Moved, String> {
    let session = match cx.session() {
        Ok(s) => s,
        Err(e) => return StepOutcome::Transient(e),
    };
    let Some(journal) = cx.journal else {
        return StepOutcome::Transient(anyhow::anyhow!("dry run"));
    };
    let services = match Cinder::new(session).list_services(None, Some("cinder-volume")) {
        Ok(x) => x,
        Err(e) => {
            return StepOutcome::Transient(anyhow::anyhow!("cannot list Cinder's services: {e}"));
        }
    };
    let on_host: Vec<_> = services.iter().filter(|x| x.node() == host).collect();
    if on_host.is_empty() {
        return StepOutcome::Done(Moved::Done(
            format!("{host} runs no cinder-volume: no volume to move"),
            Vec::new(),
        ));
    }
    if let Some(up) = on_host.iter().find(|x| x.is_up()) {
        if waited > cx.config.policy.recovery_timeout.as_secs_f64() {
            return StepOutcome::Done(Moved::StillUp(format!(
                "Cinder still shows cinder-volume {} up {:.0}s after isolation",
                up.host, waited
            )));
        }
        return StepOutcome::Done(Moved::Waiting(format!(
            "waiting for Cinder to see cinder-volume {} down (its service_down_time)",
            up.host
        )));
    }
    let mut moved = Vec::new();
    for svc in on_host {
        let Some(backend) = svc.backend() else {
            continue;
        };
        match move_backend(cx, session, journal, host, backend, &services) {
            StepOutcome::Done(m) => moved.push(m),
            StepOutcome::Failed(e) => return StepOutcome::Failed(e),
            StepOutcome::Transient(e) => return StepOutcome::Transient(e),
            StepOutcome::Refused(r) => return StepOutcome::Refused(r),
        }
    }
    let what: Vec<String> = moved.iter().map(BackendMoved::summary).collect();
    StepOutcome::Done(Moved::Done(what.join("; "), moved))
}

/// One backend's volumes of the failed host to the first healthy cinder-volume of it.
fn move_backend(
    cx: &StepContext<'_>,
    session: &Session,
    journal: &Journal,
    host: &str,
    backend: &str,
    services: &[VolumeService],
) -> StepOutcome<BackendMoved, String> {
    let mut candidates: Vec<&str> = services
        .iter()
        .filter(|x| x.node() != host && x.backend() == Some(backend) && x.is_up() && x.is_enabled())
        .map(|x| x.node())
        .collect();
    candidates.sort_unstable();
    let Some(to) = candidates.first() else {
        return StepOutcome::Failed(format!(
            "no healthy cinder-volume of backend {backend} to take {host}'s volumes over"
        ));
    };
    let req = match Request::new(host, to, Some(backend)) {
        Ok(r) => r,
        Err(e) => return StepOutcome::Failed(e.message),
    };
    let mut done = BackendMoved {
        backend: backend.to_string(),
        from: format!("{host}@{backend}"),
        to: format!("{to}@{backend}"),
        volumes: Vec::new(),
        backups: Vec::new(),
    };
    match migrate(session, &cx.config.volumes, journal, &req) {
        Ok(None) => StepOutcome::Done(done),
        Ok(Some((plan, outcome))) => {
            if !outcome.proof.ok {
                return StepOutcome::Failed(format!(
                    "volumes of {host}@{backend} not proved moved: {}",
                    outcome.message(&plan)
                ));
            }
            tracing::info!(
                "{host}: {} volume(s), {} backup(s) of {backend} moved to {to}",
                plan.volumes.len(),
                plan.backups.len()
            );
            done.volumes = plan
                .volumes
                .iter()
                .map(|v| MovedVolume {
                    id: v.id.clone(),
                    name: v.name.clone(),
                    from: v.current_host.clone(),
                    to: v.new_host.clone(),
                })
                .collect();
            done.backups = plan.backups.iter().map(|b| b.id.clone()).collect();
            StepOutcome::Done(done)
        }
        Err(e) => match Refusal::of(&e) {
            Some(r) => StepOutcome::Failed(format!("volumes not moved: {}", r.reason)),
            None => StepOutcome::Transient(anyhow::anyhow!("volumes not moved: {e:#}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manage(argv: &[&str]) -> CinderManage {
        CinderManage {
            base: argv.iter().map(|s| s.to_string()).collect(),
            timeout: Duration::from_secs(10),
        }
    }

    #[test]
    fn a_backends_move_in_one_phrase() {
        let mut m = BackendMoved {
            backend: "ceph".into(),
            from: "compute-3@ceph".into(),
            to: "compute-1@ceph".into(),
            volumes: Vec::new(),
            backups: Vec::new(),
        };
        assert_eq!(m.summary(), "ceph: nothing to move");
        m.backups.push("b1".into());
        assert_eq!(
            m.summary(),
            "ceph: 0 volume(s), 1 backup(s) moved to compute-1@ceph"
        );
    }

    #[test]
    fn quotes_only_what_a_shell_would_mangle() {
        let argv: Vec<String> = [
            "ssh",
            "ctl1",
            "cinder-manage",
            "--currenthost",
            "c3@ceph#ceph",
            "it's",
            "",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            shell_words(&argv),
            r"ssh ctl1 cinder-manage --currenthost 'c3@ceph#ceph' 'it'\''s' ''"
        );
    }

    #[test]
    fn masks_passwords_in_tool_output_and_shown_commands() {
        let m = manage(&[
            "cinder-manage",
            "--database-connection",
            "mysql://c:pw0rd@db/cinder",
        ]);
        let plan = crate::core::volumes::Plan {
            request: Request::new("a", "b", None).unwrap(),
            volumes: Vec::new(),
            backups: Vec::new(),
            commands: vec![crate::core::volumes::ManageCommand {
                kind: CommandKind::VolumeUpdateHost,
                current_host: "a@x".into(),
                new_host: "b@x".into(),
                moves: Vec::new(),
                after: Vec::new(),
            }],
            backups_in_scope: true,
            warnings: Vec::new(),
        };
        let shown = &planned_commands(&plan, &m)[0];
        assert!(
            !shown.command.contains("pw0rd") && shown.command.contains("mysql://c:***@db"),
            "{}",
            shown.command
        );
        assert!(shown.argv.iter().all(|a| !a.contains("pw0rd")));

        let t = "sqlalchemy: mysql+pymysql://cinder:s3cr3t@db.example:3306/cinder failed\n\
                 connection = postgresql://u@h/db\nadmin_password=hunter2\n";
        let r = redact(t);
        assert!(!r.contains("s3cr3t") && !r.contains("hunter2"), "{r}");
        assert!(
            r.contains("mysql+pymysql://cinder:***@db.example:3306/cinder failed\n"),
            "{r}"
        );
        assert!(r.contains("postgresql://u@h/db"), "{r}");
    }

    #[test]
    fn runs_without_a_shell_and_captures_everything() {
        let m = manage(&["sh", "-c", "echo out; echo err >&2; exit 3", "sh"]);
        let run = m.run(&["$(touch /nonexistent)".to_string()]);
        assert_eq!(run.exit_code, Some(3));
        assert_eq!(run.stdout, "out\n");
        assert_eq!(run.stderr, "err\n");
        assert_eq!(run.summary(), "exit 3: err");
        assert!(!run.ok());

        let run = manage(&["/nonexistent/cinder-manage"]).run(&[]);
        assert_eq!(run.exit_code, None);
        assert!(
            run.summary()
                .contains("cannot run /nonexistent/cinder-manage"),
            "{}",
            run.summary()
        );

        let slow = manage(&["sleep", "5"]).with_timeout(Duration::from_millis(100));
        let run = slow.run(&[]);
        assert_eq!(run.exit_code, None);
        assert!(
            run.summary().starts_with("killed after"),
            "{}",
            run.summary()
        );
    }
}
