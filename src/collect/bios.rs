//! BIOS attributes, current and pending.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::json;
use super::walk::{Walker, last_segment, normalize};
use crate::facts::{Bios, RegistryAttribute};
use crate::redfish::Fetch;

/// Registry entries about the IOMMU: Intel VT-d ("Directed I/O"), AMD-Vi, DMAR. Pre-boot DMA
/// protection is a different switch and is excluded where it is matched.
static IOMMU_TEXT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)iommu|vt-d|directed i/o|dmar|i/o virtuali[sz]ation").expect("valid pattern"));

/// Reads the host's `Bios` resource and, when it links one, its settings object.
///
/// The links are followed as given: HPE iLO 5 serves `Systems/1/bios` in lower case.
pub async fn collect<F: Fetch>(walker: &Walker<'_, F>, host: &Value, root: &Value) -> Option<Bios> {
    let uri = json::link(host, "/Bios")?;
    let doc = walker.get(&uri).await?;
    let pending_uri = json::link(&doc, "/@Redfish.Settings/SettingsObject").and_then(|p| normalize(&p));
    let attribute_registry = json::text(&doc, "/AttributeRegistry");
    let pending = async {
        match &pending_uri {
            Some(pending_uri) => pending_attributes(walker, pending_uri).await,
            None => None,
        }
    };
    let registry = async {
        match &attribute_registry {
            Some(id) => registry_iommu(walker, root, id).await,
            None => None,
        }
    };
    let (pending, registry) = futures::future::join(pending, registry).await;
    let (registry_uri, registry_iommu) = registry.unzip();
    Some(Bios {
        uri: normalize(&uri).unwrap_or(uri),
        attribute_registry,
        attributes: attributes(&doc),
        pending_uri,
        pending,
        registry_uri,
        registry_iommu: registry_iommu.unwrap_or_default(),
    })
}

/// Finds the attribute registry `id` under the service root's Registries and returns its URI
/// with the entries that mention the IOMMU. The registry file is found through the member's
/// `Location[].Uri`; a missing registry is not a problem, since many BMCs publish none.
async fn registry_iommu<F: Fetch>(
    walker: &Walker<'_, F>,
    root: &Value,
    id: &str,
) -> Option<(String, Vec<RegistryAttribute>)> {
    let collection = json::link(root, "/Registries")?;
    let members = walker.members(&collection).await;
    let matches = |uri: &str| {
        let member = last_segment(uri);
        member == id || id.starts_with(&format!("{member}.")) || member.starts_with(&format!("{id}."))
    };
    let (member_uri, _) = members.iter().find(|(uri, _)| matches(uri))?;
    let member = walker.get(member_uri).await?;
    let locations = member.get("Location").and_then(Value::as_array)?;
    let file_uri = locations
        .iter()
        .find_map(|location| json::text(location, "/Uri"))
        .and_then(|uri| normalize(&uri))?;
    let registry = walker.get(&file_uri).await?;
    let entries = registry
        .pointer("/RegistryEntries/Attributes")
        .and_then(Value::as_array)?;
    let iommu = entries
        .iter()
        .filter_map(registry_attribute)
        .filter(mentions_iommu)
        .collect();
    Some((file_uri, iommu))
}

fn registry_attribute(entry: &Value) -> Option<RegistryAttribute> {
    let values = entry
        .get("Value")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    Some(RegistryAttribute {
        name: json::text(entry, "/AttributeName")?,
        display_name: json::text(entry, "/DisplayName"),
        values: values
            .iter()
            .filter_map(|value| Some((json::text(value, "/ValueName")?, json::text(value, "/ValueDisplayName"))))
            .collect(),
    })
}

fn mentions_iommu(attribute: &RegistryAttribute) -> bool {
    let text = format!("{} {}", attribute.name, attribute.display_name.as_deref().unwrap_or(""));
    IOMMU_TEXT.is_match(&text) && !text.to_lowercase().contains("pre-boot")
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
