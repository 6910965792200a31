//! The resource donor's interface (DESIGN.md §6): process quotas, donations to sessions,
//! and the system's memory.
//!
//! Protocol [`Donor`] (label `DONR`), carried by `userlib::rpc` (postcard in one message).
//!
//! | request | who may | answer | blocks | idempotent |
//! | --- | --- | --- | --- | --- |
//! | `Grant` | the process manager | `Granted`; the reply moves the quota's Untyped to the caller | no | no: each call grants again |
//! | `Report` | the process manager | `Reported` | no | yes |
//! | `Release` | the process manager | `Released` | no | yes (the second is `NoSuchClient`) |
//! | `Charge` | the security server | `Charged` | no | no: each call charges again |
//! | `Reclaim` | the security server | `Reclaimed` | no | yes (the second reclaims 0 bytes) |
//! | `Take` | the server of the connection | `Taken`; the reply moves the session's Untyped to the caller | no | no: the second is `NotPermitted` |
//! | `Budget` | the process manager | `Budget`; the reply carries a scheduling context for the process's thread | no | no: each call makes another |
//! | `Free` | anyone with a session | `Memory` (a page of processes; `more` says whether to ask again after the last pid) | no | yes |
//!
//! "Who may" is the manifest's business: the process manager and the security server get
//! their endpoint to the donor from the manifest (`uses = ["donor"]`), and the donor takes
//! the privileged requests only through those; everyone else reaches it through a session
//! from the security server, where only `Free` is answered.
//!
//! A process's quota is real memory: a chunk the donor carves from the memory it owns. Half
//! of it, the process's own memory, is an Untyped the donor moves to the process manager,
//! which builds the process from it; the other half pays for its sessions. Opening a
//! session (the server says what one costs when it registers) carves that much out of the
//! client's half as an Untyped of its own, set aside for the connection; the connection's
//! server takes it (`Take`: a child Untyped, moved to it) for the session's state. Closing
//! or revoking the session gives it back: the donor revokes it, so nothing the server made
//! from it survives, and the client may spend it again. The process's end releases the
//! whole quota (the donor revokes the chunk).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};
use userlib::rpc::{Protocol, RpcError, label};

/// The donor's protocol.
#[derive(Debug)]
pub enum Donor {}

impl Protocol for Donor {
    const NAME: &'static str = "donor";
    const LABEL: usize = label(*b"DONR");
    type Request = Request;
    type Response = Response;
    type Error = DonorError;
}

/// What programs ask the donor.
///
/// Variants are only ever added at the end (postcard numbers them by position).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// A quota of `bytes` (at most one chunk, 4 MiB) for process `pid` of `program`,
    /// security client `client`; the reply moves the process's own half of it, an
    /// Untyped, to the caller's receive slot (the other half pays for its sessions).
    Grant {
        /// The process's security client id.
        client: u64,
        /// Its pid.
        pid: u32,
        /// Its program.
        program: String,
        /// Bytes asked for.
        bytes: u64,
    },
    /// The process built from client `client`'s quota uses `bytes` of it (image, stack,
    /// heap, kernel objects).
    Report {
        /// The client id.
        client: u64,
        /// Bytes in use.
        bytes: u64,
    },
    /// Process `client` ended: its whole quota comes back.
    Release {
        /// The client id.
        client: u64,
    },
    /// Client `client` opens connection `connection`, whose server charges `bytes` a
    /// session: they move from the client's quota to the connection.
    Charge {
        /// The client id.
        client: u64,
        /// Its program (named in the books of a boot server, which has no quota).
        program: String,
        /// The connection id.
        connection: u64,
        /// Bytes the session costs.
        bytes: u64,
        /// The client id of the connection's server (the one that may `Take` it).
        server: u64,
    },
    /// Connection `connection` closed: what it was charged goes back to its client.
    Reclaim {
        /// The connection id.
        connection: u64,
    },
    /// The system's memory, with the accounts of clients above `after` (0 for the first
    /// page).
    Free {
        /// The last client id of the previous page, or 0.
        after: u64,
    },
    /// The memory donated for connection `connection`, to its server (the caller): the reply
    /// moves an Untyped of the session's cost to the caller's receive slot.
    Take {
        /// The connection id.
        connection: u64,
    },
    /// A CPU budget for process `client`: a scheduling context made from its quota and
    /// configured with the donor's share for a process, carried by the reply.
    Budget {
        /// The client id.
        client: u64,
    },
}

/// What the donor answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The quota is granted; the reply carries its Untyped.
    Granted {
        /// Bytes granted (after rounding).
        bytes: u64,
    },
    /// The use is recorded.
    Reported,
    /// The quota came back.
    Released {
        /// Bytes returned to the free memory.
        bytes: u64,
    },
    /// The session is paid for.
    Charged,
    /// The donation came back.
    Reclaimed {
        /// Bytes returned to the client's quota.
        bytes: u64,
    },
    /// The system's memory.
    Memory(MemoryInfo),
    /// The session's memory; the reply carries its Untyped.
    Taken {
        /// Its size in bytes.
        bytes: u64,
    },
    /// The process's CPU budget; the reply carries its scheduling context.
    Budget {
        /// Microseconds of CPU in each period.
        budget_us: u32,
        /// The period, in microseconds.
        period_us: u32,
    },
}

/// One process's quota.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaInfo {
    /// Bytes granted at spawn.
    pub granted: u64,
    /// Bytes in use by its own objects and frames.
    pub used: u64,
    /// Bytes neither in use nor donated.
    pub free: u64,
}

/// The system's memory, as `free` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryInfo {
    /// Bytes of RAM the donor manages.
    pub total: u64,
    /// Bytes not granted to anyone.
    pub free: u64,
    /// A page of accounts, in client id order.
    pub per_process: Vec<ProcessMemory>,
    /// Whether there are more processes after the last one.
    pub more: bool,
}

/// One process's share (or a boot server's allowance for sessions: pid 0, no memory).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessMemory {
    /// Its security client id.
    pub client: u64,
    /// The process (0: a boot server).
    pub pid: u32,
    /// Its program.
    pub program: String,
    /// Its quota.
    pub quota: QuotaInfo,
    /// Bytes it has donated to sessions.
    pub donated: u64,
}

/// Why the donor refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DonorError {
    /// The caller's quota does not have that much free.
    QuotaExceeded {
        /// Bytes it has free.
        free: u64,
    },
    /// No process has that client id.
    NoSuchClient,
    /// That connection is already charged.
    AlreadyCharged,
    /// The caller may not do that.
    NotPermitted,
    /// The system has no memory left to back the request.
    OutOfMemory,
    /// The request or reply could not be carried (malformed, too large, IPC failure).
    Rpc(RpcError),
}

impl From<RpcError> for DonorError {
    fn from(error: RpcError) -> Self {
        Self::Rpc(error)
    }
}

impl core::fmt::Display for DonorError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::QuotaExceeded { free } => write!(f, "quota exceeded ({free} bytes free)"),
            Self::NoSuchClient => f.write_str("no such client"),
            Self::AlreadyCharged => f.write_str("connection already charged"),
            Self::NotPermitted => f.write_str("not permitted"),
            Self::OutOfMemory => f.write_str("out of memory"),
            Self::Rpc(error) => write!(f, "{error}"),
        }
    }
}

#[cfg(target_arch = "riscv64")]
mod client;
#[cfg(target_arch = "riscv64")]
pub use client::DonorClient;

#[cfg(test)]
mod tests;
