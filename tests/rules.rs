//! Every rule of the built-in profile, judged over HTTPS through mock BMCs: its status on an
//! unmodified mockup, and the status a scenario from `mock-bmc/scenarios` drives it to.

mod common;

use std::collections::BTreeMap;

use mock_bmc::{BmcConfig, Mockup, Scenario};
use rackcheck::inventory::Inventory;
use rackcheck::policy::{Evidence, Finding, Status, Verdict};
use rackcheck::scan::{NodeReport, ScanReport};
use serde_json::{Value, json};

use common::{PASSWORD, TestRack, USERNAME, mock_bmc_dir};

const DELL: &str = "dell-xe9680-h100";
const SUPERMICRO: &str = "supermicro-as4125gs-l40s";
const LENOVO: &str = "lenovo-sr655v3-storage";

/// One inventory row: hostname, base mockup, the scenario's fault (the file name after `--`)
/// and role.
type NodeSpec<'a> = (&'a str, &'a str, Option<&'a str>, &'a str);

async fn start_rack(nodes: &[NodeSpec<'_>]) -> TestRack {
    let mut rack = TestRack::new();
    for (hostname, mockup, fault, role) in nodes {
        let scenario = fault.map(|fault| format!("{mockup}--{fault}"));
        rack.add(hostname, mockup, scenario.as_deref(), role).await;
    }
    rack
}

/// Scans `nodes` with the built-in profile and shuts their BMCs down.
async fn scan_nodes(nodes: &[NodeSpec<'_>]) -> ScanReport {
    let rack = start_rack(nodes).await;
    let report = rack.scan().await;
    rack.shutdown().await;
    report
}

/// Scans `nodes` with an inventory that expects `gpus` GPUs on every node.
async fn scan_expecting_gpus(nodes: &[NodeSpec<'_>], gpus: u32) -> ScanReport {
    let rack = start_rack(nodes).await;
    let mut csv = "rack,position,hostname,bmc,role,gpus\n".to_string();
    for (position, (hostname, _, _, role)) in nodes.iter().enumerate() {
        let address = rack.bmc(hostname).addr();
        csv.push_str(&format!("R1,{},{hostname},{address},{role},{gpus}\n", position + 1));
    }
    let inventory = Inventory::parse(&csv, "gpus.csv").expect("test inventory is valid");
    let report = rack.scan_inventory(&inventory).await;
    rack.shutdown().await;
    report
}

/// Scans one node served from `mockup` changed by an inline scenario.
async fn scan_patched(mockup: &str, patch: BTreeMap<String, Value>, role: &str) -> ScanReport {
    let scenario = Scenario {
        description: "inline scenario of a rules test".into(),
        patch,
        ..Scenario::default()
    };
    let base = Mockup::load(&mock_bmc_dir().join("mockups").join(mockup)).expect("mockup loads");
    let patched = base.try_apply(&scenario).expect("inline scenario applies");
    let mut rack = TestRack::new();
    rack.add_mockup("node", patched, BmcConfig::loopback(USERNAME, PASSWORD), role)
        .await;
    let report = rack.scan().await;
    rack.shutdown().await;
    report
}

fn node<'a>(report: &'a ScanReport, hostname: &str) -> &'a NodeReport {
    let node = report
        .nodes
        .iter()
        .find(|node| node.hostname == hostname)
        .unwrap_or_else(|| panic!("no node {hostname} in the report"));
    assert!(node.error.is_none(), "{hostname} was not read: {:?}", node.error);
    node
}

fn finding<'a>(report: &'a ScanReport, hostname: &str, rule: &str) -> &'a Finding {
    node(report, hostname)
        .findings
        .iter()
        .find(|finding| finding.rule == rule)
        .unwrap_or_else(|| panic!("{hostname} has no finding for {rule}"))
}

fn rack_finding<'a>(report: &'a ScanReport, rule: &str) -> &'a Finding {
    report
        .rack
        .iter()
        .find(|finding| finding.rule == rule)
        .unwrap_or_else(|| panic!("no rack finding for {rule}"))
}

/// Asserts a node finding's status and returns the finding for further checks.
fn assert_status<'a>(report: &'a ScanReport, hostname: &str, rule: &str, expected: Status) -> &'a Finding {
    let finding = finding(report, hostname, rule);
    assert_eq!(finding.status, expected, "{hostname} {rule}: {finding:#?}");
    finding
}

