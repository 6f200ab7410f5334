//! Firmware rule: BIOS, BMC and GPU firmware at or above the minimums the profile sets per
//! vendor and model.
//!
//! "Latest stable" cannot be read from a BMC; it needs the vendor's catalogue. The profile
//! therefore carries minimums, and versions are compared as tuples of numbers, never as
//! strings: "2.10.0" is newer than "2.9.5".

use std::sync::LazyLock;

use regex::Regex;

use super::{Outcome, RuleInfo, Subject};
use crate::facts::NodeFacts;
use crate::policy::profile::{FirmwareComponent, FirmwareMinimum};
use crate::policy::{Evidence, Profile, Status};

pub const MINIMUM: RuleInfo = RuleInfo {
    id: "firmware-minimum",
    description: "BIOS, BMC and GPU firmware are at or above the profile's minimums for the platform",
    areas: &["/Managers", "/UpdateService", "/Processors"],
    check: check_minimum,
};

/// The first dotted number in a version string: Dell "2.3.5", Lenovo "KAE114E-3.10" (3.10),
/// Supermicro "1.6a" (1.6), HPE "A43 v2.72 (03/06/2023)" (2.72).
static DOTTED: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\d+(?:\.\d+)+").expect("valid pattern"));

/// Extracts a comparable tuple from a version string, or `None` when it contains no dotted number.
pub(crate) fn version_tuple(version: &str) -> Option<Vec<u64>> {
    let found = DOTTED.find(version)?;
    found.as_str().split('.').map(|part| part.parse().ok()).collect()
}

/// Compares two tuples, a missing trailing part counting as 0 ("2.3" equals "2.3.0").
fn at_least(found: &[u64], minimum: &[u64]) -> bool {
    let length = found.len().max(minimum.len());
    let pad = |v: &[u64]| (0..length).map(|i| v.get(i).copied().unwrap_or(0)).collect::<Vec<_>>();
    pad(found) >= pad(minimum)
}

fn applies(entry: &FirmwareMinimum, facts: &NodeFacts) -> bool {
    let contains = |value: &Option<String>, wanted: &str| {
        value
            .as_deref()
            .is_some_and(|v| v.to_lowercase().contains(&wanted.to_lowercase()))
    };
    contains(&facts.system.manufacturer, &entry.vendor) && contains(&facts.system.model, &entry.model)
}

/// Lists the versions a component reports, each with its URI and property.
fn versions(component: FirmwareComponent, facts: &NodeFacts) -> Vec<(String, &'static str, Option<String>)> {
    match component {
        FirmwareComponent::Bios => {
            vec![(
                facts.system.uri.clone(),
                "BiosVersion",
                facts.system.bios_version.clone(),
            )]
        }
        FirmwareComponent::Bmc => facts
            .managers
            .iter()
            .map(|manager| (manager.uri.clone(), "FirmwareVersion", manager.firmware_version.clone()))
            .collect(),
        FirmwareComponent::Gpu => facts
            .gpus
            .iter()
            .map(|gpu| (gpu.uri.clone(), "FirmwareVersion", gpu.firmware_version.clone()))
            .collect(),
    }
}

