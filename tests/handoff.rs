//! `--handoff DIR`: in-band manifests and the DHCP allow list for the nodes that passed.
//!
//! The manifests are validated against docs/handoff-manifest.schema.json by a small
//! validator below that covers the keywords that schema uses (type, const, enum, required,
//! properties, additionalProperties, items, $ref, oneOf, minimum, maximum, pattern).

mod common;

use std::path::Path;

use common::TestRack;
use rackcheck::handoff::manifest::{Manifest, Target};
use rackcheck::handoff::{HandoffOptions, write_handoff};
use rackcheck::policy::Verdict;
use regex::Regex;
use serde_json::Value;

const SMC_SERIAL: &str = "S838472X4A07123";
const SMC_UUID: &str = "f31b1c80-6572-566c-b075-525ab813e33b";

async fn three_node_rack() -> TestRack {
    let mut rack = TestRack::new();
    rack.add("gpu-smc", "supermicro-as4125gs-l40s", None, "gpu-compute")
        .await;
    rack.add("gpu-dell", "dell-xe9680-h100", None, "gpu-compute").await;
    rack.add("storage-1", "lenovo-sr655v3-storage", None, "storage").await;
    rack
}

fn read_manifest(path: &Path) -> (Manifest, Value) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    let manifest: Manifest = serde_json::from_str(&text).expect("manifest parses into the Rust type");
    let value: Value = serde_json::from_str(&text).unwrap();
    (manifest, value)
}

fn schema() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/handoff-manifest.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn manifests_only_for_passing_nodes() {
    let rack = three_node_rack().await;
    let report = rack.scan().await;
    let verdict = |host: &str| report.nodes.iter().find(|n| n.hostname == host).unwrap().verdict;
    assert_eq!(verdict("gpu-smc"), Verdict::Pass);
    assert_eq!(verdict("gpu-dell"), Verdict::Fail);
    assert_eq!(verdict("storage-1"), Verdict::Pass);

    let dir = tempfile::tempdir().unwrap();
    let summary = write_handoff(&report, dir.path(), &HandoffOptions::default()).unwrap();

    assert_eq!(summary.manifests.len(), 2);
    assert!(dir.path().join("gpu-smc.json").exists());
    assert!(dir.path().join("storage-1.json").exists());
    assert!(!dir.path().join("gpu-dell.json").exists());
    assert_eq!(summary.skipped, vec![("gpu-dell".to_string(), Verdict::Fail)]);
    rack.shutdown().await;
}

#[tokio::test]
async fn supermicro_manifest_contents() {
    let rack = three_node_rack().await;
    let report = rack.scan().await;
    let dir = tempfile::tempdir().unwrap();
    write_handoff(&report, dir.path(), &HandoffOptions::default()).unwrap();
    let (manifest, _) = read_manifest(&dir.path().join("gpu-smc.json"));

    assert_eq!(manifest.schema_version, 1);
    assert_eq!(manifest.identity.hostname, "gpu-smc");
    assert_eq!(manifest.identity.serial_number.as_deref(), Some(SMC_SERIAL));
    assert_eq!(manifest.identity.uuid.as_deref(), Some(SMC_UUID));
    assert!(
        !manifest.identity.macs.is_empty(),
        "the mockup's NIC ports carry MAC addresses"
    );
    for mac in &manifest.identity.macs {
        assert_eq!(mac, &mac.to_lowercase());
    }
    let facts = report
        .nodes
        .iter()
        .find(|n| n.hostname == "gpu-smc")
        .unwrap()
        .facts
        .as_ref()
        .unwrap();
    let expected_macs: Vec<String> = facts
        .network_ports
        .iter()
        .flat_map(|port| port.mac_addresses.iter().map(|mac| mac.to_lowercase()))
        .collect();
    for mac in &manifest.identity.macs {
        assert!(expected_macs.contains(mac), "{mac} is not a NIC port MAC");
    }

    assert_eq!(manifest.observed.gpu_count, 8);
    assert_eq!(manifest.observed.gpus.len(), 1);
    assert_eq!(manifest.observed.gpus[0].model.as_deref(), Some("L40S"));
    assert_eq!(manifest.observed.gpus[0].count, 8);
    assert_eq!(manifest.observed.gpus[0].memory_gb, Some(48));
    assert!(manifest.observed.dimm_count > 0);
    assert!(!manifest.observed.drives.is_empty());
    assert_eq!(manifest.out_of_band.verdict, Verdict::Pass);

    let check = |id: &str| {
        manifest
            .checks
            .iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("check {id} is missing"))
    };
    let persistence = check("gpu-persistence-mode");
    assert!(persistence.applies, "L40S has 48 GB: {}", persistence.reason);
    assert_eq!(
        persistence.target,
        Target::GpuSetting {
            value: "Enabled".to_string(),
            min_gpu_memory_gb: Some(48)
        }
    );
    assert_eq!(
        check("kernel-version").target,
        Target::MinVersion {
            min: "6.5.0-15".to_string()
        }
    );
    assert_eq!(
        check("nvidia-driver-version").target,
        Target::MinVersion {
            min: "550.54.15".to_string()
        }
    );
    assert_eq!(
        check("cuda-version").target,
        Target::MinVersion {
            min: "12.4".to_string()
        }
    );
    assert!(check("gpu-ecc").applies);
    assert!(check("iommu-off").applies);
    assert!(!check("fabric-manager").applies, "L40S is a PCIe card, not HGX");
    assert!(!check("nvlink-topology").applies);
    assert!(check("fio-working-rand-read").applies);
    assert!(
        check("fio-boot-seq-read")
            .command
            .contains("--rw=read --bs=1M --iodepth=32")
    );
    rack.shutdown().await;
}

