//! Capture and replay: a scan with a capture folder, judged again offline, gives the same
//! findings, and the folder contains no secret.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mock_bmc::{BmcConfig, Mockup};
use rackcheck::capture::{MANIFEST_FILE, REDACTED, check};
use rackcheck::policy::Profile;
use rackcheck::report::Outcome;
use rackcheck::scan::{ScanOptions, ScanReport};
use serde_json::Value;

use common::{PASSWORD, TestRack, USERNAME, mock_bmc_dir};

/// A token-like value planted in a mockup, as a BMC that echoes secrets would serve it.
const PLANTED_TOKEN: &str = "planted-session-token-4f9c2d";

async fn mixed_rack() -> TestRack {
    let mut rack = TestRack::new();
    rack.add("gpu-dell", "dell-xe9680-h100", None, "gpu-compute").await;
    rack.add("gpu-smc", "supermicro-as4125gs-l40s", None, "gpu-compute")
        .await;
    rack.add("storage-1", "lenovo-sr655v3-storage", None, "storage").await;
    rack.add(
        "gpu-ecc",
        "dell-xe9680-h100",
        Some("dell-xe9680-h100--dimm-b3-no-ecc"),
        "gpu-compute",
    )
    .await;
    rack.add(
        "storage-psu",
        "lenovo-sr655v3-storage",
        Some("lenovo-sr655v3-storage--psu2-failed"),
        "storage",
    )
    .await;
    rack.add_unreachable("gpu-down");
    rack
}

async fn scan_with_capture(rack: &TestRack, capture: &Path) -> ScanReport {
    let ca = rack.ca_bundle();
    let mut options = ScanOptions::default();
    options.client.ca_file = Some(ca.path().to_path_buf());
    options.capture = Some(capture.to_path_buf());
    rack.scan_with(&options).await
}

