//! Racks and the loopback-only rule.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::{PASSWORD, TempDir, USER, client_for, get_basic, test_mockup, write_test_mockup};
use mock_bmc::{BmcConfig, MockBmc, Rack, RackConfig};

#[tokio::test]
async fn non_loopback_listen_rejected() {
    for addr in ["0.0.0.0:0", "192.0.2.10:443", "[::]:0"] {
        let mut config = BmcConfig::loopback(USER, PASSWORD);
        config.listen = addr.parse().unwrap();

        let err = MockBmc::start(test_mockup(), config)
            .await
            .err()
            .expect("non-loopback address accepted");

        assert!(err.is_not_loopback(), "{addr}: {err}");
        assert!(err.to_string().contains("not a loopback address"), "{err}");
    }
}

#[tokio::test]
async fn second_loopback_address_accepted() {
    let mut config = BmcConfig::loopback(USER, PASSWORD);
    config.listen = SocketAddr::from(([127, 0, 0, 2], 0));

    let bmc = MockBmc::start(test_mockup(), config).await.unwrap();

    assert_eq!(bmc.base_url(), format!("https://127.0.0.2:{}", bmc.addr().port()));
    let (status, _) = get_basic(&client_for(&bmc), &bmc, "/redfish/v1/Systems").await;
    assert_eq!(status, 200);
    bmc.shutdown().await;
}

fn write_rack(dir: &TempDir, bmcs: &str) -> std::path::PathBuf {
    write_test_mockup(&dir.path().join("mockups/small"));
    std::fs::create_dir_all(dir.path().join("scenarios")).unwrap();
    std::fs::write(
        dir.path().join("scenarios/psu-failed.json"),
        r#"{"description": "PSU1 failed", "patch": {"/redfish/v1/Chassis/1/PowerSubsystem/PowerSupplies/PSU1": {"Status": {"Health": "Critical"}}}}"#,
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("racks")).unwrap();
    let file = dir.path().join("racks/rack.toml");
    std::fs::write(&file, bmcs).unwrap();
    file
}

const TWO_BMCS: &str = r#"
[[bmc]]
name = "gpu-a01"
listen = "127.0.0.1:0"
mockup = "../mockups/small"
username = "root"
password = "calvin"

[[bmc]]
name = "gpu-a02"
listen = "127.0.0.1:0"
mockup = "../mockups/small"
scenario = "../scenarios/psu-failed.json"
username = "admin"
password = "secret"
sessions = false
page_size = 2
"#;

#[tokio::test]
async fn rack_starts_two_bmcs() {
    let dir = TempDir::new("rack");
    let config = RackConfig::load(&write_rack(&dir, TWO_BMCS)).unwrap();

    let rack = Rack::start(&config).await.unwrap();

    let names: Vec<&str> = rack.bmcs().iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["gpu-a01", "gpu-a02"]);
    let first = rack.get("gpu-a01").unwrap();
    let second = rack.get("gpu-a02").unwrap();
    assert_ne!(first.addr(), second.addr());

    let psu = "/redfish/v1/Chassis/1/PowerSubsystem/PowerSupplies/PSU1";
    let (status, body) = get_basic(&client_for(first), first, psu).await;
    assert_eq!(status, 200);
    assert_eq!(body["Status"]["Health"], "OK");

    let response = client_for(second)
        .get(format!("{}{psu}", second.base_url()))
        .basic_auth("admin", Some("secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["Status"]["Health"], "Critical");

    assert_eq!(first.stats().requests, 1);
    assert_eq!(second.stats().requests, 1);
    rack.shutdown().await;
}

#[test]
fn rack_config_reports_every_problem() {
    let dir = TempDir::new("rack-bad");
    let bmcs = r#"
[[bmc]]
name = "a"
listen = "10.0.0.5:443"
mockup = "../mockups/small"
username = "root"
password = "calvin"

[[bmc]]
name = "a"
listen = "127.0.0.1:0"
mockup = "../mockups/small"
username = "root"
password = "calvin"
page_size = 0
"#;

    let err = RackConfig::load(&write_rack(&dir, bmcs)).unwrap_err().to_string();

    assert!(err.contains("rack.toml"), "{err}");
    assert!(err.contains("`10.0.0.5:443` is not loopback"), "{err}");
    assert!(err.contains("duplicate BMC name `a`"), "{err}");
    assert!(err.contains("page_size must be at least 1"), "{err}");
}

#[test]
fn rack_config_unknown_field_rejected() {
    let dir = TempDir::new("rack-field");
    let bmcs = "[[bmc]]\nname = \"a\"\nlisten = \"127.0.0.1:0\"\nmockup = \"m\"\nusername = \"u\"\npassword = \"p\"\npasword = \"typo\"\n";

    let err = RackConfig::load(&write_rack(&dir, bmcs)).unwrap_err();

    assert!(format!("{err:#}").contains("rack.toml"), "{err}");
    assert!(
        std::error::Error::source(&err).unwrap().to_string().contains("pasword"),
        "{err:?}"
    );
}

#[tokio::test]
async fn bmcs_share_loaded_mockup() {
    let mockup = test_mockup();
    let first = MockBmc::start(Arc::clone(&mockup), BmcConfig::loopback(USER, PASSWORD))
        .await
        .unwrap();
    let second = MockBmc::start(Arc::clone(&mockup), BmcConfig::loopback(USER, PASSWORD))
        .await
        .unwrap();

    assert_eq!(Arc::strong_count(&mockup), 3);
    first.shutdown().await;
    second.shutdown().await;
}
