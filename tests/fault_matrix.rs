//! The fault matrix: one mock rack in which every fault kind of mock-bmc appears on its own
//! BMC next to healthy ones, checked against a fault-free scan of the same mockups.
//!
//! The rack is built and scanned once per test binary ([`matrix`]). Each test then checks one
//! property of that scan: healthy nodes read as in the baseline, each fault case ends as its
//! row of [`cases`] expects, no session is left open, and the scan ends within its deadline.
//! Each fault case has its own test, named after its hostname, so a failure names the fault.

mod common;

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use mock_bmc::{
    BmcConfig, ControlCharacter, Fault, FaultRule, LoginLocation, MockBmc, Mockup, Stats, TlsVersion, WaitMessage,
};
use rackcheck::credentials::Credentials;
use rackcheck::facts::{NodeFacts, Problem};
use rackcheck::inventory::BmcAddress;
use rackcheck::policy::{Finding, Status, Verdict};
use rackcheck::redfish::{RedfishClient, RetryPolicy};
use rackcheck::scan::{NodeReport, ScanOptions, ScanReport};

use common::{PASSWORD, TestRack, USERNAME, mock_bmc_dir};

const DELL: &str = "dell-xe9680-h100";
const SUPERMICRO: &str = "supermicro-as4125gs-l40s";
const LENOVO: &str = "lenovo-sr655v3-storage";
const MOCKUPS: [&str; 3] = [DELL, SUPERMICRO, LENOVO];

const NODE_DEADLINE: Duration = Duration::from_secs(8);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

/// Time the scan may take beyond the node deadline. It covers the logout after a node that ran
/// out of time (one request timeout, retried once) and the wait for background logouts (two
/// request timeouts), plus slack for a loaded 2-core CI runner.
const DEADLINE_MARGIN: Duration = Duration::from_secs(6);

/// How a fault case must end.
#[derive(Debug, Clone, Copy)]
enum Expected {
    /// The same facts and findings as the healthy twin: the client recovered from the fault.
    Recovers,
    /// The same findings as the twin, and the facts gain one `BMC defect` problem on `uri`
    /// whose message contains `text`: the client repaired the body and recorded the defect.
    RecoversWithDefect { uri: &'static str, text: &'static str },
    /// The node is read, but a problem on `uri` names the cause (each string of `cause`), and
    /// exactly the findings of `unknown_rules` differ from the twin's, all with status unknown.
    Degraded {
        uri: &'static str,
        cause: &'static [&'static str],
        unknown_rules: &'static [&'static str],
    },
    /// The node ends with verdict error, no findings, and an error containing each string
    /// of `cause`.
    NodeError { cause: &'static [&'static str] },
    /// The deadline cut the reads short: the node is judged on what was read, some problem
    /// contains each string of `cause`, and every finding that differs from the twin's is
    /// unknown.
    CutShort { cause: &'static [&'static str] },
}

/// Values known only once the rack starts, for the fault configs that need them.
struct Setup {
    /// Port of a mock BMC outside the inventory, the target of the cross-port redirect.
    decoy_port: u16,
}

/// One row of the matrix: a BMC with one fault and the outcome the scan must reach.
struct Case {
    /// Hostname in the inventory, and name of the test that checks the row.
    hostname: &'static str,
    /// Mockup served, and so the healthy twin compared with. `None` is an address where
    /// nothing listens.
    mockup: Option<&'static str>,
    /// Key in `MockBmc::faults_injected` that must be counted, proving the fault fired.
    /// `None` for faults that mock-bmc does not count (TLS faults) and for no BMC at all.
    kind: Option<&'static str>,
    configure: fn(&mut BmcConfig, &Setup),
    /// Sessions the test opens before the scan and deletes after it.
    held_sessions: usize,
    expected: Expected,
}

impl Case {
    fn new(hostname: &'static str, mockup: &'static str, kind: Option<&'static str>) -> Case {
        Case {
            hostname,
            mockup: Some(mockup),
            kind,
            configure: |_, _| {},
            held_sessions: 0,
            expected: Expected::Recovers,
        }
    }

    /// Returns a row for an address where nothing listens.
    fn unreachable(hostname: &'static str, expected: Expected) -> Case {
        Case {
            mockup: None,
            ..Case::new(hostname, DELL, None).expect(expected)
        }
    }

