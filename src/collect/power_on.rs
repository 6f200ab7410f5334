//! Hosts whose BMC inventory cannot be trusted because the host is off or has not finished
//! POST, and the `--power-on` cycle that powers such a host on for a second read.
//!
//! Many BMCs fill the processor, memory and PCIe inventory only while the host runs its
//! POST, so a host that is off, or that has not finished POST since its last hardware
//! change, shows empty or stale lists. [`inventory_unreliable`] detects that from the
//! facts, and [`mark_unknown`] turns the inventory rules' findings into `unknown` with the
//! reason. The power-on cycle powers the host on, polls until POST has finished, and
//! returns the host to the power state it was found in.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::facts::NodeFacts;
use crate::handoff::pxe::{read_action_info, reset_types};
use crate::policy::{Finding, Status};
use crate::redfish::{Fetch, Session, members, odata_id};

/// Rule id prefixes of the rules that judge the processor, memory, GPU, PCIe and NIC
/// inventory, which a BMC may leave empty or stale until POST.
const INVENTORY_RULE_PREFIXES: &[&str] = &["cpu-", "gpu-", "dimm-", "memory-", "nic-"];

/// `BootProgress/LastState` values that mean the host has finished POST (Redfish
/// BootProgressTypes, ComputerSystem schema v1.13).
const POST_DONE_STATES: &[&str] = &[
    "SystemHardwareInitializationComplete",
    "SetupEntered",
    "OSBootStarted",
    "OSRunning",
];

/// Reset types that power a host on, in order of preference.
const POWER_ON_TYPES: &[&str] = &["On", "ForceOn", "PushPowerButton"];

/// Settings of the `--power-on` cycle.
#[derive(Debug, Clone)]
pub struct PowerOnOptions {
    /// Maximum wait for POST to finish after the power-on.
    pub timeout: Duration,
    /// Time between two reads of the system while waiting.
    pub poll_interval: Duration,
    /// Maximum wait for a graceful shutdown before the host is forced off.
    pub shutdown_timeout: Duration,
}

impl Default for PowerOnOptions {
    fn default() -> Self {
        // NOTE: POST of a large GPU server commonly takes several minutes; 10 minutes is an
        // estimate with margin, not a measurement.
        PowerOnOptions {
            timeout: Duration::from_secs(600),
            poll_interval: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(120),
        }
    }
}

/// Record of the `--power-on` cycle on one node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PowerOnResult {
    /// The power state the host was found in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_state: Option<String>,
    /// The reset type sent to power the host on; `None` when none was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_on: Option<String>,
    /// True when POST finished within the timeout and the inventory was read again.
    pub reread: bool,
    /// Time from the power-on until POST finished or the wait ended, in milliseconds.
    pub waited_ms: u64,
    /// The reset types sent to return the host to its original state, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restore: Vec<String>,
    /// The power state read after the restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_state: Option<String>,
    /// Reason a step failed or was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Returns why the facts' inventory cannot be trusted, or `None` when the host has finished
/// POST or nothing shows otherwise.
///
/// A host that is off or changing power state is always suspect. A host that is on but
/// reports a `BootProgress` before the end of POST is suspect only when it also reports no
/// processors and no DIMMs, since some BMCs never update `BootProgress`.
pub fn inventory_unreliable(facts: &NodeFacts) -> Option<String> {
    let power = facts.system.power_state.as_deref();
    if let Some(state @ ("Off" | "PoweringOn" | "PoweringOff")) = power {
        return Some(format!(
            "host power state is {state}; the BMC inventory may be empty or stale until the host has finished POST"
        ));
    }
    let progress = facts.system.boot_progress.as_deref()?;
    let in_post = !POST_DONE_STATES.contains(&progress) && progress != "OEM";
    if in_post && facts.cpus.is_empty() && facts.dimms.is_empty() {
        return Some(format!(
            "host has not finished POST (BootProgress {progress}) and the BMC lists no processors or DIMMs; the inventory may be empty or stale"
        ));
    }
    None
}

