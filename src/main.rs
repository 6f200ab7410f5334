//! The rackcheck command line: parses arguments, runs a scan, prints the report, and exits
//! with a code that reports whether the rack passed.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use ipnet::IpNet;
use rackcheck::collect::power_on::PowerOnOptions;
use rackcheck::credentials::CredentialStore;
use rackcheck::demo::{DEFAULT_MOCK_BMC_DIR, DemoRack};
use rackcheck::diff::{self, DiffFormat};
use rackcheck::handoff::pxe::{PxeOptions, PxeStatus};
use rackcheck::inventory::Inventory;
use rackcheck::policy::Profile;
use rackcheck::redfish::{ClientOptions, RetryPolicy};
use rackcheck::report::progress::ScanProgress;
use rackcheck::report::{self, Format, Outcome};
use rackcheck::rescan::{self, Only};
use rackcheck::scan::{Cancelled, ScanOptions, ScanReport, scan_until};
use tracing_subscriber::EnvFilter;

/// Validates bare-metal GPU servers out-of-band through their BMCs' Redfish API.
#[derive(Debug, Parser)]
#[command(name = "rackcheck", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Scan every node of an inventory CSV and judge it against the profile.
    Scan {
        /// Inventory CSV with columns rack, position, hostname, bmc, role [, credentials, system].
        inventory: PathBuf,

        /// Scan only the nodes that did not pass in the --previous report: `failed` (verdict
        /// fail or error) or `not-passed` (also unknown). Nodes it does not list are scanned
        /// too. The report contains every node, the others as --previous reported them.
        #[arg(long, value_enum, requires = "previous")]
        only: Option<Only>,

        /// JSON report of an earlier scan of this inventory, for --only.
        #[arg(long, value_name = "FILE", requires = "only")]
        previous: Option<PathBuf>,

        #[command(flatten)]
        options: ScanArgs,
    },
    /// Judge a capture written by `scan --capture` offline, with the same exit codes as a scan.
    Check {
        /// Capture folder written by `scan --capture`.
        #[arg(long, value_name = "DIR")]
        capture: PathBuf,

        /// Requirements profile (TOML); the built-in profile when omitted.
        #[arg(long, value_name = "FILE")]
        profile: Option<PathBuf>,

        /// Report format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,

        /// Write the report to FILE instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// List what changed per node between two JSON reports. Exits 0 when nothing changed and
    /// 1 when something did.
    Diff {
        /// The earlier JSON report.
        old: PathBuf,

        /// The later JSON report.
        new: PathBuf,

        /// Output format.
        #[arg(long, value_enum, default_value_t = DiffFormat::Table)]
        format: DiffFormat,
    },
    /// Start a demo rack of mock BMCs on 127.0.0.1 and scan it.
    Demo {
        /// Folder with the demo's `mockups/` and `scenarios/`.
        #[arg(long, value_name = "DIR", default_value = DEFAULT_MOCK_BMC_DIR)]
        mock_bmc_dir: PathBuf,

        #[command(flatten)]
        options: ScanArgs,
    },
    /// Find BMCs in address ranges by their unauthenticated service root and write an
    /// inventory stub. No credentials are sent.
    Discover {
        /// Address ranges in CIDR notation (`10.0.12.0/24`), at most 65,536 addresses in all.
        #[arg(required = true, value_name = "CIDR")]
        ranges: Vec<String>,

        /// HTTPS port of the BMCs.
        #[arg(long, default_value_t = 443)]
        port: u16,

        /// Probes started per second.
        #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        rate: u32,

        /// Seconds to wait for each address.
        #[arg(long, value_name = "SECONDS", default_value_t = 3.0)]
        timeout: f64,

        /// Write the inventory stub to FILE instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Run the checks a hand-off manifest owes on this installed node and report them, with
    /// the same formats and exit codes as a scan.
    Inband {
        /// Hand-off manifest JSON written by the out-of-band scan for this node.
        #[arg(long, value_name = "FILE")]
        manifest: PathBuf,

        /// Report format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,

        /// Write the report to FILE instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,

        /// Read recorded command outputs from DIR (`uname-r.txt`, `nvidia-smi-query-gpu.txt`,
        /// `<fio check id>.json`) instead of running commands; fio and dcgmi results are judged too.
        #[arg(long, value_name = "DIR")]
        recorded: Option<PathBuf>,

        /// Run the fio checks. fio writes a 32 GiB file on each array and loads the disks.
        #[arg(long)]
        fio: bool,

        /// Run `dcgmi diag`, which loads every GPU for 15 minutes or more.
        #[arg(long)]
        dcgm_diag: bool,

        /// Folder on the boot array for fio's test file.
        #[arg(long, value_name = "DIR", default_value = "/var/tmp")]
        boot_dir: PathBuf,

        /// Folder on the working array for fio's test file; working-array fio checks stay
        /// unknown without it.
        #[arg(long, value_name = "DIR")]
        working_dir: Option<PathBuf>,
    },
    /// List every requirement of the requirements document and how the profile covers it.
    Requirements {
        /// Requirements profile (TOML); the built-in profile when omitted.
        #[arg(long, value_name = "FILE")]
        profile: Option<PathBuf>,

        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Debug, Args)]
struct ScanArgs {
    /// TOML file of credentials, keyed by the inventory's `credentials` column. Rows without a key
    /// use RACKCHECK_USERNAME and RACKCHECK_PASSWORD.
    #[arg(long, value_name = "FILE")]
    credentials: Option<PathBuf>,

    /// Requirements profile (TOML); the built-in profile when omitted.
    #[arg(long, value_name = "FILE")]
    profile: Option<PathBuf>,

    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,

    /// Write the report to FILE instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,

    /// PEM file of CA certificates to trust in addition to the system's roots.
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,

    /// Accept any TLS certificate. The report records that certificates were not verified.
    #[arg(long)]
    insecure: bool,

    /// File of pinned BMC certificates, one `host:port SHA256-FINGERPRINT` line per BMC. A
    /// pinned BMC must present exactly that certificate, self-signed or not.
    #[arg(long, value_name = "FILE")]
    known_bmcs: Option<PathBuf>,

    /// Record the certificate of each BMC missing from --known-bmcs on first use, and trust it.
    #[arg(long, requires = "known_bmcs")]
    record_new_bmcs: bool,

    /// Network (CIDR) that BMCs may be in; repeat for several. A single address stands for
    /// itself. A BMC resolving outside every one is not contacted. Without this flag every
    /// address is allowed.
    #[arg(long, value_name = "CIDR", value_parser = network)]
    allow_net: Vec<IpNet>,

    /// Read with basic auth when a BMC rejects the login because its session table is full.
    #[arg(long)]
    basic_auth_fallback: bool,

    /// Seconds allowed to open a TCP and TLS connection to a BMC.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    connect_timeout: f64,

    /// Seconds allowed for one Redfish request, from sending it to reading the whole response.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    timeout: f64,

    /// Seconds allowed for one node from login to the end of reading; the node is then judged on
    /// what was read. Logout then has twice --timeout, so that a timed-out DELETE is retried
    /// once.
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0)]
    node_deadline: f64,

    /// Retries of a request after a connection error, a timeout (retried once), 429, 502, 503
    /// or 504.
    #[arg(long, value_name = "N", default_value_t = 3)]
    retries: u32,

    /// Maximum wait in seconds before one retry. A BMC requesting a longer wait is not retried.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    retry_max_wait: f64,

    /// Resources read per node at most; a node that needs more ends with an error.
    #[arg(long, value_name = "N", default_value_t = 5000, value_parser = at_least_one_u64)]
    max_resources: u64,

    /// Requests in flight per BMC; BMCs are slow and fragile, so keep this small.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = at_least_one)]
    max_in_flight: usize,

    /// Nodes scanned at the same time.
    #[arg(long, value_name = "N", default_value_t = rackcheck::scan::DEFAULT_CONCURRENCY, value_parser = at_least_one)]
    concurrency: usize,

    /// Log more (repeat for more detail); RUST_LOG overrides.
    #[arg(long, short, action = clap::ArgAction::Count)]
    verbose: u8,

    /// Write every Redfish response to DIR/<hostname>/ in the DMTF mockup layout, with
    /// passwords, tokens and sessions removed, for `rackcheck check --capture DIR`.
    #[arg(long, value_name = "DIR")]
    capture: Option<PathBuf>,

    /// Print errors only: no progress bar and no warnings; RUST_LOG overrides.
    #[arg(long, short, conflicts_with = "verbose")]
    quiet: bool,

    /// Write DIR/<hostname>.json, the in-band manifest, for each node that passed, and the
    /// DHCP allow list of their MAC addresses (DIR/dnsmasq-hosts.conf, DIR/allow-list.txt).
    #[arg(long, value_name = "DIR")]
    handoff: Option<PathBuf>,

    /// Hand off nodes whose verdict is `warn` too.
    #[arg(long, requires = "handoff")]
    handoff_warn: bool,

    /// Set a one-time PXE boot override (UEFI) and power on or restart each node that
    /// passed. Changes the BMC's boot settings and the host's power state.
    #[arg(long)]
    pxe: bool,

    /// With --pxe, print the PATCH and POST requests to standard error instead of sending them.
    #[arg(long, requires = "pxe")]
    pxe_dry_run: bool,

    /// Power on hosts found off or in POST, wait for POST to finish, read them again, then
    /// power them off again. Changes the host's power state.
    #[arg(long)]
    power_on: bool,

    /// With --power-on, maximum wait for POST to finish, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 600.0, requires = "power_on")]
    power_on_timeout: f64,

    /// With --power-on, time between two reads of the system while waiting, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0, requires = "power_on")]
    power_on_poll: f64,
}

