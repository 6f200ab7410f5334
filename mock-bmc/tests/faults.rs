//! Fault injection over real HTTPS: each fault kind, seeded repeatability, per-path rules,
//! session and TLS faults, and faults in rack configs.

mod common;

use std::time::{Duration, Instant};

use common::{PASSWORD, TempDir, USER, client_for, insecure_client, start_bmc};
use mock_bmc::{
    ControlCharacter, Fault, FaultRule, Faults, LoginLocation, MockBmc, RackConfig, SessionFaults, SessionLimitMessage,
    TlsFaults, TlsVersion, WaitMessage,
};
use serde_json::{Value, json};

const SESSIONS: &str = "/redfish/v1/SessionService/Sessions";
const CHASSIS: &str = "/redfish/v1/Chassis/1";

/// Starts a BMC whose faults are `rules` and nothing else.
async fn start_with_rules(rules: Vec<FaultRule>) -> MockBmc {
    start_bmc(|config| config.faults.rules = rules).await
}

async fn get(client: &reqwest::Client, bmc: &MockBmc, path: &str) -> reqwest::Response {
    client
        .get(format!("{}{path}", bmc.base_url()))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .unwrap()
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().unwrap().to_string())
}

/// Returns a client builder that trusts only the BMC's certificate, for clients with other
/// settings than `client_for`.
fn pinned_client_builder(bmc: &MockBmc) -> reqwest::ClientBuilder {
    // `client_for` installs the process-wide ring provider that reqwest needs.
    let _ = client_for(bmc);
    let certificate = reqwest::Certificate::from_pem(bmc.certificate_pem().as_bytes()).unwrap();
    reqwest::Client::builder().tls_certs_only([certificate])
}

/// Returns the body of a plain GET of `path`, for comparing with a faulted one.
async fn plain_body(client: &reqwest::Client, bmc: &MockBmc, path: &str) -> Vec<u8> {
    let response = get(client, bmc, path).await;
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap().to_vec()
}

async fn login(client: &reqwest::Client, bmc: &MockBmc, password: &str) -> reqwest::Response {
    client
        .post(format!("{}{SESSIONS}", bmc.base_url()))
        .json(&json!({ "UserName": USER, "Password": password }))
        .send()
        .await
        .unwrap()
}

fn message_id(body: &Value) -> &str {
    body["error"]["@Message.ExtendedInfo"][0]["MessageId"].as_str().unwrap()
}

#[tokio::test]
async fn latency_delays_response() {
    let bmc = start_with_rules(vec![FaultRule::always(Fault::Latency { ms: 150, jitter_ms: 50 })]).await;
    let client = client_for(&bmc);

    let started = Instant::now();
    let response = get(&client, &bmc, CHASSIS).await;
    let elapsed = started.elapsed();

    assert_eq!(response.status(), 200);
    assert!(elapsed >= Duration::from_millis(150), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert_eq!(bmc.faults_injected().get("latency"), Some(&1));
    bmc.shutdown().await;
}

#[tokio::test]
async fn error_500_redfish_body() {
    let bmc = start_with_rules(vec![FaultRule::always(Fault::Error500 {}).with_share(1.0)]).await;
    let client = client_for(&bmc);

    let response = get(&client, &bmc, CHASSIS).await;

    assert_eq!(response.status(), 500);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("application/json; charset=utf-8")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(message_id(&body), "Base.1.15.InternalError");
    assert_eq!(bmc.faults_injected().get("error_500"), Some(&1));
    bmc.shutdown().await;
}

#[tokio::test]
async fn unavailable_503_retry_after_header() {
    let fault = Fault::Unavailable503 {
        retry_after_s: 7,
        header: true,
        message: WaitMessage::None,
    };
    let bmc = start_with_rules(vec![FaultRule::always(fault)]).await;
    let client = client_for(&bmc);

    let response = get(&client, &bmc, CHASSIS).await;

    assert_eq!(response.status(), 503);
    assert_eq!(header(&response, "retry-after").as_deref(), Some("7"));
    assert!(response.bytes().await.unwrap().is_empty());
    bmc.shutdown().await;
}

#[tokio::test]
async fn unavailable_503_base_message_states_wait() {
    let fault = Fault::Unavailable503 {
        retry_after_s: 7,
        header: false,
        message: WaitMessage::Base,
    };
    let bmc = start_with_rules(vec![FaultRule::always(fault)]).await;
    let client = client_for(&bmc);

    let response = get(&client, &bmc, CHASSIS).await;

    assert_eq!(response.status(), 503);
    assert_eq!(header(&response, "retry-after"), None);
    let body: Value = response.json().await.unwrap();
    assert_eq!(message_id(&body), "Base.1.15.ServiceTemporarilyUnavailable");
    let info = &body["error"]["@Message.ExtendedInfo"][0];
    assert_eq!(info["MessageArgs"], json!(["7"]));
    assert_eq!(
        info["Message"],
        "The service is temporarily unavailable.  Retry in 7 seconds."
    );
    bmc.shutdown().await;
}

#[tokio::test]
async fn unavailable_503_vendor_busy_message() {
    let fault = Fault::Unavailable503 {
        retry_after_s: 30,
        header: false,
        message: WaitMessage::VendorBusy,
    };
    let bmc = start_with_rules(vec![FaultRule::always(fault)]).await;
    let client = client_for(&bmc);

    let response = get(&client, &bmc, CHASSIS).await;

    assert_eq!(response.status(), 503);
    assert_eq!(header(&response, "retry-after"), None);
    let body: Value = response.json().await.unwrap();
    assert_eq!(message_id(&body), "MockVendor.1.0.ServerBusy");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("Retry after 30 seconds"), "{message}");
    bmc.shutdown().await;
}

