//! Writes that change a BMC's state: PATCH of BIOS settings objects and of `Boot`
//! overrides, and the `ComputerSystem.Reset` action.
//!
//! Every change lands in the BMC's [`Overlay`] and is logged as an event. The rules follow
//! the Redfish schemas. BIOS changes go to the object that `@Redfish.Settings.SettingsObject`
//! names and take effect on the next boot, and that boot consumes a `Once` boot override.
//! Values are checked against `@Redfish.AllowableValues` when the resource lists them.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::BmcState;
use super::response::{bad_request, etag_listed, etag_of, method_not_allowed, redfish_error, resource_response};
use super::state::Overlay;
use crate::mockup::{Mockup, canonical};

/// The `ResetType` values of the Resource schema, used when the action lists none.
const RESET_TYPES: &[&str] = &[
    "On",
    "ForceOff",
    "GracefulShutdown",
    "GracefulRestart",
    "ForceRestart",
    "Nmi",
    "ForceOn",
    "PushPowerButton",
    "PowerCycle",
    "Suspend",
    "Pause",
    "Resume",
    "FullPowerCycle",
];

/// `BootSourceOverrideTarget` values of the ComputerSystem schema, used when the resource
/// has no `BootSourceOverrideTarget@Redfish.AllowableValues`.
const BOOT_TARGETS: &[&str] = &[
    "None",
    "Pxe",
    "Floppy",
    "Cd",
    "Usb",
    "Hdd",
    "BiosSetup",
    "Utilities",
    "Diags",
    "UefiShell",
    "UefiTarget",
    "SDCard",
    "UefiHttp",
    "RemoteDrive",
    "UefiBootNext",
    "Recovery",
];

const BOOT_ENABLED: &[&str] = &["Disabled", "Once", "Continuous"];
const BOOT_MODES: &[&str] = &["Legacy", "UEFI"];

/// The `Boot` properties a PATCH may set, with the values allowed when the resource lists none.
const BOOT_PROPERTIES: &[(&str, &[&str])] = &[
    ("BootSourceOverrideTarget", BOOT_TARGETS),
    ("BootSourceOverrideEnabled", BOOT_ENABLED),
    ("BootSourceOverrideMode", BOOT_MODES),
];

const RESET_ACTION: &str = "#ComputerSystem.Reset";

/// A write rejected with 400, with the Base message id and message.
struct Rejection {
    message_id: &'static str,
    message: String,
}

impl Rejection {
    fn new(message_id: &'static str, message: &str) -> Rejection {
        Rejection {
            message_id,
            message: message.to_string(),
        }
    }

    fn into_response(self) -> Response {
        bad_request(self.message_id, &self.message)
    }
}

/// Handles a PATCH of the mockup resource at `path`. Only BIOS settings objects and
/// resources with a `Boot` object are writable, and other resources get 405.
pub(crate) fn patch(state: &BmcState, path: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    let mut overlay = state.overlay();
    let Some((uri, current)) = overlay.resource(&state.mockup, path) else {
        return super::response::not_found(path);
    };

    let settings_owner = settings_owner(&state.mockup, &uri);
    if settings_owner.is_none() && !current.get("Boot").is_some_and(Value::is_object) {
        return method_not_allowed("GET, HEAD");
    }
    if headers.contains_key(header::IF_MATCH)
        && !etag_listed(headers.get(header::IF_MATCH), &etag_of(&current.to_string()))
    {
        return redfish_error(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "The ETag supplied did not match the ETag required to change this resource.",
            "Try the operation again using the appropriate ETag.",
        );
    }
    let request = match parse_object(body) {
        Ok(request) => request,
        Err(rejection) => return rejection.into_response(),
    };

    let result = match settings_owner {
        Some(owner) => patch_settings(&mut overlay, &state.mockup, &owner, current, &request),
        None => patch_boot(current, &request),
    };
    match result {
        Ok((updated, detail)) => {
            overlay.store(&uri, updated.clone());
            overlay.record("PATCH", &uri, detail);
            resource_response(&HeaderMap::new(), &updated)
        }
        Err(rejection) => rejection.into_response(),
    }
}

/// Returns the `Allow` header value for the mockup resource at `uri`.
pub(crate) fn allowed_methods(state: &BmcState, uri: &str, resource: &Value) -> &'static str {
    let writable = resource.get("Boot").is_some_and(Value::is_object) || settings_owner(&state.mockup, uri).is_some();
    if writable { "GET, HEAD, PATCH" } else { "GET, HEAD" }
}

