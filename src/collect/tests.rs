//! Collector tests on small inline trees served by an in-memory [`Fetch`].

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Value, json};

use super::{CollectError, collect};
use crate::facts::NodeFacts;
use crate::redfish::{Fetch, RedfishError};

/// A BMC made of a map from URI to body; every other URI returns 404. Counts GETs per URI.
#[derive(Default)]
struct MapFetch {
    resources: HashMap<String, Value>,
    requests: Mutex<HashMap<String, usize>>,
}

impl MapFetch {
    fn put(&mut self, uri: &str, body: Value) -> &mut Self {
        self.resources.insert(uri.to_string(), body);
        self
    }

    fn max_requests_per_uri(&self) -> usize {
        self.requests.lock().unwrap().values().copied().max().unwrap_or(0)
    }
}

impl Fetch for MapFetch {
    async fn get(&self, path: &str) -> Result<Value, RedfishError> {
        *self.requests.lock().unwrap().entry(path.to_string()).or_default() += 1;
        self.resources.get(path).cloned().ok_or_else(|| RedfishError::NotFound {
            bmc: "test".to_string(),
            uri: path.to_string(),
        })
    }
}

fn link(uri: &str) -> Value {
    json!({ "@odata.id": uri })
}

fn collection(uri: &str, members: &[&str]) -> Value {
    json!({ "@odata.id": uri, "Members": members.iter().map(|m| link(m)).collect::<Vec<_>>() })
}

fn system(id: &str) -> Value {
    let uri = format!("/redfish/v1/Systems/{id}");
    json!({
        "@odata.type": "#ComputerSystem.v1_20_0.ComputerSystem",
        "@odata.id": uri,
        "Id": id,
        "Manufacturer": "Contoso",
        "Processors": link(&format!("{uri}/Processors")),
        "Memory": link(&format!("{uri}/Memory")),
        "Links": { "Chassis": [link("/redfish/v1/Chassis/1")] }
    })
}

fn cpu(uri: &str) -> Value {
    json!({ "@odata.id": uri, "Id": "CPU0", "ProcessorType": "CPU", "TotalCores": 32, "Status": { "State": "Enabled" } })
}

/// Builds a BMC with one host `1`: one CPU, one DIMM, one chassis without power resources.
fn single_host() -> MapFetch {
    let mut bmc = MapFetch::default();
    bmc.put(
        "/redfish/v1",
        json!({ "Systems": link("/redfish/v1/Systems"), "Chassis": link("/redfish/v1/Chassis") }),
    )
    .put(
        "/redfish/v1/Systems",
        collection("/redfish/v1/Systems", &["/redfish/v1/Systems/1"]),
    )
    .put("/redfish/v1/Systems/1", system("1"))
    .put(
        "/redfish/v1/Systems/1/Processors",
        collection("", &["/redfish/v1/Systems/1/Processors/CPU0"]),
    )
    .put(
        "/redfish/v1/Systems/1/Processors/CPU0",
        cpu("/redfish/v1/Systems/1/Processors/CPU0"),
    )
    .put(
        "/redfish/v1/Systems/1/Memory",
        collection("", &["/redfish/v1/Systems/1/Memory/DIMM0"]),
    )
    .put(
        "/redfish/v1/Systems/1/Memory/DIMM0",
        json!({ "Id": "DIMM0", "CapacityMiB": 65536, "MemoryDeviceType": "DDR5", "Status": { "State": "Enabled" } }),
    )
    .put(
        "/redfish/v1/Chassis",
        collection("/redfish/v1/Chassis", &["/redfish/v1/Chassis/1"]),
    )
    .put(
        "/redfish/v1/Chassis/1",
        json!({ "Id": "1", "@odata.id": "/redfish/v1/Chassis/1" }),
    );
    bmc
}

async fn collect_ok(bmc: &MapFetch, system: Option<&str>) -> NodeFacts {
    let facts = collect(bmc, system).await.expect("collection succeeds");
    assert_eq!(bmc.max_requests_per_uri(), 1, "a URI was requested twice");
    facts
}

