//! The decision: may this client connect to this service with these rights, and with what
//! scope. Table lookups and two label comparisons; no script runs here.
//!
//! The rule, in order (the first failing step names the reason):
//! 1. the service exists;
//! 2. the client asked for at least one right;
//! 3. the client's program is declared and has a grant for the service;
//! 4. the grant's scope has every right asked for;
//! 5. the service is trusted multi-level, or the client's label and the server's label
//!    flow both ways (are equal), or a declassification for this grant says otherwise.
//!
//! The session's scope is the grant's scope narrowed to the rights asked for.

use alloc::string::String;
use core::fmt;

use crate::label::Label;
use crate::policy::{Declassification, DeclassificationId, Grant, GrantId, Policy, ProgramId, ServiceId};
use crate::{Rights, Scope};

/// The party asking to connect: its program (if the policy declares it) and its label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Client {
    /// The client's program; `None` for a program the policy does not declare.
    pub program: Option<ProgramId>,
    /// The client's label, as given at spawn.
    pub label: Label,
}

/// The outcome of [`Policy::decide`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision<'p> {
    /// Connect, with this scope.
    Allow(Allowed<'p>),
    /// Do not connect, for this reason.
    Deny(DenyReason),
}

impl<'p> Decision<'p> {
    /// Whether the decision allows the connection.
    pub const fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }

    /// The allowed connection, if it is one.
    pub const fn allowed(&self) -> Option<&Allowed<'p>> {
        match self {
            Decision::Allow(allowed) => Some(allowed),
            Decision::Deny(_) => None,
        }
    }

    /// The reason for a denial, if it is one.
    pub const fn denied(&self) -> Option<&DenyReason> {
        match self {
            Decision::Allow(_) => None,
            Decision::Deny(reason) => Some(reason),
        }
    }
}

/// An allowed connection: the grant that allows it, the rights asked for, and the
/// declassification used, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allowed<'p> {
    grant_id: GrantId,
    grant: &'p Grant,
    rights: Rights,
    declassification: Option<&'p Declassification>,
}

impl<'p> Allowed<'p> {
    /// The id of the grant that allowed the connection.
    pub const fn grant_id(&self) -> GrantId {
        self.grant_id
    }

    /// The grant that allowed the connection (its `origin` is the rule's line).
    pub const fn grant(&self) -> &'p Grant {
        self.grant
    }

    /// The rights the session has: exactly those asked for.
    pub const fn rights(&self) -> Rights {
        self.rights
    }

    /// The declassification that let the connection past the flow check, if one did.
    pub const fn declassification(&self) -> Option<&'p Declassification> {
        self.declassification
    }

    /// The session's scope: the grant's scope narrowed to the rights asked for. The server
    /// enforces this for the life of the session.
    pub fn scope(&self) -> Scope {
        self.grant.scope.restricted_to(self.rights)
    }
}

/// Why a connection is denied. Ids refer to the policy that decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenyReason {
    /// The policy declares no such service.
    UnknownService,
    /// The client asked for no rights.
    NothingRequested,
    /// The client's program is not declared, so it has no grants.
    UndeclaredProgram,
    /// The program has no grant for the service.
    NoGrant {
        /// The client's program.
        program: ProgramId,
        /// The service.
        service: ServiceId,
    },
    /// The grant does not give every right asked for.
    RightsNotGranted {
        /// The grant that exists.
        grant: GrantId,
        /// The rights asked for that it does not give.
        missing: Rights,
    },
    /// The service is not trusted multi-level and the labels do not flow both ways.
    FlowDenied {
        /// The grant that would otherwise allow the connection.
        grant: GrantId,
        /// The client's label.
        client: Label,
        /// The label of the service's server.
        server: Label,
    },
}