/// Turns the findings of inventory rules into `unknown`, prefixing `reason` to what was
/// observed. Findings that are in-band or not applicable stay as they are.
pub fn mark_unknown(findings: &mut [Finding], reason: &str) {
    for finding in findings.iter_mut() {
        let inventory_rule = INVENTORY_RULE_PREFIXES
            .iter()
            .any(|prefix| finding.rule.starts_with(prefix));
        if !inventory_rule || matches!(finding.status, Status::InBand | Status::NotApplicable) {
            continue;
        }
        finding.status = Status::Unknown;
        finding.observed = format!("{reason} (read: {})", finding.observed);
    }
}

/// Powers the system at `system_uri` on and waits until POST has finished or
/// `options.timeout` passes. Records the reset type and the wait in `result`.
///
/// Returns an error message when the power-on could not be sent or POST did not finish.
pub async fn power_on_and_wait(
    session: &Session,
    system_uri: &str,
    options: &PowerOnOptions,
    result: &mut PowerOnResult,
) -> Result<(), String> {
    let system = session
        .get(system_uri)
        .await
        .map_err(|err| format!("failed to read the system: {err}"))?;
    result.original_state = text(&system, "/PowerState");
    let reset_type = choose_reset(session, &system, POWER_ON_TYPES).await?;
    post_reset(session, &system, &reset_type).await?;
    result.power_on = Some(reset_type);

    let started = tokio::time::Instant::now();
    let outcome = wait_for_post(session, system_uri, options).await;
    result.waited_ms = started.elapsed().as_millis() as u64;
    outcome
}

/// Polls the system until it is on and has finished POST. Without `BootProgress`, POST
/// counts as finished once the processor collection lists the same non-zero number of
/// members on two reads in a row.
async fn wait_for_post(session: &Session, system_uri: &str, options: &PowerOnOptions) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + options.timeout;
    let mut last_count = None;
    loop {
        tokio::time::sleep(options.poll_interval).await;
        let system = session
            .get(system_uri)
            .await
            .map_err(|err| format!("failed to read the system: {err}"))?;
        if text(&system, "/PowerState").as_deref() == Some("On") {
            match text(&system, "/BootProgress/LastState") {
                Some(progress) if POST_DONE_STATES.contains(&progress.as_str()) => return Ok(()),
                Some(progress) if progress != "None" && progress != "OEM" => {}
                _ => {
                    let count = processor_count(session, &system).await;
                    if count.is_some_and(|count| count > 0) && count == last_count {
                        return Ok(());
                    }
                    last_count = count;
                }
            }
        }
        if tokio::time::Instant::now() + options.poll_interval > deadline {
            return Err(format!(
                "POST did not finish within {}s\nhint: raise --power-on-timeout for slow hosts",
                options.timeout.as_secs_f64()
            ));
        }
    }
}

async fn processor_count(session: &Session, system: &Value) -> Option<usize> {
    let collection = system.get("Processors").and_then(odata_id)?;
    members(session, &collection).await.ok().map(|members| members.len())
}

/// Returns the system at `system_uri` to `original` ("Off" is the only state restored):
/// a graceful shutdown first when the action allows it, then a forced power-off if the
/// host is still on after `options.shutdown_timeout`.
pub async fn restore(
    session: &Session,
    system_uri: &str,
    original: Option<&str>,
    options: &PowerOnOptions,
    result: &mut PowerOnResult,
) -> Result<(), String> {
    if original != Some("Off") {
        // NOTE: PoweringOn and PoweringOff hosts are left on; the state they were moving
        // to is not known.
        return Ok(());
    }
    let system = session
        .get(system_uri)
        .await
        .map_err(|err| format!("failed to read the system: {err}"))?;
    for reset_type in ["GracefulShutdown", "ForceOff"] {
        let Ok(chosen) = choose_reset(session, &system, &[reset_type]).await else {
            continue;
        };
        post_reset(session, &system, &chosen).await?;
        result.restore.push(chosen);
        if wait_for_off(session, system_uri, options, result).await? {
            return Ok(());
        }
    }
    Err(format!(
        "the host is still {} after the restore\nhint: power it off through the BMC",
        result.final_state.as_deref().unwrap_or("in an unknown power state")
    ))
}

