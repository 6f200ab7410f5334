//! Scans of mock racks over real HTTPS: verdicts, evidence, sessions and failure isolation.

mod common;

use mock_bmc::{BmcConfig, Mockup, Scenario};
use rackcheck::policy::{Status, Verdict};
use rackcheck::scan::{NodeReport, ScanReport};

use common::{PASSWORD, TestRack, USERNAME, mock_bmc_dir};

const DELL: &str = "dell-xe9680-h100";
const SUPERMICRO: &str = "supermicro-as4125gs-l40s";
const LENOVO: &str = "lenovo-sr655v3-storage";

fn node<'a>(report: &'a ScanReport, hostname: &str) -> &'a NodeReport {
    report
        .nodes
        .iter()
        .find(|node| node.hostname == hostname)
        .expect("node in report")
}

fn status_of(node: &NodeReport, rule: &str) -> Status {
    node.findings
        .iter()
        .find(|finding| finding.rule == rule)
        .unwrap_or_else(|| panic!("no finding {rule}"))
        .status
}

fn load(mockup: &str) -> Mockup {
    Mockup::load(&mock_bmc_dir().join("mockups").join(mockup)).unwrap()
}

#[tokio::test]
async fn mixed_rack_gets_correct_verdicts() {
    let mut rack = TestRack::new();
    rack.add("dell-ok", DELL, None, "gpu-compute").await;
    rack.add(
        "dell-iommu",
        DELL,
        Some("dell-xe9680-h100--iommu-enabled"),
        "gpu-compute",
    )
    .await;
    rack.add("smc-ok", SUPERMICRO, None, "gpu-compute").await;
    rack.add(
        "smc-noecc",
        SUPERMICRO,
        Some("supermicro-as4125gs-l40s--dimm5-no-ecc"),
        "gpu-compute",
    )
    .await;
    rack.add(
        "smc-v100",
        SUPERMICRO,
        Some("supermicro-as4125gs-l40s--gpu8-v100"),
        "gpu-compute",
    )
    .await;
    rack.add("lenovo-ok", LENOVO, None, "storage").await;
    rack.add(
        "lenovo-psu",
        LENOVO,
        Some("lenovo-sr655v3-storage--psu2-failed"),
        "storage",
    )
    .await;
    rack.add(
        "lenovo-raid0",
        LENOVO,
        Some("lenovo-sr655v3-storage--boot-raid0"),
        "storage",
    )
    .await;
    rack.add_unreachable("down");

    let report = rack.scan().await;

    for passing in ["smc-ok", "lenovo-ok"] {
        let node = node(&report, passing);
        assert_eq!(node.verdict, Verdict::Pass, "{passing}: {:#?}", node.findings);
    }
    // The XE9680's Xeon Platinum 8480+ (2.0 GHz base) misses the 3.5 GHz clock minimum, and
    // its 8 x 3.84 TB NVMe give 15.36 TB mirrored where 8 H100 need 32 TB, so every Dell node
    // fails those two rules on top of what its scenario breaks.
    let expected_failures: [(&str, &[&str]); 6] = [
        ("dell-ok", &["cpu-clock", "working-array-capacity"]),
        (
            "dell-iommu",
            &["cpu-clock", "working-array-capacity", "bios-iommu-disabled"],
        ),
        ("smc-noecc", &["dimm-ecc"]),
        ("smc-v100", &["gpu-architecture"]),
        ("lenovo-psu", &["psu-redundant"]),
        ("lenovo-raid0", &["boot-volume-raid1"]),
    ];
    for (hostname, rules) in expected_failures {
        let node = node(&report, hostname);
        assert_eq!(node.verdict, Verdict::Fail, "{hostname}");
        let mut failed: Vec<&str> = node
            .findings
            .iter()
            .filter(|f| f.status == Status::Fail)
            .map(|f| f.rule.as_str())
            .collect();
        failed.sort_unstable();
        let mut expected = rules.to_vec();
        expected.sort_unstable();
        assert_eq!(failed, expected, "{hostname}");
    }

    let down = node(&report, "down");
    assert_eq!(down.verdict, Verdict::Error);
    assert!(
        down.error.as_deref().unwrap().contains("cannot connect"),
        "{:?}",
        down.error
    );
    assert!(down.findings.is_empty());

    assert_eq!(rack.open_sessions(), 0);
    for (hostname, bmc) in &rack.bmcs {
        let stats = bmc.stats();
        assert_eq!(stats.logins, 1, "{hostname} logins");
        assert_eq!(stats.logouts, 1, "{hostname} logouts");
    }
    rack.shutdown().await;
}

