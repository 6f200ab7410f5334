//! The collector's view of a BMC: a [`Fetch`] with a per-collect cache and a problem list.
//!
//! Every GET of one collect goes through [`Walker`], so a URI linked from several places is
//! requested once, even when two sections ask for it at the same time. A resource that cannot
//! be read becomes a [`Problem`] and the walk goes on without it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use futures::future::{self, BoxFuture, FutureExt, Shared};
use serde_json::Value;

use crate::facts::Problem;
use crate::redfish::{Fetch, RedfishError, canonical_path};

type Response = Result<Arc<Value>, Arc<RedfishError>>;

/// Stops paging after this many pages. A next link back to a visited page stops it sooner.
const MAX_PAGES: usize = 1000;

/// A fetched resource: its normalized URI and its JSON body.
pub type Resource = (String, Arc<Value>);

pub struct Walker<'a, F> {
    fetch: &'a F,
    /// One shared request per normalized URI, so concurrent readers wait on the same GET.
    cache: Mutex<HashMap<String, Shared<BoxFuture<'a, Response>>>>,
    problems: Mutex<Vec<Problem>>,
}

impl<'a, F: Fetch> Walker<'a, F> {
    pub fn new(fetch: &'a F) -> Self {
        Walker {
            fetch,
            cache: Mutex::default(),
            problems: Mutex::default(),
        }
    }

    /// Fetches a resource once per collect, returning the cached response on later calls.
    ///
    /// Links outside `/redfish/v1` are not followed and return `None` without a request.
    pub async fn try_get(&self, uri: &str) -> Option<Response> {
        let key = normalize(uri)?;
        let request = {
            let mut cache = self.cache.lock().expect("walker cache lock poisoned");
            cache
                .entry(key.clone())
                .or_insert_with(|| {
                    let fetch = self.fetch;
                    async move { fetch.get(&key).await.map(Arc::new).map_err(Arc::new) }
                        .boxed()
                        .shared()
                })
                .clone()
        };
        Some(request.await)
    }

    /// Fetches a resource, recording a problem when it cannot be read.
    pub async fn get(&self, uri: &str) -> Option<Arc<Value>> {
        match self.try_get(uri).await {
            Some(Ok(doc)) => Some(doc),
            Some(Err(err)) => {
                self.problem(uri, err.to_string());
                None
            }
            None => {
                self.problem(uri, "link outside /redfish/v1 not followed");
                None
            }
        }
    }

    /// Fetches several resources concurrently, keeping the order of `uris` and dropping the
    /// ones that failed (each recorded as a problem).
    pub async fn get_all(&self, uris: &[String]) -> Vec<Resource> {
        let docs = future::join_all(uris.iter().map(|uri| self.get(uri))).await;
        uris.iter()
            .zip(docs)
            .filter_map(|(uri, doc)| Some((normalize(uri).unwrap_or_else(|| uri.clone()), doc?)))
            .collect()
    }

    /// Lists the member links of a collection, following `Members@odata.nextLink`.
    ///
    /// Members the BMC expanded inline (`$expand` or Delta power shelves) are returned with
    /// their body, so they are not fetched again.
    pub async fn members(&self, collection: &str) -> Vec<(String, Option<Value>)> {
        let mut members = Vec::new();
        let mut visited = HashSet::new();
        let mut next = Some(collection.to_string());
        for _ in 0..MAX_PAGES {
            let Some(page_uri) = next.take() else { break };
            if !visited.insert(normalize(&page_uri)) {
                break;
            }
            let Some(page) = self.get(&page_uri).await else { break };
            for member in page.get("Members").and_then(Value::as_array).into_iter().flatten() {
                let Some(uri) = member.get("@odata.id").and_then(Value::as_str) else {
                    continue;
                };
                let expanded = member.get("Id").is_some();
                members.push((uri.to_string(), expanded.then(|| member.clone())));
            }
            next = page
                .get("Members@odata.nextLink")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        members
    }

    /// Fetches every member of a collection concurrently, in collection order.
    pub async fn member_docs(&self, collection: &str) -> Vec<Resource> {
        let members = self.members(collection).await;
        let docs = future::join_all(members.into_iter().map(|(uri, expanded)| async move {
            let doc = match expanded {
                Some(doc) => Some(Arc::new(doc)),
                None => self.get(&uri).await,
            };
            Some((normalize(&uri).unwrap_or(uri), doc?))
        }))
        .await;
        docs.into_iter().flatten().collect()
    }

    /// Fetches the members of the collection linked at `pointer` in `doc`, if it links one.
    pub async fn linked_members(&self, doc: &Value, pointer: &str) -> Vec<Resource> {
        match super::json::link(doc, pointer) {
            Some(collection) => self.member_docs(&collection).await,
            None => Vec::new(),
        }
    }

    pub fn problem(&self, uri: &str, message: impl Into<String>) {
        let problem = Problem {
            uri: uri.to_string(),
            message: message.into(),
        };
        self.problems
            .lock()
            .expect("walker problem lock poisoned")
            .push(problem);
    }

    pub fn into_problems(self) -> Vec<Problem> {
        self.problems.into_inner().expect("walker problem lock poisoned")
    }
}

/// Normalizes a link for caching and for the facts with [`canonical_path`]: no fragment,
/// no duplicate or trailing slash, the query kept. Returns `None` for a link outside
/// `/redfish/v1`, including absolute URLs, which the collector does not follow.
pub fn normalize(uri: &str) -> Option<String> {
    let canonical = canonical_path(uri)?;
    let path = canonical.split('?').next().unwrap_or("");
    let inside = path == "/redfish/v1" || path.starts_with("/redfish/v1/");
    inside.then_some(canonical)
}

/// Returns the last path segment of a URI (`/redfish/v1/Systems/1/` → `1`).
pub fn last_segment(uri: &str) -> &str {
    uri.trim_end_matches('/').rsplit('/').next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_strips_slash_and_fragment() {
        assert_eq!(
            normalize("/redfish/v1/Systems/1/").as_deref(),
            Some("/redfish/v1/Systems/1")
        );
        assert_eq!(
            normalize("/redfish/v1/Chassis/1/Power#/PowerSupplies/0").as_deref(),
            Some("/redfish/v1/Chassis/1/Power")
        );
        assert_eq!(normalize("/redfish/v1/").as_deref(), Some("/redfish/v1"));
    }

    #[test]
    fn normalize_collapses_duplicate_slashes() {
        assert_eq!(
            normalize("/redfish//v1///Systems/1//").as_deref(),
            Some("/redfish/v1/Systems/1")
        );
        assert_eq!(normalize("//127.0.0.2/redfish/v1"), None);
    }

    #[test]
    fn normalize_keeps_page_query() {
        assert_eq!(
            normalize("/redfish/v1/Systems/1/Memory/?$skip=2").as_deref(),
            Some("/redfish/v1/Systems/1/Memory?$skip=2")
        );
    }

    #[test]
    fn normalize_rejects_outside_links() {
        assert_eq!(normalize("https://example.com/redfish/v1/Systems"), None);
        assert_eq!(normalize("/redfish/v2/Systems"), None);
        assert_eq!(normalize("/redfish/v1/../etc"), None);
        assert_eq!(normalize("/redfish/v10"), None);
    }

    #[test]
    fn last_segment_ignores_trailing_slash() {
        assert_eq!(last_segment("/redfish/v1/Systems/1/"), "1");
        assert_eq!(last_segment("/redfish/v1/Systems/HGX_Baseboard_0"), "HGX_Baseboard_0");
    }
}
