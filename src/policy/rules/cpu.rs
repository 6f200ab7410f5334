//! CPU rules: enough physical cores for the GPUs.

use super::{Outcome, RuleInfo, Subject};
use crate::policy::{Evidence, Profile, Status};

pub const CORES_PER_GPU: RuleInfo = RuleInfo {
    id: "cpu-cores-per-gpu",
    description: "physical CPU cores across sockets cover the per-GPU share plus the host's reserve",
    check: check_cores,
};

fn check_cores(subject: &Subject, profile: &Profile) -> Outcome {
    let facts = subject.facts;
    let gpus = facts.gpus.len() as u32;
    let required = profile.cpu.cores_per_gpu * gpus + profile.cpu.reserved_cores;
    let expected = format!(
        ">= {required} cores ({} per GPU x {gpus} GPUs + {})",
        profile.cpu.cores_per_gpu, profile.cpu.reserved_cores
    );

    if gpus == 0 {
        return Outcome::new(
            Status::Unknown,
            expected,
            "no GPU reported by the BMC, so the core requirement is unknown",
        );
    }

    let evidence: Vec<Evidence> = facts
        .cpus
        .iter()
        .map(|cpu| Evidence::optional(&cpu.uri, "TotalCores", &cpu.cores))
        .collect();
    if facts.cpus.is_empty() {
        return Outcome::new(Status::Unknown, expected, "no CPU reported by the BMC");
    }

    let missing: Vec<String> = facts
        .cpus
        .iter()
        .filter(|cpu| cpu.cores.is_none())
        .map(|cpu| format!("CPU {}", cpu.id))
        .collect();
    if !missing.is_empty() {
        let observed = format!("no core count for {}", missing.join(", "));
        return Outcome::new(Status::Unknown, expected, observed)
            .with_parts(missing)
            .with_evidence(evidence);
    }

    let total: u32 = facts.cpus.iter().filter_map(|cpu| cpu.cores).sum();
    let observed = format!("{total} cores in {} sockets", facts.cpus.len());
    let status = if total >= required { Status::Pass } else { Status::Fail };
    Outcome::new(status, expected, observed).with_evidence(evidence)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::status;
    use crate::facts::{Cpu, Gpu, NodeFacts};
    use crate::policy::Status;

    fn node(cores: &[Option<u32>], gpus: usize) -> NodeFacts {
        NodeFacts {
            cpus: cores
                .iter()
                .map(|&cores| Cpu {
                    cores,
                    ..Cpu::default()
                })
                .collect(),
            gpus: vec![Gpu::default(); gpus],
            ..NodeFacts::default()
        }
    }

    #[test]
    fn exactly_enough_cores_pass() {
        assert_eq!(
            status("cpu-cores-per-gpu", &node(&[Some(17), Some(17)], 8)),
            Status::Pass
        );
    }

    #[test]
    fn one_core_short_fails() {
        assert_eq!(
            status("cpu-cores-per-gpu", &node(&[Some(16), Some(17)], 8)),
            Status::Fail
        );
    }

    #[test]
    fn missing_core_count_is_unknown() {
        assert_eq!(
            status("cpu-cores-per-gpu", &node(&[Some(56), None], 8)),
            Status::Unknown
        );
    }

    #[test]
    fn no_gpus_is_unknown() {
        assert_eq!(status("cpu-cores-per-gpu", &node(&[Some(64)], 0)), Status::Unknown);
    }

    #[test]
    fn no_cpus_is_unknown() {
        assert_eq!(status("cpu-cores-per-gpu", &node(&[], 8)), Status::Unknown);
    }
}
