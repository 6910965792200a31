//! Rights: what a client asks a service for, as a small bit set with names.
//!
//! Each service kind understands some of the rights ([`ServiceKind::rights`]); a grant's
//! [`Scope`](crate::Scope) says where each right applies. On the wire a set is its bits; a
//! bit that names no right does not decode.
//!
//! [`ServiceKind::rights`]: crate::ServiceKind::rights

use core::fmt;

use serde::{Deserialize, Serialize};

/// A set of rights. Only bits of [`Rights::ALL`] are ever set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Rights(u32);

impl Rights {
    /// No rights.
    pub const NONE: Rights = Rights(0);
    /// fs: read files and list directories; console: read input.
    pub const READ: Rights = Rights(1 << 0);
    /// fs: change existing files; console: write output.
    pub const WRITE: Rights = Rights(1 << 1);
    /// fs: create files and directories.
    pub const CREATE: Rights = Rights(1 << 2);
    /// fs: delete files and directories.
    pub const DELETE: Rights = Rights(1 << 3);
    /// net: listen for TCP connections.
    pub const LISTEN: Rights = Rights(1 << 4);
    /// net: open TCP connections.
    pub const CONNECT: Rights = Rights(1 << 5);
    /// net: send and receive UDP datagrams.
    pub const UDP: Rights = Rights(1 << 6);
    /// proc: spawn programs.
    pub const SPAWN: Rights = Rights(1 << 7);
    /// donor: take a memory quota.
    pub const MEMORY: Rights = Rights(1 << 8);
    /// security: load a new policy.
    pub const LOAD_POLICY: Rights = Rights(1 << 9);
    /// security: read the audit trail.
    pub const AUDIT: Rights = Rights(1 << 10);
    /// ipc: call an ordinary service.
    pub const CALL: Rights = Rights(1 << 11);

    /// Every right, with the name scripts and connection lists use for it.
    pub const NAMED: [(Rights, &'static str); 12] = [
        (Rights::READ, "read"),
        (Rights::WRITE, "write"),
        (Rights::CREATE, "create"),
        (Rights::DELETE, "delete"),
        (Rights::LISTEN, "listen"),
        (Rights::CONNECT, "connect"),
        (Rights::UDP, "udp"),
        (Rights::SPAWN, "spawn"),
        (Rights::MEMORY, "memory"),
        (Rights::LOAD_POLICY, "load_policy"),
        (Rights::AUDIT, "audit"),
        (Rights::CALL, "call"),
    ];

    /// All the rights there are.
    pub const ALL: Rights = Rights((1 << 12) - 1);

    /// The set with these bits, or `None` if a bit names no right.
    pub const fn from_bits(bits: u32) -> Option<Rights> {
        if bits & !Rights::ALL.0 == 0 { Some(Rights(bits)) } else { None }
    }

    /// The bits of the set.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every right of `other` is in `self`.
    pub const fn contains(self, other: Rights) -> bool {
        other.0 & !self.0 == 0
    }

    /// Whether `self` and `other` share a right.
    pub const fn intersects(self, other: Rights) -> bool {
        self.0 & other.0 != 0
    }

    /// The rights in either set.
    #[must_use]
    pub const fn union(self, other: Rights) -> Rights {
        Rights(self.0 | other.0)
    }

    /// The rights in both sets.
    #[must_use]
    pub const fn intersection(self, other: Rights) -> Rights {
        Rights(self.0 & other.0)
    }

    /// The rights of `self` that are not in `other`.
    #[must_use]
    pub const fn difference(self, other: Rights) -> Rights {
        Rights(self.0 & !other.0)
    }

    /// Parses a list of right names separated by commas, `+` or spaces (`"read,write"`,
    /// `"read write"`). An empty list is an error: a grant or a request of nothing is a
    /// mistake.
    pub fn parse(text: &str) -> Result<Rights, RightsError<'_>> {
        let mut rights = Rights::NONE;
        for word in text.split([',', '+', ' ', '\t']).filter(|word| !word.is_empty()) {
            let named = Rights::NAMED.iter().find(|(_, name)| *name == word);
            match named {
                Some((right, _)) => rights = rights.union(*right),
                None => return Err(RightsError::Unknown(word)),
            }
        }
        if rights.is_empty() { Err(RightsError::Empty) } else { Ok(rights) }
    }
}

