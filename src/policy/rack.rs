//! Rack-wide rules: what no single node can show, judged over every node of a scan.
//!
//! Key types: [`RackMember`], one node as a rack rule reads it; [`RackRuleInfo`], a rule over
//! all members. Each finding names the nodes it counted in its evidence. A scan usually covers
//! one rack of a deployment, so the built-in profile reports these as warnings.

use super::rules::{Outcome, storage_data_drives};
use super::{Evidence, Finding, Profile, Status};
use crate::facts::NodeFacts;
use crate::inventory::Role;

/// One scanned node, as rack rules see it.
#[derive(Debug, Clone, Copy)]
pub struct RackMember<'a> {
    pub hostname: &'a str,
    pub role: Role,
    /// `None` when the node could not be read.
    pub facts: Option<&'a NodeFacts>,
}

/// A rule over all nodes of a scan.
pub struct RackRuleInfo {
    pub id: &'static str,
    pub description: &'static str,
    pub check: fn(&[RackMember], &Profile) -> Outcome,
}

/// Every rack-wide rule, in report order.
pub static RACK_RULES: &[RackRuleInfo] = &[
    RackRuleInfo {
        id: "deployment-power",
        description: "GPU servers' power capacity, one PSU lost on each, reaches the minimum deployment size",
        check: check_power,
    },
    RackRuleInfo {
        id: "storage-server-count",
        description: "the storage cluster has the minimum number of servers",
        check: check_storage_count,
    },
    RackRuleInfo {
        id: "storage-raw-capacity",
        description: "the storage servers' data disks add up to the minimum raw capacity",
        check: check_storage_capacity,
    },
    RackRuleInfo {
        id: "storage-even-distribution",
        description: "every storage server has the same number of data disks of one size",
        check: check_storage_distribution,
    },
];

/// Judges the scan as a whole with every enabled rack rule of the profile.
pub fn judge_rack(members: &[RackMember], profile: &Profile) -> Vec<Finding> {
    profile
        .rules
        .iter()
        .filter(|config| config.enabled)
        .filter_map(|config| {
            RACK_RULES
                .iter()
                .find(|rule| rule.id == config.id)
                .map(|rule| (rule, config))
        })
        .map(|(rule, config)| {
            let outcome = (rule.check)(members, profile);
            outcome.into_rack_finding(rule.id, config)
        })
        .collect()
}

fn names(members: &[&RackMember]) -> String {
    members.iter().map(|m| m.hostname).collect::<Vec<_>>().join(", ")
}

fn node_evidence(member: &RackMember, property: &str, value: impl Into<serde_json::Value>) -> Evidence {
    let uri = member.facts.map(|facts| facts.system.uri.as_str()).unwrap_or("");
    Evidence::new(&format!("{}:{uri}", member.hostname), property, value)
}

/// Power a GPU server keeps with its largest PSU lost, in watts, or `None` when a PSU does
/// not report its capacity.
fn capacity_one_lost(facts: &NodeFacts) -> Option<f64> {
    let installed: Vec<Option<f64>> = facts
        .power
        .supplies
        .iter()
        .filter(|psu| psu.state.as_deref() != Some("Absent"))
        .map(|psu| psu.capacity_watts)
        .collect();
    let watts: Vec<f64> = installed.into_iter().collect::<Option<Vec<f64>>>()?;
    if watts.is_empty() {
        return None;
    }
    let largest = watts.iter().copied().fold(0.0, f64::max);
    Some(watts.iter().sum::<f64>() - largest)
}

fn check_power(members: &[RackMember], profile: &Profile) -> Outcome {
    let minimum_kw = profile.deployment.min_gpu_power_kw;
    let expected =
        format!(">= {minimum_kw} kW over GPU servers, each counted as its PSU capacity with the largest PSU lost");
    let gpu_nodes: Vec<&RackMember> = members.iter().filter(|m| m.role == Role::GpuCompute).collect();
    if gpu_nodes.is_empty() {
        return Outcome::new(Status::NotApplicable, expected, "no GPU server in this scan");
    }

    let mut total = 0.0;
    let mut missing = Vec::new();
    let mut evidence = Vec::new();
    for member in &gpu_nodes {
        match member.facts.and_then(capacity_one_lost) {
            Some(watts) => {
                total += watts;
                evidence.push(node_evidence(member, "PowerCapacityWatts with one PSU lost", watts));
            }
            None => missing.push(*member),
        }
    }
    let observed = format!(
        "{:.1} kW over {} of {} GPU servers",
        total / 1000.0,
        gpu_nodes.len() - missing.len(),
        gpu_nodes.len()
    );
    if total / 1000.0 >= f64::from(minimum_kw) {
        return Outcome::new(Status::Pass, expected, observed).with_evidence(evidence);
    }
    if !missing.is_empty() {
        let observed = format!("{observed}; no PSU capacity from {}", names(&missing));
        return Outcome::new(Status::Unknown, expected, observed).with_evidence(evidence);
    }
    Outcome::new(Status::Fail, expected, observed).with_evidence(evidence)
}

