//! A folder that a capture tool writes in the DMTF layout is served unchanged, including
//! folder names with percent escapes, colons and spaces.

mod common;

use std::sync::Arc;

use common::{PASSWORD, TempDir, USER, client_for, get_basic, write_resource};
use mock_bmc::{BmcConfig, MockBmc, Mockup};
use serde_json::{Value, json};

/// Resources as a BMC served them, keyed by the folder path a capture writes them to.
fn captured_resources() -> Vec<(&'static str, Value)> {
    let sensor = "/redfish/v1/Chassis/1/Sensors/Inlet%20Temp";
    let volume = "/redfish/v1/Systems/1/Storage/RAID.SL.3-1/Volumes/Disk.Virtual.0:RAID.SL.3-1";
    vec![
        ("/redfish", json!({ "v1": "/redfish/v1/" })),
        (
            "/redfish/v1",
            json!({ "@odata.id": "/redfish/v1/", "RedfishVersion": "1.17.0", "Vendor": "Capture",
                    "Chassis": { "@odata.id": "/redfish/v1/Chassis" } }),
        ),
        (
            "/redfish/v1/Chassis/1/Sensors",
            json!({ "@odata.id": "/redfish/v1/Chassis/1/Sensors", "Members": [{ "@odata.id": sensor }],
                    "Members@odata.count": 1 }),
        ),
        (
            sensor,
            json!({ "@odata.id": sensor, "Id": "Inlet Temp", "Reading": 21.5 }),
        ),
        (
            volume,
            json!({ "@odata.id": volume, "RAIDType": "RAID1", "Oem": { "Dell": { "Odd": [1, null, "x"] } } }),
        ),
    ]
}

#[tokio::test]
async fn capture_folder_is_served_unchanged() {
    let dir = TempDir::new("capture");
    for (uri, resource) in captured_resources() {
        write_resource(
            dir.path(),
            uri,
            serde_json::to_string_pretty(&resource).unwrap().as_bytes(),
        );
    }
    let mockup = Mockup::load(dir.path()).unwrap();
    assert!(mockup.issues().is_empty(), "{:?}", mockup.issues());
    let bmc = MockBmc::start(Arc::new(mockup), BmcConfig::loopback(USER, PASSWORD))
        .await
        .unwrap();
    let client = client_for(&bmc);

    for (uri, resource) in captured_resources() {
        let (status, served) = get_basic(&client, &bmc, uri).await;
        assert_eq!(status, 200, "GET {uri}");
        assert_eq!(served, resource, "GET {uri}");
    }

    let (_, sensors) = get_basic(&client, &bmc, "/redfish/v1/Chassis/1/Sensors").await;
    let link = sensors["Members"][0]["@odata.id"].as_str().unwrap();
    let (status, sensor) = get_basic(&client, &bmc, link).await;
    assert_eq!(status, 200, "GET {link}");
    assert_eq!(sensor["Reading"], 21.5);
    bmc.shutdown().await;
}