fn assert_rack_status<'a>(report: &'a ScanReport, rule: &str, expected: Status) -> &'a Finding {
    let finding = rack_finding(report, rule);
    assert_eq!(finding.status, expected, "{rule}: {finding:#?}");
    finding
}

/// Returns the finding's evidence for `property` of the resource at `uri`.
fn evidence<'a>(finding: &'a Finding, uri: &str, property: &str) -> &'a Evidence {
    finding
        .evidence
        .iter()
        .find(|e| e.uri == uri && e.property == property)
        .unwrap_or_else(|| {
            panic!(
                "{}: no evidence {uri} {property} in {:#?}",
                finding.rule, finding.evidence
            )
        })
}

// Node rules of the GPU servers.

#[tokio::test]
async fn gpu_nvidia_fails_on_amd_processor() {
    let report = scan_nodes(&[
        ("base", DELL, None, "gpu-compute"),
        ("amd", DELL, Some("gpu8-mi300x"), "gpu-compute"),
    ])
    .await;

    assert_status(&report, "base", "gpu-nvidia", Status::Pass);
    let failed = assert_status(&report, "amd", "gpu-nvidia", Status::Fail);
    assert_eq!(failed.parts, ["GPU Video.Slot.8-1 (AMD Instinct MI300X)"]);
    let gpu = "/redfish/v1/Systems/System.Embedded.1/Processors/Video.Slot.8-1";
    assert_eq!(
        evidence(failed, gpu, "Manufacturer").value,
        "Advanced Micro Devices, Inc. [AMD/ATI]"
    );
    assert_eq!(evidence(failed, gpu, "Model").value, "AMD Instinct MI300X");
}

#[tokio::test]
async fn gpu_nvidia_fails_on_amd_pcie_card() {
    let report = scan_nodes(&[("amd", SUPERMICRO, Some("gpu8-mi210"), "gpu-compute")]).await;

    let failed = assert_status(&report, "amd", "gpu-nvidia", Status::Fail);
    assert_eq!(failed.parts.len(), 1, "{:?}", failed.parts);
    assert!(failed.parts[0].contains("GPU8"), "{:?}", failed.parts);
}

#[tokio::test]
async fn gpu_count_fails_on_missing_gpu() {
    let nodes = [
        ("base", DELL, None, "gpu-compute"),
        ("missing", DELL, Some("gpu8-missing"), "gpu-compute"),
    ];
    let without_count = scan_nodes(&nodes).await;
    let with_count = scan_expecting_gpus(&nodes, 8).await;

    assert_status(&without_count, "base", "gpu-count", Status::NotApplicable);
    assert_status(&without_count, "missing", "gpu-count", Status::NotApplicable);
    assert_status(&with_count, "base", "gpu-count", Status::Pass);
    let failed = assert_status(&with_count, "missing", "gpu-count", Status::Fail);
    assert_eq!(failed.expected, "8 working GPUs");
    assert_eq!(failed.observed, "7 working of 7 GPUs listed");
}

#[tokio::test]
async fn gpu_architecture_fails_on_volta() {
    let report = scan_nodes(&[
        ("base", SUPERMICRO, None, "gpu-compute"),
        ("v100", SUPERMICRO, Some("gpu8-v100"), "gpu-compute"),
    ])
    .await;

    assert_status(&report, "base", "gpu-architecture", Status::Pass);
    let failed = assert_status(&report, "v100", "gpu-architecture", Status::Fail);
    assert_eq!(failed.parts.len(), 1, "{:?}", failed.parts);
    assert!(failed.parts[0].starts_with("GPU GPU8"), "{:?}", failed.parts);
    assert!(failed.observed.contains("Volta"), "{}", failed.observed);
    assert!(
        failed
            .evidence
            .iter()
            .any(|e| e.property == "DeviceId" && e.value == "0x1db4"),
        "{:#?}",
        failed.evidence
    );
}

