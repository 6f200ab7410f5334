//! The HTML handover report: one self-contained page with a rack elevation coloured by
//! verdict, a summary table, the rack-wide findings, and a section per node with its
//! identity, findings and evidence.
//!
//! The page carries its CSS inline and loads nothing: no scripts, fonts, images or URLs, and a
//! Content-Security-Policy that blocks them anyway. So it can be mailed, archived and opened
//! offline. Every text taken from the report is escaped, since BMCs and inventories supply it.
//! Printed, each node starts on a new page and the verdict colours are kept.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::io::{self, Write};

use super::Outcome;
use crate::policy::{Finding, Status, Verdict};
use crate::scan::{NodeReport, ScanReport};

/// Rack height drawn when no node sits higher: the common 42U rack.
const STANDARD_RACK_UNITS: u32 = 42;

/// Verdicts in the order the totals list them.
const VERDICTS: [Verdict; 5] = [
    Verdict::Pass,
    Verdict::Warn,
    Verdict::Fail,
    Verdict::Unknown,
    Verdict::Error,
];

pub(super) fn write(report: &ScanReport, out: &mut dyn Write) -> io::Result<()> {
    let mut page = String::new();
    render(report, &mut page).expect("formatting into a String does not fail");
    out.write_all(page.as_bytes())
}

/// Escapes text for HTML element content and for attribute values in double or single quotes.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

fn render(report: &ScanReport, page: &mut String) -> fmt::Result {
    writeln!(page, "<!DOCTYPE html>")?;
    writeln!(page, "<html lang=\"en\">")?;
    writeln!(page, "<head>")?;
    writeln!(page, "<meta charset=\"utf-8\">")?;
    writeln!(
        page,
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
    )?;
    writeln!(
        page,
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    )?;
    writeln!(page, "<title>rackcheck report: {}</title>", escape(&report.profile))?;
    writeln!(page, "<style>{STYLE}</style>")?;
    writeln!(page, "</head>")?;
    writeln!(page, "<body>")?;

    write_header(report, page)?;
    writeln!(page, "<div class=\"overview\">")?;
    write_elevations(report, page)?;
    write_summary_table(report, page)?;
    writeln!(page, "</div>")?;
    write_rack_findings(&report.rack, page)?;
    for (index, node) in report.nodes.iter().enumerate() {
        write_node(index, node, page)?;
    }

    writeln!(page, "</body>")?;
    writeln!(page, "</html>")
}

/// Writes the title, the overall result, the profile, the TLS mode and the totals by verdict.
///
/// NOTE: `ScanReport` records no scan start time, so the header cannot show when the rack was read.
fn write_header(report: &ScanReport, page: &mut String) -> fmt::Result {
    let (class, meaning) = match Outcome::of(report) {
        Outcome::Pass => ("pass", "Every node passed"),
        Outcome::Fail => ("fail", "At least one rule failed"),
        Outcome::Incomplete => (
            "unknown",
            "Nothing failed, but a node could not be read or a rule stayed unknown",
        ),
        Outcome::Usage => ("error", "Invalid input"),
    };
    let outcome = Outcome::of(report) as u8;

    writeln!(page, "<header>")?;
    writeln!(page, "<h1>rackcheck handover report</h1>")?;
    writeln!(
        page,
        "<p class=\"result verdict-{class}\">Result: {class} (exit code {outcome}). {meaning}.</p>"
    )?;
    if report.insecure {
        writeln!(
            page,
            "<p class=\"insecure\">TLS certificates were NOT verified (<code>--insecure</code>): \
             any host could have answered for a BMC.</p>"
        )?;
    }
    writeln!(page, "<dl class=\"facts\">")?;
    writeln!(page, "<dt>Profile</dt><dd>{}</dd>", escape(&report.profile))?;
    let tls = if report.insecure { "not verified" } else { "verified" };
    writeln!(page, "<dt>TLS certificates</dt><dd>{tls}</dd>")?;
    writeln!(page, "<dt>Nodes</dt><dd>{}</dd>", report.nodes.len())?;
    writeln!(page, "<dt>Report schema</dt><dd>{}</dd>", report.schema_version)?;
    writeln!(page, "</dl>")?;

    writeln!(page, "<ul class=\"totals\">")?;
    for verdict in VERDICTS {
        let count = report.nodes.iter().filter(|node| node.verdict == verdict).count();
        writeln!(page, "<li class=\"badge verdict-{verdict}\">{count} {verdict}</li>")?;
    }
    writeln!(page, "</ul>")?;
    writeln!(page, "</header>")
}

