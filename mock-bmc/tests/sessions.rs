//! Redfish sessions: login, token use, the live Sessions collection, logout and counts.

mod common;

use common::{PASSWORD, USER, client_for, get_basic, start_bmc};
use mock_bmc::MockBmc;
use serde_json::{Value, json};

const SESSIONS: &str = "/redfish/v1/SessionService/Sessions";

/// Logs in and returns the response's status, token and Location header.
async fn login(client: &reqwest::Client, bmc: &MockBmc, password: &str) -> (u16, Option<String>, Option<String>) {
    let response = client
        .post(format!("{}{SESSIONS}", bmc.base_url()))
        .json(&json!({ "UserName": USER, "Password": password }))
        .send()
        .await
        .unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap().to_string())
    };
    (response.status().as_u16(), header("x-auth-token"), header("location"))
}

async fn get_with_token(client: &reqwest::Client, bmc: &MockBmc, path: &str, token: &str) -> reqwest::Response {
    client
        .get(format!("{}{path}", bmc.base_url()))
        .header("X-Auth-Token", token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn session_login_use_and_logout() {
    let bmc = start_bmc(|_| {}).await;
    let client = client_for(&bmc);

    let (status, token, location) = login(&client, &bmc, PASSWORD).await;
    assert_eq!(status, 201);
    let token = token.expect("X-Auth-Token header");
    let location = location.expect("Location header");
    assert!(location.starts_with(&format!("{SESSIONS}/")), "{location}");
    assert_eq!(bmc.stats().logins, 1);
    assert_eq!(bmc.stats().open_sessions, 1);

    let response = get_with_token(&client, &bmc, "/redfish/v1/Systems/1", &token).await;
    assert_eq!(response.status(), 200);

    let response = client
        .delete(format!("{}{location}", bmc.base_url()))
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "DELETE returned {}", response.status());

    let response = get_with_token(&client, &bmc, "/redfish/v1/Systems/1", &token).await;
    assert_eq!(response.status(), 401);

    let stats = bmc.stats();
    assert_eq!(stats.logins, 1);
    assert_eq!(stats.logouts, 1);
    assert_eq!(stats.open_sessions, 0);
    bmc.shutdown().await;
}

#[tokio::test]
async fn session_login_wrong_password() {
    let bmc = start_bmc(|_| {}).await;
    let client = client_for(&bmc);

    let (status, token, _) = login(&client, &bmc, "wrong").await;

    assert_eq!(status, 401);
    assert!(token.is_none());
    let stats = bmc.stats();
    assert_eq!(stats.failed_logins, 1);
    assert_eq!(stats.logins, 0);
    assert_eq!(stats.open_sessions, 0);
    bmc.shutdown().await;
}

#[tokio::test]
async fn session_login_malformed_body_is_400() {
    let bmc = start_bmc(|_| {}).await;
    let client = client_for(&bmc);

    let response = client
        .post(format!("{}{SESSIONS}", bmc.base_url()))
        .body("{")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["code"].as_str().unwrap().ends_with("MalformedJSON"));
    bmc.shutdown().await;
}

#[tokio::test]
async fn sessions_collection_lists_open_sessions() {
    let bmc = start_bmc(|_| {}).await;
    let client = client_for(&bmc);
    let (_, first, first_location) = login(&client, &bmc, PASSWORD).await;
    let (_, _, second_location) = login(&client, &bmc, PASSWORD).await;
    let first = first.unwrap();

    let response = get_with_token(&client, &bmc, SESSIONS, &first).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["Members@odata.count"], 2);
    let members: Vec<&str> = body["Members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["@odata.id"].as_str().unwrap())
        .collect();
    assert!(members.contains(&first_location.as_deref().unwrap()));
    assert!(members.contains(&second_location.as_deref().unwrap()));

    let response = get_with_token(&client, &bmc, first_location.as_deref().unwrap(), &first).await;
    assert_eq!(response.status(), 200);
    let session: Value = response.json().await.unwrap();
    assert_eq!(session["UserName"], USER);
    assert!(
        !session.to_string().contains(&first),
        "session resource leaks the token"
    );
    bmc.shutdown().await;
}

#[tokio::test]
async fn session_service_served_without_mockup_file() {
    let bmc = start_bmc(|_| {}).await;
    let client = client_for(&bmc);

    let (status, body) = get_basic(&client, &bmc, "/redfish/v1/SessionService").await;

    assert_eq!(status, 200);
    assert_eq!(body["Sessions"]["@odata.id"], SESSIONS);
    bmc.shutdown().await;
}

#[tokio::test]
async fn delete_unknown_session_is_404() {
    let bmc = start_bmc(|_| {}).await;
    let client = client_for(&bmc);

    let response = client
        .delete(format!("{}{SESSIONS}/999", bmc.base_url()))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 404);
    assert_eq!(bmc.stats().logouts, 0);
    bmc.shutdown().await;
}

#[tokio::test]
async fn delete_session_needs_auth() {
    let bmc = start_bmc(|_| {}).await;
    let client = client_for(&bmc);
    let (_, _, location) = login(&client, &bmc, PASSWORD).await;

    let response = client
        .delete(format!("{}{}", bmc.base_url(), location.unwrap()))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 401);
    assert_eq!(bmc.stats().open_sessions, 1);
    bmc.shutdown().await;
}

#[tokio::test]
async fn sessions_disabled_hides_session_service() {
    let bmc = start_bmc(|config| config.sessions = false).await;
    let client = client_for(&bmc);

    let (status, _, _) = login(&client, &bmc, PASSWORD).await;
    assert_eq!(status, 404);

    let (status, _) = get_basic(&client, &bmc, "/redfish/v1/SessionService").await;
    assert_eq!(status, 404);

    let root: Value = client
        .get(format!("{}/redfish/v1", bmc.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(root.get("SessionService").is_none());
    assert!(root["Links"].get("Sessions").is_none());

    let (status, _) = get_basic(&client, &bmc, "/redfish/v1/Systems").await;
    assert_eq!(status, 200);
    assert_eq!(bmc.stats().logins, 0);
    bmc.shutdown().await;
}
