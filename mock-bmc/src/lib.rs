//! mock-bmc serves Redfish mockups as mock BMCs over HTTPS, for rackcheck's tests and demos.
//!
//! - [`Mockup`]: a resource tree loaded from the DMTF mockup layout (`redfish/v1/.../index.json`).
//! - [`Scenario`]: merge patches, additions and removals that turn a base mockup into a variant.
//! - [`MockBmc`]: one HTTPS server with basic auth and Redfish sessions, counting requests in [`Stats`].
//! - [`Rack`]: many mock BMCs from one TOML [`RackConfig`], or [`generate_rack`] for load tests.
//! - [`Faults`]: seeded, repeatable faults per BMC (latency, 5xx, resets, hangs, corrupt
//!   bodies, redirects, session limits, TLS), set in [`BmcConfig`] or the rack config.
//!
//! Servers bind loopback addresses only, and [`MockBmc::start`] rejects any other address.

mod error;
mod fault;
mod generate;
mod mockup;
mod rack;
mod scenario;
mod server;
mod tls;

pub use error::Error;
pub use fault::{
    ControlCharacter, DEFAULT_SEED, Fault, FaultRule, Faults, LoginLocation, SessionFaults, SessionLimitMessage,
    TlsFaults, TlsVersion, WaitMessage,
};
pub use generate::{GenerateOptions, MAX_GENERATED, generate_rack, generated_ip, inventory_csv};
pub use mockup::{LoadIssue, Mockup};
pub use rack::{Rack, RackBmc, RackConfig};
pub use scenario::Scenario;
pub use server::{BmcConfig, Event, MockBmc, Stats};