#[tokio::test]
async fn missing_gpu_fails_the_expected_count() {
    let mut rack = TestRack::new();
    let bmc = rack
        .add("dell", DELL, Some("dell-xe9680-h100--gpu8-missing"), "gpu-compute")
        .await;
    let csv = format!(
        "rack,position,hostname,bmc,role,gpus\nR1,1,dell,{},gpu-compute,8\n",
        bmc.addr()
    );
    let inventory = rackcheck::inventory::Inventory::parse(&csv, "gpus.csv").unwrap();

    let report = rack.scan_inventory(&inventory).await;

    let node = node(&report, "dell");
    assert_eq!(status_of(node, "gpu-count"), Status::Fail);
    assert_eq!(node.verdict, Verdict::Fail);
    rack.shutdown().await;
}

#[tokio::test]
async fn failing_finding_names_part_and_evidence() {
    let mut rack = TestRack::new();
    rack.add(
        "smc-noecc",
        SUPERMICRO,
        Some("supermicro-as4125gs-l40s--dimm5-no-ecc"),
        "gpu-compute",
    )
    .await;

    let report = rack.scan().await;

    let finding = node(&report, "smc-noecc")
        .findings
        .iter()
        .find(|f| f.rule == "dimm-ecc")
        .unwrap();
    assert_eq!(finding.parts, vec!["DIMM P1-DIMME1".to_string()]);
    assert_eq!(finding.evidence[0].uri, "/redfish/v1/Systems/1/Memory/5");
    assert_eq!(finding.evidence[0].property, "ErrorCorrection");
    assert_eq!(finding.evidence[0].value, "NoECC");
    assert!(finding.requirement.starts_with("M-1"), "{}", finding.requirement);
    rack.shutdown().await;
}

#[tokio::test]
async fn facts_carry_counts_and_uris() {
    let mut rack = TestRack::new();
    rack.add("dell", DELL, None, "gpu-compute").await;

    let report = rack.scan().await;

    let facts = node(&report, "dell").facts.as_ref().unwrap();
    assert_eq!(facts.system.uri, "/redfish/v1/Systems/System.Embedded.1");
    assert_eq!(facts.system.manufacturer.as_deref(), Some("Dell Inc."));
    assert_eq!(facts.cpus.len(), 2);
    assert_eq!(facts.cpus.iter().filter_map(|cpu| cpu.cores).sum::<u32>(), 112);
    assert_eq!(
        facts.gpus.len(),
        8,
        "each GPU counted once across Processors and PCIeDevices"
    );
    assert!(facts.gpus.iter().all(|gpu| !gpu.also_seen_at.is_empty()));
    assert_eq!(facts.dimms.len(), 32);
    assert_eq!(facts.drives.len(), 10);
    assert_eq!(facts.power.supplies.len(), 6);
    assert!(
        facts
            .bios
            .as_ref()
            .unwrap()
            .attributes
            .contains_key("ProcVirtualization")
    );
    rack.shutdown().await;
}

#[tokio::test]
async fn missing_bios_gives_unknown_not_pass() {
    let scenario = Scenario {
        description: "no Bios resource".into(),
        remove: vec!["/redfish/v1/Systems/1/Bios".into()],
        ..Scenario::default()
    };
    let mockup = load(SUPERMICRO).try_apply(&scenario).unwrap();
    let mut rack = TestRack::new();
    rack.add_mockup("smc", mockup, BmcConfig::loopback(USERNAME, PASSWORD), "gpu-compute")
        .await;

    let report = rack.scan().await;

    let node = node(&report, "smc");
    assert_eq!(status_of(node, "bios-iommu-disabled"), Status::Unknown);
    assert_eq!(node.verdict, Verdict::Unknown);
    rack.shutdown().await;
}

#[tokio::test]
async fn wrong_password_leaves_no_session() {
    let mut rack = TestRack::new();
    rack.add_mockup(
        "dell",
        load(DELL),
        BmcConfig::loopback(USERNAME, "another-password"),
        "gpu-compute",
    )
    .await;

    let report = rack.scan().await;

    let node = node(&report, "dell");
    assert_eq!(node.verdict, Verdict::Error);
    let error = node.error.as_deref().unwrap();
    assert!(error.contains("authentication failed"), "{error}");
    assert!(!error.contains(PASSWORD));
    assert_eq!(rack.bmc("dell").stats().failed_logins, 1);
    assert_eq!(rack.open_sessions(), 0);
    rack.shutdown().await;
}

