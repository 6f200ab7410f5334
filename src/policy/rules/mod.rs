//! The rule implementations. Each rule reads facts and returns an [`Outcome`]; the profile
//! decides whether it runs, on which roles, and what a violation yields.

mod bios;
mod cpu;
mod firmware;
mod gpu;
mod memory;
mod network;
mod power;
mod storage;

pub(crate) use storage::storage_data_drives;

use super::profile::{Profile, RuleConfig, Severity};
use super::{Evidence, Finding, Status};
use crate::facts::NodeFacts;
use crate::inventory::Role;

/// A rule: stable id, one-line description, implementation.
pub struct RuleInfo {
    pub id: &'static str,
    pub description: &'static str,
    /// Path fragments of the resources the rule reads (`/Memory`). A resource under one of
    /// them that could not be read leaves the rule `unknown` instead of judging the rest.
    pub areas: &'static [&'static str],
    pub check: fn(&Subject, &Profile) -> Outcome,
}

/// Input of a rule: a node's facts, role and the inventory's expectations of it.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub facts: &'a NodeFacts,
    pub role: Role,
    /// GPU count the inventory gives for the node, when it gives one.
    pub expected_gpus: Option<u32>,
}

/// Every rule rackcheck implements, in report order.
pub static RULES: &[RuleInfo] = &[
    gpu::NVIDIA,
    gpu::COUNT,
    gpu::ARCHITECTURE,
    gpu::PCIE_BANDWIDTH,
    cpu::CORES_PER_GPU,
    cpu::CLOCK,
    cpu::MODEL,
    memory::ECC,
    memory::PER_GPU,
    memory::MINIMUM,
    power::REDUNDANCY,
    bios::IOMMU_DISABLED,
    firmware::MINIMUM,
    storage::BOOT_RAID1,
    storage::BOOT_CAPACITY,
    storage::WORKING_RAID,
    storage::WORKING_CAPACITY,
    storage::DATA_JBOD,
    storage::SPARE_BAYS,
    network::SPEED,
];

/// Result of a rule, before the profile's severity is applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: Status,
    pub expected: String,
    pub observed: String,
    pub parts: Vec<String>,
    pub evidence: Vec<Evidence>,
}

impl Outcome {
    pub fn new(status: Status, expected: impl Into<String>, observed: impl Into<String>) -> Self {
        Outcome {
            status,
            expected: expected.into(),
            observed: observed.into(),
            parts: Vec::new(),
            evidence: Vec::new(),
        }
    }

    pub fn with_evidence(mut self, evidence: Vec<Evidence>) -> Self {
        self.evidence = evidence;
        self
    }

    pub fn with_parts(mut self, parts: Vec<String>) -> Self {
        self.parts = parts;
        self
    }

    /// Applies the profile's severity: a violated recommendation warns instead of failing.
    pub fn into_finding(self, rule: &RuleInfo, config: &RuleConfig) -> Finding {
        self.into_rack_finding(rule.id, config)
    }

    /// Applies the profile's severity to the outcome of the rule `id`.
    pub fn into_rack_finding(self, id: &str, config: &RuleConfig) -> Finding {
        let status = match (self.status, config.severity) {
            (Status::Fail, Severity::Warn) => Status::Warn,
            (status, _) => status,
        };
        Finding {
            rule: id.to_string(),
            status,
            requirement: config.citation(),
            expected: self.expected,
            observed: self.observed,
            parts: self.parts,
            evidence: self.evidence,
        }
    }
}

/// Formats a byte count in decimal gigabytes, as drive vendors and the requirements do.
pub(crate) fn gigabytes(bytes: u64) -> String {
    format!("{:.0} GB", bytes as f64 / 1e9)
}

/// True for a Status/Health value that reports a fault.
pub(crate) fn is_unhealthy(health: Option<&str>) -> bool {
    matches!(health, Some(h) if h.eq_ignore_ascii_case("Critical") || h.eq_ignore_ascii_case("Warning"))
}

/// True for a Status/State value of an empty slot or bay.
pub(crate) fn is_absent(state: Option<&str>) -> bool {
    matches!(state, Some(s) if s.eq_ignore_ascii_case("Absent"))
}

#[cfg(test)]
pub(crate) mod test_support {
    use crate::facts::NodeFacts;
    use crate::inventory::Role;
    use crate::policy::{Profile, Status};

    use super::RULES;

    /// Runs one rule by id on `facts` with the built-in profile.
    pub fn run(id: &str, facts: &NodeFacts) -> super::Outcome {
        run_expecting(id, facts, None)
    }

    /// Runs one rule by id on `facts` with an expected GPU count.
    pub fn run_expecting(id: &str, facts: &NodeFacts, expected_gpus: Option<u32>) -> super::Outcome {
        run_as(id, facts, expected_gpus, Role::GpuCompute)
    }

    /// Runs one rule by id on `facts` as a node of `role`.
    pub fn run_as(id: &str, facts: &NodeFacts, expected_gpus: Option<u32>, role: Role) -> super::Outcome {
        let profile = Profile::builtin();
        let rule = RULES.iter().find(|rule| rule.id == id).expect("rule exists");
        (rule.check)(
            &super::Subject {
                facts,
                role,
                expected_gpus,
            },
            &profile,
        )
    }

    pub fn status(id: &str, facts: &NodeFacts) -> Status {
        run(id, facts).status
    }
}
