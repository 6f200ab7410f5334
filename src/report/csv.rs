//! The CSV report: one row per finding, one per node that could not be read, and one per
//! rack-wide finding, so a spreadsheet filter on `status` lists the work to do.

use std::io::{self, Write};

use serde::Serialize;

use crate::policy::{Finding, Requirement, Status};
use crate::scan::{NodeReport, ScanReport};

/// One CSV row, whose field order is the column order. `parts` are joined with `; `. The
/// evidence columns contain the finding's first evidence only, and `--format json` has all of it.
#[derive(Serialize)]
struct Row<'a> {
    rack: &'a str,
    position: Option<u32>,
    hostname: &'a str,
    bmc: &'a str,
    role: String,
    verdict: &'a str,
    rule: &'a str,
    status: &'a str,
    requirement: &'a str,
    expected: &'a str,
    observed: &'a str,
    parts: String,
    evidence_uri: &'a str,
    evidence_property: &'a str,
    evidence_value: String,
}

impl<'a> Row<'a> {
    /// Builds a row for the node with every finding column empty.
    fn node(node: &'a NodeReport) -> Row<'a> {
        Row {
            rack: &node.rack,
            position: Some(node.position),
            hostname: &node.hostname,
            bmc: &node.bmc,
            role: node.role.to_string(),
            verdict: node.verdict.as_str(),
            rule: "",
            status: "",
            requirement: "",
            expected: "",
            observed: "",
            parts: String::new(),
            evidence_uri: "",
            evidence_property: "",
            evidence_value: String::new(),
        }
    }

    /// Builds a row for a rack-wide finding: no node, and the rack taken from the report's nodes.
    fn rack(rack: &'a str) -> Row<'a> {
        Row {
            rack,
            position: None,
            hostname: "",
            bmc: "",
            role: String::new(),
            verdict: "",
            rule: "",
            status: "",
            requirement: "",
            expected: "",
            observed: "",
            parts: String::new(),
            evidence_uri: "",
            evidence_property: "",
            evidence_value: String::new(),
        }
    }

    fn with_finding(mut self, finding: &'a Finding) -> Row<'a> {
        self.rule = &finding.rule;
        self.status = finding.status.as_str();
        self.requirement = &finding.requirement;
        self.expected = &finding.expected;
        self.observed = &finding.observed;
        self.parts = finding.parts.join("; ");
        if let Some(evidence) = finding.evidence.first() {
            self.evidence_uri = &evidence.uri;
            self.evidence_property = &evidence.property;
            self.evidence_value = value_text(&evidence.value);
        }
        self
    }
}

/// Formats an evidence value: strings without JSON quotes, and every other value (numbers, `null`, arrays) as JSON.
fn value_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

pub(super) fn write(report: &ScanReport, out: &mut dyn Write) -> io::Result<()> {
    let mut writer = ::csv::Writer::from_writer(out);

    for node in &report.nodes {
        if let Some(error) = &node.error {
            let mut row = Row::node(node);
            row.status = Status::Error.as_str();
            row.observed = error;
            writer.serialize(row)?;
        }
        for finding in &node.findings {
            writer.serialize(Row::node(node).with_finding(finding))?;
        }
    }

    // Rack-wide rules judge the whole inventory, which may span racks; name the rack only
    // when every node is in the same one.
    let first_rack = report.nodes.first().map(|node| node.rack.as_str()).unwrap_or("");
    let rack = if report.nodes.iter().all(|node| node.rack == first_rack) {
        first_rack
    } else {
        ""
    };
    for finding in &report.rack {
        writer.serialize(Row::rack(rack).with_finding(finding))?;
    }

    writer.flush()
}

/// Writes the requirements list as CSV, one row per requirement, rules joined with `; `.
pub(super) fn write_requirements(list: &[Requirement], out: &mut dyn Write) -> io::Result<()> {
    let mut writer = ::csv::Writer::from_writer(out);
    writer.write_record([
        "id",
        "section",
        "coverage",
        "rules",
        "inband_command",
        "site_evidence",
        "text",
    ])?;
    for requirement in list {
        writer.write_record([
            requirement.id.as_str(),
            requirement.section.as_str(),
            requirement.coverage.as_str(),
            requirement.rules.join("; ").as_str(),
            requirement.inband_command.as_deref().unwrap_or(""),
            requirement.site_evidence.as_deref().unwrap_or(""),
            requirement.text.as_str(),
        ])?;
    }
    writer.flush()
}
