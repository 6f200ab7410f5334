//! The requirements table: every requirement of the document, joined with the profile's rules.
//!
//! Each requirement ends in exactly one [`Coverage`]: checked out-of-band by the rules that
//! cite it, partly checked (a rule pre-checks what Redfish shows and the in-band stage
//! confirms), handed to the in-band stage with its command, or left to site evidence. The
//! coverage is computed from the profile, so the table never claims a rule the code lacks.

use serde::{Deserialize, Serialize};

use super::Profile;

const BUILTIN_TABLE: &str = include_str!("../../data/requirements.toml");

/// How much of a requirement a BMC can show, as the requirements table records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Visibility {
    Yes,
    Partly,
    No,
    #[serde(rename = "n/a")]
    NotApplicable,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequirementEntry {
    id: String,
    redfish: Visibility,
    section: String,
    text: String,
    inband: Option<String>,
    site: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    requirement: Vec<RequirementEntry>,
}

/// The stage that checks a requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Coverage {
    /// Rules decide it from Redfish alone.
    OutOfBand,
    /// Rules pre-check it from Redfish; the in-band stage confirms.
    Partly,
    /// Only the installed OS can show it.
    InBand,
    /// A person supplies evidence from the site or the organisation.
    Site,
}

impl Coverage {
    pub fn as_str(self) -> &'static str {
        match self {
            Coverage::OutOfBand => "out-of-band",
            Coverage::Partly => "partly",
            Coverage::InBand => "in-band",
            Coverage::Site => "site",
        }
    }
}

/// One requirement with its coverage by this profile.
#[derive(Debug, Clone, Serialize)]
pub struct Requirement {
    pub id: String,
    pub section: String,
    pub text: String,
    pub coverage: Coverage,
    /// Enabled rules of the profile that cite this requirement.
    pub rules: Vec<String>,
    /// Command the installed OS runs to confirm it, when one exists.
    pub inband_command: Option<String>,
    /// Evidence a person supplies, for requirements no machine shows.
    pub site_evidence: Option<String>,
}

/// Lists every requirement of the built-in table with its coverage by `profile`.
pub fn requirements(profile: &Profile) -> Vec<Requirement> {
    let table: TableFile =
        toml::from_str(BUILTIN_TABLE).expect("the built-in requirements table is checked by a unit test");
    table
        .requirement
        .into_iter()
        .map(|entry| join(entry, profile))
        .collect()
}

fn join(entry: RequirementEntry, profile: &Profile) -> Requirement {
    let rules: Vec<String> = profile
        .rules
        .iter()
        .filter(|config| config.enabled)
        .filter(|config| cited_ids(&config.requirement).any(|id| id == entry.id))
        .map(|config| config.id.clone())
        .collect();

    let coverage = match (rules.is_empty(), entry.redfish, &entry.inband) {
        (false, Visibility::Yes, _) => Coverage::OutOfBand,
        (false, _, _) => Coverage::Partly,
        (true, _, Some(_)) => Coverage::InBand,
        (true, _, None) => Coverage::Site,
    };
    Requirement {
        id: entry.id,
        section: entry.section,
        text: entry.text,
        coverage,
        rules,
        inband_command: entry.inband,
        site_evidence: entry.site,
    }
}

/// Splits a rule's requirement field (`M-1, SC-7, MD-3`) into ids.
pub fn cited_ids(requirement: &str) -> impl Iterator<Item = &str> {
    requirement.split(',').map(str::trim).filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn table_parses_with_unique_ids() {
        let table: TableFile = toml::from_str(BUILTIN_TABLE).unwrap();
        let ids: BTreeSet<&str> = table.requirement.iter().map(|entry| entry.id.as_str()).collect();
        assert_eq!(ids.len(), table.requirement.len());
        assert_eq!(ids.len(), 85);
    }

    #[test]
    fn every_requirement_has_a_way_to_be_checked() {
        for requirement in requirements(&Profile::builtin()) {
            let handed_on = requirement.inband_command.is_some() || requirement.site_evidence.is_some();
            assert!(
                !requirement.rules.is_empty() || handed_on,
                "{} is dropped",
                requirement.id
            );
        }
    }

    #[test]
    fn every_cited_id_exists() {
        let table: TableFile = toml::from_str(BUILTIN_TABLE).unwrap();
        let profile = Profile::builtin();
        for config in &profile.rules {
            for id in cited_ids(&config.requirement) {
                assert!(
                    table.requirement.iter().any(|entry| entry.id == id),
                    "rule {} cites unknown {id}",
                    config.id
                );
            }
        }
    }

    #[test]
    fn coverage_follows_the_profile() {
        let list = requirements(&Profile::builtin());
        let find = |id: &str| list.iter().find(|r| r.id == id).unwrap().clone();
        assert_eq!(find("M-1").coverage, Coverage::OutOfBand);
        assert!(find("M-1").rules.contains(&"dimm-ecc".to_string()));
        assert_eq!(find("B-1").coverage, Coverage::Partly);
        assert_eq!(find("DRV-1").coverage, Coverage::InBand);
        assert_eq!(find("C-1").coverage, Coverage::Site);
    }
}
