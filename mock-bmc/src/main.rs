//! The `mock-bmc` command: serve one mockup, or a whole rack of them, until Ctrl-C.

use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use mock_bmc::{BmcConfig, GenerateOptions, MockBmc, Mockup, Rack, RackConfig, Scenario};

/// The credential that generated racks use unless `--username` and `--password` are given.
/// It is a mock credential for local BMCs only, the same as in `racks/demo.toml`.
const MOCK_USERNAME: &str = "admin";
const MOCK_PASSWORD: &str = "mock-password";

#[derive(Parser)]
#[command(
    version,
    about = "Serve Redfish mockups as mock BMCs over HTTPS on loopback addresses"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve one mockup as one BMC.
    Serve {
        /// Mockup folder, the one that contains `redfish/v1`.
        #[arg(long)]
        mockup: PathBuf,
        /// Listen address, which must be loopback. Port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        /// User name that basic auth and session login accept.
        #[arg(long)]
        username: String,
        /// Password that basic auth and session login accept (a test credential, not a secret).
        #[arg(long)]
        password: String,
        /// Scenario JSON file to apply to the mockup.
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Serve no SessionService, so clients must use basic auth.
        #[arg(long)]
        no_sessions: bool,
        /// Page collections longer than this many members.
        #[arg(long)]
        page_size: Option<usize>,
        /// Honour `$expand` and advertise it in the service root.
        #[arg(long)]
        expand: bool,
    },
    /// Start every BMC of a rack config, or a generated rack, and print one `NAME URL` line
    /// per BMC.
    Rack {
        /// Rack config TOML file.
        #[arg(long, required_unless_present = "generate", conflicts_with = "generate")]
        config: Option<PathBuf>,
        #[command(flatten)]
        generated: GenerateArgs,
    },
}

/// Options of `rack --generate`.
#[derive(Args)]
struct GenerateArgs {
    /// Generate this many BMCs from `--mockup`, on 127.0.1.1, 127.0.1.2, ... (127.0.2.1 after
    /// 127.0.1.254).
    #[arg(long, value_name = "N", requires = "mockup")]
    generate: Option<usize>,
    /// Mockup folder of every generated BMC, the one that contains `redfish/v1`.
    #[arg(long, requires = "generate")]
    mockup: Option<PathBuf>,
    /// Scenario JSON file applied to every generated BMC.
    #[arg(long, requires = "generate")]
    scenario: Option<PathBuf>,
    /// Port of every generated BMC.
    #[arg(long, default_value_t = 8443)]
    port: u16,
    /// User name of every generated BMC.
    #[arg(long, default_value = MOCK_USERNAME)]
    username: String,
    /// Password of every generated BMC (a mock credential, not a secret).
    #[arg(long, default_value = MOCK_PASSWORD)]
    password: String,
    /// Delay every response of every generated BMC by this many milliseconds.
    #[arg(long, value_name = "MS", requires = "generate")]
    latency_ms: Option<u64>,
    /// Honour `$expand` on every generated BMC.
    #[arg(long, requires = "generate")]
    expand: bool,
    /// Write a rackcheck inventory CSV of the generated BMCs to this file.
    #[arg(long, value_name = "FILE", requires = "generate")]
    inventory: Option<PathBuf>,
    /// Role of every node in the inventory.
    #[arg(long, default_value = "gpu-compute")]
    role: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    init_logging();

