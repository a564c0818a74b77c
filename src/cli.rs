//! The command line: every subcommand, option and help text. Completions and man pages are
//! generated from these definitions (`evacctl completions`, hidden `evacctl gen-assets`).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use crate::logging::LogFormat;

const ABOUT: &str = "Runbook automation for a failed OpenStack compute node";

const LONG_ABOUT: &str = "\
evacctl automates the runbook for a failed OpenStack compute node: see that the cluster is \
healthy, see which host is dead, fence it (power confirmed off), move its Cinder volumes, \
evacuate its servers to healthy hosts and verify them; by hand, one step at a time, or \
unattended with `evacctl watch`.

Runbook steps:
  0  check-consul      Consul clusters (management, storage, tenant) and a per-host verdict
  1  check-services    Nova and Cinder services, and which hosts are down and why
  2  ipmi power        a host's power state; fence (off, confirmed) or recover (on)
  3  migrate-volumes   re-home the dead host's Cinder volumes and backups
  4  evacuate          one server / host-evacuate: every evacuable server of a host
  5  verify            evacuated servers are running elsewhere, nothing left behind
  -  watch             all of the above, unattended, with safety gates

OpenStack credentials come from clouds.yaml (--os-cloud / OS_CLOUD) or OS_* variables, as \
for the `openstack` client.";

fn after_long_help() -> String {
    format!(
        "{}\nEnvironment:\n  OS_CLOUD, OS_REGION_NAME, OS_CLIENT_CONFIG_FILE, OS_AUTH_URL, OS_*   as for the `openstack` client\n  EVACCTL_CONFIG   the configuration file (default /etc/evacctl/config.toml)\n  EVACCTL_JOURNAL  the journal file (default: the config's journal.path)\n",
        crate::exit_codes::help_text()
    )
}

/// `evacctl --version`: the version, the git commit and the build date (build.rs).
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("EVACCTL_GIT_COMMIT"),
    ", built ",
    env!("EVACCTL_BUILD_DATE"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "evacctl",
    version = LONG_VERSION,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_long_help = after_long_help(),
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Cloud name in clouds.yaml (as `openstack --os-cloud`)
    #[arg(
        long,
        env = "OS_CLOUD",
        global = true,
        value_name = "NAME",
        hide_env_values = true
    )]
    pub os_cloud: Option<String>,

    /// Region name (overrides the cloud's region_name)
    #[arg(
        long,
        env = "OS_REGION_NAME",
        global = true,
        value_name = "REGION",
        hide_env_values = true
    )]
    pub os_region_name: Option<String>,

    /// evacctl configuration file [default: /etc/evacctl/config.toml when it exists]
    #[arg(
        long,
        env = "EVACCTL_CONFIG",
        global = true,
        value_name = "FILE",
        hide_env_values = true
    )]
    pub config: Option<PathBuf>,

    /// Output format: table for people; json for scripts (stable field names); value (the
    /// cells of each row, space-separated, for shell loops) or csv, for commands that list rows
    #[arg(short = 'f', long, value_enum, default_value_t = Format::Table, global = true)]
    pub format: Format,

    /// A column to show, by its table header (any case; repeatable, in this order): for
    /// table, value and csv output of commands that list rows
    #[arg(short = 'c', long = "column", global = true, value_name = "NAME")]
    pub columns: Vec<String>,

    /// Lines of tables at most N characters [default: COLUMNS, else the terminal's width;
    /// whole lines when stdout is not a terminal]
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(20..))]
    pub max_width: Option<u16>,

    /// Answer yes to confirmations (required when there is no terminal to ask on)
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,

    /// More log output on stderr: -v debug, -vv trace, -vvv trace of libraries too
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Less log output: warnings and errors only
    #[arg(short = 'q', long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Also append log lines to FILE
    #[arg(long, global = true, value_name = "FILE")]
    pub log_file: Option<PathBuf>,

    /// Log lines as text (for people) or json (one object per line, for a log shipper)
    #[arg(
        long,
        value_enum,
        env = "EVACCTL_LOG_FORMAT",
        default_value_t = LogFormat::Text,
        global = true
    )]
    pub log_format: LogFormat,

    /// The journal of actions (JSON lines) [default: the config's journal.path,
    /// /var/lib/evacctl/journal.jsonl]
    #[arg(
        long,
        env = "EVACCTL_JOURNAL",
        global = true,
        value_name = "FILE",
        hide_env_values = true
    )]
    pub journal: Option<PathBuf>,

    /// Directory of the per-host lock files that keep two runs from acting on one host at
    /// once [default: the directory of the config's lock.file, /run/evacctl]
    #[arg(
        long,
        env = "EVACCTL_LOCK_DIR",
        global = true,
        value_name = "DIR",
        hide_env_values = true
    )]
    pub lock_dir: Option<PathBuf>,
}

