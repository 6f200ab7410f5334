//! Renders a scan report as a terminal table, JSON, JUnit XML, CSV or HTML, and maps it to an exit
//! code.
//!
//! This module contains the table and what the formats share; each other format has its own file.

mod csv;
mod html;
mod json;
mod junit;
pub mod progress;

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
    /// One JSON object with `schema_version`, `nodes` and `rack` (docs/report-schema.md).
    Json,
    /// JUnit XML: one test suite per node and one test case per rule, for CI dashboards.
    Junit,
    /// CSV: one row per finding, node error and rack finding.
    Csv,
    /// One self-contained HTML page with a rack elevation and each node's findings and
    /// evidence, printing one node per page.
    Html,
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

/// Writes the report in `format`, without colour.
pub fn write(report: &ScanReport, format: Format, out: &mut dyn Write) -> io::Result<()> {
    write_coloured(report, format, out, false)
}

/// Writes the report as [`write`] does, colouring the table's verdicts and statuses when
/// `colour` is true. The other formats never contain ANSI colour codes.
pub fn write_coloured(report: &ScanReport, format: Format, out: &mut dyn Write, colour: bool) -> io::Result<()> {
    match format {
        Format::Table => write_table(report, out, Paint { colour }),
        Format::Json => json::write(report, out),
        Format::Junit => junit::write(report, out),
        Format::Csv => csv::write(report, out),
        Format::Html => html::write(report, out),
    }
}

/// Decides whether to colour output on a stream: only a terminal, and only while `NO_COLOR` is
/// unset or empty, as <https://no-color.org> specifies.
pub fn colour_wanted(stream_is_terminal: bool) -> bool {
    stream_is_terminal && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

/// ANSI colours for verdicts and statuses, or plain text when `colour` is false.
#[derive(Debug, Clone, Copy)]
struct Paint {
    colour: bool,
}

impl Paint {
    /// Colours a verdict or status name: pass green, warn yellow, fail red, unknown magenta,
    /// error bold red; other statuses stay plain.
    fn status(self, name: &str) -> String {
        let code = match name {
            "pass" => "32",
            "warn" => "33",
            "fail" => "31",
            "unknown" => "35",
            "error" => "1;31",
            _ => "",
        };
        if !self.colour || code.is_empty() {
            return name.to_string();
        }
        format!("\x1b[{code}m{name}\x1b[0m")
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

fn row(node: &NodeReport, paint: Paint) -> Row {
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
        verdict: paint.status(node.verdict.as_str()),
        pass: count(Status::Pass),
        fail: count(Status::Fail),
        warn: count(Status::Warn),
        unknown: count(Status::Unknown),
        in_band: count(Status::InBand),
    }
}

fn write_table(report: &ScanReport, out: &mut dyn Write, paint: Paint) -> io::Result<()> {
    let rows: Vec<Row> = report.nodes.iter().map(|node| row(node, paint)).collect();
    writeln!(out, "{}", Table::new(rows).with(Style::sharp()))?;

    for node in &report.nodes {
        write_node_details(node, out, paint)?;
    }
    write_rack_findings(report, out, paint)?;

    let count = |verdict| report.nodes.iter().filter(|node| node.verdict == verdict).count();
    let open_sessions: usize = report.nodes.iter().map(|node| node.open_sessions.len()).sum();
    writeln!(
        out,
        "\n{} nodes: {} pass, {} warn, {} fail, {} unknown, {} error{} (profile {}{})",
        report.nodes.len(),
        count(Verdict::Pass),
        count(Verdict::Warn),
        count(Verdict::Fail),
        count(Verdict::Unknown),
        count(Verdict::Error),
        match open_sessions {
            0 => String::new(),
            count => format!(", {count} session(s) left open"),
        },
        report.profile,
        if report.insecure {
            ", TLS certificates NOT verified"
        } else {
            ""
        }
    )
}

/// Lists the rack-wide findings, skipping those that passed or had nothing to judge.
fn write_rack_findings(report: &ScanReport, out: &mut dyn Write, paint: Paint) -> io::Result<()> {
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
        write_finding(finding, out, paint)?;
    }
    Ok(())
}

/// Lists what a technician must look at on one node: the error, or each finding that did not
/// pass, then the sessions left open on its BMC.
fn write_node_details(node: &NodeReport, out: &mut dyn Write, paint: Paint) -> io::Result<()> {
    if let Some(error) = &node.error {
        writeln!(out, "\n{} ({}): {}", node.hostname, node.bmc, paint.status("error"))?;
        for line in error.lines() {
            writeln!(out, "  {line}")?;
        }
        return write_open_sessions(node, out);
    }

    // Findings with nothing to judge stay in the JSON report; the table lists what to act on.
    let open: Vec<_> = node
        .findings
        .iter()
        .filter(|f| !matches!(f.status, Status::Pass | Status::NotApplicable))
        .collect();
    if open.is_empty() && node.open_sessions.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "\n{} ({}): {}",
        node.hostname,
        node.bmc,
        paint.status(node.verdict.as_str())
    )?;
    for finding in open {
        write_finding(finding, out, paint)?;
    }
    write_open_sessions(node, out)
}

fn write_open_sessions(node: &NodeReport, out: &mut dyn Write) -> io::Result<()> {
    for session in &node.open_sessions {
        let uri = session.uri.as_deref().unwrap_or("unknown session URI");
        writeln!(
            out,
            "  session left open until the BMC expires it: {} {uri}: {}",
            session.bmc, session.cause
        )?;
    }
    Ok(())
}

/// Writes one finding: status, rule and requirement, then expected, observed, parts, evidence.
fn write_finding(finding: &Finding, out: &mut dyn Write, paint: Paint) -> io::Result<()> {
    const SHOWN: usize = 3;

    // Pad outside the colour codes, which `{:<8}` would count as width.
    let status = finding.status.as_str();
    let padding = " ".repeat(8usize.saturating_sub(status.len()));
    writeln!(
        out,
        "  {}{padding} {}  [{}]",
        paint.status(status),
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
///
/// JUnit and HTML have no form for a list of requirements, so `Format::Junit` and
/// `Format::Html` fail with `ErrorKind::InvalidInput` before anything is written.
pub fn write_requirements(list: &[Requirement], format: Format, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Table => {}
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, list)?;
            return writeln!(out);
        }
        Format::Csv => return csv::write_requirements(list, out),
        Format::Junit | Format::Html => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the requirements list has no JUnit or HTML form; use --format table, json or csv",
            ));
        }
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
