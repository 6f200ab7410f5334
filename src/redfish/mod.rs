//! Redfish over HTTPS: sessions, TLS policy, paging and the errors a BMC can cause.
//!
//! Key types: [`Fetch`], the one operation the collector needs, so that a live BMC and a
//! stored capture look the same to it; [`RedfishError`], every way a request can fail;
//! [`RetryPolicy`], how failed requests are retried; [`KnownBmcs`], pinned certificates.

mod allow;
mod capture;
mod client;
mod connection;
mod error;
mod known_bmcs;
mod retry;
mod session;
mod tls;

pub use capture::CaptureDir;
pub use client::{ClientError, ClientOptions, RedfishClient};
pub use connection::{MAX_BODY_BYTES, OpenSession};
pub use error::RedfishError;
pub use known_bmcs::{KnownBmcs, KnownBmcsError, fingerprint};
pub use retry::RetryPolicy;
pub use session::{AuthKind, Defect, Session, WriteReply};
pub use tls::TlsConfigError;

use std::borrow::Cow;
use std::future::Future;

use serde_json::Value;

/// Reads one Redfish resource by its path.
///
/// Paths are absolute on the BMC (`/redfish/v1/Systems/1`). Implementations return the parsed
/// JSON body of a successful GET, and a [`RedfishError`] naming the path otherwise.
pub trait Fetch: Sync {
    fn get(&self, path: &str) -> impl Future<Output = Result<Value, RedfishError>> + Send;

    /// Reads a resource as [`Fetch::get`] does, with the JSON text it was parsed from where
    /// the implementation keeps it, so that a cache can store the text without writing the
    /// body out again.
    fn get_text(&self, path: &str) -> impl Future<Output = Result<WithText, RedfishError>> + Send {
        async move { self.get(path).await.map(|value| (value, None)) }
    }
}

/// A parsed body and, where kept, the JSON text it was parsed from.
pub type WithText = (Value, Option<Box<[u8]>>);

/// Deepest nesting of arrays and objects accepted in a body. Redfish resources nest a few
/// levels, and `$expand` adds a few more per level, so 64 leaves a wide margin while staying
/// below serde_json's own recursion limit of 128 (serde_json 1.0).
pub const MAX_JSON_DEPTH: usize = 64;

/// Why a body could not be read as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// Invalid JSON: the byte offset of the first error and serde_json's message.
    Invalid { offset: usize, cause: String },
    /// Arrays and objects nest deeper than [`MAX_JSON_DEPTH`].
    TooDeep { depth: usize },
}

/// A parsed body, with the defect the lenient pass had to repair, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedJson {
    pub value: Value,
    /// Defects repaired in the body (a byte-order mark, raw control characters), when the
    /// strict parse failed and the lenient pass succeeded.
    pub defect: Option<String>,
}

/// Parses a JSON body, strictly and then leniently, returning the value without its defect.
///
/// See [`parse_json_lenient`]. Bodies nested deeper than [`MAX_JSON_DEPTH`] are rejected.
pub fn parse_json(bytes: &[u8]) -> Result<Value, (usize, String)> {
    match parse_json_lenient(bytes) {
        Ok(parsed) => Ok(parsed.value),
        Err(JsonError::Invalid { offset, cause }) => Err((offset, cause)),
        Err(JsonError::TooDeep { depth }) => {
            Err((0, format!("nested {depth} levels deep, more than {MAX_JSON_DEPTH}")))
        }
    }
}

/// Parses a JSON body; when strict parsing fails, tries again after removing a UTF-8
/// byte-order mark and escaping raw control characters inside strings.
///
/// Several BMC firmwares prepend a byte-order mark or put raw tabs and line feeds in string
/// values. A body that only the second pass reads is returned with a `defect` naming the
/// repair, so the caller can record it. The error offset is that of the strict pass, into
/// the body as received.
pub fn parse_json_lenient(bytes: &[u8]) -> Result<ParsedJson, JsonError> {
    // The depth is checked on the parsed value, which has far fewer nodes than the body has
    // bytes. serde_json itself refuses bodies deeper than its recursion limit, so a failed
    // parse measures the body's depth before anything else.
    let strict_error = match serde_json::from_slice(bytes) {
        Ok(value) => return within_depth(ParsedJson { value, defect: None }),
        Err(err) => err,
    };
    let depth = json_depth(bytes);
    if depth > MAX_JSON_DEPTH {
        return Err(JsonError::TooDeep { depth });
    }

    let (repaired, repairs) = repair_json(bytes);
    if !repairs.is_empty()
        && let Ok(value) = serde_json::from_slice(&repaired)
    {
        let defect = format!("body is not valid JSON: {}; read after repair", repairs.join(" and "));
        return within_depth(ParsedJson {
            value,
            defect: Some(defect),
        });
    }

    Err(JsonError::Invalid {
        offset: byte_offset(bytes, strict_error.line(), strict_error.column()),
        cause: strict_error.to_string(),
    })
}

