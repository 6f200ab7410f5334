//! Compares two JSON reports node by node: verdicts, rule statuses and errors that changed,
//! and nodes added or removed.
//!
//! A rule counts as changed when its status changed, or when it appears in only one report.
//! A finding whose observed value changed but whose status did not is not listed.

use std::io::{self, Write};

use serde::Serialize;

use crate::policy::{Finding, Status, Verdict};
use crate::scan::{NodeReport, ScanReport};

/// Output format of `rackcheck diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    Table,
    Json,
}

/// Changes between two reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportDiff {
    /// Nodes only in the new report, with their verdict.
    pub added: Vec<NodeVerdict>,
    /// Nodes only in the old report, with their verdict there.
    pub removed: Vec<NodeVerdict>,
    /// Nodes in both reports whose verdict, error or rules changed, in the new report's order.
    pub changed: Vec<NodeDiff>,
    /// Rack-wide rules whose status changed.
    pub rack: Vec<RuleChange>,
}

impl ReportDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty() && self.rack.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeVerdict {
    pub hostname: String,
    pub verdict: Verdict,
}

/// One node's changes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeDiff {
    pub hostname: String,
    pub old_verdict: Verdict,
    pub new_verdict: Verdict,
    /// The node's error in each report, when the two differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorChange>,
    pub rules: Vec<RuleChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorChange {
    pub old: Option<String>,
    pub new: Option<String>,
}

/// A rule whose status changed; `old` or `new` is `None` when the rule is in one report only.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleChange {
    pub rule: String,
    pub old: Option<RuleOutcome>,
    pub new: Option<RuleOutcome>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleOutcome {
    pub status: Status,
    pub observed: String,
}

impl From<&Finding> for RuleOutcome {
    fn from(finding: &Finding) -> Self {
        RuleOutcome {
            status: finding.status,
            observed: finding.observed.clone(),
        }
    }
}

/// Compares `old` with `new`, matching nodes by hostname.
pub fn diff(old: &ScanReport, new: &ScanReport) -> ReportDiff {
    let find = |report: &ScanReport, hostname: &str| -> Option<NodeReport> {
        report.nodes.iter().find(|node| node.hostname == hostname).cloned()
    };
    let verdict_of = |node: &NodeReport| NodeVerdict {
        hostname: node.hostname.clone(),
        verdict: node.verdict,
    };

    let added = new
        .nodes
        .iter()
        .filter(|node| find(old, &node.hostname).is_none())
        .map(verdict_of)
        .collect();
    let removed = old
        .nodes
        .iter()
        .filter(|node| find(new, &node.hostname).is_none())
        .map(verdict_of)
        .collect();
    let changed = new
        .nodes
        .iter()
        .filter_map(|node| diff_node(&find(old, &node.hostname)?, node))
        .collect();

    ReportDiff {
        added,
        removed,
        changed,
        rack: diff_findings(&old.rack, &new.rack),
    }
}

fn diff_node(old: &NodeReport, new: &NodeReport) -> Option<NodeDiff> {
    let rules = diff_findings(&old.findings, &new.findings);
    let error = (old.error != new.error).then(|| ErrorChange {
        old: old.error.clone(),
        new: new.error.clone(),
    });
    if rules.is_empty() && error.is_none() && old.verdict == new.verdict {
        return None;
    }
    Some(NodeDiff {
        hostname: new.hostname.clone(),
        old_verdict: old.verdict,
        new_verdict: new.verdict,
        error,
        rules,
    })
}

/// Pairs findings by rule id and, when a rule has several findings, by their order among
/// that rule's findings; lists each pair whose status differs.
fn diff_findings(old: &[Finding], new: &[Finding]) -> Vec<RuleChange> {
    let keyed = |findings: &[Finding]| -> Vec<((String, usize), RuleOutcome)> {
        let mut seen: Vec<&str> = Vec::new();
        findings
            .iter()
            .map(|finding| {
                let occurrence = seen.iter().filter(|rule| **rule == finding.rule).count();
                seen.push(&finding.rule);
                ((finding.rule.clone(), occurrence), RuleOutcome::from(finding))
            })
            .collect()
    };
    let old = keyed(old);
    let new = keyed(new);
    let lookup = |list: &[((String, usize), RuleOutcome)], key: &(String, usize)| {
        list.iter()
            .find(|(other, _)| other == key)
            .map(|(_, outcome)| outcome.clone())
    };

    let mut changes = Vec::new();
    for (key, outcome) in &new {
        let before = lookup(&old, key);
        if before.as_ref().map(|before| before.status) != Some(outcome.status) {
            changes.push(RuleChange {
                rule: key.0.clone(),
                old: before,
                new: Some(outcome.clone()),
            });
        }
    }
    for (key, outcome) in &old {
        if lookup(&new, key).is_none() {
            changes.push(RuleChange {
                rule: key.0.clone(),
                old: Some(outcome.clone()),
                new: None,
            });
        }
    }
    changes
}

/// Writes the differences in `format`: JSON, or one line per change for a terminal.
pub fn write(diff: &ReportDiff, format: DiffFormat, out: &mut dyn Write) -> io::Result<()> {
    match format {
        DiffFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, diff)?;
            writeln!(out)
        }
        DiffFormat::Table => write_text(diff, out),
    }
}

fn write_text(diff: &ReportDiff, out: &mut dyn Write) -> io::Result<()> {
    if diff.is_empty() {
        return writeln!(out, "no changes");
    }
    for node in &diff.added {
        writeln!(out, "+ {}: added, verdict {}", node.hostname, node.verdict)?;
    }
    for node in &diff.removed {
        writeln!(out, "- {}: removed, verdict was {}", node.hostname, node.verdict)?;
    }
    for node in &diff.changed {
        if node.old_verdict == node.new_verdict {
            writeln!(out, "~ {}: verdict {}", node.hostname, node.new_verdict)?;
        } else {
            writeln!(
                out,
                "~ {}: verdict {} -> {}",
                node.hostname, node.old_verdict, node.new_verdict
            )?;
        }
        if let Some(error) = &node.error {
            writeln!(
                out,
                "    error: {} -> {}",
                error.old.as_deref().unwrap_or("none"),
                error.new.as_deref().unwrap_or("none")
            )?;
        }
        write_rules(&node.rules, out)?;
    }
    if !diff.rack.is_empty() {
        writeln!(out, "~ rack")?;
        write_rules(&diff.rack, out)?;
    }
    Ok(())
}

fn write_rules(rules: &[RuleChange], out: &mut dyn Write) -> io::Result<()> {
    let show = |outcome: &Option<RuleOutcome>| match outcome {
        Some(outcome) => format!("{} ({})", outcome.status.as_str(), outcome.observed),
        None => "absent".to_string(),
    };
    for rule in rules {
        writeln!(out, "    {}: {} -> {}", rule.rule, show(&rule.old), show(&rule.new))?;
    }
    Ok(())
}