#[tokio::test]
async fn too_many_requests_429() {
    let bmc = start_with_rules(vec![FaultRule::always(Fault::TooManyRequests429 { retry_after_s: 3 })]).await;
    let client = client_for(&bmc);

    let response = get(&client, &bmc, CHASSIS).await;

    assert_eq!(response.status(), 429);
    assert_eq!(header(&response, "retry-after").as_deref(), Some("3"));
    bmc.shutdown().await;
}

#[tokio::test]
async fn reset_cuts_body_short() {
    let bmc = start_with_rules(vec![
        FaultRule::always(Fault::Reset { keep_fraction: 0.5 }).every_nth(2),
    ])
    .await;
    let client = client_for(&bmc);
    let plain = plain_body(&client, &bmc, CHASSIS).await;

    let mut response = get(&client, &bmc, CHASSIS).await;
    let status = response.status();
    let content_length = header(&response, "content-length");
    let mut received = Vec::new();
    let err = loop {
        match response.chunk().await {
            Ok(Some(chunk)) => received.extend_from_slice(&chunk),
            Ok(None) => panic!("the body completed with {} bytes", received.len()),
            Err(err) => break err,
        }
    };

    assert_eq!(status, 200);
    assert_eq!(content_length, Some(plain.len().to_string()));
    assert_eq!(received, plain[..plain.len() / 2]);
    assert!(err.is_decode(), "{err:?}");
    assert!(format!("{err:?}").contains("UnexpectedEof"), "{err:?}");
    let after_reset = get(&client, &bmc, CHASSIS).await;
    assert_eq!(after_reset.status(), 200, "a new connection after the reset works");
    bmc.shutdown().await;
}

#[tokio::test]
async fn hang_times_out_and_shutdown_is_prompt() {
    let bmc = start_with_rules(vec![FaultRule::always(Fault::Hang {}).on_path(CHASSIS)]).await;
    let client = pinned_client_builder(&bmc)
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();

    let hung = client
        .get(format!("{}{CHASSIS}", bmc.base_url()))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await;
    let served = get(&client, &bmc, "/redfish/v1").await;

    let err = hung.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(served.status(), 200);
    let shutdown = tokio::time::timeout(Duration::from_secs(2), bmc.shutdown()).await;
    assert!(shutdown.is_ok(), "shutdown waited for the hung request");
}

#[tokio::test]
async fn truncated_json_is_prefix() {
    let rule = FaultRule::always(Fault::TruncatedJson { keep_fraction: 0.5 }).every_nth(2);
    let bmc = start_with_rules(vec![rule]).await;
    let client = client_for(&bmc);
    let plain = plain_body(&client, &bmc, CHASSIS).await;

    let response = get(&client, &bmc, CHASSIS).await;

    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("application/json; charset=utf-8")
    );
    let truncated = response.bytes().await.unwrap();
    assert_eq!(truncated.len(), plain.len() / 2);
    assert_eq!(&truncated[..], &plain[..plain.len() / 2]);
    assert!(serde_json::from_slice::<Value>(&truncated).is_err());
    bmc.shutdown().await;
}

