//! Redfish over HTTPS: sessions, TLS policy, paging and the errors a BMC can cause.
//!
//! Key types: [`Fetch`], the one operation the collector needs, so that a live BMC and a
//! stored capture look the same to it; [`RedfishError`], every way a request can fail.

mod error;

pub use error::RedfishError;

use std::future::Future;

use serde_json::Value;

/// Reads one Redfish resource by its path.
///
/// Paths are absolute on the BMC (`/redfish/v1/Systems/1`). Implementations return the parsed
/// JSON body of a successful GET, and a [`RedfishError`] naming the path otherwise.
pub trait Fetch: Sync {
    fn get(&self, path: &str) -> impl Future<Output = Result<Value, RedfishError>> + Send;
}
