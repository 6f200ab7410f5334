//! The body served for a resource: query options (`$skip`, `$expand`) and paging applied
//! to collections, and the service root adjusted to the BMC's config.

use serde_json::{Value, json};

use super::BmcConfig;
use crate::mockup::{Mockup, member_uri};

/// Query options that mock BMCs honour. Other options are ignored.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueryOptions {
    /// `$skip=n`: members to leave out at the start of a collection.
    pub skip: Option<usize>,
    /// `$expand` with any value: collection members are replaced by their resources.
    pub expand: bool,
}

impl QueryOptions {
    /// Parses a raw query string. The error is the message for a `$skip` that is not a number.
    pub fn parse(raw: Option<&str>) -> Result<QueryOptions, String> {
        let mut options = QueryOptions::default();
        for pair in raw.unwrap_or("").split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = percent_encoding::percent_decode_str(key).decode_utf8_lossy();
            match key.as_ref() {
                "$skip" => options.skip = Some(parse_skip(value)?),
                "$expand" => options.expand = true,
                _ => {}
            }
        }
        Ok(options)
    }
}

fn parse_skip(value: &str) -> Result<usize, String> {
    value
        .parse()
        .map_err(|_| format!("The value {value} for the query parameter $skip is not a non-negative integer."))
}

/// Returns the body to serve for `resource` at `uri`, paging and expanding collections.
pub(crate) fn render(resource: &Value, uri: &str, options: QueryOptions, config: &BmcConfig, mockup: &Mockup) -> Value {
    let Some(members) = resource.get("Members").and_then(Value::as_array) else {
        return resource.clone();
    };

    let total = members.len();
    let start = options.skip.unwrap_or(0).min(total);
    let end = config
        .page_size
        .map_or(total, |size| start.saturating_add(size).min(total));

    let mut page: Vec<Value> = members[start..end].to_vec();
    if options.expand {
        // NOTE: only `Members` is expanded, one level deep. Other links stay links
        // whatever `$levels` or `$expand` type the client requested.
        page = page.into_iter().map(|member| expand_member(member, mockup)).collect();
    }

    let mut body = resource.clone();
    body["Members"] = Value::Array(page);
    body["Members@odata.count"] = json!(total);
    if end < total {
        body["Members@odata.nextLink"] = json!(format!("{uri}?$skip={end}"));
    }
    body
}

fn expand_member(member: Value, mockup: &Mockup) -> Value {
    match member_uri(&member).and_then(|uri| mockup.get(uri)) {
        Some(resource) => resource.clone(),
        None => member,
    }
}

/// Returns the service root, without its session links when sessions are disabled.
pub(crate) fn service_root(root: &Value, config: &BmcConfig) -> Value {
    let mut root = root.clone();
    if !config.sessions {
        if let Some(object) = root.as_object_mut() {
            object.remove("SessionService");
        }
        if let Some(links) = root.get_mut("Links").and_then(Value::as_object_mut) {
            links.remove("Sessions");
        }
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
            expand: false,
        };

        let body = render(
            &collection(5),
            "/redfish/v1/Systems",
            options,
            &config,
            &Mockup::default(),
        );

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
            expand: false,
        };

        let body = render(
            &collection(5),
            "/redfish/v1/Systems",
            options,
            &config,
            &Mockup::default(),
        );

        assert_eq!(body["Members"].as_array().unwrap().len(), 1);
        assert!(body.get("Members@odata.nextLink").is_none());
    }

    #[test]
    fn query_options_parse_encoded_skip() {
        let options = QueryOptions::parse(Some("%24skip=3&foo=bar")).unwrap();

        assert_eq!(options.skip, Some(3));
        assert!(!options.expand);
    }

    #[test]
    fn query_options_reject_bad_skip() {
        assert!(QueryOptions::parse(Some("$skip=-1")).is_err());
    }
}
