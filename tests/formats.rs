//! Every report format, rendered from real scans of a mock rack and parsed back.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::process::{Command, Output};

use rackcheck::report::{self, Format};
use rackcheck::scan::ScanReport;
use serde_json::Value;

use common::{PASSWORD, TestRack, USERNAME};

const DELL: &str = "dell-xe9680-h100";
const SUPERMICRO: &str = "supermicro-as4125gs-l40s";
const LENOVO: &str = "lenovo-sr655v3-storage";

/// Scans a rack with a passing node of each mockup, a node failing `dimm-ecc`, a node whose
/// `dimm-ecc` stays unknown, and a node whose BMC refuses connections.
async fn scan_mixed_rack() -> ScanReport {
    let mut rack = TestRack::new();
    rack.add("dell-ok", DELL, None, "gpu-compute").await;
    rack.add("smc-ok", SUPERMICRO, None, "gpu-compute").await;
    rack.add(
        "smc-noecc",
        SUPERMICRO,
        Some("supermicro-as4125gs-l40s--dimm5-no-ecc"),
        "gpu-compute",
    )
    .await;
    rack.add("lenovo-ok", LENOVO, None, "storage").await;
    rack.add(
        "lenovo-nowidth",
        LENOVO,
        Some("lenovo-sr655v3-storage--dimm1-no-widths"),
        "storage",
    )
    .await;
    rack.add_unreachable("down");

    let report = rack.scan().await;
    rack.shutdown().await;
    report
}

fn render(report: &ScanReport, format: Format) -> String {
    let mut out = Vec::new();
    report::write(report, format, &mut out).expect("report renders");
    String::from_utf8(out).expect("report is UTF-8")
}

fn node<'a>(report: &'a ScanReport, hostname: &str) -> &'a rackcheck::scan::NodeReport {
    report
        .nodes
        .iter()
        .find(|node| node.hostname == hostname)
        .unwrap_or_else(|| panic!("no node {hostname}"))
}

// ---- JSON ----

/// Reads the field names of each `## Heading` table in docs/report-schema.md, with the names
/// of fields marked *optional*.
fn documented_fields() -> HashMap<String, (BTreeSet<String>, BTreeSet<String>)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/report-schema.md");
    let text = std::fs::read_to_string(path).expect("docs/report-schema.md exists");
    let mut sections: HashMap<String, (BTreeSet<String>, BTreeSet<String>)> = HashMap::new();
    let mut heading = String::new();
    for line in text.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            heading = title.to_string();
            continue;
        }
        let Some(rest) = line.strip_prefix("| `") else {
            continue;
        };
        let name = rest.split('`').next().unwrap().to_string();
        let entry = sections.entry(heading.clone()).or_default();
        if line.contains("*optional*") {
            entry.1.insert(name.clone());
        }
        entry.0.insert(name);
    }
    sections
}

/// Checks that `object`'s keys are documented in `section`, and that every documented field
/// not marked optional is present.
fn assert_keys_documented(object: &Value, section: &str, docs: &HashMap<String, (BTreeSet<String>, BTreeSet<String>)>) {
    let (documented, optional) = docs
        .get(section)
        .unwrap_or_else(|| panic!("no section `## {section}` in docs/report-schema.md"));
    let keys: BTreeSet<String> = object
        .as_object()
        .unwrap_or_else(|| panic!("{section} is not an object"))
        .keys()
        .cloned()
        .collect();
    let undocumented: Vec<&String> = keys.difference(documented).collect();
    assert!(
        undocumented.is_empty(),
        "{section}: undocumented fields {undocumented:?}"
    );
    let missing: Vec<&String> = documented
        .difference(&keys)
        .filter(|name| !optional.contains(*name))
        .collect();
    assert!(missing.is_empty(), "{section}: documented fields missing {missing:?}");
}

