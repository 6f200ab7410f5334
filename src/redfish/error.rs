//! Errors of the Redfish client, each naming the BMC and the URI involved.

use std::time::Duration;

/// A failed Redfish request or session operation.
///
/// Serializable so that a capture can store a failed read and replay it as the same error.
#[derive(Debug, Clone, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum RedfishError {
    /// The TCP connection or TLS handshake failed.
    #[error("cannot connect to {bmc}: {cause}")]
    Connect { bmc: String, cause: String },

    /// The BMC's TLS certificate was rejected: not signed by a trusted CA, expired, or for
    /// another name.
    #[error("TLS certificate of {bmc} rejected: {cause}\n  hint: {}", certificate_hint(.cause))]
    Certificate { bmc: String, cause: String },

    /// The TLS handshake failed for another reason than the certificate, such as no common
    /// protocol version or cipher suite.
    #[error("TLS handshake with {bmc} failed: {cause}\n  hint: {}", handshake_hint(.cause))]
    Tls { bmc: String, cause: String },

    /// The BMC's certificate is not the one pinned for it in the known-BMCs file.
    #[error(
        "TLS certificate of {bmc} does not match its pin in {file}\n  expected SHA-256 {expected}\n  received SHA-256 {actual}\n  hint: if the BMC's certificate was replaced on purpose, delete its line from {file} and scan again with `--record-new-bmcs`; otherwise treat the BMC as compromised or impersonated"
    )]
    PinMismatch {
        bmc: String,
        file: String,
        expected: String,
        actual: String,
    },

    /// The BMC's address is outside every network of `--allow-net`; no request was sent.
    #[error(
        "{bmc} resolves to {addresses}, outside the allowed networks ({allowed}); no request was sent\n  hint: add the BMC's network to `--allow-net` if it is a BMC network"
    )]
    NotAllowed {
        bmc: String,
        addresses: String,
        allowed: String,
    },

    /// No response within the request timeout.
    #[error("request to {bmc}{uri} timed out after {}s", .after.as_secs_f64())]
    Timeout { bmc: String, uri: String, after: Duration },

    /// The BMC rejected the credentials (401/403 on login or on a read).
    #[error(
        "authentication failed on {bmc}{uri}: HTTP {status}{}\n  hint: check the username and password for this BMC (RACKCHECK_USERNAME and RACKCHECK_PASSWORD, or the row's entry in the credentials file)",
        message_suffix(.message)
    )]
    Unauthorized {
        bmc: String,
        uri: String,
        status: u16,
        message: Option<String>,
    },

    /// The BMC rejected a login because its session table is full.
    #[error(
        "login to {bmc}{uri} rejected because the BMC's session limit is reached: HTTP {status}{}\n  hint: close stale sessions in the BMC's web interface or wait for them to expire, or pass `--basic-auth-fallback` to read with basic auth instead",
        message_suffix(.message)
    )]
    SessionLimit {
        bmc: String,
        uri: String,
        status: u16,
        message: Option<String>,
    },

    /// The resource does not exist on this BMC.
    /// A read still in progress, or not yet sent, when the node's deadline passed.
    #[error("{bmc}{uri} was not read before the node deadline of {}s (raise --node-deadline for slow BMCs)", .deadline.as_secs_f64())]
    NodeDeadline {
        bmc: String,
        uri: String,
        deadline: Duration,
    },

    #[error("{bmc}{uri} not found (HTTP 404)")]
    NotFound { bmc: String, uri: String },

    /// Any other non-success status, with the Redfish error message when the body had one.
    #[error("{bmc}{uri} returned HTTP {status}{}", message_suffix(.message))]
    Status {
        bmc: String,
        uri: String,
        status: u16,
        message: Option<String>,
    },

    /// The body was not valid JSON.
    #[error("invalid JSON from {bmc}{uri} at byte {offset}: {cause}")]
    InvalidJson {
        bmc: String,
        uri: String,
        offset: usize,
        cause: String,
    },

    /// Any other transport failure (connection reset mid-body, protocol error).
    #[error("request to {bmc}{uri} failed: {cause}")]
    Transport { bmc: String, uri: String, cause: String },

    /// The BMC replied in a way the protocol does not allow (a login without a token).
    #[error("{bmc}{uri}: {detail}")]
    Protocol { bmc: String, uri: String, detail: String },

    /// A redirect to another host, scheme or port, which is not followed so that credentials
    /// stay on the BMC.
    #[error("{bmc}{uri} redirects to `{location}`, which is not on the BMC; not followed")]
    Redirected { bmc: String, uri: String, location: String },

    /// A body larger than the cap; the node's scan stops.
    #[error("{bmc}{uri} returned a body larger than {limit} bytes; reading of this BMC stopped")]
    BodyTooLarge { bmc: String, uri: String, limit: usize },

    /// A body nested deeper than the cap; the node's scan stops.
    #[error("{bmc}{uri} returned JSON nested {depth} levels deep, more than {limit}; reading of this BMC stopped")]
    TooDeep {
        bmc: String,
        uri: String,
        depth: usize,
        limit: usize,
    },

    /// The node's reads reached the cap on resources per node; the node's scan stops.
    #[error(
        "read {limit} resources from {bmc}, the limit per node; reading of this BMC stopped\n  hint: raise `--max-resources` if the BMC really has that many"
    )]
    ResourceLimit { bmc: String, limit: u64 },

    /// A link or path that points at another host, scheme or port than the BMC's own.
    #[error("link `{uri}` is not on {bmc}: only the BMC's own paths are read")]
    OtherOrigin { bmc: String, uri: String },

    /// A stored capture has no file for this URI.
    #[error("{uri} is not in the capture")]
    NotCaptured { uri: String },
}