    fn configure(mut self, configure: fn(&mut BmcConfig, &Setup)) -> Case {
        self.configure = configure;
        self
    }

    fn expect(mut self, expected: Expected) -> Case {
        self.expected = expected;
        self
    }

    fn hold_sessions(mut self, count: usize) -> Case {
        self.held_sessions = count;
        self
    }
}

/// Sets the fault rules of a BMC, with a fixed seed for the latency jitter.
fn set_rules(config: &mut BmcConfig, rules: Vec<FaultRule>) {
    config.faults.seed = 7;
    config.faults.rules = rules;
}

/// Returns the matrix: every fault kind of mock-bmc on its own BMC, with the outcome expected.
///
/// Triggers are `first_n`, a share of 1.0 or none, never a random share, so every run injects
/// the same faults in whatever order the concurrent requests arrive. Stated waits are 1 s,
/// inside the retry policy's 2 s maximum wait.
fn cases() -> Vec<Case> {
    vec![
        // Slow but within the request timeout on every request: read in full.
        Case::new("latency", DELL, Some("latency")).configure(|config, _| {
            set_rules(config, vec![FaultRule::always(Fault::Latency { ms: 5, jitter_ms: 20 })]);
        }),
        // So slow that the node cannot be read within its deadline.
        Case::new("latency-over-deadline", SUPERMICRO, Some("latency"))
            .configure(|config, _| {
                set_rules(
                    config,
                    vec![FaultRule::always(Fault::Latency { ms: 400, jitter_ms: 0 })],
                );
            })
            .expect(Expected::CutShort {
                cause: &["was not read before the node deadline of 8s (raise --node-deadline"],
            }),
        // A subtree that always fails: the DIMM rules cannot be judged.
        Case::new("error-500-memory", SUPERMICRO, Some("error_500"))
            .configure(|config, _| {
                let rule = FaultRule::always(Fault::Error500 {})
                    .on_path("/redfish/v1/Systems/1/Memory")
                    .with_share(1.0);
                set_rules(config, vec![rule]);
            })
            .expect(Expected::Degraded {
                uri: "/redfish/v1/Systems/1/Memory",
                cause: &["HTTP 500", "internal service error"],
                unknown_rules: &["dimm-ecc", "memory-per-gpu"],
            }),
        // One DIMM cannot be read. The memory rules cannot be judged, because that DIMM may
        // lack ECC or capacity.
        Case::new("error-500-dimm", SUPERMICRO, Some("error_500"))
            .configure(|config, _| {
                set_rules(
                    config,
                    vec![FaultRule::always(Fault::Error500 {}).on_path("/redfish/v1/Systems/1/Memory/1")],
                );
            })
            .expect(Expected::Degraded {
                uri: "/redfish/v1/Systems/1/Memory/1",
                cause: &["HTTP 500"],
                unknown_rules: &["dimm-ecc", "memory-per-gpu"],
            }),
        // One PSU cannot be read, so redundancy is unknown, not failed.
        Case::new("error-500-psu", LENOVO, Some("error_500"))
            .configure(|config, _| {
                set_rules(
                    config,
                    vec![
                        FaultRule::always(Fault::Error500 {})
                            .on_path("/redfish/v1/Chassis/1/PowerSubsystem/PowerSupplies/PSU1"),
                    ],
                );
            })
            .expect(Expected::Degraded {
                uri: "/redfish/v1/Chassis/1/PowerSubsystem/PowerSupplies/PSU1",
                cause: &["HTTP 500"],
                unknown_rules: &["psu-redundant"],
            }),
        // The host system's whole subtree fails, so no host can be chosen. The node's error
        // must still name the HTTP 500 behind it.
        Case::new("error-500-host", LENOVO, Some("error_500"))
            .configure(|config, _| {
                set_rules(
                    config,
                    vec![FaultRule::always(Fault::Error500 {}).on_path("/redfish/v1/Systems/1")],
                );
            })
            .expect(Expected::NodeError {
                cause: &["/redfish/v1/Systems/1", "HTTP 500"],
            }),
        // Busy twice, stating the wait in each of the three ways, so the third attempt succeeds.
        Case::new("unavailable-503-header", SUPERMICRO, Some("unavailable_503")).configure(|config, _| {
            let fault = Fault::Unavailable503 {
                retry_after_s: 1,
                header: true,
                message: WaitMessage::None,
            };
            set_rules(
                config,
                vec![FaultRule::always(fault).on_path("/redfish/v1/Systems").first_n(2)],
            );
        }),
        Case::new("unavailable-503-base", DELL, Some("unavailable_503")).configure(|config, _| {
            let fault = Fault::Unavailable503 {
                retry_after_s: 1,
                header: false,
                message: WaitMessage::Base,
            };
            set_rules(
                config,
                vec![FaultRule::always(fault).on_path("/redfish/v1/Chassis").first_n(2)],
            );
        }),
        Case::new("unavailable-503-vendor", LENOVO, Some("unavailable_503")).configure(|config, _| {
            let fault = Fault::Unavailable503 {
                retry_after_s: 1,
                header: false,
                message: WaitMessage::VendorBusy,
            };
            set_rules(
                config,
                vec![FaultRule::always(fault).on_path("/redfish/v1/Managers").first_n(2)],
            );
        }),
        Case::new("too-many-requests-429", SUPERMICRO, Some("too_many_requests_429")).configure(|config, _| {
            let fault = Fault::TooManyRequests429 { retry_after_s: 1 };
            set_rules(
                config,
                vec![FaultRule::always(fault).on_path("/redfish/v1/UpdateService").first_n(2)],
            );
        }),
        // The connection is cut mid-body twice, and the GETs are retried.
        Case::new("reset", DELL, Some("reset")).configure(|config, _| {
            let fault = Fault::Reset { keep_fraction: 0.5 };
            set_rules(
                config,
                vec![FaultRule::always(fault).on_path("/redfish/v1/Systems").first_n(2)],
            );
        }),
        // One resource never responds. It times out, is retried once, and its rules are unknown.
        Case::new("hang-bios", SUPERMICRO, Some("hang"))
            .configure(|config, _| {
                set_rules(
                    config,
                    vec![FaultRule::always(Fault::Hang {}).on_path("/redfish/v1/Systems/1/Bios")],
                );
            })
            .expect(Expected::Degraded {
                uri: "/redfish/v1/Systems/1/Bios",
                cause: &["timed out after 1s"],
                unknown_rules: &["bios-iommu-disabled"],
            }),
        // The login itself never responds. A POST is not retried after a timeout, because the
        // BMC may have created the session.
        Case::new("hang-login", LENOVO, Some("hang"))
            .configure(|config, _| {
                set_rules(
                    config,
                    vec![FaultRule::always(Fault::Hang {}).on_path("/redfish/v1/SessionService/Sessions")],
                );
            })
            .expect(Expected::NodeError {
                cause: &["/redfish/v1/SessionService/Sessions timed out after 1s"],
            }),
        // The boot volume's body is cut short. The boot-volume rules cannot be judged, nor can
        // the data-drive rule, because the volume links the boot drives.
        Case::new("truncated-json", LENOVO, Some("truncated_json"))
            .configure(|config, _| {
                let rule = FaultRule::always(Fault::TruncatedJson { keep_fraction: 0.5 })
                    .on_path("/redfish/v1/Systems/1/Storage/RAID_M.2/Volumes/Volume0");
                set_rules(config, vec![rule]);
            })
            .expect(Expected::Degraded {
                uri: "/redfish/v1/Systems/1/Storage/RAID_M.2/Volumes/Volume0",
                cause: &["invalid JSON", "at byte"],
                unknown_rules: &["boot-volume-capacity", "boot-volume-raid1", "storage-data-jbod"],
            }),
        // The host system's body is invalid JSON that the client repairs and records.
        Case::new("control-char", DELL, Some("control_char"))
            .configure(|config, _| {
                let fault = Fault::ControlChar {
                    character: ControlCharacter::Soh,
                };
                set_rules(config, vec![FaultRule::always(fault).on_path("/redfish/v1/Systems/*")]);
            })
            .expect(Expected::RecoversWithDefect {
                uri: "/redfish/v1/Systems/System.Embedded.1",
                text: "raw control character",
            }),
        Case::new("bom", LENOVO, Some("bom"))
            .configure(|config, _| {
                set_rules(
                    config,
                    vec![FaultRule::always(Fault::Bom {}).on_path("/redfish/v1/Systems/*")],
                );
            })
            .expect(Expected::RecoversWithDefect {
                uri: "/redfish/v1/Systems/1",
                text: "byte-order mark",
            }),
        // A web front end whose Redfish service crashed: every request gets an HTML 502 page,
        // retried until the attempts are spent.
        Case::new("html-error", SUPERMICRO, Some("html_error"))
            .configure(|config, _| {
                set_rules(config, vec![FaultRule::always(Fault::HtmlError { status: 502 })]);
            })
            .expect(Expected::NodeError {
                cause: &["/redfish/v1/", "HTTP 502", "Bad Gateway"],
            }),
        // A web front end that returns its HTML error page with status 200.
        Case::new("html-error-200", LENOVO, Some("html_error"))
            .configure(|config, _| {
                set_rules(
                    config,
                    vec![FaultRule::always(Fault::HtmlError { status: 200 }).on_path("/redfish/v1/Systems/1/Bios")],
                );
            })
            .expect(Expected::Degraded {
                uri: "/redfish/v1/Systems/1/Bios",
                cause: &["invalid JSON", "at byte 0", "(the body is text/html, not JSON)"],
                unknown_rules: &["bios-iommu-disabled"],
            }),
        Case::new("redirect-trailing-slash", LENOVO, Some("redirect_trailing_slash")).configure(|config, _| {
            set_rules(
                config,
                vec![FaultRule::always(Fault::RedirectTrailingSlash { status: 308 })],
            );
        }),
        // Every request is redirected to another BMC, which must receive nothing.
        Case::new("redirect-other-port", DELL, Some("redirect_other_port"))
            .configure(|config, setup| {
                let fault = Fault::RedirectOtherPort {
                    port: setup.decoy_port,
                    status: 307,
                };
                set_rules(config, vec![FaultRule::always(fault)]);
            })
            .expect(Expected::NodeError {
                cause: &[
                    "redirects to `https://127.0.0.1:",
                    "which is not on the BMC; not followed",
                ],
            }),
        // The one session slot is taken by the test before the scan.
        Case::new("session-limit", SUPERMICRO, Some("session_limit"))
            .configure(|config, _| config.faults.sessions.limit = Some(1))
            .hold_sessions(1)
            .expect(Expected::NodeError {
                cause: &[
                    "session limit is reached",
                    "The maximum number of user sessions is reached.",
                ],
            }),
        // Tokens expire 2 s after login, and latency stretches the node past 2 s, so the
        // client logs in again mid-scan. The expiry is long enough that a read retried after
        // a re-login does not meet the next expiry while it waits for an in-flight slot.
        Case::new("session-expiry", DELL, Some("latency")).configure(|config, _| {
            config.faults.sessions.expiry_s = Some(2);
            set_rules(config, vec![FaultRule::always(Fault::Latency { ms: 30, jitter_ms: 0 })]);
        }),
        Case::new("login-location-missing", DELL, Some("login_location_missing")).configure(|config, _| {
            config.faults.sessions.login_location = LoginLocation::Missing;
        }),
        Case::new("login-location-absolute", SUPERMICRO, Some("login_location_absolute")).configure(|config, _| {
            config.faults.sessions.login_location = LoginLocation::Absolute;
        }),
        // Expanded members lack `Status`. The collector checks expanded members against a
        // plain GET and reads the members one by one when they differ.
        Case::new("expand-drops-properties", LENOVO, Some("expand_drops_properties")).configure(|config, _| {
            config.expand = true;
            let fault = Fault::ExpandDropsProperties {
                properties: vec!["Status".to_string()],
            };
            set_rules(config, vec![FaultRule::always(fault)]);
        }),
        // The rack's CA bundle contains the expired certificate, but it is still rejected.
        Case::new("tls-expired", SUPERMICRO, None)
            .configure(|config, _| config.faults.tls.expired = true)
            .expect(Expected::NodeError {
                cause: &["TLS certificate of", "rejected", "expired"],
            }),
        Case::new("tls-1-2-only", DELL, None).configure(|config, _| {
            config.faults.tls.max_version = Some(TlsVersion::Tls12);
        }),
        Case::unreachable(
            "unreachable",
            Expected::NodeError {
                cause: &["cannot connect", "Connection refused"],
            },
        ),
    ]
}

