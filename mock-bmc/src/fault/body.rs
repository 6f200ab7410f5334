//! Fault bodies: corrupted copies of a real JSON body and the canned error bodies of faults.

use serde_json::{Value, json};

use super::SessionLimitMessage;

/// The Base message registry version that fault messages cite.
const BASE_REGISTRY: &str = "Base.1.15";

/// Returns the first `keep_fraction` of `body`, keeping at least one byte and dropping at
/// least one, so a non-empty body is always cut.
pub(crate) fn truncate(body: &[u8], keep_fraction: f64) -> &[u8] {
    &body[..cut_len(body.len(), keep_fraction)]
}

/// Returns the length to keep of a body of `len` bytes: between 1 and `len - 1` when it can.
pub(crate) fn cut_len(len: usize, keep_fraction: f64) -> usize {
    let keep = (len as f64 * keep_fraction).floor() as usize;
    keep.clamp(1.min(len), len.saturating_sub(1))
}

/// Inserts `byte` right after the opening quote of the first JSON string value, or of the
/// first string of any kind when the body has no `"key":"value"` pair.
pub(crate) fn insert_control_char(body: &[u8], byte: u8) -> Vec<u8> {
    let value_start = body.windows(2).position(|pair| pair == b":\"").map(|at| at + 2);
    let any_string = body.iter().position(|b| *b == b'"').map(|at| at + 1);
    let at = value_start.or(any_string).unwrap_or(0);

    let mut corrupted = Vec::with_capacity(body.len() + 1);
    corrupted.extend_from_slice(&body[..at]);
    corrupted.push(byte);
    corrupted.extend_from_slice(&body[at..]);
    corrupted
}

/// Returns `body` with a UTF-8 byte-order mark in front.
pub(crate) fn prepend_bom(body: &[u8]) -> Vec<u8> {
    let mut with_bom = b"\xEF\xBB\xBF".to_vec();
    with_bom.extend_from_slice(body);
    with_bom
}

/// Removes `properties` from every expanded member (an object with more than `@odata.id`)
/// of a collection body. Returns None when the body is not JSON or not a collection.
pub(crate) fn drop_expanded_properties(body: &[u8], properties: &[String]) -> Option<Vec<u8>> {
    let mut collection: Value = serde_json::from_slice(body).ok()?;
    let members = collection.get_mut("Members")?.as_array_mut()?;

    for member in members.iter_mut().filter_map(Value::as_object_mut) {
        let expanded = member.keys().any(|key| key != "@odata.id");
        if expanded {
            for property in properties {
                member.remove(property);
            }
        }
    }
    Some(collection.to_string().into_bytes())
}

/// Builds an HTML error page like the one a web server in front of a failed Redfish service
/// returns.
pub(crate) fn html_error_page(status: u16, reason: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html>\n<head><title>{status} {reason}</title></head>\n\
         <body>\n<h1>{status} {reason}</h1>\n<p>The web server could not complete the request.</p>\n\
         </body>\n</html>\n"
    )
}

/// Builds the Redfish error body of a 500.
pub(crate) fn internal_error() -> Value {
    base_error(
        "InternalError",
        "The request failed due to an internal service error.  The service is still operational.",
        &[],
        "Resubmit the request.  If the problem persists, consider resetting the service.",
    )
}

/// Builds the Base `ServiceTemporarilyUnavailable` error, whose one argument is the wait in
/// seconds.
pub(crate) fn service_temporarily_unavailable(retry_after_s: u64) -> Value {
    base_error(
        "ServiceTemporarilyUnavailable",
        &format!("The service is temporarily unavailable.  Retry in {retry_after_s} seconds."),
        &[retry_after_s.to_string()],
        "Wait for the indicated retry duration and retry the operation.",
    )
}

/// Builds a vendor-style busy error that states the wait only in its message text.
///
/// The wording and the `MockVendor` registry are invented in the style of iDRAC messages.
pub(crate) fn vendor_busy(retry_after_s: u64) -> Value {
    let id = "MockVendor.1.0.ServerBusy";
    let message = format!("The server is busy and cannot process the request. Retry after {retry_after_s} seconds.");
    error_body(
        id,
        &message,
        &[retry_after_s.to_string()],
        "Wait for the indicated time and retry the operation.",
    )
}

/// Builds the error body of a login rejected because the session table is full.
pub(crate) fn session_limit(message: SessionLimitMessage) -> Value {
    match message {
        // iDRAC reports a full session table as RAC0218 with this text.
        // NOTE: the registry version in the MessageId (IDRAC.2.8) is a guess.
        SessionLimitMessage::Vendor => error_body(
            "IDRAC.2.8.RAC0218",
            "The maximum number of user sessions is reached.",
            &[],
            "Close one or more sessions and retry the operation.",
        ),
        SessionLimitMessage::Base => base_error(
            "SessionLimitExceeded",
            "The session establishment did not complete because the number of simultaneous sessions exceeded the maximum number allowed by the implementation.",
            &[],
            "Before attempting to establish the session, reduce the number of sessions or increase the maximum number of simultaneous sessions allowed (if supported).",
        ),
    }
}

fn base_error(message_id: &str, message: &str, args: &[String], resolution: &str) -> Value {
    error_body(&format!("{BASE_REGISTRY}.{message_id}"), message, args, resolution)
}

fn error_body(id: &str, message: &str, args: &[String], resolution: &str) -> Value {
    json!({
        "error": {
            "code": id,
            "message": message,
            "@Message.ExtendedInfo": [{
                "@odata.type": "#Message.v1_1_1.Message",
                "MessageId": id,
                "Message": message,
                "MessageArgs": args,
                "Severity": "Critical",
                "Resolution": resolution,
            }]
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_keeps_between_one_byte_and_all_but_one() {
        assert_eq!(truncate(b"{\"Id\":\"1\"}", 0.5), b"{\"Id\"");
        assert_eq!(truncate(b"{}", 0.0), b"{");
        assert_eq!(truncate(b"{}", 0.99), b"{");
        assert_eq!(truncate(b"", 0.5), b"");
    }

    #[test]
    fn control_char_goes_inside_first_string_value() {
        let corrupted = insert_control_char(br#"{"Id":"1","Name":"x"}"#, 0x01);

        assert_eq!(corrupted, b"{\"Id\":\"\x011\",\"Name\":\"x\"}");
        assert!(serde_json::from_slice::<Value>(&corrupted).is_err());
    }

    #[test]
    fn drop_expanded_properties_keeps_links() {
        let body = json!({
            "Members": [
                { "@odata.id": "/a", "Status": {}, "Id": "a" },
                { "@odata.id": "/b" },
            ]
        });

        let stripped = drop_expanded_properties(body.to_string().as_bytes(), &["Status".to_string()]).unwrap();

        let stripped: Value = serde_json::from_slice(&stripped).unwrap();
        assert_eq!(stripped["Members"][0], json!({ "@odata.id": "/a", "Id": "a" }));
        assert_eq!(stripped["Members"][1], json!({ "@odata.id": "/b" }));
    }
}
