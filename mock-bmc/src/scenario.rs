//! Scenarios: changes to a base mockup that make one BMC differ from another.
//!
//! A scenario file is JSON:
//!
//! ```json
//! {
//!   "description": "PSU 2 failed",
//!   "patch": { "/redfish/v1/Chassis/1/PowerSubsystem/PowerSupplies/2": { "Status": { "Health": "Critical" } } },
//!   "add": { "/redfish/v1/Systems/1/Memory/DIMM9": { "Id": "DIMM9" } },
//!   "remove": ["/redfish/v1/Systems/1/Processors/GPU3"]
//! }
//! ```
//!
//! Patches are RFC 7396 JSON merge patches. [`crate::Mockup::apply`] applies the adds, then the
//! patches, then the removals, and keeps parent collections' `Members` in step.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Error;

/// A set of additions, merge patches and removals for a mockup.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// One line saying what the scenario simulates, shown in logs.
    pub description: String,
    /// RFC 7396 merge patches, keyed by the URI of the resource they change.
    #[serde(default)]
    pub patch: BTreeMap<String, Value>,
    /// Whole resources to add (or replace), keyed by URI.
    #[serde(default)]
    pub add: BTreeMap<String, Value>,
    /// URIs of resources to remove, with everything below them.
    #[serde(default)]
    pub remove: Vec<String>,
}

impl Scenario {
    /// Reads a scenario from a JSON file.
    pub fn load(file: &Path) -> Result<Scenario, Error> {
        let text = std::fs::read(file).map_err(|source| Error::Read {
            path: file.to_path_buf(),
            source,
        })?;
        serde_json::from_slice(&text).map_err(|source| Error::InvalidScenario {
            path: file.to_path_buf(),
            source,
        })
    }
}
