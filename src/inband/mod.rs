//! The in-band checker: `rackcheck inband --manifest FILE` runs on the installed node, reads
//! the checks the manifest lists as owed by the OS (kernel, driver, CUDA, persistence mode, Fabric
//! Manager, NVLink, DCGM, fio, IOMMU), and reports one node in the scan's report shape, so
//! every report format and exit code works unchanged.
//!
//! - [`runner`]: where outputs come from, the node itself or a folder of recorded outputs.
//! - [`parse`]: parsers for each command's output.
//! - [`checks`]: one finding per manifest check, plus the GPU inventory check.
//!
//! The manifest's `command` strings are shown to people and never executed: each check runs
//! a fixed, built-in command without a shell, so a tampered manifest cannot run commands.

pub mod checks;
pub mod parse;
pub mod runner;

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::handoff::manifest::{MANIFEST_SCHEMA_VERSION, Manifest};
use crate::policy::Verdict;
use crate::scan::{NodeReport, SCHEMA_VERSION, ScanReport};

pub use runner::{CommandRunner, RecordedRunner, SystemRunner};

/// Switches for the slow or disk-writing checks, and the folders fio writes in.
#[derive(Debug, Clone)]
pub struct InbandOptions {
    /// Run fio; it writes a 32 GiB file on each array and loads the disks for a minute a test.
    pub run_fio: bool,
    /// Run `dcgmi diag`, which loads every GPU for 15 minutes or more.
    pub run_dcgm_diag: bool,
    /// Folder on the boot array where fio writes its test file.
    pub boot_dir: PathBuf,
    /// Folder on the working array where fio writes its test file; fio checks of the working
    /// array stay `unknown` without it.
    pub working_dir: Option<PathBuf>,
}

impl Default for InbandOptions {
    fn default() -> InbandOptions {
        InbandOptions {
            run_fio: false,
            run_dcgm_diag: false,
            boot_dir: PathBuf::from("/var/tmp"),
            working_dir: None,
        }
    }
}

/// Failure to load a manifest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    #[error("cannot read the manifest {path}: {cause}")]
    Read { path: PathBuf, cause: std::io::Error },
    #[error("invalid manifest {path}: {cause}")]
    Invalid { path: PathBuf, cause: serde_json::Error },
    #[error(
        "manifest {path} has schema version {found}, this build reads {MANIFEST_SCHEMA_VERSION}\nhint: write the manifest with the same rackcheck version"
    )]
    Version { path: PathBuf, found: u32 },
}

/// Reads and parses a manifest written by `rackcheck scan --handoff`.
pub fn load_manifest(path: &Path) -> Result<Manifest, ManifestError> {
    let text = std::fs::read_to_string(path).map_err(|cause| ManifestError::Read {
        path: path.to_path_buf(),
        cause,
    })?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|cause| ManifestError::Invalid {
        path: path.to_path_buf(),
        cause,
    })?;
    if manifest.schema_version != MANIFEST_SCHEMA_VERSION {
        return Err(ManifestError::Version {
            path: path.to_path_buf(),
            found: manifest.schema_version,
        });
    }
    Ok(manifest)
}

/// Runs every check the manifest owes and returns a report with the manifest's node.
pub fn run(manifest: &Manifest, runner: &dyn CommandRunner, options: &InbandOptions) -> ScanReport {
    let started = Instant::now();
    let probes = checks::Probes::new(runner);
    let findings = checks::judge_all(manifest, &probes, options);
    let identity = &manifest.identity;
    let node = NodeReport {
        hostname: identity.hostname.clone(),
        rack: identity.rack.clone(),
        position: identity.position,
        role: identity.role,
        bmc: identity.bmc.clone(),
        system: Some(identity.system_uri.clone()),
        verdict: Verdict::from_findings(&findings),
        error: None,
        facts: None,
        findings,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        pxe: None,
        power_on: None,
        open_sessions: Vec::new(),
    };
    ScanReport {
        schema_version: SCHEMA_VERSION,
        profile: manifest.profile.clone(),
        insecure: false,
        nodes: vec![node],
        rack: Vec::new(),
    }
}
