//! Why a piece of a scope does not parse, does not fit its kind, or is not normal.

use alloc::string::String;
use core::fmt;

use crate::{Rights, ServiceKind};

/// Why a piece of a scope does not parse or does not fit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScopeError {
    /// A path that is not absolute and normal (`/www`, not `www`, `/a//b` or `/a/../b`).
    BadPath {
        /// The text given.
        text: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A port or port range that does not parse (`80`, `8000-8080`, `*`).
    BadPorts(String),
    /// An address or network that does not parse (`10.0.2.2`, `10.0.0.0/8`, `*`).
    BadAddress(String),
    /// A destination that is not `ADDRESS:PORTS`.
    BadDestination(String),
    /// A program pattern that is not a path, `DIR/*` or `*`.
    BadPattern(String),
    /// A list of rights that does not parse.
    BadRights(String),
    /// Rights that a service of this kind does not understand.
    RightsNotForKind {
        /// The kind of scope.
        kind: ServiceKind,
        /// The rights it does not understand.
        rights: Rights,
    },
    /// A memory amount that is zero, does not parse, or is too large.
    BadMemory(String),
    /// A scope (deserialized) that is not in normal form or holds rights its kind does
    /// not understand; scopes made by this crate never are.
    NotNormal(ServiceKind),
}

impl fmt::Display for ScopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeError::BadPath { text, why } => write!(f, "bad path `{text}`: {why}"),
            ScopeError::BadPorts(text) => {
                write!(f, "bad ports `{text}` (expected a port 1-65535, a range like 8000-8080, or *)")
            }
            ScopeError::BadAddress(text) => {
                write!(f, "bad address `{text}` (expected an IPv4 address, a network like 10.0.0.0/8, or *)")
            }
            ScopeError::BadDestination(text) => {
                write!(f, "bad destination `{text}` (expected ADDRESS:PORTS, like 10.0.2.2:80 or *:443)")
            }
            ScopeError::BadPattern(text) => {
                write!(f, "bad program pattern `{text}` (expected /path, /dir/* or *)")
            }
            ScopeError::BadRights(why) => write!(f, "bad rights: {why}"),
            ScopeError::RightsNotForKind { kind, rights } => write!(
                f,
                "a {kind} scope cannot hold {rights} (a {kind} service understands {})",
                kind.rights()
            ),
            ScopeError::BadMemory(text) => write!(
                f,
                "bad memory amount `{text}` (expected bytes or a number with K, M or G, at most 1T, not 0)"
            ),
            ScopeError::NotNormal(kind) => {
                write!(f, "a {kind} scope that is not in normal form or holds rights it cannot")
            }
        }
    }
}

impl core::error::Error for ScopeError {}
