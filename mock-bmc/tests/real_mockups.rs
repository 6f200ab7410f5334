//! Loads every mockup folder under `$RACKCHECK_REAL_MOCKUPS` and serves its service root.
//! Skipped, with a note, when the variable is unset.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::{PASSWORD, USER, client_for};
use mock_bmc::{BmcConfig, MockBmc, Mockup};

fn mockup_dirs() -> Option<Vec<PathBuf>> {
    let Some(root) = std::env::var_os("RACKCHECK_REAL_MOCKUPS") else {
        eprintln!("note: RACKCHECK_REAL_MOCKUPS is unset; skipping the real mockup test");
        return None;
    };
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.join("redfish").is_dir())
        .collect();
    dirs.sort();
    Some(dirs)
}

#[tokio::test]
async fn real_mockups_load_and_serve_root() {
    let Some(dirs) = mockup_dirs() else { return };
    assert!(!dirs.is_empty(), "RACKCHECK_REAL_MOCKUPS contains no mockup folder");

    for dir in dirs {
        let mockup = Mockup::load(&dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display()));
        assert!(!mockup.is_empty(), "{}", dir.display());
        for issue in mockup.issues() {
            eprintln!(
                "note: {}: skipped {}: {}",
                dir.display(),
                issue.file.display(),
                issue.problem
            );
        }

        let bmc = MockBmc::start(Arc::new(mockup), BmcConfig::loopback(USER, PASSWORD))
            .await
            .unwrap();
        let response = client_for(&bmc)
            .get(format!("{}/redfish/v1/", bmc.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", dir.display());
        let root: serde_json::Value = response.json().await.unwrap();
        assert!(
            root.get("RedfishVersion").is_some() || root.get("@odata.id").is_some(),
            "{}",
            dir.display()
        );
        bmc.shutdown().await;
    }
}
