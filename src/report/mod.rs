//! Renders a scan report as a terminal table or as JSON, and maps it to an exit code.

use std::io::{self, Write};

use tabled::settings::Style;
use tabled::{Table, Tabled};

use crate::policy::{Finding, Requirement, Status, Verdict};
use crate::scan::{NodeReport, ScanReport};

/// Output formats of `scan` and `demo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A summary table per node, then every finding that needs attention.
    Table,
    /// One JSON object with `schema_version`, `nodes` and `rack`.
    Json,
}

/// Process exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every node passed (warnings allowed).
    Pass = 0,
    /// At least one rule failed.
    Fail = 1,
    /// Invalid input or usage.
    Usage = 2,
    /// Nothing failed, but a node could not be read or a rule stayed unknown.
    Incomplete = 3,
}

impl Outcome {
    pub fn of(report: &ScanReport) -> Outcome {
        let verdicts: Vec<Verdict> = report.nodes.iter().map(|node| node.verdict).collect();
        let rack_failed = report.rack.iter().any(|finding| finding.status == Status::Fail);
        if rack_failed || verdicts.contains(&Verdict::Fail) {
            Outcome::Fail
        } else if verdicts.contains(&Verdict::Error)
            || verdicts.contains(&Verdict::Unknown)
            || report.rack.iter().any(|finding| finding.status == Status::Unknown)
        {
            Outcome::Incomplete
        } else {
            Outcome::Pass
        }
    }
}

pub fn write(report: &ScanReport, format: Format, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Table => write_table(report, out),
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, report)?;
            writeln!(out)
        }
    }
}

#[derive(Tabled)]
struct Row {
    rack: String,
    #[tabled(rename = "U")]
    position: u32,
    hostname: String,
    role: String,
    model: String,
    verdict: String,
    pass: usize,
    fail: usize,
    warn: usize,
    unknown: usize,
    #[tabled(rename = "in-band")]
    in_band: usize,
}

