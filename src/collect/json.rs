//! Lenient readers for Redfish JSON.
//!
//! Vendors send numbers as strings, `null` for unknown values, padded or empty strings and
//! single objects where the schema has arrays. Every reader here returns `None` (or an empty
//! list) for a value it cannot read, so a missing or odd property never becomes zero or `false`.

use serde_json::Value;

/// Looks up a JSON pointer (RFC 6901) as [`Value::pointer`] does, without allocating for
/// each segment: serde_json unescapes every segment into a new string, which made pointer
/// lookups a few percent of a scan's CPU. Pointers with escapes (`~0`, `~1`) go to serde_json.
pub fn at<'a>(doc: &'a Value, pointer: &str) -> Option<&'a Value> {
    if pointer.is_empty() {
        return Some(doc);
    }
    if pointer.contains('~') {
        return doc.pointer(pointer);
    }
    let mut current = doc;
    for segment in pointer.strip_prefix('/')?.split('/') {
        current = match current {
            Value::Object(object) => object.get(segment)?,
            Value::Array(items) => items.get(array_index(segment)?)?,
            _ => return None,
        };
    }
    Some(current)
}

/// Parses an array index of a JSON pointer: decimal digits without a leading zero.
fn array_index(segment: &str) -> Option<usize> {
    let digits = segment.bytes().all(|byte| byte.is_ascii_digit());
    if !digits || segment.is_empty() || (segment.len() > 1 && segment.starts_with('0')) {
        return None;
    }
    segment.parse().ok()
}