fn files_under(folder: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![folder.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

fn assert_same_nodes(live: &ScanReport, offline: &ScanReport) {
    let hostnames = |report: &ScanReport| {
        report
            .nodes
            .iter()
            .map(|node| node.hostname.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(hostnames(live), hostnames(offline));
    for (live_node, offline_node) in live.nodes.iter().zip(&offline.nodes) {
        let host = &live_node.hostname;
        assert_eq!(live_node.verdict, offline_node.verdict, "verdict of {host}");
        assert_eq!(live_node.error, offline_node.error, "error of {host}");
        assert_eq!(live_node.role, offline_node.role, "role of {host}");
        assert_eq!(live_node.bmc, offline_node.bmc, "bmc of {host}");
        assert_eq!(
            live_node.findings.len(),
            offline_node.findings.len(),
            "finding count of {host}"
        );
        for (live_finding, offline_finding) in live_node.findings.iter().zip(&offline_node.findings) {
            assert_eq!(live_finding, offline_finding, "finding {} of {host}", live_finding.rule);
        }
    }
    assert_eq!(live.rack, offline.rack, "rack findings");
}

#[tokio::test]
async fn offline_check_matches_live_scan() {
    let rack = mixed_rack().await;
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("capture");

    let live = scan_with_capture(&rack, &capture).await;
    let offline = check(&capture, &Profile::builtin()).await.expect("capture is readable");

    let verdicts: Vec<String> = live.nodes.iter().map(|node| node.verdict.to_string()).collect();
    // The Dell mockup's CPU clocks miss the built-in profile's minimums, so it fails as shipped.
    assert_eq!(
        verdicts,
        ["fail", "pass", "pass", "fail", "fail", "error"],
        "live verdicts"
    );
    assert_same_nodes(&live, &offline);
    assert_eq!(Outcome::of(&live), Outcome::of(&offline));
    for node in &live.nodes {
        assert!(
            capture.join(&node.hostname).join(MANIFEST_FILE).is_file(),
            "{} has no manifest",
            node.hostname
        );
    }
    assert!(capture.join("gpu-dell/redfish/v1/index.json").is_file());
    rack.shutdown().await;
}

#[tokio::test]
async fn offline_check_uses_given_profile() {
    let rack = mixed_rack().await;
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("capture");
    scan_with_capture(&rack, &capture).await;

    let profile = Profile::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/runpod-2025.toml"))
        .expect("the example profile loads");
    let live = rack.scan_with_profile(&profile).await;
    let offline = check(&capture, &profile).await.unwrap();

    assert_eq!(offline.profile, profile.name);
    assert_same_nodes(&live, &offline);
    rack.shutdown().await;
}

#[tokio::test]
async fn capture_contains_no_secrets() {
    let dir = mock_bmc_dir().join("mockups/dell-xe9680-h100");
    let mut mockup = Mockup::load(&dir).unwrap();
    let manager_path = "/redfish/v1/Managers/iDRAC.Embedded.1";
    let mut manager = mockup.get(manager_path).expect("the mockup has a manager").clone();
    manager["Oem"] = serde_json::json!({
        "Vendor": {
            "AdminPassword": PASSWORD,
            "SessionToken": PLANTED_TOKEN,
            "SNMP": {"CommunityStrings": [{"Name": "public", "AccessMode": "Limited"}]},
        }
    });
    mockup.insert(manager_path, manager);
    let mut rack = TestRack::new();
    rack.add_mockup(
        "gpu-secret",
        mockup,
        BmcConfig::loopback(USERNAME, PASSWORD),
        "gpu-compute",
    )
    .await;
    let work = tempfile::tempdir().unwrap();
    let capture = work.path().join("capture");

    scan_with_capture(&rack, &capture).await;

    let files = files_under(&capture);
    assert!(files.len() > 20, "only {} files captured", files.len());
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(!text.contains(PASSWORD), "{} contains the password", file.display());
        assert!(!text.contains(PLANTED_TOKEN), "{} contains the token", file.display());
        assert!(!text.contains(USERNAME), "{} contains the user name", file.display());
    }
    let manager_file = capture.join("gpu-secret/redfish/v1/Managers/iDRAC.Embedded.1/index.json");
    let manager: Value = serde_json::from_str(&std::fs::read_to_string(manager_file).unwrap()).unwrap();
    assert_eq!(manager["Oem"]["Vendor"]["AdminPassword"], REDACTED);
    assert_eq!(
        manager["Oem"]["Vendor"]["SNMP"]["CommunityStrings"][0]["Name"],
        REDACTED
    );
    assert_eq!(
        manager["Oem"]["Vendor"]["SNMP"]["CommunityStrings"][0]["AccessMode"],
        REDACTED
    );
    assert!(!capture.join("gpu-secret/redfish/v1/SessionService/Sessions").exists());
    rack.shutdown().await;
}

#[tokio::test]
async fn second_capture_replaces_first() {
    let mut rack = TestRack::new();
    rack.add("gpu-dell", "dell-xe9680-h100", None, "gpu-compute").await;
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("capture");
    let stale = capture.join("gpu-dell/redfish/v1/Stale/index.json");

    scan_with_capture(&rack, &capture).await;
    std::fs::create_dir_all(stale.parent().unwrap()).unwrap();
    std::fs::write(&stale, "{}").unwrap();
    scan_with_capture(&rack, &capture).await;

    assert!(!stale.exists(), "the earlier capture was not replaced");
    assert!(capture.join("gpu-dell").join(MANIFEST_FILE).is_file());
    let leftovers: Vec<_> = std::fs::read_dir(&capture)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["gpu-dell"], "temporary folders left behind");
    rack.shutdown().await;
}

#[tokio::test]
async fn capture_keeps_foreign_folder() {
    let mut rack = TestRack::new();
    rack.add("gpu-smc", "supermicro-as4125gs-l40s", None, "gpu-compute")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("capture");
    let foreign = capture.join("gpu-smc/notes.txt");
    std::fs::create_dir_all(foreign.parent().unwrap()).unwrap();
    std::fs::write(&foreign, "not a capture").unwrap();

    let report = scan_with_capture(&rack, &capture).await;

    assert_eq!(
        report.nodes[0].verdict.to_string(),
        "pass",
        "a capture failure must not fail the node"
    );
    assert!(foreign.is_file(), "a folder without node.json was removed");
    rack.shutdown().await;
}

#[tokio::test]
async fn check_rejects_empty_folder() {
    let dir = tempfile::tempdir().unwrap();

    let err = check(dir.path(), &Profile::builtin()).await.unwrap_err();

    assert!(err.to_string().contains("contains no node capture"), "{err}");
}

fn rackcheck(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rackcheck"));
    command
        .args(args)
        .env("RACKCHECK_USERNAME", USERNAME)
        .env("RACKCHECK_PASSWORD", PASSWORD)
        .env("NO_COLOR", "1");
    command
}

/// Runs the binary off the async runtime, so the in-process mock BMCs keep serving.
async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().expect("rackcheck runs"))
        .await
        .unwrap()
}

