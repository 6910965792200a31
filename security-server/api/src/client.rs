//! The client wrapper: one method per request.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use grant::Rights;
use userlib::ipc::Cptr;
use userlib::rpc::{CapabilitySlot, Client, RpcError, Transfer};

use crate::{
    AuditRecord, ConnectionInfo, PolicyLoaded, Request, Response, Security, SecurityError, SessionNotice,
};

/// An answer of the wrong kind: the server does not speak this protocol's version.
fn unexpected() -> SecurityError {
    SecurityError::Rpc(RpcError::Malformed)
}

/// A client of the security server, through the endpoint capability every program is
/// given at start.
#[derive(Clone, Copy, Debug)]
pub struct SecurityClient {
    client: Client<Security>,
}

impl SecurityClient {
    /// A client calling through `endpoint`.
    pub const fn new(endpoint: Cptr) -> Self {
        Self { client: Client::new(endpoint) }
    }

    /// The program's session with the security server: the capability its start info
    /// names `security` (every program the process manager starts has it; a boot server
    /// has it when its manifest `uses` names it). `None` without one.
    pub fn from_start_info() -> Option<Self> {
        userlib::start::service(<crate::Security as userlib::rpc::Protocol>::NAME).map(Self::new)
    }

    /// Opens a connection to `service` with `rights`; the session capability arrives in
    /// `into` (an empty slot). Returns the connection id.
    pub fn connect(&self, service: &str, rights: Rights, into: CapabilitySlot) -> Result<u64, SecurityError> {
        let request = Request::Connect { service: service.to_string(), rights };
        let transfer = Transfer { send: None, receive: Some(into) };
        match self.client.call_with(&request, transfer)? {
            (Response::Connected { connection }, true) => Ok(connection),
            (Response::Connected { .. }, false) => Err(SecurityError::MissingCapability),
            _ => Err(unexpected()),
        }
    }

    /// Registers as the server of `service`, handing over `endpoint` (which needs GRANT on
    /// the security server's capability, and READ/WRITE for what clients do with it). Each
    /// session costs its client `session_bytes` of quota.
    pub fn register(&self, service: &str, endpoint: Cptr, session_bytes: u64) -> Result<(), SecurityError> {
        let request = Request::Register { service: service.to_string(), session_bytes };
        let transfer = Transfer { send: Some(endpoint), receive: None };
        match self.client.call_with(&request, transfer)? {
            (Response::Registered, _) => Ok(()),
            _ => Err(unexpected()),
        }
    }

    /// Asks for session notices: the security server signals `notification` (a badged
    /// copy of one bound to the serving thread) when some wait; take them with
    /// [`SecurityClient::notices`].
    pub fn subscribe(&self, notification: Cptr) -> Result<(), SecurityError> {
        let transfer = Transfer { send: Some(notification), receive: None };
        match self.client.call_with(&Request::Subscribe, transfer)? {
            (Response::Subscribed, _) => Ok(()),
            _ => Err(unexpected()),
        }
    }

    /// Admits a process of `program` spawned through connection `parent_connection` (the
    /// process manager only); its session capability arrives in `into`. Returns its
    /// client id and label.
    pub fn admit(
        &self,
        program: &str,
        parent_connection: u64,
        into: CapabilitySlot,
    ) -> Result<(u64, String), SecurityError> {
        let request = Request::Admit { program: program.to_string(), parent_connection };
        let transfer = Transfer { send: None, receive: Some(into) };
        match self.client.call_with(&request, transfer)? {
            (Response::Admitted { client, label }, true) => Ok((client, label)),
            (Response::Admitted { .. }, false) => Err(SecurityError::MissingCapability),
            _ => Err(unexpected()),
        }
    }

    /// Process `client` ended (the process manager only); returns how many connections
    /// it had open.
    pub fn depart(&self, client: u64) -> Result<u32, SecurityError> {
        match self.client.call(&Request::Depart { client })? {
            Response::Departed { closed } => Ok(closed),
            _ => Err(unexpected()),
        }
    }

    /// Every waiting session notice (asking page by page), oldest first.
    pub fn notices(&self) -> Result<Vec<SessionNotice>, SecurityError> {
        let mut all = Vec::new();
        loop {
            let Response::Notices { notices, more } = self.client.call(&Request::Notices)? else {
                return Err(unexpected());
            };
            let empty = notices.is_empty();
            all.extend(notices);
            // A page must bring something, or a confused server would keep us here.
            if !more || empty {
                return Ok(all);
            }
        }
    }

    /// Revokes connection `connection`.
    pub fn revoke(&self, connection: u64) -> Result<(), SecurityError> {
        match self.client.call(&Request::Revoke { connection })? {
            Response::Revoked => Ok(()),
            _ => Err(unexpected()),
        }
    }

    /// Every live connection (asking page by page).
    pub fn list_connections(&self) -> Result<Vec<ConnectionInfo>, SecurityError> {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let Response::Connections { connections, more } =
                self.client.call(&Request::ListConnections { after })?
            else {
                return Err(unexpected());
            };
            let last = connections.last().map(|connection| connection.id);
            all.extend(connections);
            match last {
                // A page must move forward, or a confused server would keep us here.
                Some(id) if more && id > after => after = id,
                _ => return Ok(all),
            }
        }
    }

    /// The kept audit trail, oldest first (asking page by page).
    pub fn read_audit(&self) -> Result<Vec<AuditRecord>, SecurityError> {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let Response::Audit { records, more } = self.client.call(&Request::ReadAudit { after })? else {
                return Err(unexpected());
            };
            let last = records.last().map(|record| record.seq);
            all.extend(records);
            match last {
                // A page must move forward, or a confused server would keep us here.
                Some(seq) if more && seq > after => after = seq,
                _ => return Ok(all),
            }
        }
    }

    /// Replaces the policy with `source`.
    pub fn load_policy(&self, source: &str) -> Result<PolicyLoaded, SecurityError> {
        match self.client.call(&Request::LoadPolicy { source: source.to_string() })? {
            Response::PolicyLoaded(loaded) => Ok(loaded),
            _ => Err(unexpected()),
        }
    }
}