/// Hostnames of the healthy nodes scanned next to the faulty ones, with their mockups.
const HEALTHY: [(&str, &str); 3] = [
    ("healthy-dell", DELL),
    ("healthy-supermicro", SUPERMICRO),
    ("healthy-lenovo", LENOVO),
];

/// The outcome of the baseline scan and of the matrix scan, kept after the BMCs stop.
struct Matrix {
    /// The fault-free scan's node for each mockup.
    baseline: BTreeMap<&'static str, NodeReport>,
    report: ScanReport,
    /// Wall time of the matrix scan.
    elapsed: Duration,
    /// Each BMC's counts right after the scan, by hostname.
    stats: BTreeMap<String, Stats>,
    /// Each BMC's injected faults by kind, by hostname.
    injected: BTreeMap<String, BTreeMap<String, u64>>,
    /// Counts of the redirect target outside the inventory.
    decoy: Stats,
}

/// Runs the baseline and matrix scans on first use, in a runtime of their own, and returns
/// their outcome to every test of this binary.
fn matrix() -> &'static Matrix {
    static MATRIX: OnceLock<Matrix> = OnceLock::new();
    MATRIX.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime builds")
            .block_on(run_matrix())
    })
}

fn load(mockup: &str) -> Mockup {
    Mockup::load(&mock_bmc_dir().join("mockups").join(mockup)).unwrap()
}

