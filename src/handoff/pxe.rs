//! The PXE step: a one-time boot override to PXE set through Redfish, then a power action,
//! for a node that passed.
//!
//! The step reads the system first and plans every request from the values the BMC lists.
//! These are the override targets in `BootSourceOverrideTarget@Redfish.AllowableValues`,
//! the boot modes, the `ResetType` values of the `ComputerSystem.Reset` action, and a
//! `@Redfish.Settings` object when the BMC applies system changes through one. A plan that the BMC would reject
//! is not sent at all, so no override is left behind without the reset that consumes it.
//! In dry-run mode the planned requests are returned and nothing is sent.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::redfish::{Fetch, RedfishError, Session, odata_id};

/// Reset types used to boot a powered-off host, in order of preference.
const POWER_ON_TYPES: &[&str] = &["On", "ForceOn", "PushPowerButton"];

/// Reset types used to reboot a running host, in order of preference. A forced restart
/// comes first because the node is about to be reinstalled, and a graceful restart may be
/// ignored by a host without an ACPI-aware OS.
const RESTART_TYPES: &[&str] = &["ForceRestart", "GracefulRestart", "PowerCycle"];

/// Settings of the PXE step.
#[derive(Debug, Clone, Default)]
pub struct PxeOptions {
    /// Plan the requests and report them without sending any write.
    pub dry_run: bool,
}

/// Record of the PXE step on one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PxeResult {
    pub status: PxeStatus,
    /// Reason the step was rejected or failed, or a note about the plan (a boot mode left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The write requests, in order: sent, or planned in dry-run mode.
    #[serde(default)]
    pub requests: Vec<PxeRequest>,
    /// The override the BMC stored, read back after the PATCH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<BootOverride>,
    /// The system's power state read after the reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_state_after: Option<String>,
}

/// Outcome of the PXE step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PxeStatus {
    /// The override was set and the power action accepted.
    Done,
    /// The requests were planned and printed, not sent.
    DryRun,
    /// The BMC does not offer what the step needs (PXE target, a usable reset type), so
    /// nothing was sent.
    Rejected,
    /// A request failed; `requests` shows how far the step got.
    Failed,
}

/// One write request of the step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PxeRequest {
    pub method: String,
    pub uri: String,
    pub body: Value,
    /// HTTP status of the reply; `None` when the request was not sent or failed without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

/// The `Boot` override properties as the BMC reports them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BootOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

impl BootOverride {
    fn from_boot(boot: &Value) -> BootOverride {
        let text = |name: &str| boot.get(name).and_then(Value::as_str).map(str::to_string);
        BootOverride {
            target: text("BootSourceOverrideTarget"),
            enabled: text("BootSourceOverrideEnabled"),
            mode: text("BootSourceOverrideMode"),
        }
    }
}

/// The requests planned for one system.
#[derive(Debug, Clone, PartialEq)]
pub struct PxePlan {
    /// The PATCH of the boot override: to the system, or to its settings object.
    pub patch: PxeRequest,
    /// The POST of the reset action.
    pub reset: PxeRequest,
    /// A note about the plan, such as a boot mode the BMC does not offer.
    pub note: Option<String>,
}

