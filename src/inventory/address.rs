//! A BMC's address, normalized to the HTTPS base URL that the Redfish client connects to.

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::{Host, Url};

const DEFAULT_PORT: u16 = 443;

/// The canonical `https://host:port` base URL of a BMC.
///
/// Parsed from `host`, `host:port`, a bare or bracketed IPv6 address, or an `https://` URL
/// whose path is empty, `/` or `/redfish/v1`. Host names are lowercased, so two spellings of
/// one BMC compare equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BmcAddress {
    /// Host name or IP address, without the brackets of an IPv6 address.
    host: String,
    port: u16,
}

/// Reason a text is not a valid BMC address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    #[error("the address is empty")]
    Empty,

    #[error("only HTTPS BMC addresses are accepted, not `{scheme}://`")]
    NotHttps { scheme: String },

    #[error("only HTTPS BMC addresses are accepted, without the path `{path}`")]
    Path { path: String },

    #[error("a BMC address must not contain a user name or password")]
    UserInfo,

    #[error("a BMC address must not contain a query or fragment")]
    QueryOrFragment,

    #[error("port 0 is not a valid port")]
    PortZero,

    #[error("{cause}")]
    Syntax { cause: String },
}

impl AddressError {
    /// Returns what to write instead.
    pub fn hint(&self) -> &'static str {
        match self {
            AddressError::UserInfo => "write the address as `host[:port]` and put credentials in the credentials file",
            AddressError::NotHttps { .. } | AddressError::Path { .. } => {
                "write the address as `host`, `host:port` or `https://host[:port]`"
            }
            _ => "write the address as `host`, `host:port`, `[ipv6]:port` or `https://host[:port]`",
        }
    }
}

impl BmcAddress {
    /// Parses and normalizes an address as written in the inventory.
    pub fn parse(text: &str) -> Result<BmcAddress, AddressError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(AddressError::Empty);
        }

        let url = Url::parse(&as_https_url(text)?).map_err(|err| AddressError::Syntax { cause: err.to_string() })?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(AddressError::UserInfo);
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(AddressError::QueryOrFragment);
        }
        if !matches!(url.path(), "" | "/" | "/redfish/v1" | "/redfish/v1/") {
            return Err(AddressError::Path {
                path: url.path().to_string(),
            });
        }

        let host = match url.host() {
            Some(Host::Domain(name)) => name.to_string(),
            Some(Host::Ipv4(ip)) => ip.to_string(),
            Some(Host::Ipv6(ip)) => ip.to_string(),
            None => {
                return Err(AddressError::Syntax {
                    cause: "missing host".to_string(),
                });
            }
        };
        let port = url.port().unwrap_or(DEFAULT_PORT);
        if port == 0 {
            return Err(AddressError::PortZero);
        }
        Ok(BmcAddress { host, port })
    }

    /// Returns the host name or IP address, without brackets around an IPv6 address.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Returns the base URL, `https://host:port/`.
    pub fn url(&self) -> Url {
        Url::parse(&format!("{self}/")).expect("a validated BMC address is a valid URL")
    }

    /// True when `url` has this BMC's scheme, host and port.
    pub fn is_same_origin(&self, url: &Url) -> bool {
        url.origin() == self.url().origin()
    }
}

/// Returns `text` with any user name and password before the host replaced by `***`, so
/// that an address refused for carrying credentials can be shown in the error.
pub fn without_userinfo(text: &str) -> String {
    let (scheme, rest) = match text.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, text),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return text.to_string();
    };
    let scheme = scheme.map(|scheme| format!("{scheme}://")).unwrap_or_default();
    format!("{scheme}***{}", &rest[at..])
}