/// Returns the URI of the resource whose `@Redfish.Settings` names `uri` as its settings
/// object, such as `.../Bios` for `.../Bios/Settings`.
fn settings_owner(mockup: &Mockup, uri: &str) -> Option<String> {
    mockup
        .iter()
        .find(|(_, resource)| settings_object(resource).is_some_and(|object| object.eq_ignore_ascii_case(uri)))
        .map(|(owner, _)| owner.to_string())
}

fn settings_object(resource: &Value) -> Option<&str> {
    resource
        .pointer("/@Redfish.Settings/SettingsObject/@odata.id")
        .and_then(Value::as_str)
        .map(canonical)
}

/// Merges the request's `Attributes` into the pending settings object. Each attribute must
/// exist in the owner's current attributes, with the same JSON type.
fn patch_settings(
    overlay: &mut Overlay,
    mockup: &Mockup,
    owner: &str,
    mut pending: Value,
    request: &Map<String, Value>,
) -> Result<(Value, String), Rejection> {
    if let Some(key) = request.keys().find(|key| *key != "Attributes" && !key.starts_with('@')) {
        return Err(property_unknown(key));
    }
    let Some(attributes) = request.get("Attributes").and_then(Value::as_object) else {
        return Err(Rejection::new(
            "PropertyMissing",
            "The property Attributes is a required property and must be included in the request.",
        ));
    };

    let current = overlay
        .resource(mockup, owner)
        .and_then(|(_, resource)| resource.get("Attributes").cloned())
        .unwrap_or_else(|| json!({}));
    for (name, value) in attributes {
        let Some(known) = current.get(name) else {
            return Err(property_unknown(name));
        };
        if !same_json_type(known, value) {
            return Err(value_type_error(name, value));
        }
    }

    if !pending.get("Attributes").is_some_and(Value::is_object) {
        pending["Attributes"] = json!({});
    }
    let mut changes = Vec::new();
    for (name, value) in attributes {
        pending["Attributes"][name] = value.clone();
        changes.push(format!("{name}={value}"));
    }
    Ok((pending, format!("pending BIOS attributes set: {}", changes.join(", "))))
}

/// Merges the request's `Boot` override properties into the system, checking each value.
fn patch_boot(mut system: Value, request: &Map<String, Value>) -> Result<(Value, String), Rejection> {
    if let Some(key) = request.keys().find(|key| *key != "Boot") {
        return Err(property_not_writable(key));
    }
    let Some(boot) = request.get("Boot").and_then(Value::as_object) else {
        return Err(Rejection::new(
            "PropertyValueTypeError",
            "The value for the property Boot is not an object.",
        ));
    };

    for (name, value) in boot {
        let Some(defaults) = BOOT_PROPERTIES
            .iter()
            .find(|(property, _)| property == name)
            .map(|(_, defaults)| *defaults)
        else {
            return Err(property_not_writable(&format!("Boot/{name}")));
        };
        let Some(text) = value.as_str() else {
            return Err(value_type_error(name, value));
        };
        let listed = allowable_values(&system["Boot"], name);
        let allowed = match &listed {
            Some(values) => values.iter().any(|allowed| allowed == text),
            None => defaults.contains(&text),
        };
        if !allowed {
            return Err(Rejection::new(
                "PropertyValueNotInList",
                &format!("The value {text} for the property {name} is not in the list of acceptable values."),
            ));
        }
    }

    let mut changes = Vec::new();
    for (name, value) in boot {
        system["Boot"][name] = value.clone();
        changes.push(format!("{name}={}", value.as_str().unwrap_or_default()));
    }
    Ok((system, format!("boot override set: {}", changes.join(", "))))
}

/// Returns `<name>@Redfish.AllowableValues` of `object` as strings, if present.
fn allowable_values(object: &Value, name: &str) -> Option<Vec<String>> {
    let values = object.get(format!("{name}@Redfish.AllowableValues"))?.as_array()?;
    Some(values.iter().filter_map(Value::as_str).map(str::to_string).collect())
}

/// Handles a POST to `path` when it is the target of a system's `ComputerSystem.Reset`
/// action. Returns None for other paths.
pub(crate) fn post_action(state: &BmcState, path: &str, body: &[u8]) -> Option<Response> {
    let (system_uri, action) = reset_action(&state.mockup, path)?;
    let mut overlay = state.overlay();

    let request = match parse_object(body) {
        Ok(request) => request,
        Err(rejection) => return Some(rejection.into_response()),
    };
    let reset_type = match reset_type(&overlay, &state.mockup, &action, &request) {
        Ok(reset_type) => reset_type,
        Err(rejection) => return Some(rejection.into_response()),
    };

    reset(&mut overlay, state, &system_uri, path, &reset_type);
    Some(StatusCode::NO_CONTENT.into_response())
}