/// Reads a string at a JSON pointer, trimmed, writing out numbers and booleans as text.
///
/// Empty strings count as absent: Lenovo XCC sends `""` for the serial number of every CPU.
pub fn text(doc: &Value, pointer: &str) -> Option<String> {
    let text = match at(doc, pointer)? {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

/// Reads a non-negative integer at a JSON pointer from a number or a decimal string.
///
/// Whole-valued floats (`32768.0`) are accepted; fractions, negatives and other types are not.
pub fn unsigned(doc: &Value, pointer: &str) -> Option<u64> {
    match at(doc, pointer)? {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0 && f.fract() == 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Like [`unsigned`], for values that fit in 32 bits.
pub fn unsigned32(doc: &Value, pointer: &str) -> Option<u32> {
    unsigned(doc, pointer).and_then(|n| u32::try_from(n).ok())
}

/// Reads a number at a JSON pointer from a number or a decimal string.
pub fn float(doc: &Value, pointer: &str) -> Option<f64> {
    match at(doc, pointer)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Reads the `@odata.id` of the link object at a JSON pointer.
pub fn link(doc: &Value, pointer: &str) -> Option<String> {
    text(at(doc, pointer)?, "/@odata.id")
}

/// Reads the `@odata.id` of every link at a JSON pointer, whether the BMC sent an array of
/// links or a single link object.
pub fn links(doc: &Value, pointer: &str) -> Vec<String> {
    match at(doc, pointer) {
        Some(Value::Array(items)) => items.iter().filter_map(|item| text(item, "/@odata.id")).collect(),
        Some(item @ Value::Object(_)) => text(item, "/@odata.id").into_iter().collect(),
        _ => Vec::new(),
    }
}

/// Reads `Status/State`.
pub fn state(doc: &Value) -> Option<String> {
    text(doc, "/Status/State")
}

/// Reads `Status/Health`.
pub fn health(doc: &Value) -> Option<String> {
    text(doc, "/Status/Health")
}

/// True when `Status/State` is `Absent`, the marker of an empty slot.
pub fn is_absent(doc: &Value) -> bool {
    state(doc).is_some_and(|state| state.eq_ignore_ascii_case("Absent"))
}

/// Parses a PCI vendor, device or class id: `"0x10de"`, `"0x10DE"`, `"4318"` or a JSON number.
///
/// HPE iLO 5 writes ids as decimal strings, DGX AMI firmware in upper-case hex.
pub fn pci_id(doc: &Value, pointer: &str) -> Option<u32> {
    match at(doc, pointer)? {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => parse_pci_id(s),
        _ => None,
    }
}

fn parse_pci_id(raw: &str) -> Option<u32> {
    let raw = raw.trim();
    match raw.strip_prefix("0x").or_else(|| raw.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => raw.parse().ok(),
    }
}

/// True for a serial number that identifies nothing: HPE Cray MI250X blades report
/// `00000000000000` for every GPU, other firmware `NA` or `N/A`.
pub fn is_placeholder_serial(serial: &str) -> bool {
    let upper = serial.trim().to_ascii_uppercase();
    upper.is_empty()
        || upper == "NA"
        || upper == "N/A"
        || upper == "NONE"
        || upper == "UNKNOWN"
        || upper.chars().all(|c| c == '0' || c == 'F')
}

/// Reads `SerialNumber`, dropping placeholder values.
pub fn serial(doc: &Value) -> Option<String> {
    text(doc, "/SerialNumber").filter(|serial| !is_placeholder_serial(serial))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn at_agrees_with_serde_json() {
        let doc = json!({
            "Status": {"State": "Enabled"},
            "Items": [{"Id": "0"}, {"Id": "1"}],
            "a/b": 1,
            "m~n": 2,
            "": {"": 3}
        });
        for pointer in [
            "",
            "/Status/State",
            "/Items/1/Id",
            "/Items/01/Id",
            "/Items/-",
            "/Items/x",
            "/a~1b",
            "/m~0n",
            "/Missing",
            "Status",
            "/",
            "//",
            "/Status/State/More",
        ] {
            assert_eq!(at(&doc, pointer), doc.pointer(pointer), "{pointer}");
        }
    }

    #[test]
    fn unsigned_reads_numbers_and_strings() {
        let doc = json!({"a": 32768, "b": "16384", "c": null, "d": 1.5, "e": -1, "f": 2.0});
        assert_eq!(unsigned(&doc, "/a"), Some(32768));
        assert_eq!(unsigned(&doc, "/b"), Some(16384));
        assert_eq!(unsigned(&doc, "/c"), None);
        assert_eq!(unsigned(&doc, "/d"), None);
        assert_eq!(unsigned(&doc, "/e"), None);
        assert_eq!(unsigned(&doc, "/f"), Some(2));
        assert_eq!(unsigned(&doc, "/missing"), None);
    }

    #[test]
    fn pci_id_accepts_hex_decimal_and_case() {
        let doc = json!({"lower": "0x10de", "upper": "0X10DE", "decimal": "4318", "number": 4318, "zero": "0x0000", "junk": "n/a"});
        assert_eq!(pci_id(&doc, "/lower"), Some(0x10de));
        assert_eq!(pci_id(&doc, "/upper"), Some(0x10de));
        assert_eq!(pci_id(&doc, "/decimal"), Some(0x10de));
        assert_eq!(pci_id(&doc, "/number"), Some(0x10de));
        assert_eq!(pci_id(&doc, "/zero"), Some(0));
        assert_eq!(pci_id(&doc, "/junk"), None);
    }

    #[test]
    fn text_drops_empty_and_trims() {
        let doc = json!({"pad": "AMD EPYC 7763   ", "empty": " ", "null": null, "num": 7});
        assert_eq!(text(&doc, "/pad").as_deref(), Some("AMD EPYC 7763"));
        assert_eq!(text(&doc, "/empty"), None);
        assert_eq!(text(&doc, "/null"), None);
        assert_eq!(text(&doc, "/num").as_deref(), Some("7"));
    }

    #[test]
    fn links_accept_object_or_array() {
        let doc = json!({"one": {"@odata.id": "/a"}, "many": [{"@odata.id": "/b"}, {"@odata.id": "/c"}]});
        assert_eq!(links(&doc, "/one"), vec!["/a"]);
        assert_eq!(links(&doc, "/many"), vec!["/b", "/c"]);
        assert!(links(&doc, "/none").is_empty());
    }

    #[test]
    fn placeholder_serials_are_dropped() {
        assert!(is_placeholder_serial("00000000000000"));
        assert!(is_placeholder_serial("NA"));
        assert!(!is_placeholder_serial("1060488532118"));
    }
}
