//! One BMC's end of the shared HTTP client: the same-origin check, the in-flight limit, the
//! request timeout, retries, the caps on body size and JSON depth, and the mapping of HTTP
//! failures to [`RedfishError`].

use std::collections::BTreeMap;
use std::error::Error as _;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, LOCATION};
use reqwest::{RequestBuilder, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use url::Url;

use super::retry::{self, RetryPolicy};
use super::tls::PinMismatchCause;
use super::{JsonError, MAX_JSON_DEPTH, ParsedJson, RedfishError};
use crate::inventory::BmcAddress;

/// Bodies larger than this are rejected, so a BMC that streams without end cannot exhaust memory.
/// NOTE: 16 MiB is a guess with a wide margin, not measured against real BMCs.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Longest Redfish error message kept in an error, in characters.
const MAX_MESSAGE_CHARS: usize = 300;

/// Connection settings for one BMC: the client, its in-flight permits, timeouts and retries.
#[derive(Debug, Clone)]
pub(crate) struct BmcConnection {
    pub(crate) http: reqwest::Client,
    pub(crate) bmc: BmcAddress,
    /// `bmc` as a URL, parsed once: every request resolves its path against it.
    pub(crate) base: Url,
    /// Permits for requests in flight, shared by every session on this BMC.
    pub(crate) limit: Arc<Semaphore>,
    pub(crate) request_timeout: Duration,
    /// Only for messages: reqwest enforces it.
    pub(crate) connect_timeout: Duration,
    pub(crate) retry: RetryPolicy,
    /// Reads allowed per session.
    pub(crate) max_resources: u64,
    /// End of the node's time; no retry waits past it.
    pub(crate) deadline: Option<tokio::time::Instant>,
    /// Logins and logouts running in spawned tasks, awaited before the process exits.
    pub(crate) background: BackgroundTasks,
}

/// Spawned tasks that must finish before the process exits: logins whose caller was
/// cancelled, and the DELETE of sessions dropped without logout. It also records the
/// sessions that may still be open on their BMCs.
#[derive(Debug, Clone, Default)]
pub(crate) struct BackgroundTasks {
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    open: Arc<Mutex<OpenSessions>>,
}

/// A Redfish session that may still be open on its BMC, because its DELETE failed, was
/// still running, or could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenSession {
    pub bmc: String,
    /// Path of the session, `None` when the login response did not name it or the login
    /// was still running.
    pub uri: Option<String>,
    /// Reason the session may still be open: the logout's error, or the login or logout
    /// still running.
    pub cause: String,
}

/// Sessions whose deletion failed, and logins and logouts still running, by ticket.
#[derive(Debug, Default)]
struct OpenSessions {
    next_ticket: u64,
    running: BTreeMap<u64, OpenSession>,
    failed: Vec<OpenSession>,
}

impl BackgroundTasks {
    /// Spawns `task` and keeps its handle; drops the handles of finished tasks.
    pub(crate) fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(task);
        let mut tasks = self.tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        tasks.retain(|task| !task.is_finished());
        tasks.push(handle);
    }

    /// Waits for every task, including tasks spawned while waiting.
    pub(crate) async fn wait(&self) {
        loop {
            let tasks: Vec<JoinHandle<()>> = {
                let mut tasks = self.tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                tasks.drain(..).collect()
            };
            if tasks.is_empty() {
                return;
            }
            for task in tasks {
                if let Err(err) = task.await {
                    tracing::warn!(cause = %err, "a background login or logout task failed");
                }
            }
        }
    }

    /// Records a login or logout that has started and may leave a session open. `session`
    /// describes what stays open if it never finishes. Returns the ticket to pass to
    /// [`BackgroundTasks::finish`].
    pub(crate) fn start(&self, session: OpenSession) -> u64 {
        let mut open = self.open();
        open.next_ticket += 1;
        let ticket = open.next_ticket;
        open.running.insert(ticket, session);
        ticket
    }

    /// Ends a ticket of [`BackgroundTasks::start`], recording `left_open` as a session that
    /// stays open.
    pub(crate) fn finish(&self, ticket: u64, left_open: Option<OpenSession>) {
        let mut open = self.open();
        open.running.remove(&ticket);
        open.failed.extend(left_open);
    }

    /// Records a session that stays open on its BMC.
    pub(crate) fn left_open(&self, session: OpenSession) {
        self.open().failed.push(session);
    }

    /// Lists the sessions that may still be open: failed deletions first, then the logins
    /// and logouts still running.
    pub(crate) fn open_sessions(&self) -> Vec<OpenSession> {
        let open = self.open();
        open.failed.iter().chain(open.running.values()).cloned().collect()
    }

    fn open(&self) -> MutexGuard<'_, OpenSessions> {
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A complete response: status, headers and the body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
    /// Error that ended the body early (a reset connection). `body` then contains what arrived.
    pub(crate) body_error: Option<RedfishError>,
    /// Path of the resource that responded, when the BMC redirected the request elsewhere.
    pub(crate) redirected_to: Option<String>,
}