fn role(mockup: &str) -> &'static str {
    if mockup == LENOVO { "storage" } else { "gpu-compute" }
}

/// Options with short timeouts and retry waits, trusting the rack's CA bundle.
fn scan_options(ca: &tempfile::NamedTempFile) -> ScanOptions {
    let mut options = ScanOptions {
        node_deadline: NODE_DEADLINE,
        ..ScanOptions::default()
    };
    options.client.ca_file = Some(ca.path().to_path_buf());
    options.client.request_timeout = REQUEST_TIMEOUT;
    options.client.connect_timeout = REQUEST_TIMEOUT;
    options.client.retry = RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(2),
        max_wait_total: Duration::from_secs(4),
    };
    options
}

async fn run_matrix() -> Matrix {
    let baseline = scan_baseline().await;

    let decoy = MockBmc::start(
        std::sync::Arc::new(load(SUPERMICRO)),
        BmcConfig::loopback(USERNAME, PASSWORD),
    )
    .await
    .expect("decoy BMC starts");
    let setup = Setup {
        decoy_port: decoy.addr().port(),
    };

    let mut rack = TestRack::new();
    for (hostname, mockup) in HEALTHY {
        let config = BmcConfig::loopback(USERNAME, PASSWORD);
        rack.add_mockup(hostname, load(mockup), config, role(mockup)).await;
    }
    let cases = cases();
    for case in &cases {
        match case.mockup {
            Some(mockup) => {
                let mut config = BmcConfig::loopback(USERNAME, PASSWORD);
                (case.configure)(&mut config, &setup);
                rack.add_mockup(case.hostname, load(mockup), config, role(mockup)).await;
            }
            None => rack.add_unreachable(case.hostname),
        }
    }
    let ca = rack.ca_bundle();
    let options = scan_options(&ca);

    let client = RedfishClient::new(&options.client).expect("client builds");
    let credentials = Credentials::new(USERNAME, PASSWORD);
    let mut test_sessions = Vec::new();
    for case in cases.iter().filter(|case| case.held_sessions > 0) {
        let address = BmcAddress::parse(&rack.bmc(case.hostname).base_url()).unwrap();
        for _ in 0..case.held_sessions {
            test_sessions.push(
                client
                    .login(&address, &credentials)
                    .await
                    .expect("the held session opens"),
            );
        }
    }

    let started = Instant::now();
    let report = rack.scan_with(&options).await;
    let elapsed = started.elapsed();

    let stats = rack
        .bmcs
        .iter()
        .map(|(hostname, bmc)| (hostname.clone(), bmc.stats()))
        .collect();
    let injected = rack
        .bmcs
        .iter()
        .map(|(hostname, bmc)| (hostname.clone(), bmc.faults_injected()))
        .collect();
    let decoy_stats = decoy.stats();

    for session in test_sessions {
        session.logout().await.expect("the held session closes");
    }
    rack.shutdown().await;
    decoy.shutdown().await;

    Matrix {
        baseline,
        report,
        elapsed,
        stats,
        injected,
        decoy: decoy_stats,
    }
}