#[tokio::test]
async fn storage_manifest_skips_gpu_checks() {
    let rack = three_node_rack().await;
    let report = rack.scan().await;
    let dir = tempfile::tempdir().unwrap();
    write_handoff(&report, dir.path(), &HandoffOptions::default()).unwrap();
    let (manifest, _) = read_manifest(&dir.path().join("storage-1.json"));

    assert_eq!(manifest.observed.gpu_count, 0);
    for check in &manifest.checks {
        let gpu_check = check.id.starts_with("gpu-") || check.id.starts_with("nvidia-") || check.id == "cuda-version";
        if gpu_check || check.id.starts_with("fio-working-") {
            assert!(!check.applies, "{} should not apply to a storage node", check.id);
        }
    }
    let boot = manifest.checks.iter().find(|c| c.id == "fio-boot-rand-write").unwrap();
    assert!(boot.applies);
    rack.shutdown().await;
}

#[tokio::test]
async fn dhcp_files_list_passing_macs() {
    let rack = three_node_rack().await;
    let report = rack.scan().await;
    let dir = tempfile::tempdir().unwrap();
    write_handoff(&report, dir.path(), &HandoffOptions::default()).unwrap();
    let (smc, _) = read_manifest(&dir.path().join("gpu-smc.json"));
    let dell_facts = report
        .nodes
        .iter()
        .find(|n| n.hostname == "gpu-dell")
        .unwrap()
        .facts
        .as_ref()
        .unwrap();

    let dnsmasq = std::fs::read_to_string(dir.path().join("dnsmasq-hosts.conf")).unwrap();
    let allow = std::fs::read_to_string(dir.path().join("allow-list.txt")).unwrap();
    for mac in &smc.identity.macs {
        assert!(dnsmasq.contains(&format!("dhcp-host={mac},gpu-smc\n")), "{dnsmasq}");
        assert!(allow.lines().any(|line| line == mac), "{allow}");
    }
    assert!(!dnsmasq.contains("gpu-dell"));
    for mac in dell_facts.network_ports.iter().flat_map(|p| &p.mac_addresses) {
        assert!(!allow.contains(&mac.to_lowercase()), "failed node's {mac} is allowed");
    }
    assert!(allow.starts_with("# "));
    let entries: Vec<&str> = allow.lines().filter(|line| !line.starts_with('#')).collect();
    let mac_pattern = Regex::new("^[0-9a-f]{2}(:[0-9a-f]{2}){5}$").unwrap();
    for entry in &entries {
        assert!(mac_pattern.is_match(entry), "`{entry}` is not a MAC");
    }
    rack.shutdown().await;
}

#[tokio::test]
async fn stale_manifest_removed_after_fail() {
    let rack = three_node_rack().await;
    let report = rack.scan().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gpu-dell.json"), "{}").unwrap();

    let summary = write_handoff(&report, dir.path(), &HandoffOptions::default()).unwrap();

    assert!(!dir.path().join("gpu-dell.json").exists());
    assert_eq!(summary.removed, vec![dir.path().join("gpu-dell.json")]);
    rack.shutdown().await;
}

