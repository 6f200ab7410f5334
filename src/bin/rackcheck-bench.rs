//! `rackcheck-bench`: scans a generated rack of mock BMCs and measures the scanner.
//!
//! Starts `mock-bmc rack --generate N` as a child process, so the mock's CPU time is not
//! counted as the scanner's. Scans its inventory in-process with the real scanner and reads
//! every BMC's request counts from `/mock-bmc/stats`. Then scans one BMC alone with no
//! per-BMC request limit to measure the longest chain of dependent requests. Prints a
//! summary and, as the last line, one JSON object with the figures.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use rackcheck::credentials::{CredentialStore, Credentials};
use rackcheck::inventory::Inventory;
use rackcheck::policy::Profile;
use rackcheck::scan::{ScanOptions, ScanReport, scan};
use serde_json::{Value, json};

/// Credentials that `mock-bmc rack --generate` gives every BMC without `--username` and
/// `--password`.
const MOCK_USERNAME: &str = "admin";
const MOCK_PASSWORD: &str = "mock-password";

/// Time allowed for the mock rack to start and write its inventory. Each BMC generates a
/// certificate at start, which takes seconds for a thousand BMCs on a slow machine.
const RACK_START_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Parser)]
#[command(about = "Scan a generated rack of mock BMCs and print the scanner's speed and cost")]
struct Args {
    /// Number of mock BMCs, on 127.0.1.1, 127.0.1.2, ...
    #[arg(long, default_value_t = 1000)]
    bmcs: usize,
    /// Delay of every mock BMC response, in milliseconds (at least 1).
    #[arg(long, default_value_t = 50)]
    latency_ms: u64,
    /// Mockup folder that every BMC serves.
    #[arg(long, default_value = "mock-bmc/mockups/dell-xe9680-h100")]
    mockup: PathBuf,
    /// Make the mock BMCs ignore `$expand` and not advertise it. By default they honour it,
    /// as the iDRAC that the default mockup was shaped after does.
    #[arg(long)]
    no_expand: bool,
    /// Port of every mock BMC; 0 picks one that is free on 127.0.1.1.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Nodes scanned at the same time, as the scanner's `--concurrency`. 0 scans every node
    /// at once.
    #[arg(long, default_value_t = rackcheck::scan::DEFAULT_CONCURRENCY)]
    concurrency: usize,
    /// Requests in flight per BMC (the scanner's `--max-in-flight`).
    #[arg(long, default_value_t = 2)]
    max_in_flight: usize,
    /// The mock-bmc binary; by default the one next to this program.
    #[arg(long)]
    mock_bmc: Option<PathBuf>,
}

/// The mock rack's process, killed when dropped so that no error path leaves it running.
struct MockRack {
    child: Child,
}

impl MockRack {
    /// CPU time of the rack's process (user and system), from `/proc/PID/stat`. The mock
    /// shares the machine's cores with the scanner, so its cost bounds the scan's wall time.
    fn cpu_time(&self) -> anyhow::Result<Duration> {
        let path = format!("/proc/{}/stat", self.child.id());
        let stat = std::fs::read_to_string(&path).with_context(|| format!("failed to read {path}"))?;
        // Fields after the command name, which is in parentheses and may contain spaces:
        // utime and stime are the 14th and 15th fields of the line, in clock ticks.
        let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks = |index: usize| -> anyhow::Result<u64> {
            fields
                .get(index)
                .and_then(|field| field.parse().ok())
                .with_context(|| format!("invalid {path}"))
        };
        let total = ticks(11)? + ticks(12)?;
        // SAFETY: sysconf only reads a configuration value.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Ok(Duration::from_millis(total * 1000 / per_second))
    }
}

impl Drop for MockRack {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time of this process (user and system), from `getrusage`.
fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct passed by pointer, which is zeroed and valid.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let seconds = |time: libc::timeval| Duration::new(time.tv_sec as u64, time.tv_usec as u32 * 1000);
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Returns the peak resident set size of this process in MiB (`VmHWM` in `/proc/self/status`).
fn peak_rss_mib() -> anyhow::Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status").context("failed to read /proc/self/status")?;
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .context("/proc/self/status has no VmHWM line")?;
    let kib: f64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|value| value.parse().ok())
        .context("invalid VmHWM line in /proc/self/status")?;
    Ok(kib / 1024.0)
}