/// Scans one fault-free BMC of each mockup and returns its node by mockup.
async fn scan_baseline() -> BTreeMap<&'static str, NodeReport> {
    let mut rack = TestRack::new();
    for mockup in MOCKUPS {
        let config = BmcConfig::loopback(USERNAME, PASSWORD);
        rack.add_mockup(mockup, load(mockup), config, role(mockup)).await;
    }
    let ca = rack.ca_bundle();
    let report = rack.scan_with(&scan_options(&ca)).await;
    rack.shutdown().await;

    MOCKUPS
        .into_iter()
        .map(|mockup| (mockup, node(&report, mockup).clone()))
        .collect()
}

fn node<'a>(report: &'a ScanReport, hostname: &str) -> &'a NodeReport {
    report
        .nodes
        .iter()
        .find(|node| node.hostname == hostname)
        .unwrap_or_else(|| panic!("no node {hostname} in the report"))
}

fn sorted_problems(facts: &NodeFacts) -> Vec<Problem> {
    let mut problems = facts.problems.clone();
    problems.sort_by(|a, b| (&a.uri, &a.message).cmp(&(&b.uri, &b.message)));
    problems
}

/// Returns the facts without their problems, which are compared as sets.
fn without_problems(facts: &NodeFacts) -> NodeFacts {
    NodeFacts {
        problems: Vec::new(),
        ..facts.clone()
    }
}

