//! The PXE step against mock BMCs: only nodes that passed get a one-time PXE override and a
//! power action, as each BMC's event log shows, and a dry run sends no write.

mod common;

use common::TestRack;
use mock_bmc::Event;
use rackcheck::handoff::pxe::{PxeOptions, PxeStatus};
use rackcheck::policy::Verdict;
use rackcheck::scan::ScanOptions;

/// Starts a rack like the demo rack, with two nodes that pass and three that fail. Every Dell node
/// fails the built-in profile's CPU clock rule.
async fn demo_like_rack() -> TestRack {
    let mut rack = TestRack::new();
    rack.add("gpu-a01", "dell-xe9680-h100", None, "gpu-compute").await;
    rack.add("gpu-a03", "supermicro-as4125gs-l40s", None, "gpu-compute")
        .await;
    rack.add(
        "gpu-a05",
        "supermicro-as4125gs-l40s",
        Some("supermicro-as4125gs-l40s--gpu8-v100"),
        "gpu-compute",
    )
    .await;
    rack.add("sto-b01", "lenovo-sr655v3-storage", None, "storage").await;
    rack.add(
        "sto-b02",
        "lenovo-sr655v3-storage",
        Some("lenovo-sr655v3-storage--psu2-failed"),
        "storage",
    )
    .await;
    rack
}

fn pxe_options(ca: &tempfile::NamedTempFile, dry_run: bool) -> ScanOptions {
    let mut options = ScanOptions {
        pxe: Some(PxeOptions { dry_run }),
        ..ScanOptions::default()
    };
    options.client.ca_file = Some(ca.path().to_path_buf());
    options
}

fn is_pxe_patch(event: &Event) -> bool {
    event.method == "PATCH"
        && event.detail.contains("BootSourceOverrideTarget=Pxe")
        && event.detail.contains("BootSourceOverrideEnabled=Once")
}

fn is_reset(event: &Event) -> bool {
    event.method == "POST" && event.path.ends_with("/Actions/ComputerSystem.Reset")
}

#[tokio::test]
async fn pxe_step_only_for_passing_nodes() {
    let rack = demo_like_rack().await;
    let ca = rack.ca_bundle();
    let report = rack.scan_with(&pxe_options(&ca, false)).await;

    let mut passing = 0;
    for node in &report.nodes {
        let events = rack.bmc(&node.hostname).events();
        let patches = events.iter().filter(|event| is_pxe_patch(event)).count();
        let resets = events.iter().filter(|event| is_reset(event)).count();
        if node.verdict == Verdict::Pass {
            passing += 1;
            assert_eq!(patches, 1, "{}: {events:#?}", node.hostname);
            assert_eq!(resets, 1, "{}: {events:#?}", node.hostname);
            let patch_seq = events.iter().find(|event| is_pxe_patch(event)).unwrap().seq;
            let reset_seq = events.iter().find(|event| is_reset(event)).unwrap().seq;
            assert!(
                patch_seq < reset_seq,
                "{}: override after reset: {events:#?}",
                node.hostname
            );
            assert_eq!(events.len(), 2, "{}: {events:#?}", node.hostname);

            let pxe = node.pxe.as_ref().expect("passing node has a PXE result");
            assert_eq!(pxe.status, PxeStatus::Done, "{}: {pxe:?}", node.hostname);
            let accepted = pxe.accepted.as_ref().expect("override read back");
            assert_eq!(accepted.target.as_deref(), Some("Pxe"));
            assert_eq!(accepted.enabled.as_deref(), Some("Once"));
            assert_eq!(accepted.mode.as_deref(), Some("UEFI"));
            assert_eq!(pxe.power_state_after.as_deref(), Some("On"));
            assert_eq!(pxe.requests.len(), 2);
            assert_eq!(pxe.requests[1].body["ResetType"], "ForceRestart");
        } else {
            assert!(
                events.is_empty(),
                "{} ({}) was changed: {events:#?}",
                node.hostname,
                node.verdict
            );
            assert!(node.pxe.is_none(), "{}", node.hostname);
        }
    }
    assert_eq!(
        passing,
        2,
        "{:#?}",
        report
            .nodes
            .iter()
            .map(|node| (&node.hostname, node.verdict))
            .collect::<Vec<_>>()
    );
    assert_eq!(rack.open_sessions(), 0);
    rack.shutdown().await;
}

