//! An authenticated conversation with one BMC: a Redfish session token or basic auth.
//!
//! A session counts its reads against the per-node resource cap and logs in again once when
//! the BMC expires its token. It keeps the defects the lenient JSON pass repaired, and it
//! remembers a cap that stopped it, so later reads fail without a request.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::connection::{BmcConnection, OpenSession, Replay};
use super::{Fetch, RedfishError, WithText, canonical_path};
use crate::credentials::Credentials;
use crate::inventory::BmcAddress;

/// Re-logins allowed per session after the BMC expired its token. Each is followed by one
/// retry of the read that met the 401.
const MAX_RELOGINS: u32 = 3;

/// Authentication method of a [`Session`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// A Redfish session: the `X-Auth-Token` header, deleted on logout.
    Session,
    /// HTTP basic auth on every request, for BMCs without a SessionService.
    Basic,
}

/// The header a request carries; the token value is marked sensitive so reqwest never shows it.
#[derive(Clone)]
pub(crate) enum Auth {
    Token(HeaderValue),
    Basic(Credentials),
}

impl Auth {
    pub(crate) fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Auth::Token(token) => request.header("X-Auth-Token", token.clone()),
            Auth::Basic(credentials) => request.basic_auth(&credentials.username, Some(credentials.password.expose())),
        }
    }
}

/// Something wrong with a response that the client repaired: a byte-order mark or raw
/// control characters in a JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defect {
    pub uri: String,
    pub message: String,
}

/// The BMC's reply to a PATCH or POST that succeeded.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteReply {
    /// HTTP status, 200, 202 or 204 in practice.
    pub status: u16,
    /// The JSON body, when there is one; often a Redfish message or a task monitor.
    pub body: Option<Value>,
    /// The `Location` header, which a 202 uses to name a task monitor.
    pub location: Option<String>,
}

/// The current credentials of a session, replaced on re-login.
struct AuthState {
    auth: Auth,
    /// Raised on every re-login, so concurrent reads that met the same 401 log in once.
    generation: u64,
    /// URI of the Redfish session to DELETE on logout; `None` with basic auth or after logout.
    session_uri: Option<String>,
}

/// A logged-in connection to one BMC, readable through [`Fetch`].
///
/// Call [`Session::logout`] when done, also after a failure. A session dropped without
/// logout sends its DELETE from a spawned task that [`super::RedfishClient::wait_for_logouts`]
/// awaits.
pub struct Session {
    connection: BmcConnection,
    state: Mutex<AuthState>,
    /// Sessions collection and credentials for a re-login; `None` with basic auth.
    relogin: Option<(String, Credentials)>,
    /// Held during a re-login.
    relogin_lock: tokio::sync::Mutex<()>,
    /// Set while a re-login runs, so that reads that were waiting for an in-flight slot
    /// wait for the new token instead of going out with the expired one.
    relogging: AtomicBool,
    relogins: AtomicU32,
    requests_sent: AtomicU64,
    /// PATCH and POST requests; they do not count against the per-node read cap.
    writes_sent: AtomicU64,
    /// The cap that stopped the session; every later read returns it.
    stopped: Mutex<Option<RedfishError>>,
    defects: Mutex<Vec<Defect>>,
    /// Bodies that login read, such as the service root, by canonical path: the first read
    /// of each path returns its body, so that a scan does not request it twice.
    login_bodies: Mutex<Vec<(String, Value)>>,
}

impl Session {
    pub(crate) fn new(
        connection: BmcConnection,
        auth: Auth,
        session_uri: Option<String>,
        relogin: Option<(String, Credentials)>,
    ) -> Session {
        Session {
            connection,
            state: Mutex::new(AuthState {
                auth,
                generation: 0,
                session_uri,
            }),
            relogin,
            relogin_lock: tokio::sync::Mutex::new(()),
            relogging: AtomicBool::new(false),
            relogins: AtomicU32::new(0),
            requests_sent: AtomicU64::new(0),
            writes_sent: AtomicU64::new(0),
            stopped: Mutex::new(None),
            defects: Mutex::new(Vec::new()),
            login_bodies: Mutex::new(Vec::new()),
        }
    }

    /// Keeps a body that login read, for the first read of `path`.
    pub(crate) fn keep_login_body(&self, path: &str, body: Value) {
        if let Some(key) = canonical_path(path) {
            lock(&self.login_bodies).push((key, body));
        }
    }

    /// Takes the body kept for `path`, if login read it.
    fn take_login_body(&self, path: &str) -> Option<Value> {
        let mut bodies = lock(&self.login_bodies);
        if bodies.is_empty() {
            return None;
        }
        let key = canonical_path(path)?;
        let index = bodies.iter().position(|(body_path, _)| *body_path == key)?;
        Some(bodies.swap_remove(index).1)
    }