fn check_minimum(subject: &Subject, profile: &Profile) -> Outcome {
    let facts = subject.facts;
    let platform = [facts.system.manufacturer.as_deref(), facts.system.model.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let entries: Vec<&FirmwareMinimum> = profile.firmware.iter().filter(|entry| applies(entry, facts)).collect();
    if entries.is_empty() {
        let observed = format!(
            "the profile sets no firmware minimum for `{platform}` (BIOS {}); add [[firmware]] entries from the vendor's catalogue",
            facts.system.bios_version.as_deref().unwrap_or("not reported")
        );
        return Outcome::new(Status::NotApplicable, "the profile's firmware minimums", observed);
    }

    let expected = entries
        .iter()
        .map(|entry| format!("{} >= {}", entry.component.name(), entry.min_version))
        .collect::<Vec<_>>()
        .join(", ");
    let mut stale = Vec::new();
    let mut unreadable = Vec::new();
    let mut seen = Vec::new();
    let mut evidence = Vec::new();
    for entry in entries {
        let Some(minimum) = version_tuple(&entry.min_version) else {
            unreadable.push(format!("minimum `{}` has no dotted number", entry.min_version));
            continue;
        };
        let found = versions(entry.component, facts);
        if found.is_empty() {
            unreadable.push(format!("no {} reported", entry.component.name()));
        }
        for (uri, property, version) in found {
            evidence.push(Evidence::optional(&uri, property, &version));
            match version.as_deref().map(|v| (v, version_tuple(v))) {
                Some((text, Some(tuple))) if at_least(&tuple, &minimum) => {
                    seen.push(format!("{} {text}", entry.component.name()))
                }
                Some((text, Some(_))) => {
                    stale.push(format!("{} {text} < {}", entry.component.name(), entry.min_version))
                }
                Some((text, None)) => unreadable.push(format!(
                    "{} version `{text}` has no dotted number",
                    entry.component.name()
                )),
                None => unreadable.push(format!("{} version not reported at {uri}", entry.component.name())),
            }
        }
    }

    if !stale.is_empty() {
        stale.dedup();
        return Outcome::new(Status::Fail, expected, stale.join("; ")).with_evidence(evidence);
    }
    if !unreadable.is_empty() {
        unreadable.dedup();
        return Outcome::new(Status::Unknown, expected, unreadable.join("; ")).with_evidence(evidence);
    }
    seen.dedup();
    Outcome::new(Status::Pass, expected, seen.join(", ")).with_evidence(evidence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{Manager, SystemInfo};
    use crate::policy::profile::FirmwareMinimum;

    #[test]
    fn vendor_version_formats() {
        assert_eq!(version_tuple("2.3.5"), Some(vec![2, 3, 5]));
        assert_eq!(version_tuple("KAE114E-3.10"), Some(vec![3, 10]));
        assert_eq!(version_tuple("1.6a"), Some(vec![1, 6]));
        assert_eq!(version_tuple("A43 v2.72 (03/06/2023)"), Some(vec![2, 72]));
        assert_eq!(version_tuple("7.10.70.00"), Some(vec![7, 10, 70, 0]));
        assert_eq!(version_tuple("unknown"), None);
    }

    #[test]
    fn tuples_compare_numerically() {
        assert!(at_least(&[2, 10, 0], &[2, 9, 5]));
        assert!(!at_least(&[2, 9, 5], &[2, 10]));
        assert!(at_least(&[2, 3], &[2, 3, 0]));
    }

    fn dell(bios: Option<&str>, bmc: Option<&str>) -> NodeFacts {
        NodeFacts {
            system: SystemInfo {
                uri: "/redfish/v1/Systems/System.Embedded.1".into(),
                manufacturer: Some("Dell Inc.".into()),
                model: Some("PowerEdge XE9680".into()),
                bios_version: bios.map(Into::into),
                ..SystemInfo::default()
            },
            managers: vec![Manager {
                uri: "/redfish/v1/Managers/iDRAC.Embedded.1".into(),
                firmware_version: bmc.map(Into::into),
                ..Manager::default()
            }],
            ..NodeFacts::default()
        }
    }

    fn profile_with_minimums() -> Profile {
        let mut profile = Profile::builtin();
        profile.firmware = vec![
            FirmwareMinimum {
                vendor: "Dell".into(),
                model: "XE9680".into(),
                component: FirmwareComponent::Bios,
                min_version: "2.3.0".into(),
            },
            FirmwareMinimum {
                vendor: "Dell".into(),
                model: "XE9680".into(),
                component: FirmwareComponent::Bmc,
                min_version: "7.10.30".into(),
            },
        ];
        profile
    }

    fn status(facts: &NodeFacts, profile: &Profile) -> Status {
        let subject = Subject {
            facts,
            role: crate::inventory::Role::GpuCompute,
            expected_gpus: None,
        };
        check_minimum(&subject, profile).status
    }

    #[test]
    fn current_firmware_passes() {
        assert_eq!(
            status(&dell(Some("2.3.5"), Some("7.10.70.00")), &profile_with_minimums()),
            Status::Pass
        );
    }

    #[test]
    fn old_bios_fails() {
        assert_eq!(
            status(&dell(Some("1.5.6"), Some("7.10.70.00")), &profile_with_minimums()),
            Status::Fail
        );
    }

    #[test]
    fn missing_version_is_unknown() {
        assert_eq!(
            status(&dell(None, Some("7.10.70.00")), &profile_with_minimums()),
            Status::Unknown
        );
    }

    #[test]
    fn platform_without_minimums_is_not_applicable() {
        assert_eq!(
            status(&dell(Some("2.3.5"), None), &Profile::builtin()),
            Status::NotApplicable
        );
    }
}
