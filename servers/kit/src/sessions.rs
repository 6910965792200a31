//! The sessions of a server: one entry per live connection the security server granted,
//! keyed by connection id (the badge its requests carry), holding what the notice said
//! about it, the memory its client donated, and the server's own state for it.
//!
//! Invariants: an entry exists from the session's `Opened` notice to its `Closed` notice;
//! its donation (generic `D`: the kit's [`crate::Slot`] holding the donated Untyped on
//! Lattice) lives exactly as long as the entry, so closing a session releases its memory.
//! Requests through a connection with no entry (a session whose notice has not been taken
//! yet, or one already closed) find nothing, and the server answers them as it would a
//! stranger.

use alloc::collections::BTreeMap;
use alloc::string::String;

use grant::{Rights, Scope};
use security_api::SessionNotice;

/// What the security server said about a session when it opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// The connection id (the badge its requests carry).
    pub connection: u64,
    /// The client's security client id (the same for all its connections: its process).
    pub client_id: u64,
    /// The rights granted.
    pub rights: Rights,
    /// The client program's path.
    pub client: String,
    /// The client's label.
    pub label: String,
    /// What the session may reach: the server asks it (`scope.allows(path, op)`,
    /// `scope.allows_listen(port)`, ...) for each request.
    pub scope: Scope,
    /// Bytes the client donated for the session's state.
    pub donation_bytes: u64,
}

impl SessionInfo {
    /// The session an `Opened` notice describes (`None` for other notices).
    pub fn from_notice(notice: SessionNotice) -> Option<SessionInfo> {
        match notice {
            SessionNotice::Opened { connection, client_id, rights, client, label, scope, donation_bytes } => {
                Some(SessionInfo { connection, client_id, rights, client, label, scope, donation_bytes })
            }
            SessionNotice::Closed { .. } => None,
        }
    }
}

/// One live session.
#[derive(Debug)]
pub struct Session<S, D> {
    /// What its notice said.
    pub info: SessionInfo,
    /// The memory its client donated (released when the session goes).
    pub donation: Option<D>,
    /// The server's state for it.
    pub state: S,
}

/// The live sessions of a server, by connection id.
#[derive(Debug)]
pub struct SessionTable<S, D> {
    sessions: BTreeMap<u64, Session<S, D>>,
}

impl<S, D> Default for SessionTable<S, D> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S, D> SessionTable<S, D> {
    /// No sessions.
    pub const fn new() -> Self {
        Self { sessions: BTreeMap::new() }
    }

    /// Records an opened session. A second notice for a live connection id replaces the
    /// first (the security server never reuses a live id) and returns the old entry.
    pub fn open(&mut self, info: SessionInfo, donation: Option<D>, state: S) -> Option<Session<S, D>> {
        self.sessions.insert(info.connection, Session { info, donation, state })
    }

    /// Removes a closed session; its donation is dropped with the returned entry.
    pub fn close(&mut self, connection: u64) -> Option<Session<S, D>> {
        self.sessions.remove(&connection)
    }

    /// The session of `connection`.
    pub fn get(&self, connection: u64) -> Option<&Session<S, D>> {
        self.sessions.get(&connection)
    }

    /// The session of `connection`, to change its state.
    pub fn get_mut(&mut self, connection: u64) -> Option<&mut Session<S, D>> {
        self.sessions.get_mut(&connection)
    }

    /// The client id of `connection`'s session.
    pub fn client_of(&self, connection: u64) -> Option<u64> {
        self.get(connection).map(|session| session.info.client_id)
    }

    /// Whether client `client_id` has another live session.
    pub fn client_has_sessions(&self, client_id: u64) -> bool {
        self.sessions.values().any(|session| session.info.client_id == client_id)
    }

    /// Every live session, in connection order.
    pub fn iter(&self) -> impl Iterator<Item = &Session<S, D>> {
        self.sessions.values()
    }

    /// How many sessions are live.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use core::cell::Cell;
    use std::rc::Rc;

    extern crate std;

    fn info(connection: u64, client_id: u64) -> SessionInfo {
        SessionInfo {
            connection,
            client_id,
            rights: Rights::WRITE,
            client: "/bin/hold".to_string(),
            label: "internal{user}".to_string(),
            scope: Scope::empty(grant::ServiceKind::Console),
            donation_bytes: 16384,
        }
    }

    /// A donation that counts its releases.
    struct Donation(Rc<Cell<u32>>);
    impl Drop for Donation {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }

    #[test]
    fn an_opened_notice_becomes_a_session_and_others_do_not() {
        let notice = SessionNotice::Opened {
            connection: 65536,
            client_id: 1000,
            rights: Rights::WRITE,
            client: "/bin/hold".to_string(),
            label: "internal{user}".to_string(),
            scope: Scope::empty(grant::ServiceKind::Console),
            donation_bytes: 16384,
        };
        assert_eq!(SessionInfo::from_notice(notice), Some(info(65536, 1000)));
        assert_eq!(SessionInfo::from_notice(SessionNotice::Closed { connection: 65536 }), None);
    }

    #[test]
    fn closing_a_session_releases_its_donation_once() {
        let released = Rc::new(Cell::new(0));
        let mut table = SessionTable::new();
        table.open(info(65536, 1000), Some(Donation(released.clone())), 7u32);
        table.open(info(65537, 1000), None, 8u32);
        assert_eq!(table.len(), 2);
        assert_eq!(table.client_of(65536), Some(1000));
        table.get_mut(65536).expect("open").state += 1;
        assert_eq!(table.get(65536).map(|session| session.state), Some(8));
        let closed = table.close(65536).expect("was open");
        assert_eq!(released.get(), 0, "the entry still holds it");
        drop(closed);
        assert_eq!(released.get(), 1);
        assert!(table.close(65536).is_none(), "a second close finds nothing");
        assert_eq!(released.get(), 1);
        assert!(table.client_has_sessions(1000), "its other session is live");
        table.close(65537);
        assert!(!table.client_has_sessions(1000));
        assert!(table.is_empty());
    }

    #[test]
    fn a_table_dropped_releases_every_donation() {
        let released = Rc::new(Cell::new(0));
        let mut table = SessionTable::new();
        for connection in 65536..65540 {
            table.open(info(connection, 1000 + connection), Some(Donation(released.clone())), ());
        }
        drop(table);
        assert_eq!(released.get(), 4);
    }
}