/// Retry rule of a request, by how safe it is to send again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replay {
    /// GET and DELETE: any retryable failure, since repeating them changes nothing.
    Idempotent,
    /// POST: only failures where the BMC did not act on the request (no connection, 429 or
    /// 503), so a login is never repeated after the BMC may have created a session.
    IfNotProcessed,
    /// The DELETE of a session: as `Idempotent`, and also any other 5xx status. A session
    /// left open takes one of the few slots of the BMC's session table until it expires.
    Logout,
}

impl BmcConnection {
    /// Resolves a path or absolute URL on this BMC, rejecting any other origin.
    pub(crate) fn resolve(&self, uri: &str) -> Result<Url, RedfishError> {
        let url = self.base.join(uri).map_err(|err| RedfishError::Protocol {
            bmc: self.bmc.to_string(),
            uri: uri.to_string(),
            detail: format!("invalid link: {err}"),
        })?;
        if url.origin() != self.base.origin() {
            return Err(RedfishError::OtherOrigin {
                bmc: self.bmc.to_string(),
                uri: uri.to_string(),
            });
        }
        Ok(url)
    }

    /// Sends a request, retrying as the policy and `replay` allow.
    ///
    /// Returns the last reply when it is not retryable or the retries are spent, so the
    /// caller maps its status. A GET whose body was cut short is an error; a POST returns it
    /// in [`Reply::body_error`], so a login can keep the session its headers name.
    pub(crate) async fn send(&self, uri: &str, request: RequestBuilder, replay: Replay) -> Result<Reply, RedfishError> {
        let build = || Some(request.try_clone().expect("Redfish requests have in-memory bodies"));
        let reply = self.send_built(uri, build, replay).await?;
        Ok(reply.expect("a request that is always built is always sent"))
    }

    /// Sends a request as [`BmcConnection::send`] does, building each try with `build` once
    /// the request has its in-flight slot, so that a request that waited for a slot carries
    /// the credentials of the moment it goes out. Returns `None` without sending when
    /// `build` does.
    pub(crate) async fn send_built(
        &self,
        uri: &str,
        build: impl Fn() -> Option<RequestBuilder>,
        replay: Replay,
    ) -> Result<Option<Reply>, RedfishError> {
        let mut attempt: u32 = 1;
        let mut waited = Duration::ZERO;
        let mut timeouts = 0;
        loop {
            let outcome = match self.send_once(uri, &build).await {
                Ok(None) => return Ok(None),
                Ok(Some(reply)) if replay != Replay::IfNotProcessed && reply.body_error.is_some() => {
                    Err(reply.body_error.expect("checked above"))
                }
                Ok(Some(reply)) => Ok(reply),
                Err(err) => Err(err),
            };

            let Some((cause, stated)) = self.retry_cause(&outcome, replay, &mut timeouts) else {
                return outcome.map(Some);
            };
            let Some(wait) = self.next_wait(uri, attempt, waited, stated, &cause) else {
                return outcome.map(Some);
            };
            tracing::info!(bmc = %self.bmc, uri, attempt, wait_ms = wait.as_millis() as u64, cause = %cause, "retrying redfish request");
            tokio::time::sleep(wait).await;
            waited += wait;
            attempt += 1;
        }
    }

