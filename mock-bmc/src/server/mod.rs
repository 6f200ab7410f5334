//! A mock BMC: one HTTPS server that serves a [`Mockup`] with Redfish auth and sessions.
//!
//! Key types: [`BmcConfig`] (address, credentials, BMC behaviour), [`MockBmc`] (a running
//! server) and [`Stats`] (request and session counts for tests to assert on).

mod accounting;
mod auth;
mod expand;
mod fault_layer;
mod handler;
mod rendered;
mod response;
mod session;
mod state;
mod view;
mod writes;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum_server::tls_rustls::RustlsConfig;
use tokio::task::JoinHandle;

use crate::error::Error;
use crate::fault::Faults;
use crate::mockup::Mockup;
use crate::tls;
use session::SessionTable;
use state::Overlay;
use view::QueryOptions;

pub use accounting::Stats;
pub(crate) use rendered::RenderCache;
pub use state::Event;

/// Listen address, credentials and behaviour of one mock BMC.
#[derive(Clone)]
pub struct BmcConfig {
    /// Listen address, which must be loopback. Port 0 picks a free port.
    pub listen: SocketAddr,
    pub username: String,
    pub password: String,
    /// False hides the SessionService (POST Sessions returns 404) so clients must use basic
    /// auth, as on some old BMCs.
    pub sessions: bool,
    /// `Some(n)` pages collections longer than `n` members with `Members@odata.nextLink`.
    pub page_size: Option<usize>,
    /// Honour `$expand` (`*`, `.` and `~` with `$levels`) and advertise it in the service
    /// root's `ProtocolFeaturesSupported.ExpandQuery`. When false, `$expand` is ignored and
    /// `ExpandQuery` is removed from the served root.
    pub expand: bool,
    /// Copy pending BIOS settings into the current attributes when a `ComputerSystem.Reset`
    /// boots the system, as BIOS settings with `ApplyTime` `OnReset` do.
    pub apply_settings_on_reset: bool,
    /// Injected faults: latency, errors, corrupt bodies, session limits, TLS. The default
    /// injects none.
    pub faults: Faults,
}

impl BmcConfig {
    /// Returns a config for `127.0.0.1:0` with sessions enabled and no paging.
    pub fn loopback(username: impl Into<String>, password: impl Into<String>) -> BmcConfig {
        BmcConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            username: username.into(),
            password: password.into(),
            sessions: true,
            page_size: None,
            expand: false,
            apply_settings_on_reset: true,
            faults: Faults::default(),
        }
    }

    fn credentials_match(&self, username: &str, password: &str) -> bool {
        self.username == username && self.password == password
    }
}

impl std::fmt::Debug for BmcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BmcConfig")
            .field("listen", &self.listen)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("sessions", &self.sessions)
            .field("page_size", &self.page_size)
            .field("expand", &self.expand)
            .field("apply_settings_on_reset", &self.apply_settings_on_reset)
            .field("faults", &self.faults)
            .finish()
    }
}

/// State shared by all requests to one mock BMC.
pub(crate) struct BmcState {
    mockup: Arc<Mockup>,
    config: BmcConfig,
    addr: SocketAddr,
    sessions: Mutex<SessionTable>,
    /// Counters. `stats_now` fills `open_sessions` from the session table.
    stats: Mutex<Stats>,
    /// Resources changed by writes, and the event log.
    overlay: Mutex<Overlay>,
    /// Fault rules with their request counters, and counts of injected faults.
    faults: fault_layer::FaultState,
    /// The deepest `$levels` accepted, `None` when `$expand` is off.
    expand_levels: Option<u32>,
}

impl BmcState {
    fn sessions(&self) -> MutexGuard<'_, SessionTable> {
        self.sessions.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn stats(&self) -> MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn overlay(&self) -> MutexGuard<'_, Overlay> {
        self.overlay.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Returns the counts since start with the number of open sessions.
    fn stats_now(&self) -> Stats {
        let mut stats = self.stats().clone();
        stats.open_sessions = self.sessions().len();
        stats
    }

    /// Returns the stored URI and the resource at `path` as this BMC serves it now.
    fn resource(&self, path: &str) -> Option<(String, serde_json::Value)> {
        self.overlay().resource(&self.mockup, path)
    }

    /// Returns the body to serve for `resource` at `uri`, with paging and `$expand` applied.
    fn render(&self, resource: &serde_json::Value, uri: &str, options: QueryOptions) -> serde_json::Value {
        let overlay = self.overlay();
        render_with(&overlay, &self.mockup, &self.config, resource, uri, options)
    }

    /// Returns the serialized body to serve for the mockup resource at `path`, `None` when
    /// there is none. While no write has changed this BMC's resources, the body is rendered
    /// once and shared with the other BMCs that serve the same mockup.
    fn rendered(&self, path: &str, options: QueryOptions) -> Option<Arc<rendered::Rendered>> {
        let overlay = self.overlay();
        if !overlay.is_pristine() {
            let (uri, resource) = overlay.resource(&self.mockup, path)?;
            let body = render_with(&overlay, &self.mockup, &self.config, &resource, &uri, options);
            return Some(Arc::new(rendered::Rendered::new(&body)));
        }

        let (uri, resource) = self.mockup.find(path)?;
        let key = rendered::RenderKey {
            uri: uri.to_string(),
            options,
            expand: self.config.expand,
            sessions: self.config.sessions,
            page_size: self.config.page_size,
        };
        let render = || render_with(&overlay, &self.mockup, &self.config, resource, uri, options);
        Some(self.mockup.renders.get_or_render(key, render))
    }
}

