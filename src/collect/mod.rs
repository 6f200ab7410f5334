//! Redfish tree walk that turns a node's resources into [`crate::facts::NodeFacts`].
//!
//! [`collect`] reads the service root, chooses the host among the ComputerSystems
//! ([`system`]), then reads every part of the node concurrently: one module per kind of fact.
//! All GETs go through a [`walk::Walker`], which requests each URI once and turns a
//! resource that cannot be read into a [`crate::facts::Problem`] instead of an error.

mod bios;
mod firmware;
mod gpus;
mod json;
mod memory;
mod network;
mod power;
pub mod power_on;
mod processors;
mod storage;
mod system;
mod walk;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use futures::future;
use serde_json::Value;

use crate::facts::NodeFacts;
use crate::redfish::{Fetch, RedfishError};
use walk::{Resource, Walker};

/// The service root, the first GET of every collect.
const SERVICE_ROOT: &str = "/redfish/v1";

/// A failure that leaves nothing to judge on the node. Anything less becomes a
/// [`crate::facts::Problem`] in the facts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CollectError {
    #[error("failed to read the service root {SERVICE_ROOT}")]
    ServiceRoot {
        #[source]
        source: Arc<RedfishError>,
    },

    #[error("the service root {SERVICE_ROOT} has no Systems link")]
    NoSystemsLink,

    #[error("failed to read the Systems collection {uri}")]
    Systems {
        uri: String,
        #[source]
        source: Arc<RedfishError>,
    },

    /// No member is a ComputerSystem that can be the host (all failed, none is a system, or all
    /// are `HGX_*` baseboards).
    #[error("no host ComputerSystem among the members of {uri}: {}", list_or_none(.members))]
    NoHost { uri: String, members: Vec<String> },

    /// The inventory names a system the BMC does not list.
    #[error("system `{requested}` is not among the members of {uri}; systems found: {}", list_or_none(.available))]
    SystemNotFound {
        requested: String,
        uri: String,
        available: Vec<String>,
    },
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

impl CollectError {
    /// Returns the Redfish error behind this failure, when a request caused it.
    pub fn redfish_error(&self) -> Option<&RedfishError> {
        match self {
            CollectError::ServiceRoot { source } | CollectError::Systems { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Collects the facts of one node through `fetch`.
///
/// `system` is the inventory's ComputerSystem Id, matched against `Id` or the last segment of
/// the member URI. Without it the host is chosen as [`system`] describes. Returns an error
/// only when the node cannot be judged at all; see [`CollectError`].
pub async fn collect<F: Fetch>(fetch: &F, system: Option<&str>) -> Result<NodeFacts, CollectError> {
    collect_with(&Walker::new(fetch), system).await
}

/// Collects as [`collect`] does, until `end`. When the reads are not done by then, the node
/// is judged on what was read: each read still in progress or never sent becomes a problem
/// naming the deadline, so the rules that needed it are `unknown`. Returns the facts and
/// whether the deadline cut the reads short.
pub async fn collect_until<F: Fetch>(
    fetch: &F,
    system: Option<&str>,
    end: tokio::time::Instant,
    deadline: std::time::Duration,
    bmc: &str,
) -> Result<(NodeFacts, bool), CollectError> {
    let walker = Walker::new(fetch);
    if let Ok(collected) = tokio::time::timeout_at(end, collect_with(&walker, system)).await {
        return collected.map(|facts| (facts, false));
    }

    // The same walk again, over what was read. It requests the same resources in the same
    // order of dependence, and gets the deadline error for those that were not read.
    let late = AfterDeadline { bmc, deadline };
    let facts = collect_with(&walker.finished_reads(&late), system).await?;
    Ok((facts, true))
}

/// Fails every read with [`RedfishError::NodeDeadline`].
struct AfterDeadline<'a> {
    bmc: &'a str,
    deadline: std::time::Duration,
}

impl Fetch for AfterDeadline<'_> {
    async fn get(&self, path: &str) -> Result<Value, RedfishError> {
        Err(RedfishError::NodeDeadline {
            bmc: self.bmc.to_string(),
            uri: path.to_string(),
            deadline: self.deadline,
        })
    }
}

async fn collect_with<F: Fetch>(walker: &Walker<'_, F>, system: Option<&str>) -> Result<NodeFacts, CollectError> {
    let root = match walker.try_get(SERVICE_ROOT).await {
        Some(Ok(root)) => root,
        Some(Err(source)) => return Err(CollectError::ServiceRoot { source }),
        None => unreachable!("the service root is inside /redfish/v1"),
    };
    walker.use_expand(&root);

    let (choice, chassis) = future::join(system::choose_host(walker, &root, system), chassis(walker, &root)).await;
    let choice = choice?;
    let mut facts = collect_parts(walker, &root, &choice, &chassis).await;
    // Reads fail in an order that varies from scan to scan; sorted by URI, the same BMC
    // gives the same facts, and findings that name the first unread resource agree.
    facts.problems = walker.take_problems();
    facts.problems.sort_by(|a, b| a.uri.cmp(&b.uri));
    Ok(facts)
}

async fn chassis<F: Fetch>(walker: &Walker<'_, F>, root: &Value) -> Vec<Resource> {
    walker.linked_members(root, "/Chassis").await
}

/// Reads every part of the node concurrently.
async fn collect_parts<F: Fetch>(
    walker: &Walker<'_, F>,
    root: &Value,
    choice: &system::HostChoice,
    chassis: &[Resource],
) -> NodeFacts {
    let host = &choice.host.1;
    let mut processor_groups: Vec<(&Resource, &[Resource])> = vec![(&choice.host, &choice.host_processors)];
    processor_groups.extend(
        choice
            .gpu_providers
            .iter()
            .map(|(system, processors)| (system, processors.as_slice())),
    );

    // Each part is turned into facts as soon as it is read, so that its bodies are freed
    // while the slower parts are still being read.
    let memory = async { memory::dimms(&walker.linked_members(host, "/Memory").await) };
    let gpus = gpus::collect(walker, &choice.host, &processor_groups, chassis);
    let storage = storage::collect(walker, host, chassis);
    let power = power::collect(walker, host, chassis);
    let bios = bios::collect(walker, host, root);
    let managers = firmware::managers(walker, root);
    let firmware = firmware::inventory(walker, root);
    let network = network::collect(walker, host, chassis);

    let ((memory, gpus, (drives, empty_bays, volumes), power), (bios, managers, firmware, network_ports)) =
        future::join(
            future::join4(memory, gpus, storage, power),
            future::join4(bios, managers, firmware, network),
        )
        .await;

    NodeFacts {
        system: system::system_info(choice),
        cpus: processors::cpus(&choice.host_processors),
        gpus,
        dimms: memory,
        drives,
        empty_bays,
        volumes,
        power,
        bios,
        managers,
        firmware,
        network_ports,
        problems: Vec::new(),
    }
}
