//! The `--allow-net` list: the networks BMCs may be in. Credentials are never sent to an
//! address outside it.
//!
//! Enforced twice: [`AllowedNets::check`] resolves the BMC before login and rejects it with
//! a clear error, and [`AllowedNets`] as reqwest's DNS resolver drops outside addresses at
//! connect time, so a name that resolves differently the second time cannot slip through.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::RedfishError;
use crate::inventory::BmcAddress;

/// Networks that BMCs may be in; empty allows every address.
#[derive(Debug, Clone, Default)]
pub(crate) struct AllowedNets(Arc<Vec<IpNet>>);

impl AllowedNets {
    pub(crate) fn new(nets: Vec<IpNet>) -> AllowedNets {
        AllowedNets(Arc::new(nets))
    }

    pub(crate) fn is_restricted(&self) -> bool {
        !self.0.is_empty()
    }

    fn allows(&self, ip: IpAddr) -> bool {
        self.0.is_empty() || self.0.iter().any(|net| net.contains(&ip))
    }

    /// Resolves the BMC's host and rejects it unless every address is in an allowed network.
    pub(crate) async fn check(&self, bmc: &BmcAddress) -> Result<(), RedfishError> {
        if !self.is_restricted() {
            return Ok(());
        }
        let addresses: Vec<IpAddr> = match bmc.host().parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => tokio::net::lookup_host((bmc.host(), bmc.port()))
                .await
                .map_err(|err| RedfishError::Connect {
                    bmc: bmc.to_string(),
                    cause: format!("failed to resolve `{}`: {err}", bmc.host()),
                })?
                .map(|address| address.ip())
                .collect(),
        };
        if !addresses.is_empty() && addresses.iter().all(|ip| self.allows(*ip)) {
            return Ok(());
        }
        Err(RedfishError::NotAllowed {
            bmc: bmc.to_string(),
            addresses: join(&addresses),
            allowed: join(&self.0),
        })
    }
}

fn join<T: ToString>(items: &[T]) -> String {
    if items.is_empty() {
        return "no address".to_string();
    }
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

impl Resolve for AllowedNets {
    fn resolve(&self, name: Name) -> Resolving {
        let nets = self.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|address| nets.allows(address.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(format!("every address of `{host}` is outside --allow-net").into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}