fn storage_nodes<'a>(members: &'a [RackMember<'a>]) -> Vec<&'a RackMember<'a>> {
    members.iter().filter(|m| m.role == Role::Storage).collect()
}

fn check_storage_count(members: &[RackMember], profile: &Profile) -> Outcome {
    let minimum = profile.deployment.min_storage_servers;
    let expected = format!(">= {minimum} storage servers");
    let storage = storage_nodes(members);
    if storage.is_empty() {
        return Outcome::new(Status::NotApplicable, expected, "no storage server in this scan");
    }
    let evidence = storage.iter().map(|m| node_evidence(m, "role", "storage")).collect();
    let observed = format!("{} storage servers: {}", storage.len(), names(&storage));
    let status = if storage.len() as u32 >= minimum {
        Status::Pass
    } else {
        Status::Fail
    };
    Outcome::new(status, expected, observed).with_evidence(evidence)
}

/// Sizes of each storage server's data disks, or the servers whose disks are not all known.
fn data_disk_sizes<'a>(
    storage: &[&'a RackMember<'a>],
    profile: &Profile,
) -> (Vec<(&'a RackMember<'a>, Vec<u64>)>, Vec<&'a RackMember<'a>>) {
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for member in storage {
        let sizes = member.facts.map(|facts| {
            storage_data_drives(facts, profile)
                .iter()
                .map(|d| d.capacity_bytes)
                .collect::<Option<Vec<u64>>>()
        });
        match sizes {
            Some(Some(sizes)) if !sizes.is_empty() => known.push((*member, sizes)),
            _ => unknown.push(*member),
        }
    }
    (known, unknown)
}

fn check_storage_capacity(members: &[RackMember], profile: &Profile) -> Outcome {
    let minimum_tb = profile.deployment.min_storage_raw_tb;
    let expected = format!(">= {minimum_tb} TB raw on the storage servers' data disks");
    let storage = storage_nodes(members);
    if storage.is_empty() {
        return Outcome::new(Status::NotApplicable, expected, "no storage server in this scan");
    }
    let (known, unknown) = data_disk_sizes(&storage, profile);
    let total: u64 = known.iter().flat_map(|(_, sizes)| sizes).sum();
    let evidence = known
        .iter()
        .map(|(m, sizes)| node_evidence(m, "data disk CapacityBytes sum", sizes.iter().sum::<u64>()))
        .collect();
    let observed = format!(
        "{:.1} TB raw over {} of {} storage servers",
        total as f64 / 1e12,
        known.len(),
        storage.len()
    );
    if total >= u64::from(minimum_tb) * 1_000_000_000_000 {
        return Outcome::new(Status::Pass, expected, observed).with_evidence(evidence);
    }
    if !unknown.is_empty() {
        let observed = format!("{observed}; data disks unknown on {}", names(&unknown));
        return Outcome::new(Status::Unknown, expected, observed).with_evidence(evidence);
    }
    Outcome::new(Status::Fail, expected, observed).with_evidence(evidence)
}