/// How long a run waits for a host another run is acting on.
#[derive(Debug, Clone, Args)]
pub struct LockArgs {
    /// When another run acts on the host, wait this long for it (e.g. 60s) before giving up
    /// with exit 14 (default: do not wait)
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_wait)]
    pub wait_lock: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Value,
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Step 0: Consul clusters, leaders and quorum, and a per-host network verdict
    #[command(
        long_about = "Step 0 of the runbook. For each configured Consul cluster (one per network: \
management, storage, tenant): reachable or not, its leader, raft peers and voters, autopilot \
health and members by status. Then one row per compute host and one column per network, with a \
verdict: storage down = failed (fence and evacuate); management or tenant down alone = degraded \
(notify only); every network down = failed. Also says when this controller itself looks cut off.",
        after_help = "Examples:\n  evacctl check-consul\n  evacctl check-consul --cluster storage -f json\n  evacctl check-consul --host compute-3\n  CONSUL_HTTP_ADDR=127.0.0.1:8500 evacctl check-consul   # one cluster, no config file"
    )]
    CheckConsul(CheckConsulArgs),

    /// Step 1: Nova and Cinder services; which compute hosts are down and why
    #[command(
        long_about = "Step 1 of the runbook (the pre-check of `nova service-list`). Lists every Nova \
service, nova-compute first, with its zone, status, state, forced_down flag, disabled reason, \
the age of its last heartbeat and a verdict (ok, down, forced-down, disabled), and the Cinder \
services beside them (cinder-volume as host@backend). Exits 0 only when every nova-compute is \
enabled and up.",
        after_help = "Examples:\n  evacctl check-services\n  evacctl --os-cloud prod check-services --host compute-7 -f json\n  evacctl check-services --binary nova-compute || echo 'a compute host is down'"
    )]
    CheckServices(CheckServicesArgs),

    /// Step 2: power state of hosts through their BMCs; fence (off) or recover (on)
    #[command(subcommand)]
    Ipmi(IpmiCommand),

    /// Step 3: move a dead host's Cinder volumes and backups to a validated healthy host
    #[command(
        long_about = "Step 3 of the runbook. Lists the volumes (and backups) whose Cinder host is \
FAILED_HOST, validates that NEW_HOST runs an enabled, up cinder-volume of the same backend, \
shows the plan and the exact `cinder-manage` commands, asks for confirmation, runs them, then \
proves that nothing is left on FAILED_HOST. cinder-manage validates nothing itself: a typo in \
a host name silently does nothing; evacctl refuses it before anything runs.",
        after_help = "Examples:\n  evacctl migrate-volumes compute-3 --to compute-4 --dry-run\n  evacctl migrate-volumes compute-3 --to compute-4 --backend ceph --yes"
    )]
    MigrateVolumes(MigrateVolumesArgs),

    /// Step 4: evacuate one server from its failed host
    #[command(
        long_about = "Step 4 of the runbook, for one server (like `nova evacuate`). Before calling \
Nova it explains what Nova would refuse: the source nova-compute still up (fence it, then force \
it down), a server state that cannot be evacuated, a target that is the source, unknown, down \
or disabled. Never sends a second evacuation for a server whose evacuation is still running.",
        after_help = "Examples:\n  evacctl evacuate web-01\n  evacctl evacuate 8e27d16f-cea8-4324-8fef-6511688d95ae --target compute-2"
    )]
    Evacuate(EvacuateArgs),

    /// Step 4: evacuate every evacuable server of a failed host, after a capacity plan
    #[command(
        long_about = "Step 4 of the runbook, for a whole host (like `nova host-evacuate`, but safe). \
Lists the host's servers and says which are evacuable and why not; plans capacity from \
Placement on the target hosts; refuses when not everything fits (or evacuates what fits with \
--allow-partial); asks for confirmation; evacuates in parallel; journals every request so a \
second run does nothing twice.",
        after_help = "Examples:\n  evacctl host-evacuate compute-3 --dry-run\n  evacctl host-evacuate compute-3 --force-down --target compute-1 --target compute-2\n  evacctl host-evacuate compute-3 --yes -f json"
    )]
    HostEvacuate(HostEvacuateArgs),

    /// Step 5: verify that a host's evacuated servers run elsewhere and nothing is left behind
    #[command(
        long_about = "Step 5 of the runbook. For the servers evacuated from HOST (from the journal \
and from Nova's evacuation migrations): on another host, in the state they had, migration done; \
and no Cinder volume left on HOST. Each server's verdict and the host it now runs on are \
journaled once (an existing journal only: verify never creates one), so `watch --status` shows \
where each server went.",
        after_help = "Examples:\n  evacctl verify compute-3\n  evacctl verify compute-3 --wait --timeout 10m"
    )]
    Verify(VerifyArgs),

    /// The whole runbook unattended: detect, confirm, fence, isolate, move volumes, evacuate, verify
    #[command(
        long_about = "Runs steps 0-5 automatically, in a loop or once (--once, for cron), with safety \
gates: a failure must be seen in several consecutive cycles; nothing is done when too many \
hosts fail at once or when this controller looks cut off; only the holder of the lock acts; \
no evacuation without confirmed fencing.",
        after_help = "Examples:\n  evacctl watch --once --dry-run\n  evacctl watch --interval 10s\n  evacctl watch --status"
    )]
    Watch(WatchArgs),

    /// Return a repaired host to service: unset forced-down, enable, clear its state
    #[command(
        long_about = "The operator's step after a host has been repaired: refuses while the host is \
still down (its BMC says off, it is not alive in every Consul network, or its nova-compute \
writes no heartbeat) and while Nova still holds `done` evacuations from it; then unsets \
forced_down, enables the service and records the host `restored` in the journal, so that \
`watch` treats it as healthy again.",
        after_help = "Examples:\n  evacctl restore compute-3 --dry-run\n  evacctl restore compute-3\n  evacctl restore compute-3 --yes -f json"
    )]
    Restore(RestoreArgs),

    /// Print the version, git commit and build date (`-f json` for a script)
    #[command(after_help = "Examples:\n  evacctl version\n  evacctl version -f json")]
    Version,

    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    #[command(
        after_help = "Examples:\n  evacctl completions bash > /etc/bash_completion.d/evacctl\n  evacctl completions zsh > \"${fpath[1]}/_evacctl\""
    )]
    Completions(CompletionsArgs),

    /// Write completions and man pages into a directory (for packaging)
    #[command(hide = true)]
    GenAssets(GenAssetsArgs),
}