/// Returns true when `path` is the target of a system's `ComputerSystem.Reset` action.
pub(crate) fn is_action_target(state: &BmcState, path: &str) -> bool {
    reset_action(&state.mockup, path).is_some()
}

/// Finds the system whose `#ComputerSystem.Reset` action targets `path`, and that action.
/// Actions come from the shared mockup because no write changes them.
fn reset_action(mockup: &Mockup, path: &str) -> Option<(String, Value)> {
    mockup
        .iter()
        .filter_map(|(uri, resource)| Some((uri, resource.get("Actions")?.get(RESET_ACTION)?)))
        .find(|(_, action)| {
            action
                .get("target")
                .and_then(Value::as_str)
                .is_some_and(|target| canonical(target).eq_ignore_ascii_case(path))
        })
        .map(|(uri, action)| (uri.to_string(), action.clone()))
}

/// Returns the request's `ResetType` when the action allows it. The allowed values come
/// from `ResetType@Redfish.AllowableValues`, else from the `@Redfish.ActionInfo` resource,
/// else from the schema.
fn reset_type(
    overlay: &Overlay,
    mockup: &Mockup,
    action: &Value,
    request: &Map<String, Value>,
) -> Result<String, Rejection> {
    let Some(value) = request.get("ResetType") else {
        return Err(Rejection::new(
            "ActionParameterMissing",
            "The action ComputerSystem.Reset requires the parameter ResetType to be present in the request body.",
        ));
    };
    let Some(reset_type) = value.as_str() else {
        return Err(Rejection::new(
            "ActionParameterValueTypeError",
            &format!(
                "The value {value} for the parameter ResetType in the action ComputerSystem.Reset is of a different type than the parameter can accept."
            ),
        ));
    };

    let allowed = allowable_values(action, "ResetType")
        .or_else(|| action_info_values(overlay, mockup, action))
        .unwrap_or_else(|| RESET_TYPES.iter().map(|value| value.to_string()).collect());
    if !allowed.iter().any(|allowed| allowed == reset_type) {
        return Err(Rejection::new(
            "ActionParameterValueNotInList",
            &format!(
                "The value {reset_type} for the parameter ResetType in the action ComputerSystem.Reset is not in the list of acceptable values."
            ),
        ));
    }
    Ok(reset_type.to_string())
}

/// Returns the `AllowableValues` of the `ResetType` parameter in the action's ActionInfo.
fn action_info_values(overlay: &Overlay, mockup: &Mockup, action: &Value) -> Option<Vec<String>> {
    let uri = action.get("@Redfish.ActionInfo")?.as_str()?;
    let (_, info) = overlay.resource(mockup, uri)?;
    let parameter = info
        .get("Parameters")?
        .as_array()?
        .iter()
        .find(|parameter| parameter.get("Name").and_then(Value::as_str) == Some("ResetType"))?;
    let values = parameter.get("AllowableValues")?.as_array()?;
    Some(values.iter().filter_map(Value::as_str).map(str::to_string).collect())
}

/// Applies a reset to the system's `PowerState`. A reset that boots the system consumes a
/// `Once` boot override and, when configured, applies pending BIOS settings.
fn reset(overlay: &mut Overlay, state: &BmcState, system_uri: &str, action_path: &str, reset_type: &str) {
    let (_, mut system) = overlay
        .resource(&state.mockup, system_uri)
        .expect("reset_action found the system");
    let before = system
        .get("PowerState")
        .and_then(Value::as_str)
        .unwrap_or("On")
        .to_string();

    let (after, boots) = power_transition(&before, reset_type);
    system["PowerState"] = json!(after);
    let mut detail = format!("PowerState {before} -> {after} ({reset_type})");

    if boots {
        detail.push_str(&consume_boot_override(&mut system));
    }
    overlay.store(system_uri, system);
    overlay.record("POST", action_path, detail);

    if boots && state.config.apply_settings_on_reset {
        apply_pending_settings(overlay, &state.mockup, system_uri, action_path);
    }
}

