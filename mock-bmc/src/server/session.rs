//! The session table: Redfish sessions opened by `POST /redfish/v1/SessionService/Sessions`.

use std::collections::{BTreeMap, HashMap};

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
}

/// Open sessions, found by id (for the collection and DELETE) and by token (for auth).
#[derive(Debug, Default)]
pub(crate) struct SessionTable {
    by_id: BTreeMap<String, Session>,
    /// Token to session id.
    ids_by_token: HashMap<String, String>,
    next_id: u64,
}

impl SessionTable {
    /// Opens a session for `user` and returns it with its new random token.
    pub fn open(&mut self, user: &str) -> (Session, String) {
        self.next_id += 1;
        let session = Session {
            id: self.next_id.to_string(),
            user: user.to_string(),
        };
        let token = new_token();

        self.ids_by_token.insert(token.clone(), session.id.clone());
        self.by_id.insert(session.id.clone(), session.clone());
        (session, token)
    }

    /// Returns the id of the session that `token` belongs to.
    pub fn id_for_token(&self, token: &str) -> Option<&str> {
        self.ids_by_token.get(token).map(String::as_str)
    }

    /// Returns the open session with `id`.
    pub fn get(&self, id: &str) -> Option<&Session> {
        self.by_id.get(id)
    }

    /// Closes the session with `id`. Returns false when no such session is open.
    pub fn close(&mut self, id: &str) -> bool {
        if self.by_id.remove(id).is_none() {
            return false;
        }
        self.ids_by_token.retain(|_, session_id| session_id != id);
        true
    }

    /// Returns the number of open sessions.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Builds the Sessions collection resource with one member per open session.
    pub fn collection(&self) -> Value {
        let members: Vec<Value> = self
            .by_id
            .keys()
            .map(|id| json!({ "@odata.id": session_uri(id) }))
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
