//! Recording side of a capture: a [`Fetch`] wrapper that keeps every body and error read, and the
//! writer that lays those bodies out as a DMTF mockup folder with secrets removed.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::redfish::{Fetch, NOT_SUBORDINATE, RedfishError, WithText, canonical_path, inline_resource_uri};

/// Value written in place of every secret.
pub const REDACTED: &str = "REDACTED";

/// Keys whose values are secrets: passwords, tokens, SNMP community strings, keys.
static SECRET_KEY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)password|token|secret|community|privatekey").expect("valid pattern"));

/// Redfish sessions, which are never written: a session resource names the login in use.
const SESSIONS: &str = "/redfish/v1/SessionService/Sessions";

/// Every read during one node's collect, keyed by canonical path with its query kept
/// (`/redfish/v1/Systems?$expand=*($levels=1)`): the bodies of successful reads, and the
/// errors of failed ones, which an offline check returns again.
#[derive(Debug, Default)]
pub struct Recorded {
    bodies: Mutex<HashMap<String, Value>>,
    failures: Mutex<BTreeMap<String, RedfishError>>,
}

impl Recorded {
    fn insert(&self, path: &str, result: Result<&Value, &RedfishError>) {
        let Some(key) = canonical_path(path) else { return };
        match result {
            Ok(body) => {
                let mut bodies = self.bodies.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                bodies.entry(key).or_insert_with(|| body.clone());
            }
            Err(err) => {
                let mut failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                failures.entry(key).or_insert_with(|| err.clone());
            }
        }
    }

    fn take(&self) -> HashMap<String, Value> {
        std::mem::take(&mut *self.bodies.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// Takes the failed reads, leaving out sessions.
    pub(super) fn take_failures(&self) -> Vec<FailedRead> {
        let failures = std::mem::take(&mut *self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        failures
            .into_iter()
            .filter(|(uri, _)| !is_session(uri.split('?').next().unwrap_or_default()))
            .map(|(uri, error)| FailedRead { uri, error })
            .collect()
    }
}

/// A read that failed during the live scan, with its error.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailedRead {
    /// The canonical path requested, query included.
    pub uri: String,
    pub error: RedfishError,
}

/// A [`Fetch`] that passes every read to `inner` and stores each body or error in
/// `recorded`. A `None` store makes it a plain pass-through.
pub struct Recorder<'a, F> {
    inner: &'a F,
    recorded: Option<&'a Recorded>,
}

impl<'a, F: Fetch> Recorder<'a, F> {
    pub fn new(inner: &'a F, recorded: Option<&'a Recorded>) -> Self {
        Recorder { inner, recorded }
    }
}

impl<F: Fetch> Fetch for Recorder<'_, F> {
    async fn get(&self, path: &str) -> Result<Value, RedfishError> {
        self.get_text(path).await.map(|(value, _)| value)
    }

    async fn get_text(&self, path: &str) -> Result<WithText, RedfishError> {
        let result = self.inner.get_text(path).await;
        if let Some(recorded) = self.recorded {
            match &result {
                Ok((value, _)) => recorded.insert(path, Ok(value)),
                Err(err) => recorded.insert(path, Err(err)),
            }
        }
        result
    }
}

/// Lays the recorded bodies out as mockup files: Redfish path (no query) to body.
///
/// [`crate::redfish::CaptureDir`] ignores queries, so each path gets one file that replays
/// the walk the live scan made:
/// - a plain body wins over an expanded one of the same collection, and an expanded body
///   is written at the plain path with its members inline, which the collector reads as
///   inline members;
/// - pages reached through `Members@odata.nextLink` are merged into the first page, because
///   the next link's query would otherwise lead back to the first page's file;
/// - resources carried inline by any recorded body, at any depth, also get their own file
///   unless read separately, so a plain GET of one replays too.
fn layout(bodies: HashMap<String, Value>) -> BTreeMap<String, Value> {
    let mut files: BTreeMap<String, Value> = BTreeMap::new();

    let mut keys: Vec<String> = bodies.keys().cloned().collect();
    // Plain paths sort before the same path with a query, so they are placed first.
    keys.sort();
    for key in &keys {
        let path = key.split('?').next().unwrap_or_default().to_string();
        if files.contains_key(&path) || is_session(&path) {
            continue;
        }
        let mut body = bodies[key].clone();
        merge_pages(&mut body, &bodies);
        files.insert(path, body);
    }

    let mut inline = Vec::new();
    for body in bodies.values() {
        inline_resources(body, &mut inline);
    }
    for (uri, resource) in inline {
        if !is_session(&uri) {
            files.entry(uri).or_insert(resource);
        }
    }

    files
}

