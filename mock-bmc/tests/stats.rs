//! Accounting: requests by path and status, in-flight peaks, and the `/mock-bmc/stats` endpoint.

mod common;

use common::{PASSWORD, USER, client_for, get_basic, start_bmc};
use mock_bmc::{Fault, FaultRule};
use serde_json::Value;

#[tokio::test]
async fn stats_count_paths_and_statuses() {
    let bmc = start_bmc(|_| {}).await;
    let client = client_for(&bmc);

    get_basic(&client, &bmc, "/redfish/v1/Systems/1").await;
    get_basic(&client, &bmc, "/redfish/v1/Systems/1/").await;
    get_basic(&client, &bmc, "/redfish/v1/Systems/9").await;
    client
        .get(format!("{}/redfish/v1/Chassis", bmc.base_url()))
        .send()
        .await
        .unwrap();

    let stats = bmc.stats();
    assert_eq!(stats.requests, 4);
    assert_eq!(stats.requests_by_status[&200], 2);
    assert_eq!(stats.requests_by_status[&404], 1);
    assert_eq!(stats.requests_by_status[&401], 1);
    assert_eq!(stats.requests_by_path_and_status["/redfish/v1/Systems/1"][&200], 2);
    assert_eq!(stats.requests_by_path_and_status["/redfish/v1/Systems/9"][&404], 1);
    assert_eq!(stats.requests_by_path_and_status["/redfish/v1/Chassis"][&401], 1);
    assert_eq!(stats.in_flight, 0);
    assert_eq!(stats.peak_in_flight, 1);
    bmc.shutdown().await;
}

#[tokio::test]
async fn stats_endpoint_uncounted_without_auth() {
    let bmc = start_bmc(|_| {}).await;
    let client = client_for(&bmc);
    get_basic(&client, &bmc, "/redfish/v1/Systems").await;
    let login = serde_json::json!({ "UserName": USER, "Password": PASSWORD });
    client
        .post(format!("{}/redfish/v1/SessionService/Sessions", bmc.base_url()))
        .json(&login)
        .send()
        .await
        .unwrap();

    for _ in 0..2 {
        let response = client
            .get(format!("{}/mock-bmc/stats", bmc.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let stats: Value = response.json().await.unwrap();
        assert_eq!(stats["requests"], 2);
        assert_eq!(stats["logins"], 1);
        assert_eq!(stats["open_sessions"], 1);
        assert_eq!(stats["requests_by_status"]["200"], 1);
        assert_eq!(stats["requests_by_status"]["201"], 1);
        assert_eq!(stats["requests_by_path_and_status"]["/redfish/v1/Systems"]["200"], 1);
    }
    assert_eq!(bmc.stats().requests, 2);
    bmc.shutdown().await;
}

#[tokio::test]
async fn control_endpoint_rejects_writes_and_unknown_paths() {
    let bmc = start_bmc(|_| {}).await;
    let client = client_for(&bmc);

    let post = client
        .post(format!("{}/mock-bmc/stats", bmc.base_url()))
        .send()
        .await
        .unwrap();
    let unknown = client
        .get(format!("{}/mock-bmc/nothing", bmc.base_url()))
        .send()
        .await
        .unwrap();

    assert_eq!(post.status(), 405);
    assert_eq!(unknown.status(), 404);
    bmc.shutdown().await;
}

#[tokio::test]
async fn peak_in_flight_counts_concurrent_requests() {
    let bmc = start_bmc(|config| {
        config
            .faults
            .rules
            .push(FaultRule::always(Fault::Latency { ms: 300, jitter_ms: 0 }));
    })
    .await;
    let client = client_for(&bmc);

    let requests = (0..5).map(|_| get_basic(&client, &bmc, "/redfish/v1/Systems"));
    let results = futures_util::future::join_all(requests).await;

    assert!(results.iter().all(|(status, _)| *status == 200));
    let stats = bmc.stats();
    assert_eq!(stats.peak_in_flight, 5);
    assert_eq!(stats.in_flight, 0);
    assert_eq!(stats.requests_by_status[&200], 5);
    bmc.shutdown().await;
}
