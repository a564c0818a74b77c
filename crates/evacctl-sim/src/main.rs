//! `evacctl-sim`: the simulated cloud (serve) and its remote control (ctl).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use evacctl_sim::ctl::{ControlClient, fault_spec};
use evacctl_sim::{Scenario, files};

#[derive(Parser)]
#[command(
    name = "evacctl-sim",
    version,
    about = "A simulated OpenStack cloud for evacctl's tests and demos"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the simulated cloud until SIGTERM or SIGINT.
    ///
    /// Prints `evacctl-sim listening on http://127.0.0.1:PORT` once it accepts connections,
    /// then one line per simulated Consul cluster, `evacctl-sim consul NAME listening on
    /// http://127.0.0.1:PORT`; logs go to stderr.
    Serve {
        /// Scenario file (TOML); the embedded scenarios/default.toml when absent.
        #[arg(long, value_name = "FILE")]
        scenario: Option<PathBuf>,
        /// Loopback address to listen on; port 0 picks a free port.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Write a clouds.yaml with one cloud named `sim` (the scenario's first user).
        #[arg(long, value_name = "PATH")]
        clouds_yaml: Option<PathBuf>,
        /// Write `export OS_...=...` lines (sh) for the scenario's first user.
        #[arg(long, value_name = "PATH")]
        env_file: Option<PathBuf>,
        /// Write an evacctl config.toml for this cloud: compute hosts fenced through the
        /// simulated Redfish BMCs (the BMC password beside it, in `bmc.password`) and its
        /// [consul.NAME] clusters (the Consul ACL token in PATH.consul-token, when set).
        #[arg(long, value_name = "PATH")]
        evacctl_config: Option<PathBuf>,
    },
    /// Drive a running simulated cloud through its control API.
    Ctl {
        /// The simulated cloud's URL, as printed by `serve`.
        #[arg(long, env = "EVACCTL_SIM_URL", value_name = "URL")]
        url: String,
        #[command(subcommand)]
        action: CtlAction,
    },
    /// Cinder's cinder-manage for the simulated cloud (volume update_host, backup list and
    /// update_backup_host), with the real tool's arguments, output and exit codes.
    CinderManage(evacctl_sim::cinder_manage::Args),
}

#[derive(Subcommand)]
enum CtlAction {
    /// Cut a host's power: its services stop heartbeating.
    PowerOff { host: String },
    /// Restore a host's power: its services heartbeat again at once.
    PowerOn { host: String },
    /// A host that will not come back: its power is cut now; a later power-on (BMC or
    /// power-on) shows power on but it hangs at boot, until hardware-repair.
    HardwareFault { host: String },
    /// Clear a hardware fault: the next power-on boots normally.
    HardwareRepair { host: String },
    /// Kill one service on a host (it stays dead across power cycles).
    Crash { host: String, binary: String },
    /// Restart a crashed service.
    Start { host: String, binary: String },
    /// Set a host's BMC fault: none, lying (acknowledges power off, stays on), failing (500),
    /// and a latency.
    Bmc {
        host: String,
        #[arg(long, default_value = "none", value_parser = ["none", "lying", "failing"])]
        fault: String,
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
    },
    /// The service keeps running but Nova stops hearing its heartbeat (`start` reconnects).
    Disconnect { host: String, binary: String },
    /// Cut a host from one Consul network (a cluster name, a role, or `all`): failed there.
    NetCut { host: String, network: String },
    /// Make a host leave one Consul network gracefully: left there.
    NetLeave { host: String, network: String },
    /// Undo a cut or a leave.
    NetRestore { host: String, network: String },
    /// Take a Consul cluster's leader away (a cluster name, a role, or `all`).
    LeaderLose { cluster: String },
    /// Give a Consul cluster its leader back.
    LeaderRestore { cluster: String },
    /// Cut the Consul agent evacctl talks to off its cluster (a cluster name, a role, or `all`).
    ObserverCut { cluster: String },
    /// Reconnect the observer's agent.
    ObserverRestore { cluster: String },
    /// Print the simulated Consul clusters (JSON).
    Consul,
    /// Invalidate every token issued so far.
    RevokeTokens,
    /// Print every token issued (JSON).
    Tokens,
    /// Print the whole world (JSON).
    State,
    /// Print the log of API requests received (JSON).
    Requests,
    /// Inject, list or clear faults.
    Fault {
        #[command(subcommand)]
        action: FaultAction,
    },
}

