//! The Redfish client: the HTTPS client for every BMC, and the login that turns a BMC
//! address and credentials into a [`Session`].
//!
//! Login reads the service root without credentials. When it links `Links.Sessions`, the
//! client POSTs the credentials there (in the body only, never in an Authorization header)
//! and uses the `X-Auth-Token` it returns. Without that link, or when the POST returns 404
//! or 405, every request carries HTTP basic auth instead. A login rejected because the
//! session table is full is never repeated; it falls back to basic auth only when
//! [`ClientOptions::basic_auth_fallback`] allows.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ipnet::IpNet;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, HeaderMap, HeaderName, HeaderValue};
use rustls::client::danger::ServerCertVerifier;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, oneshot};
use url::Url;

use super::allow::AllowedNets;
use super::connection::{BackgroundTasks, BmcConnection, OpenSession, Replay, Reply};
use super::known_bmcs::{KnownBmcs, KnownBmcsError};
use super::retry::RetryPolicy;
use super::session::{Auth, Session};
use super::tls::{self, PinningVerifier, TlsConfigError};
use super::{ParsedJson, RedfishError, odata_id};
use crate::credentials::Credentials;
use crate::inventory::BmcAddress;

const SERVICE_ROOT: &str = "/redfish/v1/";

/// Standard path of the sessions collection, tried when the service root requires authentication.
const DEFAULT_SESSIONS: &str = "/redfish/v1/SessionService/Sessions";

/// Settings of the client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Accept any BMC certificate (`--insecure`); handshake signatures are still checked.
    pub insecure: bool,
    /// PEM file of CA certificates trusted besides the system store (`--ca-file`).
    pub ca_file: Option<PathBuf>,
    /// File of pinned BMC certificate fingerprints (`--known-bmcs`).
    pub known_bmcs: Option<PathBuf>,
    /// Record the certificate of a BMC missing from `known_bmcs` on first use
    /// (`--record-new-bmcs`), instead of verifying it against the CA roots.
    pub record_new_bmcs: bool,
    /// Networks that BMCs may be in (`--allow-net`); empty allows every address.
    pub allow_nets: Vec<IpNet>,
    /// Read with basic auth when a login is rejected because the session table is full
    /// (`--basic-auth-fallback`).
    pub basic_auth_fallback: bool,
    /// Limit on the TCP connect and TLS handshake.
    pub connect_timeout: Duration,
    /// Limit on one request, from sending it to reading the last byte of the body.
    pub request_timeout: Duration,
    /// Requests in flight to one BMC at a time, over all its sessions; at least 1.
    pub max_in_flight: usize,
    /// Retries after connection errors, timeouts, 429 and 503.
    pub retry: RetryPolicy,
    /// Reads per session; the read after the last one ends the node's scan (`--max-resources`).
    pub max_resources: u64,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            insecure: false,
            ca_file: None,
            known_bmcs: None,
            record_new_bmcs: false,
            allow_nets: Vec::new(),
            basic_auth_fallback: false,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            // BMCs are small embedded systems that fail under parallel load.
            max_in_flight: 2,
            retry: RetryPolicy::default(),
            // NOTE: a guess: a full HGX node reads about 300 resources, so 5,000 leaves a
            // wide margin while stopping a BMC whose links never end.
            max_resources: 5_000,
        }
    }
}

