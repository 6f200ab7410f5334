//! Discovery of BMCs on loopback addresses by their unauthenticated service root.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mock_bmc::{BmcConfig, MockBmc, Mockup};
use rackcheck::discover::{DiscoverOptions, addresses, discover, inventory_stub};
use rackcheck::inventory::Inventory;

use common::{PASSWORD, USERNAME, mock_bmc_dir};

/// Finds a port free on 127.0.3.1, which the test's BMCs then share on three loopback addresses.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.3.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn discover_finds_bmcs_on_a_range() {
    let port = free_port();
    let mockups = ["dell-xe9680-h100", "supermicro-as4125gs-l40s", "lenovo-sr655v3-storage"];
    let mut bmcs = Vec::new();
    for (index, name) in mockups.iter().enumerate() {
        let mockup = Mockup::load(&mock_bmc_dir().join("mockups").join(name)).unwrap();
        let listen: SocketAddr = format!("127.0.3.{}:{port}", index + 1).parse().unwrap();
        let config = BmcConfig {
            listen,
            ..BmcConfig::loopback(USERNAME, PASSWORD)
        };
        bmcs.push(MockBmc::start(Arc::new(mockup), config).await.unwrap());
    }
    let options = DiscoverOptions {
        port,
        rate: 200,
        concurrency: 8,
        timeout: Duration::from_secs(2),
    };

    let targets = addresses(&["127.0.3.0/29".to_string()]).unwrap();
    let found = discover(&targets, &options).await.unwrap();

    assert_eq!(targets.len(), 6);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert_eq!(found[0].address.to_string(), format!("https://127.0.3.1:{port}"));
    assert!(found.iter().all(|bmc| bmc.uuid.is_some()), "{found:#?}");
    let stub = inventory_stub(&found);
    let inventory = Inventory::parse(&stub, "discovered.csv").unwrap();
    assert_eq!(inventory.nodes.len(), 3);
    for bmc in &bmcs {
        let stats = bmc.stats();
        assert_eq!(stats.logins, 0, "discovery must not log in");
        assert_eq!(stats.failed_logins, 0);
    }
    for bmc in bmcs {
        bmc.shutdown().await;
    }
}
