//! The Redfish client against mock BMCs over real HTTPS on loopback: sessions, basic auth,
//! TLS policy, paging, errors, timeouts and the per-BMC limit on requests in flight.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mock_bmc::{BmcConfig, Fault, FaultRule, MockBmc, Mockup};
use rackcheck::credentials::Credentials;
use rackcheck::inventory::BmcAddress;
use rackcheck::redfish::{AuthKind, ClientOptions, Fetch, RedfishClient, RedfishError, RetryPolicy, members};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use common::{temp_dir, write_resource};

const USER: &str = "admin";
const PASSWORD: &str = "correct-horse";
const SYSTEM_COUNT: usize = 5;
const SESSIONS: &str = "/redfish/v1/SessionService/Sessions";

/// Writes the smallest mockup the client needs: a service root linking sessions, and a
/// Systems collection long enough to page.
fn test_mockup() -> Arc<Mockup> {
    let root = temp_dir("mockup");
    write_resource(
        &root,
        "/redfish/v1",
        json!({
            "@odata.id": "/redfish/v1",
            "@odata.type": "#ServiceRoot.v1_15_0.ServiceRoot",
            "Id": "RootService",
            "RedfishVersion": "1.15.0",
            "Systems": { "@odata.id": "/redfish/v1/Systems" },
            "SessionService": { "@odata.id": "/redfish/v1/SessionService" },
            "Links": { "Sessions": { "@odata.id": "/redfish/v1/SessionService/Sessions" } }
        }),
    );

    let ids: Vec<String> = (1..=SYSTEM_COUNT).map(|i| format!("/redfish/v1/Systems/{i}")).collect();
    let links: Vec<Value> = ids.iter().map(|id| json!({ "@odata.id": id })).collect();
    write_resource(
        &root,
        "/redfish/v1/Systems",
        json!({
            "@odata.id": "/redfish/v1/Systems",
            "@odata.type": "#ComputerSystemCollection.ComputerSystemCollection",
            "Members": links,
            "Members@odata.count": SYSTEM_COUNT
        }),
    );
    for (index, id) in ids.iter().enumerate() {
        write_resource(
            &root,
            id,
            json!({ "@odata.id": id, "@odata.type": "#ComputerSystem.v1_20_0.ComputerSystem", "Id": (index + 1).to_string() }),
        );
    }
    let mockup = Mockup::load(&root).unwrap();
    std::fs::remove_dir_all(&root).unwrap();
    Arc::new(mockup)
}

async fn start_bmc(configure: impl FnOnce(&mut BmcConfig)) -> MockBmc {
    let mut config = BmcConfig::loopback(USER, PASSWORD);
    configure(&mut config);
    MockBmc::start(test_mockup(), config).await.unwrap()
}

fn address(bmc: &MockBmc) -> BmcAddress {
    BmcAddress::parse(&bmc.base_url()).unwrap()
}

/// Options that trust the mock BMC's self-signed certificate through a CA file.
fn trusting(bmc: &MockBmc) -> ClientOptions {
    let file = temp_dir("ca").join("bmc.pem");
    std::fs::write(&file, bmc.certificate_pem()).unwrap();
    ClientOptions {
        ca_file: Some(file),
        ..ClientOptions::default()
    }
}

fn credentials() -> Credentials {
    Credentials::new(USER, PASSWORD)
}

#[tokio::test]
async fn session_login_get_logout() {
    let bmc = start_bmc(|_| {}).await;
    let client = RedfishClient::new(&trusting(&bmc)).unwrap();

    let session = client.login(&address(&bmc), &credentials()).await.unwrap();
    assert_eq!(session.auth_kind(), AuthKind::Session);
    assert_eq!(session.bmc(), &address(&bmc));
    assert_eq!(bmc.stats().logins, 1);
    assert_eq!(bmc.stats().open_sessions, 1);

    let system = session.get("/redfish/v1/Systems/1").await.unwrap();
    assert_eq!(system["Id"], "1");
    assert_eq!(session.requests_sent(), 1);

    let debug = format!("{session:?}");
    assert!(!debug.contains(PASSWORD), "{debug}");

    session.logout().await.unwrap();
    let stats = bmc.stats();
    assert_eq!(stats.logouts, 1);
    assert_eq!(stats.open_sessions, 0);
    bmc.shutdown().await;
}

