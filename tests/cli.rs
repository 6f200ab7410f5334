//! The rackcheck binary: report formats, exit codes and messages, run as a user runs it.

mod common;

use std::process::{Command, Output};

use mock_bmc::{BmcConfig, Mockup, Scenario};
use serde_json::Value;

use common::{PASSWORD, TestRack, USERNAME, mock_bmc_dir};

fn rackcheck(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rackcheck"));
    command
        .args(args)
        .env_remove("RACKCHECK_USERNAME")
        .env_remove("RACKCHECK_PASSWORD")
        .env("NO_COLOR", "1");
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the binary off the async runtime, so the in-process mock BMCs keep serving.
async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().expect("rackcheck runs"))
        .await
        .unwrap()
}

/// Writes a rack's inventory and CA bundle, and returns a command that scans it.
/// Runs `rackcheck scan` on an inventory file `name` that contains `csv`, without credentials.
fn scan_inventory(name: &str, csv: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join(name);
    std::fs::write(&inventory, csv).unwrap();
    rackcheck(&["scan", inventory.to_str().unwrap()]).output().unwrap()
}

fn scan_command(rack: &TestRack, dir: &tempfile::TempDir, extra: &[&str]) -> Command {
    let inventory = dir.path().join("rack.csv");
    let csv = rack
        .bmcs
        .iter()
        .enumerate()
        .map(|(index, (hostname, bmc))| format!("R1,{},{hostname},{},gpu-compute\n", index + 1, bmc.addr()))
        .collect::<String>();
    std::fs::write(&inventory, format!("rack,position,hostname,bmc,role\n{csv}")).unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(
        &ca,
        rack.bmcs
            .iter()
            .map(|(_, bmc)| bmc.certificate_pem())
            .collect::<String>(),
    )
    .unwrap();

    let mut args = vec!["scan", inventory.to_str().unwrap(), "--ca-file", ca.to_str().unwrap()];
    args.extend_from_slice(extra);
    let mut command = rackcheck(&args);
    command
        .env("RACKCHECK_USERNAME", USERNAME)
        .env("RACKCHECK_PASSWORD", PASSWORD);
    command
}

#[tokio::test]
async fn demo_json_follows_the_schema() {
    let output = run(rackcheck(&["demo", "--format", "json"])).await;

    assert_eq!(output.status.code(), Some(1), "stderr: {}", text(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    assert_eq!(report["schema_version"], 1);
    assert!(report["rack"].is_array());
    let nodes = report["nodes"].as_array().unwrap();
    assert!(nodes.len() >= 6);

    let verdicts: Vec<&str> = nodes.iter().map(|node| node["verdict"].as_str().unwrap()).collect();
    for verdict in ["pass", "fail", "error"] {
        assert!(verdicts.contains(&verdict), "no {verdict} node in {verdicts:?}");
    }
    for node in nodes {
        assert!(node["hostname"].is_string());
        assert!(node["bmc"].as_str().unwrap().starts_with("https://127.0.0.1:"));
        if node["verdict"] == "error" {
            assert!(node["error"].is_string());
            continue;
        }
        assert!(node["facts"].is_object());
        for finding in node["findings"].as_array().unwrap() {
            for field in ["rule", "status", "requirement", "expected", "observed", "evidence"] {
                assert!(!finding[field].is_null(), "finding without {field}: {finding}");
            }
        }
    }
}

#[tokio::test]
async fn demo_table_shows_failures_with_evidence() {
    let output = run(rackcheck(&["demo"])).await;

    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout.contains("gpu-a01"), "{stdout}");
    assert!(stdout.contains("bios-iommu-disabled"), "{stdout}");
    assert!(stdout.contains("expected: "), "{stdout}");
    assert!(stdout.contains("evidence: /redfish/v1/"), "{stdout}");
    assert!(!stdout.contains('\u{1b}'), "colour codes with NO_COLOR set");
}

#[tokio::test]
async fn passing_rack_exits_zero() {
    let mut rack = TestRack::new();
    rack.add("smc", "supermicro-as4125gs-l40s", None, "gpu-compute").await;
    let dir = tempfile::tempdir().unwrap();

    let output = run(scan_command(&rack, &dir, &[])).await;

    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        text(&output.stdout),
        text(&output.stderr)
    );
    assert!(!text(&output.stdout).contains(PASSWORD));
    assert!(!text(&output.stderr).contains(PASSWORD));
    rack.shutdown().await;
}

