//! NVIDIA GPU identification: PCI IDs in every format BMCs use, and the model table.
//!
//! The table is `data/nvidia-gpus.toml`, compiled in. A GPU is identified by its device ID
//! (and subsystem ID where two products share one), else by tokens in its model string. An
//! ID the table does not list stays unidentified rather than being guessed from its range.

use std::sync::LazyLock;

use regex::Regex;
use serde::Deserialize;

const BUILTIN_TABLE: &str = include_str!("../../data/nvidia-gpus.toml");

/// PCI vendor ID of NVIDIA.
pub const NVIDIA_VENDOR_ID: u16 = 0x10de;

/// GPU architectures, oldest first, so that `>=` means "this generation or newer".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    Pascal,
    Volta,
    Turing,
    Ampere,
    /// Ada Lovelace and Hopper both followed Ampere in 2022; their order between themselves
    /// does not matter to any rule.
    Ada,
    Hopper,
    Blackwell,
}

impl Architecture {
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Pascal => "Pascal",
            Architecture::Volta => "Volta",
            Architecture::Turing => "Turing",
            Architecture::Ampere => "Ampere",
            Architecture::Ada => "Ada Lovelace",
            Architecture::Hopper => "Hopper",
            Architecture::Blackwell => "Blackwell",
        }
    }
}

/// One row of the GPU table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuModel {
    pub name: String,
    #[serde(deserialize_with = "deserialize_pci_id")]
    pub device_id: u16,
    #[serde(default, deserialize_with = "deserialize_pci_ids")]
    pub subsystem_ids: Vec<u16>,
    pub architecture: Architecture,
    pub memory_gb: Option<u32>,
    pub source: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    gpu: Vec<GpuModel>,
}

/// The NVIDIA GPU table.
#[derive(Debug, Clone)]
pub struct GpuTable {
    models: Vec<GpuModel>,
}

/// The source that decided a GPU's architecture.
#[derive(Debug, Clone, PartialEq)]
pub enum Identification<'a> {
    /// The PCI device ID is in the table.
    Table(&'a GpuModel),
    /// The model string names a known product family.
    ModelString(Architecture, &'static str),
}

impl GpuTable {
    pub fn builtin() -> GpuTable {
        let file: TableFile = toml::from_str(BUILTIN_TABLE).expect("the built-in GPU table is checked by a unit test");
        GpuTable { models: file.gpu }
    }

    /// Identifies a GPU from its device and subsystem IDs, then from its model string.
    pub fn identify(
        &self,
        device_id: Option<u16>,
        subsystem_id: Option<u16>,
        model: Option<&str>,
    ) -> Option<Identification<'_>> {
        if let Some(device) = device_id {
            let rows: Vec<&GpuModel> = self.models.iter().filter(|m| m.device_id == device).collect();
            let by_subsystem =
                subsystem_id.and_then(|ssid| rows.iter().find(|m| m.subsystem_ids.contains(&ssid)).copied());
            // Rows that share a device ID share the architecture, so any row decides it when
            // the subsystem ID does not pick one.
            if let Some(row) = by_subsystem.or_else(|| rows.first().copied()) {
                return Some(Identification::Table(row));
            }
        }
        model
            .and_then(architecture_from_model)
            .map(|(arch, token)| Identification::ModelString(arch, token))
    }
}

/// Known product-family tokens in model strings, checked in order.
///
/// "RTX 6000" alone is ambiguous (Turing Quadro, RTX 6000 Ada, RTX PRO 6000 Blackwell), so it
/// is deliberately absent: such GPUs need their device ID.
const MODEL_TOKENS: &[(&str, Architecture)] = &[
    (r"\bGB[23]00\b", Architecture::Blackwell),
    (r"\bB[123]00\b", Architecture::Blackwell),
    (r"\bRTX 50[6-9]0\b", Architecture::Blackwell),
    (r"\bGH200\b", Architecture::Hopper),
    (r"\bH(100|200|800|20)\b", Architecture::Hopper),
    (r"\bL(4|40S?|20)\b", Architecture::Ada),
    (r"\bRTX [0-9]{4} ADA\b", Architecture::Ada),
    (r"\bRTX 40[6-9]0\b", Architecture::Ada),
    (r"\bA(100|800|30|40|10G?|16|2)\b", Architecture::Ampere),
    (r"\bRTX A[0-9]{4}\b", Architecture::Ampere),
    (r"\bRTX 30[6-9]0\b", Architecture::Ampere),
    (r"\bV100S?\b", Architecture::Volta),
    (r"\bT4\b", Architecture::Turing),
    (r"\bQUADRO RTX\b", Architecture::Turing),
    (r"\bP(100|40|4)\b", Architecture::Pascal),
];

