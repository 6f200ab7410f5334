//! State kept per BMC: BIOS settings, boot overrides, resets and the event log, over HTTPS.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{PASSWORD, USER, client_for, get_basic};
use mock_bmc::{BmcConfig, MockBmc, Mockup};
use reqwest::Method;
use serde_json::{Value, json};

const SYSTEM: &str = "/redfish/v1/Systems/System.Embedded.1";
const RESET: &str = "/redfish/v1/Systems/System.Embedded.1/Actions/ComputerSystem.Reset";
const BIOS: &str = "/redfish/v1/Systems/System.Embedded.1/Bios";
const BIOS_SETTINGS: &str = "/redfish/v1/Systems/System.Embedded.1/Bios/Settings";

fn load(name: &str) -> Arc<Mockup> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("mockups").join(name);
    Arc::new(Mockup::load(&dir).unwrap())
}

async fn start_dell(configure: impl FnOnce(&mut BmcConfig)) -> MockBmc {
    let mut config = BmcConfig::loopback(USER, PASSWORD);
    configure(&mut config);
    MockBmc::start(load("dell-xe9680-h100"), config).await.unwrap()
}

/// Sends `body` with basic auth and returns the status and the JSON body, or Null when empty.
async fn send(bmc: &MockBmc, method: Method, path: &str, body: &Value) -> (u16, Value) {
    let response = client_for(bmc)
        .request(method, format!("{}{path}", bmc.base_url()))
        .basic_auth(USER, Some(PASSWORD))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, body)
}

async fn get(bmc: &MockBmc, path: &str) -> Value {
    let (status, body) = get_basic(&client_for(bmc), bmc, path).await;
    assert_eq!(status, 200, "GET {path}");
    body
}

fn message_id(body: &Value) -> String {
    let id = body["error"]["@Message.ExtendedInfo"][0]["MessageId"].as_str().unwrap();
    assert_eq!(body["error"]["code"], id, "code and MessageId differ");
    id.rsplit('.').next().unwrap().to_string()
}

#[tokio::test]
async fn bios_patch_is_pending_until_reset() {
    let bmc = start_dell(|_| {}).await;
    let change = json!({ "Attributes": { "ProcVirtualization": "Enabled" } });

    let (status, body) = send(&bmc, Method::PATCH, BIOS_SETTINGS, &change).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Attributes"]["ProcVirtualization"], "Enabled");
    assert_eq!(
        get(&bmc, BIOS_SETTINGS).await["Attributes"]["ProcVirtualization"],
        "Enabled"
    );
    assert_eq!(get(&bmc, BIOS).await["Attributes"]["ProcVirtualization"], "Disabled");

    let (status, _) = send(&bmc, Method::POST, RESET, &json!({ "ResetType": "ForceRestart" })).await;
    assert_eq!(status, 204);
    assert_eq!(get(&bmc, BIOS).await["Attributes"]["ProcVirtualization"], "Enabled");

    let events = bmc.events();
    assert_eq!(events.len(), 3, "{events:#?}");
    assert_eq!(events[0].method, "PATCH");
    assert_eq!(events[0].path, BIOS_SETTINGS);
    assert!(events[0].detail.contains("ProcVirtualization"), "{}", events[0].detail);
    assert!(events[1].detail.contains("ForceRestart"), "{}", events[1].detail);
    assert!(
        events[2].detail.contains("applied pending BIOS attributes"),
        "{}",
        events[2].detail
    );
    assert_eq!(events.iter().map(|event| event.seq).collect::<Vec<_>>(), [1, 2, 3]);
    bmc.shutdown().await;
}

#[tokio::test]
async fn bios_settings_stay_pending_when_not_applied() {
    let bmc = start_dell(|config| config.apply_settings_on_reset = false).await;
    let change = json!({ "Attributes": { "ProcVirtualization": "Enabled" } });

    send(&bmc, Method::PATCH, BIOS_SETTINGS, &change).await;
    send(&bmc, Method::POST, RESET, &json!({ "ResetType": "PowerCycle" })).await;

    assert_eq!(get(&bmc, BIOS).await["Attributes"]["ProcVirtualization"], "Disabled");
    assert_eq!(bmc.events().len(), 2);
    bmc.shutdown().await;
}

#[tokio::test]
async fn bios_patch_rejects_bad_attributes() {
    let bmc = start_dell(|_| {}).await;
    let cases = [
        (json!({ "Attributes": { "NoSuchAttribute": "x" } }), "PropertyUnknown"),
        (
            json!({ "Attributes": { "ProcVirtualization": 1 } }),
            "PropertyValueTypeError",
        ),
        (json!({ "Oem": {} }), "PropertyUnknown"),
        (json!({}), "PropertyMissing"),
        (json!(["Attributes"]), "MalformedJSON"),
    ];

    for (change, expected) in cases {
        let (status, body) = send(&bmc, Method::PATCH, BIOS_SETTINGS, &change).await;
        assert_eq!(status, 400, "{change}");
        assert_eq!(message_id(&body), expected, "{change}");
    }
    assert!(bmc.events().is_empty());
    bmc.shutdown().await;
}

