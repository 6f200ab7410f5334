//! Parsers for the output of the commands and files the in-band checks read: `/etc/os-release`,
//! `uname -r`, `nvidia-smi` (plain, CSV query, `topo -m`, `-q`), `dcgmi diag` and fio's JSON.
//! They do no I/O, so each one is tested on recorded text.

use std::cmp::Ordering;
use std::collections::BTreeMap;

/// Parses `/etc/os-release` (`KEY=value` lines, values optionally quoted) into a map.
pub fn os_release(text: &str) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let unquoted = value
            .strip_prefix('"')
            .and_then(|rest| rest.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|rest| rest.strip_suffix('\'')))
            .unwrap_or(value);
        fields.insert(key.trim().to_string(), unquoted.to_string());
    }
    fields
}

/// A version as numeric fields: `6.5.0-15` is `[6, 5, 0, 15]`, `550.54.15` is `[550, 54, 15]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version(pub Vec<u64>);

impl Version {
    /// Parses the leading dotted or dashed numeric fields of `text`, stopping at the first
    /// field that is not a number (`6.5.0-15-generic` stops at `generic`). Returns `None`
    /// when `text` does not start with a number.
    pub fn parse(text: &str) -> Option<Version> {
        let mut fields = Vec::new();
        for field in text.trim().split(['.', '-']) {
            match field.parse::<u64>() {
                Ok(number) => fields.push(number),
                Err(_) => break,
            }
        }
        if fields.is_empty() { None } else { Some(Version(fields)) }
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    /// Compares field by field; a missing field counts as 0, so `12.4` equals `12.4.0`.
    fn cmp(&self, other: &Self) -> Ordering {
        let length = self.0.len().max(other.0.len());
        (0..length)
            .map(|i| {
                let left = self.0.get(i).copied().unwrap_or(0);
                let right = other.0.get(i).copied().unwrap_or(0);
                left.cmp(&right)
            })
            .find(|ordering| ordering.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

/// A kernel release as `uname -r` prints it (`6.5.0-15-generic`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelRelease {
    pub version: Version,
    /// The flavour after the version (`generic`, `lowlatency`, `oem`); empty when there is none.
    pub flavour: String,
    /// True for a release candidate (`6.8.0-rc3`).
    pub release_candidate: bool,
}

/// Parses `uname -r` output; `None` when it does not start with a version.
pub fn kernel_release(text: &str) -> Option<KernelRelease> {
    let text = text.trim();
    let version = Version::parse(text)?;
    let release_candidate = text.split(['.', '-']).any(|field| field.starts_with("rc"));
    let flavour = text
        .split('-')
        .skip(1)
        .filter(|part| part.parse::<u64>().is_err() && !part.starts_with("rc"))
        .collect::<Vec<_>>()
        .join("-");
    Some(KernelRelease {
        version,
        flavour,
        release_candidate,
    })
}

/// Finds the driver-supported CUDA version in the header of plain `nvidia-smi` output
/// (`| NVIDIA-SMI 550.54.15   Driver Version: 550.54.15   CUDA Version: 12.4 |`).
pub fn cuda_version(nvidia_smi: &str) -> Option<String> {
    let (_, rest) = nvidia_smi.split_once("CUDA Version:")?;
    let version = rest.split_whitespace().next()?;
    Version::parse(version).map(|_| version.to_string())
}

/// One GPU as `nvidia-smi --query-gpu=index,name,pci.bus_id,memory.total,persistence_mode,`
/// `ecc.mode.current,driver_version --format=csv,noheader,nounits` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuRow {
    pub index: String,
    pub name: String,
    pub bus_id: String,
    /// `memory.total` in MiB; `None` when nvidia-smi printed `[N/A]`.
    pub memory_mib: Option<u64>,
    /// `Enabled` or `Disabled`.
    pub persistence_mode: String,
    /// `Enabled`, `Disabled`, or `[N/A]` on GPUs without ECC.
    pub ecc_mode: String,
    pub driver_version: String,
}

/// The `--query-gpu` fields [`gpu_rows`] expects, in order.
pub const GPU_QUERY_FIELDS: &str =
    "index,name,pci.bus_id,memory.total,persistence_mode,ecc.mode.current,driver_version";

/// Parses the CSV rows of the GPU query. Returns the line that does not have the seven
/// fields as the error, so the finding can show it.
pub fn gpu_rows(text: &str) -> Result<Vec<GpuRow>, String> {
    let mut rows = Vec::new();
    for line in text.lines().map(str::trim).filter(|line| !line.is_empty()) {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [index, name, bus_id, memory, persistence, ecc, driver] = fields[..] else {
            return Err(line.to_string());
        };
        rows.push(GpuRow {
            index: index.to_string(),
            name: name.to_string(),
            bus_id: bus_id.to_string(),
            memory_mib: memory.parse().ok(),
            persistence_mode: persistence.to_string(),
            ecc_mode: ecc.to_string(),
            driver_version: driver.to_string(),
        });
    }
    Ok(rows)
}

/// Reads the GPU-to-GPU cells of `nvidia-smi topo -m`, keyed by (row GPU, column GPU), and
/// skips the diagonal (`X`). Cells are `NV18`, `PIX`, `SYS` and so on.
pub fn gpu_topology(text: &str) -> BTreeMap<(String, String), String> {
    let mut cells = BTreeMap::new();
    let mut lines = text.lines().filter(|line| !line.trim().is_empty());
    let Some(header) = lines.next() else {
        return cells;
    };
    let columns: Vec<&str> = header
        .split_whitespace()
        .take_while(|name| is_gpu_label(name))
        .collect();
    for line in lines {
        let mut fields = line.split_whitespace();
        let Some(row) = fields.next().filter(|name| is_gpu_label(name)) else {
            continue;
        };
        for (column, cell) in columns.iter().zip(fields) {
            if *column != row {
                cells.insert((row.to_string(), column.to_string()), cell.to_string());
            }
        }
    }
    cells
}

fn is_gpu_label(name: &str) -> bool {
    name.strip_prefix("GPU")
        .is_some_and(|index| !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()))
}

/// Reads the Fabric section of `nvidia-smi -q` as one (`State`, `Status`) entry per GPU, such
/// as (`Completed`, `Success`) on a Hopper GPU whose NVSwitch fabric is up.
pub fn fabric_states(text: &str) -> Vec<(String, String)> {
    let mut states = Vec::new();
    let mut lines = text.lines().map(str::trim).peekable();
    while let Some(line) = lines.next() {
        if line != "Fabric" {
            continue;
        }
        let mut state = String::new();
        let mut status = String::new();
        while let Some((key, value)) = lines.peek().and_then(|next| next.split_once(':')) {
            match key.trim() {
                "State" => state = value.trim().to_string(),
                "Status" => status = value.trim().to_string(),
                _ => {}
            }
            lines.next();
        }
        states.push((state, status));
    }
    states
}

/// Reads the test results of `dcgmi diag` as (test name, result), such as (`Memory`, `Pass`),
/// from its table rows (`| Memory    | Pass    |`). Header rows and `Skip` rows are kept as
/// printed, so the caller decides what passes.
pub fn dcgm_results(text: &str) -> Vec<(String, String)> {
    const RESULTS: [&str; 4] = ["Pass", "Fail", "Skip", "Warn"];
    let mut results = Vec::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).filter(|cell| !cell.is_empty()).collect();
        let [name, result] = cells[..] else {
            continue;
        };
        let first_word = result.split_whitespace().next().unwrap_or("");
        if RESULTS.contains(&first_word) {
            results.push((name.to_string(), result.to_string()));
        }
    }
    results
}

