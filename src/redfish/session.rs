//! An authenticated conversation with one BMC: a Redfish session token or basic auth.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::header::HeaderValue;
use serde_json::Value;

use super::connection::BmcConnection;
use super::{Fetch, RedfishError};
use crate::credentials::Credentials;
use crate::inventory::BmcAddress;

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

/// A logged-in connection to one BMC, readable through [`Fetch`].
///
/// Call [`Session::logout`] when done, also after a failure. A session dropped without logout
/// sends its DELETE from a spawned task when a tokio runtime is running, but nothing waits
/// for that task, so it is lost when the runtime shuts down first.
pub struct Session {
    connection: BmcConnection,
    auth: Auth,
    /// URI of the Redfish session to DELETE on logout; `None` with basic auth or after logout.
    session_uri: Option<String>,
    requests_sent: AtomicU64,
}

impl Session {
    pub(crate) fn new(connection: BmcConnection, auth: Auth, session_uri: Option<String>) -> Session {
        Session {
            connection,
            auth,
            session_uri,
            requests_sent: AtomicU64::new(0),
        }
    }

    pub fn bmc(&self) -> &BmcAddress {
        &self.connection.bmc
    }

    pub fn auth_kind(&self) -> AuthKind {
        match self.auth {
            Auth::Token(_) => AuthKind::Session,
            Auth::Basic(_) => AuthKind::Basic,
        }
    }

    /// Returns the path of the Redfish session, `None` with basic auth.
    pub fn session_uri(&self) -> Option<&str> {
        self.session_uri.as_deref()
    }

    /// Counts the GET requests sent through [`Fetch::get`], including failed ones.
    pub fn requests_sent(&self) -> u64 {
        self.requests_sent.load(Ordering::Relaxed)
    }

    /// Deletes the Redfish session; does nothing with basic auth.
    ///
    /// A 404 counts as success, because the BMC has already dropped the session.
    pub async fn logout(mut self) -> Result<(), RedfishError> {
        match self.session_uri.take() {
            Some(uri) => delete_session(&self.connection, &self.auth, &uri).await,
            None => Ok(()),
        }
    }
}

async fn delete_session(connection: &BmcConnection, auth: &Auth, uri: &str) -> Result<(), RedfishError> {
    let url = connection.resolve(uri)?;
    let reply = connection.send(uri, auth.apply(connection.http.delete(url))).await?;
    if reply.status.is_success() || reply.status == reqwest::StatusCode::NOT_FOUND {
        tracing::debug!(bmc = %connection.bmc, uri, "deleted redfish session");
        return Ok(());
    }
    Err(connection.status_error(uri, &reply))
}

impl Drop for Session {
    fn drop(&mut self) {
        let Some(uri) = self.session_uri.take() else {
            return;
        };
        let connection = self.connection.clone();
        let auth = self.auth.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(err) = delete_session(&connection, &auth, &uri).await {
                        tracing::warn!(bmc = %connection.bmc, uri, cause = %err, "failed to delete dropped redfish session");
                    }
                });
            }
            Err(_) => {
                tracing::warn!(bmc = %connection.bmc, uri, "redfish session dropped outside a runtime; it stays open until the BMC expires it");
            }
        }
    }
}

impl Fetch for Session {
    async fn get(&self, path: &str) -> Result<Value, RedfishError> {
        let url = self.connection.resolve(path)?;
        self.requests_sent.fetch_add(1, Ordering::Relaxed);

        let request = self.auth.apply(self.connection.http.get(url));
        let reply = self.connection.send(path, request).await?;
        if !reply.status.is_success() {
            return Err(self.connection.status_error(path, &reply));
        }
        self.connection.json(path, &reply)
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("bmc", &self.connection.bmc.to_string())
            .field("auth_kind", &self.auth_kind())
            .field("session_uri", &self.session_uri)
            .field("requests_sent", &self.requests_sent())
            .finish_non_exhaustive()
    }
}
