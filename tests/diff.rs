//! `rackcheck diff` and re-scans with `--only`: reports from real scans of mock BMCs,
//! compared, selected from and merged.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use rackcheck::diff::{DiffFormat, diff, write};
use rackcheck::policy::{Profile, Status, Verdict};
use rackcheck::rescan::{Only, merge, select};
use rackcheck::scan::ScanReport;

use common::{PASSWORD, TestRack, USERNAME};

/// Scans a rack of three healthy nodes, with `scenario` applied to the Supermicro node.
async fn scan_rack(scenario: Option<&str>) -> ScanReport {
    let mut rack = TestRack::new();
    rack.add("gpu-a", "supermicro-as4125gs-l40s", None, "gpu-compute").await;
    rack.add("gpu-b", "supermicro-as4125gs-l40s", scenario, "gpu-compute")
        .await;
    rack.add("storage-1", "lenovo-sr655v3-storage", None, "storage").await;
    let report = rack.scan().await;
    rack.shutdown().await;
    report
}

fn verdict_of(report: &ScanReport, hostname: &str) -> Verdict {
    report
        .nodes
        .iter()
        .find(|node| node.hostname == hostname)
        .unwrap_or_else(|| panic!("{hostname} not in the report"))
        .verdict
}

#[tokio::test]
async fn diff_lists_changed_rule() {
    let old = scan_rack(None).await;
    let new = scan_rack(Some("supermicro-as4125gs-l40s--dimm5-no-ecc")).await;

    let changes = diff(&old, &new);

    assert!(changes.added.is_empty());
    assert!(changes.removed.is_empty());
    assert_eq!(changes.changed.len(), 1, "{changes:?}");
    let node = &changes.changed[0];
    assert_eq!(node.hostname, "gpu-b");
    assert_eq!(node.old_verdict, Verdict::Pass);
    assert_eq!(node.new_verdict, Verdict::Fail);
    let ecc = node
        .rules
        .iter()
        .find(|rule| rule.rule == "dimm-ecc")
        .expect("dimm-ecc changed");
    assert_eq!(ecc.old.as_ref().unwrap().status, Status::Pass);
    assert_eq!(ecc.new.as_ref().unwrap().status, Status::Fail);
    assert!(ecc.new.as_ref().unwrap().observed.contains("without ECC"), "{ecc:?}");

    let mut text = Vec::new();
    write(&changes, DiffFormat::Table, &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("~ gpu-b: verdict pass -> fail"), "{text}");
    assert!(text.contains("dimm-ecc: pass ("), "{text}");
}

#[tokio::test]
async fn diff_of_same_report_is_empty() {
    let report = scan_rack(None).await;

    let changes = diff(&report, &report);

    assert!(changes.is_empty(), "{changes:?}");
    let mut text = Vec::new();
    write(&changes, DiffFormat::Table, &mut text).unwrap();
    assert_eq!(String::from_utf8(text).unwrap(), "no changes\n");
}

#[tokio::test]
async fn diff_lists_added_and_removed_nodes() {
    let old = scan_rack(None).await;
    let mut new = old.clone();
    let mut renamed = new.nodes.remove(0);
    renamed.hostname = "gpu-new".to_string();
    new.nodes.push(renamed);

    let changes = diff(&old, &new);

    assert_eq!(changes.added.len(), 1);
    assert_eq!(changes.added[0].hostname, "gpu-new");
    assert_eq!(changes.removed.len(), 1);
    assert_eq!(changes.removed[0].hostname, "gpu-a");
    assert!(changes.changed.is_empty());
}

#[tokio::test]
async fn only_failed_selects_fail_and_error() {
    let mut rack = TestRack::new();
    rack.add("gpu-a", "supermicro-as4125gs-l40s", None, "gpu-compute").await;
    rack.add(
        "gpu-b",
        "supermicro-as4125gs-l40s",
        Some("supermicro-as4125gs-l40s--dimm5-no-ecc"),
        "gpu-compute",
    )
    .await;
    rack.add_unreachable("gpu-down");
    let previous = rack.scan().await;
    let mut inventory = rack.inventory();
    let mut unseen = inventory.nodes[0].clone();
    unseen.hostname = "gpu-unseen".to_string();
    unseen.line = 99;
    inventory.nodes.push(unseen);

    let selection = select(&inventory, &previous, Only::Failed);

    let hostnames: Vec<&str> = selection
        .inventory
        .nodes
        .iter()
        .map(|node| node.hostname.as_str())
        .collect();
    assert_eq!(hostnames, ["gpu-b", "gpu-down", "gpu-unseen"]);
    assert_eq!(selection.not_in_previous, ["gpu-unseen"]);
    rack.shutdown().await;
}

