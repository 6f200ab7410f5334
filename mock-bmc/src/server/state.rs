//! Per-BMC state kept for the run: resources changed by PATCH or actions, and the event log.
//!
//! BMCs of one template share one parsed [`Mockup`]. A write copies the changed resource into
//! this BMC's overlay, so other BMCs keep serving the shared copy.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::mockup::Mockup;

/// One state change on a mock BMC, such as a PATCH of boot overrides or a power reset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Position in this BMC's log, counted from 1.
    pub seq: u64,
    /// Wall-clock time of the change, serialized as milliseconds since the Unix epoch.
    #[serde(rename = "time_unix_ms", serialize_with = "serialize_unix_ms")]
    pub time: SystemTime,
    /// HTTP method of the request that made the change.
    pub method: String,
    /// Decoded request path, such as `/redfish/v1/Systems/1/Actions/ComputerSystem.Reset`.
    pub path: String,
    /// One-line description of the change, such as `PowerState On -> Off (ForceOff)`.
    pub detail: String,
}

fn serialize_unix_ms<S: Serializer>(time: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    let millis = time.duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_millis());
    serializer.serialize_u64(u64::try_from(millis).unwrap_or(u64::MAX))
}

/// Changed resources and the event log of one BMC.
#[derive(Debug, Default)]
pub(crate) struct Overlay {
    /// Changed resources by the canonical URI that the mockup stores them under.
    resources: HashMap<String, Value>,
    events: Vec<Event>,
}

impl Overlay {
    /// Returns the resource at `path` as this BMC serves it now, with its stored URI.
    pub fn resource(&self, mockup: &Mockup, path: &str) -> Option<(String, Value)> {
        let (uri, shared) = mockup.find(path)?;
        let resource = self.resources.get(uri).unwrap_or(shared);
        Some((uri.to_string(), resource.clone()))
    }

    /// True while no write has changed a resource, so the BMC serves the mockup as it is.
    pub fn is_pristine(&self) -> bool {
        self.resources.is_empty()
    }

    /// Replaces the resource stored under `uri`, which must be a URI the mockup contains.
    pub fn store(&mut self, uri: &str, resource: Value) {
        self.resources.insert(uri.to_string(), resource);
    }

    /// Appends an event and returns its sequence number.
    pub fn record(&mut self, method: &str, path: &str, detail: String) -> u64 {
        let seq = self.events.len() as u64 + 1;
        tracing::info!(seq, method, path, detail, "mock BMC state changed");
        self.events.push(Event {
            seq,
            time: SystemTime::now(),
            method: method.to_string(),
            path: path.to_string(),
            detail,
        });
        seq
    }

    /// Returns the events in order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn overlay_shadows_shared_resource() {
        let mockup: Mockup = [("/redfish/v1/Systems/1".to_string(), json!({"PowerState": "On"}))]
            .into_iter()
            .collect();
        let mut overlay = Overlay::default();

        overlay.store("/redfish/v1/Systems/1", json!({"PowerState": "Off"}));

        let (uri, resource) = overlay.resource(&mockup, "/redfish/v1/systems/1/").unwrap();
        assert_eq!(uri, "/redfish/v1/Systems/1");
        assert_eq!(resource["PowerState"], "Off");
        assert_eq!(mockup.get("/redfish/v1/Systems/1").unwrap()["PowerState"], "On");
    }

    #[test]
    fn events_are_numbered_from_one() {
        let mut overlay = Overlay::default();

        let first = overlay.record("PATCH", "/a", "one".to_string());
        let second = overlay.record("POST", "/b", "two".to_string());

        assert_eq!((first, second), (1, 2));
        assert_eq!(overlay.events()[1].detail, "two");
        let json = serde_json::to_value(&overlay.events()[0]).unwrap();
        assert!(json["time_unix_ms"].as_u64().unwrap() > 0);
    }
}
