//! The resource donor's interface (DESIGN.md §6): quotas, donations to sessions, and the
//! system's memory.
//!
//! Protocol [`Donor`] (label `DONR`), carried by `userlib::rpc` (postcard in one message).
//!
//! | request | answer | blocks | idempotent |
//! | --- | --- | --- | --- |
//! | `Quota` | `Quota` | no | yes |
//! | `Donate` | `Donated` | no | no: each call donates again |
//! | `Reclaim` | `Reclaimed` | no | yes (the second reclaims 0 bytes) |
//! | `Free` | `Memory` (a page of processes; `more` says whether to ask again after the last pid) | no | yes |
//!
//! A donation moves part of the caller's quota to the server of one of its connections,
//! for that session's state; ending or revoking the session gives it back. The kernel does
//! not transfer Untyped capabilities over IPC, so how the donated memory reaches the server
//! (the donor retyping on the server's behalf, or handing it frames) is the donor's
//! business, not this interface's.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

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
    /// The caller's quota.
    Quota,
    /// Donates `bytes` of the caller's quota to the server of connection `to_connection`
    /// (one of the caller's own).
    Donate {
        /// The connection id.
        to_connection: u64,
        /// Bytes (rounded up to pages).
        bytes: u64,
    },
    /// Takes back everything donated to connection `connection` (its session ended).
    Reclaim {
        /// The connection id.
        connection: u64,
    },
    /// The system's memory, with the processes above pid `after` (0 for the first page).
    Free {
        /// The last pid of the previous page, or 0.
        after: u32,
    },
}

/// What the donor answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The caller's quota.
    Quota(QuotaInfo),
    /// The donation was made.
    Donated {
        /// Bytes donated (after rounding).
        bytes: u64,
    },
    /// The donation came back.
    Reclaimed {
        /// Bytes returned to the caller's quota.
        bytes: u64,
    },
    /// The system's memory.
    Memory(MemoryInfo),
}

/// One process's quota.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaInfo {
    /// Bytes granted at spawn.
    pub granted: u64,
    /// Bytes in use (its own objects and frames, and its donations).
    pub used: u64,
    /// Bytes left.
    pub free: u64,
}

/// The system's memory, as `free` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryInfo {
    /// Bytes of RAM the donor manages.
    pub total: u64,
    /// Bytes not granted to anyone.
    pub free: u64,
    /// A page of processes, in pid order.
    pub per_process: Vec<ProcessMemory>,
    /// Whether there are more processes after the last one.
    pub more: bool,
}

/// One process's share.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessMemory {
    /// The process.
    pub pid: u32,
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
    /// The caller has no connection with that id.
    NoSuchConnection,
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
            Self::NoSuchConnection => f.write_str("no such connection"),
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
