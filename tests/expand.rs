//! `$expand` against mock BMCs. Where the BMC advertises it, the collector must get the same
//! facts as without it from fewer requests and request no path twice. Where the expanded
//! request fails or drops properties, it must fall back to member GETs.

mod common;

use common::{PASSWORD, TestRack, USERNAME, mock_bmc_dir};
use mock_bmc::{BmcConfig, Fault, FaultRule, Faults, Mockup, Stats};
use rackcheck::scan::ScanReport;
use serde_json::Value;

const MOCKUPS: &[&str] = &["dell-xe9680-h100", "lenovo-sr655v3-storage", "supermicro-as4125gs-l40s"];

/// Scans one BMC serving `mockup` with `config` and returns the node's facts as JSON and the
/// BMC's request counts.
async fn scan_one(mockup: &str, config: BmcConfig) -> (Value, Stats) {
    let dir = mock_bmc_dir().join("mockups").join(mockup);
    let loaded = Mockup::load(&dir).unwrap_or_else(|err| panic!("mockup {mockup}: {err}"));
    let mut rack = TestRack::new();
    rack.add_mockup("node1", loaded, config, "gpu-compute").await;

    let report: ScanReport = rack.scan().await;
    let stats = rack.bmc("node1").stats();
    rack.shutdown().await;

    let node = &report.nodes[0];
    assert_eq!(node.error, None, "{mockup}: node could not be read");
    let facts = serde_json::to_value(node.facts.as_ref().expect("facts of a readable node")).unwrap();
    (facts, stats)
}

fn plain_config() -> BmcConfig {
    BmcConfig::loopback(USERNAME, PASSWORD)
}

fn expand_config() -> BmcConfig {
    BmcConfig {
        expand: true,
        ..BmcConfig::loopback(USERNAME, PASSWORD)
    }
}

/// Lists the paths the BMC served more than once, with their counts.
fn repeated_paths(stats: &Stats) -> Vec<(String, u64)> {
    stats
        .requests_by_path
        .iter()
        .filter(|(_, count)| **count > 1)
        .map(|(path, count)| (path.clone(), *count))
        .collect()
}

#[tokio::test]
async fn expand_same_facts_fewer_requests() {
    for mockup in MOCKUPS {
        let (plain_facts, plain_stats) = scan_one(mockup, plain_config()).await;
        let (expand_facts, expand_stats) = scan_one(mockup, expand_config()).await;

        assert_eq!(expand_facts, plain_facts, "{mockup}: facts differ with $expand");
        assert!(
            expand_stats.requests < plain_stats.requests,
            "{mockup}: {} requests with $expand, {} without",
            expand_stats.requests,
            plain_stats.requests
        );
        assert_eq!(
            repeated_paths(&plain_stats),
            vec![],
            "{mockup}: paths repeated without $expand"
        );
        assert_eq!(
            repeated_paths(&expand_stats),
            vec![],
            "{mockup}: paths repeated with $expand"
        );
    }
}

#[tokio::test]
async fn expand_dropping_status_falls_back() {
    for mockup in MOCKUPS {
        let (plain_facts, plain_stats) = scan_one(mockup, plain_config()).await;
        let mut config = expand_config();
        config.faults = Faults {
            rules: vec![FaultRule::always(Fault::ExpandDropsProperties {
                properties: vec!["Status".to_string()],
            })],
            ..Faults::default()
        };
        let (lossy_facts, lossy_stats) = scan_one(mockup, config).await;

        assert_eq!(
            lossy_facts, plain_facts,
            "{mockup}: facts differ when $expand drops Status"
        );
        assert!(
            lossy_stats.requests <= plain_stats.requests + 1,
            "{mockup}: {} requests with a lossy $expand, {} without $expand",
            lossy_stats.requests,
            plain_stats.requests
        );
        assert_eq!(repeated_paths(&lossy_stats), vec![], "{mockup}: paths repeated");
    }
}

#[tokio::test]
async fn expand_refused_falls_back_per_collection() {
    let memory = "/redfish/v1/Systems/System.Embedded.1/Memory";
    let (plain_facts, _) = scan_one("dell-xe9680-h100", plain_config()).await;
    let mut config = expand_config();
    config.faults = Faults {
        rules: vec![FaultRule::always(Fault::Error500 {}).on_path(memory).first_n(1)],
        ..Faults::default()
    };
    let (facts, stats) = scan_one("dell-xe9680-h100", config).await;

    assert_eq!(facts, plain_facts, "facts differ when one expanded request fails");
    assert_eq!(
        stats.requests_by_path.get(memory),
        Some(&2),
        "the failed expanded read and the plain read"
    );
    let dimm = format!("{memory}/DIMM.Socket.A1");
    assert_eq!(
        stats.requests_by_path.get(&dimm),
        Some(&1),
        "members fetched one by one"
    );
    assert_eq!(
        repeated_paths(&stats),
        vec![(memory.to_string(), 2)],
        "only the refused collection is read twice"
    );
}