#[tokio::test]
async fn unknown_rule_exits_three() {
    let scenario = Scenario {
        description: "no Bios resource".into(),
        remove: vec!["/redfish/v1/Systems/1/Bios".into()],
        ..Scenario::default()
    };
    let mockup = Mockup::load(&mock_bmc_dir().join("mockups/supermicro-as4125gs-l40s")).unwrap();
    let mut rack = TestRack::new();
    let config = BmcConfig::loopback(USERNAME, PASSWORD);
    rack.add_mockup("smc", mockup.try_apply(&scenario).unwrap(), config, "gpu-compute")
        .await;
    let dir = tempfile::tempdir().unwrap();

    let output = run(scan_command(&rack, &dir, &["--format", "json"])).await;

    assert_eq!(output.status.code(), Some(3), "stderr: {}", text(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["nodes"][0]["verdict"], "unknown");
    rack.shutdown().await;
}

#[tokio::test]
async fn missing_credentials_exit_two_before_any_login() {
    let mut rack = TestRack::new();
    rack.add("smc", "supermicro-as4125gs-l40s", None, "gpu-compute").await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = scan_command(&rack, &dir, &[]);
    command.env_remove("RACKCHECK_PASSWORD");

    let output = run(command).await;

    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("RACKCHECK_PASSWORD"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(rack.bmc("smc").stats().requests, 0);
    rack.shutdown().await;
}

#[test]
fn invalid_inventory_exits_two_naming_file_and_line() {
    let output = scan_inventory(
        "bad.csv",
        "rack,position,hostname,bmc,role\nR1,1,gpu-1,127.0.0.1:8443,gpu-compute\nR1,2,gpu-2,127.0.0.1:8444,gpu\n",
    );

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr.contains("bad.csv:3"), "{stderr}");
    assert!(stderr.contains("`gpu`"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn credentials_in_a_bmc_address_are_not_shown() {
    let output = scan_inventory(
        "rack.csv",
        "rack,position,hostname,bmc,role\nR1,1,gpu-1,https://admin:s3cret-in-url@127.0.0.1:8443,gpu-compute\n",
    );

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr.contains("rack.csv:2"), "{stderr}");
    assert!(stderr.contains("`https://***@127.0.0.1:8443`"), "{stderr}");
    assert!(!stderr.contains("s3cret-in-url"), "{stderr}");
}

#[tokio::test]
async fn allow_net_takes_a_single_address() {
    let mut rack = TestRack::new();
    rack.add("smc", "supermicro-as4125gs-l40s", None, "gpu-compute").await;
    let dir = tempfile::tempdir().unwrap();

    let inside = run(scan_command(&rack, &dir, &["--allow-net", "127.0.0.1"])).await;
    let outside = run(scan_command(&rack, &dir, &["--allow-net", "127.0.0.2"])).await;
    let invalid = run(scan_command(&rack, &dir, &["--allow-net", "127.0.0.300"])).await;

    assert_eq!(inside.status.code(), Some(0), "{}", text(&inside.stderr));
    assert_eq!(outside.status.code(), Some(3), "{}", text(&outside.stderr));
    assert!(text(&outside.stderr).contains("outside the allowed networks (127.0.0.2/32)"));
    assert_eq!(invalid.status.code(), Some(2));
    assert!(
        text(&invalid.stderr).contains("`127.0.0.300`"),
        "{}",
        text(&invalid.stderr)
    );
    rack.shutdown().await;
}

#[test]
fn missing_inventory_exits_two() {
    let output = rackcheck(&["scan", "/nonexistent/rack.csv"]).output().unwrap();

    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("/nonexistent/rack.csv"));
}

#[test]
fn usage_error_exits_two() {
    let output = rackcheck(&["scan"]).output().unwrap();

    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn invalid_profile_exits_two_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile.toml");
    std::fs::write(&profile, "name = \"x\"\n").unwrap();

    let output = rackcheck(&["demo", "--profile", profile.to_str().unwrap()])
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("profile.toml"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn header_only_inventory_exits_two() {
    let output = scan_inventory("empty.csv", "rack,position,hostname,bmc,role\n");

    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("lists no nodes"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn unwritable_output_fails_before_scanning() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("rack.csv");
    std::fs::write(
        &inventory,
        "rack,position,hostname,bmc,role\nR1,1,gpu-1,127.0.0.1:9,gpu-compute\n",
    )
    .unwrap();

    let started = std::time::Instant::now();
    let output = rackcheck(&[
        "scan",
        inventory.to_str().unwrap(),
        "-o",
        "/nonexistent/dir/report.json",
    ])
    .env("RACKCHECK_USERNAME", USERNAME)
    .env("RACKCHECK_PASSWORD", PASSWORD)
    .output()
    .unwrap();

    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("/nonexistent/dir/report.json"),
        "{}",
        text(&output.stderr)
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn output_over_inventory_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("rack.csv");
    let original = "rack,position,hostname,bmc,role\nR1,1,gpu-1,127.0.0.1:9,gpu-compute\n";
    std::fs::write(&inventory, original).unwrap();

    let output = rackcheck(&["scan", inventory.to_str().unwrap(), "-o", inventory.to_str().unwrap()])
        .env("RACKCHECK_USERNAME", USERNAME)
        .env("RACKCHECK_PASSWORD", PASSWORD)
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&inventory).unwrap(), original);
}

#[test]
fn zero_concurrency_is_a_usage_error() {
    let output = rackcheck(&["demo", "--concurrency", "0"]).output().unwrap();

    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("at least 1"), "{}", text(&output.stderr));
}

#[test]
fn out_of_range_timeout_is_a_usage_error() {
    let output = rackcheck(&["demo", "--timeout", "1e30"]).output().unwrap();

    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("--timeout `1000000000000000000000000000000`"),
        "{}",
        text(&output.stderr)
    );
}

#[tokio::test]
async fn report_file_is_written_whole() {
    let mut rack = TestRack::new();
    rack.add("smc", "supermicro-as4125gs-l40s", None, "gpu-compute").await;
    let dir = tempfile::tempdir().unwrap();
    let report_path = dir.path().join("report.json");

    let output = run(scan_command(
        &rack,
        &dir,
        &["--format", "json", "-o", report_path.to_str().unwrap()],
    ))
    .await;

    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(output.stdout.is_empty());
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    assert_eq!(report["nodes"][0]["verdict"], "pass");
    assert!(report["nodes"][0]["error"].is_null());
    rack.shutdown().await;
}

#[test]
fn requirements_json_lists_every_id() {
    let output = rackcheck(&["requirements", "--format", "json"]).output().unwrap();

    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let list: Value = serde_json::from_slice(&output.stdout).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 85);
    for requirement in list {
        let coverage = requirement["coverage"].as_str().unwrap();
        assert!(
            ["out-of-band", "partly", "in-band", "site"].contains(&coverage),
            "{requirement}"
        );
        assert!(requirement["id"].is_string() && requirement["section"].is_string());
        assert!(requirement["rules"].is_array());
    }
    let ecc = list.iter().find(|r| r["id"] == "M-1").unwrap();
    assert!(ecc["rules"].as_array().unwrap().contains(&Value::from("dimm-ecc")));
}