static MODEL_REGEXES: LazyLock<Vec<(Regex, Architecture, &'static str)>> = LazyLock::new(|| {
    MODEL_TOKENS
        .iter()
        .map(|(pattern, arch)| {
            (
                Regex::new(pattern).expect("model token patterns are valid"),
                *arch,
                *pattern,
            )
        })
        .collect()
});

/// Finds the architecture of an NVIDIA product family named in a model string. Every token is
/// an NVIDIA product name, so a match also identifies the vendor.
pub fn architecture_from_model(model: &str) -> Option<(Architecture, &'static str)> {
    // HPE Cray writes "NVIDIA_A100-SXM4-40GB": underscores would hide word boundaries.
    let upper = model.to_uppercase().replace('_', " ");
    MODEL_REGEXES
        .iter()
        .find(|(regex, _, _)| regex.is_match(&upper))
        .map(|(_, arch, pattern)| (*arch, *pattern))
}

/// Parses a PCI ID as BMCs write it: `0x10de`, `0x10DE`, `10de`, or a decimal string such as
/// HPE iLO 5's `4318`. A zero ID (Supermicro HGX functions report `0x0000`) means "not
/// reported" and returns `None`.
///
/// NOTE: a bare string of decimal digits is read as decimal, as HPE writes it. A BMC that
/// wrote hexadecimal without `0x` and without letters (`2330`) would be misread.
pub fn parse_pci_id(text: &str) -> Option<u16> {
    let text = text.trim();
    let value = if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        u32::from_str_radix(hex, 16).ok()?
    } else if text.chars().all(|c| c.is_ascii_digit()) && !text.is_empty() {
        text.parse::<u32>().ok()?
    } else {
        u32::from_str_radix(text, 16).ok()?
    };
    u16::try_from(value).ok().filter(|&id| id != 0)
}

fn deserialize_pci_id<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u16, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_pci_id(&text).ok_or_else(|| serde::de::Error::custom(format!("invalid PCI ID `{text}`")))
}

fn deserialize_pci_ids<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<u16>, D::Error> {
    let texts = Vec::<String>::deserialize(deserializer)?;
    texts
        .iter()
        .map(|text| parse_pci_id(text).ok_or_else(|| serde::de::Error::custom(format!("invalid PCI ID `{text}`"))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_table_parses() {
        assert!(GpuTable::builtin().models.len() > 30);
    }

    #[test]
    fn pci_id_formats() {
        assert_eq!(parse_pci_id("0x10de"), Some(0x10de));
        assert_eq!(parse_pci_id("0x10DE"), Some(0x10de));
        assert_eq!(parse_pci_id("4318"), Some(0x10de));
        assert_eq!(parse_pci_id("10de"), Some(0x10de));
        assert_eq!(parse_pci_id("0x0000"), None);
        assert_eq!(parse_pci_id(""), None);
        assert_eq!(parse_pci_id("N/A"), None);
    }

    #[test]
    fn subsystem_separates_a2_from_a16() {
        let table = GpuTable::builtin();
        let Some(Identification::Table(a2)) = table.identify(Some(0x25b6), Some(0x157e), None) else {
            panic!("A2 not identified");
        };
        assert_eq!(a2.name, "A2");
        let Some(Identification::Table(a16)) = table.identify(Some(0x25b6), Some(0x14a9), None) else {
            panic!("A16 not identified");
        };
        assert_eq!(a16.name, "A16");
    }

    #[test]
    fn model_string_fallback() {
        let table = GpuTable::builtin();
        let arch = |model| match table.identify(None, None, Some(model)) {
            Some(Identification::ModelString(arch, _)) => Some(arch),
            _ => None,
        };
        assert_eq!(arch("H100 80GB HBM3"), Some(Architecture::Hopper));
        assert_eq!(arch("NVIDIA A100-SXM4-80GB"), Some(Architecture::Ampere));
        assert_eq!(arch("NVIDIA_A100-SXM4-40GB"), Some(Architecture::Ampere));
        assert_eq!(arch("NVIDIA L40S"), Some(Architecture::Ada));
        assert_eq!(arch("B200 180GB HBM3e"), Some(Architecture::Blackwell));
        assert_eq!(arch("Tesla V100-PCIE-32GB"), Some(Architecture::Volta));
        assert_eq!(arch("NVIDIA RTX 6000"), None);
    }

    #[test]
    fn unknown_device_id_is_not_guessed() {
        let table = GpuTable::builtin();
        assert_eq!(table.identify(Some(0x2fff), None, None), None);
    }
}
