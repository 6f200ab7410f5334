//! Hand-off from the out-of-band scan to the OS install.
//!
//! For each node whose verdict is `pass` (and `warn` when asked), [`write_handoff`] writes
//! `DIR/<hostname>.json`, an in-band [`manifest::Manifest`], and adds the node's MACs to the
//! DHCP allow list files ([`dhcp`]). Nodes that fail, stay unknown or could not be read get
//! neither, and a manifest left from an earlier run for such a node is removed.

mod checks;
pub mod dhcp;
pub mod manifest;
pub mod pxe;

use std::collections::{BTreeMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::facts::NodeFacts;
use crate::policy::{GpuTable, Status, Verdict};
use crate::scan::{NodeReport, ScanReport};

pub use checks::{Catalog, compare_versions};
use dhcp::AllowedNode;
use manifest::{
    FindingSummary, GpuGroup, Identity, MANIFEST_SCHEMA_VERSION, Manifest, Observed, ObservedDrive, OutOfBand,
};

/// Selection of the nodes that get a manifest.
#[derive(Debug, Clone, Default)]
pub struct HandoffOptions {
    /// Also hand off nodes whose verdict is `warn`.
    pub include_warn: bool,
}

/// Files that [`write_handoff`] wrote or removed, and the nodes it skipped.
#[derive(Debug, Clone, Default)]
pub struct HandoffSummary {
    /// Manifests written, in report order.
    pub manifests: Vec<PathBuf>,
    /// Hostnames not handed off, with their verdict.
    pub skipped: Vec<(String, Verdict)>,
    /// Manifests from an earlier run removed because their node no longer qualifies.
    pub removed: Vec<PathBuf>,
    /// Handed-off nodes whose BMC reported no usable MAC address, so DHCP will not admit them.
    pub without_macs: Vec<String>,
}

/// A failure to write the hand-off directory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandoffError {
    #[error("failed to write `{path}`: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("hostnames `{first}` and `{second}` both map to the manifest file `{file}`")]
    FileNameClash {
        first: String,
        second: String,
        file: String,
    },
}

/// Returns true when a node with `verdict` is handed off under `options`.
pub fn qualifies(verdict: Verdict, options: &HandoffOptions) -> bool {
    match verdict {
        Verdict::Pass => true,
        Verdict::Warn => options.include_warn,
        Verdict::Fail | Verdict::Unknown | Verdict::Error => false,
    }
}

/// Writes the manifests and the DHCP allow list for `report` into `dir`, creating it.
pub fn write_handoff(
    report: &ScanReport,
    dir: &Path,
    options: &HandoffOptions,
) -> Result<HandoffSummary, HandoffError> {
    std::fs::create_dir_all(dir).map_err(|source| io_error(dir, source))?;
    check_file_names(&report.nodes)?;

    let catalog = Catalog::builtin();
    let gpu_table = GpuTable::builtin();
    let mut summary = HandoffSummary::default();
    let mut allowed = Vec::new();

    for node in &report.nodes {
        let path = dir.join(manifest_file_name(&node.hostname));
        let facts = node.facts.as_ref().filter(|_| qualifies(node.verdict, options));
        let Some(facts) = facts else {
            summary.skipped.push((node.hostname.clone(), node.verdict));
            remove_stale(&path, &mut summary)?;
            continue;
        };

        let manifest = build_manifest(node, facts, &report.profile, &catalog, &gpu_table);
        let json = serde_json::to_vec_pretty(&manifest).expect("a manifest always serializes");
        write_atomic(&path, &json)?;
        summary.manifests.push(path);

        if manifest.identity.macs.is_empty() {
            summary.without_macs.push(node.hostname.clone());
        }
        allowed.push(AllowedNode {
            hostname: node.hostname.clone(),
            macs: manifest.identity.macs,
        });
    }

    write_atomic(&dir.join(dhcp::DNSMASQ_FILE), dhcp::render_dnsmasq(&allowed).as_bytes())?;
    write_atomic(
        &dir.join(dhcp::ALLOW_LIST_FILE),
        dhcp::render_allow_list(&allowed).as_bytes(),
    )?;
    Ok(summary)
}

/// Builds one node's manifest from its report and facts.
pub fn build_manifest(
    node: &NodeReport,
    facts: &NodeFacts,
    profile: &str,
    catalog: &Catalog,
    gpu_table: &GpuTable,
) -> Manifest {
    Manifest {
        schema_version: MANIFEST_SCHEMA_VERSION,
        profile: profile.to_string(),
        identity: identity(node, facts),
        observed: observed(facts, gpu_table),
        out_of_band: OutOfBand {
            verdict: node.verdict,
            findings_not_passed: node
                .findings
                .iter()
                .filter(|finding| finding.status != Status::Pass)
                .map(|finding| FindingSummary {
                    rule: finding.rule.clone(),
                    status: finding.status,
                    observed: finding.observed.clone(),
                })
                .collect(),
        },
        checks: catalog.checks_for(node.role, facts, gpu_table),
    }
}