fn check_storage_distribution(members: &[RackMember], profile: &Profile) -> Outcome {
    let expected = "the same number of data disks of one size (within 1 %) on every storage server";
    let storage = storage_nodes(members);
    if storage.len() < 2 {
        return Outcome::new(
            Status::NotApplicable,
            expected,
            format!("{} storage servers in this scan", storage.len()),
        );
    }
    let (known, unknown) = data_disk_sizes(&storage, profile);
    if !unknown.is_empty() {
        return Outcome::new(
            Status::Unknown,
            expected,
            format!("data disks unknown on {}", names(&unknown)),
        );
    }

    let describe = |sizes: &[u64]| {
        format!(
            "{} x {:.2} TB",
            sizes.len(),
            sizes.iter().copied().max().unwrap_or(0) as f64 / 1e12
        )
    };
    let evidence = known
        .iter()
        .map(|(m, sizes)| node_evidence(m, "data disks", describe(sizes)))
        .collect();
    let all_sizes: Vec<u64> = known.iter().flat_map(|(_, sizes)| sizes.iter().copied()).collect();
    let smallest = all_sizes.iter().copied().min().unwrap_or(0) as f64;
    let largest = all_sizes.iter().copied().max().unwrap_or(0) as f64;
    let counts_equal = known.iter().all(|(_, sizes)| sizes.len() == known[0].1.len());
    let sizes_close = largest <= smallest * 1.01;
    let observed = known
        .iter()
        .map(|(m, sizes)| format!("{}: {}", m.hostname, describe(sizes)))
        .collect::<Vec<_>>()
        .join("; ");
    let status = if counts_equal && sizes_close {
        Status::Pass
    } else {
        Status::Fail
    };
    Outcome::new(status, expected, observed).with_evidence(evidence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{Drive, Power, PowerSupply, Volume};

    fn gpu_server(psus: &[Option<f64>]) -> NodeFacts {
        NodeFacts {
            power: Power {
                supplies: psus
                    .iter()
                    .map(|watts| PowerSupply {
                        capacity_watts: *watts,
                        state: Some("Enabled".into()),
                        ..PowerSupply::default()
                    })
                    .collect(),
                redundancy: Vec::new(),
            },
            ..NodeFacts::default()
        }
    }

    fn storage_server(disks: usize, bytes: u64) -> NodeFacts {
        let mut drives: Vec<Drive> = (0..2)
            .map(|n| Drive {
                uri: format!("/boot/{n}"),
                capacity_bytes: Some(960_000_000_000),
                ..Drive::default()
            })
            .collect();
        drives.extend((0..disks).map(|n| Drive {
            uri: format!("/data/{n}"),
            capacity_bytes: Some(bytes),
            ..Drive::default()
        }));
        let boot = Volume {
            raid_type: Some("RAID1".into()),
            drives: vec!["/boot/0".into(), "/boot/1".into()],
            capacity_bytes: Some(960_000_000_000),
            ..Volume::default()
        };
        NodeFacts {
            drives,
            volumes: vec![boot],
            ..NodeFacts::default()
        }
    }

    fn run(id: &str, members: &[RackMember]) -> Outcome {
        let rule = RACK_RULES.iter().find(|rule| rule.id == id).unwrap();
        (rule.check)(members, &Profile::builtin())
    }

    fn member<'a>(hostname: &'a str, role: Role, facts: &'a NodeFacts) -> RackMember<'a> {
        RackMember {
            hostname,
            role,
            facts: Some(facts),
        }
    }

    #[test]
    fn power_counts_capacity_with_one_psu_lost() {
        let server = gpu_server(&[Some(3000.0); 6]);
        let members: Vec<RackMember> = (0..7).map(|_| member("gpu", Role::GpuCompute, &server)).collect();
        assert_eq!(run("deployment-power", &members).status, Status::Pass);
        assert_eq!(run("deployment-power", &members[..6]).status, Status::Fail);
    }

    #[test]
    fn power_without_capacity_is_unknown() {
        let server = gpu_server(&[Some(3000.0), None]);
        assert_eq!(
            run("deployment-power", &[member("gpu", Role::GpuCompute, &server)]).status,
            Status::Unknown
        );
    }

    #[test]
    fn storage_count_and_capacity() {
        let server = storage_server(8, 7_680_000_000_000);
        let four: Vec<RackMember> = (0..4).map(|_| member("stor", Role::Storage, &server)).collect();
        assert_eq!(run("storage-server-count", &four).status, Status::Pass);
        assert_eq!(run("storage-server-count", &four[..3]).status, Status::Fail);
        assert_eq!(run("storage-raw-capacity", &four).status, Status::Pass);
        assert_eq!(run("storage-raw-capacity", &four[..3]).status, Status::Fail);
    }

    #[test]
    fn unreadable_storage_server_leaves_capacity_unknown() {
        let server = storage_server(8, 7_680_000_000_000);
        let mut members: Vec<RackMember> = (0..2).map(|_| member("stor", Role::Storage, &server)).collect();
        members.push(RackMember {
            hostname: "down",
            role: Role::Storage,
            facts: None,
        });
        assert_eq!(run("storage-raw-capacity", &members).status, Status::Unknown);
        assert_eq!(run("storage-even-distribution", &members).status, Status::Unknown);
    }

    #[test]
    fn no_storage_is_not_applicable() {
        let server = gpu_server(&[Some(3000.0); 2]);
        let members = [member("gpu", Role::GpuCompute, &server)];
        assert_eq!(run("storage-server-count", &members).status, Status::NotApplicable);
    }

    #[test]
    fn uneven_storage_fails() {
        let eight = storage_server(8, 7_680_000_000_000);
        let six = storage_server(6, 7_680_000_000_000);
        let even = [member("a", Role::Storage, &eight), member("b", Role::Storage, &eight)];
        let uneven = [member("a", Role::Storage, &eight), member("b", Role::Storage, &six)];
        assert_eq!(run("storage-even-distribution", &even).status, Status::Pass);
        assert_eq!(run("storage-even-distribution", &uneven).status, Status::Fail);
    }

    #[test]
    fn rack_rule_ids_do_not_clash_with_node_rules() {
        for rule in RACK_RULES {
            assert!(
                !super::super::RULES.iter().any(|node_rule| node_rule.id == rule.id),
                "{}",
                rule.id
            );
        }
    }
}