/// Invalid [`ClientOptions`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error(transparent)]
    Tls(#[from] TlsConfigError),

    #[error(transparent)]
    KnownBmcs(#[from] KnownBmcsError),

    #[error("the limit on requests in flight per BMC must be at least 1")]
    ZeroInFlight,

    #[error("failed to build the HTTP client: {cause}")]
    Build { cause: String },
}

/// Per-BMC state of the client.
#[derive(Debug)]
struct BmcEntry {
    /// In-flight permits, so that several sessions on one BMC share its limit.
    limit: Arc<Semaphore>,
    /// The BMC's pin verifier when pinning is on. It is kept for the scan because rustls
    /// resumes a TLS session only under the verifier that made it.
    verifier: Option<Arc<dyn ServerCertVerifier>>,
}

/// Certificate pins and the verifier for BMCs without one.
#[derive(Debug, Clone)]
struct Pinning {
    known: Arc<KnownBmcs>,
    fallback: Arc<dyn ServerCertVerifier>,
}

/// The HTTPS client of a scan; cheap to clone.
#[derive(Debug, Clone)]
pub struct RedfishClient {
    /// The TLS configuration of BMCs without a pin. Its clones share one store of TLS
    /// sessions, so a BMC's second connection resumes the first one's session.
    tls: rustls::ClientConfig,
    pinning: Option<Pinning>,
    options: Arc<ClientOptions>,
    allowed: AllowedNets,
    bmcs: Arc<Mutex<HashMap<BmcAddress, BmcEntry>>>,
    background: BackgroundTasks,
}

impl RedfishClient {
    /// Builds the client: rustls with the ring provider, the TLS policy of `options`, Redfish
    /// headers on every request, and redirects followed only on the same origin.
    pub fn new(options: &ClientOptions) -> Result<RedfishClient, ClientError> {
        if options.max_in_flight == 0 {
            return Err(ClientError::ZeroInFlight);
        }
        let allowed = AllowedNets::new(options.allow_nets.clone());
        let verifier = tls::base_verifier(options.insecure, options.ca_file.as_deref())?;
        let tls = tls::client_config(verifier.clone())?;
        // Built once here so that an unusable setting fails the scan before any BMC is read.
        build_http(tls.clone(), options, &allowed)?;
        let pinning = match &options.known_bmcs {
            Some(path) => Some(Pinning {
                known: Arc::new(KnownBmcs::load(path, options.record_new_bmcs)?),
                fallback: verifier,
            }),
            None => None,
        };

        Ok(RedfishClient {
            tls,
            pinning,
            options: Arc::new(options.clone()),
            allowed,
            bmcs: Arc::default(),
            background: BackgroundTasks::default(),
        })
    }

    /// Logs in to a BMC with a Redfish session, or with basic auth where it has none.
    ///
    /// Wrong credentials give [`RedfishError::Unauthorized`]. With basic auth they are checked
    /// by reading the `Systems` collection, since the service root needs no credentials.
    pub async fn login(&self, bmc: &BmcAddress, credentials: &Credentials) -> Result<Session, RedfishError> {
        self.login_before(bmc, credentials, None).await
    }

    /// Logs in as [`RedfishClient::login`] does, for a node whose time ends at `deadline`:
    /// no retry of the session's requests waits past it.
    ///
    /// A BMC outside `--allow-net` is rejected before any request.
    pub async fn login_before(
        &self,
        bmc: &BmcAddress,
        credentials: &Credentials,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<Session, RedfishError> {
        self.allowed.check(bmc).await?;
        let connection = self.connection(bmc, deadline)?;
        let (root, root_defect) = match read_service_root(&connection).await? {
            Some(root) => (Some(root.value), root.defect),
            None => (None, None),
        };
        let sessions = match &root {
            Some(root) => root.pointer("/Links/Sessions").and_then(odata_id),
            None => Some(DEFAULT_SESSIONS.to_string()),
        };

        if let Some(sessions) = sessions {
            match create_session_detached(&connection, &sessions, credentials).await {
                Ok(Some(session)) => return Ok(with_service_root(session, root, root_defect)),
                Ok(None) => {}
                Err(RedfishError::SessionLimit { status, message, .. }) if self.options.basic_auth_fallback => {
                    // The error's own hint suggests the flag that is already given.
                    let message = message.unwrap_or_default();
                    tracing::warn!(bmc = %bmc, status, message, "session limit reached; reading with basic auth (--basic-auth-fallback)");
                }
                Err(err) => return Err(err),
            }
        }

        let systems = root.as_ref().and_then(|root| root.get("Systems")).and_then(odata_id);
        let auth = Auth::Basic(credentials.clone());
        let systems_body = match &systems {
            Some(systems) => check_basic_auth(&connection, &auth, systems).await?,
            None => None,
        };
        tracing::debug!(bmc = %bmc, "reading with basic auth");
        let session = with_service_root(Session::new(connection, auth, None, None), root, root_defect);
        if let (Some(systems), Some(body)) = (systems, systems_body) {
            session.keep_login_body(&systems, body);
        }
        Ok(session)
    }

    /// Reads a BMC's service root without credentials, as `rackcheck discover` does to
    /// identify BMCs. `None` when the BMC demands credentials even there.
    pub async fn service_root(&self, bmc: &BmcAddress) -> Result<Option<Value>, RedfishError> {
        let connection = self.connection(bmc, None)?;
        Ok(read_service_root(&connection).await?.map(|root| root.value))
    }

    /// Waits until every session dropped without logout is deleted, and every login whose
    /// caller was cancelled has finished and deleted its session.
    pub async fn wait_for_logouts(&self) {
        self.background.wait().await;
    }

    /// Lists the sessions that may still be open on their BMCs: logouts that failed after
    /// their retries, sessions whose URI the login response did not give, and logins and
    /// logouts still running. Each stays open until its BMC expires it.
    pub fn open_sessions(&self) -> Vec<OpenSession> {
        self.background.open_sessions()
    }

    /// Returns a connection to `bmc` with an HTTP client of its own.
    ///
    /// Each login gets its own client, so its TLS connections close when the session and
    /// its logout are done. A shared client would keep two idle connections open to every
    /// BMC of the scan until the scan ends: memory in the scanner, and connection slots of
    /// BMCs that allow only a few.
    fn connection(
        &self,
        bmc: &BmcAddress,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<BmcConnection, RedfishError> {
        let (limit, verifier) = {
            let mut bmcs = self.bmcs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let entry = bmcs.entry(bmc.clone()).or_insert_with(|| BmcEntry {
                limit: Arc::new(Semaphore::new(self.options.max_in_flight)),
                verifier: self.pinning.as_ref().map(|pinning| {
                    let verifier = PinningVerifier::new(bmc, pinning.known.clone(), pinning.fallback.clone());
                    Arc::new(verifier) as Arc<dyn ServerCertVerifier>
                }),
            });
            (entry.limit.clone(), entry.verifier.clone())
        };
        let mut tls = self.tls.clone();
        if let Some(verifier) = verifier {
            tls.dangerous().set_certificate_verifier(verifier);
        }
        let http = build_http(tls, &self.options, &self.allowed).map_err(|err| RedfishError::Tls {
            bmc: bmc.to_string(),
            cause: err.to_string(),
        })?;
        Ok(BmcConnection {
            http,
            base: bmc.url(),
            bmc: bmc.clone(),
            limit,
            request_timeout: self.options.request_timeout,
            connect_timeout: self.options.connect_timeout,
            retry: self.options.retry.clone(),
            max_resources: self.options.max_resources,
            deadline,
            background: self.background.clone(),
        })
    }
}

fn build_http(
    tls: rustls::ClientConfig,
    options: &ClientOptions,
    allowed: &AllowedNets,
) -> Result<reqwest::Client, ClientError> {
    let mut builder = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .http1_only()
        .default_headers(redfish_headers())
        .user_agent(concat!("rackcheck/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(options.connect_timeout)
        .redirect(same_origin_redirects())
        // BMC networks are out-of-band; an HTTPS_PROXY meant for the internet must not
        // carry BMC credentials.
        .no_proxy()
        .pool_max_idle_per_host(options.max_in_flight);
    if allowed.is_restricted() {
        builder = builder.dns_resolver(Arc::new(allowed.clone()));
    }
    builder
        .build()
        .map_err(|err| ClientError::Build { cause: err.to_string() })
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

/// Hands the service root that login read to the session, so the collector does not request
/// it again, and records its repair as a defect when it needed one. A root without a
/// `Systems` link is not kept, because a BMC that hides links from unauthenticated clients
/// may show them once logged in.
fn with_service_root(session: Session, root: Option<Value>, defect: Option<String>) -> Session {
    if let Some(defect) = defect {
        session.record_defect(SERVICE_ROOT.trim_end_matches('/'), defect);
    }
    if let Some(root) = root.filter(|root| root.get("Systems").is_some()) {
        session.keep_login_body(SERVICE_ROOT, root);
    }
    session
}

/// Reads the service root without credentials; `None` when the BMC demands them anyway.
async fn read_service_root(connection: &BmcConnection) -> Result<Option<ParsedJson>, RedfishError> {
    let url = connection.resolve(SERVICE_ROOT)?;
    let reply = connection
        .send(SERVICE_ROOT, connection.http.get(url), Replay::Idempotent)
        .await?;
    match reply.status {
        status if status.is_success() => connection.json(SERVICE_ROOT, &reply).map(Some),
        // NOTE: the Redfish specification requires an unauthenticated service root; this
        // branch guesses the standard sessions path for BMCs that break that rule.
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Ok(None),
        _ => Err(connection.status_error(SERVICE_ROOT, &reply)),
    }
}

/// Creates a session as [`create_session`] does, in a spawned task, so that a session the
/// BMC creates is deleted even when the caller is cancelled (a node deadline or Ctrl-C)
/// while the POST is in flight: the task then drops the new [`Session`], which deletes it.
pub(crate) async fn create_session_detached(
    connection: &BmcConnection,
    sessions: &str,
    credentials: &Credentials,
) -> Result<Option<Session>, RedfishError> {
    let (sender, receiver) = oneshot::channel();
    let task_connection = connection.clone();
    let task_sessions = sessions.to_string();
    let credentials = credentials.clone();
    let background = connection.background.clone();
    let ticket = background.start(OpenSession {
        bmc: connection.bmc.to_string(),
        uri: None,
        cause: "a login was still running when rackcheck stopped waiting for it".to_string(),
    });
    connection.background.spawn(async move {
        let created = create_session(&task_connection, &task_sessions, &credentials).await;
        // A failed send means the caller is gone; dropping the session deletes it.
        let _ = sender.send(created);
        background.finish(ticket, None);
    });
    receiver.await.unwrap_or_else(|_| {
        Err(RedfishError::Protocol {
            bmc: connection.bmc.to_string(),
            uri: sessions.to_string(),
            detail: "the login task ended without a result".to_string(),
        })
    })
}

/// POSTs the credentials to the sessions collection; `None` when the BMC has no sessions.
///
/// A login is not repeated after the BMC may have acted on it, and a session-limit
/// rejection is returned at once as [`RedfishError::SessionLimit`].
async fn create_session(
    connection: &BmcConnection,
    sessions: &str,
    credentials: &Credentials,
) -> Result<Option<Session>, RedfishError> {
    let url = connection.resolve(sessions)?;
    let body = json!({ "UserName": credentials.username, "Password": credentials.password.expose() });
    // NOTE: a login that times out before the response headers arrive leaves no token or
    // URI to delete. A session that the BMC created then stays open until the BMC expires
    // it, and it is not listed among the open sessions.
    let mut reply = connection
        .send(sessions, connection.http.post(url).json(&body), Replay::IfNotProcessed)
        .await?;

    // A 301, 302 or 303 turns the POST into a GET without the credentials, which the
    // collection then refuses or lists. The redirect stayed on the BMC (see
    // `same_origin_redirects`), so the login is sent again as a POST to where it led.
    if let Some(target) = reply.redirected_to.take()
        && !reply.headers.contains_key("x-auth-token")
    {
        tracing::info!(bmc = %connection.bmc, from = sessions, to = %target, "login redirected; posting the credentials to its target");
        let url = connection.resolve(&target)?;
        reply = connection
            .send(&target, connection.http.post(url).json(&body), Replay::IfNotProcessed)
            .await?;
    }

    match reply.status {
        StatusCode::OK | StatusCode::CREATED => {}
        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => return Ok(None),
        _ if super::connection::is_session_limit(&reply) => {
            return Err(RedfishError::SessionLimit {
                bmc: connection.bmc.to_string(),
                uri: sessions.to_string(),
                status: reply.status.as_u16(),
                message: super::connection::error_message(&reply.body),
            });
        }
        _ => return Err(connection.status_error(sessions, &reply)),
    }

    let token = session_token(connection, sessions, &reply)?;
    let session_uri = session_uri(&reply);
    if let Some(cause) = &reply.body_error {
        tracing::warn!(bmc = %connection.bmc, cause = %cause, "login response body cut short; using the session its headers name");
    }
    if session_uri.is_none() {
        tracing::warn!(bmc = %connection.bmc, "login response has neither a Location header nor an @odata.id; the session cannot be deleted");
        connection.background.left_open(OpenSession {
            bmc: connection.bmc.to_string(),
            uri: None,
            cause:
                "the login response had neither a Location header nor an @odata.id, so the session could not be deleted"
                    .to_string(),
        });
    }
    let relogin = Some((sessions.to_string(), credentials.clone()));
    Ok(Some(Session::new(
        connection.clone(),
        Auth::Token(token),
        session_uri,
        relogin,
    )))
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
    // Lenient, so that a body with a byte-order mark still names the session to delete.
    let body = super::parse_json_lenient(&reply.body).ok()?;
    odata_id(&body.value)
}

/// Reads a resource with basic auth to find out whether the credentials are right.
///
/// Only a 401 or 403 fails the login; any other failure is left for the collector to meet.
/// Returns the body when it is JSON that needed no repair, so that the collector's read of
/// the same resource sends no second request.
async fn check_basic_auth(connection: &BmcConnection, auth: &Auth, path: &str) -> Result<Option<Value>, RedfishError> {
    let url = connection.resolve(path)?;
    let reply = connection
        .send(path, auth.apply(connection.http.get(url)), Replay::Idempotent)
        .await?;
    if matches!(reply.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        return Err(connection.status_error(path, &reply));
    }
    if !reply.status.is_success() || reply.body_error.is_some() {
        return Ok(None);
    }
    Ok(connection
        .json(path, &reply)
        .ok()
        .filter(|parsed| parsed.defect.is_none())
        .map(|parsed| parsed.value))
}
