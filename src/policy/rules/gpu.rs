//! GPU rules: every GPU is an NVIDIA GPU of an accepted architecture.

use super::{Outcome, RuleInfo, Subject};
use crate::facts::Gpu;
use crate::policy::gpu_models::{Identification, NVIDIA_VENDOR_ID, architecture_from_model, parse_pci_id};
use crate::policy::{Evidence, Profile, Status};

/// Resources the GPU facts are collected from: Processors of type GPU, and PCIe devices and
/// functions.
pub(super) const GPU_AREAS: &[&str] = &["/Processors", "/PCIeDevices", "/PCIeFunctions"];

pub const NVIDIA: RuleInfo = RuleInfo {
    id: "gpu-nvidia",
    description: "every GPU is an NVIDIA GPU, and the node has at least one",
    areas: GPU_AREAS,
    check: check_vendor,
};

pub const COUNT: RuleInfo = RuleInfo {
    id: "gpu-count",
    description: "the node shows as many working GPUs as the inventory expects",
    areas: GPU_AREAS,
    check: check_count,
};

pub const PCIE_BANDWIDTH: RuleInfo = RuleInfo {
    id: "gpu-pcie-bandwidth",
    description: "every GPU's trained PCIe link has the bandwidth its memory size needs",
    areas: GPU_AREAS,
    check: check_pcie,
};

pub const ARCHITECTURE: RuleInfo = RuleInfo {
    id: "gpu-architecture",
    description: "every GPU is of the profile's minimum architecture or newer",
    areas: GPU_AREAS,
    check: check_architecture,
};

/// Names a GPU for technicians by id and model.
fn label(gpu: &Gpu) -> String {
    match &gpu.model {
        Some(model) => format!("GPU {} ({model})", gpu.id),
        None => format!("GPU {}", gpu.id),
    }
}

enum Vendor {
    Nvidia,
    Other(String),
    Unreported,
}

fn vendor_of(gpu: &Gpu) -> Vendor {
    if let Some(id) = gpu.vendor_id.as_deref().and_then(parse_pci_id) {
        return if id == NVIDIA_VENDOR_ID {
            Vendor::Nvidia
        } else {
            Vendor::Other(format!("PCI vendor {id:#06x}"))
        };
    }
    let names = [gpu.manufacturer.as_deref(), gpu.model.as_deref()];
    if names
        .iter()
        .flatten()
        .any(|name| name.to_uppercase().contains("NVIDIA"))
    {
        return Vendor::Nvidia;
    }
    // Supermicro HGX functions report VendorId 0x0000 and a bare model ("H100 80GB HBM3").
    if gpu.model.as_deref().and_then(architecture_from_model).is_some() {
        return Vendor::Nvidia;
    }
    match gpu.manufacturer.as_deref() {
        Some(other) if !other.trim().is_empty() => Vendor::Other(other.to_string()),
        _ => Vendor::Unreported,
    }
}

fn vendor_evidence(gpu: &Gpu) -> Vec<Evidence> {
    vec![
        Evidence::optional(&gpu.uri, "VendorId", &gpu.vendor_id),
        Evidence::optional(&gpu.uri, "Manufacturer", &gpu.manufacturer),
        Evidence::optional(&gpu.uri, "Model", &gpu.model),
    ]
}

