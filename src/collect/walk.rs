//! The collector's view of a BMC: a [`Fetch`] with a per-collect cache and a problem list.
//!
//! Every GET of one collect goes through [`Walker`], so a URI linked from several places is
//! requested once, even when two sections ask for it at the same time. A resource that cannot
//! be read becomes a [`Problem`] and the walk goes on without it.
//!
//! The cache keeps each body as compact JSON text, and the parsed body only while a reader
//! still uses it (see [`CachedBody`]). A parsed body takes about seven times the memory of
//! its text, and most resources are read once, so a node in progress keeps its text rather
//! than its whole parsed tree.
//!
//! Where the service root advertises `$expand`, collections are read with their members
//! inline (see [`Walker::use_expand`]). Inline members that look complete are stored in the
//! cache under their own URI, so no later GET repeats them. A collection whose expanded
//! request fails is read again without `$expand`, and members that the expanded response
//! shows incomplete are fetched one by one.
//!
//! A part that reads what lies below each member (a Storage's drives, a PCIe device's
//! functions) requests it with [`Walker::member_docs_deep`]. Where the service inlines
//! enough `$levels`, the collection is read with them. Where it inlines one level only, each
//! member is read with its subordinate resources inline. Either way the resources found
//! inline are cached under their own URI (see [`harvest`]).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use futures::future::{self, BoxFuture, FutureExt, Shared};
use serde_json::Value;

use crate::facts::{DEFECT_PREFIX, Problem};
use crate::redfish::{Fetch, NOT_SUBORDINATE, RedfishError, canonical_path, inline_resource_uri};

type Response = Result<Arc<Value>, Arc<RedfishError>>;

/// The cache's entry for one URI once its request has finished.
type Stored = Result<Arc<CachedBody>, Arc<RedfishError>>;

/// Stops paging after this many pages. A next link back to a visited page stops it sooner.
const MAX_PAGES: usize = 1000;

/// Properties that every Redfish resource has (`@odata.id`, `@odata.type`, `Id`): an inline
/// member without one of them is a reference or a partial copy, and is fetched.
const REQUIRED_PROPERTIES: &[&str] = &["@odata.id", "@odata.type", "Id"];

/// Properties that nearly every resource in a collection the collector reads has. An expanded
/// member without one of them is compared once with a plain GET of the same member.
const EXPECTED_PROPERTIES: &[&str] = &["Name", "Status"];

/// A fetched resource: its normalized URI and its JSON body.
pub type Resource = (String, Arc<Value>);

/// A collection member: its link, and its body when the collection page carried it inline.
pub type Member = (String, Option<Arc<Value>>);

pub struct Walker<'a, F> {
    fetch: &'a F,
    /// One shared request per normalized URI, so concurrent readers wait on the same GET.
    cache: Mutex<HashMap<String, Shared<BoxFuture<'a, Stored>>>>,
    problems: Mutex<Vec<Problem>>,
    /// The `$expand` support that the service root advertises, set once. It is `None` when
    /// the service advertises no form that the walker can use.
    expand: OnceLock<Option<ExpandSupport>>,
    /// Set when an expanded member lacked a property that a plain GET of it returned. Later
    /// collections are then read without `$expand`.
    expand_lossy: AtomicBool,
}

impl<'a, F: Fetch> Walker<'a, F> {
    pub fn new(fetch: &'a F) -> Self {
        Walker {
            fetch,
            cache: Mutex::default(),
            problems: Mutex::default(),
            expand: OnceLock::new(),
            expand_lossy: AtomicBool::new(false),
        }
    }

    /// Reads collections with `$expand` from now on, when the service root `root` advertises a
    /// form of it that the walker can use (see [`expand_query`]). Only the first call counts.
    pub fn use_expand(&self, root: &Value) {
        let support = ExpandSupport::from_root(root);
        if let Some(support) = &support {
            tracing::debug!(
                query = support.members,
                subordinate_levels = support.subordinate_levels,
                "reading collections with $expand"
            );
        }
        let _ = self.expand.set(support);
    }

    fn support(&self) -> Option<ExpandSupport> {
        if self.expand_lossy.load(Ordering::Relaxed) {
            return None;
        }
        self.expand.get().copied().flatten()
    }

