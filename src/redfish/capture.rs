//! Reads a folder in the DMTF mockup layout (`redfish/v1/.../index.json`) as if it were a BMC.
//!
//! Offline judging and the collector's tests use it, so they walk exactly the tree a live
//! scan would.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Fetch, RedfishError};

/// A capture or mockup folder: the directory that contains `redfish/`.
#[derive(Debug, Clone)]
pub struct CaptureDir {
    root: PathBuf,
}

impl CaptureDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        CaptureDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Maps a Redfish path to its `index.json`, rejecting `..` so a link cannot leave the folder.
    fn file_for(&self, path: &str) -> Option<PathBuf> {
        let trimmed = path.split(['?', '#']).next().unwrap_or("").trim_matches('/');
        let mut file = self.root.clone();
        for segment in trimmed.split('/').filter(|s| !s.is_empty()) {
            if segment == ".." || segment == "." {
                return None;
            }
            file.push(segment);
        }
        file.push("index.json");
        Some(file)
    }

    /// Finds the `index.json` for `path` matching each folder name without regard to case.
    ///
    /// HPE iLO links `/redfish/v1/systems/1/bios` beside `/redfish/v1/Systems/1` and serves
    /// both, so a capture contains the folder under one spelling only.
    fn find_ignoring_case(&self, path: &str) -> Option<PathBuf> {
        let exact = self.file_for(path)?;
        let relative = exact.strip_prefix(&self.root).ok()?;
        let mut found = self.root.clone();
        for segment in relative.iter() {
            let wanted = segment.to_str()?;
            let entries = std::fs::read_dir(&found).ok()?;
            let name = entries
                .filter_map(Result::ok)
                .map(|entry| entry.file_name())
                .find(|name| name.to_str().is_some_and(|name| name.eq_ignore_ascii_case(wanted)))?;
            found.push(name);
        }
        Some(found)
    }
}

impl Fetch for CaptureDir {
    async fn get(&self, path: &str) -> Result<Value, RedfishError> {
        let not_captured = || RedfishError::NotCaptured { uri: path.to_string() };
        let file = self.file_for(path).ok_or_else(not_captured)?;
        let read = match tokio::fs::read(&file).await {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => match self.find_ignoring_case(path) {
                Some(file) => tokio::fs::read(file).await,
                None => return Err(not_captured()),
            },
            other => other,
        };
        let bytes = match read {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Err(not_captured()),
            Err(err) => {
                return Err(RedfishError::Transport {
                    bmc: self.root.display().to_string(),
                    uri: path.to_string(),
                    cause: err.to_string(),
                });
            }
        };
        super::parse_json(&bytes).map_err(|(offset, cause)| RedfishError::InvalidJson {
            bmc: self.root.display().to_string(),
            uri: path.to_string(),
            offset,
            cause,
        })
    }
}