    /// Returns why `outcome` may be retried and the wait the BMC stated, or `None` when it
    /// must not be. Timeouts are retried once, since each try costs the whole timeout and a
    /// BMC that missed it twice rarely responds a third time.
    fn retry_cause(
        &self,
        outcome: &Result<Reply, RedfishError>,
        replay: Replay,
        timeouts: &mut u32,
    ) -> Option<(String, Option<Duration>)> {
        match outcome {
            Ok(reply) => {
                let retryable = matches!(reply.status.as_u16(), 429 | 502 | 503 | 504)
                    || (replay == Replay::Logout && reply.status.is_server_error());
                if !retryable || is_session_limit(reply) {
                    return None;
                }
                let stated = retry::stated_wait(&reply.headers, &reply.body);
                Some((self.status_error("", reply).to_string(), stated))
            }
            Err(err @ RedfishError::Connect { .. }) => Some((err.to_string(), None)),
            Err(err @ RedfishError::Timeout { .. }) if replay != Replay::IfNotProcessed => {
                *timeouts += 1;
                (*timeouts == 1).then(|| (err.to_string(), None))
            }
            Err(err @ RedfishError::Transport { .. }) if replay != Replay::IfNotProcessed => {
                Some((err.to_string(), None))
            }
            Err(_) => None,
        }
    }

    /// Returns the wait before the next attempt, or `None` when the attempts, the total wait
    /// or the node's deadline do not allow one.
    fn next_wait(
        &self,
        uri: &str,
        attempt: u32,
        waited: Duration,
        stated: Option<Duration>,
        cause: &str,
    ) -> Option<Duration> {
        let policy = &self.retry;
        if attempt >= policy.max_attempts {
            return None;
        }
        let wait = match stated {
            Some(stated) if stated > policy.max_delay => {
                tracing::info!(bmc = %self.bmc, uri, stated_s = stated.as_secs_f64(), max_s = policy.max_delay.as_secs_f64(), cause, "not retrying: the BMC asks for a longer wait than --retry-max-wait");
                return None;
            }
            Some(stated) => policy.stated(stated).min(policy.max_delay),
            None => policy.backoff(attempt),
        };
        if waited + wait > policy.max_wait_total {
            return None;
        }
        if let Some(deadline) = self.deadline
            && tokio::time::Instant::now() + wait >= deadline
        {
            tracing::info!(bmc = %self.bmc, uri, cause, "not retrying: the wait would pass the node deadline");
            return None;
        }
        Some(wait)
    }

    /// Sends a request once and reads its body, holding one in-flight permit and bounded by
    /// the request timeout. Waiting for a permit does not count against the timeout.
    async fn send_once(
        &self,
        uri: &str,
        build: &impl Fn() -> Option<RequestBuilder>,
    ) -> Result<Option<Reply>, RedfishError> {
        let _permit = self
            .limit
            .acquire()
            .await
            .expect("the in-flight semaphore is never closed");
        let Some(request) = build() else {
            return Ok(None);
        };
        let started = Instant::now();

        let reply = tokio::time::timeout(self.request_timeout, self.exchange(uri, request))
            .await
            .map_err(|_| RedfishError::Timeout {
                bmc: self.bmc.to_string(),
                uri: uri.to_string(),
                after: self.request_timeout,
            })??;

        tracing::debug!(
            bmc = %self.bmc,
            uri,
            status = reply.status.as_u16(),
            bytes = reply.body.len(),
            elapsed = ?started.elapsed(),
            "redfish response"
        );
        Ok(Some(reply))
    }