/// Adds a chassis PCIe device with one function to `bmc` and links it from chassis 1.
fn add_pcie_device(bmc: &mut MapFetch, devices: &[(&str, Value, Value)]) {
    let chassis_uri = "/redfish/v1/Chassis/1";
    let device_uris: Vec<String> = devices
        .iter()
        .map(|(id, _, _)| format!("{chassis_uri}/PCIeDevices/{id}"))
        .collect();
    let device_refs: Vec<&str> = device_uris.iter().map(String::as_str).collect();
    bmc.put(
        chassis_uri,
        json!({ "Id": "1", "PCIeDevices": link(&format!("{chassis_uri}/PCIeDevices")) }),
    )
    .put(&format!("{chassis_uri}/PCIeDevices"), collection("", &device_refs));
    for ((_, device, function), device_uri) in devices.iter().zip(&device_uris) {
        let functions_uri = format!("{device_uri}/PCIeFunctions");
        let function_uri = format!("{functions_uri}/0");
        let mut device = device.clone();
        device["PCIeFunctions"] = link(&functions_uri);
        bmc.put(device_uri, device)
            .put(&functions_uri, collection("", &[&function_uri]))
            .put(&function_uri, function.clone());
    }
}

#[tokio::test]
async fn single_host_collects_basics() {
    let bmc = single_host();
    let facts = collect_ok(&bmc, None).await;
    assert_eq!(facts.system.id, "1");
    assert_eq!(facts.system.manufacturer.as_deref(), Some("Contoso"));
    assert_eq!(facts.system.model, None);
    assert_eq!(facts.cpus.len(), 1);
    assert_eq!(facts.cpus[0].cores, Some(32));
    assert_eq!(facts.dimms.len(), 1);
    assert_eq!(facts.dimms[0].error_correction, None);
    assert!(facts.problems.is_empty(), "{:?}", facts.problems);
}

#[tokio::test]
async fn pcie_gpu_ids_in_decimal_and_upper_case() {
    let mut bmc = single_host();
    add_pcie_device(
        &mut bmc,
        &[
            (
                "hpe",
                json!({ "Id": "hpe", "SerialNumber": "A1" }),
                json!({ "VendorId": "4318", "DeviceId": "8437", "ClassCode": "3" }),
            ),
            (
                "ami",
                json!({ "Id": "ami", "SerialNumber": "A2" }),
                json!({ "VendorId": "0x10DE", "DeviceId": "0x2330", "ClassCode": "0x030200" }),
            ),
            (
                "nvswitch",
                json!({ "Id": "nvswitch" }),
                json!({ "VendorId": "0x10DE", "DeviceId": "0x22A3", "ClassCode": "0x068000" }),
            ),
            (
                "switch-no-class",
                json!({ "Id": "switch-no-class" }),
                json!({ "VendorId": "0x10de", "DeviceId": "0x1af1" }),
            ),
            (
                "nic",
                json!({ "Id": "nic" }),
                json!({ "VendorId": "5555", "DeviceId": "4123", "DeviceClass": "NetworkController" }),
            ),
        ],
    );
    let facts = collect_ok(&bmc, None).await;
    let ids: Vec<&str> = facts.gpus.iter().map(|gpu| gpu.id.as_str()).collect();
    assert_eq!(ids, ["hpe", "ami"]);
    assert_eq!(facts.gpus[0].vendor_id.as_deref(), Some("4318"));
    assert_eq!(facts.gpus[1].device_id.as_deref(), Some("0x2330"));
}

#[tokio::test]
async fn zero_id_function_counts_by_model() {
    let mut bmc = single_host();
    let gpu = json!({ "Id": "GPU1", "Model": "H100 80GB HBM3", "SerialNumber": "1060488532118",
        "PCIeInterface": { "PCIeType": "Gen5", "LanesInUse": 16, "MaxPCIeType": "Gen5", "MaxLanes": 16 } });
    let ssd = json!({ "Id": "NVMeSSD1", "Model": "MZQL27T6HBLA" });
    add_pcie_device(
        &mut bmc,
        &[
            (
                "GPU1",
                gpu,
                json!({ "VendorId": "0x0000", "DeviceId": "0x0000", "DeviceClass": "DisplayController" }),
            ),
            (
                "NVMeSSD1",
                ssd,
                json!({ "VendorId": "0x0000", "DeviceId": "0x0000", "DeviceClass": "MassStorageController" }),
            ),
        ],
    );
    let facts = collect_ok(&bmc, None).await;
    assert_eq!(facts.gpus.len(), 1);
    let gpu = &facts.gpus[0];
    assert_eq!(gpu.model.as_deref(), Some("H100 80GB HBM3"));
    assert_eq!(gpu.vendor_id, None);
    assert_eq!(gpu.device_id, None);
    assert_eq!(gpu.pcie.as_ref().and_then(|link| link.lanes_in_use), Some(16));
}