#[tokio::test]
async fn bios_resource_itself_is_read_only() {
    let bmc = start_dell(|_| {}).await;
    let change = json!({ "Attributes": { "ProcVirtualization": "Enabled" } });

    let (status, body) = send(&bmc, Method::PATCH, BIOS, &change).await;

    assert_eq!(status, 405);
    assert_eq!(message_id(&body), "OperationNotAllowed");
    bmc.shutdown().await;
}

#[tokio::test]
async fn boot_override_once_is_consumed_by_reset() {
    let bmc = start_dell(|_| {}).await;
    let change = json!({ "Boot": { "BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once" } });

    let (status, body) = send(&bmc, Method::PATCH, SYSTEM, &change).await;
    assert_eq!(status, 200, "{body}");
    let boot = &get(&bmc, SYSTEM).await["Boot"];
    assert_eq!(boot["BootSourceOverrideTarget"], "Pxe");
    assert_eq!(boot["BootSourceOverrideEnabled"], "Once");
    assert_eq!(boot["BootSourceOverrideMode"], "UEFI", "unpatched properties stay");

    let (status, _) = send(&bmc, Method::POST, RESET, &json!({ "ResetType": "GracefulRestart" })).await;
    assert_eq!(status, 204);

    let boot = &get(&bmc, SYSTEM).await["Boot"];
    assert_eq!(boot["BootSourceOverrideEnabled"], "Disabled");
    let events = bmc.events();
    assert!(events[1].detail.contains("booted from Pxe"), "{}", events[1].detail);
    bmc.shutdown().await;
}

#[tokio::test]
async fn boot_patch_checks_allowable_values() {
    let bmc = start_dell(|_| {}).await;
    let cases = [
        // Usb is in the schema but not in this system's AllowableValues.
        (
            json!({ "Boot": { "BootSourceOverrideTarget": "Usb" } }),
            "PropertyValueNotInList",
        ),
        (
            json!({ "Boot": { "BootSourceOverrideEnabled": "Twice" } }),
            "PropertyValueNotInList",
        ),
        (
            json!({ "Boot": { "BootSourceOverrideMode": "Legacy-ish" } }),
            "PropertyValueNotInList",
        ),
        (
            json!({ "Boot": { "BootSourceOverrideTarget": 3 } }),
            "PropertyValueTypeError",
        ),
        (json!({ "Boot": { "BootOrder": [] } }), "PropertyNotWritable"),
        (json!({ "AssetTag": "rack-a" }), "PropertyNotWritable"),
    ];

    for (change, expected) in cases {
        let (status, body) = send(&bmc, Method::PATCH, SYSTEM, &change).await;
        assert_eq!(status, 400, "{change}");
        assert_eq!(message_id(&body), expected, "{change}");
    }
    assert_eq!(get(&bmc, SYSTEM).await["Boot"]["BootSourceOverrideTarget"], "None");
    bmc.shutdown().await;
}

#[tokio::test]
async fn reset_changes_power_state() {
    let bmc = start_dell(|_| {}).await;
    let steps = [
        ("ForceOff", "Off"),
        ("ForceOff", "Off"),
        ("On", "On"),
        ("GracefulShutdown", "Off"),
        ("PushPowerButton", "On"),
        ("Nmi", "On"),
    ];

    for (reset_type, expected) in steps {
        let (status, body) = send(&bmc, Method::POST, RESET, &json!({ "ResetType": reset_type })).await;
        assert_eq!(status, 204, "{reset_type}: {body}");
        assert_eq!(get(&bmc, SYSTEM).await["PowerState"], expected, "after {reset_type}");
    }
    let events = bmc.events();
    assert_eq!(events.len(), steps.len());
    assert_eq!(events[0].detail, "PowerState On -> Off (ForceOff)");
    assert_eq!(events[0].path, RESET);
    bmc.shutdown().await;
}

#[tokio::test]
async fn reset_rejects_bad_reset_type() {
    let bmc = MockBmc::start(load("lenovo-sr655v3-storage"), BmcConfig::loopback(USER, PASSWORD))
        .await
        .unwrap();
    let reset = "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset";
    let cases = [
        // PowerCycle is in the schema but not in this system's AllowableValues.
        (json!({ "ResetType": "PowerCycle" }), "ActionParameterValueNotInList"),
        (json!({ "ResetType": 1 }), "ActionParameterValueTypeError"),
        (json!({}), "ActionParameterMissing"),
    ];

    for (request, expected) in cases {
        let (status, body) = send(&bmc, Method::POST, reset, &request).await;
        assert_eq!(status, 400, "{request}");
        assert_eq!(message_id(&body), expected, "{request}");
    }
    assert_eq!(get(&bmc, "/redfish/v1/Systems/1").await["PowerState"], "On");
    bmc.shutdown().await;
}