#[tokio::test]
async fn session_uri_is_a_path() {
    let bmc = start_bmc(|_| {}).await;
    let client = RedfishClient::new(&trusting(&bmc)).unwrap();

    let session = client.login(&address(&bmc), &credentials()).await.unwrap();
    let uri = session.session_uri().unwrap().to_string();
    assert!(uri.starts_with("/redfish/v1/SessionService/Sessions/"), "{uri}");

    session.logout().await.unwrap();
    bmc.shutdown().await;
}

#[tokio::test]
async fn wrong_password_is_unauthorized() {
    let bmc = start_bmc(|_| {}).await;
    let client = RedfishClient::new(&trusting(&bmc)).unwrap();

    let err = client
        .login(&address(&bmc), &Credentials::new(USER, "wrong"))
        .await
        .unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
    assert!(!err.to_string().contains("wrong"), "{err}");

    let stats = bmc.stats();
    assert_eq!(stats.failed_logins, 1);
    assert_eq!(stats.open_sessions, 0);
    bmc.shutdown().await;
}

#[tokio::test]
async fn basic_auth_without_session_service() {
    let bmc = start_bmc(|config| config.sessions = false).await;
    let client = RedfishClient::new(&trusting(&bmc)).unwrap();

    let session = client.login(&address(&bmc), &credentials()).await.unwrap();
    assert_eq!(session.auth_kind(), AuthKind::Basic);
    assert_eq!(session.session_uri(), None);

    let system = session.get("/redfish/v1/Systems/2").await.unwrap();
    assert_eq!(system["Id"], "2");
    // The Systems collection read to check the credentials serves the first read of it.
    let systems = session.get("/redfish/v1/Systems").await.unwrap();
    assert!(systems["Members"].is_array(), "{systems}");

    session.logout().await.unwrap();
    let stats = bmc.stats();
    assert_eq!(stats.requests_by_path.get("/redfish/v1/Systems"), Some(&1));
    assert_eq!(stats.logins, 0);
    assert_eq!(stats.logouts, 0);
    assert_eq!(stats.failed_logins, 0);
    bmc.shutdown().await;
}

#[tokio::test]
async fn queued_reads_wait_for_relogin() {
    let bmc = start_bmc(|config| {
        config.faults.sessions.expiry_s = Some(1);
        config.faults.rules = vec![FaultRule::always(Fault::Latency { ms: 20, jitter_ms: 0 })];
    })
    .await;
    let client = RedfishClient::new(&trusting(&bmc)).unwrap();
    let session = client.login(&address(&bmc), &credentials()).await.unwrap();

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let paths: Vec<String> = (0..30)
        .map(|index| format!("/redfish/v1/Systems/{}", index % SYSTEM_COUNT + 1))
        .collect();
    let reads = futures::future::join_all(paths.iter().map(|path| session.get(path))).await;

    for read in &reads {
        assert!(read.is_ok(), "{read:?}");
    }
    session.logout().await.unwrap();
    let stats = bmc.stats();
    assert_eq!(stats.logins, 2, "{stats:?}");
    // Only the reads already in flight when the token expired met the 401.
    let rejected = stats.requests_by_status.get(&401).copied().unwrap_or(0);
    let in_flight = ClientOptions::default().max_in_flight as u64;
    assert!(
        rejected <= in_flight,
        "{rejected} reads went out with the expired token: {stats:?}"
    );
    bmc.shutdown().await;
}

#[tokio::test]
async fn repeated_expiry_stops_the_session() {
    // Each read of the system takes longer than a token lives, so every token expires
    // before the BMC returns the read that was sent again with it.
    let bmc = start_bmc(|config| {
        config.faults.sessions.expiry_s = Some(1);
        config.faults.rules =
            vec![FaultRule::always(Fault::Latency { ms: 1100, jitter_ms: 0 }).on_path("/redfish/v1/Systems/1")];
    })
    .await;
    let client = RedfishClient::new(&trusting(&bmc)).unwrap();
    let session = client.login(&address(&bmc), &credentials()).await.unwrap();

    let err = session.get("/redfish/v1/Systems/1").await.unwrap_err().to_string();
    let requests = bmc.stats().requests;
    let later = session.get("/redfish/v1/Systems/2").await.unwrap_err().to_string();

    assert!(
        err.contains("rejected the session token again after 3 new logins"),
        "{err}"
    );
    assert!(!err.contains("username"), "{err}");
    assert_eq!(later, err, "the stopped session answers later reads with its cause");
    let stats = bmc.stats();
    assert_eq!(stats.logins, 4, "{stats:?}");
    assert_eq!(stats.failed_logins, 0, "{stats:?}");
    assert_eq!(stats.requests, requests, "a read after the stop was sent: {stats:?}");
    bmc.shutdown().await;
}

