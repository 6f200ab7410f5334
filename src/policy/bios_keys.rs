//! The table of BIOS attributes that switch the IOMMU, per platform.
//!
//! Keys differ by system vendor and CPU vendor, and Supermicro appends a per-board hash to
//! each key. The table is `data/bios-iommu.toml`, compiled in.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

const BUILTIN_TABLE: &str = include_str!("../../data/bios-iommu.toml");

/// One IOMMU attribute of one platform family.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BiosKey {
    /// Substrings of the system Manufacturer this key applies to; empty means any vendor.
    pub vendors: Vec<String>,
    pub attribute: String,
    /// The attribute may carry a per-board suffix (`#0196`, `_1E32`).
    #[serde(default)]
    pub suffixed: bool,
    pub note: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    key: Vec<BiosKey>,
}

#[derive(Debug, Clone)]
pub struct BiosKeyTable {
    keys: Vec<BiosKey>,
}

/// A table key found among a node's BIOS attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundKey<'a> {
    pub key: &'a BiosKey,
    /// The attribute name as the BMC spells it, suffix included.
    pub attribute: String,
    pub value: Value,
}

/// Whether a BIOS value switches a feature on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    On,
    Off,
    Unrecognized,
}

impl BiosKeyTable {
    pub fn builtin() -> BiosKeyTable {
        let file: TableFile =
            toml::from_str(BUILTIN_TABLE).expect("the built-in BIOS key table is checked by a unit test");
        BiosKeyTable { keys: file.key }
    }

    /// Finds the first table key that applies to `manufacturer` and exists in `attributes`.
    pub fn find<'a>(
        &'a self,
        manufacturer: Option<&str>,
        attributes: &BTreeMap<String, Value>,
    ) -> Option<FoundKey<'a>> {
        let manufacturer = manufacturer.unwrap_or("").to_lowercase();
        let applies = |key: &BiosKey| {
            key.vendors.is_empty() || key.vendors.iter().any(|v| manufacturer.contains(&v.to_lowercase()))
        };
        self.keys.iter().filter(|key| applies(key)).find_map(|key| {
            attributes
                .iter()
                .find(|(name, _)| attribute_matches(key, name))
                .map(|(name, value)| FoundKey {
                    key,
                    attribute: name.clone(),
                    value: value.clone(),
                })
        })
    }
}

fn attribute_matches(key: &BiosKey, name: &str) -> bool {
    if !key.suffixed {
        return name == key.attribute;
    }
    let Some(rest) = name.strip_prefix(&key.attribute) else {
        return false;
    };
    let suffix = rest.trim_start_matches(['#', '_']);
    rest.is_empty() || (rest.len() > suffix.len() && suffix.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Reads a BIOS value as on or off, case-insensitively, across vendors' spellings.
///
/// `Auto` counts as on: AMD platforms enable the IOMMU under Auto.
pub fn switch_of(value: &Value) -> Switch {
    let text = match value {
        Value::String(s) => s.trim().to_lowercase(),
        Value::Bool(true) => return Switch::On,
        Value::Bool(false) => return Switch::Off,
        Value::Number(n) => n.to_string(),
        _ => return Switch::Unrecognized,
    };
    match text.as_str() {
        "disabled" | "disable" | "off" | "0" | "false" => Switch::Off,
        "enabled" | "enable" | "on" | "1" | "true" | "auto" => Switch::On,
        _ => Switch::Unrecognized,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attributes(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn supermicro_suffixed_key() {
        let table = BiosKeyTable::builtin();
        let attrs = attributes(&[("IOMMU#0196", json!("Disabled")), ("SMTControl#0084", json!("Auto"))]);
        let found = table.find(Some("Supermicro"), &attrs).unwrap();
        assert_eq!(found.attribute, "IOMMU#0196");
        assert_eq!(switch_of(&found.value), Switch::Off);
    }

    #[test]
    fn suffix_must_be_hex() {
        let table = BiosKeyTable::builtin();
        let attrs = attributes(&[("IOMMUTimeout", json!("Disabled"))]);
        assert_eq!(table.find(Some("Supermicro"), &attrs), None);
    }

    #[test]
    fn dell_amd_key_wins_over_virtualization() {
        let table = BiosKeyTable::builtin();
        let attrs = attributes(&[
            ("ProcVirtualization", json!("Enabled")),
            ("IommuSupport", json!("Disabled")),
        ]);
        let found = table.find(Some("Dell Inc."), &attrs).unwrap();
        assert_eq!(found.attribute, "IommuSupport");
    }

    #[test]
    fn vendor_filter_applies() {
        let table = BiosKeyTable::builtin();
        let attrs = attributes(&[("ProcVirtualization", json!("Enabled"))]);
        assert_eq!(table.find(Some("Lenovo"), &attrs), None);
    }

    #[test]
    fn switch_spellings() {
        assert_eq!(switch_of(&json!("Disable")), Switch::Off);
        assert_eq!(switch_of(&json!("ENABLED")), Switch::On);
        assert_eq!(switch_of(&json!(0)), Switch::Off);
        assert_eq!(switch_of(&json!("Auto")), Switch::On);
        assert_eq!(switch_of(&json!("PCIS007Enabled")), Switch::Unrecognized);
    }
}
