//! Response bodies rendered once per mockup and shared by every BMC that serves it unchanged.
//!
//! A generated rack has a thousand BMCs serving one mockup, and a scan requests the same
//! URIs from each of them. A body (paging, `$expand`, serialization and its ETag) is
//! rendered once per URI and query instead of once per request. The mock's CPU cost per
//! request is then mostly HTTP and TLS, so a benchmark measures the scanner, not the mock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;

use super::response::etag_of;
use super::view::QueryOptions;

/// A serialized body and its ETag.
#[derive(Debug)]
pub(crate) struct Rendered {
    pub text: Bytes,
    pub etag: String,
}

impl Rendered {
    pub fn new(body: &serde_json::Value) -> Rendered {
        let text = body.to_string();
        Rendered {
            etag: etag_of(&text),
            text: Bytes::from(text),
        }
    }
}

/// What a rendered body depends on besides the mockup: the stored URI, the query options and
/// the parts of a BMC's config that change what it serves.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct RenderKey {
    pub uri: String,
    pub options: QueryOptions,
    pub expand: bool,
    pub sessions: bool,
    pub page_size: Option<usize>,
}

/// Rendered bodies of one mockup. A clone starts empty, because a cloned mockup is about to
/// be changed (a scenario applied to a copy).
#[derive(Debug, Default)]
pub(crate) struct RenderCache {
    bodies: Mutex<HashMap<RenderKey, Arc<Rendered>>>,
}

impl Clone for RenderCache {
    fn clone(&self) -> RenderCache {
        RenderCache::default()
    }
}

impl RenderCache {
    /// Returns the body cached under `key`, rendering it with `render` on the first request.
    pub fn get_or_render(&self, key: RenderKey, render: impl FnOnce() -> serde_json::Value) -> Arc<Rendered> {
        if let Some(hit) = self.lock().get(&key) {
            return hit.clone();
        }
        // Rendered outside the lock: two BMCs that miss at once both render, and the first
        // one stored wins. Both bodies are the same.
        let rendered = Arc::new(Rendered::new(&render()));
        self.lock().entry(key).or_insert(rendered).clone()
    }

    /// Drops every cached body, after the mockup changed.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RenderKey, Arc<Rendered>>> {
        self.bodies.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