#[tokio::test]
async fn processor_gpu_merges_with_linked_pcie_device() {
    let mut bmc = single_host();
    bmc.put(
        "/redfish/v1/Systems/1/Processors",
        collection(
            "",
            &[
                "/redfish/v1/Systems/1/Processors/CPU0",
                "/redfish/v1/Systems/1/Processors/GPU1",
                "/redfish/v1/Systems/1/Processors/GPU2",
            ],
        ),
    )
    .put(
        "/redfish/v1/Systems/1/Processors/GPU1",
        json!({ "Id": "GPU1", "ProcessorType": "GPU", "Model": "NVIDIA H100 PCIe",
            "Links": { "PCIeDevice": link("/redfish/v1/Chassis/1/PCIeDevices/slot_3") } }),
    )
    .put(
        "/redfish/v1/Systems/1/Processors/GPU2",
        json!({ "Id": "GPU2", "ProcessorType": "GPU", "Status": { "State": "Absent" } }),
    );
    add_pcie_device(
        &mut bmc,
        &[(
            "slot_3",
            json!({ "Id": "slot_3" }),
            json!({ "VendorId": "0x10de", "DeviceId": "0x2331", "DeviceClass": "DisplayController" }),
        )],
    );
    let facts = collect_ok(&bmc, None).await;
    assert_eq!(facts.gpus.len(), 1, "{:#?}", facts.gpus);
    let gpu = &facts.gpus[0];
    assert_eq!(gpu.uri, "/redfish/v1/Systems/1/Processors/GPU1");
    assert!(
        gpu.also_seen_at
            .contains(&"/redfish/v1/Chassis/1/PCIeDevices/slot_3".to_string())
    );
    assert_eq!(gpu.model.as_deref(), Some("NVIDIA H100 PCIe"));
    assert_eq!(gpu.device_id.as_deref(), Some("0x2331"));
}

#[tokio::test]
async fn absent_dimm_is_skipped() {
    let mut bmc = single_host();
    bmc.put(
        "/redfish/v1/Systems/1/Memory",
        collection(
            "",
            &[
                "/redfish/v1/Systems/1/Memory/DIMM0",
                "/redfish/v1/Systems/1/Memory/DIMM1",
            ],
        ),
    )
    .put(
        "/redfish/v1/Systems/1/Memory/DIMM1",
        json!({ "Id": "DIMM1", "CapacityMiB": null, "Status": { "State": "Absent" } }),
    );
    let facts = collect_ok(&bmc, None).await;
    let ids: Vec<&str> = facts.dimms.iter().map(|dimm| dimm.id.as_str()).collect();
    assert_eq!(ids, ["DIMM0"]);
}

