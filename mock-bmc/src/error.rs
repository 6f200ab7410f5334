//! The crate's error type: start-up, file and configuration failures.
//!
//! What a mock BMC returns to its clients (401, 404, ...) is response data, not an `Error`.

use std::net::SocketAddr;
use std::path::PathBuf;

/// A failure to load a mockup, scenario or rack config, or to start a mock BMC.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read.
    #[error("failed to read `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The mockup directory has no `redfish/v1` folder.
    #[error("`{dir}` is not a mockup: `{dir}/redfish/v1` is missing")]
    NotAMockup { dir: PathBuf },

    /// The mockup directory contains no readable `index.json` file.
    #[error("mockup `{dir}` contains no readable resource ({issues} files skipped)")]
    EmptyMockup { dir: PathBuf, issues: usize },

    /// A scenario file is not valid scenario JSON.
    #[error("invalid scenario `{path}`")]
    InvalidScenario {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    /// A scenario patches or removes a resource that the mockup does not have.
    #[error("scenario `{scenario}` targets `{uri}` for {action}, but the mockup has no such resource")]
    ScenarioTargetMissing {
        scenario: String,
        uri: String,
        action: &'static str,
    },

    /// A rack config file is not valid TOML of the expected shape.
    #[error("invalid rack config `{path}`")]
    InvalidRackConfig {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },

    /// A rack config parsed but has values that cannot work together.
    #[error("invalid rack config `{path}`:\n  {}", problems.join("\n  "))]
    RackConfigProblems { path: PathBuf, problems: Vec<String> },

    /// A generated rack size of zero or more than the generator has addresses for.
    #[error("invalid number of BMCs to generate: {count}\nhint: generate 1 to {max} BMCs")]
    GenerateCount { count: usize, max: usize },

    /// A listen address outside 127.0.0.0/8 and ::1, which this crate never binds.
    #[error("listen address `{addr}` is not a loopback address\nhint: use 127.0.0.1 to 127.255.255.254 or [::1]")]
    NotLoopback { addr: SocketAddr },

    /// Binding the listen socket failed.
    #[error("failed to listen on `{addr}`")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },

    /// Generating the self-signed certificate failed.
    #[error("failed to generate the self-signed certificate for `{addr}`")]
    Certificate {
        addr: SocketAddr,
        #[source]
        source: rcgen::Error,
    },

    /// A [`crate::Faults`] config with invalid values, such as a share above 1.0.
    #[error("invalid faults for the mock BMC on `{addr}`:\n  {}", problems.join("\n  "))]
    InvalidFaults { addr: SocketAddr, problems: Vec<String> },

    /// Building the TLS server configuration failed.
    #[error("failed to build the TLS configuration for `{addr}`")]
    Tls {
        addr: SocketAddr,
        #[source]
        source: rustls::Error,
    },
}

impl Error {
    /// Returns true when the error is the loopback-only safety rule rejecting an address.
    pub fn is_not_loopback(&self) -> bool {
        matches!(self, Error::NotLoopback { .. })
    }
}
