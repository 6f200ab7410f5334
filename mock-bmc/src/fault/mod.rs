//! Fault injection: the misbehaviour of real BMCs, replayed on purpose and repeatably.
//!
//! A [`Faults`] config belongs to one BMC. It has three parts:
//!
//! - `rules`: per-request faults ([`Fault`]) such as latency, 5xx, 429, a reset connection, a
//!   hang or a corrupted body, each limited to a path and fired by a [`FaultRule`] trigger.
//! - `sessions`: a session table that fills up, sessions that expire, and a login response
//!   whose `Location` header is missing or absolute ([`SessionFaults`]).
//! - `tls`: an expired certificate or a server limited to TLS 1.2 ([`TlsFaults`]).
//!
//! Share-based triggers draw from a random generator seeded with `seed`, the rule's index
//! and the rule's request count, so the same config and the same request sequence give the
//! same faults on every run and on every BMC.
//!
//! In a rack config:
//!
//! ```toml
//! [bmc.faults]
//! seed = 7
//!
//! [bmc.faults.sessions]
//! limit = 2                      # the third concurrent login is rejected
//! expiry_s = 60                  # tokens stop working 60 s after login
//! login_location = "absolute"    # "relative" (default), "absolute" or "missing"
//!
//! [bmc.faults.tls]
//! expired = true
//! max_version = "1.2"
//!
//! [[bmc.faults.rules]]           # no path: every path except /mock-bmc/
//! fault = { kind = "latency", ms = 100, jitter_ms = 50 }
//!
//! [[bmc.faults.rules]]
//! path = "/redfish/v1/Chassis/*/Power*"
//! share = 0.25
//! fault = { kind = "unavailable_503", retry_after_s = 5, message = "vendor_busy" }
//! ```

pub(crate) mod body;
pub(crate) mod plan;

use serde::Deserialize;

/// The seed used when a config sets none.
pub const DEFAULT_SEED: u64 = 0x5eed_b3c0;

/// The faults of one BMC. The default injects nothing.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    /// Seed of the generator behind `share` triggers and latency jitter.
    pub seed: u64,
    /// Per-request faults, checked in order. See [`FaultRule`] for how rules combine.
    pub rules: Vec<FaultRule>,
    pub sessions: SessionFaults,
    pub tls: TlsFaults,
}

impl Default for Faults {
    fn default() -> Faults {
        Faults {
            seed: DEFAULT_SEED,
            rules: Vec::new(),
            sessions: SessionFaults::default(),
            tls: TlsFaults::default(),
        }
    }
}

/// One per-request fault with the paths it covers and the trigger that fires it.
///
/// A request runs through every rule whose `path` matches and whose fault applies to it (a
/// trailing-slash redirect applies only to paths without one, `expand_drops_properties`
/// only to `$expand` requests). Every fired latency rule adds its delay. The first other
/// rule that fires decides the fault, and later rules still count the request.
///
/// At most one of `share`, `every_nth` and `first_n` may be set. With none set the rule
/// fires on every request it covers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// A path prefix (`/redfish/v1/Systems` covers the collection and everything below it)
    /// or, with `*`, a glob where `*` matches within one segment and `**` across segments.
    /// Matched against the percent-decoded path without its trailing slash. None covers
    /// every path.
    #[serde(default)]
    pub path: Option<String>,
    /// Fires on this fraction of requests (0.0 to 1.0), drawn from the seeded generator.
    #[serde(default)]
    pub share: Option<f64>,
    /// Fires on the n-th, 2n-th, 3n-th... request that the rule covers.
    #[serde(default)]
    pub every_nth: Option<u64>,
    /// Fires on the first n requests that the rule covers, then never again.
    #[serde(default)]
    pub first_n: Option<u64>,
    pub fault: Fault,
}

impl FaultRule {
    /// Returns a rule that fires `fault` on every request to every path.
    pub fn always(fault: Fault) -> FaultRule {
        FaultRule {
            path: None,
            share: None,
            every_nth: None,
            first_n: None,
            fault,
        }
    }

    /// Limits the rule to a path prefix or glob.
    pub fn on_path(mut self, path: impl Into<String>) -> FaultRule {
        self.path = Some(path.into());
        self
    }

    /// Fires the rule on a seeded random `share` of the requests it covers.
    pub fn with_share(mut self, share: f64) -> FaultRule {
        self.share = Some(share);
        self
    }

