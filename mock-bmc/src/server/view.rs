//! The body served for a resource: query options (`$skip`, `$expand`) and paging applied,
//! and the service root adjusted to the BMC's config.

use serde_json::{Value, json};

use super::BmcConfig;
use super::expand::{Expand, expand};

/// Query options that mock BMCs honour. Other options are ignored.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct QueryOptions {
    /// `$skip=n`: members to leave out at the start of a collection.
    pub skip: Option<usize>,
    /// `$expand`, kept only when the BMC's config enables it.
    pub expand: Option<Expand>,
}

/// A query string that the BMC rejects with 400, with the Base message id and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueryError {
    pub message_id: &'static str,
    pub message: String,
}

impl QueryOptions {
    /// Parses a raw query string. `$expand` is ignored, as BMCs without expand support do,
    /// unless `expand_levels` is set: the deepest `$levels` the BMC accepts.
    pub fn parse(raw: Option<&str>, expand_levels: Option<u32>) -> Result<QueryOptions, QueryError> {
        let mut options = QueryOptions::default();
        for pair in raw.unwrap_or("").split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = percent_encoding::percent_decode_str(key).decode_utf8_lossy();
            let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
            match key.as_ref() {
                "$skip" => options.skip = Some(parse_skip(&value)?),
                "$expand" => {
                    if let Some(max_levels) = expand_levels {
                        options.expand = Some(parse_expand(&value, max_levels)?);
                    }
                }
                _ => {}
            }
        }
        Ok(options)
    }
}

fn parse_skip(value: &str) -> Result<usize, QueryError> {
    value.parse().map_err(|_| QueryError {
        message_id: "QueryParameterValueFormatError",
        message: format!("The value {value} for the query parameter $skip is not a non-negative integer."),
    })
}

fn parse_expand(value: &str, max_levels: u32) -> Result<Expand, QueryError> {
    Expand::parse(value, max_levels).map_err(|(message, out_of_range)| QueryError {
        message_id: if out_of_range {
            "QueryParameterOutOfRange"
        } else {
            "QueryParameterValueFormatError"
        },
        message,
    })
}

/// Returns the body to serve for `resource` at `uri`: a page of a collection, with the
/// references inlined when `$expand` is set. `lookup` returns the resource at a URI as this
/// BMC serves it.
pub(crate) fn render(
    resource: &Value,
    uri: &str,
    options: QueryOptions,
    config: &BmcConfig,
    lookup: &dyn Fn(&str) -> Option<Value>,
) -> Value {
    let mut body = match resource.get("Members").and_then(Value::as_array) {
        Some(members) => page(resource, members, uri, options, config),
        None => resource.clone(),
    };
    if let Some(option) = options.expand {
        expand(&mut body, uri, option, lookup);
    }
    body
}

fn page(resource: &Value, members: &[Value], uri: &str, options: QueryOptions, config: &BmcConfig) -> Value {
    let total = members.len();
    let start = options.skip.unwrap_or(0).min(total);
    let end = config
        .page_size
        .map_or(total, |size| start.saturating_add(size).min(total));

    let mut body = resource.clone();
    body["Members"] = Value::Array(members[start..end].to_vec());
    body["Members@odata.count"] = json!(total);
    if end < total {
        body["Members@odata.nextLink"] = json!(format!("{uri}?$skip={end}"));
    }
    body
}

