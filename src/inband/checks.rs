//! The in-band checks: each manifest check becomes one finding, judged from what the probes
//! of [`super::runner`] read. Probe outputs are cached, so `nvidia-smi` runs once for the
//! driver, persistence, ECC and GPU-inventory checks.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::handoff::manifest::{Array, Check, Manifest, Target};
use crate::policy::{Evidence, Finding, Status};

use super::InbandOptions;
use super::parse::{self, GpuRow, Version};
use super::runner::{CommandRunner, Probe, ProbeError, ProbeOutput};

/// Time allowed for quick commands (`uname`, `nvidia-smi`, `systemctl`).
const QUICK_TIMEOUT: Duration = Duration::from_secs(60);
/// Time allowed for `dcgmi diag`; level 3 takes about 15 minutes on an 8-GPU node and level 4
/// longer, so this leaves room for both.
const DCGM_TIMEOUT: Duration = Duration::from_secs(2 * 60 * 60);
/// Time allowed for one fio run: 60 s of measurement plus laying out a 32 GiB file.
// NOTE: an estimate; a slow boot drive laying out the file at 100 MB/s needs about 6 minutes.
const FIO_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Share of the nominal memory size a GPU may report below it and still count as that size,
/// because `memory.total` excludes memory the driver reserves.
const GPU_MEMORY_TOLERANCE: f64 = 0.05;

/// The probes' outputs, read once each.
pub(crate) struct Probes<'a> {
    runner: &'a dyn CommandRunner,
    cache: RefCell<BTreeMap<String, Result<ProbeOutput, ProbeError>>>,
}

impl<'a> Probes<'a> {
    pub(crate) fn new(runner: &'a dyn CommandRunner) -> Probes<'a> {
        Probes {
            runner,
            cache: RefCell::new(BTreeMap::new()),
        }
    }

    fn read(&self, probe: &Probe) -> Result<ProbeOutput, ProbeError> {
        if let Some(output) = self.cache.borrow().get(&probe.id) {
            return output.clone();
        }
        let output = self.runner.run(probe);
        match &output {
            Ok(read) => tracing::debug!(probe = %probe.id, exit_code = ?read.exit_code, "probe read"),
            Err(err) => tracing::info!(probe = %probe.id, cause = %err, "probe read nothing"),
        }
        self.cache.borrow_mut().insert(probe.id.clone(), output.clone());
        output
    }
}

fn os_release_probe() -> Probe {
    Probe::file("os-release", "/etc/os-release")
}

fn uname_probe() -> Probe {
    Probe::command("uname-r", &["uname", "-r"], QUICK_TIMEOUT)
}

fn nvidia_smi_probe() -> Probe {
    Probe::command("nvidia-smi", &["nvidia-smi"], QUICK_TIMEOUT)
}

fn gpu_query_probe() -> Probe {
    let query = format!("--query-gpu={}", parse::GPU_QUERY_FIELDS);
    Probe::command(
        "nvidia-smi-query-gpu",
        &["nvidia-smi", &query, "--format=csv,noheader,nounits"],
        QUICK_TIMEOUT,
    )
}

fn topology_probe() -> Probe {
    Probe::command("nvidia-smi-topo-m", &["nvidia-smi", "topo", "-m"], QUICK_TIMEOUT)
}

fn nvidia_smi_query_probe() -> Probe {
    Probe::command("nvidia-smi-q", &["nvidia-smi", "-q"], QUICK_TIMEOUT)
}

fn fabric_manager_service_probe() -> Probe {
    Probe::command(
        "systemctl-is-active-nvidia-fabricmanager",
        &["systemctl", "is-active", "nvidia-fabricmanager"],
        QUICK_TIMEOUT,
    )
}

fn fabric_manager_package_probe() -> Probe {
    // dpkg-query expands the pattern itself, so no shell is involved.
    Probe::command(
        "dpkg-query-nvidia-fabricmanager",
        &[
            "dpkg-query",
            "-W",
            "-f=${Package} ${Version}\\n",
            "nvidia-fabricmanager*",
        ],
        QUICK_TIMEOUT,
    )
}

fn iommu_class_probe() -> Probe {
    Probe::list_dir("sys-class-iommu", "/sys/class/iommu")
}

fn cmdline_probe() -> Probe {
    Probe::file("proc-cmdline", "/proc/cmdline")
}

/// A check's verdict before it becomes a [`Finding`].
struct Outcome {
    status: Status,
    observed: String,
    evidence: Vec<Evidence>,
}

impl Outcome {
    fn new(status: Status, observed: impl Into<String>) -> Outcome {
        Outcome {
            status,
            observed: observed.into(),
            evidence: Vec::new(),
        }
    }

