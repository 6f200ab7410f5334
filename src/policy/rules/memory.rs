//! Memory rules: every populated DIMM has ECC, and there is enough memory of the right
//! generation for the node's GPUs or role.

use super::{Outcome, RuleInfo, Subject, is_absent};
use crate::facts::{Dimm, NodeFacts};
use crate::inventory::Role;
use crate::policy::gpu_models::parse_pci_id;
use crate::policy::{Evidence, Profile, Status};

pub const PER_GPU: RuleInfo = RuleInfo {
    id: "memory-per-gpu",
    description: "system memory and its generation match the recommendation for the GPUs' memory size",
    areas: &["/Memory", "/Processors", "/PCIeDevices", "/PCIeFunctions"],
    check: check_per_gpu,
};

pub const MINIMUM: RuleInfo = RuleInfo {
    id: "memory-minimum",
    description: "storage and metadata servers have their role's minimum memory of the listed generation",
    areas: &["/Memory"],
    check: check_minimum,
};

/// Total capacity of the populated DIMMs in GiB, or the DIMMs that report no capacity.
fn total_gib(dimms: &[&Dimm]) -> Result<u64, Vec<String>> {
    let missing: Vec<String> = dimms
        .iter()
        .filter(|d| d.capacity_mib.is_none())
        .map(|d| label(d))
        .collect();
    if !missing.is_empty() {
        return Err(missing);
    }
    Ok(dimms.iter().filter_map(|d| d.capacity_mib).sum::<u64>() / 1024)
}

/// Returns the memory generation of a DIMM: MemoryDeviceType, else inferred from an ECC module's bus
/// width. DDR5 ECC modules carry two 40-bit subchannels (80 bits), DDR4 ECC modules one 72-bit
/// channel; AMI-based BMCs (NVIDIA DGX H100) omit MemoryDeviceType but report the widths.
fn generation(dimm: &Dimm) -> Option<&str> {
    if let Some(kind) = dimm.device_type.as_deref() {
        return Some(kind);
    }
    match (dimm.bus_width_bits, dimm.data_width_bits) {
        (Some(80), Some(64)) => Some("DDR5"),
        (Some(72), Some(64)) => Some("DDR4"),
        _ => None,
    }
}

/// Lists the memory generations in use, or the DIMMs whose generation is unknown.
fn device_types<'a>(dimms: &[&'a Dimm]) -> Result<Vec<&'a str>, Vec<String>> {
    let missing: Vec<String> = dimms
        .iter()
        .filter(|d| generation(d).is_none())
        .map(|d| label(d))
        .collect();
    if !missing.is_empty() {
        return Err(missing);
    }
    let mut types: Vec<&str> = dimms.iter().filter_map(|d| generation(d)).collect();
    types.sort_unstable();
    types.dedup();
    Ok(types)
}

/// DIMMs the OS will see: populated and not disabled by the BMC or BIOS.
fn populated(facts: &NodeFacts) -> Vec<&Dimm> {
    facts
        .dimms
        .iter()
        .filter(|d| !is_absent(d.state.as_deref()))
        .filter(|d| !matches!(d.state.as_deref(), Some("Disabled" | "UnavailableOffline")))
        .collect()
}

fn capacity_evidence(dimms: &[&Dimm]) -> Vec<Evidence> {
    dimms
        .iter()
        .flat_map(|d| {
            [
                Evidence::optional(&d.uri, "CapacityMiB", &d.capacity_mib),
                Evidence::optional(&d.uri, "MemoryDeviceType", &d.device_type),
            ]
        })
        .collect()
}

/// Judges total capacity and generation against a minimum and the accepted types.
fn judge_memory(dimms: &[&Dimm], minimum_gib: u64, types: &[String], expected: String) -> Outcome {
    let evidence = capacity_evidence(dimms);
    if dimms.is_empty() {
        return Outcome::new(Status::Unknown, expected, "no DIMM reported by the BMC");
    }
    let total = match total_gib(dimms) {
        Ok(total) => total,
        Err(missing) => {
            let observed = format!("no CapacityMiB for {}", missing.join(", "));
            return Outcome::new(Status::Unknown, expected, observed)
                .with_parts(missing)
                .with_evidence(evidence);
        }
    };
    let generations = match device_types(dimms) {
        Ok(generations) => generations,
        Err(missing) => {
            let observed = format!("{total} GiB, but no MemoryDeviceType for {}", missing.join(", "));
            return Outcome::new(Status::Unknown, expected, observed)
                .with_parts(missing)
                .with_evidence(evidence);
        }
    };

    let wrong_type: Vec<&str> = generations
        .iter()
        .copied()
        .filter(|t| !types.iter().any(|accepted| accepted.eq_ignore_ascii_case(t)))
        .collect();
    let observed = format!("{total} GiB of {} in {} DIMMs", generations.join(", "), dimms.len());
    if total < minimum_gib || !wrong_type.is_empty() {
        return Outcome::new(Status::Fail, expected, observed).with_evidence(evidence);
    }
    Outcome::new(Status::Pass, expected, observed).with_evidence(evidence)
}

