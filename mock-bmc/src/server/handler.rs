//! Request dispatch: public service root, session login and logout, mockup resources and
//! their writes, and the `/mock-bmc/` control endpoints.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::BmcState;
use super::auth::{AuthResult, authenticate};
use super::response::{
    bad_request, json_response, method_not_allowed, not_found, redfish_error, rendered_response, resource_response,
    unauthorized,
};
use super::session::{SESSION_SERVICE_URI, SESSIONS_URI, default_session_service, session_uri};
use super::view::QueryOptions;
use super::writes;
use crate::mockup::canonical;

pub(crate) const SERVICE_ROOT_URI: &str = "/redfish/v1";

/// Prefix of the endpoints that expose the mock's own stats and events. They need no auth,
/// are not counted in the stats, and the fault layer leaves them alone.
pub(crate) const CONTROL_PREFIX: &str = "/mock-bmc";

/// Request bodies larger than this get 413. Redfish PATCH and action bodies are small.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Returns the percent-decoded path of `uri` without trailing slashes.
pub(crate) fn request_path(uri: &Uri) -> String {
    let decoded = percent_encoding::percent_decode_str(uri.path()).decode_utf8_lossy();
    canonical(&decoded).to_string()
}

/// Returns true for paths under [`CONTROL_PREFIX`].
pub(crate) fn is_control_path(path: &str) -> bool {
    is_under(path, CONTROL_PREFIX)
}

/// Handles every request: all routing is by the decoded path because mockup URIs are dynamic.
pub(crate) async fn handle(State(state): State<Arc<BmcState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = resource_path(&state, &parts.uri);

    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(err) => return body_rejected(&state, &path, &err),
    };

    let response = if is_control_path(&path) {
        control(&state, &parts.method, &path)
    } else {
        match QueryOptions::parse(parts.uri.query(), state.expand_levels) {
            Ok(options) => route(&state, &parts.method, &path, options, &parts.headers, &body),
            Err(error) => bad_request(error.message_id, &error.message),
        }
    };
    tracing::debug!(bmc = %state.addr, method = %parts.method, path, status = response.status().as_u16(), "request");
    response
}

/// Returns the path to look the resource up by: the decoded path, or the raw one when only
/// the raw one names a resource. A capture stores a URI such as `Sensors/Inlet%20Temp` under
/// a folder of that literal name, and links to it with the same encoded text.
fn resource_path(state: &BmcState, uri: &Uri) -> String {
    let decoded = request_path(uri);
    let raw = canonical(uri.path());
    if raw != decoded && state.mockup.get(&decoded).is_none() && state.mockup.get(raw).is_some() {
        return raw.to_string();
    }
    decoded
}

fn body_rejected(state: &BmcState, path: &str, err: &axum::Error) -> Response {
    tracing::warn!(bmc = %state.addr, path, cause = %err, "failed to read the request body");
    redfish_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "GeneralError",
        &format!("The request body could not be read or is larger than {MAX_BODY_BYTES} bytes."),
        "Send a smaller request body.",
    )
}

/// Serves `/mock-bmc/stats` and `/mock-bmc/events`, read-only.
fn control(state: &BmcState, method: &Method, path: &str) -> Response {
    let body = match path.strip_prefix(CONTROL_PREFIX) {
        Some("/stats") => serde_json::to_value(state.stats_now()),
        Some("/events") => serde_json::to_value(state.overlay().events()),
        _ => return not_found(path),
    };
    if method != Method::GET && method != Method::HEAD {
        return method_not_allowed("GET, HEAD");
    }
    json_response(StatusCode::OK, &body.expect("stats and events serialize to JSON"))
}

fn route(
    state: &BmcState,
    method: &Method,
    path: &str,
    options: QueryOptions,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let readonly = method == Method::GET || method == Method::HEAD;
    if readonly && is_public(path) {
        return public_resource(state, path, options, headers);
    }

    let in_session_service = is_under(path, SESSION_SERVICE_URI);
    if in_session_service && !state.config.sessions {
        return not_found(path);
    }
    if path == SESSIONS_URI && method == Method::POST {
        return login(state, body);
    }

    if let Some(rejection) = check_auth(state, headers) {
        return rejection;
    }

    if in_session_service && let Some(response) = session_service(state, method, path, options, headers) {
        return response;
    }
    mockup_resource(state, method, path, options, headers, body)
}

/// Paths that real BMCs serve without authentication.
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/redfish" | SERVICE_ROOT_URI | "/redfish/v1/odata" | "/redfish/v1/$metadata"
    )
}

