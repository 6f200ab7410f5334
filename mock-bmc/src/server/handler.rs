//! Request dispatch: public service root, session login and logout, and mockup resources.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::BmcState;
use super::auth::{AuthResult, authenticate};
use super::response::{bad_request, json_response, method_not_allowed, not_found, unauthorized};
use super::session::{SESSION_SERVICE_URI, SESSIONS_URI, default_session_service, session_uri};
use super::view::{QueryOptions, render, service_root};
use crate::mockup::canonical;

const SERVICE_ROOT_URI: &str = "/redfish/v1";

/// Handles every request: all routing is by the decoded path because mockup URIs are dynamic.
pub(crate) async fn handle(
    State(state): State<Arc<BmcState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let decoded = percent_encoding::percent_decode_str(uri.path()).decode_utf8_lossy();
    let path = canonical(&decoded);
    state.record_request(path);

    let response = match QueryOptions::parse(uri.query()) {
        Ok(options) => route(&state, &method, path, options, &headers, &body),
        Err(message) => bad_request("QueryParameterValueFormatError", &message),
    };
    tracing::debug!(bmc = %state.addr, %method, path, status = response.status().as_u16(), "request");
    response
}

fn route(
    state: &BmcState,
    method: &Method,
    path: &str,
    options: QueryOptions,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let readonly = method == Method::GET || method == Method::HEAD;
    if readonly && is_public(path) {
        return public_resource(state, path, options);
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

    if in_session_service && let Some(response) = session_service(state, method, path, options) {
        return response;
    }
    mockup_resource(state, method, path, options)
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

fn public_resource(state: &BmcState, path: &str, options: QueryOptions) -> Response {
    let mockup = &state.mockup;
    match (path, mockup.get(path)) {
        (SERVICE_ROOT_URI, Some(root)) => json_response(StatusCode::OK, &service_root(root, &state.config)),
        ("/redfish", None) => json_response(StatusCode::OK, &json!({ "v1": "/redfish/v1/" })),
        (_, Some(resource)) => json_response(StatusCode::OK, &render(resource, path, options, &state.config, mockup)),
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
fn session_service(state: &BmcState, method: &Method, path: &str, options: QueryOptions) -> Option<Response> {
    let readonly = method == Method::GET || method == Method::HEAD;

    if path == SESSION_SERVICE_URI {
        if !readonly {
            return Some(method_not_allowed("GET, HEAD"));
        }
        let service = state.mockup.get(path).cloned().unwrap_or_else(default_session_service);
        return Some(json_response(StatusCode::OK, &service));
    }

    if path == SESSIONS_URI {
        if !readonly {
            return Some(method_not_allowed("GET, HEAD, POST"));
        }
        let collection = state.sessions().collection();
        return Some(json_response(
            StatusCode::OK,
            &render(&collection, path, options, &state.config, &state.mockup),
        ));
    }

    let id = path
        .strip_prefix(SESSIONS_URI)?
        .strip_prefix('/')
        .filter(|id| !id.contains('/'))?;
    Some(session(state, method, path, id))
}

fn session(state: &BmcState, method: &Method, path: &str, id: &str) -> Response {
    if method == Method::GET || method == Method::HEAD {
        return match state.sessions().get(id) {
            Some(session) => json_response(StatusCode::OK, &session.resource()),
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

fn mockup_resource(state: &BmcState, method: &Method, path: &str, options: QueryOptions) -> Response {
    let Some(resource) = state.mockup.get(path) else {
        return not_found(path);
    };
    if method != Method::GET && method != Method::HEAD {
        // TODO: PATCH and actions (reset, boot override) are not modelled yet, so every
        // write is 405, which real BMCs return only for read-only resources.
        return method_not_allowed("GET, HEAD");
    }
    json_response(
        StatusCode::OK,
        &render(resource, path, options, &state.config, &state.mockup),
    )
}