/// Returns a GPU's memory size in GB: the table's marketed size by device ID, else the reported
/// size. Reported sizes run a few percent under the marketed one (81,559 MiB on an H100
/// 80GB), so 5 % is added before the buckets, which are lower bounds, are applied.
pub(crate) fn gpu_memory_gb(gpu: &crate::facts::Gpu, profile: &Profile) -> Option<u32> {
    let device = gpu.device_id.as_deref().and_then(parse_pci_id);
    let subsystem = gpu.subsystem_id.as_deref().and_then(parse_pci_id);
    if let Some(crate::policy::gpu_models::Identification::Table(row)) =
        profile.gpu_table.identify(device, subsystem, None)
        && let Some(gb) = row.memory_gb
    {
        return Some(gb);
    }
    if let Some(mib) = gpu.memory_mib {
        return Some((mib as f64 / 1024.0 * 1.05) as u32);
    }
    // Supermicro HGX functions zero their PCI IDs but name the part: "H100 80GB HBM3".
    gpu.model.as_deref().and_then(|model| {
        let captures = MEMORY_IN_MODEL.captures(model)?;
        captures[1].parse().ok()
    })
}

static MEMORY_IN_MODEL: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| regex::Regex::new(r"(?i)\b(\d{2,3})\s?GB\b").expect("valid pattern"));

fn check_per_gpu(subject: &Subject, profile: &Profile) -> Outcome {
    let facts = subject.facts;
    let expected_text = "recommended system memory for the GPUs' memory size";
    if facts.gpus.is_empty() {
        return Outcome::new(Status::Unknown, expected_text, "no GPU reported by the BMC");
    }
    let sizes: Vec<Option<u32>> = facts.gpus.iter().map(|gpu| gpu_memory_gb(gpu, profile)).collect();
    let Some(largest) = sizes
        .iter()
        .copied()
        .collect::<Option<Vec<u32>>>()
        .and_then(|s| s.into_iter().max())
    else {
        return Outcome::new(
            Status::Unknown,
            expected_text,
            "the memory size of some GPUs is not reported or known",
        );
    };
    let Some(bucket) = profile
        .memory
        .per_gpu
        .iter()
        .filter(|b| largest >= b.gpu_memory_gb)
        .max_by_key(|b| b.gpu_memory_gb)
    else {
        return Outcome::new(
            Status::NotApplicable,
            expected_text,
            format!("no bucket for {largest} GB GPUs"),
        );
    };

    let gpus = facts.gpus.len() as u64;
    let minimum = u64::from(bucket.system_gb) * gpus;
    let expected = format!(
        ">= {minimum} GB of {} ({} GB per GPU for {largest} GB GPUs, {gpus} GPUs)",
        bucket.types.join(" or "),
        bucket.system_gb
    );
    judge_memory(&populated(facts), minimum, &bucket.types, expected)
}

fn check_minimum(subject: &Subject, profile: &Profile) -> Outcome {
    let limits = match subject.role {
        Role::Metadata => &profile.metadata_role,
        _ => &profile.storage_role,
    };
    let expected = format!(">= {} GB of {}", limits.min_memory_gb, limits.memory_types.join(" or "));
    judge_memory(
        &populated(subject.facts),
        u64::from(limits.min_memory_gb),
        &limits.memory_types,
        expected,
    )
}

pub const ECC: RuleInfo = RuleInfo {
    id: "dimm-ecc",
    description: "every populated DIMM supports ECC",
    areas: &["/Memory"],
    check: check_ecc,
};

enum Ecc {
    Yes(Vec<Evidence>),
    No(Vec<Evidence>),
    Unknown(Vec<Evidence>),
}

/// Decides ECC from ErrorCorrection, else from the extra bus bits: ECC DIMMs carry 8 (DDR4,
/// 72/64) or 16 (DDR5, 80/64) check bits on top of the data width. Lenovo XCC and AMI-based
/// BMCs omit ErrorCorrection but report both widths.
fn ecc_of(dimm: &Dimm) -> Ecc {
    let correction = Evidence::optional(&dimm.uri, "ErrorCorrection", &dimm.error_correction);
    match dimm.error_correction.as_deref() {
        Some("SingleBitECC" | "MultiBitECC") => return Ecc::Yes(vec![correction]),
        Some("NoECC") => return Ecc::No(vec![correction]),
        _ => {}
    }

    let widths = vec![
        correction,
        Evidence::optional(&dimm.uri, "BusWidthBits", &dimm.bus_width_bits),
        Evidence::optional(&dimm.uri, "DataWidthBits", &dimm.data_width_bits),
    ];
    match (dimm.bus_width_bits, dimm.data_width_bits) {
        (Some(bus), Some(data)) if bus == data + 8 || bus == data + 16 => Ecc::Yes(widths),
        (Some(bus), Some(data)) if bus == data => Ecc::No(widths),
        _ => Ecc::Unknown(widths),
    }
}

