//! The JUnit XML report, for CI systems and provisioning dashboards.
//!
//! Each node is a `<testsuite>` (name and `hostname` = the node's hostname) and each rule a
//! `<testcase>` (classname = hostname, name = rule id). Statuses map as follows:
//!
//! | status                       | JUnit element                                   |
//! |------------------------------|-------------------------------------------------|
//! | pass                         | passed test case                                |
//! | warn                         | passed, with the finding in `<system-out>`      |
//! | fail                         | `<failure type="fail">`                          |
//! | unknown                      | `<error type="unknown">`                         |
//! | error                        | `<error type="error">`                           |
//! | in-band, not-applicable      | `<skipped>`                                     |
//!
//! An unknown finding is an error, not a skip, because dashboards treat skipped tests as
//! harmless and a rule whose data the BMC did not report has not passed. This matches the exit code:
//! failures give 1, errors alone give 3. A node that could not be read has a single test case
//! named `read` with an `<error type="unreachable">`. Rack-wide findings form a suite named `rack`.

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::policy::{Finding, Status};
use crate::scan::{NodeReport, ScanReport};

/// Name of the test case that stands for a node that could not be read.
pub const READ_CASE: &str = "read";
/// Name and classname of the suite of rack-wide findings.
pub const RACK_SUITE: &str = "rack";

pub(super) fn write(report: &ScanReport, out: &mut dyn Write) -> io::Result<()> {
    let mut suites: Vec<Suite> = report.nodes.iter().map(node_suite).collect();
    if !report.rack.is_empty() {
        suites.push(rack_suite(&report.rack));
    }

    let total = |count: fn(&Suite) -> usize| suites.iter().map(count).sum::<usize>();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"rackcheck profile {}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">",
        escape(&report.profile),
        total(|suite| suite.tests),
        total(|suite| suite.failures),
        total(|suite| suite.errors),
        total(|suite| suite.skipped),
    );
    for suite in &suites {
        xml.push_str(&suite.xml);
    }
    xml.push_str("</testsuites>\n");
    out.write_all(xml.as_bytes())
}

/// One rendered `<testsuite>` with the counts the enclosing `<testsuites>` adds up.
struct Suite {
    tests: usize,
    failures: usize,
    errors: usize,
    skipped: usize,
    xml: String,
}

fn node_suite(node: &NodeReport) -> Suite {
    let mut cases = String::new();
    let mut counts = Counts::default();

    if let Some(error) = &node.error {
        counts.errors += 1;
        let _ = writeln!(
            cases,
            "    <testcase classname=\"{host}\" name=\"{READ_CASE}\">\n      <error type=\"unreachable\" message=\"{message}\">{body}</error>\n    </testcase>",
            host = escape(&node.hostname),
            message = escape(error.lines().next().unwrap_or("")),
            body = escape(error),
        );
    }
    for finding in &node.findings {
        cases.push_str(&test_case(&node.hostname, finding, &mut counts));
    }

    let mut xml = String::new();
    let _ = writeln!(
        xml,
        "  <testsuite name=\"{host}\" hostname=\"{host}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{time:.3}\">",
        host = escape(&node.hostname),
        tests = counts.tests(node),
        failures = counts.failures,
        errors = counts.errors,
        skipped = counts.skipped,
        time = node.duration_ms as f64 / 1000.0,
    );
    xml.push_str("    <properties>\n");
    for (name, value) in [
        ("rack", node.rack.clone()),
        ("position", node.position.to_string()),
        ("bmc", node.bmc.clone()),
        ("role", node.role.to_string()),
        ("verdict", node.verdict.to_string()),
    ] {
        let _ = writeln!(xml, "      <property name=\"{name}\" value=\"{}\"/>", escape(&value));
    }
    xml.push_str("    </properties>\n");
    xml.push_str(&cases);
    xml.push_str("  </testsuite>\n");

    Suite {
        tests: counts.tests(node),
        failures: counts.failures,
        errors: counts.errors,
        skipped: counts.skipped,
        xml,
    }
}

