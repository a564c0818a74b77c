//! One module per subcommand, each a thin `run()` over library code.

pub mod assets;
pub mod check_consul;
pub mod check_services;
pub mod evacuate;
pub mod host_evacuate;
pub mod ipmi_power;
pub mod migrate_volumes;
pub mod restore;
pub mod verify;
pub mod watch;

use std::cell::OnceCell;
use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context as _;

use crate::cli::{Cli, Command, Format, GlobalArgs};
use crate::config::Config;
use crate::error::CliError;
use crate::exit_codes::ExitCode;
use crate::journal::{self, Journal, Record};
use crate::openstack;
use crate::steps::{Refusal, RefusalKind};

/// What every command gets: the global options, and the configuration and OpenStack session,
/// each loaded on first use (so `completions` needs neither, and `check-services` needs no
/// config file).
pub struct Context {
    pub global: GlobalArgs,
    config: OnceCell<Config>,
    session: OnceCell<openstack::Session>,
}

impl Context {
    pub fn new(global: GlobalArgs) -> Self {
        Context {
            global,
            config: OnceCell::new(),
            session: OnceCell::new(),
        }
    }

    pub fn format(&self) -> Format {
        self.global.format
    }

    pub fn config(&self) -> anyhow::Result<&Config> {
        if let Some(c) = self.config.get() {
            return Ok(c);
        }
        let loaded = Config::load(self.global.config.as_deref())?;
        Ok(self.config.get_or_init(|| loaded))
    }

    /// The OpenStack session: cloud from --os-cloud/OS_CLOUD, else the config's
    /// `cloud.os_cloud`, else plain OS_* variables.
    pub fn session(&self) -> anyhow::Result<&openstack::Session> {
        if let Some(s) = self.session.get() {
            return Ok(s);
        }
        let config = self.config()?;
        let selection = openstack::CloudSelection {
            cloud: self
                .global
                .os_cloud
                .clone()
                .or_else(|| config.cloud.os_cloud.clone()),
            region: self
                .global
                .os_region_name
                .clone()
                .or_else(|| config.cloud.region_name.clone()),
            api_timeout: Some(config.cloud.api_timeout),
            retries: Some(config.cloud.retries),
        };
        let cloud = openstack::CloudConfig::resolve(&selection)?;
        let session = openstack::Session::new(cloud).context("cannot open an OpenStack session")?;
        Ok(self.session.get_or_init(|| session))
    }

    /// The journal file, for every command: `--journal`, else `EVACCTL_JOURNAL` (clap reads
    /// it into the same option), else the config's `[journal] path`.
    pub fn journal_path(&self) -> anyhow::Result<PathBuf> {
        match &self.global.journal {
            Some(p) => Ok(p.clone()),
            None => Ok(self.config()?.journal.path.clone()),
        }
    }

    /// Every record of the journal (none when it does not exist yet).
    pub fn read_journal(&self) -> anyhow::Result<Vec<Record>> {
        let path = self.journal_path()?;
        let (records, bad) = journal::read(&path)?;
        if bad > 0 {
            tracing::warn!(
                "journal {}: {bad} line(s) could not be read and were skipped",
                path.display()
            );
        }
        Ok(records)
    }

    /// The journal, open for appending.
    pub fn open_journal(&self) -> anyhow::Result<Journal> {
        let path = self.journal_path()?;
        Journal::open_for_command(&path, std::env::args_os()).map_err(|e| {
            CliError::new(
                ExitCode::Failure,
                format!("{e}: nothing was done (set --journal FILE or [journal] path)"),
            )
            .into()
        })
    }

    /// Ask before an action. `--yes` skips the question; without a terminal to ask on, refuse
    /// (exit code `confirmation-required`) rather than hang or proceed.
    pub fn confirm(&self, question: &str) -> anyhow::Result<()> {
        if self.global.yes {
            return Ok(());
        }
        if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
            return Err(CliError::new(
                ExitCode::ConfirmationRequired,
                "confirmation required but there is no terminal to ask on: re-run with --yes to proceed (nothing was done)",
            )
            .into());
        }
        let yes = dialoguer::Confirm::new()
            .with_prompt(question)
            .default(false)
            .interact()
            .context("cannot read the answer")?;
        if yes {
            Ok(())
        } else {
            Err(CliError::new(ExitCode::Aborted, "declined: nothing was done").into())
        }
    }
}

/// Run the chosen subcommand; `Ok` carries the exit code for commands whose result is a
/// verdict (checks), `Err` a failure that `main` maps to its code.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let ctx = Context::new(cli.global);
    run_command(&ctx, cli.command).map_err(with_exit_code)
}

/// The exit code of a step's refusal.
pub fn refusal_code(kind: RefusalKind) -> ExitCode {
    match kind {
        RefusalKind::BadInput => ExitCode::Usage,
        RefusalKind::Unsafe => ExitCode::Refused,
        RefusalKind::Incomplete => ExitCode::Partial,
    }
}

/// A step's refusal as the error the command ends with.
pub fn refusal_error(r: &Refusal) -> CliError {
    CliError::new(refusal_code(r.kind), r.reason.clone())
}

/// Steps choose no exit codes: a refusal in an error's chain (and no code chosen above it)
/// becomes a [`CliError`] with its code, the message unchanged.
fn with_exit_code(e: anyhow::Error) -> anyhow::Error {
    for cause in e.chain() {
        if cause.downcast_ref::<CliError>().is_some() {
            return e;
        }
        if let Some(r) = cause.downcast_ref::<Refusal>() {
            return CliError::new(refusal_code(r.kind), format!("{e:#}")).into();
        }
    }
    e
}

fn run_command(ctx: &Context, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::CheckServices(args) => check_services::run(ctx, &args),
        Command::Completions(args) => assets::completions(&args),
        Command::GenAssets(args) => assets::gen_assets(&args),
        Command::CheckConsul(args) => check_consul::run(ctx, &args),
        Command::Ipmi(crate::cli::IpmiCommand::Power(action)) => ipmi_power::run(ctx, &action),
        Command::MigrateVolumes(args) => migrate_volumes::run(ctx, &args),
        Command::Evacuate(args) => evacuate::run(ctx, &args),
        Command::HostEvacuate(args) => host_evacuate::run(ctx, &args),
        Command::Verify(args) => verify::run(ctx, &args),
        Command::Watch(args) => watch::run(ctx, &args),
        Command::Restore(args) => restore::run(ctx, &args),
    }
}