    fn expand_query(&self) -> Option<&'static str> {
        self.support().map(|support| support.members)
    }

    /// Returns the query that inlines `levels` levels of subordinate resources (`.`), when
    /// the service allows that many.
    fn subordinate_query(&self, levels: u32) -> Option<String> {
        let support = self.support()?;
        if levels == 0 || levels > support.subordinate_levels {
            return None;
        }
        if support.levels_option {
            Some(format!("$expand=.($levels={levels})"))
        } else {
            Some("$expand=.".to_string())
        }
    }

    /// Returns the finished response cached for `uri`, without waiting for one in flight.
    fn cached(&self, uri: &str) -> Option<Arc<Value>> {
        let key = normalize(uri)?;
        let cache = self.cache.lock().expect("walker cache lock poisoned");
        match cache.get(&key)?.peek()? {
            Ok(body) => Some(body.value()),
            Err(_) => None,
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
                    async move {
                        let (doc, text) = fetch.get_text(&key).await.map_err(Arc::new)?;
                        Ok(Arc::new(CachedBody::fetched(doc, text)))
                    }
                    .boxed()
                    .shared()
                })
                .clone()
        };
        Some(request.await.map(|kept| kept.value()))
    }

    /// Stores `doc` as the response for `uri` unless the URI is already cached, so a later
    /// read of an inline member sends no request. Returns whether `doc` was stored.
    fn remember(&self, uri: &str, doc: &Arc<Value>) -> bool {
        let Some(key) = normalize(uri) else { return false };
        let mut cache = self.cache.lock().expect("walker cache lock poisoned");
        if cache.contains_key(&key) {
            return false;
        }
        cache.insert(key, finished(CachedBody::remembered(doc)));
        true
    }

    /// Stores resources that an expanded response carried inline (see [`harvest`]), each
    /// unless its URI is cached already.
    fn remember_all(&self, found: Vec<(String, Value)>) {
        if found.is_empty() {
            return;
        }
        let mut cache = self.cache.lock().expect("walker cache lock poisoned");
        for (uri, doc) in found {
            let Some(key) = normalize(&uri) else { continue };
            cache.entry(key).or_insert_with(|| finished(CachedBody::stored(&doc)));
        }
    }

    /// Replaces the cache's entry for `uri`, which must be cached already. An expanded
    /// page is replaced by a copy whose members are references, once the members themselves
    /// are remembered, so that their text is not kept twice.
    fn replace(&self, uri: &str, doc: &Value) {
        let Some(key) = normalize(uri) else { return };
        let mut cache = self.cache.lock().expect("walker cache lock poisoned");
        if let Some(entry) = cache.get_mut(&key) {
            *entry = finished(CachedBody::stored(doc));
        }
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
                self.problem(uri, OUTSIDE_LINK);
                None
            }
        }
    }

    /// Fetches a resource with its subordinate resources inline (`$expand=.`), caching each
    /// of them under its own URI so that reading them sends no request. A service that
    /// refuses the expanded request gets a plain GET; one that ignores `$expand` gets nothing
    /// more than a plain GET would.
    async fn get_with_subordinates(&self, uri: &str, query: &str) -> Option<Arc<Value>> {
        let Some(key) = normalize(uri) else {
            self.problem(uri, OUTSIDE_LINK);
            return None;
        };
        let (request, first) = {
            let mut cache = self.cache.lock().expect("walker cache lock poisoned");
            match cache.get(&key) {
                Some(request) => (request.clone(), false),
                None => {
                    let fetch = self.fetch;
                    let expanded = format!("{key}?{query}");
                    let plain = key.clone();
                    let request = async move {
                        let (doc, text) = match fetch.get_text(&expanded).await {
                            Ok((doc, text)) if doc.is_object() => (doc, text),
                            Ok(_) => fetch.get_text(&plain).await.map_err(Arc::new)?,
                            Err(err) => {
                                tracing::debug!(uri = %plain, cause = %err, "expanded request failed; reading the resource without $expand");
                                fetch.get_text(&plain).await.map_err(Arc::new)?
                            }
                        };
                        Ok(Arc::new(CachedBody::fetched(doc, text)))
                    }
                    .boxed()
                    .shared();
                    cache.insert(key.clone(), request.clone());
                    (request, true)
                }
            }
        };

        let doc = match request.await {
            Ok(body) => body.value(),
            Err(err) => {
                self.problem(uri, err.to_string());
                return None;
            }
        };
        if !first {
            return Some(doc);
        }
        // The cache keeps the resource with references in place of what it carried inline,
        // so that no body's text is kept twice.
        let mut doc = Arc::unwrap_or_clone(doc);
        let mut found = Vec::new();
        harvest(&mut doc, &mut found);
        if found.is_empty() {
            return Some(Arc::new(doc));
        }
        self.remember_all(found);
        let doc = Arc::new(doc);
        let mut cache = self.cache.lock().expect("walker cache lock poisoned");
        cache.insert(key, finished(CachedBody::remembered(&doc)));
        Some(doc)
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

    /// Lists the members of a collection as [`Walker::try_members`] does, recording a problem
    /// when the first page cannot be read.
    pub async fn members(&self, collection: &str) -> Vec<Member> {
        self.members_with(collection, self.expand_query(), false).await
    }

    async fn members_with(&self, collection: &str, query: Option<&str>, deep: bool) -> Vec<Member> {
        match self.try_members_with(collection, query, deep).await {
            Some(Ok(members)) => members,
            Some(Err(err)) => {
                self.problem(collection, err.to_string());
                Vec::new()
            }
            None => {
                self.problem(collection, OUTSIDE_LINK);
                Vec::new()
            }
        }
    }

    /// Lists the members of a collection, following `Members@odata.nextLink`.
    ///
    /// Members that the BMC returned inline (through `$expand`, or unasked as Delta power
    /// shelves do) come with their body, so they are not fetched again. Returns an error only
    /// when the first page cannot be read, and `None` for a link outside `/redfish/v1`. A
    /// later page that fails is recorded as a problem and ends the list.
    pub async fn try_members(&self, collection: &str) -> Option<Result<Vec<Member>, Arc<RedfishError>>> {
        self.try_members_with(collection, self.expand_query(), false).await
    }

    /// Lists the members of a collection as [`Walker::try_members`] does, reading its first
    /// page with the `$expand` `query` when there is one. Where the query is `deep`, reaching
    /// below the members, the resources that the expanded pages carry inline below the
    /// members are cached under their own URI.
    async fn try_members_with(
        &self,
        collection: &str,
        query: Option<&str>,
        deep: bool,
    ) -> Option<Result<Vec<Member>, Arc<RedfishError>>> {
        let (first_uri, first_page, expanded) = match self.first_page(collection, query).await? {
            Ok(first) => first,
            Err(err) => return Some(Err(err)),
        };

        let mut members = Vec::new();
        let mut visited = HashSet::from([normalize(collection), normalize(&first_uri)]);
        let mut expanded_pages = Vec::new();
        let mut below_members = Vec::new();
        let mut page_uri = first_uri;
        let mut page = first_page;
        for _ in 0..MAX_PAGES {
            let next_uri = page
                .get("Members@odata.nextLink")
                .and_then(Value::as_str)
                .map(str::to_string);
            let below = (expanded && deep).then_some(&mut below_members);
            if let Some(skeleton) = push_members(page, expanded, &mut members, below) {
                expanded_pages.push((page_uri, skeleton));
            }
            let Some(next_uri) = next_uri else {
                break;
            };
            if !visited.insert(normalize(&next_uri)) {
                break;
            }
            let Some(next_page) = self.get(&next_uri).await else {
                break;
            };
            page_uri = next_uri;
            page = next_page;
        }

        self.drop_bad_members(collection, &visited, &mut members);

        if expanded {
            self.remember_all(below_members);
            self.verify_expanded(collection, &mut members).await;
            let mut all_remembered = true;
            for (uri, doc) in &members {
                if let Some(doc) = doc {
                    all_remembered &= self.remember(uri, doc);
                }
            }
            // A later listing of this collection finds the members by reference in the cache.
            // A member whose URI was cached before (a failed GET, say) keeps only its inline
            // copy, so the pages are then kept whole.
            if all_remembered {
                for (page_uri, skeleton) in expanded_pages {
                    self.replace(&page_uri, &skeleton);
                }
            }
        }
        Some(Ok(members))
    }

    /// Drops the members that would be read twice or as the wrong kind of resource: a link
    /// to the collection itself or one of its `pages`, and a second link to a member already
    /// listed, however it is spelled. Each is recorded as a BMC defect.
    fn drop_bad_members(&self, collection: &str, pages: &HashSet<Option<String>>, members: &mut Vec<Member>) {
        let mut seen = HashSet::new();
        let (mut own, mut repeated) = (0, 0);
        members.retain(|(uri, _)| {
            let Some(key) = normalize(uri) else {
                return true;
            };
            if pages.contains(&Some(key.clone())) {
                own += 1;
                return false;
            }
            let first = seen.insert(key);
            repeated += usize::from(!first);
            first
        });

        if own > 0 {
            self.problem(
                collection,
                format!("{DEFECT_PREFIX}the collection lists itself among its Members; that entry was skipped"),
            );
        }
        if repeated > 0 {
            self.problem(
                collection,
                format!("{DEFECT_PREFIX}the collection lists {repeated} member(s) more than once; each was read and counted once"),
            );
        }
    }

    /// Reads the first page of a collection: with the `$expand` `query` when there is one,
    /// else, or when the expanded request fails or has no `Members` array, without it.
    /// A collection that an earlier expanded response carried inline is taken from the cache.
    /// Returns the URI read, the page and whether it is expanded.
    async fn first_page(
        &self,
        collection: &str,
        query: Option<&str>,
    ) -> Option<Result<(String, Arc<Value>, bool), Arc<RedfishError>>> {
        if let Some(page) = self.cached(collection) {
            return Some(Ok((collection.to_string(), page, false)));
        }
        if let Some(query) = query {
            let separator = if collection.contains('?') { '&' } else { '?' };
            let expanded_uri = format!("{collection}{separator}{query}");
            match self.try_get(&expanded_uri).await? {
                Ok(page) if page.get("Members").is_some_and(Value::is_array) => {
                    return Some(Ok((expanded_uri, page, true)));
                }
                Ok(_) => {
                    tracing::debug!(
                        collection,
                        "expanded collection has no Members array; reading it without $expand"
                    );
                }
                Err(err) => {
                    tracing::debug!(collection, cause = %err, "expanded collection request failed; reading it without $expand");
                }
            }
        }
        let page = match self.try_get(collection).await? {
            Ok(page) => page,
            Err(err) => return Some(Err(err)),
        };
        Some(Ok((collection.to_string(), page, false)))
    }

    /// Checks the inline members of an expanded collection against a plain GET.
    ///
    /// When an inline member lacks `Name` or `Status`, that member is fetched without
    /// `$expand`. If the plain body has a property the inline copy lacks, the BMC's expansion
    /// drops properties: every member of this collection is then fetched one by one, and
    /// later collections of this collect are read without `$expand`.
    ///
    /// NOTE: an expansion that drops only other properties while keeping `Name` and `Status`
    /// is not detected, since checking every collection would cost a request each.
    async fn verify_expanded(&self, collection: &str, members: &mut [Member]) {
        let suspect = members
            .iter()
            .position(|(_, doc)| doc.as_ref().is_some_and(|doc| !has_all(doc, EXPECTED_PROPERTIES)));
        let Some(index) = suspect else { return };
        let uri = members[index].0.clone();
        let inline = members[index].1.clone().expect("the suspect member is inline");
        let plain = match self.try_get(&uri).await {
            Some(Ok(plain)) => plain,
            Some(Err(err)) => {
                tracing::debug!(collection, member = %uri, cause = %err, "failed to read an expanded member without $expand; keeping the inline copy");
                return;
            }
            None => return,
        };

        let missing = missing_properties(&inline, &plain);
        if !missing.is_empty() {
            tracing::warn!(
                collection,
                member = %uri,
                missing = %missing.join(", "),
                "expanded members lack properties that a plain GET returns; fetching members one by one"
            );
            self.expand_lossy.store(true, Ordering::Relaxed);
            for (_, doc) in members.iter_mut() {
                *doc = None;
            }
        }
        members[index].1 = Some(plain);
    }

    /// Fetches every member of a collection concurrently, in collection order.
    pub async fn member_docs(&self, collection: &str) -> Vec<Resource> {
        let members = self.members(collection).await;
        self.member_bodies(members, None).await
    }

    /// Fetches every member of a collection as [`Walker::member_docs`] does, for a reader
    /// that goes on to read what lies `below` levels under each member. The level is 1 for
    /// resources the members link to (a Storage's `Drives`), and 2 for the members of
    /// collections they link to (a PCIe device's `PCIeFunctions`).
    ///
    /// Where the service inlines `1 + below` levels, the collection is read with them. Where
    /// it inlines one level and `below` is 1, the collection is read plain and each member
    /// with its subordinate resources inline, which costs one request per member instead of
    /// one per linked resource. Otherwise this is [`Walker::member_docs`].
    pub async fn member_docs_deep(&self, collection: &str, below: u32) -> Vec<Resource> {
        if let Some(query) = self.subordinate_query(1 + below) {
            let members = self.members_with(collection, Some(&query), true).await;
            return self.member_bodies(members, None).await;
        }
        if below == 1
            && let Some(query) = self.subordinate_query(1)
        {
            let members = self.members_with(collection, None, false).await;
            return self.member_bodies(members, Some(&query)).await;
        }
        self.member_docs(collection).await
    }

    /// Returns the bodies of `members`, fetching those not inline, with the `$expand`
    /// `query` when there is one. Members that fail are left out.
    async fn member_bodies(&self, members: Vec<Member>, query: Option<&str>) -> Vec<Resource> {
        let docs = future::join_all(members.into_iter().map(|(uri, inline)| async move {
            let doc = match (inline, query) {
                (Some(doc), _) => Some(doc),
                (None, Some(query)) => self.get_with_subordinates(&uri, query).await,
                (None, None) => self.get(&uri).await,
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

    /// Fetches the members of the collection linked at `pointer` in `doc` as
    /// [`Walker::member_docs_deep`] does.
    pub async fn linked_members_deep(&self, doc: &Value, pointer: &str, below: u32) -> Vec<Resource> {
        match super::json::link(doc, pointer) {
            Some(collection) => self.member_docs_deep(&collection, below).await,
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

    /// Takes the problems recorded so far.
    pub fn take_problems(&self) -> Vec<Problem> {
        std::mem::take(&mut *self.problems.lock().expect("walker problem lock poisoned"))
    }

    /// Returns a walker over `fetch` that starts with the reads of this one that finished,
    /// read the same way. Reads still in progress are dropped, so their requests end, and
    /// `fetch` serves them and any new read.
    pub fn finished_reads<'b, G: Fetch>(self, fetch: &'b G) -> Walker<'b, G> {
        let cache = self.cache.into_inner().expect("walker cache lock poisoned");
        let finished = cache
            .into_iter()
            .filter_map(|(key, entry)| Some((key, ready(entry.peek()?.clone()))))
            .collect();
        Walker {
            fetch,
            cache: Mutex::new(finished),
            problems: Mutex::default(),
            expand: self.expand,
            expand_lossy: self.expand_lossy,
        }
    }
}

/// Problem message for a link that [`normalize`] rejects. Links are followed only as paths,
/// so a link written as a full URL, even to the BMC's own address, is refused with them.
pub const OUTSIDE_LINK: &str =
    "link is not a path inside /redfish/v1 (a full URL, a `..` segment or another service); not followed";

/// Appends the members of one collection page to `members`, with the body of each member
/// that the page carries inline.
///
/// On an expanded page a member counts as inline only with every [`REQUIRED_PROPERTIES`]
/// property. On a plain page, where the BMC inlined members unasked, `Id` is enough.
///
/// The members are moved out of the page when no other reader has it, which is the usual
/// case, and copied otherwise. When they were moved and some were inline, returns the rest
/// of the page with each member reduced to its `@odata.id`, for the cache to keep instead.
/// With `below`, the resources that the inline members carry below them are moved there
/// (see [`harvest`]).
fn push_members(
    page: Arc<Value>,
    expanded: bool,
    members: &mut Vec<Member>,
    mut below: Option<&mut Vec<(String, Value)>>,
) -> Option<Value> {
    let (mut page, owned) = match Arc::try_unwrap(page) {
        Ok(page) => (page, true),
        Err(shared) => {
            let list = shared.get("Members").cloned().unwrap_or(Value::Null);
            (serde_json::json!({ "Members": list }), false)
        }
    };
    let Some(Value::Array(list)) = page.get_mut("Members").map(Value::take) else {
        return None;
    };

    let mut references = Vec::with_capacity(list.len());
    let mut any_inline = false;
    for mut member in list {
        let Some(uri) = member.get("@odata.id").and_then(Value::as_str).map(str::to_string) else {
            references.push(member);
            continue;
        };
        let inline = if expanded {
            has_all(&member, REQUIRED_PROPERTIES)
        } else {
            member.get("Id").is_some()
        };
        if inline && let Some(below) = below.as_deref_mut() {
            harvest(&mut member, below);
        }
        references.push(serde_json::json!({ "@odata.id": uri }));
        any_inline |= inline;
        members.push((uri, inline.then(|| Arc::new(member))));
    }

    page["Members"] = Value::Array(references);
    (owned && any_inline).then_some(page)
}

/// A cached body: its compact JSON text, and the parsed body while a reader still uses it.
///
/// The first reader of a fetched body gets the parsed body that came with the response.
/// Later readers share it while anyone still uses it, and otherwise parse the text again,
/// which costs far less than keeping every parsed body of a node until the node is done.
struct CachedBody {
    text: Box<[u8]>,
    parsed: Mutex<Parsed>,
}

struct Parsed {
    /// The body parsed from the response, until the first reader takes it.
    first: Option<Arc<Value>>,
    weak: Weak<Value>,
}

impl CachedBody {
    /// Keeps a body fetched from the BMC, handing the parsed body to its first reader. The
    /// `text` it was parsed from is kept where the fetch returned it, else written anew.
    fn fetched(doc: Value, text: Option<Box<[u8]>>) -> CachedBody {
        let doc = Arc::new(doc);
        CachedBody {
            text: text.unwrap_or_else(|| serialize(&doc)),
            parsed: Mutex::new(Parsed {
                weak: Arc::downgrade(&doc),
                first: Some(doc),
            }),
        }
    }

    /// Keeps a body that its reader already has, such as an inline collection member.
    fn remembered(doc: &Arc<Value>) -> CachedBody {
        CachedBody {
            text: serialize(doc),
            parsed: Mutex::new(Parsed {
                first: None,
                weak: Arc::downgrade(doc),
            }),
        }
    }

    /// Keeps a body that no reader has.
    fn stored(doc: &Value) -> CachedBody {
        CachedBody {
            text: serialize(doc),
            parsed: Mutex::new(Parsed {
                first: None,
                weak: Weak::new(),
            }),
        }
    }

    fn value(&self) -> Arc<Value> {
        let mut parsed = self.parsed.lock().expect("walker body lock poisoned");
        if let Some(doc) = parsed.first.take() {
            return doc;
        }
        if let Some(doc) = parsed.weak.upgrade() {
            return doc;
        }
        let doc = Arc::new(serde_json::from_slice(&self.text).expect("the cache's text was serialized from a Value"));
        parsed.weak = Arc::downgrade(&doc);
        doc
    }
}

/// Returns a cache entry for a body that needs no request, already complete so that
/// [`Shared::peek`] finds it.
fn finished<'a>(body: CachedBody) -> Shared<BoxFuture<'a, Stored>> {
    ready(Ok(Arc::new(body)))
}

/// Returns a cache entry holding `stored`, already complete so that [`Shared::peek`] finds it.
fn ready<'a>(stored: Stored) -> Shared<BoxFuture<'a, Stored>> {
    let entry = future::ready(stored).boxed().shared();
    let _ = entry.clone().now_or_never();
    entry
}

fn serialize(doc: &Value) -> Box<[u8]> {
    serde_json::to_vec(doc)
        .expect("a serde_json Value always serializes")
        .into_boxed_slice()
}

fn has_all(doc: &Value, properties: &[&str]) -> bool {
    properties.iter().all(|property| doc.get(*property).is_some())
}

/// Lists the properties of `plain` that `inline` lacks, leaving out annotations (names with
/// `@`, such as `@odata.context` or `@odata.etag`), which an expanded copy may leave out.
fn missing_properties(inline: &Value, plain: &Value) -> Vec<String> {
    let Some(plain) = plain.as_object() else {
        return Vec::new();
    };
    plain
        .keys()
        .filter(|key| !key.contains('@') && inline.get(key.as_str()).is_none())
        .cloned()
        .collect()
}

/// Moves the resources that `doc` carries inline below its top level into `found`, leaving
/// a reference (`{"@odata.id": …}`) in the place of each, as a plain GET of `doc` shows it.
/// Inline objects that are not taken (see [`take_inline`]) stay as they are, and the
/// [`NOT_SUBORDINATE`] properties are left alone.
fn harvest(doc: &mut Value, found: &mut Vec<(String, Value)>) {
    let children: Box<dyn Iterator<Item = &mut Value>> = match doc {
        Value::Object(object) => Box::new(
            object
                .iter_mut()
                .filter(|(key, _)| !NOT_SUBORDINATE.contains(&key.as_str()))
                .map(|(_, child)| child),
        ),
        Value::Array(items) => Box::new(items.iter_mut()),
        _ => return,
    };
    for child in children {
        if !take_inline(child, found) {
            harvest(child, found);
        }
    }
}

/// Moves `value` into `found`, after the resources below it, and leaves a reference in its
/// place, when it is a complete inline resource or collection (see
/// [`inline_resource_uri`]). Returns whether it did.
///
/// A resource counts only with every [`REQUIRED_PROPERTIES`] and [`EXPECTED_PROPERTIES`]
/// property: where a BMC's expansion drops properties, the resource stays where it is and is
/// fetched when read. A collection counts when it is not paged and every member counts (an
/// empty one too).
fn take_inline(value: &mut Value, found: &mut Vec<(String, Value)>) -> bool {
    let Some(uri) = inline_resource_uri(value).map(str::to_string) else {
        return false;
    };

    if let Some(Value::Array(members)) = value.get_mut("Members") {
        let mut every = true;
        for member in members.iter_mut() {
            every &= take_inline(member, found);
        }
        if !every || value.get("Members@odata.nextLink").is_some() {
            return false;
        }
    } else {
        if !has_all(value, REQUIRED_PROPERTIES) || !has_all(value, EXPECTED_PROPERTIES) {
            return false;
        }
        harvest(value, found);
    }
    let resource = std::mem::replace(value, serde_json::json!({ "@odata.id": uri.clone() }));
    found.push((uri, resource));
    true
}

/// The `$expand` support that a service root advertises, in the forms the walker uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ExpandSupport {
    /// The query that reads a collection with its members inline (see [`expand_query`]).
    members: &'static str,
    /// Levels of subordinate resources (`.`) one request can inline: `MaxLevels` where
    /// `Levels` is true, 1 where only `NoLinks` is, 0 without `NoLinks`.
    subordinate_levels: u32,
    /// Whether `($levels=N)` may be written.
    levels_option: bool,
}

impl ExpandSupport {
    fn from_root(root: &Value) -> Option<ExpandSupport> {
        let members = expand_query(root)?;
        let features = root.pointer("/ProtocolFeaturesSupported/ExpandQuery")?;
        let supports = |name: &str| features.get(name).and_then(Value::as_bool) == Some(true);
        let levels_option = supports("Levels");
        let subordinate_levels = match (supports("NoLinks"), levels_option) {
            (false, _) => 0,
            (true, false) => 1,
            // A service that states no MaxLevels is trusted with one level only.
            (true, true) => features
                .get("MaxLevels")
                .and_then(Value::as_u64)
                .map_or(1, |levels| levels.clamp(1, 6) as u32),
        };
        Some(ExpandSupport {
            members,
            subordinate_levels,
            levels_option,
        })
    }
}

/// Returns the query that reads a collection with its members inline, from the service
/// root's `ProtocolFeaturesSupported.ExpandQuery`, or `None` when it advertises no usable form.
///
/// `.` (subordinate resources, not `Links`) is preferred where `NoLinks` is true, else `*`
/// where `ExpandAll` is true: on a collection, one level of either inlines the members.
/// `$levels=1` is written only where `Levels` is true; without it a service expands one
/// level (HPE's iLO guide "OData query options" states this default).
pub fn expand_query(root: &Value) -> Option<&'static str> {
    let features = root.pointer("/ProtocolFeaturesSupported/ExpandQuery")?;
    let supports = |name: &str| features.get(name).and_then(Value::as_bool) == Some(true);
    match (supports("NoLinks"), supports("ExpandAll"), supports("Levels")) {
        (true, _, true) => Some("$expand=.($levels=1)"),
        (true, _, false) => Some("$expand=."),
        (false, true, true) => Some("$expand=*($levels=1)"),
        (false, true, false) => Some("$expand=*"),
        (false, false, _) => None,
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

#[cfg(test)]
mod expand_tests {
    use std::collections::HashMap;

    use serde_json::json;

    use super::*;

    /// A BMC made of a map from URI (with its query) to body; other URIs return 404.
    #[derive(Default)]
    struct MapFetch {
        resources: HashMap<String, Value>,
        requests: Mutex<Vec<String>>,
    }

    impl Fetch for MapFetch {
        async fn get(&self, path: &str) -> Result<Value, RedfishError> {
            self.requests.lock().unwrap().push(path.to_string());
            self.resources.get(path).cloned().ok_or_else(|| RedfishError::NotFound {
                bmc: "test".to_string(),
                uri: path.to_string(),
            })
        }
    }

    const COLLECTION: &str = "/redfish/v1/Systems/1/Memory";
    const EXPANDED: &str = "/redfish/v1/Systems/1/Memory?$expand=.($levels=1)";

    fn dimm(id: &str) -> Value {
        json!({
            "@odata.id": format!("{COLLECTION}/{id}"),
            "@odata.type": "#Memory.v1_17_0.Memory",
            "Id": id,
            "Name": id,
            "CapacityMiB": 65536,
            "Status": {"State": "Enabled"}
        })
    }

    fn reference(id: &str) -> Value {
        json!({ "@odata.id": format!("{COLLECTION}/{id}") })
    }

    /// A BMC with two DIMMs, whose expanded Memory collection is `expanded` (absent: 404).
    fn bmc(expanded: Option<Value>) -> MapFetch {
        let mut fetch = MapFetch::default();
        for id in ["A1", "A2"] {
            fetch.resources.insert(format!("{COLLECTION}/{id}"), dimm(id));
        }
        fetch.resources.insert(
            COLLECTION.to_string(),
            json!({"Members": [reference("A1"), reference("A2")]}),
        );
        if let Some(expanded) = expanded {
            fetch.resources.insert(EXPANDED.to_string(), expanded);
        }
        fetch
    }

    fn expand_root() -> Value {
        json!({"ProtocolFeaturesSupported": {"ExpandQuery": {"NoLinks": true, "Levels": true, "MaxLevels": 3}}})
    }

    /// Reads the members' bodies twice and returns them with the URIs requested.
    async fn read_twice(fetch: &MapFetch) -> (Vec<Resource>, Vec<String>) {
        let walker = Walker::new(fetch);
        walker.use_expand(&expand_root());
        let docs = walker.member_docs(COLLECTION).await;
        let again = walker
            .get_all(&[format!("{COLLECTION}/A1"), format!("{COLLECTION}/A2")])
            .await;
        assert_eq!(again.len(), 2);
        assert!(walker.take_problems().is_empty());
        (docs, fetch.requests.lock().unwrap().clone())
    }

    #[test]
    fn expand_query_follows_service_root() {
        let query = |features: Value| expand_query(&json!({"ProtocolFeaturesSupported": {"ExpandQuery": features}}));
        assert_eq!(
            query(json!({"NoLinks": true, "Levels": true})),
            Some("$expand=.($levels=1)")
        );
        assert_eq!(query(json!({"NoLinks": true})), Some("$expand=."));
        assert_eq!(
            query(json!({"ExpandAll": true, "Levels": true})),
            Some("$expand=*($levels=1)")
        );
        assert_eq!(query(json!({"Links": true, "Levels": true})), None);
        assert_eq!(query(json!({"NoLinks": false, "ExpandAll": "yes"})), None);
        assert_eq!(expand_query(&json!({"ProtocolFeaturesSupported": {}})), None);
    }

    #[tokio::test]
    async fn expanded_members_not_fetched_again() {
        let fetch = bmc(Some(json!({"Members": [dimm("A1"), dimm("A2")]})));
        let (docs, requests) = read_twice(&fetch).await;
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].1["Id"], "A2");
        assert_eq!(requests, vec![EXPANDED]);
    }

    #[tokio::test]
    async fn refused_expand_reads_plain_collection() {
        let fetch = bmc(None);
        let (docs, requests) = read_twice(&fetch).await;
        assert_eq!(docs.len(), 2);
        assert_eq!(requests[..2], [EXPANDED, COLLECTION]);
        assert_eq!(requests.len(), 4, "{requests:?}");
    }

    #[tokio::test]
    async fn expand_without_members_reads_plain_collection() {
        let fetch = bmc(Some(json!({"error": {"code": "Base.1.8.GeneralError"}})));
        let (docs, requests) = read_twice(&fetch).await;
        assert_eq!(docs.len(), 2);
        assert_eq!(requests[..2], [EXPANDED, COLLECTION]);
        assert_eq!(requests.len(), 4, "{requests:?}");
    }

    #[tokio::test]
    async fn self_listed_member_skipped() {
        let mut fetch = bmc(None);
        let own = json!({ "@odata.id": format!("{COLLECTION}/") });
        fetch.resources.insert(
            COLLECTION.to_string(),
            json!({"Members": [reference("A1"), own, reference("A2")]}),
        );
        let walker = Walker::new(&fetch);

        let docs = walker.member_docs(COLLECTION).await;

        let ids: Vec<&Value> = docs.iter().map(|(_, doc)| &doc["Id"]).collect();
        assert_eq!(ids, ["A1", "A2"]);
        let problems = walker.take_problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.starts_with(DEFECT_PREFIX), "{problems:?}");
    }

    #[tokio::test]
    async fn repeated_member_read_once() {
        let mut fetch = bmc(None);
        let again = json!({ "@odata.id": format!("{COLLECTION}//A1/") });
        let fragment = json!({ "@odata.id": format!("{COLLECTION}/A2#/Oem") });
        fetch.resources.insert(
            COLLECTION.to_string(),
            json!({"Members": [reference("A1"), reference("A2"), again, fragment, reference("A1")]}),
        );
        let walker = Walker::new(&fetch);

        let docs = walker.member_docs(COLLECTION).await;

        let ids: Vec<&Value> = docs.iter().map(|(_, doc)| &doc["Id"]).collect();
        assert_eq!(ids, ["A1", "A2"]);
        let problems = walker.take_problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].message.contains("3 member(s) more than once"),
            "{problems:?}"
        );
        let requests = fetch.requests.lock().unwrap().len();
        assert_eq!(requests, 3, "the collection and each DIMM once");
    }

    #[tokio::test]
    async fn ignored_expand_fetches_members() {
        let fetch = bmc(Some(json!({"Members": [reference("A1"), reference("A2")]})));
        let (docs, requests) = read_twice(&fetch).await;
        assert_eq!(docs.len(), 2);
        assert_eq!(requests.len(), 3, "{requests:?}");
        assert!(!requests.contains(&COLLECTION.to_string()));
    }

    #[tokio::test]
    async fn expand_dropping_status_fetches_members() {
        let mut a1 = dimm("A1");
        let mut a2 = dimm("A2");
        a1.as_object_mut().unwrap().remove("Status");
        a2.as_object_mut().unwrap().remove("Status");
        let fetch = bmc(Some(json!({"Members": [a1, a2]})));
        let walker = Walker::new(&fetch);
        walker.use_expand(&expand_root());

        let docs = walker.member_docs(COLLECTION).await;

        assert_eq!(docs.len(), 2);
        assert!(docs.iter().all(|(_, doc)| doc.get("Status").is_some()));
        assert_eq!(fetch.requests.lock().unwrap().len(), 3);
        assert_eq!(
            walker.expand_query(),
            None,
            "later collections are read without $expand"
        );
    }

    #[tokio::test]
    async fn second_listing_keeps_member_after_failed_get() {
        let mut fetch = bmc(Some(json!({"Members": [dimm("A1"), dimm("A2")]})));
        fetch.resources.remove(&format!("{COLLECTION}/A1"));
        let walker = Walker::new(&fetch);
        walker.use_expand(&expand_root());
        assert!(matches!(
            walker.try_get(&format!("{COLLECTION}/A1")).await,
            Some(Err(_))
        ));

        let first = walker.member_docs(COLLECTION).await;
        let second = walker.member_docs(COLLECTION).await;

        assert_eq!(first.len(), 2);
        assert_eq!(second.len(), 2, "{second:?}");
        assert_eq!(second[0].1["Id"], "A1");
        assert_eq!(fetch.requests.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn expand_without_status_trusted_when_plain_agrees() {
        let strip = |mut doc: Value| {
            doc.as_object_mut().unwrap().remove("Status");
            doc
        };
        let mut fetch = bmc(Some(json!({"Members": [strip(dimm("A1")), strip(dimm("A2"))]})));
        for id in ["A1", "A2"] {
            fetch.resources.insert(format!("{COLLECTION}/{id}"), strip(dimm(id)));
        }
        let walker = Walker::new(&fetch);
        walker.use_expand(&expand_root());

        let docs = walker.member_docs(COLLECTION).await;

        assert_eq!(docs.len(), 2);
        let requests = fetch.requests.lock().unwrap().clone();
        assert_eq!(requests, vec![EXPANDED.to_string(), format!("{COLLECTION}/A1")]);
        assert_eq!(walker.expand_query(), Some("$expand=.($levels=1)"));
    }

    const STORAGE: &str = "/redfish/v1/Systems/1/Storage";
    const RAID: &str = "/redfish/v1/Systems/1/Storage/RAID.1";

    fn drive(id: &str) -> Value {
        json!({
            "@odata.id": format!("{RAID}/Drives/{id}"),
            "@odata.type": "#Drive.v1_17_0.Drive",
            "Id": id,
            "Name": id,
            "CapacityBytes": 960_000_000_000u64,
            "Status": {"State": "Enabled"}
        })
    }

    /// A RAID controller with two drives and an empty Volumes collection, each of them
    /// inline when `inline` is true, as a `$expand=.` of the controller returns it.
    fn raid(inline: bool) -> Value {
        let drives: Vec<Value> = ["0", "1"]
            .iter()
            .map(|id| {
                if inline {
                    drive(id)
                } else {
                    json!({ "@odata.id": format!("{RAID}/Drives/{id}") })
                }
            })
            .collect();
        let volumes = if inline {
            json!({"@odata.id": format!("{RAID}/Volumes"), "@odata.type": "#VolumeCollection.VolumeCollection", "Members": []})
        } else {
            json!({"@odata.id": format!("{RAID}/Volumes")})
        };
        json!({
            "@odata.id": RAID,
            "@odata.type": "#Storage.v1_15_0.Storage",
            "Id": "RAID.1",
            "Name": "RAID.1",
            "Status": {"State": "Enabled"},
            "Drives": drives,
            "StorageControllers": [
                {"@odata.id": format!("{RAID}#/StorageControllers/0"), "MemberId": "0", "Name": "PERC", "Status": {"State": "Enabled"}}
            ],
            "Volumes": volumes
        })
    }

    /// Builds a BMC with one Storage resource: a RAID controller with two drives and an
    /// empty Volumes collection, none of them inline.
    fn storage_bmc() -> MapFetch {
        let mut fetch = MapFetch::default();
        fetch
            .resources
            .insert(STORAGE.to_string(), json!({"Members": [{"@odata.id": RAID}]}));
        fetch.resources.insert(RAID.to_string(), raid(false));
        for id in ["0", "1"] {
            fetch.resources.insert(format!("{RAID}/Drives/{id}"), drive(id));
        }
        fetch
            .resources
            .insert(format!("{RAID}/Volumes"), json!({"Members": []}));
        fetch
    }

    fn root_with_levels(max_levels: u32) -> Value {
        json!({"ProtocolFeaturesSupported": {"ExpandQuery": {"NoLinks": true, "Levels": true, "MaxLevels": max_levels}}})
    }

    /// Reads the Storage members with what lies one level below them, then the drives and
    /// the Volumes collection as the storage part does. Returns the URIs requested.
    async fn read_storage(fetch: &MapFetch, max_levels: u32) -> Vec<String> {
        let walker = Walker::new(fetch);
        walker.use_expand(&root_with_levels(max_levels));

        let storages = walker.member_docs_deep(STORAGE, 1).await;
        assert_eq!(storages.len(), 1);
        let controller = &storages[0].1;
        assert_eq!(controller["StorageControllers"][0]["Name"], "PERC", "inline parts stay");
        let links = super::super::json::links(controller, "/Drives");
        let drives = walker.get_all(&links).await;
        let volumes = walker.linked_members(controller, "/Volumes").await;

        assert_eq!(drives.len(), 2);
        assert_eq!(drives[1].1["CapacityBytes"], 960_000_000_000u64);
        assert!(volumes.is_empty());
        assert!(walker.take_problems().is_empty());
        fetch.requests.lock().unwrap().clone()
    }

    #[tokio::test]
    async fn two_levels_read_in_one_request() {
        let mut fetch = storage_bmc();
        fetch.resources.insert(
            format!("{STORAGE}?$expand=.($levels=2)"),
            json!({"Members": [raid(true)]}),
        );

        let requests = read_storage(&fetch, 3).await;

        assert_eq!(requests, vec![format!("{STORAGE}?$expand=.($levels=2)")]);
    }

    #[tokio::test]
    async fn one_level_reads_each_member_expanded() {
        let mut fetch = storage_bmc();
        fetch
            .resources
            .insert(format!("{RAID}?$expand=.($levels=1)"), raid(true));

        let requests = read_storage(&fetch, 1).await;

        assert_eq!(
            requests,
            vec![STORAGE.to_string(), format!("{RAID}?$expand=.($levels=1)")]
        );
    }

    #[tokio::test]
    async fn refused_member_expand_reads_plain() {
        let fetch = storage_bmc();

        let requests = read_storage(&fetch, 1).await;

        assert_eq!(
            requests[..3],
            [
                STORAGE.to_string(),
                format!("{RAID}?$expand=.($levels=1)"),
                RAID.to_string()
            ]
        );
        // Then the two drives, and Volumes with $expand (which this BMC refuses) and without.
        assert_eq!(requests.len(), 7, "{requests:?}");
    }

    #[tokio::test]
    async fn inline_resource_without_status_is_fetched() {
        let mut fetch = storage_bmc();
        let mut expanded = raid(true);
        expanded["Drives"][1].as_object_mut().unwrap().remove("Status");
        fetch.resources.insert(format!("{RAID}?$expand=.($levels=1)"), expanded);

        let requests = read_storage(&fetch, 1).await;

        assert_eq!(requests.len(), 3, "{requests:?}");
        assert_eq!(requests[2], format!("{RAID}/Drives/1"));
    }

    #[test]
    fn harvest_leaves_fragments_and_partial_collections() {
        let mut doc = raid(true);
        doc["Volumes"] =
            json!({"@odata.id": format!("{RAID}/Volumes"), "Members": [{"@odata.id": format!("{RAID}/Volumes/1")}]});
        let mut found = Vec::new();

        harvest(&mut doc, &mut found);

        let uris: Vec<&str> = found.iter().map(|(uri, _)| uri.as_str()).collect();
        assert_eq!(uris, [format!("{RAID}/Drives/0"), format!("{RAID}/Drives/1")]);
        assert_eq!(doc["Drives"][0], json!({"@odata.id": format!("{RAID}/Drives/0")}));
        assert_eq!(doc["StorageControllers"][0]["Name"], "PERC");
        assert!(doc["Volumes"]["Members"].is_array(), "a collection of references stays");
    }
}
