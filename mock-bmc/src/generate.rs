//! Generated racks for load tests: N BMCs from one mockup on consecutive loopback addresses.
//!
//! BMC `i` (from 0) listens on `127.0.<1 + i / 254>.<1 + i % 254>`, so the first 254 BMCs use
//! 127.0.1.1 to 127.0.1.254 and the next ones continue at 127.0.2.1. Linux routes all of
//! 127.0.0.0/8 to the loopback interface, so these addresses need no setup there. Every BMC
//! gets the same port, credentials and scenario, and [`crate::Rack::start`] loads the mockup
//! once for all of them.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use crate::error::Error;
use crate::fault::{Fault, FaultRule, Faults};
use crate::rack::{RackBmc, RackConfig};

/// The largest rack [`generate_rack`] builds: 254 hosts in each of 127.0.1.x to 127.0.255.x.
pub const MAX_GENERATED: usize = 254 * 255;

/// Nodes per rack in the generated inventory, whose positions run from 1 to this.
const NODES_PER_RACK: usize = 40;

/// Size, mockup and BMC settings of a rack that [`generate_rack`] builds.
#[derive(Clone)]
pub struct GenerateOptions {
    /// Number of BMCs, from 1 to [`MAX_GENERATED`].
    pub count: usize,
    /// Mockup folder, the one that contains `redfish/v1`.
    pub mockup: PathBuf,
    /// Scenario applied to every BMC.
    pub scenario: Option<PathBuf>,
    /// Port of every BMC.
    pub port: u16,
    pub username: String,
    pub password: String,
    /// Honour `$expand` on every BMC.
    pub expand: bool,
    /// Delay every response of every BMC by this many milliseconds, as a latency fault.
    pub latency_ms: Option<u64>,
}

impl std::fmt::Debug for GenerateOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenerateOptions")
            .field("count", &self.count)
            .field("mockup", &self.mockup)
            .field("scenario", &self.scenario)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("expand", &self.expand)
            .field("latency_ms", &self.latency_ms)
            .finish()
    }
}

/// Returns a rack config of `options.count` BMCs named `node-00001` and up.
pub fn generate_rack(options: &GenerateOptions) -> Result<RackConfig, Error> {
    if options.count == 0 || options.count > MAX_GENERATED {
        return Err(Error::GenerateCount {
            count: options.count,
            max: MAX_GENERATED,
        });
    }

    let faults = Faults {
        rules: options
            .latency_ms
            .map(|ms| FaultRule::always(Fault::Latency { ms, jitter_ms: 0 }))
            .into_iter()
            .collect(),
        ..Faults::default()
    };
    let bmcs = (0..options.count)
        .map(|index| RackBmc {
            name: format!("node-{:05}", index + 1),
            listen: SocketAddr::from((generated_ip(index), options.port)),
            mockup: options.mockup.clone(),
            scenario: options.scenario.clone(),
            username: options.username.clone(),
            password: options.password.clone(),
            sessions: true,
            page_size: None,
            expand: options.expand,
            apply_settings_on_reset: true,
            faults: faults.clone(),
        })
        .collect();
    Ok(RackConfig { bmcs })
}

/// Returns the address of generated BMC `index`, counted from 0. `index` must be below
/// [`MAX_GENERATED`].
pub fn generated_ip(index: usize) -> Ipv4Addr {
    let third = 1 + index / 254;
    let fourth = 1 + index % 254;
    Ipv4Addr::new(
        127,
        0,
        u8::try_from(third).expect("index below MAX_GENERATED"),
        u8::try_from(fourth).expect("below 255"),
    )
}

/// Returns a rackcheck inventory CSV with one row per `(hostname, BMC address)` in order,
/// racks `R001`, `R002`... of 40 positions each and every node in `role`.
///
/// Pass the addresses of the started BMCs, which differ from the config's when it uses port 0.
pub fn inventory_csv<'a>(nodes: impl IntoIterator<Item = (&'a str, SocketAddr)>, role: &str) -> String {
    let mut csv = String::from("rack,position,hostname,bmc,role\n");
    for (index, (hostname, bmc)) in nodes.into_iter().enumerate() {
        let rack = index / NODES_PER_RACK + 1;
        let position = index % NODES_PER_RACK + 1;
        writeln!(csv, "R{rack:03},{position},{hostname},{bmc},{role}").expect("writing to a String");
    }
    csv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ip_continues_past_254() {
        assert_eq!(generated_ip(0), Ipv4Addr::new(127, 0, 1, 1));
        assert_eq!(generated_ip(253), Ipv4Addr::new(127, 0, 1, 254));
        assert_eq!(generated_ip(254), Ipv4Addr::new(127, 0, 2, 1));
        assert_eq!(generated_ip(MAX_GENERATED - 1), Ipv4Addr::new(127, 0, 255, 254));
    }
}
