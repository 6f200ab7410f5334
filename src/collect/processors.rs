//! Host CPUs, and the GPUs that BMCs list as Processors.

use serde_json::Value;

use super::json;
use super::walk::{Resource, last_segment};
use crate::facts::Cpu;

/// Instruction sets of host CPUs, for Processors that omit `ProcessorType`.
const CPU_INSTRUCTION_SETS: &[&str] = &[
    "x86", "x86-64", "IA-64", "ARM-A32", "ARM-A64", "MIPS32", "MIPS64", "PowerISA",
];

/// True for a host CPU: `ProcessorType` CPU, or no type and a CPU instruction set.
pub fn is_cpu(doc: &Value) -> bool {
    match json::text(doc, "/ProcessorType") {
        Some(kind) => kind.eq_ignore_ascii_case("CPU"),
        None => json::text(doc, "/InstructionSet").is_some_and(|set| {
            CPU_INSTRUCTION_SETS
                .iter()
                .any(|known| known.eq_ignore_ascii_case(&set))
        }),
    }
}

pub fn is_gpu(doc: &Value) -> bool {
    json::text(doc, "/ProcessorType").is_some_and(|kind| kind.eq_ignore_ascii_case("GPU"))
}

/// Builds the CPU facts from the host's Processors, skipping empty sockets.
pub fn cpus(processors: &[Resource]) -> Vec<Cpu> {
    processors
        .iter()
        .filter(|(_, doc)| is_cpu(doc) && !json::is_absent(doc))
        .map(|(uri, doc)| cpu(uri, doc))
        .collect()
}

fn cpu(uri: &str, doc: &Value) -> Cpu {
    Cpu {
        uri: uri.to_string(),
        id: json::text(doc, "/Id").unwrap_or_else(|| last_segment(uri).to_string()),
        socket: json::text(doc, "/Socket"),
        manufacturer: json::text(doc, "/Manufacturer"),
        model: json::text(doc, "/Model"),
        cores: json::unsigned32(doc, "/TotalEnabledCores").or_else(|| json::unsigned32(doc, "/TotalCores")),
        cores_from_enabled: json::unsigned32(doc, "/TotalEnabledCores").is_some(),
        threads: json::unsigned32(doc, "/TotalThreads"),
        max_speed_mhz: json::unsigned32(doc, "/MaxSpeedMHz"),
        state: json::state(doc),
        health: json::health(doc),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn resource(uri: &str, doc: Value) -> Resource {
        (uri.to_string(), Arc::new(doc))
    }

    #[test]
    fn cpus_skip_absent_and_gpus() {
        let processors = vec![
            resource(
                "/redfish/v1/Systems/1/Processors/1",
                json!({"Id": "1", "ProcessorType": "CPU", "TotalCores": 32, "TotalEnabledCores": 30, "TotalThreads": "64", "MaxSpeedMHz": null}),
            ),
            resource(
                "/redfish/v1/Systems/1/Processors/2",
                json!({"Id": "2", "ProcessorType": "CPU", "Status": {"State": "Absent"}}),
            ),
            resource(
                "/redfish/v1/Systems/1/Processors/3",
                json!({"Id": "3", "InstructionSet": "x86-64", "TotalCores": 8}),
            ),
            resource(
                "/redfish/v1/Systems/1/Processors/GPU1",
                json!({"Id": "GPU1", "ProcessorType": "GPU"}),
            ),
        ];
        let cpus = cpus(&processors);
        assert_eq!(cpus.len(), 2);
        assert_eq!(cpus[0].cores, Some(30));
        assert_eq!(cpus[0].threads, Some(64));
        assert_eq!(cpus[0].max_speed_mhz, None);
        assert_eq!(cpus[1].id, "3");
        assert_eq!(cpus[1].cores, Some(8));
    }
}