/// Writes one elevation per rack, racks in the order the inventory first names them.
fn write_elevations(report: &ScanReport, page: &mut String) -> fmt::Result {
    let mut racks: Vec<(&str, Vec<(usize, &NodeReport)>)> = Vec::new();
    for (index, node) in report.nodes.iter().enumerate() {
        match racks.iter_mut().find(|(name, _)| *name == node.rack) {
            Some((_, nodes)) => nodes.push((index, node)),
            None => racks.push((&node.rack, vec![(index, node)])),
        }
    }

    writeln!(page, "<div class=\"elevations\">")?;
    writeln!(page, "<div class=\"racks\">")?;
    for (name, nodes) in &racks {
        write_elevation(name, nodes, page)?;
    }
    writeln!(page, "</div>")?;
    writeln!(
        page,
        "<p class=\"note\">Each node is drawn in the unit its inventory row names. The inventory \
         gives no heights, so every box is one unit tall.</p>"
    )?;
    writeln!(page, "</div>")
}

/// Writes a rack as a column of units, top unit first, each node in the unit of its position.
/// Nodes that share a unit, such as the nodes of a multi-node chassis, split its width.
///
/// NOTE: the inventory has no height column, so every node is drawn one unit tall.
fn write_elevation(name: &str, nodes: &[(usize, &NodeReport)], page: &mut String) -> fmt::Result {
    let mut by_unit: BTreeMap<u32, Vec<(usize, &NodeReport)>> = BTreeMap::new();
    for &(index, node) in nodes {
        by_unit.entry(node.position).or_default().push((index, node));
    }
    let top = by_unit.keys().copied().max().unwrap_or(0).max(STANDARD_RACK_UNITS);

    writeln!(page, "<figure class=\"rack\">")?;
    writeln!(page, "<figcaption>Rack {}</figcaption>", escape(name))?;
    writeln!(page, "<div class=\"units\">")?;
    for unit in (1..=top).rev() {
        write!(
            page,
            "<div class=\"unit\"><span class=\"u\">{unit}</span><div class=\"slot\">"
        )?;
        for &(index, node) in by_unit.get(&unit).map(Vec::as_slice).unwrap_or_default() {
            write!(
                page,
                "<a class=\"device verdict-{verdict}\" href=\"#node-{index}\" title=\"{hostname}: {verdict}\">\
                 <span class=\"hostname\">{hostname}</span> <span class=\"verdict\">{verdict}</span></a>",
                verdict = node.verdict,
                hostname = escape(&node.hostname),
            )?;
        }
        writeln!(page, "</div><span class=\"u\">{unit}</span></div>")?;
    }
    writeln!(page, "</div>")?;
    writeln!(page, "</figure>")
}