    fn with(mut self, probe: &Probe, property: &str, value: impl Into<serde_json::Value>) -> Outcome {
        self.evidence.push(Evidence::new(&probe.describe(), property, value));
        self
    }
}

/// Builds the `unknown` outcome, with the reason, for a probe that read nothing.
fn unread(probe: &Probe, err: &ProbeError) -> Outcome {
    Outcome::new(Status::Unknown, err.to_string()).with(probe, "", serde_json::Value::Null)
}

/// Judges every manifest check, plus the GPU inventory check when the scan saw GPUs.
pub(crate) fn judge_all(manifest: &Manifest, probes: &Probes<'_>, options: &InbandOptions) -> Vec<Finding> {
    let mut findings: Vec<Finding> = manifest
        .checks
        .iter()
        .map(|check| judge(check, probes, options))
        .collect();
    if manifest.observed.gpu_count > 0 {
        findings.push(gpu_inventory(manifest, probes));
    }
    findings
}

fn judge(check: &Check, probes: &Probes<'_>, options: &InbandOptions) -> Finding {
    let expected = expected_text(&check.target);
    let outcome = if check.applies {
        judge_target(check, probes, options)
    } else {
        Outcome::new(Status::NotApplicable, check.reason.clone())
    };
    Finding {
        rule: format!("inband-{}", check.id),
        status: outcome.status,
        requirement: format!("{}: {}", check.requirement, check.description),
        expected,
        observed: outcome.observed,
        parts: Vec::new(),
        evidence: outcome.evidence,
    }
}

fn judge_target(check: &Check, probes: &Probes<'_>, options: &InbandOptions) -> Outcome {
    match &check.target {
        Target::OsRelease { id, version_id } => os_release(probes, id, version_id),
        Target::MinVersion { min } => match VersionSubject::of(&check.id) {
            Some(VersionSubject::Kernel) => kernel(probes, min),
            Some(VersionSubject::Driver) => driver(probes, min),
            Some(VersionSubject::Cuda) => cuda(probes, min),
            None => unknown_check(check),
        },
        Target::GpuSetting {
            value,
            min_gpu_memory_gb,
        } => match GpuSetting::of(&check.id) {
            Some(setting) => gpu_setting(probes, setting, value, *min_gpu_memory_gb),
            None => unknown_check(check),
        },
        Target::FabricManager {
            active,
            version_matches_driver,
        } => fabric_manager(probes, *active, *version_matches_driver),
        Target::NvlinkAllPairs { gpus } => nvlink_all_pairs(probes, *gpus),
        Target::DcgmDiag { level } => dcgm_diag(probes, *level, options),
        Target::Fio { .. } => fio(check, probes, options),
        Target::IommuOff { accepted_cmdline } => iommu_off(probes, accepted_cmdline),
    }
}

/// Reports a check this build does not know how to run as `unknown`, with its command.
fn unknown_check(check: &Check) -> Outcome {
    Outcome::new(
        Status::Unknown,
        format!(
            "check `{}` is not known to this rackcheck build; run by hand: {}",
            check.id, check.command
        ),
    )
}

fn expected_text(target: &Target) -> String {
    match target {
        Target::OsRelease { id, version_id } => format!("ID={id}, VERSION_ID={version_id}"),
        Target::MinVersion { min } => format!("≥ {min}"),
        Target::GpuSetting {
            value,
            min_gpu_memory_gb: Some(gb),
        } => format!("{value} on every GPU with ≥ {gb} GB"),
        Target::GpuSetting { value, .. } => format!("{value} on every GPU"),
        Target::FabricManager {
            active,
            version_matches_driver,
        } => {
            let state = if *active { "active" } else { "any state" };
            let version = if *version_matches_driver {
                ", version equal to the driver's"
            } else {
                ""
            };
            format!("nvidia-fabricmanager {state}{version}")
        }
        Target::NvlinkAllPairs { gpus } => format!("NVLink (NV<n>) between every pair of {gpus} GPUs"),
        Target::DcgmDiag { level } => format!("every `dcgmi diag -r {level}` test passes"),
        Target::Fio { min_mb_s, min_iops, .. } => match (min_mb_s, min_iops) {
            (Some(mb_s), _) => format!("≥ {mb_s} MB/s"),
            (None, Some(iops)) => format!("≥ {iops} IOPS"),
            (None, None) => "a result".to_string(),
        },
        Target::IommuOff { .. } => "/sys/class/iommu empty (no DMA remapping unit active)".to_string(),
    }
}

fn os_release(probes: &Probes<'_>, id: &str, version_id: &str) -> Outcome {
    let probe = os_release_probe();
    let output = match probes.read(&probe) {
        Ok(output) => output,
        Err(err) => return unread(&probe, &err),
    };
    let fields = parse::os_release(&output.text);
    let get = |key: &str| fields.get(key).cloned().unwrap_or_default();
    let observed = format!(
        "ID={}, VERSION_ID={} ({})",
        get("ID"),
        get("VERSION_ID"),
        get("PRETTY_NAME")
    );
    let status = if get("ID") == id && get("VERSION_ID") == version_id {
        Status::Pass
    } else {
        Status::Fail
    };
    Outcome::new(status, observed)
        .with(&probe, "ID", get("ID"))
        .with(&probe, "VERSION_ID", get("VERSION_ID"))
}

enum VersionSubject {
    Kernel,
    Driver,
    Cuda,
}

impl VersionSubject {
    /// Tells the version checks apart by their manifest id (`kernel-version`, `driver-version`).
    fn of(check_id: &str) -> Option<VersionSubject> {
        if check_id.contains("kernel") {
            Some(VersionSubject::Kernel)
        } else if check_id.contains("driver") {
            Some(VersionSubject::Driver)
        } else if check_id.contains("cuda") {
            Some(VersionSubject::Cuda)
        } else {
            None
        }
    }
}

/// Compares `found` with `min`; a version that does not parse is `unknown`.
fn at_least(found: &str, min: &str) -> Status {
    match (Version::parse(found), Version::parse(min)) {
        (Some(found), Some(min)) if found >= min => Status::Pass,
        (Some(_), Some(_)) => Status::Fail,
        _ => Status::Unknown,
    }
}

/// Kernel at least `min`, and a production kernel: release candidates fail, and flavours
/// other than `generic` (such as `lowlatency`, `oem`) warn.
fn kernel(probes: &Probes<'_>, min: &str) -> Outcome {
    let probe = uname_probe();
    let output = match probes.read(&probe) {
        Ok(output) => output,
        Err(err) => return unread(&probe, &err),
    };
    let text = output.text.trim();
    let Some(release) = parse::kernel_release(text) else {
        return Outcome::new(Status::Unknown, format!("cannot parse the kernel release `{text}`"))
            .with(&probe, "", text);
    };
    let mut status = at_least(text, min);
    let mut observed = text.to_string();
    if release.release_candidate {
        status = Status::Fail;
        observed.push_str(" (a release candidate)");
    } else if status == Status::Pass && release.flavour != "generic" {
        status = Status::Warn;
        observed.push_str(&format!(" (flavour `{}`, not `generic`)", release.flavour));
    }
    Outcome::new(status, observed).with(&probe, "", text)
}

/// Reads the GPU query; the error outcome states why there are no rows.
fn gpu_rows(probes: &Probes<'_>) -> Result<Vec<GpuRow>, Outcome> {
    let probe = gpu_query_probe();
    let output = probes.read(&probe).map_err(|err| unread(&probe, &err))?;
    if output.exit_code != Some(0) {
        let first_line = output.text.lines().next().unwrap_or("").trim().to_string();
        let observed = format!("nvidia-smi exited with {:?}: {first_line}", output.exit_code);
        return Err(Outcome::new(Status::Unknown, observed).with(&probe, "", output.text));
    }
    let rows = parse::gpu_rows(&output.text).map_err(|line| {
        Outcome::new(Status::Unknown, format!("cannot parse the nvidia-smi line `{line}`")).with(&probe, "", line)
    })?;
    if rows.is_empty() {
        return Err(Outcome::new(Status::Fail, "nvidia-smi lists no GPU").with(&probe, "", output.text));
    }
    Ok(rows)
}

fn driver(probes: &Probes<'_>, min: &str) -> Outcome {
    let rows = match gpu_rows(probes) {
        Ok(rows) => rows,
        Err(outcome) => return outcome,
    };
    let probe = gpu_query_probe();
    let mut versions: Vec<&str> = rows.iter().map(|row| row.driver_version.as_str()).collect();
    versions.dedup();
    let status = versions
        .iter()
        .map(|version| at_least(version, min))
        .max_by_key(|status| severity(*status))
        .unwrap_or(Status::Unknown);
    Outcome::new(status, versions.join(", ")).with(&probe, "driver_version", versions.join(", "))
}

fn cuda(probes: &Probes<'_>, min: &str) -> Outcome {
    let probe = nvidia_smi_probe();
    let output = match probes.read(&probe) {
        Ok(output) => output,
        Err(err) => return unread(&probe, &err),
    };
    let Some(version) = parse::cuda_version(&output.text) else {
        return Outcome::new(Status::Unknown, "no `CUDA Version` in the nvidia-smi header").with(
            &probe,
            "CUDA Version",
            serde_json::Value::Null,
        );
    };
    Outcome::new(
        at_least(&version, min),
        format!("{version} (the driver's supported CUDA version)"),
    )
    .with(&probe, "CUDA Version", version)
}

/// Ranks a status by severity, for picking the worst of several.
fn severity(status: Status) -> u8 {
    match status {
        Status::Pass | Status::NotApplicable | Status::InBand => 0,
        Status::Warn => 1,
        Status::Unknown => 2,
        Status::Fail => 3,
        Status::Error => 4,
    }
}

#[derive(Clone, Copy)]
enum GpuSetting {
    PersistenceMode,
    EccMode,
}

impl GpuSetting {
    fn of(check_id: &str) -> Option<GpuSetting> {
        if check_id.contains("persistence") {
            Some(GpuSetting::PersistenceMode)
        } else if check_id.contains("ecc") {
            Some(GpuSetting::EccMode)
        } else {
            None
        }
    }