/// Returns the power state after `reset_type` and whether the system boots.
///
/// NOTE: restarts and power cycles of a powered-off system power it on here, while some
/// BMCs reject them. `On` of a running system changes nothing.
fn power_transition(before: &str, reset_type: &str) -> (&'static str, bool) {
    let is_on = before == "On";
    match reset_type {
        "On" | "ForceOn" => ("On", !is_on),
        "ForceOff" | "GracefulShutdown" | "Suspend" => ("Off", false),
        "GracefulRestart" | "ForceRestart" | "PowerCycle" | "FullPowerCycle" => ("On", true),
        "PushPowerButton" if is_on => ("Off", false),
        "PushPowerButton" => ("On", true),
        "Pause" => ("Paused", false),
        "Resume" => ("On", false),
        // Nmi and values outside the schema leave the power state as it is.
        _ => (static_state(before), false),
    }
}

fn static_state(state: &str) -> &'static str {
    match state {
        "Off" => "Off",
        "Paused" => "Paused",
        "PoweringOn" => "PoweringOn",
        "PoweringOff" => "PoweringOff",
        _ => "On",
    }
}

/// Turns a `Once` boot override back to `Disabled`, as the system boots from its target
/// once. Returns the text to append to the reset event.
fn consume_boot_override(system: &mut Value) -> String {
    let Some(boot) = system.get_mut("Boot").and_then(Value::as_object_mut) else {
        return ", booted".to_string();
    };
    let target = boot
        .get("BootSourceOverrideTarget")
        .and_then(Value::as_str)
        .unwrap_or("None")
        .to_string();
    if boot.get("BootSourceOverrideEnabled").and_then(Value::as_str) == Some("Once") {
        boot.insert("BootSourceOverrideEnabled".to_string(), json!("Disabled"));
        return format!(", booted from {target} (one-time override consumed)");
    }
    if boot.get("BootSourceOverrideEnabled").and_then(Value::as_str) == Some("Continuous") {
        return format!(", booted from {target} (continuous override)");
    }
    ", booted".to_string()
}

/// Copies the pending `Attributes` of each settings object below the system into its owner,
/// logging one event per owner whose attributes changed.
fn apply_pending_settings(overlay: &mut Overlay, mockup: &Mockup, system_uri: &str, action_path: &str) {
    let prefix = format!("{system_uri}/");
    let owners: Vec<(String, String)> = mockup
        .iter()
        .filter(|(uri, _)| uri.starts_with(&prefix))
        .filter_map(|(uri, resource)| Some((uri.to_string(), settings_object(resource)?.to_string())))
        .collect();

    for (owner_uri, settings_uri) in owners {
        let Some((_, pending)) = overlay.resource(mockup, &settings_uri) else {
            continue;
        };
        let Some(pending) = pending.get("Attributes").and_then(Value::as_object) else {
            continue;
        };
        let (_, mut owner) = overlay.resource(mockup, &owner_uri).expect("owner is in the mockup");
        if !owner.get("Attributes").is_some_and(Value::is_object) {
            owner["Attributes"] = json!({});
        }

        let mut changed = Vec::new();
        for (name, value) in pending {
            if owner["Attributes"].get(name) != Some(value) {
                owner["Attributes"][name] = value.clone();
                changed.push(format!("{name}={value}"));
            }
        }
        if !changed.is_empty() {
            overlay.store(&owner_uri, owner);
            overlay.record(
                "POST",
                action_path,
                format!("applied pending BIOS attributes to {owner_uri}: {}", changed.join(", ")),
            );
        }
    }
}

/// Parses a request body that must be a JSON object.
fn parse_object(body: &[u8]) -> Result<Map<String, Value>, Rejection> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(Rejection::new(
            "MalformedJSON",
            "The request body submitted is not a JSON object.",
        )),
        Err(_) => Err(Rejection::new(
            "MalformedJSON",
            "The request body submitted was malformed JSON.",
        )),
    }
}

fn same_json_type(known: &Value, value: &Value) -> bool {
    std::mem::discriminant(known) == std::mem::discriminant(value) || known.is_null() || value.is_null()
}

fn property_unknown(name: &str) -> Rejection {
    Rejection::new(
        "PropertyUnknown",
        &format!("The property {name} is not in the list of valid properties for the resource."),
    )
}

fn property_not_writable(name: &str) -> Rejection {
    Rejection::new(
        "PropertyNotWritable",
        &format!("The property {name} is a read only property and cannot be assigned a value."),
    )
}

fn value_type_error(name: &str, value: &Value) -> Rejection {
    Rejection::new(
        "PropertyValueTypeError",
        &format!("The value {value} for the property {name} is of a different type than the property can accept."),
    )
}