fn check_vendor(subject: &Subject, _profile: &Profile) -> Outcome {
    let facts = subject.facts;
    let expected = "NVIDIA GPUs only, at least one";
    // A BMC that lists no GPU does not prove there is none: HPE iLO 5 shows GPUs only in OEM
    // resources, and many BMCs fill in PCIe inventory only after the host has been powered on.
    if facts.gpus.is_empty() {
        return Outcome::new(
            Status::Unknown,
            expected,
            "no GPU reported by the BMC; check in-band with `nvidia-smi -L`",
        );
    }

    let mut others = Vec::new();
    let mut unreported = Vec::new();
    let mut evidence = Vec::new();
    for gpu in &facts.gpus {
        match vendor_of(gpu) {
            Vendor::Nvidia => {}
            Vendor::Other(vendor) => {
                others.push((label(gpu), format!("{} is {vendor}", label(gpu))));
                evidence.extend(vendor_evidence(gpu));
            }
            Vendor::Unreported => {
                unreported.push(label(gpu));
                evidence.extend(vendor_evidence(gpu));
            }
        }
    }

    if !others.is_empty() {
        let (parts, reasons): (Vec<String>, Vec<String>) = others.into_iter().unzip();
        return Outcome::new(Status::Fail, expected, reasons.join("; "))
            .with_parts(parts)
            .with_evidence(evidence);
    }
    if !unreported.is_empty() {
        let observed = format!("no vendor ID, manufacturer or model for {}", unreported.join(", "));
        return Outcome::new(Status::Unknown, expected, observed)
            .with_parts(unreported)
            .with_evidence(evidence);
    }
    let evidence = facts
        .gpus
        .iter()
        .flat_map(vendor_evidence)
        .filter(|e| !e.value.is_null())
        .collect();
    Outcome::new(Status::Pass, expected, format!("{} NVIDIA GPUs", facts.gpus.len())).with_evidence(evidence)
}

/// True when a GPU is listed but not working: disabled, offline or reporting a fault.
fn is_broken(gpu: &Gpu) -> bool {
    let state_off = matches!(
        gpu.state.as_deref(),
        Some("Disabled" | "UnavailableOffline" | "Quiesced")
    );
    state_off || super::is_unhealthy(gpu.health.as_deref())
}

fn check_count(subject: &Subject, _profile: &Profile) -> Outcome {
    let facts = subject.facts;
    let working = facts.gpus.iter().filter(|gpu| !is_broken(gpu)).count();
    let Some(expected) = subject.expected_gpus else {
        let observed = format!("{working} working GPUs; the inventory gives no expected count (column `gpus`)");
        return Outcome::new(Status::NotApplicable, "the inventory's GPU count", observed);
    };

    let expected_text = format!("{expected} working GPUs");
    let broken: Vec<&Gpu> = facts.gpus.iter().filter(|gpu| is_broken(gpu)).collect();
    let mut evidence: Vec<Evidence> = broken
        .iter()
        .flat_map(|gpu| {
            [
                Evidence::optional(&gpu.uri, "Status/Health", &gpu.health),
                Evidence::optional(&gpu.uri, "Status/State", &gpu.state),
            ]
        })
        .collect();
    if evidence.is_empty() {
        evidence = facts
            .gpus
            .iter()
            .map(|gpu| Evidence::optional(&gpu.uri, "Status/State", &gpu.state))
            .collect();
    }

    let observed = format!("{working} working of {} GPUs listed", facts.gpus.len());
    if working == expected as usize {
        return Outcome::new(Status::Pass, expected_text, observed).with_evidence(evidence);
    }
    let parts = broken.iter().map(|gpu| label(gpu)).collect();
    Outcome::new(Status::Fail, expected_text, observed)
        .with_parts(parts)
        .with_evidence(evidence)
}

/// Transfer rate of a PCIe generation in GT/s ("Gen4" or "PCIe4" → 16).
fn gts_of(pcie_type: &str) -> Option<u32> {
    let digits: String = pcie_type.chars().filter(char::is_ascii_digit).collect();
    match digits.as_str() {
        "1" => Some(2),
        "2" => Some(5),
        "3" => Some(8),
        "4" => Some(16),
        "5" => Some(32),
        "6" => Some(64),
        _ => None,
    }
}

/// Why one GPU's link cannot be judged, or its bandwidth and the minimum it needs.
enum LinkCheck {
    Judged { gts_lanes: u32, minimum: u32, link: String },
    NotApplicable(String),
    Unknown(String),
}

