//! The catalog of in-band checks (data/inband.toml, compiled in) and the choice of the checks
//! and targets that apply to one node.

use serde::Deserialize;

use super::manifest::{Array, Check, Target};
use crate::facts::{Gpu, NodeFacts};
use crate::inventory::Role;
use crate::policy::{Architecture, GpuTable, Identification, parse_pci_id};

const BUILTIN_CATALOG: &str = include_str!("../../data/inband.toml");

/// The in-band checks and their targets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    os_release: OsReleaseSpec,
    kernel: MinVersionSpec,
    driver: DriverSpec,
    cuda: MinVersionSpec,
    persistence: PersistenceSpec,
    ecc: BasicSpec,
    fabric_manager: BasicSpec,
    nvlink_topology: BasicSpec,
    dcgm_diag: DcgmSpec,
    iommu: IommuSpec,
    fio: Vec<FioSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct BasicSpec {
    requirement: String,
    description: String,
    command: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct OsReleaseSpec {
    requirement: String,
    description: String,
    command: String,
    id: String,
    version_id: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct MinVersionSpec {
    requirement: String,
    description: String,
    command: String,
    min: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct DriverSpec {
    requirement: String,
    description: String,
    command: String,
    minimum: Vec<DriverMinimum>,
}

/// The driver minimum for a set of GPU architectures.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct DriverMinimum {
    architectures: Vec<Architecture>,
    min: String,
    source: String,
    /// False when the figure comes from a summary that was not checked against its source.
    verified: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PersistenceSpec {
    requirement: String,
    description: String,
    command: String,
    min_gpu_memory_gb: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct DcgmSpec {
    requirement: String,
    description: String,
    command: String,
    level: u8,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct IommuSpec {
    requirement: String,
    description: String,
    command: String,
    accepted_cmdline: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FioSpec {
    id: String,
    requirement: String,
    array: Array,
    rw: String,
    block_size: String,
    iodepth: u32,
    numjobs: u32,
    min_mb_s: Option<u64>,
    min_iops: Option<u64>,
}

/// The facts about a node's GPUs that decide which checks apply.
struct GpuSummary {
    count: u32,
    /// Memory per GPU in GB, `None` where neither the BMC nor the GPU table gives it.
    memory_gb: Vec<Option<u64>>,
    /// Architecture per GPU, `None` where the GPU could not be identified.
    architectures: Vec<Option<Architecture>>,
    /// The reason the node counts as an HGX/NVSwitch system, if it does.
    hgx: Option<String>,
}

impl Catalog {
    /// Loads the compiled-in catalog.
    pub fn builtin() -> Catalog {
        toml::from_str(BUILTIN_CATALOG).expect("the built-in in-band catalog is checked by a unit test")
    }

    /// Builds the node's checks in a fixed order: OS, drivers, GPUs, HGX, IOMMU, storage.
    pub fn checks_for(&self, role: Role, facts: &NodeFacts, gpu_table: &GpuTable) -> Vec<Check> {
        let gpus = summarize_gpus(&facts.gpus, facts, gpu_table);
        let mut checks = vec![self.os_release_check(), self.kernel_check()];
        checks.push(self.driver_check(&gpus));
        checks.push(self.cuda_check(&gpus));
        checks.push(self.persistence_check(&gpus));
        checks.push(self.ecc_check(&gpus));
        checks.extend(self.hgx_checks(&gpus));
        checks.push(self.iommu_check());
        checks.extend(self.fio.iter().map(|spec| fio_check(spec, role)));
        checks
    }

    fn os_release_check(&self) -> Check {
        let spec = &self.os_release;
        let target = Target::OsRelease {
            id: spec.id.clone(),
            version_id: spec.version_id.clone(),
        };
        check(
            "os-release",
            &spec.requirement,
            &spec.description,
            &spec.command,
            target,
            applies_all(),
        )
    }

    fn kernel_check(&self) -> Check {
        let spec = &self.kernel;
        let target = Target::MinVersion { min: spec.min.clone() };
        check(
            "kernel-version",
            &spec.requirement,
            &spec.description,
            &spec.command,
            target,
            applies_all(),
        )
    }

    fn driver_check(&self, gpus: &GpuSummary) -> Check {
        let spec = &self.driver;
        let (min, reason) = self.driver_minimum(gpus);
        let applies = if gpus.count == 0 { no_gpus() } else { (true, reason) };
        let target = Target::MinVersion { min };
        check(
            "nvidia-driver-version",
            &spec.requirement,
            &spec.description,
            &spec.command,
            target,
            applies,
        )
    }

    /// Picks the highest minimum among the node's GPU architectures. Unidentified GPUs fall
    /// back to the first row (the oldest architectures the profile accepts).
    fn driver_minimum(&self, gpus: &GpuSummary) -> (String, String) {
        let fallback = &self.driver.minimum[0];
        let mut chosen = fallback;
        for arch in gpus.architectures.iter().flatten() {
            let row = self.driver.minimum.iter().find(|row| row.architectures.contains(arch));
            if let Some(row) = row
                && compare_versions(&row.min, &chosen.min).is_gt()
            {
                chosen = row;
            }
        }
        let mut reason = format!("minimum from {}", chosen.source);
        if !chosen.verified {
            reason.push_str(" (unverified figure)");
        }
        if gpus.architectures.iter().any(Option::is_none) {
            reason.push_str("; some GPUs could not be identified, so their architecture's minimum may be higher");
        }
        (chosen.min.clone(), reason)
    }

    fn cuda_check(&self, gpus: &GpuSummary) -> Check {
        let spec = &self.cuda;
        let applies = if gpus.count == 0 { no_gpus() } else { gpus_present(gpus) };
        let target = Target::MinVersion { min: spec.min.clone() };
        check(
            "cuda-version",
            &spec.requirement,
            &spec.description,
            &spec.command,
            target,
            applies,
        )
    }

    fn persistence_check(&self, gpus: &GpuSummary) -> Check {
        let spec = &self.persistence;
        let threshold = spec.min_gpu_memory_gb;
        let large = gpus
            .memory_gb
            .iter()
            .filter(|gb| gb.is_some_and(|gb| gb >= threshold))
            .count();
        let unknown = gpus.memory_gb.iter().filter(|gb| gb.is_none()).count();
        let applies = if gpus.count == 0 {
            no_gpus()
        } else if large > 0 {
            (true, format!("{large} GPUs have {threshold} GB of memory or more"))
        } else if unknown > 0 {
            (
                true,
                format!("{unknown} GPUs did not report their memory size; nvidia-smi decides"),
            )
        } else {
            (false, format!("every GPU has less than {threshold} GB of memory"))
        };
        let target = Target::GpuSetting {
            value: "Enabled".to_string(),
            min_gpu_memory_gb: Some(threshold),
        };
        check(
            "gpu-persistence-mode",
            &spec.requirement,
            &spec.description,
            &spec.command,
            target,
            applies,
        )
    }

    fn ecc_check(&self, gpus: &GpuSummary) -> Check {
        let spec = &self.ecc;
        let applies = if gpus.count == 0 { no_gpus() } else { gpus_present(gpus) };
        let target = Target::GpuSetting {
            value: "Enabled".to_string(),
            min_gpu_memory_gb: None,
        };
        check(
            "gpu-ecc",
            &spec.requirement,
            &spec.description,
            &spec.command,
            target,
            applies,
        )
    }

    fn hgx_checks(&self, gpus: &GpuSummary) -> Vec<Check> {
        let applies = match &gpus.hgx {
            Some(reason) => (true, reason.clone()),
            None if gpus.count == 0 => no_gpus(),
            None => (
                false,
                "no SXM GPUs or HGX baseboard seen, so no NVSwitch fabric".to_string(),
            ),
        };
        let fabric = &self.fabric_manager;
        let nvlink = &self.nvlink_topology;
        let dcgm = &self.dcgm_diag;
        vec![
            check(
                "fabric-manager",
                &fabric.requirement,
                &fabric.description,
                &fabric.command,
                Target::FabricManager {
                    active: true,
                    version_matches_driver: true,
                },
                applies.clone(),
            ),
            check(
                "nvlink-topology",
                &nvlink.requirement,
                &nvlink.description,
                &nvlink.command,
                Target::NvlinkAllPairs { gpus: gpus.count },
                applies.clone(),
            ),
            check(
                "dcgm-diag",
                &dcgm.requirement,
                &dcgm.description,
                &dcgm.command,
                Target::DcgmDiag { level: dcgm.level },
                applies,
            ),
        ]
    }

    fn iommu_check(&self) -> Check {
        let spec = &self.iommu;
        let target = Target::IommuOff {
            accepted_cmdline: spec.accepted_cmdline.clone(),
        };
        check(
            "iommu-off",
            &spec.requirement,
            &spec.description,
            &spec.command,
            target,
            applies_all(),
        )
    }
}

fn check(
    id: &str,
    requirement: &str,
    description: &str,
    command: &str,
    target: Target,
    applies: (bool, String),
) -> Check {
    Check {
        id: id.to_string(),
        requirement: requirement.to_string(),
        description: description.to_string(),
        command: command.to_string(),
        target,
        applies: applies.0,
        reason: applies.1,
    }
}

fn applies_all() -> (bool, String) {
    (true, "applies to every node".to_string())
}

fn no_gpus() -> (bool, String) {
    (false, "the BMC reported no GPUs".to_string())
}

fn gpus_present(gpus: &GpuSummary) -> (bool, String) {
    (true, format!("the BMC reported {} GPUs", gpus.count))
}

/// Builds a fio check. The boot array's targets apply to every role (storage servers have the
/// same boot requirements); the working array's apply to GPU servers only.
fn fio_check(spec: &FioSpec, role: Role) -> Check {
    let (array_name, mount) = match spec.array {
        Array::Boot => ("boot", "/"),
        Array::Working => ("working", "the working array's mount"),
    };
    let command = format!(
        "fio --name={id} --filename=<file> --size=32G --rw={rw} --bs={bs} --iodepth={iodepth} \
         --numjobs={numjobs} --direct=1 --ioengine=libaio --time_based --runtime=60 --group_reporting",
        id = spec.id,
        rw = spec.rw,
        bs = spec.block_size,
        iodepth = spec.iodepth,
        numjobs = spec.numjobs,
    );
    let description = match (spec.min_mb_s, spec.min_iops) {
        (Some(mb_s), _) => format!("fio {} on the {array_name} array reaches {mb_s} MB/s", spec.rw),
        (None, Some(iops)) => format!(
            "fio {} {} on the {array_name} array reaches {iops} IOPS",
            spec.rw, spec.block_size
        ),
        (None, None) => format!("fio {} on the {array_name} array", spec.rw),
    };
    let applies = match (spec.array, role) {
        (Array::Boot, _) => (true, format!("<file> is a file on {mount}")),
        (Array::Working, Role::GpuCompute) => (true, format!("<file> is a file on {mount}")),
        (Array::Working, other) => (
            false,
            format!(
                "working-array targets cover GPU servers; this node's role is {}",
                other.as_str()
            ),
        ),
    };
    let target = Target::Fio {
        array: spec.array,
        rw: spec.rw.clone(),
        block_size: spec.block_size.clone(),
        iodepth: spec.iodepth,
        numjobs: spec.numjobs,
        min_mb_s: spec.min_mb_s,
        min_iops: spec.min_iops,
    };
    check(&spec.id, &spec.requirement, &description, &command, target, applies)
}

fn summarize_gpus(gpus: &[Gpu], facts: &NodeFacts, table: &GpuTable) -> GpuSummary {
    let mut memory_gb = Vec::new();
    let mut architectures = Vec::new();
    for gpu in gpus {
        let identification = identify(gpu, table);
        memory_gb.push(gpu_memory_gb(gpu, identification.as_ref()));
        architectures.push(identification.map(|found| match found {
            Identification::Table(row) => row.architecture,
            Identification::ModelString(arch, _) => arch,
        }));
    }
    GpuSummary {
        count: u32::try_from(gpus.len()).unwrap_or(u32::MAX),
        memory_gb,
        architectures,
        hgx: hgx_reason(gpus, facts),
    }
}

fn identify<'a>(gpu: &Gpu, table: &'a GpuTable) -> Option<Identification<'a>> {
    let device = gpu.device_id.as_deref().and_then(parse_pci_id);
    let subsystem = gpu.subsystem_id.as_deref().and_then(parse_pci_id);
    table.identify(device, subsystem, gpu.model.as_deref())
}

/// Memory per GPU in GB: the BMC's MiB figure when present, else the GPU table's size.
pub(super) fn gpu_memory_gb_of(gpu: &Gpu, table: &GpuTable) -> Option<u64> {
    gpu_memory_gb(gpu, identify(gpu, table).as_ref())
}

fn gpu_memory_gb(gpu: &Gpu, identification: Option<&Identification<'_>>) -> Option<u64> {
    if let Some(mib) = gpu.memory_mib {
        // Marketed GPU memory sizes are GiB figures (a 48 GB card has 48 GiB), so whole GiB
        // compare directly with the profile's GB thresholds.
        return Some((mib + 512) / 1024);
    }
    match identification {
        Some(Identification::Table(row)) => row.memory_gb.map(u64::from),
        _ => None,
    }
}

/// Detects an NVSwitch/HGX system from SXM GPUs (model names with "SXM" or "HBM", or a GPU
/// table row naming SXM) or from a ComputerSystem whose URI names an HGX baseboard.
fn hgx_reason(gpus: &[Gpu], facts: &NodeFacts) -> Option<String> {
    let sxm = gpus.iter().find_map(|gpu| {
        let model = gpu.model.as_deref()?;
        let upper = model.to_uppercase();
        (upper.contains("SXM") || upper.contains("HBM")).then(|| model.to_string())
    });
    if let Some(model) = sxm {
        return Some(format!("SXM GPU `{model}` sits on an NVSwitch baseboard"));
    }
    facts
        .system
        .other_systems
        .iter()
        .find(|uri| uri.to_uppercase().contains("HGX"))
        .map(|uri| format!("the BMC lists the HGX baseboard system `{uri}`"))
}

/// Compares dotted or dashed versions field by field as numbers; a missing field counts as 0.
pub fn compare_versions(left: &str, right: &str) -> std::cmp::Ordering {
    let fields = |text: &str| -> Vec<u64> {
        text.split(['.', '-'])
            .map(|field| field.parse::<u64>().unwrap_or(0))
            .collect()
    };
    let (left, right) = (fields(left), fields(right));
    let len = left.len().max(right.len());
    let at = |values: &[u64], i: usize| values.get(i).copied().unwrap_or(0);
    (0..len)
        .map(|i| at(&left, i).cmp(&at(&right, i)))
        .find(|order| order.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_parses() {
        let catalog = Catalog::builtin();
        assert_eq!(catalog.fio.len(), 8);
        assert!(!catalog.driver.minimum.is_empty());
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(compare_versions("570.133.20", "550.54.15").is_gt());
        assert!(compare_versions("6.5.0-15", "6.5.0-9").is_gt());
        assert!(compare_versions("12.4", "12.4.0").is_eq());
    }

    #[test]
    fn blackwell_gets_higher_driver_minimum() {
        let catalog = Catalog::builtin();
        let facts = NodeFacts {
            gpus: vec![Gpu {
                model: Some("NVIDIA B200".to_string()),
                ..Gpu::default()
            }],
            ..NodeFacts::default()
        };
        let checks = catalog.checks_for(Role::GpuCompute, &facts, &GpuTable::builtin());
        let driver = checks.iter().find(|c| c.id == "nvidia-driver-version").unwrap();
        assert_eq!(
            driver.target,
            Target::MinVersion {
                min: "570.133.20".to_string()
            }
        );
        assert!(driver.reason.contains("unverified"));
    }

    #[test]
    fn no_gpus_marks_gpu_checks_inapplicable() {
        let catalog = Catalog::builtin();
        let checks = catalog.checks_for(Role::Storage, &NodeFacts::default(), &GpuTable::builtin());
        for id in [
            "nvidia-driver-version",
            "cuda-version",
            "gpu-persistence-mode",
            "gpu-ecc",
            "fabric-manager",
        ] {
            let check = checks.iter().find(|c| c.id == id).unwrap();
            assert!(!check.applies, "{id} should not apply without GPUs");
        }
        let working = checks.iter().find(|c| c.id == "fio-working-seq-read").unwrap();
        assert!(!working.applies);
    }
}