fn row(node: &NodeReport) -> Row {
    let count = |status| node.findings.iter().filter(|f| f.status == status).count();
    let model = node
        .facts
        .as_ref()
        .map(|facts| {
            let system = &facts.system;
            [system.manufacturer.as_deref(), system.model.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|model| !model.is_empty())
        .unwrap_or_else(|| "-".to_string());
    Row {
        rack: node.rack.clone(),
        position: node.position,
        hostname: node.hostname.clone(),
        role: node.role.to_string(),
        model,
        verdict: node.verdict.to_string(),
        pass: count(Status::Pass),
        fail: count(Status::Fail),
        warn: count(Status::Warn),
        unknown: count(Status::Unknown),
        in_band: count(Status::InBand),
    }
}

fn write_table(report: &ScanReport, out: &mut dyn Write) -> io::Result<()> {
    let rows: Vec<Row> = report.nodes.iter().map(row).collect();
    writeln!(out, "{}", Table::new(rows).with(Style::sharp()))?;

    for node in &report.nodes {
        write_node_details(node, out)?;
    }
    write_rack_findings(report, out)?;

    let count = |verdict| report.nodes.iter().filter(|node| node.verdict == verdict).count();
    writeln!(
        out,
        "\n{} nodes: {} pass, {} warn, {} fail, {} unknown, {} error (profile {}{})",
        report.nodes.len(),
        count(Verdict::Pass),
        count(Verdict::Warn),
        count(Verdict::Fail),
        count(Verdict::Unknown),
        count(Verdict::Error),
        report.profile,
        if report.insecure {
            ", TLS certificates NOT verified"
        } else {
            ""
        }
    )
}

/// Lists the rack-wide findings, skipping those that passed or had nothing to judge.
fn write_rack_findings(report: &ScanReport, out: &mut dyn Write) -> io::Result<()> {
    let open: Vec<_> = report
        .rack
        .iter()
        .filter(|f| !matches!(f.status, Status::Pass | Status::NotApplicable))
        .collect();
    if open.is_empty() {
        return Ok(());
    }
    writeln!(out, "\nrack")?;
    for finding in open {
        write_finding(finding, out)?;
    }
    Ok(())
}

/// Lists what a technician must look at on one node: the error, or each finding that did not pass.
fn write_node_details(node: &NodeReport, out: &mut dyn Write) -> io::Result<()> {
    if let Some(error) = &node.error {
        writeln!(out, "\n{} ({}): error", node.hostname, node.bmc)?;
        for line in error.lines() {
            writeln!(out, "  {line}")?;
        }
        return Ok(());
    }

    // Findings with nothing to judge stay in the JSON report; the table lists what to act on.
    let open: Vec<_> = node
        .findings
        .iter()
        .filter(|f| !matches!(f.status, Status::Pass | Status::NotApplicable))
        .collect();
    if open.is_empty() {
        return Ok(());
    }
    writeln!(out, "\n{} ({}): {}", node.hostname, node.bmc, node.verdict)?;
    for finding in open {
        write_finding(finding, out)?;
    }
    Ok(())
}

/// Writes one finding: status, rule and requirement, then expected, observed, parts, evidence.
fn write_finding(finding: &Finding, out: &mut dyn Write) -> io::Result<()> {
    const SHOWN: usize = 3;

    writeln!(
        out,
        "  {:<8} {}  [{}]",
        finding.status.as_str(),
        finding.rule,
        finding.requirement
    )?;
    writeln!(out, "           expected: {}", finding.expected)?;
    writeln!(out, "           observed: {}", finding.observed)?;
    if !finding.parts.is_empty() {
        writeln!(out, "           check:    {}", finding.parts.join(", "))?;
    }
    for (index, evidence) in finding.evidence.iter().take(SHOWN).enumerate() {
        let label = if index == 0 { "evidence:" } else { "" };
        writeln!(
            out,
            "           {label:<9} {} {} = {}",
            evidence.uri, evidence.property, evidence.value
        )?;
    }
    if finding.evidence.len() > SHOWN {
        writeln!(
            out,
            "                     (+{} more in --format json)",
            finding.evidence.len() - SHOWN
        )?;
    }
    Ok(())
}

#[derive(Tabled)]
struct RequirementRow {
    id: String,
    section: String,
    coverage: &'static str,
    rules: String,
    #[tabled(rename = "in-band command or site evidence")]
    handoff: String,
}

/// Writes the requirements table: one row per requirement, or one JSON object per requirement.
pub fn write_requirements(list: &[Requirement], format: Format, out: &mut dyn Write) -> io::Result<()> {
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut *out, list)?;
        return writeln!(out);
    }

    const HANDOFF_CHARS: usize = 70;
    let rows: Vec<RequirementRow> = list
        .iter()
        .map(|requirement| {
            let handoff = requirement
                .inband_command
                .as_deref()
                .or(requirement.site_evidence.as_deref())
                .unwrap_or("");
            let mut shortened: String = handoff.chars().take(HANDOFF_CHARS).collect();
            if handoff.chars().count() > HANDOFF_CHARS {
                shortened.push('…');
            }
            RequirementRow {
                id: requirement.id.clone(),
                section: requirement.section.clone(),
                coverage: requirement.coverage.as_str(),
                rules: requirement.rules.join(", "),
                handoff: shortened,
            }
        })
        .collect();
    writeln!(out, "{}", Table::new(rows).with(Style::sharp()))?;

    let count = |coverage| list.iter().filter(|r| r.coverage == coverage).count();
    writeln!(
        out,
        "{} requirements: {} out-of-band, {} partly, {} in-band, {} site (full commands in --format json)",
        list.len(),
        count(crate::policy::Coverage::OutOfBand),
        count(crate::policy::Coverage::Partly),
        count(crate::policy::Coverage::InBand),
        count(crate::policy::Coverage::Site),
    )
}