/// Renders `resource` at `uri` as `overlay` serves it: the service root adjusted to the
/// config, and any other resource with paging and `$expand` applied.
fn render_with(
    overlay: &Overlay,
    mockup: &Mockup,
    config: &BmcConfig,
    resource: &serde_json::Value,
    uri: &str,
    options: QueryOptions,
) -> serde_json::Value {
    if uri == handler::SERVICE_ROOT_URI {
        return view::service_root(resource, config);
    }
    let lookup = |target: &str| overlay.resource(mockup, target).map(|(_, resource)| resource);
    view::render(resource, uri, options, config, &lookup)
}

/// A running mock BMC. Dropping it stops the server without waiting.
pub struct MockBmc {
    state: Arc<BmcState>,
    certificate_pem: String,
    handle: axum_server::Handle<SocketAddr>,
    task: Option<JoinHandle<()>>,
}

impl MockBmc {
    /// Binds `config.listen` and starts serving `mockup` over HTTPS with a new self-signed
    /// certificate. Rejects addresses that are not loopback.
    pub async fn start(mockup: Arc<Mockup>, config: BmcConfig) -> Result<MockBmc, Error> {
        if !config.listen.ip().is_loopback() {
            return Err(Error::NotLoopback { addr: config.listen });
        }

        let listener = bind(config.listen)?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;
        let problems = config.faults.problems();
        if !problems.is_empty() {
            return Err(Error::InvalidFaults { addr, problems });
        }
        let identity = tls::server_identity(addr, &config.faults.tls)?;

        let expand_levels = config
            .expand
            .then(|| expand::max_levels(mockup.get(handler::SERVICE_ROOT_URI)));
        let state = Arc::new(BmcState {
            sessions: Mutex::new(SessionTable::with_expiry(config.faults.sessions.expiry())),
            faults: fault_layer::FaultState::new(&config.faults),
            expand_levels,
            mockup,
            config,
            addr,
            stats: Mutex::new(Stats::default()),
            overlay: Mutex::new(Overlay::default()),
        });
        let handle = axum_server::Handle::new();
        let server = axum_server::tls_rustls::from_tcp_rustls(listener, RustlsConfig::from_config(identity.config))
            .map_err(|source| Error::Bind { addr, source })?
            .handle(handle.clone());

        let app = router(state.clone());
        let task = tokio::spawn(async move {
            if let Err(err) = server.serve(app.into_make_service()).await {
                tracing::error!(bmc = %addr, cause = %err, "mock BMC server stopped with an error");
            }
        });

        tracing::info!(bmc = %addr, resources = state.mockup.len(), "mock BMC started");
        Ok(MockBmc {
            state,
            certificate_pem: identity.certificate_pem,
            handle,
            task: Some(task),
        })
    }

    /// Returns the address the server listens on, with the port it was given.
    pub fn addr(&self) -> SocketAddr {
        self.state.addr
    }

    /// Returns `https://IP:PORT` (IPv6 addresses in brackets).
    pub fn base_url(&self) -> String {
        format!("https://{}", self.state.addr)
    }

    /// Returns the PEM of the self-signed certificate, for clients to trust as a CA.
    pub fn certificate_pem(&self) -> String {
        self.certificate_pem.clone()
    }

    /// Returns the counts since start.
    pub fn stats(&self) -> Stats {
        self.state.stats_now()
    }

    /// Returns the state changes made by PATCH and actions since start, in order.
    pub fn events(&self) -> Vec<Event> {
        self.state.overlay().events().to_vec()
    }

    /// Returns the resource at `path` as the BMC serves it now, with its changes but without
    /// query options or paging.
    pub fn resource(&self, path: &str) -> Option<serde_json::Value> {
        self.state.resource(path).map(|(_, resource)| resource)
    }

    /// Stops the server, closes its connections and waits for it to finish.
    pub async fn shutdown(mut self) {
        self.handle.shutdown();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        tracing::info!(bmc = %self.state.addr, "mock BMC stopped");
    }
}

impl Drop for MockBmc {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

/// Binds a non-blocking listener, as tokio requires for a std socket.
fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, Error> {
    let listener = std::net::TcpListener::bind(addr).map_err(|source| Error::Bind { addr, source })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| Error::Bind { addr, source })?;
    Ok(listener)
}

fn router(state: Arc<BmcState>) -> Router {
    Router::new()
        .fallback(handler::handle)
        .with_state(state.clone())
        .layer(axum::middleware::map_response(add_redfish_headers))
        // Outside the Redfish headers, so a fault can serve an HTML page as text/html.
        .layer(axum::middleware::from_fn_with_state(state.clone(), fault_layer::inject))
        // Keep accounting the outermost layer, so it counts requests that other layers reject.
        .layer(axum::middleware::from_fn_with_state(state, accounting::track))
}

/// Adds the headers every Redfish response carries, including axum's own rejections.
async fn add_redfish_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert("odata-version", HeaderValue::from_static("4.0"));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}
