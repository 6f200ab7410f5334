//! Scans real BMC captures served by mock-bmc over HTTPS, as one rack.
//!
//! Runs only when RACKCHECK_REAL_MOCKUPS names a folder of DMTF-layout captures (one folder
//! per BMC). For each capture with a Systems collection, the node must be read without error,
//! and the counts of CPUs, DIMMs, drives and PSUs in its facts must equal the counts this test
//! reads from the capture's files by itself. Served with `$expand` up to the `MaxLevels` its
//! vendor advertises, each capture must give the same facts from fewer requests.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mock_bmc::{BmcConfig, Mockup};
use serde_json::Value;

use common::{PASSWORD, TestRack, USERNAME};

/// Lists the server captures under RACKCHECK_REAL_MOCKUPS, `None` when it is not set.
fn server_captures() -> Option<Vec<PathBuf>> {
    let Some(root) = std::env::var_os("RACKCHECK_REAL_MOCKUPS").map(PathBuf::from) else {
        eprintln!("RACKCHECK_REAL_MOCKUPS is not set; skipping the real-mockup scan");
        return None;
    };

    let mut servers = Vec::new();
    for entry in std::fs::read_dir(&root).expect("RACKCHECK_REAL_MOCKUPS is a readable folder") {
        let dir = entry.unwrap().path();
        if dir.join("redfish/v1/Systems").is_dir() {
            servers.push(dir);
        } else {
            eprintln!(
                "skipping {}: no Systems collection, not a server capture",
                dir.display()
            );
        }
    }
    servers.sort();
    assert!(!servers.is_empty(), "no server captures under {}", root.display());
    Some(servers)
}

