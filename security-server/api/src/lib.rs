//! The security server's interface (DESIGN.md §5): programs ask it for connections to
//! services, servers register with it, the shell lists and revokes connections and loads
//! policies; the process manager admits the processes it builds; registered servers take
//! the [`SessionNotice`]s about connections to them.
//!
//! Protocol [`Security`] (label `SECU`), carried by `userlib::rpc` (postcard in one
//! message). Rights and scopes travel typed, as the `grant` crate's [`Rights`] and
//! [`Scope`]: a server asks a session's scope what it allows instead of parsing text.
//!
//! Operations, with the capability they carry, whether they block, and whether repeating
//! them is harmless (idempotent):
//!
//! | request | capability | answer | idempotent |
//! | --- | --- | --- | --- |
//! | `Connect` | reply carries the session capability: a badged copy of the service's endpoint, badge = connection id | `Connected` | no: each call opens a new connection |
//! | `Register` | request carries the server's endpoint (with GRANT) | `Registered` | no: a second registration is `AlreadyRegistered` |
//! | `Subscribe` (registered servers) | request carries a notification the security server signals when a session closed (opened sessions' notices wait for the server to take them before it serves their first request) | `Subscribed` | yes: the last one counts |
//! | `Revoke` | none | `Revoked` | yes, but the second is `NoSuchConnection` |
//! | `ListConnections` | none | `Connections` (a page; `more` says whether to ask again after the last id) | yes |
//! | `LoadPolicy` | none | `PolicyLoaded` | yes |
//! | `Admit` (process manager only) | reply carries the new process's security session capability | `Admitted` | no: each call admits a new process |
//! | `Depart` (process manager only) | none | `Departed` | yes, but the second is `NoSuchConnection` |
//! | `Notices` (registered servers) | none | `Notices` (a page; `more` says whether to ask again) | no: notices are taken |
//! | `ReadAudit` (programs with `audit` or `load_policy`) | none | `Audit` (a page of the kept trail; `more` says whether to ask again after the last) | yes |
//!
//! None of them blocks beyond the security server's own work, and the security server
//! calls nobody but the resource donor (which calls nobody): it tells a server about
//! sessions by signalling the notification it handed out at registration, and the server
//! takes the notices with `Notices`. Calls between servers therefore never go round in a
//! circle, so no two servers can wait for each other. Every grant, denial, revocation and
//! policy load is also an audit event (target `audit`).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;

use grant::{Rights, Scope};
use serde::{Deserialize, Serialize};
use userlib::rpc::{Protocol, RpcError, label};

/// The first client id of a process the process manager admits (`Admit`); ids below are
/// the boot servers, numbered by the manifest from 1.
pub const FIRST_SPAWNED_CLIENT: u64 = 1000;