/// Removes a leading byte-order mark and escapes raw control characters inside strings,
/// returning the repaired body and a description of each kind of repair made.
fn repair_json(bytes: &[u8]) -> (Vec<u8>, Vec<String>) {
    let mut repairs = Vec::new();
    let body = match bytes.strip_prefix(b"\xEF\xBB\xBF") {
        Some(rest) => {
            repairs.push("starts with a UTF-8 byte-order mark".to_string());
            rest
        }
        None => bytes,
    };

    let mut repaired = Vec::with_capacity(body.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut control_characters = 0;
    for &byte in body {
        if in_string && !escaped && byte < 0x20 {
            control_characters += 1;
            repaired.extend_from_slice(format!("\\u{byte:04x}").as_bytes());
            continue;
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
        } else if byte == b'"' {
            in_string = true;
        }
        repaired.push(byte);
    }
    if control_characters > 0 {
        repairs.push(format!("{control_characters} raw control character(s) inside strings"));
    }
    (repaired, repairs)
}

/// Returns `parsed`, or [`JsonError::TooDeep`] when its value nests deeper than
/// [`MAX_JSON_DEPTH`].
fn within_depth(parsed: ParsedJson) -> Result<ParsedJson, JsonError> {
    let depth = value_depth(&parsed.value);
    if depth > MAX_JSON_DEPTH {
        return Err(JsonError::TooDeep { depth });
    }
    Ok(parsed)
}

/// Nesting of arrays and objects in a parsed value, counted as [`json_depth`] counts it in
/// text: `{}` and `[1]` are 1 deep, a scalar 0.
fn value_depth(value: &Value) -> usize {
    match value {
        Value::Object(object) => 1 + object.values().map(value_depth).max().unwrap_or(0),
        Value::Array(items) => 1 + items.iter().map(value_depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Returns the deepest nesting of arrays and objects in a body, ignoring brackets inside
/// strings. Works on invalid JSON too, so a body that serde_json refused can still be
/// measured against the cap.
fn json_depth(bytes: &[u8]) -> usize {
    let mut depth: usize = 0;
    let mut deepest = 0;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Converts serde_json's 1-based line and column into a byte offset into `body`.
fn byte_offset(body: &[u8], line: usize, column: usize) -> usize {
    let line_start: usize = body
        .split(|&b| b == b'\n')
        .take(line.saturating_sub(1))
        .map(|l| l.len() + 1)
        .sum();
    line_start + column.saturating_sub(1)
}

/// Returns the canonical form of a same-origin Redfish path, for comparing and caching.
///
/// Drops the fragment, collapses duplicate slashes, and strips a trailing slash (HPE iLO
/// writes `/redfish/v1/Systems/1/`). A query, which selects a page of a collection, is kept.
/// Returns `None` for anything but an absolute path: a URL with a scheme, a
/// scheme-relative `//host/...` link, a relative path, or a path with a `..` segment.
pub fn canonical_path(uri: &str) -> Option<String> {
    // Nearly every link a BMC writes is canonical already.
    if is_canonical(uri) {
        return Some(uri.to_string());
    }
    canonical_path_rebuilt(uri)
}

/// Builds the canonical form of `uri` segment by segment, as [`canonical_path`] does for a
/// path that is not canonical already.
fn canonical_path_rebuilt(uri: &str) -> Option<String> {
    let without_fragment = uri.split('#').next().unwrap_or("");
    let (path, query) = match without_fragment.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (without_fragment, None),
    };
    if !path.starts_with('/') || path.starts_with("//") {
        return None;
    }
    let segments: Vec<Cow<str>> = path
        .split('/')
        .filter(|segment| !segment.is_empty())
        .map(decode_unreserved)
        .collect();
    if segments.iter().any(|segment| segment == "..") {
        return None;
    }
    let mut canonical = format!("/{}", segments.join("/"));
    if let Some(query) = query {
        canonical.push('?');
        canonical.push_str(query);
    }
    Some(canonical)
}

/// Decodes the percent-encoded unreserved characters of a path segment (letters, digits,
/// `-`, `.`, `_` and `~`), which RFC 3986 section 6.2.2.2 makes equivalent to the
/// characters themselves, so that `Memory/%35` and `Memory/5` are one resource.
fn decode_unreserved(segment: &str) -> Cow<'_, str> {
    if !segment.contains('%') {
        return Cow::Borrowed(segment);
    }
    let bytes = segment.as_bytes();
    let mut decoded = String::with_capacity(segment.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = bytes.get(index..index + 3).and_then(|escape| {
            let text = std::str::from_utf8(&escape[1..]).ok()?;
            let byte = u8::from_str_radix(text, 16).ok()?;
            let unreserved = byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~');
            (escape[0] == b'%' && unreserved).then_some(byte)
        });
        match escaped {
            Some(byte) => {
                decoded.push(char::from(byte));
                index += 3;
            }
            None => {
                let character = segment[index..]
                    .chars()
                    .next()
                    .expect("index is on a character boundary");
                decoded.push(character);
                index += character.len_utf8();
            }
        }
    }
    Cow::Owned(decoded)
}

/// True for a path that [`canonical_path`] returns unchanged: absolute, without a fragment,
/// an empty, `.` or `..` segment, a percent-encoded character, or a trailing slash (the
/// root `/` aside).
fn is_canonical(uri: &str) -> bool {
    let path = uri.split_once('?').map_or(uri, |(path, _)| path);
    if uri.contains('#') || !path.starts_with('/') || path.contains('%') {
        return false;
    }
    if path == "/" {
        return true;
    }
    path[1..]
        .split('/')
        .all(|segment| !segment.is_empty() && segment != "." && segment != "..")
}

/// Lists the `@odata.id` of every member of a collection, following `Members@odata.nextLink`.
///
/// Paging stops after `MAX_PAGES` pages so a BMC whose next link points back at an earlier
/// page cannot loop forever.
pub async fn members<F: Fetch>(fetch: &F, collection: &str) -> Result<Vec<String>, RedfishError> {
    const MAX_PAGES: usize = 1000;

    let mut ids = Vec::new();
    let mut next = Some(collection.to_string());
    let mut pages = 0;
    while let Some(page_uri) = next.take() {
        let page = fetch.get(&page_uri).await?;
        if let Some(list) = page.get("Members").and_then(Value::as_array) {
            ids.extend(list.iter().filter_map(odata_id));
        }
        pages += 1;
        if pages < MAX_PAGES {
            next = page
                .get("Members@odata.nextLink")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
    }
    Ok(ids)
}

/// Returns the URI of a resource or collection that `value` carries inline, as `$expand`
/// inlines them. That is an object with an `@odata.id` and more, with an `Id` or a
/// `Members` array, whose `@odata.id` has no fragment (`Power#/PowerSupplies/0` names a
/// part of its parent). Returns `None` for a reference or any other object.
pub fn inline_resource_uri(value: &Value) -> Option<&str> {
    let object = value.as_object()?;
    let uri = object.get("@odata.id")?.as_str()?;
    let resource = object.contains_key("Id") || object.get("Members").is_some_and(Value::is_array);
    (object.len() > 1 && !uri.contains('#') && resource).then_some(uri)
}

/// Properties whose objects are never searched for inline resources. `Links` points at
/// resources elsewhere in the tree, and `Actions` contains no resources. `Oem` contains
/// vendor objects that may look like resources (iDRAC's `Oem.Dell.DellSystem`) and that the
/// collector reads in place.
pub const NOT_SUBORDINATE: &[&str] = &["Links", "Oem", "Actions"];

/// Returns the `@odata.id` of a link object (`{"@odata.id": "/redfish/v1/..."}`).
pub fn odata_id(link: &Value) -> Option<String> {
    link.get("@odata.id").and_then(Value::as_str).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_json_has_no_defect() {
        let parsed = parse_json_lenient(br#"{"Id":"1"}"#).unwrap();
        assert_eq!(parsed.value["Id"], "1");
        assert_eq!(parsed.defect, None);
    }

    #[test]
    fn lenient_pass_removes_bom() {
        let parsed = parse_json_lenient(b"\xEF\xBB\xBF{\"Id\":\"1\"}").unwrap();
        assert_eq!(parsed.value["Id"], "1");
        assert!(parsed.defect.unwrap().contains("byte-order mark"));
    }

    #[test]
    fn lenient_pass_escapes_control_characters() {
        let parsed = parse_json_lenient(b"{\"Name\":\"a\x01b\tc\",\n\"Id\":\"1\"}").unwrap();
        assert_eq!(parsed.value["Name"], "a\u{1}b\tc");
        assert!(parsed.defect.unwrap().contains("2 raw control character(s)"));
    }

    #[test]
    fn invalid_json_keeps_strict_offset() {
        let err = parse_json_lenient(b"{\"Id\":\n\"1\",}").unwrap_err();
        assert!(matches!(err, JsonError::Invalid { offset: 11, .. }), "{err:?}");
    }

    #[test]
    fn depth_cap_ignores_brackets_in_strings() {
        let deep = format!("{}{}", "[".repeat(MAX_JSON_DEPTH + 1), "]".repeat(MAX_JSON_DEPTH + 1));
        assert_eq!(
            parse_json_lenient(deep.as_bytes()),
            Err(JsonError::TooDeep {
                depth: MAX_JSON_DEPTH + 1
            })
        );
        let quoted = format!("{{\"Text\":\"{}\"}}", "[".repeat(200));
        assert!(parse_json_lenient(quoted.as_bytes()).is_ok());

        // Deeper than serde_json's recursion limit of 128, which fails its parse.
        let deeper = format!("{}{}", "[".repeat(300), "]".repeat(300));
        assert_eq!(
            parse_json_lenient(deeper.as_bytes()),
            Err(JsonError::TooDeep { depth: 300 })
        );
    }

    #[test]
    fn canonical_path_decodes_unreserved_escapes() {
        assert_eq!(
            canonical_path("/redfish/v1/Systems/1/Memory/%35").as_deref(),
            Some("/redfish/v1/Systems/1/Memory/5")
        );
        assert_eq!(
            canonical_path("/redfish/v1/Systems/%53ystem%2e1").as_deref(),
            Some("/redfish/v1/Systems/System.1")
        );
        // Reserved characters stay encoded, and an encoded `..` is still refused.
        assert_eq!(
            canonical_path("/redfish/v1/a%2Fb").as_deref(),
            Some("/redfish/v1/a%2Fb")
        );
        assert_eq!(canonical_path("/redfish/v1/%2E%2E/x"), None);
        assert_eq!(canonical_path("/redfish/v1/100%").as_deref(), Some("/redfish/v1/100%"));
        assert_eq!(canonical_path("/redfish/v1/é%41").as_deref(), Some("/redfish/v1/éA"));
    }

    #[test]
    fn canonical_fast_path_agrees() {
        for uri in [
            "/",
            "/redfish/v1",
            "/redfish/v1/",
            "/redfish//v1",
            "/redfish/v1?$skip=2",
            "/redfish/v1/?$skip=2",
            "/redfish/v1#/x",
            "/redfish/./v1",
            "/redfish/../v1",
            "redfish/v1",
            "//host/v1",
            "/a?b/c//d",
            "/redfish/v1/Memory/%35",
            "",
        ] {
            assert_eq!(canonical_path(uri), canonical_path_rebuilt(uri), "{uri}");
        }
    }

    #[test]
    fn canonical_path_forms() {
        assert_eq!(
            canonical_path("/redfish//v1/Systems/").as_deref(),
            Some("/redfish/v1/Systems")
        );
        assert_eq!(
            canonical_path("/redfish/v1/Systems?$skip=2#x").as_deref(),
            Some("/redfish/v1/Systems?$skip=2")
        );
        assert_eq!(canonical_path("//bmc/redfish/v1"), None);
        assert_eq!(canonical_path("https://bmc/redfish/v1"), None);
        assert_eq!(canonical_path("redfish/v1"), None);
    }
}