fn check_link(gpu: &Gpu, profile: &Profile) -> LinkCheck {
    let limits = &profile.pcie;
    let device = gpu.device_id.as_deref().and_then(parse_pci_id);
    let is_c2c = device.is_some_and(|id| {
        limits
            .c2c_device_ids
            .iter()
            .filter_map(|c| parse_pci_id(c))
            .any(|c| c == id)
    });
    if is_c2c {
        return LinkCheck::NotApplicable(format!("{} reaches its CPU over NVLink-C2C, not PCIe", label(gpu)));
    }

    let exception = device.and_then(|id| {
        limits
            .exceptions
            .iter()
            .find(|e| parse_pci_id(&e.device_id) == Some(id))
    });
    let minimum = match exception {
        Some(exception) => exception.min_gts_lanes,
        None => {
            let Some(memory_gb) = super::memory::gpu_memory_gb(gpu, profile) else {
                return LinkCheck::Unknown(format!("{}: memory size not reported or known", label(gpu)));
            };
            let bucket = limits
                .buckets
                .iter()
                .filter(|b| memory_gb >= b.gpu_memory_gb)
                .max_by_key(|b| b.gpu_memory_gb);
            match bucket {
                Some(bucket) => bucket.min_gts_lanes,
                None => return LinkCheck::NotApplicable(format!("no bus bucket for {}", label(gpu))),
            }
        }
    };

    let Some(link) = &gpu.pcie else {
        return LinkCheck::Unknown(format!("{}: no PCIe link reported", label(gpu)));
    };
    let current = link.pcie_type.as_deref().and_then(gts_of).zip(link.lanes_in_use);
    let Some((gts, lanes)) = current else {
        let reason = if link.max_pcie_type.is_some() || link.max_lanes.is_some() {
            "only the slot's maximum is reported, not the trained link"
        } else {
            "no PCIeType or LanesInUse reported"
        };
        return LinkCheck::Unknown(format!("{}: {reason}", label(gpu)));
    };
    let link_text = format!("{} x{lanes}", link.pcie_type.as_deref().unwrap_or("?"));
    LinkCheck::Judged {
        gts_lanes: gts * lanes,
        minimum,
        link: link_text,
    }
}

fn check_pcie(subject: &Subject, profile: &Profile) -> Outcome {
    let facts = subject.facts;
    let expected = "GT/s x lanes of the trained link >= the minimum for the GPU's memory size";
    if facts.gpus.is_empty() {
        return Outcome::new(Status::Unknown, expected, "no GPU reported by the BMC");
    }

    let mut slow = Vec::new();
    let mut unknown = Vec::new();
    let mut not_applicable = Vec::new();
    let mut links = Vec::new();
    let mut evidence = Vec::new();
    for gpu in &facts.gpus {
        if let Some(link) = &gpu.pcie {
            evidence.push(Evidence::optional(&link.uri, "PCIeInterface/PCIeType", &link.pcie_type));
            evidence.push(Evidence::optional(
                &link.uri,
                "PCIeInterface/LanesInUse",
                &link.lanes_in_use,
            ));
        }
        match check_link(gpu, profile) {
            LinkCheck::Judged {
                gts_lanes,
                minimum,
                link,
            } if gts_lanes < minimum => {
                slow.push((
                    label(gpu),
                    format!("{} at {link} = {gts_lanes} < {minimum}", label(gpu)),
                ));
            }
            LinkCheck::Judged { link, .. } => links.push(link),
            LinkCheck::NotApplicable(reason) => not_applicable.push(reason),
            LinkCheck::Unknown(reason) => unknown.push(reason),
        }
    }

    if !slow.is_empty() {
        let (parts, reasons): (Vec<String>, Vec<String>) = slow.into_iter().unzip();
        // An idle GPU may train its link down; a low link is confirmed under load in-band.
        let observed = format!(
            "{}; confirm under load with nvidia-smi pcie.link fields",
            reasons.join("; ")
        );
        return Outcome::new(Status::Fail, expected, observed)
            .with_parts(parts)
            .with_evidence(evidence);
    }
    if !unknown.is_empty() {
        return Outcome::new(Status::Unknown, expected, unknown.join("; ")).with_evidence(evidence);
    }
    if links.is_empty() {
        return Outcome::new(Status::NotApplicable, expected, not_applicable.join("; ")).with_evidence(evidence);
    }
    links.sort();
    links.dedup();
    let observed = format!("{} GPUs at {}", facts.gpus.len(), links.join(", "));
    Outcome::new(Status::Pass, expected, observed).with_evidence(evidence)
}