#[tokio::test]
async fn cli_check_matches_cli_scan() {
    let rack = mixed_rack().await;
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("rack.csv");
    std::fs::write(&inventory, rack_csv(&rack)).unwrap();
    let ca = rack.ca_bundle();
    let capture = dir.path().join("capture");
    let path = |path: &Path| path.to_str().unwrap().to_string();

    let scan = run(rackcheck(&[
        "scan",
        &path(&inventory),
        "--ca-file",
        &path(ca.path()),
        "--capture",
        &path(&capture),
        "--format",
        "json",
    ]))
    .await;
    let offline = run(rackcheck(&["check", "--capture", &path(&capture), "--format", "json"])).await;

    assert_eq!(
        scan.status.code(),
        Some(1),
        "scan stderr: {}",
        String::from_utf8_lossy(&scan.stderr)
    );
    assert_eq!(
        offline.status.code(),
        scan.status.code(),
        "check stderr: {}",
        String::from_utf8_lossy(&offline.stderr)
    );
    let live: ScanReport = serde_json::from_slice(&scan.stdout).unwrap();
    let judged: ScanReport = serde_json::from_slice(&offline.stdout).unwrap();
    assert_same_nodes(&live, &judged);
    rack.shutdown().await;
}

/// Returns the rack's inventory CSV with the roles `mixed_rack` gives each node.
fn rack_csv(rack: &TestRack) -> String {
    let inventory = rack.inventory();
    let mut csv = "rack,position,hostname,bmc,role\n".to_string();
    for node in &inventory.nodes {
        csv.push_str(&format!(
            "{},{},{},{},{}\n",
            node.rack,
            node.position,
            node.hostname,
            node.bmc,
            node.role.as_str()
        ));
    }
    csv
}

