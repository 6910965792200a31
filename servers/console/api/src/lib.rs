//! The console server's interface: write to and read from the terminal, choose which
//! process has the foreground, and learn of Ctrl-C.
//!
//! Protocol [`Console`] (label `CONS`), carried by `userlib::rpc` (postcard in one
//! message).
//!
//! | request | capability | answer | blocks | idempotent |
//! | --- | --- | --- | --- | --- |
//! | `Write` | none | `Written` | no (output is buffered or dropped, never waited for) | no: the bytes appear twice |
//! | `Read` | none | `Data` | until at least one byte of input (or Ctrl-C: `Interrupted`) | no: input is consumed |
//! | `SetForeground` | optional: a notification to signal on Ctrl-C | `ForegroundSet` | no | yes |
//!
//! **Interrupts.** Ctrl-C typed on the terminal is not input: the console signals the
//! notification the foreground was given with (`SetForeground` with a notification
//! capability attached), and a pending `Read` of the foreground ends with `Interrupted`.
//! The notification's badge is whatever its holder minted, so the foreground can tell
//! Ctrl-C from its other signals.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;

use serde::{Deserialize, Serialize};
use userlib::rpc::{MAX_PAYLOAD_BYTES, Protocol, RpcError, label};

/// The console's protocol.
#[derive(Debug)]
pub enum Console {}

impl Protocol for Console {
    const NAME: &'static str = "console";
    const LABEL: usize = label(*b"CONS");
    type Request = Request;
    type Response = Response;
    type Error = ConsoleError;
}

/// Most bytes one `Write` carries (and one `Data` answer): the payload less the variant
/// tags and the length prefix. The client wrapper splits longer writes.
pub const MAX_CHUNK_BYTES: usize = MAX_PAYLOAD_BYTES - 8;

/// What programs ask the console.
///
/// Variants are only ever added at the end (postcard numbers them by position).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Writes `bytes` to the terminal (at most [`MAX_CHUNK_BYTES`]). A `\n` not directly
    /// after a `\r` goes out as `\r\n` (as a terminal with `ONLCR`); every other byte goes
    /// out unchanged, so terminal output that says `\r\n` itself passes as it is.
    Write {
        /// The bytes.
        #[serde(with = "userlib::rpc::bytes")]
        bytes: Vec<u8>,
    },
    /// Reads at most `max` bytes of input, waiting until there is at least one. Only the
    /// foreground process may read; others get `NotForeground`.
    Read {
        /// Most bytes wanted (more than [`MAX_CHUNK_BYTES`] reads that many).
        max: u32,
    },
    /// Gives the foreground (input and Ctrl-C) to process `client`: every session of that
    /// process may read. The request may carry a notification capability, signalled on
    /// Ctrl-C while `client` is the foreground. Only the controlling process (the first to
    /// set the foreground: the shell) may.
    SetForeground {
        /// The process, by its security client id (the process manager's `Spawned` says
        /// it; a session the security server did not open is its own client, its badge);
        /// 0: the calling process itself (the shell taking the terminal back).
        client: u64,
    },
}

/// What the console answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The bytes were taken.
    Written {
        /// How many.
        count: u32,
    },
    /// Input.
    Data(#[serde(with = "userlib::rpc::bytes")] Vec<u8>),
    /// The foreground changed.
    ForegroundSet,
}

/// Why the console refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsoleError {
    /// Only the foreground process may read.
    NotForeground,
    /// This session may not do that (set the foreground).
    NotPermitted,
    /// Another read of this session is already waiting.
    Busy,
    /// Ctrl-C ended the read.
    Interrupted,
    /// The request or reply could not be carried (malformed, too large, IPC failure).
    Rpc(RpcError),
}

impl From<RpcError> for ConsoleError {
    fn from(error: RpcError) -> Self {
        Self::Rpc(error)
    }
}

impl core::fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NotForeground => f.write_str("not the foreground process"),
            Self::NotPermitted => f.write_str("not permitted"),
            Self::Busy => f.write_str("a read is already waiting"),
            Self::Interrupted => f.write_str("interrupted"),
            Self::Rpc(error) => write!(f, "{error}"),
        }
    }
}

#[cfg(target_arch = "riscv64")]
mod client;
#[cfg(target_arch = "riscv64")]
pub use client::ConsoleClient;

#[cfg(test)]
mod tests;
