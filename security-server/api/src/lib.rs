//! The security server's interface (DESIGN.md §5): programs ask it for connections to
//! services, servers register with it, the shell lists and revokes connections and loads
//! policies. It also declares the [`Session`] notices the security server sends a server
//! when a connection to it opens or closes.
//!
//! Two protocols, each carried by `userlib::rpc` (postcard in one message):
//!
//! | protocol | label | who calls whom |
//! | --- | --- | --- |
//! | [`Security`] | `SECU` | any program → the security server |
//! | [`Session`] | `SESS` | the security server → a registered server, on the endpoint it registered |
//!
//! Operations, with the capability they carry, whether they block, and whether repeating
//! them is harmless (idempotent):
//!
//! | request | capability | answer | idempotent |
//! | --- | --- | --- | --- |
//! | `Connect` | reply carries the session capability: a badged copy of the service's endpoint, badge = connection id | `Connected` | no: each call opens a new connection |
//! | `Register` | request carries the server's endpoint (with GRANT) | `Registered` | no: a second registration is `AlreadyRegistered` |
//! | `Revoke` | none | `Revoked` | yes, but the second is `NoSuchConnection` |
//! | `ListConnections` | none | `Connections` (a page; `more` says whether to ask again after the last id) | yes |
//! | `LoadPolicy` | none | `PolicyLoaded` | yes |
//!
//! None of them blocks beyond the security server's own work. Every grant, denial,
//! revocation and policy load is also an audit event (target `audit`).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};
use userlib::rpc::{Protocol, RpcError, label};

/// The security server's protocol.
#[derive(Debug)]
pub enum Security {}

impl Protocol for Security {
    const NAME: &'static str = "security";
    const LABEL: usize = label(*b"SECU");
    type Request = Request;
    type Response = Response;
    type Error = SecurityError;
}

/// What programs ask the security server.
///
/// Variants are only ever added at the end (postcard numbers them by position).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Opens a connection to `service` with `rights` (bits whose meaning the service
    /// defines). The policy decides from the caller's label; if allowed, the reply carries
    /// the session capability, so the caller names a receive slot.
    Connect {
        /// The service's registered name (`"fs"`, `"net"`, `"console"`, ...).
        service: String,
        /// The rights asked for.
        rights: u32,
    },
    /// Registers the caller as the server of `service`; the request carries its endpoint
    /// capability (the security server mints session capabilities from it). Only programs
    /// the policy lets serve `service` may.
    Register {
        /// The service's name.
        service: String,
    },
    /// Revokes connection `connection`: its session capability and every copy disappear,
    /// and its server is told ([`SessionNotice::Closed`]).
    Revoke {
        /// The connection id.
        connection: u64,
    },
    /// Lists live connections with ids above `after` (0 for the first page).
    ListConnections {
        /// The last id of the previous page, or 0.
        after: u64,
    },
    /// Compiles `source` (a rhai policy) and, if it is valid, makes it the policy: every
    /// live connection is decided again, and those now denied are revoked. The source
    /// travels in the message, so it is limited to about 940 bytes (see the crate's caveat
    /// in CAVEATS.md).
    LoadPolicy {
        /// The policy script.
        source: String,
    },
}

/// What the security server answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The connection is open; the reply carries its session capability.
    Connected {
        /// Its id (the session capability's badge).
        connection: u64,
    },
    /// The service is registered.
    Registered,
    /// The connection is revoked.
    Revoked,
    /// A page of live connections, in id order.
    Connections {
        /// The connections.
        connections: Vec<ConnectionInfo>,
        /// Whether there are more after the last one.
        more: bool,
    },
    /// The new policy is in force.
    PolicyLoaded(PolicyLoaded),
}

/// One live connection, as `conns` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionInfo {
    /// Its id (the session capability's badge).
    pub id: u64,
    /// The client program's path.
    pub client: String,
    /// The client's label (level and categories, as the policy writes them).
    pub client_label: String,
    /// The service.
    pub service: String,
    /// The rights granted.
    pub rights: u32,
    /// The scope the policy granted (`"subtree /www, read-only"`), empty for none.
    pub scope: String,
}