fn at_least_one_u64(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(value) if value >= 1 => Ok(value),
        _ => Err(format!("`{text}` is not a whole number of at least 1")),
    }
}

/// Parses a CIDR network, or a single address as the network of that address alone.
fn network(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{text}` is neither a network such as 10.20.0.0/16 nor an IP address"))
}

fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(value) if value >= 1 => Ok(value),
        _ => Err(format!("`{text}` is not a whole number of at least 1")),
    }
}

impl ScanArgs {
    fn scan_options(&self) -> anyhow::Result<ScanOptions> {
        // Below a millisecond no BMC can respond; above a day is a typo, not a slow BMC.
        let seconds = |value: f64, flag: &str| {
            if (0.001..=86_400.0).contains(&value) {
                Ok(Duration::from_secs_f64(value))
            } else {
                anyhow::bail!("invalid --{flag} `{value}`: expected a number of seconds from 0.001 to 86400")
            }
        };
        let retry = RetryPolicy {
            max_attempts: self.retries.saturating_add(1),
            max_delay: seconds(self.retry_max_wait, "retry-max-wait")?,
            ..RetryPolicy::default()
        };
        let power_on = match self.power_on {
            true => Some(PowerOnOptions {
                timeout: seconds(self.power_on_timeout, "power-on-timeout")?,
                poll_interval: seconds(self.power_on_poll, "power-on-poll")?,
                ..PowerOnOptions::default()
            }),
            false => None,
        };
        Ok(ScanOptions {
            client: ClientOptions {
                insecure: self.insecure,
                ca_file: self.ca_file.clone(),
                known_bmcs: self.known_bmcs.clone(),
                record_new_bmcs: self.record_new_bmcs,
                allow_nets: self.allow_net.clone(),
                basic_auth_fallback: self.basic_auth_fallback,
                connect_timeout: seconds(self.connect_timeout, "connect-timeout")?,
                request_timeout: seconds(self.timeout, "timeout")?,
                max_in_flight: self.max_in_flight,
                retry,
                max_resources: self.max_resources,
            },
            concurrency: self.concurrency,
            node_deadline: seconds(self.node_deadline, "node-deadline")?,
            capture: self.capture.clone(),
            pxe: self.pxe.then_some(PxeOptions {
                dry_run: self.pxe_dry_run,
            }),
            power_on,
            ..ScanOptions::default()
        })
    }

    /// Starts the progress bar, drawn only when standard error is a terminal and not `--quiet`,
    /// and hooks it into the scan.
    fn start_progress(&self, nodes: usize, scan_options: &mut ScanOptions) -> ScanProgress {
        let visible = !self.quiet && ScanProgress::stderr_is_terminal();
        let progress = ScanProgress::start(nodes, visible);
        if visible {
            scan_options.progress = Some(progress.hook());
        }
        progress
    }

    fn profile(&self) -> anyhow::Result<Profile> {
        match &self.profile {
            Some(path) => Ok(Profile::load(path)?),
            None => Ok(Profile::builtin()),
        }
    }

    fn credentials(&self) -> anyhow::Result<CredentialStore> {
        match &self.credentials {
            Some(path) => Ok(CredentialStore::load(path)?),
            None => Ok(CredentialStore::from_env()),
        }
    }
}

/// mimalloc rather than the system allocator, because a scan of many BMCs allocates and
/// frees parsed JSON bodies from several threads. With glibc's allocator the scanner used
/// about 10% more CPU in one `rackcheck-bench` run of 200 BMCs without `$expand`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    rackcheck::process::prepare_for_scans();
    init_logging(match &cli.command {
        Command::Scan { options, .. } | Command::Demo { options, .. } => (options.verbose, options.quiet),
        Command::Requirements { .. }
        | Command::Discover { .. }
        | Command::Check { .. }
        | Command::Diff { .. }
        | Command::Inband { .. } => (0, false),
    });

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(Outcome::Usage as u8);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(outcome) => ExitCode::from(outcome as u8),
        Err(err) if err.is::<Interrupted>() => {
            eprintln!("error: {err:#}");
            ExitCode::from(Interrupted::EXIT_CODE)
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(Outcome::Usage as u8)
        }
    }
}

/// Lowers `--concurrency` to what the open-file limit allows, with a warning when that
/// leaves some of the `nodes` to later waves.
fn fit_open_file_limit(options: &mut ScanOptions, nodes: usize) {
    let requested = options.concurrency;
    let fitting = rackcheck::process::concurrency_within_file_limit(requested, options.client.max_in_flight);
    if fitting < requested.min(nodes) {
        tracing::warn!(
            requested,
            used = fitting,
            "--concurrency lowered to fit the open-file limit; raise the limit with `ulimit -n` to scan more nodes at once"
        );
    }
    options.concurrency = fitting;
}

fn init_logging((verbose, quiet): (u8, bool)) {
    // Without a terminal there is no progress bar, so a log line per finished node takes
    // its place (CI logs, provisioning pipelines).
    let default = match verbose {
        _ if quiet => "error",
        0 if std::io::stderr().is_terminal() => "warn",
        0 => "warn,rackcheck::scan=info",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(report::progress::stderr_writer)
        .init();
}

async fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Discover {
            ranges,
            port,
            rate,
            timeout,
            output,
        } => run_discover(&ranges, port, rate, timeout, output).await,
        Command::Inband {
            manifest,
            format,
            output,
            recorded,
            fio,
            dcgm_diag,
            boot_dir,
            working_dir,
        } => {
            let manifest = rackcheck::inband::load_manifest(&manifest)?;
            let sink = ReportSink::open(output.as_deref(), None)?;
            let options = rackcheck::inband::InbandOptions {
                run_fio: fio || recorded.is_some(),
                run_dcgm_diag: dcgm_diag || recorded.is_some(),
                boot_dir,
                working_dir,
            };
            // The checks block on commands (dcgmi diag runs for minutes), so they run off the
            // async runtime's worker threads.
            let report = tokio::task::spawn_blocking(move || match recorded {
                Some(folder) => {
                    rackcheck::inband::run(&manifest, &rackcheck::inband::RecordedRunner::new(folder), &options)
                }
                None => rackcheck::inband::run(&manifest, &rackcheck::inband::SystemRunner, &options),
            })
            .await
            .context("the in-band checks stopped unexpectedly")?;
            emit(&report, format, sink)
        }
        Command::Requirements { profile, format } => {
            let profile = match profile {
                Some(path) => Profile::load(&path)?,
                None => Profile::builtin(),
            };
            let list = rackcheck::policy::requirements(&profile);
            match report::write_requirements(&list, format, &mut std::io::stdout().lock()) {
                Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
                    Err(err).context("cannot write the requirements table")
                }
                _ => Ok(Outcome::Pass),
            }
        }
        Command::Scan {
            inventory: path,
            only,
            previous,
            options,
        } => {
            let profile = options.profile()?;
            let mut scan_options = options.scan_options()?;
            let full_inventory = Inventory::load(&path)?;
            if full_inventory.nodes.is_empty() {
                anyhow::bail!(
                    "inventory {} lists no nodes\nhint: add one row per server below the header",
                    path.display()
                );
            }
            let (inventory, previous) = match (only, previous) {
                (Some(only), Some(previous)) => select_rescan(&full_inventory, only, &previous, &profile)?,
                _ => (full_inventory.clone(), None),
            };
            let credentials = options.credentials()?;
            check_credentials(&inventory, &credentials)?;
            let sink = ReportSink::open(options.output.as_deref(), Some(&path))?;
            fit_open_file_limit(&mut scan_options, inventory.nodes.len());
            let progress = options.start_progress(inventory.nodes.len(), &mut scan_options);
            let report = scan_until(&inventory, &credentials, &profile, &scan_options, ctrl_c()).await;
            progress.finish();
            let mut report = report?.map_err(Interrupted)?;
            if let Some(previous) = previous {
                report = rescan::merge(previous, report, &full_inventory, &profile);
            }
            write_handoff(&report, &options)?;
            print_pxe_dry_run(&report);
            emit(&report, options.format, sink)
        }
        Command::Check {
            capture,
            profile,
            format,
            output,
        } => {
            let profile = match profile {
                Some(path) => Profile::load(&path)?,
                None => Profile::builtin(),
            };
            let sink = ReportSink::open(output.as_deref(), None)?;
            let report = rackcheck::capture::check(&capture, &profile).await?;
            emit(&report, format, sink)
        }
        Command::Diff { old, new, format } => {
            let changes = diff::diff(&rescan::load_report(&old)?, &rescan::load_report(&new)?);
            match diff::write(&changes, format, &mut std::io::stdout().lock()) {
                Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
                    return Err(err).context("cannot write the differences");
                }
                _ => {}
            }
            // `diff` exits 1 when the inputs differ, as diff(1) does.
            if changes.is_empty() {
                Ok(Outcome::Pass)
            } else {
                Ok(Outcome::Fail)
            }
        }
        Command::Demo { mock_bmc_dir, options } => {
            let profile = options.profile()?;
            let mut scan_options = options.scan_options()?;
            let sink = ReportSink::open(options.output.as_deref(), None)?;
            let demo = DemoRack::start(&mock_bmc_dir).await?;
            if !options.insecure && options.ca_file.is_none() {
                scan_options.client.ca_file = Some(demo.ca_path());
            }
            fit_open_file_limit(&mut scan_options, demo.inventory.nodes.len());
            let progress = options.start_progress(demo.inventory.nodes.len(), &mut scan_options);
            let report = scan_until(&demo.inventory, &demo.credentials, &profile, &scan_options, ctrl_c()).await;
            progress.finish();
            demo.shutdown().await;
            let report = report?.map_err(Interrupted)?;
            write_handoff(&report, &options)?;
            print_pxe_dry_run(&report);
            emit(&report, options.format, sink)
        }
    }
}

/// Prints the requests that `--pxe-dry-run` planned, one per line, to standard error.
fn print_pxe_dry_run(report: &ScanReport) {
    for node in &report.nodes {
        let Some(pxe) = node.pxe.as_ref().filter(|pxe| pxe.status == PxeStatus::DryRun) else {
            continue;
        };
        for request in &pxe.requests {
            eprintln!(
                "dry run: {}: {}",
                node.hostname,
                rackcheck::handoff::pxe::describe(request)
            );
        }
    }
}

/// Writes the in-band manifests and the DHCP allow list when `--handoff DIR` is given.
fn write_handoff(report: &ScanReport, options: &ScanArgs) -> anyhow::Result<()> {
    let Some(dir) = &options.handoff else {
        return Ok(());
    };
    let handoff_options = rackcheck::handoff::HandoffOptions {
        include_warn: options.handoff_warn,
    };
    let summary = rackcheck::handoff::write_handoff(report, dir, &handoff_options)
        .with_context(|| format!("cannot write the hand-off to {}", dir.display()))?;
    tracing::info!(
        dir = %dir.display(),
        manifests = summary.manifests.len(),
        skipped = summary.skipped.len(),
        removed = summary.removed.len(),
        "wrote the in-band hand-off"
    );
    if !summary.without_macs.is_empty() {
        tracing::warn!(
            nodes = %summary.without_macs.join(", "),
            "the BMC reported no MAC address for these handed-off nodes, so the DHCP allow list leaves them out"
        );
    }
    Ok(())
}

/// Cuts the inventory down to the nodes that `only` picks from the previous report, and
/// returns that report for merging.
fn select_rescan(
    inventory: &Inventory,
    only: Only,
    previous: &std::path::Path,
    profile: &Profile,
) -> anyhow::Result<(Inventory, Option<ScanReport>)> {
    let previous = rescan::load_report(previous)?;
    if previous.profile != profile.name {
        tracing::warn!(
            previous = %previous.profile,
            current = %profile.name,
            "the previous report used another profile; nodes not scanned again keep its findings"
        );
    }
    let selection = rescan::select(inventory, &previous, only);
    if !selection.not_in_previous.is_empty() {
        tracing::warn!(
            nodes = %selection.not_in_previous.join(", "),
            "nodes missing from the previous report are scanned too"
        );
    }
    if selection.inventory.nodes.is_empty() {
        tracing::warn!("no node to scan again; the report repeats the previous one");
    }
    Ok((selection.inventory, Some(previous)))
}

/// A scan stopped by Ctrl-C, with the sessions that could not be logged out.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by Ctrl-C; {0}")]
struct Interrupted(Cancelled);

impl Interrupted {
    /// 128 + SIGINT, the shells' convention for a process ended by Ctrl-C.
    const EXIT_CODE: u8 = 130;
}

/// Completes on Ctrl-C, after which a second Ctrl-C exits at once, leaving open sessions to
/// expire on their BMCs. Never completes when the signal handler cannot be installed, so
/// the scan then runs to its end.
async fn ctrl_c() {
    if let Err(err) = tokio::signal::ctrl_c().await {
        tracing::warn!(cause = %err, "cannot listen for Ctrl-C; an interrupted scan may leave BMC sessions open");
        std::future::pending::<()>().await;
    }
    eprintln!("interrupted: logging out of every open session; press Ctrl-C again to exit at once");
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!(
                "error: interrupted by Ctrl-C again; exiting without waiting for logouts, so sessions may stay open until their BMCs expire them"
            );
            std::process::exit(i32::from(Interrupted::EXIT_CODE));
        }
    });
}

/// Probes the ranges for BMCs and writes the inventory stub; exits 0 when any BMC responded.
async fn run_discover(
    ranges: &[String],
    port: u16,
    rate: u32,
    timeout: f64,
    output: Option<PathBuf>,
) -> anyhow::Result<Outcome> {
    let timeout = Duration::try_from_secs_f64(timeout)
        .ok()
        .filter(|d| !d.is_zero() && d.as_secs() <= 600)
        .with_context(|| format!("invalid --timeout `{timeout}`: expected seconds from 0.001 to 600"))?;
    let addresses = rackcheck::discover::addresses(ranges)?;
    let options = rackcheck::discover::DiscoverOptions {
        port,
        rate,
        concurrency: 256,
        timeout,
    };
    eprintln!(
        "probing {} addresses on port {port} at {rate} per second",
        addresses.len()
    );
    let found = rackcheck::discover::discover(&addresses, &options).await?;
    eprintln!("found {} BMCs", found.len());

    let stub = rackcheck::discover::inventory_stub(&found);
    match output {
        Some(path) => std::fs::write(&path, stub).with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{stub}"),
    }
    Ok(if found.is_empty() {
        Outcome::Incomplete
    } else {
        Outcome::Pass
    })
}

/// Resolves every node's credentials before any BMC is contacted, so a missing variable or
/// credentials-file entry is an input error, reported once for the whole inventory.
fn check_credentials(inventory: &Inventory, credentials: &CredentialStore) -> anyhow::Result<()> {
    const SHOWN: usize = 10;

    let mut problems: Vec<String> = Vec::new();
    let mut failing_nodes = 0;
    for node in &inventory.nodes {
        if let Err(err) = credentials.credentials_for(node) {
            failing_nodes += 1;
            let message = err.to_string();
            if !problems.contains(&message) {
                problems.push(message);
            }
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let mut text = format!("no credentials for {failing_nodes} of {} nodes:", inventory.nodes.len());
    for problem in problems.iter().take(SHOWN) {
        text.push('\n');
        text.push_str(problem);
    }
    if problems.len() > SHOWN {
        text.push_str(&format!("\n… and {} more", problems.len() - SHOWN));
    }
    anyhow::bail!(text)
}

/// Destination of the report: standard output, or a file written through a temporary file in
/// the same folder, so a failed scan never leaves half a report or clobbers an old one.
enum ReportSink {
    Stdout,
    File {
        path: PathBuf,
        temporary: tempfile::NamedTempFile,
    },
}

impl ReportSink {
    /// Opens the output before the scan starts, so an unwritable path fails in a second, not
    /// after an hour of scanning.
    fn open(output: Option<&std::path::Path>, inventory: Option<&std::path::Path>) -> anyhow::Result<ReportSink> {
        let Some(path) = output else {
            return Ok(ReportSink::Stdout);
        };
        let same_file = |a: &std::path::Path, b: &std::path::Path| match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if inventory.is_some_and(|inventory| same_file(path, inventory)) {
            anyhow::bail!(
                "--output {} is the inventory file\nhint: write the report to another file",
                path.display()
            );
        }
        let folder = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => std::path::Path::new("."),
        };
        let temporary = tempfile::NamedTempFile::new_in(folder)
            .with_context(|| format!("cannot write the report file {}", path.display()))?;
        Ok(ReportSink::File {
            path: path.to_path_buf(),
            temporary,
        })
    }
}

fn emit(report: &ScanReport, format: Format, sink: ReportSink) -> anyhow::Result<Outcome> {
    let result = match sink {
        ReportSink::Stdout => {
            let colour = report::colour_wanted(std::io::stdout().is_terminal());
            report::write_coloured(report, format, &mut std::io::stdout().lock(), colour)
        }
        ReportSink::File { path, mut temporary } => {
            report::write(report, format, temporary.as_file_mut())
                .and_then(|()| temporary.as_file_mut().flush())
                .with_context(|| format!("cannot write the report file {}", path.display()))?;
            temporary
                .persist(&path)
                .with_context(|| format!("cannot write the report file {}", path.display()))?;
            Ok(())
        }
    };
    match result {
        Ok(()) => Ok(Outcome::of(report)),
        // A closed pipe (`rackcheck scan … | head`) is not an error.
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(Outcome::of(report)),
        Err(err) => Err(err).context("cannot write the report"),
    }
}
