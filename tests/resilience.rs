//! The client and the scan against mock BMCs that misbehave on purpose: retries and their
//! waits, session limits and expiry, broken bodies, hangs, redirects, certificate pins, the
//! allowed networks, the caps, and sessions left open after faults and cancellation.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use mock_bmc::{
    BmcConfig, ControlCharacter, Fault, FaultRule, LoginLocation, MockBmc, Mockup, TlsVersion, WaitMessage,
};
use rackcheck::credentials::{CredentialStore, Credentials};
use rackcheck::inventory::BmcAddress;
use rackcheck::policy::{Profile, Status, Verdict};
use rackcheck::redfish::{
    AuthKind, ClientOptions, Fetch, RedfishClient, RedfishError, RetryPolicy, Session, fingerprint,
};
use rackcheck::scan::{NodeReport, ScanOptions, scan_until};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};

use common::{PASSWORD, TestRack, USERNAME, mock_bmc_dir, temp_dir, write_resource};

const SYSTEM_1: &str = "/redfish/v1/Systems/1";
const SYSTEM_2: &str = "/redfish/v1/Systems/2";
const SESSIONS: &str = "/redfish/v1/SessionService/Sessions";
const SUPERMICRO: &str = "supermicro-as4125gs-l40s";

/// Builds a mockup of a service root linking sessions, three systems, and one resource
/// nested 70 levels deep.
fn small_mockup() -> Arc<Mockup> {
    let root = temp_dir("mockup");

    write_resource(
        &root,
        "/redfish/v1",
        json!({
            "@odata.id": "/redfish/v1",
            "Id": "RootService",
            "Systems": { "@odata.id": "/redfish/v1/Systems" },
            "SessionService": { "@odata.id": "/redfish/v1/SessionService" },
            "Links": { "Sessions": { "@odata.id": SESSIONS } }
        }),
    );
    let ids: Vec<String> = (1..=3).map(|i| format!("/redfish/v1/Systems/{i}")).collect();
    let links: Vec<Value> = ids.iter().map(|id| json!({ "@odata.id": id })).collect();
    write_resource(
        &root,
        "/redfish/v1/Systems",
        json!({ "@odata.id": "/redfish/v1/Systems", "Members": links, "Members@odata.count": 3 }),
    );
    for (index, id) in ids.iter().enumerate() {
        write_resource(
            &root,
            id,
            json!({ "@odata.id": id, "Id": (index + 1).to_string(), "Name": "System" }),
        );
    }

    let mut deep = json!({ "Leaf": true });
    for _ in 0..70 {
        deep = json!({ "Nested": deep });
    }
    write_resource(
        &root,
        "/redfish/v1/Deep",
        json!({ "@odata.id": "/redfish/v1/Deep", "Oem": deep }),
    );
    let mockup = Mockup::load(&root).unwrap();
    std::fs::remove_dir_all(&root).unwrap();
    Arc::new(mockup)
}

async fn start_bmc(configure: impl FnOnce(&mut BmcConfig)) -> MockBmc {
    let mut config = BmcConfig::loopback(USERNAME, PASSWORD);
    configure(&mut config);
    MockBmc::start(small_mockup(), config).await.unwrap()
}

async fn start_with_rules(rules: Vec<FaultRule>) -> MockBmc {
    start_bmc(|config| config.faults.rules = rules).await
}

fn address(bmc: &MockBmc) -> BmcAddress {
    BmcAddress::parse(&bmc.base_url()).unwrap()
}

fn credentials() -> Credentials {
    Credentials::new(USERNAME, PASSWORD)
}

/// Options that trust the BMC's certificate and retry quickly.
fn trusting(bmc: &MockBmc) -> ClientOptions {
    let file = temp_dir("ca").join("bmc.pem");
    std::fs::write(&file, bmc.certificate_pem()).unwrap();
    ClientOptions {
        ca_file: Some(file),
        retry: fast_retries(),
        ..ClientOptions::default()
    }
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(10),
        ..RetryPolicy::default()
    }
}

async fn login(bmc: &MockBmc, options: &ClientOptions) -> (RedfishClient, Session) {
    let client = RedfishClient::new(options).unwrap();
    let session = client.login(&address(bmc), &credentials()).await.unwrap();
    (client, session)
}

fn requests_to(bmc: &MockBmc, path: &str) -> u64 {
    bmc.stats().requests_by_path.get(path).copied().unwrap_or(0)
}

