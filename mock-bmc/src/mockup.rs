//! Mockups: Redfish resource trees loaded from the DMTF mockup layout.
//!
//! A mockup directory contains `redfish/v1/.../index.json`, one file per resource, as the DMTF
//! Redfish-Mockup-Creator writes it. [`Mockup`] maps each resource's canonical URI (no
//! trailing slash) to its JSON body. Loading is lenient because real captures contain odd
//! files: a file that cannot be read or parsed is recorded as a [`LoadIssue`] and skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::error::Error;
use crate::scenario::Scenario;
use crate::server::RenderCache;

/// The UTF-8 byte order mark that some Windows-made captures put before the JSON.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// A Redfish resource tree, keyed by canonical URI such as `/redfish/v1/Systems/1`.
#[derive(Debug, Clone, Default)]
pub struct Mockup {
    resources: BTreeMap<String, Value>,
    /// Files skipped while loading, kept so callers can report them.
    issues: Vec<LoadIssue>,
    /// Bodies rendered from these resources, shared by the BMCs that serve them unchanged.
    pub(crate) renders: RenderCache,
}

/// A mockup file or folder that was skipped while loading, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadIssue {
    pub file: PathBuf,
    pub problem: String,
}

impl Mockup {
    /// Loads every `index.json` under `dir/redfish`, where `dir` is the folder that contains `redfish/`.
    ///
    /// Unreadable or invalid files become [`LoadIssue`]s. Fails only when `dir/redfish/v1` is
    /// missing or no resource could be loaded.
    pub fn load(dir: &Path) -> Result<Mockup, Error> {
        let root = dir.join("redfish");
        if !root.join("v1").is_dir() {
            return Err(Error::NotAMockup { dir: dir.to_path_buf() });
        }

        let mut mockup = Mockup::default();
        mockup.load_tree(dir, &root);

        for issue in &mockup.issues {
            tracing::warn!(file = %issue.file.display(), problem = %issue.problem, "skipped mockup file");
        }
        if mockup.resources.is_empty() {
            return Err(Error::EmptyMockup {
                dir: dir.to_path_buf(),
                issues: mockup.issues.len(),
            });
        }
        tracing::debug!(dir = %dir.display(), resources = mockup.resources.len(), "loaded mockup");
        Ok(mockup)
    }

    /// Returns a copy with `scenario` applied, logging a warning for each target that is missing.
    ///
    /// Use [`Mockup::try_apply`] to reject such a scenario instead.
    pub fn apply(&self, scenario: &Scenario) -> Mockup {
        let mut patched = self.clone();
        for (uri, action) in patched.apply_in_place(scenario) {
            tracing::warn!(scenario = %scenario.description, %uri, action, "scenario target not in mockup");
        }
        patched
    }

    /// Returns a copy with `scenario` applied, or an error naming the first missing target.
    pub fn try_apply(&self, scenario: &Scenario) -> Result<Mockup, Error> {
        let mut patched = self.clone();
        let missing = patched.apply_in_place(scenario);
        match missing.into_iter().next() {
            Some((uri, action)) => Err(Error::ScenarioTargetMissing {
                scenario: scenario.description.clone(),
                uri,
                action,
            }),
            None => Ok(patched),
        }
    }

    /// Returns the resource at `path`, with or without a trailing slash, matching case only
    /// when an exact match fails.
    pub fn get(&self, path: &str) -> Option<&Value> {
        self.find(path).map(|(_, resource)| resource)
    }

    /// Returns the stored URI and the resource for `path`, matched as [`Mockup::get`] does.
    pub(crate) fn find(&self, path: &str) -> Option<(&str, &Value)> {
        let path = canonical(path);
        self.resources
            .get_key_value(path)
            .or_else(|| {
                // HPE iLO treats URIs case-insensitively and links `/redfish/v1/systems/1/bios`
                // beside `/redfish/v1/Systems/1`, so an exact miss falls back to a case-blind match.
                self.resources.iter().find(|(uri, _)| uri.eq_ignore_ascii_case(path))
            })
            .map(|(uri, resource)| (uri.as_str(), resource))
    }

