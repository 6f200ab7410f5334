//! Capture and replay: stores what a scan read from each BMC, and judges it again offline.
//!
//! A capture folder contains one folder per node, named after its hostname:
//!
//! ```text
//! CAPTURE/gpu-a01/node.json                      inventory row, error, defects, failed reads
//! CAPTURE/gpu-a01/redfish/v1/index.json          service root
//! CAPTURE/gpu-a01/redfish/v1/Systems/1/index.json
//! ```
//!
//! Each node folder is a DMTF mockup that [`crate::redfish::CaptureDir`] reads and mock-bmc
//! serves. Key types: [`Recorder`], the [`crate::redfish::Fetch`] wrapper that keeps every
//! body; [`NodeManifest`], the `node.json` that lets [`check`] judge the node with the same
//! role and expectations as the live scan.

mod record;
mod replay;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::facts::{DEFECT_PREFIX, Problem};
use crate::inventory::{Node, Role};
use crate::scan::NodeReport;

pub use record::{FailedRead, REDACTED, Recorded, Recorder, scrub};
pub use replay::{CaptureError, check};

/// Version of the `node.json` layout; raised on any incompatible change.
pub const CAPTURE_VERSION: u32 = 1;

/// Name of the file in each node folder that describes the node.
pub const MANIFEST_FILE: &str = "node.json";

/// The inventory row of a captured node and what the live scan learned beyond the bodies.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeManifest {
    pub capture_version: u32,
    pub hostname: String,
    pub rack: String,
    pub position: u32,
    pub role: Role,
    /// The BMC address the node was read from.
    pub bmc: String,
    pub system: Option<String>,
    pub gpus: Option<u32>,
    /// Line of the node in the inventory, which orders the nodes of an offline check.
    pub inventory_line: usize,
    /// True when TLS certificates were not verified during the capture.
    pub insecure: bool,
    /// Cause of the live scan's failure to read the node, which an offline check reports again.
    pub error: Option<String>,
    /// Responses the client had to repair (byte-order mark, control characters). The files
    /// contain the repaired JSON, so the defects are kept here.
    pub defects: Vec<Problem>,
    /// Reads that failed during the live scan. An offline check returns the same errors
    /// for them, so the findings that name a failed read are the same too.
    pub failed_reads: Vec<FailedRead>,
}

impl NodeManifest {
    fn new(node: &Node, report: &NodeReport, insecure: bool) -> NodeManifest {
        let defects = report
            .facts
            .iter()
            .flat_map(|facts| &facts.problems)
            .filter(|problem| problem.message.starts_with(DEFECT_PREFIX))
            .cloned()
            .collect();
        NodeManifest {
            capture_version: CAPTURE_VERSION,
            hostname: node.hostname.clone(),
            rack: node.rack.clone(),
            position: node.position,
            role: node.role,
            bmc: node.bmc.to_string(),
            system: node.system.clone(),
            gpus: node.gpus,
            inventory_line: node.line,
            insecure,
            error: report.error.clone(),
            defects,
            failed_reads: Vec::new(),
        }
    }
}

/// Writes one node's capture to `capture/<hostname>/`, replacing an earlier capture of it.
///
/// The node is first written to a temporary folder beside it, so a failed write leaves the
/// earlier capture whole. A folder of that name without `node.json` is not a capture and
/// is left alone, with an error.
pub async fn write_node(
    capture: &Path,
    node: &Node,
    report: &NodeReport,
    recorded: Recorded,
    insecure: bool,
) -> std::io::Result<PathBuf> {
    let capture = capture.to_path_buf();
    let mut manifest = NodeManifest::new(node, report, insecure);
    manifest.failed_reads = recorded.take_failures();
    tokio::task::spawn_blocking(move || write_node_blocking(&capture, &manifest, &recorded))
        .await
        .map_err(std::io::Error::other)?
}

fn write_node_blocking(capture: &Path, manifest: &NodeManifest, recorded: &Recorded) -> std::io::Result<PathBuf> {
    let target = capture.join(&manifest.hostname);
    if target.exists() && !target.join(MANIFEST_FILE).is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!(
                "{} exists and is not a node capture (no {MANIFEST_FILE})",
                target.display()
            ),
        ));
    }

    std::fs::create_dir_all(capture)?;
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{}.", manifest.hostname))
        .tempdir_in(capture)?;
    record::write_bodies(staging.path(), recorded)?;
    let mut text = serde_json::to_string_pretty(manifest).map_err(std::io::Error::other)?;
    text.push('\n');
    std::fs::write(staging.path().join(MANIFEST_FILE), text)?;

    if target.exists() {
        std::fs::remove_dir_all(&target)?;
    }
    std::fs::rename(staging.keep(), &target)?;
    Ok(target)
}
