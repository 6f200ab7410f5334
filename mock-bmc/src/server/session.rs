//! The session table: Redfish sessions opened by `POST /redfish/v1/SessionService/Sessions`.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// URI of the Sessions collection, which is served from this table, never from the mockup.
pub(crate) const SESSIONS_URI: &str = "/redfish/v1/SessionService/Sessions";

/// URI of the SessionService resource.
pub(crate) const SESSION_SERVICE_URI: &str = "/redfish/v1/SessionService";

/// One open session.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub id: String,
    pub user: String,
    opened_at: Instant,
}

/// Open sessions, found by id (for the collection and DELETE) and by token (for auth).
///
/// With an expiry, a session older than it counts as closed everywhere: its token no
/// longer authenticates, and it is missing from the collection, `get` and `len`.
#[derive(Debug, Default)]
pub(crate) struct SessionTable {
    by_id: BTreeMap<String, Session>,
    /// Token to session id.
    ids_by_token: HashMap<String, String>,
    next_id: u64,
    /// Time after login when a session expires. None keeps sessions until DELETE.
    expiry: Option<Duration>,
}

impl SessionTable {
    /// Returns an empty table whose sessions expire `expiry` after login.
    pub fn with_expiry(expiry: Option<Duration>) -> SessionTable {
        SessionTable {
            expiry,
            ..SessionTable::default()
        }
    }

    /// Opens a session for `user` and returns it with its new random token.
    /// Drops expired sessions first.
    pub fn open(&mut self, user: &str) -> (Session, String) {
        self.remove_expired();
        self.next_id += 1;
        let session = Session {
            id: self.next_id.to_string(),
            user: user.to_string(),
            opened_at: Instant::now(),
        };
        let token = new_token();

        self.ids_by_token.insert(token.clone(), session.id.clone());
        self.by_id.insert(session.id.clone(), session.clone());
        (session, token)
    }

    /// Returns the id of the open session that `token` belongs to.
    pub fn id_for_token(&self, token: &str) -> Option<&str> {
        let id = self.ids_by_token.get(token)?;
        self.get(id).map(|session| session.id.as_str())
    }

    /// Returns the open session with `id`.
    pub fn get(&self, id: &str) -> Option<&Session> {
        self.by_id.get(id).filter(|session| self.is_live(session))
    }

    /// Closes the session with `id`. Returns false when no such session is open, which
    /// includes an expired one.
    pub fn close(&mut self, id: &str) -> bool {
        let live = self.get(id).is_some();
        if self.by_id.remove(id).is_none() {
            return false;
        }
        self.ids_by_token.retain(|_, session_id| session_id != id);
        live
    }

    /// Returns the number of open sessions.
    pub fn len(&self) -> usize {
        self.live_sessions().count()
    }

    fn is_live(&self, session: &Session) -> bool {
        self.expiry.is_none_or(|expiry| session.opened_at.elapsed() < expiry)
    }

    fn live_sessions(&self) -> impl Iterator<Item = &Session> {
        self.by_id.values().filter(|session| self.is_live(session))
    }

    fn remove_expired(&mut self) {
        let expired: Vec<String> = self
            .by_id
            .values()
            .filter(|session| !self.is_live(session))
            .map(|session| session.id.clone())
            .collect();
        for id in expired {
            tracing::debug!(session = %id, "session expired");
            self.close(&id);
        }
    }

    /// Builds the Sessions collection resource with one member per open session.
    pub fn collection(&self) -> Value {
        let members: Vec<Value> = self
            .live_sessions()
            .map(|session| json!({ "@odata.id": session_uri(&session.id) }))
            .collect();
        json!({
            "@odata.id": SESSIONS_URI,
            "@odata.type": "#SessionCollection.SessionCollection",
            "Name": "Session Collection",
            "Members@odata.count": members.len(),
            "Members": members,
        })
    }
}

impl Session {
    /// Builds the Session resource, which never includes the token.
    pub fn resource(&self) -> Value {
        json!({
            "@odata.id": session_uri(&self.id),
            "@odata.type": "#Session.v1_7_0.Session",
            "Id": self.id,
            "Name": "User Session",
            "UserName": self.user,
            "Password": null,
        })
    }
}

/// Returns the URI of the session with `id`.
pub(crate) fn session_uri(id: &str) -> String {
    format!("{SESSIONS_URI}/{id}")
}

/// Builds the SessionService resource for mockups that lack one.
pub(crate) fn default_session_service() -> Value {
    json!({
        "@odata.id": SESSION_SERVICE_URI,
        "@odata.type": "#SessionService.v1_1_8.SessionService",
        "Id": "SessionService",
        "Name": "Session Service",
        "ServiceEnabled": true,
        "SessionTimeout": 1800,
        "Sessions": { "@odata.id": SESSIONS_URI },
    })
}

/// Returns 128 random bits as 32 hex digits.
fn new_token() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_without_expiry_stay_open() {
        let mut table = SessionTable::with_expiry(None);

        let (session, token) = table.open("root");

        assert_eq!(table.id_for_token(&token), Some(session.id.as_str()));
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn expired_session_counts_as_closed() {
        let mut table = SessionTable::with_expiry(Some(Duration::ZERO));

        let (session, token) = table.open("root");

        assert_eq!(table.id_for_token(&token), None);
        assert!(table.get(&session.id).is_none());
        assert_eq!(table.len(), 0);
        assert_eq!(table.collection()["Members"], json!([]));
        assert!(!table.close(&session.id));
    }
}