    /// Iterates over all resources with their canonical URIs, in sorted order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.resources.iter().map(|(uri, resource)| (uri.as_str(), resource))
    }

    /// Iterates over the canonical URIs of all resources, in sorted order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.resources.keys().map(String::as_str)
    }

    /// Returns the number of resources.
    pub fn len(&self) -> usize {
        self.resources.len()
    }

    /// Returns true when the mockup has no resource.
    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    /// Returns the files skipped while loading.
    pub fn issues(&self) -> &[LoadIssue] {
        &self.issues
    }

    /// Inserts or replaces the resource at `path`, leaving parent collections unchanged.
    pub fn insert(&mut self, path: &str, resource: Value) {
        self.resources.insert(canonical(path).to_string(), resource);
        self.renders.clear();
    }

    /// Loads the `index.json` files below `dir`, recording unreadable folders as issues.
    fn load_tree(&mut self, mockup_dir: &Path, dir: &Path) {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(err) => return self.skip(dir, format!("failed to list the folder: {err}")),
        };

        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(err) => return self.skip(dir, format!("failed to list the folder: {err}")),
            };
            let path = entry.path();
            if path.is_dir() {
                self.load_tree(mockup_dir, &path);
            } else if entry.file_name() == "index.json" {
                self.load_file(mockup_dir, &path);
            }
        }
    }

    fn load_file(&mut self, mockup_dir: &Path, file: &Path) {
        let uri = match uri_of(mockup_dir, file) {
            Some(uri) => uri,
            None => return self.skip(file, "the folder name is not valid UTF-8".to_string()),
        };

        match read_json(file) {
            Ok(resource) => {
                self.resources.insert(uri, resource);
            }
            Err(problem) => self.skip(file, problem),
        }
    }

    fn skip(&mut self, file: &Path, problem: String) {
        self.issues.push(LoadIssue {
            file: file.to_path_buf(),
            problem,
        });
    }

    /// Applies `scenario` (adds, then merge patches, then removals) and returns the
    /// `(uri, action)` pairs whose target resource was missing.
    fn apply_in_place(&mut self, scenario: &Scenario) -> Vec<(String, &'static str)> {
        let mut missing = Vec::new();

        for (uri, resource) in &scenario.add {
            self.add(canonical(uri), resource.clone());
        }

        for (uri, patch) in &scenario.patch {
            match self.resources.get_mut(canonical(uri)) {
                Some(resource) => json_patch::merge(resource, patch),
                None => missing.push((uri.clone(), "patch")),
            }
        }

        for uri in &scenario.remove {
            if !self.remove(canonical(uri)) {
                missing.push((uri.clone(), "remove"));
            }
        }
        missing
    }

    /// Adds a resource and links it from its parent collection, if the parent is one.
    fn add(&mut self, uri: &str, mut resource: Value) {
        if let Some(object) = resource.as_object_mut() {
            object.entry("@odata.id").or_insert_with(|| json!(uri));
        }
        self.resources.insert(uri.to_string(), resource);

        if let Some(collection) = self.parent_collection(uri) {
            let members = collection["Members"]
                .as_array_mut()
                .expect("parent_collection checks Members");
            if !members.iter().any(|member| member_uri(member) == Some(uri)) {
                members.push(json!({ "@odata.id": uri }));
            }
            update_member_count(collection);
        }
    }

    /// Removes a resource, the resources below it, and its entry in the parent collection.
    /// Returns false when the resource did not exist.
    fn remove(&mut self, uri: &str) -> bool {
        if self.resources.remove(uri).is_none() {
            return false;
        }

        let prefix = format!("{uri}/");
        self.resources.retain(|path, _| !path.starts_with(&prefix));

        if let Some(collection) = self.parent_collection(uri) {
            let members = collection["Members"]
                .as_array_mut()
                .expect("parent_collection checks Members");
            members.retain(|member| member_uri(member) != Some(uri));
            update_member_count(collection);
        }
        true
    }

    /// Returns the parent resource of `uri` when it is a collection (has a `Members` array).
    fn parent_collection(&mut self, uri: &str) -> Option<&mut Value> {
        let (parent, _) = uri.rsplit_once('/')?;
        let resource = self.resources.get_mut(parent)?;
        resource.get("Members")?.as_array()?;
        Some(resource)
    }
}

impl FromIterator<(String, Value)> for Mockup {
    /// Builds a mockup from `(uri, resource)` pairs, for tests that need no files.
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(pairs: I) -> Mockup {
        let resources = pairs
            .into_iter()
            .map(|(uri, resource)| (canonical(&uri).to_string(), resource))
            .collect();
        Mockup {
            resources,
            issues: Vec::new(),
            renders: RenderCache::default(),
        }
    }
}

/// Strips trailing slashes, so `/redfish/v1/` and `/redfish/v1` name the same resource.
pub(crate) fn canonical(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() { "/" } else { trimmed }
}

/// Returns the `@odata.id` of a collection member, without a trailing slash.
pub(crate) fn member_uri(member: &Value) -> Option<&str> {
    member.get("@odata.id")?.as_str().map(canonical)
}

fn update_member_count(collection: &mut Value) {
    let count = collection["Members"].as_array().map_or(0, Vec::len);
    collection["Members@odata.count"] = json!(count);
}

/// Maps `<mockup_dir>/redfish/v1/Systems/1/index.json` to `/redfish/v1/Systems/1`.
fn uri_of(mockup_dir: &Path, file: &Path) -> Option<String> {
    let folder = file.parent()?.strip_prefix(mockup_dir).ok()?;
    let mut uri = String::new();
    for component in folder.components() {
        uri.push('/');
        uri.push_str(component.as_os_str().to_str()?);
    }
    Some(uri)
}

/// Reads one resource file, tolerating a UTF-8 byte order mark.
fn read_json(file: &Path) -> Result<Value, String> {
    let bytes = std::fs::read(file).map_err(|err| format!("failed to read: {err}"))?;
    let body = bytes.strip_prefix(UTF8_BOM).unwrap_or(&bytes);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err("the file is empty".to_string());
    }
    serde_json::from_slice(body).map_err(|err| format!("invalid JSON: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_strips_trailing_slashes() {
        assert_eq!(canonical("/redfish/v1/"), "/redfish/v1");
        assert_eq!(canonical("/redfish/v1"), "/redfish/v1");
        assert_eq!(canonical("/"), "/");
    }

    #[test]
    fn remove_drops_children_and_member() {
        let mut mockup: Mockup = [
            (
                "/redfish/v1/Chassis".to_string(),
                json!({"Members": [{"@odata.id": "/redfish/v1/Chassis/1/"}], "Members@odata.count": 1}),
            ),
            ("/redfish/v1/Chassis/1".to_string(), json!({"Id": "1"})),
            ("/redfish/v1/Chassis/1/Power".to_string(), json!({"Id": "Power"})),
            ("/redfish/v1/Chassis/10".to_string(), json!({"Id": "10"})),
        ]
        .into_iter()
        .collect();

        assert!(mockup.remove("/redfish/v1/Chassis/1"));

        assert!(mockup.get("/redfish/v1/Chassis/1/Power").is_none());
        assert!(mockup.get("/redfish/v1/Chassis/10").is_some());
        assert_eq!(mockup.get("/redfish/v1/Chassis").unwrap()["Members@odata.count"], 0);
    }
}
