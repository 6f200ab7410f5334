//! CPU model strings and the table of base and boost clocks.
//!
//! BMCs write one CPU in many ways: HPE pads with spaces, Supermicro and Lenovo upper-case,
//! Intel strings before Sapphire Rapids end in "@ 3.00GHz", AMD strings end in "48-Core
//! Processor". [`normalize_cpu_model`] reduces them all to one key such as `EPYC 9474F` or
//! `XEON PLATINUM 8480+`, which the table in `data/cpus.toml` is keyed by.

use serde::Deserialize;

const BUILTIN_TABLE: &str = include_str!("../../data/cpus.toml");

/// One CPU of the table. Clocks are in MHz.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuModel {
    pub model: String,
    pub cores: u32,
    pub base_mhz: u32,
    pub boost_mhz: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    cpu: Vec<CpuModel>,
}

#[derive(Debug, Clone)]
pub struct CpuTable {
    models: Vec<CpuModel>,
}

impl CpuTable {
    pub fn builtin() -> CpuTable {
        let file: TableFile = toml::from_str(BUILTIN_TABLE).expect("the built-in CPU table is checked by a unit test");
        CpuTable { models: file.cpu }
    }

    /// Finds the row for a model string as a BMC reports it.
    pub fn find(&self, reported: &str) -> Option<&CpuModel> {
        let key = normalize_cpu_model(reported);
        self.models.iter().find(|row| row.model == key)
    }
}

/// Reduces a CPU model string to its table key: upper case, without vendor names, trademark
/// marks, the words CPU and PROCESSOR, core counts and a trailing clock.
pub fn normalize_cpu_model(reported: &str) -> String {
    let upper = reported.to_uppercase().replace("(R)", " ").replace("(TM)", " ");
    let without_clock = match upper.find('@') {
        Some(at) => &upper[..at],
        None => upper.as_str(),
    };
    without_clock
        .split_whitespace()
        .filter(|word| !matches!(*word, "AMD" | "INTEL" | "CPU" | "PROCESSOR" | "RYZEN"))
        .filter(|word| !word.ends_with("-CORE") && !word.ends_with("-CORES"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// True when a reported model matches one of the normalized keys in `models`.
pub fn model_in(reported: &str, models: &[String]) -> bool {
    let key = normalize_cpu_model(reported);
    models.iter().any(|model| normalize_cpu_model(model) == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_table_parses() {
        assert!(CpuTable::builtin().models.len() >= 15);
    }

    #[test]
    fn vendor_spellings_normalize() {
        assert_eq!(normalize_cpu_model("AMD EPYC 9474F 48-Core Processor"), "EPYC 9474F");
        assert_eq!(
            normalize_cpu_model("AMD EPYC 7763 64-Core Processor                "),
            "EPYC 7763"
        );
        assert_eq!(
            normalize_cpu_model("Intel(R) Xeon(R) Platinum 8480+"),
            "XEON PLATINUM 8480+"
        );
        assert_eq!(
            normalize_cpu_model("INTEL(R) XEON(R) PLATINUM 8570"),
            "XEON PLATINUM 8570"
        );
        assert_eq!(
            normalize_cpu_model("Intel(R) Xeon(R) Gold 6354 CPU @ 3.00GHz"),
            "XEON GOLD 6354"
        );
        assert_eq!(
            normalize_cpu_model("AMD Ryzen Threadripper 7960X 24-Cores"),
            "THREADRIPPER 7960X"
        );
    }

    #[test]
    fn suffixes_stay_distinct() {
        let table = CpuTable::builtin();
        assert_eq!(
            table.find("AMD EPYC 9354P 32-Core Processor").unwrap().model,
            "EPYC 9354P"
        );
        assert_eq!(
            table.find("AMD EPYC 9354 32-Core Processor").unwrap().model,
            "EPYC 9354"
        );
    }

    #[test]
    fn unknown_model_is_not_found() {
        assert!(CpuTable::builtin().find("Intel(R) Xeon(R) Platinum 8592+").is_none());
    }
}
