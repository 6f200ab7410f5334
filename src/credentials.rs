//! BMC credentials from the environment or a credentials file; never printed.
//!
//! A node whose inventory row names a `credentials` key gets that entry of the credentials
//! file; every other node gets `RACKCHECK_USERNAME` and `RACKCHECK_PASSWORD`. Passwords are
//! held in [`Secret`], whose `Debug` and `Display` print `***`, and error messages never quote
//! the credentials file's contents, so a password cannot reach a log or report by accident.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::inventory::Node;

pub const USERNAME_VAR: &str = "RACKCHECK_USERNAME";
pub const PASSWORD_VAR: &str = "RACKCHECK_PASSWORD";

/// A password or token; `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// Returns the secret itself, for the one place that sends it to the BMC.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A BMC user name and password.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub username: String,
    pub password: Secret,
}

impl Credentials {
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials {
            username: username.into(),
            password: Secret::new(password),
        }
    }
}

/// A failure to read credentials or to find them for a node.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    #[error("failed to read credentials file `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        cause: std::io::Error,
    },

    /// The file is not valid TOML or has an unexpected field; the message never quotes the file.
    #[error("{}:{line}: {message}\n  hint: write one `[key]` table per entry with `username` and `password`", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },

    #[error("{}: entry `{key}` has an empty `{field}`\n  hint: set `{field}` in the `[{key}]` table", path.display())]
    EmptyField {
        path: PathBuf,
        key: String,
        field: &'static str,
    },

    #[error(
        "{}: no entry `{key}` for {hostname} (inventory line {line})\n  hint: add a `[{key}]` table or fix the `credentials` column",
        path.display()
    )]
    MissingKey {
        path: PathBuf,
        key: String,
        hostname: String,
        line: usize,
    },

    #[error(
        "{hostname} (inventory line {line}) uses credentials `{key}` but no credentials file was given\n  hint: pass the credentials file, or clear the `credentials` column to use {USERNAME_VAR} and {PASSWORD_VAR}"
    )]
    NoFile { key: String, hostname: String, line: usize },

    #[error(
        "no credentials for {hostname} (inventory line {line}): {USERNAME_VAR} and {PASSWORD_VAR} are not both set\n  hint: set both variables, or name an entry of the credentials file in the `credentials` column"
    )]
    EnvUnset { hostname: String, line: usize },
}

/// Source of credentials: the entries of one credentials file, and a default for rows without a key.
#[derive(Debug, Clone, Default)]
pub struct CredentialStore {
    /// The credentials file and its entries by key, when one was loaded.
    file: Option<(PathBuf, BTreeMap<String, Credentials>)>,
    /// Credentials for rows without a key: the environment's, or those given to
    /// [`CredentialStore::with_default`].
    default: Option<Credentials>,
}

impl CredentialStore {
    /// Reads `RACKCHECK_USERNAME` and `RACKCHECK_PASSWORD`; no file.
    pub fn from_env() -> CredentialStore {
        CredentialStore {
            file: None,
            default: env_credentials(|name| std::env::var(name).ok()),
        }
    }

    /// Uses `credentials` for every row without a key, in place of the environment; no file.
    pub fn with_default(credentials: Credentials) -> CredentialStore {
        CredentialStore {
            file: None,
            default: Some(credentials),
        }
    }

    /// Reads a credentials file, keeping the environment as the fallback for rows without a key.
    pub fn load(path: impl AsRef<Path>) -> Result<CredentialStore, CredentialError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|cause| CredentialError::Read {
            path: path.to_path_buf(),
            cause,
        })?;
        warn_if_readable_by_others(path);

        let mut store = CredentialStore::parse(&text, path)?;
        store.default = CredentialStore::from_env().default;
        Ok(store)
    }

    /// Parses credentials file text; `path` names the file in messages. The environment is not read.
    pub fn parse(text: &str, path: impl AsRef<Path>) -> Result<CredentialStore, CredentialError> {
        let path = path.as_ref().to_path_buf();
        let entries: BTreeMap<String, Credentials> = toml::from_str(text).map_err(|err| CredentialError::Syntax {
            line: err.span().map_or(1, |span| line_of(text, span.start)),
            message: redact_toml_message(err.message()),
            path: path.clone(),
        })?;

        for (key, entry) in &entries {
            let empty_field = if entry.username.is_empty() {
                Some("username")
            } else if entry.password.expose().is_empty() {
                Some("password")
            } else {
                None
            };
            if let Some(field) = empty_field {
                return Err(CredentialError::EmptyField {
                    path,
                    key: key.clone(),
                    field,
                });
            }
        }
        Ok(CredentialStore {
            file: Some((path, entries)),
            default: None,
        })
    }

    /// Returns the credentials for a node: its row's file entry, else the environment.
    pub fn credentials_for(&self, node: &Node) -> Result<Credentials, CredentialError> {
        let Some(key) = &node.credentials else {
            return self.default.clone().ok_or_else(|| CredentialError::EnvUnset {
                hostname: node.hostname.clone(),
                line: node.line,
            });
        };

        let Some((path, entries)) = &self.file else {
            return Err(CredentialError::NoFile {
                key: key.clone(),
                hostname: node.hostname.clone(),
                line: node.line,
            });
        };
        entries.get(key).cloned().ok_or_else(|| CredentialError::MissingKey {
            path: path.clone(),
            key: key.clone(),
            hostname: node.hostname.clone(),
            line: node.line,
        })
    }
}

