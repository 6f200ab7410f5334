//! GPUs, found wherever the BMC shows them and counted once each.
//!
//! A GPU can appear as a Processor with `ProcessorType` GPU (on the host or on an HGX
//! baseboard), as a PCIe device with an NVIDIA display or accelerator function, and as a GPU
//! chassis (`HGX_GPU_SXM_1`, `HGX_GPU_0`). Each sighting becomes a [`Sighting`]; sightings that
//! link to each other or share a serial number are merged into one [`Gpu`].

use std::collections::HashMap;

use futures::future;
use serde_json::Value;

use super::json;
use super::walk::{Resource, Walker, last_segment};
use crate::facts::{Gpu, PcieLink};
use crate::redfish::Fetch;

const NVIDIA_VENDOR_ID: u32 = 0x10de;

/// NVSwitch device ids (Hopper, Ampere): NVIDIA functions that are not GPUs.
const NVSWITCH_DEVICE_IDS: &[u32] = &[0x22a3, 0x1af1];

/// Model prefixes of NVIDIA data-center GPUs, for functions whose PCI ids are zero.
const NVIDIA_MODEL_PREFIXES: &[&str] = &[
    "NVIDIA", "TESLA", "A100", "A40", "A30", "A10", "A16", "H100", "H200", "H800", "B100", "B200", "B300", "GB200",
    "GB300", "L40", "L20", "L4 ", "V100", "RTX",
];

/// One place a GPU was seen, before merging.
struct Sighting {
    gpu: Gpu,
    /// Normalized URIs this sighting is, or links to, that identify the same GPU elsewhere.
    keys: Vec<String>,
    /// Source of the sighting: a system URI, `chassis`, or the PCIe device URI. A serial
    /// repeated within one origin is not trusted.
    origin: String,
    from_pcie: bool,
}

/// Collects the GPUs of the host from every source and merges them.
pub async fn collect<F: Fetch>(
    walker: &Walker<'_, F>,
    host: &Resource,
    processor_groups: &[(&Resource, &[Resource])],
    chassis: &[Resource],
) -> Vec<Gpu> {
    let processor_sightings = future::join_all(
        processor_groups
            .iter()
            .flat_map(|(system, processors)| processors.iter().map(move |p| (system, p)))
            .filter(|(_, (_, doc))| super::processors::is_gpu(doc) && !json::is_absent(doc))
            .map(|(system, processor)| processor_sighting(walker, &system.0, processor)),
    )
    .await;

    let mut sightings = processor_sightings;
    sightings.extend(chassis.iter().filter(|c| is_gpu_chassis(c)).map(chassis_sighting));
    sightings.extend(pcie_sightings(walker, host, chassis).await);
    merge(sightings)
}

async fn processor_sighting<F: Fetch>(walker: &Walker<'_, F>, system_uri: &str, (uri, doc): &Resource) -> Sighting {
    let mut keys = vec![uri.clone()];
    keys.extend(json::links(doc, "/Links/PCIeDevice"));
    keys.extend(json::links(doc, "/Links/PCIeDevices"));
    keys.extend(
        json::links(doc, "/Links/PCIeFunctions")
            .iter()
            .map(|function| device_of_function(function)),
    );
    keys.extend(
        json::links(doc, "/Links/Chassis")
            .into_iter()
            .filter(|c| is_gpu_chassis_id(last_segment(c))),
    );

    let memory_mib = match json::unsigned(doc, "/MemorySummary/TotalMemorySizeMiB") {
        Some(total) => Some(total),
        None => linked_memory_mib(walker, doc).await,
    };
    let gpu = Gpu {
        uri: uri.clone(),
        id: json::text(doc, "/Id").unwrap_or_else(|| last_segment(uri).to_string()),
        manufacturer: json::text(doc, "/Manufacturer"),
        model: json::text(doc, "/Model"),
        memory_mib,
        serial_number: json::serial(doc),
        firmware_version: json::text(doc, "/FirmwareVersion"),
        state: json::state(doc),
        health: json::health(doc),
        pcie: pcie_link(uri, doc, "/SystemInterface/PCIe"),
        ..Gpu::default()
    };
    let mut keys = normalized(keys);
    keys.push(name_key(&gpu.id));
    Sighting {
        gpu,
        keys,
        origin: system_uri.to_string(),
        from_pcie: false,
    }
}

