//! Powered-off hosts: inventory rules report `unknown` without `--power-on`, and with it the
//! host is powered on, read again once POST has finished, and powered off again.

mod common;

use std::time::Duration;

use common::{PASSWORD, TestRack, USERNAME};
use mock_bmc::{BmcConfig, Mockup};
use rackcheck::collect::power_on::PowerOnOptions;
use rackcheck::policy::{Status, Verdict};
use rackcheck::scan::ScanOptions;
use serde_json::json;

const SYSTEM: &str = "/redfish/v1/Systems/1";

/// Starts a rack of one passing Supermicro node whose host is off, with `BootProgress` as it is before a boot.
async fn powered_off_rack() -> TestRack {
    let dir = common::mock_bmc_dir().join("mockups").join("supermicro-as4125gs-l40s");
    let mut mockup = Mockup::load(&dir).unwrap();
    let mut system = mockup.get(SYSTEM).unwrap().clone();
    system["PowerState"] = json!("Off");
    system["BootProgress"] = json!({ "LastState": "None" });
    mockup.insert(SYSTEM, system);

    let mut rack = TestRack::new();
    rack.add_mockup(
        "gpu-off",
        mockup,
        BmcConfig::loopback(USERNAME, PASSWORD),
        "gpu-compute",
    )
    .await;
    rack
}

fn options(ca: &tempfile::NamedTempFile, power_on: Option<PowerOnOptions>) -> ScanOptions {
    let mut options = ScanOptions {
        power_on,
        ..ScanOptions::default()
    };
    options.client.ca_file = Some(ca.path().to_path_buf());
    options
}

fn fast_power_on() -> PowerOnOptions {
    PowerOnOptions {
        timeout: Duration::from_secs(10),
        poll_interval: Duration::from_millis(20),
        shutdown_timeout: Duration::from_secs(2),
    }
}

#[tokio::test]
async fn powered_off_host_is_unknown() {
    let rack = powered_off_rack().await;
    let ca = rack.ca_bundle();
    let report = rack.scan_with(&options(&ca, None)).await;

    let node = &report.nodes[0];
    assert_eq!(node.verdict, Verdict::Unknown, "{:#?}", node.findings);
    assert!(node.power_on.is_none());
    for rule in ["gpu-architecture", "cpu-clock", "dimm-ecc"] {
        let finding = node.findings.iter().find(|finding| finding.rule == rule);
        let finding = finding.unwrap_or_else(|| panic!("no {rule} finding: {:#?}", node.findings));
        assert_eq!(finding.status, Status::Unknown, "{rule}");
        assert!(
            finding.observed.contains("power state is Off"),
            "{rule}: {}",
            finding.observed
        );
    }
    let psu = node
        .findings
        .iter()
        .find(|finding| finding.rule == "psu-redundant")
        .unwrap();
    assert_eq!(psu.status, Status::Pass);
    assert!(
        rack.bmc("gpu-off").events().is_empty(),
        "a scan without --power-on changed the BMC"
    );
    rack.shutdown().await;
}

#[tokio::test]
async fn power_on_rereads_and_restores_off() {
    let rack = powered_off_rack().await;
    let ca = rack.ca_bundle();
    let report = rack.scan_with(&options(&ca, Some(fast_power_on()))).await;

    let node = &report.nodes[0];
    assert_eq!(node.verdict, Verdict::Pass, "{:#?}", node.findings);
    let cycle = node.power_on.as_ref().expect("power-on cycle recorded");
    assert_eq!(cycle.original_state.as_deref(), Some("Off"));
    assert_eq!(cycle.power_on.as_deref(), Some("On"));
    assert!(cycle.reread, "{cycle:?}");
    assert_eq!(cycle.restore, ["GracefulShutdown"]);
    assert_eq!(cycle.final_state.as_deref(), Some("Off"));
    assert_eq!(cycle.message, None);
    assert_eq!(node.facts.as_ref().unwrap().system.power_state.as_deref(), Some("On"));

    let events = rack.bmc("gpu-off").events();
    assert_eq!(events.len(), 2, "{events:#?}");
    assert!(events[0].detail.starts_with("PowerState Off -> On (On)"), "{events:#?}");
    assert!(
        events[1].detail.starts_with("PowerState On -> Off (GracefulShutdown)"),
        "{events:#?}"
    );
    assert_eq!(rack.open_sessions(), 0);
    rack.shutdown().await;
}

#[tokio::test]
async fn power_on_skips_running_host() {
    let mut rack = TestRack::new();
    rack.add("gpu-on", "supermicro-as4125gs-l40s", None, "gpu-compute")
        .await;
    let ca = rack.ca_bundle();
    let report = rack.scan_with(&options(&ca, Some(fast_power_on()))).await;

    assert_eq!(report.nodes[0].verdict, Verdict::Pass);
    assert!(report.nodes[0].power_on.is_none());
    assert!(rack.bmc("gpu-on").events().is_empty());
    rack.shutdown().await;
}