fn mock_bmc_binary(args: &Args) -> anyhow::Result<PathBuf> {
    let path = match &args.mock_bmc {
        Some(path) => path.clone(),
        None => std::env::current_exe()
            .context("failed to find this program's path")?
            .with_file_name("mock-bmc"),
    };
    if !path.is_file() {
        bail!(
            "mock-bmc binary not found at `{}`\nhint: run `cargo build --release -p mock-bmc` first, or pass --mock-bmc",
            path.display()
        );
    }
    Ok(path)
}

/// Returns a port that is free on 127.0.1.1 now. Another program may take it before the
/// rack binds it, and the rack then fails to start with an error.
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.1.1:0").context("failed to bind 127.0.1.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Starts the rack and waits until it has printed one line per BMC, which it does after
/// every BMC listens and the inventory is written.
fn start_rack(args: &Args, inventory: &Path) -> anyhow::Result<MockRack> {
    let port = if args.port == 0 { free_port()? } else { args.port };
    let mut command = Command::new(mock_bmc_binary(args)?);
    command
        .args(["rack", "--generate", &args.bmcs.to_string()])
        .arg("--mockup")
        .arg(&args.mockup)
        .args(["--latency-ms", &args.latency_ms.to_string()])
        .args(["--port", &port.to_string()])
        .arg("--inventory")
        .arg(inventory)
        .env(
            "RUST_LOG",
            std::env::var("MOCK_BMC_LOG").unwrap_or_else(|_| "warn".to_string()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if !args.no_expand {
        command.arg("--expand");
    }
    let mut child = command.spawn().context("failed to start mock-bmc")?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let rack = MockRack { child };

    let expected = args.bmcs;
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let printed = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .take(expected)
            .count();
        let _ = sender.send(printed);
    });
    match receiver.recv_timeout(RACK_START_TIMEOUT) {
        Ok(printed) if printed == expected && inventory.is_file() => Ok(rack),
        Ok(printed) => bail!("mock-bmc exited after starting {printed} of {expected} BMCs; see its errors above"),
        Err(_) => bail!(
            "mock-bmc did not start {expected} BMCs within {}s",
            RACK_START_TIMEOUT.as_secs()
        ),
    }
}

/// Returns the scanner's default options with the given limits, and `--insecure` for the
/// mock BMCs' self-signed certificates.
fn scan_options(concurrency: usize, max_in_flight: usize) -> ScanOptions {
    let mut options = ScanOptions {
        concurrency,
        ..ScanOptions::default()
    };
    options.client.insecure = true;
    options.client.max_in_flight = max_in_flight;
    options
}

/// A rustls verifier that accepts the mock BMCs' self-signed certificates and still checks
/// handshake signatures, for reading `/mock-bmc/stats`.
#[derive(Debug)]
struct AcceptMockCertificates(rustls::crypto::WebPkiSupportedAlgorithms);

impl rustls::client::danger::ServerCertVerifier for AcceptMockCertificates {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_schemes()
    }
}

fn stats_client() -> anyhow::Result<reqwest::Client> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = AcceptMockCertificates(provider.signature_verification_algorithms);
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .build()?)
}

/// Request counts of the whole rack, from every BMC's `/mock-bmc/stats`.
struct RackStats {
    /// Requests of each BMC, in inventory order.
    requests: Vec<u64>,
    /// Highest requests in flight seen by any one BMC.
    peak_in_flight: u64,
}

async fn rack_stats(inventory: &Inventory) -> anyhow::Result<RackStats> {
    let client = stats_client()?;
    let mut requests = Vec::with_capacity(inventory.nodes.len());
    let mut peak_in_flight = 0;
    for node in &inventory.nodes {
        let url = node.bmc.url().join("/mock-bmc/stats")?;
        let stats: Value = client
            .get(url.clone())
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("failed to read {url}"))?
            .json()
            .await
            .with_context(|| format!("invalid JSON from {url}"))?;
        requests.push(stats["requests"].as_u64().context("stats without `requests`")?);
        peak_in_flight = peak_in_flight.max(stats["peak_in_flight"].as_u64().unwrap_or(0));
    }
    Ok(RackStats {
        requests,
        peak_in_flight,
    })
}

/// Scans the first node alone with no per-BMC request limit: its time divided by the
/// latency is the longest chain of requests that wait on each other (login, the collector's
/// walk and logout).
async fn longest_chain(inventory: &Inventory, credentials: &CredentialStore, args: &Args) -> anyhow::Result<u64> {
    let mut first = inventory.clone();
    first.nodes.truncate(1);
    let options = scan_options(1, 1024);
    let report = scan(&first, credentials, &Profile::builtin(), &options).await?;
    let node = &report.nodes[0];
    if let Some(error) = &node.error {
        bail!("the chain-measuring scan of {} failed: {error}", node.hostname);
    }
    Ok((node.duration_ms as f64 / args.latency_ms as f64).round() as u64)
}

