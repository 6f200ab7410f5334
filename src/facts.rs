//! The normalized model of one node as its BMC reported it.
//!
//! Facts never judge: they record what Redfish returned, each part tagged with the URI it was
//! read from, so that the policy can cite evidence and a capture can be re-judged offline.
//! A property the BMC omitted stays `None`; it is never replaced by zero or `false`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Everything collected from one node's BMC.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NodeFacts {
    pub system: SystemInfo,
    pub cpus: Vec<Cpu>,
    pub gpus: Vec<Gpu>,
    pub dimms: Vec<Dimm>,
    pub drives: Vec<Drive>,
    /// URIs of drive bays the BMC lists as empty (Drive with Status/State Absent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub empty_bays: Vec<String>,
    pub volumes: Vec<Volume>,
    pub power: Power,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bios: Option<Bios>,
    pub managers: Vec<Manager>,
    pub firmware: Vec<Firmware>,
    pub network_ports: Vec<NetworkPort>,
    /// Resources that could not be read; rules that needed them report `unknown`.
    pub problems: Vec<Problem>,
}

/// The host ComputerSystem.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SystemInfo {
    pub uri: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub power_state: Option<String>,
    /// `BootProgress/LastState`: how far the host got in its last boot, such as
    /// `SystemHardwareInitializationComplete` once POST has finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_progress: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bios_version: Option<String>,
    /// Other ComputerSystem members the BMC lists (HGX baseboards, blade siblings).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_systems: Vec<String>,
}

/// A host CPU socket (Processor with ProcessorType CPU).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Cpu {
    pub uri: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// TotalEnabledCores when present, else TotalCores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cores: Option<u32>,
    /// True when `cores` is TotalEnabledCores, false when it is TotalCores.
    #[serde(default)]
    pub cores_from_enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads: Option<u32>,
    /// MaxSpeedMHz as reported; vendors fill it with numbers other than the boost clock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_speed_mhz: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
}

/// One physical GPU, merged from every place the BMC shows it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Gpu {
    /// The URI the GPU was first found at.
    pub uri: String,
    pub id: String,
    /// Every other URI that describes the same GPU (PCIe device, function, chassis).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also_seen_at: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// PCI IDs as the BMC wrote them ("0x10de", "0x10DE", "4318"); parsing happens in the policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subsystem_vendor_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subsystem_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firmware_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pcie: Option<PcieLink>,
}

/// A PCIe link as reported in PCIeInterface or SystemInterface/PCIe.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PcieLink {
    pub uri: String,
    /// PCIeType the link trained at ("Gen4").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pcie_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lanes_in_use: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_pcie_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_lanes: Option<u32>,
}

/// A memory module (Memory resource); absent slots are not collected.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Dimm {
    pub uri: String,
    pub id: String,
    /// DeviceLocator, else Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locator: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity_mib: Option<u64>,
    /// MemoryDeviceType ("DDR5").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_module_type: Option<String>,
    /// ErrorCorrection ("MultiBitECC", "NoECC", …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_correction: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bus_width_bits: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_width_bits: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
}

/// A physical drive, found under Storage, SimpleStorage or a chassis.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Drive {
    pub uri: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// Protocol ("NVMe", "SATA", "SAS").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// MediaType ("SSD", "HDD").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
}

/// A logical volume of a storage controller.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Volume {
    pub uri: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// RAIDType ("RAID1"); older services report only VolumeType.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raid_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity_bytes: Option<u64>,
    /// URIs of the member drives (Links/Drives).
    #[serde(default)]
    pub drives: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
}

/// Power supplies and their redundancy.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Power {
    pub supplies: Vec<PowerSupply>,
    pub redundancy: Vec<PowerRedundancy>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PowerSupply {
    pub uri: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Identifies a supply that both `Power` and `PowerSubsystem` list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity_watts: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firmware_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
}

/// A redundancy group: PowerSubsystem's PowerSupplyRedundancy or Power's Redundancy.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PowerRedundancy {
    pub uri: String,
    /// RedundancyType (PowerSubsystem) or Mode (Power): "Failover", "N+m", "Sparing", …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// MinNumNeeded (Power) or MinNeededInGroup (PowerSubsystem).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_needed: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
}

/// BIOS attributes, current and pending.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Bios {
    pub uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribute_registry: Option<String>,
    pub attributes: BTreeMap<String, Value>,
    /// The @Redfish.Settings SettingsObject, when the BMC exposes one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending: Option<BTreeMap<String, Value>>,
    /// The attribute registry the BMC serves for these attributes, when found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_uri: Option<String>,
    /// Registry entries whose name or help mentions the IOMMU (VT-d, AMD-Vi, DMAR), kept so
    /// that an unknown platform's IOMMU switch can still be found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub registry_iommu: Vec<RegistryAttribute>,
}

/// One attribute of a BIOS attribute registry.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RegistryAttribute {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Allowed values: (ValueName, ValueDisplayName).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<(String, Option<String>)>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Manager {
    pub uri: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firmware_version: Option<String>,
}

/// A FirmwareInventory member.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Firmware {
    pub uri: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A NIC port (Port or NetworkPort).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NetworkPort {
    pub uri: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_status: Option<String>,
    /// CurrentSpeedGbps (Port) or CurrentLinkSpeedMbps (NetworkPort), in Mbit/s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speed_mbps: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mac_addresses: Vec<String>,
}

/// Start of a problem's message when the resource was read, but only after repairing it
/// (a byte-order mark, raw control characters): the BMC is at fault, the data is complete.
pub const DEFECT_PREFIX: &str = "BMC defect: ";

/// A resource the collector could not read, with the cause.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Problem {
    pub uri: String,
    pub message: String,
}