/// Returns the rules whose findings differ between `node` and `twin`.
fn changed_rules(node: &[Finding], twin: &[Finding]) -> Vec<String> {
    let mut rules: Vec<String> = node
        .iter()
        .filter(|finding| !twin.contains(finding))
        .map(|finding| finding.rule.clone())
        .collect();
    rules.sort();
    rules.dedup();
    rules
}

fn facts(node: &NodeReport) -> &NodeFacts {
    node.facts
        .as_ref()
        .unwrap_or_else(|| panic!("{}: no facts; error {:?}", node.hostname, node.error))
}

/// Checks that `node` has the same verdict, findings, facts and problems as `twin`.
fn assert_reads_as_twin(node: &NodeReport, twin: &NodeReport) {
    let hostname = &node.hostname;
    assert!(node.error.is_none(), "{hostname}: {:?}", node.error);
    assert_eq!(node.verdict, twin.verdict, "{hostname}");
    assert_eq!(node.findings, twin.findings, "{hostname}");
    assert_eq!(sorted_problems(facts(node)), sorted_problems(facts(twin)), "{hostname}");
    assert_eq!(
        without_problems(facts(node)),
        without_problems(facts(twin)),
        "{hostname}"
    );
}

/// Checks one row of [`cases`] against the matrix scan.
fn check_case(hostname: &str) {
    let matrix = matrix();
    let cases = cases();
    let case = cases
        .iter()
        .find(|case| case.hostname == hostname)
        .unwrap_or_else(|| panic!("no case {hostname}"));
    let node = node(&matrix.report, hostname);

    if let Some(kind) = case.kind {
        let injected = &matrix.injected[hostname];
        assert!(
            injected.contains_key(kind),
            "{hostname}: {kind} never fired: {injected:?}"
        );
    }

    match case.expected {
        Expected::Recovers => {
            let twin = &matrix.baseline[case.mockup.expect("a recovering case serves a mockup")];
            assert_reads_as_twin(node, twin);
        }
        Expected::RecoversWithDefect { uri, text } => {
            let twin = &matrix.baseline[case.mockup.expect("a recovering case serves a mockup")];
            assert!(node.error.is_none(), "{hostname}: {:?}", node.error);
            assert_eq!(node.verdict, twin.verdict, "{hostname}");
            assert_eq!(node.findings, twin.findings, "{hostname}");
            assert_eq!(
                without_problems(facts(node)),
                without_problems(facts(twin)),
                "{hostname}"
            );

            let twin_problems = sorted_problems(facts(twin));
            let added: Vec<Problem> = sorted_problems(facts(node))
                .into_iter()
                .filter(|problem| !twin_problems.contains(problem))
                .collect();
            assert_eq!(added.len(), 1, "{hostname}: problems added: {added:#?}");
            assert_eq!(added[0].uri, uri, "{hostname}");
            assert!(
                added[0].message.starts_with("BMC defect: "),
                "{hostname}: {:?}",
                added[0]
            );
            assert!(added[0].message.contains(text), "{hostname}: {:?}", added[0]);
        }
        Expected::Degraded {
            uri,
            cause,
            unknown_rules,
        } => {
            let twin = &matrix.baseline[case.mockup.expect("a degraded case serves a mockup")];
            assert!(node.error.is_none(), "{hostname}: {:?}", node.error);
            let problem = facts(node)
                .problems
                .iter()
                .find(|problem| problem.uri == uri)
                .unwrap_or_else(|| panic!("{hostname}: no problem on {uri}: {:#?}", facts(node).problems));
            for text in cause {
                assert!(
                    problem.message.contains(text),
                    "{hostname}: {text:?} not in {problem:?}"
                );
            }
            assert_eq!(
                changed_rules(&node.findings, &twin.findings),
                unknown_rules,
                "{hostname}"
            );
            for rule in unknown_rules {
                let finding = node.findings.iter().find(|finding| finding.rule == *rule).unwrap();
                assert_eq!(finding.status, Status::Unknown, "{hostname}: {finding:#?}");
            }
            assert_ne!(
                node.verdict,
                Verdict::Pass,
                "{hostname}: a node with unknown findings passed"
            );
        }
        Expected::CutShort { cause } => {
            let twin = &matrix.baseline[case.mockup.expect("a cut-short case serves a mockup")];
            assert!(node.error.is_none(), "{hostname}: {:?}", node.error);
            let problems = &facts(node).problems;
            let late = problems
                .iter()
                .find(|problem| cause.iter().all(|text| problem.message.contains(text)))
                .unwrap_or_else(|| panic!("{hostname}: no problem names the deadline: {problems:#?}"));
            assert!(late.uri.starts_with("/redfish/v1"), "{hostname}: {late:?}");
            let changed = changed_rules(&node.findings, &twin.findings);
            assert!(!changed.is_empty(), "{hostname}: no finding changed");
            for rule in &changed {
                let finding = node.findings.iter().find(|finding| finding.rule == *rule).unwrap();
                assert_eq!(finding.status, Status::Unknown, "{hostname}: {finding:#?}");
            }
            assert_eq!(node.verdict, Verdict::Unknown, "{hostname}");
        }
        Expected::NodeError { cause } => {
            assert_eq!(node.verdict, Verdict::Error, "{hostname}: {:#?}", node.findings);
            assert!(node.findings.is_empty(), "{hostname}: {:#?}", node.findings);
            assert!(node.facts.is_none(), "{hostname}");
            let error = node.error.as_deref().unwrap_or_else(|| panic!("{hostname}: no error"));
            for text in cause {
                assert!(error.contains(text), "{hostname}: {text:?} not in {error:?}");
            }
        }
    }
}

