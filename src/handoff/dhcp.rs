//! The DHCP allow list: the provisioning MAC addresses of the nodes handed off, as a dnsmasq
//! `dhcp-host` file and as a plain list.
//!
//! Redfish does not say which port a node PXE boots from, so every MAC address of every NIC
//! port the BMC reported counts as a provisioning MAC. A node that failed the scan has none of
//! its MACs in either file.

use std::fmt::Write as _;

/// The dnsmasq file name inside the hand-off directory.
pub const DNSMASQ_FILE: &str = "dnsmasq-hosts.conf";
/// The plain allow list's file name inside the hand-off directory.
pub const ALLOW_LIST_FILE: &str = "allow-list.txt";

/// A node admitted to DHCP and its provisioning MACs.
#[derive(Debug, Clone, PartialEq)]
pub struct AllowedNode {
    pub hostname: String,
    pub macs: Vec<String>,
}

/// Normalizes a MAC address to lower-case colon form (`aa:bb:cc:dd:ee:ff`). Accepts colons,
/// dashes, Cisco dots or no separators. Returns `None` for anything that is not 6 bytes of
/// hex, and for the all-zero address that marks an unused port.
pub fn normalize_mac(text: &str) -> Option<String> {
    let hex: String = text.trim().chars().filter(|c| !matches!(c, ':' | '-' | '.')).collect();
    if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    if hex.chars().all(|c| c == '0') {
        return None;
    }
    let lower = hex.to_ascii_lowercase();
    let pairs: Vec<&str> = (0..6).map(|i| &lower[i * 2..i * 2 + 2]).collect();
    Some(pairs.join(":"))
}

/// True when dnsmasq accepts `hostname` as a `dhcp-host` name: letters, digits, `-` and `.`.
fn is_dnsmasq_hostname(hostname: &str) -> bool {
    !hostname.is_empty()
        && hostname
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

/// Renders the dnsmasq file: one `dhcp-host=<mac>,<hostname>` line per MAC. A hostname that
/// dnsmasq would reject is left out of the line and named in a comment above it.
pub fn render_dnsmasq(nodes: &[AllowedNode]) -> String {
    let mut text = String::from(
        "# Written by rackcheck: nodes that passed the out-of-band scan.\n\
         # Load with `conf-file=<this file>`; add `dhcp-ignore=tag:!known` so that hosts not\n\
         # listed here get no lease.\n",
    );
    for node in nodes {
        let valid = is_dnsmasq_hostname(&node.hostname);
        if !valid {
            let _ = writeln!(
                text,
                "# {}: hostname is not a valid DNS name, so it is left out",
                node.hostname
            );
        }
        for mac in &node.macs {
            if valid {
                let _ = writeln!(text, "dhcp-host={mac},{}", node.hostname);
            } else {
                let _ = writeln!(text, "dhcp-host={mac}");
            }
        }
    }
    text
}

/// Renders the plain allow list: a comment header, then one MAC per line.
pub fn render_allow_list(nodes: &[AllowedNode]) -> String {
    let mut text = String::from(
        "# Written by rackcheck: provisioning MAC addresses of the nodes that passed the\n\
         # out-of-band scan, one per line, lower-case.\n",
    );
    for mac in nodes.iter().flat_map(|node| &node.macs) {
        text.push_str(mac);
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_forms_normalize() {
        assert_eq!(normalize_mac("AA:BB:CC:DD:EE:0F").as_deref(), Some("aa:bb:cc:dd:ee:0f"));
        assert_eq!(normalize_mac("aa-bb-cc-dd-ee-0f").as_deref(), Some("aa:bb:cc:dd:ee:0f"));
        assert_eq!(normalize_mac("aabb.ccdd.ee0f").as_deref(), Some("aa:bb:cc:dd:ee:0f"));
        assert_eq!(normalize_mac("00:00:00:00:00:00"), None);
        assert_eq!(normalize_mac("not a mac"), None);
        assert_eq!(normalize_mac("aa:bb:cc:dd:ee"), None);
    }

    #[test]
    fn dnsmasq_drops_invalid_hostname() {
        let nodes = vec![AllowedNode {
            hostname: "gpu 1".to_string(),
            macs: vec!["aa:bb:cc:dd:ee:ff".to_string()],
        }];
        let text = render_dnsmasq(&nodes);
        assert!(text.contains("\ndhcp-host=aa:bb:cc:dd:ee:ff\n"));
        assert!(!text.contains(",gpu 1"));
    }
}