fn identity(node: &NodeReport, facts: &NodeFacts) -> Identity {
    let mut seen = HashSet::new();
    let macs = facts
        .network_ports
        .iter()
        .flat_map(|port| &port.mac_addresses)
        .filter_map(|mac| dhcp::normalize_mac(mac))
        .filter(|mac| seen.insert(mac.clone()))
        .collect();
    Identity {
        hostname: node.hostname.clone(),
        rack: node.rack.clone(),
        position: node.position,
        role: node.role,
        bmc: node.bmc.clone(),
        system_uri: facts.system.uri.clone(),
        serial_number: facts.system.serial_number.clone(),
        uuid: facts.system.uuid.as_ref().map(|uuid| uuid.to_ascii_lowercase()),
        macs,
    }
}

fn observed(facts: &NodeFacts, gpu_table: &GpuTable) -> Observed {
    // Grouping by model and memory keeps mixed memory sizes of one model apart. BTreeMap
    // keeps the order stable between runs.
    let mut groups: BTreeMap<(Option<String>, Option<u64>), u32> = BTreeMap::new();
    for gpu in &facts.gpus {
        let key = (gpu.model.clone(), checks::gpu_memory_gb_of(gpu, gpu_table));
        *groups.entry(key).or_default() += 1;
    }
    let gpus = groups
        .into_iter()
        .map(|((model, memory_gb), count)| GpuGroup {
            model,
            count,
            memory_gb,
        })
        .collect();

    let capacities: Option<Vec<u64>> = facts.dimms.iter().map(|dimm| dimm.capacity_mib).collect();
    let memory_gib = capacities.map(|mib| mib.iter().sum::<u64>() / 1024);

    Observed {
        gpus,
        gpu_count: count_u32(facts.gpus.len()),
        dimm_count: count_u32(facts.dimms.len()),
        memory_gib,
        drives: facts
            .drives
            .iter()
            .map(|drive| ObservedDrive {
                model: drive.model.clone(),
                serial_number: drive.serial_number.clone(),
                capacity_bytes: drive.capacity_bytes,
                protocol: drive.protocol.clone(),
            })
            .collect(),
    }
}

fn count_u32(count: usize) -> u32 {
    u32::try_from(count).unwrap_or(u32::MAX)
}

/// Maps a hostname to a file name: characters other than ASCII letters, digits, `-`, `_`
/// and `.` become `_`, and leading dots are dropped so that no name is hidden or `..`.
pub fn manifest_file_name(hostname: &str) -> String {
    let cleaned: String = hostname
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = cleaned.trim_start_matches('.');
    let stem = if trimmed.is_empty() { "_" } else { trimmed };
    format!("{stem}.json")
}

fn check_file_names(nodes: &[NodeReport]) -> Result<(), HandoffError> {
    let mut owners: BTreeMap<String, &str> = BTreeMap::new();
    for node in nodes {
        let file = manifest_file_name(&node.hostname);
        if let Some(first) = owners.insert(file.clone(), &node.hostname) {
            return Err(HandoffError::FileNameClash {
                first: first.to_string(),
                second: node.hostname.clone(),
                file,
            });
        }
    }
    Ok(())
}

fn remove_stale(path: &Path, summary: &mut HandoffSummary) -> Result<(), HandoffError> {
    match std::fs::remove_file(path) {
        Ok(()) => {
            summary.removed.push(path.to_path_buf());
            Ok(())
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(io_error(path, source)),
    }
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`, so a reader
/// sees the old file or the new one, never a partial one.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), HandoffError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(|source| io_error(path, source))?;
    file.write_all(bytes).map_err(|source| io_error(path, source))?;
    file.as_file().sync_all().map_err(|source| io_error(path, source))?;
    file.persist(path).map_err(|err| io_error(path, err.error))?;
    Ok(())
}

fn io_error(path: &Path, source: std::io::Error) -> HandoffError {
    HandoffError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_sanitized() {
        assert_eq!(manifest_file_name("gpu-01.r1"), "gpu-01.r1.json");
        assert_eq!(manifest_file_name("../etc/passwd"), "_etc_passwd.json");
        assert_eq!(manifest_file_name("a b/c"), "a_b_c.json");
        assert_eq!(manifest_file_name(""), "_.json");
    }

    #[test]
    fn only_pass_qualifies_by_default() {
        let default = HandoffOptions::default();
        let with_warn = HandoffOptions { include_warn: true };
        assert!(qualifies(Verdict::Pass, &default));
        assert!(!qualifies(Verdict::Warn, &default));
        assert!(qualifies(Verdict::Warn, &with_warn));
        for verdict in [Verdict::Fail, Verdict::Unknown, Verdict::Error] {
            assert!(!qualifies(verdict, &with_warn));
        }
    }
}