    fn field(self) -> &'static str {
        match self {
            GpuSetting::PersistenceMode => "persistence_mode",
            GpuSetting::EccMode => "ecc.mode.current",
        }
    }

    fn value(self, row: &GpuRow) -> &str {
        match self {
            GpuSetting::PersistenceMode => &row.persistence_mode,
            GpuSetting::EccMode => &row.ecc_mode,
        }
    }
}

/// Memory of a GPU row in GB (10^9 bytes).
fn memory_gb(row: &GpuRow) -> Option<f64> {
    row.memory_mib.map(|mib| mib as f64 * 1_048_576.0 / 1e9)
}

fn gpu_setting(probes: &Probes<'_>, setting: GpuSetting, value: &str, min_gb: Option<u64>) -> Outcome {
    let rows = match gpu_rows(probes) {
        Ok(rows) => rows,
        Err(outcome) => return outcome,
    };
    let probe = gpu_query_probe();
    let mut outcome = Outcome::new(Status::Pass, "");
    let mut wrong = Vec::new();
    let mut unsized_gpus = Vec::new();
    let mut covered = 0;
    for row in &rows {
        let covers = match (min_gb, memory_gb(row)) {
            (None, _) => true,
            (Some(min), Some(gb)) => gb >= min as f64 * (1.0 - GPU_MEMORY_TOLERANCE),
            (Some(_), None) => {
                unsized_gpus.push(format!("GPU {}", row.index));
                continue;
            }
        };
        if !covers {
            continue;
        }
        covered += 1;
        let found = setting.value(row);
        outcome = outcome.with(&probe, &format!("GPU {}/{}", row.index, setting.field()), found);
        if !found.eq_ignore_ascii_case(value) {
            wrong.push(format!("GPU {} ({}, {}): {found}", row.index, row.name, row.bus_id));
        }
    }

    outcome.observed = if !wrong.is_empty() {
        outcome.status = Status::Fail;
        format!("{} is not {value} on {}", setting.field(), wrong.join("; "))
    } else if !unsized_gpus.is_empty() {
        outcome.status = Status::Unknown;
        format!("no memory.total for {}", unsized_gpus.join(", "))
    } else if covered == 0 {
        outcome.status = Status::NotApplicable;
        format!("no GPU has ≥ {} GB", min_gb.unwrap_or(0))
    } else {
        format!(
            "{value} on {covered} of {} GPUs (every GPU the rule covers)",
            rows.len()
        )
    };
    outcome
}

