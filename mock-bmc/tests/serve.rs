//! Serving mockup resources over HTTPS: auth rules, paths, headers and error bodies.

mod common;

use common::{PASSWORD, USER, client_for, get_basic, insecure_client, start_bmc, test_mockup};
use serde_json::Value;

#[tokio::test]
async fn service_root_needs_no_auth() {
    let bmc = start_bmc(|_| {}).await;
    let client = client_for(&bmc);

    for path in ["/redfish/v1/", "/redfish/v1"] {
        let response = client.get(format!("{}{path}", bmc.base_url())).send().await.unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["Id"], "RootService", "GET {path}");
    }

    let response = client.get(format!("{}/redfish", bmc.base_url())).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({ "v1": "/redfish/v1/" }));

    bmc.shutdown().await;
}

#[tokio::test]
async fn resource_with_and_without_slash() {
    let bmc = start_bmc(|_| {}).await;
    let client = client_for(&bmc);

    let (status, body) = get_basic(&client, &bmc, "/redfish/v1/Systems/1").await;
    assert_eq!(status, 200);
    assert_eq!(body["Id"], "1");

    let (status, body) = get_basic(&client, &bmc, "/redfish/v1/Systems/1/").await;
    assert_eq!(status, 200);
    assert_eq!(body["Id"], "1");

    let stats = bmc.stats();
    assert_eq!(stats.requests, 2);
    assert_eq!(stats.requests_by_path["/redfish/v1/Systems/1"], 2);
    bmc.shutdown().await;
}

#[tokio::test]
async fn every_response_has_redfish_headers() {
    let bmc = start_bmc(|_| {}).await;
    let client = client_for(&bmc);

    for (path, expected) in [("/redfish/v1", 200), ("/redfish/v1/Systems", 401), ("/nowhere", 401)] {
        let response = client.get(format!("{}{path}", bmc.base_url())).send().await.unwrap();
        assert_eq!(response.status(), expected, "GET {path}");
        assert_eq!(response.headers()["odata-version"], "4.0", "GET {path}");
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(
            content_type.starts_with("application/json"),
            "GET {path}: {content_type}"
        );
    }
    bmc.shutdown().await;
}

#[tokio::test]
async fn missing_credentials_get_401_error_body() {
    let bmc = start_bmc(|_| {}).await;
    let client = client_for(&bmc);

    let response = client
        .get(format!("{}/redfish/v1/Systems", bmc.base_url()))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["code"].as_str().unwrap().ends_with("NoValidSession"));
    assert!(body["error"]["message"].is_string());
    assert_eq!(
        body["error"]["@Message.ExtendedInfo"][0]["MessageId"],
        body["error"]["code"]
    );
    assert_eq!(bmc.stats().failed_logins, 0);
    bmc.shutdown().await;
}

#[tokio::test]
async fn basic_auth_reads_resources() {
    let bmc = start_bmc(|_| {}).await;
    let client = client_for(&bmc);

    let (status, body) = get_basic(&client, &bmc, "/redfish/v1/Systems/1/Memory/DIMM3").await;

    assert_eq!(status, 200);
    assert_eq!(body["ErrorCorrection"], "MultiBitECC");
    bmc.shutdown().await;
}

#[tokio::test]
async fn basic_auth_wrong_password_is_401() {
    let bmc = start_bmc(|_| {}).await;
    let client = client_for(&bmc);

    let response = client
        .get(format!("{}/redfish/v1/Systems", bmc.base_url()))
        .basic_auth(USER, Some("wrong"))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 401);
    assert_eq!(bmc.stats().failed_logins, 1);
    bmc.shutdown().await;
}

#[tokio::test]
async fn unknown_path_gets_404_error_body() {
    let bmc = start_bmc(|_| {}).await;
    let client = client_for(&bmc);

    let (status, body) = get_basic(&client, &bmc, "/redfish/v1/Systems/2").await;

    assert_eq!(status, 404);
    let code = body["error"]["code"].as_str().unwrap();
    assert!(code.starts_with("Base.1."), "{code}");
    assert!(code.ends_with(".ResourceMissingAtURI"), "{code}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/redfish/v1/Systems/2")
    );
    assert_eq!(body["error"]["@Message.ExtendedInfo"].as_array().unwrap().len(), 1);
    bmc.shutdown().await;
}

