//! Memory rules: every populated DIMM has ECC.

use super::{Outcome, RuleInfo, Subject, is_absent};
use crate::facts::Dimm;
use crate::policy::{Evidence, Profile, Status};

pub const ECC: RuleInfo = RuleInfo {
    id: "dimm-ecc",
    description: "every populated DIMM supports ECC",
    check: check_ecc,
};

enum Ecc {
    Yes(Vec<Evidence>),
    No(Vec<Evidence>),
    Unknown(Vec<Evidence>),
}

/// Decides ECC from ErrorCorrection, else from the extra bus bits: ECC DIMMs carry 8 (DDR4,
/// 72/64) or 16 (DDR5, 80/64) check bits on top of the data width. Lenovo XCC and AMI-based
/// BMCs omit ErrorCorrection but report both widths.
fn ecc_of(dimm: &Dimm) -> Ecc {
    let correction = Evidence::optional(&dimm.uri, "ErrorCorrection", &dimm.error_correction);
    match dimm.error_correction.as_deref() {
        Some("SingleBitECC" | "MultiBitECC") => return Ecc::Yes(vec![correction]),
        Some("NoECC") => return Ecc::No(vec![correction]),
        _ => {}
    }

    let widths = vec![
        correction,
        Evidence::optional(&dimm.uri, "BusWidthBits", &dimm.bus_width_bits),
        Evidence::optional(&dimm.uri, "DataWidthBits", &dimm.data_width_bits),
    ];
    match (dimm.bus_width_bits, dimm.data_width_bits) {
        (Some(bus), Some(data)) if bus == data + 8 || bus == data + 16 => Ecc::Yes(widths),
        (Some(bus), Some(data)) if bus == data => Ecc::No(widths),
        _ => Ecc::Unknown(widths),
    }
}

fn label(dimm: &Dimm) -> String {
    format!("DIMM {}", dimm.locator.as_deref().unwrap_or(&dimm.id))
}

fn check_ecc(subject: &Subject, _profile: &Profile) -> Outcome {
    let facts = subject.facts;
    let expected = "ErrorCorrection SingleBitECC or MultiBitECC on every populated DIMM";
    let populated: Vec<&Dimm> = facts.dimms.iter().filter(|d| !is_absent(d.state.as_deref())).collect();
    if populated.is_empty() {
        return Outcome::new(Status::Unknown, expected, "no DIMM reported by the BMC");
    }

    let mut without = Vec::new();
    let mut undecided = Vec::new();
    let mut bad_evidence = Vec::new();
    let mut good_evidence = Vec::new();
    for dimm in &populated {
        match ecc_of(dimm) {
            Ecc::Yes(evidence) => good_evidence.extend(evidence),
            Ecc::No(evidence) => {
                let reason = dimm.error_correction.as_deref().unwrap_or("no check bits");
                without.push((label(dimm), format!("{} ({reason})", label(dimm))));
                bad_evidence.extend(evidence);
            }
            Ecc::Unknown(evidence) => {
                undecided.push(label(dimm));
                bad_evidence.extend(evidence);
            }
        }
    }

    if !without.is_empty() {
        let count = without.len();
        let (parts, reasons): (Vec<String>, Vec<String>) = without.into_iter().unzip();
        let observed = format!(
            "{count} of {} DIMMs without ECC: {}",
            populated.len(),
            reasons.join(", ")
        );
        return Outcome::new(Status::Fail, expected, observed)
            .with_parts(parts)
            .with_evidence(bad_evidence);
    }
    if !undecided.is_empty() {
        let observed = format!("no ErrorCorrection or bus widths for {}", undecided.join(", "));
        return Outcome::new(Status::Unknown, expected, observed)
            .with_parts(undecided)
            .with_evidence(bad_evidence);
    }
    let inferred = populated.iter().filter(|dimm| dimm.error_correction.is_none()).count();
    let observed = if inferred == 0 {
        format!("{} DIMMs with ECC", populated.len())
    } else {
        format!(
            "{} DIMMs with ECC ({inferred} without ErrorCorrection, judged by 8 or 16 check bits of BusWidthBits over DataWidthBits)",
            populated.len()
        )
    };
    Outcome::new(Status::Pass, expected, observed).with_evidence(good_evidence)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{run, status};
    use crate::facts::{Dimm, NodeFacts};
    use crate::policy::Status;

    fn dimm(correction: Option<&str>, bus: Option<u32>, data: Option<u32>) -> Dimm {
        Dimm {
            uri: "/redfish/v1/Systems/1/Memory/DIMM_A1".into(),
            id: "DIMM_A1".into(),
            error_correction: correction.map(Into::into),
            bus_width_bits: bus,
            data_width_bits: data,
            state: Some("Enabled".into()),
            ..Dimm::default()
        }
    }

    fn node(dimms: Vec<Dimm>) -> NodeFacts {
        NodeFacts {
            dimms,
            ..NodeFacts::default()
        }
    }

    #[test]
    fn multibit_ecc_passes() {
        assert_eq!(
            status("dimm-ecc", &node(vec![dimm(Some("MultiBitECC"), None, None)])),
            Status::Pass
        );
    }

    #[test]
    fn one_noecc_dimm_fails_and_is_named() {
        let mut bad = dimm(Some("NoECC"), Some(64), Some(64));
        bad.locator = Some("B3".into());
        let outcome = run("dimm-ecc", &node(vec![dimm(Some("MultiBitECC"), None, None), bad]));
        assert_eq!(outcome.status, Status::Fail);
        assert_eq!(outcome.parts, vec!["DIMM B3".to_string()]);
    }

    #[test]
    fn ddr5_widths_decide_when_correction_missing() {
        assert_eq!(
            status("dimm-ecc", &node(vec![dimm(None, Some(80), Some(64))])),
            Status::Pass
        );
    }

    #[test]
    fn equal_widths_mean_no_ecc() {
        assert_eq!(
            status("dimm-ecc", &node(vec![dimm(None, Some(64), Some(64))])),
            Status::Fail
        );
    }

    #[test]
    fn nothing_reported_is_unknown() {
        assert_eq!(status("dimm-ecc", &node(vec![dimm(None, None, None)])), Status::Unknown);
    }

    #[test]
    fn absent_slots_are_skipped() {
        let mut empty = dimm(None, None, None);
        empty.state = Some("Absent".into());
        assert_eq!(
            status("dimm-ecc", &node(vec![dimm(Some("SingleBitECC"), None, None), empty])),
            Status::Pass
        );
    }
}