fn fabric_manager(probes: &Probes<'_>, active: bool, version_matches_driver: bool) -> Outcome {
    let service_probe = fabric_manager_service_probe();
    let mut problems = Vec::new();
    let mut unknowns = Vec::new();
    let mut outcome = Outcome::new(Status::Pass, "");

    // `systemctl is-active` exits non-zero for any state but active; the state is on stdout.
    match probes.read(&service_probe) {
        Ok(output) => {
            let state = output.text.trim().to_string();
            if active && state != "active" {
                problems.push(format!("nvidia-fabricmanager is `{state}`"));
            }
            outcome = outcome.with(&service_probe, "ActiveState", state);
        }
        Err(err) => unknowns.push(err.to_string()),
    }

    if version_matches_driver {
        match fabric_manager_version_problem(probes) {
            Ok(Some(problem)) => problems.push(problem),
            Ok(None) => {}
            Err(reason) => unknowns.push(reason),
        }
    }

    // On Hopper and newer, `nvidia-smi -q` shows whether each GPU joined the NVSwitch fabric;
    // older GPUs print `N/A`, and a missing `-q` output leaves the service state to decide.
    let query_probe = nvidia_smi_query_probe();
    if let Ok(output) = probes.read(&query_probe) {
        let states = parse::fabric_states(&output.text);
        let unfinished = states
            .iter()
            .filter(|(state, status)| state != "N/A" && (state != "Completed" || status != "Success"))
            .count();
        if unfinished > 0 {
            problems.push(format!(
                "{unfinished} of {} GPUs did not join the NVLink fabric",
                states.len()
            ));
        }
        outcome = outcome.with(
            &query_probe,
            "Fabric/State",
            states.iter().map(|(state, _)| state.clone()).collect::<Vec<_>>(),
        );
    }

    let (status, observed) = if !problems.is_empty() {
        (Status::Fail, problems.join("; "))
    } else if !unknowns.is_empty() {
        (Status::Unknown, unknowns.join("; "))
    } else {
        (
            Status::Pass,
            "nvidia-fabricmanager active, version equal to the driver's".to_string(),
        )
    };
    outcome.status = status;
    outcome.observed = observed;
    outcome
}