#[tokio::test]
async fn json_keys_match_the_documented_schema() {
    let report = scan_mixed_rack().await;
    let json: Value = serde_json::from_str(&render(&report, Format::Json)).expect("output is JSON");
    let docs = documented_fields();

    assert_eq!(json["schema_version"], 1);
    assert_keys_documented(&json, "Report (top level)", &docs);
    let nodes = json["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 6);
    for node in nodes {
        assert_keys_documented(node, "Node", &docs);
        if !node["facts"].is_null() {
            assert_keys_documented(&node["facts"], "Facts", &docs);
        }
        for finding in node["findings"].as_array().unwrap() {
            assert_keys_documented(finding, "Finding", &docs);
            for evidence in finding["evidence"].as_array().unwrap() {
                assert_keys_documented(evidence, "Evidence", &docs);
            }
        }
    }
    for finding in json["rack"].as_array().unwrap() {
        assert_keys_documented(finding, "Finding", &docs);
    }
}

#[tokio::test]
async fn json_round_trips_the_report() {
    let report = scan_mixed_rack().await;

    let parsed: ScanReport = serde_json::from_str(&render(&report, Format::Json)).expect("output parses as ScanReport");

    assert_eq!(parsed.nodes.len(), report.nodes.len());
    let down = node(&parsed, "down");
    assert!(down.facts.is_none());
    assert!(down.error.as_deref().is_some_and(|error| !error.is_empty()));
    let failed = node(&parsed, "smc-noecc")
        .findings
        .iter()
        .find(|finding| finding.rule == "dimm-ecc")
        .unwrap();
    assert_eq!(failed.parts, ["DIMM P1-DIMME1"]);
}

// ---- JUnit ----

fn suite<'a, 'input>(document: &'a roxmltree::Document<'input>, name: &str) -> roxmltree::Node<'a, 'input> {
    document
        .descendants()
        .find(|element| element.has_tag_name("testsuite") && element.attribute("name") == Some(name))
        .unwrap_or_else(|| panic!("no testsuite {name}"))
}

fn count_attribute(element: roxmltree::Node, name: &str) -> usize {
    element
        .attribute(name)
        .unwrap_or_else(|| panic!("no attribute {name}"))
        .parse()
        .unwrap()
}

fn case<'a, 'input>(suite: roxmltree::Node<'a, 'input>, name: &str) -> roxmltree::Node<'a, 'input> {
    suite
        .children()
        .find(|element| element.has_tag_name("testcase") && element.attribute("name") == Some(name))
        .unwrap_or_else(|| panic!("no testcase {name}"))
}

fn child<'a, 'input>(element: roxmltree::Node<'a, 'input>, tag: &str) -> Option<roxmltree::Node<'a, 'input>> {
    element.children().find(|child| child.has_tag_name(tag))
}

#[tokio::test]
async fn junit_suite_per_node_case_per_rule() {
    let report = scan_mixed_rack().await;
    let xml = render(&report, Format::Junit);
    let document = roxmltree::Document::parse(&xml).expect("output is well-formed XML");

    let root = document.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let node_suites = root
        .children()
        .filter(|element| element.has_tag_name("testsuite") && element.attribute("name") != Some("rack"))
        .count();
    assert_eq!(node_suites, report.nodes.len());

    for node in report.nodes.iter().filter(|node| node.error.is_none()) {
        let suite = suite(&document, &node.hostname);
        assert_eq!(suite.attribute("hostname"), Some(node.hostname.as_str()));
        assert_eq!(
            count_attribute(suite, "tests"),
            node.findings.len(),
            "{}",
            node.hostname
        );
        let cases = suite
            .children()
            .filter(|element| element.has_tag_name("testcase"))
            .count();
        assert_eq!(cases, node.findings.len(), "{}", node.hostname);
    }

    let total: usize = report
        .nodes
        .iter()
        .map(|node| node.findings.len().max(1))
        .sum::<usize>()
        + report.rack.len();
    assert_eq!(count_attribute(root, "tests"), total);
}

#[tokio::test]
async fn junit_maps_statuses_to_elements() {
    let report = scan_mixed_rack().await;
    let xml = render(&report, Format::Junit);
    let document = roxmltree::Document::parse(&xml).expect("output is well-formed XML");

    let noecc = suite(&document, "smc-noecc");
    let failure = child(case(noecc, "dimm-ecc"), "failure").expect("dimm-ecc has a <failure>");
    assert_eq!(failure.attribute("type"), Some("fail"));
    let body = failure.text().unwrap();
    assert!(body.contains("parts: DIMM P1-DIMME1"), "{body}");
    assert!(
        body.contains("/redfish/v1/Systems/1/Memory/5 ErrorCorrection = \"NoECC\""),
        "{body}"
    );
    assert!(count_attribute(noecc, "failures") >= 1);
    assert_eq!(case(noecc, "dimm-ecc").attribute("classname"), Some("smc-noecc"));

    let unknown = case(suite(&document, "lenovo-nowidth"), "dimm-ecc");
    let error = child(unknown, "error").expect("an unknown rule is an <error>");
    assert_eq!(error.attribute("type"), Some("unknown"));

    let down = suite(&document, "down");
    assert_eq!(count_attribute(down, "tests"), 1);
    assert_eq!(count_attribute(down, "errors"), 1);
    let read = child(case(down, "read"), "error").expect("an unread node has an <error>");
    assert_eq!(read.attribute("type"), Some("unreachable"));

    let dell = report.nodes.iter().find(|node| node.hostname == "dell-ok").unwrap();
    let dell_suite = suite(&document, "dell-ok");
    let passed = dell
        .findings
        .iter()
        .find(|finding| finding.status == rackcheck::policy::Status::Pass)
        .expect("dell-ok passes some rule");
    assert!(
        case(dell_suite, &passed.rule)
            .children()
            .all(|element| !element.is_element())
    );
    if let Some(skipped) = dell
        .findings
        .iter()
        .find(|finding| finding.status == rackcheck::policy::Status::InBand)
    {
        assert!(child(case(dell_suite, &skipped.rule), "skipped").is_some());
    }
    let skipped_count = dell
        .findings
        .iter()
        .filter(|finding| {
            matches!(
                finding.status,
                rackcheck::policy::Status::InBand | rackcheck::policy::Status::NotApplicable
            )
        })
        .count();
    assert_eq!(count_attribute(dell_suite, "skipped"), skipped_count);
}

// ---- CSV ----

#[tokio::test]
async fn csv_row_per_finding_and_error() {
    let report = scan_mixed_rack().await;
    let text = render(&report, Format::Csv);
    let mut reader = csv::Reader::from_reader(text.as_bytes());

    let headers: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(
        headers,
        [
            "rack",
            "position",
            "hostname",
            "bmc",
            "role",
            "verdict",
            "rule",
            "status",
            "requirement",
            "expected",
            "observed",
            "parts",
            "evidence_uri",
            "evidence_property",
            "evidence_value",
        ]
    );
    let rows: Vec<HashMap<String, String>> = reader.deserialize().map(|row| row.expect("row parses")).collect();
    let findings: usize = report.nodes.iter().map(|node| node.findings.len()).sum();
    let errors = report.nodes.iter().filter(|node| node.error.is_some()).count();
    assert_eq!(rows.len(), findings + errors + report.rack.len());

    let failed = rows
        .iter()
        .find(|row| row["hostname"] == "smc-noecc" && row["rule"] == "dimm-ecc")
        .expect("a dimm-ecc row for smc-noecc");
    assert_eq!(failed["status"], "fail");
    assert_eq!(failed["verdict"], "fail");
    assert_eq!(failed["rack"], "R1");
    assert_eq!(failed["role"], "gpu-compute");
    assert_eq!(failed["parts"], "DIMM P1-DIMME1");
    assert_eq!(failed["evidence_uri"], "/redfish/v1/Systems/1/Memory/5");
    assert_eq!(failed["evidence_property"], "ErrorCorrection");
    assert_eq!(failed["evidence_value"], "NoECC");

    let down = rows
        .iter()
        .find(|row| row["hostname"] == "down")
        .expect("a row for the unreachable node");
    assert_eq!(down["status"], "error");
    assert_eq!(down["rule"], "");
    assert!(!down["observed"].is_empty());
}

// ---- Table ----

#[tokio::test]
async fn table_lists_failures_with_parts_and_no_colour() {
    let report = scan_mixed_rack().await;
    let text = render(&report, Format::Table);

    assert!(text.contains("dimm-ecc"), "{text}");
    assert!(text.contains("check:    DIMM P1-DIMME1"), "{text}");
    assert!(!text.contains('\u{1b}'), "plain output has no escape codes");
}

#[tokio::test]
async fn coloured_table_keeps_columns_aligned() {
    let report = scan_mixed_rack().await;
    let mut out = Vec::new();
    report::write_coloured(&report, Format::Table, &mut out, true).unwrap();
    let coloured = String::from_utf8(out).unwrap();
    let plain = render(&report, Format::Table);

    assert!(coloured.contains("\u{1b}[31mfail\u{1b}[0m"), "{coloured}");
    assert!(coloured.contains("\u{1b}[1;31merror\u{1b}[0m"), "{coloured}");
    let stripped = coloured
        .replace("\u{1b}[32m", "")
        .replace("\u{1b}[33m", "")
        .replace("\u{1b}[31m", "")
        .replace("\u{1b}[35m", "")
        .replace("\u{1b}[1;31m", "")
        .replace("\u{1b}[0m", "");
    assert_eq!(stripped, plain);
}

// ---- The binary ----

/// Writes an inventory and CA bundle for `rack` and returns `rackcheck scan` with `extra`.
fn scan_command(rack: &TestRack, dir: &tempfile::TempDir, extra: &[&str]) -> Command {
    let inventory = dir.path().join("rack.csv");
    let rows: String = rack
        .bmcs
        .iter()
        .enumerate()
        .map(|(index, (hostname, bmc))| format!("R1,{},{hostname},{},gpu-compute\n", index + 1, bmc.addr()))
        .collect();
    std::fs::write(&inventory, format!("rack,position,hostname,bmc,role\n{rows}")).unwrap();
    let ca = dir.path().join("ca.pem");
    let pem: String = rack.bmcs.iter().map(|(_, bmc)| bmc.certificate_pem()).collect();
    std::fs::write(&ca, pem).unwrap();

    let mut command = Command::new(env!("CARGO_BIN_EXE_rackcheck"));
    command
        .args(["scan", inventory.to_str().unwrap(), "--ca-file", ca.to_str().unwrap()])
        .args(extra)
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
async fn binary_junit_and_csv_exit_one_on_failure() {
    let mut rack = TestRack::new();
    rack.add("smc-ok", SUPERMICRO, None, "gpu-compute").await;
    rack.add(
        "smc-noecc",
        SUPERMICRO,
        Some("supermicro-as4125gs-l40s--dimm5-no-ecc"),
        "gpu-compute",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();

    let junit = run(scan_command(&rack, &dir, &["--format", "junit", "-q"])).await;
    let csv = run(scan_command(&rack, &dir, &["--format", "csv"])).await;
    rack.shutdown().await;

    let stderr = String::from_utf8_lossy(&junit.stderr);
    assert_eq!(junit.status.code(), Some(1), "stderr: {stderr}");
    let xml = String::from_utf8(junit.stdout).unwrap();
    let document = roxmltree::Document::parse(&xml).expect("stdout is JUnit XML");
    assert!(count_attribute(document.root_element(), "failures") >= 1);
    assert!(stderr.is_empty(), "-q prints nothing on success: {stderr}");

    assert_eq!(
        csv.status.code(),
        Some(1),
        "stderr: {}",
        String::from_utf8_lossy(&csv.stderr)
    );
    let text = String::from_utf8(csv.stdout).unwrap();
    assert!(text.starts_with("rack,position,hostname,"), "{text}");
    assert!(
        text.lines()
            .any(|line| line.contains(",smc-noecc,") && line.contains(",dimm-ecc,fail,")),
        "{text}"
    );
}

#[tokio::test]
async fn binary_verbose_logs_a_line_per_node() {
    let mut rack = TestRack::new();
    rack.add("smc-ok", SUPERMICRO, None, "gpu-compute").await;
    let dir = tempfile::tempdir().unwrap();

    let mut command = scan_command(&rack, &dir, &["--format", "csv", "-v"]);
    command.env_remove("RUST_LOG");
    let output = run(command).await;
    rack.shutdown().await;

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("node done"), "{stderr}");
    assert!(stderr.contains("smc-ok"), "{stderr}");
}

#[test]
fn quiet_and_verbose_conflict() {
    let output = Command::new(env!("CARGO_BIN_EXE_rackcheck"))
        .args(["scan", "inventory.csv", "-q", "-v"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}