/// Writes one row per node with its verdict and its findings counted by status.
fn write_summary_table(report: &ScanReport, page: &mut String) -> fmt::Result {
    const COUNTED: [Status; 5] = [
        Status::Pass,
        Status::Fail,
        Status::Warn,
        Status::Unknown,
        Status::InBand,
    ];

    writeln!(page, "<table class=\"summary\">")?;
    write!(
        page,
        "<thead><tr><th>Rack</th><th>U</th><th>Hostname</th><th>Role</th><th>Model</th><th>Verdict</th>"
    )?;
    for status in COUNTED {
        write!(page, "<th>{status}</th>")?;
    }
    writeln!(page, "</tr></thead>")?;
    writeln!(page, "<tbody>")?;
    for (index, node) in report.nodes.iter().enumerate() {
        write!(
            page,
            "<tr><td>{}</td><td class=\"number\">{}</td><td><a href=\"#node-{index}\">{}</a></td><td>{}</td><td>{}</td>\
             <td><span class=\"badge verdict-{verdict}\">{verdict}</span></td>",
            escape(&node.rack),
            node.position,
            escape(&node.hostname),
            node.role,
            escape(&model(node).unwrap_or_else(|| "-".to_string())),
            verdict = node.verdict,
        )?;
        for status in COUNTED {
            let count = node.findings.iter().filter(|finding| finding.status == status).count();
            write!(page, "<td class=\"number\">{count}</td>")?;
        }
        writeln!(page, "</tr>")?;
    }
    writeln!(page, "</tbody>")?;
    writeln!(page, "</table>")
}

fn write_rack_findings(findings: &[Finding], page: &mut String) -> fmt::Result {
    writeln!(page, "<section class=\"rack-findings\">")?;
    writeln!(page, "<h2>Rack-wide findings</h2>")?;
    if findings.is_empty() {
        writeln!(page, "<p>The profile has no rack-wide rules.</p>")?;
    } else {
        write_findings_table(findings, page)?;
    }
    writeln!(page, "</section>")
}

/// Writes a node's section: identity, the error or unread resources, then every finding.
fn write_node(index: usize, node: &NodeReport, page: &mut String) -> fmt::Result {
    writeln!(page, "<section class=\"node\" id=\"node-{index}\">")?;
    writeln!(
        page,
        "<h2><span class=\"badge verdict-{verdict}\">{verdict}</span> {}</h2>",
        escape(&node.hostname),
        verdict = node.verdict,
    )?;
    write_identity(node, page)?;

    if let Some(error) = &node.error {
        writeln!(page, "<h3>Error</h3>")?;
        writeln!(page, "<pre class=\"error\">{}</pre>", escape(error))?;
    }
    let problems = node
        .facts
        .as_ref()
        .map(|facts| facts.problems.as_slice())
        .unwrap_or_default();
    if !problems.is_empty() {
        writeln!(page, "<h3>Resources with problems</h3>")?;
        writeln!(page, "<ul class=\"problems\">")?;
        for problem in problems {
            writeln!(
                page,
                "<li><code>{}</code>: {}</li>",
                escape(&problem.uri),
                escape(&problem.message)
            )?;
        }
        writeln!(page, "</ul>")?;
    }
    if !node.findings.is_empty() {
        writeln!(page, "<h3>Findings</h3>")?;
        write_findings_table(&node.findings, page)?;
    }
    writeln!(page, "</section>")
}

/// Writes the node's inventory fields and what its BMC reported about the system.
fn write_identity(node: &NodeReport, page: &mut String) -> fmt::Result {
    let system = node.facts.as_ref().map(|facts| &facts.system);
    let mut fields: Vec<(&str, String)> = vec![
        ("Rack and unit", format!("{} U{}", node.rack, node.position)),
        ("Role", node.role.to_string()),
        ("BMC", node.bmc.clone()),
    ];
    if let Some(system) = system {
        fields.push(("System", format!("{} ({})", system.id, system.uri)));
    } else if let Some(id) = &node.system {
        fields.push(("System", id.clone()));
    }
    if let Some(model) = model(node) {
        fields.push(("Model", model));
    }
    let optional = |value: Option<&Option<String>>| value.and_then(Option::clone);
    if let Some(serial) = optional(system.map(|system| &system.serial_number)) {
        fields.push(("Serial number", serial));
    }
    if let Some(bios) = optional(system.map(|system| &system.bios_version)) {
        fields.push(("BIOS version", bios));
    }
    if let Some(power) = optional(system.map(|system| &system.power_state)) {
        fields.push(("Power state", power));
    }
    if let Some(facts) = &node.facts {
        let parts = format!(
            "{} CPUs, {} GPUs, {} DIMMs, {} drives, {} PSUs",
            facts.cpus.len(),
            facts.gpus.len(),
            facts.dimms.len(),
            facts.drives.len(),
            facts.power.supplies.len()
        );
        fields.push(("Parts read", parts));
    }
    fields.push(("Scan time", format!("{:.1} s", node.duration_ms as f64 / 1000.0)));

    writeln!(page, "<dl class=\"facts\">")?;
    for (label, value) in fields {
        writeln!(page, "<dt>{label}</dt><dd>{}</dd>", escape(&value))?;
    }
    writeln!(page, "</dl>")
}