/// Compares the Fabric Manager package version (`550.54.15-1`) with the driver version
/// (`550.54.15`). `Ok(Some(problem))` on a mismatch; `Err` when either is unreadable.
fn fabric_manager_version_problem(probes: &Probes<'_>) -> Result<Option<String>, String> {
    let probe = fabric_manager_package_probe();
    let output = probes.read(&probe).map_err(|err| err.to_string())?;
    let package_version = output
        .text
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1))
        .next()
        .ok_or_else(|| "no nvidia-fabricmanager package installed".to_string())?;
    let package_version = package_version
        .split_once('-')
        .map_or(package_version, |(upstream, _)| upstream);
    let driver = gpu_rows(probes)
        .map_err(|outcome| outcome.observed)?
        .first()
        .map(|row| row.driver_version.clone())
        .unwrap_or_default();
    if package_version == driver {
        Ok(None)
    } else {
        Ok(Some(format!(
            "nvidia-fabricmanager {package_version} differs from driver {driver}"
        )))
    }
}

fn nvlink_all_pairs(probes: &Probes<'_>, gpus: u32) -> Outcome {
    let probe = topology_probe();
    let output = match probes.read(&probe) {
        Ok(output) => output,
        Err(err) => return unread(&probe, &err),
    };
    let cells = parse::gpu_topology(&output.text);
    let mut missing = Vec::new();
    let mut not_nvlink = Vec::new();
    for row in 0..gpus {
        for column in (row + 1)..gpus {
            let key = (format!("GPU{row}"), format!("GPU{column}"));
            match cells.get(&key) {
                Some(cell) if cell.starts_with("NV") => {}
                Some(cell) => not_nvlink.push(format!("GPU{row}-GPU{column} {cell}")),
                None => missing.push(format!("GPU{row}-GPU{column}")),
            }
        }
    }
    let links: Vec<&String> = cells.values().collect();
    let outcome = if !not_nvlink.is_empty() {
        Outcome::new(Status::Fail, format!("pairs without NVLink: {}", not_nvlink.join(", ")))
    } else if !missing.is_empty() {
        Outcome::new(
            Status::Fail,
            format!("pairs missing from the matrix: {}", missing.join(", ")),
        )
    } else {
        let mut kinds: Vec<&str> = links.iter().map(|cell| cell.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        Outcome::new(
            Status::Pass,
            format!("every pair of {gpus} GPUs linked by {}", kinds.join("/")),
        )
    };
    outcome.with(&probe, "GPU pairs", serde_json::json!(cells.len()))
}

fn dcgm_diag(probes: &Probes<'_>, level: u8, options: &InbandOptions) -> Outcome {
    let level_text = level.to_string();
    let probe = Probe::command("dcgmi-diag", &["dcgmi", "diag", "-r", &level_text], DCGM_TIMEOUT);
    if !options.run_dcgm_diag {
        return Outcome::new(
            Status::Unknown,
            format!(
                "not run: `{}` loads every GPU for 15 minutes or more; run with --dcgm-diag",
                probe.describe()
            ),
        );
    }
    let output = match probes.read(&probe) {
        Ok(output) => output,
        Err(err) => return unread(&probe, &err),
    };
    let results = parse::dcgm_results(&output.text);
    let failed: Vec<String> = results
        .iter()
        .filter(|(_, result)| !result.starts_with("Pass") && !result.starts_with("Skip"))
        .map(|(name, result)| format!("{name}: {result}"))
        .collect();
    let skipped = results.iter().filter(|(_, result)| result.starts_with("Skip")).count();
    let outcome = if results.is_empty() {
        Outcome::new(Status::Unknown, "no test results in the dcgmi output")
    } else if !failed.is_empty() {
        Outcome::new(Status::Fail, failed.join("; "))
    } else if skipped > 0 {
        Outcome::new(
            Status::Warn,
            format!("{} tests passed, {skipped} skipped", results.len() - skipped),
        )
    } else {
        Outcome::new(Status::Pass, format!("all {} tests passed", results.len()))
    };
    outcome.with(&probe, "results", results.len())
}

/// Builds the fio command for a fio check: `--size=32G --runtime=60` on a file it deletes
/// afterwards (`--unlink=1`).
fn fio_probe(check: &Check, target: &FioTarget<'_>, folder: &str) -> Probe {
    let filename = format!("--filename={folder}/rackcheck-fio.dat");
    let argv = [
        "fio".to_string(),
        format!("--name={}", check.id),
        filename,
        "--size=32G".to_string(),
        format!("--rw={}", target.rw),
        format!("--bs={}", target.block_size),
        format!("--iodepth={}", target.iodepth),
        format!("--numjobs={}", target.numjobs),
        "--direct=1".to_string(),
        "--ioengine=libaio".to_string(),
        "--time_based".to_string(),
        "--runtime=60".to_string(),
        "--group_reporting".to_string(),
        "--unlink=1".to_string(),
        "--output-format=json".to_string(),
    ];
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    Probe::command(&check.id, &argv, FIO_TIMEOUT)
}

struct FioTarget<'a> {
    array: Array,
    rw: &'a str,
    block_size: &'a str,
    iodepth: u32,
    numjobs: u32,
    min_mb_s: Option<u64>,
    min_iops: Option<u64>,
}