fn certificate_fingerprint(bmc: &MockBmc) -> String {
    let der = CertificateDer::from_pem_slice(bmc.certificate_pem().as_bytes()).unwrap();
    fingerprint(der.as_ref())
}

#[tokio::test]
async fn retry_503_honours_retry_after() {
    let fault = Fault::Unavailable503 {
        retry_after_s: 1,
        header: true,
        message: WaitMessage::None,
    };
    let bmc = start_with_rules(vec![FaultRule::always(fault).on_path(SYSTEM_1).first_n(1)]).await;
    let (_client, session) = login(&bmc, &trusting(&bmc)).await;

    let started = Instant::now();
    let system = session.get(SYSTEM_1).await.unwrap();

    assert_eq!(system["Id"], "1");
    assert!(started.elapsed() >= Duration::from_secs(1), "{:?}", started.elapsed());
    assert_eq!(requests_to(&bmc, SYSTEM_1), 2);
    assert_eq!(session.requests_sent(), 1);
    session.logout().await.unwrap();
    bmc.shutdown().await;
}

#[tokio::test]
async fn retry_waits_as_body_states() {
    for message in [WaitMessage::Base, WaitMessage::VendorBusy] {
        let fault = Fault::Unavailable503 {
            retry_after_s: 1,
            header: false,
            message,
        };
        let bmc = start_with_rules(vec![FaultRule::always(fault).on_path(SYSTEM_1).first_n(1)]).await;
        let (_client, session) = login(&bmc, &trusting(&bmc)).await;

        let started = Instant::now();
        session.get(SYSTEM_1).await.unwrap();

        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "{message:?}: {:?}",
            started.elapsed()
        );
        assert_eq!(requests_to(&bmc, SYSTEM_1), 2, "{message:?}");
        session.logout().await.unwrap();
        bmc.shutdown().await;
    }
}

#[tokio::test]
async fn retry_429_then_success() {
    let fault = Fault::TooManyRequests429 { retry_after_s: 0 };
    let bmc = start_with_rules(vec![FaultRule::always(fault).on_path(SYSTEM_1).first_n(2)]).await;
    let (_client, session) = login(&bmc, &trusting(&bmc)).await;

    assert_eq!(session.get(SYSTEM_1).await.unwrap()["Id"], "1");
    assert_eq!(requests_to(&bmc, SYSTEM_1), 3);
    session.logout().await.unwrap();
    bmc.shutdown().await;
}

#[tokio::test]
async fn retries_stop_at_max_attempts() {
    let fault = Fault::TooManyRequests429 { retry_after_s: 0 };
    let bmc = start_with_rules(vec![FaultRule::always(fault).on_path(SYSTEM_1)]).await;
    let (_client, session) = login(&bmc, &trusting(&bmc)).await;

    let err = session.get(SYSTEM_1).await.unwrap_err();

    assert!(matches!(err, RedfishError::Status { status: 429, .. }), "{err}");
    assert_eq!(requests_to(&bmc, SYSTEM_1), 4);
    session.logout().await.unwrap();
    bmc.shutdown().await;
}

#[tokio::test]
async fn wait_above_cap_is_not_retried() {
    let fault = Fault::Unavailable503 {
        retry_after_s: 60,
        header: true,
        message: WaitMessage::Base,
    };
    let bmc = start_with_rules(vec![FaultRule::always(fault).on_path(SYSTEM_1)]).await;
    let (_client, session) = login(&bmc, &trusting(&bmc)).await;

    let err = session.get(SYSTEM_1).await.unwrap_err();

    assert!(matches!(err, RedfishError::Status { status: 503, .. }), "{err}");
    assert!(err.to_string().contains("Retry in 60 seconds"), "{err}");
    assert_eq!(requests_to(&bmc, SYSTEM_1), 1);
    session.logout().await.unwrap();
    bmc.shutdown().await;
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let bmc = start_with_rules(vec![
        FaultRule::always(Fault::HtmlError { status: 400 }).on_path(SYSTEM_2),
    ])
    .await;
    let (_client, session) = login(&bmc, &trusting(&bmc)).await;

    let missing = session.get("/redfish/v1/Systems/99").await.unwrap_err();
    let bad = session.get(SYSTEM_2).await.unwrap_err();

    assert!(missing.is_not_found(), "{missing}");
    assert_eq!(requests_to(&bmc, "/redfish/v1/Systems/99"), 1);
    assert!(matches!(bad, RedfishError::Status { status: 400, .. }), "{bad}");
    assert!(bad.to_string().contains("Bad Request"), "{bad}");
    assert!(!bad.to_string().contains('<'), "HTML tags in {bad}");
    assert_eq!(requests_to(&bmc, SYSTEM_2), 1);
    session.logout().await.unwrap();
    bmc.shutdown().await;
}

