//! Kinds of service: which rights each understands and what its scopes hold.

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::Rights;

/// The kind of a service: which rights it understands and what its scopes hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ServiceKind {
    /// A filesystem: subtrees with read / write / create / delete.
    Fs,
    /// The network: TCP listen ports, TCP connect destinations, UDP destinations.
    Net,
    /// The console: read input, write output.
    Console,
    /// The process manager: which programs may be spawned.
    Proc,
    /// The resource donor: a memory quota.
    Donor,
    /// The security server itself: loading policies, reading the audit trail.
    Security,
    /// Any other service: the right to call it.
    Ipc,
}

impl ServiceKind {
    /// Every kind, with the name scripts use for it.
    pub const NAMED: [(ServiceKind, &'static str); 7] = [
        (ServiceKind::Fs, "fs"),
        (ServiceKind::Net, "net"),
        (ServiceKind::Console, "console"),
        (ServiceKind::Proc, "proc"),
        (ServiceKind::Donor, "donor"),
        (ServiceKind::Security, "security"),
        (ServiceKind::Ipc, "ipc"),
    ];

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<ServiceKind> {
        ServiceKind::NAMED.iter().find(|(_, n)| *n == name).map(|(kind, _)| *kind)
    }

    /// The name scripts use for this kind.
    pub fn name(self) -> &'static str {
        ServiceKind::NAMED.iter().find(|(kind, _)| *kind == self).map_or("?", |(_, name)| name)
    }

    /// The rights a service of this kind understands.
    pub const fn rights(self) -> Rights {
        match self {
            ServiceKind::Fs => Rights::READ.union(Rights::WRITE).union(Rights::CREATE).union(Rights::DELETE),
            ServiceKind::Net => Rights::LISTEN.union(Rights::CONNECT).union(Rights::UDP),
            ServiceKind::Console => Rights::READ.union(Rights::WRITE),
            ServiceKind::Proc => Rights::SPAWN,
            ServiceKind::Donor => Rights::MEMORY,
            ServiceKind::Security => Rights::LOAD_POLICY.union(Rights::AUDIT),
            ServiceKind::Ipc => Rights::CALL,
        }
    }
}

impl fmt::Display for ServiceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_rights_are_disjoint_where_they_must_be() {
        for (kind, name) in ServiceKind::NAMED {
            assert_eq!(ServiceKind::parse(name), Some(kind));
            assert_eq!(kind.name(), name);
            assert!(!kind.rights().is_empty(), "{kind} understands no right");
        }
        assert_eq!(ServiceKind::parse("disk"), None);
        // Rights outside fs and console are each understood by one kind only.
        let kinds = ServiceKind::NAMED.map(|(kind, _)| kind);
        for (right, name) in Rights::NAMED {
            let understood = kinds.iter().filter(|kind| kind.rights().contains(right)).count();
            let expected = if right == Rights::READ || right == Rights::WRITE { 2 } else { 1 };
            assert_eq!(understood, expected, "{name}");
        }
    }
}