fn check_architecture(subject: &Subject, profile: &Profile) -> Outcome {
    let facts = subject.facts;
    let minimum = profile.gpu.min_architecture;
    let expected = format!("{} or newer", minimum.name());
    if facts.gpus.is_empty() {
        return Outcome::new(Status::Unknown, expected, "no GPU reported by the BMC");
    }

    let mut too_old = Vec::new();
    let mut unidentified = Vec::new();
    let mut seen = Vec::new();
    let mut evidence = Vec::new();
    let mut bad_evidence = Vec::new();
    for gpu in &facts.gpus {
        let device = gpu.device_id.as_deref().and_then(parse_pci_id);
        let subsystem = gpu.subsystem_id.as_deref().and_then(parse_pci_id);
        let gpu_evidence = [
            Evidence::optional(&gpu.uri, "DeviceId", &gpu.device_id),
            Evidence::optional(&gpu.uri, "Model", &gpu.model),
        ];

        let (arch, how) = match profile.gpu_table.identify(device, subsystem, gpu.model.as_deref()) {
            Some(Identification::Table(row)) => (row.architecture, format!("{} by device ID", row.name)),
            Some(Identification::ModelString(arch, _)) => (arch, "by model string".to_string()),
            None => {
                unidentified.push(label(gpu));
                bad_evidence.extend(gpu_evidence);
                continue;
            }
        };
        if arch < minimum {
            too_old.push((label(gpu), format!("{} is {} ({how})", label(gpu), arch.name())));
            bad_evidence.extend(gpu_evidence);
        } else {
            seen.push(arch.name());
            evidence.extend(gpu_evidence);
        }
    }

    if !too_old.is_empty() {
        let (parts, reasons): (Vec<String>, Vec<String>) = too_old.into_iter().unzip();
        return Outcome::new(Status::Fail, expected, reasons.join("; "))
            .with_parts(parts)
            .with_evidence(bad_evidence);
    }
    if !unidentified.is_empty() {
        let observed = format!(
            "device ID and model not in the GPU table for {}",
            unidentified.join(", ")
        );
        return Outcome::new(Status::Unknown, expected, observed)
            .with_parts(unidentified)
            .with_evidence(bad_evidence);
    }
    seen.dedup();
    let observed = format!("{} GPUs: {}", facts.gpus.len(), seen.join(", "));
    Outcome::new(Status::Pass, expected, observed).with_evidence(evidence)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{run, run_expecting, status};
    use crate::facts::{Gpu, NodeFacts, PcieLink};
    use crate::policy::Status;

    fn gpu(vendor: Option<&str>, device: Option<&str>, model: Option<&str>) -> Gpu {
        Gpu {
            uri: "/redfish/v1/Systems/1/Processors/GPU1".into(),
            id: "GPU1".into(),
            vendor_id: vendor.map(Into::into),
            device_id: device.map(Into::into),
            model: model.map(Into::into),
            ..Gpu::default()
        }
    }

    fn node(gpus: Vec<Gpu>) -> NodeFacts {
        NodeFacts {
            gpus,
            ..NodeFacts::default()
        }
    }

    #[test]
    fn nvidia_by_decimal_vendor_id() {
        assert_eq!(
            status("gpu-nvidia", &node(vec![gpu(Some("4318"), None, None)])),
            Status::Pass
        );
    }

    #[test]
    fn other_vendor_fails() {
        assert_eq!(
            status("gpu-nvidia", &node(vec![gpu(Some("0x1002"), None, Some("MI250X"))])),
            Status::Fail
        );
    }

    #[test]
    fn no_gpus_is_unknown() {
        assert_eq!(status("gpu-nvidia", &node(vec![])), Status::Unknown);
    }

    #[test]
    fn nvidia_by_model_when_ids_are_zero() {
        assert_eq!(
            status(
                "gpu-nvidia",
                &node(vec![gpu(Some("0x0000"), None, Some("H100 80GB HBM3"))])
            ),
            Status::Pass
        );
    }

    #[test]
    fn unreported_vendor_is_unknown() {
        assert_eq!(
            status("gpu-nvidia", &node(vec![gpu(Some("0x0000"), None, None)])),
            Status::Unknown
        );
    }

    #[test]
    fn count_matches_inventory() {
        let facts = node(vec![gpu(Some("0x10de"), None, None); 8]);
        assert_eq!(run_expecting("gpu-count", &facts, Some(8)).status, Status::Pass);
        assert_eq!(run_expecting("gpu-count", &facts, Some(7)).status, Status::Fail);
    }

    #[test]
    fn missing_gpu_fails_count() {
        let facts = node(vec![gpu(Some("0x10de"), None, None); 7]);
        assert_eq!(run_expecting("gpu-count", &facts, Some(8)).status, Status::Fail);
    }

    #[test]
    fn critical_gpu_is_not_counted() {
        let mut gpus = vec![gpu(Some("0x10de"), None, None); 8];
        gpus[4].health = Some("Critical".into());
        let outcome = run_expecting("gpu-count", &node(gpus), Some(8));
        assert_eq!(outcome.status, Status::Fail);
        assert_eq!(outcome.parts, vec!["GPU GPU1".to_string()]);
    }

    #[test]
    fn count_without_expectation_is_not_applicable() {
        let facts = node(vec![gpu(Some("0x10de"), None, None); 8]);
        assert_eq!(status("gpu-count", &facts), Status::NotApplicable);
    }

    fn linked(device: &str, pcie_type: Option<&str>, lanes: Option<u32>) -> Gpu {
        let mut gpu = gpu(Some("0x10de"), Some(device), None);
        gpu.pcie = Some(PcieLink {
            uri: "/redfish/v1/Chassis/1/PCIeDevices/GPU1".into(),
            pcie_type: pcie_type.map(Into::into),
            lanes_in_use: lanes,
            max_pcie_type: Some("Gen5".into()),
            max_lanes: Some(16),
        });
        gpu
    }

    #[test]
    fn h100_at_gen5_x16_passes() {
        assert_eq!(
            status(
                "gpu-pcie-bandwidth",
                &node(vec![linked("0x2330", Some("Gen5"), Some(16))])
            ),
            Status::Pass
        );
    }

    #[test]
    fn h100_at_gen4_x8_fails() {
        let outcome = run(
            "gpu-pcie-bandwidth",
            &node(vec![linked("0x2330", Some("Gen4"), Some(8))]),
        );
        assert_eq!(outcome.status, Status::Fail);
        assert_eq!(outcome.parts, vec!["GPU GPU1".to_string()]);
    }

    #[test]
    fn a100_80gb_pcie_exception_accepts_gen4() {
        assert_eq!(
            status(
                "gpu-pcie-bandwidth",
                &node(vec![linked("0x20b5", Some("Gen4"), Some(16))])
            ),
            Status::Pass
        );
    }

    #[test]
    fn l40s_at_gen4_x16_passes() {
        assert_eq!(
            status(
                "gpu-pcie-bandwidth",
                &node(vec![linked("0x26b9", Some("Gen4"), Some(16))])
            ),
            Status::Pass
        );
    }

    #[test]
    fn only_slot_maximum_is_unknown() {
        let outcome = run("gpu-pcie-bandwidth", &node(vec![linked("0x2330", None, None)]));
        assert_eq!(outcome.status, Status::Unknown);
        assert!(
            outcome.observed.contains("only the slot's maximum"),
            "{}",
            outcome.observed
        );
    }

    #[test]
    fn grace_hopper_is_not_applicable() {
        let gpu = linked("0x2342", Some("Gen4"), Some(1));
        assert_eq!(status("gpu-pcie-bandwidth", &node(vec![gpu])), Status::NotApplicable);
    }

    #[test]
    fn hopper_passes_architecture() {
        let facts = node(vec![gpu(Some("0x10DE"), Some("0x2330"), None)]);
        assert_eq!(status("gpu-architecture", &facts), Status::Pass);
    }

    #[test]
    fn volta_fails_architecture() {
        let facts = node(vec![gpu(Some("0x10de"), Some("0x1db4"), Some("Tesla V100-PCIE-16GB"))]);
        assert_eq!(status("gpu-architecture", &facts), Status::Fail);
    }

    #[test]
    fn zeroed_ids_fall_back_to_model() {
        let facts = node(vec![gpu(Some("0x0000"), Some("0x0000"), Some("H100 80GB HBM3"))]);
        assert_eq!(status("gpu-architecture", &facts), Status::Pass);
    }

    #[test]
    fn unknown_id_is_unknown() {
        let facts = node(vec![gpu(Some("0x10de"), Some("0x2fff"), None)]);
        assert_eq!(status("gpu-architecture", &facts), Status::Unknown);
    }
}