#[tokio::test]
async fn reset_mid_body_is_retried() {
    let fault = Fault::Reset { keep_fraction: 0.3 };
    let bmc = start_with_rules(vec![FaultRule::always(fault).on_path(SYSTEM_1).first_n(1)]).await;
    let (_client, session) = login(&bmc, &trusting(&bmc)).await;

    assert_eq!(session.get(SYSTEM_1).await.unwrap()["Id"], "1");
    assert_eq!(requests_to(&bmc, SYSTEM_1), 2);
    session.logout().await.unwrap();
    bmc.shutdown().await;
}

#[tokio::test]
async fn reset_login_keeps_the_session() {
    let fault = Fault::Reset { keep_fraction: 0.2 };
    let bmc = start_with_rules(vec![FaultRule::always(fault).on_path(SESSIONS).first_n(1)]).await;
    let (_client, session) = login(&bmc, &trusting(&bmc)).await;

    assert_eq!(session.auth_kind(), AuthKind::Session);
    assert_eq!(bmc.stats().logins, 1);
    session.logout().await.unwrap();
    assert_eq!(bmc.stats().open_sessions, 0);
    bmc.shutdown().await;
}

#[tokio::test]
async fn session_limit_is_reported_once() {
    let bmc = start_bmc(|config| config.faults.sessions.limit = Some(1)).await;
    let options = trusting(&bmc);
    let (client, first) = login(&bmc, &options).await;

    let err = client.login(&address(&bmc), &credentials()).await.unwrap_err();

    assert!(err.is_session_limit(), "{err}");
    assert!(err.to_string().contains("maximum number of user sessions"), "{err}");
    assert!(err.to_string().contains("--basic-auth-fallback"), "{err}");
    let posts = bmc.stats().requests_by_path_and_status[SESSIONS].values().sum::<u64>();
    assert_eq!(posts, 2, "one successful login and one rejected, never repeated");
    first.logout().await.unwrap();
    bmc.shutdown().await;
}

#[tokio::test]
async fn session_limit_falls_back_to_basic() {
    let bmc = start_bmc(|config| config.faults.sessions.limit = Some(1)).await;
    let options = ClientOptions {
        basic_auth_fallback: true,
        ..trusting(&bmc)
    };
    let (client, first) = login(&bmc, &options).await;

    let second = client.login(&address(&bmc), &credentials()).await.unwrap();

    assert_eq!(second.auth_kind(), AuthKind::Basic);
    assert_eq!(second.get(SYSTEM_1).await.unwrap()["Id"], "1");
    second.logout().await.unwrap();
    first.logout().await.unwrap();
    assert_eq!(bmc.stats().open_sessions, 0);
    bmc.shutdown().await;
}

#[tokio::test]
async fn expired_session_logs_in_again() {
    let bmc = start_bmc(|config| config.faults.sessions.expiry_s = Some(1)).await;
    let (_client, session) = login(&bmc, &trusting(&bmc)).await;
    let first_uri = session.session_uri().unwrap();

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let system = session.get(SYSTEM_1).await.unwrap();

    assert_eq!(system["Id"], "1");
    assert_eq!(bmc.stats().logins, 2);
    assert_ne!(session.session_uri().unwrap(), first_uri);
    session.logout().await.unwrap();
    assert_eq!(bmc.stats().open_sessions, 0);
    bmc.shutdown().await;
}

#[tokio::test]
async fn login_location_absolute_or_missing() {
    for location in [LoginLocation::Absolute, LoginLocation::Missing] {
        let bmc = start_bmc(|config| config.faults.sessions.login_location = location).await;
        let (_client, session) = login(&bmc, &trusting(&bmc)).await;

        let uri = session.session_uri().unwrap();
        assert!(
            uri.starts_with("/redfish/v1/SessionService/Sessions/"),
            "{location:?}: {uri}"
        );
        session.logout().await.unwrap();
        assert_eq!(bmc.stats().open_sessions, 0, "{location:?}");
        bmc.shutdown().await;
    }
}