/// Writes findings, those to act on first, each followed by a row with its evidence.
fn write_findings_table(findings: &[Finding], page: &mut String) -> fmt::Result {
    let mut ordered: Vec<&Finding> = findings.iter().collect();
    ordered.sort_by_key(|finding| attention_rank(finding.status));

    writeln!(page, "<table class=\"findings\">")?;
    writeln!(
        page,
        "<thead><tr><th>Status</th><th>Rule</th><th>Requirement</th><th>Expected</th><th>Observed</th><th>Parts</th></tr></thead>"
    )?;
    writeln!(page, "<tbody>")?;
    for finding in ordered {
        writeln!(
            page,
            "<tr class=\"finding\"><td><span class=\"badge status-{status}\">{status}</span></td>\
             <td><code class=\"rule\">{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&finding.rule),
            escape(&finding.requirement),
            escape(&finding.expected),
            escape(&finding.observed),
            escape(&finding.parts.join(", ")),
            status = finding.status,
        )?;
        write_evidence_row(finding, page)?;
    }
    writeln!(page, "</tbody>")?;
    writeln!(page, "</table>")
}

/// Writes a finding's evidence in a `<details>` element, open (and so printed) for the
/// statuses a technician must act on.
fn write_evidence_row(finding: &Finding, page: &mut String) -> fmt::Result {
    if finding.evidence.is_empty() {
        return Ok(());
    }
    let open = if matches!(
        finding.status,
        Status::Fail | Status::Warn | Status::Unknown | Status::Error
    ) {
        " open"
    } else {
        ""
    };
    let count = finding.evidence.len();
    let noun = if count == 1 { "value" } else { "values" };

    writeln!(page, "<tr class=\"evidence\"><td></td><td colspan=\"5\">")?;
    writeln!(page, "<details{open}><summary>Evidence: {count} {noun}</summary>")?;
    writeln!(
        page,
        "<table><thead><tr><th>URI</th><th>Property</th><th>Value</th></tr></thead><tbody>"
    )?;
    for evidence in &finding.evidence {
        writeln!(
            page,
            "<tr><td><code>{}</code></td><td>{}</td><td><code>{}</code></td></tr>",
            escape(&evidence.uri),
            escape(&evidence.property),
            escape(&evidence.value.to_string()),
        )?;
    }
    writeln!(page, "</tbody></table></details>")?;
    writeln!(page, "</td></tr>")
}

/// Orders statuses by how urgently a technician must act on them.
fn attention_rank(status: Status) -> u8 {
    match status {
        Status::Fail => 0,
        Status::Error => 1,
        Status::Unknown => 2,
        Status::Warn => 3,
        Status::InBand => 4,
        Status::Pass => 5,
        Status::NotApplicable => 6,
    }
}

