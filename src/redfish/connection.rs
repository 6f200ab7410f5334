//! One BMC's end of the shared HTTP client: the same-origin check, the in-flight limit, the
//! request timeout, the body size cap, and the mapping of HTTP failures to [`RedfishError`].

use std::error::Error as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
use serde_json::Value;
use tokio::sync::Semaphore;
use url::Url;

use super::RedfishError;
use crate::inventory::BmcAddress;

/// Bodies larger than this are rejected, so a BMC that streams without end cannot exhaust memory.
/// NOTE: 16 MiB is a guess with a wide margin, not measured against real BMCs.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Longest Redfish error message kept in an error, in characters.
const MAX_MESSAGE_CHARS: usize = 300;

/// Connection settings for one BMC: the shared client, its in-flight permits and the timeout.
#[derive(Debug, Clone)]
pub(crate) struct BmcConnection {
    pub(crate) http: reqwest::Client,
    pub(crate) bmc: BmcAddress,
    /// Permits for requests in flight, shared by every session on this BMC.
    pub(crate) limit: Arc<Semaphore>,
    pub(crate) request_timeout: Duration,
    /// Only for messages: reqwest enforces it.
    pub(crate) connect_timeout: Duration,
}

/// A complete response: status, headers and the whole body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl BmcConnection {
    /// Resolves a path or absolute URL on this BMC, rejecting any other origin.
    pub(crate) fn resolve(&self, uri: &str) -> Result<Url, RedfishError> {
        let url = self.bmc.url().join(uri).map_err(|err| RedfishError::Protocol {
            bmc: self.bmc.to_string(),
            uri: uri.to_string(),
            detail: format!("invalid link: {err}"),
        })?;
        if !self.bmc.is_same_origin(&url) {
            return Err(RedfishError::OtherOrigin {
                bmc: self.bmc.to_string(),
                uri: uri.to_string(),
            });
        }
        Ok(url)
    }

    /// Sends a request and reads its body, holding one in-flight permit and bounded by the
    /// request timeout. Waiting for a permit does not count against the timeout.
    pub(crate) async fn send(&self, uri: &str, request: RequestBuilder) -> Result<Reply, RedfishError> {
        let _permit = self
            .limit
            .acquire()
            .await
            .expect("the in-flight semaphore is never closed");
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
        Ok(reply)
    }

    async fn exchange(&self, uri: &str, request: RequestBuilder) -> Result<Reply, RedfishError> {
        let mut response = request.send().await.map_err(|err| self.transport_error(uri, &err))?;
        let status = response.status();
        let headers = response.headers().clone();

        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|err| self.transport_error(uri, &err))? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(RedfishError::Protocol {
                    bmc: self.bmc.to_string(),
                    uri: uri.to_string(),
                    detail: format!("response body larger than {MAX_BODY_BYTES} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Reply { status, headers, body })
    }

    /// Maps a reqwest failure, keeping the causes below reqwest's own message (which repeats the URL).
    fn transport_error(&self, uri: &str, err: &reqwest::Error) -> RedfishError {
        let bmc = self.bmc.to_string();
        let uri = uri.to_string();
        let cause = error_causes(err);
        if err.is_connect() && is_certificate_error(err) {
            RedfishError::Certificate { bmc, cause }
        } else if err.is_connect() {
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
            _ => RedfishError::Status {
                bmc,
                uri,
                status,
                message,
            },
        }
    }

    /// Parses a successful reply's body as JSON.
    pub(crate) fn json(&self, uri: &str, reply: &Reply) -> Result<Value, RedfishError> {
        super::parse_json(&reply.body).map_err(|(offset, cause)| RedfishError::InvalidJson {
            bmc: self.bmc.to_string(),
            uri: uri.to_string(),
            offset,
            cause,
        })
    }
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

/// True when a rustls certificate error is among the causes.
fn is_certificate_error(err: &reqwest::Error) -> bool {
    let mut source = err.source();
    while let Some(cause) = source {
        if matches!(find_rustls_error(cause), Some(rustls::Error::InvalidCertificate(_))) {
            return true;
        }
        source = cause.source();
    }
    false
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
/// Uses `error.message`, else the first `error.@Message.ExtendedInfo[].Message`; a body that
/// is not JSON is kept as text, since some BMCs return errors as HTML or plain text.
pub(crate) fn error_message(body: &[u8]) -> Option<String> {
    let text = match super::parse_json(body) {
        Ok(json) => redfish_message(&json)?,
        Err(_) => String::from_utf8_lossy(body)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
    };
    (!text.is_empty()).then(|| shorten(&text))
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
}