/// Polls until the system reports `Off`; returns false when `shutdown_timeout` passes first.
async fn wait_for_off(
    session: &Session,
    system_uri: &str,
    options: &PowerOnOptions,
    result: &mut PowerOnResult,
) -> Result<bool, String> {
    let deadline = tokio::time::Instant::now() + options.shutdown_timeout;
    loop {
        let system = session
            .get(system_uri)
            .await
            .map_err(|err| format!("failed to read the system: {err}"))?;
        result.final_state = text(&system, "/PowerState");
        if result.final_state.as_deref() == Some("Off") {
            return Ok(true);
        }
        if tokio::time::Instant::now() + options.poll_interval > deadline {
            return Ok(false);
        }
        tokio::time::sleep(options.poll_interval).await;
    }
}

/// Returns the first of `preferred` that the system's reset action allows, or any of them
/// when the BMC lists no values.
async fn choose_reset(session: &Session, system: &Value, preferred: &[&str]) -> Result<String, String> {
    let action = system
        .pointer("/Actions/#ComputerSystem.Reset")
        .ok_or("the system has no ComputerSystem.Reset action")?;
    let info = read_action_info(session, system).await;
    let Some(allowed) = reset_types(action, info.as_ref()) else {
        return Ok(preferred[0].to_string());
    };
    preferred
        .iter()
        .find(|value| allowed.iter().any(|allowed| allowed == *value))
        .map(|value| value.to_string())
        .ok_or_else(|| format!("the reset action allows none of {}", preferred.join(", ")))
}

async fn post_reset(session: &Session, system: &Value, reset_type: &str) -> Result<(), String> {
    let target = system
        .pointer("/Actions/#ComputerSystem.Reset/target")
        .and_then(Value::as_str)
        .ok_or("the ComputerSystem.Reset action has no target")?;
    session
        .post(target, &json!({ "ResetType": reset_type }))
        .await
        .map(|_| ())
        .map_err(|err| format!("reset {reset_type} failed: {}", crate::scan::error_chain(&err)))
}

fn text(value: &Value, pointer: &str) -> Option<String> {
    value.pointer(pointer).and_then(Value::as_str).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::SystemInfo;

    fn facts(power: &str, progress: Option<&str>) -> NodeFacts {
        NodeFacts {
            system: SystemInfo {
                power_state: Some(power.into()),
                boot_progress: progress.map(Into::into),
                ..SystemInfo::default()
            },
            ..NodeFacts::default()
        }
    }

    #[test]
    fn powered_off_host_is_unreliable() {
        let reason = inventory_unreliable(&facts("Off", None)).unwrap();
        assert!(reason.contains("power state is Off"), "{reason}");
    }

    #[test]
    fn posted_host_is_reliable() {
        assert_eq!(inventory_unreliable(&facts("On", Some("OSRunning"))), None);
        assert_eq!(inventory_unreliable(&facts("On", None)), None);
    }

    #[test]
    fn host_in_post_without_inventory_is_unreliable() {
        let reason = inventory_unreliable(&facts("On", Some("MemoryInitializationStarted"))).unwrap();
        assert!(reason.contains("MemoryInitializationStarted"), "{reason}");
    }

    #[test]
    fn mark_unknown_touches_inventory_rules_only() {
        let finding = |rule: &str, status| Finding {
            rule: rule.into(),
            status,
            requirement: String::new(),
            expected: String::new(),
            observed: "0 GPUs".into(),
            parts: Vec::new(),
            evidence: Vec::new(),
        };
        let mut findings = vec![
            finding("gpu-count", Status::Fail),
            finding("psu-redundant", Status::Pass),
            finding("dimm-ecc", Status::InBand),
        ];
        mark_unknown(&mut findings, "host is off");
        assert_eq!(findings[0].status, Status::Unknown);
        assert!(findings[0].observed.starts_with("host is off"));
        assert_eq!(findings[1].status, Status::Pass);
        assert_eq!(findings[2].status, Status::InBand);
    }
}