/// Builds credentials from the two variables, `None` unless both are set and non-empty.
fn env_credentials(lookup: impl Fn(&str) -> Option<String>) -> Option<Credentials> {
    let username = lookup(USERNAME_VAR).filter(|value| !value.is_empty())?;
    let password = lookup(PASSWORD_VAR).filter(|value| !value.is_empty())?;
    Some(Credentials::new(username, password))
}

/// Drops the quoted value from serde's "invalid type" and "invalid value" messages.
///
/// The TOML error's `Display` quotes the source line and serde's messages quote the offending
/// value, and either may be a password, so only the kind of problem is kept.
fn redact_toml_message(message: &str) -> String {
    for problem in ["invalid type", "invalid value"] {
        if let Some(rest) = message.strip_prefix(problem).and_then(|rest| rest.strip_prefix(": ")) {
            return match rest.split_once(", expected ") {
                Some((_, expected)) => format!("{problem}, expected {expected}"),
                None => problem.to_string(),
            };
        }
    }
    message.to_string()
}

fn line_of(text: &str, byte: usize) -> usize {
    let end = byte.min(text.len());
    text.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count() + 1
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;

    if let Ok(metadata) = std::fs::metadata(path) {
        let mode = metadata.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                file = %path.display(),
                mode = format_args!("{:o}", mode & 0o777),
                "credentials file is readable by other users; consider `chmod 600`"
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{BmcAddress, Role};

    const FILE: &str = r#"
[rack-a]
username = "admin"
password = "hunter2"

[storage]
username = "root"
password = "calvin"
"#;

    fn node(credentials: Option<&str>) -> Node {
        Node {
            line: 7,
            rack: "A".to_string(),
            position: 12,
            hostname: "gpu-a12".to_string(),
            bmc: BmcAddress::parse("127.0.0.1:8443").unwrap(),
            role: Role::GpuCompute,
            credentials: credentials.map(str::to_string),
            system: None,
            gpus: None,
        }
    }

    #[test]
    fn secret_is_never_printed() {
        let credentials = Credentials::new("admin", "hunter2");
        assert_eq!(format!("{:?}", credentials.password), "***");
        assert_eq!(credentials.password.to_string(), "***");
        assert!(!format!("{credentials:?}").contains("hunter2"));
        assert!(format!("{credentials:?}").contains("admin"));
    }

    #[test]
    fn row_key_selects_file_entry() {
        let store = CredentialStore::parse(FILE, "creds.toml").unwrap();
        let credentials = store.credentials_for(&node(Some("storage"))).unwrap();
        assert_eq!(credentials.username, "root");
        assert_eq!(credentials.password.expose(), "calvin");
    }

    #[test]
    fn missing_key_names_file_and_key() {
        let store = CredentialStore::parse(FILE, "creds.toml").unwrap();
        let message = store.credentials_for(&node(Some("rack-b"))).unwrap_err().to_string();
        assert!(message.contains("creds.toml"), "{message}");
        assert!(message.contains("`rack-b`"), "{message}");
        assert!(message.contains("line 7"), "{message}");
        assert!(message.contains("hint:"), "{message}");
    }

    #[test]
    fn key_without_file_is_error() {
        let store = CredentialStore::with_default(Credentials::new("admin", "x"));
        let err = store.credentials_for(&node(Some("rack-a"))).unwrap_err();
        assert!(matches!(err, CredentialError::NoFile { .. }), "{err}");
    }

    #[test]
    fn row_without_key_uses_environment() {
        let default = env_credentials(|name| Some(format!("{name}-value")));
        let store = CredentialStore { file: None, default };
        let credentials = store.credentials_for(&node(None)).unwrap();
        assert_eq!(credentials.username, "RACKCHECK_USERNAME-value");
        assert_eq!(credentials.password.expose(), "RACKCHECK_PASSWORD-value");
    }

    #[test]
    fn unset_environment_names_both_variables() {
        let only_user = env_credentials(|name| (name == USERNAME_VAR).then(|| "admin".to_string()));
        assert_eq!(only_user, None);

        let store = CredentialStore::parse(FILE, "creds.toml").unwrap();
        let message = store.credentials_for(&node(None)).unwrap_err().to_string();
        assert!(message.contains(USERNAME_VAR), "{message}");
        assert!(message.contains(PASSWORD_VAR), "{message}");
        assert!(message.contains("hint:"), "{message}");
    }

    #[test]
    fn unknown_field_is_error_without_secret() {
        let text = "[rack-a]\nusername = \"admin\"\npassword = \"hunter2\"\nrole = \"x\"\n";
        let message = CredentialStore::parse(text, "creds.toml").unwrap_err().to_string();
        assert!(message.starts_with("creds.toml:4:"), "{message}");
        assert!(message.contains("role"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn mistyped_password_is_not_quoted() {
        let text = "[rack-a]\nusername = \"admin\"\npassword = hunter2\n";
        let message = CredentialStore::parse(text, "creds.toml").unwrap_err().to_string();
        assert!(message.starts_with("creds.toml:3:"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn misplaced_password_is_not_quoted() {
        for text in [
            "password = \"hunter2\"\n",
            "[rack-a]\nusername = \"admin\"\npassword = 4711\n",
        ] {
            let message = CredentialStore::parse(text, "creds.toml").unwrap_err().to_string();
            assert!(message.contains("invalid type"), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
            assert!(!message.contains("4711"), "{message}");
        }
    }

    #[test]
    fn empty_password_names_key() {
        let text = "[rack-a]\nusername = \"admin\"\npassword = \"\"\n";
        let message = CredentialStore::parse(text, "creds.toml").unwrap_err().to_string();
        assert!(message.contains("creds.toml"), "{message}");
        assert!(message.contains("`rack-a`"), "{message}");
        assert!(message.contains("`password`"), "{message}");
    }
}