    async fn exchange(&self, uri: &str, request: RequestBuilder) -> Result<Reply, RedfishError> {
        let mut response = request.send().await.map_err(|err| self.transport_error(uri, &err))?;
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        let requested_path = uri.split(['?', '#']).next().unwrap_or(uri);
        let redirected_to = (response.url().path() != requested_path).then(|| response.url().path().to_string());

        let mut body = Vec::new();
        let mut body_error = None;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_BODY_BYTES {
                        return Err(RedfishError::BodyTooLarge {
                            bmc: self.bmc.to_string(),
                            uri: uri.to_string(),
                            limit: MAX_BODY_BYTES,
                        });
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(err) => {
                    body_error = Some(self.transport_error(uri, &err));
                    break;
                }
            }
        }
        Ok(Reply {
            status,
            headers,
            body,
            body_error,
            redirected_to,
        })
    }

    /// Maps a reqwest failure, keeping the causes below reqwest's own message (which repeats the URL).
    fn transport_error(&self, uri: &str, err: &reqwest::Error) -> RedfishError {
        let bmc = self.bmc.to_string();
        let uri = uri.to_string();
        let cause = error_causes(err);
        if err.is_connect() {
            if let Some(pin) = find_pin_mismatch(err) {
                return RedfishError::PinMismatch {
                    bmc,
                    file: pin.file.display().to_string(),
                    expected: pin.expected.clone(),
                    actual: pin.actual.clone(),
                };
            }
            match find_tls_error(err) {
                Some(rustls::Error::InvalidCertificate(_)) => return RedfishError::Certificate { bmc, cause },
                Some(_) => return RedfishError::Tls { bmc, cause },
                None => {}
            }
            let cause = match connect_hint(&cause, self.connect_timeout) {
                Some(hint) => format!("{cause}\n  hint: {hint}"),
                None => cause,
            };
            RedfishError::Connect { bmc, cause }
        } else if err.is_timeout() {
            RedfishError::Timeout {
                bmc,
                uri,
                after: self.request_timeout,
            }
        } else {
            RedfishError::Transport { bmc, uri, cause }
        }
    }

    /// Maps a non-success status to its error, with the Redfish message from the body.
    pub(crate) fn status_error(&self, uri: &str, reply: &Reply) -> RedfishError {
        let bmc = self.bmc.to_string();
        let uri = uri.to_string();
        let status = reply.status.as_u16();
        let message = error_message(&reply.body);
        match reply.status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => RedfishError::Unauthorized {
                bmc,
                uri,
                status,
                message,
            },
            StatusCode::NOT_FOUND => RedfishError::NotFound { bmc, uri },
            code if code.is_redirection() => RedfishError::Redirected {
                bmc,
                uri,
                location: reply
                    .headers
                    .get(LOCATION)
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or("(no Location header)")
                    .to_string(),
            },
            _ => RedfishError::Status {
                bmc,
                uri,
                status,
                message,
            },
        }
    }

    /// Parses a successful reply's body as JSON, leniently; see [`super::parse_json_lenient`].
    pub(crate) fn json(&self, uri: &str, reply: &Reply) -> Result<ParsedJson, RedfishError> {
        super::parse_json_lenient(&reply.body).map_err(|err| match err {
            JsonError::Invalid { offset, cause } => RedfishError::InvalidJson {
                bmc: self.bmc.to_string(),
                uri: uri.to_string(),
                offset,
                cause: match non_json_type(&reply.headers) {
                    // Some firmware returns an HTML error page with status 200 when it fails internally.
                    Some(kind) => format!("{cause} (the body is {kind}, not JSON)"),
                    None => cause,
                },
            },
            JsonError::TooDeep { depth } => RedfishError::TooDeep {
                bmc: self.bmc.to_string(),
                uri: uri.to_string(),
                depth,
                limit: MAX_JSON_DEPTH,
            },
        })
    }
}

/// Returns the media type of a body whose Content-Type is not JSON, such as `text/html`.
fn non_json_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(reqwest::header::CONTENT_TYPE)?.to_str().ok()?;
    let kind = value.split(';').next()?.trim().to_ascii_lowercase();
    let json = kind == "application/json" || kind.ends_with("+json");
    (!json && !kind.is_empty()).then_some(kind)
}

/// True when a rejected login reports that the BMC's session table is full: the Base
/// `SessionLimitExceeded` message, iDRAC's `RAC0218`, or a message about a maximum or limit
/// of sessions.
pub(crate) fn is_session_limit(reply: &Reply) -> bool {
    if !matches!(reply.status.as_u16(), 400 | 403 | 429 | 503) {
        return false;
    }
    let text = String::from_utf8_lossy(&reply.body).to_lowercase();
    if text.contains("sessionlimitexceeded") || text.contains("rac0218") {
        return true;
    }
    text.contains("session")
        && ["maximum", "limit", "exceeded", "too many"]
            .iter()
            .any(|word| text.contains(word))
}

/// Joins the causes of an error below the top one, e.g. `client error (Connect): invalid peer
/// certificate: UnknownIssuer`.
fn error_causes(err: &reqwest::Error) -> String {
    let mut causes = Vec::new();
    let mut source = err.source();
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    if causes.is_empty() {
        return err.to_string();
    }
    causes.join(": ")
}

/// Explains the usual connection failures in a technician's terms, from the causes' text:
/// hyper and rustls report them only as messages, not as distinct error types.
fn connect_hint(cause: &str, connect_timeout: Duration) -> Option<String> {
    if cause.contains("InvalidContentType") || cause.contains("corrupt message") {
        Some("the BMC did not answer with TLS; check that the port serves HTTPS, not plain HTTP".to_string())
    } else if cause.contains("timed out") {
        Some(format!(
            "no TCP and TLS connection within --connect-timeout ({}s); check that the BMC is up and reachable",
            connect_timeout.as_secs_f64()
        ))
    } else if cause.contains("Connection refused") {
        Some(
            "nothing accepts connections on that port; check the address and that the BMC's web server is on"
                .to_string(),
        )
    } else {
        None
    }
}