/// Declares one test per row of [`cases`], and the list of rows they cover.
macro_rules! case_tests {
    ($($test:ident => $hostname:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check_case($hostname);
            }
        )*

        const TESTED_CASES: &[&str] = &[$($hostname),*];
    };
}

case_tests! {
    latency => "latency",
    latency_over_deadline => "latency-over-deadline",
    error_500_memory => "error-500-memory",
    error_500_host => "error-500-host",
    error_500_dimm => "error-500-dimm",
    error_500_psu => "error-500-psu",
    unavailable_503_header => "unavailable-503-header",
    unavailable_503_base => "unavailable-503-base",
    unavailable_503_vendor => "unavailable-503-vendor",
    too_many_requests_429 => "too-many-requests-429",
    reset => "reset",
    hang_bios => "hang-bios",
    hang_login => "hang-login",
    truncated_json => "truncated-json",
    control_char => "control-char",
    bom => "bom",
    html_error => "html-error",
    html_error_200 => "html-error-200",
    redirect_trailing_slash => "redirect-trailing-slash",
    redirect_other_port => "redirect-other-port",
    session_limit => "session-limit",
    session_expiry => "session-expiry",
    login_location_missing => "login-location-missing",
    login_location_absolute => "login-location-absolute",
    expand_drops_properties => "expand-drops-properties",
    tls_expired => "tls-expired",
    tls_1_2_only => "tls-1-2-only",
    unreachable => "unreachable",
}