#[tokio::test]
async fn gpu_pcie_bandwidth_fails_on_gen4_x8() {
    let report = scan_nodes(&[
        ("base", DELL, None, "gpu-compute"),
        ("slow", DELL, Some("gpu5-gen4-x8"), "gpu-compute"),
    ])
    .await;

    assert_status(&report, "base", "gpu-pcie-bandwidth", Status::Pass);
    let failed = assert_status(&report, "slow", "gpu-pcie-bandwidth", Status::Fail);
    assert_eq!(failed.parts, ["GPU Video.Slot.5-1 (NVIDIA H100 80GB HBM3)"]);
    assert!(failed.observed.contains("Gen4 x8 = 128 < 512"), "{}", failed.observed);
    let link = "/redfish/v1/Chassis/System.Embedded.1/PCIeDevices/155-0";
    assert_eq!(evidence(failed, link, "PCIeInterface/PCIeType").value, "Gen4");
    assert_eq!(evidence(failed, link, "PCIeInterface/LanesInUse").value, 8);
}

#[tokio::test]
async fn cpu_cores_per_gpu_fails_on_disabled_cores() {
    let report = scan_nodes(&[
        ("base", SUPERMICRO, None, "gpu-compute"),
        ("downcored", SUPERMICRO, Some("cores-disabled"), "gpu-compute"),
    ])
    .await;

    let passed = assert_status(&report, "base", "cpu-cores-per-gpu", Status::Pass);
    assert_eq!(passed.observed, "96 cores in 2 sockets");
    let failed = assert_status(&report, "downcored", "cpu-cores-per-gpu", Status::Fail);
    assert!(failed.expected.starts_with(">= 34 cores"), "{}", failed.expected);
    assert_eq!(failed.observed, "32 cores in 2 sockets");
    let socket = failed
        .evidence
        .iter()
        .find(|e| e.uri == "/redfish/v1/Systems/1/Processors/1")
        .expect("evidence for socket 1");
    assert_eq!(socket.value, 16);
}

#[tokio::test]
async fn cpu_cores_evidence_names_enabled_cores() {
    let report = scan_nodes(&[("downcored", SUPERMICRO, Some("cores-disabled"), "gpu-compute")]).await;

    let failed = assert_status(&report, "downcored", "cpu-cores-per-gpu", Status::Fail);
    let socket = evidence(failed, "/redfish/v1/Systems/1/Processors/1", "TotalEnabledCores");
    assert_eq!(socket.value, 16);
}

#[tokio::test]
async fn cpu_clock_judged_by_model() {
    let report = scan_nodes(&[
        ("base", SUPERMICRO, None, "gpu-compute"),
        ("slow", SUPERMICRO, Some("cpu-epyc-9454"), "gpu-compute"),
        ("waived", SUPERMICRO, Some("cpu-epyc-9654"), "gpu-compute"),
        ("dell", DELL, None, "gpu-compute"),
    ])
    .await;

    assert_status(&report, "base", "cpu-clock", Status::Pass);
    let failed = assert_status(&report, "slow", "cpu-clock", Status::Fail);
    assert_eq!(failed.parts, ["CPU CPU1", "CPU CPU2"]);
    assert_eq!(
        evidence(failed, "/redfish/v1/Systems/1/Processors/1", "Model").value,
        "AMD EPYC 9454 48-Core Processor"
    );
    let waived = assert_status(&report, "waived", "cpu-clock", Status::Warn);
    assert!(waived.observed.contains("waived by the profile"), "{}", waived.observed);
    assert!(waived.parts.is_empty(), "{:?}", waived.parts);
    // The unmodified Dell mockup fails too: its Xeon Platinum 8480+ has a 2.0 GHz base clock.
    assert_status(&report, "dell", "cpu-clock", Status::Fail);
}

#[tokio::test]
async fn gpu_server_rules_skip_storage_role() {
    let report = scan_nodes(&[("storage", LENOVO, None, "storage")]).await;

    let rules: Vec<&str> = node(&report, "storage")
        .findings
        .iter()
        .map(|f| f.rule.as_str())
        .collect();
    for gpu_rule in [
        "gpu-nvidia",
        "gpu-count",
        "gpu-architecture",
        "gpu-pcie-bandwidth",
        "cpu-cores-per-gpu",
        "cpu-clock",
        "memory-per-gpu",
        "working-array-raid",
        "working-array-capacity",
    ] {
        assert!(!rules.contains(&gpu_rule), "{gpu_rule} judged a storage server");
    }
}

// Node rules of the storage and metadata servers.