/// Plans the override and the reset for `system`, the ComputerSystem resource at
/// `system_uri`. `action_info` is the reset action's `@Redfish.ActionInfo` resource when the
/// action lists its values only there.
///
/// Returns an error message when the BMC does not list PXE as a target, has no reset
/// action, or allows no reset type that boots the host.
pub fn plan(system_uri: &str, system: &Value, action_info: Option<&Value>) -> Result<PxePlan, String> {
    let boot = system
        .get("Boot")
        .filter(|boot| boot.is_object())
        .ok_or("the system has no Boot object")?;
    if let Some(targets) = allowable(boot, "BootSourceOverrideTarget")
        && !targets.iter().any(|target| target == "Pxe")
    {
        return Err(format!(
            "the BMC does not list Pxe in BootSourceOverrideTarget@Redfish.AllowableValues ({})",
            targets.join(", ")
        ));
    }

    let mut override_body = json!({
        "BootSourceOverrideTarget": "Pxe",
        "BootSourceOverrideEnabled": "Once",
    });
    let mut note = None;
    let modes = allowable(boot, "BootSourceOverrideMode");
    match modes {
        Some(modes) if !modes.iter().any(|mode| mode == "UEFI") => {
            note = Some(format!(
                "BootSourceOverrideMode left unchanged: the BMC lists only {}",
                modes.join(", ")
            ));
        }
        _ if boot.get("BootSourceOverrideMode").is_some() => {
            override_body["BootSourceOverrideMode"] = json!("UEFI");
        }
        _ => note = Some("BootSourceOverrideMode left out: the BMC does not report it".to_string()),
    }

    let patch = patch_request(system_uri, system, override_body);
    let reset = reset_request(system, action_info)?;
    Ok(PxePlan { patch, reset, note })
}

/// Builds the PATCH of the override. A system with `@Redfish.Settings` takes changes
/// through its settings object; the apply time is requested only where the BMC lists it.
fn patch_request(system_uri: &str, system: &Value, override_body: Value) -> PxeRequest {
    let settings = system.get("@Redfish.Settings");
    let settings_object = settings
        .and_then(|settings| settings.get("SettingsObject"))
        .and_then(odata_id);
    let Some(uri) = settings_object else {
        return unsent("PATCH", system_uri, json!({ "Boot": override_body }));
    };

    let mut body = json!({ "Boot": override_body });
    let supported = settings
        .and_then(|settings| settings.get("SupportedApplyTimes"))
        .and_then(Value::as_array)
        .map(|times| times.iter().filter_map(Value::as_str).collect::<Vec<_>>())
        .unwrap_or_default();
    // The reset follows at once, so either apply time puts the override in place before
    // the host boots.
    if let Some(apply_time) = ["OnReset", "Immediate"]
        .into_iter()
        .find(|time| supported.contains(time))
    {
        body["@Redfish.SettingsApplyTime"] = json!({ "ApplyTime": apply_time });
    }
    unsent("PATCH", &uri, body)
}

/// Builds the POST of the reset action: a power-on for a system that is off, else a
/// restart, choosing the first type the action allows.
fn reset_request(system: &Value, action_info: Option<&Value>) -> Result<PxeRequest, String> {
    let action = system
        .pointer("/Actions/#ComputerSystem.Reset")
        .ok_or("the system has no ComputerSystem.Reset action")?;
    let target = action
        .get("target")
        .and_then(Value::as_str)
        .ok_or("the ComputerSystem.Reset action has no target")?;

    let powered_off = system.get("PowerState").and_then(Value::as_str) == Some("Off");
    let preferred = if powered_off { POWER_ON_TYPES } else { RESTART_TYPES };
    let allowed = reset_types(action, action_info);
    let reset_type = match &allowed {
        Some(allowed) => preferred
            .iter()
            .find(|preferred| allowed.iter().any(|value| value == *preferred))
            .ok_or_else(|| {
                format!(
                    "the reset action allows none of {} (it allows {})",
                    preferred.join(", "),
                    allowed.join(", ")
                )
            })?,
        None => &preferred[0],
    };
    Ok(unsent("POST", target, json!({ "ResetType": reset_type })))
}

/// Returns the `ResetType` values the action allows, from the action itself or its
/// ActionInfo; `None` when the BMC lists none, so any schema value may be tried.
pub fn reset_types(action: &Value, action_info: Option<&Value>) -> Option<Vec<String>> {
    if let Some(values) = allowable(action, "ResetType") {
        return Some(values);
    }
    let parameters = action_info?.get("Parameters")?.as_array()?;
    let reset_type = parameters
        .iter()
        .find(|parameter| parameter.get("Name").and_then(Value::as_str) == Some("ResetType"))?;
    let values = reset_type.get("AllowableValues")?.as_array()?;
    Some(values.iter().filter_map(Value::as_str).map(str::to_string).collect())
}