/// Returns the service root as this BMC's config makes it: without session links when
/// sessions are disabled, and with `ProtocolFeaturesSupported.ExpandQuery` only when `$expand`
/// is enabled, whatever the mockup's root contains. `ExpandQuery.MaxLevels` is the limit
/// that [`super::expand::max_levels`] takes from the mockup's own root.
pub(crate) fn service_root(root: &Value, config: &BmcConfig) -> Value {
    let max_levels = super::expand::max_levels(Some(root));
    let mut root = root.clone();
    let Some(object) = root.as_object_mut() else {
        return root;
    };

    if !config.sessions {
        object.remove("SessionService");
        if let Some(links) = object.get_mut("Links").and_then(Value::as_object_mut) {
            links.remove("Sessions");
        }
    }

    if config.expand {
        let features = object.entry("ProtocolFeaturesSupported").or_insert_with(|| json!({}));
        if !features.is_object() {
            *features = json!({});
        }
        features["ExpandQuery"] =
            json!({ "ExpandAll": true, "Levels": true, "Links": true, "NoLinks": true, "MaxLevels": max_levels });
    } else if let Some(features) = object
        .get_mut("ProtocolFeaturesSupported")
        .and_then(Value::as_object_mut)
    {
        features.remove("ExpandQuery");
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collection(count: usize) -> Value {
        let members: Vec<Value> = (0..count)
            .map(|i| json!({"@odata.id": format!("/redfish/v1/Systems/{i}")}))
            .collect();
        json!({"Members": members, "Members@odata.count": count})
    }

    #[test]
    fn render_pages_collection() {
        let mut config = BmcConfig::loopback("u", "p");
        config.page_size = Some(2);
        let options = QueryOptions {
            skip: Some(2),
            expand: None,
        };

        let body = render(&collection(5), "/redfish/v1/Systems", options, &config, &|_| None);

        assert_eq!(body["Members"].as_array().unwrap().len(), 2);
        assert_eq!(body["Members@odata.count"], 5);
        assert_eq!(body["Members@odata.nextLink"], "/redfish/v1/Systems?$skip=4");
    }

    #[test]
    fn render_last_page_has_no_next_link() {
        let mut config = BmcConfig::loopback("u", "p");
        config.page_size = Some(2);
        let options = QueryOptions {
            skip: Some(4),
            expand: None,
        };

        let body = render(&collection(5), "/redfish/v1/Systems", options, &config, &|_| None);

        assert_eq!(body["Members"].as_array().unwrap().len(), 1);
        assert!(body.get("Members@odata.nextLink").is_none());
    }

    #[test]
    fn query_options_parse_encoded_skip() {
        let options = QueryOptions::parse(Some("%24skip=3&foo=bar"), Some(3)).unwrap();

        assert_eq!(options.skip, Some(3));
        assert!(options.expand.is_none());
    }

    #[test]
    fn query_options_reject_bad_skip() {
        assert!(QueryOptions::parse(Some("$skip=-1"), None).is_err());
    }

    #[test]
    fn query_options_parse_encoded_expand() {
        let options = QueryOptions::parse(Some("%24expand=.%28%24levels%3D2%29"), Some(3)).unwrap();

        assert_eq!(options.expand.unwrap().levels, 2);
    }

    #[test]
    fn query_options_ignore_expand_when_disabled() {
        let options = QueryOptions::parse(Some("$expand=nonsense"), None).unwrap();

        assert!(options.expand.is_none());
    }

    #[test]
    fn service_root_advertises_expand_only_when_enabled() {
        let root = json!({"ProtocolFeaturesSupported": {"ExpandQuery": {"ExpandAll": true}, "SelectQuery": true}});
        let mut config = BmcConfig::loopback("u", "p");

        let served = service_root(&root, &config);
        assert!(served["ProtocolFeaturesSupported"].get("ExpandQuery").is_none());
        assert_eq!(served["ProtocolFeaturesSupported"]["SelectQuery"], true);

        config.expand = true;
        let served = service_root(&root, &config);
        assert_eq!(
            served["ProtocolFeaturesSupported"]["ExpandQuery"]["MaxLevels"],
            super::super::expand::MAX_LEVELS
        );
        assert_eq!(served["ProtocolFeaturesSupported"]["ExpandQuery"]["NoLinks"], true);

        let idrac = json!({"ProtocolFeaturesSupported": {"ExpandQuery": {"Levels": true, "MaxLevels": 1}}});
        let served = service_root(&idrac, &config);
        assert_eq!(served["ProtocolFeaturesSupported"]["ExpandQuery"]["MaxLevels"], 1);
    }
}