    let result = match Cli::parse().command {
        Command::Serve {
            mockup,
            listen,
            username,
            password,
            scenario,
            no_sessions,
            page_size,
            expand,
        } => {
            let config = BmcConfig {
                listen,
                sessions: !no_sessions,
                page_size,
                expand,
                ..BmcConfig::loopback(username, password)
            };
            serve(&mockup, scenario.as_deref(), config).await
        }
        Command::Rack { config, generated } => match config {
            Some(file) => rack(&file).await,
            None => generated_rack(generated).await,
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// Logs to stderr at `info` unless `RUST_LOG` sets another filter, in colour only on a terminal
/// and when `NO_COLOR` is unset.
fn init_logging() {
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
}

async fn serve(mockup_dir: &Path, scenario: Option<&Path>, config: BmcConfig) -> anyhow::Result<()> {
    let mut mockup = Mockup::load(mockup_dir)?;
    if let Some(file) = scenario {
        mockup = mockup.try_apply(&Scenario::load(file)?)?;
    }

    let bmc = MockBmc::start(Arc::new(mockup), config).await?;
    println!("{}", bmc.base_url());

    wait_for_ctrl_c().await?;
    bmc.shutdown().await;
    Ok(())
}

async fn rack(config_file: &Path) -> anyhow::Result<()> {
    let config = RackConfig::load(config_file)?;
    run_rack(&config, None).await
}

async fn generated_rack(args: GenerateArgs) -> anyhow::Result<()> {
    let options = GenerateOptions {
        count: args.generate.context("--generate is required without --config")?,
        mockup: args.mockup.context("--mockup is required with --generate")?,
        scenario: args.scenario,
        port: args.port,
        username: args.username,
        password: args.password,
        expand: args.expand,
        latency_ms: args.latency_ms,
    };
    let config = mock_bmc::generate_rack(&options)?;
    let inventory = args.inventory.map(|file| (file, args.role));
    run_rack(&config, inventory).await
}

/// Writes the inventory CSV of the started rack to `file`.
fn write_inventory(rack: &Rack, file: &Path, role: &str) -> anyhow::Result<()> {
    let nodes = rack.bmcs().iter().map(|(name, bmc)| (name.as_str(), bmc.addr()));
    let csv = mock_bmc::inventory_csv(nodes, role);
    std::fs::write(file, csv).with_context(|| format!("failed to write the inventory `{}`", file.display()))?;
    tracing::info!(file = %file.display(), nodes = rack.bmcs().len(), "wrote inventory");
    Ok(())
}

/// Starts every BMC of `config`, writes the inventory when given a file and role, prints the
/// BMCs' URLs and serves until Ctrl-C.
async fn run_rack(config: &RackConfig, inventory: Option<(PathBuf, String)>) -> anyhow::Result<()> {
    raise_open_file_limit(config.bmcs.len());

    let started = Instant::now();
    let rack = Rack::start(config).await?;
    tracing::info!(
        bmcs = rack.bmcs().len(),
        start_ms = started.elapsed().as_millis() as u64,
        peak_rss_kib = peak_rss_kib(),
        "rack started"
    );
    if let Some((file, role)) = &inventory
        && let Err(err) = write_inventory(&rack, file, role)
    {
        rack.shutdown().await;
        return Err(err);
    }

    let mut out = std::io::stdout().lock();
    for (name, bmc) in rack.bmcs() {
        // A closed stdout (such as `| head`) must not stop the rack.
        let _ = writeln!(out, "{name} {}", bmc.base_url());
    }
    let _ = out.flush();
    drop(out);

    wait_for_ctrl_c().await?;
    rack.shutdown().await;
    Ok(())
}

/// Raises the soft open-file limit to the hard limit. Each BMC uses one listening socket
/// and one more per open connection, so 1,000 BMCs pass the common soft limit of 1,024.
#[cfg(unix)]
fn raise_open_file_limit(bmcs: usize) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read or write the struct passed by pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        tracing::warn!(cause = %std::io::Error::last_os_error(), "failed to read the open-file limit");
        return;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            tracing::debug!(from = limit.rlim_cur, to = limit.rlim_max, "raised the open-file limit");
            limit = raised;
        }
    }

    // Each BMC needs its listener plus room for a few connections.
    let needed = (bmcs as u64).saturating_mul(4).saturating_add(64);
    if limit.rlim_cur < needed {
        tracing::warn!(
            limit = limit.rlim_cur,
            needed,
            "the open-file limit may be too low for this rack; raise it with `ulimit -n`"
        );
    }
}

#[cfg(not(unix))]
fn raise_open_file_limit(_bmcs: usize) {}

/// Returns the peak resident set size of this process (`VmHWM` in `/proc/self/status`), on
/// Linux only.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn wait_for_ctrl_c() -> anyhow::Result<()> {
    tokio::signal::ctrl_c().await.context("failed to listen for Ctrl-C")
}
