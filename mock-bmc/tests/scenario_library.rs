//! Every scenario in `scenarios/` applies cleanly to its base mockup, and a mock BMC serves
//! each patched, added and removed resource as the scenario describes.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{PASSWORD, USER, client_for, get_basic};
use mock_bmc::{BmcConfig, MockBmc, Mockup, Scenario};
use serde_json::Value;

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

/// Returns the base mockup's folder name: the file name before `--`.
fn base_name(file: &Path) -> String {
    let stem = file.file_stem().unwrap().to_str().unwrap();
    let (base, _) = stem
        .split_once("--")
        .unwrap_or_else(|| panic!("{stem}: scenario file names are `<base mockup>--<fault>.json`"));
    base.to_string()
}

/// Asserts that `served` shows every change of the RFC 7396 merge patch `patch`: a null
/// removes the property, an object patches recursively, anything else replaces the value.
fn assert_patched(served: &Value, patch: &Value, at: &str) {
    let Some(patch) = patch.as_object() else {
        assert_eq!(served, patch, "{at}");
        return;
    };
    for (key, change) in patch {
        let pointer = format!("{at}/{key}");
        match change {
            Value::Null => assert!(served.get(key).is_none(), "{pointer} is still served"),
            Value::Object(_) => assert_patched(&served[key], change, &pointer),
            _ => assert_eq!(&served[key], change, "{pointer}"),
        }
    }
}

#[tokio::test]
async fn every_scenario_is_served_as_written() {
    let files = scenario_files();
    assert!(files.len() >= 9, "{files:?}");
    let mut bases: HashMap<String, Mockup> = HashMap::new();

    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let scenario = Scenario::load(&file).unwrap();
        assert!(!scenario.description.is_empty(), "{name}");
        let base_name = base_name(&file);
        let base = bases.entry(base_name.clone()).or_insert_with(|| {
            Mockup::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("mockups").join(&base_name)).unwrap()
        });
        let mockup = base.try_apply(&scenario).unwrap_or_else(|err| panic!("{name}: {err}"));

        let bmc = MockBmc::start(Arc::new(mockup), BmcConfig::loopback(USER, PASSWORD))
            .await
            .unwrap();
        let client = client_for(&bmc);
        for (uri, patch) in &scenario.patch {
            let (status, served) = get_basic(&client, &bmc, uri).await;
            assert_eq!(status, 200, "{name}: GET {uri}");
            assert_patched(&served, patch, &format!("{name}: {uri}"));
        }
        for (uri, resource) in &scenario.add {
            let (status, served) = get_basic(&client, &bmc, uri).await;
            assert_eq!(status, 200, "{name}: GET {uri}");
            assert_patched(&served, resource, &format!("{name}: {uri}"));
        }
        for uri in &scenario.remove {
            let (status, _) = get_basic(&client, &bmc, uri).await;
            assert_eq!(status, 404, "{name}: GET {uri} after its removal");
        }
        bmc.shutdown().await;
    }
}

#[tokio::test]
async fn gpu_missing_leaves_seven_gpus() {
    let base = Mockup::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("mockups/dell-xe9680-h100")).unwrap();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/dell-xe9680-h100--gpu8-missing.json");
    let mockup = base.try_apply(&Scenario::load(&file).unwrap()).unwrap();
    let bmc = MockBmc::start(Arc::new(mockup), BmcConfig::loopback(USER, PASSWORD))
        .await
        .unwrap();

    let (_, processors) = get_basic(
        &client_for(&bmc),
        &bmc,
        "/redfish/v1/Systems/System.Embedded.1/Processors",
    )
    .await;

    let gpus = processors["Members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|member| member["@odata.id"].as_str().unwrap().contains("Video.Slot"))
        .count();
    assert_eq!(gpus, 7);
    assert_eq!(
        processors["Members@odata.count"].as_u64().unwrap() as usize,
        processors["Members"].as_array().unwrap().len()
    );
    bmc.shutdown().await;
}

#[tokio::test]
async fn bios_outdated_replaces_inventory_entry() {
    let base = Mockup::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("mockups/dell-xe9680-h100")).unwrap();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/dell-xe9680-h100--bios-outdated.json");
    let mockup = base.try_apply(&Scenario::load(&file).unwrap()).unwrap();
    let bmc = MockBmc::start(Arc::new(mockup), BmcConfig::loopback(USER, PASSWORD))
        .await
        .unwrap();

    let (_, inventory) = get_basic(&client_for(&bmc), &bmc, "/redfish/v1/UpdateService/FirmwareInventory").await;

    let ids: Vec<&str> = inventory["Members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|member| member["@odata.id"].as_str().unwrap())
        .collect();
    assert!(
        ids.iter().any(|id| id.ends_with("Installed-159-1.5.6__BIOS.Setup.1-1")),
        "{ids:?}"
    );
    assert!(!ids.iter().any(|id| id.contains("Installed-159-2.3.5")), "{ids:?}");
    bmc.shutdown().await;
}