#[derive(Subcommand)]
enum FaultAction {
    /// The next COUNT matching requests get STATUS (and BODY), or just extra latency.
    Add {
        /// Only requests whose path (with query) contains this text.
        #[arg(long, default_value = "")]
        path_contains: String,
        /// Only requests with this HTTP method.
        #[arg(long)]
        method: Option<String>,
        /// Answer with this HTTP status.
        #[arg(long)]
        status: Option<u16>,
        /// Raw body sent with the status (may be malformed JSON on purpose).
        #[arg(long)]
        body: Option<String>,
        #[arg(long, default_value_t = 1)]
        count: u32,
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
    },
    /// List the faults still armed.
    List,
    /// Remove every fault.
    Clear,
}

/// How long in-flight requests may run on after SIGTERM/SIGINT.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            scenario,
            listen,
            clouds_yaml,
            env_file,
            evacctl_config,
        } => {
            init_logging();
            match serve(scenario, listen, clouds_yaml, env_file, evacctl_config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("evacctl-sim: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::CinderManage(args) => ExitCode::from(evacctl_sim::cinder_manage::run(
            &args,
            &mut std::io::stdout(),
            &mut std::io::stderr(),
        )),
        Command::Ctl { url, action } => match ctl(&url, action) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("evacctl-sim ctl: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("EVACCTL_SIM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

fn serve(
    scenario_path: Option<PathBuf>,
    listen: SocketAddr,
    clouds_yaml: Option<PathBuf>,
    env_file: Option<PathBuf>,
    evacctl_config: Option<PathBuf>,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let scenario = match &scenario_path {
        Some(p) => Scenario::load(p)?,
        None => Scenario::builtin_default()?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let bound = evacctl_sim::bind(&scenario, listen).await?;
        let url = bound.url().to_string();
        // The files first: whoever reads the "listening" line may use them at once.
        if let Some(p) = &clouds_yaml {
            let text = files::clouds_yaml(&scenario, &url).context("the scenario has no user")?;
            files::write_private(p, &text)
                .with_context(|| format!("cannot write {}", p.display()))?;
        }
        if let Some(p) = &env_file {
            let text = files::env_file(&scenario, &url).context("the scenario has no user")?;
            files::write_private(p, &text)
                .with_context(|| format!("cannot write {}", p.display()))?;
        }
        if let Some(p) = &evacctl_config {
            let password = p.with_file_name("bmc.password");
            files::write_private(&password, &format!("{}\n", scenario.bmc.password))
                .with_context(|| format!("cannot write {}", password.display()))?;
            let world = bound.world();
            let consul = world.lock().consul.clone();
            let token_file = match &consul.token {
                Some(token) => {
                    let mut name = p.as_os_str().to_owned();
                    name.push(".consul-token");
                    let path = PathBuf::from(name);
                    files::write_private(&path, &format!("{token}\n"))
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    Some(path)
                }
                None => None,
            };
            // watch's leader lock lives in the management cluster.
            let lock_cluster = consul
                .clusters
                .iter()
                .find(|c| c.url.is_some() && c.role == evacctl_sim::consul::ConsulRole::Management)
                .map(|c| c.name.clone());
            let sim_exe = std::env::current_exe().ok();
            let text = format!(
                "{}{}\n{}",
                files::evacctl_config(&scenario, bound.local_addr(), "bmc.password"),
                files::watch_config(lock_cluster.as_deref(), sim_exe.as_deref(), &url),
                evacctl_sim::consul::evacctl_config(&consul, token_file.as_deref())
            );
            files::write_private(p, &text)
                .with_context(|| format!("cannot write {}", p.display()))?;
        }
        let origin = scenario_path
            .as_ref()
            .map_or("embedded default".to_string(), |p| p.display().to_string());
        tracing::info!("scenario {origin}: {} hosts", scenario.hosts.len());
        // The handlers are in place before the address is announced: a SIGTERM sent as soon
        // as the line is read must stop the server cleanly, not kill it.
        let signals = shutdown_signals();
        let mut out = std::io::stdout().lock();
        writeln!(out, "evacctl-sim listening on {url}").context("cannot write to stdout")?;
        for (name, consul_url) in bound.consul_urls() {
            writeln!(out, "evacctl-sim consul {name} listening on {consul_url}")
                .context("cannot write to stdout")?;
        }
        out.flush().context("cannot write to stdout")?;
        drop(out);
        // On a signal, stop accepting and give in-flight requests a moment (an injected
        // latency may hold one for minutes), then stop regardless.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal(signals).await;
            let _ = stop_tx.send(true);
        });
        let mut serve_rx = stop_rx.clone();
        let serve = bound.serve(async move {
            let _ = serve_rx.wait_for(|stop| *stop).await;
        });
        let mut grace_rx = stop_rx;
        tokio::select! {
            done = serve => done?,
            _ = async {
                let _ = grace_rx.wait_for(|stop| *stop).await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => tracing::warn!("requests still in flight after {SHUTDOWN_GRACE:?}: stopping anyway"),
        }
        tracing::info!("stopped");
        anyhow::Ok(())
    })
}