impl TryFrom<u32> for Rights {
    type Error = RightsError<'static>;
    fn try_from(bits: u32) -> Result<Self, RightsError<'static>> {
        Rights::from_bits(bits).ok_or(RightsError::UnknownBits(bits))
    }
}

impl From<Rights> for u32 {
    fn from(rights: Rights) -> u32 {
        rights.0
    }
}

/// Why a list of rights does not parse, or bits are no set of rights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RightsError<'a> {
    /// The list names no right.
    Empty,
    /// A word that is not the name of a right.
    Unknown(&'a str),
    /// Bits that name no right (outside [`Rights::ALL`]).
    UnknownBits(u32),
}

impl fmt::Display for RightsError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RightsError::Empty => f.write_str("no rights named"),
            RightsError::Unknown(word) => {
                write!(f, "unknown right `{word}` (rights are ")?;
                for (index, (_, name)) in Rights::NAMED.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(name)?;
                }
                f.write_str(")")
            }
            RightsError::UnknownBits(bits) => {
                write!(f, "rights {bits:#x} name bits outside {:#x}, which no right has", Rights::ALL.0)
            }
        }
    }
}

/// Names separated by commas (`read,write`), or `none`.
impl fmt::Display for Rights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let mut first = true;
        for (right, name) in Rights::NAMED {
            if self.contains(right) {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn parse_and_display_round_trip() {
        let rights = Rights::parse("write, read+delete").expect("valid list");
        assert_eq!(rights, Rights::READ.union(Rights::WRITE).union(Rights::DELETE));
        assert_eq!(rights.to_string(), "read,write,delete");
        assert_eq!(Rights::parse(&rights.to_string()), Ok(rights));
        assert_eq!(Rights::NONE.to_string(), "none");
    }

    #[test]
    fn parse_rejects_unknown_and_empty() {
        assert_eq!(Rights::parse("read,wrote"), Err(RightsError::Unknown("wrote")));
        assert_eq!(Rights::parse(" , "), Err(RightsError::Empty));
        assert!(RightsError::Unknown("x").to_string().contains("load_policy"));
    }

    #[test]
    fn set_operations() {
        let rw = Rights::READ.union(Rights::WRITE);
        assert!(rw.contains(Rights::READ));
        assert!(!Rights::READ.contains(rw));
        assert_eq!(rw.difference(Rights::READ), Rights::WRITE);
        assert_eq!(rw.intersection(Rights::WRITE), Rights::WRITE);
        assert!(Rights::from_bits(1 << 12).is_none());
        assert_eq!(Rights::from_bits(Rights::ALL.bits()), Some(Rights::ALL));
        let all = Rights::NAMED.iter().fold(Rights::NONE, |acc, (r, _)| acc.union(*r));
        assert_eq!(all, Rights::ALL);
    }

    #[test]
    fn the_wire_carries_bits_and_refuses_unknown_ones() {
        let rights = Rights::READ.union(Rights::SPAWN);
        let bytes = postcard::to_allocvec(&rights).expect("serializes");
        // The same bytes as the plain `u32` the wire carried before the type.
        assert_eq!(bytes, postcard::to_allocvec(&rights.bits()).expect("serializes"));
        assert_eq!(postcard::from_bytes::<Rights>(&bytes), Ok(rights));
        for bits in [1u32 << 12, u32::MAX, Rights::ALL.bits() + 1] {
            let bytes = postcard::to_allocvec(&bits).expect("serializes");
            assert!(postcard::from_bytes::<Rights>(&bytes).is_err(), "{bits:#x} should not decode");
            assert_eq!(Rights::try_from(bits), Err(RightsError::UnknownBits(bits)));
        }
        assert!(RightsError::UnknownBits(1 << 12).to_string().contains("0x1000"));
    }
}
