//! The requirements profile: which rules run, on which roles, with what limits.
//!
//! The built-in profile is `profiles/runpod-2025.toml`, compiled in. A profile file is parsed,
//! then validated as a whole, and every problem is reported with the file and line before
//! anything runs.

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::bios_keys::BiosKeyTable;
use super::cpu_models::CpuTable;
use super::gpu_models::{Architecture, GpuTable};
use super::rack::RACK_RULES;
use super::rules::{RULES, RuleInfo};
use crate::inventory::Role;

const BUILTIN_PROFILE: &str = include_str!("../../profiles/runpod-2025.toml");
const BUILTIN_PROFILE_NAME: &str = "profiles/runpod-2025.toml (built in)";

/// Outcome of a violated rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// A violation fails the node.
    Fail,
    /// A violation only warns: the requirement is a recommendation.
    Warn,
}

/// A validated profile, ready to judge nodes.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    /// The requirements document the profile encodes.
    pub document: String,
    pub gpu: GpuLimits,
    pub cpu: CpuLimits,
    pub memory: MemoryLimits,
    pub pcie: PcieLimits,
    pub boot: BootLimits,
    pub working_array: WorkingArrayLimits,
    pub network: NetworkLimits,
    pub deployment: DeploymentLimits,
    pub firmware: Vec<FirmwareMinimum>,
    pub storage_role: RoleLimits,
    pub metadata_role: RoleLimits,
    pub rules: Vec<RuleConfig>,
    pub gpu_table: GpuTable,
    pub cpu_table: CpuTable,
    pub bios_keys: BiosKeyTable,
}

/// Settings of one rule in the profile.
#[derive(Debug, Clone)]
pub struct RuleConfig {
    pub id: String,
    /// Requirement id in the requirements map (`G-1`).
    pub requirement: String,
    /// Section of the requirements document (`1.1 GPU Requirements`).
    pub section: String,
    /// The requirement's wording, shortened.
    pub text: String,
    pub roles: Vec<Role>,
    pub severity: Severity,
    pub enabled: bool,
}

impl RuleConfig {
    /// Formats the requirement as findings cite it: id, section and wording.
    pub fn citation(&self) -> String {
        format!("{} (§{}): {}", self.requirement, self.section, self.text)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuLimits {
    /// Oldest architecture accepted.
    pub min_architecture: Architecture,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuLimits {
    pub cores_per_gpu: u32,
    /// Cores reserved for the host on top of the per-GPU share.
    pub reserved_cores: u32,
    pub base_min_mhz: u32,
    pub boost_min_mhz: u32,
    /// CPUs that miss the clock minimums but are reported as a warning, not a failure.
    #[serde(default)]
    pub clock_waived_models: Vec<String>,
    /// CPUs the requirements document recommends; reported for information.
    #[serde(default)]
    pub recommended_models: Vec<String>,
}

/// Recommended system memory for a GPU server, per GPU, by GPU memory size.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryLimits {
    pub per_gpu: Vec<MemoryBucket>,
}

/// Applies to GPUs of at least `gpu_memory_gb`; the largest bucket that applies wins.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryBucket {
    pub gpu_memory_gb: u32,
    /// System memory per GPU, in GB (GiB as BMCs count DIMM capacity).
    pub system_gb: u32,
    /// Accepted MemoryDeviceType values.
    pub types: Vec<String>,
}

/// Minimum PCIe link of a GPU, by GPU memory size.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PcieLimits {
    pub buckets: Vec<PcieBucket>,
    #[serde(default)]
    pub exceptions: Vec<PcieException>,
    /// Device IDs of GPUs attached over NVLink-C2C, which have no PCIe host link to judge.
    #[serde(default)]
    pub c2c_device_ids: Vec<String>,
}

/// Applies to GPUs of at least `gpu_memory_gb`; the largest bucket that applies wins.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PcieBucket {
    pub gpu_memory_gb: u32,
    /// Link bandwidth as GT/s times lanes in use (PCIe 3.0 x16 = 8 x 16 = 128).
    pub min_gts_lanes: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PcieException {
    pub device_id: String,
    pub min_gts_lanes: u32,
    pub note: String,
}

/// The NVMe working array of a GPU server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkingArrayLimits {
    /// RAIDType values accepted for the working array.
    pub raid_types: Vec<String>,
    pub per_gpu: Vec<WorkingArrayBucket>,
}

/// Applies to GPUs of at least `gpu_memory_gb`; the largest bucket that applies wins.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkingArrayBucket {
    pub gpu_memory_gb: u32,
    /// Usable decimal terabytes per GPU after RAID.
    pub tb_per_gpu: u32,
}

/// A firmware component whose version the profile can set a minimum for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FirmwareComponent {
    /// The host's BiosVersion.
    Bios,
    /// Every Manager's FirmwareVersion.
    Bmc,
    /// Every GPU's FirmwareVersion (VBIOS).
    Gpu,
}