#[tokio::test]
async fn logout_of_expired_session_succeeds() {
    let bmc = start_bmc(|config| config.faults.sessions.expiry_s = Some(1)).await;
    let client = RedfishClient::new(&trusting(&bmc)).unwrap();
    let session = client.login(&address(&bmc), &credentials()).await.unwrap();

    tokio::time::sleep(Duration::from_millis(1100)).await;
    session.logout().await.unwrap();

    assert!(client.open_sessions().is_empty(), "{:?}", client.open_sessions());
    assert_eq!(bmc.stats().open_sessions, 0);
    bmc.shutdown().await;
}

#[tokio::test]
async fn basic_auth_wrong_password() {
    let bmc = start_bmc(|config| config.sessions = false).await;
    let client = RedfishClient::new(&trusting(&bmc)).unwrap();

    let err = client
        .login(&address(&bmc), &Credentials::new(USER, "wrong"))
        .await
        .unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
    bmc.shutdown().await;
}

#[tokio::test]
async fn dropped_session_is_deleted() {
    let bmc = start_bmc(|_| {}).await;
    let client = RedfishClient::new(&trusting(&bmc)).unwrap();

    let session = client.login(&address(&bmc), &credentials()).await.unwrap();
    drop(session);
    client.wait_for_logouts().await;

    assert_eq!(bmc.stats().open_sessions, 0);
    assert_eq!(bmc.stats().logouts, 1);
    bmc.shutdown().await;
}

#[tokio::test]
async fn cancelled_login_is_deleted() {
    let bmc = start_bmc(|config| {
        config.faults.rules = vec![FaultRule::always(Fault::Latency { ms: 300, jitter_ms: 0 }).on_path(SESSIONS)];
    })
    .await;
    let client = RedfishClient::new(&trusting(&bmc)).unwrap();

    let (address, credentials) = (address(&bmc), credentials());
    let login = client.login(&address, &credentials);
    let cut_short = tokio::time::timeout(Duration::from_millis(150), login).await;
    assert!(cut_short.is_err(), "the login finished before the timeout");
    client.wait_for_logouts().await;

    let stats = bmc.stats();
    assert_eq!(stats.logins, 1);
    assert_eq!(stats.open_sessions, 0);
    bmc.shutdown().await;
}

#[tokio::test]
async fn untrusted_certificate_fails() {
    let bmc = start_bmc(|_| {}).await;
    let client = RedfishClient::new(&ClientOptions::default()).unwrap();

    let err = client.login(&address(&bmc), &credentials()).await.unwrap_err();
    assert!(err.is_certificate(), "{err}");
    assert!(err.is_connect(), "{err}");
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    assert!(err.to_string().contains("--ca-file"), "{err}");
    assert_eq!(bmc.stats().requests, 0);
    bmc.shutdown().await;
}

#[tokio::test]
async fn refused_connection_is_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = BmcAddress::parse(&listener.local_addr().unwrap().to_string()).unwrap();
    drop(listener);
    let client = RedfishClient::new(&ClientOptions {
        insecure: true,
        ..ClientOptions::default()
    })
    .unwrap();

    let err = client.login(&address, &credentials()).await.unwrap_err();
    assert!(err.is_connect(), "{err}");
    assert!(!err.is_certificate(), "{err}");
}

#[tokio::test]
async fn insecure_accepts_self_signed() {
    let bmc = start_bmc(|_| {}).await;
    let options = ClientOptions {
        insecure: true,
        ..ClientOptions::default()
    };
    let client = RedfishClient::new(&options).unwrap();

    let session = client.login(&address(&bmc), &credentials()).await.unwrap();
    session.get("/redfish/v1/Systems").await.unwrap();
    session.logout().await.unwrap();
    assert_eq!(bmc.stats().open_sessions, 0);
    bmc.shutdown().await;
}

#[test]
fn missing_ca_file_is_named() {
    let file = temp_dir("ca").join("absent.pem");
    let options = ClientOptions {
        ca_file: Some(file.clone()),
        ..ClientOptions::default()
    };

    let message = RedfishClient::new(&options).unwrap_err().to_string();
    assert!(message.contains(&file.display().to_string()), "{message}");
}