    /// Fires the rule on every `n`th request it covers.
    pub fn every_nth(mut self, n: u64) -> FaultRule {
        self.every_nth = Some(n);
        self
    }

    /// Fires the rule on the first `n` requests it covers.
    pub fn first_n(mut self, n: u64) -> FaultRule {
        self.first_n = Some(n);
        self
    }
}

/// The action of a fired rule on a request. In TOML, `kind` names the variant.
///
/// Variants without settings are written with braces (`Fault::Hang {}`), because serde
/// rejects unknown fields in a TOML table only for struct variants.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum Fault {
    /// Delays the response by `ms` plus a uniform random 0 to `jitter_ms` milliseconds.
    #[serde(rename = "latency")]
    Latency {
        ms: u64,
        #[serde(default)]
        jitter_ms: u64,
    },
    /// 500 with the Base `InternalError` message.
    #[serde(rename = "error_500")]
    Error500 {},
    /// 503 with a wait of `retry_after_s` seconds, stated in a `Retry-After` header (when
    /// `header` is true), in the body (`message`), or both.
    #[serde(rename = "unavailable_503")]
    Unavailable503 {
        #[serde(default = "default_retry_after_s")]
        retry_after_s: u64,
        #[serde(default = "default_true")]
        header: bool,
        #[serde(default)]
        message: WaitMessage,
    },
    /// 429 with a `Retry-After` header.
    #[serde(rename = "too_many_requests_429")]
    TooManyRequests429 {
        #[serde(default = "default_retry_after_s")]
        retry_after_s: u64,
    },
    /// Sends the real status, headers and the first `keep_fraction` of the body, then
    /// closes the connection before the `Content-Length` promised is reached.
    #[serde(rename = "reset")]
    Reset {
        #[serde(default = "default_keep_fraction")]
        keep_fraction: f64,
    },
    /// Accepts the request and sends no response until the client gives up or the BMC stops.
    #[serde(rename = "hang")]
    Hang {},
    /// Serves the first `keep_fraction` of the real body as a complete response.
    #[serde(rename = "truncated_json")]
    TruncatedJson {
        #[serde(default = "default_keep_fraction")]
        keep_fraction: f64,
    },
    /// Inserts a raw control character inside the body's first JSON string, which makes
    /// the body invalid JSON for strict parsers.
    #[serde(rename = "control_char")]
    ControlChar {
        #[serde(default)]
        character: ControlCharacter,
    },
    /// Prepends a UTF-8 byte-order mark (EF BB BF) to the body.
    #[serde(rename = "bom")]
    Bom {},
    /// An HTML error page with `Content-Type: text/html` and `status` (200 or an error),
    /// as a web front end in front of a crashed Redfish service returns.
    #[serde(rename = "html_error")]
    HtmlError {
        #[serde(default = "default_html_status")]
        status: u16,
    },
    /// Redirects a path without a trailing slash to the same path with one, which the BMC
    /// then serves. `status` is 301, 302, 307 or 308.
    #[serde(rename = "redirect_trailing_slash")]
    RedirectTrailingSlash {
        #[serde(default = "default_permanent_redirect")]
        status: u16,
    },
    /// Redirects to the same path and query on `https://<this BMC's IP>:<port>`.
    /// `status` is 301, 302, 307 or 308.
    #[serde(rename = "redirect_other_port")]
    RedirectOtherPort {
        port: u16,
        #[serde(default = "default_temporary_redirect")]
        status: u16,
    },
    /// Removes `properties` from the expanded members of an `$expand` response, so the
    /// expanded form lacks properties that a plain GET of the member returns.
    #[serde(rename = "expand_drops_properties")]
    ExpandDropsProperties {
        #[serde(default = "default_dropped_properties")]
        properties: Vec<String>,
    },
}

impl Fault {
    /// Returns the `kind` name, as used in TOML, logs and [`crate::MockBmc::faults_injected`].
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Latency { .. } => "latency",
            Fault::Error500 {} => "error_500",
            Fault::Unavailable503 { .. } => "unavailable_503",
            Fault::TooManyRequests429 { .. } => "too_many_requests_429",
            Fault::Reset { .. } => "reset",
            Fault::Hang {} => "hang",
            Fault::TruncatedJson { .. } => "truncated_json",
            Fault::ControlChar { .. } => "control_char",
            Fault::Bom {} => "bom",
            Fault::HtmlError { .. } => "html_error",
            Fault::RedirectTrailingSlash { .. } => "redirect_trailing_slash",
            Fault::RedirectOtherPort { .. } => "redirect_other_port",
            Fault::ExpandDropsProperties { .. } => "expand_drops_properties",
        }
    }
}

