//! Console scopes, and the scopes of other services whose rights have no finer structure
//! (the security server's, an ordinary ipc service's): a set of rights. The console asks
//! [`Scope::allows_console`]; an ordinary service asks [`Scope::allows_call`].
//!
//! Invariant: the rights are ones the scope's kind understands.

use crate::scope::Part;
use crate::{Rights, Scope, ScopeError, ServiceKind};

/// What a console session does, and the right it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConsoleOp {
    /// Read typed input: [`Rights::READ`].
    Read,
    /// Write output: [`Rights::WRITE`].
    Write,
}

impl ConsoleOp {
    /// The right the operation needs.
    pub const fn right(self) -> Rights {
        match self {
            ConsoleOp::Read => Rights::READ,
            ConsoleOp::Write => Rights::WRITE,
        }
    }
}

/// Plain scopes and the console's and ordinary services' questions.
impl Scope {
    /// console, security or ipc: `rights` with no finer structure.
    pub fn plain(kind: ServiceKind, rights: Rights) -> Result<Scope, ScopeError> {
        let part = match kind {
            ServiceKind::Console => Part::Console(rights),
            ServiceKind::Security => Part::Security(rights),
            ServiceKind::Ipc => Part::Ipc(rights),
            ServiceKind::Fs | ServiceKind::Net | ServiceKind::Proc | ServiceKind::Donor => {
                return Err(ScopeError::RightsNotForKind { kind, rights });
            }
        };
        Scope::check_rights(kind, rights)?;
        Ok(Scope::from_part(part))
    }

    /// console: whether the session may do `op` (read input, write output). Any other kind
    /// of scope allows neither.
    pub fn allows_console(&self, op: ConsoleOp) -> bool {
        matches!(self.part(), Part::Console(rights) if rights.contains(op.right()))
    }

    /// ipc: whether the session may call the service. Any other kind of scope does not.
    pub fn allows_call(&self) -> bool {
        matches!(self.part(), Part::Ipc(rights) if rights.contains(Rights::CALL))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn console(text: &str) -> Scope {
        Scope::plain(ServiceKind::Console, Rights::parse(text).expect("valid")).expect("valid")
    }

    #[test]
    fn the_console_asks_the_scope() {
        let cases = [
            ("read write", ConsoleOp::Read, true),
            ("read write", ConsoleOp::Write, true),
            ("write", ConsoleOp::Read, false),
            ("write", ConsoleOp::Write, true),
            ("read", ConsoleOp::Read, true),
            ("read", ConsoleOp::Write, false),
        ];
        for (rights, op, expected) in cases {
            assert_eq!(console(rights).allows_console(op), expected, "{op:?} with {rights}");
        }
        assert!(!console("read write").restricted_to(Rights::WRITE).allows_console(ConsoleOp::Read));
        assert!(!Scope::empty(ServiceKind::Console).allows_console(ConsoleOp::Write));
    }

    #[test]
    fn other_kinds_allow_no_console_and_no_call() {
        let security = Scope::plain(ServiceKind::Security, Rights::AUDIT).expect("valid");
        assert!(!security.allows_console(ConsoleOp::Read));
        assert!(!security.allows_call());
        let fs = Scope::fs(crate::FsPath::root(), Rights::READ).expect("valid");
        assert!(!fs.allows_console(ConsoleOp::Read));
        assert!(Scope::plain(ServiceKind::Ipc, Rights::CALL).expect("valid").allows_call());
        assert!(!console("read write").allows_call());
    }

    #[test]
    fn plain_scopes_hold_only_their_kinds_rights() {
        let cases = [
            (ServiceKind::Console, Rights::READ, true),
            (ServiceKind::Console, Rights::LISTEN, false),
            (ServiceKind::Console, Rights::NONE, false),
            (ServiceKind::Security, Rights::LOAD_POLICY.union(Rights::AUDIT), true),
            (ServiceKind::Security, Rights::CALL, false),
            (ServiceKind::Ipc, Rights::CALL, true),
            (ServiceKind::Fs, Rights::READ, false),
            (ServiceKind::Donor, Rights::MEMORY, false),
        ];
        for (kind, rights, expected) in cases {
            assert_eq!(Scope::plain(kind, rights).is_ok(), expected, "{kind} {rights}");
        }
    }
}
