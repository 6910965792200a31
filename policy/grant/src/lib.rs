//! What a connection grants: [`Rights`] and the [`Scope`] of one session, as plain serde
//! types, and the questions a server asks of a scope.
//!
//! The security server decides a connection from the policy and sends the session's
//! server the typed scope (in `security_api::SessionNotice::Opened`); the server asks it,
//! request by request, instead of parsing text:
//!
//! | service | question |
//! | --- | --- |
//! | fs | [`Scope::allows`]`(path, FsOp)`, [`Scope::fs_rights_at`], on a path the server normalised once with [`FsPath::normalize`] |
//! | net | [`Scope::allows_listen`], [`Scope::allows_connect`], [`Scope::allows_udp`] |
//! | proc | [`Scope::allows_spawn`] |
//! | console | [`Scope::allows_console`]`(ConsoleOp)` |
//! | donor | [`Scope::memory_quota`] |
//! | ipc | [`Scope::allows_call`] |
//!
//! A separate crate because everything that talks about grants needs these types but not
//! the policy compiler: `policy` (rhai, about 650 KB) re-exports them for the compiled
//! policy and the compiler, and only the security server and the image builder link it.
//! `no_std` + `alloc`, and serde is the one dependency.
//!
//! Layout: [`rights`] (the bit set), [`kind`] (service kinds), [`error`], one module per
//! kind of service ([`fs`], [`net`], [`proc`], [`console`], [`memory`]) holding its parts
//! and its questions, and [`scope`], the sum of them with what applies to every kind
//! (merge, restrict, compare, display).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod console;
pub mod error;
pub mod fs;
pub mod kind;
pub mod memory;
pub mod net;
pub mod proc;
pub mod rights;
pub mod scope;

pub use console::ConsoleOp;
pub use error::ScopeError;
pub use fs::{FsOp, FsPath, MAX_PATH_LEN, Subtree};
pub use kind::ServiceKind;
pub use memory::{MAX_MEMORY, format_memory, parse_memory};
pub use net::{Destination, Ipv4Net, PortRange};
pub use proc::ProgramPattern;
pub use rights::{Rights, RightsError};
pub use scope::{MergeError, Scope, ScopeItem};

/// Builders the unit tests of every module share (inputs known to be valid).
#[cfg(test)]
mod testing {
    use crate::{FsPath, Rights, Scope};

    /// A path the test knows is valid.
    pub(crate) fn path(text: &str) -> FsPath {
        FsPath::parse(text).expect("test paths are valid")
    }

    /// Rights the test knows are valid.
    pub(crate) fn rights(text: &str) -> Rights {
        Rights::parse(text).expect("test rights are valid")
    }

    /// An fs scope the test knows is valid.
    pub(crate) fn fs(p: &str, r: &str) -> Scope {
        Scope::fs(path(p), rights(r)).expect("test scopes are valid")
    }
}
