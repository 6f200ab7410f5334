//! NIC ports and their speeds.
//!
//! Ports come from every chassis' NetworkAdapters: `Ports` (Port schema, speed in Gbit/s) or,
//! on older services, `NetworkPorts` (speed in Mbit/s). Only when no adapter lists a port are
//! the host's EthernetInterfaces used instead.

use std::collections::HashSet;

use futures::future;
use serde_json::Value;

use super::json;
use super::walk::{Resource, Walker, last_segment};
use crate::facts::NetworkPort;
use crate::redfish::Fetch;

/// Adapter name given to ports read from the host's EthernetInterfaces.
const ETHERNET_INTERFACES: &str = "EthernetInterfaces";

pub async fn collect<F: Fetch>(walker: &Walker<'_, F>, host: &Value, chassis: &[Resource]) -> Vec<NetworkPort> {
    // Each adapter's Ports collection is read next: its members are two levels below.
    let adapter_lists = future::join_all(
        chassis
            .iter()
            .map(|(_, doc)| walker.linked_members_deep(doc, "/NetworkAdapters", 2)),
    )
    .await;
    let mut seen = HashSet::new();
    let adapters: Vec<Resource> = adapter_lists
        .into_iter()
        .flatten()
        .filter(|(uri, _)| seen.insert(uri.clone()))
        .collect();

    let port_lists = future::join_all(adapters.iter().map(|adapter| adapter_ports(walker, adapter))).await;
    let ports: Vec<NetworkPort> = port_lists.into_iter().flatten().collect();
    if !ports.is_empty() {
        return ports;
    }
    let interfaces = walker.linked_members(host, "/EthernetInterfaces").await;
    interfaces
        .iter()
        .map(|(uri, doc)| ethernet_interface(uri, doc))
        .collect()
}

/// Reads an adapter's `Ports`, and its older `NetworkPorts` where a Port leaves out the speed.
///
/// Supermicro X13 BMCs report `CurrentSpeedGbps: null` in the Port resource while the
/// deprecated NetworkPort of the same Id carries `CurrentLinkSpeedMbps`; the port that states
/// a speed is kept, so the fact cites the resource the speed came from.
async fn adapter_ports<F: Fetch>(walker: &Walker<'_, F>, (adapter_uri, adapter): &Resource) -> Vec<NetworkPort> {
    let adapter_id = json::text(adapter, "/Id").unwrap_or_else(|| last_segment(adapter_uri).to_string());
    let (ports, network_ports) = future::join(
        walker.linked_members(adapter, "/Ports"),
        walker.linked_members(adapter, "/NetworkPorts"),
    )
    .await;
    let older: Vec<NetworkPort> = network_ports
        .iter()
        .map(|(uri, doc)| network_port(uri, doc, &adapter_id))
        .collect();
    if ports.is_empty() {
        return older;
    }
    ports
        .iter()
        .map(|(uri, doc)| {
            let current = port(uri, doc, &adapter_id);
            match older
                .iter()
                .find(|other| other.id == current.id && other.speed_mbps.is_some())
            {
                Some(other) if current.speed_mbps.is_none() => other.clone(),
                _ => current,
            }
        })
        .collect()
}

fn port(uri: &str, doc: &Value, adapter: &str) -> NetworkPort {
    NetworkPort {
        uri: uri.to_string(),
        id: json::text(doc, "/Id").unwrap_or_else(|| last_segment(uri).to_string()),
        adapter: Some(adapter.to_string()),
        link_status: json::text(doc, "/LinkStatus"),
        speed_mbps: json::float(doc, "/CurrentSpeedGbps")
            .filter(|gbps| *gbps >= 0.0)
            .map(|gbps| (gbps * 1000.0).round() as u64),
        mac_addresses: strings(doc, "/Ethernet/AssociatedMACAddresses"),
    }
}

fn network_port(uri: &str, doc: &Value, adapter: &str) -> NetworkPort {
    NetworkPort {
        uri: uri.to_string(),
        id: json::text(doc, "/Id").unwrap_or_else(|| last_segment(uri).to_string()),
        adapter: Some(adapter.to_string()),
        link_status: json::text(doc, "/LinkStatus"),
        speed_mbps: json::unsigned(doc, "/CurrentLinkSpeedMbps"),
        mac_addresses: strings(doc, "/AssociatedNetworkAddresses"),
    }
}

fn ethernet_interface(uri: &str, doc: &Value) -> NetworkPort {
    let mac = json::text(doc, "/MACAddress").or_else(|| json::text(doc, "/PermanentMACAddress"));
    NetworkPort {
        uri: uri.to_string(),
        id: json::text(doc, "/Id").unwrap_or_else(|| last_segment(uri).to_string()),
        adapter: Some(ETHERNET_INTERFACES.to_string()),
        link_status: json::text(doc, "/LinkStatus"),
        speed_mbps: json::unsigned(doc, "/SpeedMbps"),
        mac_addresses: mac.into_iter().collect(),
    }
}

/// Reads an array of strings, skipping nulls and empty entries.
fn strings(doc: &Value, pointer: &str) -> Vec<String> {
    let items = json::at(doc, pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    items
        .iter()
        .filter_map(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}
