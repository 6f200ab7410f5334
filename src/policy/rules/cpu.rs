//! CPU rules: enough physical cores for the GPUs, fast enough clocks on GPU servers, and the
//! listed models on storage and metadata servers.
//!
//! Clocks come from the CPU table by model, never from MaxSpeedMHz: Dell iDRAC9 reports 4000
//! for a Xeon Gold 6354 whose boost is 3.6 GHz, and HPE iLO 5 reports 4100 for an EPYC 7763
//! whose boost is 3.5 GHz.

use super::{Outcome, RuleInfo, Subject};
use crate::facts::Cpu;
use crate::inventory::Role;
use crate::policy::cpu_models::model_in;
use crate::policy::{Evidence, Profile, Status};

pub const CLOCK: RuleInfo = RuleInfo {
    id: "cpu-clock",
    description: "CPU base and boost clocks meet the profile's minimums",
    areas: &["/Processors"],
    check: check_clock,
};

pub const MODEL: RuleInfo = RuleInfo {
    id: "cpu-model",
    description: "storage and metadata servers have one of the CPU models their role lists",
    areas: &["/Processors"],
    check: check_model,
};

fn label(cpu: &Cpu) -> String {
    format!("CPU {}", cpu.socket.as_deref().unwrap_or(&cpu.id))
}

/// The distinct models of the host CPUs, or the labels of CPUs without a model.
fn models(cpus: &[Cpu]) -> Result<Vec<&str>, Vec<String>> {
    let missing: Vec<String> = cpus.iter().filter(|cpu| cpu.model.is_none()).map(label).collect();
    if !missing.is_empty() {
        return Err(missing);
    }
    let mut models: Vec<&str> = cpus
        .iter()
        .filter_map(|cpu| cpu.model.as_deref())
        .map(str::trim)
        .collect();
    models.dedup();
    Ok(models)
}

fn model_evidence(cpus: &[Cpu]) -> Vec<Evidence> {
    cpus.iter()
        .map(|cpu| Evidence::optional(&cpu.uri, "Model", &cpu.model))
        .collect()
}

fn check_clock(subject: &Subject, profile: &Profile) -> Outcome {
    let limits = &profile.cpu;
    let expected = format!(
        "base >= {} MHz and boost >= {} MHz, by model from the CPU table",
        limits.base_min_mhz, limits.boost_min_mhz
    );
    let cpus = &subject.facts.cpus;
    let evidence = model_evidence(cpus);
    if cpus.is_empty() {
        return Outcome::new(Status::Unknown, expected, "no CPU reported by the BMC");
    }
    let models = match models(cpus) {
        Ok(models) => models,
        Err(missing) => {
            let observed = format!("no Model for {}", missing.join(", "));
            return Outcome::new(Status::Unknown, expected, observed)
                .with_parts(missing)
                .with_evidence(evidence);
        }
    };

    let mut verdicts = Vec::new();
    let mut status = Status::Pass;
    for model in models {
        let Some(row) = profile.cpu_table.find(model) else {
            let observed = format!("`{model}` is not in the CPU table, so its clocks are unknown");
            return Outcome::new(Status::Unknown, expected, observed).with_evidence(evidence);
        };
        let base_ok = row.base_mhz >= limits.base_min_mhz;
        let boost_ok = row.boost_mhz >= limits.boost_min_mhz;
        let clocks = format!("{}: base {} MHz, boost {} MHz", row.model, row.base_mhz, row.boost_mhz);
        let recommended = if model_in(model, &limits.recommended_models) {
            ", a CPU the document recommends"
        } else {
            ""
        };
        if base_ok && boost_ok {
            verdicts.push(format!("{clocks}{recommended}"));
            continue;
        }
        if model_in(model, &limits.clock_waived_models) {
            verdicts.push(format!(
                "{clocks}: misses the minimums, waived by the profile{recommended}"
            ));
            status = status.max(Status::Warn);
        } else {
            verdicts.push(format!("{clocks}: misses the minimums{recommended}"));
            status = Status::Fail;
        }
    }
    let parts = if status == Status::Fail {
        cpus.iter().map(label).collect()
    } else {
        Vec::new()
    };
    Outcome::new(status, expected, verdicts.join("; "))
        .with_parts(parts)
        .with_evidence(evidence)
}