/// Sums `CapacityMiB` of the Memory a GPU Processor links to (HGX HMC GPU HBM).
async fn linked_memory_mib<F: Fetch>(walker: &Walker<'_, F>, doc: &Value) -> Option<u64> {
    let uris = json::links(doc, "/Links/Memory");
    if uris.is_empty() {
        return None;
    }
    let sizes: Vec<Option<u64>> = walker
        .get_all(&uris)
        .await
        .iter()
        .map(|(_, memory)| json::unsigned(memory, "/CapacityMiB"))
        .collect();
    sizes.iter().all(Option::is_some).then(|| sizes.iter().flatten().sum())
}

/// True for a chassis of one GPU: `HGX_GPU_SXM_1`, `GPU_SXM_1`, `HGX_GPU_0` or `GPU_0`, but
/// not the security chips next to it (`HGX_ERoT_GPU_SXM_1`, `HGX_IRoT_GPU_0`).
fn is_gpu_chassis((uri, doc): &Resource) -> bool {
    let id = json::text(doc, "/Id").unwrap_or_else(|| last_segment(uri).to_string());
    is_gpu_chassis_id(&id) && !json::is_absent(doc)
}

fn is_gpu_chassis_id(id: &str) -> bool {
    let upper = id.to_ascii_uppercase();
    let rest = upper.strip_prefix("HGX_").unwrap_or(&upper);
    let Some(rest) = rest.strip_prefix("GPU_") else {
        return false;
    };
    let index = rest.strip_prefix("SXM_").unwrap_or(rest);
    !index.is_empty() && index.chars().all(|c| c.is_ascii_digit())
}

/// Builds a key that joins a GPU Processor to its chassis by name. NVIDIA GB200 firmware links
/// neither way, but names the processor `GPU_0` and its chassis `HGX_GPU_0`.
fn name_key(name: &str) -> String {
    format!("gpu-name:{}", name.to_ascii_uppercase())
}

fn chassis_sighting((uri, doc): &Resource) -> Sighting {
    let mut keys = vec![uri.clone()];
    keys.extend(json::links(doc, "/Links/Processors"));
    keys.extend(json::links(doc, "/Links/PCIeDevices"));
    let gpu = Gpu {
        uri: uri.clone(),
        id: json::text(doc, "/Id").unwrap_or_else(|| last_segment(uri).to_string()),
        manufacturer: json::text(doc, "/Manufacturer"),
        model: json::text(doc, "/Model"),
        serial_number: json::serial(doc),
        state: json::state(doc),
        health: json::health(doc),
        ..Gpu::default()
    };
    let mut keys = normalized(keys);
    keys.push(name_key(gpu.id.strip_prefix("HGX_").unwrap_or(&gpu.id)));
    Sighting {
        gpu,
        keys,
        origin: "chassis".to_string(),
        from_pcie: false,
    }
}

/// Reads the PCIe devices of the host system and of every chassis and keeps the GPUs.
async fn pcie_sightings<F: Fetch>(walker: &Walker<'_, F>, host: &Resource, chassis: &[Resource]) -> Vec<Sighting> {
    let holders = std::iter::once(host).chain(chassis.iter());
    // Each device's PCIeFunctions collection is read next: its members are two levels below.
    let device_lists =
        future::join_all(holders.map(|(_, doc)| walker.linked_members_deep(doc, "/PCIeDevices", 2))).await;

    let mut seen = std::collections::HashSet::new();
    let devices: Vec<Resource> = device_lists
        .into_iter()
        .flatten()
        .filter(|(uri, _)| seen.insert(uri.clone()))
        .collect();
    let sightings = future::join_all(devices.iter().map(|device| pcie_sighting(walker, device))).await;
    sightings.into_iter().flatten().collect()
}

