//! Power rules: the PSUs are redundant (N+1 or better) and every installed PSU is healthy.

use super::{Outcome, RuleInfo, Subject, is_absent, is_unhealthy};
use crate::facts::{PowerRedundancy, PowerSupply};
use crate::policy::{Evidence, Profile, Status};

pub const REDUNDANCY: RuleInfo = RuleInfo {
    id: "psu-redundant",
    description: "power supplies are redundant and every installed one is healthy",
    areas: &["/Power"],
    check: check_redundancy,
};

/// Names a PSU by its Name ("Power Supply 2") when it has a real one, else by its Id.
/// Gigabyte's AMI firmware sends the literal string "nil" as the Name of every PSU.
fn label(psu: &PowerSupply) -> String {
    let placeholder = |name: &str| matches!(name.trim().to_ascii_lowercase().as_str(), "" | "nil" | "null" | "n/a");
    match &psu.name {
        Some(name) if !placeholder(name) => name.clone(),
        _ => format!("PSU {}", psu.id),
    }
}

/// True when a PSU is installed but not delivering power.
fn is_failed(psu: &PowerSupply) -> bool {
    let state_off = matches!(
        psu.state.as_deref(),
        Some("Disabled" | "UnavailableOffline" | "Deferring" | "Quiesced")
    );
    state_off || is_unhealthy(psu.health.as_deref())
}

fn psu_evidence(psu: &PowerSupply) -> Vec<Evidence> {
    vec![
        Evidence::optional(&psu.uri, "Status/Health", &psu.health),
        Evidence::optional(&psu.uri, "Status/State", &psu.state),
    ]
}

fn group_evidence(group: &PowerRedundancy) -> Vec<Evidence> {
    vec![
        Evidence::optional(&group.uri, "Status/Health", &group.health),
        Evidence::optional(&group.uri, "Status/State", &group.state),
        Evidence::optional(&group.uri, "Mode", &group.mode),
        Evidence::optional(&group.uri, "MinNumNeeded", &group.min_needed),
    ]
}

/// Points at the resource whose redundancy property is missing: `Power` for a supply listed
/// as `…/Power#/PowerSupplies/0`, `PowerSubsystem` for `…/PowerSubsystem/PowerSupplies/PSU1`.
fn missing_redundancy(psu_uri: &str) -> Evidence {
    if let Some((power, _)) = psu_uri.split_once('#') {
        return Evidence::new(power.trim_end_matches('/'), "Redundancy", serde_json::Value::Null);
    }
    match psu_uri.split_once("/PowerSupplies/") {
        Some((subsystem, _)) => Evidence::new(subsystem, "PowerSupplyRedundancy", serde_json::Value::Null),
        None => Evidence::new(psu_uri, "Redundancy", serde_json::Value::Null),
    }
}

/// Explains why a redundancy group does not provide redundancy, or returns `None`.
fn group_problem(group: &PowerRedundancy, healthy: usize) -> Option<String> {
    if matches!(group.mode.as_deref(), Some("NotRedundant")) {
        return Some("redundancy mode NotRedundant".to_string());
    }
    if is_unhealthy(group.health.as_deref()) {
        return Some(format!("redundancy health {}", group.health.as_deref().unwrap_or("")));
    }
    if matches!(group.state.as_deref(), Some("Disabled" | "UnavailableOffline")) {
        return Some(format!("redundancy state {}", group.state.as_deref().unwrap_or("")));
    }
    // DMTF defines MinNumNeeded and MinNeededInGroup as the members needed for the group to be
    // redundant, and HPE iLO 5 reports 2 of 2 that way; Supermicro reports 1 of 8, the count
    // needed to run. Either way, fewer healthy members than that number is not redundant.
    match group.min_needed {
        Some(needed) if healthy < needed as usize => {
            Some(format!("{healthy} healthy PSUs where the group needs {needed}"))
        }
        _ => None,
    }
}

