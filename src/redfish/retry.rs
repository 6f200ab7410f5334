//! Retries of failed requests: the policy's bounds, the backoff with jitter, and the wait a
//! BMC states in a `Retry-After` header or in a Redfish error body.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use regex::Regex;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde_json::Value;

/// How often and how long a request is retried after a connection error, a timeout, a
/// reset body, or a 429, 502, 503 or 504 response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request, the first included; 1 disables retries.
    pub max_attempts: u32,
    /// Wait before the first retry when the BMC states none; doubled for each later retry.
    pub base_delay: Duration,
    /// Maximum single wait. A BMC that requests a longer one is not retried, because a retry
    /// sent earlier would only fail again.
    pub max_delay: Duration,
    /// Maximum total of the waits of one request.
    pub max_wait_total: Duration,
}

impl Default for RetryPolicy {
    /// Three retries from 0.5 s, at most 30 s each and 60 s in all. BMCs that are busy
    /// (iDRAC during a job, iLO after a reset) usually ask for 5 to 30 seconds.
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_wait_total: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Returns a policy that never retries.
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// Returns the wait before retry number `retry` (1 for the first retry) when the BMC
    /// states none: `base_delay * 2^(retry - 1)`, capped at `max_delay`, then drawn
    /// uniformly from its upper half so that BMCs failing together do not retry together.
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(20);
        let full = self.base_delay.saturating_mul(1 << exponent).min(self.max_delay);
        full.mul_f64(0.5 + 0.5 * jitter_fraction())
    }

    /// Returns a stated wait with up to 10% jitter added, never less than stated.
    pub(crate) fn stated(&self, wait: Duration) -> Duration {
        wait + wait.mul_f64(0.1 * jitter_fraction())
    }
}

/// Returns a number in [0, 1) that differs between calls.
///
/// Jitter needs spread, not quality, so the process-random SipHash keys of `RandomState`
/// hash a counter instead of pulling a random-number crate into the client.
fn jitter_fraction() -> f64 {
    static KEYS: LazyLock<RandomState> = LazyLock::new(RandomState::new);
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = KEYS.build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Returns the wait a BMC asked for: the `Retry-After` header (seconds or an HTTP date),
/// else the seconds stated in a Redfish error body.
pub(crate) fn stated_wait(headers: &HeaderMap, body: &[u8]) -> Option<Duration> {
    retry_after_header(headers).or_else(|| body_wait(body))
}

fn retry_after_header(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    // A date in the past means "now".
    Some(date.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

/// Reads the wait from a Redfish error body: the first MessageArg of a Base
/// `ServiceTemporarilyUnavailable` message, else a number of seconds in a message text, as
/// vendor "busy" messages state it ("Retry after 30 seconds").
fn body_wait(body: &[u8]) -> Option<Duration> {
    let json: Value = super::parse_json(body).ok()?;
    let error = json.get("error")?;
    let infos = error
        .get("@Message.ExtendedInfo")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();

    let base_wait = infos.iter().find_map(|info| {
        let id = info.get("MessageId")?.as_str()?;
        if !id.ends_with("ServiceTemporarilyUnavailable") {
            return None;
        }
        let argument = info.get("MessageArgs")?.get(0)?;
        let seconds = match argument {
            Value::String(text) => text.trim().parse::<u64>().ok()?,
            other => other.as_u64()?,
        };
        Some(Duration::from_secs(seconds))
    });
    if base_wait.is_some() {
        return base_wait;
    }

    let texts = infos
        .iter()
        .filter_map(|info| info.get("Message").and_then(Value::as_str))
        .chain(error.get("message").and_then(Value::as_str));
    texts.into_iter().find_map(seconds_in_text)
}

/// Finds "retry after N seconds", "retry in N seconds" or else "N seconds" in a message.
fn seconds_in_text(text: &str) -> Option<Duration> {
    static RETRY: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)(?:retry|try again)\s+(?:after|in)\s+(\d{1,6})\s*(?:s\b|sec)").expect("valid regex")
    });
    static SECONDS: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?i)\b(\d{1,6})\s*(?:seconds?|secs?)\b").expect("valid regex"));

    let captures = RETRY.captures(text).or_else(|| SECONDS.captures(text))?;
    let seconds = captures[1].parse::<u64>().ok()?;
    Some(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(retry_after: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(retry_after).unwrap());
        headers
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(stated_wait(&headers("7"), b""), Some(Duration::from_secs(7)));
    }

    #[test]
    fn retry_after_http_date() {
        let later = SystemTime::now() + Duration::from_secs(120);
        let wait = stated_wait(&headers(&httpdate::fmt_http_date(later)), b"").unwrap();
        assert!(
            wait > Duration::from_secs(100) && wait <= Duration::from_secs(120),
            "{wait:?}"
        );

        let past = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(60));
        assert_eq!(stated_wait(&headers(&past), b""), Some(Duration::ZERO));
    }

    #[test]
    fn base_message_states_wait() {
        let body = br#"{"error":{"code":"Base.1.18.GeneralError","message":"See ExtendedInfo",
            "@Message.ExtendedInfo":[{"MessageId":"Base.1.18.ServiceTemporarilyUnavailable",
            "Message":"The service is temporarily unavailable.  Retry in 12 seconds.","MessageArgs":["12"]}]}}"#;
        assert_eq!(stated_wait(&HeaderMap::new(), body), Some(Duration::from_secs(12)));
    }

    #[test]
    fn vendor_busy_text_states_wait() {
        let body =
            br#"{"error":{"code":"Vendor.1.0.ServerBusy","message":"The server is busy. Retry after 9 seconds."}}"#;
        assert_eq!(stated_wait(&HeaderMap::new(), body), Some(Duration::from_secs(9)));
        let body = br#"{"error":{"message":"Busy, wait 4 seconds"}}"#;
        assert_eq!(stated_wait(&HeaderMap::new(), body), Some(Duration::from_secs(4)));
    }

    #[test]
    fn no_stated_wait() {
        assert_eq!(stated_wait(&HeaderMap::new(), b""), None);
        assert_eq!(stated_wait(&headers("soon"), b"<html>busy</html>"), None);
    }

    #[test]
    fn backoff_doubles_within_cap() {
        let policy = RetryPolicy {
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(5),
            ..RetryPolicy::default()
        };
        for (retry, full) in [(1, 1), (2, 2), (3, 4), (4, 5), (30, 5)] {
            let wait = policy.backoff(retry);
            let full = Duration::from_secs(full);
            assert!(wait >= full / 2 && wait <= full, "retry {retry}: {wait:?}");
        }
    }

    #[test]
    fn jitter_varies() {
        let draws: Vec<f64> = (0..32).map(|_| jitter_fraction()).collect();
        assert!(draws.iter().all(|draw| (0.0..1.0).contains(draw)));
        assert!(draws.windows(2).any(|pair| pair[0] != pair[1]));
    }
}