/// The body of an `unavailable_503` fault, which may state the wait.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitMessage {
    /// An empty body.
    #[default]
    None,
    /// The DMTF Base registry message `ServiceTemporarilyUnavailable` with the seconds as
    /// its one MessageArg.
    Base,
    /// A vendor-style "server is busy, retry after N seconds" message. The wording is
    /// invented in the style of iDRAC messages, not copied from a firmware.
    VendorBusy,
}

/// The raw control character that `control_char` inserts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlCharacter {
    /// U+0001 (start of heading).
    #[default]
    Soh,
    /// U+000A, a raw line feed inside the string.
    Newline,
}

impl ControlCharacter {
    pub(crate) fn byte(self) -> u8 {
        match self {
            ControlCharacter::Soh => 0x01,
            ControlCharacter::Newline => b'\n',
        }
    }
}

/// Session faults of one BMC. The default has no limit and no expiry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionFaults {
    /// Maximum number of open sessions. A login with valid credentials while this many are
    /// open is rejected until one is deleted or expires.
    pub limit: Option<usize>,
    /// The message of a rejected login: `vendor` (default) or `base`.
    pub limit_message: SessionLimitMessage,
    /// HTTP status of a rejected login. None uses 400 for `vendor` and 503 for `base`.
    pub limit_status: Option<u16>,
    /// Seconds after login when a session's token stops working (401) and the session
    /// leaves the Sessions collection.
    pub expiry_s: Option<u64>,
    /// The `Location` header of a successful login.
    pub login_location: LoginLocation,
}

impl SessionFaults {
    pub(crate) fn expiry(&self) -> Option<std::time::Duration> {
        self.expiry_s.map(std::time::Duration::from_secs)
    }
}

/// The message of a login rejected because the session table is full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionLimitMessage {
    /// iDRAC's "RAC0218: The maximum number of user sessions is reached."
    #[default]
    Vendor,
    /// The DMTF Base registry message `SessionLimitExceeded`.
    Base,
}

/// The `Location` header of a successful session login.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginLocation {
    /// The session's URI as an absolute path, as the Redfish spec shows it.
    #[default]
    Relative,
    /// The session's absolute URL, `https://IP:PORT/redfish/v1/SessionService/Sessions/N`.
    Absolute,
    /// No `Location` header, so the client must find the session from the body.
    Missing,
}

/// TLS faults of one BMC. The default is a valid certificate with TLS 1.2 and 1.3.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsFaults {
    /// Serves a self-signed certificate that expired on 2021-01-01.
    pub expired: bool,
    /// The highest TLS version offered. None offers 1.2 and 1.3.
    pub max_version: Option<TlsVersion>,
}

/// A TLS protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum TlsVersion {
    #[serde(rename = "1.2")]
    Tls12,
    #[serde(rename = "1.3")]
    Tls13,
}

impl Faults {
    /// Returns every invalid value in the config, each as one sentence. Empty when valid.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (index, rule) in self.rules.iter().enumerate() {
            problems.extend(
                rule_problems(rule)
                    .into_iter()
                    .map(|problem| format!("fault rule {} ({}): {problem}", index + 1, rule.fault.kind())),
            );
        }
        if self.sessions.limit == Some(0) {
            problems.push("sessions.limit must be at least 1".to_string());
        }
        if self.sessions.expiry_s == Some(0) {
            problems.push("sessions.expiry_s must be at least 1".to_string());
        }
        if let Some(status) = self.sessions.limit_status
            && !(400..=599).contains(&status)
        {
            problems.push(format!(
                "sessions.limit_status {status} is not an error status (400 to 599)"
            ));
        }
        problems
    }
}

