//! The in-band checker against recorded command outputs of a passing HGX H100 node and a
//! failing L40S node, through the library and the binary, and against this machine's own
//! commands.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use rackcheck::inband::{self, InbandOptions, RecordedRunner, SystemRunner};
use rackcheck::policy::{Finding, Status, Verdict};
use rackcheck::scan::ScanReport;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/inband")
}

fn recorded_options() -> InbandOptions {
    InbandOptions {
        run_fio: true,
        run_dcgm_diag: true,
        working_dir: Some(PathBuf::from("/srv/working")),
        ..InbandOptions::default()
    }
}

/// Runs the checks of `NODE.manifest.json` against the recorded outputs in `NODE/`.
fn run_recorded(node: &str, options: &InbandOptions) -> ScanReport {
    let manifest = inband::load_manifest(&fixtures().join(format!("{node}.manifest.json"))).unwrap();
    inband::run(&manifest, &RecordedRunner::new(fixtures().join(node)), options)
}

fn by_rule(report: &ScanReport) -> BTreeMap<String, Finding> {
    assert_eq!(report.nodes.len(), 1);
    report.nodes[0]
        .findings
        .iter()
        .map(|finding| (finding.rule.clone(), finding.clone()))
        .collect()
}

fn status_of(findings: &BTreeMap<String, Finding>, rule: &str) -> Status {
    findings
        .get(rule)
        .unwrap_or_else(|| panic!("no finding `{rule}`"))
        .status
}

#[test]
fn hgx_node_passes_every_check() {
    let report = run_recorded("hgx-pass", &recorded_options());
    let findings = by_rule(&report);

    for (rule, finding) in &findings {
        assert_eq!(finding.status, Status::Pass, "{rule}: {}", finding.observed);
    }
    assert_eq!(findings.len(), 15);
    assert_eq!(report.nodes[0].verdict, Verdict::Pass);
    assert_eq!(report.nodes[0].hostname, "gpu-r12-07");
}

#[test]
fn l40s_node_fails_the_right_checks() {
    let report = run_recorded("l40s-fail", &recorded_options());
    let findings = by_rule(&report);

    let expected = [
        ("inband-os-release", Status::Pass),
        ("inband-kernel-version", Status::Fail),
        ("inband-driver-version", Status::Fail),
        ("inband-cuda-version", Status::Fail),
        ("inband-persistence-mode", Status::Fail),
        ("inband-gpu-ecc", Status::Pass),
        ("inband-fabric-manager", Status::NotApplicable),
        ("inband-nvlink-topology", Status::NotApplicable),
        ("inband-dcgm-diag", Status::NotApplicable),
        ("inband-fio-boot-seq-read", Status::Fail),
        ("inband-fio-boot-rand-write", Status::Pass),
        ("inband-fio-working-seq-read", Status::Pass),
        ("inband-fio-working-rand-read", Status::Pass),
        ("inband-iommu-off", Status::Fail),
        ("inband-gpu-inventory", Status::Pass),
    ];
    for (rule, status) in expected {
        assert_eq!(
            status_of(&findings, rule),
            status,
            "{rule}: {}",
            findings[rule].observed
        );
    }
    assert_eq!(findings.len(), expected.len());
    assert_eq!(report.nodes[0].verdict, Verdict::Fail);
}

#[test]
fn l40s_failures_name_the_cause() {
    let findings = by_rule(&run_recorded("l40s-fail", &recorded_options()));

    assert_eq!(findings["inband-kernel-version"].observed, "5.15.0-105-generic");
    assert_eq!(findings["inband-driver-version"].observed, "535.161.08");
    let persistence = &findings["inband-persistence-mode"].observed;
    assert!(persistence.contains("GPU 1 "), "{persistence}");
    assert!(persistence.contains("GPU 3 "), "{persistence}");
    assert!(!persistence.contains("GPU 0 "), "{persistence}");
    assert_eq!(findings["inband-fio-boot-seq-read"].observed, "1405 MB/s");
    assert!(findings["inband-iommu-off"].observed.contains("dmar0"));
}

#[test]
fn fio_and_dcgm_unknown_without_flags() {
    let options = InbandOptions {
        working_dir: Some(PathBuf::from("/srv/working")),
        ..InbandOptions::default()
    };
    let findings = by_rule(&run_recorded("hgx-pass", &options));

    for rule in [
        "inband-fio-boot-seq-read",
        "inband-fio-working-rand-read",
        "inband-dcgm-diag",
    ] {
        assert_eq!(status_of(&findings, rule), Status::Unknown, "{rule}");
    }
    assert!(findings["inband-fio-boot-seq-read"].observed.contains("run with --fio"));
    assert!(findings["inband-dcgm-diag"].observed.contains("run with --dcgm-diag"));
    assert_eq!(status_of(&findings, "inband-kernel-version"), Status::Pass);
}