/// Builds a DGX-like BMC: host `DGX` and `HGX_Baseboard_0` with two GPUs (one an Absent placeholder),
/// an FPGA and GPU HBM, plus the GPU's chassis.
fn host_with_baseboard() -> MapFetch {
    let mut bmc = single_host();
    let board = "/redfish/v1/Systems/HGX_Baseboard_0";
    bmc.put("/redfish/v1/Systems", collection("", &[board, "/redfish/v1/Systems/1"]))
        .put(board, system("HGX_Baseboard_0"))
        .put(&format!("{board}/Processors"), collection("", &[&format!("{board}/Processors/GPU_SXM_1"), &format!("{board}/Processors/GPU_SXM_2"), &format!("{board}/Processors/FPGA_0")]))
        .put(
            &format!("{board}/Processors/GPU_SXM_1"),
            json!({ "Id": "GPU_SXM_1", "ProcessorType": "GPU", "Model": "H100 80GB HBM3", "SerialNumber": "2356466563003",
                "Links": { "Memory": [link(&format!("{board}/Memory/GPU_SXM_1_DRAM_0"))] },
                "SystemInterface": { "PCIe": { "PCIeType": "Gen5", "LanesInUse": 16 } } }),
        )
        .put(&format!("{board}/Processors/GPU_SXM_2"), json!({ "Id": "GPU_SXM_2", "ProcessorType": "GPU", "Status": { "State": "Absent" } }))
        .put(&format!("{board}/Processors/FPGA_0"), json!({ "Id": "FPGA_0", "ProcessorType": "FPGA" }))
        .put(&format!("{board}/Memory"), collection("", &[&format!("{board}/Memory/GPU_SXM_1_DRAM_0")]))
        .put(&format!("{board}/Memory/GPU_SXM_1_DRAM_0"), json!({ "Id": "GPU_SXM_1_DRAM_0", "CapacityMiB": 81559, "Status": { "State": "Enabled" } }))
        .put("/redfish/v1/Chassis", collection("", &["/redfish/v1/Chassis/1", "/redfish/v1/Chassis/HGX_GPU_SXM_1"]))
        .put("/redfish/v1/Chassis/HGX_GPU_SXM_1", json!({ "Id": "HGX_GPU_SXM_1", "SerialNumber": "2356466563003" }));
    bmc
}

#[tokio::test]
async fn baseboard_gpus_attach_to_host() {
    let bmc = host_with_baseboard();
    let facts = collect_ok(&bmc, None).await;
    assert_eq!(facts.system.id, "1");
    assert_eq!(facts.system.other_systems, ["/redfish/v1/Systems/HGX_Baseboard_0"]);
    assert_eq!(facts.gpus.len(), 1, "{:#?}", facts.gpus);
    let gpu = &facts.gpus[0];
    assert_eq!(gpu.id, "GPU_SXM_1");
    assert_eq!(gpu.memory_mib, Some(81559));
    assert_eq!(gpu.also_seen_at, ["/redfish/v1/Chassis/HGX_GPU_SXM_1"]);
    assert_eq!(facts.dimms.len(), 1, "the baseboard's HBM is not host memory");
    assert_eq!(facts.cpus.len(), 1);
}

#[tokio::test]
async fn requested_system_overrides_default() {
    let mut bmc = single_host();
    bmc.put(
        "/redfish/v1/Systems",
        collection("", &["/redfish/v1/Systems/1", "/redfish/v1/Systems/2"]),
    )
    .put("/redfish/v1/Systems/2", system("2"))
    .put(
        "/redfish/v1/Systems/2/Processors",
        collection("", &["/redfish/v1/Systems/2/Processors/CPU0"]),
    )
    .put(
        "/redfish/v1/Systems/2/Processors/CPU0",
        cpu("/redfish/v1/Systems/2/Processors/CPU0"),
    )
    .put("/redfish/v1/Systems/2/Memory", collection("", &[]));
    let facts = collect_ok(&bmc, Some("2")).await;
    assert_eq!(facts.system.id, "2");
    assert_eq!(facts.system.other_systems, ["/redfish/v1/Systems/1"]);
    assert!(facts.dimms.is_empty());

    let default = collect(&bmc, None).await.expect("collection succeeds");
    assert_eq!(default.system.id, "1");
}

#[tokio::test]
async fn unknown_requested_system_lists_members() {
    let bmc = single_host();
    let err = collect(&bmc, Some("Node7")).await.expect_err("Node7 does not exist");
    assert!(matches!(err, CollectError::SystemNotFound { .. }), "{err}");
    assert!(err.to_string().contains("Node7"), "{err}");
    assert!(err.to_string().contains("systems found: 1"), "{err}");
}

#[tokio::test]
async fn non_system_and_missing_members_are_skipped() {
    let mut bmc = single_host();
    bmc.put(
        "/redfish/v1/Systems",
        collection(
            "",
            &[
                "/redfish/v1/Systems/Capabilities",
                "/redfish/v1/Systems/Gone",
                "/redfish/v1/Systems/1",
            ],
        ),
    )
    .put(
        "/redfish/v1/Systems/Capabilities",
        json!({ "@odata.type": "#Capabilities.v1_0_0.Capabilities", "Id": "Capabilities" }),
    );
    let facts = collect_ok(&bmc, None).await;
    assert_eq!(facts.system.id, "1");
    assert_eq!(facts.cpus.len(), 1);
    assert_eq!(facts.problems.len(), 1, "{:?}", facts.problems);
    assert_eq!(facts.problems[0].uri, "/redfish/v1/Systems/Gone");
    assert!(
        facts.problems[0].message.contains("not found"),
        "{}",
        facts.problems[0].message
    );
}