#[test]
fn every_case_has_a_test() {
    let mut hostnames: Vec<&str> = cases().iter().map(|case| case.hostname).collect();
    let mut tested = TESTED_CASES.to_vec();
    hostnames.sort_unstable();
    tested.sort_unstable();

    assert_eq!(tested, hostnames);
}

#[test]
fn healthy_nodes_match_baseline() {
    let matrix = matrix();

    for (hostname, mockup) in HEALTHY {
        assert_reads_as_twin(node(&matrix.report, hostname), &matrix.baseline[mockup]);
    }
}

#[test]
fn baseline_reads_every_mockup() {
    let matrix = matrix();

    for mockup in MOCKUPS {
        let twin = &matrix.baseline[mockup];
        assert!(twin.error.is_none(), "{mockup}: {:?}", twin.error);
        assert!(!twin.findings.is_empty(), "{mockup}");
        let unknown: Vec<&str> = twin
            .findings
            .iter()
            .filter(|finding| finding.status == Status::Unknown)
            .map(|finding| finding.rule.as_str())
            .collect();
        assert!(
            unknown.is_empty(),
            "{mockup}: unknown findings without a fault: {unknown:?}"
        );
    }
}

#[test]
fn every_node_is_reported() {
    let matrix = matrix();

    let hostnames: Vec<&str> = matrix.report.nodes.iter().map(|node| node.hostname.as_str()).collect();

    assert_eq!(hostnames.len(), HEALTHY.len() + cases().len(), "{hostnames:?}");
}

#[test]
fn no_session_left_open() {
    let matrix = matrix();
    let cases = cases();

    for (hostname, stats) in &matrix.stats {
        let held_sessions = cases
            .iter()
            .find(|case| case.hostname == hostname)
            .map_or(0, |case| case.held_sessions);
        assert_eq!(stats.open_sessions, held_sessions, "{hostname}: {stats:?}");
    }
}

#[test]
fn scan_ends_within_deadline() {
    let matrix = matrix();

    let limit = NODE_DEADLINE + DEADLINE_MARGIN;

    assert!(
        matrix.elapsed < limit,
        "the scan took {:?}, limit {limit:?}",
        matrix.elapsed
    );
    // A node's time includes the logout after its deadline: one request timeout, retried
    // once after a timeout.
    let slowest = matrix.report.nodes.iter().map(|node| node.duration_ms).max().unwrap();
    assert!(
        Duration::from_millis(slowest) < NODE_DEADLINE + REQUEST_TIMEOUT * 2,
        "a node took {slowest} ms"
    );
}

#[test]
fn redirect_sends_nothing_to_other_port() {
    let matrix = matrix();

    assert_eq!(matrix.decoy.requests, 0, "{:?}", matrix.decoy);
    assert_eq!(matrix.decoy.failed_logins, 0);
}

#[test]
fn expired_certificate_gets_no_request() {
    let matrix = matrix();

    assert_eq!(
        matrix.stats["tls-expired"].requests, 0,
        "{:?}",
        matrix.stats["tls-expired"]
    );
}

#[test]
fn session_expiry_logs_in_again() {
    let matrix = matrix();

    let stats = &matrix.stats["session-expiry"];

    assert!(stats.logins >= 2, "no login after the token expired: {stats:?}");
}

#[test]
fn session_limit_login_not_repeated() {
    let matrix = matrix();

    let stats = &matrix.stats["session-limit"];

    assert_eq!(stats.logins, 1, "only the test's own session: {stats:?}");
    let posts: u64 = stats.requests_by_path_and_status["/redfish/v1/SessionService/Sessions"]
        .values()
        .sum();
    assert_eq!(posts, 2, "the held login and one rejected login: {stats:?}");
}