/// Collects the resources and collections that `body` carries inline below its top level,
/// at any depth (see [`inline_resource_uri`]), with their canonical paths.
fn inline_resources(body: &Value, found: &mut Vec<(String, Value)>) {
    let children: Box<dyn Iterator<Item = &Value>> = match body {
        Value::Object(object) => Box::new(
            object
                .iter()
                .filter(|(key, _)| !NOT_SUBORDINATE.contains(&key.as_str()))
                .map(|(_, child)| child),
        ),
        Value::Array(items) => Box::new(items.iter()),
        _ => return,
    };
    for child in children {
        if let Some(uri) = inline_resource_uri(child).and_then(canonical_path) {
            found.push((uri, child.clone()));
        }
        inline_resources(child, found);
    }
}

/// Appends the members of every recorded next page to `first`, and removes the next link.
/// Stops at a page that was not recorded or was already merged.
fn merge_pages(first: &mut Value, bodies: &HashMap<String, Value>) {
    let mut seen = Vec::new();
    let mut next = first
        .get("Members@odata.nextLink")
        .and_then(Value::as_str)
        .and_then(canonical_path);
    let mut extra = Vec::new();
    while let Some(uri) = next.take() {
        if seen.contains(&uri) {
            break;
        }
        let Some(page) = bodies.get(&uri) else { break };
        extra.extend(
            page.get("Members")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        );
        next = page
            .get("Members@odata.nextLink")
            .and_then(Value::as_str)
            .and_then(canonical_path);
        seen.push(uri);
    }
    if seen.is_empty() {
        return;
    }
    let Some(object) = first.as_object_mut() else { return };
    object.remove("Members@odata.nextLink");
    if let Some(Value::Array(members)) = object.get_mut("Members") {
        members.extend(extra);
        let count = members.len();
        object.insert("Members@odata.count".to_string(), Value::from(count));
    }
}

fn is_session(path: &str) -> bool {
    path == SESSIONS || path.starts_with(&format!("{SESSIONS}/"))
}

