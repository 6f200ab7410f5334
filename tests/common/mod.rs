//! A rack of mock BMCs for integration tests: started in-process on 127.0.0.1 with ephemeral
//! ports, trusted through a CA bundle of their certificates, scanned with the real client.

#![allow(dead_code, reason = "each test binary uses a different part of this helper")]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mock_bmc::{BmcConfig, MockBmc, Mockup, Scenario};
use rackcheck::credentials::{CredentialStore, Credentials};
use rackcheck::inventory::Inventory;
use rackcheck::policy::Profile;
use rackcheck::scan::{ScanOptions, ScanReport, scan};
use serde_json::Value;

pub const USERNAME: &str = "test-operator";
pub const PASSWORD: &str = "test-password-not-secret";

/// The project's own mockups and scenarios.
pub fn mock_bmc_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("mock-bmc")
}

/// Creates a fresh directory under cargo's per-target temporary directory.
pub fn temp_dir(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let unique = format!(
        "{name}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("integration-tests").join(unique);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `body` as the resource at `uri` in a mockup folder, in the DMTF mockup layout.
pub fn write_resource(root: &Path, uri: &str, body: Value) {
    let dir = root.join(uri.trim_start_matches('/'));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.json"), serde_json::to_vec_pretty(&body).unwrap()).unwrap();
}

pub struct TestRack {
    pub bmcs: Vec<(String, MockBmc)>,
    csv: String,
}

impl TestRack {
    pub fn new() -> TestRack {
        TestRack {
            bmcs: Vec::new(),
            csv: "rack,position,hostname,bmc,role\n".to_string(),
        }
    }

    /// Adds a node served from one of the project's mockups, with an optional scenario.
    pub async fn add(&mut self, hostname: &str, mockup: &str, scenario: Option<&str>, role: &str) -> &MockBmc {
        let dir = mock_bmc_dir().join("mockups").join(mockup);
        self.add_dir(hostname, &dir, scenario, role).await
    }

    /// Adds a node served from any mockup folder.
    pub async fn add_dir(&mut self, hostname: &str, dir: &Path, scenario: Option<&str>, role: &str) -> &MockBmc {
        let mut mockup = Mockup::load(dir).unwrap_or_else(|err| panic!("mockup {}: {err}", dir.display()));
        if let Some(name) = scenario {
            let file = mock_bmc_dir().join("scenarios").join(format!("{name}.json"));
            let scenario = Scenario::load(&file).unwrap_or_else(|err| panic!("scenario {name}: {err}"));
            mockup = mockup
                .try_apply(&scenario)
                .unwrap_or_else(|err| panic!("scenario {name}: {err}"));
        }
        self.add_mockup(hostname, mockup, BmcConfig::loopback(USERNAME, PASSWORD), role)
            .await
    }

    /// Adds a node served from a mockup already in memory, with its own BMC settings.
    pub async fn add_mockup(&mut self, hostname: &str, mockup: Mockup, config: BmcConfig, role: &str) -> &MockBmc {
        let bmc = MockBmc::start(Arc::new(mockup), config).await.expect("mock BMC starts");
        let position = self.bmcs.len() * 2 + 1;
        self.csv
            .push_str(&format!("R1,{position},{hostname},{},{role}\n", bmc.addr()));
        self.bmcs.push((hostname.to_string(), bmc));
        &self.bmcs.last().unwrap().1
    }

    /// Adds a row whose BMC address refuses connections.
    pub fn add_unreachable(&mut self, hostname: &str) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let position = self.bmcs.len() * 2 + 1;
        self.csv
            .push_str(&format!("R1,{position},{hostname},127.0.0.1:{port},gpu-compute\n"));
    }

    pub fn inventory(&self) -> Inventory {
        Inventory::parse(&self.csv, "test-rack.csv").expect("test inventory is valid")
    }

    pub fn bmc(&self, hostname: &str) -> &MockBmc {
        &self
            .bmcs
            .iter()
            .find(|(name, _)| name == hostname)
            .expect("known hostname")
            .1
    }

    /// Writes every BMC's certificate into one PEM bundle.
    pub fn ca_bundle(&self) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        for (_, bmc) in &self.bmcs {
            file.write_all(bmc.certificate_pem().as_bytes()).unwrap();
        }
        file.flush().unwrap();
        file
    }

    /// Scans the rack with the built-in profile, verifying TLS against the rack's CA bundle.
    pub async fn scan(&self) -> ScanReport {
        let ca = self.ca_bundle();
        let mut options = ScanOptions::default();
        options.client.ca_file = Some(ca.path().to_path_buf());
        self.scan_with(&options).await
    }

    /// Scans the rack with `profile`, verifying TLS against the rack's CA bundle.
    pub async fn scan_with_profile(&self, profile: &Profile) -> ScanReport {
        let ca = self.ca_bundle();
        let mut options = ScanOptions::default();
        options.client.ca_file = Some(ca.path().to_path_buf());
        let credentials = CredentialStore::with_default(Credentials::new(USERNAME, PASSWORD));
        scan(&self.inventory(), &credentials, profile, &options)
            .await
            .expect("scan runs")
    }

    pub async fn scan_with(&self, options: &ScanOptions) -> ScanReport {
        let credentials = CredentialStore::with_default(Credentials::new(USERNAME, PASSWORD));
        scan(&self.inventory(), &credentials, &Profile::builtin(), options)
            .await
            .expect("scan runs")
    }

    /// Scans another inventory of this rack's BMCs, trusting their certificates.
    pub async fn scan_inventory(&self, inventory: &Inventory) -> ScanReport {
        let ca = self.ca_bundle();
        let mut options = ScanOptions::default();
        options.client.ca_file = Some(ca.path().to_path_buf());
        let credentials = CredentialStore::with_default(Credentials::new(USERNAME, PASSWORD));
        scan(inventory, &credentials, &Profile::builtin(), &options)
            .await
            .expect("scan runs")
    }

    pub fn open_sessions(&self) -> usize {
        self.bmcs.iter().map(|(_, bmc)| bmc.stats().open_sessions).sum()
    }

    pub async fn shutdown(self) {
        for (_, bmc) in self.bmcs {
            bmc.shutdown().await;
        }
    }
}