fn fio(check: &Check, probes: &Probes<'_>, options: &InbandOptions) -> Outcome {
    let Target::Fio {
        array,
        rw,
        block_size,
        iodepth,
        numjobs,
        min_mb_s,
        min_iops,
    } = &check.target
    else {
        return unknown_check(check);
    };
    let target = FioTarget {
        array: *array,
        rw,
        block_size,
        iodepth: *iodepth,
        numjobs: *numjobs,
        min_mb_s: *min_mb_s,
        min_iops: *min_iops,
    };
    let folder = match target.array {
        Array::Boot => options.boot_dir.display().to_string(),
        Array::Working => match &options.working_dir {
            Some(folder) => folder.display().to_string(),
            None => {
                return Outcome::new(
                    Status::Unknown,
                    "no folder on the working array to test; run with --working-dir DIR",
                );
            }
        },
    };
    let probe = fio_probe(check, &target, &folder);
    if !options.run_fio {
        return Outcome::new(
            Status::Unknown,
            "not run: fio writes 32 GiB and loads the disks for a minute; run with --fio",
        );
    }
    let output = match probes.read(&probe) {
        Ok(output) => output,
        Err(err) => return unread(&probe, &err),
    };
    let direction = if target.rw.contains("write") { "write" } else { "read" };
    let result = match parse::fio_result(&output.text, direction) {
        Ok(result) => result,
        Err(reason) => return Outcome::new(Status::Unknown, reason).with(&probe, "", serde_json::Value::Null),
    };
    let (status, observed) = match (target.min_mb_s, target.min_iops) {
        (Some(min), _) => (pass_if(result.mb_s >= min as f64), format!("{:.0} MB/s", result.mb_s)),
        (None, Some(min)) => (pass_if(result.iops >= min as f64), format!("{:.0} IOPS", result.iops)),
        (None, None) => (Status::Unknown, "the manifest sets no minimum".to_string()),
    };
    Outcome::new(status, observed)
        .with(
            &probe,
            &format!("jobs/{direction}/bw_bytes"),
            (result.mb_s * 1e6).round(),
        )
        .with(&probe, &format!("jobs/{direction}/iops"), result.iops.round())
}