/// Rewrites the accepted short forms into an `https://` URL, rejecting other schemes.
fn as_https_url(text: &str) -> Result<String, AddressError> {
    if let Some((scheme, _)) = text.split_once("://") {
        if scheme.eq_ignore_ascii_case("https") {
            return Ok(text.to_string());
        }
        return Err(AddressError::NotHttps {
            scheme: scheme.to_string(),
        });
    }

    // A bare IPv6 address has colons that would otherwise read as a port separator.
    if text.parse::<Ipv6Addr>().is_ok() {
        return Ok(format!("https://[{text}]"));
    }
    Ok(format!("https://{text}"))
}

impl fmt::Display for BmcAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "https://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "https://{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for BmcAddress {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<BmcAddress, AddressError> {
        BmcAddress::parse(text)
    }
}

impl Serialize for BmcAddress {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BmcAddress {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<BmcAddress, D::Error> {
        let text = String::deserialize(deserializer)?;
        BmcAddress::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_hidden() {
        assert_eq!(
            without_userinfo("https://admin:s3cret@10.0.0.1:8443/redfish/v1"),
            "https://***@10.0.0.1:8443/redfish/v1"
        );
        assert_eq!(without_userinfo("root:p@ss@bmc-a01"), "***@bmc-a01");
        assert_eq!(without_userinfo("bmc-a01:443"), "bmc-a01:443");
        assert_eq!(without_userinfo("https://bmc-a01/x@y"), "https://bmc-a01/x@y");
    }

    fn canonical(text: &str) -> String {
        BmcAddress::parse(text).unwrap().to_string()
    }

    #[test]
    fn short_forms_normalize() {
        assert_eq!(canonical("BMC-A01.example.net"), "https://bmc-a01.example.net:443");
        assert_eq!(canonical("10.0.0.5:8443"), "https://10.0.0.5:8443");
        assert_eq!(canonical("https://10.0.0.5/redfish/v1/"), "https://10.0.0.5:443");
        assert_eq!(canonical("https://10.0.0.5:443/"), "https://10.0.0.5:443");
    }

    #[test]
    fn ipv6_gets_brackets() {
        assert_eq!(canonical("fd00::5"), "https://[fd00::5]:443");
        assert_eq!(canonical("[fd00::5]:8443"), "https://[fd00::5]:8443");
        let address = BmcAddress::parse("https://[FD00::5]").unwrap();
        assert_eq!(address.host(), "fd00::5");
        assert_eq!(address.port(), 443);
        assert_eq!(address.url().as_str(), "https://[fd00::5]/");
    }

    #[test]
    fn rejects_http_and_paths() {
        let http = BmcAddress::parse("http://10.0.0.5").unwrap_err();
        assert!(
            http.to_string().contains("only HTTPS BMC addresses are accepted"),
            "{http}"
        );
        let path = BmcAddress::parse("https://10.0.0.5/redfish/v1/Systems").unwrap_err();
        assert!(
            path.to_string().contains("only HTTPS BMC addresses are accepted"),
            "{path}"
        );
        assert!(path.to_string().contains("/redfish/v1/Systems"), "{path}");
    }

    #[test]
    fn rejects_credentials_and_bad_ports() {
        assert_eq!(
            BmcAddress::parse("https://root:pw@10.0.0.5"),
            Err(AddressError::UserInfo)
        );
        assert_eq!(BmcAddress::parse("10.0.0.5:0"), Err(AddressError::PortZero));
        assert!(matches!(
            BmcAddress::parse("10.0.0.5:99999"),
            Err(AddressError::Syntax { .. })
        ));
        assert!(matches!(BmcAddress::parse("bmc a01"), Err(AddressError::Syntax { .. })));
        assert_eq!(BmcAddress::parse("  "), Err(AddressError::Empty));
    }

    #[test]
    fn same_origin_compares_port() {
        let address = BmcAddress::parse("10.0.0.5").unwrap();
        assert!(address.is_same_origin(&Url::parse("https://10.0.0.5/redfish/v1").unwrap()));
        assert!(!address.is_same_origin(&Url::parse("https://10.0.0.5:8443/redfish/v1").unwrap()));
        assert!(!address.is_same_origin(&Url::parse("https://10.0.0.6/redfish/v1").unwrap()));
    }
}