async fn pcie_sighting<F: Fetch>(walker: &Walker<'_, F>, device: &Resource) -> Option<Sighting> {
    let (uri, doc) = device;
    if json::is_absent(doc) {
        return None;
    }
    let functions = walker.linked_members(doc, "/PCIeFunctions").await;
    let (function_uri, function) = functions.iter().find(|(_, function)| is_gpu_function(doc, function))?;

    let mut keys = vec![uri.clone(), function_uri.clone()];
    keys.extend(json::links(doc, "/Links/Processors"));
    if let Some(parent) = parent_chassis(uri).filter(|c| is_gpu_chassis_id(last_segment(c))) {
        keys.push(parent);
    }
    let gpu = Gpu {
        uri: uri.clone(),
        id: json::text(doc, "/Id").unwrap_or_else(|| last_segment(uri).to_string()),
        also_seen_at: vec![function_uri.clone()],
        manufacturer: json::text(doc, "/Manufacturer"),
        model: json::text(doc, "/Model"),
        vendor_id: nonzero_id(function, "/VendorId"),
        device_id: nonzero_id(function, "/DeviceId"),
        subsystem_vendor_id: nonzero_id(function, "/SubsystemVendorId"),
        subsystem_id: nonzero_id(function, "/SubsystemId"),
        serial_number: json::serial(doc),
        firmware_version: json::text(doc, "/FirmwareVersion"),
        state: json::state(doc),
        health: json::health(doc),
        pcie: pcie_link(uri, doc, "/PCIeInterface"),
        ..Gpu::default()
    };
    Some(Sighting {
        gpu,
        keys: normalized(keys),
        origin: uri.clone(),
        from_pcie: true,
    })
}

/// Keeps a PCI id as the BMC wrote it, unless it is zero: Supermicro X13 HGX firmware writes
/// `0x0000` for the vendor and device of every GPU function, which identifies nothing.
fn nonzero_id(function: &Value, pointer: &str) -> Option<String> {
    json::pci_id(function, pointer).filter(|id| *id != 0)?;
    json::text(function, pointer)
}

/// True for a GPU function: NVIDIA vendor 0x10de (or zero ids with an NVIDIA model or OEM
/// vendor, as Supermicro sends) or AMD 0x1002, a display or processing-accelerator class, and
/// not an NVSwitch or bridge.
fn is_gpu_function(device: &Value, function: &Value) -> bool {
    let vendor = json::pci_id(function, "/VendorId");
    let device_id = json::pci_id(function, "/DeviceId");
    let class = function_class(function);
    if class == Some(FunctionClass::Other) {
        return false;
    }
    match vendor {
        Some(NVIDIA_VENDOR_ID) => !device_id.is_some_and(|id| NVSWITCH_DEVICE_IDS.contains(&id)),
        Some(0) => class == Some(FunctionClass::Gpu) && looks_nvidia(device, function),
        // An AMD accelerator in a GPU server is a GPU the NVIDIA rule must see and reject. The
        // BMC's own VGA (ASPEED 0x1a03, Matrox 0x102b on HPE) is not kept.
        Some(AMD_VENDOR_ID) => class == Some(FunctionClass::Gpu),
        _ => false,
    }
}

/// PCI vendor ID of AMD (formerly ATI) GPUs.
const AMD_VENDOR_ID: u32 = 0x1002;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FunctionClass {
    /// Display controller (base class 0x03) or processing accelerator (0x12).
    Gpu,
    Other,
}

/// Reads the function's class from `DeviceClass`, else from the base class in `ClassCode`.
///
/// Dell writes only the base class (`0x000003`), Lenovo the full code (`0x030200`).
fn function_class(function: &Value) -> Option<FunctionClass> {
    let gpu_or_other = |is_gpu: bool| {
        if is_gpu {
            FunctionClass::Gpu
        } else {
            FunctionClass::Other
        }
    };
    if let Some(class) = json::text(function, "/DeviceClass") {
        return Some(gpu_or_other(
            class == "DisplayController" || class == "ProcessingAccelerators",
        ));
    }
    let code = json::pci_id(function, "/ClassCode")?;
    let base = if code <= 0xff { code } else { code >> 16 };
    Some(gpu_or_other(base == 0x03 || base == 0x12))
}

