//! Redfish over HTTPS: sessions, TLS policy, paging and the errors a BMC can cause.
//!
//! Key types: [`Fetch`], the one operation the collector needs, so that a live BMC and a
//! stored capture look the same to it; [`RedfishError`], every way a request can fail.

mod capture;
mod client;
mod connection;
mod error;
mod session;
mod tls;

pub use capture::CaptureDir;
pub use client::{ClientError, ClientOptions, RedfishClient};
pub use error::RedfishError;
pub use session::{AuthKind, Session};
pub use tls::TlsConfigError;

use std::future::Future;

use serde_json::Value;

/// Reads one Redfish resource by its path.
///
/// Paths are absolute on the BMC (`/redfish/v1/Systems/1`). Implementations return the parsed
/// JSON body of a successful GET, and a [`RedfishError`] naming the path otherwise.
pub trait Fetch: Sync {
    fn get(&self, path: &str) -> impl Future<Output = Result<Value, RedfishError>> + Send;
}

/// Parses a JSON body, returning the byte offset and message of the first error.
///
/// A UTF-8 byte-order mark is skipped: several BMC firmwares prepend one.
pub fn parse_json(bytes: &[u8]) -> Result<Value, (usize, String)> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    serde_json::from_slice(body).map_err(|err| (byte_offset(body, err.line(), err.column()), err.to_string()))
}

/// Converts serde_json's 1-based line and column into a byte offset into `body`.
fn byte_offset(body: &[u8], line: usize, column: usize) -> usize {
    let line_start: usize = body
        .split(|&b| b == b'\n')
        .take(line.saturating_sub(1))
        .map(|l| l.len() + 1)
        .sum();
    line_start + column.saturating_sub(1)
}

/// Lists the `@odata.id` of every member of a collection, following `Members@odata.nextLink`.
///
/// Paging stops after `MAX_PAGES` pages so a BMC whose next link points back at an earlier
/// page cannot loop forever.
pub async fn members<F: Fetch>(fetch: &F, collection: &str) -> Result<Vec<String>, RedfishError> {
    const MAX_PAGES: usize = 1000;

    let mut ids = Vec::new();
    let mut next = Some(collection.to_string());
    let mut pages = 0;
    while let Some(page_uri) = next.take() {
        let page = fetch.get(&page_uri).await?;
        if let Some(list) = page.get("Members").and_then(Value::as_array) {
            ids.extend(list.iter().filter_map(odata_id));
        }
        pages += 1;
        if pages < MAX_PAGES {
            next = page
                .get("Members@odata.nextLink")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
    }
    Ok(ids)
}

/// Returns the `@odata.id` of a link object (`{"@odata.id": "/redfish/v1/..."}`).
pub fn odata_id(link: &Value) -> Option<String> {
    link.get("@odata.id").and_then(Value::as_str).map(str::to_string)
}