/// The first connection id: connection ids are badges on servers' endpoints, where the
/// manifest's badges (boot server numbers) lie below, so a server tells a session from a
/// manifest client by the badge alone.
pub const FIRST_CONNECTION: u64 = 1 << 16;

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
    /// Opens a connection to `service` with `rights` (which of them a service understands
    /// depends on its kind: `grant::ServiceKind::rights`). The policy decides from the
    /// caller's label; if allowed, the reply carries the session capability, so the caller
    /// names a receive slot.
    Connect {
        /// The service's registered name (`"fs"`, `"net"`, `"console"`, ...).
        service: String,
        /// The rights asked for (bits that name no right do not decode: `Malformed`).
        rights: Rights,
    },
    /// Registers the caller as the server of `service`; the request carries its endpoint
    /// capability (the security server mints session capabilities from it). Only programs
    /// the policy lets serve `service` may.
    Register {
        /// The service's name.
        service: String,
        /// What a session costs the server, in bytes: each client that connects donates
        /// this much of its quota for its session's state (0: sessions are free).
        session_bytes: u64,
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
    /// The process manager built a process of `program` (its name in the boot archive or
    /// its path), started by the client of connection `parent_connection` (one of the
    /// process manager's sessions; 0: by the process manager itself). The policy labels
    /// it; the reply carries its security session capability, the one capability it
    /// starts with.
    Admit {
        /// The program.
        program: String,
        /// The connection the spawn request came through, or 0.
        parent_connection: u64,
    },
    /// Process `client` (an id `Admit` returned) ended: its connections close and its
    /// session capability is revoked.
    Depart {
        /// The client id.
        client: u64,
    },
    /// The caller's session notices that are waiting (a registered server, after its
    /// notification was signalled).
    Notices,
    /// The caller (a registered server) wants session notices from now on; the request
    /// carries the notification to signal (WRITE; the server chooses its badge, so it can
    /// share a notification already bound to its thread, say for interrupts).
    Subscribe,
    /// The audit trail's records after sequence number `after` (0 for the oldest kept).
    /// For programs the policy gives `audit` (or `load_policy`) on the `security` service.
    ReadAudit {
        /// The last sequence number of the previous page, or 0.
        after: u64,
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
    /// Session notices will be signalled.
    Subscribed,
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
    /// The process is admitted; the reply carries its session capability.
    Admitted {
        /// Its client id (the session capability's badge).
        client: u64,
        /// Its label, as the policy writes it.
        label: String,
    },
    /// The process's connections are closed.
    Departed {
        /// How many were open.
        closed: u32,
    },
    /// Session notices, oldest first.
    Notices {
        /// The notices.
        notices: Vec<SessionNotice>,
        /// Whether more are waiting.
        more: bool,
    },
    /// A page of the audit trail, oldest first.
    Audit {
        /// The records.
        records: Vec<AuditRecord>,
        /// Whether more follow the last.
        more: bool,
    },
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
    pub rights: Rights,
    /// What the session may reach: the grant's scope narrowed to `rights` (its `Display`
    /// is the policy's text, `fs /www read`).
    pub scope: Scope,
    /// Bytes of the client's quota donated to the server for the session.
    pub donation_bytes: u64,
}

/// An audit record: every grant, denial, revocation and policy load. The security server
/// writes each as a `tracing` event (target `audit`) and keeps the latest for `ReadAudit`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Audit {
    /// A connection was granted.
    Grant {
        /// The connection id.
        connection: u64,
        /// The client program.
        client: String,
        /// Its label.
        label: String,
        /// The service.
        service: String,
        /// The rule that allowed it (`the grant of ... at line:col`).
        rule: String,
    },
    /// A connection was refused.
    Deny {
        /// The client program.
        client: String,
        /// Its label (empty if the caller is unknown).
        label: String,
        /// The service.
        service: String,
        /// Why, naming the rule.
        rule: String,
    },
    /// A connection was revoked.
    Revoke {
        /// The connection id.
        connection: u64,
        /// Why (asked for by whom, or the policy swap's reason).
        why: String,
    },
    /// A connection closed because its client ended (its capabilities went with it).
    End {
        /// The connection id.
        connection: u64,
        /// The client program.
        client: String,
    },
    /// A policy came into force.
    PolicyLoad {
        /// Its content hash.
        hash: String,
        /// Connections kept and revoked.
        kept: u32,
        /// Connections revoked.
        revoked: u32,
    },
}

/// A kept audit record and its sequence number (from 1, in the order they happened).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Its place in the trail.
    pub seq: u64,
    /// What happened.
    pub event: Audit,
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
    /// The client's quota cannot pay for the session the server charges.
    QuotaExceeded {
        /// What the session costs.
        needed: u64,
        /// What the client has free.
        free: u64,
    },
}

impl From<RpcError> for SecurityError {
    fn from(error: RpcError) -> Self {
        Self::Rpc(error)
    }
}

impl core::fmt::Display for SecurityError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Denied { rule } => write!(f, "denied: {rule}"),
            Self::UnknownService => f.write_str("unknown service"),
            Self::NotPermitted => f.write_str("not permitted"),
            Self::NoSuchConnection => f.write_str("no such connection"),
            Self::AlreadyRegistered => f.write_str("service already registered"),
            Self::MissingCapability => f.write_str("missing capability"),
            Self::InvalidPolicy { line, message } => write!(f, "invalid policy, line {line}: {message}"),
            Self::OutOfResources => f.write_str("out of resources"),
            Self::Rpc(error) => write!(f, "{error}"),
            Self::QuotaExceeded { needed, free } => {
                write!(f, "quota exceeded: the session costs {needed} bytes, {free} are free")
            }
        }
    }
}

/// A session opened or closed: what a registered server takes with `Notices`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionNotice {
    /// A client was granted a connection: requests with badge `connection` are its.
    Opened {
        /// The connection id (the badge its requests carry).
        connection: u64,
        /// The client's id (the same for all its connections).
        client_id: u64,
        /// The rights granted.
        rights: Rights,
        /// The client program's path.
        client: String,
        /// The client's label.
        label: String,
        /// What the session may reach: the grant's scope narrowed to `rights`. The server
        /// asks it (`scope.allows(path, op)`, `scope.allows_listen(port)`, ...) for each
        /// request.
        scope: Scope,
        /// Bytes of memory the client donated for the session's state.
        donation_bytes: u64,
    },
    /// The connection was revoked or its client ended: drop the session's state.
    Closed {
        /// The connection id.
        connection: u64,
    },
}

#[cfg(target_arch = "riscv64")]
mod client;
#[cfg(target_arch = "riscv64")]
pub use client::SecurityClient;

#[cfg(test)]
mod tests;