#[tokio::test]
async fn bom_and_control_char_are_defects() {
    let control = Fault::ControlChar {
        character: ControlCharacter::Soh,
    };
    let bmc = start_with_rules(vec![
        FaultRule::always(Fault::Bom {}).on_path(SYSTEM_1),
        FaultRule::always(control).on_path(SYSTEM_2),
    ])
    .await;
    let (_client, session) = login(&bmc, &trusting(&bmc)).await;

    assert_eq!(session.get(SYSTEM_1).await.unwrap()["Id"], "1");
    assert_eq!(session.get(SYSTEM_2).await.unwrap()["Id"], "2");

    let defects = session.defects();
    assert_eq!(defects.len(), 2, "{defects:?}");
    assert_eq!(defects[0].uri, SYSTEM_1);
    assert!(defects[0].message.contains("byte-order mark"), "{defects:?}");
    assert_eq!(defects[1].uri, SYSTEM_2);
    assert!(defects[1].message.contains("control character"), "{defects:?}");
    session.logout().await.unwrap();
    bmc.shutdown().await;
}

#[tokio::test]
async fn bom_everywhere_recorded_from_root() {
    let bmc = start_with_rules(vec![FaultRule::always(Fault::Bom {})]).await;
    let (_client, session) = login(&bmc, &trusting(&bmc)).await;

    assert!(session.get("/redfish/v1").await.unwrap()["Systems"].is_object());
    assert_eq!(session.get(SYSTEM_1).await.unwrap()["Id"], "1");

    let defects = session.defects();
    let uris: Vec<&str> = defects.iter().map(|defect| defect.uri.as_str()).collect();
    assert_eq!(uris, ["/redfish/v1", SYSTEM_1]);
    // The login response had a byte-order mark too; its session is still deleted.
    session.logout().await.unwrap();
    assert_eq!(bmc.stats().open_sessions, 0);
    bmc.shutdown().await;
}

#[tokio::test]
async fn truncated_json_names_uri_and_offset() {
    let fault = Fault::TruncatedJson { keep_fraction: 0.5 };
    let bmc = start_with_rules(vec![FaultRule::always(fault).on_path(SYSTEM_1)]).await;
    let (_client, session) = login(&bmc, &trusting(&bmc)).await;

    let err = session.get(SYSTEM_1).await.unwrap_err();

    match &err {
        RedfishError::InvalidJson { uri, offset, .. } => {
            assert_eq!(uri, SYSTEM_1);
            assert!(*offset > 0, "{err}");
        }
        other => panic!("expected InvalidJson, got {other:?}"),
    }
    assert!(err.to_string().contains("at byte"), "{err}");
    session.logout().await.unwrap();
    bmc.shutdown().await;
}

#[tokio::test]
async fn redirect_to_trailing_slash_is_followed() {
    let fault = Fault::RedirectTrailingSlash { status: 308 };
    let bmc = start_with_rules(vec![FaultRule::always(fault).on_path(SYSTEM_1)]).await;
    let (_client, session) = login(&bmc, &trusting(&bmc)).await;

    assert_eq!(session.get(SYSTEM_1).await.unwrap()["Id"], "1");
    session.logout().await.unwrap();
    bmc.shutdown().await;
}

#[tokio::test]
async fn redirected_login_posted_again() {
    for status in [301, 302, 307, 308] {
        let fault = Fault::RedirectTrailingSlash { status };
        let bmc = start_with_rules(vec![FaultRule::always(fault).on_path(SESSIONS)]).await;

        let (_client, session) = login(&bmc, &trusting(&bmc)).await;

        assert_eq!(session.get(SYSTEM_1).await.unwrap()["Id"], "1", "{status}");
        session.logout().await.unwrap();
        let stats = bmc.stats();
        assert_eq!(
            (stats.logins, stats.failed_logins, stats.open_sessions),
            (1, 0, 0),
            "{status}: {stats:?}"
        );
        bmc.shutdown().await;
    }
}

#[tokio::test]
async fn redirect_to_other_port_is_rejected() {
    let other = start_bmc(|_| {}).await;
    let fault = Fault::RedirectOtherPort {
        port: other.addr().port(),
        status: 307,
    };
    let bmc = start_with_rules(vec![FaultRule::always(fault).on_path(SYSTEM_1)]).await;
    let (_client, session) = login(&bmc, &trusting(&bmc)).await;

    let err = session.get(SYSTEM_1).await.unwrap_err();

    assert!(matches!(err, RedfishError::Redirected { .. }), "{err}");
    assert!(err.to_string().contains(&other.addr().port().to_string()), "{err}");
    assert_eq!(other.stats().requests, 0);
    session.logout().await.unwrap();
    bmc.shutdown().await;
    other.shutdown().await;
}