fn node_errors(report: &ScanReport) -> Vec<String> {
    report
        .nodes
        .iter()
        .filter_map(|node| Some(format!("{}: {}", node.hostname, node.error.as_ref()?)))
        .collect()
}

async fn run(args: Args) -> anyhow::Result<()> {
    if args.bmcs == 0 || args.latency_ms == 0 || args.max_in_flight == 0 {
        bail!("--bmcs, --latency-ms and --max-in-flight must be at least 1");
    }
    rackcheck::process::prepare_for_scans();
    let workdir = tempfile::tempdir().context("failed to create a temporary folder")?;
    let inventory_file = workdir.path().join("inventory.csv");

    let started = Instant::now();
    let rack = start_rack(&args, &inventory_file)?;
    let inventory = Inventory::load(&inventory_file)?;
    println!(
        "started {} mock BMCs in {:.1}s (latency {} ms, $expand {})",
        inventory.nodes.len(),
        started.elapsed().as_secs_f64(),
        args.latency_ms,
        if args.no_expand { "off" } else { "on" }
    );

    let credentials = CredentialStore::with_default(Credentials::new(MOCK_USERNAME, MOCK_PASSWORD));
    let concurrency = if args.concurrency == 0 {
        args.bmcs
    } else {
        args.concurrency
    };
    let options = scan_options(concurrency, args.max_in_flight);

    let mock_cpu_before = rack.cpu_time()?;
    let cpu_before = cpu_time();
    let scan_started = Instant::now();
    let report = scan(&inventory, &credentials, &Profile::builtin(), &options).await?;
    let wall = scan_started.elapsed();
    let cpu = cpu_time() - cpu_before;
    let mock_cpu = rack.cpu_time()? - mock_cpu_before;

    let errors = node_errors(&report);
    for error in errors.iter().take(5) {
        eprintln!("node error: {error}");
    }
    let stats = rack_stats(&inventory).await?;
    let chain = longest_chain(&inventory, &credentials, &args).await?;
    let peak_rss = peak_rss_mib()?;
    drop(rack);

    let bmcs = inventory.nodes.len();
    let requests_per_node = stats.requests.iter().sum::<u64>() as f64 / bmcs as f64;
    let max_requests = stats.requests.iter().copied().max().unwrap_or(0);
    let latency_s = args.latency_ms as f64 / 1000.0;
    let request_rounds = max_requests.div_ceil(args.max_in_flight as u64);
    let lower_bound = chain.max(request_rounds) as f64 * latency_s;
    let ratio = wall.as_secs_f64() / lower_bound;
    let cpu_ms_per_node = cpu.as_secs_f64() * 1000.0 / bmcs as f64;

    println!(
        "scanned {bmcs} nodes ({} unreadable) in {:.2}s with {concurrency} nodes and {} requests per BMC in flight",
        errors.len(),
        wall.as_secs_f64(),
        args.max_in_flight
    );
    println!(
        "requests per node {requests_per_node:.1} (max {max_requests}, peak in flight at one BMC {}), longest chain {chain} requests",
        stats.peak_in_flight
    );
    println!(
        "lower bound {lower_bound:.2}s = max({chain}, ceil({max_requests} / {})) x {} ms; ratio {ratio:.2}",
        args.max_in_flight, args.latency_ms
    );
    println!(
        "scanner CPU {:.2}s ({cpu_ms_per_node:.2} ms per node), peak RSS {peak_rss:.1} MiB; mock rack CPU {:.2}s ({:.2} ms per node)",
        cpu.as_secs_f64(),
        mock_cpu.as_secs_f64(),
        mock_cpu.as_secs_f64() * 1000.0 / bmcs as f64
    );

    let round = |value: f64, places: i32| (value * 10f64.powi(places)).round() / 10f64.powi(places);
    let figures = json!({
        "bmcs": bmcs,
        "wall_s": round(wall.as_secs_f64(), 3),
        "lower_bound_s": round(lower_bound, 3),
        "ratio": round(ratio, 3),
        "requests_per_node": round(requests_per_node, 1),
        "cpu_ms_per_node": round(cpu_ms_per_node, 3),
        "peak_rss_mb": round(peak_rss, 1),
    });
    println!("{figures}");
    if !errors.is_empty() {
        bail!("{} of {bmcs} nodes could not be read", errors.len());
    }
    Ok(())
}

/// The allocator of the `rackcheck` binary, so that the bench measures what a scan costs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "error".into()))
        .with_writer(std::io::stderr)
        .init();
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
