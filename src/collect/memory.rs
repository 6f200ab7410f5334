//! Host memory modules.

use serde_json::Value;

use super::json;
use super::walk::{Resource, last_segment};
use crate::facts::Dimm;

/// Builds the DIMM facts from the host's Memory members, leaving out empty slots.
pub fn dimms(memory: &[Resource]) -> Vec<Dimm> {
    memory
        .iter()
        .filter(|(_, doc)| is_installed(doc) && !is_gpu_memory(doc))
        .map(|(uri, doc)| dimm(uri, doc))
        .collect()
}

/// False for an empty slot: `State` Absent, or (HPE iLO 5) `CapacityMiB` 0 with no state.
fn is_installed(doc: &Value) -> bool {
    if json::is_absent(doc) {
        return false;
    }
    let zero_capacity = json::unsigned(doc, "/CapacityMiB") == Some(0);
    !(zero_capacity && json::state(doc).is_none())
}

/// True for GPU HBM that NVIDIA Grace systems list among the host's Memory (`MemoryType`
/// `HBM`, or an HBM `MemoryDeviceType`).
fn is_gpu_memory(doc: &Value) -> bool {
    let hbm =
        |pointer| json::text(doc, pointer).is_some_and(|kind: String| kind.to_ascii_uppercase().starts_with("HBM"));
    hbm("/MemoryType") || hbm("/MemoryDeviceType")
}

fn dimm(uri: &str, doc: &Value) -> Dimm {
    Dimm {
        uri: uri.to_string(),
        id: json::text(doc, "/Id").unwrap_or_else(|| last_segment(uri).to_string()),
        locator: json::text(doc, "/DeviceLocator")
            .or_else(|| json::text(doc, "/Location/PartLocation/ServiceLabel"))
            .or_else(|| json::text(doc, "/Name")),
        capacity_mib: json::unsigned(doc, "/CapacityMiB"),
        device_type: json::text(doc, "/MemoryDeviceType"),
        base_module_type: json::text(doc, "/BaseModuleType"),
        error_correction: json::text(doc, "/ErrorCorrection"),
        bus_width_bits: json::unsigned32(doc, "/BusWidthBits"),
        data_width_bits: json::unsigned32(doc, "/DataWidthBits"),
        state: json::state(doc),
        health: json::health(doc),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn resource(id: &str, doc: Value) -> Resource {
        (format!("/redfish/v1/Systems/1/Memory/{id}"), Arc::new(doc))
    }

    #[test]
    fn dimms_skip_empty_slots() {
        let memory = vec![
            resource(
                "1",
                json!({"Id": "1", "CapacityMiB": "32768", "MemoryDeviceType": "DDR5", "Status": {"State": "Enabled"}}),
            ),
            resource("2", json!({"Id": "2", "CapacityMiB": 0, "Status": {"State": "Absent"}})),
            resource("3", json!({"Id": "3", "CapacityMiB": 0})),
            resource(
                "4",
                json!({"Id": "4", "CapacityMiB": 81920, "MemoryType": "HBM", "Status": {"State": "Enabled"}}),
            ),
        ];
        let dimms = dimms(&memory);
        assert_eq!(dimms.len(), 1);
        assert_eq!(dimms[0].capacity_mib, Some(32768));
    }

    #[test]
    fn missing_error_correction_stays_none() {
        let memory = vec![resource(
            "1",
            json!({"Id": "1", "CapacityMiB": 65536, "Status": {"State": "Enabled"}}),
        )];
        let dimms = dimms(&memory);
        assert_eq!(dimms[0].error_correction, None);
        assert_eq!(dimms[0].device_type, None);
    }
}