fn is_under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn public_resource(state: &BmcState, path: &str, options: QueryOptions, headers: &HeaderMap) -> Response {
    match (path, state.rendered(path, options)) {
        ("/redfish", None) => resource_response(headers, &json!({ "v1": "/redfish/v1/" })),
        (_, Some(rendered)) => rendered_response(headers, &rendered),
        (_, None) => not_found(path),
    }
}

/// Returns the 401 response for a request without valid credentials, or None when authorized.
fn check_auth(state: &BmcState, headers: &HeaderMap) -> Option<Response> {
    let result = authenticate(headers, &state.config, &state.sessions());
    match result {
        AuthResult::Authorized => None,
        AuthResult::WrongCredentials => {
            state.stats().failed_logins += 1;
            tracing::warn!(bmc = %state.addr, "rejected basic auth with wrong credentials");
            Some(unauthorized())
        }
        AuthResult::Missing | AuthResult::Rejected => Some(unauthorized()),
    }
}

/// Opens a session from a `{"UserName": .., "Password": ..}` body.
fn login(state: &BmcState, body: &[u8]) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return bad_request("MalformedJSON", "The request body submitted was malformed JSON.");
    };
    let user = request.get("UserName").and_then(Value::as_str);
    let password = request.get("Password").and_then(Value::as_str);
    let (Some(user), Some(password)) = (user, password) else {
        return bad_request(
            "PropertyMissing",
            "The properties UserName and Password are required in the request body.",
        );
    };

    if !state.config.credentials_match(user, password) {
        state.stats().failed_logins += 1;
        tracing::warn!(bmc = %state.addr, user, "rejected session login with wrong credentials");
        return unauthorized();
    }

    let (session, token) = state.sessions().open(user);
    state.stats().logins += 1;
    tracing::debug!(bmc = %state.addr, user, session = %session.id, "opened session");

    let mut response = json_response(StatusCode::CREATED, &session.resource());
    let headers = response.headers_mut();
    headers.insert(
        "x-auth-token",
        HeaderValue::from_str(&token).expect("hex token is a valid header value"),
    );
    headers.insert(
        axum::http::header::LOCATION,
        HeaderValue::from_str(&session_uri(&session.id)).expect("session URI is a valid header value"),
    );
    response
}

/// Serves the SessionService, the live Sessions collection and single sessions.
/// Returns None for other paths under the SessionService, which come from the mockup.
fn session_service(
    state: &BmcState,
    method: &Method,
    path: &str,
    options: QueryOptions,
    headers: &HeaderMap,
) -> Option<Response> {
    let readonly = method == Method::GET || method == Method::HEAD;

    if path == SESSION_SERVICE_URI {
        if !readonly {
            return Some(method_not_allowed("GET, HEAD"));
        }
        let service = state
            .resource(path)
            .map_or_else(default_session_service, |(_, service)| service);
        return Some(resource_response(headers, &service));
    }

    if path == SESSIONS_URI {
        if !readonly {
            return Some(method_not_allowed("GET, HEAD, POST"));
        }
        let collection = state.sessions().collection();
        return Some(resource_response(headers, &state.render(&collection, path, options)));
    }

    let id = path
        .strip_prefix(SESSIONS_URI)?
        .strip_prefix('/')
        .filter(|id| !id.contains('/'))?;
    Some(session(state, method, path, id, headers))
}

fn session(state: &BmcState, method: &Method, path: &str, id: &str, headers: &HeaderMap) -> Response {
    if method == Method::GET || method == Method::HEAD {
        let resource = state.sessions().get(id).map(|session| session.resource());
        return match resource {
            Some(resource) => resource_response(headers, &resource),
            None => not_found(path),
        };
    }
    if method != Method::DELETE {
        return method_not_allowed("GET, HEAD, DELETE");
    }

    if !state.sessions().close(id) {
        return not_found(path);
    }
    state.stats().logouts += 1;
    tracing::debug!(bmc = %state.addr, session = id, "closed session");
    StatusCode::NO_CONTENT.into_response()
}

fn mockup_resource(
    state: &BmcState,
    method: &Method,
    path: &str,
    options: QueryOptions,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    if *method == Method::POST
        && let Some(response) = writes::post_action(state, path, body)
    {
        return response;
    }
    if (*method == Method::GET || *method == Method::HEAD)
        && let Some(rendered) = state.rendered(path, options)
    {
        return rendered_response(headers, &rendered);
    }
    let Some((uri, resource)) = state.resource(path) else {
        if writes::is_action_target(state, path) {
            return method_not_allowed("POST");
        }
        return not_found(path);
    };

    match *method {
        Method::PATCH => writes::patch(state, path, headers, body),
        _ => method_not_allowed(writes::allowed_methods(state, &uri, &resource)),
    }
}