fn pass_if(condition: bool) -> Status {
    if condition { Status::Pass } else { Status::Fail }
}

/// IOMMU off as the kernel reports it: no DMA remapping unit under `/sys/class/iommu` passes.
/// Units present with an accepted kernel argument (`iommu=pt`, passthrough) warn, because
/// the IOMMU is still on; units present without one fail.
fn iommu_off(probes: &Probes<'_>, accepted_cmdline: &[String]) -> Outcome {
    let class_probe = iommu_class_probe();
    let units = match probes.read(&class_probe) {
        Ok(output) => output
            .text
            .lines()
            .map(str::to_string)
            .filter(|name| !name.is_empty())
            .collect::<Vec<_>>(),
        Err(err) => return unread(&class_probe, &err),
    };
    if units.is_empty() {
        return Outcome::new(Status::Pass, "/sys/class/iommu is empty").with(&class_probe, "", "");
    }

    let cmdline_probe = cmdline_probe();
    let cmdline = probes
        .read(&cmdline_probe)
        .map(|output| output.text.trim().to_string())
        .unwrap_or_default();
    let accepted: Vec<&str> = cmdline
        .split_whitespace()
        .filter(|argument| accepted_cmdline.iter().any(|accepted| accepted == argument))
        .collect();
    let listed = format!("/sys/class/iommu lists {}", units.join(", "));
    let outcome = if accepted.is_empty() {
        Outcome::new(
            Status::Fail,
            format!(
                "{listed}; no {} on the kernel command line",
                accepted_cmdline.join(" or ")
            ),
        )
    } else {
        Outcome::new(
            Status::Warn,
            format!("{listed}; kernel command line has {}", accepted.join(" ")),
        )
    };
    outcome
        .with(&class_probe, "", units.join(" "))
        .with(&cmdline_probe, "", cmdline)
}