fn rack_suite(findings: &[Finding]) -> Suite {
    let mut cases = String::new();
    let mut counts = Counts::default();
    for finding in findings {
        cases.push_str(&test_case(RACK_SUITE, finding, &mut counts));
    }
    let mut xml = String::new();
    let _ = writeln!(
        xml,
        "  <testsuite name=\"{RACK_SUITE}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">",
        findings.len(),
        counts.failures,
        counts.errors,
        counts.skipped,
    );
    xml.push_str(&cases);
    xml.push_str("  </testsuite>\n");
    Suite {
        tests: findings.len(),
        failures: counts.failures,
        errors: counts.errors,
        skipped: counts.skipped,
        xml,
    }
}

#[derive(Default)]
struct Counts {
    failures: usize,
    errors: usize,
    skipped: usize,
}

impl Counts {
    /// Test cases of a node suite: one per finding, plus the `read` case of an unread node.
    fn tests(&self, node: &NodeReport) -> usize {
        node.findings.len() + usize::from(node.error.is_some())
    }
}

/// Renders one finding as a `<testcase>` and counts it.
fn test_case(classname: &str, finding: &Finding, counts: &mut Counts) -> String {
    let body = escape(&finding_text(finding));
    let message = escape(&format!("expected {}, observed {}", finding.expected, finding.observed));
    let status = finding.status.as_str();
    let inner = match finding.status {
        Status::Pass => String::new(),
        Status::Warn => format!("      <system-out>{body}</system-out>\n"),
        Status::Fail => {
            counts.failures += 1;
            format!("      <failure type=\"{status}\" message=\"{message}\">{body}</failure>\n")
        }
        Status::Unknown | Status::Error => {
            counts.errors += 1;
            format!("      <error type=\"{status}\" message=\"{message}\">{body}</error>\n")
        }
        Status::InBand | Status::NotApplicable => {
            counts.skipped += 1;
            format!("      <skipped message=\"{status}: {}\"/>\n", escape(&finding.observed))
        }
    };
    let open = format!(
        "    <testcase classname=\"{}\" name=\"{}\"",
        escape(classname),
        escape(&finding.rule)
    );
    if inner.is_empty() {
        format!("{open}/>\n")
    } else {
        format!("{open}>\n{inner}    </testcase>\n")
    }
}

/// Formats the plain-text body of a failure: requirement, expected, observed, parts and evidence.
fn finding_text(finding: &Finding) -> String {
    let mut text = format!(
        "status: {}\nrequirement: {}\nexpected: {}\nobserved: {}\n",
        finding.status, finding.requirement, finding.expected, finding.observed
    );
    if !finding.parts.is_empty() {
        let _ = writeln!(text, "parts: {}", finding.parts.join(", "));
    }
    for evidence in &finding.evidence {
        let _ = writeln!(
            text,
            "evidence: {} {} = {}",
            evidence.uri, evidence.property, evidence.value
        );
    }
    text
}

/// Escapes text for XML 1.0 element content and double- or single-quoted attributes.
///
/// Characters that XML 1.0 forbids become U+FFFD: control characters other than tab, line
/// feed and carriage return, and U+FFFE and U+FFFF. A BMC string may contain them, and one
/// such character would make the whole file unreadable.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            // Attribute values normalize raw line breaks and tabs to spaces; references keep them.
            '\n' => escaped.push_str("&#10;"),
            '\r' => escaped.push_str("&#13;"),
            '\t' => escaped.push_str("&#9;"),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => escaped.push('\u{fffd}'),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escape_markup_characters() {
        assert_eq!(escape(r#"<a href="x">&'"#), "&lt;a href=&quot;x&quot;&gt;&amp;&apos;");
    }

    #[test]
    fn escape_keeps_line_breaks_as_references() {
        assert_eq!(escape("a\nb\r\tc"), "a&#10;b&#13;&#9;c");
    }

    #[test]
    fn escape_replaces_characters_xml_forbids() {
        assert_eq!(escape("a\u{0}b\u{1b}c\u{ffff}"), "a\u{fffd}b\u{fffd}c\u{fffd}");
    }

    #[test]
    fn escape_keeps_other_unicode() {
        assert_eq!(escape("DIMM Ä1 — µ"), "DIMM Ä1 — µ");
    }
}