#[tokio::test]
async fn pxe_dry_run_sends_no_write() {
    let rack = demo_like_rack().await;
    let ca = rack.ca_bundle();
    let report = rack.scan_with(&pxe_options(&ca, true)).await;

    for node in &report.nodes {
        let events = rack.bmc(&node.hostname).events();
        assert!(events.is_empty(), "{}: {events:#?}", node.hostname);
        if node.verdict == Verdict::Pass {
            let pxe = node.pxe.as_ref().expect("passing node has a PXE plan");
            assert_eq!(pxe.status, PxeStatus::DryRun);
            let methods: Vec<&str> = pxe.requests.iter().map(|request| request.method.as_str()).collect();
            assert_eq!(methods, ["PATCH", "POST"]);
            assert_eq!(pxe.requests[0].body["Boot"]["BootSourceOverrideTarget"], "Pxe");
            assert!(pxe.requests.iter().all(|request| request.status.is_none()));
        }
    }
    rack.shutdown().await;
}

#[tokio::test]
async fn pxe_rejected_without_pxe_target() {
    let mut rack = TestRack::new();
    let dir = common::mock_bmc_dir().join("mockups").join("supermicro-as4125gs-l40s");
    let mut mockup = mock_bmc::Mockup::load(&dir).unwrap();
    let system_uri = "/redfish/v1/Systems/1";
    let mut system = mockup.get(system_uri).unwrap().clone();
    system["Boot"]["BootSourceOverrideTarget@Redfish.AllowableValues"] = serde_json::json!(["None", "Hdd"]);
    mockup.insert(system_uri, system);
    rack.add_mockup(
        "gpu-a01",
        mockup,
        mock_bmc::BmcConfig::loopback(common::USERNAME, common::PASSWORD),
        "gpu-compute",
    )
    .await;
    let ca = rack.ca_bundle();
    let report = rack.scan_with(&pxe_options(&ca, false)).await;

    let node = &report.nodes[0];
    assert_eq!(node.verdict, Verdict::Pass);
    let pxe = node.pxe.as_ref().unwrap();
    assert_eq!(pxe.status, PxeStatus::Rejected);
    assert!(pxe.message.as_deref().unwrap().contains("does not list Pxe"), "{pxe:?}");
    assert!(rack.bmc("gpu-a01").events().is_empty());
    rack.shutdown().await;
}

#[tokio::test]
async fn demo_rack_pxe_reaches_only_passing_nodes() {
    let demo = rackcheck::demo::DemoRack::start(&common::mock_bmc_dir()).await.unwrap();
    let mut options = ScanOptions {
        pxe: Some(PxeOptions { dry_run: false }),
        ..ScanOptions::default()
    };
    options.client.ca_file = Some(demo.ca_path());
    let profile = rackcheck::policy::Profile::builtin();

    let report = rackcheck::scan::scan(&demo.inventory, &demo.credentials, &profile, &options)
        .await
        .unwrap();

    let mut passing = Vec::new();
    for node in &report.nodes {
        let Some(events) = demo.events(&node.hostname) else {
            assert_eq!(node.verdict, Verdict::Error, "{} has no demo BMC", node.hostname);
            continue;
        };
        let patches = events.iter().filter(|event| is_pxe_patch(event)).count();
        let resets = events.iter().filter(|event| is_reset(event)).count();
        if node.verdict == Verdict::Pass {
            passing.push(node.hostname.clone());
            assert_eq!((patches, resets), (1, 1), "{}: {events:#?}", node.hostname);
        } else {
            assert!(
                events.is_empty(),
                "{} ({}) was changed: {events:#?}",
                node.hostname,
                node.verdict
            );
        }
    }
    assert_eq!(passing, ["gpu-a03", "stor-a07"]);
    assert_eq!(demo.open_sessions(), 0);
    demo.shutdown().await;
}
