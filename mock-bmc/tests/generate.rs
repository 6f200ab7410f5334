//! Generated racks: addresses, the inventory CSV, and BMCs that respond over HTTPS.

mod common;

use std::io::{BufRead as _, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{TempDir, insecure_client};
use mock_bmc::{GenerateOptions, Rack, generate_rack, inventory_csv};

fn mockup_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("mockups/supermicro-as4125gs-l40s")
}

fn options(count: usize, port: u16) -> GenerateOptions {
    GenerateOptions {
        count,
        mockup: mockup_dir(),
        scenario: None,
        port,
        username: "admin".to_string(),
        password: "mock-password".to_string(),
        expand: false,
        latency_ms: None,
    }
}

#[test]
fn generated_addresses_continue_past_254() {
    let config = generate_rack(&options(300, 8443)).unwrap();

    assert_eq!(config.bmcs.len(), 300);
    assert_eq!(config.bmcs[0].name, "node-00001");
    assert_eq!(config.bmcs[0].listen, "127.0.1.1:8443".parse::<SocketAddr>().unwrap());
    assert_eq!(config.bmcs[253].listen.ip(), Ipv4Addr::new(127, 0, 1, 254));
    assert_eq!(config.bmcs[254].listen.ip(), Ipv4Addr::new(127, 0, 2, 1));
    assert_eq!(config.bmcs[299].listen.ip(), Ipv4Addr::new(127, 0, 2, 46));
}

#[test]
fn generated_count_must_be_positive() {
    let err = generate_rack(&options(0, 8443)).unwrap_err();

    assert!(
        err.to_string().contains("invalid number of BMCs to generate: 0"),
        "{err}"
    );
}

#[test]
fn inventory_lists_every_bmc() {
    let config = generate_rack(&options(41, 8443)).unwrap();

    let nodes = config.bmcs.iter().map(|bmc| (bmc.name.as_str(), bmc.listen));
    let csv = inventory_csv(nodes, "gpu-compute");

    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "rack,position,hostname,bmc,role");
    assert_eq!(lines.len(), 42);
    assert_eq!(lines[1], "R001,1,node-00001,127.0.1.1:8443,gpu-compute");
    assert_eq!(lines[40], "R001,40,node-00040,127.0.1.40:8443,gpu-compute");
    assert_eq!(lines[41], "R002,1,node-00041,127.0.1.41:8443,gpu-compute");
}

#[tokio::test]
async fn generated_rack_answers_with_latency() {
    let mut generate = options(20, 0);
    generate.latency_ms = Some(50);
    let config = generate_rack(&generate).unwrap();

    let rack = Rack::start(&config).await.unwrap();

    let client = insecure_client();
    for (name, bmc) in rack.bmcs().iter().step_by(7) {
        let started = std::time::Instant::now();
        let response = client
            .get(format!("{}/redfish/v1/Systems/1", bmc.base_url()))
            .basic_auth("admin", Some("mock-password"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{name}");
        assert!(
            started.elapsed().as_millis() >= 50,
            "{name} answered without the latency"
        );
    }
    assert_eq!(rack.bmcs()[19].0, "node-00020");
    assert_eq!(rack.bmcs()[19].1.addr().ip().to_string(), "127.0.1.20");
    rack.shutdown().await;
}

/// Kills the child process when the test ends, even on a failed assert.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn binary_generates_rack_and_inventory() {
    let dir = TempDir::new("generate");
    let inventory = dir.path().join("inventory.csv");
    let child = Command::new(env!("CARGO_BIN_EXE_mock-bmc"))
        .args(["rack", "--generate", "3", "--port", "0", "--mockup"])
        .arg(mockup_dir())
        .arg("--inventory")
        .arg(&inventory)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);

    let stdout = BufReader::new(child.0.stdout.take().unwrap());
    let lines: Vec<String> = stdout.lines().take(3).map(Result::unwrap).collect();

    assert_eq!(lines.len(), 3);
    assert!(lines[0].starts_with("node-00001 https://127.0.1.1:"), "{}", lines[0]);
    assert!(lines[2].starts_with("node-00003 https://127.0.1.3:"), "{}", lines[2]);
    let csv = std::fs::read_to_string(&inventory).unwrap();
    assert_eq!(csv.lines().count(), 4);
    let port = lines[2].rsplit(':').next().unwrap();
    assert!(
        csv.contains(&format!("R001,3,node-00003,127.0.1.3:{port},gpu-compute")),
        "{csv}"
    );
}
