//! Scenarios: merge patches, additions and removals, on the tree and as served.

mod common;

use std::sync::Arc;

use common::{PASSWORD, TempDir, USER, client_for, get_basic, test_mockup};
use mock_bmc::{BmcConfig, MockBmc, Scenario};
use serde_json::json;

const PSUS: &str = "/redfish/v1/Chassis/1/PowerSubsystem/PowerSupplies";

fn write_scenario(dir: &TempDir) -> std::path::PathBuf {
    let scenario = json!({
        "description": "PSU2 failed, DIMM4 removed, a GPU added",
        "patch": { format!("{PSUS}/PSU2"): { "Status": { "Health": "Critical", "State": null } } },
        "add": { "/redfish/v1/Systems/1/Processors": { "Members": [] },
                 "/redfish/v1/Systems/1/Processors/GPU0": { "Id": "GPU0", "ProcessorType": "GPU" } },
        "remove": ["/redfish/v1/Systems/1/Memory/DIMM4/"],
    });
    let file = dir.path().join("scenario.json");
    std::fs::write(&file, scenario.to_string()).unwrap();
    file
}

#[test]
fn scenario_patch_add_remove() {
    let dir = TempDir::new("scenario");
    let scenario = Scenario::load(&write_scenario(&dir)).unwrap();
    let base = test_mockup();

    let mockup = base.try_apply(&scenario).unwrap();

    let psu = mockup.get(&format!("{PSUS}/PSU2")).unwrap();
    assert_eq!(psu["Status"]["Health"], "Critical");
    assert!(psu["Status"].get("State").is_none(), "merge patch null removes the key");
    assert_eq!(psu["PowerCapacityWatts"], 3000);

    let memory = mockup.get("/redfish/v1/Systems/1/Memory").unwrap();
    assert_eq!(memory["Members@odata.count"], 4);
    assert_eq!(memory["Members"].as_array().unwrap().len(), 4);
    assert!(mockup.get("/redfish/v1/Systems/1/Memory/DIMM4").is_none());

    let processors = mockup.get("/redfish/v1/Systems/1/Processors").unwrap();
    assert_eq!(
        processors["Members"],
        json!([{ "@odata.id": "/redfish/v1/Systems/1/Processors/GPU0" }])
    );
    assert_eq!(processors["Members@odata.count"], 1);
    assert_eq!(
        mockup.get("/redfish/v1/Systems/1/Processors/GPU0").unwrap()["@odata.id"],
        "/redfish/v1/Systems/1/Processors/GPU0"
    );

    assert!(
        base.get("/redfish/v1/Systems/1/Memory/DIMM4").is_some(),
        "apply leaves the base unchanged"
    );
}

#[test]
fn scenario_missing_target_rejected() {
    let scenario = Scenario {
        description: "typo".to_string(),
        patch: [("/redfish/v1/Systems/9".to_string(), json!({ "Id": "9" }))]
            .into_iter()
            .collect(),
        ..Scenario::default()
    };
    let base = test_mockup();

    let err = base.try_apply(&scenario).unwrap_err();

    assert!(err.to_string().contains("/redfish/v1/Systems/9"), "{err}");
    assert!(base.apply(&scenario).get("/redfish/v1/Systems/9").is_none());
}

#[test]
fn scenario_unknown_field_rejected() {
    let dir = TempDir::new("scenario-bad");
    let file = dir.path().join("bad.json");
    std::fs::write(&file, r#"{"description": "x", "patches": {}}"#).unwrap();

    let err = Scenario::load(&file).unwrap_err();

    assert!(err.to_string().contains("bad.json"), "{err}");
}

#[tokio::test]
async fn scenario_served_by_bmc() {
    let dir = TempDir::new("scenario-served");
    let scenario = Scenario::load(&write_scenario(&dir)).unwrap();
    let mockup = Arc::new(test_mockup().apply(&scenario));
    let bmc = MockBmc::start(mockup, BmcConfig::loopback(USER, PASSWORD))
        .await
        .unwrap();
    let client = client_for(&bmc);

    let (_, psu) = get_basic(&client, &bmc, &format!("{PSUS}/PSU2")).await;
    assert_eq!(psu["Status"]["Health"], "Critical");

    let (status, _) = get_basic(&client, &bmc, "/redfish/v1/Systems/1/Memory/DIMM4").await;
    assert_eq!(status, 404);

    let (_, memory) = get_basic(&client, &bmc, "/redfish/v1/Systems/1/Memory").await;
    assert_eq!(memory["Members@odata.count"], 4);
    bmc.shutdown().await;
}