#[tokio::test]
async fn node_failing_after_login_still_logs_out() {
    let mut rack = TestRack::new();
    let bmc = rack.add("dell", DELL, None, "gpu-compute").await;
    let address = bmc.addr();
    let csv = format!("rack,position,hostname,bmc,role,system\nR1,1,dell,{address},gpu-compute,NoSuchSystem\n");
    let inventory = rackcheck::inventory::Inventory::parse(&csv, "system.csv").unwrap();

    let report = rack.scan_inventory(&inventory).await;

    let node = node(&report, "dell");
    assert_eq!(node.verdict, Verdict::Error);
    assert!(
        node.error.as_deref().unwrap().contains("NoSuchSystem"),
        "{:?}",
        node.error
    );
    let stats = rack.bmc("dell").stats();
    assert_eq!(stats.logins, 1);
    assert_eq!(stats.logouts, 1);
    assert_eq!(stats.open_sessions, 0);
    rack.shutdown().await;
}

#[tokio::test]
async fn basic_auth_is_used_without_session_service() {
    let config = BmcConfig {
        sessions: false,
        ..BmcConfig::loopback(USERNAME, PASSWORD)
    };
    let mut rack = TestRack::new();
    rack.add_mockup("smc", load(SUPERMICRO), config, "gpu-compute").await;

    let report = rack.scan().await;

    assert_eq!(node(&report, "smc").verdict, Verdict::Pass);
    let stats = rack.bmc("smc").stats();
    assert_eq!(stats.logins, 0);
    assert_eq!(stats.logouts, 0);
    rack.shutdown().await;
}

#[tokio::test]
async fn paged_collections_give_the_same_facts() {
    let paged = BmcConfig {
        page_size: Some(5),
        ..BmcConfig::loopback(USERNAME, PASSWORD)
    };
    let mut rack = TestRack::new();
    rack.add_mockup(
        "whole",
        load(DELL),
        BmcConfig::loopback(USERNAME, PASSWORD),
        "gpu-compute",
    )
    .await;
    rack.add_mockup("paged", load(DELL), paged, "gpu-compute").await;

    let report = rack.scan().await;

    let whole = node(&report, "whole").facts.as_ref().unwrap();
    let paged = node(&report, "paged").facts.as_ref().unwrap();
    assert_eq!(paged.dimms.len(), 32);
    assert_eq!(paged, whole);
    assert!(rack.bmc("paged").stats().requests > rack.bmc("whole").stats().requests);
    rack.shutdown().await;
}

#[tokio::test]
async fn untrusted_certificate_is_an_error_unless_insecure() {
    let mut rack = TestRack::new();
    rack.add("smc", SUPERMICRO, None, "gpu-compute").await;

    let verified = rack.scan_with(&rackcheck::scan::ScanOptions::default()).await;
    let mut insecure_options = rackcheck::scan::ScanOptions::default();
    insecure_options.client.insecure = true;
    let insecure = rack.scan_with(&insecure_options).await;

    let error = node(&verified, "smc").error.as_deref().unwrap();
    assert!(error.contains("certificate"), "{error}");
    assert_eq!(node(&insecure, "smc").verdict, Verdict::Pass);
    assert!(insecure.insecure);
    rack.shutdown().await;
}

#[test]
fn mock_rack_config_matches_its_inventory() {
    let config = mock_bmc::RackConfig::load(&mock_bmc_dir().join("racks/demo.toml")).unwrap();
    let inventory_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("inventories/mock-rack.csv");
    let inventory = rackcheck::inventory::Inventory::load(&inventory_path).unwrap();

    assert_eq!(config.bmcs.len(), inventory.nodes.len());
    for (bmc, node) in config.bmcs.iter().zip(&inventory.nodes) {
        assert_eq!(bmc.name, node.hostname);
        assert_eq!(node.bmc.port(), bmc.listen.port());
        assert_eq!(node.bmc.host(), bmc.listen.ip().to_string());
    }
}

