//! Request authentication: HTTP basic auth or an `X-Auth-Token` from the session table.

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::BmcConfig;
use super::session::SessionTable;

/// The outcome of checking a request's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthResult {
    /// A valid session token or matching basic credentials.
    Authorized,
    /// Neither an `X-Auth-Token` nor an `Authorization` header.
    Missing,
    /// An unknown token, or a malformed `Authorization` header.
    Rejected,
    /// Basic credentials that do not match, counted as a failed login.
    WrongCredentials,
}

/// Checks the request headers against the configured user and the open sessions.
///
/// A valid token or valid basic credentials authorize the request even when the other is wrong.
pub(crate) fn authenticate(headers: &HeaderMap, config: &BmcConfig, sessions: &SessionTable) -> AuthResult {
    let token = headers.get("x-auth-token").and_then(|value| value.to_str().ok());
    let token_valid = token.is_some_and(|token| sessions.id_for_token(token).is_some());
    if token_valid {
        return AuthResult::Authorized;
    }

    match headers.get(header::AUTHORIZATION) {
        Some(value) => match basic_credentials(value.as_bytes()) {
            Some((user, password)) if config.credentials_match(&user, &password) => AuthResult::Authorized,
            Some(_) => AuthResult::WrongCredentials,
            None => AuthResult::Rejected,
        },
        None if token.is_some() => AuthResult::Rejected,
        None => AuthResult::Missing,
    }
}

/// Decodes `Basic <base64(user:password)>` into its two parts.
fn basic_credentials(header_value: &[u8]) -> Option<(String, String)> {
    let value = std::str::from_utf8(header_value).ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }

    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_decodes_user_and_password() {
        let header = format!("Basic {}", STANDARD.encode("root:cal:vin"));

        let (user, password) = basic_credentials(header.as_bytes()).unwrap();

        assert_eq!(user, "root");
        assert_eq!(password, "cal:vin");
    }

    #[test]
    fn basic_credentials_rejects_bearer() {
        assert!(basic_credentials(b"Bearer abc").is_none());
    }
}