#[tokio::test]
async fn rescan_merges_into_previous() {
    let mut broken = TestRack::new();
    broken
        .add("gpu-a", "supermicro-as4125gs-l40s", None, "gpu-compute")
        .await;
    broken
        .add(
            "gpu-b",
            "supermicro-as4125gs-l40s",
            Some("supermicro-as4125gs-l40s--dimm5-no-ecc"),
            "gpu-compute",
        )
        .await;
    let previous = broken.scan().await;
    let inventory = broken.inventory();
    broken.shutdown().await;

    // The technician replaced the DIMM: gpu-b now serves the healthy mockup.
    let mut repaired = TestRack::new();
    repaired
        .add("gpu-b", "supermicro-as4125gs-l40s", None, "gpu-compute")
        .await;
    let selection = select(&repaired.inventory(), &previous, Only::Failed);
    assert_eq!(selection.inventory.nodes.len(), 1);
    let fresh = repaired.scan_inventory(&selection.inventory).await;
    repaired.shutdown().await;

    let merged = merge(previous.clone(), fresh, &inventory, &Profile::builtin());

    let hostnames: Vec<&str> = merged.nodes.iter().map(|node| node.hostname.as_str()).collect();
    assert_eq!(hostnames, ["gpu-a", "gpu-b"]);
    assert_eq!(verdict_of(&previous, "gpu-b"), Verdict::Fail);
    assert_eq!(verdict_of(&merged, "gpu-b"), Verdict::Pass);
    assert_eq!(
        merged.nodes[0].findings, previous.nodes[0].findings,
        "gpu-a kept its findings"
    );
}

fn rackcheck(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rackcheck"));
    command.args(args).env("NO_COLOR", "1");
    command
}

/// Runs the binary off the async runtime, so the in-process mock BMCs keep serving.
async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().expect("rackcheck runs"))
        .await
        .unwrap()
}

fn write_report(path: &Path, report: &ScanReport) {
    std::fs::write(path, serde_json::to_vec_pretty(report).unwrap()).unwrap();
}

#[tokio::test]
async fn cli_diff_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.json");
    let new = dir.path().join("new.json");
    write_report(&old, &scan_rack(None).await);
    write_report(&new, &scan_rack(Some("supermicro-as4125gs-l40s--nvme-raid0")).await);
    let (old, new) = (old.to_str().unwrap(), new.to_str().unwrap());

    let changed = run(rackcheck(&["diff", old, new])).await;
    let same = run(rackcheck(&["diff", old, old])).await;
    let json = run(rackcheck(&["diff", old, new, "--format", "json"])).await;
    let missing = run(rackcheck(&["diff", old, "/nonexistent/report.json"])).await;

    assert_eq!(changed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&changed.stdout).contains("~ gpu-b"));
    assert_eq!(same.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&same.stdout), "no changes\n");
    let parsed: serde_json::Value = serde_json::from_slice(&json.stdout).expect("stdout is JSON");
    assert_eq!(parsed["changed"][0]["hostname"], "gpu-b");
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("failed to read the report"));
}

#[tokio::test]
async fn cli_rescan_scans_only_failed() {
    let mut rack = TestRack::new();
    rack.add("gpu-a", "supermicro-as4125gs-l40s", None, "gpu-compute").await;
    rack.add(
        "gpu-b",
        "supermicro-as4125gs-l40s",
        Some("supermicro-as4125gs-l40s--dimm5-no-ecc"),
        "gpu-compute",
    )
    .await;
    let previous = rack.scan().await;
    let dir = tempfile::tempdir().unwrap();
    let previous_path = dir.path().join("previous.json");
    write_report(&previous_path, &previous);
    let inventory = dir.path().join("rack.csv");
    let csv: String = rack
        .bmcs
        .iter()
        .enumerate()
        .map(|(index, (hostname, bmc))| format!("R1,{},{hostname},{},gpu-compute\n", index + 1, bmc.addr()))
        .collect();
    std::fs::write(&inventory, format!("rack,position,hostname,bmc,role\n{csv}")).unwrap();
    let ca = rack.ca_bundle();
    let requests_before = rack.bmc("gpu-a").stats().requests;

    let mut command = rackcheck(&[
        "scan",
        inventory.to_str().unwrap(),
        "--ca-file",
        ca.path().to_str().unwrap(),
        "--only",
        "failed",
        "--previous",
        previous_path.to_str().unwrap(),
        "--format",
        "json",
    ]);
    command
        .env("RACKCHECK_USERNAME", USERNAME)
        .env("RACKCHECK_PASSWORD", PASSWORD);
    let output = run(command).await;

    assert_eq!(
        output.status.code(),
        Some(1),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        rack.bmc("gpu-a").stats().requests,
        requests_before,
        "gpu-a was scanned again"
    );
    let report: ScanReport = serde_json::from_slice(&output.stdout).unwrap();
    let hostnames: Vec<&str> = report.nodes.iter().map(|node| node.hostname.as_str()).collect();
    assert_eq!(hostnames, ["gpu-a", "gpu-b"]);
    assert_eq!(verdict_of(&report, "gpu-b"), Verdict::Fail);
    rack.shutdown().await;
}
