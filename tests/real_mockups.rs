//! Scans real BMC captures served by mock-bmc over HTTPS, as one rack.
//!
//! Runs only when RACKCHECK_REAL_MOCKUPS names a folder of DMTF-layout captures (one folder
//! per BMC). For each capture with a Systems collection, the node must be read without error,
//! and the counts of CPUs, DIMMs, drives and PSUs in its facts must equal the counts this test
//! reads from the capture's files by itself.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use common::TestRack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_mockups_scan_as_one_rack() {
    let Some(root) = std::env::var_os("RACKCHECK_REAL_MOCKUPS").map(PathBuf::from) else {
        eprintln!("RACKCHECK_REAL_MOCKUPS is not set; skipping the real-mockup scan");
        return;
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

    let names: Vec<String> = servers
        .iter()
        .map(|dir| dir.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
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