fn looks_nvidia(device: &Value, function: &Value) -> bool {
    let oem_names_nvidia = [device, function].iter().any(|doc| {
        doc.get("Oem")
            .is_some_and(|oem| oem.to_string().to_ascii_uppercase().contains("NVIDIA"))
    });
    let model_names_nvidia = ["/Manufacturer", "/Model"]
        .iter()
        .filter_map(|p| json::text(device, p))
        .any(|text| {
            let upper = format!("{} ", text.to_ascii_uppercase());
            NVIDIA_MODEL_PREFIXES.iter().any(|prefix| upper.starts_with(prefix))
        });
    oem_names_nvidia || model_names_nvidia
}

fn pcie_link(uri: &str, doc: &Value, pointer: &str) -> Option<PcieLink> {
    let link = json::at(doc, pointer)?;
    let pcie = PcieLink {
        uri: uri.to_string(),
        pcie_type: json::text(link, "/PCIeType"),
        lanes_in_use: json::unsigned32(link, "/LanesInUse"),
        max_pcie_type: json::text(link, "/MaxPCIeType"),
        max_lanes: json::unsigned32(link, "/MaxLanes"),
    };
    let empty = pcie.pcie_type.is_none()
        && pcie.lanes_in_use.is_none()
        && pcie.max_pcie_type.is_none()
        && pcie.max_lanes.is_none();
    (!empty).then_some(pcie)
}

/// `/redfish/v1/Chassis/X/PCIeDevices/D/PCIeFunctions/0` → `/redfish/v1/Chassis/X/PCIeDevices/D`.
fn device_of_function(function: &str) -> String {
    match function.find("/PCIeFunctions") {
        Some(at) => function[..at].to_string(),
        None => function.to_string(),
    }
}

/// `/redfish/v1/Chassis/X/PCIeDevices/D` → `/redfish/v1/Chassis/X`.
fn parent_chassis(device: &str) -> Option<String> {
    device
        .starts_with("/redfish/v1/Chassis/")
        .then(|| device.find("/PCIeDevices").map(|at| device[..at].to_string()))?
}

fn normalized(uris: Vec<String>) -> Vec<String> {
    uris.iter().filter_map(|uri| super::walk::normalize(uri)).collect()
}

/// Merges sightings that share a key URI or a trusted serial number, in first-seen order.
fn merge(sightings: Vec<Sighting>) -> Vec<Gpu> {
    let mut sets = DisjointSets::new(sightings.len());
    let trusted = trusted_serials(&sightings);
    let mut owner_of_key: HashMap<String, usize> = HashMap::new();
    for (index, sighting) in sightings.iter().enumerate() {
        let serial = sighting
            .gpu
            .serial_number
            .iter()
            .filter(|s| trusted.contains(&(s.as_str(), sighting.origin.as_str())));
        let serial_keys = serial.map(|s| format!("serial:{s}"));
        for key in sighting.keys.iter().cloned().chain(serial_keys) {
            match owner_of_key.get(&key) {
                Some(&owner) => sets.union(owner, index),
                None => {
                    owner_of_key.insert(key, index);
                }
            }
        }
    }

    let mut groups: Vec<Vec<Sighting>> = Vec::new();
    let mut group_of_root: HashMap<usize, usize> = HashMap::new();
    for (index, sighting) in sightings.into_iter().enumerate() {
        let root = sets.find(index);
        let group = *group_of_root.entry(root).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[group].push(sighting);
    }
    let groups = pair_anonymous_pcie(groups);
    groups.into_iter().map(merge_group).collect()
}

