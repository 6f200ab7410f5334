//! Network rules: GPU servers have a fast data port with link up, storage servers enough
//! linked bandwidth in total.
//!
//! Only the current link speed counts. A port that reports nothing but its supported speeds
//! states what it could do, not what it does, so it leaves the rule `unknown`.

use super::{Outcome, RuleInfo, Subject};
use crate::facts::NetworkPort;
use crate::inventory::Role;
use crate::policy::{Evidence, Profile, Status};

pub const SPEED: RuleInfo = RuleInfo {
    id: "nic-speed",
    description: "GPU servers have a data port at the minimum speed with link up; storage servers enough linked bandwidth",
    areas: &["/NetworkAdapters", "/Ports", "/NetworkPorts", "/EthernetInterfaces"],
    check: check_speed,
};

fn is_up(port: &NetworkPort) -> bool {
    matches!(port.link_status.as_deref(), Some("LinkUp" | "Up"))
}

fn label(port: &NetworkPort) -> String {
    match &port.adapter {
        Some(adapter) => format!("port {} of adapter {adapter}", port.id),
        None => format!("port {}", port.id),
    }
}

fn check_speed(subject: &Subject, profile: &Profile) -> Outcome {
    let limits = &profile.network;
    let ports = &subject.facts.network_ports;
    let evidence: Vec<Evidence> = ports
        .iter()
        .flat_map(|port| {
            [
                Evidence::optional(&port.uri, "LinkStatus", &port.link_status),
                Evidence::optional(&port.uri, "CurrentSpeedGbps (as Mbit/s)", &port.speed_mbps),
            ]
        })
        .collect();
    let (expected, minimum_mbps) = match subject.role {
        Role::Storage => {
            let text = format!("linked ports adding up to >= {} Gbit/s", limits.storage_total_min_gbps);
            (text, u64::from(limits.storage_total_min_gbps) * 1000)
        }
        _ => {
            let text = format!("a port at >= {} Gbit/s with link up", limits.gpu_port_min_gbps);
            (text, u64::from(limits.gpu_port_min_gbps) * 1000)
        }
    };
    if ports.is_empty() {
        return Outcome::new(Status::Unknown, expected, "no NIC port reported by the BMC");
    }

    let up: Vec<&NetworkPort> = ports.iter().filter(|port| is_up(port)).collect();
    let known: Vec<u64> = up.iter().filter_map(|port| port.speed_mbps).collect();
    let unknown_speed: Vec<String> = up
        .iter()
        .filter(|port| port.speed_mbps.is_none())
        .map(|p| label(p))
        .collect();
    let speeds = if known.is_empty() {
        "no current speed reported".to_string()
    } else {
        let list: Vec<String> = known.iter().map(|mbps| (mbps / 1000).to_string()).collect();
        format!("current speeds {} Gbit/s", list.join(", "))
    };
    let observed_known = format!("{} of {} ports up; {speeds}", up.len(), ports.len());

    let met = match subject.role {
        Role::Storage => known.iter().sum::<u64>() >= minimum_mbps,
        _ => known.iter().any(|mbps| *mbps >= minimum_mbps),
    };
    if met {
        return Outcome::new(Status::Pass, expected, observed_known).with_evidence(evidence);
    }
    if up.is_empty() {
        // Links often come up only when the OS loads the NIC driver.
        let observed = format!("{observed_known}; confirm in-band with `ethtool <interface>`");
        return Outcome::new(Status::Unknown, expected, observed).with_evidence(evidence);
    }
    if !unknown_speed.is_empty() {
        let observed = format!("{observed_known}; no current speed for {}", unknown_speed.join(", "));
        return Outcome::new(Status::Unknown, expected, observed).with_evidence(evidence);
    }
    // NOTE: links are often down before the OS loads the NIC driver, so a failure here is
    // confirmed in-band with ethtool before hardware is touched.
    let observed = format!("{observed_known}; confirm in-band with `ethtool <interface>`");
    Outcome::new(Status::Fail, expected, observed).with_evidence(evidence)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::run_as;
    use crate::facts::{NetworkPort, NodeFacts};
    use crate::inventory::Role;
    use crate::policy::Status;

    fn port(speed_gbps: Option<u64>, status: &str) -> NetworkPort {
        NetworkPort {
            uri: "/redfish/v1/Chassis/1/NetworkAdapters/1/Ports/1".into(),
            id: "1".into(),
            link_status: Some(status.into()),
            speed_mbps: speed_gbps.map(|gbps| gbps * 1000),
            ..NetworkPort::default()
        }
    }

    fn node(ports: Vec<NetworkPort>) -> NodeFacts {
        NodeFacts {
            network_ports: ports,
            ..NodeFacts::default()
        }
    }

    #[test]
    fn gpu_server_with_400g_port_passes() {
        let facts = node(vec![port(Some(1), "LinkUp"), port(Some(400), "LinkUp")]);
        assert_eq!(run_as("nic-speed", &facts, None, Role::GpuCompute).status, Status::Pass);
    }

    #[test]
    fn slow_ports_fail() {
        let facts = node(vec![port(Some(25), "LinkUp"), port(Some(25), "LinkUp")]);
        assert_eq!(run_as("nic-speed", &facts, None, Role::GpuCompute).status, Status::Fail);
    }

    #[test]
    fn fast_port_down_does_not_count() {
        let facts = node(vec![port(Some(25), "LinkUp"), port(Some(400), "LinkDown")]);
        assert_eq!(run_as("nic-speed", &facts, None, Role::GpuCompute).status, Status::Fail);
    }

    #[test]
    fn no_link_up_is_unknown() {
        let facts = node(vec![port(Some(400), "LinkDown")]);
        assert_eq!(
            run_as("nic-speed", &facts, None, Role::GpuCompute).status,
            Status::Unknown
        );
    }

    #[test]
    fn missing_speed_is_unknown() {
        let facts = node(vec![port(None, "LinkUp")]);
        assert_eq!(
            run_as("nic-speed", &facts, None, Role::GpuCompute).status,
            Status::Unknown
        );
    }

    #[test]
    fn storage_adds_linked_ports() {
        let facts = node(vec![port(Some(100), "LinkUp"), port(Some(100), "LinkUp")]);
        assert_eq!(run_as("nic-speed", &facts, None, Role::Storage).status, Status::Pass);
        let short = node(vec![port(Some(100), "LinkUp"), port(Some(25), "LinkUp")]);
        assert_eq!(run_as("nic-speed", &short, None, Role::Storage).status, Status::Fail);
    }
}