    pub fn bmc(&self) -> &BmcAddress {
        &self.connection.bmc
    }

    pub fn auth_kind(&self) -> AuthKind {
        match self.state().auth {
            Auth::Token(_) => AuthKind::Session,
            Auth::Basic(_) => AuthKind::Basic,
        }
    }

    /// Returns the path of the Redfish session, `None` with basic auth.
    pub fn session_uri(&self) -> Option<String> {
        self.state().session_uri.clone()
    }

    /// Counts the GET requests sent through [`Fetch::get`], including failed ones. Retries
    /// of one read count once.
    pub fn requests_sent(&self) -> u64 {
        self.requests_sent.load(Ordering::Relaxed)
    }

    /// Counts the PATCH and POST requests sent through [`Session::patch`] and
    /// [`Session::post`], including failed ones. Retries of one request count once.
    pub fn writes_sent(&self) -> u64 {
        self.writes_sent.load(Ordering::Relaxed)
    }

    /// Returns what stopped this session's reads, if anything did: a cap (body size, JSON
    /// depth, resources per node) or a token that kept expiring after every re-login.
    pub fn stop_cause(&self) -> Option<RedfishError> {
        lock(&self.stopped).clone()
    }

    /// Returns the defects that the lenient JSON pass repaired, one per URI.
    pub fn defects(&self) -> Vec<Defect> {
        lock(&self.defects).clone()
    }

    /// Deletes the Redfish session; does nothing with basic auth.
    ///
    /// A 404, or a 401 for the session's own token, counts as success, because the BMC has
    /// already ended the session. A session that could not be deleted is also recorded for
    /// [`super::RedfishClient::open_sessions`].
    pub async fn logout(self) -> Result<(), RedfishError> {
        let (auth, uri) = {
            let mut state = self.state();
            (state.auth.clone(), state.session_uri.take())
        };
        let Some(uri) = uri else {
            return Ok(());
        };
        let deleted = delete_session(&self.connection, &auth, &uri).await;
        if let Err(err) = &deleted {
            self.connection.background.left_open(OpenSession {
                bmc: self.connection.bmc.to_string(),
                uri: Some(uri),
                cause: format!("logout failed: {err}"),
            });
        }
        deleted
    }

    /// Takes the token and session URI out, leaving nothing for `Drop` to delete.
    pub(crate) fn into_auth(self) -> (Auth, Option<String>) {
        let mut state = self.state();
        (state.auth.clone(), state.session_uri.take())
    }