#[tokio::test]
async fn missing_member_becomes_problem() {
    let mut bmc = single_host();
    bmc.put(
        "/redfish/v1/Systems/1/Memory",
        collection(
            "",
            &[
                "/redfish/v1/Systems/1/Memory/DIMM0",
                "/redfish/v1/Systems/1/Memory/DIMM9",
            ],
        ),
    );
    let facts = collect_ok(&bmc, None).await;
    assert_eq!(facts.dimms.len(), 1);
    assert_eq!(facts.problems.len(), 1);
    assert_eq!(facts.problems[0].uri, "/redfish/v1/Systems/1/Memory/DIMM9");
}

#[tokio::test]
async fn service_root_failure_is_an_error() {
    let bmc = MapFetch::default();
    let err = collect(&bmc, None).await.expect_err("no service root");
    assert!(matches!(err, CollectError::ServiceRoot { .. }), "{err}");
    assert!(err.redfish_error().is_some_and(RedfishError::is_not_found));
}

#[tokio::test]
async fn next_link_pages_are_followed() {
    let mut bmc = single_host();
    let mut first_page = collection("", &["/redfish/v1/Systems/1/Memory/DIMM0"]);
    first_page["Members@odata.nextLink"] = json!("/redfish/v1/Systems/1/Memory?$skip=1");
    bmc.put("/redfish/v1/Systems/1/Memory", first_page)
        .put(
            "/redfish/v1/Systems/1/Memory?$skip=1",
            collection("", &["/redfish/v1/Systems/1/Memory/DIMM1"]),
        )
        .put(
            "/redfish/v1/Systems/1/Memory/DIMM1",
            json!({ "Id": "DIMM1", "CapacityMiB": "65536", "Status": { "State": "Enabled" } }),
        );
    let facts = collect_ok(&bmc, None).await;
    let ids: Vec<&str> = facts.dimms.iter().map(|dimm| dimm.id.as_str()).collect();
    assert_eq!(ids, ["DIMM0", "DIMM1"]);
    assert_eq!(facts.dimms[1].capacity_mib, Some(65536));
}

fn legacy_power() -> Value {
    json!({
        "PowerSupplies": [
            { "@odata.id": "/redfish/v1/Chassis/1/Power#/PowerSupplies/0", "MemberId": "0", "Name": "PSU1", "SerialNumber": "S1", "PowerCapacityWatts": 2700, "Status": { "State": "Enabled" } },
            { "@odata.id": "/redfish/v1/Chassis/1/Power#/PowerSupplies/1", "MemberId": "1", "Name": "PSU2", "SerialNumber": "S2", "Status": { "State": "Enabled" } }
        ],
        "Redundancy": [{ "@odata.id": "/redfish/v1/Chassis/1/Power#/Redundancy/0", "Mode": "N+m", "MinNumNeeded": 1,
            "RedundancySet": [link("/redfish/v1/Chassis/1/Power#/PowerSupplies/0"), link("/redfish/v1/Chassis/1/Power#/PowerSupplies/1")] }]
    })
}

fn add_power_subsystem(bmc: &mut MapFetch) {
    let subsystem = "/redfish/v1/Chassis/1/PowerSubsystem";
    bmc.put(
        subsystem,
        json!({ "PowerSupplies": link(&format!("{subsystem}/PowerSupplies")),
            "PowerSupplyRedundancy": [{ "RedundancyType": "NPlusM", "MinNeededInGroup": 1,
                "RedundancyGroup": [link(&format!("{subsystem}/PowerSupplies/PSU1")), link(&format!("{subsystem}/PowerSupplies/PSU2"))] }] }),
    )
    .put(&format!("{subsystem}/PowerSupplies"), collection("", &[&format!("{subsystem}/PowerSupplies/PSU1"), &format!("{subsystem}/PowerSupplies/PSU2")]))
    .put(&format!("{subsystem}/PowerSupplies/PSU1"), json!({ "Id": "PSU1", "Name": "Power Supply 1", "SerialNumber": "S1" }))
    .put(&format!("{subsystem}/PowerSupplies/PSU2"), json!({ "Id": "PSU2", "Name": "Power Supply 2", "SerialNumber": "S2" }));
}

