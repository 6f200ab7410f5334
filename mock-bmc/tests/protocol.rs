//! Protocol details over HTTPS: `$expand`, ETags, `OData-Version` and Redfish error bodies.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{PASSWORD, USER, client_for, get_basic, start_bmc};
use mock_bmc::{BmcConfig, MockBmc, Mockup};
use serde_json::{Value, json};

const SYSTEMS: &str = "/redfish/v1/Systems";
const SYSTEM: &str = "/redfish/v1/Systems/System.Embedded.1";

async fn start_dell(expand: bool) -> MockBmc {
    start_mockup("dell-xe9680-h100", expand).await
}

/// Starts a mock BMC serving the Lenovo XCC mockup, whose service root advertises
/// `MaxLevels` 2.
async fn start_lenovo() -> MockBmc {
    start_mockup("lenovo-sr655v3-storage", true).await
}

async fn start_mockup(name: &str, expand: bool) -> MockBmc {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("mockups").join(name);
    let config = BmcConfig {
        expand,
        ..BmcConfig::loopback(USER, PASSWORD)
    };
    MockBmc::start(Arc::new(Mockup::load(&dir).unwrap()), config)
        .await
        .unwrap()
}

async fn get(bmc: &MockBmc, path: &str) -> Value {
    let (status, body) = get_basic(&client_for(bmc), bmc, path).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

fn is_reference(value: &Value) -> bool {
    value
        .as_object()
        .is_some_and(|object| object.len() == 1 && object.contains_key("@odata.id"))
}

#[tokio::test]
async fn root_advertises_expand_only_when_enabled() {
    let disabled = start_dell(false).await;
    let enabled = start_dell(true).await;

    let root = get(&disabled, "/redfish/v1").await;
    assert!(
        root["ProtocolFeaturesSupported"].get("ExpandQuery").is_none(),
        "the Dell mockup's own ExpandQuery is removed"
    );
    assert_eq!(root["ProtocolFeaturesSupported"]["SelectQuery"], true);

    let expand = &get(&enabled, "/redfish/v1").await["ProtocolFeaturesSupported"]["ExpandQuery"];
    assert_eq!(expand["ExpandAll"], true);
    assert_eq!(expand["Levels"], true);
    assert_eq!(expand["Links"], true);
    assert_eq!(expand["NoLinks"], true);
    assert_eq!(expand["MaxLevels"], 1, "the iDRAC's own limit");
    disabled.shutdown().await;
    enabled.shutdown().await;
}

#[tokio::test]
async fn expand_ignored_when_disabled() {
    let bmc = start_dell(false).await;

    let body = get(&bmc, "/redfish/v1/Systems?$expand=.").await;

    assert!(is_reference(&body["Members"][0]));
    bmc.shutdown().await;
}

#[tokio::test]
async fn expand_dot_follows_levels() {
    let bmc = start_lenovo().await;

    let one = get(&bmc, "/redfish/v1/Systems?$expand=.($levels=1)").await;
    let system = &one["Members"][0];
    assert_eq!(system["Id"], "1");
    assert!(is_reference(&system["Memory"]), "level 2 stays a reference");

    let two = get(&bmc, "/redfish/v1/Systems?$expand=.($levels=2)").await;
    let memory = &two["Members"][0]["Memory"];
    assert_eq!(memory["Members@odata.count"], 24);
    assert!(is_reference(&memory["Members"][0]), "level 3 stays a reference");
    bmc.shutdown().await;
}

#[tokio::test]
async fn expand_forms_choose_links() {
    let bmc = start_dell(true).await;

    let dot = get(&bmc, &format!("{SYSTEM}?$expand=.")).await;
    assert!(is_reference(&dot["Links"]["Chassis"][0]), ". leaves Links alone");
    assert!(dot["Memory"]["Members"].is_array(), ". expands subordinate resources");

    let tilde = get(&bmc, &format!("{SYSTEM}?$expand=~")).await;
    assert_eq!(
        tilde["Links"]["Chassis"][0]["Id"], "System.Embedded.1",
        "~ expands Links"
    );
    assert!(is_reference(&tilde["Memory"]), "~ leaves subordinate resources alone");

    let star = get(&bmc, &format!("{SYSTEM}?$expand=*")).await;
    assert_eq!(star["Links"]["Chassis"][0]["Id"], "System.Embedded.1");
    assert!(star["Memory"]["Members"].is_array());
    bmc.shutdown().await;
}

#[tokio::test]
async fn expand_accepts_encoded_query() {
    let bmc = start_lenovo().await;

    let body = get(&bmc, "/redfish/v1/Systems?%24expand=%2E%28%24levels%3D2%29").await;

    assert_eq!(body["Members"][0]["Memory"]["Members@odata.count"], 24);
    bmc.shutdown().await;
}

#[tokio::test]
async fn expand_rejects_bad_values() {
    let bmc = start_dell(true).await;
    let cases = [
        ("$expand=.($levels=9)", "QueryParameterOutOfRange"),
        ("$expand=.($levels=2)", "QueryParameterOutOfRange"),
        ("$expand=.($levels=0)", "QueryParameterOutOfRange"),
        ("$expand=Members", "QueryParameterValueFormatError"),
        ("$expand=*($levels=two)", "QueryParameterValueFormatError"),
    ];

    for (query, expected) in cases {
        let (status, body) = get_basic(&client_for(&bmc), &bmc, &format!("{SYSTEMS}?{query}")).await;
        assert_eq!(status, 400, "{query}");
        let code = body["error"]["code"].as_str().unwrap();
        assert!(code.ends_with(expected), "{query}: {code}");
    }
    bmc.shutdown().await;
}

#[tokio::test]
async fn expand_pages_then_inlines() {
    let bmc = start_bmc(|config| {
        config.expand = true;
        config.page_size = Some(2);
    })
    .await;

    let body = get(&bmc, "/redfish/v1/Systems/1/Memory?$expand=.").await;

    assert_eq!(body["Members"].as_array().unwrap().len(), 2);
    assert_eq!(body["Members"][1]["Id"], "DIMM1");
    assert_eq!(body["Members@odata.nextLink"], "/redfish/v1/Systems/1/Memory?$skip=2");
    bmc.shutdown().await;
}

#[tokio::test]
async fn expand_shows_changed_state() {
    let bmc = start_dell(true).await;
    let response = client_for(&bmc)
        .post(format!("{}{SYSTEM}/Actions/ComputerSystem.Reset", bmc.base_url()))
        .basic_auth(USER, Some(PASSWORD))
        .json(&json!({ "ResetType": "ForceOff" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);

    let body = get(&bmc, "/redfish/v1/Systems?$expand=*").await;

    assert_eq!(body["Members"][0]["PowerState"], "Off");
    bmc.shutdown().await;
}

#[tokio::test]
async fn etag_is_stable_and_304_on_match() {
    let bmc = start_bmc(|_| {}).await;
    let client = client_for(&bmc);
    let url = format!("{}/redfish/v1/Systems/1", bmc.base_url());

    let first = client.get(&url).basic_auth(USER, Some(PASSWORD)).send().await.unwrap();
    let second = client.get(&url).basic_auth(USER, Some(PASSWORD)).send().await.unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    assert!(etag.starts_with('"'), "{etag}");
    assert!(etag.ends_with('"'), "{etag}");
    assert_eq!(second.headers()["etag"], etag.as_str());

    let cached = client
        .get(&url)
        .basic_auth(USER, Some(PASSWORD))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
    assert_eq!(cached.headers()["odata-version"], "4.0");
    assert!(cached.bytes().await.unwrap().is_empty());

    let other = client
        .get(format!("{}/redfish/v1/Systems", bmc.base_url()))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_ne!(other.headers()["etag"], etag.as_str());
    bmc.shutdown().await;
}

#[tokio::test]
async fn every_error_status_has_redfish_body() {
    let bmc = start_bmc(|_| {}).await;
    let client = client_for(&bmc);
    let base = bmc.base_url();
    let requests = [
        (
            client
                .get(format!("{base}/redfish/v1/Systems?$skip=x"))
                .basic_auth(USER, Some(PASSWORD)),
            400,
        ),
        (client.get(format!("{base}/redfish/v1/Systems")), 401),
        (
            client
                .get(format!("{base}/redfish/v1/Nothing"))
                .basic_auth(USER, Some(PASSWORD)),
            404,
        ),
        (
            client
                .delete(format!("{base}/redfish/v1/Systems/1"))
                .basic_auth(USER, Some(PASSWORD)),
            405,
        ),
        (
            client
                .patch(format!("{base}/redfish/v1/Systems/1"))
                .basic_auth(USER, Some(PASSWORD))
                .body(vec![b' '; 2 * 1024 * 1024]),
            413,
        ),
        (
            client
                .post(format!("{base}/redfish/v1/SessionService/Sessions"))
                .body("{"),
            400,
        ),
    ];

    for (request, expected) in requests {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        assert_eq!(status, expected);
        assert_eq!(response.headers()["odata-version"], "4.0", "{status}");
        let body: Value = response.json().await.unwrap();
        let info = &body["error"]["@Message.ExtendedInfo"];
        assert!(
            info[0]["MessageId"].as_str().unwrap().starts_with("Base.1."),
            "{status}: {body}"
        );
        assert!(info[0]["Message"].is_string(), "{status}: {body}");
        assert!(body["error"]["message"].is_string(), "{status}: {body}");
    }
    bmc.shutdown().await;
}