#[tokio::test]
async fn node_error_keeps_its_cause() {
    let scenario = Scenario {
        description: "no Systems collection".into(),
        remove: vec!["/redfish/v1/Systems".into()],
        ..Scenario::default()
    };
    let mockup = load(DELL).try_apply(&scenario).unwrap();
    let mut rack = TestRack::new();
    rack.add_mockup("dell", mockup, BmcConfig::loopback(USERNAME, PASSWORD), "gpu-compute")
        .await;

    let report = rack.scan().await;

    let error = node(&report, "dell").error.clone().unwrap();
    assert!(error.contains("/redfish/v1/Systems"), "{error}");
    assert!(error.contains("HTTP 404"), "{error}");
    rack.shutdown().await;
}

#[tokio::test]
async fn registry_finds_iommu_switch_of_unknown_platform() {
    // An unknown vendor whose IOMMU attribute is an opaque code: only the attribute registry
    // the BMC serves states that `CbsIoCtl_A7` is the IOMMU switch and that "1" means Enabled.
    let registry_file = "/redfish/v1/Registries/BiosAttributeRegistry.v1_0_0/BiosAttributeRegistry.json";
    let scenario = Scenario {
        description: "unknown platform with an attribute registry".into(),
        patch: [
            (
                "/redfish/v1".to_string(),
                serde_json::json!({"Registries": {"@odata.id": "/redfish/v1/Registries"}}),
            ),
            (
                "/redfish/v1/Systems/1".to_string(),
                serde_json::json!({"Manufacturer": "Acme Compute"}),
            ),
            (
                "/redfish/v1/Systems/1/Bios".to_string(),
                serde_json::json!({"Attributes": {"IOMMU_0196": null, "CbsIoCtl_A7": "1"}}),
            ),
        ]
        .into_iter()
        .collect(),
        add: [
            (
                "/redfish/v1/Registries".to_string(),
                serde_json::json!({
                    "@odata.id": "/redfish/v1/Registries",
                    "@odata.type": "#MessageRegistryFileCollection.MessageRegistryFileCollection",
                    "Name": "Registry File Collection",
                    "Members": [{"@odata.id": "/redfish/v1/Registries/BiosAttributeRegistry.v1_0_0"}],
                    "Members@odata.count": 1
                }),
            ),
            (
                "/redfish/v1/Registries/BiosAttributeRegistry.v1_0_0".to_string(),
                serde_json::json!({
                    "@odata.id": "/redfish/v1/Registries/BiosAttributeRegistry.v1_0_0",
                    "@odata.type": "#MessageRegistryFile.v1_1_0.MessageRegistryFile",
                    "Id": "BiosAttributeRegistry.v1_0_0",
                    "Name": "BIOS Attribute Registry",
                    "Registry": "BiosAttributeRegistry.1.0",
                    "Location": [{"Language": "en", "Uri": registry_file}]
                }),
            ),
            (
                registry_file.to_string(),
                serde_json::json!({
                    "@odata.type": "#AttributeRegistry.v1_3_0.AttributeRegistry",
                    "Id": "BiosAttributeRegistry.v1_0_0",
                    "RegistryEntries": {"Attributes": [
                        {"AttributeName": "CbsSmtCtl_A1", "DisplayName": "SMT Control",
                         "Value": [{"ValueName": "0", "ValueDisplayName": "Disable"}]},
                        {"AttributeName": "CbsIoCtl_A7", "DisplayName": "IOMMU",
                         "Value": [{"ValueName": "0", "ValueDisplayName": "Disabled"},
                                   {"ValueName": "1", "ValueDisplayName": "Enabled"}]}
                    ]}
                }),
            ),
        ]
        .into_iter()
        .collect(),
        ..Scenario::default()
    };
    let mockup = load(SUPERMICRO).try_apply(&scenario).unwrap();
    let mut rack = TestRack::new();
    rack.add_mockup("acme", mockup, BmcConfig::loopback(USERNAME, PASSWORD), "gpu-compute")
        .await;

    let report = rack.scan().await;

    let node = node(&report, "acme");
    let finding = node.findings.iter().find(|f| f.rule == "bios-iommu-disabled").unwrap();
    assert_eq!(finding.status, Status::Fail, "{finding:#?}");
    assert!(finding.observed.contains("CbsIoCtl_A7 = 1"), "{}", finding.observed);
    assert!(finding.observed.contains(registry_file), "{}", finding.observed);
    rack.shutdown().await;
}