    fn state(&self) -> MutexGuard<'_, AuthState> {
        lock(&self.state)
    }

    fn stop(&self, cause: &RedfishError) {
        lock(&self.stopped).get_or_insert_with(|| cause.clone());
    }

    /// Sends one GET with the credentials current when it goes out, after any re-login in
    /// progress. Returns the reply and the generation of the credentials used.
    async fn send_get(&self, path: &str, url: url::Url) -> Result<(super::connection::Reply, u64), RedfishError> {
        loop {
            if self.relogging.load(Ordering::Acquire) {
                drop(self.relogin_lock.lock().await);
            }
            if let Some(cause) = self.stop_cause() {
                return Err(cause);
            }
            let generation = AtomicU64::new(0);
            let build = || {
                if self.relogging.load(Ordering::Acquire) || lock(&self.stopped).is_some() {
                    return None;
                }
                let state = self.state();
                generation.store(state.generation, Ordering::Relaxed);
                Some(state.auth.apply(self.connection.http.get(url.clone())))
            };
            if let Some(reply) = self.connection.send_built(path, build, Replay::Idempotent).await? {
                return Ok((reply, generation.load(Ordering::Relaxed)));
            }
        }
    }

    /// True when the BMC rejected the session token, which it does once it expired the session.
    fn token_rejected(&self, reply: &super::connection::Reply) -> bool {
        reply.status == StatusCode::UNAUTHORIZED && matches!(self.state().auth, Auth::Token(_))
    }

    /// Logs in again after the BMC returned 401 for a token, which happens when it expired
    /// the session. Returns whether the request to `uri` should be sent again.
    ///
    /// The expired session is not deleted: the BMC has already dropped it.
    async fn relogin(&self, uri: &str, used_generation: u64) -> Result<bool, RedfishError> {
        let Some((collection, credentials)) = &self.relogin else {
            return Ok(false);
        };
        let _guard = self.relogin_lock.lock().await;
        if self.state().generation != used_generation {
            return Ok(true);
        }
        if self.relogins.fetch_add(1, Ordering::Relaxed) >= MAX_RELOGINS {
            // The credentials worked for every login so far, so the hint of a 401 to check
            // them would mislead. The session stops, so that the reads still queued fail
            // without sending the dead token again.
            let err = RedfishError::Protocol {
                bmc: self.connection.bmc.to_string(),
                uri: uri.to_string(),
                detail: format!(
                    "the BMC rejected the session token again after {MAX_RELOGINS} new logins; it ends sessions sooner than the node's reads take (check the BMC's session timeout)"
                ),
            };
            self.stop(&err);
            return Err(err);
        }
        self.relogging.store(true, Ordering::Release);
        let _relogging = Relogging(&self.relogging);

        tracing::info!(bmc = %self.connection.bmc, "the BMC rejected the session token, probably expired; logging in again");
        let Some(fresh) = super::client::create_session_detached(&self.connection, collection, credentials).await?
        else {
            return Ok(false);
        };
        let (auth, session_uri) = fresh.into_auth();
        let mut state = self.state();
        state.auth = auth;
        state.session_uri = session_uri;
        state.generation += 1;
        Ok(true)
    }

    /// Sends a PATCH with a JSON body, for example a system's `Boot` override or a
    /// `@Redfish.Settings` object.
    ///
    /// Sending the same PATCH twice leaves the same state, so it is retried like a GET.
    pub async fn patch(&self, path: &str, body: &Value) -> Result<WriteReply, RedfishError> {
        self.write(Method::PATCH, path, body, Replay::Idempotent).await
    }

    /// Sends a POST with a JSON body, for example a `ComputerSystem.Reset` action.
    ///
    /// A POST is retried only when the BMC did not act on it (no connection, 429 or 503),
    /// so an action is never run twice.
    pub async fn post(&self, path: &str, body: &Value) -> Result<WriteReply, RedfishError> {
        self.write(Method::POST, path, body, Replay::IfNotProcessed).await
    }

    /// Sends one write with the session's credentials, logging in again once on an expired
    /// token. A non-success status is an error carrying the BMC's message.
    async fn write(
        &self,
        method: Method,
        path: &str,
        body: &Value,
        replay: Replay,
    ) -> Result<WriteReply, RedfishError> {
        let url = self.connection.resolve(path)?;
        self.writes_sent.fetch_add(1, Ordering::Relaxed);
        tracing::info!(bmc = %self.connection.bmc, method = %method, uri = path, "sending redfish write");

        let (mut reply, mut generation) = self.send_write(&method, path, url.clone(), body, replay).await?;
        while self.token_rejected(&reply) && self.relogin(path, generation).await? {
            (reply, generation) = self.send_write(&method, path, url.clone(), body, replay).await?;
        }
        if !reply.status.is_success() {
            return Err(self.connection.status_error(path, &reply));
        }

        // A 204 or an empty 200 has no body. A body that is not JSON is kept out of the reply
        // rather than failing a write the BMC accepted.
        let body = if reply.body.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            self.connection.json(path, &reply).ok().map(|parsed| parsed.value)
        };
        let location = reply
            .headers
            .get(reqwest::header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        Ok(WriteReply {
            status: reply.status.as_u16(),
            body,
            location,
        })
    }

    async fn send_write(
        &self,
        method: &Method,
        path: &str,
        url: url::Url,
        body: &Value,
        replay: Replay,
    ) -> Result<(super::connection::Reply, u64), RedfishError> {
        let (auth, generation) = {
            let state = self.state();
            (state.auth.clone(), state.generation)
        };
        let request = auth.apply(self.connection.http.request(method.clone(), url).json(body));
        let reply = self.connection.send(path, request, replay).await?;
        Ok((reply, generation))
    }

    pub(crate) fn record_defect(&self, uri: &str, message: String) {
        let mut defects = lock(&self.defects);
        // A BMC whose firmware writes every body the same broken way would otherwise log a
        // warning per resource; the JSON report lists each one.
        if defects.is_empty() {
            tracing::warn!(bmc = %self.connection.bmc, uri, defect = %message, "repaired an invalid response; the JSON report lists every repaired resource of this BMC");
        } else {
            tracing::debug!(bmc = %self.connection.bmc, uri, defect = %message, "repaired an invalid response");
        }
        if !defects.iter().any(|defect| defect.uri == uri) {
            defects.push(Defect {
                uri: uri.to_string(),
                message,
            });
        }
    }

    /// Reads `path`, returning its body and, when the body parsed without repair, its text.
    async fn read(&self, path: &str) -> Result<WithText, RedfishError> {
        let url = self.connection.resolve(path)?;
        let limit = self.connection.max_resources;
        if self.requests_sent.fetch_add(1, Ordering::Relaxed) >= limit {
            return Err(RedfishError::ResourceLimit {
                bmc: self.connection.bmc.to_string(),
                limit,
            });
        }

        // A read sent again after a re-login can meet the next expiry too, so each 401 gets
        // a re-login until MAX_RELOGINS are spent.
        let (mut reply, mut generation) = self.send_get(path, url.clone()).await?;
        while self.token_rejected(&reply) && self.relogin(path, generation).await? {
            (reply, generation) = self.send_get(path, url.clone()).await?;
        }
        if !reply.status.is_success() {
            return Err(self.connection.status_error(path, &reply));
        }

        let parsed = self.connection.json(path, &reply)?;
        let text = match parsed.defect {
            Some(defect) => {
                self.record_defect(path, defect);
                None
            }
            None => Some(reply.body.into_boxed_slice()),
        };
        Ok((parsed.value, text))
    }
}

