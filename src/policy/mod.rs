//! The requirements profile and the rules that turn facts into findings.
//!
//! The policy never does I/O: [`judge_node`] takes a node's facts and expectations and the
//! [`Profile`] and returns one [`Finding`] per enabled rule that applies to the node's role.
//! Key types: [`Status`], the outcome of one rule; [`Finding`], that outcome with its
//! evidence; [`Verdict`], the roll-up for a node.

mod bios_keys;
mod cpu_models;
mod gpu_models;
mod profile;
mod rack;
mod requirements;
mod rules;

pub use bios_keys::{BiosKey, BiosKeyTable};
pub use cpu_models::{CpuModel, CpuTable, normalize_cpu_model};
pub use gpu_models::{Architecture, GpuModel, GpuTable, Identification, architecture_from_model, parse_pci_id};
pub use profile::{Profile, ProfileError, RuleConfig, Severity};
pub use rack::{RACK_RULES, RackMember, RackRuleInfo, judge_rack};
pub use requirements::{Coverage, Requirement, cited_ids, requirements};
pub use rules::{RULES, RuleInfo, Subject};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::inventory::Role;

/// The outcome of one rule on one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Pass,
    /// A recommendation is not met.
    Warn,
    Fail,
    /// The BMC did not report what the rule needs; never counted as a pass.
    Unknown,
    /// Redfish cannot show it; the in-band stage must check it.
    InBand,
    /// The rule does not apply to this node (no expected value given, or a part the rule
    /// does not cover); the observed text gives the cause.
    NotApplicable,
    /// The node could not be read.
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Unknown => "unknown",
            Status::InBand => "in-band",
            Status::NotApplicable => "not-applicable",
            Status::Error => "error",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One value read from the BMC that a finding rests on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub uri: String,
    /// JSON pointer style property path within the resource (`ErrorCorrection`, `Status/Health`).
    pub property: String,
    /// The value as the BMC returned it; `null` when the property was absent.
    pub value: Value,
}

impl Evidence {
    pub fn new(uri: &str, property: &str, value: impl Into<Value>) -> Self {
        Evidence {
            uri: uri.to_string(),
            property: property.to_string(),
            value: value.into(),
        }
    }

    /// Evidence for an optional property: absent becomes JSON `null`.
    pub fn optional<T: Into<Value> + Clone>(uri: &str, property: &str, value: &Option<T>) -> Self {
        let value = value.clone().map(Into::into).unwrap_or(Value::Null);
        Evidence::new(uri, property, value)
    }
}

/// The result of one rule on one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub rule: String,
    pub status: Status,
    /// The requirement the rule encodes, with its section in the requirements document.
    pub requirement: String,
    pub expected: String,
    pub observed: String,
    /// Parts a technician must touch (DIMM slot, PSU bay, GPU, volume), when the rule names any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<String>,
    pub evidence: Vec<Evidence>,
}

/// The roll-up of a node's findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Warn,
    Fail,
    Unknown,
    Error,
}

impl Verdict {
    /// Rolls findings up: any fail fails the node; else any unknown leaves it unknown; else
    /// any warning warns. In-band findings do not change the verdict: they are owed later.
    pub fn from_findings(findings: &[Finding]) -> Verdict {
        let has = |status| findings.iter().any(|f| f.status == status);
        if has(Status::Error) {
            Verdict::Error
        } else if has(Status::Fail) {
            Verdict::Fail
        } else if has(Status::Unknown) {
            Verdict::Unknown
        } else if has(Status::Warn) {
            Verdict::Warn
        } else {
            Verdict::Pass
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Warn => "warn",
            Verdict::Fail => "fail",
            Verdict::Unknown => "unknown",
            Verdict::Error => "error",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Judges one node: runs every enabled rule of the profile that applies to `role`.
pub fn judge_node(subject: &Subject, role: Role, profile: &Profile) -> Vec<Finding> {
    profile
        .enabled_rules()
        .filter(|(_, config)| config.roles.contains(&role))
        .map(|(rule, config)| {
            let outcome = (rule.check)(subject, profile);
            let outcome = account_for_unread(outcome, rule, subject);
            outcome.into_finding(rule, config)
        })
        .collect()
}

/// Makes an outcome `unknown` when a resource the rule reads could not be read, since the rule
/// judged only what was left: a DIMM that failed to read could be the one without ECC. A
/// failure that names a part it did read is kept, because the unread resource cannot undo it.
fn account_for_unread(outcome: rules::Outcome, rule: &RuleInfo, subject: &Subject) -> rules::Outcome {
    let unread: Vec<&crate::facts::Problem> = subject
        .facts
        .problems
        .iter()
        .filter(|problem| !problem.message.starts_with(crate::facts::DEFECT_PREFIX))
        .filter(|problem| rule.areas.iter().any(|area| problem.uri.contains(area)))
        .collect();
    let Some(first) = unread.first() else {
        return outcome;
    };
    if outcome.status == Status::Fail && !outcome.parts.is_empty() {
        return outcome;
    }
    if outcome.status == Status::Error {
        return outcome;
    }

    let more = match unread.len() {
        1 => String::new(),
        count => format!(" and {} more", count - 1),
    };
    // An outcome that is unknown already often states that nothing was reported, which the
    // failed read explains. The read's cause comes first, so that it is not taken for an
    // absent resource.
    let observed = if outcome.status == Status::Unknown {
        format!(
            "could not read {}{more} ({}); {}",
            first.uri, first.message, outcome.observed
        )
    } else {
        format!(
            "could not read {}{more} ({}), so this is judged on part of the data: {}",
            first.uri, first.message, outcome.observed
        )
    };
    let mut evidence = outcome.evidence;
    evidence.insert(0, Evidence::new(&first.uri, "", serde_json::Value::Null));
    rules::Outcome {
        status: Status::Unknown,
        observed,
        evidence,
        ..outcome
    }
}