type Signals = (
    std::io::Result<tokio::signal::unix::Signal>,
    std::io::Result<tokio::signal::unix::Signal>,
);

/// SIGTERM and SIGINT handlers, installed at once.
fn shutdown_signals() -> Signals {
    use tokio::signal::unix::{SignalKind, signal};
    (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    )
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal((term, int): Signals) {
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: stopping"),
                _ = int.recv() => tracing::info!("SIGINT: stopping"),
            }
        }
        _ => {
            // Without signal handlers the default actions still stop the process.
            tracing::warn!("cannot install signal handlers");
            std::future::pending::<()>().await
        }
    }
}

fn ctl(url: &str, action: CtlAction) -> Result<(), evacctl_sim::ctl::CtlError> {
    let c = ControlClient::new(url)?;
    let print_json = |v: &serde_json::Value| {
        println!(
            "{}",
            serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
        );
    };
    match action {
        CtlAction::PowerOff { host } => {
            c.power_off(&host)?;
            println!("{host}: power off");
        }
        CtlAction::PowerOn { host } => {
            c.power_on(&host)?;
            println!("{host}: power on");
        }
        CtlAction::HardwareFault { host } => {
            c.hardware_fault(&host)?;
            println!("{host}: hardware fault (power off; it will hang at boot)");
        }
        CtlAction::HardwareRepair { host } => {
            c.hardware_repair(&host)?;
            println!("{host}: hardware repaired (the next power-on boots)");
        }
        CtlAction::Crash { host, binary } => {
            c.crash(&host, &binary)?;
            println!("{host}: {binary} crashed");
        }
        CtlAction::Start { host, binary } => {
            c.start(&host, &binary)?;
            println!("{host}: {binary} started");
        }
        CtlAction::Bmc {
            host,
            fault,
            latency_ms,
        } => {
            c.set_bmc(&host, &fault, latency_ms)?;
            println!("{host}: BMC fault {fault}, latency {latency_ms} ms");
        }
        CtlAction::Disconnect { host, binary } => {
            c.disconnect(&host, &binary)?;
            println!("{host}: {binary} disconnected (running, no heartbeat)");
        }
        CtlAction::NetCut { host, network } => {
            c.network(&host, &network, "cut")?;
            println!("{host}: cut from {network}");
        }
        CtlAction::NetLeave { host, network } => {
            c.network(&host, &network, "leave")?;
            println!("{host}: left {network}");
        }
        CtlAction::NetRestore { host, network } => {
            c.network(&host, &network, "restore")?;
            println!("{host}: back in {network}");
        }
        CtlAction::LeaderLose { cluster } => {
            c.consul_switch(&cluster, "leader", "lose")?;
            println!("{cluster}: leader lost");
        }
        CtlAction::LeaderRestore { cluster } => {
            c.consul_switch(&cluster, "leader", "restore")?;
            println!("{cluster}: leader back");
        }
        CtlAction::ObserverCut { cluster } => {
            c.consul_switch(&cluster, "observer", "cut")?;
            println!("{cluster}: observer cut off");
        }
        CtlAction::ObserverRestore { cluster } => {
            c.consul_switch(&cluster, "observer", "restore")?;
            println!("{cluster}: observer back");
        }
        CtlAction::Consul => print_json(&c.consul()?),
        CtlAction::RevokeTokens => {
            let v = c.revoke_tokens()?;
            println!("revoked {} valid tokens", v["revoked"]);
        }
        CtlAction::Tokens => print_json(&c.tokens()?),
        CtlAction::State => print_json(&c.state()?),
        CtlAction::Requests => print_json(&c.requests()?),
        CtlAction::Fault { action } => match action {
            FaultAction::Add {
                path_contains,
                method,
                status,
                body,
                count,
                latency_ms,
            } => {
                let spec = fault_spec(
                    method.as_deref(),
                    &path_contains,
                    status,
                    body.as_deref(),
                    count,
                    latency_ms,
                );
                print_json(&c.add_fault(spec)?);
            }
            FaultAction::List => print_json(&c.faults()?),
            FaultAction::Clear => {
                let v = c.clear_faults()?;
                println!("cleared {} faults", v["cleared"]);
            }
        },
    }
    Ok(())
}