#[tokio::test]
async fn capture_serves_as_mockup() {
    let mut rack = TestRack::new();
    rack.add(
        "gpu-ecc",
        "dell-xe9680-h100",
        Some("dell-xe9680-h100--dimm-b3-no-ecc"),
        "gpu-compute",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("capture");
    let live = scan_with_capture(&rack, &capture).await;

    let mut replayed = TestRack::new();
    replayed
        .add_dir("gpu-ecc", &capture.join("gpu-ecc"), None, "gpu-compute")
        .await;
    let served = replayed.scan().await;

    assert_eq!(live.nodes[0].verdict, served.nodes[0].verdict);
    assert_eq!(live.nodes[0].findings, served.nodes[0].findings);
    rack.shutdown().await;
    replayed.shutdown().await;
}

/// A scan that reads with `$expand` leaves a capture that replays offline and serves as a
/// plain mockup with the same findings. The Dell mockup, whose iDRAC inlines one level, is
/// read member by member, and the Lenovo one two levels at once.
#[tokio::test]
async fn expanded_capture_replays() {
    let mut rack = TestRack::new();
    for (hostname, mockup) in [
        ("gpu-dell", "dell-xe9680-h100"),
        ("storage-1", "lenovo-sr655v3-storage"),
    ] {
        let loaded = Mockup::load(&mock_bmc_dir().join("mockups").join(mockup)).unwrap();
        let config = BmcConfig {
            expand: true,
            ..BmcConfig::loopback(USERNAME, PASSWORD)
        };
        rack.add_mockup(hostname, loaded, config, "gpu-compute").await;
    }
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("capture");

    let live = scan_with_capture(&rack, &capture).await;
    let offline = check(&capture, &Profile::builtin()).await.expect("capture is readable");
    assert_same_nodes(&live, &offline);

    let mut served = TestRack::new();
    for node in &live.nodes {
        served
            .add_dir(&node.hostname, &capture.join(&node.hostname), None, "gpu-compute")
            .await;
    }
    let replayed = served.scan().await;
    for (live_node, replayed_node) in live.nodes.iter().zip(&replayed.nodes) {
        assert_eq!(live_node.error, None);
        assert_eq!(
            live_node.findings, replayed_node.findings,
            "{} served from its capture",
            live_node.hostname
        );
    }
    let drives = &live.nodes[0].facts.as_ref().unwrap().drives;
    assert_eq!(drives.len(), 10, "the Dell mockup's drives");
    rack.shutdown().await;
    served.shutdown().await;
}

/// Captures and re-judges the real BMC captures that RACKCHECK_REAL_MOCKUPS names, as
/// `real_mockups.rs` scans them, so vendor quirks in paths and `$expand` replay too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_mockups_replay_identically() {
    let Some(root) = std::env::var_os("RACKCHECK_REAL_MOCKUPS").map(PathBuf::from) else {
        eprintln!("RACKCHECK_REAL_MOCKUPS is not set; skipping the real-mockup replay");
        return;
    };
    let mut servers: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("RACKCHECK_REAL_MOCKUPS is a readable folder")
        .map(|entry| entry.unwrap().path())
        .filter(|dir| dir.join("redfish/v1/Systems").is_dir())
        .collect();
    servers.sort();
    let mut rack = TestRack::new();
    for dir in &servers {
        let name = dir.file_name().unwrap().to_string_lossy().to_ascii_lowercase();
        rack.add_dir(&name, dir, None, "gpu-compute").await;
    }
    let work = tempfile::tempdir().unwrap();
    let capture = work.path().join("capture");

    let live = scan_with_capture(&rack, &capture).await;
    let offline = check(&capture, &Profile::builtin()).await.expect("capture is readable");

    assert_same_nodes(&live, &offline);
    rack.shutdown().await;
}

#[tokio::test]
async fn failed_read_replays_same_error() {
    let dir = mock_bmc_dir().join("mockups/supermicro-as4125gs-l40s");
    let mut mockup = Mockup::load(&dir).unwrap();
    let memory_path = "/redfish/v1/Systems/1/Memory";
    let mut memory = mockup
        .get(memory_path)
        .expect("the mockup has a Memory collection")
        .clone();
    memory["Members"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"@odata.id": "/redfish/v1/Systems/1/Memory/missing"}));
    mockup.insert(memory_path, memory);
    let mut rack = TestRack::new();
    rack.add_mockup(
        "gpu-gap",
        mockup,
        BmcConfig::loopback(USERNAME, PASSWORD),
        "gpu-compute",
    )
    .await;
    let work = tempfile::tempdir().unwrap();
    let capture = work.path().join("capture");

    let live = scan_with_capture(&rack, &capture).await;
    let offline = check(&capture, &Profile::builtin()).await.unwrap();

    let problems = &live.nodes[0].facts.as_ref().unwrap().problems;
    assert!(
        problems.iter().any(|problem| problem.uri.ends_with("/Memory/missing")),
        "the live scan did not meet the missing DIMM: {problems:?}"
    );
    assert_eq!(
        live.nodes[0].facts.as_ref().unwrap().problems,
        offline.nodes[0].facts.as_ref().unwrap().problems
    );
    assert_same_nodes(&live, &offline);
    rack.shutdown().await;
}