fn capture_name(dir: &Path) -> String {
    dir.file_name().unwrap().to_string_lossy().into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_mockups_scan_as_one_rack() {
    let Some(servers) = server_captures() else { return };

    let names: Vec<String> = servers.iter().map(|dir| capture_name(dir)).collect();
    let mut rack = TestRack::new();
    for (name, dir) in names.iter().zip(&servers) {
        rack.add_dir(name, dir, None, "gpu-compute").await;
    }
    let report = rack.scan().await;

    let mut mismatches = Vec::new();
    for (name, dir) in names.iter().zip(&servers) {
        let node = report
            .nodes
            .iter()
            .find(|node| &node.hostname == name)
            .expect("node in report");
        assert!(node.error.is_none(), "{name}: read failed: {:?}", node.error);
        let facts = node.facts.as_ref().expect("facts of a node without error");
        let expected = count_in_files(dir);
        let installed_psus = facts
            .power
            .supplies
            .iter()
            .filter(|psu| psu.state.as_deref() != Some("Absent"))
            .count();
        let seen = Counts {
            cpus: facts.cpus.len(),
            dimms: facts.dimms.len(),
            drives: facts.drives.len(),
            psus: installed_psus,
        };
        eprintln!("{name}: verdict {} facts {seen:?} files {expected:?}", node.verdict);
        if seen != expected {
            mismatches.push(format!("{name}: facts {seen:?} but files {expected:?}"));
        }
    }
    assert!(mismatches.is_empty(), "counts differ:\n{}", mismatches.join("\n"));
    assert_eq!(rack.open_sessions(), 0, "sessions left open on the mock BMCs");
    rack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_mockups_read_alike_with_expand() {
    let Some(servers) = server_captures() else { return };

    let mut plain = TestRack::new();
    let mut expanded = TestRack::new();
    for dir in &servers {
        let name = capture_name(dir);
        let load = || Mockup::load(dir).unwrap_or_else(|err| panic!("mockup {}: {err}", dir.display()));
        plain
            .add_mockup(&name, load(), BmcConfig::loopback(USERNAME, PASSWORD), "gpu-compute")
            .await;
        let config = BmcConfig {
            expand: true,
            ..BmcConfig::loopback(USERNAME, PASSWORD)
        };
        expanded.add_mockup(&name, load(), config, "gpu-compute").await;
    }
    let (plain_report, expanded_report) = futures::join!(plain.scan(), expanded.scan());

    let mut differences = Vec::new();
    for dir in &servers {
        let name = capture_name(dir);
        let facts = |rack: &TestRack, report: &rackcheck::scan::ScanReport| {
            let node = report
                .nodes
                .iter()
                .find(|node| node.hostname == name)
                .expect("node in report");
            assert!(node.error.is_none(), "{name}: read failed: {:?}", node.error);
            comparable_facts(node.facts.as_ref().expect("facts"), &rack.bmc(&name).addr().to_string())
        };
        let plain_stats = plain.bmc(&name).stats();
        let expanded_stats = expanded.bmc(&name).stats();
        eprintln!(
            "{name}: {} requests plain, {} with $expand",
            plain_stats.requests, expanded_stats.requests
        );
        if facts(&plain, &plain_report) != facts(&expanded, &expanded_report) {
            differences.push(format!("{name}: facts differ with $expand"));
        }
        if expanded_stats.requests > plain_stats.requests {
            differences.push(format!(
                "{name}: {} requests with $expand, {} without",
                expanded_stats.requests, plain_stats.requests
            ));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    assert_eq!(expanded.open_sessions(), 0, "sessions left open on the mock BMCs");
    plain.shutdown().await;
    expanded.shutdown().await;
}

/// Returns `facts` as JSON with the problems in URI order and the BMC's address left out of
/// their messages, since two scans read concurrent parts in different orders.
fn comparable_facts(facts: &rackcheck::facts::NodeFacts, bmc_addr: &str) -> Value {
    let mut value = serde_json::to_value(facts).unwrap();
    if let Some(Value::Array(problems)) = value.get_mut("problems") {
        for problem in problems.iter_mut() {
            if let Some(Value::String(message)) = problem.get_mut("message") {
                *message = message.replace(bmc_addr, "BMC");
            }
        }
        problems.sort_by_key(|problem| problem.to_string());
    }
    value
}

#[derive(Debug, PartialEq, Eq)]
struct Counts {
    cpus: usize,
    dimms: usize,
    drives: usize,
    psus: usize,
}

/// Reads a capture's files directly, without rackcheck's collector.
fn count_in_files(dir: &Path) -> Counts {
    let v1 = dir.join("redfish/v1");
    let host = host_system(&v1);

    let cpus = members(&v1, &format!("Systems/{host}/Processors"))
        .iter()
        .filter(|p| p["ProcessorType"] == "CPU" && !is_absent(p))
        .count();
    let dimms = members(&v1, &format!("Systems/{host}/Memory"))
        .iter()
        .filter(|m| !is_absent(m) && m["CapacityMiB"] != 0 && !is_gpu_memory(m))
        .count();
    Counts {
        cpus,
        dimms,
        drives: count_drives(&v1, &host),
        psus: count_psus(&v1),
    }
}

/// Finds the host: the first system, HGX baseboards aside, that lists a CPU; else the first system
/// that is not a baseboard.
fn host_system(v1: &Path) -> String {
    let systems: Vec<String> = subfolders(&v1.join("Systems"))
        .into_iter()
        .filter(|id| !id.starts_with("HGX_"))
        .collect();
    let has_cpu = |id: &String| {
        members(v1, &format!("Systems/{id}/Processors"))
            .iter()
            .any(|p| p["ProcessorType"] == "CPU")
    };
    systems
        .iter()
        .find(|id| has_cpu(id))
        .or(systems.first())
        .cloned()
        .expect("a host system")
}

/// Drives linked from the host's Storage resources and listed under any chassis, once each
/// by URI and by serial number, then SimpleStorage devices that none of those lists.
///
/// SimpleStorage repeats drives on some BMCs (Supermicro X13, without serial numbers), so a
/// device without a serial that shares its model with a drive already counted is taken to be
/// that drive, one to one. BMC virtual media and Dell's backplane entries are not drives.
fn count_drives(v1: &Path, host: &str) -> usize {
    let mut uris = BTreeSet::new();
    for storage in members(v1, &format!("Systems/{host}/Storage")) {
        for link in storage["Drives"].as_array().into_iter().flatten() {
            if let Some(uri) = link["@odata.id"].as_str() {
                uris.insert(uri.trim_end_matches('/').to_string());
            }
        }
    }
    for chassis in chassis_paths(v1) {
        for drive in members(v1, &format!("{chassis}/Drives")) {
            if let Some(uri) = drive["@odata.id"].as_str() {
                uris.insert(uri.trim_end_matches('/').to_string());
            }
        }
    }

    let mut serials = BTreeSet::new();
    let mut models = Vec::new();
    let mut count = 0;
    for uri in uris {
        let Some(drive) = read(v1, uri.trim_start_matches("/redfish/v1/")) else {
            continue;
        };
        if is_absent(&drive) {
            continue;
        }
        match drive["SerialNumber"].as_str().filter(|s| !s.trim().is_empty()) {
            Some(serial) if !serials.insert(serial.to_string()) => {}
            _ => {
                count += 1;
                models.push(drive["Model"].as_str().unwrap_or("").trim().to_string());
            }
        }
    }

    for simple in members(v1, &format!("Systems/{host}/SimpleStorage")) {
        for device in simple["Devices"].as_array().into_iter().flatten() {
            let name = device["Name"].as_str().unwrap_or("");
            let model = device["Model"].as_str().unwrap_or("").trim().to_string();
            let is_virtual = name.starts_with("Virtual") || model.starts_with("Virtual");
            if is_absent(device) || is_virtual || name.contains("Backplane") {
                continue;
            }
            let serial = device["SerialNumber"].as_str().filter(|s| !s.trim().is_empty());
            let known = match serial {
                Some(serial) => !serials.insert(serial.to_string()),
                None => match models.iter().position(|m| !model.is_empty() && *m == model) {
                    Some(index) => {
                        models.remove(index);
                        true
                    }
                    None => false,
                },
            };
            if !known {
                count += 1;
            }
        }
    }
    count
}

/// Installed PSUs per chassis: PowerSubsystem's when it lists any, else Power's.
///
/// Power shelves (NVIDIA GB200 racks) are separate BMCs, so every PSU under this BMC's
/// chassis belongs to the server.
fn count_psus(v1: &Path) -> usize {
    chassis_paths(v1)
        .iter()
        .map(|chassis| {
            let subsystem = members(v1, &format!("{chassis}/PowerSubsystem/PowerSupplies"));
            if !subsystem.is_empty() {
                return subsystem.iter().filter(|psu| !is_absent(psu)).count();
            }
            read(v1, &format!("{chassis}/Power"))
                .and_then(|power| power["PowerSupplies"].as_array().cloned())
                .unwrap_or_default()
                .iter()
                .filter(|psu| !is_absent(psu))
                .count()
        })
        .sum()
}

/// Paths of the Chassis collection's members, relative to `redfish/v1` (`Chassis/1`,
/// `Chassis/RackMount/Baseboard`).
fn chassis_paths(v1: &Path) -> Vec<String> {
    let Some(index) = read(v1, "Chassis") else {
        return Vec::new();
    };
    index["Members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|link| link["@odata.id"].as_str())
        .map(|uri| uri.trim_end_matches('/').trim_start_matches("/redfish/v1/").to_string())
        .collect()
}

fn is_absent(resource: &Value) -> bool {
    resource["Status"]["State"] == "Absent"
}

/// HBM of a GPU or accelerator listed in the host's Memory collection (Grace systems).
fn is_gpu_memory(memory: &Value) -> bool {
    let kind = memory["MemoryDeviceType"].as_str().unwrap_or("");
    kind.starts_with("HBM") || memory["MemoryType"] == "IntelOptane"
}

/// Reads the members of a collection from their own files.
fn members(v1: &Path, collection: &str) -> Vec<Value> {
    let Some(index) = read(v1, collection) else {
        return Vec::new();
    };
    index["Members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|link| link["@odata.id"].as_str())
        .filter_map(|uri| read(v1, uri.trim_end_matches('/').trim_start_matches("/redfish/v1/")))
        .collect()
}

fn read(v1: &Path, relative: &str) -> Option<Value> {
    let text = std::fs::read(v1.join(relative).join("index.json")).ok()?;
    let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&text);
    serde_json::from_slice(text).ok()
}

fn subfolders(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|entry| entry.path().is_dir())
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
