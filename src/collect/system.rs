//! Choosing the host among the BMC's ComputerSystem members.
//!
//! A BMC may list the host next to an HGX baseboard (`HGX_Baseboard_0`, a GPU provider
//! whose `MemorySummary` is GPU HBM, not host RAM), several nodes of one blade, or a member
//! that is not a ComputerSystem at all. The host is the inventory's system when it names one,
//! else the first member with CPU processors.

use std::sync::Arc;

use futures::future;
use serde_json::Value;

use super::CollectError;
use super::json;
use super::processors::{is_cpu, is_gpu};
use super::walk::{OUTSIDE_LINK, Resource, Walker, last_segment};
use crate::facts::SystemInfo;
use crate::redfish::Fetch;

/// The host system and the systems whose GPUs belong to it.
pub struct HostChoice {
    pub host: Resource,
    pub host_processors: Vec<Resource>,
    /// HGX baseboards and other GPU-only systems, each with its processors.
    pub gpu_providers: Vec<(Resource, Vec<Resource>)>,
    /// URIs of every ComputerSystem member other than the host.
    pub other_systems: Vec<String>,
}

/// A ComputerSystem member with its processors, classified.
struct Candidate {
    system: Resource,
    processors: Vec<Resource>,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Has at least one CPU processor.
    CpuHost,
    /// An `HGX_*` system, or one whose processors are GPUs and no CPUs.
    GpuProvider,
    /// Lists no processors at all (sparse BMCs such as stock OpenBMC).
    Unknown,
}

/// Reads the Systems collection and chooses the host, or `requested` when the inventory names
/// a system by its `Id` or the last segment of its URI.
pub async fn choose_host<F: Fetch>(
    walker: &Walker<'_, F>,
    root: &Value,
    requested: Option<&str>,
) -> Result<HostChoice, CollectError> {
    let collection = json::link(root, "/Systems").ok_or(CollectError::NoSystemsLink)?;
    let members: Vec<String> = match walker.try_members(&collection).await {
        Some(Ok(members)) => members.into_iter().map(|(uri, _)| uri).collect(),
        Some(Err(source)) => {
            return Err(CollectError::Systems {
                uri: collection,
                source,
            });
        }
        None => {
            walker.problem(&collection, OUTSIDE_LINK);
            Vec::new()
        }
    };
    let systems: Vec<Resource> = walker
        .get_all(&members)
        .await
        .into_iter()
        .filter(|(_, doc)| is_computer_system(doc))
        .collect();
    let candidates = future::join_all(systems.into_iter().map(|system| classify(walker, system))).await;

    let host_index = match requested {
        Some(wanted) => find_requested(&candidates, wanted).ok_or_else(|| CollectError::SystemNotFound {
            requested: wanted.to_string(),
            uri: collection.clone(),
            available: candidates.iter().map(|c| system_id(&c.system)).collect(),
        })?,
        None => match default_host(&candidates) {
            Some(index) => index,
            None => {
                // Name why each member could not be the host: a member that failed to read
                // is the usual cause, and its error is the one a technician needs.
                let mut described = Vec::new();
                for member in &members {
                    let reason = match walker.try_get(member).await {
                        Some(Err(err)) => format!("{member} ({err})"),
                        _ => member.clone(),
                    };
                    described.push(reason);
                }
                return Err(CollectError::NoHost {
                    uri: collection.clone(),
                    members: described,
                });
            }
        },
    };
    Ok(split_choice(candidates, host_index))
}

async fn classify<F: Fetch>(walker: &Walker<'_, F>, system: Resource) -> Candidate {
    let processors = walker.linked_members(&system.1, "/Processors").await;
    let has_cpu = processors.iter().any(|(_, doc)| is_cpu(doc));
    let has_gpu = processors.iter().any(|(_, doc)| is_gpu(doc));
    let kind = if system_id(&system).to_ascii_uppercase().starts_with("HGX_") {
        Kind::GpuProvider
    } else if has_cpu {
        Kind::CpuHost
    } else if has_gpu {
        Kind::GpuProvider
    } else {
        Kind::Unknown
    };
    Candidate {
        system,
        processors,
        kind,
    }
}

/// True unless `@odata.type` names another resource type: Gigabyte's AMI BMC lists a
/// `Capabilities` object among its systems.
fn is_computer_system(doc: &Value) -> bool {
    match json::text(doc, "/@odata.type") {
        Some(odata_type) => odata_type.contains("ComputerSystem.") && !odata_type.contains("Collection"),
        None => doc.get("Members").is_none(),
    }
}

fn system_id((uri, doc): &Resource) -> String {
    json::text(doc, "/Id").unwrap_or_else(|| last_segment(uri).to_string())
}

fn find_requested(candidates: &[Candidate], wanted: &str) -> Option<usize> {
    candidates.iter().position(|candidate| {
        let (uri, _) = &candidate.system;
        system_id(&candidate.system) == wanted || last_segment(uri) == wanted
    })
}

/// Picks the first system with CPUs, else the first that is not an `HGX_*` baseboard and
/// lists no processors, else the first that is not an `HGX_*` baseboard.
///
/// NVIDIA GB300 trays list only GPUs under `System_0`, so the last fallback picks it.
fn default_host(candidates: &[Candidate]) -> Option<usize> {
    let not_hgx = |c: &&Candidate| !system_id(&c.system).to_ascii_uppercase().starts_with("HGX_");
    candidates
        .iter()
        .position(|c| c.kind == Kind::CpuHost)
        .or_else(|| candidates.iter().position(|c| c.kind == Kind::Unknown && not_hgx(&c)))
        .or_else(|| candidates.iter().position(|c| not_hgx(&c)))
}

fn split_choice(candidates: Vec<Candidate>, host_index: usize) -> HostChoice {
    let mut host = None;
    let mut gpu_providers = Vec::new();
    let mut other_systems = Vec::new();
    for (index, candidate) in candidates.into_iter().enumerate() {
        if index == host_index {
            host = Some((candidate.system, candidate.processors));
            continue;
        }
        other_systems.push(candidate.system.0.clone());
        if candidate.kind == Kind::GpuProvider {
            gpu_providers.push((candidate.system, candidate.processors));
        }
    }
    let (host, host_processors) = host.expect("host index is within the candidates");
    HostChoice {
        host,
        host_processors,
        gpu_providers,
        other_systems,
    }
}

/// Builds the system facts from the host's ComputerSystem resource.
pub fn system_info(choice: &HostChoice) -> SystemInfo {
    let (uri, doc): &(String, Arc<Value>) = &choice.host;
    SystemInfo {
        uri: uri.clone(),
        id: system_id(&choice.host),
        manufacturer: json::text(doc, "/Manufacturer"),
        model: json::text(doc, "/Model"),
        serial_number: json::text(doc, "/SerialNumber"),
        uuid: json::text(doc, "/UUID"),
        power_state: json::text(doc, "/PowerState"),
        boot_progress: json::text(doc, "/BootProgress/LastState"),
        bios_version: json::text(doc, "/BiosVersion"),
        other_systems: choice.other_systems.clone(),
    }
}