#[test]
fn ca_file_without_certificate_is_named() {
    let file = temp_dir("ca").join("empty.pem");
    std::fs::write(&file, "not a certificate\n").unwrap();
    let options = ClientOptions {
        ca_file: Some(file.clone()),
        ..ClientOptions::default()
    };

    let message = RedfishClient::new(&options).unwrap_err().to_string();
    assert!(message.contains(&file.display().to_string()), "{message}");
    assert!(message.contains("no PEM certificate"), "{message}");
}

#[test]
fn zero_in_flight_is_rejected() {
    let options = ClientOptions {
        max_in_flight: 0,
        ..ClientOptions::default()
    };
    assert!(RedfishClient::new(&options).is_err());
}

#[tokio::test]
async fn members_follow_next_link() {
    let bmc = start_bmc(|config| config.page_size = Some(2)).await;
    let client = RedfishClient::new(&trusting(&bmc)).unwrap();
    let session = client.login(&address(&bmc), &credentials()).await.unwrap();

    let ids = members(&session, "/redfish/v1/Systems").await.unwrap();
    let expected: Vec<String> = (1..=SYSTEM_COUNT).map(|i| format!("/redfish/v1/Systems/{i}")).collect();
    assert_eq!(ids, expected);
    assert_eq!(session.requests_sent(), 3);

    session.logout().await.unwrap();
    bmc.shutdown().await;
}

#[tokio::test]
async fn missing_resource_is_not_found() {
    let bmc = start_bmc(|_| {}).await;
    let client = RedfishClient::new(&trusting(&bmc)).unwrap();
    let session = client.login(&address(&bmc), &credentials()).await.unwrap();

    let err = session.get("/redfish/v1/Systems/99").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    match &err {
        RedfishError::NotFound { uri, .. } => assert_eq!(uri, "/redfish/v1/Systems/99"),
        other => panic!("expected NotFound, got {other:?}"),
    }

    session.logout().await.unwrap();
    bmc.shutdown().await;
}

#[tokio::test]
async fn other_host_is_refused() {
    let bmc = start_bmc(|_| {}).await;
    let client = RedfishClient::new(&trusting(&bmc)).unwrap();
    let session = client.login(&address(&bmc), &credentials()).await.unwrap();
    let requests_before = bmc.stats().requests;

    for link in [
        "https://127.0.0.2/redfish/v1/Systems",
        "//127.0.0.2/redfish/v1",
        "https://127.0.0.1:1/redfish/v1",
    ] {
        let err = session.get(link).await.unwrap_err();
        assert!(matches!(err, RedfishError::OtherOrigin { .. }), "{link}: {err}");
    }
    assert_eq!(session.requests_sent(), 0);
    assert_eq!(bmc.stats().requests, requests_before);

    let same_origin = format!("{}/redfish/v1/Systems/3", bmc.base_url());
    assert_eq!(session.get(&same_origin).await.unwrap()["Id"], "3");

    session.logout().await.unwrap();
    bmc.shutdown().await;
}

/// Binds a loopback listener that accepts connections, never responds, and counts them.
async fn silent_listener() -> (BmcAddress, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = BmcAddress::parse(&listener.local_addr().unwrap().to_string()).unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            open.push(stream);
        }
    });
    (address, accepted)
}

#[tokio::test]
async fn silent_bmc_times_out() {
    let (address, _) = silent_listener().await;
    let options = ClientOptions {
        insecure: true,
        request_timeout: Duration::from_millis(500),
        ..ClientOptions::default()
    };
    let client = RedfishClient::new(&options).unwrap();

    let started = Instant::now();
    let err = client.login(&address, &credentials()).await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    match err {
        RedfishError::Timeout { uri, after, .. } => {
            assert_eq!(uri, "/redfish/v1/");
            assert_eq!(after, Duration::from_millis(500));
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn in_flight_limit_per_bmc() {
    let (address, accepted) = silent_listener().await;
    let options = ClientOptions {
        insecure: true,
        request_timeout: Duration::from_millis(600),
        max_in_flight: 2,
        retry: RetryPolicy::none(),
        ..ClientOptions::default()
    };
    let client = RedfishClient::new(&options).unwrap();

    let started = Instant::now();
    let logins: Vec<_> = (0..4)
        .map(|_| {
            let client = client.clone();
            let address = address.clone();
            tokio::spawn(async move { client.login(&address, &credentials()).await })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        2,
        "connections open while the first two wait"
    );

    for login in logins {
        let err = login.await.unwrap().unwrap_err();
        assert!(err.is_timeout(), "{err}");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 4);
    assert!(
        started.elapsed() >= Duration::from_millis(1200),
        "4 requests, 2 at a time, 600 ms each: {:?}",
        started.elapsed()
    );
}