#[tokio::test]
async fn cpu_model_fails_on_unlisted_model() {
    let report = scan_nodes(&[
        ("storage", LENOVO, None, "storage"),
        ("metadata", LENOVO, None, "metadata"),
        ("epyc-9354", LENOVO, Some("cpu-epyc-9354"), "storage"),
    ])
    .await;

    assert_status(&report, "storage", "cpu-model", Status::Pass);
    // The metadata role lists only the Threadripper 7960X, so the same server fails there.
    assert_status(&report, "metadata", "cpu-model", Status::Fail);
    let failed = assert_status(&report, "epyc-9354", "cpu-model", Status::Fail);
    assert_eq!(failed.parts, ["CPU CPU 1"]);
    assert_eq!(
        evidence(failed, "/redfish/v1/Systems/1/Processors/1", "Model").value,
        "AMD EPYC 9354 32-Core Processor"
    );
}

#[tokio::test]
async fn memory_minimum_fails_below_storage_minimum() {
    let report = scan_nodes(&[
        ("storage", LENOVO, None, "storage"),
        ("small", LENOVO, Some("dimms-16gb"), "storage"),
        ("small-metadata", LENOVO, Some("dimms-16gb"), "metadata"),
    ])
    .await;

    assert_status(&report, "storage", "memory-minimum", Status::Pass);
    let failed = assert_status(&report, "small", "memory-minimum", Status::Fail);
    assert_eq!(failed.expected, ">= 256 GB of DDR5");
    assert_eq!(failed.observed, "192 GiB of DDR5 in 12 DIMMs");
    assert_eq!(
        evidence(failed, "/redfish/v1/Systems/1/Memory/1", "CapacityMiB").value,
        16384
    );
    // A metadata server needs only 128 GB.
    assert_status(&report, "small-metadata", "memory-minimum", Status::Pass);
}

#[tokio::test]
async fn storage_data_jbod_fails_on_raid5() {
    let report = scan_nodes(&[
        ("storage", LENOVO, None, "storage"),
        ("raid5", LENOVO, Some("data-raid5"), "storage"),
    ])
    .await;

    let passed = assert_status(&report, "storage", "storage-data-jbod", Status::Pass);
    assert!(passed.observed.starts_with("12 data drives"), "{}", passed.observed);
    let failed = assert_status(&report, "raid5", "storage-data-jbod", Status::Fail);
    assert_eq!(failed.parts, ["volume Data_RAID5"]);
    let volume = "/redfish/v1/Systems/1/Storage/Direct_Attached_NVMe/Volumes/Volume1";
    assert_eq!(evidence(failed, volume, "RAIDType").value, "RAID5");
    assert_eq!(evidence(failed, volume, "Links/Drives@odata.count").value, 4);
    // The boot mirror is still found, so only the data rule fails.
    assert_status(&report, "raid5", "boot-volume-raid1", Status::Pass);
}

// Node rules of every role.

#[tokio::test]
async fn dimm_ecc_fails_on_noecc_dimm() {
    let report = scan_nodes(&[
        ("base", SUPERMICRO, None, "gpu-compute"),
        ("no-ecc", SUPERMICRO, Some("dimm5-no-ecc"), "gpu-compute"),
    ])
    .await;

    assert_status(&report, "base", "dimm-ecc", Status::Pass);
    let failed = assert_status(&report, "no-ecc", "dimm-ecc", Status::Fail);
    assert_eq!(failed.parts, ["DIMM P1-DIMME1"]);
    assert_eq!(
        evidence(failed, "/redfish/v1/Systems/1/Memory/5", "ErrorCorrection").value,
        "NoECC"
    );
}

#[tokio::test]
async fn dimm_ecc_unknown_without_widths() {
    let report = scan_nodes(&[
        ("base", LENOVO, None, "storage"),
        ("no-widths", LENOVO, Some("dimm1-no-widths"), "storage"),
    ])
    .await;

    // Lenovo DIMMs have no ErrorCorrection, so ECC is judged from the 80-bit bus.
    let passed = assert_status(&report, "base", "dimm-ecc", Status::Pass);
    assert!(passed.observed.contains("BusWidthBits"), "{}", passed.observed);
    let unknown = assert_status(&report, "no-widths", "dimm-ecc", Status::Unknown);
    assert_eq!(unknown.parts, ["DIMM DIMM 1"]);
    let dimm = "/redfish/v1/Systems/1/Memory/1";
    assert_eq!(evidence(unknown, dimm, "BusWidthBits").value, Value::Null);
    assert_eq!(evidence(unknown, dimm, "DataWidthBits").value, Value::Null);
    assert_eq!(node(&report, "no-widths").verdict, Verdict::Unknown);
}