fn check_redundancy(subject: &Subject, _profile: &Profile) -> Outcome {
    let facts = subject.facts;
    let expected = "a redundant PSU group (N+1 or better) with every installed PSU healthy";
    let installed: Vec<&PowerSupply> = facts
        .power
        .supplies
        .iter()
        .filter(|psu| !is_absent(psu.state.as_deref()))
        .collect();
    let groups = &facts.power.redundancy;
    if installed.is_empty() && groups.is_empty() {
        return Outcome::new(Status::Unknown, expected, "no PSU reported by the BMC");
    }

    let failed: Vec<&PowerSupply> = installed.iter().copied().filter(|psu| is_failed(psu)).collect();
    let healthy = installed.len() - failed.len();
    let mut evidence: Vec<Evidence> = installed.iter().flat_map(|psu| psu_evidence(psu)).collect();
    evidence.extend(groups.iter().flat_map(group_evidence));
    let mut failure_evidence: Vec<Evidence> = failed.iter().flat_map(|psu| psu_evidence(psu)).collect();
    failure_evidence.extend(groups.iter().flat_map(group_evidence));

    let mut problems: Vec<String> = failed
        .iter()
        .map(|psu| {
            let state = [psu.state.as_deref(), psu.health.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>();
            format!("{} failed ({})", label(psu), state.join(", "))
        })
        .collect();
    problems.extend(groups.iter().filter_map(|group| group_problem(group, healthy)));
    if healthy < 2 && failed.is_empty() {
        problems.push(format!("{healthy} healthy PSU, no redundancy possible"));
    }
    if !problems.is_empty() {
        let parts = failed.iter().map(|psu| label(psu)).collect();
        return Outcome::new(Status::Fail, expected, problems.join("; "))
            .with_parts(parts)
            .with_evidence(failure_evidence);
    }

    let without_status: Vec<String> = installed
        .iter()
        .filter(|psu| psu.state.is_none() && psu.health.is_none())
        .map(|psu| label(psu))
        .collect();
    if !without_status.is_empty() {
        let observed = format!("no Status for {}", without_status.join(", "));
        return Outcome::new(Status::Unknown, expected, observed)
            .with_parts(without_status)
            .with_evidence(evidence);
    }
    if groups.is_empty() {
        let observed = format!("{healthy} healthy PSUs, but the BMC reports no redundancy group");
        let mut missing: Vec<Evidence> = installed.iter().map(|psu| missing_redundancy(&psu.uri)).collect();
        missing.dedup();
        return Outcome::new(Status::Unknown, expected, observed).with_evidence(missing);
    }

    let modes: Vec<&str> = groups.iter().filter_map(|group| group.mode.as_deref()).collect();
    let capacities: Option<Vec<f64>> = installed.iter().map(|psu| psu.capacity_watts).collect();
    let spare_capacity = capacities
        .filter(|watts| !watts.is_empty())
        .map(|watts| {
            let largest = watts.iter().copied().fold(0.0, f64::max);
            format!(
                ", {:.0} W left with the largest PSU lost",
                watts.iter().sum::<f64>() - largest
            )
        })
        .unwrap_or_default();
    let observed = format!(
        "{healthy} healthy PSUs, redundancy {}{spare_capacity}",
        if modes.is_empty() {
            "OK".to_string()
        } else {
            modes.join(", ")
        }
    );
    Outcome::new(Status::Pass, expected, observed).with_evidence(evidence)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{run, status};
    use crate::facts::{NodeFacts, Power, PowerRedundancy, PowerSupply};
    use crate::policy::Status;

    fn psu(id: &str, state: Option<&str>, health: Option<&str>) -> PowerSupply {
        PowerSupply {
            uri: format!("/redfish/v1/Chassis/1/PowerSubsystem/PowerSupplies/{id}"),
            id: id.into(),
            state: state.map(Into::into),
            health: health.map(Into::into),
            ..PowerSupply::default()
        }
    }

    fn group(mode: &str, min_needed: u32, health: &str) -> PowerRedundancy {
        PowerRedundancy {
            uri: "/redfish/v1/Chassis/1/PowerSubsystem".into(),
            mode: Some(mode.into()),
            min_needed: Some(min_needed),
            state: Some("Enabled".into()),
            health: Some(health.into()),
            ..PowerRedundancy::default()
        }
    }

    fn node(supplies: Vec<PowerSupply>, redundancy: Vec<PowerRedundancy>) -> NodeFacts {
        NodeFacts {
            power: Power { supplies, redundancy },
            ..NodeFacts::default()
        }
    }

    fn healthy(id: &str) -> PowerSupply {
        psu(id, Some("Enabled"), Some("OK"))
    }

    #[test]
    fn n_plus_one_passes() {
        let facts = node(vec![healthy("0"), healthy("1")], vec![group("Failover", 1, "OK")]);
        assert_eq!(status("psu-redundant", &facts), Status::Pass);
    }

    #[test]
    fn capacity_with_one_psu_lost_is_reported() {
        let mut supplies = vec![healthy("0"), healthy("1"), healthy("2")];
        for psu in &mut supplies {
            psu.capacity_watts = Some(2800.0);
        }
        let outcome = run("psu-redundant", &node(supplies, vec![group("N+m", 2, "OK")]));
        assert_eq!(outcome.status, Status::Pass);
        assert!(
            outcome.observed.contains("5600 W left with the largest PSU lost"),
            "{}",
            outcome.observed
        );
    }

    #[test]
    fn failed_psu_fails_and_is_named() {
        let facts = node(
            vec![healthy("0"), psu("1", Some("Enabled"), Some("Critical"))],
            vec![group("Failover", 1, "Warning")],
        );
        let outcome = run("psu-redundant", &facts);
        assert_eq!(outcome.status, Status::Fail);
        assert_eq!(outcome.parts, vec!["PSU 1".to_string()]);
    }

    #[test]
    fn fewer_healthy_than_needed_fails() {
        let facts = node(
            vec![healthy("0"), healthy("1"), psu("2", Some("Absent"), None)],
            vec![group("N+m", 3, "OK")],
        );
        assert_eq!(status("psu-redundant", &facts), Status::Fail);
    }

    #[test]
    fn two_of_two_needed_passes() {
        let facts = node(vec![healthy("0"), healthy("1")], vec![group("Failover", 2, "OK")]);
        assert_eq!(status("psu-redundant", &facts), Status::Pass);
    }

    #[test]
    fn single_psu_fails() {
        let facts = node(vec![healthy("0")], vec![group("Failover", 1, "OK")]);
        assert_eq!(status("psu-redundant", &facts), Status::Fail);
    }

    #[test]
    fn psu_without_status_is_unknown() {
        let facts = node(
            vec![healthy("0"), psu("1", None, None)],
            vec![group("Failover", 1, "OK")],
        );
        assert_eq!(status("psu-redundant", &facts), Status::Unknown);
    }

    #[test]
    fn no_redundancy_group_is_unknown() {
        assert_eq!(
            status("psu-redundant", &node(vec![healthy("0"), healthy("1")], vec![])),
            Status::Unknown
        );
    }

    #[test]
    fn absent_bay_is_not_a_failure() {
        let facts = node(
            vec![healthy("0"), healthy("1"), psu("2", Some("Absent"), None)],
            vec![group("N+m", 1, "OK")],
        );
        assert_eq!(status("psu-redundant", &facts), Status::Pass);
    }
}