/// Finds the rustls error among the causes of a failed connection.
fn find_tls_error(err: &reqwest::Error) -> Option<&rustls::Error> {
    let mut source = err.source();
    while let Some(cause) = source {
        if let Some(tls_error) = find_rustls_error(cause) {
            return Some(tls_error);
        }
        source = cause.source();
    }
    None
}

/// Finds the pin mismatch that the pinning verifier reported, if any.
fn find_pin_mismatch(err: &reqwest::Error) -> Option<&PinMismatchCause> {
    match find_tls_error(err)? {
        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) => {
            other.0.downcast_ref::<PinMismatchCause>()
        }
        _ => None,
    }
}

/// Finds a rustls error in `cause` or in the `io::Error`s it is wrapped in.
///
/// hyper-util (0.1) wraps the rustls error in two nested `io::Error`s, and `io::Error::source`
/// skips the wrapped error itself, so the wrappers are opened with `get_ref`.
fn find_rustls_error<'e>(cause: &'e (dyn std::error::Error + 'static)) -> Option<&'e rustls::Error> {
    if let Some(rustls_error) = cause.downcast_ref::<rustls::Error>() {
        return Some(rustls_error);
    }
    let inner = cause.downcast_ref::<std::io::Error>()?.get_ref()?;
    find_rustls_error(inner)
}

/// Extracts the message of a Redfish error body, shortened to [`MAX_MESSAGE_CHARS`].
///
/// Uses `error.message`, else the first `error.@Message.ExtendedInfo[].Message`. A body that
/// is not JSON is kept as text, without its tags when it is an HTML page, since a web front
/// end in front of a crashed Redfish service often returns one.
pub(crate) fn error_message(body: &[u8]) -> Option<String> {
    let text = match super::parse_json(body) {
        Ok(json) => redfish_message(&json)?,
        Err(_) => plain_text(&String::from_utf8_lossy(body)),
    };
    (!text.is_empty()).then(|| shorten(&text))
}

/// Collapses whitespace, and removes the tags of an HTML page and its `<head>` other than
/// the title.
fn plain_text(text: &str) -> String {
    let lowercase = text.to_ascii_lowercase();
    let is_html = lowercase.contains("<html") || lowercase.contains("<!doctype html");
    let text = if is_html { strip_tags(text) } else { text.to_string() };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn strip_tags(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut in_tag = false;
    for character in html.chars() {
        match character {
            '<' => {
                in_tag = true;
                text.push(' ');
            }
            '>' if in_tag => in_tag = false,
            _ if !in_tag => text.push(character),
            _ => {}
        }
    }
    text
}

fn redfish_message(json: &Value) -> Option<String> {
    let error = json.get("error")?;
    let extended = || {
        error
            .get("@Message.ExtendedInfo")?
            .as_array()?
            .iter()
            .find_map(|info| info.get("Message").and_then(Value::as_str))
    };
    let message = error.get("message").and_then(Value::as_str).or_else(extended)?;
    Some(message.trim().to_string())
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_prefers_error_message() {
        let body = br#"{"error":{"code":"Base.1.8.GeneralError","message":"A general error has occurred.",
            "@Message.ExtendedInfo":[{"Message":"The property Foo is unknown."}]}}"#;
        assert_eq!(error_message(body).as_deref(), Some("A general error has occurred."));
    }

    #[test]
    fn message_falls_back_to_extended_info() {
        let body = br#"{"error":{"@Message.ExtendedInfo":[{"MessageId":"x"},{"Message":"Session limit reached."}]}}"#;
        assert_eq!(error_message(body).as_deref(), Some("Session limit reached."));
    }

    #[test]
    fn message_of_text_body_is_shortened() {
        let body = "x".repeat(1000);
        let message = error_message(body.as_bytes()).unwrap();
        assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(message.ends_with('…'));
        assert_eq!(error_message(b""), None);
        assert_eq!(error_message(br#"{"Id":"1"}"#), None);
    }

    #[test]
    fn message_of_html_page_drops_tags() {
        let body = b"<!DOCTYPE html><html><head><title>500 Internal Server Error</title></head>\n<body><h1>Internal Server Error</h1></body></html>";
        assert_eq!(
            error_message(body).as_deref(),
            Some("500 Internal Server Error Internal Server Error")
        );
    }
}
