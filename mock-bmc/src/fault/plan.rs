//! Fault decisions: which rules cover a request, which of them fire, and the delay to add.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng as _};

use super::{Fault, FaultRule, Faults};

/// The request facts that rules look at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestFacts<'a> {
    /// Percent-decoded path without its trailing slash.
    pub path: &'a str,
    /// Whether the raw path ends with `/`.
    pub trailing_slash: bool,
    /// Whether the query has an `$expand` option.
    pub expand: bool,
}

/// The faults to apply to one request.
#[derive(Debug, Default)]
pub(crate) struct Decision<'a> {
    /// Sum of the fired latency rules' delays.
    pub delay: Duration,
    /// The first fired fault that is not latency.
    pub fault: Option<&'a Fault>,
}

/// The rules of one BMC with a request counter per rule.
#[derive(Debug)]
pub(crate) struct FaultPlan {
    seed: u64,
    rules: Vec<(FaultRule, AtomicU64)>,
}

impl FaultPlan {
    pub fn new(faults: &Faults) -> FaultPlan {
        FaultPlan {
            seed: faults.seed,
            rules: faults
                .rules
                .iter()
                .map(|rule| (rule.clone(), AtomicU64::new(0)))
                .collect(),
        }
    }

    /// Counts the request in every rule that covers it and returns the faults that fire.
    pub fn decide(&self, request: RequestFacts<'_>) -> Decision<'_> {
        let mut decision = Decision::default();
        for (index, (rule, counter)) in self.rules.iter().enumerate() {
            if !covers(rule, request) {
                continue;
            }
            let count = counter.fetch_add(1, Ordering::Relaxed);
            let mut rng = StdRng::seed_from_u64(draw_seed(self.seed, index, count));
            if !fires(rule, count, &mut rng) {
                continue;
            }

            match &rule.fault {
                Fault::Latency { ms, jitter_ms } => {
                    let jitter = if *jitter_ms == 0 {
                        0
                    } else {
                        rng.random_range(0..=*jitter_ms)
                    };
                    decision.delay += Duration::from_millis(ms.saturating_add(jitter));
                }
                fault if decision.fault.is_none() => decision.fault = Some(fault),
                _ => {}
            }
        }
        decision
    }
}

/// Returns whether the rule's path covers the request and its fault can apply to it.
fn covers(rule: &FaultRule, request: RequestFacts<'_>) -> bool {
    let path_matches = rule
        .path
        .as_deref()
        .is_none_or(|pattern| path_matches(pattern, request.path));
    let applies = match rule.fault {
        Fault::RedirectTrailingSlash { .. } => !request.trailing_slash,
        Fault::ExpandDropsProperties { .. } => request.expand,
        _ => true,
    };
    path_matches && applies
}

/// Returns whether the rule fires on its `count`th covered request, counted from 0.
fn fires(rule: &FaultRule, count: u64, rng: &mut StdRng) -> bool {
    if let Some(share) = rule.share {
        return rng.random::<f64>() < share;
    }
    if let Some(n) = rule.every_nth {
        return (count + 1).is_multiple_of(n.max(1));
    }
    if let Some(n) = rule.first_n {
        return count < n;
    }
    true
}

/// Mixes the BMC's seed, the rule index and the rule's request count (SplitMix64 finalizer),
/// so each draw depends on nothing else, whatever order other rules see requests in.
fn draw_seed(seed: u64, rule_index: usize, count: u64) -> u64 {
    let mut z = seed
        .wrapping_add((rule_index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_add(count.wrapping_mul(0xd1b5_4a32_d192_ed03));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Matches a rule path: a glob when it contains `*`, otherwise a prefix on segment borders.
pub(crate) fn path_matches(pattern: &str, path: &str) -> bool {
    let pattern = crate::mockup::canonical(pattern);
    if pattern.contains('*') {
        return glob_matches(pattern.as_bytes(), path.as_bytes());
    }
    if pattern == "/" {
        return true;
    }
    path.strip_prefix(pattern)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Matches `*` (any run of bytes without `/`) and `**` (any run of bytes) by backtracking.
fn glob_matches(pattern: &[u8], text: &[u8]) -> bool {
    match pattern {
        [] => text.is_empty(),
        [b'*', b'*', rest @ ..] => (0..=text.len()).any(|skip| glob_matches(rest, &text[skip..])),
        [b'*', rest @ ..] => {
            let segment_end = text.iter().position(|byte| *byte == b'/').unwrap_or(text.len());
            (0..=segment_end).any(|skip| glob_matches(rest, &text[skip..]))
        }
        [first, rest @ ..] => text.first() == Some(first) && glob_matches(rest, &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(path: &str) -> RequestFacts<'_> {
        RequestFacts {
            path,
            trailing_slash: false,
            expand: false,
        }
    }

    #[test]
    fn path_prefix_stops_at_segment_borders() {
        assert!(path_matches("/redfish/v1/Systems", "/redfish/v1/Systems"));
        assert!(path_matches("/redfish/v1/Systems/", "/redfish/v1/Systems/1"));
        assert!(!path_matches("/redfish/v1/Systems", "/redfish/v1/SystemsX"));
        assert!(path_matches("/", "/redfish/v1"));
    }

    #[test]
    fn path_glob_stars() {
        assert!(path_matches(
            "/redfish/v1/Chassis/*/Power*",
            "/redfish/v1/Chassis/1/PowerSubsystem"
        ));
        assert!(!path_matches("/redfish/v1/Chassis/*", "/redfish/v1/Chassis/1/Power"));
        assert!(path_matches("/redfish/v1/Chassis/**", "/redfish/v1/Chassis/1/Power"));
        assert!(path_matches("/redfish/**/DIMM*", "/redfish/v1/Systems/1/Memory/DIMM3"));
        assert!(!path_matches("/redfish/**/DIMM*", "/redfish/v1/Systems/1/Memory"));
    }

    #[test]
    fn decide_every_nth_and_first_n() {
        let faults = Faults {
            rules: vec![
                FaultRule::always(Fault::Error500 {}).every_nth(3),
                FaultRule::always(Fault::Bom {}).first_n(1),
            ],
            ..Faults::default()
        };
        let plan = FaultPlan::new(&faults);

        let kinds: Vec<Option<&str>> = (0..6)
            .map(|_| plan.decide(request("/redfish/v1")).fault.map(Fault::kind))
            .collect();

        assert_eq!(
            kinds,
            [Some("bom"), None, Some("error_500"), None, None, Some("error_500")]
        );
    }

    #[test]
    fn decide_adds_latency_of_every_fired_rule() {
        let faults = Faults {
            rules: vec![
                FaultRule::always(Fault::Latency { ms: 10, jitter_ms: 0 }),
                FaultRule::always(Fault::Latency { ms: 20, jitter_ms: 5 }),
                FaultRule::always(Fault::Hang {}),
            ],
            ..Faults::default()
        };
        let plan = FaultPlan::new(&faults);

        let decision = plan.decide(request("/redfish/v1"));

        assert!(decision.delay >= Duration::from_millis(30), "{:?}", decision.delay);
        assert!(decision.delay <= Duration::from_millis(35), "{:?}", decision.delay);
        assert_eq!(decision.fault, Some(&Fault::Hang {}));
    }

    #[test]
    fn decide_share_repeats_with_seed() {
        let outcomes = |seed: u64| -> Vec<bool> {
            let faults = Faults {
                seed,
                rules: vec![FaultRule::always(Fault::Error500 {}).with_share(0.5)],
                ..Faults::default()
            };
            let plan = FaultPlan::new(&faults);
            (0..64)
                .map(|_| plan.decide(request("/redfish/v1")).fault.is_some())
                .collect()
        };

        let first = outcomes(1);

        assert_eq!(first, outcomes(1));
        assert_ne!(first, outcomes(2));
        let fired = first.iter().filter(|fired| **fired).count();
        assert!((16..=48).contains(&fired), "{fired} of 64 fired at share 0.5");
    }

    #[test]
    fn decide_skips_rules_that_cannot_apply() {
        let faults = Faults {
            rules: vec![
                FaultRule::always(Fault::RedirectTrailingSlash { status: 308 }),
                FaultRule::always(Fault::ExpandDropsProperties { properties: vec![] }),
            ],
            ..Faults::default()
        };
        let plan = FaultPlan::new(&faults);
        let with_slash = RequestFacts {
            trailing_slash: true,
            ..request("/redfish/v1")
        };
        let expanded = RequestFacts {
            trailing_slash: true,
            expand: true,
            ..request("/redfish/v1")
        };

        assert_eq!(plan.decide(with_slash).fault, None);
        assert_eq!(
            plan.decide(expanded).fault.map(Fault::kind),
            Some("expand_drops_properties")
        );
    }
}
