//! Replay side of a capture: judges every captured node offline, as a live scan would.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::Value;

use crate::collect::collect;
use crate::policy::{Profile, Subject, Verdict, judge_rack};
use crate::redfish::{CaptureDir, Fetch, RedfishError, canonical_path};
use crate::scan::{NodeReport, SCHEMA_VERSION, ScanReport, judge_read, rack_members};

use super::{CAPTURE_VERSION, MANIFEST_FILE, NodeManifest};

/// A capture folder that cannot be judged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    #[error("failed to read the capture folder {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("invalid node manifest {}: {cause}", .path.display())]
    Manifest { path: PathBuf, cause: String },

    #[error("the capture folder {} contains no node capture (no */{MANIFEST_FILE})\nhint: pass the folder given to `scan --capture`", .path.display())]
    Empty { path: PathBuf },
}

/// Judges every node captured under `capture` against `profile`, with the role, system and
/// GPU count recorded at capture time, and returns a report of the same shape as a scan's.
///
/// A node that the live scan could not read is reported with the same error. Nodes come in
/// inventory order. Folders without `node.json` (a temporary folder left by a failed
/// write) are skipped.
pub async fn check(capture: &Path, profile: &Profile) -> Result<ScanReport, CaptureError> {
    let manifests = load_manifests(capture)?;
    let mut nodes = Vec::with_capacity(manifests.len());
    for manifest in &manifests {
        nodes.push(judge_captured(capture, manifest, profile).await);
    }

    let rack = judge_rack(&rack_members(&nodes), profile);
    Ok(ScanReport {
        schema_version: SCHEMA_VERSION,
        profile: profile.name.clone(),
        insecure: manifests.iter().any(|manifest| manifest.insecure),
        nodes,
        rack,
    })
}

fn load_manifests(capture: &Path) -> Result<Vec<NodeManifest>, CaptureError> {
    let read_error = |source| CaptureError::Read {
        path: capture.to_path_buf(),
        source,
    };
    let mut manifests = Vec::new();
    for entry in std::fs::read_dir(capture).map_err(read_error)? {
        let folder = entry.map_err(read_error)?.path();
        let path = folder.join(MANIFEST_FILE);
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|source| CaptureError::Read {
            path: path.clone(),
            source,
        })?;
        let manifest: NodeManifest = serde_json::from_str(&text).map_err(|err| CaptureError::Manifest {
            path: path.clone(),
            cause: err.to_string(),
        })?;
        if manifest.capture_version != CAPTURE_VERSION {
            return Err(CaptureError::Manifest {
                path,
                cause: format!(
                    "capture_version {} is not supported; this rackcheck reads version {CAPTURE_VERSION}",
                    manifest.capture_version
                ),
            });
        }
        if folder.file_name().and_then(|name| name.to_str()) != Some(manifest.hostname.as_str()) {
            return Err(CaptureError::Manifest {
                path,
                cause: format!("hostname `{}` does not match the folder name", manifest.hostname),
            });
        }
        manifests.push(manifest);
    }
    if manifests.is_empty() {
        return Err(CaptureError::Empty {
            path: capture.to_path_buf(),
        });
    }
    manifests.sort_by_key(|manifest| manifest.inventory_line);
    Ok(manifests)
}

async fn judge_captured(capture: &Path, manifest: &NodeManifest, profile: &Profile) -> NodeReport {
    let started = Instant::now();
    let mut report = NodeReport {
        hostname: manifest.hostname.clone(),
        rack: manifest.rack.clone(),
        position: manifest.position,
        role: manifest.role,
        bmc: manifest.bmc.clone(),
        system: manifest.system.clone(),
        verdict: Verdict::Error,
        error: manifest.error.clone(),
        facts: None,
        findings: Vec::new(),
        duration_ms: 0,
        pxe: None,
        power_on: None,
        open_sessions: Vec::new(),
    };
    if report.error.is_some() {
        return report;
    }

    let bmc = Replay {
        files: CaptureDir::new(capture.join(&manifest.hostname)),
        failures: manifest
            .failed_reads
            .iter()
            .map(|failed| (failed.uri.clone(), failed.error.clone()))
            .collect(),
    };
    match collect(&bmc, manifest.system.as_deref()).await {
        Ok(mut facts) => {
            facts.problems.extend(manifest.defects.iter().cloned());
            let subject = Subject {
                facts: &facts,
                role: manifest.role,
                expected_gpus: manifest.gpus,
            };
            report.findings = judge_read(&subject, manifest.role, profile);
            report.verdict = Verdict::from_findings(&report.findings);
            report.facts = Some(facts);
        }
        Err(err) => report.error = Some(crate::scan::error_chain(&err)),
    }
    report.duration_ms = started.elapsed().as_millis() as u64;
    report
}

/// A captured node as a [`Fetch`]: the recorded error for a read that failed live, else the
/// file [`CaptureDir`] finds.
struct Replay {
    files: CaptureDir,
    /// Errors by canonical path, query included, as the live scan met them.
    failures: HashMap<String, RedfishError>,
}

impl Fetch for Replay {
    async fn get(&self, path: &str) -> Result<Value, RedfishError> {
        if let Some(err) = canonical_path(path).and_then(|key| self.failures.get(&key)) {
            return Err(err.clone());
        }
        self.files.get(path).await
    }
}