#[tokio::test]
async fn control_char_inside_string() {
    for (character, byte) in [(ControlCharacter::Soh, 0x01), (ControlCharacter::Newline, b'\n')] {
        let bmc = start_with_rules(vec![FaultRule::always(Fault::ControlChar { character }).every_nth(2)]).await;
        let client = client_for(&bmc);
        let plain = plain_body(&client, &bmc, CHASSIS).await;

        let corrupted = get(&client, &bmc, CHASSIS).await.bytes().await.unwrap().to_vec();

        assert_eq!(corrupted.len(), plain.len() + 1);
        let at = corrupted.iter().position(|b| *b == byte).expect("control character");
        assert_eq!(corrupted[at - 1], b'"', "{character:?} follows an opening quote");
        let mut restored = corrupted.clone();
        restored.remove(at);
        assert_eq!(restored, plain);
        assert!(serde_json::from_slice::<Value>(&corrupted).is_err(), "{character:?}");
        bmc.shutdown().await;
    }
}

#[tokio::test]
async fn bom_prepended_to_body() {
    let bmc = start_with_rules(vec![FaultRule::always(Fault::Bom {}).every_nth(2)]).await;
    let client = client_for(&bmc);
    let plain = plain_body(&client, &bmc, CHASSIS).await;

    let with_bom = get(&client, &bmc, CHASSIS).await.bytes().await.unwrap();

    assert_eq!(&with_bom[..3], b"\xEF\xBB\xBF");
    assert_eq!(&with_bom[3..], &plain[..]);
    bmc.shutdown().await;
}

#[tokio::test]
async fn html_error_page() {
    let bmc = start_with_rules(vec![FaultRule::always(Fault::HtmlError { status: 502 })]).await;
    let client = client_for(&bmc);

    let response = get(&client, &bmc, CHASSIS).await;

    assert_eq!(response.status(), 502);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(header(&response, "odata-version"), None);
    let page = response.text().await.unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(page.contains("502 Bad Gateway"), "{page}");
    bmc.shutdown().await;
}

#[tokio::test]
async fn redirect_trailing_slash_then_served() {
    let bmc = start_with_rules(vec![FaultRule::always(Fault::RedirectTrailingSlash { status: 308 })]).await;
    let no_redirects = pinned_client_builder(&bmc)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let following = client_for(&bmc);

    let redirect = get(&no_redirects, &bmc, "/redfish/v1/Chassis?$top=1").await;
    let followed = get(&following, &bmc, "/redfish/v1/Chassis").await;

    assert_eq!(redirect.status(), 308);
    assert_eq!(
        header(&redirect, "location").as_deref(),
        Some("/redfish/v1/Chassis/?$top=1")
    );
    assert_eq!(followed.status(), 200);
    assert_eq!(followed.url().path(), "/redfish/v1/Chassis/");
    let body: Value = followed.json().await.unwrap();
    assert_eq!(body["@odata.id"], "/redfish/v1/Chassis");
    assert_eq!(bmc.faults_injected().get("redirect_trailing_slash"), Some(&2));
    bmc.shutdown().await;
}

#[tokio::test]
async fn redirect_other_port_lands_on_target() {
    let target = start_bmc(|_| {}).await;
    let port = target.addr().port();
    let bmc = start_with_rules(vec![FaultRule::always(Fault::RedirectOtherPort { port, status: 307 })]).await;
    let no_redirects = insecure_client_without_redirects();

    let redirect = get(&no_redirects, &bmc, "/redfish/v1?only").await;
    let followed = insecure_client()
        .get(format!("{}/redfish/v1", bmc.base_url()))
        .send()
        .await
        .unwrap();

    assert_eq!(redirect.status(), 307);
    let expected = format!("https://127.0.0.1:{port}/redfish/v1?only");
    assert_eq!(header(&redirect, "location"), Some(expected));
    assert_eq!(followed.status(), 200);
    assert_eq!(followed.url().port(), Some(port));
    assert_eq!(target.stats().requests_by_path.get("/redfish/v1"), Some(&1));
    bmc.shutdown().await;
    target.shutdown().await;
}