#[tokio::test]
async fn memory_per_gpu_warns_on_missing_dimm() {
    let report = scan_nodes(&[
        ("base", DELL, None, "gpu-compute"),
        ("short", DELL, Some("dimm-b16-missing"), "gpu-compute"),
    ])
    .await;

    let passed = assert_status(&report, "base", "memory-per-gpu", Status::Pass);
    assert_eq!(passed.observed, "2048 GiB of DDR5 in 32 DIMMs");
    // The profile only recommends this amount, so a shortfall warns.
    let warned = assert_status(&report, "short", "memory-per-gpu", Status::Warn);
    assert!(warned.expected.starts_with(">= 2048 GB of DDR5"), "{}", warned.expected);
    assert_eq!(warned.observed, "1984 GiB of DDR5 in 31 DIMMs");
    assert!(
        !warned.evidence.iter().any(|e| e.uri.ends_with("DIMM.Socket.B16")),
        "{:#?}",
        warned.evidence
    );
}

#[tokio::test]
async fn memory_per_gpu_ignores_disabled_dimm() {
    let patch = BTreeMap::from([(
        "/redfish/v1/Systems/System.Embedded.1/Memory/DIMM.Socket.B16".to_string(),
        json!({ "Status": { "State": "Disabled", "Health": "Critical" } }),
    )]);
    let report = scan_patched(DELL, patch, "gpu-compute").await;

    let warned = assert_status(&report, "node", "memory-per-gpu", Status::Warn);
    assert!(warned.observed.starts_with("1984 GiB"), "{}", warned.observed);
}

#[tokio::test]
async fn psu_redundant_fails_on_failed_psu() {
    let report = scan_nodes(&[
        ("base", LENOVO, None, "storage"),
        ("psu", LENOVO, Some("psu2-failed"), "storage"),
    ])
    .await;

    assert_status(&report, "base", "psu-redundant", Status::Pass);
    let failed = assert_status(&report, "psu", "psu-redundant", Status::Fail);
    assert_eq!(failed.parts, ["Power Supply 2"]);
    assert_eq!(
        evidence(
            failed,
            "/redfish/v1/Chassis/1/PowerSubsystem/PowerSupplies/PSU2",
            "Status/Health"
        )
        .value,
        "Critical"
    );
}

#[tokio::test]
async fn bios_iommu_fails_when_enabled() {
    let report = scan_nodes(&[
        ("base", DELL, None, "gpu-compute"),
        ("enabled", DELL, Some("iommu-enabled"), "gpu-compute"),
    ])
    .await;

    assert_status(&report, "base", "bios-iommu-disabled", Status::Pass);
    let failed = assert_status(&report, "enabled", "bios-iommu-disabled", Status::Fail);
    assert_eq!(failed.parts, ["BIOS setting ProcVirtualization"]);
    assert_eq!(
        evidence(
            failed,
            "/redfish/v1/Systems/System.Embedded.1/Bios",
            "Attributes/ProcVirtualization"
        )
        .value,
        "Enabled"
    );
}

#[tokio::test]
async fn bios_iommu_warns_when_pending() {
    let report = scan_nodes(&[
        ("base", SUPERMICRO, None, "gpu-compute"),
        ("pending", SUPERMICRO, Some("iommu-pending-enable"), "gpu-compute"),
    ])
    .await;

    assert_status(&report, "base", "bios-iommu-disabled", Status::Pass);
    let warned = assert_status(&report, "pending", "bios-iommu-disabled", Status::Warn);
    assert_eq!(
        evidence(warned, "/redfish/v1/Systems/1/Bios", "Attributes/IOMMU_0196").value,
        "Disabled"
    );
    assert_eq!(
        evidence(warned, "/redfish/v1/Systems/1/Bios/SD", "Attributes/IOMMU_0196").value,
        "Enabled"
    );
}

