//! The `mock-bmc` command: serve one mockup, or a whole rack of them, until Ctrl-C.

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use mock_bmc::{BmcConfig, MockBmc, Mockup, Rack, RackConfig, Scenario};

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
    },
    /// Start every BMC of a rack config and print one `NAME URL` line per BMC.
    Rack {
        /// Rack config TOML file.
        #[arg(long)]
        config: PathBuf,
    },
}

#[tokio::main]
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
        } => {
            let config = BmcConfig {
                listen,
                username,
                password,
                sessions: !no_sessions,
                page_size,
            };
            serve(&mockup, scenario.as_deref(), config).await
        }
        Command::Rack { config } => rack(&config).await,
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
    let rack = Rack::start(&config).await?;
    for (name, bmc) in rack.bmcs() {
        println!("{name} {}", bmc.base_url());
    }

    wait_for_ctrl_c().await?;
    rack.shutdown().await;
    Ok(())
}

async fn wait_for_ctrl_c() -> anyhow::Result<()> {
    tokio::signal::ctrl_c().await.context("failed to listen for Ctrl-C")
}