#[tokio::test]
async fn reset_uses_action_info_values() {
    let mockup: Mockup = [
        (
            "/redfish/v1/Systems/1".to_string(),
            json!({ "PowerState": "On", "Actions": { "#ComputerSystem.Reset": {
                "target": "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
                "@Redfish.ActionInfo": "/redfish/v1/Systems/1/ResetActionInfo" } } }),
        ),
        (
            "/redfish/v1/Systems/1/ResetActionInfo".to_string(),
            json!({ "Parameters": [{ "Name": "ResetType", "AllowableValues": ["ForceOff"] }] }),
        ),
    ]
    .into_iter()
    .collect();
    let bmc = MockBmc::start(Arc::new(mockup), BmcConfig::loopback(USER, PASSWORD))
        .await
        .unwrap();
    let reset = "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset";

    let (refused, _) = send(&bmc, Method::POST, reset, &json!({ "ResetType": "On" })).await;
    let (accepted, _) = send(&bmc, Method::POST, reset, &json!({ "ResetType": "ForceOff" })).await;

    assert_eq!(refused, 400);
    assert_eq!(accepted, 204);
    assert_eq!(bmc.resource("/redfish/v1/Systems/1").unwrap()["PowerState"], "Off");
    bmc.shutdown().await;
}

#[tokio::test]
async fn action_target_accepts_only_post() {
    let bmc = start_dell(|_| {}).await;

    let (status, body) = get_basic(&client_for(&bmc), &bmc, RESET).await;

    assert_eq!(status, 405);
    assert_eq!(message_id(&body), "OperationNotAllowed");
    bmc.shutdown().await;
}

#[tokio::test]
async fn state_is_kept_per_bmc() {
    let mockup = load("dell-xe9680-h100");
    let first = MockBmc::start(Arc::clone(&mockup), BmcConfig::loopback(USER, PASSWORD))
        .await
        .unwrap();
    let second = MockBmc::start(Arc::clone(&mockup), BmcConfig::loopback(USER, PASSWORD))
        .await
        .unwrap();

    send(&first, Method::POST, RESET, &json!({ "ResetType": "ForceOff" })).await;

    assert_eq!(get(&first, SYSTEM).await["PowerState"], "Off");
    assert_eq!(get(&second, SYSTEM).await["PowerState"], "On");
    assert_eq!(mockup.get(SYSTEM).unwrap()["PowerState"], "On");
    assert!(second.events().is_empty());
    first.shutdown().await;
    second.shutdown().await;
}

#[tokio::test]
async fn events_endpoint_matches_library() {
    let bmc = start_dell(|_| {}).await;
    send(&bmc, Method::POST, RESET, &json!({ "ResetType": "ForceOff" })).await;

    let response = client_for(&bmc)
        .get(format!("{}/mock-bmc/events", bmc.base_url()))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let events: Value = response.json().await.unwrap();
    assert_eq!(events.as_array().unwrap().len(), 1);
    assert_eq!(events[0]["seq"], 1);
    assert_eq!(events[0]["method"], "POST");
    assert_eq!(events[0]["path"], RESET);
    assert_eq!(events[0]["detail"], bmc.events()[0].detail);
    assert!(events[0]["time_unix_ms"].as_u64().unwrap() > 0);
    bmc.shutdown().await;
}

#[tokio::test]
async fn patch_checks_if_match() {
    let bmc = start_dell(|_| {}).await;
    let client = client_for(&bmc);
    let url = format!("{}{SYSTEM}", bmc.base_url());
    let etag = client
        .get(&url)
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .unwrap()
        .headers()["etag"]
        .to_str()
        .unwrap()
        .to_string();
    let change = json!({ "Boot": { "BootSourceOverrideTarget": "Hdd" } });

    let stale = client
        .patch(&url)
        .basic_auth(USER, Some(PASSWORD))
        .header("if-match", "\"0000000000000000\"")
        .json(&change)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    let body: Value = stale.json().await.unwrap();
    assert_eq!(message_id(&body), "PreconditionFailed");

    let current = client
        .patch(&url)
        .basic_auth(USER, Some(PASSWORD))
        .header("if-match", &etag)
        .json(&change)
        .send()
        .await
        .unwrap();
    assert_eq!(current.status(), 200);
    assert_ne!(
        current.headers()["etag"].to_str().unwrap(),
        etag,
        "the change gives a new ETag"
    );
    bmc.shutdown().await;
}
