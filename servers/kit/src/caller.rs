//! Who sent a message, from its badge.
//!
//! Badges are assigned in three ranges that never overlap: the root task badges a
//! server's manifest capabilities with the client server's number (1 onwards, below
//! [`FIRST_CONNECTION`]); the security server badges session capabilities with their
//! connection id ([`FIRST_CONNECTION`] onwards, below [`FAULT_BADGE`]); a server that
//! builds processes (the process manager) badges their fault endpoints from
//! [`FAULT_BADGE`].

use security_api::FIRST_CONNECTION;

/// The first badge of a fault endpoint: `FAULT_BADGE + n` is process `n`'s.
pub const FAULT_BADGE: u64 = 1 << 40;

/// The sender of a request or fault message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// A server of the manifest, by its number (1 for the first).
    Manifest(u64),
    /// A session the security server granted, by connection id.
    Session(u64),
    /// A process's fault endpoint (fault and exit messages), by the number its builder
    /// minted it with.
    Fault(u64),
}

impl Caller {
    /// The caller a badge names.
    pub const fn from_badge(badge: u64) -> Self {
        if badge >= FAULT_BADGE {
            Self::Fault(badge - FAULT_BADGE)
        } else if badge >= FIRST_CONNECTION {
            Self::Session(badge)
        } else {
            Self::Manifest(badge)
        }
    }

    /// The badge this caller's messages carry.
    pub const fn badge(self) -> u64 {
        match self {
            Self::Manifest(number) => number,
            Self::Session(connection) => connection,
            Self::Fault(number) => FAULT_BADGE + number,
        }
    }

    /// The connection id, for a session.
    pub const fn connection(self) -> Option<u64> {
        match self {
            Self::Session(connection) => Some(connection),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badges_name_their_range() {
        assert_eq!(Caller::from_badge(0), Caller::Manifest(0));
        assert_eq!(Caller::from_badge(3), Caller::Manifest(3));
        assert_eq!(Caller::from_badge(FIRST_CONNECTION - 1), Caller::Manifest(FIRST_CONNECTION - 1));
        assert_eq!(Caller::from_badge(FIRST_CONNECTION), Caller::Session(FIRST_CONNECTION));
        assert_eq!(Caller::from_badge(FAULT_BADGE - 1), Caller::Session(FAULT_BADGE - 1));
        assert_eq!(Caller::from_badge(FAULT_BADGE), Caller::Fault(0));
        assert_eq!(Caller::from_badge(FAULT_BADGE + 7), Caller::Fault(7));
    }

    #[test]
    fn a_caller_gives_back_its_badge() {
        for badge in [1, FIRST_CONNECTION, FIRST_CONNECTION + 5, FAULT_BADGE, FAULT_BADGE + 9] {
            assert_eq!(Caller::from_badge(badge).badge(), badge);
        }
        assert_eq!(Caller::from_badge(FIRST_CONNECTION + 5).connection(), Some(FIRST_CONNECTION + 5));
        assert_eq!(Caller::from_badge(2).connection(), None);
    }
}