#[test]
fn working_fio_unknown_without_folder() {
    let options = InbandOptions {
        run_fio: true,
        ..InbandOptions::default()
    };
    let findings = by_rule(&run_recorded("hgx-pass", &options));

    assert_eq!(status_of(&findings, "inband-fio-working-seq-read"), Status::Unknown);
    assert!(
        findings["inband-fio-working-seq-read"]
            .observed
            .contains("--working-dir")
    );
    assert_eq!(status_of(&findings, "inband-fio-boot-seq-read"), Status::Pass);
}

#[test]
fn missing_outputs_are_unknown_never_pass() {
    let empty = tempfile::tempdir().unwrap();
    let manifest = inband::load_manifest(&fixtures().join("hgx-pass.manifest.json")).unwrap();
    let report = inband::run(&manifest, &RecordedRunner::new(empty.path()), &recorded_options());
    let findings = by_rule(&report);

    for (rule, finding) in &findings {
        assert_eq!(finding.status, Status::Unknown, "{rule}: {}", finding.observed);
    }
    assert_eq!(findings["inband-driver-version"].observed, "nvidia-smi not found");
    assert_eq!(report.nodes[0].verdict, Verdict::Unknown);
}

#[test]
fn iommu_passthrough_warns() {
    let folder = tempfile::tempdir().unwrap();
    let source = fixtures().join("l40s-fail");
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, folder.path().join(path.file_name().unwrap())).unwrap();
    }
    std::fs::write(
        folder.path().join("proc-cmdline.txt"),
        "BOOT_IMAGE=/vmlinuz-6.5.0-35-generic root=/dev/md0 ro iommu=pt\n",
    )
    .unwrap();
    let manifest = inband::load_manifest(&fixtures().join("l40s-fail.manifest.json")).unwrap();
    let findings = by_rule(&inband::run(
        &manifest,
        &RecordedRunner::new(folder.path()),
        &recorded_options(),
    ));

    assert_eq!(status_of(&findings, "inband-iommu-off"), Status::Warn);
    assert!(findings["inband-iommu-off"].observed.contains("iommu=pt"));
}

#[test]
fn invalid_manifest_is_an_error() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("manifest.json");
    std::fs::write(&path, "{\"schema_version\": 1}").unwrap();

    let err = inband::load_manifest(&path).unwrap_err();
    assert!(err.to_string().starts_with("invalid manifest"), "{err}");
}

fn rackcheck_inband(node: &str, format: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rackcheck"))
        .arg("inband")
        .arg("--manifest")
        .arg(fixtures().join(format!("{node}.manifest.json")))
        .arg("--recorded")
        .arg(fixtures().join(node))
        .args(["--working-dir", "/srv/working", "--format", format])
        .output()
        .unwrap()
}

#[test]
fn binary_recorded_pass_exits_zero() {
    let output = rackcheck_inband("hgx-pass", "json");
    let report: ScanReport = serde_json::from_slice(&output.stdout).unwrap();

    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(report.nodes[0].verdict, Verdict::Pass);
}

#[test]
fn binary_recorded_fail_exits_one() {
    let output = rackcheck_inband("l40s-fail", "json");
    let report: ScanReport = serde_json::from_slice(&output.stdout).unwrap();

    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(report.nodes[0].verdict, Verdict::Fail);
}

#[test]
fn binary_writes_every_format() {
    for format in ["table", "json", "junit", "csv", "html"] {
        let output = rackcheck_inband("l40s-fail", format);
        let text = String::from_utf8_lossy(&output.stdout);

        assert_eq!(output.status.code(), Some(1), "{format}");
        assert!(text.contains("inband-kernel-version"), "{format}: {text}");
    }
}

#[test]
fn binary_missing_manifest_exits_two() {
    let output = Command::new(env!("CARGO_BIN_EXE_rackcheck"))
        .args(["inband", "--manifest", "/nonexistent/manifest.json"])
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read the manifest"));
}

/// Runs the checks on this machine. Which tools exist differs by machine, so the test only
/// asserts what is true everywhere: nothing panics, files that exist are judged, and a check
/// whose tool is missing is unknown with the tool's name.
#[test]
fn real_commands_give_sensible_statuses() {
    let manifest = inband::load_manifest(&fixtures().join("hgx-pass.manifest.json")).unwrap();
    let findings = by_rule(&inband::run(&manifest, &SystemRunner, &InbandOptions::default()));

    if Path::new("/etc/os-release").exists() {
        assert_ne!(status_of(&findings, "inband-os-release"), Status::Unknown);
    }
    assert_ne!(
        status_of(&findings, "inband-kernel-version"),
        Status::Unknown,
        "uname -r"
    );
    let nvidia_smi_installed = Command::new("nvidia-smi").arg("-L").output().is_ok();
    if !nvidia_smi_installed {
        for rule in [
            "inband-driver-version",
            "inband-cuda-version",
            "inband-persistence-mode",
            "inband-gpu-inventory",
        ] {
            assert_eq!(status_of(&findings, rule), Status::Unknown, "{rule}");
            assert_eq!(findings[rule].observed, "nvidia-smi not found", "{rule}");
        }
    }
    assert_eq!(status_of(&findings, "inband-fio-boot-seq-read"), Status::Unknown);
    assert_eq!(status_of(&findings, "inband-dcgm-diag"), Status::Unknown);
}