#[tokio::test]
async fn boot_volume_raid1_fails_on_raid0() {
    let report = scan_nodes(&[
        ("base", LENOVO, None, "storage"),
        ("raid0", LENOVO, Some("boot-raid0"), "storage"),
    ])
    .await;

    assert_status(&report, "base", "boot-volume-raid1", Status::Pass);
    let failed = assert_status(&report, "raid0", "boot-volume-raid1", Status::Fail);
    assert_eq!(failed.parts, ["volume M2_Boot"]);
    assert_eq!(
        evidence(
            failed,
            "/redfish/v1/Systems/1/Storage/RAID_M.2/Volumes/Volume0",
            "RAIDType"
        )
        .value,
        "RAID0"
    );
}

#[tokio::test]
async fn boot_volume_capacity_fails_under_500gb() {
    let report = scan_nodes(&[
        ("base", LENOVO, None, "storage"),
        ("small", LENOVO, Some("boot-480gb"), "storage"),
        ("raid0", LENOVO, Some("boot-raid0"), "storage"),
    ])
    .await;

    assert_status(&report, "base", "boot-volume-capacity", Status::Pass);
    let failed = assert_status(&report, "small", "boot-volume-capacity", Status::Fail);
    assert_eq!(failed.parts, ["volume M2_Boot"]);
    let volume = "/redfish/v1/Systems/1/Storage/RAID_M.2/Volumes/Volume0";
    assert_eq!(evidence(failed, volume, "CapacityBytes").value, 479_559_942_144_u64);
    assert_status(&report, "small", "boot-volume-raid1", Status::Pass);
    // Without a mirror there is no boot mirror to measure.
    assert_status(&report, "raid0", "boot-volume-capacity", Status::Unknown);
}

#[tokio::test]
async fn working_array_raid_fails_on_raid0() {
    let report = scan_nodes(&[
        ("base", SUPERMICRO, None, "gpu-compute"),
        ("raid0", SUPERMICRO, Some("nvme-raid0"), "gpu-compute"),
        ("raid10", SUPERMICRO, Some("nvme-raid10"), "gpu-compute"),
    ])
    .await;

    // Without a hardware volume the array may be software RAID, which only the OS shows.
    let in_band = assert_status(&report, "base", "working-array-raid", Status::InBand);
    assert!(in_band.observed.contains("mdadm"), "{}", in_band.observed);
    let failed = assert_status(&report, "raid0", "working-array-raid", Status::Fail);
    assert_eq!(failed.parts, ["volume NVMe_RAID0"]);
    let volume = "/redfish/v1/Systems/1/Storage/NVMeSSD/Volumes/1";
    assert_eq!(evidence(failed, volume, "RAIDType").value, "RAID0");
    assert_eq!(evidence(failed, volume, "Links/Drives@odata.count").value, 8);
    let passed = assert_status(&report, "raid10", "working-array-raid", Status::Pass);
    assert_eq!(passed.observed, "volume NVMe_RAID10 is RAID10 over 8 drives");
}

#[tokio::test]
async fn working_array_capacity_fails_on_small_drives() {
    let report = scan_nodes(&[
        ("base", SUPERMICRO, None, "gpu-compute"),
        ("small", SUPERMICRO, Some("nvme-3.84tb"), "gpu-compute"),
        ("raid10", SUPERMICRO, Some("nvme-raid10"), "gpu-compute"),
        ("dell", DELL, None, "gpu-compute"),
    ])
    .await;

    let passed = assert_status(&report, "base", "working-array-capacity", Status::Pass);
    assert!(passed.observed.starts_with("30.73 TB usable"), "{}", passed.observed);
    let failed = assert_status(&report, "small", "working-array-capacity", Status::Fail);
    assert!(failed.expected.starts_with(">= 16 TB usable"), "{}", failed.expected);
    assert!(failed.observed.starts_with("15.36 TB usable"), "{}", failed.observed);
    assert_eq!(
        evidence(
            failed,
            "/redfish/v1/Chassis/NVMeSSD.0.Group.0.StorageBackplane/Drives/Disk.Bay.0",
            "CapacityBytes"
        )
        .value,
        3_840_755_982_336_u64
    );
    // A hardware mirror is measured by its own capacity.
    let mirrored = assert_status(&report, "raid10", "working-array-capacity", Status::Pass);
    assert!(
        mirrored.observed.contains("volume NVMe_RAID10 capacity"),
        "{}",
        mirrored.observed
    );
    // The unmodified Dell fails: 8 x 3.84 TB mirrored is 15.36 TB where 8 H100 need 32 TB.
    assert_status(&report, "dell", "working-array-capacity", Status::Fail);
}

