//! Redfish-shaped HTTP responses: JSON bodies and the error object with extended info.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The Base message registry version that error message ids cite.
const BASE_REGISTRY: &str = "Base.1.15";

/// Returns `body` as JSON with `status`.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    (status, body.to_string()).into_response()
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