/// Reads the reset action's `@Redfish.ActionInfo` when the action itself lists no
/// `ResetType` values. A failed read leaves the values unknown.
pub async fn read_action_info(session: &Session, system: &Value) -> Option<Value> {
    let action = system.pointer("/Actions/#ComputerSystem.Reset")?;
    if allowable(action, "ResetType").is_some() {
        return None;
    }
    let uri = action.get("@Redfish.ActionInfo")?.as_str()?;
    match session.get(uri).await {
        Ok(info) => Some(info),
        Err(err) => {
            tracing::warn!(uri, cause = %err, "failed to read the reset action's ActionInfo");
            None
        }
    }
}

/// Returns `<name>@Redfish.AllowableValues` of `object` as strings, if present.
fn allowable(object: &Value, name: &str) -> Option<Vec<String>> {
    let values = object.get(format!("{name}@Redfish.AllowableValues"))?.as_array()?;
    Some(values.iter().filter_map(Value::as_str).map(str::to_string).collect())
}

fn unsent(method: &str, uri: &str, body: Value) -> PxeRequest {
    PxeRequest {
        method: method.to_string(),
        uri: uri.to_string(),
        body,
        status: None,
    }
}

/// Runs the PXE step on the system at `system_uri` through an open session.
///
/// With `dry_run` only the system and the reset's ActionInfo are read.
pub async fn run(session: &Session, system_uri: &str, dry_run: bool) -> PxeResult {
    let mut result = PxeResult {
        status: PxeStatus::Failed,
        message: None,
        requests: Vec::new(),
        accepted: None,
        power_state_after: None,
    };
    let system = match session.get(system_uri).await {
        Ok(system) => system,
        Err(err) => {
            result.message = Some(format!("failed to read the system: {err}"));
            return result;
        }
    };
    let action_info = read_action_info(session, &system).await;
    let plan = match plan(system_uri, &system, action_info.as_ref()) {
        Ok(plan) => plan,
        Err(reason) => {
            result.status = PxeStatus::Rejected;
            result.message = Some(reason);
            return result;
        }
    };
    result.message = plan.note.clone();

    if dry_run {
        result.status = PxeStatus::DryRun;
        result.requests = vec![plan.patch, plan.reset];
        return result;
    }
    match send_plan(session, system_uri, plan, &mut result).await {
        Ok(()) => result.status = PxeStatus::Done,
        Err(err) => {
            result.status = PxeStatus::Failed;
            result.message = Some(crate::scan::error_chain(&err));
        }
    }
    result
}

/// Sends the PATCH, reads back what the BMC stored, sends the reset and reads the power
/// state, recording each request in `result` as it goes.
async fn send_plan(
    session: &Session,
    system_uri: &str,
    plan: PxePlan,
    result: &mut PxeResult,
) -> Result<(), RedfishError> {
    let PxePlan { patch, reset, .. } = plan;
    result.requests.push(patch.clone());
    let reply = session.patch(&patch.uri, &patch.body).await?;
    result.requests[0].status = Some(reply.status);

    let stored = session.get(&patch.uri).await?;
    result.accepted = Some(BootOverride::from_boot(stored.get("Boot").unwrap_or(&Value::Null)));

    result.requests.push(reset.clone());
    let reply = session.post(&reset.uri, &reset.body).await?;
    result.requests[1].status = Some(reply.status);

    let after = session.get(system_uri).await?;
    result.power_state_after = after.get("PowerState").and_then(Value::as_str).map(str::to_string);
    Ok(())
}

