//! The Redfish client: one shared HTTPS client for every BMC, and the login that turns a BMC
//! address and credentials into a [`Session`].
//!
//! Login reads the service root without credentials. When it links `Links.Sessions`, the
//! client POSTs the credentials there and uses the `X-Auth-Token` it returns. Without that
//! link, or when the POST returns 404 or 405, every request carries HTTP basic auth instead.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use url::Url;

use super::connection::{BmcConnection, Reply};
use super::session::{Auth, Session};
use super::tls::{self, TlsConfigError};
use super::{RedfishError, odata_id};
use crate::credentials::Credentials;
use crate::inventory::BmcAddress;

const SERVICE_ROOT: &str = "/redfish/v1/";

/// Standard path of the sessions collection, tried when the service root requires authentication.
const DEFAULT_SESSIONS: &str = "/redfish/v1/SessionService/Sessions";

/// Settings of the shared client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Accept any BMC certificate (`--insecure`); handshake signatures are still checked.
    pub insecure: bool,
    /// PEM file of CA certificates trusted besides the system store (`--ca-file`).
    pub ca_file: Option<PathBuf>,
    /// Limit on the TCP connect and TLS handshake.
    pub connect_timeout: Duration,
    /// Limit on one request, from sending it to reading the last byte of the body.
    pub request_timeout: Duration,
    /// Requests in flight to one BMC at a time, over all its sessions; at least 1.
    pub max_in_flight: usize,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            insecure: false,
            ca_file: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            // BMCs are small embedded systems that fail under parallel load.
            max_in_flight: 2,
        }
    }
}

/// Invalid [`ClientOptions`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error(transparent)]
    Tls(#[from] TlsConfigError),

    #[error("the limit on requests in flight per BMC must be at least 1")]
    ZeroInFlight,

    #[error("failed to build the HTTP client: {cause}")]
    Build { cause: String },
}

/// The HTTPS client shared by every BMC of a scan; cheap to clone.
#[derive(Debug, Clone)]
pub struct RedfishClient {
    http: reqwest::Client,
    request_timeout: Duration,
    connect_timeout: Duration,
    max_in_flight: usize,
    /// In-flight permits by BMC, so that several sessions on one BMC share its limit.
    limits: Arc<Mutex<HashMap<BmcAddress, Arc<Semaphore>>>>,
}

impl RedfishClient {
    /// Builds the client: rustls with the ring provider, the TLS policy of `options`, Redfish
    /// headers on every request, and redirects followed only on the same origin.
    pub fn new(options: &ClientOptions) -> Result<RedfishClient, ClientError> {
        if options.max_in_flight == 0 {
            return Err(ClientError::ZeroInFlight);
        }
        let tls = tls::client_config(options.insecure, options.ca_file.as_deref())?;

        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .http1_only()
            .default_headers(redfish_headers())
            .user_agent(concat!("rackcheck/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(options.connect_timeout)
            .redirect(same_origin_redirects())
            // BMC networks are out-of-band; an HTTPS_PROXY meant for the internet must not
            // carry BMC credentials.
            .no_proxy()
            .pool_max_idle_per_host(options.max_in_flight)
            .build()
            .map_err(|err| ClientError::Build { cause: err.to_string() })?;

        Ok(RedfishClient {
            http,
            request_timeout: options.request_timeout,
            connect_timeout: options.connect_timeout,
            max_in_flight: options.max_in_flight,
            limits: Arc::default(),
        })
    }

    /// Logs in to a BMC with a Redfish session, or with basic auth where it has none.
    ///
    /// Wrong credentials give [`RedfishError::Unauthorized`]. With basic auth they are checked
    /// by reading the `Systems` collection, since the service root needs no credentials.
    pub async fn login(&self, bmc: &BmcAddress, credentials: &Credentials) -> Result<Session, RedfishError> {
        let connection = self.connection(bmc);
        let root = read_service_root(&connection).await?;
        let sessions = match &root {
            Some(root) => root.pointer("/Links/Sessions").and_then(odata_id),
            None => Some(DEFAULT_SESSIONS.to_string()),
        };

        if let Some(sessions) = sessions
            && let Some(session) = create_session(&connection, &sessions, credentials).await?
        {
            return Ok(session);
        }

        let systems = root.as_ref().and_then(|root| root.get("Systems")).and_then(odata_id);
        let auth = Auth::Basic(credentials.clone());
        if let Some(systems) = systems {
            check_basic_auth(&connection, &auth, &systems).await?;
        }
        tracing::debug!(bmc = %bmc, "no Redfish SessionService; using basic auth");
        Ok(Session::new(connection, auth, None))
    }

    fn connection(&self, bmc: &BmcAddress) -> BmcConnection {
        let mut limits = self
            .limits
            .lock()
            .expect("no code panics while holding the limits lock");
        let limit = limits
            .entry(bmc.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(self.max_in_flight)));
        BmcConnection {
            http: self.http.clone(),
            bmc: bmc.clone(),
            limit: limit.clone(),
            request_timeout: self.request_timeout,
            connect_timeout: self.connect_timeout,
        }
    }
}

fn redfish_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    headers.insert(
        HeaderName::from_static("odata-version"),
        HeaderValue::from_static("4.0"),
    );
    headers
}