impl Policy {
    /// Decides whether `client` may connect to `service` with `requested` rights.
    pub fn decide(&self, client: Client, service: ServiceId, requested: Rights) -> Decision<'_> {
        let Some(service_entry) = self.service(service) else {
            return Decision::Deny(DenyReason::UnknownService);
        };
        if requested.is_empty() {
            return Decision::Deny(DenyReason::NothingRequested);
        }
        let Some(program) = client.program else {
            return Decision::Deny(DenyReason::UndeclaredProgram);
        };
        let Some((grant_id, grant)) =
            self.grant_id(program, service).and_then(|id| Some((id, self.grant(id)?)))
        else {
            return Decision::Deny(DenyReason::NoGrant { program, service });
        };
        let missing = requested.difference(grant.scope.rights());
        if !missing.is_empty() {
            return Decision::Deny(DenyReason::RightsNotGranted { grant: grant_id, missing });
        }
        let mut declassification = None;
        if !service_entry.trusted {
            // `from_tables` guarantees an ordinary service's server has a fixed label.
            let server = self.server_label(service).unwrap_or(Label::BOTTOM);
            if !client.label.flows_both_ways(server) {
                match grant.declassification.and_then(|id| self.declassification(id)) {
                    Some(found) => declassification = Some(found),
                    None => {
                        return Decision::Deny(DenyReason::FlowDenied {
                            grant: grant_id,
                            client: client.label,
                            server,
                        });
                    }
                }
            }
        }
        Decision::Allow(Allowed { grant_id, grant, rights: requested, declassification })
    }

    /// [`Policy::decide`] by program path and service name: for tools and tests. The
    /// security server resolves both once and calls `decide`.
    pub fn decide_named(
        &self,
        program: &str,
        label: Label,
        service: &str,
        requested: Rights,
    ) -> Decision<'_> {
        let Some(service) = self.service_id(service) else {
            return Decision::Deny(DenyReason::UnknownService);
        };
        self.decide(Client { program: self.program_id(program), label }, service, requested)
    }

    /// A sentence explaining `reason` with this policy's names and rule lines.
    pub fn explain(&self, reason: &DenyReason) -> Explanation<'_> {
        Explanation { policy: self, reason: *reason }
    }

    /// The declassification id of an allowed connection, for the audit trail.
    pub fn declassification_id(&self, allowed: &Allowed<'_>) -> Option<DeclassificationId> {
        allowed.declassification.and(allowed.grant.declassification)
    }

    fn program_path(&self, id: ProgramId) -> &str {
        self.program(id).map_or("?", |program| program.path.as_str())
    }

    fn service_name(&self, id: ServiceId) -> &str {
        self.service(id).map_or("?", |service| service.name.as_str())
    }

    /// `program on service (rule at line:column)` for a grant.
    fn describe_grant(&self, id: GrantId) -> String {
        match self.grant(id) {
            Some(grant) => alloc::format!(
                "the grant of {} to {} at {}",
                self.service_name(grant.service),
                self.program_path(grant.program),
                grant.origin
            ),
            None => String::from("an unknown grant"),
        }
    }
}

/// A denial explained; see [`Policy::explain`].
pub struct Explanation<'p> {
    policy: &'p Policy,
    reason: DenyReason,
}

impl fmt::Display for Explanation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let policy = self.policy;
        match self.reason {
            DenyReason::UnknownService => f.write_str("no such service in the policy"),
            DenyReason::NothingRequested => f.write_str("no rights requested"),
            DenyReason::UndeclaredProgram => {
                f.write_str("the program is not declared in the policy, so it has no grants")
            }
            DenyReason::NoGrant { program, service } => {
                write!(f, "no grant of {} to {}", policy.service_name(service), policy.program_path(program))
            }
            DenyReason::RightsNotGranted { grant, missing } => {
                let scope = policy.grant(grant).map(|grant| &grant.scope);
                write!(f, "{} gives {}, not {missing}", policy.describe_grant(grant), DisplayScope(scope))
            }
            DenyReason::FlowDenied { grant, client, server } => write!(
                f,
                "labels {} and {} do not flow both ways (the server is not trusted multi-level and no declassification covers {})",
                policy.label_text(client),
                policy.label_text(server),
                policy.describe_grant(grant)
            ),
        }
    }
}

struct DisplayScope<'a>(Option<&'a Scope>);

impl fmt::Display for DisplayScope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(scope) => write!(f, "{scope}"),
            None => f.write_str("nothing"),
        }
    }
}
