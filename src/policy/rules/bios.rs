//! BIOS rules: the IOMMU is disabled in the current BIOS settings.

use super::{Outcome, RuleInfo, Subject};
use crate::policy::bios_keys::{Switch, switch_of};
use crate::policy::{Evidence, Profile, Status};

pub const IOMMU_DISABLED: RuleInfo = RuleInfo {
    id: "bios-iommu-disabled",
    description: "the IOMMU (VT-d, AMD-Vi) is disabled in the BIOS",
    check: check_iommu,
};

fn check_iommu(subject: &Subject, profile: &Profile) -> Outcome {
    let facts = subject.facts;
    let expected = "IOMMU attribute Disabled in the current BIOS settings";
    let Some(bios) = &facts.bios else {
        return Outcome::new(Status::Unknown, expected, "no Bios resource reported by the BMC");
    };

    let manufacturer = facts.system.manufacturer.as_deref();
    let Some(found) = profile.bios_keys.find(manufacturer, &bios.attributes) else {
        let observed = format!(
            "none of the {} BIOS attributes is a known IOMMU switch for {}",
            bios.attributes.len(),
            manufacturer.unwrap_or("this vendor")
        );
        return Outcome::new(Status::Unknown, expected, observed).with_evidence(vec![Evidence::new(
            &bios.uri,
            "Attributes",
            serde_json::Value::Null,
        )]);
    };

    let property = format!("Attributes/{}", found.attribute);
    let mut evidence = vec![Evidence::new(&bios.uri, &property, found.value.clone())];
    let pending = bios.pending.as_ref().and_then(|attrs| attrs.get(&found.attribute));
    if let (Some(uri), Some(value)) = (&bios.pending_uri, pending) {
        evidence.push(Evidence::new(uri, &property, value.clone()));
    }

    let current = format!("{} = {}", found.attribute, display(&found.value));
    match switch_of(&found.value) {
        Switch::On => Outcome::new(Status::Fail, expected, format!("{current} ({})", found.key.note))
            .with_parts(vec![format!("BIOS setting {}", found.attribute)])
            .with_evidence(evidence),
        Switch::Unrecognized => Outcome::new(
            Status::Unknown,
            expected,
            format!("{current}: value not recognized as on or off"),
        )
        .with_evidence(evidence),
        Switch::Off => match pending.map(switch_of) {
            Some(Switch::On) | Some(Switch::Unrecognized) => {
                let observed = format!(
                    "{current}, but the pending settings set {} at the next reboot",
                    display(pending.expect("matched Some"))
                );
                Outcome::new(Status::Warn, expected, observed).with_evidence(evidence)
            }
            _ => Outcome::new(Status::Pass, expected, current).with_evidence(evidence),
        },
    }
}

fn display(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::{Value, json};

    use super::super::test_support::status;
    use crate::facts::{Bios, NodeFacts, SystemInfo};
    use crate::policy::Status;

    fn node(manufacturer: &str, current: &[(&str, Value)], pending: Option<&[(&str, Value)]>) -> NodeFacts {
        let map = |pairs: &[(&str, Value)]| -> BTreeMap<String, Value> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
        };
        NodeFacts {
            system: SystemInfo {
                manufacturer: Some(manufacturer.into()),
                ..SystemInfo::default()
            },
            bios: Some(Bios {
                uri: "/redfish/v1/Systems/1/Bios".into(),
                attributes: map(current),
                pending_uri: pending.map(|_| "/redfish/v1/Systems/1/Bios/Settings".into()),
                pending: pending.map(map),
                ..Bios::default()
            }),
            ..NodeFacts::default()
        }
    }

    #[test]
    fn disabled_passes() {
        let facts = node("Dell Inc.", &[("ProcVirtualization", json!("Disabled"))], None);
        assert_eq!(status("bios-iommu-disabled", &facts), Status::Pass);
    }

    #[test]
    fn enabled_fails() {
        let facts = node("Supermicro", &[("IOMMU#0196", json!("Enabled"))], None);
        assert_eq!(status("bios-iommu-disabled", &facts), Status::Fail);
    }

    #[test]
    fn pending_enable_warns() {
        let facts = node(
            "Lenovo",
            &[("DevicesandIOPorts_IOMMU", json!("Disabled"))],
            Some(&[("DevicesandIOPorts_IOMMU", json!("Enabled"))]),
        );
        assert_eq!(status("bios-iommu-disabled", &facts), Status::Warn);
    }

    #[test]
    fn unknown_platform_is_unknown() {
        let facts = node("Acme", &[("SomeSetting", json!("Enabled"))], None);
        assert_eq!(status("bios-iommu-disabled", &facts), Status::Unknown);
    }

    #[test]
    fn missing_bios_is_unknown() {
        assert_eq!(status("bios-iommu-disabled", &NodeFacts::default()), Status::Unknown);
    }
}
