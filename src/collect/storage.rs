//! Drives and volumes.
//!
//! Drives are listed by the host's Storage resources (their `Drives` links), by SimpleStorage
//! (inline `Devices`, without URIs of their own) and by chassis `Drives` collections. One drive
//! often appears in several of these, so drives are de-duplicated by URI and serial number, and
//! SimpleStorage devices count only when no other source lists them.

use std::collections::HashSet;

use futures::future;
use serde_json::Value;

use super::json;
use super::walk::{Resource, Walker, last_segment};
use crate::facts::{Drive, Volume};
use crate::redfish::Fetch;

/// Collects the drives and volumes of the host and of every chassis.
pub async fn collect<F: Fetch>(
    walker: &Walker<'_, F>,
    host: &Value,
    chassis: &[Resource],
) -> (Vec<Drive>, Vec<String>, Vec<Volume>) {
    // Each Storage's drives are read next: one level below its members.
    let (storages, simple_storages) = future::join(
        walker.linked_members_deep(host, "/Storage", 1),
        walker.linked_members(host, "/SimpleStorage"),
    )
    .await;

    let storage_drive_links: Vec<String> = storages
        .iter()
        .flat_map(|(_, storage)| json::links(storage, "/Drives"))
        .collect();
    let chassis_drive_lists = future::join_all(chassis.iter().map(|(_, doc)| walker.linked_members(doc, "/Drives")));
    let volume_lists = future::join_all(
        storages
            .iter()
            .map(|(_, storage)| walker.linked_members(storage, "/Volumes")),
    );
    let (storage_drives, chassis_drives, volume_lists) =
        future::join3(walker.get_all(&storage_drive_links), chassis_drive_lists, volume_lists).await;

    let mut drives: Vec<Drive> = storage_drives.iter().map(|(uri, doc)| drive(uri, doc)).collect();
    drives.extend(chassis_drives.iter().flatten().map(|(uri, doc)| drive(uri, doc)));
    let mut empty_bays: Vec<String> = drives
        .iter()
        .filter(|d| is_empty_bay(d))
        .map(|d| d.uri.clone())
        .collect();
    empty_bays.sort();
    empty_bays.dedup();
    let mut drives = deduplicate(drives.into_iter().filter(is_installed).collect());
    let devices = simple_storages
        .iter()
        .flat_map(|(uri, doc)| simple_storage_drives(uri, doc))
        .filter(is_installed);
    let new_devices = unmatched_devices(&drives, devices.collect());
    drives.extend(new_devices);

    let volumes = volume_lists
        .iter()
        .flatten()
        .map(|(uri, doc)| volume(uri, doc))
        .collect();
    (drives, empty_bays, volumes)
}

/// True for a bay the BMC lists with State Absent: a slot free for another drive.
fn is_empty_bay(drive: &Drive) -> bool {
    drive
        .state
        .as_deref()
        .is_some_and(|state| state.eq_ignore_ascii_case("Absent"))
        && !is_backplane(drive)
}

/// False for an empty bay, the BMC's virtual media and a backplane.
fn is_installed(drive: &Drive) -> bool {
    let absent = drive
        .state
        .as_deref()
        .is_some_and(|state| state.eq_ignore_ascii_case("Absent"));
    !absent && !is_virtual_media(drive) && !is_backplane(drive)
}

/// True for a drive backplane, which Dell iDRAC9 lists among the SimpleStorage devices
/// (`PCIe SSD Backplane 1`).
fn is_backplane(drive: &Drive) -> bool {
    [&drive.name, &drive.model]
        .into_iter()
        .flatten()
        .any(|text| text.to_ascii_lowercase().contains("backplane"))
}

/// Keeps the SimpleStorage devices that are not already known as drives.
///
/// SimpleStorage repeats drives without serial numbers on Supermicro X13 (`Systems/1/SimpleStorage/1`
/// lists the eight NVMe drives of the backplane chassis again), so a device without a serial
/// is matched one-to-one against a known drive of the same model.
fn unmatched_devices(known: &[Drive], devices: Vec<Drive>) -> Vec<Drive> {
    let mut matched = vec![false; known.len()];
    let same_model = |a: &Drive, b: &Drive| {
        a.model
            .as_ref()
            .zip(b.model.as_ref())
            .is_some_and(|(x, y)| x.eq_ignore_ascii_case(y))
    };
    let mut kept = Vec::new();
    for device in devices {
        let partner = match &device.serial_number {
            Some(serial) => known
                .iter()
                .position(|drive| drive.serial_number.as_ref() == Some(serial)),
            None => (0..known.len()).find(|&index| !matched[index] && same_model(&known[index], &device)),
        };
        match partner {
            Some(index) => matched[index] = true,
            None => kept.push(device),
        }
    }
    deduplicate(kept)
}

/// True for the BMC's virtual media, which AMI firmware (NVIDIA DGX H100) lists among the
/// SimpleStorage devices as `Virtual Cdrom Device` and `Virtual HDisk Device`.
fn is_virtual_media(drive: &Drive) -> bool {
    [&drive.name, &drive.model]
        .into_iter()
        .flatten()
        .any(|text| text.to_ascii_lowercase().starts_with("virtual "))
}

fn drive(uri: &str, doc: &Value) -> Drive {
    Drive {
        uri: uri.to_string(),
        id: json::text(doc, "/Id").unwrap_or_else(|| last_segment(uri).to_string()),
        name: json::text(doc, "/Name"),
        model: json::text(doc, "/Model"),
        serial_number: json::serial(doc),
        protocol: json::text(doc, "/Protocol"),
        media_type: json::text(doc, "/MediaType"),
        capacity_bytes: json::unsigned(doc, "/CapacityBytes"),
        state: json::state(doc),
        health: json::health(doc),
    }
}

/// Reads the inline `Devices` of a SimpleStorage resource, naming each
/// `<simple storage URI>#/Devices/<n>` because devices have no URI of their own.
fn simple_storage_drives(uri: &str, doc: &Value) -> Vec<Drive> {
    let devices = doc
        .get("Devices")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    devices
        .iter()
        .enumerate()
        .map(|(index, device)| Drive {
            uri: format!("{uri}#/Devices/{index}"),
            id: index.to_string(),
            ..drive(uri, device)
        })
        .collect()
}

/// Drops drives already seen at the same URI or with the same serial number, keeping the first.
fn deduplicate(drives: Vec<Drive>) -> Vec<Drive> {
    let mut uris = HashSet::new();
    let mut serials = HashSet::new();
    drives
        .into_iter()
        .filter(|drive| {
            let new_uri = uris.insert(drive.uri.clone());
            let new_serial = drive
                .serial_number
                .as_ref()
                .is_none_or(|serial| serials.insert(serial.clone()));
            new_uri && new_serial
        })
        .collect()
}

fn volume(uri: &str, doc: &Value) -> Volume {
    Volume {
        uri: uri.to_string(),
        id: json::text(doc, "/Id").unwrap_or_else(|| last_segment(uri).to_string()),
        name: json::text(doc, "/Name"),
        raid_type: json::text(doc, "/RAIDType"),
        volume_type: json::text(doc, "/VolumeType"),
        capacity_bytes: json::unsigned(doc, "/CapacityBytes"),
        drives: json::links(doc, "/Links/Drives")
            .iter()
            .filter_map(|d| super::walk::normalize(d))
            .collect(),
        state: json::state(doc),
        health: json::health(doc),
    }
}