/// Replaces the value of every key that names a secret with [`REDACTED`], recursively.
///
/// Under a secret key every string is replaced, also inside objects and arrays (an SNMP
/// `CommunityStrings` list). Numbers, booleans and nulls stay, because settings such as
/// `MinPasswordLength` or `PasswordChangeRequired` are not secrets.
pub fn scrub(value: &mut Value) {
    match value {
        Value::Object(object) => {
            for (key, child) in object.iter_mut() {
                if SECRET_KEY.is_match(key) {
                    redact_strings(child);
                } else {
                    scrub(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub),
        _ => {}
    }
}

fn redact_strings(value: &mut Value) {
    match value {
        Value::String(text) => *text = REDACTED.to_string(),
        Value::Object(object) => object.values_mut().for_each(redact_strings),
        Value::Array(items) => items.iter_mut().for_each(redact_strings),
        _ => {}
    }
}

/// Writes the recorded bodies under `folder` as `redfish/v1/.../index.json`, scrubbed, and
/// returns the number of files written. A path that cannot be a folder is skipped.
pub fn write_bodies(folder: &Path, recorded: &Recorded) -> std::io::Result<usize> {
    let files = layout(recorded.take());
    let mut written = 0;
    for (path, mut body) in files {
        let Some(file) = file_for(folder, &path) else {
            tracing::warn!(path, "resource not captured: its path cannot be a folder name");
            continue;
        };
        scrub(&mut body);
        std::fs::create_dir_all(file.parent().expect("an index.json has a parent folder"))?;
        let mut text = serde_json::to_string_pretty(&body).map_err(std::io::Error::other)?;
        text.push('\n');
        std::fs::write(&file, text)?;
        written += 1;
    }
    Ok(written)
}

/// Maps a canonical Redfish path to its `index.json` under `folder`; `None` for a segment
/// that could leave the folder or that Unix cannot name.
///
/// NOTE: Dell iDRAC ids contain `:` (`Disk.Direct.0-0:BOSS.SL.14-1`), which Windows does
/// not allow in a file name, so such captures are written and read on Unix only.
fn file_for(folder: &Path, path: &str) -> Option<PathBuf> {
    let mut file = folder.to_path_buf();
    for segment in path.split('/').filter(|segment| !segment.is_empty()) {
        if segment == "." || segment == ".." || segment.contains(['\\', '\0']) {
            return None;
        }
        file.push(segment);
    }
    file.push("index.json");
    Some(file)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn scrub_replaces_secret_strings() {
        let mut body = json!({
            "UserName": "admin",
            "Password": "hunter2",
            "Oem": {"Vendor": {"AuthToken": "abc", "MinPasswordLength": 8}},
            "SNMP": {"CommunityStrings": [{"Name": "ro", "CommunityString": "public"}]},
            "Links": [{"SecretKey": {"Value": "k"}}],
        });
        scrub(&mut body);
        assert_eq!(body["UserName"], "admin");
        assert_eq!(body["Password"], REDACTED);
        assert_eq!(body["Oem"]["Vendor"]["AuthToken"], REDACTED);
        assert_eq!(body["Oem"]["Vendor"]["MinPasswordLength"], 8);
        assert_eq!(body["SNMP"]["CommunityStrings"][0]["Name"], REDACTED);
        assert_eq!(body["SNMP"]["CommunityStrings"][0]["CommunityString"], REDACTED);
        assert_eq!(body["Links"][0]["SecretKey"]["Value"], REDACTED);
    }

    #[test]
    fn layout_prefers_plain_body() {
        let plain = json!({"Members": [{"@odata.id": "/redfish/v1/Systems/1"}]});
        let expanded = json!({"Members": [{"@odata.id": "/redfish/v1/Systems/1", "Id": "1", "Name": "inline"}]});
        let bodies = HashMap::from([
            ("/redfish/v1/Systems".to_string(), plain.clone()),
            ("/redfish/v1/Systems?$expand=*($levels=1)".to_string(), expanded),
        ]);
        let files = layout(bodies);
        assert_eq!(files["/redfish/v1/Systems"], plain);
        assert_eq!(files["/redfish/v1/Systems/1"]["Name"], "inline");
    }

    #[test]
    fn layout_writes_nested_inline_resources() {
        let storage = json!({
            "@odata.id": "/redfish/v1/Systems/1/Storage/1",
            "Id": "1",
            "Drives": [{"@odata.id": "/redfish/v1/Systems/1/Storage/1/Drives/0", "Id": "0", "Name": "Disk 0"}],
            "Volumes": {"@odata.id": "/redfish/v1/Systems/1/Storage/1/Volumes", "Members": []},
            "StorageControllers": [{"@odata.id": "/redfish/v1/Systems/1/Storage/1#/StorageControllers/0", "MemberId": "0"}],
            "Oem": {"Vendor": {"@odata.id": "/redfish/v1/Oem/Vendor/1", "Id": "1"}}
        });
        let bodies = HashMap::from([(
            "/redfish/v1/Systems/1/Storage?$expand=.($levels=2)".to_string(),
            json!({"Members": [storage]}),
        )]);

        let files = layout(bodies);

        let paths: Vec<&str> = files.keys().map(String::as_str).collect();
        assert_eq!(
            paths,
            [
                "/redfish/v1/Systems/1/Storage",
                "/redfish/v1/Systems/1/Storage/1",
                "/redfish/v1/Systems/1/Storage/1/Drives/0",
                "/redfish/v1/Systems/1/Storage/1/Volumes",
            ]
        );
        assert_eq!(files["/redfish/v1/Systems/1/Storage/1/Drives/0"]["Name"], "Disk 0");
    }

    #[test]
    fn layout_writes_expanded_at_plain_path() {
        let expanded = json!({"Members": [{"@odata.id": "/redfish/v1/Systems/1", "Id": "1"}]});
        let bodies = HashMap::from([("/redfish/v1/Systems?$expand=.".to_string(), expanded.clone())]);
        let files = layout(bodies);
        assert_eq!(files["/redfish/v1/Systems"], expanded);
        assert_eq!(files["/redfish/v1/Systems/1"]["Id"], "1");
    }

    #[test]
    fn layout_merges_next_pages() {
        let first = json!({
            "Members": [{"@odata.id": "/redfish/v1/Chassis/1"}],
            "Members@odata.nextLink": "/redfish/v1/Chassis?$skip=1",
        });
        let second = json!({"Members": [{"@odata.id": "/redfish/v1/Chassis/2"}]});
        let bodies = HashMap::from([
            ("/redfish/v1/Chassis".to_string(), first),
            ("/redfish/v1/Chassis?$skip=1".to_string(), second),
        ]);
        let files = layout(bodies);
        let chassis = &files["/redfish/v1/Chassis"];
        assert_eq!(chassis["Members"].as_array().unwrap().len(), 2);
        assert_eq!(chassis["Members@odata.count"], 2);
        assert!(chassis.get("Members@odata.nextLink").is_none());
    }

    #[test]
    fn layout_skips_sessions() {
        let bodies = HashMap::from([
            (
                "/redfish/v1/SessionService/Sessions".to_string(),
                json!({"Members": []}),
            ),
            ("/redfish/v1/SessionService/Sessions/7".to_string(), json!({"Id": "7"})),
            (
                "/redfish/v1/SessionService".to_string(),
                json!({"Id": "SessionService"}),
            ),
        ]);
        let files = layout(bodies);
        assert_eq!(files.keys().collect::<Vec<_>>(), ["/redfish/v1/SessionService"]);
    }

    #[test]
    fn file_for_rejects_parent_segment() {
        assert_eq!(file_for(Path::new("/c"), "/redfish/v1/../x"), None);
        assert_eq!(
            file_for(Path::new("/c"), "/redfish/v1/Systems/1"),
            Some(PathBuf::from("/c/redfish/v1/Systems/1/index.json"))
        );
    }
}