/// Returns the manufacturer and model the BMC reported, when it reported either.
fn model(node: &NodeReport) -> Option<String> {
    let system = &node.facts.as_ref()?.system;
    let model = [system.manufacturer.as_deref(), system.model.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    (!model.is_empty()).then_some(model)
}

/// The page's only style sheet. Colours: pass green, warn amber, fail red, unknown purple,
/// error dark red with stripes, so fail and error differ without reading the label.
const STYLE: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 24px; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #1b1b1b; background: #fff; }
h1 { margin: 0 0 8px; font-size: 24px; }
h2 { margin: 28px 0 8px; font-size: 19px; }
h3 { margin: 16px 0 6px; font-size: 15px; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "Liberation Mono", monospace; font-size: 12px; }
a { color: inherit; }
header { border-bottom: 2px solid #333; padding-bottom: 12px; margin-bottom: 16px; }
.result { display: inline-block; margin: 4px 0 8px; padding: 6px 12px; border-radius: 4px; font-weight: 600; font-size: 16px; }
.insecure { padding: 6px 12px; border: 2px solid #c62828; color: #8e0000; font-weight: 600; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0; }
dl.facts dt { font-weight: 600; color: #444; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
ul.totals { display: flex; gap: 8px; list-style: none; padding: 0; margin: 8px 0 0; }
.badge { display: inline-block; padding: 1px 7px; border-radius: 3px; font-weight: 600; white-space: nowrap; }
.verdict-pass, .status-pass { background: #2e7d32; color: #fff; }
.verdict-warn, .status-warn { background: #f2b01e; color: #2b1d00; }
.verdict-fail, .status-fail { background: #c62828; color: #fff; }
.verdict-unknown, .status-unknown { background: #6a4c93; color: #fff; }
.verdict-error, .status-error { background-color: #5d0b0b; background-image: repeating-linear-gradient(135deg, transparent 0 6px, rgba(255,255,255,.18) 6px 9px); color: #fff; }
.status-in-band { background: #1f5fa8; color: #fff; }
.status-not-applicable { background: #d7d7d7; color: #333; }
.overview { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
.racks { display: flex; flex-wrap: wrap; gap: 16px; }
.elevations .note { margin: 6px 0 0; max-width: 352px; color: #555; font-size: 12px; }
figure.rack { margin: 0; }
figure.rack figcaption { font-weight: 600; margin-bottom: 4px; }
.units { width: 340px; border: 6px solid #3a3a3a; border-radius: 3px; background: #efefef; }
.unit { display: grid; grid-template-columns: 26px 1fr 26px; height: 19px; border-bottom: 1px solid #d4d4d4; }
.unit:last-child { border-bottom: 0; }
.unit .u { font-size: 10px; line-height: 18px; text-align: center; color: #777; background: #e2e2e2; }
.slot { display: flex; gap: 2px; min-width: 0; padding: 1px 2px; }
.device { flex: 1 1 0; min-width: 0; display: flex; justify-content: space-between; gap: 4px; padding: 0 6px; border-radius: 2px; font-size: 11px; line-height: 16px; text-decoration: none; overflow: hidden; white-space: nowrap; }
.device .hostname { overflow: hidden; text-overflow: ellipsis; font-weight: 600; }
table { border-collapse: collapse; }
th, td { text-align: left; vertical-align: top; padding: 3px 6px; border-bottom: 1px solid #ddd; }
th { background: #f0f0f0; font-weight: 600; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
table.summary { font-size: 13px; }
table.findings { width: 100%; font-size: 13px; }
table.findings td { overflow-wrap: anywhere; }
code.rule { white-space: nowrap; }
tr.finding td { border-bottom: 0; }
tr.evidence > td { padding-top: 0; }
details summary { cursor: pointer; color: #444; font-size: 12px; }
details table { margin: 4px 0 6px; width: 100%; font-size: 12px; }
details td { border-bottom: 1px solid #eee; overflow-wrap: anywhere; }
pre.error { white-space: pre-wrap; padding: 8px; border-left: 4px solid #5d0b0b; background: #fbeeee; }
section.node { margin-top: 32px; padding-top: 8px; border-top: 2px solid #333; }
section.node h2 .badge { font-size: 14px; vertical-align: 2px; margin-right: 6px; }
@page { size: A4; margin: 12mm; }
@media print {
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  body { margin: 0; font-size: 10pt; }
  a { text-decoration: none; }
  section.node { break-before: page; border-top: 0; margin-top: 0; }
  figure.rack, tr, dl.facts { break-inside: avoid; }
  thead { display: table-header-group; }
  details summary { color: #000; }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Role;
    use crate::policy::Evidence;

    fn node(hostname: &str, rack: &str, position: u32, verdict: Verdict) -> NodeReport {
        NodeReport {
            hostname: hostname.to_string(),
            rack: rack.to_string(),
            position,
            role: Role::GpuCompute,
            bmc: "https://10.0.0.1".to_string(),
            system: None,
            verdict,
            error: None,
            facts: None,
            findings: Vec::new(),
            duration_ms: 1200,
            pxe: None,
            power_on: None,
            open_sessions: Vec::new(),
        }
    }

    fn finding(rule: &str, status: Status, observed: &str) -> Finding {
        Finding {
            rule: rule.to_string(),
            status,
            requirement: "M-1: memory has ECC".to_string(),
            expected: "ECC on every DIMM".to_string(),
            observed: observed.to_string(),
            parts: vec!["DIMM B3".to_string()],
            evidence: vec![Evidence::new(
                "/redfish/v1/Systems/1/Memory/B3",
                "ErrorCorrection",
                "NoECC",
            )],
        }
    }

    fn report(nodes: Vec<NodeReport>) -> ScanReport {
        ScanReport {
            schema_version: 1,
            profile: "builtin".to_string(),
            insecure: false,
            nodes,
            rack: Vec::new(),
        }
    }

    fn render_page(report: &ScanReport) -> String {
        let mut out = Vec::new();
        write(report, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escape_replaces_markup_characters() {
        assert_eq!(escape("a<b>&\"c\"'d'"), "a&lt;b&gt;&amp;&quot;c&quot;&#39;d&#39;");
    }

    #[test]
    fn escape_keeps_plain_and_non_ascii_text() {
        assert_eq!(escape("gpu-a01 §1.1 ≥ 100 kW"), "gpu-a01 §1.1 ≥ 100 kW");
        assert_eq!(escape(""), "");
    }

    #[test]
    fn escape_does_not_decode_entities() {
        assert_eq!(escape("&amp;"), "&amp;amp;");
    }

    #[test]
    fn report_escapes_text_from_bmcs_and_inventory() {
        let mut hostile = node("<script>alert(1)</script>", "R\"1", 3, Verdict::Fail);
        hostile.error = Some("<img src=x onerror=alert(1)>".to_string());
        let mut bad = finding("dimm-ecc", Status::Fail, "<b>NoECC</b>");
        bad.evidence = vec![Evidence::new("/redfish/v1/\"><script>", "Name", "<iframe>")];
        hostile.findings = vec![bad];
        let page = render_page(&report(vec![hostile]));

        assert!(!page.contains("<script"), "unescaped script tag");
        assert!(!page.contains("<img"), "unescaped img tag");
        assert!(!page.contains("<iframe"), "unescaped iframe tag");
        assert!(!page.contains("<b>NoECC"), "unescaped observed value");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("Rack R&quot;1"));
    }

    #[test]
    fn report_loads_nothing_from_outside() {
        let mut failing = node("gpu-a01", "A", 2, Verdict::Fail);
        failing.findings = vec![finding("dimm-ecc", Status::Fail, "NoECC")];
        let page = render_page(&report(vec![failing]));

        assert!(page.contains("Content-Security-Policy"));
        assert!(page.contains("default-src 'none'"));
        assert!(!page.contains("<script"));
        assert!(!page.contains("<link"));
        assert!(!page.contains("src="));
        assert!(!page.contains("url("));
        assert!(!page.contains("@import"));
        assert!(!page.contains("href=\"http"));
    }

    #[test]
    fn elevation_places_node_in_its_unit() {
        let page = render_page(&report(vec![node("gpu-a01", "A", 7, Verdict::Pass)]));
        let row_start = page.find("<span class=\"u\">7</span>").expect("unit 7 is drawn");
        let row_end = row_start + page[row_start..].find("</div><span class=\"u\">7</span>").unwrap();

        assert!(page[row_start..row_end].contains("gpu-a01"));
        assert!(page[row_start..row_end].contains("class=\"device verdict-pass\""));
        assert!(page.contains("<span class=\"u\">42</span>"), "a 42U rack is drawn");
        assert!(!page.contains("<span class=\"u\">43</span>"));
    }

    #[test]
    fn elevation_grows_past_42_units() {
        let page = render_page(&report(vec![node("gpu-a01", "A", 48, Verdict::Warn)]));

        assert!(page.contains("<span class=\"u\">48</span>"));
        assert!(page.contains("class=\"device verdict-warn\""));
    }

    #[test]
    fn elevation_draws_each_rack() {
        let page = render_page(&report(vec![
            node("gpu-a01", "A", 2, Verdict::Pass),
            node("gpu-b01", "B", 2, Verdict::Error),
            node("gpu-a02", "A", 8, Verdict::Unknown),
        ]));

        assert_eq!(page.matches("<figure class=\"rack\">").count(), 2);
        let rack_b = page.find("<figcaption>Rack B</figcaption>").expect("rack B is drawn");
        let rack_a = page.find("<figcaption>Rack A</figcaption>").expect("rack A is drawn");
        assert!(rack_a < rack_b, "racks keep inventory order");
        assert!(page[rack_a..rack_b].contains("gpu-a02"));
        assert!(page[rack_b..].contains("class=\"device verdict-error\""));
    }

    #[test]
    fn node_sections_link_from_elevation() {
        let page = render_page(&report(vec![
            node("gpu-a01", "A", 2, Verdict::Pass),
            node("gpu-a02", "A", 4, Verdict::Fail),
        ]));

        assert!(page.contains("href=\"#node-1\""));
        assert!(page.contains("<section class=\"node\" id=\"node-1\">"));
    }

    #[test]
    fn findings_list_failures_first_with_open_evidence() {
        let mut failing = node("gpu-a01", "A", 2, Verdict::Fail);
        failing.findings = vec![
            finding("cpu-clock", Status::Pass, "3.6 GHz"),
            finding("dimm-ecc", Status::Fail, "NoECC"),
        ];
        let page = render_page(&report(vec![failing]));
        let fail_row = page.find("dimm-ecc").unwrap();
        let pass_row = page.find("cpu-clock").unwrap();

        assert!(fail_row < pass_row, "the failing finding comes first");
        assert_eq!(page.matches("<details open>").count(), 1);
        assert_eq!(page.matches("<details>").count(), 1);
        assert!(page.contains("/redfish/v1/Systems/1/Memory/B3"));
        assert!(page.contains("&quot;NoECC&quot;"), "evidence values are shown as JSON");
    }

    #[test]
    fn header_counts_verdicts_and_flags_insecure() {
        let mut scan = report(vec![
            node("gpu-a01", "A", 2, Verdict::Pass),
            node("gpu-a02", "A", 4, Verdict::Pass),
            node("gpu-a03", "A", 6, Verdict::Error),
        ]);
        scan.insecure = true;
        let page = render_page(&scan);

        assert!(page.contains("<li class=\"badge verdict-pass\">2 pass</li>"));
        assert!(page.contains("<li class=\"badge verdict-error\">1 error</li>"));
        assert!(page.contains("TLS certificates were NOT verified"));
        assert!(page.contains("(exit code 3)"));
    }

    #[test]
    fn print_style_breaks_pages_and_keeps_colours() {
        assert!(STYLE.contains("section.node { break-before: page;"));
        assert!(STYLE.contains("print-color-adjust: exact"));
    }
}
