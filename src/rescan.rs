//! Re-scans only the nodes that did not pass last time, and merges the result into the
//! earlier report so that the rack checks still see every node.

use std::collections::HashSet;
use std::path::Path;

use crate::inventory::Inventory;
use crate::policy::{Profile, Verdict, judge_rack};
use crate::scan::{SCHEMA_VERSION, ScanReport, rack_members};

/// Selection of the nodes of a previous report that a re-scan reads again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Only {
    /// Nodes whose verdict was `fail` or `error`.
    Failed,
    /// Nodes whose verdict was `fail`, `error` or `unknown`: every node that did not pass.
    NotPassed,
}

impl Only {
    fn selects(self, verdict: Verdict) -> bool {
        match self {
            Only::Failed => matches!(verdict, Verdict::Fail | Verdict::Error),
            Only::NotPassed => matches!(verdict, Verdict::Fail | Verdict::Error | Verdict::Unknown),
        }
    }
}

/// The nodes a re-scan reads.
#[derive(Debug)]
pub struct Selection {
    /// The inventory cut down to the selected nodes, in inventory order.
    pub inventory: Inventory,
    /// Selected nodes that the previous report does not list. They were never judged, so
    /// they are scanned.
    pub not_in_previous: Vec<String>,
}

/// Selects the inventory nodes that `only` picks from the previous report, plus every
/// inventory node that report does not list.
pub fn select(inventory: &Inventory, previous: &ScanReport, only: Only) -> Selection {
    let mut not_in_previous = Vec::new();
    let nodes = inventory
        .nodes
        .iter()
        .filter(
            |node| match previous.nodes.iter().find(|old| old.hostname == node.hostname) {
                Some(old) => only.selects(old.verdict),
                None => {
                    not_in_previous.push(node.hostname.clone());
                    true
                }
            },
        )
        .cloned()
        .collect();
    Selection {
        inventory: Inventory {
            source: inventory.source.clone(),
            nodes,
        },
        not_in_previous,
    }
}

/// Builds a report of every inventory node: the re-scanned nodes from `fresh`, the others
/// as `previous` reported them. Rack checks are judged again on the merged nodes.
///
/// Nodes of `previous` that are no longer in the inventory are left out.
pub fn merge(previous: ScanReport, fresh: ScanReport, inventory: &Inventory, profile: &Profile) -> ScanReport {
    let rescanned: HashSet<&str> = fresh.nodes.iter().map(|node| node.hostname.as_str()).collect();
    let mut merged = Vec::with_capacity(inventory.nodes.len());
    for node in &inventory.nodes {
        let source = if rescanned.contains(node.hostname.as_str()) {
            &fresh.nodes
        } else {
            &previous.nodes
        };
        if let Some(report) = source.iter().find(|report| report.hostname == node.hostname) {
            merged.push(report.clone());
        }
    }

    let rack = judge_rack(&rack_members(&merged), profile);
    ScanReport {
        schema_version: SCHEMA_VERSION,
        profile: fresh.profile,
        insecure: previous.insecure || fresh.insecure,
        nodes: merged,
        rack,
    }
}

/// A JSON report that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportFileError {
    #[error("failed to read the report {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("invalid JSON report {path}: {cause}\nhint: pass a report written by `rackcheck scan --format json`")]
    Invalid { path: String, cause: String },

    #[error("report {path} has schema_version {found}; this rackcheck reads version {SCHEMA_VERSION}")]
    Version { path: String, found: u32 },
}

/// Reads a report written with `--format json`.
pub fn load_report(path: &Path) -> Result<ScanReport, ReportFileError> {
    let display_path = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ReportFileError::Read {
        path: display_path.clone(),
        source,
    })?;
    let report: ScanReport = serde_json::from_str(&text).map_err(|err| ReportFileError::Invalid {
        path: display_path.clone(),
        cause: err.to_string(),
    })?;
    if report.schema_version != SCHEMA_VERSION {
        return Err(ReportFileError::Version {
            path: display_path,
            found: report.schema_version,
        });
    }
    Ok(report)
}