fn check_model(subject: &Subject, profile: &Profile) -> Outcome {
    let limits = match subject.role {
        Role::Metadata => &profile.metadata_role,
        _ => &profile.storage_role,
    };
    let expected = format!("CPU model one of: {}", limits.cpu_models.join(", "));
    let cpus = &subject.facts.cpus;
    let evidence = model_evidence(cpus);
    if cpus.is_empty() {
        return Outcome::new(Status::Unknown, expected, "no CPU reported by the BMC");
    }
    let models = match models(cpus) {
        Ok(models) => models,
        Err(missing) => {
            let observed = format!("no Model for {}", missing.join(", "));
            return Outcome::new(Status::Unknown, expected, observed)
                .with_parts(missing)
                .with_evidence(evidence);
        }
    };

    let others: Vec<&str> = models
        .iter()
        .copied()
        .filter(|model| !model_in(model, &limits.cpu_models))
        .collect();
    if others.is_empty() {
        return Outcome::new(Status::Pass, expected, models.join(", ")).with_evidence(evidence);
    }
    let parts = cpus.iter().map(label).collect();
    Outcome::new(Status::Fail, expected, format!("not listed: {}", others.join(", ")))
        .with_parts(parts)
        .with_evidence(evidence)
}

pub const CORES_PER_GPU: RuleInfo = RuleInfo {
    id: "cpu-cores-per-gpu",
    description: "physical CPU cores across sockets cover the per-GPU share plus the host's reserve",
    areas: super::gpu::GPU_AREAS,
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
        .map(|cpu| {
            Evidence::optional(
                &cpu.uri,
                if cpu.cores_from_enabled {
                    "TotalEnabledCores"
                } else {
                    "TotalCores"
                },
                &cpu.cores,
            )
        })
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
    use super::super::test_support::{run, run_as, status};
    use crate::facts::{Cpu, Gpu, NodeFacts};
    use crate::inventory::Role;
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

    fn with_models(models: &[Option<&str>]) -> NodeFacts {
        NodeFacts {
            cpus: models
                .iter()
                .map(|model| Cpu {
                    model: model.map(Into::into),
                    ..Cpu::default()
                })
                .collect(),
            ..NodeFacts::default()
        }
    }

    #[test]
    fn fast_epyc_passes_clock() {
        assert_eq!(
            status("cpu-clock", &with_models(&[Some("AMD EPYC 9474F 48-Core Processor")])),
            Status::Pass
        );
    }

    #[test]
    fn slow_xeon_fails_clock() {
        let outcome = run("cpu-clock", &with_models(&[Some("Intel(R) Xeon(R) Platinum 8480+")]));
        assert_eq!(outcome.status, Status::Fail);
        assert!(outcome.observed.contains("base 2000 MHz"), "{}", outcome.observed);
    }

    #[test]
    fn recommended_cpu_is_waived_with_both_verdicts() {
        let outcome = run("cpu-clock", &with_models(&[Some("AMD EPYC 9654 96-Core Processor")]));
        assert_eq!(outcome.status, Status::Warn);
        assert!(
            outcome.observed.contains("misses the minimums, waived"),
            "{}",
            outcome.observed
        );
    }

    #[test]
    fn unlisted_cpu_clock_is_unknown() {
        assert_eq!(
            status("cpu-clock", &with_models(&[Some("Intel(R) Xeon(R) Platinum 8592+")])),
            Status::Unknown
        );
    }

    #[test]
    fn missing_model_clock_is_unknown() {
        assert_eq!(status("cpu-clock", &with_models(&[None])), Status::Unknown);
    }

    #[test]
    fn storage_cpu_model_is_checked() {
        let listed = with_models(&[Some("AMD EPYC 9354P 32-Core Processor")]);
        let other = with_models(&[Some("AMD EPYC 9654 96-Core Processor")]);
        assert_eq!(run_as("cpu-model", &listed, None, Role::Storage).status, Status::Pass);
        assert_eq!(run_as("cpu-model", &other, None, Role::Storage).status, Status::Fail);
        assert_eq!(run_as("cpu-model", &listed, None, Role::Metadata).status, Status::Fail);
        assert_eq!(
            run_as("cpu-model", &with_models(&[None]), None, Role::Storage).status,
            Status::Unknown
        );
    }

    #[test]
    fn no_cpus_is_unknown() {
        assert_eq!(status("cpu-cores-per-gpu", &node(&[], 8)), Status::Unknown);
    }
}
