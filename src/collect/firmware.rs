//! Manager firmware and the firmware inventory.

use serde_json::Value;

use super::json;
use super::walk::{Walker, last_segment};
use crate::facts::{Firmware, Manager};
use crate::redfish::Fetch;

/// Reads every manager's model and firmware version.
pub async fn managers<F: Fetch>(walker: &Walker<'_, F>, root: &Value) -> Vec<Manager> {
    let members = walker.linked_members(root, "/Managers").await;
    members
        .iter()
        .map(|(uri, doc)| Manager {
            uri: uri.clone(),
            id: json::text(doc, "/Id").unwrap_or_else(|| last_segment(uri).to_string()),
            model: json::text(doc, "/Model"),
            firmware_version: json::text(doc, "/FirmwareVersion"),
        })
        .collect()
}

/// Reads the name and version of every `UpdateService/FirmwareInventory` member, or of every
/// `SoftwareInventory` member when the service has no FirmwareInventory.
pub async fn inventory<F: Fetch>(walker: &Walker<'_, F>, root: &Value) -> Vec<Firmware> {
    let Some(update_service_uri) = json::link(root, "/UpdateService") else {
        return Vec::new();
    };
    let Some(update_service) = walker.get(&update_service_uri).await else {
        return Vec::new();
    };
    // The Intel S2600 BMC lists its BMC, BIOS and ME versions only under SoftwareInventory.
    let inventory = if update_service.get("FirmwareInventory").is_some() {
        "/FirmwareInventory"
    } else {
        "/SoftwareInventory"
    };
    let members = walker.linked_members(&update_service, inventory).await;
    members
        .iter()
        .map(|(uri, doc)| Firmware {
            uri: uri.clone(),
            id: json::text(doc, "/Id").unwrap_or_else(|| last_segment(uri).to_string()),
            name: json::text(doc, "/Name"),
            version: json::text(doc, "/Version"),
        })
        .collect()
}