#[derive(Debug, Args)]
pub struct CheckConsulArgs {
    /// Only this cluster (repeatable)
    #[arg(long, value_name = "NAME")]
    pub cluster: Vec<String>,

    /// Only this compute host (repeatable; its Nova host name)
    #[arg(long, value_name = "HOST")]
    pub host: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CheckServicesArgs {
    /// Only services of this host (repeatable)
    #[arg(long, value_name = "HOST")]
    pub host: Vec<String>,

    /// Only services with this binary, e.g. nova-compute, cinder-volume (repeatable)
    #[arg(long, value_name = "BINARY")]
    pub binary: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum IpmiCommand {
    /// Chassis power: status, on, off, cycle
    #[command(subcommand)]
    Power(PowerAction),
}

#[derive(Debug, Subcommand)]
pub enum PowerAction {
    /// Show the power state of hosts' BMCs (in parallel)
    #[command(
        after_help = "Examples:\n  evacctl ipmi power status --all\n  evacctl ipmi power status compute-1 compute-2 -f json"
    )]
    Status(PowerTargets),
    /// Power hosts on (asks for confirmation)
    #[command(after_help = "Examples:\n  evacctl ipmi power on compute-3")]
    On(PowerTargets),
    /// Power hosts off; with --wait, poll until the BMC confirms off (fencing)
    #[command(
        after_help = "Examples:\n  evacctl ipmi power off compute-3 --wait\n  evacctl ipmi power off compute-3 --wait --yes"
    )]
    Off(PowerOffArgs),
    /// Power-cycle hosts (asks for confirmation)
    #[command(after_help = "Examples:\n  evacctl ipmi power cycle compute-3")]
    Cycle(PowerTargets),
}

#[derive(Debug, Args)]
pub struct PowerTargets {
    /// Hosts (as named in the config's [hosts] table)
    #[arg(value_name = "HOST", required_unless_present = "all")]
    pub hosts: Vec<String>,

    /// Every host with a BMC in the config
    #[arg(long, conflicts_with = "hosts")]
    pub all: bool,

    // Actions (not status) hold each host.
    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Debug, Args)]
pub struct PowerOffArgs {
    #[command(flatten)]
    pub targets: PowerTargets,

    /// Poll until the BMC confirms off (check_max_count x check_interval); fail otherwise
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, Args)]
pub struct MigrateVolumesArgs {
    /// The failed host whose volumes move (its cinder-volume host name)
    #[arg(value_name = "FAILED_HOST")]
    pub failed_host: String,

    /// The healthy host that takes them over
    #[arg(long = "to", value_name = "NEW_HOST")]
    pub to: String,

    /// Only this backend (default: every backend of FAILED_HOST)
    #[arg(long, value_name = "NAME")]
    pub backend: Option<String>,

    /// Print the plan and the commands; change nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Debug, Args)]
pub struct EvacuateArgs {
    /// Server name or UUID
    #[arg(value_name = "SERVER")]
    pub server: String,