impl FirmwareComponent {
    pub fn name(self) -> &'static str {
        match self {
            FirmwareComponent::Bios => "BIOS",
            FirmwareComponent::Bmc => "BMC",
            FirmwareComponent::Gpu => "GPU firmware",
        }
    }
}

/// A minimum firmware version for one component of one platform.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirmwareMinimum {
    /// Substring of the system's Manufacturer, any case.
    pub vendor: String,
    /// Substring of the system's Model, any case.
    pub model: String,
    pub component: FirmwareComponent,
    /// Compared as a tuple of numbers: the first dotted number of each version string.
    pub min_version: String,
}

/// Minimums for the deployment as a whole, judged by the rack-wide rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentLimits {
    /// GPU-server power capacity, in kW.
    pub min_gpu_power_kw: u32,
    pub min_storage_servers: u32,
    /// Raw capacity of the storage servers' data disks, in decimal TB.
    pub min_storage_raw_tb: u32,
}

/// Network speeds, in Gbit/s.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkLimits {
    /// Speed of at least one linked data port on a GPU server.
    pub gpu_port_min_gbps: u32,
    /// Sum of the linked ports' speeds on a storage server.
    pub storage_total_min_gbps: u32,
}

/// Hardware a storage or metadata server must have.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleLimits {
    /// Accepted CPU models, as normalized keys (`EPYC 9354P`).
    pub cpu_models: Vec<String>,
    pub min_memory_gb: u32,
    /// Accepted MemoryDeviceType values.
    pub memory_types: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootLimits {
    /// RAIDType values accepted as a mirror.
    pub raid_types: Vec<String>,
    /// Minimum usable capacity after RAID, in decimal gigabytes (10^9 bytes).
    pub min_capacity_gb: u64,
}

/// The profile file as written, before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    name: String,
    document: String,
    gpu: GpuLimits,
    cpu: CpuLimits,
    memory: MemoryLimits,
    pcie: PcieLimits,
    boot: BootLimits,
    working_array: WorkingArrayLimits,
    network: NetworkLimits,
    deployment: DeploymentLimits,
    #[serde(default)]
    firmware: Vec<FirmwareMinimum>,
    storage_role: RoleLimits,
    metadata_role: RoleLimits,
    #[serde(rename = "rule")]
    rules: Vec<RuleEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    id: toml::Spanned<String>,
    requirement: String,
    section: String,
    text: String,
    /// Roles a node rule judges; rack-wide rules take none.
    roles: Option<toml::Spanned<Vec<Role>>>,
    #[serde(default = "default_severity")]
    severity: Severity,
    #[serde(default = "default_enabled")]
    enabled: bool,
}

fn default_severity() -> Severity {
    Severity::Fail
}

fn default_enabled() -> bool {
    true
}

/// An invalid profile, with every problem found.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot read profile {}: {cause}\nhint: check the path given to --profile", .path.display())]
    Read { path: PathBuf, cause: std::io::Error },

    #[error("invalid profile {source_name}: {message}")]
    Parse { source_name: String, message: String },

    #[error("invalid profile {source_name}:\n{}", .problems.join("\n"))]
    Invalid { source_name: String, problems: Vec<String> },
}

impl Profile {
    /// Returns the profile compiled into the binary.
    pub fn builtin() -> Profile {
        Profile::parse(BUILTIN_PROFILE, BUILTIN_PROFILE_NAME).expect("the built-in profile is checked by a unit test")
    }

    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|cause| ProfileError::Read {
            path: path.to_path_buf(),
            cause,
        })?;
        Profile::parse(&text, &path.display().to_string())
    }

    /// Parses and validates a profile; `source_name` names it in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<Profile, ProfileError> {
        let file: ProfileFile = toml::from_str(text).map_err(|err| ProfileError::Parse {
            source_name: source_name.to_string(),
            message: err.to_string(),
        })?;

        let problems = validate(&file, text, source_name);
        if !problems.is_empty() {
            return Err(ProfileError::Invalid {
                source_name: source_name.to_string(),
                problems,
            });
        }

        let rules = file
            .rules
            .into_iter()
            .map(|entry| RuleConfig {
                id: entry.id.into_inner(),
                requirement: entry.requirement,
                section: entry.section,
                text: entry.text,
                roles: entry.roles.map(toml::Spanned::into_inner).unwrap_or_default(),
                severity: entry.severity,
                enabled: entry.enabled,
            })
            .collect();

        Ok(Profile {
            name: file.name,
            document: file.document,
            gpu: file.gpu,
            cpu: file.cpu,
            memory: file.memory,
            pcie: file.pcie,
            boot: file.boot,
            working_array: file.working_array,
            network: file.network,
            deployment: file.deployment,
            firmware: file.firmware,
            storage_role: file.storage_role,
            metadata_role: file.metadata_role,
            rules,
            gpu_table: GpuTable::builtin(),
            cpu_table: CpuTable::builtin(),
            bios_keys: BiosKeyTable::builtin(),
        })
    }

    /// The enabled rules, each with its implementation.
    pub fn enabled_rules(&self) -> impl Iterator<Item = (&'static RuleInfo, &RuleConfig)> {
        self.rules.iter().filter(|config| config.enabled).filter_map(|config| {
            RULES
                .iter()
                .find(|rule| rule.id == config.id)
                .map(|rule| (rule, config))
        })
    }
}