fn insecure_client_without_redirects() -> reqwest::Client {
    // `insecure_client` installs the process-wide ring provider that reqwest needs.
    let _ = insecure_client();
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn expand_drops_properties_of_members() {
    let bmc = start_bmc(|config| {
        config.expand = true;
        config.faults.rules = vec![FaultRule::always(Fault::ExpandDropsProperties {
            properties: vec!["Status".to_string()],
        })];
    })
    .await;
    let client = client_for(&bmc);
    let supplies = "/redfish/v1/Chassis/1/PowerSubsystem/PowerSupplies";

    let member: Value = get(&client, &bmc, &format!("{supplies}/PSU1"))
        .await
        .json()
        .await
        .unwrap();
    let expanded: Value = get(&client, &bmc, &format!("{supplies}?$expand=."))
        .await
        .json()
        .await
        .unwrap();

    assert!(member.get("Status").is_some(), "the plain GET has Status: {member}");
    let first = &expanded["Members"][0];
    assert_eq!(first["PowerCapacityWatts"], 3000, "the member is expanded: {first}");
    assert!(
        first.get("Status").is_none(),
        "the expanded member lacks Status: {first}"
    );
    assert_eq!(bmc.faults_injected().get("expand_drops_properties"), Some(&1));
    bmc.shutdown().await;
}

#[tokio::test]
async fn session_limit_until_logout() {
    let bmc = start_bmc(|config| {
        config.faults.sessions = SessionFaults {
            limit: Some(2),
            ..SessionFaults::default()
        };
    })
    .await;
    let client = client_for(&bmc);
    let first = login(&client, &bmc, PASSWORD).await;
    let second = login(&client, &bmc, PASSWORD).await;

    let rejected = login(&client, &bmc, PASSWORD).await;
    let wrong_password = login(&client, &bmc, "wrong").await;

    assert_eq!(first.status(), 201);
    assert_eq!(second.status(), 201);
    assert_eq!(rejected.status(), 400);
    assert_eq!(header(&rejected, "x-auth-token"), None);
    let body: Value = rejected.json().await.unwrap();
    assert_eq!(message_id(&body), "IDRAC.2.8.RAC0218");
    assert_eq!(
        body["error"]["message"],
        "The maximum number of user sessions is reached."
    );
    assert_eq!(
        wrong_password.status(),
        401,
        "wrong credentials are not a session-limit case"
    );

    let location = header(&first, "location").unwrap();
    let token = header(&first, "x-auth-token").unwrap();
    let logout = client
        .delete(format!("{}{location}", bmc.base_url()))
        .header("X-Auth-Token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    assert_eq!(login(&client, &bmc, PASSWORD).await.status(), 201);
    assert_eq!(bmc.faults_injected().get("session_limit"), Some(&1));
    bmc.shutdown().await;
}

#[tokio::test]
async fn session_limit_base_message() {
    let bmc = start_bmc(|config| {
        config.faults.sessions = SessionFaults {
            limit: Some(1),
            limit_message: SessionLimitMessage::Base,
            ..SessionFaults::default()
        };
    })
    .await;
    let client = client_for(&bmc);
    assert_eq!(login(&client, &bmc, PASSWORD).await.status(), 201);

    let rejected = login(&client, &bmc, PASSWORD).await;

    assert_eq!(rejected.status(), 503);
    let body: Value = rejected.json().await.unwrap();
    assert_eq!(message_id(&body), "Base.1.15.SessionLimitExceeded");
    bmc.shutdown().await;
}

#[tokio::test]
async fn session_expiry_frees_slot() {
    let bmc = start_bmc(|config| {
        config.faults.sessions = SessionFaults {
            limit: Some(1),
            expiry_s: Some(1),
            ..SessionFaults::default()
        };
    })
    .await;
    let client = client_for(&bmc);
    let first = login(&client, &bmc, PASSWORD).await;
    let token = header(&first, "x-auth-token").unwrap();
    let with_token = |token: String| {
        client
            .get(format!("{}{CHASSIS}", bmc.base_url()))
            .header("X-Auth-Token", token)
            .send()
    };

    let before = with_token(token.clone()).await.unwrap();
    let second = login(&client, &bmc, PASSWORD).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let after = with_token(token).await.unwrap();
    let third = login(&client, &bmc, PASSWORD).await;

    assert_eq!(first.status(), 201);
    assert_eq!(before.status(), 200);
    assert_eq!(second.status(), 400, "the table is full before expiry");
    assert_eq!(after.status(), 401, "the token expired");
    assert_eq!(third.status(), 201, "the expired session freed its slot");
    assert_eq!(bmc.stats().open_sessions, 1);
    bmc.shutdown().await;
}

#[tokio::test]
async fn login_without_location() {
    let bmc = start_bmc(|config| config.faults.sessions.login_location = LoginLocation::Missing).await;
    let client = client_for(&bmc);

    let response = login(&client, &bmc, PASSWORD).await;

    assert_eq!(response.status(), 201);
    assert_eq!(header(&response, "location"), None);
    assert!(header(&response, "x-auth-token").is_some());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["@odata.id"], format!("{SESSIONS}/1"));
    bmc.shutdown().await;
}

#[tokio::test]
async fn login_absolute_location() {
    let bmc = start_bmc(|config| config.faults.sessions.login_location = LoginLocation::Absolute).await;
    let client = client_for(&bmc);

    let response = login(&client, &bmc, PASSWORD).await;

    assert_eq!(response.status(), 201);
    let expected = format!("{}{SESSIONS}/1", bmc.base_url());
    assert_eq!(header(&response, "location"), Some(expected));
    bmc.shutdown().await;
}

#[tokio::test]
async fn tls_expired_certificate_rejected() {
    let bmc = start_bmc(|config| {
        config.faults.tls = TlsFaults {
            expired: true,
            max_version: None,
        };
    })
    .await;

    let verified = client_for(&bmc)
        .get(format!("{}/redfish/v1", bmc.base_url()))
        .send()
        .await;
    let insecure = insecure_client()
        .get(format!("{}/redfish/v1", bmc.base_url()))
        .send()
        .await
        .unwrap();

    let err = verified.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert!(format!("{err:?}").contains("Expired"), "{err:?}");
    assert_eq!(insecure.status(), 200);
    bmc.shutdown().await;
}

#[tokio::test]
async fn tls_max_version_1_2() {
    let bmc = start_bmc(|config| config.faults.tls.max_version = Some(TlsVersion::Tls12)).await;
    let tls13_only = pinned_client_builder(&bmc)
        .tls_version_min(reqwest::tls::Version::TLS_1_3)
        .build()
        .unwrap();
    let tls12_only = pinned_client_builder(&bmc)
        .tls_version_max(reqwest::tls::Version::TLS_1_2)
        .build()
        .unwrap();

    let rejected = tls13_only.get(format!("{}/redfish/v1", bmc.base_url())).send().await;
    let accepted = tls12_only
        .get(format!("{}/redfish/v1", bmc.base_url()))
        .send()
        .await
        .unwrap();

    let err = rejected.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert_eq!(accepted.status(), 200);
    bmc.shutdown().await;
}

/// GETs the chassis `count` times in sequence and returns the statuses.
async fn statuses(bmc: &MockBmc, count: usize) -> Vec<u16> {
    let client = client_for(bmc);
    let mut statuses = Vec::with_capacity(count);
    for _ in 0..count {
        statuses.push(get(&client, bmc, CHASSIS).await.status().as_u16());
    }
    statuses
}

#[tokio::test]
async fn same_seed_same_outcomes() {
    let start = |seed: u64| {
        start_bmc(move |config| {
            config.faults.seed = seed;
            config.faults.rules = vec![FaultRule::always(Fault::Error500 {}).with_share(0.5)];
        })
    };
    let (first, second, other) = (start(42).await, start(42).await, start(43).await);

    let first_statuses = statuses(&first, 24).await;
    let second_statuses = statuses(&second, 24).await;
    let other_statuses = statuses(&other, 24).await;

    assert_eq!(first_statuses, second_statuses);
    assert_ne!(first_statuses, other_statuses);
    assert!(first_statuses.contains(&200), "{first_statuses:?}");
    assert!(first_statuses.contains(&500), "{first_statuses:?}");
    for bmc in [first, second, other] {
        bmc.shutdown().await;
    }
}

#[tokio::test]
async fn per_path_rules_hit_only_their_paths() {
    let bmc = start_with_rules(vec![
        FaultRule::always(Fault::Error500 {}).on_path("/redfish/v1/Systems"),
        FaultRule::always(Fault::TooManyRequests429 { retry_after_s: 1 }).on_path("/redfish/v1/Chassis/*"),
    ])
    .await;
    let client = client_for(&bmc);

    let cases = [
        ("/redfish/v1/Systems", 500),
        ("/redfish/v1/Systems/1/Memory", 500),
        ("/redfish/v1/Chassis/1", 429),
        ("/redfish/v1/Chassis", 200),
        ("/redfish/v1/Chassis/1/PowerSubsystem/PowerSupplies", 200),
        ("/redfish/v1", 200),
    ];
    for (path, expected) in cases {
        let status = get(&client, &bmc, path).await.status();
        assert_eq!(status, expected, "{path}");
    }
    bmc.shutdown().await;
}

#[tokio::test]
async fn control_endpoints_never_faulted() {
    let bmc = start_with_rules(vec![FaultRule::always(Fault::Error500 {})]).await;
    let client = client_for(&bmc);

    let faulted = get(&client, &bmc, "/redfish/v1").await;
    let stats = get(&client, &bmc, "/mock-bmc/stats").await;

    assert_eq!(faulted.status(), 500);
    assert_eq!(stats.status(), 200);
    bmc.shutdown().await;
}

#[tokio::test]
async fn invalid_faults_rejected_at_start() {
    let mut config = mock_bmc::BmcConfig::loopback(USER, PASSWORD);
    config.faults.rules = vec![FaultRule::always(Fault::Error500 {}).with_share(1.5)];

    let err = MockBmc::start(common::test_mockup(), config).await.err().unwrap();

    assert!(err.to_string().contains("share 1.5 is outside 0.0 to 1.0"), "{err}");
}

const RACK_WITH_FAULTS: &str = r#"
[[bmc]]
name = "flaky"
listen = "127.0.0.1:0"
mockup = "mockup"
username = "root"
password = "calvin"

[bmc.faults]
seed = 9

[bmc.faults.sessions]
limit = 4
expiry_s = 300
login_location = "absolute"

[bmc.faults.tls]
max_version = "1.2"

[[bmc.faults.rules]]
fault = { kind = "latency", ms = 20, jitter_ms = 10 }

[[bmc.faults.rules]]
path = "/redfish/v1/Chassis/**"
every_nth = 3
fault = { kind = "unavailable_503", retry_after_s = 2, message = "base" }
"#;

#[test]
fn rack_config_faults_parse() {
    let dir = TempDir::new("rack-faults");
    let file = dir.path().join("rack.toml");
    std::fs::write(&file, RACK_WITH_FAULTS).unwrap();

    let config = RackConfig::load(&file).unwrap();

    let faults: &Faults = &config.bmcs[0].faults;
    assert_eq!(faults.seed, 9);
    assert_eq!(faults.sessions.limit, Some(4));
    assert_eq!(faults.sessions.login_location, LoginLocation::Absolute);
    assert_eq!(faults.tls.max_version, Some(TlsVersion::Tls12));
    assert_eq!(faults.rules.len(), 2);
    assert_eq!(faults.rules[1].path.as_deref(), Some("/redfish/v1/Chassis/**"));
    assert_eq!(faults.rules[1].every_nth, Some(3));
    let expected = Fault::Unavailable503 {
        retry_after_s: 2,
        header: true,
        message: WaitMessage::Base,
    };
    assert_eq!(faults.rules[1].fault, expected);
}

#[test]
fn rack_config_faults_reject_unknown_and_invalid() {
    let dir = TempDir::new("rack-faults-bad");
    let file = dir.path().join("rack.toml");

    let unknown = RACK_WITH_FAULTS.replace("limit = 4", "limits = 4");
    std::fs::write(&file, unknown).unwrap();
    let unknown_err = RackConfig::load(&file).unwrap_err();

    let invalid = RACK_WITH_FAULTS.replace("every_nth = 3", "every_nth = 0");
    std::fs::write(&file, invalid).unwrap();
    let invalid_err = RackConfig::load(&file).unwrap_err();

    let unknown_chain = error_chain(&unknown_err);
    assert!(unknown_chain.contains("limits"), "{unknown_chain}");
    let invalid_text = invalid_err.to_string();
    assert!(
        invalid_text.contains("BMC `flaky`: fault rule 2 (unavailable_503): every_nth must be at least 1"),
        "{invalid_text}"
    );
}

/// Joins an error and its sources into one line.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