#[tokio::test]
async fn nic_speed_fails_on_slow_storage_port() {
    let report = scan_nodes(&[
        ("base", LENOVO, None, "storage"),
        ("slow", LENOVO, Some("port2-25g"), "storage"),
        ("slow-gpu", LENOVO, Some("port2-25g"), "gpu-compute"),
    ])
    .await;

    assert_status(&report, "base", "nic-speed", Status::Pass);
    let failed = assert_status(&report, "slow", "nic-speed", Status::Fail);
    assert!(failed.observed.contains("100, 25 Gbit/s"), "{}", failed.observed);
    assert_eq!(
        evidence(
            failed,
            "/redfish/v1/Chassis/1/NetworkAdapters/slot-1/Ports/2",
            "CurrentSpeedGbps (as Mbit/s)"
        )
        .value,
        25_000
    );
    // A GPU server needs one port at 100 Gbit/s, not 200 in total, so port 1 suffices.
    assert_status(&report, "slow-gpu", "nic-speed", Status::Pass);
}

// Rack rules. The built-in profile reports a violated rack rule as a warning.

#[tokio::test]
async fn deployment_power_counts_each_gpu_server() {
    let eight: Vec<String> = (1..=8).map(|n| format!("dell-{n}")).collect();
    let full: Vec<NodeSpec> = eight.iter().map(|h| (h.as_str(), DELL, None, "gpu-compute")).collect();
    let mut one_unreported = full.clone();
    one_unreported[7].2 = Some("psu-capacity-missing");
    let seven = &full[..7];

    let full_report = scan_nodes(&full).await;
    let unreported_report = scan_nodes(&one_unreported).await;
    let seven_report = scan_nodes(seven).await;

    // Each XE9680 keeps 5 x 2800 W with its largest PSU lost.
    let passed = assert_rack_status(&full_report, "deployment-power", Status::Pass);
    assert_eq!(passed.observed, "112.0 kW over 8 of 8 GPU servers");
    assert_eq!(passed.evidence.len(), 8);
    assert_eq!(passed.evidence[0].value, 14_000.0);
    let unknown = assert_rack_status(&unreported_report, "deployment-power", Status::Unknown);
    assert!(
        unknown.observed.ends_with("no PSU capacity from dell-8"),
        "{}",
        unknown.observed
    );
    assert!(
        !unknown.evidence.iter().any(|e| e.uri.starts_with("dell-8:")),
        "{:#?}",
        unknown.evidence
    );
    let warned = assert_rack_status(&seven_report, "deployment-power", Status::Warn);
    assert_eq!(warned.observed, "98.0 kW over 7 of 7 GPU servers");
}

#[tokio::test]
async fn deployment_power_reads_legacy_power_capacity() {
    let patch = (1..=6)
        .map(|n| {
            (
                format!("/redfish/v1/Chassis/System.Embedded.1/PowerSubsystem/PowerSupplies/PSU.Slot.{n}"),
                json!({ "PowerCapacityWatts": null }),
            )
        })
        .collect();
    let report = scan_patched(DELL, patch, "gpu-compute").await;

    let finding = assert_rack_status(&report, "deployment-power", Status::Warn);
    assert_eq!(finding.observed, "14.0 kW over 1 of 1 GPU servers");
}

#[tokio::test]
async fn storage_rack_of_four_passes() {
    let report = scan_nodes(&[
        ("storage-1", LENOVO, None, "storage"),
        ("storage-2", LENOVO, None, "storage"),
        ("storage-3", LENOVO, None, "storage"),
        ("storage-4", LENOVO, None, "storage"),
    ])
    .await;

    let count = assert_rack_status(&report, "storage-server-count", Status::Pass);
    assert_eq!(count.evidence.len(), 4);
    assert_eq!(count.evidence[0].uri, "storage-1:/redfish/v1/Systems/1");
    let capacity = assert_rack_status(&report, "storage-raw-capacity", Status::Pass);
    assert_eq!(capacity.observed, "368.7 TB raw over 4 of 4 storage servers");
    assert_eq!(capacity.evidence[0].value, 12 * 7_681_501_126_656_u64);
    assert_rack_status(&report, "storage-even-distribution", Status::Pass);
    assert_rack_status(&report, "deployment-power", Status::NotApplicable);
}

