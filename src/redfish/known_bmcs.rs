//! The known-BMCs file: the SHA-256 fingerprint of each BMC's certificate, pinned like SSH's
//! known_hosts so that BMCs with self-signed certificates are verified without `--insecure`.
//!
//! One BMC per line, `host:port FINGERPRINT`, where the fingerprint is the SHA-256 of the
//! DER certificate as 32 hex bytes, with or without colons (the form of
//! `openssl x509 -noout -fingerprint -sha256`). `#` starts a comment. IPv6 hosts are
//! written in brackets, `[fd00::5]:443`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::inventory::{BmcAddress, without_userinfo};

/// An invalid or unreadable known-BMCs file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KnownBmcsError {
    #[error(
        "known-BMCs file `{}` does not exist\n  hint: pass `--record-new-bmcs` to create it and record each BMC's certificate on first use",
        path.display()
    )]
    Missing { path: PathBuf },

    #[error("failed to read known-BMCs file `{}`: {cause}", path.display())]
    Read { path: PathBuf, cause: String },

    #[error("known-BMCs file `{}` has invalid lines:\n{}", path.display(), problems.join("\n"))]
    Invalid { path: PathBuf, problems: Vec<String> },
}

/// The outcome of checking a certificate against the known-BMCs file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PinCheck {
    /// The BMC is pinned to this certificate.
    Match,
    /// The BMC is pinned to another certificate.
    Mismatch { expected: String },
    /// The BMC was unknown and its certificate was recorded now.
    Recorded,
    /// The BMC is unknown and recording is off.
    Unknown,
    /// The BMC was unknown, and appending it to the file failed.
    RecordFailed { cause: String },
}

/// The pins of a known-BMCs file, shared by every connection of a scan.
#[derive(Debug)]
pub struct KnownBmcs {
    path: PathBuf,
    /// Append the certificate of an unknown BMC on first use (`--record-new-bmcs`).
    record_new: bool,
    /// Fingerprint by `host:port`.
    pins: Mutex<BTreeMap<String, String>>,
}

impl KnownBmcs {
    /// Reads the file, reporting every invalid line. A missing file is an error unless
    /// `record_new` is set, in which case it is created on the first recording.
    pub fn load(path: &Path, record_new: bool) -> Result<KnownBmcs, KnownBmcsError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && record_new => String::new(),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(KnownBmcsError::Missing {
                    path: path.to_path_buf(),
                });
            }
            Err(err) => {
                return Err(KnownBmcsError::Read {
                    path: path.to_path_buf(),
                    cause: err.to_string(),
                });
            }
        };
        let pins = parse(&text).map_err(|problems| KnownBmcsError::Invalid {
            path: path.to_path_buf(),
            problems,
        })?;
        Ok(KnownBmcs {
            path: path.to_path_buf(),
            record_new,
            pins: Mutex::new(pins),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Returns the pinned fingerprint of a BMC.
    pub fn pin(&self, bmc: &BmcAddress) -> Option<String> {
        self.lock().get(&key(bmc)).cloned()
    }

    /// Checks a certificate fingerprint against the BMC's pin, recording it when the BMC is
    /// unknown and recording is on.
    pub(crate) fn check(&self, key: &str, actual: &str) -> PinCheck {
        let mut pins = self.lock();
        match pins.get(key) {
            Some(expected) if expected == actual => PinCheck::Match,
            Some(expected) => PinCheck::Mismatch {
                expected: expected.clone(),
            },
            None if !self.record_new => PinCheck::Unknown,
            None => match self.append(key, actual) {
                Ok(()) => {
                    tracing::info!(bmc = key, fingerprint = actual, file = %self.path.display(), "recorded the certificate of a new BMC");
                    pins.insert(key.to_string(), actual.to_string());
                    PinCheck::Recorded
                }
                Err(err) => PinCheck::RecordFailed {
                    cause: format!("failed to record the certificate in `{}`: {err}", self.path.display()),
                },
            },
        }
    }

    fn append(&self, key: &str, fingerprint: &str) -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
        writeln!(file, "{key} {fingerprint}")?;
        file.flush()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.pins.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Returns the key of a BMC in the file: `host:port`, with an IPv6 host in brackets.
pub(crate) fn key(bmc: &BmcAddress) -> String {
    let url = bmc.url();
    format!("{}:{}", url.host_str().unwrap_or(bmc.host()), bmc.port())
}

/// Returns the SHA-256 fingerprint of a DER certificate as uppercase hex bytes joined by
/// colons, as `openssl x509 -fingerprint -sha256` prints it.
pub fn fingerprint(certificate_der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, certificate_der);
    let mut text = String::with_capacity(95);
    for (index, byte) in digest.as_ref().iter().enumerate() {
        if index > 0 {
            text.push(':');
        }
        write!(text, "{byte:02X}").expect("writing to a String cannot fail");
    }
    text
}

fn parse(text: &str) -> Result<BTreeMap<String, String>, Vec<String>> {
    let mut pins = BTreeMap::new();
    let mut problems = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        match parse_line(line) {
            Ok((key, fingerprint)) => {
                pins.insert(key, fingerprint);
            }
            Err(problem) => problems.push(format!("line {}: {problem}", index + 1)),
        }
    }
    if problems.is_empty() { Ok(pins) } else { Err(problems) }
}

fn parse_line(line: &str) -> Result<(String, String), String> {
    let mut fields = line.split_whitespace();
    let (Some(address), Some(fingerprint), None) = (fields.next(), fields.next(), fields.next()) else {
        return Err(format!("expected `host:port FINGERPRINT`, found `{line}`"));
    };
    let bmc =
        BmcAddress::parse(address).map_err(|err| format!("invalid address `{}`: {err}", without_userinfo(address)))?;
    let fingerprint = normalize_fingerprint(fingerprint)
        .ok_or_else(|| format!("invalid fingerprint `{fingerprint}`: expected 32 hex bytes of a SHA-256 digest"))?;
    Ok((key(&bmc), fingerprint))
}

/// Accepts 64 hex digits with or without colons, in either case.
fn normalize_fingerprint(text: &str) -> Option<String> {
    let digits: String = text.chars().filter(|c| *c != ':').collect();
    if digits.len() != 64 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let bytes: Vec<String> = digits
        .to_ascii_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|pair| String::from_utf8_lossy(pair).into_owned())
        .collect();
    Some(bytes.join(":"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FINGERPRINT: &str =
        "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";

    #[test]
    fn parse_accepts_both_fingerprint_forms() {
        let text = format!(
            "# pinned BMCs\n10.0.0.5 {FINGERPRINT}\n[fd00::5]:8443 {}  # lab\n",
            FINGERPRINT.replace(':', "").to_lowercase()
        );
        let pins = parse(&text).unwrap();
        assert_eq!(pins.get("10.0.0.5:443").map(String::as_str), Some(FINGERPRINT));
        assert_eq!(pins.get("[fd00::5]:8443").map(String::as_str), Some(FINGERPRINT));
    }

    #[test]
    fn parse_lists_every_invalid_line() {
        let problems = parse("10.0.0.5\nftp://x AB\n10.0.0.6 XYZ\n").unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("line 1: expected"), "{problems:?}");
        assert!(problems[1].starts_with("line 2: invalid address"), "{problems:?}");
        assert!(problems[2].starts_with("line 3: invalid fingerprint"), "{problems:?}");
    }

    #[test]
    fn fingerprint_is_sha256_hex() {
        // SHA-256 of the empty input.
        assert_eq!(
            fingerprint(b"").replace(':', ""),
            "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
        );
    }
}