#[tokio::test]
async fn warn_nodes_need_handoff_warn() {
    let rack = three_node_rack().await;
    let mut report = rack.scan().await;
    let smc = report.nodes.iter_mut().find(|n| n.hostname == "gpu-smc").unwrap();
    smc.verdict = Verdict::Warn;
    let dir = tempfile::tempdir().unwrap();

    write_handoff(&report, dir.path(), &HandoffOptions::default()).unwrap();
    assert!(!dir.path().join("gpu-smc.json").exists());

    write_handoff(&report, dir.path(), &HandoffOptions { include_warn: true }).unwrap();
    let (manifest, _) = read_manifest(&dir.path().join("gpu-smc.json"));
    assert_eq!(manifest.out_of_band.verdict, Verdict::Warn);
    rack.shutdown().await;
}

#[tokio::test]
async fn manifests_validate_against_schema() {
    let rack = three_node_rack().await;
    let report = rack.scan().await;
    let dir = tempfile::tempdir().unwrap();
    let summary = write_handoff(&report, dir.path(), &HandoffOptions::default()).unwrap();
    let schema = schema();

    for path in &summary.manifests {
        let (_, value) = read_manifest(path);
        let errors = validate(&schema, &schema, &value, "");
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
    }
    rack.shutdown().await;
}

#[test]
fn schema_validator_rejects_bad_manifest() {
    let schema = schema();
    let bad = serde_json::json!({
        "schema_version": 2,
        "profile": "p",
        "identity": {},
        "observed": {},
        "out_of_band": {"verdict": "fail", "findings_not_passed": []},
        "checks": [{"id": "x", "requirement": "r", "description": "d", "command": "c",
                    "target": {"kind": "min-version"}, "applies": true, "reason": "r"}],
        "extra": 1
    });
    let errors = validate(&schema, &schema, &bad, "");
    let joined = errors.join("\n");
    assert!(joined.contains("/schema_version"), "{joined}");
    assert!(joined.contains("/identity: missing `hostname`"), "{joined}");
    assert!(joined.contains("/out_of_band/verdict"), "{joined}");
    assert!(joined.contains("/checks/0/target"), "{joined}");
    assert!(joined.contains("unexpected `extra`"), "{joined}");
}

/// Validates `value` against `schema` for the keywords the manifest schema uses; returns one
/// message per violation, each starting with the JSON pointer of the value.
fn validate(root: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let pointer = reference.trim_start_matches('#');
        let target = root
            .pointer(pointer)
            .unwrap_or_else(|| panic!("unresolved $ref {reference}"));
        return validate(root, target, value, at);
    }
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        let matching = options
            .iter()
            .filter(|option| validate(root, option, value, at).is_empty())
            .count();
        if matching != 1 {
            errors.push(format!("{at}: matches {matching} of the oneOf schemas, expected 1"));
        }
        return errors;
    }
    if let Some(expected) = schema.get("const")
        && value != expected
    {
        errors.push(format!("{at}: expected {expected}, found {value}"));
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        errors.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => panic!("invalid type keyword at {at}"),
        };
        if !types.iter().any(|kind| has_type(value, kind)) {
            errors.push(format!("{at}: expected type {types:?}, found {value}"));
            return errors;
        }
    }
    if let Some(number) = value.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && number < min
        {
            errors.push(format!("{at}: {number} is below the minimum {min}"));
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && number > max
        {
            errors.push(format!("{at}: {number} is above the maximum {max}"));
        }
    }
    if let (Some(pattern), Some(text)) = (schema.get("pattern").and_then(Value::as_str), value.as_str())
        && !Regex::new(pattern).unwrap().is_match(text)
    {
        errors.push(format!("{at}: `{text}` does not match {pattern}"));
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for key in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            let key = key.as_str().unwrap();
            if !object.contains_key(key) {
                errors.push(format!("{at}: missing `{key}`"));
            }
        }
        for (key, member) in object {
            match properties.and_then(|props| props.get(key)) {
                Some(member_schema) => errors.extend(validate(root, member_schema, member, &format!("{at}/{key}"))),
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    errors.push(format!("{at}: unexpected `{key}`"));
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (index, item) in array.iter().enumerate() {
            errors.extend(validate(root, items, item, &format!("{at}/{index}")));
        }
    }
    errors
}

fn has_type(value: &Value, kind: &str) -> bool {
    match kind {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "integer" => value.is_u64() || value.is_i64(),
        "number" => value.is_number(),
        other => panic!("unknown JSON Schema type `{other}`"),
    }
}