#[tokio::test]
async fn storage_server_count_warns_on_three() {
    let report = scan_nodes(&[
        ("storage-1", LENOVO, None, "storage"),
        ("storage-2", LENOVO, None, "storage"),
        ("storage-3", LENOVO, None, "storage"),
        ("gpu", SUPERMICRO, None, "gpu-compute"),
    ])
    .await;

    let warned = assert_rack_status(&report, "storage-server-count", Status::Warn);
    assert_eq!(warned.observed, "3 storage servers: storage-1, storage-2, storage-3");
    assert!(
        !warned.evidence.iter().any(|e| e.uri.starts_with("gpu:")),
        "{:#?}",
        warned.evidence
    );
}

#[tokio::test]
async fn storage_raw_capacity_warns_under_200tb() {
    let report = scan_nodes(&[
        ("storage-1", LENOVO, Some("six-data-drives"), "storage"),
        ("storage-2", LENOVO, Some("six-data-drives"), "storage"),
        ("storage-3", LENOVO, Some("six-data-drives"), "storage"),
        ("storage-4", LENOVO, Some("six-data-drives"), "storage"),
    ])
    .await;

    let warned = assert_rack_status(&report, "storage-raw-capacity", Status::Warn);
    assert_eq!(warned.observed, "184.4 TB raw over 4 of 4 storage servers");
    assert_eq!(warned.evidence[0].value, 6 * 7_681_501_126_656_u64);
    // The count and the distribution are still right.
    assert_rack_status(&report, "storage-server-count", Status::Pass);
    assert_rack_status(&report, "storage-even-distribution", Status::Pass);
}

#[tokio::test]
async fn storage_even_distribution_warns_on_fewer_disks() {
    let report = scan_nodes(&[
        ("storage-1", LENOVO, None, "storage"),
        ("storage-2", LENOVO, None, "storage"),
        ("storage-3", LENOVO, None, "storage"),
        ("storage-4", LENOVO, Some("six-data-drives"), "storage"),
    ])
    .await;

    let warned = assert_rack_status(&report, "storage-even-distribution", Status::Warn);
    assert!(
        warned.observed.ends_with("storage-4: 6 x 7.68 TB"),
        "{}",
        warned.observed
    );
    assert!(
        warned.observed.starts_with("storage-1: 12 x 7.68 TB"),
        "{}",
        warned.observed
    );
    let uneven = warned
        .evidence
        .iter()
        .find(|e| e.uri.starts_with("storage-4:"))
        .expect("evidence for storage-4");
    assert_eq!(uneven.value, "6 x 7.68 TB");
}

#[tokio::test]
async fn firmware_minimum_from_the_profile() {
    let profile_text = format!(
        "{}\n[[firmware]]\nvendor = \"Dell\"\nmodel = \"XE9680\"\ncomponent = \"bios\"\nmin_version = \"2.3.0\"\n",
        include_str!("../profiles/runpod-2025.toml")
    );
    let profile = rackcheck::policy::Profile::parse(&profile_text, "firmware.toml").expect("profile with a minimum");
    let rack = start_rack(&[
        ("current", DELL, None, "gpu-compute"),
        ("outdated", DELL, Some("bios-outdated"), "gpu-compute"),
        ("other", SUPERMICRO, None, "gpu-compute"),
    ])
    .await;

    let report = rack.scan_with_profile(&profile).await;
    rack.shutdown().await;

    assert_status(&report, "current", "firmware-minimum", Status::Pass);
    let failed = assert_status(&report, "outdated", "firmware-minimum", Status::Fail);
    assert_eq!(
        evidence(failed, "/redfish/v1/Systems/System.Embedded.1", "BiosVersion").value,
        "1.5.6"
    );
    assert_status(&report, "other", "firmware-minimum", Status::NotApplicable);
}

#[tokio::test]
async fn storage_spare_bays_need_a_listed_empty_bay() {
    let report = scan_nodes(&[
        ("base", LENOVO, None, "storage"),
        ("bays", LENOVO, Some("empty-bay"), "storage"),
    ])
    .await;

    assert_status(&report, "base", "storage-spare-bays", Status::NotApplicable);
    let passed = assert_status(&report, "bays", "storage-spare-bays", Status::Pass);
    assert_eq!(
        evidence(passed, "/redfish/v1/Chassis/1/Drives/Disk.Bay.15", "Status/State").value,
        "Absent"
    );
}