fn validate(file: &ProfileFile, text: &str, source_name: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if file.boot.raid_types.is_empty() {
        problems.push(format!(
            "{source_name}: [boot] raid_types is empty\nhint: list the RAIDType values that count as a mirror, such as \"RAID1\""
        ));
    }
    if file.boot.min_capacity_gb == 0 {
        problems.push(format!(
            "{source_name}: [boot] min_capacity_gb is 0\nhint: give the boot array's minimum in GB"
        ));
    }
    let mut seen = BTreeSet::new();
    let known: Vec<&str> = RULES
        .iter()
        .map(|rule| rule.id)
        .chain(RACK_RULES.iter().map(|rule| rule.id))
        .collect();

    for entry in &file.rules {
        let id = entry.id.get_ref();
        let at = format!("{source_name}:{}", line_of(text, entry.id.span()));
        if !known.contains(&id.as_str()) {
            problems.push(format!(
                "{at}: unknown rule `{id}`\nhint: known rules are {}",
                known.join(", ")
            ));
        }
        if !seen.insert(id.clone()) {
            problems.push(format!(
                "{at}: rule `{id}` is listed twice\nhint: keep one entry per rule"
            ));
        }
        let is_node_rule = RULES.iter().any(|rule| rule.id == id.as_str());
        let no_roles = entry.roles.as_ref().is_none_or(|roles| roles.get_ref().is_empty());
        if is_node_rule && no_roles {
            let span = entry.roles.as_ref().map_or(entry.id.span(), |roles| roles.span());
            let at = format!("{source_name}:{}", line_of(text, span));
            problems.push(format!(
                "{at}: rule `{id}` applies to no role\nhint: list roles, or set `enabled = false`"
            ));
        }
    }
    problems
}

/// Returns the 1-based line of a byte span in `text`.
fn line_of(text: &str, span: Range<usize>) -> usize {
    text[..span.start.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profile_parses() {
        let profile = Profile::parse(BUILTIN_PROFILE, BUILTIN_PROFILE_NAME).unwrap();
        assert!(profile.enabled_rules().count() >= 7);
    }

    #[test]
    fn builtin_profile_enables_every_rule() {
        let profile = Profile::builtin();
        let ids = RULES
            .iter()
            .map(|rule| rule.id)
            .chain(RACK_RULES.iter().map(|rule| rule.id));
        for id in ids {
            assert!(
                profile.rules.iter().any(|config| config.id == id),
                "rule {id} is missing from the built-in profile"
            );
        }
        for rule in RULES {
            assert!(
                profile.rules.iter().any(|config| config.id == rule.id),
                "rule {} is missing from the built-in profile",
                rule.id
            );
        }
    }

    #[test]
    fn rule_ids_are_unique() {
        let ids: BTreeSet<_> = RULES.iter().map(|rule| rule.id).collect();
        assert_eq!(ids.len(), RULES.len());
    }

    #[test]
    fn unknown_rule_is_reported_with_line() {
        let text = BUILTIN_PROFILE.replacen("id = \"dimm-ecc\"", "id = \"dimm-ecc-typo\"", 1);
        let err = Profile::parse(&text, "test.toml").unwrap_err().to_string();
        let line = text.lines().position(|l| l.contains("dimm-ecc-typo")).unwrap() + 1;
        assert!(
            err.contains(&format!("test.toml:{line}: unknown rule `dimm-ecc-typo`")),
            "{err}"
        );
    }

    #[test]
    fn empty_raid_types_are_rejected() {
        let text = BUILTIN_PROFILE.replacen(
            "raid_types = [\"RAID1\", \"RAID10\", \"RAID1E\", \"RAID1Triple\", \"RAID10Triple\"]",
            "raid_types = []",
            1,
        );
        let err = Profile::parse(&text, "test.toml").unwrap_err().to_string();
        assert!(err.contains("raid_types is empty"), "{err}");
    }

    #[test]
    fn unknown_field_is_rejected() {
        let text = format!("{BUILTIN_PROFILE}\n[extra]\nkey = 1\n");
        let err = Profile::parse(&text, "test.toml").unwrap_err().to_string();
        assert!(err.contains("extra"), "{err}");
    }
}
