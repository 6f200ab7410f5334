//! Helpers shared by the integration tests: a small mockup on disk and HTTPS clients.

#![allow(dead_code, reason = "each test binary uses a different subset of the helpers")]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use mock_bmc::{BmcConfig, MockBmc, Mockup};
use serde_json::{Value, json};

pub const USER: &str = "root";
pub const PASSWORD: &str = "calvin";

/// A temporary folder, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let unique = format!(
            "mock-bmc-{label}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes `body` as the resource at `uri` in the DMTF mockup layout under `dir`.
pub fn write_resource(dir: &Path, uri: &str, body: &[u8]) {
    let folder = dir.join(uri.trim_start_matches('/'));
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("index.json"), body).unwrap();
}

fn collection(uri: &str, members: &[String]) -> Value {
    let links: Vec<Value> = members.iter().map(|member| json!({ "@odata.id": member })).collect();
    json!({ "@odata.id": uri, "Name": "Collection", "Members": links, "Members@odata.count": members.len() })
}

/// Writes a small server mockup: one system with five DIMMs, one chassis with two PSUs and
/// a sensor whose name has a space. It has no SessionService, a BOM in one file and one
/// file of invalid JSON.
pub fn write_test_mockup(dir: &Path) {
    let root = json!({
        "@odata.id": "/redfish/v1",
        "Id": "RootService",
        "RedfishVersion": "1.15.0",
        "Systems": { "@odata.id": "/redfish/v1/Systems" },
        "Chassis": { "@odata.id": "/redfish/v1/Chassis" },
        "SessionService": { "@odata.id": "/redfish/v1/SessionService" },
        "Links": { "Sessions": { "@odata.id": "/redfish/v1/SessionService/Sessions" } },
    });
    write_resource(dir, "/redfish/v1", root.to_string().as_bytes());
    write_resource(
        dir,
        "/redfish/v1/Systems",
        collection("/redfish/v1/Systems", &["/redfish/v1/Systems/1".into()])
            .to_string()
            .as_bytes(),
    );

    let system = json!({ "@odata.id": "/redfish/v1/Systems/1", "Id": "1", "Memory": { "@odata.id": "/redfish/v1/Systems/1/Memory" } });
    let mut with_bom = b"\xEF\xBB\xBF".to_vec();
    with_bom.extend_from_slice(system.to_string().as_bytes());
    write_resource(dir, "/redfish/v1/Systems/1", &with_bom);

    let dimms: Vec<String> = (0..5)
        .map(|i| format!("/redfish/v1/Systems/1/Memory/DIMM{i}"))
        .collect();
    write_resource(
        dir,
        "/redfish/v1/Systems/1/Memory",
        collection("/redfish/v1/Systems/1/Memory", &dimms)
            .to_string()
            .as_bytes(),
    );
    for (i, uri) in dimms.iter().enumerate() {
        let dimm = json!({ "@odata.id": uri, "Id": format!("DIMM{i}"), "ErrorCorrection": "MultiBitECC", "CapacityMiB": 65536 });
        write_resource(dir, uri, dimm.to_string().as_bytes());
    }

    write_resource(
        dir,
        "/redfish/v1/Chassis",
        collection("/redfish/v1/Chassis", &["/redfish/v1/Chassis/1".into()])
            .to_string()
            .as_bytes(),
    );
    write_resource(
        dir,
        "/redfish/v1/Chassis/1",
        json!({ "@odata.id": "/redfish/v1/Chassis/1", "Id": "1" })
            .to_string()
            .as_bytes(),
    );
    let psus = [
        "/redfish/v1/Chassis/1/PowerSubsystem/PowerSupplies/PSU1".to_string(),
        "/redfish/v1/Chassis/1/PowerSubsystem/PowerSupplies/PSU2".to_string(),
    ];
    write_resource(
        dir,
        "/redfish/v1/Chassis/1/PowerSubsystem/PowerSupplies",
        collection("/redfish/v1/Chassis/1/PowerSubsystem/PowerSupplies", &psus)
            .to_string()
            .as_bytes(),
    );
    for uri in &psus {
        let psu =
            json!({ "@odata.id": uri, "Status": { "State": "Enabled", "Health": "OK" }, "PowerCapacityWatts": 3000 });
        write_resource(dir, uri, psu.to_string().as_bytes());
    }
    let sensor = json!({ "@odata.id": "/redfish/v1/Chassis/1/Sensors/Inlet%20Temp", "Reading": 24 });
    write_resource(
        dir,
        "/redfish/v1/Chassis/1/Sensors/Inlet Temp",
        sensor.to_string().as_bytes(),
    );

    write_resource(dir, "/redfish/v1/Broken", b"{ \"Id\": ");
}

/// Loads the test mockup from a fresh temporary folder.
pub fn test_mockup() -> Arc<Mockup> {
    let dir = TempDir::new("mockup");
    write_test_mockup(dir.path());
    Arc::new(Mockup::load(dir.path()).unwrap())
}

/// Starts a BMC on 127.0.0.1:0 serving the test mockup with `configure` applied to the config.
pub async fn start_bmc(configure: impl FnOnce(&mut BmcConfig)) -> MockBmc {
    let mut config = BmcConfig::loopback(USER, PASSWORD);
    configure(&mut config);
    MockBmc::start(test_mockup(), config).await.unwrap()
}

fn install_ring_provider() {
    // reqwest's `rustls-no-provider` feature uses the process-wide default provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Returns a client that trusts only the BMC's self-signed certificate.
pub fn client_for(bmc: &MockBmc) -> reqwest::Client {
    install_ring_provider();
    let certificate = reqwest::Certificate::from_pem(bmc.certificate_pem().as_bytes()).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([certificate])
        .build()
        .unwrap()
}

/// Returns a client that accepts any certificate, as `--insecure` would.
pub fn insecure_client() -> reqwest::Client {
    install_ring_provider();
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
}

/// GETs `path` with basic auth and returns the status and JSON body.
pub async fn get_basic(client: &reqwest::Client, bmc: &MockBmc, path: &str) -> (u16, Value) {
    let response = client
        .get(format!("{}{path}", bmc.base_url()))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}
