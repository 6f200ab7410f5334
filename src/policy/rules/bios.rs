//! BIOS rules: the IOMMU is disabled in the current BIOS settings.

use super::{Outcome, RuleInfo, Subject};
use crate::policy::bios_keys::{Switch, switch_of};
use crate::policy::{Evidence, Profile, Status};

pub const IOMMU_DISABLED: RuleInfo = RuleInfo {
    id: "bios-iommu-disabled",
    description: "the IOMMU (VT-d, AMD-Vi) is disabled in the BIOS",
    areas: &["/Bios"],
    check: check_iommu,
};

fn check_iommu(subject: &Subject, profile: &Profile) -> Outcome {
    let facts = subject.facts;
    let expected = "IOMMU attribute Disabled in the current BIOS settings";
    let Some(bios) = &facts.bios else {
        return Outcome::new(Status::Unknown, expected, "no Bios resource reported by the BMC");
    };

    let manufacturer = facts.system.manufacturer.as_deref();
    let Some(switch) = resolve(bios, manufacturer, profile) else {
        let observed = format!(
            "none of the {} BIOS attributes is a known IOMMU switch for {}, and the attribute registry names none",
            bios.attributes.len(),
            manufacturer.unwrap_or("this vendor")
        );
        return Outcome::new(Status::Unknown, expected, observed).with_evidence(vec![Evidence::new(
            &bios.uri,
            "Attributes",
            serde_json::Value::Null,
        )]);
    };

    let property = format!("Attributes/{}", switch.attribute);
    let mut evidence = vec![Evidence::new(&bios.uri, &property, switch.value.clone())];
    let pending = bios.pending.as_ref().and_then(|attrs| attrs.get(&switch.attribute));
    if let (Some(uri), Some(value)) = (&bios.pending_uri, pending) {
        evidence.push(Evidence::new(uri, &property, value.clone()));
    }

    let current = format!("{} = {}", switch.attribute, display(&switch.value));
    match (switch.reading)(&switch.value) {
        Switch::On => Outcome::new(Status::Fail, expected, format!("{current} ({})", switch.note))
            .with_parts(vec![format!("BIOS setting {}", switch.attribute)])
            .with_evidence(evidence),
        Switch::Unrecognized => Outcome::new(
            Status::Unknown,
            expected,
            format!("{current}: value not recognized as on or off ({})", switch.note),
        )
        .with_evidence(evidence),
        Switch::Off => match pending.map(|value| (switch.reading)(value)) {
            Some(Switch::On) | Some(Switch::Unrecognized) => {
                let observed = format!(
                    "{current}, but the pending settings set {} at the next reboot",
                    display(pending.expect("matched Some"))
                );
                Outcome::new(Status::Warn, expected, observed).with_evidence(evidence)
            }
            _ => Outcome::new(Status::Pass, expected, format!("{current} ({})", switch.note)).with_evidence(evidence),
        },
    }
}

/// The IOMMU switch of a node: its attribute, current value, where the key came from, and
/// how to read a value of it as on or off.
struct IommuSwitch {
    attribute: String,
    value: serde_json::Value,
    note: String,
    reading: Box<dyn Fn(&serde_json::Value) -> Switch>,
}

/// Finds the IOMMU switch in the vendor key table, else among the attribute registry's
/// entries that mention the IOMMU, reading a value through its registry display name
/// (Supermicro lists ValueName "0" with ValueDisplayName "Disable").
fn resolve(bios: &crate::facts::Bios, manufacturer: Option<&str>, profile: &Profile) -> Option<IommuSwitch> {
    if let Some(found) = profile.bios_keys.find(manufacturer, &bios.attributes) {
        return Some(IommuSwitch {
            attribute: found.attribute.clone(),
            value: found.value.clone(),
            note: found.key.note.clone(),
            reading: Box::new(switch_of),
        });
    }

    let entry = bios
        .registry_iommu
        .iter()
        .find(|entry| bios.attributes.contains_key(&entry.name))?;
    let value = bios.attributes.get(&entry.name)?.clone();
    let values = entry.values.clone();
    let reading = move |value: &serde_json::Value| {
        let shown = values
            .iter()
            .find(|(name, _)| serde_json::Value::String(name.clone()) == *value)
            .and_then(|(_, display)| display.clone());
        match shown {
            Some(display) => switch_of(&serde_json::Value::String(display)),
            None => switch_of(value),
        }
    };
    let registry = bios.registry_uri.as_deref().unwrap_or("the attribute registry");
    Some(IommuSwitch {
        attribute: entry.name.clone(),
        value,
        note: format!(
            "key found in {registry} as `{}`",
            entry.display_name.as_deref().unwrap_or(&entry.name)
        ),
        reading: Box::new(reading),
    })
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
    use crate::facts::{Bios, NodeFacts, RegistryAttribute, SystemInfo};
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
    fn registry_names_an_unknown_platforms_switch() {
        let mut facts = node("Acme", &[("CbsIommuCtl", json!("0"))], None);
        let bios = facts.bios.as_mut().unwrap();
        bios.registry_uri = Some("/redfish/v1/Registries/BiosAttributeRegistry/Bios.json".into());
        bios.registry_iommu = vec![RegistryAttribute {
            name: "CbsIommuCtl".into(),
            display_name: Some("IOMMU".into()),
            values: vec![
                ("0".into(), Some("Disabled".into())),
                ("1".into(), Some("Enabled".into())),
            ],
        }];
        assert_eq!(status("bios-iommu-disabled", &facts), Status::Pass);
        facts
            .bios
            .as_mut()
            .unwrap()
            .attributes
            .insert("CbsIommuCtl".into(), json!("1"));
        assert_eq!(status("bios-iommu-disabled", &facts), Status::Fail);
    }

    #[test]
    fn missing_bios_is_unknown() {
        assert_eq!(status("bios-iommu-disabled", &NodeFacts::default()), Status::Unknown);
    }
}
