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
use std::io::{BufRead as _, IsTerminal, Write as _};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use crate::cli::{Cli, Command, Format, GlobalArgs};
use crate::config::Config;
use crate::error::CliError;
use crate::exit_codes::ExitCode;
use crate::interrupt::{self, Signal};
use crate::journal::{self, Journal, Record};
use crate::lock::{HostLock, HostLockError, HostLocks};
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
    pub fn read_journal(&self) -> anyhow::Result<std::sync::Arc<Vec<Record>>> {
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

    /// Where this run takes host locks (`--lock-dir`, else beside `[lock] file`), naming
    /// itself by its command line.
    pub fn host_locks(&self) -> anyhow::Result<HostLocks> {
        HostLocks::new(
            self.config()?,
            self.global.lock_dir.as_deref(),
            &command_line(),
        )
        .map_err(|e| CliError::new(ExitCode::Config, e).into())
    }

    /// Holds `host` for this run (docs/design.md 2.5), waiting at most `wait` for another run to
    /// let go of it: exit 14 (`locked`) naming the holder otherwise.
    pub fn lock_host(&self, host: &str, wait: Duration) -> anyhow::Result<HostLock> {
        self.host_locks()?
            .acquire(host, wait)
            .map_err(|e| lock_error(&e).into())
    }

    /// Whether [`Context::confirm`] will ask (no `--yes`, and a terminal to ask on).
    pub fn will_ask(&self) -> bool {
        !self.global.yes && std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
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
        let yes = ask(question).context("cannot read the answer")?;
        if yes {
            Ok(())
        } else {
            Err(CliError::new(ExitCode::Aborted, "declined: nothing was done").into())
        }
    }
}

/// A whole line, ended by Enter, and only `y` or `yes` (any case) is yes: a key pressed by
/// mistake, or Enter alone, declines.
pub fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// The question on stderr, the answer from a line of stdin (read in the terminal's own line
/// mode: nothing is taken before Enter, and Ctrl-C stays a signal).
fn ask(question: &str) -> std::io::Result<bool> {
    let mut err = std::io::stderr().lock();
    write!(err, "{question} Type yes and Enter to proceed [no]: ")?;
    err.flush()?;
    drop(err);
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line)? == 0 {
        return Ok(false);
    }
    Ok(is_yes(&line))
}

/// This run as its holder text names it: `evacctl host-evacuate compute-1 --yes`.
fn command_line() -> String {
    let words: Vec<String> = std::env::args().skip(1).collect();
    let mut text = format!("evacctl {}", words.join(" "));
    if text.len() > 200 {
        let cut = (0..=200)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text.truncate(cut);
        text.push_str("...");
    }
    text
}

/// A host lock not taken, as the command's error: held 14, Consul not answering 8, the lock
/// file unusable 1.
pub fn lock_error(e: &HostLockError) -> CliError {
    let code = match e {
        HostLockError::Held { .. } => ExitCode::Locked,
        HostLockError::Consul { .. } => ExitCode::Unreachable,
        HostLockError::Local(_) => ExitCode::Failure,
    };
    CliError::new(code, e.to_string())
}

/// The exit code of a run a signal stopped: 130 (SIGINT) or 143 (SIGTERM).
pub fn signal_code(s: Signal) -> ExitCode {
    match s {
        Signal::Int => ExitCode::Interrupted,
        Signal::Term => ExitCode::Terminated,
    }
}

/// A command's main listing: `-c` picks its columns (an unknown name is a usage error naming
/// the columns there are), `-f value`/`-f csv` print its rows alone.
pub fn print_listing(title: Option<&str>, t: &crate::output::Table) -> anyhow::Result<()> {
    let t = crate::output::selected(t).map_err(CliError::usage)?;
    crate::output::print_rows(title, &t)?;
    Ok(())
}

/// `-f value` and `-f csv` are for commands that list rows: elsewhere they are a usage error
/// rather than a table a script would misread.
pub fn no_rows(command: &str) -> CliError {
    CliError::usage(format!(
        "`evacctl {command}` lists no rows: use -f table or -f json (-f value and -f csv are for check-services, check-consul, ipmi power status, verify, watch --status, host-evacuate --dry-run and migrate-volumes --dry-run)"
    ))
}

/// A failure as one JSON object on stdout (`-f json`), beside the line on stderr: the message,
/// the exit code and its name, and the service's request id when it gave one. Not when the
/// command already printed its report (which says the outcome).
pub fn print_json_error(err: &anyhow::Error, code: ExitCode) {
    if crate::output::json_printed() {
        return;
    }
    let request_id = err.chain().find_map(|c| {
        c.downcast_ref::<openstack::Error>()
            .and_then(openstack::Error::api)
            .or_else(|| c.downcast_ref::<openstack::ApiError>())
            .and_then(|a| a.request_id.clone())
    });
    let doc = serde_json::json!({
        "error": {
            "message": format!("{err:#}"),
            "kind": code.name(),
            "exit_code": code.code(),
            "request_id": request_id,
        }
    });
    if let Err(e) = crate::output::print_json(&doc) {
        tracing::warn!("cannot write the JSON error: {e:#}");
    }
}

/// What `--version -f json` and `evacctl version -f json` print.
#[derive(Debug, serde::Serialize)]
pub struct VersionInfo {
    pub name: &'static str,
    pub version: &'static str,
    pub commit: &'static str,
    pub build_date: &'static str,
}

pub fn version_info() -> VersionInfo {
    VersionInfo {
        name: "evacctl",
        version: env!("CARGO_PKG_VERSION"),
        commit: env!("EVACCTL_GIT_COMMIT"),
        build_date: env!("EVACCTL_BUILD_DATE"),
    }
}

fn version(ctx: &Context) -> anyhow::Result<ExitCode> {
    match ctx.format() {
        Format::Json => crate::output::print_json(&version_info())?,
        _ => crate::outln!("evacctl {}", crate::cli::LONG_VERSION),
    }
    Ok(ExitCode::Success)
}

/// Run the chosen subcommand; `Ok` carries the exit code for commands whose result is a
/// verdict (checks), `Err` a failure that `main` maps to its code.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Watch(_) => interrupt::install(interrupt::Mode::Record),
        Command::Completions(_) | Command::GenAssets(_) | Command::Version => {}
        _ => interrupt::install(interrupt::Mode::ExitWhenIdle),
    }
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
        Command::Version => version(ctx),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_typed_yes_confirms() {
        for yes in ["y\n", "yes\n", "YES\n", " Yes \r\n", "y"] {
            assert!(is_yes(yes), "{yes:?}");
        }
        for no in [
            "\n",
            "",
            "n\n",
            "no\n",
            "yy\n",
            "yes please\n",
            "ja\n",
            "\u{3}",
        ] {
            assert!(!is_yes(no), "{no:?}");
        }
    }
}