    /// Target host (default: the scheduler chooses)
    #[arg(long, value_name = "HOST")]
    pub target: Option<String>,

    /// Evacuate even when the BMC, Consul or the node-local checks say the host may be alive
    /// (it is then not fenced: its servers' disks may be written from two places). Recorded
    /// in the journal
    #[arg(long)]
    pub no_fence_check: bool,

    /// Print the request; change nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Debug, Args)]
pub struct HostEvacuateArgs {
    /// The failed host (nova-compute host name)
    #[arg(value_name = "HOST")]
    pub host: String,

    /// Target host (repeatable; default: every other enabled, up host, the scheduler chooses)
    #[arg(long, value_name = "HOST")]
    pub target: Vec<String>,

    /// Evacuations in flight at once
    // 15: from the curve in BENCHMARKS.md (nova-api's workers against time saved).
    #[arg(long, value_name = "N", default_value_t = 15, value_parser = clap::value_parser!(u16).range(1..=200))]
    pub concurrency: u16,

    /// Evacuate what fits when not everything does
    #[arg(long)]
    pub allow_partial: bool,

    /// Confirm power off through the BMC, then force the service down and disable it
    #[arg(long)]
    pub force_down: bool,

    /// Evacuate even when the BMC, Consul or the node-local checks say the host may be alive
    /// (it is then not fenced: its servers' disks may be written from two places). Recorded
    /// in the journal
    #[arg(long)]
    pub no_fence_check: bool,

    /// Print the plan and every request; change nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The host servers were evacuated from
    #[arg(value_name = "HOST")]
    pub host: String,

    /// Poll until everything is verified or the timeout
    #[arg(long)]
    pub wait: bool,

    /// How long --wait waits, e.g. 90s, 10m
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_timeout)]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Run one cycle and exit (for cron)
    #[arg(long)]
    pub once: bool,

    /// Time between cycles (default: the config's policy.interval)
    #[arg(long, value_name = "DURATION", value_parser = parse_interval)]
    pub interval: Option<Duration>,

    /// Observe and decide, change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Print each host's state and the evacuation history from the journal, then exit
    #[arg(long, conflicts_with_all = ["once", "dry_run"])]
    pub status: bool,

    /// Send a test event through every configured notification channel and wait for the
    /// deliveries: exit 0 when all delivered, 12 (partial) naming each channel that failed
    #[arg(long, conflicts_with_all = ["once", "dry_run", "status"])]
    pub test_notify: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The repaired host
    #[arg(value_name = "HOST")]
    pub host: String,

    /// A forced-down service counts as running when its updated_at is at most this old
    /// (Nova's service_down_time is 60s by default)
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_age)]
    pub max_heartbeat_age: Duration,

    /// Print the checks and every request; change nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct GenAssetsArgs {
    /// Directory to write completions/ and man/ into
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
}

/// Durations as operators write them: 90s, 10m, 1h30m.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("invalid duration `{s}`: {e} (examples: 30s, 10m, 1h)"))
}

/// A duration within `[min, max]`: flags bounded like the configuration's durations, so that
/// `0s` is no busy loop and a huge value no overflow.
fn duration_in(s: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    match crate::core::time::out_of_range(d, min, max) {
        Some(why) => Err(why),
        None => Ok(d),
    }
}

const DAY: Duration = Duration::from_secs(86_400);

/// `watch --interval`: the range of `policy.interval`.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let (min, max) = crate::config::INTERVAL;
    duration_in(s, min, max)
}

/// `verify --timeout`: a second to a week.
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    duration_in(s, Duration::from_secs(1), 7 * DAY)
}

/// `--wait-lock`: none to a day.
pub fn parse_wait(s: &str) -> Result<Duration, String> {
    duration_in(s, Duration::ZERO, DAY)
}

/// `restore --max-heartbeat-age`: a second to a day.
pub fn parse_age(s: &str) -> Result<Duration, String> {
    duration_in(s, Duration::from_secs(1), DAY)
}

/// The clap command, for generators and tests.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_are_consistent() {
        command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").ok(), Some(Duration::from_secs(90)));
        assert!(parse_duration("ten minutes").is_err());
        // Bounded flags: no busy loop, no overflow.
        assert!(parse_interval("0s").unwrap_err().contains("out of range"));
        assert!(parse_interval("18446744073709551615s").is_err());
        assert_eq!(parse_interval("2s").ok(), Some(Duration::from_secs(2)));
        assert!(parse_timeout("0s").is_err());
        assert!(parse_timeout("8days").is_err());
        assert_eq!(parse_wait("0s").ok(), Some(Duration::ZERO));
        assert!(parse_age("2days").is_err());
    }
}