/// Formats a planned request for a dry run: method, URI and the JSON body on one line.
pub fn describe(request: &PxeRequest) -> String {
    format!("{} {} {}", request.method, request.uri, request.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYSTEM: &str = "/redfish/v1/Systems/1";

    fn system(power: &str) -> Value {
        json!({
            "PowerState": power,
            "Boot": {
                "BootSourceOverrideTarget": "None",
                "BootSourceOverrideEnabled": "Disabled",
                "BootSourceOverrideMode": "UEFI",
                "BootSourceOverrideTarget@Redfish.AllowableValues": ["None", "Pxe", "Hdd"],
            },
            "Actions": { "#ComputerSystem.Reset": {
                "target": "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
                "ResetType@Redfish.AllowableValues": ["On", "ForceOff", "GracefulRestart", "ForceRestart"],
            }},
        })
    }

    #[test]
    fn plan_running_host_restarts() {
        let plan = plan(SYSTEM, &system("On"), None).unwrap();
        assert_eq!(plan.patch.uri, SYSTEM);
        assert_eq!(
            plan.patch.body,
            json!({ "Boot": {
                "BootSourceOverrideTarget": "Pxe",
                "BootSourceOverrideEnabled": "Once",
                "BootSourceOverrideMode": "UEFI",
            }})
        );
        assert_eq!(plan.reset.body, json!({ "ResetType": "ForceRestart" }));
    }

    #[test]
    fn plan_powered_off_host_powers_on() {
        let plan = plan(SYSTEM, &system("Off"), None).unwrap();
        assert_eq!(plan.reset.body, json!({ "ResetType": "On" }));
    }

    #[test]
    fn plan_rejects_missing_pxe_target() {
        let mut system = system("On");
        system["Boot"]["BootSourceOverrideTarget@Redfish.AllowableValues"] = json!(["None", "Hdd"]);
        let err = plan(SYSTEM, &system, None).unwrap_err();
        assert!(err.contains("does not list Pxe"), "{err}");
    }

    #[test]
    fn plan_rejects_reset_without_restart() {
        let mut system = system("On");
        system["Actions"]["#ComputerSystem.Reset"]["ResetType@Redfish.AllowableValues"] = json!(["On", "ForceOff"]);
        let err = plan(SYSTEM, &system, None).unwrap_err();
        assert!(err.contains("allows none of"), "{err}");
    }

    #[test]
    fn plan_omits_mode_not_listed() {
        let mut system = system("On");
        system["Boot"]["BootSourceOverrideMode@Redfish.AllowableValues"] = json!(["Legacy"]);
        let plan = plan(SYSTEM, &system, None).unwrap();
        assert!(plan.patch.body["Boot"].get("BootSourceOverrideMode").is_none());
        assert!(plan.note.unwrap().contains("Legacy"));
    }

    #[test]
    fn plan_uses_settings_object() {
        let mut system = system("On");
        system["@Redfish.Settings"] = json!({
            "SettingsObject": { "@odata.id": "/redfish/v1/Systems/1/Settings" },
            "SupportedApplyTimes": ["Immediate", "OnReset"],
        });
        let plan = plan(SYSTEM, &system, None).unwrap();
        assert_eq!(plan.patch.uri, "/redfish/v1/Systems/1/Settings");
        assert_eq!(plan.patch.body["@Redfish.SettingsApplyTime"]["ApplyTime"], "OnReset");
    }

    #[test]
    fn plan_reads_action_info_values() {
        let mut system = system("On");
        let action = &mut system["Actions"]["#ComputerSystem.Reset"];
        action
            .as_object_mut()
            .unwrap()
            .remove("ResetType@Redfish.AllowableValues");
        let info = json!({ "Parameters": [{ "Name": "ResetType", "AllowableValues": ["On", "GracefulRestart"] }] });
        let plan = plan(SYSTEM, &system, Some(&info)).unwrap();
        assert_eq!(plan.reset.body, json!({ "ResetType": "GracefulRestart" }));
    }
}
