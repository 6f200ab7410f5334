//! The fault layer: middleware that applies a BMC's [`Faults`](crate::Faults) around the
//! handler, so faults reach every route, login and auth failures included.
//!
//! Requests under `/mock-bmc/` (the control endpoints) are never faulted. Every injected
//! fault is logged at debug level with its path and kind, and counted by kind in
//! [`MockBmc::faults_injected`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::handler::is_control_path;
use super::session::SESSIONS_URI;
use super::{BmcState, MockBmc};
use crate::fault::plan::{FaultPlan, RequestFacts};
use crate::fault::{Fault, LoginLocation, WaitMessage, body};
use crate::mockup::canonical;

/// Largest login body read when checking credentials against the session limit.
const LOGIN_BODY_LIMIT: usize = 64 * 1024;

/// Pause between the last body bytes sent and the reset, so they leave the server first.
const RESET_PAUSE: Duration = Duration::from_millis(50);

/// A BMC's fault rules and the count of faults injected, by kind.
#[derive(Debug)]
pub(crate) struct FaultState {
    plan: FaultPlan,
    injected: Mutex<BTreeMap<String, u64>>,
}

impl FaultState {
    pub fn new(faults: &crate::Faults) -> FaultState {
        FaultState {
            plan: FaultPlan::new(faults),
            injected: Mutex::new(BTreeMap::new()),
        }
    }

    fn record(&self, bmc: SocketAddr, path: &str, kind: &str) {
        tracing::debug!(bmc = %bmc, path, fault = kind, "injected fault");
        let mut injected = self.injected.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *injected.entry(kind.to_string()).or_default() += 1;
    }
}

