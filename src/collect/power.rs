//! Power supplies and their redundancy, from `PowerSubsystem` and the older `Power` resource.
//!
//! Dell iDRAC9 and Lenovo XCC serve both for the same supplies, so a chassis's supplies come
//! from PowerSubsystem when it lists any, else from Power. Only chassis that contain the host count,
//! unless none of them reports a supply: DGX H100 lists 25 chassis, and a power shelf or a GPU
//! module chassis belongs to the rack, not to the host.

use std::collections::{HashMap, HashSet};

use futures::future;
use serde_json::Value;

use super::json;
use super::walk::{Resource, Walker, last_segment, normalize};
use crate::facts::{Power, PowerRedundancy, PowerSupply};
use crate::redfish::Fetch;

/// The supplies and redundancy groups of one chassis.
#[derive(Default)]
struct ChassisPower {
    supplies: Vec<PowerSupply>,
    redundancy: Vec<PowerRedundancy>,
}

/// Collects the power facts of the chassis that contain the host, else of every chassis.
pub async fn collect<F: Fetch>(walker: &Walker<'_, F>, host: &Value, chassis: &[Resource]) -> Power {
    let scope = host_chassis(host, chassis);
    let (in_scope, others): (Vec<&Resource>, Vec<&Resource>) = chassis.iter().partition(|(uri, _)| scope.contains(uri));

    let mut per_chassis = future::join_all(in_scope.iter().map(|c| chassis_power(walker, c))).await;
    if per_chassis.iter().all(|power| power.supplies.is_empty()) {
        per_chassis.extend(future::join_all(others.iter().map(|c| chassis_power(walker, c))).await);
    }

    let mut power = Power::default();
    let mut serials = HashSet::new();
    for chassis_power in per_chassis {
        let new_supplies = chassis_power
            .supplies
            .into_iter()
            .filter(|supply| supply.serial_number.clone().is_none_or(|serial| serials.insert(serial)));
        power.supplies.extend(new_supplies);
        power.redundancy.extend(chassis_power.redundancy);
    }
    power
}

/// Returns the URIs of the host's chassis (`Links/Chassis`) and of every chassis they contain,
/// transitively (`Links/Contains`).
fn host_chassis(host: &Value, chassis: &[Resource]) -> HashSet<String> {
    let by_uri: HashMap<&str, &Value> = chassis.iter().map(|(uri, doc)| (uri.as_str(), doc.as_ref())).collect();
    let mut scope = HashSet::new();
    let mut pending: Vec<String> = json::links(host, "/Links/Chassis")
        .iter()
        .filter_map(|c| normalize(c))
        .collect();
    while let Some(uri) = pending.pop() {
        if !scope.insert(uri.clone()) {
            continue;
        }
        if let Some(doc) = by_uri.get(uri.as_str()) {
            pending.extend(json::links(doc, "/Links/Contains").iter().filter_map(|c| normalize(c)));
        }
    }
    scope
}

async fn chassis_power<F: Fetch>(walker: &Walker<'_, F>, (_, doc): &Resource) -> ChassisPower {
    let mut subsystem = match json::link(doc, "/PowerSubsystem") {
        Some(uri) => power_subsystem(walker, &uri).await,
        None => ChassisPower::default(),
    };

    // The older Power resource is read only for what PowerSubsystem leaves out: supplies,
    // their capacity or the redundancy group. Most current BMCs list all three, and Power is
    // the largest resource of many chassis.
    let complete = !subsystem.supplies.is_empty()
        && !subsystem.redundancy.is_empty()
        && subsystem.supplies.iter().all(|supply| supply.capacity_watts.is_some());
    if complete {
        return subsystem;
    }
    let legacy = match json::link(doc, "/Power") {
        Some(uri) => legacy_power(walker, &uri).await,
        None => ChassisPower::default(),
    };

    // PowerSubsystem replaces Power for the same supplies, and their names and serials need
    // not agree (the DMTF sample names a bay "Power Supply Bay 1" in one, "PSU 1" in the
    // other), so when PowerSubsystem lists supplies, Power's list is not consulted.
    if subsystem.supplies.is_empty() {
        subsystem.supplies = legacy.supplies;
    } else {
        fill_capacity(&mut subsystem.supplies, &legacy.supplies);
    }
    if subsystem.redundancy.is_empty() {
        subsystem.redundancy = legacy.redundancy;
    }
    subsystem
}

