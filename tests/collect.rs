//! Runs the collector on every real BMC capture in the folder named by
//! `RACKCHECK_REAL_MOCKUPS` (one DMTF mockup per subfolder) and prints a summary per capture.
//!
//! The captures are not part of the repository, so without the variable the test prints a
//! note and passes.

use std::path::{Path, PathBuf};

use rackcheck::collect::collect;
use rackcheck::facts::NodeFacts;
use rackcheck::redfish::CaptureDir;

const MOCKUPS_VAR: &str = "RACKCHECK_REAL_MOCKUPS";

fn mockup_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap_or_else(|err| panic!("cannot list {}: {err}", root.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.join("redfish/v1").is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn summary(name: &str, facts: &NodeFacts) -> String {
    let bios_attributes = facts.bios.as_ref().map_or(0, |bios| bios.attributes.len());
    format!(
        "{name:<44} system={:<22} vendor={:<28} model={:<30} cpus={} gpus={} dimms={} drives={} volumes={} psus={} redundancy={} bios_attrs={} ports={} firmware={} problems={}",
        facts.system.id,
        facts.system.manufacturer.as_deref().unwrap_or("-"),
        facts.system.model.as_deref().unwrap_or("-"),
        facts.cpus.len(),
        facts.gpus.len(),
        facts.dimms.len(),
        facts.drives.len(),
        facts.volumes.len(),
        facts.power.supplies.len(),
        facts.power.redundancy.len(),
        bios_attributes,
        facts.network_ports.len(),
        facts.firmware.len(),
        facts.problems.len(),
    )
}

#[tokio::test]
async fn real_mockups_collect() {
    let Some(root) = std::env::var_os(MOCKUPS_VAR) else {
        println!("note: {MOCKUPS_VAR} is not set; skipping the real-capture collection test");
        return;
    };
    let root = PathBuf::from(root);
    let dirs = mockup_dirs(&root);
    assert!(!dirs.is_empty(), "no mockup folders under {}", root.display());

    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let has_systems = dir.join("redfish/v1/Systems").is_dir();
        let result = collect(&CaptureDir::new(&dir), None).await;
        match (result, has_systems) {
            (Ok(facts), _) => {
                println!("{}", summary(&name, &facts));
                for problem in &facts.problems {
                    println!("    problem: {} — {}", problem.uri, problem.message);
                }
            }
            (Err(err), false) => println!("{name:<44} expected error (no Systems collection): {err}"),
            (Err(err), true) => panic!("{name}: collection failed: {err}"),
        }
    }
}