/// Clears the re-login flag when the re-login ends, however it ends.
struct Relogging<'a>(&'a AtomicBool);

impl Drop for Relogging<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Sends the DELETE of a session, retrying 5xx statuses as well as what every request retries.
pub(crate) async fn delete_session(connection: &BmcConnection, auth: &Auth, uri: &str) -> Result<(), RedfishError> {
    let url = connection.resolve(uri)?;
    // A logout often follows a node that ran out of time, so its retries get a window of
    // their own instead of the node's deadline. Two request timeouts let a timed-out DELETE
    // be retried once.
    let mut connection = connection.clone();
    connection.deadline = Some(tokio::time::Instant::now() + connection.request_timeout.saturating_mul(2));
    let reply = connection
        .send(uri, auth.apply(connection.http.delete(url)), Replay::Logout)
        .await?;
    if reply.status.is_success() || reply.status == StatusCode::NOT_FOUND {
        tracing::debug!(bmc = %connection.bmc, uri, "deleted redfish session");
        return Ok(());
    }
    // A token the BMC rejects belongs to a session it has already ended, as an expired one.
    if reply.status == StatusCode::UNAUTHORIZED && matches!(auth, Auth::Token(_)) {
        tracing::debug!(bmc = %connection.bmc, uri, "the BMC had already ended the redfish session");
        return Ok(());
    }
    Err(connection.status_error(uri, &reply))
}

impl Drop for Session {
    fn drop(&mut self) {
        let (auth, uri) = {
            let mut state = self.state();
            (state.auth.clone(), state.session_uri.take())
        };
        let Some(uri) = uri else {
            return;
        };
        let connection = self.connection.clone();
        let background = connection.background.clone();
        if tokio::runtime::Handle::try_current().is_err() {
            tracing::warn!(bmc = %connection.bmc, uri, "redfish session dropped outside a runtime; it stays open until the BMC expires it");
            background.left_open(OpenSession {
                bmc: connection.bmc.to_string(),
                uri: Some(uri),
                cause: "dropped outside an async runtime, so no logout was sent".to_string(),
            });
            return;
        }
        let ticket = background.start(OpenSession {
            bmc: connection.bmc.to_string(),
            uri: Some(uri.clone()),
            cause: "the logout was still running when rackcheck stopped waiting for it".to_string(),
        });
        background.clone().spawn(async move {
            let left_open = match delete_session(&connection, &auth, &uri).await {
                Ok(()) => None,
                Err(err) => {
                    tracing::warn!(bmc = %connection.bmc, uri, cause = %err, "failed to delete dropped redfish session");
                    Some(OpenSession {
                        bmc: connection.bmc.to_string(),
                        uri: Some(uri),
                        cause: format!("logout failed: {err}"),
                    })
                }
            };
            background.finish(ticket, left_open);
        });
    }
}

impl Fetch for Session {
    async fn get(&self, path: &str) -> Result<Value, RedfishError> {
        self.get_text(path).await.map(|(value, _)| value)
    }

    async fn get_text(&self, path: &str) -> Result<WithText, RedfishError> {
        if let Some(cause) = self.stop_cause() {
            return Err(cause);
        }
        if let Some(body) = self.take_login_body(path) {
            return Ok((body, None));
        }
        let result = self.read(path).await;
        if let Err(err) = &result
            && err.is_cap()
        {
            self.stop(err);
        }
        result
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("bmc", &self.connection.bmc.to_string())
            .field("auth_kind", &self.auth_kind())
            .field("session_uri", &self.session_uri())
            .field("requests_sent", &self.requests_sent())
            .finish_non_exhaustive()
    }
}