/// What a policy load did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyLoaded {
    /// Live connections the new policy still allows.
    pub kept: u32,
    /// Live connections it denies, now revoked.
    pub revoked: u32,
    /// Instructions the swap took (compiling, re-deciding, revoking).
    pub instructions: u64,
}

/// Why the security server refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SecurityError {
    /// The policy denies the connection; `rule` names the deciding rule (or says that no
    /// rule allows it).
    Denied {
        /// The rule.
        rule: String,
    },
    /// No server has registered that service.
    UnknownService,
    /// The caller may not do this (register that service, revoke others' connections,
    /// load policies).
    NotPermitted,
    /// No live connection has that id.
    NoSuchConnection,
    /// The service already has a server.
    AlreadyRegistered,
    /// A capability that had to come with the request did not (a `Register` without the
    /// endpoint, or sent through a capability without GRANT), or the session capability
    /// did not arrive with a `Connected` (no receive slot named).
    MissingCapability,
    /// The policy does not compile or validate; the old one stays in force.
    InvalidPolicy {
        /// The line of the error in the script (0 if none applies).
        line: u32,
        /// What is wrong.
        message: String,
    },
    /// The security server ran out of memory or slots for the connection.
    OutOfResources,
    /// The request or reply could not be carried (malformed, too large, IPC failure).
    Rpc(RpcError),
}

impl From<RpcError> for SecurityError {
    fn from(error: RpcError) -> Self {
        Self::Rpc(error)
    }
}

impl core::fmt::Display for SecurityError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Denied { rule } => write!(f, "denied by {rule}"),
            Self::UnknownService => f.write_str("unknown service"),
            Self::NotPermitted => f.write_str("not permitted"),
            Self::NoSuchConnection => f.write_str("no such connection"),
            Self::AlreadyRegistered => f.write_str("service already registered"),
            Self::MissingCapability => f.write_str("missing capability"),
            Self::InvalidPolicy { line, message } => write!(f, "invalid policy, line {line}: {message}"),
            Self::OutOfResources => f.write_str("out of resources"),
            Self::Rpc(error) => write!(f, "{error}"),
        }
    }
}

/// The notices the security server sends a server about its sessions, on the endpoint the
/// server registered (with the security server's own badge, so the server can tell them
/// from its clients' requests: they carry this protocol's label).
#[derive(Debug)]
pub enum Session {}

impl Protocol for Session {
    const NAME: &'static str = "session";
    const LABEL: usize = label(*b"SESS");
    type Request = SessionNotice;
    type Response = SessionAccepted;
    type Error = SessionError;
}

/// A session opened or closed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionNotice {
    /// A client was granted a connection: requests with badge `connection` are its.
    Opened {
        /// The connection id (the badge its requests carry).
        connection: u64,
        /// The client program's path.
        client: String,
        /// The client's label.
        label: String,
        /// What the session may reach (the policy's scope for this grant).
        scope: String,
        /// Bytes of memory the client donated for the session's state.
        donation_bytes: u64,
    },
    /// The connection was revoked or its client ended: drop the session's state.
    Closed {
        /// The connection id.
        connection: u64,
    },
}

/// A server took the notice into account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionAccepted;

/// Why a server could not take a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionError {
    /// The server cannot hold another session (its reason); the connection is refused.
    Refused {
        /// Why.
        reason: String,
    },
    /// The notice could not be carried.
    Rpc(RpcError),
}

impl From<RpcError> for SessionError {
    fn from(error: RpcError) -> Self {
        Self::Rpc(error)
    }
}

#[cfg(target_arch = "riscv64")]
mod client;
#[cfg(target_arch = "riscv64")]
pub use client::SecurityClient;

#[cfg(test)]
mod tests;