#[tokio::test]
async fn pin_recorded_then_enforced() {
    let bmc = start_bmc(|_| {}).await;
    let file = temp_dir("pins").join("known-bmcs");
    let recording = ClientOptions {
        known_bmcs: Some(file.clone()),
        record_new_bmcs: true,
        retry: fast_retries(),
        ..ClientOptions::default()
    };

    let (_client, session) = login(&bmc, &recording).await;
    session.logout().await.unwrap();

    let text = std::fs::read_to_string(&file).unwrap();
    let expected_line = format!("{} {}\n", bmc.addr(), certificate_fingerprint(&bmc));
    assert_eq!(text, expected_line);

    // Without recording and without any CA, the pin alone makes the self-signed BMC trusted.
    let enforcing = ClientOptions {
        record_new_bmcs: false,
        ..recording
    };
    let (_client, session) = login(&bmc, &enforcing).await;
    session.logout().await.unwrap();
    bmc.shutdown().await;
}

#[tokio::test]
async fn changed_certificate_is_rejected() {
    let bmc = start_bmc(|_| {}).await;
    let file = temp_dir("pins").join("known-bmcs");
    let stale = ["AB"; 32].join(":");
    std::fs::write(&file, format!("{} {stale}\n", bmc.addr())).unwrap();
    let options = ClientOptions {
        known_bmcs: Some(file),
        record_new_bmcs: true,
        ..ClientOptions::default()
    };
    let client = RedfishClient::new(&options).unwrap();

    let err = client.login(&address(&bmc), &credentials()).await.unwrap_err();

    assert!(matches!(err, RedfishError::PinMismatch { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains(&stale), "{message}");
    assert!(message.contains(&certificate_fingerprint(&bmc)), "{message}");
    assert!(message.contains("hint:"), "{message}");
    assert_eq!(bmc.stats().requests, 0);
    bmc.shutdown().await;
}

#[tokio::test]
async fn expired_certificate_is_named() {
    let bmc = start_bmc(|config| config.faults.tls.expired = true).await;
    let client = RedfishClient::new(&trusting(&bmc)).unwrap();

    let err = client.login(&address(&bmc), &credentials()).await.unwrap_err();

    assert!(err.is_certificate(), "{err}");
    assert!(err.to_string().contains("expired"), "{err}");
    assert!(err.to_string().contains("--known-bmcs"), "{err}");
    bmc.shutdown().await;
}

#[tokio::test]
async fn tls12_only_bmc_works() {
    let bmc = start_bmc(|config| config.faults.tls.max_version = Some(TlsVersion::Tls12)).await;
    let (_client, session) = login(&bmc, &trusting(&bmc)).await;

    assert_eq!(session.get(SYSTEM_1).await.unwrap()["Id"], "1");
    session.logout().await.unwrap();
    bmc.shutdown().await;
}

#[tokio::test]
async fn outside_allowed_net_sends_nothing() {
    let bmc = start_bmc(|_| {}).await;
    let options = ClientOptions {
        allow_nets: vec!["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()],
        ..trusting(&bmc)
    };
    let client = RedfishClient::new(&options).unwrap();

    let err = client.login(&address(&bmc), &credentials()).await.unwrap_err();

    assert!(matches!(err, RedfishError::NotAllowed { .. }), "{err}");
    assert!(err.to_string().contains("10.0.0.0/8"), "{err}");
    assert_eq!(bmc.stats().requests, 0);

    let allowed = ClientOptions {
        allow_nets: vec!["127.0.0.0/8".parse().unwrap()],
        ..trusting(&bmc)
    };
    let (_client, session) = login(&bmc, &allowed).await;
    session.logout().await.unwrap();
    bmc.shutdown().await;
}

#[tokio::test]
async fn deep_json_stops_the_session() {
    let bmc = start_bmc(|_| {}).await;
    let (_client, session) = login(&bmc, &trusting(&bmc)).await;

    let err = session.get("/redfish/v1/Deep").await.unwrap_err();
    assert!(matches!(err, RedfishError::TooDeep { .. }), "{err}");
    let requests = bmc.stats().requests;

    let later = session.get(SYSTEM_1).await.unwrap_err();
    assert!(matches!(later, RedfishError::TooDeep { .. }), "{later}");
    assert!(session.stop_cause().is_some());
    assert_eq!(bmc.stats().requests, requests, "no request after the cap");
    session.logout().await.unwrap();
    bmc.shutdown().await;
}

#[tokio::test]
async fn resource_cap_stops_the_session() {
    let bmc = start_bmc(|_| {}).await;
    let options = ClientOptions {
        max_resources: 2,
        ..trusting(&bmc)
    };
    let (_client, session) = login(&bmc, &options).await;

    session.get(SYSTEM_1).await.unwrap();
    session.get(SYSTEM_2).await.unwrap();
    let err = session.get("/redfish/v1/Systems/3").await.unwrap_err();

    assert!(matches!(err, RedfishError::ResourceLimit { limit: 2, .. }), "{err}");
    assert!(err.to_string().contains("--max-resources"), "{err}");
    assert_eq!(requests_to(&bmc, "/redfish/v1/Systems/3"), 0);
    session.logout().await.unwrap();
    bmc.shutdown().await;
}

fn node<'a>(nodes: &'a [NodeReport], hostname: &str) -> &'a NodeReport {
    nodes.iter().find(|node| node.hostname == hostname).unwrap()
}

fn load(mockup: &str) -> Mockup {
    Mockup::load(&mock_bmc_dir().join("mockups").join(mockup)).unwrap()
}

fn fast_scan_options(rack: &TestRack, ca: &tempfile::NamedTempFile) -> ScanOptions {
    let _ = rack;
    let mut options = ScanOptions::default();
    options.client.ca_file = Some(ca.path().to_path_buf());
    options.client.retry = fast_retries();
    options.client.request_timeout = Duration::from_millis(800);
    options
}

#[tokio::test]
async fn expiring_tokens_leave_facts_usable() {
    // Each read of the BIOS outlasts a token, so the session spends its re-logins and stops.
    let mut config = BmcConfig::loopback(USERNAME, PASSWORD);
    config.faults.sessions.expiry_s = Some(1);
    config.faults.rules =
        vec![FaultRule::always(Fault::Latency { ms: 1100, jitter_ms: 0 }).on_path("/redfish/v1/Systems/*/Bios")];
    let mut rack = TestRack::new();
    rack.add_mockup("smc", load(SUPERMICRO), config, "gpu-compute").await;
    let ca = rack.ca_bundle();
    let mut options = fast_scan_options(&rack, &ca);
    options.client.request_timeout = Duration::from_secs(3);

    let report = rack.scan_with(&options).await;

    let smc = node(&report.nodes, "smc");
    assert!(smc.error.is_none(), "{:?}", smc.error);
    let iommu = smc.findings.iter().find(|f| f.rule == "bios-iommu-disabled").unwrap();
    assert_eq!(iommu.status, Status::Unknown);
    assert!(
        iommu
            .observed
            .contains("rejected the session token again after 3 new logins"),
        "{}",
        iommu.observed
    );
    assert_eq!(smc.verdict, Verdict::Unknown);
    assert_eq!(rack.open_sessions(), 0);
    rack.shutdown().await;
}

#[tokio::test]
async fn hang_leaves_other_facts_usable() {
    let mut config = BmcConfig::loopback(USERNAME, PASSWORD);
    config.faults.rules = vec![FaultRule::always(Fault::Hang {}).on_path("/redfish/v1/Systems/*/Bios")];
    let mut rack = TestRack::new();
    rack.add_mockup("smc", load(SUPERMICRO), config, "gpu-compute").await;
    let ca = rack.ca_bundle();

    let report = rack.scan_with(&fast_scan_options(&rack, &ca)).await;

    let smc = node(&report.nodes, "smc");
    assert!(smc.error.is_none(), "{:?}", smc.error);
    let facts = smc.facts.as_ref().unwrap();
    let timed_out = facts
        .problems
        .iter()
        .find(|problem| problem.uri.ends_with("/Bios"))
        .expect("a problem for the BIOS");
    assert!(timed_out.message.contains("timed out"), "{timed_out:?}");
    let iommu = smc.findings.iter().find(|f| f.rule == "bios-iommu-disabled").unwrap();
    assert_eq!(iommu.status, Status::Unknown);
    // The finding states that the read failed and why, not only that no Bios was reported.
    let read_failure = format!("could not read {} (", timed_out.uri);
    assert!(iommu.observed.starts_with(&read_failure), "{}", iommu.observed);
    assert!(iommu.observed.contains("timed out"), "{}", iommu.observed);
    assert!(
        smc.findings
            .iter()
            .any(|f| f.rule == "dimm-ecc" && f.status == Status::Pass)
    );
    assert_eq!(rack.open_sessions(), 0);
    rack.shutdown().await;
}

#[tokio::test]
async fn faulty_rack_leaves_no_sessions() {
    let busy = Fault::Unavailable503 {
        retry_after_s: 0,
        header: true,
        message: WaitMessage::VendorBusy,
    };
    let mut configs = Vec::new();

    let mut flaky = BmcConfig::loopback(USERNAME, PASSWORD);
    flaky.faults.rules = vec![
        FaultRule::always(busy).with_share(0.2),
        FaultRule::always(Fault::Reset { keep_fraction: 0.5 }).with_share(0.1),
        FaultRule::always(Fault::Latency { ms: 5, jitter_ms: 10 }),
    ];
    configs.push(("flaky", flaky));

    let mut broken = BmcConfig::loopback(USERNAME, PASSWORD);
    broken.faults.rules = vec![
        FaultRule::always(Fault::Hang {}).on_path("/redfish/v1/Chassis/**"),
        FaultRule::always(Fault::Bom {}).on_path("/redfish/v1/Systems"),
        FaultRule::always(Fault::TruncatedJson { keep_fraction: 0.5 }).on_path("/redfish/v1/Systems/*/Memory/**"),
    ];
    broken.faults.sessions.login_location = LoginLocation::Missing;
    configs.push(("broken", broken));

    let mut full = BmcConfig::loopback(USERNAME, PASSWORD);
    full.faults.sessions.limit = Some(1);
    full.faults.sessions.login_location = LoginLocation::Absolute;
    configs.push(("full", full));

    let mut rack = TestRack::new();
    for (hostname, config) in configs {
        rack.add_mockup(hostname, load(SUPERMICRO), config, "gpu-compute").await;
    }
    rack.add_unreachable("down");
    let ca = rack.ca_bundle();

    let started = Instant::now();
    let report = rack.scan_with(&fast_scan_options(&rack, &ca)).await;

    assert!(started.elapsed() < Duration::from_secs(60), "{:?}", started.elapsed());
    assert_eq!(report.nodes.len(), 4);
    assert_eq!(node(&report.nodes, "down").verdict, Verdict::Error);
    assert!(
        node(&report.nodes, "full").error.is_none(),
        "{:?}",
        node(&report.nodes, "full").error
    );
    for (hostname, bmc) in &rack.bmcs {
        let stats = bmc.stats();
        assert_eq!(stats.open_sessions, 0, "{hostname}: {stats:?}");
        assert!(!bmc.faults_injected().is_empty(), "{hostname}: no fault injected");
    }
    rack.shutdown().await;
}

#[tokio::test]
async fn cancelled_scan_logs_out() {
    let mut rack = TestRack::new();
    for hostname in ["a", "b"] {
        let mut config = BmcConfig::loopback(USERNAME, PASSWORD);
        config.faults.rules = vec![FaultRule::always(Fault::Hang {}).on_path("/redfish/v1/Chassis")];
        rack.add_mockup(hostname, load(SUPERMICRO), config, "gpu-compute").await;
    }
    let ca = rack.ca_bundle();
    let mut options = fast_scan_options(&rack, &ca);
    options.client.request_timeout = Duration::from_secs(30);
    let credentials = CredentialStore::with_default(Credentials::new(USERNAME, PASSWORD));
    let cancel = soon_after_every_login(&rack);

    let report = scan_until(&rack.inventory(), &credentials, &Profile::builtin(), &options, cancel)
        .await
        .unwrap();

    let cancelled = report.unwrap_err();
    assert_eq!(cancelled.open_sessions, Vec::new());
    for (hostname, bmc) in &rack.bmcs {
        let stats = bmc.stats();
        assert_eq!(stats.logins, 1, "{hostname}");
        assert_eq!(stats.open_sessions, 0, "{hostname}: {stats:?}");
    }
    rack.shutdown().await;
}

/// Resolves 200 ms after every BMC of `rack` has seen a login, while the nodes are still
/// being read: the moment a Ctrl-C would interrupt a scan.
async fn soon_after_every_login(rack: &TestRack) {
    while rack.bmcs.iter().any(|(_, bmc)| bmc.stats().logins == 0) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// The path of one session, which the logout DELETE requests.
const SESSION_MEMBERS: &str = "/redfish/v1/SessionService/Sessions/*";

#[tokio::test]
async fn cancelled_scan_names_open_sessions() {
    let mut rack = TestRack::new();
    for hostname in ["a", "b"] {
        let mut config = BmcConfig::loopback(USERNAME, PASSWORD);
        config.faults.rules = vec![FaultRule::always(Fault::Hang {}).on_path("/redfish/v1/Chassis")];
        if hostname == "b" {
            config
                .faults
                .rules
                .push(FaultRule::always(Fault::Error500 {}).on_path(SESSION_MEMBERS));
        }
        rack.add_mockup(hostname, load(SUPERMICRO), config, "gpu-compute").await;
    }
    let ca = rack.ca_bundle();
    let options = fast_scan_options(&rack, &ca);
    let credentials = CredentialStore::with_default(Credentials::new(USERNAME, PASSWORD));
    let cancel = soon_after_every_login(&rack);

    let report = scan_until(&rack.inventory(), &credentials, &Profile::builtin(), &options, cancel)
        .await
        .unwrap();

    let cancelled = report.unwrap_err();
    let failing_bmc = rack.bmc("b");
    assert_eq!(
        failing_bmc.stats().open_sessions,
        1,
        "logouts: {}",
        failing_bmc.stats().logouts
    );
    assert_eq!(rack.bmc("a").stats().open_sessions, 0);
    assert_eq!(cancelled.open_sessions.len(), 1, "{:?}", cancelled.open_sessions);
    let open = &cancelled.open_sessions[0];
    assert_eq!(open.bmc, address(failing_bmc).to_string());
    assert!(open.uri.as_deref().unwrap().starts_with(SESSIONS), "{open:?}");
    assert!(open.cause.contains("500"), "{open:?}");
    let message = cancelled.to_string();
    assert!(message.contains("sessions may still be open"), "{message}");
    assert!(!message.contains("every open session was logged out"), "{message}");
    assert!(message.contains(&open.bmc), "{message}");
    rack.shutdown().await;
}

#[tokio::test]
async fn logout_retries_failed_delete() {
    let mut config = BmcConfig::loopback(USERNAME, PASSWORD);
    config.faults.rules = vec![
        FaultRule::always(Fault::Error500 {})
            .on_path(SESSION_MEMBERS)
            .first_n(1),
    ];
    let mut rack = TestRack::new();
    rack.add_mockup("smc", load(SUPERMICRO), config, "gpu-compute").await;
    let ca = rack.ca_bundle();

    let report = rack.scan_with(&fast_scan_options(&rack, &ca)).await;

    let bmc = rack.bmc("smc");
    assert_eq!(bmc.faults_injected().get("error_500"), Some(&1));
    assert_eq!(bmc.stats().logins, 1);
    assert_eq!(bmc.stats().open_sessions, 0, "logouts: {}", bmc.stats().logouts);
    let smc = node(&report.nodes, "smc");
    assert_eq!(smc.open_sessions, Vec::new());
    rack.shutdown().await;
}

#[tokio::test]
async fn failed_logout_is_in_report() {
    let mut config = BmcConfig::loopback(USERNAME, PASSWORD);
    config.faults.rules = vec![FaultRule::always(Fault::Error500 {}).on_path(SESSION_MEMBERS)];
    let mut rack = TestRack::new();
    rack.add_mockup("smc", load(SUPERMICRO), config, "gpu-compute").await;
    let ca = rack.ca_bundle();

    let report = rack.scan_with(&fast_scan_options(&rack, &ca)).await;

    let bmc = rack.bmc("smc");
    assert_eq!(bmc.stats().open_sessions, 1, "logouts: {}", bmc.stats().logouts);
    assert!(
        bmc.faults_injected().get("error_500").copied().unwrap_or(0) > 1,
        "{:?}",
        bmc.faults_injected()
    );
    let smc = node(&report.nodes, "smc");
    assert!(smc.error.is_none(), "{:?}", smc.error);
    assert_eq!(smc.open_sessions.len(), 1, "{:?}", smc.open_sessions);
    let open = &smc.open_sessions[0];
    assert_eq!(open.bmc, smc.bmc);
    assert!(open.uri.as_deref().unwrap().starts_with(SESSIONS), "{open:?}");
    assert!(open.cause.contains("HTTP 500"), "{open:?}");

    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["nodes"][0]["open_sessions"][0]["uri"], json!(open.uri));
    let mut table = Vec::new();
    rackcheck::report::write(&report, rackcheck::report::Format::Table, &mut table).unwrap();
    let table = String::from_utf8(table).unwrap();
    assert!(table.contains("session left open until the BMC expires it"), "{table}");
    assert!(table.contains("1 session(s) left open"), "{table}");
    rack.shutdown().await;
}