/// Takes PowerCapacityWatts from Power where PowerSubsystem leaves it out: by serial number,
/// else by position when both list the same number of supplies.
fn fill_capacity(supplies: &mut [PowerSupply], legacy: &[PowerSupply]) {
    let same_count = supplies.len() == legacy.len();
    for (index, supply) in supplies.iter_mut().enumerate() {
        if supply.capacity_watts.is_some() {
            continue;
        }
        let by_serial = supply
            .serial_number
            .as_ref()
            .and_then(|serial| legacy.iter().find(|other| other.serial_number.as_ref() == Some(serial)));
        let by_position = same_count.then(|| &legacy[index]);
        supply.capacity_watts = by_serial.or(by_position).and_then(|other| other.capacity_watts);
    }
}

async fn power_subsystem<F: Fetch>(walker: &Walker<'_, F>, uri: &str) -> ChassisPower {
    let Some(doc) = walker.get(uri).await else {
        return ChassisPower::default();
    };
    let supplies = walker.linked_members(&doc, "/PowerSupplies").await;
    let groups = doc
        .get("PowerSupplyRedundancy")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    ChassisPower {
        supplies: supplies
            .iter()
            .map(|(uri, supply)| power_supply(uri.clone(), last_segment(uri).to_string(), supply))
            .collect(),
        redundancy: groups
            .iter()
            .enumerate()
            .map(|(index, group)| PowerRedundancy {
                uri: format!("{}#/PowerSupplyRedundancy/{index}", normalize(uri).unwrap_or_default()),
                mode: json::text(group, "/RedundancyType"),
                min_needed: json::unsigned32(group, "/MinNeededInGroup"),
                member_count: group_size(group, "/RedundancyGroup"),
                state: json::state(group),
                health: json::health(group),
            })
            .collect(),
    }
}

async fn legacy_power<F: Fetch>(walker: &Walker<'_, F>, uri: &str) -> ChassisPower {
    let Some(doc) = walker.get(uri).await else {
        return ChassisPower::default();
    };
    let base = normalize(uri).unwrap_or_default();
    let entries = |key: &str| doc.get(key).and_then(Value::as_array).cloned().unwrap_or_default();

    let supplies = entries("PowerSupplies")
        .iter()
        .enumerate()
        .filter(|(_, supply)| !json::is_absent(supply))
        .map(|(index, supply)| {
            let uri = json::text(supply, "/@odata.id").unwrap_or_else(|| format!("{base}#/PowerSupplies/{index}"));
            let id = json::text(supply, "/MemberId").unwrap_or_else(|| index.to_string());
            power_supply(uri, id, supply)
        })
        .collect();
    let redundancy = entries("Redundancy")
        .iter()
        .enumerate()
        .map(|(index, group)| PowerRedundancy {
            uri: json::text(group, "/@odata.id").unwrap_or_else(|| format!("{base}#/Redundancy/{index}")),
            mode: json::text(group, "/Mode"),
            min_needed: json::unsigned32(group, "/MinNumNeeded"),
            member_count: group_size(group, "/RedundancySet"),
            state: json::state(group),
            health: json::health(group),
        })
        .collect();
    ChassisPower { supplies, redundancy }
}

fn group_size(group: &Value, pointer: &str) -> Option<u32> {
    let members = json::at(group, pointer)?.as_array()?;
    u32::try_from(members.len()).ok()
}

fn power_supply(uri: String, id: String, doc: &Value) -> PowerSupply {
    PowerSupply {
        id: json::text(doc, "/Id").unwrap_or(id),
        uri,
        name: json::text(doc, "/Name"),
        model: json::text(doc, "/Model"),
        serial_number: json::serial(doc),
        capacity_watts: json::float(doc, "/PowerCapacityWatts"),
        firmware_version: json::text(doc, "/FirmwareVersion"),
        state: json::state(doc),
        health: json::health(doc),
    }
}
