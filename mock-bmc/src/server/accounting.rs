//! Request accounting: counts by path and status, logins, and requests in flight.
//!
//! [`track`] is the outermost layer of the router, so it counts every request, including
//! those that auth or an injected fault rejects. Requests to the `/mock-bmc/` control
//! endpoints are not counted, so reading the stats does not change them.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;

use super::BmcState;
use super::handler::{is_control_path, request_path};

/// Request and session counts of one mock BMC since it started.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// All HTTP requests, including rejected ones.
    pub requests: u64,
    /// Requests per decoded path without query string or trailing slash.
    pub requests_by_path: BTreeMap<String, u64>,
    /// Completed requests per response status code.
    pub requests_by_status: BTreeMap<u16, u64>,
    /// Completed requests per decoded path, then per response status code.
    pub requests_by_path_and_status: BTreeMap<String, BTreeMap<u16, u64>>,
    /// Sessions opened.
    pub logins: u64,
    /// Session logins and basic-auth requests with a wrong user name or password.
    pub failed_logins: u64,
    /// Sessions closed by DELETE.
    pub logouts: u64,
    /// Sessions open now.
    pub open_sessions: usize,
    /// Requests received whose response has not been returned yet.
    pub in_flight: usize,
    /// Maximum of `in_flight` since start.
    pub peak_in_flight: usize,
}

impl Stats {
    fn begin(&mut self, path: &str) {
        self.requests += 1;
        *self.requests_by_path.entry(path.to_string()).or_default() += 1;
        self.in_flight += 1;
        self.peak_in_flight = self.peak_in_flight.max(self.in_flight);
    }

    fn finish(&mut self, path: &str, status: StatusCode) {
        let status = status.as_u16();
        *self.requests_by_status.entry(status).or_default() += 1;
        *self
            .requests_by_path_and_status
            .entry(path.to_string())
            .or_default()
            .entry(status)
            .or_default() += 1;
    }
}

/// Decrements `in_flight` when dropped, so a request whose client disconnects is not left open.
struct InFlight {
    state: Arc<BmcState>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut stats = self.state.stats();
        stats.in_flight = stats.in_flight.saturating_sub(1);
    }
}

/// Middleware that counts each request on arrival and its status when the response is ready.
pub(crate) async fn track(State(state): State<Arc<BmcState>>, request: Request, next: Next) -> Response {
    let path = request_path(request.uri());
    if is_control_path(&path) {
        return next.run(request).await;
    }

    state.stats().begin(&path);
    let guard = InFlight { state };
    let response = next.run(request).await;
    guard.state.stats().finish(&path, response.status());
    response
}