fn label(dimm: &Dimm) -> String {
    format!("DIMM {}", dimm.locator.as_deref().unwrap_or(&dimm.id))
}

fn check_ecc(subject: &Subject, _profile: &Profile) -> Outcome {
    let facts = subject.facts;
    let expected = "ErrorCorrection SingleBitECC or MultiBitECC on every populated DIMM";
    let populated: Vec<&Dimm> = facts.dimms.iter().filter(|d| !is_absent(d.state.as_deref())).collect();
    if populated.is_empty() {
        return Outcome::new(Status::Unknown, expected, "no DIMM reported by the BMC");
    }

    let mut without = Vec::new();
    let mut undecided = Vec::new();
    let mut bad_evidence = Vec::new();
    let mut good_evidence = Vec::new();
    for dimm in &populated {
        match ecc_of(dimm) {
            Ecc::Yes(evidence) => good_evidence.extend(evidence),
            Ecc::No(evidence) => {
                let reason = dimm.error_correction.as_deref().unwrap_or("no check bits");
                without.push((label(dimm), format!("{} ({reason})", label(dimm))));
                bad_evidence.extend(evidence);
            }
            Ecc::Unknown(evidence) => {
                undecided.push(label(dimm));
                bad_evidence.extend(evidence);
            }
        }
    }

    if !without.is_empty() {
        let count = without.len();
        let (parts, reasons): (Vec<String>, Vec<String>) = without.into_iter().unzip();
        let observed = format!(
            "{count} of {} DIMMs without ECC: {}",
            populated.len(),
            reasons.join(", ")
        );
        return Outcome::new(Status::Fail, expected, observed)
            .with_parts(parts)
            .with_evidence(bad_evidence);
    }
    if !undecided.is_empty() {
        let observed = format!("no ErrorCorrection or bus widths for {}", undecided.join(", "));
        return Outcome::new(Status::Unknown, expected, observed)
            .with_parts(undecided)
            .with_evidence(bad_evidence);
    }
    let inferred = populated.iter().filter(|dimm| dimm.error_correction.is_none()).count();
    let observed = if inferred == 0 {
        format!("{} DIMMs with ECC", populated.len())
    } else {
        format!(
            "{} DIMMs with ECC ({inferred} without ErrorCorrection, judged by 8 or 16 check bits of BusWidthBits over DataWidthBits)",
            populated.len()
        )
    };
    Outcome::new(Status::Pass, expected, observed).with_evidence(good_evidence)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{run, run_as, status};
    use crate::facts::{Dimm, Gpu, NodeFacts};
    use crate::inventory::Role;
    use crate::policy::Status;

    fn dimm(correction: Option<&str>, bus: Option<u32>, data: Option<u32>) -> Dimm {
        Dimm {
            uri: "/redfish/v1/Systems/1/Memory/DIMM_A1".into(),
            id: "DIMM_A1".into(),
            error_correction: correction.map(Into::into),
            bus_width_bits: bus,
            data_width_bits: data,
            state: Some("Enabled".into()),
            ..Dimm::default()
        }
    }

    fn node(dimms: Vec<Dimm>) -> NodeFacts {
        NodeFacts {
            dimms,
            ..NodeFacts::default()
        }
    }

    #[test]
    fn multibit_ecc_passes() {
        assert_eq!(
            status("dimm-ecc", &node(vec![dimm(Some("MultiBitECC"), None, None)])),
            Status::Pass
        );
    }

    #[test]
    fn one_noecc_dimm_fails_and_is_named() {
        let mut bad = dimm(Some("NoECC"), Some(64), Some(64));
        bad.locator = Some("B3".into());
        let outcome = run("dimm-ecc", &node(vec![dimm(Some("MultiBitECC"), None, None), bad]));
        assert_eq!(outcome.status, Status::Fail);
        assert_eq!(outcome.parts, vec!["DIMM B3".to_string()]);
    }

    #[test]
    fn ddr5_widths_decide_when_correction_missing() {
        assert_eq!(
            status("dimm-ecc", &node(vec![dimm(None, Some(80), Some(64))])),
            Status::Pass
        );
    }

    #[test]
    fn equal_widths_mean_no_ecc() {
        assert_eq!(
            status("dimm-ecc", &node(vec![dimm(None, Some(64), Some(64))])),
            Status::Fail
        );
    }

    #[test]
    fn nothing_reported_is_unknown() {
        assert_eq!(status("dimm-ecc", &node(vec![dimm(None, None, None)])), Status::Unknown);
    }

    fn sized(count: usize, gib: u64, kind: &str) -> Vec<Dimm> {
        (0..count)
            .map(|_| Dimm {
                capacity_mib: Some(gib * 1024),
                device_type: Some(kind.into()),
                state: Some("Enabled".into()),
                ..Dimm::default()
            })
            .collect()
    }

    fn h100s(count: usize) -> Vec<Gpu> {
        (0..count)
            .map(|_| Gpu {
                device_id: Some("0x2330".into()),
                ..Gpu::default()
            })
            .collect()
    }

    #[test]
    fn eight_h100_need_2048_gib_ddr5() {
        let enough = NodeFacts {
            dimms: sized(32, 64, "DDR5"),
            gpus: h100s(8),
            ..NodeFacts::default()
        };
        let short = NodeFacts {
            dimms: sized(16, 64, "DDR5"),
            gpus: h100s(8),
            ..NodeFacts::default()
        };
        let ddr4 = NodeFacts {
            dimms: sized(32, 64, "DDR4"),
            gpus: h100s(8),
            ..NodeFacts::default()
        };
        assert_eq!(status("memory-per-gpu", &enough), Status::Pass);
        assert_eq!(status("memory-per-gpu", &short), Status::Fail);
        assert_eq!(status("memory-per-gpu", &ddr4), Status::Fail);
    }

    #[test]
    fn unknown_gpu_memory_is_unknown() {
        let facts = NodeFacts {
            dimms: sized(8, 64, "DDR5"),
            gpus: vec![Gpu::default()],
            ..NodeFacts::default()
        };
        assert_eq!(status("memory-per-gpu", &facts), Status::Unknown);
    }

    #[test]
    fn reported_gpu_memory_is_bucketed() {
        let gpu = Gpu {
            memory_mib: Some(81_559),
            ..Gpu::default()
        };
        let facts = NodeFacts {
            dimms: sized(4, 64, "DDR5"),
            gpus: vec![gpu],
            ..NodeFacts::default()
        };
        assert_eq!(status("memory-per-gpu", &facts), Status::Pass);
    }

    #[test]
    fn storage_needs_256_gib_ddr5() {
        let enough = NodeFacts {
            dimms: sized(8, 32, "DDR5"),
            ..NodeFacts::default()
        };
        let short = NodeFacts {
            dimms: sized(4, 32, "DDR5"),
            ..NodeFacts::default()
        };
        assert_eq!(
            run_as("memory-minimum", &enough, None, Role::Storage).status,
            Status::Pass
        );
        assert_eq!(
            run_as("memory-minimum", &short, None, Role::Storage).status,
            Status::Fail
        );
        assert_eq!(
            run_as("memory-minimum", &short, None, Role::Metadata).status,
            Status::Pass
        );
    }

    #[test]
    fn ddr5_is_inferred_from_widths() {
        let mut dimms = sized(8, 32, "DDR5");
        for dimm in &mut dimms {
            dimm.device_type = None;
            dimm.bus_width_bits = Some(80);
            dimm.data_width_bits = Some(64);
        }
        let facts = NodeFacts {
            dimms,
            ..NodeFacts::default()
        };
        assert_eq!(
            run_as("memory-minimum", &facts, None, Role::Storage).status,
            Status::Pass
        );
    }

    #[test]
    fn gpu_memory_from_model_string() {
        let gpu = Gpu {
            model: Some("H100 80GB HBM3".into()),
            ..Gpu::default()
        };
        let facts = NodeFacts {
            dimms: sized(4, 64, "DDR5"),
            gpus: vec![gpu],
            ..NodeFacts::default()
        };
        assert_eq!(status("memory-per-gpu", &facts), Status::Pass);
    }

    #[test]
    fn missing_memory_type_is_unknown() {
        let mut dimms = sized(8, 32, "DDR5");
        dimms[0].device_type = None;
        let facts = NodeFacts {
            dimms,
            ..NodeFacts::default()
        };
        assert_eq!(
            run_as("memory-minimum", &facts, None, Role::Storage).status,
            Status::Unknown
        );
    }

    #[test]
    fn absent_slots_are_skipped() {
        let mut empty = dimm(None, None, None);
        empty.state = Some("Absent".into());
        assert_eq!(
            status("dimm-ecc", &node(vec![dimm(Some("SingleBitECC"), None, None), empty])),
            Status::Pass
        );
    }
}