fn rule_problems(rule: &FaultRule) -> Vec<String> {
    let mut problems = Vec::new();

    let triggers = [rule.share.is_some(), rule.every_nth.is_some(), rule.first_n.is_some()];
    if triggers.iter().filter(|set| **set).count() > 1 {
        problems.push("set at most one of share, every_nth and first_n".to_string());
    }
    if let Some(share) = rule.share
        && !(0.0..=1.0).contains(&share)
    {
        problems.push(format!("share {share} is outside 0.0 to 1.0"));
    }
    if rule.every_nth == Some(0) {
        problems.push("every_nth must be at least 1".to_string());
    }
    if let Some(path) = &rule.path
        && !path.starts_with('/')
    {
        problems.push(format!("path `{path}` does not start with `/`"));
    }

    match &rule.fault {
        Fault::Reset { keep_fraction } | Fault::TruncatedJson { keep_fraction }
            if !(0.0..1.0).contains(keep_fraction) =>
        {
            problems.push(format!("keep_fraction {keep_fraction} is outside 0.0 to below 1.0"));
        }
        Fault::HtmlError { status } if !(200..=599).contains(status) => {
            problems.push(format!("status {status} is not an HTTP status of 200 to 599"));
        }
        Fault::RedirectTrailingSlash { status } | Fault::RedirectOtherPort { status, .. }
            if ![301, 302, 307, 308].contains(status) =>
        {
            problems.push(format!(
                "status {status} is not a redirect status (301, 302, 307 or 308)"
            ));
        }
        _ => {}
    }
    if let Fault::RedirectOtherPort { port: 0, .. } = rule.fault {
        problems.push("port must not be 0".to_string());
    }
    problems
}

fn default_retry_after_s() -> u64 {
    5
}

fn default_true() -> bool {
    true
}

fn default_keep_fraction() -> f64 {
    0.5
}

fn default_html_status() -> u16 {
    500
}

fn default_permanent_redirect() -> u16 {
    308
}

fn default_temporary_redirect() -> u16 {
    307
}

fn default_dropped_properties() -> Vec<String> {
    vec!["Status".to_string()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_from_toml() {
        let text = r#"
            seed = 7
            [sessions]
            limit = 2
            expiry_s = 60
            login_location = "missing"
            [tls]
            expired = true
            max_version = "1.2"
            [[rules]]
            fault = { kind = "latency", ms = 100, jitter_ms = 50 }
            [[rules]]
            path = "/redfish/v1/Chassis/*"
            share = 0.25
            fault = { kind = "unavailable_503", message = "vendor_busy" }
        "#;

        let faults: Faults = toml::from_str(text).unwrap();

        assert_eq!(faults.seed, 7);
        assert_eq!(faults.sessions.limit, Some(2));
        assert_eq!(faults.sessions.login_location, LoginLocation::Missing);
        assert_eq!(faults.tls.max_version, Some(TlsVersion::Tls12));
        assert_eq!(faults.rules[0].fault, Fault::Latency { ms: 100, jitter_ms: 50 });
        let expected = Fault::Unavailable503 {
            retry_after_s: 5,
            header: true,
            message: WaitMessage::VendorBusy,
        };
        assert_eq!(faults.rules[1].fault, expected);
        assert!(faults.problems().is_empty(), "{:?}", faults.problems());
    }

    #[test]
    fn faults_reject_unknown_fields() {
        for text in [
            "sed = 7",
            "[sessions]\nlimt = 2",
            "[tls]\nmax_versoin = \"1.2\"",
            "[[rules]]\nfault = { kind = \"latency\", ms = 3, jitter = 3 }",
            "[[rules]]\nfault = { kind = \"error_501\" }",
            "[[rules]]\nshare = 0.5\nfault = { kind = \"hang\", after = 3 }",
        ] {
            assert!(toml::from_str::<Faults>(text).is_err(), "accepted {text:?}");
        }
    }

    #[test]
    fn faults_problems_list_each_invalid_value() {
        let mut rule = FaultRule::always(Fault::TruncatedJson { keep_fraction: 1.5 }).with_share(2.0);
        rule.every_nth = Some(0);
        let faults = Faults {
            rules: vec![
                rule,
                FaultRule::always(Fault::RedirectOtherPort { port: 0, status: 200 }),
            ],
            ..Faults::default()
        };

        let problems = faults.problems();

        assert_eq!(problems.len(), 6, "{problems:#?}");
        assert!(problems[0].starts_with("fault rule 1 (truncated_json): set at most one"));
        assert!(problems.iter().any(|problem| problem.contains("share 2")));
        assert!(problems.iter().any(|problem| problem.contains("keep_fraction 1.5")));
        assert!(
            problems
                .iter()
                .any(|problem| problem.contains("status 200 is not a redirect"))
        );
        assert!(problems.iter().any(|problem| problem.contains("port must not be 0")));
    }
}