/// Splits a GPU model name into comparable words (`NVIDIA H100 80GB HBM3` → `h100 80gb hbm3`).
fn model_words(model: &str) -> Vec<String> {
    model
        .to_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty() && *word != "nvidia")
        .map(str::to_string)
        .collect()
}

/// True when every word of the shorter model name is in the longer one, since BMCs and the
/// driver name the same GPU differently (`H100 SXM5 80GB` and `NVIDIA H100 80GB HBM3`).
fn same_model(bmc_model: &str, driver_model: &str) -> bool {
    let (left, right) = (model_words(bmc_model), model_words(driver_model));
    let (short, long) = if left.len() <= right.len() {
        (&left, &right)
    } else {
        (&right, &left)
    };
    !short.is_empty() && short.iter().all(|word| long.contains(word))
}

/// GPU count and models as the driver reports them, against what the BMC reported.
fn gpu_inventory(manifest: &Manifest, probes: &Probes<'_>) -> Finding {
    let observed_groups: Vec<String> = manifest
        .observed
        .gpus
        .iter()
        .map(|group| {
            format!(
                "{} × {}",
                group.count,
                group.model.as_deref().unwrap_or("unknown model")
            )
        })
        .collect();
    let expected = format!("{} GPUs: {}", manifest.observed.gpu_count, observed_groups.join(", "));
    let outcome = match gpu_rows(probes) {
        Ok(rows) => compare_gpus(manifest, &rows),
        Err(outcome) => outcome,
    };
    Finding {
        rule: "inband-gpu-inventory".to_string(),
        status: outcome.status,
        requirement: "The GPUs the driver sees are the GPUs the out-of-band scan saw".to_string(),
        expected,
        observed: outcome.observed,
        parts: Vec::new(),
        evidence: outcome.evidence,
    }
}

fn compare_gpus(manifest: &Manifest, rows: &[GpuRow]) -> Outcome {
    let probe = gpu_query_probe();
    let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
    for row in rows {
        *counts.entry(row.name.as_str()).or_default() += 1;
    }
    let seen: Vec<String> = counts.iter().map(|(name, count)| format!("{count} × {name}")).collect();
    let observed = format!("{} GPUs: {}", rows.len(), seen.join(", "));
    let names: Vec<&str> = counts.keys().copied().collect();
    let evidence_names: Vec<String> = rows.iter().map(|row| row.name.clone()).collect();

    if rows.len() != manifest.observed.gpu_count as usize {
        return Outcome::new(Status::Fail, observed).with(&probe, "name", evidence_names);
    }
    let unmatched: Vec<&str> = manifest
        .observed
        .gpus
        .iter()
        .filter_map(|group| group.model.as_deref())
        .filter(|model| !names.iter().any(|name| same_model(model, name)))
        .collect();
    let outcome = if unmatched.is_empty() {
        Outcome::new(Status::Pass, observed)
    } else {
        // The counts agree, so a differing name is more likely the BMC's spelling than a
        // swapped GPU: a warning for a person to look at.
        Outcome::new(
            Status::Warn,
            format!(
                "{observed}; no driver name matches the BMC's `{}`",
                unmatched.join("`, `")
            ),
        )
    };
    outcome.with(&probe, "name", evidence_names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_match_across_spellings() {
        // Form-factor words the driver does not print still differ, so the count decides.
        assert!(!same_model("H100 SXM5 80GB", "NVIDIA H100 80GB HBM3"));
        assert!(same_model("NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3"));
        assert!(same_model("L40S", "NVIDIA L40S"));
        assert!(!same_model("L40", "NVIDIA L40S"));
    }

    #[test]
    fn version_subject_from_id() {
        assert!(matches!(
            VersionSubject::of("kernel-version"),
            Some(VersionSubject::Kernel)
        ));
        assert!(matches!(
            VersionSubject::of("driver-version"),
            Some(VersionSubject::Driver)
        ));
        assert!(matches!(VersionSubject::of("cuda-version"), Some(VersionSubject::Cuda)));
        assert!(VersionSubject::of("bios-version").is_none());
    }
}
