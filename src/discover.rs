//! Finds BMCs in address ranges and writes an inventory stub for them.
//!
//! Each address is asked for its unauthenticated Redfish service root, the one resource a
//! BMC serves without credentials, so discovery never sends a password. Probes are bounded:
//! at most `rate` start per second and `concurrency` run at once, and a range larger than
//! [`MAX_ADDRESSES`] is rejected before anything is sent.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use futures::StreamExt;
use ipnet::IpNet;
use serde_json::Value;

use crate::inventory::BmcAddress;
use crate::redfish::{ClientOptions, RedfishClient};

/// Largest number of addresses one discovery probes, a /16 of IPv4.
pub const MAX_ADDRESSES: usize = 65_536;

/// Settings of one discovery run.
#[derive(Debug, Clone)]
pub struct DiscoverOptions {
    pub port: u16,
    /// Probes started per second.
    pub rate: u32,
    pub concurrency: usize,
    pub timeout: Duration,
}

/// A BMC that responded, with the identity its service root reports.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundBmc {
    pub address: BmcAddress,
    pub vendor: Option<String>,
    pub product: Option<String>,
    pub uuid: Option<String>,
    pub redfish_version: Option<String>,
}

/// A range the user gave that cannot be probed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("invalid address range `{value}`: {cause}\nhint: give ranges in CIDR notation, such as 10.0.12.0/24")]
    InvalidRange { value: String, cause: String },

    #[error(
        "the ranges contain {count} addresses, more than {MAX_ADDRESSES}\nhint: discover one /16 or smaller at a time"
    )]
    TooMany { count: usize },

    #[error("cannot build the HTTPS client: {0}")]
    Client(String),
}

/// Expands CIDR ranges into host addresses, without network and broadcast addresses of IPv4
/// ranges larger than /31.
pub fn addresses(ranges: &[String]) -> Result<Vec<IpAddr>, DiscoverError> {
    let mut all = Vec::new();
    for range in ranges {
        let net: IpNet = range
            .trim()
            .parse()
            .map_err(|err: ipnet::AddrParseError| DiscoverError::InvalidRange {
                value: range.clone(),
                cause: err.to_string(),
            })?;
        for address in net.hosts() {
            all.push(address);
            if all.len() > MAX_ADDRESSES {
                return Err(DiscoverError::TooMany { count: all.len() });
            }
        }
    }
    all.sort();
    all.dedup();
    Ok(all)
}

/// Probes every address and returns the BMCs that served a Redfish service root.
///
/// TLS certificates are not verified: discovery sends no credentials, and a new rack's BMCs
/// carry factory self-signed certificates that no CA file contains yet.
pub async fn discover(addresses: &[IpAddr], options: &DiscoverOptions) -> Result<Vec<FoundBmc>, DiscoverError> {
    let client_options = ClientOptions {
        insecure: true,
        connect_timeout: options.timeout,
        request_timeout: options.timeout,
        max_in_flight: 1,
        retry: crate::redfish::RetryPolicy::none(),
        ..ClientOptions::default()
    };
    let client = RedfishClient::new(&client_options).map_err(|err| DiscoverError::Client(err.to_string()))?;
    let interval = Duration::from_secs_f64(1.0 / f64::from(options.rate.max(1)));

    let mut found: Vec<FoundBmc> = futures::stream::iter(addresses.iter().copied().enumerate())
        .map(|(index, address)| {
            let client = &client;
            async move {
                // Spread the starts so the probe rate stays at `rate` per second.
                tokio::time::sleep(interval * index as u32).await;
                probe(client, address, options.port).await
            }
        })
        .buffer_unordered(options.concurrency.max(1))
        .filter_map(|found| async move { found })
        .collect()
        .await;
    found.sort_by(|a, b| a.address.cmp(&b.address));
    Ok(found)
}

async fn probe(client: &RedfishClient, address: IpAddr, port: u16) -> Option<FoundBmc> {
    let text = match address {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    };
    let bmc = BmcAddress::parse(&text).ok()?;
    match client.service_root(&bmc).await {
        Ok(Some(root)) if root.get("@odata.id").is_some() || root.get("RedfishVersion").is_some() => {
            let text = |key: &str| root.get(key).and_then(Value::as_str).map(str::to_string);
            let vendor = text("Vendor").or_else(|| oem_vendor(&root));
            Some(FoundBmc {
                address: bmc,
                vendor,
                product: text("Product"),
                uuid: text("UUID"),
                redfish_version: text("RedfishVersion"),
            })
        }
        Ok(_) => None,
        Err(err) => {
            tracing::debug!(bmc = %bmc, cause = %err, "no Redfish service root");
            None
        }
    }
}

/// Returns the vendor named by the service root's Oem object (`{"Oem": {"Dell": …}}`), for BMCs
/// older than the Vendor property (ServiceRoot v1_5_0).
fn oem_vendor(root: &Value) -> Option<String> {
    root.get("Oem")?.as_object()?.keys().next().cloned()
}

/// Writes an inventory stub: one row per BMC found, with its service root's identity in a
/// comment above the row. Hostnames are derived from the address and every role is
/// `gpu-compute`, so both need checking before a scan.
pub fn inventory_stub(found: &[FoundBmc]) -> String {
    let mut csv = String::from(
        "# Written by rackcheck discover. Check every hostname and role, and set rack and position\n\
         # to the rack units the servers occupy, before scanning.\n\
         rack,position,hostname,bmc,role\n",
    );
    for (index, bmc) in found.iter().enumerate() {
        let describe = |value: &Option<String>| value.clone().unwrap_or_else(|| "unknown".to_string());
        let _ = writeln!(
            csv,
            "# {}: vendor {}, product {}, UUID {}, Redfish {}",
            bmc.address,
            describe(&bmc.vendor),
            describe(&bmc.product),
            describe(&bmc.uuid),
            describe(&bmc.redfish_version)
        );
        let hostname = format!("node-{}", bmc.address.host().replace(['.', ':'], "-"));
        let _ = writeln!(csv, "UNSET,{},{hostname},{},gpu-compute", index + 1, bmc.address);
    }
    csv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_expand_to_hosts() {
        let hosts = addresses(&["127.0.1.0/30".to_string(), "127.0.1.1/32".to_string()]).unwrap();
        assert_eq!(hosts.len(), 2);
        assert_eq!(hosts[0].to_string(), "127.0.1.1");
    }

    #[test]
    fn invalid_range_names_the_value() {
        let err = addresses(&["10.0.0.300/24".to_string()]).unwrap_err().to_string();
        assert!(err.contains("`10.0.0.300/24`"), "{err}");
    }

    #[test]
    fn huge_range_is_rejected() {
        assert!(matches!(
            addresses(&["10.0.0.0/8".to_string()]),
            Err(DiscoverError::TooMany { .. })
        ));
    }

    #[test]
    fn stub_loads_as_an_inventory() {
        let found = vec![FoundBmc {
            address: BmcAddress::parse("127.0.1.7:8443").unwrap(),
            vendor: Some("Dell".into()),
            product: Some("Integrated Dell Remote Access Controller".into()),
            uuid: Some("4c4c4544-0000-1010-8000-b2c04f504e32".into()),
            redfish_version: Some("1.17.0".into()),
        }];
        let stub = inventory_stub(&found);
        let inventory = crate::inventory::Inventory::parse(&stub, "stub.csv").unwrap();
        assert_eq!(inventory.nodes.len(), 1);
        assert!(stub.contains("vendor Dell"), "{stub}");
    }
}