/// Follows at most 5 redirects, and only to the origin of the original request, so that
/// credentials and tokens never travel to another host.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let Some(first) = attempt.previous().first() else {
            return attempt.stop();
        };
        if attempt.previous().len() > 5 || attempt.url().origin() != first.origin() {
            return attempt.stop();
        }
        attempt.follow()
    })
}

/// Reads the service root without credentials; `None` when the BMC demands them anyway.
async fn read_service_root(connection: &BmcConnection) -> Result<Option<Value>, RedfishError> {
    let url = connection.resolve(SERVICE_ROOT)?;
    let reply = connection.send(SERVICE_ROOT, connection.http.get(url)).await?;
    match reply.status {
        status if status.is_success() => connection.json(SERVICE_ROOT, &reply).map(Some),
        // NOTE: the Redfish specification requires an unauthenticated service root; this
        // branch guesses the standard sessions path for BMCs that break that rule.
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Ok(None),
        _ => Err(connection.status_error(SERVICE_ROOT, &reply)),
    }
}

/// POSTs the credentials to the sessions collection; `None` when the BMC has no sessions.
async fn create_session(
    connection: &BmcConnection,
    sessions: &str,
    credentials: &Credentials,
) -> Result<Option<Session>, RedfishError> {
    let url = connection.resolve(sessions)?;
    let body = json!({ "UserName": credentials.username, "Password": credentials.password.expose() });
    let reply = connection.send(sessions, connection.http.post(url).json(&body)).await?;

    match reply.status {
        StatusCode::OK | StatusCode::CREATED => {}
        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => return Ok(None),
        _ => return Err(connection.status_error(sessions, &reply)),
    }

    let token = session_token(connection, sessions, &reply)?;
    let session_uri = session_uri(&reply);
    if session_uri.is_none() {
        tracing::warn!(bmc = %connection.bmc, "login response has neither a Location header nor an @odata.id; the session cannot be deleted");
    }
    Ok(Some(Session::new(connection.clone(), Auth::Token(token), session_uri)))
}

fn session_token(connection: &BmcConnection, sessions: &str, reply: &Reply) -> Result<HeaderValue, RedfishError> {
    let mut token = reply
        .headers
        .get("x-auth-token")
        .filter(|value| !value.is_empty())
        .cloned()
        .ok_or_else(|| RedfishError::Protocol {
            bmc: connection.bmc.to_string(),
            uri: sessions.to_string(),
            detail: "login succeeded but the response has no X-Auth-Token header".to_string(),
        })?;
    token.set_sensitive(true);
    Ok(token)
}

/// Returns the path of the new session: from `Location` (relative or absolute), else the
/// body's `@odata.id`. Only the path is kept, so logout goes to the BMC that was logged in to.
fn session_uri(reply: &Reply) -> Option<String> {
    let location = reply
        .headers
        .get(reqwest::header::LOCATION)
        .and_then(|value| value.to_str().ok());
    if let Some(location) = location {
        let base = Url::parse("https://bmc.invalid/").expect("a constant URL parses");
        if let Ok(url) = base.join(location) {
            return Some(url.path().to_string());
        }
    }
    super::parse_json(&reply.body).ok().as_ref().and_then(odata_id)
}

/// Reads a resource with basic auth to find out whether the credentials are right.
///
/// Only a 401 or 403 fails the login; any other failure is left for the collector to meet.
async fn check_basic_auth(connection: &BmcConnection, auth: &Auth, path: &str) -> Result<(), RedfishError> {
    let url = connection.resolve(path)?;
    let reply = connection.send(path, auth.apply(connection.http.get(url))).await?;
    if matches!(reply.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        return Err(connection.status_error(path, &reply));
    }
    Ok(())
}