/// Suggests a fix for a rejected certificate. webpki rejects a self-signed certificate that is
/// marked as a CA (`CaUsedAsEndEntity`) even when it is passed with `--ca-file`, as many
/// factory BMC certificates are.
fn certificate_hint(cause: &str) -> &'static str {
    let lowercase = cause.to_ascii_lowercase();
    if lowercase.contains("expired") {
        "the BMC's certificate has expired; renew it, or pin it with `--known-bmcs FILE --record-new-bmcs`"
    } else if lowercase.contains("not valid for name") || lowercase.contains("notvalidforname") {
        "the certificate does not name the address used; use the host name in the certificate in the inventory, or pin it with `--known-bmcs`"
    } else if cause.contains("CaUsedAsEndEntity") {
        "the BMC presents a CA certificate as its own server certificate, which cannot be trusted through `--ca-file`; \
         replace it with a server certificate signed by the site CA, or pass `--insecure`"
    } else {
        "pass `--ca-file` with the CA that signed the BMC's certificate, pin self-signed certificates with `--known-bmcs FILE --record-new-bmcs`, or pass `--insecure`"
    }
}

/// Suggests a fix for a failed handshake from the rustls message.
fn handshake_hint(cause: &str) -> &'static str {
    if cause.contains("ProtocolVersion") || cause.contains("PeerIncompatible") {
        "the BMC and rackcheck share no TLS version or cipher suite; rackcheck offers TLS 1.2 and 1.3"
    } else {
        "check that the port serves HTTPS and that the BMC's TLS settings are not restricted to obsolete ciphers"
    }
}

fn message_suffix(message: &Option<String>) -> String {
    match message {
        Some(text) => format!(": {text}"),
        None => String::new(),
    }
}

impl RedfishError {
    /// True when the BMC rejected the credentials.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, RedfishError::Unauthorized { .. })
    }

    /// True when the resource does not exist, on the BMC or in a capture.
    pub fn is_not_found(&self) -> bool {
        matches!(self, RedfishError::NotFound { .. } | RedfishError::NotCaptured { .. })
    }

    /// True when the BMC did not respond within the request timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, RedfishError::Timeout { .. })
    }

    /// True when the BMC could not be reached at all, including a failed TLS handshake.
    pub fn is_connect(&self) -> bool {
        matches!(
            self,
            RedfishError::Connect { .. }
                | RedfishError::Certificate { .. }
                | RedfishError::Tls { .. }
                | RedfishError::PinMismatch { .. }
        )
    }

    /// True when the BMC's TLS certificate was rejected, including a pin mismatch.
    pub fn is_certificate(&self) -> bool {
        matches!(
            self,
            RedfishError::Certificate { .. } | RedfishError::PinMismatch { .. }
        )
    }

    /// True when a login was rejected because the BMC's session table is full.
    pub fn is_session_limit(&self) -> bool {
        matches!(self, RedfishError::SessionLimit { .. })
    }

    /// True for the caps that end a node's scan: body size, JSON depth and resources per node.
    pub fn is_cap(&self) -> bool {
        matches!(
            self,
            RedfishError::BodyTooLarge { .. } | RedfishError::TooDeep { .. } | RedfishError::ResourceLimit { .. }
        )
    }
}
