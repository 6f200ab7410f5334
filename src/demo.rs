//! The demo rack: mock BMCs started in-process from the project's own mockups, each node
//! with its own scenario, plus one BMC that refuses connections.
//!
//! It shows a mixed rack without any hardware: passing nodes, nodes that fail for different
//! reasons, and a node in error, all over real HTTPS with sessions.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use mock_bmc::{BmcConfig, MockBmc, Mockup, Scenario};

use crate::credentials::{CredentialStore, Credentials};
use crate::inventory::Inventory;

/// Folder of the project's mockups and scenarios, fixed at build time.
pub const DEFAULT_MOCK_BMC_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/mock-bmc");

const DEMO_USERNAME: &str = "rackcheck-demo";

/// One node of the demo rack: its inventory fields and the mockup it is served from.
struct DemoNode {
    hostname: &'static str,
    position: u32,
    role: &'static str,
    mockup: &'static str,
    scenario: Option<&'static str>,
}

const DEMO_NODES: &[DemoNode] = &[
    demo_node("gpu-a01", 2, "gpu-compute", DELL_MOCKUP, None),
    demo_node(
        "gpu-a02",
        8,
        "gpu-compute",
        DELL_MOCKUP,
        Some("dell-xe9680-h100--iommu-enabled"),
    ),
    demo_node("gpu-a03", 14, "gpu-compute", SUPERMICRO_MOCKUP, None),
    demo_node(
        "gpu-a04",
        19,
        "gpu-compute",
        SUPERMICRO_MOCKUP,
        Some("supermicro-as4125gs-l40s--dimm5-no-ecc"),
    ),
    demo_node(
        "gpu-a05",
        24,
        "gpu-compute",
        SUPERMICRO_MOCKUP,
        Some("supermicro-as4125gs-l40s--gpu8-v100"),
    ),
    demo_node(
        "gpu-a06",
        28,
        "gpu-compute",
        DELL_MOCKUP,
        Some("dell-xe9680-h100--gpu8-missing"),
    ),
    demo_node("stor-a07", 30, "storage", STORAGE_MOCKUP, None),
    demo_node(
        "stor-a08",
        32,
        "storage",
        STORAGE_MOCKUP,
        Some("lenovo-sr655v3-storage--psu2-failed"),
    ),
    demo_node(
        "stor-a09",
        34,
        "storage",
        STORAGE_MOCKUP,
        Some("lenovo-sr655v3-storage--boot-raid0"),
    ),
];

const fn demo_node(
    hostname: &'static str,
    position: u32,
    role: &'static str,
    mockup: &'static str,
    scenario: Option<&'static str>,
) -> DemoNode {
    DemoNode {
        hostname,
        position,
        role,
        mockup,
        scenario,
    }
}

const DELL_MOCKUP: &str = "dell-xe9680-h100";
const SUPERMICRO_MOCKUP: &str = "supermicro-as4125gs-l40s";
const STORAGE_MOCKUP: &str = "lenovo-sr655v3-storage";

/// Hostname of the node whose BMC refuses connections.
const UNREACHABLE_NODE: &str = "gpu-a10";

/// A running demo rack and what a scan of it needs.
pub struct DemoRack {
    bmcs: Vec<MockBmc>,
    pub inventory: Inventory,
    pub credentials: CredentialStore,
    /// A PEM bundle of every demo BMC's self-signed certificate, so the scan verifies TLS.
    pub ca_file: tempfile::NamedTempFile,
}

impl DemoRack {
    /// Starts one mock BMC per demo node on 127.0.0.1 with an ephemeral port each.
    pub async fn start(mock_bmc_dir: &Path) -> anyhow::Result<DemoRack> {
        let password = random_password();
        let mut bmcs = Vec::new();
        let mut csv = String::from("rack,position,hostname,bmc,role,gpus\n");

        for node in DEMO_NODES {
            let mockup = load_mockup(mock_bmc_dir, node.mockup, node.scenario)?;
            let config = BmcConfig::loopback(DEMO_USERNAME, &password);
            let bmc = MockBmc::start(Arc::new(mockup), config)
                .await
                .with_context(|| format!("cannot start the demo BMC of {}", node.hostname))?;
            // Every demo GPU server was built with 8 GPUs.
            let gpus = if node.role == "gpu-compute" { "8" } else { "" };
            let row = format!(
                "A,{},{},{},{},{gpus}\n",
                node.position,
                node.hostname,
                bmc.addr(),
                node.role
            );
            csv.push_str(&row);
            bmcs.push(bmc);
        }

        // A port that was bound and released: connections to it are refused.
        let closed_port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        csv.push_str(&format!(
            "A,40,{UNREACHABLE_NODE},127.0.0.1:{closed_port},gpu-compute,8\n"
        ));

        let inventory = Inventory::parse(&csv, "demo-rack.csv").context("the demo inventory is invalid")?;
        let credentials = CredentialStore::with_default(Credentials::new(DEMO_USERNAME, password));
        let ca_file = write_ca_bundle(&bmcs)?;
        Ok(DemoRack {
            bmcs,
            inventory,
            credentials,
            ca_file,
        })
    }

    pub fn ca_path(&self) -> PathBuf {
        self.ca_file.path().to_path_buf()
    }

    /// Returns the event log of the demo BMC of `hostname`: the state changes it accepted.
    pub fn events(&self, hostname: &str) -> Option<Vec<mock_bmc::Event>> {
        let index = DEMO_NODES.iter().position(|node| node.hostname == hostname)?;
        self.bmcs.get(index).map(MockBmc::events)
    }

    /// Number of sessions still open on all demo BMCs.
    pub fn open_sessions(&self) -> usize {
        self.bmcs.iter().map(|bmc| bmc.stats().open_sessions).sum()
    }

    pub async fn shutdown(self) {
        for bmc in self.bmcs {
            bmc.shutdown().await;
        }
    }
}

fn load_mockup(mock_bmc_dir: &Path, name: &str, scenario: Option<&str>) -> anyhow::Result<Mockup> {
    let dir = mock_bmc_dir.join("mockups").join(name);
    let mockup = Mockup::load(&dir).with_context(|| {
        format!(
            "cannot load the demo mockup {}\nhint: the demo reads mockups from the source tree it was built from; \
             pass --mock-bmc-dir with the path of that tree's mock-bmc folder",
            dir.display()
        )
    })?;
    let Some(scenario) = scenario else {
        return Ok(mockup);
    };
    let file = mock_bmc_dir.join("scenarios").join(format!("{scenario}.json"));
    let scenario = Scenario::load(&file).with_context(|| format!("cannot load scenario {}", file.display()))?;
    mockup
        .try_apply(&scenario)
        .with_context(|| format!("scenario {} does not fit its mockup", file.display()))
}

fn write_ca_bundle(bmcs: &[MockBmc]) -> anyhow::Result<tempfile::NamedTempFile> {
    let mut file = tempfile::Builder::new()
        .prefix("rackcheck-demo-ca")
        .suffix(".pem")
        .tempfile()?;
    for bmc in bmcs {
        file.write_all(bmc.certificate_pem().as_bytes())?;
    }
    file.flush()?;
    Ok(file)
}

/// Makes a password for each demo run, so no fixed secret is in the source.
fn random_password() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};

    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    format!("demo-{:016x}", hasher.finish())
}