/// Serial numbers that occur once within their origin. NVIDIA GB300 firmware repeats the
/// first GPU's serial on every GPU under `System_0`, so such repeats identify nothing.
fn trusted_serials(sightings: &[Sighting]) -> std::collections::HashSet<(&str, &str)> {
    let mut counts: HashMap<(&str, &str), usize> = HashMap::new();
    for sighting in sightings {
        if let Some(serial) = &sighting.gpu.serial_number {
            *counts.entry((serial.as_str(), sighting.origin.as_str())).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .filter(|(_, count)| *count == 1)
        .map(|(key, _)| key)
        .collect()
}

/// Pairs GPUs seen only as anonymous PCIe devices (no serial, no model, no link) with GPUs
/// known from a Processor or chassis that have the same device id and no partner yet.
///
/// NVIDIA DGX H100 lists each HGX GPU a second time under `Chassis/DGX/PCIeDevices/<bus>`
/// with nothing but PCI ids and the link. NOTE: the pairing is by order, so the bus address
/// may land on a sibling GPU of the same model; the count is right.
fn pair_anonymous_pcie(groups: Vec<Vec<Sighting>>) -> Vec<Vec<Sighting>> {
    let is_anonymous = |group: &Vec<Sighting>| {
        group
            .iter()
            .all(|s| s.from_pcie && s.gpu.serial_number.is_none() && s.gpu.model.is_none())
    };
    let (anonymous, mut named): (Vec<_>, Vec<_>) = groups.into_iter().partition(is_anonymous);
    let mut paired = vec![false; named.len()];

    let mut unpaired = Vec::new();
    for group in anonymous {
        let device_id = group_device_ids(&group).first().copied();
        let partner = named.iter().enumerate().position(|(index, candidate)| {
            let known_elsewhere = candidate.iter().any(|s| !s.from_pcie);
            let candidate_ids = group_device_ids(candidate);
            let same_device = candidate_ids.is_empty() || device_id.is_none_or(|id| candidate_ids.contains(&id));
            !paired[index] && known_elsewhere && same_device
        });
        match partner {
            Some(index) => {
                paired[index] = true;
                named[index].extend(group);
            }
            None => unpaired.push(group),
        }
    }
    named.extend(unpaired);
    named
}

fn group_device_ids(group: &[Sighting]) -> Vec<u32> {
    group
        .iter()
        .filter_map(|s| s.gpu.device_id.as_deref())
        .filter_map(|id| json::pci_id(&Value::from(id), ""))
        .collect()
}

fn merge_group(group: Vec<Sighting>) -> Gpu {
    let pcie = group
        .iter()
        .find(|s| s.from_pcie && s.gpu.pcie.is_some())
        .and_then(|s| s.gpu.pcie.clone());
    let mut sightings = group.into_iter();
    let mut merged = sightings.next().expect("groups are never empty").gpu;
    for sighting in sightings {
        let other = sighting.gpu;
        merged.also_seen_at.push(other.uri);
        merged.also_seen_at.extend(other.also_seen_at);
        fill(&mut merged.manufacturer, other.manufacturer);
        fill(&mut merged.model, other.model);
        fill(&mut merged.vendor_id, other.vendor_id);
        fill(&mut merged.device_id, other.device_id);
        fill(&mut merged.subsystem_vendor_id, other.subsystem_vendor_id);
        fill(&mut merged.subsystem_id, other.subsystem_id);
        fill(&mut merged.memory_mib, other.memory_mib);
        fill(&mut merged.serial_number, other.serial_number);
        fill(&mut merged.firmware_version, other.firmware_version);
        fill(&mut merged.state, other.state);
        fill(&mut merged.health, other.health);
        fill(&mut merged.pcie, other.pcie);
    }
    if pcie.is_some() {
        merged.pcie = pcie;
    }
    merged.also_seen_at.retain(|uri| uri != &merged.uri);
    merged.also_seen_at.dedup();
    merged
}

fn fill<T>(slot: &mut Option<T>, value: Option<T>) {
    if slot.is_none() {
        *slot = value;
    }
}

/// Union-find over sighting indices.
struct DisjointSets {
    parent: Vec<usize>,
}

impl DisjointSets {
    fn new(size: usize) -> Self {
        DisjointSets {
            parent: (0..size).collect(),
        }
    }

    fn find(&mut self, index: usize) -> usize {
        let mut root = index;
        while self.parent[root] != root {
            root = self.parent[root];
        }
        self.parent[index] = root;
        root
    }

    /// Joins two sets, keeping the smaller index as root so the first sighting leads.
    fn union(&mut self, a: usize, b: usize) {
        let (root_a, root_b) = (self.find(a), self.find(b));
        let (low, high) = (root_a.min(root_b), root_a.max(root_b));
        self.parent[high] = low;
    }
}
