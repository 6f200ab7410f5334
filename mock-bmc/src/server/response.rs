//! Redfish-shaped HTTP responses: JSON bodies and the error object with extended info.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::rendered::Rendered;

/// The Base message registry version that error message ids cite.
const BASE_REGISTRY: &str = "Base.1.15";

/// Returns `body` as JSON with `status`.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    (status, body.to_string()).into_response()
}

/// Returns `body` with status 200 and its `ETag`, or an empty 304 when the request's
/// `If-None-Match` lists that ETag.
pub(crate) fn resource_response(request_headers: &HeaderMap, body: &Value) -> Response {
    rendered_response(request_headers, &Rendered::new(body))
}

/// Returns a body rendered before as [`resource_response`] does.
pub(crate) fn rendered_response(request_headers: &HeaderMap, rendered: &Rendered) -> Response {
    let not_modified = etag_listed(request_headers.get(header::IF_NONE_MATCH), &rendered.etag);

    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, rendered.text.clone()).into_response()
    };
    response.headers_mut().insert(
        header::ETAG,
        HeaderValue::from_str(&rendered.etag).expect("hex ETag is a valid header value"),
    );
    response
}

/// Returns the strong ETag of a serialized body: its 64-bit FNV-1a hash in hex, quoted.
/// The same body always gets the same ETag, in every process.
pub(crate) fn etag_of(text: &str) -> String {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = text
        .bytes()
        .fold(OFFSET_BASIS, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(PRIME));
    format!("\"{hash:016x}\"")
}

/// Returns true when an `If-None-Match` or `If-Match` header value is `*` or lists `etag`,
/// comparing weak and strong forms alike.
pub(crate) fn etag_listed(header_value: Option<&HeaderValue>, etag: &str) -> bool {
    let Some(value) = header_value.and_then(|value| value.to_str().ok()) else {
        return false;
    };
    value
        .split(',')
        .map(|listed| listed.trim().trim_start_matches("W/"))
        .any(|listed| listed == "*" || listed == etag)
}

/// Returns a Redfish error object whose code and extended info carry `Base.1.15.<message_id>`.
pub(crate) fn redfish_error(status: StatusCode, message_id: &str, message: &str, resolution: &str) -> Response {
    let id = format!("{BASE_REGISTRY}.{message_id}");
    let body = json!({
        "error": {
            "code": id,
            "message": message,
            "@Message.ExtendedInfo": [{
                "@odata.type": "#Message.v1_1_1.Message",
                "MessageId": id,
                "Message": message,
                "Severity": "Critical",
                "Resolution": resolution,
            }]
        }
    });
    json_response(status, &body)
}

/// 404 for a URI that names no resource.
pub(crate) fn not_found(uri: &str) -> Response {
    redfish_error(
        StatusCode::NOT_FOUND,
        "ResourceMissingAtURI",
        &format!("The resource at the URI {uri} was not found."),
        "Place a valid resource at the URI or correct the URI and resubmit the request.",
    )
}

/// 401 for a request without valid credentials or session token.
pub(crate) fn unauthorized() -> Response {
    let mut response = redfish_error(
        StatusCode::UNAUTHORIZED,
        "NoValidSession",
        "There is no valid session established with the implementation.",
        "Establish a session before attempting any operations.",
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"mock-bmc\""),
    );
    response
}

/// 405 with the `Allow` header listing the methods the resource supports.
pub(crate) fn method_not_allowed(allow: &'static str) -> Response {
    let mut response = redfish_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "OperationNotAllowed",
        "The HTTP method is not allowed on this resource.",
        "None.",
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// 400 for a request body or query that cannot be used.
pub(crate) fn bad_request(message_id: &str, message: &str) -> Response {
    redfish_error(
        StatusCode::BAD_REQUEST,
        message_id,
        message,
        "Correct the request body or query and resubmit the request.",
    )
}