#[tokio::test]
async fn power_only_supplies() {
    let mut bmc = single_host();
    bmc.put(
        "/redfish/v1/Chassis/1",
        json!({ "Id": "1", "Power": link("/redfish/v1/Chassis/1/Power") }),
    )
    .put("/redfish/v1/Chassis/1/Power", legacy_power());
    let facts = collect_ok(&bmc, None).await;
    let uris: Vec<&str> = facts.power.supplies.iter().map(|psu| psu.uri.as_str()).collect();
    assert_eq!(
        uris,
        [
            "/redfish/v1/Chassis/1/Power#/PowerSupplies/0",
            "/redfish/v1/Chassis/1/Power#/PowerSupplies/1"
        ]
    );
    assert_eq!(facts.power.supplies[0].capacity_watts, Some(2700.0));
    assert_eq!(facts.power.redundancy.len(), 1);
    assert_eq!(facts.power.redundancy[0].mode.as_deref(), Some("N+m"));
    assert_eq!(facts.power.redundancy[0].member_count, Some(2));
}

#[tokio::test]
async fn power_subsystem_only_supplies() {
    let mut bmc = single_host();
    bmc.put(
        "/redfish/v1/Chassis/1",
        json!({ "Id": "1", "PowerSubsystem": link("/redfish/v1/Chassis/1/PowerSubsystem") }),
    );
    add_power_subsystem(&mut bmc);
    let facts = collect_ok(&bmc, None).await;
    let ids: Vec<&str> = facts.power.supplies.iter().map(|psu| psu.id.as_str()).collect();
    assert_eq!(ids, ["PSU1", "PSU2"]);
    assert_eq!(facts.power.redundancy.len(), 1);
    assert_eq!(facts.power.redundancy[0].mode.as_deref(), Some("NPlusM"));
    assert_eq!(facts.power.redundancy[0].min_needed, Some(1));
}

#[tokio::test]
async fn supplies_in_both_count_once() {
    let mut bmc = single_host();
    bmc.put(
        "/redfish/v1/Chassis/1",
        json!({ "Id": "1", "Power": link("/redfish/v1/Chassis/1/Power"), "PowerSubsystem": link("/redfish/v1/Chassis/1/PowerSubsystem") }),
    )
    .put("/redfish/v1/Chassis/1/Power", legacy_power());
    add_power_subsystem(&mut bmc);
    let facts = collect_ok(&bmc, None).await;
    let ids: Vec<&str> = facts.power.supplies.iter().map(|psu| psu.id.as_str()).collect();
    assert_eq!(ids, ["PSU1", "PSU2"]);
    assert_eq!(facts.power.redundancy.len(), 1);
    assert_eq!(facts.power.redundancy[0].mode.as_deref(), Some("NPlusM"));
}

#[tokio::test]
async fn power_of_other_chassis_is_ignored() {
    let mut bmc = single_host();
    bmc.put(
        "/redfish/v1/Chassis",
        collection("", &["/redfish/v1/Chassis/1", "/redfish/v1/Chassis/PowerShelf_0"]),
    )
    .put(
        "/redfish/v1/Chassis/1",
        json!({ "Id": "1", "Power": link("/redfish/v1/Chassis/1/Power") }),
    )
    .put("/redfish/v1/Chassis/1/Power", legacy_power())
    .put(
        "/redfish/v1/Chassis/PowerShelf_0",
        json!({ "Id": "PowerShelf_0", "PowerSubsystem": link("/redfish/v1/Chassis/1/PowerSubsystem") }),
    );
    let facts = collect_ok(&bmc, None).await;
    assert_eq!(facts.power.supplies.len(), 2);
    assert!(
        facts
            .power
            .supplies
            .iter()
            .all(|psu| psu.uri.starts_with("/redfish/v1/Chassis/1/Power#"))
    );
}