/// Bandwidth and IOPS of one fio run, summed over the jobs fio reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FioResult {
    /// Bandwidth in MB/s (10^6 bytes per second).
    pub mb_s: f64,
    pub iops: f64,
}

/// Reads the `read` or `write` side (`direction`) of `fio --output-format=json`. Uses
/// `bw_bytes` (bytes per second) where present, else `bw` (KiB per second).
pub fn fio_result(text: &str, direction: &str) -> Result<FioResult, String> {
    let json_start = text.find('{').ok_or("no JSON object in the fio output")?;
    let document: serde_json::Value =
        serde_json::from_str(&text[json_start..]).map_err(|err| format!("invalid fio JSON: {err}"))?;
    let jobs = document["jobs"]
        .as_array()
        .filter(|jobs| !jobs.is_empty())
        .ok_or("no jobs in the fio output")?;
    let mut total = FioResult { mb_s: 0.0, iops: 0.0 };
    for job in jobs {
        let side = &job[direction];
        let bytes_per_second = side["bw_bytes"]
            .as_f64()
            .or_else(|| side["bw"].as_f64().map(|kib| kib * 1024.0))
            .ok_or_else(|| format!("no `{direction}` bandwidth in the fio output"))?;
        total.mb_s += bytes_per_second / 1e6;
        total.iops += side["iops"].as_f64().unwrap_or(0.0);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_release_generic() {
        let release = kernel_release("6.5.0-15-generic\n").unwrap();
        assert_eq!(release.version, Version(vec![6, 5, 0, 15]));
        assert_eq!(release.flavour, "generic");
        assert!(!release.release_candidate);
    }

    #[test]
    fn kernel_release_candidate() {
        let release = kernel_release("6.8.0-rc3-generic").unwrap();
        assert!(release.release_candidate);
        assert_eq!(release.flavour, "generic");
    }

    #[test]
    fn version_ordering() {
        let minimum = Version::parse("6.5.0-15").unwrap();
        assert!(Version::parse("6.5.0-14-generic").unwrap() < minimum);
        assert!(Version::parse("6.5.0-15-generic").unwrap() >= minimum);
        assert!(Version::parse("6.8.0-40-generic").unwrap() > minimum);
        assert_eq!(Version::parse("12.4"), Some(Version(vec![12, 4])));
        assert_eq!(
            Version::parse("12.4").unwrap().cmp(&Version::parse("12.4.0").unwrap()),
            Ordering::Equal
        );
        assert_eq!(Version::parse("generic"), None);
    }

    #[test]
    fn os_release_quotes() {
        let fields = os_release("NAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nID=ubuntu\n# comment\n");
        assert_eq!(fields["ID"], "ubuntu");
        assert_eq!(fields["VERSION_ID"], "22.04");
        assert_eq!(fields["NAME"], "Ubuntu");
    }

    #[test]
    fn cuda_version_from_header() {
        let header = "| NVIDIA-SMI 550.54.15              Driver Version: 550.54.15      CUDA Version: 12.4     |";
        assert_eq!(cuda_version(header).as_deref(), Some("12.4"));
        assert_eq!(cuda_version("No devices were found"), None);
    }

    #[test]
    fn gpu_rows_reject_short_line() {
        assert_eq!(gpu_rows("0, NVIDIA L40S, 46068").unwrap_err(), "0, NVIDIA L40S, 46068");
    }

    #[test]
    fn topology_skips_diagonal_and_nics() {
        let text = "\tGPU0\tGPU1\tNIC0\tCPU Affinity\n\
                    GPU0\t X \tNV18\tPXB\t0-55\n\
                    GPU1\tNV18\t X \tSYS\t0-55\n\
                    NIC0\tPXB\tSYS\t X \n";
        let cells = gpu_topology(text);
        assert_eq!(cells.len(), 2);
        assert_eq!(cells[&("GPU0".to_string(), "GPU1".to_string())], "NV18");
    }

    #[test]
    fn fio_prefers_bw_bytes() {
        let text = r#"{"jobs":[{"read":{"bw":1000,"bw_bytes":2048000,"iops":2.0}}]}"#;
        let result = fio_result(text, "read").unwrap();
        assert!((result.mb_s - 2.048).abs() < 1e-9);
        assert!((result.iops - 2.0).abs() < 1e-9);
    }
}
