//! Errors of the Redfish client, each naming the BMC and the URI involved.

use std::time::Duration;

/// A failed Redfish request or session operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedfishError {
    /// The TCP connection or TLS handshake failed.
    #[error("cannot connect to {bmc}: {cause}")]
    Connect { bmc: String, cause: String },

    /// The BMC's TLS certificate was rejected: not signed by a trusted CA, expired, or for
    /// another name.
    #[error("TLS certificate of {bmc} rejected: {cause}\n  hint: {}", certificate_hint(.cause))]
    Certificate { bmc: String, cause: String },

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

    /// The resource does not exist on this BMC.
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

    /// The BMC answered in a way the protocol does not allow (a login without a token).
    #[error("{bmc}{uri}: {detail}")]
    Protocol { bmc: String, uri: String, detail: String },

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
    if cause.contains("CaUsedAsEndEntity") {
        "the BMC presents a CA certificate as its own server certificate, which cannot be trusted through `--ca-file`; \
         replace it with a server certificate signed by the site CA, or pass `--insecure`"
    } else {
        "pass `--ca-file` with the CA that signed the BMC's certificate, or `--insecure` to accept self-signed certificates"
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

    /// True when the BMC could not be reached at all, including a rejected TLS certificate.
    pub fn is_connect(&self) -> bool {
        matches!(self, RedfishError::Connect { .. } | RedfishError::Certificate { .. })
    }

    /// True when the BMC's TLS certificate was rejected.
    pub fn is_certificate(&self) -> bool {
        matches!(self, RedfishError::Certificate { .. })
    }
}