impl MockBmc {
    /// Returns how many faults of each kind were injected since start. Latency counts once
    /// per delayed request. Session faults count as `session_limit`, `login_location_missing`
    /// and `login_location_absolute`.
    pub fn faults_injected(&self) -> BTreeMap<String, u64> {
        let faults = &self.state.faults;
        faults
            .injected
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

/// Middleware that delays, replaces or corrupts the response as the fault rules decide.
pub(crate) async fn inject(State(state): State<Arc<BmcState>>, request: Request, next: Next) -> Response {
    let decoded = percent_encoding::percent_decode_str(request.uri().path())
        .decode_utf8_lossy()
        .into_owned();
    let path = canonical(&decoded);
    if is_control_path(path) {
        return next.run(request).await;
    }
    let method = request.method().clone();

    let request = match reject_login_over_limit(&state, &method, path, request).await {
        Ok(request) => request,
        Err(rejection) => return rejection,
    };

    let facts = RequestFacts {
        path,
        trailing_slash: decoded.len() > 1 && decoded.ends_with('/'),
        expand: has_expand(request.uri().query()),
    };
    let decision = state.faults.plan.decide(facts);
    if !decision.delay.is_zero() {
        state.faults.record(state.addr, path, "latency");
        tokio::time::sleep(decision.delay).await;
    }

    let response = match decision.fault {
        Some(fault) => {
            state.faults.record(state.addr, path, fault.kind());
            apply(&state, fault, request, next).await
        }
        None => next.run(request).await,
    };
    rewrite_login_location(&state, &method, path, response)
}

fn has_expand(query: Option<&str>) -> bool {
    query
        .unwrap_or("")
        .split('&')
        .map(|pair| pair.split_once('=').map_or(pair, |(key, _)| key))
        .any(|key| percent_encoding::percent_decode_str(key).decode_utf8_lossy() == "$expand")
}

async fn apply(state: &BmcState, fault: &Fault, request: Request, next: Next) -> Response {
    match fault {
        Fault::Latency { .. } => next.run(request).await,
        Fault::Error500 {} => redfish_json(StatusCode::INTERNAL_SERVER_ERROR, &body::internal_error()),
        Fault::Unavailable503 {
            retry_after_s,
            header,
            message,
        } => unavailable(*retry_after_s, *header, *message),
        Fault::TooManyRequests429 { retry_after_s } => {
            let body = body::service_temporarily_unavailable(*retry_after_s);
            with_retry_after(redfish_json(StatusCode::TOO_MANY_REQUESTS, &body), *retry_after_s)
        }
        Fault::Hang {} => std::future::pending().await,
        Fault::HtmlError { status } => html_error(*status),
        Fault::RedirectTrailingSlash { status } => {
            let query = request
                .uri()
                .query()
                .map(|query| format!("?{query}"))
                .unwrap_or_default();
            redirect(*status, &format!("{}/{query}", request.uri().path()))
        }
        Fault::RedirectOtherPort { port, status } => {
            let target = SocketAddr::new(state.addr.ip(), *port);
            let path_and_query = request.uri().path_and_query().map_or("/", |value| value.as_str());
            redirect(*status, &format!("https://{target}{path_and_query}"))
        }
        Fault::Reset { keep_fraction } => reset_mid_body(next.run(request).await, *keep_fraction).await,
        Fault::TruncatedJson { keep_fraction } => {
            let response = next.run(request).await;
            map_body(response, |bytes| body::truncate(bytes, *keep_fraction).to_vec()).await
        }
        Fault::ControlChar { character } => {
            let response = next.run(request).await;
            map_body(response, |bytes| body::insert_control_char(bytes, character.byte())).await
        }
        Fault::Bom {} => map_body(next.run(request).await, body::prepend_bom).await,
        Fault::ExpandDropsProperties { properties } => {
            let response = next.run(request).await;
            map_body(response, |bytes| {
                body::drop_expanded_properties(bytes, properties).unwrap_or_else(|| bytes.to_vec())
            })
            .await
        }
    }
}

/// Rejects a session login with valid credentials while the session table is full.
/// Returns the request, with its body restored, when the login may go on.
async fn reject_login_over_limit(
    state: &BmcState,
    method: &Method,
    path: &str,
    request: Request,
) -> Result<Request, Response> {
    let sessions = &state.config.faults.sessions;
    let Some(limit) = sessions.limit else {
        return Ok(request);
    };
    if method != Method::POST || path != SESSIONS_URI || !state.config.sessions {
        return Ok(request);
    }

    let (parts, request_body) = request.into_parts();
    // An unreadable or oversized body goes on empty, so the handler rejects it as malformed.
    let bytes = axum::body::to_bytes(request_body, LOGIN_BODY_LIMIT)
        .await
        .unwrap_or_default();
    let full = state.sessions().len() >= limit;
    if full && login_credentials_match(state, &bytes) {
        state.faults.record(state.addr, path, "session_limit");
        let status = sessions.limit_status.unwrap_or(match sessions.limit_message {
            crate::SessionLimitMessage::Vendor => 400,
            crate::SessionLimitMessage::Base => 503,
        });
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        return Err(redfish_json(status, &body::session_limit(sessions.limit_message)));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

fn login_credentials_match(state: &BmcState, login_body: &[u8]) -> bool {
    let Ok(login) = serde_json::from_slice::<Value>(login_body) else {
        return false;
    };
    let user = login.get("UserName").and_then(Value::as_str);
    let password = login.get("Password").and_then(Value::as_str);
    matches!((user, password), (Some(user), Some(password)) if state.config.credentials_match(user, password))
}

/// Removes the `Location` of a successful login or makes it an absolute URL, as configured.
fn rewrite_login_location(state: &BmcState, method: &Method, path: &str, mut response: Response) -> Response {
    let mode = state.config.faults.sessions.login_location;
    let is_login = method == Method::POST && path == SESSIONS_URI && response.status() == StatusCode::CREATED;
    if !is_login || mode == LoginLocation::Relative {
        return response;
    }

    let headers = response.headers_mut();
    match mode {
        LoginLocation::Relative => {}
        LoginLocation::Missing => {
            headers.remove(header::LOCATION);
            state.faults.record(state.addr, path, "login_location_missing");
        }
        LoginLocation::Absolute => {
            let relative = headers.get(header::LOCATION).and_then(|value| value.to_str().ok());
            let absolute = relative.map(|relative| format!("https://{}{relative}", state.addr));
            if let Some(value) = absolute.and_then(|url| HeaderValue::from_str(&url).ok()) {
                headers.insert(header::LOCATION, value);
                state.faults.record(state.addr, path, "login_location_absolute");
            }
        }
    }
    response
}

/// A JSON response with the headers that the inner Redfish layer adds to handler responses.
fn redfish_json(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert("odata-version", HeaderValue::from_static("4.0"));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

fn with_retry_after(mut response: Response, retry_after_s: u64) -> Response {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
    response
}

fn unavailable(retry_after_s: u64, header: bool, message: WaitMessage) -> Response {
    let response = match message {
        WaitMessage::None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        WaitMessage::Base => redfish_json(
            StatusCode::SERVICE_UNAVAILABLE,
            &body::service_temporarily_unavailable(retry_after_s),
        ),
        WaitMessage::VendorBusy => redfish_json(StatusCode::SERVICE_UNAVAILABLE, &body::vendor_busy(retry_after_s)),
    };
    if header {
        with_retry_after(response, retry_after_s)
    } else {
        response
    }
}

fn html_error(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let reason = status.canonical_reason().unwrap_or("Error");
    let mut response = (status, body::html_error_page(status.as_u16(), reason)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

fn redirect(status: u16, location: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::TEMPORARY_REDIRECT);
    let mut response = status.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Replaces the body of `response` with `corrupt(body)`, keeping status and headers.
async fn map_body(response: Response, corrupt: impl FnOnce(&[u8]) -> Vec<u8>) -> Response {
    let (mut parts, response_body) = response.into_parts();
    let bytes = collect(response_body).await;
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(corrupt(&bytes)))
}

/// Sends the status, the headers with the full `Content-Length`, and the first part of the
/// body, then fails the body stream, which makes hyper close the connection.
async fn reset_mid_body(response: Response, keep_fraction: f64) -> Response {
    let (mut parts, response_body) = response.into_parts();
    let bytes = collect(response_body).await;
    // A body of 0 bytes still promises 1, so the client always sees the body cut short.
    let promised = bytes.len().max(1);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(promised));
    let head = bytes.slice(..body::cut_len(bytes.len(), keep_fraction));

    let stream = futures_util::stream::unfold(ResetStep::Head(head), |step| async move {
        match step {
            ResetStep::Head(head) => Some((Ok(head), ResetStep::Reset)),
            ResetStep::Reset => {
                tokio::time::sleep(RESET_PAUSE).await;
                let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "injected reset fault");
                Some((Err(reset), ResetStep::Done))
            }
            ResetStep::Done => None,
        }
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

enum ResetStep {
    Head(Bytes),
    Reset,
    Done,
}

/// Reads a response body to the end. Handler bodies are in memory, and a body that fails to
/// read becomes empty.
async fn collect(response_body: Body) -> Bytes {
    axum::body::to_bytes(response_body, usize::MAX)
        .await
        .unwrap_or_default()
}
