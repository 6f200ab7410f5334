//! The in-band hand-off manifest: one JSON document per node that passed the out-of-band scan.
//!
//! The manifest names the node (serial, system UUID, BMC, NIC MAC addresses), records what the
//! BMC showed (GPUs, DIMMs, drives) and lists the checks the installed OS still owes, each with
//! the exact command and a structured target. `rackcheck scan --handoff DIR` writes it and
//! `rackcheck inband --manifest FILE` reads it. docs/handoff-schema.md documents every field
//! and docs/handoff-manifest.schema.json is the JSON Schema.

use serde::{Deserialize, Serialize};

use crate::inventory::Role;
use crate::policy::{Status, Verdict};

/// The manifest format version; bump it when a field changes meaning or is removed.
pub const MANIFEST_SCHEMA_VERSION: u32 = 1;

/// Everything the in-band stage needs to know about one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`MANIFEST_SCHEMA_VERSION`] for manifests this build writes.
    pub schema_version: u32,
    /// The profile the node was judged against.
    pub profile: String,
    pub identity: Identity,
    pub observed: Observed,
    pub out_of_band: OutOfBand,
    pub checks: Vec<Check>,
}

/// The node's identity, so the in-band stage can confirm it runs on the machine that was scanned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    pub hostname: String,
    pub rack: String,
    pub position: u32,
    pub role: Role,
    /// The BMC address as the inventory gives it.
    pub bmc: String,
    /// The Redfish ComputerSystem URI the scan read.
    pub system_uri: String,
    /// ComputerSystem SerialNumber; `null` when the BMC did not report one.
    pub serial_number: Option<String>,
    /// ComputerSystem UUID, lower-case; compare with `/sys/class/dmi/id/product_uuid`.
    pub uuid: Option<String>,
    /// MAC addresses of the node's NIC ports, lower-case, colon-separated, deduplicated, in
    /// the order the BMC listed the ports.
    pub macs: Vec<String>,
}

/// Parts the out-of-band scan found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Observed {
    /// GPUs grouped by model.
    pub gpus: Vec<GpuGroup>,
    pub gpu_count: u32,
    pub dimm_count: u32,
    /// Sum of the DIMMs' capacities, in GiB; `null` when a DIMM did not report its capacity.
    pub memory_gib: Option<u64>,
    pub drives: Vec<ObservedDrive>,
}

/// GPUs of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuGroup {
    /// The model as the BMC reported it; `null` when it did not.
    pub model: Option<String>,
    pub count: u32,
    /// Memory per GPU in marketed GB: the BMC's MiB figure rounded to whole GiB, else the size
    /// in the GPU table; `null` when neither gives it.
    pub memory_gb: Option<u64>,
}

/// One physical drive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObservedDrive {
    pub model: Option<String>,
    pub serial_number: Option<String>,
    pub capacity_bytes: Option<u64>,
    /// Protocol as the BMC reported it ("NVMe", "PCIe", "SATA", "SAS").
    pub protocol: Option<String>,
}

/// The out-of-band outcome the node was handed off with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutOfBand {
    /// `pass`, or `warn` when the scan ran with `--handoff-warn`.
    pub verdict: Verdict,
    /// Findings whose status is not `pass` (warnings, in-band, not-applicable).
    pub findings_not_passed: Vec<FindingSummary>,
}

/// A finding reduced to what the in-band stage shows a person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingSummary {
    pub rule: String,
    pub status: Status,
    pub observed: String,
}

/// One check the installed OS must pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// Stable kebab-case id (`kernel-version`, `fio-boot-seq-read`).
    pub id: String,
    /// Requirement id in the requirements document (`OS-2`).
    pub requirement: String,
    pub description: String,
    /// The shell command whose output the target is compared with.
    pub command: String,
    pub target: Target,
    /// False when the check does not apply to this node; `reason` gives the cause either way.
    pub applies: bool,
    pub reason: String,
}

/// Expected result of a check's output, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Target {
    /// `/etc/os-release` has this `ID` and `VERSION_ID`.
    OsRelease { id: String, version_id: String },
    /// A dotted or dashed version at least `min`, compared field by field as numbers
    /// (`6.5.0-15` is (6, 5, 0, 15)).
    MinVersion { min: String },
    /// A setting reads `value` on every GPU whose memory is at least `min_gpu_memory_gb`
    /// (every GPU when it is `null`).
    GpuSetting {
        value: String,
        min_gpu_memory_gb: Option<u64>,
    },
    /// The Fabric Manager service is active and its package version equals the driver version.
    FabricManager { active: bool, version_matches_driver: bool },
    /// Every pair of the `gpus` GPUs is connected by NVLink (`NV<n>` in `nvidia-smi topo -m`).
    NvlinkAllPairs { gpus: u32 },
    /// `dcgmi diag -r <level>` passes every test.
    DcgmDiag { level: u8 },
    /// fio on `array` reaches the throughput or IOPS minimum.
    Fio {
        array: Array,
        /// fio `--rw` mode (`read`, `write`, `randread`, `randwrite`).
        rw: String,
        /// fio `--bs` block size (`1M`, `4k`).
        block_size: String,
        iodepth: u32,
        numjobs: u32,
        /// Minimum bandwidth in MB/s (10^6 bytes per second); set for sequential tests.
        min_mb_s: Option<u64>,
        /// Minimum IOPS; set for random tests.
        min_iops: Option<u64>,
    },
    /// The kernel runs without DMA remapping: `/sys/class/iommu` is empty, or the kernel
    /// command line has one of `accepted_cmdline`.
    IommuOff { accepted_cmdline: Vec<String> },
}

/// The storage array a fio check runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Array {
    /// The RAID 1 array holding `/`.
    Boot,
    /// The array for customer data.
    Working,
}
