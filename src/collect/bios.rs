//! BIOS attributes, current and pending.

use std::collections::BTreeMap;

use serde_json::Value;

use super::json;
use super::walk::{Walker, normalize};
use crate::facts::Bios;
use crate::redfish::Fetch;

/// Reads the host's `Bios` resource and, when it links one, its settings object.
///
/// The links are followed as given: HPE iLO 5 serves `Systems/1/bios` in lower case.
pub async fn collect<F: Fetch>(walker: &Walker<'_, F>, host: &Value) -> Option<Bios> {
    let uri = json::link(host, "/Bios")?;
    let doc = walker.get(&uri).await?;
    let pending_uri = json::link(&doc, "/@Redfish.Settings/SettingsObject").and_then(|p| normalize(&p));
    let pending = match &pending_uri {
        Some(pending_uri) => pending_attributes(walker, pending_uri).await,
        None => None,
    };
    Some(Bios {
        uri: normalize(&uri).unwrap_or(uri),
        attribute_registry: json::text(&doc, "/AttributeRegistry"),
        attributes: attributes(&doc),
        pending_uri,
        pending,
    })
}

/// Reads the pending attributes. A settings object that does not exist means nothing is
/// pending, so a 404 is not a problem, but any other failure is.
async fn pending_attributes<F: Fetch>(walker: &Walker<'_, F>, uri: &str) -> Option<BTreeMap<String, Value>> {
    match walker.try_get(uri).await? {
        Ok(doc) => Some(attributes(&doc)),
        Err(err) if err.is_not_found() => None,
        Err(err) => {
            walker.problem(uri, err.to_string());
            None
        }
    }
}

fn attributes(doc: &Value) -> BTreeMap<String, Value> {
    let attributes = doc.get("Attributes").and_then(Value::as_object);
    attributes
        .map(|map| map.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}