#[tokio::test]
async fn write_to_resource_gets_405() {
    let bmc = start_bmc(|_| {}).await;
    let client = client_for(&bmc);

    let response = client
        .patch(format!("{}/redfish/v1/Systems/1", bmc.base_url()))
        .basic_auth(USER, Some(PASSWORD))
        .json(&serde_json::json!({ "AssetTag": "x" }))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, HEAD");
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["code"].as_str().unwrap().ends_with("OperationNotAllowed"));
    bmc.shutdown().await;
}

#[tokio::test]
async fn percent_encoded_path_is_decoded() {
    let bmc = start_bmc(|_| {}).await;
    let client = client_for(&bmc);

    let (status, body) = get_basic(&client, &bmc, "/redfish/v1/Chassis/1/Sensors/Inlet%20Temp").await;

    assert_eq!(status, 200);
    assert_eq!(body["Reading"], 24);
    bmc.shutdown().await;
}

#[tokio::test]
async fn query_string_is_ignored() {
    let bmc = start_bmc(|_| {}).await;
    let client = client_for(&bmc);

    let (status, body) = get_basic(&client, &bmc, "/redfish/v1/Systems/1?$select=Id").await;

    assert_eq!(status, 200);
    assert_eq!(body["Id"], "1");
    assert!(body.get("Memory").is_some());
    bmc.shutdown().await;
}

#[tokio::test]
async fn paging_follows_next_links() {
    let bmc = start_bmc(|config| config.page_size = Some(2)).await;
    let client = client_for(&bmc);

    let mut members = Vec::new();
    let mut next = Some("/redfish/v1/Systems/1/Memory".to_string());
    let mut pages = 0;
    while let Some(path) = next {
        let (status, body) = get_basic(&client, &bmc, &path).await;
        assert_eq!(status, 200, "GET {path}");
        assert_eq!(body["Members@odata.count"], 5, "GET {path}");
        members.extend(body["Members"].as_array().unwrap().iter().cloned());
        next = body["Members@odata.nextLink"].as_str().map(str::to_string);
        pages += 1;
    }

    assert_eq!(pages, 3);
    assert_eq!(members.len(), 5);
    assert_eq!(members[4]["@odata.id"], "/redfish/v1/Systems/1/Memory/DIMM4");
    bmc.shutdown().await;
}

#[tokio::test]
async fn short_collection_is_not_paged() {
    let bmc = start_bmc(|config| config.page_size = Some(2)).await;
    let client = client_for(&bmc);

    let (_, body) = get_basic(&client, &bmc, "/redfish/v1/Chassis/1/PowerSubsystem/PowerSupplies").await;

    assert_eq!(body["Members"].as_array().unwrap().len(), 2);
    assert!(body.get("Members@odata.nextLink").is_none());
    bmc.shutdown().await;
}

#[tokio::test]
async fn expand_inlines_members() {
    let bmc = start_bmc(|config| config.expand = true).await;
    let client = client_for(&bmc);

    let (_, body) = get_basic(&client, &bmc, "/redfish/v1/Systems/1/Memory?$expand=.($levels=1)").await;

    assert_eq!(body["Members"][0]["CapacityMiB"], 65536);
    bmc.shutdown().await;
}

#[tokio::test]
async fn insecure_client_connects() {
    let bmc = start_bmc(|_| {}).await;

    let (status, _) = get_basic(&insecure_client(), &bmc, "/redfish/v1/Chassis").await;

    assert_eq!(status, 200);
    bmc.shutdown().await;
}

#[tokio::test]
async fn certificate_names_localhost() {
    let bmc = start_bmc(|_| {}).await;
    let url = format!("https://localhost:{}/redfish/v1", bmc.addr().port());

    let response = client_for(&bmc).get(url).send().await.unwrap();

    assert_eq!(response.status(), 200);
    bmc.shutdown().await;
}

#[test]
fn loader_skips_bad_file_and_strips_bom() {
    let mockup = test_mockup();

    assert_eq!(mockup.get("/redfish/v1/Systems/1").unwrap()["Id"], "1");
    assert!(mockup.get("/redfish/v1/Broken").is_none());
    assert_eq!(mockup.issues().len(), 1);
    assert!(mockup.issues()[0].problem.contains("invalid JSON"));
    assert!(
        mockup
            .paths()
            .any(|path| path == "/redfish/v1/Chassis/1/Sensors/Inlet Temp")
    );
}
